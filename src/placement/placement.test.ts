import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBps, freeOf, hostCapacity, placeTopology, solveExhaustive, tightnessScore } from './index.ts';
import type { Flavor, HostState, Inventory, PlacementPlan, PlacementRequest, PlacementUnit, TenantQuota, TrafficDemand } from './types.ts';

const GBIT = 1_000_000_000;
const MBIT = 1_000_000;

function inv(total: number, o: Partial<Inventory> = {}): Inventory {
  return { total, reserved: 0, allocationRatio: 1, maxUnit: total, used: 0, ...o };
}

interface HostOpts {
  vcpu?: Partial<Inventory>;
  ram?: Partial<Inventory>;
  disk?: Partial<Inventory>;
  up?: boolean;
  enabled?: boolean;
  az?: string;
  uplinkBps?: number;
  committedBps?: number;
}

function host(name: string, vcpus: number, ramMb: number, o: HostOpts = {}): HostState {
  return {
    name,
    availabilityZone: o.az ?? 'nova',
    up: o.up ?? true,
    enabled: o.enabled ?? true,
    vcpu: inv(vcpus, o.vcpu),
    ramMb: inv(ramMb, o.ram),
    diskGb: inv(1000, o.disk),
    uplink: { capacityBps: o.uplinkBps ?? GBIT, committedBps: o.committedBps ?? 0 },
  };
}

const MINI: Flavor = { name: 'm1.mini', vcpus: 1, ramMb: 512, diskGb: 1 };
const GOLD = { className: 'Gold', minBps: 100 * MBIT, maxBps: 10 * GBIT };
const WHOLESALE = { className: 'Wholesale', minBps: 100 * MBIT, maxBps: GBIT };

function unit(id: string, flavor: Flavor = MINI, az?: string): PlacementUnit {
  const u: PlacementUnit = { id, serviceInstance: id.replace(/-\d+$/, ''), flavor, sla: WHOLESALE };
  if (az !== undefined) u.availabilityZone = az;
  return u;
}

function request(units: PlacementUnit[], hosts: HostState[], o: Partial<PlacementRequest> = {}): PlacementRequest {
  return { units, demands: [], hosts, strategy: 'traffic-aware', ...o };
}

function feasible(plan: PlacementPlan): Extract<PlacementPlan, { feasible: true }> {
  if (!plan.feasible) assert.fail(`expected a feasible plan, got: ${plan.reasons.map((r) => r.message).join('; ')}`);
  return plan;
}

function infeasible(plan: PlacementPlan): Extract<PlacementPlan, { feasible: false }> {
  if (plan.feasible) assert.fail(`expected an infeasible plan, got ${plan.explanation.summary}`);
  return plan;
}

/** The thesis test bed: Controller, Broker and three MediaServers of m1.mini. */
function thesisTopology(): { units: PlacementUnit[]; demands: TrafficDemand[] } {
  const units = [
    { ...unit('Controller-1'), sla: WHOLESALE },
    { ...unit('Broker-1'), sla: WHOLESALE },
    ...[1, 2, 3].map((i) => ({ ...unit(`MediaServer-${i}`), sla: GOLD })),
  ];
  const demands = [
    { a: 'Controller-1', b: 'Broker-1', guaranteedBps: 100 * MBIT },
    ...[1, 2, 3].map((i) => ({ a: 'Broker-1', b: `MediaServer-${i}`, guaranteedBps: 100 * MBIT })),
  ];
  return { units, demands };
}

const mb = (n: number): Flavor => ({ name: `f${n}`, vcpus: n, ramMb: 512 * n, diskGb: n });

describe('capacity formula', () => {
  it('is floor((total − reserved) × allocation_ratio), and free subtracts used', () => {
    assert.equal(hostCapacity(inv(16, { reserved: 2, allocationRatio: 1.5 })), 21);
    assert.equal(hostCapacity(inv(7, { allocationRatio: 1.5 })), 10); // 10.5 rounds down, as Placement's int()
    assert.equal(hostCapacity(inv(32, { allocationRatio: 4 })), 128);
    assert.equal(hostCapacity(inv(8192, { reserved: 512 })), 7680);
    assert.equal(freeOf(inv(16, { reserved: 2, allocationRatio: 1.5, used: 20 })), 1);
    assert.equal(freeOf(inv(4, { used: 6 })), -2);
  });

  it('counts reserved memory and ratios when deciding a fit', () => {
    // 8192 − 4096 reserved = 4096 MiB: five 1 GiB units do not fit, four do.
    const hosts = [host('c1', 16, 8192, { ram: { reserved: 4096 } })];
    const five = Array.from({ length: 5 }, (_, i) => unit(`U-${i}`, { name: 'm1.small', vcpus: 1, ramMb: 1024, diskGb: 1 }));
    infeasible(placeTopology(request(five, hosts, { strategy: 'single-host' })));
    feasible(placeTopology(request(five.slice(0, 4), hosts, { strategy: 'single-host' })));
    // Two physical vCPUs at ratio 4 hold eight 1-vCPU units.
    const eight = Array.from({ length: 8 }, (_, i) => unit(`V-${i}`));
    feasible(placeTopology(request(eight, [host('c2', 2, 8192, { vcpu: { allocationRatio: 4, maxUnit: 2 } })], { strategy: 'single-host' })));
  });
});

describe('max_unit', () => {
  it('is a per-VM limit: an overcommitted host holds a topology whose Σ vCPU exceeds max_unit', () => {
    // 4 pCPU, ratio 4 → capacity 16; libvirt reports max_unit = total = 4. Six 2-vCPU VMs = 12 vCPU.
    const h = host('compute1', 4, 16384, { vcpu: { allocationRatio: 4, maxUnit: 4 } });
    const units = Array.from({ length: 6 }, (_, i) => unit(`W-${i}`, { name: 'm1.small', vcpus: 2, ramMb: 1024, diskGb: 1 }));
    const plan = feasible(placeTopology(request(units, [h], { strategy: 'single-host' })));
    assert.deepEqual(plan.hosts, ['compute1']);
  });

  it('rejects a host when one VM exceeds max_unit, naming the unit', () => {
    const h = host('compute1', 16, 16384, { ram: { maxUnit: 2048 } });
    const units = [unit('MediaServer-1', { name: 'm1.large', vcpus: 2, ramMb: 4096, diskGb: 10 }), unit('Broker-1')];
    const plan = infeasible(placeTopology(request(units, [h], { strategy: 'single-host' })));
    const r = plan.reasons.find((x) => x.scope === 'host' && x.subject === 'MediaServer-1');
    assert.ok(r, JSON.stringify(plan.reasons));
    assert.equal(r.resource, 'ram_mb');
    assert.equal(r.needed, 4096);
    assert.equal(r.available, 2048);
    assert.match(plan.explanation.rejected[0]?.reasons.join(' ') ?? '', /MediaServer-1 needs 4096 MiB RAM > max_unit 2048/);
  });
});

describe('quota', () => {
  const units = Array.from({ length: 4 }, (_, i) => unit(`U-${i}`, mb(2)));
  const quota = (o: Partial<TenantQuota> = {}): TenantQuota => ({
    instances: { limit: 10, inUse: 0 },
    cores: { limit: 20, inUse: 0 },
    ramMb: { limit: 51200, inUse: 0 },
    ...o,
  });

  it("counts only the tenant's own usage, never what other tenants use on the hosts", () => {
    // Hosts are 90 % used by others; the tenant itself uses little.
    const hosts = [host('c1', 100, 100_000, { vcpu: { used: 90 }, ram: { used: 90_000 } })];
    const plan = feasible(placeTopology(request(units, hosts, { quota: quota({ cores: { limit: 10, inUse: 2 } }) })));
    assert.deepEqual(plan.hosts, ['c1']);
    assert.match(plan.explanation.steps[0] ?? '', /within the tenant quota/);
  });

  it('gives one quota reason per short resource and tries nothing else', () => {
    const hosts = [host('c1', 100, 100_000)];
    const plan = infeasible(
      placeTopology(request(units, hosts, { quota: quota({ instances: { limit: 5, inUse: 3 }, cores: { limit: 10, inUse: 4 }, ramMb: { limit: -1, inUse: 99_999 } }) })),
    );
    assert.deepEqual(
      plan.reasons.map((r) => [r.scope, r.resource, r.needed, r.available]),
      [
        ['quota', 'instances', 4, 2],
        ['quota', 'cores', 8, 6],
      ],
    );
    assert.equal(plan.explanation.steps.length, 1);
  });

  it('treats −1 as unlimited', () => {
    const unlimited = { limit: -1, inUse: 1_000_000 };
    feasible(placeTopology(request(units, [host('c1', 100, 100_000)], { quota: { instances: unlimited, cores: unlimited, ramMb: unlimited } })));
  });
});

describe('host eligibility', () => {
  it('skips down, disabled and other-AZ hosts, and says why', () => {
    const units = [unit('A-1', MINI, 'az1'), unit('B-1', MINI, 'az1')];
    const hosts = [
      host('big-down', 64, 65536, { up: false, az: 'az1' }),
      host('big-disabled', 64, 65536, { enabled: false, az: 'az1' }),
      host('big-other-az', 64, 65536, { az: 'az2' }),
      host('small-ok', 4, 4096, { az: 'az1' }),
    ];
    const plan = feasible(placeTopology(request(units, hosts)));
    assert.deepEqual(plan.hosts, ['small-ok']);
    const why = Object.fromEntries(plan.explanation.rejected.map((d) => [d.host, d.reasons.join(' ')]));
    assert.match(why['big-down'] ?? '', /down/);
    assert.match(why['big-disabled'] ?? '', /disabled/);
    assert.match(why['big-other-az'] ?? '', /AZ "az2"/);
    assert.match(plan.explanation.steps.join('\n'), /1 down, 1 disabled, 1 outside az1/);
  });

  it('reports a cloud reason when no host is usable', () => {
    const plan = infeasible(placeTopology(request([unit('A-1')], [host('c1', 8, 8192, { up: false })])));
    assert.deepEqual(plan.reasons.map((r) => [r.scope, r.resource]), [['cloud', 'hosts']]);
  });
});

describe('single host: tightest fit', () => {
  it('picks the tightest host, not the first or the roomiest', () => {
    const units = Array.from({ length: 3 }, (_, i) => unit(`U-${i}`, mb(2)));
    const hosts = [host('a-roomy', 64, 65536), host('b-tight', 8, 4096), host('c-medium', 16, 16384), host('d-too-small', 4, 4096)];
    const plan = feasible(placeTopology(request(units, hosts, { strategy: 'single-host' })));
    assert.deepEqual(plan.hosts, ['b-tight']);
    assert.equal(plan.crossHostBps, 0);
    assert.deepEqual(plan.uplinkBps, { 'b-tight': 0 });
    assert.match(plan.explanation.chosen[0]?.reasons[0] ?? '', /tightest fit of 3 hosts .* leaves 2 vCPU, 1024 MiB RAM, 994 GiB disk/);
    assert.match(plan.explanation.rejected.find((d) => d.host === 'd-too-small')?.reasons.join(' ') ?? '', /needs 6 vCPU, 4 free/);
  });

  it('scores Σ over resources of leftover ÷ capacity and breaks ties by name', () => {
    assert.equal(tightnessScore([8, 4096, 100], [8, 4096, 100], [6, 3072, 50]), 0.25 + 0.25 + 0.5);
    const units = [unit('U-1')];
    const plan = feasible(placeTopology(request(units, [host('twin-b', 4, 4096), host('twin-a', 4, 4096)])));
    assert.deepEqual(plan.hosts, ['twin-a']);
  });

  it('thesis case: 5 × m1.mini on compute1 (8 vCPU, 12288 MiB) or compute2 (4 vCPU, 8192 MiB)', () => {
    const { units, demands } = thesisTopology();
    // Antelope's default ratios (vCPU 4.0, RAM 1.0): compute1 leaves 27/32 vCPU + 9728/12288 MiB,
    // compute2 leaves 11/16 vCPU + 5632/8192 MiB (disks equal) → compute2 is tighter on both.
    const antelope = [
      host('compute1', 8, 12288, { vcpu: { allocationRatio: 4, maxUnit: 8 } }),
      host('compute2', 4, 8192, { vcpu: { allocationRatio: 4, maxUnit: 4 } }),
    ];
    const plan = feasible(placeTopology(request(units, antelope, { demands })));
    assert.deepEqual(plan.hosts, ['compute2']);
    assert.deepEqual(new Set(Object.values(plan.assignments)), new Set(['compute2']));
    assert.equal(plan.crossHostBps, 0);
    assert.match(plan.explanation.summary, /whole topology on compute2 \(tightest fit of 2 candidate hosts\)/);
    // Without overcommit compute2's 4 vCPU cannot hold 5 units: compute1 is the only fit.
    const noOvercommit = [host('compute1', 8, 12288), host('compute2', 4, 8192)];
    assert.deepEqual(feasible(placeTopology(request(units, noOvercommit, { demands, strategy: 'single-host' }))).hosts, ['compute1']);
  });

  it('uses one host whenever one fits, even if a split would be possible', () => {
    const { units, demands } = thesisTopology();
    const plan = feasible(placeTopology(request(units, [host('s1', 3, 8192), host('s2', 3, 8192), host('big', 5, 8192)], { demands })));
    assert.deepEqual(plan.hosts, ['big']);
  });
});

describe('traffic-aware split', () => {
  it('splits over the fewest hosts and keeps heavy pairs together', () => {
    // Two tiers of 3 units with 300 Mbit/s inside each and 50 Mbit/s between them; hosts hold 3 units.
    const units = ['A-1', 'A-2', 'A-3', 'B-1', 'B-2', 'B-3'].map((id) => unit(id, mb(2)));
    const demands: TrafficDemand[] = [
      { a: 'A-1', b: 'A-2', guaranteedBps: 300 * MBIT },
      { a: 'A-2', b: 'A-3', guaranteedBps: 300 * MBIT },
      { a: 'B-1', b: 'B-2', guaranteedBps: 300 * MBIT },
      { a: 'B-3', b: 'B-2', guaranteedBps: 300 * MBIT },
      { a: 'A-1', b: 'B-1', guaranteedBps: 50 * MBIT },
    ];
    const hosts = ['h1', 'h2', 'h3', 'h4'].map((n) => host(n, 6, 8192));
    const req = request(units, hosts, { demands });
    const plan = feasible(placeTopology(req));
    const opt = feasible(solveExhaustive(req));
    assert.equal(plan.hosts.length, 2);
    assert.equal(plan.crossHostBps, 50 * MBIT);
    assert.equal(opt.crossHostBps, 50 * MBIT);
    assert.equal(plan.assignments['A-1'], plan.assignments['A-3']);
    assert.equal(plan.assignments['B-1'], plan.assignments['B-3']);
    assert.notEqual(plan.assignments['A-1'], plan.assignments['B-1']);
    assert.deepEqual(Object.values(plan.uplinkBps), [50 * MBIT, 50 * MBIT]);
    assert.match(plan.explanation.chosen.map((c) => c.reasons.join(' ')).join('\n'), /uplink: this plan adds 50 Mbit\/s guaranteed/);
  });

  it('takes another split when the least-traffic one would over-commit an uplink', () => {
    // Hub + 4 spokes (100 Mbit/s each), 2 vCPU per unit. "roomy" holds 4 units, b and c 3 each: roomy+b
    // would cut only one spoke (100 Mbit/s), but roomy's uplink has 50 Mbit/s left.
    const units = ['Hub-1', 'Spoke-1', 'Spoke-2', 'Spoke-3', 'Spoke-4'].map((id) => unit(id, mb(2)));
    const demands = [1, 2, 3, 4].map((i) => ({ a: 'Hub-1', b: `Spoke-${i}`, guaranteedBps: 100 * MBIT }));
    const hosts = (committed: number): HostState[] => [
      host('roomy', 8, 8192, { committedBps: committed }),
      host('b', 6, 8192),
      host('c', 6, 8192),
    ];
    const free = feasible(placeTopology(request(units, hosts(0), { demands })));
    assert.deepEqual(free.hosts, ['b', 'roomy']);
    assert.equal(free.crossHostBps, 100 * MBIT);

    const req = request(units, hosts(950 * MBIT), { demands });
    const plan = feasible(placeTopology(req));
    const opt = feasible(solveExhaustive(req));
    assert.deepEqual(plan.hosts, ['b', 'c']);
    assert.equal(plan.crossHostBps, 200 * MBIT);
    assert.equal(opt.crossHostBps, 200 * MBIT);
    assert.deepEqual(opt.hosts, ['b', 'c']);
    const roomy = plan.explanation.rejected.find((d) => d.host === 'roomy');
    assert.match(roomy?.reasons.join(' ') ?? '', /uplink headroom 50 Mbit\/s \(950 Mbit\/s of 1 Gbit\/s committed\)/);
  });

  it('explains uplinks that are too small for any split', () => {
    const units = ['Hub-1', 'Spoke-1', 'Spoke-2'].map((id) => unit(id, mb(2)));
    const demands = [1, 2].map((i) => ({ a: 'Hub-1', b: `Spoke-${i}`, guaranteedBps: 100 * MBIT }));
    const hosts = [host('a', 4, 8192, { committedBps: 990 * MBIT }), host('b', 4, 8192, { committedBps: 990 * MBIT })];
    const plan = infeasible(placeTopology(request(units, hosts, { demands })));
    assert.ok(plan.reasons.some((r) => r.scope === 'cloud' && r.resource === 'uplink'), JSON.stringify(plan.reasons));
    const hostUplinks = plan.reasons.filter((r) => r.scope === 'host' && r.resource === 'uplink');
    assert.ok(hostUplinks.length > 0);
    assert.match(hostUplinks[0]?.message ?? '', /990 Mbit\/s of 1 Gbit\/s already committed/);
    infeasible(solveExhaustive(request(units, hosts, { demands })));
  });

  it('gives one cloud reason per resource the whole cloud lacks', () => {
    const units = Array.from({ length: 4 }, (_, i) => unit(`U-${i}`, { name: 'big', vcpus: 4, ramMb: 8192, diskGb: 10 }));
    const hosts = [host('a', 6, 10000), host('b', 6, 10000)];
    const plan = infeasible(placeTopology(request(units, hosts)));
    const cloud = plan.reasons.filter((r) => r.scope === 'cloud').map((r) => [r.resource, r.needed, r.available]);
    assert.deepEqual(cloud, [
      ['vcpu', 16, 12],
      ['ram_mb', 32768, 20000],
    ]);
    assert.match(plan.explanation.summary, /fits neither on one host nor split/);
  });

  it('names a unit that fits nowhere', () => {
    const units = [unit('Huge-1', { name: 'xl', vcpus: 32, ramMb: 1024, diskGb: 1 }), unit('Small-1')];
    const plan = infeasible(placeTopology(request(units, [host('a', 16, 65536, { vcpu: { allocationRatio: 4 } })])));
    assert.ok(plan.reasons.some((r) => r.scope === 'cloud' && r.subject === 'Huge-1'), JSON.stringify(plan.reasons));
  });
});

describe('nova strategy', () => {
  it('leaves hosts to Nova after the quota and cloud checks', () => {
    const { units, demands } = thesisTopology();
    const plan = feasible(placeTopology(request(units, [host('c1', 3, 8192), host('c2', 3, 8192)], { demands, strategy: 'nova' })));
    assert.deepEqual(Object.values(plan.assignments), [null, null, null, null, null]);
    assert.deepEqual(plan.hosts, []);
    assert.match(plan.explanation.summary, /Nova's scheduler decides/);
    assert.match(plan.explanation.summary, /no whole-topology \(gang\) check/);
  });

  it('refuses when the cloud lacks room', () => {
    const { units } = thesisTopology();
    const plan = infeasible(placeTopology(request(units, [host('c1', 2, 8192)], { strategy: 'nova' })));
    assert.deepEqual(plan.reasons.map((r) => [r.scope, r.resource, r.needed, r.available]), [['cloud', 'vcpu', 5, 2]]);
  });
});

describe('determinism', () => {
  function cloud(seed: number): PlacementRequest {
    let s = seed;
    const rnd = (): number => {
      s = (s * 1103515245 + 12345) % 2147483648;
      return s / 2147483648;
    };
    const hosts = Array.from({ length: 300 }, (_, i) =>
      host(`h${String(i).padStart(3, '0')}`, 4 + Math.floor(rnd() * 12), 4096 + Math.floor(rnd() * 12) * 1024, {
        up: rnd() > 0.05,
        committedBps: Math.floor(rnd() * 8) * 100 * MBIT,
      }),
    );
    const units = Array.from({ length: 20 }, (_, i) => unit(`U-${String(i).padStart(2, '0')}`, mb(1 + (i % 3))));
    const demands = units.slice(1).map((u, i) => ({ a: units[Math.floor(i / 3)]?.id ?? 'U-00', b: u.id, guaranteedBps: (1 + (i % 4)) * 50 * MBIT }));
    return request(units, hosts, { demands });
  }

  function shuffled<T>(xs: readonly T[], seed: number): T[] {
    const out = [...xs];
    let s = seed;
    for (let i = out.length - 1; i > 0; i--) {
      s = (s * 48271) % 2147483647;
      const j = s % (i + 1);
      [out[i], out[j]] = [out[j] as T, out[i] as T];
    }
    return out;
  }

  it('gives deep-equal plans for the same input, and for shuffled hosts, units and demands', () => {
    const req = cloud(7);
    const first = feasible(placeTopology(req));
    assert.ok(first.hosts.length > 1, 'the fixture should need a split');
    assert.deepEqual(placeTopology(req), first);
    for (const seed of [1, 2, 3]) {
      const shuffledReq = { ...req, hosts: shuffled(req.hosts, seed), units: shuffled(req.units, seed + 10), demands: shuffled(req.demands, seed + 20) };
      assert.deepEqual(placeTopology(shuffledReq), first);
    }
  });
});

describe('formatBps', () => {
  it('prints rates for humans', () => {
    assert.equal(formatBps(100 * MBIT), '100 Mbit/s');
    assert.equal(formatBps(GBIT), '1 Gbit/s');
    assert.equal(formatBps(1.5 * GBIT), '1.5 Gbit/s');
    assert.equal(formatBps(12_500_000), '12.5 Mbit/s');
    assert.equal(formatBps(999), '999 bit/s');
  });
});
