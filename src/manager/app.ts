/**
 * The Connectivity Manager's HTTP API: topologies in, placement plans with
 * their reasons out (dry run), deployments followed through a state machine,
 * and the thesis's `POST /topologies`. Built on the shared service base
 * (auth, request ids, problem+json, OpenAPI at /docs).
 */
import type { FastifyReply } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Type } from 'typebox';
import YAML from 'yaml';
import { ProblemError } from '../http/problem.ts';
import { createServiceApp, type HttpsOptions, type ServiceApp } from '../http/service.ts';
import type { PlacementPlan, PlacementStrategy, TrafficDemand } from '../placement/types.ts';
import { StoreError, TOPOLOGY_STATES, type ManagerStore, type Topology as TopologyRecord, type TopologyEvent } from '../store/index.ts';
import { TopologyError } from '../topology/source.ts';
import type { SourceFile } from '../topology/types.ts';
import { plannedHostOf, type Deployer, type StoredPlan, type UnitRecord } from './deployer.ts';
import type { TopologyRequest } from './planner.ts';
import { registerDashboard } from './dashboard.ts';

export interface ServiceCatalog {
  /** Service-type documents (thesis JSON) known to the manager, by service_type. */
  list(): SourceFile[];
  add(file: SourceFile): void;
}

export interface ManagerAppDeps {
  store: ManagerStore;
  deployer: Deployer;
  catalog: ServiceCatalog;
  defaultStrategy: PlacementStrategy;
  /** The project topologies are deployed into (the manager's cloud credentials). */
  projectId: string;
  auth: { tokens: readonly string[]; validate?: (token: string) => Promise<boolean>; publicMetrics?: boolean };
  /** Readiness of what the manager depends on (agent, OpenStack); a reason per failure. */
  ready(): Promise<string[]>;
  logger?: false | { level: string };
  https?: HttpsOptions;
  /** The dashboard at /ui and the routes it reads (hosts, live SLAs); absent: neither. */
  dashboard?: { uiDir: string | undefined; slaIntervalMs?: number };
}

const STRATEGIES = ['single-host', 'traffic-aware', 'nova'] as const;
const Doc = Type.Union([Type.String(), Type.Object({}, { additionalProperties: true })]);
const TopologyBody = Type.Object(
  {
    topology: Type.Union([Type.String({ description: 'The topology file as text (JSON or YAML); line numbers in errors refer to it' }), Type.Object({}, { additionalProperties: true })]),
    topology_file: Type.Optional(Type.String({ description: 'Name shown in errors (default "topology")' })),
    services: Type.Optional(Type.Array(Doc, { description: 'Thesis service-type documents; default: the manager catalog' })),
    strategy: Type.Optional(Type.Union(STRATEGIES.map((s) => Type.Literal(s)))),
  },
  { $id: 'TopologyRequest', additionalProperties: false },
);

const IdParams = Type.Object({ id: Type.String() });

function fileOf(doc: unknown, name: string): SourceFile {
  return { name, text: typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2) };
}

/** A file with a top-level `services:` is the single-file YAML format; otherwise the thesis's topology document. */
function formatOf(file: SourceFile): 'yaml' | 'thesis' {
  try {
    const parsed: unknown = YAML.parse(file.text);
    return typeof parsed === 'object' && parsed !== null && 'services' in parsed ? 'yaml' : 'thesis';
  } catch {
    return 'thesis';
  }
}

export function planView(plan: PlacementPlan): Record<string, unknown> {
  return plan.feasible
    ? {
        feasible: true,
        strategy: plan.strategy,
        hosts: plan.hosts,
        assignments: plan.assignments,
        cross_host_bps: plan.crossHostBps,
        uplink_bps: plan.uplinkBps,
        explanation: plan.explanation,
      }
    : { feasible: false, strategy: plan.strategy, reasons: plan.reasons, explanation: plan.explanation };
}

function eventView(e: TopologyEvent): Record<string, unknown> {
  return { seq: e.seq, at: e.at, state: e.state, from_state: e.fromState, message: e.message, ...(e.details === null || e.details === undefined ? {} : { details: e.details }) };
}

/** A demand's two units and whether the plan puts them on different hosts (then it crosses both hosts' uplinks). */
export function demandViews(demands: readonly TrafficDemand[], plan: StoredPlan | null): Record<string, unknown>[] {
  const placement = plan?.placement;
  const hostOf = (unit: string): string | null | undefined => (placement?.feasible ? placement.assignments[unit] : undefined);
  return demands.map((d) => {
    const a = hostOf(d.a);
    const b = hostOf(d.b);
    return { between: [d.a, d.b], guaranteed_bps: d.guaranteedBps, crosses_uplink: a !== undefined && b !== undefined && a !== null && b !== null && a !== b };
  });
}

export function topologyView(t: TopologyRecord, events?: readonly TopologyEvent[], demands?: readonly TrafficDemand[]): Record<string, unknown> {
  const plan = t.plan as StoredPlan | null;
  return {
    id: t.id,
    name: t.name,
    state: t.state,
    strategy: t.strategy,
    placement: plan ? { ...planView(plan.placement), planned_at: plan.plannedAt } : null,
    units: (t.units as UnitRecord[]).map((u) => ({
      name: u.name,
      service_instance: u.serviceInstance,
      sla_class: u.slaClass,
      planned_host: plannedHostOf(plan, u.name),
      host: u.host,
      server_id: u.serverId,
      sla_state: u.slaState,
    })),
    stack: { name: t.stackName, id: t.stackId },
    error: t.error,
    attempts: t.attempts,
    created_at: t.createdAt,
    updated_at: t.updatedAt,
    links: { self: `/v1/topologies/${t.id}` },
    ...(demands ? { demands: demandViews(demands, plan) } : {}),
    ...(events ? { events: events.map(eventView) } : {}),
  };
}

function topologyProblem(error: TopologyError): ProblemError {
  return new ProblemError(422, 'invalid-topology', `${String(error.issues.length)} problem(s) in the topology documents:\n${error.message}`, {
    errors: error.issues.map((i) => ({ pointer: `${i.file}${i.line === null ? '' : `:${String(i.line)}:${String(i.column ?? 1)}`} ${i.path}`, message: i.message })),
    extensions: { issues: error.issues },
  });
}

const SLUG = /[^a-z0-9-]+/g;

/** Whether two submissions are the same request: the topology document the client sent, its format and strategy. */
function sameRequest(a: TopologyRequest, b: TopologyRequest): boolean {
  return a.format === b.format && a.strategy === b.strategy && a.files[0]?.text === b.files[0]?.text && a.files[0]?.name === b.files[0]?.name;
}

export async function buildManagerApp(deps: ManagerAppDeps): Promise<ServiceApp> {
  const registry = new Registry();
  const planDuration = new Histogram({
    name: 'cm_manager_plan_duration_seconds',
    help: 'Reading the cloud and planning a topology (dry runs and submissions)',
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  const transitions = new Counter({
    name: 'cm_manager_transitions_total',
    help: 'State changes made by this manager, by state entered',
    labelNames: ['to'] as const,
    registers: [registry],
  });
  const toActive = new Histogram({
    name: 'cm_manager_deploy_duration_seconds',
    help: 'From submission to ACTIVE (placed, deployed through Heat, every SLA applied on the switches)',
    buckets: [1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800],
    registers: [registry],
  });
  deps.deployer.onTransition((e) => {
    transitions.inc({ to: e.to });
    if (e.to === 'ACTIVE') toActive.observe(Math.max(0, (e.at - Date.parse(e.createdAt)) / 1000));
  });
  const refused = new Counter({ name: 'cm_manager_topologies_refused_total', help: 'Submissions refused, by reason', labelNames: ['reason'] as const, registers: [registry] });
  new Gauge({
    name: 'cm_manager_topologies',
    help: 'Topologies by state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect(this: Gauge<'state'>) {
      for (const [state, n] of Object.entries(await deps.store.countByState())) this.set({ state }, n);
    },
  });

  const app = await createServiceApp({
    title: 'Connectivity Manager',
    description: 'Topologies of VMs placed where their traffic is cheapest, deployed through Heat, with enforced bandwidth SLAs.',
    realm: 'cm-manager',
    tags: [
      { name: 'v1', description: 'Plans and topologies' },
      { name: 'thesis', description: "The thesis's Elastic Media Manager API" },
      { name: 'ops', description: 'Health, readiness, metrics' },
    ],
    auth: {
      tokens: deps.auth.tokens,
      ...(deps.auth.validate ? { validate: deps.auth.validate } : {}),
      // The dashboard's page and assets hold no cloud data; what it shows comes from the API with the token.
      open: ['/healthz', '/readyz', ...(deps.dashboard ? ['/ui', '/ui/', '/ui/*'] : [])],
    },
    schemas: [TopologyBody],
    ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    ...(deps.https ? { https: deps.https } : {}),
    bodyLimit: 4 * 1024 * 1024,
    metrics: { registry, prefix: 'cm_manager', public: deps.auth.publicMetrics === true },
  });

  const requestOf = (body: { topology: unknown; topology_file?: string; services?: unknown[]; strategy?: PlacementStrategy }): TopologyRequest => {
    const topologyFile = fileOf(body.topology, body.topology_file ?? 'topology');
    const format = body.services === undefined ? formatOf(topologyFile) : 'thesis';
    const services = format === 'yaml' ? [] : body.services === undefined ? deps.catalog.list() : body.services.map((s, i) => fileOf(s, `services[${String(i)}]`));
    return { format, files: [topologyFile, ...services], strategy: body.strategy ?? deps.defaultStrategy };
  };

  const plan = async (request: TopologyRequest) => {
    const end = planDuration.startTimer();
    try {
      const planned = await deps.deployer.plan(request);
      if (planned.topology.units.length === 0) {
        refused.inc({ reason: 'invalid' });
        // `def: 0` everywhere would deploy an empty stack and call it ACTIVE.
        throw new ProblemError(422, 'invalid-topology', `${planned.topology.name} has no units: every service instance has size.def 0`, {
          errors: [{ pointer: '/body/topology', message: 'at least one unit (a service instance with size.def ≥ 1)' }],
        });
      }
      return planned;
    } catch (error) {
      if (error instanceof ProblemError) throw error;
      if (error instanceof TopologyError) {
        refused.inc({ reason: 'invalid' });
        throw topologyProblem(error);
      }
      throw new ProblemError(502, 'upstream', `Could not read the cloud to plan: ${(error as Error).message}`);
    } finally {
      end();
    }
  };

  const submit = async (request: TopologyRequest, idempotencyKey: string | undefined, reply: FastifyReply) => {
    const planned = await plan(request);
    if (!planned.plan.feasible) {
      refused.inc({ reason: 'infeasible' });
      throw new ProblemError(422, 'infeasible', `${planned.topology.name} cannot be placed: ${planned.plan.explanation.summary}; nothing was created`, {
        extensions: { reasons: planned.plan.reasons, explanation: planned.plan.explanation },
      });
    }
    const slug = planned.topology.name.toLowerCase().replace(SLUG, '-').replace(/^-+|-+$/g, '').slice(0, 40) || 'topology';
    const id = crypto.randomUUID();
    const stored: StoredPlan = { placement: planned.plan, plannedAt: new Date().toISOString(), attempt: 0 };
    const { topology, created } = await deps.store.createTopology({
      id,
      name: planned.topology.name,
      projectId: deps.projectId,
      strategy: request.strategy,
      request,
      plan: stored,
      stackName: `cm-${slug}-${id.slice(0, 8)}`,
      units: planned.topology.units.map((u) => ({
        name: u.id,
        serviceInstance: u.serviceInstance,
        host: null,
        serverId: null,
        ports: [],
        slaClass: planned.topology.serviceInstances.find((s) => s.name === u.serviceInstance)?.slaClass ?? null,
        slaState: null,
      })),
      idempotencyKey: idempotencyKey ?? null,
      deployRequestedAt: new Date().toISOString(),
      message: `accepted: ${planned.plan.explanation.summary}`,
    });
    if (!created && !sameRequest(topology.request as TopologyRequest, request)) {
      // The key names an earlier submission of something else: answering with that one would hide the mistake.
      throw new ProblemError(422, 'idempotency-key-reused', `Idempotency-Key was used for a different topology (${topology.name}, ${topology.id}); use a new key for a new request`, {
        errors: [{ pointer: '/headers/idempotency-key', message: 'already used with a different body' }],
      });
    }
    if (created) deps.deployer.kick();
    void reply.code(202).header('location', `/v1/topologies/${topology.id}`);
    return topologyView(topology, await deps.store.events(topology.id));
  };

  const idempotencyKeyOf = (h: unknown): string | undefined => {
    if (h === undefined) return undefined;
    if (typeof h !== 'string' || !/^[\x21-\x7e]{1,255}$/.test(h)) {
      throw new ProblemError(400, 'validation', 'Idempotency-Key must be 1–255 printable ASCII characters', { errors: [{ pointer: '/headers/idempotency-key', message: 'not valid' }] });
    }
    return h;
  };

  // ------------------------------------------------------------ ops
  app.get('/healthz', { schema: { tags: ['ops'], security: [], summary: 'The process is up' } }, () => ({ status: 'ok' }));
  app.get('/readyz', { schema: { tags: ['ops'], security: [], summary: 'The store, the agent and OpenStack answer' } }, async (_request, reply) => {
    const reasons = await deps.ready();
    if (reasons.length > 0) throw new ProblemError(503, 'not-ready', `not ready: ${reasons.join('; ')}`, { extensions: { reasons } });
    void reply.code(200);
    return { ready: true };
  });

  // ------------------------------------------------------------ v1
  app.post(
    '/v1/plans',
    { schema: { tags: ['v1'], summary: 'Plan a topology without deploying it (dry run): placement and its reasons', body: TopologyBody } },
    async (request) => {
      const planned = await plan(requestOf(request.body));
      return {
        topology: planned.topology.name,
        units: planned.units.map((u) => ({ name: u.id, service_instance: u.serviceInstance, flavor: u.flavor.name, sla_class: u.sla.className, min_bps: u.sla.minBps, max_bps: u.sla.maxBps })),
        demands: planned.demands.map((d) => ({ between: [d.a, d.b], guaranteed_bps: d.guaranteedBps })),
        plan: planView(planned.plan),
      };
    },
  );

  app.post(
    '/v1/topologies',
    {
      schema: {
        tags: ['v1'],
        summary: 'Plan and deploy a topology; 202 with its status URL (Idempotency-Key honoured)',
        description: '422 invalid-topology names file:line:column and field of every problem; 422 infeasible gives the reasons per resource and creates nothing.',
        body: TopologyBody,
      },
    },
    async (request, reply) => submit(requestOf(request.body), idempotencyKeyOf(request.headers['idempotency-key']), reply),
  );

  app.get(
    '/v1/topologies',
    { schema: { tags: ['v1'], summary: 'Topologies, oldest first', querystring: Type.Object({ state: Type.Optional(Type.String()), limit: Type.Optional(Type.String()), cursor: Type.Optional(Type.String()) }) } },
    async (request) => {
      const q = request.query;
      const states = q.state === undefined ? undefined : q.state.split(',');
      const bad = states?.filter((s) => !(TOPOLOGY_STATES as readonly string[]).includes(s)) ?? [];
      if (bad.length > 0) throw new ProblemError(400, 'validation', `unknown state ${bad.join(', ')}`, { errors: [{ pointer: '/query/state', message: `one of ${TOPOLOGY_STATES.join(', ')}` }] });
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ProblemError(400, 'validation', 'limit must be an integer from 1 to 1000', { errors: [{ pointer: '/query/limit', message: 'from 1 to 1000' }] });
      let page;
      try {
        page = await deps.store.listTopologies({
          projectId: deps.projectId,
          ...(states ? { states: states as TopologyRecord['state'][] } : {}),
          limit,
          cursor: q.cursor ?? null,
        });
      } catch (error) {
        if (error instanceof StoreError && error.code === 'CM_ERR_STORE_INVALID' && q.cursor !== undefined) {
          throw new ProblemError(400, 'validation', 'cursor is not one this service gave out', { errors: [{ pointer: '/query/cursor', message: 'pass the next_cursor of a previous page unchanged' }] });
        }
        throw error;
      }
      return { items: page.items.map((t) => topologyView(t)), next_cursor: page.nextCursor };
    },
  );

  const getOr404 = async (id: string): Promise<TopologyRecord> => {
    const t = await deps.store.getTopology(id);
    if (!t || t.projectId !== deps.projectId) throw new ProblemError(404, 'not-found', `No topology ${id}`);
    return t;
  };

  app.get('/v1/topologies/:id', { schema: { tags: ['v1'], summary: 'A topology: state, placement with reasons, units, guaranteed demands, history', params: IdParams } }, async (request) => {
    const t = await getOr404(request.params.id);
    return topologyView(t, await deps.store.events(t.id), deps.deployer.demandsOf(t));
  });

  app.delete('/v1/topologies/:id', { schema: { tags: ['v1'], summary: 'Delete the stack and the SLAs (202; idempotent)', params: IdParams } }, async (request, reply) => {
    const t = await getOr404(request.params.id);
    let current = t;
    if (t.state !== 'DELETING' && t.state !== 'DELETED') {
      current = await deps.store.transition(t.id, {
        from: TOPOLOGY_STATES.filter((s) => s !== 'DELETING' && s !== 'DELETED'),
        to: 'DELETING',
        message: 'delete requested',
      });
      deps.deployer.kick();
    }
    void reply.code(202);
    return topologyView(current, await deps.store.events(t.id));
  });

  // ------------------------------------------------------------ thesis (EMM)
  app.post(
    '/topologies',
    {
      schema: {
        tags: ['thesis'],
        summary: "The thesis's topology document ({name, service_instances}); service types from the catalog (POST /services)",
        body: Type.Object({ name: Type.String(), service_instances: Type.Array(Type.Object({}, { additionalProperties: true })) }, { additionalProperties: true }),
      },
    },
    async (request, reply) =>
      submit({ format: 'thesis', files: [fileOf(request.body, 'topology'), ...deps.catalog.list()], strategy: deps.defaultStrategy }, idempotencyKeyOf(request.headers['idempotency-key']), reply),
  );

  app.post(
    '/services',
    { schema: { tags: ['thesis'], summary: 'Add a service type to the catalog (thesis format)', body: Type.Object({ service_type: Type.String() }, { additionalProperties: true }) } },
    async (request, reply) => {
      const body = request.body;
      deps.catalog.add(fileOf(body, `service ${body.service_type}`));
      void reply.code(201);
      return body;
    },
  );
  app.get('/services', { schema: { tags: ['thesis'], summary: 'The service types of the catalog' } }, () =>
    deps.catalog.list().map((f) => JSON.parse(f.text) as unknown),
  );

  if (deps.dashboard) {
    await registerDashboard(app, {
      store: deps.store,
      agent: deps.deployer.agent,
      uplink: deps.deployer.uplink,
      projectId: deps.projectId,
      uiDir: deps.dashboard.uiDir,
      ...(deps.dashboard.slaIntervalMs === undefined ? {} : { slaIntervalMs: deps.dashboard.slaIntervalMs }),
    });
  }

  return app;
}
