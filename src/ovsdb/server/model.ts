/**
 * The schema as the server uses it: tables and columns with fully resolved
 * types (see values.ts), built once from the schema JSON by ../schema.ts.
 */
import { parseSchema } from '../schema.ts';
import { toTypeSpec, type Datum, type TypeSpec } from './values.ts';

export interface ColumnModel {
  readonly name: string;
  readonly type: TypeSpec;
  readonly mutable: boolean;
  readonly ephemeral: boolean;
}

export interface TableModel {
  readonly name: string;
  /** Every column including `_uuid` and `_version`, in schema order. */
  readonly columns: ReadonlyMap<string, ColumnModel>;
  readonly isRoot: boolean;
  readonly maxRows: number;
  readonly indexes: readonly (readonly ColumnModel[])[];
  /** Columns whose key or value references another table. */
  readonly refColumns: readonly ColumnModel[];
}

export interface DatabaseModel {
  readonly name: string;
  readonly tables: ReadonlyMap<string, TableModel>;
  /** The schema JSON as given (what `get_schema` returns). */
  readonly json: unknown;
}

/** A row: `fields` holds every column, `_uuid` and `_version` included. */
export interface Row {
  readonly uuid: string;
  readonly fields: ReadonlyMap<string, Datum>;
}

export function buildDatabaseModel(json: unknown): DatabaseModel {
  const schema = parseSchema(json);
  const tables = new Map<string, TableModel>();
  for (const table of schema.tables.values()) {
    const columns = new Map<string, ColumnModel>();
    for (const column of table.columns.values()) {
      columns.set(column.name, {
        name: column.name,
        type: toTypeSpec(column.type),
        mutable: column.mutable,
        ephemeral: column.ephemeral,
      });
    }
    const indexes = table.indexes.map((names) =>
      names.flatMap((name) => {
        const column = columns.get(name);
        return column ? [column] : [];
      }),
    );
    const refColumns = [...columns.values()].filter(
      (c) => c.type.key.refTable !== undefined || c.type.value?.refTable !== undefined,
    );
    tables.set(table.name, {
      name: table.name,
      columns,
      isRoot: table.isRoot,
      maxRows: table.maxRows,
      indexes,
      refColumns,
    });
  }
  return { name: schema.name, tables, json };
}

/** The column, which the caller knows exists (`_uuid`, `_version`, or a validated name). */
export function columnOf(table: TableModel, name: string): ColumnModel {
  const column = table.columns.get(name);
  if (!column) throw new Error(`internal: no column ${name} in ${table.name}`);
  return column;
}

/** The value of a column in a row; every row carries every column. */
export function fieldOf(row: Row, column: string): Datum {
  const datum = row.fields.get(column);
  if (!datum) throw new Error(`internal: row ${row.uuid} lacks column ${column}`);
  return datum;
}
