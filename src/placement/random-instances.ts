/**
 * Seeded random small placement requests (≤ 8 units, ≤ 5 hosts) and an
 * independent plan validator, shared by the property test and the
 * `placement-quality` benchmark so that both judge the heuristic on exactly
 * the same instances. Pure: the same seed always gives the same request.
 * Instances are sized so that a large share needs a split, and small enough
 * for `solveExhaustive`.
 */
import type { Flavor, HostState, Inventory, PlacementPlan, PlacementRequest, PlacementUnit, TrafficDemand } from './types.ts';

const MBIT = 1_000_000;
const GBIT = 1_000_000_000;

/** mulberry32: tiny, seedable, good enough to spread test instances. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomInstance(seed: number): PlacementRequest {
  const rnd = prng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const zoned = rnd() < 0.15;

  const flavors: Flavor[] = [
    { name: 'tiny', vcpus: 1, ramMb: 512, diskGb: 1 },
    { name: 'small', vcpus: 1, ramMb: 2048, diskGb: 10 },
    { name: 'medium', vcpus: 2, ramMb: 4096, diskGb: 20 },
    { name: 'cpu', vcpus: 4, ramMb: 2048, diskGb: 10 },
    { name: 'large', vcpus: 4, ramMb: 8192, diskGb: 40 },
  ];
  const nUnits = int(2, 8);
  const units: PlacementUnit[] = Array.from({ length: nUnits }, (_, i) => {
    const u: PlacementUnit = { id: `u${i}`, serviceInstance: `s${i % 3}`, flavor: pick(flavors), sla: { className: 'Gold', minBps: 0, maxBps: GBIT } };
    if (zoned && rnd() < 0.5) u.availabilityZone = 'az1';
    return u;
  });
  const total = [0, 0, 0];
  const biggest = [0, 0, 0];
  for (const u of units) {
    [u.flavor.vcpus, u.flavor.ramMb, u.flavor.diskGb].forEach((d, r) => {
      total[r] = (total[r] ?? 0) + d;
      biggest[r] = Math.max(biggest[r] ?? 0, d);
    });
  }

  const nHosts = int(2, 5);
  const hosts: HostState[] = Array.from({ length: nHosts }, (_, j) => {
    // Each host offers 30–120 % of the topology's demand, so one host often is not enough.
    const inventory = (r: number, ratios: readonly number[]): Inventory => {
      const ratio = pick(ratios);
      const capacity = Math.max(biggest[r] ?? 1, Math.round((total[r] ?? 1) * (0.3 + rnd() * 0.9)));
      const reserved = rnd() < 0.2 ? int(0, 2) : 0;
      const hostTotal = Math.ceil(capacity / ratio) + reserved;
      const used = rnd() < 0.3 ? int(0, Math.floor(capacity / 4)) : 0;
      const maxUnit = rnd() < 0.05 ? Math.max(1, (biggest[r] ?? 1) - 1) : hostTotal;
      return { total: hostTotal, reserved, allocationRatio: ratio, maxUnit, used };
    };
    return {
      name: `h${j}`,
      availabilityZone: zoned ? pick(['az1', 'az2']) : 'nova',
      up: rnd() > 0.05,
      enabled: rnd() > 0.05,
      vcpu: inventory(0, [1, 2, 4]),
      ramMb: inventory(1, [1, 1.5]),
      diskGb: inventory(2, [1]),
      uplink: { capacityBps: pick([GBIT, GBIT, 10 * GBIT]), committedBps: pick([0, 0, 0, 500, 800, 900].map((m) => m * MBIT)) },
    };
  });

  const demands: TrafficDemand[] = [];
  for (let a = 0; a < nUnits; a++) {
    for (let b = a + 1; b < nUnits; b++) {
      if (rnd() < 0.35) demands.push({ a: `u${a}`, b: `u${b}`, guaranteedBps: pick([10, 50, 100, 200, 300]) * MBIT });
    }
  }
  return { units, demands, hosts, strategy: 'traffic-aware' };
}

/** Checks a plan against the request from first principles (shares no code with the engine). */
export function planViolations(req: PlacementRequest, plan: Extract<PlacementPlan, { feasible: true }>): string[] {
  const out: string[] = [];
  const byName = new Map(req.hosts.map((h) => [h.name, h]));
  const cap = (i: Inventory): number => Math.floor((i.total - i.reserved) * i.allocationRatio) - i.used;
  const load = new Map<string, number[]>();
  for (const u of req.units) {
    const name = plan.assignments[u.id];
    const h = name == null ? undefined : byName.get(name);
    if (!h) {
      out.push(`${u.id} unassigned or on an unknown host`);
      continue;
    }
    if (!h.up || !h.enabled) out.push(`${u.id} on ${h.name}, which is down or disabled`);
    if (u.availabilityZone !== undefined && u.availabilityZone !== h.availabilityZone) out.push(`${u.id} outside its AZ`);
    const need = [u.flavor.vcpus, u.flavor.ramMb, u.flavor.diskGb];
    const limits = [h.vcpu.maxUnit, h.ramMb.maxUnit, h.diskGb.maxUnit];
    need.forEach((d, r) => {
      if (d > (limits[r] ?? 0)) out.push(`${u.id} over max_unit on ${h.name}`);
    });
    const sum = load.get(h.name) ?? [0, 0, 0];
    load.set(h.name, sum.map((s, r) => s + (need[r] ?? 0)));
  }
  for (const [name, sum] of load) {
    const h = byName.get(name);
    if (!h) continue;
    [h.vcpu, h.ramMb, h.diskGb].forEach((inv, r) => {
      if ((sum[r] ?? 0) > cap(inv)) out.push(`${name} over capacity in resource ${r}`);
    });
  }
  const crossing = new Map<string, number>();
  let cross = 0;
  for (const d of req.demands) {
    const ha = plan.assignments[d.a];
    const hb = plan.assignments[d.b];
    if (ha == null || hb == null || ha === hb) continue;
    cross += d.guaranteedBps;
    crossing.set(ha, (crossing.get(ha) ?? 0) + d.guaranteedBps);
    crossing.set(hb, (crossing.get(hb) ?? 0) + d.guaranteedBps);
  }
  for (const [name, bps] of crossing) {
    const h = byName.get(name);
    if (h && h.uplink.committedBps + bps > h.uplink.capacityBps) out.push(`${name} uplink over: +${bps}`);
    if ((plan.uplinkBps[name] ?? -1) !== bps) out.push(`uplinkBps[${name}] = ${plan.uplinkBps[name]}, expected ${bps}`);
  }
  if (plan.crossHostBps !== cross) out.push(`crossHostBps ${plan.crossHostBps}, expected ${cross}`);
  const used = [...load.keys()].sort();
  if (JSON.stringify(plan.hosts) !== JSON.stringify(used)) out.push(`hosts ${plan.hosts.join(',')} ≠ used ${used.join(',')}`);
  return out;
}
