/**
 * The OpenStack clients against the real services of a Debian Zed cloud:
 * Keystone password auth and catalog, compute and Placement microversion
 * negotiation, hypervisors in the 2.88 shape, Placement capacity per provider,
 * a server pinned to a host with its host/AZ fields and its port by device_id,
 * and a Heat stack's whole lifecycle.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { joinUrl, OpenStackApiError, OpenStackUnsupportedError, type OpenStack } from '../../src/openstack/index.ts';
import { bootPinned, cloudIds, eventually, openReal, PREFIX, realSkip, record, removeLeftovers, waitServerGone } from './cloud.ts';

/** up.sh's fake host sizes ("vcpus memory_mb disk_gb"), as it reads them. */
function hostSize(env: string | undefined, fallback: string): { vcpus: number; memoryMb: number; diskGb: number } {
  const [vcpus = 0, memoryMb = 0, diskGb = 0] = (env ?? fallback).trim().split(/\s+/).map(Number);
  return { vcpus, memoryMb, diskGb };
}
const SIZES = { compute1: hostSize(process.env.OSR_C1_SIZE, '8 16384 200'), compute2: hostSize(process.env.OSR_C2_SIZE, '32 65536 1000') };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('OpenStack clients against the real Zed services', { skip: realSkip }, () => {
  let os: OpenStack;
  let ids: Awaited<ReturnType<typeof cloudIds>>;

  before(async () => {
    os = openReal();
    await removeLeftovers(os);
    ids = await cloudIds(os, { flavor: 'm1.tiny', network: 'private' });
  });
  after(async () => {
    await os.close();
  });

  it('authenticates with a password and finds every service of the catalog', async () => {
    const token = await os.keystone.tokenInfo();
    assert.ok(token.roles.includes('admin'), `roles: ${token.roles.join(', ')}`);
    assert.equal(token.projectName, 'admin');
    assert.match(token.projectId ?? '', /^[0-9a-f]{32}$/, 'Keystone project ids are 32 hex digits');
    assert.ok(token.expiresAt.getTime() > Date.now() + 30 * 60_000, 'an hour-long token');
    for (const type of ['identity', 'compute', 'placement', 'network', 'orchestration', 'image']) {
      const svc = token.catalog.find((s) => s.type === type);
      assert.ok(svc, `${type} in the catalog`);
      assert.deepEqual(svc.endpoints.map((e) => e.interface).sort(), ['admin', 'internal', 'public'], `${type} endpoints`);
      assert.ok(svc.endpoints.every((e) => e.regionId === 'RegionOne'));
    }
    assert.match(await os.keystone.endpoint('compute'), /:8774\/v2\.1$/);
    assert.equal(await os.keystone.endpoint('orchestration'), `http://127.0.0.1:8004/v1/${token.projectId ?? ''}`, "Heat's catalog URL carries the project id");
    assert.equal(await os.keystone.endpoint('network'), 'http://127.0.0.1:9696', "Neutron's catalog URL has no version");
    await assert.rejects(
      () => os.keystone.endpoint('compute', { region: 'Nowhere' }),
      (e: Error) => /no public endpoint in region "Nowhere"/.test(e.message),
    );
  });

  it('negotiates compute 2.88 within the cloud range and Placement 1.36', async () => {
    const range = await os.nova.versions();
    assert.equal(range.min, '2.1');
    assert.equal(range.max, '2.93', "Zed's compute maximum");
    assert.equal(await os.nova.microversion(), '2.88');
    assert.equal(await os.nova.capacitySource(), 'placement');
    const placement = await os.placement.negotiate();
    assert.equal(placement.max, '1.39', "Zed's Placement maximum");
    assert.equal(placement.chosen, '1.36');
  });

  it('lists both hypervisors in the 2.88 shape: UUID ids, service host, no statistics', async () => {
    const hvs = await os.nova.listHypervisors({ detail: true });
    assert.deepEqual(hvs.map((h) => h.hypervisorHostname).sort(), ['compute1', 'compute2']);
    for (const h of hvs) {
      assert.match(String(h.id), UUID);
      assert.equal(h.serviceHost, h.hypervisorHostname, 'with host = computeN the fake driver names the node after the host');
      assert.equal(h.state, 'up');
      assert.equal(h.status, 'enabled');
      assert.equal(h.hypervisorType, 'fake');
      assert.equal(h.vcpus, undefined, 'statistics are gone at 2.88');
      assert.equal(h.memoryMb, undefined);
      assert.ok('uptime' in h.raw, 'uptime is in the detail at 2.88');
      const one = await os.nova.getHypervisor(h.id, { withServers: true });
      assert.equal(one.hypervisorHostname, h.hypervisorHostname);
    }
    await assert.rejects(() => os.nova.hypervisorStatistics(), OpenStackUnsupportedError);
    const services = await os.nova.listServices({ binary: 'nova-compute' });
    assert.deepEqual(services.map((s) => `${s.host}:${s.zone}:${s.state}`).sort(), ['compute1:nova:up', 'compute2:nova:up']);
    const zones = await os.nova.availabilityZones();
    assert.deepEqual(zones.map((z) => z.name), ['nova'], 'the internal zone is dropped');
    assert.deepEqual(Object.keys(zones[0]?.hosts ?? {}).sort(), ['compute1', 'compute2']);
  });

  it("reads Placement capacity per provider: the fake hosts' sizes with Nova's ratios and reservations", async () => {
    const providers = await os.placement.listResourceProviders();
    for (const host of ['compute1', 'compute2'] as const) {
      const rp = providers.find((p) => p.name === host);
      assert.ok(rp, `provider ${host}`);
      assert.equal(rp.parentProviderUuid, null);
      assert.equal(rp.rootProviderUuid, rp.uuid);
      const inv = await os.placement.inventories(rp.uuid);
      const size = SIZES[host];
      const { VCPU: v, MEMORY_MB: m, DISK_GB: d } = inv.inventories;
      assert.ok(v && m && d, 'VCPU, MEMORY_MB and DISK_GB inventories');
      assert.deepEqual([v.total, m.total, d.total], [size.vcpus, size.memoryMb, size.diskGb]);
      assert.equal(m.reserved, 512, 'reserved_host_memory_mb');
      assert.deepEqual([v.allocationRatio, m.allocationRatio, d.allocationRatio], [16, 1.5, 1], "Zed's initial allocation ratios");
      const cap = await os.placement.capacity(rp.uuid);
      const vcpu = cap.VCPU;
      assert.ok(vcpu);
      assert.equal(vcpu.capacity, Math.floor((vcpu.total - vcpu.reserved) * vcpu.allocationRatio));
      const mem = cap.MEMORY_MB;
      assert.ok(mem);
      assert.equal(mem.capacity, Math.floor((size.memoryMb - 512) * mem.allocationRatio), 'Zed: initial_ram_allocation_ratio 1.5');
    }
  });

  it('boots a server pinned to compute2: host, AZ and hypervisor in the server, its port found by device_id', async () => {
    const started = Date.now();
    const s = await bootPinned(os, 'clients', 'compute2', ids);
    record('server boot → server and port ACTIVE (pinned, Nova API)', Date.now() - started);
    try {
      const server = await os.nova.getServer(s.id);
      assert.equal(server.host, 'compute2');
      assert.equal(server.hypervisorHostname, 'compute2');
      assert.equal(server.availabilityZone, 'nova');
      assert.equal(server.flavor?.originalName, 'm1.tiny', 'flavor embedded by name from 2.47');
      assert.match(server.instanceName ?? '', /^instance-[0-9a-f]{8}$/);
      const listed = (await os.nova.listServers({ allTenants: true, host: 'compute2' })).find((x) => x.id === s.id);
      assert.equal(listed?.host, 'compute2');
      const ports = await os.neutron.listPorts({ deviceId: [s.id, '00000000-0000-0000-0000-000000000000'] });
      assert.equal(ports.length, 1);
      const port = ports[0];
      assert.ok(port);
      assert.equal(port.hostId, 'compute2');
      assert.equal(port.vifType, 'ovs');
      assert.equal(port.vnicType, 'normal');
      assert.equal(port.deviceOwner, 'compute:nova');
      assert.equal(port.status, 'ACTIVE');
      assert.deepEqual(server.addresses.private?.map((a) => (a as { addr: string }).addr), [s.ip]);
      const alloc = await os.placement.consumerAllocations(s.id);
      const rp = (await os.placement.listResourceProviders({ name: 'compute2' }))[0];
      assert.deepEqual(alloc.allocations[rp?.uuid ?? ''], { VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 });
    } finally {
      await os.nova.deleteServer(s.id);
      await waitServerGone(os, s.id);
    }
    await assert.rejects(() => os.nova.getServer(s.id), (e: unknown) => e instanceof OpenStackApiError && e.status === 404 && e.service === 'compute');
  });

  it('runs a Heat stack: create with pinned servers, 302 by name, resources, events, delete', async () => {
    const name = `${PREFIX}-stack`;
    const server = (host: string) => ({
      type: 'OS::Nova::Server',
      properties: { name: `${PREFIX}-${host}`, flavor: 'm1.tiny', image: 'tiny', availability_zone: `nova:${host}`, networks: [{ network: 'private' }] },
    });
    const started = Date.now();
    const created = await os.heat.createStack({
      name,
      template: { heat_template_version: '2018-08-31', resources: { a: server('compute1'), b: server('compute2') }, outputs: { a_id: { value: { get_resource: 'a' } } } },
    });
    assert.match(created.id, UUID);
    assert.ok(created.selfUrl?.endsWith(`/stacks/${name}/${created.id}`), created.selfUrl);
    await assert.rejects(
      () => os.heat.createStack({ name, template: { heat_template_version: '2018-08-31', resources: {} } }),
      (e: unknown) => e instanceof OpenStackApiError && e.status === 409,
      'a duplicate name is a 409',
    );
    const done = await os.heat.waitForStack(name, created.id, { intervalMs: 250, timeoutMs: 120_000 });
    record('Heat stack of 2 pinned servers → CREATE_COMPLETE', Date.now() - started);
    assert.equal(done?.status, 'CREATE_COMPLETE', done?.statusReason);

    const base = await os.keystone.endpoint('orchestration');
    const raw = await os.http.request({ service: 'orchestration', method: 'GET', url: joinUrl(base, `/stacks/${name}`), auth: os.keystone, followRedirects: false, okStatus: [302] });
    assert.equal(raw.status, 302);
    assert.ok(raw.headers.location?.endsWith(`/stacks/${name}/${created.id}`), raw.headers.location);
    const byName = await os.heat.getStack(name);
    assert.equal(byName.id, created.id);
    assert.equal(byName.status, 'CREATE_COMPLETE');
    assert.equal(typeof byName.outputs.find((o) => o.key === 'a_id')?.value, 'string');

    const resources = await os.heat.listResources(name, created.id);
    assert.deepEqual(resources.map((r) => `${r.name}:${r.type}:${r.status}`).sort(), ['a:OS::Nova::Server:CREATE_COMPLETE', 'b:OS::Nova::Server:CREATE_COMPLETE']);
    for (const r of resources) {
      const s = await os.nova.getServer(r.physicalId ?? '');
      assert.equal(s.host, r.name === 'a' ? 'compute1' : 'compute2', `${r.name} where pinned`);
    }
    const events = await os.heat.listEvents(name, created.id);
    const trail = events.map((e) => `${e.resourceName}:${e.status}`);
    for (const want of [`${name}:CREATE_IN_PROGRESS`, 'a:CREATE_IN_PROGRESS', 'a:CREATE_COMPLETE', 'b:CREATE_COMPLETE', `${name}:CREATE_COMPLETE`]) {
      assert.ok(trail.includes(want), `event ${want} in ${trail.join(', ')}`);
    }
    assert.equal(events.find((e) => e.resourceName === name && e.status === 'CREATE_IN_PROGRESS')?.statusReason, 'Stack CREATE started');

    const deleting = Date.now();
    await os.heat.deleteStack(name, created.id);
    const gone = await os.heat.waitForStack(name, created.id, { intervalMs: 250, timeoutMs: 120_000 });
    record('Heat stack of 2 servers delete → DELETE_COMPLETE', Date.now() - deleting);
    assert.equal(gone?.status ?? 'DELETE_COMPLETE', 'DELETE_COMPLETE');
    // Heat marks the stack DELETE_COMPLETE a moment before it soft-deletes the row: by name it can
    // still be found, DELETE_COMPLETE, in between; findStack treats that as gone.
    assert.equal(await os.heat.findStack(name), undefined);
    assert.equal(await os.heat.findStack(name, created.id), undefined);
    await eventually('by name a deleted stack is 404', async () => {
      try {
        await os.heat.getStack(name);
        return false;
      } catch (error) {
        return error instanceof OpenStackApiError && error.status === 404;
      }
    }, 30_000);
    for (const r of resources) {
      await eventually(`server ${r.name} deleted with the stack`, async () => {
        try {
          await os.nova.getServer(r.physicalId ?? '');
          return false;
        } catch (error) {
          return error instanceof OpenStackApiError && error.status === 404;
        }
      });
    }
  });
});
