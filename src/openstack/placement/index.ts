/**
 * Placement client (always sends `OpenStack-API-Version: placement 1.x`) and
 * the pure capacity computation that replaces Nova's removed hypervisor stats.
 */
import { OpenStackResponseError } from '../errors.ts';
import { joinUrl, type HttpRequest } from '../http.ts';
import { asObject, isObject, nullableStr, num, numberMap, optNum, str, type JsonObject } from '../json.ts';
import { compareMicroversion } from '../nova/index.ts';
import { callOpts, type CallOptions, type ServiceContext } from '../service.ts';

/** Pinned default: ≥1.14 (parent/root uuids), ≥1.23 (error codes), ≤1.37 (flat /usages). */
export const DEFAULT_PLACEMENT_MICROVERSION = '1.36';

export interface ResourceProvider {
  uuid: string;
  name: string;
  generation: number;
  parentProviderUuid: string | null | undefined;
  rootProviderUuid: string | undefined;
  raw: JsonObject;
}

export function parseResourceProvider(v: unknown): ResourceProvider {
  const w = 'resource_provider';
  const o = asObject(v, w);
  return {
    uuid: str(o, 'uuid', w),
    name: str(o, 'name', w),
    generation: num(o, 'generation', w),
    parentProviderUuid: nullableStr(o, 'parent_provider_uuid', w),
    rootProviderUuid: nullableStr(o, 'root_provider_uuid', w) ?? undefined,
    raw: o,
  };
}

export interface Inventory {
  total: number;
  reserved: number;
  minUnit: number;
  maxUnit: number;
  stepSize: number;
  allocationRatio: number;
}

export interface Inventories {
  inventories: Record<string, Inventory>;
  generation: number;
}

export function parseInventories(body: unknown): Inventories {
  const o = asObject(body, 'inventories body');
  const inv = asObject(o.inventories, 'inventories');
  const out: Record<string, Inventory> = {};
  for (const [rc, v] of Object.entries(inv)) {
    const w = `inventories.${rc}`;
    const i = asObject(v, w);
    out[rc] = {
      total: num(i, 'total', w),
      reserved: optNum(i, 'reserved') ?? 0,
      minUnit: optNum(i, 'min_unit') ?? 1,
      maxUnit: optNum(i, 'max_unit') ?? num(i, 'total', w),
      stepSize: optNum(i, 'step_size') ?? 1,
      allocationRatio: optNum(i, 'allocation_ratio') ?? 1,
    };
  }
  return { inventories: out, generation: num(o, 'resource_provider_generation', 'inventories body') };
}

export interface Usages {
  usages: Record<string, number>;
  generation: number | undefined;
}

/** `/resource_providers/{uuid}/usages` or the flat (≤1.37) `/usages`. */
export function parseUsages(body: unknown): Usages {
  const o = asObject(body, 'usages body');
  return { usages: numberMap(o.usages, 'usages'), generation: optNum(o, 'resource_provider_generation') };
}

export interface Allocations {
  /** consumer uuid (server id) → resource class → amount */
  allocations: Record<string, Record<string, number>>;
  generation: number | undefined;
}

/** `/resource_providers/{uuid}/allocations`: `{allocations:{consumer:{resources}}}`. */
export function parseProviderAllocations(body: unknown): Allocations {
  const o = asObject(body, 'allocations body');
  const out: Record<string, Record<string, number>> = {};
  for (const [consumer, v] of Object.entries(asObject(o.allocations, 'allocations'))) {
    out[consumer] = numberMap(asObject(v, `allocations.${consumer}`).resources, `allocations.${consumer}.resources`);
  }
  return { allocations: out, generation: optNum(o, 'resource_provider_generation') };
}

export interface ConsumerAllocations {
  /** provider uuid → resource class → amount */
  allocations: Record<string, Record<string, number>>;
  projectId: string | undefined;
  userId: string | undefined;
  consumerGeneration: number | undefined;
}

/** `/allocations/{consumer_uuid}`: `{allocations:{rp:{resources,generation}}, project_id, user_id}`. */
export function parseConsumerAllocations(body: unknown): ConsumerAllocations {
  const o = asObject(body, 'allocations body');
  const out: Record<string, Record<string, number>> = {};
  for (const [rp, v] of Object.entries(asObject(o.allocations, 'allocations'))) {
    out[rp] = numberMap(asObject(v, `allocations.${rp}`).resources, `allocations.${rp}.resources`);
  }
  return {
    allocations: out,
    projectId: typeof o.project_id === 'string' ? o.project_id : undefined,
    userId: typeof o.user_id === 'string' ? o.user_id : undefined,
    consumerGeneration: optNum(o, 'consumer_generation'),
  };
}

export interface ResourceCapacity {
  total: number;
  reserved: number;
  allocationRatio: number;
  /** int((total - reserved) * allocation_ratio) */
  capacity: number;
  used: number;
  /** capacity - used (may be negative when over-committed after a ratio change). */
  free: number;
  /** The biggest single allocation (one flavor) this provider accepts. */
  maxUnit: number;
  minUnit: number;
  stepSize: number;
}

/** Per resource class: `(total - reserved) * allocation_ratio - used`, with max_unit exposed. */
export function computeCapacity(inv: Inventories | Record<string, Inventory>, usages: Usages | Record<string, number>): Record<string, ResourceCapacity> {
  const inventories = 'inventories' in inv && isObject(inv.inventories) ? (inv as Inventories).inventories : (inv as Record<string, Inventory>);
  const used = 'usages' in usages && isObject(usages.usages) ? (usages as Usages).usages : (usages as Record<string, number>);
  const out: Record<string, ResourceCapacity> = {};
  for (const [rc, i] of Object.entries(inventories)) {
    const capacity = Math.floor((i.total - i.reserved) * i.allocationRatio);
    const u = used[rc] ?? 0;
    out[rc] = {
      total: i.total,
      reserved: i.reserved,
      allocationRatio: i.allocationRatio,
      capacity,
      used: u,
      free: capacity - u,
      maxUnit: i.maxUnit,
      minUnit: i.minUnit,
      stepSize: i.stepSize,
    };
  }
  return out;
}

/** True when one allocation of `amount` fits: within max_unit and the remaining capacity. */
export function fits(c: ResourceCapacity, amount: number): boolean {
  return amount <= c.maxUnit && amount >= c.minUnit && c.used + amount <= c.capacity;
}

export interface PlacementOptions {
  microversion?: string;
}

export class PlacementClient {
  readonly #ctx: ServiceContext;
  #version: string;

  constructor(ctx: ServiceContext, options: PlacementOptions = {}) {
    this.#ctx = ctx;
    this.#version = options.microversion ?? DEFAULT_PLACEMENT_MICROVERSION;
  }

  get microversion(): string {
    return this.#version;
  }

  /** GET / : lowers the pinned microversion to the cloud's max when needed. */
  async negotiate(o?: CallOptions): Promise<{ min: string; max: string; chosen: string }> {
    const base = await this.#ctx.endpoint(o?.signal);
    const res = await this.#ctx.http.request({ service: 'placement', method: 'GET', url: joinUrl(base, '/'), auth: this.#ctx.auth, ...callOpts(o) });
    const versions = asObject(res.body, 'placement versions').versions;
    const v = Array.isArray(versions) ? versions.find(isObject) : undefined;
    if (!v) throw new OpenStackResponseError('placement GET /: no versions');
    const min = str(v, 'min_version', 'placement version');
    const max = str(v, 'max_version', 'placement version');
    if (compareMicroversion(this.#version, max) > 0) this.#version = max;
    return { min, max, chosen: this.#version };
  }

  async #get(path: string, query?: HttpRequest['query'], o?: CallOptions): Promise<unknown> {
    const base = await this.#ctx.endpoint(o?.signal);
    const res = await this.#ctx.http.request({
      service: 'placement',
      method: 'GET',
      url: joinUrl(base, path),
      query,
      auth: this.#ctx.auth,
      microversion: { service: 'placement', version: this.#version },
      ...callOpts(o),
    });
    return res.body;
  }

  async listResourceProviders(q: { name?: string; uuid?: string; inTree?: string; memberOf?: string; resources?: string; required?: string } = {}, o?: CallOptions): Promise<ResourceProvider[]> {
    const body = await this.#get(
      '/resource_providers',
      { name: q.name, uuid: q.uuid, in_tree: q.inTree, member_of: q.memberOf, resources: q.resources, required: q.required },
      o,
    );
    const list = asObject(body, 'resource providers body').resource_providers;
    if (!Array.isArray(list)) throw new OpenStackResponseError('resource_providers: expected an array');
    return list.map(parseResourceProvider);
  }

  async getResourceProvider(uuid: string, o?: CallOptions): Promise<ResourceProvider> {
    return parseResourceProvider(await this.#get(`/resource_providers/${encodeURIComponent(uuid)}`, undefined, o));
  }

  async inventories(uuid: string, o?: CallOptions): Promise<Inventories> {
    return parseInventories(await this.#get(`/resource_providers/${encodeURIComponent(uuid)}/inventories`, undefined, o));
  }

  async providerUsages(uuid: string, o?: CallOptions): Promise<Usages> {
    return parseUsages(await this.#get(`/resource_providers/${encodeURIComponent(uuid)}/usages`, undefined, o));
  }

  /** GET /usages?project_id= (flat totals at ≤1.37). */
  async projectUsages(projectId: string, q: { userId?: string } = {}, o?: CallOptions): Promise<Usages> {
    return parseUsages(await this.#get('/usages', { project_id: projectId, user_id: q.userId }, o));
  }

  async providerAllocations(uuid: string, o?: CallOptions): Promise<Allocations> {
    return parseProviderAllocations(await this.#get(`/resource_providers/${encodeURIComponent(uuid)}/allocations`, undefined, o));
  }

  async consumerAllocations(consumerUuid: string, o?: CallOptions): Promise<ConsumerAllocations> {
    return parseConsumerAllocations(await this.#get(`/allocations/${encodeURIComponent(consumerUuid)}`, undefined, o));
  }

  /** Inventories + usages of one provider → capacity per resource class. */
  async capacity(uuid: string, o?: CallOptions): Promise<Record<string, ResourceCapacity>> {
    const [inv, use] = await Promise.all([this.inventories(uuid, o), this.providerUsages(uuid, o)]);
    return computeCapacity(inv, use);
  }
}
