/**
 * Issue 17, one contract: the topology routes answer what src/manager/contract.ts declares (their
 * response schemas are in /docs/json, and a real answer validates against the schema), and a
 * stored request that does not match the contract is refused with the reason, never cast.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Value } from 'typebox/value';
import { PlanResponseSchema, TopologyListSchema, TopologyViewSchema } from '../../src/manager/contract.ts';
import { startStack, until, type Stack } from './stack.ts';

const THESIS_YAML = readFileSync(path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis/thesis.yaml'), 'utf8');

interface OpenApi {
  paths: Record<string, Record<string, { responses?: Record<string, { content?: Record<string, { schema?: unknown }> }> }>>;
}

describe('the manager contract', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await (stack as Stack | undefined)?.close();
  });

  it('every topology and plan route declares its success answer in /docs/json', async () => {
    const doc = (await (await fetch(`${stack.manager.url}/docs/json`)).json()) as OpenApi;
    const routes: [string, string, string][] = [
      ['/v1/plans', 'post', '200'],
      ['/v1/topologies', 'post', '202'],
      ['/v1/topologies', 'get', '200'],
      ['/v1/topologies/{id}', 'get', '200'],
      ['/v1/topologies/{id}', 'delete', '202'],
      ['/v1/topologies/{id}', 'patch', '202'],
      ['/topologies', 'post', '202'],
      ['/topologies/{id}/service_instances/{instance}/scale_out', 'post', '202'],
    ];
    for (const [p, method, status] of routes) {
      const schema = doc.paths[p]?.[method]?.responses?.[status]?.content?.['application/json']?.schema;
      assert.ok(schema, `${method.toUpperCase()} ${p} ${status}`);
      assert.ok(JSON.stringify(schema).includes('"properties"'), `${method.toUpperCase()} ${p}: an object schema`);
    }
  });

  it('what the routes answer validates against the contract', async () => {
    const plan = await stack.api('POST', '/v1/plans', { topology: THESIS_YAML });
    assert.ok(Value.Check(PlanResponseSchema, plan.json), JSON.stringify([...Value.Errors(PlanResponseSchema, plan.json)].slice(0, 3)));
    const created = await stack.api<{ id: string }>('POST', '/v1/topologies', { topology: THESIS_YAML });
    assert.ok(Value.Check(TopologyViewSchema, created.json));
    const active = await until('ACTIVE', async () => (await stack.api<{ state: string }>('GET', `/v1/topologies/${created.json.id}`)).json, (v) => v.state === 'ACTIVE' || v.state === 'FAILED');
    assert.ok(Value.Check(TopologyViewSchema, active), JSON.stringify([...Value.Errors(TopologyViewSchema, active)].slice(0, 3)));
    assert.ok(Value.Check(TopologyListSchema, (await stack.api('GET', '/v1/topologies')).json));
    const deleted = await stack.api('DELETE', `/v1/topologies/${created.json.id}`);
    assert.ok(Value.Check(TopologyViewSchema, deleted.json));
    await until('DELETED', async () => (await stack.api<{ state: string }>('GET', `/v1/topologies/${created.json.id}`)).json.state, (s) => s === 'DELETED');
  });

  it('a stored request that does not match the contract FAILs its topology with the reason; GET still answers', async () => {
    const { topology } = await stack.manager.store.createTopology({
      name: 'damaged',
      projectId: [...stack.sim.state.projects.values()].find((x) => x.name === 'admin')?.id ?? '',
      strategy: 'traffic-aware',
      request: { format: 'json', files: [], strategy: 'traffic-aware' },
      stackName: 'cm-damaged-00000000',
      state: 'DEPLOYING',
      deployRequestedAt: new Date().toISOString(),
    });
    stack.manager.deployer.kick();
    const failed = await until('FAILED', async () => (await stack.api<{ state: string; error: { code: string; message: string } | null }>('GET', `/v1/topologies/${topology.id}`)).json, (v) => v.state === 'FAILED');
    assert.equal(failed.error?.code, 'CM_ERR_STORED_REQUEST');
    assert.match(failed.error.message, /the stored request of topology \S+ does not match this version's contract \(\/format .*\/files must not have fewer than 1 items/);
    assert.deepEqual([...stack.sim.state.stacks.values()].filter((s) => s.name === 'cm-damaged-00000000'), [], 'no stack made of it');
  });
});
