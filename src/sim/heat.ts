/**
 * Heat v1: stacks of OS::Nova::Server, OS::Neutron::Port and
 * OS::Neutron::FloatingIP resources (create, list, find → 302, show, delete,
 * resources, events), with rollback. Intrinsic functions: get_param,
 * get_resource, get_attr (with a path), list_join, str_replace.
 *
 * Unlike real Heat, resources are created one after another (dependency
 * order) and property errors surface as CREATE_FAILED rather than as a 400
 * from template validation; the reasons are worded as Heat words them.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parse } from 'yaml';
import type { Compute } from './compute.ts';
import { ApiError, authOf, body, isTrue, origin, queryOne, type AuthContext } from './http.ts';
import { NOVA_TIME, type SimNetwork, type SimStack, type SimStackResource, type SimState } from './state.ts';

const SUPPORTED = new Set(['OS::Nova::Server', 'OS::Neutron::Port', 'OS::Neutron::FloatingIP']);
const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
const NAME_RE = /^[a-zA-Z][a-zA-Z0-9_.-]{0,254}$/;

type Json = Record<string, unknown>;
const str = (v: unknown): string => (typeof v === 'string' || typeof v === 'number' ? String(v) : '');
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Resource names referenced by get_resource / get_attr / depends_on. */
function refs(value: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const v of value) refs(v, out);
  else if (isObj(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'get_resource' && typeof v === 'string') out.add(v);
      else if (k === 'get_attr' && Array.isArray(v) && typeof v[0] === 'string') out.add(v[0]);
      else refs(v, out);
    }
  }
  return out;
}

/** get_attr's path: keys into maps, indexes into lists; a missing step gives null, as in Heat. */
function walk(value: unknown, path: unknown[]): unknown {
  let cur = value;
  for (const step of path) {
    if (Array.isArray(cur)) cur = cur[Number(step)];
    else if (isObj(cur)) cur = cur[str(step)];
    else return null;
    if (cur === undefined) return null;
  }
  return cur;
}

/** list_join: [delimiter, list, list, ...]; maps and lists inside are JSON-encoded. */
function listJoin(args: unknown[]): string {
  const [delim, ...lists] = args;
  if (typeof delim !== 'string') throw new Error('Incorrect arguments to "list_join" should be: list_join: [delimiter, [item, ...]]');
  const items = lists.flatMap((l) => {
    if (!Array.isArray(l)) throw new Error('Incorrect arguments to "list_join" should be: list_join: [delimiter, [item, ...]]');
    return l as unknown[];
  });
  return items.map((i) => (typeof i === 'string' ? i : i === null || i === undefined ? '' : typeof i === 'number' ? String(i) : JSON.stringify(i))).join(delim);
}

/**
 * str_replace as Heat does it: longest placeholder first, and text a
 * replacement put in is never replaced again.
 */
function strReplace(template: unknown, params: unknown): string {
  if (typeof template !== 'string') throw new Error('"str_replace" template must be a string');
  if (!isObj(params)) throw new Error('"str_replace" params must be a map');
  const keys = Object.keys(params).sort().sort((a, b) => b.length - a.length);
  const value = (k: string): string => {
    const v = params[k];
    if (v === null || v === undefined) return '';
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return String(v);
    throw new Error(`"str_replace" params must be strings or numbers, param ${k} is not valid`);
  };
  const replace = (text: string, rest: string[]): string => {
    const [k, ...more] = rest;
    if (k === undefined) return text;
    return text
      .split(k)
      .map((part) => replace(part, more))
      .join(value(k));
  };
  return replace(template, keys);
}

const SHORT_ID = 'abcdefghijklmnopqrstuvwxyz234567';

/** Heat's physical resource name: `<stack>-<resource>-<12 random characters of [a-z2-7]>`. */
export function physicalName(stack: string, resource: string): string {
  const id = [...randomBytes(12)].map((b) => SHORT_ID[b % 32] ?? 'a').join('');
  return `${stack}-${resource}-${id}`;
}

export class HeatEngine {
  private readonly tasks = new Map<string, Promise<void>>();
  private closed = false;

  constructor(
    private readonly state: SimState,
    private readonly compute: Compute,
  ) {}

  async close(): Promise<void> {
    this.closed = true;
    while (this.tasks.size > 0) await Promise.all([...this.tasks.values()]);
  }

  private run(stack: SimStack, work: () => Promise<void>): void {
    const prev = this.tasks.get(stack.id) ?? Promise.resolve();
    const next = prev.then(work).catch(() => undefined);
    this.tasks.set(stack.id, next);
    void next.finally(() => {
      if (this.tasks.get(stack.id) === next) this.tasks.delete(stack.id);
    });
  }

  private event(stack: SimStack, resourceName: string, physicalId: string, status: string, reason: string): void {
    stack.events.push({ id: randomUUID(), time: NOVA_TIME(), resourceName, physicalId, status, reason });
  }

  private setStack(stack: SimStack, status: string, reason: string): void {
    stack.status = status;
    stack.statusReason = reason;
    this.event(stack, stack.name, stack.id, status, reason);
  }

  create(auth: AuthContext, req: Json): SimStack {
    const name = req.stack_name;
    if (typeof name !== 'string') throw new ApiError(400, 'The Parameter (stack_name) was not provided.', 'HTTPBadRequest');
    if (!NAME_RE.test(name)) throw new ApiError(400, `Invalid stack name ${name} must contain only alphanumeric or "_-." characters, must start with alpha and must be 255 characters or less.`, 'StackValidationFailed');
    const live = [...this.state.stacks.values()].find((s) => s.projectId === auth.projectId && s.name === name && s.status !== 'DELETE_COMPLETE');
    if (live) throw new ApiError(409, `The Stack (${name}) already exists.`, 'StackExists');

    const { template, parameters } = this.validated(req);
    const now = NOVA_TIME();
    const stack: SimStack = {
      id: randomUUID(),
      name,
      projectId: auth.projectId,
      ownerName: auth.userName,
      status: 'CREATE_IN_PROGRESS',
      statusReason: 'Stack CREATE started',
      description: typeof template.description === 'string' ? template.description : 'No description',
      disableRollback: req.disable_rollback === undefined ? true : req.disable_rollback === true || req.disable_rollback === 'true',
      timeoutMins: typeof req.timeout_mins === 'number' ? req.timeout_mins : null,
      parameters,
      template,
      outputs: [],
      resources: [],
      events: [],
      created: now,
      updated: null,
      deleted: null,
      tags: Array.isArray(req.tags) ? req.tags.map(String) : typeof req.tags === 'string' ? req.tags.split(',') : null,
    };
    this.state.stacks.set(stack.id, stack);
    this.event(stack, name, stack.id, 'CREATE_IN_PROGRESS', 'Stack CREATE started');
    this.run(stack, () => this.doCreate(stack, auth));
    return stack;
  }

  /** The request's template parsed and checked (resource types, references) and its parameters resolved. */
  private validated(req: Json): { template: Json; parameters: Record<string, string> } {
    let template: unknown = req.template;
    if (typeof template === 'string') {
      try {
        template = parse(template);
      } catch (err) {
        throw new ApiError(400, `Error parsing template: ${(err as Error).message}`, 'HTTPBadRequest');
      }
    }
    if (!isObj(template)) throw new ApiError(400, 'Need more arguments: template or template_url is required', 'HTTPBadRequest');
    if (template.heat_template_version === undefined) throw new ApiError(400, 'Template format version not found.', 'HTTPBadRequest');
    const resources = isObj(template.resources) ? template.resources : {};
    for (const [rname, r] of Object.entries(resources)) {
      const type = isObj(r) ? r.type : undefined;
      if (typeof type !== 'string' || !SUPPORTED.has(type)) throw new ApiError(400, `The Resource Type (${String(type)}) could not be found.`, 'StackValidationFailed');
      for (const dep of refs(r)) if (!(dep in resources)) throw new ApiError(400, `The specified reference "${dep}" (in ${rname}) is incorrect.`, 'StackValidationFailed');
    }
    const given = isObj(req.parameters) ? req.parameters : {};
    const declared = isObj(template.parameters) ? template.parameters : {};
    const parameters: Record<string, string> = {};
    for (const [pname, decl] of Object.entries(declared)) {
      const value = given[pname] ?? (isObj(decl) ? decl.default : undefined);
      if (value === undefined) throw new ApiError(400, `The Parameter (${pname}) was not provided.`, 'UserParameterMissing');
      parameters[pname] = typeof value === 'string' ? value : JSON.stringify(value);
    }
    return { template, parameters };
  }

  /**
   * PUT /stacks/{name}/{id}: the new template replaces the old. Resources only in the old one are
   * deleted, resources only in the new one created, and a resource whose definition changed is
   * replaced (deleted, then created: a server gets a new id), as Heat does for a server whose
   * image, flavor, networks or availability zone change. Unchanged resources are not touched.
   */
  update(stack: SimStack, auth: AuthContext, req: Json): void {
    if (stack.status.endsWith('_IN_PROGRESS')) throw new ApiError(409, `Stack ${stack.name} already has an action (${stack.status.replace('_IN_PROGRESS', '')}) in progress.`, 'ActionInProgress');
    if (stack.status.startsWith('DELETE')) throw new ApiError(404, `The Stack (${stack.name}) could not be found.`, 'EntityNotFound');
    const { template, parameters } = this.validated(req);
    const previous = stack.template;
    stack.template = template;
    stack.parameters = parameters;
    if (req.timeout_mins !== undefined) stack.timeoutMins = typeof req.timeout_mins === 'number' ? req.timeout_mins : null;
    stack.updated = NOVA_TIME();
    this.setStack(stack, 'UPDATE_IN_PROGRESS', 'Stack UPDATE started');
    this.run(stack, () => this.doUpdate(stack, auth, previous));
  }

  private async doUpdate(stack: SimStack, auth: AuthContext, previous: Json): Promise<void> {
    const before = isObj(previous.resources) ? previous.resources : {};
    const after = isObj(stack.template.resources) ? stack.template.resources : {};
    let names: string[];
    try {
      names = this.order(after);
    } catch (err) {
      this.setStack(stack, 'UPDATE_FAILED', (err as Error).message);
      return;
    }
    const same = (name: string): boolean => name in before && JSON.stringify(before[name]) === JSON.stringify(after[name]);
    // Gone or changed: deleted first, dependants before what they depend on.
    for (const res of [...stack.resources].reverse()) {
      if (same(res.name)) continue;
      this.event(stack, res.name, res.physicalId, 'DELETE_IN_PROGRESS', 'state changed');
      await this.deleteResource(res);
      this.event(stack, res.name, res.physicalId, 'DELETE_COMPLETE', 'state changed');
      stack.resources = stack.resources.filter((r) => r !== res);
    }
    for (const name of names) {
      if (same(name)) continue;
      if (!(await this.createOne(stack, auth, name, after, names))) {
        this.setStack(stack, 'UPDATE_FAILED', `Resource CREATE failed: ${stack.resources.find((r) => r.name === name)?.statusReason ?? ''}`);
        return;
      }
    }
    for (const res of stack.resources) res.requiredBy = names.filter((other) => refs(after[other]).has(res.name));
    this.setOutputs(stack);
    this.setStack(stack, 'UPDATE_COMPLETE', 'Stack UPDATE completed successfully');
  }

  /** Creates one resource of the template; false (the resource CREATE_FAILED) when it could not be. */
  private async createOne(stack: SimStack, auth: AuthContext, name: string, resources: Json, names: readonly string[]): Promise<boolean> {
    const def = resources[name] as Json;
    const res: SimStackResource = { name, type: String(def.type), physicalId: '', status: 'CREATE_IN_PROGRESS', statusReason: 'state changed', created: NOVA_TIME(), updated: null, requiredBy: [] };
    for (const other of names) if (refs(resources[other]).has(name)) res.requiredBy.push(other);
    stack.resources.push(res);
    // Heat records the resource's physical name (<stack>-<resource>-<12 random>) until the real id exists.
    this.event(stack, name, physicalName(stack.name, name), 'CREATE_IN_PROGRESS', 'state changed');
    try {
      if (this.closed) throw new Error('Engine shut down');
      const props = this.resolve(stack, isObj(def.properties) ? def.properties : {});
      await this.createResource(stack, auth, res, isObj(props) ? props : {});
      res.status = 'CREATE_COMPLETE';
      res.statusReason = 'state changed';
      res.updated = NOVA_TIME();
      this.event(stack, name, res.physicalId, 'CREATE_COMPLETE', 'state changed');
      return true;
    } catch (err) {
      const reason = (err as Error).message;
      res.status = 'CREATE_FAILED';
      res.statusReason = reason;
      res.updated = NOVA_TIME();
      this.event(stack, name, res.physicalId, 'CREATE_FAILED', reason);
      return false;
    }
  }

  private setOutputs(stack: SimStack): void {
    const outputs = isObj(stack.template.outputs) ? stack.template.outputs : {};
    stack.outputs = Object.entries(outputs).map(([key, o]) => ({
      output_key: key,
      output_value: this.resolve(stack, isObj(o) ? o.value : null),
      description: isObj(o) && typeof o.description === 'string' ? o.description : 'No description given',
    }));
  }

  private order(resources: Json): string[] {
    const done: string[] = [];
    const visit = (n: string, path: Set<string>): void => {
      if (done.includes(n)) return;
      if (path.has(n)) throw new Error(`Circular Dependency Found: ${n}`);
      path.add(n);
      const r = resources[n];
      const deps = refs(r);
      if (isObj(r) && r.depends_on !== undefined) for (const d of [r.depends_on].flat()) if (typeof d === 'string') deps.add(d);
      for (const d of deps) visit(d, path);
      path.delete(n);
      done.push(n);
    };
    for (const n of Object.keys(resources)) visit(n, new Set());
    return done;
  }

  private resolve(stack: SimStack, value: unknown): unknown {
    if (Array.isArray(value)) return value.map((v) => this.resolve(stack, v));
    if (!isObj(value)) return value;
    const keys = Object.keys(value);
    if (keys.length === 1) {
      const [k] = keys;
      const arg = value[k ?? ''];
      if (k === 'get_param' && typeof arg === 'string') return stack.parameters[arg] ?? (arg === 'OS::stack_name' ? stack.name : arg === 'OS::stack_id' ? stack.id : undefined);
      if (k === 'get_resource' && typeof arg === 'string') return stack.resources.find((r) => r.name === arg)?.physicalId;
      if (k === 'get_attr' && Array.isArray(arg)) {
        const [res, attr, ...path] = this.resolve(stack, arg) as unknown[];
        return walk(this.attr(stack, str(res), str(attr)), path);
      }
      if (k === 'list_join' && Array.isArray(arg)) return listJoin(this.resolve(stack, arg) as unknown[]);
      if (k === 'str_replace' && isObj(arg)) return strReplace(this.resolve(stack, arg.template), this.resolve(stack, arg.params));
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, this.resolve(stack, v)]));
  }

  private attr(stack: SimStack, resource: string, attr: string): unknown {
    const r = stack.resources.find((x) => x.name === resource);
    if (!r) return null;
    const state = this.state;
    if (r.type === 'OS::Nova::Server') {
      const s = state.servers.get(r.physicalId);
      if (!s) return null;
      const ports = s.portIds.map((id) => state.ports.get(id)).filter((p) => p !== undefined);
      const netName = (networkId: string) => state.networks.get(networkId)?.name ?? networkId;
      if (attr === 'first_address') return ports[0]?.fixedIps[0]?.ip_address ?? '';
      if (attr === 'name' || attr === 'instance_name') return s.name;
      if (attr === 'host') return s.host;
      if (attr === 'accessIPv4' || attr === 'accessIPv6') return '';
      if (attr === 'networks') {
        const out: Record<string, string[]> = {};
        for (const p of ports) (out[netName(p.networkId)] ??= []).push(...p.fixedIps.map((ip) => ip.ip_address));
        return out;
      }
      if (attr === 'addresses') {
        const out: Record<string, unknown[]> = {};
        for (const p of ports) {
          for (const ip of p.fixedIps) (out[netName(p.networkId)] ??= []).push({ addr: ip.ip_address, version: 4, 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': p.macAddress, port: p.id });
        }
        return out;
      }
      if (attr === 'show') return { id: s.id, name: s.name, status: s.status, metadata: s.metadata, 'OS-EXT-SRV-ATTR:host': s.host, 'OS-EXT-AZ:availability_zone': s.az };
      return null;
    }
    if (r.type === 'OS::Neutron::FloatingIP') {
      const f = state.floatingIps.get(r.physicalId);
      if (!f) return null;
      const view: Record<string, unknown> = { floating_ip_address: f.address, floating_network_id: f.networkId, port_id: f.portId, fixed_ip_address: f.fixedIp, router_id: null, tenant_id: f.projectId };
      return attr === 'show' ? view : (view[attr] ?? null);
    }
    const p = state.ports.get(r.physicalId);
    if (!p) return null;
    const view: Record<string, unknown> = {
      fixed_ips: p.fixedIps.map((ip) => ({ ...ip })),
      mac_address: p.macAddress,
      name: p.name,
      network_id: p.networkId,
      security_groups: [...p.securityGroupIds],
      device_id: p.deviceId,
      status: p.status,
      subnets: p.fixedIps.map((ip) => ({ id: ip.subnet_id, cidr: state.networks.get(p.networkId)?.cidr })),
    };
    return attr === 'show' ? view : (view[attr] ?? null);
  }

  private network(resName: string, ref: string): SimNetwork {
    const net = this.state.networks.get(ref) ?? [...this.state.networks.values()].find((n) => n.name === ref);
    if (!net) throw new Error(`NotFound: resources.${resName}: Unable to find network with name or id '${ref}'`);
    return net;
  }

  /** Heat's lookup by name or id: a name must match exactly one group of the project (or, for admins, one overall). */
  private securityGroupIds(resName: string, projectId: string, refs: unknown): string[] {
    if (!Array.isArray(refs)) throw new Error(`StackValidationFailed: resources.${resName}: Property error: ${resName}.properties.security_groups: Value must be a list`);
    return refs.map((raw) => {
      const ref = str(raw);
      const byId = this.state.securityGroups.get(ref);
      if (byId) return byId.id;
      if (UUID_RE.test(ref)) throw new Error(`NotFound: resources.${resName}: Security group ${ref} does not exist`);
      const named = [...this.state.securityGroups.values()].filter((g) => g.name === ref);
      const own = named.filter((g) => g.projectId === projectId);
      const pick = own.length > 0 ? own : named;
      if (pick.length === 0) throw new Error(`NotFound: resources.${resName}: Unable to find security_group with name or id '${ref}'`);
      if (pick.length > 1) throw new Error(`PhysicalResourceNameAmbiguity: resources.${resName}: Multiple physical resources were found with name (${ref}).`);
      return pick[0]?.id ?? '';
    });
  }

  private async createResource(stack: SimStack, auth: AuthContext, res: SimStackResource, props: Json): Promise<void> {
    const state = this.state;
    if (res.type === 'OS::Neutron::Port') {
      const net = this.network(res.name, str(props.network ?? props.network_id));
      let ipAddress: string | undefined;
      if (props.fixed_ips !== undefined) {
        const fixed = Array.isArray(props.fixed_ips) ? props.fixed_ips : [];
        for (const f of fixed) {
          const o = isObj(f) ? f : {};
          const subnetRef = o.subnet ?? o.subnet_id;
          if (subnetRef !== undefined) {
            const ref = str(subnetRef);
            const owner = [...state.networks.values()].find((n) => n.subnetId === ref || n.subnetName === ref);
            if (!owner) throw new Error(`NotFound: resources.${res.name}: Unable to find subnet with name or id '${ref}'`);
            if (owner.id !== net.id) {
              throw new Error(`BadRequest: resources.${res.name}: Invalid input for operation: Failed to create port on network ${net.id}, because fixed_ips included invalid subnet ${owner.subnetId}.`);
            }
          }
          if (typeof o.ip_address === 'string') ipAddress = o.ip_address;
        }
      }
      const securityGroupIds = props.security_groups === undefined ? undefined : this.securityGroupIds(res.name, stack.projectId, props.security_groups);
      const port = state.createPort(net, stack.projectId, {
        name: typeof props.name === 'string' ? props.name : `${stack.name}-${res.name}`,
        ...(securityGroupIds ? { securityGroupIds } : {}),
        ...(ipAddress === undefined ? {} : { ipAddress }),
      });
      res.physicalId = port.id;
      return;
    }
    if (res.type === 'OS::Neutron::FloatingIP') {
      const net = this.network(res.name, str(props.floating_network ?? props.floating_network_id));
      if (!net.external) throw new Error(`BadRequest: resources.${res.name}: Bad floatingip request: Network ${net.id} is not a valid external network.`);
      let port = null;
      if (props.port_id !== undefined && props.port_id !== null) {
        port = state.ports.get(str(props.port_id)) ?? null;
        if (!port) throw new Error(`NotFound: resources.${res.name}: Port ${str(props.port_id)} could not be found.`);
      }
      res.physicalId = state.createFloatingIp(net, stack.projectId, port).id;
      return;
    }
    const networks = Array.isArray(props.networks)
      ? props.networks.map((n: unknown) => {
          const o = isObj(n) ? n : {};
          if (typeof o.port === 'string') return { port: o.port };
          return { uuid: this.network(res.name, str(o.network ?? o.uuid)).id };
        })
      : undefined;
    // Nova takes user_data base64-encoded; with RAW Heat passes the text through unchanged.
    const userData = typeof props.user_data === 'string' && props.user_data !== '' ? Buffer.from(props.user_data, 'utf8').toString('base64') : undefined;
    // Nova metadata values are strings; Heat JSON-encodes anything else.
    const metadata = isObj(props.metadata) ? Object.fromEntries(Object.entries(props.metadata).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)])) : undefined;
    let server;
    try {
      server = this.compute.boot({
        name: typeof props.name === 'string' ? props.name : `${stack.name}-${res.name}`,
        flavorRef: str(props.flavor),
        ...(typeof props.image === 'string' ? { imageRef: props.image } : {}),
        projectId: stack.projectId,
        userId: auth.userId,
        isAdmin: auth.isAdmin,
        ...(typeof props.availability_zone === 'string' ? { availabilityZone: props.availability_zone } : {}),
        ...(networks ? { networks } : {}),
        ...(metadata ? { metadata } : {}),
        ...(userData === undefined ? {} : { userData }),
        ...(typeof props.key_name === 'string' ? { keyName: props.key_name } : {}),
      });
    } catch (err) {
      if (err instanceof ApiError) throw new Error(`${err.status === 403 ? 'Forbidden' : 'BadRequest'}: resources.${res.name}: ${err.message} (HTTP ${err.status})`, { cause: err });
      throw err;
    }
    res.physicalId = server.id;
    while (server.status === 'BUILD') await delay(5);
    if (server.status !== 'ACTIVE') {
      throw new Error(`ResourceInError: resources.${res.name}: Went to status ${server.status} due to "Message: ${server.fault?.message ?? 'Unknown'}, Code: ${server.fault?.code ?? 500}"`);
    }
  }

  private async deleteResource(res: SimStackResource): Promise<void> {
    if (res.physicalId === '') return;
    if (res.type === 'OS::Nova::Server') {
      const s = this.state.servers.get(res.physicalId);
      if (s) await (s.taskState === 'deleting' ? this.waitGone(s.id) : this.compute.delete(s));
    } else if (res.type === 'OS::Neutron::FloatingIP') {
      this.state.floatingIps.delete(res.physicalId);
    } else {
      this.state.deletePort(res.physicalId);
    }
  }

  private async waitGone(serverId: string): Promise<void> {
    while (this.state.servers.has(serverId)) await delay(5);
  }

  private async doCreate(stack: SimStack, auth: AuthContext): Promise<void> {
    const resources = isObj(stack.template.resources) ? stack.template.resources : {};
    let names: string[];
    try {
      names = this.order(resources);
    } catch (err) {
      this.setStack(stack, 'CREATE_FAILED', (err as Error).message);
      return;
    }
    for (const name of names) {
      if (!(await this.createOne(stack, auth, name, resources, names))) {
        this.setStack(stack, 'CREATE_FAILED', `Resource CREATE failed: ${stack.resources.find((r) => r.name === name)?.statusReason ?? ''}`);
        if (!stack.disableRollback) {
          this.setStack(stack, 'ROLLBACK_IN_PROGRESS', `Stack ROLLBACK started`);
          await this.deleteAll(stack);
          this.setStack(stack, 'ROLLBACK_COMPLETE', 'Stack ROLLBACK completed successfully');
        }
        return;
      }
    }
    this.setOutputs(stack);
    this.setStack(stack, 'CREATE_COMPLETE', 'Stack CREATE completed successfully');
  }

  private async deleteAll(stack: SimStack): Promise<void> {
    for (const res of [...stack.resources].reverse()) {
      if (res.status === 'DELETE_COMPLETE') continue;
      res.status = 'DELETE_IN_PROGRESS';
      this.event(stack, res.name, res.physicalId, 'DELETE_IN_PROGRESS', 'state changed');
      await this.deleteResource(res);
      res.status = 'DELETE_COMPLETE';
      res.updated = NOVA_TIME();
      this.event(stack, res.name, res.physicalId, 'DELETE_COMPLETE', 'state changed');
    }
  }

  delete(stack: SimStack): void {
    this.run(stack, async () => {
      this.setStack(stack, 'DELETE_IN_PROGRESS', 'Stack DELETE started');
      await this.deleteAll(stack);
      stack.deleted = NOVA_TIME();
      this.setStack(stack, 'DELETE_COMPLETE', 'Stack DELETE completed successfully');
    });
  }
}

export function registerHeat(app: FastifyInstance, state: SimState, engine: HeatEngine): void {
  const P = '/heat-api/v1/:project';
  type Params = { project: string; name?: string; id?: string };
  const check = (req: FastifyRequest<{ Params: Params }>): AuthContext => {
    const auth = authOf(req);
    if (req.params.project !== auth.projectId) throw new ApiError(403, 'You are not authorized to complete this action.', 'Forbidden');
    return auth;
  };
  const url = (req: FastifyRequest, s: SimStack) => `${origin(req)}/heat-api/v1/${s.projectId}/stacks/${s.name}/${s.id}`;
  // Checked against Zed's Heat: the list leaves the template unloaded (description ""), names the
  // project to admins, and keeps tags null when none were given; show answers [] there instead.
  const listView = (req: FastifyRequest, s: SimStack, auth?: AuthContext) => ({
    creation_time: s.created,
    deletion_time: s.deleted,
    description: '',
    id: s.id,
    links: [{ href: url(req, s), rel: 'self' }],
    parent: null,
    ...(auth?.isAdmin === true ? { project: s.projectId } : {}),
    stack_name: s.name,
    stack_owner: s.ownerName,
    stack_status: s.status,
    stack_status_reason: s.statusReason,
    stack_user_project_id: s.projectId,
    tags: s.tags,
    updated_time: s.updated,
  });
  const notFound = (what: string) => new ApiError(404, `The Stack (${what}) could not be found.`, 'EntityNotFound');
  const byNameAndId = (req: FastifyRequest<{ Params: Params }>): SimStack => {
    const auth = check(req);
    const s = state.stacks.get(req.params.id ?? '');
    if (!s || s.projectId !== auth.projectId || s.name !== req.params.name) throw notFound(req.params.name ?? '');
    return s;
  };

  app.post<{ Params: Params }>(`${P}/stacks`, (req, reply: FastifyReply) => {
    const auth = check(req);
    const stack = engine.create(auth, body(req));
    return reply.code(201).header('location', url(req, stack)).send({ stack: { id: stack.id, links: [{ href: url(req, stack), rel: 'self' }] } });
  });
  app.get<{ Params: Params }>(`${P}/stacks`, (req) => {
    const auth = check(req);
    const name = queryOne(req.query, 'name');
    const status = queryOne(req.query, 'status');
    const showDeleted = isTrue(queryOne(req.query, 'show_deleted'));
    const stacks = [...state.stacks.values()].filter(
      (s) =>
        s.projectId === auth.projectId &&
        (showDeleted || s.status !== 'DELETE_COMPLETE') &&
        (name === undefined || s.name === name) &&
        (status === undefined || s.status.endsWith(status) || s.status === status),
    );
    return { stacks: stacks.map((s) => listView(req, s, auth)) };
  });
  const find = (req: FastifyRequest<{ Params: Params }>, reply: FastifyReply, suffix = '') => {
    const auth = check(req);
    const key = req.params.name ?? '';
    const s =
      [...state.stacks.values()].find((x) => x.projectId === auth.projectId && x.id === key) ??
      [...state.stacks.values()].find((x) => x.projectId === auth.projectId && x.name === key && x.status !== 'DELETE_COMPLETE');
    if (!s) throw notFound(key);
    const location = url(req, s) + suffix;
    return reply
      .code(302)
      .header('location', location)
      .send({ code: '302 Found', message: `The resource was found at <a href="${location}">${location}</a>;\nyou should be redirected automatically.\n\n`, title: 'Found' });
  };
  app.get<{ Params: Params }>(`${P}/stacks/:name`, (req, reply) => find(req, reply));
  app.delete<{ Params: Params }>(`${P}/stacks/:name`, (req, reply) => find(req, reply));
  app.get<{ Params: Params }>(`${P}/stacks/:name/resources`, (req, reply) => find(req, reply, '/resources'));
  app.get<{ Params: Params }>(`${P}/stacks/:name/events`, (req, reply) => find(req, reply, '/events'));

  app.get<{ Params: Params }>(`${P}/stacks/:name/:id`, (req) => {
    const s = byNameAndId(req);
    return {
      stack: {
        ...listView(req, s),
        description: s.description,
        tags: s.tags ?? [],
        capabilities: [],
        disable_rollback: s.disableRollback,
        notification_topics: [],
        outputs: s.outputs,
        parameters: { ...s.parameters, 'OS::project_id': s.projectId, 'OS::stack_id': s.id, 'OS::stack_name': s.name },
        template_description: s.description,
        timeout_mins: s.timeoutMins,
      },
    };
  });
  app.put<{ Params: Params }>(`${P}/stacks/:name/:id`, (req, reply) => {
    const s = byNameAndId(req);
    engine.update(s, authOf(req), body(req));
    return reply.code(202).send();
  });
  app.delete<{ Params: Params }>(`${P}/stacks/:name/:id`, (req, reply) => {
    const s = byNameAndId(req);
    if (s.status === 'DELETE_COMPLETE') throw notFound(s.name);
    if (s.status !== 'DELETE_IN_PROGRESS') engine.delete(s);
    return reply.code(204).send();
  });
  app.get<{ Params: Params }>(`${P}/stacks/:name/:id/resources`, (req) => {
    const s = byNameAndId(req);
    return {
      resources: s.resources.map((r) => ({
        creation_time: r.created,
        links: [
          { href: `${url(req, s)}/resources/${r.name}`, rel: 'self' },
          { href: url(req, s), rel: 'stack' },
        ],
        logical_resource_id: r.name,
        physical_resource_id: r.physicalId,
        required_by: r.requiredBy,
        resource_name: r.name,
        resource_status: r.status,
        resource_status_reason: r.statusReason,
        resource_type: r.type,
        updated_time: r.updated ?? r.created,
      })),
    };
  });
  app.get<{ Params: Params }>(`${P}/stacks/:name/:id/events`, (req) => {
    const s = byNameAndId(req);
    return {
      // Heat lists the newest event first.
      events: [...s.events].reverse().map((e) => ({
        event_time: e.time,
        id: e.id,
        links: [
          { href: `${url(req, s)}/resources/${e.resourceName}/events/${e.id}`, rel: 'self' },
          { href: `${url(req, s)}/resources/${e.resourceName}`, rel: 'resource' },
          { href: url(req, s), rel: 'stack' },
        ],
        logical_resource_id: e.resourceName,
        physical_resource_id: e.physicalId,
        resource_name: e.resourceName,
        resource_status: e.status,
        resource_status_reason: e.reason,
      })),
    };
  });
}
