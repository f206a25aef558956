/**
 * Neutron v2.0 client: ports (by device_id / binding:host_id), networks,
 * QoS policies and their bandwidth-limit / minimum-bandwidth rules.
 * The catalog URL has no version; `/v2.0` is appended.
 */
import { OpenStackPermissionError } from '../errors.ts';
import { collectPages, joinUrl, type HttpRequest } from '../http.ts';
import { asArray, asObject, bool, isObject, nullableStr, optBool, optNum, optStr, str, type JsonObject } from '../json.ts';
import { callOpts, type CallOptions, type ServiceContext } from '../service.ts';

export interface FixedIp {
  subnetId: string;
  ipAddress: string;
}

export interface Port {
  id: string;
  name: string | undefined;
  networkId: string;
  deviceId: string;
  deviceOwner: string;
  macAddress: string | undefined;
  status: string;
  adminStateUp: boolean | undefined;
  fixedIps: FixedIp[];
  projectId: string | undefined;
  /** Compute service host; "" when unbound; undefined only when admin fields were not required. */
  hostId: string | undefined;
  vifType: string | undefined;
  vnicType: string | undefined;
  qosPolicyId: string | null | undefined;
  qosNetworkPolicyId: string | null | undefined;
  /** `updated_at` (standard-attr-timestamp; whole seconds, "Z"); undefined when not reported. */
  updatedAt?: string;
  raw: JsonObject;
}

export interface PortParseOptions {
  /** Throw OpenStackPermissionError when binding:host_id is absent (default true). */
  requireAdminFields?: boolean;
}

export function parsePort(v: unknown, opts: PortParseOptions = {}): Port {
  const w = 'port';
  const o = asObject(v, w);
  const id = str(o, 'id', w);
  if ((opts.requireAdminFields ?? true) && !('binding:host_id' in o)) {
    throw new OpenStackPermissionError(`port ${id}`, 'binding:host_id', 'use an admin or service token to read port bindings');
  }
  const updatedAt = optStr(o, 'updated_at');
  return {
    ...(updatedAt === undefined ? {} : { updatedAt }),
    id,
    name: optStr(o, 'name'),
    networkId: str(o, 'network_id', w),
    deviceId: str(o, 'device_id', w),
    deviceOwner: str(o, 'device_owner', w),
    macAddress: optStr(o, 'mac_address'),
    status: str(o, 'status', w),
    adminStateUp: optBool(o, 'admin_state_up'),
    fixedIps: asArray(o.fixed_ips ?? [], 'port.fixed_ips').map((f) => {
      const fo = asObject(f, 'port.fixed_ips[]');
      return { subnetId: str(fo, 'subnet_id', 'fixed_ip'), ipAddress: str(fo, 'ip_address', 'fixed_ip') };
    }),
    projectId: optStr(o, 'project_id') ?? optStr(o, 'tenant_id'),
    hostId: optStr(o, 'binding:host_id'),
    vifType: optStr(o, 'binding:vif_type'),
    vnicType: optStr(o, 'binding:vnic_type'),
    qosPolicyId: nullableStr(o, 'qos_policy_id', w),
    qosNetworkPolicyId: nullableStr(o, 'qos_network_policy_id', w),
    raw: o,
  };
}

export interface Network {
  id: string;
  name: string;
  status: string | undefined;
  subnets: string[];
  projectId: string | undefined;
  shared: boolean | undefined;
  external: boolean | undefined;
  mtu: number | undefined;
  qosPolicyId: string | null | undefined;
  providerNetworkType: string | undefined;
  providerPhysicalNetwork: string | null | undefined;
  raw: JsonObject;
}

export function parseNetwork(v: unknown): Network {
  const w = 'network';
  const o = asObject(v, w);
  return {
    id: str(o, 'id', w),
    name: str(o, 'name', w),
    status: optStr(o, 'status'),
    subnets: Array.isArray(o.subnets) ? o.subnets.filter((s): s is string => typeof s === 'string') : [],
    projectId: optStr(o, 'project_id') ?? optStr(o, 'tenant_id'),
    shared: optBool(o, 'shared'),
    external: optBool(o, 'router:external'),
    mtu: optNum(o, 'mtu'),
    qosPolicyId: nullableStr(o, 'qos_policy_id', w),
    providerNetworkType: optStr(o, 'provider:network_type'),
    providerPhysicalNetwork: nullableStr(o, 'provider:physical_network', w),
    raw: o,
  };
}

export interface QosRule {
  id: string;
  type: string | undefined;
  /** bandwidth_limit */
  maxKbps?: number;
  maxBurstKbps?: number;
  /** minimum_bandwidth */
  minKbps?: number;
  direction?: string;
  raw: JsonObject;
}

export function parseQosRule(v: unknown): QosRule {
  const o = asObject(v, 'qos rule');
  const r: QosRule = { id: str(o, 'id', 'qos rule'), type: optStr(o, 'type'), raw: o };
  const mk = optNum(o, 'max_kbps');
  if (mk !== undefined) r.maxKbps = mk;
  const mb = optNum(o, 'max_burst_kbps');
  if (mb !== undefined) r.maxBurstKbps = mb;
  const mn = optNum(o, 'min_kbps');
  if (mn !== undefined) r.minKbps = mn;
  const d = optStr(o, 'direction');
  if (d !== undefined) r.direction = d;
  return r;
}

export interface QosPolicy {
  id: string;
  name: string;
  description: string | undefined;
  shared: boolean;
  isDefault: boolean | undefined;
  projectId: string | undefined;
  rules: QosRule[];
  raw: JsonObject;
}

export function parseQosPolicy(v: unknown): QosPolicy {
  const w = 'qos policy';
  const o = asObject(v, w);
  return {
    id: str(o, 'id', w),
    name: str(o, 'name', w),
    description: optStr(o, 'description'),
    shared: 'shared' in o ? bool(o, 'shared', w) : false,
    isDefault: optBool(o, 'is_default'),
    projectId: optStr(o, 'project_id') ?? optStr(o, 'tenant_id'),
    rules: Array.isArray(o.rules) ? o.rules.filter(isObject).map(parseQosRule) : [],
    raw: o,
  };
}

export type QosRuleKind = 'bandwidth_limit' | 'minimum_bandwidth';

export interface ListPortsQuery {
  /** One or several server ids (OR). */
  deviceId?: string | readonly string[];
  hostId?: string;
  networkId?: string;
  deviceOwner?: string;
  status?: string;
  /**
   * Page size: Neutron pages only when asked (`pagination_max_limit` defaults to
   * unlimited) and links a next page whenever a page is full, so N ports take
   * floor(N / limit) + 1 calls.
   */
  limit?: number;
  /**
   * ISO 8601 time (`changed_since`, standard-attr-timestamp): ports updated at or after
   * it; deleted ports are gone, not returned. Zed refuses it (400) while its default
   * `filter_validation` is on: the filter is not among the ports' declared filters.
   */
  changedSince?: string;
  /** Only these attributes (`fields=`); unknown names are ignored by Neutron. */
  fields?: readonly string[];
}

export class NeutronClient {
  readonly #ctx: ServiceContext;

  constructor(ctx: ServiceContext) {
    this.#ctx = ctx;
  }

  async #base(signal?: AbortSignal): Promise<string> {
    const ep = (await this.#ctx.endpoint(signal)).replace(/\/+$/, '');
    return /\/v2\.0$/.test(ep) ? ep : `${ep}/v2.0`;
  }

  async #req(method: string, path: string, extra: Partial<HttpRequest> & CallOptions = {}): Promise<unknown> {
    const res = await this.#ctx.http.request({
      ...extra,
      service: 'network',
      method,
      url: joinUrl(await this.#base(extra.signal), path),
      auth: this.#ctx.auth,
    });
    return res.body;
  }

  async #list(path: string, key: string, query: HttpRequest['query'], o?: CallOptions): Promise<unknown[]> {
    return collectPages(
      this.#ctx.http.paginateLinks(
        { service: 'network', url: joinUrl(await this.#base(o?.signal), path), query, auth: this.#ctx.auth, ...callOpts(o) },
        key,
      ),
    );
  }

  /** GET /v2.0/ports with filters; follows ports_links when `limit` is given. */
  async listPorts(q: ListPortsQuery = {}, o?: CallOptions & PortParseOptions): Promise<Port[]> {
    const items = await this.#list(
      '/ports',
      'ports',
      {
        device_id: typeof q.deviceId === 'string' ? q.deviceId : q.deviceId,
        'binding:host_id': q.hostId,
        network_id: q.networkId,
        device_owner: q.deviceOwner,
        status: q.status,
        limit: q.limit,
        changed_since: q.changedSince,
        fields: q.fields,
      },
      o,
    );
    return items.map((p) => parsePort(p, o));
  }

  async getPort(id: string, o?: CallOptions & PortParseOptions): Promise<Port> {
    return parsePort(asObject(await this.#req('GET', `/ports/${encodeURIComponent(id)}`, callOpts(o)), 'port body').port, o);
  }

  /** PUT /v2.0/ports/{id}, e.g. `{qos_policy_id}`. */
  async updatePort(id: string, fields: JsonObject, o?: CallOptions & PortParseOptions): Promise<Port> {
    const body = await this.#req('PUT', `/ports/${encodeURIComponent(id)}`, { body: { port: fields }, ...callOpts(o) });
    return parsePort(asObject(body, 'port body').port, o);
  }

  async listNetworks(q: { name?: string; shared?: boolean; external?: boolean } = {}, o?: CallOptions): Promise<Network[]> {
    return (await this.#list('/networks', 'networks', { name: q.name, shared: q.shared, 'router:external': q.external }, o)).map(parseNetwork);
  }

  async getNetwork(id: string, o?: CallOptions): Promise<Network> {
    return parseNetwork(asObject(await this.#req('GET', `/networks/${encodeURIComponent(id)}`, callOpts(o)), 'network body').network);
  }

  async listQosPolicies(q: { name?: string } = {}, o?: CallOptions): Promise<QosPolicy[]> {
    return (await this.#list('/qos/policies', 'policies', { name: q.name }, o)).map(parseQosPolicy);
  }

  async getQosPolicy(id: string, o?: CallOptions): Promise<QosPolicy> {
    return parseQosPolicy(asObject(await this.#req('GET', `/qos/policies/${encodeURIComponent(id)}`, callOpts(o)), 'policy body').policy);
  }

  async createQosPolicy(p: { name: string; description?: string; shared?: boolean }, o?: CallOptions): Promise<QosPolicy> {
    const body = await this.#req('POST', '/qos/policies', { body: { policy: p }, ...callOpts(o) });
    return parseQosPolicy(asObject(body, 'policy body').policy);
  }

  async updateQosPolicy(id: string, p: { name?: string; description?: string; shared?: boolean }, o?: CallOptions): Promise<QosPolicy> {
    const body = await this.#req('PUT', `/qos/policies/${encodeURIComponent(id)}`, { body: { policy: p }, ...callOpts(o) });
    return parseQosPolicy(asObject(body, 'policy body').policy);
  }

  async deleteQosPolicy(id: string, o?: CallOptions): Promise<void> {
    await this.#req('DELETE', `/qos/policies/${encodeURIComponent(id)}`, callOpts(o));
  }

  async listQosRules(policyId: string, kind: QosRuleKind, o?: CallOptions): Promise<QosRule[]> {
    const key = `${kind}_rules`;
    const body = asObject(await this.#req('GET', `/qos/policies/${encodeURIComponent(policyId)}/${key}`, callOpts(o)), 'rules body');
    return asArray(body[key], key).map(parseQosRule);
  }

  async createQosRule(policyId: string, kind: QosRuleKind, rule: { maxKbps?: number; maxBurstKbps?: number; minKbps?: number; direction?: 'ingress' | 'egress' }, o?: CallOptions): Promise<QosRule> {
    const key = `${kind}_rules`;
    const body = await this.#req('POST', `/qos/policies/${encodeURIComponent(policyId)}/${key}`, {
      body: { [`${kind}_rule`]: ruleBody(rule) },
      ...callOpts(o),
    });
    return parseQosRule(asObject(body, 'rule body')[`${kind}_rule`]);
  }

  async updateQosRule(policyId: string, kind: QosRuleKind, ruleId: string, rule: { maxKbps?: number; maxBurstKbps?: number; minKbps?: number; direction?: 'ingress' | 'egress' }, o?: CallOptions): Promise<QosRule> {
    const key = `${kind}_rules`;
    const body = await this.#req('PUT', `/qos/policies/${encodeURIComponent(policyId)}/${key}/${encodeURIComponent(ruleId)}`, {
      body: { [`${kind}_rule`]: ruleBody(rule) },
      ...callOpts(o),
    });
    return parseQosRule(asObject(body, 'rule body')[`${kind}_rule`]);
  }

  async deleteQosRule(policyId: string, kind: QosRuleKind, ruleId: string, o?: CallOptions): Promise<void> {
    await this.#req('DELETE', `/qos/policies/${encodeURIComponent(policyId)}/${kind}_rules/${encodeURIComponent(ruleId)}`, callOpts(o));
  }
}

function ruleBody(r: { maxKbps?: number; maxBurstKbps?: number; minKbps?: number; direction?: string }): JsonObject {
  const b: JsonObject = {};
  if (r.maxKbps !== undefined) b.max_kbps = r.maxKbps;
  if (r.maxBurstKbps !== undefined) b.max_burst_kbps = r.maxBurstKbps;
  if (r.minKbps !== undefined) b.min_kbps = r.minKbps;
  if (r.direction !== undefined) b.direction = r.direction;
  return b;
}
