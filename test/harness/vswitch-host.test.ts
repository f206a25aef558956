/**
 * The vswitch-host harness: tc output parsing (unit), and a real simulated
 * host (root, network namespace, ovs-vswitchd with the userspace datapath).
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { integrationRequired, realOvsAvailable, run } from './ovsdb-server.ts';
import {
  defaultPeerName,
  parsePoliceText,
  parseTcClassJson,
  parseTcClassText,
  parseTcRate,
  parseTcSize,
  startVswitchHost,
  type VswitchHost,
} from './vswitch-host.ts';

describe('tc output parsing', () => {
  it('parses rates into bit/s and sizes into bytes', () => {
    assert.equal(parseTcRate('10Mbit'), 10_000_000);
    assert.equal(parseTcRate('12Kbit'), 12_000);
    assert.equal(parseTcRate('1500bit'), 1500);
    assert.equal(parseTcRate('34359Mbit'), 34_359_000_000);
    assert.equal(parseTcRate('1Gbit'), 1e9);
    assert.equal(parseTcRate('1Gibit'), 2 ** 30);
    assert.equal(parseTcRate('125Kbps'), 1_000_000);
    assert.throws(() => parseTcRate('fast'));
    assert.equal(parseTcSize('1563b'), 1563);
    assert.equal(parseTcSize('250Kb'), 256_000);
    assert.equal(parseTcSize('1Mb'), 1_048_576);
    assert.equal(parseTcSize('64Kb'), 65_536);
  });

  it('parses the text of tc class show (iproute2 6.1)', () => {
    const text = [
      'class htb 1:1 parent 1:fffe prio 0 rate 10Mbit ceil 100Mbit burst 1563b cburst 1562b ',
      'class htb 1:fffe root rate 200Mbit ceil 200Mbit burst 1475b cburst 1475b ',
      'class htb 1:2 parent 1:fffe prio 0 rate 50Mbit ceil 150Mbit burst 1562b cburst 1556b ',
      '',
    ].join('\n');
    assert.deepEqual(parseTcClassText(text), [
      { kind: 'htb', classid: '1:1', parent: '1:fffe', rate: 10e6, ceil: 100e6, burst: 1563, prio: 0 },
      { kind: 'htb', classid: '1:fffe', parent: 'root', rate: 200e6, ceil: 200e6, burst: 1475 },
      { kind: 'htb', classid: '1:2', parent: '1:fffe', rate: 50e6, ceil: 150e6, burst: 1562, prio: 0 },
    ]);
    assert.deepEqual(parseTcClassText(''), []);
  });

  it('parses JSON class output (bytes/s) and refuses JSON of another shape', () => {
    const json = JSON.stringify([
      { class: 'htb', handle: '1:fffe', root: true, rate: 25_000_000, ceil: 25_000_000, burst: 1475 },
      { class: 'htb', handle: '1:1', parent: '1:fffe', prio: 0, rate: 1_250_000, ceil: 12_500_000 },
    ]);
    assert.deepEqual(parseTcClassJson(json), [
      { kind: 'htb', classid: '1:fffe', parent: 'root', rate: 200e6, ceil: 200e6, burst: 1475 },
      { kind: 'htb', classid: '1:1', parent: '1:fffe', rate: 10e6, ceil: 100e6, prio: 0 },
    ]);
    assert.deepEqual(parseTcClassJson('[]'), []);
    assert.equal(parseTcClassJson('class htb 1:1 root rate 1Mbit'), undefined);
    assert.equal(parseTcClassJson('[{"handle":"1:1"}]'), undefined);
  });

  it('parses a policer from tc filter show (basic and matchall classifiers)', () => {
    const basic = [
      'filter parent ffff: protocol all pref 49 basic chain 0 ',
      'filter parent ffff: protocol all pref 49 basic chain 0 handle 0x1 ',
      '\taction order 1:  police 0x1 rate 20Mbit burst 250Kb mtu 64Kb action drop overhead 0b ',
      '\tref 1 bind 1',
      '',
    ].join('\n');
    assert.deepEqual(parsePoliceText(basic), { rate: 20e6, burst: 256_000 });
    const matchall = [
      'filter parent ffff: protocol all pref 1 matchall chain 0 ',
      'filter parent ffff: protocol all pref 1 matchall chain 0 handle 0x1 ',
      '  not_in_hw',
      '\taction order 1:  police 0x1 rate 30Mbit burst 3000Kb mtu 64Kb action drop/pipe overhead 0b linklayer ethernet',
      '\tref 1 bind 1',
    ].join('\n');
    assert.deepEqual(parsePoliceText(matchall), { rate: 30e6, burst: 3_072_000 });
    assert.equal(parsePoliceText(''), undefined);
    assert.equal(parsePoliceText('filter parent ffff: protocol all pref 49 basic chain 0 '), undefined);
  });

  it('names the peer end like Neutron (qvo → qvb) or with a -p suffix', () => {
    assert.equal(defaultPeerName('qvo0a1b2c3d-4e'), 'qvb0a1b2c3d-4e');
    assert.equal(defaultPeerName('vm1'), 'vm1-p');
    assert.equal(defaultPeerName('tap0123456789ab'), 'tap0123456789-p');
    assert.ok(defaultPeerName('tap0123456789ab').length <= 15);
  });
});

const requirement = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vswitchd', 'ovs-vsctl', 'ip', 'tc', 'ethtool']);
const notRoot = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';
if (notRoot && integrationRequired()) throw new Error('the vswitch host tests need root here (CI)');

async function netnsNames(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').map((l) => l.split(' ')[0] ?? '').filter(Boolean);
}

function pidAlive(pidFile: string): boolean {
  if (!existsSync(pidFile)) return false;
  try {
    process.kill(Number(readFileSync(pidFile, 'utf8').trim()), 0);
    return true;
  } catch {
    return false;
  }
}

describe('startVswitchHost', { skip: requirement.skip || notRoot }, () => {
  let host: VswitchHost;
  const dev = 'qvo11aa22bb-33';
  const ifaceId = '11aa22bb-33cc-4dd4-8ee5-66ff77889900';

  before(async () => {
    host = await startVswitchHost();
  });

  after(async () => {
    await host.stop();
  });

  it('runs in its own network namespace with ovs-vswitchd and br-int on the userspace datapath', async () => {
    assert.match(host.netns, /^cmt-[0-9a-f]{8}$/);
    assert.ok((await netnsNames()).includes(host.netns));
    assert.ok(pidAlive(path.join(host.dir, 'ovs-vswitchd.pid')));
    assert.equal((await host.vsctl('get', 'Bridge', 'br-int', 'datapath_type')).trim(), 'netdev');
    assert.match(await host.exec('ip', 'link', 'show', 'br-int'), /br-int/);
  });

  it('addVethPort: a veth pair in the namespace, tx offload off, host end on br-int with iface-id', async () => {
    const { hostEnd, peerEnd } = await host.addVethPort(dev, { ifaceId });
    assert.equal(hostEnd, dev);
    assert.equal(peerEnd, 'qvb11aa22bb-33');
    for (const end of [hostEnd, peerEnd]) {
      assert.match(await host.exec('ip', 'link', 'show', end), /state UP|,UP/);
      assert.match(await host.exec('ethtool', '-k', end), /tx-checksumming: off/);
    }
    assert.deepEqual((await host.vsctl('list-ports', 'br-int')).trim().split('\n'), [dev]);
    assert.equal((await host.vsctl('get', 'Interface', dev, 'external_ids:iface-id')).trim(), `"${ifaceId}"`);
    const ofport = Number((await host.vsctl('get', 'Interface', dev, 'ofport')).trim());
    assert.ok(ofport > 0, `ovs-vswitchd attached the port (ofport ${String(ofport)})`);
    const plain = await host.addVethPort('vmx0', {});
    assert.equal(plain.peerEnd, 'vmx0-p');
    assert.equal((await host.vsctl('get', 'Interface', 'vmx0', 'external_ids')).trim(), '{}');
  });

  it('tcClasses: none without QoS, the HTB classes (bit/s) once a linux-htb QoS is on the port', async () => {
    assert.deepEqual(await host.tcClasses(dev), []);
    await host.vsctl(
      '--',
      'set',
      'Port',
      dev,
      'qos=@q',
      '--',
      '--id=@q',
      'create',
      'QoS',
      'type=linux-htb',
      'other_config:max-rate=200000000',
      'queues:0=@q0',
      'queues:1=@q1',
      '--',
      '--id=@q0',
      'create',
      'Queue',
      'other_config:min-rate=10000000',
      'other_config:max-rate=100000000',
      '--',
      '--id=@q1',
      'create',
      'Queue',
      'other_config:min-rate=50000000',
      'other_config:max-rate=150000000',
    );
    const byId = new Map((await host.tcClasses(dev)).map((c) => [c.classid, c]));
    assert.deepEqual([...byId.keys()].sort(), ['1:1', '1:2', '1:fffe']);
    assert.equal(byId.get('1:fffe')?.parent, 'root');
    assert.equal(byId.get('1:fffe')?.rate, 200_000_000);
    assert.equal(byId.get('1:1')?.rate, 10_000_000);
    assert.equal(byId.get('1:1')?.ceil, 100_000_000);
    assert.equal(byId.get('1:2')?.rate, 50_000_000);
    assert.equal(byId.get('1:2')?.ceil, 150_000_000);
    await host.vsctl('clear', 'Port', dev, 'qos');
    assert.deepEqual(await host.tcClasses(dev), []);
  });

  it('ingressPolicing: undefined without a policer; the policer when the kernel supports tc classifiers', async (ctx) => {
    assert.equal(await host.ingressPolicing(dev), undefined);
    await host.vsctl('set', 'Interface', dev, 'ingress_policing_rate=30000', 'ingress_policing_burst=3000');
    const police = await host.ingressPolicing(dev);
    // OVS installs the policer with `tc filter ... basic police`; kernels without cls_basic refuse it.
    const log = readFileSync(host.vswitchdLogPath, 'utf8');
    if (police === undefined && /policing action failed/.test(log)) {
      ctx.skip('this kernel has no tc classifier for the policer (ovs-vswitchd logged "policing action failed")');
      return;
    }
    assert.ok(police, 'an ingress policer exists');
    assert.equal(police.rate, 30_000_000);
    await host.vsctl('set', 'Interface', dev, 'ingress_policing_rate=0', 'ingress_policing_burst=0');
    assert.equal(await host.ingressPolicing(dev), undefined);
  });

  it('stop() removes the namespace, the processes and the temp dirs (and is idempotent)', async () => {
    const other = await startVswitchHost();
    const pidFile = path.join(other.dir, 'ovs-vswitchd.pid');
    assert.ok(pidAlive(pidFile));
    const vswitchdPid = Number(readFileSync(pidFile, 'utf8').trim());
    const ovsdbPid = other.ovsdb.pid;
    await other.addVethPort('qvo-stop-test');
    await other.stop();
    assert.ok(!(await netnsNames()).includes(other.netns), 'namespace deleted');
    assert.throws(() => process.kill(vswitchdPid, 0), 'ovs-vswitchd is gone');
    assert.ok(ovsdbPid !== undefined);
    assert.throws(() => process.kill(ovsdbPid, 0), 'ovsdb-server is gone');
    assert.equal(existsSync(other.dir), false);
    assert.equal(existsSync(other.ovsdb.dir), false);
    await other.stop();
  });
});
