/**
 * The SLA store on PostgreSQL, shared by agent replicas. The semantics are
 * those of the SQLite store (sla-store.ts): canonical JSON, idempotent put,
 * versions, lower-case ids, the same errors.
 *
 * - Writes lock the row (`SELECT … FOR UPDATE`) in a transaction. A create
 *   that races another replica's create of the same server (its
 *   `INSERT … ON CONFLICT DO NOTHING` wrote nothing) re-reads the winner's row
 *   under the lock. In-process writes to one server are queued in call order,
 *   as they are on SQLite's single connection.
 * - Change feed across replicas: every committed change NOTIFYs channel
 *   `cm_sla_changes` with the server id from inside its transaction, so the
 *   notification exists exactly when the write committed. Every store LISTENs
 *   on a dedicated connection (application_name `cm-sla-store-listen`).
 * - Own writes reach the listeners as soon as they commit (as on SQLite), and
 *   their echo from LISTEN is dropped: before COMMIT the writer records
 *   (backend pid, server id), which is exactly what the echo carries.
 * - A lost LISTEN connection is re-opened with exponential backoff; then the
 *   `onResync` listeners run, because notifications sent meanwhile are gone.
 *   Transaction-pooling proxies (pgbouncer) cannot carry LISTEN: point the
 *   store at PostgreSQL or a session-pooling proxy.
 */
import { performance } from 'node:perf_hooks';
import { Kysely, PostgresDialect, sql, type RawBuilder } from 'kysely';
import pg from 'pg';
import { isUuidLike } from '../qos/validate.ts';
import { StoreError } from './errors.ts';
import { migrate, PG_MIGRATIONS } from './migrations.ts';
import type { StoreDatabase } from './schema.ts';
import {
  checkListOptions,
  checkPut,
  fromRow,
  listenerErrorHandler,
  Listeners,
  messageOf,
  normaliseServerId,
  redactUrl,
  samePut,
  type CheckedPut,
  type ListSlaOptions,
  type PutMeta,
  type PutResult,
  type SlaStore,
  type SlaStoreUrlOptions,
  type StoredSla,
} from './sla-store.ts';
import type { Sla } from '../qos/sla.ts';

/** The NOTIFY channel of SLA changes; the payload is the lower-case server id. */
export const SLA_CHANGES_CHANNEL = 'cm_sla_changes';
/** The application_name of each store's LISTEN connection (pg_stat_activity shows it). */
export const SLA_LISTENER_APPLICATION_NAME = 'cm-sla-store-listen';
const POOL_APPLICATION_NAME = 'cm-agent-store';

/** An own write's echo normally arrives within milliseconds; one never seen is forgotten after this. */
const ECHO_TTL_MS = 30_000;
const ECHO_SWEEP_INTERVAL_MS = 5_000;
/** Creates racing deletes (other replicas) could make a put loop; they cannot keep winning this often. */
const MAX_PUT_ATTEMPTS = 5;

type Db = Kysely<StoreDatabase>;

/** @internal A Kysely pool with a way to wait until every connection is really closed. */
export interface PgPool<D = StoreDatabase> {
  readonly db: Kysely<D>;
  /** Resolves once every connection's socket is closed (pool.end() resolves before that). */
  drained(): Promise<void>;
}

/** @internal */
export function openPgPool<D = StoreDatabase>(url: string, poolSize: number, what: string, applicationName = POOL_APPLICATION_NAME): PgPool<D> {
  if (!Number.isInteger(poolSize) || poolSize < 1) {
    throw new StoreError('CM_ERR_STORE_OPEN', `${what}: poolSize must be a positive integer, got ${String(poolSize)}`);
  }
  const pool = new pg.Pool({ connectionString: url, max: poolSize, application_name: applicationName });
  let live = 0;
  let ending = false;
  let onDrained: (() => void) | undefined;
  pool.on('connect', () => {
    live += 1;
  });
  pool.on('remove', () => {
    live -= 1;
    if (live === 0) onDrained?.();
  });
  // An idle client losing its connection emits 'error' on the pool; unhandled, that kills the process.
  pool.on('error', (error) => {
    if (ending) return;
    process.emitWarning(`${what}: idle PostgreSQL connection failed: ${error.message}`, 'CmStoreWarning');
  });
  return {
    db: new Kysely<D>({ dialect: new PostgresDialect({ pool }) }),
    drained: () => {
      ending = true;
      if (live === 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        onDrained = resolve;
      });
    },
  };
}

/** @internal So that "closed" means the server saw every connection go. */
export async function closePgPool<D>(pool: PgPool<D>): Promise<void> {
  const drained = pool.drained();
  await pool.db.destroy();
  await drained;
}

/**
 * Opens the SLA store on the PostgreSQL database at `url`, migrates it and
 * starts listening for changes. Use `openSlaStore({ url })`.
 * @internal
 */
export async function openPostgresSlaStore(url: string, options: SlaStoreUrlOptions): Promise<SlaStore> {
  const backoff = {
    initialMs: options.reconnect?.initialMs ?? 100,
    maxMs: options.reconnect?.maxMs ?? 10_000,
  };
  if (!(backoff.initialMs > 0) || !(backoff.maxMs >= backoff.initialMs)) {
    throw new StoreError('CM_ERR_STORE_OPEN', 'reconnect: need 0 < initialMs <= maxMs');
  }
  const pool = openPgPool(url, options.poolSize ?? 10, 'SLA store');
  try {
    await migrate(pool.db, options.migrations ?? PG_MIGRATIONS, 'postgres');
  } catch (error) {
    await closePgPool(pool).catch(() => undefined);
    if (error instanceof StoreError && error.code === 'CM_ERR_STORE_SCHEMA') throw error;
    throw new StoreError('CM_ERR_STORE_OPEN', `cannot prepare the SLA store at ${redactUrl(url)}: ${messageOf(error)}`, {
      cause: error,
    });
  }
  const store = new PostgresSlaStore(pool, url, options, backoff);
  try {
    await store.startFeed();
  } catch (error) {
    await store.close().catch(() => undefined);
    throw new StoreError('CM_ERR_STORE_OPEN', `cannot listen for SLA changes at ${redactUrl(url)}: ${messageOf(error)}`, {
      cause: error,
    });
  }
  return store;
}

/** An own notification not yet seen back on the feed. */
interface Echo {
  /** Set once the transaction committed; until then the echo cannot exist yet. */
  committedSeq?: number;
  committedAt?: number;
}

class PostgresSlaStore implements SlaStore {
  private readonly db: Db;
  private readonly listeners: Listeners<[serverId: string]>;
  private readonly resyncListeners: Listeners<[]>;
  private readonly inFlight = new Set<Promise<unknown>>();
  /** The tail of each server's queue of in-process writes. */
  private readonly queues = new Map<string, Promise<void>>();
  /** Own notifications by `${backend pid}/${server id}`, oldest first. */
  private readonly echoes = new Map<string, Echo[]>();
  private commitSeq = 0;
  private nextEchoSweep = 0;
  private feed: pg.Client | undefined;
  private connecting: Promise<void> | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectAttempt = 0;
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly now: (() => Date) | undefined;

  constructor(
    private readonly pool: PgPool,
    private readonly url: string,
    options: SlaStoreUrlOptions,
    private readonly backoff: { initialMs: number; maxMs: number },
  ) {
    this.db = pool.db;
    this.now = options.now;
    const onError = listenerErrorHandler(options);
    this.listeners = new Listeners(onError);
    this.resyncListeners = new Listeners((error) => {
      onError(error, '');
    });
  }

  get(serverId: string): Promise<StoredSla | undefined> {
    return this.run(async () => {
      const id = normaliseServerId(serverId);
      const row = await this.db.selectFrom('desired_sla').selectAll().where('server_id', '=', id).executeTakeFirst();
      return row ? fromRow(row) : undefined;
    });
  }

  list(options: ListSlaOptions = {}): Promise<StoredSla[]> {
    return this.run(async () => {
      const hosts = checkListOptions(options);
      if (hosts?.length === 0) return [];
      const rows = await this.db
        .selectFrom('desired_sla')
        .selectAll()
        // One array parameter, however many hosts.
        .$if(hosts !== undefined, (q) => q.where(sql<boolean>`host = ANY(${hosts ?? []}::text[])`))
        // Byte order, as on SQLite, whatever collation the database was created with.
        .orderBy(sql`server_id COLLATE "C"`)
        .execute();
      return rows.map(fromRow);
    });
  }

  put(serverId: string, sla: Sla, meta: PutMeta = { source: 'v1' }): Promise<PutResult> {
    return this.run(async () => {
      const put = checkPut(serverId, sla, meta);
      return this.queued(put.id, () => this.write(put.id, (trx) => this.putRow(trx, put)));
    });
  }

  delete(serverId: string): Promise<boolean> {
    return this.run(async () => {
      const id = normaliseServerId(serverId);
      return this.queued(id, () =>
        this.write(id, async (trx) => {
          const r = await trx.deleteFrom('desired_sla').where('server_id', '=', id).executeTakeFirst();
          const deleted = r.numDeletedRows > 0n;
          return { value: deleted, changed: deleted };
        }),
      );
    });
  }

  onChange(listener: (serverId: string) => void): () => void {
    return this.listeners.add(listener);
  }

  onResync(listener: () => void): () => void {
    return this.resyncListeners.add(listener);
  }

  schemaVersion(): Promise<number> {
    return this.run(async () => {
      const row = await this.db
        .selectFrom('cm_schema_migrations')
        .select((eb) => eb.fn.max('version').as('version'))
        .executeTakeFirst();
      return row?.version ?? 0;
    });
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.listeners.clear();
      this.resyncListeners.clear();
      if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
      this.reconnectTimer = undefined;
      this.closing = (async () => {
        await Promise.allSettled([...this.inFlight]);
        await this.connecting?.catch(() => undefined);
        const feed = this.feed;
        this.feed = undefined;
        await feed?.end().catch(() => undefined);
        await closePgPool(this.pool);
      })();
    }
    return this.closing;
  }

  // ---- the change feed ---------------------------------------------------

  /** @internal Opens the LISTEN connection; openPostgresSlaStore awaits it. */
  async startFeed(): Promise<void> {
    const attempt = this.connectFeed();
    this.connecting = attempt;
    try {
      await attempt;
    } finally {
      if (this.connecting === attempt) this.connecting = undefined;
    }
  }

  private async connectFeed(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.url,
      application_name: SLA_LISTENER_APPLICATION_NAME,
      // The feed connection only ever reads: without keepalives a silently dropped link would go unnoticed.
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    });
    client.on('error', (error) => {
      this.feedLost(client, error);
    });
    client.on('end', () => {
      this.feedLost(client, undefined);
    });
    client.on('notification', (n) => {
      this.notified(n);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${SLA_CHANGES_CHANNEL}`);
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.feed = client;
  }

  private feedLost(client: pg.Client, error: Error | undefined): void {
    // 'error' and 'end' both come for one loss; a client still connecting is handled by connectFeed.
    if (client !== this.feed) return;
    this.feed = undefined;
    void client.end().catch(() => undefined);
    if (this.closed) return;
    process.emitWarning(
      `SLA store: the change feed's connection to ${redactUrl(this.url)} was lost` +
        `${error ? ` (${error.message})` : ''}; reconnecting, then signalling a resync`,
      'CmStoreWarning',
    );
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const base = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** this.reconnectAttempt);
    this.reconnectAttempt += 1;
    // Jitter, so replicas cut off together do not all come back in the same millisecond.
    const delay = base * (0.5 + Math.random() * 0.5);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.reconnect();
    }, delay);
  }

  private async reconnect(): Promise<void> {
    if (this.closed) return;
    // Echoes of writes committed before the new LISTEN cannot arrive on it.
    const lostUpTo = this.commitSeq;
    try {
      await this.startFeed();
    } catch {
      if (!this.isClosed()) this.scheduleReconnect();
      return;
    }
    if (this.isClosed() || !this.feed) return;
    this.reconnectAttempt = 0;
    this.dropEchoes((echo) => echo.committedSeq !== undefined && echo.committedSeq <= lostUpTo);
    this.resyncListeners.emit();
  }

  /** A method, not the field: TypeScript keeps a field's narrowing across awaits, close() may have run since. */
  private isClosed(): boolean {
    return this.closed;
  }

  private notified(n: pg.Notification): void {
    if (this.closed || n.channel !== SLA_CHANGES_CHANNEL) return;
    const id = n.payload;
    // Anyone may NOTIFY on the channel; only server ids are changes.
    if (id === undefined || !isUuidLike(id)) return;
    const serverId = id.toLowerCase();
    this.sweepEchoes();
    if (this.consumeEcho(n.processId, serverId)) return;
    this.listeners.emit(serverId);
  }

  private consumeEcho(pid: number, serverId: string): boolean {
    const key = `${pid}/${serverId}`;
    const list = this.echoes.get(key);
    if (!list) return false;
    list.shift();
    if (list.length === 0) this.echoes.delete(key);
    return true;
  }

  private sweepEchoes(): void {
    const now = performance.now();
    if (now < this.nextEchoSweep) return;
    this.nextEchoSweep = now + ECHO_SWEEP_INTERVAL_MS;
    // A stale record could only swallow a notification of a later backend that reused the pid.
    this.dropEchoes((echo) => echo.committedAt !== undefined && echo.committedAt + ECHO_TTL_MS < now);
  }

  private dropEchoes(drop: (echo: Echo) => boolean): void {
    for (const [key, list] of this.echoes) {
      const kept = list.filter((echo) => !drop(echo));
      if (kept.length === 0) this.echoes.delete(key);
      else if (kept.length !== list.length) this.echoes.set(key, kept);
    }
  }

  private forgetEcho(key: string, echo: Echo): void {
    const list = this.echoes.get(key);
    if (!list) return;
    const i = list.indexOf(echo);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.echoes.delete(key);
  }

  // ---- writes ------------------------------------------------------------

  /**
   * Runs `fn` in a transaction; when it changed something, NOTIFYs in the same
   * transaction and, once committed, tells this store's listeners.
   */
  private async write<T>(id: string, fn: (trx: Db) => Promise<{ value: T; changed: boolean }>): Promise<T> {
    const pending: { key: string; echo: Echo }[] = [];
    let out: { value: T; changed: boolean };
    try {
      out = await this.db.transaction().execute(async (trx) => {
        const r = await fn(trx);
        if (r.changed) {
          const { rows } = await sql<{ pid: number }>`
            SELECT pg_notify(${SLA_CHANGES_CHANNEL}, ${id}) AS notified, pg_backend_pid() AS pid`.execute(trx);
          const pid = rows[0]?.pid;
          // Recorded before COMMIT: the echo can only be sent after it, so it never arrives unrecognised.
          if (pid !== undefined) {
            const key = `${pid}/${id}`;
            const echo: Echo = {};
            const list = this.echoes.get(key);
            if (list) list.push(echo);
            else this.echoes.set(key, [echo]);
            pending.push({ key, echo });
          }
        }
        return r;
      });
    } catch (error) {
      for (const p of pending) this.forgetEcho(p.key, p.echo);
      throw error;
    }
    for (const p of pending) {
      this.commitSeq += 1;
      p.echo.committedSeq = this.commitSeq;
      p.echo.committedAt = performance.now();
    }
    if (out.changed) this.listeners.emit(id);
    return out.value;
  }

  private async putRow(trx: Db, put: CheckedPut): Promise<{ value: PutResult; changed: boolean }> {
    const at = this.timestamp();
    for (let attempt = 1; attempt <= MAX_PUT_ATTEMPTS; attempt++) {
      const existing = await trx
        .selectFrom('desired_sla')
        .select(['sla_json', 'host', 'source', 'version'])
        .where('server_id', '=', put.id)
        .forUpdate()
        .executeTakeFirst();
      if (existing) {
        if (samePut(existing, put)) return { value: { created: false, changed: false, version: existing.version }, changed: false };
        const version = existing.version + 1;
        await trx
          .updateTable('desired_sla')
          .set({ sla_json: put.json, host: put.host, source: put.source, version, updated_at: at })
          .where('server_id', '=', put.id)
          .execute();
        return { value: { created: false, changed: true, version }, changed: true };
      }
      const inserted = await trx
        .insertInto('desired_sla')
        .values({
          server_id: put.id,
          sla_json: put.json,
          host: put.host,
          source: put.source,
          version: 1,
          created_at: at,
          updated_at: at,
        })
        .onConflict((oc) => oc.column('server_id').doNothing())
        .returning('version')
        .executeTakeFirst();
      if (inserted) return { value: { created: true, changed: true, version: 1 }, changed: true };
      // Another replica created it after our SELECT. The INSERT waited for that commit, so the
      // next SELECT (a new snapshot under READ COMMITTED) sees and locks the winner's row.
    }
    throw new StoreError(
      'CM_ERR_STORE_BACKEND',
      `the SLA of ${put.id} was created and deleted by others ${MAX_PUT_ATTEMPTS} times during one put`,
    );
  }

  /** The test clock when given, else the database's: replicas' clocks may disagree, the database is one. */
  private timestamp(): string | RawBuilder<string> {
    // statement_timestamp(): one value for both columns of an insert, and taken after the row lock was granted.
    return this.now ? this.now().toISOString() : sql<string>`statement_timestamp()`;
  }

  /** Runs in-process writes to one server one after another, in call order. */
  private queued<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(id) ?? Promise.resolve();
    const result = previous.then(fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(id, tail);
    void tail.then(() => {
      if (this.queues.get(id) === tail) this.queues.delete(id);
    });
    return result;
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('CM_ERR_STORE_CLOSED', 'the SLA store is closed'));
    const p = fn().catch((error: unknown) => {
      if (error instanceof StoreError) throw error;
      throw new StoreError('CM_ERR_STORE_BACKEND', `SLA store (PostgreSQL) failed: ${messageOf(error)}`, { cause: error });
    });
    this.inFlight.add(p);
    const done = (): void => {
      this.inFlight.delete(p);
    };
    p.then(done, done);
    return p;
  }
}
