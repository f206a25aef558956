/**
 * A simulated OpenStack cloud (Keystone, Nova, Placement, Neutron, Heat) on
 * one HTTP server, with one OVSDB per simulated host. For tests and demos of
 * the Connectivity Manager without a real cloud.
 */
import { setTimeout as delay } from 'node:timers/promises';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { Compute } from './compute.ts';
import { registerHeat, HeatEngine } from './heat.ts';
import { ApiError, ctxOf, newRequestId, sendError, serviceOf, setContext, type RequestContext, type ServiceName } from './http.ts';
import { HostSwitches, type HypervisorHook, type OvsPlug } from './hypervisor.ts';
import { registerKeystone, TokenStore } from './keystone.ts';
import { registerNeutron } from './neutron.ts';
import { novaVersion, registerNova, requestedNovaVersion } from './nova.ts';
import { placementVersion, registerPlacement } from './placement.ts';
import { loadScenario, type ScenarioObject } from './scenario.ts';
import { SimState } from './state.ts';

export type { HypervisorHook, OvsPlug } from './hypervisor.ts';
export { ovsPortName } from './hypervisor.ts';
export { loadScenario, validateScenario, ScenarioError, DEFAULT_SCENARIO_PATH, type ScenarioObject } from './scenario.ts';
export { bulkScenario, NO_SWITCHES, seedServers, type SeedOptions } from './bulk.ts';
export { NOVA_MAX_LIMIT } from './nova.ts';
export type { SimState, SimHost, SimServer, SimPort, SimStack, SimAllocation, SimFlavor, SimProject, SimNetwork } from './state.ts';
export type { ServiceName } from './http.ts';

export type FaultService = 'nova' | 'placement' | 'neutron' | 'heat' | 'keystone';

export interface SimFaults {
  /** While down, every call to the service answers 503 in the service's error shape. */
  serviceDown(service: FaultService, down: boolean): void;
  /** Delays every response of the service by `ms` (0 turns it off). */
  slow(service: FaultService, ms: number): void;
  /** The next `count` (default 1) calls to the service answer `status`. */
  failNext(service: FaultService, status: number, count?: number): void;
  /** Every token issued so far becomes invalid: services answer 401 until the client re-authenticates. */
  expireTokens(): void;
}

export interface SimCloud {
  /** Keystone v3 auth URL, e.g. 'http://127.0.0.1:PORT/identity/v3'. */
  readonly authUrl: string;
  readonly credentials: { username: string; password: string; projectName: string; userDomainName: string; projectDomainName: string; regionName: string };
  /** Read access to the state for tests (hosts, servers, ports, allocations, stacks). */
  readonly state: SimState;
  readonly faults: SimFaults;
  /** Each host's OVSDB endpoint (unix: or tcp:). */
  ovsdbEndpoint(host: string): string;
  /** The host's br-int OpenFlow endpoint when a real ovs-vswitchd runs it (the testbed), else undefined. */
  openflowEndpoint(host: string): string | undefined;
  close(): Promise<void>;
}

export interface SimCloudOptions {
  /** YAML path or an object; default src/sim/scenarios/thesis.yaml. */
  scenario?: string | ScenarioObject;
  /** Per-host switch database: the in-process OVSDB server (default) or a real ovsdb-server. */
  ovsdb?: 'in-process' | 'real';
  /**
   * Replaces the default plug/unplug into the host's OVSDB. When it has
   * `ovsdbEndpoint`, its switches are the hosts' (no OVSDB is started and
   * `ovsdb` is ignored); the caller starts and stops them.
   */
  hypervisor?: HypervisorHook;
  /** TCP port on 127.0.0.1 (default: any free port). */
  port?: number;
  /** BUILD → ACTIVE delay in ms (default 50). */
  bootDelayMs?: number;
  /** How servers' ports are plugged and named: `hybrid` (`qvo…`, default) or `native` (`tap…`). */
  ovsPlug?: OvsPlug;
  /** Nova's `[api] max_limit`: the largest page of servers and hypervisors (default 1000, Nova's). */
  novaMaxLimit?: number;
  /**
   * Neutron accepts `changed_since` on list calls, as with `filter_validation = False`
   * (default false: Zed's defaults refuse it on ports with a 400).
   */
  neutronChangedSince?: boolean;
}

/**
 * eventlet's url_length_limit: nova-api and neutron-server (eventlet on the CI cloud) answer
 * 414 to a request line (CRLF included) of this length or more (checked on Zed: 200
 * `device_id` filters on /v2.0/ports, about 9 400 bytes, answered 414; 100 did not).
 */
const MAX_REQUEST_LINE = 8192;

const NO_AUTH: readonly RegExp[] = [/^\/identity\/v3\/?$/, /^\/identity\/v3\/auth\/tokens$/, /^\/compute\/?$/, /^\/compute\/v2\.1\/?$/, /^\/placement\/?$/, /^\/network\/?$/];

export async function startSimCloud(options: SimCloudOptions = {}): Promise<SimCloud> {
  const scenario = loadScenario(options.scenario);
  const state = new SimState(scenario);
  state.ovsPlug = options.ovsPlug ?? 'hybrid';
  const external = options.hypervisor;
  const externalEndpoint = external?.ovsdbEndpoint?.bind(external);
  const switches = await HostSwitches.start(externalEndpoint ? [] : [...state.hosts.keys()], options.ovsdb ?? 'in-process', state.ovsPlug);
  const hook = external ?? switches;
  const compute = new Compute(state, hook, options.bootDelayMs ?? 50);
  const heat = new HeatEngine(state, compute);
  const tokens = new TokenStore();

  const down = new Set<ServiceName>();
  const slow = new Map<ServiceName, number>();
  const failing = new Map<ServiceName, { status: number; count: number }>();

  const app: FastifyInstance = Fastify({ logger: false });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, raw, done) => {
    const text = typeof raw === 'string' ? raw : raw.toString('utf8');
    if (text.trim() === '') {
      done(null, undefined);
      return;
    }
    try {
      done(null, JSON.parse(text));
    } catch {
      done(new ApiError(400, 'Malformed request body'), undefined);
    }
  });

  app.addHook('onRequest', async (req, reply) => {
    const path = req.url.split('?')[0] ?? '';
    const service = serviceOf(path) ?? 'keystone';
    const ctx: RequestContext = { service, requestId: newRequestId(), version: 0 };
    setContext(req, ctx);
    // Refused by the WSGI server before the service sees it: no request id, no version headers.
    if ((service === 'nova' || service === 'neutron') && `${req.method} ${req.url} HTTP/1.1\r\n`.length >= MAX_REQUEST_LINE) return reply.code(414).send();
    void reply.header('x-openstack-request-id', ctx.requestId);
    if (service === 'nova') void reply.header('x-compute-request-id', ctx.requestId);
    const wait = slow.get(service) ?? 0;
    if (wait > 0) await delay(wait);
    if (down.has(service)) return sendError(reply, ctx, new ApiError(503, `The ${service} service is unavailable.`));
    const fail = failing.get(service);
    if (fail && fail.count > 0) {
      fail.count -= 1;
      if (fail.count === 0) failing.delete(service);
      return sendError(reply, ctx, new ApiError(fail.status, `Injected failure (HTTP ${fail.status}).`));
    }
    try {
      if (service === 'nova') {
        ctx.version = 1;
        ctx.version = novaVersion(req.headers);
      } else if (service === 'placement') ctx.version = placementVersion(req.headers);
    } catch (err) {
      if (service === 'nova') {
        const asked = requestedNovaVersion(req.headers);
        if (asked !== undefined) ctx.refusedVersion = asked;
      }
      return sendError(reply, ctx, err as ApiError);
    }
    if (NO_AUTH.some((re) => re.test(path))) return undefined;
    const token = req.headers['x-auth-token'];
    const auth = tokens.validate(typeof token === 'string' ? token : undefined);
    if (!auth) return sendError(reply, ctx, new ApiError(401, 'The request you have made requires authentication.'));
    ctx.auth = auth;
    return undefined;
  });

  app.addHook('onSend', async (req, reply, payload) => {
    const ctx = ctxOf(req);
    if (reply.statusCode === 414) return payload;
    // As the real services label JSON: Nova's faults (webob) add charset=UTF-8, nothing else does.
    const type = reply.getHeader('content-type');
    if (typeof type === 'string' && type.startsWith('application/json')) {
      void reply.header('content-type', ctx.service === 'nova' && reply.statusCode >= 400 ? 'application/json; charset=UTF-8' : 'application/json');
    }
    if (ctx.service === 'nova') {
      const v = ctx.refusedVersion ?? `2.${ctx.version}`;
      void reply.header('openstack-api-version', `compute ${v}`);
      void reply.header('x-openstack-nova-api-version', v);
      void reply.header('vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
    } else if (ctx.service === 'placement') {
      void reply.header('openstack-api-version', `placement 1.${ctx.version}`);
      void reply.header('vary', 'openstack-api-version');
    }
    return payload;
  });

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    const ctx = ctxOf(req);
    if (err instanceof ApiError) return sendError(reply, ctx, err);
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500;
    return sendError(reply, ctx, new ApiError(status, status === 500 ? 'An unexpected error occurred.' : err.message));
  });
  app.setNotFoundHandler((req, reply) => sendError(reply, ctxOf(req), new ApiError(404, 'The resource could not be found.')));

  registerKeystone(app, state, tokens);
  registerNova(app, state, compute, options.novaMaxLimit === undefined ? {} : { maxLimit: options.novaMaxLimit });
  registerPlacement(app, state);
  registerNeutron(app, state, { changedSince: options.neutronChangedSince === true });
  registerHeat(app, state, heat);

  let address: string;
  try {
    address = await app.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  } catch (err) {
    await switches.close();
    throw err;
  }

  const admin = [...state.users.values()].find((u) => [...u.roles.values()].some((r) => r.includes('admin')));
  const adminProject = admin ? [...admin.roles.entries()].find(([, r]) => r.includes('admin'))?.[0] : undefined;
  let closed = false;

  const check = (service: string): ServiceName => {
    if (!['nova', 'placement', 'neutron', 'heat', 'keystone'].includes(service)) throw new Error(`unknown service "${service}"`);
    return service as ServiceName;
  };

  return {
    authUrl: `${address}/identity/v3`,
    credentials: {
      username: admin?.name ?? '',
      password: admin?.password ?? '',
      projectName: state.projects.get(adminProject ?? '')?.name ?? '',
      userDomainName: state.domain.name,
      projectDomainName: state.domain.name,
      regionName: state.region,
    },
    state,
    faults: {
      serviceDown(service, isDown) {
        if (isDown) down.add(check(service));
        else down.delete(check(service));
      },
      slow(service, ms) {
        slow.set(check(service), ms);
      },
      failNext(service, status, count = 1) {
        failing.set(check(service), { status, count });
      },
      expireTokens() {
        tokens.expireAll();
      },
    },
    ovsdbEndpoint: (host) => (externalEndpoint ? externalEndpoint(host) : switches.endpoint(host)),
    openflowEndpoint: (host) => external?.openflowEndpoint?.(host),
    async close() {
      if (closed) return;
      closed = true;
      await heat.close();
      await compute.close();
      await app.close();
      await switches.close();
    },
  };
}
