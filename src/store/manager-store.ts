/**
 * The Connectivity Manager's persistent state: topologies, the history of
 * their state transitions, the leases that let a manager resume the work
 * of one that crashed, and the service types added to its catalog through
 * the API (with a revision counter, so managers sharing the database notice
 * each other's changes with one small read). SQLite (better-sqlite3) by default, PostgreSQL when
 * the URL says so; both through Kysely, with the schema in
 * manager-migrations.ts.
 *
 * Concurrency model:
 * - `version` is an optimistic-concurrency counter of the topology's content:
 *   every update and transition bumps it; `updateTopology` writes only when the
 *   caller's `expectedVersion` is still current.
 * - State changes go through `transition` only, which checks the current state
 *   against the allowed `from` states and appends the explaining event in the
 *   same transaction, so the history never disagrees with the row.
 * - Leases (owner + expiry) are deliberately outside `version`: a worker
 *   renewing its lease must not make the API's concurrent edits conflict.
 * - SQLite writes run in `BEGIN IMMEDIATE` transactions (one writer at a time,
 *   across processes too); PostgreSQL ones lock the topology row
 *   (`SELECT … FOR UPDATE`), so racing writers serialise per topology.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, type ExpressionBuilder, type Selectable } from 'kysely';
import { isUuidLike } from '../qos/validate.ts';
import { StoreConflictError, StoreError, StoreTransitionError } from './errors.ts';
import {
  MANAGER_MIGRATIONS,
  TOPOLOGY_STATES,
  migrateManager,
  type ManagerDatabase,
  type ManagerDialect,
  type ManagerMigration,
  type ServiceTypesTable,
  type TopologiesTable,
  type TopologyEventsTable,
} from './manager-migrations.ts';
import { openPgPool, type PgPool } from './sla-store-pg.ts';
import { immediateTransaction } from './tx.ts';
import { parseStoreUrl, redactUrl } from './url.ts';

export { TOPOLOGY_STATES } from './manager-migrations.ts';

export type TopologyState = (typeof TOPOLOGY_STATES)[number];

/** States a topology stays in until someone acts on it: never claimed for resuming. */
export const TERMINAL_STATES: readonly TopologyState[] = ['ACTIVE', 'FAILED', 'DELETED'];

/**
 * States with work in flight that a manager must pick up after a crash.
 * PLANNED is resumable too, but only once deploy was requested (`deployRequestedAt`).
 */
export const RESUMABLE_STATES: readonly TopologyState[] = ['DEPLOYING', 'DEPLOYED', 'ENFORCING', 'DELETING'];

export interface TopologyUnit {
  name: string;
  /** The service instance the unit belongs to (null when unknown). */
  serviceInstance?: string | null;
  /** Where it runs. */
  host: string | null;
  serverId: string | null;
  ports: unknown[];
  slaClass: string | null;
  slaState: string | null;
}

export interface TopologyError {
  code: string;
  message: string;
  details?: unknown;
}

export interface TopologyLease {
  owner: string;
  /** ISO 8601. */
  until: string;
}

export interface Topology {
  /** Lower-case UUID. */
  id: string;
  name: string;
  projectId: string;
  state: TopologyState;
  strategy: string;
  /** The submitted topology document and options, as given. */
  request: unknown;
  /** null until planned. */
  plan: unknown;
  stackName: string;
  stackId: string | null;
  units: TopologyUnit[];
  error: TopologyError | null;
  /** How many times it was (re-)planned or deployed. */
  attempts: number;
  idempotencyKey: string | null;
  /** Set when a PLANNED topology was accepted for deploy: from then on it is resumable. */
  deployRequestedAt: string | null;
  lease: TopologyLease | null;
  createdAt: string;
  updatedAt: string;
  /** 1 when created, +1 on every update or transition (not on lease changes). */
  version: number;
}

export interface NewTopology {
  /** A UUID; generated when absent. */
  id?: string;
  name: string;
  projectId: string;
  strategy: string;
  request: unknown;
  stackName: string;
  /** @default 'PLANNED' */
  state?: TopologyState;
  plan?: unknown;
  stackId?: string | null;
  /** @default [] */
  units?: TopologyUnit[];
  /** When set, a second create with the same key in the same project returns the first record. */
  idempotencyKey?: string | null;
  deployRequestedAt?: string | null;
  /** The message of the creation event. @default 'created' */
  message?: string;
}

/** The content fields an update may change; `state` changes only through `transition`. */
export interface TopologyPatch {
  name?: string;
  strategy?: string;
  request?: unknown;
  plan?: unknown;
  stackName?: string;
  stackId?: string | null;
  units?: TopologyUnit[];
  error?: TopologyError | null;
  attempts?: number;
  deployRequestedAt?: string | null;
}

export interface CreateResult {
  topology: Topology;
  /** false when an existing record with the same idempotency key was returned (nothing written). */
  created: boolean;
}

export interface ListTopologiesOptions {
  projectId?: string;
  /** Only these states (an empty list matches nothing). */
  states?: readonly TopologyState[];
  /** Page size, 1‥1000. @default 100 */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
}

export interface TopologyPage {
  /** Oldest first (by creation time, then id). */
  items: Topology[];
  /** null on the last page. */
  nextCursor: string | null;
}

export interface TransitionRequest {
  /** The states the topology may be in now; anything else fails with CM_ERR_STORE_TRANSITION. */
  from: readonly TopologyState[];
  to: TopologyState;
  /** Why: goes into the event history. */
  message: string;
  /** Content changes written in the same transaction. */
  patch?: TopologyPatch;
  /** Structured context for the event (JSON). */
  details?: unknown;
  /** Also require this version (optimistic concurrency), else CM_ERR_STORE_CONFLICT. */
  expectedVersion?: number;
}

export interface TopologyEvent {
  topologyId: string;
  /** 1, 2, 3, … per topology; 1 is the creation. */
  seq: number;
  at: string;
  /** The state entered (for the creation event, the initial state). */
  state: TopologyState;
  /** null for the creation event. */
  fromState: TopologyState | null;
  message: string;
  details: unknown;
}

/** A service type of the catalog added through the manager's API. */
export interface StoredServiceType {
  serviceType: string;
  /** The document's JSON text, exactly as written. */
  document: string;
  /** 1 when added, +1 on every replacement with a different document. */
  version: number;
  createdAt: string;
  updatedAt: string;
}

export interface ServiceCatalogSnapshot {
  /** The catalog revision the items are at least as new as (read before them). */
  revision: number;
  /** By service type. */
  items: StoredServiceType[];
}

export interface PutServiceTypeResult {
  serviceType: StoredServiceType;
  /** true when there was none of that name. */
  created: boolean;
  /** false when the stored document was already this one: nothing was written. */
  changed: boolean;
}

export interface ServiceTypeWriteOptions {
  /** Refuse to add an entry when this many are stored (CM_ERR_STORE_LIMIT); replacing one is always allowed. */
  maxEntries?: number;
}

export interface ClaimOptions {
  /** Claim at most this many. @default unlimited */
  limit?: number;
}

export interface ManagerStore {
  readonly dialect: ManagerDialect;
  /** Applies pending migrations; returns their ids (empty when current). Run by `openManagerStore` already. */
  migrate(): Promise<number[]>;
  /**
   * Inserts a topology (with its creation event). With an idempotency key that
   * the project already used, returns that record instead (`created: false`).
   * @throws StoreConflictError when the given id exists; StoreError CM_ERR_STORE_INVALID on bad input.
   */
  createTopology(rec: NewTopology): Promise<CreateResult>;
  getTopology(id: string): Promise<Topology | undefined>;
  listTopologies(options?: ListTopologiesOptions): Promise<TopologyPage>;
  /** How many topologies are in each state (every state present, 0 when none). One query. */
  countByState(): Promise<Record<TopologyState, number>>;
  /**
   * Writes `patch` if the record is still at `expectedVersion`.
   * @throws StoreConflictError (CM_ERR_STORE_CONFLICT) when the version moved; CM_ERR_STORE_NOT_FOUND.
   */
  updateTopology(id: string, patch: TopologyPatch, options: { expectedVersion: number }): Promise<Topology>;
  /**
   * Moves the topology to `to` (with `patch`) and appends the event, in one
   * transaction. Entering a terminal state drops the lease.
   * @throws StoreTransitionError (CM_ERR_STORE_TRANSITION) when the state is not in `from`;
   *   StoreConflictError when `expectedVersion` is given and moved; CM_ERR_STORE_NOT_FOUND.
   */
  transition(id: string, request: TransitionRequest): Promise<Topology>;
  /** The history, oldest first; empty for an unknown id. */
  events(id: string): Promise<TopologyEvent[]>;
  /**
   * Atomically leases to `ownerId`, until `now + leaseMs`, every in-flight
   * topology (see RESUMABLE_STATES) whose lease expired or that `ownerId`
   * already holds, and returns them (least recently updated first).
   */
  claimResumable(ownerId: string, now: Date, leaseMs: number, options?: ClaimOptions): Promise<Topology[]>;
  /** Extends the lease if `ownerId` still holds it; false when it was lost. */
  renewLease(id: string, ownerId: string, now: Date, leaseMs: number): Promise<boolean>;
  /** Drops the lease if `ownerId` holds it; false otherwise. */
  releaseLease(id: string, ownerId: string): Promise<boolean>;
  /** The service catalog's revision: +1 on every add, replacement and delete. One small read. */
  serviceCatalogRevision(): Promise<number>;
  /** Every stored service type, by name, with the revision read just before them. */
  listServiceTypes(): Promise<ServiceCatalogSnapshot>;
  getServiceType(serviceType: string): Promise<StoredServiceType | undefined>;
  /**
   * Adds a service type.
   * @throws StoreConflictError when one of that name is stored; StoreError CM_ERR_STORE_LIMIT when `maxEntries` are.
   */
  createServiceType(serviceType: string, document: string, options?: ServiceTypeWriteOptions): Promise<StoredServiceType>;
  /**
   * Adds or replaces a service type; the same document again writes nothing (idempotent).
   * @throws StoreError CM_ERR_STORE_LIMIT when it is new and `maxEntries` are stored.
   */
  putServiceType(serviceType: string, document: string, options?: ServiceTypeWriteOptions): Promise<PutServiceTypeResult>;
  /** false when there was none of that name. */
  deleteServiceType(serviceType: string): Promise<boolean>;
  /** Waits for calls in flight, then closes. Idempotent. */
  close(): Promise<void>;
}

export interface ManagerStoreConfig {
  /** `sqlite:/path/file.db`, `sqlite::memory:`, `postgres://user:pass@host:port/db` or `postgresql://…`. */
  url: string;
  /** Clock for created/updated/event times, for tests. */
  now?: () => Date;
  /** SQLite: how long a write waits for another process's lock, ms. @default 5000 */
  busyTimeoutMs?: number;
  /** PostgreSQL: connection pool size. @default 10 */
  poolSize?: number;
  /** For tests of the migration runner. @default MANAGER_MIGRATIONS */
  migrations?: readonly ManagerMigration[];
}

const DEFAULT_PAGE = 100;
const MAX_PAGE = 1000;
const MEMORY = ':memory:';

/**
 * Opens the store named by `config.url` and runs pending migrations.
 * @throws StoreError CM_ERR_STORE_OPEN when the URL is not understood or the database cannot be
 *   opened or migrated; CM_ERR_STORE_SCHEMA when it was written by a newer manager.
 */
export async function openManagerStore(config: ManagerStoreConfig): Promise<ManagerStore> {
  const target = parseStoreUrl(config.url, 'manager store');
  let opened: { db: Kysely<ManagerDatabase>; drained: (() => Promise<void>) | undefined };
  if (target.dialect === 'sqlite') opened = { db: openSqlite(target.file, config), drained: undefined };
  else {
    const pool = openPostgres(config.url, config);
    opened = { db: pool.db, drained: () => pool.drained() };
  }
  const store = new KyselyManagerStore(opened.db, target.dialect, config, opened.drained);
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => undefined);
    if (error instanceof StoreError && error.code === 'CM_ERR_STORE_SCHEMA') throw error;
    throw new StoreError(
      'CM_ERR_STORE_OPEN',
      `cannot prepare the manager store at ${redactUrl(config.url)}: ${messageOf(errorCause(error))}`,
      { cause: errorCause(error) },
    );
  }
  return store;
}

function openSqlite(file: string, config: ManagerStoreConfig): Kysely<ManagerDatabase> {
  const busyTimeoutMs = config.busyTimeoutMs ?? 5000;
  let sqlite: BetterSqlite3.Database | undefined;
  try {
    if (file !== MEMORY) mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    sqlite = new BetterSqlite3(file, { timeout: busyTimeoutMs });
    sqlite.pragma(`busy_timeout = ${String(busyTimeoutMs)}`);
    const mode: unknown = sqlite.pragma('journal_mode = WAL', { simple: true });
    if (file !== MEMORY && mode !== 'wal') throw new Error(`could not switch to WAL mode (journal_mode is ${String(mode)})`);
    sqlite.pragma('synchronous = NORMAL');
    // Off by default in SQLite; the event history references its topology.
    sqlite.pragma('foreign_keys = ON');
    const check: unknown = sqlite.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw new Error(`integrity check failed: ${String(check)}`);
  } catch (error) {
    sqlite?.close();
    throw new StoreError('CM_ERR_STORE_OPEN', `cannot open the manager store at ${file}: ${messageOf(error)}`, {
      cause: error,
    });
  }
  return new Kysely<ManagerDatabase>({ dialect: new SqliteDialect({ database: sqlite }) });
}

function openPostgres(url: string, config: ManagerStoreConfig): PgPool<ManagerDatabase> {
  return openPgPool<ManagerDatabase>(url, config.poolSize ?? 10, 'manager store', 'cm-manager');
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** run() wraps driver errors as CM_ERR_STORE_BACKEND; for open errors the driver's own is more useful. */
function errorCause(error: unknown): unknown {
  return error instanceof StoreError && error.code === 'CM_ERR_STORE_BACKEND' ? error.cause : error;
}

/** PostgreSQL 23505, or SQLite's UNIQUE / PRIMARY KEY constraint codes. */
function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false;
  const code = error.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE';
}

type Row = Selectable<TopologiesTable>;
type EventRow = Selectable<TopologyEventsTable>;
type ServiceTypeRow = Selectable<ServiceTypesTable>;
type Db = Kysely<ManagerDatabase>;
type Eb = ExpressionBuilder<ManagerDatabase, 'topologies'>;

class KyselyManagerStore implements ManagerStore {
  private readonly inFlight = new Set<Promise<unknown>>();
  private closed = false;
  private closing: Promise<void> | undefined;
  private readonly now: () => Date;
  private readonly migrations: readonly ManagerMigration[];

  constructor(
    private readonly db: Db,
    readonly dialect: ManagerDialect,
    config: ManagerStoreConfig,
    private readonly drained: (() => Promise<void>) | undefined,
  ) {
    this.now = config.now ?? (() => new Date());
    this.migrations = config.migrations ?? MANAGER_MIGRATIONS;
  }

  migrate(): Promise<number[]> {
    return this.run(() => migrateManager(this.db, this.dialect, (fn) => this.tx(fn), this.migrations));
  }

  createTopology(rec: NewTopology): Promise<CreateResult> {
    return this.run(async () => {
      const values = this.newRow(rec);
      return this.tx(async (trx) => {
        const key = values.idempotency_key;
        if (key !== null) {
          const existing = await this.findByKey(trx, values.project_id, key);
          if (existing) return { topology: existing, created: false };
        }
        let inserted: Row | undefined;
        try {
          inserted = await trx
            .insertInto('topologies')
            .values(values)
            // Two creates with one key racing: the loser inserts nothing and returns the winner's row below.
            .onConflict((oc) => oc.columns(['project_id', 'idempotency_key']).where('idempotency_key', 'is not', null).doNothing())
            .returningAll()
            .executeTakeFirst();
        } catch (error) {
          if (isUniqueViolation(error)) {
            throw new StoreConflictError(`a topology with id ${values.id} already exists`, { cause: error });
          }
          throw error;
        }
        if (!inserted) {
          const existing = key === null ? undefined : await this.findByKey(trx, values.project_id, key);
          if (!existing) throw new StoreError('CM_ERR_STORE_BACKEND', `insert of topology ${values.id} wrote nothing`);
          return { topology: existing, created: false };
        }
        await trx
          .insertInto('topology_events')
          .values({
            topology_id: values.id,
            seq: 1,
            at: values.created_at,
            state: values.state,
            from_state: null,
            message: rec.message ?? 'created',
            details: null,
          })
          .execute();
        return { topology: this.decode(inserted), created: true };
      });
    });
  }

  getTopology(id: string): Promise<Topology | undefined> {
    return this.run(async () => {
      const key = normaliseId(id);
      if (key === undefined) return undefined;
      const row = await this.db.selectFrom('topologies').selectAll().where('id', '=', key).executeTakeFirst();
      return row ? this.decode(row) : undefined;
    });
  }

  listTopologies(options: ListTopologiesOptions = {}): Promise<TopologyPage> {
    return this.run(async () => {
      const limit = options.limit ?? DEFAULT_PAGE;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE) {
        throw new StoreError('CM_ERR_STORE_INVALID', `limit must be an integer 1‥${MAX_PAGE}, got ${String(limit)}`);
      }
      const states = options.states;
      if (states) for (const s of states) checkState(s, 'states');
      if (states?.length === 0) return { items: [], nextCursor: null };
      const after = options.cursor == null ? undefined : decodeCursor(options.cursor);
      const rows = await this.db
        .selectFrom('topologies')
        .selectAll()
        .$if(options.projectId !== undefined, (q) => q.where('project_id', '=', options.projectId ?? ''))
        .$if(states !== undefined, (q) => q.where('state', 'in', states ?? []))
        .$if(after !== undefined, (q) =>
          q.where((eb) => {
            const [at, id] = after ?? ['', ''];
            return eb.or([eb('created_at', '>', at), eb.and([eb('created_at', '=', at), eb('id', '>', id)])]);
          }),
        )
        .orderBy('created_at')
        .orderBy('id')
        .limit(limit + 1)
        .execute();
      const items = rows.slice(0, limit).map((r) => this.decode(r));
      const last = items.at(-1);
      return { items, nextCursor: rows.length > limit && last ? encodeCursor(last.createdAt, last.id) : null };
    });
  }

  countByState(): Promise<Record<TopologyState, number>> {
    return this.run(async () => {
      const rows = await this.db.selectFrom('topologies').select(['state', (eb) => eb.fn.countAll<number | string | bigint>().as('n')]).groupBy('state').execute();
      const out = Object.fromEntries(TOPOLOGY_STATES.map((st) => [st, 0])) as Record<TopologyState, number>;
      // PostgreSQL returns count(*) as a string (bigint); SQLite as a number.
      for (const r of rows) out[r.state as TopologyState] = Number(r.n);
      return out;
    });
  }

  updateTopology(id: string, patch: TopologyPatch, options: { expectedVersion: number }): Promise<Topology> {
    return this.run(async () => {
      const key = normaliseId(id);
      const expected = options.expectedVersion;
      if (!Number.isInteger(expected) || expected < 1) {
        throw new StoreError('CM_ERR_STORE_INVALID', `expectedVersion must be a positive integer, got ${String(expected)}`);
      }
      const columns = patchColumns(patch);
      if (key === undefined) throw notFound(id);
      return this.tx(async (trx) => {
        const updated = await trx
          .updateTable('topologies')
          .set({ ...columns, updated_at: this.now().toISOString(), version: expected + 1 })
          .where('id', '=', key)
          .where('version', '=', expected)
          .returningAll()
          .executeTakeFirst();
        if (updated) return this.decode(updated);
        const current = await trx.selectFrom('topologies').select('version').where('id', '=', key).executeTakeFirst();
        if (!current) throw notFound(key);
        throw new StoreConflictError(`topology ${key} is at version ${current.version}, not ${expected}`, {
          expectedVersion: expected,
          actualVersion: current.version,
        });
      });
    });
  }

  transition(id: string, request: TransitionRequest): Promise<Topology> {
    return this.run(async () => {
      const key = normaliseId(id);
      if (!Array.isArray(request.from) || request.from.length === 0) {
        throw new StoreError('CM_ERR_STORE_INVALID', 'transition needs at least one from-state');
      }
      for (const s of request.from) checkState(s, 'from');
      checkState(request.to, 'to');
      if (typeof request.message !== 'string' || request.message === '') {
        throw new StoreError('CM_ERR_STORE_INVALID', 'a transition needs a message');
      }
      const { expectedVersion } = request;
      if (expectedVersion !== undefined && (!Number.isInteger(expectedVersion) || expectedVersion < 1)) {
        throw new StoreError('CM_ERR_STORE_INVALID', `expectedVersion must be a positive integer, got ${String(expectedVersion)}`);
      }
      const columns = patchColumns(request.patch ?? {});
      const details = request.details === undefined ? null : encodeJson(request.details, 'details');
      if (key === undefined) throw notFound(id);
      return this.tx(async (trx) => {
        const row = await trx
          .selectFrom('topologies')
          .selectAll()
          .where('id', '=', key)
          // SQLite's BEGIN IMMEDIATE already excludes other writers; PostgreSQL needs the row lock.
          .$if(this.dialect === 'postgres', (q) => q.forUpdate())
          .executeTakeFirst();
        if (!row) throw notFound(key);
        if (expectedVersion !== undefined && row.version !== expectedVersion) {
          throw new StoreConflictError(`topology ${key} is at version ${row.version}, not ${expectedVersion}`, {
            expectedVersion,
            actualVersion: row.version,
          });
        }
        const current = row.state as TopologyState;
        if (!request.from.includes(current)) throw new StoreTransitionError(key, current, request.from, request.to);
        const at = this.now().toISOString();
        const terminal = TERMINAL_STATES.includes(request.to);
        const updated = await trx
          .updateTable('topologies')
          .set({
            ...columns,
            state: request.to,
            updated_at: at,
            version: row.version + 1,
            // Nobody resumes a terminal topology, so a lease on it would only mislead.
            ...(terminal ? { lease_owner: null, lease_until: null } : {}),
          })
          .where('id', '=', key)
          .where('version', '=', row.version)
          .returningAll()
          .executeTakeFirst();
        if (!updated) throw new StoreConflictError(`topology ${key} changed during the transition`, { expectedVersion: row.version });
        // The row lock (or SQLite's write lock) held since the select makes max+1 race-free.
        const last = await trx
          .selectFrom('topology_events')
          .select((eb) => eb.fn.max('seq').as('seq'))
          .where('topology_id', '=', key)
          .executeTakeFirst();
        await trx
          .insertInto('topology_events')
          .values({
            topology_id: key,
            seq: (last?.seq ?? 0) + 1,
            at,
            state: request.to,
            from_state: current,
            message: request.message,
            details,
          })
          .execute();
        return this.decode(updated);
      });
    });
  }

  events(id: string): Promise<TopologyEvent[]> {
    return this.run(async () => {
      const key = normaliseId(id);
      if (key === undefined) return [];
      const rows = await this.db
        .selectFrom('topology_events')
        .selectAll()
        .where('topology_id', '=', key)
        .orderBy('seq')
        .execute();
      return rows.map((r) => this.decodeEvent(r));
    });
  }

  claimResumable(ownerId: string, now: Date, leaseMs: number, options: ClaimOptions = {}): Promise<Topology[]> {
    return this.run(async () => {
      checkOwner(ownerId);
      const { nowIso, untilIso } = leaseTimes(now, leaseMs);
      const limit = options.limit;
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) {
        throw new StoreError('CM_ERR_STORE_INVALID', `limit must be a positive integer, got ${String(limit)}`);
      }
      const claimable = (eb: Eb) =>
        eb.and([
          eb.or([
            eb('state', 'in', [...RESUMABLE_STATES]),
            eb.and([eb('state', '=', 'PLANNED'), eb('deploy_requested_at', 'is not', null)]),
          ]),
          eb.or([
            eb('lease_owner', 'is', null),
            eb('lease_until', 'is', null),
            eb('lease_until', '<=', nowIso),
            eb('lease_owner', '=', ownerId),
          ]),
        ]);
      return this.tx(async (trx) => {
        const candidates = await trx
          .selectFrom('topologies')
          .select('id')
          .where(claimable)
          .orderBy('updated_at')
          .orderBy('id')
          .$if(limit !== undefined, (q) => q.limit(limit ?? 0))
          // Rows another manager is claiming right now are its to take; wait-free for us.
          .$if(this.dialect === 'postgres', (q) => q.forUpdate().skipLocked())
          .execute();
        if (candidates.length === 0) return [];
        const rows = await trx
          .updateTable('topologies')
          .set({ lease_owner: ownerId, lease_until: untilIso })
          .where(
            'id',
            'in',
            candidates.map((c) => c.id),
          )
          .where(claimable)
          .returningAll()
          .execute();
        return rows
          .map((r) => this.decode(r))
          .sort((a, b) => compare(a.updatedAt, b.updatedAt) || compare(a.id, b.id));
      });
    });
  }

  renewLease(id: string, ownerId: string, now: Date, leaseMs: number): Promise<boolean> {
    return this.run(async () => {
      checkOwner(ownerId);
      const { untilIso } = leaseTimes(now, leaseMs);
      const key = normaliseId(id);
      if (key === undefined) return false;
      const result = await this.db
        .updateTable('topologies')
        .set({ lease_until: untilIso })
        .where('id', '=', key)
        .where('lease_owner', '=', ownerId)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    });
  }

  releaseLease(id: string, ownerId: string): Promise<boolean> {
    return this.run(async () => {
      checkOwner(ownerId);
      const key = normaliseId(id);
      if (key === undefined) return false;
      const result = await this.db
        .updateTable('topologies')
        .set({ lease_owner: null, lease_until: null })
        .where('id', '=', key)
        .where('lease_owner', '=', ownerId)
        .executeTakeFirst();
      return result.numUpdatedRows > 0n;
    });
  }

  serviceCatalogRevision(): Promise<number> {
    return this.run(() => this.revisionOf(this.db));
  }

  listServiceTypes(): Promise<ServiceCatalogSnapshot> {
    return this.run(async () => {
      // Revision first: a change between the two reads makes the items newer than it, never older,
      // so a cache keyed by the revision reloads once more instead of missing the change.
      const revision = await this.revisionOf(this.db);
      const rows = await this.db.selectFrom('service_types').selectAll().orderBy('service_type').execute();
      return { revision, items: rows.map((r) => decodeServiceType(r)) };
    });
  }

  getServiceType(serviceType: string): Promise<StoredServiceType | undefined> {
    return this.run(async () => {
      checkText(serviceType, 'serviceType');
      const row = await this.db.selectFrom('service_types').selectAll().where('service_type', '=', serviceType).executeTakeFirst();
      return row ? decodeServiceType(row) : undefined;
    });
  }

  createServiceType(serviceType: string, document: string, options: ServiceTypeWriteOptions = {}): Promise<StoredServiceType> {
    return this.run(async () => {
      checkServiceTypeWrite(serviceType, document, options);
      return this.catalogTx(async (trx) => {
        const existing = await trx.selectFrom('service_types').select('version').where('service_type', '=', serviceType).executeTakeFirst();
        if (existing) throw new StoreConflictError(`service type ${JSON.stringify(serviceType)} is already stored (version ${String(existing.version)})`);
        await this.checkRoom(trx, options);
        const at = this.now().toISOString();
        const row = await trx
          .insertInto('service_types')
          .values({ service_type: serviceType, document, version: 1, created_at: at, updated_at: at })
          .returningAll()
          .executeTakeFirstOrThrow();
        await this.bumpRevision(trx);
        return decodeServiceType(row);
      });
    });
  }

  putServiceType(serviceType: string, document: string, options: ServiceTypeWriteOptions = {}): Promise<PutServiceTypeResult> {
    return this.run(async () => {
      checkServiceTypeWrite(serviceType, document, options);
      return this.catalogTx(async (trx) => {
        const existing = await trx.selectFrom('service_types').selectAll().where('service_type', '=', serviceType).executeTakeFirst();
        if (existing?.document === document) return { serviceType: decodeServiceType(existing), created: false, changed: false };
        const at = this.now().toISOString();
        let row: ServiceTypeRow;
        if (existing) {
          row = await trx
            .updateTable('service_types')
            .set({ document, version: existing.version + 1, updated_at: at })
            .where('service_type', '=', serviceType)
            .returningAll()
            .executeTakeFirstOrThrow();
        } else {
          await this.checkRoom(trx, options);
          row = await trx
            .insertInto('service_types')
            .values({ service_type: serviceType, document, version: 1, created_at: at, updated_at: at })
            .returningAll()
            .executeTakeFirstOrThrow();
        }
        await this.bumpRevision(trx);
        return { serviceType: decodeServiceType(row), created: !existing, changed: true };
      });
    });
  }

  deleteServiceType(serviceType: string): Promise<boolean> {
    return this.run(async () => {
      checkText(serviceType, 'serviceType');
      return this.catalogTx(async (trx) => {
        const result = await trx.deleteFrom('service_types').where('service_type', '=', serviceType).executeTakeFirst();
        if (result.numDeletedRows === 0n) return false;
        await this.bumpRevision(trx);
        return true;
      });
    });
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.closing = (async () => {
        await Promise.allSettled([...this.inFlight]);
        const drained = this.drained?.();
        await this.db.destroy();
        // So that "closed" means the server saw us go, e.g. before a test stops the server.
        await drained;
      })();
    }
    return this.closing;
  }

  // ---- internals ---------------------------------------------------------

  private tx<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    return this.dialect === 'sqlite' ? immediateTransaction(this.db, fn) : this.db.transaction().execute(fn);
  }

  /** A write of the catalog: every one takes the revision row first, so writers (of any manager) go one at a time. */
  private catalogTx<T>(fn: (trx: Db) => Promise<T>): Promise<T> {
    return this.tx(async (trx) => {
      // SQLite's BEGIN IMMEDIATE already excludes other writers; PostgreSQL needs the row lock.
      if (this.dialect === 'postgres') await trx.selectFrom('service_catalog_revision').select('revision').where('id', '=', 1).forUpdate().execute();
      return fn(trx);
    });
  }

  private async revisionOf(db: Db): Promise<number> {
    const row = await db.selectFrom('service_catalog_revision').select('revision').where('id', '=', 1).executeTakeFirst();
    return row?.revision ?? 0;
  }

  private async bumpRevision(trx: Db): Promise<void> {
    await trx
      .updateTable('service_catalog_revision')
      .set((eb) => ({ revision: eb('revision', '+', 1) }))
      .where('id', '=', 1)
      .execute();
  }

  private async checkRoom(trx: Db, options: ServiceTypeWriteOptions): Promise<void> {
    const max = options.maxEntries;
    if (max === undefined) return;
    const row = await trx.selectFrom('service_types').select((eb) => eb.fn.countAll<number | string | bigint>().as('n')).executeTakeFirst();
    const n = Number(row?.n ?? 0);
    if (n >= max) throw new StoreError('CM_ERR_STORE_LIMIT', `the service catalog holds ${String(n)} service types; the limit is ${String(max)}`);
  }

  private async findByKey(trx: Db, projectId: string, key: string): Promise<Topology | undefined> {
    const row = await trx
      .selectFrom('topologies')
      .selectAll()
      .where('project_id', '=', projectId)
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    return row ? this.decode(row) : undefined;
  }

  private newRow(rec: NewTopology) {
    if (typeof rec !== 'object') throw new StoreError('CM_ERR_STORE_INVALID', 'a topology record is required');
    const id = rec.id === undefined ? randomUUID() : normaliseId(rec.id);
    if (id === undefined) throw new StoreError('CM_ERR_STORE_INVALID', `not a UUID: ${JSON.stringify(rec.id)}`);
    const state = rec.state ?? 'PLANNED';
    checkState(state, 'state');
    checkText(rec.name, 'name');
    checkText(rec.projectId, 'projectId');
    checkText(rec.strategy, 'strategy');
    checkText(rec.stackName, 'stackName');
    if (rec.idempotencyKey != null) checkText(rec.idempotencyKey, 'idempotencyKey');
    if (rec.request === undefined) throw new StoreError('CM_ERR_STORE_INVALID', 'request is required');
    const now = this.now().toISOString();
    return {
      id,
      name: rec.name,
      project_id: rec.projectId,
      state,
      strategy: rec.strategy,
      request: encodeJson(rec.request, 'request'),
      plan: rec.plan == null ? null : encodeJson(rec.plan, 'plan'),
      stack_name: rec.stackName,
      stack_id: nullableText(rec.stackId, 'stackId'),
      units: encodeUnits(rec.units ?? []),
      error: null,
      attempts: 0,
      idempotency_key: rec.idempotencyKey ?? null,
      deploy_requested_at: nullableTime(rec.deployRequestedAt, 'deployRequestedAt'),
      lease_owner: null,
      lease_until: null,
      created_at: now,
      updated_at: now,
      version: 1,
    };
  }

  private decode(row: Row): Topology {
    const where = `topology ${row.id}`;
    if (!(TOPOLOGY_STATES as readonly string[]).includes(row.state)) {
      throw new StoreError('CM_ERR_STORE_CORRUPT', `${where} has unknown state ${JSON.stringify(row.state)}`);
    }
    const leaseUntil = row.lease_until === null ? null : isoOf(row.lease_until);
    const deployRequestedAt = row.deploy_requested_at === null ? null : isoOf(row.deploy_requested_at);
    return {
      id: row.id,
      name: row.name,
      projectId: row.project_id,
      state: row.state as TopologyState,
      strategy: row.strategy,
      request: this.json(row.request, where, 'request'),
      plan: row.plan === null ? null : this.json(row.plan, where, 'plan'),
      stackName: row.stack_name,
      stackId: row.stack_id,
      units: decodeUnits(this.json(row.units, where, 'units'), where),
      error: row.error === null ? null : decodeError(this.json(row.error, where, 'error'), where),
      attempts: row.attempts,
      idempotencyKey: row.idempotency_key,
      deployRequestedAt,
      lease: row.lease_owner !== null && leaseUntil !== null ? { owner: row.lease_owner, until: leaseUntil } : null,
      createdAt: isoOf(row.created_at),
      updatedAt: isoOf(row.updated_at),
      version: row.version,
    };
  }

  private decodeEvent(row: EventRow): TopologyEvent {
    return {
      topologyId: row.topology_id,
      seq: row.seq,
      at: isoOf(row.at),
      state: row.state as TopologyState,
      fromState: row.from_state as TopologyState | null,
      message: row.message,
      details: row.details === null ? null : this.json(row.details, `event ${row.topology_id}#${row.seq}`, 'details'),
    };
  }

  /** pg hands JSONB over parsed; SQLite keeps the text. */
  private json(value: unknown, where: string, column: string): unknown {
    if (this.dialect === 'postgres') return value;
    if (typeof value !== 'string') throw new StoreError('CM_ERR_STORE_CORRUPT', `${where}: ${column} is not JSON text`);
    try {
      return JSON.parse(value);
    } catch (error) {
      throw new StoreError('CM_ERR_STORE_CORRUPT', `${where}: ${column} is not valid JSON`, { cause: error });
    }
  }

  private run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('CM_ERR_STORE_CLOSED', 'the manager store is closed'));
    const p = fn().catch((error: unknown) => {
      if (error instanceof StoreError) throw error;
      throw new StoreError('CM_ERR_STORE_BACKEND', `manager store (${this.dialect}) failed: ${messageOf(error)}`, {
        cause: error,
      });
    });
    this.inFlight.add(p);
    const done = (): void => {
      this.inFlight.delete(p);
    };
    p.then(done, done);
    return p;
  }
}

// ---- a store that opens later ------------------------------------------------------

/**
 * A ManagerStore to hand out before the database answers (a manager starting while PostgreSQL is down):
 * every call rejects with CM_ERR_STORE_OPEN saying why, until `attach` gives it the store
 * `openManagerStore` opened, which serves every call from then on. Retrying is the caller's: a failed
 * `openManagerStore` closes whatever it opened, so it may simply be called again.
 */
export class PendingManagerStore implements ManagerStore {
  readonly dialect: ManagerDialect;
  private inner: ManagerStore | undefined;
  private reason = 'not opened yet';
  private closed = false;

  /** @throws StoreError CM_ERR_STORE_OPEN when the URL is not one of a manager store. */
  constructor(url: string) {
    this.dialect = parseStoreUrl(url, 'manager store').dialect;
  }

  get isOpen(): boolean {
    return this.inner !== undefined;
  }

  /** Why it is not open yet: the message of the calls' errors until it is. */
  notOpen(reason: string): void {
    this.reason = reason;
  }

  /** Serves every call from `store` from now on; after close(), closes `store` instead. */
  async attach(store: ManagerStore): Promise<void> {
    if (this.closed) {
      await store.close();
      return;
    }
    if (this.inner) throw new Error('PendingManagerStore: a store is attached already');
    this.inner = store;
  }

  migrate(): Promise<number[]> {
    return this.use((s) => s.migrate());
  }
  createTopology(rec: NewTopology): Promise<CreateResult> {
    return this.use((s) => s.createTopology(rec));
  }
  getTopology(id: string): Promise<Topology | undefined> {
    return this.use((s) => s.getTopology(id));
  }
  listTopologies(options?: ListTopologiesOptions): Promise<TopologyPage> {
    return this.use((s) => s.listTopologies(options));
  }
  countByState(): Promise<Record<TopologyState, number>> {
    return this.use((s) => s.countByState());
  }
  updateTopology(id: string, patch: TopologyPatch, options: { expectedVersion: number }): Promise<Topology> {
    return this.use((s) => s.updateTopology(id, patch, options));
  }
  transition(id: string, request: TransitionRequest): Promise<Topology> {
    return this.use((s) => s.transition(id, request));
  }
  events(id: string): Promise<TopologyEvent[]> {
    return this.use((s) => s.events(id));
  }
  claimResumable(ownerId: string, now: Date, leaseMs: number, options?: ClaimOptions): Promise<Topology[]> {
    return this.use((s) => s.claimResumable(ownerId, now, leaseMs, options));
  }
  renewLease(id: string, ownerId: string, now: Date, leaseMs: number): Promise<boolean> {
    return this.use((s) => s.renewLease(id, ownerId, now, leaseMs));
  }
  releaseLease(id: string, ownerId: string): Promise<boolean> {
    return this.use((s) => s.releaseLease(id, ownerId));
  }
  serviceCatalogRevision(): Promise<number> {
    return this.use((s) => s.serviceCatalogRevision());
  }
  listServiceTypes(): Promise<ServiceCatalogSnapshot> {
    return this.use((s) => s.listServiceTypes());
  }
  getServiceType(serviceType: string): Promise<StoredServiceType | undefined> {
    return this.use((s) => s.getServiceType(serviceType));
  }
  createServiceType(serviceType: string, document: string, options?: ServiceTypeWriteOptions): Promise<StoredServiceType> {
    return this.use((s) => s.createServiceType(serviceType, document, options));
  }
  putServiceType(serviceType: string, document: string, options?: ServiceTypeWriteOptions): Promise<PutServiceTypeResult> {
    return this.use((s) => s.putServiceType(serviceType, document, options));
  }
  deleteServiceType(serviceType: string): Promise<boolean> {
    return this.use((s) => s.deleteServiceType(serviceType));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.inner?.close();
  }

  private use<T>(fn: (store: ManagerStore) => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError('CM_ERR_STORE_CLOSED', 'the manager store is closed'));
    if (!this.inner) return Promise.reject(new StoreError('CM_ERR_STORE_OPEN', `the manager store is not open: ${this.reason}`));
    return fn(this.inner);
  }
}

// ---- validation and encoding ---------------------------------------------------

function normaliseId(id: string): string | undefined {
  return typeof id === 'string' && isUuidLike(id) ? id.toLowerCase() : undefined;
}

function notFound(id: string): StoreError {
  return new StoreError('CM_ERR_STORE_NOT_FOUND', `no topology ${JSON.stringify(id)}`);
}

function checkState(state: unknown, what: string): asserts state is TopologyState {
  if (!(TOPOLOGY_STATES as readonly unknown[]).includes(state)) {
    throw new StoreError('CM_ERR_STORE_INVALID', `${what}: unknown topology state ${JSON.stringify(state)}`);
  }
}

function checkText(value: unknown, what: string): asserts value is string {
  if (typeof value !== 'string' || value === '') {
    throw new StoreError('CM_ERR_STORE_INVALID', `${what} must be a non-empty string`);
  }
}

function checkOwner(ownerId: string): void {
  checkText(ownerId, 'ownerId');
}

function nullableText(value: string | null | undefined, what: string): string | null {
  if (value == null) return null;
  checkText(value, what);
  return value;
}

function nullableTime(value: string | null | undefined, what: string): string | null {
  if (value == null) return null;
  const t = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isNaN(t)) throw new StoreError('CM_ERR_STORE_INVALID', `${what} is not an ISO 8601 time: ${JSON.stringify(value)}`);
  // Normalised, so SQLite's text comparison orders it like a time.
  return new Date(t).toISOString();
}

function leaseTimes(now: Date, leaseMs: number): { nowIso: string; untilIso: string } {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) throw new StoreError('CM_ERR_STORE_INVALID', 'now must be a valid Date');
  if (!Number.isFinite(leaseMs) || leaseMs <= 0) {
    throw new StoreError('CM_ERR_STORE_INVALID', `leaseMs must be a positive number, got ${String(leaseMs)}`);
  }
  return { nowIso: now.toISOString(), untilIso: new Date(now.getTime() + leaseMs).toISOString() };
}

function encodeJson(value: unknown, what: string): string {
  // The lib types say string, but functions, symbols and undefined give undefined.
  let text: unknown;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new StoreError('CM_ERR_STORE_INVALID', `${what} is not JSON-serialisable: ${messageOf(error)}`, { cause: error });
  }
  if (typeof text !== 'string') throw new StoreError('CM_ERR_STORE_INVALID', `${what} is not JSON-serialisable`);
  return text;
}

/** Units are kept with the schema's snake_case keys, so SQL on the JSON reads like the columns. */
function encodeUnits(units: readonly TopologyUnit[]): string {
  // Typed input still gets checked: callers pass API bodies through here.
  const raw: unknown = units;
  if (!Array.isArray(raw)) throw new StoreError('CM_ERR_STORE_INVALID', 'units must be an array');
  return encodeJson(
    units.map((u, i) => {
      if (typeof u !== 'object' || typeof u.name !== 'string' || u.name === '') {
        throw new StoreError('CM_ERR_STORE_INVALID', `units[${i}] needs a name`);
      }
      const ports: unknown = u.ports;
      if (!Array.isArray(ports)) throw new StoreError('CM_ERR_STORE_INVALID', `units[${i}].ports must be an array`);
      return {
        name: u.name,
        ...(u.serviceInstance === undefined ? {} : { service_instance: u.serviceInstance }),
        host: u.host,
        server_id: u.serverId,
        ports: u.ports,
        sla_class: u.slaClass,
        sla_state: u.slaState,
      };
    }),
    'units',
  );
}

function decodeUnits(value: unknown, where: string): TopologyUnit[] {
  if (!Array.isArray(value)) throw new StoreError('CM_ERR_STORE_CORRUPT', `${where}: units is not an array`);
  return value.map((u: unknown, i) => {
    if (typeof u !== 'object' || u === null) throw new StoreError('CM_ERR_STORE_CORRUPT', `${where}: units[${i}] is not an object`);
    const o = u as Record<string, unknown>;
    const text = (k: string): string | null => {
      const v = o[k];
      if (v === null || v === undefined) return null;
      if (typeof v !== 'string') throw new StoreError('CM_ERR_STORE_CORRUPT', `${where}: units[${i}].${k} is not a string`);
      return v;
    };
    const name = text('name');
    if (name === null) throw new StoreError('CM_ERR_STORE_CORRUPT', `${where}: units[${i}] has no name`);
    return {
      name,
      // Optional fields come back only when they were written, so units round-trip exactly.
      ...('service_instance' in o ? { serviceInstance: text('service_instance') } : {}),
      host: text('host'),
      serverId: text('server_id'),
      ports: Array.isArray(o.ports) ? (o.ports as unknown[]) : [],
      slaClass: text('sla_class'),
      slaState: text('sla_state'),
    };
  });
}

function checkServiceTypeWrite(serviceType: string, document: string, options: ServiceTypeWriteOptions): void {
  checkText(serviceType, 'serviceType');
  checkText(document, 'document');
  const max = options.maxEntries;
  if (max !== undefined && (!Number.isInteger(max) || max < 0)) {
    throw new StoreError('CM_ERR_STORE_INVALID', `maxEntries must be a non-negative integer, got ${String(max)}`);
  }
}

function decodeServiceType(row: ServiceTypeRow): StoredServiceType {
  return { serviceType: row.service_type, document: row.document, version: row.version, createdAt: isoOf(row.created_at), updatedAt: isoOf(row.updated_at) };
}

function encodeErrorValue(error: TopologyError | null): string | null {
  if (error === null) return null;
  if (typeof error !== 'object' || typeof error.code !== 'string' || typeof error.message !== 'string') {
    throw new StoreError('CM_ERR_STORE_INVALID', 'error must be {code, message, details?} with string code and message');
  }
  return encodeJson(
    { code: error.code, message: error.message, ...(error.details === undefined ? {} : { details: error.details }) },
    'error',
  );
}

function decodeError(value: unknown, where: string): TopologyError {
  if (typeof value !== 'object' || value === null) throw new StoreError('CM_ERR_STORE_CORRUPT', `${where}: error is not an object`);
  const o = value as Record<string, unknown>;
  if (typeof o.code !== 'string' || typeof o.message !== 'string') {
    throw new StoreError('CM_ERR_STORE_CORRUPT', `${where}: error lacks code or message`);
  }
  return { code: o.code, message: o.message, ...(o.details === undefined ? {} : { details: o.details }) };
}

type PatchColumns = Partial<{
  name: string;
  strategy: string;
  request: string;
  plan: string | null;
  stack_name: string;
  stack_id: string | null;
  units: string;
  error: string | null;
  attempts: number;
  deploy_requested_at: string | null;
}>;

function patchColumns(patch: TopologyPatch): PatchColumns {
  if (typeof patch !== 'object') throw new StoreError('CM_ERR_STORE_INVALID', 'patch must be an object');
  if ('state' in patch) throw new StoreError('CM_ERR_STORE_INVALID', 'state changes go through transition()');
  const out: PatchColumns = {};
  if (patch.name !== undefined) {
    checkText(patch.name, 'name');
    out.name = patch.name;
  }
  if (patch.strategy !== undefined) {
    checkText(patch.strategy, 'strategy');
    out.strategy = patch.strategy;
  }
  if (patch.request !== undefined) out.request = encodeJson(patch.request, 'request');
  if (patch.plan !== undefined) out.plan = patch.plan === null ? null : encodeJson(patch.plan, 'plan');
  if (patch.stackName !== undefined) {
    checkText(patch.stackName, 'stackName');
    out.stack_name = patch.stackName;
  }
  if (patch.stackId !== undefined) out.stack_id = nullableText(patch.stackId, 'stackId');
  if (patch.units !== undefined) out.units = encodeUnits(patch.units);
  if (patch.error !== undefined) out.error = encodeErrorValue(patch.error);
  if (patch.attempts !== undefined) {
    if (!Number.isInteger(patch.attempts) || patch.attempts < 0) {
      throw new StoreError('CM_ERR_STORE_INVALID', `attempts must be a non-negative integer, got ${String(patch.attempts)}`);
    }
    out.attempts = patch.attempts;
  }
  if (patch.deployRequestedAt !== undefined) out.deploy_requested_at = nullableTime(patch.deployRequestedAt, 'deployRequestedAt');
  return out;
}

function isoOf(value: Date | string): string {
  return value instanceof Date ? value.toISOString() : value;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Opaque to callers: base64url of [createdAt, id] of the page's last item. */
function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(value) &&
      value.length === 2 &&
      typeof value[0] === 'string' &&
      !Number.isNaN(Date.parse(value[0])) &&
      typeof value[1] === 'string' &&
      isUuidLike(value[1])
    ) {
      return [value[0], value[1]];
    }
  } catch {
    // reported below
  }
  throw new StoreError('CM_ERR_STORE_INVALID', `not a cursor of this store: ${JSON.stringify(cursor)}`);
}
