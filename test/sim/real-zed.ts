/**
 * The simulated cloud checked against a real one: the calls compared, what each side needs
 * (a server pinned to compute1 and a one-server stack), and the comparison. The real-cloud
 * stage (test/openstack-real/sim-parity.test.ts) compares live answers and, with
 * CM_REAL_RECORD=1, records the real ones into test/sim/real-zed/; test/sim/real-zed.test.ts
 * pins the simulated cloud to those recordings in plain `npm test`.
 */
import type { OpenStack } from '../../src/openstack/index.ts';
import { compareShape, type ShapeOptions } from './shape.ts';

export interface ParityTarget {
  token: string;
  username: string;
  password: string;
  projectName: string;
  projectId: string;
  endpoints: Record<'identity' | 'compute' | 'placement' | 'network' | 'orchestration', string>;
  serverId: string;
  portId: string;
  rpUuid: string;
  hypervisorId: string;
  stackName: string;
  stackId: string;
  /** A few seconds before the target's servers were made (ISO, whole seconds): `changes-since` / `changed_since`. */
  since: string;
  /** A server made and deleted for the target: `changes-since` answers it as DELETED. */
  deletedServerId: string;
  /** The last hypervisor of the listing: the marker of the page after a full last page. */
  lastHypervisorId: string;
}

export interface ParityCall {
  name: string;
  method?: string;
  url: (t: ParityTarget) => string;
  headers?: Record<string, string>;
  body?: (t: ParityTarget) => unknown;
}

const nova = (v: string): Record<string, string> => ({ 'openstack-api-version': `compute ${v}` });
const placement = (v: string): Record<string, string> => ({ 'openstack-api-version': `placement ${v}` });
const root = (compute: string): string => compute.replace(/\/v2\.1(\/.*)?$/, '');

export const PARITY_CALLS: ParityCall[] = [
  {
    name: 'keystone-token',
    method: 'POST',
    url: (t) => `${t.endpoints.identity}/auth/tokens`,
    body: (t) => ({
      auth: {
        identity: { methods: ['password'], password: { user: { name: t.username, domain: { name: 'Default' }, password: t.password } } },
        scope: { project: { name: t.projectName, domain: { id: 'default' } } },
      },
    }),
  },
  { name: 'keystone-roles-by-name', url: (t) => `${t.endpoints.identity}/roles?name=admin` },
  { name: 'keystone-unauthorized', url: (t) => `${t.endpoints.network}/v2.0/ports`, headers: { 'x-auth-token': 'not-a-token' } },
  { name: 'nova-versions', url: (t) => `${root(t.endpoints.compute)}/` },
  { name: 'nova-hypervisors-2.88', url: (t) => `${t.endpoints.compute}/os-hypervisors`, headers: nova('2.88') },
  { name: 'nova-hypervisors-detail-2.88', url: (t) => `${t.endpoints.compute}/os-hypervisors/detail`, headers: nova('2.88') },
  { name: 'nova-hypervisor-show-2.88', url: (t) => `${t.endpoints.compute}/os-hypervisors/${t.hypervisorId}?with_servers=true`, headers: nova('2.88') },
  { name: 'nova-hypervisor-statistics-2.88', url: (t) => `${t.endpoints.compute}/os-hypervisors/statistics`, headers: nova('2.88') },
  { name: 'nova-services-2.88', url: (t) => `${t.endpoints.compute}/os-services?binary=nova-compute`, headers: nova('2.88') },
  { name: 'nova-servers-detail-2.88', url: (t) => `${t.endpoints.compute}/servers/detail?all_tenants=1`, headers: nova('2.88') },
  { name: 'nova-server-show-2.88', url: (t) => `${t.endpoints.compute}/servers/${t.serverId}`, headers: nova('2.88') },
  { name: 'nova-server-missing-2.88', url: (t) => `${t.endpoints.compute}/servers/00000000-0000-4000-8000-000000000000`, headers: nova('2.88') },
  { name: 'nova-microversion-too-high', url: (t) => `${t.endpoints.compute}/servers/detail`, headers: nova('2.999') },
  { name: 'nova-flavors-detail-2.88', url: (t) => `${t.endpoints.compute}/flavors/detail`, headers: nova('2.88') },
  { name: 'nova-limits-2.88', url: (t) => `${t.endpoints.compute}/limits`, headers: nova('2.88') },
  { name: 'nova-quota-detail-2.88', url: (t) => `${t.endpoints.compute}/os-quota-sets/${t.projectId}/detail`, headers: nova('2.88') },
  { name: 'nova-az-detail-2.88', url: (t) => `${t.endpoints.compute}/os-availability-zone/detail`, headers: nova('2.88') },
  { name: 'placement-root', url: (t) => `${t.endpoints.placement}/` },
  { name: 'placement-providers-1.36', url: (t) => `${t.endpoints.placement}/resource_providers`, headers: placement('1.36') },
  { name: 'placement-provider-1.36', url: (t) => `${t.endpoints.placement}/resource_providers/${t.rpUuid}`, headers: placement('1.36') },
  { name: 'placement-inventories-1.36', url: (t) => `${t.endpoints.placement}/resource_providers/${t.rpUuid}/inventories`, headers: placement('1.36') },
  { name: 'placement-usages-1.36', url: (t) => `${t.endpoints.placement}/resource_providers/${t.rpUuid}/usages`, headers: placement('1.36') },
  { name: 'placement-rp-allocations-1.36', url: (t) => `${t.endpoints.placement}/resource_providers/${t.rpUuid}/allocations`, headers: placement('1.36') },
  { name: 'placement-consumer-allocations-1.36', url: (t) => `${t.endpoints.placement}/allocations/${t.serverId}`, headers: placement('1.36') },
  { name: 'placement-project-usages-1.36', url: (t) => `${t.endpoints.placement}/usages?project_id=${t.projectId}`, headers: placement('1.36') },
  { name: 'placement-provider-missing-1.36', url: (t) => `${t.endpoints.placement}/resource_providers/00000000-0000-4000-8000-000000000000`, headers: placement('1.36') },
  { name: 'neutron-ports-by-device', url: (t) => `${t.endpoints.network}/v2.0/ports?device_id=${t.serverId}` },
  // What the inventory's incremental refresh relies on (src/agent/inventory.ts).
  { name: 'nova-servers-changes-since-2.88', url: (t) => `${t.endpoints.compute}/servers/detail?all_tenants=1&changes-since=${t.since}`, headers: nova('2.88') },
  { name: 'nova-servers-changes-since-invalid-2.88', url: (t) => `${t.endpoints.compute}/servers/detail?all_tenants=1&changes-since=bogus`, headers: nova('2.88') },
  { name: 'nova-servers-paged-2.88', url: (t) => `${t.endpoints.compute}/servers/detail?all_tenants=1&limit=1`, headers: nova('2.88') },
  { name: 'nova-hypervisors-full-page-2.88', url: (t) => `${t.endpoints.compute}/os-hypervisors/detail?limit=2`, headers: nova('2.88') },
  { name: 'nova-hypervisors-after-last-2.88', url: (t) => `${t.endpoints.compute}/os-hypervisors/detail?limit=2&marker=${t.lastHypervisorId}`, headers: nova('2.88') },
  { name: 'neutron-ports-changed-since', url: (t) => `${t.endpoints.network}/v2.0/ports?changed_since=${t.since}` },
  { name: 'neutron-ports-paged', url: (t) => `${t.endpoints.network}/v2.0/ports?limit=1` },
  {
    name: 'neutron-ports-fields',
    url: (t) => `${t.endpoints.network}/v2.0/ports?device_id=${t.serverId}&fields=id&fields=device_id&fields=binding:host_id&fields=updated_at&fields=no_such_field`,
  },
  {
    name: 'neutron-ports-request-line-too-long',
    url: (t) => `${t.endpoints.network}/v2.0/ports?${Array.from({ length: 200 }, (_, i) => `device_id=00000000-0000-4000-8000-${String(i).padStart(12, '0')}`).join('&')}`,
  },
  { name: 'neutron-port-show', url: (t) => `${t.endpoints.network}/v2.0/ports/${t.portId}` },
  { name: 'neutron-port-missing', url: (t) => `${t.endpoints.network}/v2.0/ports/00000000-0000-4000-8000-000000000000` },
  { name: 'neutron-networks', url: (t) => `${t.endpoints.network}/v2.0/networks?name=private` },
  { name: 'heat-stacks', url: (t) => `${t.endpoints.orchestration}/stacks` },
  { name: 'heat-stack-find', url: (t) => `${t.endpoints.orchestration}/stacks/${t.stackName}` },
  { name: 'heat-stack-show', url: (t) => `${t.endpoints.orchestration}/stacks/${t.stackName}/${t.stackId}` },
  { name: 'heat-stack-resources', url: (t) => `${t.endpoints.orchestration}/stacks/${t.stackName}/${t.stackId}/resources` },
  { name: 'heat-stack-events', url: (t) => `${t.endpoints.orchestration}/stacks/${t.stackName}/${t.stackId}/events` },
  { name: 'heat-stack-missing', url: (t) => `${t.endpoints.orchestration}/stacks/no-such-stack` },
  {
    name: 'heat-stack-duplicate',
    method: 'POST',
    url: (t) => `${t.endpoints.orchestration}/stacks`,
    body: (t) => ({ stack_name: t.stackName, template: { heat_template_version: '2018-08-31', resources: {} } }),
  },
];

export interface ParityAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/** Headers whose presence is part of the contract (values vary per call). */
const KEPT_HEADERS = ['content-type', 'location', 'www-authenticate', 'x-openstack-request-id', 'x-compute-request-id', 'openstack-api-version', 'x-openstack-nova-api-version'];

export async function callParity(c: ParityCall, t: ParityTarget): Promise<ParityAnswer> {
  const body = c.body?.(t);
  const res = await fetch(c.url(t), {
    method: c.method ?? 'GET',
    redirect: 'manual',
    headers: { accept: 'application/json', ...(c.method === 'POST' && c.name.startsWith('keystone') ? {} : { 'x-auth-token': t.token }), ...c.headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // kept as text
  }
  const headers: Record<string, string> = {};
  for (const h of KEPT_HEADERS) {
    const v = res.headers.get(h);
    if (v !== null) headers[h] = v;
  }
  return { status: res.status, headers, body: parsed };
}

/**
 * Where the simulated cloud answers differently from the Zed cloud on purpose, by path;
 * each with its reason (compareShape refuses an exception without one).
 */
export const PARITY_OPTIONS: Record<string, ShapeOptions> = {
  'nova-servers-detail-2.88': { maps: ['$.servers[].addresses', '$.servers[].metadata'] },
  'nova-servers-changes-since-2.88': { maps: ['$.servers[].addresses', '$.servers[].metadata'], exceptions: userDataOfWhicheverServer('$.servers[]') },
  'nova-servers-paged-2.88': { maps: ['$.servers[].addresses', '$.servers[].metadata'], exceptions: userDataOfWhicheverServer('$.servers[]') },
  'nova-server-show-2.88': { maps: ['$.server.addresses', '$.server.metadata'] },
  'nova-az-detail-2.88': { maps: ['$.availabilityZoneInfo[].hosts'] },
  'placement-rp-allocations-1.36': { maps: ['$.allocations'] },
  'placement-consumer-allocations-1.36': { maps: ['$.allocations'] },
  'placement-providers-1.36': {},
  'nova-hypervisor-show-2.88': {},
  'neutron-ports-by-device': { exceptions: portExtensions('$.ports[]') },
  'neutron-ports-paged': { exceptions: portExtensions('$.ports[]') },
  'neutron-ports-changed-since': { exceptions: portExtensions('$.ports[]') },
  'neutron-port-show': { exceptions: portExtensions('$.port') },
  'neutron-networks': {
    exceptions: { '$.networks[].is_default': 'auto-allocated-topology extension: not loaded on the CI cloud (no L3 agent); the simulated cloud models a cloud that has it' },
  },
};

function userDataOfWhicheverServer(at: string): Record<string, string> {
  // Both clouds answer a string for a server booted with user data (Heat's) and null otherwise; a page of one
  // server, or the servers changed since a time, holds whichever server the cloud has first, not the same one.
  return { [`${at}.OS-EXT-SRV-ATTR:user_data`]: 'data, not behaviour: which server the page holds decides string or null on both clouds' };
}

function portExtensions(at: string): Record<string, string> {
  const why = 'an extension the CI cloud does not load (ML2 there has only port_security): the simulated cloud models a cloud with Neutron QoS and these extensions';
  return Object.fromEntries(['data_plane_status', 'ip_allocation', 'propagate_uplink_status', 'qos_network_policy_id', 'qos_policy_id', 'resource_request'].map((k) => [`${at}.${k}`, why]));
}

/**
 * Differences of the simulated answer from the real one: status, the headers the real one has
 * (and content-type's value), and the body's shape in both directions.
 */
export function parityDiffs(name: string, sim: ParityAnswer, real: ParityAnswer): string[] {
  const out: string[] = [];
  if (sim.status !== real.status) out.push(`status: real ${String(real.status)}, simulated ${String(sim.status)}`);
  for (const h of Object.keys(real.headers)) {
    if (!(h in sim.headers)) out.push(`header ${h}: missing`);
  }
  if (real.headers['content-type'] !== sim.headers['content-type']) out.push(`content-type: real ${String(real.headers['content-type'])}, simulated ${String(sim.headers['content-type'])}`);
  const opts = PARITY_OPTIONS[name] ?? {};
  out.push(...compareShape(sim.body, real.body, opts));
  return out;
}

/** What a cloud needs for the comparison: a server pinned to compute1 and a one-server stack. */
export async function prepareParityTarget(
  os: OpenStack,
  o: { flavor: string; flavorId: string; image: string; imageId: string; network: string; credentials: { username: string; password: string; projectName: string }; prefix: string },
): Promise<ParityTarget & { cleanup: () => Promise<void> }> {
  const token = await os.keystone.tokenInfo();
  const net = (await os.neutron.listNetworks({ name: o.network }))[0];
  if (!net) throw new Error(`no network ${o.network}`);
  // Whole seconds, a few before anything is made: both services keep whole seconds.
  const since = new Date(Math.floor(Date.now() / 1000) * 1000 - 5000).toISOString().replace('.000Z', 'Z');
  const doomed = await os.nova.createServer({ name: `${o.prefix}-parity-gone`, imageRef: o.imageId, flavorRef: o.flavorId, availabilityZone: 'nova:compute1', networks: [{ uuid: net.id }] });
  await os.nova.waitForServer(doomed.id, ['ACTIVE'], { intervalMs: 100, timeoutMs: 120_000 });
  await os.nova.deleteServer(doomed.id);
  for (let i = 0; i < 1200; i++) {
    if (!(await os.nova.listServers({ allTenants: true, name: `^${o.prefix}-parity-gone$` })).some((s) => s.id === doomed.id)) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const created = await os.nova.createServer({ name: `${o.prefix}-parity`, imageRef: o.imageId, flavorRef: o.flavorId, availabilityZone: 'nova:compute1', networks: [{ uuid: net.id }] });
  await os.nova.waitForServer(created.id, ['ACTIVE'], { intervalMs: 100, timeoutMs: 120_000 });
  let portId = '';
  for (let i = 0; i < 600 && portId === ''; i++) {
    const ports = await os.neutron.listPorts({ deviceId: created.id });
    if (ports[0]?.status === 'ACTIVE') portId = ports[0].id;
    else await new Promise((r) => setTimeout(r, 100));
  }
  if (portId === '') throw new Error(`the port of ${created.id} never became ACTIVE`);
  const stackName = `${o.prefix}-parity`;
  const stack = await os.heat.createStack({
    name: stackName,
    template: {
      heat_template_version: '2018-08-31',
      resources: { a: { type: 'OS::Nova::Server', properties: { name: `${o.prefix}-parity-a`, flavor: o.flavor, image: o.image, availability_zone: 'nova:compute1', networks: [{ network: o.network }] } } },
    },
  });
  const done = await os.heat.waitForStack(stackName, stack.id, { intervalMs: 100, timeoutMs: 120_000 });
  if (done?.status !== 'CREATE_COMPLETE') throw new Error(`parity stack ${String(done?.status)}: ${String(done?.statusReason)}`);
  const rp = (await os.placement.listResourceProviders({ name: 'compute1' }))[0];
  const hypervisors = await os.nova.listHypervisors({ detail: true });
  const hv = hypervisors.find((h) => h.hypervisorHostname === 'compute1');
  const lastHv = hypervisors[hypervisors.length - 1];
  if (!rp || !hv || !lastHv || token.projectId === undefined) throw new Error('compute1 is not on this cloud');
  return {
    token: token.token,
    ...o.credentials,
    projectId: token.projectId,
    serverId: created.id,
    portId,
    rpUuid: rp.uuid,
    hypervisorId: String(hv.id),
    stackName,
    stackId: stack.id,
    since,
    deletedServerId: doomed.id,
    lastHypervisorId: String(lastHv.id),
    endpoints: {
      identity: os.keystone.authUrl,
      compute: await os.keystone.endpoint('compute'),
      placement: await os.keystone.endpoint('placement'),
      network: (await os.keystone.endpoint('network')).replace(/\/v2\.0\/?$/, ''),
      orchestration: await os.keystone.endpoint('orchestration'),
    },
    cleanup: async () => {
      await os.heat.deleteStack(stackName, stack.id);
      await os.heat.waitForStack(stackName, stack.id, { intervalMs: 200, timeoutMs: 120_000 });
      await os.nova.deleteServer(created.id);
    },
  };
}
