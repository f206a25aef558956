/**
 * Desired SLAs by server, persisted in SQLite (a file by default, `:memory:`
 * for tests) through Kysely over better-sqlite3, or in PostgreSQL when several
 * agent replicas share them (`url: 'postgres://…'`, see sla-store-pg.ts).
 *
 * - The SLA is kept as canonical JSON text (fixed key order), so "the same SLA
 *   again" is a string comparison and `put` is idempotent: no new version, no
 *   change event.
 * - A record is (sla, host, source); `put` replaces all three. Any difference
 *   makes a new version (1, 2, 3, …) and fires the change feed.
 * - Server ids must be UUID-like; they are stored in lower case, so lookups are
 *   case-insensitive.
 * - SQLite: writes run in `BEGIN IMMEDIATE` transactions; in-process calls
 *   are serialised on the one connection. Use one store per file per process;
 *   other processes wait up to the busy timeout. The change feed is in-process.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type Selectable } from 'kysely';
import { sortedPeers, type Sla } from '../qos/sla.ts';
import { checkSla, isUuidLike } from '../qos/validate.ts';
import { StoreError } from './errors.ts';
import { migrate, MIGRATIONS, type Migration } from './migrations.ts';
import type { DesiredSlaTable, StoreDatabase } from './schema.ts';
import { immediateTransaction } from './tx.ts';
import { parseStoreUrl } from './url.ts';

export type SlaSource = 'v1' | 'thesis';

export interface StoredSla {
  /** Lower-case server UUID. */
  serverId: string;
  sla: Sla;
  host?: string;
  source: SlaSource;
  /** 1 when created, +1 on every change. */
  version: number;
  /** ISO 8601. */
  createdAt: string;
  /** ISO 8601; the time of the last change (an idempotent put leaves it). */
  updatedAt: string;
}

export interface PutMeta {
  host?: string;
  source: SlaSource;
}

export interface PutResult {
  created: boolean;
  changed: boolean;
  version: number;
}

export interface SlaStore {
  get(serverId: string): Promise<StoredSla | undefined>;
  /** Sets the desired SLA; `meta` defaults to `{ source: 'v1' }` (no host). */
  put(serverId: string, sla: Sla, meta?: PutMeta): Promise<PutResult>;
  /** True when there was an SLA to delete. */
  delete(serverId: string): Promise<boolean>;
  /** All records (or those placed on one of `options.hosts`), by server id. */
  list(options?: ListSlaOptions): Promise<StoredSla[]>;
  /**
   * Calls `listener(serverId)` after each committed put/delete that changed
   * something. Returns the unsubscribe function. On PostgreSQL that includes
   * the changes of every other store on the same database (other replicas),
   * each once.
   */
  onChange(listener: (serverId: string) => void): () => void;
  /**
   * PostgreSQL only: calls `listener()` when the change feed's connection was
   * lost and has been re-established. Changes committed meanwhile by others
   * were not reported: re-read with `list()`. Returns the unsubscribe function.
   */
  onResync?(listener: () => void): () => void;
  /** The schema version of the open database (SQLite and PostgreSQL number theirs separately). */
  schemaVersion(): Promise<number>;
  /** Waits for calls in flight, then closes. Idempotent. */
  close(): Promise<void>;
}

export interface ListSlaOptions {
  /** Only records placed on one of these hosts (records without a host never match; an empty list matches nothing). */
  hosts?: readonly string[];
}

interface CommonSlaStoreOptions {
  /**
   * Clock of createdAt/updatedAt, for tests. @default the system clock on
   * SQLite; the database's clock on PostgreSQL (so replicas' skew does not matter)
   */
  now?: () => Date;
  /** A change (or resync, with serverId '') listener threw. @default process.emitWarning */
  onListenerError?: (error: unknown, serverId: string) => void;
  /** For tests of the migration runner. @default MIGRATIONS (SQLite), PG_MIGRATIONS (PostgreSQL) */
  migrations?: readonly Migration[];
  /** SQLite: how long a write waits for another process's lock, ms. @default 5000 */
  busyTimeoutMs?: number;
}

export interface SlaStorePathOptions extends CommonSlaStoreOptions {
  /** A file path (parent directories are created) or `:memory:`. */
  path: string;
  url?: undefined;
}

export interface SlaStoreUrlOptions extends CommonSlaStoreOptions {
  /** `postgres://user:pass@host:port/db` (or `postgresql://`), `sqlite:<file>` or `sqlite::memory:`. */
  url: string;
  path?: undefined;
  /** PostgreSQL: connection pool size (the change feed holds one more connection). @default 10 */
  poolSize?: number;
  /** PostgreSQL: backoff of the change feed's reconnects, ms. @default { initialMs: 100, maxMs: 10000 } */
  reconnect?: { initialMs?: number; maxMs?: number };
}

export type OpenSlaStoreOptions = SlaStorePathOptions | SlaStoreUrlOptions;

const MEMORY = ':memory:';
const SOURCES: readonly string[] = ['v1', 'thesis'];

/**
 * Opens (creating if needed) the store at `options.path` (SQLite, in WAL mode)
 * or `options.url` (PostgreSQL or SQLite), and runs pending migrations. On
 * PostgreSQL it also starts listening for other replicas' changes.
 * @throws StoreError CM_ERR_STORE_OPEN when the URL is not understood, or the database cannot
 *   be created, opened, reached or migrated; CM_ERR_STORE_SCHEMA when it was written by a newer
 *   agent.
 */
export async function openSlaStore(options: OpenSlaStoreOptions): Promise<SlaStore> {
  if (options.url === undefined) {
    // The types say path is a string here; a JavaScript caller may still pass neither.
    const file: unknown = options.path;
    if (typeof file !== 'string') throw new StoreError('CM_ERR_STORE_OPEN', 'the SLA store needs a path or a url');
    return openSqliteSlaStore(file, options);
  }
  const given: unknown = options.path;
  if (given !== undefined) throw new StoreError('CM_ERR_STORE_OPEN', 'give the SLA store a path or a url, not both');
  const target = parseStoreUrl(options.url, 'SLA store');
  if (target.dialect === 'sqlite') return openSqliteSlaStore(target.file, options);
  // Imported here, not at the top: it imports this module's helpers, and a static import both ways is a cycle.
  const { openPostgresSlaStore } = await import('./sla-store-pg.ts');
  return openPostgresSlaStore(options.url, options);
}

export { redactUrl } from './url.ts';

async function openSqliteSlaStore(file: string, options: CommonSlaStoreOptions): Promise<SlaStore> {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (file === '') throw new StoreError('CM_ERR_STORE_OPEN', 'the store path is empty');
  let sqlite: BetterSqlite3.Database | undefined;
  try {
    if (file !== MEMORY) mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    sqlite = new BetterSqlite3(file, { timeout: busyTimeoutMs });
    sqlite.pragma(`busy_timeout = ${String(busyTimeoutMs)}`);
    const mode: unknown = sqlite.pragma('journal_mode = WAL', { simple: true });
    if (file !== MEMORY && mode !== 'wal') throw new Error(`could not switch to WAL mode (journal_mode is ${String(mode)})`);
    sqlite.pragma('synchronous = NORMAL');
    const check: unknown = sqlite.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
  } catch (error) {
    sqlite?.close();
    throw new StoreError('CM_ERR_STORE_OPEN', `cannot open the SLA store at ${file}: ${messageOf(error)}`, { cause: error });
  }
  const db = new Kysely<StoreDatabase>({ dialect: new SqliteDialect({ database: sqlite }) });
  try {
    await migrate(db, options.migrations ?? MIGRATIONS);
  } catch (error) {
    await db.destroy();
    if (error instanceof StoreError) throw error;
    throw new StoreError('CM_ERR_STORE_OPEN', `cannot prepare the SLA store at ${file}: ${messageOf(error)}`, { cause: error });
  }
  return new SqliteSlaStore(db, options);
}

/** @internal */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The SLA as JSON with a fixed key order, peers in server id order, absent fields (and no peers) left out. */
export function canonicalSlaJson(sla: Sla): string {
  const out: Sla = {};
  if (sla.download) {
    const d = sla.download;
    out.download = {
      ...(d.minRate === undefined ? {} : { minRate: d.minRate }),
      maxRate: d.maxRate,
      ...(d.burst === undefined ? {} : { burst: d.burst }),
    };
  }
  if (sla.upload) {
    const u = sla.upload;
    out.upload = {
      ...(u.minRate === undefined ? {} : { minRate: u.minRate }),
      maxRate: u.maxRate,
      ...(u.burst === undefined ? {} : { burst: u.burst }),
    };
  }
  // The same peers in another order are the same SLA: no new version, no reconciler pass.
  const peers = sortedPeers(sla.peers ?? []);
  if (peers.length > 0) out.peers = peers;
  return JSON.stringify(out);
}

/** @internal */
export function normaliseServerId(serverId: string): string {
  if (typeof serverId !== 'string' || !isUuidLike(serverId)) {
    throw new StoreError('CM_ERR_STORE_INVALID', `not a server UUID: ${JSON.stringify(serverId)}`);
  }
  return serverId.toLowerCase();
}

/** @internal A put's input, checked: what both dialects write. */
export interface CheckedPut {
  id: string;
  json: string;
  host: string | null;
  source: SlaSource;
}

/** @internal @throws StoreError CM_ERR_STORE_INVALID */
export function checkPut(serverId: string, sla: Sla, meta: PutMeta): CheckedPut {
  const id = normaliseServerId(serverId);
  const problems = checkSla(sla, { serverId: id });
  if (problems.length > 0) {
    const text = problems.map((p) => `${p.pointer || '/'}: ${p.message}`).join('; ');
    throw new StoreError('CM_ERR_STORE_INVALID', `invalid SLA for ${id}: ${text}`);
  }
  if (!SOURCES.includes(meta.source)) {
    throw new StoreError('CM_ERR_STORE_INVALID', `unknown source ${JSON.stringify(meta.source)}`);
  }
  if (meta.host?.trim() === '') throw new StoreError('CM_ERR_STORE_INVALID', 'host must not be empty');
  return { id, json: canonicalSlaJson(sla), host: meta.host ?? null, source: meta.source };
}

/** @internal Whether a stored row already holds exactly this put. */
export function samePut(existing: Pick<DesiredSlaTable, 'sla_json' | 'host' | 'source'>, put: CheckedPut): boolean {
  return sameJson(existing.sla_json, put.json) && existing.host === put.host && existing.source === put.source;
}

/** @internal @returns undefined when every record matches. */
export function checkListOptions(options: ListSlaOptions): string[] | undefined {
  const hosts: unknown = options.hosts;
  if (hosts === undefined) return undefined;
  if (!Array.isArray(hosts) || !hosts.every((h) => typeof h === 'string')) {
    throw new StoreError('CM_ERR_STORE_INVALID', 'hosts must be an array of strings');
  }
  return hosts;
}

/** @internal The listener sets of a store: the same function subscribed twice is called twice. */
export class Listeners<A extends unknown[]> {
  private readonly entries = new Set<(...args: A) => void>();

  constructor(private readonly onError: (error: unknown, ...args: A) => void) {}

  add(listener: (...args: A) => void): () => void {
    // A wrapper, so the same function subscribed twice is called twice and unsubscribes separately.
    const entry = (...args: A): void => {
      listener(...args);
    };
    this.entries.add(entry);
    return () => {
      this.entries.delete(entry);
    };
  }

  emit(...args: A): void {
    for (const listener of [...this.entries]) {
      try {
        listener(...args);
      } catch (error) {
        this.onError(error, ...args);
      }
    }
  }

  clear(): void {
    this.entries.clear();
  }
}

/** @internal */
export function listenerErrorHandler(options: CommonSlaStoreOptions): (error: unknown, serverId: string) => void {
  return (
    options.onListenerError ??
    ((error, serverId) => {
      const what = serverId === '' ? 'resync listener failed' : `change listener failed for ${serverId}`;
      process.emitWarning(`SLA store ${what}: ${messageOf(error)}`, 'CmStoreWarning');
    })
  );
}

class SqliteSlaStore implements SlaStore {
  private readonly listeners: Listeners<[serverId: string]>;
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly now: () => Date;

  constructor(
    private readonly db: Kysely<StoreDatabase>,
    options: CommonSlaStoreOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.listeners = new Listeners(listenerErrorHandler(options));
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
        .$if(hosts !== undefined, (q) => q.where('host', 'in', hosts ?? []))
        .orderBy('server_id')
        .execute();
      return rows.map(fromRow);
    });
  }

  put(serverId: string, sla: Sla, meta: PutMeta = { source: 'v1' }): Promise<PutResult> {
    return this.run(async () => {
      const put = checkPut(serverId, sla, meta);
      const { id, json, host } = put;
      const result = await immediateTransaction(this.db, async (trx) => {
        const existing = await trx.selectFrom('desired_sla').selectAll().where('server_id', '=', id).executeTakeFirst();
        const now = this.now().toISOString();
        if (!existing) {
          await trx
            .insertInto('desired_sla')
            .values({ server_id: id, sla_json: json, host, source: meta.source, version: 1, created_at: now, updated_at: now })
            .execute();
          return { created: true, changed: true, version: 1 };
        }
        if (samePut(existing, put)) return { created: false, changed: false, version: existing.version };
        const version = existing.version + 1;
        await trx
          .updateTable('desired_sla')
          .set({ sla_json: json, host, source: meta.source, version, updated_at: now })
          .where('server_id', '=', id)
          .execute();
        return { created: false, changed: true, version };
      });
      if (result.changed) this.listeners.emit(id);
      return result;
    });
  }

  delete(serverId: string): Promise<boolean> {
    return this.run(async () => {
      const id = normaliseServerId(serverId);
      const deleted = await immediateTransaction(this.db, async (trx) => {
        const r = await trx.deleteFrom('desired_sla').where('server_id', '=', id).executeTakeFirst();
        return r.numDeletedRows > 0n;
      });
      if (deleted) this.listeners.emit(id);
      return deleted;
    });
  }

  onChange(listener: (serverId: string) => void): () => void {
    return this.listeners.add(listener);
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
      this.closing = (async () => {
        await Promise.allSettled([...this.inFlight]);
        await this.db.destroy();
      })();
    }
    return this.closing;
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('CM_ERR_STORE_CLOSED', 'the SLA store is closed'));
    const p = fn();
    this.inFlight.add(p);
    const done = (): void => {
      this.inFlight.delete(p);
    };
    p.then(done, done);
    return p;
  }
}

function sameJson(stored: string, canonical: string): boolean {
  if (stored === canonical) return true;
  try {
    return canonicalSlaJson(JSON.parse(stored) as Sla) === canonical;
  } catch {
    return false;
  }
}

/** @internal */
export function fromRow(row: Selectable<DesiredSlaTable>): StoredSla {
  let sla: unknown;
  try {
    sla = JSON.parse(row.sla_json);
  } catch (error) {
    throw new StoreError('CM_ERR_STORE_CORRUPT', `stored SLA of ${row.server_id} is not JSON`, { cause: error });
  }
  const problems = checkSla(sla, { serverId: row.server_id });
  if (problems.length > 0) {
    throw new StoreError(
      'CM_ERR_STORE_CORRUPT',
      `stored SLA of ${row.server_id} is invalid: ${problems.map((p) => `${p.pointer || '/'}: ${p.message}`).join('; ')}`,
    );
  }
  return {
    serverId: row.server_id,
    sla: sla as Sla,
    ...(row.host === null ? {} : { host: row.host }),
    source: row.source,
    version: row.version,
    createdAt: isoOf(row.created_at),
    updatedAt: isoOf(row.updated_at),
  };
}

/** pg reads TIMESTAMPTZ as a Date; SQLite keeps the ISO text it was given. */
function isoOf(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : value;
}
