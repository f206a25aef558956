/**
 * Capacity taken between planning and booting: the manager plans the thesis
 * topology on compute1, and while Heat boots it other servers fill compute1,
 * so a server of the stack finds no valid host. The manager deletes that stack,
 * re-reads capacity, plans once more (now a split over both hosts) and
 * reaches ACTIVE, recording why in the topology's history.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { simCloudConfig } from '../../src/agent/main.ts';
import { createOpenStack } from '../../src/openstack/index.ts';
import { startStack, until } from './stack.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis');

interface View {
  id: string;
  state: string;
  attempts: number;
  placement: { hosts: string[]; assignments: Record<string, string> } | null;
  units: { name: string; host: string | null; sla_state: string | null }[];
  stack: { id: string | null };
  events: { state: string; message: string }[];
  error: unknown;
}

describe('re-planning after no valid host', () => {
  it('deletes the failed stack, plans with fresh capacity and deploys the new plan', { timeout: 60_000 }, async () => {
    const { sim, api: call, close } = await startStack({ sim: { bootDelayMs: 400 } });
    const os = createOpenStack(simCloudConfig(sim));
    try {
      const api = async (method: string, p: string, body?: unknown): Promise<View> => (await call<View>(method, p, body)).json;
      const read = (): Promise<View> => api('GET', `/v1/topologies/${id}`);
      const submitted = await api('POST', '/v1/topologies', { topology: readFileSync(path.join(FIXTURES, 'thesis.yaml'), 'utf8'), topology_file: 'thesis.yaml' });
      const id = submitted.id;
      assert.deepEqual(submitted.placement?.hosts, ['compute1']);
      await until('the stack being built', read, (v) => v.state === 'DEPLOYING' && v.stack.id !== null);

      // Someone else takes 4 of compute1's 8 vCPU while Heat is still booting the topology.
      const flavor = (await os.nova.listFlavors()).find((f) => f.name === 'm1.mini');
      assert.ok(flavor);
      const net = (await os.neutron.listNetworks())[0];
      assert.ok(net);
      for (let i = 0; i < 4; i++) {
        await os.nova.createServer({ name: `hog-${String(i)}`, imageRef: '', flavorRef: flavor.id, availabilityZone: 'nova:compute1', networks: [{ uuid: net.id }] });
      }

      const active = await until('ACTIVE', read, (v) => v.state === 'ACTIVE' || v.state === 'FAILED');
      assert.equal(active.state, 'ACTIVE', JSON.stringify(active.error));
      assert.equal(active.attempts, 2, 'deployed on the second attempt');
      assert.ok(
        active.events.some((e) => e.state === 'DEPLOYING' && /no valid host for .*stack deleted, re-planning with fresh capacity/.test(e.message)),
        JSON.stringify(active.events),
      );
      const placement = active.placement;
      assert.ok(placement);
      assert.deepEqual(placement.hosts, ['compute1', 'compute2'], 'the fresh plan splits: compute1 has 4 vCPU left');
      for (const u of active.units) {
        assert.equal(u.host, placement.assignments[u.name]);
        assert.equal(u.sla_state, 'applied');
      }
      const live = [...sim.state.stacks.values()].filter((s) => !s.status.startsWith('DELETE'));
      assert.equal(live.length, 1, 'the failed stack is gone, one stack remains');
      assert.equal([...sim.state.servers.values()].filter((s) => !s.name.startsWith('hog-')).length, 5);
    } finally {
      await os.close();
      await close();
    }
  });
});
