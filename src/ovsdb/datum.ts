/**
 * Datum codec (RFC 7047 §5.1): converts between the wire notation and native
 * values, guided by the column type from the schema.
 *
 * Native values:
 * - integer → `number`, or `bigint` beyond ±2^53 (never silently rounded);
 *   real → `number`; boolean; string;
 * - uuid → the UUID as a lower-case string, or a {@link NamedUuid} inside one
 *   transaction;
 * - a column with min 1/max 1 is the atom itself; min 0/max 1 is the atom or
 *   `undefined`; other sets are arrays; maps are `Map`s.
 *
 * On the wire a set of exactly one element may be sent bare instead of
 * `["set",[x]]`; the decoder accepts both.
 */
import { OvsdbSchemaError } from './errors.ts';
import type { AtomicType, BaseType, ColumnType } from './schema.ts';

/** A reference, inside one transaction, to the row inserted with this `uuid-name`. */
export class NamedUuid {
  constructor(readonly name: string) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) {
      throw new OvsdbSchemaError(`invalid uuid-name "${name}": must match [A-Za-z_][A-Za-z0-9_]*`);
    }
  }
}

export function namedUuid(name: string): NamedUuid {
  return new NamedUuid(name);
}

export type Atom = string | number | bigint | boolean | NamedUuid;
export type Datum = Atom | undefined | readonly Atom[] | ReadonlyMap<Atom, Atom>;

/** Wire notation of an atom. */
export type WireAtom = string | number | bigint | boolean | ['uuid', string] | ['named-uuid', string];
/** Wire notation of a datum. */
export type WireDatum = WireAtom | ['set', WireAtom[]] | ['map', [WireAtom, WireAtom][]];

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_RE.test(value);
}

function fail(where: string, message: string): never {
  throw new OvsdbSchemaError(`${where}: ${message}`);
}

/** Encodes one native atom of the given base type. */
export function encodeAtom(type: AtomicType, value: unknown, where: string): WireAtom {
  switch (type) {
    case 'integer':
      if (typeof value === 'bigint') return value;
      if (typeof value === 'number' && Number.isInteger(value)) {
        if (!Number.isSafeInteger(value)) fail(where, `integer ${String(value)} is beyond 2^53; pass a bigint`);
        return value;
      }
      return fail(where, `expected an integer, got ${describe(value)}`);
    case 'real':
      if (typeof value === 'number' && Number.isFinite(value)) return value;
      if (typeof value === 'bigint') return Number(value);
      return fail(where, `expected a real number, got ${describe(value)}`);
    case 'boolean':
      if (typeof value === 'boolean') return value;
      return fail(where, `expected a boolean, got ${describe(value)}`);
    case 'string':
      if (typeof value === 'string') return value;
      return fail(where, `expected a string, got ${describe(value)}`);
    case 'uuid':
      if (value instanceof NamedUuid) return ['named-uuid', value.name];
      if (isUuid(value)) return ['uuid', value.toLowerCase()];
      return fail(where, `expected a UUID or named-uuid, got ${describe(value)}`);
  }
}

/** Decodes one wire atom of the given base type. */
export function decodeAtom(type: AtomicType, wire: unknown, where: string): Atom {
  switch (type) {
    case 'integer':
      if (typeof wire === 'bigint') return Number.isSafeInteger(Number(wire)) ? Number(wire) : wire;
      if (typeof wire === 'number' && Number.isInteger(wire)) return wire;
      return fail(where, `expected an integer, got ${describe(wire)}`);
    case 'real':
      if (typeof wire === 'number') return wire;
      if (typeof wire === 'bigint') return Number(wire);
      return fail(where, `expected a real number, got ${describe(wire)}`);
    case 'boolean':
      if (typeof wire === 'boolean') return wire;
      return fail(where, `expected a boolean, got ${describe(wire)}`);
    case 'string':
      if (typeof wire === 'string') return wire;
      return fail(where, `expected a string, got ${describe(wire)}`);
    case 'uuid':
      if (Array.isArray(wire) && wire.length === 2 && typeof wire[1] === 'string') {
        if (wire[0] === 'uuid' && isUuid(wire[1])) return wire[1].toLowerCase();
        if (wire[0] === 'named-uuid') return new NamedUuid(wire[1]);
      }
      return fail(where, `expected ["uuid", ...], got ${describe(wire)}`);
  }
}

function describe(value: unknown): string {
  if (value === undefined) return 'undefined';
  if (typeof value === 'bigint') return `${value.toString()}n`;
  if (value instanceof NamedUuid) return `named-uuid ${value.name}`;
  if (value instanceof Map) return 'a Map';
  try {
    const text = JSON.stringify(value);
    return text.length > 60 ? `${text.slice(0, 57)}...` : text;
  } catch {
    return typeof value;
  }
}

function isWireSet(wire: unknown): wire is ['set', unknown[]] {
  return Array.isArray(wire) && wire.length === 2 && wire[0] === 'set' && Array.isArray(wire[1]);
}

function isWireMap(wire: unknown): wire is ['map', unknown[]] {
  return Array.isArray(wire) && wire.length === 2 && wire[0] === 'map' && Array.isArray(wire[1]);
}

/** Elements of a wire set, accepting the bare one-element form. */
function wireSetElements(wire: unknown): unknown[] {
  return isWireSet(wire) ? wire[1] : [wire];
}

function checkCount(type: ColumnType, count: number, where: string): void {
  if (count < type.min || count > type.max) {
    const max = type.max === Infinity ? 'unlimited' : String(type.max);
    fail(where, `has ${String(count)} element(s), allowed ${String(type.min)}..${max}`);
  }
}

/**
 * Decodes a wire datum into its native value for `type`.
 * @param where names the column in error messages, e.g. "QoS.queues".
 */
export function decodeDatum(type: ColumnType, wire: unknown, where: string): Datum {
  if (type.value !== undefined) {
    if (!isWireMap(wire)) return fail(where, `expected ["map", ...], got ${describe(wire)}`);
    const map = new Map<Atom, Atom>();
    for (const pair of wire[1]) {
      if (!Array.isArray(pair) || pair.length !== 2) fail(where, 'map entries must be [key, value] pairs');
      map.set(decodeAtom(type.key.type, pair[0], where), decodeAtom(type.value.type, pair[1], where));
    }
    return map;
  }
  if (type.min === 1 && type.max === 1) {
    const elements = isWireSet(wire) ? wire[1] : [wire];
    if (elements.length !== 1) fail(where, `expected exactly one value, got ${String(elements.length)}`);
    return decodeAtom(type.key.type, elements[0], where);
  }
  const elements = wireSetElements(wire).map((e) => decodeAtom(type.key.type, e, where));
  if (type.max === 1) return elements[0];
  return elements;
}

/** Encodes a native value of a column of `type` into its wire form. */
export function encodeDatum(type: ColumnType, value: unknown, where: string): WireDatum {
  if (type.value !== undefined) {
    const valueType = type.value.type;
    let entries: [unknown, unknown][];
    if (value instanceof Map) entries = [...(value as Map<unknown, unknown>).entries()];
    else if (value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof NamedUuid)) {
      entries = Object.entries(value).map(([k, v]) => [
        type.key.type === 'integer' && /^-?[0-9]+$/.test(k) ? Number(k) : k,
        v,
      ]);
    } else return fail(where, `expected a Map or an object, got ${describe(value)}`);
    return [
      'map',
      entries.map(([k, v]): [WireAtom, WireAtom] => [
        encodeAtom(type.key.type, k, `${where} key`),
        encodeAtom(valueType, v, `${where}[${String(k)}]`),
      ]),
    ];
  }
  let elements: unknown[];
  if (value === undefined || value === null) elements = [];
  else if (Array.isArray(value)) elements = value;
  else if (value instanceof Set) elements = [...(value as Set<unknown>)];
  else elements = [value];
  checkCount(type, elements.length, where);
  const encoded = elements.map((e) => encodeAtom(type.key.type, e, where));
  if (type.min === 1 && type.max === 1) return encoded[0] as WireAtom;
  return ['set', encoded];
}

/** Checks value constraints (enum, ranges, lengths) of one native atom; returns a problem or undefined. */
export function atomConstraintProblem(base: BaseType, atom: Atom): string | undefined {
  if (base.enum && !(atom instanceof NamedUuid) && !base.enum.includes(atom as string | number | boolean)) {
    return `${describe(atom)} is not one of ${base.enum.map((e) => describe(e)).join(', ')}`;
  }
  if (base.type === 'integer' && (typeof atom === 'number' || typeof atom === 'bigint')) {
    if (base.minInteger !== undefined && atom < base.minInteger) return `${String(atom)} < minimum ${String(base.minInteger)}`;
    if (base.maxInteger !== undefined && atom > base.maxInteger) return `${String(atom)} > maximum ${String(base.maxInteger)}`;
  }
  if (base.type === 'real' && typeof atom === 'number') {
    if (base.minReal !== undefined && atom < base.minReal) return `${String(atom)} < minimum ${String(base.minReal)}`;
    if (base.maxReal !== undefined && atom > base.maxReal) return `${String(atom)} > maximum ${String(base.maxReal)}`;
  }
  if (base.type === 'string' && typeof atom === 'string') {
    let length = 0; // RFC 7047 counts characters (code points), not UTF-16 units.
    for (const _char of atom) length++;
    if (base.minLength !== undefined && length < base.minLength) return `string shorter than ${String(base.minLength)}`;
    if (base.maxLength !== undefined && length > base.maxLength) return `string longer than ${String(base.maxLength)}`;
  }
  return undefined;
}

/** The default value of a column (RFC 7047 §5.1): 0, 0.0, false, "", the all-zero UUID, or empty. */
export function defaultDatum(type: ColumnType): Datum {
  if (type.value !== undefined) return new Map();
  if (type.min === 0) return type.max === 1 ? undefined : [];
  switch (type.key.type) {
    case 'integer':
      return base0(type.key);
    case 'real':
      return 0;
    case 'boolean':
      return false;
    case 'string':
      return type.key.enum ? String(type.key.enum[0]) : '';
    case 'uuid':
      return '00000000-0000-0000-0000-000000000000';
  }
}

function base0(base: BaseType): number {
  if (base.enum && typeof base.enum[0] === 'number') return base.enum[0];
  return 0;
}

/** Structural equality of native atoms. */
export function atomsEqual(a: Atom, b: Atom): boolean {
  if (a instanceof NamedUuid || b instanceof NamedUuid) {
    return a instanceof NamedUuid && b instanceof NamedUuid && a.name === b.name;
  }
  if (typeof a === 'bigint' || typeof b === 'bigint') {
    const isInt = (x: Atom): x is number | bigint => typeof x === 'bigint' || Number.isInteger(x);
    return isInt(a) && isInt(b) && BigInt(a) === BigInt(b);
  }
  return a === b;
}

/** Structural equality of native datums. */
export function datumsEqual(a: Datum, b: Datum): boolean {
  if (a instanceof Map || b instanceof Map) {
    if (!(a instanceof Map) || !(b instanceof Map) || a.size !== b.size) return false;
    const am = a as ReadonlyMap<Atom, Atom>;
    const bm = b as ReadonlyMap<Atom, Atom>;
    for (const [k, v] of am) {
      const w = findMapValue(bm, k);
      if (w === undefined || !atomsEqual(v, w)) return false;
    }
    return true;
  }
  if (Array.isArray(a) || Array.isArray(b)) {
    const as: readonly Atom[] = Array.isArray(a) ? a : a === undefined ? [] : [a as Atom];
    const bs: readonly Atom[] = Array.isArray(b) ? b : b === undefined ? [] : [b as Atom];
    return as.length === bs.length && as.every((x) => bs.some((y) => atomsEqual(x, y)));
  }
  if (a === undefined || b === undefined) return a === b;
  return atomsEqual(a as Atom, b as Atom);
}

export function findMapValue(map: ReadonlyMap<Atom, Atom>, key: Atom): Atom | undefined {
  const direct = map.get(key);
  if (direct !== undefined) return direct;
  if (typeof key === 'string' || typeof key === 'boolean') return undefined;
  for (const [k, v] of map) if (atomsEqual(k, key)) return v;
  return undefined;
}
