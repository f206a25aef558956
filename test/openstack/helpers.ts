/** Fake OpenStack endpoints on 127.0.0.1 for the client tests. */
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { HttpClient, type HttpClientOptions, type TokenProvider } from '../../src/openstack/http.ts';
import type { ServiceContext } from '../../src/openstack/service.ts';

export const SAMPLES = path.resolve(import.meta.dirname, '../../../shared/openstack-api-samples');

export function sample(rel: string): unknown {
  return JSON.parse(readFileSync(path.join(SAMPLES, rel), 'utf8')) as unknown;
}

export interface FakeRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  pathname: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: unknown;
}

export type Handler = (req: FakeRequest, res: ServerResponse) => void | Promise<void>;

export interface Fake {
  url: string;
  requests: FakeRequest[];
  close(): Promise<void>;
}

export async function startFake(handler: Handler): Promise<Fake> {
  const requests: FakeRequest[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const u = new URL(req.url ?? '/', 'http://x');
      const fr: FakeRequest = {
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        pathname: u.pathname,
        query: u.searchParams,
        headers: req.headers,
        body: text === '' ? undefined : (JSON.parse(text) as unknown),
      };
      requests.push(fr);
      Promise.resolve(handler(fr, res)).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      }),
  };
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

/** Routes "METHOD /path" to a JSON body (status 200) or a handler; anything else is a Nova-style 404. */
export function routes(table: Record<string, unknown>): Handler {
  return (req, res) => {
    const r = table[`${req.method} ${req.pathname}`];
    if (r === undefined) {
      sendJson(res, 404, { itemNotFound: { code: 404, message: `no route ${req.method} ${req.pathname}` } });
      return;
    }
    if (typeof r === 'function') return (r as Handler)(req, res);
    sendJson(res, 200, r);
  };
}

export class StaticToken implements TokenProvider {
  tokens: string[];
  invalidated: string[] = [];
  constructor(...tokens: string[]) {
    this.tokens = tokens.length ? tokens : ['tok-1'];
  }
  getToken(): Promise<string> {
    return Promise.resolve(this.tokens[0] ?? 'none');
  }
  invalidate(token: string): void {
    this.invalidated.push(token);
    if (this.tokens[0] === token && this.tokens.length > 1) this.tokens.shift();
  }
}

export function ctx(base: string, opts: HttpClientOptions = {}, auth: TokenProvider = new StaticToken()): ServiceContext & { http: HttpClient } {
  const http = new HttpClient({ retry: { baseDelayMs: 1, maxDelayMs: 5 }, ...opts });
  return { http, auth, endpoint: () => Promise.resolve(base) };
}
