/**
 * CloudInventory reading only changes, against the simulated cloud: what a refresh reads
 * (counted per service, exactly, on small clouds), and that what it builds is what a full
 * read would build: servers created, deleted and moved, ports added and deleted, a
 * provider's usage changed, the ownership filter, a failed refresh, the changes-since margin.
 *
 * Exact counts need the changes behind a refresh to be behind it for good: the inventories
 * here use no margin, and a refresh that must not see a change again starts in a later
 * second than the change (Nova and Neutron keep whole seconds).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloudInventory, type HostCapacity, type InventoryCalls, type InventorySnapshot } from '../../src/agent/inventory.ts';
import { SinceClock } from '../../src/agent/inventory/state.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { bulkScenario, seedServers, startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { NOVA_TIME } from '../../src/sim/state.ts';
import { bootOn, connect, liveMigrate, nextSecond, removeServer } from './inventory-helpers.ts';

/** A refresh in a new second, then a new second: every change made before is behind the next refresh. */
async function quiet(inv: CloudInventory): Promise<InventorySnapshot> {
  await nextSecond();
  const s = await inv.refresh();
  await nextSecond();
  return s;
}

/** What Nova's interface attach leaves in Neutron: a port on the server, bound to its host. */
async function attachPort(os: OpenStack, sim: SimCloud, serverId: string): Promise<string> {
  const server = sim.state.servers.get(serverId)!;
  const net = (await os.neutron.listNetworks({ name: 'bulk' }))[0]!;
  const base = (await os.keystone.endpoint('network')).replace(/\/+$/, '');
  const res = await os.http.request({
    service: 'network',
    method: 'POST',
    url: `${/\/v2\.0$/.test(base) ? base : `${base}/v2.0`}/ports`,
    auth: os.keystone,
    body: { port: { network_id: net.id, device_id: serverId, device_owner: `compute:${server.az}`, 'binding:host_id': server.host } },
  });
  return ((res.body as { port: { id: string } }).port).id;
}

const NONE: InventoryCalls = { nova: 0, neutron: 0, placement: 0 };
const total = (c: InventoryCalls | undefined): number => (c ? c.nova + c.neutron + c.placement : Number.NaN);

/** The snapshot's data, without what differs between two reads of the same cloud. */
function data(s: InventorySnapshot): unknown {
  return { hosts: s.hosts, servers: s.servers, warnings: s.warnings, capacitySource: s.capacitySource };
}

/** Every host's capacity in the snapshot agrees with the simulated Placement's usages. */
function assertCapacityMatches(sim: SimCloud, s: InventorySnapshot, hosts?: readonly string[]): void {
  for (const h of s.hosts) {
    if (hosts && !hosts.includes(h.name)) continue;
    const used = sim.state.usages(sim.state.hosts.get(h.name)!);
    assert.deepEqual(
      { vcpu: h.resources.VCPU?.used, ram: h.resources.MEMORY_MB?.used },
      { vcpu: used.VCPU, ram: used.MEMORY_MB },
      `${h.name}: capacity read from Placement`,
    );
  }
}

describe('CloudInventory incremental refresh (Neutron refusing changed_since, as Zed does)', () => {
  let sim: SimCloud;
  let os: OpenStack;
  let inv: CloudInventory;

  before(async () => {
    sim = await startSimCloud({ scenario: bulkScenario(4, { vcpus: 16, memory_mb: 32_768, disk_gb: 200 }), bootDelayMs: 5 });
    seedServers(sim.state, { perHost: 2 });
    ({ os } = connect(sim));
    inv = new CloudInventory(os, { changesSinceMarginMs: 0, pageSize: 4, fullResyncEvery: 1000 });
  });
  after(async () => {
    await os.close();
    await sim.close();
  });

  it('cold: every list once, paged floor(N/L)+1 (a full page links an empty one), and every provider', async () => {
    const cold = await inv.refresh();
    // nova: versions + hypervisors (4 over pages of 4: 2 calls) + services + servers (8: 3 calls)
    // neutron: ports (8: 3 calls); placement: versions + providers + 2 × 4 providers.
    assert.deepEqual(cold.calls, { nova: 1 + 2 + 1 + 3, neutron: 3, placement: 2 + 2 * 4 });
    assert.deepEqual(cold.read, { kind: 'full', servers: 8, ports: 'all', hypervisors: true, providersRead: 4, retried: NONE });
    assert.equal(cold.servers.length, 8);
    assert.ok(cold.servers.every((s) => s.ports.length === 1 && s.ports[0]!.bindingHost === s.host));
    assert.deepEqual(cold.warnings, []);
    assert.ok(cold.hosts.every((h) => h.capacityFrom === 'self'));
    assertCapacityMatches(sim, cold);
    assert.deepEqual(inv.callCounts(), cold.calls, 'the running total starts with the first refresh');
  });

  it('the first incremental refresh finds Neutron refusing changed_since (one 400) and reads ports by server from then on', async () => {
    await nextSecond();
    const first = await inv.refresh();
    assert.deepEqual(first.calls, { nova: 2, neutron: 1, placement: 1 });
    assert.equal(first.read?.ports, 'none');
  });

  it('nothing changed: services, one page of changes and the providers list; the same snapshot data', async () => {
    const before = await quiet(inv);
    const s = await inv.refresh();
    assert.deepEqual(s.calls, { nova: 2, neutron: 0, placement: 1 });
    assert.deepEqual(s.read, { kind: 'incremental', servers: 0, ports: 'none', hypervisors: false, providersRead: 0, retried: NONE });
    assert.deepEqual(data(s), data(before));
  });

  it('a server created: it and its port appear; only its host’s provider is read again', async () => {
    await quiet(inv);
    const id = await bootOn(os, sim, 'new-1', 'host-00001');
    await nextSecond();
    const s = await inv.refresh();
    assert.deepEqual(s.calls, { nova: 2, neutron: 1, placement: 1 + 2 });
    assert.deepEqual(s.read, { kind: 'incremental', servers: 1, ports: 'by-server', hypervisors: false, providersRead: 1, retried: NONE });
    const server = s.servers.find((x) => x.id === id);
    assert.equal(server?.host, 'host-00001');
    assert.deepEqual(server.ports.map((p) => p.id), sim.state.servers.get(id)!.portIds);
    assert.equal(server.ports[0]?.status, 'ACTIVE');
    assert.ok(s.hosts.find((h) => h.name === 'host-00001')!.serverIds.includes(id));
    assertCapacityMatches(sim, s);
    // Nothing new afterwards: the server is not read again.
    await nextSecond();
    assert.deepEqual((await inv.refresh()).calls, { nova: 2, neutron: 0, placement: 1 });
  });

  it('a server deleted: gone with its port; its host re-read although Placement’s generation did not move', async () => {
    const id = sim.state.servers.values().next().value!.id;
    const host = sim.state.servers.get(id)!.host!;
    await quiet(inv);
    const generation = sim.state.hosts.get(host)!.generation;
    await removeServer(os, sim, id);
    assert.equal(sim.state.hosts.get(host)!.generation, generation, 'DELETE /allocations leaves the generation (as on Zed)');
    await nextSecond();
    const s = await inv.refresh();
    assert.deepEqual(s.calls, { nova: 2, neutron: 0, placement: 1 + 2 }, 'no port to read; the host from the DELETED record');
    assert.equal(s.servers.find((x) => x.id === id), undefined);
    assert.ok(!s.hosts.find((h) => h.name === host)!.serverIds.includes(id));
    assertCapacityMatches(sim, s);
  });

  it('a server moved (live migration): new host and port binding; both providers re-read', async () => {
    const id = [...sim.state.servers.values()].find((x) => x.host === 'host-00002')!.id;
    await quiet(inv);
    await liveMigrate(os, sim, id, 'host-00003');
    await nextSecond();
    const s = await inv.refresh();
    assert.deepEqual(s.calls, { nova: 2, neutron: 1, placement: 1 + 2 * 2 });
    const server = s.servers.find((x) => x.id === id)!;
    assert.equal(server.host, 'host-00003');
    assert.equal(server.ports[0]?.bindingHost, 'host-00003');
    assert.ok(s.hosts.find((h) => h.name === 'host-00003')!.serverIds.includes(id));
    assert.ok(!s.hosts.find((h) => h.name === 'host-00002')!.serverIds.includes(id));
    assertCapacityMatches(sim, s);
  });

  it('a provider’s usage changed with no server change (an inventory written): only that provider is read', async () => {
    await quiet(inv);
    const h = sim.state.hosts.get('host-00000')!;
    h.reservedMemoryMb = 4096;
    h.generation += 1; // what Nova's resource tracker's PUT of the inventory does
    const s = await inv.refresh();
    assert.deepEqual(s.calls, { nova: 2, neutron: 0, placement: 1 + 2 });
    assert.equal(s.hosts.find((x) => x.name === 'host-00000')!.resources.MEMORY_MB?.reserved, 4096);
  });

  it('a port added to an unchanged server, and one deleted, are noticed at the full resync', async () => {
    const id = [...sim.state.servers.values()].find((x) => x.host === 'host-00000')!.id;
    const doomed = [...sim.state.servers.values()].find((x) => x.host === 'host-00001')!.portIds[0]!;
    await quiet(inv);
    const added = await attachPort(os, sim, id);
    sim.state.deletePort(doomed);
    const stale = await inv.refresh();
    assert.deepEqual(stale.calls, { nova: 2, neutron: 0, placement: 1 }, 'Nova reports no change: nothing re-read');
    assert.ok(!stale.servers.find((x) => x.id === id)!.ports.some((p) => p.id === added));
    assert.ok(stale.servers.some((x) => x.ports.some((p) => p.id === doomed)));
    // The full resync lists everything, in pages of 4, and sees both.
    const fullInv = new CloudInventory(os, { changesSinceMarginMs: 0, pageSize: 4, fullResyncEvery: 2 });
    await fullInv.refresh();
    await nextSecond();
    await fullInv.refresh();
    const full = await fullInv.refresh();
    assert.equal(full.read?.kind, 'full');
    assert.equal(full.read.ports, 'all');
    assert.ok(full.servers.find((x) => x.id === id)!.ports.some((p) => p.id === added));
    assert.ok(!full.servers.some((x) => x.ports.some((p) => p.id === doomed)));
    const pages = (n: number): number => Math.floor(n / 4) + 1;
    assert.deepEqual(
      full.calls,
      { nova: pages(sim.state.hosts.size) + 1 + pages(sim.state.servers.size), neutron: pages(sim.state.ports.size), placement: 1 },
      'hypervisors + services + servers; every port; no provider changed',
    );
  });

  it('after servers created, deleted and moved and an inventory written, the snapshot equals a full read', async () => {
    const inc = new CloudInventory(os, { changesSinceMarginMs: 0, pageSize: 4, fullResyncEvery: 1000 });
    await inc.refresh();
    await nextSecond();
    await inc.refresh();
    const created = await bootOn(os, sim, 'eq-1', 'host-00003');
    await removeServer(os, sim, [...sim.state.servers.values()].find((x) => x.host === 'host-00001' && x.id !== created)!.id);
    await liveMigrate(os, sim, [...sim.state.servers.values()].find((x) => x.host === 'host-00000')!.id, 'host-00002');
    const h = sim.state.hosts.get('host-00003')!;
    h.cpuRatio = 2;
    h.generation += 1;
    await nextSecond();
    const a = await inc.refresh();
    assert.equal(a.read?.kind, 'incremental');
    const b = await new CloudInventory(os, { pageSize: 4 }).refresh();
    assert.equal(b.read?.kind, 'full');
    assert.deepEqual(data(a), data(b));
    assertCapacityMatches(sim, a);
  });

  it('the margin: a change stamped before the previous refresh began (a writer’s clock behind, whole seconds) is still read', async () => {
    const withMargin = new CloudInventory(os, { changesSinceMarginMs: 5000, pageSize: 4 });
    const without = new CloudInventory(os, { changesSinceMarginMs: 0, pageSize: 4 });
    await Promise.all([withMargin.refresh(), without.refresh()]);
    const started = Date.now();
    await Promise.all([withMargin.refresh(), without.refresh()]);
    // Changed now, but stamped 3 s before that refresh began.
    const server = [...sim.state.servers.values()].find((x) => x.host === 'host-00002')!;
    server.name = 'renamed-late';
    server.updated = NOVA_TIME(new Date(started - 3000));
    const [a, b] = await Promise.all([withMargin.refresh(), without.refresh()]);
    assert.equal(a.servers.find((x) => x.id === server.id)?.name, 'renamed-late');
    assert.notEqual(b.servers.find((x) => x.id === server.id)?.name, 'renamed-late', 'without the margin the change is lost (until a full read)');
  });

  it('a failed refresh loses no change: the next one resumes from the last good one', async () => {
    await quiet(inv);
    const id = await bootOn(os, sim, 'new-2', 'host-00002');
    await nextSecond();
    sim.faults.serviceDown('placement', true);
    try {
      await assert.rejects(inv.refresh());
    } finally {
      sim.faults.serviceDown('placement', false);
    }
    const s = await inv.refresh();
    assert.ok(s.servers.some((x) => x.id === id), 'the server booted before the failed refresh');
    assert.equal(s.read?.servers, 1);
    assertCapacityMatches(sim, s);
  });

  it('the running total counts every refresh, failed ones too', async () => {
    const t0 = inv.callCounts();
    const a = await inv.refresh();
    sim.faults.serviceDown('nova', true);
    try {
      await assert.rejects(inv.refresh());
    } finally {
      sim.faults.serviceDown('nova', false);
    }
    const t1 = inv.callCounts();
    assert.ok(total(t1) > total(t0) + total(a.calls), 'the failed refresh sent requests too');
    assert.equal(t1.nova - t0.nova > a.calls!.nova, true);
  });

  it('a host that comes lists the hypervisors again; its servers and capacity appear', async () => {
    await quiet(inv);
    const extra = bulkScenario(5).hosts[4]!;
    sim.state.addHost({
      ...sim.state.hosts.get('host-00000')!,
      name: extra.name,
      hypervisorHostname: extra.name,
      uuid: '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b',
      serviceUuid: '6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4c',
      intId: 5,
      serviceIntId: 7,
      generation: 1,
    });
    const s = await inv.refresh();
    assert.equal(s.read?.hypervisors, true);
    // hypervisors (5 in pages of 4: 2 calls) + services + servers; the new provider's capacity.
    assert.deepEqual(s.calls, { nova: 2 + 1 + 1, neutron: 0, placement: 1 + 2 });
    assert.ok(s.hosts.some((h) => h.name === 'host-00004' && h.resources.VCPU !== undefined));
    await nextSecond();
    assert.equal((await inv.refresh()).read?.hypervisors, false, 'and not again');
  });
});

describe('CloudInventory with Neutron accepting changed_since (filter_validation off)', () => {
  let sim: SimCloud;
  let os: OpenStack;
  let inv: CloudInventory;

  before(async () => {
    sim = await startSimCloud({ scenario: bulkScenario(2, { vcpus: 16, memory_mb: 32_768, disk_gb: 200 }), bootDelayMs: 5, neutronChangedSince: true });
    seedServers(sim.state, { perHost: 2 });
    ({ os } = connect(sim));
    inv = new CloudInventory(os, { changesSinceMarginMs: 0, fullResyncEvery: 5 });
    await inv.refresh();
  });
  after(async () => {
    await os.close();
    await sim.close();
  });

  it('reads ports changed since the previous refresh in one call, even with nothing changed', async () => {
    await nextSecond();
    const s = await inv.refresh();
    assert.deepEqual(s.calls, { nova: 2, neutron: 1, placement: 1 });
    assert.equal(s.read?.ports, 'changed-since');
  });

  it('a port added to an unchanged server shows at the next refresh; a deleted one stays until the full resync', async () => {
    const id = sim.state.servers.values().next().value!.id;
    const doomed = [...sim.state.servers.values()].find((x) => x.id !== id)!.portIds[0]!;
    await quiet(inv);
    const added = await attachPort(os, sim, id);
    sim.state.deletePort(doomed);
    const s = await inv.refresh();
    assert.deepEqual(s.calls, { nova: 2, neutron: 1, placement: 1 });
    assert.ok(s.servers.find((x) => x.id === id)!.ports.some((p) => p.id === added));
    assert.ok(s.servers.some((x) => x.ports.some((p) => p.id === doomed)), 'Neutron does not answer deleted ports');
    let full = s;
    while (full.read?.kind !== 'full') full = await inv.refresh();
    assert.ok(!full.servers.some((x) => x.ports.some((p) => p.id === doomed)));
    assert.ok(full.servers.find((x) => x.id === id)!.ports.some((p) => p.id === added));
  });
});

describe('CloudInventory ownership filter', () => {
  let sim: SimCloud;
  let os: OpenStack;

  before(async () => {
    sim = await startSimCloud({ scenario: bulkScenario(4, { vcpus: 16, memory_mb: 32_768, disk_gb: 200 }), bootDelayMs: 5 });
    seedServers(sim.state, { perHost: 1 });
    ({ os } = connect(sim));
  });
  after(async () => {
    await os.close();
    await sim.close();
  });

  it('reads only owned hosts’ providers; the others have no capacity, no warning, or the foreign one', async () => {
    const mine = new Set(['host-00000', 'host-00001']);
    const theirs: HostCapacity = { VCPU: { total: 16, reserved: 0, allocationRatio: 4, used: 7, capacity: 64, free: 57, maxUnit: 16 } };
    const inv = new CloudInventory(os, { ownsHost: (h) => mine.has(h), foreignCapacity: () => new Map([['host-00002', theirs]]) });
    const s = await inv.refresh();
    assert.equal(s.calls?.placement, 2 + 2 * 2, 'versions, providers, 2 owned providers');
    assert.deepEqual(s.warnings, []);
    const by = new Map(s.hosts.map((h) => [h.name, h]));
    assert.equal(by.get('host-00000')?.capacityFrom, 'self');
    assert.ok(by.get('host-00001')?.resources.VCPU);
    assert.equal(by.get('host-00002')?.capacityFrom, 'foreign');
    assert.deepEqual(by.get('host-00002')?.resources, theirs);
    assert.equal(by.get('host-00003')?.capacityFrom, 'none');
    assert.deepEqual(by.get('host-00003')?.resources, {});
    assert.ok(by.get('host-00003')?.resourceProviderUuid, 'the provider is still known');
    assert.equal(s.servers.length, 4, 'servers of every host');
    assertCapacityMatches(sim, s, [...mine]);

    // Ownership moves: host-00003 gained, host-00000 lost. Only the gained one is read.
    inv.setOwnership((h) => h === 'host-00001' || h === 'host-00003');
    await nextSecond();
    const t = await inv.refresh();
    assert.equal(t.calls?.placement, 1 + 2);
    const after = new Map(t.hosts.map((h) => [h.name, h]));
    assert.equal(after.get('host-00003')?.capacityFrom, 'self');
    assertCapacityMatches(sim, t, ['host-00001', 'host-00003']);
    assert.equal(after.get('host-00000')?.capacityFrom, 'none');
    // Regained later: read again (what was cached for it was dropped when it was lost).
    inv.setOwnership(undefined);
    await nextSecond();
    const u = await inv.refresh();
    assert.equal(u.calls?.placement, 1 + 2 * 2, 'host-00000 and host-00002');
    assert.ok(u.hosts.every((h) => h.capacityFrom === 'self'));
  });

  it('takes a foreign reading only while its provider generation is the listed one; reads a stale or missing one itself', async () => {
    const owner = new CloudInventory(os);
    const truth = new Map((await owner.refresh()).hosts.map((h) => [h.name, h]));
    owner.stop();
    const mine = new Set(['host-00000', 'host-00001']);
    const gen = (h: string): number | undefined => truth.get(h)?.resourceProviderGeneration;
    assert.ok(gen('host-00002') !== undefined && gen('host-00003') !== undefined, 'the owner publishes the generation it read at');
    const fake: HostCapacity = { VCPU: { total: 16, reserved: 0, allocationRatio: 1, used: 15, capacity: 16, free: 1, maxUnit: 16 } };
    const published = new Map<string, { capacity: HostCapacity; generation: number | undefined }>([
      ['host-00002', { capacity: truth.get('host-00002')!.resources, generation: gen('host-00002') }],
      // A reading made at an older generation: not to be trusted.
      ['host-00003', { capacity: fake, generation: (gen('host-00003') ?? 0) - 1 }],
    ]);
    const inv = new CloudInventory(os, {
      ownsHost: (h) => mine.has(h),
      foreignCapacity: () => new Map([...published].map(([h, p]) => [h, p.capacity])),
      foreignGeneration: (h) => published.get(h)?.generation,
    });
    const s = await inv.refresh();
    assert.equal(s.calls?.placement, 2 + 2 * 3, 'versions, providers, 2 owned + the stale foreign one');
    const by = new Map(s.hosts.map((h) => [h.name, h]));
    assert.equal(by.get('host-00002')?.capacityFrom, 'foreign');
    assert.equal(by.get('host-00003')?.capacityFrom, 'self');
    assert.deepEqual(by.get('host-00003')?.resources, truth.get('host-00003')?.resources);
    inv.stop();
  });

  it('waits foreignWaitMs for the owner of a host nothing was published for, then reads it itself; a reading published meanwhile ends the wait', async () => {
    let clock = Date.parse('2026-12-05T10:00:00Z');
    const mine = new Set(['host-00000']);
    const published = new Map<string, { capacity: HostCapacity; generation: number | undefined }>();
    const inv = new CloudInventory(os, {
      ownsHost: (h) => mine.has(h),
      foreignCapacity: () => new Map([...published].map(([h, p]) => [h, p.capacity])),
      foreignGeneration: (h) => published.get(h)?.generation,
      foreignWaitMs: 30_000,
      fullResyncEvery: 1,
      now: () => new Date(clock),
    });
    const s = await inv.refresh();
    assert.equal(s.calls?.placement, 2 + 2, 'versions, providers and the one owned host: the three foreign ones are waited for');
    assert.deepEqual(s.hosts.filter((h) => h.capacityFrom === 'none').map((h) => h.name).sort(), ['host-00001', 'host-00002', 'host-00003']);

    // Within the wait: still not read. The owner of host-00001 publishes meanwhile.
    const owner = new CloudInventory(os);
    const truth = new Map((await owner.refresh()).hosts.map((h) => [h.name, h]));
    owner.stop();
    published.set('host-00001', { capacity: truth.get('host-00001')!.resources, generation: truth.get('host-00001')?.resourceProviderGeneration });
    clock += 29_000;
    const t = await inv.refresh();
    assert.equal(t.calls?.placement, 1, 'providers only: 00002 and 00003 still within their wait, 00001 published');
    assert.equal(t.hosts.find((h) => h.name === 'host-00001')?.capacityFrom, 'foreign');

    // The wait is over for the two never published: read here, once.
    clock += 2_000;
    const u = await inv.refresh();
    assert.equal(u.calls?.placement, 1 + 2 * 2);
    const by = new Map(u.hosts.map((h) => [h.name, h]));
    assert.equal(by.get('host-00002')?.capacityFrom, 'self');
    assert.deepEqual(by.get('host-00003')?.resources, truth.get('host-00003')?.resources);
    assert.equal(by.get('host-00001')?.capacityFrom, 'foreign');
    inv.stop();
  });
});

describe('where changes-since starts (SinceClock, pure)', () => {
  const started = Date.parse('2026-01-01T10:00:30.400Z');
  const date = (iso: string): string => new Date(iso).toUTCString();

  it('a service clock in step with ours: our start less the margin, whole seconds, however slow the answer', () => {
    const c = new SinceClock(started);
    // Written at 10:00:31.9 (Date: 10:00:31), read 2.5 s after it was sent: allows an offset of 0.
    c.observe({ date: date('2026-01-01T10:00:31Z'), durationMs: 2600 }, Date.parse('2026-01-01T10:00:34.400Z'));
    assert.equal(c.since(10_000), '2026-01-01T10:00:20Z');
    assert.equal(new SinceClock(started).since(0), '2026-01-01T10:00:30Z', 'no answer: our clock');
  });

  it('a service clock behind ours: the start moves back by the largest lag the answers allow', () => {
    const c = new SinceClock(started);
    // Sent at 10:00:30.5, read at 10:00:30.6, Date 10:00:25: 5.6 s behind at most, 4.5 s at least.
    c.observe({ date: date('2026-01-01T10:00:25Z'), durationMs: 100 }, Date.parse('2026-01-01T10:00:30.600Z'));
    assert.equal(c.since(0), '2026-01-01T10:00:24Z');
    // A later, faster answer narrows it: read 50 ms after sending, Date 10:00:27 at 10:00:31.6.
    c.observe({ date: date('2026-01-01T10:00:27Z'), durationMs: 50 }, Date.parse('2026-01-01T10:00:31.600Z'));
    assert.equal(c.since(0), '2026-01-01T10:00:25Z');
  });

  it('a service clock ahead of ours moves nothing', () => {
    const c = new SinceClock(started);
    c.observe({ date: date('2026-01-01T10:05:00Z'), durationMs: 10 }, started + 100);
    assert.equal(c.since(1000), '2026-01-01T10:00:29Z');
  });
});
