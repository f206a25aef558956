/**
 * Pure helpers of the host reconciler: which OVS ports a pass touches, a
 * stable key of the settings we applied, and a human description of how the
 * switch differs from what we want (for drift logs and status reasons).
 */
import {
  TAG_IFACE_ID,
  TAG_OWNER,
  TAG_POLICING_OWNER,
  type InterfaceRow,
  type PortRow,
  type PortSettings,
  type VswitchView,
} from '../ovsdb/vswitch/index.ts';

/** One OVS port and the Neutron port id its interface carries. */
export interface HostPort {
  readonly port: PortRow;
  readonly ifaces: readonly InterfaceRow[];
  /** `Interface.external_ids:iface-id` of the first interface that has one. */
  readonly ifaceId: string | undefined;
  /** `Interface.external_ids:vm-uuid`, when os-vif set it. */
  readonly vmUuid: string | undefined;
  /** The bridge holding the port; undefined when the view does not say. */
  readonly bridge: string | undefined;
}

export function hostPorts(view: VswitchView): HostPort[] {
  const out: HostPort[] = [];
  for (const port of view.ports.values()) {
    const ifaces = port.interfaces.flatMap((u) => {
      const i = view.interfaces.get(u);
      return i ? [i] : [];
    });
    const withId = ifaces.find((i) => i.external_ids.has('iface-id'));
    out.push({
      port,
      ifaces,
      ifaceId: withId?.external_ids.get('iface-id'),
      vmUuid: withId?.external_ids.get('vm-uuid'),
      bridge: view.bridgeOfPort(port._uuid),
    });
  }
  return out;
}

/** True when the port carries anything `owner` created: its QoS, rows tagged with its name, or policing. */
export function carriesOwnedRows(view: VswitchView, hp: HostPort, owner: string): boolean {
  const qos = hp.port.qos === undefined ? undefined : view.qos.get(hp.port.qos);
  if (qos?.external_ids.get(TAG_OWNER) === owner) return true;
  const tagged = view.ownedRowsOfPort(owner, hp.port.name);
  if (tagged.qos.size > 0 || tagged.queues.size > 0) return true;
  return hp.ifaces.some((i) => i.external_ids.get(TAG_POLICING_OWNER) === owner);
}

/** The Neutron port id recorded on our rows of a port (when its interface lost its iface-id). */
export function taggedIfaceId(view: VswitchView, hp: HostPort, owner: string): string | undefined {
  const tagged = view.ownedRowsOfPort(owner, hp.port.name);
  for (const u of tagged.qos) {
    const id = view.qos.get(u)?.external_ids.get(TAG_IFACE_ID);
    if (id !== undefined) return id;
  }
  return undefined;
}

/** A stable key of settings (bigint-safe). */
export function settingsKey(s: PortSettings): string {
  return JSON.stringify({ qos: s.qos, policing: s.policing }, (_k, v: unknown) =>
    typeof v === 'bigint' ? v.toString(10) : v,
  );
}

function rateText(v: number | bigint | undefined): string | undefined {
  return v === undefined ? undefined : (typeof v === 'bigint' ? v : BigInt(v)).toString(10);
}

/** How the switch differs from `s` on this port, e.g. `QoS max-rate 5000000 ≠ 10000000`. */
export function describeDifference(view: VswitchView, hp: HostPort, s: PortSettings, owner: string): string {
  const diffs: string[] = [];
  const current = hp.port.qos === undefined ? undefined : view.qos.get(hp.port.qos);
  if (s.qos) {
    if (!current) diffs.push('Port.qos was cleared');
    else if (current.external_ids.get(TAG_OWNER) !== owner) diffs.push('Port.qos points to a QoS we do not own');
    else {
      const want = rateText(s.qos.maxRate);
      const have = current.other_config.get('max-rate');
      if (have !== want) diffs.push(`QoS max-rate ${String(have)} ≠ ${String(want)}`);
      if (current.queues.size !== s.qos.queues.length) {
        diffs.push(`QoS has ${String(current.queues.size)} queues, want ${String(s.qos.queues.length)}`);
      }
      s.qos.queues.forEach((q, n) => {
        const uuid = current.queues.get(n);
        const row = uuid === undefined ? undefined : view.queues.get(uuid);
        if (!row) {
          diffs.push(`queue ${String(n)} missing`);
          return;
        }
        if (row.external_ids.get(TAG_OWNER) !== owner) diffs.push(`queue ${String(n)} not ours`);
        for (const [key, value] of [
          ['min-rate', rateText(q.minRate)],
          ['max-rate', rateText(q.maxRate)],
          ['burst', rateText(q.burst)],
        ] as const) {
          const got = row.other_config.get(key);
          if (got !== value) diffs.push(`queue ${String(n)} ${key} ${String(got)} ≠ ${String(value)}`);
        }
      });
    }
  } else if (s.qos === null && current?.external_ids.get(TAG_OWNER) === owner) {
    diffs.push('our QoS is still on the port');
  }
  if (s.qos !== undefined && view.ownedRowsOfPort(owner, hp.port.name).qos.size > (current ? 1 : 0)) {
    diffs.push('stale QoS rows of ours tagged with this port');
  }
  if (s.policing !== undefined) {
    for (const iface of hp.ifaces) {
      const ours = iface.external_ids.get(TAG_POLICING_OWNER) === owner;
      if (s.policing) {
        if (iface.ingress_policing_rate !== s.policing.rateKbps) {
          diffs.push(`${iface.name} ingress_policing_rate ${String(iface.ingress_policing_rate)} ≠ ${String(s.policing.rateKbps)}`);
        }
        if (iface.ingress_policing_burst !== s.policing.burstKbits) {
          diffs.push(
            `${iface.name} ingress_policing_burst ${String(iface.ingress_policing_burst)} ≠ ${String(s.policing.burstKbits)}`,
          );
        }
        if (!ours) diffs.push(`${iface.name} policing owner tag missing`);
      } else if (ours) diffs.push(`${iface.name} still policed by us`);
    }
  }
  return diffs.length > 0 ? diffs.join('; ') : 'rows differ';
}

/**
 * Who else writes QoS on OVS ports, recognised by the `external_ids` each one
 * puts on its rows (see docs/agent.md, "Coexistence"). `unknown` = rows without
 * a known signature, e.g. an operator's ovs-vsctl.
 */
export type ForeignWriter = 'neutron-openvswitch-agent' | 'ovn-controller' | 'opendaylight' | 'unknown';

export const FOREIGN_WRITERS: readonly ForeignWriter[] = ['neutron-openvswitch-agent', 'ovn-controller', 'opendaylight', 'unknown'];

const NEUTRON_QOS_TYPES = new Set(['bandwidth_limit', 'minimum_bandwidth']);

/** The writer whose signature a QoS row carries (undefined when it is ours). */
export function writerOfQos(row: { external_ids: ReadonlyMap<string, string> }, owner: string): ForeignWriter | undefined {
  const ids = row.external_ids;
  if (ids.get(TAG_OWNER) === owner) return undefined;
  if (NEUTRON_QOS_TYPES.has(ids.get('_type') ?? '')) return 'neutron-openvswitch-agent';
  if (ids.has('ovn_qos')) return 'ovn-controller';
  if (ids.has('opendaylight-iid')) return 'opendaylight';
  return 'unknown';
}

export interface ForeignWrite {
  writer: ForeignWriter;
  /** What points at that writer, for the status reason and the log. */
  evidence: string;
}

/**
 * Attributes a difference on a port we enforce to the writer most likely to
 * have made it. Only signatures are trusted; a guess is labelled as such.
 */
export function identifyForeignWrite(view: VswitchView, hp: HostPort, owner: string): ForeignWrite {
  const current = hp.port.qos === undefined ? undefined : view.qos.get(hp.port.qos);
  if (current) {
    const writer = writerOfQos(current, owner);
    if (writer !== undefined && writer !== 'unknown') {
      const sig = [...current.external_ids].map(([k, v]) => `${k}=${v}`).join(',');
      return { writer, evidence: `Port.qos points to a QoS row with external_ids {${sig}}` };
    }
  }
  for (const iface of hp.ifaces) {
    if (iface.external_ids.get(TAG_POLICING_OWNER) === owner && iface.ingress_policing_rate === 0 && iface.ingress_policing_burst === 0) {
      // Neutron's qos extension resets policing to 0/0 on every port without a Neutron QoS policy.
      return {
        writer: 'unknown',
        evidence: `${iface.name} ingress policing reset to 0 (what Neutron's qos agent extension does to ports without a Neutron QoS policy)`,
      };
    }
  }
  return { writer: 'unknown', evidence: 'no known signature on the rows' };
}

/** What an operator can do about a writer that keeps rewriting our rows. */
export function adviceFor(writer: ForeignWriter): string {
  switch (writer) {
    case 'neutron-openvswitch-agent':
      return "remove the Neutron QoS policy from this port, or disable the 'qos' extension of neutron-openvswitch-agent on this host";
    case 'ovn-controller':
      return 'remove the OVN QoS rule for this logical port';
    case 'opendaylight':
      return "remove OpenDaylight's QoS configuration for this port";
    case 'unknown':
      return 'find what else writes QoS on this host (ovsdb-client monitor Open_vSwitch QoS shows every change)';
  }
}
