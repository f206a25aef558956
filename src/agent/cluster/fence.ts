/**
 * Fencing of a host's switch between agent replicas. Ownership (who should
 * write) is derived from the live set (ownership.ts); this decides whose
 * writes the switch accepts, whatever any replica believes.
 *
 * The host's own OVSDB keeps the epoch: `Open_vSwitch.external_ids` key
 * {@link EPOCH_KEY} = `<incarnation>@<agent id>` of the replica that claimed
 * it. A claim is a compare-and-set transaction (a `wait` on the whole map as
 * read, then the new key). Every later transaction of the claimer starts with
 * a `wait` that the map still holds its own epoch, so once another replica
 * claimed the host, a paused one (GC stall, SIGSTOP, partition) that wakes up
 * and sends what it had prepared gets "timed out" and nothing of it commits.
 * OpenFlow messages cannot carry that guard; a guard-only transaction runs
 * just before each OpenFlow batch, which leaves a window of one round trip
 * (documented in docs/agent.md).
 *
 * Incarnations come from the store's sequence, so they grow: a replica never
 * reuses an epoch, not even after a restart under the same id.
 */
import type { OvsdbClient } from '../../ovsdb/client.ts';
import { WaitTimedOutError } from '../../ovsdb/errors.ts';
import { includes, mutate, select, setMapKeys, wait, type Operation } from '../../ovsdb/operations.ts';

export const EPOCH_KEY = 'cm-agent-epoch';

export interface FenceIdentity {
  readonly agentId: string;
  readonly incarnation: number;
}

export function formatEpoch(id: FenceIdentity): string {
  return `${String(id.incarnation)}@${id.agentId}`;
}

export function parseEpoch(text: string | undefined): FenceIdentity | undefined {
  const m = text === undefined ? null : /^(\d+)@(.+)$/.exec(text);
  if (!m) return undefined;
  return { incarnation: Number(m[1]), agentId: m[2] ?? '' };
}

/** What the fence needs of the replica's membership. */
export interface FenceMembership {
  /** This replica's current identity, or undefined while it is not a live member. */
  identity(): FenceIdentity | undefined;
  /** Whether this replica's own lease is current by its local clock (it stops writing before the store lets others in). */
  writable(): boolean;
  /** Whether the store lists that incarnation of that replica as live. */
  isLive(holder: FenceIdentity): boolean;
}

export interface HostFenceOptions {
  host: string;
  membership: FenceMembership;
  /**
   * How long a replica that became the owner waits before taking a host from
   * a holder that is still live (which should have let it go on seeing the
   * same live set): a lease, so that a holder that cannot see the new set
   * has lost its own lease by then. A dead holder's host is claimed at once.
   */
  handoverMs: number;
  log?: (event: object, level?: 'info' | 'warn') => void;
  /** Monotonic milliseconds. */
  now?: () => number;
}

export interface OvsdbHandle {
  readonly client: OvsdbClient;
  readonly db: string;
  readonly ioTimeoutMs: number;
}

/** Thrown by {@link HostFence.guard} when the host is not ours to write. */
export class FencedError extends Error {
  readonly code = 'CM_ERR_FENCED';
}

export class HostFence {
  private claimed: string | undefined;
  /** Since when this replica wants the host without holding it: a live holder keeps it for `handoverMs` from then. */
  private since: number;
  private readonly now: () => number;
  private lastReason: string | undefined;
  private verify = false;

  constructor(private readonly options: HostFenceOptions) {
    this.now = options.now ?? (() => performance.now());
    this.since = this.now();
  }

  /** The epoch this replica holds on the host, if any. */
  get epoch(): string | undefined {
    return this.claimed;
  }

  /** Whether writes may be sent now (claimed with the current identity, lease current). */
  writable(): boolean {
    const id = this.options.membership.identity();
    return id !== undefined && this.claimed === formatEpoch(id) && this.options.membership.writable();
  }

  /**
   * Makes sure the host is ours to write: claims it when it is not yet.
   * Returns undefined when it is, else why not (the caller writes nothing and retries later).
   */
  async ensure(ovsdb: OvsdbHandle, signal: AbortSignal): Promise<string | undefined> {
    const { membership } = this.options;
    const id = membership.identity();
    if (id === undefined || !membership.writable()) return this.refuse("this replica's cluster lease is not current");
    const mine = formatEpoch(id);
    if (this.claimed === mine && !this.verify) return undefined;
    const call = { signal, timeoutMs: ovsdb.ioTimeoutMs };
    const [read] = await ovsdb.client.transact(ovsdb.db, [select('Open_vSwitch', [], ['external_ids'])], call);
    const row = read?.rows?.[0];
    if (!row) return this.refuse('the switch has no Open_vSwitch row');
    const ids = row.external_ids instanceof Map ? (row.external_ids as Map<string, string>) : new Map<string, string>();
    const current = ids.get(EPOCH_KEY);
    this.verify = false;
    if (current === mine) {
      this.claimed = mine;
      return undefined;
    }
    if (this.claimed !== undefined) this.lost(`another replica claimed the host: the switch holds epoch ${current ?? '(none)'}`);
    const holder = parseEpoch(current);
    if (holder && holder.agentId !== id.agentId && membership.isLive(holder)) {
      const waited = this.now() - this.since;
      if (waited < this.options.handoverMs) {
        return this.refuse(
          `held by live replica ${holder.agentId} (epoch ${String(holder.incarnation)}); taken over in ${String(Math.ceil((this.options.handoverMs - waited) / 1000))} s unless it lets go`,
        );
      }
    }
    try {
      // Compare-and-set: only if the map is still what we read (another claimer may be racing us).
      await ovsdb.client.transact(
        ovsdb.db,
        [
          wait('Open_vSwitch', [], ['external_ids'], [{ external_ids: ids }]),
          mutate('Open_vSwitch', [], setMapKeys('external_ids', { [EPOCH_KEY]: mine })),
        ],
        call,
      );
    } catch (error) {
      if (error instanceof WaitTimedOutError) return this.refuse('another replica claimed the host at the same time; re-reading');
      throw error;
    }
    this.claimed = mine;
    this.lastReason = undefined;
    this.options.log?.({ event: 'host_claimed', host: this.options.host, epoch: mine, from: current ?? null });
    return undefined;
  }

  /**
   * The operation to put first in every transaction that writes the host: it
   * fails the whole transaction unless the switch still holds our epoch.
   * @throws FencedError when we hold nothing (call {@link ensure} first).
   */
  guard(): Operation[] {
    if (!this.writable() || this.claimed === undefined) throw new FencedError(`host ${this.options.host}: not claimed by this replica (fenced)`);
    return [wait('Open_vSwitch', [includes('external_ids', new Map([[EPOCH_KEY, this.claimed]]))], [], [{}])];
  }

  /**
   * What the switch holds now (from the caller's OVSDB replica). Another epoch than ours
   * means another replica claimed the host (with a stale view of the live set, say): we
   * hold nothing any more, and take it back only by the claim rules.
   */
  observe(epochOnSwitch: string | undefined): void {
    // The replica may only lag behind our own claim: the next ensure() reads the switch itself to tell.
    if (this.claimed !== undefined && epochOnSwitch !== this.claimed) this.verify = true;
  }

  /** A guarded transaction failed its guard, or the caller learnt the host moved: claim again before writing. */
  lost(reason: string): void {
    if (this.claimed === undefined) return;
    this.options.log?.({ event: 'host_fenced', host: this.options.host, epoch: this.claimed, reason }, 'warn');
    this.claimed = undefined;
    // The holder may be live and rightly ours only by a view we have and it lacks: give it its hand-over time again.
    this.since = this.now();
  }

  private refuse(reason: string): string {
    if (reason !== this.lastReason) this.options.log?.({ event: 'host_not_writable', host: this.options.host, reason });
    this.lastReason = reason;
    return reason;
  }
}
