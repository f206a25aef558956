/**
 * Stored SLAs of servers gone from the cloud. A server deleted in Nova takes
 * its ports with it (so nothing of its SLA is enforced any more), but its
 * stored SLA stayed forever. Once a server with a stored SLA has been absent
 * from every complete inventory for longer than `sla.orphan_grace_ms`, its SLA
 * is deleted from the store (which wakes the reconcilers, as a DELETE does).
 *
 * Only successful inventory refreshes count: a failed or partial read never
 * makes a server absent (the inventory keeps the previous snapshot, marked
 * stale, and does not call {@link SlaOrphanCollector.observe}). With several
 * replicas, each tracks absences from its own reads and only the replica that
 * owns the SLA's host deletes it; the store's delete is atomic, so a second
 * deleter (a moment of disagreement about the live set) finds nothing and
 * neither logs nor counts.
 */
import type { SlaStore, StoredSla } from '../store/index.ts';
import type { InventorySnapshot } from './inventory.ts';
import { serverIndex } from './inventory/server-index.ts';

export interface OrphanCollectorOptions {
  store: Pick<SlaStore, 'get' | 'delete'>;
  /** Server ids (lower case) with a stored SLA, as this agent knows them now. */
  slaIds: () => Iterable<string>;
  /** How long a server must be absent before its SLA is removed, ms. */
  graceMs: number;
  /** With several replicas: whether this one deletes that record (it owns its host). @default always */
  mayDelete?: (record: StoredSla) => boolean;
  log: (event: object) => void;
  now?: () => number;
}

/** What the API shows of the collector (an `SlaOrphanCollector` fits). */
export interface OrphanView {
  readonly graceMs: number;
  /** Since when (ms since the epoch) a complete inventory first lacked the server; undefined when it did not (yet). */
  absentSince(serverId: string): number | undefined;
  /** Stored SLAs removed so far by this agent. */
  readonly removed: number;
}

export class SlaOrphanCollector implements OrphanView {
  readonly graceMs: number;
  readonly #absent = new Map<string, number>();
  readonly #now: () => number;
  #removed = 0;
  #running = false;

  constructor(private readonly options: OrphanCollectorOptions) {
    this.graceMs = options.graceMs;
    this.#now = options.now ?? Date.now;
  }

  get removed(): number {
    return this.#removed;
  }

  absentSince(serverId: string): number | undefined {
    return this.#absent.get(serverId.toLowerCase());
  }

  /**
   * A successful (complete) inventory: servers with an SLA that it lacks start (or go on)
   * being absent; those absent longer than the grace period lose their SLA. One run at a
   * time: a snapshot arriving while one runs is skipped (the next refresh sees the same).
   */
  async observe(snapshot: InventorySnapshot): Promise<void> {
    if (this.#running || snapshot.stale) return;
    this.#running = true;
    try {
      const now = this.#now();
      const present = serverIndex(snapshot);
      const wanted = new Set<string>();
      const due: { id: string; since: number }[] = [];
      for (const raw of this.options.slaIds()) {
        const id = raw.toLowerCase();
        wanted.add(id);
        if (present.has(id)) {
          this.#absent.delete(id);
          continue;
        }
        const since = this.#absent.get(id);
        if (since === undefined) {
          this.#absent.set(id, now);
          this.options.log({ event: 'sla_orphan_detected', serverId: id, graceS: Math.round(this.graceMs / 1000) });
        } else if (now - since >= this.graceMs) due.push({ id, since });
      }
      for (const id of [...this.#absent.keys()]) if (!wanted.has(id)) this.#absent.delete(id);
      for (const { id, since } of due) await this.#remove(id, since, now);
    } finally {
      this.#running = false;
    }
  }

  async #remove(id: string, since: number, now: number): Promise<void> {
    let record: StoredSla | undefined;
    try {
      record = await this.options.store.get(id);
      if (!record) {
        this.#absent.delete(id);
        return;
      }
      // Written after the absence began: someone saw the server meanwhile (a newer inventory elsewhere). Start over.
      if (Date.parse(record.updatedAt) > since) {
        this.#absent.set(id, now);
        return;
      }
      if (this.options.mayDelete && !this.options.mayDelete(record)) return;
      if (!(await this.options.store.delete(id))) {
        this.#absent.delete(id);
        return;
      }
    } catch (error) {
      this.options.log({ event: 'sla_orphan_remove_failed', level: 'warn', serverId: id, error: error instanceof Error ? error.message.slice(0, 300) : String(error) });
      return;
    }
    this.#absent.delete(id);
    this.#removed++;
    this.options.log({
      event: 'sla_orphan_removed',
      serverId: id,
      host: record.host ?? null,
      absentS: Math.round((now - since) / 1000),
      graceS: Math.round(this.graceMs / 1000),
      version: record.version,
    });
  }
}
