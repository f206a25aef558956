/** The clients against the simulated cloud (src/sim) over real HTTP on 127.0.0.1. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createOpenStack, type OpenStack } from '../../src/openstack/index.ts';
import { OpenStackConflictError } from '../../src/openstack/errors.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';

describe('OpenStack clients against the simulated cloud', () => {
  let sim: SimCloud;
  let os: OpenStack;

  before(async () => {
    sim = await startSimCloud();
    const c = sim.credentials;
    os = createOpenStack({
      cloudName: 'sim',
      authType: 'password',
      auth: { authUrl: sim.authUrl, username: c.username, password: c.password, projectName: c.projectName, userDomainName: c.userDomainName, projectDomainName: c.projectDomainName },
      regionName: c.regionName,
      interface: 'public',
      insecure: false,
      source: 'test',
    }, { http: { retry: { baseDelayMs: 10 } } });
  });
  after(async () => {
    await os.close();
    await sim.close();
  });

  it('authenticates and finds every service in the catalog', async () => {
    const t = await os.keystone.tokenInfo();
    assert.ok(t.token.length > 0);
    assert.ok(t.expiresAt.getTime() > Date.now());
    for (const type of ['compute', 'placement', 'network', 'orchestration', 'identity']) {
      assert.match(await os.keystone.endpoint(type), /^http:\/\/127\.0\.0\.1:\d+\//);
    }
  });

  it('negotiates ≥ 2.88 and lists hypervisors, services and AZs', async () => {
    assert.equal(await os.nova.capacitySource(), 'placement');
    const hv = await os.nova.listHypervisors({ detail: true });
    const hosts = [...sim.state.hosts.values()];
    assert.deepEqual(hv.map((h) => h.serviceHost).sort(), hosts.map((h) => h.name).sort());
    assert.equal(hv[0]?.vcpus, undefined);
    const svcs = await os.nova.listServices({ binary: 'nova-compute' });
    assert.equal(svcs.length, hosts.length);
    assert.ok(svcs.every((s) => s.state === 'up' && s.status === 'enabled'));
    const zones = await os.nova.availabilityZones();
    assert.ok(zones.every((z) => z.name !== 'internal'));
  });

  it('computes placement capacity per host', async () => {
    for (const host of sim.state.hosts.values()) {
      const [rp] = await os.placement.listResourceProviders({ name: host.hypervisorHostname });
      assert.equal(rp?.uuid, host.uuid);
      const cap = await os.placement.capacity(host.uuid);
      assert.equal(cap.VCPU?.capacity, Math.floor((host.vcpus - host.reservedVcpus) * host.cpuRatio));
      assert.equal(cap.MEMORY_MB?.capacity, Math.floor((host.memoryMb - host.reservedMemoryMb) * host.ramRatio));
    }
  });

  it('boots a server pinned to a host, sees it ACTIVE there, and its port bound to that host', async () => {
    const host = [...sim.state.hosts.values()][1]!;
    const flavor = (await os.nova.listFlavors())[0]!;
    const net = (await os.neutron.listNetworks())[0]!;
    const created = await os.nova.createServer({ name: 'sim-vm', imageRef: '', flavorRef: flavor.id, availabilityZone: `${host.az}:${host.name}`, networks: [{ uuid: net.id }] });
    const server = await os.nova.waitForServer(created.id, ['ACTIVE'], { intervalMs: 50, timeoutMs: 10_000 });
    assert.equal(server.host, host.name);
    assert.equal(server.hypervisorHostname, host.hypervisorHostname);
    const all = await os.nova.listServers({ allTenants: true, host: host.name });
    assert.ok(all.some((s) => s.id === created.id));
    const ports = await os.neutron.listPorts({ deviceId: created.id });
    assert.equal(ports.length, 1);
    assert.equal(ports[0]?.hostId, host.name);
    assert.equal(ports[0].deviceOwner, `compute:${host.az}`);
    const rpAllocs = await os.placement.providerAllocations(host.uuid);
    assert.equal(rpAllocs.allocations[created.id]?.VCPU, flavor.vcpus);
    await os.nova.deleteServer(created.id);
  });

  it('runs a Heat stack lifecycle (create, 409 on duplicate, show by name, resources, events, delete)', async () => {
    const flavor = (await os.nova.listFlavors())[0]!;
    const template = {
      heat_template_version: '2018-08-31',
      resources: { vm: { type: 'OS::Nova::Server', properties: { flavor: flavor.name, image: 'img', networks: [{ network: 'private' }] } } },
    };
    const cs = await os.heat.createStack({ name: 'simstack', template, disableRollback: true });
    await assert.rejects(os.heat.createStack({ name: 'simstack', template }), OpenStackConflictError);
    const done = await os.heat.waitForStack('simstack', cs.id, { intervalMs: 50, timeoutMs: 10_000 });
    assert.equal(done?.status, 'CREATE_COMPLETE');
    const byName = await os.heat.getStack('simstack');
    assert.equal(byName.id, cs.id);
    const res = await os.heat.listResources('simstack', cs.id);
    assert.equal(res[0]?.type, 'OS::Nova::Server');
    assert.ok((await os.heat.listEvents('simstack', cs.id)).length > 0);
    assert.ok((await os.heat.listStacks()).some((s) => s.id === cs.id));
    await os.heat.deleteStack('simstack', cs.id);
    const gone = await os.heat.waitForStack('simstack', cs.id, { intervalMs: 50, timeoutMs: 10_000 });
    assert.ok(gone === undefined || gone.status === 'DELETE_COMPLETE');
  });

  it('re-authenticates after the tokens expire', async () => {
    const before = os.keystone.authCount;
    sim.faults.expireTokens();
    await os.nova.listHypervisors();
    assert.equal(os.keystone.authCount, before + 1);
  });
});
