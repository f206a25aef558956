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
import { OvsdbConnectionError, WaitTimedOutError } from '../ovsdb/errors.ts';
import type { Operation } from '../ovsdb/operations.ts';
import { Replica } from '../ovsdb/replica.ts';
import type { TlsOptions } from '../ovsdb/transport.ts';
import { Vswitch, VSWITCH_DB, vswitchReplicaTables } from '../ovsdb/vswitch/index.ts';
import type { PortSla } from '../qos/sla.ts';
import { adviceFor, hostPorts, type ForeignWrite, type ForeignWriter } from './drift.ts';
import { EPOCH_KEY, FencedError } from './cluster/fence.ts';
import { errorText, OvsdbQosBackend } from './enforcement/ovsdb-qos.ts';
import type { EnforcementBackend, HostEnforcementView, HostSnapshot, PortTarget, PreparedCommit } from './enforcement/types.ts';
import { composeEnforcementView } from './enforcement/view.ts';

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
  /** The port's OpenFlow number on the bridge (where its live rate is read). */
  ofport?: number;
  /**
   * With state `error`: the other writer that keeps rewriting this port's rows
   * or owns the QoS on it (recognised by its external_ids signature).
   */
  contestedBy?: ForeignWriter;
  /** ISO time of the last state change. */
  since: string;
}

/** Every field of a port status: a field added to `PortStatus` and not here fails to compile, so `statusVersion` cannot miss it. */
const PORT_STATUS_FIELDS: Record<keyof PortStatus, true> = {
  portId: true,
  serverId: true,
  host: true,
  state: true,
  reason: true,
  ovsPort: true,
  ofport: true,
  contestedBy: true,
  since: true,
};
const portStatusFields = Object.keys(PORT_STATUS_FIELDS) as (keyof PortStatus)[];

function samePortStatus(a: PortStatus, b: PortStatus): boolean {
  for (const field of portStatusFields) {
    const x = a[field];
    const y = b[field];
    if (x === y) continue;
    if (typeof x !== 'object' || typeof y !== 'object' || JSON.stringify(x) !== JSON.stringify(y)) return false;
  }
  return true;
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
  /**
   * How SLAs are enforced on this host, in commit order. @default one
   * {@link OvsdbQosBackend} (download HTB, upload policing).
   */
  backends?: readonly EnforcementBackend[];
  /**
   * With several agent replicas: the host's fence (cluster/fence.ts). Nothing
   * is written before it says the host is ours, and every write carries its
   * guard.
   */
  fence?: ReconcileFence;
  /**
   * Taken before the first connection attempt and given back after the first pass or the
   * first failure: a fleet starting thousands of hosts at once bounds how many connect,
   * sync and pass together (all at once starved the event loop: leases lost, first syncs
   * timed out). Retries after a failure do not take it again.
   */
  startGate?: (signal: AbortSignal) => Promise<() => void>;
}

/** What the loop needs of a host's fence (a `HostFence` fits). */
export interface ReconcileFence {
  /** Undefined when the host is ours to write (claiming it if needed), else why not. */
  ensure(ovsdb: { client: OvsdbClient; db: string; ioTimeoutMs: number }, signal: AbortSignal): Promise<string | undefined>;
  /** Operations to put first in every transaction that writes the host. */
  guard(): Operation[];
  /** The epoch the switch holds now (its Open_vSwitch row in the replica), before each pass. */
  observe(epochOnSwitch: string | undefined): void;
  /** The guard failed: another replica holds the host now. */
  lost(reason: string): void;
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
  readonly backends: readonly EnforcementBackend[];
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
  #statusVersion = 0;
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
    this.backends = options.backends ?? [new OvsdbQosBackend({ owner: options.owner })];
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
    let giveBack: (() => void) | undefined;
    try {
      giveBack = await this.options.startGate?.(abort);
    } catch (error) {
      client.close();
      throw error;
    }
    const release = (): void => {
      giveBack?.();
      giveBack = undefined;
    };
    try {
      await this.startWith(client, abort, ioTimeoutMs, release);
    } finally {
      release();
    }
  }

  private async startWith(client: OvsdbClient, abort: AbortSignal, ioTimeoutMs: number, release: () => void): Promise<void> {
    let delay = this.options.retryInitialMs ?? 100;
    for (;;) {
      try {
        await client.connect({ signal: abort });
        break;
      } catch (error) {
        release();
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
    // The first sync can fail on a live connection (a switch or an agent too busy to answer get_schema in time):
    // a new replica tries again, until it syncs or the reconciler stops. One that failed is detached first, or its
    // resubscription after the next reconnect would sync data that no pass ever reads.
    let replica: Replica;
    for (;;) {
      replica = this.newReplica(client);
      try {
        await replica.start({ signal: abort });
        break;
      } catch (error) {
        replica.stop();
        release();
        if (abort.aborted || this.stopped) {
          client.close();
          throw error;
        }
        this.metrics.errors++;
        this.log({ event: 'replica-start-failed', host: this.host, error: errorText(error), retryInMs: delay });
        await sleep(delay, abort).catch((abortError: unknown) => {
          client.close();
          throw abortError;
        });
        delay = Math.min(delay * 2, this.options.retryMaxMs ?? 10_000);
      }
    }
    this.replica = replica;
    this.vswitch = new Vswitch(client, { owner: this.owner, replica, db: this.db });
    for (const backend of this.backends) {
      await backend.start?.({
        host: this.host,
        owner: this.owner,
        ovsdb: { client, db: this.db, ioTimeoutMs, ...(this.options.fence ? { guard: () => this.guardOps() } : {}) },
        signal: abort,
        trigger: (full) => {
          if (full) this.fullPending = true;
          this.enqueue();
        },
        log: (event, level) => {
          this.log(event, level);
        },
      });
    }
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
    for (const backend of this.backends) {
      try {
        await backend.stop?.();
      } catch (error) {
        this.log({ event: 'backend-stop-failed', backend: backend.name, error: errorText(error) }, 'warn');
      }
    }
    this.replica?.stop();
    this.client?.close();
    this.metrics.connected = false;
    this.notifyIdle();
  }

  /** Asks for a pass soon (desired state changed); passes are coalesced, never concurrent. */
  private newReplica(client: OvsdbClient): Replica {
    const replica = new Replica(client, { db: this.db, tables: vswitchReplicaTables() });
    replica.on('change', (change) => {
      // Open_vSwitch: with a fence, another replica's claim shows there.
      if (change.table === 'Port' || change.table === 'Interface' || change.table === 'QoS' || change.table === 'Queue' || (change.table === 'Open_vSwitch' && this.options.fence)) {
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
    return replica;
  }

  enqueue(): void {
    if (this.stopped) return;
    this.dirty = true;
    if (this.running || this.debounceTimer) return;
    this.debounceTimer = setTimeout(() => {
      this.debounceTimer = undefined;
      void this.loop();
    }, this.options.debounceMs ?? 10);
  }

  /** What the host's switch enforces per port, in the neutral shape (undefined while the OVSDB replica is not synced). */
  enforcementView(): HostEnforcementView | undefined {
    const view = this.vswitch?.replicaView();
    if (!view) return undefined;
    return composeEnforcementView(view, this.backends);
  }

  /** Facts of each backend (e.g. which upload mechanism and why), for /readyz and /v1/sla. */
  backendInfo(): Record<string, unknown> {
    return Object.fromEntries(this.backends.map((b) => [b.name, { ready: b.ready(), ...(b.info?.() ?? {}) }]));
  }

  status(): PortStatus[] {
    return [...this.statuses.values()].map((s) => ({ ...s }));
  }

  /** Moves whenever `status()` would answer something else (not on passes that restate the same states). */
  get statusVersion(): number {
    return this.#statusVersion;
  }

  /** Adds the OpenFlow port number of each port it knows to `into` (no copies: the guarantee controller asks twice a second). */
  collectOfports(into: Map<string, number>): void {
    for (const s of this.statuses.values()) if (s.ofport !== undefined) into.set(s.portId, s.ofport);
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
    const view = vswitch.replicaView();
    if (!view) return;
    const snapshot: HostSnapshot = { view };
    const targets = this.targets(snapshot);
    const fenced = await this.fenceReason(client);
    if (fenced !== undefined) {
      const next = new Map<string, PortStatus>();
      for (const t of targets) if (t.desired) this.setStatus(next, t, 'pending', `not written by this agent replica: ${fenced}`);
      this.replaceStatuses(next);
      this.finishPass(started, { changed: false, fenced });
      this.scheduleFenceRetry();
      return;
    }
    const notReady = this.backends.find((b) => !b.ready());
    if (notReady) {
      // Enforce nothing half-way: the backend's reconnection asks for a full pass.
      const next = new Map<string, PortStatus>();
      for (const t of targets) if (t.desired) this.setStatus(next, t, 'error', notReady.notReadyReason());
      this.replaceStatuses(next);
      this.finishPass(started, { changed: false, waitingFor: notReady.name });
      return;
    }
    const passes = this.backends.map((b) => b.plan(targets, snapshot));
    const next = new Map<string, PortStatus>();
    const included: PortTarget[] = [];
    const drifted = new Set<string>();
    for (const t of targets) {
      const outcomes = passes.map((p) => p.outcome(t.portId));
      const failed = outcomes.find((o) => o.kind === 'error');
      if (failed?.kind === 'error') {
        const writer = failed.contestedBy;
        if (writer !== undefined && this.applied.has(t.portId) && !this.unrepaired.has(t.portId)) {
          // We had applied this port and another writer took it over: count it once until we apply again.
          this.unrepaired.add(t.portId);
          this.metrics.foreignWrites.set(writer, (this.metrics.foreignWrites.get(writer) ?? 0) + 1);
          this.log({ event: 'foreign-qos', host: this.host, portId: t.portId, ovsPort: t.hp.port.name, writer }, 'warn');
        }
        this.setStatus(next, t, 'error', failed.reason, writer);
        continue;
      }
      const key = passes.map((p) => p.key(t.portId)).join('|');
      const changing = passes.filter((_p, i) => outcomes[i]?.kind === 'change');
      if (changing.length === 0) {
        if (t.desired) {
          this.unrepaired.delete(t.portId);
          this.applied.set(t.portId, { portUuid: t.hp.port._uuid, key });
          this.setStatus(next, t, this.fightingReason(t.portId) === undefined ? 'applied' : 'error', this.fightingReason(t.portId));
        }
        // A removal candidate with nothing to do (only foreign rows left) drops out of the status.
        continue;
      }
      const record = this.applied.get(t.portId);
      if (t.desired && record && record.portUuid === t.hp.port._uuid && record.key === key) {
        const drifts = changing.map((p) => p.drift(t.portId));
        const detail = drifts.map((d) => d.detail).join('; ');
        const foreign = drifts.find((d) => d.foreign.writer !== 'unknown')?.foreign ?? drifts[0]?.foreign ?? { writer: 'unknown' as const, evidence: 'no known signature on the rows' };
        // Count a drift once, not again in every pass until it is repaired; a removal of our state is no fight.
        const contestable = drifts.some((d) => d.contestable !== false);
        const known = this.unrepaired.has(t.portId);
        const count = !contestable ? 0 : known ? this.driftCount(t.portId) : this.noteDrift(t.portId);
        if (!known) {
          this.unrepaired.add(t.portId);
          this.metrics.driftDetected++;
          this.lastForeignWrite.set(t.portId, foreign);
          this.metrics.foreignWrites.set(foreign.writer, (this.metrics.foreignWrites.get(foreign.writer) ?? 0) + 1);
          this.log({ event: 'drift', host: this.host, portId: t.portId, ovsPort: t.hp.port.name, detail, count, writer: foreign.writer, evidence: foreign.evidence });
        }
        const threshold = this.options.fightThreshold ?? 3;
        if (count >= threshold) {
          const last = this.lastForeignWrite.get(t.portId) ?? { writer: 'unknown', evidence: 'no known signature on the rows' };
          const reason = `rows rewritten by another writer: ${detail} (${String(count)} times in ${String(
            Math.round(this.fightWindowMs() / 1000),
          )} s); writer: ${last.writer} (${last.evidence}); to stop it: ${adviceFor(last.writer)}`;
          this.setStatus(next, t, 'error', reason, last.writer);
          if (count === threshold) {
            this.log({ event: 'fighting', host: this.host, portId: t.portId, writer: last.writer, reason }, 'warn');
          }
          // Repair only on full resyncs, so we do not fight at event speed.
          if (!full) continue;
        } else {
          this.setStatus(next, t, 'drifted', detail);
        }
        drifted.add(t.portId);
      } else {
        this.setStatus(next, t, 'pending', t.desired ? undefined : 'removing rows no SLA wants any more');
      }
      included.push(t);
    }
    this.replaceStatuses(next);

    const ids = included.map((t) => t.portId);
    let commits: PreparedCommit[];
    try {
      commits = passes.map((p) => p.prepare(ids));
    } catch (error) {
      this.failPass(included, error, started);
      return;
    }
    const changes = commits.reduce((n, c) => n + c.changes, 0);
    const orphans = commits.reduce((n, c) => n + c.orphans, 0);
    if (changes === 0) {
      this.finishPass(started, { changed: false });
      return;
    }
    try {
      // One write per backend; a later one is not attempted when an earlier one failed (the retry re-plans all).
      // OpenFlow batches cannot carry the fence's guard: check it on the switch right before them
      // (an OVSDB transaction that carries it needs no extra round trip).
      if (commits.some((c) => c.changes > 0 && c.carriesGuard !== true)) {
        const guard = this.guardOps();
        if (guard.length > 0) await client.transact(this.db, guard, { signal: this.lifetime.signal, timeoutMs: this.ioTimeoutMs() });
      }
      for (const commit of commits) {
        if (commit.changes === 0) continue;
        await commit.run(this.lifetime.signal);
        this.metrics.transactions++;
      }
    } catch (error) {
      this.failPass(included, error, started);
      return;
    }
    this.metrics.orphansDeleted += orphans;
    if (orphans > 0) this.log({ event: 'orphans-deleted', host: this.host, count: orphans });
    for (const t of included) {
      if (t.desired) {
        this.unrepaired.delete(t.portId);
        this.applied.set(t.portId, { portUuid: t.hp.port._uuid, key: passes.map((p) => p.key(t.portId)).join('|') });
        const fighting = this.fightingReason(t.portId);
        this.updateStatus(t, fighting === undefined ? 'applied' : 'error', fighting);
        if (drifted.has(t.portId)) {
          this.metrics.repairs++;
          this.log({ event: 'repaired', host: this.host, portId: t.portId, ovsPort: t.hp.port.name });
        }
      } else {
        this.applied.delete(t.portId);
        this.unrepaired.delete(t.portId);
        if (this.statuses.delete(t.portId)) this.#statusVersion++;
        this.log({ event: 'removed', host: this.host, portId: t.portId, ovsPort: t.hp.port.name });
      }
    }
    this.finishPass(started, { changed: true, ports: included.length, orphans });
  }

  /** Desired ports present here, and ports with state of ours but no desire. */
  private targets(snapshot: HostSnapshot): PortTarget[] {
    const desired = this.options.source.desired();
    const out: PortTarget[] = [];
    const seen = new Set<string>();
    for (const hp of hostPorts(snapshot.view)) {
      const sla = hp.ifaceId === undefined ? undefined : desired.get(hp.ifaceId);
      if (sla && hp.ifaceId !== undefined && !seen.has(hp.ifaceId)) {
        seen.add(hp.ifaceId);
        out.push({ portId: hp.ifaceId, serverId: sla.serverId, hp, sla: sla.sla, desired: true });
      } else if (this.backends.some((b) => b.ownsOn(hp, snapshot))) {
        const recorded = this.backends.map((b) => b.recordedPortId?.(hp, snapshot)).find((id) => id !== undefined);
        const portId = hp.ifaceId ?? recorded ?? `ovs-port:${hp.port.name}`;
        const id = seen.has(portId) ? `ovs-port:${hp.port.name}` : portId;
        seen.add(id);
        out.push({ portId: id, serverId: hp.vmUuid ?? '', hp, sla: undefined, desired: false });
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

  /** Why this replica must not write the host now (undefined: it may, or there is no fence). */
  private async fenceReason(client: OvsdbClient): Promise<string | undefined> {
    const fence = this.options.fence;
    if (!fence) return undefined;
    const root = this.replica ? [...this.replica.table('Open_vSwitch').values()][0] : undefined;
    const ids = root?.external_ids;
    fence.observe(ids instanceof Map ? (ids as ReadonlyMap<string, string>).get(EPOCH_KEY) : undefined);
    try {
      return await fence.ensure({ client, db: this.db, ioTimeoutMs: this.ioTimeoutMs() }, this.lifetime.signal);
    } catch (error) {
      return `cannot check the host's fencing epoch: ${errorText(error)}`;
    }
  }

  private guardOps(): Operation[] {
    return this.options.fence?.guard() ?? [];
  }

  private scheduleFenceRetry(): void {
    if (this.stopped || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.enqueue();
    }, 1000);
    this.retryTimer.unref();
  }

  private failPass(included: readonly PortTarget[], error: unknown, started: number): void {
    if (this.options.fence && (error instanceof WaitTimedOutError || error instanceof FencedError)) {
      // Our guard (or a row guard) failed: re-check the epoch before writing again.
      this.options.fence.lost(errorText(error));
    }
    const conflict = error instanceof WaitTimedOutError || error instanceof FencedError;
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

  private makeStatus(c: PortTarget, state: PortState, reason: string | undefined, contestedBy?: ForeignWriter): PortStatus {
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
      ...ofportField(c),
      since: same ? previous.since : new Date(this.clock.now()).toISOString(),
    };
  }

  private setStatus(next: Map<string, PortStatus>, c: PortTarget, state: PortState, reason: string | undefined, contestedBy?: ForeignWriter): void {
    next.set(c.portId, this.makeStatus(c, state, reason, contestedBy));
  }

  private updateStatus(c: PortTarget, state: PortState, reason: string | undefined): void {
    const status = this.makeStatus(c, state, reason);
    const previous = this.statuses.get(c.portId);
    if (!previous || !samePortStatus(previous, status)) this.#statusVersion++;
    this.statuses.set(c.portId, status);
  }

  private replaceStatuses(next: Map<string, PortStatus>): void {
    let same = next.size === this.statuses.size;
    if (same) {
      for (const [k, v] of next) {
        const previous = this.statuses.get(k);
        if (!previous || !samePortStatus(previous, v)) {
          same = false;
          break;
        }
      }
    }
    if (!same) this.#statusVersion++;
    this.statuses.clear();
    for (const [k, v] of next) this.statuses.set(k, v);
  }

  private markAll(state: PortState, reason: string): void {
    const since = new Date(this.clock.now()).toISOString();
    for (const [k, s] of this.statuses) {
      if (s.state === state && s.reason === reason) continue;
      this.statuses.set(k, { ...s, state, reason, since });
      this.#statusVersion++;
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

function ofportField(t: PortTarget): { ofport?: number } {
  const iface = t.hp.ifaces.find((i) => i.external_ids.has('iface-id')) ?? t.hp.ifaces[0];
  return iface?.ofport !== undefined && iface.ofport > 0 ? { ofport: iface.ofport } : {};
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
