/**
 * Every replica answers for every host: each owner publishes what its
 * reconcilers see of its hosts (port states, live rates, connections) to the
 * store, and every replica follows what the others published. A replica's
 * API then joins its own hosts' live state with the others' last published
 * one, so `/v1/sla` says the same on every replica, from the store rather
 * than by guessing.
 *
 * Writes are proportional to change: a host is published when its states
 * change (checked every `intervalMs`), hosts with live rates every
 * `refreshMs` so that their rates stay recent, and every owned host every
 * `republishMs`. Reads are incremental
 * (records updated since the last read, with an overlap for statements that
 * committed late).
 */
import type { ClusterStore, HostStatusRecord } from '../../store/index.ts';
import type { PortStatusWithRates } from '../fleet.ts';
import type { HostCapacity } from '../inventory/types.ts';

/** What an owner publishes of one host. */
export interface PublishedHostStatus {
  ports: PortStatusWithRates[];
  ovsdb: 'connected' | 'disconnected';
  openflow?: 'connected' | 'disconnected';
  /** The owner's Placement reading of the host and the provider generation it was read at. */
  capacity?: HostCapacity;
  generation?: number;
}

/** One owned host as its publisher sees it: what would be published, built only when it is. */
export interface LocalHostStatus {
  /** Moves whenever the status would differ, live rates aside (cheap: no status is built to compute it). */
  key: string;
  /** The status carries live rates, which only the periodic refresh republishes. */
  live: boolean;
  build(): PublishedHostStatus;
}

export interface HostStatusSyncOptions {
  store: ClusterStore;
  /** This replica's identity, while it may write. */
  identity(): { agentId: string; incarnation: number } | undefined;
  /** The hosts this replica owns and what its reconcilers report of them. */
  local(): Map<string, LocalHostStatus>;
  intervalMs?: number;
  /** Hosts with live rates are published at least this often, ms. @default 10000 */
  refreshMs?: number;
  /** Every owned host is published at least this often, ms. @default 60000 */
  republishMs?: number;
  log?: (event: object, level?: 'info' | 'warn') => void;
}

/** Store commits can land after a later one's timestamp was read: re-read this much. */
const OVERLAP_MS = 2000;

export class HostStatusSync {
  private readonly published = new Map<string, string>();
  private readonly foreign = new Map<string, HostStatusRecord>();
  private readSince: number | undefined;
  private lastFull = 0;
  private lastAll = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastError: string | undefined;
  private running: Promise<void> | undefined;

  constructor(private readonly options: HostStatusSyncOptions) {}

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running;
  }

  /** The last published record of each host, by whichever replica published it. */
  records(): ReadonlyMap<string, HostStatusRecord> {
    return this.foreign;
  }

  /** Port states of hosts that `isLocal` says are not this replica's, from the store. */
  foreignPorts(isLocal: (host: string) => boolean): PortStatusWithRates[] {
    const out: PortStatusWithRates[] = [];
    for (const [host, record] of this.foreign) {
      if (isLocal(host)) continue;
      const status = record.status as PublishedHostStatus | null;
      for (const port of status?.ports ?? []) out.push({ ...port, reportedBy: record.agentId });
    }
    return out;
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.round().finally(() => {
        this.schedule(this.options.intervalMs ?? 1000);
      });
    }, delay);
    this.timer.unref();
  }

  private async round(): Promise<void> {
    try {
      await this.publish();
      await this.follow();
      this.lastError = undefined;
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.lastError) this.options.log?.({ event: 'host_status_sync_failed', error: message }, 'warn');
      this.lastError = message;
    }
  }

  private async publish(): Promise<void> {
    const id = this.options.identity();
    if (!id) return;
    const now = Date.now();
    const full = now - this.lastFull >= (this.options.refreshMs ?? 10_000);
    const all = now - this.lastAll >= (this.options.republishMs ?? 60_000);
    const records: Omit<HostStatusRecord, 'updatedAt'>[] = [];
    const signatures = new Map<string, string>();
    // Keys, not statuses, are compared: building and serialising every owned host's ports each second
    // cost a tenth of a replica's CPU at 2 500 hosts, for the few that changed.
    for (const [host, local] of this.options.local()) {
      const signature = `${String(id.incarnation)}|${local.key}`;
      signatures.set(host, signature);
      // Live rates change every sample: they ride along, but only state changes (or the periodic refresh) publish.
      if (!all && !(full && local.live) && this.published.get(host) === signature) continue;
      records.push({ host, agentId: id.agentId, incarnation: id.incarnation, status: local.build() });
    }
    if (records.length > 0) await this.options.store.publishHostStatus(records);
    for (const r of records) this.published.set(r.host, signatures.get(r.host) ?? '');
    for (const host of [...this.published.keys()]) if (!signatures.has(host)) this.published.delete(host);
    if (full) this.lastFull = now;
    if (all) this.lastAll = now;
  }

  private async follow(): Promise<void> {
    const records = this.readSince === undefined ? await this.options.store.hostStatuses() : await this.options.store.hostStatusesSince(this.readSince - OVERLAP_MS);
    let newest = this.readSince ?? 0;
    for (const r of records) {
      this.foreign.set(r.host, r);
      newest = Math.max(newest, r.updatedAt);
    }
    this.readSince = newest;
  }
}
