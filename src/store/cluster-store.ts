/**
 * What agent replicas share besides the SLAs: membership (heartbeats and
 * leases) and each host's last published status, on PostgreSQL only. The
 * tables come from the SLA store's PostgreSQL migrations, so one schema
 * version covers the whole shared database.
 *
 * Every time is taken from the database's clock (`statement_timestamp()`,
 * truncated to milliseconds so the values handed out are exactly the stored
 * ones): replicas whose clocks disagree still agree on who is alive.
 * A lease is live while `lease_until > now`; once it lapsed, only a new
 * registration (a new incarnation) brings the replica back, which is how a
 * replica that was paused learns that it lost its hosts.
 */
import { sql, type Kysely } from 'kysely';
import type { ClusterMember, ClusterStore, HostStatusRecord } from './cluster-types.ts';
import { StoreError } from './errors.ts';
import { migrate, PG_MIGRATIONS, type Migration } from './migrations.ts';
import type { StoreDatabase } from './schema.ts';
import { messageOf, redactUrl } from './sla-store.ts';
import { closePgPool, openPgPool, type PgPool } from './sla-store-pg.ts';

export interface ClusterStoreOptions {
  /** `postgres://user:pass@host:port/db` or `postgresql://…`: the database the replicas share. */
  url: string;
  /** Connection pool size. @default 4 */
  poolSize?: number;
  /** For tests of the migration runner. @default PG_MIGRATIONS */
  migrations?: readonly Migration[];
}

/** The store's "now", once per statement. */
const NOW = sql`date_trunc('milliseconds', statement_timestamp())`;

/** Milliseconds since the epoch as a float8 (pg reads numeric and bigint as strings). */
function epochMs(column: string): ReturnType<typeof sql.raw> {
  return sql.raw(`round(extract(epoch FROM ${column}) * 1000)::float8`);
}

interface MemberRow {
  agent_id: string;
  /** BIGINT as text: pg does not turn it into a number by itself. */
  incarnation: string;
  url: string;
  heartbeat_ms: number;
  lease_until_ms: number;
}

interface HostStatusRow {
  host: string;
  agent_id: string;
  incarnation: string;
  status: unknown;
  updated_ms: number;
}

/**
 * Opens the cluster store on the PostgreSQL database at `options.url` and
 * runs pending migrations (the same ones as the SLA store's).
 * @throws StoreError CM_ERR_STORE_OPEN when the URL is not PostgreSQL's or the database cannot
 *   be reached or migrated; CM_ERR_STORE_SCHEMA when it was written by a newer agent.
 */
export async function openClusterStore(options: ClusterStoreOptions): Promise<ClusterStore> {
  const url: unknown = options.url;
  if (typeof url !== 'string' || !(url.startsWith('postgres://') || url.startsWith('postgresql://'))) {
    throw new StoreError(
      'CM_ERR_STORE_OPEN',
      `the cluster store needs PostgreSQL (postgres://…), not ${JSON.stringify(typeof url === 'string' ? redactUrl(url) : url)}: ` +
        'replicas can only share a database server',
    );
  }
  const pool = openPgPool(url, options.poolSize ?? 4, 'cluster store');
  try {
    await migrate(pool.db, options.migrations ?? PG_MIGRATIONS, 'postgres');
  } catch (error) {
    await closePgPool(pool).catch(() => undefined);
    if (error instanceof StoreError && error.code === 'CM_ERR_STORE_SCHEMA') throw error;
    throw new StoreError('CM_ERR_STORE_OPEN', `cannot prepare the cluster store at ${redactUrl(url)}: ${messageOf(error)}`, {
      cause: error,
    });
  }
  return new PostgresClusterStore(pool);
}

class PostgresClusterStore implements ClusterStore {
  private readonly db: Kysely<StoreDatabase>;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(private readonly pool: PgPool) {
    this.db = pool.db;
  }

  register(agentId: string, url: string, leaseMs: number): Promise<ClusterMember> {
    return this.run(async () => {
      checkAgentId(agentId);
      if (typeof url !== 'string') throw new StoreError('CM_ERR_STORE_INVALID', 'url must be a string');
      checkLease(leaseMs);
      // One statement: the new incarnation replaces the old one atomically, so the old one's
      // next heartbeat (which matches on the incarnation) fails.
      const { rows } = await sql<MemberRow>`
        INSERT INTO cm_agent_members AS m (agent_id, incarnation, url, heartbeat_at, lease_until)
        SELECT ${agentId}, nextval('cm_agent_incarnation_seq'), ${url}, t.now,
               t.now + ${leaseMs}::float8 * interval '1 millisecond'
          FROM (SELECT ${NOW} AS now) t
        ON CONFLICT (agent_id) DO UPDATE
           SET incarnation = EXCLUDED.incarnation, url = EXCLUDED.url,
               heartbeat_at = EXCLUDED.heartbeat_at, lease_until = EXCLUDED.lease_until
        RETURNING m.agent_id, m.incarnation::text AS incarnation, m.url,
                  ${epochMs('m.heartbeat_at')} AS heartbeat_ms, ${epochMs('m.lease_until')} AS lease_until_ms`.execute(
        this.db,
      );
      const row = rows[0];
      if (!row) throw new StoreError('CM_ERR_STORE_BACKEND', `registering ${agentId} wrote nothing`);
      return member(row);
    });
  }

  heartbeat(agentId: string, incarnation: number, leaseMs: number): Promise<{ ok: boolean; members: ClusterMember[] }> {
    return this.run(async () => {
      checkAgentId(agentId);
      checkIncarnation(incarnation);
      checkLease(leaseMs);
      // One statement, so the renewal and the member list are one instant of the store's clock.
      // The list reads the snapshot from before the UPDATE, hence the renewed row is taken from
      // RETURNING and the stale copy of it left out.
      const { rows } = await sql<MemberRow & { renewed: boolean }>`
        WITH t AS (SELECT ${NOW} AS now),
        renewed AS (
          UPDATE cm_agent_members m
             SET heartbeat_at = t.now, lease_until = t.now + ${leaseMs}::float8 * interval '1 millisecond'
            FROM t
           WHERE m.agent_id = ${agentId} AND m.incarnation = ${incarnation}::bigint AND m.lease_until > t.now
          RETURNING m.agent_id, m.incarnation, m.url, m.heartbeat_at, m.lease_until
        ),
        live AS (
          SELECT r.agent_id, r.incarnation, r.url, r.heartbeat_at, r.lease_until, true AS renewed FROM renewed r
          UNION ALL
          SELECT m.agent_id, m.incarnation, m.url, m.heartbeat_at, m.lease_until, false AS renewed
            FROM cm_agent_members m, t
           WHERE m.lease_until > t.now AND NOT EXISTS (SELECT 1 FROM renewed r WHERE r.agent_id = m.agent_id)
        )
        SELECT agent_id, incarnation::text AS incarnation, url,
               ${epochMs('heartbeat_at')} AS heartbeat_ms, ${epochMs('lease_until')} AS lease_until_ms, renewed
          FROM live
         ORDER BY agent_id COLLATE "C"`.execute(this.db);
      return { ok: rows.some((r) => r.renewed), members: rows.map(member) };
    });
  }

  members(): Promise<ClusterMember[]> {
    return this.run(async () => {
      const { rows } = await sql<MemberRow>`
        SELECT agent_id, incarnation::text AS incarnation, url,
               ${epochMs('heartbeat_at')} AS heartbeat_ms, ${epochMs('lease_until')} AS lease_until_ms
          FROM cm_agent_members
         WHERE lease_until > ${NOW}
         ORDER BY agent_id COLLATE "C"`.execute(this.db);
      return rows.map(member);
    });
  }

  leave(agentId: string, incarnation: number): Promise<void> {
    return this.run(async () => {
      checkAgentId(agentId);
      checkIncarnation(incarnation);
      // Only that incarnation: a replica restarted under the same id must not be removed by its predecessor.
      await sql`DELETE FROM cm_agent_members WHERE agent_id = ${agentId} AND incarnation = ${incarnation}::bigint`.execute(
        this.db,
      );
    });
  }

  publishHostStatus(records: readonly Omit<HostStatusRecord, 'updatedAt'>[]): Promise<void> {
    return this.run(async () => {
      const rows = encodeHostStatuses(records);
      if (rows.length === 0) return;
      // One statement and one parameter for any number of hosts: a JSON array unpacked by the server.
      await sql`
        INSERT INTO cm_host_status AS s (host, agent_id, incarnation, status, updated_at)
        SELECT r.host, r.agent_id, r.incarnation, COALESCE(r.status, 'null'::jsonb), t.now
          FROM jsonb_to_recordset(${`[${rows.join(',')}]`}::jsonb)
               AS r(host text, agent_id text, incarnation bigint, status jsonb),
               (SELECT ${NOW} AS now) t
         -- Fenced like the switches: a replica whose lease ran out (paused, partitioned) writes nothing.
         WHERE EXISTS (SELECT 1 FROM cm_agent_members m
                        WHERE m.agent_id = r.agent_id AND m.incarnation = r.incarnation AND m.lease_until > t.now)
        ON CONFLICT (host) DO UPDATE
           SET agent_id = EXCLUDED.agent_id, incarnation = EXCLUDED.incarnation,
               status = EXCLUDED.status, updated_at = EXCLUDED.updated_at`.execute(this.db);
    });
  }

  hostStatusesSince(sinceMs: number): Promise<HostStatusRecord[]> {
    return this.run(async () => {
      if (typeof sinceMs !== 'number' || !Number.isFinite(sinceMs)) throw new StoreError('CM_ERR_STORE_INVALID', 'sinceMs must be a finite number');
      const { rows } = await sql<HostStatusRow>`
        SELECT host, agent_id, incarnation::text AS incarnation, status, ${epochMs('updated_at')} AS updated_ms
          FROM cm_host_status
         WHERE updated_at > to_timestamp(${sinceMs / 1000}::float8)
         ORDER BY host COLLATE "C"`.execute(this.db);
      return rows.map(hostStatus);
    });
  }

  removeExpiredMembers(olderThanMs: number): Promise<number> {
    return this.run(async () => {
      checkLease(olderThanMs);
      const result = await sql`DELETE FROM cm_agent_members WHERE lease_until < ${NOW} - ${olderThanMs}::float8 * interval '1 millisecond'`.execute(this.db);
      return Number(result.numAffectedRows ?? 0);
    });
  }

  hostStatuses(hosts?: readonly string[]): Promise<HostStatusRecord[]> {
    return this.run(async () => {
      const list: unknown = hosts;
      if (list !== undefined && (!Array.isArray(list) || !list.every((h) => typeof h === 'string'))) {
        throw new StoreError('CM_ERR_STORE_INVALID', 'hosts must be an array of strings');
      }
      if (hosts?.length === 0) return [];
      const filter = hosts === undefined ? sql`true` : sql`host = ANY(${hosts}::text[])`;
      const { rows } = await sql<HostStatusRow>`
        SELECT host, agent_id, incarnation::text AS incarnation, status, ${epochMs('updated_at')} AS updated_ms
          FROM cm_host_status
         WHERE ${filter}
         ORDER BY host COLLATE "C"`.execute(this.db);
      return rows.map(hostStatus);
    });
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.closing = (async () => {
        await Promise.allSettled([...this.inFlight]);
        await closePgPool(this.pool);
      })();
    }
    return this.closing;
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('CM_ERR_STORE_CLOSED', 'the cluster store is closed'));
    const p = fn().catch((error: unknown) => {
      if (error instanceof StoreError) throw error;
      throw new StoreError('CM_ERR_STORE_BACKEND', `cluster store (PostgreSQL) failed: ${messageOf(error)}`, { cause: error });
    });
    this.inFlight.add(p);
    const done = (): void => {
      this.inFlight.delete(p);
    };
    p.then(done, done);
    return p;
  }
}

function hostStatus(r: HostStatusRow): HostStatusRecord {
  return { host: r.host, agentId: r.agent_id, incarnation: Number(r.incarnation), status: r.status, updatedAt: r.updated_ms };
}

function member(row: MemberRow): ClusterMember {
  return {
    agentId: row.agent_id,
    incarnation: Number(row.incarnation),
    url: row.url,
    heartbeatAt: row.heartbeat_ms,
    leaseUntil: row.lease_until_ms,
  };
}

function checkAgentId(agentId: unknown): void {
  if (typeof agentId !== 'string' || agentId === '') throw new StoreError('CM_ERR_STORE_INVALID', 'agentId must be a non-empty string');
}

function checkIncarnation(incarnation: unknown): void {
  if (typeof incarnation !== 'number' || !Number.isSafeInteger(incarnation) || incarnation < 1) {
    throw new StoreError('CM_ERR_STORE_INVALID', `incarnation must be a positive integer, got ${String(incarnation)}`);
  }
}

function checkLease(leaseMs: unknown): void {
  if (typeof leaseMs !== 'number' || !Number.isSafeInteger(leaseMs) || leaseMs < 1) {
    throw new StoreError('CM_ERR_STORE_INVALID', `leaseMs must be a positive integer, got ${String(leaseMs)}`);
  }
}

/**
 * The records as JSON objects for jsonb_to_recordset, one per host: the last
 * record of a host wins (one upsert cannot touch a row twice).
 * @throws StoreError CM_ERR_STORE_INVALID, before anything is written.
 */
function encodeHostStatuses(records: readonly Omit<HostStatusRecord, 'updatedAt'>[]): string[] {
  const input: unknown = records;
  if (!Array.isArray(input)) throw new StoreError('CM_ERR_STORE_INVALID', 'records must be an array');
  const byHost = new Map<string, string>();
  records.forEach((r, i) => {
    const where = `records[${i}]`;
    if (typeof r !== 'object' || typeof r.host !== 'string' || r.host === '') {
      throw new StoreError('CM_ERR_STORE_INVALID', `${where}.host must be a non-empty string`);
    }
    if (typeof r.agentId !== 'string' || r.agentId === '') {
      throw new StoreError('CM_ERR_STORE_INVALID', `${where}.agentId must be a non-empty string`);
    }
    if (!Number.isSafeInteger(r.incarnation) || r.incarnation < 1) {
      throw new StoreError('CM_ERR_STORE_INVALID', `${where}.incarnation must be a positive integer`);
    }
    // The lib types say string, but functions, symbols and undefined give undefined.
    let status: unknown;
    try {
      status = JSON.stringify(r.status);
    } catch (error) {
      throw new StoreError('CM_ERR_STORE_INVALID', `${where}.status is not JSON-serialisable: ${messageOf(error)}`, {
        cause: error,
      });
    }
    if (typeof status !== 'string') throw new StoreError('CM_ERR_STORE_INVALID', `${where}.status is not JSON-serialisable`);
    byHost.set(
      r.host,
      `{"host":${JSON.stringify(r.host)},"agent_id":${JSON.stringify(r.agentId)},"incarnation":${r.incarnation},"status":${status}}`,
    );
  });
  return [...byHost.values()];
}
