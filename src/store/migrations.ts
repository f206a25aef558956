/**
 * The store's schema as an ordered, in-code list of migrations. Each runs once,
 * in the same transaction that records it in `cm_schema_migrations`. Never edit
 * or reorder a released migration: append a new one.
 */
import { sql, type Kysely } from 'kysely';
import type { StoreDatabase } from './schema.ts';
import { StoreError } from './errors.ts';
import { immediateTransaction } from './tx.ts';

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

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Brings the database up to `migrations`' last version. Returns the versions
 * applied now (empty when already current).
 * @throws StoreError CM_ERR_STORE_SCHEMA when the file was written by a newer agent.
 */
export async function migrate(db: Kysely<StoreDatabase>, migrations: readonly Migration[] = MIGRATIONS): Promise<number[]> {
  migrations.forEach((m, i) => {
    if (m.version !== i + 1) throw new Error(`migration list out of order at index ${i}: version ${m.version}`);
  });
  return immediateTransaction(db, async (trx) => {
    await sql`
      CREATE TABLE IF NOT EXISTS cm_schema_migrations (
        version    INTEGER NOT NULL PRIMARY KEY,
        name       TEXT    NOT NULL,
        applied_at TEXT    NOT NULL
      ) STRICT`.execute(trx);
    const row = await trx
      .selectFrom('cm_schema_migrations')
      .select((eb) => eb.fn.max('version').as('version'))
      .executeTakeFirst();
    const current = row?.version ?? 0;
    if (current > migrations.length) {
      throw new StoreError(
        'CM_ERR_STORE_SCHEMA',
        `the store has schema version ${current}, newer than this agent's ${migrations.length}; upgrade the agent or use another file`,
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
