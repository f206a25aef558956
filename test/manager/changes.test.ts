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
    stack = await startStack();
    const created = await stack.api<View>('POST', '/v1/topologies', { topology: THESIS_YAML });
    assert.equal(created.status, 202, JSON.stringify(created.json));
    id = created.json.id;
    assert.equal((await until('ACTIVE', view, (v) => v.state === 'ACTIVE' || v.state === 'FAILED')).state, 'ACTIVE');
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
