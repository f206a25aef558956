/**
 * Neutron v2.0: networks, subnets, ports, security groups and floating IPs
 * (list with filters and fields, show, create, delete). binding:* attributes
 * only for admin tokens. Routers are not modelled: a floating IP needs only
 * an external network, not a router between it and the port's subnet.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, authOf, body, origin, queryAll, queryOne, type AuthContext } from './http.ts';
import type { SimFloatingIp, SimNetwork, SimPort, SimSecurityGroup, SimState } from './state.ts';

export interface NeutronSimOptions {
  /**
   * Accept `changed_since` on list calls (the timestamp plugin's filter), as a Neutron with
   * `filter_validation = False` does. Off by default, as on Zed's defaults: its filter
   * validation answers 400 "['changed_since'] is invalid attribute for filtering" for ports
   * (checked on the CI cloud; the same server with filter_validation off filtered by
   * updated_at >= changed_since and left deleted ports out).
   */
  changedSince?: boolean;
}

/** Query keys that are not filters (Neutron's paging, sorting and field selection). */
const NOT_FILTERS = ['fields', 'limit', 'marker', 'page_reverse', 'sort_key', 'sort_dir'];

/** A `changed_since` value as oslo's parse_isotime reads it (zone optional, UTC); undefined when it is not one. */
export function parseNeutronTime(raw: string): number | undefined {
  const m = /^(\d{4}-\d\d-\d\d(?:T\d\d:\d\d(?::\d\d(?:\.\d+)?)?)?)(Z|[+-]\d\d:?\d\d)?$/i.exec(raw);
  if (!m) return undefined;
  const t = Date.parse(`${m[1] ?? ''}${(m[1] ?? '').includes('T') ? (m[2] ?? 'Z') : ''}`);
  return Number.isNaN(t) ? undefined : t;
}

/** Index of the first port whose id sorts after `id` (ports sorted by id). */
function after(sorted: readonly SimPort[], id: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((sorted[mid]?.id ?? '') <= id) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function portView(p: SimPort, admin: boolean, plug: 'hybrid' | 'native' = 'hybrid'): Record<string, unknown> {
  const out: Record<string, unknown> = {
    admin_state_up: true,
    allowed_address_pairs: [],
    created_at: p.createdAt,
    data_plane_status: null,
    description: '',
    device_id: p.deviceId,
    device_owner: p.deviceOwner,
    extra_dhcp_opts: [],
    fixed_ips: p.fixedIps.map((ip) => ({ ...ip })),
    id: p.id,
    ip_allocation: 'immediate',
    mac_address: p.macAddress,
    name: p.name,
    network_id: p.networkId,
    port_security_enabled: true,
    project_id: p.projectId,
    propagate_uplink_status: false,
    qos_network_policy_id: null,
    qos_policy_id: null,
    revision_number: p.revision,
    security_groups: [...p.securityGroupIds],
    status: p.status,
    tags: [],
    tenant_id: p.projectId,
    updated_at: p.updatedAt,
  };
  if (admin) {
    Object.assign(out, {
      'binding:host_id': p.hostId,
      'binding:profile': {},
      'binding:vif_details':
        p.vifType === 'ovs'
          ? { bound_drivers: { '0': 'openvswitch' }, connectivity: 'l2', port_filter: true, ovs_hybrid_plug: plug === 'hybrid', datapath_type: 'system', bridge_name: 'br-int' }
          : {},
      'binding:vif_type': p.vifType,
      'binding:vnic_type': 'normal',
      resource_request: null,
    });
  }
  return out;
}

function networkView(n: SimNetwork): Record<string, unknown> {
  return {
    admin_state_up: true,
    availability_zone_hints: [],
    availability_zones: ['nova'],
    created_at: '2024-01-01T00:00:00Z',
    description: '',
    id: n.id,
    ipv4_address_scope: null,
    ipv6_address_scope: null,
    is_default: false,
    mtu: 1500,
    name: n.name,
    port_security_enabled: true,
    project_id: n.projectId,
    'provider:network_type': 'vlan',
    'provider:physical_network': 'physnet1',
    'provider:segmentation_id': 100,
    'router:external': n.external,
    shared: n.shared,
    status: 'ACTIVE',
    subnets: [n.subnetId],
    tags: [],
    tenant_id: n.projectId,
    updated_at: '2024-01-01T00:00:00Z',
    revision_number: 1,
  };
}

function subnetView(n: SimNetwork): Record<string, unknown> {
  const [base = '10.0.0.0'] = n.cidr.split('/');
  const gateway = base.replace(/\.\d+$/, '.1');
  return {
    allocation_pools: [{ start: base.replace(/\.\d+$/, '.2'), end: base.replace(/\.\d+$/, '.254') }],
    cidr: n.cidr,
    created_at: '2024-01-01T00:00:00Z',
    description: '',
    dns_nameservers: [],
    enable_dhcp: true,
    gateway_ip: gateway,
    host_routes: [],
    id: n.subnetId,
    ip_version: 4,
    name: n.subnetName,
    network_id: n.id,
    project_id: n.projectId,
    revision_number: 1,
    tags: [],
    tenant_id: n.projectId,
    updated_at: '2024-01-01T00:00:00Z',
  };
}

function securityGroupView(g: SimSecurityGroup): Record<string, unknown> {
  return {
    created_at: g.createdAt,
    description: g.description,
    id: g.id,
    name: g.name,
    project_id: g.projectId,
    revision_number: 1,
    security_group_rules: [],
    stateful: true,
    tags: [],
    tenant_id: g.projectId,
    updated_at: g.createdAt,
  };
}

export function floatingIpView(f: SimFloatingIp): Record<string, unknown> {
  return {
    created_at: f.createdAt,
    description: '',
    dns_domain: '',
    dns_name: '',
    fixed_ip_address: f.fixedIp,
    floating_ip_address: f.address,
    floating_network_id: f.networkId,
    id: f.id,
    port_details: null,
    port_forwardings: [],
    port_id: f.portId,
    project_id: f.projectId,
    qos_policy_id: null,
    revision_number: f.revision,
    router_id: null,
    status: f.portId === null ? 'DOWN' : 'ACTIVE',
    tags: [],
    tenant_id: f.projectId,
    updated_at: f.updatedAt,
  };
}

/** `?fields=a&fields=b` trims each record. */
function trim(rec: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  if (fields.length === 0) return rec;
  return Object.fromEntries(Object.entries(rec).filter(([k]) => fields.includes(k)));
}

/** Filters records by every query key except paging/fields; repeated values OR, different keys AND. */
function filter(records: Record<string, unknown>[], query: unknown, admin: boolean, handled: readonly string[] = []): Record<string, unknown>[] {
  const q = (typeof query === 'object' && query !== null ? query : {}) as Record<string, unknown>;
  const keys = Object.keys(q).filter((k) => !NOT_FILTERS.includes(k) && !handled.includes(k));
  return records.filter((r) =>
    keys.every((k) => {
      if (k.startsWith('binding:') && !admin) return true;
      // filter-validation's answer (a Python list in the message, as Zed writes it).
      if (!(k in r)) throw new ApiError(400, `['${k}'] is invalid attribute for filtering`, 'HTTPBadRequest');
      const wanted = queryAll(q, k);
      const have = r[k];
      return wanted.some((w) => String(have) === w);
    }),
  );
}

/** Security groups as Neutron checks them on a port: ids the caller can see, else 404. */
function resolveGroupIds(state: SimState, auth: AuthContext, raw: unknown): string[] {
  if (!Array.isArray(raw)) throw new ApiError(400, `Invalid input for security_groups. Reason: '${JSON.stringify(raw)}' is not a list.`, 'HTTPBadRequest');
  return raw.map((ref: unknown) => {
    const id = String(ref);
    const g = state.securityGroups.get(id);
    if (!g || (!auth.isAdmin && g.projectId !== auth.projectId)) throw new ApiError(404, `Security group ${id} does not exist`, 'SecurityGroupNotFound');
    return g.id;
  });
}

/** `fixed_ips: [{subnet_id, ip_address?}]` on the network's one subnet. */
function fixedIpOf(net: SimNetwork, raw: unknown): { ipAddress?: string } {
  if (raw === undefined) return {};
  const first: unknown = Array.isArray(raw) ? raw[0] : undefined;
  if (typeof first !== 'object' || first === null) return {};
  const f = first as Record<string, unknown>;
  if (f.subnet_id !== undefined && f.subnet_id !== net.subnetId) {
    throw new ApiError(400, `Invalid input for operation: Failed to create port on network ${net.id}, because fixed_ips included invalid subnet ${typeof f.subnet_id === 'string' ? f.subnet_id : JSON.stringify(f.subnet_id)}.`, 'InvalidInput');
  }
  return typeof f.ip_address === 'string' ? { ipAddress: f.ip_address } : {};
}

export function registerNeutron(app: FastifyInstance, state: SimState, options: NeutronSimOptions = {}): void {
  const visiblePort = (auth: AuthContext, p: SimPort) => auth.isAdmin || p.projectId === auth.projectId;
  const visibleNet = (auth: AuthContext, n: SimNetwork) => auth.isAdmin || n.shared || n.projectId === auth.projectId;
  const root = (req: FastifyRequest) => ({ versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ href: `http://${req.headers.host ?? ''}/network/v2.0/`, rel: 'self' }] }] });
  app.get('/network', root);
  app.get('/network/', root);

  // Ports sorted by id (Neutron's paging order), rebuilt only when a port is created or deleted.
  let byId: { version: number; size: number; ports: SimPort[] } | undefined;
  const sortedPorts = (): SimPort[] => {
    if (byId?.version !== state.portsVersion || byId.size !== state.ports.size) {
      byId = { version: state.portsVersion, size: state.ports.size, ports: [...state.ports.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)) };
    }
    return byId.ports;
  };

  /**
   * Neutron's paging links (api_common.get_pagination_links): a full page links the next
   * one (marker = its last id), and every page but a short reversed one links the previous
   * one; so N ports take floor(N / limit) + 1 calls, the last page empty when N is a multiple
   * (checked on Zed: limit=2 over 2 ports, then an empty page with only a previous link).
   */
  const pageLinks = (req: FastifyRequest, page: readonly Record<string, unknown>[], limit: number): { rel: string; href: string }[] => {
    const [path, query = ''] = req.url.split('?') as [string, string?];
    const link = (marker: unknown, reverse: boolean): string => {
      const params = new URLSearchParams(query);
      params.delete('marker');
      params.delete('page_reverse');
      if (typeof marker === 'string') params.append('marker', marker);
      if (reverse) params.append('page_reverse', 'True');
      return `${origin(req)}${path}?${params.toString()}`;
    };
    const out: { rel: string; href: string }[] = [];
    if (page.length >= limit) out.push({ rel: 'next', href: link(page[page.length - 1]?.id, false) });
    out.push({ rel: 'previous', href: link(page[0]?.id, true) });
    return out;
  };

  app.get('/network/v2.0/ports', (req) => {
    const auth = authOf(req);
    const q = req.query;
    let since: number | undefined;
    const sinceRaw = queryOne(q, 'changed_since');
    if (sinceRaw !== undefined) {
      if (options.changedSince !== true) throw new ApiError(400, "['changed_since'] is invalid attribute for filtering", 'HTTPBadRequest');
      since = parseNeutronTime(sinceRaw);
      if (since === undefined) throw new ApiError(400, 'Invalid input for operation: The input changed_since must be in the following format: YYYY-MM-DDTHH:MM:SSZ.', 'InvalidInput');
    }
    const limitRaw = queryOne(q, 'limit');
    const limit = limitRaw === undefined ? 0 : Number(limitRaw);
    if (!Number.isInteger(limit) || limit < 0) throw new ApiError(400, `Bad limit request: Limit must be an integer 0 or greater and not '${limitRaw ?? ''}'.`, 'BadRequest');
    const devices = queryAll(q, 'device_id');
    const deviceSet = devices.length > 0 ? new Set(devices) : undefined;
    // device_id and changed_since are matched on the stored port, before any view is built:
    // a bulk cloud's listing must not build 200 000 views for every page.
    const cheap = (p: SimPort): boolean => visiblePort(auth, p) && (deviceSet === undefined || deviceSet.has(p.deviceId)) && (since === undefined || Date.parse(p.updatedAt) >= since);
    const handled = ['changed_since', 'device_id'];
    const fields = queryAll(q, 'fields');
    const otherFilters = Object.keys(q as Record<string, unknown>).some((k) => !NOT_FILTERS.includes(k) && !handled.includes(k));
    const view = (p: SimPort): Record<string, unknown> => portView(p, auth.isAdmin, state.ovsPlug);
    if (limit === 0) {
      // Not paged: Neutron answers every match (pagination_max_limit defaults to unlimited).
      const records = [...state.ports.values()].filter(cheap).map(view);
      return { ports: filter(records, q, auth.isAdmin, handled).map((r) => trim(r, fields)) };
    }
    const sorted = sortedPorts();
    const marker = queryOne(q, 'marker');
    let page: Record<string, unknown>[];
    if (!otherFilters) {
      page = [];
      for (let i = marker === undefined ? 0 : after(sorted, marker); i < sorted.length && page.length < limit; i++) {
        const p = sorted[i] as SimPort;
        if (cheap(p)) page.push(view(p));
      }
    } else {
      const matching = filter(sorted.filter(cheap).map(view), q, auth.isAdmin, handled);
      const start = marker === undefined ? 0 : matching.findIndex((r) => String(r.id) > marker);
      page = start < 0 ? [] : matching.slice(start, start + limit);
    }
    return { ports: page.map((r) => trim(r, fields)), ports_links: pageLinks(req, page, limit) };
  });
  const findPort = (req: FastifyRequest, id: string): SimPort => {
    const p = state.ports.get(id);
    if (!p || !visiblePort(authOf(req), p)) throw new ApiError(404, `Port ${id} could not be found.`, 'PortNotFound');
    return p;
  };
  app.get<{ Params: { id: string } }>('/network/v2.0/ports/:id', (req) => ({ port: trim(portView(findPort(req, req.params.id), authOf(req).isAdmin, state.ovsPlug), queryAll(req.query, 'fields')) }));
  app.delete<{ Params: { id: string } }>('/network/v2.0/ports/:id', (req, reply: FastifyReply) => {
    const p = findPort(req, req.params.id);
    state.deletePort(p.id);
    return reply.code(204).send();
  });
  app.post('/network/v2.0/ports', (req, reply: FastifyReply) => {
    const auth = authOf(req);
    const raw = body(req).port;
    if (typeof raw !== 'object' || raw === null) throw new ApiError(400, 'Resource body required', 'HTTPBadRequest');
    const p = raw as Record<string, unknown>;
    if (typeof p.network_id !== 'string') throw new ApiError(400, "Failed to parse request. Required attribute 'network_id' not specified", 'HTTPBadRequest');
    const net = state.networks.get(p.network_id);
    if (!net || !visibleNet(auth, net)) throw new ApiError(404, `Network ${p.network_id} could not be found.`, 'NetworkNotFound');
    const securityGroupIds = p.security_groups === undefined ? undefined : resolveGroupIds(state, auth, p.security_groups);
    const port = state.createPort(net, auth.projectId, {
      ...(typeof p.name === 'string' ? { name: p.name } : {}),
      ...(securityGroupIds ? { securityGroupIds } : {}),
      ...fixedIpOf(net, p.fixed_ips),
    });
    // What Nova's interface attach writes: the device, its owner and (admin only) the binding host.
    if (typeof p.device_id === 'string') port.deviceId = p.device_id;
    if (typeof p.device_owner === 'string') port.deviceOwner = p.device_owner;
    if (typeof p['binding:host_id'] === 'string') {
      if (!auth.isAdmin) throw new ApiError(403, 'Policy does not allow create_port:binding:host_id to be performed.', 'PolicyNotAuthorized');
      port.hostId = p['binding:host_id'];
      if (port.hostId !== '') port.vifType = 'ovs';
    }
    return reply.code(201).send({ port: portView(port, auth.isAdmin, state.ovsPlug) });
  });

  app.get('/network/v2.0/networks', (req) => {
    const auth = authOf(req);
    const records = [...state.networks.values()].filter((n) => visibleNet(auth, n)).map(networkView);
    return { networks: filter(records, req.query, auth.isAdmin).map((r) => trim(r, queryAll(req.query, 'fields'))) };
  });
  app.get<{ Params: { id: string } }>('/network/v2.0/networks/:id', (req) => {
    const n = state.networks.get(req.params.id);
    if (!n || !visibleNet(authOf(req), n)) throw new ApiError(404, `Network ${req.params.id} could not be found.`, 'NetworkNotFound');
    return { network: networkView(n) };
  });

  app.get('/network/v2.0/subnets', (req) => {
    const auth = authOf(req);
    const records = [...state.networks.values()].filter((n) => visibleNet(auth, n)).map(subnetView);
    return { subnets: filter(records, req.query, auth.isAdmin).map((r) => trim(r, queryAll(req.query, 'fields'))) };
  });
  app.get<{ Params: { id: string } }>('/network/v2.0/subnets/:id', (req) => {
    const n = [...state.networks.values()].find((x) => x.subnetId === req.params.id);
    if (!n || !visibleNet(authOf(req), n)) throw new ApiError(404, `Subnet ${req.params.id} could not be found.`, 'SubnetNotFound');
    return { subnet: subnetView(n) };
  });

  const visibleGroup = (auth: AuthContext, g: SimSecurityGroup) => auth.isAdmin || g.projectId === auth.projectId;
  app.get('/network/v2.0/security-groups', (req) => {
    const auth = authOf(req);
    state.defaultSecurityGroup(auth.projectId);
    const records = [...state.securityGroups.values()].filter((g) => visibleGroup(auth, g)).map(securityGroupView);
    return { security_groups: filter(records, req.query, auth.isAdmin).map((r) => trim(r, queryAll(req.query, 'fields'))) };
  });
  const findGroup = (req: FastifyRequest, id: string): SimSecurityGroup => {
    const g = state.securityGroups.get(id);
    if (!g || !visibleGroup(authOf(req), g)) throw new ApiError(404, `Security group ${id} does not exist`, 'SecurityGroupNotFound');
    return g;
  };
  app.get<{ Params: { id: string } }>('/network/v2.0/security-groups/:id', (req) => ({ security_group: securityGroupView(findGroup(req, req.params.id)) }));
  app.post('/network/v2.0/security-groups', (req, reply: FastifyReply) => {
    const auth = authOf(req);
    const raw = body(req).security_group;
    if (typeof raw !== 'object' || raw === null) throw new ApiError(400, 'Resource body required', 'HTTPBadRequest');
    const g = raw as Record<string, unknown>;
    const name = typeof g.name === 'string' ? g.name : '';
    if (name === 'default') throw new ApiError(409, 'Default security group default already exists.', 'SecurityGroupDefaultAlreadyExists');
    const group = state.addSecurityGroup(auth.projectId, name, typeof g.description === 'string' ? g.description : '');
    return reply.code(201).send({ security_group: securityGroupView(group) });
  });
  app.delete<{ Params: { id: string } }>('/network/v2.0/security-groups/:id', (req, reply: FastifyReply) => {
    const g = findGroup(req, req.params.id);
    if (g.name === 'default' && !authOf(req).isAdmin) throw new ApiError(409, 'Insufficient rights for removing default security group.', 'SecurityGroupCannotRemoveDefault');
    if ([...state.ports.values()].some((p) => p.securityGroupIds.includes(g.id))) throw new ApiError(409, `Security Group ${g.id} in use.`, 'SecurityGroupInUse');
    state.securityGroups.delete(g.id);
    return reply.code(204).send();
  });

  const visibleFip = (auth: AuthContext, f: SimFloatingIp) => auth.isAdmin || f.projectId === auth.projectId;
  app.get('/network/v2.0/floatingips', (req) => {
    const auth = authOf(req);
    const records = [...state.floatingIps.values()].filter((f) => visibleFip(auth, f)).map(floatingIpView);
    return { floatingips: filter(records, req.query, auth.isAdmin).map((r) => trim(r, queryAll(req.query, 'fields'))) };
  });
  const findFip = (req: FastifyRequest, id: string): SimFloatingIp => {
    const f = state.floatingIps.get(id);
    if (!f || !visibleFip(authOf(req), f)) throw new ApiError(404, `Floating IP ${id} could not be found`, 'FloatingIPNotFound');
    return f;
  };
  app.get<{ Params: { id: string } }>('/network/v2.0/floatingips/:id', (req) => ({ floatingip: floatingIpView(findFip(req, req.params.id)) }));
  app.delete<{ Params: { id: string } }>('/network/v2.0/floatingips/:id', (req, reply: FastifyReply) => {
    state.floatingIps.delete(findFip(req, req.params.id).id);
    return reply.code(204).send();
  });
}
