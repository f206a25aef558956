/**
 * The fuzzer's requests and how they go on the wire: raw HTTP/1.1 over a socket, not fetch or
 * node:http (fetch normalises `../` out of paths, both refuse duplicate or odd headers), since
 * the point is to send exactly what a hostile client would. Values may hold placeholders (`$SERVER0$`,
 * `$TOPOLOGY$`…) that name objects of the running stack; they are replaced when sending, so
 * a generated request (and its seed) does not depend on the ids one run happened to get.
 */
import net from 'node:net';
import type { Service } from './openapi.ts';

export type AuthMode =
  | { mode: 'valid' }
  | { mode: 'none' }
  /** The other service's (valid) token. */
  | { mode: 'other-service' }
  | { mode: 'random'; token: string }
  /** The raw Authorization header value, e.g. `Basic …`, `Bearer`, `bearer  x y`. */
  | { mode: 'raw'; value: string }
  /** Two Authorization headers: an invalid one first, then the valid one. */
  | { mode: 'duplicate'; first: string };

export type Body =
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string }
  /** `prefix` + `depth` × open + `depth` × close + `suffix`, e.g. `{"topology": [[[…]]]}`. */
  | { kind: 'deep'; depth: number; open: string; close: string; prefix: string; suffix: string };

export interface FuzzRequest {
  service: Service;
  /** The OpenAPI operation it was generated from (`agent PUT /v1/servers/{id}/sla`), or `<service> unrouted`. */
  op: string;
  method: string;
  /** Raw request target without the query, as sent (placeholders aside). */
  path: string;
  /** Raw `key=value` pairs as sent (already %-encoded, or deliberately not); keys may repeat; null: `key` alone. */
  query: [string, string | null][];
  auth: AuthMode;
  headers: [string, string][];
  /** null: no Content-Type header. */
  contentType: string | null;
  body: Body | null;
  /** Set on requests built to be valid: they must succeed (the happy path). */
  valid?: 'plan' | 'submit' | 'read' | 'sla-reput' | 'service-type';
}

export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
  ms: number;
}

export type Outcome = ({ ok: true } & Answer) | { ok: false; error: string; ms: number };

export interface Target {
  url: Record<Service, string>;
  token: Record<Service, string>;
  /** Placeholder → value, e.g. `$SERVER0$` → a Nova server id. */
  names: Map<string, string>;
}

const PLACEHOLDER = /\$[A-Z]+[0-9]?\$/g;

export function substitute(text: string, names: ReadonlyMap<string, string>): string {
  return text.includes('$') ? text.replace(PLACEHOLDER, (m) => names.get(m) ?? m) : text;
}

export function bodyText(body: Body): string {
  switch (body.kind) {
    case 'json':
      return body.value === undefined ? '' : JSON.stringify(body.value);
    case 'text':
      return body.text;
    case 'deep':
      return `${body.prefix}${body.open.repeat(body.depth)}${body.close.repeat(body.depth)}${body.suffix}`;
  }
}

/** What node's client refuses to put in a request target: encoded, so the request still goes out. */
function wireSafePath(s: string): string {
  return s.replace(/[^\u0021-\u00ff]/gu, (c) => encodeURIComponent(c));
}
/** Header values: node refuses control characters and anything above U+00FF. */
function wireSafeHeader(s: string): string {
  return s.replace(/[^\t\u0020-\u007e\u0080-\u00ff]/gu, '?');
}

export function authHeaders(auth: AuthMode, service: Service, target: Target): string[] {
  const other: Service = service === 'manager' ? 'agent' : 'manager';
  switch (auth.mode) {
    case 'valid':
      return [`Bearer ${target.token[service]}`];
    case 'none':
      return [];
    case 'other-service':
      return [`Bearer ${target.token[other]}`];
    case 'random':
      return [`Bearer ${auth.token}`];
    case 'raw':
      return [auth.value];
    case 'duplicate':
      return [auth.first, `Bearer ${target.token[service]}`];
  }
}

export function requestTarget(r: FuzzRequest, names: ReadonlyMap<string, string>): string {
  const q = r.query.map(([k, v]) => (v === null ? k : `${k}=${v}`)).join('&');
  return wireSafePath(substitute(r.path, names) + (r.query.length > 0 ? `?${substitute(q, names)}` : ''));
}

export type Headers = Record<string, string>;

/** Nothing to close: every request has its own connection (see send). */
export function closeClient(): void {
  // Connections are closed by the server (Connection: close) or by send's timeout.
}

interface Parsed {
  status: number;
  headers: Headers;
  bodyStart: number;
}

function parseHead(buf: Buffer): Parsed | undefined {
  const end = buf.indexOf('\r\n\r\n');
  if (end < 0) return undefined;
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
  const headers: Headers = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const k = line.slice(0, colon).trim().toLowerCase();
    const v = line.slice(colon + 1).trim();
    headers[k] = headers[k] === undefined ? v : `${headers[k]}, ${v}`;
  }
  return { status, headers, bodyStart: end + 4 };
}

/** The body of a chunked answer once its last chunk arrived, else undefined. */
function dechunk(buf: Buffer): Buffer | undefined {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(buf.subarray(at, eol).toString('latin1').split(';')[0] ?? '', 16);
    if (Number.isNaN(size)) return Buffer.concat(parts);
    if (size === 0) return Buffer.concat(parts);
    if (buf.length < eol + 2 + size + 2) return undefined;
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}

/**
 * Sends one request over its own TCP connection, byte for byte as built (node's client would
 * refuse or normalise some of it, and loses the answer when the server answers early, e.g. a
 * 431 or 413, and closes while the request is still being written: that answer counts here,
 * the write error does not). Answers with status, headers, body (text) and the time until the
 * answer was read completely (until its headers for an event stream or a HEAD). `abortMs` only
 * keeps a hung request from hanging the suite; the property's limit is checked by the caller.
 */
export function send(r: FuzzRequest, target: Target, abortMs = 15_000): Promise<Outcome> {
  const base = new URL(target.url[r.service]);
  const lines: string[] = [`${r.method} ${requestTarget(r, target.names)} HTTP/1.1`, `host: ${base.host}`, 'connection: close'];
  for (const a of authHeaders(r.auth, r.service, target)) lines.push(`authorization: ${wireSafeHeader(a)}`);
  for (const [k, v] of r.headers) lines.push(`${k}: ${wireSafeHeader(substitute(v, target.names))}`);
  if (r.contentType !== null) lines.push(`content-type: ${wireSafeHeader(r.contentType)}`);
  const payload = r.body === null ? undefined : Buffer.from(substitute(bodyText(r.body), target.names), 'utf8');
  if (payload !== undefined) lines.push(`content-length: ${String(payload.length)}`);
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  const t0 = performance.now();
  const elapsed = (): number => performance.now() - t0;
  return new Promise<Outcome>((resolve) => {
    let settled = false;
    let received = Buffer.alloc(0);
    let parsed: Parsed | undefined;
    let writeError: string | undefined;
    const socket = net.connect({ host: base.hostname, port: Number(base.port) });
    const done = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(o);
    };
    const timer = setTimeout(() => {
      done({ ok: false, error: `no complete answer within ${String(abortMs)} ms${parsed ? ` (status ${String(parsed.status)} came, the body did not end)` : ' (not even the status line)'}`, ms: elapsed() });
    }, abortMs);
    const answer = (body: Buffer): void => {
      if (parsed) done({ ok: true, status: parsed.status, headers: parsed.headers, body: body.toString('utf8'), ms: elapsed() });
    };
    const progress = (final: boolean): void => {
      parsed ??= parseHead(received);
      if (!parsed) {
        if (final) done({ ok: false, error: `the connection closed without an answer${writeError === undefined ? '' : ` (${writeError})`}${received.length > 0 ? `: ${JSON.stringify(received.subarray(0, 80).toString('latin1'))}` : ''}`, ms: elapsed() });
        return;
      }
      const body = received.subarray(parsed.bodyStart);
      if (r.method === 'HEAD' || parsed.status === 204 || parsed.status === 304 || (parsed.headers['content-type'] ?? '').startsWith('text/event-stream')) {
        answer(Buffer.alloc(0));
        return;
      }
      const length = parsed.headers['content-length'];
      if (length !== undefined) {
        if (body.length >= Number(length)) answer(body.subarray(0, Number(length)));
        else if (final) answer(body);
        return;
      }
      if (/chunked/i.test(parsed.headers['transfer-encoding'] ?? '')) {
        const whole = dechunk(body);
        if (whole) answer(whole);
        else if (final) answer(body);
        return;
      }
      if (final) answer(body);
    };
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      progress(false);
    });
    socket.on('end', () => {
      progress(true);
    });
    socket.on('close', () => {
      progress(true);
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      writeError = `${e.code ?? ''} ${e.message}`.trim();
    });
    socket.write(head);
    if (payload !== undefined) socket.write(payload);
  });
}
