/**
 * Neutron v2.0: networks and ports (list with filters and fields, show,
 * create, delete). binding:* attributes only for admin tokens.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, authOf, body, queryAll, type AuthContext } from './http.ts';
import type { SimNetwork, SimPort, SimState } from './state.ts';

export function portView(p: SimPort, admin: boolean): Record<string, unknown> {
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
    security_groups: [],
    status: p.status,
    tags: [],
    tenant_id: p.projectId,
    updated_at: p.updatedAt,
  };
  if (admin) {
    Object.assign(out, {
      'binding:host_id': p.hostId,
      'binding:profile': {},
      'binding:vif_details': p.vifType === 'ovs' ? { connectivity: 'l2', port_filter: true, ovs_hybrid_plug: false, datapath_type: 'system', bridge_name: 'br-int' } : {},
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
    'router:external': false,
    shared: n.shared,
    status: 'ACTIVE',
    subnets: [n.subnetId],
    tags: [],
    tenant_id: n.projectId,
    updated_at: '2024-01-01T00:00:00Z',
    revision_number: 1,
  };
}

/** `?fields=a&fields=b` trims each record. */
function trim(rec: Record<string, unknown>, fields: string[]): Record<string, unknown> {
  if (fields.length === 0) return rec;
  return Object.fromEntries(Object.entries(rec).filter(([k]) => fields.includes(k)));
}

/** Filters records by every query key except paging/fields; repeated values OR, different keys AND. */
function filter(records: Record<string, unknown>[], query: unknown, admin: boolean): Record<string, unknown>[] {
  const q = (typeof query === 'object' && query !== null ? query : {}) as Record<string, unknown>;
  const keys = Object.keys(q).filter((k) => !['fields', 'limit', 'marker', 'page_reverse', 'sort_key', 'sort_dir'].includes(k));
  return records.filter((r) =>
    keys.every((k) => {
      if (k.startsWith('binding:') && !admin) return true;
      if (!(k in r)) throw new ApiError(400, `[${k}] is invalid attribute for filtering`, 'HTTPBadRequest');
      const wanted = queryAll(q, k);
      const have = r[k];
      return wanted.some((w) => String(have) === w);
    }),
  );
}

export function registerNeutron(app: FastifyInstance, state: SimState): void {
  const visiblePort = (auth: AuthContext, p: SimPort) => auth.isAdmin || p.projectId === auth.projectId;
  const visibleNet = (auth: AuthContext, n: SimNetwork) => auth.isAdmin || n.shared || n.projectId === auth.projectId;
  const root = (req: FastifyRequest) => ({ versions: [{ id: 'v2.0', status: 'CURRENT', links: [{ href: `http://${req.headers.host ?? ''}/network/v2.0/`, rel: 'self' }] }] });
  app.get('/network', root);
  app.get('/network/', root);

  app.get('/network/v2.0/ports', (req) => {
    const auth = authOf(req);
    const records = [...state.ports.values()].filter((p) => visiblePort(auth, p)).map((p) => portView(p, auth.isAdmin));
    return { ports: filter(records, req.query, auth.isAdmin).map((r) => trim(r, queryAll(req.query, 'fields'))) };
  });
  const findPort = (req: FastifyRequest, id: string): SimPort => {
    const p = state.ports.get(id);
    if (!p || !visiblePort(authOf(req), p)) throw new ApiError(404, `Port ${id} could not be found.`, 'PortNotFound');
    return p;
  };
  app.get<{ Params: { id: string } }>('/network/v2.0/ports/:id', (req) => ({ port: trim(portView(findPort(req, req.params.id), authOf(req).isAdmin), queryAll(req.query, 'fields')) }));
  app.delete<{ Params: { id: string } }>('/network/v2.0/ports/:id', (req, reply: FastifyReply) => {
    const p = findPort(req, req.params.id);
    state.ports.delete(p.id);
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
    const port = state.createPort(net, auth.projectId, typeof p.name === 'string' ? { name: p.name } : {});
    return reply.code(201).send({ port: portView(port, auth.isAdmin) });
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
}
