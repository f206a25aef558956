/**
 * Start-up without the agent's dependencies (issue 16): started while Keystone is
 * unreachable, the agent listens, answers /healthz, says not ready on /readyz
 * naming Keystone, retries with backoff, and becomes ready once a cloud answers
 * on that port. Keystone refusing the credentials (401) is retried too, named
 * in /readyz and logged as an error. Real configuration problems still end the
 * `cm-agent` process with exit code 2.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { startAgent, type RunningAgent } from '../../src/agent/main.ts';
import { isConfigurationProblem, MissingRoleError } from '../../src/agent/startup.ts';
import type { CloudConfig } from '../../src/openstack/index.ts';
import { startSimCloud, type ScenarioObject, type SimCloud } from '../../src/sim/index.ts';
import { freePort } from '../harness/net.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const BIN = path.join(ROOT, 'bin', 'cm-agent.mjs');
const TOKEN = 'not-ready-token-0123456789';
const PASSWORD = 'not-ready-pass';

const scenario: ScenarioObject = {
  region: 'RegionOne',
  hosts: ['compute1', 'compute2'].map((name) => ({ name, az: 'nova', vcpus: 8, memory_mb: 8192, disk_gb: 100, cpu_allocation_ratio: 1, ram_allocation_ratio: 1, disk_allocation_ratio: 1 })),
  flavors: [{ id: '1', name: 'm1.nano', vcpus: 1, ram: 64, disk: 1 }],
  projects: [{ name: 'admin', quotas: { instances: 10, cores: 10, ram: 640 }, users: [{ name: 'admin', password: PASSWORD, roles: ['admin'] }] }],
  networks: [{ name: 'private', cidr: '10.0.0.0/24', shared: true }],
};

/** What clouds.yaml would give for the scenario's admin on a Keystone at this port. */
function cloudAt(port: number, password = PASSWORD): CloudConfig {
  return {
    cloudName: 'test',
    authType: 'password',
    auth: { authUrl: `http://127.0.0.1:${String(port)}/identity/v3`, username: 'admin', password, projectName: 'admin', userDomainName: 'Default', projectDomainName: 'Default' },
    regionName: 'RegionOne',
    interface: 'public',
    insecure: false,
    source: 'test',
  };
}

interface Readiness {
  status: number;
  contentType: string;
  body: { detail?: string; ready?: boolean; reasons?: { host: string | null; reason: string; dependency?: string }[] };
}

async function readiness(url: string): Promise<Readiness> {
  const r = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5000) });
  return { status: r.status, contentType: r.headers.get('content-type') ?? '', body: (await r.json()) as Readiness['body'] };
}

async function eventually<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}${last instanceof Error ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const agentConfig = (): ReturnType<typeof parseAgentConfig> =>
  parseAgentConfig(
    `listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: cm-agent-not-ready\ninventory: { refresh_interval_ms: 1000 }\nenforcement: { guarantees: { enabled: false } }\n`,
    {},
  );

describe('agent started while its dependencies are unreachable', () => {
  const cleanups: (() => Promise<void>)[] = [];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'cm-agent-not-ready-'));
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  /** An agent on `sim` with `cloud`'s credentials that keeps retrying its start (stopped after the suite). */
  const startRetryingAgent = async (sim: SimCloud, cloud: CloudConfig, events: Record<string, unknown>[]): Promise<RunningAgent> => {
    const agent = await startAgent(agentConfig(), {
      cloud,
      ovsdbEndpoint: (host) => sim.ovsdbEndpoint(host),
      log: false,
      events: (e) => events.push(e),
      waitReady: false,
      startupRetry: { initialMs: 100, maxMs: 400 },
    });
    cleanups.push(() => agent.stop());
    return agent;
  };

  it('listens at once, /readyz names keystone until a cloud answers on its port, then becomes ready', async () => {
    const port = await freePort();
    const events: Record<string, unknown>[] = [];
    // The cloud's hosts' switches exist only once the cloud does.
    const cloud: { sim?: SimCloud } = {};
    const started = Date.now();
    const agent: RunningAgent = await startAgent(agentConfig(), {
      cloud: cloudAt(port),
      ovsdbEndpoint: (host) => cloud.sim?.ovsdbEndpoint(host),
      log: false,
      events: (e) => events.push(e),
      waitReady: false,
      startupRetry: { initialMs: 100, maxMs: 800 },
    });
    cleanups.push(() => agent.stop());
    let readyResolved = false;
    void agent.ready.then(() => (readyResolved = true), () => undefined);

    const health = await fetch(`${agent.url}/healthz`);
    assert.equal(health.status, 200, 'the process is up');
    const notReady = await eventually('/readyz naming keystone', async () => {
      const r = await readiness(agent.url);
      return r.body.reasons?.some((x) => x.dependency === 'keystone') === true ? r : undefined;
    }, 10_000);
    assert.equal(notReady.status, 503);
    assert.match(notReady.contentType, /^application\/problem\+json/);
    assert.equal(notReady.body.ready, false);
    assert.match(notReady.body.detail ?? '', /keystone unavailable: .*ECONNREFUSED/);
    const reason = notReady.body.reasons?.find((x) => x.dependency === 'keystone');
    assert.ok(reason);
    assert.equal(reason.host, null);
    assert.match(reason.reason, /attempt\(s\) since .*; next in \d+ s/);
    // The API says why it cannot answer yet rather than failing the connection.
    const hosts = await fetch(`${agent.url}/v1/hosts`, { headers: { authorization: `Bearer ${TOKEN}` } });
    assert.equal(hosts.status, 503);

    // Retried with backoff (0.1 s doubling, capped at 0.8 s here), each attempt logged in one bounded line.
    await eventually('three attempts', () => Promise.resolve(events.filter((e) => e.event === 'dependency_unavailable').length >= 3 ? true : undefined), 10_000);
    const retries = events.filter((e) => e.event === 'dependency_unavailable');
    assert.ok(retries.every((e) => e.dependency === 'keystone' && e.level === 'warn' && String(e.error).length <= 300), JSON.stringify(retries[0]));
    assert.ok(retries.every((e, i) => i === 0 || Number(e.retryInMs) >= Number(retries[i - 1]?.retryInMs) * 0.9), 'the delay grows');
    assert.equal(readyResolved, false);

    // The cloud comes up on that port: the agent reads it and becomes ready.
    const sim = await startSimCloud({ scenario, port, bootDelayMs: 10 });
    cloud.sim = sim;
    cleanups.push(() => sim.close());
    const cloudUp = Date.now();
    const ready = await eventually('/readyz 200', async () => {
      const r = await readiness(agent.url);
      return r.status === 200 ? r : undefined;
    }, 15_000);
    assert.equal(ready.body.ready, true);
    assert.deepEqual(ready.body.reasons, []);
    await agent.ready;
    assert.ok(Date.now() - cloudUp < 15_000);
    assert.ok(events.some((e) => e.event === 'dependency_available' && e.dependency === 'keystone'), 'the recovery is logged');
    assert.ok(events.some((e) => e.event === 'agent_started'));
    const listed = (await (await fetch(`${agent.url}/v1/hosts`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as { hosts: { name: string }[] };
    assert.deepEqual(listed.hosts.map((h) => h.name), ['compute1', 'compute2']);
    console.log(`not ready for ${String(cloudUp - started)} ms; ready ${String(Date.now() - cloudUp)} ms after the cloud came up`);
  });

  it('Keystone refusing the credentials (401) is retried, logged as an error and named by /readyz', async () => {
    const sim = await startSimCloud({ scenario, bootDelayMs: 10 });
    cleanups.push(() => sim.close());
    const port = Number(new URL(sim.authUrl).port);
    const events: Record<string, unknown>[] = [];
    const agent = await startRetryingAgent(sim, cloudAt(port, 'wrong-password'), events);
    const r = await eventually('/readyz naming the refused credentials', async () => {
      const x = await readiness(agent.url);
      return x.body.reasons?.some((y) => y.dependency === 'keystone' && /refused the agent's credentials/.test(y.reason)) === true ? x : undefined;
    }, 10_000);
    assert.equal(r.status, 503);
    assert.match(r.body.detail ?? '', /401/);
    await eventually('two attempts', () => Promise.resolve(events.filter((e) => e.event === 'dependency_unavailable').length >= 2 ? true : undefined), 10_000);
    const retry = events.find((e) => e.event === 'dependency_unavailable');
    assert.ok(retry);
    assert.equal(retry.level, 'error');
    assert.equal(retry.dependency, 'keystone');
    assert.equal((await fetch(`${agent.url}/healthz`)).status, 200, 'still up: no exit');
  });

  it('member-only credentials end the start-up with a configuration problem naming the admin role and the policy (issue 17)', async () => {
    const withMember: ScenarioObject = { ...scenario, projects: [...scenario.projects, { name: 'demo', quotas: { instances: 1, cores: 1, ram: 64 }, users: [{ name: 'demo', password: PASSWORD, roles: ['member'] }] }] };
    const sim = await startSimCloud({ scenario: withMember, bootDelayMs: 10 });
    cleanups.push(() => sim.close());
    const port = Number(new URL(sim.authUrl).port);
    const member = cloudAt(port);
    member.auth = { ...member.auth, username: 'demo', projectName: 'demo' };
    const events: Record<string, unknown>[] = [];
    const agent = await startRetryingAgent(sim, member, events);
    const error = await agent.ready.then(
      () => assert.fail('started with member-only credentials'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof MissingRoleError, String(error));
    // The first of the reads made together to be refused: Placement's providers or Nova's services.
    assert.ok(error.policy === 'placement:resource_providers:list' || error.policy === 'os_compute_api:os-services:list', error.policy);
    assert.match(error.message, /lack the admin role: (placement|compute) refused GET \/\S+ \(403, policy (placement|os_compute_api):\S+\); .*openstack role add --user <user> --project <project> admin/);
    assert.ok(isConfigurationProblem(error), 'exit code 2');
    const failed = events.find((e) => e.event === 'startup_failed');
    assert.equal(failed?.configuration, true);
    assert.equal(events.filter((e) => e.event === 'dependency_unavailable').length, 0, 'not retried');
  });

  it('as a process: up and not ready while Keystone is unreachable (no exit 2); configuration problems still exit 2', async () => {
    const port = await freePort();
    const agentPort = await freePort();
    const configFile = path.join(dir, 'agent.yaml');
    writeFileSync(
      configFile,
      `listen: { host: 127.0.0.1, port: ${String(agentPort)} }\nauth: { tokens: [${TOKEN}] }\nstore: { path: "${path.join(dir, 'sla.db')}" }\novsdb: { template: "unix:/unused/{host}" }\n`,
    );
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OS_') && !k.startsWith('CM_AGENT_')));
    const osEnv = {
      OS_AUTH_URL: `http://127.0.0.1:${String(port)}/identity/v3`,
      OS_USERNAME: 'admin',
      OS_PASSWORD: PASSWORD,
      OS_PROJECT_NAME: 'admin',
      OS_USER_DOMAIN_NAME: 'Default',
      OS_PROJECT_DOMAIN_NAME: 'Default',
      OS_REGION_NAME: 'RegionOne',
    };
    const child = spawn(process.execPath, [BIN, '--config', configFile], { env: { ...base, ...osEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => { resolve(code); }));
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    });
    const url = `http://127.0.0.1:${String(agentPort)}`;
    await eventually('/healthz 200', async () => {
      if (child.exitCode !== null) throw new Error(`exited with ${String(child.exitCode)}:\n${output}`);
      return (await fetch(`${url}/healthz`)).ok ? true : undefined;
    }, 30_000);
    const r = await readiness(url);
    assert.equal(r.status, 503);
    assert.ok(r.body.reasons?.some((x) => x.dependency === 'keystone'), JSON.stringify(r.body));
    // The old agent gave up after its first attempt (exit 2): this one keeps waiting.
    await new Promise((resolve) => setTimeout(resolve, 4000));
    assert.equal(child.exitCode, null, `still running:\n${output.slice(-2000)}`);
    assert.match(output, /"event":"dependency_unavailable".*"dependency":"keystone"/);
    child.kill('SIGTERM');
    assert.equal(await exited, 0);

    // Configuration problems: a value out of range, and credentials of the wrong shape (no password).
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, `auth: { tokens: [${TOKEN}] }\novsdb: { template: "unix:/unused/{host}" }\nsla: { orphan_grace_ms: 5 }\n`);
    const invalid = spawnSync(process.execPath, [BIN, '--config', bad], { encoding: 'utf8', env: { ...base, ...osEnv }, timeout: 30_000 });
    assert.equal(invalid.status, 2, invalid.stderr);
    assert.match(invalid.stderr, /sla\.orphan_grace_ms: must be an integer from 1000 to/);
    const { OS_PASSWORD: _omitted, ...noPassword } = osEnv;
    const shapeless = spawnSync(process.execPath, [BIN, '--config', configFile], { encoding: 'utf8', env: { ...base, ...noPassword }, timeout: 30_000 });
    assert.equal(shapeless.status, 2, shapeless.stderr);
    assert.match(shapeless.stderr, /password/i);
  });
});
