import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Flavor } from '../placement/types.ts';
import { parseTopologyYaml } from './parse.ts';
import { DEFAULT_SLA_CLASSES, parseSlaClassConfig, slaOf } from './sla-classes.ts';
import { TopologyError } from './source.ts';
import { placementUnits, trafficDemands } from './traffic.ts';

const thesisYaml = readFileSync(path.join(import.meta.dirname, 'fixtures', 'thesis', 'thesis.yaml'), 'utf8');
const thesis = () => parseTopologyYaml({ name: 'thesis.yaml', text: thesisYaml });
const FLAVORS = new Map<string, Flavor>([['m1.mini', { name: 'm1.mini', vcpus: 1, ramMb: 512, diskGb: 1 }]]);

describe('SLA classes', () => {
  it('defaults to the thesis: Gold for MediaServer, Wholesale for the rest', () => {
    const t = thesis();
    assert.deepEqual(Object.fromEntries(t.serviceInstances.map((s) => [s.name, s.slaClass])), { Controller: 'Wholesale', Broker: 'Wholesale', MediaServer: 'Gold' });
    const units = placementUnits(t, FLAVORS);
    assert.deepEqual(units.find((u) => u.id === 'MediaServer-2')?.sla, { className: 'Gold', minBps: 100_000_000, maxBps: 10_000_000_000 });
    assert.deepEqual(units.find((u) => u.id === 'Broker-1')?.sla, { className: 'Wholesale', minBps: 100_000_000, maxBps: 1_000_000_000 });
    assert.deepEqual(slaOf(DEFAULT_SLA_CLASSES.classes.Gold!), { download: { minRate: 100_000_000, maxRate: 10_000_000_000 } });
  });

  it('parses a class config with tc-style rates and validates every field', () => {
    const cfg = parseSlaClassConfig({
      name: 'classes.yaml',
      text: 'classes:\n  Gold: { min: 200Mbit, max: 2Gbit, upload_max: 500mbit, burst: 96kbit }\n  Bronze: { min: 10mbit, max: 100mbit }\nassign: { MediaServer: Gold }\ndefault: Bronze\n',
    });
    assert.deepEqual(cfg.classes.Gold, { name: 'Gold', minBps: 200_000_000, maxBps: 2_000_000_000, uploadMaxBps: 500_000_000, uploadMinBps: null, burstBits: 96_000 });
    const gold = cfg.classes.Gold;
    assert.ok(gold);
    assert.deepEqual(slaOf(gold), { download: { minRate: 200_000_000, maxRate: 2_000_000_000, burst: 96_000 }, upload: { maxRate: 500_000_000 } });
    assert.throws(
      () =>
        parseSlaClassConfig({
          name: 'classes.yaml',
          text: 'classes:\n  Gold: { min: 2Gbit, max: 1Gbit, burst: 10mbps }\n  Silver: { min: fast, mx: 1 }\nassign: { MediaServer: Platinum }\ndefault: Iron\n',
        }),
      (err: unknown) => {
        assert.ok(err instanceof TopologyError);
        const lines = err.message.split('\n');
        for (const re of [
          /^classes\.yaml:2:\d+ classes\.Gold\.min: must not exceed max \(2000000000 > 1000000000 bit\/s\)$/,
          /^classes\.yaml:2:\d+ classes\.Gold\.burst: "mbps" is a rate unit/,
          /^classes\.yaml:3:\d+ classes\.Silver\.mx: unknown field \(did you mean "max"\?\)/,
          /^classes\.yaml:3:\d+ classes\.Silver\.min: is not a rate: "fast"/,
          /^classes\.yaml:3:\d+ classes\.Silver\.max: is required$/,
          /^classes\.yaml:4:\d+ assign\.MediaServer: unknown SLA class "Platinum"/,
          /^classes\.yaml:5:10 default: unknown SLA class "Iron"/,
        ]) {
          assert.ok(lines.some((l) => re.test(l)), `missing ${String(re)} in\n${err.message}`);
        }
        return true;
      },
    );
  });

  it('upload_min guarantees the upload within upload_max, or within max when there is no upload_max', () => {
    const cfg = parseSlaClassConfig({
      name: 'classes.yaml',
      text: 'classes:\n  Gold: { min: 200Mbit, max: 2Gbit, upload_min: 100mbit, upload_max: 500mbit }\n  Silver: { min: 50mbit, max: 500mbit, upload_min: 20mbit }\ndefault: Silver\n',
    });
    const gold = cfg.classes.Gold;
    const silver = cfg.classes.Silver;
    assert.ok(gold && silver);
    assert.equal(gold.uploadMinBps, 100_000_000);
    assert.deepEqual(slaOf(gold), { download: { minRate: 200_000_000, maxRate: 2_000_000_000 }, upload: { minRate: 100_000_000, maxRate: 500_000_000 } });
    assert.deepEqual(slaOf(silver), { download: { minRate: 50_000_000, maxRate: 500_000_000 }, upload: { minRate: 20_000_000, maxRate: 500_000_000 } }, 'capped at max');
    assert.throws(
      () =>
        parseSlaClassConfig({
          name: 'classes.yaml',
          text: 'classes:\n  Gold: { min: 1mbit, max: 2Gbit, upload_min: 600mbit, upload_max: 500mbit }\n  Silver: { min: 1mbit, max: 500mbit, upload_min: 1gbit }\ndefault: Silver\n',
        }),
      (err: unknown) => {
        assert.ok(err instanceof TopologyError);
        assert.match(err.message, /^classes\.yaml:2:\d+ classes\.Gold\.upload_min: must not exceed upload_max \(600000000 > 500000000 bit\/s\)$/m);
        assert.match(err.message, /^classes\.yaml:3:\d+ classes\.Silver\.upload_min: must not exceed max \(the upload cap when upload_max is absent\) \(1000000000 > 500000000 bit\/s\)$/m);
        return true;
      },
    );
  });

  it('lets the topology file override classes and an instance override its class', () => {
    const text = `${thesisYaml.replace('  - { name: Broker, service_type: Broker }', '  - { name: Broker, service_type: Broker, sla_class: Gold }')}
sla_classes:
  classes:
    Gold: { min: 300Mbit, max: 3Gbit }
    Bronze: { min: 10Mbit, max: 100Mbit }
  assign: { Controller: Bronze }
`;
    const t = parseTopologyYaml({ name: 't.yaml', text });
    assert.deepEqual(Object.fromEntries(t.serviceInstances.map((s) => [s.name, s.slaClass])), { Controller: 'Bronze', Broker: 'Gold', MediaServer: 'Gold' });
    assert.equal(t.slaClasses.default, 'Wholesale');
    assert.equal(t.slaClasses.classes.Gold?.minBps, 300_000_000);
    // Another config re-resolves by the same rule: override, then service type, then default.
    const other = parseSlaClassConfig({ name: 'c', value: { classes: { Gold: { min: '1mbit', max: '2mbit' }, Basic: { min: '5mbit', max: '5mbit' } }, default: 'Basic' } });
    const units = placementUnits(t, FLAVORS, other);
    assert.deepEqual([...new Set(units.map((u) => `${u.serviceInstance}:${u.sla.className}`))], ['Controller:Basic', 'Broker:Gold', 'MediaServer:Basic']);
  });

  it('names unknown flavors clearly', () => {
    assert.throws(() => placementUnits(thesis(), new Map()), (err: unknown) => {
      assert.ok(err instanceof TopologyError);
      assert.equal(err.issues.length, 3);
      assert.match(err.message, /service_instances\[2\]\.flavor: unknown flavor "m1\.mini" \(known: none\)/);
      return true;
    });
    const units = placementUnits(thesis(), FLAVORS);
    assert.equal(units.length, 5);
    assert.deepEqual(units[0], { id: 'Controller-1', serviceInstance: 'Controller', flavor: FLAVORS.get('m1.mini'), sla: { className: 'Wholesale', minBps: 100_000_000, maxBps: 1_000_000_000 } });
  });
});

describe('traffic demands', () => {
  it('derives demands from requirements: consumer units × source units at the smaller class minimum', () => {
    const text = `${thesisYaml}
sla_classes:
  classes:
    Gold: { min: 300Mbit, max: 3Gbit }
`;
    assert.deepEqual(trafficDemands(parseTopologyYaml({ name: 't.yaml', text })), [
      { a: 'Broker-1', b: 'MediaServer-1', guaranteedBps: 100_000_000 },
      { a: 'Broker-1', b: 'MediaServer-2', guaranteedBps: 100_000_000 },
      { a: 'Broker-1', b: 'MediaServer-3', guaranteedBps: 100_000_000 },
    ]);
    const allGold = text.replace('  - { name: Broker, service_type: Broker }', '  - { name: Broker, service_type: Broker, sla_class: Gold }');
    assert.deepEqual(
      trafficDemands(parseTopologyYaml({ name: 't.yaml', text: allGold })).map((d) => d.guaranteedBps),
      [300_000_000, 300_000_000, 300_000_000],
    );
  });

  it('expands declared traffic between service instances and units; repeated pairs add up', () => {
    const text = `${thesisYaml}
traffic:
  - { between: [MediaServer, Broker], guaranteed: 50Mbit }
  - { between: [MediaServer, MediaServer], guaranteed: 10Mbit }
  - { between: [Controller-1, MediaServer-3], guaranteed: 1Mbit }
  - { between: [Broker-1, MediaServer-3], guaranteed: 5Mbit }
`;
    const t = parseTopologyYaml({ name: 't.yaml', text });
    assert.equal(t.trafficDeclared, true);
    assert.deepEqual(t.traffic[0], { between: ['MediaServer', 'Broker'], guaranteedBps: 50_000_000 });
    assert.deepEqual(trafficDemands(t), [
      { a: 'Broker-1', b: 'MediaServer-1', guaranteedBps: 50_000_000 },
      { a: 'Broker-1', b: 'MediaServer-2', guaranteedBps: 50_000_000 },
      { a: 'Broker-1', b: 'MediaServer-3', guaranteedBps: 55_000_000 },
      { a: 'Controller-1', b: 'MediaServer-3', guaranteedBps: 1_000_000 },
      { a: 'MediaServer-1', b: 'MediaServer-2', guaranteedBps: 10_000_000 },
      { a: 'MediaServer-1', b: 'MediaServer-3', guaranteedBps: 10_000_000 },
      { a: 'MediaServer-2', b: 'MediaServer-3', guaranteedBps: 10_000_000 },
    ]);
  });

  it('an empty traffic list turns derivation off', () => {
    assert.deepEqual(trafficDemands(parseTopologyYaml({ name: 't.yaml', text: `${thesisYaml}\ntraffic: []\n` })), []);
  });
});
