/**
 * The Connectivity Manager's HTTP API: topologies in, placement plans with
 * their reasons out (dry run), deployments followed through a state machine,
 * and the thesis's `POST /topologies`. Built on the shared service base
 * (auth, request ids, problem+json, OpenAPI at /docs).
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { Type } from 'typebox';
import YAML from 'yaml';
import { ProblemError, problemResponses } from '../http/problem.ts';
import { ChangeRequestSchema, PlanResponseSchema, TopologyListSchema, TopologyViewSchema, type DemandView, type EventView, type PlanView, type TopologyView } from './contract.ts';
import { callerIdentity, createServiceApp, type CallerIdentity, type HttpsOptions, type ServiceApp } from '../http/service.ts';
import type { PlacementPlan, PlacementStrategy, TrafficDemand } from '../placement/types.ts';
import { StoreConflictError, StoreError, StoreTransitionError, TOPOLOGY_STATES, type ManagerStore, type Topology as TopologyRecord, type TopologyEvent } from '../store/index.ts';
import { parseServiceTypes } from '../topology/parse.ts';
import { TopologyError } from '../topology/source.ts';
import type { SourceFile } from '../topology/types.ts';
import { ChangeRefused, pendingSlaRemoval, plannedHostOf, type Deployer, type StoredPlan, type UnitRecord } from './deployer.ts';
import type { TopologyRequest } from './planner.ts';
import type { TopologyChanges } from '../topology/changes.ts';
import { registerDashboard } from './dashboard.ts';
import { DEFAULT_MANAGER_LIMITS, type ManagerLimits } from './config.ts';
import { PlanRunnerError } from './plan-runner.ts';
import { DeploymentFailure } from './upstream.ts';
import { bracketDepth, type TopologyLimits } from '../topology/limits.ts';

/** Bounds of the service catalog (`/services`). */
export const CATALOG_LIMITS = Object.freeze({
  /** Characters of a service type's name, each of A–Z a–z 0–9 . _ - */
  nameLength: 64,
  /** Bytes of one document as stored (JSON with 2-space indentation: what topology errors count lines in). */
  documentBytes: 256 * 1024,
  /** Entries added through the API (those of the config files not counted). */
  entries: 256,
});

const SERVICE_TYPE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** The file name topologies are parsed with for a catalog entry added through the API: errors name it. */
export function catalogFileName(serviceType: string): string {
  return `catalog/${serviceType}.json`;
}

/** One service type of the catalog. */
export interface CatalogEntry {
  serviceType: string;
  /** `config`: from a file of `catalog.services` (read-only here); `api`: added through /services, kept in the store. */
  source: 'config' | 'api';
  /** The file name topology errors give it. */
  file: string;
  /** Its document (thesis JSON). */
  document: unknown;
  /** api: 1 when added, +1 per replacement that changed it; config: null. */
  version: number | null;
  createdAt: string | null;
  updatedAt: string | null;
}

/**
 * The service types topologies are parsed with: the files of `catalog.services` and the documents added
 * through /services (kept in the manager store, shared by the managers on it). The routes validate a
 * document before they hand it over; a write goes to the store first, then into the cached copy.
 */
export interface ServiceCatalog {
  /** Every document, config files first, as of the last refresh(): what a topology without `services` is parsed with. */
  list(): SourceFile[];
  /** Catches up with the store (another manager may have changed it): one small read when nothing changed. */
  refresh(): Promise<void>;
  /** By service type, as of the last refresh(). */
  entries(): CatalogEntry[];
  get(serviceType: string): CatalogEntry | undefined;
  /** @throws StoreConflictError when it is stored already; StoreError CM_ERR_STORE_LIMIT when the catalog is full. */
  create(serviceType: string, text: string): Promise<CatalogEntry>;
  /** Adds or replaces; the same document again changes nothing. @throws StoreError CM_ERR_STORE_LIMIT (new and full). */
  put(serviceType: string, text: string): Promise<{ entry: CatalogEntry; created: boolean }>;
  /** false when there was none added through the API. */
  delete(serviceType: string): Promise<boolean>;
}

/** Who is asking: the project its topologies belong to, and whether it sees every project's. */
export interface Caller {
  projectId: string;
  admin: boolean;
}

export interface ManagerAppDeps {
  store: ManagerStore;
  deployer: Deployer;
  catalog: ServiceCatalog;
  defaultStrategy: PlacementStrategy;
  /**
   * The project topologies are deployed into (the manager's cloud credentials). Read on every use: the manager
   * serves before it has reached Keystone and its store, and until it has, reading this throws a 503 not-ready
   * ProblemError (a getter), so the routes that need it say so.
   */
  readonly projectId: string;
  auth: {
    tokens: readonly string[];
    validate?: (token: string) => Promise<boolean | CallerIdentity>;
    publicMetrics?: boolean;
    /** A Keystone token with this role sees and deletes every project's topologies. @default "admin" */
    adminRole?: string;
    /** The project topologies submitted with a static token belong to. @default the manager's project */
    staticProject?: string;
  };
  /** Readiness of what the manager depends on (agent, Keystone, store); a reason per failure. */
  ready(): Promise<string[]>;
  logger?: false | { level: string };
  https?: HttpsOptions;
  /** What one request may ask for (default: DEFAULT_MANAGER_LIMITS). */
  limits?: ManagerLimits;
  /** The dashboard at /ui and the routes it reads (hosts, live SLAs); absent: neither. */
  dashboard?: { uiDir: string | undefined; slaIntervalMs?: number };
}

const STRATEGIES = ['single-host', 'traffic-aware', 'nova'] as const;
const Doc = Type.Union([Type.String(), Type.Object({}, { additionalProperties: true })]);
const TopologyBody = Type.Object(
  {
    topology: Type.Union([Type.String({ description: 'The topology file as text (JSON or YAML); line numbers in errors refer to it' }), Type.Object({}, { additionalProperties: true })]),
    topology_file: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'Name shown in errors (default "topology")' })),
    services: Type.Optional(Type.Array(Doc, { maxItems: 1000, description: 'Thesis service-type documents; default: the manager catalog (at most limits.service_types)' })),
    strategy: Type.Optional(Type.Union(STRATEGIES.map((s) => Type.Literal(s)))),
  },
  { $id: 'TopologyRequest', additionalProperties: false },
);

const IdParams = Type.Object({ id: Type.String() });


// ---- the service catalog's schemas (OpenAPI components; v1 of their shapes: fields are only ever added)

const described = (description: string) => Type.Optional(Type.Unknown({ description }));
/** Loose on purpose: the topology parser checks it (422 invalid-service-type with field and line), not the schema (a bare 400). */
const ServiceTypeDocument = Type.Object(
  {
    service_type: described('Its name: 1–64 characters of A–Z a–z 0–9 . _ - (required)'),
    version: described('Free text, e.g. "1"'),
    image: described('Glance image name (required)'),
    flavor: described('Nova flavor name (required)'),
    key: described('Nova key pair'),
    size: described('{min, def, max}: units of a service instance (required)'),
    networks: described('[{name, private_net, private_subnet, public_net?, security_groups?}] (required)'),
    requirements: described('[{name, parameter: private_ip|public_ip, source, obj_name}]: values taken from other service instances'),
    policies: described('list, kept as given'),
    user_data: described('Lines of the boot script (a string or a list of strings)'),
    configuration: described('mapping, kept as given'),
  },
  {
    $id: 'ServiceTypeDocument',
    additionalProperties: true,
    description: `A thesis service-type document (src/topology/fixtures/thesis/*Service.json); at most ${String(CATALOG_LIMITS.documentBytes)} bytes as stored (JSON, 2-space indentation)`,
  },
);
const CatalogEntrySchema = Type.Object(
  {
    service_type: Type.String(),
    source: Type.Union([Type.Literal('config'), Type.Literal('api')], { description: 'config: from a file of catalog.services, read-only here; api: added through /services' }),
    file: Type.String({ description: 'The name topology errors give this document' }),
    version: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { description: '1 when added, +1 per replacement that changed it; null for config entries' }),
    created_at: Type.Union([Type.String(), Type.Null()]),
    updated_at: Type.Union([Type.String(), Type.Null()]),
    document: Type.Ref('ServiceTypeDocument'),
    links: Type.Object({ self: Type.String() }),
  },
  { $id: 'CatalogEntry', description: 'A service type of the manager catalog' },
);
const TypeParams = Type.Object({ type: Type.String({ description: 'The service type' }) });
const problemRef = (description: string) => ({ ...Type.Ref('Problem'), description });
const catalogProblems = (...codes: number[]) => Object.fromEntries(codes.map((c) => [c, problemRef('Problem details (application/problem+json)')]));

function catalogEntryView(e: CatalogEntry): Record<string, unknown> {
  return {
    service_type: e.serviceType,
    source: e.source,
    file: e.file,
    version: e.version,
    created_at: e.createdAt,
    updated_at: e.updatedAt,
    document: e.document,
    links: { self: `/services/${encodeURIComponent(e.serviceType)}` },
  };
}

/** `networks[0].name` → `/body/networks/0/name` (RFC 6901); the whole document for `(root)`, `(document)`, `(syntax)`. */
function bodyPointer(path: string): string {
  if (path.startsWith('(')) return '/body';
  const steps = path.match(/[^.[\]]+/g) ?? [];
  return `/body/${steps.map((step) => step.replace(/~/g, '~0').replace(/\//g, '~1')).join('/')}`;
}

function serviceTypeProblem(error: TopologyError): ProblemError {
  return new ProblemError(422, 'invalid-service-type', `${String(error.issues.length)} problem(s) in the service-type document:\n${error.message}`, {
    errors: error.issues.map((i) => ({ pointer: bodyPointer(i.path), message: `${i.line === null ? '' : `line ${String(i.line)}, column ${String(i.column ?? 1)}: `}${i.message}` })),
    extensions: { issues: error.issues },
  });
}

function serviceTypeNameProblem(pointer: string, value: unknown): ProblemError {
  const rule = `1 to ${String(CATALOG_LIMITS.nameLength)} characters of A-Z a-z 0-9 . _ - (the limit is ${String(CATALOG_LIMITS.nameLength)} characters)`;
  const shown = typeof value === 'string' ? JSON.stringify(value.length > 80 ? `${value.slice(0, 60)}…` : value) : 'not a string';
  return new ProblemError(422, 'invalid-service-type', `The service type must be ${rule}; got ${shown}`, { errors: [{ pointer, message: `must be ${rule}` }] });
}

function fileOf(doc: unknown, name: string): SourceFile {
  return { name, text: typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2) };
}

/**
 * A file with a top-level `services:` is the single-file YAML format; otherwise the thesis's topology document.
 * Only the top-level keys are looked at (no alias is expanded), and a text the parser must not see (too large,
 * nested too deep: 10 000 brackets abort the process inside the YAML parser) is left to the topology parser to
 * refuse with the limit it breaks.
 */
function formatOf(file: SourceFile, limits: Readonly<TopologyLimits>): 'yaml' | 'thesis' {
  if (Buffer.byteLength(file.text, 'utf8') > limits.documentBytes || bracketDepth(file.text, limits.depth) > limits.depth) return 'thesis';
  try {
    const contents = YAML.parseDocument(file.text).contents;
    return YAML.isMap(contents) && contents.items.some((p) => YAML.isScalar(p.key) && p.key.value === 'services') ? 'yaml' : 'thesis';
  } catch {
    return 'thesis';
  }
}

export function planView(plan: PlacementPlan): PlanView {
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

function eventView(e: TopologyEvent): EventView {
  return { seq: e.seq, at: e.at, state: e.state, from_state: e.fromState, message: e.message, ...(e.details === null || e.details === undefined ? {} : { details: e.details }) };
}

/** A demand's two units and whether the plan puts them on different hosts (then it crosses both hosts' uplinks). */
export function demandViews(demands: readonly TrafficDemand[], plan: StoredPlan | null): DemandView[] {
  const placement = plan?.placement;
  const hostOf = (unit: string): string | null | undefined => (placement?.feasible ? placement.assignments[unit] : undefined);
  return demands.map((d) => {
    const a = hostOf(d.a);
    const b = hostOf(d.b);
    return { between: [d.a, d.b], guaranteed_bps: d.guaranteedBps, crosses_uplink: a !== undefined && b !== undefined && a !== null && b !== null && a !== b };
  });
}

export function topologyView(t: TopologyRecord, events?: readonly TopologyEvent[], demands?: readonly TrafficDemand[]): TopologyView {
  const plan = t.plan as StoredPlan | null;
  // DELETING with the stack gone and SLAs the agent has not removed yet (see docs/manager.md, Deployment).
  const removal = pendingSlaRemoval(t);
  return {
    id: t.id,
    name: t.name,
    project_id: t.projectId,
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
    pending: removal ? { sla_removal: { servers: removal.servers, reason: removal.reason } } : null,
    attempts: t.attempts,
    created_at: t.createdAt,
    updated_at: t.updatedAt,
    links: { self: `/v1/topologies/${t.id}` },
    ...(demands ? { demands: demandViews(demands, plan) } : {}),
    ...(events ? { events: events.map(eventView) } : {}),
  };
}

/** A change naming an unknown instance or class, or a count outside the size: 422 with each field. */
function changeProblem(error: TopologyError): ProblemError {
  return new ProblemError(422, 'validation', `${String(error.issues.length)} problem(s) in the change:\n${error.issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`, {
    errors: error.issues.map((i) => ({ pointer: i.path, message: i.message })),
  });
}

function topologyProblem(error: TopologyError): ProblemError {
  // A document over a limit is refused as such, so a client can tell "too big" from "wrong".
  const overLimit = error.issues.some((i) => i.message.includes('(limits.'));
  return new ProblemError(422, overLimit ? 'limit-exceeded' : 'invalid-topology', `${String(error.issues.length)} problem(s) in the topology documents:\n${error.message}`, {
    errors: error.issues.map((i) => ({ pointer: `${i.file}${i.line === null ? '' : `:${String(i.line)}:${String(i.column ?? 1)}`} ${i.path}`, message: i.message })),
    extensions: { issues: error.issues },
  });
}

/** A plan that cost too much is the request's problem (422); a busy or stopping planner is the service's (503). */
function planRunnerProblem(error: PlanRunnerError, limits: ManagerLimits, pointer = '/body/topology'): ProblemError {
  switch (error.code) {
    case 'CM_ERR_PLAN_TIMEOUT':
      return new ProblemError(422, 'limit-exceeded', `${error.message}: the topology costs too much to plan; the limit is ${String(limits.planTimeoutMs)} ms (limits.plan_timeout_ms)`, {
        errors: [{ pointer, message: `planning took longer than ${String(limits.planTimeoutMs)} ms (limits.plan_timeout_ms)` }],
      });
    case 'CM_ERR_PLAN_MEMORY':
      return new ProblemError(422, 'limit-exceeded', `${error.message}: the topology needs too much memory to plan (limits.plan_heap_mb)`, {
        errors: [{ pointer, message: `planning needed more than ${String(limits.planHeapMb)} MiB (limits.plan_heap_mb)` }],
      });
    case 'CM_ERR_PLAN_BUSY':
    case 'CM_ERR_PLAN_CLOSED':
      return new ProblemError(503, 'not-ready', `Cannot plan now: ${error.message}`, { headers: { 'retry-after': '1' } });
    case 'CM_ERR_PLAN_FAILED':
      return new ProblemError(500, 'internal', error.message);
  }
}

const SLUG = /[^a-z0-9-]+/g;

/** Whether two submissions are the same request: the topology document the client sent, its format and strategy. */
function sameRequest(a: TopologyRequest, b: TopologyRequest): boolean {
  return a.format === b.format && a.strategy === b.strategy && a.files[0]?.text === b.files[0]?.text && a.files[0]?.name === b.files[0]?.name;
}

export async function buildManagerApp(deps: ManagerAppDeps): Promise<ServiceApp> {
  const limits = deps.limits ?? DEFAULT_MANAGER_LIMITS;
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
      // The store may not be open yet (the manager serves before it is): no sample then, rather than no metrics at all.
      const counts = await deps.store.countByState().catch(() => undefined);
      for (const [state, n] of Object.entries(counts ?? {})) this.set({ state }, n);
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
    schemas: [TopologyBody, ServiceTypeDocument, CatalogEntrySchema],
    ...(deps.logger === undefined ? {} : { logger: deps.logger }),
    ...(deps.https ? { https: deps.https } : {}),
    bodyLimit: limits.bodyBytes,
    limits: limits.http,
    metrics: { registry, prefix: 'cm_manager', public: deps.auth.publicMetrics === true },
  });

  const requestOf = (body: { topology: unknown; topology_file?: string; services?: unknown[]; strategy?: PlacementStrategy }): TopologyRequest => {
    const topologyFile = fileOf(body.topology, body.topology_file ?? 'topology');
    if (body.services !== undefined && body.services.length > limits.topology.serviceTypes) {
      throw new ProblemError(422, 'limit-exceeded', `${String(body.services.length)} service-type documents; the limit is ${String(limits.topology.serviceTypes)} (limits.service_types)`, {
        errors: [{ pointer: '/body/services', message: `at most ${String(limits.topology.serviceTypes)} (limits.service_types)` }],
      });
    }
    const format = body.services === undefined ? formatOf(topologyFile, limits.topology) : 'thesis';
    const services = format === 'yaml' ? [] : body.services === undefined ? deps.catalog.list() : body.services.map((s, i) => fileOf(s, `services[${String(i)}]`));
    return { format, files: [topologyFile, ...services], strategy: body.strategy ?? deps.defaultStrategy };
  };

  const plan = async (request: TopologyRequest, projectId: string) => {
    const end = planDuration.startTimer();
    try {
      const planned = await deps.deployer.plan(request, undefined, undefined, projectId);
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
      if (error instanceof PlanRunnerError) throw planRunnerProblem(error, limits);
      if (error instanceof TopologyError) {
        refused.inc({ reason: 'invalid' });
        throw topologyProblem(error);
      }
      throw new ProblemError(502, 'upstream', `Could not read the cloud to plan: ${(error as Error).message}`);
    } finally {
      end();
    }
  };

  const submit = async (request: TopologyRequest, idempotencyKey: string | undefined, reply: FastifyReply, caller: Caller) => {
    const planned = await plan(request, caller.projectId);
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
      projectId: caller.projectId,
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
  app.get(
    '/healthz',
    { schema: { tags: ['ops'], security: [], summary: 'The process is up', response: { 200: Type.Object({ status: Type.Literal('ok') }) } } },
    () => ({ status: 'ok' as const }),
  );
  app.get(
    '/readyz',
    {
      schema: {
        tags: ['ops'],
        security: [],
        summary: 'Started (store open, project known), and the agent, Keystone and the store answer now',
        description: 'Not ready: 503 not-ready with `reasons`, one line per check that failed.',
        response: { 200: Type.Object({ ready: Type.Literal(true) }), ...problemResponses(503) },
      },
    },
    async (_request, reply) => {
    const reasons = await deps.ready();
    if (reasons.length > 0) throw new ProblemError(503, 'not-ready', `not ready: ${reasons.join('; ')}`, { extensions: { reasons } });
      void reply.code(200);
      return { ready: true as const };
    },
  );

  // The manager serves from the start, before its store is open and its project known (it keeps trying in the
  // background); until then the routes that need them answer 503 not-ready instead of failing upstream. And the
  // catalog is brought up to date before it is read: another manager on the same store may have changed it.
  const CATALOG_READERS = new Set(['POST /v1/plans', 'POST /v1/topologies', 'POST /topologies']);
  /** The project, or a 503 not-ready thrown by the getter until the manager has started. */
  const startedProject = (): string => deps.projectId;
  const adminRole = deps.auth.adminRole ?? 'admin';
  /**
   * Whose request this is: a Keystone token acts for its project (an operator when it carries the
   * admin role); a static token is the operator's, for the configured project.
   */
  const callerOf = (request: FastifyRequest): Caller => {
    const identity = callerIdentity(request);
    if (identity) return { projectId: identity.projectId, admin: identity.roles.includes(adminRole) };
    return { projectId: deps.auth.staticProject ?? startedProject(), admin: true };
  };
  app.addHook('preHandler', async (request) => {
    const route = request.routeOptions.url ?? '';
    const services = route === '/services' || route.startsWith('/services/');
    if (!services && route !== '/topologies' && !route.startsWith('/v1/')) return;
    startedProject();
    if (!services && !CATALOG_READERS.has(`${request.method} ${route}`)) return;
    try {
      await deps.catalog.refresh();
    } catch (error) {
      throw new ProblemError(503, 'not-ready', `The service catalog cannot be read from the store now: ${(error as Error).message}`);
    }
  });

  // ------------------------------------------------------------ v1
  app.post(
    '/v1/plans',
    {
      schema: {
        tags: ['v1'],
        summary: 'Plan a topology without deploying it (dry run): placement and its reasons',
        body: TopologyBody,
        response: { 200: PlanResponseSchema, ...problemResponses(400, 401, 403, 413, 422, 502, 503) },
      },
    },
    async (request) => {
      const planned = await plan(requestOf(request.body), callerOf(request).projectId);
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
        response: { 202: TopologyViewSchema, ...problemResponses(400, 401, 403, 413, 422, 502, 503) },
      },
    },
    async (request, reply) => submit(requestOf(request.body), idempotencyKeyOf(request.headers['idempotency-key']), reply, callerOf(request)),
  );

  app.get(
    '/v1/topologies',
    {
      schema: {
        tags: ['v1'],
        summary: 'Topologies, oldest first',
        querystring: Type.Object({ state: Type.Optional(Type.String()), limit: Type.Optional(Type.String()), cursor: Type.Optional(Type.String()) }),
        response: { 200: TopologyListSchema, ...problemResponses(400, 401, 503) },
      },
    },
    async (request) => {
      const q = request.query;
      const states = q.state === undefined ? undefined : q.state.split(',');
      const bad = states?.filter((s) => !(TOPOLOGY_STATES as readonly string[]).includes(s)) ?? [];
      if (bad.length > 0) throw new ProblemError(400, 'validation', `unknown state ${bad.join(', ')}`, { errors: [{ pointer: '/query/state', message: `one of ${TOPOLOGY_STATES.join(', ')}` }] });
      const limit = q.limit === undefined ? 100 : Number(q.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 1000) throw new ProblemError(400, 'validation', 'limit must be an integer from 1 to 1000', { errors: [{ pointer: '/query/limit', message: 'from 1 to 1000' }] });
      const caller = callerOf(request);
      let page;
      try {
        page = await deps.store.listTopologies({
          // An operator sees every project's topologies; anyone else those of the token's project.
          ...(caller.admin ? {} : { projectId: caller.projectId }),
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

  /** Another project's topology is a 404 like one that does not exist: its existence is not the caller's to know. */
  const getOr404 = async (id: string, caller: Caller): Promise<TopologyRecord> => {
    const t = await deps.store.getTopology(id);
    if (!t || (!caller.admin && t.projectId !== caller.projectId)) throw new ProblemError(404, 'not-found', `No topology ${id}`);
    return t;
  };

  app.get(
    '/v1/topologies/:id',
    { schema: { tags: ['v1'], summary: 'A topology: state, placement with reasons, units, guaranteed demands, history', params: IdParams, response: { 200: TopologyViewSchema, ...problemResponses(401, 404, 503) } } },
    async (request) => {
      const t = await getOr404(request.params.id, callerOf(request));
      return topologyView(t, await deps.store.events(t.id), deps.deployer.demandsOf(t));
    },
  );

  app.delete('/v1/topologies/:id', { schema: { tags: ['v1'], summary: 'Delete the stack and the SLAs (202; idempotent)', params: IdParams, response: { 202: TopologyViewSchema, ...problemResponses(401, 404, 503) } } }, async (request, reply) => {
    const t = await getOr404(request.params.id, callerOf(request));
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

  /** PATCH and the EMM's scale calls: one change of an ACTIVE topology (see Deployer.changeTopology). */
  const change = async (id: string, changes: TopologyChanges, reply: FastifyReply, caller: Caller) => {
    const t = await getOr404(id, caller);
    if (t.state !== 'ACTIVE') throw new ProblemError(409, 'conflict', `${t.name} is ${t.state}: a change needs it ACTIVE (changes are applied one at a time)`);
    try {
      const { record, changed } = await deps.deployer.changeTopology(t, changes);
      void reply.code(changed.length === 0 ? 200 : 202);
      return topologyView(record, await deps.store.events(t.id), deps.deployer.demandsOf(record));
    } catch (error) {
      if (error instanceof TopologyError) throw changeProblem(error);
      if (error instanceof ChangeRefused) throw new ProblemError(422, 'infeasible', `${t.name}: ${error.message}; nothing was changed`, { extensions: { reasons: error.reasons } });
      // The new units are placed in the planning worker, under the same deadline and memory bound as a submission.
      if (error instanceof PlanRunnerError) throw planRunnerProblem(error, limits, '/body/service_instances');
      if (error instanceof StoreTransitionError || error instanceof StoreConflictError) {
        throw new ProblemError(409, 'conflict', `${t.name} changed meanwhile (another change or a delete); read it again`);
      }
      if (error instanceof ProblemError) throw error;
      if (error instanceof DeploymentFailure) throw new ProblemError(500, 'internal', `${t.name}: ${error.message}`);
      throw new ProblemError(502, 'upstream', `Could not read the cloud to place the change: ${(error as Error).message}`);
    }
  };

  app.patch(
    '/v1/topologies/:id',
    {
      schema: {
        tags: ['v1'],
        summary: "Change an ACTIVE topology's service instances: SLA class in place, unit count within size (202; 200 when nothing changes)",
        description:
          'A class change keeps the servers; the agent re-applies the SLAs (ACTIVE → ENFORCING → ACTIVE). A count change places the new units next to their traffic peers, updates the Heat stack (ACTIVE → DEPLOYING → DEPLOYED → ENFORCING → ACTIVE) and removes the SLAs of removed units first. Refused with 422 when the change does not fit (quota, hosts, uplinks; nothing changed), 409 while the topology is not ACTIVE (one change at a time).',
        params: IdParams,
        body: ChangeRequestSchema,
        response: { 200: TopologyViewSchema, 202: TopologyViewSchema, ...problemResponses(400, 401, 404, 409, 422, 502, 503) },
      },
    },
    async (request, reply) => change(request.params.id, request.body, reply, callerOf(request)),
  );

  // ------------------------------------------------------------ thesis (EMM)
  app.post(
    '/topologies',
    {
      schema: {
        tags: ['thesis'],
        summary: "The thesis's topology document ({name, service_instances}); service types from the catalog (POST /services)",
        body: Type.Object({ name: Type.String(), service_instances: Type.Array(Type.Object({}, { additionalProperties: true })) }, { additionalProperties: true }),
        response: { 202: TopologyViewSchema, ...problemResponses(400, 401, 403, 413, 422, 502, 503) },
      },
    },
    async (request, reply) =>
      submit({ format: 'thesis', files: [fileOf(request.body, 'topology'), ...deps.catalog.list()], strategy: deps.defaultStrategy }, idempotencyKeyOf(request.headers['idempotency-key']), reply, callerOf(request)),
  );

  // The EMM scales a service instance by one unit when an alarm fires: its own verbs, the same change as PATCH.
  const ScaleParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }), instance: Type.String({ minLength: 1, maxLength: 255 }) });
  for (const [verb, step] of [['scale_out', 1], ['scale_in', -1]] as const) {
    app.post(
      `/topologies/:id/service_instances/:instance/${verb}`,
      {
        schema: {
          tags: ['thesis'],
          summary: `${step > 0 ? 'One more' : 'One fewer'} unit of a service instance, within its size (EMM style; the same change as PATCH /v1/topologies/{id} with count)`,
          params: ScaleParams,
          response: { 200: TopologyViewSchema, 202: TopologyViewSchema, ...problemResponses(401, 404, 409, 422, 502, 503) },
        },
      },
      async (request, reply) => {
        const t = await getOr404(request.params.id, callerOf(request));
        const current = deps.deployer.instancesOf(t).get(request.params.instance);
        if (current === undefined) throw new ProblemError(404, 'not-found', `No service instance ${request.params.instance} in topology ${t.name}`, { errors: [{ pointer: '/params/instance', message: 'not in the topology' }] });
        return change(t.id, { service_instances: { [request.params.instance]: { count: current + step } } }, reply, callerOf(request));
      },
    );
  }

  // ------------------------------------------------------------ the service catalog (thesis EMM, and its REST completion)
  /** The document checked as a topology would check it, plus the catalog's own bounds; its text as stored. */
  const checkedServiceType = (body: Record<string, unknown>, pathType: string | undefined): { serviceType: string; text: string } => {
    const text = JSON.stringify(body, null, 2);
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > CATALOG_LIMITS.documentBytes) {
      const limit = String(CATALOG_LIMITS.documentBytes);
      throw new ProblemError(413, 'payload-too-large', `The service-type document is ${String(bytes)} bytes as stored (JSON, 2-space indentation); the limit is ${limit} bytes (256 KiB)`, {
        errors: [{ pointer: '/body', message: `at most ${limit} bytes` }],
        extensions: { limit_bytes: CATALOG_LIMITS.documentBytes },
      });
    }
    const declared = body.service_type;
    const named = typeof declared === 'string' && SERVICE_TYPE_NAME.test(declared);
    try {
      parseServiceTypes([{ name: catalogFileName(named ? declared : (pathType ?? 'service')), text }], { limits: limits.topology });
    } catch (error) {
      if (error instanceof TopologyError) throw serviceTypeProblem(error);
      throw error;
    }
    if (!named) throw serviceTypeNameProblem('/body/service_type', declared);
    if (pathType !== undefined && declared !== pathType) {
      throw new ProblemError(422, 'invalid-service-type', `The document's service_type is ${JSON.stringify(declared)}, the path names ${JSON.stringify(pathType)}`, {
        errors: [{ pointer: '/body/service_type', message: `must be ${JSON.stringify(pathType)}, the type in the path` }],
      });
    }
    return { serviceType: declared, text };
  };
  const readOnly = (e: CatalogEntry, pointer: string): ProblemError =>
    new ProblemError(409, 'conflict', `Service type ${e.serviceType} comes from the manager's configuration (${e.file}, catalog.services): edit that file and restart the manager to change it`, {
      errors: [{ pointer, message: 'read-only: defined in the configuration (catalog.services)' }],
    });
  const catalogWriteProblem = (error: unknown, serviceType: string, pointer: string): unknown => {
    if (error instanceof StoreConflictError) {
      return new ProblemError(409, 'conflict', `Service type ${serviceType} is already in the catalog; PUT /services/${serviceType} replaces it`, {
        errors: [{ pointer, message: 'already in the catalog' }],
      });
    }
    if (error instanceof StoreError && error.code === 'CM_ERR_STORE_LIMIT') {
      return new ProblemError(422, 'limit-exceeded', `The catalog is full: ${error.message} (entries added through the API); delete one first`, {
        errors: [{ pointer, message: `at most ${String(CATALOG_LIMITS.entries)} service types` }],
        extensions: { limit_entries: CATALOG_LIMITS.entries },
      });
    }
    return error;
  };
  const entryOr404 = (serviceType: string): CatalogEntry => {
    const e = deps.catalog.get(serviceType);
    if (!e) throw new ProblemError(404, 'not-found', `No service type ${JSON.stringify(serviceType.slice(0, 100))} in the catalog`);
    return e;
  };

  app.post(
    '/services',
    {
      schema: {
        tags: ['thesis'],
        summary: 'Add a service type to the catalog (thesis EMM): 201 with the document',
        description:
          'Checked as a topology checks its service types: 422 invalid-service-type names each field (`/body/...`) and its line. 409 when the type is in the catalog already (PUT replaces it) or comes from the configuration; ' +
          `413 above ${String(CATALOG_LIMITS.documentBytes)} bytes; 422 limit-exceeded when ${String(CATALOG_LIMITS.entries)} types were added already.`,
        body: ServiceTypeDocument,
        response: { 201: Type.Ref('ServiceTypeDocument'), ...catalogProblems(400, 401, 409, 413, 422, 503) },
      },
    },
    async (request, reply) => {
      const { serviceType, text } = checkedServiceType(request.body, undefined);
      const existing = deps.catalog.get(serviceType);
      if (existing?.source === 'config') throw readOnly(existing, '/body/service_type');
      try {
        await deps.catalog.create(serviceType, text);
      } catch (error) {
        throw catalogWriteProblem(error, serviceType, '/body/service_type');
      }
      void reply.code(201).header('location', `/services/${encodeURIComponent(serviceType)}`);
      return request.body;
    },
  );
  app.get(
    '/services',
    { schema: { tags: ['thesis'], summary: 'The service types of the catalog, by name: those of the configuration (source config) and those added here (source api)', response: { 200: Type.Array(Type.Ref('CatalogEntry')), ...catalogProblems(401, 503) } } },
    () => deps.catalog.entries().map(catalogEntryView),
  );
  app.get(
    '/services/:type',
    { schema: { tags: ['thesis'], summary: 'One service type of the catalog', params: TypeParams, response: { 200: Type.Ref('CatalogEntry'), ...catalogProblems(401, 404, 503) } } },
    (request) => catalogEntryView(entryOr404(request.params.type)),
  );
  app.put(
    '/services/:type',
    {
      schema: {
        tags: ['thesis'],
        summary: 'Add (201) or replace (200) a service type; the same document again changes nothing',
        description: 'The body is the document, its service_type the one in the path. Types of the configuration are read-only (409).',
        params: TypeParams,
        body: ServiceTypeDocument,
        response: { 200: Type.Ref('CatalogEntry'), 201: Type.Ref('CatalogEntry'), ...catalogProblems(400, 401, 409, 413, 422, 503) },
      },
    },
    async (request, reply) => {
      const type = request.params.type;
      if (!SERVICE_TYPE_NAME.test(type)) throw serviceTypeNameProblem('/params/type', type);
      const { text } = checkedServiceType(request.body, type);
      const existing = deps.catalog.get(type);
      if (existing?.source === 'config') throw readOnly(existing, '/params/type');
      let result: { entry: CatalogEntry; created: boolean };
      try {
        result = await deps.catalog.put(type, text);
      } catch (error) {
        throw catalogWriteProblem(error, type, '/params/type');
      }
      if (result.created) void reply.code(201).header('location', `/services/${encodeURIComponent(type)}`);
      return catalogEntryView(result.entry);
    },
  );
  app.delete(
    '/services/:type',
    {
      schema: {
        tags: ['thesis'],
        summary: 'Remove a service type (204); topologies that used it keep their own copy',
        params: TypeParams,
        response: { 204: Type.Null({ description: 'Removed' }), ...catalogProblems(401, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const e = entryOr404(request.params.type);
      if (e.source === 'config') throw readOnly(e, '/params/type');
      if (!(await deps.catalog.delete(e.serviceType))) throw new ProblemError(404, 'not-found', `No service type ${JSON.stringify(e.serviceType)} in the catalog`);
      return reply.code(204).send(null);
    },
  );

  if (deps.dashboard) {
    await registerDashboard(app, {
      store: deps.store,
      agent: deps.deployer.agent,
      uplink: deps.deployer.uplink,
      // Read on use: unknown (a 503) until the manager has started.
      get projectId() {
        return deps.projectId;
      },
      requireOperator: (request) => {
        if (!callerOf(request).admin) throw new ProblemError(403, 'forbidden', `Hosts and every project's SLAs are an operator's view: a token with the ${adminRole} role, or a static token`);
      },
      uiDir: deps.dashboard.uiDir,
      ...(deps.dashboard.slaIntervalMs === undefined ? {} : { slaIntervalMs: deps.dashboard.slaIntervalMs }),
    });
  }

  return app;
}
