/**
 * Issue 17, projects (first part): with Keystone authentication a topology belongs to the caller's
 * project. On the simulated cloud, whose Keystone and Nova model projects, roles and quotas:
 * - a member's topology is stored under its project (project_id), planned against that project's
 *   quota (read with the manager's admin credentials: `GET /limits?tenant_id=`);
 * - a member of another project neither sees, reads nor deletes it (404, not 403);
 * - a Keystone token with the admin role and a static token (the operator's) see every project's;
 * - static tokens submit into `auth.project`;
 * - the hosts and every project's SLAs (/v1/hosts, /v1/sla) are an operator's view: 403 for members.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import YAML from 'yaml';
import { simCloudConfig } from '../../src/agent/main.ts';
import type { SimCloud } from '../../src/sim/index.ts';
import { keystoneToken } from '../harness/keystone.ts';
import { managerApi, MANAGER_TOKEN, startSimManager, startStack, until, type Stack } from './stack.ts';

const SCENARIO = path.resolve(import.meta.dirname, '../../src/sim/scenarios/thesis.yaml');
const THESIS_YAML = readFileSync(path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis/thesis.yaml'), 'utf8');

/** The thesis scenario with a second member project whose quota is one instance. */
function twoProjects(): Record<string, unknown> {
  const scenario = YAML.parse(readFileSync(SCENARIO, 'utf8')) as { projects: Record<string, unknown>[] };
  scenario.projects.push({ name: 'other', quotas: { instances: 1, cores: 4, ram: 4096 }, users: [{ name: 'other', password: 'other', roles: ['member'] }] });
  return scenario;
}

function projectIdOf(sim: SimCloud, name: string): string {
  const p = [...sim.state.projects.values()].find((x) => x.name === name);
  assert.ok(p, name);
  return p.id;
}

interface View {
  id: string;
  project_id: string;
  state: string;
  stack: { name: string; id: string | null };
  units: { server_id: string | null }[];
}

/** Where the topology's stack and servers are in the simulated cloud. */
function projectsOfDeployment(sim: SimCloud, view: View): { stack: string | undefined; servers: string[] } {
  const stack = view.stack.id === null ? undefined : sim.state.stacks.get(view.stack.id)?.projectId;
  const servers = view.units.flatMap((u) => (u.server_id === null ? [] : [sim.state.servers.get(u.server_id)?.projectId ?? 'missing']));
  return { stack, servers };
}

describe('projects: each caller project owns its topologies', () => {
  let stack: Stack;
  let as: Record<'thesis' | 'other' | 'admin' | 'operator', ReturnType<typeof managerApi>>;

  before(async () => {
    stack = await startStack({ sim: { scenario: twoProjects() as never }, manager: { auth: `{ tokens: [${MANAGER_TOKEN}], keystone: true }` } });
    const token = (user: string, password: string, project: string) => keystoneToken(stack.sim, user, password, project);
    as = {
      thesis: managerApi(stack.manager, await token('thesis', 'thesis', 'thesis')),
      other: managerApi(stack.manager, await token('other', 'other', 'other')),
      admin: managerApi(stack.manager, await token('admin', 'pass', 'admin')),
      operator: stack.api,
    };
  });
  after(async () => {
    await (stack as Stack | undefined)?.close();
  });

  it("a member's topology is its project's: others get 404 on read, delete and in lists; admins and the operator see it", async () => {
    const thesisProject = projectIdOf(stack.sim, 'thesis');
    const created = await as.thesis<View>('POST', '/v1/topologies', { topology: THESIS_YAML });
    assert.equal(created.status, 202, JSON.stringify(created.json));
    assert.equal(created.json.project_id, thesisProject);
    const id = created.json.id;
    await until('ACTIVE', async () => (await as.thesis<View>('GET', `/v1/topologies/${id}`)).json.state, (s) => s === 'ACTIVE' || s === 'FAILED');
    const active = (await as.thesis<View>('GET', `/v1/topologies/${id}`)).json;
    assert.equal(active.state, 'ACTIVE', JSON.stringify(active));
    const where = projectsOfDeployment(stack.sim, active);
    assert.equal(where.stack, thesisProject, "the stack is the caller's project's");
    assert.equal(where.servers.length, 5);
    assert.deepEqual(new Set(where.servers), new Set([thesisProject]), "so are the servers (they count against the thesis project's quota)");
    assert.equal(stack.sim.state.quotaUsage(thesisProject).instances, 5);
    assert.equal(stack.sim.state.quotaUsage(projectIdOf(stack.sim, 'admin')).instances, 0, "none in the manager's project");
    // What let the manager pin them there: its user holds the admin role on the caller's project.
    const managerUser = [...stack.sim.state.users.values()].find((u) => u.name === 'admin');
    assert.ok(managerUser?.roles.get(thesisProject)?.includes('admin'), JSON.stringify([...(managerUser?.roles ?? [])]));

    const read = await as.other<{ type: string }>('GET', `/v1/topologies/${id}`);
    assert.equal(read.status, 404, 'another project: as if it did not exist');
    assert.equal((await as.other('DELETE', `/v1/topologies/${id}`)).status, 404);
    const otherList = await as.other<{ items: View[] }>('GET', '/v1/topologies');
    assert.equal(otherList.status, 200);
    assert.deepEqual(otherList.json.items.map((t) => t.id), []);

    for (const who of ['thesis', 'admin', 'operator'] as const) {
      const list = await as[who]<{ items: View[] }>('GET', '/v1/topologies');
      assert.ok(list.json.items.some((t) => t.id === id), `${who} lists it`);
      assert.equal((await as[who]<View>('GET', `/v1/topologies/${id}`)).status, 200, `${who} reads it`);
    }
    assert.equal((await as.thesis<View>('GET', `/v1/topologies/${id}`)).json.state, 'ACTIVE', 'the failed delete changed nothing');

    assert.equal((await as.thesis('DELETE', `/v1/topologies/${id}`)).status, 202);
    await until('DELETED', async () => (await as.thesis<View>('GET', `/v1/topologies/${id}`)).json.state, (s) => s === 'DELETED');
  });

  it("plans against the caller's project quota", async () => {
    const mine = await as.thesis<{ plan: { feasible: boolean } }>('POST', '/v1/plans', { topology: THESIS_YAML });
    assert.equal(mine.status, 200, JSON.stringify(mine.json));
    assert.equal(mine.json.plan.feasible, true, 'thesis: 10 instances');
    const theirs = await as.other<{ plan: { feasible: boolean; reasons: unknown[]; explanation: { summary: string } } }>('POST', '/v1/plans', { topology: THESIS_YAML });
    assert.equal(theirs.status, 200, JSON.stringify(theirs.json));
    assert.equal(theirs.json.plan.feasible, false, 'other: 1 instance');
    assert.match(theirs.json.plan.explanation.summary, /quota/);
    const submitted = await as.other<{ type: string }>('POST', '/v1/topologies', { topology: THESIS_YAML });
    assert.equal(submitted.status, 422);
    assert.equal(submitted.json.type, '/problems/infeasible');
  });

  it('hosts and every SLA are the operator view: 403 for a member, 200 for an admin token', async () => {
    for (const route of ['/v1/hosts', '/v1/sla']) {
      const member = await as.thesis<{ type: string; detail: string }>('GET', route);
      assert.equal(member.status, 403, route);
      assert.equal(member.json.type, '/problems/forbidden');
      assert.equal((await as.admin('GET', route)).status, 200, route);
    }
  });
});

/** One unit: what fits a quota of one instance. */
const ONE_UNIT = [
  'name: one',
  'services:',
  '  - { service_type: T, image: cirros, flavor: m1.mini, size: { min: 1, def: 1, max: 1 }, networks: [{ name: n, private_net: private, private_subnet: private-subnet }] }',
  'service_instances:',
  '  - { name: S, service_type: T }',
  '',
].join('\n');

describe('projects: static tokens submit into auth.project', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ sim: { scenario: twoProjects() as never } });
  });
  after(async () => {
    await (stack as Stack | undefined)?.close();
  });

  it("without auth.project the manager's project; with it that project, planned against its quota", async () => {
    const mine = await stack.api<View>('POST', '/v1/topologies', { topology: ONE_UNIT });
    assert.equal(mine.status, 202, JSON.stringify(mine.json));
    assert.equal(mine.json.project_id, projectIdOf(stack.sim, 'admin'));
    const other = projectIdOf(stack.sim, 'other');
    const manager2 = await startSimManager(stack.sim, stack.agent, { auth: `{ tokens: [${MANAGER_TOKEN}], project: ${other} }` });
    try {
      const api = managerApi(manager2);
      const plan = await api<{ plan: { feasible: boolean } }>('POST', '/v1/plans', { topology: THESIS_YAML });
      assert.equal(plan.json.plan.feasible, false, "the other project's quota (1 instance)");
      const created = await api<View>('POST', '/v1/topologies', { topology: ONE_UNIT.replace('name: one', 'name: one-other') });
      assert.equal(created.status, 202, JSON.stringify(created.json));
      assert.equal(created.json.project_id, other);
      await until('ACTIVE', async () => (await api<View>('GET', `/v1/topologies/${created.json.id}`)).json.state, (s) => s === 'ACTIVE' || s === 'FAILED');
      const deployed = projectsOfDeployment(stack.sim, (await api<View>('GET', `/v1/topologies/${created.json.id}`)).json);
      assert.deepEqual(deployed, { stack: other, servers: [other] });
      // (Each manager here has its own in-memory store.)
      for (const [client, id] of [[stack.api, mine.json.id], [api, created.json.id]] as const) {
        assert.equal((await client('DELETE', `/v1/topologies/${id}`)).status, 202);
        await until('DELETED', async () => (await client<View>('GET', `/v1/topologies/${id}`)).json.state, (s) => s === 'DELETED');
      }
    } finally {
      await manager2.stop();
    }
  });
});

describe("a manager that cannot act in the caller's project", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ sim: { scenario: twoProjects() as never } });
  });
  after(async () => {
    await (stack as Stack | undefined)?.close();
  });

  it("with an application credential (bound to the manager's project): the member's topology FAILs saying so, nothing is created", async () => {
    const appCred = simCloudConfig(stack.sim);
    appCred.authType = 'v3applicationcredential';
    appCred.auth = { authUrl: appCred.auth.authUrl, applicationCredentialId: '5a3b7c1e9d2f4e6a8b0c1d2e3f4a5b6c', applicationCredentialSecret: 'cm-secret' };
    const manager = await startSimManager(stack.sim, stack.agent, { auth: `{ tokens: [${MANAGER_TOKEN}], keystone: true }` }, { cloud: appCred });
    try {
      const member = managerApi(manager, await keystoneToken(stack.sim, 'thesis', 'thesis', 'thesis'));
      const stacksBefore = stack.sim.state.stacks.size;
      const created = await member<View>('POST', '/v1/topologies', { topology: ONE_UNIT });
      assert.equal(created.status, 202, JSON.stringify(created.json));
      const failed = await until('FAILED', async () => (await member<View & { error: { code: string; message: string } | null }>('GET', `/v1/topologies/${created.json.id}`)).json, (v) => v.state === 'FAILED' || v.state === 'ACTIVE');
      assert.equal(failed.state, 'FAILED');
      assert.equal(failed.error?.code, 'CM_ERR_OPENSTACK_CONFIG');
      assert.match(failed.error.message, /v3applicationcredential is bound to one project: acting in project [0-9a-f]+ needs password credentials/);
      assert.equal(stack.sim.state.stacks.size, stacksBefore, 'no stack');
    } finally {
      await manager.stop();
    }
  });
});

describe('a manager whose credentials cannot pin hosts', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack({ sim: { scenario: twoProjects() as never } });
  });
  after(async () => {
    await (stack as Stack | undefined)?.close();
  });

  it('is not ready, naming the admin role and the policy, unless its strategy leaves hosts to Nova', async () => {
    const member = simCloudConfig(stack.sim);
    member.auth = { ...member.auth, username: 'thesis', password: 'thesis', projectName: 'thesis' };
    const pinning = await startSimManager(stack.sim, stack.agent, {}, { cloud: member });
    try {
      const r = await until('not ready', () => fetch(`${pinning.url}/readyz`).then(async (x) => ({ status: x.status, body: (await x.json()) as { reasons?: string[] } })), (x) => x.status === 503 && (x.body.reasons ?? []).some((y) => /admin role/.test(y)), 10_000);
      const reason = (r.body.reasons ?? []).find((y) => /admin role/.test(y)) ?? '';
      assert.match(reason, /^keystone: the manager's credentials \(user thesis, project thesis, roles member, reader\) lack the admin role that pinning servers to hosts needs \(Nova policy os_compute_api:servers:create:forced_host\)/);
      assert.match(reason, /placement\.strategy: nova/);
      const refused = await managerApi(pinning)<{ type: string }>('POST', '/v1/topologies', { topology: ONE_UNIT });
      assert.equal(refused.status, 503, 'refused now rather than failing at servers:create later');
    } finally {
      await pinning.stop();
    }
    const scheduling = await startSimManager(stack.sim, stack.agent, { placement: '{ strategy: nova }' }, { cloud: member });
    try {
      await until('ready', () => fetch(`${scheduling.url}/readyz`).then((x) => x.status), (x) => x === 200, 10_000);
    } finally {
      await scheduling.stop();
    }
  });
});
