import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  NamedUuid,
  atomConstraintProblem,
  atomsEqual,
  datumsEqual,
  decodeAtom,
  decodeDatum,
  defaultDatum,
  encodeAtom,
  encodeDatum,
  findMapValue,
  isUuid,
  namedUuid,
} from './datum.ts';
import { OvsdbSchemaError } from './errors.ts';
import { parseJsonExact, stringifyJson } from './framing.ts';
import type { ColumnType } from './schema.ts';

const U1 = '5d7f7fdc-5c9c-4212-a1bc-3c0b7c539d4e';
const U2 = '9f092489-e83f-4f05-a5c7-c5aef10cece4';

const scalarInt: ColumnType = { key: { type: 'integer' }, min: 1, max: 1 };
const scalarString: ColumnType = { key: { type: 'string' }, min: 1, max: 1 };
const optionalInt: ColumnType = { key: { type: 'integer', minInteger: 0, maxInteger: 63 }, min: 0, max: 1 };
const intSet: ColumnType = { key: { type: 'integer', minInteger: 0, maxInteger: 4095 }, min: 0, max: 4096 };
const uuidSet: ColumnType = { key: { type: 'uuid', refTable: 'Interface', refType: 'strong' }, min: 1, max: Infinity };
const optionalUuid: ColumnType = { key: { type: 'uuid', refTable: 'QoS', refType: 'strong' }, min: 0, max: 1 };
const stringMap: ColumnType = { key: { type: 'string' }, value: { type: 'string' }, min: 0, max: Infinity };
const queueMap: ColumnType = {
  key: { type: 'integer', minInteger: 0, maxInteger: 4294967295 },
  value: { type: 'uuid', refTable: 'Queue', refType: 'strong' },
  min: 0,
  max: Infinity,
};
const counterMap: ColumnType = { key: { type: 'string' }, value: { type: 'integer' }, min: 0, max: Infinity };

/** Asserts an OvsdbSchemaError whose message names `where`. */
function throwsNaming(fn: () => unknown, where: string): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof OvsdbSchemaError, `expected OvsdbSchemaError, got ${String(error)}`);
    assert.ok(error.message.includes(where), `"${error.message}" names ${where}`);
    return true;
  });
}

describe('decodeDatum', () => {
  it('accepts a bare atom for a one-element set', () => {
    assert.deepEqual(decodeDatum(intSet, 5, 'Port.trunks'), [5]);
    assert.deepEqual(decodeDatum(uuidSet, ['uuid', U1], 'Port.interfaces'), [U1]);
    assert.deepEqual(decodeDatum(intSet, ['set', [5]], 'Port.trunks'), [5]);
  });

  it('decodes sets of several elements and the empty set', () => {
    assert.deepEqual(decodeDatum(intSet, ['set', [1, 2, 3]], 'Port.trunks'), [1, 2, 3]);
    assert.deepEqual(decodeDatum(intSet, ['set', []], 'Port.trunks'), []);
    assert.deepEqual(
      decodeDatum(uuidSet, ['set', [['uuid', U1], ['uuid', U2]]], 'Port.interfaces'),
      [U1, U2],
    );
  });

  it('decodes optional columns to the atom or undefined', () => {
    assert.equal(decodeDatum(optionalInt, 7, 'Queue.dscp'), 7);
    assert.equal(decodeDatum(optionalInt, ['set', [7]], 'Queue.dscp'), 7);
    assert.equal(decodeDatum(optionalInt, ['set', []], 'Queue.dscp'), undefined);
    assert.equal(decodeDatum(optionalUuid, ['uuid', U1], 'Port.qos'), U1);
  });

  it('decodes scalars, also from a one-element set', () => {
    assert.equal(decodeDatum(scalarString, 'linux-htb', 'QoS.type'), 'linux-htb');
    assert.equal(decodeDatum(scalarString, ['set', ['linux-htb']], 'QoS.type'), 'linux-htb');
    throwsNaming(() => decodeDatum(scalarString, ['set', []], 'QoS.type'), 'QoS.type');
    throwsNaming(() => decodeDatum(scalarString, ['set', ['a', 'b']], 'QoS.type'), 'QoS.type');
  });

  it('decodes maps into Map, with integer keys and uuid values', () => {
    const m = decodeDatum(stringMap, ['map', [['max-rate', '1000'], ['min-rate', '10']]], 'QoS.other_config');
    assert.ok(m instanceof Map);
    assert.deepEqual([...m], [['max-rate', '1000'], ['min-rate', '10']]);
    const q = decodeDatum(queueMap, ['map', [[0, ['uuid', U1]], [4294967295, ['uuid', U2]]]], 'QoS.queues');
    assert.deepEqual(q, new Map<number, string>([[0, U1], [4294967295, U2]]));
    assert.deepEqual(decodeDatum(stringMap, ['map', []], 'x'), new Map());
  });

  it('refuses a map in set notation or as a bare value, naming the column', () => {
    throwsNaming(() => decodeDatum(stringMap, ['set', []], 'QoS.other_config'), 'QoS.other_config');
    throwsNaming(() => decodeDatum(stringMap, 'x', 'QoS.other_config'), 'QoS.other_config');
    throwsNaming(() => decodeDatum(stringMap, ['map', [['a']]], 'QoS.other_config'), 'QoS.other_config');
  });

  it('lower-cases UUIDs and keeps named-uuids', () => {
    assert.equal(decodeDatum(optionalUuid, ['uuid', U1.toUpperCase()], 'Port.qos'), U1);
    const named = decodeAtom('uuid', ['named-uuid', 'q0'], 'x');
    assert.ok(named instanceof NamedUuid);
    assert.equal(named.name, 'q0');
    throwsNaming(() => decodeAtom('uuid', ['uuid', 'not-a-uuid'], 'Port.qos'), 'Port.qos');
    throwsNaming(() => decodeAtom('uuid', U1, 'Port.qos'), 'Port.qos');
  });

  it('keeps integers beyond 2^53 as bigint and turns safe bigints into numbers', () => {
    assert.equal(decodeDatum(scalarInt, 9007199254740993n, 'Open_vSwitch.next_cfg'), 9007199254740993n);
    assert.equal(decodeDatum(scalarInt, -(2n ** 63n), 'x'), -(2n ** 63n));
    assert.equal(decodeDatum(scalarInt, 42n, 'x'), 42);
    const stats = decodeDatum(counterMap, ['map', [['rx_bytes', 18446744073709551615n], ['rx_packets', 3]]], 'Interface.statistics');
    assert.deepEqual(stats, new Map<string, number | bigint>([['rx_bytes', 18446744073709551615n], ['rx_packets', 3]]));
  });

  it('refuses wrongly typed atoms, naming the column', () => {
    throwsNaming(() => decodeDatum(scalarInt, 1.5, 'Port.bond_updelay'), 'Port.bond_updelay');
    throwsNaming(() => decodeDatum(scalarInt, '1', 'Port.bond_updelay'), 'Port.bond_updelay');
    throwsNaming(() => decodeAtom('boolean', 'true', 'Bridge.stp_enable'), 'Bridge.stp_enable');
    throwsNaming(() => decodeAtom('string', 1, 'QoS.type'), 'QoS.type');
    assert.equal(decodeAtom('real', 2, 'x'), 2);
    assert.equal(decodeAtom('real', 2n ** 60n, 'x'), 2 ** 60);
  });
});

describe('encodeDatum', () => {
  it('encodes scalars bare', () => {
    assert.equal(encodeDatum(scalarString, 'linux-htb', 'QoS.type'), 'linux-htb');
    assert.equal(encodeDatum(scalarInt, 3, 'x'), 3);
  });

  it('encodes optional and set columns in set notation', () => {
    assert.deepEqual(encodeDatum(optionalInt, undefined, 'Queue.dscp'), ['set', []]);
    assert.deepEqual(encodeDatum(optionalInt, null, 'Queue.dscp'), ['set', []]);
    assert.deepEqual(encodeDatum(optionalInt, 5, 'Queue.dscp'), ['set', [5]]);
    assert.deepEqual(encodeDatum(intSet, [1, 2], 'Port.trunks'), ['set', [1, 2]]);
    assert.deepEqual(encodeDatum(intSet, new Set([3]), 'Port.trunks'), ['set', [3]]);
    assert.deepEqual(encodeDatum(optionalUuid, U1, 'Port.qos'), ['set', [['uuid', U1]]]);
  });

  it('encodes uuids and named-uuids', () => {
    assert.deepEqual(encodeAtom('uuid', U1.toUpperCase(), 'x'), ['uuid', U1]);
    assert.deepEqual(encodeAtom('uuid', namedUuid('q0'), 'x'), ['named-uuid', 'q0']);
    assert.deepEqual(encodeDatum(uuidSet, [namedUuid('i0'), U2], 'Port.interfaces'), [
      'set',
      [['named-uuid', 'i0'], ['uuid', U2]],
    ]);
  });

  it('encodes maps from a Map or a plain object, with integer keys from object keys', () => {
    assert.deepEqual(encodeDatum(stringMap, new Map([['a', '1']]), 'x'), ['map', [['a', '1']]]);
    assert.deepEqual(encodeDatum(stringMap, { 'max-rate': '100' }, 'x'), ['map', [['max-rate', '100']]]);
    assert.deepEqual(encodeDatum(queueMap, { 0: namedUuid('q0'), 7: U1 }, 'QoS.queues'), [
      'map',
      [
        [0, ['named-uuid', 'q0']],
        [7, ['uuid', U1]],
      ],
    ]);
    assert.deepEqual(encodeDatum(queueMap, new Map([[1, U2]]), 'QoS.queues'), ['map', [[1, ['uuid', U2]]]]);
  });

  it('passes bigint through and refuses unsafe numbers', () => {
    assert.equal(encodeDatum(scalarInt, 2n ** 63n - 1n, 'x'), 2n ** 63n - 1n);
    throwsNaming(() => encodeDatum(scalarInt, 2 ** 60, 'Open_vSwitch.next_cfg'), 'Open_vSwitch.next_cfg');
  });

  it('names the column (and the map key) in encoding errors', () => {
    throwsNaming(() => encodeDatum(scalarString, 5, 'QoS.type'), 'QoS.type');
    throwsNaming(() => encodeDatum(scalarInt, 1.5, 'Port.bond_updelay'), 'Port.bond_updelay');
    throwsNaming(() => encodeDatum(stringMap, { 'max-rate': 100 }, 'QoS.other_config'), 'QoS.other_config[max-rate]');
    throwsNaming(() => encodeDatum(stringMap, new Map([[1, 'x']]), 'QoS.other_config'), 'QoS.other_config key');
    throwsNaming(() => encodeDatum(stringMap, ['a'], 'QoS.other_config'), 'QoS.other_config');
    throwsNaming(() => encodeDatum(optionalInt, [1, 2], 'Queue.dscp'), 'Queue.dscp');
    throwsNaming(() => encodeDatum(uuidSet, [], 'Port.interfaces'), 'Port.interfaces');
    throwsNaming(() => encodeDatum(optionalUuid, 'not-a-uuid', 'Port.qos'), 'Port.qos');
    throwsNaming(() => encodeDatum(scalarString, undefined, 'QoS.type'), 'QoS.type');
  });

  it('round-trips through the wire form', () => {
    const cases: [ColumnType, unknown][] = [
      [scalarInt, -(2n ** 63n)],
      [optionalInt, 12],
      [intSet, [0, 4095]],
      [uuidSet, [U1]],
      [stringMap, new Map([['k', 'v']])],
      [queueMap, new Map([[3, U2]])],
    ];
    for (const [type, value] of cases) {
      const wire = parseJsonExact(stringifyJson(encodeDatum(type, value, 'x')));
      assert.deepEqual(decodeDatum(type, wire, 'x'), value);
    }
  });
});

describe('named uuids, constraints, defaults and equality', () => {
  it('validates uuid-names', () => {
    assert.equal(namedUuid('row_1').name, 'row_1');
    for (const bad of ['1row', 'a-b', '', 'a b']) assert.throws(() => namedUuid(bad), OvsdbSchemaError);
  });

  it('recognizes UUIDs', () => {
    assert.ok(isUuid(U1));
    assert.ok(isUuid(U1.toUpperCase()));
    assert.ok(!isUuid(`${U1}0`));
    assert.ok(!isUuid(5));
  });

  it('reports constraint problems of atoms', () => {
    assert.equal(atomConstraintProblem({ type: 'integer', minInteger: 0, maxInteger: 63 }, 63), undefined);
    assert.match(atomConstraintProblem({ type: 'integer', minInteger: 0, maxInteger: 63 }, 64) ?? '', /maximum 63/);
    assert.match(atomConstraintProblem({ type: 'integer', minInteger: 0 }, -1n) ?? '', /minimum 0/);
    assert.equal(atomConstraintProblem({ type: 'integer', maxInteger: 2n ** 63n - 1n }, 2n ** 62n), undefined);
    assert.match(atomConstraintProblem({ type: 'string', enum: ['a', 'b'] }, 'c') ?? '', /not one of/);
    assert.equal(atomConstraintProblem({ type: 'string', maxLength: 1 }, '𝄞'), undefined, 'one code point');
    assert.match(atomConstraintProblem({ type: 'string', minLength: 2 }, '𝄞') ?? '', /shorter/);
  });

  it('gives the RFC default values', () => {
    assert.equal(defaultDatum(scalarInt), 0);
    assert.equal(defaultDatum(scalarString), '');
    assert.equal(defaultDatum({ key: { type: 'string', enum: ['x', 'y'] }, min: 1, max: 1 }), 'x');
    assert.equal(defaultDatum({ key: { type: 'boolean' }, min: 1, max: 1 }), false);
    assert.equal(defaultDatum({ key: { type: 'uuid' }, min: 1, max: 1 }), '00000000-0000-0000-0000-000000000000');
    assert.equal(defaultDatum(optionalInt), undefined);
    assert.deepEqual(defaultDatum(intSet), []);
    assert.deepEqual(defaultDatum(stringMap), new Map());
  });

  it('compares atoms and datums structurally', () => {
    assert.ok(atomsEqual(5, 5n));
    assert.ok(!atomsEqual(5, 6n));
    assert.ok(atomsEqual(namedUuid('a'), namedUuid('a')));
    assert.ok(!atomsEqual(namedUuid('a'), 'a'));
    assert.ok(datumsEqual([1, 2], [2, 1]), 'sets are unordered');
    assert.ok(!datumsEqual([1, 2], [1]));
    assert.ok(datumsEqual(new Map([['a', '1']]), new Map([['a', '1']])));
    assert.ok(!datumsEqual(new Map([['a', '1']]), new Map([['a', '2']])));
    assert.ok(datumsEqual(undefined, []));
    assert.ok(datumsEqual(3, [3]));
    assert.equal(findMapValue(new Map<number | bigint, string>([[2n ** 60n, 'x']]), 2n ** 60n), 'x');
    assert.equal(findMapValue(new Map<number, string>([[5, 'x']]), 5n), 'x');
  });
});
