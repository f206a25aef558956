/**
 * What the deployer does when OpenStack or the agent fail: a permanent answer
 * (Heat's 413) fails the topology at once with the service's message; a
 * transient one (503, a refused connection) is retried with backoff until it
 * succeeds or the step's deadline passes; a DELETE while the agent is down
 * deletes the stack anyway, shows the SLA removal as pending and finishes
 * when the agent is back; log lines stay bounded whatever the names.
 *
 * (a)–(c) and (e) drive a Deployer on the simulated cloud and a real agent,
 * with Heat's stack create wrapped to fail as told; (d) runs the whole manager.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, simCloudConfig, startAgent, type RunningAgent } from '../../src/agent/main.ts';
import { AgentClient } from '../../src/manager/agent-client.ts';
import { Deployer, type CloudApi } from '../../src/manager/deployer.ts';
import type { TopologyRequest } from '../../src/manager/planner.ts';
import { boundLogFields, boundText } from '../../src/manager/upstream.ts';
import { apiError, createOpenStack, OpenStackConnectionError } from '../../src/openstack/index.ts';
import { startSimCloud } from '../../src/sim/index.ts';
import { openManagerStore, type ManagerStore, type Topology, type TopologyState } from '../../src/store/index.ts';
import { DEFAULT_SLA_CLASSES } from '../../src/topology/index.ts';
import { AGENT_TOKEN, startSimAgent, startStack, until } from './stack.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis');
const THESIS_YAML = readFileSync(path.join(FIXTURES, 'thesis.yaml'), 'utf8');

const heat413 = (): Error =>
  apiError({
    service: 'orchestration',
    status: 413,
    serviceCode: 'RequestEntityTooLarge',
    message: 'Request Entity Too Large: the request body exceeds max_json_body_size',
    requestId: 'req-413',
    method: 'POST',
    url: 'http://heat.example/v1/p/stacks',
  });
const heat503 = (): Error =>
  apiError({ service: 'orchestration', status: 503, serviceCode: 'ServiceUnavailable', message: 'The server is currently unavailable.', requestId: 'req-503', method: 'POST', url: 'http://heat.example/v1/p/stacks' });
const refused = (): Error => new OpenStackConnectionError('orchestration', 'POST', 'http://heat.example/v1/p/stacks', { cause: new Error('connect ECONNREFUSED 127.0.0.1:8004') });

interface Run {
  store: ManagerStore;
  /** When each stack create was called (ms). */
  creates: number[];
  logs: Record<string, unknown>[];
  /** The topology once it reached one of `states`. */
  settle(id: string, states: readonly TopologyState[], timeoutMs?: number): Promise<Topology>;
  submit(name?: string): Promise<string>;
  stacksLeft(): number;
}

/**
 * A Deployer (claiming every 50 ms, as a busy manager would) on a simulated cloud and a real
 * agent; `createStack(n)` answers the n-th stack create with an error, or undefined to let it through.
 */
async function withDeployer(
  createStack: (n: number) => Error | undefined,
  options: { retryDeadlineMs?: number; retryBaseMs?: number; stackTimeoutS?: number; heat?: (real: CloudApi['heat']) => Partial<CloudApi['heat']> },
  body: (run: Run) => Promise<void>,
): Promise<void> {
  const sim = await startSimCloud();
  const agent = await startSimAgent(sim);
  const openstack = createOpenStack(simCloudConfig(sim));
  const agentClient = new AgentClient({ url: agent.url, token: AGENT_TOKEN });
  const store = await openManagerStore({ url: 'sqlite::memory:' });
  const creates: number[] = [];
  const logs: Record<string, unknown>[] = [];
  const { heat: heatOverrides, ...deployerOptions } = options;
  const cloud: CloudApi = {
    nova: openstack.nova,
    heat: {
      createStack: (r, o) => {
        creates.push(Date.now());
        const error = createStack(creates.length);
        return error ? Promise.reject(error) : openstack.heat.createStack(r, o);
      },
      updateStack: (n, i, r, o) => openstack.heat.updateStack(n, i, r, o),
      findStack: (n, i, o) => openstack.heat.findStack(n, i, o),
      deleteStack: (n, i, o) => openstack.heat.deleteStack(n, i, o),
      listResources: (n, i, o) => openstack.heat.listResources(n, i, o),
    },
  };
  Object.assign(cloud.heat, heatOverrides?.(openstack.heat));
  const deployer = new Deployer({
    store,
    agent: agentClient,
    cloud,
    classes: DEFAULT_SLA_CLASSES,
    uplink: { defaultBps: 1e9, hosts: {} },
    availabilityZone: 'nova',
    stackTimeoutS: 60,
    enforceTimeoutS: 30,
    leaseMs: 30_000,
    pollMs: 20,
    claimIntervalMs: 50,
    ...deployerOptions,
    logger: (e) => logs.push(e),
  });
  let n = 0;
  const run: Run = {
    store,
    creates,
    logs,
    async settle(id, states, timeoutMs = 20_000) {
      return until(`${id} in ${states.join('/')}`, async () => (await store.getTopology(id)) as Topology, (t) => states.includes(t.state), timeoutMs);
    },
    async submit(name = 'local_nm_template_minified') {
      n += 1;
      const request: TopologyRequest = { format: 'yaml', files: [{ name: 'thesis.yaml', text: THESIS_YAML }], strategy: 'traffic-aware' };
      const { topology } = await store.createTopology({ name, projectId: 'p', strategy: 'traffic-aware', request, stackName: `cm-failures-${String(n)}`, state: 'DEPLOYING', deployRequestedAt: new Date().toISOString() });
      return topology.id;
    },
    stacksLeft: () => [...sim.state.stacks.values()].filter((s) => !s.status.startsWith('DELETE')).length,
  };
  deployer.start();
  try {
    await body(run);
  } finally {
    await stopAll({ deployer, store, agentClient, openstack, agent, sim });
  }
}

/** Stops what a deployer test started, the deployer first (it uses the rest). */
async function stopAll(o: { deployer: Deployer; store: ManagerStore; agentClient: AgentClient; openstack: { close(): Promise<void> }; agent: RunningAgent; sim: { close(): Promise<void> } }): Promise<void> {
  await o.deployer.stop();
  await o.store.close();
  await o.agentClient.close();
  await o.openstack.close();
  await o.agent.stop();
  await o.sim.close();
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('deployer: OpenStack failures', () => {
  it('(a) Heat answering 413 to the stack create fails the topology with its message and an event, without a second create', { timeout: 60_000 }, async () => {
    await withDeployer(heat413, {}, async (run) => {
      const id = await run.submit();
      const t = await run.settle(id, ['FAILED', 'ACTIVE']);
      assert.equal(t.state, 'FAILED');
      assert.equal(t.error?.code, 'CM_ERR_OPENSTACK_API');
      assert.match(t.error.message, /413.*Request Entity Too Large: the request body exceeds max_json_body_size/);
      const events = await run.store.events(id);
      const last = events.at(-1);
      assert.equal(last?.state, 'FAILED');
      assert.match(last.message, /Request Entity Too Large/);
      // The claim loop runs every 50 ms: give it the time to try again, and see it does not.
      await sleep(500);
      assert.equal(run.creates.length, 1, 'one stack create, no retry of a permanent answer');
      assert.equal((await run.store.getTopology(id))?.state, 'FAILED');
      assert.equal(run.stacksLeft(), 0);
      assert.ok(!run.logs.some((l) => l.event === 'drive_failed'), JSON.stringify(run.logs.filter((l) => l.event === 'drive_failed')));
    });
  });

  it('(b) a 503 then a refused connection are retried with backoff, then the stack is created and the topology ACTIVE', { timeout: 90_000 }, async () => {
    const base = 100;
    await withDeployer((n) => (n === 1 ? heat503() : n === 2 ? refused() : undefined), { retryBaseMs: base }, async (run) => {
      const id = await run.submit();
      const t = await run.settle(id, ['FAILED', 'ACTIVE'], 60_000);
      assert.equal(t.state, 'ACTIVE', JSON.stringify(t.error));
      assert.equal(run.creates.length, 3);
      const [c1 = 0, c2 = 0, c3 = 0] = run.creates;
      // Backoff: at least 3/4 of the base, then of twice the base (the jitter takes up to a quarter).
      assert.ok(c2 - c1 >= base * 0.75, `first retry after ${String(c2 - c1)} ms`);
      assert.ok(c3 - c2 >= base * 2 * 0.75, `second retry after ${String(c3 - c2)} ms`);
      const retries = run.logs.filter((l) => l.event === 'upstream_retry');
      assert.deepEqual(
        retries.map((l) => [l.attempt, l.code]),
        [
          [1, 'CM_ERR_OPENSTACK_SERVER'],
          [2, 'CM_ERR_OPENSTACK_CONNECTION'],
        ],
      );
      assert.match(String(retries[1]?.error), /ECONNREFUSED/);
      assert.equal(run.stacksLeft(), 1, 'exactly one stack');
    });
  });

  it('(c) a transient error that does not end fails the topology after the deadline, with the last error', { timeout: 60_000 }, async () => {
    const deadline = 800;
    await withDeployer(refused, { retryDeadlineMs: deadline, retryBaseMs: 50 }, async (run) => {
      const id = await run.submit();
      const started = Date.now();
      const t = await run.settle(id, ['FAILED', 'ACTIVE']);
      assert.equal(t.state, 'FAILED');
      assert.ok(Date.now() - started >= deadline * 0.9, `FAILED after ${String(Date.now() - started)} ms`);
      assert.equal(t.error?.code, 'CM_ERR_OPENSTACK_CONNECTION');
      assert.match(t.error.message, /still failing after \d+ attempt\(s\).*connection failed: connect ECONNREFUSED/);
      // 50, 100, 200, 400 ms (less jitter), cut at the deadline: a handful of attempts, not a spin.
      assert.ok(run.creates.length >= 3 && run.creates.length <= 8, `${String(run.creates.length)} creates`);
      assert.equal((await run.store.events(id)).at(-1)?.state, 'FAILED');
      await sleep(300);
      const after = run.creates.length;
      await sleep(300);
      assert.equal(run.creates.length, after, 'nothing more once FAILED');
    });
  });

  it('(e) a 3.5 MiB topology name does not end up in a log line', { timeout: 60_000 }, async () => {
    const huge = 'N'.repeat(3.5 * 1024 * 1024);
    await withDeployer(heat413, {}, async (run) => {
      const id = await run.submit(huge);
      assert.equal((await run.settle(id, ['FAILED', 'ACTIVE'])).state, 'FAILED');
      assert.ok(run.logs.length > 0);
      const lines = run.logs.map((l) => JSON.stringify(l));
      const longest = Math.max(...lines.map((l) => l.length));
      assert.ok(longest < 8 * 1024, `longest log line ${String(longest)} chars`);
      const transition = run.logs.find((l) => l.event === 'transition' && l.to === 'FAILED');
      assert.equal(typeof transition?.name, 'string');
      assert.match(String(transition?.name), /^N{2048}…\[3667968 more chars cut\]$/);
    });
    // The helper main.ts's logEvent uses as well: nested strings, long arrays, no half surrogate pair.
    const bounded = boundLogFields({ a: { b: ['x'.repeat(5000)] }, list: Array.from({ length: 150 }, (_, i) => i) }, 100);
    assert.equal(JSON.stringify(bounded).length < 1000, true);
    assert.deepEqual((bounded.list as unknown[]).at(-1), '…[50 more items cut]');
    assert.equal(boundText(`${'a'.repeat(9)}😀b`, 10), `${'a'.repeat(9)}…[3 more chars cut]`);
  });
});

/** An agent like startSimAgent's, listening on `port` (to come back where the manager looks for it). */
function startAgentOn(sim: Parameters<typeof simAgentOptions>[0], port: number): Promise<RunningAgent> {
  return startAgent(
    parseAgentConfig(`listen: { host: 127.0.0.1, port: ${String(port)} }\nauth: { tokens: [${AGENT_TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: cm-agent`, {}),
    simAgentOptions(sim, { log: false }),
  );
}

interface View {
  id: string;
  state: string;
  error: { code: string; message: string } | null;
  pending?: { sla_removal: { servers: string[] } } | null;
  units: { name: string; server_id: string | null; sla_state: string | null }[];
  events: { state: string; message: string }[];
}

/** Heat taking a stack delete and then failing it (DELETE_FAILED) the first `times` times, or never finishing it. */
function deletesThatFail(times: number, mode: 'fail' | 'hang' = 'fail') {
  const requests: number[] = [];
  let looks = 0;
  let failed = 0;
  let failingNow = false;
  const wrap = (real: CloudApi['heat']): Partial<CloudApi['heat']> => ({
    deleteStack: async (n, i, o) => {
      requests.push(Date.now());
      if (failed < times) {
        failed += 1;
        failingNow = true;
        return;
      }
      failingNow = false;
      return real.deleteStack(n, i, o);
    },
    findStack: async (n, i, o) => {
      const stack = await real.findStack(n, i, o);
      if (!stack || !failingNow) return stack;
      looks += 1;
      return mode === 'hang' ? { ...stack, status: 'DELETE_IN_PROGRESS', statusReason: 'Stack DELETE started' } : { ...stack, status: 'DELETE_FAILED', statusReason: 'Resource DELETE failed: Conflict: port in use' };
    },
  });
  return { requests, wrap, looks: () => looks };
}

describe('deployer: deleting a stack is looked at again, never waited for in a loop (issue 17)', () => {
  const deleteActive = async (run: Run): Promise<string> => {
    const id = await run.submit();
    assert.equal((await run.settle(id, ['ACTIVE', 'FAILED'])).state, 'ACTIVE');
    await run.store.transition(id, { from: ['ACTIVE'], to: 'DELETING', message: 'delete requested' });
    return id;
  };

  it('a stack Heat fails to delete once is asked again, and the topology ends DELETED', { timeout: 60_000 }, async () => {
    const heat = deletesThatFail(1);
    await withDeployer(() => undefined, { heat: heat.wrap }, async (run) => {
      const id = await deleteActive(run);
      const t = await run.settle(id, ['DELETED', 'FAILED']);
      assert.equal(t.state, 'DELETED', JSON.stringify(t.error));
      assert.equal(heat.requests.length, 2, 'asked twice');
      assert.equal(run.stacksLeft(), 0);
      assert.ok(run.logs.some((l) => l.event === 'stack_delete_retry' && /port in use/.test(String(l.reason))), 'the retry is logged with Heat\'s reason');
      assert.match((await run.store.events(id)).at(-1)?.message ?? '', /^SLAs of 5 server\(s\) removed, stack cm-failures-1 deleted$/);
    });
  });

  it('a stack that fails to delete twice FAILs the topology with Heat\'s reason', { timeout: 60_000 }, async () => {
    const heat = deletesThatFail(2);
    await withDeployer(() => undefined, { heat: heat.wrap }, async (run) => {
      const id = await deleteActive(run);
      const t = await run.settle(id, ['DELETED', 'FAILED']);
      assert.equal(t.state, 'FAILED');
      assert.equal(t.error?.code, 'CM_ERR_STACK_DELETE_FAILED');
      assert.match(t.error.message, /DELETE_FAILED: Resource DELETE failed: Conflict: port in use/);
      assert.equal(heat.requests.length, 2);
    });
  });

  it('a stack still deleting after the stack timeout FAILs the topology; it was looked at again meanwhile, not waited for', { timeout: 60_000 }, async () => {
    const heat = deletesThatFail(1, 'hang');
    await withDeployer(() => undefined, { heat: heat.wrap, stackTimeoutS: 2 }, async (run) => {
      const id = await deleteActive(run);
      const t = await run.settle(id, ['DELETED', 'FAILED']);
      assert.equal(t.state, 'FAILED');
      assert.equal(t.error?.code, 'CM_ERR_STACK_DELETE_TIMEOUT');
      assert.match(t.error.message, /not deleted after 2 s \(DELETE_IN_PROGRESS\)/);
      // Each look is one step of the drive, re-queued with the poll backoff (20 ms growing to 2 s): several in 2 s.
      assert.ok(heat.looks() >= 3, `looks: ${String(heat.looks())}`);
      assert.equal(heat.requests.length, 1, 'asked once: a stack in progress is not asked again');
    });
  });
});

describe('deployer: DELETE while the agent is down', () => {
  it('(d) deletes the stack, shows the SLA removal pending, and ends DELETED once the agent is back', { timeout: 120_000 }, async () => {
    const { sim, agent, api, close } = await startStack();
    let revived: RunningAgent | undefined;
    try {
      const id = (await api<View>('POST', '/v1/topologies', { topology: THESIS_YAML })).json.id;
      const read = async (): Promise<View> => (await api<View>('GET', `/v1/topologies/${id}`)).json;
      const active = await until('ACTIVE', read, (v) => v.state === 'ACTIVE' || v.state === 'FAILED', 60_000);
      assert.equal(active.state, 'ACTIVE', JSON.stringify(active.error));
      const servers = active.units.flatMap((u) => (u.server_id === null ? [] : [u.server_id]));
      assert.equal(servers.length, 5);

      const port = Number(new URL(agent.url).port);
      await agent.stop();
      assert.equal((await api<View>('DELETE', `/v1/topologies/${id}`)).json.state, 'DELETING');

      // Shown while Heat deletes the stack ("deleting stack …; SLA removal … pending"), then once it is gone.
      const pending = await until('the SLA removal pending, the stack gone', read, (v) => /^stack \S+ deleted;/.test(v.error?.message ?? '') || v.state !== 'DELETING', 20_000);
      assert.equal(pending.state, 'DELETING');
      assert.match(pending.error?.message ?? '', /^stack cm-\S+ deleted; SLA removal of 5 server\(s\) pending: agent unreachable \(.*unreachable/);
      assert.deepEqual([...(pending.pending?.sla_removal.servers ?? [])].sort(), [...servers].sort());
      assert.deepEqual(
        pending.units.map((u) => u.sla_state),
        servers.map(() => 'removal-pending'),
      );
      assert.ok(pending.events.some((e) => e.state === 'DELETING' && /^deleting stack \S+; SLA removal of 5 server\(s\) pending/.test(e.message)), 'a history event while the stack was deleting');
      assert.ok(pending.events.some((e) => e.state === 'DELETING' && /^stack \S+ deleted; SLA removal of 5 server\(s\) pending/.test(e.message)), 'and one once it was gone');
      assert.equal([...sim.state.stacks.values()].filter((s) => !s.status.startsWith('DELETE')).length, 0, 'the stack is gone');
      assert.equal(sim.state.servers.size, 0, 'the servers are gone');

      // Still pending a moment later: it waits for the agent, it does not give up.
      await sleep(1500);
      assert.equal((await read()).state, 'DELETING');

      revived = await startAgentOn(sim, port);
      const done = await until('DELETED', read, (v) => v.state !== 'DELETING', 40_000);
      assert.equal(done.state, 'DELETED', JSON.stringify(done.error));
      assert.equal(done.error, null, 'the pending mark is cleared');
      assert.equal(done.pending, null);
      assert.ok(done.units.every((u) => u.sla_state === null));
      assert.match(done.events.at(-1)?.message ?? '', /SLAs of 5 server\(s\) removed/);
    } finally {
      await revived?.stop();
      await close();
    }
  });
});

describe('deployer: OpenStack errors are not swallowed (issue 17)', () => {
  it("a quota that cannot be read is logged (quota_unknown) with the caller's project, and the plan is still made", async () => {
    const sim = await startSimCloud();
    const agent = await startSimAgent(sim);
    const openstack = createOpenStack(simCloudConfig(sim));
    const agentClient = new AgentClient({ url: agent.url, token: AGENT_TOKEN });
    const store = await openManagerStore({ url: 'sqlite::memory:' });
    const logs: Record<string, unknown>[] = [];
    const projects: (string | undefined)[] = [];
    const cloud: CloudApi = {
      nova: {
        listFlavors: (q, o) => openstack.nova.listFlavors(q, o),
        getServer: (id, o) => openstack.nova.getServer(id, o),
        limits: (q) => {
          projects.push(q?.tenantId);
          return Promise.reject(apiError({ service: 'compute', status: 403, serviceCode: 'Forbidden', message: 'Policy does not allow os_compute_api:limits:other_project to be performed.', requestId: 'req-403', method: 'GET', url: 'http://nova.example/limits' }));
        },
      },
      heat: openstack.heat,
    };
    const deployer = new Deployer({ store, agent: agentClient, cloud, classes: DEFAULT_SLA_CLASSES, uplink: { defaultBps: 1e9, hosts: {} }, availabilityZone: 'nova', stackTimeoutS: 60, enforceTimeoutS: 30, leaseMs: 30_000, logger: (e) => logs.push(e) });
    try {
      const planned = await deployer.plan({ format: 'yaml', files: [{ name: 'thesis.yaml', text: THESIS_YAML }], strategy: 'traffic-aware' }, undefined, undefined, 'project-of-the-caller');
      assert.equal(planned.plan.feasible, true);
      assert.deepEqual(projects, ['project-of-the-caller'], "the caller's project's quota is what is read");
      const logged = logs.find((e) => e.event === 'quota_unknown');
      assert.ok(logged, JSON.stringify(logs));
      assert.equal(logged.project, 'project-of-the-caller');
      assert.match(String(logged.error), /os_compute_api:limits:other_project/);
    } finally {
      await stopAll({ deployer, store, agentClient, openstack, agent, sim });
    }
  });
});
