/** A Keystone token of a user of the simulated cloud (password auth, project scope). */
import assert from 'node:assert/strict';
import { identityV3Root } from '../../src/openstack/index.ts';
import type { SimCloud } from '../../src/sim/index.ts';

export async function keystoneToken(sim: SimCloud, user: string, password: string, project: string): Promise<string> {
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
  assert.equal(response.status, 201, `token for ${user}`);
  await response.text();
  const token = response.headers.get('x-subject-token');
  assert.ok(token);
  return token;
}
