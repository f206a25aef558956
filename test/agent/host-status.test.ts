/**
 * What a replica publishes of the hosts it owns: a host whose status key
 * moved, hosts with live rates every `refreshMs`, every host every
 * `republishMs` — and nothing else, so that a quiet region of thousands of
 * hosts costs no writes and builds no statuses.
 * (The store itself is tested on a real PostgreSQL in test/store.)
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HostStatusSync, type LocalHostStatus, type PublishedHostStatus } from '../../src/agent/cluster/host-status.ts';
import type { ClusterStore, HostStatusRecord } from '../../src/store/cluster-types.ts';

class RecordingStore {
  readonly batches: string[][] = [];
  private readonly rows = new Map<string, HostStatusRecord>();
  publishHostStatus(records: readonly Omit<HostStatusRecord, 'updatedAt'>[]): Promise<void> {
    this.batches.push(records.map((r) => r.host).sort());
    for (const r of records) this.rows.set(r.host, { ...r, updatedAt: Date.now() });
    return Promise.resolve();
  }
  hostStatuses(): Promise<HostStatusRecord[]> {
    return Promise.resolve([...this.rows.values()]);
  }
  hostStatusesSince(sinceMs: number): Promise<HostStatusRecord[]> {
    return Promise.resolve([...this.rows.values()].filter((r) => r.updatedAt > sinceMs));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function status(host: string): PublishedHostStatus {
  return { host, connected: true, ports: [] } as unknown as PublishedHostStatus;
}

async function until(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('HostStatusSync publishing', () => {
  it('publishes a host when its key moves, builds nothing for quiet hosts, and republishes on the two periods', async () => {
    const store = new RecordingStore();
    const keys = new Map([
      ['h-quiet', 'k1'],
      ['h-live', 'k1'],
      ['h-moving', 'k1'],
    ]);
    const built: string[] = [];
    const local = (): Map<string, LocalHostStatus> =>
      new Map(
        [...keys].map(([host, key]) => [
          host,
          {
            key,
            live: host === 'h-live',
            build: () => {
              built.push(host);
              return status(host);
            },
          },
        ]),
      );
    const sync = new HostStatusSync({
      store: store as unknown as ClusterStore,
      identity: () => ({ agentId: 'a', incarnation: 1 }),
      local,
      intervalMs: 10,
      refreshMs: 400,
      republishMs: 1600,
    });
    sync.start();
    try {
      await until('the first publish', () => store.batches.length >= 1);
      assert.deepEqual(store.batches[0], ['h-live', 'h-moving', 'h-quiet'], 'everything is published once');

      // Quiet: many rounds, nothing published, nothing built.
      built.length = 0;
      const before = store.batches.length;
      await sleep(150);
      assert.equal(store.batches.length, before, `no writes while nothing changed: ${JSON.stringify(store.batches.slice(before))}`);
      assert.deepEqual(built, []);

      keys.set('h-moving', 'k2');
      await until('the moved host', () => store.batches.length > before);
      assert.deepEqual(store.batches[before], ['h-moving'], 'only the host whose key moved');

      // The live host comes back with the refresh, alone (the others only with the full republish).
      const afterMove = store.batches.length;
      await until('the live refresh', () => store.batches.slice(afterMove).some((b) => b.includes('h-live')), 2000);
      const refresh = store.batches.slice(afterMove).find((b) => b.includes('h-live'));
      assert.deepEqual(refresh, ['h-live'], 'the refresh (every 400 ms) republishes only hosts with live rates');

      await until('the full republish', () => store.batches.slice(afterMove).some((b) => b.length === 3), 4000);
      await until('the records read back', () => sync.records().size === 3);
      assert.equal(sync.records().get('h-moving')?.agentId, 'a');
    } finally {
      await sync.stop();
    }
  });

  it('publishes again after a new incarnation (a re-registered replica), even when no key moved', async () => {
    const store = new RecordingStore();
    let incarnation = 1;
    const sync = new HostStatusSync({
      store: store as unknown as ClusterStore,
      identity: () => ({ agentId: 'a', incarnation }),
      local: () => new Map([['h', { key: 'same', live: false, build: () => status('h') }]]),
      intervalMs: 10,
      refreshMs: 60_000,
      republishMs: 60_000,
    });
    sync.start();
    try {
      await until('the first publish', () => store.batches.length === 1);
      await sleep(60);
      assert.equal(store.batches.length, 1);
      incarnation = 2;
      await until('the republish', () => store.batches.length === 2);
    } finally {
      await sync.stop();
    }
  });
});
