/**
 * Start-up without the agent's dependencies: the agent listens at once and
 * brings up what it depends on (the SLA store, the cluster store, OpenStack)
 * in the background, retrying each with capped exponential backoff, while
 * `/healthz` answers and `/readyz` names what it is waiting for.
 *
 * Only configuration problems end the process (exit 2): values the parser
 * refuses, files that cannot be read, credentials of the wrong shape. Anything
 * a dependency answers (or fails to answer) is retried: the dependency may be
 * restarting, or starting together with the agent.
 */
import { OpenStackApiError, OpenStackCatalogError, OpenStackConfigError, OpenStackError, OpenStackPermissionError } from '../openstack/index.ts';
import { ProblemError } from '../http/problem.ts';
import type { Sla } from '../qos/sla.ts';
import { StoreError, type ListSlaOptions, type PutMeta, type PutResult, type SlaStore, type StoredSla } from '../store/index.ts';
import { AgentConfigError } from './config.ts';

/** What /readyz shows of a dependency the agent is waiting for. */
export interface StartupReason {
  dependency: string;
  reason: string;
}

export interface RetryPolicy {
  /** First delay after a failure, ms. @default 500 */
  initialMs: number;
  /** The delay doubles up to this, ms. @default 30000 */
  maxMs: number;
}

export const DEFAULT_STARTUP_RETRY: RetryPolicy = { initialMs: 500, maxMs: 30_000 };

/** Longest error text put in a log line or a readiness reason: a proxy's HTML error page must not flood the log. */
export const MAX_ERROR_CHARS = 300;

export function boundedText(text: string, max = MAX_ERROR_CHARS): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}

/** The HTTP layer's service labels → the dependency /readyz names. */
const DEPENDENCY_OF_SERVICE: Readonly<Record<string, string>> = {
  identity: 'keystone',
  compute: 'nova',
  network: 'neutron',
  placement: 'placement',
};

/** Which OpenStack service an error of a cloud read came from ('openstack' when it does not say). */
export function openstackDependencyOf(error: unknown): string {
  if (error instanceof OpenStackCatalogError) return 'keystone';
  if (error instanceof OpenStackError) {
    const service = (error as { service?: unknown }).service;
    if (typeof service === 'string') return DEPENDENCY_OF_SERVICE[service] ?? service;
    // Timeouts name the service only in their message ("compute GET …: no answer within …").
    const first = /^(\w+) (GET|POST|PUT|PATCH|DELETE|HEAD) /.exec(error.message)?.[1];
    if (first !== undefined) return DEPENDENCY_OF_SERVICE[first] ?? first;
  }
  return 'openstack';
}

/**
 * Whether an error is the dependency refusing the agent's credentials (Keystone's 401 on
 * `POST /v3/auth/tokens`, a 403, a token without the admin role).
 *
 * Decision: a 401 from Keystone at start is not a configuration problem (no exit 2). Keystone
 * also answers 401 to valid credentials while its identity backend (SQL, LDAP) restarts or a
 * fernet key rotation has not reached every node behind its load balancer, and a rotated
 * password is often set in Keystone after the services were restarted with it. Exiting
 * would turn such a moment into a crash loop that the supervisor restarts anyway, and an
 * operator learns no more from it than from /readyz. So it is retried like an unreachable
 * Keystone, but logged at level `error` with a hint, and /readyz says the credentials were
 * refused. Credentials of the wrong shape (no password, an unknown auth type) are refused by
 * the cloud configuration loader before anything starts: that is exit 2.
 */
export function isCredentialsRefusal(error: unknown): boolean {
  if (error instanceof OpenStackPermissionError) return true;
  return error instanceof OpenStackApiError && (error.status === 401 || error.status === 403);
}

/**
 * The agent's credentials lack the role it needs: it reads every host, server and port of the cloud
 * (os-services, hypervisors, servers of all projects, port bindings, Placement providers), which
 * the default policies allow the admin role only. No retry cures that: a configuration problem.
 */
export class MissingRoleError extends Error {
  readonly code = 'CM_ERR_AGENT_NOT_ADMIN';
  constructor(
    message: string,
    /** The policy rule the service named, when it did. */
    readonly policy: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'MissingRoleError';
  }
}

/**
 * A policy refusal of a cloud read (a 403 from Nova, Neutron or Placement, or an admin-only field
 * missing from an answer) as a {@link MissingRoleError} naming the role and the policy; undefined
 * for anything else (Keystone's 401/403 stay retried: see {@link isCredentialsRefusal}).
 */
export function missingRoleOf(error: unknown): MissingRoleError | undefined {
  if (error instanceof MissingRoleError) return error;
  const hint = "the agent reads every host, server and port of the cloud, which the default policies allow the admin role only: give the agent's user the admin role (openstack role add --user <user> --project <project> admin)";
  if (error instanceof OpenStackPermissionError) return new MissingRoleError(`the agent's credentials lack the admin role: ${error.message}; ${hint}`, undefined, { cause: error });
  if (!(error instanceof OpenStackApiError) || error.status !== 403 || error.service === 'identity') return undefined;
  const policy = /[Pp]olicy do(?:es)?(?:n't| not) allow ([\w:.-]+)/.exec(error.message)?.[1];
  const what = `${error.service} refused ${error.method} ${new URL(error.url, 'http://x').pathname} (403${policy === undefined ? '' : `, policy ${policy}`})`;
  return new MissingRoleError(`the agent's credentials lack the admin role: ${what}; ${hint}`, policy, { cause: error });
}

/** Whether the process should exit with 2 (a configuration problem) for this error, rather than 1. */
export function isConfigurationProblem(error: unknown): boolean {
  return permanentFailure(error)?.configuration === true;
}

/** Errors no retry can cure: the process should end (with exit code 2 when `configuration`). */
export function permanentFailure(error: unknown): { configuration: boolean } | undefined {
  if (error instanceof AgentConfigError || error instanceof OpenStackConfigError || error instanceof MissingRoleError) return { configuration: true };
  // A database written by a newer agent: retrying changes nothing, and writing to it would be worse.
  if (error instanceof StoreError && error.code === 'CM_ERR_STORE_SCHEMA') return { configuration: false };
  return undefined;
}

interface Failing {
  error: string;
  attempts: number;
  since: number;
  nextAt: number;
  credentials: boolean;
}

export interface StartupTrackerOptions {
  retry?: Partial<RetryPolicy>;
  log: (event: object) => void;
  now?: () => number;
  /** Jitter fraction added to each delay (0–1), so replicas restarted together do not retry in step. @default 0.1 */
  jitter?: number;
}

/** The bring-up's progress: the step running and the dependencies failing, for /readyz and the logs. */
export class StartupTracker {
  readonly #failing = new Map<string, Failing>();
  readonly #policy: RetryPolicy;
  readonly #now: () => number;
  #step: { dependency: string; what: string } | undefined = { dependency: 'agent', what: 'starting' };
  #complete = false;
  #failed: string | undefined;

  constructor(private readonly options: StartupTrackerOptions) {
    this.#policy = { ...DEFAULT_STARTUP_RETRY, ...options.retry };
    this.#now = options.now ?? Date.now;
  }

  get complete(): boolean {
    return this.#complete;
  }

  /** The step the bring-up is in (what /readyz says while nothing is failing). */
  step(dependency: string, what: string): void {
    this.#step = { dependency, what };
  }

  finish(): void {
    this.#complete = true;
    this.#step = undefined;
    this.#failing.clear();
  }

  fail(reason: string): void {
    this.#failed = boundedText(reason);
  }

  /** Why the agent is not ready yet because of its start-up; empty once it completed. */
  reasons(): StartupReason[] {
    if (this.#complete) return [];
    if (this.#failed !== undefined) return [{ dependency: 'agent', reason: `start-up failed: ${this.#failed}` }];
    const now = this.#now();
    const out: StartupReason[] = [];
    for (const [dependency, f] of this.#failing) {
      const retryIn = Math.max(0, Math.ceil((f.nextAt - now) / 1000));
      const what = f.credentials ? `${dependency} refused the agent's credentials (check clouds.yaml / OS_* or the store URL)` : `${dependency} unavailable`;
      out.push({ dependency, reason: `${what}: ${f.error} (${String(f.attempts)} attempt(s) since ${new Date(f.since).toISOString()}; next in ${String(retryIn)} s)` });
    }
    if (out.length === 0 && this.#step) out.push({ dependency: this.#step.dependency, reason: `starting: ${this.#step.what}` });
    return out;
  }

  /**
   * Runs `fn` until it succeeds, waiting `initialMs` doubling up to `maxMs` between
   * attempts; `dependencyOf` names the dependency a failure is blamed on. A permanent
   * failure (see {@link permanentFailure}) or `signal` aborting ends it with that error.
   */
  async retry<T>(dependencyOf: string | ((error: unknown) => string), fn: () => Promise<T>, signal: AbortSignal): Promise<T> {
    let delay = this.#policy.initialMs;
    const blamed = new Set<string>();
    for (let attempt = 1; ; attempt++) {
      signal.throwIfAborted();
      try {
        const value = await fn();
        for (const dependency of blamed) {
          const f = this.#failing.get(dependency);
          this.#failing.delete(dependency);
          if (f) this.options.log({ event: 'dependency_available', dependency, attempts: f.attempts, unavailableS: Math.round((this.#now() - f.since) / 1000) });
        }
        return value;
      } catch (error) {
        signal.throwIfAborted();
        if (permanentFailure(error)) throw error;
        const role = missingRoleOf(error);
        if (role) throw role;
        const dependency = typeof dependencyOf === 'string' ? dependencyOf : dependencyOf(error);
        // A step that failed on one dependency and then on another: only the latest is current.
        for (const other of blamed) if (other !== dependency) this.#failing.delete(other);
        blamed.add(dependency);
        const wait = Math.round(delay * (1 + Math.random() * (this.options.jitter ?? 0.1)));
        const message = boundedText(error instanceof Error ? error.message : String(error));
        const credentials = isCredentialsRefusal(error);
        const previous = this.#failing.get(dependency);
        this.#failing.set(dependency, { error: message, attempts: (previous?.attempts ?? 0) + 1, since: previous?.since ?? this.#now(), nextAt: this.#now() + wait, credentials });
        // One line per attempt, its size bounded; attempts thin out as the delay grows (at most two a minute).
        this.options.log({
          event: 'dependency_unavailable',
          level: credentials ? 'error' : 'warn',
          dependency,
          attempt,
          retryInMs: wait,
          error: message,
          ...(credentials ? { hint: 'the credentials were refused: fix them in the configuration; retrying meanwhile' } : {}),
        });
        await sleep(wait, signal);
        delay = Math.min(delay * 2, this.#policy.maxMs);
      }
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The SLA store the API and the agent use while the real one may not be open yet (a
 * PostgreSQL server still starting): every call answers a 503 problem until
 * {@link PendingSlaStore.set} hands the store over, then everything goes to it.
 */
export class PendingSlaStore implements SlaStore {
  #store: SlaStore | undefined;
  #closed = false;
  #why = 'the SLA store is not open yet';

  get opened(): boolean {
    return this.#store !== undefined;
  }

  /** Why calls fail now (the latest failure to open it), for their 503. */
  unavailable(why: string): void {
    this.#why = `the SLA store is not open yet: ${boundedText(why)}`;
  }

  /** Hands the open store over; false (and the store closed) when this one was closed meanwhile. */
  async set(store: SlaStore): Promise<boolean> {
    if (this.#closed) {
      await store.close();
      return false;
    }
    this.#store = store;
    return true;
  }

  #open(): SlaStore {
    if (this.#store) return this.#store;
    throw new ProblemError(503, 'not-ready', `${this.#why}; retry shortly`, { headers: { 'retry-after': '5' } });
  }

  get(serverId: string): Promise<StoredSla | undefined> {
    return Promise.resolve().then(() => this.#open().get(serverId));
  }

  put(serverId: string, sla: Sla, meta?: PutMeta): Promise<PutResult> {
    return Promise.resolve().then(() => this.#open().put(serverId, sla, meta));
  }

  delete(serverId: string): Promise<boolean> {
    return Promise.resolve().then(() => this.#open().delete(serverId));
  }

  list(options?: ListSlaOptions): Promise<StoredSla[]> {
    return Promise.resolve().then(() => this.#open().list(options));
  }

  onChange(listener: (serverId: string) => void): () => void {
    return this.#open().onChange(listener);
  }

  onResync(listener: () => void): () => void {
    return this.#open().onResync?.(listener) ?? (() => undefined);
  }

  schemaVersion(): Promise<number> {
    return Promise.resolve().then(() => this.#open().schemaVersion());
  }

  async close(): Promise<void> {
    this.#closed = true;
    await this.#store?.close();
  }
}
