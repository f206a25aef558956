/**
 * The cloud inventory snapshot: what the CM Agent knows about compute hosts,
 * servers and their Neutron ports, built from list calls only and served from
 * memory (the original re-authenticated and queried per request and per server).
 */

/** Where capacity and usage figures come from. */
export type CapacitySource = 'placement' | 'hypervisor-stats';

/** The resource classes the inventory reports (Placement names). */
export const RESOURCE_CLASSES = ['VCPU', 'MEMORY_MB', 'DISK_GB'] as const;
export type ResourceClass = (typeof RESOURCE_CLASSES)[number];

/** Capacity and usage of one resource class on one host. */
export interface ResourceUsage {
  /** Physical amount (Placement inventory `total`; hypervisor `vcpus` / `memory_mb` / `local_gb`). */
  total: number;
  /** Kept back for the host (Placement `reserved`; 0 from hypervisor stats, which do not expose it). */
  reserved: number;
  /** Overcommit ratio (Placement `allocation_ratio`; 1 from hypervisor stats, which do not expose it). */
  allocationRatio: number;
  /**
   * Allocated to consumers (Placement usages). From hypervisor stats: `*_used`,
   * which for memory and disk includes the host's reserved amount (Nova's definition).
   */
  used: number;
  /** floor((total - reserved) × allocation_ratio). */
  capacity: number;
  /** capacity - used (negative when over-committed after a ratio change). */
  free: number;
  /** The largest single allocation accepted (Placement `max_unit`; `total` from hypervisor stats). */
  maxUnit: number;
}

/** One compute host = one hypervisor (compute node) and its nova-compute service. */
export interface HostInventory {
  /** Compute service host: what servers (`OS-EXT-SRV-ATTR:host`) and ports (`binding:host_id`) name. */
  name: string;
  /** Nova's `hypervisor_hostname`: the Placement resource provider name. May differ from `name`. */
  hypervisorHostname: string;
  /** Hypervisor id: an integer below compute 2.53, the compute node UUID from 2.53. */
  hypervisorId: string | number;
  /** `host_ip` of the hypervisor (where its OVSDB listens in the thesis setup); undefined if not reported. */
  hostIp: string | undefined;
  /** nova-compute service liveness (the hypervisor's `state` when no service record was found). */
  state: 'up' | 'down';
  /** nova-compute service administrative status. */
  status: 'enabled' | 'disabled';
  disabledReason: string | null;
  /** The nova-compute service's zone; undefined when no service record matched. */
  availabilityZone: string | undefined;
  /** UUID of the Placement root provider used for capacity; undefined with hypervisor stats or no match. */
  resourceProviderUuid: string | undefined;
  /** Per resource class; a class is absent when the source does not report it (or no provider matched). */
  resources: Partial<Record<ResourceClass, ResourceUsage>>;
  /** Servers Nova places on this host (any status): `running_vms` when Nova reports it, else counted from the server list. */
  instances: number;
  /** Ids of the servers on this host, in the server list's order. */
  serverIds: string[];
  /** Problems joining this host's data (e.g. no Placement provider), in plain words. */
  warnings: string[];
}

export interface PortInventory {
  id: string;
  macAddress: string | undefined;
  fixedIps: { subnetId: string; ipAddress: string }[];
  networkId: string;
  /** `binding:host_id`: the compute service host the port is bound to ("" while unbound). */
  bindingHost: string;
  status: string;
  deviceOwner: string;
  /** The Neutron QoS policy on the port (not what OVS enforces; that comes from OVSDB). */
  qosPolicyId: string | null;
}

export interface ServerInventory {
  id: string;
  name: string;
  status: string;
  /** `OS-EXT-SRV-ATTR:host` (compute service host); null while unscheduled. */
  host: string | null;
  /** `OS-EXT-SRV-ATTR:hypervisor_hostname`; null while unscheduled. */
  hypervisorHostname: string | null;
  availabilityZone: string | undefined;
  /** Flavor as embedded in the server (name from 2.47, id before). */
  flavor: { name: string | undefined; id: string | undefined; vcpus: number | undefined; ramMb: number | undefined; diskGb: number | undefined } | undefined;
  projectId: string | undefined;
  userId: string | undefined;
  /**
   * Every Neutron port whose `device_id` is this server, ordered like Nova's
   * `addresses` (the first port owns the server's first IP), then by id.
   */
  ports: PortInventory[];
}

/** Serialisable summary of a refresh failure. */
export interface InventoryError {
  name: string;
  /** `CM_ERR_*` code when the error has one. */
  code: string | undefined;
  message: string;
  at: string;
}

export interface InventorySnapshot {
  /** ISO time the data was read (end of the successful refresh). */
  refreshedAt: string;
  /** How long the successful refresh took. */
  durationMs: number;
  capacitySource: CapacitySource;
  /** The negotiated compute microversion. */
  computeMicroversion: string;
  /** Sorted by `name`. */
  hosts: HostInventory[];
  /** All tenants, sorted by id. */
  servers: ServerInventory[];
  /** Cloud-wide join problems (per-host ones are also in `HostInventory.warnings`). */
  warnings: string[];
  /** True when the latest refresh failed and this is the previous data. */
  stale: boolean;
  /** The latest refresh failure while `stale`. */
  lastError: InventoryError | undefined;
}
