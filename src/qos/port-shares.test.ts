import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { demandFromRate, equalShares, proportionalShares, sharesDiffer, splitByDemand, type PortDemand } from './port-shares.ts';

const MBIT = 1_000_000;
const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
const bps = (shares: readonly { bps: number }[]): number[] => shares.map((s) => s.bps);
const ports = (...demands: number[]): PortDemand[] => demands.map((demandBps, i) => ({ id: `p${String(i)}`, demandBps }));

describe('splitByDemand', () => {
  it('splits equally when every port wants more than it can get', () => {
    assert.deepEqual(bps(splitByDemand(40 * MBIT, ports(Infinity, Infinity))), [20 * MBIT, 20 * MBIT]);
    assert.deepEqual(bps(splitByDemand(30 * MBIT, ports(Infinity, Infinity, Infinity))), [10 * MBIT, 10 * MBIT, 10 * MBIT]);
  });

  it('gives a port no more than its demand while another wants more (max-min fair)', () => {
    const shares = splitByDemand(40 * MBIT, ports(6 * MBIT, Infinity));
    assert.deepEqual(bps(shares), [6 * MBIT, 34 * MBIT]);
    assert.deepEqual(shares.map((s) => s.id), ['p0', 'p1']);
    // Three ports: the small demand is met, the two others share the rest.
    assert.deepEqual(bps(splitByDemand(30 * MBIT, ports(Infinity, 4 * MBIT, 20 * MBIT))), [13 * MBIT, 4 * MBIT, 13 * MBIT]);
  });

  it('keeps a floor of 10 % of an equal share for an idle port, so it can start', () => {
    // Floor = 0.1 × 40 / 2 = 2 Mbit/s.
    assert.deepEqual(bps(splitByDemand(40 * MBIT, ports(0, Infinity))), [2 * MBIT, 38 * MBIT]);
    assert.deepEqual(bps(splitByDemand(40 * MBIT, ports(0, Infinity), { floorFraction: 0.25 })), [5 * MBIT, 35 * MBIT]);
    assert.deepEqual(bps(splitByDemand(40 * MBIT, ports(0, Infinity), { floorBps: 1 * MBIT })), [1 * MBIT, 39 * MBIT]);
    // A floor above an equal share is an equal share.
    assert.deepEqual(bps(splitByDemand(40 * MBIT, ports(0, Infinity), { floorBps: 30 * MBIT })), [20 * MBIT, 20 * MBIT]);
  });

  it('splits what is left equally once every demand is met', () => {
    // Demands 6 and 2 (floor 2): 32 Mbit/s left, 16 each.
    assert.deepEqual(bps(splitByDemand(40 * MBIT, ports(6 * MBIT, 0))), [22 * MBIT, 18 * MBIT]);
    assert.deepEqual(bps(splitByDemand(40 * MBIT, ports(0, 0))), [20 * MBIT, 20 * MBIT]);
  });

  it('returns whole bit/s that sum to the total exactly', () => {
    for (const [total, demands] of [
      [10_000_001, [Infinity, Infinity, Infinity]],
      [7, [Infinity, Infinity]],
      [40 * MBIT + 3, [1_234_567.89, Infinity, 0]],
      [1, [0, 0, 0]],
      [0, [Infinity, 5]],
    ] as const) {
      const shares = bps(splitByDemand(total, ports(...demands)));
      assert.equal(sum(shares), total, `${String(total)} over ${JSON.stringify(demands)}: ${JSON.stringify(shares)}`);
      for (const s of shares) assert.ok(Number.isSafeInteger(s) && s >= 0, JSON.stringify(shares));
    }
  });

  it('one port takes everything; no port, nothing', () => {
    assert.deepEqual(bps(splitByDemand(40 * MBIT, ports(0))), [40 * MBIT]);
    assert.deepEqual(splitByDemand(40 * MBIT, []), []);
  });

  it('counts a NaN or negative demand as unknown or idle', () => {
    assert.deepEqual(bps(splitByDemand(40 * MBIT, ports(Number.NaN, Number.NaN))), [20 * MBIT, 20 * MBIT]);
    assert.deepEqual(bps(splitByDemand(40 * MBIT, ports(-5, Infinity))), [2 * MBIT, 38 * MBIT]);
  });

  it('does not depend on the order of the ports', () => {
    const a = splitByDemand(50 * MBIT, [
      { id: 'x', demandBps: 3 * MBIT },
      { id: 'y', demandBps: Infinity },
      { id: 'z', demandBps: 30 * MBIT },
    ]);
    const b = splitByDemand(50 * MBIT, [
      { id: 'z', demandBps: 30 * MBIT },
      { id: 'x', demandBps: 3 * MBIT },
      { id: 'y', demandBps: Infinity },
    ]);
    const byId = (s: readonly { id: string; bps: number }[]): Record<string, number> => Object.fromEntries(s.map((x) => [x.id, x.bps]));
    assert.deepEqual(byId(a), byId(b));
    assert.deepEqual(byId(a), { x: 3 * MBIT, y: 23.5 * MBIT, z: 23.5 * MBIT });
  });

  it('rejects a total that is not a non-negative safe integer', () => {
    assert.throws(() => splitByDemand(-1, ports(1)), RangeError);
    assert.throws(() => splitByDemand(1.5, ports(1)), RangeError);
    assert.throws(() => splitByDemand(Infinity, ports(1)), RangeError);
  });
});

describe('equalShares and proportionalShares', () => {
  it('split equally, the odd units to the first ports', () => {
    assert.deepEqual(equalShares(40 * MBIT, 2), [20 * MBIT, 20 * MBIT]);
    assert.deepEqual(equalShares(10, 3), [4, 3, 3]);
    assert.deepEqual(equalShares(10, 0), []);
  });

  it('split in proportion to the weights (a guarantee like its cap), summing to the total', () => {
    assert.deepEqual(proportionalShares(10 * MBIT, [38 * MBIT, 2 * MBIT]), [9_500_000, 500_000]);
    assert.deepEqual(proportionalShares(10, [1, 1, 1]), [4, 3, 3]);
    assert.deepEqual(proportionalShares(9, [0, 0, 0]), [3, 3, 3], 'no weight: equal');
    assert.equal(sum(proportionalShares(1_000_003, [1, 2, 3.5])), 1_000_003);
  });
});

describe('demandFromRate', () => {
  it('is unknown (Infinity) when the port uses 90 % of its share or more: the share may hold it back', () => {
    assert.equal(demandFromRate(9 * MBIT, 10 * MBIT), Infinity);
    assert.equal(demandFromRate(10.2 * MBIT, 10 * MBIT), Infinity);
    assert.equal(demandFromRate(Number.NaN, 10 * MBIT), Infinity);
  });

  it('is 1.2 × the rate below that', () => {
    assert.equal(demandFromRate(5 * MBIT, 10 * MBIT), 6 * MBIT);
    assert.equal(demandFromRate(0, 10 * MBIT), 0);
    assert.equal(demandFromRate(-3, 10 * MBIT), 0);
  });
});

describe('sharesDiffer', () => {
  it('is true only when a share moves by more than the threshold of itself', () => {
    assert.equal(sharesDiffer([20, 20], [21, 19]), false);
    assert.equal(sharesDiffer([20, 20], [22, 18]), false, '10 % exactly is not more than 10 %');
    assert.equal(sharesDiffer([20, 20], [23, 17]), true);
    assert.equal(sharesDiffer([38, 2], [37, 3]), true, 'the small share moved by 50 %');
    assert.equal(sharesDiffer([20, 20], [25, 15], 0.3), false);
    assert.equal(sharesDiffer([20, 20], [40]), true);
  });
});
