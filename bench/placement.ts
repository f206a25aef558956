/**
 * `npm run bench -- placement`: the placement engine on a 50-unit topology
 * (controllers, brokers, media servers, storage; guaranteed traffic between
 * tiers) over 1 000, 10 000 and 100 000 generated hosts (seeded; varied
 * usage; ~2 % down, ~1 % disabled), in two situations:
 *  - fits: hosts are large, so the whole topology fits on one host
 *    (single-host tightest fit over every host);
 *  - split: hosts are small, so at least 3 hosts are needed (candidate pool,
 *    construction, refinement).
 * Each size is warmed up, then timed N times from the same in-memory snapshot
 * (no I/O). Target (docs/reference/placement.md §5): ≤ 10 ms p99 at 10 000 hosts.
 */
import { performance } from 'node:perf_hooks';
import { placeTopology } from '../src/placement/index.ts';
import type { Flavor, HostState, PlacementRequest, PlacementUnit, TrafficDemand } from '../src/placement/types.ts';
import { prng } from '../src/placement/random-instances.ts';

const SIZES = [1_000, 10_000, 100_000] as const;
const RUNS: Record<number, number> = { 1_000: 200, 10_000: 100, 100_000: 30 };
const WARMUP: Record<number, number> = { 1_000: 200, 10_000: 50, 100_000: 10 };
const TARGET_P99_MS_AT_10K = 10;
const MBIT = 1_000_000;
const GBIT = 1_000_000_000;

class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

const USAGE = `usage: npm run bench -- placement [--quick]
  --quick   a tenth of the runs (smoke run)`;


const FLAVORS: Record<string, Flavor> = {
  tiny: { name: 'm1.tiny', vcpus: 1, ramMb: 512, diskGb: 1 },
  small: { name: 'm1.small', vcpus: 1, ramMb: 2048, diskGb: 20 },
  medium: { name: 'm1.medium', vcpus: 2, ramMb: 4096, diskGb: 40 },
  large: { name: 'm1.large', vcpus: 4, ramMb: 8192, diskGb: 80 },
};

/** 2 controllers, 4 brokers, 36 media servers, 8 storage nodes = 50 units, ~100 guaranteed demands. */
function topology(): { units: PlacementUnit[]; demands: TrafficDemand[] } {
  const units: PlacementUnit[] = [];
  const add = (si: string, count: number, flavor: (i: number) => Flavor, sla: string): string[] =>
    Array.from({ length: count }, (_, i) => {
      const id = `${si}-${i + 1}`;
      units.push({ id, serviceInstance: si, flavor: flavor(i), sla: { className: sla, minBps: 100 * MBIT, maxBps: GBIT } });
      return id;
    });
  const controllers = add('Controller', 2, () => FLAVORS.medium as Flavor, 'Wholesale');
  const brokers = add('Broker', 4, () => FLAVORS.medium as Flavor, 'Wholesale');
  const media = add('MediaServer', 36, (i) => (i % 6 === 0 ? FLAVORS.large : i % 2 === 0 ? FLAVORS.small : FLAVORS.tiny) as Flavor, 'Gold');
  const storage = add('Storage', 8, () => FLAVORS.small as Flavor, 'Silver');
  const demands: TrafficDemand[] = [];
  for (const c of controllers) for (const b of brokers) demands.push({ a: c, b, guaranteedBps: 50 * MBIT });
  for (const c of controllers) for (const s of storage) demands.push({ a: c, b: s, guaranteedBps: 20 * MBIT });
  media.forEach((m, i) => {
    demands.push({ a: brokers[i % brokers.length] as string, b: m, guaranteedBps: 100 * MBIT });
    demands.push({ a: m, b: storage[i % storage.length] as string, guaranteedBps: 50 * MBIT });
  });
  return { units, demands };
}

/** `big`: any of the roomier hosts holds the topology. `small`: ≥ 3 hosts are needed. */
function hosts(count: number, kind: 'big' | 'small', seed: number): HostState[] {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  return Array.from({ length: count }, (_, i) => {
    const cpus = kind === 'big' ? pick([16, 24, 32, 48, 64]) : pick([8, 12, 16]);
    const ramMb = (kind === 'big' ? pick([64, 128, 256]) : pick([24, 32, 48, 64])) * 1024;
    const disk = kind === 'big' ? pick([1000, 2000, 4000]) : pick([600, 800, 1000]);
    const load = rnd() * 0.95;
    const ratio = kind === 'big' ? 4 : 2;
    return {
      name: `compute${String(i + 1).padStart(6, '0')}`,
      availabilityZone: 'nova',
      up: rnd() > 0.02,
      enabled: rnd() > 0.01,
      vcpu: { total: cpus, reserved: 0, allocationRatio: ratio, maxUnit: cpus, used: Math.floor(cpus * ratio * load) },
      ramMb: { total: ramMb, reserved: 2048, allocationRatio: 1, maxUnit: ramMb, used: Math.floor((ramMb - 2048) * load) },
      diskGb: { total: disk, reserved: 0, allocationRatio: 1, maxUnit: disk, used: Math.floor(disk * load * rnd()) },
      uplink: { capacityBps: 10 * GBIT, committedBps: Math.floor(rnd() * 8) * GBIT },
    };
  });
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx] as number;
}

const r3 = (n: number): number => Math.round(n * 1000) / 1000;

interface Measure {
  p50: number;
  p99: number;
  hostsUsed: number;
  crossBps: number;
}

function measure(req: PlacementRequest, warmup: number, runs: number): Measure {
  let plan = placeTopology(req);
  for (let i = 0; i < warmup; i++) plan = placeTopology(req);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    plan = placeTopology(req);
    times.push(performance.now() - t0);
  }
  if (!plan.feasible) throw new Error(`benchmark request infeasible: ${plan.reasons.map((r) => r.message).join('; ')}`);
  times.sort((a, b) => a - b);
  return { p50: quantile(times, 0.5), p99: quantile(times, 0.99), hostsUsed: plan.hosts.length, crossBps: plan.crossHostBps };
}

export function main(argv: readonly string[]): Promise<void> {
  let quick = false;
  for (const a of argv) {
    if (a === '--quick') quick = true;
    else if (a === '--help' || a === '-h') throw new BenchUsageError(USAGE);
    else throw new BenchUsageError(`unknown option "${a}"\n\n${USAGE}`);
  }
  const { units, demands } = topology();
  const results: Record<'fits' | 'split', Record<number, Measure>> = { fits: {}, split: {} };
  for (const size of SIZES) {
    const runs = Math.max(10, Math.round((RUNS[size] ?? 30) / (quick ? 10 : 1)));
    const warmup = Math.max(2, Math.round((WARMUP[size] ?? 5) / (quick ? 5 : 1)));
    for (const situation of ['fits', 'split'] as const) {
      const req: PlacementRequest = { units, demands, hosts: hosts(size, situation === 'fits' ? 'big' : 'small', size + (situation === 'fits' ? 1 : 2)), strategy: 'traffic-aware' };
      results[situation][size] = measure(req, warmup, runs);
      process.stderr.write(`${situation} ${size} hosts: ${runs} runs done\n`);
    }
  }

  const header = ['situation', 'hosts', 'hosts used', 'cross-host', 'p50 ms', 'p99 ms', 'p99 vs 1 000'];
  const rows: string[][] = [];
  for (const situation of ['fits', 'split'] as const) {
    const base = results[situation][1_000]?.p99 ?? Number.NaN;
    for (const size of SIZES) {
      const m = results[situation][size];
      if (!m) continue;
      rows.push([
        situation,
        size.toLocaleString('en-US'),
        String(m.hostsUsed),
        `${Math.round(m.crossBps / MBIT)} Mbit/s`,
        m.p50.toFixed(3),
        m.p99.toFixed(3),
        `${(m.p99 / base).toFixed(1)}×`,
      ]);
    }
  }
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i < 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  console.log(`placement: 50 units (${demands.length} guaranteed demands), traffic-aware strategy, warm in-memory snapshot`);
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(line(r));
  const p99At10k = Math.max(results.fits[10_000]?.p99 ?? Infinity, results.split[10_000]?.p99 ?? Infinity);
  console.log(`target: p99 ≤ ${TARGET_P99_MS_AT_10K} ms at 10 000 hosts: ${p99At10k <= TARGET_P99_MS_AT_10K ? 'met' : 'MISSED'} (${p99At10k.toFixed(3)} ms)`);

  const per = (situation: 'fits' | 'split', key: 'p50' | 'p99'): Record<string, number> =>
    Object.fromEntries(SIZES.map((s) => [String(s), r3(results[situation][s]?.[key] ?? Number.NaN)]));
  console.log(
    JSON.stringify({ bench: 'placement', units: units.length, p50_ms: per('fits', 'p50'), p99_ms: per('fits', 'p99'), split_p50_ms: per('split', 'p50'), split_p99_ms: per('split', 'p99') }),
  );
  return Promise.resolve();
}
