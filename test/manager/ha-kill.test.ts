/**
 * Issue 14: two managers and two agents, one of each SIGKILLed during a
 * deployment, and the topology still reaches ACTIVE with every SLA applied.
 *
 * Everything runs as real processes (bin/cm-manager.mjs, bin/cm-agent.mjs)
 * over one throwaway PostgreSQL cluster: one database for the managers'
 * store (topology leases), one for the agents' (SLAs, membership, host
 * statuses). The simulated cloud has four hosts with real ovsdb-servers and
 * boots slowly, so Heat is still building the stack when:
 *  - the manager holding the topology's lease (it created the stack) and
 *  - the agent replica that is BOTH managers' first agent URL and owns some of
 *    the topology's hosts
 * are SIGKILLed together. The other manager must claim the topology after
 * the lease, follow the same stack, fail over to the other agent replica,
 * which must have taken over the dead one's hosts; every server's SLA must
 * then be on its host's switch (QoS max-rate and queue min-rate on its port)
 * and `applied` in the surviving agent's GET /v1/sla.
 *
 * Also here, with no gate: the agent client's failover between agent URLs.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EPOCH_KEY } from '../../src/agent/cluster/fence.ts';
import { AgentClient, AgentClientError } from '../../src/manager/agent-client.ts';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { select } from '../../src/ovsdb/operations.ts';
import { ovsPortName, startSimCloud, type ScenarioObject, type SimCloud } from '../../src/sim/index.ts';
import { openrcEnv } from '../../src/sim/openrc.ts';
import { openManagerStore, type ManagerStore } from '../../src/store/index.ts';
import { freePort } from '../harness/net.ts';
import { callApi, spawnService, type ServiceProcess } from '../harness/service-process.ts';
import { makeTempDir, realOvsAvailable, removeTempDir, terminate } from '../harness/ovsdb-server.ts';
import { postgresAvailable, startPostgres, type PostgresHandle } from '../harness/postgres.ts';
import { DB, maxRateOf, qosOfPort, readTables, type Tables } from '../agent/reconciler-helpers.ts';

const real = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl']);
const pgGate = postgresAvailable();
const skip = real.skip !== false ? real.skip : pgGate.skip;

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'src/topology/fixtures/thesis');
const AGENT_TOKEN = 'ha-kill-agent-token-0123456789';
const MANAGER_TOKEN = 'ha-kill-manager-token-0123456789';
const OWNER = 'cm-agent-ha-kill';
const HOSTS = ['compute1', 'compute2', 'compute3', 'compute4'];
// Rendezvous hashing gives these ids two hosts each: ha-agent-1 compute3, compute4; ha-agent-2 compute1, compute2.
const AGENT_IDS = ['ha-agent-1', 'ha-agent-2'] as const;
const AGENT_LEASE_MS = 3000;
const AGENT_HEARTBEAT_MS = 500;
const MANAGER_LEASE_MS = 3000;
/** Heat creates the servers one after another, each taking this long: the stack is in progress for ~7 s. */
const BOOT_DELAY_MS = 1500;
const GBIT = 1_000_000_000;
// The thesis's classes: Gold (MediaServer) 100 Mbit/s–10 Gbit/s, Wholesale (the rest) 100 Mbit/s–1 Gbit/s.
const EXPECTED: Record<string, { min: string; max: string }> = {
  Gold: { min: String(GBIT / 10), max: String(10 * GBIT) },
  Wholesale: { min: String(GBIT / 10), max: String(GBIT) },
};

// Hosts of 2 vCPU: the thesis topology (5 × m1.mini, 1 vCPU) is split over three of them, so it spans both agents' hosts.
const scenario: ScenarioObject = {
  region: 'RegionOne',
  hosts: HOSTS.map((name) => ({ name, az: 'nova', vcpus: 2, memory_mb: 4096, disk_gb: 100, cpu_allocation_ratio: 1, ram_allocation_ratio: 1, disk_allocation_ratio: 1 })),
  flavors: [{ id: '1', name: 'm1.mini', vcpus: 1, ram: 512, disk: 1 }],
  projects: [{ name: 'admin', quotas: { instances: -1, cores: -1, ram: -1 }, users: [{ name: 'admin', password: 'ha-kill-pass', roles: ['admin'] }] }],
  networks: [{ name: 'private', cidr: '10.0.0.0/24', shared: true }],
};

type Proc = ServiceProcess;

interface TopologyView {
  id: string;
  state: string;
  placement: { feasible: boolean; hosts: string[]; assignments: Record<string, string | null> } | null;
  units: { name: string; sla_class: string; planned_host: string | null; host: string | null; server_id: string | null; sla_state: string | null }[];
  stack: { name: string; id: string | null };
  error: unknown;
  events: { state: string; message: string; at?: string }[];
}

/** Polls until `check` returns a value (not undefined); errors of `check` count as "not yet". */
async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number, context: () => string = () => ''): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}${last === undefined ? '' : ` (last error: ${(last as Error).message})`}\n${context()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The hosts an agent replica says it owns, from its metrics. */
async function ownedBy(agent: Proc): Promise<string[]> {
  const { text } = await callApi(agent.url, AGENT_TOKEN, 'GET', '/metrics');
  return [...text.matchAll(/^cm_agent_host_owned\{host="([^"]+)",agent_id="([^"]+)"\} 1$/gm)].map((m) => m[1] ?? '').sort();
}

/** Download max-rate and queue 0's min-rate on a port, as its host's OVSDB holds them. */
function ratesOnPort(t: Tables, ovsPort: string): { min: string | undefined; max: string | undefined } {
  const qos = qosOfPort(t, ovsPort);
  const q0 = (qos?.queues as ReadonlyMap<number, string> | undefined)?.get(0);
  const queue = q0 === undefined ? undefined : t.queues.find((q) => q._uuid === q0);
  return { max: maxRateOf(qos), min: (queue?.other_config as ReadonlyMap<string, string> | undefined)?.get('min-rate') };
}

describe('two managers and two agents, one of each SIGKILLed mid-deployment (PostgreSQL, real ovsdb-servers)', { skip }, () => {
  let pg: PostgresHandle | undefined;
  let sim: SimCloud | undefined;
  let managerStore: ManagerStore | undefined;
  let dir = '';
  const procs: Proc[] = [];
  const switches = new Map<string, OvsdbClient>();

  before(async () => {
    dir = await makeTempDir('cm-ha-kill-');
    pg = await startPostgres();
    sim = await startSimCloud({ scenario, ovsdb: 'real', bootDelayMs: BOOT_DELAY_MS });
    for (const h of HOSTS) switches.set(h, await OvsdbClient.connect({ endpoint: sim.ovsdbEndpoint(h) }));
  });

  after(async () => {
    for (const p of procs) await terminate(p.child);
    for (const c of switches.values()) c.close();
    await managerStore?.close();
    await sim?.close();
    await pg?.stop();
    if (dir) await removeTempDir(dir);
  });

  it('the topology reaches ACTIVE through the surviving manager, every SLA applied by the surviving agent', { timeout: 120_000 }, async () => {
    const cloud = sim!;
    const env = openrcEnv(cloud);
    const agentDb = await pg!.createDatabase();
    const managerDb = await pg!.createDatabase();
    // Each process's latest log lines, without the HTTP access log (the polling would drown the rest).
    const everything = (): string =>
      procs
        .map((p) => {
          const lines = p.output().split('\n').filter((l) => !/"msg":"(incoming request|request completed)"/.test(l));
          return `---- ${p.name} (exit ${String(p.child.exitCode ?? p.child.signalCode)})\n${lines.join('\n').slice(-4000)}`;
        })
        .join('\n');

    // ---- two agent replicas sharing the agents' database
    const endpoints = HOSTS.map((h) => `    ${h}: "${cloud.ovsdbEndpoint(h)}"`).join('\n');
    const agents: Proc[] = [];
    for (const id of AGENT_IDS) {
      const port = await freePort();
      const url = `http://127.0.0.1:${String(port)}`;
      const configFile = path.join(dir, `${id}.yaml`);
      await writeFile(
        configFile,
        [
          `listen: { host: 127.0.0.1, port: ${String(port)} }`,
          `auth: { tokens: [${AGENT_TOKEN}] }`,
          `owner: ${OWNER}`,
          `store: { url: "${agentDb}" }`,
          `cluster: { agent_id: ${id}, lease_ms: ${String(AGENT_LEASE_MS)}, heartbeat_ms: ${String(AGENT_HEARTBEAT_MS)} }`,
          'inventory: { refresh_interval_ms: 1000 }',
          'reconcile: { resync_interval_ms: 2000 }',
          `ovsdb:\n  endpoints:\n${endpoints}`,
          '',
        ].join('\n'),
      );
      const agent = spawnService(id, 'cm-agent.mjs', url, configFile, env);
      procs.push(agent);
      agents.push(agent);
    }
    for (const agent of agents) {
      await until(`${agent.name} answering /healthz`, async () => {
        if (agent.child.exitCode !== null) throw new Error(`${agent.name} exited with ${String(agent.child.exitCode)}`);
        return (await fetch(`${agent.url}/healthz`)).ok ? true : undefined;
      }, 30_000, everything);
    }
    const ownership = await until(
      'the agents owning a disjoint, complete share of the hosts',
      async () => {
        const owned = await Promise.all(agents.map(ownedBy));
        const all = owned.flat().sort();
        return owned.every((o) => o.length > 0) && all.join() === [...HOSTS].sort().join() ? owned : undefined;
      },
      20_000,
      everything,
    );
    const [victimAgent, survivorAgent] = agents as [Proc, Proc];
    const victimHosts = ownership[0] ?? [];
    console.log(`hosts of ${victimAgent.name}: ${victimHosts.join(', ')}; of ${survivorAgent.name}: ${(ownership[1] ?? []).join(', ')}`);

    // ---- two managers sharing the managers' database; both try the victim agent first
    const managers: Proc[] = [];
    for (const name of ['manager-1', 'manager-2']) {
      const port = await freePort();
      const url = `http://127.0.0.1:${String(port)}`;
      const configFile = path.join(dir, `${name}.yaml`);
      await writeFile(
        configFile,
        [
          `listen: { host: 127.0.0.1, port: ${String(port)} }`,
          `auth: { tokens: [${MANAGER_TOKEN}] }`,
          `agent: { url: ["${victimAgent.url}", "${survivorAgent.url}"], token: ${AGENT_TOKEN} }`,
          `store: { url: "${managerDb}" }`,
          `deploy: { lease_ms: ${String(MANAGER_LEASE_MS)}, enforce_timeout_s: 60, stack_timeout_s: 90 }`,
          '',
        ].join('\n'),
      );
      const manager = spawnService(name, 'cm-manager.mjs', url, configFile, env);
      procs.push(manager);
      managers.push(manager);
    }
    for (const manager of managers) {
      await until(`${manager.name} answering /healthz`, async () => {
        if (manager.child.exitCode !== null) throw new Error(`${manager.name} exited with ${String(manager.child.exitCode)}`);
        return (await fetch(`${manager.url}/healthz`)).ok ? true : undefined;
      }, 30_000, everything);
    }
    managerStore = await openManagerStore({ url: managerDb, poolSize: 2 });
    const store = managerStore;

    // ---- the thesis topology, submitted to manager-1
    const read = (f: string): string => readFileSync(path.join(FIXTURES, f), 'utf8');
    const submitted = await callApi(managers[0]!.url, MANAGER_TOKEN, 'POST', '/v1/topologies', {
      topology: read('topology.json'),
      topology_file: 'topology.json',
      services: ['ControllerService.json', 'BrokerService.json', 'MediaService.json'].map(read),
    });
    assert.equal(submitted.status, 202, submitted.text);
    const id = (submitted.json as TopologyView).id;

    // ---- Heat is building the stack: whoever holds the lease created it
    const inFlight = await until(
      'DEPLOYING with a stack Heat is still building, under a manager lease',
      async () => {
        const t = await store.getTopology(id);
        if (t?.state !== 'DEPLOYING' || t.stackId === null || t.lease === null) return undefined;
        return cloud.state.stacks.get(t.stackId)?.status === 'CREATE_IN_PROGRESS' ? t : undefined;
      },
      30_000,
      everything,
    );
    const holder = managers.find((m) => m.child.pid !== undefined && inFlight.lease?.owner.includes(`:${String(m.child.pid)}:`));
    assert.ok(holder, `the lease owner ${String(inFlight.lease?.owner)} is one of our managers (pids ${managers.map((m) => String(m.child.pid)).join(', ')})`);
    const survivorManager = managers.find((m) => m !== holder)!;
    const planned = (inFlight.plan as { placement: { hosts: string[]; assignments: Record<string, string> } }).placement;
    const topologyHosts = [...planned.hosts].sort();
    console.log(`lease held by ${holder.name}; stack ${inFlight.stackName} pinned to ${topologyHosts.join(', ')}`);
    assert.ok(topologyHosts.some((h) => victimHosts.includes(h)), `the killed agent owns some of the topology's hosts (${topologyHosts.join(', ')} vs ${victimHosts.join(', ')})`);
    assert.ok(topologyHosts.some((h) => !victimHosts.includes(h)), 'the topology spans both agents\' hosts');

    // ---- SIGKILL the manager driving it and the agent replica both managers call first
    holder.child.kill('SIGKILL');
    victimAgent.child.kill('SIGKILL');
    const killedAt = Date.now();
    await Promise.all([holder, victimAgent].map((p) => (p.child.exitCode !== null || p.child.signalCode !== null ? Promise.resolve() : new Promise((r) => p.child.once('exit', r)))));
    assert.equal(cloud.state.stacks.get(inFlight.stackId ?? '')?.status, 'CREATE_IN_PROGRESS', 'killed while Heat was still building the stack');

    // ---- both outcomes timed from the kill: ACTIVE in the API, and every SLA on the switches
    const [active, switchesAt] = await Promise.all([
      until(
        `topology ${id} ACTIVE through ${survivorManager.name}`,
        async () => {
          const r = await callApi(survivorManager.url, MANAGER_TOKEN, 'GET', `/v1/topologies/${id}`);
          const v = r.json as TopologyView;
          if (v.state === 'FAILED') throw new Error(`FAILED: ${JSON.stringify(v.error)}`);
          return v.state === 'ACTIVE' ? { view: v, at: Date.now() } : undefined;
        },
        60_000,
        everything,
      ),
      until(
        'every unit\'s SLA on its host\'s switch',
        async () => {
          const t = await store.getTopology(id);
          const units = (t?.units ?? []) as { name: string; serverId: string | null; slaClass: string | null }[];
          if (units.length !== 5 || units.some((u) => u.serverId === null)) return undefined;
          for (const u of units) {
            const server = cloud.state.servers.get(u.serverId!);
            if (server?.host === undefined || server.host === null) return undefined;
            const rates = ratesOnPort(await readTables(switches.get(server.host)!), ovsPortName(server.portIds[0]!));
            const want = EXPECTED[u.slaClass ?? 'Wholesale']!;
            if (rates.max !== want.max || rates.min !== want.min) return undefined;
          }
          return Date.now();
        },
        60_000,
        everything,
      ),
    ]);
    const toActiveMs = active.at - killedAt;
    const toSwitchesMs = switchesAt - killedAt;
    console.log(`SIGKILL of ${holder.name} + ${victimAgent.name} → ACTIVE via ${survivorManager.name} in ${String(toActiveMs)} ms; → every SLA on the switches in ${String(toSwitchesMs)} ms (manager lease ${String(MANAGER_LEASE_MS)} ms, agent lease ${String(AGENT_LEASE_MS)} ms)`);

    // ---- the same stack, every server ACTIVE where planned, every SLA applied
    const view = active.view;
    const timeline = view.events.filter((e) => e.at !== undefined && Date.parse(e.at) >= killedAt).map((e) => `${e.state} +${String(Date.parse(e.at!) - killedAt)} ms`);
    console.log(`after the kill: ${timeline.join(', ')}`);
    assert.equal(view.stack.id, inFlight.stackId, 'the surviving manager followed the same stack');
    assert.equal([...cloud.state.stacks.values()].filter((s) => s.name === view.stack.name).length, 1, 'no second stack');
    assert.equal(view.units.length, 5);
    for (const u of view.units) {
      assert.ok(u.server_id !== null, `${u.name} has a server`);
      assert.equal(u.host, planned.assignments[u.name], `${u.name} where planned`);
      assert.equal(u.sla_state, 'applied', `${u.name} applied`);
      assert.equal(cloud.state.servers.get(u.server_id)?.status, 'ACTIVE');
    }
    assert.ok(view.events.some((e) => e.state === 'DEPLOYED'), 'the stack completion was recorded');
    assert.match(survivorManager.output(), new RegExp(`"event":"transition","topology":"${id}"[^\\n]*"to":"ACTIVE"`), 'the surviving manager made the ACTIVE transition');
    assert.match(holder.output(), new RegExp(`"event":"stack_created","topology":"${id}"`), 'the killed manager created the stack');

    // On the switches (checked once more, now that it is ACTIVE): class rates on each unit's port.
    const onSwitch: string[] = [];
    for (const u of view.units) {
      const server = cloud.state.servers.get(u.server_id!)!;
      const ovsPort = ovsPortName(server.portIds[0]!);
      const rates = ratesOnPort(await readTables(switches.get(server.host!)!), ovsPort);
      assert.deepEqual(rates, EXPECTED[u.sla_class], `${u.name} (${u.sla_class}) on ${String(server.host)} port ${ovsPort}`);
      onSwitch.push(`${u.name}@${String(server.host)} ${rates.min}/${rates.max}`);
    }
    console.log(`on the switches: ${onSwitch.join('; ')}`);

    // In the surviving agent: every server applied, and it now owns every host.
    const sla = await callApi(survivorAgent.url, AGENT_TOKEN, 'GET', `/v1/sla?server_id=${view.units.map((u) => u.server_id!).join(',')}`);
    assert.equal(sla.status, 200, sla.text);
    const items = (sla.json as { items: { server_id: string; state: string; reason: string | null }[] }).items;
    assert.deepEqual(
      view.units.map((u) => `${u.name}:${items.find((i) => i.server_id === u.server_id)?.state ?? 'missing'}`).sort(),
      view.units.map((u) => `${u.name}:applied`).sort(),
      JSON.stringify(items),
    );
    assert.deepEqual(await ownedBy(survivorAgent), [...HOSTS].sort(), 'the surviving agent took over the killed one\'s hosts');
    // The writes on the killed agent's hosts are the survivor's: its epoch fences those switches now.
    for (const h of topologyHosts) {
      const [r] = await switches.get(h)!.transact(DB, [select('Open_vSwitch', [], ['external_ids'])]);
      const epoch = (r?.rows?.[0]?.external_ids as ReadonlyMap<string, string> | undefined)?.get(EPOCH_KEY);
      assert.match(epoch ?? '', new RegExp(`^\\d+@${survivorAgent.name}$`), `${h} fenced by ${survivorAgent.name}`);
    }
  });
});

describe('the agent client fails over between agent replicas', () => {
  it('goes to the next URL on a connection failure, stays there, and comes back round when that one dies', { timeout: 30_000 }, async () => {
    const hits: string[] = [];
    const serve = (name: string, port = 0): Promise<http.Server> =>
      new Promise((resolve) => {
        const server = http.createServer((req, res) => {
          hits.push(`${name} ${String(req.method)} ${String(req.url)}`);
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify({ items: [{ server_id: name, state: 'applied', reason: null, ports: [] }] }));
        });
        server.listen(port, '127.0.0.1', () => {
          resolve(server);
        });
      });
    const close = (server: http.Server): Promise<void> =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => {
          resolve();
        });
      });
    // The first URL accepts connections and drops them at once (a replica going down), counted.
    let dropped = 0;
    const dropper = net.createServer((socket) => {
      dropped++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => {
      dropper.listen(0, '127.0.0.1', () => {
        resolve();
      });
    });
    const deadPort = (dropper.address() as AddressInfo).port;
    const b = await serve('b');
    const bPort = (b.address() as AddressInfo).port;
    const client = new AgentClient({ url: `http://127.0.0.1:${String(deadPort)}`, fallbackUrls: [`http://127.0.0.1:${String(bPort)}/`], token: 'failover-token-0123456789' });
    try {
      assert.equal((await client.slaStatus())[0]?.server_id, 'b', 'the first URL fails: the second answers');
      assert.equal(dropped, 1);
      assert.equal((await client.slaStatus(undefined, ['x']))[0]?.server_id, 'b');
      assert.deepEqual(hits, ['b GET /v1/sla', 'b GET /v1/sla?server_id=x']);
      assert.equal(dropped, 1, 'the next call goes straight to the replica that answered');
      // b dies, a comes up where the first URL points: the client wraps around to it.
      await close(b);
      await new Promise((resolve) => dropper.close(resolve));
      const a = await serve('a', deadPort);
      try {
        assert.equal((await client.slaStatus())[0]?.server_id, 'a');
      } finally {
        await close(a);
      }
      // None answers: one error naming every replica.
      await assert.rejects(client.slaStatus(), (error: unknown) => {
        assert.ok(error instanceof AgentClientError);
        assert.equal(error.code, 'CM_ERR_AGENT_UNREACHABLE');
        assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${String(deadPort)}, http://127\\.0\\.0\\.1:${String(bPort)}`));
        return true;
      });
    } finally {
      await client.close();
    }
  });
});
