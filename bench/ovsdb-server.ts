/**
 * The benchmarks' ovsdb-server: a fresh Open_vSwitch database from
 * src/ovsdb/local-server.ts, with no ovs-vswitchd, so every measurement is
 * OVSDB alone (callers pass --no-wait to ovs-vsctl).
 */
import { spawn } from 'node:child_process';
import { startOvsdbServer } from '../src/ovsdb/local-server.ts';

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

export interface BenchOvsdbServer {
  readonly dir: string;
  /** `unix:<socket>`, for OvsdbClient and ovs-vsctl's --db. */
  readonly unixEndpoint: string;
  /** The ovsdb-server process id (to read its CPU time). */
  readonly pid: number;
  /** Runs `ovs-vsctl --db=<endpoint> --no-wait <args>`; fails on a non-zero status. */
  vsctl(args: readonly string[]): Promise<string>;
  /** Stops the server and removes its dir. Safe to call twice. */
  stop(): Promise<void>;
}

export async function startBenchOvsdbServer(): Promise<BenchOvsdbServer> {
  const server = await startOvsdbServer({ init: true });
  return {
    dir: server.dir,
    unixEndpoint: server.unixEndpoint,
    pid: server.pid ?? 0,
    vsctl: (args) => runOk('ovs-vsctl', [`--db=${server.unixEndpoint}`, '--no-wait', ...args]),
    stop: () => server.stop(),
  };
}
