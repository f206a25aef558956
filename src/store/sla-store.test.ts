import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import type { Sla } from '../qos/sla.ts';
import { SCHEMA_VERSION, MIGRATIONS, StoreError, openSlaStore, type SlaStore } from './index.ts';

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

const backends: { name: string; path: () => string }[] = [
  { name: ':memory:', path: () => ':memory:' },
  { name: 'temp file', path: tempFile },
];

for (const backend of backends) {
  describe(`SlaStore conformance (${backend.name})`, () => {
    async function withStore(fn: (store: SlaStore) => Promise<void>): Promise<void> {
      const store = await openSlaStore({ path: backend.path(), now: steppingClock() });
      try {
        await fn(store);
      } finally {
        await store.close();
      }
    }

    it('starts empty at the current schema version', () =>
      withStore(async (store) => {
        assert.deepEqual(await store.list(), []);
        assert.equal(await store.get(A), undefined);
        assert.equal(await store.schemaVersion(), SCHEMA_VERSION);
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
        // Same values, different key order.
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
        const reordered: Sla = { peers: [...(PIPES.peers ?? [])].reverse(), upload: { burst: 96_000, maxRate: 500_000_000, minRate: 50_000_000 }, download: HOSE.download };
        assert.deepEqual(await store.put(A, reordered), { created: false, changed: false, version: 1 });
        assert.deepEqual((await store.list()).map((r) => r.sla), [PIPES]);
        const fewerPeers: Sla = { ...PIPES, peers: [{ serverId: C, minRate: 20_000_000 }] };
        assert.deepEqual(await store.put(A, fewerPeers), { created: false, changed: true, version: 2 });
        assert.deepEqual((await store.get(A))?.sla, fewerPeers);
        const noPeers: Sla = { ...HOSE, peers: [] };
        assert.deepEqual(await store.put(A, noPeers), { created: false, changed: true, version: 3 });
        assert.deepEqual((await store.get(A))?.sla, HOSE, 'no peers are left out');
      }));

    it('server ids are case-insensitive and must be UUID-like', () =>
      withStore(async (store) => {
        await store.put(A.toUpperCase(), GOLD);
        assert.equal((await store.get(A))?.serverId, A);
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
        assert.deepEqual(await store.list(), []);
      }));

    it('delete removes and reports whether there was something', () =>
      withStore(async (store) => {
        await store.put(A, GOLD);
        assert.equal(await store.delete(A), true);
        assert.equal(await store.delete(A), false);
        assert.equal(await store.get(A), undefined);
        assert.deepEqual((await store.put(A, GOLD)).version, 1, 'a re-created SLA starts again at version 1');
      }));

    it('list returns all records ordered by server id', () =>
      withStore(async (store) => {
        await store.put(B, SILVER);
        await store.put(A, GOLD, { source: 'thesis', host: 'h' });
        assert.deepEqual(
          (await store.list()).map((s) => [s.serverId, s.source, s.host]),
          [
            [A, 'thesis', 'h'],
            [B, 'v1', undefined],
          ],
        );
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
      const store = await openSlaStore({ path: backend.path(), onListenerError: (e) => errors.push(e) });
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
        // Each read was queued right after its commit, before the next write.
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
        assert.deepEqual(versions, Array.from({ length: 40 }, (_, i) => i + 1));
        assert.equal(results.filter((r) => r.created).length, 1);
        const final = await store.get(A);
        assert.ok(final);
        assert.equal(final.version, 40);
        assert.deepEqual(final.sla, slas[39]);
        // Many servers at once.
        const ids = Array.from({ length: 30 }, (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`);
        await Promise.all(ids.map((id) => store.put(id, GOLD)));
        assert.equal((await store.list()).length, 31);
      }));

    it('close is idempotent, waits for calls in flight, and later calls fail clearly', async () => {
      const store = await openSlaStore({ path: backend.path() });
      const pending = store.put(A, GOLD);
      const closing = store.close();
      assert.equal((await pending).created, true);
      await closing;
      await store.close();
      await assert.rejects(store.get(A), isStoreError('CM_ERR_STORE_CLOSED'));
      await assert.rejects(store.put(A, GOLD), isStoreError('CM_ERR_STORE_CLOSED'));
    });
  });
}

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
