/**
 * `npm run bench -- openflow [--ports N]`: installing Neutron-style ingress
 * metering for N ports on one real ovs-vswitchd (userspace datapath, in a
 * network namespace): per port one meter (kbps, burst, drop band) and one flow
 * in table 0, priority 60000, `in_port=P,reg12=0 → meter:M,
 * apply(load:1->reg12[0], resubmit(,0))`. Three ways, each from a clean switch:
 *
 *  (a) ours: one `send()` = 2N messages + ONE barrier on one connection;
 *  (b) per port: one `ovs-ofctl add-meter` + one `ovs-ofctl add-flow` process
 *      per port (how scripts do it);
 *  (c) batched ovs-ofctl: OVS 3.1's ovs-ofctl cannot batch meters (there is no
 *      add-meters, and --bundle covers flows and groups only), so (c) is one
 *      `add-meter` process per meter (the cheapest means available) plus ONE
 *      `add-flows FILE` for all N flows. Because that makes (c) meter-bound,
 *      the flows alone are also measured both ways: (a') ours with the N flows
 *      only and (c') one `add-flows FILE`, the like-for-like batched baseline.
 *
 * In_port numbers are synthetic (ovs-vswitchd accepts flows for ports that do
 * not exist yet, as Neutron relies on), so no interfaces are created. Before
 * each trial every flow and meter is deleted (not timed); after each trial
 * the switch is verified with ovs-ofctl dump-flows/dump-meters to hold
 * exactly N flows with our cookie and N meters (N flows only for a'/c').
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  OFPTT_ALL,
  OFPM,
  OpenFlowClient,
  band,
  flowMod,
  instruction,
  match,
  meterMod,
  nx,
  type Message,
} from '../src/openflow/index.ts';
import { findBinary, run } from '../test/harness/ovsdb-server.ts';
import { startVswitchHost, type VswitchHost } from '../test/harness/vswitch-host.ts';

const COOKIE = 0xbe0c000000000000n;
const FIRST_PORT = 1000;
const RATE_KBPS = 10_000;
const BURST_KB = 1000;
const TARGET_PORTS = 1000;
const TARGET_MAX_RATIO_VS_BATCHED = 1.5;
const TARGET_MIN_SPEEDUP_VS_PER_PORT = 30;

const USAGE = `usage: npm run bench -- openflow [--ports N] [--runs N] [--quick]

  --ports N   ports (meters + flows) to install (default ${String(TARGET_PORTS)}, --quick 100)
  --runs N    timed runs of the batched methods, median reported (default 3, --quick 1);
              the per-port method (b) and (c) run once
  --quick     100 ports, 1 run: a quick look (the default run takes ~2.5 min, mostly (b))
needs root (network namespace) and ovs-vswitchd/ovs-ofctl`;

class BenchUsageError extends Error {
  override readonly name = 'BenchUsageError';
}

interface Options {
  ports: number;
  runs: number;
  quick: boolean;
}

function parseOptions(argv: readonly string[]): Options {
  let ports: number | undefined;
  let runs: number | undefined;
  let quick = false;
  const positiveInt = (flag: string, text: string | undefined): number => {
    const n = Number(text);
    if (text === undefined || !Number.isSafeInteger(n) || n < 1) throw new BenchUsageError(`${flag} needs a positive integer\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.indexOf('=');
    const flag = raw.startsWith('--') && eq > 0 ? raw.slice(0, eq) : raw;
    const inline = raw.startsWith('--') && eq > 0 ? raw.slice(eq + 1) : undefined;
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--ports':
        ports = positiveInt('--ports', value());
        break;
      case '--runs':
        runs = positiveInt('--runs', value());
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
  return { ports: ports ?? (quick ? 100 : TARGET_PORTS), runs: runs ?? (quick ? 1 : 3), quick };
}

const now = (): number => performance.now();
const progress = (text: string): void => {
  process.stderr.write(`${text}\n`);
};

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const fmtMs = (ms: number): string => (ms >= 100 ? ms.toFixed(0) : ms.toFixed(1));
const fmtX = (x: number): string => (x >= 10 ? `${x.toFixed(0)}x` : x >= 0.1 ? `${x.toFixed(2)}x` : `${x.toPrecision(2)}x`);

function table(header: readonly string[], rows: readonly (readonly string[])[], align: string): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

// ---- the work ----------------------------------------------------------------

const meterId = (i: number): number => i + 1;
const inPort = (i: number): number => FIRST_PORT + i;

function ourMeter(i: number): Message {
  return meterMod({ meterId: meterId(i), flags: ['kbps', 'burst', 'stats'], bands: [band.drop(RATE_KBPS, BURST_KB)] });
}

function ourFlow(i: number, withMeter: boolean): Message {
  return flowMod({
    tableId: 0,
    priority: 60000,
    cookie: COOKIE,
    match: [match.inPort(inPort(i)), match.reg(12, 0)],
    instructions: [
      ...(withMeter ? [instruction.meter(meterId(i))] : []),
      instruction.applyActions([nx.regLoad(12, 0, 1, 1), nx.resubmit(0)]),
    ],
  });
}

const meterText = (i: number): string => `meter=${String(meterId(i))},kbps,burst,stats,band=type=drop,rate=${String(RATE_KBPS)},burst_size=${String(BURST_KB)}`;
const flowText = (i: number, withMeter: boolean): string =>
  `cookie=0x${COOKIE.toString(16)},table=0,priority=60000,in_port=${String(inPort(i))},reg12=0,actions=${withMeter ? `meter:${String(meterId(i))},` : ''}load:1->NXM_NX_REG12[0],resubmit(,0)`;

type MethodId = 'ours' | 'ofctl-per-port' | 'ofctl-batched' | 'ours-flows' | 'ofctl-flows';
const LABELS: Record<MethodId, string> = {
  ours: '(a) ours: 1 send(), 2N msgs + 1 barrier',
  'ofctl-per-port': '(b) ovs-ofctl add-meter + add-flow per port',
  'ofctl-batched': '(c) ovs-ofctl add-meter per meter + 1 add-flows',
  'ours-flows': "(a') ours, flows only: 1 send()",
  'ofctl-flows': "(c') ovs-ofctl add-flows FILE, flows only",
};

export async function main(argv: readonly string[]): Promise<void> {
  const options = parseOptions(argv);
  const ofctlBin = findBinary('ovs-ofctl');
  if (!ofctlBin) throw new Error('ovs-ofctl is not installed');
  if (process.getuid?.() !== 0) throw new Error('the openflow bench needs root (it runs ovs-vswitchd in a network namespace)');
  const started = now();
  const n = options.ports;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cm-of-bench-'));
  let host: VswitchHost | undefined;
  let client: OpenFlowClient | undefined;
  try {
    progress('starting ovsdb-server + ovs-vswitchd (netdev) ...');
    host = await startVswitchHost();
    const target = `unix:${host.dir}/${host.bridge}.mgmt`;
    const ofctl = async (...args: string[]): Promise<string> => (await run(ofctlBin, ['-O', 'OpenFlow13', ...args], { timeoutMs: 120_000 })).stdout;
    client = new OpenFlowClient({ endpoint: target, callTimeoutMs: 120_000 });
    await client.connect();
    const of = client;

    const reset = async (): Promise<void> => {
      await of.send([flowMod({ command: 'delete', tableId: OFPTT_ALL }), meterMod({ command: 'delete', meterId: OFPM.ALL })]);
    };
    const verify = async (method: MethodId, withMeters: boolean): Promise<void> => {
      const flows = (await ofctl('dump-flows', target)).split('\n').filter((l) => l.includes(`cookie=0x${COOKIE.toString(16)}`));
      const meters = (await ofctl('dump-meters', target)).split('\n').filter((l) => l.startsWith('meter='));
      const expectMeters = withMeters ? n : 0;
      if (flows.length !== n || meters.length !== expectMeters) {
        throw new Error(`${method}: switch holds ${String(flows.length)} flows and ${String(meters.length)} meters, expected ${String(n)} and ${String(expectMeters)}`);
      }
      if (withMeters && !flows.every((l) => /actions=meter:[0-9]+,load:0x1->NXM_NX_REG12\[0\],resubmit\(,0\)/.test(l))) {
        throw new Error(`${method}: a flow has unexpected actions`);
      }
    };

    const flowsFile = path.join(tmp, 'flows.txt');
    const flowsOnlyFile = path.join(tmp, 'flows-only.txt');
    writeFileSync(flowsFile, Array.from({ length: n }, (_, i) => flowText(i, true)).join('\n') + '\n');
    writeFileSync(flowsOnlyFile, Array.from({ length: n }, (_, i) => flowText(i, false)).join('\n') + '\n');

    const methods: Record<MethodId, { runs: number; withMeters: boolean; go: () => Promise<void> }> = {
      ours: {
        runs: options.runs,
        withMeters: true,
        go: async () => {
          const messages: Message[] = [];
          for (let i = 0; i < n; i++) messages.push(ourMeter(i));
          for (let i = 0; i < n; i++) messages.push(ourFlow(i, true));
          await of.send(messages);
        },
      },
      'ours-flows': {
        runs: options.runs,
        withMeters: false,
        go: async () => {
          await of.send(Array.from({ length: n }, (_, i) => ourFlow(i, false)));
        },
      },
      'ofctl-flows': {
        runs: options.runs,
        withMeters: false,
        go: async () => {
          await ofctl('add-flows', target, flowsOnlyFile);
        },
      },
      'ofctl-batched': {
        runs: 1,
        withMeters: true,
        go: async () => {
          for (let i = 0; i < n; i++) await ofctl('add-meter', target, meterText(i));
          await ofctl('add-flows', target, flowsFile);
        },
      },
      'ofctl-per-port': {
        runs: 1,
        withMeters: true,
        go: async () => {
          for (let i = 0; i < n; i++) {
            await ofctl('add-meter', target, meterText(i));
            await ofctl('add-flow', target, flowText(i, true));
          }
        },
      },
    };

    const samples = new Map<MethodId, number[]>();
    for (const id of ['ours', 'ours-flows', 'ofctl-flows', 'ofctl-batched', 'ofctl-per-port'] as const) {
      const m = methods[id];
      for (let r = 0; r < m.runs; r++) {
        await reset();
        progress(`${LABELS[id]}: run ${String(r + 1)}/${String(m.runs)} at ${String(n)} ports ...`);
        const t0 = now();
        await m.go();
        const ms = now() - t0;
        await verify(id, m.withMeters);
        samples.set(id, [...(samples.get(id) ?? []), ms]);
      }
    }
    await reset();

    const med = (id: MethodId): number => median(samples.get(id) ?? [NaN]);
    const rows = (['ours', 'ofctl-batched', 'ofctl-per-port', 'ours-flows', 'ofctl-flows'] as const).map((id) => {
      const s = samples.get(id) ?? [];
      const batched = id === 'ours-flows' || id === 'ofctl-flows' ? med('ofctl-flows') : med('ofctl-batched');
      const perPort = id === 'ours-flows' || id === 'ofctl-flows' ? NaN : med('ofctl-per-port');
      return [
        LABELS[id],
        fmtMs(med(id)),
        String(s.length),
        fmtX(med(id) / batched),
        Number.isNaN(perPort) ? '-' : fmtX(perPort / med(id)),
      ];
    });
    const out: string[] = [];
    out.push('');
    out.push(`OpenFlow benchmark: ${String(n)} ports x (meter kbps/burst/drop + table-0 flow in_port,reg12=0 -> meter, load:1->reg12[0], resubmit(,0))`);
    out.push(`  one ovs-vswitchd (${(await ofctl('--version')).split('\n')[0] ?? ''}), userspace datapath, bridge management socket; clean switch before each trial`);
    out.push('  every trial verified with ovs-ofctl dump-flows/dump-meters: exactly N flows with our cookie and N meters (a\'/c\': N flows, 0 meters)');
    out.push('  (c): ovs-ofctl 3.1 has no batched meter command (no add-meters; --bundle covers flows/groups only), so its meters');
    out.push('       are one add-meter process each; (c\') is the like-for-like batched baseline (flows only, one add-flows FILE)');
    out.push('');
    out.push(table(['method', 'median ms', 'runs', 'vs batched (c / c\')', 'speed-up vs (b)'], rows, 'lrrrr'));
    out.push('  vs batched = median / median of (c) for rows a-c, of (c\') for a\'/c\' (lower is better); speed-up vs (b) = (b) / median');
    out.push('');
    if (n === TARGET_PORTS) {
      const ratio = med('ours') / med('ofctl-batched');
      const flowsRatio = med('ours-flows') / med('ofctl-flows');
      const speedup = med('ofctl-per-port') / med('ours');
      const met = (ok: boolean): string => (ok ? 'MET' : 'NOT MET');
      out.push(`goals at ${String(TARGET_PORTS)} ports:`);
      out.push(`  ours <= ${String(TARGET_MAX_RATIO_VS_BATCHED)}x batched (c): ${fmtX(ratio)} -> ${met(ratio <= TARGET_MAX_RATIO_VS_BATCHED)}`);
      out.push(`  ours <= ${String(TARGET_MAX_RATIO_VS_BATCHED)}x batched, flows only (a' vs c'): ${fmtX(flowsRatio)} -> ${met(flowsRatio <= TARGET_MAX_RATIO_VS_BATCHED)}`);
      out.push(`  ours >= ${String(TARGET_MIN_SPEEDUP_VS_PER_PORT)}x faster than per port (b): ${fmtX(speedup)} -> ${met(speedup >= TARGET_MIN_SPEEDUP_VS_PER_PORT)}`);
    } else {
      out.push(`goals are defined at ${String(TARGET_PORTS)} ports, which this run did not measure`);
    }
    out.push(`total bench time ${((now() - started) / 1000).toFixed(0)} s`);
    out.push('');
    const round = (x: number): number => Math.round(x * 10) / 10;
    out.push(
      JSON.stringify({
        bench: 'openflow',
        ports: n,
        ours_ms: round(med('ours')),
        ofctl_per_port_ms: round(med('ofctl-per-port')),
        ofctl_batched_ms: round(med('ofctl-batched')),
        ours_flows_only_ms: round(med('ours-flows')),
        ofctl_add_flows_only_ms: round(med('ofctl-flows')),
      }),
    );
    console.log(out.join('\n'));
  } finally {
    client?.close();
    if (host) await host.stop();
    rmSync(tmp, { recursive: true, force: true });
  }
}
