/**
 * Composition root of the Connectivity Manager: store, OpenStack clients,
 * the agent, the deployer and the HTTP API, wired explicitly.
 *
 * Command: `cm-manager --config FILE` (environment: CM_MANAGER_*, OS_* / OS_CLOUD).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { createOpenStack, loadCloudConfig, processConfigIO, type CloudConfig, type OpenStack } from '../openstack/index.ts';
import { openManagerStore, type ManagerStore } from '../store/index.ts';
import { DEFAULT_SLA_CLASSES, parseSlaClassConfig } from '../topology/index.ts';
import type { SlaClassConfig, SourceFile } from '../topology/types.ts';
import { AgentClient } from './agent-client.ts';
import { buildManagerApp, type ServiceCatalog } from './app.ts';
import { keystoneTokenValidator } from '../http/keystone-auth.ts';
import { readHttpsFiles, type ServiceApp } from '../http/service.ts';
import { ManagerConfigError, parseManagerConfig, type ManagerConfig } from './config.ts';
import { Deployer, type AgentApi } from './deployer.ts';
import { dashboardDir } from './dashboard.ts';

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

/** Service types given as files in the config, plus those POSTed to /services (kept in memory). */
export class FileCatalog implements ServiceCatalog {
  private readonly files = new Map<string, SourceFile>();

  constructor(files: readonly string[] = []) {
    for (const f of files) {
      let text: string;
      try {
        text = readFileSync(f, 'utf8');
      } catch (error) {
        throw new ManagerConfigError('catalog', [{ field: 'catalog.services', message: `cannot read ${f}: ${(error as Error).message}` }]);
      }
      this.files.set(`file:${path.resolve(f)}`, { name: path.basename(f), text });
    }
  }

  list(): SourceFile[] {
    return [...this.files.values()];
  }

  add(file: SourceFile): void {
    // A later POST of the same service type replaces the earlier one, as in the thesis's EMM.
    const type = (JSON.parse(file.text) as { service_type?: string }).service_type ?? file.name;
    this.files.set(`type:${type}`, file);
  }
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
    if (log) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), component: 'manager', level: 'info', ...event })}\n`);
  };
  const classes = slaClassesOf(config);
  const catalog = new FileCatalog(config.catalog.services);
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
    const store = await openManagerStore({ url: config.store.url });
    stops.push(() => store.close());
    const token = await openstack.keystone.tokenInfo();
    if (token.projectId === undefined) throw new Error('the OpenStack credentials are not scoped to a project; topologies need one');
    const projectId = token.projectId;

    const deployer = new Deployer({
      store,
      agent,
      cloud: openstack,
      classes,
      uplink: { defaultBps: config.placement.uplinkDefaultBps, hosts: config.placement.uplinks },
      availabilityZone: config.deploy.availabilityZone,
      stackTimeoutS: config.deploy.stackTimeoutS,
      enforceTimeoutS: config.deploy.enforceTimeoutS,
      leaseMs: config.deploy.leaseMs,
      ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
      ...(options.claimIntervalMs === undefined ? {} : { claimIntervalMs: options.claimIntervalMs }),
      logger: logEvent,
    });
    const theAgent = agent;
    const tls = config.listen.tls;
    const app = await buildManagerApp({
      store,
      deployer,
      catalog,
      defaultStrategy: config.placement.strategy,
      projectId,
      auth: { tokens: config.auth.tokens, ...(config.auth.keystone ? { validate: keystoneTokenValidator(openstack, { role: config.auth.keystone.role }) } : {}) },
      ready: async () => {
        const reasons: string[] = [];
        await theAgent.hosts(AbortSignal.timeout(5000)).catch((error: unknown) => reasons.push(`agent: ${(error as Error).message}`));
        await openstack.keystone.tokenInfo(AbortSignal.timeout(5000)).catch((error: unknown) => reasons.push(`keystone: ${(error as Error).message}`));
        await store.getTopology('00000000-0000-4000-8000-000000000000').catch((error: unknown) => reasons.push(`store: ${(error as Error).message}`));
        return reasons;
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
    deployer.start();
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.listen.port;
    const url = `${tls ? 'https' : 'http'}://${config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host}:${String(port)}`;
    logEvent({ event: 'manager_started', url, store: store.dialect, owner: deployer.ownerId });
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
