/**
 * One conformance suite for the manager store, run against SQLite (:memory:
 * and a temp file) and against a real PostgreSQL cluster from the harness.
 * Races between two connections run on PostgreSQL only: two SQLite
 * connections in one process would block the event loop in the busy handler.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import {
  MANAGER_MIGRATIONS,
  StoreConflictError,
  StoreError,
  StoreTransitionError,
  TOPOLOGY_STATES,
  PendingManagerStore,
  openManagerStore,
  type ManagerStore,
  type NewTopology,
  type Topology,
  type TopologyState,
  type TopologyUnit,
} from '../../src/store/index.ts';
import { postgresAvailable, startPostgres, type PostgresHandle } from '../harness/postgres.ts';

// ---- backends ------------------------------------------------------------------

interface Backend {
  name: string;
  skip: string | false;
  /** A URL of a new, empty database. */
  fresh(): Promise<string>;
  /** Data survives close + reopen of the same URL. */
  persistent: boolean;
  /** Two stores on one URL may run transactions concurrently. */
  multiConnection: boolean;
}

const tempRoot = mkdtempSync(path.join(tmpdir(), 'cm-manager-store-test-'));
after(() => {
  rmSync(tempRoot, { recursive: true, force: true });
});
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
let pgServer: PostgresHandle | undefined;

const backends: Backend[] = [
  { name: 'SQLite :memory:', skip: false, fresh: () => Promise.resolve('sqlite::memory:'), persistent: false, multiConnection: false },
  {
    name: 'SQLite temp file',
    skip: false,
    fresh: () => {
      fileCounter += 1;
      return Promise.resolve(`sqlite:${path.join(tempRoot, `run-${fileCounter}`, 'nested', 'manager.db')}`);
    },
    persistent: true,
    multiConnection: false,
  },
  {
    name: 'PostgreSQL',
    skip: pgGate.skip,
    fresh: () => {
      if (!pgServer) throw new Error('PostgreSQL harness not started');
      return pgServer.createDatabase();
    },
    persistent: true,
    multiConnection: true,
  },
];

// ---- helpers -------------------------------------------------------------------

/** A clock that advances one second per call, so creation order is time order. */
function steppingClock(start = '2025-01-01T00:00:00.000Z'): () => Date {
  let t = Date.parse(start);
  return () => new Date((t += 1000));
}

function isStoreError(code: string): (e: unknown) => boolean {
  return (e: unknown) => e instanceof StoreError && e.code === code;
}

const UNIT: TopologyUnit = {
  name: 'web-1',
  host: 'compute1',
  serverId: null,
  ports: [{ network: 'net-a', ip: '10.0.0.5' }],
  slaClass: 'gold',
  slaState: null,
};

function newTopology(overrides: Partial<NewTopology> = {}): NewTopology {
  return {
    name: 'shop',
    projectId: 'proj-a',
    strategy: 'spread',
    request: { topology: { units: [{ name: 'web-1' }] }, options: { dryRun: false } },
    stackName: 'cm-shop',
    ...overrides,
  };
}

/** Walks a topology through `states` with transitions (each from the previous state). */
async function walk(store: ManagerStore, t: Topology, states: readonly TopologyState[]): Promise<Topology> {
  let current = t;
  for (const to of states) {
    current = await store.transition(current.id, { from: [current.state], to, message: `to ${to}` });
  }
  return current;
}

const ROUTES: Record<TopologyState, readonly TopologyState[]> = {
  PLANNED: [],
  DEPLOYING: ['DEPLOYING'],
  DEPLOYED: ['DEPLOYING', 'DEPLOYED'],
  ENFORCING: ['DEPLOYING', 'DEPLOYED', 'ENFORCING'],
  ACTIVE: ['DEPLOYING', 'DEPLOYED', 'ENFORCING', 'ACTIVE'],
  FAILED: ['DEPLOYING', 'FAILED'],
  DELETING: ['DEPLOYING', 'DEPLOYED', 'ENFORCING', 'ACTIVE', 'DELETING'],
  DELETED: ['DEPLOYING', 'DEPLOYED', 'ENFORCING', 'ACTIVE', 'DELETING', 'DELETED'],
};

// ---- the suite -----------------------------------------------------------------

for (const backend of backends) {
  describe(`ManagerStore conformance (${backend.name})`, { skip: backend.skip }, () => {
    if (backend.name === 'PostgreSQL') {
      before(async () => {
        if (pgGateError !== undefined) throw pgGateError;
        pgServer = await startPostgres();
      });
      after(async () => {
        await pgServer?.stop();
        pgServer = undefined;
      });
    }

    async function withStore(fn: (store: ManagerStore, url: string) => Promise<void>): Promise<void> {
      const url = await backend.fresh();
      const store = await openManagerStore({ url, now: steppingClock() });
      try {
        await fn(store, url);
      } finally {
        await store.close();
      }
    }

    it('opens at the current schema; migrate again is a no-op', () =>
      withStore(async (store, url) => {
        assert.equal(store.dialect, backend.name === 'PostgreSQL' ? 'postgres' : 'sqlite');
        assert.deepEqual(await store.migrate(), []);
        assert.deepEqual(await store.migrate(), []);
        assert.deepEqual(await store.listTopologies(), { items: [], nextCursor: null });
        if (backend.persistent) {
          const again = await openManagerStore({ url });
          try {
            assert.deepEqual(await again.migrate(), []);
          } finally {
            await again.close();
          }
        }
      }));

    const persistentOnly = { skip: backend.persistent ? false : 'the database does not outlive its store' };

    it('applies an appended migration once and refuses a schema newer than the code', persistentOnly, async () => {
      const url = await backend.fresh();
      const extra = [
        ...MANAGER_MIGRATIONS,
        {
          id: MANAGER_MIGRATIONS.length + 1,
          name: 'test: extra table',
          async up(trx: Parameters<(typeof MANAGER_MIGRATIONS)[number]['up']>[0]) {
            await sql`CREATE TABLE cm_test_extra (x INTEGER)`.execute(trx);
          },
        },
      ];
      const first = await openManagerStore({ url, migrations: extra });
      assert.deepEqual(await first.migrate(), []);
      await first.close();
      const second = await openManagerStore({ url, migrations: extra });
      assert.deepEqual(await second.migrate(), []);
      await second.close();
      await assert.rejects(openManagerStore({ url }), isStoreError('CM_ERR_STORE_SCHEMA'));
    });

    it('creates with defaults, a creation event, and gets by id (case-insensitively)', () =>
      withStore(async (store) => {
        const { topology: t, created } = await store.createTopology(newTopology({ units: [UNIT] }));
        assert.equal(created, true);
        assert.match(t.id, /^[0-9a-f-]{36}$/);
        assert.deepEqual(t, {
          id: t.id,
          name: 'shop',
          projectId: 'proj-a',
          state: 'PLANNED',
          strategy: 'spread',
          request: { topology: { units: [{ name: 'web-1' }] }, options: { dryRun: false } },
          plan: null,
          stackName: 'cm-shop',
          stackId: null,
          units: [UNIT],
          error: null,
          attempts: 0,
          idempotencyKey: null,
          deployRequestedAt: null,
          lease: null,
          createdAt: '2025-01-01T00:00:01.000Z',
          updatedAt: '2025-01-01T00:00:01.000Z',
          version: 1,
        });
        assert.deepEqual(await store.getTopology(t.id), t);
        assert.deepEqual(await store.getTopology(t.id.toUpperCase()), t);
        assert.equal(await store.getTopology('3f2b6c1e-8d4a-4c3b-9a1e-0123456789ab'), undefined);
        assert.equal(await store.getTopology('not-a-uuid'), undefined);
        const events = await store.events(t.id);
        assert.deepEqual(events, [
          {
            topologyId: t.id,
            seq: 1,
            at: '2025-01-01T00:00:01.000Z',
            state: 'PLANNED',
            fromState: null,
            message: 'created',
            details: null,
          },
        ]);
      }));

    it('keeps a given id and an initial plan; a taken id is a conflict', () =>
      withStore(async (store) => {
        const id = '3F2B6C1E-8D4A-4C3B-9A1E-0123456789AB';
        const { topology } = await store.createTopology(newTopology({ id, plan: { placements: { 'web-1': 'compute1' } } }));
        assert.equal(topology.id, id.toLowerCase());
        assert.deepEqual(topology.plan, { placements: { 'web-1': 'compute1' } });
        await assert.rejects(store.createTopology(newTopology({ id })), (e: unknown) => {
          assert.ok(e instanceof StoreConflictError);
          assert.equal(e.code, 'CM_ERR_STORE_CONFLICT');
          return true;
        });
        assert.equal((await store.listTopologies()).items.length, 1);
      }));

    it('rejects invalid input with CM_ERR_STORE_INVALID and writes nothing', () =>
      withStore(async (store) => {
        const invalid = isStoreError('CM_ERR_STORE_INVALID');
        await assert.rejects(store.createTopology(newTopology({ name: '' })), invalid);
        await assert.rejects(store.createTopology(newTopology({ id: 'nope' })), invalid);
        await assert.rejects(store.createTopology(newTopology({ state: 'BOGUS' as TopologyState })), invalid);
        await assert.rejects(store.createTopology(newTopology({ request: undefined })), invalid);
        await assert.rejects(store.createTopology(newTopology({ request: { n: 1n } })), invalid);
        await assert.rejects(store.createTopology(newTopology({ deployRequestedAt: 'yesterday' })), invalid);
        await assert.rejects(store.listTopologies({ limit: 0 }), invalid);
        await assert.rejects(store.listTopologies({ cursor: 'garbage' }), invalid);
        assert.deepEqual((await store.listTopologies()).items, []);
      }));

    it('an idempotency key returns the first record within a project', () =>
      withStore(async (store) => {
        const first = await store.createTopology(newTopology({ idempotencyKey: 'req-1' }));
        const again = await store.createTopology(newTopology({ idempotencyKey: 'req-1', name: 'different' }));
        assert.equal(first.created, true);
        assert.equal(again.created, false);
        assert.deepEqual(again.topology, first.topology);
        const otherProject = await store.createTopology(newTopology({ idempotencyKey: 'req-1', projectId: 'proj-b' }));
        assert.equal(otherProject.created, true);
        assert.notEqual(otherProject.topology.id, first.topology.id);
        const noKey1 = await store.createTopology(newTopology());
        const noKey2 = await store.createTopology(newTopology());
        assert.equal(noKey1.created && noKey2.created, true);
        assert.equal((await store.listTopologies()).items.length, 4);
        assert.equal((await store.events(first.topology.id)).length, 1);
      }));

    it('lists with keyset paging and project/state filters', () =>
      withStore(async (store) => {
        const made: Topology[] = [];
        for (let i = 0; i < 7; i++) {
          const { topology } = await store.createTopology(
            newTopology({ name: `t${i}`, projectId: i % 2 === 0 ? 'proj-a' : 'proj-b' }),
          );
          made.push(i % 3 === 0 ? await walk(store, topology, ['DEPLOYING']) : topology);
        }
        const pages: Topology[][] = [];
        let cursor: string | null = null;
        do {
          const page = await store.listTopologies({ limit: 3, cursor });
          pages.push(page.items);
          cursor = page.nextCursor;
        } while (cursor !== null);
        assert.deepEqual(
          pages.map((p) => p.length),
          [3, 3, 1],
        );
        assert.deepEqual(
          pages.flat().map((t) => t.name),
          made.map((t) => t.name),
        );
        assert.deepEqual(pages.flat(), made);

        // Exactly a page full: no dangling cursor to an empty page.
        const exact = await store.listTopologies({ limit: 7 });
        assert.equal(exact.items.length, 7);
        assert.equal(exact.nextCursor, null);

        const a = await store.listTopologies({ projectId: 'proj-a' });
        assert.deepEqual(
          a.items.map((t) => t.name),
          ['t0', 't2', 't4', 't6'],
        );
        const aPage1 = await store.listTopologies({ projectId: 'proj-a', limit: 2 });
        assert.ok(aPage1.nextCursor);
        const aPage2 = await store.listTopologies({ projectId: 'proj-a', limit: 2, cursor: aPage1.nextCursor });
        assert.deepEqual(
          aPage2.items.map((t) => t.name),
          ['t4', 't6'],
        );
        assert.equal(aPage2.nextCursor, null);

        const deploying = await store.listTopologies({ states: ['DEPLOYING'] });
        assert.deepEqual(
          deploying.items.map((t) => t.name),
          ['t0', 't3', 't6'],
        );
        const both = await store.listTopologies({ states: ['DEPLOYING', 'PLANNED'], projectId: 'proj-b' });
        assert.deepEqual(
          both.items.map((t) => t.name),
          ['t1', 't3', 't5'],
        );
        assert.deepEqual(await store.listTopologies({ states: [] }), { items: [], nextCursor: null });
        assert.deepEqual((await store.listTopologies({ projectId: 'nobody' })).items, []);
      }));

    it('counts topologies per state in one query (every state present)', () =>
      withStore(async (store) => {
        const zero = await store.countByState();
        assert.deepEqual(Object.values(zero), TOPOLOGY_STATES.map(() => 0));
        const a = (await store.createTopology(newTopology({ name: 'a' }))).topology;
        await store.createTopology(newTopology({ name: 'b' }));
        await store.transition(a.id, { from: ['PLANNED'], to: 'DEPLOYING', message: 'go' });
        const counts = await store.countByState();
        assert.equal(counts.PLANNED, 1);
        assert.equal(counts.DEPLOYING, 1);
        assert.equal(Object.values(counts).reduce((x, y) => x + y, 0), 2);
        assert.deepEqual(Object.keys(counts).sort(), [...TOPOLOGY_STATES].sort());
      }));

    it('updates with optimistic concurrency', () =>
      withStore(async (store) => {
        const { topology: t } = await store.createTopology(newTopology());
        const plan = { placements: [{ unit: 'web-1', host: 'compute2' }] };
        const u1 = await store.updateTopology(
          t.id,
          { plan, units: [UNIT], attempts: 1, stackId: 'stack-123', error: { code: 'E', message: 'm', details: { x: 1 } } },
          { expectedVersion: 1 },
        );
        assert.equal(u1.version, 2);
        assert.deepEqual(u1.plan, plan);
        assert.deepEqual(u1.units, [UNIT]);
        assert.equal(u1.attempts, 1);
        assert.equal(u1.stackId, 'stack-123');
        assert.deepEqual(u1.error, { code: 'E', message: 'm', details: { x: 1 } });
        assert.equal(u1.state, 'PLANNED');
        assert.ok(u1.updatedAt > t.updatedAt);
        assert.equal(u1.createdAt, t.createdAt);

        await assert.rejects(store.updateTopology(t.id, { attempts: 9 }, { expectedVersion: 1 }), (e: unknown) => {
          assert.ok(e instanceof StoreConflictError);
          assert.equal(e.code, 'CM_ERR_STORE_CONFLICT');
          assert.equal(e.expectedVersion, 1);
          assert.equal(e.actualVersion, 2);
          return true;
        });
        assert.deepEqual(await store.getTopology(t.id), u1);

        const u2 = await store.updateTopology(t.id, { error: null, plan: null, stackId: null }, { expectedVersion: 2 });
        assert.equal(u2.error, null);
        assert.equal(u2.plan, null);
        assert.equal(u2.stackId, null);
        assert.equal(u2.version, 3);

        await assert.rejects(
          store.updateTopology('3f2b6c1e-8d4a-4c3b-9a1e-0123456789ab', {}, { expectedVersion: 1 }),
          isStoreError('CM_ERR_STORE_NOT_FOUND'),
        );
        await assert.rejects(
          store.updateTopology(t.id, { state: 'ACTIVE' } as never, { expectedVersion: 3 }),
          isStoreError('CM_ERR_STORE_INVALID'),
        );
        // Updates are not transitions: the history only has the creation.
        assert.equal((await store.events(t.id)).length, 1);
      }));

    it('transitions state, patch and event together; an illegal from-state changes nothing', () =>
      withStore(async (store) => {
        const { topology: t } = await store.createTopology(newTopology());
        const d = await store.transition(t.id, {
          from: ['PLANNED'],
          to: 'DEPLOYING',
          message: 'stack create requested',
          patch: { stackId: 'stack-1', attempts: 1 },
          details: { heat: { status: 'CREATE_IN_PROGRESS' } },
        });
        assert.equal(d.state, 'DEPLOYING');
        assert.equal(d.version, 2);
        assert.equal(d.stackId, 'stack-1');
        assert.equal(d.attempts, 1);

        const before = await store.getTopology(t.id);
        const eventsBefore = await store.events(t.id);
        await assert.rejects(
          store.transition(t.id, { from: ['PLANNED', 'FAILED'], to: 'DEPLOYING', message: 'again', patch: { attempts: 5 } }),
          (e: unknown) => {
            assert.ok(e instanceof StoreTransitionError);
            assert.equal(e.code, 'CM_ERR_STORE_TRANSITION');
            assert.equal(e.actualState, 'DEPLOYING');
            assert.deepEqual(e.allowedFrom, ['PLANNED', 'FAILED']);
            return true;
          },
        );
        await assert.rejects(
          store.transition(t.id, { from: ['DEPLOYING'], to: 'DEPLOYED', message: 'stale', expectedVersion: 1 }),
          (e: unknown) => e instanceof StoreConflictError && e.actualVersion === 2,
        );
        assert.deepEqual(await store.getTopology(t.id), before);
        assert.deepEqual(await store.events(t.id), eventsBefore);

        await assert.rejects(
          store.transition('3f2b6c1e-8d4a-4c3b-9a1e-0123456789ab', { from: ['PLANNED'], to: 'DEPLOYING', message: 'x' }),
          isStoreError('CM_ERR_STORE_NOT_FOUND'),
        );
        const invalid = isStoreError('CM_ERR_STORE_INVALID');
        await assert.rejects(store.transition(t.id, { from: [], to: 'DEPLOYED', message: 'x' }), invalid);
        await assert.rejects(store.transition(t.id, { from: ['DEPLOYING'], to: 'NOPE' as TopologyState, message: 'x' }), invalid);
        await assert.rejects(store.transition(t.id, { from: ['DEPLOYING'], to: 'DEPLOYED', message: '' }), invalid);
        assert.deepEqual(await store.getTopology(t.id), before);
      }));

    it('records events in order, one per transition', () =>
      withStore(async (store) => {
        const { topology: t } = await store.createTopology(newTopology());
        const route: TopologyState[] = ['DEPLOYING', 'DEPLOYED', 'ENFORCING', 'ACTIVE', 'DELETING', 'DELETED'];
        await walk(store, t, route);
        const events = await store.events(t.id);
        assert.deepEqual(
          events.map((e) => e.seq),
          [1, 2, 3, 4, 5, 6, 7],
        );
        assert.deepEqual(
          events.map((e) => e.state),
          ['PLANNED', ...route],
        );
        assert.deepEqual(
          events.map((e) => e.fromState),
          [null, 'PLANNED', ...route.slice(0, -1)],
        );
        assert.deepEqual(
          events.map((e) => e.message),
          ['created', ...route.map((s) => `to ${s}`)],
        );
        const times = events.map((e) => e.at);
        assert.deepEqual(times, [...times].sort());
        assert.equal((await store.getTopology(t.id))?.version, 7);
        assert.deepEqual(await store.events('3f2b6c1e-8d4a-4c3b-9a1e-0123456789ab'), []);
        assert.deepEqual(await store.events('bogus'), []);
      }));

    it('claimResumable: in-flight only, one owner at a time, expired leases reclaimable', () =>
      withStore(async (store) => {
        const byState = new Map<TopologyState, string>();
        for (const state of TOPOLOGY_STATES) {
          const { topology } = await store.createTopology(newTopology({ name: state.toLowerCase() }));
          byState.set(state, (await walk(store, topology, ROUTES[state])).id);
        }
        const { topology: accepted } = await store.createTopology(
          newTopology({ name: 'accepted', deployRequestedAt: '2025-01-01T00:00:00Z' }),
        );
        const expected = new Set([
          byState.get('DEPLOYING'),
          byState.get('DEPLOYED'),
          byState.get('ENFORCING'),
          byState.get('DELETING'),
          accepted.id,
        ]);

        const t0 = new Date('2025-06-01T00:00:00.000Z');
        const leaseMs = 30_000;
        const a = await store.claimResumable('manager-a', t0, leaseMs);
        assert.deepEqual(new Set(a.map((t) => t.id)), expected);
        for (const t of a) assert.deepEqual(t.lease, { owner: 'manager-a', until: '2025-06-01T00:00:30.000Z' });
        // Leases are not content: the version stays.
        assert.equal(a.find((t) => t.id === accepted.id)?.version, 1);

        assert.deepEqual(await store.claimResumable('manager-b', new Date(t0.getTime() + 1000), leaseMs), []);
        // The owner itself (e.g. restarted with the same id) gets its rows back, with a fresh lease.
        const again = await store.claimResumable('manager-a', new Date(t0.getTime() + 2000), leaseMs);
        assert.equal(again.length, expected.size);
        assert.equal(again[0]?.lease?.until, '2025-06-01T00:00:32.000Z');

        const expired = new Date(t0.getTime() + 2000 + leaseMs);
        const b = await store.claimResumable('manager-b', expired, leaseMs);
        assert.deepEqual(new Set(b.map((t) => t.id)), expected);
        assert.equal(await store.renewLease(accepted.id, 'manager-a', expired, leaseMs), false);
        assert.equal(await store.renewLease(accepted.id, 'manager-b', expired, 60_000), true);
        assert.equal((await store.getTopology(accepted.id))?.lease?.until, '2025-06-01T00:01:32.000Z');

        assert.equal(await store.releaseLease(accepted.id, 'manager-a'), false);
        assert.equal(await store.releaseLease(accepted.id, 'manager-b'), true);
        assert.equal((await store.getTopology(accepted.id))?.lease, null);
        const afterRelease = await store.claimResumable('manager-a', expired, leaseMs);
        assert.deepEqual(
          afterRelease.map((t) => t.id),
          [accepted.id],
        );

        // Reaching a terminal state drops the lease; terminal rows never come back, however late.
        const deleting = byState.get('DELETING')!;
        const done = await store.transition(deleting, { from: ['DELETING'], to: 'DELETED', message: 'gone' });
        assert.equal(done.lease, null);
        const late = await store.claimResumable('manager-c', new Date('2030-01-01T00:00:00Z'), leaseMs);
        const lateIds = new Set(late.map((t) => t.id));
        assert.equal(lateIds.size, expected.size - 1);
        for (const state of ['ACTIVE', 'FAILED', 'DELETED', 'PLANNED'] as const) {
          assert.ok(!lateIds.has(byState.get(state)!), `${state} must not be claimed`);
        }
        assert.ok(!lateIds.has(deleting));

        const limited = await store.claimResumable('manager-d', new Date('2031-01-01T00:00:00Z'), leaseMs, { limit: 2 });
        assert.equal(limited.length, 2);
        await assert.rejects(store.claimResumable('', t0, leaseMs), isStoreError('CM_ERR_STORE_INVALID'));
        await assert.rejects(store.claimResumable('x', t0, 0), isStoreError('CM_ERR_STORE_INVALID'));
      }));

    it('keeps everything across close and reopen', persistentOnly, async () => {
      const url = await backend.fresh();
      const first = await openManagerStore({ url, now: steppingClock() });
      const { topology } = await first.createTopology(newTopology({ idempotencyKey: 'k', units: [UNIT] }));
      const moved = await first.transition(topology.id, { from: ['PLANNED'], to: 'DEPLOYING', message: 'go', details: { n: 1 } });
      const [claimed] = await first.claimResumable('m1', new Date('2025-02-01T00:00:00Z'), 10_000);
      const events = await first.events(topology.id);
      await first.close();
      await assert.rejects(first.getTopology(topology.id), isStoreError('CM_ERR_STORE_CLOSED'));

      const second = await openManagerStore({ url });
      try {
        assert.deepEqual(await second.getTopology(topology.id), { ...moved, lease: claimed?.lease ?? null });
        assert.deepEqual(await second.events(topology.id), events);
        const dup = await second.createTopology(newTopology({ idempotencyKey: 'k' }));
        assert.equal(dup.created, false);
        assert.equal(dup.topology.id, topology.id);
      } finally {
        await second.close();
      }
    });

    it('reports open failures as CM_ERR_STORE_OPEN', async () => {
      await assert.rejects(openManagerStore({ url: 'mysql://x/y' }), isStoreError('CM_ERR_STORE_OPEN'));
      await assert.rejects(openManagerStore({ url: 'sqlite:' }), isStoreError('CM_ERR_STORE_OPEN'));
      if (backend.name === 'PostgreSQL' && pgServer) {
        // A port nobody listens on; the message must not leak the password.
        const url = `postgres://cm:s3cret@127.0.0.1:1/postgres`;
        await assert.rejects(openManagerStore({ url }), (e: unknown) => {
          assert.ok(isStoreError('CM_ERR_STORE_OPEN')(e));
          assert.doesNotMatch((e as Error).message, /s3cret/);
          assert.ok((e as Error).cause !== undefined);
          return true;
        });
      }
    });

    // ---- the service catalog ------------------------------------------------------

    const DOC = '{\n  "service_type": "Broker"\n}';

    it('keeps service types: create, get, list by name, put (the same document: nothing written), delete; every change moves the revision', () =>
      withStore(async (store) => {
        assert.equal(await store.serviceCatalogRevision(), 0);
        assert.deepEqual(await store.listServiceTypes(), { revision: 0, items: [] });
        const created = await store.createServiceType('Broker', DOC);
        assert.deepEqual({ ...created, createdAt: 'x', updatedAt: 'x' }, { serviceType: 'Broker', document: DOC, version: 1, createdAt: 'x', updatedAt: 'x' });
        assert.equal(created.createdAt, created.updatedAt);
        assert.equal(await store.serviceCatalogRevision(), 1);
        await assert.rejects(store.createServiceType('Broker', DOC), (e: unknown) => e instanceof StoreConflictError);
        assert.equal(await store.serviceCatalogRevision(), 1, 'a refused write moves nothing');
        assert.deepEqual(await store.getServiceType('Broker'), created);
        assert.equal(await store.getServiceType('broker'), undefined, 'names are case-sensitive');

        const same = await store.putServiceType('Broker', DOC);
        assert.deepEqual(same, { serviceType: created, created: false, changed: false });
        assert.equal(await store.serviceCatalogRevision(), 1);
        const replaced = await store.putServiceType('Broker', `${DOC}\n`);
        assert.equal(replaced.created, false);
        assert.equal(replaced.changed, true);
        assert.equal(replaced.serviceType.version, 2);
        assert.equal(replaced.serviceType.createdAt, created.createdAt);
        assert.ok(replaced.serviceType.updatedAt > created.updatedAt);
        const added = await store.putServiceType('Controller', '{}');
        assert.equal(added.created, true);
        assert.equal(added.serviceType.version, 1);

        const listed = await store.listServiceTypes();
        assert.equal(listed.revision, 3);
        assert.deepEqual(listed.items.map((t) => [t.serviceType, t.version, t.document]), [['Broker', 2, `${DOC}\n`], ['Controller', 1, '{}']]);
        assert.equal(await store.deleteServiceType('Controller'), true);
        assert.equal(await store.deleteServiceType('Controller'), false);
        assert.equal(await store.serviceCatalogRevision(), 4);
        await assert.rejects(store.createServiceType('', DOC), isStoreError('CM_ERR_STORE_INVALID'));
        await assert.rejects(store.putServiceType('X', ''), isStoreError('CM_ERR_STORE_INVALID'));
      }));

    it('refuses a new service type beyond maxEntries with CM_ERR_STORE_LIMIT; replacing one is not adding one', () =>
      withStore(async (store) => {
        await store.createServiceType('A', '{}', { maxEntries: 2 });
        await store.putServiceType('B', '{}', { maxEntries: 2 });
        await assert.rejects(store.createServiceType('C', '{}', { maxEntries: 2 }), isStoreError('CM_ERR_STORE_LIMIT'));
        await assert.rejects(store.putServiceType('C', '{}', { maxEntries: 2 }), isStoreError('CM_ERR_STORE_LIMIT'));
        assert.equal((await store.putServiceType('B', '[]', { maxEntries: 2 })).serviceType.version, 2);
        assert.deepEqual((await store.listServiceTypes()).items.map((t) => t.serviceType), ['A', 'B']);
      }));

    it('keeps the catalog across close and reopen, and a database of the first schema gains it on upgrade', persistentOnly, async () => {
      const url = await backend.fresh();
      const old = await openManagerStore({ url, migrations: MANAGER_MIGRATIONS.slice(0, 1) });
      const { topology } = await old.createTopology(newTopology());
      await old.close();
      const first = await openManagerStore({ url });
      assert.deepEqual((await first.getTopology(topology.id))?.id, topology.id);
      const stored = await first.createServiceType('Broker', DOC);
      await first.close();
      const second = await openManagerStore({ url });
      try {
        assert.deepEqual(await second.listServiceTypes(), { revision: 1, items: [stored] });
      } finally {
        await second.close();
      }
    });

    it('a PendingManagerStore refuses with CM_ERR_STORE_OPEN (saying why) until a store is attached, then serves from it', async () => {
      const url = await backend.fresh();
      const pending = new PendingManagerStore(url);
      assert.equal(pending.dialect, backend.name === 'PostgreSQL' ? 'postgres' : 'sqlite');
      assert.equal(pending.isOpen, false);
      pending.notOpen('connect ECONNREFUSED');
      await assert.rejects(pending.listServiceTypes(), (e: unknown) => isStoreError('CM_ERR_STORE_OPEN')(e) && /connect ECONNREFUSED/.test((e as Error).message));
      await assert.rejects(pending.getTopology('00000000-0000-4000-8000-000000000000'), isStoreError('CM_ERR_STORE_OPEN'));
      await pending.attach(await openManagerStore({ url }));
      assert.equal(pending.isOpen, true);
      const { topology } = await pending.createTopology(newTopology());
      assert.equal((await pending.getTopology(topology.id))?.id, topology.id);
      await pending.close();
      await assert.rejects(pending.getTopology(topology.id), isStoreError('CM_ERR_STORE_CLOSED'));
      // A store opened after close() (a retry that was already under way) is closed, not served.
      const late = await openManagerStore({ url });
      await pending.attach(late);
      await assert.rejects(late.getTopology(topology.id), isStoreError('CM_ERR_STORE_CLOSED'));
      assert.throws(() => new PendingManagerStore('mysql://x/y'), isStoreError('CM_ERR_STORE_OPEN'));
    });

    // ---- races between connections ----------------------------------------------

    const racing = { skip: backend.multiConnection ? false : 'needs two connections to one database' };

    async function withTwoStores(fn: (s1: ManagerStore, s2: ManagerStore) => Promise<void>): Promise<void> {
      const url = await backend.fresh();
      const [s1, s2] = await Promise.all([openManagerStore({ url }), openManagerStore({ url })]);
      try {
        await fn(s1, s2);
      } finally {
        await Promise.all([s1.close(), s2.close()]);
      }
    }

    it('concurrent opens of a fresh database migrate once', racing, async () => {
      const url = await backend.fresh();
      const stores = await Promise.all([1, 2, 3, 4].map(() => openManagerStore({ url })));
      try {
        for (const s of stores) assert.deepEqual(await s.migrate(), []);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    });

    it('concurrent transitions from two connections: exactly one wins', racing, () =>
      withTwoStores(async (s1, s2) => {
        for (let round = 0; round < 10; round++) {
          const { topology: t } = await s1.createTopology(newTopology({ name: `race-${round}` }));
          const results = await Promise.allSettled([
            s1.transition(t.id, { from: ['PLANNED'], to: 'DEPLOYING', message: 'manager 1 deploys' }),
            s2.transition(t.id, { from: ['PLANNED'], to: 'DELETING', message: 'manager 2 deletes' }),
          ]);
          const won = results.filter((r) => r.status === 'fulfilled');
          const lost = results.filter((r) => r.status === 'rejected');
          assert.equal(won.length, 1, `round ${round}: exactly one transition wins`);
          assert.ok(lost[0]?.reason instanceof StoreTransitionError, `round ${round}: ${String(lost[0]?.reason)}`);
          const winner = won[0]!.value;
          const events = await s2.events(t.id);
          assert.deepEqual(
            events.map((e) => [e.seq, e.state]),
            [
              [1, 'PLANNED'],
              [2, winner.state],
            ],
          );
          assert.equal((await s2.getTopology(t.id))?.version, 2);
        }
      }));

    it('concurrent updates at one version from two connections: one conflicts', racing, () =>
      withTwoStores(async (s1, s2) => {
        const { topology: t } = await s1.createTopology(newTopology());
        const results = await Promise.allSettled([
          s1.updateTopology(t.id, { attempts: 1 }, { expectedVersion: 1 }),
          s2.updateTopology(t.id, { attempts: 2 }, { expectedVersion: 1 }),
        ]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
        const lost = results.find((r) => r.status === 'rejected');
        assert.ok(lost?.reason instanceof StoreConflictError);
        assert.equal((await s1.getTopology(t.id))?.version, 2);
      }));

    it('concurrent claims from two managers split the work without overlap', racing, () =>
      withTwoStores(async (s1, s2) => {
        const ids: string[] = [];
        for (let i = 0; i < 20; i++) {
          const { topology } = await s1.createTopology(newTopology({ name: `w${i}` }));
          ids.push((await walk(s1, topology, ['DEPLOYING'])).id);
        }
        const now = new Date();
        const [a, b] = await Promise.all([s1.claimResumable('m1', now, 60_000), s2.claimResumable('m2', now, 60_000)]);
        const aIds = a.map((t) => t.id);
        const bIds = b.map((t) => t.id);
        assert.equal(aIds.filter((id) => bIds.includes(id)).length, 0, 'no topology claimed twice');
        assert.deepEqual([...aIds, ...bIds].sort(), [...ids].sort());
        const owners = (await s1.listTopologies()).items.map((t) => t.lease?.owner);
        assert.ok(owners.every((o) => o === 'm1' || o === 'm2'));
      }));

    it('concurrent creates with one idempotency key make one topology', racing, () =>
      withTwoStores(async (s1, s2) => {
        const [r1, r2] = await Promise.all([
          s1.createTopology(newTopology({ idempotencyKey: 'same' })),
          s2.createTopology(newTopology({ idempotencyKey: 'same' })),
        ]);
        assert.equal(Number(r1.created) + Number(r2.created), 1);
        assert.equal(r1.topology.id, r2.topology.id);
        assert.equal((await s1.listTopologies()).items.length, 1);
      }));

    it('concurrent catalog writes from two connections: the entry limit holds, one create of a name wins, every change counted once', racing, () =>
      withTwoStores(async (s1, s2) => {
        const results = await Promise.allSettled(
          Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? s1 : s2).createServiceType(`T${String(i)}`, '{}', { maxEntries: 4 })),
        );
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 4);
        assert.ok(results.every((r) => r.status === 'fulfilled' || isStoreError('CM_ERR_STORE_LIMIT')(r.reason)));
        const same = await Promise.allSettled([s1.createServiceType('Same', '{}'), s2.createServiceType('Same', '{}')]);
        assert.equal(same.filter((r) => r.status === 'fulfilled').length, 1);
        assert.ok(same.some((r) => r.status === 'rejected' && r.reason instanceof StoreConflictError));
        assert.equal((await s2.listServiceTypes()).items.length, 5);
        assert.equal(await s1.serviceCatalogRevision(), 5);
      }));
  });
}
