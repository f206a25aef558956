/**
 * The composition every measurement scenario runs on: the testbed's real
 * ovs-vswitchd per compute host, the simulated cloud using it as its
 * hypervisor (so Nova boots make VM namespaces), and the real CM Agent
 * setting SLAs on it. Servers are booted through the Nova API, SLAs set
 * through the agent's thesis API (POST /qoses), and an SLA counts as applied
 * only once its HTB classes are in the kernel.
 */
import { randomBytes } from 'node:crypto';
import { parseAgentConfig } from '../../agent/config.ts';
import { simAgentOptions, startAgent, type RunningAgent } from '../../agent/main.ts';
import { findBinary } from '../../ovsdb/local-server.ts';
import { createOpenStack, type OpenStack } from '../../openstack/index.ts';
import { loadScenario, ovsPortName, startSimCloud, type ScenarioObject, type SimCloud } from '../../sim/index.ts';
import type { SlaRequestBody } from '../../qos/sla.ts';
import { TestbedError } from '../errors.ts';
import { checkTestbedPrerequisites, startTestbedHosts, type TestbedHosts } from '../hosts.ts';

/** Throws (TestbedError) unless the testbed and iperf3 can run here. */
export function checkScenarioPrerequisites(): void {
  checkTestbedPrerequisites();
  if (findBinary('iperf3') === undefined) {
    throw new TestbedError('CM_ERR_TESTBED_MISSING_BINARY', 'the scenarios need iperf3 (Debian package iperf3: apt-get install iperf3)');
  }
}

export interface BootedServer {
  id: string;
  name: string;
  host: string;
  ip: string;
  portId: string;
  /** The qvo… device on the host: where HTB shapes what the VM receives. */
  device: string;
  netns: string;
  /** Every NIC of the server, in its ports' order (the first is the one above); set by `boot(…, { nics })`. */
  nics?: BootedNic[];
}

/** One NIC of a booted server. */
export interface BootedNic {
  portId: string;
  ip: string;
  /** The host-side device (qvo…). */
  device: string;
  /** The device in the VM's namespace (eth0, eth1, …). */
  vmDevice: string;
}

/** Options of `ScenarioEnv.boot`. */
export interface BootOptions {
  /** Ports to give the server, all on the cloud's first network. @default 1 */
  nics?: number;
}

export interface ScenarioEnv {
  readonly testbed: TestbedHosts;
  readonly sim: SimCloud;
  readonly os: OpenStack;
  readonly agent: RunningAgent;
  /** The agent's bearer token (for a manager or a client started beside it). */
  readonly agentToken: string;
  /** Boots one m1.mini server; `host` forces it there (the thesis's `nova:<host>` zone), else Nova's scheduler picks. */
  boot(name: string, host?: string, options?: BootOptions): Promise<BootedServer>;
  deleteAll(): Promise<void>;
  /** Sets download min/max (bit/s) through the agent and waits until HTB enforces exactly that on the port. */
  setDownloadSla(server: BootedServer, minBps: number, maxBps: number): Promise<void>;
  /**
   * Sets an upload cap (bit/s) through the agent's /v1 API and waits until the
   * agent reports it applied; returns how the host enforces it and why.
   */
  setUploadSla(server: BootedServer, maxBps: number): Promise<{ mechanism: string; reason: string }>;
  /**
   * Puts a server's SLA (the agent's /v1 body) and waits until the agent
   * reports it applied, and HTB enforces its download cap when it has one.
   */
  setSla(server: BootedServer, body: SlaRequestBody): Promise<void>;
  /** Calls the agent's API with its token. */
  agentApi(method: string, path: string, body?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

export interface ScenarioEnvOptions {
  scenario?: ScenarioObject;
  nicRateBps?: number;
  prefix?: string;
  /** Tells the agent every host's uplink capacity (its guarantee controller's `enforcement.guarantees.uplink`). */
  uplinkBps?: number;
}

/** The sim's thesis cloud (compute1: 8 vCPU/12 GB, compute2: 4 vCPU/8 GB). */
export function thesisCloud(): ScenarioObject {
  return structuredClone(loadScenario());
}

async function eventually(what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new TestbedError('CM_ERR_TESTBED_SETUP', `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const UNIT: Record<string, number> = { bit: 1, kbit: 1e3, mbit: 1e6, gbit: 1e9 };

function tcRate(text: string): number {
  const m = /^([\d.]+)([kmg]?bit)$/i.exec(text);
  return m ? Math.round(Number(m[1]) * (UNIT[(m[2] ?? 'bit').toLowerCase()] ?? 1)) : Number.NaN;
}

/** HTB classes of a device, bit/s. Parsed from text: this iproute2 prints no JSON for htb classes. */
export async function htbRates(testbed: TestbedHosts, host: string, dev: string): Promise<Map<string, { rate: number; ceil: number }>> {
  const out = await testbed.exec({ host }, 'tc', 'class', 'show', 'dev', dev);
  const map = new Map<string, { rate: number; ceil: number }>();
  for (const line of out.split('\n')) {
    const m = /^class htb (\S+) .*?\brate (\S+) ceil (\S+)/.exec(line);
    if (m?.[1] !== undefined) map.set(m[1], { rate: tcRate(m[2] ?? ''), ceil: tcRate(m[3] ?? '') });
  }
  return map;
}

export async function startScenarioEnv(options: ScenarioEnvOptions = {}): Promise<ScenarioEnv> {
  checkScenarioPrerequisites();
  const scenario = options.scenario ?? thesisCloud();
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    const errors: unknown[] = [];
    for (let stop = stops.pop(); stop; stop = stops.pop()) {
      try {
        await stop();
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new AggregateError(errors, `scenario teardown: ${errors.map((e) => (e as Error).message).join('; ')}`);
  };
  try {
    // The testbed asks for subnet prefixes while plugging, by which time the sim exists.
    const ref: { sim?: SimCloud } = {};
    const testbed = await startTestbedHosts({
      hosts: scenario.hosts.map((h) => h.name),
      ...(options.prefix === undefined ? {} : { prefix: options.prefix }),
      ...(options.nicRateBps === undefined ? {} : { nicRateBps: options.nicRateBps }),
      subnetPrefixLength: (subnetId) => {
        const net = ref.sim ? [...ref.sim.state.networks.values()].find((n) => n.subnetId === subnetId) : undefined;
        return net ? Number(net.cidr.split('/')[1]) : undefined;
      },
    });
    stops.push(() => testbed.close());
    const cloud = await startSimCloud({ scenario, hypervisor: testbed, bootDelayMs: 10 });
    ref.sim = cloud;
    stops.push(() => cloud.close());
    const agentOptions = simAgentOptions(cloud, { log: process.env.CM_TEST_AGENT_LOG === '1' });
    if (agentOptions.cloud === undefined) throw new TestbedError('CM_ERR_TESTBED_SETUP', 'no cloud configuration for the simulated cloud');
    const os = createOpenStack(agentOptions.cloud);
    stops.push(() => os.close());
    const token = randomBytes(16).toString('hex');
    const config = parseAgentConfig(
      `listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${token}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: cm-testbed-scenario` +
        (options.uplinkBps === undefined ? '' : `\nenforcement: { guarantees: { uplink: ${String(options.uplinkBps)} } }`),
      {},
    );
    const agent = await startAgent(config, agentOptions);
    stops.push(() => agent.stop());

    const flavor = (await os.nova.listFlavors()).find((f) => f.name === 'm1.mini') ?? (await os.nova.listFlavors())[0];
    const network = (await os.neutron.listNetworks())[0];
    if (!flavor || !network) throw new TestbedError('CM_ERR_TESTBED_SETUP', 'the simulated cloud has no flavor or network');
    const booted = new Map<string, BootedServer>();

    const agentApi = async (method: string, path: string, body?: unknown): Promise<unknown> => {
      const response = await fetch(`${agent.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      if (!response.ok) throw new TestbedError('CM_ERR_TESTBED_SETUP', `agent ${method} ${path}: HTTP ${String(response.status)} ${text}`);
      return text ? (JSON.parse(text) as unknown) : undefined;
    };

    return {
      testbed,
      sim: cloud,
      os,
      agent,
      agentToken: token,
      async boot(name, host, bootOptions = {}) {
        const nics = bootOptions.nics ?? 1;
        const created = await os.nova.createServer({
          name,
          imageRef: '',
          flavorRef: flavor.id,
          networks: Array.from({ length: nics }, () => ({ uuid: network.id })),
          ...(host === undefined ? {} : { availabilityZone: `nova:${host}` }),
        });
        const active = await os.nova.waitForServer(created.id, ['ACTIVE'], { intervalMs: 20, timeoutMs: 30_000 });
        const simServer = cloud.state.servers.get(active.id);
        const port = simServer ? cloud.state.ports.get(simServer.portIds[0] ?? '') : undefined;
        const vm = testbed.vm(active.id);
        if (!simServer?.host || !port || !vm) throw new TestbedError('CM_ERR_TESTBED_SETUP', `server ${name} booted without a host, port or VM namespace`);
        const server: BootedServer = {
          id: active.id,
          name,
          host: simServer.host,
          ip: port.fixedIps[0]?.ip_address ?? '',
          portId: port.id,
          device: ovsPortName(port.id),
          netns: vm.netns,
        };
        if (bootOptions.nics !== undefined) {
          server.nics = simServer.portIds.map((portId): BootedNic => {
            const p = cloud.state.ports.get(portId);
            const vmDevice = vm.nics.get(portId)?.vmDevice;
            if (!p || vmDevice === undefined) throw new TestbedError('CM_ERR_TESTBED_SETUP', `server ${name}: port ${portId} is not plugged`);
            return { portId, ip: p.fixedIps[0]?.ip_address ?? '', device: ovsPortName(portId), vmDevice };
          });
        }
        booted.set(server.id, server);
        return server;
      },
      async deleteAll() {
        for (const server of booted.values()) await os.nova.deleteServer(server.id);
        await eventually('the servers to be deleted', () => Promise.resolve([...booted.keys()].every((id) => !cloud.state.servers.has(id) && testbed.vm(id) === undefined)));
        booted.clear();
      },
      async setDownloadSla(server, minBps, maxBps) {
        await agent.inventory.refresh();
        await agentApi('POST', '/qoses', { [server.host]: { [server.id]: { qos: { 'min-rate': String(minBps), 'max-rate': String(maxBps) } } } });
        // ovs-vswitchd (not the agent) writes the classes; the rates must be in the kernel before traffic starts.
        await eventually(`HTB ${String(minBps)}/${String(maxBps)} on ${server.device}`, async () => {
          const classes = await htbRates(testbed, server.host, server.device);
          const root = classes.get('1:fffe');
          const queue = classes.get('1:1');
          return root?.rate === maxBps && queue?.rate === minBps && queue.ceil === maxBps;
        });
      },
      async setSla(server, body) {
        await agent.inventory.refresh();
        await agentApi('PUT', `/v1/servers/${server.id}/sla`, body);
        await eventually(`the SLA of ${server.name} applied`, async () => {
          const status = (await agentApi('GET', `/v1/sla?server_id=${server.id}`)) as { items: { state: string }[] };
          return status.items[0]?.state === 'applied';
        });
        const max = body.download?.max;
        if (max !== undefined) {
          await eventually(`HTB cap ${String(max)} on ${server.device}`, async () => (await htbRates(testbed, server.host, server.device)).get('1:fffe')?.rate === max);
        }
      },
      async setUploadSla(server, maxBps) {
        await agent.inventory.refresh();
        await agentApi('PUT', `/v1/servers/${server.id}/sla`, { upload: { max: maxBps } });
        let found: { mechanism: string; reason: string } | undefined;
        await eventually(`upload cap ${String(maxBps)} applied on ${server.device}`, async () => {
          const status = (await agentApi('GET', `/v1/sla?server_id=${server.id}`)) as {
            items: { state: string; ports: { upload_mechanism: string | null; upload_reason: string | null }[] }[];
          };
          const item = status.items[0];
          const port = item?.ports[0];
          if (item?.state !== 'applied' || !port?.upload_mechanism) return false;
          // The status may still be the previous SLA's: the switch must show this cap.
          const hosts = (await agentApi('GET', '/v1/hosts')) as { hosts: { servers: { id: string; ports: { ovs: { upload: { rate_kbps: number } | null } | null }[] }[] }[] };
          const enforced = hosts.hosts.flatMap((h) => h.servers).find((x) => x.id === server.id)?.ports[0]?.ovs?.upload;
          if (enforced?.rate_kbps !== Math.ceil(maxBps / 1000)) return false;
          found = { mechanism: port.upload_mechanism, reason: port.upload_reason ?? '' };
          return true;
        });
        if (!found) throw new TestbedError('CM_ERR_TESTBED_SETUP', 'no upload mechanism reported');
        return found;
      },
      agentApi,
      close: stopAll,
    };
  } catch (error) {
    await stopAll().catch(() => undefined);
    throw error;
  }
}
