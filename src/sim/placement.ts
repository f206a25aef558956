/**
 * Placement (read side, microversions 1.0 – 1.39): resource providers,
 * inventories, usages, allocations.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ApiError, authOf, ctxOf, queryOne } from './http.ts';
import type { SimHost, SimState } from './state.ts';

export const PLACEMENT_MAX = 39;

export function placementVersion(headers: Record<string, string | string[] | undefined>): number {
  const h = headers['openstack-api-version'];
  if (typeof h !== 'string') return 0;
  let raw: string | undefined;
  for (const part of h.split(',')) {
    const [svc, ver] = part.trim().split(/\s+/);
    if (svc?.toLowerCase() === 'placement' && ver !== undefined) raw = ver;
  }
  if (raw === undefined) return 0;
  if (raw === 'latest') return PLACEMENT_MAX;
  const m = /^1\.(\d+)$/.exec(raw);
  if (!m) throw new ApiError(400, `invalid version string: ${raw}`, 'placement.undefined_code');
  const minor = Number(m[1]);
  if (minor > PLACEMENT_MAX) {
    throw new ApiError(406, `Unacceptable version header: ${raw}`, 'placement.undefined_code');
  }
  return minor;
}

export function registerPlacement(app: FastifyInstance, state: SimState): void {
  const admin = (req: FastifyRequest): void => {
    if (!authOf(req).isAdmin) throw new ApiError(403, 'Policy does not allow placement:resource_providers:list to be performed.', 'placement.undefined_code');
  };
  const rpView = (h: SimHost, ver: number, prefix: string): Record<string, unknown> => {
    const self = `${prefix}/resource_providers/${h.uuid}`;
    const links = [{ href: self, rel: 'self' }];
    if (ver >= 1) links.push({ href: `${self}/aggregates`, rel: 'aggregates' });
    links.push({ href: `${self}/inventories`, rel: 'inventories' }, { href: `${self}/usages`, rel: 'usages' });
    if (ver >= 6) links.push({ href: `${self}/traits`, rel: 'traits' });
    if (ver >= 11) links.push({ href: `${self}/allocations`, rel: 'allocations' });
    const out: Record<string, unknown> = { generation: h.generation, uuid: h.uuid, links, name: h.hypervisorHostname };
    if (ver >= 14) Object.assign(out, { parent_provider_uuid: null, root_provider_uuid: h.uuid });
    return out;
  };
  const provider = (uuid: string): SimHost => {
    const h = state.hostByUuid(uuid);
    if (!h) throw new ApiError(404, `No resource provider with uuid ${uuid} found`, 'placement.undefined_code');
    return h;
  };

  app.get('/placement', () => ({ versions: [{ id: 'v1.0', max_version: `1.${PLACEMENT_MAX}`, min_version: '1.0', status: 'CURRENT', links: [{ rel: 'self', href: '' }] }] }));
  app.get('/placement/', () => ({ versions: [{ id: 'v1.0', max_version: `1.${PLACEMENT_MAX}`, min_version: '1.0', status: 'CURRENT', links: [{ rel: 'self', href: '' }] }] }));

  app.get('/placement/resource_providers', (req) => {
    admin(req);
    const ver = ctxOf(req).version;
    const name = queryOne(req.query, 'name');
    const uuid = queryOne(req.query, 'uuid');
    const inTree = ver >= 14 ? queryOne(req.query, 'in_tree') : undefined;
    const hosts = [...state.hosts.values()].filter((h) => (name === undefined || h.hypervisorHostname === name) && (uuid === undefined || h.uuid === uuid) && (inTree === undefined || h.uuid === inTree));
    return { resource_providers: hosts.map((h) => rpView(h, ver, '/placement')) };
  });
  app.get<{ Params: { uuid: string } }>('/placement/resource_providers/:uuid', (req) => {
    admin(req);
    return rpView(provider(req.params.uuid), ctxOf(req).version, '/placement');
  });
  app.get<{ Params: { uuid: string } }>('/placement/resource_providers/:uuid/inventories', (req) => {
    admin(req);
    const h = provider(req.params.uuid);
    return { inventories: state.inventories(h), resource_provider_generation: h.generation };
  });
  app.get<{ Params: { uuid: string } }>('/placement/resource_providers/:uuid/usages', (req) => {
    admin(req);
    const h = provider(req.params.uuid);
    return { resource_provider_generation: h.generation, usages: state.usages(h) };
  });
  app.get<{ Params: { uuid: string } }>('/placement/resource_providers/:uuid/allocations', (req) => {
    admin(req);
    const h = provider(req.params.uuid);
    // From 1.28 each consumer carries its generation (checked against Zed's Placement at 1.36).
    const withGeneration = ctxOf(req).version >= 28;
    const allocations: Record<string, { resources: Record<string, number>; consumer_generation?: number }> = {};
    for (const a of state.allocationsOf(h.uuid)) {
      allocations[a.consumerId] = { resources: { ...a.resources }, ...(withGeneration ? { consumer_generation: 1 } : {}) };
    }
    return { allocations, resource_provider_generation: h.generation };
  });
  app.get<{ Params: { consumer: string } }>('/placement/allocations/:consumer', (req) => {
    admin(req);
    const ver = ctxOf(req).version;
    const a = state.allocations.get(req.params.consumer);
    const h = a ? state.hostByUuid(a.rpUuid) : undefined;
    const allocations: Record<string, unknown> = {};
    if (a && h) allocations[h.uuid] = ver >= 12 ? { generation: h.generation, resources: { ...a.resources } } : { generation: h.generation, resources: { ...a.resources } };
    const out: Record<string, unknown> = { allocations };
    if (ver >= 12 && a) Object.assign(out, { project_id: a.projectId, user_id: a.userId });
    if (ver >= 28 && a) out.consumer_generation = 1;
    return out;
  });
  app.get('/placement/usages', (req) => {
    admin(req);
    const ver = ctxOf(req).version;
    if (ver < 9) throw new ApiError(404, 'The resource could not be found.', 'placement.undefined_code');
    const projectId = queryOne(req.query, 'project_id');
    if (projectId === undefined) throw new ApiError(400, "Invalid query string parameters: 'project_id' is a required property", 'placement.undefined_code');
    const userId = queryOne(req.query, 'user_id');
    const totals: Record<string, number> = {};
    let consumers = 0;
    for (const a of state.allocations.values()) {
      if (a.projectId !== projectId || (userId !== undefined && a.userId !== userId)) continue;
      consumers += 1;
      for (const [rc, n] of Object.entries(a.resources)) totals[rc] = (totals[rc] ?? 0) + n;
    }
    if (ver >= 38) return { usages: consumers === 0 ? {} : { INSTANCE: { consumer_count: consumers, ...totals } } };
    return { usages: totals };
  });
}
