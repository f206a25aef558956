/**
 * Issue 16, a manager started before what it depends on: it used to exit (code 2 from cm-manager) about 3 s after
 * starting when Keystone, the agent or the store could not be reached. Now it serves /healthz at once, /readyz
 * says 503 not-ready with the reason, the routes that need its project or store answer 503 not-ready, and it
 * keeps trying in the background (0.5 s, 1 s, 2 s … 30 s) until they are there. /readyz makes a real request to
 * Keystone (it used to ask for the cached token: ready while Keystone was down). Only configuration problems
 * still end the start (ManagerConfigError).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, simCloudConfig, startAgent, type RunningAgent } from '../../src/agent/main.ts';
import { ManagerConfigError, parseManagerConfig } from '../../src/manager/config.ts';
import { startManager, type RunningManager } from '../../src/manager/main.ts';
import type { CloudConfig } from '../../src/openstack/index.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { freePort } from '../harness/net.ts';
import { postgresAvailable, startPostgres, type PostgresHandle } from '../harness/postgres.ts';
import { AGENT_TOKEN, deployThenDelete, MANAGER_TOKEN, managerApi, startStack, until, type Stack } from './stack.ts';

const FIXTURES = path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis');
const THESIS_YAML = { topology_file: 'thesis.yaml', topology: readFileSync(path.join(FIXTURES, 'thesis.yaml'), 'utf8') };

interface Problem {
  status: number;
  type: string;
  detail: string;
  reasons?: string[];
}

function managerConfig(o: { agentUrl: string; store?: string; extra?: string }) {
  return parseManagerConfig(
    [
      'listen: { host: 127.0.0.1, port: 0 }',
      `auth: { tokens: [${MANAGER_TOKEN}] }`,
      `agent: { url: "${o.agentUrl}", token: ${AGENT_TOKEN} }`,
      `store: { url: ${JSON.stringify(o.store ?? 'sqlite::memory:')} }`,
      o.extra ?? '',
    ].join('\n'),
    {},
  );
}

function startAgentOn(sim: SimCloud, port: number): Promise<RunningAgent> {
  return startAgent(
    parseAgentConfig(`listen: { host: 127.0.0.1, port: ${String(port)} }\nauth: { tokens: [${AGENT_TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: cm-agent`, {}),
    simAgentOptions(sim, { log: false }),
  );
}

async function readyz(url: string): Promise<{ status: number; json: Problem & { ready?: boolean } }> {
  const r = await fetch(`${url}/readyz`);
  return { status: r.status, json: (await r.json()) as Problem & { ready?: boolean } };
}

/** A TCP port that forwards to `target` once started: a database that comes up later. */
async function forwarder(port: number, target: number): Promise<{ close(): Promise<void> }> {
  const open = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('error', end);
      s.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      resolve();
    });
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of open) s.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

describe('a manager started while Keystone and the agent are unreachable', () => {
  let cloud: CloudConfig;
  let cloudPort: number;
  let agentPort: number;
  let manager: RunningManager | undefined;
  let sim: SimCloud | undefined;
  let agent: RunningAgent | undefined;

  before(async () => {
    // The cloud's address and credentials, then the cloud gone: its Keystone is a closed port.
    const probe = await startSimCloud();
    cloud = simCloudConfig(probe);
    cloudPort = Number(new URL(probe.authUrl).port);
    await probe.close();
    agentPort = await freePort();
  });
  after(async () => {
    await manager?.stop();
    await agent?.stop();
    await sim?.close();
  });

  it('serves /healthz, says why in /readyz and on the routes, and becomes ready (and deploys) once they are up', async () => {
    const t0 = Date.now();
    manager = await startManager(managerConfig({ agentUrl: `http://127.0.0.1:${String(agentPort)}` }), { cloud, log: false, pollMs: 50, claimIntervalMs: 200 });
    assert.ok(Date.now() - t0 < 15_000, 'startManager returns without waiting for Keystone');
    const api = managerApi(manager);

    assert.equal((await fetch(`${manager.url}/healthz`)).status, 200);
    const notReady = await readyz(manager.url);
    assert.equal(notReady.status, 503);
    assert.equal(notReady.json.type, '/problems/not-ready');
    assert.ok(notReady.json.reasons?.some((r) => r.startsWith('keystone: ')), JSON.stringify(notReady.json));
    assert.ok(notReady.json.reasons?.some((r) => r.startsWith('agent: ')), JSON.stringify(notReady.json));

    for (const [method, route, body] of [
      ['POST', '/v1/topologies', THESIS_YAML],
      ['POST', '/v1/plans', THESIS_YAML],
      ['GET', '/v1/topologies', undefined],
      ['GET', '/services', undefined],
    ] as const) {
      const r = await api<Problem>(method, route, body);
      assert.equal(r.status, 503, `${method} ${route}: ${JSON.stringify(r.json)}`);
      assert.match(r.headers.get('content-type') ?? '', /application\/problem\+json/);
      assert.equal(r.json.type, '/problems/not-ready');
      assert.match(r.json.detail, /keystone: /);
    }

    sim = await startSimCloud({ port: cloudPort });
    agent = await startAgentOn(sim, agentPort);
    const m = manager;
    await until('readyz 200', () => readyz(m.url), (r) => r.status === 200, 45_000);

    await deployThenDelete(api, '/v1/topologies', THESIS_YAML);
  });
});

describe('Keystone going down after the start', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(async () => {
    await (stack as Stack | undefined)?.close();
  });

  it('turns /readyz to 503 naming keystone within a few seconds, and back to 200 when it returns', async () => {
    assert.equal((await readyz(stack.manager.url)).status, 200);
    stack.sim.faults.serviceDown('keystone', true);
    const t0 = Date.now();
    const down = await until('readyz 503', () => readyz(stack.manager.url), (r) => r.status === 503, 10_000);
    assert.ok(Date.now() - t0 < 5000, `noticed after ${String(Date.now() - t0)} ms`);
    assert.ok(down.json.reasons?.some((r) => r.startsWith('keystone: ')), JSON.stringify(down.json));
    stack.sim.faults.serviceDown('keystone', false);
    await until('readyz 200 again', () => readyz(stack.manager.url), (r) => r.status === 200, 10_000);
  });
});

let pgGate: { skip: false } | { skip: string };
let pgError: Error | undefined;
try {
  pgGate = postgresAvailable();
} catch (error) {
  pgGate = { skip: false };
  pgError = error as Error;
}

describe('a manager started while its PostgreSQL store is down', { skip: pgGate.skip }, () => {
  let pg: PostgresHandle | undefined;
  let sim: SimCloud | undefined;
  let agent: RunningAgent | undefined;
  let manager: RunningManager | undefined;
  let forward: { close(): Promise<void> } | undefined;

  before(async () => {
    if (pgError) throw pgError;
    pg = await startPostgres();
    sim = await startSimCloud();
    agent = await startAgentOn(sim, 0);
  });
  after(async () => {
    await manager?.stop();
    await forward?.close();
    await agent?.stop();
    await sim?.close();
    await pg?.stop();
  });

  it('starts, says the store is not ready, and serves the catalog once the database answers', async () => {
    assert.ok(pg && sim && agent);
    const db = new URL(await pg.createDatabase());
    const target = Number(db.port);
    db.port = String(await freePort());
    manager = await startManager(managerConfig({ agentUrl: agent.url, store: db.toString() }), { cloud: simCloudConfig(sim), log: false, pollMs: 50, claimIntervalMs: 200 });
    const api = managerApi(manager);
    const notReady = await readyz(manager.url);
    assert.equal(notReady.status, 503);
    assert.ok(notReady.json.reasons?.some((r) => r.startsWith('store: ')), JSON.stringify(notReady.json));
    const refused = await api<Problem>('POST', '/services', { service_type: 'Broker' });
    assert.equal(refused.status, 503);
    assert.match(refused.json.detail, /store: /);
    assert.equal(refused.headers.get('retry-after'), '5');
    // Metrics go on (without the topology counts) while the store is away.
    assert.equal((await fetch(`${manager.url}/metrics`, { headers: { authorization: `Bearer ${MANAGER_TOKEN}` } })).status, 200);

    forward = await forwarder(Number(db.port), target);
    const m = manager;
    await until('readyz 200', () => readyz(m.url), (r) => r.status === 200, 45_000);
    const broker = JSON.parse(readFileSync(path.join(FIXTURES, 'BrokerService.json'), 'utf8')) as unknown;
    assert.equal((await api('POST', '/services', broker)).status, 201);
    assert.equal((await api<unknown[]>('GET', '/services')).json.length, 1);
  });
});

describe('configuration problems still end the start', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'cm-not-ready-'));
  after(() => {
    rmSync(tmp, { recursive: true, force: true });
  });
  // Nothing listens here: were these not configuration errors, the manager would start and wait for it.
  const unreachable: CloudConfig = {
    cloudName: 'nowhere',
    authType: 'password',
    auth: { authUrl: 'http://127.0.0.1:1/identity/v3', username: 'u', password: 'p', projectName: 'p', userDomainName: 'Default', projectDomainName: 'Default' },
    interface: 'public',
    insecure: false,
    source: 'test',
  };

  it('an invalid configuration, a bad catalog file and a SQLite store that cannot be opened are ManagerConfigErrors, at once', async () => {
    assert.throws(() => managerConfig({ agentUrl: 'not a url' }), ManagerConfigError);

    const junk = path.join(tmp, 'Junk.json');
    writeFileSync(junk, '{ "service_type": "Junk" }');
    const t0 = Date.now();
    // Should one start after all, it must not outlive the test.
    const attempt = (config: ReturnType<typeof managerConfig>): Promise<RunningManager> => {
      const p = startManager(config, { cloud: unreachable, log: false });
      void p.then((m) => m.stop(), () => undefined);
      return p;
    };
    await assert.rejects(attempt(managerConfig({ agentUrl: 'http://127.0.0.1:1', extra: `catalog: { services: [${JSON.stringify(junk)}] }` })), (error: unknown) => {
      assert.ok(error instanceof ManagerConfigError, String(error));
      assert.ok(error.problems.some((p) => p.field === 'catalog.services[0]' && /image: is required/.test(p.message)), JSON.stringify(error.problems));
      return true;
    });

    const file = path.join(tmp, 'a-file');
    writeFileSync(file, '');
    await assert.rejects(attempt(managerConfig({ agentUrl: 'http://127.0.0.1:1', store: `sqlite:${path.join(file, 'sub', 'manager.db')}` })), (error: unknown) => {
      assert.ok(error instanceof ManagerConfigError, String(error));
      assert.deepEqual(error.problems.map((p) => p.field), ['store.url']);
      return true;
    });
    assert.ok(Date.now() - t0 < 10_000, `took ${String(Date.now() - t0)} ms`);
  });
});
