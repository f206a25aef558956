/**
 * The manager's API contract, declared once: the TypeBox schemas of what its topology routes
 * answer and take. The routes use them as response and body schemas (so `/docs` describes every
 * field), the CLI, the demo and the tests use their static types, and the stored request of a
 * topology is decoded with one of them on every read. Change a field here and every side sees it.
 */
import { Type, type Static } from 'typebox';
import { Value } from 'typebox/value';
import { TOPOLOGY_STATES } from '../store/manager-migrations.ts';
import type { TopologyState } from '../store/index.ts';
import { V1HostGuaranteesSchema } from '../agent/hosts-view.ts';

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

export const HostDecisionSchema = Type.Object({ host: Type.String(), reasons: Type.Array(Type.String()) });

export const PlanExplanationSchema = Type.Object(
  {
    summary: Type.String({ description: 'One line, e.g. "whole topology on compute1 (tightest fit of 2 candidate hosts)"' }),
    chosen: Type.Array(HostDecisionSchema),
    rejected: Type.Array(HostDecisionSchema),
    steps: Type.Array(Type.String()),
  },
);

export const InfeasibleReasonSchema = Type.Object(
  {
    scope: Type.Union([Type.Literal('quota'), Type.Literal('host'), Type.Literal('cloud')]),
    resource: Type.String({ description: 'instances, cores, ram, vcpu, ram_mb, disk_gb, uplink or hosts' }),
    subject: Nullable(Type.String()),
    needed: Type.Number(),
    available: Type.Number(),
    message: Type.String(),
  },
);

const planFields = {
  feasible: Type.Boolean(),
  strategy: Type.String({ description: 'single-host, traffic-aware or nova' }),
  hosts: Type.Optional(Type.Array(Type.String(), { description: 'Hosts used (feasible plans)' })),
  assignments: Type.Optional(Type.Record(Type.String(), Nullable(Type.String()), { description: 'Unit → host; null: left to Nova (feasible plans)' })),
  cross_host_bps: Type.Optional(Type.Number({ description: 'Guaranteed bit/s between units on different hosts' })),
  uplink_bps: Type.Optional(Type.Record(Type.String(), Type.Number(), { description: 'Host → guaranteed bit/s this topology puts on its uplink' })),
  reasons: Type.Optional(Type.Array(InfeasibleReasonSchema, { description: 'Why not (infeasible plans)' })),
  explanation: PlanExplanationSchema,
};

export const PlanViewSchema = Type.Object(planFields);

export const UnitViewSchema = Type.Object({
  name: Type.String({ description: '<service instance>-<n>' }),
  service_instance: Nullable(Type.String()),
  sla_class: Nullable(Type.String()),
  planned_host: Nullable(Type.String()),
  host: Nullable(Type.String({ description: 'Where Nova put the server' })),
  server_id: Nullable(Type.String()),
  sla_state: Nullable(Type.String({ description: 'applied once the agent reports it; removal-pending while deleting' })),
});

export const EventViewSchema = Type.Object({
  seq: Type.Integer(),
  at: Type.String({ format: 'date-time' }),
  state: Type.String(),
  from_state: Nullable(Type.String()),
  message: Type.String(),
  details: Type.Optional(Type.Unknown()),
});

export const DemandViewSchema = Type.Object({
  between: Type.Array(Type.String(), { minItems: 2, maxItems: 2 }),
  guaranteed_bps: Type.Number(),
  crosses_uplink: Type.Boolean(),
});

export const TopologyViewSchema = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    project_id: Type.String(),
    state: Type.Unsafe<TopologyState>(Type.String({ enum: [...TOPOLOGY_STATES] })),
    strategy: Type.String(),
    placement: Nullable(Type.Object({ ...planFields, planned_at: Type.String({ format: 'date-time' }) })),
    units: Type.Array(UnitViewSchema),
    stack: Type.Object({ name: Type.String(), id: Nullable(Type.String()) }),
    error: Nullable(Type.Object({ code: Type.String(), message: Type.String(), details: Type.Optional(Type.Unknown()) })),
    pending: Nullable(Type.Object({ sla_removal: Type.Object({ servers: Type.Array(Type.String()), reason: Type.String() }) })),
    attempts: Type.Integer(),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Type.String({ format: 'date-time' }),
    links: Type.Object({ self: Type.String() }),
    demands: Type.Optional(Type.Array(DemandViewSchema, { description: 'The guaranteed traffic between units (GET of one topology)' })),
    events: Type.Optional(Type.Array(EventViewSchema, { description: 'The history, oldest first' })),
  },
  { description: 'A topology: its state, placement with reasons, units and (one topology) demands and history' },
);

export const TopologyListSchema = Type.Object({
  items: Type.Array(TopologyViewSchema),
  next_cursor: Nullable(Type.String()),
});

export const PlanResponseSchema = Type.Object({
  topology: Type.String({ description: "The topology's name" }),
  units: Type.Array(
    Type.Object({ name: Type.String(), service_instance: Type.String(), flavor: Type.String(), sla_class: Type.String(), min_bps: Type.Number(), max_bps: Type.Number() }),
  ),
  demands: Type.Array(Type.Object({ between: Type.Array(Type.String(), { minItems: 2, maxItems: 2 }), guaranteed_bps: Type.Number() })),
  plan: PlanViewSchema,
});

export const ChangeRequestSchema = Type.Object(
  {
    service_instances: Type.Record(
      Type.String({ minLength: 1, maxLength: 255 }),
      Type.Object(
        {
          sla_class: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'The SLA class of every unit of the instance (e.g. Gold, Wholesale)' })),
          count: Type.Optional(Type.Integer({ minimum: 0, maximum: 100_000, description: 'How many units the instance has, within its size.min..max' })),
        },
        { additionalProperties: false, minProperties: 1 },
      ),
      { minProperties: 1, maxProperties: 50, description: 'By service instance name' },
    ),
  },
  { additionalProperties: false },
);

/** What the store keeps as a topology's request (planner.ts TopologyRequest), checked on every read. */
export const StoredRequestSchema = Type.Object({
  format: Type.Union([Type.Literal('thesis'), Type.Literal('yaml')]),
  files: Type.Array(Type.Object({ name: Type.String(), text: Type.String(), catalog: Type.Optional(Type.Boolean()) }), { minItems: 1 }),
  strategy: Type.Union([Type.Literal('single-host'), Type.Literal('traffic-aware'), Type.Literal('nova')]),
  changes: Type.Optional(ChangeRequestSchema),
});


export type TopologyView = Static<typeof TopologyViewSchema>;
export type UnitView = Static<typeof UnitViewSchema>;
export type EventView = Static<typeof EventViewSchema>;
export type DemandView = Static<typeof DemandViewSchema>;
export type TopologyList = Static<typeof TopologyListSchema>;
export type PlanResponse = Static<typeof PlanResponseSchema>;
export type PlanView = Static<typeof PlanViewSchema>;
export type ChangeRequest = Static<typeof ChangeRequestSchema>;
export type StoredRequest = Static<typeof StoredRequestSchema>;

/** A stored request that does not match the contract (an older or damaged row). */
export class StoredRequestError extends Error {
  readonly code = 'CM_ERR_STORED_REQUEST';
  constructor(topologyId: string, problems: readonly string[]) {
    super(`the stored request of topology ${topologyId} does not match this version's contract (${problems.slice(0, 5).join('; ')}); it cannot be planned, changed or re-deployed — delete it and submit it again`);
    this.name = 'StoredRequestError';
  }
}

/** Decodes a stored request, never a cast: a row that does not match says why. */
export function decodeStoredRequest(topologyId: string, value: unknown): StoredRequest {
  if (Value.Check(StoredRequestSchema, value)) return value;
  const problems = [...Value.Errors(StoredRequestSchema, value)].map((e) => `${e.instancePath || '/'} ${e.message}`);
  throw new StoredRequestError(topologyId, problems);
}

/** Used and capacity of one resource class on a host (Placement's view). */
const ResourceUseSchema = Nullable(Type.Object({ used: Type.Number(), capacity: Type.Number() }, { description: 'null when the capacity source does not report it' }));

/** One compute host as the manager plans with it (`GET /v1/hosts`). */
export const ManagerHostSchema = Type.Object({
  name: Type.String(),
  state: Type.Union([Type.Literal('up'), Type.Literal('down')]),
  status: Type.Union([Type.Literal('enabled'), Type.Literal('disabled')]),
  disabled_reason: Nullable(Type.String()),
  availability_zone: Nullable(Type.String()),
  instances: Type.Integer({ description: 'Servers Nova places on the host (any status)' }),
  vcpu: ResourceUseSchema,
  ram_mb: ResourceUseSchema,
  disk_gb: ResourceUseSchema,
  uplink_bps: Type.Number({ description: "The host's uplink as configured (`uplink:`), each direction" }),
  committed_bps: Type.Number({ description: "Guaranteed traffic of the live topologies' plans that crosses this host's uplink" }),
  topologies: Type.Array(Type.String(), { description: 'Names of the live topologies with units on the host' }),
  guarantees: Nullable(V1HostGuaranteesSchema),
  observed_download_bps: Nullable(Type.Number({ description: "Sum of the host's SLA'd VMs' download rates as the switch counted them; null without live rates" })),
  observed_upload_bps: Nullable(Type.Number()),
  ovsdb: Type.Union([Type.Literal('ok'), Type.Literal('unavailable'), Type.Literal('other-replica')]),
  openflow: Nullable(Type.Union([Type.Literal('connected'), Type.Literal('disconnected')])),
  owner_agent: Nullable(Type.String()),
  warnings: Type.Array(Type.String()),
});
export type ManagerHost = Static<typeof ManagerHostSchema>;

export const ManagerHostsSchema = Type.Object({
  refreshed_at: Type.String({ format: 'date-time', description: "When the agent last read the cloud" }),
  stale: Type.Boolean({ description: "True when the agent's latest refresh failed and this is the previous data" }),
  hosts: Type.Array(ManagerHostSchema),
});
export type ManagerHosts = Static<typeof ManagerHostsSchema>;
