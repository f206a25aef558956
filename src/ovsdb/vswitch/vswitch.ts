/**
 * The switch-level helper: reads the rows it needs (from a replica when one is
 * given, otherwise with one select transaction), plans with the pure planner
 * and commits ONE transaction, retrying when a `wait` guard shows another
 * writer got there first.
 */
import type { OvsdbClient } from '../client.ts';
import { OvsdbTimeoutError, WaitTimedOutError } from '../errors.ts';
import { comment, ge, select, wait, type Operation, type Row } from '../operations.ts';
import type { Replica } from '../replica.ts';
import {
  bumpNextCfgOperations,
  findOwnedOrphans,
  planOrphanDeletion,
  planPortSettings,
  VswitchError,
  VswitchView,
  type PolicingSpec,
  type PortQosSpec,
  type PortSettings,
} from './qos.ts';
import {
  asBridge,
  asInterface,
  asOpenVSwitch,
  asPort,
  asQos,
  asQueue,
  VSWITCH_COLUMNS,
  VSWITCH_DB,
  type InterfaceRow,
  type OpenVSwitchRow,
  type PortRow,
} from './rows.ts';

export interface VswitchOptions {
  /** The `cm-owner` tag: a stable identifier of this agent. */
  owner: string;
  /** A started replica of at least Port, Interface, QoS and Queue (see {@link vswitchReplicaTables}). */
  replica?: Replica;
  /** @default "Open_vSwitch" */
  db?: string;
}

export interface ApplyOptions {
  signal?: AbortSignal;
  /** Guard with `wait` operations against concurrent writers. @default true */
  guard?: boolean;
  /** Attempts when a guard fails. @default 5 */
  attempts?: number;
  /** Also bump `next_cfg` and wait until ovs-vswitchd reports it applied the change. @default false */
  waitApplied?: boolean;
  /** Deadline for `waitApplied`, ms. @default 10000 */
  appliedTimeoutMs?: number;
  /** Recorded in the ovsdb-server log with the transaction. */
  comment?: string;
}

export interface ApplyResult {
  /** False when the switch already matched: no transaction was sent. */
  readonly changed: boolean;
  readonly operations: number;
  readonly deletedQos: number;
  readonly deletedQueues: number;
  /** Transactions sent (more than 1 when a guard failed and we re-planned). */
  readonly attempts: number;
  /** The `next_cfg` ovs-vswitchd reached, with `waitApplied`. */
  readonly appliedCfg?: number;
}

/** Replica spec covering everything the helper reads. */
export function vswitchReplicaTables(): Record<string, readonly string[]> {
  return { ...VSWITCH_COLUMNS };
}

function typedMap<T extends { _uuid: string }>(rows: Iterable<Readonly<Row>>, as: (row: Row) => T): Map<string, T> {
  const out = new Map<string, T>();
  for (const row of rows) {
    const typed = as(row);
    out.set(typed._uuid, typed);
  }
  return out;
}

export class Vswitch {
  readonly client: OvsdbClient;
  readonly owner: string;
  readonly db: string;
  private readonly replica: Replica | undefined;

  constructor(client: OvsdbClient, options: VswitchOptions) {
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(options.owner)) {
      throw new VswitchError('CM_ERR_INVALID_OWNER', `owner tag "${options.owner}" must match [A-Za-z0-9_.:-]{1,128}`);
    }
    this.client = client;
    this.owner = options.owner;
    this.db = options.db ?? VSWITCH_DB;
    this.replica = options.replica;
  }

  /** Current rows: from the replica when it is synced, else one select transaction. */
  async view(options: { signal?: AbortSignal; fresh?: boolean } = {}): Promise<VswitchView> {
    const fromReplica = options.fresh === true ? undefined : this.replicaView();
    if (fromReplica) return fromReplica;
    const cols = (t: keyof typeof VSWITCH_COLUMNS): string[] => ['_uuid', ...VSWITCH_COLUMNS[t]];
    const [ports, interfaces, qos, queues, bridges] = await this.client.transact(
      this.db,
      [
        select('Port', [], cols('Port')),
        select('Interface', [], cols('Interface')),
        select('QoS', [], cols('QoS')),
        select('Queue', [], cols('Queue')),
        select('Bridge', [], cols('Bridge')),
      ],
      options.signal ? { signal: options.signal } : {},
    );
    return new VswitchView({
      ports: typedMap(ports?.rows ?? [], asPort),
      interfaces: typedMap(interfaces?.rows ?? [], asInterface),
      qos: typedMap(qos?.rows ?? [], asQos),
      queues: typedMap(queues?.rows ?? [], asQueue),
      bridges: typedMap(bridges?.rows ?? [], asBridge),
    });
  }

  /** The rows as the replica has them now, or undefined without a synced replica. */
  replicaView(): VswitchView | undefined {
    const r = this.replica;
    if (!r?.synced) return undefined;
    return new VswitchView({
      ports: typedMap(r.table('Port').values(), asPort),
      interfaces: typedMap(r.table('Interface').values(), asInterface),
      qos: typedMap(r.table('QoS').values(), asQos),
      queues: typedMap(r.table('Queue').values(), asQueue),
      ...(r.replicates('Bridge') ? { bridges: typedMap(r.table('Bridge').values(), asBridge) } : {}),
    });
  }

  /** The Port and Interface of a Neutron port (`external_ids:iface-id`), if on this switch. */
  async findByIfaceId(
    ifaceId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<{ port: PortRow; iface: InterfaceRow } | undefined> {
    return (await this.view(options)).findByIfaceId(ifaceId);
  }

  async openVSwitch(options: { signal?: AbortSignal } = {}): Promise<OpenVSwitchRow> {
    const [result] = await this.client.transact(
      this.db,
      [select('Open_vSwitch', [], ['_uuid', ...VSWITCH_COLUMNS.Open_vSwitch])],
      options.signal ? { signal: options.signal } : {},
    );
    const row = result?.rows?.[0];
    if (!row) throw new VswitchError('CM_ERR_NO_OPEN_VSWITCH_ROW', 'the Open_vSwitch table is empty (ovs-vsctl init not run?)');
    return asOpenVSwitch(row);
  }

  /**
   * Makes the given ports match their settings in one transaction (all or
   * nothing). Unchanged ports cost nothing; if all match, nothing is sent.
   */
  async apply(settings: readonly PortSettings[], options: ApplyOptions = {}): Promise<ApplyResult> {
    const attempts = options.attempts ?? 5;
    for (let attempt = 1; ; attempt++) {
      const view = await this.view({ ...(options.signal ? { signal: options.signal } : {}), fresh: attempt > 1 });
      const plan = planPortSettings(view, settings, { owner: this.owner, guard: options.guard ?? true });
      if (plan.operations.length === 0) {
        return { changed: false, operations: 0, deletedQos: 0, deletedQueues: 0, attempts: attempt - 1 };
      }
      try {
        const appliedCfg = await this.commit(plan.operations, options);
        return {
          changed: true,
          operations: plan.operations.length,
          deletedQos: plan.deletes.qos,
          deletedQueues: plan.deletes.queues,
          attempts: attempt,
          ...(appliedCfg === undefined ? {} : { appliedCfg }),
        };
      } catch (error) {
        if (error instanceof WaitTimedOutError && attempt < attempts) continue;
        throw error;
      }
    }
  }

  /** Sets (spec), removes (null) the download shaping of one port. */
  setPortQos(port: string, qos: PortQosSpec | null, options: ApplyOptions & { ifaceId?: string } = {}): Promise<ApplyResult> {
    return this.apply([{ port, qos, ...(options.ifaceId === undefined ? {} : { ifaceId: options.ifaceId }) }], options);
  }

  /** Sets (spec) or clears (null) the upload policing of one port's interfaces. */
  setIngressPolicing(port: string, policing: PolicingSpec | null, options: ApplyOptions = {}): Promise<ApplyResult> {
    return this.apply([{ port, policing }], options);
  }

  /** Our QoS rows no Port uses and our Queue rows no QoS uses. */
  async findOwnedOrphans(options: { signal?: AbortSignal } = {}): Promise<{ qos: string[]; queues: string[] }> {
    return findOwnedOrphans(await this.view({ ...options, fresh: true }), this.owner);
  }

  /** Deletes our orphans in one transaction; returns how many rows went. */
  async deleteOwnedOrphans(options: { signal?: AbortSignal } = {}): Promise<number> {
    const orphans = await this.findOwnedOrphans(options);
    const operations = planOrphanDeletion(orphans);
    if (operations.length === 0) return 0;
    await this.client.transact(this.db, [comment(`cm ${this.owner}: delete orphans`), ...operations], options);
    return operations.length;
  }

  /**
   * Waits until ovs-vswitchd has applied configuration `cfg` (cur_cfg ≥ cfg),
   * with a `wait` operation the server holds until it is true or times out.
   */
  async waitForCurCfg(cfg: number, options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<void> {
    const timeoutMs = options.timeoutMs ?? 10_000;
    try {
      await this.client.transact(
        this.db,
        [wait('Open_vSwitch', [ge('cur_cfg', cfg)], ['cur_cfg'], [], { until: '!=', timeout: timeoutMs })],
        { ...(options.signal ? { signal: options.signal } : {}), timeoutMs: timeoutMs + 5000 },
      );
    } catch (error) {
      if (error instanceof WaitTimedOutError) {
        throw new OvsdbTimeoutError(`ovs-vswitchd did not reach cur_cfg ${cfg} within ${timeoutMs} ms (is it running?)`);
      }
      throw error;
    }
  }

  /** Bumps next_cfg alone and waits for ovs-vswitchd to catch up. */
  async sync(options: { signal?: AbortSignal; timeoutMs?: number } = {}): Promise<number> {
    const results = await this.client.transact(this.db, bumpNextCfgOperations(), options);
    const cfg = nextCfgOf(results[1]?.rows);
    await this.waitForCurCfg(cfg, options);
    return cfg;
  }

  private async commit(operations: Operation[], options: ApplyOptions): Promise<number | undefined> {
    const ops: Operation[] = [comment(options.comment ?? `cm ${this.owner}: port bandwidth settings`), ...operations];
    if (options.waitApplied === true) ops.push(...bumpNextCfgOperations());
    const results = await this.client.transact(this.db, ops, options.signal ? { signal: options.signal } : {});
    if (options.waitApplied !== true) return undefined;
    const cfg = nextCfgOf(results[results.length - 1]?.rows);
    await this.waitForCurCfg(cfg, {
      ...(options.signal ? { signal: options.signal } : {}),
      timeoutMs: options.appliedTimeoutMs ?? 10_000,
    });
    return cfg;
  }
}

function nextCfgOf(rows: Row[] | undefined): number {
  const value = rows?.[0]?.next_cfg;
  if (typeof value !== 'number') throw new VswitchError('CM_ERR_NO_OPEN_VSWITCH_ROW', 'the Open_vSwitch table is empty');
  return value;
}
