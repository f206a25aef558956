/**
 * The data plane of the real cloud: two servers on one host (their guests are the fake
 * driver's namespaces `osrvm-<uuid8>`, wired to that host's ovs-vswitchd), a 50 Mbit/s
 * download cap set through the agent, and iperf3 from one guest to the other for 5 s.
 * The receiver's goodput, converted to frames on the wire, must be within ±5 % of the cap.
 * Traffic only ever flows between the two guest namespaces this test created.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { startAgent, type RunningAgent } from '../../src/agent/main.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { findBinary } from '../harness/ovsdb-server.ts';
import {
  bootPinned,
  cloudIds,
  eventually,
  guestNetns,
  netnsExists,
  nsExec,
  openReal,
  OVSDB_ENDPOINTS,
  realCloud,
  realSkip,
  record,
  removeLeftovers,
  PREFIX,
  tcClasses,
} from './cloud.ts';
import { cleanUpUnderAgent } from './leftovers.ts';

const TOKEN = 'real-dataplane-token-0123456789abcdef';
const OWNER = 'cm-agent-real-dataplane';
const CAP = 50_000_000;
/** A full-size TCP segment (1448 B of payload with timestamps) is 1514 B on the wire, which HTB counts. */
const WIRE_PER_GOODPUT = 1514 / 1448;

describe('the download cap holds on the real data plane (iperf3 between two guests on one host)', { skip: realSkip }, () => {
  let os: OpenStack | undefined;
  let agent: RunningAgent | undefined;
  const guests: { id: string; portId: string; dev: string; ip: string }[] = [];

  before(async () => {
    if (findBinary('iperf3') === undefined) throw new Error('iperf3 is not installed (the CI installs it; apt-get install iperf3)');
    os = openReal();
    await removeLeftovers(os);
    const ids = await cloudIds(os, { flavor: 'm1.tiny', network: 'private' });
    for (const name of ['dp-sender', 'dp-receiver']) guests.push(await bootPinned(os, name, 'compute1', ids));
    const config = parseAgentConfig(
      [
        'listen: { host: 127.0.0.1, port: 0 }',
        `auth: { tokens: [${TOKEN}] }`,
        'store: { path: ":memory:" }',
        `ovsdb: { endpoints: { compute1: "${OVSDB_ENDPOINTS.compute1}", compute2: "${OVSDB_ENDPOINTS.compute2}" } }`,
        `owner: ${OWNER}`,
      ].join('\n'),
      {},
    );
    agent = await startAgent(config, { cloud: realCloud(), log: false });
  });

  // The servers and the SLA go while the agent still runs: only it removes its QoS and Queue
  // rows (root tables OVSDB never collects), and only once it sees them orphaned (issue 16).
  after(async () => {
    try {
      await cleanUpUnderAgent({
        os,
        agent,
        owner: OWNER,
        serverIds: guests.map((g) => g.id),
        serverNamePrefix: `${PREFIX}-dp-`,
        deleteSla: (id) => fetch(`${agent?.url ?? ''}/v1/servers/${id}/sla`, { method: 'DELETE', headers: { authorization: `Bearer ${TOKEN}` } }),
      });
    } finally {
      await os?.close();
    }
  });

  it(`caps what the receiver downloads at ${String(CAP / 1e6)} Mbit/s within ±5 %`, async () => {
    const [sender, receiver] = guests;
    assert.ok(sender && receiver && agent);
    for (const g of guests) assert.ok(await netnsExists(guestNetns(g.id)), `guest namespace ${guestNetns(g.id)}`);
    await agent.inventory.refresh();
    const res = await fetch(`${agent.url}/v1/servers/${receiver.id}/sla`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ download: { max: CAP } }),
    });
    assert.equal(res.status, 201, await res.text());
    await eventually('the cap as an HTB class on the receiver’s tap device', async () => {
      const root = (await tcClasses('compute1', receiver.dev)).find((c) => c.classid === '1:fffe');
      return root?.rate === CAP;
    }, 30_000);

    const server = spawn('ip', ['netns', 'exec', guestNetns(receiver.id), 'iperf3', '-s', '-B', receiver.ip], { stdio: 'ignore' });
    try {
      // The guests have no ping; a 1 s iperf3 run shows they reach each other over br-int.
      await eventually('the sender reaches the receiver', async () => {
        await nsExec(guestNetns(sender.id), 'iperf3', '-c', receiver.ip, '-t', '1', '--connect-timeout', '1000');
        return true;
      }, 30_000, 500);
      const started = Date.now();
      const out = await nsExec(guestNetns(sender.id), 'iperf3', '-c', receiver.ip, '-t', '5', '-O', '1', '-J');
      const json = JSON.parse(out) as { end?: { sum_received?: { bits_per_second?: number } }; error?: string };
      const goodput = json.end?.sum_received?.bits_per_second;
      assert.equal(json.error, undefined);
      assert.ok(typeof goodput === 'number' && goodput > 0, out.slice(0, 500));
      const wire = goodput * WIRE_PER_GOODPUT;
      record('data plane: iperf3 5 s through the cap', Date.now() - started, `goodput ${(goodput / 1e6).toFixed(1)} Mbit/s, wire ${(wire / 1e6).toFixed(1)} Mbit/s, cap ${String(CAP / 1e6)}`);
      assert.ok(Math.abs(wire - CAP) <= CAP * 0.05, `wire rate ${(wire / 1e6).toFixed(2)} Mbit/s (goodput ${(goodput / 1e6).toFixed(2)}) is not within ±5 % of ${String(CAP / 1e6)} Mbit/s`);
    } finally {
      server.kill();
    }
  });
});
