import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreDesiredSource } from '../../src/agent/desired.ts';
import type { InventorySnapshot, ServerInventory } from '../../src/agent/inventory.ts';
import { openSlaStore } from '../../src/store/index.ts';

const S1 = '11111111-1111-4111-8111-111111111111';
const S2 = '22222222-2222-4222-8222-222222222222';

function server(id: string, portIds: string[]): ServerInventory {
  return {
    id,
    name: id.slice(0, 4),
    status: 'ACTIVE',
    host: 'compute1',
    hypervisorHostname: 'compute1',
    availabilityZone: 'nova',
    flavor: undefined,
    projectId: undefined,
    userId: undefined,
    ports: portIds.map((p) => ({
      id: p,
      macAddress: undefined,
      fixedIps: [],
      networkId: 'net',
      bindingHost: 'compute1',
      status: 'ACTIVE',
      deviceOwner: 'compute:nova',
      qosPolicyId: null,
    })),
  };
}

function snapshot(servers: ServerInventory[]): InventorySnapshot {
  return {
    refreshedAt: new Date().toISOString(),
    durationMs: 1,
    capacitySource: 'placement',
    computeMicroversion: '2.88',
    hosts: [],
    servers,
    warnings: [],
    stale: false,
    lastError: undefined,
  };
}

describe('StoreDesiredSource', () => {
  it('names the hosts of a migrating server: its compute host and each port binding', () => {
    const moving = server(S1, ['p1a', 'p1b']);
    const first = moving.ports[0];
    if (!first) throw new Error('a port expected');
    const migrating = { ...moving, ports: [{ ...first, bindingHost: 'compute2' }, ...moving.ports.slice(1)] };
    const source = new StoreDesiredSource({} as never, { snapshot: () => snapshot([migrating]) });
    assert.deepEqual(source.hostsOf(S1)?.sort(), ['compute1', 'compute2']);
  });

  it('spreads each stored SLA over every port of its server and follows store changes', async () => {
    const store = await openSlaStore({ path: ':memory:' });
    let snap = snapshot([server(S1, ['p1a', 'p1b']), server(S2, ['p2'])]);
    const source = new StoreDesiredSource(store, { snapshot: () => snap });
    const notified: (string | undefined)[] = [];
    source.onChange((id) => notified.push(id));
    try {
      await source.start();
      assert.equal(source.desired().size, 0);
      await store.put(S1, { download: { maxRate: 10_000_000 } });
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(notified, [S1]);
      const desired = source.desired();
      assert.deepEqual([...desired.keys()].sort(), ['p1a', 'p1b'], 'a multi-NIC server gets its SLA on every port');
      assert.equal(desired.get('p1a')?.serverId, S1);
      assert.equal(source.desired(), desired, 'unchanged inputs reuse the computed map');

      // A new inventory snapshot (e.g. a port added) is picked up without a store change.
      snap = snapshot([server(S1, ['p1a', 'p1b', 'p1c']), server(S2, ['p2'])]);
      assert.equal(source.desired().size, 3);

      await store.put('33333333-3333-4333-8333-333333333333', { upload: { maxRate: 1_000_000 } });
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(source.unknownServers(), ['33333333-3333-4333-8333-333333333333']);

      assert.deepEqual(source.hostsOf(S1.toUpperCase()), ['compute1'], "a change of S1's SLA concerns its host only");
      assert.equal(source.hostsOf('33333333-3333-4333-8333-333333333333'), undefined, 'unknown to the inventory: no host to name');

      await store.delete(S1);
      await new Promise((r) => setTimeout(r, 20));
      assert.equal(source.desired().size, 0);
    } finally {
      source.stop();
      await store.close();
    }
  });

  it('a change of some servers\u2019 SLAs patches the map: after 60 random puts and deletes it equals a map computed from scratch', async () => {
    const store = await openSlaStore({ path: ':memory:' });
    const ids = Array.from({ length: 12 }, (_, i) => `${String(i).padStart(8, '0')}-0000-4000-8000-000000000000`);
    const snap = snapshot(ids.map((id, i) => server(id, Array.from({ length: 1 + (i % 3) }, (_, k) => `p${String(i)}-${String(k)}`))));
    const source = new StoreDesiredSource(store, { snapshot: () => snap }, { resplitIntervalMs: 0 });
    let seed = 7;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    try {
      await source.start();
      source.desired();
      for (let step = 0; step < 60; step++) {
        const id = ids[random(ids.length)] ?? '';
        if (random(3) === 0) await store.delete(id);
        else await store.put(id, { download: { maxRate: (1 + random(50)) * 1_000_000, minRate: 500_000 } });
        await new Promise((r) => setTimeout(r, 5));
        const patched = source.desired();
        const fresh = new StoreDesiredSource(store, { snapshot: () => snap }, { resplitIntervalMs: 0 });
        await fresh.start();
        const expected = fresh.desired();
        fresh.stop();
        assert.deepEqual(new Map([...patched].sort(([a], [b]) => a.localeCompare(b))), new Map([...expected].sort(([a], [b]) => a.localeCompare(b))), `step ${String(step)}`);
      }
      assert.ok(source.desired().size > 0, 'some SLAs stand at the end');
    } finally {
      source.stop();
      await store.close();
    }
  });
});
