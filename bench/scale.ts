/**
 * `npm run bench -- scale`: agent replicas at scale (issue 14), side by side with today's
 * single agent on the same cloud in the same run.
 *
 * What is real and what is simulated:
 *  - The agents are the real `cm-agent` bin, one child process each (so RSS is the
 *    process's and SIGKILL is a real SIGKILL): K replicas sharing a PostgreSQL store
 *    (`store.url`, `cluster: { agent_id }`, the default lease 6 s / heartbeat 1.5 s), then
 *    one agent without `cluster` on a SQLite file — the same workload, one after the other.
 *  - PostgreSQL is a real throwaway cluster (test/harness/postgres.ts).
 *  - The cloud is the simulated one (src/sim) in this process: a bulk scenario (H hosts,
 *    src/sim/bulk.ts) with M servers per host seeded straight into its state (ACTIVE, one
 *    bound port each; booting them through the API would take hours), the agents reading
 *    it through Keystone, Nova, Placement and Neutron over HTTP.
 *  - The switches are in-process OVSDB servers (src/ovsdb/server): one database and one
 *    unix-socket listener per host, filled like a compute node after its VMs booted
 *    (br-int and one qvo… port per VM port), hosted by F "switch farm" child processes
 *    (bench/scale-switches.ts, at most 4000 hosts each: file descriptors). No ovs-vswitchd,
 *    no OpenFlow: upload caps fall back to ingress policing rows (the `auto` rule without
 *    an OpenFlow endpoint), download caps are linux-htb QoS rows. Each phase gets fresh
 *    switches, so each cold start finds nothing of the previous phase.
 *  - Each agent reaches the cloud through its own TCP pass-through proxy in this process,
 *    which counts the HTTP requests (the sim builds its catalog and page links from the
 *    Host header, so every later call goes through the same proxy): OpenStack calls per
 *    inventory refresh, per replica, are counted outside the agent.
 *
 * Measured, per phase (cluster of K, then the single agent):
 *  (1) cold start: the SLAs of every server already in the store (the first through the
 *      store's API, the others as the same rows inserted in bulk: one put per server would
 *      be minutes of setup), fresh switches, all agents spawned at once → every port's QoS
 *      on its switch carries its SLA's max-rate (read from the switches every 250 ms); for
 *      the cluster also the time until every host's epoch names the replica that says it
 *      owns it (hand-overs after the members joined are over), awaited before (2)–(4);
 *  (2) one SLA changed (PUT /v1/servers/{id}/sla, round-robin over the replicas) → the new
 *      max-rate on that port's switch (polled there every 2 ms): p50 / p99 / max of N;
 *  (3) GET /v1/hosts warm on every replica (its first page, the API's default 100 hosts):
 *      p50 / p95 of N each after one warm-up; and every page (limit 1000) walked once per
 *      replica, as the manager reads the region;
 *  (4) one agent SIGSTOPped, drift written on every QoS of its hosts (another writer's
 *      max-rate), then SIGKILLed: time until every port of those hosts carries its SLA
 *      again and their epochs name a survivor — from the SIGSTOP (the moment it stopped
 *      doing anything) and from the SIGKILL. The single agent has no one to take over: it
 *      is restarted at once (what a supervisor does) and timed the same way;
 *  (5) RSS of each agent process (VmRSS sampled every second, and VmHWM at the end);
 *  (6) OpenStack calls per inventory refresh per replica (cold, then each later refresh),
 *      against the formula of src/agent/inventory/cost.ts.
 * Sizes: default 500 hosts × 20 servers, 4 replicas (what completes here in a few minutes);
 * --small 200 × 5, 2 replicas (CI); the issue's 10 000 × 20 × 4 is --hosts 10000.
 * SLAs are caps only (download max, upload max): hose minimums on one shared network
 * would make the guarantee controller pair every VM with every other.
 */
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { COST_FORMULA, coldCalls, incrementalCalls } from '../src/agent/inventory.ts';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import type { Sla } from '../src/qos/sla.ts';
import { canonicalSlaJson, openSlaStore, type SlaStore } from '../src/store/index.ts';
import { bulkScenario, ovsPortName, seedServers, startSimCloud, type HypervisorHook, type SimCloud } from '../src/sim/index.ts';
import { openrcEnv } from '../src/sim/openrc.ts';
import { makeTempDir, removeTempDir, terminate, trackChild, untrackDir } from '../test/harness/ovsdb-server.ts';
import { freePort } from '../test/harness/net.ts';
import { postgresAvailable, startPostgres, type PostgresHandle } from '../test/harness/postgres.ts';
import type { FarmCommand, FarmHost, FarmReply } from './scale-switches.ts';

const BIN = path.resolve(import.meta.dirname, '../bin/cm-agent.mjs');
const FARM = path.resolve(import.meta.dirname, 'scale-switches.ts');
const TOKEN = 'scale-bench-token-0123456789abcdef';
const OWNER = 'cm-agent-scale';
const MBIT = 1_000_000;
const HOSTS_PER_FARM = 4000;
const DRIFT_RATE = '1234';
const CHANGE_TIMEOUT_MS = 30_000;

const GOAL = { coldS: 120, changeP99Ms: 1000, failoverS: 15, getHostsMs: 500, rssMiB: 1024 };

class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

interface Options {
  hosts: number;
  serversPerHost: number;
  agents: number;
  small: boolean;
  changes: number;
  gets: number;
  refreshMs: number;
  single: boolean;
}

const USAGE = `usage: npm run bench -- scale [--hosts N] [--servers-per-host M] [--agents K] [--small] [--changes C] [--gets G] [--refresh-ms R] [--no-single]
  --hosts N             simulated compute hosts (default 500; --small 200)
  --servers-per-host M  servers (one port each) per host (default 20; --small 5)
  --agents K            agent replicas of the cluster phase (default 4; --small 2)
  --small               the CI size (200 hosts x 5 servers, 2 agents; < 90 s)
  --changes C           single-SLA changes timed per phase (default 100; --small 30)
  --gets G              warm GET /v1/hosts per replica (default 10; --small 5)
  --refresh-ms R        the agents' inventory.refresh_interval_ms (default 30000, the agent's; --small 10000)
  --no-single           skip the single-agent phase
The issue's size is --hosts 10000 --servers-per-host 20 --agents 4.`;

function parseOptions(argv: readonly string[]): Options {
  const given: Partial<Record<'hosts' | 'perHost' | 'agents' | 'changes' | 'gets' | 'refreshMs', number>> = {};
  let small = false;
  let single = true;
  const int = (v: string | undefined, flag: string): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < 1) throw new BenchUsageError(`${flag} needs a positive integer\n\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--hosts') given.hosts = int(argv[++i], a);
    else if (a === '--servers-per-host') given.perHost = int(argv[++i], a);
    else if (a === '--agents') given.agents = int(argv[++i], a);
    else if (a === '--changes') given.changes = int(argv[++i], a);
    else if (a === '--gets') given.gets = int(argv[++i], a);
    else if (a === '--refresh-ms') given.refreshMs = int(argv[++i], a);
    else if (a === '--small') small = true;
    else if (a === '--no-single') single = false;
    else if (a === '--help' || a === '-h') throw new BenchUsageError(USAGE);
    else throw new BenchUsageError(`unknown option "${a}"\n\n${USAGE}`);
  }
  const agents = given.agents ?? (small ? 2 : 4);
  if (agents < 2) throw new BenchUsageError(`--agents must be at least 2 (a cluster)\n\n${USAGE}`);
  return {
    hosts: given.hosts ?? (small ? 200 : 500),
    serversPerHost: given.perHost ?? (small ? 5 : 20),
    agents,
    small,
    changes: given.changes ?? (small ? 30 : 100),
    gets: given.gets ?? (small ? 5 : 10),
    refreshMs: given.refreshMs ?? (small ? 10_000 : 30_000),
    single,
  };
}

// ------------------------------------------------------------------ helpers

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const r1 = (n: number): number => Math.round(n * 10) / 10;
const sortNum = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
const log = (text: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${text}\n`);
};

async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs: number, intervalMs: number): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (performance.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await sleep(intervalMs);
  }
}

// ------------------------------------------------------------- switch farms

class Farm {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (r: FarmReply) => void; reject: (e: Error) => void }>();
  readonly hosts: Set<string>;

  private constructor(
    readonly child: ChildProcess,
    hosts: readonly string[],
  ) {
    this.hosts = new Set(hosts);
    child.on('message', (raw) => {
      const reply = raw as FarmReply;
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.error !== undefined) p.reject(new Error(`switch farm: ${reply.error}`));
      else p.resolve(reply);
    });
    child.once('exit', (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`switch farm exited (${String(code ?? signal)})`));
      this.pending.clear();
    });
  }

  static start(hosts: readonly string[]): Farm {
    const child = fork(FARM, [], { execArgv: ['--import', 'tsx', '--max-old-space-size=8192'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    trackChild(child);
    return new Farm(child, hosts);
  }

  call(msg: FarmCommand): Promise<FarmReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.child.send({ ...msg, id });
    });
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    await this.call({ op: 'close' }).catch(() => undefined);
    await terminate(this.child, 2000);
  }
}

class Switches {
  private constructor(
    readonly dir: string,
    readonly farms: Farm[],
    private readonly farmOf: Map<string, Farm>,
  ) {}

  /** Fresh switches for every host in `dir`, filled with the hosts' VM ports. */
  static async start(dir: string, hosts: FarmHost[]): Promise<Switches> {
    const per = Math.ceil(hosts.length / Math.ceil(hosts.length / HOSTS_PER_FARM));
    const farms: Farm[] = [];
    const farmOf = new Map<string, Farm>();
    const starts: Promise<FarmReply>[] = [];
    for (let i = 0; i < hosts.length; i += per) {
      const slice = hosts.slice(i, i + per);
      const farm = Farm.start(slice.map((h) => h.name));
      farms.push(farm);
      for (const h of slice) farmOf.set(h.name, farm);
      starts.push(farm.call({ op: 'start', dir, hosts: slice }));
    }
    await Promise.all(starts);
    return new Switches(dir, farms, farmOf);
  }

  endpoint(host: string): string {
    return `unix:${this.dir}/${host}.sock`;
  }

  farm(host: string): Farm {
    const f = this.farmOf.get(host);
    if (!f) throw new Error(`no switch for ${host}`);
    return f;
  }

  private byFarm(hosts: readonly string[]): Map<Farm, string[]> {
    const out = new Map<Farm, string[]>();
    for (const h of hosts) {
      const f = this.farm(h);
      const list = out.get(f) ?? [];
      list.push(h);
      out.set(f, list);
    }
    return out;
  }

  async expect(rates: [string, string, string][]): Promise<void> {
    const by = new Map<Farm, [string, string, string][]>();
    for (const r of rates) {
      const f = this.farm(r[0]);
      const list = by.get(f) ?? [];
      list.push(r);
      by.set(f, list);
    }
    await Promise.all([...by].map(([f, list]) => f.call({ op: 'expect', rates: list })));
  }

  async count(hosts?: readonly string[], all = false): Promise<{ applied: number; expected: number; withQos: number }> {
    const calls = hosts ? [...this.byFarm(hosts)].map(([f, hs]) => f.call({ op: 'count', hosts: hs, all })) : this.farms.map((f) => f.call({ op: 'count', all }));
    const replies = await Promise.all(calls);
    return replies.reduce((a, r) => ({ applied: a.applied + Number(r.applied), expected: a.expected + Number(r.expected), withQos: a.withQos + Number(r.withQos) }), { applied: 0, expected: 0, withQos: 0 });
  }

  async drift(hosts: readonly string[]): Promise<number> {
    const replies = await Promise.all([...this.byFarm(hosts)].map(([f, hs]) => f.call({ op: 'drift', hosts: hs, rate: DRIFT_RATE })));
    return replies.reduce((n, r) => n + Number(r.rows), 0);
  }

  async epochs(hosts: readonly string[]): Promise<Map<string, string | null>> {
    const replies = await Promise.all([...this.byFarm(hosts)].map(([f, hs]) => f.call({ op: 'epochs', hosts: hs })));
    const out = new Map<string, string | null>();
    for (const r of replies) for (const [h, e] of Object.entries(r.epochs as Record<string, string | null>)) out.set(h, e);
    return out;
  }

  async close(): Promise<void> {
    await Promise.all(this.farms.map((f) => f.close()));
  }

  rssMiB(): number {
    return this.farms.reduce((n, f) => n + (f.child.pid === undefined ? 0 : procStatus(f.child.pid).rssMiB), 0);
  }
}

// ------------------------------------------------------- counting proxies

type Service = 'nova' | 'neutron' | 'placement' | 'keystone' | 'other';
interface Call {
  service: Service;
  services: boolean;
}

interface CountingProxy {
  port: number;
  calls: Call[];
  close(): Promise<void>;
}

const REQUEST_LINE = /(?:^|\n)(GET|POST|PUT|DELETE|PATCH|HEAD) (\/\S*) HTTP\/1\.[01]\r/g;

function serviceOf(p: string): Service {
  if (p.startsWith('/compute')) return 'nova';
  if (p.startsWith('/network')) return 'neutron';
  if (p.startsWith('/placement')) return 'placement';
  if (p.startsWith('/identity')) return 'keystone';
  return 'other';
}

/** A TCP pass-through to the sim that counts the HTTP request lines going through. */
async function startCountingProxy(targetPort: number): Promise<CountingProxy> {
  const calls: Call[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (chunk: Buffer) => {
      const text = chunk.toString('latin1');
      for (const m of text.matchAll(REQUEST_LINE)) {
        const p = m[2] ?? '';
        calls.push({ service: serviceOf(p), services: p.includes('/os-services') });
      }
    });
    client.pipe(upstream);
    upstream.pipe(client);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const a = server.address();
  return {
    port: typeof a === 'object' && a ? a.port : 0,
    calls,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

interface RefreshCalls {
  nova: number;
  neutron: number;
  placement: number;
  keystone: number;
}

/** Calls split into refreshes: each refresh reads os-services once; the first also the versions. */
function refreshes(calls: readonly Call[]): RefreshCalls[] {
  const out: RefreshCalls[] = [];
  let cur: RefreshCalls = { nova: 0, neutron: 0, placement: 0, keystone: 0 };
  let seenServices = 0;
  for (const c of calls) {
    if (c.services) {
      seenServices++;
      if (seenServices > 1) {
        out.push(cur);
        cur = { nova: 0, neutron: 0, placement: 0, keystone: 0 };
      }
    }
    if (c.service !== 'other') cur[c.service]++;
  }
  out.push(cur);
  return out;
}

// ------------------------------------------------------------------ agents

interface Agent {
  id: string;
  url: string;
  child: ChildProcess;
  proxy: CountingProxy;
  logFile: string;
  configFile: string;
  env: Record<string, string>;
  rssPeakMiB: number;
}

/** Exited, by a code or by a signal (a SIGTERMed child has no exit code). */
const exited = (child: ChildProcess): boolean => child.exitCode !== null || child.signalCode !== null;

function procStatus(pid: number): { rssMiB: number; hwmMiB: number } {
  try {
    const text = readFileSync(`/proc/${String(pid)}/status`, 'utf8');
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return { rssMiB: 0, hwmMiB: 0 };
  }
}

function spawnAgent(agent: Omit<Agent, 'child' | 'rssPeakMiB'>): Agent {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OS_') && !k.startsWith('CM_AGENT_')));
  const fd = openSync(agent.logFile, 'a');
  // CM_BENCH_AGENT_NODE_FLAGS (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"): node flags for
  // the agent children only, to profile them (NODE_OPTIONS refuses --cpu-prof).
  const nodeFlags = (process.env.CM_BENCH_AGENT_NODE_FLAGS ?? '').split(/\s+/).filter((f) => f !== '');
  const child = spawn(process.execPath, [...nodeFlags, BIN, '--config', agent.configFile], { env: { ...base, ...agent.env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  trackChild(child);
  return { ...agent, child, rssPeakMiB: 0 };
}

async function api(url: string, method: string, route: string, body?: unknown, timeoutMs = 60_000): Promise<{ status: number; text: string; ms: number }> {
  const start = performance.now();
  const response = await fetch(`${url}${route}`, {
    method,
    headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  return { status: response.status, text, ms: performance.now() - start };
}

async function ownedBy(agent: Agent): Promise<string[]> {
  const { text } = await api(agent.url, 'GET', '/metrics');
  return [...text.matchAll(/^cm_agent_host_owned\{host="([^"]+)",agent_id="([^"]+)"\} 1$/gm)].map((m) => m[1] ?? '');
}

/** The last lines of an agent's log that are not JSON log events (its fatal error), else its last line. */
function tail(file: string): string {
  try {
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const plain = lines.filter((l) => !l.startsWith('{')).slice(-3);
    return (plain.length > 0 ? plain : lines.slice(-1)).join('\n').slice(0, 600);
  } catch {
    return '';
  }
}

// ------------------------------------------------------------------ phases

interface Cloud {
  sim: SimCloud;
  simPort: number;
  hosts: FarmHost[];
  /** server id → [host, ovs port name] */
  servers: { id: string; host: string; ovsPort: string }[];
}

interface PhaseResult {
  label: string;
  agents: number;
  store: string;
  switchesSetupMs: number;
  storeSetupMs: number;
  coldMs: number;
  /** Cluster: every host's epoch names its owner (the hand-overs after the members joined are over). */
  settledMs: number;
  healthzMs: number[];
  changeMs: number[];
  /** Changes not on the switch within CHANGE_TIMEOUT_MS (their samples are the time waited). */
  changeTimeouts: number;
  getHostsMs: number[];
  getHostsBytes: number;
  /** Every page (limit 1000) walked once per replica. */
  getAllHostsMs: number[];
  getAllHostsBytes: number;
  getHostsWorstReplicaP50: number;
  failover: { fromStopMs: number; fromKillMs: number; hosts: number; ports: number; note: string } | undefined;
  rssPeakMiB: number[];
  rssHwmMiB: number[];
  calls: { agent: string; refreshes: RefreshCalls[]; owned: number }[];
  farmRssMiB: number;
  /** Why the phase stopped early (the figures not reached are NaN or empty). */
  error?: string;
}

const rateFor = (i: number, bump = 0): number => (100 + ((i + bump) % 400)) * MBIT;

async function runPhase(opts: Options, cloud: Cloud, mode: { cluster: boolean; pg?: PostgresHandle }, dir: string, prepared: { switches: Switches; ms: number }): Promise<PhaseResult> {
  const k = mode.cluster ? opts.agents : 1;
  const label = mode.cluster ? `${String(k)} replicas` : 'single agent';
  const total = cloud.servers.length;
  const agents: Agent[] = [];
  const switches = prepared.switches;
  const switchesSetupMs = prepared.ms;
  let farmRssMiB = 0;
  let storeDesc = mode.cluster ? 'PostgreSQL' : 'SQLite file';
  let storeSetupMs = Number.NaN;
  let coldMs = Number.NaN;
  let settledMs = Number.NaN;
  const healthzMs: number[] = [];
  const getHostsMs: number[] = [];
  let getHostsBytes = 0;
  const getAllHostsMs: number[] = [];
  let getAllHostsBytes = 0;
  let worstP50 = Number.NaN;
  const changeMs: number[] = [];
  let changeTimeouts = 0;
  let calls: PhaseResult['calls'] = [];
  let rssHwmMiB: number[] = [];
  let rssPeakMiB: number[] = [];
  let failover: PhaseResult['failover'];
  let error: string | undefined;
  const rssTimer = setInterval(() => {
    for (const a of agents) if (a.child.pid !== undefined && a.child.exitCode === null) a.rssPeakMiB = Math.max(a.rssPeakMiB, procStatus(a.child.pid).rssMiB);
  }, 1000);
  try {
    // ---- fresh switches (started before the phases, idle until now)
    farmRssMiB = switches.rssMiB();
    const theSwitches = switches;
    await switches.expect(cloud.servers.map((s, i) => [s.host, s.ovsPort, String(rateFor(i))]));

    // ---- every SLA in the store before any agent starts
    const t = performance.now();
    let storeConfig: string;
    let bulk: (rows: [string, string, string][]) => Promise<void>;
    let store: SlaStore;
    let reopen: () => Promise<SlaStore>;
    if (mode.cluster && mode.pg) {
      const url = await mode.pg.createDatabase(`cm_scale_${String(process.pid)}`);
      store = await openSlaStore({ url });
      storeDesc = 'PostgreSQL';
      storeConfig = `store: { url: "${url}" }`;
      reopen = () => openSlaStore({ url });
      bulk = async (rows) => {
        const client = new pg.Client({ connectionString: url });
        await client.connect();
        try {
          for (let i = 0; i < rows.length; i += 10_000) {
            const chunk = rows.slice(i, i + 10_000);
            await client.query(
              `INSERT INTO desired_sla (server_id, sla_json, host, source, version, created_at, updated_at)
               SELECT s, j, h, 'v1', 1, now(), now() FROM unnest($1::text[], $2::text[], $3::text[]) AS t(s, j, h)`,
              [chunk.map((r) => r[0]), chunk.map((r) => r[1]), chunk.map((r) => r[2])],
            );
          }
        } finally {
          await client.end();
        }
      };
    } else {
      const file = path.join(dir, 'agent-sla.db');
      store = await openSlaStore({ path: file });
      storeDesc = 'SQLite file';
      storeConfig = `store: { path: "${file}" }`;
      reopen = () => openSlaStore({ path: file });
      bulk = (rows) => {
        const db = new BetterSqlite3(file);
        try {
          const at = new Date().toISOString();
          const insert = db.prepare(`INSERT INTO desired_sla (server_id, sla_json, host, source, version, created_at, updated_at) VALUES (?, ?, ?, 'v1', 1, ?, ?)`);
          db.transaction(() => {
            for (const r of rows) insert.run(r[0], r[1], r[2], at, at);
          })();
        } finally {
          db.close();
        }
        return Promise.resolve();
      };
    }
    // The first SLA through the store (its migrations, its validation), the rest as the same rows in bulk:
    // putting 200 000 one transaction each would take minutes of setup.
    const slaOf = (i: number): Sla => ({ download: { maxRate: rateFor(i) }, upload: { maxRate: rateFor(i) } });
    try {
      const first = cloud.servers[0];
      if (first) await store.put(first.id, slaOf(0), { source: 'v1', host: first.host });
    } finally {
      await store.close();
    }
    await bulk(cloud.servers.slice(1).map((s, i) => [s.id, canonicalSlaJson(slaOf(i + 1)), s.host]));
    const check = await reopen();
    try {
      const listed = await check.list();
      const index = new Map(cloud.servers.map((s, i) => [s.id, i]));
      const wrong = listed.filter((r) => r.sla.download?.maxRate !== rateFor(index.get(r.serverId) ?? -1));
      if (listed.length !== total || wrong.length > 0) throw new Error(`the store lists ${String(listed.length)} SLAs (${String(wrong.length)} wrong), expected ${String(total)}`);
    } finally {
      await check.close();
    }
    storeSetupMs = performance.now() - t;
    log(`${label}: ${String(total)} SLAs stored (${storeDesc}) in ${r1(storeSetupMs / 1000)} s`);

    // ---- configs, proxies
    const baseEnv = openrcEnv(cloud.sim);
    const specs: Omit<Agent, 'child' | 'rssPeakMiB'>[] = [];
    for (let i = 0; i < k; i++) {
      const id = mode.cluster ? `agent-${String(i + 1)}` : 'agent-single';
      const port = await freePort();
      const proxy = await startCountingProxy(cloud.simPort);
      const configFile = path.join(dir, `${id}.yaml`);
      writeFileSync(
        configFile,
        [
          `listen: { host: 127.0.0.1, port: ${String(port)} }`,
          `auth: { tokens: [${TOKEN}] }`,
          `owner: ${OWNER}`,
          storeConfig,
          ...(mode.cluster ? [`cluster: { agent_id: ${id} }`] : []),
          `inventory: { refresh_interval_ms: ${String(opts.refreshMs)} }`,
          `ovsdb: { template: "unix:${dir}/{host}.sock" }`,
          '',
        ].join('\n'),
      );
      specs.push({
        id,
        url: `http://127.0.0.1:${String(port)}`,
        proxy,
        logFile: path.join(dir, `${id}.log`),
        configFile,
        env: { ...baseEnv, OS_AUTH_URL: `http://127.0.0.1:${String(proxy.port)}/identity/v3` },
      });
    }

    // ---- (1) cold start
    const t0 = performance.now();
    for (const s of specs) agents.push(spawnAgent(s));
    const healthz = Promise.all(
      agents.map(async (a) => {
        await waitFor(
          `${a.id} answering /healthz`,
          async () => {
            if (exited(a.child)) throw new Error(`${a.id} exited with ${String(a.child.exitCode ?? a.child.signalCode)}:\n${tail(a.logFile)}`);
            return fetch(`${a.url}/healthz`).then(
              (r) => r.ok,
              () => false,
            );
          },
          600_000,
          100,
        );
        healthzMs.push(performance.now() - t0);
      }),
    );
    healthz.catch(() => undefined);
    let last = { applied: 0, expected: total, withQos: 0 };
    let lastLog = performance.now();
    await waitFor(
      'every SLA applied on the switches',
      async () => {
        for (const a of agents) if (exited(a.child)) throw new Error(`${a.id} exited with ${String(a.child.exitCode ?? a.child.signalCode)}:\n${tail(a.logFile)}`);
        last = await theSwitches.count();
        if (performance.now() - lastLog > 10_000) {
          lastLog = performance.now();
          log(`${label}: cold start, ${String(last.applied)} / ${String(total)} applied after ${r1((performance.now() - t0) / 1000)} s`);
        }
        return last.applied === total;
      },
      GOAL.coldS * 5 * 1000,
      250,
    );
    coldMs = performance.now() - t0;
    await healthz;
    const recount = await switches.count(undefined, true);
    if (recount.applied !== total) throw new Error(`after the cold start only ${String(recount.applied)} of ${String(total)} ports carry their SLA`);
    log(`${label}: cold start → every SLA applied in ${r1(coldMs / 1000)} s`);

    // Every replica answers /v1/sla for every server (others' hosts from the store).
    if (mode.cluster) {
      await waitFor(
        'the hosts divided between the replicas, every one owned',
        async () => {
          const owned = await Promise.all(agents.map((a) => ownedBy(a)));
          const all = owned.flat();
          return all.length === cloud.hosts.length && new Set(all).size === all.length;
        },
        120_000,
        500,
      );
      // Steady state before the timed changes: every host's switch carries the epoch of the replica that says it owns it
      // (after a member joins, a host moves only after the hand-over time).
      await waitFor(
        "every host's epoch naming its owner",
        async () => {
          const owned = await Promise.all(agents.map((a) => ownedBy(a)));
          const ownerOf = new Map<string, string>();
          owned.forEach((hs, i) => {
            for (const h of hs) ownerOf.set(h, agents[i]?.id ?? '');
          });
          const e = await theSwitches.epochs(cloud.hosts.map((h) => h.name));
          const wrong = [...e].filter(([h, v]) => !ownerOf.has(h) || v?.endsWith(`@${ownerOf.get(h) ?? ''}`) !== true);
          if (wrong.length > 0 && performance.now() - lastLog > 10_000) {
            lastLog = performance.now();
            log(`${label}: ${String(wrong.length)} hosts' epochs do not name their owner yet, e.g. ${wrong.slice(0, 3).map(([h, v]) => `${h}: ${String(v)} (owner ${ownerOf.get(h) ?? 'none'})`).join('; ')}`);
          }
          return wrong.length === 0;
        },
        120_000,
        500,
      );
      settledMs = performance.now() - t0;
      log(`${label}: ownership settled ${r1(settledMs / 1000)} s after the start`);
    }

    // ---- (3) GET /v1/hosts warm on every replica
    worstP50 = 0;
    for (const a of agents) {
      const first = await api(a.url, 'GET', '/v1/hosts', undefined, 300_000);
      if (first.status !== 200) throw new Error(`${a.id} GET /v1/hosts: ${String(first.status)} ${first.text.slice(0, 300)}`);
      getHostsBytes = first.text.length;
      const mine: number[] = [];
      for (let i = 0; i < opts.gets; i++) {
        const r = await api(a.url, 'GET', '/v1/hosts', undefined, 300_000);
        if (r.status !== 200) throw new Error(`${a.id} GET /v1/hosts: ${String(r.status)}`);
        mine.push(r.ms);
      }
      getHostsMs.push(...mine);
      worstP50 = Math.max(worstP50, quantile(sortNum(mine), 0.5));
      // The whole region, as the manager reads it: every page of 1000 hosts, one walk per replica.
      const walkStart = performance.now();
      let next: string | undefined = '/v1/hosts?limit=1000';
      let bytes = 0;
      while (next !== undefined) {
        const r = await api(a.url, 'GET', next, undefined, 300_000);
        if (r.status !== 200) throw new Error(`${a.id} GET ${next}: ${String(r.status)}`);
        bytes += r.text.length;
        next = (JSON.parse(r.text) as { hosts_links?: { rel: string; href: string }[] }).hosts_links?.find((l) => l.rel === 'next')?.href;
      }
      getAllHostsMs.push(performance.now() - walkStart);
      getAllHostsBytes = bytes;
    }
    log(`${label}: GET /v1/hosts warm p95 ${r1(quantile(sortNum(getHostsMs), 0.95))} ms (${r1(getHostsBytes / 2 ** 20)} MiB)`);

    // ---- (2) one SLA changed → applied on its switch
    const step = Math.max(1, Math.floor(total / opts.changes));
    for (let n = 0; n < opts.changes; n++) {
      const i = (n * step + 7 * n) % total;
      const s = cloud.servers[i];
      if (!s) continue;
      const a = agents[n % agents.length] as Agent;
      const rate = rateFor(i, 1 + n);
      await switches.expect([[s.host, s.ovsPort, String(rate)]]);
      const start = performance.now();
      const waiting = switches.farm(s.host).call({ op: 'wait', host: s.host, port: s.ovsPort, rate: String(rate), timeoutMs: CHANGE_TIMEOUT_MS });
      const res = await api(a.url, 'PUT', `/v1/servers/${s.id}/sla`, { download: { max: rate }, upload: { max: rate } });
      if (res.status !== 200 && res.status !== 201) throw new Error(`${a.id} PUT sla: ${String(res.status)} ${res.text.slice(0, 300)}`);
      try {
        await waiting;
        changeMs.push(performance.now() - start);
      } catch (e) {
        // Not applied within the timeout: counted as a sample of at least the timeout (the percentiles say so), not dropped.
        changeTimeouts++;
        changeMs.push(performance.now() - start);
        log(`${label}: change ${String(n + 1)} not on the switch within ${String(CHANGE_TIMEOUT_MS / 1000)} s: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    log(`${label}: SLA change → switch p99 ${r1(quantile(sortNum(changeMs), 0.99))} ms`);

    // ---- (6) calls: wait for at least one refresh after the cold one on every replica
    await waitFor('a second inventory refresh on every replica', () => Promise.resolve(agents.every((a) => a.proxy.calls.filter((c) => c.services).length >= 3)), opts.refreshMs * 2 + 30_000, 500).catch(() => undefined);
    const owned = mode.cluster ? await Promise.all(agents.map((a) => ownedBy(a))) : [cloud.hosts.map((h) => h.name)];
    calls = agents.map((a, i) => ({ agent: a.id, refreshes: refreshes(a.proxy.calls), owned: owned[i]?.length ?? 0 }));

    // ---- (5) RSS before the failover (the victim's is gone afterwards)
    rssHwmMiB = agents.map((a) => (a.child.pid === undefined ? 0 : procStatus(a.child.pid).hwmMiB));
    for (const a of agents) if (a.child.pid !== undefined) a.rssPeakMiB = Math.max(a.rssPeakMiB, procStatus(a.child.pid).rssMiB);
    rssPeakMiB = agents.map((a) => a.rssPeakMiB);

    // ---- (4) SIGSTOP, drift, SIGKILL
    {
      const victim = agents[agents.length - 1] as Agent;
      const victimHosts = mode.cluster ? await ownedBy(victim) : cloud.hosts.map((h) => h.name);
      const portsThere = cloud.servers.filter((s) => victimHosts.includes(s.host)).length;
      victim.child.kill('SIGSTOP');
      const stoppedAt = performance.now();
      const rows = await switches.drift(victimHosts);
      const drifted = await switches.count(victimHosts, true);
      victim.child.kill('SIGKILL');
      const killedAt = performance.now();
      log(`${label}: ${victim.id} stopped, drift on ${String(rows)} QoS rows of its ${String(victimHosts.length)} hosts (${String(drifted.applied)} of ${String(portsThere)} ports still right), SIGKILLed ${r1(killedAt - stoppedAt)} ms after the SIGSTOP`);
      let note: string;
      if (mode.cluster) {
        const survivors = agents.filter((a) => a !== victim).map((a) => a.id);
        await waitFor(
          "the victim's hosts repaired by the others",
          async () => {
            const c = await theSwitches.count(victimHosts);
            if (c.applied !== c.expected) return false;
            const e = await theSwitches.epochs(victimHosts);
            return [...e.values()].every((v) => survivors.some((id) => v?.endsWith(`@${id}`) === true));
          },
          120_000,
          100,
        );
        note = `${String(victimHosts.length)} hosts taken over by ${String(survivors.length)} survivors (lease 6 s)`;
      } else {
        await new Promise<void>((resolve) => {
          if (victim.child.exitCode !== null || victim.child.signalCode !== null) resolve();
          else victim.child.once('exit', () => {
            resolve();
          });
        });
        const again = spawnAgent({ id: victim.id, url: victim.url, proxy: victim.proxy, logFile: victim.logFile, configFile: victim.configFile, env: victim.env });
        agents[agents.length - 1] = again;
        await waitFor(
          'the restarted agent repairs its hosts',
          async () => {
            if (exited(again.child)) throw new Error(`restarted agent exited with ${String(again.child.exitCode ?? again.child.signalCode)}:\n${tail(again.logFile)}`);
            const c = await theSwitches.count(victimHosts);
            return c.applied === c.expected;
          },
          600_000,
          100,
        );
        note = 'no replica: restarted at once (supervisor), then repaired';
      }
      const done = performance.now();
      failover = { fromStopMs: done - stoppedAt, fromKillMs: done - killedAt, hosts: victimHosts.length, ports: portsThere, note };
      log(`${label}: repaired ${r1((done - killedAt) / 1000)} s after the SIGKILL (${r1((done - stoppedAt) / 1000)} s after the SIGSTOP)`);
    }

  } catch (e) {
    error = e instanceof Error ? e.message : String(e);
    log(`${label}: FAILED: ${error}`);
    if (calls.length === 0) calls = agents.map((a) => ({ agent: a.id, refreshes: refreshes(a.proxy.calls), owned: 0 }));
    if (rssHwmMiB.length === 0) {
      rssHwmMiB = agents.map((a) => (a.child.pid === undefined ? 0 : procStatus(a.child.pid).hwmMiB));
      rssPeakMiB = agents.map((a) => a.rssPeakMiB);
    }
  } finally {
    clearInterval(rssTimer);
    for (const a of agents) await terminate(a.child, 5000);
    for (const a of agents) await a.proxy.close();
    await switches.close();
  }
  return {
    label,
    agents: k,
    store: storeDesc,
    switchesSetupMs,
    storeSetupMs,
    coldMs,
    settledMs,
    healthzMs: sortNum(healthzMs),
    changeMs,
    changeTimeouts,
    getHostsMs,
    getHostsBytes,
    getAllHostsMs,
    getAllHostsBytes,
    getHostsWorstReplicaP50: worstP50,
    failover,
    rssPeakMiB,
    rssHwmMiB,
    calls,
    farmRssMiB,
    ...(error === undefined ? {} : { error }),
  };
}

// ------------------------------------------------------------------ report

interface Row {
  label: string;
  goal: string;
  cluster: string;
  met: string;
  single: string;
  ratio: string;
}

const metText = (ok: boolean | undefined): string => (ok === undefined ? '' : ok ? 'met' : 'MISSED');
const ratioText = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0 ? '' : `${(a / b).toFixed(2)}×`);

export async function main(argv: readonly string[]): Promise<void> {
  const opts = parseOptions(argv);
  const pgGate = postgresAvailable();
  if (pgGate.skip !== false) throw new Error(`the cluster phase needs PostgreSQL: ${pgGate.skip}`);
  const total = opts.hosts * opts.serversPerHost;
  const tStart = performance.now();
  const root = await makeTempDir('cm-scale-');
  let sim: SimCloud | undefined;
  let pgHandle: PostgresHandle | undefined;
  const prepared: Switches[] = [];
  try {
    log(`setup: ${String(opts.hosts)} hosts × ${String(opts.serversPerHost)} servers = ${String(total)} servers; cluster of ${String(opts.agents)}${opts.single ? ', then 1 agent' : ''}`);
    let t = performance.now();
    // The switches are the farms' (one per phase); the sim's hook plugs nothing (no server boots through the API here).
    let endpointDir = root;
    const hook: HypervisorHook = {
      plug: () => Promise.resolve(),
      unplug: () => Promise.resolve(),
      ovsdbEndpoint: (host) => `unix:${endpointDir}/${host}.sock`,
    };
    sim = await startSimCloud({ scenario: bulkScenario(opts.hosts), hypervisor: hook });
    seedServers(sim.state, { perHost: opts.serversPerHost });
    const simPort = Number(new URL(sim.authUrl).port);
    const byHost = new Map<string, FarmHost>();
    const servers: Cloud['servers'] = [];
    for (const s of sim.state.servers.values()) {
      const host = s.host ?? '';
      const port = sim.state.ports.get(s.portIds[0] ?? '');
      if (!port) throw new Error(`server ${s.id} without a port`);
      const ovsPort = ovsPortName(port.id);
      let h = byHost.get(host);
      if (!h) byHost.set(host, (h = { name: host, ports: [] }));
      h.ports.push([ovsPort, port.id, port.macAddress, s.id]);
      servers.push({ id: s.id, host, ovsPort });
    }
    const cloud: Cloud = { sim, simPort, hosts: [...byHost.values()], servers };
    const simSetupMs = performance.now() - t;
    log(`setup: simulated cloud with ${String(total)} seeded servers in ${r1(simSetupMs / 1000)} s`);
    // PostgreSQL and both phases' switches come up side by side (setup, not measured); each phase's stay idle until it starts.
    const dirs = { cluster: path.join(root, 'cluster'), single: path.join(root, 'single') };
    for (const d of Object.values(dirs)) mkdirSync(d, { recursive: true });
    t = performance.now();
    const timed = async (start: () => Promise<Switches>): Promise<{ switches: Switches; ms: number }> => {
      const t1 = performance.now();
      const switches = await start();
      return { switches, ms: performance.now() - t1 };
    };
    const pgP = startPostgres();
    const swC = timed(() => Switches.start(dirs.cluster, cloud.hosts));
    const swS = opts.single ? timed(() => Switches.start(dirs.single, cloud.hosts)) : undefined;
    const settled = await Promise.allSettled([pgP, swC, ...(swS ? [swS] : [])]);
    if (settled[0].status === 'fulfilled') pgHandle = await pgP;
    for (const r of settled.slice(1)) if (r.status === 'fulfilled') prepared.push((r.value as { switches: Switches }).switches);
    const failed = settled.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    const clusterSw = await swC;
    const singleSw = await swS;
    log(
      `setup: PostgreSQL and ${String(cloud.hosts.length)} switches × ${opts.single ? '2 phases' : '1 phase'} (${String(clusterSw.switches.farms.length)} farm process(es) each, RSS ${String(Math.round(clusterSw.switches.rssMiB()))} MiB each) in ${r1((performance.now() - t) / 1000)} s`,
    );

    endpointDir = dirs.cluster;
    const cluster = await runPhase(opts, cloud, { cluster: true, ...(pgHandle ? { pg: pgHandle } : {}) }, dirs.cluster, clusterSw);
    endpointDir = dirs.single;
    const single = singleSw ? await runPhase(opts, cloud, { cluster: false }, dirs.single, singleSw) : undefined;
    const simRssMiB = procStatus(process.pid).rssMiB;

    // ---------------------------------------------------------- the table
    const p = (xs: readonly number[], q: number): number => quantile(sortNum(xs), q);
    const rows: Row[] = [];
    const both = (label: string, goal: string, c: number, s: number | undefined, fmt: (n: number) => string, ok?: boolean): void => {
      rows.push({ label, goal, cluster: fmt(c), met: metText(ok), single: s === undefined ? '—' : fmt(s), ratio: ratioText(c, s) });
    };
    const sec = (v: number): string => (Number.isFinite(v) ? `${(v / 1000).toFixed(1)} s` : 'not reached');
    const ms = (v: number): string => (Number.isFinite(v) ? `${r1(v)} ms` : 'not reached');
    const mib = (v: number): string => (Number.isFinite(v) ? `${String(Math.round(v))} MiB` : '—');
    const maxOf = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : Math.max(...xs));
    both('cold start → every SLA applied on its switch', `≤ ${String(GOAL.coldS)} s`, cluster.coldMs, single?.coldMs, sec, cluster.coldMs <= GOAL.coldS * 1000);
    const lastHealthz = (r: PhaseResult): number => (r.healthzMs.length === r.agents ? (r.healthzMs.at(-1) ?? Number.NaN) : Number.NaN);
    both('  of which: every agent answering /healthz', '', lastHealthz(cluster), single ? lastHealthz(single) : undefined, sec);
    both('  ownership settled (every epoch = its owner; cluster only)', '', cluster.settledMs, undefined, sec);
    both(`one SLA changed → on its switch, p99 of ${String(opts.changes)}`, `≤ ${String(GOAL.changeP99Ms)} ms`, p(cluster.changeMs, 0.99), single ? p(single.changeMs, 0.99) : undefined, ms, p(cluster.changeMs, 0.99) <= GOAL.changeP99Ms);
    both('  p50 / max', '', p(cluster.changeMs, 0.5), single ? p(single.changeMs, 0.5) : undefined, ms);
    const maxText = (r: PhaseResult): string => `max ${ms(maxOf(r.changeMs))}${r.changeTimeouts > 0 ? ` (${String(r.changeTimeouts)} not applied in ${String(CHANGE_TIMEOUT_MS / 1000)} s)` : ''}`;
    rows.push({ label: '', goal: '', cluster: maxText(cluster), met: '', single: single ? maxText(single) : '—', ratio: '' });
    const cKill = cluster.failover?.fromKillMs ?? Number.NaN;
    both(`one agent SIGKILLed → its hosts repaired (drift), from SIGKILL`, `≤ ${String(GOAL.failoverS)} s`, cKill, single ? (single.failover?.fromKillMs ?? Number.NaN) : undefined, sec, cKill <= GOAL.failoverS * 1000);
    both('  from its SIGSTOP (drift written while stopped)', '', cluster.failover?.fromStopMs ?? Number.NaN, single ? (single.failover?.fromStopMs ?? Number.NaN) : undefined, sec);
    rows.push({ label: '  hosts / ports of the killed agent', goal: '', cluster: cluster.failover ? `${String(cluster.failover.hosts)} / ${String(cluster.failover.ports)}` : '—', met: '', single: single?.failover ? `${String(single.failover.hosts)} / ${String(single.failover.ports)}` : '—', ratio: '' });
    both(`GET /v1/hosts warm (first page: 100 hosts), p95 over every replica (${String(opts.gets)} each)`, `≤ ${String(GOAL.getHostsMs)} ms`, p(cluster.getHostsMs, 0.95), single ? p(single.getHostsMs, 0.95) : undefined, ms, p(cluster.getHostsMs, 0.95) <= GOAL.getHostsMs);
    both('  worst replica median', '', cluster.getHostsWorstReplicaP50, single?.getHostsWorstReplicaP50, ms);
    rows.push({ label: '  body size', goal: '', cluster: `${r1(cluster.getHostsBytes / 2 ** 20)} MiB`, met: '', single: single ? `${r1(single.getHostsBytes / 2 ** 20)} MiB` : '—', ratio: '' });
    both('  every host (pages of 1000 walked), slowest replica', '', maxOf(cluster.getAllHostsMs), single ? maxOf(single.getAllHostsMs) : undefined, ms);
    rows.push({ label: '  every host, bytes', goal: '', cluster: `${r1(cluster.getAllHostsBytes / 2 ** 20)} MiB`, met: '', single: single ? `${r1(single.getAllHostsBytes / 2 ** 20)} MiB` : '—', ratio: '' });
    const cRss = maxOf([...cluster.rssHwmMiB, ...cluster.rssPeakMiB]);
    const sRss = single ? maxOf([...single.rssHwmMiB, ...single.rssPeakMiB]) : undefined;
    both('RSS per agent, peak (VmHWM), largest agent', `≤ ${String(GOAL.rssMiB)} MiB`, cRss, sRss, mib, cRss <= GOAL.rssMiB);
    rows.push({ label: '  each agent (VmHWM)', goal: '', cluster: cluster.rssHwmMiB.map((v) => String(Math.round(v))).join(' / '), met: '', single: single ? single.rssHwmMiB.map((v) => String(Math.round(v))).join(' / ') : '—', ratio: '' });

    // Calls per refresh.
    const callText = (r: RefreshCalls | undefined): string => (r ? `${String(r.nova)}+${String(r.neutron)}+${String(r.placement)}` : '—');
    const cCold = cluster.calls[0]?.refreshes[0];
    const sCold = single?.calls[0]?.refreshes[0];
    rows.push({ label: 'OpenStack calls per refresh, per replica: cold (nova+neutron+placement)', goal: 'printed', cluster: callText(cCold), met: '', single: callText(sCold), ratio: '' });
    const later = (res: PhaseResult | undefined): string => {
      if (!res) return '—';
      const rs = res.calls[0]?.refreshes.slice(1, -1) ?? [];
      return rs.length === 0 ? 'none complete' : rs.map(callText).join(', ');
    };
    rows.push({ label: '  later refreshes, first replica (complete ones)', goal: '', cluster: later(cluster), met: '', single: later(single), ratio: '' });
    rows.push({ label: '  cold, every replica', goal: '', cluster: cluster.calls.map((c) => callText(c.refreshes[0])).join(' | '), met: '', single: '', ratio: '' });
    const formulaCold = (owned: number): string => callText({ ...coldCalls({ hypervisors: opts.hosts, servers: total, ports: total, ownedProviders: owned }), keystone: 0 });
    rows.push({ label: '  formula, cold, O = every host', goal: '', cluster: formulaCold(opts.hosts), met: '', single: formulaCold(opts.hosts), ratio: '' });
    rows.push({ label: '  formula, cold, O = owned hosts (each replica)', goal: '', cluster: cluster.calls.map((c) => formulaCold(c.owned)).join(' | '), met: '', single: '', ratio: '' });
    rows.push({ label: '  formula, quiet refresh (C = 0, D = 0)', goal: '', cluster: callText({ ...incrementalCalls({ serverRecords: 0, deletedServers: 0, ports: { by: 'by-server' }, providersRead: 0 }), keystone: 0 }), met: '', single: '', ratio: '' });

    const widths = [
      Math.max(...rows.map((r) => r.label.length), 'measurement'.length),
      Math.max(...rows.map((r) => r.goal.length), 4),
      Math.max(...rows.map((r) => r.cluster.length), `${String(opts.agents)} replicas (PostgreSQL)`.length),
      6,
      Math.max(...rows.map((r) => r.single.length), '1 agent (SQLite)'.length),
      Math.max(...rows.map((r) => r.ratio.length), 5),
    ];
    const line = (cells: readonly string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
    console.log(`\nAgent replicas at scale (issue 14): ${String(opts.hosts)} hosts × ${String(opts.serversPerHost)} servers = ${String(total)} servers/ports${opts.small ? ' [--small]' : ''}`);
    console.log(`switches: in-process OVSDB servers, one database + unix listener per host, in ${String(Math.ceil(opts.hosts / HOSTS_PER_FARM))} farm process(es) per phase; cloud: simulated (seeded), in the bench process; agents: real cm-agent processes\n`);
    console.log(line(['measurement', 'goal', `${String(opts.agents)} replicas (PostgreSQL)`, 'goal?', '1 agent (SQLite)', 'ratio']));
    console.log(line(widths.map((w) => '-'.repeat(w))));
    for (const r of rows) console.log(line([r.label, r.goal, r.cluster, r.met, r.single, r.ratio]));
    console.log('\nformula of the inventory calls (src/agent/inventory/cost.ts), H hosts, S servers, P ports, L = 1000:');
    for (const f of COST_FORMULA) console.log(`  ${f}`);
    console.log(
      `\nsetup: sim ${r1(simSetupMs / 1000)} s; switches ${r1(cluster.switchesSetupMs / 1000)} s (farms' RSS ${String(Math.round(cluster.farmRssMiB))} MiB); SLAs into ${cluster.store} ${r1(cluster.storeSetupMs / 1000)} s` +
        (single ? `, into ${single.store} ${r1(single.storeSetupMs / 1000)} s` : '') +
        `; bench process (sim + proxies) RSS ${String(Math.round(simRssMiB))} MiB`,
    );
    if (cluster.failover) console.log(`failover: ${cluster.failover.note}${single?.failover ? `; single: ${single.failover.note}` : ''}`);
    for (const r of [cluster, single]) if (r?.error !== undefined) console.log(`${r.label} FAILED (figures after it not reached): ${r.error}`);
    console.log(`wall time: ${r1((performance.now() - tStart) / 1000)} s\n`);
    const phaseJson = (r: PhaseResult): Record<string, unknown> => ({
      agents: r.agents,
      cold_start_s: r1(r.coldMs / 1000),
      sla_change_p50_ms: r1(p(r.changeMs, 0.5)),
      sla_change_p99_ms: r1(p(r.changeMs, 0.99)),
      sla_change_timeouts: r.changeTimeouts,
      failover_from_kill_s: r.failover ? r1(r.failover.fromKillMs / 1000) : null,
      failover_from_stop_s: r.failover ? r1(r.failover.fromStopMs / 1000) : null,
      get_hosts_p95_ms: r1(p(r.getHostsMs, 0.95)),
      get_all_hosts_max_ms: r1(maxOf(r.getAllHostsMs)),
      rss_peak_mib: Math.round(maxOf([...r.rssHwmMiB, ...r.rssPeakMiB])),
      error: r.error ?? null,
      calls_cold: r.calls.map((c) => c.refreshes[0]),
      calls_later: r.calls.map((c) => c.refreshes.slice(1, -1)),
    });
    console.log(
      JSON.stringify({
        bench: 'scale',
        hosts: opts.hosts,
        servers_per_host: opts.serversPerHost,
        servers: total,
        small: opts.small,
        cluster: phaseJson(cluster),
        single: single ? phaseJson(single) : null,
        goals_met: {
          cold_start: cluster.coldMs <= GOAL.coldS * 1000,
          sla_change_p99: p(cluster.changeMs, 0.99) <= GOAL.changeP99Ms,
          failover: cKill <= GOAL.failoverS * 1000,
          get_hosts: p(cluster.getHostsMs, 0.95) <= GOAL.getHostsMs,
          rss: cRss <= GOAL.rssMiB,
        },
      }),
    );
  } finally {
    for (const sw of prepared) await sw.close();
    await sim?.close();
    await pgHandle?.stop();
    if (process.env.CM_BENCH_KEEP === undefined) await removeTempDir(root);
    else {
      untrackDir(root);
      log(`kept ${root} (CM_BENCH_KEEP)`);
    }
  }
}
