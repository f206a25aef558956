/**
 * Benchmark runner: `npm run bench -- <name> [options]`.
 * Benchmarks print a table for humans and end with one JSON line per result.
 */
interface Bench {
  readonly description: string;
  readonly load: () => Promise<{ main: (argv: readonly string[]) => Promise<void> }>;
}

const BENCHES: Record<string, Bench> = {
  ovsdb: {
    description: 'download caps on N ports: our OVSDB client vs ovs-vsctl (real ovsdb-server)',
    load: () => import('./ovsdb.ts'),
  },
  openflow: {
    description: 'meter + metering flow on N ports: our OpenFlow client (1 batch) vs ovs-ofctl per port / batched (real ovs-vswitchd)',
    load: () => import('./openflow.ts'),
  },
  agent: {
    description: 'CM Agent on a simulated cloud (200 hosts x 20 servers): GET /hosts, apply-all, port -> SLA',
    load: () => import('./agent.ts'),
  },
  placement: {
    description: 'placement engine: 50-unit topology over 1k/10k/100k hosts, single-host fit and split (p50/p99)',
    load: () => import('./placement.ts'),
  },
  'placement-quality': {
    description: 'placement heuristic vs exhaustive optimum on N seeded small instances (cut ratio, rule violations)',
    load: () => import('./placement-quality.ts'),
  },
  'inventory-calls': {
    description: 'inventory refresh cost (10k hosts x 20 servers): Nova/Neutron/Placement calls cold, incremental, 1 of 4 replicas, vs the formula',
    load: () => import('./inventory-calls.ts'),
  },
  scale: {
    description: 'agent replicas at scale (issue 14): cold start, SLA change, SIGKILL failover, GET /v1/hosts, RSS, calls per refresh; K replicas vs 1 agent',
    load: () => import('./scale.ts'),
  },
  ui: {
    description: 'the dashboard in chromium: page weight and first paint vs /docs on the demo; the live SLA view with 4 000 VMs (events/s handled, ms per event)',
    load: () => import('./ui.ts'),
  },
  'plan-limits': {
    description: 'planning at the manager\'s default limits (200 units, 19 900 pairs; refusals): wall time and event-loop block, on this thread vs the worker',
    load: () => import('./plan-limits.ts'),
  },
  allocation: {
    description: 'guarantee allocation, one controller round (200 hosts x 20 VMs, hose + pipe): event-driven vs a reference water-fill',
    load: () => import('./allocation.ts'),
  },
};

function usage(): string {
  const names = Object.entries(BENCHES).map(([name, b]) => `  ${name.padEnd(Math.max(...Object.keys(BENCHES).map((n) => n.length)) + 2)}${b.description}`);
  return ['usage: npm run bench -- <name> [options]   (<name> --help for its options)', '', 'benchmarks:', ...names].join('\n');
}

const [name, ...rest] = process.argv.slice(2);
if (name === undefined || name === '--help' || name === '-h') {
  console.log(usage());
  process.exit(name === undefined ? 1 : 0);
}
const bench = Object.hasOwn(BENCHES, name) ? BENCHES[name] : undefined;
if (!bench) {
  console.error(`unknown benchmark "${name}"\n\n${usage()}`);
  process.exit(1);
}
try {
  const module = await bench.load();
  await module.main(rest);
} catch (error) {
  if (error instanceof Error) console.error(error.name === 'BenchUsageError' ? error.message : (error.stack ?? error.message));
  else console.error(String(error));
  process.exitCode = 1;
}
