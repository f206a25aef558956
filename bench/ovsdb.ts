/**
 * `npm run bench -- ovsdb`: applying a download cap (linux-htb QoS with
 * max-rate, one Queue with min-rate and max-rate) to N ports on one real
 * ovsdb-server, three ways:
 *
 *  (a) our client: one Vswitch.apply call = one transaction for all N ports
 *      (plus, as extra rows, 100 ports per transaction and a cold client);
 *  (b) the 2015 method: one ovs-vsctl process per port;
 *  (c) the limit: all N ports in ONE ovs-vsctl invocation (one long argv).
 *
 * No ovs-vswitchd runs (bridge datapath_type=netdev, ovs-vsctl --no-wait), so
 * only OVSDB is measured. Before every trial the switch is reset to br-int
 * with N fresh internal ports and no QoS/Queue rows (not timed); only the
 * apply is timed. After every trial the result is verified (N QoS and N Queue
 * rows, each port with its own correct QoS; for ours also that a second apply
 * is a no-op), so the figures cannot come from work that was not done.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import v8 from 'node:v8';
import vm from 'node:vm';
import {
  OvsdbClient,
  comment,
  decodeResult,
  encodeOperation,
  select,
  stringifyJson,
  vswitch,
  type Operation,
} from '../src/ovsdb/index.ts';
import { run, runOk, startBenchOvsdbServer, type BenchOvsdbServer } from './ovsdb-server.ts';

const DB = 'Open_vSwitch';
const BRIDGE = 'br-int';
const OWNER = 'cm-bench';
/** The port's download ceiling and its queue 0 guarantee/ceiling, bit/s. */
const PORT_MAX_RATE = 100_000_000;
const QUEUE_MIN_RATE = 10_000_000;
const QUEUE_MAX_RATE = 100_000_000;
/** Ports per transaction of the "chunked" row. */
const CHUNK = 100;
/** Targets from the issue, at 1000 ports. */
const TARGET_PORTS = 1000;
const TARGET_MAX_RATIO_VS_SINGLE = 1.5;
const TARGET_MIN_SPEEDUP_VS_PER_PORT = 30;

type MethodId = 'ours' | 'ours-chunked' | 'ours-cold' | 'vsctl-per-port' | 'vsctl-single';

const LABELS: Record<MethodId, string> = {
  ours: '(a) ours: Vswitch.apply, 1 txn',
  'ours-chunked': `(a) ours: ${CHUNK} ports/txn`,
  'ours-cold': '(a) ours: cold (connect+schema+apply)',
  'vsctl-per-port': '(b) ovs-vsctl per port (2015)',
  'vsctl-single': '(c) ovs-vsctl, all in 1 process',
};
const ORDER: readonly MethodId[] = ['ours', 'ours-chunked', 'ours-cold', 'vsctl-single', 'vsctl-per-port'];

interface Options {
  ports: number[];
  runs: number;
  perPortRuns: number | undefined;
  quick: boolean;
  phases: boolean;
}

interface BenchPort {
  readonly name: string;
  readonly ifaceId: string;
}

interface Sample {
  readonly ms: number;
  /** ovsdb-server CPU time (user+sys) during the trial, ms (10 ms resolution). */
  readonly serverCpuMs: number;
}

interface Measurement {
  readonly method: MethodId;
  readonly ports: number;
  readonly samples: Sample[];
}

const USAGE = `usage: npm run bench -- ovsdb [--ports 100,1000] [--runs N] [--per-port-runs N] [--quick] [--no-phases]

  --ports LIST        port counts to measure (default 100,1000)
  --runs N            timed runs of each method (default 5, --quick 3)
  --per-port-runs N   runs of (b) one ovs-vsctl per port (default: --runs up to 100
                      ports, else min(--runs, 3); --quick: 1 above 100 ports)
  --quick             fewer runs, for CI and a quick look
  --no-phases         skip the per-phase breakdown of our client`;

/** A bad command line: run.ts prints the message alone, without a stack. */
class BenchUsageError extends Error {
  override readonly name = 'BenchUsageError';
}

function parseOptions(argv: readonly string[]): Options {
  let ports = [100, 1000];
  let runs: number | undefined;
  let perPortRuns: number | undefined;
  let quick = false;
  let phases = true;
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
      case '--ports': {
        const text = value();
        ports = (text ?? '').split(',').map((p) => positiveInt('--ports', p.trim()));
        break;
      }
      case '--runs':
        runs = positiveInt('--runs', value());
        break;
      case '--per-port-runs':
        perPortRuns = positiveInt('--per-port-runs', value());
        break;
      case '--quick':
        quick = true;
        break;
      case '--no-phases':
        phases = false;
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
  ports = [...new Set(ports)].sort((a, b) => a - b);
  return { ports, runs: runs ?? (quick ? 3 : 5), perPortRuns, quick, phases };
}

function runsFor(method: MethodId, ports: number, options: Options): number {
  if (method === 'ours-chunked' && ports <= CHUNK) return 0; // identical to the 1-txn row
  if (method !== 'vsctl-per-port') return options.runs;
  if (options.perPortRuns !== undefined) return options.perPortRuns;
  if (ports <= 100) return options.runs;
  return Math.min(options.runs, options.quick ? 1 : 3);
}

// ---- helpers ----------------------------------------------------------------

const now = (): number => performance.now();

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

v8.setFlagsFromString('--expose-gc');
const gcFunction: unknown = vm.runInNewContext('gc');

/** A full GC before each timed part, so no method pays for garbage another one left. */
function collectGarbage(): void {
  if (typeof gcFunction === 'function') (gcFunction as () => void)();
}

let clockTicks = 100;

/** CPU time (user + system) of a process, ms, from /proc (clock-tick resolution). */
function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after "(comm)": state is index 0, utime is field 14 overall = index 11, stime index 12.
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / clockTicks;
  } catch {
    return Number.NaN;
  }
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '-';
  return ms >= 1000 ? ms.toFixed(0) : ms.toFixed(1);
}

function fmtX(x: number): string {
  if (!Number.isFinite(x)) return '-';
  return `${x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2)}x`;
}

/** A plain-text table; `align` has one letter per column, l or r. */
function table(header: readonly string[], rows: readonly (readonly string[])[], align: string): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (align[i] === 'r' ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function newPorts(n: number): BenchPort[] {
  const names = new Set<string>();
  const ports: BenchPort[] = [];
  while (ports.length < n) {
    const ifaceId = randomUUID();
    const name = `tap${ifaceId.slice(0, 11)}`; // Neutron's naming: tap + 11 chars of the port id
    if (names.has(name)) continue;
    names.add(name);
    ports.push({ name, ifaceId });
  }
  return ports;
}

/** Resets the switch to br-int with N fresh internal ports and no QoS/Queue rows (not timed). */
async function resetSwitch(server: BenchOvsdbServer, n: number): Promise<BenchPort[]> {
  // The Port rows must be gone (garbage-collected) before their QoS rows can be destroyed.
  await server.vsctl(['--if-exists', 'del-br', BRIDGE]);
  const ports = newPorts(n);
  const args = ['--all', 'destroy', 'QoS', '--', '--all', 'destroy', 'Queue'];
  args.push('--', 'add-br', BRIDGE, '--', 'set', 'bridge', BRIDGE, 'datapath_type=netdev');
  for (const p of ports) {
    args.push('--', 'add-port', BRIDGE, p.name, '--', 'set', 'interface', p.name, 'type=internal', `external_ids:iface-id=${p.ifaceId}`);
  }
  await server.vsctl(args);
  return ports;
}

function settingsFor(ports: readonly BenchPort[]): vswitch.PortSettings[] {
  return ports.map((p) => ({
    port: p.name,
    ifaceId: p.ifaceId,
    qos: { maxRate: PORT_MAX_RATE, queues: [{ minRate: QUEUE_MIN_RATE, maxRate: QUEUE_MAX_RATE }] },
  }));
}

/** The 2015 agent's command for one port (argv after --db/--no-wait). */
function vsctlPortCommands(port: string, id: string): string[] {
  return [
    'set', 'port', port, `qos=@q${id}`,
    '--', `--id=@q${id}`, 'create', 'qos', 'type=linux-htb', `other-config:max-rate=${String(PORT_MAX_RATE)}`, `queues:0=@u${id}`,
    '--', `--id=@u${id}`, 'create', 'queue', `other-config:min-rate=${String(QUEUE_MIN_RATE)}`, `other-config:max-rate=${String(QUEUE_MAX_RATE)}`,
  ];
}

/** Bytes execve needs for this argv plus the current environment (strings + pointers). */
function execBytes(argv: readonly string[]): number {
  let bytes = 0;
  for (const a of argv) bytes += Buffer.byteLength(a) + 1 + 8;
  for (const [k, v] of Object.entries(process.env)) bytes += Buffer.byteLength(`${k}=${v ?? ''}`) + 1 + 8;
  return bytes;
}

/** Checks that every bench port has its own linux-htb QoS with the cap and one queue, and nothing else exists. */
async function verify(client: OvsdbClient, ports: readonly BenchPort[], what: string): Promise<void> {
  const [p, q, u] = await client.transact(DB, [
    select('Port', [], ['_uuid', 'name', 'qos']),
    select('QoS', [], ['_uuid', 'type', 'other_config', 'queues']),
    select('Queue', [], ['_uuid', 'other_config']),
  ]);
  const fail = (why: string): never => {
    throw new Error(`${what}: verification failed: ${why}`);
  };
  const portByName = new Map((p?.rows ?? []).map((r) => vswitch.asPort(r)).map((r) => [r.name, r]));
  const qos = new Map((q?.rows ?? []).map((r) => vswitch.asQos(r)).map((r) => [r._uuid, r]));
  const queues = new Map((u?.rows ?? []).map((r) => vswitch.asQueue(r)).map((r) => [r._uuid, r]));
  if (qos.size !== ports.length) fail(`${qos.size} QoS rows, expected ${ports.length}`);
  if (queues.size !== ports.length) fail(`${queues.size} Queue rows, expected ${ports.length}`);
  const usedQos = new Set<string>();
  const usedQueues = new Set<string>();
  for (const bp of ports) {
    const port = portByName.get(bp.name) ?? fail(`port ${bp.name} is missing`);
    const row = (port.qos === undefined ? undefined : qos.get(port.qos)) ?? fail(`port ${bp.name} has no QoS`);
    if (row.type !== 'linux-htb') fail(`port ${bp.name}: QoS type ${row.type}`);
    if (row.other_config.get('max-rate') !== String(PORT_MAX_RATE)) fail(`port ${bp.name}: QoS max-rate ${String(row.other_config.get('max-rate'))}`);
    if (row.queues.size !== 1) fail(`port ${bp.name}: ${row.queues.size} queues`);
    const queueUuid = row.queues.get(0) ?? fail(`port ${bp.name}: no queue 0`);
    const queue = queues.get(queueUuid) ?? fail(`port ${bp.name}: queue 0 row missing`);
    if (queue.other_config.get('min-rate') !== String(QUEUE_MIN_RATE) || queue.other_config.get('max-rate') !== String(QUEUE_MAX_RATE)) {
      fail(`port ${bp.name}: queue 0 other_config wrong`);
    }
    usedQos.add(row._uuid);
    usedQueues.add(queueUuid);
  }
  if (usedQos.size !== ports.length || usedQueues.size !== ports.length) fail('ports share QoS/Queue rows');
}

// ---- the methods ------------------------------------------------------------

interface Context {
  readonly server: BenchOvsdbServer;
  readonly client: OvsdbClient;
  readonly vs: vswitch.Vswitch;
}

async function applyOurs(vs: vswitch.Vswitch, settings: readonly vswitch.PortSettings[], chunk: number): Promise<void> {
  for (let i = 0; i < settings.length; i += chunk) {
    const part = settings.slice(i, i + chunk);
    const r = await vs.apply(part);
    if (!r.changed || r.attempts !== 1 || r.deletedQos !== 0 || r.deletedQueues !== 0) {
      throw new Error(`unexpected apply result ${JSON.stringify(r)}`);
    }
  }
}

async function assertNoOp(vs: vswitch.Vswitch, settings: readonly vswitch.PortSettings[], what: string): Promise<void> {
  const again = await vs.apply(settings);
  if (again.changed || again.operations !== 0) throw new Error(`${what}: a second apply was not a no-op (${again.operations} operations)`);
}

/** Runs one trial of `method` on a freshly reset switch; returns the timed part. */
async function trial(ctx: Context, method: MethodId, n: number): Promise<Sample> {
  const ports = await resetSwitch(ctx.server, n);
  const settings = settingsFor(ports);
  let argv: string[] = [];
  if (method === 'vsctl-single') {
    argv = [`--db=${ctx.server.unixEndpoint}`, '--no-wait'];
    ports.forEach((p, i) => {
      if (i > 0) argv.push('--');
      argv.push(...vsctlPortCommands(p.name, String(i)));
    });
    const bytes = execBytes(['ovs-vsctl', ...argv]);
    singleExec.set(n, { args: argv.length + 1, bytes });
    if (bytes > argMax) {
      throw new Error(`(c) needs ${bytes} bytes of argv+env at ${n} ports, above ARG_MAX ${argMax}; cannot run as one process`);
    }
  }
  collectGarbage();
  const cpu0 = processCpuMs(ctx.server.pid);
  const t0 = now();
  switch (method) {
    case 'ours':
      await applyOurs(ctx.vs, settings, settings.length);
      break;
    case 'ours-chunked':
      await applyOurs(ctx.vs, settings, CHUNK);
      break;
    case 'ours-cold': {
      const client = await OvsdbClient.connect({ endpoint: ctx.server.unixEndpoint });
      try {
        await applyOurs(new vswitch.Vswitch(client, { owner: OWNER }), settings, settings.length);
      } finally {
        client.close();
      }
      break;
    }
    case 'vsctl-per-port':
      for (const p of ports) {
        await runOk('ovs-vsctl', [`--db=${ctx.server.unixEndpoint}`, '--no-wait', ...vsctlPortCommands(p.name, '')]);
      }
      break;
    case 'vsctl-single':
      await runOk('ovs-vsctl', argv);
      break;
  }
  const ms = now() - t0;
  const serverCpuMs = processCpuMs(ctx.server.pid) - cpu0;
  await verify(ctx.client, ports, `${LABELS[method]} at ${n} ports`);
  if (method.startsWith('ours')) await assertNoOp(ctx.vs, settings, `${LABELS[method]} at ${n} ports`);
  return { ms, serverCpuMs };
}

// ---- phase breakdown of our client -------------------------------------------

interface Phase {
  readonly name: string;
  readonly ms: number;
  readonly note: string;
}

/**
 * One untimed-in-the-table apply of our client, done step by step with the
 * same public pieces Vswitch.apply uses, to show where the time goes.
 */
async function phaseBreakdown(ctx: Context, n: number): Promise<Phase[]> {
  const ports = await resetSwitch(ctx.server, n);
  const settings = settingsFor(ports);
  const schema = await ctx.client.getSchema(DB);
  const phases: Phase[] = [];
  let cpu = processCpuMs(ctx.server.pid);
  const serverCpu = (): number => {
    const c = processCpuMs(ctx.server.pid);
    const d = c - cpu;
    cpu = c;
    return d;
  };

  collectGarbage();
  let t = now();
  const view = await ctx.vs.view();
  phases.push({ name: 'read: select Port/Interface/QoS/Queue + decode', ms: now() - t, note: `server CPU ${fmtMs(serverCpu())} ms` });

  t = now();
  const plan = vswitch.planPortSettings(view, settings, { owner: OWNER, guard: true });
  phases.push({ name: 'plan (planPortSettings)', ms: now() - t, note: `${plan.operations.length} operations` });

  const operations: Operation[] = [comment(`cm ${OWNER}: port bandwidth settings`), ...plan.operations];
  t = now();
  const wire = operations.map((op) => encodeOperation(schema, op));
  phases.push({ name: 'encode, schema-checked (encodeOperation)', ms: now() - t, note: '' });

  const request = { method: 'transact', params: [DB, ...wire], id: 0 };
  t = now();
  const text = stringifyJson(request);
  const stringifyMs = now() - t;
  t = now();
  JSON.stringify(request);
  const plainMs = now() - t;
  phases.push({
    name: 'serialize request (stringifyJson)',
    ms: stringifyMs,
    note: `${(text.length / 1024).toFixed(0)} KiB; plain JSON.stringify takes ${fmtMs(plainMs)} ms`,
  });

  serverCpu();
  t = now();
  const reply = await ctx.client.transactWire(DB, wire);
  const roundTrip = now() - t;
  const commitCpu = serverCpu();

  t = now();
  const replyText = JSON.stringify(reply);
  JSON.parse(replyText);
  const parseMs = now() - t;
  phases.push({
    name: 'send + ovsdb-server commit + reply (round trip - serialize)',
    ms: roundTrip - stringifyMs,
    note: `server CPU ${fmtMs(commitCpu)} ms; reply ${(replyText.length / 1024).toFixed(0)} KiB, parse ~${fmtMs(parseMs)} ms`,
  });

  t = now();
  operations.forEach((op, i) => decodeResult(schema, op, reply[i]));
  phases.push({ name: 'decode results', ms: now() - t, note: '' });

  await verify(ctx.client, ports, `phase breakdown at ${n} ports`);
  await assertNoOp(ctx.vs, settings, `phase breakdown at ${n} ports`);
  return phases;
}

// ---- main -------------------------------------------------------------------

let argMax = 2 * 1024 * 1024;
/** Size of the (c) execve per port count, for the report. */
const singleExec = new Map<number, { args: number; bytes: number }>();

async function systemInfo(): Promise<string[]> {
  const vsctl = await run('ovs-vsctl', ['--version']);
  const server = await run('ovsdb-server', ['--version']);
  const getconf = await run('getconf', ['ARG_MAX']);
  const ticks = await run('getconf', ['CLK_TCK']);
  if (vsctl.code !== 0 || server.code !== 0) throw new Error('ovs-vsctl/ovsdb-server not found: install Open vSwitch');
  const a = Number(getconf.stdout.trim());
  if (Number.isSafeInteger(a) && a > 0) argMax = a;
  const c = Number(ticks.stdout.trim());
  if (Number.isSafeInteger(c) && c > 0) clockTicks = c;
  const cpus = os.cpus();
  return [
    `node ${process.version}, ${(vsctl.stdout.split('\n')[0] ?? '').trim()}, ${(server.stdout.split('\n')[0] ?? '').trim()}`,
    `${cpus.length} CPU(s): ${cpus[0]?.model.trim() ?? '?'}; ARG_MAX ${argMax} bytes`,
  ];
}

export async function main(argv: readonly string[]): Promise<void> {
  const options = parseOptions(argv);
  const started = now();
  const info = await systemInfo();
  const server = await startBenchOvsdbServer();
  const measurements: Measurement[] = [];
  const phaseTables = new Map<number, Phase[]>();
  const argvNotes: string[] = [];
  let client: OvsdbClient | undefined;
  try {
    client = await OvsdbClient.connect({ endpoint: server.unixEndpoint });
    await client.getSchema(DB); // a long-lived agent has its schema already
    const ctx: Context = { server, client, vs: new vswitch.Vswitch(client, { owner: OWNER }) };
    for (const n of options.ports) {
      // Warm-up (discarded): JIT and page cache, as in a long-running agent.
      progress(`[${n} ports] warm-up`);
      await trial(ctx, 'ours', n);
      await trial(ctx, 'vsctl-single', n);
      const exec = singleExec.get(n);
      if (exec) {
        argvNotes.push(
          `(c) at ${n} ports: one execve with ${exec.args} args, ${(exec.bytes / 1024).toFixed(0)} KiB incl. env (ARG_MAX ${(argMax / 1024).toFixed(0)} KiB)`,
        );
      }

      const byMethod = new Map<MethodId, Sample[]>();
      const maxRuns = Math.max(...ORDER.map((m) => runsFor(m, n, options)));
      for (let r = 0; r < maxRuns; r++) {
        for (const method of ORDER) {
          if (r >= runsFor(method, n, options)) continue;
          const sample = await trial(ctx, method, n);
          const list = byMethod.get(method) ?? [];
          list.push(sample);
          byMethod.set(method, list);
          progress(`[${n} ports] run ${r + 1}: ${LABELS[method]}: ${fmtMs(sample.ms)} ms (verified)`);
        }
      }
      for (const method of ORDER) {
        const samples = byMethod.get(method);
        if (samples) measurements.push({ method, ports: n, samples });
      }
      if (options.phases) {
        progress(`[${n} ports] phase breakdown`);
        phaseTables.set(n, await phaseBreakdown(ctx, n));
      }
    }
  } finally {
    client?.close();
    await server.stop();
  }

  // ---- report ----
  const med = (method: MethodId, n: number): number => {
    const m = measurements.find((x) => x.method === method && x.ports === n);
    return m ? median(m.samples.map((s) => s.ms)) : Number.NaN;
  };
  const rows = measurements.map((m) => {
    const ms = m.samples.map((s) => s.ms);
    const mid = median(ms);
    return [
      LABELS[m.method],
      String(m.ports),
      fmtMs(mid),
      fmtMs(Math.min(...ms)),
      fmtMs(Math.max(...ms)),
      String(ms.length),
      fmtX(mid / med('vsctl-single', m.ports)),
      fmtX(med('vsctl-per-port', m.ports) / mid),
      fmtMs(median(m.samples.map((s) => s.serverCpuMs))),
    ];
  });
  const out: string[] = [];
  out.push('');
  out.push('OVSDB benchmark: download cap (linux-htb QoS max-rate + 1 Queue min/max-rate) on N ports');
  out.push(...info.map((l) => `  ${l}`));
  out.push('  one ovsdb-server (no ovs-vswitchd; bridge datapath_type=netdev; ovs-vsctl --no-wait); switch reset before each trial');
  out.push('  every trial verified: N QoS + N Queue rows, each port its own correct QoS; ours: a second apply is a no-op');
  out.push('  ours: client connected and schema fetched once (a long-lived agent); the cold row includes both');
  out.push(...argvNotes.map((l) => `  ${l}`));
  out.push('');
  out.push(
    table(
      ['method', 'ports', 'median ms', 'min', 'max', 'runs', 'vs (c)', 'speed-up vs (b)', 'server CPU ms'],
      rows,
      'lrrrrrrrr',
    ),
  );
  out.push('  vs (c) = median / median of (c) (lower is better); speed-up vs (b) = median of (b) / median');
  out.push('  server CPU = ovsdb-server user+sys time during the trial (median, 10 ms resolution)');

  for (const [n, phases] of phaseTables) {
    out.push('');
    out.push(`where our client's time goes at ${n} ports (one extra apply done step by step, not in the table above):`);
    const total = phases.reduce((s, p) => s + p.ms, 0);
    out.push(
      table(
        ['phase', 'ms', 'share', 'note'],
        [
          ...phases.map((p) => [p.name, fmtMs(p.ms), `${((100 * p.ms) / total).toFixed(0)}%`, p.note]),
          ['total', fmtMs(total), '100%', ''],
        ],
        'lrrl',
      ),
    );
  }

  out.push('');
  if (options.ports.includes(TARGET_PORTS)) {
    const ours = med('ours', TARGET_PORTS);
    const ratio = ours / med('vsctl-single', TARGET_PORTS);
    const speedup = med('vsctl-per-port', TARGET_PORTS) / ours;
    const met = (ok: boolean): string => (ok ? 'MET' : 'NOT MET');
    out.push(`targets at ${TARGET_PORTS} ports:`);
    out.push(`  ours <= ${TARGET_MAX_RATIO_VS_SINGLE}x (c): ${fmtX(ratio)} -> ${met(ratio <= TARGET_MAX_RATIO_VS_SINGLE)}`);
    out.push(`  ours >= ${TARGET_MIN_SPEEDUP_VS_PER_PORT}x faster than (b): ${fmtX(speedup)} -> ${met(speedup >= TARGET_MIN_SPEEDUP_VS_PER_PORT)}`);
  } else {
    out.push(`targets are defined at ${TARGET_PORTS} ports, which this run did not measure`);
  }
  out.push(`total bench time ${((now() - started) / 1000).toFixed(0)} s`);
  out.push('');
  const round = (x: number): number => Math.round(x * 10) / 10;
  for (const n of options.ports) {
    out.push(
      JSON.stringify({
        bench: 'ovsdb',
        ports: n,
        ours_ms: round(med('ours', n)),
        vsctl_per_port_ms: round(med('vsctl-per-port', n)),
        vsctl_single_ms: round(med('vsctl-single', n)),
      }),
    );
  }
  console.log(out.join('\n'));
}
