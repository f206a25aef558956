/**
 * RFC 9457 problem details for the services' HTTP APIs (agent, manager): one error type
 * ({@link ProblemError}) thrown by the routes, and the mapping of fastify's own
 * errors (schema validation, bad JSON, body too large, 404) to the same shape.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { Problem as FieldProblem } from '../qos/validate.ts';

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Base of the `type` URIs (relative references are allowed by RFC 9457 §3.1.1). */
const TYPE_BASE = '/problems/';

export type ProblemKind =
  | 'validation'
  | 'invalid-json'
  | 'unauthorized'
  | 'not-found'
  | 'unknown-server'
  | 'inventory-unavailable'
  | 'not-ready'
  | 'payload-too-large'
  | 'unsupported-media-type'
  | 'method-not-allowed'
  | 'invalid-topology'
  | 'infeasible'
  | 'conflict'
  | 'idempotency-key-reused'
  | 'upstream'
  | 'internal';

const TITLES: Record<ProblemKind, string> = {
  validation: 'The request is not valid',
  'invalid-json': 'The body is not valid JSON',
  unauthorized: 'Authentication required',
  'not-found': 'Not found',
  'unknown-server': 'Unknown server',
  'inventory-unavailable': 'The cloud inventory is not available yet',
  'not-ready': 'The service is not ready',
  'payload-too-large': 'The body is too large',
  'unsupported-media-type': 'Unsupported media type',
  'method-not-allowed': 'Method not allowed',
  'invalid-topology': 'The topology documents are not valid',
  infeasible: 'The topology cannot be placed',
  conflict: 'Conflict with the current state',
  'idempotency-key-reused': 'The idempotency key was used for another request',
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

/** Fastify's schema errors → field problems. Params/querystring/headers pointers are prefixed by where they are. */
function fieldProblems(error: FastifyError): FieldProblem[] {
  const context = error.validationContext ?? 'body';
  const list = (error.validation ?? []) as AjvLikeError[];
  return list.map((v) => {
    let path = v.instancePath ?? '';
    const missing = v.params?.missingProperty ?? v.params?.requiredProperties;
    if (typeof missing === 'string') path += `/${missing.replace(/^\./, '')}`;
    const at = context === 'body' ? path : `/${context}${path}`;
    return { pointer: at, message: v.message ?? 'is not valid' };
  });
}

/** Maps anything thrown in a route or by fastify to a {@link ProblemError}. */
export function toProblem(error: unknown): ProblemError {
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
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new ProblemError(413, 'payload-too-large', e.message ?? 'the body is too large');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new ProblemError(415, 'unsupported-media-type', e.message ?? 'unsupported content type');
    default:
      break;
  }
  if (error instanceof SyntaxError) {
    return new ProblemError(400, 'invalid-json', 'This POST method requires a valid JSON body', { errors: [{ pointer: '', message: error.message }] });
  }
  const status = typeof e.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500 ? e.statusCode : 500;
  if (status === 404) return new ProblemError(404, 'not-found', e.message ?? 'not found');
  if (status === 405) return new ProblemError(405, 'method-not-allowed', e.message ?? 'method not allowed');
  if (status < 500) return new ProblemError(status, 'validation', e.message ?? 'bad request');
  // Never leak internals: the log has the stack, the client gets the request id.
  return new ProblemError(500, 'internal', 'An internal error occurred; the request id identifies it in the logs');
}
