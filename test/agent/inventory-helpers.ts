/** Shared set-up for the agent tests: a simulated cloud, clients with a call counter, OVSDB views per host, and the cloud changes the inventory tests make. */
import { createOpenStack, type OpenStack, type RequestLogEntry } from '../../src/openstack/index.ts';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { Replica } from '../../src/ovsdb/replica.ts';
import { Vswitch, vswitchReplicaTables, type VswitchView } from '../../src/ovsdb/vswitch/index.ts';
import type { SimCloud } from '../../src/sim/index.ts';

export interface CountingOpenStack {
  os: OpenStack;
  log: RequestLogEntry[];
}

export function connect(sim: SimCloud, opts: { microversion?: string; user?: { username: string; password: string; projectName: string } } = {}): CountingOpenStack {
  const c = sim.credentials;
  const log: RequestLogEntry[] = [];
  const os = createOpenStack(
    {
      cloudName: 'sim',
      authType: 'password',
      auth: {
        authUrl: sim.authUrl,
        username: opts.user?.username ?? c.username,
        password: opts.user?.password ?? c.password,
        projectName: opts.user?.projectName ?? c.projectName,
        userDomainName: c.userDomainName,
        projectDomainName: c.projectDomainName,
      },
      regionName: c.regionName,
      interface: 'public',
      insecure: false,
      source: 'test',
    },
    {
      http: { retry: { baseDelayMs: 5, maxRetries: 1 }, logger: (e) => log.push(e) },
      ...(opts.microversion === undefined ? {} : { nova: { microversion: opts.microversion } }),
    },
  );
  return { os, log };
}

export interface HostSwitch {
  client: OvsdbClient;
  replica: Replica;
  vswitch: Vswitch;
}

/** One replica-backed Vswitch per simulated host. */
export async function openSwitches(sim: SimCloud, owner: string): Promise<Map<string, HostSwitch>> {
  const out = new Map<string, HostSwitch>();
  for (const host of sim.state.hosts.keys()) {
    const client = await OvsdbClient.connect({ endpoint: sim.ovsdbEndpoint(host) });
    const replica = new Replica(client, { db: 'Open_vSwitch', tables: vswitchReplicaTables() });
    await replica.start();
    out.set(host, { client, replica, vswitch: new Vswitch(client, { owner, replica }) });
  }
  return out;
}

export function closeSwitches(switches: Map<string, HostSwitch>): void {
  for (const s of switches.values()) {
    s.replica.stop();
    s.client.close();
  }
}

/** Views of every host, waiting (bounded) until each expected Neutron port id is visible on its host's replica. */
export async function views(switches: Map<string, HostSwitch>, expect: { host: string; portId: string }[] = []): Promise<Map<string, VswitchView>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const out = new Map<string, VswitchView>();
    for (const [host, s] of switches) out.set(host, await s.vswitch.view());
    const missing = expect.filter((e) => out.get(e.host)?.findByIfaceId(e.portId) === undefined);
    if (missing.length === 0 || Date.now() > deadline) return out;
    await new Promise((r) => setTimeout(r, 20));
  }
}

// ---- Driving a simulated cloud for the inventory's incremental tests ------------------

/** Waits until the wall clock enters a new second: Nova and Neutron keep whole seconds. */
export async function nextSecond(): Promise<void> {
  await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
}

export async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Boots a server on `host` through Nova and waits until it and its ports are ACTIVE. */
export async function bootOn(os: OpenStack, sim: SimCloud, name: string, host: string, network = 'bulk'): Promise<string> {
  const net = (await os.neutron.listNetworks({ name: network }))[0];
  if (!net) throw new Error(`no network ${network}`);
  const created = await os.nova.createServer({ name, imageRef: '', flavorRef: '1', availabilityZone: `nova:${host}`, networks: [{ uuid: net.id }] });
  await until(`${name} ACTIVE with its ports ACTIVE`, () => {
    const s = sim.state.servers.get(created.id);
    return s?.status === 'ACTIVE' && s.portIds.every((p) => sim.state.ports.get(p)?.status === 'ACTIVE');
  });
  return created.id;
}

/** Deletes a server through Nova and waits until it is gone. */
export async function removeServer(os: OpenStack, sim: SimCloud, id: string): Promise<void> {
  await os.nova.deleteServer(id);
  await until(`${id} gone`, () => !sim.state.servers.has(id));
}

/** os-migrateLive to `host` through Nova, waiting until the server is ACTIVE there. */
export async function liveMigrate(os: OpenStack, sim: SimCloud, id: string, host: string): Promise<void> {
  await os.http.request({
    service: 'compute',
    method: 'POST',
    url: `${await os.keystone.endpoint('compute')}/servers/${id}/action`,
    auth: os.keystone,
    microversion: { service: 'compute', version: '2.30' },
    body: { 'os-migrateLive': { host, block_migration: 'auto' } },
    okStatus: [202],
  });
  await until(`${id} on ${host}`, () => sim.state.servers.get(id)?.host === host && sim.state.servers.get(id)?.status === 'ACTIVE');
}

/** A server on `host` (the first found). */
export function serverOn(sim: SimCloud, host: string): string {
  for (const s of sim.state.servers.values()) if (s.host === host) return s.id;
  throw new Error(`no server on ${host}`);
}
