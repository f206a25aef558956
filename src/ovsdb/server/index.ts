/**
 * An in-process OVSDB server (RFC 7047 with the OVS extensions) that behaves
 * like ovsdb-server 3.1: for fast tests and for a demo without Open vSwitch.
 * Imports only node:* and the rest of src/ovsdb.
 */
export { InProcessOvsdbServer, type InProcessOvsdbServerOptions } from './server.ts';
export { createVswitchServer, type VswitchServerOptions } from './vswitch.ts';
export { Database, type ChangeSet, type CommitRecord, type ExecutionContext, type ExecutionOutcome, type RowChange } from './database.ts';
export { buildDatabaseModel, type DatabaseModel, type Row, type TableModel, type ColumnModel } from './model.ts';
