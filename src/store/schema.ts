/** Kysely table types of the store (see migrations.ts for the DDL). */

export interface DesiredSlaTable {
  server_id: string;
  sla_json: string;
  host: string | null;
  source: 'v1' | 'thesis';
  version: number;
  created_at: string;
  updated_at: string;
}

export interface SchemaMigrationTable {
  version: number;
  name: string;
  applied_at: string;
}

export interface StoreDatabase {
  desired_sla: DesiredSlaTable;
  cm_schema_migrations: SchemaMigrationTable;
}
