/**
 * The faster host scans against the scan as it was before issue 14
 * (scan-reference.ts): the indexed scan (host-index.ts) and the plain pass
 * (scan.ts) must return the very same Scan — counts, sums, the same hosts in
 * the same order — and placement the very same plan, on seeded random clouds
 * built to produce ties (few distinct amounts, names not in input order),
 * AZ pins, down/disabled hosts, negative free amounts and small `max_unit`s;
 * and, in about one cloud in ten, two hosts of one name, which the index must
 * decline (placement then scans the hosts, and the plan must not change).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { indexHosts } from './host-index.ts';
import { placeTopology } from './index.ts';
import { prng } from './random-instances.ts';
import { scanHosts, type ScanLimits } from './scan.ts';
import { scanHostsReference } from './scan-reference.ts';
import { compileTopology } from './topology.ts';
import type { Flavor, HostState, Inventory, PlacementPlan, PlacementRequest, PlacementUnit, TrafficDemand } from './types.ts';

const MBIT = 1_000_000;
const GBIT = 1_000_000_000;
const LIMITS: ScanLimits = { pool: 24, tightest: 4, ineligible: 6 };

type Rnd = () => number;
const int = (rnd: Rnd, lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
const pick = <T>(rnd: Rnd, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;

const FLAVORS: readonly Flavor[] = [
  { name: 'tiny', vcpus: 1, ramMb: 512, diskGb: 1 },
  { name: 'small', vcpus: 1, ramMb: 2048, diskGb: 20 },
  { name: 'medium', vcpus: 2, ramMb: 4096, diskGb: 40 },
  { name: 'cpu', vcpus: 4, ramMb: 2048, diskGb: 10 },
  { name: 'large', vcpus: 4, ramMb: 8192, diskGb: 80 },
  { name: 'diskless', vcpus: 2, ramMb: 1024, diskGb: 0 },
  { name: 'half', vcpus: 0.5, ramMb: 256, diskGb: 1 },
];

/** A cloud of `count` hosts whose amounts come from short lists, so that shares and scores tie often. */
function randomHosts(rnd: Rnd, count: number, zones: readonly string[], scale = 1): HostState[] {
  const inventory = (sizes: readonly number[], ratios: readonly number[]): Inventory => {
    const total = pick(rnd, sizes);
    const reserved = rnd() < 0.2 ? pick(rnd, [0, 1, 2, 512]) : 0;
    const allocationRatio = pick(rnd, ratios);
    const capacity = Math.floor((total - reserved) * allocationRatio);
    // Mostly a few coarse levels of usage; sometimes over capacity (a ratio lowered under allocations).
    const used = rnd() < 0.1 ? capacity + int(rnd, 1, 4) : Math.floor(capacity * pick(rnd, [0, 0, 0.25, 0.5, 0.75, 1, rnd()]));
    const maxUnit = rnd() < 0.08 ? pick(rnd, [1, 2, 1024]) : total;
    return { total, reserved, allocationRatio, maxUnit, used };
  };
  const hosts: HostState[] = Array.from({ length: count }, (_, i) => ({
    name: `host-${String(i).padStart(5, '0')}`,
    availabilityZone: pick(rnd, zones),
    up: rnd() > 0.05,
    enabled: rnd() > 0.04,
    vcpu: inventory([4, 8, 16].map((x) => x * scale), [1, 2, 4]),
    ramMb: inventory([8192, 16384, 32768].map((x) => x * scale), [1, 1.5]),
    diskGb: inventory([100, 200, 1000].map((x) => x * scale), [1]),
    uplink: { capacityBps: pick(rnd, [GBIT, 10 * GBIT]), committedBps: pick(rnd, [0, 0, 500, 900]) * MBIT },
  }));
  // Input order ≠ name order, so that ties are broken by name, not by position.
  for (let i = hosts.length - 1; i > 0; i--) {
    const j = int(rnd, 0, i);
    [hosts[i], hosts[j]] = [hosts[j] as HostState, hosts[i] as HostState];
  }
  return hosts;
}

function randomTopology(rnd: Rnd, zones: readonly string[], units: readonly [number, number] = [1, 12]): { units: PlacementUnit[]; demands: TrafficDemand[] } {
  const n = int(rnd, units[0], units[1]);
  // none: no AZ; one: some units pinned to one AZ; all: every unit pinned (maybe to several, or to an AZ no host is in).
  const pinning = pick(rnd, ['none', 'none', 'one', 'all'] as const);
  const zoneA = pick(rnd, zones);
  const choices = [...zones, 'nowhere'];
  const list = Array.from({ length: n }, (_, i): PlacementUnit => {
    const u: PlacementUnit = { id: `u${i}`, serviceInstance: `s${i % 3}`, flavor: pick(rnd, FLAVORS), sla: { className: 'Gold', minBps: 0, maxBps: GBIT } };
    if (pinning === 'one' && rnd() < 0.5) u.availabilityZone = zoneA;
    if (pinning === 'all') u.availabilityZone = rnd() < 0.7 ? zoneA : pick(rnd, choices);
    return u;
  });
  const demands: TrafficDemand[] = [];
  for (let a = 0; a < n; a++) {
    for (let b = a + 1; b < n; b++) if (rnd() < 0.3) demands.push({ a: `u${a}`, b: `u${b}`, guaranteedBps: pick(rnd, [10, 50, 100, 300]) * MBIT });
  }
  return { units: list, demands };
}

/**
 * In about one cloud in ten, 1–3 hosts take the name of another host (an
 * inventory read while a host was renamed or re-registered): the index must
 * decline those clouds and placement must give the plain pass's plan. Drawn
 * from a generator of its own so that the rest of each seeded case stays as it was.
 */
function withDuplicateNames(seed: number, hosts: HostState[]): HostState[] {
  const rnd = prng(seed ^ 0x5bd1e995);
  if (hosts.length < 2 || rnd() >= 0.1) return hosts;
  const out = [...hosts];
  for (let n = int(rnd, 1, 3); n > 0; n--) {
    const from = int(rnd, 0, out.length - 1);
    const to = int(rnd, 0, out.length - 1);
    if (from !== to) out[to] = { ...(out[to] as HostState), name: (out[from] as HostState).name };
  }
  return out;
}

function hasDuplicateNames(hosts: readonly HostState[]): boolean {
  return new Set(hosts.map((h) => h.name)).size !== hosts.length;
}

function randomCase(seed: number, maxHosts: number, units?: readonly [number, number], scale = 1): { hosts: HostState[]; units: PlacementUnit[]; demands: TrafficDemand[] } {
  const rnd = prng(seed);
  const zones = pick(rnd, [['nova'], ['nova'], ['az1', 'az2'], ['az1', 'az2', 'az3']]);
  const hosts = randomHosts(rnd, int(rnd, 0, maxHosts), zones, scale);
  return { hosts: withDuplicateNames(seed, hosts), ...randomTopology(rnd, zones, units) };
}

/** The plan with the index, with the plain pass and with the reference scan: all three must be equal. */
function samePlans(req: PlacementRequest, label: string): PlacementPlan {
  const reference = placeTopology(req, { referenceScan: true });
  const index = indexHosts(req.hosts);
  // Declined only for two hosts of one name (the random clouds' amounts are safe integers).
  assert.equal(index.unsupported !== undefined, hasDuplicateNames(req.hosts), `${label}: ${index.unsupported ?? 'indexed'}`);
  const withIndex = placeTopology(req, { hostIndex: index });
  if (reference.feasible && withIndex.feasible) {
    assert.deepEqual(withIndex.hosts, reference.hosts, `${label}: hosts`);
    assert.equal(withIndex.crossHostBps, reference.crossHostBps, `${label}: cut`);
  }
  assert.deepEqual(withIndex, reference, `${label}: indexed plan`);
  assert.deepEqual(placeTopology(req), reference, `${label}: plain plan`);
  return reference;
}

describe('host index: the indexed scan equals the reference scan', () => {
  it('on 1500 random clouds (0–400 hosts) with random limits, and so does the plain pass', () => {
    let indexed = 0;
    let declined = 0;
    let withPins = 0;
    let fitting = 0;
    let offHosts = 0;
    for (let seed = 1; seed <= 1500; seed++) {
      const c = randomCase(seed, 400);
      const rnd = prng(seed * 7919);
      const limits: ScanLimits = { pool: pick(rnd, [0, 1, 3, 24, 24, 96]), tightest: pick(rnd, [0, 1, 4, 4]), ineligible: pick(rnd, [0, 1, 6, 6]) };
      const t = compileTopology(c.units, c.demands);
      const reference = scanHostsReference(c.hosts, t, limits);
      assert.deepEqual(scanHosts(c.hosts, t, limits), reference, `seed ${seed}: plain pass`);
      const index = indexHosts(c.hosts);
      const got = index.scan(t, limits);
      if (hasDuplicateNames(c.hosts)) {
        assert.match(index.unsupported ?? '', /two hosts are named/, `seed ${seed}`);
        assert.equal(got, undefined, `seed ${seed}: the index answered for a cloud with two hosts of one name`);
        declined++;
        continue;
      }
      assert.equal(index.unsupported, undefined, `seed ${seed}`);
      assert.ok(got, `seed ${seed}: the index declined a topology that needs something`);
      assert.deepEqual(got, reference, `seed ${seed}: indexed scan`);
      indexed++;
      if (!t.anyZone) withPins++;
      if (reference.fitting > 0) fitting++;
      if (reference.down > 0 && reference.disabled > 0) offHosts++;
    }
    // The cases must cover what they are for.
    assert.equal(indexed + declined, 1500);
    assert.ok(declined > 80, `only ${declined} clouds with two hosts of one name`);
    assert.ok(withPins > 200, `only ${withPins} clouds with every unit pinned`);
    assert.ok(fitting > 300, `only ${fitting} clouds where a host holds everything`);
    assert.ok(offHosts > 1000, `only ${offHosts} clouds with both down and disabled hosts`);
  });

  it('on 20 larger clouds (up to 20 000 hosts), where the threshold walk stops early', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const c = randomCase(10_000 + seed, 20_000);
      const t = compileTopology(c.units, c.demands);
      const index = indexHosts(c.hosts);
      for (const limits of [LIMITS, { ...LIMITS, pool: 96 }]) {
        const expected = hasDuplicateNames(c.hosts) ? undefined : scanHostsReference(c.hosts, t, limits);
        assert.deepEqual(index.scan(t, limits), expected, `seed ${seed}, pool ${limits.pool}`);
      }
    }
  });

  it('on identical hosts (every share ties: the pool is the first hosts by name)', () => {
    const rnd = prng(7);
    const one = randomHosts(rnd, 1, ['nova'])[0] as HostState;
    const hosts = Array.from({ length: 5000 }, (_, i) => ({ ...one, up: true, enabled: true, name: `c${String((i * 7919) % 5000).padStart(4, '0')}` }));
    const t = compileTopology([{ id: 'a', serviceInstance: 'a', flavor: FLAVORS[0] as Flavor, sla: { className: 'Gold', minBps: 0, maxBps: GBIT } }], []);
    const got = indexHosts(hosts).scan(t, LIMITS);
    assert.deepEqual(got, scanHostsReference(hosts, t, LIMITS));
    assert.deepEqual(
      got.pool.map((v) => v.host.name),
      Array.from({ length: 24 }, (_, i) => `c${String(i).padStart(4, '0')}`),
    );
  });
});

describe('host index: shares that tie across different free amounts', () => {
  it('are read past the first run of equal amounts (demands so small that every share is Infinity)', () => {
    // free ÷ 1e-310 overflows: hosts with 1 or 100 free vCPU have the same share, so the walk must not
    // stop after the hosts with the most free vCPU, whose names come last.
    const speck: Flavor = { name: 'speck', vcpus: 1e-310, ramMb: 1e-310, diskGb: 1e-310 };
    const t = compileTopology([{ id: 's', serviceInstance: 's', flavor: speck, sla: { className: 'Gold', minBps: 0, maxBps: GBIT } }], []);
    for (let seed = 1; seed <= 50; seed++) {
      const hosts = randomHosts(prng(seed), 200, ['nova']);
      assert.deepEqual(indexHosts(hosts).scan(t, LIMITS), scanHostsReference(hosts, t, LIMITS), `seed ${seed}`);
    }
  });
});

describe('host index: huge free amounts', () => {
  it('are ordered without packing them with the host position (2⁴⁹ GiB of disk on a few hosts)', () => {
    const one: Flavor = FLAVORS[1] as Flavor;
    const t = compileTopology([0, 1, 2].map((i): PlacementUnit => ({ id: `u${i}`, serviceInstance: 'u', flavor: one, sla: { className: 'Gold', minBps: 0, maxBps: GBIT } })), []);
    for (let seed = 1; seed <= 30; seed++) {
      const rnd = prng(seed);
      const hosts = randomHosts(rnd, 300, ['nova', 'az1']).map((h, i) =>
        i % 50 === 7 ? { ...h, diskGb: { total: 2 ** 49 - int(rnd, 0, 3), reserved: 0, allocationRatio: 1, maxUnit: 2 ** 49, used: 0 } } : h,
      );
      const index = indexHosts(hosts);
      assert.equal(index.unsupported, undefined, `seed ${seed}`);
      for (const limits of [LIMITS, { pool: 96, tightest: 10, ineligible: 6 }]) {
        assert.deepEqual(index.scan(t, limits), scanHostsReference(hosts, t, limits), `seed ${seed}`);
      }
    }
  });
});

describe('host index: placement plans', () => {
  // Seeds past 150 include a small infeasible request on which the split search runs for
  // seconds (its node budget, not the scan): kept out so that the suite stays quick.
  it('are the same with the index, the plain pass and the reference scan on 150 random requests of 1–12 units (same hosts, same cut)', () => {
    let splits = 0;
    let feasible = 0;
    let duplicates = 0;
    for (let seed = 1; seed <= 150; seed++) {
      const c = randomCase(50_000 + seed, 300);
      const plan = samePlans({ ...c, strategy: pick(prng(seed), ['traffic-aware', 'traffic-aware', 'single-host', 'nova'] as const) }, `seed ${seed}`);
      if (plan.feasible) feasible++;
      if (plan.feasible && plan.hosts.length > 1) splits++;
      if (hasDuplicateNames(c.hosts)) duplicates++;
    }
    assert.ok(feasible > 50, `only ${feasible} feasible plans`);
    assert.ok(splits > 15, `only ${splits} splits`);
    assert.ok(duplicates >= 5, `only ${duplicates} requests with two hosts of one name`);
  });

  it('are the same on 20 random requests of 17–50 units over up to 2000 hosts of twice the size', () => {
    let splits = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const plan = samePlans({ ...randomCase(60_000 + seed, 2000, [17, 50], 2), strategy: 'traffic-aware' }, `seed ${seed}`);
      if (plan.feasible && plan.hosts.length > 1) splits++;
    }
    assert.ok(splits >= 5, `only ${splits} splits`);
  });

  it('is the same when a split needs the wide pool (96 candidates)', () => {
    // 120 hosts with room for one 1-vCPU unit each: the 24 candidates cannot hold 40 units, 96 can.
    const hosts: HostState[] = Array.from({ length: 120 }, (_, i) => {
      const cpus = 1;
      const inv = (total: number): Inventory => ({ total, reserved: 0, allocationRatio: 1, maxUnit: total, used: 0 });
      return {
        name: `n${String((i * 37) % 120).padStart(3, '0')}`,
        availabilityZone: 'nova',
        up: true,
        enabled: true,
        vcpu: inv(cpus),
        ramMb: inv(4096),
        diskGb: inv(100),
        uplink: { capacityBps: 10 * GBIT, committedBps: 0 },
      };
    });
    const units = Array.from({ length: 40 }, (_, i): PlacementUnit => ({ id: `u${i}`, serviceInstance: 's', flavor: FLAVORS[0] as Flavor, sla: { className: 'Gold', minBps: 0, maxBps: GBIT } }));
    const req: PlacementRequest = { units, demands: [], hosts, strategy: 'traffic-aware' };
    const reference = placeTopology(req, { referenceScan: true });
    assert.ok(reference.explanation.steps.some((s) => s.includes('widening to 96')), reference.explanation.steps.join('\n'));
    assert.deepEqual(placeTopology(req, { hostIndex: indexHosts(hosts) }), reference);
  });
});

describe('host index: where it cannot stand in, placement scans the hosts', () => {
  const base = (): HostState[] => randomHosts(prng(3), 50, ['nova']);
  const topo = randomTopology(prng(4), ['nova']);

  it('two hosts with one name', () => {
    const hosts = base();
    hosts.push({ ...(hosts[0] as HostState) });
    const index = indexHosts(hosts);
    assert.match(index.unsupported ?? '', /two hosts are named/);
    const t = compileTopology(topo.units, topo.demands);
    assert.equal(index.scan(t, LIMITS), undefined);
    const req: PlacementRequest = { ...topo, hosts, strategy: 'traffic-aware' };
    assert.deepEqual(placeTopology(req, { hostIndex: index }), placeTopology(req, { referenceScan: true }));
  });

  it('a free amount that is not an integer', () => {
    const hosts = base();
    const h = hosts[5] as HostState;
    hosts[5] = { ...h, ramMb: { ...h.ramMb, used: 100.5 } };
    const index = indexHosts(hosts);
    assert.match(index.unsupported ?? '', /not a safe integer/);
    const req: PlacementRequest = { ...topo, hosts, strategy: 'traffic-aware' };
    assert.deepEqual(placeTopology(req, { hostIndex: index }), placeTopology(req, { referenceScan: true }));
  });

  it('a topology that needs no vCPU, RAM or disk', () => {
    const hosts = base();
    const zero: Flavor = { name: 'zero', vcpus: 0, ramMb: 0, diskGb: 0 };
    const units = [0, 1].map((i): PlacementUnit => ({ id: `z${i}`, serviceInstance: 'z', flavor: zero, sla: { className: 'Gold', minBps: 0, maxBps: GBIT } }));
    const index = indexHosts(hosts);
    assert.equal(index.unsupported, undefined);
    assert.equal(index.scan(compileTopology(units, []), LIMITS), undefined);
    const req: PlacementRequest = { units, demands: [], hosts, strategy: 'traffic-aware' };
    assert.deepEqual(placeTopology(req, { hostIndex: index }), placeTopology(req, { referenceScan: true }));
  });
});

describe('host index: a request on other hosts is refused', () => {
  const topo = randomTopology(prng(5), ['nova']);

  it('when the index was built from another array, even an equal one', () => {
    const hosts = randomHosts(prng(6), 30, ['nova']);
    const index = indexHosts(hosts);
    assert.throws(() => placeTopology({ ...topo, hosts: [...hosts], strategy: 'traffic-aware' }, { hostIndex: index }), /built from another host list/);
    assert.doesNotThrow(() => placeTopology({ ...topo, hosts, strategy: 'traffic-aware' }, { hostIndex: index }));
  });

  it('when hosts were added to the array after indexing', () => {
    const hosts = randomHosts(prng(8), 30, ['nova']);
    const index = indexHosts(hosts);
    hosts.push(...randomHosts(prng(9), 1, ['nova']).map((h) => ({ ...h, name: 'late' })));
    assert.throws(() => placeTopology({ ...topo, hosts, strategy: 'traffic-aware' }, { hostIndex: index }), /30 hosts.*31/);
  });
});
