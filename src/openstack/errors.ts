/**
 * Errors of the OpenStack client layer. Every error has a stable `code`
 * (`CM_ERR_OPENSTACK_*`), an optional `cause` and `retryable`; callers use
 * `instanceof` or `code`, never the message text.
 */

export class OpenStackError extends Error {
  readonly code: string;
  /** True when retrying the same call later may succeed. */
  readonly retryable: boolean;

  constructor(code: string, message: string, options: { cause?: unknown; retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.retryable = options.retryable ?? false;
  }
}

export interface ApiErrorInit {
  /** Service label: identity, compute, placement, network, orchestration (or a caller-chosen name). */
  service: string;
  status: number;
  /** The service's own error code/type: Nova fault name, Neutron type, Placement code, Keystone title, Heat error.type. */
  serviceCode: string | undefined;
  message: string;
  requestId: string | undefined;
  method: string;
  url: string;
  /** The parsed (or raw text) error body. */
  body?: unknown;
}

function apiCode(status: number): string {
  switch (status) {
    case 400:
      return 'CM_ERR_OPENSTACK_BAD_REQUEST';
    case 401:
      return 'CM_ERR_OPENSTACK_UNAUTHORIZED';
    case 403:
      return 'CM_ERR_OPENSTACK_FORBIDDEN';
    case 404:
      return 'CM_ERR_OPENSTACK_NOT_FOUND';
    case 406:
      return 'CM_ERR_OPENSTACK_MICROVERSION';
    case 409:
      return 'CM_ERR_OPENSTACK_CONFLICT';
    default:
      return status >= 500 ? 'CM_ERR_OPENSTACK_SERVER' : 'CM_ERR_OPENSTACK_API';
  }
}

/** Any non-success HTTP answer of an OpenStack service, parsed from that service's error shape. */
export class OpenStackApiError extends OpenStackError {
  readonly service: string;
  readonly status: number;
  readonly serviceCode: string | undefined;
  readonly requestId: string | undefined;
  readonly method: string;
  readonly url: string;
  readonly body: unknown;
  /** The message as the service wrote it (without the method/url prefix). */
  readonly apiMessage: string;

  constructor(init: ApiErrorInit, options: { cause?: unknown } = {}) {
    const rid = init.requestId ? ` [${init.requestId}]` : '';
    super(
      apiCode(init.status),
      `${init.service} ${init.method} ${init.url} failed with ${String(init.status)}${init.serviceCode ? ` ${init.serviceCode}` : ''}: ${init.message}${rid}`,
      { ...options, retryable: init.status >= 500 || init.status === 429 },
    );
    this.service = init.service;
    this.status = init.status;
    this.serviceCode = init.serviceCode;
    this.requestId = init.requestId;
    this.method = init.method;
    this.url = init.url;
    this.body = init.body;
    this.apiMessage = init.message;
  }
}

/** A 409: duplicate name (Heat), stale generation (Placement), state conflict (Nova). */
export class OpenStackConflictError extends OpenStackApiError {}

/** Building the right error class for a status. */
export function apiError(init: ApiErrorInit): OpenStackApiError {
  return init.status === 409 ? new OpenStackConflictError(init) : new OpenStackApiError(init);
}

/** The connection failed (refused, reset, DNS) before a complete answer arrived. */
export class OpenStackConnectionError extends OpenStackError {
  readonly service: string;
  readonly method: string;
  readonly url: string;
  constructor(service: string, method: string, url: string, options: { cause?: unknown } = {}) {
    const why = options.cause instanceof Error ? `: ${options.cause.message}` : '';
    super('CM_ERR_OPENSTACK_CONNECTION', `${service} ${method} ${url}: connection failed${why}`, {
      ...options,
      retryable: true,
    });
    this.service = service;
    this.method = method;
    this.url = url;
  }
}

/** The call did not complete before its deadline (all attempts included). */
export class OpenStackTimeoutError extends OpenStackError {
  constructor(service: string, method: string, url: string, timeoutMs: number) {
    super('CM_ERR_OPENSTACK_TIMEOUT', `${service} ${method} ${url}: no answer within ${String(timeoutMs)} ms`, {
      retryable: true,
    });
  }
}

/** The caller's AbortSignal fired. */
export class OpenStackAbortError extends OpenStackError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CM_ERR_OPENSTACK_ABORTED', message, options);
  }
}

/** The service answered with a body that does not have the documented shape. */
export class OpenStackResponseError extends OpenStackError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super('CM_ERR_OPENSTACK_BAD_RESPONSE', message, options);
  }
}

/** Cloud configuration (clouds.yaml / OS_* variables) is missing or invalid. */
export class OpenStackConfigError extends OpenStackError {
  constructor(message: string) {
    super('CM_ERR_OPENSTACK_CONFIG', message);
  }
}

/** The token's service catalog has no endpoint for the wanted type/interface/region. */
export class OpenStackCatalogError extends OpenStackError {
  readonly serviceType: string;
  constructor(serviceType: string, message: string) {
    super('CM_ERR_OPENSTACK_CATALOG', message);
    this.serviceType = serviceType;
  }
}

/**
 * Admin-only data is missing from an answer: the token lacks the admin role,
 * so the service silently left the field out. Never treat this as "no host".
 */
export class OpenStackPermissionError extends OpenStackError {
  readonly field: string;
  readonly resource: string;
  constructor(resource: string, field: string, detail = '') {
    super(
      'CM_ERR_OPENSTACK_NOT_ADMIN',
      `${resource} came back without the admin-only field "${field}": the token lacks the admin role (or the policy hides it)${detail ? `; ${detail}` : ''}`,
    );
    this.field = field;
    this.resource = resource;
  }
}

/** The cloud's API version range does not allow the requested call. */
export class OpenStackUnsupportedError extends OpenStackError {
  constructor(message: string) {
    super('CM_ERR_OPENSTACK_UNSUPPORTED', message);
  }
}
