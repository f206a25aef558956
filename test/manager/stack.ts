/**
 * The three services as the manager tests run them: a simulated cloud, the
 * agent on it (in-process, real HTTP) and the manager talking to both, plus a
 * small JSON client of the manager's API.
 */
import assert from 'node:assert/strict';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, simCloudConfig, startAgent, type RunningAgent } from '../../src/agent/main.ts';
import { parseManagerConfig } from '../../src/manager/config.ts';
import { startManager, type RunningManager, type StartManagerOptions } from '../../src/manager/main.ts';
import { startSimCloud, type SimCloud, type SimCloudOptions } from '../../src/sim/index.ts';

export const AGENT_TOKEN = 'agent-token-0123456789abcdef';
export const MANAGER_TOKEN = 'manager-token-0123456789abcdef';

/** The agent on `sim` (in-memory SLA store). */
export function startSimAgent(sim: SimCloud, owner = 'cm-agent', yaml = ''): Promise<RunningAgent> {
  return startAgent(
    parseAgentConfig(`listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${AGENT_TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: ${owner}\n${yaml}`, {}),
    simAgentOptions(sim, { log: false }),
  );
}

/** A manager on `sim` through `agent`; `yaml` adds configuration lines (auth, store, placement, deploy…); `options.cloud` other credentials. */
export function startSimManager(sim: SimCloud, agent: RunningAgent, yaml: Record<string, string> = {}, options: Partial<StartManagerOptions> = {}): Promise<RunningManager> {
  const sections: Record<string, string> = {
    listen: '{ host: 127.0.0.1, port: 0 }',
    auth: `{ tokens: [${MANAGER_TOKEN}] }`,
    agent: `{ url: "${agent.url}", token: ${AGENT_TOKEN} }`,
    store: '{ url: "sqlite::memory:" }',
    ...yaml,
  };
  const text = Object.entries(sections)
    .map(([k, v]) => `${k}: ${v}`)
    .join('\n');
  return startManager(parseManagerConfig(text, {}), { cloud: simCloudConfig(sim), log: false, pollMs: 50, claimIntervalMs: 200, ...options });
}

export interface ApiAnswer<T> {
  status: number;
  json: T;
  headers: Headers;
}

/** JSON calls to a manager with its token. */
export function managerApi(manager: RunningManager, token = MANAGER_TOKEN) {
  // The caller names the body type it expects.
  return async <T,>(method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<ApiAnswer<T>> => {
    const response = await fetch(`${manager.url}${p}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: (text ? JSON.parse(text) : undefined) as T, headers: response.headers };
  };
}

export interface Stack {
  sim: SimCloud;
  agent: RunningAgent;
  manager: RunningManager;
  api: ReturnType<typeof managerApi>;
  close: () => Promise<void>;
}

export async function startStack(o: { sim?: SimCloudOptions; manager?: Record<string, string> } = {}): Promise<Stack> {
  const sim = await startSimCloud(o.sim);
  const closers: (() => Promise<void>)[] = [() => sim.close()];
  const close = async (): Promise<void> => {
    for (const c of closers.reverse()) await c();
  };
  try {
    const agent = await startSimAgent(sim);
    closers.push(() => agent.stop());
    const manager = await startSimManager(sim, agent, o.manager);
    closers.push(() => manager.stop());
    return { sim, agent, manager, api: managerApi(manager), close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Submits a topology (`POST path`), checks that it becomes ACTIVE, deletes it and waits until it is DELETED. */
export async function deployThenDelete(api: ReturnType<typeof managerApi>, p: string, body: unknown): Promise<void> {
  const created = await api<{ id: string }>('POST', p, body);
  assert.equal(created.status, 202, JSON.stringify(created.json));
  const stateOf = async (): Promise<string> => (await api<{ state: string }>('GET', `/v1/topologies/${created.json.id}`)).json.state;
  assert.equal(await until(`${p} ACTIVE`, stateOf, (s) => s === 'ACTIVE' || s === 'FAILED'), 'ACTIVE');
  assert.equal((await api('DELETE', `/v1/topologies/${created.json.id}`)).status, 202);
  await until(`${p} DELETED`, stateOf, (s) => s === 'DELETED');
}

/** Polls `read` until `done` holds; the last value in the timeout message. */
export async function until<T>(what: string, read: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 40_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await read();
    if (done(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
