#!/usr/bin/env node
// The real-cloud stage: brings up the minimal Debian Zed OpenStack of ../shared/openstack
// (idempotent), hands its admin credentials to test/openstack-real/*.test.ts as OS_*
// variables, and prints a timing table. The cloud is left running for the next run
// unless --down is given.
//
// Around the test files runs the leftover check (test/openstack-real/leftover-check.ts):
// before the first file it notes what of ours is already on the hosts' switches and in the
// cloud (and deletes an earlier run's orphaned QoS/Queue rows); after the last file, always,
// whichever files ran or failed, it fails the stage when anything new of ours is left (rows
// tagged cm-owner / cm-policing-owner, flows and meters of ours, servers, stacks, flavors).
//
//   node scripts/test-openstack.mjs [--down] [--no-up] [FILTER...]
//
// Environment: CM_OPENSTACK_DIR (the folder holding up.sh; default ../shared/openstack),
// OSR_DIR (the cloud's state folder, as up.sh reads it; default /var/lib/openstack-real).
import { spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const known = new Set(['--down', '--no-up']);
const unknown = args.filter((a) => a.startsWith('--') && !known.has(a));
if (unknown.length > 0) {
  console.error(`test-openstack: unknown option(s) ${unknown.join(', ')} (known: ${[...known].join(', ')})`);
  process.exit(2);
}
const down = args.includes('--down');
const noUp = args.includes('--no-up');
const filters = args.filter((a) => !a.startsWith('--'));
const shared = path.resolve(process.env.CM_OPENSTACK_DIR ?? path.join(root, '..', 'shared', 'openstack'));
const osrDir = process.env.OSR_DIR ?? '/var/lib/openstack-real';
const timings = [];
const t0 = Date.now();

function fail(message, tail = '') {
  console.error(`\ntest-openstack: ${message}`);
  if (tail) console.error(tail);
  printTimings();
  process.exit(1);
}

function printTimings() {
  const rows = [...timings, { step: 'total', ms: Date.now() - t0, note: '' }];
  const w = Math.max(...rows.map((r) => r.step.length));
  console.log('\n== real OpenStack stage: timings ==');
  for (const r of rows) console.log(`${r.step.padEnd(w)}  ${(r.ms / 1000).toFixed(1).padStart(7)} s  ${r.note ?? ''}`);
}

function tailOf(file, lines = 30) {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return undefined;
  }
}

/** The last lines of every log of the cloud written in this run, newest first (what failed is usually there). */
function cloudLogTails(since) {
  const dir = path.join(osrDir, 'log');
  if (!existsSync(dir)) return `(no ${dir})`;
  const logs = readdirSync(dir)
    .map((f) => path.join(dir, f))
    .map((f) => ({ f, m: statMs(f) }))
    .filter((x) => x.m >= since)
    .sort((a, b) => b.m - a.m)
    .slice(0, 3);
  return logs.map(({ f }) => `--- ${f} (last lines) ---\n${tailOf(f, 20) ?? ''}`).join('\n');
}

function statMs(f) {
  try {
    return statSync(f).mtimeMs;
  } catch {
    return 0;
  }
}

/** Runs a command with its output shown and kept, resolving with the exit code and the last lines. */
function runShown(cmd, argv, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    const kept = [];
    const keep = (chunk, out) => {
      out.write(chunk);
      kept.push(...chunk.toString('utf8').split('\n'));
      if (kept.length > 400) kept.splice(0, kept.length - 400);
    };
    child.stdout.on('data', (c) => keep(c, process.stdout));
    child.stderr.on('data', (c) => keep(c, process.stderr));
    child.on('error', (error) => resolve({ code: 127, tail: String(error.message) }));
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), tail: kept.slice(-40).join('\n') }));
  });
}

/** The cloud's scripts need root: run them directly as root, through sudo otherwise. */
function asRoot(script) {
  if (process.getuid?.() === 0) return [script, []];
  if (spawnSync('sudo', ['-n', 'true']).status === 0) return ['sudo', ['-n', '--preserve-env=OSR_DIR,OSR_KS_PORT,OSR_C1_SIZE,OSR_C2_SIZE', script]];
  fail(`${script} needs root: run as root or with password-less sudo`);
  return [script, []];
}

/** `export A=1 B=2` lines of admin-openrc → { A: '1', B: '2' } (values there never contain spaces). */
export function parseOpenrc(text) {
  const env = {};
  for (const line of text.split('\n')) {
    const m = /^\s*export\s+(.*)$/.exec(line);
    if (!m) continue;
    for (const pair of m[1].trim().split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1).replace(/^(['"])(.*)\1$/, '$2');
    }
  }
  return env;
}

async function main() {
  const files = readdirSync(path.join(root, 'test', 'openstack-real'))
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => path.join('test', 'openstack-real', f))
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
    .sort();
  if (files.length === 0) fail(`no test files in test/openstack-real${filters.length ? ` matching ${filters.join(', ')}` : ''}`);

  if (!noUp) {
    const up = path.join(shared, 'up.sh');
    if (!existsSync(up)) fail(`the cloud's bring-up script ${up} does not exist (set CM_OPENSTACK_DIR to the folder holding up.sh)`);
    console.log(`== bringing the real OpenStack up: ${up}`);
    const started = Date.now();
    const [cmd, pre] = asRoot(up);
    const r = await runShown(cmd, pre.length ? [...pre] : []);
    timings.push({ step: 'up.sh', ms: Date.now() - started, note: existsSync(path.join(osrDir, 'log', 'apt.log')) && statMs(path.join(osrDir, 'log', 'apt.log')) >= started ? '(installed packages)' : '' });
    if (r.code !== 0) fail(`${up} failed with exit code ${String(r.code)}; its last output:`, `${r.tail}\n${cloudLogTails(started - 1000)}`);
  }

  const openrc = path.join(osrDir, 'admin-openrc');
  if (!existsSync(openrc)) fail(`${openrc} does not exist: the cloud was never brought up (drop --no-up)`);
  const cloudEnv = parseOpenrc(readFileSync(openrc, 'utf8'));
  if (!cloudEnv.OS_AUTH_URL) fail(`${openrc} has no OS_AUTH_URL`);

  // Each test appends {"what","ms"} lines here; they are printed, never asserted.
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'cm-real-'));
  const measured = path.join(tmp, 'timings.jsonl');
  appendFileSync(measured, '');
  const env = {
    ...process.env,
    // Variables of another cloud must not leak into the clients' configuration.
    ...Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('OS_')).map((k) => [k, undefined])),
    ...cloudEnv,
    CM_REAL_OPENSTACK: '1',
    CM_REQUIRE_INTEGRATION: '1',
    CM_REAL_OSR_DIR: osrDir,
    CM_REAL_TIMINGS_FILE: measured,
  };
  const leftoverCheck = (mode) => runShown(process.execPath, ['--import', 'tsx', path.join('test', 'openstack-real', 'leftover-check.ts'), mode, path.join(tmp, 'leftovers-before.json')], { cwd: root, env });
  let failed = 0;
  let leftovers;
  try {
    console.log('\n== leftover check: before the stage');
    const baselineStarted = Date.now();
    const b = await leftoverCheck('baseline');
    timings.push({ step: 'leftover check (before)', ms: Date.now() - baselineStarted, note: b.code === 0 ? '' : 'FAIL' });
    if (b.code !== 0) {
      rmSync(tmp, { recursive: true, force: true });
      fail('could not list what of ours is on the hosts and in the cloud before the stage (is the cloud up?)');
    }
    for (const file of files) {
      console.log(`\n== ${file}`);
      const started = Date.now();
      const r = await runShown(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', '--test-timeout=600000', file], { cwd: root, env });
      timings.push({ step: file, ms: Date.now() - started, note: r.code === 0 ? 'pass' : 'FAIL' });
      if (r.code !== 0) failed++;
    }
    // Last, and always: every test must have removed what it made (issue 16).
    console.log('\n== leftover check: after the stage');
    const checkStarted = Date.now();
    const c = await leftoverCheck('check');
    timings.push({ step: 'leftover check (after)', ms: Date.now() - checkStarted, note: c.code === 0 ? 'pass' : 'FAIL' });
    leftovers = c.code !== 0;
    for (const line of readFileSync(measured, 'utf8').split('\n').filter(Boolean)) {
      const m = JSON.parse(line);
      timings.push({ step: `  measured: ${m.what}`, ms: m.ms, note: m.note ?? '' });
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }

  if (down) {
    const started = Date.now();
    const [cmd, pre] = asRoot(path.join(shared, 'down.sh'));
    const r = await runShown(cmd, pre);
    timings.push({ step: 'down.sh', ms: Date.now() - started, note: r.code === 0 ? '' : `exit ${String(r.code)}` });
  }
  printTimings();
  if (failed > 0 || leftovers) {
    const what = [failed > 0 ? `${String(failed)} of ${String(files.length)} file(s) failed` : '', leftovers ? 'the stage left things of ours behind (leftover check, above)' : ''];
    console.error(`\ntest-openstack: ${what.filter(Boolean).join('; ')}`);
    process.exit(1);
  }
}

await main();
