/**
 * The server's own value model: atoms, sorted datums, the wire codec and the
 * text forms ovsdb-server uses in error messages.
 *
 * The client codec in ../datum.ts is shaped for applications (bare optional
 * atoms, `Map`s); a server needs what ovsdb-server has instead: every datum as
 * a sorted array of unique keys (plus values for maps), integers as exact
 * 64-bit `bigint`s, and error messages byte-for-byte like the real server's,
 * because clients and tests match on them.
 */
import { randomUUID } from 'node:crypto';
import type { BaseType, ColumnType } from '../schema.ts';

export type AtomType = 'integer' | 'real' | 'boolean' | 'string' | 'uuid';

/** integer → bigint, real → number, boolean, string; uuid → lower-case text. */
export type Atom = bigint | number | boolean | string;

/** A column value: keys sorted and unique; `values` is present only for maps. */
export interface Datum {
  readonly keys: readonly Atom[];
  readonly values?: readonly Atom[];
}

export const INT64_MIN = -(2n ** 63n);
export const INT64_MAX = 2n ** 63n - 1n;
export const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

/** A base type with every bound filled in, as ovsdb-server keeps it. */
export interface BaseSpec {
  readonly type: AtomType;
  /** Allowed values as a sorted datum, or undefined when unrestricted. */
  readonly enum: Datum | undefined;
  readonly minInteger: bigint;
  readonly maxInteger: bigint;
  readonly minReal: number;
  readonly maxReal: number;
  readonly minLength: number;
  readonly maxLength: number;
  readonly refTable: string | undefined;
  readonly refType: 'strong' | 'weak';
}

export interface TypeSpec {
  readonly key: BaseSpec;
  readonly value: BaseSpec | undefined;
  readonly min: number;
  /** `Infinity` for "unlimited". */
  readonly max: number;
}

// ---- errors -----------------------------------------------------------------

/**
 * An error in ovsdb-server's JSON shape: `{"error", "details"?, "syntax"?}`.
 * Thrown while executing operations or RPCs and turned into the result slot
 * or the JSON-RPC error.
 */
export class OvsdbFailure extends Error {
  constructor(
    readonly tag: string,
    readonly details: string | undefined,
    /** The offending JSON, already serialized like ovsdb-server does. */
    readonly syntax?: string,
  ) {
    super(details === undefined ? tag : `${tag}: ${details}`);
    this.name = 'OvsdbFailure';
  }

  toJson(): Record<string, string> {
    const json: Record<string, string> = { error: this.tag };
    if (this.details !== undefined) json.details = this.details;
    if (this.syntax !== undefined) json.syntax = this.syntax;
    return json;
  }
}

/** ovsdb_syntax_error(): tag defaults to "syntax error"; `json` (if given) becomes the "syntax" member. */
export function syntaxError(json: unknown, tag: string | undefined, details: string): OvsdbFailure {
  return new OvsdbFailure(tag ?? 'syntax error', details, json === undefined ? undefined : canonicalJson(json));
}

// ---- JSON helpers -----------------------------------------------------------

export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** ovsdb_parser_is_id(): the identifier syntax of table, column, lock and uuid names. */
export function isId(text: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(text);
}

/** JSON integer in the sense of the OVS parser: no fraction or exponent, within 64 bits. */
export function jsonInteger(value: unknown): bigint | undefined {
  if (typeof value === 'bigint') return value >= INT64_MIN && value <= INT64_MAX ? value : undefined;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  return undefined;
}

/** The JSON type names ovsdb-server prints ("expected [\"uuid\", <string>]"). */
export function jsonTypeName(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'string') return 'string';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'object') return 'object';
  if (jsonInteger(value) !== undefined) return 'integer';
  return 'real';
}

/** printf("%.15g") — how ovsdb-server prints reals (DBL_DIG significant digits). */
export function formatReal(x: number): string {
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
  const [mantissa = '0', exponentText = '0'] = x.toExponential(14).split('e');
  const exponent = Number(exponentText);
  const strip = (s: string): string => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exponent < -4 || exponent >= 15) {
    const digits = String(Math.abs(exponent)).padStart(2, '0');
    return `${strip(mantissa)}e${exponent < 0 ? '-' : '+'}${digits}`;
  }
  return strip(x.toFixed(Math.max(0, 14 - exponent)));
}

/** A real as ovsdb-server puts it on the wire: rounded to 15 significant digits. */
export function wireReal(x: number): number {
  return Number(formatReal(x));
}

/**
 * JSON text with object keys sorted, as ovsdb-server serializes the "syntax"
 * member of errors.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') {
    return Number.isSafeInteger(value) ? String(value) : formatReal(value);
  }
  if (typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => canonicalJson(v)).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => compareStrings(a, b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return 'null';
}

// ---- types ------------------------------------------------------------------

function toBaseSpec(base: BaseType): BaseSpec {
  let enumDatum: Datum | undefined;
  if (base.enum !== undefined) {
    const atoms = base.enum.map((v): Atom => (base.type === 'integer' && typeof v === 'number' ? BigInt(v) : v));
    enumDatum = makeSet(sortUniqueAtoms(base.type, atoms));
  }
  return {
    type: base.type,
    enum: enumDatum,
    minInteger: base.minInteger === undefined ? INT64_MIN : BigInt(base.minInteger),
    maxInteger: base.maxInteger === undefined ? INT64_MAX : BigInt(base.maxInteger),
    minReal: base.minReal ?? -Number.MAX_VALUE,
    maxReal: base.maxReal ?? Number.MAX_VALUE,
    minLength: base.minLength ?? 0,
    maxLength: base.maxLength ?? Number.MAX_SAFE_INTEGER,
    refTable: base.refTable,
    refType: base.refType ?? 'strong',
  };
}

export function toTypeSpec(type: ColumnType): TypeSpec {
  return {
    key: toBaseSpec(type.key),
    value: type.value === undefined ? undefined : toBaseSpec(type.value),
    min: type.min,
    max: type.max,
  };
}

/** A base type without constraints (mutation arguments of arithmetic operators). */
export function unconstrained(base: BaseSpec): BaseSpec {
  return {
    type: base.type,
    enum: undefined,
    minInteger: INT64_MIN,
    maxInteger: INT64_MAX,
    minReal: -Number.MAX_VALUE,
    maxReal: Number.MAX_VALUE,
    minLength: 0,
    maxLength: Number.MAX_SAFE_INTEGER,
    refTable: base.refTable,
    refType: base.refType,
  };
}

export const isMapType = (type: TypeSpec): boolean => type.value !== undefined;
export const isScalarType = (type: TypeSpec): boolean => type.value === undefined && type.min === 1 && type.max === 1;
export const isOptionalScalarType = (type: TypeSpec): boolean => type.value === undefined && type.min === 0 && type.max === 1;
/** ovsdb_type_is_set(): optional scalars count as sets. */
export const isSetType = (type: TypeSpec): boolean => type.value === undefined && !(type.min === 1 && type.max === 1);
/** ovsdb_type_is_composite(): may hold more than one element. */
export const isCompositeType = (type: TypeSpec): boolean => type.max > 1;

const PLURAL: Record<AtomType, string> = {
  integer: 'integers',
  real: 'reals',
  boolean: 'booleans',
  string: 'strings',
  uuid: 'uuids',
};

/** ovsdb_type_to_english(), e.g. "set of up to 3 integers", "map of (string, integer) pairs". */
export function typeToEnglish(type: TypeSpec): string {
  if (isScalarType(type)) return type.key.type;
  let text = isSetType(type) ? 'set' : 'map';
  if (type.max === Infinity) text += type.min > 0 ? ` of ${String(type.min)} or more` : ' of';
  else if (type.min > 0) text += ` of ${String(type.min)} to ${String(type.max)}`;
  else text += ` of up to ${String(type.max)}`;
  if (type.value === undefined) return `${text} ${PLURAL[type.key.type]}`;
  return `${text} (${type.key.type}, ${type.value.type}) pairs`;
}

// ---- atoms ------------------------------------------------------------------

/** Compares strings by code point, i.e. in the byte order of their UTF-8 form (strcmp). */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) {
      // Surrogates (astral code points) sort after every BMP character in UTF-8.
      const fx = x >= 0xd800 && x < 0xe000 ? x + 0x2000 : x >= 0xe000 ? x - 0x800 : x;
      const fy = y >= 0xd800 && y < 0xe000 ? y + 0x2000 : y >= 0xe000 ? y - 0x800 : y;
      return fx < fy ? -1 : 1;
    }
  }
  return a.length < b.length ? -1 : a.length > b.length ? 1 : 0;
}

export function compareAtoms(a: Atom, b: Atom): number {
  if (typeof a === 'string' && typeof b === 'string') return compareStrings(a, b);
  if (typeof a === 'boolean' && typeof b === 'boolean') return a === b ? 0 : a ? 1 : -1;
  if (a < b) return -1;
  return a > b ? 1 : 0;
}

export function atomsEqual(a: Atom, b: Atom): boolean {
  return a === b;
}

export function defaultAtom(type: AtomType): Atom {
  switch (type) {
    case 'integer':
      return 0n;
    case 'real':
      return 0;
    case 'boolean':
      return false;
    case 'string':
      return '';
    case 'uuid':
      return ZERO_UUID;
  }
}

/** ovsdb_atom_to_string(): strings are quoted only when they would not read back as a bare word. */
export function atomToString(atom: Atom, type: AtomType): string {
  switch (type) {
    case 'integer':
      return String(atom);
    case 'real':
      return formatReal(Number(atom));
    case 'boolean':
      return atom === true ? 'true' : 'false';
    case 'uuid':
      return String(atom);
    case 'string': {
      const s = String(atom);
      const bare =
        /^[A-Za-z_][A-Za-z0-9_.-]*$/.test(s) && s !== 'true' && s !== 'false' && !UUID_RE.test(s);
      return bare ? s : JSON.stringify(s);
    }
  }
}

const UUID_RE = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isUuidText(text: string): boolean {
  return UUID_RE.test(text);
}

export function newUuid(): string {
  return randomUUID();
}

/** ovsdb_atom_check_constraints(): enum, integer/real ranges and string lengths. */
export function checkAtomConstraints(atom: Atom, base: BaseSpec): void {
  if (base.enum !== undefined && !base.enum.keys.some((e) => atomsEqual(e, atom))) {
    const allowed = datumToString(base.enum, { key: base, value: undefined, min: 0, max: Infinity });
    throw new OvsdbFailure(
      'constraint violation',
      `${atomToString(atom, base.type)} is not one of the allowed values (${allowed})`,
    );
  }
  if (base.type === 'integer' && typeof atom === 'bigint') {
    if (atom >= base.minInteger && atom <= base.maxInteger) return;
    const value = atom.toString();
    if (base.minInteger !== INT64_MIN) {
      if (base.maxInteger !== INT64_MAX) {
        throw new OvsdbFailure(
          'constraint violation',
          `${value} is not in the valid range ${base.minInteger.toString()} to ${base.maxInteger.toString()} (inclusive)`,
        );
      }
      throw new OvsdbFailure('constraint violation', `${value} is less than minimum allowed value ${base.minInteger.toString()}`);
    }
    throw new OvsdbFailure('constraint violation', `${value} is greater than maximum allowed value ${base.maxInteger.toString()}`);
  }
  if (base.type === 'real' && typeof atom === 'number') {
    if (atom >= base.minReal && atom <= base.maxReal) return;
    const value = formatReal(atom);
    if (base.minReal !== -Number.MAX_VALUE) {
      if (base.maxReal !== Number.MAX_VALUE) {
        throw new OvsdbFailure(
          'constraint violation',
          `${value} is not in the valid range ${formatReal(base.minReal)} to ${formatReal(base.maxReal)} (inclusive)`,
        );
      }
      throw new OvsdbFailure('constraint violation', `${value} is less than minimum allowed value ${formatReal(base.minReal)}`);
    }
    throw new OvsdbFailure('constraint violation', `${value} is greater than maximum allowed value ${formatReal(base.maxReal)}`);
  }
  if (base.type === 'string' && typeof atom === 'string') {
    let length = 0; // Characters (code points), as RFC 7047 counts them.
    for (const _char of atom) length++;
    if (length < base.minLength) {
      throw new OvsdbFailure(
        'constraint violation',
        `"${atom}" length ${String(length)} is less than minimum allowed length ${String(base.minLength)}`,
      );
    }
    if (length > base.maxLength) {
      throw new OvsdbFailure(
        'constraint violation',
        `"${atom}" length ${String(length)} is greater than maximum allowed length ${String(base.maxLength)}`,
      );
    }
  }
}

// ---- datums -----------------------------------------------------------------

export const EMPTY_DATUM: Datum = { keys: [] };

export function makeSet(keys: readonly Atom[]): Datum {
  return { keys };
}

export function makeMap(keys: readonly Atom[], values: readonly Atom[]): Datum {
  return { keys, values };
}

export function singleton(atom: Atom): Datum {
  return { keys: [atom] };
}

function sortUniqueAtoms(_type: AtomType, atoms: readonly Atom[]): Atom[] {
  const sorted = [...atoms].sort(compareAtoms);
  return sorted.filter((a, i) => i === 0 || compareAtoms(sorted[i - 1] as Atom, a) !== 0);
}

/** The default value of a column (RFC 7047 §5.1): empty, or the type's zero atom. */
export function defaultDatum(type: TypeSpec): Datum {
  if (type.min === 0) return type.value === undefined ? EMPTY_DATUM : makeMap([], []);
  const key = defaultAtom(type.key.type);
  return type.value === undefined ? singleton(key) : makeMap([key], [defaultAtom(type.value.type)]);
}

export function isDefaultDatum(datum: Datum, type: TypeSpec): boolean {
  return datumsEqual(datum, defaultDatum(type));
}

export function datumsEqual(a: Datum, b: Datum): boolean {
  if (a === b) return true;
  if (a.keys.length !== b.keys.length) return false;
  for (let i = 0; i < a.keys.length; i++) {
    if (!atomsEqual(a.keys[i] as Atom, b.keys[i] as Atom)) return false;
  }
  if (a.values !== undefined || b.values !== undefined) {
    const av = a.values ?? [];
    const bv = b.values ?? [];
    for (let i = 0; i < a.keys.length; i++) {
      if (!atomsEqual(av[i] as Atom, bv[i] as Atom)) return false;
    }
  }
  return true;
}

/** ovsdb_datum_compare_3way(): by size, then keys, then values. */
export function compareDatums(a: Datum, b: Datum): number {
  if (a.keys.length !== b.keys.length) return a.keys.length < b.keys.length ? -1 : 1;
  for (let i = 0; i < a.keys.length; i++) {
    const c = compareAtoms(a.keys[i] as Atom, b.keys[i] as Atom);
    if (c !== 0) return c;
  }
  if (a.values !== undefined && b.values !== undefined) {
    for (let i = 0; i < a.values.length; i++) {
      const c = compareAtoms(a.values[i] as Atom, b.values[i] as Atom);
      if (c !== 0) return c;
    }
  }
  return 0;
}

/** Index of `key` in the sorted keys of `datum`, or -1. */
export function findKey(datum: Datum, key: Atom): number {
  let low = 0;
  let high = datum.keys.length - 1;
  while (low <= high) {
    const mid = (low + high) >> 1;
    const c = compareAtoms(datum.keys[mid] as Atom, key);
    if (c === 0) return mid;
    if (c < 0) low = mid + 1;
    else high = mid - 1;
  }
  return -1;
}

/** Whether element `i` of `a` (key, and value for maps) is in `b`. */
function containsElement(b: Datum, a: Datum, i: number): boolean {
  const at = findKey(b, a.keys[i] as Atom);
  if (at < 0) return false;
  if (a.values === undefined || b.values === undefined) return true;
  return atomsEqual(a.values[i] as Atom, b.values[at] as Atom);
}

/** ovsdb_datum_includes_all(): every element (pair) of `a` is in `b`. */
export function includesAll(a: Datum, b: Datum): boolean {
  if (a.keys.length > b.keys.length) return false;
  for (let i = 0; i < a.keys.length; i++) if (!containsElement(b, a, i)) return false;
  return true;
}

/** ovsdb_datum_excludes_all(): no element (pair) of `a` is in `b`. */
export function excludesAll(a: Datum, b: Datum): boolean {
  for (let i = 0; i < a.keys.length; i++) if (containsElement(b, a, i)) return false;
  return true;
}

/** Builds a datum from unsorted elements; reports duplicates like ovsdb_datum_sort(). */
export function sortedDatum(keys: readonly Atom[], values: readonly Atom[] | undefined): Datum {
  const order = keys.map((_, i) => i).sort((i, j) => compareAtoms(keys[i] as Atom, keys[j] as Atom));
  const sortedKeys = order.map((i) => keys[i] as Atom);
  for (let i = 1; i < sortedKeys.length; i++) {
    if (compareAtoms(sortedKeys[i - 1] as Atom, sortedKeys[i] as Atom) === 0) {
      throw new OvsdbFailure('ovsdb error', values === undefined ? 'set contains duplicate' : 'map contains duplicate key');
    }
  }
  if (values === undefined) return makeSet(sortedKeys);
  return makeMap(sortedKeys, order.map((i) => values[i] as Atom));
}

/** ovsdb_datum_union(): adds the elements of `b` missing from `a` (map keys already present keep their value). */
export function datumUnion(a: Datum, b: Datum): Datum {
  const keys = [...a.keys];
  const values = a.values === undefined ? undefined : [...a.values];
  for (let i = 0; i < b.keys.length; i++) {
    const key = b.keys[i] as Atom;
    if (findKey(a, key) >= 0) continue;
    keys.push(key);
    values?.push((b.values ?? [])[i] as Atom);
  }
  return sortedDatum(keys, values);
}

/**
 * ovsdb_datum_subtract(): removes from `a` the elements of `b`. When `a` is a
 * map and `b` a set, `b` lists keys; when both are maps only pairs with equal
 * values are removed.
 */
export function datumSubtract(a: Datum, b: Datum): Datum {
  const keys: Atom[] = [];
  const values: Atom[] | undefined = a.values === undefined ? undefined : [];
  for (let i = 0; i < a.keys.length; i++) {
    const key = a.keys[i] as Atom;
    const at = findKey(b, key);
    let remove = at >= 0;
    if (remove && a.values !== undefined && b.values !== undefined) {
      remove = atomsEqual(a.values[i] as Atom, b.values[at] as Atom);
    }
    if (remove) continue;
    keys.push(key);
    values?.push((a.values ?? [])[i] as Atom);
  }
  return values === undefined ? makeSet(keys) : makeMap(keys, values);
}

/**
 * ovsdb_datum_diff(), the update2 "modify" form: the new value for columns
 * that hold at most one element; for sets the symmetric difference; for maps
 * removed pairs (old value), added pairs and changed pairs (new value).
 */
export function datumDiff(oldDatum: Datum, newDatum: Datum, type: TypeSpec): Datum {
  if (!isCompositeType(type)) return newDatum;
  const keys: Atom[] = [];
  const values: Atom[] = [];
  const isMap = type.value !== undefined;
  let i = 0;
  let j = 0;
  const oldValues = oldDatum.values ?? [];
  const newValues = newDatum.values ?? [];
  while (i < oldDatum.keys.length || j < newDatum.keys.length) {
    const c =
      i >= oldDatum.keys.length
        ? 1
        : j >= newDatum.keys.length
          ? -1
          : compareAtoms(oldDatum.keys[i] as Atom, newDatum.keys[j] as Atom);
    if (c < 0) {
      keys.push(oldDatum.keys[i] as Atom);
      if (isMap) values.push(oldValues[i] as Atom);
      i++;
    } else if (c > 0) {
      keys.push(newDatum.keys[j] as Atom);
      if (isMap) values.push(newValues[j] as Atom);
      j++;
    } else {
      if (isMap && !atomsEqual(oldValues[i] as Atom, newValues[j] as Atom)) {
        keys.push(newDatum.keys[j] as Atom);
        values.push(newValues[j] as Atom);
      }
      i++;
      j++;
    }
  }
  return isMap ? makeMap(keys, values) : makeSet(keys);
}

/** ovsdb_datum_to_string(), e.g. "[a, \"b c\"]" or "{k=v}". */
export function datumToString(datum: Datum, type: TypeSpec): string {
  const valueType = type.value?.type;
  const isMap = valueType !== undefined;
  const parts = datum.keys.map((key, i) => {
    const k = atomToString(key, type.key.type);
    if (valueType === undefined) return k;
    return `${k}=${atomToString((datum.values ?? [])[i] as Atom, valueType)}`;
  });
  const text = parts.join(', ');
  if (type.max > 1 || datum.keys.length === 0) return isMap ? `{${text}}` : `[${text}]`;
  return text;
}

// ---- wire codec -------------------------------------------------------------

/** Resolves `["named-uuid", name]` inside one transaction. */
export interface SymbolTable {
  resolve(name: string, weak: boolean): string;
}

function unwrapJson(json: unknown, name: string, valueType: 'array' | 'string'): unknown {
  if (
    Array.isArray(json) &&
    json.length === 2 &&
    json[0] === name &&
    (valueType === 'array' ? Array.isArray(json[1]) : typeof json[1] === 'string')
  ) {
    return json[1];
  }
  throw syntaxError(json, undefined, `expected ["${name}", <${valueType}>]`);
}

function parseUuidAtom(json: unknown, base: BaseSpec, symtab: SymbolTable | undefined): string {
  if (Array.isArray(json) && json.length === 2 && json[0] === 'uuid' && typeof json[1] === 'string') {
    if (!isUuidText(json[1])) throw syntaxError(json, undefined, `"${json[1]}" is not a valid UUID`);
    return json[1].toLowerCase();
  }
  if (symtab !== undefined && Array.isArray(json) && json.length === 2 && json[0] === 'named-uuid' && typeof json[1] === 'string') {
    if (!isId(json[1])) throw syntaxError(json, undefined, 'named-uuid string is not a valid <id>');
    return symtab.resolve(json[1], base.refType === 'weak');
  }
  throw syntaxError(json, undefined, 'expected ["uuid", <string>]');
}

/** ovsdb_atom_from_json(): parses one atom and checks its constraints. */
export function atomFromJson(base: BaseSpec, json: unknown, symtab: SymbolTable | undefined): Atom {
  let atom: Atom | undefined;
  switch (base.type) {
    case 'integer':
      atom = jsonInteger(json);
      break;
    case 'real':
      if (typeof json === 'bigint') atom = Number(json);
      else if (typeof json === 'number' && Number.isFinite(json)) atom = json;
      break;
    case 'boolean':
      if (typeof json === 'boolean') atom = json;
      break;
    case 'string':
      if (typeof json === 'string') atom = json;
      break;
    case 'uuid':
      atom = parseUuidAtom(json, base, symtab);
      break;
  }
  if (atom === undefined) throw syntaxError(json, undefined, `expected ${base.type}`);
  checkAtomConstraints(atom, base);
  return atom;
}

/**
 * ovsdb_datum_from_json(): accepts `["set", [...]]`, a bare atom for a
 * one-element set, and `["map", [[k, v], ...]]`; checks the element count,
 * each atom's constraints and duplicates, in that order (like the real server).
 */
export function datumFromJson(type: TypeSpec, json: unknown, symtab: SymbolTable | undefined): Datum {
  const isMap = type.value !== undefined;
  if (isMap || (Array.isArray(json) && json.length > 0 && json[0] === 'set')) {
    const kind = isMap ? 'map' : 'set';
    const inner = unwrapJson(json, kind, 'array') as unknown[];
    const n = inner.length;
    if (n < type.min || n > type.max) {
      if (type.min === 1 && type.max === 1) {
        throw syntaxError(json, undefined, `${kind} must have exactly one member but ${String(n)} are present`);
      }
      const max = type.max === Infinity ? '4294967295' : String(type.max);
      throw syntaxError(json, undefined, `${kind} must have ${String(type.min)} to ${max} members but ${String(n)} are present`);
    }
    const keys: Atom[] = [];
    const values: Atom[] = [];
    for (const element of inner) {
      if (type.value === undefined) {
        keys.push(atomFromJson(type.key, element, symtab));
        continue;
      }
      if (!Array.isArray(element) || element.length !== 2) {
        throw syntaxError(element, undefined, 'expected 2-element array');
      }
      keys.push(atomFromJson(type.key, element[0], symtab));
      values.push(atomFromJson(type.value, element[1], symtab));
    }
    return sortedDatum(keys, isMap ? values : undefined);
  }
  return singleton(atomFromJson(type.key, json, symtab));
}

function atomToJson(atom: Atom, type: AtomType): unknown {
  switch (type) {
    case 'integer': {
      const n = atom as bigint;
      return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
    }
    case 'real':
      return wireReal(atom as number);
    case 'uuid':
      return ['uuid', atom];
    default:
      return atom;
  }
}

/** ovsdb_datum_to_json(): maps always as ["map", ...]; one-element sets as the bare atom. */
export function datumToJson(datum: Datum, type: TypeSpec): unknown {
  if (type.value !== undefined) {
    const valueType = type.value.type;
    const values = datum.values ?? [];
    return ['map', datum.keys.map((k, i) => [atomToJson(k, type.key.type), atomToJson(values[i] as Atom, valueType)])];
  }
  if (datum.keys.length === 1) return atomToJson(datum.keys[0] as Atom, type.key.type);
  return ['set', datum.keys.map((k) => atomToJson(k, type.key.type))];
}
