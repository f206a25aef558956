/**
 * RFC 9457 problem details for the services' HTTP APIs (agent, manager): one error type
 * ({@link ProblemError}) thrown by the routes, the mapping of fastify's own errors (schema
 * validation, bad JSON, body too large, wrong media type, bad URL, 404) to the same shape, and
 * the raw form written straight on a socket when Node's parser refuses a request before any
 * route sees it (431, 400, 408).
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TSchema } from 'typebox';
import type { Problem as FieldProblem } from '../qos/validate.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Base of the `type` URIs (relative references are allowed by RFC 9457 §3.1.1). */
const TYPE_BASE = '/problems/';

export type ProblemKind =
  | 'validation'
  | 'invalid-json'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'unknown-server'
  | 'inventory-unavailable'
  | 'not-ready'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'method-not-allowed'
  | 'bad-request'
  | 'uri-too-long'
  | 'headers-too-large'
  | 'request-timeout'
  | 'expectation-failed'
  | 'invalid-topology'
  | 'invalid-service-type'
  | 'infeasible'
  | 'conflict'
  | 'idempotency-key-reused'
  | 'limit-exceeded'
  | 'upstream'
  | 'internal';

const TITLES: Record<ProblemKind, string> = {
  validation: 'The request is not valid',
  'invalid-json': 'The body is not valid JSON',
  unauthorized: 'Authentication required',
  forbidden: 'Not allowed for this caller',
  'not-found': 'Not found',
  'unknown-server': 'Unknown server',
  'inventory-unavailable': 'The cloud inventory is not available yet',
  'not-ready': 'The service is not ready',
  'payload-too-large': 'The body is too large',
  'unsupported-media-type': 'Unsupported media type',
  'method-not-allowed': 'Method not allowed',
  'bad-request': 'The request is not well-formed HTTP',
  'uri-too-long': 'The request target is too long',
  'headers-too-large': 'The request headers are too large',
  'request-timeout': 'The request was not received in time',
  'expectation-failed': 'The expectation cannot be met',
  'invalid-topology': 'The topology documents are not valid',
  'invalid-service-type': 'The service-type document is not valid',
  infeasible: 'The topology cannot be placed',
  conflict: 'Conflict with the current state',
  'idempotency-key-reused': 'The idempotency key was used for another request',
  'limit-exceeded': 'The request asks for more than this service allows',
  upstream: 'A service this one depends on failed',
  internal: 'Internal error',
};

export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  errors?: FieldProblem[];
  [extension: string]: unknown;
}

/** The shared OpenAPI schema of every error body. */
export const ProblemSchema = Type.Object(
  {
    type: Type.String({ description: 'URI reference naming the kind of problem' }),
    title: Type.String(),
    status: Type.Integer(),
    detail: Type.String(),
    instance: Type.Optional(Type.String()),
    errors: Type.Optional(
      Type.Array(
        Type.Object({
          pointer: Type.String({ description: 'RFC 6901 JSON pointer of the field ("" = the whole body)' }),
          message: Type.String(),
        }),
      ),
    ),
  },
  { $id: 'Problem', description: 'RFC 9457 problem details (application/problem+json)' },
);

export class ProblemError extends Error {
  readonly status: number;
  readonly kind: ProblemKind;
  readonly errors: FieldProblem[] | undefined;
  readonly extensions: Record<string, unknown>;
  readonly headers: Record<string, string>;

  constructor(
    status: number,
    kind: ProblemKind,
    detail: string,
    options: { errors?: FieldProblem[]; extensions?: Record<string, unknown>; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = 'ProblemError';
    this.status = status;
    this.kind = kind;
    this.errors = options.errors;
    this.extensions = options.extensions ?? {};
    this.headers = options.headers ?? {};
  }

  body(instance?: string): ProblemBody {
    return {
      ...this.extensions,
      type: TYPE_BASE + this.kind,
      title: TITLES[this.kind],
      status: this.status,
      detail: this.message,
      ...(instance === undefined ? {} : { instance }),
      ...(this.errors === undefined ? {} : { errors: this.errors }),
    };
  }
}

export function validationProblem(detail: string, errors: FieldProblem[]): ProblemError {
  return new ProblemError(400, 'validation', detail, { errors });
}

export function sendProblem(reply: FastifyReply, problem: ProblemError, request: FastifyRequest): FastifyReply {
  for (const [k, v] of Object.entries(problem.headers)) void reply.header(k, v);
  return reply
    .code(problem.status)
    .type(PROBLEM_CONTENT_TYPE)
    .send(JSON.stringify(problem.body(request.url.split('?')[0])));
}

interface AjvLikeError {
  instancePath?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** Fastify's schema errors → field problems. Params/query/headers pointers are prefixed by where they are. */
function fieldProblems(error: FastifyError): FieldProblem[] {
  const context = error.validationContext ?? 'body';
  const list = (error.validation ?? []) as AjvLikeError[];
  return list.map((v) => {
    let path = v.instancePath ?? '';
    const missing = v.params?.missingProperty ?? v.params?.requiredProperties;
    if (typeof missing === 'string') path += `/${missing.replace(/^\./, '')}`;
    // `/query/...` as in the routes' own checks (cursor, state), not fastify's `querystring`.
    const at = context === 'body' ? path : `/${context === 'querystring' ? 'query' : context}${path}`;
    return { pointer: at, message: v.message ?? 'is not valid' };
  });
}

/** What {@link toProblem} may name in its messages: the limit of the route that refused a body. */
export interface ProblemContext {
  bodyLimit?: number;
  /** The request's Content-Type header, named by a 415. */
  contentType?: string;
}

export const CONTENT_TYPE_POINTER = '/headers/content-type';

/** Maps anything thrown in a route or by fastify to a {@link ProblemError}. */
export function toProblem(error: unknown, context: ProblemContext = {}): ProblemError {
  if (error instanceof ProblemError) return error;
  const e = error as Partial<FastifyError>;
  if (Array.isArray(e.validation)) {
    const errors = fieldProblems(e as FastifyError);
    return validationProblem(`${errors.length} field(s) are not valid`, errors);
  }
  switch (e.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new ProblemError(400, 'invalid-json', 'This POST method requires a valid JSON body', {
        errors: [{ pointer: '', message: e.message ?? 'not valid JSON' }],
      });
    case 'FST_ERR_CTP_BODY_TOO_LARGE': {
      const limit = context.bodyLimit;
      const detail = limit === undefined ? 'The body is larger than this route accepts' : `The body is larger than this route accepts (${String(limit)} bytes)`;
      return new ProblemError(413, 'payload-too-large', detail, {
        errors: [{ pointer: '/body', message: limit === undefined ? 'too large' : `larger than ${String(limit)} bytes` }],
        ...(limit === undefined ? {} : { extensions: { limit_bytes: limit } }),
      });
    }
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': {
      const given = context.contentType === undefined || context.contentType === '' ? 'no Content-Type' : `Content-Type ${JSON.stringify(context.contentType.slice(0, 100))}`;
      return new ProblemError(415, 'unsupported-media-type', `This route does not take a body with ${given}; send application/json`, {
        errors: [{ pointer: CONTENT_TYPE_POINTER, message: 'not a media type this route accepts' }],
      });
    }
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new ProblemError(400, 'bad-request', 'The body does not have the length its Content-Length header says', {
        errors: [{ pointer: '/headers/content-length', message: 'does not match the body' }],
      });
    case 'FST_ERR_BAD_URL':
      return new ProblemError(400, 'bad-request', 'The URL path is not valid (a bad percent-encoding?)', { errors: [{ pointer: '/url', message: 'not a valid URL path' }] });
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new ProblemError(414, 'uri-too-long', 'A path parameter is longer than this service accepts', { errors: [{ pointer: '/url', message: 'a path segment is too long' }] });
    default:
      break;
  }
  if (error instanceof SyntaxError) {
    return new ProblemError(400, 'invalid-json', 'This POST method requires a valid JSON body', { errors: [{ pointer: '', message: error.message }] });
  }
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
  if (status === 404) return new ProblemError(404, 'not-found', e.message ?? 'not found');
  if (status === 405) return new ProblemError(405, 'method-not-allowed', e.message ?? 'method not allowed');
  if (status === 413) return toProblem({ code: 'FST_ERR_CTP_BODY_TOO_LARGE' }, context);
  if (status === 415) return toProblem({ code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE' }, context);
  if (status < 500) return new ProblemError(status, 'validation', e.message ?? 'bad request');
  // Never leak internals: the log has the stack, the client gets the request id.
  return new ProblemError(500, 'internal', 'An internal error occurred; the request id identifies it in the logs');
}

/**
 * A whole HTTP/1.1 response carrying `problem`, for a socket no route holds (Node's parser
 * refused the request: no request object, no reply). It asks the client to close: the caller
 * closes the connection after writing it.
 */
export function rawProblemResponse(problem: ProblemError, requestId: string, instance?: string): string {
  const body = JSON.stringify(problem.body(instance));
  const headers: [string, string][] = [
    ['Content-Type', `${PROBLEM_CONTENT_TYPE}; charset=utf-8`],
    ['Content-Length', String(Buffer.byteLength(body))],
    ['x-request-id', requestId],
    ...Object.entries(problem.headers),
    ['Connection', 'close'],
  ];
  const reason = STATUS_CODES[problem.status] ?? 'Error';
  return `HTTP/1.1 ${String(problem.status)} ${reason}\r\n${headers.map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n${body}`;
}

/** Response schemas of the given error statuses: problem details (`$ref` Problem, registered by createServiceApp). */
export const problemResponses = (...codes: number[]): Record<number, TSchema> =>
  Object.fromEntries(codes.map((c) => [c, { ...Type.Ref('Problem'), description: 'Problem details (application/problem+json)' }]));
