/**
 * `npm run bench -- inventory-calls`: how many Nova, Neutron and Placement requests one
 * CloudInventory refresh sends on a large simulated cloud (default 10 000 hosts × 20
 * servers = 200 000 servers and ports), against the formula in
 * src/agent/inventory/cost.ts; every measured figure, less the failed attempts the HTTP
 * layer sent again (shown apart: a connection the loaded cloud dropped, a 5xx), must equal
 * the formula's (the process fails otherwise). Times are reported but are not the point:
 * they are those of a simulated cloud and two inventories sharing one machine.
 *
 * Setup (timed, not part of the figures): a bulk scenario with servers seeded straight
 * into the simulated state an hour in the past (src/sim/bulk.ts; booting 200 000 servers
 * through the API would take hours) and no switches (nothing here reads OVSDB). The
 * simulated cloud runs in a child process, as a cloud runs elsewhere: its heap and event
 * loop are not the inventories' (in one process, 200 000 servers three times over made
 * garbage collection and a shared loop the measurement).
 *
 * Two inventories read the same cloud side by side with the agent's defaults (page 1000,
 * a 10 s `changes-since` margin; a long call deadline instead of 60 s, so that a loaded
 * machine does not abort a 1000-server page): one agent owning every host, and one replica of R
 * owning the hosts a stand-in for the cluster's ownership gives it (a hash of the host
 * name modulo R; the real assignment is src/agent/cluster's, and any partition costs the
 * same). Each goes through:
 *   cold         the first refresh (versions, every list, every owned provider);
 *   first incr.  the first incremental one, which learns that Neutron refuses
 *                `changed_since` (Zed's default) and reads ports by server from then on;
 *   few changes  K servers booted on K hosts, 2 deleted and 1 live-migrated, through the API;
 *   nothing changed  the refresh after that one;
 *   full resync  the periodic full read, nothing changed.
 * The refresh after the changes starts more than the margin after the last change, so the
 * next one does not see them again and every figure is exact.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  CloudInventory,
  coldCalls,
  COST_FORMULA,
  fullResyncCalls,
  incrementalCalls,
  type InventoryCalls,
  type InventorySnapshot,
} from '../src/agent/inventory.ts';
import { simCloudConfig } from '../src/agent/main.ts';
import { createOpenStack, OpenStackApiError, type CloudConfig, type OpenStack, type RequestLogEntry } from '../src/openstack/index.ts';
import { bulkScenario, NO_SWITCHES, seedServers, startSimCloud } from '../src/sim/index.ts';

class BenchUsageError extends Error {
  override name = 'BenchUsageError';
}

interface Options {
  hosts: number;
  serversPerHost: number;
  pageSize: number;
  replicas: number;
  changes: number;
  quick: boolean;
}

const USAGE = `usage: npm run bench -- inventory-calls [--hosts N] [--servers-per-host M] [--page-size L] [--replicas R] [--changes K] [--quick]
  --hosts N             simulated compute hosts (default 10000; --quick 1000)
  --servers-per-host M  servers seeded on each host (default 20; --quick 5)
  --page-size L         the inventory's page size (default 1000, Nova's default [api] max_limit)
  --replicas R          agent replicas sharing the hosts; one of them is measured (default 4)
  --changes K           servers booted between the cold and the incremental refresh (default 10)
  --quick               small cloud (smoke run)`;

function parseOptions(argv: readonly string[]): Options {
  const given = new Map<string, number>();
  let quick = false;
  const flags = ['--hosts', '--servers-per-host', '--page-size', '--replicas', '--changes'];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    if (a === '--quick') quick = true;
    else if (a === '--help' || a === '-h') throw new BenchUsageError(USAGE);
    else if (flags.includes(a)) {
      const v = argv[++i];
      const n = Number(v);
      if (v === undefined || !Number.isInteger(n) || n < 1) throw new BenchUsageError(`${a} needs a positive integer\n\n${USAGE}`);
      given.set(a, n);
    } else throw new BenchUsageError(`unknown option "${a}"\n\n${USAGE}`);
  }
  const o: Options = {
    hosts: given.get('--hosts') ?? (quick ? 1000 : 10_000),
    serversPerHost: given.get('--servers-per-host') ?? (quick ? 5 : 20),
    pageSize: given.get('--page-size') ?? 1000,
    replicas: given.get('--replicas') ?? 4,
    changes: given.get('--changes') ?? 10,
    quick,
  };
  // K booted, 2 deleted, 1 migrated: each on a host of its own.
  if (o.hosts < o.changes + 4) throw new BenchUsageError(`--hosts must be at least --changes + 4\n\n${USAGE}`);
  return o;
}

/** FNV-1a: a stand-in for the cluster's host assignment (any partition costs the same). */
function hash(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const r1 = (n: number): number => Math.round(n * 10) / 10;
const fmt = (c: InventoryCalls): string => `${c.nova} / ${c.neutron} / ${c.placement}`;
const same = (a: InventoryCalls, b: InventoryCalls): boolean => a.nova === b.nova && a.neutron === b.neutron && a.placement === b.placement;
const minus = (a: InventoryCalls, b: InventoryCalls): InventoryCalls => ({ nova: a.nova - b.nova, neutron: a.neutron - b.neutron, placement: a.placement - b.placement });
/** The measured calls less the failed attempts the HTTP layer sent again: what the formula counts. */
const matches = (r: Row): boolean => same(minus(r.measured, r.retried), r.formula);

async function until(check: () => Promise<boolean>, what: string, timeoutMs = 120_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!(await check())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function openstackFor(cloud: CloudConfig): OpenStack {
  // Failed attempts (retried by the HTTP layer) are reported: they are calls the formula does not count.
  const logger = (e: RequestLogEntry): void => {
    if (e.error !== undefined || (e.status !== undefined && (e.status >= 500 || e.status === 401 || e.status === 429))) {
      process.stderr.write(`  failed attempt: ${e.service} ${e.method} ${e.url.slice(0, 120)} attempt ${e.attempt}: ${e.error ?? String(e.status)} after ${r1(e.durationMs)} ms\n`);
    }
  };
  return createOpenStack(cloud, { http: { logger } });
}

/** What the child answers once its cloud is up. */
interface SimReady {
  cloud: CloudConfig;
  hosts: string[];
  servers: number;
  ports: number;
}

/** The child: a bulk cloud until its stdin closes; one JSON line (SimReady) on stdout when ready. */
async function serveSim(hosts: number, perHost: number): Promise<void> {
  const sim = await startSimCloud({ scenario: bulkScenario(hosts), hypervisor: NO_SWITCHES, bootDelayMs: 1 });
  seedServers(sim.state, { perHost });
  const ready: SimReady = { cloud: simCloudConfig(sim), hosts: [...sim.state.hosts.keys()], servers: sim.state.servers.size, ports: sim.state.ports.size };
  process.stdout.write(`${JSON.stringify(ready)}\n`);
  process.stdin.resume();
  await new Promise<void>((resolve) => process.stdin.once('end', resolve));
  await sim.close();
}

type SimChild = ChildProcessByStdio<Writable, Readable, null>;

/** Starts the child with a heap large enough for its cloud and waits for its SimReady line. */
async function startSimChild(hosts: number, perHost: number): Promise<{ child: SimChild; ready: SimReady }> {
  const child = spawn(process.execPath, ['--max-old-space-size=8192', '--import', 'tsx', fileURLToPath(import.meta.url), '--serve-sim', String(hosts), String(perHost)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const ready = await new Promise<SimReady>((resolve, reject) => {
    lines.once('line', (line) => {
      try {
        resolve(JSON.parse(line) as SimReady);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
    child.once('exit', (code) => {
      reject(new Error(`the simulated cloud exited (${String(code)}) before it was ready`));
    });
  });
  return { child, ready };
}

async function stopSimChild(child: SimChild): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  child.stdin.end();
  // Only our own child, by its handle.
  const timer = setTimeout(() => {
    child.kill('SIGKILL');
  }, 15_000);
  await exited;
  clearTimeout(timer);
}

interface Row {
  step: string;
  agent: string;
  measured: InventoryCalls;
  /** Failed attempts sent again (in `measured`, not in the formula). */
  retried: InventoryCalls;
  formula: InventoryCalls;
  ms: number;
  read: string;
}

export async function main(argv: readonly string[]): Promise<void> {
  const opts = parseOptions(argv);
  const t0 = performance.now();
  const margin = 10_000;
  let child: SimChild | undefined;
  const clients: OpenStack[] = [];
  try {
    process.stderr.write(`setup: ${opts.hosts} hosts × ${opts.serversPerHost} servers (simulated cloud in a child process)\n`);
    const started = await startSimChild(opts.hosts, opts.serversPerHost);
    child = started.child;
    const { cloud, hosts } = started.ready;
    const owns = (h: string): boolean => hash(h) % opts.replicas === 0;
    const ownedHosts = hosts.filter(owns).length;
    process.stderr.write(`setup: ${started.ready.servers} servers, ${started.ready.ports} ports in ${r1((performance.now() - t0) / 1000)} s; the replica owns ${ownedHosts} of ${hosts.length} hosts\n`);
    // Servers and ports now: every server has one port, and deleting a server deletes it.
    let servers = started.ready.servers;
    let ports = started.ready.ports;

    // Each with its own clients, as separate processes: the compute versions are discovered once per client.
    const admin = openstackFor(cloud);
    const mine = openstackFor(cloud);
    const theirs = openstackFor(cloud);
    clients.push(admin, mine, theirs);
    // Full resync at the 5th refresh (every 4), never by time; a deadline per call that an
    // overloaded machine does not hit (this measures calls, not latency).
    const common = { pageSize: opts.pageSize, changesSinceMarginMs: margin, fullResyncEvery: 4, fullResyncIntervalMs: 24 * 3_600_000, callTimeoutMs: 600_000 };
    const agents: { name: string; inv: CloudInventory; owns: (h: string) => boolean }[] = [
      { name: '1 agent (every host)', inv: new CloudInventory(mine, common), owns: () => true },
      { name: `replica 1 of ${opts.replicas}`, inv: new CloudInventory(theirs, { ...common, ownsHost: owns }), owns },
    ];
    const rows: Row[] = [];
    const refreshAll = async (step: string, formula: (owns: (h: string) => boolean) => InventoryCalls): Promise<void> => {
      for (const a of agents) {
        const begun = performance.now();
        const snap: InventorySnapshot = await a.inv.refresh();
        const ms = performance.now() - begun;
        if (snap.servers.length !== servers) throw new Error(`${a.name}: ${snap.servers.length} servers in the snapshot, ${servers} in the cloud`);
        const r = snap.read;
        rows.push({
          step,
          agent: a.name,
          measured: snap.calls ?? { nova: Number.NaN, neutron: Number.NaN, placement: Number.NaN },
          retried: r?.retried ?? { nova: 0, neutron: 0, placement: 0 },
          formula: formula(a.owns),
          ms,
          read: r ? `${r.kind}: ${r.servers} servers, ports ${r.ports}, ${r.providersRead} providers${r.hypervisors ? ', hypervisors' : ''}` : '',
        });
        process.stderr.write(`${step} / ${a.name}: ${fmt(rows.at(-1)!.measured)} in ${r1(ms / 1000)} s\n`);
      }
    };
    const size = () => ({ pageSize: opts.pageSize, hypervisors: hosts.length, servers, ports });

    await refreshAll('cold', (o) => coldCalls({ ...size(), ownedProviders: hosts.filter(o).length }));
    await refreshAll('first incremental', () => incrementalCalls({ pageSize: opts.pageSize, serverRecords: 0, deletedServers: 0, ports: { by: 'by-server' }, refused: true, providersRead: 0 }));

    // A few changes through the API, each on a host of its own.
    const net = (await admin.neutron.listNetworks({ name: 'bulk' }))[0];
    if (!net) throw new Error('no bulk network');
    const bootHosts = hosts.slice(0, opts.changes);
    const [delA, delB, migSrc, migDst] = hosts.slice(opts.changes, opts.changes + 4) as [string, string, string, string];
    const booted = await Promise.all(
      bootHosts.map(async (h, i) => (await admin.nova.createServer({ name: `bench-${i}`, imageRef: '', flavorRef: '1', availabilityZone: `nova:${h}`, networks: [{ uuid: net.id }] })).id),
    );
    const onHost = async (h: string): Promise<string> => {
      const [s] = await admin.nova.listServers({ allTenants: true, host: h, limit: 1 });
      if (!s) throw new Error(`no server on ${h}`);
      return s.id;
    };
    const deleted = [await onHost(delA), await onHost(delB)];
    for (const id of deleted) await admin.nova.deleteServer(id);
    const migrated = await onHost(migSrc);
    await admin.http.request({
      service: 'compute',
      method: 'POST',
      url: `${await admin.keystone.endpoint('compute')}/servers/${migrated}/action`,
      auth: admin.keystone,
      microversion: { service: 'compute', version: '2.30' },
      body: { 'os-migrateLive': { host: migDst, block_migration: 'auto' } },
      okStatus: [202],
    });
    const gone = async (id: string): Promise<boolean> =>
      admin.nova.getServer(id).then(
        () => false,
        (e: unknown) => {
          if (e instanceof OpenStackApiError && e.status === 404) return true;
          throw e;
        },
      );
    await until(async () => {
      const up = await Promise.all(booted.map(async (id) => (await admin.nova.getServer(id)).status === 'ACTIVE'));
      const m = await admin.nova.getServer(migrated);
      return up.every(Boolean) && (await Promise.all(deleted.map(gone))).every(Boolean) && m.host === migDst && m.status === 'ACTIVE';
    }, 'the changes to settle');
    servers += booted.length - deleted.length;
    ports += booted.length - deleted.length;
    // Past the margin: the refresh after this one does not see these changes again.
    await sleep(margin + 1500);
    const touched = [...bootHosts, delA, delB, migSrc, migDst];
    await refreshAll('few changes', (o) =>
      incrementalCalls({ pageSize: opts.pageSize, serverRecords: booted.length + deleted.length + 1, deletedServers: deleted.length, ports: { by: 'by-server' }, providersRead: touched.filter(o).length }),
    );
    const quiet = () => incrementalCalls({ pageSize: opts.pageSize, serverRecords: 0, deletedServers: 0, ports: { by: 'by-server' }, providersRead: 0 });
    await refreshAll('nothing changed', quiet);
    await refreshAll('full resync', () => fullResyncCalls({ ...size(), providersRead: 0 }));

    // ---------------------------------------------------------------- report
    const ok = rows.every(matches);
    const S = servers;
    console.log(
      `\nInventory refresh cost on a simulated cloud: H = ${opts.hosts} hosts, S ≈ P ≈ ${S} servers and ports, page L = ${opts.pageSize}, changes-since margin ${margin / 1000} s${opts.quick ? ' [--quick]' : ''}`,
    );
    console.log(`the replica owns O = ${ownedHosts} hosts; few changes = ${opts.changes} booted + 2 deleted + 1 live-migrated, on ${touched.length} hosts\n`);
    const head = ['step', 'agent', 'nova / neutron / placement', 'retried', 'formula', 'match', 'time', 'what was read'];
    const table = rows.map((r) => [r.step, r.agent, fmt(r.measured), fmt(r.retried), fmt(r.formula), matches(r) ? 'yes' : 'NO', `${r1(r.ms / 1000)} s`, r.read]);
    const widths = head.map((h, i) => Math.max(h.length, ...table.map((t) => (t[i] ?? '').length)));
    const line = (cells: string[]): string => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd();
    console.log(line(head));
    console.log(line(widths.map((w) => '-'.repeat(w))));
    for (const t of table) console.log(line(t));
    console.log('\nformula (src/agent/inventory/cost.ts):');
    for (const f of COST_FORMULA) console.log(`  ${f}`);
    const cold = rows.filter((r) => r.step === 'cold');
    const rep = cold.find((r) => r.agent.startsWith('replica'));
    if (rep) {
      const R = opts.replicas;
      console.log(
        `\n${R} replicas together, cold: nova ${R} × ${rep.measured.nova}, neutron ${R} × ${rep.measured.neutron} (every replica lists every server and port: neither API filters by a set of hosts),` +
          ` placement 2 × ${R} + 2 × ${opts.hosts} = ${2 * R + 2 * opts.hosts} (each provider read by its owner only)`,
      );
    }
    console.log(`\nall figures, less the failed attempts retried, equal the formula: ${ok ? 'yes' : 'NO'}; wall time ${r1((performance.now() - t0) / 1000)} s\n`);
    for (const r of rows) {
      console.log(JSON.stringify({ bench: 'inventory-calls', hosts: opts.hosts, servers_per_host: opts.serversPerHost, step: r.step, agent: r.agent, calls: r.measured, retried: r.retried, formula: r.formula, match: matches(r), ms: Math.round(r.ms) }));
    }
    if (!ok) process.exitCode = 1;
  } finally {
    for (const c of clients) await c.close();
    if (child) await stopSimChild(child);
  }
}

// Run as a script (by main above): serve the simulated cloud.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href && process.argv[2] === '--serve-sim') {
  await serveSim(Number(process.argv[3]), Number(process.argv[4]));
}
