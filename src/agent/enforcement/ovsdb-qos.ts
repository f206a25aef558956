/**
 * The OVSDB QoS backend: a VM's download as a `linux-htb` QoS with queue 0 on
 * its port (OVS egress towards the VM), and — with `upload: 'policing'` — its
 * upload as `Interface.ingress_policing_*` (a tc police action, which the
 * kernel must have: `act_police`).
 *
 * Every row it creates is tagged with the agent's owner; a pass deletes our
 * rows of ports that no SLA wants and our orphans, in the same ONE transaction
 * as the changes.
 */
import { OvsdbError } from '../../ovsdb/errors.ts';
import { comment, type Operation } from '../../ovsdb/operations.ts';
import {
  findOwnedOrphans,
  planOrphanDeletion,
  planPortSettings,
  TAG_OWNER,
  TAG_POLICING_OWNER,
  TAG_PORT,
  VswitchError,
  type PolicingSpec,
  type PortQosSpec,
  type PortSettings,
  type QosRow,
  type VswitchView,
} from '../../ovsdb/vswitch/index.ts';
import type { Sla } from '../../qos/sla.ts';
import {
  carriesOwnedRows,
  describeDifference,
  identifyForeignWrite,
  settingsKey,
  taggedIfaceId,
  writerOfQos,
  type HostPort,
} from '../drift.ts';
import type {
  BackendContext,
  BackendPass,
  EnforcedDownload,
  EnforcedPortView,
  EnforcementBackend,
  HostSnapshot,
  PortOutcome,
  PortTarget,
  PreparedCommit,
} from './types.ts';
import { planEach } from './planned.ts';

/** Neutron's default policer burst: 80 % of the rate over one second. */
export const DEFAULT_UPLOAD_BURST_RATIO = 0.8;

export function downloadQos(sla: Sla): PortQosSpec | null {
  const d = sla.download;
  if (!d) return null;
  return {
    maxRate: d.maxRate,
    queues: [
      {
        ...(d.minRate === undefined ? {} : { minRate: d.minRate }),
        maxRate: d.maxRate,
        ...(d.burst === undefined ? {} : { burst: d.burst }),
      },
    ],
  };
}

export function uploadPolicing(sla: Sla): PolicingSpec | null {
  const u = sla.upload;
  if (!u) return null;
  // OVS takes kbit/s and kbit; round the rate up so the cap is never below what was asked.
  const rateKbps = Math.max(1, Math.ceil(u.maxRate / 1000));
  const burstBits = u.burst ?? Math.round(u.maxRate * DEFAULT_UPLOAD_BURST_RATIO);
  return { rateKbps, burstKbits: Math.max(1, Math.ceil(burstBits / 1000)) };
}

export interface OvsdbQosBackendOptions {
  owner: string;
  /**
   * `policing`: upload caps as ingress policing. `none`: another backend
   * enforces uploads; policing of ours left on a port is removed.
   * @default 'policing'
   */
  upload?: 'policing' | 'none' | (() => 'policing' | 'none');
}

/**
 * The switch settings for one OVS port carrying `sla` (or none: `sla`
 * undefined removes what we set).
 */
export function portSettingsFor(portName: string, ifaceId: string, sla: Sla | undefined, upload: 'policing' | 'none' = 'policing'): PortSettings {
  return {
    port: portName,
    ifaceId,
    qos: sla ? downloadQos(sla) : null,
    policing: sla && upload === 'policing' ? uploadPolicing(sla) : null,
  };
}

interface PlannedPort {
  readonly target: PortTarget;
  /** What we will write (may leave a foreign QoS alone: `qos` omitted). */
  readonly settings: PortSettings;
  /** What we want (the drift key and the difference are about this). */
  readonly wanted: PortSettings;
  readonly outcome: PortOutcome;
}

export class OvsdbQosBackend implements EnforcementBackend {
  readonly name = 'ovsdb-qos';
  private readonly owner: string;
  private readonly uploadMode: () => 'policing' | 'none';
  private context: BackendContext | undefined;

  constructor(options: OvsdbQosBackendOptions) {
    this.owner = options.owner;
    const upload = options.upload ?? 'policing';
    this.uploadMode = typeof upload === 'function' ? upload : () => upload;
  }

  start(context: BackendContext): Promise<void> {
    this.context = context;
    return Promise.resolve();
  }

  ready(): boolean {
    return true; // the loop only plans with a synced OVSDB replica
  }

  notReadyReason(): string {
    return 'OVSDB not connected';
  }

  ownsOn(hp: HostPort, { view }: HostSnapshot): boolean {
    return carriesOwnedRows(view, hp, this.owner);
  }

  recordedPortId(hp: HostPort, { view }: HostSnapshot): string | undefined {
    return taggedIfaceId(view, hp, this.owner);
  }

  plan(targets: readonly PortTarget[], { view }: HostSnapshot): BackendPass {
    const get = planEach(targets, (target) => this.planPort(view, target));
    return {
      outcome: (portId) => get(portId).outcome,
      key: (portId) => settingsKey(get(portId).wanted),
      drift: (portId) => {
        const p = get(portId);
        return { detail: describeDifference(view, p.target.hp, p.wanted, this.owner), foreign: identifyForeignWrite(view, p.target.hp, this.owner) };
      },
      prepare: (included) => this.prepare(view, included.map(get)),
    };
  }

  describe(hp: HostPort, { view }: HostSnapshot): Partial<Pick<EnforcedPortView, 'download' | 'upload'>> {
    const qos = hp.port.qos === undefined ? undefined : view.qos.get(hp.port.qos);
    const iface = hp.ifaces.find((i) => i.external_ids.has('iface-id')) ?? hp.ifaces[0];
    const out: Partial<Pick<EnforcedPortView, 'download' | 'upload'>> = { download: qos ? enforcedDownload(view, qos) : null };
    if (iface && iface.ingress_policing_rate > 0) {
      out.upload = {
        mechanism: 'policing',
        rateKbps: iface.ingress_policing_rate,
        burstKbits: iface.ingress_policing_burst,
        managedBy: iface.external_ids.get(TAG_POLICING_OWNER) ?? null,
      };
    }
    return out;
  }

  info(): Record<string, unknown> {
    return { upload: this.uploadMode() };
  }

  private planPort(view: VswitchView, target: PortTarget): PlannedPort {
    const wanted = portSettingsFor(target.hp.port.name, target.portId, target.sla, this.uploadMode());
    let settings = wanted;
    const count = (s: PortSettings): number => planPortSettings(view, [s], { owner: this.owner }).operations.length;
    let operations: number;
    try {
      operations = count(settings);
    } catch (error) {
      if (error instanceof VswitchError && error.code === 'CM_ERR_FOREIGN_QOS' && settings.qos === null) {
        // Nothing of ours to remove from Port.qos; leave the foreign QoS alone, still clear our policing.
        const { qos: _ignored, ...rest } = settings;
        settings = rest;
        try {
          operations = count(settings);
        } catch (inner) {
          return { target, settings, wanted, outcome: { kind: 'error', reason: errorText(inner) } };
        }
      } else {
        const writer = foreignQosWriter(view, target.hp, error, this.owner);
        return { target, settings, wanted, outcome: { kind: 'error', reason: errorText(error), ...(writer === undefined ? {} : { contestedBy: writer }) } };
      }
    }
    return { target, settings, wanted, outcome: operations === 0 ? { kind: 'in-sync' } : { kind: 'change' } };
  }

  /** ONE transaction: the included ports' changes and the deletion of our other orphans. */
  private prepare(view: VswitchView, included: readonly PlannedPort[]): PreparedCommit {
    const settings = included.map((p) => p.settings);
    const plan = planPortSettings(view, settings, { owner: this.owner });
    // The planner already deletes every row of ours tagged with a port whose QoS it plans.
    const plannedQosPorts = new Set(settings.filter((s) => s.qos !== undefined).map((s) => s.port));
    const deleted = deletedUuids(plan.operations);
    const orphans = findOwnedOrphans(view, this.owner);
    const keep =
      (table: 'QoS' | 'Queue') =>
      (uuid: string): boolean => {
        if (deleted.has(uuid)) return false;
        const row = table === 'QoS' ? view.qos.get(uuid) : view.queues.get(uuid);
        const port = row?.external_ids.get(TAG_PORT);
        return port === undefined || !plannedQosPorts.has(port);
      };
    const orphanOps = planOrphanDeletion({ qos: orphans.qos.filter(keep('QoS')), queues: orphans.queues.filter(keep('Queue')) });
    const operations = [...plan.operations, ...orphanOps];
    return {
      changes: operations.length,
      orphans: orphanOps.length,
      carriesGuard: true,
      run: async (signal) => {
        const context = this.context;
        if (!context) throw new Error('ovsdb-qos backend not started');
        if (operations.length === 0) return;
        const { client, db, ioTimeoutMs, guard } = context.ovsdb;
        await client.transact(
          db,
          [
            ...(guard?.() ?? []),
            comment(`cm ${this.owner}@${context.host}: reconcile ${String(included.length)} ports, ${String(orphanOps.length)} orphans`),
            ...operations,
          ],
          { signal, timeoutMs: ioTimeoutMs },
        );
      },
    };
  }
}

function numberOf(m: ReadonlyMap<string, string>, key: string): number | null {
  const v = m.get(key);
  if (v === undefined || !/^\d+$/.test(v)) return null;
  return Number(v);
}

function enforcedDownload(view: VswitchView, qos: QosRow): EnforcedDownload {
  const queues = [...qos.queues.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([n, uuid]) => {
      const c = view.queues.get(uuid)?.other_config ?? new Map<string, string>();
      return {
        number: n,
        id: uuid,
        minRateBps: numberOf(c, 'min-rate'),
        maxRateBps: numberOf(c, 'max-rate'),
        burstBits: numberOf(c, 'burst'),
        priority: numberOf(c, 'priority'),
      };
    });
  return {
    mechanism: qos.type,
    id: qos._uuid,
    type: qos.type,
    maxRateBps: numberOf(qos.other_config, 'max-rate'),
    managedBy: qos.external_ids.get(TAG_OWNER) ?? null,
    queues,
  };
}

/** The writer owning the QoS that blocks us on this port, when that is what `error` says. */
function foreignQosWriter(view: VswitchView, hp: HostPort, error: unknown, owner: string): ReturnType<typeof writerOfQos> {
  if (!(error instanceof VswitchError) || error.code !== 'CM_ERR_FOREIGN_QOS') return undefined;
  const qos = hp.port.qos === undefined ? undefined : view.qos.get(hp.port.qos);
  return qos ? writerOfQos(qos, owner) : undefined;
}

/** Uuids a plan deletes (QoS/Queue `delete` by `_uuid`). */
function deletedUuids(operations: readonly Operation[]): Set<string> {
  const out = new Set<string>();
  for (const op of operations) {
    if (op.op !== 'delete') continue;
    for (const cond of op.where) {
      const [column, fn, value] = cond as readonly unknown[];
      if (column === '_uuid' && fn === '==' && typeof value === 'string') out.add(value);
    }
  }
  return out;
}

export function errorText(error: unknown): string {
  if (error instanceof OvsdbError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}
