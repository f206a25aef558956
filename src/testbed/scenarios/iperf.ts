/**
 * Concurrent iperf3 flows between VM namespaces of the testbed. Every flow
 * gets its own server process (iperf3 serves one test at a time) and all
 * clients start together, so the flows compete the way the thesis's did.
 * Only namespaces of our own testbed are ever addressed: the caller passes
 * booted servers, whose namespaces the testbed created.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { findBinary, run, terminate } from '../../ovsdb/local-server.ts';
import { TestbedError } from '../errors.ts';
import { frameRate, PortCounters, type CounterSeries } from './counters.ts';
import type { BootedServer } from './env.ts';

export interface FlowSpec {
  /** Short label for tables and charts, e.g. "MS-1 → MS-2". */
  label: string;
  from: BootedServer;
  to: BootedServer;
}

export interface FlowResult {
  label: string;
  from: string;
  to: string;
  fromHost: string;
  toHost: string;
  /** TCP payload the receiver got, bit/s (iperf3's sum_received). */
  bps: number;
  retransmits: number;
  /** With counters: everything the receiver's port delivered in the common window (all flows into it), frames, bit/s. */
  receiverFrameBps?: number;
  /** With counters: everything the sender's port took from it in the common window, frames, bit/s. */
  senderFrameBps?: number;
}

export interface MeasuredFlows {
  flows: FlowResult[];
  /** Port counters of every sender and receiver, keyed by server id. */
  series: CounterSeries;
  /** ms (counter clock) when the clients were started. */
  startMs: number;
  /** The common steady-state window (counter clock, ms): after iperf3's omitted seconds, before its end. */
  window: { fromMs: number; toMs: number };
}

export interface FlowRunOptions {
  durationS: number;
  /** Seconds of slow start left out of the result (iperf3 -O). */
  omitS?: number;
  basePort?: number;
  /** Extra seconds per flow before it starts (a late starter), by flow index. */
  delayS?: readonly number[];
  /** Per-flow durations overriding `durationS`, by flow index. */
  flowDurationS?: readonly number[];
}

interface Captured {
  code: number | null;
  stdout: string;
  stderr: string;
}

function capture(command: string, args: readonly string[], timeoutMs: number): Promise<Captured> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (t: string) => (stdout += t));
    child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

async function listening(netns: string, port: number): Promise<boolean> {
  const { stdout } = await run('ip', ['netns', 'exec', netns, 'ss', '-Hltn', `sport = :${String(port)}`]);
  return stdout.trim() !== '';
}

interface IperfJson {
  error?: string;
  end?: { sum_received?: { bits_per_second?: number }; sum_sent?: { retransmits?: number } };
}

/** Runs the flows at the same time and returns the receiver-side goodput of each. */
export async function runFlows(flows: readonly FlowSpec[], options: FlowRunOptions, onClientsStart?: () => void): Promise<FlowResult[]> {
  const iperf3 = findBinary('iperf3');
  if (iperf3 === undefined) throw new TestbedError('CM_ERR_TESTBED_MISSING_BINARY', 'iperf3 is not installed (Debian package iperf3)');
  const omit = options.omitS ?? 1;
  const basePort = options.basePort ?? 5201;
  const servers: ChildProcess[] = [];
  try {
    for (const [i, flow] of flows.entries()) {
      const port = basePort + i;
      // -1: the server exits after its one test, so nothing lingers if we are killed mid-way.
      const child = spawn('ip', ['netns', 'exec', flow.to.netns, iperf3, '-s', '-1', '-B', flow.to.ip, '-p', String(port)], { stdio: 'ignore' });
      child.once('error', () => undefined);
      servers.push(child);
    }
    for (const [i, flow] of flows.entries()) {
      const deadline = Date.now() + 10_000;
      while (!(await listening(flow.to.netns, basePort + i))) {
        if (Date.now() > deadline) throw new TestbedError('CM_ERR_TESTBED_SETUP', `iperf3 server for ${flow.label} did not start`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const longestS = Math.max(0, ...flows.map((_, i) => (options.delayS?.[i] ?? 0) + (options.flowDurationS?.[i] ?? options.durationS)));
    const timeoutMs = (longestS + omit + 20) * 1000;
    onClientsStart?.();
    const results = await Promise.all(
      flows.map(async (flow, i) => {
        const delayS = options.delayS?.[i] ?? 0;
        if (delayS > 0) await new Promise((resolve) => setTimeout(resolve, delayS * 1000));
        const args = ['netns', 'exec', flow.from.netns, iperf3, '-c', flow.to.ip, '-p', String(basePort + i), '-t', String(options.flowDurationS?.[i] ?? options.durationS), '-O', String(omit), '-J'];
        const out = await capture('ip', args, timeoutMs);
        let json: IperfJson;
        try {
          json = JSON.parse(out.stdout) as IperfJson;
        } catch {
          throw new TestbedError('CM_ERR_TESTBED_SETUP', `iperf3 ${flow.label}: exit ${String(out.code)}: ${out.stderr.trim() || out.stdout.slice(0, 300)}`);
        }
        const bps = json.end?.sum_received?.bits_per_second;
        if (json.error !== undefined || typeof bps !== 'number') {
          throw new TestbedError('CM_ERR_TESTBED_SETUP', `iperf3 ${flow.label}: ${json.error ?? 'no result'}`);
        }
        return {
          label: flow.label,
          from: flow.from.name,
          to: flow.to.name,
          fromHost: flow.from.host,
          toHost: flow.to.host,
          bps,
          retransmits: json.end?.sum_sent?.retransmits ?? 0,
        } satisfies FlowResult;
      }),
    );
    return results;
  } finally {
    await Promise.all(servers.map((s) => terminate(s, 1000)));
  }
}

/**
 * Runs the flows with the port counters of every sender and receiver sampled
 * meanwhile, and adds to each flow its ports' frame rates over the common
 * steady window: from the end of iperf3's omitted seconds (plus a quarter
 * second) to a quarter second before the flows end.
 */
export async function runFlowsMeasured(
  flows: readonly FlowSpec[],
  options: FlowRunOptions & { netnsOf: (host: string) => string; sampleMs?: number },
): Promise<MeasuredFlows> {
  const servers = new Map<string, BootedServer>();
  for (const f of flows) {
    servers.set(f.from.id, f.from);
    servers.set(f.to.id, f.to);
  }
  const counters = await PortCounters.start(
    [...servers.values()].map((s) => ({ label: s.id, netns: options.netnsOf(s.host), device: s.device })),
    options.sampleMs ?? 200,
  );
  let startMs = counters.now();
  let results: FlowResult[];
  try {
    results = await runFlows(flows, options, () => {
      startMs = counters.now();
    });
  } catch (error) {
    // Stopped on failure too, so no timer outlives the run; the flows' error is the one worth reporting.
    await counters.stop().catch(() => undefined);
    throw error;
  }
  const series = await counters.stop();
  const omitMs = (options.omitS ?? 1) * 1000;
  const window = { fromMs: startMs + omitMs + 250, toMs: startMs + omitMs + options.durationS * 1000 - 250 };
  return {
    flows: results.map((r, i) => {
      const f = flows[i];
      if (!f) return r;
      return {
        ...r,
        receiverFrameBps: frameRate(series.get(f.to.id), 'rx', window.fromMs, window.toMs),
        senderFrameBps: frameRate(series.get(f.from.id), 'tx', window.fromMs, window.toMs),
      };
    }),
    series,
    startMs,
    window,
  };
}

/**
 * HTB counts whole Ethernet frames (skb->len) while iperf3 reports TCP
 * payload: a full segment is 1448 payload bytes (MSS with timestamps) in a
 * 1514-byte frame. A flow shaped to R bit/s therefore shows R × 1448/1514 of
 * goodput; this turns goodput back into the rate HTB enforced.
 */
export const FRAME_PER_PAYLOAD = 1514 / 1448;

export function wireRate(goodputBps: number): number {
  return goodputBps * FRAME_PER_PAYLOAD;
}
