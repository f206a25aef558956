/**
 * The CM Agent's composition root: configuration → OpenStack clients →
 * inventory → SLA store → desired state → one reconciler per host → HTTP API.
 * Everything is wired explicitly here; `startAgent` returns a handle that
 * stops it all in order.
 *
 * Command: `cm-agent --config FILE` (environment: CM_AGENT_*, OS_* / OS_CLOUD),
 * or `cm-agent --sim` to run against a freshly started simulated cloud.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { createOpenStack, loadCloudConfig, type CloudConfig, type OpenStack } from '../openstack/index.ts';
import { openSlaStore, type SlaStore } from '../store/index.ts';
import { buildAgentApp } from './app.ts';
import { ovsdbEndpointFor, parseAgentConfig, type AgentConfig } from './config.ts';
import { StoreDesiredSource } from './desired.ts';
import { ReconcilerFleet } from './fleet.ts';
import { CloudInventory } from './inventory.ts';

export interface RunningAgent {
  /** Base URL of the API, e.g. http://127.0.0.1:8091. */
  readonly url: string;
  readonly app: FastifyInstance;
  readonly inventory: CloudInventory;
  readonly fleet: ReconcilerFleet;
  readonly store: SlaStore;
  stop(): Promise<void>;
}

export interface StartAgentOptions {
  /** The OpenStack cloud; default: clouds.yaml / OS_* as the configuration says. */
  cloud?: CloudConfig;
  /** Overrides the OVSDB endpoint rule (the simulated cloud knows each host's endpoint). */
  ovsdbEndpoint?: (host: string) => string | undefined;
  /** pino logging; false to silence. */
  log?: boolean;
}

function readOptional(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function startAgent(config: AgentConfig, options: StartAgentOptions = {}): Promise<RunningAgent> {
  const cloud =
    options.cloud ??
    loadCloudConfig(
      { env: process.env, readFile: readOptional, cwd: process.cwd(), homedir: os.homedir() },
      config.cloud.name === undefined ? {} : { cloud: config.cloud.name },
    );
  const log = options.log !== false;
  const logEvent = (event: object): void => {
    if (log) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), component: 'agent', ...event })}\n`);
  };
  const openstack: OpenStack = createOpenStack(cloud);
  const stops: (() => Promise<void> | void)[] = [() => openstack.close()];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop();
  };
  try {
    const store = await openSlaStore({ path: config.store.path });
    stops.push(() => store.close());

    // The inventory's refreshes drive the fleet, which needs the desired source, which reads the inventory.
    const fleetRef: { current?: ReconcilerFleet } = {};
    const inventory = new CloudInventory(
      { nova: openstack.nova, placement: openstack.placement, neutron: openstack.neutron },
      {
        onRefresh: (result) => {
          if (result.ok) {
            fleetRef.current?.sync(result.snapshot);
            fleetRef.current?.enqueue();
          } else logEvent({ event: 'inventory_refresh_failed', error: result.error.message });
        },
      },
    );
    const source = new StoreDesiredSource(store, inventory);
    const fleet = new ReconcilerFleet({
      owner: config.owner,
      source,
      endpointFor: (host) => options.ovsdbEndpoint?.(host.name) ?? ovsdbEndpointFor(config, host),
      ...(config.ovsdb.tls ? { tls: { key: { path: config.ovsdb.tls.key }, cert: { path: config.ovsdb.tls.cert }, ca: { path: config.ovsdb.tls.ca } } } : {}),
      resyncIntervalMs: config.reconcile.resyncIntervalMs,
      logger: logEvent,
    });
    fleetRef.current = fleet;
    const theFleet = fleet;
    stops.push(() => theFleet.stop());
    source.onChange(() => {
      theFleet.enqueue();
    });
    await source.start();
    stops.push(() => {
      source.stop();
    });

    // The first inventory is awaited so that the API never answers from nothing; later ones run in the background.
    await inventory.refresh();
    fleet.sync(inventory.snapshot());
    inventory.start({ intervalMs: config.inventory.refreshIntervalMs });
    stops.push(() => {
      inventory.stop();
    });

    const app = await buildAgentApp({
      inventory,
      ovsView: (host) => theFleet.view(host),
      store,
      reconcilers: theFleet,
      auth: { tokens: config.auth.tokens },
      logger: log ? { level: 'info' } : false,
    });
    stops.push(() => app.close());
    const tls = config.listen.tls;
    if (tls) {
      // fastify takes its https options at construction; serving TLS needs them there.
      throw new Error('listen.tls is not supported yet: terminate TLS in front of the agent');
    }
    await app.listen({ host: config.listen.host, port: config.listen.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.listen.port;
    const url = `http://${config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host}:${String(port)}`;
    logEvent({ event: 'agent_started', url, hosts: inventory.snapshot()?.hosts.map((h) => h.name) ?? [] });
    return { url, app, inventory, fleet, store, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Command-line entry: `cm-agent --config FILE` or `cm-agent --sim`. */
export async function main(argv: readonly string[]): Promise<void> {
  const configIndex = argv.indexOf('--config');
  const configFile = configIndex >= 0 ? argv[configIndex + 1] : undefined;
  if (configIndex >= 0 && configFile === undefined) throw new Error('--config needs a file');
  const text = configFile === undefined ? undefined : readFileSync(configFile, 'utf8');
  const sim = argv.includes('--sim');
  let stopSim: (() => Promise<void>) | undefined;
  let options: StartAgentOptions = {};
  const env = { ...process.env };
  if (sim) {
    const { startSimCloud } = await import('../sim/index.ts');
    const cloud = await startSimCloud();
    stopSim = () => cloud.close();
    const c = cloud.credentials;
    options = {
      cloud: {
        cloudName: 'sim',
        authType: 'password',
        auth: {
          authUrl: cloud.authUrl,
          username: c.username,
          password: c.password,
          projectName: c.projectName,
          userDomainName: c.userDomainName,
          projectDomainName: c.projectDomainName,
        },
        regionName: c.regionName,
        interface: 'public',
        insecure: false,
        source: 'simulated cloud',
      },
      ovsdbEndpoint: (host) => cloud.ovsdbEndpoint(host),
    };
    env.CM_AGENT_OVSDB_TEMPLATE ??= 'unix:/nonexistent/{host}.sock';
    env.CM_AGENT_STORE_PATH ??= path.join(os.tmpdir(), `cm-agent-sim-${String(process.pid)}.db`);
  }
  const config = parseAgentConfig(text, env, configFile ?? 'environment');
  const agent = await startAgent(config, options);
  const shutdown = (): void => {
    void agent
      .stop()
      .then(() => stopSim?.())
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}
