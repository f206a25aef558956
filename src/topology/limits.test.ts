import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bracketDepth, DEFAULT_TOPOLOGY_LIMITS, type TopologyLimits } from './limits.ts';
import { parseThesisTopology, parseTopologyYaml } from './parse.ts';
import { TopologyError } from './source.ts';

const SERVICE = '{ service_type: T, image: cirros, flavor: m1.mini, size: { min: 0, def: 1, max: 5 }, networks: [{ name: n, private_net: p, private_subnet: s }] }';

function yaml(o: { services?: string[]; instances?: string[]; traffic?: string[]; extra?: string } = {}): string {
  return [
    'name: t',
    'services:',
    ...(o.services ?? [SERVICE]).map((s) => `  - ${s}`),
    'service_instances:',
    ...(o.instances ?? ['{ name: A, service_type: T }']).map((s) => `  - ${s}`),
    ...(o.traffic ? ['traffic:', ...o.traffic.map((t) => `  - ${t}`)] : []),
    o.extra ?? '',
  ].join('\n');
}

function issuesOf(text: string, limits: Partial<TopologyLimits> = {}): string[] {
  try {
    parseTopologyYaml({ name: 'f', text }, { limits: { ...DEFAULT_TOPOLOGY_LIMITS, ...limits } });
  } catch (error) {
    if (error instanceof TopologyError) return error.issues.map((i) => `${i.path}: ${i.message}`);
    throw error;
  }
  return [];
}

describe('topology limits', () => {
  it('counts bracket nesting without parsing and stops early', () => {
    assert.equal(bracketDepth('{ a: [1, [2, {b: 3}]] }', 100), 4);
    assert.equal(bracketDepth('['.repeat(1_000_000), 10), 11);
    assert.equal(bracketDepth(']]][[', 10), 2);
  });

  it('within every default limit, a topology parses', () => {
    assert.deepEqual(issuesOf(yaml()), []);
  });

  it('refuses a document over its byte limit before parsing it', () => {
    assert.deepEqual(issuesOf(yaml(), { documentBytes: 100 }), [`(document): is ${String(Buffer.byteLength(yaml()))} bytes; the limit is 100 (limits.document_bytes)`]);
  });

  it('refuses deep block nesting and many aliases, each naming its limit', () => {
    const nested = yaml({ extra: `x:\n${Array.from({ length: 10 }, (_, i) => `${' '.repeat(2 * i + 2)}k${String(i)}:`).join('\n')} 1` });
    assert.match(issuesOf(nested, { depth: 8 }).join('\n'), /\(document\): nests mappings and lists more than 8 deep; the limit is 8 \(limits\.depth\)/);
    const aliased = yaml({ services: [`&s ${SERVICE}`], instances: ['{ name: A, service_type: T }'], extra: `x: [${Array.from({ length: 6 }, () => '*s').join(', ')}]` });
    assert.match(issuesOf(aliased, { yamlAliases: 5 }).join('\n'), /\(document\): uses 6 YAML aliases; the limit is 5 \(limits\.yaml_aliases\)/);
  });

  it('bounds strings, names and user_data', () => {
    assert.match(issuesOf(yaml({ instances: [`{ name: ${'a'.repeat(30)}, service_type: T }`] }), { nameLength: 20 }).join('\n'), /service_instances\[0\]\.name: is 30 characters long; the limit is 20 \(limits\.name_length\)/);
    assert.match(issuesOf(yaml({ instances: [`{ name: A, service_type: T, image: ${'i'.repeat(50)} }`] }), { stringLength: 40 }).join('\n'), /service_instances\[0\]\.image: is 50 characters long; the limit is 40 \(limits\.string_length\)/);
    assert.match(issuesOf(yaml({ instances: [`{ name: A, service_type: T, user_data: [${Array.from({ length: 10 }, () => 'x'.repeat(30)).join(', ')}] }`] }), { userDataBytes: 200 }).join('\n'), /service_instances\[0\]\.user_data: is 310 bytes; the limit is 200 \(limits\.user_data_bytes\)/);
  });

  it('bounds service types, service instances, traffic entries and unit pairs', () => {
    assert.match(issuesOf(yaml({ services: [SERVICE, SERVICE.replace('T,', 'U,'), SERVICE.replace('T,', 'V,')] }), { serviceTypes: 2 }).join('\n'), /services\[2\]: is service type number 3; the limit is 2 \(limits\.service_types\)/);
    assert.match(issuesOf(yaml({ instances: ['{ name: A, service_type: T }', '{ name: B, service_type: T }'] }), { serviceInstances: 1 }).join('\n'), /service_instances: has 2 service instances; the limit is 1/);
    const traffic = ['{ between: [A, B], guaranteed: 1mbit }', '{ between: [B, A], guaranteed: 1mbit }', '{ between: [A, A], guaranteed: 1mbit }'];
    const instances = ['{ name: A, service_type: T, size: { min: 0, def: 4, max: 4 } }', '{ name: B, service_type: T, size: { min: 0, def: 5, max: 5 } }'];
    assert.match(issuesOf(yaml({ instances, traffic }), { trafficEntries: 2 }).join('\n'), /traffic: has 3 entries; the limit is 2 \(limits\.traffic_entries\)/);
    // A–B listed twice is still 4 × 5 pairs; A–A is 4 × 3 / 2.
    assert.match(issuesOf(yaml({ instances, traffic }), { demands: 25 }).join('\n'), /traffic: would guarantee 26 pairs of units; the limit is 25 \(limits\.demands\)/);
    assert.deepEqual(issuesOf(yaml({ instances, traffic }), { demands: 26 }), []);
  });

  it('the thesis format counts its service-type files too', () => {
    const service = (type: string) => ({ name: `${type}.json`, text: JSON.stringify({ service_type: type, image: 'i', flavor: 'f', size: { min: 0, def: 1, max: 1 }, networks: [{ name: 'n', private_net: 'p', private_subnet: 's' }] }) });
    const topology = { name: 'topology.json', text: JSON.stringify({ name: 't', service_instances: [{ name: 'A', service_type: 'A' }] }) };
    assert.throws(
      () => parseThesisTopology(topology, [service('A'), service('B'), service('C')], { limits: { ...DEFAULT_TOPOLOGY_LIMITS, serviceTypes: 2 } }),
      (error: unknown) => error instanceof TopologyError && error.issues.some((i) => i.file === 'C.json' && /limits\.service_types/.test(i.message)),
    );
    // The operator's catalog has its own bound: a catalog larger than one request's limit still serves every topology.
    const catalog = Array.from({ length: 5 }, (_, i) => ({ ...service(i === 0 ? 'A' : `Z${String(i)}`), catalog: true }));
    const parsed = parseThesisTopology(topology, catalog, { limits: { ...DEFAULT_TOPOLOGY_LIMITS, serviceTypes: 2 } });
    assert.deepEqual(parsed.serviceInstances.map((i) => i.serviceType), ['A']);
  });
});
