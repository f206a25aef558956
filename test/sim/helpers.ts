/** Small HTTP helpers for the simulated cloud's tests (global fetch, 127.0.0.1 only). */
import type { SimCloud } from '../../src/sim/index.ts';

export interface Session {
  token: string;
  catalog: { type: string; endpoints: { interface: string; url: string; region_id: string }[] }[];
  body: Record<string, unknown>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  body: unknown;
}

export async function call(method: string, url: string, opts: { token?: string; headers?: Record<string, string>; body?: unknown } = {}): Promise<CallResult> {
  const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
  if (opts.token !== undefined) headers['x-auth-token'] = opts.token;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(url, { method, headers, redirect: 'manual', ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body };
}

export function passwordAuth(username: string, password: string, projectName: string): unknown {
  return {
    auth: {
      identity: { methods: ['password'], password: { user: { name: username, domain: { name: 'Default' }, password } } },
      scope: { project: { name: projectName, domain: { id: 'default' } } },
    },
  };
}

export async function login(cloud: SimCloud, user?: { username: string; password: string; projectName: string }): Promise<Session> {
  const c = user ?? cloud.credentials;
  const res = await call('POST', `${cloud.authUrl}/auth/tokens`, { body: passwordAuth(c.username, c.password, c.projectName) });
  if (res.status !== 201) throw new Error(`auth failed: ${res.status} ${JSON.stringify(res.body)}`);
  const token = res.headers.get('x-subject-token') ?? '';
  const body = res.body as { token: Record<string, unknown> };
  return { token, catalog: body.token.catalog as Session['catalog'], body: body.token };
}

export function endpoint(session: Session, type: string, iface = 'public'): string {
  const svc = session.catalog.find((s) => s.type === type);
  const ep = svc?.endpoints.find((e) => e.interface === iface);
  if (!ep) throw new Error(`no ${type} endpoint`);
  return ep.url;
}

export async function until<T>(fn: () => Promise<T | undefined> | T | undefined, what: string, timeoutMs = 5000): Promise<T> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

export const nova = (v: string): Record<string, string> => ({ 'openstack-api-version': `compute ${v}` });
export const placement = (v: string): Record<string, string> => ({ 'openstack-api-version': `placement ${v}` });
