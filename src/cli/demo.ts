/**
 * The one-command demo (`npm run demo`): the embedded simulated cloud (the
 * thesis testbed), the CM Agent and the Connectivity Manager, started in this
 * process; the thesis topology planned, deployed through Heat and enforced,
 * step by step; then the placement and the SLAs read back from the switches'
 * OVSDB. The services stay up (with their URLs) until Ctrl-C, or the demo exits
 * with `--once`; `--json` prints one JSON summary as the last line.
 *
 * Real `ovsdb-server`s are used when Open vSwitch is installed, the in-process
 * OVSDB server otherwise, so Node and npm are all it needs.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { Command } from 'commander';
import { parseAgentConfig } from '../agent/config.ts';
import { simAgentOptions, simCloudConfig, startAgent, type RunningAgent } from '../agent/main.ts';
import { AgentClient } from '../manager/agent-client.ts';
import type { PlanResponse, TopologyView } from '../manager/contract.ts';
import { parseManagerConfig } from '../manager/config.ts';
import { startManager, type RunningManager } from '../manager/main.ts';
import { OvsdbClient } from '../ovsdb/client.ts';
import { findBinary } from '../ovsdb/local-server.ts';
import { Replica } from '../ovsdb/replica.ts';
import { TAG_OWNER, Vswitch, vswitchReplicaTables } from '../ovsdb/vswitch/index.ts';
import { formatBps } from '../placement/index.ts';
import { startSimCloud, type SimCloud } from '../sim/index.ts';
import { renderTable } from './output.ts';

const FIXTURE = path.resolve(import.meta.dirname, '../topology/fixtures/thesis/thesis.yaml');
const OWNER = 'cm-agent-demo';

export interface DemoOptions {
  once: boolean;
  json: boolean;
  /** `auto` (default): real ovsdb-servers when Open vSwitch is installed, else in-process. */
  ovsdb?: 'auto' | 'real' | 'in-process';
  /** Where human-readable progress goes (stdout by default; the JSON line always goes to stdout). */
  out?: (line: string) => void;
  /** Preferred ports (taken when free, else any). */
  agentPort?: number;
  managerPort?: number;
}

export interface DemoSummary {
  demo: 'thesis';
  ovsdb: 'ovsdb-server' | 'in-process';
  topology: string;
  state: string;
  strategy: string;
  hosts_used: string[];
  servers_active: number;
  placement: { unit: string; service_instance: string | null; host: string | null; server_id: string | null }[];
  sla_on_switches: { unit: string; host: string; ovs_port: string; class: string; min_bps: number; max_bps: number }[];
  /** Per unit, seconds its download guarantee was violated so far (the agent's controller), null when it has none. */
  violation_seconds: Record<string, number | null>;
  gold: number;
  wholesale: number;
  timings_ms: Record<string, number>;
  /** `dashboard` signs in with the token in its fragment (a fragment never reaches the server). */
  urls?: { manager: string; agent: string; dashboard: string };
}


async function portOrAny(preferred: number | undefined): Promise<number> {
  if (preferred === undefined) return 0;
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => {
      resolve(0);
    });
    s.listen(preferred, '127.0.0.1', () => {
      s.close(() => {
        resolve(preferred);
      });
    });
  });
}


/** Reads each host's switch database directly: which of our QoS rows sit on which VM port. */
/**
 * Seconds each unit wanted its download guarantee and got less (the agent's
 * guarantee controller, `/v1/sla`); null for a unit the controller does not
 * follow (it has no OpenFlow connection on the simulated hosts without ovs-vswitchd).
 */
async function guaranteeViolations(agentUrl: string, token: string, units: TopologyView['units']): Promise<Record<string, number | null>> {
  const ids = units.flatMap((u) => (u.server_id ? [u.server_id] : []));
  const r = await fetch(`${agentUrl}/v1/sla?server_id=${ids.join(',')}`, { headers: { authorization: `Bearer ${token}` } });
  if (!r.ok) throw new Error(`agent GET /v1/sla → ${String(r.status)}`);
  const body = (await r.json()) as { items: { server_id: string; guarantee: { download: { violation_seconds: number } | null } | null }[] };
  const byServer = new Map(body.items.map((i) => [i.server_id.toLowerCase(), i.guarantee?.download?.violation_seconds ?? null]));
  return Object.fromEntries(units.map((u) => [u.name, u.server_id ? (byServer.get(u.server_id.toLowerCase()) ?? null) : null]));
}

function formatViolation(seconds: number | null | undefined): string {
  return seconds === null || seconds === undefined ? '-' : seconds.toFixed(1);
}

async function slaOnSwitches(sim: SimCloud, units: TopologyView['units']): Promise<DemoSummary['sla_on_switches']> {
  const out: DemoSummary['sla_on_switches'] = [];
  const unitByServer = new Map(units.map((u) => [u.server_id, u]));
  for (const host of sim.state.hosts.keys()) {
    const client = await OvsdbClient.connect({ endpoint: sim.ovsdbEndpoint(host) });
    const replica = new Replica(client, { db: 'Open_vSwitch', tables: vswitchReplicaTables() });
    try {
      await replica.start();
      const view = await new Vswitch(client, { owner: 'demo-reader', replica }).view();
      for (const port of view.ports.values()) {
        const qos = port.qos === undefined ? undefined : view.qos.get(port.qos);
        if (qos?.external_ids.get(TAG_OWNER) !== OWNER) continue;
        const iface = port.interfaces.map((u) => view.interfaces.get(u)).find((i) => i !== undefined);
        const unit = unitByServer.get(iface?.external_ids.get('vm-uuid') ?? '');
        const q0 = qos.queues.get(0);
        const queue = q0 === undefined ? undefined : view.queues.get(q0);
        out.push({
          unit: unit?.name ?? '?',
          host,
          ovs_port: port.name,
          class: unit?.sla_class ?? '?',
          min_bps: Number(queue?.other_config.get('min-rate') ?? 0),
          max_bps: Number(qos.other_config.get('max-rate') ?? 0),
        });
      }
    } finally {
      replica.stop();
      client.close();
    }
  }
  return out.sort((a, b) => a.unit.localeCompare(b.unit));
}

export async function runDemo(options: DemoOptions): Promise<{ summary: DemoSummary; stop: () => Promise<void> }> {
  const print = options.json ? () => undefined : (options.out ?? ((line: string) => void process.stdout.write(`${line}\n`)));
  const timings: Record<string, number> = {};
  let stepNo = 0;
  const STEPS = 7;
  const step = async <T>(title: string, key: string, work: () => Promise<T>, done: (v: T) => string): Promise<T> => {
    stepNo++;
    const t0 = performance.now();
    const v = await work();
    timings[key] = Math.round(performance.now() - t0);
    print(`[${String(stepNo)}/${String(STEPS)}] ${title}: ${done(v)} (${String(timings[key])} ms)`);
    return v;
  };

  const installed = ['ovsdb-server', 'ovsdb-tool'].every((b) => findBinary(b) !== undefined);
  if (options.ovsdb === 'real' && !installed) throw new Error('--ovsdb real: ovsdb-server/ovsdb-tool not found (Debian package openvswitch-switch)');
  const realOvs = options.ovsdb === 'real' || (options.ovsdb !== 'in-process' && installed);
  const stops: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const sim = await step(
      'Simulated cloud',
      'cloud_ms',
      () => startSimCloud({ ovsdb: realOvs ? 'real' : 'in-process', bootDelayMs: 100 }),
      (s) =>
        `${[...s.state.hosts.values()].map((h) => `${h.name} (${String(h.vcpus)} vCPU, ${String(h.memoryMb / 1024)} GiB)`).join(', ')}; Keystone at ${s.authUrl}; ` +
        (realOvs ? 'a real ovsdb-server per host' : 'in-process OVSDB per host (install openvswitch-switch for real ones)'),
    );
    stops.push(() => sim.close());

    const agentToken = randomBytes(18).toString('base64url');
    const managerToken = randomBytes(18).toString('base64url');
    const agentPort = await portOrAny(options.agentPort ?? 8091);
    const agent: RunningAgent = await step(
      'CM Agent',
      'agent_ms',
      () =>
        startAgent(
          parseAgentConfig(`listen: { host: 127.0.0.1, port: ${String(agentPort)} }\nauth: { tokens: [${agentToken}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: ${OWNER}`, {}),
          simAgentOptions(sim, { log: false }),
        ),
      (a) => `${a.url}, one reconciler per host, every host's OVSDB connected`,
    );
    stops.push(() => agent.stop());

    const managerPort = await portOrAny(options.managerPort ?? 8092);
    const manager: RunningManager = await step(
      'Connectivity Manager',
      'manager_ms',
      () =>
        startManager(
          parseManagerConfig(`listen: { host: 127.0.0.1, port: ${String(managerPort)} }\nauth: { tokens: [${managerToken}] }\nagent: { url: "${agent.url}", token: ${agentToken} }\nstore: { url: "sqlite::memory:" }\ndeploy: { enforce_timeout_s: 60 }`, {}),
          { cloud: simCloudConfig(sim), log: false, pollMs: 100, claimIntervalMs: 250 },
        ),
      (m) => `${m.url}, SQLite store, thesis SLA classes (Gold for MediaServer, Wholesale for the rest)`,
    );
    stops.push(() => manager.stop());

    const agentClient = new AgentClient({ url: agent.url, token: agentToken });
    stops.push(() => agentClient.close());
    await step('Hosts read from the agent', 'hosts_ms', () => agentClient.hosts(), (h) =>
      h.hosts
        .map((x) => {
          const v = x.resources.VCPU;
          const r = x.resources.MEMORY_MB;
          return `${x.name} ${x.state}/${x.status} ${String(v?.free ?? '?')}/${String(v?.capacity ?? '?')} vCPU, ${String(r?.free ?? '?')}/${String(r?.capacity ?? '?')} MiB free`;
        })
        .join('; '),
    );

    const api = async <T>(method: string, p: string, body?: unknown): Promise<T> => {
      const r = await fetch(`${manager.url}${p}`, {
        method,
        headers: { authorization: `Bearer ${managerToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${p} → ${String(r.status)}: ${text}`);
      return JSON.parse(text) as T;
    };
    const topologyText = readFileSync(FIXTURE, 'utf8');
    const planned = await step(
      'Plan (dry run)',
      'plan_ms',
      () => api<PlanResponse>('POST', '/v1/plans', { topology: topologyText, topology_file: 'thesis.yaml' }),
      (p) => p.plan.explanation.summary,
    );
    for (const c of planned.plan.explanation.chosen) print(`      chosen   ${c.host}: ${c.reasons.join('; ')}`);
    for (const r of planned.plan.explanation.rejected) print(`      rejected ${r.host}: ${r.reasons.join('; ')}`);

    const t0 = performance.now();
    const submitted = await api<TopologyView>('POST', '/v1/topologies', { topology: topologyText, topology_file: 'thesis.yaml' });
    const final = await step(
      'Deploy through Heat and enforce',
      'deploy_ms',
      async () => {
        let seen = 0;
        for (;;) {
          const t = await api<TopologyView>('GET', `/v1/topologies/${submitted.id}`);
          const events = t.events ?? [];
          for (const e of events.slice(seen)) print(`      ${e.state.padEnd(9)} ${e.message}`);
          seen = events.length;
          if (t.state === 'ACTIVE' || t.state === 'FAILED') return t;
          if (performance.now() - t0 > 120_000) throw new Error(`the topology is still ${t.state} after 120 s`);
          await new Promise((r) => setTimeout(r, 100));
        }
      },
      (t) => `${t.name} ${t.state}${t.error ? `: ${t.error.message}` : ''}`,
    );
    if (final.state !== 'ACTIVE') throw new Error(`the deployment failed: ${final.error?.message ?? final.state}`);

    const onSwitches = await step('SLAs read back from the switches (OVSDB)', 'readback_ms', () => slaOnSwitches(sim, final.units), (s) => `${String(s.length)} VM ports shaped`);
    const violations = await guaranteeViolations(agent.url, agentToken, final.units);
    const serversActive = [...sim.state.servers.values()].filter((s) => s.status === 'ACTIVE' && final.units.some((u) => u.server_id === s.id)).length;

    print('');
    print('Placement:');
    print(
      renderTable<TopologyView['units'][number]>(
        [
          { header: 'UNIT', value: (u) => u.name },
          { header: 'SERVICE INSTANCE', value: (u) => u.service_instance ?? '-' },
          { header: 'HOST', value: (u) => u.host ?? '-' },
          { header: 'SERVER', value: (u) => u.server_id ?? '-' },
          { header: 'SLA CLASS', value: (u) => u.sla_class ?? '-' },
          { header: 'SLA', value: (u) => u.sla_state ?? '-' },
        ],
        final.units,
      ),
    );
    print('');
    print('SLAs on the switches (read from each host OVSDB):');
    print(
      renderTable<DemoSummary['sla_on_switches'][number]>(
        [
          { header: 'UNIT', value: (s) => s.unit },
          { header: 'HOST', value: (s) => s.host },
          { header: 'OVS PORT', value: (s) => s.ovs_port },
          { header: 'CLASS', value: (s) => s.class },
          { header: 'GUARANTEED (min)', value: (s) => formatBps(s.min_bps) },
          { header: 'CAP (max)', value: (s) => formatBps(s.max_bps) },
          { header: 'VIOLATION s', value: (s) => formatViolation(violations[s.unit]) },
        ],
        onSwitches,
      ),
    );

    const summary: DemoSummary = {
      demo: 'thesis',
      ovsdb: realOvs ? 'ovsdb-server' : 'in-process',
      topology: final.name,
      state: final.state,
      strategy: final.strategy,
      hosts_used: [...new Set(final.units.map((u) => u.host ?? '?'))].sort(),
      servers_active: serversActive,
      placement: final.units.map((u) => ({ unit: u.name, service_instance: u.service_instance, host: u.host, server_id: u.server_id })),
      sla_on_switches: onSwitches,
      violation_seconds: violations,
      gold: onSwitches.filter((s) => s.class === 'Gold').length,
      wholesale: onSwitches.filter((s) => s.class === 'Wholesale').length,
      timings_ms: { ...timings, submit_to_active_ms: Math.round(performance.now() - t0) },
      ...(options.once ? {} : { urls: { manager: manager.url, agent: agent.url, dashboard: `${manager.url}/ui/#token=${managerToken}` } }),
    };
    if (!options.once) {
      print('');
      print('Running until Ctrl-C:');
      print(`  Dashboard             ${manager.url}/ui/#token=${managerToken}   (this link signs you in)`);
      print(`  Connectivity Manager  ${manager.url}   API docs ${manager.url}/docs   metrics ${manager.url}/metrics`);
      print(`  CM Agent              ${agent.url}   API docs ${agent.url}/docs   metrics ${agent.url}/metrics`);
      print(`  Keystone (simulated)  ${sim.authUrl}   user ${sim.credentials.username} / ${sim.credentials.password}`);
      print(`  export CM_MANAGER_URL=${manager.url} CM_MANAGER_TOKEN=${managerToken}`);
      print(`  export CM_AGENT_URL=${agent.url} CM_AGENT_TOKEN=${agentToken}`);
      print('  then e.g.: npx cm hosts; npx cm topology list; npx cm sla list');
    }
    return { summary, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

export async function demoMain(argv: readonly string[]): Promise<void> {
  let once = false;
  let json = false;
  let ovsdb: DemoOptions['ovsdb'] = 'auto';
  const problems: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--once') once = true;
    else if (a === '--json') json = true;
    else if (a === '--ovsdb') {
      const v = argv[++i];
      if (v === 'auto' || v === 'real' || v === 'in-process') ovsdb = v;
      else problems.push(`--ovsdb ${String(v)}: must be auto, real or in-process`);
    } else problems.push(`unknown option ${String(a)}`);
  }
  if (problems.length > 0) {
    process.stderr.write(`demo: ${problems.join('; ')} (known: --once, --json, --ovsdb auto|real|in-process)\n`);
    process.exit(2);
  }
  const { summary, stop } = await runDemo({ once, json, ovsdb });
  if (json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  if (once) {
    await stop();
    return;
  }
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  process.stderr.write('stopping…\n');
  await stop();
}

/** `cm demo [--once] [--json]`: the same as `npm run demo`. */
export function demoCommand(): Command {
  return new Command('demo')
    .description('deploy the thesis topology on an embedded simulated cloud (agent + manager in this process) and show each step')
    .option('--once', 'exit after showing the tables (default: keep the services running until Ctrl-C)')
    .option('--json', 'print one JSON summary (the only output on stdout)')
    .option('--ovsdb <kind>', 'auto (real ovsdb-servers when Open vSwitch is installed), real or in-process', 'auto')
    .action(async (opts: { once?: boolean; json?: boolean; ovsdb: string }) => {
      await demoMain([...(opts.once === true ? ['--once'] : []), ...(opts.json === true ? ['--json'] : []), '--ovsdb', opts.ovsdb]);
    });
}
