import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { uplinkOvercommit, uplinkUse } from '../manager/changes.ts';
import { applyChanges, mergeChanges } from './changes.ts';
import { parseTopologyYaml } from './parse.ts';
import { TopologyError } from './source.ts';
import { trafficDemands } from './traffic.ts';

const THESIS = parseTopologyYaml({ name: 'thesis.yaml', text: readFileSync(path.resolve(import.meta.dirname, 'fixtures/thesis/thesis.yaml'), 'utf8') });

const issuesOf = (f: () => unknown): { path: string; message: string }[] => {
  try {
    f();
  } catch (error) {
    assert.ok(error instanceof TopologyError, String(error));
    return error.issues.map((i) => ({ path: i.path, message: i.message }));
  }
  assert.fail('no TopologyError');
};

describe('applyChanges', () => {
  it('no changes: the same topology', () => {
    assert.equal(applyChanges(THESIS, undefined), THESIS);
  });

  it('a class: every unit of the instance derives its demands from it; the parsed topology is not touched', () => {
    const changed = applyChanges(THESIS, { service_instances: { MediaServer: { sla_class: 'Wholesale' } } });
    assert.equal(changed.serviceInstances.find((s) => s.name === 'MediaServer')?.slaClass, 'Wholesale');
    assert.equal(THESIS.serviceInstances.find((s) => s.name === 'MediaServer')?.slaClass, 'Gold');
    assert.deepEqual(changed.units, THESIS.units);
  });

  it('a count: units added after the last or removed from the highest, in the parsed order', () => {
    const up = applyChanges(THESIS, { service_instances: { MediaServer: { count: 5 } } });
    assert.deepEqual(up.units.map((u) => u.id), ['Controller-1', 'Broker-1', 'MediaServer-1', 'MediaServer-2', 'MediaServer-3', 'MediaServer-4', 'MediaServer-5']);
    assert.equal(up.serviceInstances.find((s) => s.name === 'MediaServer')?.size.def, 5);
    const down = applyChanges(THESIS, { service_instances: { MediaServer: { count: 1 } } });
    assert.deepEqual(down.units.map((u) => u.id), ['Controller-1', 'Broker-1', 'MediaServer-1']);
    // The derived demands follow the units.
    assert.equal(trafficDemands(up).length, 5);
    assert.equal(trafficDemands(down).length, 1);
  });

  it('refuses an unknown instance or class, a count outside size.min..max, and a topology over the units limit, each at its field', () => {
    assert.deepEqual(
      issuesOf(() => applyChanges(THESIS, { service_instances: { Nope: { count: 1 }, MediaServer: { sla_class: 'Platinum', count: 6 }, Broker: { count: 0 } } })).map((i) => i.path),
      ['/body/service_instances/Nope', '/body/service_instances/MediaServer/sla_class', '/body/service_instances/MediaServer/count', '/body/service_instances/Broker/count'],
    );
    const [limit] = issuesOf(() => applyChanges(THESIS, { service_instances: { MediaServer: { count: 5 } } }, 6));
    assert.match(limit?.message ?? '', /7 units; the limit is 6 \(limits\.units\)/);
  });

  it('mergeChanges: later fields win, others stay', () => {
    assert.deepEqual(mergeChanges({ service_instances: { A: { sla_class: 'Gold', count: 2 }, B: { count: 1 } } }, { service_instances: { A: { count: 3 }, C: { sla_class: 'Wholesale' } } }), {
      service_instances: { A: { sla_class: 'Gold', count: 3 }, B: { count: 1 }, C: { sla_class: 'Wholesale' } },
    });
  });
});

describe('uplinkUse / uplinkOvercommit', () => {
  const demands = [
    { a: 'A-1', b: 'B-1', guaranteedBps: 100 },
    { a: 'A-1', b: 'A-2', guaranteedBps: 50 },
    { a: 'B-1', b: 'C-1', guaranteedBps: 7 },
  ];

  it('counts each demand between two hosts on both uplinks; same-host and unplaced units on none', () => {
    assert.deepEqual(uplinkUse(demands, { 'A-1': 'h1', 'A-2': 'h1', 'B-1': 'h2', 'C-1': null }), { uplinkBps: { h1: 100, h2: 100 }, crossHostBps: 100 });
  });

  it("names each host whose uplink would carry more than it has, next to the others' guarantees", () => {
    const use = uplinkUse(demands, { 'A-1': 'h1', 'A-2': 'h2', 'B-1': 'h2', 'C-1': 'h2' });
    assert.deepEqual(use.uplinkBps, { h1: 150, h2: 150 });
    const reasons = uplinkOvercommit(use, new Map([['h2', 60]]), { defaultBps: 200, hosts: { h1: 150 } });
    assert.deepEqual(reasons.map((r) => [r.subject, r.needed, r.available]), [['h2', 210, 200]]);
  });
});
