import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgentConfigError, openflowEndpointFor, parseAgentConfig } from '../../src/agent/config.ts';

const TOKEN = 'a-long-enough-secret-token';
/** The smallest valid file: a token and where each host's OVSDB is. */
const BASE = `auth: { tokens: [${TOKEN}] }\novsdb: { template: "tcp:{host_ip}:6640" }\n`;

function problemsOf(text: string | undefined, env: Record<string, string> = {}): { field: string; message: string }[] {
  try {
    parseAgentConfig(text, env);
  } catch (error) {
    assert.ok(error instanceof AgentConfigError);
    return error.problems;
  }
  return [];
}

function fieldsOf(text: string | undefined, env: Record<string, string> = {}): string[] {
  return problemsOf(text, env).map((p) => p.field);
}

describe('agent configuration: enforcement and rates', () => {
  it('defaults: upload auto, no OpenFlow endpoints, 250 ms meter burst, rates every second per port', () => {
    const config = parseAgentConfig(BASE, {});
    assert.deepEqual(config.enforcement, {
      upload: 'auto',
      openflow: { endpoints: {} },
      meterBurstMs: 250,
      guarantees: { enabled: true, intervalMs: 500, uplinkSharePercent: 97, uplinks: {} },
    });
    assert.deepEqual(config.rates, { intervalMs: 1000, perPortMetrics: true });
  });

  it('reads a full enforcement section', () => {
    const config = parseAgentConfig(
      `${BASE}
enforcement:
  upload: meter
  openflow:
    template: "tcp:{host_ip}:6653"
    endpoints: { compute1: "unix:/run/openvswitch/br-int.mgmt" }
    tls: { key: /k.pem, cert: /c.pem, ca: /ca.pem }
  meter: { burst_ms: 100 }
  guarantees: { enabled: false, interval_ms: 250, uplink_share_percent: 90, uplink: 10Gbit, uplinks: { compute2: 25Gbit } }
rates: { interval_ms: 500, per_port_metrics: false }
`,
      {},
    );
    assert.deepEqual(config.enforcement, {
      upload: 'meter',
      openflow: {
        template: 'tcp:{host_ip}:6653',
        endpoints: { compute1: 'unix:/run/openvswitch/br-int.mgmt' },
        tls: { key: '/k.pem', cert: '/c.pem', ca: '/ca.pem' },
      },
      meterBurstMs: 100,
      guarantees: { enabled: false, intervalMs: 250, uplinkSharePercent: 90, uplinkBps: 10_000_000_000, uplinks: { compute2: 25_000_000_000 } },
    });
    assert.deepEqual(config.rates, { intervalMs: 500, perPortMetrics: false });
  });

  it('accepts each upload mode, and CM_AGENT_UPLOAD over the file', () => {
    for (const mode of ['auto', 'policing'] as const) {
      assert.equal(parseAgentConfig(`${BASE}enforcement: { upload: ${mode} }\n`, {}).enforcement.upload, mode);
    }
    assert.equal(parseAgentConfig(`${BASE}enforcement: { upload: meter, openflow: { template: "unix:/run/openvswitch/br-int.mgmt" } }\n`, {}).enforcement.upload, 'meter');
    assert.equal(parseAgentConfig(`${BASE}enforcement: { upload: auto }\n`, { CM_AGENT_UPLOAD: 'policing' }).enforcement.upload, 'policing');
  });

  it('refuses an unknown upload mode, naming enforcement.upload', () => {
    const problems = problemsOf(`${BASE}enforcement: { upload: shaping }\n`);
    assert.deepEqual(problems.map((p) => p.field), ['enforcement.upload']);
    assert.match(problems[0]?.message ?? '', /"auto", "meter".*"policing"/);
    assert.deepEqual(fieldsOf(BASE, { CM_AGENT_UPLOAD: 'fast' }), ['enforcement.upload']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { upload: 3 }\n`), ['enforcement.upload']);
  });

  it('names unknown keys with their full path', () => {
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { openflow: { xyz: 1 } }\n`), ['enforcement.openflow.xyz']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { meter: { burst: 1 } }\n`), ['enforcement.meter.burst']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { colour: blue }\n`), ['enforcement.colour']);
    assert.deepEqual(fieldsOf(`${BASE}rates: { every: 1 }\n`), ['rates.every']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { openflow: { tls: { key: /k, cert: /c, ca: /a, pin: x } } }\n`), ['enforcement.openflow.tls.pin']);
  });

  it('names a bad OpenFlow endpoint and an unknown template placeholder', () => {
    const bad = problemsOf(`${BASE}enforcement: { openflow: { endpoints: { compute1: "http://x", compute2: "tcp:10.0.0.2:6653" } } }\n`);
    assert.deepEqual(bad.map((p) => p.field), ['enforcement.openflow.endpoints.compute1']);
    assert.match(bad[0]?.message ?? '', /http:\/\/x/);
    const placeholder = problemsOf(`${BASE}enforcement: { openflow: { template: "tcp:{ip}:6653" } }\n`);
    assert.deepEqual(placeholder.map((p) => p.field), ['enforcement.openflow.template']);
    assert.match(placeholder[0]?.message ?? '', /unknown placeholder \{ip\}/);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { openflow: { template: "tcp:{host_ip}" } }\n`), ['enforcement.openflow.template']);
    assert.deepEqual(fieldsOf(BASE, { CM_AGENT_OPENFLOW_TEMPLATE: 'tcp:{nope}:6653' }), ['enforcement.openflow.template']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { openflow: { endpoints: [a] } }\n`), ['enforcement.openflow.endpoints']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { openflow: { tls: { key: /k } } }\n`), ['enforcement.openflow.tls']);
  });

  it('upload "meter" needs an OpenFlow endpoint (unless simulated)', () => {
    const problems = problemsOf(`${BASE}enforcement: { upload: meter }\n`);
    assert.deepEqual(problems.map((p) => p.field), ['enforcement.openflow']);
    assert.match(problems[0]?.message ?? '', /OpenFlow endpoint/);
    assert.deepEqual(fieldsOf(BASE, { CM_AGENT_UPLOAD: 'meter' }), ['enforcement.openflow']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { upload: meter, openflow: { endpoints: { compute1: "tcp:10.0.0.1:6653" } } }\n`), []);
    assert.deepEqual(fieldsOf(BASE, { CM_AGENT_UPLOAD: 'meter', CM_AGENT_OPENFLOW_TEMPLATE: 'unix:/run/openvswitch/br-int.mgmt' }), []);
    assert.deepEqual(fieldsOf(`auth: { tokens: [${TOKEN}] }\nsim: true\nenforcement: { upload: meter }\n`), []);
    // auto falls back to policing on its own: no endpoint needed.
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { upload: auto }\n`), []);
  });

  it('takes CM_AGENT_OPENFLOW_TEMPLATE over the file', () => {
    const config = parseAgentConfig(`${BASE}enforcement: { openflow: { template: "tcp:{host_ip}:6653" } }\n`, { CM_AGENT_OPENFLOW_TEMPLATE: 'ssl:{host}:6653' });
    assert.equal(config.enforcement.openflow.template, 'ssl:{host}:6653');
  });

  it('openflowEndpointFor: the per-host entry, else the template, else nothing', () => {
    const config = parseAgentConfig(
      `${BASE}enforcement:\n  openflow:\n    template: "tcp:{host_ip}:6653"\n    endpoints: { compute1: "unix:/run/openvswitch/br-int.mgmt", hv3.example: "tcp:10.9.9.9:6653" }\n`,
      {},
    );
    assert.deepEqual(openflowEndpointFor(config, { name: 'compute1', hostIp: '10.0.0.1', hypervisorHostname: 'c1' }), { endpoint: 'unix:/run/openvswitch/br-int.mgmt' });
    assert.deepEqual(openflowEndpointFor(config, { name: 'compute3', hostIp: '10.0.0.3', hypervisorHostname: 'hv3.example' }), { endpoint: 'tcp:10.9.9.9:6653' });
    assert.deepEqual(openflowEndpointFor(config, { name: 'compute2', hostIp: '10.0.0.2', hypervisorHostname: 'c2' }), { endpoint: 'tcp:10.0.0.2:6653' });
    // The template needs the host's IP, which this host does not report.
    assert.equal(openflowEndpointFor(config, { name: 'compute4', hostIp: undefined, hypervisorHostname: 'c4' }), undefined);
    // The OVSDB template is not an OpenFlow endpoint.
    assert.equal(openflowEndpointFor(parseAgentConfig(BASE, {}), { name: 'compute2', hostIp: '10.0.0.2', hypervisorHostname: 'c2' }), undefined);
  });

  it('openflowEndpointFor expands {host} and {hypervisor_hostname}', () => {
    const byName = parseAgentConfig(`${BASE}enforcement: { openflow: { template: "ssl:{host}:6653" } }\n`, {});
    assert.deepEqual(openflowEndpointFor(byName, { name: 'compute7', hostIp: undefined, hypervisorHostname: 'c7.example' }), { endpoint: 'ssl:compute7:6653' });
    const byHypervisor = parseAgentConfig(`${BASE}enforcement: { openflow: { template: "unix:/run/ovs/{hypervisor_hostname}/br-int.mgmt" } }\n`, {});
    assert.deepEqual(openflowEndpointFor(byHypervisor, { name: 'compute7', hostIp: '10.0.0.7', hypervisorHostname: 'c7.example' }), { endpoint: 'unix:/run/ovs/c7.example/br-int.mgmt' });
  });

  it('openflowEndpointFor: an explicit endpoint or template wins over the passive listener, which is the fallback', () => {
    const both = parseAgentConfig(`${BASE}enforcement: { openflow: { endpoints: { compute1: "tcp:10.0.0.1:6653" }, listener: "ptcp:6653:{host_ip}" } }\n`, {});
    assert.deepEqual(openflowEndpointFor(both, { name: 'compute1', hostIp: '10.0.0.1', hypervisorHostname: 'c1' }), { endpoint: 'tcp:10.0.0.1:6653' });
    assert.deepEqual(openflowEndpointFor(both, { name: 'compute2', hostIp: '10.0.0.2', hypervisorHostname: 'c2' }), { endpoint: 'tcp:10.0.0.2:6653', listener: 'ptcp:6653:10.0.0.2' });
    assert.equal(openflowEndpointFor(both, { name: 'compute3', hostIp: undefined, hypervisorHostname: 'c3' }), undefined);
  });

  it('rates.interval_ms: 0 turns sampling off; a negative one is refused', () => {
    assert.equal(parseAgentConfig(`${BASE}rates: { interval_ms: 0 }\n`, {}).rates.intervalMs, 0);
    assert.deepEqual(fieldsOf(`${BASE}rates: { interval_ms: -1 }\n`), ['rates.interval_ms']);
    assert.deepEqual(fieldsOf(`${BASE}rates: { interval_ms: 1.5 }\n`), ['rates.interval_ms']);
    assert.deepEqual(fieldsOf(`${BASE}rates: { per_port_metrics: maybe }\n`), ['rates.per_port_metrics']);
  });

  it('enforcement.meter.burst_ms must be 50 ms to 10 s', () => {
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { meter: { burst_ms: 49 } }\n`), ['enforcement.meter.burst_ms']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { meter: { burst_ms: 10001 } }\n`), ['enforcement.meter.burst_ms']);
    assert.equal(parseAgentConfig(`${BASE}enforcement: { meter: { burst_ms: 50 } }\n`, {}).enforcement.meterBurstMs, 50);
  });

  it('enforcement.guarantees: rates named by field, bounds on the round and the uplink share', () => {
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { guarantees: { uplink: fast } }\n`), ['enforcement.guarantees.uplink']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { guarantees: { uplink: 0 } }\n`), ['enforcement.guarantees.uplink']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { guarantees: { uplinks: { compute1: -1 } } }\n`), ['enforcement.guarantees.uplinks.compute1']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { guarantees: { uplinks: [1] } }\n`), ['enforcement.guarantees.uplinks']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { guarantees: { interval_ms: 50 } }\n`), ['enforcement.guarantees.interval_ms']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { guarantees: { uplink_share_percent: 101 } }\n`), ['enforcement.guarantees.uplink_share_percent']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { guarantees: { enabled: yes please } }\n`), ['enforcement.guarantees.enabled']);
    assert.deepEqual(fieldsOf(`${BASE}enforcement: { guarantees: { speed: 1 } }\n`), ['enforcement.guarantees.speed']);
  });

  it('reports enforcement problems together with the others', () => {
    const fields = fieldsOf(`auth: { tokens: [${TOKEN}] }\nenforcement: { upload: x, openflow: { template: "tcp:{ip}:1" } }\nrates: { interval_ms: -5 }\n`);
    assert.deepEqual(new Set(fields), new Set(['ovsdb', 'enforcement.upload', 'enforcement.openflow.template', 'rates.interval_ms']));
  });
});
