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

/** A host's capacity and usage per resource class (what {@link HostInventory.resources} holds). */
export type HostCapacity = Partial<Record<ResourceClass, ResourceUsage>>;

/**
 * Whose reading {@link HostInventory.resources} is: `self` (this agent read it: Placement
 * for a host it owns, or hypervisor statistics), `foreign` (another replica's reading of a
 * host it owns, handed in through `foreignCapacity`), `none` (a host this agent does not
 * own and nobody handed in: `resources` is empty, capacity unknown).
 */
export type CapacityFrom = 'self' | 'foreign' | 'none';

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
  /** That provider's generation as listed in this refresh (what `resources` was read at, for a host whose capacity this agent read). */
  resourceProviderGeneration?: number;
  /** Per resource class; a class is absent when the source does not report it (or no provider matched). */
  resources: HostCapacity;
  /** Whose reading `resources` is; set by buildSnapshot (absent on snapshots made elsewhere, meaning `self`). */
  capacityFrom?: CapacityFrom;
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

/** OpenStack HTTP requests per service (every page, retry and re-authenticated retry; not Keystone's). */
export interface InventoryCalls {
  nova: number;
  neutron: number;
  placement: number;
}

/** How one refresh read the cloud. */
export interface InventoryRead {
  /** `full`: every hypervisor, server and port listed; `incremental`: only what changed. */
  kind: 'full' | 'incremental';
  /** Server records Nova answered: every server on a full read, the changed and deleted ones otherwise. */
  servers: number;
  /**
   * How ports were read: `all` (listed), `changed-since` (Neutron's `changed_since`),
   * `by-server` (by `device_id`, for the servers Nova reported changed: Neutron refused
   * `changed_since`, as Zed's default filter validation does), `none` (nothing to read).
   */
  ports: 'all' | 'changed-since' | 'by-server' | 'none';
  /** Whether the hypervisor list was read (a full read, hypervisor statistics, or a host or provider came or went). */
  hypervisors: boolean;
  /** Placement providers whose inventories and usages were read (2 calls each). */
  providersRead: number;
  /**
   * Of `calls`, the requests answered by a failure the HTTP layer then sent again: a
   * connection error, 5xx, 429, or 401 before re-authenticating. On a successful refresh
   * `calls` less these is what the formula of inventory/cost.ts counts.
   */
  retried: InventoryCalls;
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
  /** The HTTP requests the refresh that built this snapshot sent; set by CloudInventory. */
  calls?: InventoryCalls;
  /** How that refresh read the cloud; set by CloudInventory. */
  read?: InventoryRead;
}
