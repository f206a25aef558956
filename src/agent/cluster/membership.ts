/**
 * This replica's membership of the agent cluster: registration (which gives
 * the incarnation, the fencing epoch), heartbeats that renew the lease and
 * bring back the live set, and the ownership it implies.
 *
 * Liveness is the store's (PostgreSQL's clock decides whose lease ran out),
 * except for this replica's own right to write, which it judges by its local
 * monotonic clock from the moment it SENT its last successful heartbeat: the
 * store's lease started no earlier, so this replica stops writing before the
 * others may take its hosts, even when it cannot reach the store. A pause
 * (GC, SIGSTOP) moves the monotonic clock too, so a replica that wakes up
 * after its lease knows it before writing; what it had already sent is
 * caught by the switches' epoch guard (fence.ts).
 */
import type { ClusterMember, ClusterStore } from '../../store/index.ts';
import type { FenceIdentity, FenceMembership } from './fence.ts';
import { ownerOf } from './ownership.ts';

export interface MembershipOptions {
  store: ClusterStore;
  agentId: string;
  /** This replica's API URL, shown to operators and the other replicas. */
  url: string;
  leaseMs: number;
  heartbeatMs: number;
  log?: (event: object, level?: 'info' | 'warn') => void;
  /** Monotonic milliseconds. */
  now?: () => number;
}

export interface MembershipView {
  agentId: string;
  incarnation: number | null;
  writable: boolean;
  members: { agent_id: string; incarnation: number; url: string; lease_until: string }[];
  lastError: string | null;
}

/** Registrations whose lease ended this long ago are deleted (they are history, not members). */
const FORGET_AFTER_MS = 3_600_000;

export class ClusterMembership implements FenceMembership {
  private self: ClusterMember | undefined;
  private live: ClusterMember[] = [];
  private liveIds: string[] = [];
  private validUntil = -Infinity;
  private lastError: string | undefined;
  private timer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private beats = 0;
  private readonly listeners: (() => void)[] = [];
  /** The view (`signature()`) the listeners were last told of: not writable, no incarnation, nobody live. */
  private notified = '-0:';
  private readonly now: () => number;
  private readonly margin: number;
  private url: string;

  constructor(private readonly options: MembershipOptions) {
    if (!(options.heartbeatMs > 0 && options.leaseMs > 2 * options.heartbeatMs)) {
      throw new Error(`cluster: lease (${String(options.leaseMs)} ms) must exceed two heartbeats (${String(options.heartbeatMs)} ms)`);
    }
    this.now = options.now ?? (() => performance.now());
    this.url = options.url;
    // Clocks drift and the event loop lags; stop writing a little before the store's lease ends.
    this.margin = Math.min(1000, Math.round(options.leaseMs / 10));
  }

  /** Sets the advertised URL before {@link start} (the one bound, when none was configured). */
  setUrl(url: string): void {
    this.url = url;
  }

  get agentId(): string {
    return this.options.agentId;
  }

  /** Called when the live set or this replica's right to write changes. */
  onChange(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** Registers (retrying in the background when the store is unreachable) and starts the heartbeats. */
  async start(): Promise<void> {
    await this.beat();
  }

  identity(): FenceIdentity | undefined {
    return this.self && this.writable() ? { agentId: this.self.agentId, incarnation: this.self.incarnation } : undefined;
  }

  writable(): boolean {
    return this.self !== undefined && this.now() < this.validUntil;
  }

  isLive(holder: FenceIdentity): boolean {
    return this.live.some((m) => m.agentId === holder.agentId && m.incarnation === holder.incarnation);
  }

  /** The live replicas' ids (this one included while it is live), sorted. */
  members(): readonly string[] {
    return this.liveIds;
  }

  ownerOf(host: string): string | undefined {
    return ownerOf(host, this.liveIds);
  }

  /** Whether this replica should write `host` now. */
  owns(host: string): boolean {
    return this.writable() && ownerOf(host, this.liveIds) === this.options.agentId;
  }

  /** The URL of a live replica's API. */
  urlOf(agentId: string): string | undefined {
    return this.live.find((m) => m.agentId === agentId)?.url;
  }

  view(): MembershipView {
    return {
      agentId: this.options.agentId,
      incarnation: this.self?.incarnation ?? null,
      writable: this.writable(),
      members: this.live.map((m) => ({ agent_id: m.agentId, incarnation: m.incarnation, url: m.url, lease_until: new Date(m.leaseUntil).toISOString() })),
      lastError: this.lastError ?? null,
    };
  }

  /** Leaves the cluster: the others take this replica's hosts at their next heartbeat instead of after the lease. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of [this.timer, this.expiryTimer]) if (t) clearTimeout(t);
    const self = this.self;
    this.self = undefined;
    this.validUntil = -Infinity;
    if (self) {
      try {
        await this.options.store.leave(self.agentId, self.incarnation);
      } catch (error) {
        this.options.log?.({ event: 'cluster_leave_failed', error: (error as Error).message }, 'warn');
      }
    }
  }

  private async beat(): Promise<void> {
    if (this.stopped) return;
    const { store, agentId, leaseMs } = this.options;
    const url = this.url;
    const sentAt = this.now();
    try {
      if (this.self === undefined) {
        this.self = await store.register(agentId, url, leaseMs);
        this.options.log?.({ event: 'cluster_registered', agentId, incarnation: this.self.incarnation });
      }
      const result = await store.heartbeat(agentId, this.self.incarnation, leaseMs);
      if (result.ok) {
        this.validUntil = sentAt + leaseMs - this.margin;
        this.live = result.members;
        this.liveIds = result.members.map((m) => m.agentId).sort();
        this.lastError = undefined;
      } else {
        // Our lease ran out in the store (we were paused or cut off) or another process took our id.
        this.options.log?.({ event: 'cluster_lease_lost', agentId, incarnation: this.self.incarnation }, 'warn');
        this.self = undefined;
        this.validUntil = -Infinity;
        this.live = result.members;
        this.liveIds = result.members.map((m) => m.agentId).sort();
      }
      if (++this.beats % 100 === 0) await store.removeExpiredMembers(FORGET_AFTER_MS);
    } catch (error) {
      const message = (error as Error).message;
      if (message !== this.lastError) this.options.log?.({ event: 'cluster_heartbeat_failed', agentId, error: message }, 'warn');
      this.lastError = message;
    }
    // stop() may have run during the awaits above.
    if (this.halted()) return;
    this.scheduleExpiry();
    this.notifyIfChanged();
    // Lost the lease: register again at once rather than a heartbeat later.
    const delay = this.self === undefined && this.lastError === undefined ? 0 : this.options.heartbeatMs;
    this.timer = setTimeout(() => void this.beat(), delay);
  }

  private halted(): boolean {
    return this.stopped;
  }

  /** A change of writability without a heartbeat answer (store unreachable) must still reach the listeners. */
  private scheduleExpiry(): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    const left = this.validUntil - this.now();
    if (!Number.isFinite(left) || left <= 0) return;
    this.expiryTimer = setTimeout(() => {
      this.notifyIfChanged();
    }, left + 1);
  }

  /**
   * Tells the listeners when the view differs from the one they were last told of. Compared with
   * what was told, not with the view at the start of a heartbeat: a lease that ran out just before
   * a failing heartbeat began (its expiry timer cleared by that heartbeat) was never told.
   */
  private notifyIfChanged(): void {
    const signature = this.signature();
    if (signature === this.notified) return;
    this.notified = signature;
    for (const listener of this.listeners) listener();
  }

  private signature(): string {
    return `${this.writable() ? 'w' : '-'}${String(this.self?.incarnation ?? 0)}:${this.liveIds.join(',')}`;
  }
}
