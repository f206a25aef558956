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

/** Capacity and usage of one resource class (see `ResourceUsage`). */
export interface V1Resource {
  total: number;
  reserved: number;
  allocation_ratio: number;
  used: number;
  capacity: number;
  free: number;
  max_unit: number;
}

export interface V1Queue {
  /** Queue number in the QoS (0 = default class for unclassified traffic). */
  number: number;
  queue_uuid: string;
  /** bit/s; null when the queue does not set it. */
  min_rate_bps: number | null;
  max_rate_bps: number | null;
  burst_bits: number | null;
  priority: number | null;
}

/** Download (towards the VM) shaping: the Port's QoS row. */
export interface V1Download {
  qos_uuid: string;
  /** e.g. linux-htb */
  type: string;
  /** The port's total ceiling, bit/s; null when the QoS does not set it. */
  max_rate_bps: number | null;
  /** `external_ids:cm-owner` of the QoS row; null when not created by a CM agent (Neutron's, an operator's). */
  managed_by: string | null;
  queues: V1Queue[];
}

/** Upload (from the VM) policing: the Interface's ingress policing. */
export interface V1Upload {
  /** `policing` (Interface.ingress_policing_*, a tc police action) or `meter` (an OpenFlow meter on the traffic from the port). */
  mechanism: 'policing' | 'meter';
  rate_kbps: number;
  /** 0 = OVS default burst. */
  burst_kbits: number;
  /** The CM agent owner that set it (policing: `external_ids:cm-policing-owner`; meter: our flow's cookie); null when not set by a CM agent. */
  managed_by: string | null;
  /** With `meter`: the OpenFlow meter id. */
  meter_id?: number;
}

export interface V1OvsPort {
  /** Port name on the bridge (`qvo…` with the hybrid plug, `tap…` with the native firewall). */
  port_name: string;
  interface_name: string;
  ofport: number | null;
  /** null = no shaping on the port. */
  download: V1Download | null;
  /** null = no policing on the interface. */
  upload: V1Upload | null;
}

export interface V1Port {
  id: string;
  mac_address: string | null;
  fixed_ips: { subnet_id: string; ip_address: string }[];
  network_id: string;
  /** Neutron `binding:host_id` ("" while unbound). */
  binding_host: string;
  status: string;
  /** The Neutron QoS policy id on the port (what Neutron would enforce), null if none. */
  neutron_qos_policy_id: string | null;
  /**
   * The port on the host's switch, found by `external_ids:iface-id` = port id.
   * null when not on that switch or when the switch is unavailable (see host `ovsdb`).
   */
  ovs: V1OvsPort | null;
}

export interface V1Server {
  id: string;
  name: string;
  status: string;
  /** Compute service host; null while unscheduled. */
  host: string | null;
  availability_zone: string | null;
  project_id: string | null;
  user_id: string | null;
  flavor: { id: string | null; name: string | null; vcpus: number | null; ram_mb: number | null; disk_gb: number | null } | null;
  /** Every Neutron port of the server (first = the one owning its first IP). */
  ports: V1Port[];
}

/** The guaranteed-rate controller's view of a host (bit/s). */
export interface V1HostGuarantees {
  /**
   * The host's uplink (NIC) capacity the controller admits guarantees against, in each direction
   * (one figure: the configured `enforcement.guarantees.uplink(s)`); null when not configured (no
   * uplink constraint, admission not checked).
   */
  uplink_bps: number | null;
  /** Sum of the download guarantees of the host's VMs (the hose admission's worst case: all of it crosses the uplink). */
  guaranteed_download_bps: number;
  /** Sum of the upload guarantees of the host's VMs. */
  guaranteed_upload_bps: number;
  /** Why the host's guarantees cannot all hold (e.g. they exceed the uplink), when they cannot; null otherwise. */
  overcommitted: string | null;
  /** Pair limiters on this host (pairs whose sender is here). */
  limiters: number;
  /** The last error programming or reading this host's limiters; null when none. */
  error: string | null;
}

export interface V1Host {
  /** Compute service host (what servers and port bindings name). */
  name: string;
  /** Nova hypervisor_hostname = Placement provider name. */
  hypervisor_hostname: string;
  /** Integer below compute 2.53, UUID from 2.53. */
  hypervisor_id: string | number;
  host_ip: string | null;
  state: 'up' | 'down';
  status: 'enabled' | 'disabled';
  disabled_reason: string | null;
  availability_zone: string | null;
  resource_provider_uuid: string | null;
  /** Servers Nova places on the host (any status). */
  instances: number;
  /** Per resource class; null when the capacity source does not report it. */
  resources: Record<ResourceClass, V1Resource | null>;
  /**
   * "ok" when the host's OVSDB rows were available for this response;
   * "other-replica" when another agent replica owns the host (its `owner_agent`).
   */
  ovsdb: 'ok' | 'unavailable' | 'other-replica';
  /** With several agent replicas: the replica that owns (writes) the host now; null with one agent or none live. */
  owner_agent: string | null;
  /**
   * The OpenFlow connection to the host's bridge (meters, pair limiters, live rates) as this replica
   * sees it; null when the host has no OpenFlow endpoint (`enforcement.openflow`) or another
   * replica owns it (ask `owner_agent`).
   */
  openflow: 'connected' | 'disconnected' | null;
  /** What the guaranteed-rate controller holds of the host; null when the controller is disabled or knows nothing of the host. */
  guarantees: V1HostGuarantees | null;
  warnings: string[];
  servers: V1Server[];
}

export interface V1Hosts {
  refreshed_at: string;
  /** True when the latest refresh failed and this is the previous data. */
  stale: boolean;
  last_error: { name: string; code: string | null; message: string; at: string } | null;
  capacity_source: 'placement' | 'hypervisor-stats';
  compute_microversion: string;
  hosts: V1Host[];
  /**
   * `rel: next` while more hosts follow this page (hosts are paged by name: `limit`, `marker`, as
   * Nova pages its lists); absent on the last page.
   */
  hosts_links?: { rel: string; href: string }[];
  /** Servers on no known host (unscheduled, ERROR, or on a host Nova does not list). On the first page only. */
  unplaced_servers: V1Server[];
  warnings: string[];
}

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
