/**
 * The `_Server` database every ovsdb-server has (ovsdb-server(5)): one
 * read-only `Database` row per database, which clients such as the OVS IDL
 * read to learn whether a database is connected and which schema it has.
 */
import { Database } from './database.ts';
import { buildDatabaseModel } from './model.ts';
import { canonicalJson } from './values.ts';

export const SERVER_DATABASE_NAME = '_Server';

/** ovsdb-server 3.1's `_Server` schema, as its get_schema returns it. */
const SERVER_SCHEMA = {
  cksum: '3009684573 744',
  name: '_Server',
  version: '1.2.0',
  tables: {
    Database: {
      columns: {
        name: { type: 'string' },
        model: { type: { key: { type: 'string', enum: ['set', ['clustered', 'relay', 'standalone']] } } },
        connected: { type: 'boolean' },
        leader: { type: 'boolean' },
        schema: { type: { min: 0, key: 'string' } },
        sid: { type: { min: 0, key: 'uuid' } },
        cid: { type: { min: 0, key: 'uuid' } },
        index: { type: { min: 0, key: 'integer' } },
      },
    },
  },
};

/** Builds `_Server` describing `databases` and itself. */
export function createServerDatabase(databases: readonly Database[]): Database {
  const server = new Database(buildDatabaseModel(SERVER_SCHEMA), { historyLimit: 0 });
  const inserts = [...databases.map((db) => db.model), server.model].map((model) => ({
    op: 'insert',
    table: 'Database',
    row: { name: model.name, model: 'standalone', connected: true, leader: true, schema: canonicalJson(model.json) },
  }));
  const outcome = server.execute(inserts, { elapsedMs: 0, isLockOwner: () => false });
  if (outcome.kind !== 'done' || outcome.commit === undefined) throw new Error('internal: cannot fill _Server');
  server.readOnly = true;
  return server;
}
