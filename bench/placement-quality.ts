/**
 * `npm run bench -- placement-quality [--seeds N] [--from S] [--show SEED]`:
 * the traffic-aware heuristic against the exhaustive optimum on N seeded
 * random small requests (the property test's generator, seeds S..S+N−1).
 * Counts each rule's violations (feasibility, host count, cut ≤ 1.1× the
 * optimum's, the independent validator) and names the worst seeds, so that a
 * miss the property test's few seeds cannot see is reproducible. `--show`
 * prints one instance and both plans instead.
 */
import { performance } from 'node:perf_hooks';
import { placeTopology, solveExhaustive } from '../src/placement/index.ts';
import { planViolations, randomInstance } from '../src/placement/random-instances.ts';
import type { PlacementPlan, PlacementRequest } from '../src/placement/types.ts';

const CUT_TOLERANCE = 1.1;
const WORST_LISTED = 10;
const MBIT = 1_000_000;

class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

const USAGE = `usage: npm run bench -- placement-quality [--seeds N] [--from S] [--show SEED]
  --seeds N    how many seeds (default 2000)
  --from S     first seed (default 0)
  --show SEED  print one instance, the heuristic's plan and the optimum`;

function intArg(name: string, value: string | undefined): number {
  const n = Number(value);
  if (value === undefined || !Number.isSafeInteger(n) || n < 0) throw new BenchUsageError(`${name} needs a non-negative integer\n\n${USAGE}`);
  return n;
}

const mbit = (bps: number): string => `${bps / MBIT}`;

function show(seed: number): void {
  const req = randomInstance(seed);
  console.log(`seed ${seed}: ${req.units.length} units, ${req.hosts.length} hosts`);
  for (const u of req.units) console.log(`  unit ${u.id} ${u.flavor.name} (${u.flavor.vcpus} vCPU, ${u.flavor.ramMb} MiB, ${u.flavor.diskGb} GiB)${u.availabilityZone ? ` az=${u.availabilityZone}` : ''}`);
  for (const h of req.hosts) {
    const free = [h.vcpu, h.ramMb, h.diskGb].map((i) => Math.floor((i.total - i.reserved) * i.allocationRatio) - i.used);
    const maxUnit = [h.vcpu.maxUnit, h.ramMb.maxUnit, h.diskGb.maxUnit];
    console.log(
      `  host ${h.name} ${h.up && h.enabled ? '' : '(down/disabled) '}az=${h.availabilityZone} free=${free.join('/')} max_unit=${maxUnit.join('/')} ` +
        `uplink free=${mbit(h.uplink.capacityBps - h.uplink.committedBps)} Mbit/s`,
    );
  }
  for (const d of req.demands) console.log(`  demand ${d.a}–${d.b} ${mbit(d.guaranteedBps)} Mbit/s`);
  const describe = (label: string, plan: PlacementPlan): void => {
    if (!plan.feasible) {
      console.log(`${label}: infeasible (${plan.reasons.map((r) => r.message).join('; ')})`);
      return;
    }
    const by = new Map<string, string[]>();
    for (const [u, h] of Object.entries(plan.assignments)) by.set(h ?? '?', [...(by.get(h ?? '?') ?? []), u]);
    const parts = [...by.entries()].sort().map(([h, us]) => `${h}: ${us.join(' ')}`);
    console.log(`${label}: cut ${mbit(plan.crossHostBps)} Mbit/s; ${parts.join(' | ')}`);
  };
  describe('heuristic', placeTopology(req));
  describe('optimum  ', solveExhaustive(req));
}

interface Case {
  seed: number;
  ratio: number;
  cut: number;
  optimum: number;
}

function run(from: number, seeds: number): void {
  let feasible = 0;
  let splits = 0;
  let optimalCuts = 0;
  let heuristicMs = 0;
  const broken = { infeasible: [] as number[], spurious: [] as number[], hostCount: [] as number[], invalid: [] as number[] };
  const over: Case[] = [];
  const misses: Case[] = [];
  for (let seed = from; seed < from + seeds; seed++) {
    const req: PlacementRequest = randomInstance(seed);
    const t0 = performance.now();
    const heuristic = placeTopology(req);
    heuristicMs += performance.now() - t0;
    const optimum = solveExhaustive(req);
    if (optimum.feasible && !heuristic.feasible) broken.infeasible.push(seed);
    if (!optimum.feasible && heuristic.feasible) broken.spurious.push(seed);
    if (!heuristic.feasible || !optimum.feasible) continue;
    feasible++;
    if (optimum.hosts.length > 1) splits++;
    if (planViolations(req, heuristic).length > 0) broken.invalid.push(seed);
    if (heuristic.hosts.length !== optimum.hosts.length) broken.hostCount.push(seed);
    const cut = heuristic.crossHostBps;
    const best = optimum.crossHostBps;
    if (cut === best) optimalCuts++;
    else {
      const c = { seed, ratio: best > 0 ? cut / best : Infinity, cut, optimum: best };
      misses.push(c);
      if (cut > CUT_TOLERANCE * best) over.push(c);
    }
  }
  misses.sort((x, y) => y.ratio - x.ratio || x.seed - y.seed);
  const worst = misses[0]?.ratio ?? 1;
  const seedsOf = (xs: readonly number[]): string => (xs.length === 0 ? '' : `  (seeds ${xs.slice(0, WORST_LISTED).join(', ')}${xs.length > WORST_LISTED ? ', …' : ''})`);
  console.log(`placement quality: heuristic vs exhaustive optimum, seeds ${from}..${from + seeds - 1}`);
  const rows: [string, string][] = [
    ['feasible (both)', String(feasible)],
    ['need a split (optimum > 1 host)', String(splits)],
    ['optimal cut', String(optimalCuts)],
    ['suboptimal cut', String(misses.length)],
    ['infeasible where optimum is not', `${broken.infeasible.length}${seedsOf(broken.infeasible)}`],
    ['feasible where optimum is not', `${broken.spurious.length}${seedsOf(broken.spurious)}`],
    ["host count ≠ optimum's", `${broken.hostCount.length}${seedsOf(broken.hostCount)}`],
    ['validator violations', `${broken.invalid.length}${seedsOf(broken.invalid)}`],
    [`cut > ${CUT_TOLERANCE}× optimum's`, `${over.length}${seedsOf(over.map((c) => c.seed))}`],
    ['worst cut ratio', worst.toFixed(3)],
    ['heuristic time', `${heuristicMs.toFixed(0)} ms total, ${(heuristicMs / seeds).toFixed(3)} ms mean`],
  ];
  const width = Math.max(...rows.map(([label]) => label.length));
  for (const [label, value] of rows) console.log(`  ${label.padEnd(width)}  ${value}`);
  if (misses.length > 0) {
    console.log(`worst cases (--show SEED for details):`);
    for (const c of misses.slice(0, WORST_LISTED)) console.log(`  seed ${c.seed}: ${mbit(c.cut)} vs ${mbit(c.optimum)} Mbit/s (${c.ratio.toFixed(3)}×)`);
  }
  console.log(
    JSON.stringify({
      bench: 'placement-quality',
      seeds,
      feasible,
      splits,
      over_1_1: over.length,
      worst_ratio: Math.round(worst * 1000) / 1000,
      infeasible_mismatch: broken.infeasible.length + broken.spurious.length,
      host_count_mismatch: broken.hostCount.length,
      invalid: broken.invalid.length,
    }),
  );
}

export function main(argv: readonly string[]): Promise<void> {
  let seeds = 2000;
  let from = 0;
  let showSeed: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--seeds') seeds = intArg(a, argv[++i]);
    else if (a === '--from') from = intArg(a, argv[++i]);
    else if (a === '--show') showSeed = intArg(a, argv[++i]);
    else if (a === '--help' || a === '-h') throw new BenchUsageError(USAGE);
    else throw new BenchUsageError(`unknown option "${a ?? ''}"\n\n${USAGE}`);
  }
  if (showSeed === undefined) run(from, seeds);
  else show(showSeed);
  return Promise.resolve();
}
