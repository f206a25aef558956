/**
 * `cm testbed up` leaves a testbed running after the command exits: a
 * detached supervisor process holds it (ovsdb-servers, ovs-vswitchds, the
 * simulated cloud using it as hypervisor, a CM Agent) and records in a state
 * file what it made. `down` asks the supervisor to take it all down
 * (SIGUSR2), then checks for itself that nothing is left and removes what a
 * dead supervisor left behind: namespaces with the testbed's prefix, the
 * recorded OVS processes (only if they still are OVS processes), temp dirs.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAgentConfig } from '../agent/config.ts';
import { simAgentOptions, startAgent } from '../agent/main.ts';
import { run } from '../ovsdb/local-server.ts';
import { startSimCloud, type ScenarioObject } from '../sim/index.ts';
import { TestbedError } from './errors.ts';
import { startTestbedHosts, type OwnedResources } from './hosts.ts';
import { thesisCloud } from './scenarios/env.ts';

export interface TestbedState {
  version: 1;
  supervisorPid: number;
  prefix: string;
  nicRateBps: number | undefined;
  hosts: { name: string; netns: string; ovsdb: string; vswitchdLog: string }[];
  /** What existed when the testbed came up (VM namespaces come and go with servers). */
  owned: OwnedResources;
  sim: { authUrl: string; username: string; password: string; projectName: string; domain: string; region: string };
  agent: { url: string; token: string };
  log: string;
  startedAt: string;
}

export interface SupervisorArgs {
  stateDir: string;
  hosts: string[];
  nicRateBps: number | undefined;
  prefix: string;
}

/** /run/cm-testbed as root, else $XDG_RUNTIME_DIR/cm-testbed; CM_TESTBED_STATE_DIR overrides both. */
export function stateDir(): string {
  const override = process.env.CM_TESTBED_STATE_DIR;
  if (override) return override;
  if (process.getuid?.() === 0 && existsSync('/run')) return '/run/cm-testbed';
  const runtime = process.env.XDG_RUNTIME_DIR;
  return path.join(runtime && runtime !== '' ? runtime : '/tmp', 'cm-testbed');
}

const statePath = (dir: string): string => path.join(dir, 'state.json');
const reportPath = (dir: string): string => path.join(dir, 'down-report.json');

export function readState(dir = stateDir()): TestbedState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(dir), 'utf8')) as TestbedState;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The sim cloud for `up`: the thesis's two hosts, and more of compute2's size for N > 2. */
export function cloudForHosts(hosts: readonly string[]): ScenarioObject {
  const cloud = thesisCloud();
  const [big, small] = cloud.hosts;
  if (!big || !small) throw new TestbedError('CM_ERR_TESTBED_SETUP', 'the thesis scenario has fewer than two hosts');
  cloud.hosts = hosts.map((name, i) => ({ ...(i === 0 ? big : small), name }));
  return cloud;
}

// ---- the supervisor (runs detached) --------------------------------------------

export async function runSupervisor(args: SupervisorArgs): Promise<void> {
  const tell = (message: unknown): void => {
    if (process.send) process.send(message);
  };
  try {
    const ref: { sim?: Awaited<ReturnType<typeof startSimCloud>> } = {};
    const testbed = await startTestbedHosts({
      hosts: args.hosts,
      prefix: args.prefix,
      ...(args.nicRateBps === undefined ? {} : { nicRateBps: args.nicRateBps }),
      subnetPrefixLength: (subnetId) => {
        const net = ref.sim ? [...ref.sim.state.networks.values()].find((n) => n.subnetId === subnetId) : undefined;
        return net ? Number(net.cidr.split('/')[1]) : undefined;
      },
    });
    const sim = await startSimCloud({ scenario: cloudForHosts(args.hosts), hypervisor: testbed, bootDelayMs: 20 });
    ref.sim = sim;
    const token = randomBytes(16).toString('hex');
    const agent = await startAgent(
      parseAgentConfig(`listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${token}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: cm-testbed`, {}),
      simAgentOptions(sim, { log: false }),
    );
    const state: TestbedState = {
      version: 1,
      supervisorPid: process.pid,
      prefix: testbed.prefix,
      nicRateBps: args.nicRateBps,
      hosts: testbed.hosts().map((h) => ({ name: h.name, netns: h.netns, ovsdb: h.tcpEndpoint, vswitchdLog: h.vswitchdLog })),
      owned: await testbed.listOwned(),
      sim: {
        authUrl: sim.authUrl,
        username: sim.credentials.username,
        password: sim.credentials.password,
        projectName: sim.credentials.projectName,
        domain: sim.credentials.userDomainName,
        region: sim.credentials.regionName,
      },
      agent: { url: agent.url, token },
      log: path.join(args.stateDir, 'supervisor.log'),
      startedAt: new Date().toISOString(),
    };
    writeFileSync(statePath(args.stateDir), `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });

    let stopping = false;
    process.on('SIGUSR2', () => {
      if (stopping) return;
      stopping = true;
      void (async () => {
        const owned = await testbed.listOwned();
        const problems: string[] = [];
        for (const [what, stop] of [
          ['agent', () => agent.stop()],
          ['simulated cloud', () => sim.close()],
          ['testbed', () => testbed.close()],
        ] as const) {
          try {
            await stop();
          } catch (error) {
            problems.push(`${what}: ${(error as Error).message}`);
          }
        }
        writeFileSync(reportPath(args.stateDir), `${JSON.stringify({ removed: owned, problems })}\n`);
        process.exit(problems.length === 0 ? 0 : 1);
      })();
    });
    tell({ ready: true });
  } catch (error) {
    tell({ error: (error as Error).message });
    process.exitCode = 1;
  }
}

// ---- up / down / status (run by the CLI) -----------------------------------------

export interface UpOptions {
  hosts: number;
  nicRateBps: number | undefined;
  timeoutMs?: number;
}

const SUPERVISOR_MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'supervisor-main.ts');

export async function up(options: UpOptions): Promise<TestbedState> {
  const dir = stateDir();
  const existing = readState(dir);
  if (existing) {
    if (alive(existing.supervisorPid)) throw new TestbedError('CM_ERR_TESTBED_INVALID', `a testbed is already up (prefix ${existing.prefix}, supervisor pid ${String(existing.supervisorPid)}); run \`cm testbed down\` first`);
    throw new TestbedError('CM_ERR_TESTBED_INVALID', `a testbed's supervisor (pid ${String(existing.supervisorPid)}) is gone but its state is in ${dir}; run \`cm testbed down\` to clean up first`);
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  rmSync(reportPath(dir), { force: true });
  const args: SupervisorArgs = {
    stateDir: dir,
    hosts: Array.from({ length: options.hosts }, (_, i) => `compute${String(i + 1)}`),
    nicRateBps: options.nicRateBps,
    prefix: `u${randomBytes(3).toString('hex')}`,
  };
  const logPath = path.join(dir, 'supervisor.log');
  const log = openSync(logPath, 'w');
  // The supervisor runs TypeScript like every other entry point: through tsx's loader.
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), SUPERVISOR_MAIN, JSON.stringify(args)], {
    detached: true,
    stdio: ['ignore', log, log, 'ipc'],
    cwd: '/',
  });
  closeSync(log);
  const outcome = await new Promise<{ ready: true } | { error: string }>((resolve) => {
    const timer = setTimeout(() => {
      resolve({ error: `the supervisor did not report within ${String((options.timeoutMs ?? 90_000) / 1000)} s (log: ${logPath})` });
    }, options.timeoutMs ?? 90_000);
    child.once('message', (message: { ready?: boolean; error?: string }) => {
      clearTimeout(timer);
      resolve(message.ready === true ? { ready: true } : { error: message.error ?? 'unknown error' });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ error: `the supervisor exited (${String(code ?? signal)}); log: ${logPath}\n${readFileSync(logPath, 'utf8').slice(-2000)}` });
    });
  });
  if ('error' in outcome) {
    if (child.exitCode === null && child.pid !== undefined) child.kill('SIGTERM');
    if (child.connected) child.disconnect();
    child.unref();
    throw new TestbedError('CM_ERR_TESTBED_SETUP', `testbed up failed: ${outcome.error}`);
  }
  child.disconnect();
  child.unref();
  const state = readState(dir);
  if (!state) throw new TestbedError('CM_ERR_TESTBED_SETUP', `the supervisor reported ready but wrote no state in ${dir}`);
  return state;
}

async function namespacesWithPrefix(prefix: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(`cm-${prefix}-`));
}

function isOvsProcess(pid: number): boolean {
  try {
    const cmdline = readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8');
    return /ovsdb-server|ovs-vswitchd/.test(cmdline);
  } catch {
    return false;
  }
}

export interface StatusReport {
  state: TestbedState | undefined;
  supervisorAlive: boolean;
  namespaces: string[];
  processesAlive: number[];
}

export async function status(): Promise<StatusReport> {
  const state = readState();
  if (!state) return { state, supervisorAlive: false, namespaces: [], processesAlive: [] };
  return {
    state,
    supervisorAlive: alive(state.supervisorPid),
    namespaces: await namespacesWithPrefix(state.prefix),
    processesAlive: state.owned.processes.filter(alive),
  };
}

export interface DownReport {
  /** Nothing was up. */
  nothing: boolean;
  prefix: string | undefined;
  removedBySupervisor: OwnedResources | undefined;
  /** What `down` had to remove itself (the supervisor was gone or left these). */
  removedHere: string[];
  problems: string[];
  /** Whatever is still there after everything (empty = clean). */
  left: string[];
}

export async function down(options: { timeoutMs?: number } = {}): Promise<DownReport> {
  const dir = stateDir();
  const state = readState(dir);
  if (!state) return { nothing: true, prefix: undefined, removedBySupervisor: undefined, removedHere: [], problems: [], left: [] };
  const problems: string[] = [];
  const removedHere: string[] = [];
  let removedBySupervisor: OwnedResources | undefined;
  if (alive(state.supervisorPid)) {
    rmSync(reportPath(dir), { force: true });
    process.kill(state.supervisorPid, 'SIGUSR2');
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    while (alive(state.supervisorPid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (alive(state.supervisorPid)) {
      problems.push(`the supervisor (pid ${String(state.supervisorPid)}) did not stop in time; sent SIGTERM`);
      // Its exit hook removes namespaces, children and temp dirs synchronously.
      process.kill(state.supervisorPid, 'SIGTERM');
      await new Promise((r) => setTimeout(r, 3000));
    }
    try {
      const report = JSON.parse(readFileSync(reportPath(dir), 'utf8')) as { removed: OwnedResources; problems: string[] };
      removedBySupervisor = report.removed;
      problems.push(...report.problems);
    } catch {
      problems.push('the supervisor wrote no report of what it removed');
    }
  }
  // Whatever is still there, whoever made it last: namespaces of our prefix, our recorded OVS daemons, temp dirs.
  for (const ns of await namespacesWithPrefix(state.prefix)) {
    try {
      await run('ip', ['netns', 'delete', ns]);
      removedHere.push(`namespace ${ns}`);
    } catch (error) {
      problems.push(`deleting namespace ${ns}: ${(error as Error).message}`);
    }
  }
  for (const pid of state.owned.processes) {
    if (!alive(pid) || !isOvsProcess(pid)) continue;
    process.kill(pid, 'SIGTERM');
    removedHere.push(`process ${String(pid)}`);
  }
  if (removedHere.some((r) => r.startsWith('process'))) await new Promise((r) => setTimeout(r, 1000));
  for (const d of state.owned.dirs) {
    if (!existsSync(d)) continue;
    rmSync(d, { recursive: true, force: true });
    removedHere.push(`dir ${d}`);
  }
  const left = [
    ...(await namespacesWithPrefix(state.prefix)).map((n) => `namespace ${n}`),
    ...state.owned.processes.filter((p) => alive(p) && isOvsProcess(p)).map((p) => `process ${String(p)}`),
    ...(alive(state.supervisorPid) ? [`supervisor ${String(state.supervisorPid)}`] : []),
    ...state.owned.dirs.filter((d) => existsSync(d)).map((d) => `dir ${d}`),
  ];
  if (left.length === 0) {
    // The log only matters while something is wrong; a clean down leaves no trace of the testbed.
    for (const file of [statePath(dir), reportPath(dir), state.log]) rmSync(file, { force: true });
    try {
      rmdirSync(dir);
    } catch {
      // not empty (someone else's files) or already gone
    }
  }
  return { nothing: false, prefix: state.prefix, removedBySupervisor, removedHere, problems, left };
}
