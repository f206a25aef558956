/**
 * End to end on a real ovs-vswitchd (userspace datapath, in a network
 * namespace the harness creates): what the vswitch helpers write to OVSDB
 * becomes HTB classes and an ingress policer in the kernel, and removing it
 * removes them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { Vswitch } from '../../src/ovsdb/vswitch/index.ts';
import { realOvsAvailable } from '../harness/ovsdb-server.ts';
import { startVswitchHost, type VswitchHost } from '../harness/vswitch-host.ts';

const requirement = realOvsAvailable(['ovsdb-server', 'ovs-vswitchd', 'ovs-vsctl', 'ip', 'tc', 'ethtool']);
const notRoot = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';
if (notRoot && (process.env.CI === 'true' || process.env.CM_REQUIRE_INTEGRATION === '1')) {
  throw new Error('the ovs-vswitchd test needs root in CI');
}

/** Probes, on a throw-away veth in the host's namespace, whether tc can police ingress traffic. */
async function kernelHasTcPolice(host: VswitchHost): Promise<boolean> {
  const dev = `cmprobe${String(process.pid % 10000)}`;
  await host.exec('ip', 'link', 'add', dev, 'type', 'veth', 'peer', 'name', `${dev}p`);
  try {
    await host.exec('tc', 'qdisc', 'add', 'dev', dev, 'ingress');
    for (const classifier of [['matchall'], ['protocol', 'all', 'basic']]) {
      try {
        await host.exec('tc', 'filter', 'add', 'dev', dev, 'parent', 'ffff:', ...classifier, 'action', 'police', 'rate', '1mbit', 'burst', '10k', 'drop');
        return true;
      } catch {
        // Try the next classifier, as ovs-vswitchd does.
      }
    }
    return false;
  } finally {
    await host.exec('ip', 'link', 'del', dev);
  }
}

describe('QoS on a real ovs-vswitchd', { skip: requirement.skip || notRoot }, () => {
  let host: VswitchHost;
  let client: OvsdbClient;
  let vs: Vswitch;
  let dev: string;

  before(async () => {
    host = await startVswitchHost();
    const ports = await host.addVethPort('qvo0a1b2c3d-4e', { ifaceId: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d' });
    dev = ports.hostEnd;
    client = await OvsdbClient.connect({ endpoint: host.ovsdb.unixEndpoint });
    vs = new Vswitch(client, { owner: 'tc-test' });
  });

  after(async () => {
    client.close();
    await host.stop();
  });

  it('creates HTB classes with the requested rates once ovs-vswitchd applied the change', async () => {
    const found = await vs.findByIfaceId('0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d');
    assert.equal(found?.port.name, dev);
    const result = await vs.apply(
      [
        {
          port: dev,
          qos: {
            maxRate: 200_000_000,
            queues: [
              { minRate: 10_000_000, maxRate: 100_000_000 },
              { minRate: 50_000_000, maxRate: 150_000_000 },
            ],
          },
          policing: { rateKbps: 30_000, burstKbits: 24_000 },
        },
      ],
      { waitApplied: true },
    );
    assert.ok(result.appliedCfg !== undefined && result.appliedCfg > 0);
    const classes = await host.tcClasses(dev);
    const byId = new Map(classes.map((c) => [c.classid, c]));
    assert.equal(byId.get('1:fffe')?.rate, 200_000_000, 'root class = QoS max-rate');
    assert.equal(byId.get('1:1')?.rate, 10_000_000, 'queue 0 rate = min-rate');
    assert.equal(byId.get('1:1')?.ceil, 100_000_000, 'queue 0 ceil = max-rate');
    assert.equal(byId.get('1:2')?.rate, 50_000_000);
    assert.equal(byId.get('1:2')?.ceil, 150_000_000);
  });

  it('turns ingress_policing_rate into a tc policer (where the kernel has one)', async (t) => {
    if (!(await kernelHasTcPolice(host))) {
      t.skip('this kernel has neither cls_matchall nor cls_basic with act_police, so OVS cannot install any policer');
      return;
    }
    const police = await host.ingressPolicing(dev);
    assert.ok(police, 'an ingress policer exists');
    assert.equal(police.rate, 30_000_000, 'policing rate in bit/s');
  });

  it('replaces the classes when the SLA changes', async () => {
    await vs.apply([{ port: dev, qos: { maxRate: 80_000_000, queues: [{ minRate: 5_000_000, maxRate: 60_000_000 }] } }], {
      waitApplied: true,
    });
    const classes = await host.tcClasses(dev);
    const byId = new Map(classes.map((c) => [c.classid, c]));
    assert.equal(byId.get('1:fffe')?.rate, 80_000_000);
    assert.equal(byId.get('1:1')?.ceil, 60_000_000);
    assert.equal(byId.has('1:2'), false, 'the dropped queue is gone');
  });

  it('removes the classes and the policer when the SLA is removed', async () => {
    await vs.apply([{ port: dev, qos: null, policing: null }], { waitApplied: true });
    assert.deepEqual(await host.tcClasses(dev), []);
    assert.equal(await host.ingressPolicing(dev), undefined);
    const row = (await vs.view()).portByName(dev);
    assert.equal(row?.qos, undefined);
    assert.deepEqual(await vs.findOwnedOrphans(), { qos: [], queues: [] });
  });
});
