/**
 * The passive OpenFlow listener an agent off the host keeps on br-int through
 * OVSDB (`enforcement.openflow.listener`), on a real ovs-vswitchd: the
 * Controller row is added (tagged, other controllers kept), the agent's
 * meters arrive through it, and it is put back after another writer replaces
 * `Bridge.controller` (what neutron-openvswitch-agent does when it starts).
 * A `punix:` listener stands for `ptcp:`: the switch runs in its own network
 * namespace, where a TCP listener would not be reachable from here.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { HostEnforcement } from '../../src/agent/enforcement/host.ts';
import { endpointOfListener, ensurePassiveListener } from '../../src/agent/enforcement/listener.ts';
import { ownerCookie } from '../../src/agent/enforcement/openflow-meter.ts';
import { HostReconciler } from '../../src/agent/reconciler.ts';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { integrationRequired, realOvsAvailable, run } from '../harness/ovsdb-server.ts';
import { startVswitchHost, type VswitchHost } from '../harness/vswitch-host.ts';
import { MutableSource, neutronId, portName } from './reconciler-helpers.ts';

const requirement = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vswitchd', 'ovs-vsctl', 'ovs-ofctl', 'ip', 'ethtool']);
const notRoot = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';
if (notRoot && integrationRequired()) throw new Error('the OpenFlow listener test needs root here (CI or CM_REQUIRE_INTEGRATION=1)');

const OWNER = 'cm-listener-test';

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('endpointOfListener', () => {
  it('turns a passive target into the endpoint the agent connects to', () => {
    assert.equal(endpointOfListener('ptcp:6653:10.0.0.11'), 'tcp:10.0.0.11:6653');
    assert.equal(endpointOfListener('pssl:6653:[fd00::1]'), 'ssl:[fd00::1]:6653');
    assert.equal(endpointOfListener('punix:/run/cm/br-int.sock'), 'unix:/run/cm/br-int.sock');
    for (const bad of ['ptcp:6653', 'ptcp:0:10.0.0.1', 'tcp:10.0.0.1:6653', 'ptcp:70000:1.2.3.4', 'punix:']) {
      assert.throws(() => endpointOfListener(bad), /expected ptcp:PORT:IP/, bad);
    }
  });
});

describe('a passive OpenFlow listener kept on br-int through OVSDB (real ovs-vswitchd)', { skip: requirement.skip || notRoot }, () => {
  let host: VswitchHost;
  let ovsdb: OvsdbClient;
  let target: string;

  before(async () => {
    host = await startVswitchHost();
    ovsdb = await OvsdbClient.connect({ endpoint: host.ovsdb.unixEndpoint });
    // ovs-vswitchd accepts punix: controllers only as <rundir>/<bridge>.* (it refuses to overwrite other files).
    target = `punix:${path.join(host.dir, 'br-int.cm-listener')}`;
  });
  after(async () => {
    ovsdb.close();
    await host.stop();
  });

  const controllers = async (): Promise<string> => host.vsctl('--columns=target,external_ids', 'list', 'Controller');

  it('adds a tagged Controller row once, keeping the controllers already there', async () => {
    await host.vsctl('set-controller', 'br-int', 'tcp:127.0.0.1:1');
    assert.equal(await ensurePassiveListener({ client: ovsdb, db: 'Open_vSwitch', bridge: 'br-int', target, owner: OWNER }), 'added');
    assert.equal(await ensurePassiveListener({ client: ovsdb, db: 'Open_vSwitch', bridge: 'br-int', target, owner: OWNER }), 'present');
    const list = await controllers();
    assert.match(list, new RegExp(`target\\s+: "${target.replaceAll('/', '\\/')}"`));
    assert.match(list, new RegExp(`external_ids\\s+: \\{cm-owner=${OWNER}\\}`));
    assert.match(list, /target\s+: "tcp:127\.0\.0\.1:1"/, 'the other controller is kept');
    await assert.rejects(ensurePassiveListener({ client: ovsdb, db: 'Open_vSwitch', bridge: 'br-nope', target, owner: OWNER }), /bridge br-nope does not exist/);
  });

  it('the agent enforces a meter through the listener, and puts the listener back after Bridge.controller is replaced', async () => {
    await host.vsctl('set-controller', 'br-int', 'tcp:127.0.0.1:1'); // start without ours
    const id = neutronId(1);
    await host.addVethPort(portName(id), { ifaceId: id });
    const source = new MutableSource();
    source.set(id, { upload: { maxRate: 5_000_000 } });
    const enforcement = new HostEnforcement({ host: 'h1', owner: OWNER, upload: 'meter', openflow: { endpoint: endpointOfListener(target), listener: target } });
    const lifetime = new AbortController();
    enforcement.start(lifetime.signal);
    const reconciler = new HostReconciler({
      host: 'h1',
      endpoint: host.ovsdb.unixEndpoint,
      owner: OWNER,
      source,
      backends: enforcement.backends,
      // CM_TEST_AGENT_LOG=1 shows the loop's events (as the scenario and real-cloud tests do for the whole agent).
      logger: (e) => {
        if (process.env.CM_TEST_AGENT_LOG === '1') console.log(JSON.stringify(e));
      },
    });
    try {
      await reconciler.start();
      const mgmt = `unix:${path.join(host.dir, 'br-int.mgmt')}`;
      const cookie = `0x${ownerCookie(OWNER).toString(16)}`;
      const ourFlows = async (): Promise<number> =>
        (await run('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-flows', mgmt, `cookie=${cookie}/-1`])).stdout.split('\n').filter((l) => l.includes('cookie=')).length;
      await eventually('our meter flow, installed through the listener', async () => (await ourFlows()) === 1);
      assert.match((await run('ovs-ofctl', ['-O', 'OpenFlow13', 'dump-meters', mgmt])).stdout, /rate=5000 burst_size=1250/);
      assert.equal(reconciler.status()[0]?.state, 'applied');

      // What neutron-openvswitch-agent does at its start: its own controller only.
      await host.vsctl('set-controller', 'br-int', 'tcp:127.0.0.1:2');
      await eventually('our listener back in Bridge.controller', async () => (await controllers()).includes(target));
      await eventually('OpenFlow connected again through it', () => Promise.resolve(enforcement.openflowConnected() === true));
      assert.match(await controllers(), /tcp:127\.0\.0\.1:2/, 'the other controller is kept');
    } finally {
      await reconciler.stop();
      enforcement.stop();
      lifetime.abort();
    }
  });
});
