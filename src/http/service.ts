/**
 * What every HTTP service of the project shares (agent, manager): fastify
 * with TypeBox validation and no coercion, request ids, bearer-token auth
 * compared in constant time (plus an optional validator, e.g. Keystone),
 * problem+json errors, OpenAPI at /docs, a per-request duration callback
 * for the service's own metrics registry, and bounds on what a slow or
 * hostile client can hold (timeouts, connections per address, URL and
 * header sizes; see {@link HttpLimits}).
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerOptions as HttpServerOptions, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type RawReplyDefaultExpression, type RawRequestDefaultExpression, type RawServerDefault } from 'fastify';
import type { LoggerOptions } from 'pino';
import { Histogram, type Registry } from 'prom-client';
import type { TSchema } from 'typebox';
import { CONTENT_TYPE_POINTER, PROBLEM_CONTENT_TYPE, ProblemError, ProblemSchema, rawProblemResponse, sendProblem, toProblem } from './problem.ts';

export const MIN_TOKEN_LENGTH = 16;

export interface HttpsOptions {
  cert: string;
  key: string;
  ca?: string;
}

/** Reads the PEM files of a `listen.tls` section (before anything starts, so a bad path fails early). */
export function readHttpsFiles(tls: { cert: string; key: string; clientCa?: string }, read: (file: string) => string): HttpsOptions {
  return { cert: read(tls.cert), key: read(tls.key), ...(tls.clientCa === undefined ? {} : { ca: read(tls.clientCa) }) };
}
export const BEARER = [{ bearer: [] as string[] }];

export type ServiceApp = FastifyInstance<RawServerDefault, RawRequestDefaultExpression, RawReplyDefaultExpression, FastifyBaseLogger, TypeBoxTypeProvider>;

/**
 * What one client may hold of a service. Times in milliseconds; 0 turns a bound off.
 * The defaults ({@link DEFAULT_HTTP_LIMITS}) suit API clients and the dashboard's event
 * stream (a request timeout bounds receiving the request, not a long response).
 */
export interface HttpLimits {
  /** Receiving a whole request, headers and body, from its first byte. A slow sender gets a 408 and is closed. */
  requestTimeout: number;
  /** Receiving the request line and headers (also a new connection that sends nothing; and a TLS handshake). */
  headersTimeout: number;
  /** An idle keep-alive connection between requests (Node adds 1 s before it closes one). */
  keepAliveTimeout: number;
  /** Concurrent connections from one remote address; the one over is closed at once. */
  maxConnectionsPerAddress: number;
  /** Characters of the request target (path and query); longer is a 414 before routing. */
  maxUrlLength: number;
  /** Bytes of the request line and headers together; more is a 431 from Node's parser. */
  maxHeaderSize: number;
  /**
   * After an error answered before the body was read (401, 413, 415…), how long the
   * connection (already half-closed, reads discarded) waits for the client to stop
   * sending: closing at once could reset the connection before the client reads the answer.
   */
  closeLingerTimeout: number;
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  requestTimeout: 30_000,
  headersTimeout: 10_000,
  keepAliveTimeout: 72_000,
  maxConnectionsPerAddress: 64,
  maxUrlLength: 8 * 1024,
  maxHeaderSize: 16 * 1024,
  closeLingerTimeout: 2_000,
});

/** Who a validated token belongs to (a Keystone token's user, project and roles). */
export interface CallerIdentity {
  userId: string;
  projectId: string;
  projectName?: string;
  roles: readonly string[];
}

const identities = new WeakMap<IncomingMessage, CallerIdentity>();

/**
 * The identity the validator gave for this request's token; undefined for one of the configured
 * static tokens (an operator's: the service decides what it may do) and for open routes.
 */
export function callerIdentity(request: { raw: IncomingMessage }): CallerIdentity | undefined {
  return identities.get(request.raw);
}

export interface ServiceAppOptions {
  /** OpenAPI title, e.g. `Connectivity Manager Agent`. */
  title: string;
  description: string;
  /** `WWW-Authenticate` realm, e.g. `cm-agent`. */
  realm: string;
  tags: { name: string; description: string }[];
  auth: {
    tokens: readonly string[];
    /**
     * Accepts bearer tokens not in `tokens` (e.g. Keystone validation); false = 401, a throw = 503,
     * an identity = accepted as that caller ({@link callerIdentity}).
     */
    validate?: (token: string) => Promise<boolean | CallerIdentity>;
    /** Routes served without a token (besides /docs, and /metrics when public). */
    open: readonly string[];
  };
  /** Schemas referenced by `Type.Ref` in routes (Problem is always added). */
  schemas?: readonly TSchema[];
  logger?: LoggerOptions | false;
  /** PEM texts; `ca` given → clients must present a certificate it signed (mutual TLS). */
  https?: HttpsOptions;
  bodyLimit?: number;
  /** Bounds on slow and hostile clients; each missing one is its {@link DEFAULT_HTTP_LIMITS} value. */
  limits?: Partial<HttpLimits>;
  /**
   * The service's Prometheus registry: `<prefix>_http_request_duration_seconds`
   * is added to it and `/metrics` serves it (without a token when `public`).
   */
  metrics: { registry: Registry; prefix: string; public?: boolean };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}

/** True when `given` equals one of `tokens`; compares every token in constant time (no early exit). */
export function tokenMatches(given: string, tokens: readonly Buffer[]): boolean {
  const d = digest(given);
  let ok = false;
  for (const t of tokens) ok = timingSafeEqual(d, t) || ok;
  return ok;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Deepest nesting of arrays and objects a JSON body may have (a thesis topology needs 6). */
export const MAX_JSON_DEPTH = 64;

/** Nesting depth of a parsed JSON value, counted without recursion; stops counting past `limit`. */
export function jsonDepth(value: unknown, limit: number): number {
  let deepest = 0;
  const stack: [unknown, number][] = [[value, 0]];
  while (stack.length > 0) {
    const [v, d] = stack.pop() as [unknown, number];
    if (typeof v !== 'object' || v === null) continue;
    const depth = d + 1;
    if (depth > deepest) deepest = depth;
    if (deepest > limit) return deepest;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth]);
  }
  return deepest;
}

function requestId(req: IncomingMessage): string {
  const h = req.headers['x-request-id'];
  return typeof h === 'string' && REQUEST_ID.test(h) ? h : randomUUID();
}

/** `given` over the defaults, each checked (a non-negative integer); the headers timeout at most the request timeout, as Node requires. */
export function resolveHttpLimits(given: Partial<HttpLimits> = {}): HttpLimits {
  const limits: HttpLimits = { ...DEFAULT_HTTP_LIMITS };
  for (const key of Object.keys(DEFAULT_HTTP_LIMITS) as (keyof HttpLimits)[]) {
    const v = given[key];
    if (v === undefined) continue;
    if (!Number.isSafeInteger(v) || v < 0 || (key === 'maxHeaderSize' && v === 0)) throw new RangeError(`limits.${key}: give a ${key === 'maxHeaderSize' ? 'positive' : 'non-negative'} integer, not ${String(v)}`);
    limits[key] = v;
  }
  if (limits.requestTimeout > 0 && (limits.headersTimeout === 0 || limits.headersTimeout > limits.requestTimeout)) limits.headersTimeout = limits.requestTimeout;
  return limits;
}

/** The request announced a body (Content-Length above 0, or chunked) and it has not all arrived. */
function bodyPending(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  const announced = req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
  return announced && !req.complete;
}

const lingering = new WeakSet<Socket>();

/**
 * Makes Node's close after a `Connection: close` response a lingering one: half-close (our FIN
 * after the answer), go on reading and discarding what the client still sends, and destroy the
 * socket when the client closes too or after `ms`. Destroying with unread bytes in the kernel's
 * buffer sends a reset, which can discard the answer before the client reads it.
 */
function lingerOnClose(socket: Socket, ms: number): void {
  if (ms <= 0 || lingering.has(socket)) return;
  lingering.add(socket);
  socket.destroySoon = () => {
    if (socket.writable) socket.end();
    // The parser (still attached) drops the rest of the request's body as it comes.
    socket.resume();
    const timer = setTimeout(() => socket.destroy(), ms);
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
    });
  };
}

/**
 * Ends `socket` with `text` (our FIN after it), then lingers: reads and discards what the client
 * still sends (the rest of a body Node's parser refused), and destroys the socket when the client
 * closes its side or after `ms`. Destroying at once with unread bytes sends a reset, and the client
 * (still writing its body) loses the answer with it.
 */
function endThenDestroy(socket: Socket, text: string, ms: number): void {
  // The parser has failed: what follows is not HTTP for it. Our own reader discards it.
  socket.removeAllListeners('data');
  socket.on('data', () => undefined);
  socket.end(text);
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), Math.max(ms, 100));
  timer.unref();
  const done = (): void => {
    clearTimeout(timer);
    socket.destroy();
  };
  socket.once('end', done);
  socket.once('close', () => {
    clearTimeout(timer);
  });
}

/** What Node's parser or its timers refuse before any route sees the request; undefined: nothing to answer (the socket just goes). */
function clientErrorProblem(error: Error & { code?: string; reason?: string }, limits: HttpLimits): ProblemError | undefined {
  const code = error.code ?? '';
  if (code === 'HPE_HEADER_OVERFLOW') {
    return new ProblemError(431, 'headers-too-large', `The request line and headers are larger than ${String(limits.maxHeaderSize)} bytes`, {
      errors: [{ pointer: '/headers', message: `more than ${String(limits.maxHeaderSize)} bytes` }],
    });
  }
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new ProblemError(
      408,
      'request-timeout',
      `The request was not received in time (headers within ${String(limits.headersTimeout)} ms, the whole request within ${String(limits.requestTimeout)} ms)`,
    );
  }
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') {
    return new ProblemError(413, 'payload-too-large', 'The chunk extensions of the body are too large', { errors: [{ pointer: '/body', message: 'chunk extensions too large' }] });
  }
  if (code.startsWith('HPE_')) {
    return new ProblemError(400, 'bad-request', `The request is not well-formed HTTP/1.1: ${error.reason ?? error.message} (${code})`);
  }
  return undefined;
}

/** Checks made on the raw request before routing. */
function refuseBeforeRouting(req: IncomingMessage, limits: HttpLimits): ProblemError | undefined {
  const url = req.url ?? '';
  if (limits.maxUrlLength > 0 && url.length > limits.maxUrlLength) {
    return new ProblemError(414, 'uri-too-long', `The request target is ${String(url.length)} characters long; this service takes at most ${String(limits.maxUrlLength)}`, {
      errors: [{ pointer: '/url', message: `longer than ${String(limits.maxUrlLength)} characters` }],
    });
  }
  // Node's own check (requireHostHeader) answers a bare 400 without a body: ours says why.
  if (req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined) {
    return new ProblemError(400, 'bad-request', 'An HTTP/1.1 request needs a Host header', { errors: [{ pointer: '/headers/host', message: 'missing' }] });
  }
  return undefined;
}

/** The charsets a JSON body may declare (RFC 8259: JSON exchanged between systems is UTF-8). */
const JSON_CHARSETS = new Set(['utf-8', 'utf8', 'us-ascii']);
const UTF8 = new TextDecoder('utf-8', { fatal: true });
/** As Node decides that a request expects 100 Continue (then it emits checkContinue instead of request). */
const EXPECT_CONTINUE = /(?:^|\W)100-continue(?:$|\W)/i;

export async function createServiceApp(o: ServiceAppOptions): Promise<ServiceApp> {
  if ((o.auth.tokens.length === 0 && !o.auth.validate) || o.auth.tokens.some((t) => t.length < MIN_TOKEN_LENGTH)) {
    throw new RangeError(`auth.tokens: give at least one token, each of ${String(MIN_TOKEN_LENGTH)} characters or more`);
  }
  const tokens = o.auth.tokens.map(digest);
  const limits = resolveHttpLimits(o.limits);
  // The logger exists once fastify does; the server (made inside Fastify()) logs through this.
  const late: { log?: FastifyBaseLogger } = {};

  // Node's options for slow clients. Fastify's own (requestTimeout 0: none) would let a client sending a body byte
  // every 10 s hold a connection for minutes. Expired requests are looked for every connectionsCheckingInterval.
  const smallest = Math.min(...[limits.requestTimeout, limits.headersTimeout].filter((t) => t > 0), 10_000);
  const serverOptions: HttpServerOptions = {
    requestTimeout: limits.requestTimeout,
    headersTimeout: limits.headersTimeout,
    keepAliveTimeout: limits.keepAliveTimeout,
    maxHeaderSize: limits.maxHeaderSize,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(smallest / 10))),
    // Checked in the request listener, to answer with a problem.
    requireHostHeader: false,
  };
  // An https instance is typed with https.Server; nothing here depends on the server type, so both share one type.
  const https = o.https?.ca === undefined ? o.https : { ...o.https, requestCert: true, rejectUnauthorized: true };

  const perAddress = new Map<string, number>();
  const warned = new Set<string>();
  const countConnection = (socket: Socket): void => {
    const address = socket.remoteAddress;
    const max = limits.maxConnectionsPerAddress;
    if (max === 0 || address === undefined) return;
    const open = perAddress.get(address) ?? 0;
    if (open >= max) {
      if (!warned.has(address)) {
        warned.add(address);
        late.log?.warn({ remoteAddress: address, open }, `refusing connections from ${address}: it holds ${String(open)}, the limit (limits.maxConnectionsPerAddress)`);
      }
      socket.destroy();
      return;
    }
    perAddress.set(address, open + 1);
    socket.once('close', () => {
      const left = (perAddress.get(address) ?? 1) - 1;
      if (left <= 0) perAddress.delete(address);
      else perAddress.set(address, left);
      if (left < max) warned.delete(address);
    });
  };

  const serverFactory = (handler: (req: IncomingMessage, res: ServerResponse) => void): HttpServer => {
    const listener = (req: IncomingMessage, res: ServerResponse): void => {
      // Any answer may come before the body has arrived (a 200 to a GET that carries one, a 400 for a bad
      // URL that no hook sees): a close after it must not reset the connection under the client's feet.
      if (bodyPending(req)) lingerOnClose(req.socket, limits.closeLingerTimeout);
      const refused = refuseBeforeRouting(req, limits);
      if (refused === undefined) {
        handler(req, res);
        return;
      }
      const id = requestId(req);
      late.log?.info({ reqId: id, status: refused.status, kind: refused.kind }, refused.message);
      const close = bodyPending(req);
      if (close) lingerOnClose(req.socket, limits.closeLingerTimeout);
      const body = JSON.stringify(refused.body(refused.status === 414 ? undefined : (req.url ?? '').split('?')[0]));
      res.writeHead(refused.status, {
        'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`,
        'content-length': Buffer.byteLength(body),
        'x-request-id': id,
        ...(close ? { connection: 'close' } : {}),
      });
      res.end(body);
    };
    const server = https
      ? (createHttpsServer({ ...https, ...serverOptions, ...(limits.headersTimeout > 0 ? { handshakeTimeout: limits.headersTimeout } : {}) }, listener) as unknown as HttpServer)
      : createHttpServer(serverOptions, listener);
    server.keepAliveTimeout = limits.keepAliveTimeout;
    server.on('connection', countConnection);
    // `Expect: 100-continue`: Node would invite the body before any check; the preParsing hook below
    // does once the request is authenticated and routed, so a refused client never sends its body.
    server.on('checkContinue', listener);
    // `Expect:` other than 100-continue: Node's own answer is a bare 417.
    server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
      const problem = new ProblemError(417, 'expectation-failed', 'Only "Expect: 100-continue" is supported', { errors: [{ pointer: '/headers/expect', message: 'not supported' }] });
      const text = JSON.stringify(problem.body((req.url ?? '').split('?')[0]));
      res.writeHead(417, { 'content-type': `${PROBLEM_CONTENT_TYPE}; charset=utf-8`, 'content-length': Buffer.byteLength(text), 'x-request-id': requestId(req), connection: 'close' });
      lingerOnClose(req.socket, limits.closeLingerTimeout);
      res.end(text);
    });
    return server;
  };

  // Node's parser refused the request (431, 400) or a timer fired (408): no request, no reply, no route.
  // The answer is written on the socket, as a problem with its own request id (logged), then the socket closed.
  const answered = new WeakSet<Socket>();
  const clientErrorHandler = (error: Error & { code?: string }, socket: Socket): void => {
    if (error.code === 'ECONNRESET' || socket.destroyed || answered.has(socket)) return;
    answered.add(socket);
    const problem = clientErrorProblem(error, limits);
    // A response already under way on this socket (its headers sent) cannot be followed by another.
    const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (problem === undefined || !socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    const id = randomUUID();
    late.log?.info({ reqId: id, status: problem.status, kind: problem.kind, code: error.code, remoteAddress: socket.remoteAddress }, problem.message);
    endThenDestroy(socket, rawProblemResponse(problem, id), limits.closeLingerTimeout);
  };

  const options = {
    logger: o.logger ?? { level: 'info' },
    // Our genReqId honours a well-formed inbound X-Request-Id and replaces anything else (log injection).
    requestIdHeader: false as const,
    genReqId: requestId,
    bodyLimit: o.bodyLimit ?? 1024 * 1024,
    ajv: { customOptions: { coerceTypes: false } },
    // Fastify's 10 s default killed an agent replica at start-up: its event loop was busy with a
    // 10 000-host inventory while the plugins loaded. Ours always finish; a slow loop is not a hung plugin.
    pluginTimeout: 120_000,
    // The server is ours (timeouts, limits, checks before routing); `https` is still given so fastify names its URLs https://.
    serverFactory,
    ...(https ? { https } : {}),
    clientErrorHandler,
    // A path fastify cannot decode (`/v1/%E0%A4%A`) or a parameter over its length: a problem, not fastify's JSON.
    frameworkErrors: (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
      const problem = toProblem(error);
      request.log.info({ status: problem.status, kind: problem.kind }, problem.message);
      void reply.header('x-request-id', request.id);
      void sendProblem(reply, problem, request);
    },
  };
  const base = Fastify(options) as unknown as FastifyInstance;
  const app: ServiceApp = base.withTypeProvider<TypeBoxTypeProvider>();
  late.log = app.log;

  // Validation with TypeBox (no coercion: "100" stays a string for the rate parsers); responses are plain JSON.
  app.setValidatorCompiler(TypeBoxValidatorCompiler);
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  const started = new WeakMap<FastifyRequest, bigint>();
  app.addHook('onRequest', async (request, reply) => {
    started.set(request, process.hrtime.bigint());
    void reply.header('x-request-id', request.id);
  });
  const httpDuration = new Histogram({
    name: `${o.metrics.prefix}_http_request_duration_seconds`,
    help: 'HTTP request durations by method, route template and status code',
    labelNames: ['method', 'route', 'status_code'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [o.metrics.registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    const t0 = started.get(request);
    if (t0 === undefined) return;
    httpDuration.observe(
      { method: request.method, route: request.routeOptions.url ?? 'unmatched', status_code: String(reply.statusCode) },
      Number(process.hrtime.bigint() - t0) / 1e9,
    );
  });

  const open = new Set([...o.auth.open, ...(o.metrics.public === true ? ['/metrics'] : [])]);
  const validate = o.auth.validate;
  app.addHook('onRequest', (request, _reply, done) => {
    const route = request.routeOptions.url;
    if (route !== undefined && (open.has(route) || route === '/docs' || route.startsWith('/docs/'))) {
      done();
      return;
    }
    const header = request.headers.authorization;
    const m = typeof header === 'string' ? /^Bearer[ ]+([^\s]+)\s*$/i.exec(header) : null;
    const token = m?.[1];
    const refuse = (): ProblemError =>
      new ProblemError(401, 'unauthorized', token === undefined ? 'Send Authorization: Bearer <token>' : 'The bearer token is not valid', {
        headers: { 'www-authenticate': token === undefined ? `Bearer realm="${o.realm}"` : `Bearer realm="${o.realm}", error="invalid_token"` },
      });
    if (token !== undefined && !tokenMatches(token, tokens) && validate) {
      validate(token).then(
        (ok) => {
          if (typeof ok === 'object') identities.set(request.raw, ok);
          done(ok === false ? refuse() : undefined);
        },
        (error: unknown) => {
          request.log.warn({ err: error }, 'token validation failed');
          done(new ProblemError(503, 'not-ready', 'The bearer token could not be validated now (identity service unavailable)'));
        },
      );
      return;
    }
    if (token === undefined || !tokenMatches(token, tokens)) {
      done(refuse());
      return;
    }
    done();
  });

  // An error answered while the client is still sending a body (a 401 to an upload, a 413, a 415): close the
  // connection after the answer rather than read, or wait for, a body nobody will use.
  app.addHook('onSend', (request, reply, payload, done) => {
    if (reply.statusCode >= 400 && bodyPending(request.raw)) {
      void reply.header('connection', 'close');
      lingerOnClose(request.raw.socket, limits.closeLingerTimeout);
    }
    done(null, payload);
  });

  app.addHook('preParsing', (request, reply, payload, done) => {
    if (EXPECT_CONTINUE.test(request.headers.expect ?? '') && !reply.raw.headersSent) reply.raw.writeContinue();
    done(null, payload);
  });

  app.setErrorHandler((error, request, reply) => {
    const contentType = request.headers['content-type'];
    const problem = toProblem(error, { bodyLimit: request.routeOptions.bodyLimit, ...(contentType === undefined ? {} : { contentType }) });
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ status: problem.status, kind: problem.kind }, problem.message);
    return sendProblem(reply, problem, request);
  });
  app.setNotFoundHandler(async (request, reply) =>
    sendProblem(reply, new ProblemError(404, 'not-found', `No route ${request.method} ${request.url.split('?')[0] ?? ''}`), request),
  );

  // JSON bodies: fastify's parser (prototype poisoning refused), plus what it does not do. An empty body is
  // no body (a DELETE sent with `Content-Type: application/json` and nothing else is fine; a route that needs a
  // body still says so through its schema). Nesting is bounded before anything walks the value: 10 000
  // levels overflowed the stack of JSON.stringify (a 500) where a client deserves a 400 naming the limit.
  // The body must be UTF-8 (RFC 8259; a BOM is skipped): invalid bytes are a 400, not U+FFFD in a name, and a
  // declared charset other than UTF-8 is a 415. No other media type is parsed (fastify's text/plain parser is
  // removed): a route with a body answers 415 to anything but JSON.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const charset = /;\s*charset\s*=\s*"?([^";\s]*)/i.exec(request.headers['content-type'] ?? '')?.[1]?.toLowerCase();
    if (charset !== undefined && !JSON_CHARSETS.has(charset)) {
      done(new ProblemError(415, 'unsupported-media-type', `JSON bodies are UTF-8; charset=${charset.slice(0, 40)} is not supported`, { errors: [{ pointer: CONTENT_TYPE_POINTER, message: 'charset must be utf-8' }] }), undefined);
      return;
    }
    let text: string;
    try {
      text = UTF8.decode(typeof body === 'string' ? Buffer.from(body, 'utf8') : body);
    } catch {
      done(new ProblemError(400, 'invalid-json', 'The body is not valid UTF-8', { errors: [{ pointer: '/body', message: 'not valid UTF-8' }] }), undefined);
      return;
    }
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    void parseJson(request, text, (error, value) => {
      if (error) {
        done(error, undefined);
        return;
      }
      const depth = jsonDepth(value, MAX_JSON_DEPTH);
      if (depth > MAX_JSON_DEPTH) {
        done(new ProblemError(400, 'validation', `The JSON body is nested more than ${String(MAX_JSON_DEPTH)} levels deep`, { errors: [{ pointer: '/body', message: `nested deeper than ${String(MAX_JSON_DEPTH)} levels` }] }), undefined);
        return;
      }
      done(null, value);
    });
  });

  app.addSchema(ProblemSchema);
  for (const s of o.schemas ?? []) app.addSchema(s);

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: o.title, version: '1.0.0', description: o.description },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: BEARER,
      tags: o.tags,
    },
    refResolver: { buildLocalReference: (json, _base, _frag, i) => (typeof json.$id === 'string' ? json.$id : `def-${String(i)}`) },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  const registry = o.metrics.registry;
  app.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        tags: ['ops'],
        summary: 'Prometheus metrics',
        ...(o.metrics.public === true ? { security: [] } : {}),
        response: { 200: { description: 'The Prometheus text exposition format (version 0.0.4)', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
    },
    async (_request, reply) => {
      const text = await registry.metrics();
      return reply.type(registry.contentType).send(text);
    },
  );
  return app;
}
