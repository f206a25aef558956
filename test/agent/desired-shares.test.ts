/**
 * A multi-NIC server's SLA is the server's: StoreDesiredSource splits what
 * one port's limiter cannot share (HTB download, policed upload) among the
 * server's ports on a host, equally at first, then by the ports' live rates.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { StoreDesiredSource, type PortRate } from '../../src/agent/desired.ts';
import type { InventorySnapshot, ServerInventory } from '../../src/agent/inventory.ts';
import type { UploadMechanism } from '../../src/agent/enforcement/types.ts';
import { openSlaStore, type SlaStore } from '../../src/store/index.ts';

const S1 = '11111111-1111-4111-8111-111111111111';
const S2 = '22222222-2222-4222-8222-222222222222';
const M = 1_000_000;

function server(id: string, ports: { id: string; host: string }[]): ServerInventory {
  return {
    id,
    name: id.slice(0, 4),
    status: 'ACTIVE',
    host: ports[0]?.host ?? 'compute1',
    hypervisorHostname: ports[0]?.host ?? 'compute1',
    availabilityZone: 'nova',
    flavor: undefined,
    projectId: undefined,
    userId: undefined,
    ports: ports.map((p) => ({
      id: p.id,
      macAddress: undefined,
      fixedIps: [],
      networkId: 'net',
      bindingHost: p.host,
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

interface Fixture {
  store: SlaStore;
  source: StoreDesiredSource;
  rates: Map<string, PortRate>;
  mechanisms: Map<string, UploadMechanism>;
  notified: (string | undefined)[];
  setServers(servers: ServerInventory[]): void;
  close(): Promise<void>;
}

async function fixture(servers: ServerInventory[]): Promise<Fixture> {
  const store = await openSlaStore({ path: ':memory:' });
  let snap = snapshot(servers);
  const rates = new Map<string, PortRate>();
  const mechanisms = new Map<string, UploadMechanism>();
  const source = new StoreDesiredSource(
    store,
    { snapshot: () => snap },
    { portRates: () => rates, uploadMechanism: (h) => mechanisms.get(h), resplitIntervalMs: 0 },
  );
  const notified: (string | undefined)[] = [];
  source.onChange((id) => notified.push(id));
  await source.start();
  return {
    store,
    source,
    rates,
    mechanisms,
    notified,
    setServers: (s) => {
      snap = snapshot(s);
    },
    close: async () => {
      source.stop();
      await store.close();
    },
  };
}

const settle = () => new Promise((r) => setTimeout(r, 20));

describe('StoreDesiredSource: a server\'s rates shared by its ports', () => {
  it('splits the download max and min equally at first; a single-port server keeps its SLA whole', async () => {
    const f = await fixture([
      server(S1, [
        { id: 'a', host: 'h1' },
        { id: 'b', host: 'h1' },
        { id: 'c', host: 'h1' },
      ]),
      server(S2, [{ id: 'z', host: 'h1' }]),
    ]);
    try {
      await f.store.put(S1, { download: { maxRate: 10 * M, minRate: 3 * M } });
      await f.store.put(S2, { download: { maxRate: 7 * M } });
      await settle();
      const d = f.source.desired();
      const max = ['a', 'b', 'c'].map((p) => d.get(p)?.sla.download?.maxRate ?? NaN);
      const min = ['a', 'b', 'c'].map((p) => d.get(p)?.sla.download?.minRate ?? NaN);
      assert.equal(max.reduce((x, y) => x + y, 0), 10 * M, 'the shares sum to the cap exactly');
      assert.ok(Math.max(...max) - Math.min(...max) <= 1, `equal shares, got ${max.join(', ')}`);
      assert.equal(min.reduce((x, y) => x + y, 0), 3 * M, 'the guarantee is split like the cap');
      for (let i = 0; i < 3; i++) assert.ok((min[i] ?? 0) <= (max[i] ?? 0), 'min ≤ max on every port');
      assert.equal(d.get('z')?.sla.download?.maxRate, 7 * M);
    } finally {
      await f.close();
    }
  });

  it('ports of one server on two hosts are not one group: each host carries the whole SLA', async () => {
    const f = await fixture([
      server(S1, [
        { id: 'a', host: 'h1' },
        { id: 'b', host: 'h2' },
      ]),
    ]);
    try {
      await f.store.put(S1, { download: { maxRate: 10 * M } });
      await settle();
      assert.equal(f.source.desired().get('a')?.sla.download?.maxRate, 10 * M);
      assert.equal(f.source.desired().get('b')?.sla.download?.maxRate, 10 * M);
    } finally {
      await f.close();
    }
  });

  it('re-splits by demand: a busy port gets what an idle one leaves, listeners hear of it once, small moves are ignored', async () => {
    const f = await fixture([
      server(S1, [
        { id: 'a', host: 'h1' },
        { id: 'b', host: 'h1' },
      ]),
    ]);
    try {
      await f.store.put(S1, { download: { maxRate: 10 * M } });
      await settle();
      f.source.desired();
      f.notified.length = 0;
      assert.deepEqual(f.source.resplit(), [], 'no rates yet: the equal split stays');

      // a is held back by its 5 Mbit/s share; b uses 0.1 Mbit/s.
      f.rates.set('a', { downloadBps: 4.9 * M, uploadBps: 0 });
      f.rates.set('b', { downloadBps: 0.1 * M, uploadBps: 0 });
      assert.deepEqual(f.source.resplit(), [S1]);
      assert.deepEqual(f.notified, [S1]);
      const d = f.source.desired();
      const a = d.get('a')?.sla.download?.maxRate ?? 0;
      const b = d.get('b')?.sla.download?.maxRate ?? 0;
      assert.equal(a + b, 10 * M);
      assert.ok(a >= 8.5 * M, `the busy port gets most of the cap, got ${a}`);
      assert.ok(b >= 0.5 * M, `the idle port keeps a floor to start from, got ${b}`);

      // The same rates again: nothing moves by more than 10 %, nothing is rewritten.
      f.rates.set('a', { downloadBps: a * 0.95, uploadBps: 0 });
      assert.deepEqual(f.source.resplit(), []);
      assert.equal(f.source.desired(), d, 'the map is reused when the split did not move');
    } finally {
      await f.close();
    }
  });

  it('the upload is split only where the host polices it; with meters every port carries the whole cap (one shared meter)', async () => {
    const f = await fixture([
      server(S1, [
        { id: 'a', host: 'h1' },
        { id: 'b', host: 'h1' },
      ]),
    ]);
    try {
      await f.store.put(S1, { upload: { maxRate: 8 * M, minRate: 2 * M } });
      await settle();
      f.mechanisms.set('h1', 'meter');
      let d = f.source.desired();
      assert.equal(d.get('a')?.sla.upload?.maxRate, 8 * M);
      assert.equal(d.get('b')?.sla.upload?.maxRate, 8 * M);

      f.mechanisms.set('h1', 'policing');
      d = f.source.desired();
      assert.equal((d.get('a')?.sla.upload?.maxRate ?? 0) + (d.get('b')?.sla.upload?.maxRate ?? 0), 8 * M, 'a mechanism change is seen without a store change');
      assert.equal((d.get('a')?.sla.upload?.minRate ?? 0) + (d.get('b')?.sla.upload?.minRate ?? 0), 2 * M);

      f.rates.set('a', { downloadBps: 0, uploadBps: 0 });
      f.rates.set('b', { downloadBps: 0, uploadBps: 3.9 * M });
      assert.deepEqual(f.source.resplit(), [S1]);
      d = f.source.desired();
      assert.ok((d.get('b')?.sla.upload?.maxRate ?? 0) > 6 * M, 'the policed upload follows demand');
    } finally {
      await f.close();
    }
  });

  it('a changed cap or port set starts over from an equal split; a deleted SLA drops its ports', async () => {
    const f = await fixture([
      server(S1, [
        { id: 'a', host: 'h1' },
        { id: 'b', host: 'h1' },
      ]),
    ]);
    try {
      await f.store.put(S1, { download: { maxRate: 10 * M } });
      await settle();
      f.source.desired();
      f.rates.set('a', { downloadBps: 5 * M, uploadBps: 0 });
      f.rates.set('b', { downloadBps: 0, uploadBps: 0 });
      f.source.resplit();
      assert.notEqual(f.source.desired().get('a')?.sla.download?.maxRate, 5 * M);

      await f.store.put(S1, { download: { maxRate: 20 * M } });
      await settle();
      assert.equal(f.source.desired().get('a')?.sla.download?.maxRate, 10 * M);

      f.setServers([
        server(S1, [
          { id: 'a', host: 'h1' },
          { id: 'b', host: 'h1' },
          { id: 'c', host: 'h1' },
        ]),
      ]);
      const thirds = ['a', 'b', 'c'].map((p) => f.source.desired().get(p)?.sla.download?.maxRate ?? 0);
      assert.ok(Math.max(...thirds) - Math.min(...thirds) <= 1, `a new port: equal again, got ${thirds.join(', ')}`);

      await f.store.delete(S1);
      await settle();
      assert.equal(f.source.desired().size, 0);
    } finally {
      await f.close();
    }
  });
});
