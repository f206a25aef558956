/**
 * The `cm-agent` command as a user runs it: the package's bin, a config file
 * with a `sim:` section, HTTP on a real port, SIGTERM → exit 0; bad input →
 * exit 2 with the fields named.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { freePort } from '../harness/net.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'cm-agent.mjs');
const TOKEN = 'sim-demo-token-0123456789';


describe('cm-agent command', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cm-agent-cli-'));
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts against the simulated cloud from examples/agent.sim.yaml, serves /hosts, stops on SIGTERM', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, '--config', path.join(ROOT, 'examples', 'agent.sim.yaml')], {
      env: { ...process.env, CM_AGENT_LISTEN_PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
    try {
      const base = `http://127.0.0.1:${String(port)}`;
      const deadline = Date.now() + 30_000;
      let ready = false;
      while (!ready && Date.now() < deadline) {
        ready = await fetch(`${base}/readyz`).then((r) => r.ok, () => false);
        if (!ready) await new Promise((r) => setTimeout(r, 200));
      }
      assert.ok(ready, `ready within 30 s\n${stderr}`);
      assert.equal((await fetch(`${base}/hosts`)).status, 401, 'the API needs the token');
      const hosts = (await (await fetch(`${base}/hosts`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as Record<string, { cpu_total: number }>;
      assert.deepEqual(Object.keys(hosts).sort(), ['compute1', 'compute2']);
      assert.equal(hosts.compute1?.cpu_total, 8);
      assert.match(stderr, /simulated cloud at http:\/\/127\.0\.0\.1:\d+\/identity\/v3/);
      const started = stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { event?: string; url?: string }).find((e) => e.event === 'agent_started');
      assert.equal(started?.url, base);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('exits 2 naming every bad field, and on an unknown option', () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'listen: { port: 99999 }\nsim: { ovsdb: kernel }\nbogus: 1\n');
    const r = spawnSync(process.execPath, [BIN, '--config', bad], { encoding: 'utf8', env: { ...process.env, CM_AGENT_TOKENS: '' } });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /bogus: unknown field/);
    assert.match(r.stderr, /listen\.port: must be an integer from 0 to 65535/);
    assert.match(r.stderr, /sim\.ovsdb: must be "in-process" or "real"/);
    const u = spawnSync(process.execPath, [BIN, '--confg', bad], { encoding: 'utf8' });
    assert.equal(u.status, 2);
    assert.match(u.stderr, /--confg: unknown option/);
    const h = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' });
    assert.equal(h.status, 0);
    assert.match(h.stdout, /usage: cm-agent/);
  });
});
