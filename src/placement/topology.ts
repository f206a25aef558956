import { flavorDemand, HOST_RESOURCES } from './capacity.ts';
import { bump, val } from './num.ts';
import type { HostState, PlacementUnit, TrafficDemand } from './types.ts';

/** An undirected unit pair with its summed guaranteed rate (duplicate demands add up). */
export interface Pair {
  a: number;
  b: number;
  bps: number;
}

/**
 * The request's topology in index form. Units are sorted by id so that the
 * order in which a caller lists them never changes the plan.
 */
export interface Topology {
  units: readonly PlacementUnit[];
  n: number;
  /** n × 3, HOST_RESOURCES order. */
  need: Float64Array;
  total: [number, number, number];
  /** Largest single-unit demand per resource: what `max_unit` must admit. */
  maxNeed: [number, number, number];
  /** Unit whose demand is `maxNeed` (first by id), for explanations. */
  maxNeedUnit: [number, number, number];
  pairs: readonly Pair[];
  /** CSR adjacency over `pairs`. */
  adjStart: Int32Array;
  adjTo: Int32Array;
  adjBps: Float64Array;
  /** Σ guaranteed bps touching each unit. */
  weight: Float64Array;
  /** Every distinct AZ a unit asks for. */
  zones: ReadonlySet<string>;
  /** True when at least one unit may go to any AZ. */
  anyZone: boolean;
  /** The AZ every unit accepts on one host: undefined = any, null = units disagree. */
  singleZone: string | undefined | null;
  indexOf: ReadonlyMap<string, number>;
}

export function compileTopology(units: readonly PlacementUnit[], demands: readonly TrafficDemand[]): Topology {
  const sorted = [...units].sort((x, y) => (x.id < y.id ? -1 : x.id > y.id ? 1 : 0));
  const n = sorted.length;
  const indexOf = new Map<string, number>();
  sorted.forEach((u, i) => {
    if (indexOf.has(u.id)) throw new Error(`placement: unit id "${u.id}" appears twice`);
    indexOf.set(u.id, i);
  });
  const need = new Float64Array(n * 3);
  const total: [number, number, number] = [0, 0, 0];
  const maxNeed: [number, number, number] = [0, 0, 0];
  const maxNeedUnit: [number, number, number] = [0, 0, 0];
  const zones = new Set<string>();
  let anyZone = false;
  sorted.forEach((u, i) => {
    HOST_RESOURCES.forEach((r, ri) => {
      const d = flavorDemand(u.flavor, r);
      if (!Number.isFinite(d) || d < 0) throw new Error(`placement: unit "${u.id}" has an invalid ${r} demand ${d}`);
      need[i * 3 + ri] = d;
      total[ri] = val(total, ri) + d;
      if (d > val(maxNeed, ri)) {
        maxNeed[ri] = d;
        maxNeedUnit[ri] = i;
      }
    });
    if (u.availabilityZone === undefined) anyZone = true;
    else zones.add(u.availabilityZone);
  });
  const singleZone = zones.size > 1 ? null : zones.size === 1 ? [...zones][0] : undefined;

  const merged = new Map<number, number>();
  for (const d of demands) {
    const a = indexOf.get(d.a);
    const b = indexOf.get(d.b);
    if (a === undefined || b === undefined) throw new Error(`placement: demand ${d.a} ↔ ${d.b} names a unit that is not in the topology`);
    if (!Number.isFinite(d.guaranteedBps) || d.guaranteedBps < 0) throw new Error(`placement: demand ${d.a} ↔ ${d.b} has an invalid rate`);
    // Traffic a unit sends to itself never leaves the host.
    if (a === b || d.guaranteedBps === 0) continue;
    const key = a < b ? a * n + b : b * n + a;
    merged.set(key, (merged.get(key) ?? 0) + d.guaranteedBps);
  }
  const pairs: Pair[] = [...merged.entries()]
    .sort((x, y) => x[0] - y[0])
    .map(([key, bps]) => ({ a: Math.floor(key / n), b: key % n, bps }));

  const degree = new Int32Array(n);
  for (const p of pairs) {
    bump(degree, p.a, 1);
    bump(degree, p.b, 1);
  }
  const adjStart = new Int32Array(n + 1);
  for (let i = 0; i < n; i++) adjStart[i + 1] = val(adjStart, i) + val(degree, i);
  const fill = adjStart.slice(0, n);
  const adjTo = new Int32Array(pairs.length * 2);
  const adjBps = new Float64Array(pairs.length * 2);
  const weight = new Float64Array(n);
  for (const p of pairs) {
    const ia = val(fill, p.a);
    bump(fill, p.a, 1);
    adjTo[ia] = p.b;
    adjBps[ia] = p.bps;
    const ib = val(fill, p.b);
    bump(fill, p.b, 1);
    adjTo[ib] = p.a;
    adjBps[ib] = p.bps;
    bump(weight, p.a, p.bps);
    bump(weight, p.b, p.bps);
  }
  return { units: sorted, n, need, total, maxNeed, maxNeedUnit, pairs, adjStart, adjTo, adjBps, weight, zones, anyZone, singleZone, indexOf };
}

/** AZ rule of one unit on one host. */
export function zoneAllows(unit: PlacementUnit, host: HostState): boolean {
  return unit.availabilityZone === undefined || unit.availabilityZone === host.availabilityZone;
}
