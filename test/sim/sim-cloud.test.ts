/**
 * Behaviour of the simulated cloud over real HTTP: auth, microversioned
 * hypervisors, scheduling into Placement/Neutron/OVSDB, quotas, Heat and faults.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { findBinary } from '../../src/ovsdb/local-server.ts';
import { eq, select } from '../../src/ovsdb/operations.ts';
import { ScenarioError, loadScenario, ovsPortName, startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { call, endpoint, login, nova, passwordAuth, placement, until, type Session } from './helpers.ts';

type Json = Record<string, unknown>;

async function ovsPort(cloud: SimCloud, host: string, name: string): Promise<{ port: unknown; iface: Json | undefined; onBridge: boolean }> {
  const client = await OvsdbClient.connect({ endpoint: cloud.ovsdbEndpoint(host) });
  try {
    const [ports, ifaces, bridges] = await client.transact('Open_vSwitch', [
      select('Port', [eq('name', name)]),
      select('Interface', [eq('name', name)]),
      select('Bridge', [eq('name', 'br-int')], ['ports']),
    ]);
    const port = ports?.rows?.[0] as Json | undefined;
    const brPorts = (bridges?.rows?.[0] as Json | undefined)?.ports;
    const list: unknown[] = brPorts instanceof Set ? [...(brPorts as Set<unknown>)] : Array.isArray(brPorts) ? brPorts : brPorts === undefined ? [] : [brPorts];
    return { port, iface: ifaces?.rows?.[0] as Json | undefined, onBridge: port !== undefined && list.includes(port._uuid) };
  } finally {
    client.close();
  }
}

const ext = (iface: Json | undefined): Record<string, unknown> => {
  const m = iface?.external_ids;
  return m instanceof Map ? Object.fromEntries(m as Map<string, unknown>) : ((m ?? {}) as Record<string, unknown>);
};

describe('simulated cloud', () => {
  let cloud: SimCloud;
  let admin: Session;
  let compute: string;
  before(async () => {
    cloud = await startSimCloud({ bootDelayMs: 20 });
    admin = await login(cloud);
    compute = endpoint(admin, 'compute');
  });
  after(async () => {
    await cloud.close();
  });

  const waitServer = (id: string, token = admin.token) =>
    until(async () => {
      const r = await call('GET', `${compute}/servers/${id}`, { token, headers: nova('2.73') });
      const s = (r.body as Json).server as Json;
      return s.status === 'BUILD' ? undefined : s;
    }, `server ${id}`);

  it('authenticates with a password and returns the token header and a full catalog', async () => {
    const res = await call('POST', `${cloud.authUrl}/auth/tokens`, { body: passwordAuth('admin', 'pass', 'admin') });
    assert.equal(res.status, 201);
    assert.match(res.headers.get('x-subject-token') ?? '', /.{20,}/);
    assert.match(res.headers.get('x-openstack-request-id') ?? '', /^req-/);
    const token = (res.body as Json).token as Json;
    assert.match(token.expires_at as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const types = (token.catalog as Json[]).map((s) => s.type).sort();
    assert.deepEqual(types, ['compute', 'identity', 'network', 'orchestration', 'placement']);
    for (const svc of token.catalog as Json[]) {
      assert.deepEqual((svc.endpoints as Json[]).map((e) => e.interface).sort(), ['admin', 'internal', 'public']);
    }
    assert.ok(endpoint(admin, 'orchestration').endsWith(`/heat-api/v1/${(token.project as Json).id as string}`));
  });

  it('rejects wrong passwords and unknown projects with 401, accepts application credentials', async () => {
    const bad = await call('POST', `${cloud.authUrl}/auth/tokens`, { body: passwordAuth('admin', 'nope', 'admin') });
    assert.equal(bad.status, 401);
    assert.deepEqual(bad.body, { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } });
    const noProject = await call('POST', `${cloud.authUrl}/auth/tokens`, { body: passwordAuth('admin', 'pass', 'ghost') });
    assert.equal(noProject.status, 401);
    const app = await call('POST', `${cloud.authUrl}/auth/tokens`, {
      body: { auth: { identity: { methods: ['application_credential'], application_credential: { id: '5a3b7c1e9d2f4e6a8b0c1d2e3f4a5b6c', secret: 'cm-secret' } } } },
    });
    assert.equal(app.status, 201);
    assert.deepEqual(((app.body as Json).token as Json).methods, ['application_credential']);
  });

  it('answers 401 without a token', async () => {
    const res = await call('GET', `${compute}/servers`);
    assert.equal(res.status, 401);
  });

  it('serves the version documents and honours both microversion headers', async () => {
    const root = await call('GET', compute.replace(/\/v2\.1$/, ''));
    const v21 = ((root.body as Json).versions as Json[]).find((v) => v.id === 'v2.1');
    assert.ok(v21);
    assert.equal(v21.min_version, '2.1');
    assert.equal(v21.version, '2.95');
    const legacy = await call('GET', `${compute}/os-hypervisors`, { token: admin.token, headers: { 'x-openstack-nova-api-version': '2.53' } });
    assert.equal(legacy.headers.get('openstack-api-version'), 'compute 2.53');
    assert.equal(legacy.headers.get('x-openstack-nova-api-version'), '2.53');
    assert.ok(legacy.headers.get('x-compute-request-id'));
    const tooNew = await call('GET', `${compute}/os-hypervisors`, { token: admin.token, headers: nova('2.200') });
    assert.equal(tooNew.status, 406);
    assert.equal(((tooNew.body as Json).computeFault as Json).code, 406);
    const none = await call('GET', `${compute}/os-hypervisors`, { token: admin.token });
    assert.equal(typeof ((none.body as Json).hypervisors as Json[])[0]?.id, 'number');
  });

  it('drops hypervisor statistics at 2.88 and has them at 2.53', async () => {
    const at88 = await call('GET', `${compute}/os-hypervisors/detail`, { token: admin.token, headers: nova('2.88') });
    const h88 = ((at88.body as Json).hypervisors as Json[])[0]!;
    for (const k of ['vcpus', 'vcpus_used', 'memory_mb', 'memory_mb_used', 'local_gb', 'free_ram_mb', 'running_vms', 'cpu_info']) assert.ok(!(k in h88), k);
    assert.ok('uptime' in h88);
    const stats88 = await call('GET', `${compute}/os-hypervisors/statistics`, { token: admin.token, headers: nova('2.88') });
    assert.equal(stats88.status, 404);
    const at53 = await call('GET', `${compute}/os-hypervisors/detail`, { token: admin.token, headers: nova('2.53') });
    const hosts = (at53.body as Json).hypervisors as Json[];
    assert.deepEqual(hosts.map((h) => [h.hypervisor_hostname, h.vcpus, h.memory_mb]), [['compute1', 8, 12288], ['compute2', 4, 8192]]);
    const stats = await call('GET', `${compute}/os-hypervisors/statistics`, { token: admin.token, headers: nova('2.53') });
    assert.equal(((stats.body as Json).hypervisor_statistics as Json).vcpus, 12);
  });

  it('hides admin-only data from a member', async () => {
    const member = await login(cloud, { username: 'thesis', password: 'thesis', projectName: 'thesis' });
    const hyp = await call('GET', `${compute}/os-hypervisors`, { token: member.token, headers: nova('2.88') });
    assert.equal(hyp.status, 403);
    const boot = await call('POST', `${compute}/servers`, { token: member.token, body: { server: { name: 'm1', flavorRef: '1' } } });
    assert.equal(boot.status, 202);
    const id = ((boot.body as Json).server as Json).id as string;
    const s = await waitServer(id, member.token);
    assert.equal(s.status, 'ACTIVE');
    assert.ok(!('OS-EXT-SRV-ATTR:host' in s));
    const ports = await call('GET', `${endpoint(member, 'network')}/v2.0/ports?device_id=${id}`, { token: member.token });
    const port = ((ports.body as Json).ports as Json[])[0]!;
    assert.ok(!('binding:host_id' in port));
    const forced = await call('POST', `${compute}/servers`, { token: member.token, body: { server: { name: 'm2', flavorRef: '1', availability_zone: 'nova:compute1' } } });
    assert.equal(forced.status, 403);
    assert.ok('forbidden' in (forced.body as Json));
    await call('DELETE', `${compute}/servers/${id}`, { token: member.token });
    await until(() => (cloud.state.servers.has(id) ? undefined : true), 'member server gone');
  });

  it('boots a server pinned to a host: ACTIVE, Placement usage, bound port and OVS port with os-vif external_ids', async () => {
    const pl = endpoint(admin, 'placement');
    const host = cloud.state.hosts.get('compute2')!;
    const usageBefore = (await call('GET', `${pl}/resource_providers/${host.uuid}/usages`, { token: admin.token, headers: placement('1.39') })).body as Json;
    const boot = await call('POST', `${compute}/servers`, {
      token: admin.token,
      headers: nova('2.88'),
      body: { server: { name: 'pinned', flavorRef: '1', imageRef: '70a599e0-31e7-49b7-b260-868f441e862b', availability_zone: 'nova:compute2', networks: 'auto' } },
    });
    assert.equal(boot.status, 202);
    assert.ok(boot.headers.get('location')?.includes('/servers/'));
    const id = ((boot.body as Json).server as Json).id as string;
    const s = await waitServer(id);
    assert.equal(s.status, 'ACTIVE');
    assert.equal(s['OS-EXT-SRV-ATTR:host'], 'compute2');
    assert.equal(s['OS-EXT-AZ:availability_zone'], 'nova');

    const usage = (await call('GET', `${pl}/resource_providers/${host.uuid}/usages`, { token: admin.token, headers: placement('1.39') })).body as Json;
    assert.equal((usage.usages as Json).VCPU, ((usageBefore.usages as Json).VCPU as number) + 1);
    assert.equal((usage.usages as Json).MEMORY_MB, ((usageBefore.usages as Json).MEMORY_MB as number) + 512);
    const allocs = (await call('GET', `${pl}/resource_providers/${host.uuid}/allocations`, { token: admin.token })).body as Json;
    assert.deepEqual((allocs.allocations as Json)[id], { resources: { VCPU: 1, MEMORY_MB: 512, DISK_GB: 1 } });

    const ports = await call('GET', `${endpoint(admin, 'network')}/v2.0/ports?device_id=${id}`, { token: admin.token });
    const port = ((ports.body as Json).ports as Json[])[0]!;
    assert.equal(port['binding:host_id'], 'compute2');
    assert.equal(port.device_owner, 'compute:nova');
    assert.equal(port.status, 'ACTIVE');
    const byHost = await call('GET', `${endpoint(admin, 'network')}/v2.0/ports?binding:host_id=compute2&fields=id`, { token: admin.token });
    assert.deepEqual((byHost.body as Json).ports, [{ id: port.id }]);

    const ovs = await ovsPort(cloud, 'compute2', ovsPortName(port.id as string));
    assert.ok(ovs.port, 'OVS port exists');
    assert.ok(ovs.onBridge, 'OVS port is on br-int');
    assert.deepEqual(ext(ovs.iface), { 'iface-id': port.id, 'iface-status': 'active', 'attached-mac': port.mac_address, 'vm-uuid': id });
    const other = await ovsPort(cloud, 'compute1', ovsPortName(port.id as string));
    assert.equal(other.port, undefined);

    const del = await call('DELETE', `${compute}/servers/${id}`, { token: admin.token });
    assert.equal(del.status, 204);
    await until(async () => ((await call('GET', `${compute}/servers/${id}`, { token: admin.token })).status === 404 ? true : undefined), 'server 404');
    const gone = await ovsPort(cloud, 'compute2', ovsPortName(port.id as string));
    assert.equal(gone.port, undefined);
    assert.equal(gone.iface, undefined);
    assert.equal(cloud.state.allocations.has(id), false);
    assert.equal(cloud.state.ports.has(port.id as string), false);
  });

  it('puts a server that fits nowhere into ERROR with a NoValidHost fault', async () => {
    // compute2 has 4 vCPUs; five 1-vCPU servers forced there cannot all fit.
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) {
      const r = await call('POST', `${compute}/servers`, { token: admin.token, body: { server: { name: `fill${i}`, flavorRef: '1', availability_zone: 'nova:compute2' } } });
      ids.push(((r.body as Json).server as Json).id as string);
    }
    const states = await Promise.all(ids.map((id) => waitServer(id)));
    assert.deepEqual(states.map((s) => s.status), ['ACTIVE', 'ACTIVE', 'ACTIVE', 'ACTIVE', 'ERROR']);
    const fault = states[4]!.fault as Json;
    assert.equal(fault.code, 500);
    assert.match(fault.message as string, /^No valid host was found\. /);
    assert.equal(states[4]!['OS-EXT-SRV-ATTR:host'], null);
    for (const id of ids) await call('DELETE', `${compute}/servers/${id}`, { token: admin.token });
    await until(() => (ids.some((id) => cloud.state.servers.has(id)) ? undefined : true), 'fill servers gone');
    assert.equal(cloud.state.allocations.size, 0);
  });

  it('refuses a boot over quota with 403 in Nova\'s shape', async () => {
    const member = await login(cloud, { username: 'thesis', password: 'thesis', projectName: 'thesis' });
    const project = cloud.state.projectByName('thesis')!;
    const saved = { ...project.quotas };
    project.quotas.cores = 0;
    try {
      const r = await call('POST', `${compute}/servers`, { token: member.token, body: { server: { name: 'q', flavorRef: '1' } } });
      assert.equal(r.status, 403);
      const f = (r.body as Json).forbidden as Json;
      assert.equal(f.code, 403);
      assert.match(f.message as string, /^Quota exceeded for cores/);
    } finally {
      project.quotas = saved;
    }
  });

  it('runs a Heat stack: 409 on duplicate, find → 302, delete removes servers, ports, allocations and OVS ports', async () => {
    const heat = endpoint(admin, 'orchestration');
    const template = {
      heat_template_version: '2018-08-31',
      parameters: { flavor: { type: 'string', default: 'm1.mini' } },
      resources: {
        port1: { type: 'OS::Neutron::Port', properties: { network: 'private' } },
        ms1: { type: 'OS::Nova::Server', properties: { name: 'MediaServer-1', flavor: { get_param: 'flavor' }, image: 'img', availability_zone: 'nova:compute1', networks: [{ port: { get_resource: 'port1' } }] } },
        br1: { type: 'OS::Nova::Server', properties: { name: 'Broker-1', flavor: 'm1.mini', availability_zone: 'nova:compute2', networks: [{ network: 'private' }] } },
      },
      outputs: { ms1_ip: { value: { get_attr: ['ms1', 'first_address'] } } },
    };
    const created = await call('POST', `${heat}/stacks`, { token: admin.token, body: { stack_name: 'thesis', template, disable_rollback: true } });
    assert.equal(created.status, 201);
    const stackId = ((created.body as Json).stack as Json).id as string;
    const dup = await call('POST', `${heat}/stacks`, { token: admin.token, body: { stack_name: 'thesis', template } });
    assert.equal(dup.status, 409);
    assert.equal(((dup.body as Json).error as Json).type, 'StackExists');

    const found = await call('GET', `${heat}/stacks/thesis`, { token: admin.token });
    assert.equal(found.status, 302);
    assert.ok(found.headers.get('location')?.endsWith(`/stacks/thesis/${stackId}`));
    const stack = await until(async () => {
      const r = await call('GET', `${heat}/stacks/thesis/${stackId}`, { token: admin.token });
      const st = (r.body as Json).stack as Json;
      return (st.stack_status as string).endsWith('_IN_PROGRESS') ? undefined : st;
    }, 'stack create');
    assert.equal(stack.stack_status, 'CREATE_COMPLETE', stack.stack_status_reason as string);
    assert.match(((stack.outputs as Json[])[0]!.output_value as string), /^10\.0\.0\.\d+$/);

    const resources = ((await call('GET', `${heat}/stacks/thesis/${stackId}/resources`, { token: admin.token })).body as Json).resources as Json[];
    assert.equal(resources.length, 3);
    const servers = resources.filter((r) => r.resource_type === 'OS::Nova::Server').map((r) => cloud.state.servers.get(r.physical_resource_id as string)!);
    assert.deepEqual(servers.map((s) => [s.name, s.host, s.status]).sort(), [['Broker-1', 'compute2', 'ACTIVE'], ['MediaServer-1', 'compute1', 'ACTIVE']]);
    const portIds = servers.flatMap((s) => s.portIds);
    const ms1 = servers.find((s) => s.name === 'MediaServer-1')!;
    assert.equal(ms1.portIds[0], resources.find((r) => r.resource_name === 'port1')!.physical_resource_id);
    for (const s of servers) assert.ok((await ovsPort(cloud, s.host!, ovsPortName(s.portIds[0]!))).onBridge);
    const events = ((await call('GET', `${heat}/stacks/thesis/${stackId}/events`, { token: admin.token })).body as Json).events as Json[];
    assert.ok(events.some((e) => e.resource_status === 'CREATE_COMPLETE' && e.resource_name === 'thesis'));

    const del = await call('DELETE', `${heat}/stacks/thesis/${stackId}`, { token: admin.token });
    assert.equal(del.status, 204);
    const deleted = await until(async () => {
      const st = ((await call('GET', `${heat}/stacks/thesis/${stackId}`, { token: admin.token })).body as Json).stack as Json;
      return st.stack_status === 'DELETE_COMPLETE' ? st : undefined;
    }, 'stack delete');
    assert.equal(typeof deleted.deletion_time, 'string');
    assert.equal((await call('GET', `${heat}/stacks/thesis`, { token: admin.token })).status, 404);
    for (const s of servers) {
      assert.equal(cloud.state.servers.has(s.id), false);
      assert.equal(cloud.state.allocations.has(s.id), false);
      assert.equal((await ovsPort(cloud, s.host!, ovsPortName(s.portIds[0] ?? portIds[0]!))).port, undefined);
    }
    for (const p of portIds) assert.equal(cloud.state.ports.has(p), false);
    const list = ((await call('GET', `${heat}/stacks`, { token: admin.token })).body as Json).stacks as Json[];
    assert.equal(list.some((s) => s.id === stackId), false);
  });

  it('fails a stack that does not fit: CREATE_FAILED keeps resources, rollback removes them', async () => {
    const heat = endpoint(admin, 'orchestration');
    const template = {
      heat_template_version: '2018-08-31',
      resources: Object.fromEntries(
        Array.from({ length: 5 }, (_, i) => [`vm${i}`, { type: 'OS::Nova::Server', properties: { flavor: 'm1.mini', availability_zone: 'nova:compute2', networks: [{ network: 'private' }] } }]),
      ),
    };
    const wait = (name: string, id: string) =>
      until(async () => {
        const st = ((await call('GET', `${heat}/stacks/${name}/${id}`, { token: admin.token })).body as Json).stack as Json;
        return (st.stack_status as string).endsWith('_IN_PROGRESS') ? undefined : st;
      }, name);

    const kept = await call('POST', `${heat}/stacks`, { token: admin.token, body: { stack_name: 'nofit', template, disable_rollback: true } });
    const keptId = ((kept.body as Json).stack as Json).id as string;
    const keptStack = await wait('nofit', keptId);
    assert.equal(keptStack.stack_status, 'CREATE_FAILED');
    assert.match(keptStack.stack_status_reason as string, /ResourceInError: resources\.vm4: Went to status ERROR due to "Message: No valid host was found/);
    assert.equal([...cloud.state.servers.values()].filter((s) => s.status === 'ACTIVE').length, 4);
    await call('DELETE', `${heat}/stacks/nofit/${keptId}`, { token: admin.token });
    await until(() => (cloud.state.stacks.get(keptId)?.status === 'DELETE_COMPLETE' ? true : undefined), 'nofit deleted');
    assert.equal(cloud.state.servers.size, 0);

    const rolled = await call('POST', `${heat}/stacks`, { token: admin.token, body: { stack_name: 'nofit2', template, disable_rollback: false } });
    const rolledId = ((rolled.body as Json).stack as Json).id as string;
    const rolledStack = await wait('nofit2', rolledId);
    assert.equal(rolledStack.stack_status, 'ROLLBACK_COMPLETE');
    const events = ((await call('GET', `${heat}/stacks/nofit2/${rolledId}/events`, { token: admin.token })).body as Json).events as Json[];
    assert.ok(events.some((e) => e.resource_name === 'nofit2' && e.resource_status === 'CREATE_FAILED'));
    assert.equal(cloud.state.servers.size, 0);
    assert.equal(cloud.state.allocations.size, 0);
    assert.equal(cloud.state.ports.size, 0);
  });

  it('injects faults: service down, N failures, slowness, expired tokens', async () => {
    const pl = endpoint(admin, 'placement');
    cloud.faults.serviceDown('placement', true);
    const down = await call('GET', `${pl}/resource_providers`, { token: admin.token });
    assert.equal(down.status, 503);
    assert.equal(((down.body as Json).errors as Json[])[0]!.status, 503);
    cloud.faults.serviceDown('placement', false);
    assert.equal((await call('GET', `${pl}/resource_providers`, { token: admin.token })).status, 200);

    cloud.faults.failNext('nova', 500, 2);
    const f1 = await call('GET', `${compute}/flavors`, { token: admin.token });
    const f2 = await call('GET', `${compute}/flavors`, { token: admin.token });
    const f3 = await call('GET', `${compute}/flavors`, { token: admin.token });
    assert.deepEqual([f1.status, f2.status, f3.status], [500, 500, 200]);
    assert.ok('computeFault' in (f1.body as Json));

    cloud.faults.slow('neutron', 120);
    const t0 = Date.now();
    await call('GET', `${endpoint(admin, 'network')}/v2.0/networks`, { token: admin.token });
    assert.ok(Date.now() - t0 >= 100);
    cloud.faults.slow('neutron', 0);

    cloud.faults.serviceDown('keystone', true);
    assert.equal((await call('POST', `${cloud.authUrl}/auth/tokens`, { body: passwordAuth('admin', 'pass', 'admin') })).status, 503);
    cloud.faults.serviceDown('keystone', false);

    cloud.faults.expireTokens();
    assert.equal((await call('GET', `${compute}/flavors`, { token: admin.token })).status, 401);
    admin = await login(cloud);
    assert.equal((await call('GET', `${compute}/flavors`, { token: admin.token })).status, 200);
  });
});

describe('scenario files', () => {
  it('loads the thesis testbed by default', () => {
    const s = loadScenario();
    assert.deepEqual(s.hosts.map((h) => [h.name, h.vcpus, h.memory_mb]), [['compute1', 8, 12288], ['compute2', 4, 8192]]);
    assert.equal(s.flavors[0]?.name, 'm1.mini');
  });

  it('names the offending field', () => {
    assert.throws(() => loadScenario({ hosts: [{ name: 'h', vcpus: 'x', memory_mb: 1, disk_gb: 1 }], flavors: [], projects: [{ name: 'p' }] } as never), (err: unknown) => err instanceof ScenarioError && err.field === 'hosts[0].vcpus');
    assert.throws(() => loadScenario({ hosts: [{ name: 'h', vcpus: 1, memory_mb: 1, disk_gb: 1, colour: 'red' }], flavors: [], projects: [{ name: 'p' }] } as never), /hosts\[0\]\.colour: unknown field/);
    assert.throws(() => loadScenario({ hosts: [{ name: 'h', vcpus: 1, memory_mb: 1, disk_gb: 1 }], flavors: [], projects: [{ name: 'p' }], networks: [{ name: 'n', cidr: 'x' }] }), /networks\[0\]\.cidr/);
  });

  it('starts a custom cloud with allocation ratios reflected in Placement', async () => {
    const cloud = await startSimCloud({
      scenario: { hosts: [{ name: 'big', vcpus: 2, memory_mb: 4096, disk_gb: 10, cpu_allocation_ratio: 4, reserved_host_memory_mb: 512 }], flavors: [{ name: 'f', vcpus: 1, ram: 256, disk: 1 }], projects: [{ name: 'admin', users: [{ name: 'root', password: 'pw', roles: ['admin'] }] }] },
    });
    try {
      const s = await login(cloud);
      const uuid = cloud.state.hosts.get('big')!.uuid;
      const inv = ((await call('GET', `${endpoint(s, 'placement')}/resource_providers/${uuid}/inventories`, { token: s.token })).body as Json).inventories as Json;
      assert.deepEqual(inv.VCPU, { total: 2, reserved: 0, min_unit: 1, max_unit: 2, step_size: 1, allocation_ratio: 4 });
      assert.equal((inv.MEMORY_MB as Json).reserved, 512);
    } finally {
      await cloud.close();
    }
  });
});

describe('simulated cloud on real ovsdb-server', () => {
  const hasOvs = ['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl'].every((b) => findBinary(b) !== undefined);
  it('plugs and unplugs the os-vif port in a real switch database', { skip: hasOvs ? false : 'Open vSwitch not installed' }, async () => {
    const cloud = await startSimCloud({ ovsdb: 'real', bootDelayMs: 5 });
    try {
      assert.match(cloud.ovsdbEndpoint('compute1'), /^unix:/);
      const s = await login(cloud);
      const compute = endpoint(s, 'compute');
      const boot = await call('POST', `${compute}/servers`, { token: s.token, body: { server: { name: 'real', flavorRef: '1', availability_zone: 'nova:compute1' } } });
      const id = ((boot.body as Json).server as Json).id as string;
      await until(() => (cloud.state.servers.get(id)?.status === 'ACTIVE' ? true : undefined), 'ACTIVE');
      const portId = cloud.state.servers.get(id)!.portIds[0]!;
      const ovs = await ovsPort(cloud, 'compute1', ovsPortName(portId));
      assert.ok(ovs.onBridge);
      assert.equal(ext(ovs.iface)['vm-uuid'], id);
      await call('DELETE', `${compute}/servers/${id}`, { token: s.token });
      await until(() => (cloud.state.servers.has(id) ? undefined : true), 'deleted');
      assert.equal((await ovsPort(cloud, 'compute1', ovsPortName(portId))).port, undefined);
    } finally {
      await cloud.close();
    }
  });
});
