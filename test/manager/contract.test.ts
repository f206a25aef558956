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
import { ManagerHostsSchema, PlanResponseSchema, TopologyListSchema, TopologyViewSchema } from '../../src/manager/contract.ts';
import { SlaSampleSchema } from '../../src/manager/sla-types.ts';
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

  it('every route in /docs/json declares its success answer, with an object schema where it answers JSON', async () => {
    const doc = (await (await fetch(`${stack.manager.url}/docs/json`)).json()) as OpenApi;
    const operations = Object.entries(doc.paths).flatMap(([p, methods]) => Object.entries(methods).map(([method, op]) => ({ p, method, op })));
    // The ones this issue added, so an empty or shrunken document cannot pass.
    for (const [p, method] of [
      ['/v1/plans', 'post'],
      ['/v1/topologies/{id}', 'patch'],
      ['/topologies/{id}/service_instances/{instance}/scale_out', 'post'],
      ['/v1/hosts', 'get'],
      ['/v1/sla', 'get'],
      ['/v1/sla/stream', 'get'],
      ['/services/{type}', 'put'],
    ] as const) {
      assert.ok(operations.some((o) => o.p === p && o.method === method), `${method.toUpperCase()} ${p} in /docs/json`);
    }
    const missing: string[] = [];
    for (const { p, method, op } of operations) {
      const success = Object.entries(op.responses ?? {}).filter(([status]) => /^2\d\d$/.test(status));
      if (success.length === 0) {
        missing.push(`${method.toUpperCase()} ${p}: no 2xx answer`);
        continue;
      }
      for (const [status, response] of success) {
        if (status === '204') continue;
        const content = response.content ?? {};
        const json = content['application/json']?.schema;
        if (json !== undefined) {
          // An object (or a list of objects) with its fields named, not an open `{}`.
          if (!JSON.stringify(json).includes('"properties"') && !JSON.stringify(json).includes('"$ref"')) missing.push(`${method.toUpperCase()} ${p} ${status}: an open schema`);
        } else if (Object.keys(content).length === 0 || Object.values(content).some((c) => c.schema === undefined)) {
          // Text answers (the event stream, Prometheus' text) name their media type and its schema.
          missing.push(`${method.toUpperCase()} ${p} ${status}: no schema`);
        }
      }
    }
    assert.deepEqual(missing, []);
  });

  it('what the routes answer validates against the contract', async () => {
    const plan = await stack.api('POST', '/v1/plans', { topology: THESIS_YAML });
    assert.ok(Value.Check(PlanResponseSchema, plan.json), JSON.stringify([...Value.Errors(PlanResponseSchema, plan.json)].slice(0, 3)));
    const created = await stack.api<{ id: string }>('POST', '/v1/topologies', { topology: THESIS_YAML });
    assert.ok(Value.Check(TopologyViewSchema, created.json));
    const active = await until('ACTIVE', async () => (await stack.api<{ state: string }>('GET', `/v1/topologies/${created.json.id}`)).json, (v) => v.state === 'ACTIVE' || v.state === 'FAILED');
    assert.ok(Value.Check(TopologyViewSchema, active), JSON.stringify([...Value.Errors(TopologyViewSchema, active)].slice(0, 3)));
    assert.ok(Value.Check(TopologyListSchema, (await stack.api('GET', '/v1/topologies')).json));
    const hosts = await stack.api<{ hosts: unknown[] }>('GET', '/v1/hosts');
    assert.ok(hosts.json.hosts.length > 0 && Value.Check(ManagerHostsSchema, hosts.json), JSON.stringify([...Value.Errors(ManagerHostsSchema, hosts.json)].slice(0, 3)));
    const sla = await until('the SLA rows', async () => (await stack.api<{ rows: unknown[] }>('GET', '/v1/sla')).json, (v) => v.rows.length > 0);
    assert.ok(Value.Check(SlaSampleSchema, sla), JSON.stringify([...Value.Errors(SlaSampleSchema, sla)].slice(0, 3)));
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
