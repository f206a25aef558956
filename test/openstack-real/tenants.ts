/**
 * Projects and member users made by the real-cloud tests (Keystone's admin API, called with the
 * stage's admin credentials), and their removal, stacks first, when an aborted run left them.
 * Everything is named `cm-real-…`.
 */
import { joinUrl, OpenStackApiError, type OpenStack } from '../../src/openstack/index.ts';
import { PREFIX, waitServerGone } from './cloud.ts';

export interface Tenant {
  projectId: string;
  projectName: string;
  userId: string;
  userName: string;
  password: string;
}

async function identity(os: OpenStack, method: string, p: string, body?: unknown, query?: Record<string, string>): Promise<unknown> {
  const res = await os.http.request({
    service: 'identity',
    method,
    url: joinUrl(os.keystone.authUrl, p),
    auth: os.keystone,
    ...(body === undefined ? {} : { body }),
    ...(query === undefined ? {} : { query }),
  });
  return res.body;
}

/** A project `cm-real-<name>` with a member user `cm-real-<name>` and the given Nova quota. */
export async function createTenant(os: OpenStack, name: string, quota: { instances: number; cores: number; ram: number }): Promise<Tenant> {
  const full = `${PREFIX}-${name}`;
  const password = `${full}-pw`;
  const project = (await identity(os, 'POST', '/projects', { project: { name: full, domain_id: 'default', description: 'made by the CM real-cloud tests' } })) as { project: { id: string } };
  const user = (await identity(os, 'POST', '/users', { user: { name: full, password, domain_id: 'default', default_project_id: project.project.id } })) as { user: { id: string } };
  const member = await os.keystone.findRole('member');
  if (!member) throw new Error('the cloud has no member role');
  await os.keystone.assignProjectRole(project.project.id, user.user.id, member.id);
  const compute = await os.keystone.endpoint('compute');
  await os.http.request({
    service: 'compute',
    method: 'PUT',
    url: joinUrl(compute, `/os-quota-sets/${project.project.id}`),
    auth: os.keystone,
    body: { quota_set: quota },
  });
  return { projectId: project.project.id, projectName: full, userId: user.user.id, userName: full, password };
}

/** A member's project-scoped token, as a CLI user of that project would get it. */
export async function memberToken(os: OpenStack, tenant: Tenant): Promise<string> {
  const res = await os.http.request({
    service: 'identity',
    method: 'POST',
    url: joinUrl(os.keystone.authUrl, '/auth/tokens'),
    body: {
      auth: {
        identity: { methods: ['password'], password: { user: { name: tenant.userName, domain: { id: 'default' }, password: tenant.password } } },
        scope: { project: { id: tenant.projectId } },
      },
    },
    okStatus: [201],
  });
  const token = res.headers['x-subject-token'];
  if (token === undefined) throw new Error('Keystone gave no token');
  return token;
}

/**
 * Deletes every `cm-real-…` project (its stacks and servers first, acting in it with the admin role
 * the stage's user grants itself there, as the manager does) and every `cm-real-…` user.
 */
export async function removeTenants(os: OpenStack): Promise<void> {
  const projects = ((await identity(os, 'GET', '/projects')) as { projects: { id: string; name: string }[] }).projects.filter((p) => p.name.startsWith(`${PREFIX}-`));
  if (projects.length > 0) {
    const me = await os.keystone.tokenInfo();
    const admin = await os.keystone.findRole('admin');
    if (!admin) throw new Error('the cloud has no admin role');
    for (const p of projects) {
      await os.keystone.assignProjectRole(p.id, me.userId, admin.id);
      const scoped = os.forProject(p.id);
      for (const s of await scoped.heat.listStacks()) {
        if (s.status === 'DELETE_COMPLETE') continue;
        await scoped.heat.deleteStack(s.name, s.id).catch(ignore404);
        await scoped.heat.waitForStack(s.name, s.id, { intervalMs: 500, timeoutMs: 120_000 }).catch(ignore404);
      }
      const servers = await os.nova.listServers({ allTenants: true, projectId: p.id });
      for (const s of servers) await os.nova.deleteServer(s.id).catch(ignore404);
      for (const s of servers) await waitServerGone(os, s.id, 120_000);
      await identity(os, 'DELETE', `/projects/${p.id}`).catch(ignore404);
    }
  }
  const users = ((await identity(os, 'GET', '/users')) as { users: { id: string; name: string }[] }).users.filter((u) => u.name.startsWith(`${PREFIX}-`));
  for (const u of users) await identity(os, 'DELETE', `/users/${u.id}`).catch(ignore404);
}

/** `cm-real-…` projects and users still in Keystone (the leftover check lists them). */
export async function tenantLeftovers(os: OpenStack): Promise<{ kind: 'project' | 'user'; id: string; name: string }[]> {
  const projects = ((await identity(os, 'GET', '/projects')) as { projects: { id: string; name: string }[] }).projects;
  const users = ((await identity(os, 'GET', '/users')) as { users: { id: string; name: string }[] }).users;
  return [
    ...projects.filter((p) => p.name.startsWith(`${PREFIX}-`)).map((p) => ({ kind: 'project' as const, id: p.id, name: p.name })),
    ...users.filter((u) => u.name.startsWith(`${PREFIX}-`)).map((u) => ({ kind: 'user' as const, id: u.id, name: u.name })),
  ];
}

function ignore404(error: unknown): void {
  if (error instanceof OpenStackApiError && error.status === 404) return;
  throw error;
}
