/**
 * Schema of the Connectivity Manager's state store, for SQLite and PostgreSQL.
 *
 * Column types per dialect (one DDL text, types substituted):
 * - ids: UUID on PostgreSQL, TEXT (lower-case) on SQLite;
 * - JSON documents (request, plan, units, error, event details): JSONB on
 *   PostgreSQL so operators can query them, TEXT holding JSON on SQLite (which
 *   has no JSON type; STRICT tables reject anything but TEXT there);
 * - timestamps: TIMESTAMPTZ on PostgreSQL, ISO 8601 UTC TEXT from
 *   `Date.toISOString()` on SQLite (fixed width, so text order is time order).
 * The store converts both ways, so the API only ever sees ISO strings and
 * parsed JSON.
 *
 * Migrations run in order, each in the transaction that records its id in
 * `cm_manager_migrations`. On PostgreSQL that transaction first takes an
 * advisory lock, so managers starting together migrate one after another
 * instead of racing on CREATE TABLE. Never edit a released migration: append.
 */
import { sql, type ColumnType, type Kysely, type RawBuilder } from 'kysely';
import { StoreError } from './errors.ts';

export type ManagerDialect = 'sqlite' | 'postgres';

/** Read as Date (pg) or string (SQLite); always written as an ISO string. */
type Timestamp = ColumnType<Date | string, string, string>;
/** Read parsed (pg JSONB) or as text (SQLite); always written as JSON text. */
type JsonColumn = ColumnType<unknown, string, string>;
type NullableJsonColumn = ColumnType<unknown, string | null, string | null>;

export interface TopologiesTable {
  id: string;
  name: string;
  project_id: string;
  state: string;
  strategy: string;
  request: JsonColumn;
  plan: NullableJsonColumn;
  stack_name: string;
  stack_id: string | null;
  units: JsonColumn;
  error: NullableJsonColumn;
  attempts: number;
  idempotency_key: string | null;
  deploy_requested_at: ColumnType<Date | string | null, string | null, string | null>;
  lease_owner: string | null;
  lease_until: ColumnType<Date | string | null, string | null, string | null>;
  created_at: Timestamp;
  updated_at: Timestamp;
  version: number;
}

export interface TopologyEventsTable {
  topology_id: string;
  seq: number;
  at: Timestamp;
  state: string;
  from_state: string | null;
  message: string;
  details: NullableJsonColumn;
}

/** The service types added through the manager's API (`/services`); those of the config files are not stored. */
export interface ServiceTypesTable {
  service_type: string;
  /** The document as given, as JSON text: TEXT on both dialects, so it comes back byte for byte (JSONB would reorder keys and move the line numbers errors name). */
  document: string;
  version: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** One row (id 1): +1 on every change of `service_types`, so a manager can tell with one read that its copy is current. */
export interface ServiceCatalogRevisionTable {
  id: number;
  revision: number;
}

export interface ManagerMigrationsTable {
  id: number;
  name: string;
  applied_at: string;
}

export interface ManagerDatabase {
  topologies: TopologiesTable;
  topology_events: TopologyEventsTable;
  service_types: ServiceTypesTable;
  service_catalog_revision: ServiceCatalogRevisionTable;
  cm_manager_migrations: ManagerMigrationsTable;
}

export interface ManagerMigration {
  /** 1, 2, 3, … without gaps. */
  readonly id: number;
  readonly name: string;
  up(trx: Kysely<ManagerDatabase>, dialect: ManagerDialect): Promise<void>;
}

export const TOPOLOGY_STATES = [
  'PLANNED',
  'DEPLOYING',
  'DEPLOYED',
  'ENFORCING',
  'ACTIVE',
  'FAILED',
  'DELETING',
  'DELETED',
] as const;

interface ColumnTypes {
  uuid: RawBuilder<unknown>;
  json: RawBuilder<unknown>;
  ts: RawBuilder<unknown>;
  strict: RawBuilder<unknown>;
}

function typesFor(dialect: ManagerDialect): ColumnTypes {
  return dialect === 'postgres'
    ? { uuid: sql.raw('UUID'), json: sql.raw('JSONB'), ts: sql.raw('TIMESTAMPTZ'), strict: sql.raw('') }
    : { uuid: sql.raw('TEXT'), json: sql.raw('TEXT'), ts: sql.raw('TEXT'), strict: sql.raw('STRICT') };
}

const STATE_LIST = sql.raw(TOPOLOGY_STATES.map((s) => `'${s}'`).join(', '));

export const MANAGER_MIGRATIONS: readonly ManagerMigration[] = [
  {
    id: 1,
    name: 'topologies, their event history and resume leases',
    async up(trx, dialect) {
      const t = typesFor(dialect);
      await sql`
        CREATE TABLE topologies (
          id                  ${t.uuid} NOT NULL PRIMARY KEY,
          name                TEXT      NOT NULL,
          project_id          TEXT      NOT NULL,
          state               TEXT      NOT NULL CHECK (state IN (${STATE_LIST})),
          strategy            TEXT      NOT NULL,
          request             ${t.json} NOT NULL,
          plan                ${t.json},
          stack_name          TEXT      NOT NULL,
          stack_id            TEXT,
          units               ${t.json} NOT NULL,
          error               ${t.json},
          attempts            INTEGER   NOT NULL DEFAULT 0 CHECK (attempts >= 0),
          idempotency_key     TEXT,
          deploy_requested_at ${t.ts},
          lease_owner         TEXT,
          lease_until         ${t.ts},
          created_at          ${t.ts}   NOT NULL,
          updated_at          ${t.ts}   NOT NULL,
          version             INTEGER   NOT NULL CHECK (version >= 1)
        ) ${t.strict}`.execute(trx);
      // Partial, so any number of topologies may be created without a key.
      await sql`
        CREATE UNIQUE INDEX topologies_idempotency
          ON topologies (project_id, idempotency_key) WHERE idempotency_key IS NOT NULL`.execute(trx);
      // Keyset paging: (created_at, id) is the list order, optionally within a project.
      await sql`CREATE INDEX topologies_created ON topologies (created_at, id)`.execute(trx);
      await sql`CREATE INDEX topologies_project_created ON topologies (project_id, created_at, id)`.execute(trx);
      // claimResumable scans only the in-flight states, a small part of the table.
      await sql`
        CREATE INDEX topologies_in_flight ON topologies (state, lease_until)
          WHERE state IN ('PLANNED', 'DEPLOYING', 'DEPLOYED', 'ENFORCING', 'DELETING')`.execute(trx);
      await sql`
        CREATE TABLE topology_events (
          topology_id ${t.uuid} NOT NULL REFERENCES topologies (id) ON DELETE CASCADE,
          seq         INTEGER   NOT NULL CHECK (seq >= 1),
          at          ${t.ts}   NOT NULL,
          state       TEXT      NOT NULL CHECK (state IN (${STATE_LIST})),
          from_state  TEXT,
          message     TEXT      NOT NULL,
          details     ${t.json},
          PRIMARY KEY (topology_id, seq)
        ) ${t.strict}`.execute(trx);
    },
  },
  {
    id: 2,
    name: 'the service catalog: service types added through the API, and its revision',
    async up(trx, dialect) {
      const t = typesFor(dialect);
      await sql`
        CREATE TABLE service_types (
          service_type TEXT      NOT NULL PRIMARY KEY CHECK (length(service_type) BETWEEN 1 AND 256),
          document     TEXT      NOT NULL,
          version      INTEGER   NOT NULL CHECK (version >= 1),
          created_at   ${t.ts}   NOT NULL,
          updated_at   ${t.ts}   NOT NULL
        ) ${t.strict}`.execute(trx);
      // Writers lock this row first (PostgreSQL: FOR UPDATE), so the entry limit holds across managers too.
      await sql`
        CREATE TABLE service_catalog_revision (
          id       INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
          revision INTEGER NOT NULL CHECK (revision >= 0)
        ) ${t.strict}`.execute(trx);
      await sql`INSERT INTO service_catalog_revision (id, revision) VALUES (1, 0)`.execute(trx);
    },
  },
];

/** An arbitrary constant naming "the manager schema migration" among advisory locks. */
const MIGRATION_LOCK_KEY = 0x434d_4d47;

/**
 * Brings the database up to the last migration. Returns the ids applied now
 * (empty when already current).
 * @throws StoreError CM_ERR_STORE_SCHEMA when the database was written by newer code.
 */
export async function migrateManager(
  db: Kysely<ManagerDatabase>,
  dialect: ManagerDialect,
  transaction: <T>(fn: (trx: Kysely<ManagerDatabase>) => Promise<T>) => Promise<T>,
  migrations: readonly ManagerMigration[] = MANAGER_MIGRATIONS,
): Promise<number[]> {
  migrations.forEach((m, i) => {
    if (m.id !== i + 1) throw new Error(`manager migration list out of order at index ${i}: id ${m.id}`);
  });
  return transaction(async (trx) => {
    if (dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`.execute(trx);
    await sql`
      CREATE TABLE IF NOT EXISTS cm_manager_migrations (
        id         INTEGER NOT NULL PRIMARY KEY,
        name       TEXT    NOT NULL,
        applied_at TEXT    NOT NULL
      ) ${typesFor(dialect).strict}`.execute(trx);
    const row = await trx
      .selectFrom('cm_manager_migrations')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    const current = row?.id ?? 0;
    if (current > migrations.length) {
      throw new StoreError(
        'CM_ERR_STORE_SCHEMA',
        `the manager store has schema version ${current}, newer than this manager's ${migrations.length}; upgrade the manager`,
      );
    }
    const applied: number[] = [];
    for (const m of migrations.slice(current)) {
      await m.up(trx, dialect);
      await trx
        .insertInto('cm_manager_migrations')
        .values({ id: m.id, name: m.name, applied_at: new Date().toISOString() })
        .execute();
      applied.push(m.id);
    }
    return applied;
  });
}
