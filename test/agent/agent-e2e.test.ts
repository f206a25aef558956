/**
 * The whole agent, as `cm-agent` runs it, on the simulated cloud whose hosts
 * have real ovsdb-servers: the thesis API sets SLAs that appear in the right
 * host's OVSDB and in GET /hosts; the modern API changes and removes them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, startAgent, type RunningAgent } from '../../src/agent/main.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { realOvsAvailable } from '../harness/ovsdb-server.ts';
import { closeSwitches, connect, openSwitches, type HostSwitch } from './inventory-helpers.ts';

const TOKEN = 'e2e-token-0123456789abcdef';
const real = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl']);

async function eventually(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('cm-agent on the simulated cloud with real ovsdb-servers', { skip: real.skip }, () => {
  let sim: SimCloud;
  let os: OpenStack;
  let agent: RunningAgent;
  let switches: Map<string, HostSwitch>;

  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const response = await fetch(`${agent.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: text ? (JSON.parse(text) as unknown) : undefined };
  };

  before(async () => {
    sim = await startSimCloud({ ovsdb: 'real', bootDelayMs: 10 });
    os = connect(sim).os;
    const config = parseAgentConfig(
      `listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: cm-agent-e2e`,
      {},
    );
    agent = await startAgent(config, simAgentOptions(sim, { log: false }));
    switches = await openSwitches(sim, 'observer');
  });

  after(async () => {
    closeSwitches(switches);
    await agent.stop();
    await os.close();
    await sim.close();
  });

  it('POST /qoses, GET /hosts, PUT and DELETE /v1/servers/{id}/sla end to end', async () => {
    const flavor = (await os.nova.listFlavors())[0]!;
    const net = (await os.neutron.listNetworks())[0]!;
    const created = await os.nova.createServer({ name: 'MediaServer-1', imageRef: '', flavorRef: flavor.id, availabilityZone: 'nova:compute2', networks: [{ uuid: net.id }] });
    await os.nova.waitForServer(created.id, ['ACTIVE'], { intervalMs: 20, timeoutMs: 10_000 });
    await agent.inventory.refresh();
    const server = agent.inventory.snapshot()!.servers.find((s) => s.id === created.id)!;
    const portId = server.ports[0]!.id;

    const posted = await api('POST', '/qoses', { compute2: { [created.id]: { qos: { 'min-rate': '100000000', 'max-rate': '10000000000' } } } });
    assert.equal(posted.status, 200);
    assert.deepEqual(posted.json, { [created.id]: { 'min-rate': '100000000', 'max-rate': '10000000000' } });

    const qosOnSwitch = async (): Promise<string | undefined> => {
      const view = await switches.get('compute2')!.vswitch.view();
      const found = view.findByIfaceId(portId);
      return found?.port.qos === undefined ? undefined : view.qos.get(found.port.qos)?.other_config.get('max-rate');
    };
    await eventually(async () => (await qosOnSwitch()) === '10000000000', 'the QoS row on compute2');

    await eventually(async () => {
      const hosts = (await api('GET', '/hosts')).json as Record<string, { servers: Record<string, { ovs_port_id: string | null; qos: { queues: Record<string, { rates: Record<string, string> }> } | null }> }>;
      const entry = hosts.compute2?.servers[created.id];
      return entry?.qos?.queues['0']?.rates['max-rate'] === '10000000000' && entry.ovs_port_id === `qvo${portId.slice(0, 11)}`;
    }, 'GET /hosts showing the QoS');

    const put = await api('PUT', `/v1/servers/${created.id}/sla`, { download: { min: '50mbit', max: '1gbit' }, upload: { max: '500mbit' } });
    assert.equal(put.status, 200);
    await eventually(async () => (await qosOnSwitch()) === '1000000000', 'the changed SLA');
    await eventually(async () => {
      const sla = (await api('GET', '/v1/sla')).json as { items: { server_id: string; state: string }[] };
      return sla.items.find((i) => i.server_id === created.id)?.state === 'applied';
    }, '/v1/sla reporting applied');

    assert.equal((await api('DELETE', `/v1/servers/${created.id}/sla`)).status, 204);
    await eventually(async () => (await qosOnSwitch()) === undefined, 'the SLA removed from the switch');
    for (const s of switches.values()) {
      const view = await s.vswitch.view();
      assert.equal(view.qos.size + view.queues.size, 0, 'no QoS or Queue row left');
    }

    // Every pass is timed into the histogram once: a second scrape adds only new passes.
    const scrape = async (): Promise<number> => {
      const response = await fetch(`${agent.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      const text = await response.text();
      const count = /^cm_agent_reconcile_duration_seconds_count\{host="compute2"\} (\d+)$/m.exec(text);
      assert.ok(count, 'the reconcile duration histogram has a series for compute2');
      return Number(count[1]);
    };
    const first = await scrape();
    assert.ok(first >= 3, `several passes were timed (${String(first)})`);
    const counters = agent.fleet.metrics().get('compute2');
    assert.ok(first <= (counters?.passes ?? 0) + (counters?.errors ?? 0), 'no pass counted twice');
    assert.ok((await scrape()) >= first, 'the histogram is cumulative');
  });

  it('a server booted after the last inventory refresh gets its SLA at once (no 404, no wait for the next refresh)', async () => {
    const flavor = (await os.nova.listFlavors())[0]!;
    const net = (await os.neutron.listNetworks())[0]!;
    const created = await os.nova.createServer({ name: 'Broker-1', imageRef: '', flavorRef: flavor.id, availabilityZone: 'nova:compute1', networks: [{ uuid: net.id }] });
    await os.nova.waitForServer(created.id, ['ACTIVE'], { intervalMs: 20, timeoutMs: 10_000 });
    assert.equal(agent.inventory.snapshot()!.servers.some((s) => s.id === created.id), false, 'not in the snapshot yet');
    const put = await api('PUT', `/v1/servers/${created.id}/sla`, { download: { min: '10mbit', max: '20mbit' } });
    assert.equal(put.status, 201, JSON.stringify(put.json));
    const server = agent.inventory.snapshot()!.servers.find((s) => s.id === created.id)!;
    const portId = server.ports[0]!.id;
    await eventually(async () => {
      const view = await switches.get('compute1')!.vswitch.view();
      const found = view.findByIfaceId(portId);
      return (found?.port.qos === undefined ? undefined : view.qos.get(found.port.qos)?.other_config.get('max-rate')) === '20000000';
    }, 'the QoS row on compute1');
    // An id no server has is still a 404, and asking again within a second does not re-read the cloud.
    const refreshes = agent.inventory.refreshCount;
    const unknown = '9d6c0a4e-1111-4222-8333-444455556666';
    assert.equal((await api('PUT', `/v1/servers/${unknown}/sla`, { download: { max: '20mbit' } })).status, 404);
    assert.equal((await api('PUT', `/v1/servers/${unknown}/sla`, { download: { max: '20mbit' } })).status, 404);
    assert.ok(agent.inventory.refreshCount - refreshes <= 1, 'at most one on-demand refresh per second');
    // Asking for one server's status answers for that server only; a bad id is named.
    const one = await api('GET', `/v1/sla?server_id=${created.id},${unknown}`);
    assert.equal(one.status, 200);
    assert.deepEqual((one.json as { items: { server_id: string }[] }).items.map((i) => i.server_id), [created.id]);
    const all = (await api('GET', '/v1/sla')).json as { items: unknown[] };
    assert.ok(all.items.length >= 1);
    const bad = await api('GET', '/v1/sla?server_id=not-a-uuid');
    assert.equal(bad.status, 400);
    assert.equal((await api('DELETE', `/v1/servers/${created.id}/sla`)).status, 204);
  });
});
