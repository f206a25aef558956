/**
 * Issue 16's first regressions, through a real manager and agent on the simulated cloud (real
 * HTTP): what a careless or hostile client sends gets a 4xx naming the field, never a 5xx, and
 * changes nothing.
 * - a bad `cursor` on GET /v1/topologies: 400 at /query/cursor (was a 500);
 * - JSON nested 10 000 deep: 400 at /body naming the limit (was a stack overflow, 500), on both services;
 * - DELETE with `Content-Type: application/json` and no body: accepted (was 400), on both services;
 * - the same Idempotency-Key with a different topology: 422 (was the first topology, silently);
 * - a topology whose every service instance has `def: 0`: 422, nothing created (was an empty stack).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AGENT_TOKEN, MANAGER_TOKEN, startStack, type Stack } from './stack.ts';

const YAML_TOPOLOGY = readFileSync(path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis/thesis.yaml'), 'utf8');

interface Problem {
  status: number;
  type: string;
  detail: string;
  errors?: { pointer: string; message: string }[];
}

describe('hostile and careless input to the manager and the agent', () => {
  let stack: Stack;

  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await (stack as Stack | undefined)?.close();
  });

  const count = async (): Promise<number> => (await stack.api<{ items: unknown[] }>('GET', '/v1/topologies')).json.items.length;

  it('a cursor it never gave out is a 400 at /query/cursor', async () => {
    for (const cursor of ['nope', 'WzFd', Buffer.from('["not a date","x"]').toString('base64url')]) {
      const r = await stack.api<Problem>('GET', `/v1/topologies?cursor=${encodeURIComponent(cursor)}`);
      assert.equal(r.status, 400, cursor);
      assert.match(r.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.deepEqual(r.json.errors?.map((e) => e.pointer), ['/query/cursor']);
    }
  });

  it('JSON nested 10 000 deep is a 400 naming the limit, on both services, and the services go on', async () => {
    const deep = `${'['.repeat(10_000)}${']'.repeat(10_000)}`;
    for (const [url, token, route] of [
      [stack.manager.url, MANAGER_TOKEN, '/v1/plans'],
      [stack.agent.url, AGENT_TOKEN, '/v1/servers/00000000-0000-4000-8000-000000000001/sla'],
    ] as const) {
      const r = await fetch(`${url}${route}`, { method: route === '/v1/plans' ? 'POST' : 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: `{"topology": ${deep}}` });
      const body = (await r.json()) as Problem;
      assert.equal(r.status, 400, `${url}${route}: ${JSON.stringify(body)}`);
      assert.deepEqual(body.errors?.map((e) => e.pointer), ['/body']);
      assert.match(body.detail, /more than 64 levels/);
      assert.equal((await fetch(`${url}/healthz`)).status, 200);
    }
    // Depth within the limit still parses (the thesis documents need 6).
    const ok = await stack.api<{ plan: { feasible: boolean } }>('POST', '/v1/plans', { topology: YAML_TOPOLOGY });
    assert.equal(ok.status, 200);
  });

  it('a DELETE with a JSON content type and no body is accepted, on both services', async () => {
    const created = await stack.api<{ id: string }>('POST', '/v1/topologies', { topology: YAML_TOPOLOGY });
    assert.equal(created.status, 202);
    const del = await fetch(`${stack.manager.url}/v1/topologies/${created.json.id}`, { method: 'DELETE', headers: { authorization: `Bearer ${MANAGER_TOKEN}`, 'content-type': 'application/json' } });
    assert.equal(del.status, 202, await del.text());
    const server = [...stack.sim.state.servers.values()][0];
    const agentDel = await fetch(`${stack.agent.url}/v1/servers/${server?.id ?? '00000000-0000-4000-8000-000000000001'}/sla`, { method: 'DELETE', headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': 'application/json' } });
    // 204 when it had an SLA, 404 (a problem about the server, not about the body) when not.
    assert.ok(agentDel.status === 204 || agentDel.status === 404, String(agentDel.status));
    if (agentDel.status === 404) assert.doesNotMatch(((await agentDel.json()) as Problem).detail, /JSON/);
  });

  it('the same Idempotency-Key with a different topology is a 422; with the same one, the first answer', async () => {
    const first = await stack.api<{ id: string }>('POST', '/v1/topologies', { topology: YAML_TOPOLOGY }, { 'idempotency-key': 'hostile-1' });
    assert.equal(first.status, 202);
    const before = await count();
    const same = await stack.api<{ id: string }>('POST', '/v1/topologies', { topology: YAML_TOPOLOGY }, { 'idempotency-key': 'hostile-1' });
    assert.equal(same.status, 202);
    assert.equal(same.json.id, first.json.id);
    const other = await stack.api<Problem>('POST', '/v1/topologies', { topology: YAML_TOPOLOGY.replace('name: local_nm_template_minified', 'name: another') }, { 'idempotency-key': 'hostile-1' });
    assert.equal(other.status, 422);
    assert.match(other.json.type, /idempotency-key-reused/);
    assert.deepEqual(other.json.errors?.map((e) => e.pointer), ['/headers/idempotency-key']);
    assert.equal(await count(), before, 'nothing created');
    await stack.api('DELETE', `/v1/topologies/${first.json.id}`);
  });

  it('a topology without units (every def: 0) is a 422 for a plan and a submission, and nothing is created', async () => {
    const empty = YAML_TOPOLOGY.replaceAll(/size: \{ min: 1, def: \d+, max: (\d+) \}/g, 'size: { min: 0, def: 0, max: $1 }');
    assert.notEqual(empty, YAML_TOPOLOGY);
    const before = await count();
    const stacksBefore = stack.sim.state.stacks.size;
    for (const route of ['/v1/plans', '/v1/topologies']) {
      const r = await stack.api<Problem>('POST', route, { topology: empty });
      assert.equal(r.status, 422, `${route}: ${JSON.stringify(r.json)}`);
      assert.match(r.json.detail, /no units/);
      assert.deepEqual(r.json.errors?.map((e) => e.pointer), ['/body/topology']);
    }
    assert.equal(await count(), before);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(stack.sim.state.stacks.size, stacksBefore, 'no stack created');
  });
});
