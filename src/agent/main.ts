/**
 * The CM Agent's composition root: configuration → OpenStack clients →
 * inventory → SLA store → desired state → one reconciler per host → HTTP API.
 * Everything is wired explicitly here; `startAgent` returns a handle that
 * stops it all in order.
 *
 * Configuration problems are thrown before anything starts. Then the API
 * listens, and the dependencies (a PostgreSQL store, the cluster store, the
 * first cloud inventory) are brought up in the background with retries
 * (startup.ts): /readyz names what the agent waits for.
 *
 * Command: `cm-agent --config FILE` (environment: CM_AGENT_*, OS_* / OS_CLOUD),
 * or `cm-agent --sim` to run against a freshly started simulated cloud.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { keystoneTokenValidator } from '../http/keystone-auth.ts';
import { readHttpsFiles, type HttpsOptions } from '../http/service.ts';
import { createOpenStack, loadCloudConfig, processConfigIO, type CloudConfig, type OpenStack } from '../openstack/index.ts';
import { openSlaStore, type SlaStore, type StoredSla } from '../store/index.ts';
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
import { SlaOrphanCollector } from './orphans.ts';
import { boundedText, isConfigurationProblem, openstackDependencyOf, PendingSlaStore, StartupTracker, type RetryPolicy } from './startup.ts';
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
  /** With `cluster`: this replica's membership and the host statuses shared through the store (once the cluster store is open). */
  readonly membership?: ClusterMembership | undefined;
  readonly hostStatus?: HostStatusSync | undefined;
  /** Stored SLAs of servers gone from the cloud (`sla.orphan_grace_ms`). */
  readonly orphans: SlaOrphanCollector;
  /**
   * Resolves when start-up completed: the SLA store (and cluster store) open, the first
   * inventory read, the reconcilers started. Rejects when it failed for good (a
   * configuration problem, a database of a newer agent), after stopping the agent, or
   * when the agent was stopped first. Unreachable dependencies are retried, never a rejection.
   */
  readonly ready: Promise<void>;
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
  /** Also hands every JSON log event of the agent to this function (whatever `log` says): tests, embedding. */
  events?: (event: Record<string, unknown>) => void;
  /**
   * Resolve only once start-up completed (see {@link RunningAgent.ready}; the API listens
   * meanwhile), rejecting if it fails for good. false: resolve as soon as the API listens.
   * @default true
   */
  waitReady?: boolean;
  /** Backoff of the start-up retries of an unreachable dependency. @default { initialMs: 500, maxMs: 30000 } */
  startupRetry?: Partial<RetryPolicy>;
}

export { keystoneTokenValidator, type KeystoneValidatorOptions } from '../http/keystone-auth.ts';

export async function startAgent(config: AgentConfig, options: StartAgentOptions = {}): Promise<RunningAgent> {
  // Configuration problems first, before anything starts: they end the process (exit 2).
  const cloud =
    options.cloud ??
    loadCloudConfig(
      processConfigIO(),
      config.cloud.name === undefined ? {} : { cloud: config.cloud.name },
    );
  const log = options.log !== false;
  const events = options.events;
  const logEvent = (event: object): void => {
    if (!log && !events) return;
    const line = { time: new Date().toISOString(), component: 'agent', ...event };
    if (events) {
      try {
        events(line);
      } catch {
        // A failing sink must not break the agent.
      }
    }
    if (log) process.stdout.write(`${JSON.stringify(line)}\n`);
  };
  // fastify takes its https options at construction; read the PEM files first, so a bad path fails before anything starts.
  const tls = config.listen.tls;
  let https: HttpsOptions | undefined;
  try {
    https = tls ? readHttpsFiles(tls, (f) => readFileSync(f, 'utf8')) : undefined;
  } catch (error) {
    throw new AgentConfigError('configuration', [{ field: 'listen.tls', message: `cannot read the certificate files: ${(error as Error).message}` }]);
  }
  if (config.cluster && config.store.url === undefined) throw new AgentConfigError('configuration', [{ field: 'store.url', message: 'cluster needs a PostgreSQL store.url' }]);

  const openstack: OpenStack = createOpenStack(cloud);
  const lifetime = new AbortController();
  const storeHolder = new PendingSlaStore();
  const startup = new StartupTracker({ log: logEvent, ...(options.startupRetry ? { retry: options.startupRetry } : {}) });

  // Brought up in the background (after the API listens): set when they are.
  let membership: ClusterMembership | undefined;
  let clusterStore: ClusterStore | undefined;
  let hostStatus: HostStatusSync | undefined;
  let sourceStarted = false;
  let guaranteesStarted = false;
  let app: FastifyInstance | undefined;
  let fleet: ReconcilerFleet | undefined;
  let inventory: CloudInventory | undefined;
  let source: StoreDesiredSource | undefined;
  let guarantees: GuaranteeController | undefined;
  let orphans: SlaOrphanCollector | undefined;

  let stopping: Promise<void> | undefined;
  const stopAll = (): Promise<void> => {
    stopping ??= (async () => {
      lifetime.abort(new Error('the agent is stopping'));
      const steps: [string, (() => Promise<void> | void) | undefined][] = [
        ['host status', hostStatus && (() => hostStatus?.stop())],
        ['membership', membership && (() => membership?.stop())],
        ['api', app && (() => app?.close())],
        ['guarantees', guarantees && guaranteesStarted ? () => guarantees?.stop() : undefined],
        ['inventory', inventory && (() => inventory?.stop())],
        ['desired state', source && sourceStarted ? () => source?.stop() : undefined],
        ['reconcilers', fleet && (() => fleet?.stop())],
        ['cluster store', clusterStore && (() => clusterStore?.close())],
        ['sla store', () => storeHolder.close()],
        ['openstack', () => openstack.close()],
      ];
      for (const [what, stop] of steps) {
        if (!stop) continue;
        try {
          await stop();
        } catch (error) {
          logEvent({ event: 'stop_failed', level: 'warn', what, error: boundedText(String(error)) });
        }
      }
    })();
    return stopping;
  };

  let url: string;
  try {
    // A local SQLite file is opened now: a failure is a configuration problem (a bad path, an unreadable file).
    // A PostgreSQL server is a dependency: opened in the background, retried until it answers.
    const postgres = config.store.url !== undefined && /^postgres(ql)?:\/\//.test(config.store.url);
    if (!postgres) {
      try {
        await storeHolder.set(await openSlaStore(config.store.url === undefined ? { path: config.store.path } : { url: config.store.url }));
      } catch (error) {
        throw new AgentConfigError('configuration', [{ field: config.store.url === undefined ? 'store.path' : 'store.url', message: (error as Error).message }]);
      }
    }

    // The inventory's refreshes drive the fleet, which needs the desired source, which reads the inventory.
    const fleetRef: { current?: ReconcilerFleet } = {};
    const orphansRef: { current?: SlaOrphanCollector } = {};
    const theInventory = new CloudInventory(
      { nova: openstack.nova, placement: openstack.placement, neutron: openstack.neutron },
      {
        onRefresh: (result) => {
          if (result.ok) {
            fleetRef.current?.sync(result.snapshot);
            fleetRef.current?.enqueue();
            // Only a successful (complete) read can say a server is gone.
            void orphansRef.current?.observe(result.snapshot);
          } else if (startup.complete) {
            // During start-up the retries log the failure themselves.
            logEvent({ event: 'inventory_refresh_failed', dependency: openstackDependencyOf(result.error), error: boundedText(result.error.message) });
          }
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
    inventory = theInventory;
    // A server's ports share its rates by demand: the split reads the live rates and upload mechanisms of the fleet.
    const theSource = new StoreDesiredSource(storeHolder, theInventory, {
      portRates: () => {
        const rates = new Map<string, { downloadBps: number; uploadBps: number }>();
        for (const s of fleetRef.current?.status() ?? []) if (s.observed) rates.set(s.portId, { downloadBps: s.observed.downloadBps, uploadBps: s.observed.uploadBps });
        return rates;
      },
      uploadMechanism: (host) => fleetRef.current?.upload(host)?.mechanism,
    });
    source = theSource;
    const theFleet = new ReconcilerFleet({
      owner: config.owner,
      source: theSource,
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
      ...(config.cluster
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
    fleet = theFleet;
    fleetRef.current = theFleet;
    theSource.onChange((serverId) => {
      // Only the hosts of that server: every host on every change made one SLA change cost a pass per owned host.
      const hosts = serverId === undefined ? undefined : theSource.hostsOf(serverId);
      if (hosts === undefined) theFleet.enqueue();
      else for (const host of hosts) theFleet.enqueue(host);
    });

    const clusterConfig = config.cluster;
    // Stored SLAs of servers gone from the cloud; with several replicas the owner of the SLA's host deletes it.
    const theOrphans = new SlaOrphanCollector({
      store: storeHolder,
      slaIds: () => theSource.serverSlas().keys(),
      graceMs: config.sla.orphanGraceMs,
      ...(clusterConfig
        ? { mayDelete: (record: StoredSla) => membership?.writable() === true && membership.ownerOf(record.host ?? record.serverId) === clusterConfig.agentId }
        : {}),
      log: logEvent,
    });
    orphans = theOrphans;
    orphansRef.current = theOrphans;

    const g = config.enforcement.guarantees;
    guarantees = g.enabled
      ? new GuaranteeController({
        inventory: theInventory,
        slas: () => theSource.serverSlas(),
        slasVersion: () => theSource.slasVersion(),
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

    // Until the cluster store is open there is no membership: the replica is no live member and owns nothing.
    const clusterView: ClusterView | undefined = clusterConfig
      ? {
          agentId: clusterConfig.agentId,
          view: () =>
            membership?.view() ?? { agentId: clusterConfig.agentId, incarnation: null, writable: false, members: [], lastError: 'the cluster store is not open yet' },
          owned: () => theFleet.hosts(),
          members: () => membership?.members() ?? [],
          writable: () => membership?.writable() ?? false,
          ownerOf: (host) => membership?.ownerOf(host),
          foreignPorts: () => {
            const local = new Set(theFleet.hosts());
            return hostStatus?.foreignPorts((host) => local.has(host)) ?? [];
          },
        }
      : undefined;

    const theApp = await buildAgentApp({
      inventory: theInventory,
      ...(clusterView ? { cluster: clusterView } : {}),
      enforcementView: (host) => theFleet.enforcementView(host),
      store: storeHolder,
      reconcilers: theFleet,
      ...(guarantees ? { guarantees } : {}),
      startup,
      orphans: theOrphans,
      slaServerIds: () => theSource.serverSlas().keys(),
      // A snapshot is refreshed every inventory.refresh_interval_ms: readiness allows three of them (at least 5 min).
      maxSnapshotAgeMs: Math.max(300_000, 3 * config.inventory.refreshIntervalMs),
      perPortRateMetrics: config.rates.perPortMetrics,
      auth: { tokens: config.auth.tokens, ...(config.auth.keystone === true ? { validate: keystoneTokenValidator(openstack) } : {}) },
      logger: log ? { level: 'info' } : false,
      ...(https ? { https } : {}),
      bodyLimit: config.limits.bodyBytes,
      httpLimits: config.limits.http,
    });
    app = theApp;
    // The API listens before the dependencies are reached: /healthz answers, /readyz says what the agent waits for.
    await theApp.listen({ host: config.listen.host, port: config.listen.port });
    const address = theApp.server.address();
    const port = typeof address === 'object' && address ? address.port : config.listen.port;
    url = `${https ? 'https' : 'http'}://${config.listen.host.includes(':') ? `[${config.listen.host}]` : config.listen.host}:${String(port)}`;
    logEvent({ event: 'agent_listening', url });
  } catch (error) {
    await stopAll();
    throw error;
  }

  const theInventory = inventory;
  const theSource = source;
  const theFleet = fleet;
  const theUrl = url;
  const theOrphans = orphans;
  const theApp = app;
  const signal = lifetime.signal;
  const bringUp = async (): Promise<void> => {
    if (!storeHolder.opened) {
      const storeUrl = config.store.url ?? '';
      startup.step('sla-store', 'opening the SLA store');
      const opened = await startup.retry(
        'sla-store',
        () =>
          openSlaStore({ url: storeUrl }).catch((error: unknown) => {
            storeHolder.unavailable((error as Error).message);
            throw error;
          }),
        signal,
      );
      await storeHolder.set(opened);
      signal.throwIfAborted();
    }

    const clusterConfig = config.cluster;
    if (clusterConfig && config.store.url !== undefined) {
      const storeUrl = config.store.url;
      startup.step('cluster-store', 'opening the cluster store');
      const theStore = await startup.retry('cluster-store', () => openClusterStore({ url: storeUrl }), signal);
      if (signal.aborted) {
        await theStore.close();
        signal.throwIfAborted();
      }
      clusterStore = theStore;
      // Several replicas: membership decides which hosts this one writes, each host's OVSDB epoch fences the writes.
      const theMembership = new ClusterMembership({
        store: theStore,
        agentId: clusterConfig.agentId,
        url: clusterConfig.advertiseUrl ?? '',
        leaseMs: clusterConfig.leaseMs,
        heartbeatMs: clusterConfig.heartbeatMs,
        log: (event, level) => {
          logEvent({ ...event, ...(level === 'warn' ? { level } : {}) });
        },
      });
      membership = theMembership;
      hostStatus = new HostStatusSync({
        store: theStore,
        identity: () => theMembership.identity(),
        local: () => localHostStatuses(theFleet, theInventory.snapshot()),
        log: (event, level) => {
          logEvent({ ...event, ...(level === 'warn' ? { level } : {}) });
        },
      });
      theMembership.onChange(() => {
        // Hosts that became ours need their capacity read by us.
        theInventory.refresh().catch(() => undefined);
        const before = theFleet.hosts().length;
        theFleet.resync();
        theFleet.enqueue();
        logEvent({ event: 'cluster_changed', members: theMembership.members(), writable: theMembership.writable(), ownedBefore: before, owned: theFleet.hosts().length });
      });
    }

    startup.step('sla-store', 'loading the stored SLAs');
    sourceStarted = true;
    await startup.retry('sla-store', () => theSource.start(), signal);

    // The first inventory is read before the agent is ready, so that the API never answers from nothing.
    startup.step('openstack', 'reading the cloud inventory (Keystone, Nova, Neutron, Placement)');
    await startup.retry(openstackDependencyOf, () => theInventory.refresh(signal), signal);
    signal.throwIfAborted();
    theFleet.sync(theInventory.snapshot());
    theInventory.start({ intervalMs: config.inventory.refreshIntervalMs });
    if (guarantees) {
      guaranteesStarted = true;
      guarantees.start();
    }
    if (membership && hostStatus) {
      startup.step('cluster-store', 'joining the agent cluster');
      // Joined once listening, so the advertised URL can default to the one actually bound.
      if (membership.view().incarnation === null && config.cluster?.advertiseUrl === undefined) membership.setUrl(theUrl);
      await membership.start();
      signal.throwIfAborted();
      hostStatus.start();
    }
    startup.finish();
    logEvent({ event: 'agent_started', url: theUrl, hosts: theInventory.snapshot()?.hosts.map((h) => h.name) ?? [], ...(membership ? { agentId: membership.agentId } : {}) });
  };

  const ready = bringUp().catch(async (error: unknown) => {
    if (signal.aborted) throw new Error('the agent stopped before it was ready', { cause: error });
    // Only permanent failures get here (see startup.ts): the agent cannot start with this configuration or database.
    const message = error instanceof Error ? error.message : String(error);
    startup.fail(message);
    logEvent({ event: 'startup_failed', level: 'error', configuration: isConfigurationProblem(error), error: boundedText(message, 2000) });
    await stopAll();
    throw error;
  });
  // Callers that do not wait for readiness must not see an unhandled rejection.
  ready.catch(() => undefined);

  const running: RunningAgent = {
    url: theUrl,
    app: theApp,
    inventory: theInventory,
    fleet: theFleet,
    store: storeHolder,
    guarantees,
    orphans: theOrphans,
    ready,
    get membership() {
      return membership;
    },
    get hostStatus() {
      return hostStatus;
    },
    stop: stopAll,
  };
  if (options.waitReady !== false) await ready;
  return running;
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
  // Returns once the API listens; unreachable dependencies are retried meanwhile (/readyz says which).
  let agent: RunningAgent;
  try {
    agent = await startAgent(config, { ...options, waitReady: false });
  } catch (error) {
    await stopSim?.();
    throw error;
  }
  let stopping = false;
  const shutdown = (): void => {
    stopping = true;
    void agent
      .stop()
      .then(() => stopSim?.())
      .finally(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  // A start-up that failed for good (the agent has stopped itself): exit 2 for a configuration problem, else 1.
  agent.ready.catch(async (error: unknown) => {
    if (stopping) return;
    process.stderr.write(`cm-agent: ${error instanceof Error ? error.message : String(error)}\n`);
    await stopSim?.();
    process.exit(isConfigurationProblem(error) ? 2 : 1);
  });
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
