/**
 * Test harness: a throwaway PostgreSQL cluster (initdb + postgres) in a temp
 * dir, on a free TCP port on 127.0.0.1, with its unix socket in the temp dir
 * too, so it never touches a system cluster. Trust authentication: it only
 * listens on loopback and lives for one test file.
 *
 * PostgreSQL refuses to run as root. When the tests run as root (CI), initdb
 * and postgres run as the `postgres` system user through `setpriv` (which
 * execs, so the child we hold IS the postmaster and our signals reach it) or,
 * failing that, `runuser`; the temp dir is handed to that user first.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chownSync, existsSync, readdirSync, readFileSync, realpathSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import pg from 'pg';
import {
  findBinary,
  integrationRequired,
  makeTempDir,
  onAbnormalExit,
  removeTempDir,
  run,
  trackChild,
  waitForExit,
} from './ovsdb-server.ts';

export interface PostgresHandle {
  /** Superuser URL of the `postgres` database, e.g. postgres://cm@127.0.0.1:54321/postgres. */
  readonly url: string;
  readonly port: number;
  /** Directory holding the unix socket (`.s.PGSQL.<port>`). */
  readonly socketDir: string;
  readonly dataDir: string;
  /** Creates a fresh, empty database and returns its URL (isolates tests sharing one cluster). */
  createDatabase(name?: string): Promise<string>;
  /** Fast shutdown (SIGKILL after a grace period), then removes the temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartPostgresOptions {
  /** Milliseconds to wait for the server to accept connections. @default 30000 */
  startTimeoutMs?: number;
}

const SUPERUSER = 'cm';
const RUN_AS = 'postgres';

// ---- discovery and gating ------------------------------------------------------

/**
 * The directory with `initdb` and `postgres`: $CM_PG_BINDIR, else the newest
 * Debian /usr/lib/postgresql/<major>/bin, else wherever `initdb` on PATH
 * really lives (initdb needs postgres beside it anyway).
 */
export function findPostgresBinDir(): string | undefined {
  const hasBoth = (dir: string): boolean =>
    findBinary(path.join(dir, 'initdb')) !== undefined && findBinary(path.join(dir, 'postgres')) !== undefined;
  const fromEnv = process.env.CM_PG_BINDIR;
  if (fromEnv) return hasBoth(fromEnv) ? fromEnv : undefined;
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const majors = readdirSync(debianRoot)
      .filter((v) => /^\d+(\.\d+)?$/.test(v))
      .sort((a, b) => Number(b) - Number(a));
    for (const major of majors) {
      const dir = path.join(debianRoot, major, 'bin');
      if (hasBoth(dir)) return dir;
    }
  }
  const initdb = findBinary('initdb');
  if (initdb !== undefined) {
    const dir = path.dirname(realpathSync(initdb));
    if (hasBoth(dir)) return dir;
  }
  return undefined;
}

interface RunAs {
  uid: number;
  gid: number;
  /** Prefix that runs a command as that user. */
  wrap(command: string, args: readonly string[]): [string, string[]];
}

function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/** How to drop root for PostgreSQL, or why that is impossible. */
function resolveRunAs(): RunAs | string {
  const uid = spawnSync('id', ['-u', RUN_AS], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', RUN_AS], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return `running as root and there is no '${RUN_AS}' user to run PostgreSQL as`;
  const ids = { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
  const setpriv = findBinary('setpriv');
  if (setpriv !== undefined) {
    return {
      ...ids,
      wrap: (command, args) => [
        setpriv,
        [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', '--', command, ...args],
      ],
    };
  }
  const runuser = findBinary('runuser');
  if (runuser !== undefined) {
    return { ...ids, wrap: (command, args) => [runuser, ['-u', RUN_AS, '--', command, ...args]] };
  }
  return 'running as root and neither setpriv nor runuser is installed to drop privileges';
}

/** Why PostgreSQL cannot be started here, or undefined when it can. */
function unavailableReason(): string | undefined {
  if (findPostgresBinDir() === undefined) {
    return 'PostgreSQL server binaries (initdb, postgres) not found in $CM_PG_BINDIR, /usr/lib/postgresql/*/bin or PATH';
  }
  if (isRoot()) {
    const runAs = resolveRunAs();
    if (typeof runAs === 'string') return runAs;
  }
  return undefined;
}

/**
 * Integration gating, like realOvsAvailable: a skip reason when PostgreSQL
 * cannot be started locally; when CI=true or CM_REQUIRE_INTEGRATION=1 it
 * THROWS instead, so CI never silently skips the PostgreSQL tests.
 */
export function postgresAvailable(): { skip: false } | { skip: string } {
  const reason = unavailableReason();
  if (reason === undefined) return { skip: false };
  if (integrationRequired()) {
    throw new Error(
      `real PostgreSQL integration tests are required here (CI=${String(process.env.CI)}, ` +
        `CM_REQUIRE_INTEGRATION=${String(process.env.CM_REQUIRE_INTEGRATION)}) but ${reason}`,
    );
  }
  return { skip: reason };
}

// ---- the server ------------------------------------------------------------------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => {
        resolve(port);
      });
    });
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function childEnv(home: string): NodeJS.ProcessEnv {
  // Inherited PG* variables (PGDATA, PGPORT, …) would silently redirect initdb or postgres.
  const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PG')));
  // root's HOME is unreadable for the postgres user; the C locale avoids depending on installed locales.
  return { ...env, HOME: home, LC_ALL: 'C', LANG: 'C' };
}

/** The postmaster's pid from its pid file: under runuser the child we spawned is only the wrapper. */
function postmasterPid(dataDir: string): number | undefined {
  try {
    const pid = Number(readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function signalQuietly(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Starts a fresh cluster. Throws (after cleaning up) when it does not come up;
 * callers gate on `postgresAvailable()` first.
 */
export async function startPostgres(options: StartPostgresOptions = {}): Promise<PostgresHandle> {
  const binDir = findPostgresBinDir();
  if (binDir === undefined) throw new Error(unavailableReason() ?? 'PostgreSQL not found');
  let runAs: RunAs | undefined;
  if (isRoot()) {
    const resolved = resolveRunAs();
    if (typeof resolved === 'string') throw new Error(resolved);
    runAs = resolved;
  }
  const wrap = (command: string, args: readonly string[]): [string, string[]] =>
    runAs ? runAs.wrap(command, args) : [command, [...args]];

  const dir = await makeTempDir('cm-pg-');
  const dataDir = path.join(dir, 'data');
  const env = childEnv(dir);
  let child: ChildProcess | undefined;
  let stderrTail = '';
  let stopped = false;
  let unregister: (() => void) | undefined;

  const shutdown = async (): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const pid = postmasterPid(dataDir) ?? proc.pid;
      const exited = waitForExit(proc);
      // SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for clients (pools) to leave.
      signalQuietly(pid, 'SIGINT');
      const timer = setTimeout(() => {
        signalQuietly(pid, 'SIGKILL');
        signalQuietly(proc.pid, 'SIGKILL');
      }, 5000);
      await exited;
      clearTimeout(timer);
    }
    unregister?.();
    unregister = undefined;
  };

  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    try {
      await shutdown();
    } finally {
      await removeTempDir(dir);
    }
  };

  try {
    if (runAs) chownSync(dir, runAs.uid, runAs.gid);
    const [initCmd, initArgs] = wrap(path.join(binDir, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      SUPERUSER,
      '--auth=trust',
      '--encoding=UTF8',
      '--no-locale',
      '--no-sync',
    ]);
    await run(initCmd, initArgs, { env, timeoutMs: 120_000 });

    const timeoutMs = options.startTimeoutMs ?? 30_000;
    // A port found free can be taken before postgres binds it; try a few.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const [cmd, args] = wrap(path.join(binDir, 'postgres'), [
        '-D',
        dataDir,
        '-p',
        String(port),
        '-k',
        dir,
        '-c',
        'listen_addresses=127.0.0.1',
        // Durability is pointless for a throwaway cluster and costs seconds per test file.
        '-c',
        'fsync=off',
        '-c',
        'synchronous_commit=off',
        '-c',
        'full_page_writes=off',
      ]);
      stderrTail = '';
      const proc = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
      child = proc;
      trackChild(proc);
      unregister ??= onAbnormalExit(() => {
        signalQuietly(postmasterPid(dataDir), 'SIGKILL');
      });
      proc.stderr.setEncoding('utf8');
      proc.stderr.on('data', (chunk: string) => {
        stderrTail = (stderrTail + chunk).slice(-4000);
      });
      const ready = await waitReady(proc, port, timeoutMs);
      if (ready === true) {
        const url = `postgres://${SUPERUSER}@127.0.0.1:${port}/postgres`;
        let dbCounter = 0;
        return {
          url,
          port,
          socketDir: dir,
          dataDir,
          stop,
          async createDatabase(name?: string): Promise<string> {
            dbCounter += 1;
            const db = name ?? `cm_test_${process.pid}_${dbCounter}`;
            if (!/^[a-z_][a-z0-9_]*$/.test(db)) throw new Error(`unsafe database name ${JSON.stringify(db)}`);
            const client = new pg.Client({ connectionString: url });
            await client.connect();
            try {
              await client.query(`CREATE DATABASE ${db}`);
            } finally {
              await client.end();
            }
            return `postgres://${SUPERUSER}@127.0.0.1:${port}/${db}`;
          },
        };
      }
      await shutdown();
      const portTaken = /could not bind|address already in use/i.test(stderrTail);
      if (!portTaken || attempt >= 3) throw new Error(`postgres did not start: ${ready}\n${stderrTail}`);
    }
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** true once a query succeeds; otherwise why it gave up. */
async function waitReady(proc: ChildProcess, port: number, timeoutMs: number): Promise<true | string> {
  const deadline = Date.now() + timeoutMs;
  let lastError = '';
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      return `it exited (${String(proc.exitCode ?? proc.signalCode)})`;
    }
    const client = new pg.Client({ host: '127.0.0.1', port, user: SUPERUSER, database: 'postgres' });
    // A failed connect may still emit 'error' later; without a listener that is an uncaught exception.
    client.on('error', () => undefined);
    try {
      await client.connect();
      await client.query('SELECT 1');
      await client.end();
      return true;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
      await client.end().catch(() => undefined);
    }
    await sleep(100);
  }
  return `no connection within ${timeoutMs} ms (${lastError})`;
}
