/**
 * Issue 17 on the real Zed cloud: with Keystone authentication a topology is its caller's
 * project's. Two projects made here (`cm-real-tenant-a`, quota 2 instances, and
 * `cm-real-tenant-b`), each with a member user. Tenant A's member submits a two-server
 * topology: its stack and servers are in project A (the manager grants its own user the admin
 * role there and acts with a token scoped to A, since pinning is admin-only), pinned where
 * planned, SLAs applied; it is planned against A's quota (the five-server thesis topology is
 * infeasible for A, feasible for the operator's admin project); tenant B's member neither
 * sees, reads nor deletes it (404). The time to ACTIVE is printed, not asserted.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningAgent } from '../../src/agent/main.ts';
import type { RunningManager } from '../../src/manager/main.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { callJson, eventually, openReal, realSkip, record, removeLeftovers, startRealAgent, startRealManager } from './cloud.ts';
import { cleanUpUnderAgent } from './leftovers.ts';
import { createTenant, memberToken, removeTenants, type Tenant } from './tenants.ts';

const AGENT_TOKEN = 'real-projects-agent-token-0123456789';
const OPERATOR_TOKEN = 'real-projects-operator-token-0123456789';
const OWNER = 'cm-agent-real-projects';
const THESIS = readFileSync(path.resolve(import.meta.dirname, 'fixtures', 'thesis.yaml'), 'utf8');

/** Two m1.tiny servers: what tenant A's quota (2 instances) holds. */
const PAIR = [
  'name: cm-real-pair',
  'services:',
  ...['Front', 'Back'].map(
    (s) => `  - { service_type: ${s}, image: tiny, flavor: m1.tiny, size: { min: 1, def: 1, max: 1 }, networks: [{ name: n, private_net: private, private_subnet: private-subnet, security_groups: [default] }] }`,
  ),
  'service_instances:',
  '  - { name: Front, service_type: Front }',
  '  - { name: Back, service_type: Back }',
  '',
].join('\n');

interface View {
  id: string;
  project_id: string;
  state: string;
  stack: { name: string; id: string | null };
  units: { name: string; planned_host: string | null; host: string | null; server_id: string | null; sla_state: string | null }[];
  error: unknown;
}

describe('projects on the real Zed cloud', { skip: realSkip }, () => {
  let os: OpenStack;
  let agent: RunningAgent;
  let manager: RunningManager;
  let a: Tenant;
  let b: Tenant;
  const tokens = new Map<string, string>();

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the body type it expects
  const api = <T,>(who: string, method: string, p: string, body?: unknown): Promise<{ status: number; json: T }> => callJson<T>(`${manager.url}${p}`, tokens.get(who) ?? who, method, body);

  before(async () => {
    os = openReal();
    await removeLeftovers(os);
    await removeTenants(os);
    a = await createTenant(os, 'tenant-a', { instances: 2, cores: 2, ram: 2048 });
    b = await createTenant(os, 'tenant-b', { instances: 2, cores: 2, ram: 2048 });
    tokens.set('a', await memberToken(os, a));
    tokens.set('b', await memberToken(os, b));
    tokens.set('operator', OPERATOR_TOKEN);
    agent = await startRealAgent(AGENT_TOKEN, OWNER);
    manager = await startRealManager({ url: agent.url, token: AGENT_TOKEN }, { static: OPERATOR_TOKEN, keystone: true });
  });

  after(async () => {
    const errors: string[] = [];
    await (manager as RunningManager | undefined)?.stop().catch((error: unknown) => errors.push(`stopping the manager: ${(error as Error).message}`));
    await cleanUpUnderAgent({ os, agent, owner: OWNER, first: () => removeTenants(os) }).catch((error: unknown) => errors.push((error as Error).message));
    await os.close();
    assert.deepEqual(errors, [], `clean-up: ${errors.join('; ')}`);
  });

  it("plans against the caller's project quota: the thesis topology (5 servers) does not fit tenant A's 2 instances, it fits the admin project", async () => {
    const theirs = await api<{ plan: { feasible: boolean; explanation: { summary: string } } }>('a', 'POST', '/v1/plans', { topology: THESIS, topology_file: 'thesis.yaml' });
    assert.equal(theirs.status, 200, JSON.stringify(theirs.json));
    assert.equal(theirs.json.plan.feasible, false);
    assert.match(theirs.json.plan.explanation.summary, /quota/);
    const operator = await api<{ plan: { feasible: boolean } }>('operator', 'POST', '/v1/plans', { topology: THESIS, topology_file: 'thesis.yaml' });
    assert.equal(operator.json.plan.feasible, true, JSON.stringify(operator.json));
  });

  it("a member's topology lands in its project, pinned and enforced; another project's member gets 404", async () => {
    const submitted = Date.now();
    const created = await api<View>('a', 'POST', '/v1/topologies', { topology: PAIR, topology_file: 'pair.yaml' });
    assert.equal(created.status, 202, JSON.stringify(created.json));
    assert.equal(created.json.project_id, a.projectId);
    const id = created.json.id;
    const t = await eventually('tenant A topology ACTIVE', async () => {
      const v = (await api<View>('a', 'GET', `/v1/topologies/${id}`)).json;
      if (v.state === 'FAILED') throw new Error(`FAILED: ${JSON.stringify(v.error)}`);
      return v.state === 'ACTIVE' ? v : undefined;
    }, 400_000, 250);
    record('tenant project: submitted → 2 servers ACTIVE with SLAs (first use of the project: role grant + scoped token included)', Date.now() - submitted);

    for (const u of t.units) {
      assert.equal(u.sla_state, 'applied');
      assert.equal(u.host, u.planned_host, `${u.name} where planned`);
      const server = await os.nova.getServer(u.server_id ?? '');
      assert.equal(server.raw.tenant_id, a.projectId, `${u.name}'s server is tenant A's`);
    }
    // The stack is found by name in project A only (Heat lists a project's stacks).
    const stack = await os.forProject(a.projectId).heat.getStack(t.stack.name);
    assert.equal(stack.status, 'CREATE_COMPLETE');
    assert.equal(stack.parameters['OS::project_id'], a.projectId);
    assert.equal(await os.heat.findStack(t.stack.name), undefined, "not in the manager's (admin) project");
    const limits = await os.nova.limits({ tenantId: a.projectId });
    assert.equal(limits.absolute.totalInstancesUsed, 2, "the servers count against A's quota");

    assert.equal((await api('b', 'GET', `/v1/topologies/${id}`)).status, 404);
    assert.equal((await api('b', 'DELETE', `/v1/topologies/${id}`)).status, 404);
    assert.deepEqual((await api<{ items: View[] }>('b', 'GET', '/v1/topologies')).json.items, []);
    assert.ok((await api<{ items: View[] }>('operator', 'GET', '/v1/topologies')).json.items.some((x) => x.id === id), 'the operator sees every project');

    assert.equal((await api('a', 'DELETE', `/v1/topologies/${id}`)).status, 202);
    await eventually('tenant A topology DELETED', async () => ((await api<View>('a', 'GET', `/v1/topologies/${id}`)).json.state === 'DELETED' ? true : undefined), 300_000, 250);
    assert.equal(await os.forProject(a.projectId).heat.findStack(t.stack.name), undefined, 'its stack is gone');
  });
});
