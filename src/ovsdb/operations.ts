/**
 * Transaction operations (RFC 7047 §5.2): pure builders taking native values,
 * and the schema-checked encoder that turns them into wire JSON. A typo in a
 * table or column name, or a value of the wrong type, is refused here with an
 * {@link OvsdbSchemaError}, before anything reaches the server.
 */
import { OvsdbSchemaError } from './errors.ts';
import { NamedUuid, decodeDatum, encodeDatum, isUuid, type Datum, type WireDatum } from './datum.ts';
import { getColumn, getTable, type ColumnType, type DatabaseSchema, type TableSchema } from './schema.ts';

export type ConditionFunction = '<' | '<=' | '==' | '!=' | '>=' | '>' | 'includes' | 'excludes';
export type Condition = readonly [column: string, fn: ConditionFunction, value: unknown];
export type Mutator = '+=' | '-=' | '*=' | '/=' | '%=' | 'insert' | 'delete';
export type Mutation = readonly [column: string, mutator: Mutator, value: unknown];
/** A row in native values (see datum.ts), possibly partial. */
export type Row = Record<string, unknown>;

export type Operation =
  | { readonly op: 'insert'; readonly table: string; readonly row: Row; readonly uuidName?: string; readonly uuid?: string }
  | { readonly op: 'select'; readonly table: string; readonly where: readonly Condition[]; readonly columns?: readonly string[] }
  | { readonly op: 'update'; readonly table: string; readonly where: readonly Condition[]; readonly row: Row }
  | { readonly op: 'mutate'; readonly table: string; readonly where: readonly Condition[]; readonly mutations: readonly Mutation[] }
  | { readonly op: 'delete'; readonly table: string; readonly where: readonly Condition[] }
  | {
      readonly op: 'wait';
      readonly table: string;
      readonly where: readonly Condition[];
      readonly columns: readonly string[];
      readonly until: '==' | '!=';
      readonly rows: readonly Row[];
      readonly timeout?: number;
    }
  | { readonly op: 'commit'; readonly durable: boolean }
  | { readonly op: 'abort' }
  | { readonly op: 'comment'; readonly comment: string }
  | { readonly op: 'assert'; readonly lock: string };

// ---- condition helpers ------------------------------------------------------

export const eq = (column: string, value: unknown): Condition => [column, '==', value];
export const ne = (column: string, value: unknown): Condition => [column, '!=', value];
export const lt = (column: string, value: unknown): Condition => [column, '<', value];
export const le = (column: string, value: unknown): Condition => [column, '<=', value];
export const gt = (column: string, value: unknown): Condition => [column, '>', value];
export const ge = (column: string, value: unknown): Condition => [column, '>=', value];
/** Set/map column contains every element (or key/value pair) of `value`. */
export const includes = (column: string, value: unknown): Condition => [column, 'includes', value];
export const excludes = (column: string, value: unknown): Condition => [column, 'excludes', value];
/** The row with this `_uuid`. */
export const byUuid = (uuid: string | NamedUuid): Condition[] => [['_uuid', '==', uuid]];

// ---- operation builders -----------------------------------------------------

export interface InsertOptions {
  /** Name other operations use to reference the new row (`namedUuid(name)`). */
  uuidName?: string;
  /** Client-chosen row UUID (OVS ≥ 2.13) so a retried insert cannot duplicate. */
  uuid?: string;
}

export function insert(table: string, row: Row, options: InsertOptions = {}): Operation {
  return {
    op: 'insert',
    table,
    row,
    ...(options.uuidName === undefined ? {} : { uuidName: options.uuidName }),
    ...(options.uuid === undefined ? {} : { uuid: options.uuid }),
  };
}

export function select(table: string, where: readonly Condition[] = [], columns?: readonly string[]): Operation {
  return columns === undefined ? { op: 'select', table, where } : { op: 'select', table, where, columns };
}

export function update(table: string, where: readonly Condition[], row: Row): Operation {
  return { op: 'update', table, where, row };
}

export function mutate(table: string, where: readonly Condition[], mutations: readonly Mutation[]): Operation {
  return { op: 'mutate', table, where, mutations };
}

/** `delete` (a reserved word in TypeScript, hence the name). */
export function remove(table: string, where: readonly Condition[]): Operation {
  return { op: 'delete', table, where };
}

export interface WaitOptions {
  until?: '==' | '!=';
  /** Milliseconds; 0 (the default) fails immediately when the rows differ. */
  timeout?: number;
}

/**
 * Succeeds only if the selected rows' `columns` equal (or, with `until:"!="`,
 * differ from) `rows`. With timeout 0 this is the optimistic-concurrency guard:
 * the transaction fails with "timed out" when someone else changed the rows.
 */
export function wait(
  table: string,
  where: readonly Condition[],
  columns: readonly string[],
  rows: readonly Row[],
  options: WaitOptions = {},
): Operation {
  return { op: 'wait', table, where, columns, rows, until: options.until ?? '==', timeout: options.timeout ?? 0 };
}

export function commit(durable: boolean): Operation {
  return { op: 'commit', durable };
}

export function abort(): Operation {
  return { op: 'abort' };
}

/** Recorded in the server's log with the transaction: says who changed what. */
export function comment(text: string): Operation {
  return { op: 'comment', comment: text };
}

export function assertLock(lock: string): Operation {
  return { op: 'assert', lock };
}

/**
 * Sets map keys, overwriting existing ones. A bare `insert` mutation never
 * overwrites a key (RFC 7047 §5.1), so delete the keys first in the same op.
 */
export function setMapKeys(column: string, entries: Record<string, unknown>): Mutation[] {
  return [
    [column, 'delete', Object.keys(entries)],
    [column, 'insert', entries],
  ];
}

// ---- schema-checked encoding ------------------------------------------------

/** Type accepted where a subset is meaningful (includes/excludes, set insert/delete). */
function relaxed(type: ColumnType): ColumnType {
  return { ...type, min: 0, max: Infinity };
}

function encodeRow(schema: TableSchema, row: Row, forInsert: boolean): Record<string, WireDatum> {
  const out: Record<string, WireDatum> = {};
  for (const [name, value] of Object.entries(row)) {
    const column = getColumn(schema, name);
    if (name.startsWith('_')) {
      throw new OvsdbSchemaError(`column ${schema.name}.${name} is read-only`, { table: schema.name, column: name });
    }
    if (!forInsert && !column.mutable) {
      throw new OvsdbSchemaError(`column ${schema.name}.${name} is immutable`, { table: schema.name, column: name });
    }
    out[name] = encodeDatum(column.type, value, `${schema.name}.${name}`);
  }
  return out;
}

function encodeConditions(table: TableSchema, where: readonly Condition[]): unknown[] {
  return where.map(([name, fn, value]) => {
    const column = getColumn(table, name);
    const where_ = `${table.name}.${name} (${fn})`;
    const kind = column.kind;
    if ((fn === 'includes' || fn === 'excludes') && (kind === 'set' || kind === 'map' || kind === 'optional')) {
      return [name, fn, encodeDatum(relaxed(column.type), value, where_)];
    }
    if (['<', '<=', '>', '>='].includes(fn) && !(column.type.key.type === 'integer' || column.type.key.type === 'real')) {
      throw new OvsdbSchemaError(`${where_}: ordering needs an integer or real column`, { table: table.name, column: name });
    }
    return [name, fn, encodeDatum(column.type, value, where_)];
  });
}

function encodeMutations(table: TableSchema, mutations: readonly Mutation[]): unknown[] {
  return mutations.map(([name, mutator, value]) => {
    const column = getColumn(table, name);
    const where = `${table.name}.${name} (${mutator})`;
    if (!column.mutable || name.startsWith('_')) {
      throw new OvsdbSchemaError(`${where}: column is immutable`, { table: table.name, column: name });
    }
    if (mutator === 'insert' || mutator === 'delete') {
      if (column.kind === 'scalar') {
        throw new OvsdbSchemaError(`${where}: insert/delete need a set or map column`, { table: table.name, column: name });
      }
      if (column.kind === 'map' && mutator === 'delete' && (Array.isArray(value) || value instanceof Set)) {
        // Deleting by keys: the value is a set of the key type.
        return [name, mutator, encodeDatum({ key: column.type.key, min: 0, max: Infinity }, value, where)];
      }
      return [name, mutator, encodeDatum(relaxed(column.type), value, where)];
    }
    const atomType = column.type.key.type;
    if (column.kind === 'map' || (atomType !== 'integer' && atomType !== 'real')) {
      throw new OvsdbSchemaError(`${where}: arithmetic needs an integer or real column`, { table: table.name, column: name });
    }
    return [name, mutator, encodeDatum({ key: column.type.key, min: 1, max: 1 }, value, where)];
  });
}

function checkColumns(table: TableSchema, columns: readonly string[]): void {
  for (const c of columns) getColumn(table, c);
}

/** Encodes one operation for `schema`, validating names and types. */
export function encodeOperation(schema: DatabaseSchema, operation: Operation): Record<string, unknown> {
  switch (operation.op) {
    case 'insert': {
      const table = getTable(schema, operation.table);
      const wire: Record<string, unknown> = { op: 'insert', table: table.name, row: encodeRow(table, operation.row, true) };
      if (operation.uuidName !== undefined) {
        // Validates the name with the same rule as references to it.
        wire['uuid-name'] = new NamedUuid(operation.uuidName).name;
      }
      if (operation.uuid !== undefined) {
        if (!isUuid(operation.uuid)) throw new OvsdbSchemaError(`insert ${table.name}: invalid uuid "${String(operation.uuid)}"`);
        wire.uuid = operation.uuid.toLowerCase();
      }
      return wire;
    }
    case 'select': {
      const table = getTable(schema, operation.table);
      const wire: Record<string, unknown> = {
        op: 'select',
        table: table.name,
        where: encodeConditions(table, operation.where),
      };
      if (operation.columns !== undefined) {
        checkColumns(table, operation.columns);
        wire.columns = operation.columns;
      }
      return wire;
    }
    case 'update': {
      const table = getTable(schema, operation.table);
      return {
        op: 'update',
        table: table.name,
        where: encodeConditions(table, operation.where),
        row: encodeRow(table, operation.row, false),
      };
    }
    case 'mutate': {
      const table = getTable(schema, operation.table);
      return {
        op: 'mutate',
        table: table.name,
        where: encodeConditions(table, operation.where),
        mutations: encodeMutations(table, operation.mutations),
      };
    }
    case 'delete': {
      const table = getTable(schema, operation.table);
      return { op: 'delete', table: table.name, where: encodeConditions(table, operation.where) };
    }
    case 'wait': {
      const table = getTable(schema, operation.table);
      checkColumns(table, operation.columns);
      const rows = operation.rows.map((row) => {
        const out: Record<string, WireDatum> = {};
        for (const [name, value] of Object.entries(row)) {
          if (!operation.columns.includes(name)) {
            throw new OvsdbSchemaError(`wait ${table.name}: row column "${name}" is not in columns`, { table: table.name, column: name });
          }
          out[name] = encodeDatum(getColumn(table, name).type, value, `${table.name}.${name}`);
        }
        return out;
      });
      const wire: Record<string, unknown> = {
        op: 'wait',
        table: table.name,
        where: encodeConditions(table, operation.where),
        columns: operation.columns,
        until: operation.until,
        rows,
      };
      if (operation.timeout !== undefined) wire.timeout = operation.timeout;
      return wire;
    }
    case 'commit':
      return { op: 'commit', durable: operation.durable };
    case 'abort':
      return { op: 'abort' };
    case 'comment':
      return { op: 'comment', comment: operation.comment };
    case 'assert':
      return { op: 'assert', lock: operation.lock };
  }
}

/** The outcome of one successful operation, decoded. */
export interface OperationResult {
  /** insert: the new row's UUID. */
  uuid?: string;
  /** select: the rows, decoded with the schema (only the requested columns). */
  rows?: Row[];
  /** update / mutate / delete: the number of rows matched. */
  count?: number;
}

/** Decodes a wire row of `table` into native values. */
export function decodeRow(table: TableSchema, wire: Record<string, unknown>): Row {
  const row: Row = {};
  for (const [name, value] of Object.entries(wire)) {
    const column = table.columns.get(name);
    // Columns added by a newer server schema are ignored rather than failing the read.
    if (!column) continue;
    row[name] = decodeDatum(column.type, value, `${table.name}.${name}`);
  }
  return row;
}

export function decodeResult(schema: DatabaseSchema, operation: Operation, wire: unknown): OperationResult {
  const result: OperationResult = {};
  if (wire === null || typeof wire !== 'object') return result;
  const w = wire as Record<string, unknown>;
  if (Array.isArray(w.uuid)) result.uuid = decodeDatum({ key: { type: 'uuid' }, min: 1, max: 1 }, w.uuid, 'uuid') as string;
  if (typeof w.count === 'number') result.count = w.count;
  if (Array.isArray(w.rows) && 'table' in operation) {
    const table = getTable(schema, operation.table);
    result.rows = (w.rows as Record<string, unknown>[]).map((r) => decodeRow(table, r));
  }
  return result;
}

export type { Datum };
