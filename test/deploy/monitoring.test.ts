/**
 * The monitoring we ship (deploy/prometheus, deploy/grafana) checked with the
 * real tools and against what the services really export:
 * - `promtool check rules`, `promtool test rules` (every alert fires in a test and
 *   stays silent beside it) and `promtool check config` on the example;
 * - the unit tests bite: a rule made wrong makes them fail;
 * - every metric a rule or a dashboard panel names is one the agent or the
 *   manager exports (a renamed metric would silently blind an alert).
 * In CI a missing promtool is a failure, not a skip.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { createAgentMetrics } from '../../src/agent/metrics.ts';
import { realOvsAvailable } from '../harness/ovsdb-server.ts';
import { MANAGER_TOKEN, startStack } from '../manager/stack.ts';

const DEPLOY = path.resolve(import.meta.dirname, '../../deploy');
const RULES = path.join(DEPLOY, 'prometheus/cm-alerts.yml');
const RULE_TESTS = path.join(DEPLOY, 'prometheus/cm-alerts.test.yml');
const EXAMPLE = path.join(DEPLOY, 'prometheus/prometheus.example.yml');
const DASHBOARD = path.join(DEPLOY, 'grafana/connectivity-manager.json');

// The project's binary gate: a skip reason locally, a failure in CI.
const promtool = realOvsAvailable(['promtool']);

function run(args: readonly string[], cwd?: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', args, { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; expr: string }[] }[];
}
interface RuleTestFile {
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}
interface Dashboard {
  __inputs: { name: string; pluginId: string }[];
  uid: string;
  panels: { id: number; type: string; title: string; targets?: { expr: string; datasource: { uid: string } }[] }[];
  templating: { list: { query: { query: string } }[] };
}

/** Metric names a PromQL expression reads (our prefixes and `up`); label values and functions are left out. */
function metricNames(expr: string): string[] {
  const withoutStrings = expr.replace(/"[^"]*"/g, '""');
  return [...withoutStrings.matchAll(/\b(cm_[a-z0-9_]+|up)\b(?=\s*[{[)\s,]|$)/g)].map((m) => m[1] ?? '');
}

/** Series names a registry exposition declares, with the histogram/summary series they imply. */
function exposedNames(text: string): Set<string> {
  const names = new Set<string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name = '', type] = m;
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(name + suffix);
  }
  return names;
}

async function exportedMetrics(): Promise<Set<string>> {
  // The agent's registry with every optional part on (cluster, guarantees, per-port rates).
  const agent = createAgentMetrics({
    reconcilerMetrics: () => new Map(),
    drainPassDurations: () => new Map(),
    openflowStates: () => [],
    portStates: () => [],
    perPortRates: true,
    inventoryAgeSeconds: () => 1,
    inventoryStale: () => false,
    cluster: { agentId: 'a', owned: () => [], members: () => ['a'], writable: () => true },
    guarantees: { vmViews: () => [], hosts: () => [], stats: { rounds: 0, lastRoundMs: 0, cpuMicros: 0, pairs: 0, activePairs: 0 } },
  });
  const names = exposedNames(await agent.registry.metrics());
  // The manager as it runs (on the simulated cloud), scraped over HTTP.
  const stack = await startStack();
  try {
    const r = await fetch(`${stack.manager.url}/metrics`, { headers: { authorization: `Bearer ${MANAGER_TOKEN}` } });
    assert.equal(r.status, 200);
    for (const n of exposedNames(await r.text())) names.add(n);
  } finally {
    await stack.close();
  }
  names.add('up');
  return names;
}

describe('alert rules with promtool', { skip: promtool.skip }, () => {
  it('check rules, test rules and check config pass', () => {
    const check = run(['check', 'rules', RULES]);
    assert.equal(check.status, 0, check.output);
    assert.match(check.output, /SUCCESS: \d+ rules found/);
    const tests = run(['test', 'rules', RULE_TESTS]);
    assert.equal(tests.status, 0, tests.output);
    // The example's credential files are the operator's; give it stand-ins where it looks for them.
    const dir = mkdtempSync(path.join(tmpdir(), 'cm-prom-'));
    try {
      cpSync(RULES, path.join(dir, 'cm-alerts.yml'));
      const example = readFileSync(EXAMPLE, 'utf8').replaceAll('/etc/prometheus/', `${dir}/`);
      writeFileSync(path.join(dir, 'prometheus.yml'), example);
      for (const f of ['cm-agent.token', 'cm-manager.token']) writeFileSync(path.join(dir, f), 'token\n');
      const config = run(['check', 'config', 'prometheus.yml'], dir);
      assert.equal(config.status, 0, config.output);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the unit tests fail when a rule is wrong (a threshold, a delay, a label)', () => {
    const original = readFileSync(RULES, 'utf8');
    const mutations: [string, string][] = [
      ['> 0.5', '> 5'],
      ['cm_agent_ovsdb_connected == 0\n        for: 2m', 'cm_agent_ovsdb_connected == 0\n        for: 10s'],
      ['max by (job) (cm_manager_topologies{state="FAILED"})', 'cm_manager_topologies{state="FAILED"}'],
      ['up{job="cm-agent"} == 0', 'up == 0'],
    ];
    for (const [from, to] of mutations) {
      assert.ok(original.includes(from), `the rules contain ${from}`);
      const dir = mkdtempSync(path.join(tmpdir(), 'cm-prom-'));
      try {
        writeFileSync(path.join(dir, 'cm-alerts.yml'), original.replace(from, to));
        cpSync(RULE_TESTS, path.join(dir, 'cm-alerts.test.yml'));
        const r = run(['test', 'rules', 'cm-alerts.test.yml'], dir);
        assert.notEqual(r.status, 0, `the tests still pass with ${JSON.stringify(from)} → ${JSON.stringify(to)}`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  });
});

describe('shipped rules and dashboard against the exported metrics', () => {
  it('every alert has a unit test in which it fires', () => {
    const rules = parse(readFileSync(RULES, 'utf8')) as RuleFile;
    const alerts = rules.groups.flatMap((g) => g.rules.map((r) => r.alert)).filter((a): a is string => a !== undefined);
    assert.ok(alerts.length >= 10, `${String(alerts.length)} alerts`);
    const tests = parse(readFileSync(RULE_TESTS, 'utf8')) as RuleTestFile;
    const firing = new Set(tests.tests.flatMap((t) => (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
    assert.deepEqual(alerts.filter((a) => !firing.has(a)), [], 'alerts never shown firing');
  });

  it('every metric a rule or a panel reads is exported by the agent or the manager', async () => {
    const exported = await exportedMetrics();
    const rules = parse(readFileSync(RULES, 'utf8')) as RuleFile;
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
    const used = new Map<string, string>();
    for (const g of rules.groups) for (const r of g.rules) for (const n of metricNames(r.expr)) used.set(n, `rule ${r.alert ?? '?'}`);
    for (const p of dashboard.panels) for (const t of p.targets ?? []) for (const n of metricNames(t.expr)) used.set(n, `panel "${p.title}"`);
    for (const v of dashboard.templating.list) for (const n of metricNames(v.query.query)) used.set(n, 'a dashboard variable');
    assert.ok(used.size >= 20, `${String(used.size)} metrics used`);
    const unknown = [...used].filter(([n]) => !exported.has(n)).map(([n, where]) => `${n} (${where})`);
    assert.deepEqual(unknown, [], 'metrics nobody exports');
  });

  it('the dashboard imports cleanly: a datasource input, unique panel ids, a query in every panel', () => {
    const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as Dashboard;
    assert.deepEqual(
      dashboard.__inputs.map((i) => [i.name, i.pluginId]),
      [['DS_PROMETHEUS', 'prometheus']],
    );
    assert.equal(dashboard.uid, 'connectivity-manager');
    const ids = dashboard.panels.map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, 'panel ids are unique');
    for (const p of dashboard.panels.filter((x) => x.type !== 'row')) {
      assert.ok((p.targets ?? []).length > 0, `panel "${p.title}" has a query`);
      for (const t of p.targets ?? []) assert.equal(t.datasource.uid, '${DS_PROMETHEUS}', `panel "${p.title}" uses the imported datasource`);
    }
  });
});

// Keeps the helper honest: it must find names in the shapes the files use.
describe('metricNames', () => {
  it('reads names before selectors, ranges and parentheses, and ignores label values and functions', () => {
    assert.deepEqual(metricNames('rate(cm_agent_x_total{a="cm_not_a_metric"}[1m]) > 0'), ['cm_agent_x_total']);
    assert.deepEqual(metricNames('max by (job) (cm_manager_topologies{state="FAILED"}) > 0'), ['cm_manager_topologies']);
    assert.deepEqual(metricNames('up{job="cm-agent"} == 0'), ['up']);
    assert.deepEqual(metricNames('histogram_quantile(0.95, sum by (le) (rate(cm_a_bucket[5m])))'), ['cm_a_bucket']);
    assert.deepEqual(metricNames('count(cm_agent_ovsdb_connected == 0) or vector(0)'), ['cm_agent_ovsdb_connected']);
    assert.deepEqual(metricNames('label_values(cm_agent_port_observed_bits_per_second, server_id)'), ['cm_agent_port_observed_bits_per_second']);
  });
});
