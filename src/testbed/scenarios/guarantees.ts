/**
 * `cm testbed scenario guarantees`: the guaranteed rate measured where VMs
 * compete, each case once without the agent's guarantee controller (today's
 * behaviour: the min is a number nobody enforces) and once with it.
 *
 * Rates are the thesis's divided by `scale` (100: a 1 GbE NIC becomes
 * 10 Mbit/s). Every rate is read on the VMs' ports (frames, one common window
 * for all flows of a run: counters.ts), after `omitS` seconds of start-up.
 *
 * 1. download across the NIC: three senders on compute1, three receivers on
 *    compute2 with download min 600/100/100 Mbit/s (thesis scale), all greedy;
 * 2. upload across the NIC: the same with the mins on the senders' uploads;
 * 3. work conservation: case 1 with the 600 Mbit/s pair idle at first (the
 *    others must fill the NIC), then starting (it must reach 95 % of its
 *    guarantee within 2 s: time series charted);
 * 4. one host, several sources into one VM (the thesis's scenario 3): a Gold
 *    source's flow into a Gold receiver has a pair guarantee (a declared
 *    traffic demand) and gets it ahead of a Wholesale source's flow; caps hold.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SlaRequestBody } from '../../qos/sla.ts';
import { writeChart, writeLineChart, type ChartGroup, type WrittenChart } from '../chart.ts';
import { frameRate, rateSeries } from './counters.ts';
import { startScenarioEnv, thesisCloud, type BootedServer, type ScenarioEnv } from './env.ts';
import { runFlowsMeasured, type FlowSpec, type MeasuredFlows } from './iperf.ts';
import { formatTable, mbit } from './table.ts';

/** Thesis-scale rates (bit/s). */
const FULL = {
  nic: 1e9,
  mins: [600e6, 100e6, 100e6] as const,
  gold: { min: 100e6, max: 10e9 },
  wholesale: { min: 100e6, max: 1e9 },
  /** Case 4's declared traffic demand between the two MediaServers. */
  pipe: 8e9,
};
/** A VM gets ≥ this share of its guarantee: the issue's goal. */
export const GUARANTEE_FRACTION = 0.95;
/** Work conservation: with the guaranteed VM idle, the others use ≥ this share of the NIC. */
export const WORK_CONSERVING_FRACTION = 0.9;
/** An idle VM that starts reaches 95 % of its guarantee within this many seconds. */
export const REACH_WITHIN_S = 2;
export const CAP_TOLERANCE = 0.05;

export interface GuaranteesOptions {
  scale?: number;
  /** Seconds measured per run (after `omitS`). @default 8 */
  durationS?: number;
  /** Seconds of start-up left out of each run. @default 2 */
  omitS?: number;
  /** Case 3: seconds the guaranteed VM stays idle. @default 5 */
  idleS?: number;
  outDir?: string;
  prefix?: string;
  print?: (line: string) => void;
}

export interface GuaranteeCheck {
  case: 1 | 2 | 3 | 4;
  what: string;
  /** Measured value and goal, in the unit named by `unit`. */
  value: number;
  goal: number;
  unit: 'Mbit/s' | 's' | '%';
  /** `≥` or `≤` or `±5%`. */
  kind: '≥' | '≤' | '±5%';
  pass: boolean;
}

export interface GuaranteeRow {
  case: 1 | 2 | 3 | 4;
  label: string;
  /** The receiver's (or sender's) guarantee, bit/s; 0 when none. */
  guaranteeBps: number;
  /** Frames per second at the receiver's port, without / with the controller. */
  withoutBps: number;
  withBps: number;
}

export interface GuaranteesResult {
  scale: number;
  nicRateBps: number;
  rows: GuaranteeRow[];
  checks: GuaranteeCheck[];
  /** Case 3's time series: receivers' frame rates (bit/s) by label, t in s from the late start. */
  series: Record<string, { t: number; bps: number }[]>;
  reachS: number;
  cost: { cpuPercentOfCore: number; perHostPercent: number; perVmPercent: number; roundMs: number; pairs: number; vms: number; hosts: number };
  table: string;
  charts: WrittenChart[];
}

function within(value: number, target: number, tolerance: number): boolean {
  return Math.abs(value / target - 1) <= tolerance;
}

export async function runGuaranteesScenario(options: GuaranteesOptions = {}): Promise<GuaranteesResult> {
  const scale = options.scale ?? 100;
  const durationS = options.durationS ?? 8;
  const omitS = options.omitS ?? 2;
  const idleS = options.idleS ?? 5;
  const print = options.print ?? (() => undefined);
  const nic = Math.round(FULL.nic / scale);
  const mins = FULL.mins.map((m) => Math.round(m / scale));
  const gold = { min: Math.round(FULL.gold.min / scale), max: Math.round(FULL.gold.max / scale) };
  const wholesale = { min: Math.round(FULL.wholesale.min / scale), max: Math.round(FULL.wholesale.max / scale) };
  const pipe = Math.round(FULL.pipe / scale);
  print(
    `guarantees at 1/${String(scale)} of the thesis's rates: NIC ${mbit(nic)} Mbit/s, mins ${mins.map(mbit).join(' / ')} Mbit/s; ${String(durationS)} s per run after ${String(omitS)} s of start-up`,
  );

  const env = await startScenarioEnv({ scenario: thesisCloud(), nicRateBps: nic, uplinkBps: nic, ...(options.prefix === undefined ? {} : { prefix: options.prefix }) });
  const rows: GuaranteeRow[] = [];
  const checks: GuaranteeCheck[] = [];
  const charts: WrittenChart[] = [];
  let series: Record<string, { t: number; bps: number }[]>;
  let reachS: number;
  const cpu = { micros: 0, wallMs: 0, rounds: 0, roundMs: 0, pairs: 0 };
  const controller = env.agent.guarantees;
  if (!controller) throw new Error('the agent runs without its guarantee controller (enforcement.guarantees.enabled: false)');
  const netnsOf = (host: string): string => env.testbed.host(host).netns;
  const run = (specs: FlowSpec[], extra: { delayS?: number[]; flowDurationS?: number[] } = {}): Promise<MeasuredFlows> =>
    runFlowsMeasured(specs, { durationS, omitS, netnsOf, ...extra });
  /** Runs with the controller on, adding its CPU time to the cost figures. */
  const controlled = async (specs: FlowSpec[], extra: { delayS?: number[]; flowDurationS?: number[] } = {}): Promise<MeasuredFlows> => {
    controller.start();
    await new Promise((r) => setTimeout(r, 1500));
    const before = { ...controller.stats };
    const started = performance.now();
    const result = await run(specs, extra);
    cpu.wallMs += performance.now() - started;
    cpu.micros += controller.stats.cpuMicros - before.cpuMicros;
    cpu.rounds += controller.stats.rounds - before.rounds;
    cpu.roundMs = Math.max(cpu.roundMs, controller.stats.lastRoundMs);
    cpu.pairs = Math.max(cpu.pairs, controller.stats.pairs);
    return result;
  };
  const rx = (m: MeasuredFlows, server: BootedServer): number => m.flows.find((f) => f.to === server.name)?.receiverFrameBps ?? Number.NaN;
  const flow = (from: BootedServer, to: BootedServer): FlowSpec => ({ label: `${from.name} → ${to.name}`, from, to });
  const check = (c: Omit<GuaranteeCheck, 'pass'>): void => {
    const pass = c.kind === '≥' ? c.value >= c.goal : c.kind === '≤' ? c.value <= c.goal : within(c.value, c.goal, CAP_TOLERANCE);
    checks.push({ ...c, pass });
    print(`    ${pass ? 'PASS' : 'FAIL'} case ${String(c.case)}: ${c.what}: ${c.value.toFixed(2)} ${c.unit} (goal ${c.kind} ${c.goal.toFixed(2)})`);
  };

  try {
    // ---- cases 1–3: two hosts joined by the NIC ----
    const senders: BootedServer[] = [];
    const receivers: BootedServer[] = [];
    for (let i = 1; i <= 3; i++) senders.push(await env.boot(`S-${String(i)}`, 'compute1'));
    for (let i = 1; i <= 3; i++) receivers.push(await env.boot(`R-${String(i)}`, 'compute2'));
    const pairs = senders.map((s, i) => flow(s, receivers[i] as BootedServer));

    const measureCase = async (n: 1 | 2, title: string, sla: (i: number) => { sender: SlaRequestBody; receiver: SlaRequestBody }): Promise<void> => {
      print(`  case ${String(n)}: ${title}`);
      await controller.suspend();
      for (let i = 0; i < 3; i++) {
        const s = sla(i);
        await env.setSla(senders[i] as BootedServer, s.sender);
        await env.setSla(receivers[i] as BootedServer, s.receiver);
      }
      const without = await run(pairs);
      const withCtl = await controlled(pairs);
      for (let i = 0; i < 3; i++) {
        const r = receivers[i] as BootedServer;
        const g = mins[i] ?? 0;
        rows.push({ case: n, label: `${senders[i]?.name ?? ''} → ${r.name}`, guaranteeBps: g, withoutBps: rx(without, r), withBps: rx(withCtl, r) });
        check({ case: n, what: `${pairs[i]?.label ?? ''} ≥ 95 % of its ${mbit(g)} Mbit/s guarantee`, value: rx(withCtl, r) / 1e6, goal: (g * GUARANTEE_FRACTION) / 1e6, unit: 'Mbit/s', kind: '≥' });
      }
    };
    await measureCase(1, 'download across the NIC (receivers guaranteed)', (i) => ({
      sender: { upload: { max: nic } },
      receiver: { download: { min: mins[i] ?? 0, max: nic } },
    }));
    await measureCase(2, 'upload across the NIC (senders guaranteed)', (i) => ({
      sender: { upload: { min: mins[i] ?? 0, max: nic } },
      receiver: { download: { max: nic } },
    }));

    // ---- case 3: work conservation ----
    print(`  case 3: work conservation (${pairs[0]?.label ?? ''} idle for ${String(idleS)} s, then greedy)`);
    await controller.suspend();
    for (let i = 0; i < 3; i++) {
      await env.setSla(senders[i] as BootedServer, { upload: { max: nic } });
      await env.setSla(receivers[i] as BootedServer, { download: { min: mins[i] ?? 0, max: nic } });
    }
    const late = await controlled(pairs, { delayS: [idleS, 0, 0], flowDurationS: [durationS, idleS + durationS, idleS + durationS] });
    const lateStartMs = late.startMs + idleS * 1000;
    const others = receivers.slice(1);
    const idleFrom = late.startMs + omitS * 1000 + 250;
    const idleTo = lateStartMs - 250;
    const othersBps = others.reduce((n, r) => n + frameRate(late.series.get(r.id), 'rx', idleFrom, idleTo), 0);
    check({ case: 3, what: `while ${receivers[0]?.name ?? ''} is idle, the others use ≥ 90 % of the NIC`, value: (othersBps / nic) * 100, goal: WORK_CONSERVING_FRACTION * 100, unit: '%', kind: '≥' });
    const r1 = receivers[0] as BootedServer;
    const g1 = mins[0] ?? 0;
    const points = rateSeries(late.series.get(r1.id), 'rx');
    // Reached when the rate over the last ~400 ms (two samples) first holds 95 % of the guarantee.
    reachS = Number.POSITIVE_INFINITY;
    for (let i = 1; i < points.length; i++) {
      const a = points[i - 1];
      const b = points[i];
      if (!a || !b || b.t < lateStartMs) continue;
      if ((a.bps + b.bps) / 2 >= g1 * GUARANTEE_FRACTION) {
        reachS = (b.t - lateStartMs) / 1000;
        break;
      }
    }
    check({ case: 3, what: `${r1.name} reaches 95 % of ${mbit(g1)} Mbit/s after it starts, within`, value: reachS, goal: REACH_WITHIN_S, unit: 's', kind: '≤' });
    const lateSteady = frameRate(late.series.get(r1.id), 'rx', lateStartMs + omitS * 1000, lateStartMs + durationS * 1000 - 250);
    rows.push({ case: 3, label: `${pairs[0]?.label ?? ''} (after it starts)`, guaranteeBps: g1, withoutBps: Number.NaN, withBps: lateSteady });
    for (const r of others) {
      rows.push({ case: 3, label: `→ ${r.name} (while ${r1.name} idle)`, guaranteeBps: mins[receivers.indexOf(r)] ?? 0, withoutBps: Number.NaN, withBps: frameRate(late.series.get(r.id), 'rx', idleFrom, idleTo) });
    }
    series = Object.fromEntries(
      receivers.map((r) => [r.name, rateSeries(late.series.get(r.id), 'rx').map((p) => ({ t: (p.t - lateStartMs) / 1000, bps: p.bps }))]),
    );
    await env.deleteAll();

    // ---- case 4: one host, several sources into one VM ----
    print('  case 4: one host, Gold and Wholesale sources into a Gold receiver (the thesis\'s scenario 3 with its priority)');
    await controller.suspend();
    const ms1 = await env.boot('MediaServer-1', 'compute1');
    const ms2 = await env.boot('MediaServer-2', 'compute1');
    const ms3 = await env.boot('MediaServer-3', 'compute1');
    const broker = await env.boot('Broker-1', 'compute1');
    const ctrl = await env.boot('Controller-1', 'compute1');
    const goldSla: SlaRequestBody = { download: { min: gold.min, max: gold.max } };
    const wholesaleSla: SlaRequestBody = { download: { min: wholesale.min, max: wholesale.max } };
    await env.setSla(ms1, { ...goldSla, peers: { [ms3.id]: { min: pipe } } });
    await env.setSla(ms3, { ...goldSla, peers: { [ms1.id]: { min: pipe } } });
    await env.setSla(ms2, goldSla);
    await env.setSla(broker, wholesaleSla);
    await env.setSla(ctrl, wholesaleSla);
    const specs = [flow(ms1, ms3), flow(broker, ms3), flow(ms2, ctrl)];
    const without4 = await run(specs);
    const with4 = await controlled(specs);
    const goodput = (m: MeasuredFlows, label: string): number => m.flows.find((f) => f.label === label)?.bps ?? Number.NaN;
    for (const s of specs) {
      rows.push({
        case: 4,
        label: s.label,
        guaranteeBps: s.to === ms3 && s.from === ms1 ? pipe : s.to === ctrl ? wholesale.min : 0,
        // Two flows share MediaServer-3's port: per flow, iperf3's goodput (payload) is what tells them apart.
        withoutBps: goodput(without4, s.label),
        withBps: goodput(with4, s.label),
      });
    }
    // The pair's guarantee is frames; iperf3 counts payload (1448 of 1514 bytes).
    const ms1Frames = goodput(with4, specs[0]?.label ?? '') * (1514 / 1448);
    check({ case: 4, what: `${specs[0]?.label ?? ''} ≥ 95 % of its pair guarantee ${mbit(pipe)} Mbit/s`, value: ms1Frames / 1e6, goal: (pipe * GUARANTEE_FRACTION) / 1e6, unit: 'Mbit/s', kind: '≥' });
    check({ case: 4, what: `${ms3.name}'s port within ±5 % of its Gold cap`, value: rx(with4, ms3) / 1e6, goal: gold.max / 1e6, unit: 'Mbit/s', kind: '±5%' });
    check({ case: 4, what: `${ctrl.name}'s port within ±5 % of its Wholesale cap`, value: rx(with4, ctrl) / 1e6, goal: wholesale.max / 1e6, unit: 'Mbit/s', kind: '±5%' });
    await env.deleteAll();
  } finally {
    await env.close();
  }

  const hosts = 2;
  const vms = 6;
  const cpuFraction = cpu.wallMs > 0 ? cpu.micros / 1000 / cpu.wallMs : Number.NaN;
  const cost = { cpuPercentOfCore: cpuFraction * 100, perHostPercent: (cpuFraction * 100) / hosts, perVmPercent: (cpuFraction * 100) / vms, roundMs: cpu.roundMs, pairs: cpu.pairs, vms, hosts };
  print(
    `  cost: the controller used ${cost.cpuPercentOfCore.toFixed(2)} % of one core while flows ran (${cost.perHostPercent.toFixed(2)} % per host, ${cost.perVmPercent.toFixed(3)} % per VM with ${String(vms)} VMs on ${String(hosts)} hosts); slowest round ${cpu.roundMs.toFixed(1)} ms, ${String(cpu.pairs)} pairs`,
  );
  const table = guaranteesTable(rows);
  print(table);
  if (options.outDir !== undefined) {
    mkdirSync(options.outDir, { recursive: true });
    const result = { scale, nicRateBps: nic, rows, checks, series, reachS, cost };
    writeFileSync(path.join(options.outDir, 'guarantees.json'), `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(path.join(options.outDir, 'guarantees.txt'), `${table}\n`);
    charts.push(
      await writeChart(
        {
          title: 'Guaranteed rates on the testbed: without and with the agent\'s controller',
          subtitle: `rates 1/${String(scale)} of the thesis: NIC ${mbit(nic)} Mbit/s; frames at the receivers' ports (case 4: goodput per flow)`,
          yLabel: 'Mbit/s',
          series: [
            { name: 'without the controller', color: '#7f7f7f' },
            { name: 'with the controller', color: '#2ca02c' },
          ],
          groups: [1, 2, 4].map(
            (n): ChartGroup => ({
              title: `case ${String(n)}`,
              bars: rows
                .filter((r) => r.case === n)
                .flatMap((r) => [
                  { label: `${r.label} (without)`, value: r.withoutBps / 1e6, series: 'without the controller', ...(r.guaranteeBps > 0 ? { cap: r.guaranteeBps / 1e6 } : {}) },
                  { label: `${r.label} (with)`, value: r.withBps / 1e6, series: 'with the controller', ...(r.guaranteeBps > 0 ? { cap: r.guaranteeBps / 1e6 } : {}) },
                ]),
            }),
          ),
        },
        path.join(options.outDir, 'guarantees'),
      ),
    );
    const colors = ['#d62728', '#1f77b4', '#ff7f0e'];
    charts.push(
      await writeLineChart(
        {
          title: 'Case 3: work conservation — an idle guaranteed VM starts',
          subtitle: `frames at each receiver's port, 200 ms samples; NIC ${mbit(nic)} Mbit/s`,
          xLabel: `time (s) from ${receivers0Name(series)}'s start`,
          yLabel: 'Mbit/s',
          series: Object.entries(series).map(([name, pts], i) => ({ name, color: colors[i % colors.length] ?? '#000', points: pts.map((p) => ({ t: p.t, value: p.bps / 1e6 })) })),
          references: [{ label: `guarantee ${mbit(mins[0] ?? 0)}`, value: (mins[0] ?? 0) / 1e6, color: '#d62728' }, { label: `NIC ${mbit(nic)}`, value: nic / 1e6, color: '#444' }],
          markers: [{ label: 'starts', t: 0 }],
        },
        path.join(options.outDir, 'guarantees-case3'),
      ),
    );
    for (const c of charts) print(`chart: ${c.svg}${c.png ? `, ${c.png}` : ''}`);
  }
  return { scale, nicRateBps: nic, rows, checks, series, reachS, cost, table, charts };
}

function receivers0Name(series: Record<string, unknown>): string {
  return Object.keys(series)[0] ?? 'the guaranteed VM';
}

export function guaranteesTable(rows: readonly GuaranteeRow[]): string {
  const pct = (v: number, g: number): string => (g > 0 && Number.isFinite(v) ? `${((v / g) * 100).toFixed(0)}%` : '-');
  return formatTable(
    ['case', 'flow', 'guarantee Mbit/s', 'without Mbit/s', 'of guarantee', 'with Mbit/s', 'of guarantee'],
    rows.map((r) => [
      String(r.case),
      r.label,
      r.guaranteeBps > 0 ? mbit(r.guaranteeBps) : '-',
      Number.isFinite(r.withoutBps) ? mbit(r.withoutBps) : '-',
      pct(r.withoutBps, r.guaranteeBps),
      mbit(r.withBps),
      pct(r.withBps, r.guaranteeBps),
    ]),
  );
}

export type { ScenarioEnv };
