/**
 * The stack under fuzz in its own process (forked with --expose-gc): the simulated cloud with
 * real ovsdb-servers, the agent and the manager, as test/manager/stack.ts wires them, but with
 * their JSON logs on stdout so a 5xx can be matched with its error by request id. In its own
 * process, so the fuzzer's work (generating megabyte bodies, diffing state) neither delays the
 * services' answers nor counts in their memory.
 *
 * IPC: it sends {ready, urls, ovsdb, pid} once up; it answers {cmd: 'memory'} with the RSS and
 * heap after a full GC, and {cmd: 'close'} by stopping everything and exiting.
 */
import { parseAgentConfig } from '../../src/agent/config.ts';
import { simAgentOptions, startAgent } from '../../src/agent/main.ts';
import { startSimCloud } from '../../src/sim/index.ts';
import { AGENT_TOKEN, startSimManager } from '../manager/stack.ts';

export interface ChildReady {
  type: 'ready';
  manager: string;
  agent: string;
  ovsdb: Record<string, string>;
  pid: number;
}
export interface ChildMemory {
  type: 'memory';
  rss: number;
  heapUsed: number;
  external: number;
  gc: boolean;
}

const send = (m: unknown): void => {
  process.send?.(m);
};

const sim = await startSimCloud({ ovsdb: 'real', bootDelayMs: 20 });
const agent = await startAgent(
  parseAgentConfig(`listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${AGENT_TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: cm-agent-fuzz`, {}),
  simAgentOptions(sim, { log: true }),
);
const manager = await startSimManager(sim, agent, {}, { log: true });

const gc = (globalThis as { gc?: () => void }).gc;
process.on('message', (m: { cmd?: string }) => {
  if (m.cmd === 'memory') {
    if (gc) {
      gc();
      gc();
    }
    const u = process.memoryUsage();
    send({ type: 'memory', rss: u.rss, heapUsed: u.heapUsed, external: u.external, gc: gc !== undefined } satisfies ChildMemory);
  } else if (m.cmd === 'close') {
    void (async () => {
      await manager.stop();
      await agent.stop();
      await sim.close();
      process.exit(0);
    })();
  }
});
process.on('disconnect', () => {
  void sim.close().finally(() => process.exit(0));
});

send({
  type: 'ready',
  manager: manager.url,
  agent: agent.url,
  ovsdb: Object.fromEntries([...sim.state.hosts.keys()].map((h) => [h, sim.ovsdbEndpoint(h)])),
  pid: process.pid,
} satisfies ChildReady);
