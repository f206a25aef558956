/**
 * Monitors: `monitor` (RFC 7047 §4.1.5, "update" with old/new rows),
 * `monitor_cond` ("update2": initial/insert/delete/modify, modify carrying
 * diffs) and `monitor_cond_since` ("update3", with transaction ids). Each
 * monitored column has its own `select` flags, like in ovsdb-server.
 */
import { matchesAny, parseConditions, type Clause } from './condition.ts';
import type { ChangeSet, Database } from './database.ts';
import { fieldOf, type ColumnModel, type Row, type TableModel } from './model.ts';
import { ObjectParser } from './parser.ts';
import { OvsdbFailure, datumDiff, datumToJson, datumsEqual, isDefaultDatum, isJsonObject, syntaxError } from './values.ts';

/** 1: monitor/update, 2: monitor_cond/update2, 3: monitor_cond_since/update3. */
export type MonitorVersion = 1 | 2 | 3;

const INITIAL = 1;
const INSERT = 2;
const DELETE = 4;
const MODIFY = 8;
const ALL = INITIAL | INSERT | DELETE | MODIFY;

type UpdateType = typeof INITIAL | typeof INSERT | typeof DELETE | typeof MODIFY;

interface MonitorColumn {
  readonly column: ColumnModel;
  readonly select: number;
}

interface MonitoredTable {
  readonly table: TableModel;
  readonly columns: MonitorColumn[];
  select: number;
  condition: Clause[];
}

/** table-updates (v1) or table-updates2 (v2, v3): table → row uuid → row update. */
export type TableUpdates = Record<string, Record<string, unknown>>;

export class Monitor {
  private constructor(
    /** The client's monitor id: any JSON value. */
    public id: unknown,
    readonly version: MonitorVersion,
    readonly db: Database,
    private readonly tables: Map<string, MonitoredTable>,
  ) {}

  /** Parses `<monitor-requests>` (or `<monitor-cond-requests>`), with ovsdb-server's error texts. */
  static create(id: unknown, version: MonitorVersion, db: Database, requests: unknown): Monitor {
    if (!isJsonObject(requests)) throw syntaxError(requests, undefined, 'monitor-requests must be object');
    const tables = new Map<string, MonitoredTable>();
    for (const [tableName, value] of Object.entries(requests)) {
      const table = db.table(tableName);
      if (!table) throw new OvsdbFailure('syntax error', `no table named ${tableName}`);
      let monitored = tables.get(tableName);
      if (!monitored) {
        monitored = { table, columns: [], select: 0, condition: [] };
        tables.set(tableName, monitored);
      }
      for (const request of Array.isArray(value) ? value : [value]) parseRequest(monitored, request, version);
    }
    return new Monitor(id, version, db, tables);
  }

  /** The current contents, as the reply to the monitor request. */
  initial(): TableUpdates {
    const updates: TableUpdates = {};
    for (const [name, mt] of this.tables) {
      if (!(mt.select & INITIAL)) continue;
      for (const row of this.db.rows(name)) {
        if (this.version > 1 && !matchesAny(mt.condition, row)) continue;
        this.put(updates, name, row.uuid, this.compose(mt, INITIAL, undefined, row));
      }
    }
    return updates;
  }

  /** What this monitor sends for a commit (or a merged history of commits); undefined when nothing. */
  updatesFor(changes: ChangeSet): TableUpdates | undefined {
    const updates: TableUpdates = {};
    let any = false;
    for (const [name, rows] of changes) {
      const mt = this.tables.get(name);
      if (!mt) continue;
      for (const [uuid, change] of rows) {
        const update = this.composeChange(mt, change.old, change.new);
        if (update === undefined) continue;
        this.put(updates, name, uuid, update);
        any = true;
      }
    }
    return any ? updates : undefined;
  }

  /**
   * monitor_cond_change: installs new conditions and returns the rows that
   * entered ("insert") or left ("delete") the monitored set.
   */
  changeConditions(requests: unknown): TableUpdates | undefined {
    if (!isJsonObject(requests)) {
      throw new OvsdbFailure('syntax error', 'monitor-cond-change-requests must be object');
    }
    const newConditions = new Map<MonitoredTable, Clause[]>();
    for (const [name, value] of Object.entries(requests)) {
      const table = this.db.table(name);
      if (!table) throw new OvsdbFailure('syntax error', `no table named ${name}`);
      const mt = this.tables.get(name);
      if (!mt) throw new OvsdbFailure('syntax error', `no table named ${name} in monitor session`);
      if (!Array.isArray(value)) {
        throw new OvsdbFailure('syntax error', `table ${name} no monitor-cond-change JSON array`);
      }
      for (const request of value) {
        const parser = new ObjectParser(request, `table ${name}`);
        const columns = parser.member('columns', ['array'], true);
        const where = parser.member('where', ['array'], true) as unknown[] | undefined;
        const error = parser.finish();
        if (error) throw error;
        if (columns !== undefined) throw syntaxError(request, undefined, 'changing columns is unsupported');
        if (where !== undefined) newConditions.set(mt, parseConditions(table, where, undefined));
      }
    }
    const updates: TableUpdates = {};
    let any = false;
    for (const [mt, condition] of newConditions) {
      const previous = mt.condition;
      mt.condition = condition;
      for (const row of this.db.rows(mt.table.name)) {
        const before = matchesAny(previous, row);
        const after = matchesAny(condition, row);
        if (before === after) continue;
        const type = after ? INSERT : DELETE;
        if (!(mt.select & type)) continue;
        this.put(updates, mt.table.name, row.uuid, this.compose(mt, type, row, row));
        any = true;
      }
    }
    return any ? updates : undefined;
  }

  private put(updates: TableUpdates, table: string, uuid: string, update: unknown): void {
    const rows = (updates[table] ??= {});
    rows[uuid] = update;
  }

  private composeChange(mt: MonitoredTable, old: Row | undefined, next: Row | undefined): unknown {
    let type: UpdateType = !old ? INSERT : !next ? DELETE : MODIFY;
    if (this.version > 1) {
      // Conditions turn a modification into an insert or delete as rows enter or leave the set.
      const oldMatch = old !== undefined && matchesAny(mt.condition, old);
      const newMatch = next !== undefined && matchesAny(mt.condition, next);
      if (!oldMatch && !newMatch) return undefined;
      if (type === MODIFY) type = !oldMatch ? INSERT : !newMatch ? DELETE : MODIFY;
    }
    if (!(mt.select & type)) return undefined;
    if (type === MODIFY && old && next) {
      const changed = mt.columns.some((c) => !datumsEqual(fieldOf(old, c.column.name), fieldOf(next, c.column.name)));
      if (!changed) return undefined;
    }
    return this.compose(mt, type, old, next);
  }

  private compose(mt: MonitoredTable, type: UpdateType, old: Row | undefined, next: Row | undefined): unknown {
    const columns = mt.columns.filter((c) => c.select & type);
    const value = (row: Row | undefined, column: ColumnModel): unknown =>
      row ? datumToJson(fieldOf(row, column.name), column.type) : null;
    const changed = (column: ColumnModel): boolean =>
      old !== undefined && next !== undefined && !datumsEqual(fieldOf(old, column.name), fieldOf(next, column.name));

    if (this.version === 1) {
      const update: Record<string, unknown> = {};
      if (type === DELETE || type === MODIFY) {
        const oldJson: Record<string, unknown> = {};
        for (const { column } of columns) {
          if (type === DELETE || changed(column)) oldJson[column.name] = value(old, column);
        }
        update.old = oldJson;
      }
      if (type !== DELETE) {
        const newJson: Record<string, unknown> = {};
        for (const { column } of columns) newJson[column.name] = value(next, column);
        update.new = newJson;
      }
      return update;
    }

    if (type === DELETE) return { delete: null };
    const row: Record<string, unknown> = {};
    if (type === MODIFY && old && next) {
      for (const { column } of columns) {
        if (!changed(column)) continue;
        const diff = datumDiff(fieldOf(old, column.name), fieldOf(next, column.name), column.type);
        row[column.name] = datumToJson(diff, column.type);
      }
      return { modify: row };
    }
    if (next) {
      for (const { column } of columns) {
        const datum = fieldOf(next, column.name);
        // Clients fill omitted columns with defaults (RFC 7047 extension semantics).
        if (!isDefaultDatum(datum, column.type)) row[column.name] = datumToJson(datum, column.type);
      }
    }
    return { [type === INITIAL ? 'initial' : 'insert']: row };
  }
}

function parseRequest(mt: MonitoredTable, request: unknown, version: MonitorVersion): void {
  const name = mt.table.name;
  const parser = new ObjectParser(request, `table ${name}`);
  const where = version > 1 ? (parser.member('where', ['array'], true) as unknown[] | undefined) : undefined;
  const columns = parser.member('columns', ['array'], true) as unknown[] | undefined;
  const select = parser.member('select', ['object'], true);
  const error = parser.finish();
  if (error) throw error;

  let mask = ALL;
  if (select !== undefined) {
    const selectParser = new ObjectParser(select, `table ${name} select`);
    mask = 0;
    for (const [flag, bit] of [
      ['initial', INITIAL],
      ['insert', INSERT],
      ['delete', DELETE],
      ['modify', MODIFY],
    ] as const) {
      if (selectParser.member(flag, ['boolean'], true) !== false) mask |= bit;
    }
    const selectError = selectParser.finish();
    if (selectError) throw selectError;
  }
  mt.select |= mask;

  const add = (column: ColumnModel, syntax: unknown): void => {
    if (mt.columns.some((c) => c.column === column)) {
      throw syntaxError(syntax, undefined, `column ${column.name} mentioned more than once`);
    }
    mt.columns.push({ column, select: mask });
  };
  if (columns !== undefined) {
    for (const columnName of columns) {
      if (typeof columnName !== 'string') throw syntaxError(columns, undefined, 'array of column names expected');
      const column = mt.table.columns.get(columnName);
      if (!column) throw syntaxError(columns, undefined, `${columnName} is not a valid column name`);
      add(column, columns);
    }
  } else {
    for (const column of mt.table.columns.values()) if (column.name !== '_uuid') add(column, undefined);
  }
  if (where !== undefined) mt.condition = parseConditions(mt.table, where, undefined);
}
