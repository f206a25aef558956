/**
 * DELETE while Heat is still building the stack: the deployment stops where
 * it is, the stack (with the servers booted so far) is deleted, no SLA is
 * left on the agent and the topology ends DELETED — nothing half-applied.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, startAgent } from '../../src/agent/main.ts';
import { parseManagerConfig } from '../../src/manager/config.ts';
import { startManager } from '../../src/manager/main.ts';
import { startSimCloud } from '../../src/sim/index.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis');
const AGENT_TOKEN = 'agent-token-0123456789abcdef';
const TOKEN = 'manager-token-0123456789abcdef';

interface View {
  id: string;
  state: string;
  stack: { id: string | null };
  events: { state: string; message: string }[];
}

describe('DELETE in the middle of a deployment', () => {
  it('stops deploying, deletes the stack, leaves no server and no SLA', { timeout: 60_000 }, async () => {
    const sim = await startSimCloud({ bootDelayMs: 500 });
    const cloud = simAgentOptions(sim).cloud;
    assert.ok(cloud);
    const agent = await startAgent(
      parseAgentConfig(`listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${AGENT_TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }`, {}),
      simAgentOptions(sim, { log: false }),
    );
    const manager = await startManager(
      parseManagerConfig(`listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${TOKEN}] }\nagent: { url: "${agent.url}", token: ${AGENT_TOKEN} }\nstore: { url: "sqlite::memory:" }`, {}),
      { cloud, log: false, pollMs: 50, claimIntervalMs: 200 },
    );
    try {
      const api = async (method: string, p: string, body?: unknown): Promise<View> => {
        const r = await fetch(`${manager.url}${p}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        return (await r.json()) as View;
      };
      const until = async (what: string, check: (v: View) => boolean): Promise<View> => {
        const deadline = Date.now() + 40_000;
        for (;;) {
          const v = await api('GET', `/v1/topologies/${id}`);
          if (check(v)) return v;
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
          await new Promise((r) => setTimeout(r, 25));
        }
      };
      const id = (await api('POST', '/v1/topologies', { topology: readFileSync(path.join(FIXTURES, 'thesis.yaml'), 'utf8') })).id;
      const building = await until('the stack being built', (v) => v.state === 'DEPLOYING' && v.stack.id !== null);
      assert.equal(sim.state.stacks.get(building.stack.id ?? '')?.status, 'CREATE_IN_PROGRESS');

      const deleting = await api('DELETE', `/v1/topologies/${id}`);
      assert.equal(deleting.state, 'DELETING');
      const done = await until('DELETED', (v) => v.state === 'DELETED' || v.state === 'FAILED');
      assert.equal(done.state, 'DELETED', JSON.stringify(done.events));
      assert.ok(!done.events.some((e) => e.state === 'ENFORCING' || e.state === 'ACTIVE'), 'never enforced');
      assert.equal([...sim.state.stacks.values()].filter((s) => !s.status.startsWith('DELETE')).length, 0);
      assert.equal(sim.state.servers.size, 0, 'the servers booted so far are gone');
      const sla = (await (await fetch(`${agent.url}/v1/sla`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } })).json()) as { items: unknown[] };
      assert.equal(sla.items.length, 0, 'no SLA on the agent');
    } finally {
      await manager.stop();
      await agent.stop();
      await sim.close();
    }
  });
});
