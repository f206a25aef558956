/** Shared set-up for the agent tests: a simulated cloud, clients with a call counter, OVSDB views per host. */
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
