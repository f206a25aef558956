import { formatCount } from './format.ts';
import type { Flavor, HostState, Inventory, ResourceName } from './types.ts';

/** Placement's own rule (`int((total − reserved) × allocation_ratio)`), so our numbers match what Nova will claim. */
export function hostCapacity(inv: Inventory): number {
  return Math.floor((inv.total - inv.reserved) * inv.allocationRatio);
}

/** May be negative when an operator lowered a ratio below what is already allocated. */
export function freeOf(inv: Inventory): number {
  return hostCapacity(inv) - inv.used;
}

/** Guaranteed bit/s a new plan may still add to the host's NIC. */
export function uplinkFree(host: HostState): number {
  return Math.max(0, host.uplink.capacityBps - host.uplink.committedBps);
}

export type HostResource = 'vcpu' | 'ramMb' | 'diskGb';

/** Index order used by every per-resource array in the engine. */
export const HOST_RESOURCES: readonly HostResource[] = ['vcpu', 'ramMb', 'diskGb'];

export const RESOURCE_NAME: Readonly<Record<HostResource, ResourceName>> = {
  vcpu: 'vcpu',
  ramMb: 'ram_mb',
  diskGb: 'disk_gb',
};

export function flavorDemand(flavor: Flavor, r: HostResource): number {
  return r === 'vcpu' ? flavor.vcpus : flavor[r];
}

/** `5 vCPU`, `2560 MiB RAM`, `5 GiB disk`. */
export function formatAmount(r: HostResource, n: number): string {
  const v = formatCount(n);
  return r === 'vcpu' ? `${v} vCPU` : r === 'ramMb' ? `${v} MiB RAM` : `${v} GiB disk`;
}
