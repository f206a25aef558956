/**
 * What a change to a running topology does to its placement: the guaranteed traffic that crosses
 * each host's uplink under the current assignments, whether every uplink still holds it next to
 * the other topologies' guarantees, and where the units a scale-out adds go. Pure (the manager
 * runs the placement in its planning worker).
 */
import type { V1Hosts } from '../agent/hosts-view.ts';
import type { AbsoluteLimits, Flavor as NovaFlavor } from '../openstack/index.ts';
import { formatBps, placeTopology } from '../placement/index.ts';
import type { InfeasibleReason, PlacementStrategy, PlanExplanation, TrafficDemand } from '../placement/types.ts';
import { placementUnits } from '../topology/index.ts';
import type { Topology } from '../topology/types.ts';
import { hostStates, type UplinkConfig } from './cloud-view.ts';
import { flavorMap, tenantQuota } from './planner.ts';

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

/** What placing a scale-out's new units needs: the changed topology, the kept units' hosts, the cloud as read now. */
export interface AddedUnitsInput {
  topology: Topology;
  /** The new units' names. */
  added: readonly string[];
  /** Where the kept units are (unit → host; null: left to Nova). */
  keptAssignments: Readonly<Record<string, string | null>>;
  /** Every guaranteed demand of the changed topology. */
  demands: readonly TrafficDemand[];
  /** Guaranteed uplink use of the other topologies, by host. */
  others: ReadonlyMap<string, number>;
  hosts: V1Hosts;
  flavors: readonly NovaFlavor[];
  limits: AbsoluteLimits | undefined;
  uplink: UplinkConfig;
  strategy: PlacementStrategy;
}

export type AddedUnitsPlacement =
  | { placed: true; assignments: Record<string, string | null>; explanation: PlanExplanation; note: string }
  | { placed: false; message: string; reasons: InfeasibleReason[] };

/**
 * Where a scale-out's new units go, by the engine: on their busiest traffic peer's host alone
 * first (the most guaranteed traffic with kept units), then wherever the topology's strategy puts
 * them. The kept units' own guarantees stay on the uplinks meanwhile.
 */
export function placeAddedUnits(input: AddedUnitsInput): AddedUnitsPlacement {
  const added = new Set(input.added);
  const units = placementUnits(input.topology, flavorMap(input.flavors)).filter((u) => added.has(u.id));
  const among = input.demands.filter((d) => added.has(d.a) && added.has(d.b));
  const committed = new Map(input.others);
  const keptDemands = input.demands.filter((d) => !added.has(d.a) && !added.has(d.b));
  for (const [host, bps] of Object.entries(uplinkUse(keptDemands, input.keptAssignments).uplinkBps)) committed.set(host, (committed.get(host) ?? 0) + bps);
  const hosts = hostStates(input.hosts, input.uplink, committed);
  const quota = input.limits ? tenantQuota(input.limits) : undefined;
  const refused = (summary: string, reasons: InfeasibleReason[]): AddedUnitsPlacement => ({ placed: false, message: `the new units cannot be placed: ${summary}`, reasons });
  if (input.strategy === 'nova') {
    const plan = placeTopology({ units, demands: among, hosts, ...(quota ? { quota } : {}), strategy: 'nova' });
    if (!plan.feasible) return refused(plan.explanation.summary, plan.reasons);
    return { placed: true, assignments: plan.assignments, explanation: plan.explanation, note: "left to Nova's scheduler" };
  }
  // Peers: hosts of kept units the new ones have guaranteed traffic with, the most traffic first.
  const weight = new Map<string, number>();
  const peerUnits = new Map<string, Set<string>>();
  for (const d of input.demands) {
    // Only a demand between a new unit and a kept one says where a new unit would like to be.
    if (added.has(d.a) === added.has(d.b)) continue;
    const theirs = added.has(d.a) ? d.b : d.a;
    const host = input.keptAssignments[theirs];
    if (host === undefined || host === null) continue;
    weight.set(host, (weight.get(host) ?? 0) + d.guaranteedBps);
    peerUnits.set(host, (peerUnits.get(host) ?? new Set()).add(theirs));
  }
  const rejected: string[] = [];
  for (const [host] of [...weight].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))) {
    const state = hosts.find((h) => h.name === host);
    if (!state) continue;
    const plan = placeTopology({ units, demands: among, hosts: [state], ...(quota ? { quota } : {}), strategy: 'single-host' });
    if (plan.feasible) {
      return { placed: true, assignments: plan.assignments, explanation: plan.explanation, note: `on ${host}, next to ${[...(peerUnits.get(host) ?? [])].sort().join(', ')} (their traffic peers)` };
    }
    if (plan.reasons.some((r) => r.scope === 'quota')) return refused(plan.explanation.summary, plan.reasons);
    rejected.push(`${host}: ${plan.explanation.summary}`);
  }
  const plan = placeTopology({ units, demands: among, hosts, ...(quota ? { quota } : {}), strategy: input.strategy });
  if (!plan.feasible) return refused(plan.explanation.summary, plan.reasons);
  const note = `on ${plan.hosts.join(', ')}${rejected.length > 0 ? ` (not next to their peers: ${rejected.join('; ')})` : ''}`;
  return { placed: true, assignments: plan.assignments, explanation: plan.explanation, note };
}
