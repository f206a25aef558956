/**
 * The deployment state machine. Each topology is driven from whatever state
 * the store says it is in, so a manager restarted mid-deployment resumes where
 * the previous one stopped (it claims the topology's lease first):
 *
 *   PLANNED ─deploy→ DEPLOYING ─stack complete→ DEPLOYED ─SLAs sent→ ENFORCING ─all applied→ ACTIVE
 *                        │  no valid host: delete stack, re-plan with fresh capacity once
 *                        └→ FAILED (Heat's reasons per resource)
 *   any ─delete→ DELETING ─SLAs removed, stack deleted→ DELETED
 *                    │  agent unreachable: the stack is deleted anyway, then
 *                    └→ DELETING (error CM_ERR_SLA_REMOVAL_PENDING) ─agent back, SLAs removed→ DELETED
 *
 * Every step is idempotent: the stack is looked up by name before creating
 * (a crash between create and recording its id must not create a second
 * one), SLA PUTs and DELETEs are idempotent on the agent.
 *
 * Errors of OpenStack and the agent are judged by `classifyUpstream`
 * (upstream.ts): a permanent one (400, 403, 404, 413, 422, …) fails the
 * topology at once with the service's message; a transient one (connection,
 * timeout, 5xx, 429, 409) re-runs the step after a capped exponential
 * backoff, for at most `retryDeadlineMs` per step, then fails it with the
 * last error.
 */
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import type { V1Hosts } from '../agent/hosts-view.ts';
import type { AbsoluteLimits, Flavor as NovaFlavor, Server, Stack, StackResource } from '../openstack/index.ts';
import { formatBps } from '../placement/index.ts';
import type { FeasiblePlan, InfeasibleReason, PlacementPlan, PlanExplanation, TrafficDemand } from '../placement/types.ts';
import { mergeChanges, type TopologyChanges } from '../topology/changes.ts';
import { placeAddedUnits, uplinkOvercommit, uplinkUse, type AddedUnitsInput, type AddedUnitsPlacement } from './changes.ts';
import { decodeStoredRequest, StoredRequestError } from './contract.ts';
import { StoreTransitionError, type ManagerStore, type Topology as TopologyRecord, type TopologyState, type TopologyUnit } from '../store/index.ts';
import { slaRequestBody, sortedPeers, type PeerGuarantee } from '../qos/sla.ts';
import { serverResource, slaClass, slaOf, stackCreateRequest, trafficDemands } from '../topology/index.ts';
import type { SlaClassConfig, Topology } from '../topology/types.ts';
import { AgentClientError, type AgentSlaBody, type AgentSlaStatusItem } from './agent-client.ts';
import { committedUplinks, type UplinkConfig } from './cloud-view.ts';
import { parseRequest, planRequest, type PlanInputs, type PlannedTopology, type TopologyRequest } from './planner.ts';
import { backoffMs, boundLogFields, boundText, classifyUpstream, DeploymentFailure, type BackoffPolicy, type UpstreamVerdict } from './upstream.ts';
import type { TopologyLimits } from '../topology/limits.ts';

/** What the deployer needs of the agent (an `AgentClient` fits). */
export interface AgentApi {
  /** `fresh`: re-read the cloud rather than serve the cached inventory. */
  hosts(signal?: AbortSignal, options?: { fresh?: boolean }): Promise<V1Hosts>;
  putSla(serverId: string, body: AgentSlaBody, signal?: AbortSignal): Promise<void>;
  deleteSla(serverId: string, signal?: AbortSignal): Promise<void>;
  slaStatus(signal?: AbortSignal, serverIds?: readonly string[]): Promise<AgentSlaStatusItem[]>;
}

/** What the deployer needs of OpenStack (a subset of `createOpenStack(...)`). */
export interface CloudApi {
  nova: {
    listFlavors(q?: { limit?: number }, o?: { signal?: AbortSignal }): Promise<NovaFlavor[]>;
    limits(q?: { tenantId?: string }, o?: { signal?: AbortSignal }): Promise<AbsoluteLimits>;
    getServer(id: string, o?: { signal?: AbortSignal }): Promise<Server>;
  };
  heat: {
    createStack(
      r: { name: string; template: Record<string, unknown>; disableRollback?: boolean; timeoutMins?: number; tags?: string[] },
      o?: { signal?: AbortSignal },
    ): Promise<{ id: string }>;
    updateStack(name: string, id: string, r: { template: Record<string, unknown>; disableRollback?: boolean; timeoutMins?: number }, o?: { signal?: AbortSignal }): Promise<void>;
    findStack(nameOrId: string, id?: string, o?: { signal?: AbortSignal }): Promise<Stack | undefined>;
    deleteStack(nameOrId: string, id?: string, o?: { signal?: AbortSignal }): Promise<void>;
    listResources(name: string, id: string, o?: { signal?: AbortSignal }): Promise<StackResource[]>;
  };
}

export interface DeployerOptions {
  store: ManagerStore;
  agent: AgentApi;
  cloud: CloudApi;
  classes: SlaClassConfig;
  uplink: UplinkConfig;
  availabilityZone: string;
  stackTimeoutS: number;
  enforceTimeoutS: number;
  leaseMs: number;
  /** Unique per process; the lease owner. */
  ownerId?: string;
  /** How often in-flight topologies with expired leases are looked for. @default 2000 */
  claimIntervalMs?: number;
  /** First poll interval of Heat and the agent; doubles up to 2 s. @default 250 */
  pollMs?: number;
  /**
   * How long transient errors of OpenStack or the agent (connection, timeout, 5xx, 429, 409: see
   * upstream.ts) are retried within one step, counted from its first such error; then the
   * topology FAILs with the last one. @default stackTimeoutS × 1000
   */
  retryDeadlineMs?: number;
  /** First wait before such a retry (and before retrying a pending SLA removal), doubled each time. @default pollMs */
  retryBaseMs?: number;
  /** Longest wait between retries. @default 30000 */
  retryMaxMs?: number;
  /** Gets every event with each string field bounded (upstream.ts `boundLogFields`). */
  logger?: (event: Record<string, unknown>) => void;
  /**
   * The cloud acting in a topology's project (its stack and servers live there); default: `cloud`
   * for every project. The manager's ProjectClouds gives a token scoped to the caller's project.
   */
  cloudFor?: (projectId: string, signal: AbortSignal) => Promise<CloudApi>;
  /** Runs the engine (a worker thread in the manager: PlanRunner); default: in this thread. */
  planner?: (request: TopologyRequest, inputs: PlanInputs) => Promise<PlannedTopology>;
  /** Places a scale-out's new units (the same worker in the manager); default: in this thread. */
  placer?: (input: AddedUnitsInput) => Promise<AddedUnitsPlacement>;
  /** What a topology may ask for, applied when it is planned (default: DEFAULT_TOPOLOGY_LIMITS). */
  topologyLimits?: Readonly<TopologyLimits>;
}

/** `error.code` of a DELETING topology whose SLAs the agent has not removed yet (its stack deleting or gone). */
export const SLA_REMOVAL_PENDING = 'CM_ERR_SLA_REMOVAL_PENDING';

/** `error.details` of a pending SLA removal. */
export interface SlaRemovalPending {
  /** Servers whose SLA is still to be removed from the agent. */
  servers: string[];
  /** The stack is gone (deleted, or there was none); false while Heat is still deleting it. */
  stack_deleted: boolean;
  /** Why the agent did not remove them (bounded). */
  reason: string;
}

/** The pending SLA removal recorded in a DELETING topology, if any. */
export function pendingSlaRemoval(t: Pick<TopologyRecord, 'state' | 'error'>): SlaRemovalPending | undefined {
  if (t.state !== 'DELETING' || t.error?.code !== SLA_REMOVAL_PENDING) return undefined;
  const d = t.error.details as Partial<SlaRemovalPending> | undefined;
  if (!Array.isArray(d?.servers) || !d.servers.every((x) => typeof x === 'string')) return undefined;
  return { servers: d.servers, stack_deleted: d.stack_deleted !== false, reason: typeof d.reason === 'string' ? d.reason : '' };
}

/** One unit's row in the record (`units`), with what we learnt along the way; where the plan put it is in the plan. */
export interface UnitRecord extends TopologyUnit {
  serviceInstance: string | null;
}

/** The host the stored plan gives a unit (null: Nova decides, or no plan yet). */
export function plannedHostOf(plan: StoredPlan | null, unit: string): string | null {
  return plan?.placement.feasible === true ? (plan.placement.assignments[unit] ?? null) : null;
}

/**
 * The pair guarantees each unit's SLA carries, by unit name: every traffic
 * demand between two units that both have a server makes each the other's
 * peer at the demand's rate (the agent guarantees a pair in both directions).
 * Demands naming the same two servers add up, as they are separate flows.
 * Units without such a demand are absent. Pure.
 */
export function peerGuaranteesByUnit(demands: readonly TrafficDemand[], units: readonly Pick<TopologyUnit, 'name' | 'serverId'>[]): Map<string, PeerGuarantee[]> {
  const serverOf = new Map(units.flatMap((u) => (u.serverId === null ? [] : [[u.name, u.serverId.toLowerCase()] as const])));
  const rates = new Map<string, Map<string, number>>();
  const add = (unit: string, peerServer: string, bps: number): void => {
    const byPeer = rates.get(unit) ?? new Map<string, number>();
    byPeer.set(peerServer, (byPeer.get(peerServer) ?? 0) + bps);
    rates.set(unit, byPeer);
  };
  for (const d of demands) {
    const a = serverOf.get(d.a);
    const b = serverOf.get(d.b);
    // A unit without a server gets no SLA, and one cannot be promised anything towards it; a VM is never its own peer.
    if (a === undefined || b === undefined || a === b || d.guaranteedBps <= 0) continue;
    add(d.a, b, d.guaranteedBps);
    add(d.b, a, d.guaranteedBps);
  }
  return new Map([...rates].map(([unit, byPeer]) => [unit, sortedPeers([...byPeer].map(([serverId, minRate]) => ({ serverId, minRate })))]));
}

/** The stored plan: the engine's plan plus what produced it. */
export interface StoredPlan {
  placement: PlacementPlan;
  /** When the hosts were read for it. */
  plannedAt: string;
  /** Which attempt produced it (1 = at submission). */
  attempt: number;
  /** A scale change in flight: the stack is to be updated to the plan's units (DEPLOYING). */
  update?: StackUpdate;
}

export interface StackUpdate {
  /** Units the change removes, with their servers (their SLAs go before the stack update). */
  removed: { name: string; serverId: string | null }[];
  /** Units it adds. */
  added: string[];
  /** Heat has been sent the new template. */
  stackUpdated: boolean;
}

class LeaseLostError extends Error {}

/** A step's answer: it waits for Heat or the agent; look again after a backoff. */
const POLL = Symbol('poll');
/** Like POLL, for a wait on the agent to come back: re-queued with the (longer) retry backoff. */
const AGENT_WAIT = Symbol('agent-wait');

/** A change to a running topology that does not fit: nothing was changed. */
export class ChangeRefused extends Error {
  readonly code = 'CM_ERR_CHANGE_REFUSED';
  constructor(
    message: string,
    readonly reasons: InfeasibleReason[],
  ) {
    super(message);
    this.name = 'ChangeRefused';
  }
}

const NO_VALID_HOST = /no valid host/i;

/** A state change this manager made (for metrics). */
export interface TransitionEvent {
  topology: string;
  from: TopologyState;
  to: TopologyState;
  /** When the topology was submitted (ISO). */
  createdAt: string;
  at: number;
}

export class Deployer {
  readonly ownerId: string;
  private readonly running = new Map<string, Promise<void>>();
  private readonly transitionListeners: ((e: TransitionEvent) => void)[] = [];
  private readonly lifetime = new AbortController();
  private claimTimer: NodeJS.Timeout | undefined;
  /** Topologies whose drive stopped on an error nobody judged (store, bug): not driven again before `notBefore`. */
  private readonly driveFailures = new Map<string, { count: number; notBefore: number }>();
  private readonly backoff: BackoffPolicy;
  /** Between two looks at a stack in progress or SLAs not applied yet. */
  private readonly pollBackoff: BackoffPolicy;
  /** ENFORCING: the units whose SLA this manager has sent since the topology entered the state (by topology, with that moment). */
  private readonly slasSent = new Map<string, { since: string; units: Set<string> }>();
  /** Topologies whose stack Heat failed to delete once (asked again once, then FAILED). */
  private readonly deleteRetried = new Set<string>();
  /** How many servers' SLAs a deletion removed before asking Heat to delete the stack (for the DELETED message). */
  private readonly removedOnDelete = new Map<string, number>();
  private readonly retryDeadlineMs: number;

  constructor(private readonly o: DeployerOptions) {
    this.ownerId = o.ownerId ?? `${os.hostname()}:${String(process.pid)}:${randomUUID().slice(0, 8)}`;
    this.backoff = { baseMs: o.retryBaseMs ?? o.pollMs ?? 250, maxMs: o.retryMaxMs ?? 30_000 };
    this.pollBackoff = { baseMs: o.pollMs ?? 250, maxMs: 2000 };
    this.retryDeadlineMs = o.retryDeadlineMs ?? o.stackTimeoutS * 1000;
  }

  /** Starts claiming in-flight topologies (those of a crashed manager included). */
  start(): void {
    const tick = (): void => {
      void this.claim().finally(() => {
        if (!this.lifetime.signal.aborted) this.claimTimer = setTimeout(tick, this.o.claimIntervalMs ?? 2000);
      });
    };
    tick();
  }

  /** Stops driving topologies; they stay where they are, leases released, for the next manager. */
  async stop(): Promise<void> {
    this.lifetime.abort();
    clearTimeout(this.claimTimer);
    await Promise.allSettled([...this.running.values()]);
  }

  /** Claims what is resumable now and drives each claimed topology. */
  async claim(): Promise<void> {
    if (this.lifetime.signal.aborted) return;
    let claimed: TopologyRecord[];
    try {
      claimed = await this.o.store.claimResumable(this.ownerId, new Date(), this.o.leaseMs);
    } catch (error) {
      this.log({ event: 'claim_failed', error: errorText(error) });
      return;
    }
    for (const t of claimed) this.drive(t.id);
  }

  onTransition(listener: (e: TransitionEvent) => void): void {
    this.transitionListeners.push(listener);
  }

  /** Plans with the cloud as it is now. */
  /**
   * Plans against the cloud as it is now. `projectId`: the project the topology belongs to, whose
   * quota bounds it (read with the manager's admin credentials, Nova's `GET /limits?tenant_id=`);
   * absent: the manager's own project.
   */
  async plan(request: TopologyRequest, signal?: AbortSignal, excludeTopology?: string, projectId?: string): Promise<PlannedTopology> {
    const [{ hosts, flavors, limits }, committed] = await Promise.all([this.cloudNow(projectId, signal), this.committed(excludeTopology)]);
    const inputs = { hosts, flavors, limits, uplink: this.o.uplink, committed, classes: this.o.classes, ...(this.o.topologyLimits ? { topologyLimits: this.o.topologyLimits } : {}) };
    return this.o.planner ? this.o.planner(request, inputs) : planRequest(request, inputs);
  }

  /**
   * What a plan is made with, read now: the hosts (the agent re-reads the cloud), the flavors and
   * the project's quota (`projectId` absent: the manager's own). Without the quota the plan is
   * still bounded by the hosts; the failure is logged, not hidden.
   */
  private async cloudNow(projectId: string | undefined, signal: AbortSignal | undefined): Promise<{ hosts: V1Hosts; flavors: NovaFlavor[]; limits: AbsoluteLimits | undefined }> {
    const o = signal ? { signal } : {};
    const [hosts, flavors, limits] = await Promise.all([
      this.o.agent.hosts(signal, { fresh: true }),
      this.o.cloud.nova.listFlavors({}, o),
      this.o.cloud.nova.limits(projectId === undefined ? {} : { tenantId: projectId }, o).catch((error: unknown) => {
        this.log({ event: 'quota_unknown', level: 'warn', project: projectId ?? null, error: (error as Error).message });
        return undefined;
      }),
    ]);
    return { hosts, flavors, limits };
  }

  /**
   * Applies a PATCH to an ACTIVE topology. Only classes changed: {@link changeClasses}. Counts
   * changed: the new units are placed by the engine — first on the host of the units they
   * exchange the most guaranteed traffic with, alone, then wherever the topology's strategy
   * puts them — every uplink is checked under the whole new placement, and the topology goes
   * ACTIVE → DEPLOYING: removed units' SLAs are deleted, the stack is updated (Heat adds and
   * removes servers, leaves the others alone), then DEPLOYED → ENFORCING → ACTIVE as after a
   * deployment. Nothing changes when the change does not fit.
   * @throws TopologyError, ChangeRefused, StoreTransitionError / StoreConflictError.
   */
  async changeTopology(t: TopologyRecord, changes: TopologyChanges, signal?: AbortSignal): Promise<{ record: TopologyRecord; changed: string[] }> {
    const request = this.requestOf(t);
    const next: TopologyRequest = { ...request, changes: mergeChanges(request.changes, changes) };
    const topology = parseRequest(next, this.o.classes, this.o.topologyLimits);
    const before = t.units as UnitRecord[];
    const known = new Set(before.map((u) => u.name));
    const kept = new Set(topology.units.map((u) => u.id));
    const added = topology.units.filter((u) => !known.has(u.id)).map((u) => u.id);
    const removed = before.filter((u) => !kept.has(u.name));
    if (added.length === 0 && removed.length === 0) return this.applyClassChange(t, changes, next, topology);
    const stored = t.plan as StoredPlan | null;
    const placement = stored?.placement;
    if (!stored || placement?.feasible !== true) throw new ChangeRefused(`${t.name} has no feasible plan to change`, []);

    const assignments: Record<string, string | null> = {};
    for (const [unit, host] of Object.entries(placement.assignments)) if (kept.has(unit)) assignments[unit] = host;
    const demands = trafficDemands(topology);
    const others = await this.committed(t.id);
    let placedNote = '';
    let explanation: PlanExplanation | undefined;
    if (added.length > 0) {
      const placed = await this.placeAdded(t, next.strategy, topology, added, assignments, demands, others, signal);
      Object.assign(assignments, placed.assignments);
      explanation = placed.explanation;
      placedNote = placed.note;
    }
    const use = uplinkUse(demands, assignments);
    const reasons = uplinkOvercommit(use, others, this.o.uplink);
    if (reasons.length > 0) throw new ChangeRefused(`the change's guarantees do not fit the uplinks: ${reasons.map((r) => r.message).join('; ')}`, reasons);

    const classOf = new Map(topology.serviceInstances.map((si) => [si.name, si.slaClass]));
    const byName = new Map(before.map((u) => [u.name, u]));
    const units: UnitRecord[] = topology.units.map((u) => {
      const cls = classOf.get(u.serviceInstance) ?? null;
      const old = byName.get(u.id);
      if (old) return old.slaClass === cls ? old : { ...old, slaClass: cls, slaState: null };
      return { name: u.id, serviceInstance: u.serviceInstance, host: null, serverId: null, ports: [], slaClass: cls, slaState: null };
    });
    const hosts = [...new Set(Object.values(assignments).filter((h): h is string => h !== null))].sort();
    const update: StackUpdate = { removed: removed.map((u) => ({ name: u.name, serverId: u.serverId })), added, stackUpdated: false };
    const plan: StoredPlan = { ...stored, placement: { ...placement, assignments, hosts, ...use }, update };
    const counts = topology.serviceInstances
      .map((si) => ({ name: si.name, from: before.filter((u) => u.serviceInstance === si.name).length, to: topology.units.filter((u) => u.serviceInstance === si.name).length }))
      .filter((c) => c.from !== c.to);
    const message =
      `scale ${counts.map((c) => `${c.name} ${String(c.from)} → ${String(c.to)}`).join(', ')}` +
      (added.length > 0 ? `: ${added.join(', ')} ${placedNote}` : '') +
      (removed.length > 0 ? `${added.length > 0 ? ';' : ':'} ${removed.map((u) => u.name).join(', ')} removed` : '') +
      `; updating stack ${t.stackName}`;
    const record = await this.o.store.transition(t.id, {
      from: ['ACTIVE'],
      to: 'DEPLOYING',
      message,
      patch: { request: next, units, plan },
      details: { changes, added, removed: update.removed, ...(explanation ? { explanation } : {}) },
      expectedVersion: t.version,
    });
    this.log({ event: 'scale_requested', topology: t.id, added, removed: removed.map((u) => u.name) });
    this.kick();
    return { record, changed: counts.map((c) => c.name) };
  }

  /** Where the added units go ({@link placeAddedUnits}, in the planning worker when there is one), with the cloud as it is now. */
  private async placeAdded(
    t: TopologyRecord,
    strategy: TopologyRequest['strategy'],
    topology: Topology,
    added: readonly string[],
    keptAssignments: Readonly<Record<string, string | null>>,
    demands: readonly TrafficDemand[],
    others: ReadonlyMap<string, number>,
    signal: AbortSignal | undefined,
  ): Promise<{ assignments: Record<string, string | null>; explanation: PlanExplanation; note: string }> {
    const { hosts, flavors, limits } = await this.cloudNow(t.projectId, signal);
    const input: AddedUnitsInput = { topology, added, keptAssignments, demands, others, hosts, flavors, limits, uplink: this.o.uplink, strategy };
    const result = this.o.placer ? await this.o.placer(input) : placeAddedUnits(input);
    if (!result.placed) throw new ChangeRefused(result.message, result.reasons);
    return result;
  }

  /**
   * Changes the SLA classes of an ACTIVE topology's service instances in place: no server is
   * touched; the units' SLAs are sent to the agent again (ACTIVE → ENFORCING → ACTIVE). The
   * guaranteed traffic the new classes derive must still fit every uplink under the current
   * placement, next to the other topologies'; otherwise nothing changes.
   * @throws TopologyError (an unknown instance or class), ChangeRefused (the uplinks),
   *   StoreTransitionError / StoreConflictError (not ACTIVE, or changed meanwhile).
   */
  async changeClasses(t: TopologyRecord, changes: TopologyChanges): Promise<{ record: TopologyRecord; changed: string[] }> {
    const request = this.requestOf(t);
    const next: TopologyRequest = { ...request, changes: mergeChanges(request.changes, changes) };
    return this.applyClassChange(t, changes, next, parseRequest(next, this.o.classes, this.o.topologyLimits));
  }

  /** {@link changeClasses} with the changed request already parsed (`next`, `topology`). */
  private async applyClassChange(t: TopologyRecord, changes: TopologyChanges, next: TopologyRequest, topology: Topology): Promise<{ record: TopologyRecord; changed: string[] }> {
    const classOf = new Map(topology.serviceInstances.map((si) => [si.name, si.slaClass]));
    const before = t.units as UnitRecord[];
    const changed = [...new Set(before.filter((u) => u.serviceInstance !== null && u.slaClass !== classOf.get(u.serviceInstance)).map((u) => u.serviceInstance as string))];
    if (changed.length === 0) return { record: t, changed };
    const stored = t.plan as StoredPlan | null;
    const placement = stored?.placement;
    if (placement?.feasible !== true) throw new ChangeRefused(`${t.name} has no feasible plan to change`, []);
    const use = uplinkUse(trafficDemands(topology), placement.assignments);
    const reasons = uplinkOvercommit(use, await this.committed(t.id), this.o.uplink);
    if (reasons.length > 0) throw new ChangeRefused(`the new classes' guarantees do not fit the uplinks: ${reasons.map((r) => r.message).join('; ')}`, reasons);
    const units = before.map((u) => {
      const cls = u.serviceInstance === null ? u.slaClass : (classOf.get(u.serviceInstance) ?? u.slaClass);
      return cls === u.slaClass ? u : { ...u, slaClass: cls, slaState: null };
    });
    const from = (name: string): string => before.find((u) => u.serviceInstance === name)?.slaClass ?? '?';
    const what = changed.map((name) => `${name} ${from(name)} → ${String(classOf.get(name))}`).join(', ');
    const record = await this.o.store.transition(t.id, {
      from: ['ACTIVE'],
      to: 'ENFORCING',
      message: `SLA class changed: ${what}; re-applying the SLAs (no server touched)`,
      patch: { request: next, units, plan: { ...stored, placement: { ...placement, ...use } } },
      details: { changes },
      expectedVersion: t.version,
    });
    this.log({ event: 'sla_class_changed', topology: t.id, instances: changed });
    this.kick();
    return { record, changed };
  }

  /** Guaranteed uplink use of the topologies placed so far (not deleted, not failed). */
  private async committed(exclude?: string): Promise<Map<string, number>> {
    const plans: { uplinkBps?: Record<string, number> }[] = [];
    let cursor: string | null = null;
    do {
      const page = await this.o.store.listTopologies({ states: ['DEPLOYING', 'DEPLOYED', 'ENFORCING', 'ACTIVE'], limit: 1000, cursor });
      for (const t of page.items) {
        const p = (t.plan as StoredPlan | null)?.placement;
        if (t.id !== exclude && p?.feasible) plans.push(p);
      }
      cursor = page.nextCursor;
    } while (cursor !== null);
    return committedUplinks(plans);
  }

  private drive(id: string): void {
    if (this.running.has(id) || this.lifetime.signal.aborted) return;
    // The claim loop comes back every 2 s: a drive that keeps failing must not restart at that pace.
    const failed = this.driveFailures.get(id);
    if (failed && Date.now() < failed.notBefore) return;
    const run = this.runTopology(id)
      .then(() => {
        this.driveFailures.delete(id);
      })
      .catch((error: unknown) => {
        const count = (this.driveFailures.get(id)?.count ?? 0) + 1;
        const wait = backoffMs(count, this.backoff);
        this.driveFailures.set(id, { count, notBefore: Date.now() + wait });
        this.log({ event: 'drive_failed', topology: id, attempt: count, retry_in_ms: wait, error: errorText(error) });
      })
      .finally(() => {
        this.running.delete(id);
        void this.o.store.releaseLease(id, this.ownerId).catch(() => undefined);
      });
    this.running.set(id, run);
  }

  /** Asks for the topology to be driven now (after a submit or a delete). */
  kick(): void {
    void this.claim();
  }

  private async runTopology(id: string): Promise<void> {
    const signal = this.lifetime.signal;
    let renewedAt = Date.now();
    const renew = async (): Promise<void> => {
      if (Date.now() - renewedAt < this.o.leaseMs / 3) return;
      if (!(await this.o.store.renewLease(id, this.ownerId, new Date(), this.o.leaseMs))) throw new LeaseLostError(`lease of ${id} lost`);
      renewedAt = Date.now();
    };
    /** Whether an error ends the drive (true) or the topology is to be read again (false); anything else is rethrown. */
    const ends = (error: unknown): boolean => {
      if (error instanceof LeaseLostError) {
        this.log({ event: 'lease_lost', topology: id });
        return true;
      }
      // Someone else moved it (a DELETE while deploying): read it again and go on from there.
      if (error instanceof StoreTransitionError) return false;
      // An abort (stop()) ends the drive; the lease expires and a later claim resumes it.
      if (signal.aborted) return true;
      throw error;
    };
    // The transient upstream errors of the current step: since when, how many.
    let streak: { state: TopologyState; since: number; attempts: number } | undefined;
    // The polls of the current step (a stack in progress, SLAs not applied yet): how many so far.
    let polls: { state: TopologyState; count: number } | undefined;
    while (!signal.aborted) {
      const t = await this.o.store.getTopology(id);
      if (!t) return;
      if (streak?.state !== t.state) streak = undefined;
      if (polls?.state !== t.state) polls = undefined;
      let verdict: UpstreamVerdict | undefined;
      try {
        const result = await this.step(t, renew, signal);
        if (result === false) return;
        streak = undefined;
        if (result === POLL || result === AGENT_WAIT) {
          polls = { state: t.state, count: (polls?.count ?? 0) + 1 };
          await this.pause(id, t.state, backoffMs(polls.count, result === POLL ? this.pollBackoff : this.backoff), renew, signal);
        } else polls = undefined;
        continue;
      } catch (error) {
        verdict = error instanceof LeaseLostError || error instanceof StoreTransitionError || this.lifetime.signal.aborted ? undefined : classifyUpstream(error);
        if (verdict === undefined) {
          if (ends(error)) return;
          continue;
        }
      }
      try {
        if (verdict.kind === 'transient') {
          streak ??= { state: t.state, since: Date.now(), attempts: 0 };
          streak.attempts += 1;
          const left = streak.since + this.retryDeadlineMs - Date.now();
          if (left > 0) {
            const wait = Math.min(backoffMs(streak.attempts, this.backoff), left);
            this.log({ event: 'upstream_retry', topology: id, state: t.state, attempt: streak.attempts, retry_in_ms: wait, code: verdict.code, error: verdict.message });
            await this.pause(id, t.state, wait, renew, signal);
            continue;
          }
        }
        await this.failUpstream(t, verdict, streak);
      } catch (error) {
        if (ends(error)) return;
      }
    }
  }

  /**
   * Runs the step of the topology's state once: false when there is nothing (more) to do, true to
   * read it again and go on, POLL when it waits for Heat or the agent (the drive re-queues it after
   * a backoff instead of the step blocking in a loop).
   */
  private async step(t: TopologyRecord, renew: () => Promise<void>, signal: AbortSignal): Promise<boolean | typeof POLL | typeof AGENT_WAIT> {
    switch (t.state) {
      case 'PLANNED':
        if (t.deployRequestedAt === null) return false;
        await this.transition(t, ['PLANNED'], 'DEPLOYING', 'deployment started', { attempts: t.attempts + 1 });
        return true;
      case 'DEPLOYING':
        return (await this.deploying(t, renew, signal)) ?? true;
      case 'DEPLOYED':
        await this.deployed(t, signal);
        return true;
      case 'ENFORCING':
        return (await this.enforcing(t, signal)) ?? true;
      case 'DELETING':
        return (await this.deleting(t, signal)) ?? true;
      case 'ACTIVE':
      case 'FAILED':
      case 'DELETED':
        return false;
    }
  }

  /** FAILED with what the service said: at once for a permanent error, at the step's deadline for a transient one. */
  private async failUpstream(t: TopologyRecord, verdict: UpstreamVerdict, streak: { since: number; attempts: number } | undefined): Promise<void> {
    const gaveUp = verdict.kind === 'transient' && streak !== undefined;
    const message = gaveUp
      ? `${t.state}: still failing after ${String(streak.attempts)} attempt(s) over ${String(Math.round((Date.now() - streak.since) / 1000))} s: ${verdict.message}`
      : `${t.state}: ${verdict.message}`;
    const details = { ...(typeof verdict.details === 'object' && verdict.details !== null ? verdict.details : {}), transient: verdict.kind === 'transient', ...(gaveUp ? { attempts: streak.attempts } : {}) };
    this.log({ event: 'upstream_failed', topology: t.id, state: t.state, code: verdict.code, transient: verdict.kind === 'transient', error: verdict.message });
    await this.fail(t, verdict.code, message, details);
  }

  /**
   * Waits `ms` without losing the lease; returns early when the topology leaves
   * `state` meanwhile (a DELETE during a backoff need not wait for it to end).
   */
  private async pause(id: string, state: TopologyState, ms: number, renew: () => Promise<void>, signal: AbortSignal): Promise<void> {
    const until = Date.now() + ms;
    const slice = Math.max(10, Math.min(2000, this.o.leaseMs / 4));
    for (;;) {
      const left = until - Date.now();
      if (left <= 0) return;
      await delay(Math.min(left, slice), undefined, { signal });
      await renew();
      if (Date.now() < until && (await this.o.store.getTopology(id))?.state !== state) return;
    }
  }

  private async transition(
    t: TopologyRecord,
    from: readonly TopologyState[],
    to: TopologyState,
    message: string,
    patch?: Parameters<ManagerStore['transition']>[1]['patch'],
    details?: unknown,
  ): Promise<TopologyRecord> {
    const next = await this.o.store.transition(t.id, { from, to, message, ...(patch ? { patch } : {}), ...(details === undefined ? {} : { details }) });
    this.log({ event: 'transition', topology: t.id, name: t.name, from: t.state, to, message });
    const event: TransitionEvent = { topology: t.id, from: t.state, to, createdAt: t.createdAt, at: Date.now() };
    for (const listener of this.transitionListeners) {
      try {
        listener(event);
      } catch {
        // metrics must not break deployments
      }
    }
    return next;
  }

  /** The stored request decoded against the contract; a row that does not match fails the topology with the reason. */
  private requestOf(t: TopologyRecord): TopologyRequest {
    try {
      return decodeStoredRequest(t.id, t.request);
    } catch (error) {
      if (error instanceof StoredRequestError) throw new DeploymentFailure(error.code, error.message);
      throw error;
    }
  }

  private topologyOf(t: TopologyRecord): Topology {
    return parseRequest(this.requestOf(t), this.o.classes, this.o.topologyLimits);
  }

  /** The service instances of a stored topology with their unit counts (its request parsed again); empty when it no longer parses. */
  instancesOf(t: TopologyRecord): Map<string, number> {
    try {
      const topology = this.topologyOf(t);
      return new Map(topology.serviceInstances.map((si) => [si.name, topology.units.filter((u) => u.serviceInstance === si.name).length]));
    } catch {
      return new Map();
    }
  }

  /** The guaranteed traffic demands of a stored topology (its request parsed again); empty when it no longer parses. */
  demandsOf(t: TopologyRecord): TrafficDemand[] {
    try {
      return trafficDemands(this.topologyOf(t));
    } catch {
      return [];
    }
  }

  /** What the dashboard reads through the manager: the agent and the uplinks the plans use. */
  get agent(): AgentApi {
    return this.o.agent;
  }

  get uplink(): UplinkConfig {
    return this.o.uplink;
  }

  private async fail(t: TopologyRecord, code: string, message: string, details?: unknown): Promise<void> {
    await this.transition(t, [t.state], 'FAILED', message, { error: { code, message, ...(details === undefined ? {} : { details }) } }, details);
    this.forget(t.id);
  }

  /** What the drive remembered of a topology between looks, once it has ended (a DELETE mid-ENFORCING included). */
  private forget(id: string): void {
    this.slasSent.delete(id);
    this.deleteRetried.delete(id);
    this.removedOnDelete.delete(id);
  }

  // ------------------------------------------------------------- DEPLOYING

  /** A failed stack's resources for its reasons; when they cannot be listed the failure is logged and the stack's own reason stands. */
  private resourcesOrLogged(cloud: CloudApi, t: TopologyRecord, stackId: string, signal: AbortSignal): Promise<StackResource[]> {
    return cloud.heat.listResources(t.stackName, stackId, { signal }).catch((error: unknown) => {
      this.log({ event: 'stack_resources_unknown', level: 'warn', topology: t.id, stack: t.stackName, error: (error as Error).message });
      return [];
    });
  }

  /** The clients acting in the topology's project. */
  private async cloudOf(t: TopologyRecord, signal: AbortSignal): Promise<CloudApi> {
    return this.o.cloudFor ? this.o.cloudFor(t.projectId, signal) : this.o.cloud;
  }

  private async deploying(t: TopologyRecord, renew: () => Promise<void>, signal: AbortSignal): Promise<typeof POLL | undefined> {
    const cloud = await this.cloudOf(t, signal);
    let stackId = t.stackId;
    if (stackId === null) {
      // A crash between Heat's 201 and recording the id leaves a stack of our name: adopt it.
      const existing = await cloud.heat.findStack(t.stackName, undefined, { signal });
      if (existing && !existing.status.startsWith('DELETE')) {
        stackId = existing.id;
        await this.o.store.updateTopology(t.id, { stackId }, { expectedVersion: t.version });
        this.log({ event: 'stack_adopted', topology: t.id, stack: stackId });
        return;
      }
      // The stack of an earlier attempt (no valid host) is still going: a new one of the same name waits for it.
      if (existing?.status === 'DELETE_IN_PROGRESS') {
        this.checkDeleteDeadline(t, existing.status);
        return POLL;
      }
      await this.createStack(t, cloud, signal);
      return;
    }
    const stored = t.plan as StoredPlan | null;
    if (stored?.update && !stored.update.stackUpdated) {
      await this.updateStack(t, cloud, stackId, stored, stored.update, signal);
      return;
    }
    const stack = await this.stackNow(t, cloud, stackId, signal);
    if (stack === POLL) return POLL;
    if (stored?.update && stack.status !== 'UPDATE_COMPLETE') {
      // A failed update keeps what Heat made of it (disable_rollback): no re-plan, no stack deleted.
      const resources = stack.status === 'GONE' ? [] : await this.resourcesOrLogged(cloud, t, stackId, signal);
      const failures = resources.filter((r) => r.status.endsWith('_FAILED')).map((r) => ({ resource: r.name, status: r.status, reason: r.statusReason ?? '' }));
      await this.fail(t, 'CM_ERR_STACK_UPDATE_FAILED', `stack ${t.stackName} ${stack.status}: ${stack.statusReason ?? 'no reason given'}`, { failures });
      return;
    }
    if (stack.status === 'CREATE_COMPLETE' || stack.status === 'UPDATE_COMPLETE') {
      const resources = await cloud.heat.listResources(t.stackName, stackId, { signal });
      const topology = this.topologyOf(t);
      const byName = new Map(resources.map((r) => [r.name, r]));
      const units: UnitRecord[] = topology.units.map((u) => {
        const si = topology.serviceInstances.find((s) => s.name === u.serviceInstance);
        return {
          name: u.id,
          serviceInstance: u.serviceInstance,
          host: null,
          serverId: byName.get(serverResource(u.id))?.physicalId ?? null,
          ports: [],
          slaClass: si?.slaClass ?? null,
          slaState: null,
        };
      });
      if (stored?.update) {
        // Units the stack kept keep what is known of them; the new ones get their servers.
        const known = new Map((t.units as UnitRecord[]).map((u) => [u.name, u]));
        const merged = units.map((u) => ({ ...(known.get(u.name) ?? u), serverId: u.serverId }));
        const { update: _done, ...plan } = stored;
        await this.transition(t, ['DEPLOYING'], 'DEPLOYED', `stack ${t.stackName} UPDATE_COMPLETE`, { units: merged, plan });
        return;
      }
      await this.transition(t, ['DEPLOYING'], 'DEPLOYED', `stack ${t.stackName} CREATE_COMPLETE`, { units });
      return;
    }
    // CREATE_FAILED (or a stack that vanished)
    // The stack's own reason is still there when its resources cannot be listed; the listing's failure is logged.
    const resources =
      stack.status === 'GONE'
        ? []
        : await this.resourcesOrLogged(cloud, t, stackId, signal);
    const failures = resources
      .filter((r) => r.status.endsWith('_FAILED'))
      .map((r) => ({ resource: r.name, status: r.status, reason: r.statusReason ?? '' }));
    const noValidHost = failures.some((f) => NO_VALID_HOST.test(f.reason)) || NO_VALID_HOST.test(stack.statusReason ?? '');
    if (noValidHost && t.attempts < 2) {
      // The cloud changed between planning and creating: drop this stack and plan once more with what is free now.
      // Asked to go; the next look waits for it before creating the new one (same name).
      await this.askToDelete(cloud, t, stackId, signal);
      await this.transition(
        t,
        ['DEPLOYING'],
        'DEPLOYING',
        `no valid host for ${failures.map((f) => f.resource).join(', ') || 'a server'}; stack deleted, re-planning with fresh capacity`,
        { stackId: null, attempts: t.attempts + 1 },
        { failures },
      );
      return;
    }
    await this.fail(t, noValidHost ? 'CM_ERR_NO_VALID_HOST' : 'CM_ERR_STACK_FAILED', `stack ${t.stackName} ${stack.status}: ${stack.statusReason ?? 'no reason given'}`, { failures });
  }

  /** A scale change: the removed units' SLAs go first (while the agent still sees their ports), then Heat gets the new template. */
  private async updateStack(t: TopologyRecord, cloud: CloudApi, stackId: string, stored: StoredPlan, update: StackUpdate, signal: AbortSignal): Promise<void> {
    // An agent error here is retried like any other (upstream.ts); a 404 (no SLA) is success in the client.
    for (const u of update.removed) if (u.serverId !== null) await this.o.agent.deleteSla(u.serverId, signal);
    const placement = stored.placement;
    if (!placement.feasible) throw new DeploymentFailure('CM_ERR_INFEASIBLE', `${t.name}: no feasible plan to update the stack to`);
    const body = stackCreateRequest(this.topologyOf(t), {
      assignments: placement.assignments,
      availabilityZone: this.o.availabilityZone,
      stackName: t.stackName,
      timeoutMins: Math.max(1, Math.ceil(this.o.stackTimeoutS / 60)),
      tags: ['cm', `cm-topology-${t.id}`],
    });
    await cloud.heat.updateStack(t.stackName, stackId, { template: body.template, disableRollback: true, ...(body.timeout_mins === undefined ? {} : { timeoutMins: body.timeout_mins }) }, { signal });
    const added = update.added.map((u) => `${u} on ${placement.assignments[u] ?? "Nova's choice"}`);
    await this.o.store.transition(t.id, {
      from: ['DEPLOYING'],
      to: 'DEPLOYING',
      message: `stack ${t.stackName} update sent: ${String((t.units as UnitRecord[]).length)} servers${added.length > 0 ? `, adding ${added.join(', ')}` : ''}${update.removed.length > 0 ? `, removing ${update.removed.map((u) => u.name).join(', ')} (SLAs removed)` : ''}`,
      patch: { plan: { ...stored, update: { ...update, stackUpdated: true } } },
      expectedVersion: t.version,
    });
    this.log({ event: 'stack_update_sent', topology: t.id, stack: stackId, added: update.added, removed: update.removed.map((u) => u.name) });
  }

  private async createStack(t: TopologyRecord, cloud: CloudApi, signal: AbortSignal): Promise<void> {
    const request = this.requestOf(t);
    const stored = t.plan as StoredPlan | null;
    // Capacity is re-read just before creating: the plan may be minutes old (or from before a crash).
    const planned = await this.plan(request, signal, t.id, t.projectId);
    if (!planned.plan.feasible) {
      await this.fail(t, 'CM_ERR_INFEASIBLE', `no longer placeable: ${planned.plan.explanation.summary}`, { reasons: planned.plan.reasons });
      return;
    }
    const plan: FeasiblePlan = planned.plan;
    const previous = stored?.placement.feasible === true ? stored.placement.assignments : undefined;
    const moved = previous ? Object.keys(plan.assignments).filter((u) => previous[u] !== plan.assignments[u]) : [];
    const body = stackCreateRequest(planned.topology, {
      assignments: plan.assignments,
      availabilityZone: this.o.availabilityZone,
      stackName: t.stackName,
      timeoutMins: Math.max(1, Math.ceil(this.o.stackTimeoutS / 60)),
      tags: ['cm', `cm-topology-${t.id}`],
    });
    const units: UnitRecord[] = planned.topology.units.map((u) => ({
      name: u.id,
      serviceInstance: u.serviceInstance,
      host: null,
      serverId: null,
      ports: [],
      slaClass: planned.topology.serviceInstances.find((s) => s.name === u.serviceInstance)?.slaClass ?? null,
      slaState: null,
    }));
    const newPlan: StoredPlan = { placement: plan, plannedAt: new Date().toISOString(), attempt: t.attempts };
    // Record the fresh plan before Heat sees it, so what is deployed is always what the record says.
    const current = await this.o.store.updateTopology(t.id, { plan: newPlan, units }, { expectedVersion: t.version });
    if (moved.length > 0) this.log({ event: 'replanned', topology: t.id, moved });
    const created = await cloud.heat.createStack(
      { name: body.stack_name, template: body.template, disableRollback: body.disable_rollback, ...(body.timeout_mins === undefined ? {} : { timeoutMins: body.timeout_mins }), tags: ['cm', `cm-topology-${t.id}`] },
      { signal },
    );
    const pins = plan.hosts.map((h) => `${String(Object.values(plan.assignments).filter((x) => x === h).length)} on ${h}`).join(', ');
    await this.o.store.transition(t.id, {
      from: ['DEPLOYING'],
      to: 'DEPLOYING',
      message: `stack ${t.stackName} created: ${String(units.length)} servers${pins === '' ? ' (hosts left to Nova)' : ` pinned (${pins})`}${moved.length > 0 ? `; re-planned: ${moved.join(', ')} moved` : ''}`,
      patch: { stackId: created.id },
      expectedVersion: current.version,
    });
    this.log({ event: 'stack_created', topology: t.id, stack: created.id, hosts: plan.hosts });
  }

  /**
   * The stack once it has left *_IN_PROGRESS; POLL while it is in progress. The deadline counts from
   * the topology's last change (the stack's create or update), so a resumed drive keeps it.
   */
  private async stackNow(t: TopologyRecord, cloud: CloudApi, stackId: string, signal: AbortSignal): Promise<Stack | { status: 'GONE'; statusReason: string } | typeof POLL> {
    const stack = await cloud.heat.findStack(t.stackName, stackId, { signal });
    if (!stack) return { status: 'GONE', statusReason: 'the stack disappeared' };
    if (!stack.status.endsWith('_IN_PROGRESS')) return stack;
    if (Date.now() > Date.parse(t.updatedAt) + this.o.stackTimeoutS * 1000) {
      const failed = stack.status.startsWith('UPDATE') ? 'UPDATE_FAILED' : 'CREATE_FAILED';
      return { ...stack, status: failed, statusReason: `not complete after ${String(this.o.stackTimeoutS)} s (${stack.status})` };
    }
    return POLL;
  }

  // ------------------------------------------------------------- DEPLOYED

  private async deployed(t: TopologyRecord, signal: AbortSignal): Promise<void> {
    const cloud = await this.cloudOf(t, signal);
    const units = (t.units as UnitRecord[]).map((u) => ({ ...u }));
    const misplaced: string[] = [];
    for (const u of units) {
      if (u.serverId === null) continue;
      const server = await cloud.nova.getServer(u.serverId, { signal });
      u.host = server.host ?? null;
      const planned = plannedHostOf(t.plan as StoredPlan | null, u.name);
      if (planned !== null && u.host !== planned) misplaced.push(`${u.name} on ${String(u.host)} (planned ${planned})`);
    }
    const message = misplaced.length === 0 ? 'every server is where the plan put it' : `servers not where planned: ${misplaced.join(', ')}`;
    await this.transition(t, ['DEPLOYED'], 'ENFORCING', message, { units }, misplaced.length === 0 ? undefined : { misplaced });
  }

  // ------------------------------------------------------------- ENFORCING

  /** The class's rates plus the unit's pair guarantees (no `peers` key when it has none). */
  private slaBody(className: string | null, peers: readonly PeerGuarantee[]): AgentSlaBody {
    return slaRequestBody({ ...slaOf(slaClass(className ?? this.o.classes.default, this.o.classes)), peers });
  }

  private async enforcing(t: TopologyRecord, signal: AbortSignal): Promise<typeof POLL | undefined> {
    const units = (t.units as UnitRecord[]).filter((u) => u.serverId !== null);
    // The traffic demands the plan admitted reach the agent as pair guarantees between the servers.
    const peersOf = peerGuaranteesByUnit(trafficDemands(this.topologyOf(t)), t.units);
    const deadline = Date.parse(t.updatedAt) + this.o.enforceTimeoutS * 1000;
    let sent = this.slasSent.get(t.id);
    if (sent?.since !== t.updatedAt) {
      sent = { since: t.updatedAt, units: new Set() };
      this.slasSent.set(t.id, sent);
    }
    // PUT is idempotent, so a resumed ENFORCING (another manager, or after a restart) simply sends them again.
    for (const u of units) {
      if (sent.units.has(u.name)) continue;
      try {
        await this.o.agent.putSla(u.serverId as string, this.slaBody(u.slaClass, peersOf.get(u.name) ?? []), signal);
        sent.units.add(u.name);
      } catch (error) {
        if (Date.now() > deadline || signal.aborted) throw error;
        // A refused SLA (400, 422, …) will be refused again; a 404 is not: the agent may not know a server Nova has
        // just booted (it re-reads the cloud); this one and the rest are sent on the next look.
        const verdict = classifyUpstream(error);
        if (verdict?.kind === 'permanent' && verdict.status !== 404) throw error;
        return POLL;
      }
    }
    // Only this topology's servers: the whole cloud's status would be read on every look otherwise.
    const status = new Map((await this.o.agent.slaStatus(signal, units.map((u) => u.serverId as string))).map((s) => [s.server_id, s]));
    const states = units.map((u) => ({ unit: u, status: status.get(u.serverId as string) }));
    const pending = states.filter((s) => s.status?.state !== 'applied');
    if (pending.length === 0) {
      this.slasSent.delete(t.id);
      const done = (t.units as UnitRecord[]).map((u) => ({ ...u, slaState: u.serverId === null ? null : 'applied' }));
      const classes = [...new Set(units.map((u) => u.slaClass))].map((c) => {
        const cls = slaClass(c ?? this.o.classes.default, this.o.classes);
        return `${cls.name} ${formatBps(cls.minBps)}–${formatBps(cls.maxBps)} ×${String(units.filter((u) => u.slaClass === c).length)}`;
      });
      await this.transition(t, ['ENFORCING'], 'ACTIVE', `every SLA applied on the switches (${classes.join(', ')})`, { units: done });
      return;
    }
    if (Date.now() > deadline) {
      this.slasSent.delete(t.id);
      const reasons = pending.map((s) => ({ unit: s.unit.name, server: s.unit.serverId, state: s.status?.state ?? 'unknown', reason: s.status?.reason ?? 'the agent does not report it' }));
      await this.fail(t, 'CM_ERR_SLA_NOT_APPLIED', `SLAs not applied within ${String(this.o.enforceTimeoutS)} s: ${reasons.map((r) => `${r.unit} ${r.state} (${r.reason})`).join('; ')}`, { reasons });
      return;
    }
    return POLL;
  }

  // ------------------------------------------------------------- DELETING

  /**
   * One look at a deletion, resumable from what is stored and what Heat says: the SLAs go first
   * (while the agent still sees the ports), then the stack is asked to go and the step answers POLL
   * until Heat has deleted it; then the record is DELETED, or stays DELETING with the SLA removal
   * pending (AGENT_WAIT) until the agent answers. No wait happens inside the step.
   */
  private async deleting(t: TopologyRecord, signal: AbortSignal): Promise<typeof POLL | typeof AGENT_WAIT | undefined> {
    const cloud = await this.cloudOf(t, signal);
    let stackId = t.stackId;
    // The stack may hold servers whose ids never reached the record (a crash right after create); an earlier look may have asked it to go.
    let stack: Stack | undefined;
    if (stackId === null) {
      const found = await cloud.heat.findStack(t.stackName, undefined, { signal });
      if (found && found.status !== 'DELETE_COMPLETE') {
        stackId = found.id;
        stack = found;
      }
    } else {
      stack = await cloud.heat.findStack(t.stackName, stackId, { signal });
    }
    if (stackId !== null && stack && stack.status !== 'DELETE_COMPLETE') {
      if (stack.status === 'DELETE_IN_PROGRESS') {
        this.checkDeleteDeadline(t, stack.status);
        return POLL;
      }
      if (stack.status === 'DELETE_FAILED') {
        if (this.deleteRetried.has(t.id)) throw new DeploymentFailure('CM_ERR_STACK_DELETE_FAILED', `stack ${t.stackName} DELETE_FAILED: ${stack.statusReason ?? 'no reason given'}`);
        this.deleteRetried.add(t.id);
        this.log({ event: 'stack_delete_retry', topology: t.id, stack: t.stackName, reason: stack.statusReason ?? null });
      } else if (!pendingSlaRemoval(t)) {
        // The stack is still whole: its SLAs go first. Best effort for the servers only Heat knows, but a transient error retries the step.
        const serverIds = (t.units as UnitRecord[]).flatMap((u) => (u.serverId === null ? [] : [u.serverId]));
        const resources = await cloud.heat.listResources(t.stackName, stackId, { signal }).catch((error: unknown) => {
          if (classifyUpstream(error)?.kind === 'transient') throw error;
          return [];
        });
        for (const r of resources) if (r.type === 'OS::Nova::Server' && r.physicalId && !serverIds.includes(r.physicalId)) serverIds.push(r.physicalId);
        const removal = await this.removeSlas(serverIds, signal);
        // An agent that cannot be reached does not keep the stack: what is left is recorded (the API shows it) and retried once it is gone.
        if (removal.remaining.length > 0) t = await this.recordPendingRemoval(t, removal, `deleting stack ${t.stackName}`, false);
        this.removedOnDelete.set(t.id, serverIds.length);
      }
      return (await this.askToDelete(cloud, t, stackId, signal)) ? POLL : undefined;
    }
    // No stack (any more): only the SLAs may be left.
    const pending = pendingSlaRemoval(t);
    const hadStack = stackId !== null || t.stackId !== null || pending !== undefined || this.removedOnDelete.has(t.id);
    const stackText = hadStack ? `stack ${t.stackName} deleted` : 'no stack';
    let removed: number;
    if (pending) {
      const removal = await this.removeSlas(pending.servers, signal);
      if (removal.remaining.length > 0) {
        await this.recordPendingRemoval(t, removal, stackText, true);
        this.log({ event: 'sla_removal_retry', topology: t.id, pending: removal.remaining.length, error: removal.reason });
        return AGENT_WAIT;
      }
      removed = pending.servers.length;
    } else if (this.removedOnDelete.has(t.id)) {
      removed = this.removedOnDelete.get(t.id) ?? 0;
    } else {
      // No stack was ever found, or a restart lost what an earlier look removed: the record's servers (removing again is harmless).
      const serverIds = (t.units as UnitRecord[]).flatMap((u) => (u.serverId === null ? [] : [u.serverId]));
      const removal = await this.removeSlas(serverIds, signal);
      if (removal.remaining.length > 0) {
        await this.recordPendingRemoval(t, removal, stackText, true);
        return AGENT_WAIT;
      }
      removed = serverIds.length;
    }
    const units = (t.units as UnitRecord[]).map((u) => ({ ...u, slaState: null }));
    await this.transition(t, ['DELETING'], 'DELETED', `SLAs of ${String(removed)} server(s) removed${pending ? ' (once the agent answered)' : ''}, ${stackText}`, {
      units,
      ...(t.error?.code === SLA_REMOVAL_PENDING ? { error: null } : {}),
    });
    this.forget(t.id);
    return undefined;
  }

  /** Asks Heat to delete the topology's stack; false when it is not there (already deleted). */
  private async askToDelete(cloud: CloudApi, t: TopologyRecord, stackId: string, signal: AbortSignal): Promise<boolean> {
    try {
      await cloud.heat.deleteStack(t.stackName, stackId, { signal });
      return true;
    } catch (error) {
      if (classifyUpstream(error)?.status === 404) return false;
      throw error;
    }
  }

  /** A stack that has been deleting for longer than the stack timeout (counted from the topology's last change) ends the topology. */
  private checkDeleteDeadline(t: TopologyRecord, status: string): void {
    if (Date.now() - Date.parse(t.updatedAt) > this.o.stackTimeoutS * 1000) {
      throw new DeploymentFailure('CM_ERR_STACK_DELETE_TIMEOUT', `stack ${t.stackName} not deleted after ${String(this.o.stackTimeoutS)} s (${status})`);
    }
  }

  /** What is left of an SLA removal goes into the record and the history (once per change of what is left or of the stack). */
  private async recordPendingRemoval(t: TopologyRecord, removal: SlaRemoval, stackText: string, stackDeleted: boolean): Promise<TopologyRecord> {
    const recorded = pendingSlaRemoval(t);
    if (recorded && sameMembers(recorded.servers, removal.remaining) && recorded.stack_deleted === stackDeleted) return t;
    const message = `${stackText}; SLA removal of ${String(removal.remaining.length)} server(s) pending: ${removal.reason}`;
    const left = new Set(removal.remaining);
    const units = (t.units as UnitRecord[]).map((u) => ({ ...u, slaState: u.serverId !== null && left.has(u.serverId) ? 'removal-pending' : null }));
    const details: SlaRemovalPending = { servers: removal.remaining, stack_deleted: stackDeleted, reason: removal.reason };
    return this.transition(t, ['DELETING'], 'DELETING', message, { units, error: { code: SLA_REMOVAL_PENDING, message, details } }, details);
  }

  /** Removes the SLAs of `serverIds` from the agent; what it could not remove, and why. */
  private async removeSlas(serverIds: readonly string[], signal: AbortSignal): Promise<SlaRemoval> {
    const remaining: string[] = [];
    let reason = '';
    let reachable = true;
    for (const id of serverIds) {
      if (!reachable) {
        remaining.push(id);
        continue;
      }
      try {
        // 404 (no such SLA, or no such server any more) is success in the agent client.
        await this.o.agent.deleteSla(id, signal);
      } catch (error) {
        if (signal.aborted) throw error;
        remaining.push(id);
        // An answer about this server leaves the others worth trying; no answer at all would only repeat the wait.
        const answered = error instanceof AgentClientError && error.code !== 'CM_ERR_AGENT_UNREACHABLE';
        if (!answered) reachable = false;
        reason = `${answered ? 'agent error' : 'agent unreachable'} (${boundText(errorText(error), 500)})`;
      }
    }
    return { remaining, reason };
  }

  private log(event: Record<string, unknown>): void {
    try {
      this.o.logger?.(boundLogFields({ component: 'manager', ...event }));
    } catch {
      // logging must not break deployments
    }
  }
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

interface SlaRemoval {
  /** Servers whose SLA is still on the agent (in the given order). */
  remaining: string[];
  /** Why, when any remain. */
  reason: string;
}

function sameMembers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}
