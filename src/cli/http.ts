/**
 * The CLI's HTTP client of the agent and the manager. Unlike the manager's
 * AgentClient it does not retry: a person at a terminal wants "is the agent
 * running?" at once, not after a backoff, and every answer (404 included)
 * must reach the user as an exit code.
 */
import { request, type Dispatcher } from 'undici';
import { CliError, EXIT, type ExitCode } from './errors.ts';

export interface ServiceTarget {
  /** Shown in messages. */
  label: 'CM Agent' | 'Connectivity Manager';
  url: string;
  token: string | undefined;
  /** What to do when it does not answer. */
  unreachableHint: string;
  /** What to do when it refuses the token. */
  authHint: string;
}

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: { pointer: string; message: string }[];
  [extension: string]: unknown;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | undefined>;
}

/** How a problem's `errors[].pointer` is shown; lets a command name its own option instead of the body field. */
export type PointerLabel = (pointer: string) => string;

export class ApiError extends CliError {
  constructor(
    exitCode: ExitCode,
    message: string,
    lines: readonly string[],
    readonly status: number,
    readonly problem: Problem | undefined,
  ) {
    super(exitCode, message, lines);
    this.name = 'ApiError';
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_SOCKET', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED']);

/** The first `code` in an error's cause chain (undici wraps the socket error). */
export function errorCode(error: unknown): string | undefined {
  for (let e: unknown = error, depth = 0; e !== undefined && e !== null && depth < 6; depth++) {
    if (typeof e === 'object' && 'code' in e && typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return e.code;
    if (e instanceof AggregateError) for (const inner of e.errors) if (errorCode(inner) !== undefined) return errorCode(inner);
    e = typeof e === 'object' && 'cause' in e ? e.cause : undefined;
  }
  return undefined;
}

export function exitCodeOf(status: number): ExitCode {
  if (status === 404) return EXIT.NOT_FOUND;
  if (status === 401 || status === 403) return EXIT.USAGE;
  if (status >= 400 && status < 500) return EXIT.REFUSED;
  return EXIT.FAILED;
}

export class ApiClient {
  private readonly base: string;

  constructor(
    readonly target: ServiceTarget,
    private readonly dispatcher: Dispatcher,
    private readonly timeoutMs: number,
    private readonly signal?: AbortSignal,
  ) {
    this.base = target.url.replace(/\/+$/, '');
  }

  get url(): string {
    return this.base;
  }

  async call<T>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, options: { body?: unknown; headers?: Record<string, string>; pointerLabel?: PointerLabel } = {}): Promise<ApiResponse<T>> {
    const deadline = AbortSignal.timeout(this.timeoutMs);
    const signal = this.signal ? AbortSignal.any([this.signal, deadline]) : deadline;
    let response: Dispatcher.ResponseData;
    let text: string;
    try {
      response = await request(`${this.base}${path}`, {
        method,
        dispatcher: this.dispatcher,
        signal,
        headers: {
          accept: 'application/json, application/problem+json',
          ...(this.target.token === undefined || this.target.token === '' ? {} : { authorization: `Bearer ${this.target.token}` }),
          ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
          ...options.headers,
        },
        ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
      });
      text = await response.body.text();
    } catch (error) {
      throw this.unreachable(error, deadline.aborted);
    }
    let body: unknown;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        if (response.statusCode < 300) throw new CliError(EXIT.FAILED, `${this.target.label} at ${this.base} answered ${method} ${path} with something that is not JSON (is ${this.base} really the ${this.target.label}?)`);
        body = undefined;
      }
    }
    if (response.statusCode >= 200 && response.statusCode < 300) return { status: response.statusCode, body: body as T, headers: response.headers };
    throw this.failure(method, path, response.statusCode, body, text, options.pointerLabel);
  }

  private unreachable(error: unknown, timedOut: boolean): CliError {
    if (this.signal?.aborted === true) return new CliError(EXIT.FAILED, 'interrupted');
    const code = errorCode(error);
    const why = timedOut ? `no answer within ${String(this.timeoutMs / 1000)} s` : code ?? (error instanceof Error ? error.message : String(error));
    return new CliError(EXIT.UNREACHABLE, `cannot reach the ${this.target.label} at ${this.base}: ${why}`, [this.target.unreachableHint], { cause: error });
  }

  private failure(method: string, path: string, status: number, body: unknown, text: string, pointerLabel: PointerLabel | undefined): ApiError {
    const problem = isProblem(body) ? body : undefined;
    const lines: string[] = [];
    let message: string;
    if (problem?.detail !== undefined) {
      // When errors[] itemises the problems, the detail's own list of them would print everything twice.
      message = problem.errors !== undefined && problem.errors.length > 0 ? (problem.detail.split('\n')[0] ?? problem.detail) : problem.detail;
    } else {
      message = `${this.target.label}: ${method} ${path} answered ${String(status)}${text === '' ? '' : `: ${text.slice(0, 200)}`}`;
    }
    for (const e of problem?.errors ?? []) {
      const where = pointerLabel ? pointerLabel(e.pointer) : e.pointer;
      lines.push(where === '' ? e.message : `${where}: ${e.message}`);
    }
    // The manager's `infeasible` and `not-ready` problems carry their reasons as an extension.
    const reasons = problem?.reasons;
    if (Array.isArray(reasons)) {
      for (const r of reasons as unknown[]) {
        if (typeof r === 'string') lines.push(r);
        else if (typeof r === 'object' && r !== null && 'message' in r && typeof r.message === 'string') lines.push(r.message);
      }
    }
    if (status === 401 || status === 403) lines.push(this.target.authHint);
    return new ApiError(exitCodeOf(status), message, lines, status, problem);
  }
}

function isProblem(body: unknown): body is Problem {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && ('detail' in body || 'title' in body);
}
