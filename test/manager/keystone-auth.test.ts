/**
 * The manager with `auth.keystone: true`: bearer tokens that are not static
 * ones are validated with the cloud's Keystone and must carry
 * `auth.keystone_role` (default member). Against the simulated cloud (user
 * "thesis" is a member of project thesis, "admin" has only the admin role).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningAgent } from '../../src/agent/main.ts';
import type { RunningManager } from '../../src/manager/main.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { keystoneToken } from '../harness/keystone.ts';
import { startSimAgent, startSimManager } from './stack.ts';

const STATIC = 'static-token-0123456789abcdef';


describe('manager API with auth.keystone on the simulated cloud', () => {
  let sim: SimCloud;
  let agent: RunningAgent;
  const managers: RunningManager[] = [];

  before(async () => {
    sim = await startSimCloud();
    agent = await startSimAgent(sim);
  });

  after(async () => {
    for (const m of managers) await m.stop();
    await agent.stop();
    await sim.close();
  });

  const manager = async (auth: string): Promise<RunningManager> => {
    const m = await startSimManager(sim, agent, { auth });
    managers.push(m);
    return m;
  };
  const status = async (m: RunningManager, token: string): Promise<number> => {
    const r = await fetch(`${m.url}/v1/topologies`, { headers: { authorization: `Bearer ${token}` } });
    await r.text();
    return r.status;
  };

  it('accepts a member token and the static tokens, refuses unknown tokens', async () => {
    const m = await manager(`{ tokens: [${STATIC}], keystone: true }`);
    assert.equal(await status(m, await keystoneToken(sim, 'thesis', 'thesis', 'thesis')), 200);
    assert.equal(await status(m, STATIC), 200);
    assert.equal(await status(m, 'not-a-keystone-token-at-all-0123'), 401);
  });

  it('keystone_role: admin refuses a member token; keystone alone needs no static token', async () => {
    const m = await manager('{ keystone: true, keystone_role: admin }');
    assert.equal(await status(m, await keystoneToken(sim, 'thesis', 'thesis', 'thesis')), 401);
    assert.equal(await status(m, await keystoneToken(sim, 'admin', 'pass', 'admin')), 200);
  });
});
