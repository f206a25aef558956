/**
 * `npm run bench -- plan-limits [--runs N]`: what one topology at the manager's default limits
 * costs to plan, and whether planning blocks the event loop (issue 16).
 *
 * Inputs (each at or next to a default limit of DEFAULT_TOPOLOGY_LIMITS):
 *  - `units`: 200 units (the limit), 4 instances of 50 each talking to itself and the next:
 *    14 900 guaranteed pairs;
 *  - `pairs`: 200 units in one instance talking to itself: 19 900 pairs (the most 200 units
 *    can have; the pair limit is 20 000);
 *  - `refused`: `def: 1000000000` and an alias bomb, refused by the parser (the cost of saying no).
 * Each over 24 hosts of 16 vCPUs (the topology must split) and over 2 hosts (infeasible).
 * Two ways, alternating, on the same inputs:
 *  - inline (the baseline): `planRequest` on this thread, as before issue 16;
 *  - worker: `PlanRunner.plan` (the manager's way), a worker thread with the deadline.
 * Reported: wall time per plan (median, max) and the longest event-loop block while planning
 * (perf_hooks' monitorEventLoopDelay, max), and the ratio inline ÷ worker of that block.
 * Goal: with the worker, no block over 100 ms.
 */
import os from 'node:os';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { V1Hosts } from '../src/agent/hosts-view.ts';
import { PlanRunner } from '../src/manager/plan-runner.ts';
import { planRequest, type PlanInputs, type TopologyRequest } from '../src/manager/planner.ts';
import { DEFAULT_SLA_CLASSES } from '../src/topology/index.ts';
import { TopologyError } from '../src/topology/source.ts';

class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

const GOAL_BLOCK_MS = 100;

function topologyText(instances: number, each: number, traffic: 'ring' | 'self' | 'none'): string {
  const lines = ['name: bench', 'services:', '  - { service_type: T, image: cirros, flavor: m1.mini, size: { min: 0, def: 1, max: 200 }, networks: [{ name: n, private_net: private, private_subnet: private-subnet }] }', 'service_instances:'];
  for (let i = 0; i < instances; i += 1) lines.push(`  - { name: S${String(i)}, service_type: T, size: { min: 0, def: ${String(each)}, max: ${String(Math.max(1, Math.min(each, 200)))} } }`);
  if (traffic !== 'none') {
    lines.push('traffic:');
    for (let i = 0; i < instances; i += 1) {
      lines.push(`  - { between: [S${String(i)}, S${String(i)}], guaranteed: 1kbit }`);
      if (traffic === 'ring' && instances > 1) lines.push(`  - { between: [S${String(i)}, S${String((i + 1) % instances)}], guaranteed: 1kbit }`);
    }
  }
  return `${lines.join('\n')}\n`;
}

const BOMB = ['name: bomb', 'a: &a [x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]', 'services: [*d, *d, *d, *d, *d, *d, *d, *d, *d]', 'service_instances: []', ''].join('\n');

function hosts(count: number, vcpus: number): V1Hosts {
  const inv = (total: number) => ({ total, reserved: 0, allocation_ratio: 1, max_unit: total, used: 0 });
  return {
    hosts: Array.from({ length: count }, (_, i) => ({
      name: `compute${String(i + 1)}`,
      availability_zone: 'nova',
      state: 'up',
      status: 'enabled',
      resources: { VCPU: inv(vcpus), MEMORY_MB: inv(vcpus * 4096), DISK_GB: inv(vcpus * 100) },
    })),
  } as unknown as V1Hosts;
}

function inputs(hostCount: number, vcpus: number): PlanInputs {
  return {
    hosts: hosts(hostCount, vcpus),
    flavors: [{ id: '1', name: 'm1.mini', vcpus: 1, ram: 512, disk: 1 } as never],
    limits: undefined,
    uplink: { defaultBps: 10_000_000_000, hosts: {} },
    committed: new Map(),
    classes: DEFAULT_SLA_CLASSES,
  };
}

interface Case {
  name: string;
  request: TopologyRequest;
  inputs: PlanInputs;
}

interface Sample {
  ms: number;
  blockMs: number;
  outcome: string;
}

async function measure(run: () => Promise<string>): Promise<Sample> {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  // Let the monitor take a first sample before the work starts.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const t0 = performance.now();
  const outcome = await run();
  const ms = performance.now() - t0;
  await new Promise((resolve) => setTimeout(resolve, 20));
  histogram.disable();
  return { ms, blockMs: histogram.max / 1e6, outcome };
}

const outcomeOf = (planned: { plan: { feasible: boolean; hosts?: string[] }; demands: unknown[] }): string =>
  planned.plan.feasible ? `split over ${String(planned.plan.hosts?.length ?? 0)} hosts, ${String(planned.demands.length)} pairs` : `infeasible, ${String(planned.demands.length)} pairs`;

async function attempt(f: () => Promise<string>): Promise<string> {
  try {
    return await f();
  } catch (error) {
    if (error instanceof TopologyError) return `refused: ${error.issues[0]?.message.slice(0, 60) ?? ''}`;
    throw error;
  }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

export async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help')) {
    console.log('usage: npm run bench -- plan-limits [--runs N]   (default 5 runs of each way per case)');
    return;
  }
  const at = argv.indexOf('--runs');
  const runs = at >= 0 ? Number(argv[at + 1]) : 5;
  if (!Number.isInteger(runs) || runs < 1) throw new BenchUsageError('--runs needs a positive integer');
  const yaml = (text: string): TopologyRequest => ({ format: 'yaml', files: [{ name: 'topology', text }], strategy: 'traffic-aware' });
  const cases: Case[] = [
    { name: 'units: 200 units, 14 900 pairs, 24 hosts', request: yaml(topologyText(4, 50, 'ring')), inputs: inputs(24, 16) },
    { name: 'pairs: 200 units, 19 900 pairs, 24 hosts', request: yaml(topologyText(1, 200, 'self')), inputs: inputs(24, 16) },
    { name: 'pairs: 200 units, 19 900 pairs, 2 hosts', request: yaml(topologyText(1, 200, 'self')), inputs: inputs(2, 16) },
    { name: 'refused: def 1 000 000 000', request: yaml(topologyText(1, 1_000_000_000, 'none')), inputs: inputs(24, 16) },
    { name: 'refused: alias bomb', request: yaml(BOMB), inputs: inputs(24, 16) },
  ];
  const runner = new PlanRunner({ timeoutMs: 60_000, heapMb: 256 });
  console.log(`plan-limits: ${String(runs)} runs of each way per case, alternating; ${os.cpus().length} cores, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  // One plan first so that the worker's start (module loading) is not in the first timed run.
  await attempt(async () => outcomeOf(await runner.plan(cases[3]?.request ?? yaml(''), inputs(1, 1))));
  const rows: string[][] = [];
  const results: Record<string, unknown>[] = [];
  let worstWorkerBlock = 0;
  for (const c of cases) {
    const inline: Sample[] = [];
    const worker: Sample[] = [];
    for (let i = 0; i < runs; i += 1) {
      const ways = [
        async () => inline.push(await measure(() => attempt(async () => Promise.resolve(outcomeOf(planRequest(c.request, c.inputs)))))),
        async () => worker.push(await measure(() => attempt(async () => outcomeOf(await runner.plan(c.request, c.inputs))))),
      ];
      if (i % 2 === 1) ways.reverse();
      for (const way of ways) await way();
    }
    const inlineBlock = Math.max(...inline.map((s) => s.blockMs));
    const workerBlock = Math.max(...worker.map((s) => s.blockMs));
    worstWorkerBlock = Math.max(worstWorkerBlock, workerBlock);
    rows.push([
      c.name,
      inline[0]?.outcome ?? '',
      `${median(inline.map((s) => s.ms)).toFixed(1)} / ${Math.max(...inline.map((s) => s.ms)).toFixed(1)}`,
      `${median(worker.map((s) => s.ms)).toFixed(1)} / ${Math.max(...worker.map((s) => s.ms)).toFixed(1)}`,
      inlineBlock.toFixed(1),
      workerBlock.toFixed(1),
      `${(inlineBlock / workerBlock).toFixed(1)}×`,
    ]);
    results.push({ case: c.name, outcome: inline[0]?.outcome, inline_ms_median: median(inline.map((s) => s.ms)), worker_ms_median: median(worker.map((s) => s.ms)), inline_block_ms: inlineBlock, worker_block_ms: workerBlock });
  }
  await runner.close();
  const header = ['case', 'outcome', 'inline ms (median / max)', 'worker ms (median / max)', 'loop block inline (ms)', 'loop block worker (ms)', 'block inline ÷ worker'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ');
  console.log(line(header));
  for (const r of rows) console.log(line(r));
  const met = worstWorkerBlock <= GOAL_BLOCK_MS;
  console.log(`goal: longest event-loop block while planning with the worker ≤ ${String(GOAL_BLOCK_MS)} ms: ${worstWorkerBlock.toFixed(1)} ms, ${met ? 'met' : 'MISSED'}; load after ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  for (const r of results) console.log(JSON.stringify({ bench: 'plan-limits', ...r }));
  console.log(JSON.stringify({ bench: 'plan-limits', goal_block_ms: GOAL_BLOCK_MS, worst_worker_block_ms: worstWorkerBlock, met }));
}
