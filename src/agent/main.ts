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
import type { FastifyInstance } from 'fastify';
import { keystoneTokenValidator } from '../http/keystone-auth.ts';
import { readHttpsFiles } from '../http/service.ts';
import { createOpenStack, loadCloudConfig, processConfigIO, type CloudConfig, type OpenStack } from '../openstack/index.ts';
import { openSlaStore, type SlaStore } from '../store/index.ts';
import { openClusterStore, type ClusterStore } from '../store/index.ts';
import { buildAgentApp, type ClusterView } from './app.ts';
import { HostFence } from './cluster/fence.ts';
import { HostStatusSync, type LocalHostStatus, type PublishedHostStatus } from './cluster/host-status.ts';
import { ClusterMembership } from './cluster/membership.ts';
import YAML from 'yaml';
import { AgentConfigError, openflowEndpointFor, ovsdbEndpointFor, parseAgentConfig, type AgentConfig } from './config.ts';
import { StoreDesiredSource } from './desired.ts';
import { ReconcilerFleet } from './fleet.ts';
import { GuaranteeController } from './guarantees/controller.ts';
import { CloudInventory } from './inventory.ts';
import type { HostCapacity, InventorySnapshot } from './inventory/types.ts';
import type { SimCloud } from '../sim/index.ts';

export interface RunningAgent {
  /** Base URL of the API, e.g. http://127.0.0.1:8091 (https:// with listen.tls). */
  readonly url: string;
  readonly app: FastifyInstance;
  readonly inventory: CloudInventory;
  readonly fleet: ReconcilerFleet;
  readonly store: SlaStore;
  /** The guaranteed-rate controller, unless `enforcement.guarantees.enabled` is false. */
  readonly guarantees: GuaranteeController | undefined;
  /** With `cluster`: this replica's membership and the host statuses shared through the store. */
  readonly membership?: ClusterMembership;
  readonly hostStatus?: HostStatusSync;
  stop(): Promise<void>;
}

/** Capacities the other replicas published for their hosts. */
function foreignCapacities(sync: HostStatusSync | undefined): Map<string, HostCapacity> {
  const out = new Map<string, HostCapacity>();
  for (const [host, record] of sync?.records() ?? []) {
    const capacity = (record.status as PublishedHostStatus | null)?.capacity;
    if (capacity) out.set(host, capacity);
  }
  return out;
}

/** What this replica's reconcilers report of each host they own, for the others (built only for the hosts published). */
function localHostStatuses(fleet: ReconcilerFleet, snapshot: InventorySnapshot | undefined): Map<string, LocalHostStatus> {
  const out = new Map<string, LocalHostStatus>();
  const readings = snapshot ? ownReadings(snapshot) : new Map<string, OwnReading>();
  for (const [host, local] of fleet.publishable()) {
    const reading = readings.get(host);
    out.set(host, {
      key: `${local.key}|${reading?.key ?? ''}`,
      live: local.live,
      build: () => ({
        ports: local.ports(),
        ovsdb: local.connected ? 'connected' : 'disconnected',
        ...(local.openflow === undefined ? {} : { openflow: local.openflow }),
        ...(reading ? { capacity: reading.capacity, generation: reading.generation } : {}),
      }),
    });
  }
  return out;
}

/** This replica's own Placement reading of a host, with the generation it was made at: the others use it while it is current. */
interface OwnReading {
  capacity: HostCapacity;
  generation: number;
  /** Changes with the reading (an allocation deleted leaves the generation as it was). */
  key: string;
}

const readingIndexes = new WeakMap<InventorySnapshot, Map<string, OwnReading>>();

/** Once per snapshot: the publisher asks every second. */
function ownReadings(snapshot: InventorySnapshot): Map<string, OwnReading> {
  let index = readingIndexes.get(snapshot);
  if (!index) {
    index = new Map();
    for (const h of snapshot.hosts) {
      if ((h.capacityFrom ?? 'self') !== 'self' || h.resourceProviderGeneration === undefined) continue;
      index.set(h.name, { capacity: h.resources, generation: h.resourceProviderGeneration, key: `${String(h.resourceProviderGeneration)}:${JSON.stringify(h.resources)}` });
    }
    readingIndexes.set(snapshot, index);
  }
  return index;
}

export interface StartAgentOptions {
  /** The OpenStack cloud; default: clouds.yaml / OS_* as the configuration says. */
  cloud?: CloudConfig;
  /** Overrides the OVSDB endpoint rule (the simulated cloud knows each host's endpoint). */
  ovsdbEndpoint?: (host: string) => string | undefined;
  /** Overrides the OpenFlow endpoint rule (the testbed knows each bridge's management socket). */
  openflowEndpoint?: (host: string) => string | undefined;
  /** pino logging; false to silence. */
  log?: boolean;
}

export { keystoneTokenValidator, type KeystoneValidatorOptions } from '../http/keystone-auth.ts';

export async function startAgent(config: AgentConfig, options: StartAgentOptions = {}): Promise<RunningAgent> {
  const cloud =
    options.cloud ??
    loadCloudConfig(
      processConfigIO(),
      config.cloud.name === undefined ? {} : { cloud: config.cloud.name },
    );
  const log = options.log !== false;
  const logEvent = (event: object): void => {
    if (log) process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), component: 'agent', ...event })}\n`);
  };
  // fastify takes its https options at construction; read the PEM files first, so a bad path fails before anything starts.
  const tls = config.listen.tls;
  const https = tls ? readHttpsFiles(tls, (f) => readFileSync(f, 'utf8')) : undefined;
  const openstack: OpenStack = createOpenStack(cloud);
  const stops: (() => Promise<void> | void)[] = [() => openstack.close()];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop();
  };
  try {
    const store = await openSlaStore(config.store.url === undefined ? { path: config.store.path } : { url: config.store.url });
    stops.push(() => store.close());

    // Several replicas: membership decides which hosts this one writes, each host's OVSDB epoch fences the writes.
    let membership: ClusterMembership | undefined;
    let clusterStore: ClusterStore | undefined;
    let hostStatus: HostStatusSync | undefined;
    let clusterView: ClusterView | undefined;
    if (config.cluster) {
      if (config.store.url === undefined) throw new AgentConfigError('configuration', [{ field: 'store.url', message: 'cluster needs a PostgreSQL store.url' }]);
      const theStore = await openClusterStore({ url: config.store.url });
      clusterStore = theStore;
      stops.push(() => theStore.close());
    }

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
        // Several replicas: Placement is read for this replica's hosts; the others' come from their owners while current.
        ...(config.cluster
          ? {
              ownsHost: (host: string) => membership?.owns(host) ?? false,
              foreignCapacity: () => foreignCapacities(hostStatus),
              foreignGeneration: (host: string) => (hostStatus?.records().get(host)?.status as PublishedHostStatus | null | undefined)?.generation,
              foreignWaitMs: config.cluster.capacityWaitMs,
            }
          : {}),
      },
    );
    // A server's ports share its rates by demand: the split reads the live rates and upload mechanisms of the fleet.
    const source = new StoreDesiredSource(store, inventory, {
      portRates: () => {
        const rates = new Map<string, { downloadBps: number; uploadBps: number }>();
        for (const s of fleetRef.current?.status() ?? []) if (s.observed) rates.set(s.portId, { downloadBps: s.observed.downloadBps, uploadBps: s.observed.uploadBps });
        return rates;
      },
      uploadMechanism: (host) => fleetRef.current?.upload(host)?.mechanism,
    });
    const fleet = new ReconcilerFleet({
      owner: config.owner,
      source,
      endpointFor: (host) => options.ovsdbEndpoint?.(host.name) ?? ovsdbEndpointFor(config, host),
      ...(config.ovsdb.tls ? { tls: { key: { path: config.ovsdb.tls.key }, cert: { path: config.ovsdb.tls.cert }, ca: { path: config.ovsdb.tls.ca } } } : {}),
      resyncIntervalMs: config.reconcile.resyncIntervalMs,
      logger: logEvent,
      upload: config.enforcement.upload,
      openflowFor: (host) => {
        const given = options.openflowEndpoint?.(host.name);
        return given === undefined ? openflowEndpointFor(config, host) : { endpoint: given };
      },
      ...(config.enforcement.openflow.tls
        ? { openflowTls: { key: { path: config.enforcement.openflow.tls.key }, cert: { path: config.enforcement.openflow.tls.cert }, ca: { path: config.enforcement.openflow.tls.ca } } }
        : {}),
      meterBurstMs: config.enforcement.meterBurstMs,
      ratesIntervalMs: config.rates.intervalMs,
      guarantees: config.enforcement.guarantees.enabled,
      ...(config.cluster && clusterStore
        ? {
            cluster: {
              owns: (host: string) => membership?.owns(host) ?? false,
              fenceFor: (host: string) => {
                if (!membership) throw new Error('cluster membership not started');
                return new HostFence({ host, membership, handoverMs: config.cluster?.leaseMs ?? 6000, log: logEvent });
              },
            },
          }
        : {}),
    });
    fleetRef.current = fleet;
    const theFleet = fleet;
    stops.push(() => theFleet.stop());
    source.onChange((serverId) => {
      // Only the hosts of that server: every host on every change made one SLA change cost a pass per owned host.
      const hosts = serverId === undefined ? undefined : source.hostsOf(serverId);
      if (hosts === undefined) theFleet.enqueue();
      else for (const host of hosts) theFleet.enqueue(host);
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

    const g = config.enforcement.guarantees;
    const guarantees = g.enabled
      ? new GuaranteeController({
        inventory,
        slas: () => source.serverSlas(),
        slasVersion: () => source.slasVersion(),
        limiter: (host) => theFleet.pairLimiter(host),
        ofports: () => theFleet.ofports(),
        ...(config.cluster ? { owns: (host: string) => membership?.owns(host) ?? false } : {}),
        uplink: (host) => {
          const bps = g.uplinks[host] ?? g.uplinkBps;
          return bps === undefined ? undefined : { bps, source: 'config' };
        },
        intervalMs: g.intervalMs,
        uplinkHeadroom: g.uplinkSharePercent / 100,
        log: (event, level) => {
          logEvent({ ...event, ...(level === 'warn' ? { level } : {}) });
        },
      })
      : undefined;
    if (guarantees) {
      guarantees.start();
      // Stopped before the fleet (stops run in reverse): its limiters use the fleet's OpenFlow connections.
      stops.push(() => guarantees.stop());
    }

    if (config.cluster && clusterStore) {
      membership = new ClusterMembership({
        store: clusterStore,
        agentId: config.cluster.agentId,
        url: config.cluster.advertiseUrl ?? '',
        leaseMs: config.cluster.leaseMs,
        heartbeatMs: config.cluster.heartbeatMs,
        log: (event, level) => {
          logEvent({ ...event, ...(level === 'warn' ? { level } : {}) });
        },
      });
      const theMembership = membership;
      const sync = new HostStatusSync({
        store: clusterStore,
        identity: () => theMembership.identity(),
        local: () => localHostStatuses(theFleet, inventory.snapshot()),
        log: (event, level) => {
          logEvent({ ...event, ...(level === 'warn' ? { level } : {}) });
        },
      });
      hostStatus = sync;
      theMembership.onChange(() => {
        // Hosts that became ours need their capacity read by us.
        inventory.refresh().catch(() => undefined);
        const before = theFleet.hosts().length;
        theFleet.resync();
        theFleet.enqueue();
        logEvent({ event: 'cluster_changed', members: theMembership.members(), writable: theMembership.writable(), ownedBefore: before, owned: theFleet.hosts().length });
      });
      clusterView = {
        agentId: config.cluster.agentId,
        view: () => theMembership.view(),
        owned: () => theFleet.hosts(),
        members: () => theMembership.members(),
        writable: () => theMembership.writable(),
        ownerOf: (host) => theMembership.ownerOf(host),
        foreignPorts: () => {
          const local = new Set(theFleet.hosts());
          return sync.foreignPorts((host) => local.has(host));
        },
      };
    }

    const app = await buildAgentApp({
      inventory,
      ...(clusterView ? { cluster: clusterView } : {}),
      enforcementView: (host) => theFleet.enforcementView(host),
      store,
      reconcilers: theFleet,
      ...(guarantees ? { guarantees } : {}),
      perPortRateMetrics: config.rates.perPortMetrics,
      auth: { tokens: config.auth.tokens, ...(config.auth.keystone === true ? { validate: keystoneTokenValidator(openstack) } : {}) },
      logger: log ? { level: 'info' } : false,
      ...(https ? { https } : {}),
    });
    stops.push(() => app.close());
    await app.listen({ host: config.listen.host, port: config.listen.port });
    const address = app.server.address();
    const port = typeof address === 'object' && address ? address.port : config.listen.port;
    const url = `${https ? 'https' : 'http'}://${config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host}:${String(port)}`;
    if (membership && hostStatus) {
      const theMembership = membership;
      const theSync = hostStatus;
      // Joined after listening, so the advertised URL can default to the one actually bound.
      if (theMembership.view().incarnation === null && config.cluster?.advertiseUrl === undefined) theMembership.setUrl(url);
      await theMembership.start();
      stops.push(() => theMembership.stop());
      theSync.start();
      stops.push(() => theSync.stop());
    }
    logEvent({ event: 'agent_started', url, hosts: inventory.snapshot()?.hosts.map((h) => h.name) ?? [], ...(membership ? { agentId: membership.agentId } : {}) });
    return { url, app, inventory, fleet, store, guarantees, ...(membership ? { membership } : {}), ...(hostStatus ? { hostStatus } : {}), stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** The simulated cloud's admin credentials as a cloud configuration (what clouds.yaml would give). */
export function simCloudConfig(sim: SimCloud): CloudConfig {
  const c = sim.credentials;
  return {
    cloudName: 'sim',
    authType: 'password',
    auth: {
      authUrl: sim.authUrl,
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
  };
}

/** Options that point the agent at a simulated cloud: its admin credentials and each host's OVSDB. */
export function simAgentOptions(sim: SimCloud, extra: Omit<StartAgentOptions, 'cloud' | 'ovsdbEndpoint' | 'openflowEndpoint'> = {}): StartAgentOptions {
  return { cloud: simCloudConfig(sim), ovsdbEndpoint: (host) => sim.ovsdbEndpoint(host), openflowEndpoint: (host) => sim.openflowEndpoint(host), ...extra };
}

/** Command-line entry: `cm-agent --config FILE` and/or `cm-agent --sim`. */
export async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(AGENT_USAGE);
    return;
  }
  const known = new Set(['--config', '--sim']);
  const unknown = argv.filter((a, i) => a.startsWith('-') && !known.has(a) && argv[i - 1] !== '--config');
  if (unknown.length > 0) throw new AgentConfigError('command line', unknown.map((a) => ({ field: a, message: 'unknown option (see cm-agent --help)' })));
  const configIndex = argv.indexOf('--config');
  const configFile = configIndex >= 0 ? argv[configIndex + 1] : undefined;
  if (configIndex >= 0 && configFile === undefined) throw new AgentConfigError('command line', [{ field: '--config', message: 'needs a file' }]);
  let text: string | undefined;
  if (configFile !== undefined) {
    try {
      text = readFileSync(configFile, 'utf8');
    } catch (error) {
      throw new AgentConfigError(configFile, [{ field: '--config', message: `cannot read the file: ${(error as Error).message}` }]);
    }
  }
  // `--sim` = a `sim:` section with its defaults.
  const merged = argv.includes('--sim') ? mergeSimFlag(text) : text;
  const config = parseAgentConfig(merged, { ...process.env }, configFile ?? 'environment');
  let stopSim: (() => Promise<void>) | undefined;
  let options: StartAgentOptions = {};
  if (config.sim) {
    const { startSimCloud } = await import('../sim/index.ts');
    const { scenarioPath } = await import('../sim/scenario.ts');
    const cloud = await startSimCloud({
      ...(config.sim.scenario === undefined ? {} : { scenario: scenarioPath(config.sim.scenario) }),
      ovsdb: config.sim.ovsdb,
    });
    stopSim = () => cloud.close();
    options = simAgentOptions(cloud);
    process.stderr.write(`cm-agent: simulated cloud at ${cloud.authUrl} (hosts: ${[...cloud.state.hosts.keys()].join(', ')}; OVSDB: ${config.sim.ovsdb})\n`);
  }
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

function mergeSimFlag(text: string | undefined): string {
  const doc: unknown = text === undefined ? {} : (YAML.parse(text) ?? {});
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) return text ?? '';
  const root = doc as Record<string, unknown>;
  return YAML.stringify({ ...root, sim: root.sim ?? {} });
}

const AGENT_USAGE = `usage: cm-agent [--config FILE] [--sim]

  --config FILE   YAML configuration (reference: docs/agent.md); CM_AGENT_* variables override it
  --sim           run against an embedded simulated cloud (same as a "sim: {}" section)

Examples:
  cm-agent --config examples/agent.sim.yaml      # the thesis testbed, simulated
  CM_AGENT_TOKENS=$(openssl rand -hex 24) cm-agent --sim
  cm-agent --config /etc/cm/agent.yaml           # a real cloud (clouds.yaml / OS_* for OpenStack)
`;
