/**
 * Bearer tokens validated with the cloud's Keystone (GET /v3/auth/tokens with
 * X-Subject-Token), for the services' `auth.keystone` option: a token must be
 * valid and carry the required role. Answers are cached until the token
 * expires (refusals for a short while) and concurrent checks of one token
 * share one call.
 */
import { createHash } from 'node:crypto';
import { joinUrl, OpenStackApiError, parseTokenResponse, type OpenStack } from '../openstack/index.ts';
import type { CallerIdentity } from './service.ts';

export interface KeystoneValidatorOptions {
  /** The role a token must carry. @default "admin" */
  role?: string;
  /** How long a refusal (unknown token, missing role) is remembered, ms. @default 30000 */
  negativeTtlMs?: number;
  /** Cache size bound; expired entries are dropped first, then the oldest. @default 10000 */
  maxEntries?: number;
  now?: () => number;
}

/**
 * Validates bearer tokens with Keystone: `GET /v3/auth/tokens` with the
 * agent's own token in X-Auth-Token and the caller's in X-Subject-Token.
 * A token is accepted when Keystone knows it, it has not expired and it
 * carries the role; the answer is cached (by SHA-256 of the token) until the
 * token's expires_at, refusals for `negativeTtlMs`. Concurrent checks of one
 * token share one request. Keystone failures other than 404 reject (→ 503).
 */
export function keystoneTokenValidator(openstack: Pick<OpenStack, 'http' | 'keystone'>, options: KeystoneValidatorOptions = {}): (token: string) => Promise<CallerIdentity | false> {
  const role = options.role ?? 'admin';
  const negativeTtlMs = options.negativeTtlMs ?? 30_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const now = options.now ?? Date.now;
  const cache = new Map<string, { ok: CallerIdentity | false; until: number }>();
  const pending = new Map<string, Promise<CallerIdentity | false>>();
  const remember = (key: string, ok: CallerIdentity | false, until: number): CallerIdentity | false => {
    if (cache.size >= maxEntries) {
      const t = now();
      for (const [k, v] of cache) if (v.until <= t) cache.delete(k);
      while (cache.size >= maxEntries) {
        const oldest = cache.keys().next();
        if (oldest.done === true) break;
        cache.delete(oldest.value);
      }
    }
    cache.set(key, { ok, until });
    return ok;
  };
  const check = async (token: string, key: string): Promise<CallerIdentity | false> => {
    let body: unknown;
    try {
      const res = await openstack.http.request({
        service: 'identity',
        method: 'GET',
        url: joinUrl(openstack.keystone.authUrl, '/auth/tokens'),
        query: { nocatalog: '' },
        headers: { 'x-subject-token': token },
        auth: openstack.keystone,
        okStatus: [200],
      });
      body = res.body;
    } catch (error) {
      if (error instanceof OpenStackApiError && error.status === 404) return remember(key, false, now() + negativeTtlMs);
      throw error;
    }
    const info = parseTokenResponse(body, token);
    const expires = info.expiresAt.getTime();
    // A token without a project scope (unscoped, domain-scoped) names no project to act for.
    if (expires <= now() || !info.roles.includes(role) || info.projectId === undefined) return remember(key, false, Math.min(expires, now() + negativeTtlMs));
    return remember(key, { userId: info.userId, projectId: info.projectId, ...(info.projectName === undefined ? {} : { projectName: info.projectName }), roles: info.roles }, expires);
  };
  return (token) => {
    const key = createHash('sha256').update(token, 'utf8').digest('hex');
    const hit = cache.get(key);
    if (hit && hit.until > now()) return Promise.resolve(hit.ok);
    let p: Promise<CallerIdentity | false> | undefined = pending.get(key);
    if (!p) {
      p = check(token, key).finally(() => pending.delete(key));
      pending.set(key, p);
    }
    return p;
  };
}
