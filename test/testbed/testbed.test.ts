/**
 * The testbed on its own: refusals, a start that fails half-way leaving
 * nothing, and two hosts with a shaped physical network whose VMs (plugged as
 * os-vif would) reach each other across hosts; after close() nothing is left.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { checkTestbedPrerequisites, startTestbedHosts, TestbedError, type TestbedHosts } from '../../src/testbed/index.ts';
import { integrationRequired, realOvsAvailable, run } from '../harness/ovsdb-server.ts';

const requirement = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vswitchd', 'ip', 'tc', 'ethtool']);
const notRoot = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';
if (notRoot && integrationRequired()) throw new Error('the testbed test needs root here (CI or CM_REQUIRE_INTEGRATION=1)');

const ECHO_SERVER = `
const net = require('node:net');
const server = net.createServer((s) => { s.on('data', (d) => { s.end('pong:' + d.toString()); server.close(); }); });
server.listen(5555, process.argv[1], () => { process.stdout.write('listening\\n'); });
setTimeout(() => process.exit(3), 15000).unref();
`;
const ECHO_CLIENT = `
const net = require('node:net');
const s = net.connect(5555, process.argv[1], () => s.write('ping'));
s.setEncoding('utf8');
let text = '';
s.on('data', (d) => { text += d; });
s.on('end', () => { process.stdout.write(text); });
s.on('error', (e) => { process.stderr.write(String(e)); process.exit(2); });
setTimeout(() => process.exit(4), 10000).unref();
`;

async function netnsWithPrefix(prefix: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(`cm-${prefix}-`));
}

const port = (n: number, mac: string, ip: string) => ({
  id: `${String(n).padStart(8, '0')}-1111-4222-8333-444455556666`,
  macAddress: mac,
  fixedIps: [{ subnet_id: 'subnet-a', ip_address: ip }],
});

describe('testbed refusals', () => {
  it('refuses to start when not root, saying why', (t) => {
    t.mock.method(process as { getuid: () => number }, 'getuid', () => 1000);
    assert.throws(checkTestbedPrerequisites, (e: unknown) => e instanceof TestbedError && e.code === 'CM_ERR_TESTBED_NEEDS_ROOT' && /needs root \(network namespaces\)/.test(e.message));
  });

  it('rejects bad options before creating anything', { skip: requirement.skip || notRoot }, async () => {
    for (const options of [{ hosts: [] }, { hosts: ['a', 'a'] }, { hosts: ['a b'] }, { hosts: ['a'], prefix: 'Bad!' }, { hosts: ['a'], nicRateBps: 1.5 }]) {
      await assert.rejects(startTestbedHosts({ prefix: 'tbbad', ...options }), (e: unknown) => e instanceof TestbedError && e.code === 'CM_ERR_TESTBED_INVALID');
    }
    assert.deepEqual(await netnsWithPrefix('tbbad'), []);
  });
});

describe('testbed on real ovs-vswitchd', { skip: requirement.skip || notRoot }, () => {
  it('a start that fails half-way removes what it made', async () => {
    // A zero deadline for ovs-vswitchd's first configuration fails the start after the namespace and daemons exist.
    const prefix = `tbf${String(process.pid % 100000)}`;
    await assert.rejects(startTestbedHosts({ hosts: ['h1', 'h2'], prefix, applyTimeoutMs: 0 }), (e: unknown) => e instanceof TestbedError && e.code === 'CM_ERR_TESTBED_SETUP');
    assert.deepEqual(await netnsWithPrefix(prefix), []);
  });

  it('a process killed with SIGTERM takes its testbed with it', async () => {
    const prefix = `tbk${String(process.pid % 100000)}`;
    const entry = path.resolve(import.meta.dirname, '../../src/testbed/index.ts');
    const script = `
      const { startTestbedHosts } = await import(${JSON.stringify(entry)});
      const testbed = await startTestbedHosts({ hosts: ['h1'], prefix: ${JSON.stringify(prefix)} });
      process.stdout.write(JSON.stringify(await testbed.listOwned()) + '\\n');
      setInterval(() => undefined, 1000);
    `;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => {
      resolve();
    }));
    try {
      const owned = await new Promise<{ namespaces: string[]; processes: number[] }>((resolve, reject) => {
        let text = '';
        child.stdout.setEncoding('utf8');
        child.stdout.on('data', (chunk: string) => {
          text += chunk;
          if (text.includes('\n')) resolve(JSON.parse(text) as { namespaces: string[]; processes: number[] });
        });
        child.once('exit', (code) => {
          reject(new Error(`the child exited early (${String(code)})`));
        });
      });
      assert.deepEqual(owned.namespaces, [`cm-${prefix}-h1`]);
      assert.equal(owned.processes.length, 2, 'ovsdb-server and ovs-vswitchd');
      child.kill('SIGTERM');
      await exited;
      assert.deepEqual(await netnsWithPrefix(prefix), []);
      // SIGKILL from the dying parent lands a moment later; the orphans are then reaped by init.
      const deadline = Date.now() + 5000;
      const alive = (): number[] =>
        owned.processes.filter((pid) => {
          try {
            process.kill(pid, 0);
            return true;
          } catch {
            return false;
          }
        });
      while (alive().length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(alive(), [], 'ovsdb-server and ovs-vswitchd are gone');
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
  });

  it('plugs VMs on two hosts joined by a shaped network; close() leaves nothing', async () => {
    const testbed: TestbedHosts = await startTestbedHosts({ hosts: ['h1', 'h2'], nicRateBps: 50_000_000, subnetPrefixLength: () => 24 });
    try {
      const h1 = testbed.host('h1');
      assert.equal(h1.netns, `cm-${testbed.prefix}-h1`);
      assert.match(testbed.ovsdbEndpoint('h1'), /^tcp:127\.0\.0\.1:\d+$/);
      assert.notEqual(testbed.ovsdbEndpoint('h1'), testbed.ovsdbEndpoint('h2'));
      const qdisc = await testbed.exec({ host: 'h1' }, 'tc', 'qdisc', 'show', 'dev', 'nic0');
      assert.match(qdisc, /tbf .*rate 50Mbit/);

      const a = port(1, 'fa:16:3e:00:00:01', '10.9.0.10');
      const b = port(2, 'fa:16:3e:00:00:02', '10.9.0.11');
      const b2 = port(3, 'fa:16:3e:00:00:03', '10.9.0.12');
      await testbed.plug('h1', { id: 'server-a' }, a);
      await testbed.plug('h2', { id: 'server-b' }, b);
      await testbed.plug('h2', { id: 'server-b' }, b2);
      const vmB = testbed.vm('server-b');
      assert.deepEqual([...(vmB?.nics.values() ?? [])].map((n) => n.vmDevice).sort(), ['eth0', 'eth1'], 'one namespace, two NICs');
      const ports = await testbed.exec({ host: 'h2' }, 'ip', '-o', 'link', 'show');
      assert.match(ports, /qvo00000002-11/);
      assert.match(ports, /qvo00000003-11/);

      // VM → VM across hosts through br-int, br-phys, the NICs and the switch namespace.
      const vmBNetns = vmB?.netns ?? '';
      const server = spawn('ip', ['netns', 'exec', vmBNetns, process.execPath, '-e', ECHO_SERVER, '10.9.0.11'], { stdio: ['ignore', 'pipe', 'pipe'] });
      try {
        await new Promise<void>((resolve, reject) => {
          server.stdout.once('data', () => {
            resolve();
          });
          server.once('exit', (code) => {
            reject(new Error(`echo server exited ${String(code)}`));
          });
        });
        const reply = await testbed.exec({ serverId: 'server-a' }, process.execPath, '-e', ECHO_CLIENT, '10.9.0.11');
        assert.equal(reply, 'pong:ping');
      } finally {
        server.kill();
      }

      await testbed.unplug('h2', { id: 'server-b' }, b);
      assert.ok(testbed.vm('server-b'), 'the VM keeps its namespace while a NIC is left');
      await testbed.unplug('h2', { id: 'server-b' }, b2);
      assert.equal(testbed.vm('server-b'), undefined);
      assert.ok(!(await netnsWithPrefix(testbed.prefix)).includes(vmBNetns));
      assert.doesNotMatch(await testbed.exec({ host: 'h2' }, 'ip', '-o', 'link', 'show'), /qvo0000000[23]/);
    } finally {
      await testbed.close();
    }
    assert.deepEqual(await testbed.listOwned(), { namespaces: [], processes: [], dirs: [] });
    await assert.rejects(testbed.plug('h1', { id: 'x' }, port(9, 'fa:16:3e:00:00:09', '10.9.0.20')), (e: unknown) => e instanceof TestbedError && e.code === 'CM_ERR_TESTBED_CLOSED');
  });
});
