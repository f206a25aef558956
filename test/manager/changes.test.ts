/**
 * Issue 17, the life of a topology: PATCH /v1/topologies/{id} changes a service instance's SLA
 * class in place, on the simulated cloud with the real agent and manager between them. The
 * servers and the stack stay; the agent holds the new class's rates; the history says what
 * changed. Bad changes (unknown instance or class, a field not offered) are refused naming the
 * field and change nothing; a change while another runs is a 409.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_SLA_CLASSES } from '../../src/topology/index.ts';
import { AGENT_TOKEN, startStack, until, type Stack } from './stack.ts';

const THESIS_YAML = readFileSync(path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis/thesis.yaml'), 'utf8');

interface View {
  id: string;
  state: string;
  units: { name: string; service_instance: string; sla_class: string | null; server_id: string | null; sla_state: string | null }[];
  stack: { name: string; id: string | null };
  events: { state: string; from_state: string | null; message: string }[];
}

interface Problem {
  type: string;
  detail: string;
  errors?: { pointer: string; message: string }[];
}

/** A stack with the thesis topology ACTIVE on it. */
async function thesisActive(): Promise<{ stack: Stack; id: string }> {
  const stack = await startStack();
  const created = await stack.api<View>('POST', '/v1/topologies', { topology: THESIS_YAML });
  assert.equal(created.status, 202, JSON.stringify(created.json));
  const id = created.json.id;
  const state = async (): Promise<string> => (await stack.api<View>('GET', `/v1/topologies/${id}`)).json.state;
  assert.equal(await until('ACTIVE', state, (s) => s === 'ACTIVE' || s === 'FAILED'), 'ACTIVE');
  return { stack, id };
}

describe('PATCH /v1/topologies/{id}: SLA class in place', () => {
  let stack: Stack;
  let id = '';

  const view = async (): Promise<View> => (await stack.api<View>('GET', `/v1/topologies/${id}`)).json;
  /** The download rates the agent holds for a server (what a VM port's QoS shapes). */
  const agentSla = async (serverId: string): Promise<{ min?: number; max: number }> => {
    const r = await fetch(`${stack.agent.url}/v1/servers/${serverId}/sla`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } });
    assert.equal(r.status, 200);
    const body = (await r.json()) as { sla: { download?: { min?: number; max: number } } };
    assert.ok(body.sla.download, JSON.stringify(body));
    return body.sla.download;
  };
  const patch = (body: unknown) => stack.api<View & Problem>('PATCH', `/v1/topologies/${id}`, body);

  before(async () => {
    ({ stack, id } = await thesisActive());
  });
  after(async () => {
    await (stack as Stack | undefined)?.close();
  });

  it('MediaServer Gold → Wholesale: ENFORCING then ACTIVE, the agent holds the new rates, no server or stack touched', async () => {
    const before = await view();
    const media = before.units.filter((u) => u.service_instance === 'MediaServer');
    assert.equal(media.length, 3);
    assert.ok(media.every((u) => u.sla_class === 'Gold'));
    const gold = DEFAULT_SLA_CLASSES.classes.Gold;
    const wholesale = DEFAULT_SLA_CLASSES.classes.Wholesale;
    assert.ok(gold && wholesale && gold.maxBps !== wholesale.maxBps, 'the two classes differ');
    for (const u of media) assert.equal((await agentSla(u.server_id ?? '')).max, gold.maxBps);
    const stackBefore = structuredClone(stack.sim.state.stacks.get(before.stack.id ?? ''));
    const serversBefore = new Map([...stack.sim.state.servers.values()].map((s) => [s.id, s.status]));

    const r = await patch({ service_instances: { MediaServer: { sla_class: 'Wholesale' } } });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.equal(r.json.state, 'ENFORCING');
    assert.ok(r.json.units.filter((u) => u.service_instance === 'MediaServer').every((u) => u.sla_class === 'Wholesale' && u.sla_state === null));

    const after = await until('ACTIVE again', view, (v) => v.state === 'ACTIVE' || v.state === 'FAILED');
    assert.equal(after.state, 'ACTIVE');
    for (const u of after.units) {
      assert.equal(u.sla_class, 'Wholesale', `${u.name}: Controller and Broker were Wholesale already`);
      assert.equal(u.sla_state, 'applied');
      assert.equal(u.server_id, before.units.find((b) => b.name === u.name)?.server_id, `${u.name}: the same server`);
    }
    for (const u of media) {
      const sla = await agentSla(u.server_id ?? '');
      assert.equal(sla.max, wholesale.maxBps, `${u.name}: the Wholesale cap on the agent`);
      assert.equal(sla.min, wholesale.minBps);
    }
    assert.deepEqual(stack.sim.state.stacks.get(before.stack.id ?? ''), stackBefore, 'the stack is untouched');
    assert.deepEqual(new Map([...stack.sim.state.servers.values()].map((s) => [s.id, s.status])), serversBefore, 'no server created, deleted or changed state');
    const change = after.events.find((e) => e.from_state === 'ACTIVE' && e.state === 'ENFORCING');
    assert.ok(change, JSON.stringify(after.events));
    assert.match(change.message, /^SLA class changed: MediaServer Gold → Wholesale; re-applying the SLAs \(no server touched\)$/);
  });

  it('the same class again answers 200 and adds no event', async () => {
    const events = (await view()).events.length;
    const r = await patch({ service_instances: { MediaServer: { sla_class: 'Wholesale' } } });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json.state, 'ACTIVE');
    assert.equal((await view()).events.length, events);
  });

  it('an unknown instance or class, or a field not offered, is refused naming the field; nothing changes', async () => {
    const before = await view();
    const cases: [unknown, number, string][] = [
      [{ service_instances: { MediaServer: { sla_class: 'Platinum' } } }, 422, '/body/service_instances/MediaServer/sla_class'],
      [{ service_instances: { Nope: { sla_class: 'Gold' } } }, 422, '/body/service_instances/Nope'],
      // Schema errors point into the body (RFC 6901), as on every route.
      [{ service_instances: {} }, 400, '/service_instances'],
      [{ service_instances: { MediaServer: { sla_class: 'Gold', colour: 'red' } } }, 400, '/service_instances/MediaServer'],
    ];
    for (const [body, status, pointer] of cases) {
      const r = await patch(body);
      assert.equal(r.status, status, JSON.stringify(r.json));
      assert.ok(r.json.errors?.some((e) => e.pointer.startsWith(pointer)), `${pointer} in ${JSON.stringify(r.json.errors)}`);
    }
    const now = await view();
    assert.deepEqual(now.units, before.units);
    assert.equal(now.events.length, before.events.length);
  });

  it('two changes at once: one is taken, the other is a 409; a change while not ACTIVE is a 409', async () => {
    const [a, b] = await Promise.all([
      patch({ service_instances: { MediaServer: { sla_class: 'Gold' } } }),
      patch({ service_instances: { Broker: { sla_class: 'Gold' } } }),
    ]);
    assert.deepEqual([a.status, b.status].sort(), [202, 409], JSON.stringify([a.json, b.json]));
    const loser = a.status === 409 ? a : b;
    assert.equal(loser.json.type, '/problems/conflict');
    const during = await patch({ service_instances: { Controller: { sla_class: 'Gold' } } });
    const settled = await until('ACTIVE', view, (v) => v.state === 'ACTIVE' || v.state === 'FAILED');
    // The second PATCH landed while ENFORCING (409) unless the first had already settled (then 202).
    if (during.status === 409) assert.match(during.json.detail, /is ENFORCING: a change needs it ACTIVE/);
    else assert.equal(during.status, 202);
    assert.equal(settled.state, 'ACTIVE');
    const winner = a.status === 202 ? 'MediaServer' : 'Broker';
    assert.ok(settled.units.filter((u) => u.service_instance === winner).every((u) => u.sla_class === 'Gold'));
  });

  it('is in the OpenAPI document with its body', async () => {
    const doc = (await (await fetch(`${stack.manager.url}/docs/json`)).json()) as { paths: Record<string, Record<string, { requestBody?: unknown }>> };
    assert.ok(doc.paths['/v1/topologies/{id}']?.patch?.requestBody);
  });
});

describe('PATCH /v1/topologies/{id}: unit count (scale out and in through a Heat stack update)', () => {
  let stack: Stack;
  let id = '';
  const view = async (): Promise<View & { placement: { assignments: Record<string, string | null>; hosts: string[] } }> =>
    (await stack.api<View & { placement: { assignments: Record<string, string | null>; hosts: string[] } }>('GET', `/v1/topologies/${id}`)).json;
  const patch = (body: unknown) => stack.api<View & Problem & { reasons?: { scope: string; message: string }[] }>('PATCH', `/v1/topologies/${id}`, body);
  const agentHas = async (serverId: string): Promise<number> =>
    (await fetch(`${stack.agent.url}/v1/servers/${serverId}/sla`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } })).status;
  const adminProject = (): { quotas: { instances: number } } => {
    const p = [...stack.sim.state.projects.values()].find((x) => x.name === 'admin');
    assert.ok(p);
    return p;
  };

  before(async () => {
    ({ stack, id } = await thesisActive());
  });
  after(async () => {
    await (stack as Stack | undefined)?.close();
  });

  it('MediaServer 3 → 5: the new units next to the Broker they talk to, added by a stack update; the others untouched', async () => {
    const before = await view();
    const simStack = stack.sim.state.stacks.get(before.stack.id ?? '');
    assert.ok(simStack);
    const r = await patch({ service_instances: { MediaServer: { count: 5 } } });
    assert.equal(r.status, 202, JSON.stringify(r.json));
    assert.equal(r.json.state, 'DEPLOYING');
    const after = await until('ACTIVE again', view, (v) => v.state === 'ACTIVE' || v.state === 'FAILED', 60_000);
    assert.equal(after.state, 'ACTIVE', JSON.stringify(after.events.slice(-3)));
    assert.deepEqual(after.units.map((u) => u.name), ['Controller-1', 'Broker-1', 'MediaServer-1', 'MediaServer-2', 'MediaServer-3', 'MediaServer-4', 'MediaServer-5']);
    for (const u of before.units) assert.equal(after.units.find((x) => x.name === u.name)?.server_id, u.server_id, `${u.name} kept its server`);
    const brokerHost = after.placement.assignments['Broker-1'];
    for (const name of ['MediaServer-4', 'MediaServer-5']) {
      const u = after.units.find((x) => x.name === name);
      assert.ok(u?.server_id, name);
      assert.equal(u.sla_state, 'applied');
      assert.equal(u.sla_class, 'Gold');
      assert.equal(after.placement.assignments[name], brokerHost, `${name} next to the Broker`);
      assert.equal(stack.sim.state.servers.get(u.server_id)?.host, brokerHost, `${name} is where planned`);
      assert.equal(await agentHas(u.server_id), 200);
    }
    assert.equal(simStack.status, 'UPDATE_COMPLETE');
    assert.equal(stack.sim.state.stacks.size, 1, 'the same stack, updated');
    const messages = after.events.map((e) => `${e.from_state ?? ''}→${e.state}: ${e.message}`);
    assert.ok(
      messages.some((m) => /^ACTIVE→DEPLOYING: scale MediaServer 3 → 5: MediaServer-4, MediaServer-5 on compute\d, next to Broker-1 \(their traffic peers\); updating stack cm-/.test(m)),
      messages.join('\n'),
    );
    assert.ok(messages.some((m) => /^DEPLOYING→DEPLOYED: stack cm-\S+ UPDATE_COMPLETE$/.test(m)), messages.join('\n'));
  });

  it('a count outside size.min..max, or over the quota, is refused with the reason; nothing changes', async () => {
    const before = await view();
    const range = await patch({ service_instances: { MediaServer: { count: 6 } } });
    assert.equal(range.status, 422, JSON.stringify(range.json));
    assert.deepEqual(range.json.errors?.map((e) => e.pointer), ['/body/service_instances/MediaServer/count']);
    const [first] = range.json.errors ?? [];
    assert.match(first?.message ?? '', /6 units is outside MediaServer's size 1\.\.5/);

    const down = await patch({ service_instances: { MediaServer: { count: 1 } } });
    assert.equal(down.status, 202, JSON.stringify(down.json));
    await until('ACTIVE', view, (v) => v.state === 'ACTIVE' || v.state === 'FAILED', 60_000);
    const small = await view();
    const quota = adminProject().quotas.instances;
    adminProject().quotas.instances = 4;
    try {
      const over = await patch({ service_instances: { MediaServer: { count: 3 } } });
      assert.equal(over.status, 422, JSON.stringify(over.json));
      assert.equal(over.json.type, '/problems/infeasible');
      assert.ok(over.json.reasons?.some((x) => x.scope === 'quota'), JSON.stringify(over.json.reasons));
      const now = await view();
      assert.deepEqual(now.units, small.units);
      assert.equal(now.events.length, small.events.length);
    } finally {
      adminProject().quotas.instances = quota;
    }
    assert.notDeepEqual(before.units.length, small.units.length);
  });

  it("the thesis EMM's scale_out / scale_in: one unit more or fewer, the same change; at the size's bound a 422", async () => {
    const emm = (verb: string, instance = 'MediaServer') => stack.api<View & Problem>('POST', `/topologies/${id}/service_instances/${instance}/${verb}`);
    const out = await emm('scale_out');
    assert.equal(out.status, 202, JSON.stringify(out.json));
    let t = await until('ACTIVE', view, (v) => v.state === 'ACTIVE' || v.state === 'FAILED', 60_000);
    assert.equal(t.units.filter((u) => u.service_instance === 'MediaServer').length, 2);
    const back = await emm('scale_in');
    assert.equal(back.status, 202, JSON.stringify(back.json));
    t = await until('ACTIVE', view, (v) => v.state === 'ACTIVE' || v.state === 'FAILED', 60_000);
    assert.equal(t.units.filter((u) => u.service_instance === 'MediaServer').length, 1);
    const floor = await emm('scale_in');
    assert.equal(floor.status, 422, JSON.stringify(floor.json));
    assert.match(floor.json.detail, /0 units is outside MediaServer's size 1\.\.5/);
    const nope = await emm('scale_out', 'Nope');
    assert.equal(nope.status, 404);
    assert.deepEqual(nope.json.errors?.map((e) => e.pointer), ['/params/instance']);
    assert.equal((await stack.api('POST', `/topologies/00000000-0000-4000-8000-000000000000/service_instances/MediaServer/scale_out`)).status, 404);
  });

  it('MediaServer 5 → 1 removed the servers and their SLAs first; the kept ones untouched', async () => {
    const t = await view();
    assert.deepEqual(t.units.map((u) => u.name), ['Controller-1', 'Broker-1', 'MediaServer-1']);
    const removedEvent = t.events.find((e) => /^scale MediaServer 5 → 1: MediaServer-2, MediaServer-3, MediaServer-4, MediaServer-5 removed; updating stack/.test(e.message));
    assert.ok(removedEvent, JSON.stringify(t.events.map((e) => e.message)));
    const servers = [...stack.sim.state.servers.values()];
    assert.equal(servers.length, 3, 'Heat deleted the four servers');
    assert.deepEqual(new Set(servers.map((s) => s.id)), new Set(t.units.map((u) => u.server_id)));
    const sla = await fetch(`${stack.agent.url}/v1/sla`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } });
    const items = ((await sla.json()) as { items: { server_id: string }[] }).items.map((i) => i.server_id);
    assert.deepEqual(new Set(items), new Set(t.units.map((u) => u.server_id)), 'the agent holds the SLAs of the kept servers only');
  });
});
