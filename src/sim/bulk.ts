/**
 * Bulk clouds for scale tests and benches: a scenario of thousands of hosts, and servers
 * seeded straight into the state (ACTIVE, one port each, allocations written) instead of
 * booted one by one through the API and plugged into switches, which at 200 000 servers
 * would take hours. What the APIs answer about them is what they answer about booted ones.
 */
import { randomUUID } from 'node:crypto';
import type { HypervisorHook } from './hypervisor.ts';
import type { ScenarioHost, ScenarioObject } from './scenario.ts';
import { NEUTRON_TIME, NOVA_TIME, type SimState } from './state.ts';

/**
 * `hosts` compute hosts `host-00000` … (sized like a common 2-socket node), one flavor
 * `m1.mini`, an admin (admin / pass, project admin) and a shared network `bulk` large
 * enough for millions of ports. Start the cloud with a `hypervisor` hook that brings its
 * own (or no) switches: the default one starts one OVSDB server per host.
 */
export function bulkScenario(hosts: number, size: Pick<ScenarioHost, 'vcpus' | 'memory_mb' | 'disk_gb'> = { vcpus: 64, memory_mb: 262_144, disk_gb: 2000 }): ScenarioObject {
  if (!Number.isInteger(hosts) || hosts < 1) throw new RangeError('hosts must be a positive integer');
  return {
    region: 'RegionOne',
    hosts: Array.from({ length: hosts }, (_, i) => ({ name: `host-${String(i).padStart(5, '0')}`, ...size, cpu_allocation_ratio: 4 })),
    flavors: [{ id: '1', name: 'm1.mini', vcpus: 1, ram: 512, disk: 1 }],
    projects: [{ name: 'admin', quotas: { instances: -1, cores: -1, ram: -1 }, users: [{ name: 'admin', password: 'pass', roles: ['admin'] }] }],
    networks: [{ name: 'bulk', cidr: '10.64.0.0/10', shared: true }],
  };
}

/**
 * A hypervisor hook without switches, for clouds that only read the APIs (inventory
 * tests, benches): 10 000 hosts would otherwise start 10 000 OVSDB servers. Servers boot
 * and their ports bind as usual; nothing is plugged anywhere, and a host's OVSDB endpoint
 * names a socket that does not exist.
 */
export const NO_SWITCHES: HypervisorHook = {
  plug: () => Promise.resolve(),
  unplug: () => Promise.resolve(),
  ovsdbEndpoint: (host) => `unix:/nonexistent/cm-sim-no-switch/${host}.sock`,
};

export interface SeedOptions {
  /** Servers per host. */
  perHost: number;
  /** Only these hosts (default: every host). */
  hosts?: readonly string[];
  /**
   * When the servers and ports were created and last changed (default: an hour ago), so that
   * a reader started after the seeding does not see them as recent changes.
   */
  at?: Date;
  /** Flavor id or name (default: the first). */
  flavor?: string;
  /** Network name (default: the first). */
  network?: string;
  /** Project name (default: the first). */
  project?: string;
}

/**
 * Seeds `perHost` ACTIVE servers on each host, each with one bound, ACTIVE port on the
 * network and its allocation against the host's provider (whose generation moves once per
 * server, as one claim each would move it). Capacity is not checked. Returns how many.
 */
export function seedServers(state: SimState, opts: SeedOptions): number {
  const flavors = [...state.flavors.values()];
  const flavor = opts.flavor === undefined ? flavors[0] : (state.flavors.get(opts.flavor) ?? flavors.find((f) => f.name === opts.flavor));
  const network = [...state.networks.values()].find((n) => opts.network === undefined || n.name === opts.network);
  const project = opts.project === undefined ? [...state.projects.values()][0] : state.projectByName(opts.project);
  if (!flavor || !network || !project) throw new Error('seedServers: the scenario needs a flavor, a network and a project');
  const user = [...state.users.values()].find((u) => u.roles.has(project.id));
  const at = opts.at ?? new Date(Date.now() - 3_600_000);
  const novaAt = NOVA_TIME(at);
  const neutronAt = NEUTRON_TIME(at);
  const launched = at.toISOString().replace('Z', '').replace(/(\.\d{3})$/, '$1000');
  const resources = { VCPU: flavor.vcpus, MEMORY_MB: flavor.ram, DISK_GB: flavor.disk + flavor.ephemeral };
  let n = 0;
  for (const name of opts.hosts ?? [...state.hosts.keys()]) {
    const host = state.hosts.get(name);
    if (!host) throw new Error(`seedServers: no host "${name}"`);
    for (let i = 0; i < opts.perHost; i++) {
      const id = randomUUID();
      const port = state.createPort(network, project.id, { createdByNova: true });
      port.deviceId = id;
      port.deviceOwner = `compute:${host.az}`;
      port.hostId = host.name;
      port.vifType = 'ovs';
      port.status = 'ACTIVE';
      port.createdAt = neutronAt;
      port.updatedAt = neutronAt;
      const index = state.nextInstanceIndex();
      state.servers.set(id, {
        id,
        name: `${host.name}-vm-${String(i)}`,
        projectId: project.id,
        userId: user?.id ?? '',
        flavor,
        imageId: '',
        status: 'ACTIVE',
        vmState: 'active',
        taskState: null,
        powerState: 1,
        host: host.name,
        hypervisorHostname: host.hypervisorHostname,
        az: host.az,
        requestedAz: null,
        created: novaAt,
        updated: novaAt,
        launchedAt: launched,
        fault: null,
        portIds: [port.id],
        metadata: {},
        userData: null,
        instanceIndex: index,
        reservationId: `r-${index.toString(36).padStart(8, '0')}`,
        keyName: null,
      });
      state.setAllocation({ consumerId: id, rpUuid: host.uuid, projectId: project.id, userId: user?.id ?? '', resources: { ...resources } });
      host.generation += 1;
      n++;
    }
  }
  return n;
}
