/**
 * Database schemas (RFC 7047 §3.2), parsed into a form the codec and the
 * operation encoder use to validate tables, columns and values before any
 * byte is sent.
 */
import { OvsdbSchemaError } from './errors.ts';

export type AtomicType = 'integer' | 'real' | 'boolean' | 'string' | 'uuid';

export interface BaseType {
  readonly type: AtomicType;
  /** Allowed values (already decoded to native atoms). */
  readonly enum?: readonly (string | number | boolean)[];
  readonly minInteger?: number | bigint;
  readonly maxInteger?: number | bigint;
  readonly minReal?: number;
  readonly maxReal?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly refTable?: string;
  readonly refType?: 'strong' | 'weak';
}

export interface ColumnType {
  readonly key: BaseType;
  readonly value?: BaseType;
  readonly min: number;
  /** `Infinity` stands for "unlimited". */
  readonly max: number;
}

export type ColumnKind = 'scalar' | 'optional' | 'set' | 'map';

export interface ColumnSchema {
  readonly name: string;
  readonly type: ColumnType;
  readonly kind: ColumnKind;
  readonly ephemeral: boolean;
  readonly mutable: boolean;
}

export interface TableSchema {
  readonly name: string;
  readonly columns: ReadonlyMap<string, ColumnSchema>;
  readonly isRoot: boolean;
  readonly maxRows: number;
  readonly indexes: readonly (readonly string[])[];
}

export interface DatabaseSchema {
  readonly name: string;
  readonly version: string;
  readonly cksum?: string;
  readonly tables: ReadonlyMap<string, TableSchema>;
  /** The JSON the schema was parsed from (what a server sends for get_schema). */
  readonly json: unknown;
}

const ATOMIC_TYPES: readonly AtomicType[] = ['integer', 'real', 'boolean', 'string', 'uuid'];

/** The `_uuid` and `_version` columns every table has (RFC 7047 §3.2). */
const UUID_COLUMN_TYPE: ColumnType = { key: { type: 'uuid' }, min: 1, max: 1 };

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function parseBaseType(json: unknown, where: string): BaseType {
  if (typeof json === 'string') {
    if (!ATOMIC_TYPES.includes(json as AtomicType)) {
      throw new OvsdbSchemaError(`${where}: unknown atomic type "${json}"`);
    }
    return { type: json as AtomicType };
  }
  if (!isObject(json) || typeof json.type !== 'string' || !ATOMIC_TYPES.includes(json.type as AtomicType)) {
    throw new OvsdbSchemaError(`${where}: invalid base type`);
  }
  const type = json.type as AtomicType;
  const base: {
    -readonly [K in keyof BaseType]: BaseType[K];
  } = { type };
  if (json.enum !== undefined) {
    const e = json.enum;
    let values: unknown[];
    if (Array.isArray(e) && e[0] === 'set' && Array.isArray(e[1])) values = e[1] as unknown[];
    else values = [e];
    base.enum = values.map((v) => {
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
      throw new OvsdbSchemaError(`${where}: unsupported enum value`);
    });
  }
  if (typeof json.minInteger === 'number' || typeof json.minInteger === 'bigint') base.minInteger = json.minInteger;
  if (typeof json.maxInteger === 'number' || typeof json.maxInteger === 'bigint') base.maxInteger = json.maxInteger;
  if (typeof json.minReal === 'number') base.minReal = json.minReal;
  if (typeof json.maxReal === 'number') base.maxReal = json.maxReal;
  if (typeof json.minLength === 'number') base.minLength = json.minLength;
  if (typeof json.maxLength === 'number') base.maxLength = json.maxLength;
  if (typeof json.refTable === 'string') {
    base.refTable = json.refTable;
    base.refType = json.refType === 'weak' ? 'weak' : 'strong';
  }
  return base;
}

function parseColumnType(json: unknown, where: string): ColumnType {
  if (typeof json === 'string') return { key: parseBaseType(json, where), min: 1, max: 1 };
  if (!isObject(json)) throw new OvsdbSchemaError(`${where}: invalid column type`);
  if (json.key === undefined) throw new OvsdbSchemaError(`${where}: column type without key`);
  const key = parseBaseType(json.key, where);
  const value = json.value === undefined ? undefined : parseBaseType(json.value, where);
  const min = json.min === undefined ? 1 : json.min;
  const max = json.max === undefined ? 1 : json.max === 'unlimited' ? Infinity : json.max;
  if (typeof min !== 'number' || typeof max !== 'number' || min < 0 || min > 1 || max < 1 || min > max) {
    throw new OvsdbSchemaError(`${where}: invalid min/max`);
  }
  return value === undefined ? { key, min, max } : { key, value, min, max };
}

export function columnKind(type: ColumnType): ColumnKind {
  if (type.value !== undefined) return 'map';
  if (type.max === 1) return type.min === 1 ? 'scalar' : 'optional';
  return 'set';
}

function makeColumn(name: string, type: ColumnType, ephemeral = false, mutable = true): ColumnSchema {
  return { name, type, kind: columnKind(type), ephemeral, mutable };
}

/** Parses a schema as returned by `get_schema` or stored in a `.ovsschema` file. */
export function parseSchema(json: unknown): DatabaseSchema {
  if (!isObject(json) || typeof json.name !== 'string' || !isObject(json.tables)) {
    throw new OvsdbSchemaError('schema must be an object with "name" and "tables"');
  }
  const tables = new Map<string, TableSchema>();
  for (const [tableName, tableJson] of Object.entries(json.tables)) {
    if (!isObject(tableJson) || !isObject(tableJson.columns)) {
      throw new OvsdbSchemaError(`table ${tableName}: missing columns`, { table: tableName });
    }
    const columns = new Map<string, ColumnSchema>();
    columns.set('_uuid', makeColumn('_uuid', UUID_COLUMN_TYPE, false, false));
    columns.set('_version', makeColumn('_version', UUID_COLUMN_TYPE, false, false));
    for (const [columnName, columnJson] of Object.entries(tableJson.columns)) {
      if (!isObject(columnJson)) throw new OvsdbSchemaError(`column ${tableName}.${columnName}: invalid`);
      const type = parseColumnType(columnJson.type, `column ${tableName}.${columnName}`);
      columns.set(
        columnName,
        makeColumn(columnName, type, columnJson.ephemeral === true, columnJson.mutable !== false),
      );
    }
    const indexes = Array.isArray(tableJson.indexes)
      ? (tableJson.indexes as unknown[]).filter(Array.isArray).map((ix) => (ix as unknown[]).map(String))
      : [];
    tables.set(tableName, {
      name: tableName,
      columns,
      // RFC 7047 §3.2: when no table is marked isRoot, every table is root.
      isRoot: tableJson.isRoot === true,
      maxRows: typeof tableJson.maxRows === 'number' ? tableJson.maxRows : Infinity,
      indexes,
    });
  }
  const anyRoot = [...tables.values()].some((t) => t.isRoot);
  if (!anyRoot) {
    for (const [name, t] of tables) tables.set(name, { ...t, isRoot: true });
  }
  const schema: DatabaseSchema = {
    name: json.name,
    version: typeof json.version === 'string' ? json.version : '',
    tables,
    json,
  };
  return typeof json.cksum === 'string' ? { ...schema, cksum: json.cksum } : schema;
}

export function getTable(schema: DatabaseSchema, table: string): TableSchema {
  const t = schema.tables.get(table);
  if (!t) throw new OvsdbSchemaError(`unknown table "${table}" in database ${schema.name}`, { table });
  return t;
}

export function getColumn(table: TableSchema, column: string): ColumnSchema {
  const c = table.columns.get(column);
  if (!c) {
    throw new OvsdbSchemaError(`unknown column "${column}" in table ${table.name}`, {
      table: table.name,
      column,
    });
  }
  return c;
}
