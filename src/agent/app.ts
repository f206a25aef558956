/**
 * The CM Agent's HTTP API (fastify), built from explicit dependencies so tests
 * drive it with `app.inject()`:
 *
 * - thesis-compatible: `GET /`, `GET /hosts`, `POST /qoses` (docs/reference/original.md §1.1);
 * - modern: `GET /v1/hosts`, `PUT|GET|DELETE /v1/servers/{id}/sla`, `GET /v1/sla`;
 * - operations: `/healthz`, `/readyz`, `/metrics`, OpenAPI at `/docs/json`, Swagger UI at `/docs`.
 *
 * Authentication: `Authorization: Bearer <token>` on every route except
 * `/healthz`, `/readyz` and the API description (`/docs`, `/docs/json`, which
 * hold no cloud data and must load in a browser). `/metrics` is behind the
 * token by default (its labels name the compute hosts; Prometheus sends a
 * bearer token with `authorization: {credentials: …}` in the scrape config);
 * `auth.publicMetrics: true` opens it for a scraper on a trusted network.
 *
 * Every error is RFC 9457 `application/problem+json` (see src/http/problem.ts).
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { LoggerOptions } from 'pino';
import { Type } from 'typebox';
import { PROBLEM_CONTENT_TYPE, ProblemError, problemResponses, validationProblem } from '../http/problem.ts';
import { createServiceApp, type CallerIdentity, type HttpLimits, type HttpsOptions } from '../http/service.ts';
import { slaRequestBody } from '../qos/sla.ts';
import { isUuidLike, parseThesisQosBody, thesisQosResponse, validateSlaRequest, type ThesisQosResult } from '../qos/validate.ts';
import type { SlaStore, StoredSla } from '../store/index.ts';
import type { MembershipView } from './cluster/membership.ts';
import type { HostGuaranteeView, RoundStats, VmGuaranteeView } from './guarantees/view.ts';
import type { HostEnforcementView } from './enforcement/types.ts';
import { serverIndex } from './inventory/server-index.ts';
import { renderThesisHosts, renderV1Hosts, UnknownMarkerError, V1_HOSTS_DEFAULT_LIMIT, V1_HOSTS_MAX_LIMIT, V1HostsSchema } from './hosts-view.ts';
import type { InventorySnapshot, ServerInventory } from './inventory.ts';
import { createAgentMetrics, PORT_STATES, SLA_STATES, type PortStateName, type ReconcilerCounters, type SlaStateName } from './metrics.ts';
import type { OrphanView } from './orphans.ts';
import type { StartupReason } from './startup.ts';

export const WELCOME_TEXT = 'Welcome to the Connectivity Manager Agent';

/** One port's enforcement state as the reconcilers report it (a `HostReconciler`'s `PortStatus` fits). */
export interface PortStatusView {
  portId: string;
  serverId: string;
  host: string;
  state: PortStateName;
  reason?: string;
  ovsPort?: string;
  /** Another writer fighting over the port (see drift.ts `ForeignWriter`). */
  contestedBy?: string;
  since: string;
  /** The rate the switch counts on the port now (VM's directions, bit/s). */
  observed?: { downloadBps: number; uploadBps: number; at: string; intervalS: number };
  observedError?: string;
  /** How the host caps uploads, and why. */
  upload?: { mechanism: string; reason: string };
}

/** What the app needs of the set of per-host reconcilers. */
export interface FleetView {
  status(): readonly PortStatusView[];
  /** Asks for a pass soon: on `host`, or on every host when undefined. */
  enqueue(host?: string): void;
  /** Cumulative counters per host (for /metrics). */
  metrics(): ReadonlyMap<string, ReconcilerCounters>;
  /** Pass durations (ms) per host since the previous call (for the duration histogram). */
  drainPassDurations?(): ReadonlyMap<string, readonly number[]>;
  /** OVSDB connection per host, its upload mechanism and OpenFlow connection (for /readyz). */
  ready(): readonly { host: string; connected: boolean; upload?: { mechanism: string; reason: string }; openflow?: 'connected' | 'disconnected' }[];
}

/** What the API shows of the agent cluster. */
export interface ClusterView {
  readonly agentId: string;
  /** Incarnation, live members, whether this replica's lease is current, the store's last error. */
  view(): MembershipView;
  /** The hosts this replica owns now. */
  owned(): readonly string[];
  /** Live replicas' ids. */
  members(): readonly string[];
  writable(): boolean;
  /** The owner of a host by the live set (undefined: no live replica). */
  ownerOf(host: string): string | undefined;
  /** Port states of hosts this replica does not own, from the store. */
  foreignPorts(): readonly PortStatusView[];
}

/** What the API shows of the guaranteed-rate controller (a `GuaranteeController` fits). */
export interface GuaranteeView {
  vm(serverId: string): VmGuaranteeView | undefined;
  vmViews(): readonly VmGuaranteeView[];
  hosts(): readonly HostGuaranteeView[];
  host(name: string): HostGuaranteeView | undefined;
  readonly stats: Readonly<RoundStats>;
}

export interface AgentAppDeps {
  inventory: {
    snapshot(): InventorySnapshot | undefined;
    /** Reads the cloud now (one refresh in flight at a time); used when a request names a server not seen yet. */
    refresh?(signal?: AbortSignal): Promise<InventorySnapshot>;
  };
  /** What the host's switch enforces per port, keyed by compute service host; undefined when not available. */
  enforcementView(host: string): HostEnforcementView | undefined;
  store: SlaStore;
  reconcilers: FleetView;
  /** The guaranteed-rate controller (allocations, violations, hosts' admission); absent when disabled. */
  guarantees?: GuaranteeView;
  /**
   * With several agent replicas: this replica's membership, the hosts it owns,
   * and the port states of the other replicas' hosts as they published them.
   */
  cluster?: ClusterView;
  auth: {
    tokens: readonly string[];
    /** Serve /metrics without a token. @default false */
    publicMetrics?: boolean;
    /** Validates a bearer token that is not in `tokens` (e.g. with Keystone); a rejection answers 503. */
    validate?: (token: string) => Promise<boolean | CallerIdentity>;
  };
  /** pino options; `false` disables logging. @default { level: 'info' } */
  logger?: LoggerOptions | false;
  /** One observed-rate series per port in /metrics. @default true */
  perPortRateMetrics?: boolean;
  /**
   * The agent's start-up while it is still bringing its dependencies up (store, OpenStack):
   * each dependency it waits for is a /readyz reason. Absent or empty: started.
   */
  startup?: { reasons(): readonly StartupReason[] };
  /**
   * Stored SLAs of servers gone from the cloud: with it, such a server is `orphaned` in
   * /v1/sla (and its summary) until its SLA is removed, instead of `error`.
   */
  orphans?: OrphanView;
  /**
   * The server ids with a stored SLA as the agent holds them in memory: what the
   * `cm_agent_slas` gauge counts at each scrape. Absent: read from the store.
   */
  slaServerIds?: () => Iterable<string>;
  /** A snapshot older than this makes /readyz fail, ms. @default 300000 */
  maxSnapshotAgeMs?: number;
  /** Serve HTTPS with this certificate chain and private key (PEM text); plain HTTP when absent. */
  https?: HttpsOptions;
  /** Body limit, bytes. @default 1 MiB */
  bodyLimit?: number;
  /** Slow and hostile clients (docs/operating.md, "HTTP limits"); missing ones are the defaults. */
  httpLimits?: Partial<HttpLimits>;
  now?: () => number;
}

// ---------------------------------------------------------------- schemas


const Rate = Type.Union([Type.String(), Type.Integer({ minimum: 0 })], { description: 'bit/s: an integer or tc notation ("100mbit")' });
const Size = Type.Union([Type.String(), Type.Integer({ minimum: 0 })], { description: 'bits: an integer or "96kbit"' });

const PEERS_DESCRIPTION =
  'Pair guarantees (pipe model), keyed by the peer\'s Nova server id: between this server and the peer, in each direction, at least `min` ' +
  'while both want it, on top of the hose guarantees (`download.min`, `upload.min`). At most 256; never the server itself.';

/** Request body of PUT /v1/servers/{id}/sla. Loose on purpose: validateSlaRequest gives the precise problems. */
const SlaRequestSchema = Type.Object(
  {
    download: Type.Optional(Type.Object({ min: Type.Optional(Rate), max: Type.Optional(Rate), burst: Type.Optional(Size) })),
    upload: Type.Optional(Type.Object({ min: Type.Optional(Rate), max: Type.Optional(Rate), burst: Type.Optional(Size) })),
    peers: Type.Optional(Type.Record(Type.String(), Type.Object({ min: Type.Optional(Rate) }), { description: PEERS_DESCRIPTION })),
  },
  {
    $id: 'SlaRequest',
    description:
      'Download = what the VM receives (HTB on its OVS port); upload = what it sends (OpenFlow meter or policer). ' +
      '`min` is a guarantee to or from anywhere (hose model); `peers` add guarantees between two servers (pipe model).',
  },
);

const SlaView = Type.Object(
  {
    download: Type.Optional(Type.Object({ min: Type.Optional(Type.Integer()), max: Type.Integer(), burst: Type.Optional(Type.Integer()) })),
    upload: Type.Optional(Type.Object({ min: Type.Optional(Type.Integer()), max: Type.Integer(), burst: Type.Optional(Type.Integer()) })),
    peers: Type.Optional(Type.Record(Type.String(), Type.Object({ min: Type.Integer() }), { description: `${PEERS_DESCRIPTION} Lower-case ids, in id order; absent when none.` })),
  },
  { $id: 'Sla', description: 'An SLA in bit/s (rates) and bits (bursts); a valid PUT body as is' },
);

const StoredSlaSchema = Type.Object(
  {
    server_id: Type.String(),
    sla: Type.Ref('Sla'),
    host: Type.Union([Type.String(), Type.Null()]),
    source: Type.Union([Type.Literal('v1'), Type.Literal('thesis')]),
    version: Type.Integer(),
    created_at: Type.String(),
    updated_at: Type.String(),
  },
  { $id: 'StoredSla' },
);

const ServerIdParams = Type.Object({ id: Type.String({ description: 'Nova server UUID' }) });

const PortEnforcement = Type.Object({
  port_id: Type.String(),
  host: Type.Union([Type.String(), Type.Null()]),
  ovs_port: Type.Union([Type.String(), Type.Null()]),
  state: Type.Union(PORT_STATES.map((s) => Type.Literal(s))),
  reason: Type.Union([Type.String(), Type.Null()]),
  contested_by: Type.Union([Type.String(), Type.Null()], {
    description: 'Another writer that keeps rewriting this port or owns its QoS: neutron-openvswitch-agent, ovn-controller, opendaylight or unknown',
  }),
  since: Type.Union([Type.String(), Type.Null()]),
  upload_mechanism: Type.Union([Type.String(), Type.Null()], {
    description: 'How the host caps this port\'s upload: meter (OpenFlow meter), policing (ingress policing, needs act_police) or undecided; upload_reason says why',
  }),
  upload_reason: Type.Union([Type.String(), Type.Null()]),
  observed: Type.Union(
    [
      Type.Object({
        download_bps: Type.Number({ description: 'what the switch sent to the VM port over the last sample interval, bit/s' }),
        upload_bps: Type.Number({ description: 'what the switch received from the VM port, bit/s' }),
        at: Type.String({ description: 'time of the later sample' }),
        interval_s: Type.Number(),
      }),
      Type.Null(),
    ],
    { description: 'Live rate from the switch\'s OpenFlow port counters; null with observed_error saying why' },
  ),
  observed_error: Type.Union([Type.String(), Type.Null()]),
});

const GuaranteeDirection = Type.Union(
  [
    Type.Object({
      guarantee_bps: Type.Number({ description: 'the VM\'s guaranteed rate in this direction (hose model)' }),
      allocated_bps: Type.Number({ description: 'sum of the rates the controller gives the VM\'s active pairs now' }),
      delivered_bps: Type.Number({ description: 'what those pairs carried in the last controller round' }),
      demand: Type.Boolean({ description: 'the VM wants at least its guarantee now' }),
      violation_seconds: Type.Number({ description: 'seconds (since the agent started) in which it wanted its guarantee and got less than 95 % of it' }),
    }),
    Type.Null(),
  ],
  { description: 'null: no guarantee in this direction' },
);

const GuaranteeStatus = Type.Union(
  [
    Type.Object({
      download: GuaranteeDirection,
      upload: GuaranteeDirection,
      pairs: Type.Integer({ description: 'VM pairs (either end) the controller limits' }),
      host_overcommitted: Type.Union([Type.String(), Type.Null()], { description: 'why the guarantees of the VM\'s host cannot all hold, when they cannot' }),
    }),
    Type.Null(),
  ],
  { description: 'The guaranteed-rate controller\'s view of the VM; null when the controller is off or has not seen the VM yet' },
);

const SlaStatusSchema = Type.Object(
  {
    items: Type.Array(
      Type.Object({
        server_id: Type.String(),
        server_name: Type.Union([Type.String(), Type.Null()]),
        host: Type.Union([Type.String(), Type.Null()]),
        version: Type.Integer(),
        desired: Type.Ref('Sla'),
        state: Type.Union(SLA_STATES.map((s) => Type.Literal(s)), {
          description: 'The worst state of its ports; orphaned: the server is not in the cloud inventory and its SLA is removed after sla.orphan_grace_ms',
        }),
        reason: Type.Union([Type.String(), Type.Null()]),
        ports: Type.Array(PortEnforcement),
        guarantee: GuaranteeStatus,
      }),
    ),
    summary: Type.Record(Type.String(), Type.Integer()),
  },
  { $id: 'SlaStatus' },
);

const AnyObject = Type.Object({}, { additionalProperties: true });

// ---------------------------------------------------------------- helpers

function storedView(s: StoredSla): Record<string, unknown> {
  return {
    server_id: s.serverId,
    sla: slaRequestBody(s.sla),
    host: s.host ?? null,
    source: s.source,
    version: s.version,
    created_at: s.createdAt,
    updated_at: s.updatedAt,
  };
}

const SEVERITY: Record<PortStateName, number> = { applied: 0, pending: 1, drifted: 2, error: 3 };

// ---------------------------------------------------------------- the app

export async function buildAgentApp(deps: AgentAppDeps): Promise<FastifyInstance> {
  const now = deps.now ?? Date.now;
  const maxAgeMs = deps.maxSnapshotAgeMs ?? 300_000;

  const portStatuses = (): readonly PortStatusView[] => (deps.cluster ? [...deps.reconcilers.status(), ...deps.cluster.foreignPorts()] : deps.reconcilers.status());

  const metrics = createAgentMetrics({
    reconcilerMetrics: () => deps.reconcilers.metrics(),
    drainPassDurations: () => deps.reconcilers.drainPassDurations?.() ?? new Map(),
    portStates: () => deps.reconcilers.status(),
    openflowStates: () => deps.reconcilers.ready(),
    perPortRates: deps.perPortRateMetrics ?? true,
    inventoryAgeSeconds: () => {
      const s = deps.inventory.snapshot();
      return s ? Math.max(0, (now() - Date.parse(s.refreshedAt)) / 1000) : undefined;
    },
    inventoryStale: () => deps.inventory.snapshot()?.stale ?? true,
    // The same join as GET /v1/sla's summary, so that the gauge and the API never disagree.
    slaStates: async () => {
      // No series while starting (the store may not be open, the SLAs not loaded): zeros would be a claim.
      if ((deps.startup?.reasons().length ?? 0) > 0) return undefined;
      const ids = deps.slaServerIds ? [...deps.slaServerIds()] : (await deps.store.list()).map((s) => s.serverId);
      return slaSummary(ids, deps.inventory.snapshot(), portStatuses(), deps.orphans);
    },
    ...(deps.orphans ? { slaOrphansRemoved: () => deps.orphans?.removed ?? 0 } : {}),
    ...(deps.guarantees ? { guarantees: deps.guarantees } : {}),
    ...(deps.cluster ? { cluster: deps.cluster } : {}),
  });

  const app = await createServiceApp({
    title: 'Connectivity Manager Agent',
    description: 'Per-VM bandwidth SLAs on Open vSwitch; thesis-compatible and /v1 API.',
    realm: 'cm-agent',
    tags: [
      { name: 'thesis', description: 'The original agent API (2015), kept for its clients' },
      { name: 'v1', description: 'The modern API' },
      { name: 'ops', description: 'Health, readiness, metrics' },
    ],
    auth: {
      tokens: deps.auth.tokens,
      ...(deps.auth.validate ? { validate: deps.auth.validate } : {}),
      open: ['/healthz', '/readyz'],
    },
    schemas: [SlaView, SlaRequestSchema, StoredSlaSchema, SlaStatusSchema],
    ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    ...(deps.https ? { https: deps.https } : {}),
    ...(deps.bodyLimit === undefined ? {} : { bodyLimit: deps.bodyLimit }),
    ...(deps.httpLimits === undefined ? {} : { limits: deps.httpLimits }),
    metrics: { registry: metrics.registry, prefix: 'cm_agent', public: deps.auth.publicMetrics === true },
  });

  const snapshotOr503 = (): InventorySnapshot => {
    const s = deps.inventory.snapshot();
    if (!s) throw new ProblemError(503, 'inventory-unavailable', 'The agent has not read the cloud inventory yet; retry shortly', { headers: { 'retry-after': '5' } });
    return s;
  };
  const serverOf = (s: InventorySnapshot, id: string): ServerInventory | undefined => serverIndex(s).get(id.toLowerCase());
  /**
   * A server booted after the last refresh is unknown until the next one (every
   * 30 s by default): re-read the cloud once before saying "unknown server", but
   * not more than once a second, so unknown ids cannot hammer OpenStack.
   */
  let lastOnDemandRefresh = 0;
  const freshSnapshotFor = async (ids: readonly string[]): Promise<InventorySnapshot> => {
    const snapshot = snapshotOr503();
    if (!deps.inventory.refresh || ids.every((id) => serverOf(snapshot, id) !== undefined)) return snapshot;
    const now = Date.now();
    if (now - lastOnDemandRefresh < 1000) return snapshot;
    lastOnDemandRefresh = now;
    try {
      return await deps.inventory.refresh(AbortSignal.timeout(15_000));
    } catch {
      return snapshotOr503();
    }
  };

  // ------------------------------------------------------------ ops

  app.get('/healthz', { schema: { operationId: 'getHealth', tags: ['ops'], security: [], summary: 'The process is up' } }, () => ({ status: 'ok' }));

  app.get(
    '/readyz',
    {
      schema: {
        operationId: 'getReadiness',
        tags: ['ops'],
        security: [],
        summary: 'Started (dependencies reached), inventory fresh, every OVSDB connected, a live cluster member',
      },
    },
    async (_request, reply) => {
      const reasons: { host: string | null; reason: string; dependency?: string }[] = [];
      // Start-up first: while the agent waits for a dependency, that is the reason that matters.
      for (const r of deps.startup?.reasons() ?? []) reasons.push({ host: null, dependency: r.dependency, reason: r.reason });
      const s = deps.inventory.snapshot();
      if (!s) reasons.push({ host: null, reason: 'no inventory snapshot yet' });
      else {
        if (s.stale) reasons.push({ host: null, reason: `inventory is stale: ${s.lastError?.message ?? 'the latest refresh failed'}` });
        const age = now() - Date.parse(s.refreshedAt);
        if (age > maxAgeMs) reasons.push({ host: null, reason: `inventory is ${Math.round(age / 1000)} s old (limit ${Math.round(maxAgeMs / 1000)} s)` });
      }
      const hosts = deps.reconcilers.ready();
      for (const h of hosts) if (!h.connected) reasons.push({ host: h.host, reason: 'OVSDB not connected' });
      const cluster = deps.cluster?.view();
      if (cluster && !cluster.writable) {
        reasons.push({ host: null, reason: `not a live member of the agent cluster${cluster.lastError === null ? '' : `: ${cluster.lastError}`}` });
      }
      // Over-committed guarantees are the operator's to fix, not a reason to take the agent out of service: reported, not failing.
      const warnings: { host: string; reason: string }[] = [];
      for (const g of deps.guarantees?.hosts() ?? []) {
        if (g.overcommitted !== null) warnings.push({ host: g.host, reason: `guarantees over-committed: ${g.overcommitted}` });
        if (g.error !== null) warnings.push({ host: g.host, reason: `guarantees: ${g.error}` });
      }
      const body = {
        ready: reasons.length === 0,
        warnings,
        ...(cluster && deps.cluster
          ? {
              cluster: {
                agent_id: cluster.agentId,
                incarnation: cluster.incarnation,
                lease_current: cluster.writable,
                members: cluster.members,
                owned_hosts: deps.cluster.owned().length,
              },
            }
          : {}),
        hosts: hosts.map((h) => ({
          host: h.host,
          ovsdb: h.connected ? 'connected' : 'disconnected',
          ...(h.openflow === undefined ? {} : { openflow: h.openflow }),
          ...(h.upload === undefined ? {} : { upload: h.upload }),
        })),
        reasons,
      };
      if (reasons.length > 0) {
        return reply
          .code(503)
          .type(PROBLEM_CONTENT_TYPE)
          .send(JSON.stringify({ ...new ProblemError(503, 'not-ready', reasons.map((r) => (r.host ? `${r.host}: ${r.reason}` : r.reason)).join('; ')).body('/readyz'), ...body }));
      }
      return body;
    },
  );


  // ------------------------------------------------------------ thesis

  app.get(
    '/',
    { schema: { operationId: 'getWelcome', tags: ['thesis'], summary: 'The original welcome text', response: { 200: Type.String() } } },
    async (_request, reply) => reply.type('text/plain; charset=utf-8').send(WELCOME_TEXT),
  );

  app.get(
    '/hosts',
    {
      schema: {
        operationId: 'getThesisHosts',
        tags: ['thesis'],
        summary: 'Hypervisors with their servers and queue-0 rates (the original shape)',
        response: { 200: AnyObject, ...problemResponses(401, 503) },
      },
    },
    () => renderThesisHosts(snapshotOr503(), (host) => deps.enforcementView(host)),
  );

  await app.register((thesis, _opts, registered) => {
    // The original read the raw body whatever its Content-Type (curl -d sends form-urlencoded).
    thesis.removeAllContentTypeParsers();
    thesis.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
      const text = typeof body === 'string' ? body : body.toString('utf8');
      if (text.trim() === '') {
        done(new ProblemError(400, 'invalid-json', 'This POST method requires a valid JSON body', { errors: [{ pointer: '', message: 'the body is empty' }] }), undefined);
        return;
      }
      try {
        done(null, JSON.parse(text));
      } catch (e) {
        done(new ProblemError(400, 'invalid-json', 'This POST method requires a valid JSON body', { errors: [{ pointer: '', message: (e as Error).message }] }), undefined);
      }
    });
    thesis.post(
      '/qoses',
      {
        schema: {
          operationId: 'postThesisQoses',
          tags: ['thesis'],
          summary: 'Set min/max rates per server: {"<host>": {"<server uuid>": {"qos": {"min-rate", "max-rate"}}}}',
          description: 'Answers {"<server uuid>": {"min-rate", "max-rate"} | 0}; 0 = server unknown. Nothing is stored when any entry is invalid (400).',
          body: AnyObject,
          response: { 200: Type.Record(Type.String(), Type.Union([Type.Literal(0), AnyObject])), ...problemResponses(400, 401, 503) },
        },
      },
      async (request) => {
        const parsed = parseThesisQosBody(request.body);
        if (parsed.problems.length > 0) throw validationProblem(`${parsed.problems.length} problem(s) in the QoS request; nothing was applied`, parsed.problems);
        const snapshot = await freshSnapshotFor(parsed.requests.map((r) => r.serverId));
        const results: ThesisQosResult[] = [];
        const touched = new Set<string>();
        for (const r of parsed.requests) {
          const server = serverOf(snapshot, r.serverId);
          if (!server) {
            results.push({ serverId: r.serverId, applied: undefined });
            continue;
          }
          // The inventory's compute host is authoritative (the request's key is a hypervisor hostname, maybe stale).
          const host = server.host ?? r.host;
          const put = await deps.store.put(server.id, r.sla, { host, source: 'thesis' });
          if (put.changed) touched.add(host);
          results.push({ serverId: r.serverId, applied: r.echo });
        }
        for (const host of touched) deps.reconcilers.enqueue(host);
        return thesisQosResponse(results);
      },
    );
    registered();
  });

  // ------------------------------------------------------------ v1

  app.get(
    '/v1/hosts',
    {
      schema: {
        operationId: 'listHosts',
        tags: ['v1'],
        summary: 'Compute hosts, capacity, servers, ports and what each switch enforces',
        description:
          'Served from the cached inventory. `Cache-Control: no-cache` re-reads the cloud first (a placement decision needs current capacity; concurrent re-reads share one refresh). ' +
          `Paged by host name as Nova pages its lists: at most \`limit\` hosts (default ${String(V1_HOSTS_DEFAULT_LIMIT)}, at most ${String(V1_HOSTS_MAX_LIMIT)}) after the host named \`marker\`; ` +
          '`hosts_links` holds the `next` page while more follow. Unplaced servers are on the first page. ' +
          'Per host, `openflow` is this replica\'s OpenFlow connection to the bridge and `guarantees` the guaranteed-rate controller\'s view (null when not applicable).',
        querystring: Type.Object({
          limit: Type.Optional(Type.Integer({ minimum: 1, maximum: V1_HOSTS_MAX_LIMIT, description: 'hosts per page' })),
          marker: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'the last host of the previous page' })),
        }),
        response: { 200: V1HostsSchema, ...problemResponses(400, 401, 503) },
      },
    },
    async (request) => {
      const page = { limit: request.query.limit ?? V1_HOSTS_DEFAULT_LIMIT, ...(request.query.marker === undefined ? {} : { marker: request.query.marker }) };
      const cacheControl = request.headers['cache-control'];
      let snapshot = snapshotOr503();
      if (typeof cacheControl === 'string' && /\bno-cache\b/i.test(cacheControl) && deps.inventory.refresh) {
        try {
          snapshot = await deps.inventory.refresh(AbortSignal.timeout(15_000));
        } catch (error) {
          throw new ProblemError(503, 'inventory-unavailable', `Could not re-read the cloud: ${(error as Error).message}`, { headers: { 'retry-after': '5' } });
        }
      }
      const cluster = deps.cluster;
      // The fleet holds this replica's hosts only; a host without an OpenFlow endpoint has no `openflow`.
      const openflow = new Map(deps.reconcilers.ready().map((h) => [h.host, h.openflow]));
      const guarantees = deps.guarantees;
      try {
        return renderV1Hosts(
          snapshot,
          (host) => deps.enforcementView(host),
          cluster ? { self: cluster.agentId, ownerOf: (host) => cluster.ownerOf(host) } : undefined,
          page,
          { openflow: (host) => openflow.get(host), ...(guarantees ? { guarantees: (host: string) => guarantees.host(host) } : {}) },
        );
      } catch (error) {
        if (error instanceof UnknownMarkerError) throw validationProblem('Unknown marker', [{ pointer: '/query/marker', message: error.message }]);
        throw error;
      }
    },
  );

  const checkId = (id: string): string => {
    if (!isUuidLike(id)) throw validationProblem('The server id must be a UUID', [{ pointer: '/params/id', message: `"${id}" is not a server UUID` }]);
    return id.toLowerCase();
  };

  app.put(
    '/v1/servers/:id/sla',
    {
      schema: {
        operationId: 'putServerSla',
        tags: ['v1'],
        summary: 'Set the SLA of a server (idempotent)',
        description: '201 when created, 200 when replaced or unchanged (the version only moves on a change).',
        params: ServerIdParams,
        body: SlaRequestSchema,
        response: { 200: Type.Ref('StoredSla'), 201: Type.Ref('StoredSla'), ...problemResponses(400, 401, 404, 503) },
      },
    },
    async (request, reply) => {
      const id = checkId(request.params.id);
      // The id lets the validator refuse the server as its own peer.
      const v = validateSlaRequest(request.body, { serverId: id });
      if ('problems' in v) throw validationProblem(`${v.problems.length} problem(s) in the SLA`, v.problems);
      const server = serverOf(await freshSnapshotFor([id]), id);
      if (!server) throw new ProblemError(404, 'unknown-server', `Server ${id} is not in the cloud inventory`);
      const result = await deps.store.put(id, v.sla, { ...(server.host ? { host: server.host } : {}), source: 'v1' });
      if (result.changed) deps.reconcilers.enqueue(server.host ?? undefined);
      const stored = await deps.store.get(id);
      if (!stored) throw new Error(`the SLA of ${id} vanished right after it was stored`);
      void reply.code(result.created ? 201 : 200);
      if (result.created) void reply.header('location', `/v1/servers/${id}/sla`);
      return storedView(stored);
    },
  );

  app.get(
    '/v1/servers/:id/sla',
    {
      schema: {
        operationId: 'getServerSla',
        tags: ['v1'],
        summary: 'The desired SLA of a server',
        params: ServerIdParams,
        response: { 200: Type.Ref('StoredSla'), ...problemResponses(400, 401, 404) },
      },
    },
    async (request) => {
      const id = checkId(request.params.id);
      const stored = await deps.store.get(id);
      if (!stored) throw new ProblemError(404, 'not-found', `Server ${id} has no SLA`);
      return storedView(stored);
    },
  );

  app.delete(
    '/v1/servers/:id/sla',
    {
      schema: {
        operationId: 'deleteServerSla',
        tags: ['v1'],
        summary: 'Remove the SLA of a server (its switch settings are removed)',
        params: ServerIdParams,
        response: { 204: Type.Null({ description: 'Deleted' }), ...problemResponses(400, 401, 404) },
      },
    },
    async (request, reply) => {
      const id = checkId(request.params.id);
      const stored = await deps.store.get(id);
      if (!(await deps.store.delete(id))) throw new ProblemError(404, 'not-found', `Server ${id} has no SLA`);
      deps.reconcilers.enqueue(stored?.host);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/v1/sla',
    {
      schema: {
        operationId: 'listSlaStatus',
        tags: ['v1'],
        summary: 'Desired vs applied, per server and port',
        description: '`?server_id=A,B` limits the answer to those servers (what a caller waiting for its own servers needs), in the order given; unknown ones are left out.',
        querystring: Type.Object({ server_id: Type.Optional(Type.String({ description: 'comma-separated server UUIDs' })) }),
        response: { 200: Type.Ref('SlaStatus'), ...problemResponses(400, 401) },
      },
    },
    async (request) => {
      const wanted = request.query.server_id?.split(',').filter((id) => id !== '').map(checkId);
      const stored = wanted === undefined ? await deps.store.list() : (await Promise.all(wanted.map((id) => deps.store.get(id)))).filter((x) => x !== undefined);
      return slaStatus(stored, deps.inventory.snapshot(), portStatuses(), deps.guarantees, deps.orphans);
    },
  );

  return app;
}


interface PortItem {
  port_id: string;
  host: string | null;
  ovs_port: string | null;
  state: PortStateName;
  reason: string | null;
  contested_by: string | null;
  since: string | null;
  upload_mechanism: string | null;
  upload_reason: string | null;
  observed: { download_bps: number; upload_bps: number; at: string; interval_s: number } | null;
  observed_error: string | null;
}

/** One server's state as /v1/sla reports it; `ports` only when asked for (the metrics need the state alone). */
function judgeServer(
  serverId: string,
  snapshot: InventorySnapshot | undefined,
  byPort: ReadonlyMap<string, PortStatusView>,
  orphans: OrphanView | undefined,
  withPorts: boolean,
): { state: SlaStateName; reason: string | null; server: ServerInventory | undefined; ports: PortItem[] } {
  const server = snapshot === undefined ? undefined : serverIndex(snapshot).get(serverId.toLowerCase());
  if (!snapshot) return { state: 'pending', reason: 'the cloud inventory has not been read yet', server, ports: [] };
  if (!server) {
    if (!orphans) return { state: 'error', reason: 'the server is not in the cloud inventory (deleted?)', server, ports: [] };
    const since = orphans.absentSince(serverId);
    const grace = Math.round(orphans.graceMs / 1000);
    return {
      state: 'orphaned',
      reason:
        since === undefined
          ? `the server is not in the cloud inventory (deleted?); its SLA is removed once it has been absent for ${String(grace)} s`
          : `the server has not been in the cloud inventory since ${new Date(since).toISOString()} (deleted?); its SLA is removed ${String(grace)} s after that`,
      server,
      ports: [],
    };
  }
  if (server.ports.length === 0) return { state: 'error', reason: 'the server has no Neutron port', server, ports: [] };
  let worst: { state: PortStateName; reason: string | null } | undefined;
  const ports: PortItem[] = [];
  for (const p of server.ports) {
    const st = byPort.get(p.id);
    const state: PortStateName = st ? st.state : 'pending';
    const reason = st ? (st.reason ?? null) : p.bindingHost === '' ? 'the port is not bound to a host yet' : 'not reconciled yet';
    if (!worst || SEVERITY[state] > SEVERITY[worst.state]) worst = { state, reason };
    if (!withPorts) continue;
    ports.push(
      st
        ? {
            port_id: p.id,
            host: st.host,
            ovs_port: st.ovsPort ?? null,
            state,
            reason,
            contested_by: st.contestedBy ?? null,
            since: st.since,
            upload_mechanism: st.upload?.mechanism ?? null,
            upload_reason: st.upload?.reason ?? null,
            observed: st.observed
              ? { download_bps: Math.round(st.observed.downloadBps), upload_bps: Math.round(st.observed.uploadBps), at: st.observed.at, interval_s: st.observed.intervalS }
              : null,
            observed_error: st.observed ? null : (st.observedError ?? null),
          }
        : {
            port_id: p.id,
            host: p.bindingHost === '' ? null : p.bindingHost,
            ovs_port: null,
            state,
            reason,
            contested_by: null,
            since: null,
            upload_mechanism: null,
            upload_reason: null,
            observed: null,
            observed_error: 'not reconciled yet',
          },
    );
  }
  return { state: worst?.state ?? 'pending', reason: worst?.reason ?? null, server, ports };
}

/** The states /v1/sla's summary counts (`orphaned` only where orphans are tracked). */
function summaryStates(orphans: OrphanView | undefined): readonly SlaStateName[] {
  return orphans ? SLA_STATES : PORT_STATES;
}

/** /v1/sla's `summary` for these servers: servers by state. Pure. */
export function slaSummary(
  serverIds: Iterable<string>,
  snapshot: InventorySnapshot | undefined,
  statuses: readonly PortStatusView[],
  orphans?: OrphanView,
): Record<string, number> {
  const byPort = new Map(statuses.map((s) => [s.portId, s]));
  const summary: Record<string, number> = Object.fromEntries(summaryStates(orphans).map((s) => [s, 0]));
  for (const id of serverIds) {
    const { state } = judgeServer(id, snapshot, byPort, orphans, false);
    summary[state] = (summary[state] ?? 0) + 1;
  }
  return summary;
}

/** Joins desired SLAs, the inventory's ports and the reconcilers' port states. Pure. */
export function slaStatus(
  stored: readonly StoredSla[],
  snapshot: InventorySnapshot | undefined,
  statuses: readonly PortStatusView[],
  guarantees?: GuaranteeView,
  orphans?: OrphanView,
): Record<string, unknown> {
  const byPort = new Map(statuses.map((s) => [s.portId, s]));
  const summary: Record<string, number> = Object.fromEntries(summaryStates(orphans).map((s) => [s, 0]));
  const items = stored.map((s) => {
    const { state, reason, server, ports } = judgeServer(s.serverId, snapshot, byPort, orphans, true);
    summary[state] = (summary[state] ?? 0) + 1;
    return {
      server_id: s.serverId,
      server_name: server?.name ?? null,
      host: server?.host ?? s.host ?? null,
      version: s.version,
      desired: slaRequestBody(s.sla),
      state,
      reason,
      ports,
      guarantee: guaranteeStatus(guarantees, s.serverId),
    };
  });
  return { items, summary };
}

function guaranteeStatus(guarantees: GuaranteeView | undefined, serverId: string): Record<string, unknown> | null {
  const vm = guarantees?.vm(serverId);
  if (!guarantees || !vm) return null;
  const direction = (d: VmGuaranteeView['download']): Record<string, unknown> | null =>
    d === null
      ? null
      : {
          guarantee_bps: d.guaranteeBps,
          allocated_bps: Math.round(d.allocatedBps),
          delivered_bps: Math.round(d.deliveredBps),
          demand: d.demand,
          violation_seconds: Math.round(d.violationSeconds * 10) / 10,
        };
  return { download: direction(vm.download), upload: direction(vm.upload), pairs: vm.pairs, host_overcommitted: guarantees.host(vm.host)?.overcommitted ?? null };
}

export type { FastifyInstance, FastifyReply };
