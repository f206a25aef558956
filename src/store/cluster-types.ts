/**
 * What several CM Agent replicas share through the store (PostgreSQL): who is
 * alive (membership with heartbeats), and what each host's owner last saw on
 * it (so any replica answers for every host). Ownership itself is not stored:
 * every replica derives it from the live set by rendezvous hashing
 * (ownership.ts), and the host's own OVSDB holds the fencing epoch that
 * decides which replica's writes commit (fence.ts).
 */

/** A live agent replica as the store sees it. */
export interface ClusterMember {
  /** Stable per replica (config `cluster.agent_id`, default the hostname). */
  readonly agentId: string;
  /**
   * A number issued by the store each time the replica registers, greater
   * than every earlier one (a sequence): the fencing epoch written into the
   * hosts it owns. A restarted replica gets a new one.
   */
  readonly incarnation: number;
  /** Where its API answers (for operators and the other replicas). */
  readonly url: string;
  /** Milliseconds since the epoch, by the store's clock. */
  readonly heartbeatAt: number;
  /** The heartbeat plus the replica's lease, by the store's clock. */
  readonly leaseUntil: number;
}

/** A host's enforcement summary, written by its owner, read by every replica. */
export interface HostStatusRecord {
  readonly host: string;
  readonly agentId: string;
  readonly incarnation: number;
  /** JSON-serialisable summary (port statuses, readiness); the agent defines its shape. */
  readonly status: unknown;
  /** Milliseconds since the epoch, by the store's clock. */
  readonly updatedAt: number;
}

export interface ClusterStore {
  /**
   * Registers (or re-registers) `agentId`: a new incarnation, heartbeat now,
   * lease `leaseMs`. A replica with the same id and an older incarnation is
   * replaced (its heartbeats then fail).
   */
  register(agentId: string, url: string, leaseMs: number): Promise<ClusterMember>;
  /**
   * Renews the lease of (agentId, incarnation) and returns the live members
   * (lease not yet expired by the store's clock), itself included; `ok` is
   * false (and the lease not renewed) when that incarnation is no longer the
   * registered one or its lease had already expired: the caller must stop
   * writing and register again.
   */
  heartbeat(agentId: string, incarnation: number, leaseMs: number): Promise<{ ok: boolean; members: ClusterMember[] }>;
  /** The live members, by the store's clock. */
  members(): Promise<ClusterMember[]>;
  /** Removes the registration (orderly shutdown); the others take its hosts at their next heartbeat. */
  leave(agentId: string, incarnation: number): Promise<void>;
  /**
   * Upserts host status records (one statement). Records of an incarnation that
   * is not live any more (lease expired, replaced) are dropped: a paused
   * replica cannot overwrite what its successor published.
   */
  publishHostStatus(records: readonly Omit<HostStatusRecord, 'updatedAt'>[]): Promise<void>;
  /** Host status records, all or of `hosts`. */
  hostStatuses(hosts?: readonly string[]): Promise<HostStatusRecord[]>;
  /** Records written after `sinceMs` (store clock), for replicas following each other's hosts. */
  hostStatusesSince(sinceMs: number): Promise<HostStatusRecord[]>;
  /** Deletes registrations whose lease ended more than `olderThanMs` ago; returns how many. */
  removeExpiredMembers(olderThanMs: number): Promise<number>;
  close(): Promise<void>;
}
