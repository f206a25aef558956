/**
 * Connectivity Manager configuration: a YAML file overlaid by `CM_MANAGER_*`
 * variables, validated as a whole (every problem with its field). Pure.
 *
 * ```yaml
 * listen: { host: 127.0.0.1, port: 8092 }
 * auth: { tokens: [ "long-random-secret" ] }        # CM_MANAGER_TOKENS=a,b
 *   # keystone: true, keystone_role: member, admin_role: admin   # Keystone tokens act for their project
 *   # project: <id>                               # CM_MANAGER_PROJECT: static tokens' project (default: the manager's)
 *   # keystone: true, keystone_role: member → other bearer tokens are validated with the cloud's Keystone
 * cloud: { name: mycloud }                          # clouds.yaml entry; omitted: OS_* variables
 * agent: { url: "http://10.0.0.5:8091", token: "…" } # CM_MANAGER_AGENT_URL / CM_MANAGER_AGENT_TOKEN
 *   # url: [ "http://10.0.0.5:8091", "http://10.0.0.6:8091" ]  # agent replicas: the next one when one cannot be reached
 *   # tls: { ca: FILE, cert: FILE, key: FILE }       # https agent; cert/key when it asks for a client certificate
 * store: { url: "sqlite:/var/lib/cm/manager.db" }    # or postgres://user:pass@db:5432/cm
 * placement:
 *   strategy: traffic-aware                         # single-host | traffic-aware | nova
 *   uplink: "10gbit"                                # every host's NIC, unless listed below
 *   uplinks: { compute1: "1gbit" }
 * sla_classes:                                      # default: the thesis's Gold / Wholesale
 *   classes: { Gold: { min: 100mbit, max: 10gbit }, Wholesale: { min: 100mbit, max: 1gbit } }
 *   assign: { MediaServer: Gold }
 *   default: Wholesale
 * catalog: { services: [ services/MediaService.json ] }   # service types for POST /topologies
 * deploy: { availability_zone: nova, stack_timeout_s: 600, enforce_timeout_s: 120 }
 * limits: { units: 200, body_bytes: 1048576, plan_timeout_ms: 10000 }   # docs/manager.md, "Limits"
 * ```
 */
import { ConfigReader, isRecord, parseYamlRoot, type ConfigProblem } from '../config/reader.ts';
import type { PlacementStrategy } from '../placement/types.ts';
import { checkRate } from '../qos/rates.ts';
import { HTTP_LIMIT_CONFIG_KEYS, readHttpLimits } from '../http/limits-config.ts';
import type { HttpLimits } from '../http/service.ts';
import { DEFAULT_TOPOLOGY_LIMITS, LIMIT_KEYS, type TopologyLimits } from '../topology/limits.ts';

export interface ManagerConfig {
  listen: { host: string; port: number; tls?: { cert: string; key: string; clientCa?: string } };
  /** `keystone`: bearer tokens not in `tokens` are validated with Keystone and must carry `keystoneRole`. */
  /**
   * `keystone.role`: the role a Keystone token needs at all; `keystone.adminRole`: the role that sees every
   * project's topologies. `project`: the project (id) topologies submitted with a static token belong to.
   */
  auth: { tokens: string[]; keystone?: { role: string; adminRole: string }; project?: string };
  cloud: { name?: string };
  /**
   * `urls`: the agent's replicas (they share one store), tried in order when one cannot be reached; `url` is the first.
   * `tls`: PEM files for an https agent: its CA, and a client certificate when it requires one.
   */
  agent: { url: string; urls: string[]; token: string; tls?: { ca?: string; cert?: string; key?: string } };
  store: { url: string };
  placement: { strategy: PlacementStrategy; uplinkDefaultBps: number; uplinks: Record<string, number> };
  /** The raw `sla_classes` section (validated by the topology module); undefined = the thesis's classes. */
  slaClasses?: unknown;
  catalog: { services: string[] };
  deploy: {
    /** The zone part of `availability_zone: <zone>:<host>`. */
    availabilityZone: string;
    stackTimeoutS: number;
    enforceTimeoutS: number;
    /** How long a manager's claim on an in-flight topology lasts without renewal. */
    leaseMs: number;
  };
  limits: ManagerLimits;
}

/** What one request may ask for and cost (docs/manager.md, "Limits"). */
export interface ManagerLimits {
  topology: TopologyLimits;
  /** Bytes of a request body (413 above). */
  bodyBytes: number;
  /** A plan taking longer is stopped and refused (its worker is replaced). */
  planTimeoutMs: number;
  /** Heap of the planning worker: a plan needing more is refused instead of taking the manager down. */
  planHeapMb: number;
  /** Slow and hostile clients (docs/operating.md, "HTTP limits"); those not given are the defaults. */
  http: Partial<HttpLimits>;
}

export const DEFAULT_MANAGER_LIMITS: Readonly<ManagerLimits> = Object.freeze({
  topology: DEFAULT_TOPOLOGY_LIMITS,
  bodyBytes: 1024 * 1024,
  planTimeoutMs: 10_000,
  planHeapMb: 256,
  http: {},
});

export class ManagerConfigError extends Error {
  readonly code = 'CM_ERR_MANAGER_CONFIG';
  constructor(
    readonly source: string,
    readonly problems: ConfigProblem[],
  ) {
    super(`invalid manager configuration (${source}):\n${problems.map((p) => `  - ${p.field}: ${p.message}`).join('\n')}`);
    this.name = 'ManagerConfigError';
  }
}

const STRATEGIES: readonly PlacementStrategy[] = ['single-host', 'traffic-aware', 'nova'];

function rate(r: ConfigReader, value: unknown, field: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  const check = checkRate(value);
  if (!check.ok) {
    r.problems.push({ field, message: check.message });
    return fallback;
  }
  return check.value;
}

/**
 * @param env `CM_MANAGER_LISTEN_HOST`, `CM_MANAGER_LISTEN_PORT`, `CM_MANAGER_TOKENS`, `CM_MANAGER_AGENT_URL`,
 *   `CM_MANAGER_AGENT_TOKEN`, `CM_MANAGER_STORE_URL`, `CM_MANAGER_CLOUD` or `OS_CLOUD`.
 * @param options.embedded the agent and cloud are started by the caller (the demo): `agent` is not required.
 */
export function parseManagerConfig(
  fileText: string | undefined,
  env: Readonly<Record<string, string | undefined>>,
  source = 'configuration',
  options: { embedded?: boolean } = {},
): ManagerConfig {
  const parsed = parseYamlRoot(fileText);
  if ('problem' in parsed) throw new ManagerConfigError(source, [parsed.problem]);
  const root = parsed.root;
  const r = new ConfigReader();
  r.unknownKeys(root, ['listen', 'auth', 'cloud', 'agent', 'store', 'placement', 'sla_classes', 'catalog', 'deploy', 'limits'], '');

  const listen = r.section(root, 'listen', ['host', 'port', 'tls']);
  const host = r.string(env.CM_MANAGER_LISTEN_HOST ?? listen.host, 'listen.host', '127.0.0.1') ?? '127.0.0.1';
  const port = r.integer(env.CM_MANAGER_LISTEN_PORT ?? listen.port, 'listen.port', 8092, 0, 65535);
  const tls = r.listenTls(listen.tls, 'listen.tls');

  const auth = r.section(root, 'auth', ['tokens', 'keystone', 'keystone_role', 'admin_role', 'project']);
  const tokens = r.bearerTokens(env.CM_MANAGER_TOKENS ?? auth.tokens, 'auth.tokens');
  const keystone = r.boolean(auth.keystone, 'auth.keystone');
  const keystoneRole = r.string(auth.keystone_role, 'auth.keystone_role', 'member') ?? 'member';
  const adminRole = r.string(auth.admin_role, 'auth.admin_role', 'admin') ?? 'admin';
  const staticProject = r.string(env.CM_MANAGER_PROJECT ?? auth.project, 'auth.project');
  if (staticProject !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(staticProject)) r.problems.push({ field: 'auth.project', message: 'must be a project id (1-64 characters of A-Z a-z 0-9 _ -)' });
  if (tokens.length === 0 && !keystone && !r.problems.some((p) => p.field.startsWith('auth.tokens'))) {
    r.problems.push({ field: 'auth.tokens', message: 'at least one bearer token is required (or set CM_MANAGER_TOKENS, or auth.keystone: true)' });
  }

  const cloud = r.section(root, 'cloud', ['name']);
  const cloudName = r.string(env.CM_MANAGER_CLOUD ?? cloud.name ?? env.OS_CLOUD, 'cloud.name');

  const agent = r.section(root, 'agent', ['url', 'token', 'tls']);
  let agentTls: ManagerConfig['agent']['tls'];
  if (agent.tls !== undefined) {
    const t = isRecord(agent.tls) ? agent.tls : {};
    if (!isRecord(agent.tls)) r.problems.push({ field: 'agent.tls', message: 'must be a mapping with ca, cert, key (PEM files)' });
    r.unknownKeys(t, ['ca', 'cert', 'key'], 'agent.tls');
    const ca = r.string(t.ca, 'agent.tls.ca');
    const cert = r.string(t.cert, 'agent.tls.cert');
    const key = r.string(t.key, 'agent.tls.key');
    if ((cert === undefined) !== (key === undefined)) r.problems.push({ field: 'agent.tls', message: 'a client certificate needs both cert and key' });
    agentTls = { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) };
  }
  // One URL, or the agent's replicas as a list (CM_MANAGER_AGENT_URL: comma-separated).
  const rawAgentUrl: unknown = env.CM_MANAGER_AGENT_URL !== undefined && env.CM_MANAGER_AGENT_URL.includes(',') ? env.CM_MANAGER_AGENT_URL.split(',').map((u) => u.trim()) : (env.CM_MANAGER_AGENT_URL ?? agent.url);
  const agentUrls: string[] = [];
  if (Array.isArray(rawAgentUrl)) {
    if (rawAgentUrl.length === 0) r.problems.push({ field: 'agent.url', message: 'must name at least one URL' });
    rawAgentUrl.forEach((u, i) => {
      const v = r.string(u, `agent.url[${String(i)}]`);
      if (v !== undefined) agentUrls.push(v);
    });
  } else {
    const v = r.string(rawAgentUrl, 'agent.url', options.embedded === true ? 'embedded' : undefined);
    if (v === undefined) r.problems.push({ field: 'agent.url', message: 'is required: the CM Agent API, e.g. http://10.0.0.5:8091 (or CM_MANAGER_AGENT_URL)' });
    else agentUrls.push(v);
  }
  agentUrls.forEach((u, i) => {
    if (options.embedded !== true && !/^https?:\/\/[^/]+/.test(u)) r.problems.push({ field: Array.isArray(rawAgentUrl) ? `agent.url[${String(i)}]` : 'agent.url', message: 'must be an http:// or https:// URL' });
  });
  const agentToken = r.string(env.CM_MANAGER_AGENT_TOKEN ?? agent.token, 'agent.token', options.embedded === true ? 'embedded' : undefined);
  if (agentToken === undefined) r.problems.push({ field: 'agent.token', message: 'is required: a bearer token the agent accepts (or CM_MANAGER_AGENT_TOKEN)' });

  const store = r.section(root, 'store', ['url']);
  const storeUrl = r.string(env.CM_MANAGER_STORE_URL ?? store.url, 'store.url', 'sqlite:cm-manager.db') ?? 'sqlite:cm-manager.db';
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(storeUrl)) r.problems.push({ field: 'store.url', message: 'must be sqlite:PATH, sqlite::memory: or postgres://user:pass@host:port/db' });

  const placement = r.section(root, 'placement', ['strategy', 'uplink', 'uplinks']);
  const strategy = r.string(placement.strategy, 'placement.strategy', 'traffic-aware') ?? 'traffic-aware';
  if (!STRATEGIES.includes(strategy as PlacementStrategy)) r.problems.push({ field: 'placement.strategy', message: `must be one of ${STRATEGIES.join(', ')}` });
  const uplinkDefaultBps = rate(r, placement.uplink, 'placement.uplink', 10_000_000_000);
  const uplinks: Record<string, number> = {};
  if (placement.uplinks !== undefined) {
    if (!isRecord(placement.uplinks)) r.problems.push({ field: 'placement.uplinks', message: 'must be a mapping host → rate' });
    else for (const [h, v] of Object.entries(placement.uplinks)) uplinks[h] = rate(r, v, `placement.uplinks.${h}`, uplinkDefaultBps);
  }

  const catalog = r.section(root, 'catalog', ['services']);
  const services: string[] = [];
  if (catalog.services !== undefined) {
    if (!Array.isArray(catalog.services)) r.problems.push({ field: 'catalog.services', message: 'must be a list of service-type files' });
    else catalog.services.forEach((f, i) => {
      const v = r.string(f, `catalog.services[${String(i)}]`);
      if (v !== undefined) services.push(v);
    });
  }

  const deploy = r.section(root, 'deploy', ['availability_zone', 'stack_timeout_s', 'enforce_timeout_s', 'lease_ms']);

  const limitKeys = Object.entries(LIMIT_KEYS) as [keyof TopologyLimits, string][];
  const limitsSection = r.section(root, 'limits', [...limitKeys.map(([, k]) => k), 'body_bytes', 'plan_timeout_ms', 'plan_heap_mb', ...HTTP_LIMIT_CONFIG_KEYS]);
  const topologyLimits = { ...DEFAULT_TOPOLOGY_LIMITS };
  for (const [name, key] of limitKeys) topologyLimits[name] = r.integer(limitsSection[key], `limits.${key}`, DEFAULT_TOPOLOGY_LIMITS[name], 1, 1_000_000_000);
  const limits: ManagerLimits = {
    topology: topologyLimits,
    bodyBytes: r.integer(limitsSection.body_bytes, 'limits.body_bytes', DEFAULT_MANAGER_LIMITS.bodyBytes, 1024, 1024 * 1024 * 1024),
    planTimeoutMs: r.integer(limitsSection.plan_timeout_ms, 'limits.plan_timeout_ms', DEFAULT_MANAGER_LIMITS.planTimeoutMs, 100, 3_600_000),
    planHeapMb: r.integer(limitsSection.plan_heap_mb, 'limits.plan_heap_mb', DEFAULT_MANAGER_LIMITS.planHeapMb, 32, 65_536),
    http: readHttpLimits(r, limitsSection),
  };
  const config: ManagerConfig = {
    listen: tls ? { host, port, tls } : { host, port },
    auth: { tokens, ...(keystone ? { keystone: { role: keystoneRole, adminRole } } : {}), ...(staticProject === undefined ? {} : { project: staticProject }) },
    cloud: cloudName === undefined ? {} : { name: cloudName },
    agent: { url: agentUrls[0] ?? '', urls: agentUrls, token: agentToken ?? '', ...(agentTls ? { tls: agentTls } : {}) },
    store: { url: storeUrl },
    placement: { strategy: strategy as PlacementStrategy, uplinkDefaultBps, uplinks },
    ...(root.sla_classes === undefined ? {} : { slaClasses: root.sla_classes }),
    catalog: { services },
    deploy: {
      availabilityZone: r.string(deploy.availability_zone, 'deploy.availability_zone', 'nova') ?? 'nova',
      stackTimeoutS: r.integer(deploy.stack_timeout_s, 'deploy.stack_timeout_s', 600, 10, 86_400),
      enforceTimeoutS: r.integer(deploy.enforce_timeout_s, 'deploy.enforce_timeout_s', 120, 1, 86_400),
      leaseMs: r.integer(deploy.lease_ms, 'deploy.lease_ms', 30_000, 1000, 3_600_000),
    },
    limits,
  };
  if (r.problems.length > 0) throw new ManagerConfigError(source, r.problems);
  return config;
}
