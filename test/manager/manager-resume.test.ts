/**
 * A manager killed in the middle of a deployment is resumed by the next one:
 * the real `cm-manager` process (bin/cm-manager.mjs, SQLite file store) is
 * SIGKILLed while Heat is still building the thesis topology's stack; a new
 * process with the same configuration claims the topology once the dead
 * one's lease expires, follows the same stack (no second stack), enforces the
 * SLAs and reaches ACTIVE. The cloud and the agent run in this process so they
 * outlive the manager.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, startAgent } from '../../src/agent/main.ts';
import { startSimCloud } from '../../src/sim/index.ts';
import { openrcEnv } from '../../src/sim/openrc.ts';
import { makeTempDir, realOvsAvailable, removeTempDir, trackChild } from '../harness/ovsdb-server.ts';
import { freePort } from '../harness/net.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'src/topology/fixtures/thesis');
const AGENT_TOKEN = 'agent-token-0123456789abcdef';
const TOKEN = 'manager-token-0123456789abcdef';
const real = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl']);


interface View {
  id: string;
  state: string;
  stack: { name: string; id: string | null };
  units: { host: string | null; server_id: string | null; sla_state: string | null }[];
  events: { state: string; message: string }[];
  error: unknown;
}

describe('cm-manager killed mid-deployment', { skip: real.skip }, () => {
  it('resumes in a new process: same stack, every server ACTIVE where planned, SLAs applied', { timeout: 120_000 }, async () => {
    const dir = await makeTempDir('cm-manager-resume-');
    // Boots take 1.5 s each (Heat creates the servers one after another), so the stack is in progress for seconds.
    const sim = await startSimCloud({ ovsdb: 'real', bootDelayMs: 1500 });
    const agent = await startAgent(
      parseAgentConfig(`listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${AGENT_TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }`, {}),
      simAgentOptions(sim, { log: false }),
    );
    const children: ChildProcess[] = [];
    try {
      const port = await freePort();
      const configFile = path.join(dir, 'manager.yaml');
      writeFileSync(
        configFile,
        [
          `listen: { host: 127.0.0.1, port: ${String(port)} }`,
          `auth: { tokens: [${TOKEN}] }`,
          `agent: { url: "${agent.url}", token: ${AGENT_TOKEN} }`,
          `store: { url: "sqlite:${path.join(dir, 'manager.db')}" }`,
          'deploy: { lease_ms: 2000, enforce_timeout_s: 30, stack_timeout_s: 90 }',
        ].join('\n'),
      );
      const env = { ...process.env, ...openrcEnv(sim) };
      let output = '';
      const launch = (): ChildProcess => {
        const child = spawn(process.execPath, [path.join(ROOT, 'bin/cm-manager.mjs'), '--config', configFile], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        trackChild(child);
        child.stdout.on('data', (d: Buffer) => (output += d.toString()));
        child.stderr.on('data', (d: Buffer) => (output += d.toString()));
        children.push(child);
        return child;
      };
      const base = `http://127.0.0.1:${String(port)}`;
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the body type it expects
      const api = async <T,>(method: string, p: string, body?: unknown): Promise<{ status: number; json: T }> => {
        const r = await fetch(`${base}${p}`, {
          method,
          headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        const text = await r.text();
        return { status: r.status, json: (text ? JSON.parse(text) : undefined) as T };
      };
      const until = async <T,>(what: string, check: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const v = await check().catch(() => undefined);
          if (v !== undefined) return v;
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${output}`);
          await new Promise((r) => setTimeout(r, 50));
        }
      };

      const first = launch();
      await until('the first manager to answer', async () => ((await fetch(`${base}/healthz`)).ok ? true : undefined));
      const read = (f: string): string => readFileSync(path.join(FIXTURES, f), 'utf8');
      const submitted = await api<View>('POST', '/v1/topologies', {
        topology: read('topology.json'),
        services: ['ControllerService.json', 'BrokerService.json', 'MediaService.json'].map(read),
      });
      assert.equal(submitted.status, 202, JSON.stringify(submitted.json));
      const id = submitted.json.id;
      const deploying = await until('DEPLOYING with a stack', async () => {
        const v = (await api<View>('GET', `/v1/topologies/${id}`)).json;
        return v.state === 'DEPLOYING' && v.stack.id !== null ? v : undefined;
      });
      first.kill('SIGKILL');
      await new Promise((r) => first.once('exit', r));
      const stack = sim.state.stacks.get(deploying.stack.id ?? '');
      assert.equal(stack?.status, 'CREATE_IN_PROGRESS', 'killed while Heat was still building the stack');

      launch();
      const active = await until(
        'ACTIVE after the restart',
        async () => {
          const v = (await api<View>('GET', `/v1/topologies/${id}`)).json;
          if (v.state === 'FAILED') throw new Error(`FAILED: ${JSON.stringify(v.error)}`);
          return v.state === 'ACTIVE' ? v : undefined;
        },
        60_000,
      );
      assert.equal(active.stack.id, deploying.stack.id, 'the same stack was followed');
      assert.equal([...sim.state.stacks.values()].filter((s) => s.name === active.stack.name).length, 1, 'no second stack');
      assert.equal(active.units.length, 5);
      assert.ok(active.units.every((u) => u.host === 'compute1' && u.sla_state === 'applied'), JSON.stringify(active.units));
      const servers = [...sim.state.servers.values()];
      assert.equal(servers.length, 5);
      assert.ok(servers.every((s) => s.status === 'ACTIVE'));
      const sla = (await (await fetch(`${agent.url}/v1/sla`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } })).json()) as { summary: Record<string, number> };
      assert.deepEqual(sla.summary, { applied: 5, pending: 0, drifted: 0, error: 0, orphaned: 0 });
      assert.ok(
        active.events.some((e) => e.state === 'DEPLOYED'),
        'the resumed manager recorded the stack completion',
      );
    } finally {
      for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
      await agent.stop();
      await sim.close();
      await removeTempDir(dir);
    }
  });
});
