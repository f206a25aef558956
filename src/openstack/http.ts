/**
 * The one HTTP layer of the OpenStack clients: an undici Agent (connection
 * pooling), a deadline per call plus the caller's AbortSignal, retries only
 * where safe, X-Auth-Token injection with one re-authentication on a 401,
 * microversion headers, request ids, redirects for GET, pagination helpers,
 * and the service error shapes parsed into one OpenStackApiError.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, type Dispatcher } from 'undici';
import type {
  OpenStackError} from './errors.ts';
import {
  OpenStackAbortError,
  OpenStackConnectionError,
  OpenStackResponseError,
  OpenStackTimeoutError,
  apiError,
} from './errors.ts';
import { isObject } from './json.ts';

/** Supplies the X-Auth-Token; `invalidate` is called with the token a service refused (401). */
export interface TokenProvider {
  getToken(signal?: AbortSignal): Promise<string>;
  invalidate(token: string): void;
}

export interface RequestLogEntry {
  service: string;
  method: string;
  url: string;
  /** Undefined when no answer arrived (connection error, timeout, abort). */
  status: number | undefined;
  requestId: string | undefined;
  durationMs: number;
  /** 0 for the first attempt. */
  attempt: number;
  error?: string;
  /** The answer's `Date` header (the service's clock, whole seconds), when an answer arrived with one. */
  date?: string;
}

export type RequestLogger = (entry: RequestLogEntry) => void;

export interface RetryPolicy {
  /** Extra attempts after the first (default 3). */
  maxRetries: number;
  /** First backoff (default 200 ms), doubled each attempt, full jitter in [50%, 100%]. */
  baseDelayMs: number;
  /** Cap of one backoff (default 5000 ms). */
  maxDelayMs: number;
  /** Cap of an honoured Retry-After (default 30000 ms); longer waits are not retried. */
  maxRetryAfterMs: number;
}

export interface HttpClientOptions {
  /** Deadline of one call, retries included (default 60000 ms). */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  logger?: RequestLogger;
  /** PEM CA bundle for TLS (OS_CACERT). */
  ca?: string;
  /** Skip TLS verification (OS_INSECURE). */
  insecure?: boolean;
  /** Use this dispatcher instead of creating an Agent (not closed by close()). */
  dispatcher?: Dispatcher;
  userAgent?: string;
  /** Random source in [0,1) for jitter (tests). */
  random?: () => number;
}

export type QueryValue = string | number | boolean | readonly (string | number)[] | undefined;

export interface HttpRequest {
  /** Label for errors and logs: identity, compute, placement, network, orchestration. */
  service: string;
  method: string;
  /** Absolute URL. */
  url: string;
  query?: Record<string, QueryValue> | undefined;
  /** Sent as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Null/undefined: no X-Auth-Token. */
  auth?: TokenProvider | undefined;
  /** Microversion headers, e.g. { service: 'compute', version: '2.88' }. */
  microversion?: { service: 'compute' | 'placement'; version: string } | undefined;
  timeoutMs?: number;
  signal?: AbortSignal | undefined;
  /** Statuses treated as success (default: any 2xx). */
  okStatus?: readonly number[];
  /** Follow 3xx for GET/HEAD (default true). */
  followRedirects?: boolean;
  /** Override the retry decision (default: idempotent methods only). */
  retry?: boolean;
  /**
   * Sees every request this call sends, as the client's logger does (one entry per attempt,
   * page, redirect and re-authenticated retry): per-call accounting without a process-wide
   * counter that other callers' requests would blur.
   */
  observer?: RequestLogger | undefined;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  requestId: string | undefined;
  /** Final URL (after redirects). */
  url: string;
}

const IDEMPOTENT = new Set(['GET', 'HEAD', 'PUT', 'DELETE', 'OPTIONS']);
const REDIRECT = new Set([301, 302, 303, 307, 308]);

export function buildUrl(url: string, query?: Record<string, QueryValue>): string {
  if (!query) return url;
  const u = new URL(url);
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const x of v as readonly (string | number)[]) u.searchParams.append(k, String(x));
    else u.searchParams.append(k, String(v));
  }
  return u.toString();
}

/** Joins a base URL (which may or may not end in '/') and a path. */
export function joinUrl(base: string, path: string): string {
  const b = base.endsWith('/') ? base.slice(0, -1) : base;
  if (path === '') return b;
  return path.startsWith('/') ? b + path : `${b}/${path}`;
}

function flatHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

export function requestIdOf(headers: Record<string, string>): string | undefined {
  return headers['x-openstack-request-id'] ?? headers['x-compute-request-id'];
}

/** Retry-After as milliseconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined) return undefined;
  const t = value.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const date = Date.parse(t);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

export interface ParsedError {
  serviceCode: string | undefined;
  message: string;
  requestId: string | undefined;
}

/**
 * Reads any of the OpenStack error shapes:
 * Nova `{"itemNotFound":{"code":404,"message":".."}}`,
 * Neutron `{"NeutronError":{"type","message","detail"}}`,
 * Placement `{"errors":[{"status","title","detail","code","request_id"}]}`,
 * Keystone `{"error":{"code","title","message"}}`,
 * Heat `{"explanation","code","error":{"message","type","traceback"},"title"}`.
 */
export function parseErrorBody(body: unknown, status: number): ParsedError {
  const fallback = `HTTP ${String(status)}`;
  if (typeof body === 'string') {
    const text = body.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
    return { serviceCode: undefined, message: text.slice(0, 500) || fallback, requestId: undefined };
  }
  if (!isObject(body)) return { serviceCode: undefined, message: fallback, requestId: undefined };

  // Placement
  if (Array.isArray(body.errors)) {
    const first: unknown = body.errors[0];
    if (isObject(first)) {
      // Placement's detail is webob's "<explanation>\n\n <detail>  ": one line for messages.
      const detail = typeof first.detail === 'string' ? first.detail.replace(/\s+/g, ' ').trim() : undefined;
      const title = typeof first.title === 'string' ? first.title : undefined;
      return {
        serviceCode: typeof first.code === 'string' ? first.code : title,
        message: detail ?? title ?? fallback,
        requestId: typeof first.request_id === 'string' ? first.request_id : undefined,
      };
    }
  }
  // Neutron
  if (isObject(body.NeutronError)) {
    const e = body.NeutronError;
    const message = typeof e.message === 'string' ? e.message : fallback;
    const detail = typeof e.detail === 'string' && e.detail !== '' ? ` (${e.detail})` : '';
    return { serviceCode: typeof e.type === 'string' ? e.type : undefined, message: message + detail, requestId: undefined };
  }
  // Heat (has "explanation" next to "error")
  if ('explanation' in body || ('title' in body && isObject(body.error) && 'type' in body.error)) {
    const e = isObject(body.error) ? body.error : {};
    const message =
      typeof e.message === 'string' && e.message !== ''
        ? e.message
        : typeof body.explanation === 'string'
          ? body.explanation
          : fallback;
    const code = typeof e.type === 'string' ? e.type : typeof body.title === 'string' ? body.title : undefined;
    return { serviceCode: code, message, requestId: undefined };
  }
  // Keystone (also keystonemiddleware 401 in front of other services)
  if (isObject(body.error)) {
    const e = body.error;
    return {
      serviceCode: typeof e.title === 'string' ? e.title : undefined,
      message: typeof e.message === 'string' ? e.message : fallback,
      requestId: undefined,
    };
  }
  // Nova: one key, the fault name
  const keys = Object.keys(body);
  if (keys.length === 1) {
    const name = keys[0] as string;
    const inner = body[name];
    if (isObject(inner) && typeof inner.message === 'string') {
      return { serviceCode: name, message: inner.message, requestId: undefined };
    }
  }
  if (typeof body.message === 'string') {
    return { serviceCode: undefined, message: body.message, requestId: undefined };
  }
  return { serviceCode: undefined, message: fallback, requestId: undefined };
}

export class HttpClient {
  readonly #dispatcher: Dispatcher;
  readonly #ownsDispatcher: boolean;
  readonly #timeoutMs: number;
  readonly #retry: RetryPolicy;
  readonly #logger: RequestLogger | undefined;
  readonly #userAgent: string;
  readonly #random: () => number;

  constructor(options: HttpClientOptions = {}) {
    if (options.dispatcher) {
      this.#dispatcher = options.dispatcher;
      this.#ownsDispatcher = false;
    } else {
      const connect: { ca?: string; rejectUnauthorized?: boolean } = {};
      if (options.ca !== undefined) connect.ca = options.ca;
      if (options.insecure) connect.rejectUnauthorized = false;
      this.#dispatcher = new Agent({ connections: 16, keepAliveTimeout: 10_000, connect });
      this.#ownsDispatcher = true;
    }
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#retry = {
      maxRetries: options.retry?.maxRetries ?? 3,
      baseDelayMs: options.retry?.baseDelayMs ?? 200,
      maxDelayMs: options.retry?.maxDelayMs ?? 5000,
      maxRetryAfterMs: options.retry?.maxRetryAfterMs ?? 30_000,
    };
    this.#logger = options.logger;
    this.#userAgent = options.userAgent ?? 'connectivity-manager';
    this.#random = options.random ?? Math.random;
  }

  async close(): Promise<void> {
    if (this.#ownsDispatcher) await this.#dispatcher.close();
  }

  /** Sends a request; resolves with a success answer, throws an OpenStackError otherwise. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const method = req.method.toUpperCase();
    const timeoutMs = req.timeoutMs ?? this.#timeoutMs;
    const deadline = new AbortController();
    const timer = setTimeout(() => {
      deadline.abort();
    }, timeoutMs);
    const signal = req.signal ? AbortSignal.any([req.signal, deadline.signal]) : deadline.signal;
    let url = buildUrl(req.url, req.query);
    const canRetry = req.retry ?? IDEMPOTENT.has(method);
    let attempt = 0;
    let reauthed = false;
    let redirects = 0;
    const startOrigin = new URL(url).origin;

    const stopped = (cause: unknown): OpenStackError | undefined => {
      if (req.signal?.aborted) {
        return new OpenStackAbortError(`${req.service} ${method} ${url}: aborted by caller`, { cause: req.signal.reason ?? cause });
      }
      if (deadline.signal.aborted) return new OpenStackTimeoutError(req.service, method, url, timeoutMs);
      return undefined;
    };

    try {
      for (;;) {
        if (signal.aborted) throw stopped(undefined) ?? new OpenStackAbortError('aborted');
        const headers: Record<string, string> = {
          accept: 'application/json',
          'user-agent': this.#userAgent,
          ...req.headers,
        };
        let token: string | undefined;
        if (req.auth && new URL(url).origin === startOrigin) {
          try {
            token = await req.auth.getToken(signal);
          } catch (err) {
            throw stopped(err) ?? err;
          }
          headers['x-auth-token'] = token;
        }
        if (req.microversion) {
          headers['openstack-api-version'] = `${req.microversion.service} ${req.microversion.version}`;
          if (req.microversion.service === 'compute') headers['x-openstack-nova-api-version'] = req.microversion.version;
        }
        let payload: string | undefined;
        if (req.body !== undefined) {
          payload = JSON.stringify(req.body);
          headers['content-type'] = 'application/json';
        }

        const started = performance.now();
        const u = new URL(url);
        let status: number;
        let resHeaders: Record<string, string>;
        let text: string;
        try {
          const res = await this.#dispatcher.request({
            origin: u.origin,
            path: u.pathname + u.search,
            method: method,
            headers,
            body: payload ?? null,
            signal,
          });
          status = res.statusCode;
          resHeaders = flatHeaders(res.headers);
          text = await res.body.text();
        } catch (err) {
          const durationMs = performance.now() - started;
          const stop = stopped(err);
          this.#log({ service: req.service, method, url, status: undefined, requestId: undefined, durationMs, attempt, error: stop?.code ?? (err instanceof Error ? err.message : String(err)) }, req.observer);
          if (stop) throw stop;
          const connErr = new OpenStackConnectionError(req.service, method, url, { cause: err });
          if (canRetry && attempt < this.#retry.maxRetries) {
            await this.#sleep(this.#backoff(attempt), signal, stopped);
            attempt++;
            continue;
          }
          throw connErr;
        }
        const requestId = requestIdOf(resHeaders);
        const date = resHeaders.date;
        this.#log({ service: req.service, method, url, status, requestId, durationMs: performance.now() - started, attempt, ...(date === undefined ? {} : { date }) }, req.observer);

        // 401: the token expired or was revoked; re-authenticate once.
        if (status === 401 && req.auth && token !== undefined && !reauthed) {
          reauthed = true;
          req.auth.invalidate(token);
          continue;
        }
        // Redirects (Heat's GET /stacks/{name} -> 302 /stacks/{name}/{id}).
        if (REDIRECT.has(status) && (req.followRedirects ?? true) && (method === 'GET' || method === 'HEAD')) {
          const location = resHeaders.location;
          if (location !== undefined && redirects < 5) {
            redirects++;
            url = new URL(location, url).toString();
            continue;
          }
        }

        const ok = req.okStatus ? req.okStatus.includes(status) : status >= 200 && status < 300;
        const body = parseBody(text, resHeaders, ok, req.service, method, url);
        if (ok) return { status, headers: resHeaders, body, requestId, url };

        if (canRetry && isRetryableStatus(status) && attempt < this.#retry.maxRetries) {
          const retryAfter = parseRetryAfter(resHeaders['retry-after']);
          if (retryAfter === undefined || retryAfter <= this.#retry.maxRetryAfterMs) {
            await this.#sleep(retryAfter ?? this.#backoff(attempt), signal, stopped);
            attempt++;
            continue;
          }
        }
        const parsed = parseErrorBody(body, status);
        throw apiError({
          service: req.service,
          status,
          serviceCode: parsed.serviceCode,
          message: parsed.message,
          requestId: requestId ?? parsed.requestId,
          method,
          url,
          body,
        });
      }
    } finally {
      clearTimeout(timer);
    }
  }

  /** GET with JSON answer: the body only. */
  async getJson(req: Omit<HttpRequest, 'method'>): Promise<unknown> {
    return (await this.request({ ...req, method: 'GET' })).body;
  }

  /**
   * Follows `<linksKey>[{rel:"next",href}]` (Nova `servers_links`, `hypervisors_links`,
   * `flavors_links`; Neutron `ports_links`, ...), yielding each page's items.
   */
  async *paginateLinks(req: Omit<HttpRequest, 'method'>, itemsKey: string, linksKey = `${itemsKey}_links`): AsyncGenerator<unknown[]> {
    let next: HttpRequest = { ...req, method: 'GET' };
    const seen = new Set<string>();
    for (;;) {
      const res = await this.request(next);
      const body = res.body;
      if (!isObject(body) || !Array.isArray(body[itemsKey])) {
        throw new OpenStackResponseError(`${req.service} GET ${res.url}: expected {"${itemsKey}": [...]}`);
      }
      yield body[itemsKey] as unknown[];
      const href = nextLink(body[linksKey]);
      if (href === undefined) break;
      const abs = new URL(href, res.url).toString();
      if (seen.has(abs)) throw new OpenStackResponseError(`${req.service}: pagination loops at ${abs}`);
      seen.add(abs);
      const { query: _q, ...rest } = req;
      next = { ...rest, method: 'GET', url: abs };
    }
  }

  /**
   * Marker pagination (Heat, and any API without links): asks for `limit`
   * items, then repeats with `marker=<last item's idKey>` while pages are full.
   */
  async *paginateMarker(req: Omit<HttpRequest, 'method'>, itemsKey: string, idKey: string, limit: number): AsyncGenerator<unknown[]> {
    let marker: string | undefined;
    for (;;) {
      const res = await this.request({ ...req, method: 'GET', query: { ...req.query, limit, marker } });
      const body = res.body;
      if (!isObject(body) || !Array.isArray(body[itemsKey])) {
        throw new OpenStackResponseError(`${req.service} GET ${res.url}: expected {"${itemsKey}": [...]}`);
      }
      const items = body[itemsKey] as unknown[];
      yield items;
      if (items.length < limit) break;
      const last = items[items.length - 1];
      const id = isObject(last) ? last[idKey] : undefined;
      if (typeof id !== 'string' || id === marker) break;
      marker = id;
    }
  }

  #backoff(attempt: number): number {
    const exp = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** attempt);
    return Math.round(exp * (0.5 + 0.5 * this.#random()));
  }

  async #sleep(ms: number, signal: AbortSignal, stopped: (cause: unknown) => OpenStackError | undefined): Promise<void> {
    try {
      await delay(ms, undefined, { signal });
    } catch (err) {
      throw stopped(err) ?? err;
    }
  }

  #log(entry: RequestLogEntry, observer: RequestLogger | undefined): void {
    for (const sink of [this.#logger, observer]) {
      if (!sink) continue;
      try {
        sink(entry);
      } catch {
        // a failing logger must not break the call
      }
    }
  }
}

/** Collects every page of an async page generator. */
export async function collectPages(pages: AsyncIterable<unknown[]>): Promise<unknown[]> {
  const out: unknown[] = [];
  for await (const page of pages) out.push(...page);
  return out;
}

export function nextLink(links: unknown): string | undefined {
  if (!Array.isArray(links)) return undefined;
  for (const l of links as unknown[]) {
    if (isObject(l) && l.rel === 'next' && typeof l.href === 'string') return l.href;
  }
  return undefined;
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || (status >= 500 && status !== 501 && status !== 505);
}

function parseBody(text: string, headers: Record<string, string>, ok: boolean, service: string, method: string, url: string): unknown {
  if (text === '') return undefined;
  const ct = headers['content-type'] ?? '';
  const looksJson = ct.includes('json') || /^\s*[[{]/.test(text);
  if (!looksJson) return text;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    if (ok && ct.includes('json')) {
      throw new OpenStackResponseError(`${service} ${method} ${url}: invalid JSON in the answer`, { cause: err });
    }
    return text;
  }
}
