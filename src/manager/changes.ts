/**
 * What a change to a running topology does to its placement, without moving anything: the
 * guaranteed traffic that crosses each host's uplink under the current assignments, and whether
 * every uplink still holds it next to the other topologies' guarantees. Pure.
 */
import { formatBps } from '../placement/index.ts';
import type { InfeasibleReason, TrafficDemand } from '../placement/types.ts';
import type { UplinkConfig } from './cloud-view.ts';

export interface UplinkUse {
  /** Host → guaranteed bit/s of this topology crossing its uplink (every host of the topology listed, 0 included). */
  uplinkBps: Record<string, number>;
  /** Sum of the demands whose two units are on different hosts. */
  crossHostBps: number;
}

/** Units without a host (strategy `nova`) are left out: nothing is known about their uplink. */
export function uplinkUse(demands: readonly TrafficDemand[], assignments: Readonly<Record<string, string | null>>): UplinkUse {
  const uplinkBps: Record<string, number> = {};
  for (const host of Object.values(assignments)) if (host !== null) uplinkBps[host] = 0;
  let crossHostBps = 0;
  for (const d of demands) {
    const a = assignments[d.a];
    const b = assignments[d.b];
    if (a === undefined || b === undefined || a === null || b === null || a === b) continue;
    crossHostBps += d.guaranteedBps;
    uplinkBps[a] = (uplinkBps[a] ?? 0) + d.guaranteedBps;
    uplinkBps[b] = (uplinkBps[b] ?? 0) + d.guaranteedBps;
  }
  return { uplinkBps, crossHostBps };
}

/** One reason per host whose uplink would carry more guarantees than it has. */
export function uplinkOvercommit(use: UplinkUse, committedByOthers: ReadonlyMap<string, number>, uplink: UplinkConfig): InfeasibleReason[] {
  const reasons: InfeasibleReason[] = [];
  for (const [host, bps] of Object.entries(use.uplinkBps)) {
    const capacity = uplink.hosts[host] ?? uplink.defaultBps;
    const others = committedByOthers.get(host) ?? 0;
    if (bps + others > capacity) {
      reasons.push({
        scope: 'host',
        resource: 'uplink',
        subject: host,
        needed: bps + others,
        available: capacity,
        message: `${host}'s uplink would carry ${formatBps(bps + others)} of guarantees (${formatBps(bps)} of this topology, ${formatBps(others)} of others) but has ${formatBps(capacity)}`,
      });
    }
  }
  return reasons;
}
