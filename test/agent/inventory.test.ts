/** CloudInventory against the simulated cloud (thesis scenario), plus the pure joins. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CloudInventory, matchProviders, type InventorySnapshot } from '../../src/agent/inventory.ts';
import { renderThesisHosts } from '../../src/agent/hosts-view.ts';
import type { Hypervisor, OpenStack, ResourceProvider } from '../../src/openstack/index.ts';
import { loadScenario, startSimCloud, type ScenarioObject, type SimCloud } from '../../src/sim/index.ts';
import { closeSwitches, connect, nextSecond, openSwitches, views, type HostSwitch } from './inventory-helpers.ts';

async function boot(os: OpenStack, name: string, host: string): Promise<string> {
  const flavor = (await os.nova.listFlavors())[0]!;
  const net = (await os.neutron.listNetworks())[0]!;
  const created = await os.nova.createServer({ name, imageRef: '', flavorRef: flavor.id, availabilityZone: `nova:${host}`, networks: [{ uuid: net.id }] });
  await os.nova.waitForServer(created.id, ['ACTIVE'], { intervalMs: 20, timeoutMs: 10_000 });
  return created.id;
}

function callsDuring<T>(log: unknown[], fn: () => Promise<T>): Promise<{ value: T; calls: number }> {
  const start = log.length;
  return fn().then((value) => ({ value, calls: log.length - start }));
}

describe('CloudInventory against the simulated cloud', () => {
  let sim: SimCloud;
  let os: OpenStack;
  let log: unknown[];
  let inv: CloudInventory;
  let switches: Map<string, HostSwitch>;
  const booted: { id: string; host: string }[] = [];

  before(async () => {
    sim = await startSimCloud({ bootDelayMs: 10 });
    ({ os, log } = connect(sim));
    inv = new CloudInventory(os);
    for (const [name, host] of [['vm-a', 'compute1'], ['vm-b', 'compute1'], ['vm-c', 'compute2']] as const) {
      booted.push({ id: await boot(os, name, host), host });
    }
    switches = await openSwitches(sim, 'cm-test');
  });
  after(async () => {
    inv.stop();
    closeSwitches(switches);
    await os.close();
    await sim.close();
  });

  it('matches what Nova, Placement and Neutron hold (compared with the sim state)', async () => {
    const snap = await inv.refresh();
    assert.equal(snap.capacitySource, 'placement');
    assert.equal(snap.stale, false);
    assert.equal(snap.lastError, undefined);
    assert.deepEqual(snap.warnings, []);
    assert.equal(snap.hosts.length, sim.state.hosts.size);
    for (const h of snap.hosts) {
      const s = sim.state.hosts.get(h.name);
      assert.ok(s, `host ${h.name} exists in the sim`);
      assert.equal(h.hypervisorHostname, s.hypervisorHostname);
      assert.equal(h.hypervisorId, s.uuid, 'compute ≥ 2.53: the compute node UUID');
      assert.equal(h.resourceProviderUuid, s.uuid);
      assert.equal(h.hostIp, s.hostIp);
      assert.equal(h.state, s.state);
      assert.equal(h.status, s.status);
      assert.equal(h.availabilityZone, s.az);
      assert.deepEqual(h.warnings, []);
      const invs = sim.state.inventories(s);
      const used = sim.state.usages(s);
      for (const rc of ['VCPU', 'MEMORY_MB', 'DISK_GB'] as const) {
        const r = h.resources[rc];
        assert.ok(r, `${h.name} ${rc}`);
        const i = invs[rc];
        const capacity = Math.floor((i.total - i.reserved) * i.allocation_ratio);
        assert.deepEqual(r, {
          total: i.total,
          reserved: i.reserved,
          allocationRatio: i.allocation_ratio,
          used: used[rc] ?? 0,
          capacity,
          free: capacity - (used[rc] ?? 0),
          maxUnit: i.max_unit,
        });
      }
      const expected = booted.filter((b) => b.host === h.name).map((b) => b.id).sort();
      assert.deepEqual([...h.serverIds].sort(), expected);
      assert.equal(h.instances, expected.length);
    }
    assert.equal(snap.servers.length, sim.state.servers.size);
    for (const s of snap.servers) {
      const ss = sim.state.servers.get(s.id)!;
      assert.equal(s.name, ss.name);
      assert.equal(s.status, 'ACTIVE');
      assert.equal(s.host, ss.host);
      assert.equal(s.availabilityZone, ss.az);
      assert.equal(s.projectId, ss.projectId);
      assert.equal(s.flavor?.name, ss.flavor.name);
      assert.equal(s.flavor.vcpus, ss.flavor.vcpus);
      assert.deepEqual(s.ports.map((p) => p.id).sort(), [...ss.portIds].sort());
      for (const p of s.ports) {
        const sp = sim.state.ports.get(p.id)!;
        assert.equal(p.macAddress, sp.macAddress);
        assert.equal(p.networkId, sp.networkId);
        assert.equal(p.bindingHost, ss.host);
        assert.equal(p.status, sp.status);
        assert.deepEqual(p.fixedIps, sp.fixedIps.map((f) => ({ subnetId: f.subnet_id, ipAddress: f.ip_address })));
      }
    }
    assert.equal(inv.snapshot(), snap, 'snapshot() returns the cached object synchronously');
  });

  it('costs a constant number of HTTP calls per refresh with nothing changed, whatever the number of servers', async () => {
    // Exact counts need the changes behind us: no margin, and a new second (Nova keeps whole seconds).
    const exact = new CloudInventory(os, { changesSinceMarginMs: 0 });
    await exact.refresh(); // discovery, auth and the full read are behind us
    await nextSecond();
    await exact.refresh();
    const quiet = await callsDuring(log, () => exact.refresh());
    // services + servers changed since (one empty page) + resource_providers; no port, no capacity read.
    assert.equal(quiet.calls, 3);
    assert.deepEqual(quiet.value.calls, { nova: 2, neutron: 0, placement: 1 });
    const extra = [await boot(os, 'vm-d', 'compute2'), await boot(os, 'vm-e', 'compute2'), await boot(os, 'vm-f', 'compute1')];
    await nextSecond();
    const afterBoot = await callsDuring(log, () => exact.refresh());
    assert.equal(afterBoot.value.servers.length, sim.state.servers.size);
    // The three servers' ports in one call by device_id; both hosts' capacity read again.
    assert.deepEqual(afterBoot.value.calls, { nova: 2, neutron: 1, placement: 1 + 2 * 2 });
    await nextSecond();
    assert.equal((await callsDuring(log, () => exact.refresh())).calls, quiet.calls, 'three more servers, same number of calls once nothing changes');
    for (const id of extra) await os.nova.deleteServer(id);
    const deadline = Date.now() + 5000;
    while (extra.some((id) => sim.state.servers.has(id)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const afterDelete = await exact.refresh();
    assert.equal(afterDelete.servers.length, booted.length);
    assert.deepEqual(afterDelete.calls, { nova: 2, neutron: 0, placement: 1 + 2 * 2 }, 'deleted servers: no port to read, both hosts re-read');
  });

  it('shares one refresh between concurrent callers', async () => {
    const both = await callsDuring(log, () => Promise.all([inv.refresh(), inv.refresh(), inv.refresh()]));
    assert.equal(both.value[0], both.value[1]);
    assert.equal(both.value[1], both.value[2]);
    const one = both.value[0].calls;
    assert.ok(one);
    assert.equal(both.calls, one.nova + one.neutron + one.placement, 'the calls of one refresh');
  });

  it('a caller signal abandons only its own wait', async () => {
    const ac = new AbortController();
    const mine = inv.refresh(ac.signal);
    const other = inv.refresh();
    ac.abort(new Error('caller gave up'));
    await assert.rejects(mine, /caller gave up/);
    const snap = await other;
    assert.equal(snap.stale, false);
  });

  it('keeps serving the previous snapshot (stale, lastError) while Nova is down, and recovers', async () => {
    const good = await inv.refresh();
    sim.faults.serviceDown('nova', true);
    try {
      await assert.rejects(inv.refresh(), (e: Error & { code?: string }) => {
        assert.match(e.message, /503|unavailable/i);
        return true;
      });
      const stale = inv.snapshot();
      assert.ok(stale);
      assert.equal(stale.stale, true);
      assert.ok(stale.lastError);
      assert.match(stale.lastError.message, /503|unavailable/i);
      assert.equal(stale.lastError.code?.startsWith('CM_ERR_OPENSTACK'), true);
      assert.equal(stale.refreshedAt, good.refreshedAt, 'the data is the previous refresh');
      assert.deepEqual(stale.hosts, good.hosts);
      assert.deepEqual(stale.servers, good.servers);
      assert.ok(inv.lastError);
      // The renderers keep working from the stale snapshot.
      const thesis = renderThesisHosts(stale, () => undefined);
      assert.equal(Object.keys(thesis).length, sim.state.hosts.size);
    } finally {
      sim.faults.serviceDown('nova', false);
    }
    const fresh = await inv.refresh();
    assert.equal(fresh.stale, false);
    assert.equal(fresh.lastError, undefined);
    assert.equal(inv.lastError, undefined);
  });

  it('start() refreshes periodically and stop() ends it', async () => {
    const periodic = new CloudInventory(os);
    const seen: boolean[] = [];
    try {
      periodic.start({ intervalMs: 30 });
      const deadline = Date.now() + 5000;
      while (periodic.refreshCount < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      assert.ok(periodic.refreshCount >= 3, `refreshed ${String(periodic.refreshCount)} times`);
      seen.push(periodic.snapshot()?.stale ?? true);
    } finally {
      periodic.stop();
    }
    const n = periodic.refreshCount;
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(periodic.refreshCount <= n + 1, 'no more refreshes after stop (at most the one in flight)');
    assert.deepEqual(seen, [false]);
    // A stopped inventory can still be refreshed by hand.
    assert.equal((await periodic.refresh()).stale, false);
  });

  it('a failing first refresh leaves no snapshot but reports the error', async () => {
    const fresh = new CloudInventory(os);
    sim.faults.serviceDown('neutron', true);
    try {
      await assert.rejects(fresh.refresh());
    } finally {
      sim.faults.serviceDown('neutron', false);
    }
    assert.equal(fresh.snapshot(), undefined);
    assert.ok(fresh.lastError);
    assert.ok(fresh.lastError.code?.startsWith('CM_ERR_OPENSTACK'));
  });

  it('surfaces the permission problem for a non-admin token instead of reporting no hosts', async () => {
    const member = connect(sim, { user: { username: 'thesis', password: 'thesis', projectName: 'thesis' } });
    try {
      const m = new CloudInventory(member.os);
      await assert.rejects(m.refresh(), (e: Error & { code?: string; status?: number }) => {
        assert.ok(e.code === 'CM_ERR_OPENSTACK_NOT_ADMIN' || e.status === 403, `${String(e.code)} ${e.message}`);
        return true;
      });
      assert.equal(m.snapshot(), undefined);
    } finally {
      await member.os.close();
    }
  });

  it('the OVS views see every booted port (the renderers’ input)', async () => {
    const v = await views(switches, booted.map((b) => ({ host: b.host, portId: sim.state.servers.get(b.id)!.portIds[0]! })));
    for (const b of booted) {
      const portId = sim.state.servers.get(b.id)!.portIds[0]!;
      assert.match(v.get(b.host)?.findByIfaceId(portId)?.port.name ?? '', /^qvo/);
    }
  });
});

describe('capacity source below compute 2.88 (hypervisor statistics)', () => {
  let sim: SimCloud;
  let modern: OpenStack;
  let legacy: OpenStack;
  let legacyLog: unknown[];

  before(async () => {
    sim = await startSimCloud({ bootDelayMs: 10 });
    ({ os: modern } = connect(sim));
    ({ os: legacy, log: legacyLog } = connect(sim, { microversion: '2.53' }));
    await boot(modern, 'vm-1', 'compute1');
    await boot(modern, 'vm-2', 'compute2');
  });
  after(async () => {
    await modern.close();
    await legacy.close();
    await sim.close();
  });

  it('reads cpu/ram/disk from the hypervisors and says so; thesis figures agree with Placement', async () => {
    const old = await new CloudInventory(legacy).refresh();
    const neu = await new CloudInventory(modern).refresh();
    assert.equal(old.capacitySource, 'hypervisor-stats');
    assert.equal(old.computeMicroversion, '2.53');
    assert.equal(neu.capacitySource, 'placement');
    assert.deepEqual(old.warnings, []);
    for (const h of old.hosts) {
      const s = sim.state.hosts.get(h.name)!;
      assert.equal(h.resourceProviderUuid, undefined);
      assert.equal(h.resources.VCPU?.total, s.vcpus);
      assert.equal(h.resources.VCPU.used, sim.state.usages(s).VCPU);
      assert.equal(h.resources.MEMORY_MB?.total, s.memoryMb);
      assert.equal(h.resources.DISK_GB?.total, s.diskGb);
      assert.equal(h.instances, 1, 'running_vms');
    }
    const ovs = (): undefined => undefined;
    const a = renderThesisHosts(old, ovs);
    const b = renderThesisHosts(neu, ovs);
    for (const name of Object.keys(a)) {
      const { id: _a, ...ra } = a[name]!;
      const { id: _b, ...rb } = b[name]!;
      assert.deepEqual(ra, rb, `${name}: same thesis figures from both sources`);
    }
  });

  it('uses no Placement call at all in the fallback, and lists the hypervisors every time (they carry the capacity)', async () => {
    const inv = new CloudInventory(legacy, { changesSinceMarginMs: 0 });
    await inv.refresh();
    await nextSecond();
    await inv.refresh(); // the first incremental one: Neutron refuses changed_since, ports are read by server from then on
    await nextSecond();
    const start = legacyLog.length;
    const snap = await inv.refresh();
    const entries = legacyLog.slice(start) as { service: string }[];
    assert.equal(entries.filter((e) => e.service === 'placement').length, 0);
    assert.equal(entries.length, 3, 'hypervisors, services, servers changed since; no port changed');
    assert.deepEqual(snap.calls, { nova: 3, neutron: 0, placement: 0 });
    assert.equal(snap.read?.hypervisors, true);
  });
});

describe('hosts whose hypervisor_hostname differs from the compute service host', () => {
  let sim: SimCloud;
  let os: OpenStack;

  before(async () => {
    const base = loadScenario();
    const scenario = structuredClone(base) as ScenarioObject & { hosts: Record<string, unknown>[] };
    scenario.hosts = scenario.hosts.map((h) => ({ ...h, hypervisor_hostname: `${h.name}.cloud.example`, reserved_host_memory_mb: 512 }));
    sim = await startSimCloud({ scenario, bootDelayMs: 10 });
    ({ os } = connect(sim));
    await boot(os, 'vm-x', 'compute1');
  });
  after(async () => {
    await os.close();
    await sim.close();
  });

  it('joins servers by service host and Placement by hypervisor hostname', async () => {
    const snap: InventorySnapshot = await new CloudInventory(os).refresh();
    assert.deepEqual(snap.warnings, []);
    const c1 = snap.hosts.find((h) => h.name === 'compute1')!;
    assert.equal(c1.hypervisorHostname, 'compute1.cloud.example');
    assert.equal(c1.serverIds.length, 1);
    assert.equal(c1.resources.MEMORY_MB?.reserved, 512);
    assert.equal(c1.resources.MEMORY_MB.used, 512, 'one m1.mini');
    const thesis = renderThesisHosts(snap, () => undefined);
    assert.deepEqual(Object.keys(thesis).sort(), ['compute1.cloud.example', 'compute2.cloud.example']);
    assert.equal(thesis['compute1.cloud.example']?.ram_used, 1024, 'Nova semantics: reserved + allocated');
  });
});

describe('matchProviders (pure)', () => {
  const hv = (id: string | number, name: string): Hypervisor => ({ id, hypervisorHostname: name, state: 'up', status: 'enabled', raw: {} });
  const rp = (uuid: string, name: string, parent: string | null = null): ResourceProvider => ({ uuid, name, generation: 1, parentProviderUuid: parent, rootProviderUuid: uuid, raw: {} });

  it('matches by name, falls back to the compute node UUID with a warning, and warns when nothing matches', () => {
    const m = matchProviders(
      [hv('u-1', 'node1'), hv('u-2', 'node2-renamed'), hv('u-3', 'node3'), hv(4, 'node4')],
      [rp('u-1', 'node1'), rp('u-2', 'node2'), rp('child', 'node3', 'u-x')],
    );
    assert.equal(m.get('u-1')?.provider?.uuid, 'u-1');
    assert.equal(m.get('u-1')?.warning, undefined);
    assert.equal(m.get('u-2')?.provider?.uuid, 'u-2');
    assert.match(m.get('u-2')?.warning ?? '', /by compute node UUID/);
    assert.equal(m.get('u-3')?.provider, undefined, 'a nested provider is not a compute node');
    assert.match(m.get('u-3')?.warning ?? '', /no Placement resource provider named "node3"/);
    assert.equal(m.get('4')?.provider, undefined);
    assert.ok(m.get('4')?.warning);
  });
});
