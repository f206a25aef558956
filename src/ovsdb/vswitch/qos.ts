/**
 * Pure planning of per-port bandwidth settings on Open vSwitch: from a view of
 * the current rows and the desired settings, the operations of ONE
 * transaction that makes the switch match.
 *
 * - Download (traffic OVS sends to the VM): a `linux-htb` QoS on the port with
 *   `other_config:max-rate` always set (left unset, OVS uses the link speed,
 *   10 Mbit/s on a tap) and one Queue per class; queue 0 is the default class.
 * - Upload (traffic the VM sends): `Interface.ingress_policing_rate/burst`.
 *
 * QoS and Queue are root tables, never garbage-collected: the rows a change
 * replaces are deleted in the same transaction that drops the last reference.
 * Every row we create carries an owner tag in `external_ids`, and a `Port.qos`
 * that is not ours (Neutron's, OVN's) is never overwritten.
 */
import { OvsdbError } from '../errors.ts';
import {
  byUuid,
  comment,
  insert,
  mutate,
  remove,
  select,
  setMapKeys,
  update,
  wait,
  type Operation,
} from '../operations.ts';
import { namedUuid } from '../datum.ts';
import type { BridgeRow, InterfaceRow, PortRow, QosRow, QueueRow, StringMap } from './rows.ts';

/** `external_ids` keys of rows we create. */
export const TAG_OWNER = 'cm-owner';
export const TAG_PORT = 'cm-port';
export const TAG_IFACE_ID = 'cm-iface-id';
/** On an Interface: who set its ingress policing. */
export const TAG_POLICING_OWNER = 'cm-policing-owner';

/** OVS keeps at most 61440 (0xf000) queues per linux-htb QoS. */
export const MAX_QUEUES = 0xf000;

/** Bits per second (or bits for bursts): a non-negative integer. */
export type BitRate = number | bigint;

export interface QueueSpec {
  /** Guaranteed rate (HTB `rate`), bit/s. */
  minRate?: BitRate;
  /** Ceiling (HTB `ceil`), bit/s. */
  maxRate?: BitRate;
  /** Burst, bits. */
  burst?: BitRate;
  /** Lower gets spare bandwidth first. */
  priority?: number;
}

export interface PortQosSpec {
  /** The port's total egress ceiling (root class 1:fffe), bit/s. Required on purpose. */
  maxRate: BitRate;
  /** Queue N is HTB class 1:(N+1); queue 0 carries unclassified traffic. */
  queues: readonly QueueSpec[];
}

export interface PolicingSpec {
  /** kbit/s (1 kbit = 1000 bit); must be > 0. */
  rateKbps: number;
  /** kbit; 0 lets OVS pick its default (8000 kbit). */
  burstKbits: number;
}

export interface PortSettings {
  /** Port (and Interface) name on the bridge, e.g. `qvo1234abcd-12` or `tap1234abcd-12`. */
  port: string;
  /** The Neutron port id, recorded in the tags. */
  ifaceId?: string;
  /** Desired download shaping: a spec, null to remove ours, undefined to leave as is. */
  qos?: PortQosSpec | null;
  /** Desired upload policing: a spec, null to remove ours, undefined to leave as is. */
  policing?: PolicingSpec | null;
}

export class VswitchError extends OvsdbError {
  readonly port: string | undefined;
  constructor(code: string, message: string, port?: string) {
    super(code, message);
    this.port = port;
  }
}

/** The rows the planner reads, by uuid, with lookups it needs. */
export class VswitchView {
  readonly ports: ReadonlyMap<string, PortRow>;
  readonly interfaces: ReadonlyMap<string, InterfaceRow>;
  readonly qos: ReadonlyMap<string, QosRow>;
  readonly queues: ReadonlyMap<string, QueueRow>;
  /** Absent when the view was read without the Bridge table. */
  readonly bridges: ReadonlyMap<string, BridgeRow> | undefined;
  private portsByName: Map<string, PortRow> | undefined;
  private bridgeByPort: Map<string, string> | undefined;
  private ownedByPort: Map<string, { qos: Set<string>; queues: Set<string> }> | undefined;
  private ownedFor: string | undefined;

  constructor(tables: {
    ports: ReadonlyMap<string, PortRow>;
    interfaces: ReadonlyMap<string, InterfaceRow>;
    qos: ReadonlyMap<string, QosRow>;
    queues: ReadonlyMap<string, QueueRow>;
    bridges?: ReadonlyMap<string, BridgeRow>;
  }) {
    this.ports = tables.ports;
    this.interfaces = tables.interfaces;
    this.qos = tables.qos;
    this.queues = tables.queues;
    this.bridges = tables.bridges;
  }

  /**
   * The name of the bridge holding a Port (by its uuid); undefined when not known (no Bridge
   * table in the view, or a port no bridge lists). OpenFlow port numbers are per bridge: the
   * same `ofport` names different ports on br-int and on br-phys.
   */
  bridgeOfPort(portUuid: string): string | undefined {
    if (!this.bridges) return undefined;
    if (!this.bridgeByPort) {
      this.bridgeByPort = new Map();
      for (const b of this.bridges.values()) for (const p of b.ports) this.bridgeByPort.set(p, b.name);
    }
    return this.bridgeByPort.get(portUuid);
  }

  portByName(name: string): PortRow | undefined {
    if (!this.portsByName) {
      this.portsByName = new Map();
      for (const p of this.ports.values()) this.portsByName.set(p.name, p);
    }
    return this.portsByName.get(name);
  }

  /** QoS and Queue rows tagged with `owner` and this port name. */
  ownedRowsOfPort(owner: string, portName: string): { qos: ReadonlySet<string>; queues: ReadonlySet<string> } {
    if (!this.ownedByPort || this.ownedFor !== owner) {
      const byPort = new Map<string, { qos: Set<string>; queues: Set<string> }>();
      const entry = (port: string): { qos: Set<string>; queues: Set<string> } => {
        let e = byPort.get(port);
        if (!e) byPort.set(port, (e = { qos: new Set(), queues: new Set() }));
        return e;
      };
      for (const q of this.qos.values()) {
        const port = q.external_ids.get(TAG_PORT);
        if (port !== undefined && q.external_ids.get(TAG_OWNER) === owner) entry(port).qos.add(q._uuid);
      }
      for (const q of this.queues.values()) {
        const port = q.external_ids.get(TAG_PORT);
        if (port !== undefined && q.external_ids.get(TAG_OWNER) === owner) entry(port).queues.add(q._uuid);
      }
      this.ownedByPort = byPort;
      this.ownedFor = owner;
    }
    return this.ownedByPort.get(portName) ?? { qos: new Set(), queues: new Set() };
  }

  /** The Interface and Port whose `external_ids:iface-id` is this Neutron port id. */
  findByIfaceId(ifaceId: string): { port: PortRow; iface: InterfaceRow } | undefined {
    for (const iface of this.interfaces.values()) {
      if (iface.external_ids.get('iface-id') !== ifaceId) continue;
      for (const port of this.ports.values()) {
        if (port.interfaces.includes(iface._uuid)) return { port, iface };
      }
    }
    return undefined;
  }
}

// ---- validation and rendering ----

function toBigInt(value: BitRate, what: string, port: string): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n) throw new VswitchError('CM_ERR_INVALID_RATE', `${port}: ${what} must not be negative`, port);
    return value;
  }
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new VswitchError(
      'CM_ERR_INVALID_RATE',
      `${port}: ${what} must be a non-negative integer (bit/s), got ${String(value)}`,
      port,
    );
  }
  return BigInt(value);
}

/** OVS parses other_config values as unsigned decimal integers; anything else silently becomes 0. */
function renderRate(value: BitRate, what: string, port: string): string {
  return toBigInt(value, what, port).toString(10);
}

export function validateQosSpec(spec: PortQosSpec, port: string): void {
  const max = toBigInt(spec.maxRate, 'maxRate', port);
  if (max === 0n) throw new VswitchError('CM_ERR_INVALID_RATE', `${port}: maxRate must be > 0`, port);
  if (spec.queues.length === 0) {
    throw new VswitchError('CM_ERR_INVALID_QOS', `${port}: at least one queue (queue 0, the default class) is required`, port);
  }
  if (spec.queues.length > MAX_QUEUES) {
    throw new VswitchError('CM_ERR_INVALID_QOS', `${port}: at most ${MAX_QUEUES} queues`, port);
  }
  spec.queues.forEach((q, i) => {
    const minRate = q.minRate === undefined ? undefined : toBigInt(q.minRate, `queue ${i} minRate`, port);
    const maxRate = q.maxRate === undefined ? undefined : toBigInt(q.maxRate, `queue ${i} maxRate`, port);
    if (q.burst !== undefined) toBigInt(q.burst, `queue ${i} burst`, port);
    if (minRate !== undefined && maxRate !== undefined && minRate > maxRate) {
      throw new VswitchError('CM_ERR_INVALID_RATE', `${port}: queue ${i} minRate ${minRate} > maxRate ${maxRate}`, port);
    }
    if (maxRate !== undefined && maxRate > max) {
      throw new VswitchError('CM_ERR_INVALID_RATE', `${port}: queue ${i} maxRate ${maxRate} > port maxRate ${max}`, port);
    }
    if (q.priority !== undefined && (!Number.isInteger(q.priority) || q.priority < 0 || q.priority > 0xffffffff)) {
      throw new VswitchError('CM_ERR_INVALID_QOS', `${port}: queue ${i} priority must be an integer 0..4294967295`, port);
    }
  });
}

export function validatePolicing(spec: PolicingSpec, port: string): void {
  if (!Number.isSafeInteger(spec.rateKbps) || spec.rateKbps <= 0) {
    throw new VswitchError('CM_ERR_INVALID_RATE', `${port}: policing rateKbps must be a positive integer`, port);
  }
  if (!Number.isSafeInteger(spec.burstKbits) || spec.burstKbits < 0) {
    throw new VswitchError('CM_ERR_INVALID_RATE', `${port}: policing burstKbits must be a non-negative integer`, port);
  }
}

function qosOtherConfig(spec: PortQosSpec, port: string): Record<string, string> {
  return { 'max-rate': renderRate(spec.maxRate, 'maxRate', port) };
}

function queueOtherConfig(q: QueueSpec, port: string): Record<string, string> {
  const c: Record<string, string> = {};
  if (q.minRate !== undefined) c['min-rate'] = renderRate(q.minRate, 'minRate', port);
  if (q.maxRate !== undefined) c['max-rate'] = renderRate(q.maxRate, 'maxRate', port);
  if (q.burst !== undefined) c.burst = renderRate(q.burst, 'burst', port);
  if (q.priority !== undefined) c.priority = String(q.priority);
  return c;
}

function mapEquals(a: StringMap, b: Record<string, string>): boolean {
  const keys = Object.keys(b);
  return a.size === keys.length && keys.every((k) => a.get(k) === b[k]);
}

function isOwned(row: { external_ids: StringMap }, owner: string): boolean {
  return row.external_ids.get(TAG_OWNER) === owner;
}

/** True when the port's current QoS already is exactly what `spec` asks for, and ours. */
function qosMatches(view: VswitchView, qos: QosRow, spec: PortQosSpec, owner: string, port: string): boolean {
  if (!isOwned(qos, owner) || qos.type !== 'linux-htb') return false;
  if (!mapEquals(qos.other_config, qosOtherConfig(spec, port))) return false;
  if (qos.queues.size !== spec.queues.length) return false;
  return spec.queues.every((q, i) => {
    const uuid = qos.queues.get(i);
    const row = uuid === undefined ? undefined : view.queues.get(uuid);
    return row !== undefined && isOwned(row, owner) && mapEquals(row.other_config, queueOtherConfig(q, port));
  });
}

export interface PlanOptions {
  /** The `cm-owner` tag value: a stable id of this agent (never random per process). */
  owner: string;
  /** Add `wait` guards so the transaction fails if another writer changed what we read. @default true */
  guard?: boolean;
}

export interface PortPlan {
  readonly operations: Operation[];
  /** Rows this plan deletes (for logs and metrics). */
  readonly deletes: { qos: number; queues: number };
}

/**
 * Plans the operations for a set of ports. Ports whose state already matches
 * produce no operation, so a repeated call plans nothing.
 * @throws VswitchError for an unknown port, an invalid spec, or a foreign QoS.
 */
export function planPortSettings(view: VswitchView, settings: readonly PortSettings[], options: PlanOptions): PortPlan {
  const { owner } = options;
  const guard = options.guard ?? true;
  const operations: Operation[] = [];
  const deletes = { qos: 0, queues: 0 };
  const seen = new Set<string>();
  settings.forEach((s, index) => {
    if (seen.has(s.port)) throw new VswitchError('CM_ERR_DUPLICATE_PORT', `port ${s.port} appears twice in one change`, s.port);
    seen.add(s.port);
    const port = view.portByName(s.port);
    if (!port) throw new VswitchError('CM_ERR_PORT_NOT_FOUND', `no port named ${s.port} on this switch`, s.port);
    if (s.qos !== undefined) {
      const planned = planQos(view, port, s, index, owner, guard);
      operations.push(...planned.operations);
      deletes.qos += planned.deletes.qos;
      deletes.queues += planned.deletes.queues;
    }
    if (s.policing !== undefined) operations.push(...planPolicing(view, port, s.policing, owner, guard));
  });
  return { operations, deletes };
}

function planQos(
  view: VswitchView,
  port: PortRow,
  s: PortSettings,
  index: number,
  owner: string,
  guard: boolean,
): PortPlan {
  const spec = s.qos;
  if (spec) validateQosSpec(spec, port.name);
  const current = port.qos === undefined ? undefined : view.qos.get(port.qos);
  if (port.qos !== undefined && (!current || !isOwned(current, owner))) {
    throw new VswitchError(
      'CM_ERR_FOREIGN_QOS',
      `port ${port.name} has a QoS (${port.qos}) that Connectivity Manager did not create; refusing to overwrite it`,
      port.name,
    );
  }
  const owned = view.ownedRowsOfPort(owner, port.name);
  const staleQos = new Set(owned.qos);
  const staleQueues = new Set(owned.queues);
  if (current) {
    staleQos.add(current._uuid);
    for (const q of current.queues.values()) {
      const row = view.queues.get(q);
      if (row && isOwned(row, owner)) staleQueues.add(q);
    }
  }
  const operations: Operation[] = [];
  if (spec) {
    if (current && staleQos.size === 1 && qosMatches(view, current, spec, owner, port.name)) {
      const expectedQueues = new Set(current.queues.values());
      if ([...staleQueues].every((q) => expectedQueues.has(q))) return { operations, deletes: { qos: 0, queues: 0 } };
    }
  } else if (staleQos.size === 0 && staleQueues.size === 0) {
    return { operations, deletes: { qos: 0, queues: 0 } };
  }
  if (guard) operations.push(wait('Port', byUuid(port._uuid), ['qos'], [{ qos: port.qos }]));
  const tags: Record<string, string> = { [TAG_OWNER]: owner, [TAG_PORT]: port.name };
  if (s.ifaceId !== undefined) tags[TAG_IFACE_ID] = s.ifaceId;
  if (spec) {
    const queueRefs = new Map<number, ReturnType<typeof namedUuid>>();
    spec.queues.forEach((q, n) => {
      const name = `cm_queue_${String(index)}_${String(n)}`;
      operations.push(
        insert('Queue', { other_config: queueOtherConfig(q, port.name), external_ids: tags }, { uuidName: name }),
      );
      queueRefs.set(n, namedUuid(name));
    });
    const qosName = `cm_qos_${String(index)}`;
    operations.push(
      insert(
        'QoS',
        { type: 'linux-htb', other_config: qosOtherConfig(spec, port.name), queues: queueRefs, external_ids: tags },
        { uuidName: qosName },
      ),
    );
    operations.push(update('Port', byUuid(port._uuid), { qos: namedUuid(qosName) }));
  } else if (port.qos !== undefined) {
    operations.push(update('Port', byUuid(port._uuid), { qos: [] }));
  }
  for (const uuid of staleQos) operations.push(remove('QoS', byUuid(uuid)));
  for (const uuid of staleQueues) operations.push(remove('Queue', byUuid(uuid)));
  return { operations, deletes: { qos: staleQos.size, queues: staleQueues.size } };
}

function planPolicing(
  view: VswitchView,
  port: PortRow,
  spec: PolicingSpec | null,
  owner: string,
  guard: boolean,
): Operation[] {
  if (spec) validatePolicing(spec, port.name);
  const operations: Operation[] = [];
  for (const ifaceUuid of port.interfaces) {
    const iface = view.interfaces.get(ifaceUuid);
    if (!iface) continue;
    const ours = iface.external_ids.get(TAG_POLICING_OWNER) === owner;
    if (spec) {
      if (ours && iface.ingress_policing_rate === spec.rateKbps && iface.ingress_policing_burst === spec.burstKbits) continue;
    } else if (!ours) continue;
    if (guard) {
      operations.push(
        wait('Interface', byUuid(iface._uuid), ['ingress_policing_rate', 'ingress_policing_burst'], [
          { ingress_policing_rate: iface.ingress_policing_rate, ingress_policing_burst: iface.ingress_policing_burst },
        ]),
      );
    }
    operations.push(
      update('Interface', byUuid(iface._uuid), {
        ingress_policing_rate: spec ? spec.rateKbps : 0,
        ingress_policing_burst: spec ? spec.burstKbits : 0,
      }),
    );
    operations.push(
      mutate(
        'Interface',
        byUuid(iface._uuid),
        spec ? setMapKeys('external_ids', { [TAG_POLICING_OWNER]: owner }) : [['external_ids', 'delete', [TAG_POLICING_OWNER]]],
      ),
    );
  }
  return operations;
}

/** Owned QoS rows no Port references, and owned Queue rows no QoS references. */
export function findOwnedOrphans(view: VswitchView, owner: string): { qos: string[]; queues: string[] } {
  const referencedQos = new Set<string>();
  for (const p of view.ports.values()) if (p.qos !== undefined) referencedQos.add(p.qos);
  const qos = [...view.qos.values()].filter((q) => isOwned(q, owner) && !referencedQos.has(q._uuid)).map((q) => q._uuid);
  const orphanQos = new Set(qos);
  const referencedQueues = new Set<string>();
  for (const q of view.qos.values()) {
    if (orphanQos.has(q._uuid)) continue;
    for (const u of q.queues.values()) referencedQueues.add(u);
  }
  const queues = [...view.queues.values()]
    .filter((q) => isOwned(q, owner) && !referencedQueues.has(q._uuid))
    .map((q) => q._uuid);
  return { qos, queues };
}

/** Operations deleting the given orphans. */
export function planOrphanDeletion(orphans: { qos: readonly string[]; queues: readonly string[] }): Operation[] {
  return [
    ...orphans.qos.map((u) => remove('QoS', byUuid(u))),
    ...orphans.queues.map((u) => remove('Queue', byUuid(u))),
  ];
}

/** Operations that make ovs-vswitchd report completion: `next_cfg += 1`, then read it back. */
export function bumpNextCfgOperations(): Operation[] {
  return [mutate('Open_vSwitch', [], [['next_cfg', '+=', 1]]), select('Open_vSwitch', [], ['next_cfg'])];
}

export { comment };
