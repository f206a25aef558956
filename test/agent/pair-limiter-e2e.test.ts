/**
 * The guarantee controller's pair limiters on a real ovs-vswitchd (testbed):
 * one flow and one meter per VM pair with SLAs, re-installed after another
 * controller deletes them (neutron-openvswitch-agent's `cleanup_flows` removes
 * every flow with a foreign cookie) and after an ovs-vswitchd restart, the
 * `/v1/sla` guarantee view, and nothing of ours left once the SLAs are gone.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pairCookie } from '../../src/agent/enforcement/pair-limiter.ts';
import { startScenarioEnv, thesisCloud, type BootedServer, type ScenarioEnv } from '../../src/testbed/scenarios/env.ts';
import { integrationRequired, realOvsAvailable, run } from '../harness/ovsdb-server.ts';

const requirement = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vswitchd', 'ovs-ofctl', 'ip', 'tc', 'ethtool']);
const notRoot = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';
if (notRoot && integrationRequired()) throw new Error('the pair limiter end-to-end test needs root here (CI or CM_REQUIRE_INTEGRATION=1)');

const HOST = 'compute1';
const OWNER = 'cm-testbed-scenario';

async function eventually<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

describe('pair limiters of the guarantee controller (real ovs-vswitchd)', { skip: requirement.skip || notRoot }, () => {
  let env: ScenarioEnv;
  let a: BootedServer;
  let b: BootedServer;
  const cookie = `0x${pairCookie(OWNER).toString(16)}`;

  const ofctl = async (command: string, ...args: string[]): Promise<string> => {
    const socket = path.join(path.dirname(env.testbed.host(HOST).vswitchdLog), 'br-int.mgmt');
    const { stdout } = await run('ovs-ofctl', ['-O', 'OpenFlow13', command, `unix:${socket}`, ...args]);
    return stdout;
  };
  const pairFlows = async (): Promise<string[]> => (await ofctl('dump-flows', `cookie=${cookie}/-1`)).split('\n').filter((l) => l.includes('cookie='));
  const pairMeters = async (): Promise<number[]> =>
    [...(await ofctl('dump-meters')).matchAll(/meter=(\d+)/g)].map((m) => Number(m[1])).filter((id) => id >= 0x20000);
  const twoPairs = async (): Promise<string[] | false> => {
    const flows = await pairFlows();
    return flows.length === 2 && (await pairMeters()).length === 2 ? flows : false;
  };

  before(async () => {
    env = await startScenarioEnv({ scenario: thesisCloud(), prefix: `pl${String(process.pid % 10000)}`, uplinkBps: 10_000_000 });
    a = await env.boot('A', HOST);
    b = await env.boot('B', HOST);
    await env.setSla(a, { download: { min: 2_000_000, max: 10_000_000 } });
    await env.setSla(b, { download: { min: 1_000_000, max: 10_000_000 } });
  });
  after(async () => {
    await env.close();
  });

  it('installs one flow and one meter per pair, with our cookie, matching sender port and receiver MAC', async () => {
    const flows = await eventually('two pair flows and meters', twoPairs);
    for (const f of flows) {
      assert.match(f, /priority=60010/);
      assert.match(f, /reg12=0\/0x2/);
      assert.match(f, /actions=meter:\d+,load:0x1->NXM_NX_REG12\[1\],resubmit\(,0\)/);
    }
    const macs = flows.map((f) => /dl_dst=([0-9a-f:]+)/.exec(f)?.[1]).sort();
    const ports = [...env.sim.state.ports.values()].filter((p) => p.id === a.portId || p.id === b.portId).map((p) => p.macAddress.toLowerCase()).sort();
    assert.deepEqual(macs, ports);
    const status = (await env.agentApi('GET', `/v1/sla?server_id=${a.id}`)) as { items: { guarantee?: { download?: { guarantee_bps: number } | null; pairs: number } | null }[] };
    const guarantee = status.items.at(0)?.guarantee;
    assert.equal(guarantee?.download?.guarantee_bps, 2_000_000);
    assert.equal(guarantee.pairs, 2);
  });

  it('re-installs flows another controller deletes, within a few rounds', async () => {
    await eventually('two pair flows', twoPairs);
    const started = Date.now();
    await ofctl('del-flows', `cookie=${cookie}/-1`);
    assert.equal((await pairFlows()).length, 0);
    await eventually('the pair flows back', twoPairs, 5000, 20);
    const ms = Date.now() - started;
    assert.ok(ms < 3000, `re-installed in ${String(ms)} ms`);
  });

  it('re-installs flows and meters after ovs-vswitchd restarts', async () => {
    await env.testbed.restartVswitchd(HOST);
    await eventually('the pair flows and meters after the restart', twoPairs, 20_000);
  });

  it('removes its flows and meters when the SLAs go away', async () => {
    await env.agentApi('DELETE', `/v1/servers/${b.id}/sla`);
    await eventually('no pair left (one SLA server has no peer)', async () => (await pairFlows()).length === 0 && (await pairMeters()).length === 0);
  });
});
