/**
 * Keystone v3: password and application-credential authentication
 * (POST /v3/auth/tokens, token in X-Subject-Token of the 201), a cached
 * token refreshed before expires_at and once on a 401, and the catalog.
 */
import type { AuthConfig, AuthType, EndpointInterface } from '../config.ts';
import { OpenStackCatalogError, OpenStackResponseError } from '../errors.ts';
import { joinUrl, type HttpClient, type TokenProvider } from '../http.ts';
import { asArray, asObject, optStr, str, type JsonObject } from '../json.ts';

export interface CatalogEndpoint {
  id: string;
  interface: string;
  regionId: string | undefined;
  url: string;
}

export interface CatalogService {
  type: string;
  name: string | undefined;
  id: string | undefined;
  endpoints: CatalogEndpoint[];
}

export interface TokenInfo {
  token: string;
  expiresAt: Date;
  issuedAt: Date | undefined;
  userId: string;
  userName: string | undefined;
  projectId: string | undefined;
  projectName: string | undefined;
  roles: string[];
  catalog: CatalogService[];
  requestId: string | undefined;
  raw: JsonObject;
}

/** Builds the JSON body of POST /v3/auth/tokens. */
export function buildAuthRequest(authType: AuthType, a: AuthConfig): JsonObject {
  const domain = (id: string | undefined, name: string | undefined): JsonObject | undefined =>
    id !== undefined ? { id } : name !== undefined ? { name } : undefined;
  const user = (): JsonObject => {
    if (a.userId !== undefined) return { id: a.userId };
    const u: JsonObject = { name: a.username };
    const d = domain(a.userDomainId, a.userDomainName);
    if (d) u.domain = d;
    return u;
  };
  if (authType === 'v3applicationcredential') {
    const cred: JsonObject =
      a.applicationCredentialId !== undefined
        ? { id: a.applicationCredentialId, secret: a.applicationCredentialSecret }
        : { name: a.applicationCredentialName, user: user(), secret: a.applicationCredentialSecret };
    // An application credential is already scoped to its project: no scope block.
    return { auth: { identity: { methods: ['application_credential'], application_credential: cred } } };
  }
  const body: JsonObject = {
    identity: { methods: ['password'], password: { user: { ...user(), password: a.password } } },
  };
  if (a.projectId !== undefined) body.scope = { project: { id: a.projectId } };
  else if (a.projectName !== undefined) {
    const project: JsonObject = { name: a.projectName };
    const d = domain(a.projectDomainId, a.projectDomainName);
    if (d) project.domain = d;
    body.scope = { project };
  }
  return { auth: body };
}

export function parseCatalog(v: unknown): CatalogService[] {
  if (v === undefined) return [];
  return asArray(v, 'token.catalog').map((s, i) => {
    const o = asObject(s, `token.catalog[${String(i)}]`);
    return {
      type: str(o, 'type', `token.catalog[${String(i)}]`),
      name: optStr(o, 'name'),
      id: optStr(o, 'id'),
      endpoints: asArray(o.endpoints ?? [], `token.catalog[${String(i)}].endpoints`).map((e, j) => {
        const where = `token.catalog[${String(i)}].endpoints[${String(j)}]`;
        const eo = asObject(e, where);
        return {
          id: optStr(eo, 'id') ?? '',
          interface: str(eo, 'interface', where),
          regionId: optStr(eo, 'region_id') ?? optStr(eo, 'region'),
          url: str(eo, 'url', where),
        };
      }),
    };
  });
}

/** Parses the 201 body of POST /v3/auth/tokens; `subjectToken` is the X-Subject-Token header. */
export function parseTokenResponse(body: unknown, subjectToken: string | undefined, requestId?: string): TokenInfo {
  if (subjectToken === undefined || subjectToken === '') {
    throw new OpenStackResponseError('keystone POST /v3/auth/tokens: the answer has no X-Subject-Token header');
  }
  const t = asObject(asObject(body, 'auth response').token, 'token');
  const expires = new Date(str(t, 'expires_at', 'token'));
  if (Number.isNaN(expires.getTime())) throw new OpenStackResponseError('token.expires_at is not a date');
  const issued = optStr(t, 'issued_at');
  const user = asObject(t.user, 'token.user');
  const project = t.project === undefined ? undefined : asObject(t.project, 'token.project');
  const roles = t.roles === undefined ? [] : asArray(t.roles, 'token.roles');
  return {
    token: subjectToken,
    expiresAt: expires,
    issuedAt: issued === undefined ? undefined : new Date(issued),
    userId: str(user, 'id', 'token.user'),
    userName: optStr(user, 'name'),
    projectId: project ? optStr(project, 'id') : undefined,
    projectName: project ? optStr(project, 'name') : undefined,
    roles: roles.map((r) => optStr(asObject(r, 'token.roles[]'), 'name') ?? ''),
    catalog: parseCatalog(t.catalog),
    requestId,
    raw: t,
  };
}

export interface KeystoneRole {
  id: string;
  name: string;
}

export interface EndpointQuery {
  interface?: EndpointInterface;
  region?: string | undefined;
}

/** Finds the endpoint URL by exact service type, interface (default public) and region. */
export function findEndpoint(catalog: readonly CatalogService[], type: string, q: EndpointQuery = {}): string {
  const iface = q.interface ?? 'public';
  const services = catalog.filter((s) => s.type === type);
  if (services.length === 0) {
    throw new OpenStackCatalogError(
      type,
      `service type "${type}" is not in the token's catalog (catalog has: ${catalog.map((s) => s.type).join(', ') || 'nothing; is the token unscoped?'})`,
    );
  }
  const candidates = services.flatMap((s) => s.endpoints).filter((e) => e.interface === iface);
  const matching = q.region === undefined ? candidates : candidates.filter((e) => e.regionId === q.region);
  const found = matching[0];
  if (!found) {
    const have = services
      .flatMap((s) => s.endpoints)
      .map((e) => `${e.interface}@${e.regionId ?? '?'}`)
      .join(', ');
    throw new OpenStackCatalogError(
      type,
      `service type "${type}" has no ${iface} endpoint${q.region === undefined ? '' : ` in region "${q.region}"`} (it has: ${have || 'no endpoints'})`,
    );
  }
  return found.url;
}

/** Normalises an auth URL to its v3 root ("http://h:5000" and "http://h/identity/v3/" both work). */
export function identityV3Root(authUrl: string): string {
  const base = authUrl.replace(/\/+$/, '');
  return /\/v3$/.test(base) ? base : `${base}/v3`;
}

export interface KeystoneOptions {
  authType: AuthType;
  auth: AuthConfig;
  interface?: EndpointInterface;
  region?: string | undefined;
  /** Re-authenticate this long before expires_at (default 5 min, capped to half the token's lifetime). */
  refreshMarginMs?: number;
  now?: () => number;
}

export class KeystoneClient implements TokenProvider {
  readonly #http: HttpClient;
  readonly #opts: KeystoneOptions;
  readonly #now: () => number;
  #current: TokenInfo | undefined;
  #pending: Promise<TokenInfo> | undefined;
  /** Number of POST /v3/auth/tokens made (for diagnostics and tests). */
  authCount = 0;

  constructor(http: HttpClient, options: KeystoneOptions) {
    this.#http = http;
    this.#opts = options;
    this.#now = options.now ?? Date.now;
  }

  get authUrl(): string {
    return identityV3Root(this.#opts.auth.authUrl);
  }

  /** Always makes a new POST /v3/auth/tokens. */
  async authenticate(signal?: AbortSignal): Promise<TokenInfo> {
    this.authCount++;
    const res = await this.#http.request({
      service: 'identity',
      method: 'POST',
      url: joinUrl(this.authUrl, '/auth/tokens'),
      body: buildAuthRequest(this.#opts.authType, this.#opts.auth),
      signal,
      okStatus: [200, 201],
    });
    const info = parseTokenResponse(res.body, res.headers['x-subject-token'], res.requestId);
    this.#current = info;
    return info;
  }

  /** The cached token, re-authenticating when it is missing or close to expiry (single flight). */
  async tokenInfo(signal?: AbortSignal): Promise<TokenInfo> {
    const cur = this.#current;
    if (cur && !this.#needsRefresh(cur)) return cur;
    if (!this.#pending) {
      this.#pending = this.authenticate(signal).finally(() => {
        this.#pending = undefined;
      });
    }
    return this.#pending;
  }

  async getToken(signal?: AbortSignal): Promise<string> {
    return (await this.tokenInfo(signal)).token;
  }

  invalidate(token: string): void {
    if (this.#current?.token === token) this.#current = undefined;
  }

  async catalog(signal?: AbortSignal): Promise<CatalogService[]> {
    return (await this.tokenInfo(signal)).catalog;
  }

  /** GET /v3/roles?name=: the role of that name, or undefined (needs a token allowed identity:list_roles). */
  async findRole(name: string, o: { signal?: AbortSignal } = {}): Promise<KeystoneRole | undefined> {
    const res = await this.#http.request({
      service: 'identity',
      method: 'GET',
      url: joinUrl(this.authUrl, '/roles'),
      query: { name },
      auth: this,
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const roles = asArray(asObject(res.body, 'roles body').roles, 'roles');
    const found = roles.map((r) => asObject(r, 'roles[]')).find((r) => r.name === name);
    return found === undefined ? undefined : { id: str(found, 'id', 'role'), name };
  }

  /**
   * PUT /v3/projects/{project}/users/{user}/roles/{role} (204): grants a role on a project.
   * Idempotent in Keystone: granting a role already held answers 204 too.
   */
  async assignProjectRole(projectId: string, userId: string, roleId: string, o: { signal?: AbortSignal } = {}): Promise<void> {
    const e = encodeURIComponent;
    await this.#http.request({
      service: 'identity',
      method: 'PUT',
      url: joinUrl(this.authUrl, `/projects/${e(projectId)}/users/${e(userId)}/roles/${e(roleId)}`),
      auth: this,
      okStatus: [204],
      retry: true,
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }

  /** Endpoint URL of a service type, using the configured interface and region unless given. */
  async endpoint(type: string, q: EndpointQuery = {}, signal?: AbortSignal): Promise<string> {
    const cat = await this.catalog(signal);
    return findEndpoint(cat, type, {
      interface: q.interface ?? this.#opts.interface ?? 'public',
      region: q.region ?? this.#opts.region,
    });
  }

  #needsRefresh(t: TokenInfo): boolean {
    const now = this.#now();
    const lifetime = t.expiresAt.getTime() - (t.issuedAt?.getTime() ?? now);
    const margin = Math.min(this.#opts.refreshMarginMs ?? 300_000, Math.max(0, lifetime / 2));
    return t.expiresAt.getTime() - margin <= now;
  }
}
