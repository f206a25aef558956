import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentConfigError, ovsdbEndpointFor, parseAgentConfig } from '../../src/agent/config.ts';

const TOKEN = 'a-long-enough-secret-token';

function problemsOf(text: string | undefined, env: Record<string, string> = {}): string[] {
  try {
    parseAgentConfig(text, env);
  } catch (error) {
    assert.ok(error instanceof AgentConfigError);
    return error.problems.map((p) => `${p.field}: ${p.message}`);
  }
  return [];
}

describe('agent configuration', () => {
  it('reads a full file with defaults filled in', () => {
    const config = parseAgentConfig(
      `
listen: { host: 0.0.0.0, port: 9000 }
auth: { tokens: [${TOKEN}] }
cloud: { name: mycloud }
owner: cm-agent-region1
store: { path: /var/lib/cm/sla.db }
ovsdb:
  template: "tcp:{host_ip}:6640"
  endpoints: { compute1: "unix:/run/openvswitch/db.sock" }
reconcile: { resync_interval_ms: 5000 }
`,
      {},
    );
    assert.deepEqual(config.listen, { host: '0.0.0.0', port: 9000 });
    assert.equal(config.cloud.name, 'mycloud');
    assert.equal(config.inventory.refreshIntervalMs, 30_000);
    assert.equal(config.reconcile.resyncIntervalMs, 5000);
    assert.equal(ovsdbEndpointFor(config, { name: 'compute1', hostIp: '10.0.0.1', hypervisorHostname: 'c1' }), 'unix:/run/openvswitch/db.sock');
    assert.equal(ovsdbEndpointFor(config, { name: 'compute2', hostIp: '10.0.0.2', hypervisorHostname: 'c2' }), 'tcp:10.0.0.2:6640');
    assert.equal(ovsdbEndpointFor(config, { name: 'compute3', hostIp: undefined, hypervisorHostname: 'c3' }), undefined);
  });

  it('takes CM_AGENT_* variables over the file', () => {
    const config = parseAgentConfig('listen: { port: 9000 }\novsdb: { template: "ssl:{host}:6640" }', {
      CM_AGENT_LISTEN_PORT: '9100',
      CM_AGENT_TOKENS: `${TOKEN}, ${TOKEN}-2`,
      OS_CLOUD: 'from-env',
    });
    assert.equal(config.listen.port, 9100);
    assert.deepEqual(config.auth.tokens, [TOKEN, `${TOKEN}-2`]);
    assert.equal(config.cloud.name, 'from-env');
  });

  it('reports every problem with its field at once', () => {
    const problems = problemsOf(`
listen: { port: 70000, tls: { cert: /c } }
auth: { tokens: [short] }
owner: "has spaces"
ovsdb: { template: "tcp:{ip}:6640", endpoints: { compute1: "http://x" } }
inventory: { refresh_interval_ms: 10 }
colour: blue
`);
    const fields = problems.map((p) => p.split(':')[0]);
    assert.deepEqual(fields.sort(), [
      'auth.tokens[0]',
      'colour',
      'inventory.refresh_interval_ms',
      'listen.port',
      'listen.tls.key',
      'ovsdb.endpoints.compute1',
      'ovsdb.template',
      'owner',
    ]);
    assert.ok(problems.some((p) => p.includes('unknown placeholder {ip}')));
  });

  it('requires tokens and an OVSDB endpoint rule, and names bad YAML by line', () => {
    const problems = problemsOf(undefined);
    assert.ok(problems.some((p) => p.startsWith('auth.tokens: at least one bearer token')));
    assert.ok(problems.some((p) => p.startsWith('ovsdb: set ovsdb.template')));
    const yaml = problemsOf('listen:\n  port: [1,\n');
    assert.match(yaml[0] ?? '', /^line \d+, column \d+/);
  });

  it('several replicas: cluster settings need a PostgreSQL store.url and a heartbeat under half the lease', () => {
    const base = `auth: { tokens: [${TOKEN}] }\novsdb: { template: "tcp:{host_ip}:6640" }\n`;
    const ok = parseAgentConfig(`${base}store: { url: "postgres://cm@db/cm" }\ncluster: { agent_id: agent-a, lease_ms: 4000, heartbeat_ms: 1000, capacity_wait_ms: 0 }\n`, {});
    assert.deepEqual(ok.cluster, { agentId: 'agent-a', leaseMs: 4000, heartbeatMs: 1000, capacityWaitMs: 0 });
    assert.equal(ok.store.url, 'postgres://cm@db/cm');
    // CM_AGENT_ID alone turns cluster mode on, with the default lease.
    const byEnv = parseAgentConfig(base, { CM_AGENT_ID: 'agent-b', CM_AGENT_STORE_URL: 'postgresql://cm@db/cm' });
    assert.deepEqual(byEnv.cluster, { agentId: 'agent-b', leaseMs: 6000, heartbeatMs: 1500, capacityWaitMs: 60_000 });
    assert.equal(parseAgentConfig(base, {}).cluster, undefined);
    const fieldsOf = (text: string): string[] => problemsOf(text).map((p) => p.split(':')[0] ?? '');
    assert.deepEqual(fieldsOf(`${base}store: { path: x.db }\ncluster: { agent_id: "a b", heartbeat_ms: 3000, lease_ms: 5000, capacity_wait_ms: -1, extra: 1 }\n`), [
      'cluster.extra',
      'cluster.agent_id',
      'cluster.capacity_wait_ms',
      'cluster.heartbeat_ms',
      'store.url',
    ]);
    assert.deepEqual(fieldsOf(`${base}store: { url: "mysql://db/cm" }\n`), ['store.url']);
  });

  it('limits: the body size and the HTTP limits, each checked (docs/agent.md, "Limits")', () => {
    const base = `auth: { tokens: [${TOKEN}] }\novsdb: { template: "tcp:{host_ip}:6640" }\n`;
    assert.deepEqual(parseAgentConfig(base, {}).limits, { bodyBytes: 1_048_576, http: {} });
    const c = parseAgentConfig(`${base}limits: { body_bytes: 65536, connections_per_address: 512, headers_timeout_ms: 2000 }\n`, {});
    assert.deepEqual(c.limits, { bodyBytes: 65_536, http: { maxConnectionsPerAddress: 512, headersTimeout: 2000 } });
    assert.deepEqual(problemsOf(`${base}limits: { body_bytes: 10, url_length: big, timeout: 1 }\n`), [
      'limits.timeout: unknown field (allowed: body_bytes, request_timeout_ms, headers_timeout_ms, keep_alive_timeout_ms, connections_per_address, url_length, header_bytes, close_linger_ms)',
      'limits.body_bytes: must be an integer from 1024 to 1073741824',
      'limits.url_length: must be an integer from 1024 to 1048576',
    ]);
  });

  it('a sim section replaces cloud and ovsdb, keeps SLAs in memory by default, and is validated', () => {
    const config = parseAgentConfig(`auth: { tokens: [${TOKEN}] }\nsim: { scenario: thesis, ovsdb: real }\n`, {});
    assert.deepEqual(config.sim, { scenario: 'thesis', ovsdb: 'real' });
    assert.equal(config.store.path, ':memory:');
    assert.deepEqual(parseAgentConfig(`auth: { tokens: [${TOKEN}] }\nsim: {}\n`, {}).sim, { ovsdb: 'in-process' });
    assert.equal(parseAgentConfig(`auth: { tokens: [${TOKEN}] }\nsim: {}\nstore: { path: /tmp/x.db }\n`, {}).store.path, '/tmp/x.db');
    assert.deepEqual(problemsOf(`auth: { tokens: [${TOKEN}] }\nsim: { ovsdb: kernel, extra: 1 }\n`), [
      'sim.extra: unknown field (allowed: scenario, ovsdb)',
      'sim.ovsdb: must be "in-process" or "real" (a real ovsdb-server per host)',
    ]);
    assert.equal(parseAgentConfig(`auth: { tokens: [${TOKEN}] }\novsdb: { template: "unix:/x/{host}.sock" }\n`, {}).sim, undefined);
  });
});
