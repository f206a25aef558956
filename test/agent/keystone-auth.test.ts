/**
 * `auth.keystone: true`: a bearer token that is not one of the static tokens
 * is validated with the cloud's Keystone (GET /v3/auth/tokens with
 * X-Subject-Token) and must carry the admin role. Against the simulated cloud
 * (admin user "admin", member user "thesis"), plus the validator's cache,
 * expiry and single flight with a counting fake.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildAgentApp } from '../../src/agent/app.ts';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { keystoneTokenValidator, simAgentOptions, startAgent, type RunningAgent } from '../../src/agent/main.ts';
import { OpenStackApiError, type OpenStack } from '../../src/openstack/index.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { openSlaStore } from '../../src/store/index.ts';
import { keystoneToken } from '../harness/keystone.ts';

const STATIC = 'static-token-0123456789abcdef';


describe('agent API with auth.keystone on the simulated cloud', () => {
  let sim: SimCloud;
  let agent: RunningAgent;

  before(async () => {
    sim = await startSimCloud();
    const config = parseAgentConfig(
      `listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${STATIC}], keystone: true }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }`,
      {},
    );
    assert.equal(config.auth.keystone, true);
    agent = await startAgent(config, simAgentOptions(sim, { log: false }));
  });

  after(async () => {
    await agent.stop();
    await sim.close();
  });

  const status = async (token: string): Promise<number> => {
    const response = await fetch(`${agent.url}/v1/hosts`, { headers: { authorization: `Bearer ${token}` } });
    await response.text();
    return response.status;
  };

  it('accepts the static token and an admin Keystone token', async () => {
    assert.equal(await status(STATIC), 200);
    const admin = await keystoneToken(sim, 'admin', 'pass', 'admin');
    assert.equal(await status(admin), 200);
    assert.equal(await status(admin), 200, 'again (from the cache)');
  });

  it('refuses a Keystone token without the admin role and an unknown token', async () => {
    const member = await keystoneToken(sim, 'thesis', 'thesis', 'thesis');
    assert.equal(await status(member), 401);
    assert.equal(await status('not-a-keystone-token-at-all-0123'), 401);
  });
});

describe('keystoneTokenValidator cache', () => {
  function fake(answer: (token: string) => { roles: string[]; expiresAt: string } | undefined): { os: Pick<OpenStack, 'http' | 'keystone'>; calls: () => number } {
    let calls = 0;
    const http = {
      request: async (req: { headers?: Record<string, string> }) => {
        calls++;
        await new Promise((r) => setTimeout(r, 5));
        const token = req.headers?.['x-subject-token'] ?? '';
        const a = answer(token);
        if (!a) throw new OpenStackApiError({ service: 'identity', method: 'GET', url: 'http://k/v3/auth/tokens', status: 404, message: 'Could not find token', serviceCode: undefined, requestId: undefined });
        return {
          status: 200,
          headers: { 'x-subject-token': token },
          body: { token: { expires_at: a.expiresAt, user: { id: 'u1' }, project: { id: 'p1', name: 'demo', domain: { id: 'default' } }, roles: a.roles.map((name) => ({ id: name, name })) } },
        };
      },
    };
    return { os: { http, keystone: { authUrl: 'http://k/v3' } } as unknown as Pick<OpenStack, 'http' | 'keystone'>, calls: () => calls };
  }

  it('caches until expires_at, refusals for negativeTtlMs, one request for concurrent checks', async () => {
    let t = Date.parse('2030-01-01T00:00:00Z');
    const expiresAt = new Date(t + 60_000).toISOString();
    const f = fake((token) => (token === 'good' ? { roles: ['admin'], expiresAt } : token === 'member' ? { roles: ['member'], expiresAt } : undefined));
    const validate = keystoneTokenValidator(f.os, { now: () => t, negativeTtlMs: 10_000 });

    // Accepted: the caller's identity (its project scopes what it sees in the manager).
    const good = { userId: 'u1', projectId: 'p1', projectName: 'demo', roles: ['admin'] };
    assert.deepEqual(await Promise.all([validate('good'), validate('good'), validate('good')]), [good, good, good]);
    assert.equal(f.calls(), 1, 'single flight');
    t += 59_000;
    assert.deepEqual(await validate('good'), good);
    assert.equal(f.calls(), 1, 'cached until expires_at');
    t += 2000;
    assert.equal(await validate('good'), false, 'expired');
    assert.equal(f.calls(), 2);

    assert.equal(await validate('member'), false);
    assert.equal(await validate('unknown'), false);
    assert.equal(f.calls(), 4);
    assert.equal(await validate('unknown'), false);
    assert.equal(f.calls(), 4, 'refusal cached');
  });

  it('rejects (→ 503) when Keystone fails otherwise', async () => {
    const os = {
      http: { request: () => Promise.reject(new OpenStackApiError({ service: 'identity', method: 'GET', url: 'http://k/v3/auth/tokens', status: 500, message: 'boom', serviceCode: undefined, requestId: undefined })) },
      keystone: { authUrl: 'http://k/v3' },
    } as unknown as Pick<OpenStack, 'http' | 'keystone'>;
    await assert.rejects(keystoneTokenValidator(os)('x'), /500/);
  });
});

describe('buildAgentApp with auth.validate', () => {
  it('no static token needed; validate true → 200, false → 401, rejection → 503', async () => {
    const store = await openSlaStore({ path: ':memory:' });
    const answers: Record<string, Promise<boolean>> = {
      'keystone-ok': Promise.resolve(true),
      'keystone-no': Promise.resolve(false),
    };
    const app = await buildAgentApp({
      inventory: { snapshot: () => undefined },
      enforcementView: () => undefined,
      store,
      reconcilers: { status: () => [], enqueue: () => undefined, metrics: () => new Map(), ready: () => [] },
      auth: { tokens: [], validate: (token) => answers[token] ?? Promise.reject(new Error('keystone down')) },
      logger: false,
    });
    try {
      const get = async (token: string): Promise<{ status: number; type: string | undefined }> => {
        const r = await app.inject({ method: 'GET', url: '/v1/sla', headers: { authorization: `Bearer ${token}` } });
        return { status: r.statusCode, type: r.headers['content-type']?.toString() };
      };
      assert.equal((await get('keystone-ok')).status, 200);
      assert.equal((await get('keystone-no')).status, 401);
      const down = await get('keystone-down');
      assert.equal(down.status, 503);
      assert.match(down.type ?? '', /problem\+json/);
      assert.equal((await app.inject({ method: 'GET', url: '/v1/sla' })).statusCode, 401, 'no token at all');
    } finally {
      await app.close();
      await store.close();
    }
  });
});

describe('auth.keystone in the configuration', () => {
  const yaml = (auth: string): string => `auth: ${auth}\novsdb: { template: "unix:/x/{host}" }`;
  it('keystone: true needs no static token; absent means false; a non-boolean is a problem', () => {
    assert.deepEqual(parseAgentConfig(yaml('{ keystone: true }'), {}).auth, { tokens: [], keystone: true });
    assert.deepEqual(parseAgentConfig(yaml(`{ tokens: [${STATIC}] }`), {}).auth, { tokens: [STATIC] });
    assert.throws(() => parseAgentConfig(yaml('{ keystone: "yes" }'), {}), /auth\.keystone: must be true or false/);
    assert.throws(() => parseAgentConfig(yaml('{ keystone: false }'), {}), /auth\.tokens: at least one bearer token/);
  });
});
