/**
 * The cluster store (agent replicas' membership and host status) on a real
 * PostgreSQL cluster from the harness.
 */
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import pg from 'pg';
import type { ClusterStore, HostStatusRecord } from '../../src/store/cluster-types.ts';
import {
  PG_MIGRATIONS,
  PG_SCHEMA_VERSION,
  StoreError,
  openClusterStore,
  openSlaStore,
  type Migration,
} from '../../src/store/index.ts';
import { postgresAvailable, startPostgres, type PostgresHandle } from '../harness/postgres.ts';

let pgGate: { skip: false } | { skip: string };
let pgGateError: Error | undefined;
try {
  pgGate = postgresAvailable();
} catch (error) {
  pgGateError = error instanceof Error ? error : new Error(String(error));
  pgGate = { skip: false };
}
let pgServer: PostgresHandle | undefined;

function isStoreError(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof StoreError && e.code === code;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

type Row = Record<string, unknown>;

async function rawQuery(url: string, text: string): Promise<Row[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<Row>(text)).rows;
  } finally {
    await client.end();
  }
}

/** The database's clock in ms since the epoch: floor or ceiling, to bracket a truncated time. */
async function dbClock(url: string, round: 'floor' | 'ceil'): Promise<number> {
  const [row] = await rawQuery(url, `SELECT ${round}(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`);
  const ms = row?.ms;
  assert.equal(typeof ms, 'number');
  return ms as number;
}

describe('openClusterStore', () => {
  it('refuses anything but a PostgreSQL URL', async () => {
    for (const url of ['sqlite::memory:', 'sqlite:/tmp/x.db', 'mysql://cm:s3cret@db/cm', '']) {
      await assert.rejects(openClusterStore({ url }), (e: unknown) => {
        assert.ok(isStoreError('CM_ERR_STORE_OPEN')(e), String(e));
        assert.match((e as Error).message, /needs PostgreSQL/);
        assert.doesNotMatch((e as Error).message, /s3cret/);
        return true;
      });
    }
  });

  it('an unreachable PostgreSQL gives CM_ERR_STORE_OPEN without the password', async () => {
    await assert.rejects(openClusterStore({ url: 'postgres://cm:s3cret@127.0.0.1:1/cm' }), (e: unknown) => {
      assert.ok(isStoreError('CM_ERR_STORE_OPEN')(e), String(e));
      assert.doesNotMatch((e as Error).message, /s3cret/);
      assert.match((e as Error).message, /cm:\*\*\*@127\.0\.0\.1:1/);
      return true;
    });
  });
});

describe('ClusterStore on PostgreSQL', { skip: pgGate.skip }, () => {
  before(async () => {
    if (pgGateError !== undefined) throw pgGateError;
    pgServer = await startPostgres();
  });
  after(async () => {
    await pgServer?.stop();
    pgServer = undefined;
  });

  async function fresh(): Promise<string> {
    if (!pgServer) throw new Error('PostgreSQL harness not started');
    return pgServer.createDatabase();
  }

  async function withStore(fn: (store: ClusterStore, url: string) => Promise<void>): Promise<void> {
    const url = await fresh();
    const store = await openClusterStore({ url });
    try {
      await fn(store, url);
    } finally {
      await store.close();
    }
  }

  it('register hands out increasing incarnations, with times by the database clock', () =>
    withStore(async (store, url) => {
      const before = await dbClock(url, 'floor');
      const a1 = await store.register('agent-a', 'https://a:8091', 10_000);
      const b = await store.register('agent-b', 'https://b:8091', 10_000);
      const a2 = await store.register('agent-a', 'https://a2:8091', 20_000);
      const afterMs = await dbClock(url, 'ceil');
      assert.ok(a1.incarnation >= 1);
      assert.ok(a1.incarnation < b.incarnation && b.incarnation < a2.incarnation, JSON.stringify([a1, b, a2]));
      assert.equal(a1.leaseUntil - a1.heartbeatAt, 10_000);
      assert.equal(a2.leaseUntil - a2.heartbeatAt, 20_000);
      for (const m of [a1, b, a2]) {
        assert.ok(Number.isInteger(m.heartbeatAt));
        assert.ok(before <= m.heartbeatAt && m.heartbeatAt <= afterMs, `${m.heartbeatAt} in [${before}, ${afterMs}]`);
      }
      assert.deepEqual(a2, { agentId: 'agent-a', incarnation: a2.incarnation, url: 'https://a2:8091', heartbeatAt: a2.heartbeatAt, leaseUntil: a2.leaseUntil });
      assert.deepEqual(await store.members(), [a2, b]);
    }));

  it('a second store on the same database continues the incarnation sequence', async () => {
    const url = await fresh();
    const [s1, s2] = await Promise.all([openClusterStore({ url }), openClusterStore({ url })]);
    try {
      const regs = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? s1 : s2).register(`agent-${String(i)}`, '', 10_000)),
      );
      const incarnations = regs.map((r) => r.incarnation);
      assert.equal(new Set(incarnations).size, 20, 'no incarnation handed out twice');
      assert.equal((await s2.members()).length, 20);
    } finally {
      await Promise.all([s1.close(), s2.close()]);
    }
  });

  it('heartbeat renews the lease and lists the live members, itself included', () =>
    withStore(async (store) => {
      const a = await store.register('agent-a', 'https://a', 10_000);
      const b = await store.register('agent-b', 'https://b', 10_000);
      await sleep(30);
      const hb = await store.heartbeat('agent-a', a.incarnation, 15_000);
      assert.equal(hb.ok, true);
      const self = hb.members.find((m) => m.agentId === 'agent-a');
      assert.ok(self);
      assert.equal(self.incarnation, a.incarnation);
      assert.ok(self.heartbeatAt >= a.heartbeatAt + 25, `renewed: ${self.heartbeatAt} vs ${a.heartbeatAt}`);
      assert.equal(self.leaseUntil - self.heartbeatAt, 15_000);
      assert.deepEqual(hb.members, [self, b]);
      assert.deepEqual(await store.members(), hb.members, 'the renewal is stored');
    }));

  it('a member whose lease lapsed is not listed, and its heartbeat fails without renewing', () =>
    withStore(async (store) => {
      const a = await store.register('agent-a', 'https://a', 10_000);
      const c = await store.register('agent-c', 'https://c', 200);
      assert.deepEqual(
        (await store.members()).map((m) => m.agentId),
        ['agent-a', 'agent-c'],
      );
      await sleep(350);
      assert.deepEqual(
        (await store.members()).map((m) => m.agentId),
        ['agent-a'],
      );
      const hb = await store.heartbeat('agent-c', c.incarnation, 10_000);
      assert.equal(hb.ok, false);
      assert.deepEqual(
        hb.members.map((m) => [m.agentId, m.incarnation]),
        [['agent-a', a.incarnation]],
      );
      assert.deepEqual(
        (await store.members()).map((m) => m.agentId),
        ['agent-a'],
        'a failed heartbeat renews nothing',
      );
      const again = await store.register('agent-c', 'https://c', 10_000);
      assert.ok(again.incarnation > c.incarnation);
      assert.equal((await store.heartbeat('agent-c', again.incarnation, 10_000)).ok, true);
    }));

  it('re-registering an agent id replaces the old incarnation: its heartbeat fails', () =>
    withStore(async (store) => {
      const old = await store.register('agent-a', 'https://a', 10_000);
      const renewed = await store.register('agent-a', 'https://a', 10_000);
      const stale = await store.heartbeat('agent-a', old.incarnation, 10_000);
      assert.equal(stale.ok, false);
      assert.deepEqual(
        stale.members.map((m) => [m.agentId, m.incarnation]),
        [['agent-a', renewed.incarnation]],
        'the live registration is listed, once',
      );
      assert.equal((await store.heartbeat('agent-a', renewed.incarnation, 10_000)).ok, true);
      assert.equal((await store.heartbeat('agent-a', old.incarnation, 10_000)).ok, false);
      assert.equal((await store.heartbeat('agent-z', 1, 10_000)).ok, false, 'never registered');
    }));

  it('leave removes only that incarnation', () =>
    withStore(async (store) => {
      const old = await store.register('agent-a', 'https://a', 10_000);
      const current = await store.register('agent-a', 'https://a', 10_000);
      const b = await store.register('agent-b', 'https://b', 10_000);
      await store.leave('agent-a', old.incarnation);
      assert.deepEqual(
        (await store.members()).map((m) => m.agentId),
        ['agent-a', 'agent-b'],
        'a predecessor leaving does not remove its successor',
      );
      await store.leave('agent-a', current.incarnation);
      assert.deepEqual(await store.members(), [b]);
      assert.equal((await store.heartbeat('agent-a', current.incarnation, 10_000)).ok, false);
      await store.leave('agent-a', current.incarnation);
    }));

  it('refuses invalid arguments with CM_ERR_STORE_INVALID and writes nothing', () =>
    withStore(async (store) => {
      const invalid = isStoreError('CM_ERR_STORE_INVALID');
      await assert.rejects(store.register('', 'u', 1000), invalid);
      await assert.rejects(store.register('a', 'u', 0), invalid);
      await assert.rejects(store.register('a', 'u', 1.5), invalid);
      await assert.rejects(store.register('a', 'u', Number.NaN), invalid);
      await assert.rejects(store.heartbeat('a', 0, 1000), invalid);
      await assert.rejects(store.heartbeat('a', 1, -5), invalid);
      await assert.rejects(store.leave('a', 1.2), invalid);
      const good = { host: 'h1', agentId: 'a', incarnation: 1, status: {} };
      await assert.rejects(store.publishHostStatus([good, { ...good, host: '' }]), invalid);
      await assert.rejects(store.publishHostStatus([good, { ...good, incarnation: 0 }]), invalid);
      await assert.rejects(store.publishHostStatus([good, { ...good, agentId: '' }]), invalid);
      await assert.rejects(store.publishHostStatus([good, { ...good, status: undefined }]), /status is not JSON-serialisable/);
      await assert.rejects(store.publishHostStatus([good, { ...good, status: { n: 1n } }]), /status is not JSON-serialisable/);
      await assert.rejects(store.hostStatuses('h1' as unknown as string[]), invalid);
      assert.deepEqual(await store.members(), []);
      assert.deepEqual(await store.hostStatuses(), []);
    }));

  it('publishes 10 000 host statuses in one upsert and reads them back (times in a diagnostic)', (t) =>
    withStore(async (store, url) => {
      const hosts = Array.from({ length: 10_000 }, (_, i) => `compute-${String(i).padStart(5, '0')}`);
      const agentA = await store.register('agent-a', 'https://a', 60_000);
      const agentB = await store.register('agent-b', 'https://b', 60_000);
      const first: Omit<HostStatusRecord, 'updatedAt'>[] = hosts.map((host, i) => ({
        host,
        agentId: 'agent-a',
        incarnation: agentA.incarnation,
        status: { ready: i % 2 === 0, ports: [{ id: `p-${String(i)}`, state: 'enforced', "quote\"and\\slash": 'ü' }] },
      }));
      const before = await dbClock(url, 'floor');
      let t0 = performance.now();
      await store.publishHostStatus(first);
      const publishMs = performance.now() - t0;
      t0 = performance.now();
      const read = await store.hostStatuses();
      const readMs = performance.now() - t0;
      const afterMs = await dbClock(url, 'ceil');
      assert.equal(read.length, 10_000);
      assert.deepEqual(
        read.map((r) => r.host),
        hosts,
      );
      for (const [i, r] of read.entries()) {
        assert.deepEqual({ ...r, updatedAt: 0 }, { ...first[i], updatedAt: 0 });
        assert.ok(before <= r.updatedAt && r.updatedAt <= afterMs);
      }

      // Another replica takes half of them over: an upsert, not new rows.
      const takeover = first.slice(0, 5000).map((r) => ({ ...r, agentId: 'agent-b', incarnation: agentB.incarnation, status: { ready: true } }));
      t0 = performance.now();
      await store.publishHostStatus(takeover);
      const updateMs = performance.now() - t0;
      const [count] = await rawQuery(url, 'SELECT count(*)::int AS n FROM cm_host_status');
      assert.deepEqual(count, { n: 10_000 });
      const some = await store.hostStatuses(['compute-00001', 'compute-09999', 'compute-nope']);
      assert.deepEqual(
        some.map((r) => [r.host, r.agentId, r.incarnation, r.status]),
        [
          ['compute-00001', 'agent-b', agentB.incarnation, { ready: true }],
          ['compute-09999', 'agent-a', agentA.incarnation, first[9999]?.status],
        ],
      );
      assert.deepEqual(await store.hostStatuses([]), []);
      const message =
        `10 000 host statuses: publish ${publishMs.toFixed(0)} ms, read ${readMs.toFixed(0)} ms, ` +
        `upsert of 5 000 ${updateMs.toFixed(0)} ms`;
      t.diagnostic(message);
      assert.ok(publishMs < 5000 && readMs < 5000 && updateMs < 5000, message);
    }));

  it('a host repeated in one batch keeps its last record; a null status round-trips', () =>
    withStore(async (store) => {
      const a = (await store.register('a', 'u', 60_000)).incarnation;
      const b = (await store.register('b', 'u', 60_000)).incarnation;
      await store.publishHostStatus([
        { host: 'h1', agentId: 'a', incarnation: a, status: { v: 1 } },
        { host: 'h2', agentId: 'a', incarnation: a, status: null },
        { host: 'h1', agentId: 'b', incarnation: b, status: { v: 2 } },
      ]);
      await store.publishHostStatus([]);
      assert.deepEqual(
        (await store.hostStatuses()).map((r) => [r.host, r.agentId, r.incarnation, r.status]),
        [
          ['h1', 'b', b, { v: 2 }],
          ['h2', 'a', a, null],
        ],
      );
    }));

  it('a replica whose lease ran out or that was replaced publishes nothing; changes are read since a time', () =>
    withStore(async (store) => {
      const old = await store.register('a', 'u', 60_000);
      const current = await store.register('a', 'u', 60_000);
      const short = await store.register('b', 'u', 100);
      await new Promise((resolve) => setTimeout(resolve, 250));
      await store.publishHostStatus([
        { host: 'h1', agentId: 'a', incarnation: old.incarnation, status: { from: 'replaced' } },
        { host: 'h2', agentId: 'b', incarnation: short.incarnation, status: { from: 'expired' } },
        { host: 'h3', agentId: 'a', incarnation: current.incarnation, status: { from: 'live' } },
      ]);
      const all = await store.hostStatuses();
      assert.deepEqual(all.map((r) => [r.host, r.status]), [['h3', { from: 'live' }]]);
      const at = all[0]?.updatedAt ?? 0;
      assert.deepEqual(await store.hostStatusesSince(at), []);
      assert.deepEqual((await store.hostStatusesSince(at - 1)).map((r) => r.host), ['h3']);
      await new Promise((resolve) => setTimeout(resolve, 5));
      await store.publishHostStatus([{ host: 'h4', agentId: 'a', incarnation: current.incarnation, status: {} }]);
      assert.deepEqual((await store.hostStatusesSince(at)).map((r) => r.host), ['h4']);
      // 'b' expired 250 ms ago: kept for 10 s, removed when older than 100 ms.
      assert.equal(await store.removeExpiredMembers(10_000), 0);
      assert.equal(await store.removeExpiredMembers(100), 1);
      assert.deepEqual((await store.members()).map((m) => m.agentId), ['a']);
    }));

  it('every time is the database clock’s, not the replica’s', async () => {
    const url = await fresh();
    // A statement_timestamp() that shadows pg_catalog's for this database.
    await rawQuery(url, 'CREATE SCHEMA fake_clock');
    await rawQuery(
      url,
      `CREATE FUNCTION fake_clock.statement_timestamp() RETURNS timestamptz
         LANGUAGE sql AS $$ SELECT '2001-02-03T04:05:06.789Z'::timestamptz $$`,
    );
    const dbName = new URL(url).pathname.slice(1);
    await rawQuery(url, `ALTER DATABASE ${dbName} SET search_path = public, fake_clock, pg_catalog`);
    const fixed = Date.parse('2001-02-03T04:05:06.789Z');
    const store = await openClusterStore({ url });
    try {
      const a = await store.register('agent-a', 'u', 1000);
      assert.equal(a.heartbeatAt, fixed);
      assert.equal(a.leaseUntil, fixed + 1000);
      // By the database's (frozen) clock the lease never lapses, whatever ours says.
      assert.deepEqual(await store.members(), [a]);
      assert.equal((await store.heartbeat('agent-a', a.incarnation, 1000)).ok, true);
      await store.publishHostStatus([{ host: 'h', agentId: 'agent-a', incarnation: a.incarnation, status: {} }]);
      assert.equal((await store.hostStatuses(['h']))[0]?.updatedAt, fixed);
    } finally {
      await store.close();
    }
  });

  it('shares the SLA store’s schema version, and refuses a newer schema', async () => {
    const url = await fresh();
    const old = await openSlaStore({ url, migrations: PG_MIGRATIONS.slice(0, 1) });
    assert.equal(await old.schemaVersion(), 1);
    await old.close();
    await (await openClusterStore({ url })).close();
    const sla = await openSlaStore({ url });
    assert.equal(await sla.schemaVersion(), PG_SCHEMA_VERSION);
    await sla.close();
    const newer: Migration[] = [
      ...PG_MIGRATIONS,
      {
        version: PG_MIGRATIONS.length + 1,
        name: 'test: a later agent',
        async up(trx) {
          await sql`CREATE TABLE cm_test_later (x INTEGER)`.execute(trx);
        },
      },
    ];
    await (await openClusterStore({ url, migrations: newer })).close();
    await assert.rejects(openClusterStore({ url }), (e: unknown) => {
      return isStoreError('CM_ERR_STORE_SCHEMA')(e) && /newer than this agent/.test((e as Error).message);
    });
  });

  it('close is idempotent, waits for calls in flight, and later calls fail clearly', async () => {
    const url = await fresh();
    const store = await openClusterStore({ url });
    const pending = store.register('agent-a', 'u', 1000);
    const closing = store.close();
    assert.equal((await pending).agentId, 'agent-a');
    await closing;
    await store.close();
    await assert.rejects(store.members(), isStoreError('CM_ERR_STORE_CLOSED'));
    await assert.rejects(store.heartbeat('agent-a', 1, 1000), isStoreError('CM_ERR_STORE_CLOSED'));
  });
});
