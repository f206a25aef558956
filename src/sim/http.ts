/**
 * Shared HTTP plumbing: per-service error bodies, request ids, token checks
 * and fault injection.
 */
import { randomUUID } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';

export type ServiceName = 'keystone' | 'nova' | 'placement' | 'neutron' | 'heat';

export const SERVICE_PREFIX: Record<ServiceName, string> = {
  keystone: '/identity',
  nova: '/compute',
  placement: '/placement',
  neutron: '/network',
  heat: '/heat-api',
};

export function serviceOf(url: string): ServiceName | undefined {
  for (const [name, prefix] of Object.entries(SERVICE_PREFIX) as [ServiceName, string][]) {
    if (url === prefix || url.startsWith(`${prefix}/`) || url.startsWith(`${prefix}?`)) return name;
  }
  return undefined;
}

/** An error in the shape of the service that raises it. `kind` is Nova's fault name / Neutron's and Heat's error type. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly kind?: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const NOVA_FAULTS: Record<number, string> = {
  400: 'badRequest',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'itemNotFound',
  405: 'badMethod',
  409: 'conflictingRequest',
  413: 'overLimit',
  415: 'badMediaType',
  429: 'overLimit',
  501: 'notImplemented',
  503: 'serviceUnavailable',
};

const NEUTRON_TYPES: Record<number, string> = {
  400: 'HTTPBadRequest',
  403: 'HTTPForbidden',
  404: 'HTTPNotFound',
  409: 'HTTPConflict',
  500: 'HTTPInternalServerError',
  503: 'HTTPServiceUnavailable',
};

const HEAT_EXPLANATIONS: Record<number, string> = {
  400: 'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  404: 'The resource could not be found.',
  409: 'There was a conflict when trying to complete your request.',
  500: 'The server has either erred or is incapable of performing the requested operation.',
  503: 'The server is currently unavailable. Please try again at a later time.',
};

export const title = (status: number): string => STATUS_CODES[status] ?? 'Error';

export function errorBody(service: ServiceName, status: number, message: string, kind: string | undefined, requestId: string): unknown {
  switch (service) {
    case 'keystone':
      return { error: { code: status, title: title(status), message } };
    case 'nova':
      return { [kind ?? NOVA_FAULTS[status] ?? 'computeFault']: { code: status, message } };
    case 'placement':
      // webob's layout, as Placement sends it: the status explanation, a blank line, the detail, two spaces.
      return { errors: [{ status, title: title(status), detail: `${PLACEMENT_EXPLANATIONS[status] ?? title(status)}\n\n ${message}  `, code: kind ?? 'placement.undefined_code', request_id: requestId }] };
    case 'neutron':
      return { NeutronError: { type: kind ?? NEUTRON_TYPES[status] ?? 'HTTPError', message, detail: '' } };
    case 'heat':
      return {
        code: status,
        title: title(status),
        explanation: HEAT_EXPLANATIONS[status] ?? title(status),
        error: { type: kind ?? title(status).replace(/\s/g, ''), message, traceback: null },
      };
  }
}

/** webob's explanations of the statuses Placement answers with. */
const PLACEMENT_EXPLANATIONS: Record<number, string> = {
  400: 'The server could not comply with the request since it is either malformed or otherwise incorrect.',
  404: 'The resource could not be found.',
  409: 'There was a conflict when trying to complete your request.',
};

/** keystonemiddleware's 401 (the same for every service behind it). */
export const UNAUTHORIZED_BODY = { error: { code: 401, title: 'Unauthorized', message: 'The request you have made requires authentication.' } };

export interface AuthContext {
  token: string;
  userId: string;
  userName: string;
  projectId: string;
  projectName: string;
  roles: string[];
  isAdmin: boolean;
  expiresAt: Date;
  issuedAt: Date;
  methods: string[];
}

export interface RequestContext {
  service: ServiceName;
  requestId: string;
  auth?: AuthContext;
  /** Nova minor microversion (2.N) or Placement minor (1.N). */
  version: number;
  /** A compute microversion Nova refused: its answer still names it in the version headers. */
  refusedVersion?: string;
}

const contexts = new WeakMap<FastifyRequest, RequestContext>();

export function setContext(req: FastifyRequest, ctx: RequestContext): void {
  contexts.set(req, ctx);
}

export function ctxOf(req: FastifyRequest): RequestContext {
  const ctx = contexts.get(req);
  if (!ctx) throw new ApiError(500, 'no request context');
  return ctx;
}

export function authOf(req: FastifyRequest): AuthContext {
  const auth = ctxOf(req).auth;
  if (!auth) throw new ApiError(401, 'The request you have made requires authentication.');
  return auth;
}

export const newRequestId = (): string => `req-${randomUUID()}`;

export function sendError(reply: FastifyReply, ctx: RequestContext, err: ApiError): FastifyReply {
  for (const [k, v] of Object.entries(err.headers)) void reply.header(k, v);
  if (err.status === 401) return reply.code(401).header('www-authenticate', `Keystone uri="${origin(reply.request)}/identity"`).send(UNAUTHORIZED_BODY);
  return reply.code(err.status).send(errorBody(ctx.service, err.status, err.message, err.kind, ctx.requestId));
}

/** Query helper: every value of a (possibly repeated) query parameter. */
export function queryAll(query: unknown, key: string): string[] {
  if (typeof query !== 'object' || query === null) return [];
  const v = (query as Record<string, unknown>)[key];
  if (v === undefined) return [];
  return (Array.isArray(v) ? v : [v]).map(String);
}

export function queryOne(query: unknown, key: string): string | undefined {
  return queryAll(query, key)[0];
}

export const isTrue = (v: string | undefined): boolean => v !== undefined && ['1', 'true', 'yes', 'on', ''].includes(v.toLowerCase());

export function body(req: FastifyRequest): Record<string, unknown> {
  const b = req.body;
  if (typeof b !== 'object' || b === null || Array.isArray(b)) throw new ApiError(400, 'The request body must be a JSON object.');
  return b as Record<string, unknown>;
}

/** The base URL a client used (scheme, host, port). */
export function origin(req: FastifyRequest): string {
  return `http://${req.headers.host ?? '127.0.0.1'}`;
}
