/**
 * Pure renderers (no I/O) of an {@link InventorySnapshot} plus each host's
 * OVSDB view:
 *
 * - {@link renderThesisHosts}: the original agent's `GET /hosts` body, field for
 *   field (docs/reference/original.md §1.1), for the thesis-era clients.
 * - {@link renderV1Hosts}: the documented modern `GET /v1/hosts` body.
 *
 * `ovs(hostName)` is called with the compute service host name
 * (`HostInventory.name`, which is how the agent keys its per-host OVSDB
 * connections) and returns what that switch enforces per port (the backends'
 * neutral view), or undefined when it is not available (OVSDB not connected /
 * replica not synced). {@link V1HostLookups} add, per host, the OpenFlow
 * connection and the guaranteed-rate controller's view to `/v1/hosts`.
 */
import type { EnforcedDownload, EnforcedPortView, HostEnforcementView } from './enforcement/types.ts';
import type { HostGuaranteeView } from './guarantees/view.ts';
import type { HostInventory, InventorySnapshot, PortInventory, ResourceClass, ResourceUsage, ServerInventory } from './inventory/types.ts';
import { RESOURCE_CLASSES } from './inventory/types.ts';
import { Type, type Static, type TSchema } from 'typebox';

export type OvsLookup = (hostName: string) => HostEnforcementView | undefined;

/** The OpenFlow connection of a host's bridge as this replica sees it; undefined when it has no OpenFlow endpoint or no such host. */
export type OpenflowLookup = (hostName: string) => 'connected' | 'disconnected' | undefined;

/** What the guaranteed-rate controller holds of a host; undefined when it knows nothing of it. */
export type GuaranteeLookup = (hostName: string) => HostGuaranteeView | undefined;

/** Per-host state `/v1/hosts` shows beside the inventory and the OVSDB rows; a missing lookup renders null for every host. */
export interface V1HostLookups {
  /** Keyed like `ovs` (compute service host); a host of another replica is shown null whatever this returns. */
  openflow?: OpenflowLookup;
  /** Keyed like `ovs`; absent when the guaranteed-rate controller is disabled. */
  guarantees?: GuaranteeLookup;
}

// ---------------------------------------------------------------- thesis shape

export interface ThesisQueue {
  uuid: string;
  /** bit/s as decimal strings, as OVSDB stores them. A rate the queue does not set is left out (the original threw). */
  rates: { 'max-rate'?: string; 'min-rate'?: string };
}

/** `{uuid, queues: {"0": …}}`, or `{"queues": {}}` for a port without QoS. */
export type ThesisQos = { uuid: string; queues: { '0'?: ThesisQueue } } | { queues: Record<string, never> };

export interface ThesisServer {
  name: string;
  ip: string | null;
  neutron_port: string | null;
  ovs_port_id: string | null;
  qos: ThesisQos | null;
}

export interface ThesisHost {
  id: number;
  ip: string;
  instances: number;
  cpu_used: number;
  cpu_total: number;
  ram_used: number;
  ram_total: number;
  servers: Record<string, ThesisServer>;
}

/** Keyed by hypervisor hostname. */
export type ThesisHosts = Record<string, ThesisHost>;

/**
 * The thesis `id` (an int) of each host, by hypervisor hostname.
 * - An integer hypervisor id (compute < 2.53) is used as is.
 * - A UUID (compute ≥ 2.53) becomes the first 31 bits of its hex digits: the
 *   same UUID always gives the same int, across refreshes and restarts.
 *   Collisions inside one snapshot are resolved by +1 in hypervisor-hostname
 *   order, so ids are unique per response.
 */
export function thesisHostIds(hosts: readonly HostInventory[]): Map<string, number> {
  const out = new Map<string, number>();
  const used = new Set<number>();
  const sorted = [...hosts].sort((a, b) => (a.hypervisorHostname < b.hypervisorHostname ? -1 : a.hypervisorHostname > b.hypervisorHostname ? 1 : 0));
  for (const h of sorted) {
    let id: number;
    if (typeof h.hypervisorId === 'number' && Number.isSafeInteger(h.hypervisorId)) id = h.hypervisorId;
    else if (/^\d+$/.test(String(h.hypervisorId)) && Number.isSafeInteger(Number(h.hypervisorId))) id = Number(h.hypervisorId);
    else {
      const hex = String(h.hypervisorId).replace(/[^0-9a-f]/gi, '').slice(0, 8).padEnd(8, '0');
      id = Number.parseInt(hex, 16) & 0x7fffffff;
    }
    while (used.has(id)) id = (id + 1) & 0x7fffffff;
    used.add(id);
    out.set(h.hypervisorHostname, id);
  }
  return out;
}

function thesisQos(port: EnforcedPortView): ThesisQos {
  const qos = port.download;
  if (!qos) return { queues: {} };
  const q0 = qos.queues.find((q) => q.number === 0);
  if (!q0) return { uuid: qos.id, queues: {} };
  const rates: ThesisQueue['rates'] = {};
  if (q0.maxRateBps !== null) rates['max-rate'] = String(q0.maxRateBps);
  if (q0.minRateBps !== null) rates['min-rate'] = String(q0.minRateBps);
  return { uuid: qos.id, queues: { '0': { uuid: q0.id, rates } } };
}

function thesisServer(s: ServerInventory, view: HostEnforcementView | undefined): ThesisServer {
  const port = s.ports[0];
  // Original quirk kept: when the lookup chain fails (here: no port), all four fields are null.
  if (!port) return { name: s.name, ip: null, neutron_port: null, ovs_port_id: null, qos: null };
  const found = view?.port(port.id);
  return {
    name: s.name,
    ip: port.fixedIps[0]?.ipAddress ?? null,
    neutron_port: port.id,
    ovs_port_id: found?.portName ?? null,
    // null = unknown (no OVSDB view, or the port is not on this host's switch); {"queues": {}} = known, no QoS.
    qos: found ? thesisQos(found) : null,
  };
}

/**
 * Nova's pre-2.88 `memory_mb_used` counted the host's reserved memory; Placement
 * usages do not. For the thesis numbers to mean the same with both capacity
 * sources, `ram_used` adds `reserved` when the figures come from Placement.
 * `cpu_used` never included reserved CPUs, so it is the usage as is.
 */
function thesisFigures(snapshot: InventorySnapshot, h: HostInventory): Pick<ThesisHost, 'cpu_used' | 'cpu_total' | 'ram_used' | 'ram_total'> {
  const cpu = h.resources.VCPU;
  const ram = h.resources.MEMORY_MB;
  const reserved = snapshot.capacitySource === 'placement' ? (ram?.reserved ?? 0) : 0;
  return {
    cpu_used: cpu?.used ?? 0,
    cpu_total: cpu?.total ?? 0,
    ram_used: (ram?.used ?? 0) + reserved,
    ram_total: ram?.total ?? 0,
  };
}

/**
 * The original `GET /hosts` body, keyed by hypervisor hostname.
 *
 * Kept from the original because clients read them: the key (hypervisor
 * hostname), every field name, `id` an int, rates as strings, queue "0" only,
 * `{"queues": {}}` for a port without QoS, all-null server fields when the
 * server has no port, and the physical totals (`cpu_total` = vCPUs, not
 * the over-committed capacity).
 *
 * Not kept: servers are those of all tenants (the original showed only its
 * tenant's, while the usage figures were already cloud-wide); the port is the
 * server's own first port (by `device_id`), never a global IP match;
 * `ovs_port_id` comes from `external_ids:iface-id`, so `tap…` ports work too;
 * a host without `host_ip` gets `ip: ""` and one without figures gets 0s (see
 * `/v1/hosts` warnings for why).
 */
export function renderThesisHosts(snapshot: InventorySnapshot, ovs: OvsLookup): ThesisHosts {
  const ids = thesisHostIds(snapshot.hosts);
  const servers = new Map(snapshot.servers.map((s) => [s.id, s]));
  const out: ThesisHosts = {};
  for (const h of snapshot.hosts) {
    const view = ovs(h.name);
    const hs: Record<string, ThesisServer> = {};
    for (const id of h.serverIds) {
      const s = servers.get(id);
      if (s) hs[id] = thesisServer(s, view);
    }
    out[h.hypervisorHostname] = {
      id: ids.get(h.hypervisorHostname) ?? 0,
      ip: h.hostIp ?? '',
      instances: h.instances,
      ...thesisFigures(snapshot, h),
      servers: hs,
    };
  }
  return out;
}

// ---------------------------------------------------------------- /v1/hosts

// `GET /v1/hosts`, declared once: the route's response schema (so its OpenAPI document lists every
// field and the answer is serialised by it) and, through Static, the types the renderer, the CLI
// and the manager use.

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Bps = (description: string) => Nullable(Type.Number({ description }));

/** Capacity and usage of one resource class (see `ResourceUsage`). */
export const V1ResourceSchema = Type.Object({
  total: Type.Number(),
  reserved: Type.Number(),
  allocation_ratio: Type.Number(),
  used: Type.Number(),
  capacity: Type.Number(),
  free: Type.Number(),
  max_unit: Type.Number(),
});
export type V1Resource = Static<typeof V1ResourceSchema>;

export const V1QueueSchema = Type.Object({
  number: Type.Integer({ description: 'Queue number in the QoS (0 = default class for unclassified traffic)' }),
  queue_uuid: Type.String(),
  min_rate_bps: Bps('bit/s; null when the queue does not set it'),
  max_rate_bps: Bps('bit/s; null when the queue does not set it'),
  burst_bits: Bps('bits; null when the queue does not set it'),
  priority: Nullable(Type.Number()),
});
export type V1Queue = Static<typeof V1QueueSchema>;

/** Download (towards the VM) shaping: the Port's QoS row. */
export const V1DownloadSchema = Type.Object({
  qos_uuid: Type.String(),
  type: Type.String({ description: 'e.g. linux-htb' }),
  max_rate_bps: Bps("The port's total ceiling, bit/s; null when the QoS does not set it"),
  managed_by: Nullable(Type.String({ description: "`external_ids:cm-owner` of the QoS row; null when not created by a CM agent (Neutron's, an operator's)" })),
  queues: Type.Array(V1QueueSchema),
});
export type V1Download = Static<typeof V1DownloadSchema>;

/** Upload (from the VM) policing: the Interface's ingress policing. */
export const V1UploadSchema = Type.Object({
  mechanism: Type.Union([Type.Literal('policing'), Type.Literal('meter')], {
    description: '`policing` (Interface.ingress_policing_*, a tc police action) or `meter` (an OpenFlow meter on the traffic from the port)',
  }),
  rate_kbps: Type.Number(),
  burst_kbits: Type.Number({ description: '0 = OVS default burst' }),
  managed_by: Nullable(Type.String({ description: 'The CM agent owner that set it (policing: `external_ids:cm-policing-owner`; meter: our flow\'s cookie); null when not set by a CM agent' })),
  meter_id: Type.Optional(Type.Integer({ description: 'With `meter`: the OpenFlow meter id' })),
});
export type V1Upload = Static<typeof V1UploadSchema>;

export const V1OvsPortSchema = Type.Object({
  port_name: Type.String({ description: 'Port name on the bridge (`qvo…` with the hybrid plug, `tap…` with the native firewall)' }),
  interface_name: Type.String(),
  ofport: Nullable(Type.Integer()),
  download: Nullable(V1DownloadSchema),
  upload: Nullable(V1UploadSchema),
});
export type V1OvsPort = Static<typeof V1OvsPortSchema>;

export const V1PortSchema = Type.Object({
  id: Type.String(),
  mac_address: Nullable(Type.String()),
  fixed_ips: Type.Array(Type.Object({ subnet_id: Type.String(), ip_address: Type.String() })),
  network_id: Type.String(),
  binding_host: Type.String({ description: 'Neutron `binding:host_id` ("" while unbound)' }),
  status: Type.String(),
  neutron_qos_policy_id: Nullable(Type.String({ description: 'The Neutron QoS policy id on the port (what Neutron would enforce), null if none' })),
  ovs: Nullable(V1OvsPortSchema),
});
export type V1Port = Static<typeof V1PortSchema>;

export const V1ServerSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  status: Type.String(),
  host: Nullable(Type.String({ description: 'Compute service host; null while unscheduled' })),
  availability_zone: Nullable(Type.String()),
  project_id: Nullable(Type.String()),
  user_id: Nullable(Type.String()),
  flavor: Nullable(
    Type.Object({ id: Nullable(Type.String()), name: Nullable(Type.String()), vcpus: Nullable(Type.Number()), ram_mb: Nullable(Type.Number()), disk_gb: Nullable(Type.Number()) }),
  ),
  ports: Type.Array(V1PortSchema, { description: 'Every Neutron port of the server (first = the one owning its first IP)' }),
});
export type V1Server = Static<typeof V1ServerSchema>;

/** The guaranteed-rate controller's view of a host (bit/s). */
export const V1HostGuaranteesSchema = Type.Object({
  uplink_bps: Bps('The uplink (NIC) capacity the controller admits guarantees against, each direction; null when not configured'),
  guaranteed_download_bps: Type.Number({ description: "Sum of the download guarantees of the host's VMs" }),
  guaranteed_upload_bps: Type.Number({ description: "Sum of the upload guarantees of the host's VMs" }),
  overcommitted: Nullable(Type.String({ description: "Why the host's guarantees cannot all hold, when they cannot" })),
  limiters: Type.Integer({ description: 'Pair limiters on this host (pairs whose sender is here)' }),
  error: Nullable(Type.String({ description: "The last error programming or reading this host's limiters" })),
});
export type V1HostGuarantees = Static<typeof V1HostGuaranteesSchema>;

export const V1HostSchema = Type.Object({
  name: Type.String({ description: 'Compute service host (what servers and port bindings name)' }),
  hypervisor_hostname: Type.String({ description: 'Nova hypervisor_hostname = Placement provider name' }),
  hypervisor_id: Type.Union([Type.String(), Type.Number()], { description: 'Integer below compute 2.53, UUID from 2.53' }),
  host_ip: Nullable(Type.String()),
  state: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  status: Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]),
  disabled_reason: Nullable(Type.String()),
  availability_zone: Nullable(Type.String()),
  resource_provider_uuid: Nullable(Type.String()),
  instances: Type.Integer({ description: 'Servers Nova places on the host (any status)' }),
  resources: Type.Object(
    { VCPU: Nullable(V1ResourceSchema), MEMORY_MB: Nullable(V1ResourceSchema), DISK_GB: Nullable(V1ResourceSchema) },
    { description: 'Per resource class; null when the capacity source does not report it' },
  ),
  ovsdb: Type.Union([Type.Literal('ok'), Type.Literal('unavailable'), Type.Literal('other-replica')], {
    description: '"ok" when the host\'s OVSDB rows were available for this response; "other-replica" when another agent replica owns the host',
  }),
  owner_agent: Nullable(Type.String({ description: 'With several agent replicas: the replica that owns (writes) the host now' })),
  openflow: Nullable(Type.Union([Type.Literal('connected'), Type.Literal('disconnected')], { description: "The OpenFlow connection to the host's bridge as this replica sees it" })),
  guarantees: Nullable(V1HostGuaranteesSchema),
  warnings: Type.Array(Type.String()),
  servers: Type.Array(V1ServerSchema),
});
export type V1Host = Static<typeof V1HostSchema>;

export const V1HostsSchema = Type.Object({
  refreshed_at: Type.String({ format: 'date-time' }),
  stale: Type.Boolean({ description: 'True when the latest refresh failed and this is the previous data' }),
  last_error: Nullable(Type.Object({ name: Type.String(), code: Nullable(Type.String()), message: Type.String(), at: Type.String() })),
  capacity_source: Type.Union([Type.Literal('placement'), Type.Literal('hypervisor-stats')]),
  compute_microversion: Type.String(),
  hosts: Type.Array(V1HostSchema),
  hosts_links: Type.Optional(Type.Array(Type.Object({ rel: Type.String(), href: Type.String() }), { description: '`rel: next` while more hosts follow this page; absent on the last page' })),
  unplaced_servers: Type.Array(V1ServerSchema, { description: 'Servers on no known host. On the first page only' }),
  warnings: Type.Array(Type.String()),
});
export type V1Hosts = Static<typeof V1HostsSchema>;

/** A page of `GET /v1/hosts`: at most `limit` hosts, those whose name sorts after `marker`. */
export interface V1HostsPage {
  limit: number;
  marker?: string;
}

/** Hosts per page when the caller does not say, and the most it may ask for. */
export const V1_HOSTS_DEFAULT_LIMIT = 100;
export const V1_HOSTS_MAX_LIMIT = 1000;

/** The marker names no host of the inventory (it may have gone since the previous page). */
export class UnknownMarkerError extends Error {
  override name = 'UnknownMarkerError';
}

/**
 * Every page of `GET /v1/hosts` as one body: `get(path, first)` fetches one page (`first`: the
 * request that may carry `Cache-Control: no-cache`). The pages come from one agent's cache and may
 * straddle a refresh: a host can then be missing or seen twice; the later page wins.
 */
export async function allV1HostPages(get: (path: string, first: boolean) => Promise<V1Hosts>, limit = V1_HOSTS_MAX_LIMIT): Promise<V1Hosts> {
  const first = await get(`/v1/hosts?limit=${String(limit)}`, true);
  const hosts = new Map(first.hosts.map((h) => [h.name, h]));
  const followed = new Set<string>();
  let next = first.hosts_links?.find((l) => l.rel === 'next')?.href;
  while (next !== undefined) {
    if (followed.has(next)) throw new Error(`GET /v1/hosts: the agent links ${next} twice`);
    followed.add(next);
    const page = await get(next, false);
    for (const h of page.hosts) hosts.set(h.name, h);
    next = page.hosts_links?.find((l) => l.rel === 'next')?.href;
  }
  const { hosts_links: _links, ...rest } = first;
  return { ...rest, hosts: [...hosts.values()] };
}

const serversById = new WeakMap<InventorySnapshot, { byId: Map<string, ServerInventory>; unplaced: ServerInventory[] }>();

/** Servers by id and the unplaced ones, built once per snapshot (a page must not cost the whole cloud). */
function serverLookup(snapshot: InventorySnapshot): { byId: Map<string, ServerInventory>; unplaced: ServerInventory[] } {
  let lookup = serversById.get(snapshot);
  if (!lookup) {
    const byId = new Map(snapshot.servers.map((s) => [s.id, s]));
    const placed = new Set<string>();
    for (const h of snapshot.hosts) for (const id of h.serverIds) if (byId.has(id)) placed.add(id);
    lookup = { byId, unplaced: snapshot.servers.filter((s) => !placed.has(s.id)) };
    serversById.set(snapshot, lookup);
  }
  return lookup;
}

function v1Download(qos: EnforcedDownload): V1Download {
  return {
    qos_uuid: qos.id,
    type: qos.type,
    max_rate_bps: qos.maxRateBps,
    managed_by: qos.managedBy,
    queues: qos.queues.map((q) => ({
      number: q.number,
      queue_uuid: q.id,
      min_rate_bps: q.minRateBps,
      max_rate_bps: q.maxRateBps,
      burst_bits: q.burstBits,
      priority: q.priority,
    })),
  };
}

function v1Ovs(found: EnforcedPortView): V1OvsPort {
  const up = found.upload;
  return {
    port_name: found.portName,
    interface_name: found.interfaceName,
    ofport: found.ofport,
    download: found.download ? v1Download(found.download) : null,
    upload: up
      ? {
          mechanism: up.mechanism,
          rate_kbps: up.rateKbps,
          burst_kbits: up.burstKbits,
          managed_by: up.managedBy,
          ...(up.meterId === undefined ? {} : { meter_id: up.meterId }),
        }
      : null,
  };
}

function v1Port(p: PortInventory, view: HostEnforcementView | undefined): V1Port {
  const found = view?.port(p.id);
  return {
    id: p.id,
    mac_address: p.macAddress ?? null,
    fixed_ips: p.fixedIps.map((f) => ({ subnet_id: f.subnetId, ip_address: f.ipAddress })),
    network_id: p.networkId,
    binding_host: p.bindingHost,
    status: p.status,
    neutron_qos_policy_id: p.qosPolicyId,
    ovs: found ? v1Ovs(found) : null,
  };
}

function v1Server(s: ServerInventory, view: HostEnforcementView | undefined): V1Server {
  const f = s.flavor;
  return {
    id: s.id,
    name: s.name,
    status: s.status,
    host: s.host,
    availability_zone: s.availabilityZone ?? null,
    project_id: s.projectId ?? null,
    user_id: s.userId ?? null,
    flavor: f ? { id: f.id ?? null, name: f.name ?? null, vcpus: f.vcpus ?? null, ram_mb: f.ramMb ?? null, disk_gb: f.diskGb ?? null } : null,
    ports: s.ports.map((p) => v1Port(p, view)),
  };
}

function v1Guarantees(g: HostGuaranteeView | undefined): V1HostGuarantees | null {
  if (!g) return null;
  return {
    uplink_bps: g.uplink?.bps ?? null,
    guaranteed_download_bps: g.guaranteedDownloadBps,
    guaranteed_upload_bps: g.guaranteedUploadBps,
    overcommitted: g.overcommitted,
    limiters: g.limiters,
    error: g.error,
  };
}

function v1Resource(r: ResourceUsage | undefined): V1Resource | null {
  if (!r) return null;
  return { total: r.total, reserved: r.reserved, allocation_ratio: r.allocationRatio, used: r.used, capacity: r.capacity, free: r.free, max_unit: r.maxUnit };
}

/**
 * The modern `GET /v1/hosts` body (snake_case throughout, hosts sorted by name). With `page`, only
 * that page's hosts (and the unplaced servers on the first page). `lookups` give each host's
 * `openflow` and `guarantees` (null without them).
 * @throws UnknownMarkerError when `page.marker` names no host
 */
export function renderV1Hosts(
  snapshot: InventorySnapshot,
  ovs: OvsLookup,
  cluster?: { self: string; ownerOf(host: string): string | undefined },
  page?: V1HostsPage,
  lookups?: V1HostLookups,
): V1Hosts {
  const { byId: servers, unplaced } = serverLookup(snapshot);
  let first = 0;
  if (page?.marker !== undefined) {
    const marker = page.marker;
    const at = snapshot.hosts.findIndex((h) => h.name === marker);
    if (at < 0) throw new UnknownMarkerError(`marker ${marker} is not a host of the inventory`);
    first = at + 1;
  }
  const end = page === undefined ? snapshot.hosts.length : Math.min(snapshot.hosts.length, first + page.limit);
  const hosts: V1Host[] = snapshot.hosts.slice(first, end).map((h) => {
    const view = ovs(h.name);
    const owner = cluster?.ownerOf(h.name) ?? null;
    const otherReplica = owner !== null && owner !== cluster?.self;
    const resources = {} as Record<ResourceClass, V1Resource | null>;
    for (const rc of RESOURCE_CLASSES) resources[rc] = v1Resource(h.resources[rc]);
    const hs: V1Server[] = [];
    for (const id of h.serverIds) {
      const s = servers.get(id);
      if (!s) continue;
      hs.push(v1Server(s, view));
    }
    return {
      name: h.name,
      hypervisor_hostname: h.hypervisorHostname,
      hypervisor_id: h.hypervisorId,
      host_ip: h.hostIp ?? null,
      state: h.state,
      status: h.status,
      disabled_reason: h.disabledReason,
      availability_zone: h.availabilityZone ?? null,
      resource_provider_uuid: h.resourceProviderUuid ?? null,
      instances: h.instances,
      resources,
      ovsdb: view ? 'ok' : otherReplica ? 'other-replica' : 'unavailable',
      owner_agent: owner,
      openflow: otherReplica ? null : (lookups?.openflow?.(h.name) ?? null),
      guarantees: v1Guarantees(lookups?.guarantees?.(h.name)),
      warnings: [...h.warnings],
      servers: hs,
    };
  });
  const last = hosts.at(-1);
  const links =
    page !== undefined && end < snapshot.hosts.length && last !== undefined
      ? [{ rel: 'next' as const, href: `/v1/hosts?limit=${String(page.limit)}&marker=${encodeURIComponent(last.name)}` }]
      : undefined;
  const e = snapshot.lastError;
  return {
    refreshed_at: snapshot.refreshedAt,
    stale: snapshot.stale,
    last_error: e ? { name: e.name, code: e.code ?? null, message: e.message, at: e.at } : null,
    capacity_source: snapshot.capacitySource,
    compute_microversion: snapshot.computeMicroversion,
    hosts,
    ...(links ? { hosts_links: links } : {}),
    unplaced_servers: first === 0 ? unplaced.map((s) => v1Server(s, undefined)) : [],
    warnings: [...snapshot.warnings],
  };
}
