/**
 * One reconciler per compute host, following the inventory: a host that
 * appears gets a reconciler on its OVSDB endpoint (from the configuration's
 * map or template), a host that disappears has its reconciler stopped, and a
 * change of desired state wakes every reconciler (each pass is cheap: it
 * reads its replica and sends nothing when the switch already matches).
 */
import type { TlsOptions } from '../ovsdb/transport.ts';
import type { HostFence } from './cluster/fence.ts';
import { HostEnforcement, type UploadChoice, type UploadMode } from './enforcement/host.ts';
import type { HostEnforcementView } from './enforcement/types.ts';
import type { ObservedRate } from './enforcement/rates.ts';
import type { TlsOptions as OpenFlowTlsOptions } from '../openflow/index.ts';
import type { PairLimiter } from './enforcement/pair-limiter.ts';
import type { InventorySnapshot } from './inventory.ts';
import { HostReconciler, type DesiredSource, type PortStatus, type ReconcilerMetrics } from './reconciler.ts';

export interface FleetOptions {
  owner: string;
  source: DesiredSource;
  /** The OVSDB endpoint of a host, or undefined when it cannot be derived. */
  endpointFor: (host: InventorySnapshot['hosts'][number]) => string | undefined;
  tls?: TlsOptions;
  resyncIntervalMs?: number;
  logger?: (event: object) => void;
  /** How uploads are capped. @default 'policing' (what an agent without OpenFlow endpoints can do) */
  upload?: UploadMode;
  /** The OpenFlow endpoint of a host's bridge (meters, live rates), with the passive listener to keep there, or undefined. */
  openflowFor?: (host: InventorySnapshot['hosts'][number]) => { endpoint: string; listener?: string } | undefined;
  openflowTls?: OpenFlowTlsOptions;
  meterBurstMs?: number;
  /** Live-rate sampling period, ms; 0 disables. @default 1000 */
  ratesIntervalMs?: number;
  /** Pair limiters for guaranteed rates on every host with an OpenFlow endpoint. @default false */
  guarantees?: boolean;
  /**
   * With several agent replicas: which hosts this replica writes now, and the
   * fence of each (cluster/). Hosts it does not own get no reconciler.
   */
  cluster?: {
    owns(host: string): boolean;
    fenceFor(host: string): HostFence;
  };
  /** Hosts connecting, syncing and running their first pass at once (HostReconcilerOptions.startGate). @default 32 */
  startConcurrency?: number;
}

/** A counting semaphore: `take` resolves with the function that gives the place back. */
export class StartGate {
  #free: number;
  readonly #waiting: { resolve: (giveBack: () => void) => void; reject: (e: unknown) => void; signal: AbortSignal; onAbort: () => void }[] = [];

  constructor(places: number) {
    if (!(places >= 1)) throw new RangeError('a gate needs at least one place');
    this.#free = places;
  }

  take(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) return Promise.reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(this.#giveBackOnce());
    }
    return new Promise((resolve, reject) => {
      const entry = {
        resolve,
        reject,
        signal,
        onAbort: () => {
          const i = this.#waiting.indexOf(entry);
          if (i >= 0) this.#waiting.splice(i, 1);
          reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
        },
      };
      signal.addEventListener('abort', entry.onAbort, { once: true });
      this.#waiting.push(entry);
    });
  }

  /** Callers waiting for a place (tests, metrics). */
  get waiting(): number {
    return this.#waiting.length;
  }

  #giveBackOnce(): () => void {
    let given = false;
    return () => {
      if (given) return;
      given = true;
      const next = this.#waiting.shift();
      if (next) {
        next.signal.removeEventListener('abort', next.onAbort);
        next.resolve(this.#giveBackOnce());
      } else this.#free++;
    };
  }
}

/** A port's status with what the switch says of it now. */
export interface PortStatusWithRates extends PortStatus {
  observed?: ObservedRate;
  /** Why there is no observed rate. */
  observedError?: string;
  upload?: UploadChoice;
  /** With several replicas: the replica that published this state (another's host, read from the store). */
  reportedBy?: string;
}

export interface HostReadiness {
  host: string;
  endpoint: string | undefined;
  connected: boolean;
  /** Why the host is not enforced, when it is not. */
  reason?: string;
  upload?: UploadChoice;
  /** The bridge's OpenFlow connection, when the host has an endpoint. */
  openflow?: 'connected' | 'disconnected';
}

export class ReconcilerFleet {
  private readonly reconcilers = new Map<
    string,
    { endpoint: string; openflow: string | undefined; reconciler: HostReconciler; enforcement: HostEnforcement; fence: HostFence | undefined }
  >();
  private lastSnapshot: InventorySnapshot | undefined;
  private readonly unreachable = new Map<string, string>();
  private readonly lifetime = new AbortController();
  private readonly startGate: StartGate;

  constructor(private readonly options: FleetOptions) {
    this.startGate = new StartGate(options.startConcurrency ?? 32);
  }

  /** Brings the set of reconcilers in line with the snapshot's hosts. */
  sync(snapshot: InventorySnapshot | undefined): void {
    if (!snapshot || this.lifetime.signal.aborted) return;
    this.lastSnapshot = snapshot;
    const seen = new Set<string>();
    const cluster = this.options.cluster;
    for (const host of snapshot.hosts) {
      // Another replica's host: not ours to watch or write (its reconciler, if any, stops below).
      if (cluster && !cluster.owns(host.name)) continue;
      seen.add(host.name);
      const endpoint = this.options.endpointFor(host);
      const current = this.reconcilers.get(host.name);
      if (endpoint === undefined) {
        this.unreachable.set(host.name, 'no OVSDB endpoint: add it to ovsdb.endpoints or use a template whose fields the host reports');
        if (current) void this.remove(host.name);
        continue;
      }
      this.unreachable.delete(host.name);
      const of = this.options.openflowFor?.(host);
      const openflow = of === undefined ? undefined : `${of.endpoint} ${of.listener ?? ''}`;
      if (current?.endpoint === endpoint && current.openflow === openflow) continue;
      if (current) void this.remove(host.name);
      const enforcement = new HostEnforcement({
        host: host.name,
        owner: this.options.owner,
        upload: this.options.upload ?? 'policing',
        ...(of === undefined ? {} : { openflow: { ...of, ...(this.options.openflowTls ? { tls: this.options.openflowTls } : {}) } }),
        ...(this.options.meterBurstMs === undefined ? {} : { meterBurstMs: this.options.meterBurstMs }),
        ...(this.options.ratesIntervalMs === undefined ? {} : { ratesIntervalMs: this.options.ratesIntervalMs }),
        guarantees: this.options.guarantees === true,
      });
      enforcement.start(this.lifetime.signal);
      const fence = cluster?.fenceFor(host.name);
      const reconciler = new HostReconciler({
        ...(fence ? { fence } : {}),
        host: host.name,
        endpoint,
        owner: this.options.owner,
        source: this.options.source,
        ...(this.options.tls ? { tls: this.options.tls } : {}),
        ...(this.options.resyncIntervalMs === undefined ? {} : { resyncIntervalMs: this.options.resyncIntervalMs }),
        ...(this.options.logger ? { logger: this.options.logger } : {}),
        backends: enforcement.backends,
        startGate: (signal) => this.startGate.take(signal),
      });
      this.reconcilers.set(host.name, { endpoint, openflow, reconciler, enforcement, fence });
      // start() keeps retrying the connection until the fleet stops; failures show in readiness.
      reconciler.start(this.lifetime.signal).catch((error: unknown) => {
        this.options.logger?.({ event: 'reconciler_start_failed', host: host.name, error: String(error) });
        // Dropped, so that the next sync (inventory refresh, change of the live set) starts a new one.
        if (!this.lifetime.signal.aborted && this.reconcilers.get(host.name)?.reconciler === reconciler) void this.remove(host.name);
      });
    }
    for (const name of [...this.reconcilers.keys()]) if (!seen.has(name)) void this.remove(name);
    for (const name of [...this.unreachable.keys()]) if (!seen.has(name)) this.unreachable.delete(name);
  }

  /** The live set changed: take the hosts this replica owns now, let go of the others. */
  resync(): void {
    this.sync(this.lastSnapshot);
  }

  /** The hosts this fleet watches now. */
  hosts(): string[] {
    return [...this.reconcilers.keys()];
  }

  /** Desired state changed: every host re-checks (a host-less change may concern any of them). */
  enqueue(host?: string): void {
    if (host !== undefined) {
      this.reconcilers.get(host)?.reconciler.enqueue();
      return;
    }
    for (const { reconciler } of this.reconcilers.values()) reconciler.enqueue();
  }

  /** What a host's switch enforces, from its reconciler. */
  enforcementView(host: string): HostEnforcementView | undefined {
    return this.reconcilers.get(host)?.reconciler.enforcementView();
  }

  /** Facts of each host's enforcement backends. */
  backendInfo(host: string): Record<string, unknown> | undefined {
    return this.reconcilers.get(host)?.reconciler.backendInfo();
  }

  status(): PortStatusWithRates[] {
    return [...this.reconcilers.values()].flatMap((entry) => this.statusOf(entry));
  }

  /**
   * What would be published of each host, without building it: `key` moves when the port
   * states, the OVSDB or OpenFlow connection change (live rates aside), `live` says the
   * ports carry live rates, and `ports()` builds the states.
   */
  publishable(): Map<string, { key: string; live: boolean; connected: boolean; openflow: 'connected' | 'disconnected' | undefined; ports: () => PortStatusWithRates[] }> {
    const out = new Map<string, { key: string; live: boolean; connected: boolean; openflow: 'connected' | 'disconnected' | undefined; ports: () => PortStatusWithRates[] }>();
    for (const [host, entry] of this.reconcilers) {
      const openflow = openflowState(entry.enforcement);
      const connected = entry.reconciler.metrics.connected;
      const upload = entry.enforcement.upload();
      out.set(host, {
        key: `${String(entry.reconciler.statusVersion)}|${String(connected)}|${openflow ?? ''}|${upload.mechanism}|${upload.reason}`,
        live: entry.enforcement.sampler !== undefined,
        connected,
        openflow,
        ports: () => this.statusOf(entry),
      });
    }
    return out;
  }

  private statusOf({ reconciler, enforcement }: { reconciler: HostReconciler; enforcement: HostEnforcement }): PortStatusWithRates[] {
    const upload = enforcement.upload();
    const sampler = enforcement.sampler;
    return reconciler.status().map((s): PortStatusWithRates => {
      const observed = s.ofport === undefined ? undefined : sampler?.rate(s.ofport);
      const observedError = observed ? undefined : sampler ? (sampler.error() ?? 'no sample yet') : 'no OpenFlow endpoint for this host (enforcement.openflow)';
      return { ...s, upload, ...(observed ? { observed } : {}), ...(observedError === undefined ? {} : { observedError }) };
    });
  }

  /** The host's pair limiters (guaranteed rates), when it has them. */
  pairLimiter(host: string): PairLimiter | undefined {
    const entry = this.reconcilers.get(host);
    // A fenced host's limiters are another replica's to program.
    if (entry?.fence && !entry.fence.writable()) return undefined;
    return entry?.enforcement.pairs;
  }

  /** OpenFlow port numbers of the ports the reconcilers know, by port id. */
  ofports(): Map<string, number> {
    const out = new Map<string, number>();
    for (const { reconciler } of this.reconcilers.values()) reconciler.collectOfports(out);
    return out;
  }

  /** The upload mechanism of a host and why. */
  upload(host: string): UploadChoice | undefined {
    return this.reconcilers.get(host)?.enforcement.upload();
  }

  /** Cumulative counters per host (for /metrics). */
  metrics(): ReadonlyMap<string, Readonly<ReconcilerMetrics>> {
    return new Map([...this.reconcilers.entries()].map(([host, { reconciler }]) => [host, reconciler.metrics]));
  }

  /** Pass durations (ms) per host since the previous call (for the duration histogram). */
  drainPassDurations(): ReadonlyMap<string, readonly number[]> {
    return new Map([...this.reconcilers.entries()].map(([host, { reconciler }]) => [host, reconciler.drainPassDurations()]));
  }

  ready(): HostReadiness[] {
    const hosts: HostReadiness[] = [...this.reconcilers.entries()].map(([host, { endpoint, reconciler, enforcement }]) => {
      const openflow = openflowState(enforcement);
      return {
        host,
        endpoint,
        connected: reconciler.metrics.connected,
        ...(reconciler.metrics.connected ? {} : { reason: `OVSDB ${endpoint} not connected` }),
        upload: enforcement.upload(),
        ...(openflow === undefined ? {} : { openflow }),
      };
    });
    for (const [host, reason] of this.unreachable) hosts.push({ host, endpoint: undefined, connected: false, reason });
    return hosts.sort((a, b) => a.host.localeCompare(b.host));
  }

  /** Resolves when every reconciler is idle (tests, orderly shutdown). */
  async whenIdle(): Promise<void> {
    await Promise.all([...this.reconcilers.values()].map(({ reconciler }) => reconciler.whenIdle()));
  }

  async stop(): Promise<void> {
    this.lifetime.abort();
    await Promise.all([...this.reconcilers.keys()].map((h) => this.remove(h)));
  }

  private async remove(host: string): Promise<void> {
    const entry = this.reconcilers.get(host);
    if (!entry) return;
    this.reconcilers.delete(host);
    await entry.reconciler.stop();
    entry.enforcement.stop();
  }
}

/** A host's OpenFlow connection as /readyz and the published status name it (undefined: no OpenFlow endpoint). */
function openflowState(enforcement: HostEnforcement): 'connected' | 'disconnected' | undefined {
  const up = enforcement.openflowConnected();
  return up === undefined ? undefined : up ? 'connected' : 'disconnected';
}
