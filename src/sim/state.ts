/**
 * The simulated cloud's state, shared by every service: hosts (compute
 * services, hypervisors and Placement providers at once), flavors, projects,
 * users, networks, servers, ports, allocations and stacks.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { ScenarioObject } from './scenario.ts';

export interface SimHost {
  name: string;
  hypervisorHostname: string;
  az: string;
  vcpus: number;
  memoryMb: number;
  diskGb: number;
  cpuRatio: number;
  ramRatio: number;
  diskRatio: number;
  reservedVcpus: number;
  reservedMemoryMb: number;
  reservedDiskGb: number;
  /** Compute node UUID = Placement root provider UUID. */
  uuid: string;
  serviceUuid: string;
  intId: number;
  serviceIntId: number;
  hostIp: string;
  state: 'up' | 'down';
  status: 'enabled' | 'disabled';
  disabledReason: string | null;
  generation: number;
}

export interface SimFlavor {
  id: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
  ephemeral: number;
  swap: number;
  description: string | null;
  extraSpecs: Record<string, string>;
}

export interface SimQuotas {
  instances: number;
  cores: number;
  ram: number;
}

export interface SimProject {
  id: string;
  name: string;
  domainId: string;
  quotas: SimQuotas;
}

export interface SimAppCred {
  id: string;
  name: string;
  secret: string;
  userId: string;
  projectId: string;
}

export interface SimUser {
  id: string;
  name: string;
  password: string;
  domainId: string;
  /** project id → role names */
  roles: Map<string, string[]>;
}

export interface SimNetwork {
  id: string;
  name: string;
  projectId: string;
  shared: boolean;
  subnetId: string;
  /** devstack's convention (`private` → `private-subnet`), so templates can name the subnet. */
  subnetName: string;
  cidr: string;
  nextIp: number;
  /** `router:external`: floating IPs come from here. Routers are not modelled. */
  external: boolean;
}

export interface SimSecurityGroup {
  id: string;
  name: string;
  projectId: string;
  description: string;
  createdAt: string;
}

export interface SimFloatingIp {
  id: string;
  networkId: string;
  projectId: string;
  address: string;
  portId: string | null;
  fixedIp: string | null;
  createdAt: string;
  updatedAt: string;
  revision: number;
}

export interface SimPort {
  id: string;
  name: string;
  networkId: string;
  projectId: string;
  macAddress: string;
  fixedIps: { subnet_id: string; ip_address: string }[];
  securityGroupIds: string[];
  deviceId: string;
  deviceOwner: string;
  hostId: string;
  status: 'ACTIVE' | 'DOWN' | 'BUILD';
  vifType: string;
  createdAt: string;
  updatedAt: string;
  revision: number;
  /** Created by Nova for a server (deleted with it) rather than by the user or Heat. */
  createdByNova: boolean;
}

export interface SimFault {
  code: number;
  message: string;
  details: string;
  created: string;
}

export type ServerStatus = 'BUILD' | 'ACTIVE' | 'ERROR' | 'DELETED' | 'MIGRATING';

export interface SimServer {
  id: string;
  name: string;
  projectId: string;
  userId: string;
  flavor: SimFlavor;
  imageId: string;
  status: ServerStatus;
  vmState: string;
  taskState: string | null;
  powerState: number;
  host: string | null;
  hypervisorHostname: string | null;
  az: string;
  requestedAz: string | null;
  created: string;
  updated: string;
  launchedAt: string | null;
  fault: SimFault | null;
  portIds: string[];
  metadata: Record<string, string>;
  userData: string | null;
  instanceIndex: number;
  reservationId: string;
  keyName: string | null;
  /** Set when the server is deleted (`OS-SRV-USG:terminated_at`, Nova's microsecond format). */
  terminatedAt?: string;
}

export interface SimAllocation {
  consumerId: string;
  rpUuid: string;
  projectId: string;
  userId: string;
  resources: Record<string, number>;
}

export interface SimStackResource {
  name: string;
  type: string;
  physicalId: string;
  status: string;
  statusReason: string;
  created: string;
  updated: string | null;
  requiredBy: string[];
}

export interface SimStackEvent {
  id: string;
  time: string;
  resourceName: string;
  physicalId: string;
  status: string;
  reason: string;
}

export interface SimStack {
  id: string;
  name: string;
  projectId: string;
  ownerName: string;
  status: string;
  statusReason: string;
  description: string;
  disableRollback: boolean;
  timeoutMins: number | null;
  parameters: Record<string, string>;
  template: Record<string, unknown>;
  outputs: { output_key: string; output_value: unknown; description: string }[];
  resources: SimStackResource[];
  events: SimStackEvent[];
  created: string;
  updated: string | null;
  deleted: string | null;
  tags: string[] | null;
}

export const NOVA_TIME = (d = new Date()): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
/** Neutron's timestamps: seconds precision, UTC with "Z" (as Zed answers). */
export const NEUTRON_TIME = (d = new Date()): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
export const hexId = (): string => randomBytes(16).toString('hex');

function stableUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

export class SimState {
  readonly region: string;
  /** How ports are plugged (Neutron's binding:vif_details.ovs_hybrid_plug says so too). */
  ovsPlug: 'hybrid' | 'native' = 'hybrid';
  readonly domain = { id: 'default', name: 'Default' };
  readonly hosts = new Map<string, SimHost>();
  readonly flavors = new Map<string, SimFlavor>();
  readonly projects = new Map<string, SimProject>();
  readonly users = new Map<string, SimUser>();
  readonly appCreds = new Map<string, SimAppCred>();
  readonly networks = new Map<string, SimNetwork>();
  readonly servers = new Map<string, SimServer>();
  readonly ports = new Map<string, SimPort>();
  /** consumer uuid → allocation (one provider per consumer in this sim). */
  readonly allocations = new Map<string, SimAllocation>();
  readonly stacks = new Map<string, SimStack>();
  readonly securityGroups = new Map<string, SimSecurityGroup>();
  readonly floatingIps = new Map<string, SimFloatingIp>();
  /**
   * Deleted servers, as Nova keeps their soft-deleted rows (status DELETED, the last host
   * kept) and answers them to `changes-since` and `deleted=true` until the operator archives
   * them; the oldest beyond {@link SimState.deletedKept} are dropped, as an archive would.
   */
  readonly deletedServers = new Map<string, SimServer>();
  deletedKept = 10_000;
  /** Placement root provider uuid → host (the compute node), so provider calls do not scan every host. */
  private readonly hostsByUuid = new Map<string, SimHost>();
  /** Provider uuid → its consumers, so a provider's usages do not scan every allocation. */
  private readonly consumersByRp = new Map<string, Set<string>>();
  /** Bumped whenever a port is created or deleted: the port listing's sorted-id cache is valid while it is unchanged. */
  portsVersion = 0;
  private instanceCounter = 0;

  constructor(scenario: ScenarioObject) {
    this.region = scenario.region ?? 'RegionOne';
    if (scenario.domain !== undefined) this.domain = { id: scenario.domain.toLowerCase(), name: scenario.domain };
    scenario.hosts.forEach((h, i) => {
      this.addHost({
        name: h.name,
        hypervisorHostname: h.hypervisor_hostname ?? h.name,
        az: h.az ?? 'nova',
        vcpus: h.vcpus,
        memoryMb: h.memory_mb,
        diskGb: h.disk_gb,
        cpuRatio: h.cpu_allocation_ratio ?? 1,
        ramRatio: h.ram_allocation_ratio ?? 1,
        diskRatio: h.disk_allocation_ratio ?? 1,
        reservedVcpus: h.reserved_host_cpus ?? 0,
        reservedMemoryMb: h.reserved_host_memory_mb ?? 0,
        reservedDiskGb: h.reserved_host_disk_gb ?? 0,
        uuid: stableUuid(`node:${h.name}`),
        serviceUuid: stableUuid(`service:${h.name}`),
        intId: i + 1,
        serviceIntId: i + 3,
        // The thesis testbed's addresses; a bulk cloud of thousands of hosts continues in 10.0.0.0/8.
        hostIp: i < 245 ? `192.168.100.${i + 11}` : `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        state: h.state ?? 'up',
        status: h.status ?? 'enabled',
        disabledReason: null,
        generation: 1,
      });
    });
    scenario.flavors.forEach((f, i) => {
      const id = f.id ?? String(i + 1);
      this.flavors.set(id, {
        id,
        name: f.name,
        vcpus: f.vcpus,
        ram: f.ram,
        disk: f.disk,
        ephemeral: f.ephemeral ?? 0,
        swap: f.swap ?? 0,
        description: f.description ?? null,
        extraSpecs: f.extra_specs ?? {},
      });
    });
    const usersByName = new Map<string, SimUser>();
    for (const p of scenario.projects) {
      const project: SimProject = {
        id: p.id ?? hexId(),
        name: p.name,
        domainId: this.domain.id,
        quotas: { instances: p.quotas?.instances ?? 10, cores: p.quotas?.cores ?? 20, ram: p.quotas?.ram ?? 51200 },
      };
      this.projects.set(project.id, project);
      this.defaultSecurityGroup(project.id);
      for (const u of p.users ?? []) {
        let user = usersByName.get(u.name);
        if (!user) {
          user = { id: hexId(), name: u.name, password: u.password, domainId: this.domain.id, roles: new Map() };
          usersByName.set(u.name, user);
          this.users.set(user.id, user);
        }
        user.roles.set(project.id, u.roles ?? ['member']);
        for (const a of u.application_credentials ?? []) {
          const cred: SimAppCred = { id: a.id ?? hexId(), name: a.name, secret: a.secret, userId: user.id, projectId: project.id };
          this.appCreds.set(cred.id, cred);
        }
      }
    }
    const firstProject = [...this.projects.values()][0];
    for (const n of scenario.networks ?? []) {
      const owner = n.project === undefined ? firstProject : this.projectByName(n.project);
      this.addNetwork({ name: n.name, cidr: n.cidr, shared: n.shared ?? false, projectId: owner?.id ?? '' });
    }
  }

  /** Registers a host: compute service, hypervisor and Placement root provider at once. */
  addHost(host: SimHost): void {
    this.hosts.set(host.name, host);
    this.hostsByUuid.set(host.uuid, host);
  }

  /** Adds a network with its one subnet; ids are stable per name so scenarios and tests can predict them. */
  addNetwork(spec: { name: string; cidr: string; shared?: boolean; projectId: string; external?: boolean }): SimNetwork {
    const net: SimNetwork = {
      id: stableUuid(`net:${spec.name}`),
      name: spec.name,
      projectId: spec.projectId,
      shared: spec.shared ?? false,
      subnetId: stableUuid(`subnet:${spec.name}`),
      subnetName: `${spec.name}-subnet`,
      cidr: spec.cidr,
      nextIp: 10,
      external: spec.external ?? false,
    };
    this.networks.set(net.id, net);
    return net;
  }

  /** Neutron gives every project a `default` group; ports without explicit groups get it. */
  defaultSecurityGroup(projectId: string): SimSecurityGroup {
    const existing = [...this.securityGroups.values()].find((g) => g.projectId === projectId && g.name === 'default');
    if (existing) return existing;
    return this.addSecurityGroup(projectId, 'default', 'Default security group');
  }

  addSecurityGroup(projectId: string, name: string, description = ''): SimSecurityGroup {
    const group: SimSecurityGroup = { id: randomUUID(), name, projectId, description, createdAt: NEUTRON_TIME() };
    this.securityGroups.set(group.id, group);
    return group;
  }

  projectByName(name: string): SimProject | undefined {
    return [...this.projects.values()].find((p) => p.name === name);
  }

  userByName(name: string): SimUser | undefined {
    return [...this.users.values()].find((u) => u.name === name);
  }

  nextInstanceIndex(): number {
    this.instanceCounter += 1;
    return this.instanceCounter;
  }

  // ---- Placement arithmetic ------------------------------------------------

  inventories(host: SimHost): Record<'VCPU' | 'MEMORY_MB' | 'DISK_GB', { total: number; reserved: number; min_unit: number; max_unit: number; step_size: number; allocation_ratio: number }> {
    const inv = (total: number, reserved: number, ratio: number) => ({ total, reserved, min_unit: 1, max_unit: total, step_size: 1, allocation_ratio: ratio });
    return {
      VCPU: inv(host.vcpus, host.reservedVcpus, host.cpuRatio),
      MEMORY_MB: inv(host.memoryMb, host.reservedMemoryMb, host.ramRatio),
      DISK_GB: inv(host.diskGb, host.reservedDiskGb, host.diskRatio),
    };
  }

  usages(host: SimHost): Record<string, number> {
    const out: Record<string, number> = { VCPU: 0, MEMORY_MB: 0, DISK_GB: 0 };
    for (const a of this.allocationsOf(host.uuid)) {
      for (const [rc, n] of Object.entries(a.resources)) out[rc] = (out[rc] ?? 0) + n;
    }
    return out;
  }

  /** The allocations against one provider. */
  allocationsOf(rpUuid: string): SimAllocation[] {
    const out: SimAllocation[] = [];
    for (const id of this.consumersByRp.get(rpUuid) ?? []) {
      const a = this.allocations.get(id);
      if (a) out.push(a);
    }
    return out;
  }

  hostByUuid(uuid: string): SimHost | undefined {
    return this.hostsByUuid.get(uuid);
  }

  /** Whether `resources` fit on the host: amount <= max_unit and used + amount <= (total - reserved) * ratio. */
  fits(host: SimHost, resources: Record<string, number>): boolean {
    const inv = this.inventories(host) as Record<string, { total: number; reserved: number; max_unit: number; allocation_ratio: number }>;
    const used = this.usages(host);
    for (const [rc, amount] of Object.entries(resources)) {
      const i = inv[rc];
      if (!i) return false;
      const capacity = Math.floor((i.total - i.reserved) * i.allocation_ratio);
      if (amount > i.max_unit || (used[rc] ?? 0) + amount > capacity) return false;
    }
    return true;
  }

  /** PUT /allocations/{consumer} as the scheduler does: the provider's generation goes up (Placement's replace_all). */
  claim(host: SimHost, consumerId: string, projectId: string, userId: string, resources: Record<string, number>): boolean {
    if (!this.fits(host, resources)) return false;
    this.setAllocation({ consumerId, rpUuid: host.uuid, projectId, userId, resources: { ...resources } });
    host.generation += 1;
    return true;
  }

  /** Writes an allocation without a capacity check or a generation change (bulk seeding, moves). */
  setAllocation(a: SimAllocation): void {
    this.dropAllocation(a.consumerId);
    this.allocations.set(a.consumerId, a);
    let set = this.consumersByRp.get(a.rpUuid);
    if (!set) this.consumersByRp.set(a.rpUuid, (set = new Set()));
    set.add(a.consumerId);
  }

  /**
   * DELETE /allocations/{consumer}, which Nova sends when it deletes a server (force=True
   * unless deferred delete is configured). Placement deletes the rows *without* incrementing
   * the provider's generation (`delete_all` in placement/objects/allocation.py; on the Zed
   * cloud compute2 stayed at generation 101 after its server was deleted): a reader that
   * re-reads a provider only when its generation moves misses the freed capacity.
   */
  release(consumerId: string): void {
    this.dropAllocation(consumerId);
  }

  private dropAllocation(consumerId: string): void {
    const a = this.allocations.get(consumerId);
    if (!a) return;
    this.allocations.delete(consumerId);
    this.consumersByRp.get(a.rpUuid)?.delete(consumerId);
  }

  // ---- Servers -------------------------------------------------------------

  /** Marks a change of the server, as Nova's `updated_at` does on every save (whole seconds). */
  touchServer(server: SimServer): void {
    server.updated = NOVA_TIME();
  }

  /**
   * Nova's soft delete: the row stays (status DELETED, vm_state deleted, its host kept) for
   * `changes-since` readers; updated_at is the last save before the delete, as Nova's
   * compute manager saves vm_state=deleted just before destroying the row.
   */
  removeServer(server: SimServer): void {
    const now = new Date();
    server.status = 'DELETED';
    server.vmState = 'deleted';
    server.taskState = null;
    server.powerState = 0;
    server.updated = NOVA_TIME(now);
    server.terminatedAt = now.toISOString().replace('Z', '').replace(/(\.\d{3})$/, '$1000');
    this.servers.delete(server.id);
    this.deletedServers.set(server.id, server);
    for (const id of this.deletedServers.keys()) {
      if (this.deletedServers.size <= this.deletedKept) break;
      this.deletedServers.delete(id);
    }
  }

  // ---- Quotas --------------------------------------------------------------

  quotaUsage(projectId: string): SimQuotas {
    const out: SimQuotas = { instances: 0, cores: 0, ram: 0 };
    for (const s of this.servers.values()) {
      if (s.projectId !== projectId || s.status === 'DELETED') continue;
      out.instances += 1;
      out.cores += s.flavor.vcpus;
      out.ram += s.flavor.ram;
    }
    return out;
  }

  // ---- Neutron helpers -----------------------------------------------------

  allocateIp(net: SimNetwork): string {
    const base = net.cidr.split('/')[0]?.split('.').map(Number) ?? [10, 0, 0, 0];
    const n = net.nextIp;
    net.nextIp += 1;
    const third = (base[2] ?? 0) + Math.floor(n / 256);
    if (third < 256) return `${base[0] ?? 10}.${base[1] ?? 0}.${third}.${n % 256}`;
    // Past the third octet (bulk clouds): carry on as a 32-bit address.
    const ip = ((((base[0] ?? 10) << 24) | ((base[1] ?? 0) << 16) | ((base[2] ?? 0) << 8)) >>> 0) + n;
    return `${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
  }

  createPort(net: SimNetwork, projectId: string, opts: { name?: string; createdByNova?: boolean; securityGroupIds?: string[]; ipAddress?: string } = {}): SimPort {
    const now = NEUTRON_TIME();
    const mac = `fa:16:3e:${randomBytes(3).toString('hex').match(/../g)?.join(':') ?? '00:00:00'}`;
    const port: SimPort = {
      id: randomUUID(),
      name: opts.name ?? '',
      networkId: net.id,
      projectId,
      macAddress: mac,
      fixedIps: [{ subnet_id: net.subnetId, ip_address: opts.ipAddress ?? this.allocateIp(net) }],
      securityGroupIds: opts.securityGroupIds ?? [this.defaultSecurityGroup(projectId).id],
      deviceId: '',
      deviceOwner: '',
      hostId: '',
      status: 'DOWN',
      vifType: 'unbound',
      createdAt: now,
      updatedAt: now,
      revision: 1,
      createdByNova: opts.createdByNova ?? false,
    };
    this.ports.set(port.id, port);
    this.portsVersion += 1;
    return port;
  }

  /** Deletes a port the way Neutron does: floating IPs on it are disassociated, not deleted. */
  deletePort(portId: string): void {
    if (!this.ports.delete(portId)) return;
    this.portsVersion += 1;
    for (const fip of this.floatingIps.values()) {
      if (fip.portId !== portId) continue;
      fip.portId = null;
      fip.fixedIp = null;
      fip.revision += 1;
      fip.updatedAt = NEUTRON_TIME();
    }
  }

  createFloatingIp(net: SimNetwork, projectId: string, port: SimPort | null): SimFloatingIp {
    const now = NEUTRON_TIME();
    const fip: SimFloatingIp = {
      id: randomUUID(),
      networkId: net.id,
      projectId,
      address: this.allocateIp(net),
      portId: port?.id ?? null,
      fixedIp: port?.fixedIps[0]?.ip_address ?? null,
      createdAt: now,
      updatedAt: now,
      revision: 1,
    };
    this.floatingIps.set(fip.id, fip);
    return fip;
  }

  touchPort(port: SimPort): void {
    port.revision += 1;
    port.updatedAt = NEUTRON_TIME();
  }
}
