/**
 * The value layer: text forms used in ovsdb-server's error messages, the
 * wire encoding, and the update2 diff.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseJsonExact } from '../framing.ts';
import {
  atomToString,
  canonicalJson,
  compareStrings,
  datumDiff,
  datumFromJson,
  datumToJson,
  datumToString,
  formatReal,
  makeMap,
  makeSet,
  toTypeSpec,
  typeToEnglish,
  wireReal,
} from './values.ts';

const intSet = toTypeSpec({ key: { type: 'integer' }, min: 0, max: Infinity });
const optionalInt = toTypeSpec({ key: { type: 'integer' }, min: 0, max: 1 });
const stringMap = toTypeSpec({ key: { type: 'string' }, value: { type: 'string' }, min: 0, max: Infinity });
const uuidSet = toTypeSpec({ key: { type: 'uuid' }, min: 0, max: Infinity });

describe('values: text forms', () => {
  it('prints reals like printf("%.15g")', () => {
    assert.equal(formatReal(2.5), '2.5');
    assert.equal(formatReal(0.30000000000000004), '0.3');
    assert.equal(formatReal(2 ** 63), '9.22337203685478e+18');
    assert.equal(formatReal(1.5e-7), '1.5e-07');
    assert.equal(formatReal(123456), '123456');
    assert.equal(formatReal(-0.0001), '-0.0001');
    assert.equal(wireReal(0.30000000000000004), 0.3);
  });

  it('quotes strings only when they would not read back as a bare word', () => {
    assert.equal(atomToString('br0', 'string'), 'br0');
    assert.equal(atomToString('a_b-c.d9', 'string'), 'a_b-c.d9');
    assert.equal(atomToString('0a b', 'string'), '"0a b"');
    assert.equal(atomToString('true', 'string'), '"true"');
    assert.equal(atomToString('', 'string'), '""');
    assert.equal(atomToString('5d7f7fdc-5c9c-4212-a1bc-3c0b7c539d4e', 'string'), '"5d7f7fdc-5c9c-4212-a1bc-3c0b7c539d4e"');
    assert.equal(datumToString(makeSet(['a', 'b c']), toTypeSpec({ key: { type: 'string' }, min: 0, max: Infinity })), '[a, "b c"]');
    assert.equal(datumToString(makeMap(['k'], ['v']), stringMap), '{k=v}');
    assert.equal(datumToString(makeSet([]), optionalInt), '[]');
  });

  it('describes types in English', () => {
    assert.equal(typeToEnglish(toTypeSpec({ key: { type: 'integer' }, min: 0, max: 3 })), 'set of up to 3 integers');
    assert.equal(typeToEnglish(toTypeSpec({ key: { type: 'integer' }, min: 1, max: 3 })), 'set of 1 to 3 integers');
    assert.equal(typeToEnglish(toTypeSpec({ key: { type: 'uuid' }, min: 1, max: Infinity })), 'set of 1 or more uuids');
    assert.equal(typeToEnglish(stringMap), 'map of (string, string) pairs');
    assert.equal(typeToEnglish(toTypeSpec({ key: { type: 'real' }, min: 1, max: 1 })), 'real');
  });

  it('serializes error syntax with sorted keys', () => {
    assert.equal(canonicalJson({ table: 'V', op: 'select', where: [1.5, 2n ** 64n] }), '{"op":"select","table":"V","where":[1.5,18446744073709551616]}');
  });

  it('orders strings by code point (UTF-8 byte order)', () => {
    assert.ok(compareStrings('\uffff', '\u{1f600}') < 0);
    assert.ok(compareStrings('a', 'b') < 0);
    assert.ok(compareStrings('ab', 'a') > 0);
  });
});

describe('values: wire codec', () => {
  it('sorts sets and maps, writes one-element sets bare and maps always as maps', () => {
    const set = datumFromJson(intSet, ['set', [3, 1, 2]], undefined);
    assert.deepEqual(datumToJson(set, intSet), ['set', [1, 2, 3]]);
    assert.deepEqual(datumToJson(datumFromJson(intSet, 7, undefined), intSet), 7);
    assert.deepEqual(datumToJson(datumFromJson(optionalInt, ['set', []], undefined), optionalInt), ['set', []]);
    assert.deepEqual(datumToJson(datumFromJson(stringMap, ['map', [['b', '2'], ['a', '1']]], undefined), stringMap), ['map', [['a', '1'], ['b', '2']]]);
    assert.deepEqual(datumToJson(datumFromJson(uuidSet, ['uuid', '5D7F7FDC-5C9C-4212-A1BC-3C0B7C539D4E'], undefined), uuidSet), ['uuid', '5d7f7fdc-5c9c-4212-a1bc-3c0b7c539d4e']);
  });

  it('keeps 64-bit integers exact', () => {
    const big = parseJsonExact('[9223372036854775807]') as unknown[];
    const datum = datumFromJson(intSet, big[0], undefined);
    assert.equal(datumToJson(datum, intSet), 9223372036854775807n);
  });

  it('resolves named-uuids through the transaction symbol table only', () => {
    const symtab = { resolve: (name: string) => (name === 'a' ? '5d7f7fdc-5c9c-4212-a1bc-3c0b7c539d4e' : '') };
    assert.deepEqual(datumFromJson(uuidSet, ['named-uuid', 'a'], symtab).keys, ['5d7f7fdc-5c9c-4212-a1bc-3c0b7c539d4e']);
    assert.throws(() => datumFromJson(uuidSet, ['named-uuid', 'a'], undefined), /expected \["uuid", <string>\]/);
  });
});

describe('values: update2 diffs', () => {
  it('sets: symmetric difference; maps: removed, added and changed pairs; at most one element: the new value', () => {
    assert.deepEqual(datumDiff(makeSet([1n, 2n]), makeSet([2n, 3n]), intSet), makeSet([1n, 3n]));
    assert.deepEqual(
      datumDiff(makeMap(['a', 'b', 'c'], ['1', '2', '3']), makeMap(['b', 'c', 'd'], ['2', '9', '4']), stringMap),
      makeMap(['a', 'c', 'd'], ['1', '9', '4']),
    );
    assert.deepEqual(datumDiff(makeSet([5n]), makeSet([6n]), optionalInt), makeSet([6n]));
    assert.deepEqual(datumDiff(makeSet([5n]), makeSet([]), optionalInt), makeSet([]));
  });
});
