/**
 * Composition root of the Connectivity Manager: store, OpenStack clients,
 * the agent, the deployer and the HTTP API, wired explicitly.
 *
 * Command: `cm-manager --config FILE` (environment: CM_MANAGER_*, OS_* / OS_CLOUD).
 */
import { ProjectClouds } from './project-clouds.ts';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { ProblemError } from '../http/problem.ts';
import { createOpenStack, joinUrl, loadCloudConfig, OpenStackApiError, processConfigIO, type CloudConfig, type OpenStack } from '../openstack/index.ts';
import { openManagerStore, PendingManagerStore, StoreError, type ManagerStore, type StoredServiceType } from '../store/index.ts';
import { DEFAULT_SLA_CLASSES, formatIssue, parseSlaClassConfig, TopologyError } from '../topology/index.ts';
import type { TopologyLimits } from '../topology/limits.ts';
import { parseServiceTypes } from '../topology/parse.ts';
import type { SlaClassConfig, SourceFile } from '../topology/types.ts';
import { AgentClient } from './agent-client.ts';
import { buildManagerApp, CATALOG_LIMITS, catalogFileName, type CatalogEntry, type ServiceCatalog } from './app.ts';
import { keystoneTokenValidator } from '../http/keystone-auth.ts';
import { readHttpsFiles, type ServiceApp } from '../http/service.ts';
import { ManagerConfigError, parseManagerConfig, type ManagerConfig } from './config.ts';
import { Deployer, type AgentApi } from './deployer.ts';
import { dashboardDir } from './dashboard.ts';
import { boundLogFields } from './upstream.ts';
import { PlanRunner } from './plan-runner.ts';

export interface RunningManager {
  readonly url: string;
  readonly app: ServiceApp;
  readonly store: ManagerStore;
  readonly deployer: Deployer;
  stop(): Promise<void>;
}

export interface StartManagerOptions {
  /** The OpenStack cloud; default: clouds.yaml / OS_* as the configuration says. */
  cloud?: CloudConfig;
  /** The agent API; default: an HTTP client of `config.agent`. */
  agent?: AgentApi;
  /** JSON log lines on stdout; false to silence. */
  log?: boolean;
  /** For tests: the deployer's poll and claim intervals. */
  pollMs?: number;
  claimIntervalMs?: number;
  /** For tests and the dashboard bench: how often the live SLA feed polls the agent (default 1 s). */
  slaIntervalMs?: number;
}

/**
 * The service catalog: the files of `catalog.services` (checked when the manager starts, as a topology would
 * check them: a bad one is a configuration error; read-only through the API) and the documents added through
 * /services, kept in the manager store and cached here, reloaded when the store's catalog revision moves.
 * A type in both is the configuration's (the stored one is kept, unused).
 */
export class FileCatalog implements ServiceCatalog {
  private readonly configFiles: SourceFile[] = [];
  private readonly configEntries = new Map<string, CatalogEntry>();
  private stored = new Map<string, { entry: CatalogEntry; text: string }>();
  private store: ManagerStore | undefined;
  /** The store's catalog revision `stored` is at; undefined: reload. */
  private revision: number | undefined;
  /** Writes made through this catalog: a reload started before one must not overwrite what it wrote. */
  private writes = 0;
  private loading: { writes: number; done: Promise<void> } | undefined;
  private readonly maxEntries: number;

  /** @throws ManagerConfigError naming `catalog.services[i]` for a file that cannot be read or is not valid. */
  constructor(files: readonly string[] = [], options: { limits?: Readonly<TopologyLimits>; maxEntries?: number } = {}) {
    this.maxEntries = options.maxEntries ?? CATALOG_LIMITS.entries;
    const problems: { field: string; message: string }[] = [];
    files.forEach((f, i) => {
      try {
        this.configFiles.push({ name: path.basename(f), text: readFileSync(f, 'utf8'), catalog: true });
      } catch (error) {
        problems.push({ field: `catalog.services[${String(i)}]`, message: `cannot read ${f}: ${(error as Error).message}` });
      }
    });
    if (problems.length > 0) throw new ManagerConfigError('catalog', problems);
    try {
      for (const t of parseServiceTypes(this.configFiles, options.limits ? { limits: options.limits } : {})) {
        this.configEntries.set(t.serviceType, { serviceType: t.serviceType, source: 'config', file: t.file, document: t.document, version: null, createdAt: null, updatedAt: null });
      }
    } catch (error) {
      if (!(error instanceof TopologyError)) throw error;
      const fieldOf = (file: string): string => {
        const i = this.configFiles.findIndex((c) => c.name === file);
        return i < 0 ? 'catalog.services' : `catalog.services[${String(i)}]`;
      };
      throw new ManagerConfigError('catalog', error.issues.map((issue) => ({ field: fieldOf(issue.file), message: formatIssue(issue) })));
    }
  }

  /** Reads the entries added through the API from `store`, and keeps them there from now on. */
  async attach(store: ManagerStore): Promise<void> {
    this.store = store;
    this.revision = undefined;
    await this.refresh();
  }

  list(): SourceFile[] {
    return [...this.configFiles, ...[...this.stored.values()].filter((s) => !this.configEntries.has(s.entry.serviceType)).map((s) => ({ name: s.entry.file, text: s.text, catalog: true }))];
  }

  refresh(): Promise<void> {
    const store = this.store;
    if (!store) return Promise.resolve();
    if (this.loading?.writes === this.writes) return this.loading.done;
    const writes = this.writes;
    const done = (async () => {
      const revision = await store.serviceCatalogRevision();
      if (revision === this.revision) return;
      const snapshot = await store.listServiceTypes();
      // A write since this started: its own entry is in the cache, and the next refresh reloads.
      if (writes !== this.writes) return;
      this.stored = new Map(snapshot.items.map((r) => [r.serviceType, { entry: entryOf(r), text: r.document }]));
      this.revision = snapshot.revision;
    })().finally(() => {
      if (this.loading?.done === done) this.loading = undefined;
    });
    this.loading = { writes, done };
    return done;
  }

  entries(): CatalogEntry[] {
    const stored = [...this.stored.values()].map((s) => s.entry).filter((e) => !this.configEntries.has(e.serviceType));
    return [...this.configEntries.values(), ...stored].sort((a, b) => (a.serviceType < b.serviceType ? -1 : a.serviceType > b.serviceType ? 1 : 0));
  }

  get(serviceType: string): CatalogEntry | undefined {
    return this.configEntries.get(serviceType) ?? this.stored.get(serviceType)?.entry;
  }

  async create(serviceType: string, text: string): Promise<CatalogEntry> {
    const record = await this.storeOrThrow().createServiceType(serviceType, text, { maxEntries: this.maxEntries });
    return this.wrote(record);
  }

  async put(serviceType: string, text: string): Promise<{ entry: CatalogEntry; created: boolean }> {
    const result = await this.storeOrThrow().putServiceType(serviceType, text, { maxEntries: this.maxEntries });
    return { entry: this.wrote(result.serviceType), created: result.created };
  }

  async delete(serviceType: string): Promise<boolean> {
    const deleted = await this.storeOrThrow().deleteServiceType(serviceType);
    this.writes += 1;
    this.revision = undefined;
    this.stored.delete(serviceType);
    return deleted;
  }

  private wrote(record: StoredServiceType): CatalogEntry {
    this.writes += 1;
    this.revision = undefined;
    const entry = entryOf(record);
    this.stored.set(record.serviceType, { entry, text: record.document });
    return entry;
  }

  private storeOrThrow(): ManagerStore {
    if (!this.store) throw new StoreError('CM_ERR_STORE_OPEN', 'the manager store is not open yet');
    return this.store;
  }
}

function entryOf(r: StoredServiceType): CatalogEntry {
  let document: unknown;
  try {
    document = JSON.parse(r.document);
  } catch {
    document = r.document;
  }
  return { serviceType: r.serviceType, source: 'api', file: catalogFileName(r.serviceType), document, version: r.version, createdAt: r.createdAt, updatedAt: r.updatedAt };
}

/** Capped exponential backoff of the start-up retries: 0.5 s, 1 s, 2 s, … then every 30 s. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 30_000;
/** How long startManager waits for the first try of each dependency before it returns not ready (a hung server). */
const FIRST_TRY_MS = 10_000;

interface Attempts {
  /** Settles with the first try's error; undefined when it succeeded. */
  first: Promise<unknown>;
  /** true once a try succeeded; false when `failed` gave up or `signal` stopped it. */
  done: Promise<boolean>;
}

/** Runs `attempt` until it succeeds, `failed` gives up (false) or `signal` aborts, with capped exponential backoff. */
function keepTrying(
  attempt: () => Promise<void>,
  o: { signal: AbortSignal; failed(error: unknown, retryInMs: number): boolean; succeeded(): void },
): Attempts {
  let settleFirst: (error: unknown) => void = () => undefined;
  const first = new Promise<unknown>((resolve) => {
    settleFirst = resolve;
  });
  const done = (async (): Promise<boolean> => {
    for (let n = 0; ; n += 1) {
      try {
        await attempt();
      } catch (error) {
        const wait = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(n, 16));
        const again = !o.signal.aborted && o.failed(error, wait);
        settleFirst(error);
        if (!again) return false;
        try {
          await delay(wait, undefined, { signal: o.signal });
        } catch {
          return false;
        }
        continue;
      }
      o.succeeded();
      settleFirst(undefined);
      return true;
    }
  })();
  return { first, done };
}

/**
 * Whether Keystone answers now: the manager's own token validated (GET /v3/auth/tokens), a real request every
 * time — the token itself is cached for hours, so asking for it proves nothing. One check at a time, its answer
 * kept `cacheMs` so that probes do not hammer Keystone; a token Keystone no longer knows is dropped and the check
 * made once more with a new one.
 */
function keystoneProbe(openstack: OpenStack, o: { timeoutMs: number; cacheMs: number } = { timeoutMs: 3000, cacheMs: 2000 }): () => Promise<void> {
  let last: { at: number; result: Promise<void> } | undefined;
  const validate = async (signal: AbortSignal, again: boolean): Promise<void> => {
    const token = await openstack.keystone.getToken(signal);
    try {
      await openstack.http.request({
        service: 'identity',
        method: 'GET',
        url: joinUrl(openstack.keystone.authUrl, '/auth/tokens'),
        query: { nocatalog: '' },
        headers: { 'x-auth-token': token, 'x-subject-token': token },
        signal,
        timeoutMs: o.timeoutMs,
        retry: false,
        okStatus: [200],
      });
    } catch (error) {
      if (!(error instanceof OpenStackApiError) || (error.status !== 404 && error.status !== 401)) throw error;
      openstack.keystone.invalidate(token);
      if (!again) throw error;
      await validate(signal, false);
    }
  };
  return () => {
    const now = Date.now();
    if (!last || now - last.at >= o.cacheMs) {
      const result = validate(AbortSignal.timeout(o.timeoutMs), true);
      result.catch(() => undefined);
      last = { at: now, result };
    }
    return last.result;
  };
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function slaClassesOf(config: ManagerConfig): SlaClassConfig {
  return config.slaClasses === undefined ? DEFAULT_SLA_CLASSES : parseSlaClassConfig({ name: 'sla_classes', value: config.slaClasses });
}

export async function startManager(config: ManagerConfig, options: StartManagerOptions = {}): Promise<RunningManager> {
  const cloud =
    options.cloud ??
    loadCloudConfig(processConfigIO(), config.cloud.name === undefined ? {} : { cloud: config.cloud.name });
  const log = options.log !== false;
  const logEvent = (event: Record<string, unknown>): void => {
    // Every string field bounded (2 KiB, marked where cut): a 3.5 MiB topology name must not become a log line.
    if (log) process.stdout.write(`${JSON.stringify(boundLogFields({ time: new Date().toISOString(), component: 'manager', level: 'info', ...event }))}\n`);
  };
  const classes = slaClassesOf(config);
  const catalog = new FileCatalog(config.catalog.services, { limits: config.limits.topology });
  const stops: (() => Promise<void> | void)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) {
      try {
        await stop();
      } catch {
        // keep stopping the rest
      }
    }
  };
  try {
    const openstack: OpenStack = createOpenStack(cloud);
    stops.push(() => openstack.close());
    let agent = options.agent;
    if (!agent) {
      const t = config.agent.tls;
      const pem = (f: string | undefined): string | undefined => (f === undefined ? undefined : readFileSync(f, 'utf8'));
      const ca = pem(t?.ca);
      const cert = pem(t?.cert);
      const key = pem(t?.key);
      const client = new AgentClient({ url: config.agent.url, fallbackUrls: config.agent.urls.slice(1), token: config.agent.token, ...(ca ? { ca } : {}), ...(cert ? { cert } : {}), ...(key ? { key } : {}) });
      stops.push(() => client.close());
      agent = client;
    }
    // The manager serves before its store and Keystone answer (both are tried again in the background, see
    // below); until they have, /readyz and the routes that need them say 503 not-ready with the reason.
    const store = new PendingManagerStore(config.store.url);
    stops.push(() => store.close());
    const waiting = new Map<'store' | 'keystone', string>([
      ['store', 'not open yet'],
      ['keystone', 'the project of the credentials is not known yet'],
    ]);
    const reasonsWaiting = (): string[] => [...waiting].map(([what, why]) => `${what}: ${why}`);
    let projectId: string | undefined;
    let started = false;
    const keystoneUp = keystoneProbe(openstack);

    // Plans run in a worker thread, with a deadline and a heap bound (limits.plan_timeout_ms, limits.plan_heap_mb).
    const planner = new PlanRunner({ timeoutMs: config.limits.planTimeoutMs, heapMb: config.limits.planHeapMb });
    stops.push(() => planner.close());
    // Each topology's stack and servers live in its project (the caller's): see project-clouds.ts.
    const projectClouds = new ProjectClouds({ base: openstack, logger: logEvent });
    const deployer = new Deployer({
      store,
      agent,
      cloud: openstack,
      cloudFor: (project, signal) => projectClouds.cloudFor(project, signal),
      classes,
      uplink: { defaultBps: config.placement.uplinkDefaultBps, hosts: config.placement.uplinks },
      availabilityZone: config.deploy.availabilityZone,
      stackTimeoutS: config.deploy.stackTimeoutS,
      enforceTimeoutS: config.deploy.enforceTimeoutS,
      leaseMs: config.deploy.leaseMs,
      ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
      ...(options.claimIntervalMs === undefined ? {} : { claimIntervalMs: options.claimIntervalMs }),
      logger: logEvent,
      planner: (request, inputs) => planner.plan(request, inputs),
      placer: (input) => planner.placeAdded(input),
      topologyLimits: config.limits.topology,
    });
    const theAgent = agent;
    const tls = config.listen.tls;
    const app = await buildManagerApp({
      store,
      deployer,
      catalog,
      defaultStrategy: config.placement.strategy,
      limits: config.limits,
      get projectId(): string {
        if (!started || projectId === undefined) {
          const reasons = reasonsWaiting();
          throw new ProblemError(503, 'not-ready', `not ready: ${reasons.join('; ')} (retrying)`, { extensions: { reasons }, headers: { 'retry-after': '5' } });
        }
        return projectId;
      },
      auth: {
        tokens: config.auth.tokens,
        ...(config.auth.keystone ? { validate: keystoneTokenValidator(openstack, { role: config.auth.keystone.role }), adminRole: config.auth.keystone.adminRole } : {}),
        ...(config.auth.project === undefined ? {} : { staticProject: config.auth.project }),
      },
      // docs/manager.md, "Readiness": what is still awaited since the start, else a real request to each.
      ready: async () => {
        const failed = (what: string) => (error: unknown) => `${what}: ${messageOf(error)}`;
        const keystone = waiting.get('keystone');
        const storeWaits = waiting.get('store');
        const reasons = await Promise.all([
          theAgent.hosts(AbortSignal.timeout(5000)).then(() => undefined, failed('agent')),
          keystone === undefined ? keystoneUp().then(() => undefined, failed('keystone')) : `keystone: ${keystone}`,
          storeWaits === undefined ? store.getTopology('00000000-0000-4000-8000-000000000000').then(() => undefined, failed('store')) : `store: ${storeWaits}`,
        ]);
        return reasons.filter((r) => r !== undefined);
      },
      // A dashboard that cannot be built (a checkout without esbuild, an unwritable temp folder) must not keep the API down.
      dashboard: {
        uiDir: await dashboardDir().catch((error: unknown) => {
          logEvent({ level: 'warn', event: 'dashboard_unavailable', error: (error as Error).message });
          return undefined;
        }),
        ...(options.slaIntervalMs === undefined ? {} : { slaIntervalMs: options.slaIntervalMs }) },
      logger: log ? { level: 'info' } : false,
      ...(tls ? { https: readHttpsFiles(tls, (f) => readFileSync(f, 'utf8')) } : {}),
    });
    stops.push(() => app.close());
    // The deployer stops before the app and the store close (stops run in reverse).
    stops.push(() => deployer.stop());
    await app.listen({ host: config.listen.host, port: config.listen.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.listen.port;
    const url = `${tls ? 'https' : 'http'}://${config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host}:${String(port)}`;

    // The store and the project, each tried until it works (0.5 s, 1 s, 2 s … every 30 s); topologies are served
    // and driven once both are there.
    let returned = false;
    const startIfReady = (): void => {
      if (started || waiting.size > 0) return;
      started = true;
      deployer.start();
      if (returned) logEvent({ event: 'manager_ready', url });
    };
    const stopping = new AbortController();
    const storeAttempts = keepTrying(
      async () => {
        if (!store.isOpen) await store.attach(await openManagerStore({ url: config.store.url }));
        await catalog.attach(store);
      },
      {
        signal: stopping.signal,
        failed: (error, retryInMs) => {
          // A newer schema does not go away by waiting.
          const fatal = error instanceof StoreError && error.code === 'CM_ERR_STORE_SCHEMA';
          store.notOpen(messageOf(error));
          waiting.set('store', messageOf(error));
          logEvent({ level: fatal ? 'error' : 'warn', event: 'store_unavailable', error: messageOf(error), ...(fatal ? {} : { retry_in_ms: retryInMs }) });
          return !fatal;
        },
        succeeded: () => {
          waiting.delete('store');
          startIfReady();
        },
      },
    );
    const projectAttempts = keepTrying(
      async () => {
        const token = await openstack.keystone.tokenInfo(AbortSignal.any([stopping.signal, AbortSignal.timeout(FIRST_TRY_MS)]));
        if (token.projectId === undefined) throw new ManagerConfigError('cloud', [{ field: 'cloud', message: 'the OpenStack credentials are not scoped to a project; topologies need one' }]);
        // Pinning a server to a host (every strategy but `nova`) is admin-only in Nova's default policy: without the
        // role every deployment would fail minutes later at servers:create. Not ready instead, and checked again
        // with a new token (a role granted meanwhile only shows in one).
        if (config.placement.strategy !== 'nova' && !token.roles.includes('admin')) {
          openstack.keystone.invalidate(token.token);
          const user = token.userName ?? token.userId;
          const project = token.projectName ?? token.projectId;
          throw new Error(
            `the manager's credentials (user ${user}, project ${project}, roles ${token.roles.join(', ') || 'none'}) lack the admin role that pinning servers to hosts needs ` +
              `(Nova policy os_compute_api:servers:create:forced_host); grant it (openstack role add --user ${user} --project ${project} admin) ` +
              `or set placement.strategy: nova, which leaves hosts to Nova's scheduler`,
          );
        }
        projectId = token.projectId;
      },
      {
        signal: stopping.signal,
        failed: (error, retryInMs) => {
          const fatal = error instanceof ManagerConfigError;
          waiting.set('keystone', messageOf(error));
          logEvent({ level: fatal ? 'error' : 'warn', event: 'keystone_unavailable', error: messageOf(error), ...(fatal ? {} : { retry_in_ms: retryInMs }) });
          return !fatal;
        },
        succeeded: () => {
          waiting.delete('keystone');
          startIfReady();
        },
      },
    );
    // Runs first on stop (stops run in reverse): no more tries, and none left running when the store closes.
    stops.push(async () => {
      stopping.abort();
      await Promise.allSettled([storeAttempts.done, projectAttempts.done]);
    });
    const [storeError, projectError] = await Promise.race([
      Promise.all([storeAttempts.first, projectAttempts.first]),
      delay(FIRST_TRY_MS, [undefined, undefined] as const, { ref: false }),
    ]);
    // Only configuration problems end the start: a SQLite file that cannot be opened is one (unlike a
    // PostgreSQL server that is not up yet), as are credentials without a project and a schema newer than this code.
    if (storeError !== undefined && store.dialect === 'sqlite' && !(storeError instanceof StoreError && storeError.code === 'CM_ERR_STORE_SCHEMA')) {
      throw new ManagerConfigError('store', [{ field: 'store.url', message: messageOf(storeError) }]);
    }
    if (storeError instanceof StoreError && storeError.code === 'CM_ERR_STORE_SCHEMA') throw storeError;
    if (projectError instanceof ManagerConfigError) throw projectError;
    returned = true;
    const ready = waiting.size === 0;
    logEvent({ ...(ready ? {} : { level: 'warn', waiting: reasonsWaiting() }), event: 'manager_started', url, store: store.dialect, owner: deployer.ownerId, ready });
    return { url, app, store, deployer, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Command-line entry: `cm-manager --config FILE`. */
export async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  const unknown = argv.filter((a, i) => a.startsWith('-') && a !== '--config' && argv[i - 1] !== '--config');
  if (unknown.length > 0) throw new ManagerConfigError('command line', unknown.map((a) => ({ field: a, message: 'unknown option (see cm-manager --help)' })));
  const at = argv.indexOf('--config');
  const file = at >= 0 ? argv[at + 1] : undefined;
  if (at >= 0 && file === undefined) throw new ManagerConfigError('command line', [{ field: '--config', message: 'needs a file' }]);
  let text: string | undefined;
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ManagerConfigError(file, [{ field: '--config', message: `cannot read the file: ${(error as Error).message}` }]);
    }
  }
  const config = parseManagerConfig(text, process.env, file ?? 'environment');
  const manager = await startManager(config);
  const shutdown = (): void => {
    void manager.stop().finally(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

const USAGE = `usage: cm-manager [--config FILE]

  --config FILE   YAML configuration (reference: docs/manager.md); CM_MANAGER_* variables override it

The manager needs a CM Agent (agent.url, agent.token) and OpenStack credentials (clouds.yaml / OS_*).
`;
