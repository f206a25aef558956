import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import type { Sla } from '../qos/sla.ts';
import { SCHEMA_VERSION, MIGRATIONS, StoreError, openSlaStore } from './index.ts';

const A = '3f2b6c1e-8d4a-4c3b-9a1e-0123456789ab';
const B = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';
const GOLD: Sla = { download: { minRate: 50_000_000, maxRate: 100_000_000 }, upload: { maxRate: 20_000_000 } };
const SILVER: Sla = { download: { maxRate: 10_000_000, burst: 96_000 } };
const C = 'c0ffee00-0000-4000-8000-00000000000c';
const D = 'd0d0d0d0-0000-4000-8000-00000000000d';
/** Hose guarantees both ways plus pair guarantees, the peers in id order (as stored). */
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

const tempRoot = mkdtempSync(path.join(tmpdir(), 'cm-store-test-'));
after(() => {
  rmSync(tempRoot, { recursive: true, force: true });
});
let fileCounter = 0;
function tempFile(): string {
  fileCounter += 1;
  return path.join(tempRoot, `run-${String(fileCounter)}`, 'nested', 'sla.db');
}

function isStoreError(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof StoreError && e.code === code;
}

/** A clock that advances one second per call. */
function steppingClock(): () => Date {
  let t = Date.parse('2025-01-01T00:00:00.000Z');
  return () => new Date((t += 1000));
}

// The store's conformance suite (every operation, SQLite by URL and PostgreSQL) is test/store/sla-store-pg.test.ts;
// here, what is particular to opening an SQLite file by path.
describe('SlaStore on disk', () => {
  it('a restart loses nothing: close and reopen keeps records, versions and timestamps', async () => {
    const file = tempFile();
    const first = await openSlaStore({ path: file, now: steppingClock() });
    await first.put(A, GOLD, { host: 'compute1', source: 'thesis' });
    await first.put(A, SILVER, { host: 'compute1', source: 'thesis' });
    await first.put(B, GOLD);
    await first.delete(B);
    // Pair guarantees and the upload guarantee live in sla_json too.
    await first.put(D, PIPES);
    const before = await first.list();
    await first.close();

    const second = await openSlaStore({ path: file });
    try {
      assert.deepEqual(await second.list(), before);
      assert.equal((await second.get(A))?.version, 2);
      assert.deepEqual((await second.get(D))?.sla, PIPES);
      assert.deepEqual(await second.put(A, SILVER, { host: 'compute1', source: 'thesis' }), {
        created: false,
        changed: false,
        version: 2,
      });
      assert.equal(await second.schemaVersion(), SCHEMA_VERSION);
    } finally {
      await second.close();
    }
  });

  it('uses WAL mode and records every migration once', async () => {
    const file = tempFile();
    await (await openSlaStore({ path: file })).close();
    await (await openSlaStore({ path: file })).close();
    const raw = new BetterSqlite3(file, { readonly: true });
    try {
      assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
      const rows = raw.prepare('SELECT version, name FROM cm_schema_migrations ORDER BY version').all();
      assert.deepEqual(
        rows,
        MIGRATIONS.map((m) => ({ version: m.version, name: m.name })),
      );
    } finally {
      raw.close();
    }
  });

  it('applies only the new migrations on upgrade, and refuses a newer schema', async () => {
    const file = tempFile();
    await (await openSlaStore({ path: file, migrations: MIGRATIONS.slice(0, 1) })).close();
    const upgraded = await openSlaStore({ path: file });
    assert.equal(await upgraded.schemaVersion(), MIGRATIONS.length);
    await upgraded.close();
    await assert.rejects(
      openSlaStore({ path: file, migrations: MIGRATIONS.slice(0, 1) }),
      (e: unknown) => isStoreError('CM_ERR_STORE_SCHEMA')(e) && /newer than this agent/.test((e as Error).message),
    );
  });

  it('a failing migration rolls back entirely and gives CM_ERR_STORE_OPEN', async () => {
    const file = tempFile();
    const failing = [
      ...MIGRATIONS,
      {
        version: MIGRATIONS.length + 1,
        name: 'fails',
        up: async () => {
          await Promise.resolve();
          throw new Error('disk on fire');
        },
      },
    ];
    await assert.rejects(openSlaStore({ path: file, migrations: failing }), (e: unknown) => {
      return isStoreError('CM_ERR_STORE_OPEN')(e) && /disk on fire/.test((e as Error).message);
    });
    const raw = new BetterSqlite3(file, { readonly: true });
    try {
      const tables = raw.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
      assert.deepEqual(tables, [], 'nothing of the failed run is left');
    } finally {
      raw.close();
    }
    const store = await openSlaStore({ path: file });
    assert.equal(await store.schemaVersion(), SCHEMA_VERSION);
    await store.close();
  });

  it('a corrupt file gives CM_ERR_STORE_OPEN naming the path', async () => {
    const file = tempFile();
    await (await openSlaStore({ path: file })).close();
    const garbage = path.join(path.dirname(file), 'garbage.db');
    writeFileSync(garbage, 'this is not an SQLite database, just text that is long enough to fill a header.\n'.repeat(20));
    await assert.rejects(openSlaStore({ path: garbage }), (e: unknown) => {
      assert.ok(e instanceof StoreError);
      assert.equal(e.code, 'CM_ERR_STORE_OPEN');
      assert.match(e.message, new RegExp(`cannot open the SLA store at ${garbage.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
      assert.match(e.message, /not a database/);
      return true;
    });
  });

  it('an unusable path gives CM_ERR_STORE_OPEN', async () => {
    const blocker = path.join(tempRoot, 'a-file');
    writeFileSync(blocker, 'x');
    await assert.rejects(openSlaStore({ path: path.join(blocker, 'sub', 'sla.db') }), isStoreError('CM_ERR_STORE_OPEN'));
    await assert.rejects(openSlaStore({ path: tempRoot }), isStoreError('CM_ERR_STORE_OPEN'));
    await assert.rejects(openSlaStore({ path: '' }), isStoreError('CM_ERR_STORE_OPEN'));
  });

  it('a row damaged by hand is reported as CM_ERR_STORE_CORRUPT', async () => {
    const file = tempFile();
    const store = await openSlaStore({ path: file });
    await store.put(A, GOLD);
    const raw = new BetterSqlite3(file);
    raw.prepare("UPDATE desired_sla SET sla_json = '{\"download\":{\"maxRate\":\"1e8\"}}'").run();
    raw.close();
    await assert.rejects(store.get(A), isStoreError('CM_ERR_STORE_CORRUPT'));
    await assert.rejects(store.list(), /stored SLA of .* is invalid: \/download\/maxRate/);
    await store.close();
  });
});
