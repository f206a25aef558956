/**
 * Nova (compute API v2.1) with microversions 2.1 – 2.95.
 */
import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Compute } from './compute.ts';
import { ApiError, authOf, body, ctxOf, isTrue, origin, queryOne, type AuthContext } from './http.ts';
import type { SimFlavor, SimHost, SimServer, SimState } from './state.ts';

export const NOVA_MIN = 1;
export const NOVA_MAX = 95;
const v = (minor: number): string => `2.${minor}`;

/** Parses the request's compute microversion (minor number); throws 400/406 like Nova. */
/** The compute microversion a request asked for, as written (undefined when it asked for none). */
export function requestedNovaVersion(headers: Record<string, string | string[] | undefined>): string | undefined {
  let raw: string | undefined;
  const modern = headers['openstack-api-version'];
  if (typeof modern === 'string') {
    for (const part of modern.split(',')) {
      const [svc, ver] = part.trim().split(/\s+/);
      if (svc?.toLowerCase() === 'compute' && ver !== undefined) raw = ver;
    }
  }
  const legacy = headers['x-openstack-nova-api-version'];
  if (raw === undefined && typeof legacy === 'string') raw = legacy.trim();
  return raw;
}

export function novaVersion(headers: Record<string, string | string[] | undefined>): number {
  const raw = requestedNovaVersion(headers);
  if (raw === undefined) return NOVA_MIN;
  if (raw.toLowerCase() === 'latest') return NOVA_MAX;
  const m = /^2\.(\d+)$/.exec(raw);
  if (!m) {
    if (/^\d+\.\d+$/.test(raw)) throw new ApiError(406, `Version ${raw} is not supported by the API. Minimum is 2.1 and maximum is ${v(NOVA_MAX)}.`, 'computeFault');
    throw new ApiError(400, `API Version String ${raw} is of invalid format. Must be of format MajorNum.MinorNum.`);
  }
  const minor = Number(m[1]);
  if (minor < NOVA_MIN || minor > NOVA_MAX) {
    throw new ApiError(406, `Version ${raw} is not supported by the API. Minimum is 2.1 and maximum is ${v(NOVA_MAX)}.`, 'computeFault');
  }
  return minor;
}

function requireAdmin(auth: AuthContext, action: string): void {
  if (!auth.isAdmin) throw new ApiError(403, `Policy doesn't allow ${action} to be performed.`);
}

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Nova's `[api] max_limit`: the largest page of servers or hypervisors it answers. */
export const NOVA_MAX_LIMIT = 1000;

export interface NovaSimOptions {
  /** `[api] max_limit` (default 1000). */
  maxLimit?: number;
}

/**
 * The time of a `changes-since` value as Nova's 'date-time' check accepts it (iso8601:
 * seconds and zone optional, no zone = UTC); undefined when it is not one.
 */
export function parseNovaTime(raw: string): number | undefined {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d(?::\d\d(?:\.\d+)?)?)(Z|[+-]\d\d:?\d\d)?$/i.exec(raw);
  if (!m) return undefined;
  const t = Date.parse(`${m[1] ?? ''}${m[2] ?? 'Z'}`);
  return Number.isNaN(t) ? undefined : t;
}

/** Servers newest first (Nova's default sort, created_at desc), keeping the insertion order within one second. */
function newestFirst(servers: SimServer[]): SimServer[] {
  // Servers are stored in creation order: when `created` never goes down, reversing whole
  // seconds is the stable sort, in O(n), which a 200 000-server listing needs per page.
  let sorted = true;
  for (let i = 1; i < servers.length && sorted; i++) sorted = (servers[i - 1]?.created ?? '') <= (servers[i]?.created ?? '');
  if (!sorted) return [...servers].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0));
  const out: SimServer[] = [];
  let end = servers.length;
  while (end > 0) {
    let start = end - 1;
    const second = servers[start]?.created;
    while (start > 0 && servers[start - 1]?.created === second) start--;
    for (let i = start; i < end; i++) out.push(servers[i] as SimServer);
    end = start;
  }
  return out;
}

/**
 * Nova's page size and its next link (`_get_collection_links`): a page of `limit` (at most
 * `[api] max_limit`, which is also the default) is full, and a full page links the next one,
 * the request's query with the marker replaced by the page's last id. So N items take
 * floor(N / limit) + 1 calls, the last page possibly empty (checked on Zed: limit=2 over 2
 * hypervisors links a page that is empty).
 */
function novaPage<T>(req: FastifyRequest, items: T[], idOf: (x: T) => string, maxLimit: number): { page: T[]; next: string | undefined } {
  const raw = queryOne(req.query, 'limit');
  let limit = maxLimit;
  if (raw !== undefined) {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new ApiError(400, 'Invalid input for query parameters limit.');
    limit = Math.min(n, maxLimit);
  }
  const page = items.slice(0, limit);
  const last = page[page.length - 1];
  if (last === undefined || page.length < limit) return { page, next: undefined };
  const [path, query = ''] = req.url.split('?') as [string, string?];
  const params = new URLSearchParams(query);
  params.delete('marker');
  params.append('marker', idOf(last));
  return { page, next: `${origin(req)}${path}?${params.toString()}` };
}

export function registerNova(app: FastifyInstance, state: SimState, compute: Compute, options: NovaSimOptions = {}): void {
  const maxLimit = options.maxLimit ?? NOVA_MAX_LIMIT;
  const base = (req: FastifyRequest): string => `${origin(req)}/compute/v2.1`;
  const links = (req: FastifyRequest, kind: string, id: string) => [
    { href: `${base(req)}/${kind}/${id}`, rel: 'self' },
    { href: `${origin(req)}/compute/${kind}/${id}`, rel: 'bookmark' },
  ];

  const versionDoc = (req: FastifyRequest) => ({
    id: 'v2.1',
    links: [{ href: `${origin(req)}/compute/v2.1/`, rel: 'self' }, { href: 'http://docs.openstack.org/', rel: 'describedby', type: 'text/html' }],
    'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.compute+json;version=2.1' }],
    status: 'CURRENT',
    version: v(NOVA_MAX),
    min_version: '2.1',
    updated: '2013-07-23T11:33:21Z',
  });
  // Nova answers the version list at its root with and without the slash (no redirect).
  const versionList = (req: FastifyRequest) => ({
    versions: [
      { id: 'v2.0', links: [{ href: `${origin(req)}/compute/v2/`, rel: 'self' }], status: 'SUPPORTED', version: '', min_version: '', updated: '2011-01-21T11:33:21Z' },
      { id: 'v2.1', links: [{ href: `${origin(req)}/compute/v2.1/`, rel: 'self' }], status: 'CURRENT', version: v(NOVA_MAX), min_version: '2.1', updated: '2013-07-23T11:33:21Z' },
    ],
  });
  app.get('/compute', versionList);
  app.get('/compute/', versionList);
  app.get('/compute/v2.1', (req) => ({ version: versionDoc(req) }));
  app.get('/compute/v2.1/', (req) => ({ version: versionDoc(req) }));

  // ---- hypervisors -----------------------------------------------------------

  /** Servers by host, built once per request and only when a view needs them (a scan per hypervisor would be H × S). */
  const serversByHost = (): ((host: SimHost) => SimServer[]) => {
    let index: Map<string, SimServer[]> | undefined;
    return (host) => {
      if (!index) {
        index = new Map();
        for (const s of state.servers.values()) {
          if (s.host === null) continue;
          let list = index.get(s.host);
          if (!list) index.set(s.host, (list = []));
          list.push(s);
        }
      }
      return index.get(host.name) ?? [];
    };
  };

  const hypervisorView = (host: SimHost, ver: number, detail: boolean, withServers: boolean | undefined, runningOn = serversByHost()): Record<string, unknown> => {
    const out: Record<string, unknown> = {
      id: ver >= 53 ? host.uuid : host.intId,
      hypervisor_hostname: host.hypervisorHostname,
      state: host.state,
      status: host.status,
    };
    if (detail) {
      out.host_ip = host.hostIp;
      out.hypervisor_type = 'fake';
      out.hypervisor_version = 1000;
      out.service = { host: host.name, id: ver >= 53 ? host.serviceUuid : host.serviceIntId, disabled_reason: host.disabledReason };
      if (ver < 88) {
        const used = state.usages(host);
        const servers = runningOn(host);
        const memUsed = host.reservedMemoryMb + (used.MEMORY_MB ?? 0);
        const diskUsed = host.reservedDiskGb + (used.DISK_GB ?? 0);
        const cpuInfo = { arch: 'x86_64', model: 'Nehalem', vendor: 'Intel', features: ['pge', 'clflush'], topology: { cores: 1, threads: 1, sockets: host.vcpus } };
        Object.assign(out, {
          vcpus: host.vcpus,
          vcpus_used: used.VCPU ?? 0,
          memory_mb: host.memoryMb,
          memory_mb_used: memUsed,
          local_gb: host.diskGb,
          local_gb_used: diskUsed,
          free_ram_mb: host.memoryMb - memUsed,
          free_disk_gb: host.diskGb - diskUsed,
          disk_available_least: host.diskGb - diskUsed,
          current_workload: 0,
          running_vms: servers.length,
          cpu_info: ver >= 28 ? cpuInfo : JSON.stringify(cpuInfo),
        });
      } else {
        out.uptime = null;
      }
    }
    // Before 2.75 the key is left out when the hypervisor runs nothing.
    if (withServers === true) {
      const servers = runningOn(host);
      if (ver >= 75 || servers.length > 0) out.servers = servers.map((s) => ({ name: s.name, uuid: s.id }));
    }
    return out;
  };

  const hypervisorList = (req: FastifyRequest, detail: boolean) => {
    const { version: ver } = ctxOf(req);
    requireAdmin(authOf(req), 'os_compute_api:os-hypervisors:list');
    const q = req.query;
    const pattern = ver >= 53 ? queryOne(q, 'hypervisor_hostname_pattern') : undefined;
    const withServersRaw = ver >= 53 ? queryOne(q, 'with_servers') : undefined;
    const withServers = withServersRaw === undefined ? undefined : isTrue(withServersRaw);
    const paged = ver >= 33;
    const marker = paged ? queryOne(q, 'marker') : undefined;
    let hosts = [...state.hosts.values()];
    if (pattern !== undefined) {
      if (queryOne(q, 'limit') !== undefined || marker !== undefined) throw new ApiError(400, 'Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.');
      hosts = hosts.filter((h) => h.hypervisorHostname.includes(pattern));
      if (hosts.length === 0) throw new ApiError(404, `No hypervisor matching '${pattern}' could be found.`);
    }
    if (marker !== undefined) {
      const idx = hosts.findIndex((h) => (ver >= 53 ? h.uuid : String(h.intId)) === marker);
      if (idx < 0) throw new ApiError(400, `marker [${marker}] not found`);
      hosts = hosts.slice(idx + 1);
    }
    const out: Record<string, unknown> = {};
    // Before 2.33 Nova does not page hypervisors; a pattern search is never paged.
    const { page, next } = paged && pattern === undefined ? novaPage(req, hosts, (h) => (ver >= 53 ? h.uuid : String(h.intId)), maxLimit) : { page: hosts, next: undefined };
    const runningOn = serversByHost();
    out.hypervisors = page.map((h) => hypervisorView(h, ver, detail, withServers, runningOn));
    if (next !== undefined) out.hypervisors_links = [{ href: next, rel: 'next' }];
    return out;
  };

  app.get('/compute/v2.1/os-hypervisors', (req) => hypervisorList(req, false));
  app.get('/compute/v2.1/os-hypervisors/detail', (req) => hypervisorList(req, true));
  app.get('/compute/v2.1/os-hypervisors/statistics', (req) => {
    const { version: ver } = ctxOf(req);
    if (ver >= 88) throw new ApiError(404, 'The resource could not be found.');
    requireAdmin(authOf(req), 'os_compute_api:os-hypervisors:statistics');
    const totals = { count: 0, current_workload: 0, disk_available_least: 0, free_disk_gb: 0, free_ram_mb: 0, local_gb: 0, local_gb_used: 0, memory_mb: 0, memory_mb_used: 0, running_vms: 0, vcpus: 0, vcpus_used: 0 };
    const runningOn = serversByHost();
    for (const h of state.hosts.values()) {
      const view = hypervisorView(h, ver, true, undefined, runningOn) as Record<string, number>;
      totals.count += 1;
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) if (k !== 'count') totals[k] += view[k] ?? 0;
    }
    return { hypervisor_statistics: totals };
  });
  app.get<{ Params: { id: string } }>('/compute/v2.1/os-hypervisors/:id', (req) => {
    const { version: ver } = ctxOf(req);
    requireAdmin(authOf(req), 'os_compute_api:os-hypervisors:show');
    const id = req.params.id;
    if (ver >= 53 && !UUID_RE.test(id)) throw new ApiError(400, `Invalid uuid ${id}`);
    const host = [...state.hosts.values()].find((h) => (ver >= 53 ? h.uuid === id : String(h.intId) === id));
    if (!host) throw new ApiError(404, `Hypervisor with ID ${id} could not be found.`);
    const ws = ver >= 53 ? queryOne(req.query, 'with_servers') : undefined;
    return { hypervisor: hypervisorView(host, ver, true, ws === undefined ? undefined : isTrue(ws)) };
  });

  // ---- services and availability zones ---------------------------------------

  app.get('/compute/v2.1/os-services', (req) => {
    const { version: ver } = ctxOf(req);
    requireAdmin(authOf(req), 'os_compute_api:os-services:list');
    const hostFilter = queryOne(req.query, 'host');
    const binaryFilter = queryOne(req.query, 'binary');
    const rows = [
      { id: ver >= 53 ? '5e1b1c0a-1111-4aaa-8bbb-000000000001' : 1, binary: 'nova-scheduler', host: 'controller', zone: 'internal', status: 'enabled', state: 'up', disabled_reason: null as string | null },
      { id: ver >= 53 ? '5e1b1c0a-1111-4aaa-8bbb-000000000002' : 2, binary: 'nova-conductor', host: 'controller', zone: 'internal', status: 'enabled', state: 'up', disabled_reason: null as string | null },
      ...[...state.hosts.values()].map((h) => ({ id: ver >= 53 ? h.serviceUuid : h.serviceIntId, binary: 'nova-compute', host: h.name, zone: h.az, status: h.status, state: h.state, disabled_reason: h.disabledReason })),
    ];
    const updated = new Date().toISOString().replace('Z', '');
    return {
      services: rows
        .filter((r) => (hostFilter === undefined || r.host === hostFilter) && (binaryFilter === undefined || r.binary === binaryFilter))
        .map((r) => ({ ...r, updated_at: updated, ...(ver >= 11 ? { forced_down: false } : {}) })),
    };
  });

  const zones = (): Map<string, SimHost[]> => {
    const out = new Map<string, SimHost[]>();
    for (const h of state.hosts.values()) out.set(h.az, [...(out.get(h.az) ?? []), h]);
    return out;
  };
  app.get('/compute/v2.1/os-availability-zone', () => ({
    availabilityZoneInfo: [...zones()].map(([name, hosts]) => ({ zoneName: name, zoneState: { available: hosts.some((h) => h.state === 'up' && h.status === 'enabled') }, hosts: null })),
  }));
  app.get('/compute/v2.1/os-availability-zone/detail', (req) => {
    requireAdmin(authOf(req), 'os_compute_api:os-availability-zone:detail');
    const svc = (available: boolean) => ({ active: true, available, updated_at: new Date().toISOString().replace('Z', '') });
    return {
      availabilityZoneInfo: [
        { zoneName: 'internal', zoneState: { available: true }, hosts: { controller: { 'nova-conductor': svc(true), 'nova-scheduler': svc(true) } } },
        ...[...zones()].map(([name, hosts]) => ({
          zoneName: name,
          zoneState: { available: hosts.some((h) => h.state === 'up' && h.status === 'enabled') },
          hosts: Object.fromEntries(hosts.map((h) => [h.name, { 'nova-compute': { ...svc(h.state === 'up'), active: h.status === 'enabled' } }])),
        })),
      ],
    };
  });

  // ---- flavors ---------------------------------------------------------------

  const flavorView = (req: FastifyRequest, f: SimFlavor, ver: number, detail: boolean): Record<string, unknown> => {
    const out: Record<string, unknown> = { id: f.id, name: f.name, links: links(req, 'flavors', f.id) };
    if (ver >= 55) out.description = f.description;
    if (!detail) return out;
    Object.assign(out, {
      vcpus: f.vcpus,
      ram: f.ram,
      disk: f.disk,
      'OS-FLV-EXT-DATA:ephemeral': f.ephemeral,
      swap: ver >= 75 ? f.swap : f.swap === 0 ? '' : f.swap,
      'os-flavor-access:is_public': true,
    });
    if (ver < 102) Object.assign(out, { rxtx_factor: 1.0, 'OS-FLV-DISABLED:disabled': false });
    if (ver >= 61) out.extra_specs = { ...f.extraSpecs };
    return out;
  };
  app.get('/compute/v2.1/flavors', (req) => ({ flavors: [...state.flavors.values()].map((f) => flavorView(req, f, ctxOf(req).version, false)) }));
  app.get('/compute/v2.1/flavors/detail', (req) => ({ flavors: [...state.flavors.values()].map((f) => flavorView(req, f, ctxOf(req).version, true)) }));
  app.get<{ Params: { id: string } }>('/compute/v2.1/flavors/:id', (req) => {
    const f = state.flavors.get(req.params.id);
    if (!f) throw new ApiError(404, `Flavor ${req.params.id} could not be found.`);
    return { flavor: flavorView(req, f, ctxOf(req).version, true) };
  });

  // ---- limits and quotas -----------------------------------------------------

  const projectFor = (req: FastifyRequest, id: string | undefined) => {
    const auth = authOf(req);
    const projectId = id !== undefined && auth.isAdmin ? id : auth.projectId;
    const project = state.projects.get(projectId);
    return { projectId, quotas: project?.quotas ?? { instances: 10, cores: 20, ram: 51200 } };
  };
  app.get('/compute/v2.1/limits', (req) => {
    const ver = ctxOf(req).version;
    const { projectId, quotas } = projectFor(req, queryOne(req.query, 'tenant_id'));
    const used = state.quotaUsage(projectId);
    const absolute: Record<string, number> = {
      maxServerMeta: 128,
      maxTotalCores: quotas.cores,
      maxTotalInstances: quotas.instances,
      maxTotalKeypairs: 100,
      maxTotalRAMSize: quotas.ram,
      maxServerGroups: 10,
      maxServerGroupMembers: 10,
      totalCoresUsed: used.cores,
      totalInstancesUsed: used.instances,
      totalRAMUsed: used.ram,
      totalServerGroupsUsed: 0,
    };
    if (ver < 57) Object.assign(absolute, { maxPersonality: 5, maxPersonalitySize: 10240 });
    if (ver < 39) absolute.maxImageMeta = 128;
    if (ver < 36) Object.assign(absolute, { maxSecurityGroupRules: 20, maxSecurityGroups: 10, maxTotalFloatingIps: 10, totalFloatingIpsUsed: 0, totalSecurityGroupsUsed: 0 });
    return { limits: { absolute, rate: [] } };
  });
  const quotaSet = (req: FastifyRequest, id: string, detail: boolean) => {
    const ver = ctxOf(req).version;
    const auth = authOf(req);
    if (!auth.isAdmin && id !== auth.projectId) throw new ApiError(403, "Policy doesn't allow os_compute_api:os-quota-sets:show to be performed.");
    const quotas = state.projects.get(id)?.quotas ?? { instances: 10, cores: 20, ram: 51200 };
    const used = state.quotaUsage(id);
    const entry = (limit: number, inUse: number) => (detail ? { in_use: inUse, limit, reserved: 0 } : limit);
    const out: Record<string, unknown> = {
      id,
      cores: entry(quotas.cores, used.cores),
      instances: entry(quotas.instances, used.instances),
      key_pairs: entry(100, 0),
      metadata_items: entry(128, 0),
      ram: entry(quotas.ram, used.ram),
      server_group_members: entry(10, 0),
      server_groups: entry(10, 0),
    };
    if (ver < 57) Object.assign(out, { injected_file_content_bytes: entry(10240, 0), injected_file_path_bytes: entry(255, 0), injected_files: entry(5, 0) });
    if (ver < 36) Object.assign(out, { fixed_ips: entry(-1, 0), floating_ips: entry(10, 0), security_group_rules: entry(20, 0), security_groups: entry(10, 0) });
    return { quota_set: out };
  };
  app.get<{ Params: { id: string } }>('/compute/v2.1/os-quota-sets/:id', (req) => quotaSet(req, req.params.id, false));
  app.get<{ Params: { id: string } }>('/compute/v2.1/os-quota-sets/:id/detail', (req) => quotaSet(req, req.params.id, true));

  // ---- servers ---------------------------------------------------------------

  const serverView = (req: FastifyRequest, s: SimServer): Record<string, unknown> => {
    const ver = ctxOf(req).version;
    const admin = authOf(req).isAdmin;
    const addresses: Record<string, unknown[]> = {};
    // A deleted server's network info is gone: Zed answers `addresses: {}` for it.
    for (const portId of s.status === 'DELETED' ? [] : s.portIds) {
      const port = state.ports.get(portId);
      const net = port ? state.networks.get(port.networkId) : undefined;
      if (!port || !net) continue;
      addresses[net.name] = [
        ...(addresses[net.name] ?? []),
        ...port.fixedIps.map((ip) => ({ 'OS-EXT-IPS-MAC:mac_addr': port.macAddress, 'OS-EXT-IPS:type': 'fixed', addr: ip.ip_address, version: 4 })),
      ];
    }
    const out: Record<string, unknown> = {
      'OS-DCF:diskConfig': 'MANUAL',
      'OS-EXT-AZ:availability_zone': s.az,
      'OS-EXT-STS:power_state': s.powerState,
      'OS-EXT-STS:task_state': s.taskState,
      'OS-EXT-STS:vm_state': s.vmState,
      'OS-SRV-USG:launched_at': s.launchedAt,
      'OS-SRV-USG:terminated_at': s.terminatedAt ?? null,
      accessIPv4: '',
      accessIPv6: '',
      addresses,
      config_drive: '',
      created: s.created,
      flavor:
        ver >= 47
          ? { disk: s.flavor.disk, ephemeral: s.flavor.ephemeral, extra_specs: { ...s.flavor.extraSpecs }, original_name: s.flavor.name, ram: s.flavor.ram, swap: s.flavor.swap, vcpus: s.flavor.vcpus }
          : { id: s.flavor.id, links: [{ href: `${origin(req)}/compute/flavors/${s.flavor.id}`, rel: 'bookmark' }] },
      hostId: s.host === null ? '' : createHash('sha224').update(`${s.projectId}${s.host}`).digest('hex'),
      id: s.id,
      image: s.imageId === '' ? '' : { id: s.imageId, links: [{ href: `${origin(req)}/compute/images/${s.imageId}`, rel: 'bookmark' }] },
      key_name: s.keyName,
      links: links(req, 'servers', s.id),
      metadata: { ...s.metadata },
      name: s.name,
      'os-extended-volumes:volumes_attached': [],
      progress: 0,
      security_groups: [{ name: 'default' }],
      status: s.status,
      tenant_id: s.projectId,
      updated: s.updated,
      user_id: s.userId,
    };
    if (ver >= 9) out.locked = false;
    if (ver >= 73) out.locked_reason = null;
    if (ver >= 19) out.description = null;
    if (ver >= 26) out.tags = [];
    if (ver >= 63) out.trusted_image_certificates = null;
    if (admin) {
      Object.assign(out, {
        'OS-EXT-SRV-ATTR:host': s.host,
        'OS-EXT-SRV-ATTR:hypervisor_hostname': s.hypervisorHostname,
        'OS-EXT-SRV-ATTR:instance_name': `instance-${s.instanceIndex.toString(16).padStart(8, '0')}`,
      });
      if (ver >= 3) {
        Object.assign(out, {
          'OS-EXT-SRV-ATTR:hostname': s.name.toLowerCase().replace(/[^a-z0-9-]/g, '-'),
          'OS-EXT-SRV-ATTR:kernel_id': '',
          'OS-EXT-SRV-ATTR:launch_index': 0,
          'OS-EXT-SRV-ATTR:ramdisk_id': '',
          'OS-EXT-SRV-ATTR:reservation_id': s.reservationId,
          'OS-EXT-SRV-ATTR:root_device_name': '/dev/vda',
          'OS-EXT-SRV-ATTR:user_data': s.userData,
        });
      }
      if (ver >= 16) out.host_status = s.host === null || s.status === 'DELETED' ? '' : state.hosts.get(s.host)?.state === 'up' ? 'UP' : 'DOWN';
    } else if (ver >= 90) {
      out['OS-EXT-SRV-ATTR:hostname'] = s.name.toLowerCase().replace(/[^a-z0-9-]/g, '-');
    }
    if (s.fault && (s.status === 'ERROR')) {
      out.fault = admin ? { ...s.fault } : { code: s.fault.code, created: s.fault.created, message: s.fault.message };
    }
    return out;
  };

  const listServers = (req: FastifyRequest, detail: boolean) => {
    const auth = authOf(req);
    const q = req.query;
    const allTenants = auth.isAdmin && isTrue(queryOne(q, 'all_tenants'));
    const host = auth.isAdmin ? queryOne(q, 'host') : undefined;
    const status = queryOne(q, 'status');
    const name = queryOne(q, 'name');
    const projectId = auth.isAdmin ? (queryOne(q, 'project_id') ?? queryOne(q, 'tenant_id')) : undefined;
    const changesSinceRaw = queryOne(q, 'changes-since');
    let changesSince: number | undefined;
    if (changesSinceRaw !== undefined) {
      changesSince = parseNovaTime(changesSinceRaw);
      if (changesSince === undefined) throw new ApiError(400, `Invalid input for query parameters changes-since. Value: ${changesSinceRaw}. '${changesSinceRaw}' is not a 'date-time'`);
    }
    // Deleted servers are answered to `changes-since` (so that pollers see deletions) and to an
    // admin's `deleted=true` (only them), never otherwise (Nova's _get_servers).
    const deletedRaw = auth.isAdmin ? queryOne(q, 'deleted') : undefined;
    const onlyDeleted = deletedRaw !== undefined && isTrue(deletedRaw);
    const withDeleted = onlyDeleted || (changesSince !== undefined && deletedRaw === undefined);
    const candidates = onlyDeleted ? [...state.deletedServers.values()] : withDeleted ? [...state.servers.values(), ...state.deletedServers.values()] : [...state.servers.values()];
    const since = changesSince;
    const matching = candidates.filter(
      (s) =>
        (allTenants ? projectId === undefined || s.projectId === projectId : s.projectId === auth.projectId) &&
        (host === undefined || s.host === host) &&
        (status === undefined || s.status === status.toUpperCase()) &&
        (name === undefined || new RegExp(name).test(s.name)) &&
        (since === undefined || Date.parse(s.updated) >= since),
    );
    let servers = newestFirst(matching);
    const marker = queryOne(q, 'marker');
    if (marker !== undefined) {
      const idx = servers.findIndex((s) => s.id === marker);
      if (idx < 0) throw new ApiError(400, `marker [${marker}] not found`);
      servers = servers.slice(idx + 1);
    }
    const { page, next } = novaPage(req, servers, (s) => s.id, maxLimit);
    return {
      servers: page.map((s) => (detail ? serverView(req, s) : { id: s.id, name: s.name, links: links(req, 'servers', s.id) })),
      ...(next === undefined ? {} : { servers_links: [{ href: next, rel: 'next' }] }),
    };
  };
  app.get('/compute/v2.1/servers', (req) => listServers(req, false));
  app.get('/compute/v2.1/servers/detail', (req) => listServers(req, true));

  const findServer = (req: FastifyRequest, id: string): SimServer => {
    const auth = authOf(req);
    const s = state.servers.get(id);
    if (!s || (!auth.isAdmin && s.projectId !== auth.projectId)) throw new ApiError(404, `Instance ${id} could not be found.`);
    return s;
  };
  app.get<{ Params: { id: string } }>('/compute/v2.1/servers/:id', (req) => {
    const out = serverView(req, findServer(req, req.params.id));
    // Only the show of a single server carries its groups (2.71), not the list; no groups are simulated.
    if (ctxOf(req).version >= 71) out.server_groups = [];
    return { server: out };
  });
  app.post<{ Params: { id: string } }>('/compute/v2.1/servers/:id/action', (req, reply) => {
    const s = findServer(req, req.params.id);
    const action = body(req);
    const live = action['os-migrateLive'];
    if (typeof live !== 'object' || live === null) throw new ApiError(400, 'There is no such action: ' + (Object.keys(action)[0] ?? ''));
    requireAdmin(authOf(req), 'os_compute_api:os-migrate-server:migrate_live');
    const hostName = (live as Record<string, unknown>).host;
    if (typeof hostName !== 'string') throw new ApiError(400, 'The simulated cloud needs a destination host for os-migrateLive.');
    const dest = state.hosts.get(hostName);
    if (!dest) throw new ApiError(400, `Compute host ${hostName} could not be found.`);
    if (dest.name === s.host) throw new ApiError(400, `Unable to migrate instance (${s.id}) to current host (${hostName}).`);
    void compute.liveMigrate(s, dest);
    return reply.code(202).send();
  });
  app.delete<{ Params: { id: string } }>('/compute/v2.1/servers/:id', (req, reply) => {
    const s = findServer(req, req.params.id);
    if (s.taskState !== 'deleting') void compute.delete(s);
    return reply.code(204).send();
  });

  app.post('/compute/v2.1/servers', (req: FastifyRequest, reply: FastifyReply) => {
    const auth = authOf(req);
    const raw = body(req).server;
    if (typeof raw !== 'object' || raw === null) throw new ApiError(400, "Invalid input for field/attribute server. Value: None. 'server' is a required property");
    const s = raw as Record<string, unknown>;
    const need = (k: string): string => {
      const val = s[k];
      if (typeof val !== 'string' && typeof val !== 'number') throw new ApiError(400, `Invalid input for field/attribute server. Value: ${JSON.stringify(s)}. '${k}' is a required property`);
      return String(val);
    };
    const networks = s.networks;
    let nets: 'auto' | 'none' | { uuid?: string; port?: string }[] | undefined;
    if (networks === 'auto' || networks === 'none') nets = networks;
    else if (Array.isArray(networks)) {
      nets = networks.map((n: unknown) => {
        const o = (typeof n === 'object' && n !== null ? n : {}) as Record<string, unknown>;
        const entry: { uuid?: string; port?: string } = {};
        if (typeof o.uuid === 'string') entry.uuid = o.uuid;
        if (typeof o.port === 'string') entry.port = o.port;
        return entry;
      });
    } else if (networks !== undefined) throw new ApiError(400, 'Invalid input for field/attribute networks.');
    const server = compute.boot({
      name: need('name'),
      flavorRef: need('flavorRef'),
      ...(typeof s.imageRef === 'string' ? { imageRef: s.imageRef } : {}),
      projectId: auth.projectId,
      userId: auth.userId,
      isAdmin: auth.isAdmin,
      ...(typeof s.availability_zone === 'string' ? { availabilityZone: s.availability_zone } : {}),
      ...(nets !== undefined ? { networks: nets } : {}),
      ...(typeof s.metadata === 'object' && s.metadata !== null ? { metadata: s.metadata as Record<string, string> } : {}),
      ...(typeof s.user_data === 'string' ? { userData: s.user_data } : {}),
      ...(typeof s.key_name === 'string' ? { keyName: s.key_name } : {}),
    });
    const selfLinks = links(req, 'servers', server.id);
    return reply
      .code(202)
      .header('location', selfLinks[0]?.href ?? '')
      .send({ server: { 'OS-DCF:diskConfig': 'MANUAL', adminPass: Math.random().toString(36).slice(2, 14), id: server.id, links: selfLinks, security_groups: [{ name: 'default' }] } });
  });
}
