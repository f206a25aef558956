/**
 * Shared set-up of the real-cloud stage (scripts/test-openstack.mjs): the
 * minimal Debian Zed OpenStack of ../shared/openstack, whose two fake-driver
 * hosts each have their own OVSDB on 127.0.0.1 and their own ovs-vswitchd in a
 * network namespace, and whose guests are namespaces `osrvm-<uuid8>`.
 *
 * Outside that stage (CM_REAL_OPENSTACK unset) every suite skips; inside it a
 * cloud that does not answer is a failure.
 */
import { parseAgentConfig } from '../../src/agent/config.ts';
import { startAgent, type RunningAgent } from '../../src/agent/main.ts';
import { parseManagerConfig } from '../../src/manager/config.ts';
import { startManager, type RunningManager } from '../../src/manager/main.ts';
import { appendFileSync } from 'node:fs';
import { cloudFromEnv, createOpenStack, joinUrl, OpenStackApiError, type CloudConfig, type OpenStack } from '../../src/openstack/index.ts';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { Replica } from '../../src/ovsdb/replica.ts';
import { Vswitch, vswitchReplicaTables, type VswitchView } from '../../src/ovsdb/vswitch/index.ts';
import { run } from '../harness/ovsdb-server.ts';
import { parseTcClassJson, parseTcClassText, type TcClass } from '../harness/vswitch-host.ts';

export const REAL = process.env.CM_REAL_OPENSTACK === '1';
/** `describe(..., { skip: realSkip })`. */
export const realSkip: false | string = REAL ? false : 'the real-cloud stage only (npm run test:openstack sets CM_REAL_OPENSTACK=1)';

export const HOSTS = ['compute1', 'compute2'] as const;
export type RealHost = (typeof HOSTS)[number];
/** What up.sh gives each fake host. */
export const OVSDB_ENDPOINTS: Record<RealHost, string> = { compute1: 'tcp:127.0.0.1:6651', compute2: 'tcp:127.0.0.1:6652' };
export const HOST_NETNS: Record<RealHost, string> = { compute1: 'osr-c1', compute2: 'osr-c2' };
/** Names of what the tests create, so that leftovers of an aborted run are recognised and removed. */
export const PREFIX = 'cm-real';

export function realCloud(): CloudConfig {
  return cloudFromEnv(process.env);
}

export function openReal(): OpenStack {
  return createOpenStack(realCloud(), { http: { retry: { baseDelayMs: 50, maxRetries: 2 } } });
}

/** Printed and handed to the stage's timing table; never asserted. */
export function record(what: string, ms: number, note = ''): void {
  process.stdout.write(`# measured: ${what}: ${(ms / 1000).toFixed(2)} s ${note}\n`);
  const file = process.env.CM_REAL_TIMINGS_FILE;
  if (file) appendFileSync(file, `${JSON.stringify({ what, ms, note })}\n`);
}

export async function eventually<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 60_000, intervalMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}${lastError ? `; last error: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export async function nsExec(ns: string, ...argv: string[]): Promise<string> {
  return (await run('ip', ['netns', 'exec', ns, ...argv], { timeoutMs: 30_000 })).stdout;
}

export async function tcClasses(host: RealHost, dev: string): Promise<TcClass[]> {
  const json = await nsExec(HOST_NETNS[host], 'tc', '-j', 'class', 'show', 'dev', dev);
  return parseTcClassJson(json) ?? parseTcClassText(await nsExec(HOST_NETNS[host], 'tc', 'class', 'show', 'dev', dev));
}

/**
 * Whether this kernel can police at all: ovs-vswitchd installs ingress policing as a
 * matchall (or basic) filter with act_police. Probed in a namespace of our own.
 */
export async function kernelHasTcPolice(): Promise<boolean> {
  const ns = `cmreal-probe-${String(process.pid)}`;
  await run('ip', ['netns', 'add', ns]);
  try {
    await nsExec(ns, 'ip', 'link', 'add', 'p0', 'type', 'veth', 'peer', 'name', 'p1');
    await nsExec(ns, 'tc', 'qdisc', 'add', 'dev', 'p0', 'ingress');
    for (const classifier of [['matchall'], ['protocol', 'all', 'basic']]) {
      try {
        await nsExec(ns, 'tc', 'filter', 'add', 'dev', 'p0', 'parent', 'ffff:', ...classifier, 'action', 'police', 'rate', '1mbit', 'burst', '10k', 'drop');
        return true;
      } catch {
        // the next classifier, in ovs-vswitchd's order
      }
    }
    return false;
  } finally {
    await run('ip', ['netns', 'del', ns]);
  }
}

export interface HostSwitch {
  client: OvsdbClient;
  replica: Replica;
  vswitch: Vswitch;
}

/** A read-only observer of each host's real OVSDB. */
export async function openHostSwitches(): Promise<Map<RealHost, HostSwitch>> {
  const out = new Map<RealHost, HostSwitch>();
  for (const host of HOSTS) {
    const client = await OvsdbClient.connect({ endpoint: OVSDB_ENDPOINTS[host] });
    const replica = new Replica(client, { db: 'Open_vSwitch', tables: vswitchReplicaTables() });
    await replica.start();
    out.set(host, { client, replica, vswitch: new Vswitch(client, { owner: 'cm-real-observer', replica }) });
  }
  return out;
}

export function closeHostSwitches(switches: Map<RealHost, HostSwitch>): void {
  for (const s of switches.values()) {
    s.replica.stop();
    s.client.close();
  }
}

export async function freshView(switches: Map<RealHost, HostSwitch>, host: RealHost): Promise<VswitchView> {
  const s = switches.get(host);
  if (!s) throw new Error(`no switch for ${host}`);
  return s.vswitch.view({ fresh: true });
}

/** QoS and Queue rows tagged with this owner on a host. */
export function ownedRows(view: VswitchView, owner: string): { qos: number; queues: number } {
  let qos = 0;
  let queues = 0;
  for (const q of view.qos.values()) if (q.external_ids.get('cm-owner') === owner) qos++;
  for (const q of view.queues.values()) if (q.external_ids.get('cm-owner') === owner) queues++;
  return { qos, queues };
}

/** The guest namespace the fake driver of up.sh creates for a server. */
export const guestNetns = (serverId: string): string => `osrvm-${serverId.slice(0, 8)}`;

export async function netnsExists(ns: string): Promise<boolean> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout.split('\n').some((l) => l.trim().split(/\s+/)[0] === ns);
}

/**
 * Removes what an aborted earlier run left: our stacks (the manager's are `cm-…`) and
 * servers named `cm-real…`; their ports, guests and rows go with them.
 */
export async function removeLeftovers(os: OpenStack): Promise<void> {
  for (const s of await os.heat.listStacks()) {
    if (!s.name.startsWith('cm-') || s.status === 'DELETE_COMPLETE') continue;
    await os.heat.deleteStack(s.name, s.id).catch(ignore404);
    await os.heat.waitForStack(s.name, s.id, { intervalMs: 500, timeoutMs: 120_000 }).catch(ignore404);
  }
  const servers = (await os.nova.listServers({ allTenants: true })).filter((s) => (s.name ?? '').startsWith(PREFIX));
  for (const s of servers) await os.nova.deleteServer(s.id).catch(ignore404);
  for (const s of servers) await waitServerGone(os, s.id);
}

function ignore404(error: unknown): void {
  if (error instanceof OpenStackApiError && error.status === 404) return;
  throw error;
}

export async function waitServerGone(os: OpenStack, id: string, timeoutMs = 60_000): Promise<void> {
  await eventually(`server ${id} deleted`, async () => {
    try {
      await os.nova.getServer(id);
      return false;
    } catch (error) {
      if (error instanceof OpenStackApiError && error.status === 404) return true;
      throw error;
    }
  }, timeoutMs, 250);
}

/** Looks a flavor, image and network up by name (the cloud's own ids differ per bring-up). */
export async function cloudIds(os: OpenStack, names: { flavor: string; network: string }): Promise<{ flavorId: string; networkId: string; imageId: string }> {
  const flavor = (await os.nova.listFlavors()).find((f) => f.name === names.flavor);
  if (!flavor) throw new Error(`flavor ${names.flavor} is not on the cloud (up.sh creates m1.tiny … m1.large)`);
  const network = (await os.neutron.listNetworks({ name: names.network }))[0];
  if (!network) throw new Error(`network ${names.network} is not on the cloud`);
  const image = await imageId(os, 'tiny');
  return { flavorId: flavor.id, networkId: network.id, imageId: image };
}

/** Glance has no client here (the CM never calls it): one GET /v2/images?name=. */
export async function imageId(os: OpenStack, name: string): Promise<string> {
  const url = await os.keystone.endpoint('image');
  const res = await os.http.request({ service: 'image', method: 'GET', url: `${url.replace(/\/+$/, '')}/v2/images`, query: { name }, auth: os.keystone });
  const images = (res.body as { images?: { id: string; name: string }[] }).images ?? [];
  const found = images.find((i) => i.name === name);
  if (!found) throw new Error(`image ${name} is not in Glance`);
  return found.id;
}

/** Boots `cm-real-<name>` pinned to a host and waits until it and its port are ACTIVE. */
export async function bootPinned(os: OpenStack, name: string, host: RealHost, ids: { flavorId: string; networkId: string; imageId: string }): Promise<{ id: string; portId: string; dev: string; ip: string }> {
  const created = await os.nova.createServer({
    name: `${PREFIX}-${name}`,
    imageRef: ids.imageId,
    flavorRef: ids.flavorId,
    availabilityZone: `nova:${host}`,
    networks: [{ uuid: ids.networkId }],
  });
  await os.nova.waitForServer(created.id, ['ACTIVE'], { intervalMs: 250, timeoutMs: 120_000 });
  const port = await eventually(`the port of ${created.id} ACTIVE`, async () => {
    const ports = await os.neutron.listPorts({ deviceId: created.id });
    return ports.length === 1 && ports[0]?.status === 'ACTIVE' ? ports[0] : undefined;
  });
  const ip = port.fixedIps[0]?.ipAddress;
  if (ip === undefined) throw new Error(`port ${port.id} has no fixed IP`);
  return { id: created.id, portId: port.id, dev: `tap${port.id}`.slice(0, 14), ip };
}

/** The agent as the stage runs it: in-process, real cloud, the hosts' real OVSDBs. */
export async function startRealAgent(token: string, owner: string): Promise<RunningAgent> {
  const config = parseAgentConfig(
    [
      'listen: { host: 127.0.0.1, port: 0 }',
      `auth: { tokens: [${token}] }`,
      'store: { path: ":memory:" }',
      `ovsdb: { endpoints: { compute1: "${OVSDB_ENDPOINTS.compute1}", compute2: "${OVSDB_ENDPOINTS.compute2}" } }`,
      'inventory: { refresh_interval_ms: 2000 }',
      `owner: ${owner}`,
    ].join('\n'),
    {},
  );
  return startAgent(config, { cloud: realCloud(), log: false });
}

/** The manager as the stage runs it: in-process, real cloud, in-memory store, the given agent and API tokens. */
export async function startRealManager(agent: { url: string; token: string }, tokens: { static: string; keystone?: boolean }): Promise<RunningManager> {
  const config = parseManagerConfig(
    [
      'listen: { host: 127.0.0.1, port: 0 }',
      `auth: { tokens: [${tokens.static}]${tokens.keystone === true ? ', keystone: true' : ''} }`,
      `agent: { url: "${agent.url}", token: ${agent.token} }`,
      'store: { url: "sqlite::memory:" }',
      'placement: { uplink: 10gbit }',
      'deploy: { enforce_timeout_s: 120, stack_timeout_s: 300 }',
    ].join('\n'),
    {},
  );
  return startManager(config, { cloud: realCloud(), log: false, pollMs: 250, claimIntervalMs: 500 });
}

/** One JSON call to a service with a bearer token; the body parsed (undefined when empty). */
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the body type it expects
export async function callJson<T>(url: string, token: string, method: string, body?: unknown): Promise<{ status: number; json: T }> {
  const response = await fetch(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  return { status: response.status, json: (text ? JSON.parse(text) : undefined) as T };
}

/** Lifts the Nova quota of the credentials' project (instances, cores, RAM unlimited); the returned function restores it. */
export async function liftQuota(os: OpenStack): Promise<() => Promise<void>> {
  const projectId = (await os.keystone.tokenInfo()).projectId ?? '';
  const quotaSet = async (method: 'GET' | 'PUT', body?: unknown): Promise<Record<string, number>> => {
    const res = await os.http.request({
      service: 'compute',
      method,
      url: joinUrl(await os.keystone.endpoint('compute'), `/os-quota-sets/${projectId}`),
      auth: os.keystone,
      ...(body === undefined ? {} : { body }),
    });
    return (res.body as { quota_set: Record<string, number> }).quota_set;
  };
  const q = await quotaSet('GET');
  const before = { instances: q.instances ?? 10, cores: q.cores ?? 20, ram: q.ram ?? 51200 };
  await quotaSet('PUT', { quota_set: { instances: -1, cores: -1, ram: -1 } });
  return async () => {
    await quotaSet('PUT', { quota_set: before });
  };
}
