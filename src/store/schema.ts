/**
 * Kysely table types of the agent's store (see migrations.ts for the DDL), for
 * SQLite and PostgreSQL. Where the drivers disagree the type says both: pg
 * reads TIMESTAMPTZ as a Date, SQLite keeps the ISO text it was given.
 */
import type { ColumnType } from 'kysely';

/** Read as a Date (pg) or an ISO string (SQLite); written as an ISO string or an SQL expression. */
type Timestamp = ColumnType<Date | string, string, string>;

export interface DesiredSlaTable {
  server_id: string;
  /** Canonical JSON text on both dialects, so "the same SLA" is one comparison everywhere. */
  sla_json: string;
  host: string | null;
  source: 'v1' | 'thesis';
  version: number;
  created_at: Timestamp;
  updated_at: Timestamp;
}

export interface SchemaMigrationTable {
  version: number;
  name: string;
  applied_at: string;
}

/** PostgreSQL only: the registered agent replicas. */
export interface AgentMembersTable {
  agent_id: string;
  /** BIGINT: pg reads it as a string. */
  incarnation: ColumnType<string, number, number>;
  url: string;
  heartbeat_at: ColumnType<Date, string, string>;
  lease_until: ColumnType<Date, string, string>;
}

/** PostgreSQL only: each host's enforcement summary, written by its owner. */
export interface HostStatusTable {
  host: string;
  agent_id: string;
  incarnation: ColumnType<string, number, number>;
  /** JSONB: pg reads it parsed. */
  status: ColumnType<unknown, string, string>;
  updated_at: ColumnType<Date, string, string>;
}

export interface StoreDatabase {
  desired_sla: DesiredSlaTable;
  cm_schema_migrations: SchemaMigrationTable;
  cm_agent_members: AgentMembersTable;
  cm_host_status: HostStatusTable;
}
