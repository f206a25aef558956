/**
 * Nova (compute) client: version discovery and microversion negotiation,
 * hypervisors, compute services, servers, flavors, limits, quotas and
 * availability zones. Admin-only fields are checked, never assumed.
 */
import { OpenStackPermissionError, OpenStackResponseError, OpenStackUnsupportedError } from '../errors.ts';
import { collectPages, joinUrl, type HttpRequest } from '../http.ts';
import {
  asArray,
  asObject,
  bool,
  isObject,
  nullableStr,
  num,
  optBool,
  optNum,
  optStr,
  str,
  strOrNum,
  type JsonObject,
} from '../json.ts';
import { callOpts, type CallOptions, type ServiceContext } from '../service.ts';

/** The microversion the CM prefers (hypervisor stats removed; capacity from Placement). */
export const PREFERRED_COMPUTE_MICROVERSION = '2.88';

export interface VersionRange {
  min: string;
  max: string;
}

/** Compares "2.53" and "2.9" numerically. */
export function compareMicroversion(a: string, b: string): number {
  const [am = 0, an = 0] = a.split('.').map(Number);
  const [bm = 0, bn = 0] = b.split('.').map(Number);
  return am !== bm ? am - bm : an - bn;
}

/** Reads `GET /` (`versions[]`, the v2.1 entry) or `GET /v2.1/` (`version`). */
export function parseVersionDocument(body: unknown): VersionRange {
  const o = asObject(body, 'compute versions');
  let v: JsonObject | undefined;
  if (isObject(o.version)) v = o.version;
  else if (Array.isArray(o.versions)) {
    v = o.versions.filter(isObject).find((x) => x.id === 'v2.1');
  }
  if (!v) throw new OpenStackResponseError('compute versions: no v2.1 entry');
  const max = str(v, 'version', 'compute v2.1 version');
  const min = str(v, 'min_version', 'compute v2.1 version');
  if (max === '') throw new OpenStackResponseError('compute v2.1 version: empty "version" (microversions unsupported)');
  return { min: min === '' ? '2.1' : min, max };
}

/** min(wanted, max), but never below min. */
export function chooseMicroversion(range: VersionRange, wanted = PREFERRED_COMPUTE_MICROVERSION): string {
  if (compareMicroversion(wanted, range.max) > 0) return range.max;
  if (compareMicroversion(wanted, range.min) < 0) return range.min;
  return wanted;
}

/** The unversioned root of a compute endpoint (`.../v2.1/<project>` → `...`). */
export function computeRoot(endpoint: string): string {
  return endpoint.replace(/\/+$/, '').replace(/\/v2(\.\d+)?(\/[^/]+)?$/, '');
}

export interface HypervisorServer {
  uuid: string;
  name: string;
}

export interface Hypervisor {
  /** Integer before 2.53, UUID string from 2.53. */
  id: string | number;
  hypervisorHostname: string;
  state: string;
  status: string;
  hostIp?: string;
  hypervisorType?: string;
  /** Compute service host (`service.host`), the name servers and ports use. */
  serviceHost?: string;
  serviceId?: string | number;
  serviceDisabledReason?: string | null;
  /** Present before 2.88 only. */
  vcpus?: number;
  vcpusUsed?: number;
  memoryMb?: number;
  memoryMbUsed?: number;
  localGb?: number;
  localGbUsed?: number;
  runningVms?: number;
  /** From 2.88 in detail/show. */
  uptime?: string | null;
  servers?: HypervisorServer[];
  raw: JsonObject;
}

export function parseHypervisor(v: unknown): Hypervisor {
  const w = 'hypervisor';
  const o = asObject(v, w);
  const h: Hypervisor = {
    id: strOrNum(o, 'id', w),
    hypervisorHostname: str(o, 'hypervisor_hostname', w),
    state: str(o, 'state', w),
    status: str(o, 'status', w),
    raw: o,
  };
  const s = optStr(o, 'host_ip');
  if (s !== undefined) h.hostIp = s;
  const t = optStr(o, 'hypervisor_type');
  if (t !== undefined) h.hypervisorType = t;
  if (isObject(o.service)) {
    h.serviceHost = str(o.service, 'host', 'hypervisor.service');
    h.serviceId = strOrNum(o.service, 'id', 'hypervisor.service');
    const r = nullableStr(o.service, 'disabled_reason', 'hypervisor.service');
    if (r !== undefined) h.serviceDisabledReason = r;
  }
  const stats: [keyof Hypervisor, string][] = [
    ['vcpus', 'vcpus'],
    ['vcpusUsed', 'vcpus_used'],
    ['memoryMb', 'memory_mb'],
    ['memoryMbUsed', 'memory_mb_used'],
    ['localGb', 'local_gb'],
    ['localGbUsed', 'local_gb_used'],
    ['runningVms', 'running_vms'],
  ];
  for (const [k, key] of stats) {
    const n = optNum(o, key);
    if (n !== undefined) (h as unknown as Record<string, number>)[k] = n;
  }
  const up = nullableStr(o, 'uptime', w);
  if (up !== undefined) h.uptime = up;
  if (Array.isArray(o.servers)) {
    h.servers = o.servers.map((x) => {
      const so = asObject(x, 'hypervisor.servers[]');
      return { uuid: str(so, 'uuid', 'hypervisor.servers[]'), name: str(so, 'name', 'hypervisor.servers[]') };
    });
  }
  return h;
}

export interface HypervisorStatistics {
  count: number;
  vcpus: number;
  vcpusUsed: number;
  memoryMb: number;
  memoryMbUsed: number;
  localGb: number;
  localGbUsed: number;
  runningVms: number;
  raw: JsonObject;
}

export function parseHypervisorStatistics(body: unknown): HypervisorStatistics {
  const o = asObject(asObject(body, 'statistics').hypervisor_statistics, 'hypervisor_statistics');
  const w = 'hypervisor_statistics';
  return {
    count: num(o, 'count', w),
    vcpus: num(o, 'vcpus', w),
    vcpusUsed: num(o, 'vcpus_used', w),
    memoryMb: num(o, 'memory_mb', w),
    memoryMbUsed: num(o, 'memory_mb_used', w),
    localGb: num(o, 'local_gb', w),
    localGbUsed: num(o, 'local_gb_used', w),
    runningVms: num(o, 'running_vms', w),
    raw: o,
  };
}

export interface ComputeService {
  id: string | number;
  host: string;
  binary: string;
  zone: string;
  status: 'enabled' | 'disabled';
  state: 'up' | 'down';
  disabledReason: string | null;
  forcedDown: boolean | undefined;
  updatedAt: string | null;
}

export function parseComputeService(v: unknown): ComputeService {
  const w = 'service';
  const o = asObject(v, w);
  const status = str(o, 'status', w);
  const state = str(o, 'state', w);
  if (status !== 'enabled' && status !== 'disabled') throw new OpenStackResponseError(`service.status: unexpected "${status}"`);
  if (state !== 'up' && state !== 'down') throw new OpenStackResponseError(`service.state: unexpected "${state}"`);
  return {
    id: strOrNum(o, 'id', w),
    host: str(o, 'host', w),
    binary: str(o, 'binary', w),
    zone: str(o, 'zone', w),
    status,
    state,
    disabledReason: nullableStr(o, 'disabled_reason', w) ?? null,
    forcedDown: optBool(o, 'forced_down'),
    updatedAt: nullableStr(o, 'updated_at', w) ?? null,
  };
}

export interface ServerFlavor {
  /** Before 2.47 only. */
  id?: string;
  /** From 2.47. */
  originalName?: string;
  vcpus?: number;
  ram?: number;
  disk?: number;
  ephemeral?: number;
  swap?: number;
  extraSpecs?: Record<string, string>;
}

export interface Server {
  id: string;
  name: string | undefined;
  status: string;
  tenantId: string | undefined;
  userId: string | undefined;
  availabilityZone: string | undefined;
  /** Compute service host; null until scheduled; undefined only when admin fields were not required. */
  host: string | null | undefined;
  hypervisorHostname: string | null | undefined;
  instanceName: string | null | undefined;
  flavor: ServerFlavor | undefined;
  /** `addresses` as returned: `{net: [{addr, version, ...}]}`. */
  addresses: Record<string, unknown[]>;
  taskState: string | null | undefined;
  /** `updated` (Nova's updated_at, whole seconds); undefined when not reported (a down cell's partial record). */
  updated?: string;
  raw: JsonObject;
}

export interface ServerParseOptions {
  /** Throw OpenStackPermissionError when OS-EXT-SRV-ATTR:host is absent (default true). */
  requireAdminFields?: boolean;
}

export function parseServer(v: unknown, opts: ServerParseOptions = {}): Server {
  const w = 'server';
  const o = asObject(v, w);
  const id = str(o, 'id', w);
  const status = str(o, 'status', w);
  // 2.69+: servers in a down cell are minimal records; the host is truly unknown there.
  const partial = status === 'UNKNOWN' && !('name' in o);
  if ((opts.requireAdminFields ?? true) && !partial && !('OS-EXT-SRV-ATTR:host' in o)) {
    throw new OpenStackPermissionError(`server ${id}`, 'OS-EXT-SRV-ATTR:host', 'use an admin token to read server hosts');
  }
  let flavor: ServerFlavor | undefined;
  if (isObject(o.flavor)) {
    const f = o.flavor;
    flavor = {};
    const fid = optStr(f, 'id');
    if (fid !== undefined) flavor.id = fid;
    const on = optStr(f, 'original_name');
    if (on !== undefined) flavor.originalName = on;
    for (const k of ['vcpus', 'ram', 'disk', 'ephemeral', 'swap'] as const) {
      const n = optNum(f, k);
      if (n !== undefined) flavor[k] = n;
    }
    if (isObject(f.extra_specs)) flavor.extraSpecs = stringMap(f.extra_specs);
  }
  const addresses: Record<string, unknown[]> = {};
  if (isObject(o.addresses)) for (const [k, x] of Object.entries(o.addresses)) addresses[k] = asArray(x, `server.addresses.${k}`);
  const updated = optStr(o, 'updated');
  return {
    ...(updated === undefined ? {} : { updated }),
    id,
    name: optStr(o, 'name'),
    status,
    tenantId: optStr(o, 'tenant_id'),
    userId: optStr(o, 'user_id'),
    availabilityZone: optStr(o, 'OS-EXT-AZ:availability_zone'),
    host: nullableStr(o, 'OS-EXT-SRV-ATTR:host', w),
    hypervisorHostname: nullableStr(o, 'OS-EXT-SRV-ATTR:hypervisor_hostname', w),
    instanceName: nullableStr(o, 'OS-EXT-SRV-ATTR:instance_name', w),
    flavor,
    addresses,
    taskState: nullableStr(o, 'OS-EXT-STS:task_state', w),
    raw: o,
  };
}

function stringMap(o: JsonObject): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
  return out;
}

export interface Flavor {
  id: string;
  name: string;
  vcpus: number;
  /** MiB */
  ram: number;
  /** GiB */
  disk: number;
  ephemeral: number;
  /** MiB; "" before 2.75 is read as 0. */
  swap: number;
  isPublic: boolean | undefined;
  description: string | null | undefined;
  extraSpecs: Record<string, string> | undefined;
  raw: JsonObject;
}

export function parseFlavor(v: unknown): Flavor {
  const w = 'flavor';
  const o = asObject(v, w);
  const swap = o.swap;
  return {
    id: str(o, 'id', w),
    name: str(o, 'name', w),
    vcpus: num(o, 'vcpus', w),
    ram: num(o, 'ram', w),
    disk: num(o, 'disk', w),
    ephemeral: optNum(o, 'OS-FLV-EXT-DATA:ephemeral') ?? 0,
    swap: typeof swap === 'number' ? swap : 0,
    isPublic: optBool(o, 'os-flavor-access:is_public'),
    description: nullableStr(o, 'description', w),
    extraSpecs: isObject(o.extra_specs) ? stringMap(o.extra_specs) : undefined,
    raw: o,
  };
}

export interface QuotaDetail {
  limit: number;
  inUse: number;
  reserved: number;
}

export function parseQuotaSetDetail(body: unknown): Record<string, QuotaDetail> {
  const q = asObject(asObject(body, 'quota body').quota_set, 'quota_set');
  const out: Record<string, QuotaDetail> = {};
  for (const [k, v] of Object.entries(q)) {
    if (!isObject(v)) continue; // "id"
    const w = `quota_set.${k}`;
    out[k] = { limit: num(v, 'limit', w), inUse: num(v, 'in_use', w), reserved: num(v, 'reserved', w) };
  }
  return out;
}

export interface AbsoluteLimits {
  /** Every `limits.absolute` key; -1 = unlimited. Keys vary with the microversion. */
  absolute: Record<string, number>;
}

export function parseLimits(body: unknown): AbsoluteLimits {
  const abs = asObject(asObject(asObject(body, 'limits body').limits, 'limits').absolute, 'limits.absolute');
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(abs)) if (typeof v === 'number') out[k] = v;
  return { absolute: out };
}

export interface ZoneService {
  active: boolean;
  available: boolean;
  updatedAt: string | null;
}

export interface AvailabilityZone {
  name: string;
  available: boolean;
  /** host → binary → state; empty from the non-detail call. */
  hosts: Record<string, Record<string, ZoneService>>;
}

/** Parses availabilityZoneInfo, dropping the `internal` zone (conductor/scheduler). */
export function parseAvailabilityZones(body: unknown): AvailabilityZone[] {
  const list = asArray(asObject(body, 'az body').availabilityZoneInfo, 'availabilityZoneInfo');
  const out: AvailabilityZone[] = [];
  for (const z of list) {
    const zo = asObject(z, 'zone');
    const name = str(zo, 'zoneName', 'zone');
    if (name === 'internal') continue;
    const hosts: Record<string, Record<string, ZoneService>> = {};
    if (isObject(zo.hosts)) {
      for (const [host, services] of Object.entries(zo.hosts)) {
        const svc: Record<string, ZoneService> = {};
        for (const [binary, st] of Object.entries(asObject(services, `zone ${name} host ${host}`))) {
          const so = asObject(st, `zone ${name} ${host} ${binary}`);
          svc[binary] = {
            active: bool(so, 'active', binary),
            available: bool(so, 'available', binary),
            updatedAt: nullableStr(so, 'updated_at', binary) ?? null,
          };
        }
        hosts[host] = svc;
      }
    }
    out.push({ name, available: bool(asObject(zo.zoneState, 'zoneState'), 'available', 'zoneState'), hosts });
  }
  return out;
}

export interface CreateServerRequest {
  name: string;
  imageRef: string;
  flavorRef: string;
  /** "az", or "az:host" to force a host (admin), or "az::node". */
  availabilityZone?: string;
  /** Network UUIDs, or "auto"/"none". */
  networks?: { uuid?: string; port?: string; fixed_ip?: string }[] | 'auto' | 'none';
  metadata?: Record<string, string>;
  securityGroups?: string[];
  userData?: string;
  schedulerHints?: Record<string, unknown>;
  /** Extra `server` fields passed as-is. */
  extra?: JsonObject;
}

export interface CreatedServer {
  id: string;
  adminPass: string | undefined;
  location: string | undefined;
  requestId: string | undefined;
  raw: JsonObject;
}

export interface NovaOptions {
  /** Skip discovery and use this microversion. */
  microversion?: string;
  /** Wanted microversion for negotiation (default 2.88). */
  preferredMicroversion?: string;
}

export interface ListServersQuery {
  allTenants?: boolean;
  host?: string;
  availabilityZone?: string;
  status?: string;
  name?: string;
  projectId?: string;
  /**
   * Page size (`limit`); Nova caps it at its `[api] max_limit` (default 1000) and links
   * the next page whenever a page is full, so N servers take floor(N / page) + 1 calls.
   */
  limit?: number;
  /**
   * ISO 8601 time (`changes-since`): only servers whose `updated_at` is at or after it,
   * *including deleted ones* (status `DELETED`, their last host kept) while Nova has not
   * archived them. Nova stores `updated_at` in whole seconds (MariaDB truncates), so the
   * caller must step back a margin from the time it last read.
   */
  changesSince?: string;
}

export class NovaClient {
  readonly #ctx: ServiceContext;
  readonly #opts: NovaOptions;
  #microversion: Promise<string> | undefined;
  #range: VersionRange | undefined;

  constructor(ctx: ServiceContext, options: NovaOptions = {}) {
    this.#ctx = ctx;
    this.#opts = options;
    if (options.microversion !== undefined) this.#microversion = Promise.resolve(options.microversion);
  }

  /** GET / of the compute endpoint: min and max microversion. */
  async versions(o?: CallOptions): Promise<VersionRange> {
    const root = computeRoot(await this.#ctx.endpoint(o?.signal));
    const res = await this.#ctx.http.request({
      service: 'compute',
      method: 'GET',
      url: `${root}/`,
      auth: this.#ctx.auth,
      okStatus: [200, 300],
      ...callOpts(o),
    });
    this.#range = parseVersionDocument(res.body);
    return this.#range;
  }

  /** The negotiated microversion (discovered once, then cached). */
  async microversion(o?: CallOptions): Promise<string> {
    if (!this.#microversion) {
      const p = this.versions(o).then((r) => chooseMicroversion(r, this.#opts.preferredMicroversion));
      this.#microversion = p;
      p.catch(() => {
        if (this.#microversion === p) this.#microversion = undefined;
      });
    }
    return this.#microversion;
  }

  /** "placement" at ≥ 2.88 (stats removed), "hypervisor-stats" below (fallback path). */
  async capacitySource(o?: CallOptions): Promise<'placement' | 'hypervisor-stats'> {
    return compareMicroversion(await this.microversion(o), '2.88') >= 0 ? 'placement' : 'hypervisor-stats';
  }

  async #req(method: string, path: string, extra: Partial<HttpRequest> & CallOptions = {}): Promise<{ body: unknown; headers: Record<string, string>; requestId: string | undefined; status: number }> {
    const version = await this.microversion(extra);
    const base = await this.#ctx.endpoint(extra.signal);
    return this.#ctx.http.request({
      ...extra,
      service: 'compute',
      method,
      url: joinUrl(base, path),
      auth: this.#ctx.auth,
      microversion: { service: 'compute', version },
    });
  }

  async #pages(path: string, itemsKey: string, query: HttpRequest['query'], o?: CallOptions): Promise<unknown[]> {
    const version = await this.microversion(o);
    const base = await this.#ctx.endpoint(o?.signal);
    return collectPages(
      this.#ctx.http.paginateLinks(
        {
          service: 'compute',
          url: joinUrl(base, path),
          query,
          auth: this.#ctx.auth,
          microversion: { service: 'compute', version },
          ...callOpts(o),
        },
        itemsKey,
      ),
    );
  }

  /** GET /os-hypervisors[/detail], following hypervisors_links. */
  async listHypervisors(q: { detail?: boolean; withServers?: boolean; hostnamePattern?: string; limit?: number } = {}, o?: CallOptions): Promise<Hypervisor[]> {
    const query: HttpRequest['query'] = {
      with_servers: q.withServers ? 'true' : undefined,
      hypervisor_hostname_pattern: q.hostnamePattern,
      limit: q.hostnamePattern === undefined ? q.limit : undefined,
    };
    const items = await this.#pages(q.detail ? '/os-hypervisors/detail' : '/os-hypervisors', 'hypervisors', query, o);
    return items.map(parseHypervisor);
  }

  async getHypervisor(id: string | number, q: { withServers?: boolean } = {}, o?: CallOptions): Promise<Hypervisor> {
    const res = await this.#req('GET', `/os-hypervisors/${encodeURIComponent(String(id))}`, {
      query: { with_servers: q.withServers ? 'true' : undefined },
      ...callOpts(o),
    });
    return parseHypervisor(asObject(res.body, 'hypervisor body').hypervisor);
  }

  /** GET /os-hypervisors/statistics: only below 2.88 (the fallback capacity path). */
  async hypervisorStatistics(o?: CallOptions): Promise<HypervisorStatistics> {
    const v = await this.microversion(o);
    if (compareMicroversion(v, '2.88') >= 0) {
      throw new OpenStackUnsupportedError(`/os-hypervisors/statistics was removed in compute 2.88 (negotiated ${v}); read capacity from Placement`);
    }
    return parseHypervisorStatistics((await this.#req('GET', '/os-hypervisors/statistics', callOpts(o))).body);
  }

  /** GET /os-services[?binary=&host=]. */
  async listServices(q: { binary?: string; host?: string } = {}, o?: CallOptions): Promise<ComputeService[]> {
    const res = await this.#req('GET', '/os-services', { query: { binary: q.binary, host: q.host }, ...callOpts(o) });
    return asArray(asObject(res.body, 'services body').services, 'services').map(parseComputeService);
  }

  /** GET /servers/detail, following servers_links. Admin fields are required unless opted out. */
  async listServers(q: ListServersQuery = {}, o?: CallOptions & ServerParseOptions): Promise<Server[]> {
    const items = await this.#pages(
      '/servers/detail',
      'servers',
      {
        all_tenants: q.allTenants ? '1' : undefined,
        host: q.host,
        availability_zone: q.availabilityZone,
        status: q.status,
        name: q.name,
        project_id: q.projectId,
        limit: q.limit,
        'changes-since': q.changesSince,
      },
      o,
    );
    return items.map((s) => parseServer(s, o));
  }

  async getServer(id: string, o?: CallOptions & ServerParseOptions): Promise<Server> {
    const res = await this.#req('GET', `/servers/${encodeURIComponent(id)}`, callOpts(o));
    return parseServer(asObject(res.body, 'server body').server, o);
  }

  /** POST /servers (202). */
  async createServer(r: CreateServerRequest, o?: CallOptions): Promise<CreatedServer> {
    const server: JsonObject = { ...r.extra, name: r.name, imageRef: r.imageRef, flavorRef: r.flavorRef };
    if (r.availabilityZone !== undefined) server.availability_zone = r.availabilityZone;
    if (r.networks !== undefined) server.networks = r.networks;
    if (r.metadata !== undefined) server.metadata = r.metadata;
    if (r.securityGroups !== undefined) server.security_groups = r.securityGroups.map((name) => ({ name }));
    if (r.userData !== undefined) server.user_data = r.userData;
    const body: JsonObject = { server };
    if (r.schedulerHints !== undefined) body['OS-SCH-HNT:scheduler_hints'] = r.schedulerHints;
    const res = await this.#req('POST', '/servers', { body, ...callOpts(o) });
    const s = asObject(asObject(res.body, 'create body').server, 'server');
    return {
      id: str(s, 'id', 'server'),
      adminPass: optStr(s, 'adminPass'),
      location: res.headers.location,
      requestId: res.requestId,
      raw: s,
    };
  }

  /** DELETE /servers/{id} (204). */
  async deleteServer(id: string, o?: CallOptions): Promise<void> {
    await this.#req('DELETE', `/servers/${encodeURIComponent(id)}`, callOpts(o));
  }

  /** Polls GET /servers/{id} until the status is one of `until` (ERROR ends the wait with an error). */
  async waitForServer(id: string, until: readonly string[] = ['ACTIVE'], opts: { intervalMs?: number; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Server> {
    const end = Date.now() + (opts.timeoutMs ?? 300_000);
    for (;;) {
      const s = await this.getServer(id, callOpts({ ...(opts.signal ? { signal: opts.signal } : {}) }));
      if (until.includes(s.status)) return s;
      if (s.status === 'ERROR') throw new OpenStackResponseError(`server ${id} went to ERROR while waiting for ${until.join('/')}`);
      if (Date.now() > end) throw new OpenStackResponseError(`server ${id} still ${s.status} after waiting for ${until.join('/')}`);
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
    }
  }

  async listFlavors(q: { limit?: number } = {}, o?: CallOptions): Promise<Flavor[]> {
    return (await this.#pages('/flavors/detail', 'flavors', { limit: q.limit }, o)).map(parseFlavor);
  }

  async getFlavor(id: string, o?: CallOptions): Promise<Flavor> {
    const res = await this.#req('GET', `/flavors/${encodeURIComponent(id)}`, callOpts(o));
    return parseFlavor(asObject(res.body, 'flavor body').flavor);
  }

  async limits(q: { tenantId?: string } = {}, o?: CallOptions): Promise<AbsoluteLimits> {
    return parseLimits((await this.#req('GET', '/limits', { query: { tenant_id: q.tenantId }, ...callOpts(o) })).body);
  }

  async quotaSetDetail(projectId: string, o?: CallOptions): Promise<Record<string, QuotaDetail>> {
    return parseQuotaSetDetail((await this.#req('GET', `/os-quota-sets/${encodeURIComponent(projectId)}/detail`, callOpts(o))).body);
  }

  /** GET /os-availability-zone/detail (admin), without the `internal` zone. */
  async availabilityZones(o?: CallOptions): Promise<AvailabilityZone[]> {
    return parseAvailabilityZones((await this.#req('GET', '/os-availability-zone/detail', callOpts(o))).body);
  }

  /** The range discovered by the last versions() call. */
  get versionRange(): VersionRange | undefined {
    return this.#range;
  }
}
