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
});
