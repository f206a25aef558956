/**
 * The Connectivity Manager end to end on the simulated cloud whose hosts have
 * real ovsdb-servers, with the real agent between the manager and the
 * switches: the thesis topology lands on one host with Gold/Wholesale in that
 * host's OVSDB; a topology too large for one host is split over the fewest
 * hosts with its cross-host guarantees admitted; an infeasible one is refused
 * with reasons and creates nothing; delete removes the stack and every SLA
 * row. The same suite runs with the SQLite and the PostgreSQL store.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningAgent } from '../../src/agent/main.ts';
import type { RunningManager } from '../../src/manager/main.ts';
import { TAG_OWNER } from '../../src/ovsdb/vswitch/index.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { realOvsAvailable } from '../harness/ovsdb-server.ts';
import { postgresAvailable, startPostgres, type PostgresHandle } from '../harness/postgres.ts';
import { closeSwitches, openSwitches } from '../agent/inventory-helpers.ts';
import { AGENT_TOKEN, MANAGER_TOKEN as TOKEN, managerApi, startSimAgent, startSimManager } from './stack.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis');
const OWNER = 'cm-agent-manager-e2e';
const real = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl']);

let pgGate: { skip: false } | { skip: string };
try {
  pgGate = postgresAvailable();
} catch (error) {
  // Required but missing: the PostgreSQL run must fail, not skip.
  pgGate = { skip: false };
  process.env.CM_TEST_PG_ERROR = (error as Error).message;
}

const read = (name: string): string => readFileSync(path.join(FIXTURES, name), 'utf8');
const thesisServices = (): string[] => ['ControllerService.json', 'BrokerService.json', 'MediaService.json'].map(read);

interface TopologyView {
  id: string;
  name: string;
  state: string;
  placement: { feasible: boolean; hosts: string[]; assignments: Record<string, string | null>; uplink_bps: Record<string, number>; cross_host_bps: number; explanation: { summary: string } } | null;
  units: { name: string; sla_class: string; planned_host: string | null; host: string | null; server_id: string | null; sla_state: string | null }[];
  stack: { name: string; id: string | null };
  error: { code: string; message: string } | null;
  events: { state: string; message: string }[];
}

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface QosOnSwitch {
  maxRate: string | undefined;
  minRate: string | undefined;
}

/** Our QoS per OVS port name on one host's switch (queue 0's min-rate), read through a replica. */
async function ourQos(sim: SimCloud, host: string): Promise<Map<string, QosOnSwitch>> {
  const switches = await openSwitches(sim, 'observer');
  try {
    const view = await switches.get(host)!.vswitch.view();
    const out = new Map<string, QosOnSwitch>();
    for (const port of view.ports.values()) {
      const qos = port.qos === undefined ? undefined : view.qos.get(port.qos);
      if (qos?.external_ids.get(TAG_OWNER) !== OWNER) continue;
      const q0 = qos.queues.get(0);
      out.set(port.name, { maxRate: qos.other_config.get('max-rate'), minRate: q0 === undefined ? undefined : view.queues.get(q0)?.other_config.get('min-rate') });
    }
    return out;
  } finally {
    closeSwitches(switches);
  }
}

async function qosRowCount(sim: SimCloud, host: string): Promise<number> {
  const switches = await openSwitches(sim, 'observer');
  try {
    const view = await switches.get(host)!.vswitch.view();
    return view.qos.size + view.queues.size;
  } finally {
    closeSwitches(switches);
  }
}

const backends: { name: string; skip: false | string; url: () => Promise<string> }[] = [
  { name: 'SQLite', skip: false, url: () => Promise.resolve('sqlite::memory:') },
];
let pg: PostgresHandle | undefined;
backends.push({
  name: 'PostgreSQL',
  skip: pgGate.skip,
  url: async () => {
    if (process.env.CM_TEST_PG_ERROR !== undefined) throw new Error(process.env.CM_TEST_PG_ERROR);
    pg ??= await startPostgres();
    return pg.createDatabase();
  },
});

after(async () => {
  await pg?.stop();
});

for (const backend of backends) {
  describe(`Connectivity Manager on the simulated cloud (${backend.name} store)`, { skip: real.skip || backend.skip }, () => {
    let sim: SimCloud;
    let agent: RunningAgent;
    let manager: RunningManager;

    let api: ReturnType<typeof managerApi>;
    const waitState = (id: string, states: string[], timeoutMs = 30_000): Promise<TopologyView> =>
      eventually(`topology ${id} in ${states.join('|')}`, async () => {
        const r = await api<TopologyView>('GET', `/v1/topologies/${id}`);
        if (r.json.state === 'FAILED' && !states.includes('FAILED')) throw new Error(`topology FAILED: ${JSON.stringify(r.json.error)}`);
        return states.includes(r.json.state) ? r.json : undefined;
      }, timeoutMs);

    before(async () => {
      sim = await startSimCloud({ ovsdb: 'real', bootDelayMs: 20 });
      agent = await startSimAgent(sim, OWNER);
      manager = await startSimManager(sim, agent, {
        store: `{ url: "${await backend.url()}" }`,
        placement: '{ uplink: 1gbit }',
        deploy: '{ enforce_timeout_s: 20, stack_timeout_s: 60 }',
      });
      api = managerApi(manager);
    });

    after(async () => {
      await manager.stop();
      await agent.stop();
      await sim.close();
    });

    it('plans the thesis topology on one host with its reasons (dry run creates nothing)', async () => {
      const r = await api<{ plan: { feasible: boolean; hosts: string[]; explanation: { summary: string; rejected: { host: string; reasons: string[] }[] } }; units: { name: string; sla_class: string }[] }>('POST', '/v1/plans', {
        topology: read('topology.json'),
        topology_file: 'topology.json',
        services: thesisServices(),
      });
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.plan.feasible, true);
      assert.deepEqual(r.json.plan.hosts, ['compute1'], 'compute2 has 4 vCPU: 5 units do not fit');
      assert.ok(r.json.plan.explanation.rejected.some((x) => x.host === 'compute2'), 'the rejected host is explained');
      assert.deepEqual(
        r.json.units.map((u) => `${u.name}:${u.sla_class}`).sort(),
        ['Broker-1:Wholesale', 'Controller-1:Wholesale', 'MediaServer-1:Gold', 'MediaServer-2:Gold', 'MediaServer-3:Gold'],
      );
      assert.equal(sim.state.stacks.size, 0);
      assert.equal((await api<{ items: unknown[] }>('GET', '/v1/topologies')).json.items.length, 0);
    });

    let thesisId = '';
    it('deploys the thesis topology: one host, 5 servers ACTIVE, Gold and Wholesale in that host OVSDB', async () => {
      const r = await api<TopologyView>('POST', '/v1/topologies', { topology: read('topology.json'), topology_file: 'topology.json', services: thesisServices() }, { 'idempotency-key': 'thesis-1' });
      assert.equal(r.status, 202, JSON.stringify(r.json));
      assert.equal(r.headers.get('location'), `/v1/topologies/${r.json.id}`);
      thesisId = r.json.id;
      const again = await api<TopologyView>('POST', '/v1/topologies', { topology: read('topology.json'), topology_file: 'topology.json', services: thesisServices() }, { 'idempotency-key': 'thesis-1' });
      assert.equal(again.json.id, thesisId, 'same Idempotency-Key, same topology');

      const t = await waitState(thesisId, ['ACTIVE']);
      assert.deepEqual(t.placement?.hosts, ['compute1']);
      assert.ok(t.units.every((u) => u.host === 'compute1' && u.planned_host === 'compute1' && u.sla_state === 'applied'), JSON.stringify(t.units));
      const states = t.events.map((e) => e.state);
      assert.deepEqual(states.slice(-4), ['DEPLOYING', 'DEPLOYED', 'ENFORCING', 'ACTIVE']);
      const servers = [...sim.state.servers.values()].filter((s) => t.units.some((u) => u.server_id === s.id));
      assert.equal(servers.length, 5);
      assert.ok(servers.every((s) => s.status === 'ACTIVE' && s.host === 'compute1'));

      const onSwitch = await ourQos(sim, 'compute1');
      const rates = [...onSwitch.values()].map((q) => `${String(q.minRate)}/${String(q.maxRate)}`).sort();
      assert.deepEqual(rates, ['100000000/10000000000', '100000000/10000000000', '100000000/10000000000', '100000000/1000000000', '100000000/1000000000'].sort());
      assert.equal((await ourQos(sim, 'compute2')).size, 0);

      // The derived traffic demands reached the agent as pair guarantees: each MediaServer with the Broker.
      const serverOf = (unit: string): string => t.units.find((u) => u.name === unit)?.server_id ?? '';
      const agentSla = async (unit: string): Promise<{ peers?: Record<string, { min: number }> }> => {
        const response = await fetch(`${agent.url}/v1/servers/${serverOf(unit)}/sla`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } });
        return ((await response.json()) as { sla: { peers?: Record<string, { min: number }> } }).sla;
      };
      assert.deepEqual((await agentSla('MediaServer-2')).peers, { [serverOf('Broker-1')]: { min: 100_000_000 } });
      assert.equal(Object.keys((await agentSla('Broker-1')).peers ?? {}).length, 3);
      assert.equal((await agentSla('Controller-1')).peers, undefined);
    });

    it('splits a topology too large for one host over the fewest hosts, guarantees admitted', async () => {
      const yaml = read('thesis.yaml').replace(/name: .*\n/, 'name: big-media\n').replace(/def: 3/, 'def: 8').replace(/max: 5/, 'max: 8');
      const plan = await api<{ plan: { feasible: boolean; hosts: string[]; assignments: Record<string, string>; uplink_bps: Record<string, number>; cross_host_bps: number } }>('POST', '/v1/plans', { topology: yaml, topology_file: 'big.yaml' });
      assert.equal(plan.status, 200, JSON.stringify(plan.json));
      // compute1 holds the thesis topology (5 vCPU of 8): 10 more units need both hosts.
      assert.equal(plan.json.plan.feasible, false, 'with the thesis topology deployed, 10 more vCPU do not fit in 7 free');
      const del = await api<TopologyView>('DELETE', `/v1/topologies/${thesisId}`);
      assert.equal(del.status, 202);
      await waitState(thesisId, ['DELETED']);

      const r = await api<TopologyView>('POST', '/v1/topologies', { topology: yaml, topology_file: 'big.yaml' });
      assert.equal(r.status, 202, JSON.stringify(r.json));
      const t = await waitState(r.json.id, ['ACTIVE']);
      const placement = t.placement;
      assert.ok(placement);
      assert.deepEqual(placement.hosts, ['compute1', 'compute2']);
      for (const u of t.units) assert.equal(u.host, placement.assignments[u.name], `${u.name} where planned`);
      assert.ok(placement.cross_host_bps > 0);
      for (const [host, bps] of Object.entries(placement.uplink_bps)) assert.ok(bps <= 1e9, `${host} uplink ${String(bps)} ≤ 1 Gbit/s`);
      const c1 = await ourQos(sim, 'compute1');
      const c2 = await ourQos(sim, 'compute2');
      assert.equal(c1.size + c2.size, 10);
      assert.equal(c1.size, t.units.filter((u) => u.host === 'compute1').length);

      const gone = await api<TopologyView>('DELETE', `/v1/topologies/${r.json.id}`);
      assert.equal(gone.status, 202);
      await waitState(r.json.id, ['DELETED']);
      assert.equal([...sim.state.stacks.values()].filter((s) => !s.status.startsWith('DELETE')).length, 0);
      assert.equal([...sim.state.servers.values()].length, 0, 'every server deleted');
      await eventually('no QoS/Queue rows left', async () => {
        return (await qosRowCount(sim, 'compute1')) + (await qosRowCount(sim, 'compute2')) === 0 ? true : undefined;
      });
    });

    it('refuses an infeasible topology with reasons per resource and creates nothing', async () => {
      const before = (await api<{ items: unknown[] }>('GET', '/v1/topologies')).json.items.length;
      const yaml = read('thesis.yaml').replace(/name: .*\n/, 'name: too-big\n').replace(/def: 3/, 'def: 20').replace(/max: 5/, 'max: 20');
      const r = await api<{ type: string; detail: string; reasons: { resource: string; needed: number; available: number }[] }>('POST', '/v1/topologies', { topology: yaml, topology_file: 'too-big.yaml' });
      assert.equal(r.status, 422, JSON.stringify(r.json));
      assert.equal(r.json.type, '/problems/infeasible');
      assert.match(r.json.detail, /nothing was created/);
      assert.ok(r.json.reasons.length > 0 && r.json.reasons.every((x) => typeof x.resource === 'string' && x.needed > x.available), JSON.stringify(r.json.reasons));
      assert.equal((await api<{ items: unknown[] }>('GET', '/v1/topologies')).json.items.length, before);
      assert.equal([...sim.state.stacks.values()].filter((s) => !s.status.startsWith('DELETE')).length, 0);
      assert.equal(sim.state.servers.size, 0);
    });

    it('names file, line and field of every mistake in a topology (422, nothing created)', async () => {
      const bad = read('topology.json').replace('"service_type": "Broker"', '"service_type": "Brokr"');
      const r = await api<{ type: string; errors: { pointer: string; message: string }[] }>('POST', '/v1/topologies', { topology: bad, topology_file: 'topology.json', services: thesisServices() });
      assert.equal(r.status, 422);
      assert.equal(r.json.type, '/problems/invalid-topology');
      assert.ok(r.json.errors.some((e) => /^topology\.json:\d+:\d+ service_instances\[1\]\.service_type$/.test(e.pointer) && /Brokr/.test(e.message)), JSON.stringify(r.json.errors));
    });

    it("takes the thesis EMM's POST /services and POST /topologies, and deletes cleanly", async () => {
      for (const doc of thesisServices()) {
        const r = await api<{ service_type: string }>('POST', '/services', JSON.parse(doc));
        assert.equal(r.status, 201);
      }
      assert.equal((await api<unknown[]>('GET', '/services')).json.length, 3);
      const r = await api<TopologyView>('POST', '/topologies', JSON.parse(read('topology.json')));
      assert.equal(r.status, 202, JSON.stringify(r.json));
      const t = await waitState(r.json.id, ['ACTIVE']);
      assert.equal(t.units.length, 5);
      assert.ok(t.units.every((u) => u.sla_state === 'applied'));
      await api('DELETE', `/v1/topologies/${t.id}`);
      const d = await waitState(t.id, ['DELETED']);
      assert.match(d.events.at(-1)?.message ?? '', /SLAs of 5 server\(s\) removed, stack cm-local-nm-template-minified-[0-9a-f]{8} deleted/);
      assert.equal(sim.state.servers.size, 0);
    });

    it("strategy nova leaves hosts to Nova's scheduler: no pin, servers where Nova put them, SLAs still enforced", async () => {
      const r = await api<TopologyView>('POST', '/v1/topologies', { topology: read('thesis.yaml'), topology_file: 'thesis.yaml', strategy: 'nova' });
      assert.equal(r.status, 202, JSON.stringify(r.json));
      assert.ok(Object.values(r.json.placement?.assignments ?? { x: 'set' }).every((h) => h === null), 'no host chosen by the plan');
      const t = await waitState(r.json.id, ['ACTIVE']);
      assert.ok(t.units.every((u) => u.planned_host === null && u.host !== null && u.sla_state === 'applied'), JSON.stringify(t.units));
      const stack = [...sim.state.stacks.values()].find((s) => s.id === t.stack.id);
      assert.ok(stack);
      assert.doesNotMatch(JSON.stringify(stack.template), /nova:compute/, 'the template pins no host');
      await api('DELETE', `/v1/topologies/${t.id}`);
      await waitState(t.id, ['DELETED']);
    });

    it('/metrics counts what happened: topologies by state, transitions, submission → ACTIVE durations, refusals', async () => {
      const r = await fetch(`${manager.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
      assert.equal(r.status, 200);
      const text = await r.text();
      const value = (line: RegExp): number => Number(line.exec(text)?.[1] ?? NaN);
      assert.ok(value(/^cm_manager_topologies\{state="DELETED"\} (\d+)$/m) >= 4, text);
      assert.ok(value(/^cm_manager_transitions_total\{to="ACTIVE"\} (\d+)$/m) >= 4);
      assert.ok(value(/^cm_manager_deploy_duration_seconds_count (\d+)$/m) >= 4);
      assert.ok(value(/^cm_manager_topologies_refused_total\{reason="infeasible"\} (\d+)$/m) >= 1);
      assert.ok(value(/^cm_manager_topologies_refused_total\{reason="invalid"\} (\d+)$/m) >= 1);
      assert.equal((await fetch(`${manager.url}/metrics`)).status, 401, 'metrics need the token by default');
    });
  });
}
