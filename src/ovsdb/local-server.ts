/**
 * A real `ovsdb-server` in a fresh temporary directory, for tests, benchmarks
 * and the demo.
 *
 * The recipe is the usual one (ovsdbapp's functional tests do the same):
 * `ovsdb-tool create DB SCHEMA`, then `ovsdb-server DB` with a pidfile, a log
 * file, a unix socket and a TCP listener on 127.0.0.1 whose port the kernel
 * chooses (`ptcp:0:127.0.0.1`); the port is read back from the log line
 * "listening on port N". Restarts reuse the same database file, socket path
 * and TCP port, so a reconnecting client finds the server where it was.
 *
 * The server runs as a child process of the test (never `--detach`), so it
 * can be SIGKILLed and waited for; a process-exit hook kills whatever is still
 * running if the process crashes.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const DEFAULT_SCHEMA_PATH = '/usr/share/openvswitch/vswitch.ovsschema';

export interface OvsdbServerHandle {
  /** The temporary directory holding the database, socket, log and pidfile. */
  dir: string;
  /** `unix:DIR/db.sock`. */
  unixEndpoint: string;
  /** `tcp:127.0.0.1:PORT` with the port the kernel chose on the first start. */
  tcpEndpoint: string;
  dbPath: string;
  /** `DIR/ovsdb-server.log`. */
  logPath: string;
  /** The unixctl socket (`ovs-appctl -t CTL ...`). */
  ctlPath: string;
  /** Whether the database is a (one-server) cluster. */
  clustered: boolean;
  /** PID of the running server, undefined while it is not running. */
  readonly pid: number | undefined;
  /** Sends a signal to the running server (e.g. SIGSTOP/SIGCONT to freeze it). */
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL, wait until dead. */
  kill(): Promise<void>;
  /** Start again on the SAME db file, socket path and TCP port. */
  start(): Promise<void>;
  /** Stop and remove the temp dir (idempotent). */
  stop(): Promise<void>;
}

export interface StartOvsdbServerOptions {
  /** @default /usr/share/openvswitch/vswitch.ovsschema */
  schemaPath?: string;
  /** Run `ovs-vsctl --db=unix:... --no-wait init` (creates the Open_vSwitch row). */
  init?: boolean;
  /**
   * Create a one-server clustered database (`ovsdb-tool create-cluster`).
   * Clustered databases keep a transaction history, so `monitor_cond_since`
   * can answer `found: true`; standalone ones always answer with the all-zero
   * transaction id. Note that clusters turn ephemeral columns persistent.
   */
  clustered?: boolean;
  /** Milliseconds to wait for the server to come up. @default 15000 */
  startTimeoutMs?: number;
}

// ---- process bookkeeping: nothing may outlive the test process ----------------

const liveChildren = new Set<ChildProcess>();
const liveDirs = new Set<string>();
const exitCleanups = new Set<() => void>();
let exitHookInstalled = false;

function cleanupNow(): void {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const fn of exitCleanups) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', cleanupNow);
  // A signal (e.g. the test runner's timeout) skips 'exit': clean up, then die of the same signal.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      cleanupNow();
      process.kill(process.pid, signal);
    });
  }
}

/**
 * Registers a synchronous cleanup (e.g. deleting a network namespace with
 * spawnSync) to run if this process exits before the harness undid it.
 * Returns a function that unregisters it.
 */
export function onAbnormalExit(fn: () => void): () => void {
  installExitHook();
  exitCleanups.add(fn);
  return () => exitCleanups.delete(fn);
}

/** Registers a child process to be SIGKILLed if this process exits with it still running. */
export function trackChild(child: ChildProcess): void {
  installExitHook();
  liveChildren.add(child);
  child.once('exit', () => liveChildren.delete(child));
}

/** Registers a temporary directory to be removed if this process exits before the harness removed it. */
export function trackDir(dir: string): void {
  installExitHook();
  liveDirs.add(dir);
}

export function untrackDir(dir: string): void {
  liveDirs.delete(dir);
}

/** Creates a fresh temp dir with a short path (unix socket paths are limited to 107 bytes). */
export async function makeTempDir(prefix: string): Promise<string> {
  const base = os.tmpdir().length > 40 ? '/tmp' : os.tmpdir();
  const dir = await mkdtemp(path.join(base, prefix));
  trackDir(dir);
  return dir;
}

export function makeTempDirSync(prefix: string): string {
  const base = os.tmpdir().length > 40 ? '/tmp' : os.tmpdir();
  const dir = mkdtempSync(path.join(base, prefix));
  trackDir(dir);
  return dir;
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  untrackDir(dir);
}

/** Waits until the child has exited (immediately if it already has). */
export function waitForExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
}

/** SIGTERM (after SIGCONT, in case it is stopped), then SIGKILL after `graceMs`. */
export async function terminate(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = waitForExit(child);
  try {
    child.kill('SIGCONT');
    child.kill('SIGTERM');
  } catch {
    // raced with exit
  }
  const timer = setTimeout(() => {
    try {
      child.kill('SIGKILL');
    } catch {
      // raced with exit
    }
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; rejects with its stderr on a non-zero exit. */
export function run(
  command: string,
  args: readonly string[],
  options: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { timeout: options.timeoutMs ?? 20_000, env: options.env ?? process.env, maxBuffer: 16 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (error) {
          reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}${stderr ? `\n${stderr}` : ''}`));
        } else resolve({ stdout, stderr });
      },
    );
  });
}

// ---- binary discovery ---------------------------------------------------------

const EXTRA_PATHS = ['/usr/sbin', '/sbin', '/usr/local/sbin', '/usr/bin', '/bin', '/usr/local/bin'];

/** The absolute path of an executable on PATH (plus the sbin dirs), or undefined. */
export function findBinary(name: string): string | undefined {
  if (name.includes('/')) return isExecutable(name) ? name : undefined;
  const dirs = [...(process.env.PATH ?? '').split(':').filter(Boolean), ...EXTRA_PATHS];
  for (const dir of dirs) {
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

// ---- the server --------------------------------------------------------------

function ovsEnv(dir: string): NodeJS.ProcessEnv {
  // Keep every default path of the OVS tools inside the temp dir, so parallel
  // servers (and a system-wide OVS) never share a file.
  return { ...process.env, OVS_RUNDIR: dir, OVS_LOGDIR: dir, OVS_DBDIR: dir, OVS_SYSCONFDIR: dir };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function canConnect(target: { path: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(target);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      resolve(false);
    });
  });
}

async function readFrom(file: string, offset: number): Promise<string> {
  try {
    return (await readFile(file)).subarray(offset).toString('utf8');
  } catch {
    return '';
  }
}

function fileSize(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function schemaDbName(schemaPath: string): string {
  const json = JSON.parse(readFileSync(schemaPath, 'utf8')) as { name?: unknown };
  if (typeof json.name !== 'string') throw new Error(`${schemaPath}: schema has no name`);
  return json.name;
}

export async function startOvsdbServer(options: StartOvsdbServerOptions = {}): Promise<OvsdbServerHandle> {
  const schemaPath = options.schemaPath ?? DEFAULT_SCHEMA_PATH;
  const clustered = options.clustered ?? false;
  const startTimeoutMs = options.startTimeoutMs ?? 15_000;
  const server = findBinary('ovsdb-server');
  const tool = findBinary('ovsdb-tool');
  if (!server || !tool) throw new Error('ovsdb-server/ovsdb-tool not installed');
  const dbName = schemaDbName(schemaPath);

  const dir = await makeTempDir('cm-ovsdb-');
  const dbPath = path.join(dir, 'conf.db');
  const socketPath = path.join(dir, 'db.sock');
  const logPath = path.join(dir, 'ovsdb-server.log');
  const ctlPath = path.join(dir, 'ovsdb-server.ctl');
  const pidPath = path.join(dir, 'ovsdb-server.pid');
  const env = ovsEnv(dir);

  let child: ChildProcess | undefined;
  let port = 0;
  let stopped = false;
  let stderrTail = '';

  const launch = async (): Promise<void> => {
    if (stopped) throw new Error('ovsdb-server harness was stopped');
    if (child && child.exitCode === null && child.signalCode === null) throw new Error('ovsdb-server is already running');
    const logOffset = fileSize(logPath);
    stderrTail = '';
    const args = [
      dbPath,
      `--pidfile=${pidPath}`,
      `--log-file=${logPath}`,
      `--remote=punix:${socketPath}`,
      `--remote=ptcp:${String(port)}:127.0.0.1`,
      `--unixctl=${ctlPath}`,
      '-vconsole:off',
    ];
    const proc = spawn(server, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    trackChild(proc);
    child = proc;
    proc.stderr.setEncoding('utf8');
    proc.stderr.on('data', (text: string) => {
      stderrTail = (stderrTail + text).slice(-4000);
    });
    const spawnError = new Promise<never>((_resolve, reject) => {
      proc.once('error', reject);
    });
    spawnError.catch(() => undefined);
    const deadline = Date.now() + startTimeoutMs;
    for (;;) {
      if (proc.exitCode !== null || proc.signalCode !== null) {
        const log = await readFrom(logPath, logOffset);
        throw new Error(
          `ovsdb-server exited during startup (${String(proc.exitCode ?? proc.signalCode)}):\n${stderrTail}\n${log}`,
        );
      }
      const log = await readFrom(logPath, logOffset);
      // ovsdb-server logs "listening on port N" only when it chose the port.
      const match = port === 0 ? /listening on port ([0-9]+)/.exec(log) : null;
      const tcpReady = port === 0 ? match !== null : await canConnect({ host: '127.0.0.1', port });
      if (tcpReady && (await canConnect({ path: socketPath }))) {
        if (match) port = Number(match[1]);
        if (clustered) await waitForLeader(deadline);
        return;
      }
      if (Date.now() > deadline) {
        await terminate(proc, 500);
        throw new Error(`ovsdb-server did not come up within ${String(startTimeoutMs)} ms:\n${stderrTail}\n${log}`);
      }
      await Promise.race([sleep(25), spawnError]);
    }
  };

  const waitForLeader = async (deadline: number): Promise<void> => {
    const appctl = findBinary('ovs-appctl');
    if (!appctl) return;
    for (;;) {
      try {
        const { stdout } = await run(appctl, ['-t', ctlPath, 'cluster/status', dbName], { env, timeoutMs: 5000 });
        if (/Role: leader/.test(stdout)) return;
      } catch {
        // not ready yet
      }
      if (Date.now() > deadline) throw new Error('clustered ovsdb-server did not elect itself leader');
      await sleep(50);
    }
  };

  const kill = async (): Promise<void> => {
    const proc = child;
    if (!proc) return;
    if (proc.exitCode === null && proc.signalCode === null) {
      const exited = waitForExit(proc);
      proc.kill('SIGKILL');
      await exited;
    }
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child) await terminate(child);
    await removeTempDir(dir);
  };

  try {
    if (clustered) {
      await run(tool, ['create-cluster', dbPath, schemaPath, `unix:${path.join(dir, 'raft.sock')}`], { env });
    } else {
      await run(tool, ['create', dbPath, schemaPath], { env });
    }
    await launch();
    if (options.init) {
      const vsctl = findBinary('ovs-vsctl');
      if (!vsctl) throw new Error('ovs-vsctl not installed (needed for init)');
      await run(vsctl, [`--db=unix:${socketPath}`, '--no-wait', '--timeout=20', 'init'], { env });
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    dir,
    unixEndpoint: `unix:${socketPath}`,
    tcpEndpoint: `tcp:127.0.0.1:${String(port)}`,
    dbPath,
    logPath,
    ctlPath,
    clustered,
    get pid() {
      return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
    },
    signal(sig: NodeJS.Signals) {
      if (!child || child.exitCode !== null || child.signalCode !== null) throw new Error('ovsdb-server is not running');
      child.kill(sig);
    },
    kill,
    start: launch,
    stop,
  };
}
