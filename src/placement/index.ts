/**
 * Placement engine: where each unit of a topology should run. Pure and
 * deterministic (no I/O, no clock, no randomness): the same request gives
 * the same plan whatever the order of its hosts, units or demands.
 *
 * Order of work: tenant quota → one pass over the hosts (eligibility,
 * whole-topology fit, split candidates), or the same answer from the
 * caller's index of the snapshot (host-index.ts) → the strategy:
 *  - `single-host`: the tightest host that holds everything, or reasons;
 *  - `traffic-aware`: the same, else a split over the fewest hosts with the
 *    least guaranteed traffic between them and no uplink over-committed;
 *  - `nova`: only the checks Nova itself does not do for a group.
 */
import { formatAmount, freeOf, HOST_RESOURCES, RESOURCE_NAME } from './capacity.ts';
import {
  decision,
  headroomSentence,
  holdsSentence,
  ineligibleSentence,
  leftoverSentence,
  singleHostShortfall,
  topologySentence,
  uplinkSentence,
} from './explain.ts';
import { formatBps, formatCount, plural } from './format.ts';
import { val } from './num.ts';
import { checkQuota } from './quota.ts';
import type { HostIndex } from './host-index.ts';
import { scanHosts, type HostView, type Scan, type ScanLimits } from './scan.ts';
import { scanHostsReference } from './scan-reference.ts';
import { defaultBudget, splitTopology, type SplitOutcome } from './split.ts';
import { compileTopology, zoneAllows, type Topology } from './topology.ts';
import type {
  FeasiblePlan,
  HostDecision,
  HostState,
  InfeasiblePlan,
  InfeasibleReason,
  PlacementPlan,
  PlacementRequest,
  PlacementStrategy,
  PlanExplanation,
} from './types.ts';

export type * from './types.ts';
export { freeOf, hostCapacity, uplinkFree } from './capacity.ts';
export { formatBps } from './format.ts';
export { tightnessScore } from './scan.ts';
export { solveExhaustive } from './exhaustive.ts';
export { HostIndex, indexHosts } from './host-index.ts';

const LIMITS: ScanLimits = { pool: 24, tightest: 4, ineligible: 6 };
/** When the first candidate pool cannot hold a split, one wider pool is tried before giving up. */
const WIDE_POOL = 96;
/** Hosts described in reasons and `rejected` (a cloud may have 100 000). */
const DESCRIBED_HOSTS = 8;

interface Context {
  req: PlacementRequest;
  t: Topology;
  steps: string[];
}

function explanation(summary: string, steps: string[], chosen: HostDecision[] = [], rejected: HostDecision[] = []): PlanExplanation {
  return { summary, chosen, rejected, steps };
}

function infeasible(strategy: PlacementStrategy, reasons: InfeasibleReason[], expl: PlanExplanation): InfeasiblePlan {
  return { feasible: false, strategy, reasons, explanation: expl };
}

function scanStep(scan: Scan, t: Topology): string {
  const out: string[] = [];
  if (scan.down > 0) out.push(`${formatCount(scan.down)} down`);
  if (scan.disabled > 0) out.push(`${formatCount(scan.disabled)} disabled`);
  if (scan.zone > 0) out.push(`${formatCount(scan.zone)} outside ${[...t.zones].join('/')}`);
  const excluded = out.length > 0 ? ` (${out.join(', ')})` : '';
  return `hosts: ${formatCount(scan.hosts)} known, ${formatCount(scan.usable)} usable${excluded}; ${formatCount(scan.fitting)} can hold the whole topology`;
}

function ineligibleDecisions(scan: Scan, t: Topology): HostDecision[] {
  return scan.ineligible.map(({ host, why }) => decision(host.name, [ineligibleSentence(host, why, t)]));
}

function singleHostPlan(ctx: Context, scan: Scan, best: HostView): FeasiblePlan {
  const { req, t, steps } = ctx;
  const assignments: Record<string, string | null> = {};
  for (const u of t.units) assignments[u.id] = best.host.name;
  const leaves = leftoverSentence(best, t.total);
  steps.push(
    `single host: ${plural(scan.fitting, 'host')} can hold the whole topology; tightest fit ${best.host.name} ` +
      `(normalised leftover ${best.score.toFixed(3)}, Σ over vCPU, RAM, disk of leftover ÷ capacity; lower is tighter)`,
  );
  const chosenReasons = [
    `${scan.fitting === 1 ? 'the only host that holds' : `tightest fit of ${plural(scan.fitting, 'host')} that hold`} the whole topology: leaves ${leaves}`,
    `every unit's flavor is within max_unit (${HOST_RESOURCES.map((r, ri) => `${formatAmount(r, val(t.maxNeed, ri))} ≤ ${formatCount(val(best.maxUnit, ri))}`).join(', ')})`,
    `all ${plural(t.n, 'unit')} on one host: no guaranteed traffic crosses an uplink`,
  ];
  const rejected: HostDecision[] = scan.tightest
    .filter((v) => v !== best)
    .map((v) => decision(v.host.name, [`holds the whole topology too, but looser: would leave ${leftoverSentence(v, t.total)} (score ${v.score.toFixed(3)} vs ${best.score.toFixed(3)})`]));
  for (const v of scan.pool) {
    if (rejected.length >= DESCRIBED_HOSTS) break;
    const why = singleHostShortfall(v, t);
    if (why.length > 0 && v.host.name !== best.host.name) rejected.push(decision(v.host.name, why));
  }
  rejected.push(...ineligibleDecisions(scan, t));
  return {
    feasible: true,
    strategy: req.strategy,
    assignments,
    hosts: [best.host.name],
    crossHostBps: 0,
    uplinkBps: { [best.host.name]: 0 },
    explanation: explanation(
      `whole topology on ${best.host.name} (${scan.fitting === 1 ? 'the only host it fits on' : `tightest fit of ${plural(scan.fitting, 'candidate host')}`})`,
      steps,
      [decision(best.host.name, chosenReasons)],
      rejected,
    ),
  };
}

/** Cloud-wide shortages: what no combination of hosts can fix. */
function cloudReasons(scan: Scan, t: Topology, hosts: readonly HostState[]): InfeasibleReason[] {
  const reasons: InfeasibleReason[] = [];
  if (scan.usable === 0) {
    reasons.push({ scope: 'cloud', resource: 'hosts', subject: null, needed: 1, available: 0, message: 'no usable host: every host is down, disabled or outside the requested AZ' });
    return reasons;
  }
  HOST_RESOURCES.forEach((r, ri) => {
    const need = val(t.total, ri);
    const free = val(scan.cloudFree, ri);
    if (need > free) {
      reasons.push({
        scope: 'cloud',
        resource: RESOURCE_NAME[r],
        subject: null,
        needed: need,
        available: free,
        message: `the topology needs ${formatAmount(r, need)}; all ${plural(scan.usable, 'usable host')} together have ${formatCount(free)} free`,
      });
    }
  });
  reasons.push(...unplaceableUnits(t, hosts));
  return reasons;
}

/** Units that fit on no usable host even alone (AZ, max_unit or free capacity): named so the flavor can be fixed. */
function unplaceableUnits(t: Topology, hosts: readonly HostState[]): InfeasibleReason[] {
  const reasons: InfeasibleReason[] = [];
  const seenFlavorZone = new Map<string, boolean>();
  t.units.forEach((unit, u) => {
    const key = `${unit.flavor.vcpus}/${unit.flavor.ramMb}/${unit.flavor.diskGb}@${unit.availabilityZone ?? ''}`;
    let fits = seenFlavorZone.get(key);
    if (fits === undefined) {
      fits = hosts.some(
        (h) =>
          h.up &&
          h.enabled &&
          zoneAllows(unit, h) &&
          HOST_RESOURCES.every((r, ri) => {
            const need = val(t.need, u * 3 + ri);
            return need <= h[r].maxUnit && need <= freeOf(h[r]);
          }),
      );
      seenFlavorZone.set(key, fits);
    }
    if (!fits) {
      const where = unit.availabilityZone === undefined ? '' : ` in AZ "${unit.availabilityZone}"`;
      reasons.push({
        scope: 'cloud',
        resource: 'hosts',
        subject: unit.id,
        needed: 1,
        available: 0,
        message: `${unit.id} (${unit.flavor.name}: ${unit.flavor.vcpus} vCPU, ${unit.flavor.ramMb} MiB RAM, ${unit.flavor.diskGb} GiB disk) fits on no usable host${where}: each is short of free capacity or max_unit`,
      });
    }
  });
  return reasons;
}

/** Per-host, per-resource reasons for the hosts that came closest to holding everything. */
function nearMissReasons(scan: Scan, t: Topology): InfeasibleReason[] {
  const reasons: InfeasibleReason[] = [];
  for (const v of scan.pool.slice(0, DESCRIBED_HOSTS)) {
    HOST_RESOURCES.forEach((r, ri) => {
      const need = val(t.total, ri);
      const free = Math.max(0, val(v.free, ri));
      if (need > free) {
        reasons.push({
          scope: 'host',
          resource: RESOURCE_NAME[r],
          subject: v.host.name,
          needed: need,
          available: free,
          message: `${v.host.name}: needs ${formatAmount(r, need)}, ${formatCount(free)} free`,
        });
      }
      const limit = val(v.maxUnit, ri);
      t.units.forEach((unit, u) => {
        const one = val(t.need, u * 3 + ri);
        if (one > limit) {
          reasons.push({
            scope: 'host',
            resource: RESOURCE_NAME[r],
            subject: unit.id,
            needed: one,
            available: limit,
            message: `${v.host.name}: ${unit.id} needs ${formatAmount(r, one)} > max_unit ${formatCount(limit)}`,
          });
        }
      });
    });
  }
  return reasons;
}

function noSingleHostStep(scan: Scan, t: Topology): string {
  const short = HOST_RESOURCES.flatMap((r, ri) =>
    val(scan.maxFree, ri) < val(t.total, ri) ? [`largest free ${formatAmount(r, val(scan.maxFree, ri))} < ${formatCount(val(t.total, ri))} needed`] : [],
  );
  const why = t.singleZone === null ? 'the units ask for different AZs' : short.length > 0 ? short.join('; ') : 'each host is short of one resource or max_unit';
  return `single host: none of ${plural(scan.usable, 'usable host')} holds the whole topology (${why})`;
}

function singleHostInfeasible(ctx: Context, scan: Scan): InfeasiblePlan {
  const { req, t, steps } = ctx;
  steps.push(noSingleHostStep(scan, t));
  const reasons = [...cloudReasons(scan, t, req.hosts)];
  if (scan.usable > 0) {
    HOST_RESOURCES.forEach((r, ri) => {
      const need = val(t.total, ri);
      const largest = val(scan.maxFree, ri);
      if (need > largest && need <= val(scan.cloudFree, ri)) {
        reasons.push({
          scope: 'cloud',
          resource: RESOURCE_NAME[r],
          subject: null,
          needed: need,
          available: largest,
          message: `no usable host has ${formatAmount(r, need)} free; the largest has ${formatCount(largest)}`,
        });
      }
    });
  }
  reasons.push(...nearMissReasons(scan, t));
  if (t.singleZone === null) {
    reasons.push({ scope: 'cloud', resource: 'hosts', subject: null, needed: 1, available: 0, message: `the units ask for different AZs (${[...t.zones].join(', ')}): no single host can hold them all` });
  } else if (reasons.length === 0) {
    reasons.push({ scope: 'cloud', resource: 'hosts', subject: null, needed: 1, available: 0, message: 'no usable host holds the whole topology' });
  }
  const rejected = [...scan.pool.slice(0, DESCRIBED_HOSTS).map((v) => decision(v.host.name, singleHostShortfall(v, t))), ...ineligibleDecisions(scan, t)];
  return infeasible(req.strategy, reasons, explanation(`no single host can hold the topology (${plural(t.n, 'unit')})`, steps, [], rejected));
}

function splitPlan(ctx: Context, scan: Scan, outcome: SplitOutcome, poolSize: number): PlacementPlan {
  const { req, t, steps } = ctx;
  const plan = outcome.plan;
  if (!plan) return splitInfeasible(ctx, scan, outcome, poolSize);
  const assignments: Record<string, string | null> = {};
  const unitsOn: number[][] = plan.hosts.map(() => []);
  t.units.forEach((unit, u) => {
    const j = val(plan.assign, u);
    assignments[unit.id] = plan.hosts[j]?.host.name ?? null;
    unitsOn[j]?.push(u);
  });
  const order = plan.hosts.map((_, j) => j).sort((a, b) => ((plan.hosts[a]?.host.name ?? '') < (plan.hosts[b]?.host.name ?? '') ? -1 : 1));
  const uplinkBps: Record<string, number> = {};
  const chosen: HostDecision[] = order.map((j) => {
    const view = plan.hosts[j] as HostView;
    const added = val(plan.upLoad, j);
    uplinkBps[view.host.name] = added;
    return decision(view.host.name, [holdsSentence(t, unitsOn[j] ?? [], view), uplinkSentence(view.host, added)]);
  });
  const names = order.map((j) => plan.hosts[j]?.host.name ?? '');
  steps.push(
    `split: at least ${plural(outcome.kLow, 'host')} needed by free capacity of the ${plural(poolSize, 'candidate')}; ` +
      `tried up to ${plural(outcome.kTried, 'host')} over ${plural(outcome.subsets, 'host subset')}`,
  );
  steps.push(`split: ${plural(plan.hosts.length, 'host')} (${names.join(', ')}), ${formatBps(plan.cross)} guaranteed traffic crosses hosts, every uplink within capacity`);
  const chosenNames = new Set(names);
  const rejected: HostDecision[] = [];
  for (const v of scan.pool) {
    if (rejected.length >= DESCRIBED_HOSTS) break;
    if (chosenNames.has(v.host.name)) continue;
    rejected.push(decision(v.host.name, [...singleHostShortfall(v, t), headroomSentence(v.host), 'not used: the chosen hosts give the fewest hosts and the least crossing traffic found']));
  }
  rejected.push(...ineligibleDecisions(scan, t));
  return {
    feasible: true,
    strategy: req.strategy,
    assignments,
    hosts: names,
    crossHostBps: plan.cross,
    uplinkBps,
    explanation: explanation(
      `split over ${plural(names.length, 'host')} (${names.join(', ')}): no single host holds all ${plural(t.n, 'unit')}; ${formatBps(plan.cross)} guaranteed traffic crosses hosts`,
      steps,
      chosen,
      rejected,
    ),
  };
}

function splitInfeasible(ctx: Context, scan: Scan, outcome: SplitOutcome, poolSize: number): InfeasiblePlan {
  const { req, t, steps } = ctx;
  const reasons = cloudReasons(scan, t, req.hosts);
  const relaxed = outcome.relaxed;
  if (relaxed) {
    relaxed.hosts.forEach((view, j) => {
      const load = val(relaxed.upLoad, j);
      if (load > view.upFree) {
        const { capacityBps, committedBps } = view.host.uplink;
        reasons.push({
          scope: 'host',
          resource: 'uplink',
          subject: view.host.name,
          needed: committedBps + load,
          available: capacityBps,
          message: `${view.host.name}: the best split over ${plural(relaxed.hosts.length, 'host')} would put ${formatBps(load)} guaranteed on its uplink, ${formatBps(committedBps)} of ${formatBps(capacityBps)} already committed`,
        });
      }
    });
    reasons.push({
      scope: 'cloud',
      resource: 'uplink',
      subject: null,
      needed: relaxed.cross,
      available: 0,
      message: `the hosts have room, but every split tried (up to ${plural(outcome.kTried, 'host')}) over-commits an uplink with its ${formatBps(relaxed.cross)} or more of crossing guaranteed traffic`,
    });
  } else if (!reasons.some((r) => r.scope === 'cloud')) {
    reasons.push({
      scope: 'cloud',
      resource: 'hosts',
      subject: null,
      needed: outcome.kLow,
      available: poolSize,
      message: `no combination of up to ${plural(outcome.kTried, 'host')} among the ${plural(poolSize, 'candidate')} with the most room holds every unit (capacity, max_unit and AZ per unit)`,
    });
  }
  const stop = outcome.exhausted ? ', then stopped on the search budget' : '';
  if (outcome.kLow > outcome.kTried) {
    steps.push(`split: even all ${plural(poolSize, 'candidate')} with the most room together cannot hold the topology (free capacity or per-unit fit)`);
  } else steps.push(`split: tried ${plural(outcome.kLow, 'host')} up to ${plural(outcome.kTried, 'host')} over ${plural(outcome.subsets, 'host subset')} of ${plural(poolSize, 'candidate')}${stop}; none works`);
  const rejected = [
    ...scan.pool.slice(0, DESCRIBED_HOSTS).map((v) => decision(v.host.name, [...singleHostShortfall(v, t), headroomSentence(v.host)])),
    ...ineligibleDecisions(scan, t),
  ];
  return infeasible(req.strategy, reasons, explanation(`no placement: the topology (${plural(t.n, 'unit')}) fits neither on one host nor split`, steps, [], rejected));
}

function novaPlan(ctx: Context, scan: Scan): PlacementPlan {
  const { req, t, steps } = ctx;
  const reasons = cloudReasons(scan, t, req.hosts);
  const gaps = 'Nova schedules each VM on its own: no whole-topology (gang) check, so later units may fail with NoValidHost, and guaranteed traffic between hosts is ignored';
  if (reasons.length > 0) {
    steps.push('cloud check: the usable hosts cannot hold the topology');
    return infeasible(req.strategy, reasons, explanation('no placement: the cloud lacks room for the topology', steps, [], ineligibleDecisions(scan, t)));
  }
  steps.push(`cloud check: ${plural(scan.usable, 'usable host')} have enough free vCPU, RAM and disk in total, and every unit fits on some host alone`);
  steps.push(`placement left to Nova's scheduler: ${gaps}`);
  const assignments: Record<string, string | null> = {};
  for (const u of t.units) assignments[u.id] = null;
  return {
    feasible: true,
    strategy: req.strategy,
    assignments,
    hosts: [],
    crossHostBps: 0,
    uplinkBps: {},
    explanation: explanation(`Nova's scheduler decides where the ${plural(t.n, 'unit')} run (${gaps})`, steps, [], ineligibleDecisions(scan, t)),
  };
}

/** Options: `hostIndex` for callers that place several topologies on one snapshot; the rest are knobs for tests and benchmarks. */
export interface PlacementTuning {
  /**
   * false: no branch-and-bound over small splits, only construction and local
   * search (what large topologies get), so tests can check that part alone.
   * @default true
   */
  exactSmallSplits?: boolean;
  /**
   * `indexHosts(req.hosts)`, built once for this very array of hosts and
   * reused across requests: the plan is the same, without reading every host
   * on every request (host-index.ts). An index of another array, or of this
   * one before hosts were added or removed, is refused (Error).
   */
  hostIndex?: HostIndex;
  /** true: the host scan as it was before issue 14 (scan-reference.ts), the oracle the tests compare plans with. */
  referenceScan?: boolean;
}

export function placeTopology(req: PlacementRequest, tuning: PlacementTuning = {}): PlacementPlan {
  const index = tuning.hostIndex;
  if (index && !index.covers(req.hosts)) {
    throw new Error(`placement: the host index was built from another host list (${formatCount(index.size)} hosts) than this request's (${formatCount(req.hosts.length)})`);
  }
  const t = compileTopology(req.units, req.demands);
  const budget = tuning.exactSmallSplits === false ? { ...defaultBudget(t.n), exactNodes: 0 } : defaultBudget(t.n);
  const steps: string[] = [];
  const ctx: Context = { req, t, steps };
  const quota = checkQuota(t, req.quota);
  steps.push(quota.step);
  if (quota.reasons.length > 0) {
    return infeasible(req.strategy, quota.reasons, explanation(`over the tenant quota: ${quota.reasons.map((r) => r.resource).join(', ')}`, steps));
  }
  steps.push(topologySentence(t));
  if (t.n === 0) {
    return { feasible: true, strategy: req.strategy, assignments: {}, hosts: [], crossHostBps: 0, uplinkBps: {}, explanation: explanation('empty topology: nothing to place', steps) };
  }
  const scanWith = (limits: ScanLimits): Scan =>
    tuning.referenceScan === true ? scanHostsReference(req.hosts, t, limits) : (index?.scan(t, limits) ?? scanHosts(req.hosts, t, limits));
  let scan = scanWith(LIMITS);
  steps.push(scanStep(scan, t));
  if (req.strategy === 'nova') return novaPlan(ctx, scan);
  const best = scan.tightest[0];
  if (best) return singleHostPlan(ctx, scan, best);
  if (req.strategy === 'single-host') return singleHostInfeasible(ctx, scan);

  steps.push(noSingleHostStep(scan, t));
  let outcome = splitTopology(t, scan.pool, budget);
  if (!outcome.plan && !outcome.exhausted && scan.usable > scan.pool.length && scan.pool.length < WIDE_POOL) {
    steps.push(`split: nothing over the ${plural(scan.pool.length, 'candidate')}; widening to ${formatCount(WIDE_POOL)}`);
    scan = scanWith({ ...LIMITS, pool: WIDE_POOL });
    outcome = splitTopology(t, scan.pool, budget);
  }
  return splitPlan(ctx, scan, outcome, scan.pool.length);
}
