/**
 * The manager with `auth.keystone: true`: bearer tokens that are not static
 * ones are validated with the cloud's Keystone and must carry
 * `auth.keystone_role` (default member). Against the simulated cloud (user
 * "thesis" is a member of project thesis, "admin" has only the admin role).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, startAgent, type RunningAgent } from '../../src/agent/main.ts';
import { parseManagerConfig } from '../../src/manager/config.ts';
import { startManager, type RunningManager } from '../../src/manager/main.ts';
import { identityV3Root } from '../../src/openstack/index.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';

const AGENT_TOKEN = 'agent-token-0123456789abcdef';
const STATIC = 'static-token-0123456789abcdef';

async function keystoneToken(sim: SimCloud, user: string, password: string, project: string): Promise<string> {
  const c = sim.credentials;
  const response = await fetch(`${identityV3Root(sim.authUrl)}/auth/tokens?nocatalog`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: user, password, domain: { name: c.userDomainName } } } },
        scope: { project: { name: project, domain: { name: c.projectDomainName } } },
      },
    }),
  });
  await response.text();
  const token = response.headers.get('x-subject-token');
  assert.ok(token, `token for ${user}`);
  return token;
}

describe('manager API with auth.keystone on the simulated cloud', () => {
  let sim: SimCloud;
  let agent: RunningAgent;
  const managers: RunningManager[] = [];

  before(async () => {
    sim = await startSimCloud();
    agent = await startAgent(
      parseAgentConfig(`listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${AGENT_TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }`, {}),
      simAgentOptions(sim, { log: false }),
    );
  });

  after(async () => {
    for (const m of managers) await m.stop();
    await agent.stop();
    await sim.close();
  });

  const manager = async (auth: string): Promise<RunningManager> => {
    const cloud = simAgentOptions(sim).cloud;
    assert.ok(cloud);
    const m = await startManager(
      parseManagerConfig(`listen: { host: 127.0.0.1, port: 0 }\nauth: ${auth}\nagent: { url: "${agent.url}", token: ${AGENT_TOKEN} }\nstore: { url: "sqlite::memory:" }`, {}),
      { cloud, log: false },
    );
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
