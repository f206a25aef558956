/**
 * How the deployer judges what OpenStack and the CM Agent answer, how long it
 * waits before asking again, and how long a logged field may be.
 *
 * Classification (the drive of a topology re-runs its current step after a
 * transient error, so every call is retried the same way):
 *
 * | answer                                   | verdict   | why |
 * |------------------------------------------|-----------|-----|
 * | connection refused/reset, timeout        | transient | nothing was decided; the service may be back |
 * | 5xx, 429, 408                            | transient | the service says "later" |
 * | 409                                      | transient | our calls get it for a passing conflict: Heat's StackExists on create (a stack of our name appeared: the step re-runs, looks it up by name and adopts it), ActionInProgress on delete (another action finishes first) |
 * | 401                                      | transient | the client already re-authenticated once; a persisting 401 is the manager's credentials, which an operator fixes without touching the topology. The step deadline still ends it |
 * | 400, 403, 404, 405, 406, 413, 414, 422 … | permanent | the same request gets the same answer: a malformed or too large body (413: a 3.5 MiB name), a policy or quota refusal, an unsupported microversion. A 404 that means "not there" is handled where it is asked: `findStack` returns undefined, a stack already gone is deleted, an SLA already gone is removed (the agent client's 404) |
 * | other OpenStack client errors            | per `retryable` | a response of the wrong shape, a missing endpoint or admin role: permanent |
 * | agent: unreachable, invalid JSON         | transient | the agent restarts or is being replaced |
 * | agent: HTTP status                       | as above  | same table by status |
 * | anything else (store, bugs)              | not judged here | the drive stops (`drive_failed`) and is resumed later with backoff |
 */
import { OpenStackAbortError, OpenStackApiError, OpenStackError } from '../openstack/errors.ts';
import { AgentClientError } from './agent-client.ts';

/** A failure the deployer decided on itself (a stack that will not delete): permanent, with its own code. */
export class DeploymentFailure extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'DeploymentFailure';
  }
}

export interface UpstreamVerdict {
  kind: 'permanent' | 'transient';
  /** The error's stable code (`CM_ERR_OPENSTACK_*`, `CM_ERR_AGENT_*`, or the deployer's). */
  code: string;
  /** What the service said, bounded. */
  message: string;
  /** HTTP status when there was an answer. */
  status?: number;
  details?: unknown;
}

/** Statuses that say "ask again later" (see the table above). */
export function transientStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408 || status === 409 || status === 401;
}

/** The verdict on an error of an OpenStack or agent call; undefined for errors of anything else. */
export function classifyUpstream(error: unknown): UpstreamVerdict | undefined {
  if (error instanceof DeploymentFailure) {
    return { kind: 'permanent', code: error.code, message: boundText(error.message), ...(error.details === undefined ? {} : { details: error.details }) };
  }
  if (error instanceof OpenStackApiError) {
    return {
      kind: transientStatus(error.status) ? 'transient' : 'permanent',
      code: error.code,
      message: boundText(error.message),
      status: error.status,
      details: { service: error.service, status: error.status, service_code: error.serviceCode ?? null, request_id: error.requestId ?? null },
    };
  }
  if (error instanceof OpenStackError) {
    // An abort that is not the deployer's own stop (that one is handled before): a call cut short, try again.
    const transient = error.retryable || error instanceof OpenStackAbortError;
    return { kind: transient ? 'transient' : 'permanent', code: error.code, message: boundText(error.message) };
  }
  if (error instanceof AgentClientError) {
    const transient = error.code !== 'CM_ERR_AGENT_HTTP' || error.status === undefined || transientStatus(error.status);
    return { kind: transient ? 'transient' : 'permanent', code: error.code, message: boundText(error.message), ...(error.status === undefined ? {} : { status: error.status }) };
  }
  return undefined;
}

export interface BackoffPolicy {
  /** The first wait. */
  baseMs: number;
  /** No wait is longer. */
  maxMs: number;
}

/**
 * The wait before retry number `attempt` (1 = the first retry): `baseMs`
 * doubled per attempt, capped at `maxMs`, less up to a quarter at random so
 * that managers retrying the same service do not move in step.
 */
export function backoffMs(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(0, attempt - 1), 30);
  const full = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  return Math.max(1, Math.round(full * (1 - 0.25 * random())));
}

/** The longest string field of a log line (and of a stored error message), in characters. */
export const MAX_FIELD_CHARS = 2048;

/** `text` cut to `max` characters, with a marker saying how much was cut. */
export function boundText(text: string, max = MAX_FIELD_CHARS): string {
  if (text.length <= max) return text;
  let keep = max;
  // Do not split a surrogate pair.
  const last = text.charCodeAt(keep - 1);
  if (last >= 0xd800 && last <= 0xdbff) keep -= 1;
  return `${text.slice(0, keep)}…[${String(text.length - keep)} more chars cut]`;
}

const MAX_ITEMS = 100;
const MAX_DEPTH = 6;

/**
 * A copy of a log event whose every string (nested ones too) is bounded by
 * `boundText`, arrays by 100 items, nesting by 6 levels; errors become their
 * bounded text. Keys are kept.
 */
export function boundLogFields(event: Record<string, unknown>, max = MAX_FIELD_CHARS): Record<string, unknown> {
  return boundValue(event, max, 0) as Record<string, unknown>;
}

function boundValue(value: unknown, max: number, depth: number): unknown {
  if (typeof value === 'string') return boundText(value, max);
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Error) return boundText(`${value.name}: ${value.message}`, max);
  if (value instanceof Date) return value;
  if (depth >= MAX_DEPTH) return '[nested too deep]';
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((v: unknown) => boundValue(v, max, depth + 1));
    if (value.length > MAX_ITEMS) items.push(`…[${String(value.length - MAX_ITEMS)} more items cut]`);
    return items;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[boundText(k, max)] = boundValue(v, max, depth + 1);
  return out;
}
