/**
 * The per-host, level-based reconciler of the CM Agent (controller-runtime
 * style): it keeps every desired port SLA true on one Open vSwitch and
 * removes what we set on ports that no longer want it.
 *
 * One pass reads only the replica (no query), joins the desired SLAs with the
 * host's ports by `Interface.external_ids:iface-id`, plans every port on its
 * own (so one bad port, e.g. a foreign QoS, does not block the others), and
 * commits the changes of all good ports plus the deletion of our orphaned
 * QoS/Queue rows in ONE transaction. Passes are triggered by replica change
 * events (a port appears, someone edits our rows), by {@link HostReconciler.enqueue}
 * (desired state changed), by reconnects and by a jittered periodic resync;
 * they are coalesced and never run concurrently.
 */
import { OvsdbClient, type ReconnectOptions } from '../ovsdb/client.ts';
import { OvsdbConnectionError, OvsdbError, WaitTimedOutError } from '../ovsdb/errors.ts';
import { comment, type Operation } from '../ovsdb/operations.ts';
import { Replica } from '../ovsdb/replica.ts';
import type { TlsOptions } from '../ovsdb/transport.ts';
import {
  findOwnedOrphans,
  planOrphanDeletion,
  planPortSettings,
  TAG_PORT,
  Vswitch,
  VSWITCH_DB,
  VswitchError,
  vswitchReplicaTables,
  type PortSettings,
  type VswitchView,
} from '../ovsdb/vswitch/index.ts';
import { portSettingsFor, type PortSla } from '../qos/sla.ts';
import {
  adviceFor,
  carriesOwnedRows,
  describeDifference,
  hostPorts,
  identifyForeignWrite,
  settingsKey,
  taggedIfaceId,
  writerOfQos,
  type ForeignWrite,
  type ForeignWriter,
  type HostPort,
} from './drift.ts';

export interface DesiredSource {
  /** Every port SLA the agent wants, keyed by Neutron port id (whatever host it is on). */
  desired(): ReadonlyMap<string, PortSla>;
}

export type PortState = 'applied' | 'pending' | 'drifted' | 'error';

export interface PortStatus {
  portId: string;
  serverId: string;
  host: string;
  state: PortState;
  reason?: string;
  ovsPort?: string;
  /**
   * With state `error`: the other writer that keeps rewriting this port's rows
   * or owns the QoS on it (recognised by its external_ids signature).
   */
  contestedBy?: ForeignWriter;
  /** ISO time of the last state change. */
  since: string;
}

export interface ReconcilerMetrics {
  passes: number;
  lastPassMs: number;
  /** Drifted ports we rewrote successfully. */
  repairs: number;
  /** Passes that found one of our ports differing from what we had applied. */
  driftDetected: number;
  orphansDeleted: number;
  errors: number;
  connected: boolean;
  /** Transactions sent (0 for passes where the switch already matched). */
  transactions: number;
  /** Drifts of our rows attributed to another writer, by writer. */
  foreignWrites: Map<ForeignWriter, number>;
}

export interface Clock {
  now(): number;
}

export interface HostReconcilerOptions {
  host: string;
  /** `unix:PATH`, `tcp:HOST:PORT` or `ssl:HOST:PORT`. */
  endpoint: string;
  tls?: TlsOptions;
  /** The `cm-owner` tag: stable per agent, never random per process. */
  owner: string;
  source: DesiredSource;
  /** Full resync period (±10 % jitter), ms. @default 60000 */
  resyncIntervalMs?: number;
  logger?: (event: object) => void;
  clock?: Clock;
  /** Delay that coalesces bursts of triggers into one pass, ms. @default 10 */
  debounceMs?: number;
  /** Deadline of every OVSDB call, ms. @default 10000 */
  ioTimeoutMs?: number;
  /** Drifts of one port within `fightWindowMs` that mean another writer keeps rewriting it. @default 3 */
  fightThreshold?: number;
  /** @default 600000 */
  fightWindowMs?: number;
  /** Backoff after a failed pass: first and maximum delay, ms. @default 100 / 10000 */
  retryInitialMs?: number;
  retryMaxMs?: number;
  /** Reconnect tuning of the OVSDB client. */
  reconnect?: ReconnectOptions;
  /** @default "Open_vSwitch" */
  db?: string;
}

interface Candidate {
  readonly portId: string;
  readonly serverId: string;
  readonly hp: HostPort;
  readonly settings: PortSettings;
  readonly desired: boolean;
}

interface AppliedRecord {
  readonly portUuid: string;
  readonly key: string;
}

const SYSTEM_CLOCK: Clock = { now: () => Date.now() };
const MAX_RECORDED_DURATIONS = 10_000;

export class HostReconciler {
  readonly host: string;
  readonly owner: string;
  readonly metrics: ReconcilerMetrics = {
    passes: 0,
    lastPassMs: 0,
    repairs: 0,
    driftDetected: 0,
    orphansDeleted: 0,
    errors: 0,
    connected: false,
    transactions: 0,
    foreignWrites: new Map(),
  };

  private readonly options: HostReconcilerOptions;
  private passDurations: number[] = [];
  private readonly clock: Clock;
  private readonly db: string;
  private client: OvsdbClient | undefined;
  private replica: Replica | undefined;
  private vswitch: Vswitch | undefined;
  private readonly lifetime = new AbortController();
  private started = false;
  private stopped = false;
  private running = false;
  private dirty = false;
  private fullPending = false;
  private debounceTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private retryDelay: number;
  private idleWaiters: (() => void)[] = [];
  private readonly statuses = new Map<string, PortStatus>();
  private readonly applied = new Map<string, AppliedRecord>();
  /** Port id → times its rows were found drifted (within the fight window). */
  private readonly drifts = new Map<string, number[]>();
  /** Ports whose drift was counted and not repaired yet. */
  private readonly unrepaired = new Set<string>();
  /** Port id → the writer its latest drift was attributed to. */
  private readonly lastForeignWrite = new Map<string, ForeignWrite>();

  constructor(options: HostReconcilerOptions) {
    this.options = options;
    this.host = options.host;
    this.owner = options.owner;
    this.clock = options.clock ?? SYSTEM_CLOCK;
    this.db = options.db ?? VSWITCH_DB;
    this.retryDelay = options.retryInitialMs ?? 100;
  }

  /** Connects (retrying until `signal` aborts), starts the replica and runs the first full pass. */
  async start(signal?: AbortSignal): Promise<void> {
    if (this.started) throw new Error('reconciler already started');
    this.started = true;
    const abort = signal ? AbortSignal.any([signal, this.lifetime.signal]) : this.lifetime.signal;
    const ioTimeoutMs = this.ioTimeoutMs();
    const client = new OvsdbClient({
      endpoint: this.options.endpoint,
      ...(this.options.tls ? { tls: this.options.tls } : {}),
      reconnect: { enabled: true, initialDelayMs: 100, maxDelayMs: 5000, ...this.options.reconnect },
      callTimeoutMs: ioTimeoutMs,
      connectTimeoutMs: Math.min(ioTimeoutMs, 5000),
    });
    this.client = client;
    client.on('connected', () => {
      this.metrics.connected = true;
      this.log({ event: 'connected' });
    });
    client.on('disconnected', (error) => {
      this.metrics.connected = false;
      this.log({ event: 'disconnected', error: error?.message });
      this.markAll('error', `OVSDB connection lost${error ? `: ${error.message}` : ''}`);
    });
    let delay = this.options.retryInitialMs ?? 100;
    for (;;) {
      try {
        await client.connect({ signal: abort });
        break;
      } catch (error) {
        if (abort.aborted || this.stopped) {
          client.close();
          throw error;
        }
        this.metrics.errors++;
        this.log({ event: 'connect-failed', error: errorText(error), retryInMs: delay });
        await sleep(delay, abort);
        delay = Math.min(delay * 2, this.options.retryMaxMs ?? 10_000);
      }
    }
    this.metrics.connected = client.isConnected;
    const replica = new Replica(client, { db: this.db, tables: vswitchReplicaTables() });
    this.replica = replica;
    replica.on('change', (change) => {
      if (change.table === 'Port' || change.table === 'Interface' || change.table === 'QoS' || change.table === 'Queue') {
        this.enqueue();
      }
    });
    replica.on('synced', (info) => {
      this.log({ event: 'synced', ...info });
      this.fullPending = true;
      this.enqueue();
    });
    replica.on('error', (error) => {
      this.metrics.errors++;
      this.log({ event: 'replica-error', error: error.message });
    });
    await replica.start({ signal: abort });
    this.vswitch = new Vswitch(client, { owner: this.owner, replica, db: this.db });
    this.fullPending = true;
    this.enqueue();
    await this.whenIdle();
    this.scheduleResync();
  }

  /** Stops timers, aborts a running pass, closes the connection. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of [this.debounceTimer, this.retryTimer, this.resyncTimer]) if (t) clearTimeout(t);
    this.debounceTimer = this.retryTimer = this.resyncTimer = undefined;
    this.lifetime.abort(new Error('reconciler stopped'));
    while (this.running) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    this.replica?.stop();
    this.client?.close();
    this.metrics.connected = false;
    this.notifyIdle();
  }

  /** Asks for a pass soon (desired state changed); passes are coalesced, never concurrent. */
  enqueue(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.running || this.debounceTimer) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      void this.loop();
    }, this.options.debounceMs ?? 10);
  }

  /** One entry per desired port found on this host, plus ports we still have rows on but no desire ('pending' removal). */
  /** The host's switch rows as replicated now (undefined while not synced). */
  view(): VswitchView | undefined {
    return this.vswitch?.replicaView();
  }

  status(): PortStatus[] {
    return [...this.statuses.values()].map((s) => ({ ...s }));
  }

  /** Resolves when no pass is pending or running (a backoff retry or the periodic resync do not count). */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  // ---- scheduling ----

  private isStopped(): boolean {
    return this.stopped;
  }

  private isIdle(): boolean {
    return this.stopped || (!this.running && !this.dirty && this.debounceTimer === undefined);
  }

  private notifyIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  private async loop(): Promise<void> {
    if (this.running || this.stopped) return;
    this.running = true;
    try {
      // stop() may flip `stopped` while a pass awaits.
      while (this.dirty && !this.isStopped()) {
        this.dirty = false;
        const full = this.fullPending;
        this.fullPending = false;
        await this.pass(full);
      }
    } finally {
      this.running = false;
      this.notifyIdle();
    }
  }

  private scheduleResync(): void {
    if (this.stopped) return;
    const base = this.options.resyncIntervalMs ?? 60_000;
    const delay = Math.max(1, Math.round(base * (0.9 + 0.2 * Math.random())));
    this.resyncTimer = setTimeout(() => {
      this.resyncTimer = undefined;
      this.fullPending = true;
      this.enqueue();
      this.scheduleResync();
    }, delay);
    this.resyncTimer.unref();
  }

  private scheduleRetry(): void {
    if (this.stopped || this.retryTimer) return;
    const delay = this.retryDelay;
    this.retryDelay = Math.min(this.retryDelay * 2, this.options.retryMaxMs ?? 10_000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.enqueue();
    }, delay);
  }

  // ---- one pass ----

  private async pass(full: boolean): Promise<void> {
    const replica = this.replica;
    const vswitch = this.vswitch;
    const client = this.client;
    if (!replica || !vswitch || !client) return;
    if (!replica.synced) {
      // The 'synced' event of the next (re)subscription enqueues a pass.
      this.markAll('error', 'OVSDB not connected (waiting for the replica to resync)');
      return;
    }
    const started = this.clock.now();
    this.metrics.passes++;
    const view = await vswitch.view(); // synced replica: no I/O
    const candidates = this.candidates(view);
    const next = new Map<string, PortStatus>();
    const included: Candidate[] = [];
    const drifted = new Set<string>();
    for (const c of candidates) {
      let settings = c.settings;
      let operations: number;
      try {
        operations = planPortSettings(view, [settings], { owner: this.owner }).operations.length;
      } catch (error) {
        if (error instanceof VswitchError && error.code === 'CM_ERR_FOREIGN_QOS' && settings.qos === null) {
          // Nothing of ours to remove from Port.qos; leave the foreign QoS alone, still clear our policing.
          const { qos: _ignored, ...rest } = settings;
          settings = rest;
          try {
            operations = planPortSettings(view, [settings], { owner: this.owner }).operations.length;
          } catch (inner) {
            this.setStatus(next, c, 'error', errorText(inner));
            continue;
          }
        } else {
          const writer = this.foreignQosWriter(view, c.hp, error);
          if (writer !== undefined && this.applied.has(c.portId) && !this.unrepaired.has(c.portId)) {
            // We had applied this port and another writer took Port.qos over: count it once until we apply again.
            this.unrepaired.add(c.portId);
            this.metrics.foreignWrites.set(writer, (this.metrics.foreignWrites.get(writer) ?? 0) + 1);
            this.log({ event: 'foreign-qos', host: this.host, portId: c.portId, ovsPort: c.hp.port.name, writer }, 'warn');
          }
          this.setStatus(next, c, 'error', errorText(error), writer);
          continue;
        }
      }
      const key = settingsKey(c.settings);
      if (operations === 0) {
        if (c.desired) {
          this.unrepaired.delete(c.portId);
          this.applied.set(c.portId, { portUuid: c.hp.port._uuid, key });
          this.setStatus(next, c, this.fightingReason(c.portId) === undefined ? 'applied' : 'error', this.fightingReason(c.portId));
        }
        // A removal candidate with nothing to do (only foreign rows left) drops out of the status.
        continue;
      }
      const record = this.applied.get(c.portId);
      if (c.desired && record && record.portUuid === c.hp.port._uuid && record.key === key) {
        const detail = describeDifference(view, c.hp, c.settings, this.owner);
        // Count a drift once, not again in every pass until it is repaired.
        const known = this.unrepaired.has(c.portId);
        const count = known ? this.driftCount(c.portId) : this.noteDrift(c.portId);
        if (!known) {
          this.unrepaired.add(c.portId);
          this.metrics.driftDetected++;
          const foreign = identifyForeignWrite(view, c.hp, this.owner);
          this.lastForeignWrite.set(c.portId, foreign);
          this.metrics.foreignWrites.set(foreign.writer, (this.metrics.foreignWrites.get(foreign.writer) ?? 0) + 1);
          this.log({ event: 'drift', host: this.host, portId: c.portId, ovsPort: c.hp.port.name, detail, count, writer: foreign.writer, evidence: foreign.evidence });
        }
        const threshold = this.options.fightThreshold ?? 3;
        if (count >= threshold) {
          const foreign = this.lastForeignWrite.get(c.portId) ?? { writer: 'unknown', evidence: 'no known signature on the rows' };
          const reason = `rows rewritten by another writer: ${detail} (${String(count)} times in ${String(
            Math.round(this.fightWindowMs() / 1000),
          )} s); writer: ${foreign.writer} (${foreign.evidence}); to stop it: ${adviceFor(foreign.writer)}`;
          this.setStatus(next, c, 'error', reason, foreign.writer);
          if (count === threshold) {
            this.log({ event: 'fighting', host: this.host, portId: c.portId, writer: foreign.writer, reason }, 'warn');
          }
          // Repair only on full resyncs, so we do not fight at event speed.
          if (!full) continue;
        } else {
          this.setStatus(next, c, 'drifted', detail);
        }
        drifted.add(c.portId);
      } else {
        this.setStatus(next, c, 'pending', c.desired ? undefined : 'removing rows no SLA wants any more');
      }
      included.push({ ...c, settings });
    }
    this.replaceStatuses(next);

    let operations: Operation[];
    let orphanOps: Operation[];
    try {
      ({ operations, orphanOps } = this.planPass(view, included));
    } catch (error) {
      this.failPass(included, error, started);
      return;
    }
    if (operations.length === 0) {
      this.finishPass(started, { changed: false });
      return;
    }
    try {
      await client.transact(
        this.db,
        [comment(`cm ${this.owner}@${this.host}: reconcile ${String(included.length)} ports, ${String(orphanOps.length)} orphans`), ...operations],
        { signal: this.lifetime.signal, timeoutMs: this.ioTimeoutMs() },
      );
    } catch (error) {
      this.failPass(included, error, started);
      return;
    }
    this.metrics.transactions++;
    this.metrics.orphansDeleted += orphanOps.length;
    if (orphanOps.length > 0) this.log({ event: 'orphans-deleted', host: this.host, count: orphanOps.length });
    for (const c of included) {
      if (c.desired) {
        this.unrepaired.delete(c.portId);
        this.applied.set(c.portId, { portUuid: c.hp.port._uuid, key: settingsKey(c.settings) });
        const fighting = this.fightingReason(c.portId);
        this.updateStatus(c, fighting === undefined ? 'applied' : 'error', fighting);
        if (drifted.has(c.portId)) {
          this.metrics.repairs++;
          this.log({ event: 'repaired', host: this.host, portId: c.portId, ovsPort: c.hp.port.name });
        }
      } else {
        this.applied.delete(c.portId);
        this.unrepaired.delete(c.portId);
        this.statuses.delete(c.portId);
        this.log({ event: 'removed', host: this.host, portId: c.portId, ovsPort: c.hp.port.name });
      }
    }
    this.finishPass(started, { changed: true, ports: included.length, orphans: orphanOps.length });
  }

  /** ONE transaction's operations: the included ports' changes and the deletion of our other orphans. */
  private planPass(view: VswitchView, included: readonly Candidate[]): { operations: Operation[]; orphanOps: Operation[] } {
    const settings = included.map((c) => c.settings);
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
    return { operations: [...plan.operations, ...orphanOps], orphanOps };
  }

  /** Desired ports present here, and ports with our rows but no desire. */
  private candidates(view: VswitchView): Candidate[] {
    const desired = this.options.source.desired();
    const out: Candidate[] = [];
    const seen = new Set<string>();
    for (const hp of hostPorts(view)) {
      const sla = hp.ifaceId === undefined ? undefined : desired.get(hp.ifaceId);
      if (sla && hp.ifaceId !== undefined && !seen.has(hp.ifaceId)) {
        seen.add(hp.ifaceId);
        out.push({
          portId: hp.ifaceId,
          serverId: sla.serverId,
          hp,
          settings: portSettingsFor(hp.port.name, hp.ifaceId, sla.sla),
          desired: true,
        });
      } else if (carriesOwnedRows(view, hp, this.owner)) {
        const portId = hp.ifaceId ?? taggedIfaceId(view, hp, this.owner) ?? `ovs-port:${hp.port.name}`;
        const id = seen.has(portId) ? `ovs-port:${hp.port.name}` : portId;
        seen.add(id);
        out.push({
          portId: id,
          serverId: hp.vmUuid ?? '',
          hp,
          settings: portSettingsFor(hp.port.name, portId, undefined),
          desired: false,
        });
      }
    }
    return out;
  }

  /** Pass durations (ms) since the last drain, oldest first; bounded so an unscraped agent does not grow. */
  drainPassDurations(): number[] {
    const out = this.passDurations;
    this.passDurations = [];
    return out;
  }

  private recordPassDuration(ms: number): void {
    if (this.passDurations.length >= MAX_RECORDED_DURATIONS) this.passDurations.shift();
    this.passDurations.push(ms);
  }

  private failPass(included: readonly Candidate[], error: unknown, started: number): void {
    const conflict = error instanceof WaitTimedOutError;
    const lostConnection = error instanceof OvsdbConnectionError;
    if (!conflict) this.metrics.errors++;
    const reason = conflict ? 'another writer changed the port first; retrying' : errorText(error);
    for (const c of included) this.updateStatus(c, conflict ? 'pending' : 'error', reason);
    this.log({ event: 'pass-failed', host: this.host, error: errorText(error), ports: included.length });
    this.metrics.lastPassMs = this.clock.now() - started;
    this.recordPassDuration(this.metrics.lastPassMs);
    if (this.stopped) return;
    if (conflict) {
      // The replica catches up with the other writer; re-plan soon.
      this.retryDelay = this.options.retryInitialMs ?? 100;
      this.scheduleRetry();
    } else if (!lostConnection || this.client?.isConnected === true) {
      this.scheduleRetry();
    }
    // Lost connection: the replica's 'synced' after the reconnect enqueues a pass.
  }

  private finishPass(started: number, info: object): void {
    this.retryDelay = this.options.retryInitialMs ?? 100;
    this.metrics.lastPassMs = this.clock.now() - started;
    this.recordPassDuration(this.metrics.lastPassMs);
    this.log({ event: 'pass', host: this.host, ms: this.metrics.lastPassMs, ...info });
  }

  // ---- drift bookkeeping ----

  private fightWindowMs(): number {
    return this.options.fightWindowMs ?? 600_000;
  }

  private driftCount(portId: string): number {
    const now = this.clock.now();
    return (this.drifts.get(portId) ?? []).filter((t) => now - t < this.fightWindowMs()).length;
  }

  private noteDrift(portId: string): number {
    const now = this.clock.now();
    const times = (this.drifts.get(portId) ?? []).filter((t) => now - t < this.fightWindowMs());
    times.push(now);
    this.drifts.set(portId, times);
    return times.length;
  }

  /** The 'error' reason while another writer keeps rewriting this port, else undefined. */
  private fightingReason(portId: string): string | undefined {
    const now = this.clock.now();
    const times = (this.drifts.get(portId) ?? []).filter((t) => now - t < this.fightWindowMs());
    if (times.length === 0) this.drifts.delete(portId);
    if (times.length < (this.options.fightThreshold ?? 3)) return undefined;
    const current = this.statuses.get(portId);
    return current?.state === 'error' && current.reason?.startsWith('rows rewritten') === true
      ? current.reason
      : `rows rewritten by another writer: ${String(times.length)} times in ${String(Math.round(this.fightWindowMs() / 1000))} s`;
  }

  // ---- status ----

  private makeStatus(c: Candidate, state: PortState, reason: string | undefined, contestedBy?: ForeignWriter): PortStatus {
    const previous = this.statuses.get(c.portId);
    const same = previous?.state === state && previous.reason === reason;
    // A fight keeps its writer across passes that only restate the reason.
    const writer =
      contestedBy ?? (state === 'error' && reason?.startsWith('rows rewritten') === true ? this.lastForeignWrite.get(c.portId)?.writer : undefined);
    return {
      portId: c.portId,
      serverId: c.serverId,
      host: this.host,
      state,
      ...(reason === undefined ? {} : { reason }),
      ...(writer === undefined ? {} : { contestedBy: writer }),
      ovsPort: c.hp.port.name,
      since: same ? previous.since : new Date(this.clock.now()).toISOString(),
    };
  }

  private setStatus(next: Map<string, PortStatus>, c: Candidate, state: PortState, reason: string | undefined, contestedBy?: ForeignWriter): void {
    next.set(c.portId, this.makeStatus(c, state, reason, contestedBy));
  }

  /** The writer owning the QoS that blocks us on this port, when that is what `error` says. */
  private foreignQosWriter(view: VswitchView, hp: HostPort, error: unknown): ForeignWriter | undefined {
    if (!(error instanceof VswitchError) || error.code !== 'CM_ERR_FOREIGN_QOS') return undefined;
    const qos = hp.port.qos === undefined ? undefined : view.qos.get(hp.port.qos);
    return qos ? writerOfQos(qos, this.owner) : undefined;
  }

  private updateStatus(c: Candidate, state: PortState, reason: string | undefined): void {
    this.statuses.set(c.portId, this.makeStatus(c, state, reason));
  }

  private replaceStatuses(next: Map<string, PortStatus>): void {
    this.statuses.clear();
    for (const [k, v] of next) this.statuses.set(k, v);
  }

  private markAll(state: PortState, reason: string): void {
    const since = new Date(this.clock.now()).toISOString();
    for (const [k, s] of this.statuses) {
      if (s.state === state && s.reason === reason) continue;
      this.statuses.set(k, { ...s, state, reason, since });
    }
  }

  private ioTimeoutMs(): number {
    return this.options.ioTimeoutMs ?? 10_000;
  }

  private log(event: object, level: 'info' | 'warn' = 'info'): void {
    try {
      this.options.logger?.({ level, ...event });
    } catch {
      // A failing logger must not break reconciliation.
    }
  }
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

function errorText(error: unknown): string {
  if (error instanceof OvsdbError) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
