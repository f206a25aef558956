/**
 * Issue 17 on the real Zed cloud: a running topology scales. The thesis topology (five m1.tiny
 * servers on compute1) goes MediaServer 3 → 5 through PATCH: the two new servers land next to the
 * Broker they exchange traffic with, are added by a Heat stack update that leaves the five others
 * alone, and get their SLAs on the switch; then 5 → 3 removes them and their rows. Side by side,
 * the same change as a plain Heat stack update (the manager's own templates for 3 and 5
 * MediaServers, sent straight to Heat) is timed: the figures are printed with their ratio, not
 * asserted.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningAgent } from '../../src/agent/main.ts';
import type { RunningManager } from '../../src/manager/main.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { applyChanges } from '../../src/topology/changes.ts';
import { parseTopologyYaml, stackCreateRequest } from '../../src/topology/index.ts';
import { callJson, liftQuota, closeHostSwitches, eventually, freshView, HOSTS, openHostSwitches, openReal, ownedRows, realSkip, record, removeLeftovers, startRealAgent, startRealManager, type HostSwitch, type RealHost } from './cloud.ts';
import { cleanUpUnderAgent } from './leftovers.ts';

const AGENT_TOKEN = 'real-scale-agent-token-0123456789';
const TOKEN = 'real-scale-manager-token-0123456789';
const OWNER = 'cm-agent-real-scale';
const THESIS = readFileSync(path.resolve(import.meta.dirname, 'fixtures', 'thesis.yaml'), 'utf8');
const BASELINE_STACK = 'cm-real-baseline-scale';

interface View {
  id: string;
  state: string;
  placement: { assignments: Record<string, string | null> };
  units: { name: string; service_instance: string; host: string | null; server_id: string | null; sla_state: string | null }[];
  stack: { name: string; id: string | null };
  events: { state: string; from_state: string | null; message: string; at: string }[];
  error: unknown;
}

describe('scaling a running topology on the real Zed cloud', { skip: realSkip }, () => {
  let os: OpenStack;
  let agent: RunningAgent;
  let manager: RunningManager;
  let switches: Map<RealHost, HostSwitch>;

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the body type it expects
  const api = <T,>(method: string, p: string, body?: unknown): Promise<{ status: number; json: T }> => callJson<T>(`${manager.url}${p}`, TOKEN, method, body);
  const settled = async (id: string, what: string): Promise<View> =>
    eventually(what, async () => {
      const v = (await api<View>('GET', `/v1/topologies/${id}`)).json;
      if (v.state === 'FAILED') throw new Error(`FAILED: ${JSON.stringify(v.error)}`);
      return v.state === 'ACTIVE' ? v : undefined;
    }, 400_000, 200);
  const rowsOfOurs = async (): Promise<number> => {
    let n = 0;
    for (const host of HOSTS) n += ownedRows(await freshView(switches, host), OWNER).qos;
    return n;
  };
  /** When the topology's history says the stack update completed. */
  const updateCompletedAt = (v: View, after: number): number | undefined => {
    const e = v.events.find((x) => x.state === 'DEPLOYED' && /UPDATE_COMPLETE/.test(x.message) && Date.parse(x.at) >= after - 1000);
    return e === undefined ? undefined : Date.parse(e.at);
  };

  let restoreQuota: (() => Promise<void>) | undefined;

  before(async () => {
    os = openReal();
    await removeLeftovers(os);
    // Seven servers of the topology and five of the baseline: more than the admin project's default 10 instances; restored after.
    restoreQuota = await liftQuota(os);
    agent = await startRealAgent(AGENT_TOKEN, OWNER);
    manager = await startRealManager({ url: agent.url, token: AGENT_TOKEN }, { static: TOKEN });
    switches = await openHostSwitches();
  });

  after(async () => {
    if ((switches as typeof switches | undefined) !== undefined) closeHostSwitches(switches);
    const errors: string[] = [];
    await (manager as RunningManager | undefined)?.stop().catch((error: unknown) => errors.push(`stopping the manager: ${(error as Error).message}`));
    await cleanUpUnderAgent({ os, agent, owner: OWNER, first: () => removeLeftovers(os) }).catch((error: unknown) => errors.push((error as Error).message));
    await restoreQuota?.().catch((error: unknown) => errors.push(`restoring the quota: ${(error as Error).message}`));
    await os.close();
    assert.deepEqual(errors, [], `clean-up: ${errors.join('; ')}`);
  });

  it('MediaServer 3 → 5 → 3 through PATCH, next to the Broker, the other servers untouched; timed against a plain Heat stack update', async () => {
    const created = await api<View>('POST', '/v1/topologies', { topology: THESIS, topology_file: 'thesis.yaml' });
    assert.equal(created.status, 202, JSON.stringify(created.json));
    const id = created.json.id;
    const before = await settled(id, 'thesis topology ACTIVE');
    const brokerHost = before.placement.assignments['Broker-1'];
    assert.ok(brokerHost);
    assert.equal(await rowsOfOurs(), 5);

    const asked = Date.now();
    const out = await api<View>('PATCH', `/v1/topologies/${id}`, { service_instances: { MediaServer: { count: 5 } } });
    assert.equal(out.status, 202, JSON.stringify(out.json));
    const scaled = await settled(id, 'scaled out, ACTIVE');
    const activeMs = Date.now() - asked;
    const stackMs = (updateCompletedAt(scaled, asked) ?? Date.now()) - asked;
    for (const u of before.units) assert.equal(scaled.units.find((x) => x.name === u.name)?.server_id, u.server_id, `${u.name} kept its server`);
    for (const name of ['MediaServer-4', 'MediaServer-5']) {
      const u = scaled.units.find((x) => x.name === name);
      assert.ok(u?.server_id, name);
      assert.equal(u.sla_state, 'applied');
      assert.equal(u.host, brokerHost, `${name} next to the Broker`);
      assert.equal((await os.nova.getServer(u.server_id)).host, brokerHost, `Nova puts ${name} on ${brokerHost}`);
    }
    assert.equal((await os.heat.getStack(scaled.stack.name)).status, 'UPDATE_COMPLETE');
    await eventually('seven QoS rows of ours', async () => ((await rowsOfOurs()) === 7 ? true : undefined), 30_000);

    // The same change as a plain Heat stack update: the manager's templates for 3 and 5 MediaServers, straight to
    // Heat, pinned to the other host (the topology's host has no room for five more; the fake driver boots alike on both).
    const otherHost = HOSTS.find((h) => h !== brokerHost) ?? 'compute2';
    const topology = parseTopologyYaml({ name: 'thesis.yaml', text: THESIS });
    const render = (count: number) => {
      const t = applyChanges(topology, { service_instances: { MediaServer: { count } } });
      return stackCreateRequest(t, { assignments: Object.fromEntries(t.units.map((u) => [u.id, otherHost])), availabilityZone: 'nova', stackName: BASELINE_STACK, timeoutMins: 5 });
    };
    const three = render(3);
    const base = await os.heat.createStack({ name: BASELINE_STACK, template: three.template, disableRollback: true, timeoutMins: 5 });
    const baseline = await os.heat.waitForStack(BASELINE_STACK, base.id, { intervalMs: 200, timeoutMs: 300_000 });
    assert.equal(baseline?.status, 'CREATE_COMPLETE', baseline?.statusReason);
    const plainAsked = Date.now();
    await os.heat.updateStack(BASELINE_STACK, base.id, { template: render(5).template, disableRollback: true, timeoutMins: 5 });
    const plain = await os.heat.waitForStack(BASELINE_STACK, base.id, { intervalMs: 200, timeoutMs: 300_000 });
    const plainMs = Date.now() - plainAsked;
    assert.equal(plain?.status, 'UPDATE_COMPLETE', plain?.statusReason);
    await os.heat.deleteStack(BASELINE_STACK, base.id);
    record('scale-out by 2 (PATCH): asked → stack UPDATE_COMPLETE', stackMs);
    record('scale-out by 2 (PATCH): asked → ACTIVE, the new SLAs applied', activeMs, `(${(activeMs / plainMs).toFixed(2)}× the plain update)`);
    record('scale-out by 2 (plain Heat stack update of the same templates, polled every 0.2 s)', plainMs);

    const back = await api<View>('PATCH', `/v1/topologies/${id}`, { service_instances: { MediaServer: { count: 3 } } });
    assert.equal(back.status, 202, JSON.stringify(back.json));
    const shrunk = await settled(id, 'scaled in, ACTIVE');
    assert.deepEqual(shrunk.units.map((u) => u.name), before.units.map((u) => u.name));
    for (const name of ['MediaServer-4', 'MediaServer-5']) {
      const gone = scaled.units.find((x) => x.name === name)?.server_id ?? '';
      await eventually(`${name}'s server deleted`, async () => ((await os.nova.listServers({ allTenants: true })).some((s) => s.id === gone) ? undefined : true), 120_000);
    }
    await eventually('five QoS rows of ours again', async () => ((await rowsOfOurs()) === 5 ? true : undefined), 60_000);
    await os.heat.waitForStack(BASELINE_STACK, base.id, { intervalMs: 500, timeoutMs: 120_000 }).catch(() => undefined);

    assert.equal((await api('DELETE', `/v1/topologies/${id}`)).status, 202);
    await eventually('DELETED', async () => ((await api<View>('GET', `/v1/topologies/${id}`)).json.state === 'DELETED' ? true : undefined), 300_000, 250);
  });
});
