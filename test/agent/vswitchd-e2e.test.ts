/**
 * The whole agent on the simulated cloud whose hosts are the testbed's: a real
 * ovs-vswitchd (userspace datapath) per compute host in its own namespace,
 * VMs as namespaces plugged into br-int like os-vif does. SLAs set through
 * the agent's API must end up as HTB classes in the kernel, change with the
 * SLA and disappear with it and with the server; afterwards nothing of the
 * testbed remains.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, startAgent, type RunningAgent } from '../../src/agent/main.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { ovsPortName, startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { startTestbedHosts, type TestbedHosts } from '../../src/testbed/index.ts';
import { integrationRequired, realOvsAvailable, run } from '../harness/ovsdb-server.ts';
import { parseTcClassJson, parseTcClassText, type TcClass } from '../harness/vswitch-host.ts';
import { closeSwitches, connect, openSwitches, type HostSwitch } from './inventory-helpers.ts';

const TOKEN = 'vswitchd-e2e-token-0123456789abcdef';
const HOSTS = ['compute1', 'compute2'];
const requirement = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vswitchd', 'ip', 'tc', 'ethtool']);
const notRoot = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';
if (notRoot && integrationRequired()) throw new Error('the ovs-vswitchd end-to-end test needs root here (CI or CM_REQUIRE_INTEGRATION=1)');

async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function netnsNames(): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter(Boolean);
}

describe('cm-agent on the testbed: SLAs become HTB classes on a real ovs-vswitchd', { skip: requirement.skip || notRoot }, () => {
  let testbed: TestbedHosts;
  let sim: SimCloud;
  let os: OpenStack;
  let agent: RunningAgent;
  let switches: Map<string, HostSwitch>;
  let prefix = '';
  const servers = new Map<string, { id: string; portId: string; dev: string }>();

  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const response = await fetch(`${agent.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text ? (JSON.parse(text) as unknown) : undefined };
  };

  const tcClasses = async (host: string, dev: string): Promise<TcClass[]> => {
    const json = await testbed.exec({ host }, 'tc', '-j', 'class', 'show', 'dev', dev);
    return parseTcClassJson(json) ?? parseTcClassText(await testbed.exec({ host }, 'tc', 'class', 'show', 'dev', dev));
  };

  /** Polls until the port's classes are root 1:fffe at `max` and queue 0's class 1:1 at `min`/`max`. */
  const htbBecomes = async (host: string, dev: string, min: number, max: number): Promise<void> => {
    let seen: TcClass[] = [];
    try {
      await eventually(async () => {
        seen = await tcClasses(host, dev);
        const byId = new Map(seen.map((c) => [c.classid, c]));
        const root = byId.get('1:fffe');
        const queue = byId.get('1:1');
        return root?.kind === 'htb' && root.rate === max && queue?.kind === 'htb' && queue.rate === min && queue.ceil === max;
      }, `HTB classes ${String(min)}/${String(max)} on ${host}/${dev}`);
    } catch (error) {
      assert.fail(`${(error as Error).message}; tc shows ${JSON.stringify(seen)}`);
    }
  };

  const ourRows = async (): Promise<number> => {
    let count = 0;
    for (const s of switches.values()) {
      const view = await s.vswitch.view({ fresh: true });
      count += view.qos.size + view.queues.size;
    }
    return count;
  };

  /** Stops of what is running, newest last; each runs once, in the last test or in after() if a test failed first. */
  const stops: { what: string; stop: () => Promise<void> | void }[] = [];
  const stopAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (let next = stops.pop(); next; next = stops.pop()) {
      try {
        await next.stop();
      } catch (error) {
        errors.push(new Error(`stopping ${next.what}: ${(error as Error).message}`, { cause: error }));
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, 'teardown failed');
  };

  before(async () => {
    const tb = await startTestbedHosts({
      hosts: HOSTS,
      // Called when plugging, by which time the sim exists.
      subnetPrefixLength: (subnetId) => {
        const net = [...sim.state.networks.values()].find((n) => n.subnetId === subnetId);
        return net ? Number(net.cidr.split('/')[1]) : undefined;
      },
    });
    testbed = tb;
    prefix = tb.prefix;
    stops.push({ what: 'the testbed', stop: () => tb.close() });
    const cloud = await startSimCloud({ hypervisor: tb, bootDelayMs: 10 });
    sim = cloud;
    stops.push({ what: 'the simulated cloud', stop: () => cloud.close() });
    assert.deepEqual([...sim.state.hosts.keys()].sort(), HOSTS);
    const client = connect(sim).os;
    os = client;
    stops.push({ what: 'the OpenStack client', stop: () => client.close() });
    const config = parseAgentConfig(
      `listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: cm-agent-vswitchd-e2e`,
      {},
    );
    const running = await startAgent(config, simAgentOptions(sim, { log: false }));
    agent = running;
    stops.push({ what: 'the agent', stop: () => running.stop() });
    const observed = await openSwitches(sim, 'observer');
    switches = observed;
    stops.push({
      what: 'the observer connections',
      stop: () => {
        closeSwitches(observed);
      },
    });
  });

  after(stopAll);

  it('exposes each testbed host OVSDB as the sim host endpoint', () => {
    for (const host of HOSTS) {
      assert.equal(sim.ovsdbEndpoint(host), testbed.ovsdbEndpoint(host));
      assert.match(sim.ovsdbEndpoint(host), /^tcp:127\.0\.0\.1:\d+$/);
    }
  });

  it('boots one server per host through Nova: VM namespace, veth and br-int port like os-vif', async () => {
    const flavor = (await os.nova.listFlavors())[0]!;
    const net = (await os.neutron.listNetworks())[0]!;
    for (const [i, host] of HOSTS.entries()) {
      const created = await os.nova.createServer({ name: `MediaServer-${String(i + 1)}`, imageRef: '', flavorRef: flavor.id, availabilityZone: `nova:${host}`, networks: [{ uuid: net.id }] });
      const active = await os.nova.waitForServer(created.id, ['ACTIVE'], { intervalMs: 20, timeoutMs: 20_000 });
      assert.equal(active.status, 'ACTIVE');
      const simServer = sim.state.servers.get(created.id)!;
      const port = sim.state.ports.get(simServer.portIds[0]!)!;
      const dev = ovsPortName(port.id);
      servers.set(host, { id: created.id, portId: port.id, dev });

      const vm = testbed.vm(created.id);
      assert.ok(vm, 'the server has a VM namespace');
      assert.equal(vm.nics.get(port.id)?.hostDevice, dev);
      const link = await testbed.exec({ serverId: created.id }, 'ip', '-o', 'addr', 'show', 'dev', 'eth0');
      assert.match(link, new RegExp(`inet ${port.fixedIps[0]!.ip_address.replaceAll('.', '\\.')}/24 `), 'the fixed IP with the subnet prefix');
      const mac = await testbed.exec({ serverId: created.id }, 'cat', '/sys/class/net/eth0/address');
      assert.equal(mac.trim(), port.macAddress);
      const offload = await testbed.exec({ host }, 'ethtool', '-k', dev);
      assert.match(offload, /^tx-checksumming: off/m);

      const view = await switches.get(host)!.vswitch.view({ fresh: true });
      const found = view.findByIfaceId(port.id);
      assert.equal(found?.port.name, dev);
      assert.equal(found.iface.external_ids.get('iface-status'), 'active');
      assert.equal(found.iface.external_ids.get('attached-mac'), port.macAddress);
      assert.equal(found.iface.external_ids.get('vm-uuid'), created.id);
      // ovs-vswitchd took the port into its datapath.
      assert.ok(typeof found.iface.ofport === 'number' && found.iface.ofport > 0, `ofport of ${dev}: ${String(found.iface.ofport)}`);
    }
  });

  it('POST /qoses → QoS/Queue rows in the right OVSDB and HTB classes 1:fffe and 1:1 on the qvo device', async () => {
    const body: Record<string, Record<string, { qos: Record<string, string> }>> = {};
    for (const host of HOSTS) body[host] = { [servers.get(host)!.id]: { qos: { 'min-rate': '5000000', 'max-rate': '20000000' } } };
    await agent.inventory.refresh();
    const posted = await api('POST', '/qoses', body);
    assert.equal(posted.status, 200, JSON.stringify(posted.json));

    for (const host of HOSTS) {
      const { portId, dev } = servers.get(host)!;
      await eventually(async () => {
        const view = await switches.get(host)!.vswitch.view({ fresh: true });
        const found = view.findByIfaceId(portId);
        const qos = found?.port.qos === undefined ? undefined : view.qos.get(found.port.qos);
        return qos?.type === 'linux-htb' && qos.other_config.get('max-rate') === '20000000';
      }, `the QoS row on ${host}`);
      await htbBecomes(host, dev, 5_000_000, 20_000_000);
    }
  });

  it('PUT /v1/servers/{id}/sla changes the classes; DELETE removes rows and classes', async () => {
    const { id, dev } = servers.get('compute2')!;
    const put = await api('PUT', `/v1/servers/${id}/sla`, { download: { min: '8mbit', max: '30mbit' } });
    assert.equal(put.status, 200, JSON.stringify(put.json));
    await htbBecomes('compute2', dev, 8_000_000, 30_000_000);
    // The other host's port is untouched.
    await htbBecomes('compute1', servers.get('compute1')!.dev, 5_000_000, 20_000_000);

    assert.equal((await api('DELETE', `/v1/servers/${id}/sla`)).status, 204);
    await eventually(async () => (await tcClasses('compute2', dev)).length === 0, `no HTB classes on ${dev}`);
    await eventually(async () => {
      const view = await switches.get('compute2')!.vswitch.view({ fresh: true });
      return view.qos.size + view.queues.size === 0;
    }, 'no QoS or Queue row on compute2');
  });

  it('deleting a server through Nova removes its namespace, veth and OVS port, and our rows', async () => {
    for (const host of HOSTS) {
      const { id, portId, dev } = servers.get(host)!;
      const vmNetns = testbed.vm(id)!.netns;
      await os.nova.deleteServer(id);
      await eventually(() => !sim.state.servers.has(id), `server ${id} gone from Nova`);
      await eventually(async () => (await switches.get(host)!.vswitch.view({ fresh: true })).findByIfaceId(portId) === undefined, `the OVS port of ${id}`);
      assert.equal(testbed.vm(id), undefined);
      assert.ok(!(await netnsNames()).includes(vmNetns), `namespace ${vmNetns} deleted`);
      const links = await testbed.exec({ host }, 'ip', '-o', 'link', 'show');
      assert.ok(!links.includes(dev), `veth ${dev} deleted`);
    }
    // compute1's SLA was still set when its server went: the agent deletes the now orphaned rows.
    await eventually(async () => (await ourRows()) === 0, 'no QoS or Queue row left on any host');
  });

  it('takes the testbed down without leaving anything behind', async () => {
    await stopAll();
    assert.deepEqual(await testbed.listOwned(), { namespaces: [], processes: [], dirs: [] });
    assert.deepEqual(
      (await netnsNames()).filter((n) => n.startsWith(`cm-${prefix}-`)),
      [],
    );
  });
});
