/**
 * CloudInventory: builds and caches a snapshot of the cloud (compute hosts,
 * capacity, servers of all tenants and their Neutron ports) from OpenStack.
 *
 * One refresh costs a bounded number of HTTP calls that does not depend on the
 * number of servers or ports:
 *   - compute: GET /os-hypervisors/detail, GET /os-services?binary=nova-compute,
 *     GET /servers/detail?all_tenants=1 (plus more pages only if the cloud pages);
 *   - network: GET /ports (all ports once, joined to servers by `device_id`);
 *   - placement (capacity source "placement", compute ≥ 2.88): GET /resource_providers,
 *     then inventories + usages per matched provider (2 per host).
 * The first refresh also discovers the compute microversion (GET /) and the
 * Placement version (GET /), and authenticates; later refreshes reuse them.
 *
 * Errors are surfaced, never turned into "no host": a token without the admin
 * role makes the server/port parsers throw OpenStackPermissionError, which
 * fails the refresh; the previous snapshot is then served with `stale: true`
 * and `lastError`.
 */
import type { ComputeService, Hypervisor, NeutronClient, NovaClient, PlacementClient, Port, ResourceCapacity, ResourceProvider, Server } from '../openstack/index.ts';
import { buildSnapshot, matchProviders } from './inventory/build.ts';
import type { CapacitySource, InventoryError, InventorySnapshot } from './inventory/types.ts';

export * from './inventory/types.ts';
export { buildSnapshot, matchProviders, type RawCloud, type ProviderMatch } from './inventory/build.ts';

/** The clients the inventory reads with (a subset of `createOpenStack(...)`). */
export interface InventoryClients {
  nova: NovaClient;
  placement: PlacementClient;
  neutron: NeutronClient;
}

export interface CloudInventoryOptions {
  /** Placement providers read in parallel. @default 8 */
  placementConcurrency?: number;
  /** Deadline per HTTP call (retries included), ms; default: the HTTP layer's. */
  callTimeoutMs?: number;
  /** Called after every refresh attempt (for logs and metrics). */
  onRefresh?: (result: { ok: true; snapshot: InventorySnapshot } | { ok: false; error: Error }) => void;
  /** Injectable clock (tests). */
  now?: () => Date;
}

function abortError(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  return r instanceof Error ? r : new DOMException('The operation was aborted', 'AbortError');
}

function summarize(error: Error, at: Date): InventoryError {
  const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
  return { name: error.name, code, message: error.message, at: at.toISOString() };
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  return out;
}

/** Rejects with the signal's reason when it aborts, without cancelling `p` (others may share it). */
function raceSignal<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(abortError(signal));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      reject(abortError(signal));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

export class CloudInventory {
  readonly #os: InventoryClients;
  readonly #opts: CloudInventoryOptions;
  #snapshot: InventorySnapshot | undefined;
  #lastError: InventoryError | undefined;
  #inflight: Promise<InventorySnapshot> | undefined;
  #placementNegotiated = false;
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #lifetime = new AbortController();
  #refreshCount = 0;

  constructor(clients: InventoryClients, options: CloudInventoryOptions = {}) {
    this.#os = clients;
    this.#opts = options;
  }

  /**
   * The last good snapshot, synchronously; undefined before the first success.
   * After a failed refresh it is the previous data with `stale: true` and `lastError`.
   */
  snapshot(): InventorySnapshot | undefined {
    return this.#snapshot;
  }

  /** The latest refresh failure (undefined after a success), also before any snapshot exists. */
  get lastError(): InventoryError | undefined {
    return this.#lastError;
  }

  /** Completed refresh attempts (successful or not). */
  get refreshCount(): number {
    return this.#refreshCount;
  }

  /**
   * Reads everything and replaces the snapshot. Concurrent callers share the
   * one refresh in flight; a caller's `signal` only stops its own wait.
   * Rejects with the failure (the previous snapshot stays available, marked stale).
   */
  refresh(signal?: AbortSignal): Promise<InventorySnapshot> {
    if (!this.#inflight) {
      if (this.#lifetime.signal.aborted) this.#lifetime = new AbortController();
      const p = this.#doRefresh().finally(() => {
        if (this.#inflight === p) this.#inflight = undefined;
      });
      this.#inflight = p;
    }
    return raceSignal(this.#inflight, signal);
  }

  /** Refreshes now and then every `intervalMs` after the previous refresh ends. Failures are kept in the snapshot, not thrown. */
  start(options: { intervalMs: number }): void {
    if (this.#running) return;
    if (!(options.intervalMs > 0)) throw new RangeError('intervalMs must be > 0');
    this.#running = true;
    if (this.#lifetime.signal.aborted) this.#lifetime = new AbortController();
    const tick = (): void => {
      this.#timer = undefined;
      this.refresh(this.#lifetime.signal)
        .catch(() => undefined)
        .finally(() => {
          if (this.#running) this.#timer = setTimeout(tick, options.intervalMs);
        });
    };
    tick();
  }

  /** Stops the periodic refresh (a refresh in flight completes for its other callers). */
  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#lifetime.abort(new Error('inventory stopped'));
  }

  async #doRefresh(): Promise<InventorySnapshot> {
    const now = this.#opts.now ?? (() => new Date());
    const started = performance.now();
    try {
      const raw = await this.#load();
      const snap = buildSnapshot(raw, { refreshedAt: now().toISOString(), durationMs: Math.round(performance.now() - started) });
      this.#snapshot = snap;
      this.#lastError = undefined;
      this.#refreshCount++;
      this.#opts.onRefresh?.({ ok: true, snapshot: snap });
      return snap;
    } catch (e) {
      const error = e instanceof Error ? e : new Error(String(e));
      this.#lastError = summarize(error, now());
      if (this.#snapshot) this.#snapshot = { ...this.#snapshot, stale: true, lastError: this.#lastError };
      this.#refreshCount++;
      this.#opts.onRefresh?.({ ok: false, error });
      throw error;
    }
  }

  async #load(): Promise<{
    computeMicroversion: string;
    capacitySource: CapacitySource;
    hypervisors: Hypervisor[];
    services: ComputeService[];
    servers: Server[];
    ports: Port[];
    providers: ResourceProvider[];
    capacities: Map<string, Record<string, ResourceCapacity>>;
  }> {
    const { nova, placement, neutron } = this.#os;
    // stop() aborts the calls of a refresh in flight.
    const o = { signal: this.#lifetime.signal, ...(this.#opts.callTimeoutMs === undefined ? {} : { timeoutMs: this.#opts.callTimeoutMs }) };
    const computeMicroversion = await nova.microversion(o);
    const capacitySource = await nova.capacitySource(o);

    const placementPart = async (hypervisors: Promise<Hypervisor[]>): Promise<{ providers: ResourceProvider[]; capacities: Map<string, Record<string, ResourceCapacity>> }> => {
      const capacities = new Map<string, Record<string, ResourceCapacity>>();
      if (capacitySource !== 'placement') return { providers: [], capacities };
      if (!this.#placementNegotiated) {
        await placement.negotiate(o);
        this.#placementNegotiated = true;
      }
      const [providers, hvs] = await Promise.all([placement.listResourceProviders({}, o), hypervisors]);
      const wanted = new Set<string>();
      for (const m of matchProviders(hvs, providers).values()) if (m.provider) wanted.add(m.provider.uuid);
      const uuids = [...wanted];
      const caps = await mapLimit(uuids, this.#opts.placementConcurrency ?? 8, (uuid) => placement.capacity(uuid, o));
      uuids.forEach((uuid, i) => {
        const c = caps[i];
        if (c) capacities.set(uuid, c);
      });
      return { providers, capacities };
    };

    const hypervisorsP = nova.listHypervisors({ detail: true }, o);
    // Avoid an unhandled rejection while other calls are pending; Promise.all below observes it.
    hypervisorsP.catch(() => undefined);
    const [hypervisors, services, servers, ports, pl] = await Promise.all([
      hypervisorsP,
      nova.listServices({ binary: 'nova-compute' }, o),
      nova.listServers({ allTenants: true }, o),
      neutron.listPorts({}, o),
      placementPart(hypervisorsP),
    ]);
    return { computeMicroversion, capacitySource, hypervisors, services, servers, ports, providers: pl.providers, capacities: pl.capacities };
  }
}
