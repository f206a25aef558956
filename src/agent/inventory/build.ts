/**
 * Pure joins from the raw list-call results to an {@link InventorySnapshot}.
 *
 * Identity (see docs/domain-notes.md §5):
 * - A host is one hypervisor. Its `name` is the compute service host
 *   (`hypervisor.service.host`), the name servers (`OS-EXT-SRV-ATTR:host`) and
 *   ports (`binding:host_id`) use. Its nova-compute service record is the one
 *   with that `host`.
 * - Servers join hosts by `OS-EXT-SRV-ATTR:host` = host `name`. When several
 *   hypervisors share one service host (ironic), `OS-EXT-SRV-ATTR:hypervisor_hostname`
 *   picks the hypervisor.
 * - Placement root providers join hosts by provider `name` = `hypervisor_hostname`
 *   (Nova's resource tracker names the compute node provider so). When no
 *   provider has that name, a provider whose UUID is the hypervisor id (the
 *   compute node UUID, from compute 2.53) is used, with a warning; when neither
 *   matches, the host is still listed, without capacity, with a warning.
 *   Nothing is dropped silently.
 */
import type { ComputeService, Hypervisor, Port, ResourceCapacity, ResourceProvider, Server } from '../../openstack/index.ts';
import {
  RESOURCE_CLASSES,
  type CapacityFrom,
  type CapacitySource,
  type HostCapacity,
  type HostInventory,
  type InventorySnapshot,
  type PortInventory,
  type ResourceClass,
  type ResourceUsage,
  type ServerInventory,
} from './types.ts';

/** Everything one refresh reads. */
export interface RawCloud {
  computeMicroversion: string;
  capacitySource: CapacitySource;
  hypervisors: readonly Hypervisor[];
  /** nova-compute services. */
  services: readonly ComputeService[];
  servers: readonly Server[];
  ports: readonly Port[];
  /** Placement providers (empty with hypervisor stats). */
  providers: readonly ResourceProvider[];
  /** Provider uuid → capacity, for the providers matched by {@link matchProviders} (of owned hosts). */
  capacities: ReadonlyMap<string, Record<string, ResourceCapacity>>;
  /**
   * Whether this agent owns a host (compute service host name): with Placement, only owned
   * hosts' providers are read, so a host not owned has no capacity of its own, and no
   * warning about it. Default: every host.
   */
  owns?: (host: string) => boolean;
  /** Capacity of hosts this agent does not own, as their owners read it (host name → capacity). */
  foreign?: ReadonlyMap<string, HostCapacity>;
}

export interface ProviderMatch {
  provider: ResourceProvider | undefined;
  warning: string | undefined;
}

function hvKey(h: Hypervisor): string {
  return String(h.id);
}

function isRoot(p: ResourceProvider): boolean {
  return p.parentProviderUuid === null || p.parentProviderUuid === undefined;
}

/** Hypervisor id → its Placement root provider (by name, else by compute node UUID), with a warning when not by name. */
export function matchProviders(hypervisors: readonly Hypervisor[], providers: readonly ResourceProvider[]): Map<string, ProviderMatch> {
  const roots = providers.filter(isRoot);
  const byName = new Map(roots.map((p) => [p.name, p]));
  const byUuid = new Map(roots.map((p) => [p.uuid, p]));
  const out = new Map<string, ProviderMatch>();
  for (const h of hypervisors) {
    const named = byName.get(h.hypervisorHostname);
    if (named) {
      out.set(hvKey(h), { provider: named, warning: undefined });
      continue;
    }
    const same = typeof h.id === 'string' ? byUuid.get(h.id) : undefined;
    if (same) {
      out.set(hvKey(h), {
        provider: same,
        warning: `Placement provider "${same.name}" matched hypervisor "${h.hypervisorHostname}" by compute node UUID ${same.uuid}, not by name (renamed host?)`,
      });
      continue;
    }
    out.set(hvKey(h), {
      provider: undefined,
      warning: `no Placement resource provider named "${h.hypervisorHostname}" (the hypervisor_hostname) or with UUID ${String(h.id)}: capacity unknown`,
    });
  }
  return out;
}

function fromPlacement(c: ResourceCapacity): ResourceUsage {
  return {
    total: c.total,
    reserved: c.reserved,
    allocationRatio: c.allocationRatio,
    used: c.used,
    capacity: c.capacity,
    free: c.free,
    maxUnit: c.maxUnit,
  };
}

function fromStats(total: number | undefined, used: number | undefined): ResourceUsage | undefined {
  if (total === undefined || used === undefined) return undefined;
  return { total, reserved: 0, allocationRatio: 1, used, capacity: total, free: total - used, maxUnit: total };
}

function hypervisorResources(h: Hypervisor): Partial<Record<ResourceClass, ResourceUsage>> {
  const out: Partial<Record<ResourceClass, ResourceUsage>> = {};
  const vcpu = fromStats(h.vcpus, h.vcpusUsed);
  if (vcpu) out.VCPU = vcpu;
  const mem = fromStats(h.memoryMb, h.memoryMbUsed);
  if (mem) out.MEMORY_MB = mem;
  const disk = fromStats(h.localGb, h.localGbUsed);
  if (disk) out.DISK_GB = disk;
  return out;
}

function toPort(p: Port): PortInventory {
  return {
    id: p.id,
    macAddress: p.macAddress,
    fixedIps: p.fixedIps.map((f) => ({ subnetId: f.subnetId, ipAddress: f.ipAddress })),
    networkId: p.networkId,
    bindingHost: p.hostId ?? '',
    status: p.status,
    deviceOwner: p.deviceOwner,
    qosPolicyId: p.qosPolicyId ?? null,
  };
}

/** Nova's address order of a server: every `addr` of `addresses`, network by network. */
function addressOrder(s: Server): string[] {
  const out: string[] = [];
  for (const list of Object.values(s.addresses)) {
    for (const a of list) {
      if (typeof a === 'object' && a !== null && 'addr' in a && typeof a.addr === 'string') out.push(a.addr);
    }
  }
  return out;
}

function orderPorts(s: Server, ports: readonly Port[]): PortInventory[] {
  const order = addressOrder(s);
  const rank = (p: Port): number => {
    let best = Number.POSITIVE_INFINITY;
    for (const f of p.fixedIps) {
      const i = order.indexOf(f.ipAddress);
      if (i >= 0 && i < best) best = i;
    }
    return best;
  };
  return [...ports]
    .sort((a, b) => {
      const ra = rank(a);
      const rb = rank(b);
      if (ra !== rb) return ra < rb ? -1 : 1;
      return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
    })
    .map(toPort);
}

function toServer(s: Server, ports: readonly Port[]): ServerInventory {
  const f = s.flavor;
  return {
    id: s.id,
    name: s.name ?? '',
    status: s.status,
    host: s.host ?? null,
    hypervisorHostname: s.hypervisorHostname ?? null,
    availabilityZone: s.availabilityZone,
    flavor: f ? { name: f.originalName, id: f.id, vcpus: f.vcpus, ramMb: f.ram, diskGb: f.disk } : undefined,
    projectId: s.tenantId,
    userId: s.userId,
    ports: orderPorts(s, ports),
  };
}

/** Joins the raw data; pure. `refreshedAt`/`durationMs` are the caller's. */
export function buildSnapshot(raw: RawCloud, timing: { refreshedAt: string; durationMs: number }): InventorySnapshot {
  const warnings: string[] = [];
  const servicesByHost = new Map<string, ComputeService>();
  for (const s of raw.services) {
    if (s.binary !== 'nova-compute') continue;
    if (servicesByHost.has(s.host)) warnings.push(`two nova-compute services report host "${s.host}"; using the first`);
    else servicesByHost.set(s.host, s);
  }

  const matches = raw.capacitySource === 'placement' ? matchProviders(raw.hypervisors, raw.providers) : new Map<string, ProviderMatch>();

  const hosts: HostInventory[] = [];
  const byName = new Map<string, HostInventory[]>();
  for (const h of raw.hypervisors) {
    const hw: string[] = [];
    let name = h.serviceHost;
    if (name === undefined) {
      name = h.hypervisorHostname;
      hw.push(`hypervisor "${h.hypervisorHostname}" has no service.host; assuming the compute service host is its hypervisor_hostname`);
    }
    const svc = servicesByHost.get(name);
    if (!svc) hw.push(`no nova-compute service record for host "${name}": state from the hypervisor, availability zone unknown`);
    let resources: HostCapacity = {};
    let rpUuid: string | undefined;
    let capacityFrom: CapacityFrom = 'self';
    let rpGeneration: number | undefined;
    if (raw.capacitySource === 'placement') {
      const m = matches.get(hvKey(h));
      if (m?.provider) rpUuid = m.provider.uuid;
      if (m?.provider && raw.capacities.has(m.provider.uuid)) rpGeneration = m.provider.generation;
      // A host of another replica whose reading was stale or missing is read here too (see CloudInventory): that reading wins.
      const readHere = m?.provider !== undefined && raw.capacities.has(m.provider.uuid);
      if (raw.owns && !raw.owns(name) && !readHere) {
        // Another replica reads this host's provider; its reading, when handed in, stands in.
        const theirs = raw.foreign?.get(name);
        capacityFrom = theirs ? 'foreign' : 'none';
        if (theirs) resources = { ...theirs };
      } else {
        if (m?.warning !== undefined) hw.push(m.warning);
        if (m?.provider) {
          const cap = raw.capacities.get(m.provider.uuid);
          if (cap) {
            for (const rc of RESOURCE_CLASSES) {
              const c = cap[rc];
              if (c) resources[rc] = fromPlacement(c);
            }
          } else {
            hw.push(`Placement provider ${m.provider.uuid} ("${m.provider.name}"): inventories/usages not read`);
          }
        }
      }
    } else {
      resources = hypervisorResources(h);
      if (resources.VCPU === undefined || resources.MEMORY_MB === undefined) {
        hw.push(`hypervisor "${h.hypervisorHostname}" reports no cpu/ram statistics at compute ${raw.computeMicroversion}`);
      }
    }
    const state = svc?.state ?? (h.state === 'up' ? 'up' : 'down');
    const status = svc?.status ?? (h.status === 'enabled' ? 'enabled' : 'disabled');
    const host: HostInventory = {
      name,
      hypervisorHostname: h.hypervisorHostname,
      hypervisorId: h.id,
      hostIp: h.hostIp,
      state,
      status,
      disabledReason: svc?.disabledReason ?? h.serviceDisabledReason ?? null,
      availabilityZone: svc?.zone,
      resourceProviderUuid: rpUuid,
      ...(capacityFrom === 'self' && rpGeneration !== undefined ? { resourceProviderGeneration: rpGeneration } : {}),
      resources,
      capacityFrom,
      instances: 0,
      serverIds: [],
      warnings: hw,
    };
    hosts.push(host);
    const list = byName.get(name) ?? [];
    list.push(host);
    byName.set(name, list);
    for (const w of hw) warnings.push(`host ${name}: ${w}`);
  }

  const portsByDevice = new Map<string, Port[]>();
  for (const p of raw.ports) {
    if (p.deviceId === '') continue;
    const list = portsByDevice.get(p.deviceId) ?? [];
    list.push(p);
    portsByDevice.set(p.deviceId, list);
  }

  const servers = [...raw.servers].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map((s) => toServer(s, portsByDevice.get(s.id) ?? []));
  const counted = new Map<HostInventory, number>();
  for (const s of servers) {
    if (s.host === null) continue;
    const candidates = byName.get(s.host);
    if (!candidates) {
      warnings.push(`server ${s.id} is on host "${s.host}", which no hypervisor reports`);
      continue;
    }
    const host = candidates.length === 1 ? candidates[0] : candidates.find((h) => h.hypervisorHostname === s.hypervisorHostname);
    if (!host) {
      warnings.push(`server ${s.id}: host "${s.host}" has several hypervisors and none is "${String(s.hypervisorHostname)}"`);
      continue;
    }
    host.serverIds.push(s.id);
    counted.set(host, (counted.get(host) ?? 0) + 1);
  }
  const rawById = new Map(raw.hypervisors.map((h) => [hvKey(h), h]));
  for (const host of hosts) {
    host.instances = rawById.get(String(host.hypervisorId))?.runningVms ?? counted.get(host) ?? 0;
  }
  hosts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.hypervisorHostname < b.hypervisorHostname ? -1 : 1));

  return {
    refreshedAt: timing.refreshedAt,
    durationMs: timing.durationMs,
    capacitySource: raw.capacitySource,
    computeMicroversion: raw.computeMicroversion,
    hosts,
    servers,
    warnings,
    stale: false,
    lastError: undefined,
  };
}
