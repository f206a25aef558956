/**
 * Desired SLAs by server, persisted in SQLite (a file by default, `:memory:`
 * for tests) through Kysely over better-sqlite3.
 *
 * - The SLA is kept as canonical JSON text (fixed key order), so "the same SLA
 *   again" is a string comparison and `put` is idempotent: no new version, no
 *   change event.
 * - A record is (sla, host, source); `put` replaces all three. Any difference
 *   makes a new version (1, 2, 3, …) and fires the change feed.
 * - Server ids must be UUID-like; they are stored in lower case, so lookups are
 *   case-insensitive.
 * - Writes run in `BEGIN IMMEDIATE` transactions; in-process calls are
 *   serialised on the one connection. Use one store per file per process;
 *   other processes wait up to the busy timeout.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { sortedPeers, type Sla } from '../qos/sla.ts';
import { checkSla, isUuidLike } from '../qos/validate.ts';
import { StoreError } from './errors.ts';
import { migrate, MIGRATIONS, type Migration } from './migrations.ts';
import type { DesiredSlaTable, StoreDatabase } from './schema.ts';
import { immediateTransaction } from './tx.ts';

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
  /** All records, by server id. */
  list(): Promise<StoredSla[]>;
  /**
   * Calls `listener(serverId)` after each committed put/delete that changed
   * something. Returns the unsubscribe function.
   */
  onChange(listener: (serverId: string) => void): () => void;
  /** The schema version of the open file. */
  schemaVersion(): Promise<number>;
  /** Waits for calls in flight, then closes. Idempotent. */
  close(): Promise<void>;
}

export interface OpenSlaStoreOptions {
  /** A file path (parent directories are created) or `:memory:`. */
  path: string;
  /** How long a write waits for another process's lock, ms. @default 5000 */
  busyTimeoutMs?: number;
  /** Clock, for tests. */
  now?: () => Date;
  /** A change listener threw. @default process.emitWarning */
  onListenerError?: (error: unknown, serverId: string) => void;
  /** For tests of the migration runner. @default MIGRATIONS */
  migrations?: readonly Migration[];
}

const MEMORY = ':memory:';
const SOURCES: readonly string[] = ['v1', 'thesis'];

/**
 * Opens (creating if needed) the store at `options.path`, in WAL mode, and
 * runs pending migrations.
 * @throws StoreError CM_ERR_STORE_OPEN when the file cannot be created or opened or is not a
 *   valid database; CM_ERR_STORE_SCHEMA when it was written by a newer agent.
 */
export async function openSlaStore(options: OpenSlaStoreOptions): Promise<SlaStore> {
  const file = options.path;
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

function messageOf(error: unknown): string {
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

function normaliseServerId(serverId: string): string {
  if (typeof serverId !== 'string' || !isUuidLike(serverId)) {
    throw new StoreError('CM_ERR_STORE_INVALID', `not a server UUID: ${JSON.stringify(serverId)}`);
  }
  return serverId.toLowerCase();
}

class SqliteSlaStore implements SlaStore {
  private readonly listeners = new Set<(serverId: string) => void>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly now: () => Date;
  private readonly onListenerError: (error: unknown, serverId: string) => void;

  constructor(
    private readonly db: Kysely<StoreDatabase>,
    options: OpenSlaStoreOptions,
  ) {
    this.now = options.now ?? (() => new Date());
    this.onListenerError =
      options.onListenerError ??
      ((error, serverId) => {
        process.emitWarning(`SLA store change listener failed for ${serverId}: ${messageOf(error)}`, 'CmStoreWarning');
      });
  }

  get(serverId: string): Promise<StoredSla | undefined> {
    return this.run(async () => {
      const id = normaliseServerId(serverId);
      const row = await this.db.selectFrom('desired_sla').selectAll().where('server_id', '=', id).executeTakeFirst();
      return row ? fromRow(row) : undefined;
    });
  }

  list(): Promise<StoredSla[]> {
    return this.run(async () => {
      const rows = await this.db.selectFrom('desired_sla').selectAll().orderBy('server_id').execute();
      return rows.map(fromRow);
    });
  }

  put(serverId: string, sla: Sla, meta: PutMeta = { source: 'v1' }): Promise<PutResult> {
    return this.run(async () => {
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
      const json = canonicalSlaJson(sla);
      const host = meta.host ?? null;
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
        const same =
          sameJson(existing.sla_json, json) && existing.host === host && existing.source === meta.source;
        if (same) return { created: false, changed: false, version: existing.version };
        const version = existing.version + 1;
        await trx
          .updateTable('desired_sla')
          .set({ sla_json: json, host, source: meta.source, version, updated_at: now })
          .where('server_id', '=', id)
          .execute();
        return { created: false, changed: true, version };
      });
      if (result.changed) this.emit(id);
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
      if (deleted) this.emit(id);
      return deleted;
    });
  }

  onChange(listener: (serverId: string) => void): () => void {
    // A wrapper, so the same function subscribed twice is called twice and unsubscribes separately.
    const entry = (serverId: string): void => {
      listener(serverId);
    };
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
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

  private emit(serverId: string): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(serverId);
      } catch (error) {
        this.onListenerError(error, serverId);
      }
    }
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

function fromRow(row: DesiredSlaTable): StoredSla {
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
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
