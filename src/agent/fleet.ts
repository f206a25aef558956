/**
 * One reconciler per compute host, following the inventory: a host that
 * appears gets a reconciler on its OVSDB endpoint (from the configuration's
 * map or template), a host that disappears has its reconciler stopped, and a
 * change of desired state wakes every reconciler (each pass is cheap: it
 * reads its replica and sends nothing when the switch already matches).
 */
import type { TlsOptions } from '../ovsdb/transport.ts';
import type { EnforcementBackend, HostEnforcementView } from './enforcement/types.ts';
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
  /** The enforcement backends of a host (new ones per reconciler); the OVSDB QoS backend alone by default. */
  backendsFor?: (host: InventorySnapshot['hosts'][number]) => readonly EnforcementBackend[];
}

export interface HostReadiness {
  host: string;
  endpoint: string | undefined;
  connected: boolean;
  /** Why the host is not enforced, when it is not. */
  reason?: string;
}

export class ReconcilerFleet {
  private readonly reconcilers = new Map<string, { endpoint: string; reconciler: HostReconciler }>();
  private readonly unreachable = new Map<string, string>();
  private readonly lifetime = new AbortController();

  constructor(private readonly options: FleetOptions) {}

  /** Brings the set of reconcilers in line with the snapshot's hosts. */
  sync(snapshot: InventorySnapshot | undefined): void {
    if (!snapshot || this.lifetime.signal.aborted) return;
    const seen = new Set<string>();
    for (const host of snapshot.hosts) {
      seen.add(host.name);
      const endpoint = this.options.endpointFor(host);
      const current = this.reconcilers.get(host.name);
      if (endpoint === undefined) {
        this.unreachable.set(host.name, 'no OVSDB endpoint: add it to ovsdb.endpoints or use a template whose fields the host reports');
        if (current) void this.remove(host.name);
        continue;
      }
      this.unreachable.delete(host.name);
      if (current?.endpoint === endpoint) continue;
      if (current) void this.remove(host.name);
      const reconciler = new HostReconciler({
        host: host.name,
        endpoint,
        owner: this.options.owner,
        source: this.options.source,
        ...(this.options.tls ? { tls: this.options.tls } : {}),
        ...(this.options.resyncIntervalMs === undefined ? {} : { resyncIntervalMs: this.options.resyncIntervalMs }),
        ...(this.options.logger ? { logger: this.options.logger } : {}),
        ...(this.options.backendsFor ? { backends: this.options.backendsFor(host) } : {}),
      });
      this.reconcilers.set(host.name, { endpoint, reconciler });
      // start() keeps retrying the connection until the fleet stops; failures show in readiness.
      reconciler.start(this.lifetime.signal).catch((error: unknown) => {
        this.options.logger?.({ event: 'reconciler_start_failed', host: host.name, error: String(error) });
      });
    }
    for (const name of [...this.reconcilers.keys()]) if (!seen.has(name)) void this.remove(name);
    for (const name of [...this.unreachable.keys()]) if (!seen.has(name)) this.unreachable.delete(name);
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

  status(): PortStatus[] {
    return [...this.reconcilers.values()].flatMap(({ reconciler }) => reconciler.status());
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
    const hosts: HostReadiness[] = [...this.reconcilers.entries()].map(([host, { endpoint, reconciler }]) => ({
      host,
      endpoint,
      connected: reconciler.metrics.connected,
      ...(reconciler.metrics.connected ? {} : { reason: `OVSDB ${endpoint} not connected` }),
    }));
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
  }
}
