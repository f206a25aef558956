/**
 * The README's run command (`npm run demo`): the thesis topology deployed on
 * the embedded simulated cloud by the manager and the agent, checked from the
 * summary the demo prints with `--once --json` — which it reads back from the
 * switches' OVSDB, not from the manager's own record.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { DemoSummary } from '../src/cli/demo.ts';
import { findBinary } from '../src/ovsdb/local-server.ts';

const root = path.resolve(import.meta.dirname, '..');

describe('npm run demo -- --once --json', () => {
  it('deploys the thesis topology: 5 servers ACTIVE on one host, 3 Gold and 2 Wholesale SLAs in OVSDB', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--once', '--json'], { cwd: root, timeout: 120_000 });
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'with --json the summary is the only output on stdout');
    const s = JSON.parse(lines[0] ?? '') as DemoSummary;
    assert.equal(s.ovsdb, findBinary('ovsdb-server') && findBinary('ovsdb-tool') ? 'ovsdb-server' : 'in-process');
    assert.equal(s.state, 'ACTIVE');
    assert.equal(s.servers_active, 5);
    assert.deepEqual(s.hosts_used, ['compute1']);
    assert.ok(s.placement.every((p) => p.host === 'compute1' && p.server_id !== null));
    assert.equal(s.gold, 3);
    assert.equal(s.wholesale, 2);
    assert.equal(s.sla_on_switches.length, 5);
    for (const sla of s.sla_on_switches) {
      assert.equal(sla.host, 'compute1');
      assert.equal(sla.min_bps, 100_000_000);
      assert.equal(sla.max_bps, sla.class === 'Gold' ? 10_000_000_000 : 1_000_000_000);
      assert.equal(sla.unit.startsWith('MediaServer-'), sla.class === 'Gold');
    }
    assert.equal(s.urls, undefined, 'with --once the summary names no running services (and execFile returning means the process exited)');
  });

  it('runs on the in-process OVSDB server when asked (what a laptop without Open vSwitch gets)', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--once', '--json', '--ovsdb', 'in-process'], { cwd: root, timeout: 120_000 });
    const s = JSON.parse(stdout.trim()) as DemoSummary;
    assert.equal(s.ovsdb, 'in-process');
    assert.equal(s.servers_active, 5);
    assert.deepEqual([s.gold, s.wholesale], [3, 2]);
  });

  it('refuses an unknown option with exit code 2', async () => {
    await assert.rejects(promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--bogus'], { cwd: root, timeout: 60_000 }), (e: { code?: number; stderr?: string }) => {
      assert.equal(e.code, 2);
      assert.match(e.stderr ?? '', /unknown option --bogus/);
      return true;
    });
  });
});
