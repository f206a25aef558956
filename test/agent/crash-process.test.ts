/**
 * Crash safety of the whole `cm-agent` process: the real bin
 * (bin/cm-agent.mjs --config FILE) against a simulated cloud whose six hosts
 * have real ovsdb-servers, reached like a production cloud (OS_* variables,
 * ovsdb.endpoints, an SQLite store file) — not through a `sim:` section, which
 * would make the cloud die with the agent.
 *
 * 300 servers are booted through Nova; their SLAs go to the first agent over
 * HTTP (thesis POST /qoses, one wave of 30 after the other, each touching all
 * six hosts), a wave only being sent while fewer than three waves' worth are
 * missing from the switches. The agent is SIGKILLed once the switches hold 60
 * of our QoS rows and an acknowledged wave is not fully on them yet (or at 120
 * rows at the latest). That bound on the backlog is what makes "killed in the
 * middle" certain (at most 210 SLAs ever reach the first agent) without
 * slowing the agent itself. After the kill, what is on the switches must be
 * whole: each pass is one transaction per host.
 *
 * A second agent with the same config (same store file, same owner) gets the
 * waves the first never acknowledged and, racing its first passes, 30 changed
 * SLAs; it must converge to exactly one owned QoS + Queue per port with the
 * desired rates, nothing unreferenced, and report all 300 applied.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { OpenStack } from '../../src/openstack/index.ts';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { select } from '../../src/ovsdb/operations.ts';
import { TAG_OWNER } from '../../src/ovsdb/vswitch/index.ts';
import { ovsPortName, startSimCloud, type ScenarioObject, type SimCloud } from '../../src/sim/index.ts';
import { openrcEnv } from '../../src/sim/openrc.ts';
import { openSlaStore } from '../../src/store/index.ts';
import { makeTempDir, realOvsAvailable, removeTempDir, terminate, waitForExit } from '../harness/ovsdb-server.ts';
import { connect } from './inventory-helpers.ts';
import { DB, leakReport, maxRateOf, qosOfPort, readTables, waitFor, type Tables } from './reconciler-helpers.ts';
import { freePort } from '../harness/net.ts';
import { callApi, spawnService, type ServiceProcess } from '../harness/service-process.ts';

const real = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl']);
const TOKEN = 'crash-process-token-0123456789';
const OWNER = 'cm-agent-crash-process';
const HOSTS = ['compute1', 'compute2', 'compute3', 'compute4', 'compute5', 'compute6'];
const COUNT = 300;
const WAVE = 30;
const WAVES = COUNT / WAVE;
const MAX_AHEAD = 3 * WAVE;
const KILL_AT = 60;

const MBIT = 1_000_000;
const MIN_RATE = MBIT;
/** Download cap of server i in bit/s: distinct per server, +1000 Mbit/s for the ones changed after the restart. */
const rateOf = (i: number, changed: boolean): number => ((changed ? 1000 : 10) + i) * MBIT;
/** Servers whose SLA changes right after the restart: half of the first two waves, so stored (and mostly applied) before the kill. */
const CHANGED = new Set(Array.from({ length: COUNT }, (_, i) => i).filter((i) => i < 2 * WAVE && i % 2 === 0));

const scenario: ScenarioObject = {
  region: 'RegionOne',
  hosts: HOSTS.map((name) => ({ name, az: 'nova', vcpus: 64, memory_mb: 65_536, disk_gb: 1000, cpu_allocation_ratio: 1, ram_allocation_ratio: 1, disk_allocation_ratio: 1 })),
  flavors: [{ id: '1', name: 'm1.nano', vcpus: 1, ram: 64, disk: 1 }],
  projects: [
    {
      name: 'admin',
      quotas: { instances: COUNT + 50, cores: COUNT + 50, ram: (COUNT + 50) * 64 },
      users: [{ name: 'admin', password: 'crash-pass', roles: ['admin'] }],
    },
  ],
  // A /24 runs out of addresses before 300 ports.
  networks: [{ name: 'private', cidr: '10.0.0.0/16', shared: true }],
};

interface Booted {
  id: string;
  host: string;
  portId: string;
  ovsPort: string;
}


async function bootServers(sim: SimCloud, os: OpenStack): Promise<Booted[]> {
  const flavor = (await os.nova.listFlavors())[0]!;
  const net = (await os.neutron.listNetworks())[0]!;
  const ids: string[] = [];
  // Server i on host i mod 6, so that every wave of consecutive servers touches every host.
  for (let start = 0; start < COUNT; start += 50) {
    const batch = Array.from({ length: Math.min(50, COUNT - start) }, (_, j) => start + j);
    const created = await Promise.all(
      batch.map((i) =>
        os.nova.createServer({ name: `vm-${String(i)}`, imageRef: '', flavorRef: flavor.id, availabilityZone: `nova:${HOSTS[i % HOSTS.length]!}`, networks: [{ uuid: net.id }] }),
      ),
    );
    ids.push(...created.map((c) => c.id));
  }
  await waitFor('300 servers ACTIVE', () => ids.every((id) => sim.state.servers.get(id)?.status === 'ACTIVE'), 30_000);
  return ids.map((id, i) => {
    const s = sim.state.servers.get(id)!;
    const portId = s.portIds[0]!;
    assert.equal(s.host, HOSTS[i % HOSTS.length]);
    return { id, host: s.host, portId, ovsPort: ovsPortName(portId) };
  });
}

type Agent = ServiceProcess;

/** The last lines of what an agent printed, for failure messages. */
const tail = (agent: Agent): string => agent.output().slice(-4000);

function spawnAgent(configFile: string, env: Record<string, string>): Agent {
  return spawnService('cm-agent', 'cm-agent.mjs', '', configFile, env);
}

async function untilServing(agent: Agent, url: string, route: '/healthz' | '/readyz'): Promise<void> {
  await waitFor(
    `the agent answering ${route}`,
    async () => {
      if (agent.child.exitCode !== null) throw new Error(`the agent exited with ${String(agent.child.exitCode)}:\n${tail(agent)}`);
      return fetch(`${url}${route}`).then((r) => r.ok, () => false);
    },
    30_000,
  );
}

const api = (url: string, method: string, route: string, body?: unknown): Promise<{ status: number; json: unknown }> => callApi(url, TOKEN, method, route, body);

/** Thesis body of wave k, grouped by host as the original clients sent it; `skip` leaves servers out. */
function waveBody(servers: readonly Booted[], k: number, skip: ReadonlySet<number> = new Set()): Record<string, Record<string, { qos: Record<string, string> }>> {
  const body: Record<string, Record<string, { qos: Record<string, string> }>> = {};
  for (let i = k * WAVE; i < (k + 1) * WAVE; i++) {
    if (skip.has(i)) continue;
    const s = servers[i]!;
    (body[s.host] ??= {})[s.id] = { qos: { 'min-rate': String(MIN_RATE), 'max-rate': String(rateOf(i, false)) } };
  }
  return body;
}

async function ownedQosCount(clients: ReadonlyMap<string, OvsdbClient>): Promise<number> {
  const counts = await Promise.all(
    [...clients.values()].map(async (client) => {
      const [r] = await client.transact(DB, [select('QoS', [], ['external_ids'])]);
      return (r?.rows ?? []).filter((row) => (row.external_ids as ReadonlyMap<string, string>).get(TAG_OWNER) === OWNER).length;
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

async function readAll(clients: ReadonlyMap<string, OvsdbClient>): Promise<Map<string, Tables>> {
  return new Map(await Promise.all([...clients].map(async ([host, c]) => [host, await readTables(c)] as const)));
}

function queueOf(t: Tables, qos: Tables['qos'][number] | undefined): Tables['queues'][number] | undefined {
  const uuid = (qos?.queues as ReadonlyMap<number, string> | undefined)?.get(0);
  return t.queues.find((q) => q._uuid === uuid);
}

/** True when the port carries our QoS with `rate` and its queue 0 the same max-rate and MIN_RATE. */
function portHas(t: Tables, s: Booted, rate: number): boolean {
  const qos = qosOfPort(t, s.ovsPort);
  if (maxRateOf(qos) !== String(rate) || (qos?.external_ids as ReadonlyMap<string, string>).get(TAG_OWNER) !== OWNER) return false;
  const q = (queueOf(t, qos)?.other_config as ReadonlyMap<string, string> | undefined) ?? new Map<string, string>();
  return q.get('max-rate') === String(rate) && q.get('min-rate') === String(MIN_RATE);
}

describe('cm-agent process SIGKILLed while applying 300 SLAs', { skip: real.skip }, () => {
  it('restarts with the same store and owner and converges with no orphan rows', { timeout: 120_000 }, async () => {
    const started = Date.now();
    const agents: Agent[] = [];
    const clients = new Map<string, OvsdbClient>();
    let sim: SimCloud | undefined;
    let os: OpenStack | undefined;
    const dir = await makeTempDir('cm-crashp-');
    try {
      sim = await startSimCloud({ scenario, ovsdb: 'real', bootDelayMs: 5 });
      os = connect(sim).os;
      const servers = await bootServers(sim, os);
      for (const h of HOSTS) clients.set(h, await OvsdbClient.connect({ endpoint: sim.ovsdbEndpoint(h) }));
      const booted = Date.now();

      const port = await freePort();
      const url = `http://127.0.0.1:${String(port)}`;
      const storePath = path.join(dir, 'sla.db');
      const configFile = path.join(dir, 'agent.yaml');
      const endpoints = HOSTS.map((h) => `    ${h}: "${sim!.ovsdbEndpoint(h)}"`).join('\n');
      await writeFile(
        configFile,
        `listen: { host: 127.0.0.1, port: ${String(port)} }\nauth: { tokens: [${TOKEN}] }\nowner: ${OWNER}\nstore: { path: "${storePath}" }\novsdb:\n  endpoints:\n${endpoints}\n`,
      );
      const env = openrcEnv(sim);

      // ---- first agent: SLAs in waves, SIGKILL once 60 are on the switches
      const first = spawnAgent(configFile, env);
      agents.push(first);
      await untilServing(first, url, '/readyz');

      // Shared by the two loops below; read through a function, because TypeScript narrows a captured field as if no await could change it.
      // `failed` stops the other loop when one throws, so that nothing keeps polling after the test failed.
      const run = { seen: 0, killed: false, failed: false, acked: 0 };
      const stopped = (): boolean => run.killed || run.failed;
      const loop = (body: () => Promise<void>): Promise<void> =>
        body().catch((error: unknown) => {
          run.failed = true;
          throw error;
        });
      const watcher = loop(async () => {
        while (!stopped()) {
          if (first.child.exitCode !== null) throw new Error(`the first agent exited before the kill:\n${tail(first)}`);
          run.seen = await ownedQosCount(clients);
          // Prefer a moment when an acknowledged (stored) wave is not fully on the switches; never wait past two more waves.
          if (run.seen >= KILL_AT && (run.acked * WAVE > run.seen || run.seen >= KILL_AT + 2 * WAVE)) {
            run.killed = true;
            first.child.kill('SIGKILL');
          } else await new Promise((r) => setTimeout(r, 2));
        }
      });
      const submitter = loop(async () => {
        for (let k = 0; k < WAVES; k++) {
          while (!stopped() && k * WAVE - run.seen >= MAX_AHEAD) await new Promise((r) => setTimeout(r, 2));
          if (stopped()) return;
          try {
            const r = await api(url, 'POST', '/qoses', waveBody(servers, k));
            assert.equal(r.status, 200, JSON.stringify(r.json));
            run.acked = k + 1;
          } catch (error) {
            // A wave in flight when the agent died is expected to fail; any other failure is not.
            if (!run.killed) throw error;
            return;
          }
        }
      });
      await Promise.all([watcher, submitter]);
      await waitForExit(first.child);
      assert.equal(first.child.signalCode, 'SIGKILL', 'the first agent died of the SIGKILL');

      const afterKill = await readAll(clients);
      const applied = servers.filter((s, i) => portHas(afterKill.get(s.host)!, s, rateOf(i, false))).length;
      const store = await openSlaStore({ path: storePath });
      const stored = (await store.list()).length;
      await store.close();
      console.log(`killed after ${String(applied)}/${String(COUNT)} SLAs were applied (${String(stored)} stored, ${String(run.acked)} waves acknowledged, poll saw ${String(run.seen)})`);
      assert.ok(applied >= KILL_AT, `at least ${String(KILL_AT)} applied before the kill (got ${String(applied)})`);
      assert.ok(applied < COUNT, `the kill happened before completion: ${String(applied)} of ${String(COUNT)} applied`);
      assert.ok(stored < COUNT && stored >= applied, `only part of the SLAs reached the store (${String(stored)})`);
      let ownedAtKill = 0;
      for (const [host, t] of afterKill) {
        const leaks = leakReport(t, OWNER);
        assert.equal(leaks.unreferencedQos + leaks.unreferencedQueues, 0, `${host}: every committed pass is whole (no row without its port)`);
        ownedAtKill += leaks.ownedRows;
      }
      assert.equal(ownedAtKill, 2 * applied, 'one QoS + one Queue per applied port, each with its exact rates');

      // ---- second agent: same config; unacknowledged waves and 30 changes race its first passes
      const second = spawnAgent(configFile, env);
      agents.push(second);
      await untilServing(second, url, '/healthz');
      // The API listens before the first inventory is read (issue 16): wait for it, which is where the old agent began listening.
      await waitFor('the second agent serving from its first inventory', async () => (await api(url, 'GET', '/v1/hosts?limit=1')).status === 200, 30_000);
      const changes = [...CHANGED].map(async (i) => {
        const rate = rateOf(i, true);
        const r = await api(url, 'PUT', `/v1/servers/${servers[i]!.id}/sla`, { download: { min: MIN_RATE, max: rate }, upload: { max: rate / 2 } });
        assert.equal(r.status, 200, `PUT of server ${String(i)} replaced its stored SLA: ${JSON.stringify(r.json)}`);
      });
      const resubmitted = Array.from({ length: WAVES }, (_, k) => k)
        .filter((k) => k >= run.acked)
        .map(async (k) => {
          const r = await api(url, 'POST', '/qoses', waveBody(servers, k, CHANGED));
          assert.equal(r.status, 200, JSON.stringify(r.json));
        });
      await Promise.all([...changes, ...resubmitted]);

      const expected = (i: number): number => rateOf(i, CHANGED.has(i));
      let last = new Map<string, Tables>();
      await waitFor(
        'the restarted agent to converge',
        async () => {
          if (second.child.exitCode !== null) throw new Error(`the second agent exited:\n${tail(second)}`);
          last = await readAll(clients);
          const owned = [...last.values()].reduce((n, t) => n + leakReport(t, OWNER).ownedRows, 0);
          return owned === 2 * COUNT && servers.every((s, i) => portHas(last.get(s.host)!, s, expected(i)));
        },
        60_000,
      );

      for (const [i, s] of servers.entries()) {
        const t = last.get(s.host)!;
        assert.ok(portHas(t, s, expected(i)), `server ${String(i)} (${s.ovsPort} on ${s.host}) carries ${String(expected(i))} bit/s`);
        const iface = t.interfaces.find((x) => x.name === s.ovsPort);
        assert.equal(iface?.ingress_policing_rate, CHANGED.has(i) ? expected(i) / 2 / 1000 : 0, `upload policing of server ${String(i)} (kbit/s)`);
      }
      for (const [host, t] of last) {
        const leaks = leakReport(t, OWNER);
        assert.equal(leaks.unreferencedQos, 0, `${host}: no unreferenced QoS row`);
        assert.equal(leaks.unreferencedQueues, 0, `${host}: no unreferenced Queue row`);
        const ports = servers.filter((s) => s.host === host).length;
        assert.equal(t.qos.length, ports, `${host}: exactly one QoS row per port`);
        assert.equal(t.queues.length, ports, `${host}: exactly one Queue row per port`);
      }

      await waitFor(
        'GET /v1/sla reporting 300 applied',
        async () => {
          const { json } = await api(url, 'GET', '/v1/sla');
          const sla = json as { items: unknown[]; summary: Record<string, number> };
          return sla.items.length === COUNT && sla.summary.applied === COUNT;
        },
        10_000,
      );

      await terminate(second.child);
      assert.equal(second.child.exitCode, 0, `the second agent stopped cleanly on SIGTERM:\n${tail(second)}`);
      console.log(`boot ${String(booted - started)} ms, total ${String(Date.now() - started)} ms`);
    } finally {
      for (const a of agents) await terminate(a.child, 1000);
      for (const c of clients.values()) c.close();
      await os?.close();
      await sim?.close();
      await removeTempDir(dir);
    }
  });
});
