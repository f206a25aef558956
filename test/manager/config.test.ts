import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManagerConfigError, parseManagerConfig } from '../../src/manager/config.ts';

const TOKEN = 'a-long-enough-secret-token';

function problemsOf(text: string | undefined, env: Record<string, string> = {}): string[] {
  try {
    parseManagerConfig(text, env);
  } catch (error) {
    assert.ok(error instanceof ManagerConfigError);
    return error.problems.map((p) => `${p.field}: ${p.message}`);
  }
  return [];
}

describe('manager configuration', () => {
  it('reads a full file with defaults and rates in tc notation', () => {
    const c = parseManagerConfig(
      `
listen: { host: 0.0.0.0, port: 9092 }
auth: { tokens: [${TOKEN}] }
agent: { url: "http://10.0.0.5:8091", token: ${TOKEN} }
store: { url: "postgres://cm:pw@db:5432/cm" }
placement: { strategy: single-host, uplink: 1gbit, uplinks: { compute1: 100mbit } }
sla_classes: { classes: { Gold: { min: 1mbit, max: 2mbit } }, assign: {}, default: Gold }
deploy: { stack_timeout_s: 300 }
`,
      {},
    );
    assert.deepEqual(c.listen, { host: '0.0.0.0', port: 9092 });
    assert.equal(c.store.url, 'postgres://cm:pw@db:5432/cm');
    assert.deepEqual(c.placement, { strategy: 'single-host', uplinkDefaultBps: 1_000_000_000, uplinks: { compute1: 100_000_000 } });
    assert.equal(c.deploy.stackTimeoutS, 300);
    assert.equal(c.deploy.enforceTimeoutS, 120);
    assert.equal(c.deploy.availabilityZone, 'nova');
    assert.ok(c.slaClasses !== undefined);
  });

  it('takes CM_MANAGER_* over the file and defaults the store to a SQLite file', () => {
    const c = parseManagerConfig(undefined, { CM_MANAGER_TOKENS: TOKEN, CM_MANAGER_AGENT_URL: 'https://agent:8091', CM_MANAGER_AGENT_TOKEN: TOKEN, CM_MANAGER_LISTEN_PORT: '0' });
    assert.equal(c.listen.port, 0);
    assert.equal(c.agent.url, 'https://agent:8091');
    assert.equal(c.store.url, 'sqlite:cm-manager.db');
    assert.equal(c.placement.strategy, 'traffic-aware');
  });

  it('reports every problem with its field at once', () => {
    assert.deepEqual(
      problemsOf(`
listen: { port: 70000 }
auth: { tokens: [short] }
agent: { url: "ftp://x" }
store: { url: "mysql://x" }
placement: { strategy: random, uplink: fast, uplinks: { compute1: "1e9" } }
deploy: { stack_timeout_s: 1 }
extra: 1
`),
      [
        'extra: unknown field (allowed: listen, auth, cloud, agent, store, placement, sla_classes, catalog, deploy, limits)',
        'listen.port: must be an integer from 0 to 65535',
        'auth.tokens[0]: must be a string of at least 16 characters',
        'agent.url: must be an http:// or https:// URL',
        'agent.token: is required: a bearer token the agent accepts (or CM_MANAGER_AGENT_TOKEN)',
        'store.url: must be sqlite:PATH, sqlite::memory: or postgres://user:pass@host:port/db',
        'placement.strategy: must be one of single-host, traffic-aware, nova',
        'placement.uplink: is not a rate: "fast" (an integer in bit/s, or a number with a unit: bit, kbit, mbit, gbit, tbit, kibit, mibit, gibit, tibit, or bps, kbps, mbps, gbps, tbps meaning BYTES per second)',
        'placement.uplinks.compute1: exponent notation is not accepted ("1e9"): Open vSwitch reads values like "1e8" as 0, which would remove the limit; write the digits (100000000) or use a unit ("100mbit")',
        'deploy.stack_timeout_s: must be an integer from 10 to 86400',
      ],
    );
  });

  it('names bad YAML by line', () => {
    assert.match(problemsOf('listen: [\n')[0] ?? '', /^line \d+, column \d+: /);
  });

  it('auth.keystone replaces the need for static tokens and is validated', () => {
    const c = parseManagerConfig(`auth: { keystone: true }\nagent: { url: "http://a:8091", token: ${TOKEN} }`, {});
    assert.deepEqual(c.auth, { tokens: [], keystone: { role: 'member', adminRole: 'admin' } });
    assert.deepEqual(parseManagerConfig(`auth: { keystone: true, keystone_role: admin, admin_role: cloud-admin, tokens: [${TOKEN}] }\nagent: { url: "http://a", token: ${TOKEN} }`, {}).auth.keystone, { role: 'admin', adminRole: 'cloud-admin' });
    // Static tokens' project (issue 17): from the file or CM_MANAGER_PROJECT, checked.
    assert.equal(parseManagerConfig(`auth: { tokens: [${TOKEN}], project: 0a1b2c }\nagent: { url: "http://a", token: ${TOKEN} }`, {}).auth.project, '0a1b2c');
    assert.equal(parseManagerConfig(`auth: { tokens: [${TOKEN}] }\nagent: { url: "http://a", token: ${TOKEN} }`, { CM_MANAGER_PROJECT: 'p-9' }).auth.project, 'p-9');
    assert.deepEqual(problemsOf(`auth: { tokens: [${TOKEN}], project: "a b" }\nagent: { url: "http://a", token: ${TOKEN} }`), ['auth.project: must be a project id (1-64 characters of A-Z a-z 0-9 _ -)']);
    assert.deepEqual(problemsOf(`auth: { keystone: yes-please }\nagent: { url: "http://a", token: ${TOKEN} }`), [
      'auth.keystone: must be true or false',
      'auth.tokens: at least one bearer token is required (or set CM_MANAGER_TOKENS, or auth.keystone: true)',
    ]);
  });

  it('limits: defaults an operator would pick, each overridable, each checked', () => {
    const base = `auth: { tokens: [${TOKEN}] }\nagent: { url: "http://a:8091", token: ${TOKEN} }`;
    const d = parseManagerConfig(base, {});
    assert.deepEqual([d.limits.topology.units, d.limits.topology.demands, d.limits.bodyBytes, d.limits.planTimeoutMs], [200, 20_000, 1_048_576, 10_000]);
    const c = parseManagerConfig(`${base}\nlimits: { units: 500, yaml_aliases: 10, body_bytes: 2097152, plan_timeout_ms: 30000 }`, {});
    assert.deepEqual([c.limits.topology.units, c.limits.topology.yamlAliases, c.limits.topology.serviceInstances, c.limits.bodyBytes, c.limits.planTimeoutMs], [500, 10, 50, 2_097_152, 30_000]);
    assert.deepEqual(problemsOf(`${base}\nlimits: { units: 0, plan_timeout_ms: fast, unit: 3 }`), [
      'limits.unit: unknown field (allowed: document_bytes, units, service_instances, service_types, traffic_entries, demands, name_length, string_length, user_data_bytes, yaml_aliases, depth, body_bytes, plan_timeout_ms, plan_heap_mb, request_timeout_ms, headers_timeout_ms, keep_alive_timeout_ms, connections_per_address, url_length, header_bytes, close_linger_ms)',
      'limits.units: must be an integer from 1 to 1000000000',
      'limits.plan_timeout_ms: must be an integer from 100 to 3600000',
    ]);
    // The HTTP limits (docs/operating.md): only those given are set; the service fills in the rest.
    assert.deepEqual(d.limits.http, {});
    const h = parseManagerConfig(`${base}
limits: { connections_per_address: 0, request_timeout_ms: 5000, url_length: 4096 }`, {});
    assert.deepEqual(h.limits.http, { maxConnectionsPerAddress: 0, requestTimeout: 5000, maxUrlLength: 4096 });
    assert.deepEqual(problemsOf(`${base}
limits: { header_bytes: 100, close_linger_ms: -1 }`), [
      'limits.header_bytes: must be an integer from 4096 to 1048576',
      'limits.close_linger_ms: must be an integer from 0 to 60000',
    ]);
  });

  it('agent.url takes the agent replicas as a list (CM_MANAGER_AGENT_URL comma-separated), each checked', () => {
    const one = parseManagerConfig(`auth: { tokens: [${TOKEN}] }\nagent: { url: "http://a:8091", token: ${TOKEN} }`, {});
    assert.deepEqual([one.agent.url, one.agent.urls], ['http://a:8091', ['http://a:8091']]);
    const list = parseManagerConfig(`auth: { tokens: [${TOKEN}] }\nagent: { url: ["http://a:8091", "https://b:8091"], token: ${TOKEN} }`, {});
    assert.deepEqual([list.agent.url, list.agent.urls], ['http://a:8091', ['http://a:8091', 'https://b:8091']]);
    const fromEnv = parseManagerConfig(undefined, { CM_MANAGER_TOKENS: TOKEN, CM_MANAGER_AGENT_URL: 'http://a:8091, http://b:8091', CM_MANAGER_AGENT_TOKEN: TOKEN });
    assert.deepEqual(fromEnv.agent.urls, ['http://a:8091', 'http://b:8091']);
    assert.deepEqual(problemsOf(`auth: { tokens: [${TOKEN}] }\nagent: { url: ["http://a:8091", "ftp://b", 3], token: ${TOKEN} }`), [
      'agent.url[2]: must be a non-empty string',
      'agent.url[1]: must be an http:// or https:// URL',
    ]);
    assert.deepEqual(problemsOf(`auth: { tokens: [${TOKEN}] }\nagent: { url: [], token: ${TOKEN} }`), ['agent.url: must name at least one URL']);
  });
});
