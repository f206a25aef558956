/**
 * Exact reference for small requests (tests, benchmarks of the heuristic's
 * quality): every assignment of units to usable hosts, optimum =
 * (fewest hosts used, then least guaranteed traffic crossing hosts) under
 * capacity, per-VM max_unit, AZ and uplink constraints. Deliberately written
 * apart from the heuristic so that it checks it rather than repeats it.
 */
import { freeOf, uplinkFree } from './capacity.ts';
import { formatBps, plural } from './format.ts';
import { bump, val } from './num.ts';
import { checkQuota } from './quota.ts';
import { compileTopology } from './topology.ts';
import type { PlacementPlan, PlacementRequest } from './types.ts';

/** 5 hosts ^ 8 units: beyond this enumeration stops being a test helper. */
const MAX_LEAVES = 5 ** 8;

export function solveExhaustive(req: PlacementRequest): PlacementPlan {
  const t = compileTopology(req.units, req.demands);
  const quota = checkQuota(t, req.quota);
  const steps = [quota.step, 'exhaustive: every assignment of units to usable hosts'];
  if (quota.reasons.length > 0) {
    return { feasible: false, strategy: req.strategy, reasons: quota.reasons, explanation: { summary: 'over the tenant quota', chosen: [], rejected: [], steps } };
  }
  const hosts = req.hosts.filter((h) => h.up && h.enabled).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const n = t.units.length;
  const k = hosts.length;
  if (k ** n > MAX_LEAVES) throw new RangeError(`solveExhaustive: ${k} hosts ^ ${n} units is too many assignments to enumerate`);

  // Flat arrays: host j, resource r at j * 3 + r; unit u likewise.
  const free = new Float64Array(k * 3);
  const maxUnit = new Float64Array(k * 3);
  const room = new Float64Array(k);
  hosts.forEach((h, j) => {
    [h.vcpu, h.ramMb, h.diskGb].forEach((inv, r) => {
      free[j * 3 + r] = freeOf(inv);
      maxUnit[j * 3 + r] = inv.maxUnit;
    });
    room[j] = uplinkFree(h);
  });
  const demand = new Float64Array(n * 3);
  t.units.forEach((u, i) => {
    demand.set([u.flavor.vcpus, u.flavor.ramMb, u.flavor.diskGb], i * 3);
  });
  const allowed = new Uint8Array(n * k);
  t.units.forEach((u, i) => {
    hosts.forEach((h, j) => {
      const zoneOk = u.availabilityZone === undefined || u.availabilityZone === h.availabilityZone;
      let ok = zoneOk;
      for (let r = 0; r < 3; r++) if (val(demand, i * 3 + r) > val(maxUnit, j * 3 + r)) ok = false;
      allowed[i * k + j] = ok ? 1 : 0;
    });
  });
  // Each unit's demands towards units enumerated before it.
  const earlier = t.units.map((_, u) => t.pairs.flatMap((p) => (p.b === u ? [{ other: p.a, bps: p.bps }] : p.a === u && p.b < u ? [{ other: p.b, bps: p.bps }] : [])));
  const used = new Float64Array(k * 3);
  const load = new Float64Array(k);
  const count = new Int32Array(k);
  const assign = new Int32Array(n).fill(-1);
  const added = new Float64Array(k);
  let bestHosts = Infinity;
  let bestCross = Infinity;
  let best: Int32Array | undefined;

  const visit = (u: number, cross: number, hostsUsed: number): void => {
    if (hostsUsed > bestHosts || (hostsUsed === bestHosts && cross >= bestCross)) return;
    if (u === n) {
      bestHosts = hostsUsed;
      bestCross = cross;
      best = assign.slice();
      return;
    }
    for (let j = 0; j < k; j++) {
      if (val(allowed, u * k + j) === 0) continue;
      let fits = true;
      for (let r = 0; r < 3; r++) if (val(used, j * 3 + r) + val(demand, u * 3 + r) > val(free, j * 3 + r)) fits = false;
      if (!fits) continue;
      // Demands towards units already placed elsewhere now cross both uplinks.
      added.fill(0);
      let crossAdded = 0;
      for (const { other, bps } of earlier[u] ?? []) {
        const c = val(assign, other);
        if (c === j) continue;
        crossAdded += bps;
        bump(added, j, bps);
        bump(added, c, bps);
      }
      let ok = true;
      for (let h = 0; h < k; h++) if (val(added, h) > 0 && val(load, h) + val(added, h) > val(room, h)) ok = false;
      if (!ok) continue;
      const mine = added.slice();
      for (let r = 0; r < 3; r++) bump(used, j * 3 + r, val(demand, u * 3 + r));
      for (let h = 0; h < k; h++) bump(load, h, val(mine, h));
      assign[u] = j;
      bump(count, j, 1);
      visit(u + 1, cross + crossAdded, hostsUsed + (val(count, j) === 1 ? 1 : 0));
      bump(count, j, -1);
      assign[u] = -1;
      for (let h = 0; h < k; h++) bump(load, h, -val(mine, h));
      for (let r = 0; r < 3; r++) bump(used, j * 3 + r, -val(demand, u * 3 + r));
    }
  };
  visit(0, 0, 0);

  if (!best) {
    return {
      feasible: false,
      strategy: req.strategy,
      reasons: [{ scope: 'cloud', resource: 'hosts', subject: null, needed: n, available: 0, message: `no assignment of ${plural(n, 'unit')} to ${plural(k, 'usable host')} respects capacity, max_unit, AZ and uplinks` }],
      explanation: { summary: 'exhaustive: infeasible', chosen: [], rejected: [], steps },
    };
  }
  const chosen = best;
  const hostOf = (u: number): string => hosts[val(chosen, u)]?.name ?? '?';
  const assignments: Record<string, string | null> = {};
  const uplinkBps: Record<string, number> = {};
  t.units.forEach((u, i) => {
    assignments[u.id] = hostOf(i);
    uplinkBps[hostOf(i)] = 0;
  });
  for (const p of t.pairs) {
    const ha = hostOf(p.a);
    const hb = hostOf(p.b);
    if (ha === hb) continue;
    uplinkBps[ha] = (uplinkBps[ha] ?? 0) + p.bps;
    uplinkBps[hb] = (uplinkBps[hb] ?? 0) + p.bps;
  }
  const names = Object.keys(uplinkBps).sort();
  return {
    feasible: true,
    strategy: req.strategy,
    assignments,
    hosts: names,
    crossHostBps: bestCross,
    uplinkBps,
    explanation: {
      summary: `exhaustive optimum: ${plural(bestHosts, 'host')}, ${formatBps(bestCross)} crossing`,
      chosen: names.map((host) => ({ host, reasons: ['part of the exhaustive optimum'] })),
      rejected: [],
      steps,
    },
  };
}
