/**
 * What every HTTP service of the project shares (agent, manager): fastify
 * with TypeBox validation and no coercion, request ids, bearer-token auth
 * compared in constant time (plus an optional validator, e.g. Keystone),
 * problem+json errors, OpenAPI at /docs, and a per-request duration callback
 * for the service's own metrics registry.
 */
import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { TypeBoxValidatorCompiler, type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest, type RawReplyDefaultExpression, type RawRequestDefaultExpression, type RawServerDefault } from 'fastify';
import type { LoggerOptions } from 'pino';
import { Histogram, type Registry } from 'prom-client';
import type { TSchema } from 'typebox';
import { ProblemError, ProblemSchema, sendProblem, toProblem } from './problem.ts';

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

export interface ServiceAppOptions {
  /** OpenAPI title, e.g. `Connectivity Manager Agent`. */
  title: string;
  description: string;
  /** `WWW-Authenticate` realm, e.g. `cm-agent`. */
  realm: string;
  tags: { name: string; description: string }[];
  auth: {
    tokens: readonly string[];
    /** Accepts bearer tokens not in `tokens` (e.g. Keystone validation); false = 401, a throw = 503. */
    validate?: (token: string) => Promise<boolean>;
    /** Routes served without a token (besides /docs, and /metrics when public). */
    open: readonly string[];
  };
  /** Schemas referenced by `Type.Ref` in routes (Problem is always added). */
  schemas?: readonly TSchema[];
  logger?: LoggerOptions | false;
  /** PEM texts; `ca` given → clients must present a certificate it signed (mutual TLS). */
  https?: HttpsOptions;
  bodyLimit?: number;
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

export async function createServiceApp(o: ServiceAppOptions): Promise<ServiceApp> {
  if ((o.auth.tokens.length === 0 && !o.auth.validate) || o.auth.tokens.some((t) => t.length < MIN_TOKEN_LENGTH)) {
    throw new RangeError(`auth.tokens: give at least one token, each of ${String(MIN_TOKEN_LENGTH)} characters or more`);
  }
  const tokens = o.auth.tokens.map(digest);
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
  };
  // An https instance is typed with https.Server; nothing here depends on the server type, so both share one type.
  const https = o.https?.ca === undefined ? o.https : { ...o.https, requestCert: true, rejectUnauthorized: true };
  const base: FastifyInstance = https ? Fastify({ ...options, https }) : Fastify(options);
  const app: ServiceApp = base.withTypeProvider<TypeBoxTypeProvider>();

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
          done(ok ? undefined : refuse());
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

  app.setErrorHandler((error, request, reply) => {
    const problem = toProblem(error);
    if (problem.status >= 500) request.log.error({ err: error }, 'request failed');
    else request.log.info({ status: problem.status, kind: problem.kind }, problem.message);
    return sendProblem(reply, problem, request);
  });
  app.setNotFoundHandler(async (request, reply) =>
    sendProblem(reply, new ProblemError(404, 'not-found', `No route ${request.method} ${request.url.split('?')[0] ?? ''}`), request),
  );

  // JSON bodies: fastify's parser (prototype poisoning refused), plus two things it does not do. An empty body is
  // no body (a DELETE sent with `Content-Type: application/json` and nothing else is fine; a route that needs a
  // body still says so through its schema). And nesting is bounded before anything walks the value: 10 000
  // levels overflowed the stack of JSON.stringify (a 500) where a client deserves a 400 naming the limit.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = typeof body === 'string' ? body : body.toString('utf8');
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
  app.get('/metrics', { schema: { operationId: 'getMetrics', tags: ['ops'], summary: 'Prometheus metrics', ...(o.metrics.public === true ? { security: [] } : {}) } }, async (_request, reply) => {
    const text = await registry.metrics();
    return reply.type(registry.contentType).send(text);
  });
  return app;
}
