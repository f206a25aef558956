/**
 * Placement engine contract: data in, plan out. Pure and deterministic — the
 * same request always gives the same plan (ties broken by host name, then unit id).
 * Rates are bit/s; memory MiB; disk GiB.
 */

export type PlacementStrategy = 'single-host' | 'traffic-aware' | 'nova';

/** One Placement-style inventory: capacity = floor((total − reserved) × allocation_ratio). */
export interface Inventory {
  total: number;
  reserved: number;
  allocationRatio: number;
  /** Largest amount one consumer (VM) may take. */
  maxUnit: number;
  used: number;
}

export interface HostState {
  /** Compute service host: what `availability_zone: nova:<host>` names. */
  name: string;
  /** Availability zone of the host (`nova` when in none). */
  availabilityZone: string;
  up: boolean;
  enabled: boolean;
  vcpu: Inventory;
  ramMb: Inventory;
  diskGb: Inventory;
  /** Uplink (physical NIC) of the host. */
  uplink: {
    capacityBps: number;
    /** Guaranteed rates of topologies already placed that cross this uplink. */
    committedBps: number;
  };
}

export interface Flavor {
  name: string;
  vcpus: number;
  ramMb: number;
  diskGb: number;
}

export interface PlacementUnit {
  /** Unit name, unique in the topology, e.g. `MediaServer-2`. */
  id: string;
  /** The service instance it belongs to, e.g. `MediaServer`. */
  serviceInstance: string;
  flavor: Flavor;
  /** Guaranteed (min) and maximum rate of the unit's SLA class; used for explanations. */
  sla: { className: string; minBps: number; maxBps: number };
  /** Restrict the unit to hosts of this AZ (optional). */
  availabilityZone?: string;
}

/** Guaranteed traffic between two units (undirected): it crosses both hosts' uplinks when they are apart. */
export interface TrafficDemand {
  a: string;
  b: string;
  guaranteedBps: number;
}

export interface QuotaLine {
  /** -1 = unlimited. */
  limit: number;
  /** What the tenant already uses (the tenant's own, never the cloud's). */
  inUse: number;
}

export interface TenantQuota {
  instances: QuotaLine;
  cores: QuotaLine;
  ramMb: QuotaLine;
}

export interface PlacementRequest {
  units: readonly PlacementUnit[];
  demands: readonly TrafficDemand[];
  hosts: readonly HostState[];
  /** Omitted = no quota check. */
  quota?: TenantQuota;
  strategy: PlacementStrategy;
}

export type ResourceName = 'instances' | 'cores' | 'ram' | 'vcpu' | 'ram_mb' | 'disk_gb' | 'uplink' | 'hosts';

export interface InfeasibleReason {
  /** `quota`: the tenant's quota; `host`: a host's capacity; `cloud`: no combination of hosts. */
  scope: 'quota' | 'host' | 'cloud';
  resource: ResourceName;
  /** e.g. `compute2`, or the unit id for a `max_unit` problem, or null. */
  subject: string | null;
  needed: number;
  available: number;
  message: string;
}

export interface HostDecision {
  host: string;
  /** Why it was chosen, or why it was rejected — whole sentences for operators. */
  reasons: string[];
}

export interface PlanExplanation {
  /** One line, e.g. `whole topology on compute1 (tightest fit of 2 candidate hosts)`. */
  summary: string;
  chosen: HostDecision[];
  rejected: HostDecision[];
  /** The steps taken, in order (quota check, single-host, split, …). */
  steps: string[];
}

export interface FeasiblePlan {
  feasible: true;
  strategy: PlacementStrategy;
  /** Unit id → host; null with strategy `nova` (Nova's scheduler decides). */
  assignments: Record<string, string | null>;
  /** Hosts used, sorted by name (empty with `nova`). */
  hosts: string[];
  /** Sum of the guaranteed demands whose two units are on different hosts. */
  crossHostBps: number;
  /** Host → guaranteed bit/s this plan adds to its uplink. */
  uplinkBps: Record<string, number>;
  explanation: PlanExplanation;
}

export interface InfeasiblePlan {
  feasible: false;
  strategy: PlacementStrategy;
  reasons: InfeasibleReason[];
  explanation: PlanExplanation;
}

export type PlacementPlan = FeasiblePlan | InfeasiblePlan;
