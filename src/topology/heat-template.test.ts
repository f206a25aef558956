import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse } from 'yaml';
import { renderHeatTemplate, stackCreateRequest } from './heat-template.ts';
import { parseTopologyYaml } from './parse.ts';

type Json = Record<string, unknown>;
const thesisYaml = readFileSync(path.join(import.meta.dirname, 'fixtures', 'thesis', 'thesis.yaml'), 'utf8');
const thesis = parseTopologyYaml({ name: 'thesis.yaml', text: thesisYaml });
const UNITS = ['Controller-1', 'Broker-1', 'MediaServer-1', 'MediaServer-2', 'MediaServer-3'];

const res = (t: Json, name: string): Json => {
  const r = (t.resources as Json)[name];
  assert.ok(r, `resource ${name}`);
  return r as Json;
};
const props = (t: Json, name: string): Json => res(t, name).properties as Json;

describe('Heat template rendering', () => {
  const split = { 'Controller-1': 'compute2', 'Broker-1': 'compute2', 'MediaServer-1': 'compute1', 'MediaServer-2': 'compute1', 'MediaServer-3': null };
  const { template, yaml } = renderHeatTemplate(thesis, { assignments: split, stackName: 'cm-thesis' });

  it('emits HOT 2018-08-31 with a port and a server per unit, and YAML that parses back to the same object', () => {
    assert.equal(template.heat_template_version, '2018-08-31');
    assert.deepEqual(parse(yaml), template);
    const types = Object.entries(template.resources as Json).map(([n, r]) => `${n}:${String((r as Json).type)}`);
    assert.deepEqual(types, UNITS.flatMap((u) => [`${u}-port-Network-1:OS::Neutron::Port`, `${u}:OS::Nova::Server`]));
    assert.equal(types.some((t) => t.includes('FloatingIP')), false, 'no public_net → no floating IP');
  });

  it('pins each unit with nova:<host>, leaves unassigned units to Nova', () => {
    assert.equal(props(template, 'Controller-1').availability_zone, 'nova:compute2');
    assert.equal(props(template, 'MediaServer-1').availability_zone, 'nova:compute1');
    assert.equal('availability_zone' in props(template, 'MediaServer-3'), false);
    const zoned = renderHeatTemplate(thesis, { assignments: split, stackName: 's', availabilityZone: 'az1' }).template;
    assert.equal(props(zoned, 'Broker-1').availability_zone, 'az1:compute2');
    assert.equal(props(zoned, 'MediaServer-3').availability_zone, 'az1');
    assert.throws(() => renderHeatTemplate(thesis, { assignments: { 'Broker-1': 'compute1' }, stackName: 's' }), /no assignment for Controller-1, MediaServer-1/);
  });

  it('wires ports, server properties and metadata', () => {
    assert.deepEqual(props(template, 'Broker-1-port-Network-1'), { network: 'private', fixed_ips: [{ subnet: 'private-subnet' }], security_groups: ['default'] });
    const ms = props(template, 'MediaServer-2');
    assert.equal(ms.name, 'MediaServer-2');
    assert.equal(ms.flavor, 'm1.mini');
    assert.equal(ms.image, 'trusty-iperf');
    assert.equal(ms.key_name, 'nubomedia');
    assert.deepEqual(ms.networks, [{ port: { get_resource: 'MediaServer-2-port-Network-1' } }]);
    assert.deepEqual(ms.metadata, { cm_topology: 'local_nm_template_minified', cm_unit: 'MediaServer-2', cm_service_instance: 'MediaServer' });
    assert.equal(ms.user_data_format, 'RAW');
  });

  it("substitutes $BROKER_IP with Broker-1's port address via str_replace", () => {
    for (const u of ['MediaServer-1', 'MediaServer-2', 'MediaServer-3']) {
      assert.deepEqual(props(template, u).user_data, {
        str_replace: {
          template: '#!/bin/bash\necho "broker=$BROKER_IP" > /etc/cm-broker\niperf -c $BROKER_IP -t 60 &\n',
          params: { $BROKER_IP: { get_attr: ['Broker-1-port-Network-1', 'fixed_ips', 0, 'ip_address'] } },
        },
      });
    }
    assert.equal(props(template, 'Broker-1').user_data, '#!/bin/bash\niperf -s -D\n');
  });

  it('outputs each server id and private IP', () => {
    const outputs = template.outputs as Json;
    assert.deepEqual(Object.keys(outputs), UNITS.flatMap((u) => [`${u}-id`, `${u}-private-ip`]));
    assert.deepEqual((outputs['Broker-1-id'] as Json).value, { get_resource: 'Broker-1' });
    assert.deepEqual((outputs['Broker-1-private-ip'] as Json).value, { get_attr: ['Broker-1-port-Network-1', 'fixed_ips', 0, 'ip_address'] });
  });

  it('adds a floating IP only for a network with public_net, and public_ip reads its address', () => {
    const text = thesisYaml
      .replace(/(service_type: Broker\n(?:.*\n)*?\s+private_subnet: private-subnet\n)/, '$1        public_net: public\n')
      .replace('parameter: private_ip', 'parameter: public_ip')
      .replace('name: Network-1\n        private_net: private\n        private_subnet: private-subnet\n        security_groups: [default]\n    requirements:\n      - {', 'name: Net A/B\n        private_net: private\n        private_subnet: private-subnet\n    requirements:\n      - {');
    const t = parseTopologyYaml({ name: 't.yaml', text });
    const rendered = renderHeatTemplate(t, { assignments: Object.fromEntries(UNITS.map((u) => [u, null])), stackName: 's' }).template;
    const fips = Object.entries(rendered.resources as Json).filter(([, r]) => (r as Json).type === 'OS::Neutron::FloatingIP');
    assert.deepEqual(fips, [['Broker-1-fip-Network-1', { type: 'OS::Neutron::FloatingIP', properties: { floating_network: 'public', port_id: { get_resource: 'Broker-1-port-Network-1' } } }]]);
    assert.deepEqual(((props(rendered, 'MediaServer-1').user_data as Json).str_replace as Json).params, { $BROKER_IP: { get_attr: ['Broker-1-fip-Network-1', 'floating_ip_address'] } });
    // Network names are sanitised into resource names; security groups only when given.
    assert.deepEqual(props(rendered, 'MediaServer-1-port-Net_A_B'), { network: 'private', fixed_ips: [{ subnet: 'private-subnet' }] });
    assert.deepEqual((rendered.outputs as Json)['Broker-1-public-ip-Network-1'], { description: 'Floating IP of Broker-1 on Network-1', value: { get_attr: ['Broker-1-fip-Network-1', 'floating_ip_address'] } });
  });

  it('builds the stack-create body with disable_rollback explicitly true', () => {
    const body = stackCreateRequest(thesis, { assignments: split, stackName: 'cm-thesis', timeoutMins: 30, tags: ['cm', 'thesis'] });
    assert.equal(body.disable_rollback, true);
    assert.equal(body.stack_name, 'cm-thesis');
    assert.equal(body.timeout_mins, 30);
    assert.equal(body.tags, 'cm,thesis');
    assert.deepEqual(body.template, template);
  });
});
