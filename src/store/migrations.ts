/**
 * The store's schema as ordered, in-code lists of migrations: one for SQLite
 * (`MIGRATIONS`), one for PostgreSQL (`PG_MIGRATIONS`). The lists are separate
 * because the released SQLite DDL (STRICT tables, TEXT times) cannot be reused
 * on PostgreSQL, and PostgreSQL alone carries the tables replicas share
 * (membership, host status). Each migration runs once, in the same transaction
 * that records it in `cm_schema_migrations`; on PostgreSQL that transaction
 * first takes an advisory lock, so replicas starting together migrate one after
 * another instead of racing on CREATE TABLE. Never edit or reorder a released
 * migration: append a new one.
 */
import { sql, type Kysely } from 'kysely';
import type { StoreDatabase } from './schema.ts';
import { StoreError } from './errors.ts';
import { immediateTransaction } from './tx.ts';

export type StoreDialect = 'sqlite' | 'postgres';

export interface Migration {
  /** 1, 2, 3, … without gaps. */
  readonly version: number;
  readonly name: string;
  up(trx: Kysely<StoreDatabase>): Promise<void>;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'desired SLAs by server',
    async up(trx) {
      await sql`
        CREATE TABLE desired_sla (
          server_id  TEXT    NOT NULL PRIMARY KEY,
          sla_json   TEXT    NOT NULL,
          host       TEXT,
          source     TEXT    NOT NULL CHECK (source IN ('v1', 'thesis')),
          version    INTEGER NOT NULL CHECK (version >= 1),
          created_at TEXT    NOT NULL,
          updated_at TEXT    NOT NULL
        ) STRICT`.execute(trx);
    },
  },
  {
    version: 2,
    name: 'index desired SLAs by host',
    async up(trx) {
      await sql`CREATE INDEX desired_sla_host ON desired_sla (host) WHERE host IS NOT NULL`.execute(trx);
    },
  },
];

/** The SQLite schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'desired SLAs by server',
    async up(trx) {
      // sla_json stays TEXT (not JSONB): the stored bytes are the canonical form, as on SQLite,
      // so the idempotency check and the decoding are the same on both dialects.
      await sql`
        CREATE TABLE desired_sla (
          server_id  TEXT        NOT NULL PRIMARY KEY,
          sla_json   TEXT        NOT NULL,
          host       TEXT,
          source     TEXT        NOT NULL CHECK (source IN ('v1', 'thesis')),
          version    INTEGER     NOT NULL CHECK (version >= 1),
          created_at TIMESTAMPTZ NOT NULL,
          updated_at TIMESTAMPTZ NOT NULL
        )`.execute(trx);
      await sql`CREATE INDEX desired_sla_host ON desired_sla (host) WHERE host IS NOT NULL`.execute(trx);
    },
  },
  {
    version: 2,
    name: 'agent replicas: membership and host status',
    async up(trx) {
      // Incarnations are fencing epochs: a sequence never hands out the same number twice,
      // even to registrations racing on different connections.
      await sql`CREATE SEQUENCE cm_agent_incarnation_seq AS BIGINT START 1`.execute(trx);
      await sql`
        CREATE TABLE cm_agent_members (
          agent_id     TEXT        NOT NULL PRIMARY KEY,
          incarnation  BIGINT      NOT NULL,
          url          TEXT        NOT NULL,
          heartbeat_at TIMESTAMPTZ NOT NULL,
          lease_until  TIMESTAMPTZ NOT NULL
        )`.execute(trx);
      await sql`
        CREATE TABLE cm_host_status (
          host        TEXT        NOT NULL PRIMARY KEY,
          agent_id    TEXT        NOT NULL,
          incarnation BIGINT      NOT NULL,
          status      JSONB       NOT NULL,
          updated_at  TIMESTAMPTZ NOT NULL
        )`.execute(trx);
    },
  },
];

/** The PostgreSQL schema version this code writes. */
export const PG_SCHEMA_VERSION = PG_MIGRATIONS.length;

/** An arbitrary constant naming "the agent schema migration" among advisory locks (the manager's differs). */
const MIGRATION_LOCK_KEY = 0x434d_4147;

/**
 * Brings the database up to `migrations`' last version. Returns the versions
 * applied now (empty when already current). `dialect` must match `db` (and the
 * list: MIGRATIONS for SQLite, PG_MIGRATIONS for PostgreSQL).
 * @throws StoreError CM_ERR_STORE_SCHEMA when the database was written by a newer agent.
 */
export async function migrate(
  db: Kysely<StoreDatabase>,
  migrations: readonly Migration[] = MIGRATIONS,
  dialect: StoreDialect = 'sqlite',
): Promise<number[]> {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration list out of order at index ${i}: version ${m.version}`);
  });
  const transaction = <T>(fn: (trx: Kysely<StoreDatabase>) => Promise<T>): Promise<T> =>
    dialect === 'sqlite' ? immediateTransaction(db, fn) : db.transaction().execute(fn);
  return transaction(async (trx) => {
    if (dialect === 'postgres') await sql`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`.execute(trx);
    await sql`
      CREATE TABLE IF NOT EXISTS cm_schema_migrations (
        version    INTEGER NOT NULL PRIMARY KEY,
        name       TEXT    NOT NULL,
        applied_at TEXT    NOT NULL
      ) ${sql.raw(dialect === 'sqlite' ? 'STRICT' : '')}`.execute(trx);
    const row = await trx
      .selectFrom('cm_schema_migrations')
      .select((eb) => eb.fn.max('version').as('version'))
      .executeTakeFirst();
    const current = row?.version ?? 0;
    if (current > migrations.length) {
      throw new StoreError(
        'CM_ERR_STORE_SCHEMA',
        `the store has schema version ${current}, newer than this agent's ${migrations.length}; upgrade the agent or use another ${dialect === 'sqlite' ? 'file' : 'database'}`,
      );
    }
    const applied: number[] = [];
    for (const m of migrations.slice(current)) {
      await m.up(trx);
      await trx
        .insertInto('cm_schema_migrations')
        .values({ version: m.version, name: m.name, applied_at: new Date().toISOString() })
        .execute();
      applied.push(m.version);
    }
    return applied;
  });
}
