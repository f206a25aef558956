/**
 * Upload caps as OpenFlow meters on the real cloud: two guests on compute1, the
 * agent given each host's br-int management socket (`enforcement.openflow`),
 * `upload: auto` → meters. The sender's upload cap is measured with iperf3
 * (±5 %); then neutron-openvswitch-agent of compute1 is restarted — at its
 * start its cleanup deletes every br-int flow whose cookie is not its own,
 * ours included — and the time until our flow is back is measured (≤ 1 s),
 * Neutron's own pipeline still carrying the guests' traffic afterwards.
 * Traffic only flows between the two guest namespaces this test created.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ownerCookie } from '../../src/agent/enforcement/openflow-meter.ts';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { startAgent, type RunningAgent } from '../../src/agent/main.ts';
import { OpenFlowClient } from '../../src/openflow/index.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { findBinary } from '../harness/ovsdb-server.ts';
import { bootPinned, cloudIds, eventually, guestNetns, nsExec, openReal, OVSDB_ENDPOINTS, PREFIX, realCloud, realSkip, record, removeLeftovers } from './cloud.ts';
import { cleanUpUnderAgent } from './leftovers.ts';

const TOKEN = 'real-upload-token-0123456789abcdef';
const OWNER = 'cm-agent-real-upload';
const CAP = 30_000_000;
const SAMPLE_S = 10;
const WIRE_PER_GOODPUT = 1514 / 1448;
const OSR = process.env.OSR_DIR ?? '/var/lib/openstack-real';
const mgmt = (n: 1 | 2): string => `unix:${path.join(OSR, 'ovs', `c${String(n)}`, 'br-int.mgmt')}`;

/** Restarts compute1's neutron-openvswitch-agent the way ../shared/openstack/up.sh starts it (its pid file, its log). */
async function restartNeutronOvsAgent(): Promise<void> {
  const pidFile = path.join(OSR, 'run', 'neutron-ovs-agent-c1.pid');
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  assert.ok(Number.isSafeInteger(pid) && pid > 1, `pid in ${pidFile}`);
  process.kill(pid, 'SIGTERM');
  await eventually('the old neutron-openvswitch-agent to exit', () => {
    try {
      process.kill(pid, 0);
      return false;
    } catch {
      return true;
    }
  }, 30_000, 100);
  const log = openSync(path.join(OSR, 'log', 'neutron-ovs-agent-c1.log'), 'a');
  try {
    const child = spawn(
      'neutron-openvswitch-agent',
      ['--config-file', path.join(OSR, 'etc/neutron/neutron.conf'), '--config-file', path.join(OSR, 'etc/neutron/ovs_agent_c1.ini')],
      { detached: true, stdio: ['ignore', log, log], env: process.env },
    );
    child.unref();
    assert.ok(child.pid !== undefined);
    writeFileSync(pidFile, `${String(child.pid)}\n`);
  } finally {
    closeSync(log);
  }
}

/** True when a 1 s TCP flow gets from `sender` to a one-off iperf3 server on `receiver`. */
async function reaches(sender: { id: string }, receiver: { id: string; ip: string }): Promise<boolean> {
  const server = spawn('ip', ['netns', 'exec', guestNetns(receiver.id), 'iperf3', '-s', '-1', '-B', receiver.ip], { stdio: 'ignore' });
  try {
    await eventually('the receiver listening', async () => (await nsExec(guestNetns(receiver.id), 'ss', '-Hltn', 'sport = :5201')).trim() !== '', 10_000, 100);
    await nsExec(guestNetns(sender.id), 'iperf3', '-c', receiver.ip, '-t', '1', '--connect-timeout', '1000');
    return true;
  } finally {
    server.kill();
  }
}

async function iperfWire(sender: { id: string }, receiver: { id: string; ip: string }, seconds: number): Promise<number> {
  const server = spawn('ip', ['netns', 'exec', guestNetns(receiver.id), 'iperf3', '-s', '-1', '-B', receiver.ip], { stdio: 'ignore' });
  try {
    await eventually('the receiver listening', async () => {
      const out = await nsExec(guestNetns(receiver.id), 'ss', '-Hltn', 'sport = :5201');
      return out.trim() !== '';
    }, 10_000, 100);
    const out = await nsExec(guestNetns(sender.id), 'iperf3', '-c', receiver.ip, '-t', String(seconds), '-O', '1', '-J');
    const json = JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
    assert.equal(json.error, undefined);
    const goodput = json.end?.sum_received?.bits_per_second;
    assert.ok(typeof goodput === 'number' && goodput > 0, out.slice(0, 400));
    return goodput * WIRE_PER_GOODPUT;
  } finally {
    server.kill();
  }
}

describe('upload caps as OpenFlow meters on the real cloud, through a neutron-openvswitch-agent restart', { skip: realSkip }, () => {
  let os: OpenStack;
  let agent: RunningAgent;
  let watcher: OpenFlowClient;
  const cookie = ownerCookie(OWNER);
  const guests: { id: string; portId: string; dev: string; ip: string }[] = [];

  const api = async (method: string, url: string, body?: unknown): Promise<{ status: number; json: unknown }> => {
    const res = await fetch(`${agent.url}${url}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as unknown) : undefined };
  };
  const ourFlows = async (): Promise<number> => (await watcher.flowStats({ cookie, cookieMask: 0xffff_ffff_ffff_ffffn })).length;

  before(async () => {
    if (findBinary('iperf3') === undefined) throw new Error('iperf3 is not installed (the CI installs it; apt-get install iperf3)');
    os = openReal();
    await removeLeftovers(os);
    const ids = await cloudIds(os, { flavor: 'm1.tiny', network: 'private' });
    for (const name of ['up-sender', 'up-receiver']) guests.push(await bootPinned(os, name, 'compute1', ids));
    const config = parseAgentConfig(
      [
        'listen: { host: 127.0.0.1, port: 0 }',
        `auth: { tokens: [${TOKEN}] }`,
        'store: { path: ":memory:" }',
        `ovsdb: { endpoints: { compute1: "${OVSDB_ENDPOINTS.compute1}", compute2: "${OVSDB_ENDPOINTS.compute2}" } }`,
        `enforcement: { upload: auto, openflow: { endpoints: { compute1: "${mgmt(1)}", compute2: "${mgmt(2)}" } } }`,
        'inventory: { refresh_interval_ms: 2000 }',
        `owner: ${OWNER}`,
      ].join('\n'),
      {},
    );
    agent = await startAgent(config, { cloud: realCloud(), log: process.env.CM_TEST_AGENT_LOG === '1' });
    watcher = new OpenFlowClient({ endpoint: mgmt(1), asyncMessages: false, reconnect: { enabled: true, initialDelayMs: 50, maxDelayMs: 500 } });
    await watcher.connect();
  });

  // The SLA and the servers go while the agent still runs, which removes its flow and meter; then it stops (issue 16).
  after(async () => {
    (watcher as OpenFlowClient | undefined)?.close();
    try {
      await cleanUpUnderAgent({
        os,
        agent,
        owner: OWNER,
        serverIds: guests.map((g) => g.id),
        serverNamePrefix: `${PREFIX}-up-`,
        deleteSla: (id) => api('DELETE', `/v1/servers/${id}/sla`),
      });
    } finally {
      await (os as OpenStack | undefined)?.close();
    }
  });

  it(`caps what the sender uploads at ${String(CAP / 1e6)} Mbit/s within ±5 % with a meter`, async () => {
    const [sender, receiver] = guests;
    assert.ok(sender && receiver);
    await agent.inventory.refresh();
    const put = await api('PUT', `/v1/servers/${sender.id}/sla`, { upload: { max: CAP } });
    assert.equal(put.status, 201, JSON.stringify(put.json));
    const port = await eventually('the meter applied on the sender’s port', async () => {
      const hosts = (await api('GET', '/v1/hosts')).json as { hosts: { servers: { id: string; ports: { ovs: { upload: { mechanism: string; rate_kbps: number } | null } | null }[] }[] }[] };
      const upload = hosts.hosts.flatMap((h) => h.servers).find((s) => s.id === sender.id)?.ports[0]?.ovs?.upload;
      return upload?.rate_kbps === CAP / 1000 ? upload : undefined;
    }, 30_000);
    assert.equal(port.mechanism, 'meter');
    const status = await eventually('the SLA reported applied', async () => {
      const body = (await api('GET', `/v1/sla?server_id=${sender.id}`)).json as { items: { state: string; ports: { upload_mechanism: string; upload_reason: string }[] }[] };
      return body.items[0]?.state === 'applied' ? body.items[0] : undefined;
    }, 10_000, 100);
    assert.equal(status.ports[0]?.upload_mechanism, 'meter');
    assert.equal(await ourFlows(), 1);

    // The guests reach each other through Neutron's pipeline (our flow resubmits into it).
    await eventually('the sender reaches the receiver', () => reaches(sender, receiver), 30_000, 500);
    // 10 s: under a meter (a policer) TCP saw-tooths, and the average of a short run swings with where the teeth fall.
    // 5 s runs here measured 27.4–30.7 Mbit/s (one clean CI run failed at 27.35); the testbed measured 94–105 % over
    // 3 s and 97–102 % over 6 s.
    const started = Date.now();
    const wire = await iperfWire(sender, receiver, SAMPLE_S);
    record(`upload meter: iperf3 ${String(SAMPLE_S)} s through the cap`, Date.now() - started, `wire ${(wire / 1e6).toFixed(1)} Mbit/s, cap ${String(CAP / 1e6)}`);
    assert.ok(Math.abs(wire - CAP) <= CAP * 0.05, `wire rate ${(wire / 1e6).toFixed(2)} Mbit/s is not within ±5 % of ${String(CAP / 1e6)} Mbit/s`);
    // Our flow stayed in place through the run: nobody (the agent itself included) deleted and re-added it meanwhile.
    // It once was, ~75 times a second, when br-phys' patch port had the OpenFlow number of the sender's port.
    const [flow] = await watcher.flowStats({ cookie, cookieMask: 0xffff_ffff_ffff_ffffn });
    assert.ok(flow && flow.durationSec >= SAMPLE_S, `our flow is ${String(flow?.durationSec)} s old after a ${String(SAMPLE_S)} s run`);
  });

  it('puts our flow back within 1 s after neutron-openvswitch-agent restarts and deletes it; the guests still reach each other', async () => {
    const [sender, receiver] = guests;
    assert.ok(sender && receiver);
    const restarted = Date.now();
    await restartNeutronOvsAgent();
    // Its cleanup runs after its first loop (about 13 s here): watch closely for the gap.
    let gone = 0;
    await eventually('neutron-openvswitch-agent to delete our flow', async () => {
      if ((await ourFlows()) === 0) {
        gone = Date.now();
        return true;
      }
      return false;
    }, 120_000, 5);
    await eventually('our flow back', async () => (await ourFlows()) === 1, 10_000, 5);
    const back = Date.now() - gone;
    record('neutron-openvswitch-agent restart: our flow deleted → back', back, `deleted ${((gone - restarted) / 1000).toFixed(1)} s after the restart`);
    console.log(`# neutron-openvswitch-agent deleted our flow ${((gone - restarted) / 1000).toFixed(1)} s after its restart; back in ${String(back)} ms`);
    assert.ok(back <= 1000, `our flow came back ${String(back)} ms after Neutron deleted it`);

    // Neutron's flows still run after ours, and the cap still holds. A restarted neutron-openvswitch-agent
    // re-provisions every port; the guests lost each other for up to ~35 s here with no agent of ours running.
    const reconnecting = Date.now();
    await eventually('the sender reaches the receiver again', () => reaches(sender, receiver), 180_000, 500);
    record('neutron-openvswitch-agent restart: guests reach each other again', Date.now() - reconnecting, 'after our flow was back');
    // The same 10 s as the first measurement: a 3 s run measured 31.98 Mbit/s (+6.6 %) in one clean CI run.
    const measured = Date.now();
    const wire = await iperfWire(sender, receiver, SAMPLE_S);
    record(`upload meter after the restart: iperf3 ${String(SAMPLE_S)} s`, Date.now() - measured, `wire ${(wire / 1e6).toFixed(1)} Mbit/s, cap ${String(CAP / 1e6)}`);
    assert.ok(Math.abs(wire - CAP) <= CAP * 0.05, `after the restart: ${(wire / 1e6).toFixed(2)} Mbit/s vs cap ${String(CAP / 1e6)}`);
  });

  it('removes the meter and the flow with the SLA', async () => {
    const [sender] = guests;
    assert.ok(sender);
    const del = await api('DELETE', `/v1/servers/${sender.id}/sla`);
    assert.equal(del.status, 204);
    await eventually('no flow of ours', async () => (await ourFlows()) === 0, 10_000, 50);
    const meters = await watcher.meterConfig();
    assert.deepEqual(meters.filter((m) => m.meterId >= 0x4000 && m.meterId < 0x4000 + 0xff00), []);
  });
});
