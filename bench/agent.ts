/**
 * `npm run bench -- agent`: the whole CM Agent on a large simulated cloud
 * (default 200 hosts × 20 servers = 4000 servers, in-process OVSDB servers).
 *
 * Setup (timed, reported, not part of the figures): a generated scenario
 * (hosts big enough, one flavor, an admin project with unlimited quota), all
 * servers booted through the simulated Nova API (POST /servers, forced host
 * "nova:<host>", many boots in flight, bootDelayMs 0, so every port is really
 * plugged into its host's OVSDB by the sim's hypervisor hook), then the agent
 * started (its first inventory refresh sees every server).
 *
 * Measured:
 *  (1) GET /hosts, warm: median and p95 of N requests after the first one;
 *  (2) SLAs for every server submitted as thesis `POST /qoses` bodies → every
 *      port 'applied' (polling the fleet status in-process), then verified on
 *      every switch (each server port carries a QoS row) and via GET /v1/sla;
 *  (3) port appears → SLA applied: for servers whose SLA is stored and applied,
 *      the OVS Port/Interface is deleted and re-added with the same iface-id
 *      (like a hard reboot) through our own OVSDB connection; timed from the
 *      re-add transaction until Port.qos is set again (polled every 2 ms).
 *
 * The agent's periodic inventory refresh is set to 10 minutes so that a
 * background refresh does not land inside a measurement.
 */
import { performance } from 'node:perf_hooks';
import { parseAgentConfig } from '../src/agent/config.ts';
import { simAgentOptions, startAgent, type RunningAgent } from '../src/agent/main.ts';
import { createOpenStack, type OpenStack } from '../src/openstack/index.ts';
import { OvsdbClient } from '../src/ovsdb/client.ts';
import { namedUuid } from '../src/ovsdb/datum.ts';
import { eq, insert, mutate, remove, select } from '../src/ovsdb/operations.ts';
import { ovsPortName, startSimCloud, type ScenarioObject, type SimCloud } from '../src/sim/index.ts';

const TOKEN = 'bench-token-0123456789abcdef';
const DB = 'Open_vSwitch';
const MIN_RATE = '100000000';
const MAX_RATE = '1000000000';
const TARGET_GET_HOSTS_MS = 300;
const TARGET_PORT_TO_SLA_MS = 1000;

class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

interface Options {
  hosts: number;
  serversPerHost: number;
  quick: boolean;
  getSamples: number;
  replugSamples: number;
  bootConcurrency: number;
  qosBodies: number;
}

const USAGE = `usage: npm run bench -- agent [--hosts N] [--servers-per-host M] [--quick]
  --hosts N             simulated compute hosts (default 200; --quick 20)
  --servers-per-host M  servers booted on each host (default 20; --quick 10)
  --quick               small cloud, fewer samples (smoke run)`;

function parseOptions(argv: readonly string[]): Options {
  let hosts: number | undefined;
  let perHost: number | undefined;
  let quick = false;
  const int = (v: string | undefined, flag: string): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 1) throw new BenchUsageError(`${flag} needs a positive integer\n\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--hosts') hosts = int(argv[++i], a);
    else if (a === '--servers-per-host') perHost = int(argv[++i], a);
    else if (a === '--quick') quick = true;
    else if (a === '--help' || a === '-h') throw new BenchUsageError(USAGE);
    else throw new BenchUsageError(`unknown option "${a}"\n\n${USAGE}`);
  }
  return {
    hosts: hosts ?? (quick ? 20 : 200),
    serversPerHost: perHost ?? (quick ? 10 : 20),
    quick,
    getSamples: quick ? 10 : 20,
    replugSamples: quick ? 10 : 20,
    bootConcurrency: 64,
    qosBodies: 4,
  };
}

export function hostName(i: number): string {
  return `compute${String(i + 1).padStart(3, '0')}`;
}

/** The agent bench's cloud: `hosts` hosts sized for `perHost` m1.mini servers each (also the dashboard bench's). */
export function scenario(hosts: number, perHost: number): ScenarioObject {
  return {
    region: 'RegionOne',
    hosts: Array.from({ length: hosts }, (_, i) => ({
      name: hostName(i),
      az: 'nova',
      vcpus: Math.max(8, perHost * 2),
      memory_mb: Math.max(16_384, perHost * 1024),
      disk_gb: Math.max(100, perHost * 10),
      cpu_allocation_ratio: 1,
      ram_allocation_ratio: 1,
      disk_allocation_ratio: 1,
      reserved_host_memory_mb: 0,
    })),
    flavors: [{ id: '1', name: 'm1.mini', vcpus: 1, ram: 512, disk: 1 }],
    projects: [
      {
        name: 'admin',
        quotas: { instances: -1, cores: -1, ram: -1 },
        users: [{ name: 'admin', password: 'pass', roles: ['admin'] }],
      },
    ],
    networks: [{ name: 'private', cidr: '10.0.0.0/16', shared: true }],
  };
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[idx] as number;
}

const sortNum = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
const r1 = (n: number): number => Math.round(n * 10) / 10;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function mapLimit<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export async function waitFor(check: () => boolean | Promise<boolean>, what: string, timeoutMs: number, intervalMs = 20): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

function openstackFor(sim: SimCloud): OpenStack {
  const { cloud } = simAgentOptions(sim);
  if (!cloud) throw new Error('simulated cloud without credentials');
  return createOpenStack(cloud);
}

interface Row {
  label: string;
  value: string;
  target: string;
}

export async function main(argv: readonly string[]): Promise<void> {
  const opts = parseOptions(argv);
  const total = opts.hosts * opts.serversPerHost;
  const rows: Row[] = [];
  const t0 = performance.now();
  let sim: SimCloud | undefined;
  let os: OpenStack | undefined;
  let agent: RunningAgent | undefined;
  const ovsClients = new Map<string, OvsdbClient>();
  try {
    // ---------------------------------------------------------------- setup
    process.stderr.write(`setup: ${opts.hosts} hosts × ${opts.serversPerHost} servers = ${total} servers\n`);
    sim = await startSimCloud({ scenario: scenario(opts.hosts, opts.serversPerHost), ovsdb: 'in-process', bootDelayMs: 0 });
    const tSim = performance.now();
    os = openstackFor(sim);
    const flavor = (await os.nova.listFlavors())[0];
    const net = (await os.neutron.listNetworks())[0];
    if (!flavor || !net) throw new Error('the generated scenario has no flavor or network');
    const boots = Array.from({ length: total }, (_, i) => ({ i, host: hostName(Math.floor(i / opts.serversPerHost)) }));
    const theOs = os;
    await mapLimit(boots, opts.bootConcurrency, async ({ i, host }) => {
      await theOs.nova.createServer({ name: `vm-${i}`, imageRef: '', flavorRef: flavor.id, availabilityZone: `nova:${host}`, networks: [{ uuid: net.id }] });
    });
    const tPosted = performance.now();
    const state = sim.state;
    await waitFor(() => [...state.servers.values()].every((s) => s.status !== 'BUILD'), 'every server out of BUILD', 120_000);
    const servers = [...state.servers.values()];
    const bad = servers.filter((s) => s.status !== 'ACTIVE');
    if (servers.length !== total || bad.length > 0) throw new Error(`${servers.length} servers, ${bad.length} not ACTIVE (first: ${bad[0]?.fault?.message ?? '?'})`);
    const tBooted = performance.now();
    process.stderr.write(`setup: sim ${r1(tSim - t0)} ms, ${total} boots posted in ${r1(tPosted - tSim)} ms, all ACTIVE after ${r1(tBooted - tSim)} ms\n`);

    const config = parseAgentConfig(
      `listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: cm-agent-bench\ninventory: { refresh_interval_ms: 600000 }`,
      {},
    );
    const theSim = sim;
    agent = await startAgent(config, simAgentOptions(theSim, { log: false }));
    const theAgent = agent;
    const snap = agent.inventory.snapshot();
    if (snap?.servers.length !== total) throw new Error(`agent inventory has ${snap?.servers.length ?? 0} servers, expected ${total}`);
    await agent.fleet.whenIdle();
    await waitFor(() => theAgent.fleet.ready().every((h) => h.connected), 'every reconciler connected', 60_000);
    const tAgent = performance.now();
    const setupMs = tAgent - t0;
    process.stderr.write(`setup: agent started (first inventory + ${opts.hosts} reconcilers) in ${r1(tAgent - tBooted)} ms; setup total ${r1(setupMs)} ms\n`);
    rows.push({ label: 'setup: sim cloud + OVSDB servers', value: `${r1(tSim - t0)} ms`, target: '' });
    rows.push({ label: `setup: boot ${total} servers (Nova API, ${opts.bootConcurrency} in flight)`, value: `${r1(tBooted - tSim)} ms`, target: '' });
    rows.push({ label: 'setup: agent start (1st inventory, reconcilers)', value: `${r1(tAgent - tBooted)} ms`, target: '' });

    const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; text: string; ms: number }> => {
      const start = performance.now();
      const response = await fetch(`${theAgent.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, text, ms: performance.now() - start };
    };

    // ------------------------------------------------------ (1) GET /hosts
    const first = await api('GET', '/hosts');
    if (first.status !== 200) throw new Error(`GET /hosts: ${first.status} ${first.text.slice(0, 200)}`);
    const hostsJson = JSON.parse(first.text) as Record<string, { servers: Record<string, unknown> }>;
    const listed = Object.values(hostsJson).reduce((n, h) => n + Object.keys(h.servers).length, 0);
    if (Object.keys(hostsJson).length !== opts.hosts || listed !== total) throw new Error(`GET /hosts lists ${Object.keys(hostsJson).length} hosts / ${listed} servers`);
    const getMs: number[] = [];
    for (let i = 0; i < opts.getSamples; i++) {
      const res = await api('GET', '/hosts');
      if (res.status !== 200) throw new Error(`GET /hosts: ${res.status}`);
      getMs.push(res.ms);
    }
    const getSorted = sortNum(getMs);
    const getMedian = quantile(getSorted, 0.5);
    const getP95 = quantile(getSorted, 0.95);
    rows.push({ label: 'GET /hosts first request', value: `${r1(first.ms)} ms (${(first.text.length / 1024).toFixed(0)} KiB)`, target: '' });
    rows.push({ label: `GET /hosts warm, median of ${opts.getSamples}`, value: `${r1(getMedian)} ms`, target: `≤ ${TARGET_GET_HOSTS_MS} ms: ${getMedian <= TARGET_GET_HOSTS_MS ? 'met' : 'MISSED'}` });
    rows.push({ label: `GET /hosts warm, p95 of ${opts.getSamples}`, value: `${r1(getP95)} ms`, target: `≤ ${TARGET_GET_HOSTS_MS} ms: ${getP95 <= TARGET_GET_HOSTS_MS ? 'met' : 'MISSED'}` });

    // ---------------------------------------------- (2) all SLAs → applied
    const bodies: Record<string, Record<string, { qos: { 'min-rate': string; 'max-rate': string } }>>[] = Array.from({ length: opts.qosBodies }, () => ({}));
    servers.forEach((s, i) => {
      const body = bodies[i % opts.qosBodies] as (typeof bodies)[number];
      const host = s.host ?? '';
      (body[host] ??= {})[s.id] = { qos: { 'min-rate': MIN_RATE, 'max-rate': MAX_RATE } };
    });
    const portIds = new Set(servers.flatMap((s) => s.portIds));
    const appliedCount = (): number => theAgent.fleet.status().filter((st) => st.state === 'applied' && portIds.has(st.portId)).length;
    const tSubmit = performance.now();
    let postMs = 0;
    for (const body of bodies) {
      const res = await api('POST', '/qoses', body);
      if (res.status !== 200) throw new Error(`POST /qoses: ${res.status} ${res.text.slice(0, 300)}`);
      const answer = JSON.parse(res.text) as Record<string, unknown>;
      if (Object.values(answer).some((v) => v === 0)) throw new Error('POST /qoses answered 0 (unknown server) for some server');
      postMs += res.ms;
    }
    const tPosted2 = performance.now();
    await waitFor(() => appliedCount() === portIds.size, `${portIds.size} ports applied`, 240_000, 10);
    const tApplied = performance.now();
    const applyAllMs = tApplied - tSubmit;

    // Verify on the switches themselves: every server port carries a QoS row.
    let onSwitch = 0;
    for (const host of state.hosts.keys()) {
      const client = await OvsdbClient.connect({ endpoint: sim.ovsdbEndpoint(host) });
      ovsClients.set(host, client);
      const [res] = await client.transact(DB, [select('Port', [], ['name', 'qos'])]);
      onSwitch += (res?.rows ?? []).filter((r) => typeof r.qos === 'string' && String(r.name).startsWith('qvo')).length;
    }
    if (onSwitch !== portIds.size) throw new Error(`only ${onSwitch} of ${portIds.size} ports carry a QoS row on their switch`);
    const slaRes = await api('GET', '/v1/sla');
    const summary = (JSON.parse(slaRes.text) as { summary: Record<string, number> }).summary;
    if (summary.applied !== total) throw new Error(`GET /v1/sla summary: ${JSON.stringify(summary)}`);
    rows.push({ label: `POST /qoses × ${opts.qosBodies} (${total} SLAs), server time`, value: `${r1(postMs)} ms`, target: '' });
    rows.push({ label: `${total} SLAs submitted → all ports applied`, value: `${r1(applyAllMs)} ms`, target: '' });
    rows.push({ label: '  of which: last POST answered → all applied', value: `${r1(tApplied - tPosted2)} ms`, target: '' });
    rows.push({ label: 'GET /v1/sla (verification, all applied)', value: `${r1(slaRes.ms)} ms`, target: '' });

    // ------------------------------------------- (3) port appears → SLA
    const step = Math.max(1, Math.floor(servers.length / opts.replugSamples));
    const picks = servers.filter((_, i) => i % step === 0).slice(0, opts.replugSamples);
    const replugMs: number[] = [];
    const statusOf = (portId: string): string | undefined => theAgent.fleet.status().find((s) => s.portId === portId)?.state;
    for (const server of picks) {
      const host = server.host ?? '';
      const client = ovsClients.get(host);
      const port = state.ports.get(server.portIds[0] ?? '');
      if (!client || !port) throw new Error(`no switch client or port for ${server.id}`);
      const name = ovsPortName(port.id);
      // Unplug (as the hypervisor does on a hard reboot) and let the agent notice.
      const [found] = await client.transact(DB, [select('Port', [eq('name', name)], ['_uuid'])]);
      const uuid = found?.rows?.[0]?._uuid;
      if (typeof uuid !== 'string') throw new Error(`port ${name} is not on ${host}`);
      await client.transact(DB, [mutate('Bridge', [eq('name', 'br-int')], [['ports', 'delete', [uuid]]]), remove('Port', [eq('name', name)]), remove('Interface', [eq('name', name)])]);
      await waitFor(() => statusOf(port.id) !== 'applied', `agent noticing ${name} gone`, 5000, 5).catch(() => undefined);
      await theAgent.fleet.whenIdle();
      await sleep(50);
      // Re-plug with the same iface-id; time until the agent has put a QoS on it again.
      const start = performance.now();
      await client.transact(DB, [
        insert('Interface', { name, external_ids: { 'iface-id': port.id, 'iface-status': 'active', 'attached-mac': port.macAddress, 'vm-uuid': server.id } }, { uuidName: 'i' }),
        insert('Port', { name, interfaces: [namedUuid('i')], external_ids: {} }, { uuidName: 'p' }),
        mutate('Bridge', [eq('name', 'br-int')], [['ports', 'insert', [namedUuid('p')]]]),
      ]);
      await waitFor(
        async () => {
          const [res] = await client.transact(DB, [select('Port', [eq('name', name)], ['qos'])]);
          return typeof res?.rows?.[0]?.qos === 'string';
        },
        `QoS back on ${name}`,
        10_000,
        2,
      );
      replugMs.push(performance.now() - start);
    }
    await waitFor(() => appliedCount() === portIds.size, 'every port applied after the re-plugs', 10_000, 10);
    const replugSorted = sortNum(replugMs);
    const replugMedian = quantile(replugSorted, 0.5);
    rows.push({ label: `port re-plugged → QoS on port, median of ${replugMs.length}`, value: `${r1(replugMedian)} ms`, target: `≤ ${TARGET_PORT_TO_SLA_MS} ms: ${replugMedian <= TARGET_PORT_TO_SLA_MS ? 'met' : 'MISSED'}` });
    rows.push({ label: '  p95 / max', value: `${r1(quantile(replugSorted, 0.95))} / ${r1(replugSorted.at(-1) ?? Number.NaN)} ms`, target: '' });

    // ---------------------------------------------------------------- report
    const w1 = Math.max(...rows.map((r) => r.label.length));
    const w2 = Math.max(...rows.map((r) => r.value.length));
    console.log(`\nCM Agent on a simulated cloud: ${opts.hosts} hosts × ${opts.serversPerHost} servers = ${total} servers (in-process OVSDB)${opts.quick ? ' [--quick]' : ''}\n`);
    console.log(`${'measurement'.padEnd(w1)}  ${'value'.padStart(w2)}  target`);
    console.log(`${'-'.repeat(w1)}  ${'-'.repeat(w2)}  ${'-'.repeat(16)}`);
    for (const r of rows) console.log(`${r.label.padEnd(w1)}  ${r.value.padStart(w2)}  ${r.target}`);
    console.log(`\nwall time: ${r1((performance.now() - t0) / 1000)} s\n`);
    console.log(
      JSON.stringify({
        bench: 'agent',
        hosts: opts.hosts,
        servers: total,
        get_hosts_ms: r1(getMedian),
        apply_all_ms: r1(applyAllMs),
        port_to_sla_ms: r1(replugMedian),
      }),
    );
  } finally {
    for (const client of ovsClients.values()) client.close();
    await agent?.stop();
    await os?.close();
    await sim?.close();
  }
}
