/**
 * CloudInventory: builds and caches a snapshot of the cloud (compute hosts, capacity,
 * servers of all tenants and their Neutron ports) from OpenStack, reading after the first
 * refresh only what changed (see the class comment for what a refresh costs).
 *
 * Errors are surfaced, never turned into "no host": a token without the admin role makes
 * the server/port parsers throw OpenStackPermissionError, which fails the refresh; the
 * previous snapshot is then served with `stale: true` and `lastError`, and the next
 * refresh resumes from the last successful one (nothing of a failed one is kept).
 */
import { OpenStackApiError, type CallOptions, type Hypervisor, type NeutronClient, type NovaClient, type PlacementClient, type Port, type RequestLogEntry, type ResourceCapacity, type ResourceProvider } from '../openstack/index.ts';
import { buildSnapshot, matchProviders } from './inventory/build.ts';
import { PORTS_BY_DEVICE_BATCH } from './inventory/cost.ts';
import {
  applyPorts,
  applyServers,
  computeHosts,
  hostOf,
  portsFromListing,
  rootProviders,
  sameSet,
  slimHypervisor,
  slimProvider,
  SinceClock,
  utcMs,
  type CachedCapacity,
  type CloudState,
} from './inventory/state.ts';
import type { HostCapacity, InventoryCalls, InventoryError, InventoryRead, InventorySnapshot } from './inventory/types.ts';

export * from './inventory/types.ts';
export { buildSnapshot, matchProviders, type RawCloud, type ProviderMatch } from './inventory/build.ts';
export * from './inventory/cost.ts';

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
  /** Injectable clock (tests): `refreshedAt`, error times and the full-resync interval. */
  now?: () => Date;
  /**
   * Every this many refreshes (the first included) reads everything instead of changes:
   * it catches deleted ports (Neutron's `changed_since` never answers them) and whatever a
   * clock skew beyond the margin would hide. 1 reads everything every time. @default 10
   */
  fullResyncEvery?: number;
  /** ... and a full read at least this often, ms. @default 300000 */
  fullResyncIntervalMs?: number;
  /**
   * How far `changes-since` / `changed_since` reach back before the previous read began,
   * ms. Both services keep whole seconds (Nova's MariaDB truncates: a server deleted at
   * 04:09:41.6 is stored 04:09:41 and a poll from 04:09:41.5 misses it, seen on Zed), a
   * row's timestamp is taken before its transaction commits, and the writers' clocks
   * differ from the API's. @default 10000
   */
  changesSinceMarginMs?: number;
  /**
   * Page size of the server, hypervisor and port listings. Nova caps it at its `[api]
   * max_limit` (default 1000); Neutron pages only when asked, and one unpaged answer for
   * 200 000 ports is hundreds of megabytes. @default 1000
   */
  pageSize?: number;
  /**
   * Whether this agent owns a host (compute service host name): only owned hosts'
   * Placement providers are read. Others have no capacity in the snapshot (`capacityFrom:
   * 'none'`) unless `foreignCapacity` hands theirs in. Default: every host. See setOwnership.
   */
  ownsHost?: (host: string) => boolean;
  /** Capacity of hosts this agent does not own, as their owners read it (host name → capacity); read at every refresh. */
  foreignCapacity?: () => ReadonlyMap<string, HostCapacity>;
  /**
   * The Placement provider generation each foreign reading was made at. A host whose
   * provider's listed generation differs (or that has no foreign reading) is read by this
   * agent too, so capacity is never older than the provider listing of this refresh.
   */
  foreignGeneration?: (host: string) => number | undefined;
  /**
   * How long a foreign host with no published reading at all waits for its owner before
   * this agent reads it itself, ms. On a whole-cluster cold start no replica has published
   * yet: without the wait every replica reads every host (20 002 Placement calls each at
   * 10 000 hosts, instead of its share). A reading made at another generation is read
   * again at once. @default 60000
   */
  foreignWaitMs?: number;
}


/** The port attributes the snapshot uses (`fields=`): a third of a full port's bytes. */
const PORT_FIELDS = [
  'id',
  'name',
  'network_id',
  'device_id',
  'device_owner',
  'mac_address',
  'status',
  'admin_state_up',
  'fixed_ips',
  'project_id',
  'binding:host_id',
  'binding:vif_type',
  'binding:vnic_type',
  'qos_policy_id',
  'qos_network_policy_id',
  'updated_at',
] as const;

/** The HTTP layer's service labels → InventoryCalls keys. */
const SERVICE_KEY: Readonly<Record<string, keyof InventoryCalls>> = { compute: 'nova', network: 'neutron', placement: 'placement' };

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

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** A refusal of the `changed_since` filter: Zed's filter validation (400 naming it), or any 400 to it. */
function refusesChangedSince(e: unknown): boolean {
  return e instanceof OpenStackApiError && e.status === 400;
}

/**
 * The cloud as the CM Agent knows it, refreshed periodically, read incrementally.
 *
 * The first refresh reads everything; the next ones only changes: servers by Nova's
 * `changes-since` (which also answers deleted ones, status DELETED), ports by Neutron's
 * `changed_since` or, where Neutron refuses it (Zed's default filter validation does), by
 * `device_id` for the servers Nova reported changed; capacity by Placement provider
 * generation (`GET /resource_providers` lists them all, and a provider's generation moves
 * whenever its inventory is written or an allocation is claimed or moved) plus the hosts of
 * changed servers (deleting an allocation, as Nova does when it deletes a server, does not
 * move the generation: checked on Zed, and in Placement's `delete_all`). The hypervisor list
 * is read again only when a compute service or a root provider comes or goes. Every
 * `fullResyncEvery`-th refresh (or after `fullResyncIntervalMs`) lists hypervisors, servers
 * and ports in full: deleted ports are only noticed there. With `ownsHost`, only owned
 * hosts' providers are read (several replicas split the per-host cost).
 *
 * What one refresh costs, in HTTP calls per service, is the formula of inventory/cost.ts
 * (coldCalls, incrementalCalls, fullResyncCalls; pages of L = `pageSize` items, a full page
 * linking a next one): cold, nova 1 + pages(H) + 1 + pages(S), neutron pages(P), placement
 * 2 + 2·O (O owned hosts); incremental, nova 1 + pages(C) (C changed or deleted servers),
 * neutron ceil((C − deleted)/100) by device or pages(Pc) with `changed_since`, placement
 * 1 + 2·D (D owned providers changed). Each snapshot carries what its refresh sent
 * (`calls`, and in `read.retried` the failed attempts sent again, which the formula leaves
 * out); test/agent/inventory-calls.test.ts and bench/inventory-calls.ts hold the counts to
 * the formula. At H = 10 000 hosts × 20 servers, L = 1000: cold 214 / 201 / 20 002 (nova /
 * neutron / placement) for one agent, 214 / 201 / 5 002 for one of four replicas; nothing
 * changed 2 / 0 / 1; 10 servers booted, 2 deleted, 1 migrated 2 / 1 / 29 (2 / 1 / 7 for the
 * replica owning 3 of the 14 hosts touched); a full resync 213 / 201 / 1. Below compute
 * 2.88 (capacity from hypervisor statistics) every refresh lists the hypervisors and none
 * reads Placement.
 */
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
  #state: CloudState | undefined;
  /** Set once Neutron refuses (or ignores) `changed_since`: ports are then read by device. */
  #portsByServer = false;
  #owns: ((host: string) => boolean) | undefined;
  /** Foreign hosts with no published reading yet → since when (the inventory's clock, ms). */
  readonly #foreignMissingSince = new Map<string, number>();
  readonly #calls: InventoryCalls = { nova: 0, neutron: 0, placement: 0 };

  constructor(clients: InventoryClients, options: CloudInventoryOptions = {}) {
    this.#os = clients;
    this.#opts = options;
    this.#owns = options.ownsHost;
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

  /** HTTP calls of every refresh so far, failed ones included (a copy). */
  callCounts(): InventoryCalls {
    return { ...this.#calls };
  }

  /**
   * Replaces the ownership filter (undefined: every host). The next refresh reads the
   * capacity of hosts newly owned and forgets that of hosts no longer owned.
   */
  setOwnership(ownsHost: ((host: string) => boolean) | undefined): void {
    this.#owns = ownsHost;
  }

  /**
   * Reads the cloud (everything, or what changed) and replaces the snapshot. Concurrent
   * callers share the one refresh in flight; a caller's `signal` only stops its own wait.
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
    const calls: InventoryCalls = { nova: 0, neutron: 0, placement: 0 };
    try {
      const { state, read } = await this.#load(calls, now().getTime());
      const snap = buildSnapshot(
        {
          computeMicroversion: state.computeMicroversion,
          capacitySource: state.capacitySource,
          hypervisors: state.hypervisors,
          services: state.services,
          servers: [...state.servers.values()],
          ports: [...state.ports.values()],
          providers: state.providers,
          capacities: new Map([...state.capacities].map(([uuid, c]) => [uuid, c.capacity])),
          ...(this.#owns ? { owns: this.#owns } : {}),
          ...(this.#owns && this.#opts.foreignCapacity ? { foreign: this.#opts.foreignCapacity() } : {}),
        },
        { refreshedAt: now().toISOString(), durationMs: Math.round(performance.now() - started) },
      );
      snap.calls = { ...calls };
      snap.read = read;
      // Committed only now: a failed refresh leaves the previous state, and the next one resumes from it.
      this.#state = state;
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

  async #load(calls: InventoryCalls, nowMs: number): Promise<{ state: CloudState; read: InventoryRead }> {
    const { nova, placement, neutron } = this.#os;
    const opts = this.#opts;
    const prev = this.#state;
    const every = Math.max(1, opts.fullResyncEvery ?? 10);
    const full = prev === undefined || prev.sinceFull + 1 >= every || nowMs - prev.fullAt >= (opts.fullResyncIntervalMs ?? 300_000);
    const last = full ? undefined : prev;
    const margin = opts.changesSinceMarginMs ?? 10_000;
    const pageSize = opts.pageSize ?? 1000;
    const concurrency = opts.placementConcurrency ?? 8;
    const owns = this.#owns;

    // Counted into this refresh's tally and the running total at once, so that a request
    // still finishing after its refresh failed is not lost from the total.
    const retried: InventoryCalls = { nova: 0, neutron: 0, placement: 0 };
    const count = (e: RequestLogEntry): void => {
      const k = SERVICE_KEY[e.service];
      if (!k) return;
      calls[k]++;
      this.#calls[k]++;
      // What the HTTP layer sends again (or gives up on, failing the refresh).
      if (e.error !== undefined || e.status === 401 || e.status === 429 || (e.status !== undefined && e.status >= 500)) retried[k]++;
    };
    // stop() aborts the calls of a refresh in flight; every request is counted.
    const o: CallOptions = { signal: this.#lifetime.signal, observer: count, ...(opts.callTimeoutMs === undefined ? {} : { timeoutMs: opts.callTimeoutMs }) };
    const withClock = (clock: SinceClock): CallOptions => ({
      ...o,
      observer: (e) => {
        count(e);
        clock.observe(e);
      },
    });

    const computeMicroversion = await nova.microversion(o);
    const capacitySource = await nova.capacitySource(o);
    const placementMode = capacitySource === 'placement';

    // The lists that do not depend on each other, in parallel. Each is caught here so that a
    // failure does not go unhandled while the others are pending; Promise.all below rethrows it.
    const settle = <T>(p: Promise<T>): Promise<T> => {
      p.catch(() => undefined);
      return p;
    };
    const servicesP = settle(nova.listServices({ binary: 'nova-compute' }, o));
    const serverClock = new SinceClock();
    const serversP = settle(
      nova.listServers({ allTenants: true, limit: pageSize, ...(last ? { changesSince: last.serversSince } : {}) }, withClock(serverClock)),
    );
    const portClock = new SinceClock();
    const portsP = settle(this.#readPorts(last?.portsSince, pageSize, withClock(portClock)));
    const providersP = settle(
      placementMode
        ? (async () => {
            if (!this.#placementNegotiated) {
              await placement.negotiate(o);
              this.#placementNegotiated = true;
            }
            return placement.listResourceProviders({}, o);
          })()
        : Promise.resolve<ResourceProvider[]>([]),
    );
    // Below 2.88 the hypervisors carry the capacity: read every time. From 2.88 they only say
    // which hosts exist (and their host_ip): read on a full refresh or when a host comes or goes.
    const hypervisorsNow = !last || !placementMode;
    const earlyHypervisorsP = hypervisorsNow ? settle(nova.listHypervisors({ detail: true, limit: pageSize }, o)) : undefined;

    const [services, serverRecords, portRead, providersRaw] = await Promise.all([servicesP, serversP, portsP, providersP]);
    const providers = providersRaw.map(slimProvider);
    const hosts = computeHosts(services);
    const roots = rootProviders(providers);
    let hypervisors: readonly Hypervisor[];
    let hypervisorsRead = hypervisorsNow;
    if (earlyHypervisorsP) hypervisors = (await earlyHypervisorsP).map(slimHypervisor);
    else if (last && sameSet(hosts, last.hypervisorHosts) && sameSet(roots, last.hypervisorProviders)) hypervisors = last.hypervisors;
    else {
      hypervisors = (await nova.listHypervisors({ detail: true, limit: pageSize }, o)).map(slimHypervisor);
      hypervisorsRead = true;
    }

    // Servers, then the ports that follow them.
    const sv = applyServers(prev?.servers, serverRecords, full);
    let ports: Map<string, Port>;
    let portsHow: InventoryRead['ports'];
    if (portRead.kind === 'all') {
      ports = portsFromListing(portRead.ports);
      portsHow = 'all';
    } else if (portRead.kind === 'changed' && last) {
      ports = applyPorts(last.ports, portRead.ports, new Set(), new Set(sv.gone));
      portsHow = 'changed-since';
    } else {
      // By device: the servers Nova answered, in batches that keep the request line short.
      const ids = sv.changed;
      const batches = chunks(ids, PORTS_BY_DEVICE_BATCH);
      const read = await mapLimit(batches, 4, (batch) => neutron.listPorts({ deviceId: batch, fields: PORT_FIELDS }, o));
      ports = applyPorts(last?.ports ?? new Map<string, Port>(), read.flat(), new Set(ids), new Set(sv.gone));
      portsHow = ids.length > 0 ? 'by-server' : 'none';
    }

    // Capacity: owned hosts' providers whose generation moved, or whose host a changed server left or joined.
    const capacities = new Map<string, CachedCapacity>();
    let providersRead = 0;
    const missing = new Map<string, number>();
    const foreignWaitMs = opts.foreignWaitMs ?? 60_000;
    if (placementMode) {
      const listed = new Map(providers.map((p) => [p.uuid, p]));
      const hostByHv = new Map(hypervisors.map((h) => [String(h.id), hostOf(h)]));
      const toRead: ResourceProvider[] = [];
      const seen = new Set<string>();
      for (const [hvId, m] of matchProviders(hypervisors, providers)) {
        const host = hostByHv.get(hvId);
        if (!m.provider || host === undefined || seen.has(m.provider.uuid)) continue;
        seen.add(m.provider.uuid);
        const p = listed.get(m.provider.uuid) ?? m.provider;
        if (owns && !owns(host)) {
          if (!opts.foreignGeneration || !opts.foreignCapacity) continue;
          const theirs = opts.foreignGeneration(host);
          if (theirs === undefined) {
            // Nothing published yet: its owner is probably reading it now. Waited for, within limits.
            const since = this.#foreignMissingSince.get(host) ?? nowMs;
            missing.set(host, since);
            if (nowMs - since < foreignWaitMs) continue;
          } else if (theirs === p.generation) continue;
          // A reading of another generation, or none after the wait: read it here (2 calls).
        }
        const cached = prev?.capacities.get(p.uuid);
        if (cached && cached.generation === p.generation && !sv.hosts.has(host)) capacities.set(p.uuid, cached);
        else toRead.push(p);
      }
      const read = await mapLimit(toRead, concurrency, (p) => placement.capacity(p.uuid, o));
      toRead.forEach((p, i) => {
        const capacity: Record<string, ResourceCapacity> | undefined = read[i];
        // The generation listed before the read: a change after the listing shows as a newer one next time.
        if (capacity) capacities.set(p.uuid, { generation: p.generation, capacity });
      });
      providersRead = toRead.length;
      // Hosts published since (or no longer foreign) forget their wait; a failed refresh keeps the old one.
      this.#foreignMissingSince.clear();
      for (const [host, since] of missing) this.#foreignMissingSince.set(host, since);
    }

    const state: CloudState = {
      computeMicroversion,
      capacitySource,
      hypervisors,
      services,
      servers: sv.servers,
      ports,
      providers,
      capacities,
      serversSince: serverClock.since(margin),
      portsSince: portRead.kind === 'by-server' ? (prev?.portsSince ?? portClock.since(margin)) : portClock.since(margin),
      hypervisorHosts: hypervisorsRead ? hosts : (prev?.hypervisorHosts ?? hosts),
      hypervisorProviders: hypervisorsRead ? roots : (prev?.hypervisorProviders ?? roots),
      fullAt: last ? last.fullAt : nowMs,
      sinceFull: last ? last.sinceFull + 1 : 0,
    };
    return {
      state,
      read: { kind: last ? 'incremental' : 'full', servers: serverRecords.length, ports: portsHow, hypervisors: hypervisorsRead, providersRead, retried },
    };
  }

  /**
   * Ports: all of them (`since` undefined), or those Neutron says changed since `since`.
   * Where Neutron refuses `changed_since` (400: Zed's default filter validation), or ignores
   * it (an answer holding ports older than asked, or without timestamps), ports are read by
   * server from then on; an ignored filter's answer is a complete listing and serves as one.
   */
  async #readPorts(since: string | undefined, pageSize: number, o: CallOptions): Promise<{ kind: 'all' | 'changed'; ports: Port[] } | { kind: 'by-server' }> {
    const { neutron } = this.#os;
    if (since === undefined) return { kind: 'all', ports: await neutron.listPorts({ limit: pageSize, fields: PORT_FIELDS }, o) };
    if (this.#portsByServer) return { kind: 'by-server' };
    let ports: Port[];
    try {
      ports = await neutron.listPorts({ changedSince: since, limit: pageSize, fields: PORT_FIELDS }, o);
    } catch (e) {
      if (!refusesChangedSince(e)) throw e;
      this.#portsByServer = true;
      return { kind: 'by-server' };
    }
    const floor = utcMs(since);
    // NaN (an unreadable stamp) counts as older: the answer is then taken as a full listing.
    if (ports.some((p) => p.updatedAt === undefined || !(utcMs(p.updatedAt) >= floor))) {
      this.#portsByServer = true;
      return { kind: 'all', ports };
    }
    return { kind: 'changed', ports };
  }
}
