/**
 * DELETE while Heat is still building the stack: the deployment stops where
 * it is, the stack (with the servers booted so far) is deleted, no SLA is
 * left on the agent and the topology ends DELETED — nothing half-applied.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { AGENT_TOKEN, startStack, until } from './stack.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis');

interface View {
  id: string;
  state: string;
  stack: { id: string | null };
  events: { state: string; message: string }[];
}

describe('DELETE in the middle of a deployment', () => {
  it('stops deploying, deletes the stack, leaves no server and no SLA', { timeout: 60_000 }, async () => {
    const { sim, agent, api, close } = await startStack({ sim: { bootDelayMs: 500 } });
    try {
      const id = (await api<View>('POST', '/v1/topologies', { topology: readFileSync(path.join(FIXTURES, 'thesis.yaml'), 'utf8') })).json.id;
      const read = async (): Promise<View> => (await api<View>('GET', `/v1/topologies/${id}`)).json;
      const building = await until('the stack being built', read, (v) => v.state === 'DEPLOYING' && v.stack.id !== null);
      assert.equal(sim.state.stacks.get(building.stack.id ?? '')?.status, 'CREATE_IN_PROGRESS');

      const deleting = await api<View>('DELETE', `/v1/topologies/${id}`);
      assert.equal(deleting.json.state, 'DELETING');
      const done = await until('DELETED', read, (v) => v.state === 'DELETED' || v.state === 'FAILED');
      assert.equal(done.state, 'DELETED', JSON.stringify(done.events));
      assert.ok(!done.events.some((e) => e.state === 'ENFORCING' || e.state === 'ACTIVE'), 'never enforced');
      assert.equal([...sim.state.stacks.values()].filter((s) => !s.status.startsWith('DELETE')).length, 0);
      assert.equal(sim.state.servers.size, 0, 'the servers booted so far are gone');
      const sla = (await (await fetch(`${agent.url}/v1/sla`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } })).json()) as { items: unknown[] };
      assert.equal(sla.items.length, 0, 'no SLA on the agent');
    } finally {
      await close();
    }
  });
});
