/**
 * The package operators install: `npm pack` (which builds dist/), the tarball installed in
 * an empty directory without dev dependencies, then the installed bins on plain node:
 * `cm --version`, `cm-agent --sim` answering its API, and the systemd units verified
 * against the installed binaries with `systemd-analyze verify`.
 * In CI a missing systemd-analyze is a failure, not a skip.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { realOvsAvailable } from '../harness/ovsdb-server.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

// The project's binary gate: a skip reason locally, a failure in CI.
const systemd = realOvsAvailable(['systemd-analyze']);

function run(command: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  assert.equal(r.status, 0, `${command} ${args.join(' ')} exited with ${String(r.status)}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe('the installable package', () => {
  let work: string;
  let installed: string;
  let bin: string;

  before(() => {
    work = mkdtempSync(path.join(tmpdir(), 'cm-package-'));
    // prepack builds dist/ from a clean slate: the tarball must not depend on an earlier build.
    rmSync(path.join(ROOT, 'dist'), { recursive: true, force: true });
    run('npm', ['pack', '--pack-destination', work, '--silent'], ROOT);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');
    installed = path.join(work, 'install');
    run('mkdir', ['-p', installed], work);
    writeFileSync(path.join(installed, 'package.json'), '{ "name": "operator-host", "private": true }\n');
    // Dependencies come from the registry (or npm's cache): what an operator's npm would do.
    run('npm', ['install', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline', path.join(work, tarball)], installed);
    bin = path.join(installed, 'node_modules', '.bin');
  });

  after(() => {
    rmSync(work, { recursive: true, force: true });
    rmSync(path.join(ROOT, 'dist'), { recursive: true, force: true });
  });

  it('carries the compiled code and its run-time files, not the sources, tests or dev tools', () => {
    const pkg = path.join(installed, 'node_modules', 'connectivity-manager');
    assert.ok(existsSync(path.join(pkg, 'dist', 'agent', 'cli.js')));
    assert.ok(existsSync(path.join(pkg, 'dist', 'ovsdb', 'vswitch', 'vswitch-subset.ovsschema.json')));
    assert.ok(existsSync(path.join(pkg, 'dist', 'sim', 'scenarios', 'thesis.yaml')));
    assert.ok(existsSync(path.join(pkg, 'deploy', 'systemd', 'cm-agent.service')));
    assert.ok(!existsSync(path.join(pkg, 'src')), 'no TypeScript sources');
    assert.ok(!existsSync(path.join(pkg, 'test')), 'no tests');
    const testsInDist = readdirSync(path.join(pkg, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.includes('.test.'));
    assert.deepEqual(testsInDist, []);
    // The dashboard is built into the package: its page names assets that are there.
    const ui = path.join(pkg, 'dist', 'ui');
    const page = readFileSync(path.join(ui, 'index.html'), 'utf8');
    const assets = [...page.matchAll(/(?:src|href)="(app-[^"]+)"/g)].map((m) => m[1] ?? '');
    assert.equal(assets.length, 2, 'one script and one style sheet');
    for (const a of assets) assert.ok(existsSync(path.join(ui, a)), `${a} is in the package`);
    for (const dev of ['tsx', 'typescript', 'eslint', 'esbuild', 'uplot', 'playwright-core']) assert.ok(!existsSync(path.join(installed, 'node_modules', dev)), `${dev} is not installed`);
  });

  it('cm --version runs on plain node', () => {
    assert.equal(run(path.join(bin, 'cm'), ['--version'], installed).trim(), VERSION);
  });

  it('cm-agent --sim serves its API from the package', async () => {
    const child = spawn(path.join(bin, 'cm-agent'), ['--sim'], {
      cwd: installed,
      env: { ...process.env, CM_AGENT_LISTEN_PORT: '0', CM_AGENT_TOKENS: 'package-test-token-0123456789' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no agent_started within 60 s:\n${output}`));
        }, 60_000);
        const check = (): void => {
          const m = /"event":"agent_started","url":"([^"]+)"/.exec(output);
          if (m?.[1]) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        };
        child.stdout.on('data', check);
        child.on('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`cm-agent exited with ${String(code)}:\n${output}`));
        });
      });
      const hosts = await fetch(`${url}/hosts`, { headers: { authorization: 'Bearer package-test-token-0123456789' } });
      assert.equal(hosts.status, 200);
      // The thesis's answer: an object keyed by host name.
      const body = (await hosts.json()) as Record<string, { cpu_total?: number }>;
      assert.deepEqual(Object.keys(body).sort(), ['compute1', 'compute2'], 'the thesis testbed simulated from the package');
      assert.equal(body.compute1?.cpu_total, 8);
      assert.equal((await fetch(`${url}/docs/json`)).status, 200, 'OpenAPI from the package');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('close', resolve));
    }
  });

  it('cm demo from the package serves the dashboard (no build step, no dev dependency)', async () => {
    const child = spawn(path.join(bin, 'cm'), ['demo', '--json', '--ovsdb', 'in-process'], { cwd: installed, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      const urls = await new Promise<{ manager: string; dashboard: string }>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no summary within 90 s:\n${output}`));
        }, 90_000);
        child.stdout.on('data', (d: Buffer) => {
          output += d.toString();
          const line = output.split('\n').find((l) => l.startsWith('{') && l.includes('"urls"'));
          if (line !== undefined) {
            clearTimeout(timer);
            resolve((JSON.parse(line) as { urls: { manager: string; dashboard: string } }).urls);
          }
        });
        child.on('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`cm demo exited with ${String(code)}:\n${output}`));
        });
      });
      assert.match(urls.dashboard, /\/ui\/#token=/);
      const page = await fetch(`${urls.manager}/ui/`);
      assert.equal(page.status, 200);
      const html = await page.text();
      const script = /src="(app-[^"]+\.js)"/.exec(html)?.[1];
      assert.ok(script, 'the page names its script');
      const js = await fetch(`${urls.manager}/ui/${script}`, { headers: { 'accept-encoding': 'br' } });
      assert.equal(js.status, 200);
      assert.match(js.headers.get('content-type') ?? '', /javascript/);
      assert.equal(js.headers.get('content-encoding'), 'br', 'served compressed ahead of time');
      assert.match(js.headers.get('cache-control') ?? '', /immutable/);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('close', resolve));
    }
  });

  it('the systemd units verify against the installed binaries', { skip: systemd.skip }, () => {
    const units = path.join(work, 'units');
    run('mkdir', ['-p', units], work);
    for (const name of ['cm-agent', 'cm-manager']) {
      const text = readFileSync(path.join(ROOT, 'deploy', 'systemd', `${name}.service`), 'utf8');
      assert.match(text, new RegExp(`^ExecStart=/usr/bin/${name} --config /etc/cm/`, 'm'));
      // Where the operator's npm put the binary differs (prefix); everything else is verified as shipped.
      writeFileSync(path.join(units, `${name}.service`), text.replace(`/usr/bin/${name}`, path.join(bin, name)));
    }
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', path.join(units, 'cm-agent.service'), path.join(units, 'cm-manager.service')], { encoding: 'utf8' });
    const complaints = `${r.stdout}${r.stderr}`.trim();
    assert.equal(r.status, 0, complaints);
    // verify also loads the units ours name (network-online.target, …) and reports on whatever this
    // machine has installed beside them (here the test cloud's keystone.service): ours must say nothing.
    assert.deepEqual(complaints.split('\n').filter((l) => /cm-(agent|manager)/.test(l)), [], 'no warnings about our units');
    // And it would say something: the same unit with a value systemd cannot parse.
    writeFileSync(path.join(units, 'cm-agent.service'), readFileSync(path.join(units, 'cm-agent.service'), 'utf8').replace('ProtectSystem=strict', 'ProtectSystem=everything'));
    const broken = spawnSync('systemd-analyze', ['verify', '--man=no', path.join(units, 'cm-agent.service')], { encoding: 'utf8' });
    assert.match(`${broken.stdout}${broken.stderr}`, /cm-agent\.service:\d+: Failed to parse/);
    writeFileSync(path.join(units, 'cm-agent.service'), readFileSync(path.join(units, 'cm-agent.service'), 'utf8').replace('ProtectSystem=everything', 'ProtectSystem=strict'));
    for (const name of ['cm-agent', 'cm-manager']) {
      const security = spawnSync('systemd-analyze', ['security', '--offline=yes', '--threshold=40', path.join(units, `${name}.service`)], { encoding: 'utf8' });
      assert.equal(security.status, 0, `${name}: exposure above 4.0 of 10 (systemd's threshold counts tenths):\n${security.stdout}${security.stderr}`);
    }
  });
});
