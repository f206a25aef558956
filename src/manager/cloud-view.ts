/**
 * Turns what the agent reports (`GET /v1/hosts`) plus the manager's own
 * bookkeeping (uplink capacities from config, guarantees of the topologies it
 * placed) into the placement engine's host states. Pure.
 */
import type { V1Host, V1Hosts, V1Resource } from '../agent/hosts-view.ts';
import type { HostState, Inventory } from '../placement/types.ts';

export interface UplinkConfig {
  /** Uplink capacity of hosts not listed in `hosts`, bit/s. */
  defaultBps: number;
  /** Per compute host, bit/s. */
  hosts: Readonly<Record<string, number>>;
}

function inventoryOf(r: V1Resource | null): Inventory {
  // A class the capacity source does not report cannot take anything.
  if (!r) return { total: 0, reserved: 0, allocationRatio: 1, maxUnit: 0, used: 0 };
  return { total: r.total, reserved: r.reserved, allocationRatio: r.allocation_ratio, maxUnit: r.max_unit, used: r.used };
}

export function hostState(h: V1Host, uplink: UplinkConfig, committedBps: number): HostState {
  return {
    name: h.name,
    availabilityZone: h.availability_zone ?? 'nova',
    up: h.state === 'up',
    enabled: h.status === 'enabled',
    vcpu: inventoryOf(h.resources.VCPU),
    ramMb: inventoryOf(h.resources.MEMORY_MB),
    diskGb: inventoryOf(h.resources.DISK_GB),
    uplink: { capacityBps: uplink.hosts[h.name] ?? uplink.defaultBps, committedBps },
  };
}

/**
 * Host states for planning. `committed` = guaranteed bit/s that topologies the
 * manager already placed send across each host's uplink.
 */
export function hostStates(hosts: V1Hosts, uplink: UplinkConfig, committed: ReadonlyMap<string, number>): HostState[] {
  return hosts.hosts.map((h) => hostState(h, uplink, committed.get(h.name) ?? 0));
}

/** Sums the per-host uplink use of placed topologies' plans. */
export function committedUplinks(plans: readonly { uplinkBps?: Record<string, number> }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of plans) {
    for (const [host, bps] of Object.entries(p.uplinkBps ?? {})) out.set(host, (out.get(host) ?? 0) + bps);
  }
  return out;
}

