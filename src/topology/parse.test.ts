import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parseThesisTopology, parseTopologyYaml } from './parse.ts';
import { TopologyError } from './source.ts';
import type { SourceFile } from './types.ts';

const dir = path.join(import.meta.dirname, 'fixtures', 'thesis');
const file = (name: string): SourceFile => ({ name, text: readFileSync(path.join(dir, name), 'utf8') });
const SERVICES = ['ControllerService.json', 'BrokerService.json', 'MediaService.json'];

function issuesOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TopologyError, String(err));
    return err.message.split('\n');
  }
  assert.fail('expected a TopologyError');
}

describe('thesis topology parsing', () => {
  it('parses the JSON documents and the YAML file into the same model', () => {
    const json = parseThesisTopology(file('topology.json'), SERVICES.map(file));
    const yaml = parseTopologyYaml(file('thesis.yaml'));
    assert.deepEqual(yaml, json);
    assert.equal(json.name, 'local_nm_template_minified');
    assert.deepEqual(
      json.units.map((u) => u.id),
      ['Controller-1', 'Broker-1', 'MediaServer-1', 'MediaServer-2', 'MediaServer-3'],
    );
    const ms = json.serviceInstances.find((s) => s.name === 'MediaServer');
    assert.deepEqual(ms, {
      name: 'MediaServer',
      serviceType: 'MediaServer',
      image: 'trusty-iperf',
      flavor: 'm1.mini',
      key: 'nubomedia',
      configuration: {},
      size: { min: 1, def: 3, max: 5 },
      networks: [{ name: 'Network-1', privateNet: 'private', privateSubnet: 'private-subnet', publicNet: null, securityGroups: ['default'] }],
      requirements: [{ name: '$BROKER_IP', parameter: 'private_ip', source: 'Broker', objName: 'Network-1' }],
      policies: [],
      userData: ['#!/bin/bash', 'echo "broker=$BROKER_IP" > /etc/cm-broker', 'iperf -c $BROKER_IP -t 60 &'],
      slaClass: 'Gold',
      slaClassOverride: null,
    });
    assert.deepEqual(json.traffic, []);
    assert.equal(json.trafficDeclared, false);
  });

  it('accepts service types as one array file', () => {
    const all = SERVICES.map((n) => JSON.parse(file(n).text) as unknown);
    const a = parseThesisTopology(file('topology.json'), [{ name: 'services.json', text: JSON.stringify(all, null, 2) }]);
    assert.deepEqual(a, parseThesisTopology(file('topology.json'), SERVICES.map(file)));
  });

  it('applies service-instance overrides', () => {
    const topo: SourceFile = {
      name: 'topology.json',
      text: JSON.stringify({
        name: 't',
        service_instances: [
          { name: 'Broker', service_type: 'Broker' },
          { name: 'Edge', service_type: 'MediaServer', size: { min: 1, def: 2, max: 2 }, flavor: 'm1.small', user_data: 'echo $BROKER_IP\n', sla_class: 'Wholesale' },
        ],
      }),
    };
    const t = parseThesisTopology(topo, SERVICES.map(file));
    const edge = t.serviceInstances.find((s) => s.name === 'Edge');
    assert.ok(edge);
    assert.equal(edge.flavor, 'm1.small');
    assert.deepEqual(edge.userData, ['echo $BROKER_IP']);
    assert.equal(edge.image, 'trusty-iperf');
    assert.equal(edge.slaClass, 'Wholesale');
    assert.equal(edge.slaClassOverride, 'Wholesale');
    assert.deepEqual(t.units.map((u) => u.id), ['Broker-1', 'Edge-1', 'Edge-2']);
  });
});

describe('topology validation', () => {
  it('reports every mistake of a YAML file at once, with file:line:col and the field', () => {
    const text = [
      'name: broken', //                                    1
      'services:', //                                       2
      '  - service_type: Broker', //                        3
      '    image: trusty-iperf', //                         4
      '    flavor: m1.mini', //                             5
      '    imgae: typo', //                                 6  unknown key
      '    size: { min: 2, def: 1, max: 3 }', //            7  min > def
      '    networks:', //                                   8
      '      - name: Network-1', //                         9
      '        private_net: private', //                    10  missing private_subnet
      '  - service_type: MediaServer', //                   11
      '    image: trusty-iperf', //                         12
      '    flavor: [m1.mini]', //                           13  wrong type
      '    size: { min: 1, def: 3, max: 5 }', //            14
      '    networks:', //                                   15
      '      - { name: Network-1, private_net: private, private_subnet: private-subnet }', // 16
      '    requirements:', //                               17
      '      - { name: $BROKER_IP, parameter: private_ip, source: Brokr, obj_name: Network-1 }', // 18 unknown source
      '      - { name: $X, parameter: private_ip, source: MediaServer, obj_name: Net-9 }', // 19 obj_name
      'service_instances:', //                              20
      '  - { name: Broker, service_type: Broker }', //     21
      '  - { name: MediaServer, service_type: MediaSrv }', // 22 unknown type
      '  - { name: MediaServer, service_type: MediaServer, sla_class: Platinum }', // 23 duplicate + sla_class
      'traffic:', //                                        24
      '  - { between: [Broker, Nobody], guaranteed: 50Mbit }', // 25
      '  - { between: [Broker, MediaServer], guaranteed: "1e8" }', // 26
    ].join('\n');
    const lines = issuesOf(() => parseTopologyYaml({ name: 'topo.yaml', text }));
    const expect = [
      /^topo\.yaml:6:5 services\[0\]\.imgae: unknown field \(did you mean "image"\?\)/,
      /^topo\.yaml:7:11 services\[0\]\.size: must satisfy min <= def <= max, got min 2, def 1, max 3$/,
      /^topo\.yaml:9:9 services\[0\]\.networks\[0\]\.private_subnet: is required$/,
      /^topo\.yaml:13:13 services\[1\]\.flavor: must be a string, got a list$/,
      /^topo\.yaml:22:40 service_instances\[1\]\.service_type: unknown service type "MediaSrv" \(known: Broker, MediaServer\)$/,
      /^topo\.yaml:23:13 service_instances\[2\]\.name: duplicate service instance name "MediaServer" \(also service_instances\[1\]\)$/,
      /^topo\.yaml:23:64 service_instances\[2\]\.sla_class: unknown SLA class "Platinum" \(known: Gold, Wholesale\)$/,
      /^topo\.yaml:18:60 services\[1\]\.requirements\[0\]\.source: unknown service instance "Brokr" \(known: Broker, MediaServer\)/,
      /^topo\.yaml:19:75 services\[1\]\.requirements\[1\]\.obj_name: "Net-9" is not a network of service instance "MediaServer" \(its networks: Network-1\)/,
      /^topo\.yaml:25:25 traffic\[0\]\.between\[1\]: "Nobody" is neither a service instance/,
      /^topo\.yaml:26:51 traffic\[1\]\.guaranteed: exponent notation is not accepted/,
    ];
    for (const re of expect) assert.ok(lines.some((l) => re.test(l)), `missing ${String(re)} in\n${lines.join('\n')}`);
    assert.equal(lines.length, expect.length, lines.join('\n'));
  });

  it('gives line numbers in JSON too, across the topology and service files', () => {
    const topo = [
      '{', //                                                       1
      '  "name": "t",', //                                          2
      '  "service_instances": [', //                                3
      '    {"name": "Broker", "service_type": "Broker"},', //       4
      '    {"name": "MediaServer", "service_type": "MediaServer",', // 5
      '     "size": {"min": 1, "def": 9, "max": 5}},', //            6
      '    {"service_type": "MediaServer", "sla_clas": "Gold"}', // 7
      '  ]', //                                                      8
      '}',
    ].join('\n');
    const ms = JSON.stringify({ ...(JSON.parse(file('MediaService.json').text) as object), version: [1] }, null, 2);
    const lines = issuesOf(() => parseThesisTopology({ name: 'topology.json', text: topo }, [file('BrokerService.json'), { name: 'MediaService.json', text: ms }]));
    const expect = [
      /^topology\.json:6:14 service_instances\[1\]\.size: must satisfy min <= def <= max/,
      /^topology\.json:7:5 service_instances\[2\]\.name: is required$/,
      /^topology\.json:7:37 service_instances\[2\]\.sla_clas: unknown field \(did you mean "sla_class"\?\)/,
      /^MediaService\.json:\d+:\d+ version: must be a string, got a list$/,
    ];
    for (const re of expect) assert.ok(lines.some((l) => re.test(l)), `missing ${String(re)} in\n${lines.join('\n')}`);
    assert.equal(lines.length, expect.length, lines.join('\n'));
  });

  it('reports syntax errors with their position, and duplicate keys', () => {
    const lines = issuesOf(() => parseThesisTopology({ name: 'topology.json', text: '{\n  "name": "a",\n  "name": "b"\n}' }, [{ name: 's.json', text: '{"service_type": ' }]));
    assert.ok(lines.some((l) => /^topology\.json:3:3 \(syntax\): Map keys must be unique/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^s\.json:1:\d+ \(syntax\):/.test(l)), lines.join('\n'));
  });

  it('rejects a public_ip requirement on a network without public_net, and duplicate service types', () => {
    const text = [
      'name: t',
      'services:',
      '  - { service_type: A, image: i, flavor: f, size: { min: 1, def: 1, max: 1 }, networks: [{ name: N, private_net: p, private_subnet: s }] }',
      '  - { service_type: A, image: i, flavor: f, size: { min: 1, def: 1, max: 1 }, networks: [{ name: N, private_net: p, private_subnet: s }],',
      '      requirements: [{ name: $IP, parameter: public_ip, source: a, obj_name: N }] }',
      '  - { service_type: B, image: i, flavor: f, size: { min: 1, def: 1, max: 1 }, networks: [{ name: N, private_net: p, private_subnet: s }],',
      '      requirements: [{ name: $IP, parameter: public_ip, source: a, obj_name: N }] }',
      'service_instances: [{ name: a, service_type: A }, { name: b, service_type: B }]',
    ].join('\n');
    const lines = issuesOf(() => parseTopologyYaml({ name: 't.yaml', text }));
    assert.ok(lines.some((l) => /^t\.yaml:4:21 services\[1\]\.service_type: duplicate service type "A" \(first defined in t\.yaml:3\)$/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => /^t\.yaml:7:\d+ services\[2\]\.requirements\[0\]\.parameter: public_ip needs a floating IP, but network "N" of "a" has no public_net/.test(l)), lines.join('\n'));
    assert.equal(lines.length, 2, lines.join('\n'));
  });
});
