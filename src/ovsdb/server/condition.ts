/**
 * Conditions (RFC 7047 §5.1 <condition>): parsing with ovsdb-server's type
 * rules and messages, and evaluation. A transaction's "where" needs every
 * clause to hold; a monitor_cond "where" needs any one (an empty list matches
 * every row), as in ovsdb-server.
 */
import type { ColumnModel, Row, TableModel } from './model.ts';
import { columnOf, fieldOf } from './model.ts';
import {
  OvsdbFailure,
  compareAtoms,
  datumFromJson,
  datumsEqual,
  excludesAll,
  includesAll,
  isOptionalScalarType,
  isScalarType,
  syntaxError,
  typeToEnglish,
  type Atom,
  type Datum,
  type SymbolTable,
  type TypeSpec,
} from './values.ts';

export type ConditionFunction = '<' | '<=' | '==' | '!=' | '>=' | '>' | 'includes' | 'excludes';

const FUNCTIONS: readonly string[] = ['<', '<=', '==', '!=', '>=', '>', 'includes', 'excludes'];

export type Clause =
  | { readonly kind: 'constant'; readonly value: boolean }
  | { readonly kind: 'compare'; readonly column: ColumnModel; readonly fn: ConditionFunction; readonly arg: Datum };

/** ovsdb_clause_from_json(). */
export function parseClause(table: TableModel, json: unknown, symtab: SymbolTable | undefined): Clause {
  if (json === true || json === false) return { kind: 'constant', value: json };
  if (!Array.isArray(json) || json.length !== 3 || typeof json[0] !== 'string' || typeof json[1] !== 'string') {
    throw syntaxError(json, undefined, 'Parse error in condition.');
  }
  const [columnName, functionName, argJson] = json as [string, string, unknown];
  const column = table.columns.get(columnName);
  if (!column) throw syntaxError(json, 'unknown column', `No column ${columnName} in table ${table.name}.`);
  if (!FUNCTIONS.includes(functionName)) {
    throw new OvsdbFailure('unknown function', `No function named ${functionName}.`);
  }
  const fn = functionName as ConditionFunction;
  let type: TypeSpec = column.type;
  switch (fn) {
    case '<':
    case '<=':
    case '>':
    case '>=':
      if (
        !(isScalarType(type) || isOptionalScalarType(type)) ||
        (type.key.type !== 'integer' && type.key.type !== 'real')
      ) {
        throw syntaxError(
          json,
          undefined,
          `Type mismatch: "${fn}" operator may not be applied to column ${column.name} of type ${typeToEnglish(type)}.`,
        );
      }
      type = { ...type, min: 1 };
      break;
    case 'includes':
      if (!isScalarType(type)) type = { ...type, min: 0 };
      break;
    case 'excludes':
      if (!isScalarType(type)) type = { ...type, min: 0, max: Infinity };
      break;
    case '==':
    case '!=':
      break;
  }
  return { kind: 'compare', column, fn, arg: datumFromJson(type, argJson, symtab) };
}

/** ovsdb_condition_from_json(): `json` must already be known to be an array. */
export function parseConditions(table: TableModel, json: readonly unknown[], symtab: SymbolTable | undefined): Clause[] {
  return json.map((clause) => parseClause(table, clause, symtab));
}

export function evaluateClause(clause: Clause, row: Row): boolean {
  if (clause.kind === 'constant') return clause.value;
  const field = fieldOf(row, clause.column.name);
  const { arg } = clause;
  switch (clause.fn) {
    case '==':
      return datumsEqual(field, arg);
    case '!=':
      return !datumsEqual(field, arg);
    case 'includes':
      return includesAll(arg, field);
    case 'excludes':
      return excludesAll(arg, field);
    default: {
      // Ordering of an empty optional value is always false.
      if (field.keys.length === 0 || arg.keys.length === 0) return false;
      const c = compareAtoms(field.keys[0] as Atom, arg.keys[0] as Atom);
      if (clause.fn === '<') return c < 0;
      if (clause.fn === '<=') return c <= 0;
      if (clause.fn === '>') return c > 0;
      return c >= 0;
    }
  }
}

/** A transaction's "where": every clause holds. */
export function matchesAll(clauses: readonly Clause[], row: Row): boolean {
  return clauses.every((c) => evaluateClause(c, row));
}

/** A monitor condition: any clause holds; no clauses means every row. */
export function matchesAny(clauses: readonly Clause[], row: Row): boolean {
  return clauses.length === 0 || clauses.some((c) => evaluateClause(c, row));
}

/** The row whose `_uuid` a leading `_uuid == X` clause names, so queries need not scan. */
export function uuidLookup(clauses: readonly Clause[], table: TableModel): string | undefined {
  const first = clauses[0];
  if (first?.kind !== 'compare' || first.fn !== '==' || first.column !== columnOf(table, '_uuid')) return undefined;
  const uuid = first.arg.keys[0];
  return typeof uuid === 'string' ? uuid : undefined;
}
