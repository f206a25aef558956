/**
 * Keystone v3: password and application-credential authentication, token
 * validation, and the service catalog.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiError, authOf, body, origin, queryOne, type AuthContext } from './http.ts';
import { hexId, type SimProject, type SimState, type SimUser } from './state.ts';

const TOKEN_LIFETIME_MS = 3600_000;
const KEYSTONE_TIME = (d: Date): string => d.toISOString().replace('Z', '000Z');

/**
 * The default roles' implications as `keystone-manage bootstrap` creates them (Queens and later):
 * admin implies member, member implies reader. A token lists its effective roles, implied ones
 * included — checked against the real Zed Keystone: admin's project token lists
 * reader, heat_stack_owner, admin, member.
 */
const IMPLIED_ROLES: Readonly<Record<string, readonly string[]>> = { admin: ['member'], member: ['reader'] };

export function effectiveRoles(assigned: readonly string[]): string[] {
  const out = new Set<string>();
  const visit = (role: string): void => {
    if (out.has(role)) return;
    out.add(role);
    for (const implied of IMPLIED_ROLES[role] ?? []) visit(implied);
  };
  for (const role of assigned) visit(role);
  return [...out];
}

export class TokenStore {
  private readonly tokens = new Map<string, AuthContext>();

  issue(user: SimUser, project: SimProject, methods: string[], roles: string[]): AuthContext {
    const issuedAt = new Date();
    const ctx: AuthContext = {
      token: `gAAAAA${randomBytes(24).toString('base64url')}`,
      userId: user.id,
      userName: user.name,
      projectId: project.id,
      projectName: project.name,
      roles: effectiveRoles(roles),
      isAdmin: roles.includes('admin'),
      issuedAt,
      expiresAt: new Date(issuedAt.getTime() + TOKEN_LIFETIME_MS),
      methods,
    };
    this.tokens.set(ctx.token, ctx);
    return ctx;
  }

  validate(token: string | undefined): AuthContext | undefined {
    if (token === undefined) return undefined;
    const ctx = this.tokens.get(token);
    if (!ctx) return undefined;
    if (ctx.expiresAt.getTime() <= Date.now()) {
      this.tokens.delete(token);
      return undefined;
    }
    return ctx;
  }

  /** Every issued token becomes invalid (what a Fernet key rotation or expiry does to a client). */
  expireAll(): void {
    this.tokens.clear();
  }
}

const SERVICES = [
  { type: 'identity', name: 'keystone', path: '/identity' },
  { type: 'compute', name: 'nova', path: '/compute/v2.1' },
  { type: 'placement', name: 'placement', path: '/placement' },
  { type: 'network', name: 'neutron', path: '/network' },
  { type: 'orchestration', name: 'heat', path: '/heat-api/v1/%(project_id)s' },
] as const;

const unauthorized = (): ApiError => new ApiError(401, 'The request you have made requires authentication.');

export function registerKeystone(app: FastifyInstance, state: SimState, tokens: TokenStore): void {
  const ids = new Map<string, string>();
  const stableId = (key: string): string => {
    let id = ids.get(key);
    if (id === undefined) {
      id = hexId();
      ids.set(key, id);
    }
    return id;
  };

  const catalog = (req: FastifyRequest, projectId: string) => {
    const base = `http://${req.headers.host ?? '127.0.0.1'}`;
    return SERVICES.map((s) => ({
      endpoints: (['public', 'internal', 'admin'] as const).map((iface) => ({
        id: stableId(`${s.type}:${iface}`),
        interface: iface,
        region: state.region,
        region_id: state.region,
        url: base + s.path.replace('%(project_id)s', projectId),
      })),
      type: s.type,
      id: stableId(s.type),
      name: s.name,
    }));
  };

  const tokenBody = (req: FastifyRequest, ctx: AuthContext, withCatalog: boolean) => {
    const user = state.users.get(ctx.userId);
    const project = state.projects.get(ctx.projectId);
    const domain = { id: state.domain.id, name: state.domain.name };
    const token: Record<string, unknown> = {
      audit_ids: [randomBytes(16).toString('base64url').slice(0, 22)],
      expires_at: KEYSTONE_TIME(ctx.expiresAt),
      is_domain: false,
      issued_at: KEYSTONE_TIME(ctx.issuedAt),
      methods: ctx.methods,
      project: { domain, id: ctx.projectId, name: project?.name ?? ctx.projectName },
      roles: ctx.roles.map((r) => ({ id: stableId(`role:${r}`), name: r })),
      user: { domain, id: ctx.userId, name: user?.name ?? ctx.userName, password_expires_at: null },
    };
    if (withCatalog) token.catalog = catalog(req, ctx.projectId);
    return { token };
  };

  const versionDoc = (req: FastifyRequest) => ({
    version: {
      id: 'v3.14',
      status: 'stable',
      updated: '2020-04-07T00:00:00Z',
      links: [{ rel: 'self', href: `http://${req.headers.host ?? ''}/identity/v3/` }],
      'media-types': [{ base: 'application/json', type: 'application/vnd.openstack.identity-v3+json' }],
    },
  });
  app.get('/identity/v3', versionDoc);
  app.get('/identity/v3/', versionDoc);

  const resolveProject = (scope: unknown): SimProject => {
    const p = (scope as { project?: { id?: unknown; name?: unknown; domain?: { id?: unknown; name?: unknown } } } | undefined)?.project;
    if (!p) throw unauthorized();
    let project: SimProject | undefined;
    if (typeof p.id === 'string') project = state.projects.get(p.id);
    else if (typeof p.name === 'string') {
      const dom = p.domain;
      const domainOk = dom !== undefined && (dom.id === state.domain.id || dom.name === state.domain.name);
      if (!domainOk) throw new ApiError(400, 'Expecting to find domain in project. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.');
      project = state.projectByName(p.name);
    }
    if (!project) throw unauthorized();
    return project;
  };

  app.post('/identity/v3/auth/tokens', (req: FastifyRequest, reply: FastifyReply) => {
    const auth = body(req).auth as Record<string, unknown> | undefined;
    const identity = auth?.identity as Record<string, unknown> | undefined;
    const methods = identity?.methods;
    if (!identity || !Array.isArray(methods) || methods.length === 0) {
      throw new ApiError(400, "Invalid input for field 'identity': 'methods' is a required property");
    }
    let ctx: AuthContext;
    if (methods.includes('password')) {
      const u = (identity.password as { user?: { id?: unknown; name?: unknown; password?: unknown; domain?: { id?: unknown; name?: unknown } } } | undefined)?.user;
      if (!u || typeof u.password !== 'string') throw new ApiError(400, "Invalid input for field 'identity/password/user': 'password' is a required property");
      let user: SimUser | undefined;
      if (typeof u.id === 'string') user = state.users.get(u.id);
      else if (typeof u.name === 'string') {
        if (u.domain === undefined) throw new ApiError(400, 'Expecting to find domain in user. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.');
        if (u.domain.id === state.domain.id || u.domain.name === state.domain.name) user = state.userByName(u.name);
      }
      if (user?.password !== u.password) throw unauthorized();
      const project = resolveProject(auth?.scope);
      const roles = user.roles.get(project.id);
      if (!roles) throw unauthorized();
      ctx = tokens.issue(user, project, ['password'], roles);
    } else if (methods.includes('application_credential')) {
      const a = identity.application_credential as { id?: unknown; name?: unknown; secret?: unknown; user?: { id?: unknown; name?: unknown } } | undefined;
      if (!a || typeof a.secret !== 'string') throw new ApiError(400, "Invalid input for field 'identity/application_credential': 'secret' is a required property");
      let cred = typeof a.id === 'string' ? state.appCreds.get(a.id) : undefined;
      if (!cred && typeof a.name === 'string') {
        const owner = typeof a.user?.id === 'string' ? state.users.get(a.user.id) : typeof a.user?.name === 'string' ? state.userByName(a.user.name) : undefined;
        cred = [...state.appCreds.values()].find((c) => c.name === a.name && c.userId === owner?.id);
      }
      if (cred?.secret !== a.secret) throw unauthorized();
      const user = state.users.get(cred.userId);
      const project = state.projects.get(cred.projectId);
      if (!user || !project) throw unauthorized();
      ctx = tokens.issue(user, project, ['application_credential'], user.roles.get(project.id) ?? []);
    } else {
      throw new ApiError(401, `Attempted to authenticate with an unsupported method.`);
    }
    const nocatalog = typeof req.query === 'object' && req.query !== null && 'nocatalog' in req.query;
    return reply.code(201).header('x-subject-token', ctx.token).header('vary', 'X-Auth-Token').send(tokenBody(req, ctx, !nocatalog));
  });

  // Roles and project role assignments, as an admin manages them (policy identity:list_roles,
  // identity:create_grant: admin only). A role's id is stable for the life of the sim.
  const roleNames = (): string[] => {
    const names = new Set(['admin', 'member', 'reader']);
    for (const u of state.users.values()) for (const roles of u.roles.values()) for (const r of roles) names.add(r);
    return [...names].sort();
  };
  const roleView = (req: FastifyRequest, name: string) => {
    const id = stableId(`role:${name}`);
    // keystone-manage bootstrap marks its roles immutable.
    const options = ['admin', 'member', 'reader'].includes(name) ? { immutable: true } : {};
    return { id, name, domain_id: null, description: null, options, links: { self: `${origin(req)}/identity/v3/roles/${id}` } };
  };
  const requireAdmin = (req: FastifyRequest, action: string): void => {
    if (!authOf(req).isAdmin) throw new ApiError(403, `You are not authorized to perform the requested action: ${action}.`);
  };
  app.get('/identity/v3/roles', (req) => {
    requireAdmin(req, 'identity:list_roles');
    const name = queryOne(req.query, 'name');
    return {
      roles: roleNames().filter((r) => name === undefined || r === name).map((r) => roleView(req, r)),
      links: { next: null, self: `${origin(req)}${req.url}`, previous: null },
    };
  });
  type GrantParams = { project: string; user: string; role: string };
  const grant = (req: FastifyRequest<{ Params: GrantParams }>) => {
    const project = state.projects.get(req.params.project);
    if (!project) throw new ApiError(404, `Could not find project: ${req.params.project}.`);
    const user = state.users.get(req.params.user);
    if (!user) throw new ApiError(404, `Could not find user: ${req.params.user}.`);
    const role = roleNames().find((r) => stableId(`role:${r}`) === req.params.role);
    if (role === undefined) throw new ApiError(404, `Could not find role: ${req.params.role}.`);
    return { project, user, role };
  };
  const GRANT = '/identity/v3/projects/:project/users/:user/roles/:role';
  app.put<{ Params: GrantParams }>(GRANT, (req, reply) => {
    requireAdmin(req, 'identity:create_grant');
    const { project, user, role } = grant(req);
    const held = user.roles.get(project.id) ?? [];
    if (!held.includes(role)) user.roles.set(project.id, [...held, role]);
    return reply.code(204).send();
  });
  app.head<{ Params: GrantParams }>(GRANT, (req, reply) => {
    requireAdmin(req, 'identity:check_grant');
    const { project, user, role } = grant(req);
    if (!(user.roles.get(project.id) ?? []).includes(role)) throw new ApiError(404, `Could not find role assignment with role: ${role}, user or group: ${user.id}, project, domain, or system: ${project.id}.`);
    return reply.code(204).send();
  });

  app.get('/identity/v3/auth/tokens', (req, reply) => {
    const subject = req.headers['x-subject-token'];
    const ctx = tokens.validate(typeof subject === 'string' ? subject : undefined);
    if (!ctx) throw new ApiError(404, `Could not find token: ${String(subject)}.`);
    return reply.header('x-subject-token', ctx.token).send(tokenBody(req, ctx, true));
  });
}
