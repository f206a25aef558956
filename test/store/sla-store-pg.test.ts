/**
 * The SLA store's behaviour on both dialects: one conformance suite run
 * against SQLite (through `url: 'sqlite:…'`, :memory: and a temp file) and
 * against a real PostgreSQL cluster from the harness; then what only
 * PostgreSQL does: a change feed shared by replicas (LISTEN/NOTIFY), its
 * reconnect and resync, and writes racing from two stores.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';
import type { Sla } from '../../src/qos/sla.ts';
import {
  MIGRATIONS,
  PG_MIGRATIONS,
  PG_SCHEMA_VERSION,
  SCHEMA_VERSION,
  SLA_LISTENER_APPLICATION_NAME,
  StoreError,
  openClusterStore,
  openSlaStore,
  type Migration,
  type SlaStore,
} from '../../src/store/index.ts';
import { postgresAvailable, startPostgres, type PostgresHandle } from '../harness/postgres.ts';

const A = '3f2b6c1e-8d4a-4c3b-9a1e-0123456789ab';
const B = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';
const C = 'c0ffee00-0000-4000-8000-00000000000c';
const D = 'd0d0d0d0-0000-4000-8000-00000000000d';
const GOLD: Sla = { download: { minRate: 50_000_000, maxRate: 100_000_000 }, upload: { maxRate: 20_000_000 } };
const SILVER: Sla = { download: { maxRate: 10_000_000, burst: 96_000 } };
const HOSE = {
  download: { minRate: 100_000_000, maxRate: 1_000_000_000 },
  upload: { minRate: 50_000_000, maxRate: 500_000_000, burst: 96_000 },
} satisfies Sla;
const PIPES: Sla = {
  ...HOSE,
  peers: [
    { serverId: B, minRate: 10_000_000 },
    { serverId: C, minRate: 20_000_000 },
  ],
};

// ---- backends ------------------------------------------------------------------

type Dialect = 'sqlite' | 'postgres';

interface Backend {
  name: string;
  dialect: Dialect;
  skip: string | false;
  /** The URL of a new, empty database. */
  fresh(): Promise<string>;
  /** Data survives close + reopen of the same URL. */
  persistent: boolean;
}

const tempRoot = mkdtempSync(path.join(tmpdir(), 'cm-sla-store-pg-test-'));
let fileCounter = 0;

// A missing PostgreSQL must fail the PostgreSQL tests when integration is required,
// without taking the SQLite half of this file down with it.
let pgGate: { skip: false } | { skip: string };
let pgGateError: Error | undefined;
try {
  pgGate = postgresAvailable();
} catch (error) {
  pgGateError = error instanceof Error ? error : new Error(String(error));
  pgGate = { skip: false };
}
let pgStarting: Promise<PostgresHandle> | undefined;

/** One cluster for the whole file, started by the first PostgreSQL suite that needs it. */
function pgServer(): Promise<PostgresHandle> {
  if (pgGateError !== undefined) return Promise.reject(pgGateError);
  pgStarting ??= startPostgres();
  return pgStarting;
}

after(async () => {
  await (await pgStarting?.catch(() => undefined))?.stop();
  rmSync(tempRoot, { recursive: true, force: true });
});

const backends: Backend[] = [
  { name: 'SQLite sqlite::memory:', dialect: 'sqlite', skip: false, fresh: () => Promise.resolve('sqlite::memory:'), persistent: false },
  {
    name: 'SQLite temp file',
    dialect: 'sqlite',
    skip: false,
    fresh: () => {
      fileCounter += 1;
      return Promise.resolve(`sqlite:${path.join(tempRoot, `run-${String(fileCounter)}`, 'nested', 'sla.db')}`);
    },
    persistent: true,
  },
  {
    name: 'PostgreSQL',
    dialect: 'postgres',
    skip: pgGate.skip,
    fresh: async () => (await pgServer()).createDatabase(),
    persistent: true,
  },
];

// ---- helpers -------------------------------------------------------------------

function isStoreError(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof StoreError && e.code === code;
}

/** A clock that advances one second per call. */
function steppingClock(): () => Date {
  let t = Date.parse('2025-01-01T00:00:00.000Z');
  return () => new Date((t += 1000));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `check` until it is true; fails naming `what` after `timeoutMs`. Returns the time it took. */
async function waitFor(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const start = performance.now();
  while (!check()) {
    if (performance.now() - start > timeoutMs) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
  return performance.now() - start;
}

type Row = Record<string, unknown>;

/** Runs SQL on the database behind `url` outside the store. */
async function rawQuery(url: string, text: string): Promise<Row[]> {
  if (url.startsWith('sqlite:')) {
    const db = new BetterSqlite3(url.slice('sqlite:'.length));
    try {
      const stmt = db.prepare(text);
      if (!stmt.reader) {
        stmt.run();
        return [];
      }
      return stmt.all() as Row[];
    } finally {
      db.close();
    }
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(text)).rows;
  } finally {
    await client.end();
  }
}

/** The tables (and, on PostgreSQL, sequences) of the database. */
function listRelations(dialect: Dialect): string {
  return dialect === 'sqlite'
    ? "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"
    : "SELECT relname AS name FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'S') ORDER BY relname";
}

function migrationsFor(dialect: Dialect): readonly Migration[] {
  return dialect === 'sqlite' ? MIGRATIONS : PG_MIGRATIONS;
}

// ---- the conformance suite -----------------------------------------------------

for (const backend of backends) {
  describe(`SlaStore conformance by URL (${backend.name})`, { skip: backend.skip }, () => {
    if (backend.dialect === 'postgres') {
      before(async () => {
        await pgServer();
      });
    }
    const migrations = migrationsFor(backend.dialect);
    const currentVersion = backend.dialect === 'sqlite' ? SCHEMA_VERSION : PG_SCHEMA_VERSION;

    async function withStore(fn: (store: SlaStore, url: string) => Promise<void>): Promise<void> {
      const url = await backend.fresh();
      const store = await openSlaStore({ url, now: steppingClock() });
      try {
        await fn(store, url);
      } finally {
        await store.close();
      }
    }

    it('starts empty at the current schema version', () =>
      withStore(async (store) => {
        assert.deepEqual(await store.list(), []);
        assert.equal(await store.get(A), undefined);
        assert.equal(await store.schemaVersion(), currentVersion);
        assert.equal(await store.schemaVersion(), migrations.length);
      }));

    it('put creates version 1 and get returns it', () =>
      withStore(async (store) => {
        assert.deepEqual(await store.put(A, GOLD, { host: 'compute1', source: 'thesis' }), {
          created: true,
          changed: true,
          version: 1,
        });
        assert.deepEqual(await store.get(A), {
          serverId: A,
          sla: GOLD,
          host: 'compute1',
          source: 'thesis',
          version: 1,
          createdAt: '2025-01-01T00:00:01.000Z',
          updatedAt: '2025-01-01T00:00:01.000Z',
        });
      }));

    it('put is idempotent: same SLA → unchanged, same version, same updatedAt', () =>
      withStore(async (store) => {
        await store.put(A, GOLD);
        const reordered: Sla = { upload: { maxRate: 20_000_000 }, download: { maxRate: 100_000_000, minRate: 50_000_000 } };
        assert.deepEqual(await store.put(A, reordered), { created: false, changed: false, version: 1 });
        assert.deepEqual(await store.put(A, GOLD, { source: 'v1' }), { created: false, changed: false, version: 1 });
        const got = await store.get(A);
        assert.ok(got);
        assert.equal(got.version, 1);
        assert.equal(got.updatedAt, got.createdAt);
        assert.equal(got.source, 'v1');
        assert.equal('host' in got, false);
      }));

    it('a different SLA, host or source makes a new version and keeps createdAt', () =>
      withStore(async (store) => {
        await store.put(A, GOLD);
        assert.deepEqual(await store.put(A, SILVER), { created: false, changed: true, version: 2 });
        assert.deepEqual(await store.put(A, SILVER, { source: 'v1', host: 'c2' }), { created: false, changed: true, version: 3 });
        assert.deepEqual(await store.put(A, SILVER, { source: 'thesis', host: 'c2' }), { created: false, changed: true, version: 4 });
        const got = await store.get(A);
        assert.ok(got);
        assert.deepEqual(got.sla, SILVER);
        assert.equal(got.createdAt, '2025-01-01T00:00:01.000Z');
        assert.equal(got.updatedAt, '2025-01-01T00:00:04.000Z');
      }));

    it('keeps the upload guarantee and the peers; peers in another order are the same SLA', () =>
      withStore(async (store) => {
        assert.deepEqual(await store.put(A, PIPES), { created: true, changed: true, version: 1 });
        assert.deepEqual((await store.get(A))?.sla, PIPES);
        const reordered: Sla = {
          peers: [...(PIPES.peers ?? [])].reverse(),
          upload: { burst: 96_000, maxRate: 500_000_000, minRate: 50_000_000 },
          download: HOSE.download,
        };
        assert.deepEqual(await store.put(A, reordered), { created: false, changed: false, version: 1 });
        assert.deepEqual(
          (await store.list()).map((r) => r.sla),
          [PIPES],
        );
        const fewerPeers: Sla = { ...PIPES, peers: [{ serverId: C, minRate: 20_000_000 }] };
        assert.deepEqual(await store.put(A, fewerPeers), { created: false, changed: true, version: 2 });
        assert.deepEqual((await store.get(A))?.sla, fewerPeers);
        assert.deepEqual(await store.put(A, { ...HOSE, peers: [] }), { created: false, changed: true, version: 3 });
        assert.deepEqual((await store.get(A))?.sla, HOSE, 'no peers are left out');
      }));

    it('stores the canonical JSON text', () =>
      withStore(async (store, url) => {
        const scrambled: Sla = { upload: { maxRate: 20_000_000 }, download: { maxRate: 100_000_000, minRate: 50_000_000 } };
        await store.put(A, scrambled);
        if (!backend.persistent) return;
        const rows = await rawQuery(url, 'SELECT sla_json FROM desired_sla');
        assert.deepEqual(rows, [{ sla_json: '{"download":{"minRate":50000000,"maxRate":100000000},"upload":{"maxRate":20000000}}' }]);
      }));

    it('server ids are case-insensitive and must be UUID-like', () =>
      withStore(async (store) => {
        await store.put(A.toUpperCase(), GOLD);
        assert.equal((await store.get(A))?.serverId, A);
        assert.equal((await store.get(A.toUpperCase()))?.serverId, A);
        assert.deepEqual(await store.put(A, GOLD), { created: false, changed: false, version: 1 });
        await assert.rejects(store.put('vm-1', GOLD), isStoreError('CM_ERR_STORE_INVALID'));
        await assert.rejects(store.get('vm-1'), isStoreError('CM_ERR_STORE_INVALID'));
        await assert.rejects(store.delete(''), isStoreError('CM_ERR_STORE_INVALID'));
      }));

    it('refuses invalid SLAs and metadata without writing', () =>
      withStore(async (store) => {
        await assert.rejects(store.put(A, {}), /at least one direction/);
        await assert.rejects(store.put(A, { download: { maxRate: 1.5 } }), isStoreError('CM_ERR_STORE_INVALID'));
        await assert.rejects(store.put(A, { download: { minRate: 5, maxRate: 1 } }), /minRate/);
        await assert.rejects(store.put(A, { upload: { minRate: 5, maxRate: 1 } }), /\/upload\/minRate/);
        await assert.rejects(store.put(A, { download: { maxRate: 1 }, peers: [{ serverId: A, minRate: 1 }] }), /its own peer/);
        await assert.rejects(store.put(A, { download: { maxRate: 1 }, peers: [{ serverId: B, minRate: 0 }] }), /\/peers\/0\/minRate/);
        await assert.rejects(store.put(A, GOLD, { source: 'v2' as 'v1' }), /unknown source/);
        await assert.rejects(store.put(A, GOLD, { source: 'v1', host: ' ' }), /host/);
        await assert.rejects(store.list({ hosts: 'compute1' as unknown as string[] }), isStoreError('CM_ERR_STORE_INVALID'));
        assert.deepEqual(await store.list(), []);
      }));

    it('delete removes and reports whether there was something', () =>
      withStore(async (store) => {
        await store.put(A, GOLD);
        assert.equal(await store.delete(A), true);
        assert.equal(await store.delete(A), false);
        assert.equal(await store.get(A), undefined);
        assert.equal((await store.put(A, GOLD)).version, 1, 'a re-created SLA starts again at version 1');
      }));

    it('list returns all records ordered by server id, or those of some hosts', () =>
      withStore(async (store) => {
        await store.put(B, SILVER);
        await store.put(A, GOLD, { source: 'thesis', host: 'h' });
        await store.put(D, GOLD, { source: 'v1', host: 'h2' });
        const zeros = '00000000-0000-4000-8000-00000000000e';
        const dashy = '0000000a-0000-4000-8000-000000000000';
        await store.put(dashy, SILVER);
        await store.put(zeros, SILVER);
        assert.deepEqual(
          (await store.list()).map((s) => [s.serverId, s.source, s.host]),
          [
            [zeros, 'v1', undefined],
            [dashy, 'v1', undefined],
            [A, 'thesis', 'h'],
            [B, 'v1', undefined],
            [D, 'v1', 'h2'],
          ],
        );
        assert.deepEqual(
          (await store.list({ hosts: ['h2', 'h', 'nowhere'] })).map((s) => s.serverId),
          [A, D],
        );
        assert.deepEqual(
          (await store.list({ hosts: ['h2'] })).map((s) => s.serverId),
          [D],
        );
        assert.deepEqual(await store.list({ hosts: [] }), []);
      }));

    it('the change feed fires after each committed change, not for no-ops', () =>
      withStore(async (store) => {
        const seen: string[] = [];
        const stop = store.onChange((id) => seen.push(id));
        await store.put(A, GOLD);
        await store.put(A, GOLD);
        await store.put(A, SILVER);
        await store.delete(B);
        await store.delete(A);
        await assert.rejects(store.put(B, {}));
        assert.deepEqual(seen, [A, A, A]);
        stop();
        await store.put(B, GOLD);
        assert.deepEqual(seen, [A, A, A]);
      }));

    it('the listener sees the committed state, and a throwing listener does not fail the put', async () => {
      const errors: unknown[] = [];
      const store = await openSlaStore({ url: await backend.fresh(), onListenerError: (e) => errors.push(e) });
      try {
        const reads: Promise<number | undefined>[] = [];
        store.onChange(() => {
          throw new Error('boom');
        });
        store.onChange((id) => {
          reads.push(store.get(id).then((s) => s?.version));
        });
        assert.equal((await store.put(A, GOLD)).changed, true);
        await store.put(A, SILVER);
        assert.deepEqual(await Promise.all(reads), [1, 2]);
        assert.equal(errors.length, 2);
        assert.match(String(errors[0]), /boom/);
      } finally {
        await store.close();
      }
    });

    it('concurrent puts are serialised: every version is distinct and the last one wins', () =>
      withStore(async (store) => {
        const slas: Sla[] = Array.from({ length: 40 }, (_, i) => ({ download: { maxRate: 1_000_000 + i } }));
        const results = await Promise.all(slas.map((sla) => store.put(A, sla)));
        const versions = results.map((r) => r.version).sort((x, y) => x - y);
        assert.deepEqual(
          versions,
          Array.from({ length: 40 }, (_, i) => i + 1),
        );
        assert.equal(results.filter((r) => r.created).length, 1);
        const final = await store.get(A);
        assert.ok(final);
        assert.equal(final.version, 40);
        assert.deepEqual(final.sla, slas[39]);
        const ids = Array.from({ length: 30 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
        await Promise.all(ids.map((id) => store.put(id, GOLD)));
        assert.equal((await store.list()).length, 31);
      }));

    it('close is idempotent, waits for calls in flight, and later calls fail clearly', async () => {
      const store = await openSlaStore({ url: await backend.fresh() });
      const pending = store.put(A, GOLD);
      const closing = store.close();
      assert.equal((await pending).created, true);
      await closing;
      await store.close();
      await assert.rejects(store.get(A), isStoreError('CM_ERR_STORE_CLOSED'));
      await assert.rejects(store.put(A, GOLD), isStoreError('CM_ERR_STORE_CLOSED'));
      await assert.rejects(store.list(), isStoreError('CM_ERR_STORE_CLOSED'));
    });

    // ---- persistence and migrations ------------------------------------------------

    const persistentOnly = { skip: backend.persistent ? false : 'the database does not outlive its store' };

    it('a restart loses nothing: close and reopen keeps records, versions and timestamps', persistentOnly, async () => {
      const url = await backend.fresh();
      const first = await openSlaStore({ url, now: steppingClock() });
      await first.put(A, GOLD, { host: 'compute1', source: 'thesis' });
      await first.put(A, SILVER, { host: 'compute1', source: 'thesis' });
      await first.put(B, GOLD);
      await first.delete(B);
      await first.put(D, PIPES);
      const before = await first.list();
      await first.close();

      const second = await openSlaStore({ url });
      try {
        assert.deepEqual(await second.list(), before);
        assert.equal((await second.get(A))?.version, 2);
        assert.equal((await second.get(A))?.updatedAt, '2025-01-01T00:00:02.000Z');
        assert.deepEqual((await second.get(D))?.sla, PIPES);
        assert.deepEqual(await second.put(A, SILVER, { host: 'compute1', source: 'thesis' }), {
          created: false,
          changed: false,
          version: 2,
        });
      } finally {
        await second.close();
      }
    });

    it('records every migration once', persistentOnly, async () => {
      const url = await backend.fresh();
      await (await openSlaStore({ url })).close();
      await (await openSlaStore({ url })).close();
      const rows = await rawQuery(url, 'SELECT version, name FROM cm_schema_migrations ORDER BY version');
      assert.deepEqual(
        rows,
        migrations.map((m) => ({ version: m.version, name: m.name })),
      );
    });

    it('applies only the new migrations on upgrade, and refuses a newer schema', persistentOnly, async () => {
      const url = await backend.fresh();
      await (await openSlaStore({ url, migrations: migrations.slice(0, 1) })).close();
      const upgraded = await openSlaStore({ url });
      assert.equal(await upgraded.schemaVersion(), migrations.length);
      await upgraded.close();
      await assert.rejects(
        openSlaStore({ url, migrations: migrations.slice(0, 1) }),
        (e: unknown) => isStoreError('CM_ERR_STORE_SCHEMA')(e) && /newer than this agent/.test((e as Error).message),
      );
      const newer: Migration[] = [
        ...migrations,
        {
          version: migrations.length + 1,
          name: 'test: a later agent',
          async up(trx) {
            await sql`CREATE TABLE cm_test_later (x INTEGER)`.execute(trx);
          },
        },
      ];
      await (await openSlaStore({ url, migrations: newer })).close();
      await assert.rejects(openSlaStore({ url }), isStoreError('CM_ERR_STORE_SCHEMA'));
    });

    it('a failing migration rolls back entirely and gives CM_ERR_STORE_OPEN', persistentOnly, async () => {
      const url = await backend.fresh();
      const failing: Migration[] = [
        ...migrations,
        {
          version: migrations.length + 1,
          name: 'fails',
          up: async () => {
            await Promise.resolve();
            throw new Error('disk on fire');
          },
        },
      ];
      await assert.rejects(openSlaStore({ url, migrations: failing }), (e: unknown) => {
        return isStoreError('CM_ERR_STORE_OPEN')(e) && /disk on fire/.test((e as Error).message);
      });
      assert.deepEqual(await rawQuery(url, listRelations(backend.dialect)), [], 'nothing of the failed run is left');
      const store = await openSlaStore({ url });
      assert.equal(await store.schemaVersion(), currentVersion);
      await store.close();
    });

    it('a row damaged by hand is reported as CM_ERR_STORE_CORRUPT', persistentOnly, async () => {
      const url = await backend.fresh();
      const store = await openSlaStore({ url });
      try {
        await store.put(A, GOLD);
        await rawQuery(url, `UPDATE desired_sla SET sla_json = '{"download":{"maxRate":"1e8"}}'`);
        await assert.rejects(store.get(A), isStoreError('CM_ERR_STORE_CORRUPT'));
        await assert.rejects(store.list(), /stored SLA of .* is invalid: \/download\/maxRate/);
        await rawQuery(url, `UPDATE desired_sla SET sla_json = 'not json'`);
        await assert.rejects(store.get(A), isStoreError('CM_ERR_STORE_CORRUPT'));
      } finally {
        await store.close();
      }
    });
  });
}

// ---- opening by URL, without a server --------------------------------------------

describe('openSlaStore by URL', () => {
  it('refuses URLs it does not understand, without leaking the password', async () => {
    await assert.rejects(openSlaStore({ url: 'mysql://cm:s3cret@db/cm' }), (e: unknown) => {
      assert.ok(isStoreError('CM_ERR_STORE_OPEN')(e));
      assert.match((e as Error).message, /cm:\*\*\*@db/);
      assert.doesNotMatch((e as Error).message, /s3cret/);
      return true;
    });
    await assert.rejects(openSlaStore({ url: '' }), isStoreError('CM_ERR_STORE_OPEN'));
    await assert.rejects(openSlaStore({ url: 'sqlite:' }), isStoreError('CM_ERR_STORE_OPEN'));
    const both = { url: 'sqlite::memory:', path: ':memory:' } as unknown as { url: string };
    await assert.rejects(openSlaStore(both), /not both/);
  });

  it('an unreachable PostgreSQL gives CM_ERR_STORE_OPEN without the password', async () => {
    // A port nobody listens on.
    for (const url of ['postgres://cm:s3cret@127.0.0.1:1/cm', 'postgresql://cm@127.0.0.1:1/cm?password=s3cret']) {
      await assert.rejects(openSlaStore({ url }), (e: unknown) => {
        assert.ok(isStoreError('CM_ERR_STORE_OPEN')(e), String(e));
        assert.doesNotMatch((e as Error).message, /s3cret/);
        assert.match((e as Error).message, /127\.0\.0\.1:1/);
        assert.ok((e as Error).cause !== undefined);
        return true;
      });
    }
  });

  it('a sqlite: URL opens the same file as the path, and SQLite has no resync signal', async () => {
    const file = path.join(tempRoot, 'by-url', 'sla.db');
    const byUrl = await openSlaStore({ url: `sqlite:${file}` });
    await byUrl.put(A, GOLD);
    assert.equal('onResync' in byUrl, false);
    await byUrl.close();
    const byPath = await openSlaStore({ path: file });
    try {
      assert.equal((await byPath.get(A))?.version, 1);
    } finally {
      await byPath.close();
    }
  });
});

// ---- PostgreSQL only: replicas sharing one database ------------------------------

describe('SlaStore on PostgreSQL shared by replicas', { skip: pgGate.skip }, () => {
  before(async () => {
    await pgServer();
  });

  async function withReplicas(
    fn: (s1: SlaStore, s2: SlaStore, url: string) => Promise<void>,
    options: { reconnect?: { initialMs: number; maxMs: number } } = {},
  ): Promise<void> {
    const url = await (await pgServer()).createDatabase();
    const [s1, s2] = await Promise.all([openSlaStore({ url, ...options }), openSlaStore({ url, ...options })]);
    try {
      await fn(s1, s2, url);
    } finally {
      await Promise.all([s1.close(), s2.close()]);
    }
  }

  /** Events as they reach a store's listeners. */
  function record(store: SlaStore): string[] {
    const seen: string[] = [];
    store.onChange((id) => seen.push(id));
    return seen;
  }

  /**
   * Writes a marker through `writer` and waits until every `seen` got it.
   * Notifications arrive in commit order, so after the marker nothing written
   * earlier (echoes included) can still be on its way.
   */
  async function settle(writer: SlaStore, marker: string, seen: readonly string[][]): Promise<void> {
    await writer.put(marker, { download: { maxRate: 1_000_000 + Math.floor(Math.random() * 1_000_000) } });
    await waitFor(() => seen.every((s) => s.includes(marker)), 2000, `the marker ${marker} on every store`);
  }

  it('a change written through one store reaches the onChange of another within 1 s', async (t) => {
    await withReplicas(async (s1, s2) => {
      const seen1 = record(s1);
      const seen2 = record(s2);
      const start = performance.now();
      await s1.put(A, GOLD, { host: 'compute1', source: 'v1' });
      await waitFor(() => seen2.includes(A), 1000, 'the put on the other store');
      const putLatency = performance.now() - start;
      assert.ok(putLatency < 1000, `the put took ${putLatency.toFixed(0)} ms to arrive`);
      // When the listener runs, the change is committed and readable there.
      assert.equal((await s2.get(A))?.version, 1);
      const deleteStart = performance.now();
      await s2.delete(A);
      await waitFor(() => seen1.filter((id) => id === A).length === 2, 1000, 'the delete on the first store');
      const deleteLatency = performance.now() - deleteStart;
      assert.ok(deleteLatency < 1000, `the delete took ${deleteLatency.toFixed(0)} ms to arrive`);
      t.diagnostic(`put seen by the other store ${putLatency.toFixed(1)} ms after it was called, delete ${deleteLatency.toFixed(1)} ms`);
      assert.equal(await s1.get(A), undefined);
    });
  });

  it('own writes are reported once (not again by LISTEN), no-ops not at all', async () => {
    await withReplicas(async (s1, s2) => {
      const seen1 = record(s1);
      const seen2 = record(s2);
      await s1.put(A, GOLD);
      await s1.put(A, GOLD); // no-op
      await s1.put(A, SILVER);
      await s1.delete(A);
      await s1.delete(A); // nothing to delete
      // Reported synchronously with the commit, as on SQLite.
      assert.deepEqual(seen1, [A, A, A]);
      await settle(s2, D, [seen1, seen2]);
      assert.deepEqual(seen1, [A, A, A, D], 'no echo of the own writes, and the other store’s write once');
      assert.deepEqual(seen2, [A, A, A, D], 'the other store’s writes once, its own once');
    });
  });

  it('concurrent puts from two stores keep versions consistent, and every change is reported once', async () => {
    await withReplicas(async (s1, s2) => {
      const seen1 = record(s1);
      const seen2 = record(s2);
      const slas: Sla[] = Array.from({ length: 40 }, (_, i) => ({ download: { maxRate: 2_000_000 + i } }));
      const results = await Promise.all(slas.map((sla, i) => (i % 2 === 0 ? s1 : s2).put(A, sla)));
      assert.deepEqual(
        results.map((r) => r.version).sort((x, y) => x - y),
        Array.from({ length: 40 }, (_, i) => i + 1),
      );
      assert.equal(results.filter((r) => r.created).length, 1);
      const last = results.findIndex((r) => r.version === 40);
      const final = await s2.get(A);
      assert.ok(final);
      assert.equal(final.version, 40);
      assert.deepEqual(final.sla, slas[last], 'the record is the put that got the last version');

      // Creates racing on the same new servers: one wins, the other finds its row.
      const ids = Array.from({ length: 20 }, (_, i) => `10000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
      const raced = await Promise.all(ids.flatMap((id) => [s1.put(id, GOLD), s2.put(id, GOLD)]));
      for (let i = 0; i < ids.length; i++) {
        const pair = [raced[2 * i], raced[2 * i + 1]];
        assert.equal(pair.filter((r) => r?.created).length, 1, `one create of ${ids[i]!}`);
        assert.deepEqual(
          pair.map((r) => r?.version),
          [1, 1],
        );
      }
      await settle(s1, D, [seen1, seen2]);
      const count = (seen: string[], id: string): number => seen.filter((x) => x === id).length;
      assert.equal(count(seen1, A), 40);
      assert.equal(count(seen2, A), 40);
      for (const id of ids) {
        assert.equal(count(seen1, id), 1, `${id} on store 1`);
        assert.equal(count(seen2, id), 1, `${id} on store 2`);
      }
    });
  });

  it('a killed LISTEN connection is re-opened, resync fires, and later changes still arrive', async (t) => {
    await withReplicas(
      async (s1, s2, url) => {
        const seen1 = record(s1);
        const seen2 = record(s2);
        let resyncs1 = 0;
        let resyncs2 = 0;
        assert.equal(typeof s1.onResync, 'function');
        s1.onResync?.(() => (resyncs1 += 1));
        s2.onResync?.(() => (resyncs2 += 1));
        const killed = await rawQuery(
          url,
          `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = '${SLA_LISTENER_APPLICATION_NAME}'`,
        );
        assert.deepEqual(killed, [{ killed: true }, { killed: true }], 'both stores’ LISTEN connections');
        const took = await waitFor(() => resyncs1 === 1 && resyncs2 === 1, 5000, 'a resync on both stores');
        t.diagnostic(`resync after ${took.toFixed(0)} ms`);
        // Back to normal: foreign changes arrive, own ones once.
        await s2.put(B, GOLD);
        await waitFor(() => seen1.includes(B), 1000, 'a change after the reconnect');
        await s1.put(C, GOLD);
        await settle(s2, D, [seen1, seen2]);
        assert.deepEqual(seen1, [B, C, D]);
        assert.deepEqual(seen2, [B, C, D]);
        assert.equal(resyncs1, 1);
        assert.equal(resyncs2, 1);
        const listening = await rawQuery(
          url,
          `SELECT count(*)::int AS n FROM pg_stat_activity
            WHERE datname = current_database() AND application_name = '${SLA_LISTENER_APPLICATION_NAME}'`,
        );
        assert.deepEqual(listening, [{ n: 2 }]);
      },
      { reconnect: { initialMs: 20, maxMs: 200 } },
    );
  });

  it('keeps retrying while the database refuses, and close stops the retries', async () => {
    const server = await pgServer();
    const url = await server.createDatabase();
    const dbName = new URL(url).pathname.slice(1);
    const store = await openSlaStore({ url, reconnect: { initialMs: 20, maxMs: 40 } });
    let resyncs = 0;
    store.onResync?.(() => (resyncs += 1));
    // While the database refuses connections, every reconnect attempt fails.
    await rawQuery(server.url, `ALTER DATABASE ${dbName} ALLOW_CONNECTIONS false`);
    try {
      const killed = await rawQuery(
        server.url,
        `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
          WHERE datname = '${dbName}' AND application_name = '${SLA_LISTENER_APPLICATION_NAME}'`,
      );
      assert.deepEqual(killed, [{ killed: true }]);
      await sleep(300);
      assert.equal(resyncs, 0, 'no resync while it cannot listen');
    } finally {
      await rawQuery(server.url, `ALTER DATABASE ${dbName} ALLOW_CONNECTIONS true`);
    }
    await waitFor(() => resyncs === 1, 3000, 'the resync once connections are allowed again');
    await store.close();
    await sleep(300);
    assert.equal(resyncs, 1, 'nothing happens after close');
    const deadline = performance.now() + 3000;
    for (;;) {
      const [row] = await rawQuery(server.url, `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = '${dbName}'`);
      if (row?.n === 0) break;
      if (performance.now() > deadline) assert.fail(`close left ${String(row?.n)} connection(s) behind`);
      await sleep(20);
    }
  });

  it('concurrent opens of a fresh database (SLA and cluster stores) migrate once', async () => {
    const url = await (await pgServer()).createDatabase();
    const stores = await Promise.all([
      openSlaStore({ url }),
      openSlaStore({ url }),
      openClusterStore({ url }),
      openClusterStore({ url }),
    ]);
    try {
      const rows = await rawQuery(url, 'SELECT version FROM cm_schema_migrations ORDER BY version');
      assert.deepEqual(
        rows,
        PG_MIGRATIONS.map((m) => ({ version: m.version })),
      );
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('without a test clock, times come from the database clock', async () => {
    const url = await (await pgServer()).createDatabase();
    // A statement_timestamp() that shadows pg_catalog's for this database: only the database's
    // clock can produce this time.
    await rawQuery(url, 'CREATE SCHEMA fake_clock');
    await rawQuery(
      url,
      `CREATE FUNCTION fake_clock.statement_timestamp() RETURNS timestamptz
         LANGUAGE sql AS $$ SELECT '2001-02-03T04:05:06.789Z'::timestamptz $$`,
    );
    const dbName = new URL(url).pathname.slice(1);
    await rawQuery(url, `ALTER DATABASE ${dbName} SET search_path = public, fake_clock, pg_catalog`);
    const store = await openSlaStore({ url });
    try {
      await store.put(A, GOLD);
      await store.put(A, SILVER);
      const got = await store.get(A);
      assert.ok(got);
      assert.equal(got.createdAt, '2001-02-03T04:05:06.789Z');
      assert.equal(got.updatedAt, '2001-02-03T04:05:06.789Z');
      assert.equal(got.version, 2);
    } finally {
      await store.close();
    }
  });
});
