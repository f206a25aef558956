/**
 * Several `cm-agent` processes (the real bin) sharing one PostgreSQL store,
 * against a simulated cloud whose four hosts have real ovsdb-servers:
 *  - the hosts are divided between the replicas (disjoint, complete), each
 *    host's OVSDB holds its owner's epoch, and every replica answers
 *    `/v1/sla` for every server with the same states;
 *  - the owner of some hosts is SIGSTOPped past its lease: the other takes
 *    its hosts over and applies an SLA changed meanwhile; resumed, the
 *    stopped one writes nothing (its lease is gone, and the switches hold the
 *    other's epoch), registers again and gets its hosts back after the
 *    hand-over time, and follows SLA changes made on the other replica;
 *  - one replica SIGKILLed: the other reconciles its hosts again (drift
 *    injected on them first), timed.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EPOCH_KEY } from '../../src/agent/cluster/fence.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { select } from '../../src/ovsdb/operations.ts';
import { ovsPortName, startSimCloud, type ScenarioObject, type SimCloud } from '../../src/sim/index.ts';
import { openrcEnv } from '../../src/sim/openrc.ts';
import { freePort } from '../harness/net.ts';
import { makeTempDir, realOvsAvailable, removeTempDir, terminate } from '../harness/ovsdb-server.ts';
import { callApi, spawnService, type ServiceProcess } from '../harness/service-process.ts';
import { postgresAvailable, startPostgres, type PostgresHandle } from '../harness/postgres.ts';
import { connect } from './inventory-helpers.ts';
import { DB, maxRateOf, qosOfPort, readTables, setQosMaxRate, waitFor } from './reconciler-helpers.ts';

const real = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl']);
const pgGate = postgresAvailable();
const skip = real.skip !== false ? real.skip : pgGate.skip;
const TOKEN = 'cluster-process-token-0123456789';
const OWNER = 'cm-agent-cluster';
const HOSTS = ['compute1', 'compute2', 'compute3', 'compute4', 'compute5', 'compute6'];
const PER_HOST = 2;
const LEASE_MS = 3000;
const HEARTBEAT_MS = 500;
const MBIT = 1_000_000;

const scenario: ScenarioObject = {
  region: 'RegionOne',
  hosts: HOSTS.map((name) => ({ name, az: 'nova', vcpus: 16, memory_mb: 16_384, disk_gb: 100, cpu_allocation_ratio: 1, ram_allocation_ratio: 1, disk_allocation_ratio: 1 })),
  flavors: [{ id: '1', name: 'm1.nano', vcpus: 1, ram: 64, disk: 1 }],
  projects: [{ name: 'admin', quotas: { instances: 50, cores: 50, ram: 50 * 64 }, users: [{ name: 'admin', password: 'cluster-pass', roles: ['admin'] }] }],
  networks: [{ name: 'private', cidr: '10.0.0.0/24', shared: true }],
};

interface Booted {
  id: string;
  host: string;
  ovsPort: string;
}

type Agent = ServiceProcess;

const api = (url: string, method: string, route: string, body?: unknown): Promise<{ status: number; json: unknown; text: string }> => callApi(url, TOKEN, method, route, body);

/** The hosts a replica says it owns, from its metrics. */
async function ownedBy(agent: Agent): Promise<string[]> {
  const { text } = await api(agent.url, 'GET', '/metrics');
  return [...text.matchAll(/^cm_agent_host_owned\{host="([^"]+)",agent_id="([^"]+)"\} 1$/gm)].map((m) => m[1] ?? '').sort();
}

async function epochs(clients: ReadonlyMap<string, OvsdbClient>): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  for (const [host, c] of clients) {
    const [r] = await c.transact(DB, [select('Open_vSwitch', [], ['external_ids'])]);
    out.set(host, (r?.rows?.[0]?.external_ids as ReadonlyMap<string, string> | undefined)?.get(EPOCH_KEY));
  }
  return out;
}

async function rateOn(clients: ReadonlyMap<string, OvsdbClient>, s: Booted): Promise<string | undefined> {
  return maxRateOf(qosOfPort(await readTables(clients.get(s.host)!), s.ovsPort));
}

interface SlaItem {
  server_id: string;
  state: string;
}

async function slaStates(agent: Agent): Promise<Map<string, string>> {
  const r = await api(agent.url, 'GET', '/v1/sla');
  assert.equal(r.status, 200, r.text);
  return new Map((r.json as { items: SlaItem[] }).items.map((i) => [i.server_id, i.state]));
}

const putSla = (agent: Agent, id: string, mbit: number): Promise<{ status: number; text: string }> =>
  api(agent.url, 'PUT', `/v1/servers/${id}/sla`, { download: { max: mbit * MBIT, min: MBIT }, upload: { max: mbit * MBIT } });

describe('cm-agent replicas sharing hosts through PostgreSQL (real ovsdb-servers)', { skip }, () => {
  let pg: PostgresHandle | undefined;
  let sim: SimCloud | undefined;
  let os: OpenStack | undefined;
  let dir = '';
  const clients = new Map<string, OvsdbClient>();
  const agents: Agent[] = [];
  let servers: Booted[] = [];
  let dbUrl = '';
  let env: Record<string, string> = {};

  async function startReplica(id: string): Promise<Agent> {
    const port = await freePort();
    const url = `http://127.0.0.1:${String(port)}`;
    const configFile = path.join(dir, `agent-${id}.yaml`);
    const endpoints = HOSTS.map((h) => `    ${h}: "${sim!.ovsdbEndpoint(h)}"`).join('\n');
    await writeFile(
      configFile,
      [
        `listen: { host: 127.0.0.1, port: ${String(port)} }`,
        `auth: { tokens: [${TOKEN}] }`,
        `owner: ${OWNER}`,
        `store: { url: "${dbUrl}" }`,
        `cluster: { agent_id: ${id}, lease_ms: ${String(LEASE_MS)}, heartbeat_ms: ${String(HEARTBEAT_MS)} }`,
        `inventory: { refresh_interval_ms: 1000 }`,
        `reconcile: { resync_interval_ms: 2000 }`,
        `ovsdb:\n  endpoints:\n${endpoints}`,
        '',
      ].join('\n'),
    );
    const agent = spawnService(id, 'cm-agent.mjs', url, configFile, env);
    agents.push(agent);
    await waitFor(
      `replica ${id} answering /healthz`,
      async () => {
        if (agent.child.exitCode !== null) throw new Error(`replica ${id} exited with ${String(agent.child.exitCode)}:\n${agent.output().slice(-3000)}`);
        return fetch(`${url}/healthz`).then((r) => r.ok, () => false);
      },
      30_000,
    );
    return agent;
  }

  before(async () => {
    dir = await makeTempDir('cm-cluster-');
    pg = await startPostgres();
    dbUrl = await pg.createDatabase();
    sim = await startSimCloud({ scenario, ovsdb: 'real', bootDelayMs: 5 });
    os = connect(sim).os;
    env = openrcEnv(sim);
    const flavor = (await os.nova.listFlavors())[0]!;
    const net = (await os.neutron.listNetworks())[0]!;
    const created = await Promise.all(
      HOSTS.flatMap((host) =>
        Array.from({ length: PER_HOST }, (_, i) =>
          os!.nova.createServer({ name: `${host}-vm${String(i)}`, imageRef: '', flavorRef: flavor.id, availabilityZone: `nova:${host}`, networks: [{ uuid: net.id }] }),
        ),
      ),
    );
    await waitFor('servers ACTIVE', () => created.every((c) => sim!.state.servers.get(c.id)?.status === 'ACTIVE'), 30_000);
    servers = created.map((c) => {
      const s = sim!.state.servers.get(c.id)!;
      return { id: c.id, host: s.host ?? '', ovsPort: ovsPortName(s.portIds[0]!) };
    });
    for (const h of HOSTS) clients.set(h, await OvsdbClient.connect({ endpoint: sim.ovsdbEndpoint(h) }));
  });

  after(async () => {
    for (const a of agents) {
      if (a.child.signalCode === null && a.child.exitCode === null) a.child.kill('SIGCONT');
      await terminate(a.child);
    }
    for (const c of clients.values()) c.close();
    await sim?.close();
    await pg?.stop();
    if (dir) await removeTempDir(dir);
  });

  it('divides the hosts, answers on every replica, fences a paused owner, survives a SIGKILL', { timeout: 240_000 }, async () => {
    const a = await startReplica('agent-a');
    const b = await startReplica('agent-b');
    const pair = [a, b];

    // ---- the hosts are divided: disjoint and complete, as both replicas see it
    await waitFor(
      'both replicas own a disjoint, complete share of the hosts',
      async () => {
        const [oa, ob] = await Promise.all([ownedBy(a), ownedBy(b)]);
        return oa.length > 0 && ob.length > 0 && oa.every((h) => !ob.includes(h)) && [...oa, ...ob].sort().join() === [...HOSTS].sort().join();
      },
      20_000,
    );
    const ownedA = await ownedBy(a);
    const ownedB = await ownedBy(b);
    console.log(`hosts of agent-a: ${ownedA.join(', ')}; of agent-b: ${ownedB.join(', ')}`);

    // ---- SLAs through either replica; every replica reports all of them applied
    for (const [i, s] of servers.entries()) {
      const r = await putSla(pair[i % 2]!, s.id, 10 + i);
      assert.ok(r.status === 200 || r.status === 201, r.text);
    }
    await waitFor(
      'every SLA on its switch',
      async () => (await Promise.all(servers.map(async (s, i) => (await rateOn(clients, s)) === String((10 + i) * MBIT)))).every(Boolean),
      30_000,
    );
    await waitFor(
      'both replicas say every server is applied',
      async () => {
        for (const agent of pair) {
          const states = await slaStates(agent);
          if (servers.some((s) => states.get(s.id) !== 'applied')) return false;
        }
        return true;
      },
      20_000,
    );
    // Capacity of every host on every replica: each reads Placement for its own hosts and takes the others' readings while current.
    const capacities = async (agent: Agent): Promise<string> => {
      const r = await api(agent.url, 'GET', '/v1/hosts');
      const hosts = (r.json as { hosts: { name: string; resources: { VCPU: { capacity: number; used: number } | null } }[] }).hosts;
      return JSON.stringify(hosts.map((h) => [h.name, h.resources.VCPU?.capacity ?? null, h.resources.VCPU?.used ?? null]));
    };
    await waitFor(
      'the same capacity of every host on both replicas',
      async () => {
        const [ca, cb] = await Promise.all([capacities(a), capacities(b)]);
        return ca === cb && !ca.includes('null');
      },
      15_000,
    );
    const e1 = await epochs(clients);
    for (const h of ownedA) assert.match(e1.get(h) ?? '', /^\d+@agent-a$/, `${h} carries agent-a's epoch`);
    for (const h of ownedB) assert.match(e1.get(h) ?? '', /^\d+@agent-b$/, `${h} carries agent-b's epoch`);

    // ---- agent-a paused past its lease: agent-b takes its hosts and applies an SLA changed meanwhile
    const victim = servers.find((s) => ownedA.includes(s.host))!;
    a.child.kill('SIGSTOP');
    const stoppedAt = Date.now();
    const r1 = await putSla(b, victim.id, 77);
    assert.equal(r1.status, 200, r1.text);
    await waitFor('agent-b applies the change on agent-a\'s host', async () => (await rateOn(clients, victim)) === String(77 * MBIT), 20_000);
    const takeoverMs = Date.now() - stoppedAt;
    // Its other hosts are claimed as agent-b's reconcilers for them make their first passes.
    await waitFor(
      "agent-b's epoch on every host of agent-a",
      async () => {
        const e = await epochs(clients);
        return ownedA.every((h) => /^\d+@agent-b$/.test(e.get(h) ?? ''));
      },
      10_000,
    );
    const allClaimedMs = Date.now() - stoppedAt;
    console.log(
      `paused owner's host reconciled by the other replica ${String(takeoverMs)} ms after the SIGSTOP, all ${String(ownedA.length)} of its hosts claimed by ${String(allClaimedMs)} ms (lease ${String(LEASE_MS)} ms)`,
    );

    // ---- resumed: agent-a knows its lease is gone, writes nothing, registers again
    const outputBefore = a.output().length;
    a.child.kill('SIGCONT');
    await waitFor('agent-a learns it lost its lease', () => /cluster_lease_lost|cluster_registered/.test(a.output().slice(outputBefore)), 10_000);
    assert.equal(await rateOn(clients, victim), String(77 * MBIT), 'the resumed replica did not overwrite the newer SLA');
    // It gets its hosts back after the hand-over time (agent-b is live and lets go), with a new epoch.
    await waitFor(
      'agent-a owns its hosts again under a new epoch',
      async () => {
        const e = await epochs(clients);
        return ownedA.every((h) => /^\d+@agent-a$/.test(e.get(h) ?? '') && e.get(h) !== e1.get(h));
      },
      30_000,
    );
    assert.equal(await rateOn(clients, victim), String(77 * MBIT));
    // A change made on agent-b reaches agent-a's host through the store's change feed.
    const r2 = await putSla(b, victim.id, 55);
    assert.equal(r2.status, 200, r2.text);
    await waitFor('agent-a applies a change made on agent-b', async () => (await rateOn(clients, victim)) === String(55 * MBIT), 15_000);
    const ownedAfter = await ownedBy(a);
    assert.deepEqual(ownedAfter, ownedA, 'the same hosts come back (rendezvous on the agent id)');

    // ---- agent-b SIGKILLed after drift on its hosts: agent-a repairs them, timed
    const bHosts = await ownedBy(b);
    const drifted = servers.filter((s) => bHosts.includes(s.host));
    for (const s of drifted) {
      const client = clients.get(s.host)!;
      const qos = qosOfPort(await readTables(client), s.ovsPort);
      assert.ok(qos, `${s.ovsPort} has a QoS`);
      await setQosMaxRate(client, qos._uuid as string, '1234');
    }
    b.child.kill('SIGKILL');
    const killedAt = Date.now();
    await waitFor(
      "agent-a repairs agent-b's hosts",
      async () => (await Promise.all(drifted.map(async (s) => (await rateOn(clients, s)) === String((10 + servers.indexOf(s)) * MBIT)))).every(Boolean),
      30_000,
    );
    const failoverMs = Date.now() - killedAt;
    console.log(`SIGKILL → the other replica repaired drift on ${String(bHosts.length)} hosts in ${String(failoverMs)} ms (lease ${String(LEASE_MS)} ms)`);
    assert.ok(failoverMs < 15_000, `failover within 15 s: ${String(failoverMs)} ms`);
    assert.deepEqual(await ownedBy(a), [...HOSTS].sort());
    const states = await slaStates(a);
    assert.ok(servers.every((s) => states.get(s.id) === 'applied'), JSON.stringify([...states]));
  });
});
