/**
 * What a CloudInventory refresh costs equals the formula of src/agent/inventory/cost.ts,
 * request for request, on a simulated cloud of 200 hosts with small pages (Nova capping
 * them lower than asked), for one agent owning every host and for each of four replicas
 * owning a quarter: cold, the first incremental refresh, a few changes, a burst of changes
 * spanning pages and device batches, a host that comes, nothing changed, a full resync;
 * and with Neutron accepting `changed_since`. The benchmark (bench/inventory-calls.ts)
 * holds the same formula at 10 000 hosts.
 *
 * Exact counts: no changes-since margin, and every refresh that must not see a change
 * again starts in a later second than the change (Nova and Neutron keep whole seconds).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloudInventory, coldCalls, fullResyncCalls, incrementalCalls, type InventoryCalls, type InventorySnapshot } from '../../src/agent/inventory.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { bulkScenario, NO_SWITCHES, seedServers, startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { bootOn, connect, liveMigrate, nextSecond, removeServer, serverOn } from './inventory-helpers.ts';

const H = 200;
const PER_HOST = 3;
/** The inventory asks for pages of 25; Nova answers at most 20 (its max_limit here), Neutron 25. */
const L = 25;
const NOVA_MAX = 20;
const R = 4;
const SIZE = { vcpus: 16, memory_mb: 32_768, disk_gb: 200 };

const host = (i: number): string => `host-${String(i).padStart(5, '0')}`;
const indexOf = (h: string): number => Number(h.slice('host-'.length));

interface Agent {
  name: string;
  os: OpenStack;
  inv: CloudInventory;
  owns: (h: string) => boolean;
}

/** The data of a snapshot that two reads of the same cloud agree on. */
const data = (s: InventorySnapshot): unknown => ({ hosts: s.hosts, servers: s.servers, warnings: s.warnings });

describe(`inventory call counts equal the formula: ${H} hosts × ${PER_HOST} servers, pages of ${L} (Nova ${NOVA_MAX})`, () => {
  let sim: SimCloud;
  let agents: Agent[];
  let admin: OpenStack;
  const pageSizes = { pageSize: L, novaMaxLimit: NOVA_MAX };
  const size = () => ({ ...pageSizes, hypervisors: sim.state.hosts.size, servers: sim.state.servers.size, ports: sim.state.ports.size });
  /** Refreshes every agent (one after the other) and checks each against `formula`. */
  const refreshAll = async (formula: (a: Agent) => InventoryCalls): Promise<Map<string, InventorySnapshot>> => {
    const out = new Map<string, InventorySnapshot>();
    for (const a of agents) {
      const s = await a.inv.refresh();
      assert.deepEqual(s.calls, formula(a), `${a.name}: ${JSON.stringify(s.read)}`);
      out.set(a.name, s);
    }
    return out;
  };

  before(async () => {
    sim = await startSimCloud({ scenario: bulkScenario(H, SIZE), hypervisor: NO_SWITCHES, bootDelayMs: 1, novaMaxLimit: NOVA_MAX });
    seedServers(sim.state, { perHost: PER_HOST });
    admin = connect(sim).os;
    const opts = { pageSize: L, changesSinceMarginMs: 0, fullResyncEvery: 1000 };
    // Each with its own clients, as separate processes: the compute versions are discovered once per client.
    const one = connect(sim).os;
    agents = [{ name: 'one agent', os: one, inv: new CloudInventory(one, opts), owns: () => true }];
    for (let r = 0; r < R; r++) {
      const os = connect(sim).os;
      const owns = (h: string): boolean => indexOf(h) % R === r;
      agents.push({ name: `replica ${r}`, os, inv: new CloudInventory(os, { ...opts, ownsHost: owns }), owns });
    }
  });
  after(async () => {
    for (const a of agents) await a.os.close();
    await admin.close();
    await sim.close();
  });

  it('cold: every list paged, every owned provider; each provider is read by one replica only', async () => {
    const snaps = await refreshAll((a) => coldCalls({ ...size(), ownedProviders: [...sim.state.hosts.keys()].filter(a.owns).length }));
    // 1 + pages(200, 20) + 1 + pages(600, 20); pages(600, 25); 2 + 2 × 200.
    assert.deepEqual(snaps.get('one agent')?.calls, { nova: 1 + 11 + 1 + 31, neutron: 25, placement: 402 });
    const replicas = agents.filter((a) => a.name.startsWith('replica'));
    assert.equal(replicas.reduce((n, a) => n + (snaps.get(a.name)?.calls?.placement ?? 0), 0), 2 * R + 2 * H, 'Placement: not multiplied by the replicas');
    // Together the replicas read every host's capacity once, as the one agent does.
    const single = new Map(snaps.get('one agent')!.hosts.map((h) => [h.name, h.resources]));
    for (const hostName of sim.state.hosts.keys()) {
      const readers = replicas.filter((a) => snaps.get(a.name)!.hosts.find((h) => h.name === hostName)?.capacityFrom === 'self');
      assert.equal(readers.length, 1, hostName);
      assert.deepEqual(snaps.get(readers[0]!.name)!.hosts.find((h) => h.name === hostName)?.resources, single.get(hostName));
    }
  });

  it('the first incremental refresh: one page of changes, Neutron refusing changed_since once, the providers list', async () => {
    await nextSecond();
    await refreshAll(() => incrementalCalls({ ...pageSizes, serverRecords: 0, deletedServers: 0, ports: { by: 'by-server' }, refused: true, providersRead: 0 }));
  });

  it('a few changes: servers booted, deleted and live-migrated, an inventory written', async () => {
    await nextSecond();
    const booted = [await bootOn(admin, sim, 'f-0', host(10)), await bootOn(admin, sim, 'f-1', host(11)), await bootOn(admin, sim, 'f-2', host(12))];
    await removeServer(admin, sim, serverOn(sim, host(20)));
    await removeServer(admin, sim, serverOn(sim, host(21)));
    await liveMigrate(admin, sim, serverOn(sim, host(30)), host(31));
    const written = sim.state.hosts.get(host(40))!;
    written.reservedMemoryMb = 2048;
    written.generation += 1; // what the resource tracker's PUT of an inventory does
    const touched = [10, 11, 12, 20, 21, 30, 31, 40].map(host);
    await nextSecond();
    const snaps = await refreshAll((a) =>
      incrementalCalls({ ...pageSizes, serverRecords: 3 + 2 + 1, deletedServers: 2, ports: { by: 'by-server' }, providersRead: touched.filter(a.owns).length }),
    );
    const s = snaps.get('one agent')!;
    assert.ok(booted.every((id) => s.servers.some((x) => x.id === id && x.ports.length === 1)));
    assert.equal(s.hosts.find((h) => h.name === host(40))?.resources.MEMORY_MB?.reserved, 2048);
    // What the changes built equals a full read of the cloud.
    const fresh = await new CloudInventory(admin, { pageSize: L }).refresh();
    assert.deepEqual(data(s), data(fresh));
  });

  it('nothing changed: the services, one page of changes and the providers list', async () => {
    await nextSecond();
    await refreshAll(() => incrementalCalls({ ...pageSizes, serverRecords: 0, deletedServers: 0, ports: { by: 'by-server' }, providersRead: 0 }));
  });

  it('a burst: 130 servers on 130 hosts, over 7 pages of changes and 2 batches of ports', async () => {
    await nextSecond();
    const hosts = Array.from({ length: 130 }, (_, i) => host(50 + i));
    for (let i = 0; i < hosts.length; i += 26) await Promise.all(hosts.slice(i, i + 26).map((h, j) => bootOn(admin, sim, `b-${i + j}`, h)));
    await nextSecond();
    await refreshAll((a) => {
      const expected = incrementalCalls({ ...pageSizes, serverRecords: 130, deletedServers: 0, ports: { by: 'by-server' }, providersRead: hosts.filter(a.owns).length });
      assert.deepEqual([expected.nova, expected.neutron], [1 + 7, 2]);
      return expected;
    });
  });

  it('a host that comes: the hypervisors are listed again; its provider is read by its owner', async () => {
    await nextSecond();
    const model = sim.state.hosts.get(host(0))!;
    const name = host(H);
    sim.state.addHost({ ...model, name, hypervisorHostname: name, uuid: '5a0c3d1e-2b4f-4c6a-8d9e-0f1a2b3c4d5e', serviceUuid: '5a0c3d1e-2b4f-4c6a-8d9e-0f1a2b3c4d5f', intId: H + 1, serviceIntId: H + 3, generation: 1 });
    const snaps = await refreshAll((a) =>
      incrementalCalls({ ...pageSizes, serverRecords: 0, deletedServers: 0, ports: { by: 'by-server' }, relistHypervisors: H + 1, providersRead: a.owns(name) ? 1 : 0 }),
    );
    assert.ok(snaps.get('one agent')!.hosts.some((h) => h.name === name && h.resources.VCPU !== undefined));
  });

  it('a full resync with nothing changed: every list again, no provider', async () => {
    await nextSecond();
    // Fresh inventories that resync at their third refresh.
    const resyncing = agents.map((a) => ({ ...a, inv: new CloudInventory(a.os, { pageSize: L, changesSinceMarginMs: 0, fullResyncEvery: 2, ...(a.name.startsWith('replica') ? { ownsHost: a.owns } : {}) }) }));
    for (const a of resyncing) await a.inv.refresh();
    await nextSecond();
    for (const a of resyncing) await a.inv.refresh();
    await nextSecond();
    for (const a of resyncing) {
      const s = await a.inv.refresh();
      assert.equal(s.read?.kind, 'full');
      assert.deepEqual(s.calls, fullResyncCalls({ ...size(), providersRead: 0 }), a.name);
    }
  });
});

describe('inventory call counts equal the formula with Neutron accepting changed_since', () => {
  let sim: SimCloud;
  let os: OpenStack;
  let inv: CloudInventory;
  const pageSizes = { pageSize: 7 };

  before(async () => {
    sim = await startSimCloud({ scenario: bulkScenario(40, SIZE), hypervisor: NO_SWITCHES, bootDelayMs: 1, neutronChangedSince: true });
    seedServers(sim.state, { perHost: 2 });
    ({ os } = connect(sim));
    inv = new CloudInventory(os, { pageSize: 7, changesSinceMarginMs: 0, fullResyncEvery: 1000 });
    const cold = await inv.refresh();
    assert.deepEqual(cold.calls, coldCalls({ ...pageSizes, hypervisors: 40, servers: 80, ports: 80, ownedProviders: 40 }));
  });
  after(async () => {
    await os.close();
    await sim.close();
  });

  it('nothing changed: one (empty) page of changed ports', async () => {
    await nextSecond();
    const s = await inv.refresh();
    assert.equal(s.read?.ports, 'changed-since');
    assert.deepEqual(s.calls, incrementalCalls({ ...pageSizes, serverRecords: 0, deletedServers: 0, ports: { by: 'changed-since', changedPorts: 0 }, providersRead: 0 }));
  });

  it('a failed attempt sent again is in calls and in read.retried, not in the formula', async () => {
    await nextSecond();
    sim.faults.failNext('placement', 503, 1);
    const s = await inv.refresh();
    const formula = incrementalCalls({ ...pageSizes, serverRecords: 0, deletedServers: 0, ports: { by: 'changed-since', changedPorts: 0 }, providersRead: 0 });
    assert.deepEqual(s.read?.retried, { nova: 0, neutron: 0, placement: 1 });
    assert.deepEqual(s.calls, { ...formula, placement: formula.placement + 1 });
  });

  it('servers booted, one deleted, one moved: the changed ports over pages of 7', async () => {
    await nextSecond();
    for (let i = 0; i < 8; i++) await bootOn(os, sim, `c-${i}`, `host-${String(i).padStart(5, '0')}`);
    await removeServer(os, sim, serverOn(sim, 'host-00020'));
    await liveMigrate(os, sim, serverOn(sim, 'host-00030'), 'host-00031');
    await nextSecond();
    const s = await inv.refresh();
    // 8 new ports and the moved one's (the deleted server's port is gone: Neutron does not answer it).
    const expected = incrementalCalls({ ...pageSizes, serverRecords: 8 + 1 + 1, deletedServers: 1, ports: { by: 'changed-since', changedPorts: 9 }, providersRead: 8 + 1 + 2 });
    assert.equal(expected.neutron, 2);
    assert.deepEqual(s.calls, expected);
    assert.equal(s.servers.length, sim.state.servers.size);
    assert.equal(s.servers.find((x) => x.host === 'host-00031' && x.ports[0]?.bindingHost === 'host-00031') !== undefined, true);
  });
});
