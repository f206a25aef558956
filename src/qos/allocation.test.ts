import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  allocateRates,
  estimateDemand,
  idleGuarantee,
  limiterRate,
  partitionGuarantees,
  type AllocLink,
  type Allocation,
  type HoseGuarantee,
  type PairInput,
} from './allocation.ts';
// Tests may cross src/ directories (the architecture test scans non-test files only); this is mulberry32.
import { prng } from '../placement/random-instances.ts';

const MBIT = 1_000_000;
const MIN_WEIGHT = 100_000;

function pair(sender: string, receiver: string, links: readonly string[], demandBps = Infinity, pipeBps?: number): PairInput {
  return { id: `${sender}>${receiver}`, sender, receiver, links, demandBps, ...(pipeBps === undefined ? {} : { pipeBps }) };
}

function near(actual: number | undefined, expected: number, what: string, tolerance = 1e-6): void {
  assert.ok(actual !== undefined, `${what}: missing`);
  assert.ok(Math.abs(actual - expected) <= tolerance * Math.max(1, Math.abs(expected)), `${what}: ${String(actual)} ≠ ${String(expected)}`);
}

/** Partition then allocate, as one controller round does. */
function round(links: readonly AllocLink[], pairs: readonly PairInput[], hose: ReadonlyMap<string, HoseGuarantee>): { guarantees: Map<string, number>; result: Allocation } {
  const guarantees = partitionGuarantees(pairs, hose);
  return { guarantees, result: allocateRates(links, pairs, guarantees) };
}

const sum = (values: Iterable<number>): number => [...values].reduce((a, b) => a + b, 0);

describe('allocateRates: guarantees and work conservation', () => {
  // Three receivers behind one 10 Mbit/s host downlink, guaranteed 6/1/1 Mbit/s on receive.
  const downB: AllocLink[] = [{ id: 'down:B', capacityBps: 10 * MBIT }];
  const receivers = new Map<string, HoseGuarantee>([
    ['b1', { receiveBps: 6 * MBIT }],
    ['b2', { receiveBps: 1 * MBIT }],
    ['b3', { receiveBps: 1 * MBIT }],
  ]);
  const greedyInto = (demand1 = Infinity): PairInput[] => [
    pair('a1', 'b1', ['down:B'], demand1),
    pair('a2', 'b2', ['down:B']),
    pair('a3', 'b3', ['down:B']),
  ];

  it('gives greedy pairs their guarantees and splits the spare by weight (guarantee + min weight)', () => {
    const { guarantees, result } = round(downB, greedyInto(), receivers);
    assert.deepEqual([...guarantees.values()], [6 * MBIT, 1 * MBIT, 1 * MBIT]);
    const w = [6 * MBIT + MIN_WEIGHT, 1 * MBIT + MIN_WEIGHT, 1 * MBIT + MIN_WEIGHT];
    const lambda = (2 * MBIT) / sum(w);
    near(result.rates.get('a1>b1'), 6 * MBIT + w[0]! * lambda, 'a1>b1');
    near(result.rates.get('a2>b2'), 1 * MBIT + w[1]! * lambda, 'a2>b2');
    near(result.rates.get('a3>b3'), 1 * MBIT + w[2]! * lambda, 'a3>b3');
    near(sum(result.rates.values()), 10 * MBIT, 'sum');
    const link = result.links.get('down:B');
    assert.ok(link);
    assert.equal(link.overcommitted, false);
    near(link.allocatedBps, 10 * MBIT, 'allocated');
    near(link.guaranteedBps, 8 * MBIT, 'guaranteed');
  });

  it('lets the others use the whole link while the big guarantee is idle', () => {
    const { guarantees, result } = round(downB, greedyInto(0), receivers);
    assert.equal(guarantees.get('a1>b1'), 0);
    assert.equal(result.rates.get('a1>b1'), 0);
    near(result.rates.get('a2>b2'), 5 * MBIT, 'a2>b2');
    near(result.rates.get('a3>b3'), 5 * MBIT, 'a3>b3');
  });

  it('honours upload (send) guarantees of senders sharing a host uplink', () => {
    const upA: AllocLink[] = [{ id: 'up:A', capacityBps: 10 * MBIT }];
    const senders = new Map<string, HoseGuarantee>([
      ['a1', { sendBps: 6 * MBIT }],
      ['a2', { sendBps: 1 * MBIT }],
      ['a3', { sendBps: 1 * MBIT }],
    ]);
    const pairs = [pair('a1', 'x', ['up:A']), pair('a2', 'y', ['up:A']), pair('a3', 'z', ['up:A'])];
    const { result } = round(upA, pairs, senders);
    const r = (id: string): number => result.rates.get(id) ?? NaN;
    assert.ok(r('a1>x') >= 6 * MBIT && r('a2>y') >= 1 * MBIT && r('a3>z') >= 1 * MBIT);
    near(r('a2>y'), r('a3>z'), 'equal guarantees, equal rates');
    assert.ok(r('a1>x') - 6 * MBIT > r('a2>y') - 1 * MBIT, 'the bigger guarantee gets the bigger part of the spare');
    near(sum(result.rates.values()), 10 * MBIT, 'sum');
  });

  it('gives a pipe guarantee even where the hose share is smaller, and the other pair the rest', () => {
    const port: AllocLink[] = [{ id: 'port:r', capacityBps: 10 * MBIT }];
    const hose = new Map<string, HoseGuarantee>([['r', { receiveBps: 4 * MBIT }]]);
    const pairs = [pair('s1', 'r', ['port:r'], Infinity, 8 * MBIT), pair('s2', 'r', ['port:r'])];
    const { guarantees, result } = round(port, pairs, hose);
    assert.equal(guarantees.get('s1>r'), 8 * MBIT, 'the pipe (8) beats the hose share (2)');
    assert.equal(guarantees.get('s2>r'), 2 * MBIT);
    near(result.rates.get('s1>r'), 8 * MBIT, 's1>r');
    near(result.rates.get('s2>r'), 2 * MBIT, 's2>r');

    // Without any guarantee the second pair still gets what the pipe pair leaves.
    const alone = allocateRates(port, [pair('s1', 'r', ['port:r'], 8 * MBIT, 8 * MBIT), pair('s2', 'r', ['port:r'])], partitionGuarantees(pairs, new Map()));
    near(alone.rates.get('s2>r'), 2 * MBIT, 's2>r without guarantee');
  });

  it('gives a small-demand pair exactly its demand and the rest to the others', () => {
    const link: AllocLink[] = [{ id: 'down:B', capacityBps: 10 * MBIT }];
    const pairs = [pair('x', 'b', ['down:B'], 0.5 * MBIT), pair('y', 'b', ['down:B']), pair('z', 'b', ['down:B'])];
    const result = allocateRates(link, pairs, new Map());
    assert.equal(result.rates.get('x>b'), 0.5 * MBIT);
    near(result.rates.get('y>b'), 4.75 * MBIT, 'y>b');
    near(result.rates.get('z>b'), 4.75 * MBIT, 'z>b');
  });

  it('limits a pair crossing two links by the tighter one and gives its unused share away', () => {
    const links: AllocLink[] = [
      { id: 'up:A', capacityBps: 10 * MBIT },
      { id: 'down:B', capacityBps: 4 * MBIT },
    ];
    const pairs = [pair('a1', 'b1', ['up:A', 'down:B']), pair('a2', 'c1', ['up:A'])];
    const result = allocateRates(links, pairs, new Map());
    near(result.rates.get('a1>b1'), 4 * MBIT, 'a1>b1');
    near(result.rates.get('a2>c1'), 6 * MBIT, 'a2>c1');
  });

  it('scales over-committed guarantees in proportion and flags the link', () => {
    const link: AllocLink[] = [{ id: 'port:r', capacityBps: 10 * MBIT }];
    const pairs = [pair('s1', 'r', ['port:r']), pair('s2', 'r', ['port:r'])];
    const result = allocateRates(link, pairs, new Map([['s1>r', 8 * MBIT], ['s2>r', 8 * MBIT]]));
    near(result.rates.get('s1>r'), 5 * MBIT, 's1>r');
    near(result.rates.get('s2>r'), 5 * MBIT, 's2>r');
    near(result.effectiveGuarantees.get('s1>r'), 5 * MBIT, 'effective s1>r');
    assert.deepEqual(result.links.get('port:r'), { capacityBps: 10 * MBIT, guaranteedBps: 16 * MBIT, allocatedBps: 10 * MBIT, overcommitted: true });

    const unequal = allocateRates(link, pairs, new Map([['s1>r', 12 * MBIT], ['s2>r', 3 * MBIT]]));
    near(unequal.rates.get('s1>r'), 8 * MBIT, 'scaled 12 → 8');
    near(unequal.rates.get('s2>r'), 2 * MBIT, 'scaled 3 → 2');
  });

  it('does not depend on the order of its inputs', () => {
    const links: AllocLink[] = [
      { id: 'up:A', capacityBps: 10 * MBIT },
      { id: 'down:B', capacityBps: 7 * MBIT },
      { id: 'down:C', capacityBps: 9 * MBIT },
    ];
    const pairs = [
      pair('a1', 'b1', ['up:A', 'down:B'], Infinity, 3 * MBIT),
      pair('a2', 'b2', ['up:A', 'down:B'], 2 * MBIT),
      pair('a3', 'c1', ['up:A', 'down:C']),
      pair('d1', 'c2', ['down:C'], Infinity, 5 * MBIT),
    ];
    const forward = round(links, pairs, new Map()).result;
    const backward = round([...links].reverse(), [...pairs].reverse(), new Map()).result;
    assert.deepEqual([...backward.rates.keys()], pairs.map((p) => p.id).reverse(), 'maps come back in input order');
    for (const [id, rate] of forward.rates) near(backward.rates.get(id), rate, id, 1e-12);
    for (const [id, link] of forward.links) {
      const other = backward.links.get(id);
      assert.equal(other?.overcommitted, link.overcommitted, id);
      near(other.allocatedBps, link.allocatedBps, id, 1e-12);
    }
  });

  it('refuses an unknown link, naming it, and repeated ids', () => {
    const links: AllocLink[] = [{ id: 'up:A', capacityBps: 10 * MBIT }];
    assert.throws(() => allocateRates(links, [pair('a', 'b', ['up:A', 'down:Z'])], new Map()), (e: unknown) => e instanceof RangeError && e.message.includes('"down:Z"'));
    assert.throws(() => allocateRates(links, [pair('a', 'b', ['up:A']), pair('a', 'b', ['up:A'])], new Map()), RangeError);
    assert.throws(() => allocateRates([...links, ...links], [], new Map()), RangeError);
    assert.throws(() => allocateRates(links, [pair('a', 'b', [])], new Map()), RangeError, 'unbounded demand on no link');
    assert.throws(() => allocateRates(links, [pair('a', 'b', ['up:A'], -1)], new Map()), RangeError);
  });
});

describe('partitionGuarantees', () => {
  it("splits a receiver's guarantee among its active senders, max-min over their demands", () => {
    const hose = new Map<string, HoseGuarantee>([['r', { receiveBps: 10 * MBIT }]]);
    const busy = partitionGuarantees([pair('s1', 'r', [], 2 * MBIT), pair('s2', 'r', [])], hose);
    assert.equal(busy.get('s1>r'), 2 * MBIT);
    assert.equal(busy.get('s2>r'), 8 * MBIT);

    // Every demand met: the rest is shared equally, so the shares still add up to the guarantee.
    const light = partitionGuarantees([pair('s1', 'r', [], 2 * MBIT), pair('s2', 'r', [], 3 * MBIT)], hose);
    assert.equal(light.get('s1>r'), 4.5 * MBIT);
    assert.equal(light.get('s2>r'), 5.5 * MBIT);

    const greedy = partitionGuarantees([pair('s1', 'r', []), pair('s2', 'r', [])], hose);
    assert.deepEqual([...greedy.values()], [5 * MBIT, 5 * MBIT]);
  });

  it('takes the smaller of the sender and receiver shares; a missing side does not bound, two missing give 0', () => {
    const hose = new Map<string, HoseGuarantee>([
      ['s', { sendBps: 3 * MBIT }],
      ['r', { receiveBps: 8 * MBIT }],
      ['q', { receiveBps: 2 * MBIT }],
    ]);
    const g = partitionGuarantees([pair('s', 'r', []), pair('t', 'r', []), pair('t', 'q', []), pair('t', 'u', [])], hose);
    assert.equal(g.get('s>r'), 3 * MBIT, 'min(send 3, receive share 4)');
    assert.equal(g.get('t>r'), 4 * MBIT, 'the sender has no send guarantee');
    assert.equal(g.get('t>q'), 2 * MBIT);
    assert.equal(g.get('t>u'), 0, 'neither side guarantees anything');
  });

  it('gives idle pairs 0 and keeps their share for the active ones; idleGuarantee reports the whole min', () => {
    const hose = new Map<string, HoseGuarantee>([
      ['s', { sendBps: 6 * MBIT }],
      ['r', { receiveBps: 4 * MBIT }],
    ]);
    const idle = pair('s', 'r', [], 40_000);
    const active = pair('s', 'x', []);
    const g = partitionGuarantees([idle, active, pair('s', 'y', [], 0)], hose);
    assert.equal(g.get('s>r'), 0);
    assert.equal(g.get('s>y'), 0);
    assert.equal(g.get('s>x'), 6 * MBIT, 'the only active pair gets the whole send guarantee');
    assert.equal(idleGuarantee(idle, hose), 4 * MBIT);
    assert.equal(idleGuarantee(pair('s', 'r', [], 0, 5 * MBIT), hose), 5 * MBIT, 'a pipe above the hose wins');
    assert.equal(idleGuarantee(pair('z', 'w', [], 0), hose), 0);
    assert.equal(idleGuarantee(pair('z', 'r', [], 0), hose), 4 * MBIT);
    assert.equal(partitionGuarantees([idle], hose, { activeThresholdBps: 10_000 }).get('s>r'), 4 * MBIT, 'the threshold is an option');
  });
});

describe('estimateDemand', () => {
  const limit = { limitBps: 10 * MBIT };

  it('treats a pair held at its limit as greedy', () => {
    assert.equal(estimateDemand(limit, { offeredBps: 9.2 * MBIT, deliveredBps: 9.2 * MBIT }), Infinity);
    assert.equal(estimateDemand(limit, { offeredBps: 8.6 * MBIT, deliveredBps: 8.6 * MBIT }, { greedyFraction: 0.85 }), Infinity);
  });

  it('treats a pair whose limiter dropped as greedy', () => {
    assert.equal(estimateDemand(limit, { offeredBps: 5 * MBIT, deliveredBps: 4 * MBIT }), Infinity);
  });

  it('takes a pair below its limit at its offer plus headroom, not below the floor', () => {
    near(estimateDemand(limit, { offeredBps: 5 * MBIT, deliveredBps: 5 * MBIT }), 6 * MBIT, 'headroom');
    assert.equal(estimateDemand(limit, { offeredBps: 100_000, deliveredBps: 100_000 }, { floorBps: 1 * MBIT }), 1 * MBIT);
    assert.equal(estimateDemand({ limitBps: 0 }, { offeredBps: 0, deliveredBps: 0 }), 0, 'silent pair with a zero limit is idle');
  });
});

describe('limiterRate', () => {
  it('programs the allocation for active pairs and the idle guarantee, at least a floor, for idle ones', () => {
    assert.equal(limiterRate(3 * MBIT, 8 * MBIT, { active: true }), 3 * MBIT);
    assert.equal(limiterRate(0, 8 * MBIT, { active: false }), 8 * MBIT);
    assert.equal(limiterRate(0, 0, { active: false }), 500_000);
    assert.equal(limiterRate(0, 0, { active: false, idleFloorBps: 1 * MBIT }), 1 * MBIT);
  });
});

describe('allocateRates on random instances', () => {
  function randomInstance(seed: number): { links: AllocLink[]; pairs: PairInput[]; hose: Map<string, HoseGuarantee> } {
    const rnd = prng(seed);
    const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
    const links: AllocLink[] = [];
    const hostOf = new Map<string, string>();
    const hose = new Map<string, HoseGuarantee>();
    const hostCount = int(1, 5);
    for (let h = 0; h < hostCount; h++) {
      links.push({ id: `up:h${h}`, capacityBps: int(1, 20) * MBIT }, { id: `down:h${h}`, capacityBps: int(1, 20) * MBIT });
      for (let v = int(1, 4); v > 0; v--) {
        const server = `h${h}v${v}`;
        hostOf.set(server, `h${h}`);
        links.push({ id: `port:${server}`, capacityBps: int(1, 10) * MBIT }, { id: `send:${server}`, capacityBps: int(1, 10) * MBIT });
        const g: { sendBps?: number; receiveBps?: number } = {};
        if (rnd() < 0.6) g.sendBps = int(0, 8) * MBIT;
        if (rnd() < 0.6) g.receiveBps = int(0, 8) * MBIT;
        hose.set(server, g);
      }
    }
    const servers = [...hostOf.keys()];
    const pairs: PairInput[] = [];
    const seen = new Set<string>();
    for (let n = int(1, 3 * servers.length); n > 0; n--) {
      const s = servers[int(0, servers.length - 1)]!;
      const r = servers[int(0, servers.length - 1)]!;
      if (s === r || seen.has(`${s}>${r}`)) continue;
      seen.add(`${s}>${r}`);
      const path = hostOf.get(s) === hostOf.get(r) ? [`send:${s}`, `port:${r}`] : [`send:${s}`, `up:${hostOf.get(s)!}`, `down:${hostOf.get(r)!}`, `port:${r}`];
      const roll = rnd();
      const demand = roll < 0.4 ? Infinity : roll < 0.55 ? 0 : rnd() * 6 * MBIT;
      pairs.push(pair(s, r, path, demand, rnd() < 0.25 ? int(1, 6) * MBIT : undefined));
    }
    return { links, pairs, hose };
  }

  it('keeps capacity, demand, guarantees, Pareto efficiency and weighted max-min fairness on 200 instances, whatever the input order', () => {
    const slack = 1e-6;
    let overcommittedSeen = 0;
    let saturatedSeen = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const { links, pairs, hose } = randomInstance(seed);
      const guarantees = partitionGuarantees(pairs, hose);
      const result = allocateRates(links, pairs, guarantees);
      const capacity = new Map(links.map((l) => [l.id, l.capacityBps]));
      const load = new Map<string, number>();
      const effectiveLoad = new Map<string, number>();
      const rateOf = (p: PairInput): number => result.rates.get(p.id)!;
      const effectiveOf = (p: PairInput): number => result.effectiveGuarantees.get(p.id)!;
      for (const p of pairs) {
        for (const l of p.links) {
          load.set(l, (load.get(l) ?? 0) + rateOf(p));
          effectiveLoad.set(l, (effectiveLoad.get(l) ?? 0) + effectiveOf(p));
        }
      }
      const saturated = (l: string): boolean => (load.get(l) ?? 0) >= capacity.get(l)! * (1 - slack);
      for (const l of links) {
        assert.ok((load.get(l.id) ?? 0) <= l.capacityBps * (1 + slack), `seed ${seed}: link ${l.id} over capacity`);
        assert.ok((effectiveLoad.get(l.id) ?? 0) <= l.capacityBps * (1 + slack), `seed ${seed}: guarantees over ${l.id}`);
        near(result.links.get(l.id)?.allocatedBps, load.get(l.id) ?? 0, `seed ${seed}: allocatedBps of ${l.id}`);
        if (result.links.get(l.id)?.overcommitted) overcommittedSeen++;
      }
      if (seed % 20 === 0) {
        const reordered = allocateRates([...links].reverse(), [...pairs].reverse(), guarantees);
        for (const p of pairs) near(reordered.rates.get(p.id), rateOf(p), `seed ${seed}: ${p.id} reordered`, 1e-9);
      }
      const weight = (p: PairInput): number => (guarantees.get(p.id) ?? 0) + MIN_WEIGHT;
      const level = (p: PairInput): number => (rateOf(p) - effectiveOf(p)) / weight(p);
      for (const p of pairs) {
        const rate = rateOf(p);
        const claim = Math.min(guarantees.get(p.id) ?? 0, p.demandBps);
        assert.ok(rate >= 0 && rate <= p.demandBps * (1 + slack), `seed ${seed}: ${p.id} above its demand`);
        assert.ok(effectiveOf(p) <= claim * (1 + slack), `seed ${seed}: ${p.id} effective guarantee above its claim`);
        if (!p.links.some((l) => result.links.get(l)?.overcommitted)) near(effectiveOf(p), claim, `seed ${seed}: ${p.id} unscaled guarantee`);
        assert.ok(rate >= effectiveOf(p) * (1 - slack), `seed ${seed}: ${p.id} below its guarantee`);
        if (rate >= p.demandBps * (1 - slack)) continue;
        // Pareto, and weighted max-min: some full link on its path where no pair got a larger weighted share of the spare.
        const bottlenecks = p.links.filter(saturated);
        assert.ok(bottlenecks.length > 0, `seed ${seed}: ${p.id} wants more but crosses no full link`);
        saturatedSeen++;
        const isBottleneck = (l: string): boolean => pairs.every((q) => !q.links.includes(l) || level(q) <= level(p) + slack * (1 + level(p)));
        assert.ok(bottlenecks.some(isBottleneck), `seed ${seed}: ${p.id} is not at the top level on any full link`);
      }
    }
    assert.ok(overcommittedSeen > 0 && saturatedSeen > 0, 'the instances exercise over-commit and saturation');
  });
});
