/**
 * The Connectivity Manager against the real Zed cloud, with the real agent between it and
 * the hosts' switches: the thesis topology (on the cloud's flavor and image,
 * fixtures/) is deployed through real Heat, lands where the plan said, reaches ACTIVE with
 * every SLA on the switches; a topology too big for one host (a large flavor made here)
 * is split as planned; deleting a topology removes the stack and every SLA row. The time
 * from submission to servers ACTIVE and to SLAs applied is printed, not asserted.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningAgent } from '../../src/agent/main.ts';
import type { RunningManager } from '../../src/manager/main.ts';
import { joinUrl, OpenStackApiError, type OpenStack } from '../../src/openstack/index.ts';
import { callJson, liftQuota, closeHostSwitches, eventually, freshView, HOSTS, openHostSwitches, openReal, ownedRows, realSkip, record, removeLeftovers, startRealAgent, startRealManager, tcClasses, type HostSwitch, type RealHost } from './cloud.ts';
import { cleanUpUnderAgent } from './leftovers.ts';

const FIXTURES = path.resolve(import.meta.dirname, 'fixtures');
const read = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');
const services = (): string[] => ['ControllerService.json', 'BrokerService.json', 'MediaService.json'].map(read);
const AGENT_TOKEN = 'real-manager-agent-token-0123456789';
const TOKEN = 'real-manager-token-0123456789abcdef';
const OWNER = 'cm-agent-real-manager';
/** Big enough that compute1 (16 GiB × 1.5 − 512 MiB) holds one and compute2 (64 GiB × 1.5 − 512 MiB) seven. */
const XL = { name: 'cm-real-xl', vcpus: 1, ram: 12288, disk: 5 };
const GOLD = { min: '100000000', max: '10000000000' };
const WHOLESALE = { min: '100000000', max: '1000000000' };

interface TopologyView {
  id: string;
  state: string;
  placement: { feasible: boolean; hosts: string[]; assignments: Record<string, string | null> } | null;
  units: { name: string; sla_class: string; planned_host: string | null; host: string | null; server_id: string | null; sla_state: string | null }[];
  stack: { name: string; id: string | null };
  error: { code: string; message: string } | null;
}

describe('Connectivity Manager against the real Zed cloud', { skip: realSkip }, () => {
  let os: OpenStack;
  let agent: RunningAgent;
  let manager: RunningManager;
  let switches: Map<RealHost, HostSwitch>;
  let restoreQuota: (() => Promise<void>) | undefined;
  let flavorId: string | undefined;

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the body type it expects
  const api = <T,>(method: string, p: string, body?: unknown): Promise<{ status: number; json: T }> => callJson<T>(`${manager.url}${p}`, TOKEN, method, body);
  const topology = async (id: string): Promise<TopologyView> => (await api<TopologyView>('GET', `/v1/topologies/${id}`)).json;

  /** Follows a topology to ACTIVE, noting when its servers were ACTIVE and when its SLAs were applied. */
  const follow = async (id: string, submitted: number, label: string): Promise<TopologyView> => {
    let serversActive: number | undefined;
    const t = await eventually(`topology ${label} ACTIVE`, async () => {
      const v = await topology(id);
      if (v.state === 'FAILED') throw new Error(`FAILED: ${JSON.stringify(v.error)}`);
      if (serversActive === undefined && ['DEPLOYED', 'ENFORCING', 'ACTIVE'].includes(v.state)) serversActive = Date.now();
      return v.state === 'ACTIVE' ? v : undefined;
    }, 400_000, 200).catch(async (error: unknown) => {
      throw new Error(`${(error as Error).message}; last view: ${JSON.stringify(await topology(id))}`);
    });
    const done = Date.now();
    const n = t.units.length;
    record(`${label}: submitted → ${String(n)} servers ACTIVE (stack complete)`, (serversActive ?? done) - submitted);
    record(`${label}: submitted → all ${String(n)} SLAs applied (ACTIVE)`, done - submitted);
    return t;
  };

  /** Every unit's port carries its class's QoS on the host it landed on, and nothing of ours elsewhere. */
  const assertSlasOnSwitches = async (t: TopologyView): Promise<void> => {
    for (const u of t.units) {
      assert.ok(u.server_id && u.host, `${u.name} has a server and a host`);
      const ports = await os.neutron.listPorts({ deviceId: u.server_id });
      assert.equal(ports.length, 1);
      const port = ports[0];
      assert.ok(port);
      assert.equal(port.hostId, u.host);
      const view = await freshView(switches, u.host as RealHost);
      const found = view.findByIfaceId(port.id);
      assert.ok(found, `${u.name}'s port on ${u.host}'s switch`);
      const qos = found.port.qos === undefined ? undefined : view.qos.get(found.port.qos);
      assert.equal(qos?.external_ids.get('cm-owner'), OWNER, `${u.name}: our QoS`);
      const q0 = view.queues.get(qos.queues.get(0) ?? '');
      const want = u.sla_class === 'Gold' ? GOLD : WHOLESALE;
      assert.deepEqual({ min: q0?.other_config.get('min-rate'), max: qos.other_config.get('max-rate') }, want, `${u.name} (${u.sla_class})`);
    }
    let rows = 0;
    for (const host of HOSTS) rows += ownedRows(await freshView(switches, host), OWNER).qos;
    assert.equal(rows, t.units.length, 'one QoS of ours per unit, none elsewhere');
  };

  const assertDeleted = async (t: TopologyView): Promise<void> => {
    const d = await api<TopologyView>('DELETE', `/v1/topologies/${t.id}`);
    assert.equal(d.status, 202);
    await eventually(`topology ${t.id} DELETED`, async () => ((await topology(t.id)).state === 'DELETED' ? true : undefined), 300_000, 250);
    assert.equal(await os.heat.findStack(t.stack.name), undefined, 'the stack is gone');
    for (const u of t.units) {
      await eventually(`server of ${u.name} deleted`, async () => {
        try {
          await os.nova.getServer(u.server_id ?? '');
          return false;
        } catch (error) {
          return error instanceof OpenStackApiError && error.status === 404;
        }
      });
    }
    for (const host of HOSTS) {
      await eventually(`no QoS/Queue rows of ours on ${host}`, async () => {
        const r = ownedRows(await freshView(switches, host), OWNER);
        return r.qos === 0 && r.queues === 0;
      }, 60_000);
    }
  };

  const compute = async (method: string, p: string, body?: unknown, okStatus?: number[]): Promise<unknown> => {
    const res = await os.http.request({
      service: 'compute',
      method,
      url: joinUrl(await os.keystone.endpoint('compute'), p),
      auth: os.keystone,
      microversion: { service: 'compute', version: '2.88' },
      ...(body === undefined ? {} : { body }),
      ...(okStatus ? { okStatus } : {}),
    });
    return res.body;
  };

  before(async () => {
    os = openReal();
    await removeLeftovers(os);
    // The split needs more than the admin project's default quota (20 cores, 50 GiB): lifted here, restored after.
    restoreQuota = await liftQuota(os);
    const old = (await os.nova.listFlavors()).find((f) => f.name === XL.name);
    if (old) await compute('DELETE', `/flavors/${old.id}`, undefined, [202, 204]);
    const created = (await compute('POST', '/flavors', { flavor: { name: XL.name, vcpus: XL.vcpus, ram: XL.ram, disk: XL.disk } })) as { flavor: { id: string } };
    flavorId = created.flavor.id;

    agent = await startRealAgent(AGENT_TOKEN, OWNER);
    manager = await startRealManager({ url: agent.url, token: AGENT_TOKEN }, { static: TOKEN });
    switches = await openHostSwitches();
  });

  // The manager stops first (it starts nothing more); the stacks and servers then go while the
  // agent still runs, which removes its rows; only then it stops (issue 16).
  after(async () => {
    if ((switches as typeof switches | undefined) !== undefined) closeHostSwitches(switches);
    const errors: string[] = [];
    await (manager as RunningManager | undefined)?.stop().catch((error: unknown) => errors.push(`stopping the manager: ${(error as Error).message}`));
    await cleanUpUnderAgent({
      os,
      agent,
      owner: OWNER,
      first: () => removeLeftovers(os),
    }).catch((error: unknown) => errors.push((error as Error).message));
    if (flavorId !== undefined) await compute('DELETE', `/flavors/${flavorId}`, undefined, [202, 204]).catch(() => undefined);
    await restoreQuota?.().catch(() => undefined);
    await os.close();
    assert.deepEqual(errors, [], `clean-up: ${errors.join('; ')}`);
  });

  it('deploys the thesis topology through real Heat: on the planned host, ACTIVE, every SLA on the switch', async () => {
    const plan = await api<{ plan: { feasible: boolean; hosts: string[] } }>('POST', '/v1/plans', { topology: read('topology.json'), topology_file: 'topology.json', services: services() });
    assert.equal(plan.status, 200, JSON.stringify(plan.json));
    assert.deepEqual(plan.json.plan.hosts, ['compute1'], 'the tightest host that holds all five');

    const submitted = Date.now();
    const r = await api<TopologyView>('POST', '/v1/topologies', { topology: read('topology.json'), topology_file: 'topology.json', services: services() });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    const t = await follow(r.json.id, submitted, 'thesis topology (5 × m1.tiny)');
    assert.deepEqual(t.placement?.hosts, ['compute1']);
    for (const u of t.units) {
      assert.equal(u.planned_host, 'compute1');
      assert.equal(u.host, u.planned_host, `${u.name} landed where planned`);
      assert.equal(u.sla_state, 'applied');
      const s = await os.nova.getServer(u.server_id ?? '');
      assert.equal(s.status, 'ACTIVE');
      assert.equal(s.host, 'compute1', `Nova puts ${u.name} on compute1`);
    }
    assert.deepEqual(t.units.map((u) => `${u.name}:${u.sla_class}`).sort(), ['Broker-1:Wholesale', 'Controller-1:Wholesale', 'MediaServer-1:Gold', 'MediaServer-2:Gold', 'MediaServer-3:Gold']);
    const stack = await os.heat.getStack(t.stack.name);
    assert.equal(stack.status, 'CREATE_COMPLETE');
    await assertSlasOnSwitches(t);
    // One port's HTB classes in the kernel, as a spot check of the whole chain.
    const ms = t.units.find((u) => u.sla_class === 'Gold');
    const port = (await os.neutron.listPorts({ deviceId: ms?.server_id ?? '' }))[0];
    const dev = `tap${port?.id ?? ''}`.slice(0, 14);
    await eventually(`HTB classes on ${dev}`, async () => {
      const byId = new Map((await tcClasses('compute1', dev)).map((c) => [c.classid, c]));
      return byId.get('1:fffe')?.rate === 10_000_000_000 && byId.get('1:1')?.rate === 100_000_000;
    }, 20_000);
    await assertDeleted(t);
  });

  it('splits a topology too big for one host as planned (a 12 GiB flavor: compute1 holds one, compute2 seven)', async () => {
    const yaml = read('thesis.yaml')
      .replace(/name: .*\n/, 'name: cm-real-split\n')
      .replaceAll('flavor: m1.tiny', `flavor: ${XL.name}`)
      .replace(/def: 3/, 'def: 6')
      .replace(/max: 5/, 'max: 6');
    const plan = await api<{ plan: { feasible: boolean; hosts: string[]; assignments: Record<string, string> } }>('POST', '/v1/plans', { topology: yaml, topology_file: 'split.yaml' });
    assert.equal(plan.status, 200, JSON.stringify(plan.json));
    assert.equal(plan.json.plan.feasible, true);
    assert.deepEqual([...plan.json.plan.hosts].sort(), ['compute1', 'compute2']);
    const perHost = (a: Record<string, string | null>): Record<string, number> => {
      const out: Record<string, number> = {};
      for (const h of Object.values(a)) if (h !== null) out[h] = (out[h] ?? 0) + 1;
      return out;
    };
    assert.deepEqual(perHost(plan.json.plan.assignments), { compute1: 1, compute2: 7 });

    const submitted = Date.now();
    const r = await api<TopologyView>('POST', '/v1/topologies', { topology: yaml, topology_file: 'split.yaml' });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    const t = await follow(r.json.id, submitted, `split topology (8 × ${XL.name})`);
    const placement = t.placement;
    assert.ok(placement);
    assert.deepEqual([...placement.hosts].sort(), ['compute1', 'compute2']);
    for (const u of t.units) {
      assert.equal(u.host, placement.assignments[u.name], `${u.name} landed where planned`);
      assert.equal((await os.nova.getServer(u.server_id ?? '')).host, u.host, `Nova agrees on ${u.name}`);
      assert.equal(u.sla_state, 'applied');
    }
    await assertSlasOnSwitches(t);
    await assertDeleted(t);
  });
});
