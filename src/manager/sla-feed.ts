/**
 * The live SLA feed behind the dashboard: one poller of the agent's
 * `GET /v1/sla` per manager, however many browsers watch, joined with the
 * manager's topologies (which unit of which topology a server is) and turned
 * into compact rows. A row says whether the VM is in violation now: its
 * violation seconds (counted by the agent's guarantee controller) moved since
 * the previous poll.
 *
 * The poller runs only while someone subscribes; a failing poll is published
 * as an error event (the view says why it stopped moving) and retried on the
 * next tick.
 */
import type { AgentSlaStatusItem } from './agent-client.ts';
import type { SlaRow, SlaSample } from './sla-types.ts';

export type { SlaRow, SlaSample };

export interface UnitOfServer {
  topologyId: string;
  topology: string;
  unit: string;
  slaClass: string | null;
}

export interface SlaFeedDeps {
  /** The agent's SLA status (every stored SLA). */
  slaStatus(signal: AbortSignal): Promise<readonly AgentSlaStatusItem[]>;
  /** Which topology unit each server is, by server id (lower case). */
  units(): Promise<ReadonlyMap<string, UnitOfServer>>;
  /** @default 1000 */
  intervalMs?: number;
  now?: () => Date;
}

function sum(values: readonly (number | null | undefined)[]): number | null {
  let total: number | null = null;
  for (const v of values) if (typeof v === 'number') total = (total ?? 0) + v;
  return total;
}

/** Pure: the rows of one agent answer, given the previous violation seconds per server (updated in place). */
export function slaRows(items: readonly AgentSlaStatusItem[], units: ReadonlyMap<string, UnitOfServer>, previousViolation: Map<string, number>): SlaRow[] {
  const rows: SlaRow[] = [];
  const seen = new Set<string>();
  for (const item of items) {
    const id = item.server_id.toLowerCase();
    seen.add(id);
    const unit = units.get(id);
    const down = item.guarantee?.download ?? null;
    const violation = down?.violation_seconds ?? null;
    const before = previousViolation.get(id);
    if (violation !== null) previousViolation.set(id, violation);
    rows.push({
      server_id: id,
      name: item.server_name ?? null,
      host: item.host ?? null,
      topology_id: unit?.topologyId ?? null,
      topology: unit?.topology ?? null,
      unit: unit?.unit ?? null,
      sla_class: unit?.slaClass ?? null,
      state: item.state,
      reason: item.reason,
      download_min_bps: item.desired?.download?.min ?? null,
      download_max_bps: item.desired?.download?.max ?? null,
      upload_min_bps: item.desired?.upload?.min ?? null,
      upload_max_bps: item.desired?.upload?.max ?? null,
      download_bps: sum(item.ports.map((p) => p.observed?.download_bps)),
      upload_bps: sum(item.ports.map((p) => p.observed?.upload_bps)),
      allocated_download_bps: down?.allocated_bps ?? null,
      demand: down?.demand ?? null,
      violation_seconds: violation,
      violating: violation !== null && before !== undefined && violation > before,
    });
  }
  for (const id of previousViolation.keys()) if (!seen.has(id)) previousViolation.delete(id);
  rows.sort((a, b) => (a.name ?? a.server_id).localeCompare(b.name ?? b.server_id) || a.server_id.localeCompare(b.server_id));
  return rows;
}

export type SlaListener = (sample: SlaSample) => void;

export class SlaFeed {
  private readonly listeners = new Set<SlaListener>();
  private readonly previousViolation = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  /** Which poller is the live one: a poll of a paused poller that ends after a new one started must not keep its loop going. */
  private generation = 0;
  private inFlight: AbortController | undefined;
  private latest: SlaSample | undefined;
  private stopped = false;
  /** Samples published since start (for the dashboard's own figures). */
  published = 0;

  constructor(private readonly deps: SlaFeedDeps) {}

  /**
   * The latest sample while the poller runs (it is at most one interval old); otherwise a poll now.
   * Without subscribers nothing refreshes `latest`, so answering it would freeze `GET /v1/sla` (and
   * the observed rates of `GET /v1/hosts`) at the first sample ever taken.
   */
  async current(signal?: AbortSignal): Promise<SlaSample> {
    if (this.running && this.latest) return this.latest;
    return this.poll(signal);
  }

  /** Adds a listener (the poller starts with the first); returns the unsubscribe function. */
  subscribe(listener: SlaListener): () => void {
    this.listeners.add(listener);
    // Only a sample the running poller took: one left from before it paused may be any age.
    if (this.running && this.latest) listener(this.latest);
    if (!this.running && !this.stopped) {
      this.running = true;
      this.tick(++this.generation);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.pause();
    };
  }

  get subscribers(): number {
    return this.listeners.size;
  }

  stop(): void {
    this.stopped = true;
    this.pause();
    this.listeners.clear();
  }

  private pause(): void {
    this.running = false;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.inFlight?.abort();
  }

  /** One poll, published, then the next one `intervalMs` after this one began (not after it ended). */
  private tick(generation: number): void {
    const interval = this.deps.intervalMs ?? 1000;
    const started = Date.now();
    void this.poll().then((sample) => {
      if (!this.running || generation !== this.generation) return;
      for (const l of this.listeners) l(sample);
      this.published++;
      this.timer = setTimeout(() => {
        this.tick(generation);
      }, Math.max(0, interval - (Date.now() - started)));
    });
  }

  private async poll(signal?: AbortSignal): Promise<SlaSample> {
    const controller = new AbortController();
    this.inFlight = controller;
    const combined = signal ? AbortSignal.any([signal, controller.signal, AbortSignal.timeout(10_000)]) : AbortSignal.any([controller.signal, AbortSignal.timeout(10_000)]);
    const at = (this.deps.now?.() ?? new Date()).toISOString();
    try {
      const [items, units] = await Promise.all([this.deps.slaStatus(combined), this.deps.units()]);
      this.latest = { at, rows: slaRows(items, units, this.previousViolation), error: null };
    } catch (error) {
      // Paused mid-poll (the last watcher left): nothing to report.
      if (controller.signal.aborted && this.latest) return this.latest;
      // The previous rows stay (an operator still sees the last known state), marked with the error.
      this.latest = { at, rows: this.latest?.rows ?? [], error: `CM Agent: ${(error as Error).message}` };
    }
    return this.latest;
  }
}
