/**
 * One OVSDB database in memory, without I/O: executes `transact` operations
 * (RFC 7047 §5.2 plus the OVS extensions) atomically and commits them with
 * the checks ovsdb-server makes, in the same order:
 *
 * 1. rows that ended up unchanged are dropped (an empty transaction commits nothing);
 * 2. strong references added by the transaction must point to existing rows,
 *    and rows deleted by it must have no strong references left;
 * 3. garbage collection: non-root rows without strong references from other
 *    rows are deleted (reference counting, as ovsdb-server does: a row's
 *    reference to itself does not keep it alive, a cycle of rows does);
 * 4. `maxRows`;
 * 5. weak references to missing rows are removed, then the column's minimum
 *    size is re-checked;
 * 6. index uniqueness;
 * 7. a fresh `_version` for every modified row.
 *
 * Committed transactions get an id and are kept in a bounded history, so
 * `monitor_cond_since` can send only what changed since a client's last id.
 */
import { matchesAll, parseConditions, uuidLookup, type Clause } from './condition.ts';
import { columnOf, fieldOf, type ColumnModel, type DatabaseModel, type Row, type TableModel } from './model.ts';
import { applyMutation, parseMutation } from './mutation.ts';
import { ObjectParser } from './parser.ts';
import {
  OvsdbFailure,
  ZERO_UUID,
  canonicalJson,
  checkAtomConstraints,
  compareDatums,
  datumFromJson,
  datumToJson,
  datumToString,
  datumsEqual,
  defaultDatum,
  findKey,
  isUuidText,
  jsonInteger,
  makeMap,
  makeSet,
  newUuid,
  singleton,
  syntaxError,
  type Atom,
  type Datum,
  type SymbolTable,
} from './values.ts';

/** The rows before and after a commit; `old` is undefined for inserts, `new` for deletes. */
export interface RowChange {
  readonly old: Row | undefined;
  readonly new: Row | undefined;
}

/** table name → row uuid → change. */
export type ChangeSet = ReadonlyMap<string, ReadonlyMap<string, RowChange>>;

export interface CommitRecord {
  readonly txnId: string;
  readonly changes: ChangeSet;
}

export interface ExecutionContext {
  /** Milliseconds since the transaction was first attempted (for `wait` with a timeout). */
  readonly elapsedMs: number;
  /** Whether the requesting session owns `lock` (the `assert` operation). */
  isLockOwner(lock: string): boolean;
}

export type ExecutionOutcome =
  | { readonly kind: 'done'; readonly results: unknown[]; readonly commit: CommitRecord | undefined }
  /** A `wait` is not satisfied yet: run the whole transaction again after a commit or after `retryInMs` (may be Infinity). */
  | { readonly kind: 'blocked'; readonly retryInMs: number };

export interface DatabaseOptions {
  /** How many committed transactions to remember for monitor_cond_since; 0 behaves like a standalone ovsdb-server (no ids). */
  readonly historyLimit?: number;
}

/** Thrown by a `wait` whose condition may still become true before its timeout. */
class WaitBlocked extends Error {
  constructor(readonly retryInMs: number) {
    super('wait blocked');
  }
}

interface TxnRow {
  readonly old: Row | undefined;
  current: Row | undefined;
}

/** The working state of one transaction on top of the committed tables. */
class Transaction implements SymbolTable {
  readonly touched = new Map<string, Map<string, TxnRow>>();
  private readonly symbols = new Map<string, { uuid: string; created: boolean }>();

  constructor(private readonly committed: ReadonlyMap<string, ReadonlyMap<string, Row>>) {}

  resolve(name: string): string {
    return this.symbol(name).uuid;
  }

  symbol(name: string): { uuid: string; created: boolean } {
    let symbol = this.symbols.get(name);
    if (!symbol) {
      symbol = { uuid: newUuid(), created: false };
      this.symbols.set(name, symbol);
    }
    return symbol;
  }

  private touchedTable(table: string): Map<string, TxnRow> {
    let rows = this.touched.get(table);
    if (!rows) this.touched.set(table, (rows = new Map<string, TxnRow>()));
    return rows;
  }

  get(table: string, uuid: string): Row | undefined {
    const entry = this.touched.get(table)?.get(uuid);
    if (entry) return entry.current;
    return this.committed.get(table)?.get(uuid);
  }

  /** Every row of `table` as the transaction sees it (committed rows first, then inserted ones). */
  *scan(table: string): Generator<Row> {
    const touched = this.touched.get(table);
    const committed = this.committed.get(table) ?? new Map<string, Row>();
    for (const [uuid, row] of committed) {
      const entry = touched?.get(uuid);
      if (!entry) yield row;
      else if (entry.current) yield entry.current;
    }
    if (touched) {
      for (const [uuid, entry] of touched) if (!committed.has(uuid) && entry.current) yield entry.current;
    }
  }

  /** An insert may not reuse a uuid present in the table or deleted by this transaction. */
  mayCreate(table: string, uuid: string): boolean {
    return !this.touched.get(table)?.has(uuid) && !this.committed.get(table)?.has(uuid);
  }

  put(table: string, row: Row): void {
    const rows = this.touchedTable(table);
    const entry = rows.get(row.uuid);
    if (entry) entry.current = row;
    else rows.set(row.uuid, { old: this.committed.get(table)?.get(row.uuid), current: row });
  }

  remove(table: string, uuid: string): void {
    const rows = this.touchedTable(table);
    const entry = rows.get(uuid);
    if (entry) entry.current = undefined;
    else rows.set(uuid, { old: this.committed.get(table)?.get(uuid), current: undefined });
  }
}

function withField(row: Row, column: string, datum: Datum): Row {
  const fields = new Map(row.fields);
  fields.set(column, datum);
  return { uuid: row.uuid, fields };
}

function rowsEqual(a: Row, b: Row): boolean {
  for (const [name, datum] of a.fields) {
    const other = b.fields.get(name);
    if (!other || !datumsEqual(datum, other)) return false;
  }
  return true;
}

/** The strong or weak reference atoms of one column value. */
function refAtoms(column: ColumnModel, datum: Datum, refType: 'strong' | 'weak'): { table: string; uuid: string }[] {
  const out: { table: string; uuid: string }[] = [];
  const { key, value } = column.type;
  if (key.refTable !== undefined && key.refType === refType) {
    for (const atom of datum.keys) out.push({ table: key.refTable, uuid: atom as string });
  }
  if (value?.refTable !== undefined && value.refType === refType) {
    for (const atom of datum.values ?? []) out.push({ table: value.refTable, uuid: atom as string });
  }
  return out;
}

const refKey = (table: string, uuid: string): string => `${table}\u0000${uuid}`;

function addTo(map: Map<string, number>, key: string, delta: number): void {
  map.set(key, (map.get(key) ?? 0) + delta);
}

function englishList(items: readonly string[]): string {
  return items
    .map((item, i) => {
      const delimiter = i === 0 ? '' : items.length > 2 && i === items.length - 1 ? ', and ' : items.length === 2 ? ' and ' : ', ';
      return delimiter + item;
    })
    .join('');
}

/** The JSON form of a row (all of `columns`), as in select results. */
export function rowToJson(row: Row, columns: readonly ColumnModel[]): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const column of columns) json[column.name] = datumToJson(fieldOf(row, column.name), column.type);
  return json;
}

export class Database {
  readonly model: DatabaseModel;
  /** Refuse writes with "not allowed" (the `_Server` database). */
  readOnly = false;
  private readonly tables = new Map<string, Map<string, Row>>();
  private readonly historyLimit: number;
  /** Recent commits, oldest first, each with the id of the transaction before it. */
  private readonly history: { readonly previousTxnId: string; readonly record: CommitRecord }[] = [];
  private lastTxnIdValue: string;
  /** Committed strong references to each row from other rows (row key → count), as ovsdb-server keeps them. */
  private readonly refCounts = new Map<string, number>();
  /** Committed rows by index key: table → one map per index of the table. */
  private readonly indexes = new Map<string, Map<string, Set<string>>[]>();

  constructor(model: DatabaseModel, options: DatabaseOptions = {}) {
    this.model = model;
    this.historyLimit = options.historyLimit ?? 256;
    for (const name of model.tables.keys()) this.tables.set(name, new Map());
    // Never the zero uuid: a client that knows nothing must not be told it is up to date.
    this.lastTxnIdValue = this.historyLimit > 0 ? newUuid() : ZERO_UUID;
  }

  get name(): string {
    return this.model.name;
  }

  /** Id of the last committed transaction (the zero uuid when history is disabled). */
  get lastTxnId(): string {
    return this.lastTxnIdValue;
  }

  get keepsHistory(): boolean {
    return this.historyLimit > 0;
  }

  table(name: string): TableModel | undefined {
    return this.model.tables.get(name);
  }

  rows(table: string): IterableIterator<Row> {
    return (this.tables.get(table) ?? new Map<string, Row>()).values();
  }

  row(table: string, uuid: string): Row | undefined {
    return this.tables.get(table)?.get(uuid);
  }

  /**
   * All changes committed after transaction `txnId`, merged per row, or
   * undefined when `txnId` is unknown (too old, or from another server).
   */
  changesSince(txnId: string): ChangeSet | undefined {
    if (!this.keepsHistory) return undefined;
    if (txnId === this.lastTxnIdValue) return new Map();
    const at = this.history.findIndex((entry) => entry.previousTxnId === txnId);
    if (at < 0) return undefined;
    const merged = new Map<string, Map<string, { old: Row | undefined; new: Row | undefined }>>();
    for (const { record } of this.history.slice(at)) {
      for (const [table, rows] of record.changes) {
        let target = merged.get(table);
        if (!target) merged.set(table, (target = new Map<string, { old: Row | undefined; new: Row | undefined }>()));
        for (const [uuid, change] of rows) {
          const existing = target.get(uuid);
          if (existing) existing.new = change.new;
          else target.set(uuid, { old: change.old, new: change.new });
        }
      }
    }
    for (const rows of merged.values()) {
      for (const [uuid, change] of rows) if (!change.old && !change.new) rows.delete(uuid);
    }
    return merged;
  }

  /** Runs one `transact` request's operations (wire form) atomically. */
  execute(operations: readonly unknown[], context: ExecutionContext): ExecutionOutcome {
    const txn = new Transaction(this.tables);
    const results: unknown[] = [];
    let failed = false;
    for (let i = 0; i < operations.length; i++) {
      const json = operations[i];
      const parser = new ObjectParser(json, `ovsdb operation ${String(i + 1)} of ${String(operations.length)}`);
      const opName = parser.member('op', ['id']);
      let result: Record<string, unknown> = {};
      let error: OvsdbFailure | undefined;
      let readOnlyOp = true;
      if (typeof opName === 'string') {
        const known = Object.hasOwn(READ_ONLY_OPERATIONS, opName);
        if (known) {
          readOnlyOp = READ_ONLY_OPERATIONS[opName] === true;
          try {
            result = this.runOperation(opName, { txn, parser, json, context });
          } catch (caught) {
            if (caught instanceof WaitBlocked) return { kind: 'blocked', retryInMs: caught.retryInMs };
            if (!(caught instanceof OvsdbFailure)) throw caught;
            error = caught;
          }
        } else {
          parser.raise(`No operation "${opName}"`);
        }
      }
      const parseError = parser.finish();
      if (parseError) error = parseError;
      if (!error && !readOnlyOp && this.readOnly) {
        error = new OvsdbFailure(
          'not allowed',
          `${String(opName)} operation not allowed on table in reserved database ${this.name}`,
        );
      }
      results.push(error ? error.toJson() : result);
      if (error) {
        failed = true;
        break;
      }
    }
    let commit: CommitRecord | undefined;
    if (!failed) {
      try {
        commit = this.commit(txn);
      } catch (caught) {
        if (!(caught instanceof OvsdbFailure)) throw caught;
        results.push(caught.toJson());
      }
    }
    while (results.length < operations.length) results.push(null);
    return { kind: 'done', results, commit };
  }

  // ---- operations -------------------------------------------------------------

  private runOperation(op: string, args: OperationArgs): Record<string, unknown> {
    switch (op) {
      case 'insert':
        return this.opInsert(args);
      case 'select':
        return this.opSelect(args);
      case 'update':
        return this.opUpdate(args);
      case 'mutate':
        return this.opMutate(args);
      case 'delete':
        return this.opDelete(args);
      case 'wait':
        return this.opWait(args);
      case 'commit':
        return this.opCommit(args);
      case 'abort':
        throw new OvsdbFailure('aborted', 'aborted by request');
      case 'comment':
        return this.opComment(args);
      default:
        return this.opAssert(args);
    }
  }

  private parseTable(parser: ObjectParser): TableModel | undefined {
    const name = parser.member('table', ['id']);
    if (typeof name !== 'string') return undefined;
    const table = this.model.tables.get(name);
    if (!table) parser.raise(`No table named ${name}.`);
    return table;
  }

  /** Table of an operation whose members were all requested; throws the parse error if any. */
  private requireParsed(parser: ObjectParser, table: TableModel | undefined): TableModel {
    if (parser.error) throw parser.error;
    if (!table) throw new Error('internal: table missing without a parse error');
    return table;
  }

  /** ovsdb_row_from_json(): the given columns, parsed and checked. */
  private parseRow(json: unknown, table: TableModel, symtab: SymbolTable | undefined): Map<ColumnModel, Datum> {
    if (json === null || typeof json !== 'object' || Array.isArray(json)) {
      throw syntaxError(json, undefined, 'row must be JSON object');
    }
    const values = new Map<ColumnModel, Datum>();
    for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
      const column = table.columns.get(name);
      if (!column) throw syntaxError(json, 'unknown column', `No column ${name} in table ${table.name}.`);
      values.set(column, datumFromJson(column.type, value, symtab));
    }
    return values;
  }

  /** ovsdb_column_set_from_json(): absent means every column. */
  private parseColumns(json: unknown, table: TableModel): ColumnModel[] {
    if (json === undefined) return [...table.columns.values()];
    const columns: ColumnModel[] = [];
    const fail = (): OvsdbFailure => syntaxError(json, undefined, 'array of distinct column names expected');
    if (!Array.isArray(json)) throw fail();
    for (const name of json) {
      if (typeof name !== 'string') throw fail();
      const column = table.columns.get(name);
      if (!column) throw syntaxError(json, undefined, `${name} is not a valid column name`);
      if (columns.includes(column)) throw fail();
      columns.push(column);
    }
    return columns;
  }

  private query(txn: Transaction, table: TableModel, clauses: readonly Clause[]): Row[] {
    const uuid = uuidLookup(clauses, table);
    if (uuid !== undefined) {
      const row = txn.get(table.name, uuid);
      return row && matchesAll(clauses, row) ? [row] : [];
    }
    const rows: Row[] = [];
    for (const row of txn.scan(table.name)) if (matchesAll(clauses, row)) rows.push(row);
    return rows;
  }

  private opInsert({ txn, parser }: OperationArgs): Record<string, unknown> {
    const parsedTable = this.parseTable(parser);
    const uuidName = parser.member('uuid-name', ['id'], true);
    const uuidJson = parser.member('uuid', ['string'], true);
    const rowJson = parser.member('row', ['object']);
    const table = this.requireParsed(parser, parsedTable);

    let rowUuid: string | undefined;
    if (typeof uuidJson === 'string') {
      if (!isUuidText(uuidJson)) throw syntaxError(uuidJson, undefined, 'bad uuid');
      rowUuid = uuidJson.toLowerCase();
      if (!txn.mayCreate(table.name, rowUuid)) {
        throw syntaxError(
          uuidJson,
          'duplicate uuid',
          'This UUID would duplicate a UUID already present within the table or deleted within the same transaction.',
        );
      }
    }
    if (typeof uuidName === 'string') {
      const symbol = txn.symbol(uuidName);
      if (symbol.created) {
        throw syntaxError(uuidName, 'duplicate uuid-name', 'This "uuid-name" appeared on an earlier "insert" operation.');
      }
      if (rowUuid === undefined) rowUuid = symbol.uuid;
      else symbol.uuid = rowUuid;
      symbol.created = true;
    }
    rowUuid ??= newUuid();

    const given = this.parseRow(rowJson, table, txn);
    const fields = new Map<string, Datum>();
    for (const column of table.columns.values()) {
      const datum = given.get(column) ?? defaultDatum(column.type);
      // Default values may themselves break a constraint (an enum without "", a minimum above 0).
      if (datum.keys.length === 1) {
        checkAtomConstraints(datum.keys[0] as Atom, column.type.key);
        if (column.type.value && datum.values) checkAtomConstraints(datum.values[0] as Atom, column.type.value);
      }
      fields.set(column.name, datum);
    }
    fields.set('_uuid', singleton(rowUuid));
    fields.set('_version', singleton(newUuid()));
    txn.put(table.name, { uuid: rowUuid, fields });
    return { uuid: ['uuid', rowUuid] };
  }

  private opSelect({ txn, parser }: OperationArgs): Record<string, unknown> {
    const parsedTable = this.parseTable(parser);
    const where = parser.member('where', ['array']) as unknown[] | undefined;
    const columnsJson = parser.member('columns', ['array'], true);
    const sortJson = parser.member('sort', ['array'], true);
    const table = this.requireParsed(parser, parsedTable);
    const clauses = parseConditions(table, where ?? [], txn);
    const columns = this.parseColumns(columnsJson, table);
    const sort = sortJson === undefined ? [] : this.parseColumns(sortJson, table);
    let rows = this.query(txn, table, clauses);
    if (!columns.includes(columnOf(table, '_uuid'))) {
      // Without _uuid, rows that look the same are returned once (ovsdb_query_distinct).
      const seen = new Set<string>();
      rows = rows.filter((row) => {
        const key = canonicalJson(rowToJson(row, columns));
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
    }
    if (sort.length > 0) {
      rows.sort((a, b) => {
        for (const column of sort) {
          const c = compareDatums(fieldOf(a, column.name), fieldOf(b, column.name));
          if (c !== 0) return c;
        }
        return 0;
      });
    }
    return { rows: rows.map((row) => rowToJson(row, columns)) };
  }

  private opUpdate({ txn, parser, json }: OperationArgs): Record<string, unknown> {
    const parsedTable = this.parseTable(parser);
    const where = parser.member('where', ['array']) as unknown[] | undefined;
    const rowJson = parser.member('row', ['object']);
    const table = this.requireParsed(parser, parsedTable);
    const values = this.parseRow(rowJson, table, txn);
    for (const column of values.keys()) {
      if (!column.mutable) {
        throw syntaxError(json, 'constraint violation', `Cannot update immutable column ${column.name} in table ${table.name}.`);
      }
    }
    const clauses = parseConditions(table, where ?? [], txn);
    const rows = this.query(txn, table, clauses);
    for (const row of rows) {
      const fields = new Map(row.fields);
      for (const [column, datum] of values) fields.set(column.name, datum);
      txn.put(table.name, { uuid: row.uuid, fields });
    }
    return { count: rows.length };
  }

  private opMutate({ txn, parser }: OperationArgs): Record<string, unknown> {
    const parsedTable = this.parseTable(parser);
    const where = parser.member('where', ['array']) as unknown[] | undefined;
    const mutationsJson = parser.member('mutations', ['array']) as unknown[] | undefined;
    const table = this.requireParsed(parser, parsedTable);
    const mutations = (mutationsJson ?? []).map((m) => parseMutation(table, m, txn));
    const clauses = parseConditions(table, where ?? [], txn);
    const rows = this.query(txn, table, clauses);
    for (const row of rows) {
      const fields = new Map(row.fields);
      for (const mutation of mutations) {
        const name = mutation.column.name;
        fields.set(name, applyMutation(fields.get(name) ?? defaultDatum(mutation.column.type), mutation));
      }
      txn.put(table.name, { uuid: row.uuid, fields });
    }
    return { count: rows.length };
  }

  private opDelete({ txn, parser }: OperationArgs): Record<string, unknown> {
    const parsedTable = this.parseTable(parser);
    const where = parser.member('where', ['array']) as unknown[] | undefined;
    const table = this.requireParsed(parser, parsedTable);
    const clauses = parseConditions(table, where ?? [], txn);
    const rows = this.query(txn, table, clauses);
    for (const row of rows) txn.remove(table.name, row.uuid);
    return { count: rows.length };
  }

  private opWait({ txn, parser, context }: OperationArgs): Record<string, unknown> {
    const parsedTable = this.parseTable(parser);
    const where = parser.member('where', ['array']) as unknown[] | undefined;
    const columnsJson = parser.member('columns', ['array'], true);
    const until = parser.member('until', ['string']);
    const rowsJson = parser.member('rows', ['array']) as unknown[] | undefined;
    const timeoutJson = parser.member('timeout', ['integer'], true);
    const table = this.requireParsed(parser, parsedTable);
    const clauses = parseConditions(table, where ?? [], txn);
    const columns = this.parseColumns(columnsJson, table);
    let timeoutMs = Infinity;
    if (timeoutJson !== undefined) {
      const timeout = jsonInteger(timeoutJson) ?? 0n;
      if (timeout < 0n) throw syntaxError(timeoutJson, undefined, 'timeout must be nonnegative');
      timeoutMs = Number(timeout);
    }
    if (until !== '==' && until !== '!=') throw syntaxError(until, undefined, '"until" must be "==" or "!="');

    const project = (fields: ReadonlyMap<string, Datum>): string =>
      canonicalJson(columns.map((c) => datumToJson(fields.get(c.name) ?? defaultDatum(c.type), c.type)));
    const expected = new Set<string>();
    for (const rowJson of rowsJson ?? []) {
      const given = this.parseRow(rowJson, table, txn);
      const fields = new Map<string, Datum>();
      for (const [column, datum] of given) fields.set(column.name, datum);
      expected.add(project(fields));
    }
    const actual = new Set<string>();
    let equal = true;
    for (const row of this.query(txn, table, clauses)) {
      const key = project(row.fields);
      if (!expected.has(key)) {
        equal = false;
        break;
      }
      actual.add(key);
    }
    if (equal) equal = actual.size === expected.size;
    if ((until === '==') !== equal) {
      if (timeoutMs === 0) throw new OvsdbFailure('timed out', '"where" clause test failed');
      if (context.elapsedMs >= timeoutMs) {
        throw new OvsdbFailure('timed out', `"wait" timed out after ${String(Math.round(context.elapsedMs))} ms`);
      }
      throw new WaitBlocked(timeoutMs - context.elapsedMs);
    }
    return {};
  }

  private opCommit({ parser }: OperationArgs): Record<string, unknown> {
    parser.member('durable', ['boolean']);
    if (parser.error) throw parser.error;
    return {};
  }

  private opComment({ parser }: OperationArgs): Record<string, unknown> {
    parser.member('comment', ['string']);
    if (parser.error) throw parser.error;
    return {};
  }

  private opAssert({ parser, context }: OperationArgs): Record<string, unknown> {
    const lock = parser.member('lock', ['id']);
    if (typeof lock !== 'string') return {};
    if (context.isLockOwner(lock)) return {};
    throw new OvsdbFailure('not owner', `Asserted lock ${lock} not held.`);
  }

  // ---- commit -------------------------------------------------------------------

  private commit(txn: Transaction): CommitRecord | undefined {
    this.dropUnchanged(txn);
    if (txn.touched.size === 0) return undefined;
    const refDeltas = this.referenceDeltas(txn);
    this.checkReferences(txn, refDeltas);
    this.collectGarbage(txn, refDeltas);
    this.checkMaxRows(txn);
    this.removeDanglingWeakReferences(txn);
    this.checkIndexes(txn);

    const changes = new Map<string, Map<string, RowChange>>();
    for (const [tableName, rows] of txn.touched) {
      const committed = this.tables.get(tableName);
      const table = this.model.tables.get(tableName);
      if (!committed || !table) continue;
      const tableChanges = new Map<string, RowChange>();
      for (const [uuid, entry] of rows) {
        let next = entry.current;
        if (next && entry.old) next = withField(next, '_version', singleton(newUuid()));
        if (next) committed.set(uuid, next);
        else committed.delete(uuid);
        this.reindex(table, entry.old, next);
        tableChanges.set(uuid, { old: entry.old, new: next });
      }
      changes.set(tableName, tableChanges);
    }
    for (const [key, delta] of refDeltas) {
      const n = (this.refCounts.get(key) ?? 0) + delta;
      if (n === 0) this.refCounts.delete(key);
      else this.refCounts.set(key, n);
    }
    const record: CommitRecord = { txnId: this.keepsHistory ? newUuid() : ZERO_UUID, changes };
    const previousTxnId = this.lastTxnIdValue;
    this.lastTxnIdValue = record.txnId;
    if (this.keepsHistory) {
      this.history.push({ previousTxnId, record });
      if (this.history.length > this.historyLimit) this.history.shift();
    }
    return record;
  }

  private dropUnchanged(txn: Transaction): void {
    for (const [table, rows] of txn.touched) {
      for (const [uuid, entry] of rows) {
        const unchanged = entry.old && entry.current ? rowsEqual(entry.old, entry.current) : !entry.old && !entry.current;
        if (unchanged) rows.delete(uuid);
      }
      if (rows.size === 0) txn.touched.delete(table);
    }
  }

  /** Strong references from `row` to other rows (a row's reference to itself does not count). */
  private strongReferences(table: TableModel, row: Row): string[] {
    const keys: string[] = [];
    for (const column of table.refColumns) {
      for (const ref of refAtoms(column, fieldOf(row, column.name), 'strong')) {
        if (ref.table === table.name && ref.uuid === row.uuid) continue;
        keys.push(refKey(ref.table, ref.uuid));
      }
    }
    return keys;
  }

  /** How the transaction changes each row's count of strong references (committed counts are in refCounts). */
  private referenceDeltas(txn: Transaction): Map<string, number> {
    const deltas = new Map<string, number>();
    for (const [tableName, rows] of txn.touched) {
      const table = this.model.tables.get(tableName);
      if (!table || table.refColumns.length === 0) continue;
      for (const entry of rows.values()) {
        if (entry.old) for (const key of this.strongReferences(table, entry.old)) addTo(deltas, key, -1);
        if (entry.current) for (const key of this.strongReferences(table, entry.current)) addTo(deltas, key, 1);
      }
    }
    return deltas;
  }

  private referenceCount(key: string, deltas: ReadonlyMap<string, number>): number {
    return (this.refCounts.get(key) ?? 0) + (deltas.get(key) ?? 0);
  }

  /** Strong references the transaction added must resolve; rows it deleted must be unreferenced. */
  private checkReferences(txn: Transaction, deltas: ReadonlyMap<string, number>): void {
    for (const [tableName, rows] of txn.touched) {
      const table = this.model.tables.get(tableName);
      if (!table) continue;
      for (const [uuid, entry] of rows) {
        if (!entry.current) continue;
        for (const column of table.refColumns) {
          const now = fieldOf(entry.current, column.name);
          const before = entry.old ? fieldOf(entry.old, column.name) : undefined;
          for (const ref of refAtoms(column, addedElements(before, now), 'strong')) {
            if (!txn.get(ref.table, ref.uuid)) {
              throw new OvsdbFailure(
                'referential integrity violation',
                `Table ${tableName} column ${column.name} row ${uuid} references nonexistent row ${ref.uuid} in table ${ref.table}.`,
              );
            }
          }
        }
      }
    }
    for (const [tableName, rows] of txn.touched) {
      for (const [uuid, entry] of rows) {
        if (!entry.old || entry.current) continue;
        const n = this.referenceCount(refKey(tableName, uuid), deltas);
        if (n > 0) {
          throw new OvsdbFailure(
            'referential integrity violation',
            `cannot delete ${tableName} row ${uuid} because of ${String(n)} remaining reference(s)`,
          );
        }
      }
    }
  }

  /**
   * Deletes non-root rows left without strong references: rows inserted
   * unreferenced, and rows that lost references, cascading. Updates `deltas`.
   */
  private collectGarbage(txn: Transaction, deltas: Map<string, number>): void {
    const candidates: { table: TableModel; uuid: string }[] = [];
    const consider = (tableName: string, uuid: string): void => {
      const table = this.model.tables.get(tableName);
      if (table && !table.isRoot) candidates.push({ table, uuid });
    };
    for (const [tableName, rows] of txn.touched) {
      for (const [uuid, entry] of rows) if (entry.current && !entry.old) consider(tableName, uuid);
    }
    for (const [key, delta] of deltas) {
      if (delta >= 0) continue;
      const [tableName = '', uuid = ''] = key.split('\u0000');
      consider(tableName, uuid);
    }
    for (;;) {
      const next = candidates.pop();
      if (!next) break;
      const { table, uuid } = next;
      const row = txn.get(table.name, uuid);
      if (!row || this.referenceCount(refKey(table.name, uuid), deltas) > 0) continue;
      txn.remove(table.name, uuid);
      for (const key of this.strongReferences(table, row)) {
        addTo(deltas, key, -1);
        const [tableName = '', target = ''] = key.split('\u0000');
        consider(tableName, target);
      }
    }
  }

  private checkMaxRows(txn: Transaction): void {
    for (const [tableName, rows] of txn.touched) {
      const table = this.model.tables.get(tableName);
      if (!table || table.maxRows === Infinity) continue;
      let n = this.tables.get(tableName)?.size ?? 0;
      for (const entry of rows.values()) {
        if (entry.current && !entry.old) n++;
        else if (!entry.current && entry.old) n--;
      }
      if (n > table.maxRows) {
        throw new OvsdbFailure(
          'constraint violation',
          `transaction causes "${tableName}" table to contain ${String(n)} rows, greater than the schema-defined limit of ${String(table.maxRows)} row(s)`,
        );
      }
    }
  }

  private removeDanglingWeakReferences(txn: Transaction): void {
    const tablesWithDeletions = new Set<string>();
    for (const [tableName, rows] of txn.touched) {
      for (const entry of rows.values()) if (entry.old && !entry.current) tablesWithDeletions.add(tableName);
    }
    for (const table of this.model.tables.values()) {
      const weakColumns = table.refColumns.filter(
        (c) =>
          (c.type.key.refTable !== undefined && c.type.key.refType === 'weak') ||
          (c.type.value?.refTable !== undefined && c.type.value.refType === 'weak'),
      );
      if (weakColumns.length === 0) continue;
      const mayDangle = weakColumns.some(
        (c) =>
          (c.type.key.refTable !== undefined && tablesWithDeletions.has(c.type.key.refTable)) ||
          (c.type.value?.refTable !== undefined && tablesWithDeletions.has(c.type.value.refTable)),
      );
      // Rows changed by the transaction may have added references to missing rows; other rows only
      // dangle when rows of a table they point to were deleted.
      const candidates = mayDangle
        ? [...txn.scan(table.name)]
        : [...(txn.touched.get(table.name)?.values() ?? [])].flatMap((entry) => (entry.current ? [entry.current] : []));
      for (const row of candidates) {
        let updated = row;
        for (const column of weakColumns) {
          const datum = fieldOf(row, column.name);
          const { key, value } = column.type;
          const keys: Atom[] = [];
          const values: Atom[] = [];
          let removed = 0;
          let removedZero = false;
          for (let i = 0; i < datum.keys.length; i++) {
            const k = datum.keys[i] as Atom;
            const v = (datum.values ?? [])[i];
            const keyDangles = key.refTable !== undefined && key.refType === 'weak' && !txn.get(key.refTable, k as string);
            const valueDangles =
              value?.refTable !== undefined && value.refType === 'weak' && v !== undefined && !txn.get(value.refTable, v as string);
            if (keyDangles || valueDangles) {
              removed++;
              if ((keyDangles && k === ZERO_UUID) || (valueDangles && v === ZERO_UUID)) removedZero = true;
              continue;
            }
            keys.push(k);
            if (v !== undefined) values.push(v);
          }
          if (removed === 0) continue;
          if (keys.length < column.type.min) {
            const entry = txn.touched.get(table.name)?.get(row.uuid);
            const inserted = entry !== undefined && entry.old === undefined;
            if (removedZero && inserted) {
              // ovsdb-server's wording, typo included: the all-zeros uuid is the default of a uuid column.
              throw new OvsdbFailure(
                'constraint violation',
                `Weak reference column "${column.name}" in "${table.name}" row ${row.uuid} (inserted within this transaction) contained all-zeros UUID (probably as the default value for this column) but deleting this value caused a constraint volation because this column is not allowed to be empty.`,
              );
            }
            throw new OvsdbFailure(
              'constraint violation',
              `Deletion of ${String(removed)} weak reference(s) to deleted (or never-existing) rows from column "${column.name}" in "${table.name}" row ${row.uuid}${inserted ? ' (inserted within this transaction)' : ''} caused this column to become empty, but constraints on this column disallow an empty column.`,
            );
          }
          updated = withField(updated, column.name, datum.values === undefined ? makeSet(keys) : makeMap(keys, values));
        }
        if (updated !== row) txn.put(table.name, updated);
      }
    }
  }

  private indexKey(index: readonly ColumnModel[], row: Row): string {
    return canonicalJson(index.map((c) => datumToJson(fieldOf(row, c.name), c.type)));
  }

  /** The committed rows by index key, per index of `table`. */
  private indexMaps(table: TableModel): Map<string, Set<string>>[] {
    let maps = this.indexes.get(table.name);
    if (!maps) {
      maps = table.indexes.map(() => new Map<string, Set<string>>());
      this.indexes.set(table.name, maps);
    }
    return maps;
  }

  private reindex(table: TableModel, old: Row | undefined, next: Row | undefined): void {
    if (table.indexes.length === 0) return;
    const maps = this.indexMaps(table);
    table.indexes.forEach((index, i) => {
      const map = maps[i];
      if (!map) return;
      if (old) {
        const key = this.indexKey(index, old);
        const holders = map.get(key);
        holders?.delete(old.uuid);
        if (holders?.size === 0) map.delete(key);
      }
      if (next) {
        const key = this.indexKey(index, next);
        const holders = map.get(key);
        if (holders) holders.add(next.uuid);
        else map.set(key, new Set([next.uuid]));
      }
    });
  }

  private checkIndexes(txn: Transaction): void {
    for (const [tableName, rows] of txn.touched) {
      const table = this.model.tables.get(tableName);
      if (!table || table.indexes.length === 0) continue;
      const maps = this.indexMaps(table);
      table.indexes.forEach((index, i) => {
        const committedKeys = maps[i] ?? new Map<string, Set<string>>();
        const touchedKeys = new Map<string, Row[]>();
        for (const entry of rows.values()) {
          if (!entry.current) continue;
          const key = this.indexKey(index, entry.current);
          const list = touchedKeys.get(key);
          if (list) list.push(entry.current);
          else touchedKeys.set(key, [entry.current]);
        }
        for (const [key, list] of touchedKeys) {
          const [first] = list;
          if (!first) continue;
          if (list.length > 1 && list[1]) throw this.indexError(txn, table, index, first, list[1]);
          // Committed rows the transaction touched are judged by their new values above.
          for (const holder of committedKeys.get(key) ?? []) {
            if (holder === first.uuid || rows.has(holder)) continue;
            const other = txn.get(tableName, holder);
            if (other) throw this.indexError(txn, table, index, first, other);
          }
        }
      });
    }
  }

  private indexError(txn: Transaction, table: TableModel, index: readonly ColumnModel[], a: Row, b: Row): OvsdbFailure {
    // Larger uuid first: a stable order, as ovsdb-server orders the pair too.
    const [first, second] = a.uuid > b.uuid ? [a, b] : [b, a];
    const values = (row: Row): string => englishList(index.map((c) => datumToString(fieldOf(row, c.name), c.type)));
    const describe = (row: Row): string => {
      const entry = txn.touched.get(table.name)?.get(row.uuid);
      if (!entry) return 'existed in the database before this transaction and was not modified by the transaction.';
      if (!entry.old) return 'was inserted by this transaction.';
      const old = entry.old;
      if (index.every((c) => datumsEqual(fieldOf(old, c.name), fieldOf(row, c.name)))) {
        return "existed in the database before this transaction, which modified some of the row's columns but not any columns in this index.";
      }
      return `had the following index values before the transaction: ${values(old)}.`;
    };
    const columnsText = englishList(index.map((c) => `"${c.name}"`));
    return new OvsdbFailure(
      'constraint violation',
      `Transaction causes multiple rows in "${table.name}" table to have identical values (${values(a)}) for index on column${index.length > 1 ? 's' : ''} ${columnsText}.  First row, with UUID ${first.uuid}, ${describe(first)}  Second row, with UUID ${second.uuid}, ${describe(second)}`,
    );
  }
}

/** Elements (pairs, for maps) of `now` that `before` does not have. */
function addedElements(before: Datum | undefined, now: Datum): Datum {
  if (!before) return now;
  const keys: Atom[] = [];
  const values: Atom[] = [];
  now.keys.forEach((key, i) => {
    const at = findKey(before, key);
    const value = (now.values ?? [])[i];
    const same = at >= 0 && (value === undefined || (before.values ?? [])[at] === value);
    if (same) return;
    keys.push(key);
    if (value !== undefined) values.push(value);
  });
  return now.values === undefined ? makeSet(keys) : makeMap(keys, values);
}

interface OperationArgs {
  readonly txn: Transaction;
  readonly parser: ObjectParser;
  readonly json: unknown;
  readonly context: ExecutionContext;
}

/** Whether each operation only reads; ovsdb-server refuses the others on a read-only database. */
const READ_ONLY_OPERATIONS: Record<string, boolean> = {
  insert: false,
  select: true,
  update: false,
  mutate: false,
  delete: false,
  wait: true,
  commit: false,
  abort: true,
  comment: true,
  assert: true,
};
