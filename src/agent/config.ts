/**
 * CM Agent configuration: a YAML file overlaid by `CM_AGENT_*` variables,
 * validated as a whole so every problem is reported at once with the field
 * that has it. Pure: the caller passes the file text and the environment.
 *
 * ```yaml
 * listen: { host: 127.0.0.1, port: 8091 }        # tls: { cert: FILE, key: FILE, client_ca: FILE }
 * auth: { tokens: [ "long-random-secret" ] }      # CM_AGENT_TOKENS=a,b
 *   # keystone: true → other bearer tokens are validated with the cloud's Keystone (admin role required)
 * cloud: { name: mycloud }                        # clouds.yaml entry; omitted: OS_* variables
 * owner: cm-agent-region1                         # the cm-owner tag of every OVSDB row we create
 * store: { path: /var/lib/cm-agent/sla.db }        # one agent; several replicas: { url: "postgres://cm@db/cm" }
 * cluster:                                        # several replicas sharing one store.url (docs/agent.md)
 *   agent_id: agent-a                             # stable per replica; default: the hostname
 *   advertise_url: "https://agent-a:8091"         # where the others and operators reach its API
 *   lease_ms: 6000                                # a replica silent this long loses its hosts
 *   heartbeat_ms: 1500
 *   capacity_wait_ms: 60000                       # how long a host nothing was published for waits for its owner's Placement reading
 * ovsdb:
 *   template: "tcp:{host_ip}:6640"                # or unix:/… or ssl:{host}:6640
 *   endpoints: { compute1: "unix:/run/openvswitch/db.sock" }   # per-host overrides
 *   tls: { key: FILE, cert: FILE, ca: FILE }      # for ssl: endpoints
 * enforcement:
 *   upload: auto                                  # auto | meter | policing (how upload caps are enforced)
 *   openflow:                                     # each host's br-int OpenFlow endpoint (meters, live rates)
 *     template: "unix:/run/openvswitch/br-int.mgmt"   # or tcp:{host_ip}:6653, ssl:{host_ip}:6653
 *     endpoints: { compute1: "tcp:10.0.0.11:6653" }
 *     listener: "ptcp:6653:{host_ip}"            # or: the agent adds this passive listener to br-int and connects
 *     tls: { key: FILE, cert: FILE, ca: FILE }
 *   meter: { burst_ms: 250 }                      # meter bucket, ms of traffic at the cap
 *   guarantees:                                   # guaranteed rates (min) held by pair limiters (docs/agent.md)
 *     enabled: true
 *     interval_ms: 500                            # controller round
 *     uplink_share_percent: 97                    # share of an uplink handed out to guaranteed pairs
 *     uplink: 10Gbit                              # every host's uplink capacity, unless listed below
 *     uplinks: { compute1: 10Gbit }               # per host
 * rates: { interval_ms: 1000, per_port_metrics: true }   # live rates; interval 0 turns sampling off
 * inventory: { refresh_interval_ms: 30000 }
 * reconcile: { resync_interval_ms: 60000 }
 * sla: { orphan_grace_ms: 600000 }                # a server gone from the cloud this long loses its stored SLA
 * limits: { body_bytes: 1048576, request_timeout_ms: 30000, connections_per_address: 64 }   # docs/agent.md, "Limits"
 * sim: { scenario: thesis, ovsdb: in-process }    # embedded simulated cloud instead of cloud/ovsdb
 * ```
 */
import { hostname } from 'node:os';
import { ConfigReader as Reader, isRecord, parseYamlRoot, type ConfigProblem } from '../config/reader.ts';
import { HTTP_LIMIT_CONFIG_KEYS, readHttpLimits } from '../http/limits-config.ts';
import type { HttpLimits } from '../http/service.ts';
import { parseEndpoint } from '../ovsdb/transport.ts';
import { checkRate } from '../qos/rates.ts';
import { endpointOfListener } from './enforcement/listener.ts';

export interface AgentConfig {
  /** `tls.clientCa`: clients must present a certificate signed by this CA (mutual TLS). */
  listen: { host: string; port: number; tls?: { cert: string; key: string; clientCa?: string } };
  /** `keystone`: bearer tokens not in `tokens` are validated with Keystone (admin role required). */
  auth: { tokens: string[]; keystone?: boolean };
  cloud: { name?: string };
  owner: string;
  /** `url` (postgres:// or sqlite:) wins over `path`. */
  store: { path: string; url?: string };
  /** Several replicas: needs a PostgreSQL `store.url`. */
  cluster?: { agentId: string; advertiseUrl?: string; leaseMs: number; heartbeatMs: number; capacityWaitMs: number };
  ovsdb: {
    template?: string;
    endpoints: Record<string, string>;
    tls?: { key: string; cert: string; ca: string };
  };
  inventory: { refreshIntervalMs: number };
  reconcile: { resyncIntervalMs: number };
  /** `orphanGraceMs`: how long a server with a stored SLA may be absent from complete inventories before the SLA is deleted. */
  sla: { orphanGraceMs: number };
  /** What one client may send and hold (docs/agent.md, "Limits"); HTTP limits not given are the defaults. */
  limits: { bodyBytes: number; http: Partial<HttpLimits> };
  enforcement: {
    upload: 'auto' | 'meter' | 'policing';
    openflow: { template?: string; endpoints: Record<string, string>; listener?: string; tls?: { key: string; cert: string; ca: string } };
    meterBurstMs: number;
    guarantees: {
      enabled: boolean;
      intervalMs: number;
      uplinkSharePercent: number;
      /** bit/s for hosts not in `uplinks`; undefined: unknown (no uplink constraint, reported). */
      uplinkBps?: number;
      uplinks: Record<string, number>;
    };
  };
  rates: { intervalMs: number; perPortMetrics: boolean };
  /**
   * Run against an embedded simulated cloud instead of a real one: its
   * credentials and each host's OVSDB replace `cloud` and `ovsdb`.
   */
  sim?: { scenario?: string; ovsdb: 'in-process' | 'real' };
}

export type { ConfigProblem } from '../config/reader.ts';

export class AgentConfigError extends Error {
  readonly code = 'CM_ERR_AGENT_CONFIG';
  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`invalid agent configuration (${source}):\n${problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`);
    this.name = 'AgentConfigError';
  }
}

/** Bytes of a request body (413 above): a /v1 SLA or a thesis QoS list is a few KiB. */
export const AGENT_BODY_BYTES = 1024 * 1024;

/** Placeholders a template may use. */
const TEMPLATE_FIELDS = ['host', 'host_ip', 'hypervisor_hostname'] as const;

/**
 * Parses and validates the configuration.
 * @param fileText YAML text of the config file (undefined: defaults + environment only).
 * @param env the environment (`CM_AGENT_LISTEN_HOST`, `CM_AGENT_LISTEN_PORT`, `CM_AGENT_TOKENS`,
 *   `CM_AGENT_OWNER`, `CM_AGENT_STORE_PATH`, `CM_AGENT_OVSDB_TEMPLATE`, `CM_AGENT_CLOUD` or `OS_CLOUD`).
 * @throws AgentConfigError listing every problem.
 */
export function parseAgentConfig(
  fileText: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  source = 'configuration',
): AgentConfig {
  const r = new Reader();
  const parsed = parseYamlRoot(fileText);
  if ('problem' in parsed) throw new AgentConfigError(source, [parsed.problem]);
  const root = parsed.root;
  r.unknownKeys(root, ['listen', 'auth', 'cloud', 'owner', 'store', 'cluster', 'ovsdb', 'inventory', 'reconcile', 'enforcement', 'rates', 'sla', 'limits', 'sim'], '');
  const simSection = root.sim === true ? {} : r.section(root, 'sim', ['scenario', 'ovsdb']);
  const simEnabled = root.sim !== undefined && root.sim !== null && root.sim !== false;
  const simScenario = r.string(simSection.scenario, 'sim.scenario');
  const simOvsdb = r.string(simSection.ovsdb, 'sim.ovsdb', 'in-process');
  if (simOvsdb !== undefined && simOvsdb !== 'in-process' && simOvsdb !== 'real') {
    r.problems.push({ field: 'sim.ovsdb', message: 'must be "in-process" or "real" (a real ovsdb-server per host)' });
  }

  const listen = r.section(root, 'listen', ['host', 'port', 'tls']);
  const host = r.string(env.CM_AGENT_LISTEN_HOST ?? listen.host, 'listen.host', '127.0.0.1') ?? '127.0.0.1';
  const port = r.integer(env.CM_AGENT_LISTEN_PORT ?? listen.port, 'listen.port', 8091, 0, 65535);
  const tls = r.listenTls(listen.tls, 'listen.tls');

  const auth = r.section(root, 'auth', ['tokens', 'keystone']);
  const keystone = r.boolean(auth.keystone, 'auth.keystone');
  const tokens = r.bearerTokens(env.CM_AGENT_TOKENS ?? auth.tokens, 'auth.tokens');
  if (tokens.length === 0 && !keystone && !r.problems.some((p) => p.field.startsWith('auth.tokens'))) {
    r.problems.push({ field: 'auth.tokens', message: 'at least one bearer token is required (or set CM_AGENT_TOKENS)' });
  }

  const cloud = r.section(root, 'cloud', ['name']);
  const cloudName = r.string(env.CM_AGENT_CLOUD ?? cloud.name ?? env.OS_CLOUD, 'cloud.name');

  const owner = r.string(env.CM_AGENT_OWNER ?? root.owner, 'owner', 'cm-agent') ?? 'cm-agent';
  if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(owner)) {
    r.problems.push({ field: 'owner', message: 'must match [A-Za-z0-9_.:-]{1,128} (it is stored in external_ids)' });
  }

  const store = r.section(root, 'store', ['path', 'url']);
  // A simulated cloud lives only as long as the process, so by default its SLAs need no file either.
  const defaultStore = simEnabled ? ':memory:' : 'cm-agent-sla.db';
  const storePath = r.string(env.CM_AGENT_STORE_PATH ?? store.path, 'store.path', defaultStore) ?? defaultStore;
  const storeUrl = r.string(env.CM_AGENT_STORE_URL ?? store.url, 'store.url');
  if (storeUrl !== undefined && !/^(postgres|postgresql):\/\/|^sqlite:/.test(storeUrl)) {
    r.problems.push({ field: 'store.url', message: 'must be postgres://… (several replicas) or sqlite:PATH' });
  }
  let clusterConfig: AgentConfig['cluster'];
  const clusterRaw = root.cluster ?? (env.CM_AGENT_ID === undefined ? undefined : {});
  if (clusterRaw !== undefined) {
    const cluster = r.section({ cluster: clusterRaw }, 'cluster', ['agent_id', 'advertise_url', 'lease_ms', 'heartbeat_ms', 'capacity_wait_ms']);
    const agentId = r.string(env.CM_AGENT_ID ?? cluster.agent_id, 'cluster.agent_id', hostname()) ?? hostname();
    if (!/^[A-Za-z0-9_.:-]{1,128}$/.test(agentId)) r.problems.push({ field: 'cluster.agent_id', message: 'must match [A-Za-z0-9_.:-]{1,128} (it is written into each host\'s OVSDB)' });
    const advertiseUrl = r.string(cluster.advertise_url, 'cluster.advertise_url');
    const leaseMs = r.integer(cluster.lease_ms, 'cluster.lease_ms', 6000, 1000, 600_000);
    const heartbeatMs = r.integer(cluster.heartbeat_ms, 'cluster.heartbeat_ms', 1500, 100, 300_000);
    const capacityWaitMs = r.integer(cluster.capacity_wait_ms, 'cluster.capacity_wait_ms', 60_000, 0, 3_600_000);
    if (heartbeatMs * 2 >= leaseMs) r.problems.push({ field: 'cluster.heartbeat_ms', message: `must be less than half of cluster.lease_ms (${String(leaseMs)})` });
    if (storeUrl === undefined || !/^postgres/.test(storeUrl)) {
      r.problems.push({ field: 'store.url', message: 'several agent replicas (cluster) share a PostgreSQL store: set store.url to postgres://…' });
    }
    clusterConfig = { agentId, ...(advertiseUrl === undefined ? {} : { advertiseUrl }), leaseMs, heartbeatMs, capacityWaitMs };
  }

  const ovsdb = r.section(root, 'ovsdb', ['template', 'endpoints', 'tls']);
  const template = r.string(env.CM_AGENT_OVSDB_TEMPLATE ?? ovsdb.template, 'ovsdb.template');
  if (template !== undefined) checkEndpoint(r, 'ovsdb.template', expandTemplate(template, { host: 'h', host_ip: '127.0.0.1', hypervisor_hostname: 'h' }), template);
  const endpoints: Record<string, string> = {};
  if (ovsdb.endpoints !== undefined) {
    if (!isRecord(ovsdb.endpoints)) r.problems.push({ field: 'ovsdb.endpoints', message: 'must be a mapping host → endpoint' });
    else {
      for (const [h, e] of Object.entries(ovsdb.endpoints)) {
        const value = r.string(e, `ovsdb.endpoints.${h}`);
        if (value !== undefined && checkEndpoint(r, `ovsdb.endpoints.${h}`, value, value)) endpoints[h] = value;
      }
    }
  }
  if (template === undefined && Object.keys(endpoints).length === 0 && !simEnabled) {
    r.problems.push({ field: 'ovsdb', message: 'set ovsdb.template (e.g. "tcp:{host_ip}:6640") or ovsdb.endpoints per host' });
  }
  let ovsdbTls: AgentConfig['ovsdb']['tls'];
  if (ovsdb.tls !== undefined) {
    const t = isRecord(ovsdb.tls) ? ovsdb.tls : {};
    r.unknownKeys(t, ['key', 'cert', 'ca'], 'ovsdb.tls');
    const key = r.string(t.key, 'ovsdb.tls.key');
    const cert = r.string(t.cert, 'ovsdb.tls.cert');
    const ca = r.string(t.ca, 'ovsdb.tls.ca');
    if (key === undefined || cert === undefined || ca === undefined) {
      r.problems.push({ field: 'ovsdb.tls', message: 'needs key, cert and ca (files)' });
    } else ovsdbTls = { key, cert, ca };
  }

  const enforcement = r.section(root, 'enforcement', ['upload', 'openflow', 'meter', 'guarantees']);
  const upload = r.string(env.CM_AGENT_UPLOAD ?? enforcement.upload, 'enforcement.upload', 'auto') ?? 'auto';
  if (upload !== 'auto' && upload !== 'meter' && upload !== 'policing') {
    r.problems.push({ field: 'enforcement.upload', message: 'must be "auto", "meter" (OpenFlow meters) or "policing" (ingress policing, needs act_police in the host kernel)' });
  }
  const openflow = r.section(enforcement, 'openflow', ['template', 'endpoints', 'listener', 'tls'], 'enforcement.openflow');
  const listener = r.string(openflow.listener, 'enforcement.openflow.listener');
  if (listener !== undefined) {
    const sample = expandTemplate(listener, { host: 'h', host_ip: '127.0.0.1', hypervisor_hostname: 'h' });
    const unknown = /\{([^}]*)\}/.exec(sample);
    if (unknown) r.problems.push({ field: 'enforcement.openflow.listener', message: `unknown placeholder {${unknown[1] ?? ''}} (known: ${TEMPLATE_FIELDS.map((f) => `{${f}}`).join(', ')})` });
    else {
      try {
        endpointOfListener(sample);
      } catch (error) {
        r.problems.push({ field: 'enforcement.openflow.listener', message: (error as Error).message });
      }
    }
  }
  const ofTemplate = r.string(env.CM_AGENT_OPENFLOW_TEMPLATE ?? openflow.template, 'enforcement.openflow.template');
  if (ofTemplate !== undefined) checkEndpoint(r, 'enforcement.openflow.template', expandTemplate(ofTemplate, { host: 'h', host_ip: '127.0.0.1', hypervisor_hostname: 'h' }), ofTemplate);
  const ofEndpoints = endpointMap(r, openflow.endpoints, 'enforcement.openflow.endpoints');
  const ofTls = tlsFiles(r, openflow.tls, 'enforcement.openflow.tls');
  if (upload === 'meter' && ofTemplate === undefined && listener === undefined && Object.keys(ofEndpoints).length === 0 && !simEnabled) {
    r.problems.push({ field: 'enforcement.openflow', message: 'upload "meter" needs each host\'s OpenFlow endpoint: set enforcement.openflow.template, .endpoints or .listener' });
  }
  const meter = r.section(enforcement, 'meter', ['burst_ms'], 'enforcement.meter');
  const guarantees = r.section(enforcement, 'guarantees', ['enabled', 'interval_ms', 'uplink_share_percent', 'uplink', 'uplinks'], 'enforcement.guarantees');
  const rateField = (value: unknown, field: string): number | undefined => {
    if (value === undefined) return undefined;
    const checked = checkRate(value);
    if (!checked.ok) r.problems.push({ field, message: checked.message });
    else if (checked.value <= 0) r.problems.push({ field, message: 'must be above 0' });
    else return checked.value;
    return undefined;
  };
  const uplinkBps = rateField(guarantees.uplink, 'enforcement.guarantees.uplink');
  const uplinks: Record<string, number> = {};
  if (guarantees.uplinks !== undefined) {
    if (typeof guarantees.uplinks !== 'object' || guarantees.uplinks === null || Array.isArray(guarantees.uplinks)) {
      r.problems.push({ field: 'enforcement.guarantees.uplinks', message: 'must be a map of host name → rate' });
    } else {
      for (const [host, value] of Object.entries(guarantees.uplinks as Record<string, unknown>)) {
        const bps = rateField(value, `enforcement.guarantees.uplinks.${host}`);
        if (bps !== undefined) uplinks[host] = bps;
      }
    }
  }
  const rates = r.section(root, 'rates', ['interval_ms', 'per_port_metrics']);
  const perPort = r.boolean(rates.per_port_metrics, 'rates.per_port_metrics', true);

  const inventory = r.section(root, 'inventory', ['refresh_interval_ms']);
  const reconcile = r.section(root, 'reconcile', ['resync_interval_ms']);
  const sla = r.section(root, 'sla', ['orphan_grace_ms']);
  const limitsSection = r.section(root, 'limits', ['body_bytes', ...HTTP_LIMIT_CONFIG_KEYS]);
  const config: AgentConfig = {
    listen: tls ? { host, port, tls } : { host, port },
    auth: keystone ? { tokens, keystone } : { tokens },
    cloud: cloudName === undefined ? {} : { name: cloudName },
    owner,
    store: { path: storePath, ...(storeUrl === undefined ? {} : { url: storeUrl }) },
    ...(clusterConfig ? { cluster: clusterConfig } : {}),
    ovsdb: { ...(template === undefined ? {} : { template }), endpoints, ...(ovsdbTls ? { tls: ovsdbTls } : {}) },
    inventory: { refreshIntervalMs: r.integer(inventory.refresh_interval_ms, 'inventory.refresh_interval_ms', 30_000, 1000, 3_600_000) },
    reconcile: { resyncIntervalMs: r.integer(reconcile.resync_interval_ms, 'reconcile.resync_interval_ms', 60_000, 1000, 86_400_000) },
    // At least a second; at most 30 days (a server shelved or evacuated stays in Nova's listing, so long graces are rarely needed).
    sla: { orphanGraceMs: r.integer(sla.orphan_grace_ms, 'sla.orphan_grace_ms', 600_000, 1000, 2_592_000_000) },
    limits: {
      bodyBytes: r.integer(limitsSection.body_bytes, 'limits.body_bytes', AGENT_BODY_BYTES, 1024, 1024 * 1024 * 1024),
      http: readHttpLimits(r, limitsSection),
    },
    enforcement: {
      upload: upload === 'meter' || upload === 'policing' ? upload : 'auto',
      openflow: {
        ...(ofTemplate === undefined ? {} : { template: ofTemplate }),
        endpoints: ofEndpoints,
        ...(listener === undefined ? {} : { listener }),
        ...(ofTls ? { tls: ofTls } : {}),
      },
      // Below ~100 ms TCP backs off on the drops and gets about half the cap (docs/testbed.md).
      meterBurstMs: r.integer(meter.burst_ms, 'enforcement.meter.burst_ms', 250, 50, 10_000),
      guarantees: {
        enabled: r.boolean(guarantees.enabled, 'enforcement.guarantees.enabled', true),
        intervalMs: r.integer(guarantees.interval_ms, 'enforcement.guarantees.interval_ms', 500, 100, 60_000),
        uplinkSharePercent: r.integer(guarantees.uplink_share_percent, 'enforcement.guarantees.uplink_share_percent', 97, 50, 100),
        ...(uplinkBps === undefined ? {} : { uplinkBps }),
        uplinks,
      },
    },
    rates: { intervalMs: r.integer(rates.interval_ms, 'rates.interval_ms', 1000, 0, 3_600_000), perPortMetrics: perPort },
    ...(simEnabled ? { sim: { ...(simScenario === undefined ? {} : { scenario: simScenario }), ovsdb: simOvsdb === 'real' ? 'real' : 'in-process' } } : {}),
  };
  if (r.problems.length > 0) throw new AgentConfigError(source, r.problems);
  return config;
}

function endpointMap(r: Reader, value: unknown, field: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (value === undefined) return out;
  if (!isRecord(value)) {
    r.problems.push({ field, message: 'must be a mapping host → endpoint' });
    return out;
  }
  for (const [h, e] of Object.entries(value)) {
    const text = r.string(e, `${field}.${h}`);
    if (text !== undefined && checkEndpoint(r, `${field}.${h}`, text, text)) out[h] = text;
  }
  return out;
}

function tlsFiles(r: Reader, value: unknown, field: string): { key: string; cert: string; ca: string } | undefined {
  if (value === undefined) return undefined;
  const t = isRecord(value) ? value : {};
  r.unknownKeys(t, ['key', 'cert', 'ca'], field);
  const key = r.string(t.key, `${field}.key`);
  const cert = r.string(t.cert, `${field}.cert`);
  const ca = r.string(t.ca, `${field}.ca`);
  if (key === undefined || cert === undefined || ca === undefined) {
    r.problems.push({ field, message: 'needs key, cert and ca (files)' });
    return undefined;
  }
  return { key, cert, ca };
}

function checkEndpoint(r: Reader, field: string, endpoint: string, shown: string): boolean {
  const unknown = /\{([^}]*)\}/.exec(endpoint);
  if (unknown) {
    r.problems.push({ field, message: `unknown placeholder {${unknown[1] ?? ''}} (known: ${TEMPLATE_FIELDS.map((f) => `{${f}}`).join(', ')})` });
    return false;
  }
  try {
    parseEndpoint(endpoint);
    return true;
  } catch (error) {
    r.problems.push({ field, message: `"${shown}": ${(error as Error).message}` });
    return false;
  }
}

function expandTemplate(template: string, values: Record<(typeof TEMPLATE_FIELDS)[number], string>): string {
  return template.replace(/\{(host|host_ip|hypervisor_hostname)\}/g, (_m, key: (typeof TEMPLATE_FIELDS)[number]) => values[key]);
}

/**
 * The OVSDB endpoint of a compute host: its entry in `ovsdb.endpoints`, else
 * the template with the host's values; undefined when neither applies
 * (e.g. `{host_ip}` unknown).
 */
export function ovsdbEndpointFor(
  config: AgentConfig,
  host: { name: string; hostIp: string | undefined; hypervisorHostname: string },
): string | undefined {
  return endpointFor(config.ovsdb, host);
}

/**
 * The OpenFlow endpoint of a host's bridge from `enforcement.openflow`: its
 * entry in `endpoints`, else the template, else the passive `listener` the
 * agent keeps on the bridge (then connected to); undefined when none applies.
 */
export function openflowEndpointFor(
  config: AgentConfig,
  host: { name: string; hostIp: string | undefined; hypervisorHostname: string },
): { endpoint: string; listener?: string } | undefined {
  const endpoint = endpointFor(config.enforcement.openflow, host);
  if (endpoint !== undefined) return { endpoint };
  const template = config.enforcement.openflow.listener;
  if (template === undefined || (template.includes('{host_ip}') && host.hostIp === undefined)) return undefined;
  const listener = expandTemplate(template, { host: host.name, host_ip: host.hostIp ?? '', hypervisor_hostname: host.hypervisorHostname });
  return { endpoint: endpointOfListener(listener), listener };
}

function endpointFor(
  section: { template?: string; endpoints: Record<string, string> },
  host: { name: string; hostIp: string | undefined; hypervisorHostname: string },
): string | undefined {
  const explicit = section.endpoints[host.name] ?? section.endpoints[host.hypervisorHostname];
  if (explicit !== undefined) return explicit;
  const template = section.template;
  if (template === undefined) return undefined;
  if (template.includes('{host_ip}') && host.hostIp === undefined) return undefined;
  return expandTemplate(template, { host: host.name, host_ip: host.hostIp ?? '', hypervisor_hostname: host.hypervisorHostname });
}
