/**
 * What the dashboard (`/ui`) reads besides the topology routes: hosts as the
 * manager plans with them (capacity and use, uplink and the guarantees
 * committed on it, switch connections, owner), every SLA with its live rates,
 * and the same as a server-sent event stream, one sample a second. The page
 * itself is static (no cloud data in it) and served without a token; every
 * data route needs the same bearer token as the rest of the API.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { constants as zlibConstants, createGzip } from 'node:zlib';
import fastifyStatic from '@fastify/static';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import type { V1Host, V1Resource } from '../agent/hosts-view.ts';
import { ProblemError } from '../http/problem.ts';
import type { ServiceApp } from '../http/service.ts';
import type { ManagerStore, Topology as TopologyRecord } from '../store/index.ts';
import type { AgentApi, StoredPlan, UnitRecord } from './deployer.ts';
import type { UplinkConfig } from './cloud-view.ts';
import { ManagerHostsSchema, type ManagerHost } from './contract.ts';
import { problemResponses } from '../http/problem.ts';
import { SlaSampleSchema } from './sla-types.ts';
import { SlaFeed, type SlaSample, type UnitOfServer } from './sla-feed.ts';

export interface DashboardDeps {
  store: ManagerStore;
  agent: AgentApi;
  uplink: UplinkConfig;
  /** Throws until the manager has started (a 503 not-ready getter); the dashboard shows every project's topologies. */
  projectId: string;
  /**
   * Throws a 403 for a caller that is not an operator: hosts and every project's SLAs are the
   * cloud's, not one project's. Absent: every authenticated caller is one (static tokens only).
   */
  requireOperator?: (request: FastifyRequest) => void;
  /** The built page (index.html and its assets); undefined: `/ui` answers 404 with how to build it. */
  uiDir: string | undefined;
  /** @default 1000 */
  slaIntervalMs?: number;
}

/** Topologies that hold (or are about to hold) servers and uplink guarantees. */
const LIVE_STATES = ['PLANNED', 'DEPLOYING', 'DEPLOYED', 'ENFORCING', 'ACTIVE', 'DELETING'] as const;

/** The live topologies of every project. */
async function allTopologies(store: ManagerStore): Promise<TopologyRecord[]> {
  const out: TopologyRecord[] = [];
  let cursor: string | null = null;
  do {
    const page = await store.listTopologies({ states: [...LIVE_STATES], limit: 1000, cursor });
    out.push(...page.items);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return out;
}

export function unitsByServer(topologies: readonly TopologyRecord[]): Map<string, UnitOfServer> {
  const out = new Map<string, UnitOfServer>();
  for (const t of topologies) {
    for (const u of t.units as UnitRecord[]) {
      if (u.serverId !== null) out.set(u.serverId.toLowerCase(), { topologyId: t.id, topology: t.name, unit: u.name, slaClass: u.slaClass });
    }
  }
  return out;
}

function use(r: V1Resource | null): { used: number; capacity: number } | null {
  return r ? { used: r.used, capacity: r.capacity } : null;
}

/** One host as the dashboard shows it. Pure. */
export function hostRow(h: V1Host, uplink: UplinkConfig, committed: { bps: number; topologies: string[] }, observed: { download: number | null; upload: number | null }): ManagerHost {
  return {
    name: h.name,
    state: h.state,
    status: h.status,
    disabled_reason: h.disabled_reason,
    availability_zone: h.availability_zone,
    instances: h.instances,
    vcpu: use(h.resources.VCPU),
    ram_mb: use(h.resources.MEMORY_MB),
    disk_gb: use(h.resources.DISK_GB),
    uplink_bps: uplink.hosts[h.name] ?? uplink.defaultBps,
    committed_bps: committed.bps,
    topologies: committed.topologies,
    guarantees: h.guarantees,
    observed_download_bps: observed.download,
    observed_upload_bps: observed.upload,
    ovsdb: h.ovsdb,
    openflow: h.openflow,
    owner_agent: h.owner_agent,
    warnings: h.warnings,
  };
}

export async function registerDashboard(app: ServiceApp, deps: DashboardDeps): Promise<SlaFeed> {
  /** Reading the project first: a 503 not-ready until the manager has started. */
  const started = (): string => deps.projectId;
  const liveTopologies = (): Promise<TopologyRecord[]> => {
    started();
    return allTopologies(deps.store);
  };
  const feed = new SlaFeed({
    slaStatus: (signal) => deps.agent.slaStatus(signal),
    units: async () => unitsByServer(await liveTopologies()),
    ...(deps.slaIntervalMs === undefined ? {} : { intervalMs: deps.slaIntervalMs }),
  });
  // Open event streams end before the server closes: it waits for every connection, and a watching browser never ends its own.
  const streams = new Set<() => void>();
  app.addHook('preClose', (done) => {
    for (const end of streams) end();
    done();
  });
  app.addHook('onClose', () => {
    feed.stop();
  });
  const operatorOnly = new Set(['/v1/hosts', '/v1/sla', '/v1/sla/stream']);
  const requireOperator = deps.requireOperator;
  if (requireOperator) {
    app.addHook('preHandler', (request, _reply, done) => {
      try {
        if (operatorOnly.has(request.routeOptions.url ?? '')) requireOperator(request);
        done();
      } catch (error) {
        done(error as Error);
      }
    });
  }

  const TopologyQuery = Type.Object({ topology: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'only the SLAs of this topology (its id)' })) });
  const filter = (sample: SlaSample, topology: string | undefined): SlaSample => (topology === undefined ? sample : { ...sample, rows: sample.rows.filter((r) => r.topology_id === topology) });
  // Every watcher of the same view gets the same text: serialised once per sample and filter.
  const texts = new WeakMap<SlaSample, Map<string, string>>();
  const serialized = (sample: SlaSample, topology: string | undefined): string => {
    let byFilter = texts.get(sample);
    if (!byFilter) texts.set(sample, (byFilter = new Map<string, string>()));
    const key = topology ?? '';
    let text = byFilter.get(key);
    if (text === undefined) byFilter.set(key, (text = JSON.stringify(filter(sample, topology))));
    return text;
  };

  app.get(
    '/v1/hosts',
    {
      schema: {
        tags: ['v1'],
        summary: 'Compute hosts as the manager plans with them: capacity and use, uplink and committed guarantees, switch connections, owning agent',
        response: { 200: ManagerHostsSchema, ...problemResponses(401, 403, 502, 503) },
      },
    },
    async (request) => {
      let hosts;
      try {
        hosts = await deps.agent.hosts(AbortSignal.timeout(15_000));
      } catch (error) {
        throw new ProblemError(502, 'upstream', `Could not read the hosts from the CM Agent: ${(error as Error).message}`);
      }
      const committed = new Map<string, { bps: number; topologies: string[] }>();
      for (const t of await liveTopologies()) {
        const p = (t.plan as StoredPlan | null)?.placement;
        if (!p?.feasible || t.state === 'DELETING') continue;
        for (const host of p.hosts) {
          const c = committed.get(host) ?? { bps: 0, topologies: [] };
          c.bps += p.uplinkBps[host] ?? 0;
          c.topologies.push(t.name);
          committed.set(host, c);
        }
      }
      const observed = new Map<string, { download: number | null; upload: number | null }>();
      const sample = await feed.current(request.signal).catch(() => undefined);
      for (const r of sample?.rows ?? []) {
        if (r.host === null) continue;
        const o = observed.get(r.host) ?? { download: null, upload: null };
        if (r.download_bps !== null) o.download = (o.download ?? 0) + r.download_bps;
        if (r.upload_bps !== null) o.upload = (o.upload ?? 0) + r.upload_bps;
        observed.set(r.host, o);
      }
      return {
        refreshed_at: hosts.refreshed_at,
        stale: hosts.stale,
        hosts: hosts.hosts.map((h) => hostRow(h, deps.uplink, committed.get(h.name) ?? { bps: 0, topologies: [] }, observed.get(h.name) ?? { download: null, upload: null })),
      };
    },
  );

  app.get(
    '/v1/sla',
    {
      schema: {
        tags: ['v1'],
        summary: 'Every SLA the agent enforces, with its topology unit, live rates and whether it is violated now',
        querystring: TopologyQuery,
        response: { 200: SlaSampleSchema, ...problemResponses(400, 401, 403, 503) },
      },
    },
    async (request) => filter(await feed.current(request.signal), request.query.topology),
  );

  app.get(
    '/v1/sla/stream',
    {
      schema: {
        tags: ['v1'],
        summary: 'The same as GET /v1/sla as server-sent events: `event: sla` once a second while connected',
        description:
          'Send the bearer token as with every route (a browser reads the stream with fetch). A comment line every 15 s keeps idle proxies from closing it. ' +
          'Each event\'s `data:` is one sample, the answer of GET /v1/sla (schema SlaSample); gzip when the request accepts it.',
        querystring: TopologyQuery,
        response: {
          200: {
            description: '`retry: 2000`, then `event: sla` with `id:` and `data:` (one SlaSample as JSON) once a second',
            content: { 'text/event-stream': { schema: Type.String() } },
          },
          ...problemResponses(400, 401, 403, 503),
        },
      },
    },
    (request, reply) => {
      // HEAD (which Fastify adds for every GET) gets the stream's headers and ends: there is no body to wait for.
      if (request.method === 'HEAD') {
        void reply.code(200).header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-store').send('');
        return;
      }
      const topology = request.query.topology;
      // 4 000 VMs make 1.6 MB of JSON a second; gzip with a flush per event sends a tenth of it
      // (the keys repeat) for ~9 ms of CPU per watcher and sample. One deflate context per stream.
      const gzip = /\bgzip\b/.test(request.headers['accept-encoding'] ?? '') ? createGzip({ level: 1 }) : undefined;
      reply.hijack();
      const raw = reply.raw;
      raw.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-store',
        'x-accel-buffering': 'no',
        'x-request-id': request.id,
        ...(gzip ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {}),
      });
      if (gzip) gzip.pipe(raw);
      const out = gzip ?? raw;
      const send = (text: string): void => {
        out.write(text);
        gzip?.flush(zlibConstants.Z_SYNC_FLUSH);
      };
      send('retry: 2000\n\n');
      let seq = 0;
      const unsubscribe = feed.subscribe((sample) => {
        // A slow reader is skipped rather than queued: the next sample supersedes this one.
        if (raw.writableNeedDrain || out.writableNeedDrain) return;
        send(`event: sla\nid: ${String(++seq)}\ndata: ${serialized(sample, topology)}\n\n`);
      });
      const keepAlive = setInterval(() => {
        send(': keep-alive\n\n');
      }, 15_000);
      const close = (): void => {
        clearInterval(keepAlive);
        unsubscribe();
        gzip?.destroy();
        streams.delete(end);
      };
      const end = (): void => {
        clearInterval(keepAlive);
        unsubscribe();
        streams.delete(end);
        // The response ends after the server began closing (gzip flushes later): its socket must not stay for keep-alive
        // (the response lets go of it on finish, so it is taken now).
        const socket = raw.socket;
        raw.once('finish', () => socket?.end());
        out.end();
      };
      streams.add(end);
      request.raw.once('close', close);
      raw.once('close', close);
    },
  );

  if (deps.uiDir !== undefined) {
    const root = deps.uiDir;
    await app.register(fastifyStatic, {
      root,
      prefix: '/ui/',
      decorateReply: false,
      preCompressed: true,
      index: ['index.html'],
      // Hashed asset names never change content; the page itself is always revalidated.
      setHeaders: (reply, file) => {
        void reply.headers({
          'cache-control': path.basename(file) === 'index.html' ? 'no-cache' : 'public, max-age=31536000, immutable',
          'content-security-policy': "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
          'x-content-type-options': 'nosniff',
          'referrer-policy': 'no-referrer',
        });
      },
    });
    app.get('/ui', { schema: { hide: true } }, (_request, reply) => reply.redirect('/ui/'));
  } else {
    app.get('/ui/*', { schema: { hide: true } }, () => {
      throw new ProblemError(404, 'not-found', 'The dashboard is not built: run `npm run build` (a package has it built)');
    });
  }
  return feed;
}

/**
 * The built dashboard: beside the compiled code in a package (`npm run build` put it in dist/ui), or
 * built now from ui/ in a source checkout (esbuild, a dev dependency; cached while ui/ is unchanged).
 */
export async function dashboardDir(): Promise<string | undefined> {
  const packaged = path.resolve(import.meta.dirname, '../ui');
  if (existsSync(path.join(packaged, 'index.html'))) return packaged;
  const script = path.resolve(import.meta.dirname, '../../scripts/build-ui.mjs');
  if (!existsSync(script)) return undefined;
  const { ensureUiBuilt } = (await import(pathToFileURL(script).href)) as { ensureUiBuilt: () => Promise<string> };
  return ensureUiBuilt();
}
