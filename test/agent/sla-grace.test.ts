/**
 * Stored SLAs of servers deleted from the cloud (issue 16): the SLA of a server
 * gone from Nova is `orphaned` in /v1/sla while it waits out `sla.orphan_grace_ms`,
 * then deleted, logged (`sla_orphan_removed`) and counted
 * (`cm_agent_sla_orphans_removed_total`). A failing inventory read never counts
 * as "absent". `cm_agent_slas{state}` agrees with /v1/sla's summary throughout.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, startAgent, type RunningAgent } from '../../src/agent/main.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { TAG_OWNER } from '../../src/ovsdb/vswitch/index.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { closeSwitches, connect, openSwitches, type HostSwitch } from './inventory-helpers.ts';
import { callApi } from '../harness/service-process.ts';

const TOKEN = 'sla-grace-token-0123456789';
const OWNER = 'cm-agent-sla-grace';
const GRACE_MS = 1500;

interface SlaList {
  items: { server_id: string; state: string; reason: string | null }[];
  summary: Record<string, number>;
}

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('stored SLAs of servers deleted from the cloud', () => {
  let sim: SimCloud;
  let os: OpenStack;
  let agent: RunningAgent;
  let switches: Map<string, HostSwitch>;
  const events: Record<string, unknown>[] = [];

  const api = (method: string, path: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> => callApi(agent.url, TOKEN, method, path, body);

  /** /v1/sla and the gauge read together; they must agree state by state. */
  const slaAndGauge = async (): Promise<{ sla: SlaList; gauge: Record<string, number>; removed: number | undefined; metrics: string }> => {
    const sla = (await api('GET', '/v1/sla')).json as SlaList;
    const metrics = (await api('GET', '/metrics')).text;
    const gauge: Record<string, number> = {};
    for (const m of metrics.matchAll(/^cm_agent_slas\{state="(\w+)"\} (\d+)$/gm)) gauge[m[1]!] = Number(m[2]);
    const removed = /^cm_agent_sla_orphans_removed_total (\d+)$/m.exec(metrics)?.[1];
    return { sla, gauge, removed: removed === undefined ? undefined : Number(removed), metrics };
  };

  before(async () => {
    sim = await startSimCloud({ bootDelayMs: 10 });
    os = connect(sim).os;
    const config = parseAgentConfig(
      [
        'listen: { host: 127.0.0.1, port: 0 }',
        `auth: { tokens: [${TOKEN}] }`,
        'store: { path: ":memory:" }',
        'ovsdb: { template: "unix:/unused/{host}" }',
        `owner: ${OWNER}`,
        // Refreshes are driven by the test (a successful read is what counts), not by a timer.
        'inventory: { refresh_interval_ms: 3600000 }',
        `sla: { orphan_grace_ms: ${String(GRACE_MS)} }`,
        'enforcement: { guarantees: { enabled: false } }',
        '',
      ].join('\n'),
      {},
    );
    agent = await startAgent(config, simAgentOptions(sim, { log: false, events: (e) => events.push(e) }));
    switches = await openSwitches(sim, 'observer');
  });

  after(async () => {
    closeSwitches(switches);
    await agent.stop();
    await os.close();
    await sim.close();
  });

  it('orphaned within the grace period (gauge = /v1/sla), removed after it, logged and counted; a failed read is no absence', async () => {
    const flavor = (await os.nova.listFlavors())[0]!;
    const net = (await os.neutron.listNetworks())[0]!;
    const boot = async (name: string, host: string): Promise<string> => {
      const c = await os.nova.createServer({ name, imageRef: '', flavorRef: flavor.id, availabilityZone: `nova:${host}`, networks: [{ uuid: net.id }] });
      await os.nova.waitForServer(c.id, ['ACTIVE'], { intervalMs: 20, timeoutMs: 10_000 });
      return c.id;
    };
    const doomed = await boot('doomed', 'compute1');
    const kept = await boot('kept', 'compute2');
    for (const id of [doomed, kept]) {
      const put = await api('PUT', `/v1/servers/${id}/sla`, { download: { min: '10mbit', max: '20mbit' } });
      assert.equal(put.status, 201, put.text);
    }
    const portOf = (id: string): string => sim.state.servers.get(id)!.portIds[0]!;
    const doomedPort = portOf(doomed);
    const ourQos = async (host: string, portId: string): Promise<boolean> => {
      const view = await switches.get(host)!.vswitch.view();
      const port = view.findByIfaceId(portId)?.port;
      return port?.qos !== undefined && view.qos.get(port.qos)?.external_ids.get(TAG_OWNER) === OWNER;
    };
    await eventually('both SLAs applied', async () => {
      const { sla } = await slaAndGauge();
      return sla.summary.applied === 2 ? true : undefined;
    });
    assert.ok(await ourQos('compute1', doomedPort));
    const before = await slaAndGauge();
    assert.deepEqual(before.gauge, before.sla.summary, 'the gauge counts what /v1/sla reports');
    assert.deepEqual(before.sla.summary, { applied: 2, pending: 0, drifted: 0, error: 0, orphaned: 0 });
    assert.equal(before.removed, 0);

    await os.nova.deleteServer(doomed);
    await eventually('the server gone from Nova', () => Promise.resolve(sim.state.servers.has(doomed) ? undefined : true));

    // A read that fails (Nova down) is no evidence: the server is not absent, however long it lasts.
    sim.faults.serviceDown('nova', true);
    await assert.rejects(agent.inventory.refresh());
    await new Promise((r) => setTimeout(r, GRACE_MS + 200));
    await assert.rejects(agent.inventory.refresh());
    assert.equal(agent.orphans.absentSince(doomed), undefined, 'failed reads do not count');
    const during = await slaAndGauge();
    assert.notEqual(during.sla.items.find((i) => i.server_id === doomed)?.state, 'orphaned');
    assert.ok(await api('GET', `/v1/servers/${doomed}/sla`).then((r) => r.status === 200));
    sim.faults.serviceDown('nova', false);

    // The first complete read without it: orphaned, not removed (the grace starts now, not at the deletion).
    await agent.inventory.refresh();
    const since = await eventually('absence noticed', () => Promise.resolve(agent.orphans.absentSince(doomed)));
    const within = await slaAndGauge();
    const item = within.sla.items.find((i) => i.server_id === doomed);
    assert.ok(item);
    assert.equal(item.state, 'orphaned');
    assert.match(item.reason ?? '', /not been in the cloud inventory since .*removed 2 s after that/);
    assert.equal(within.sla.items.find((i) => i.server_id === kept)?.state, 'applied');
    assert.deepEqual(within.sla.summary, { applied: 1, pending: 0, drifted: 0, error: 0, orphaned: 1 });
    assert.deepEqual(within.gauge, within.sla.summary, 'the gauge counts the orphan as /v1/sla does');
    assert.equal(within.removed, 0);
    assert.ok(events.some((e) => e.event === 'sla_orphan_detected' && e.serverId === doomed));
    // Its port went with the server: our rows are collected like any removed SLA's.
    await eventually('our QoS rows of the deleted port collected', async () => {
      const view = await switches.get('compute1')!.vswitch.view();
      return [...view.qos.values()].some((q) => q.external_ids.get(TAG_OWNER) === OWNER) ? undefined : true;
    });

    // Still within the grace period: a further read keeps it.
    await agent.inventory.refresh();
    if (Date.now() - since < GRACE_MS - 100) {
      assert.equal((await api('GET', `/v1/servers/${doomed}/sla`)).status, 200, 'kept within the grace period');
    }

    // After the grace period: the next complete read removes it.
    await new Promise((r) => setTimeout(r, Math.max(0, since + GRACE_MS - Date.now()) + 50));
    await agent.inventory.refresh();
    await eventually('the orphaned SLA removed', async () => ((await api('GET', `/v1/servers/${doomed}/sla`)).status === 404 ? true : undefined));
    const afterward = await slaAndGauge();
    assert.deepEqual(afterward.sla.items.map((i) => i.server_id), [kept]);
    assert.deepEqual(afterward.sla.summary, { applied: 1, pending: 0, drifted: 0, error: 0, orphaned: 0 });
    assert.deepEqual(afterward.gauge, afterward.sla.summary);
    assert.equal(afterward.removed, 1, 'cm_agent_sla_orphans_removed_total');
    const removed = events.filter((e) => e.event === 'sla_orphan_removed');
    assert.equal(removed.length, 1);
    const [event] = removed;
    assert.ok(event);
    assert.equal(event.serverId, doomed);
    assert.equal(event.host, 'compute1');
    assert.ok(Number(event.absentS) >= 1 && Number(event.absentS) <= 10, JSON.stringify(event));

    // Nothing more to remove; the kept server's SLA stays applied.
    await agent.inventory.refresh();
    assert.equal(events.filter((e) => e.event === 'sla_orphan_removed').length, 1);
    assert.ok(await ourQos('compute2', portOf(kept)));
  });
});
