/**
 * Contract tests: every simulated endpoint that has a real upstream sample in
 * shared/openstack-api-samples answers with the same shape (keys and types)
 * at the sample's microversion. Exceptions carry a written reason.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { compareShape, type ShapeOptions } from './shape.ts';
import { call, endpoint, login, nova, placement, until, type Session } from './helpers.ts';

const SAMPLES = path.resolve(import.meta.dirname, '../..', '../shared/openstack-api-samples');
const sample = (file: string): unknown => JSON.parse(readFileSync(path.join(SAMPLES, file), 'utf8'));

type Json = Record<string, unknown>;

describe('compareShape', () => {
  it('reports missing keys, extra keys and type changes with their paths', () => {
    const diffs = compareShape({ a: 1, b: [{ c: 'x', d: 1 }], e: true }, { a: 'x', b: [{ c: 'y' }], f: null });
    assert.deepEqual(diffs.sort(), ['$.a: expected string, got number', '$.b[].d: not in the sample', '$.e: not in the sample', '$.f: missing'].sort());
    assert.deepEqual(compareShape({ m: { k1: { v: 1 }, k2: { v: 2 } } }, { m: { other: { v: 0 } } }, { maps: ['$.m'] }), []);
    assert.deepEqual(compareShape({ a: 1 }, { a: 1, b: 2 }, { exceptions: { '$.b': 'documented' } }), []);
    assert.throws(() => compareShape({}, {}, { exceptions: { '$.b': ' ' } }), /no reason/);
  });
});

describe('sim responses match the real API samples', () => {
  let cloud: SimCloud;
  let admin: Session;
  let compute: string;
  let serverId: string;
  let portId: string;
  let deletedId: string;
  let stackId: string;
  before(async () => {
    cloud = await startSimCloud({ bootDelayMs: 5 });
    admin = await login(cloud);
    compute = endpoint(admin, 'compute');
    const boot = await call('POST', `${compute}/servers`, {
      token: admin.token,
      body: { server: { name: 'contract', flavorRef: '1', imageRef: '70a599e0-31e7-49b7-b260-868f441e862b', availability_zone: 'nova:compute1', user_data: 'IyEvYmluL2Jhc2gK', metadata: { role: 'MediaServer' } } },
    });
    serverId = ((boot.body as Json).server as Json).id as string;
    await until(() => (cloud.state.servers.get(serverId)?.status === 'ACTIVE' ? true : undefined), 'server ACTIVE');
    portId = cloud.state.servers.get(serverId)!.portIds[0]!;
    // A deleted server: `changes-since` answers it (status DELETED) among the others.
    const doomed = await call('POST', `${compute}/servers`, { token: admin.token, body: { server: { name: 'contract-deleted', flavorRef: '1', imageRef: '70a599e0-31e7-49b7-b260-868f441e862b', availability_zone: 'nova:compute2' } } });
    deletedId = ((doomed.body as Json).server as Json).id as string;
    await until(() => (cloud.state.servers.get(deletedId)?.status === 'ACTIVE' ? true : undefined), 'server to delete ACTIVE');
    await call('DELETE', `${compute}/servers/${deletedId}`, { token: admin.token });
    await until(() => (cloud.state.servers.has(deletedId) ? undefined : true), 'server deleted');
    const heat = endpoint(admin, 'orchestration');
    const st = await call('POST', `${heat}/stacks`, { token: admin.token, body: { stack_name: 'simple_stack', template: { heat_template_version: '2013-05-23', description: 'sample stack', resources: {} } } });
    stackId = ((st.body as Json).stack as Json).id as string;
    await until(() => (cloud.state.stacks.get(stackId)?.status === 'CREATE_COMPLETE' ? true : undefined), 'stack');
  });
  after(async () => {
    await cloud.close();
  });

  const hypervisorId = (v: string) => (Number(v.split('.')[1]) >= 53 ? cloud.state.hosts.get('compute1')!.uuid : String(cloud.state.hosts.get('compute1')!.intId));
  const rp = () => cloud.state.hosts.get('compute1')!.uuid;

  interface Case {
    file: string;
    method?: string;
    url: () => string;
    headers?: Record<string, string>;
    body?: () => unknown;
    status: number;
    options?: ShapeOptions;
    token?: () => string;
  }
  const PAGED = 'hypervisors_links/servers_links appear only when a page is cut by ?limit (the sample was made with limit=1); paging is tested separately';
  const cases: Record<string, Case> = {
    'keystone project-scoped token': {
      file: 'keystone/auth/responses/project-scoped-password.json',
      method: 'POST',
      url: () => `${cloud.authUrl}/auth/tokens`,
      body: () => ({ auth: { identity: { methods: ['password'], password: { user: { name: 'admin', domain: { name: 'Default' }, password: 'pass' } } }, scope: { project: { name: 'admin', domain: { id: 'default' } } } } }),
      status: 201,
      options: { exceptions: { '$.token.user.password_expires_at': 'Keystone answers null when no password expiry policy is set (the sample user has one)' } },
    },
    'nova versions': { file: 'nova/versions/versions-get-resp.json', url: () => compute.replace(/\/v2\.1$/, ''), status: 200 },
    'nova v2.1 version': { file: 'nova/versions/v21-version-get-resp.json', url: () => `${compute}/`, status: 200 },
    'hypervisors detail 2.1': { file: 'nova/os-hypervisors/hypervisors-detail-resp.json', url: () => `${compute}/os-hypervisors/detail`, status: 200 },
    'hypervisors detail 2.53': { file: 'nova/os-hypervisors/v2.53/hypervisors-detail-resp.json', url: () => `${compute}/os-hypervisors/detail`, headers: nova('2.53'), status: 200, options: { exceptions: { '$.hypervisors_links': PAGED } } },
    'hypervisors detail 2.53 paged': { file: 'nova/os-hypervisors/v2.53/hypervisors-detail-resp.json', url: () => `${compute}/os-hypervisors/detail?limit=1`, headers: nova('2.53'), status: 200 },
    'hypervisors statistics 2.53': { file: 'nova/os-hypervisors/v2.53/hypervisors-statistics-resp.json', url: () => `${compute}/os-hypervisors/statistics`, headers: nova('2.53'), status: 200 },
    'hypervisors detail 2.88 paged': { file: 'nova/os-hypervisors/v2.88/hypervisors-detail-resp.json', url: () => `${compute}/os-hypervisors/detail?limit=1`, headers: nova('2.88'), status: 200 },
    'hypervisors list 2.88 paged': { file: 'nova/os-hypervisors/v2.88/hypervisors-list-resp.json', url: () => `${compute}/os-hypervisors?limit=1`, headers: nova('2.88'), status: 200 },
    'hypervisor show 2.88': { file: 'nova/os-hypervisors/v2.88/hypervisors-show-resp.json', url: () => `${compute}/os-hypervisors/${hypervisorId('2.88')}`, headers: nova('2.88'), status: 200 },
    'hypervisors with servers 2.88': { file: 'nova/os-hypervisors/v2.88/hypervisors-with-servers-resp.json', url: () => `${compute}/os-hypervisors?hypervisor_hostname_pattern=compute1&with_servers=true`, headers: nova('2.88'), status: 200 },
    'servers detail 2.1 (admin)': {
      file: 'nova/servers/servers-details-resp.json',
      url: () => `${compute}/servers/detail?all_tenants=1&limit=1`,
      status: 200,
      options: { maps: ['$.servers[].addresses', '$.servers[].metadata'] },
    },
    'servers detail 2.73 (admin)': {
      file: 'nova/servers/v2.73/servers-details-resp.json',
      url: () => `${compute}/servers/detail?all_tenants=1`,
      headers: nova('2.73'),
      status: 200,
      options: {
        maps: ['$.servers[].addresses', '$.servers[].metadata'],
        exceptions: {
          '$.servers[].locked_reason': 'Nova answers null for an unlocked server; the sample server is locked with a reason',
          '$.servers[].OS-EXT-SRV-ATTR:user_data': 'Nova answers null for a server booted without user_data (the member server here)',
        },
      },
    },
    'servers detail 2.73 changes-since (admin, deleted ones included)': {
      file: 'nova/servers/v2.73/servers-details-resp.json',
      url: () => `${compute}/servers/detail?all_tenants=1&changes-since=2000-01-01T00:00:00Z`,
      headers: nova('2.73'),
      status: 200,
      options: {
        maps: ['$.servers[].addresses', '$.servers[].metadata'],
        exceptions: {
          '$.servers[].locked_reason': 'Nova answers null for an unlocked server; the sample server is locked with a reason',
          '$.servers[].OS-EXT-SRV-ATTR:user_data': 'Nova answers null for a server booted without user_data (the member server here)',
        },
      },
    },
    'server show 2.47 (admin)': {
      file: 'nova/servers/v2.47/server-get-resp.json',
      url: () => `${compute}/servers/${serverId}`,
      headers: nova('2.47'),
      status: 200,
      options: { maps: ['$.server.addresses', '$.server.metadata', '$.server.flavor.extra_specs'] },
    },
    'server create 2.95': {
      file: 'nova/servers/v2.100/server-create-resp.json',
      method: 'POST',
      url: () => `${compute}/servers`,
      headers: nova('2.95'),
      body: () => ({ server: { name: 'created', flavorRef: '1', imageRef: '70a599e0-31e7-49b7-b260-868f441e862b', networks: 'auto' } }),
      status: 202,
    },
    'flavor show 2.75': { file: 'nova/flavors/v2.75/flavor-get-resp.json', url: () => `${compute}/flavors/1`, headers: nova('2.75'), status: 200, options: { maps: ['$.flavor.extra_specs'], exceptions: { '$.flavor.description': 'the sample flavor has a description; ours has none, which Nova returns as null' } } },
    'limits 2.1': { file: 'nova/limits/limit-get-resp.json', url: () => `${compute}/limits`, status: 200 },
    'limits 2.57': { file: 'nova/limits/v2.57/limit-get-resp.json', url: () => `${compute}/limits`, headers: nova('2.57'), status: 200 },
    'quota detail 2.57': { file: 'nova/os-quota-sets/v2.57/quotas-show-detail-get-resp.json', url: () => `${compute}/os-quota-sets/${cloud.state.projectByName('thesis')!.id}/detail`, headers: nova('2.57'), status: 200 },
    'availability zones': { file: 'nova/os-availability-zone/availability-zone-list-resp.json', url: () => `${compute}/os-availability-zone`, status: 200 },
    'availability zones detail': {
      file: 'nova/os-availability-zone/availability-zone-detail-resp.json',
      url: () => `${compute}/os-availability-zone/detail`,
      status: 200,
      options: { maps: ['$.availabilityZoneInfo[].hosts', '$.availabilityZoneInfo[].hosts{}'] },
    },
    'neutron ports (admin)': {
      file: 'neutron/ports/ports-bind-list-response.json',
      url: () => `${endpoint(admin, 'network')}/v2.0/ports?device_id=${serverId}`,
      status: 200,
      options: {
        exceptions: {
          '$.ports[].dns_assignment': 'dns-integration extension not simulated (absent on the reference cloud too)',
          '$.ports[].dns_domain': 'dns-integration extension not simulated',
          '$.ports[].dns_name': 'dns-integration extension not simulated',
          '$.ports[].binding:vif_details': 'driver-specific free-form dict; key set differs per mechanism driver',
          '$.ports[].resource_request': 'null without QoS minimum-bandwidth policies, as in Neutron',
          '$.ports[].data_plane_status': 'null unless the data_plane_status extension sets it',
          '$.ports[].qos_network_policy_id': 'null without QoS policies',
          '$.ports[].qos_policy_id': 'null without QoS policies',
          '$.ports[].mac_learning_enabled': 'extension not simulated',
          '$.ports[].hardware_offload_type': 'extension not simulated',
          '$.ports[].trusted': 'extension not simulated',
        },
      },
    },
    'neutron ports paged (admin)': {
      file: 'neutron/ports/ports-bind-list-response.json',
      url: () => `${endpoint(admin, 'network')}/v2.0/ports?limit=1`,
      status: 200,
      options: {
        exceptions: {
          '$.ports_links': 'paging links (api-ref v2 intro: ports_links when a limit is given); the sample was taken without one',
          '$.ports[].dns_assignment': 'dns-integration extension not simulated',
          '$.ports[].dns_domain': 'dns-integration extension not simulated',
          '$.ports[].dns_name': 'dns-integration extension not simulated',
          '$.ports[].binding:vif_details': 'driver-specific free-form dict; key set differs per mechanism driver',
          '$.ports[].resource_request': 'null without QoS minimum-bandwidth policies, as in Neutron',
          '$.ports[].data_plane_status': 'null unless the data_plane_status extension sets it',
          '$.ports[].qos_network_policy_id': 'null without QoS policies',
          '$.ports[].qos_policy_id': 'null without QoS policies',
          '$.ports[].mac_learning_enabled': 'extension not simulated',
          '$.ports[].hardware_offload_type': 'extension not simulated',
          '$.ports[].trusted': 'extension not simulated',
        },
      },
    },
    'neutron ports (member view)': {
      file: 'neutron/ports/ports-list-response.json',
      url: () => `${endpoint(admin, 'network')}/v2.0/ports?device_id=${serverId}`,
      token: () => memberToken,
      status: 200,
      options: {
        exceptions: {
          '$.ports[].dns_assignment': 'dns-integration extension not simulated',
          '$.ports[].dns_domain': 'dns-integration extension not simulated',
          '$.ports[].dns_name': 'dns-integration extension not simulated',
          '$.ports[].pvlan_type': 'private-VLAN extension not simulated',
          '$.ports[].pvlan_community': 'private-VLAN extension not simulated',
          '$.ports[].qos_network_policy_id': 'null without QoS policies',
          '$.ports[].qos_policy_id': 'null without QoS policies',
        },
      },
    },
    'neutron port show (admin)': {
      file: 'neutron/ports/port-bind-show-response.json',
      url: () => `${endpoint(admin, 'network')}/v2.0/ports/${portId}`,
      status: 200,
      options: {
        exceptions: {
          '$.port.dns_assignment': 'dns-integration extension not simulated',
          '$.port.dns_domain': 'dns-integration extension not simulated',
          '$.port.dns_name': 'dns-integration extension not simulated',
          '$.port.binding:vif_details': 'driver-specific free-form dict',
          '$.port.resource_request': 'null without QoS minimum-bandwidth policies',
          '$.port.data_plane_status': 'null unless the data_plane_status extension sets it',
          '$.port.qos_network_policy_id': 'null without QoS policies',
          '$.port.qos_policy_id': 'null without QoS policies',
          '$.port.mac_learning_enabled': 'extension not simulated',
          '$.port.hardware_offload_type': 'extension not simulated',
          '$.port.trusted': 'extension not simulated',
        },
      },
    },
    'placement resource providers 1.14': {
      file: 'placement/resource_providers/get-resource_providers.json',
      url: () => `${endpoint(admin, 'placement')}/resource_providers`,
      headers: placement('1.14'),
      status: 200,
    },
    'placement resource provider 1.14': {
      file: 'placement/resource_providers/get-resource_provider.json',
      url: () => `${endpoint(admin, 'placement')}/resource_providers/${rp()}`,
      headers: placement('1.14'),
      status: 200,
      options: { exceptions: { '$.parent_provider_uuid': 'the simulated compute nodes are root providers, whose parent is null in Placement; the sample provider is a child' } },
    },
    'placement inventories': { file: 'placement/inventories/get-inventories.json', url: () => `${endpoint(admin, 'placement')}/resource_providers/${rp()}/inventories`, status: 200 },
    'placement usages': { file: 'placement/resource_provider_usages/get-resource_provider_usages.json', url: () => `${endpoint(admin, 'placement')}/resource_providers/${rp()}/usages`, status: 200 },
    'placement allocations': {
      file: 'placement/resource_provider_allocations/get-resource_provider_allocations.json',
      url: () => `${endpoint(admin, 'placement')}/resource_providers/${rp()}/allocations`,
      status: 200,
      options: { maps: ['$.allocations'], exceptions: { '$.allocations{}.resources.DISK_GB': 'the sample consumers only claim VCPU and MEMORY_MB; Nova also claims DISK_GB' } },
    },
    'placement project usages 1.9': { file: 'placement/usages/get-usages.json', url: () => `${endpoint(admin, 'placement')}/usages?project_id=${cloud.state.projectByName('admin')!.id}`, headers: placement('1.9'), status: 200 },
    'heat create': {
      file: 'heat/stack-create-response.json',
      method: 'POST',
      url: () => `${endpoint(admin, 'orchestration')}/stacks`,
      body: () => ({ stack_name: 'created_stack', template: { heat_template_version: '2013-05-23', resources: {} } }),
      status: 201,
    },
    'heat show': { file: 'heat/stack-show-response.json', url: () => `${endpoint(admin, 'orchestration')}/stacks/simple_stack/${stackId}`, status: 200 },
    'heat list': {
      file: 'heat/stacks-list-response.json',
      url: () => `${endpoint(admin, 'orchestration')}/stacks`,
      status: 200,
      options: { exceptions: { '$.stacks[].project': "Heat adds the stack's project for admin callers (Zed's answer, test/sim/real-zed/heat-stacks.json); the sample was taken by a non-admin" } },
    },
    'heat find': { file: 'heat/stack-find-response.json', url: () => `${endpoint(admin, 'orchestration')}/stacks/simple_stack`, status: 302 },
  };

  let memberToken = '';
  it('logs in a member for the non-admin views', async () => {
    memberToken = (await login(cloud, { username: 'admin', password: 'pass', projectName: 'admin' })).token;
    // The admin user's member view: same project, so the port is visible; binding:* needs a non-admin role.
    const member = await login(cloud, { username: 'thesis', password: 'thesis', projectName: 'thesis' });
    const boot = await call('POST', `${compute}/servers`, { token: member.token, body: { server: { name: 'mine', flavorRef: '1', imageRef: '70a599e0-31e7-49b7-b260-868f441e862b' } } });
    const id = ((boot.body as Json).server as Json).id as string;
    await until(() => (cloud.state.servers.get(id)?.status === 'ACTIVE' ? true : undefined), 'member server');
    memberToken = member.token;
    cases['neutron ports (member view)']!.url = () => `${endpoint(admin, 'network')}/v2.0/ports?device_id=${id}`;
  });

  it('changes-since answers the deleted server, DELETED, with its last host and no addresses (compared above with the sample)', async () => {
    const res = await call('GET', cases['servers detail 2.73 changes-since (admin, deleted ones included)']!.url(), { token: admin.token, headers: nova('2.73') });
    const gone = ((res.body as Json).servers as Json[]).find((x) => x.id === deletedId);
    assert.deepEqual([gone?.status, gone?.['OS-EXT-SRV-ATTR:host'], gone?.addresses], ['DELETED', 'compute2', {}]);
    const paged = await call('GET', `${endpoint(admin, 'network')}/v2.0/ports?limit=1`, { token: admin.token });
    assert.deepEqual(((paged.body as Json).ports_links as Json[]).map((l) => l.rel), ['next', 'previous']);
  });

  for (const [name, c] of Object.entries(cases)) {
    it(`${name} ~ ${c.file}`, async () => {
      const res = await call(c.method ?? 'GET', c.url(), { token: c.token ? c.token() : admin.token, ...(c.headers ? { headers: c.headers } : {}), ...(c.body ? { body: c.body() } : {}) });
      assert.equal(res.status, c.status, JSON.stringify(res.body));
      const body = res.body as Json;
      for (const list of ['servers', 'hypervisors', 'ports', 'stacks', 'resource_providers', 'availabilityZoneInfo']) {
        if (Array.isArray(body[list])) assert.ok((body[list] as unknown[]).length > 0, `${list} is not empty, so element shapes are compared`);
      }
      assert.deepEqual(compareShape(res.body, sample(c.file), c.options), []);
    });
  }
});
