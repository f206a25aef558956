/**
 * Mutations (RFC 7047 §5.1 <mutation>) with ovsdb-server's semantics: 64-bit
 * integer arithmetic with overflow ("range error") and division by zero
 * ("domain error") checks, set/map insert that never overwrites a map key,
 * delete by keys or by exact pairs, and the element count checked after each
 * mutation.
 */
import type { ColumnModel, TableModel } from './model.ts';
import {
  INT64_MAX,
  INT64_MIN,
  OvsdbFailure,
  checkAtomConstraints,
  datumFromJson,
  datumSubtract,
  datumUnion,
  isMapType,
  isSetType,
  sortedDatum,
  syntaxError,
  typeToEnglish,
  unconstrained,
  type Atom,
  type Datum,
  type SymbolTable,
  type TypeSpec,
} from './values.ts';

export type Mutator = '+=' | '-=' | '*=' | '/=' | '%=' | 'insert' | 'delete';

const MUTATORS: readonly string[] = ['+=', '-=', '*=', '/=', '%=', 'insert', 'delete'];

export interface Mutation {
  readonly column: ColumnModel;
  readonly mutator: Mutator;
  readonly arg: Datum;
}

function typeMismatch(json: unknown, mutator: Mutator, column: ColumnModel): OvsdbFailure {
  return syntaxError(
    json,
    undefined,
    `Type mismatch: "${mutator}" operator may not be applied to column ${column.name} of type ${typeToEnglish(column.type)}.`,
  );
}

/** ovsdb_mutation_from_json(). */
export function parseMutation(table: TableModel, json: unknown, symtab: SymbolTable | undefined): Mutation {
  if (!Array.isArray(json) || json.length !== 3 || typeof json[0] !== 'string' || typeof json[1] !== 'string') {
    throw syntaxError(json, undefined, 'Parse error in mutation.');
  }
  const [columnName, mutatorName, argJson] = json as [string, string, unknown];
  const column = table.columns.get(columnName);
  if (!column) throw syntaxError(json, 'unknown column', `No column ${columnName} in table ${table.name}.`);
  if (!column.mutable) {
    throw syntaxError(json, 'constraint violation', `Cannot mutate immutable column ${columnName} in table ${table.name}.`);
  }
  if (!MUTATORS.includes(mutatorName)) {
    throw new OvsdbFailure('unknown mutator', `No mutator named ${mutatorName}.`);
  }
  const mutator = mutatorName as Mutator;
  const type = column.type;
  if (mutator === 'insert' || mutator === 'delete') {
    if (!isSetType(type) && !isMapType(type)) throw typeMismatch(json, mutator, column);
    const argType: TypeSpec = { ...type, min: 0, max: mutator === 'delete' ? Infinity : type.max };
    try {
      return { column, mutator, arg: datumFromJson(argType, argJson, symtab) };
    } catch (error) {
      if (!(error instanceof OvsdbFailure) || mutator !== 'delete' || type.value === undefined) throw error;
      // Deleting from a map by a set of keys.
      const keysType: TypeSpec = { key: type.key, value: undefined, min: 0, max: Infinity };
      return { column, mutator, arg: datumFromJson(keysType, argJson, symtab) };
    }
  }
  if (
    isMapType(type) ||
    (type.key.type !== 'integer' && type.key.type !== 'real') ||
    (mutator === '%=' && type.key.type === 'real')
  ) {
    throw typeMismatch(json, mutator, column);
  }
  const argType: TypeSpec = { key: unconstrained(type.key), value: undefined, min: 1, max: 1 };
  return { column, mutator, arg: datumFromJson(argType, argJson, symtab) };
}

function rangeError(mutator: Mutator): OvsdbFailure {
  return new OvsdbFailure('range error', `Result of "${mutator}" operation is out of range.`);
}

const DIVISION_BY_ZERO = (): OvsdbFailure => new OvsdbFailure('domain error', 'Division by zero.');

function mutateInteger(x: bigint, y: bigint, mutator: Mutator): bigint {
  let result: bigint;
  switch (mutator) {
    case '+=':
      result = x + y;
      break;
    case '-=':
      result = x - y;
      break;
    case '*=':
      result = x * y;
      break;
    case '/=':
      if (y === 0n) throw DIVISION_BY_ZERO();
      result = x / y; // bigint division truncates toward zero, like C.
      break;
    default:
      if (y === 0n) throw DIVISION_BY_ZERO();
      if (x === INT64_MIN && y === -1n) throw rangeError(mutator);
      result = x % y;
  }
  if (result < INT64_MIN || result > INT64_MAX) throw rangeError(mutator);
  return result;
}

function mutateReal(x: number, y: number, mutator: Mutator): number {
  let result: number;
  switch (mutator) {
    case '+=':
      result = x + y;
      break;
    case '-=':
      result = x - y;
      break;
    case '*=':
      result = x * y;
      break;
    default:
      if (y === 0) throw DIVISION_BY_ZERO();
      result = x / y;
  }
  if (!Number.isFinite(result)) throw rangeError(mutator);
  return result;
}

function checkCount(datum: Datum, type: TypeSpec): void {
  const n = datum.keys.length;
  if (n < type.min || n > type.max) {
    throw new OvsdbFailure('constraint violation', `Attempted to store ${String(n)} elements in ${typeToEnglish(type)}.`);
  }
}

/** Applies one mutation to a column value (ovsdb_mutation_set_execute). */
export function applyMutation(current: Datum, mutation: Mutation): Datum {
  const { column, mutator, arg } = mutation;
  const type = column.type;
  if (mutator === 'insert') {
    const result = datumUnion(current, arg);
    checkCount(result, type);
    return result;
  }
  if (mutator === 'delete') {
    const result = datumSubtract(current, arg);
    checkCount(result, type);
    return result;
  }
  const operand = arg.keys[0] as Atom;
  const keys = current.keys.map((x) =>
    type.key.type === 'integer'
      ? mutateInteger(x as bigint, operand as bigint, mutator)
      : mutateReal(x as number, operand as number, mutator),
  );
  for (const key of keys) checkAtomConstraints(key, type.key);
  try {
    return sortedDatum(keys, undefined);
  } catch {
    throw new OvsdbFailure('constraint violation', `Result of "${mutator}" operation contains duplicates.`);
  }
}
