/**
 * `npm run bench -- allocation [--rounds N] [--baseline-hosts N] [--quick]`:
 * one controller round of the work-conserving guarantee allocator
 * (src/qos/allocation.ts) at region scale: 200 hosts × 20 VMs, every VM with
 * a hose guarantee (send and receive minimum, seeded), 4 peers each (2 on its
 * own host, 2 elsewhere), 5 % of pairs also with a pipe guarantee. Links: up:
 * and down: per host (10 Gbit/s), port: and send: per VM (2 Gbit/s). Demands
 * (a third greedy, a third idle, a third random) come from five seeded draws
 * that the rounds cycle through.
 *
 * Timed: partitionGuarantees + allocateRates per round (the pair objects are
 * built before the clock starts), median and p95 of wall time after warm-up,
 * against the goal of ≤ 50 ms, and the process's CPU time per round (steadier
 * when the machine is shared). A 100 000-pair instance shows how it scales.
 *
 * Baseline, measured in the same run: a straightforward water-fill written
 * here (every step rescans all pairs and links to find the next event, then
 * advances every active pair: O(P·k) per event, O(P²·k) in all) on a smaller
 * instance it finishes on, given the same guarantees. Both must agree within
 * 1 % on every pair there, and on a degraded copy of it where links are
 * over-committed, or the bench fails.
 */
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { allocateRates, DEFAULT_MIN_WEIGHT_BPS, partitionGuarantees, type AllocLink, type HoseGuarantee, type PairInput } from '../src/qos/allocation.ts';
import { prng } from '../src/placement/random-instances.ts';

const MBIT = 1_000_000;
const GBIT = 1_000_000_000;
const HOSTS = 200;
const VMS_PER_HOST = 20;
const PEERS_SAME_HOST = 2;
const PEERS_OTHER_HOSTS = 2;
const SCALE_HOSTS = 1250; // × 20 VMs × 4 peers = 100 000 pairs
const TARGET_ROUND_MS = 50;
const AGREEMENT = 0.01;
const WARMUP_ROUNDS = 5;

class BenchUsageError extends Error {
  override readonly name = 'BenchUsageError';
}

const USAGE = `usage: npm run bench -- allocation [--rounds N] [--baseline-hosts N] [--quick]

  --rounds N           timed rounds at region scale (default 30, at least 20)
  --baseline-hosts N   hosts (x ${String(VMS_PER_HOST)} VMs) of the instance the reference water-fill runs on (default 20)
  --quick              20 rounds, fewer runs of the small instance and the 100 000-pair instance`;

interface Options {
  rounds: number;
  baselineHosts: number;
  quick: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  let rounds: number | undefined;
  let baselineHosts = 20;
  let quick = false;
  const positiveInt = (flag: string, text: string | undefined, min: number): number => {
    const n = Number(text);
    if (text === undefined || !Number.isSafeInteger(n) || n < min) throw new BenchUsageError(`${flag} needs an integer ≥ ${String(min)}\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const flag = raw.startsWith('--') && eq > 0 ? raw.slice(0, eq) : raw;
    const inline = raw.startsWith('--') && eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--rounds':
        rounds = positiveInt('--rounds', value(), 20);
        break;
      case '--baseline-hosts':
        baselineHosts = positiveInt('--baseline-hosts', value(), 2);
        break;
      case '--quick':
        quick = true;
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        throw new BenchUsageError(`unknown option ${raw}\n${USAGE}`);
    }
  }
  return { rounds: rounds ?? (quick ? 20 : 30), baselineHosts, quick };
}

const now = (): number => performance.now();
const progress = (text: string): void => {
  process.stderr.write(`${text}\n`);
};

function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

const median = (values: readonly number[]): number => quantile(values, 0.5);
const fmtMs = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms >= 1 ? ms.toFixed(1) : ms.toFixed(3));
const fmtX = (x: number): string => (x >= 10 ? `${x.toFixed(0)}x` : x >= 0.1 ? `${x.toFixed(2)}x` : `${x.toPrecision(2)}x`);
const fmtInt = (n: number): string => n.toLocaleString('en-US');

function table(header: readonly string[], rows: readonly (readonly string[])[], align: string): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ---- the instance ----------------------------------------------------------------

interface Region {
  readonly hosts: number;
  readonly links: readonly AllocLink[];
  readonly hose: ReadonlyMap<string, HoseGuarantee>;
  /** Pairs with their paths and pipes; demands are drawn per round. */
  readonly pairs: readonly PairInput[];
}

function region(hosts: number, seed: number): Region {
  const rnd = prng(seed);
  const int = (lo: number, hi: number): number => lo + Math.floor(rnd() * (hi - lo + 1));
  const vm = (h: number, v: number): string => `h${String(h)}v${String(v)}`;
  const links: AllocLink[] = [];
  const hose = new Map<string, HoseGuarantee>();
  for (let h = 0; h < hosts; h++) {
    links.push({ id: `up:h${String(h)}`, capacityBps: 10 * GBIT }, { id: `down:h${String(h)}`, capacityBps: 10 * GBIT });
    for (let v = 0; v < VMS_PER_HOST; v++) {
      links.push({ id: `port:${vm(h, v)}`, capacityBps: 2 * GBIT }, { id: `send:${vm(h, v)}`, capacityBps: 2 * GBIT });
      hose.set(vm(h, v), { sendBps: int(1, 50) * 10 * MBIT, receiveBps: int(1, 50) * 10 * MBIT });
    }
  }
  const pairs: PairInput[] = [];
  for (let h = 0; h < hosts; h++) {
    for (let v = 0; v < VMS_PER_HOST; v++) {
      const sender = vm(h, v);
      const peers = new Set<string>();
      while (peers.size < PEERS_SAME_HOST) {
        const w = int(0, VMS_PER_HOST - 1);
        if (w !== v) peers.add(vm(h, w));
      }
      while (peers.size < PEERS_SAME_HOST + PEERS_OTHER_HOSTS) {
        const other = int(0, hosts - 1);
        if (other !== h) peers.add(vm(other, int(0, VMS_PER_HOST - 1)));
      }
      for (const receiver of peers) {
        const receiverHost = receiver.slice(0, receiver.indexOf('v'));
        const path = receiverHost === `h${String(h)}`
          ? [`send:${sender}`, `port:${receiver}`]
          : [`send:${sender}`, `up:h${String(h)}`, `down:${receiverHost}`, `port:${receiver}`];
        const pipe = rnd() < 0.05 ? int(5, 20) * 10 * MBIT : undefined;
        pairs.push({ id: `${sender}>${receiver}`, sender, receiver, links: path, demandBps: 0, ...(pipe === undefined ? {} : { pipeBps: pipe }) });
      }
    }
  }
  return { hosts, links, hose, pairs };
}

/** This round's demands: a third greedy, a third idle, a third anywhere up to 1 Gbit/s. */
function withDemands(pairs: readonly PairInput[], seed: number): PairInput[] {
  const rnd = prng(seed);
  return pairs.map((p) => {
    const roll = rnd();
    const demandBps = roll < 1 / 3 ? Infinity : roll < 2 / 3 ? Math.floor(rnd() * 40_000) : Math.floor(rnd() * GBIT);
    return { ...p, demandBps };
  });
}

// ---- the baseline: a straightforward water-fill ----------------------------------------

/**
 * Progressive filling as a textbook states it: at every step rescan all
 * links for their load and the weight still rising through them, take the
 * smallest step at which a pair reaches its ceiling or a link fills, advance
 * every rising pair by it, stop the pairs that hit something. No heaps, no
 * incremental sums.
 */
function naiveFill(
  links: readonly AllocLink[],
  pairs: readonly PairInput[],
  base: readonly number[],
  weight: readonly number[],
  ceiling: readonly number[],
): number[] {
  const rate = [...base];
  const rising = pairs.map((_, i) => weight[i]! > 0 && ceiling[i]! > base[i]!);
  const capacity = new Map(links.map((l) => [l.id, l.capacityBps]));
  for (;;) {
    const load = new Map<string, number>();
    const risingWeight = new Map<string, number>();
    pairs.forEach((p, i) => {
      for (const l of p.links) {
        load.set(l, (load.get(l) ?? 0) + rate[i]!);
        if (rising[i]) risingWeight.set(l, (risingWeight.get(l) ?? 0) + weight[i]!);
      }
    });
    if (!rising.some(Boolean)) break;
    let step = Infinity;
    pairs.forEach((_, i) => {
      if (rising[i]) step = Math.min(step, (ceiling[i]! - rate[i]!) / weight[i]!);
    });
    for (const [l, w] of risingWeight) step = Math.max(0, Math.min(step, (capacity.get(l)! - load.get(l)!) / w));
    if (step === Infinity) throw new Error('reference water-fill: an unbounded pair crosses no link');
    const full = new Set<string>();
    for (const [l, w] of risingWeight) {
      const cap = capacity.get(l)!;
      if (cap - (load.get(l)! + w * step) <= 1e-9 * cap) full.add(l);
    }
    let stopped = 0;
    pairs.forEach((p, i) => {
      if (!rising[i]) return;
      rate[i] = Math.min(ceiling[i]!, rate[i]! + weight[i]! * step);
      if (rate[i] >= ceiling[i]! * (1 - 1e-12) || p.links.some((l) => full.has(l))) {
        rising[i] = false;
        stopped++;
      }
    });
    if (stopped === 0) throw new Error('reference water-fill made no progress');
  }
  return rate;
}

/** The same two phases as allocateRates: scale over-committed guarantees, then share the spare by weight. */
function referenceAllocate(links: readonly AllocLink[], pairs: readonly PairInput[], guarantees: ReadonlyMap<string, number>): number[] {
  const guarantee = pairs.map((p) => guarantees.get(p.id) ?? 0);
  const claim = pairs.map((p, i) => Math.min(guarantee[i]!, p.demandBps));
  const effective = naiveFill(links, pairs, pairs.map(() => 0), claim, claim);
  return naiveFill(links, pairs, effective, guarantee.map((g) => g + DEFAULT_MIN_WEIGHT_BPS), pairs.map((p) => p.demandBps));
}

// ---- measuring -------------------------------------------------------------------------

interface RoundTimes {
  total: number[];
  partition: number[];
  allocate: number[];
  /** CPU time of the whole process (user + system) per round: steadier than wall time on a shared machine. */
  cpu: number[];
}

/** Demand draws cycled through the rounds, built before timing so that their garbage is not collected inside it. */
const DEMAND_VARIANTS = 5;

const cpuMs = (): number => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

function timeRounds(r: Region, rounds: number, seed: number, label: string): RoundTimes {
  const variants = Array.from({ length: DEMAND_VARIANTS }, (_, k) => withDemands(r.pairs, seed + k));
  const times: RoundTimes = { total: [], partition: [], allocate: [], cpu: [] };
  for (let k = -WARMUP_ROUNDS; k < rounds; k++) {
    const pairs = variants[(k + WARMUP_ROUNDS) % DEMAND_VARIANTS]!;
    const c0 = cpuMs();
    const t0 = now();
    const guarantees = partitionGuarantees(pairs, r.hose);
    const t1 = now();
    const result = allocateRates(r.links, pairs, guarantees);
    const t2 = now();
    const c2 = cpuMs();
    if (k < DEMAND_VARIANTS - WARMUP_ROUNDS) checkCapacity(r, result.rates, pairs, label);
    if (k < 0) continue;
    times.total.push(t2 - t0);
    times.partition.push(t1 - t0);
    times.allocate.push(t2 - t1);
    times.cpu.push(c2 - c0);
  }
  return times;
}

/** A cheap sanity check at full scale, where the reference cannot run: no link over capacity, no pair over demand. */
function checkCapacity(r: Region, rates: ReadonlyMap<string, number>, pairs: readonly PairInput[], label: string): void {
  const load = new Map<string, number>();
  for (const p of pairs) {
    const rate = rates.get(p.id) ?? NaN;
    if (!(rate >= 0 && rate <= p.demandBps * (1 + 1e-9))) throw new Error(`${label}: pair ${p.id} got ${String(rate)} for demand ${String(p.demandBps)}`);
    for (const l of p.links) load.set(l, (load.get(l) ?? 0) + rate);
  }
  for (const l of r.links) {
    if ((load.get(l.id) ?? 0) > l.capacityBps * (1 + 1e-6)) throw new Error(`${label}: link ${l.id} over capacity`);
  }
}

function timeSmall(r: Region, runs: number, referenceRuns: number): { ours: number[]; reference: number[]; maxDeviation: number; pairs: number } {
  const pairs = withDemands(r.pairs, 7);
  const guarantees = partitionGuarantees(pairs, r.hose);
  const ours: number[] = [];
  let rates = allocateRates(r.links, pairs, guarantees).rates;
  for (let k = 0; k < WARMUP_ROUNDS; k++) allocateRates(r.links, pairs, guarantees);
  for (let k = 0; k < runs; k++) {
    const t0 = now();
    rates = allocateRates(r.links, pairs, guarantees).rates;
    ours.push(now() - t0);
  }
  const reference: number[] = [];
  let expected: number[] = [];
  for (let k = 0; k < referenceRuns; k++) {
    const t0 = now();
    expected = referenceAllocate(r.links, pairs, guarantees);
    reference.push(now() - t0);
  }
  return { ours, reference, maxDeviation: deviation(pairs, rates, expected, 'as generated'), pairs: pairs.length };
}

/**
 * The region as generated never over-commits a link (guarantees are within
 * capacity), so the scaling phase is checked separately: the same small
 * instance with every third host's downlink degraded to 1 Gbit/s.
 */
function checkDegraded(r: Region): { maxDeviation: number; overcommitted: number } {
  let downlinks = 0;
  const links = r.links.map((l) => (l.id.startsWith('down:') && downlinks++ % 3 === 0 ? { ...l, capacityBps: GBIT } : l));
  const pairs = withDemands(r.pairs, 8);
  const guarantees = partitionGuarantees(pairs, r.hose);
  const result = allocateRates(links, pairs, guarantees);
  const overcommitted = [...result.links.values()].filter((l) => l.overcommitted).length;
  if (overcommitted === 0) throw new Error('the degraded instance over-commits no link: it does not check the scaling phase');
  return { maxDeviation: deviation(pairs, result.rates, referenceAllocate(links, pairs, guarantees), 'degraded'), overcommitted };
}

/** The largest relative difference between the two allocators; throws above the agreement bound. */
function deviation(pairs: readonly PairInput[], rates: ReadonlyMap<string, number>, expected: readonly number[], label: string): number {
  let largest = 0;
  const mismatches: string[] = [];
  pairs.forEach((p, i) => {
    const a = rates.get(p.id) ?? NaN;
    const b = expected[i]!;
    const d = Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1);
    if (!(d <= AGREEMENT)) mismatches.push(`${p.id}: allocateRates ${String(a)} vs reference ${String(b)}`);
    largest = Math.max(largest, d);
  });
  if (mismatches.length > 0) {
    throw new Error(`${label}: allocateRates and the reference water-fill disagree by more than ${String(AGREEMENT * 100)} % on ${String(mismatches.length)} pairs:\n  ${mismatches.slice(0, 10).join('\n  ')}`);
  }
  return largest;
}

export function main(argv: readonly string[]): Promise<void> {
  const options = parseOptions(argv);
  const started = now();

  progress(`baseline: ${String(options.baselineHosts)} hosts x ${String(VMS_PER_HOST)} VMs, reference water-fill vs allocateRates ...`);
  const small = region(options.baselineHosts, 11);
  const smallTimes = timeSmall(small, options.quick ? 20 : 100, options.quick ? 3 : 5);
  const degraded = checkDegraded(small);

  progress(`region: ${String(HOSTS)} hosts x ${String(VMS_PER_HOST)} VMs, ${String(options.rounds)} rounds after ${String(WARMUP_ROUNDS)} warm-up ...`);
  const full = region(HOSTS, 1);
  const fullTimes = timeRounds(full, options.rounds, 1000, 'region');

  const scaleRounds = options.quick ? 3 : 10;
  progress(`scale: ${String(SCALE_HOSTS)} hosts x ${String(VMS_PER_HOST)} VMs, ${String(scaleRounds)} rounds ...`);
  const scale = region(SCALE_HOSTS, 2);
  const scaleTimes = timeRounds(scale, scaleRounds, 2000, 'scale');

  const refMedian = median(smallTimes.reference);
  const oursSmallMedian = median(smallTimes.ours);
  const row = (instance: Region, method: string, sized: boolean, wall: readonly number[], cpu: readonly number[] | undefined, vs: string): string[] => [
    `${fmtInt(instance.hosts)}x${String(VMS_PER_HOST)}`,
    method,
    sized ? fmtInt(instance.pairs.length) : '',
    sized ? fmtInt(instance.links.length) : '',
    fmtMs(median(wall)),
    fmtMs(quantile(wall, 0.95)),
    cpu ? fmtMs(median(cpu)) : '',
    sized ? String(wall.length) : '',
    vs,
  ];
  const rows: string[][] = [
    row(small, '(b) reference water-fill, O(P·k) per event', true, smallTimes.reference, undefined, '1.00x'),
    row(small, '(a) allocateRates, event-driven', true, smallTimes.ours, undefined, fmtX(oursSmallMedian / refMedian)),
    row(full, 'partitionGuarantees + allocateRates', true, fullTimes.total, fullTimes.cpu, '-'),
    row(full, '  of which partitionGuarantees', false, fullTimes.partition, undefined, '-'),
    row(full, '  of which allocateRates', false, fullTimes.allocate, undefined, '-'),
    row(scale, 'partitionGuarantees + allocateRates', true, scaleTimes.total, scaleTimes.cpu, '-'),
  ];

  const roundMedian = median(fullTimes.total);
  const roundP95 = quantile(fullTimes.total, 0.95);
  const out: string[] = [];
  out.push('');
  out.push(`Guarantee allocation benchmark: one controller round, hose guarantees on every VM, ${String(PEERS_SAME_HOST)}+${String(PEERS_OTHER_HOSTS)} peers per VM (same host + other hosts), 5 % pipes`);
  out.push('  links: up:/down: per host 10 Gbit/s, port:/send: per VM 2 Gbit/s; demands per round: 1/3 greedy, 1/3 idle, 1/3 random ≤ 1 Gbit/s');
  out.push(`  (a) vs (b): the same pairs and guarantees, allocation only; they agree within ${String(AGREEMENT * 100)} % on all ${fmtInt(smallTimes.pairs)} pairs (largest deviation ${(smallTimes.maxDeviation * 100).toPrecision(2)} %),`);
  out.push(`  and on the same instance with every third downlink at 1 Gbit/s (${String(degraded.overcommitted)} links over-committed, largest deviation ${(degraded.maxDeviation * 100).toPrecision(2)} %)`);
  out.push('');
  out.push(table(['hosts x VMs', 'method', 'pairs', 'links', 'median ms', 'p95 ms', 'cpu ms', 'runs', 'vs (b)'], rows, 'llrrrrrrr'));
  out.push('  ms are wall time; vs (b) = median / median of the reference on the same instance (lower is better);');
  out.push(`  cpu ms = median CPU time of the process per round (steadier on a shared machine); load average ${os.loadavg().map((x) => x.toFixed(1)).join(' ')} on ${String(os.availableParallelism())} CPUs`);
  out.push('');
  const met = roundMedian <= TARGET_ROUND_MS && roundP95 <= TARGET_ROUND_MS;
  out.push(`goal: one round at ${String(HOSTS)} hosts x ${String(VMS_PER_HOST)} VMs <= ${String(TARGET_ROUND_MS)} ms: median ${fmtMs(roundMedian)} ms, p95 ${fmtMs(roundP95)} ms -> ${met ? 'MET' : 'NOT MET'}`);
  out.push(`total bench time ${((now() - started) / 1000).toFixed(1)} s`);
  out.push('');
  const round = (x: number): number => Math.round(x * 1000) / 1000;
  out.push(
    JSON.stringify({
      bench: 'allocation',
      hosts: HOSTS,
      vms_per_host: VMS_PER_HOST,
      pairs: full.pairs.length,
      links: full.links.length,
      round_median_ms: round(roundMedian),
      round_p95_ms: round(roundP95),
      round_cpu_median_ms: round(median(fullTimes.cpu)),
      partition_median_ms: round(median(fullTimes.partition)),
      allocate_median_ms: round(median(fullTimes.allocate)),
      baseline_pairs: small.pairs.length,
      reference_median_ms: round(refMedian),
      ours_on_baseline_median_ms: round(oursSmallMedian),
      ratio_vs_reference: round(oursSmallMedian / refMedian),
      scale_pairs: scale.pairs.length,
      scale_round_median_ms: round(median(scaleTimes.total)),
    }),
  );
  console.log(out.join('\n'));
  return Promise.resolve();
}
