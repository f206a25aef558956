/**
 * Heat v1 client: stacks create (201; a duplicate name is a 409 →
 * OpenStackConflictError), show (GET /stacks/{name} redirects 302 to the
 * canonical /stacks/{name}/{id}), list, delete (204), resources, events.
 */
import { OpenStackApiError, OpenStackResponseError } from '../errors.ts';
import { collectPages, joinUrl, type HttpRequest } from '../http.ts';
import { asArray, asObject, isObject, nullableStr, optStr, str, type JsonObject } from '../json.ts';
import { callOpts, type CallOptions, type ServiceContext } from '../service.ts';

export interface StackOutput {
  key: string;
  value: unknown;
  description: string | undefined;
}

export interface Stack {
  id: string;
  name: string;
  status: string;
  statusReason: string | undefined;
  creationTime: string | undefined;
  updatedTime: string | null | undefined;
  deletionTime: string | null | undefined;
  outputs: StackOutput[];
  parameters: Record<string, string>;
  raw: JsonObject;
}

export function parseStack(v: unknown): Stack {
  const w = 'stack';
  const o = asObject(v, w);
  const params: Record<string, string> = {};
  if (isObject(o.parameters)) for (const [k, x] of Object.entries(o.parameters)) params[k] = typeof x === 'string' ? x : JSON.stringify(x);
  return {
    id: str(o, 'id', w),
    name: str(o, 'stack_name', w),
    status: str(o, 'stack_status', w),
    statusReason: optStr(o, 'stack_status_reason'),
    creationTime: optStr(o, 'creation_time'),
    updatedTime: nullableStr(o, 'updated_time', w),
    deletionTime: nullableStr(o, 'deletion_time', w),
    outputs: Array.isArray(o.outputs)
      ? o.outputs.filter(isObject).map((x) => ({ key: str(x, 'output_key', 'output'), value: x.output_value, description: optStr(x, 'description') }))
      : [],
    parameters: params,
    raw: o,
  };
}

/** `CREATE_IN_PROGRESS` → in progress; anything else is final. */
export function isStackInProgress(status: string): boolean {
  return status.endsWith('_IN_PROGRESS');
}

export interface StackResource {
  name: string;
  type: string;
  physicalId: string | undefined;
  status: string;
  statusReason: string | undefined;
  raw: JsonObject;
}

export interface StackEvent {
  id: string;
  resourceName: string;
  status: string;
  statusReason: string | undefined;
  time: string | undefined;
  raw: JsonObject;
}

export interface CreateStackRequest {
  name: string;
  /** Object or JSON/YAML string. */
  template: JsonObject | string;
  parameters?: Record<string, unknown>;
  files?: Record<string, string>;
  environment?: JsonObject;
  /** Sent explicitly (Heat's default is true). */
  disableRollback?: boolean;
  timeoutMins?: number;
  tags?: string[];
}

export interface CreatedStack {
  id: string;
  name: string;
  selfUrl: string | undefined;
  location: string | undefined;
  requestId: string | undefined;
}

export class HeatClient {
  readonly #ctx: ServiceContext;

  constructor(ctx: ServiceContext) {
    this.#ctx = ctx;
  }

  async #req(method: string, path: string, extra: Partial<HttpRequest> & CallOptions = {}): Promise<{ body: unknown; headers: Record<string, string>; requestId: string | undefined }> {
    return this.#ctx.http.request({
      ...extra,
      service: 'orchestration',
      method,
      url: joinUrl(await this.#ctx.endpoint(extra.signal), path),
      auth: this.#ctx.auth,
    });
  }

  /** POST /stacks (201). A duplicate live name throws OpenStackConflictError (409). */
  async createStack(r: CreateStackRequest, o?: CallOptions): Promise<CreatedStack> {
    const body: JsonObject = {
      stack_name: r.name,
      template: r.template,
      disable_rollback: r.disableRollback ?? true,
    };
    if (r.parameters) body.parameters = r.parameters;
    if (r.files) body.files = r.files;
    if (r.environment) body.environment = r.environment;
    if (r.timeoutMins !== undefined) body.timeout_mins = r.timeoutMins;
    if (r.tags) body.tags = r.tags.join(',');
    const res = await this.#req('POST', '/stacks', { body, okStatus: [200, 201, 202], ...callOpts(o) });
    const s = asObject(asObject(res.body, 'create body').stack, 'stack');
    const self = Array.isArray(s.links) ? s.links.filter(isObject).find((l) => l.rel === 'self') : undefined;
    return {
      id: str(s, 'id', 'stack'),
      name: r.name,
      selfUrl: self ? optStr(self, 'href') : undefined,
      location: res.headers.location,
      requestId: res.requestId,
    };
  }

  /** GET /stacks/{name_or_id} (302 followed) or /stacks/{name}/{id}. */
  async getStack(nameOrId: string, id?: string, o?: CallOptions): Promise<Stack> {
    const path = id === undefined ? `/stacks/${encodeURIComponent(nameOrId)}` : `/stacks/${encodeURIComponent(nameOrId)}/${encodeURIComponent(id)}`;
    const res = await this.#req('GET', path, callOpts(o));
    return parseStack(asObject(res.body, 'stack body').stack);
  }

  /** The stack, or undefined when it is gone (404, or DELETE_COMPLETE when looked up by id). */
  async findStack(nameOrId: string, id?: string, o?: CallOptions): Promise<Stack | undefined> {
    try {
      const s = await this.getStack(nameOrId, id, o);
      return s.status === 'DELETE_COMPLETE' ? undefined : s;
    } catch (err) {
      if (err instanceof OpenStackApiError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** GET /stacks, marker-paged. */
  async listStacks(q: { name?: string; status?: string; showDeleted?: boolean; pageSize?: number } = {}, o?: CallOptions): Promise<Stack[]> {
    const base = await this.#ctx.endpoint(o?.signal);
    const items = await collectPages(
      this.#ctx.http.paginateMarker(
        {
          service: 'orchestration',
          url: joinUrl(base, '/stacks'),
          query: { name: q.name, status: q.status, show_deleted: q.showDeleted ? 'true' : undefined },
          auth: this.#ctx.auth,
          ...callOpts(o),
        },
        'stacks',
        'id',
        q.pageSize ?? 100,
      ),
    );
    return items.map(parseStack);
  }

  /**
   * PUT /stacks/{name}/{id} (202): the template replaces the stack's; Heat creates what is new,
   * deletes what is gone and leaves unchanged resources alone. Follow it with getStack until
   * UPDATE_COMPLETE / UPDATE_FAILED. A stack with an action in progress answers 409.
   */
  async updateStack(name: string, id: string, r: Omit<CreateStackRequest, 'name' | 'tags' | 'disableRollback'> & { disableRollback?: boolean }, o?: CallOptions): Promise<void> {
    const body: JsonObject = { template: r.template };
    if (r.disableRollback !== undefined) body.disable_rollback = r.disableRollback;
    if (r.parameters) body.parameters = r.parameters;
    if (r.files) body.files = r.files;
    if (r.environment) body.environment = r.environment;
    if (r.timeoutMins !== undefined) body.timeout_mins = r.timeoutMins;
    await this.#req('PUT', `/stacks/${encodeURIComponent(name)}/${encodeURIComponent(id)}`, { body, okStatus: [202], ...callOpts(o) });
  }

  /** DELETE /stacks/{name}/{id} (204); with only a name or id, the stack is looked up first. */
  async deleteStack(nameOrId: string, id?: string, o?: CallOptions): Promise<void> {
    let name = nameOrId;
    let sid = id;
    if (sid === undefined) {
      const s = await this.getStack(nameOrId, undefined, o);
      name = s.name;
      sid = s.id;
    }
    await this.#req('DELETE', `/stacks/${encodeURIComponent(name)}/${encodeURIComponent(sid)}`, callOpts(o));
  }

  async listResources(name: string, id: string, o?: CallOptions): Promise<StackResource[]> {
    const res = await this.#req('GET', `/stacks/${encodeURIComponent(name)}/${encodeURIComponent(id)}/resources`, callOpts(o));
    return asArray(asObject(res.body, 'resources body').resources, 'resources').map((r) => {
      const x = asObject(r, 'resource');
      return {
        name: str(x, 'resource_name', 'resource'),
        type: str(x, 'resource_type', 'resource'),
        physicalId: optStr(x, 'physical_resource_id'),
        status: str(x, 'resource_status', 'resource'),
        statusReason: optStr(x, 'resource_status_reason'),
        raw: x,
      };
    });
  }

  async listEvents(name: string, id: string, o?: CallOptions): Promise<StackEvent[]> {
    const res = await this.#req('GET', `/stacks/${encodeURIComponent(name)}/${encodeURIComponent(id)}/events`, callOpts(o));
    return asArray(asObject(res.body, 'events body').events, 'events').map((e) => {
      const x = asObject(e, 'event');
      return {
        id: str(x, 'id', 'event'),
        resourceName: str(x, 'resource_name', 'event'),
        status: str(x, 'resource_status', 'event'),
        statusReason: optStr(x, 'resource_status_reason'),
        time: optStr(x, 'event_time'),
        raw: x,
      };
    });
  }

  /** Polls until the stack status no longer ends in _IN_PROGRESS (treats "gone" as DELETE_COMPLETE). */
  async waitForStack(name: string, id: string, opts: { intervalMs?: number; timeoutMs?: number } = {}): Promise<Stack | undefined> {
    const end = Date.now() + (opts.timeoutMs ?? 600_000);
    for (;;) {
      let s: Stack;
      try {
        s = await this.getStack(name, id);
      } catch (err) {
        if (err instanceof OpenStackApiError && err.status === 404) return undefined;
        throw err;
      }
      if (!isStackInProgress(s.status)) return s;
      if (Date.now() > end) throw new OpenStackResponseError(`stack ${name} still ${s.status} after the wait`);
      await new Promise((r) => setTimeout(r, opts.intervalMs ?? 1000));
    }
  }
}
