/**
 * A private ovsdb-server starter for the benchmarks: a fresh Open_vSwitch
 * database in a temp dir, served on a unix socket, with its control socket,
 * pid file and log kept inside that dir. No ovs-vswitchd is started, so every
 * measurement is OVSDB alone (callers pass --no-wait to ovs-vsctl).
 *
 * Every server is stopped and its dir removed by `stop()`, and also when the
 * process exits or is interrupted, so a failed run leaves nothing behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program (no shell) and collects its output. */
export function run(command: string, args: readonly string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.once('error', reject);
    child.once('close', (code, signal) => {
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** Runs a program and fails unless it exits with status 0; returns its stdout. */
export async function runOk(command: string, args: readonly string[]): Promise<string> {
  const r = await run(command, args);
  if (r.code !== 0) {
    const shown = args.length > 8 ? [...args.slice(0, 8), `... (${args.length} args)`] : args;
    const status = r.code === null ? `signal ${String(r.signal)}` : `status ${r.code}`;
    throw new Error(`${command} ${shown.join(' ')} failed with ${status}: ${r.stderr.trim()}`);
  }
  return r.stdout;
}

const SCHEMA_CANDIDATES = [
  '/usr/share/openvswitch/vswitch.ovsschema',
  '/usr/local/share/openvswitch/vswitch.ovsschema',
];

/** The installed vswitch.ovsschema (or $OVS_SCHEMA). */
export function findVswitchSchema(): string {
  const fromEnv = process.env.OVS_SCHEMA;
  const candidates = fromEnv === undefined || fromEnv === '' ? SCHEMA_CANDIDATES : [fromEnv];
  const found = candidates.find((p) => existsSync(p));
  if (found === undefined) {
    throw new Error(`vswitch.ovsschema not found (looked at ${candidates.join(', ')}); is Open vSwitch installed?`);
  }
  return found;
}

export interface BenchOvsdbServer {
  readonly dir: string;
  readonly socketPath: string;
  /** `unix:<socket>`, for OvsdbClient and ovs-vsctl's --db. */
  readonly unixEndpoint: string;
  /** The ovsdb-server process id (to read its CPU time). */
  readonly pid: number;
  /** Runs `ovs-vsctl --db=<endpoint> --no-wait <args>`; fails on a non-zero status. */
  vsctl(args: readonly string[]): Promise<string>;
  /** Stops the server and removes its dir. Safe to call twice. */
  stop(): Promise<void>;
}

interface Live {
  child: ChildProcess | undefined;
  dir: string;
}

const live = new Set<Live>();
let hooksInstalled = false;

/** Last resort when the process ends without stop(): synchronous kill and removal. */
function cleanupAllSync(): void {
  for (const l of live) {
    if (l.child && l.child.exitCode === null && l.child.signalCode === null) l.child.kill('SIGKILL');
    rmSync(l.dir, { recursive: true, force: true });
  }
  live.clear();
}

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.once('exit', cleanupAllSync);
  for (const [signal, code] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    process.once(signal, () => {
      cleanupAllSync();
      process.exit(code);
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function canConnect(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ path: socketPath });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

export async function startBenchOvsdbServer(options: { startTimeoutMs?: number } = {}): Promise<BenchOvsdbServer> {
  installExitHooks();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cm-bench-ovsdb-'));
  const entry: Live = { child: undefined, dir };
  live.add(entry);
  const socketPath = path.join(dir, 'db.sock');
  const unixEndpoint = `unix:${socketPath}`;
  let stderrTail = '';

  const stop = async (): Promise<void> => {
    const child = entry.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => {
        child.once('exit', () => {
          resolve();
        });
      });
      child.kill('SIGTERM');
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
      }, 3000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
    live.delete(entry);
  };

  const vsctl = (args: readonly string[]): Promise<string> =>
    runOk('ovs-vsctl', [`--db=${unixEndpoint}`, '--no-wait', ...args]);

  try {
    const dbFile = path.join(dir, 'conf.db');
    await runOk('ovsdb-tool', ['create', dbFile, findVswitchSchema()]);
    const child = spawn(
      'ovsdb-server',
      [
        dbFile,
        `--pidfile=${path.join(dir, 'ovsdb-server.pid')}`,
        `--unixctl=${path.join(dir, 'ctl')}`,
        `--remote=punix:${socketPath}`,
        `--log-file=${path.join(dir, 'ovsdb-server.log')}`,
        '-vconsole:warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    entry.child = child;
    child.stderr.on('data', (chunk: Buffer) => {
      stderrTail = (stderrTail + chunk.toString('utf8')).slice(-4000);
    });
    const spawnFailed = new Promise<never>((_resolve, reject) => {
      child.once('error', reject);
    });
    spawnFailed.catch(() => undefined);
    const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`ovsdb-server exited during start-up: ${stderrTail.trim()}`);
      }
      if (existsSync(socketPath) && (await Promise.race([canConnect(socketPath), spawnFailed]))) break;
      if (Date.now() > deadline) throw new Error(`ovsdb-server did not listen on ${socketPath} in time: ${stderrTail.trim()}`);
      await sleep(20);
    }
    await vsctl(['init']);
  } catch (error) {
    await stop();
    throw error;
  }
  return { dir, socketPath, unixEndpoint, pid: entry.child.pid ?? 0, vsctl, stop };
}
