/**
 * An in-memory replica of chosen tables and columns of one database, fed by
 * `monitor_cond_since` (OVS ≥ 2.12) with fallback to `monitor_cond` and then
 * `monitor`. It emits one change event per row and survives reconnects: with
 * `monitor_cond_since` the server sends only what changed since the last
 * transaction id we saw (found = true); otherwise the replica rebuilds from
 * the full initial state and emits the difference, so listeners never miss a
 * delete that happened while the connection was down.
 *
 * The server sends the update for a client's own transaction before the
 * transact reply (ovsdb-server(7) §4.1.5), so after `await transact(...)` the
 * replica already reflects the commit.
 */
import { EventEmitter } from 'node:events';
import type { OvsdbClient } from './client.ts';
import { datumsEqual, decodeDatum, defaultDatum, type Atom, type Datum } from './datum.ts';
import { OvsdbAbortError, OvsdbConnectionError, OvsdbProtocolError, OvsdbRpcError } from './errors.ts';
import type { Row } from './operations.ts';
import { getColumn, getTable, type ColumnSchema, type DatabaseSchema, type TableSchema } from './schema.ts';

export type MonitorMethod = 'monitor_cond_since' | 'monitor_cond' | 'monitor';

export interface RowChange {
  readonly table: string;
  readonly uuid: string;
  readonly kind: 'insert' | 'update' | 'delete';
  /** The row after the change (undefined for delete). */
  readonly row: Readonly<Row> | undefined;
  /** The row before the change (undefined for insert). */
  readonly old: Readonly<Row> | undefined;
}

export interface ReplicaOptions {
  db: string;
  /** Table name → the columns to replicate, or 'all'. `_uuid` is always present in rows. */
  tables: Record<string, readonly string[] | 'all'>;
  /** Restrict to older protocols, e.g. to test the fallbacks. @default 'monitor_cond_since' */
  preferMethod?: MonitorMethod;
}

export interface ReplicaEvents {
  change: [change: RowChange];
  /** The initial state (first start or after a reconnect) has been applied. */
  synced: [info: { method: MonitorMethod; found: boolean }];
  error: [error: Error];
}

const ZERO_UUID = '00000000-0000-0000-0000-000000000000';
const FALLBACK: Record<MonitorMethod, MonitorMethod | undefined> = {
  monitor_cond_since: 'monitor_cond',
  monitor_cond: 'monitor',
  monitor: undefined,
};

let monitorCounter = 0;

/** Maintained secondary index: key → row uuids. */
interface Index {
  readonly table: string;
  readonly keyOf: (row: Readonly<Row>) => readonly string[];
  readonly entries: Map<string, Set<string>>;
}

export class Replica extends EventEmitter<ReplicaEvents> {
  private readonly client: OvsdbClient;
  private readonly options: ReplicaOptions;
  private readonly data = new Map<string, Map<string, Row>>();
  private readonly indexes = new Map<string, Index>();
  private schema: DatabaseSchema | undefined;
  private methodInUse: MonitorMethod | undefined;
  private monitorId: string | undefined;
  private lastTxnIdValue = ZERO_UUID;
  private syncedValue = false;
  private lastErrorValue: Error | undefined;
  private started = false;
  private stopped = false;
  private syncWaiters: (() => void)[] = [];
  private readonly onNotification = (method: string, params: unknown): void => {
    this.handleNotification(method, params);
  };
  private readonly onConnected = (info: { reconnected: boolean }): void => {
    if (info.reconnected) void this.resubscribe();
  };
  private readonly onDisconnected = (): void => {
    this.syncedValue = false;
  };

  constructor(client: OvsdbClient, options: ReplicaOptions) {
    super();
    this.client = client;
    this.options = options;
    for (const table of Object.keys(options.tables)) this.data.set(table, new Map());
  }

  /** The last failure to (re)subscribe or to apply an update; readiness checks report it. */
  get lastError(): Error | undefined {
    return this.lastErrorValue;
  }

  /** The protocol negotiated with the server. */
  get method(): MonitorMethod | undefined {
    return this.methodInUse;
  }

  /** False while the initial state is being (re)loaded, e.g. after a reconnect. */
  get synced(): boolean {
    return this.syncedValue;
  }

  get lastTxnId(): string {
    return this.lastTxnIdValue;
  }

  /** Subscribes and resolves once the initial state is loaded. */
  async start(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.started) throw new Error('replica already started');
    this.started = true;
    this.client.on('notification', this.onNotification);
    this.client.on('connected', this.onConnected);
    this.client.on('disconnected', this.onDisconnected);
    await this.subscribe(this.options.preferMethod ?? 'monitor_cond_since', options.signal);
  }

  /** Cancels the monitor and detaches from the client. The data stays readable. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.client.off('notification', this.onNotification);
    this.client.off('connected', this.onConnected);
    this.client.off('disconnected', this.onDisconnected);
    if (this.monitorId !== undefined && this.client.isConnected) {
      this.client.call('monitor_cancel', [this.monitorId]).catch(() => undefined);
    }
  }

  /** Resolves when synced (immediately if already). */
  whenSynced(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.syncedValue) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const { signal } = options;
      const onAbort = (): void => {
        this.syncWaiters = this.syncWaiters.filter((w) => w !== done);
        reject(new OvsdbAbortError('wait for replica sync aborted', { cause: signal?.reason }));
      };
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.syncWaiters.push(done);
    });
  }

  /** All rows of a replicated table, by uuid. */
  table(name: string): ReadonlyMap<string, Readonly<Row>> {
    const t = this.data.get(name);
    if (!t) throw new Error(`table ${name} is not replicated`);
    return t;
  }

  /** Whether `name` is one of the replicated tables. */
  replicates(name: string): boolean {
    return this.data.has(name);
  }

  get(table: string, uuid: string): Readonly<Row> | undefined {
    return this.table(table).get(uuid);
  }

  /**
   * Adds a secondary index, e.g. Interface by `external_ids:iface-id`. Keys
   * are computed per row; a row may have several keys.
   */
  addIndex(name: string, table: string, keyOf: (row: Readonly<Row>) => readonly string[]): void {
    const index: Index = { table, keyOf, entries: new Map() };
    this.indexes.set(name, index);
    for (const [uuid, row] of this.table(table)) this.indexRow(index, uuid, row, true);
  }

  /** Rows whose index key equals `key`. */
  lookup(indexName: string, key: string): Readonly<Row>[] {
    const index = this.indexes.get(indexName);
    if (!index) throw new Error(`no index ${indexName}`);
    const uuids = index.entries.get(key);
    if (!uuids) return [];
    const table = this.table(index.table);
    return [...uuids].flatMap((u) => {
      const row = table.get(u);
      return row ? [row] : [];
    });
  }

  // ---- subscription ----

  private async subscribe(method: MonitorMethod, signal?: AbortSignal): Promise<void> {
    this.syncedValue = false;
    this.schema = await this.client.getSchema(this.options.db, signal ? { signal } : {});
    const requests = this.buildRequests(method);
    const monitorId = `cm-replica-${String(++monitorCounter)}`;
    let reply: unknown;
    try {
      const params =
        method === 'monitor_cond_since'
          ? [this.options.db, monitorId, requests, this.lastTxnIdValue]
          : [this.options.db, monitorId, requests];
      reply = await this.client.call(method, params, signal ? { signal } : {});
    } catch (error) {
      const fallback = FALLBACK[method];
      if (error instanceof OvsdbRpcError && fallback && isUnknownMethod(error)) {
        await this.subscribe(fallback, signal);
        return;
      }
      throw error;
    }
    this.monitorId = monitorId;
    this.methodInUse = method;
    let found = false;
    let updates: unknown = reply;
    if (method === 'monitor_cond_since') {
      if (!Array.isArray(reply) || reply.length !== 3) throw new OvsdbProtocolError('monitor_cond_since: bad reply');
      found = reply[0] === true;
      if (typeof reply[1] === 'string') this.lastTxnIdValue = reply[1];
      updates = reply[2];
    }
    if (found) this.applyUpdates(updates, method === 'monitor' ? 1 : 2);
    else this.replaceAll(updates, method === 'monitor' ? 1 : 2);
    this.syncedValue = true;
    const waiters = this.syncWaiters;
    this.syncWaiters = [];
    for (const w of waiters) w();
    this.emit('synced', { method, found });
  }

  private async resubscribe(): Promise<void> {
    if (this.stopped) return;
    try {
      // Start again from the protocol that worked; the server may have changed, so re-read the schema.
      await this.subscribe(this.methodInUse ?? this.options.preferMethod ?? 'monitor_cond_since');
    } catch (error) {
      if (error instanceof OvsdbConnectionError) return; // The next 'connected' retries.
      this.reportError(error as Error);
    }
  }

  /** 'error' without a listener would throw from a socket callback and kill the process. */
  private reportError(error: Error): void {
    this.lastErrorValue = error;
    if (this.listenerCount('error') > 0) this.emit('error', error);
  }

  private buildRequests(method: MonitorMethod): Record<string, unknown> {
    const schema = this.requireSchema();
    const requests: Record<string, unknown> = {};
    for (const [tableName, columns] of Object.entries(this.options.tables)) {
      const table = getTable(schema, tableName);
      const names = columns === 'all' ? [...table.columns.keys()].filter((c) => !c.startsWith('_')) : [...columns];
      for (const c of names) getColumn(table, c);
      const request = { columns: names };
      requests[tableName] = method === 'monitor' ? request : [request];
    }
    return requests;
  }

  private requireSchema(): DatabaseSchema {
    if (!this.schema) throw new Error('replica has no schema yet');
    return this.schema;
  }

  private handleNotification(method: string, params: unknown): void {
    if (!Array.isArray(params) || params[0] !== this.monitorId) return;
    try {
      if (method === 'update3') {
        if (typeof params[1] === 'string') this.lastTxnIdValue = params[1];
        this.applyUpdates(params[2], 2);
      } else if (method === 'update2') this.applyUpdates(params[1], 2);
      else if (method === 'update') this.applyUpdates(params[1], 1);
    } catch (error) {
      // A replica we cannot trust is worse than none: rebuild it from scratch.
      this.reportError(error as Error);
      this.client.dropConnection();
    }
  }

  // ---- applying updates ----

  private columnsOf(table: TableSchema): ColumnSchema[] {
    const spec = this.options.tables[table.name];
    if (spec === undefined) return [];
    if (spec === 'all') return [...table.columns.values()].filter((c) => !c.name.startsWith('_'));
    return spec.map((c) => getColumn(table, c));
  }

  /** A full row from an insert/initial, with omitted columns at their defaults. */
  private decodeFullRow(table: TableSchema, uuid: string, wire: unknown): Row {
    const w = (wire ?? {}) as Record<string, unknown>;
    const row: Row = { _uuid: uuid };
    for (const column of this.columnsOf(table)) {
      const value = w[column.name];
      row[column.name] =
        value === undefined ? defaultDatum(column.type) : decodeDatum(column.type, value, `${table.name}.${column.name}`);
    }
    return row;
  }

  private applyModify(table: TableSchema, old: Row, diff: unknown): Row {
    const row: Row = { ...old };
    for (const [name, wire] of Object.entries((diff ?? {}) as Record<string, unknown>)) {
      const column = table.columns.get(name);
      if (!column || !(name in old)) continue;
      const where = `${table.name}.${name}`;
      if (column.kind === 'map') {
        const next = new Map(old[name] as ReadonlyMap<Atom, Atom>);
        const changes = decodeDatum(column.type, wire, where) as ReadonlyMap<Atom, Atom>;
        for (const [k, v] of changes) {
          if (!next.has(k)) next.set(k, v);
          else if (datumsEqual(next.get(k), v)) next.delete(k);
          else next.set(k, v);
        }
        row[name] = next;
      } else if (column.kind === 'scalar' || column.kind === 'optional') {
        // Columns with max 1 carry their new value, not a difference (ovsdb-server and the python IDL agree).
        const elements = decodeDatum({ ...column.type, min: 0, max: 1 }, wire, where);
        row[name] = column.kind === 'scalar' && elements === undefined ? old[name] : elements;
      } else {
        // Sets: the diff is the symmetric difference.
        const elements = decodeDatum({ ...column.type, min: 0, max: Infinity }, wire, where) as Atom[];
        const current = [...(old[name] as Atom[])];
        for (const e of elements) {
          const at = current.findIndex((x) => datumsEqual(x, e));
          if (at >= 0) current.splice(at, 1);
          else current.push(e);
        }
        row[name] = current;
      }
    }
    return row;
  }

  /** Applies `table-updates` (version 1) or `table-updates2` (version 2) on top of the current state. */
  private applyUpdates(updates: unknown, version: 1 | 2): void {
    if (updates === null || typeof updates !== 'object') return;
    const schema = this.requireSchema();
    for (const [tableName, rows] of Object.entries(updates as Record<string, unknown>)) {
      const data = this.data.get(tableName);
      if (!data) continue;
      const table = getTable(schema, tableName);
      for (const [uuid, change] of Object.entries((rows ?? {}) as Record<string, unknown>)) {
        const c = (change ?? {}) as Record<string, unknown>;
        const old = data.get(uuid);
        let next: Row | undefined;
        if (version === 1) {
          next = c.new === undefined ? undefined : this.decodeFullRow(table, uuid, c.new);
        } else if ('initial' in c) next = this.decodeFullRow(table, uuid, c.initial);
        else if ('insert' in c) next = this.decodeFullRow(table, uuid, c.insert);
        else if ('modify' in c) {
          if (!old) throw new OvsdbProtocolError(`modify of unknown row ${tableName} ${uuid}`);
          next = this.applyModify(table, old, c.modify);
        } else if ('delete' in c) next = undefined;
        else continue;
        this.setRow(tableName, uuid, old, next);
      }
    }
  }

  /** Replaces the whole state with a full initial snapshot, emitting only the differences. */
  private replaceAll(updates: unknown, version: 1 | 2): void {
    const schema = this.requireSchema();
    const incoming = new Map<string, Map<string, Row>>();
    for (const name of this.data.keys()) incoming.set(name, new Map());
    for (const [tableName, rows] of Object.entries((updates ?? {}) as Record<string, unknown>)) {
      const target = incoming.get(tableName);
      if (!target) continue;
      const table = getTable(schema, tableName);
      for (const [uuid, change] of Object.entries((rows ?? {}) as Record<string, unknown>)) {
        const c = (change ?? {}) as Record<string, unknown>;
        const wire = version === 1 ? c.new : (c.initial ?? c.insert);
        if (wire !== undefined) target.set(uuid, this.decodeFullRow(table, uuid, wire));
      }
    }
    for (const [tableName, rows] of incoming) {
      const data = this.data.get(tableName) ?? new Map<string, Row>();
      for (const [uuid, old] of [...data]) if (!rows.has(uuid)) this.setRow(tableName, uuid, old, undefined);
      for (const [uuid, row] of rows) {
        const old = data.get(uuid);
        if (old && rowsEqual(old, row)) continue;
        this.setRow(tableName, uuid, old, row);
      }
    }
  }

  private setRow(table: string, uuid: string, old: Row | undefined, next: Row | undefined): void {
    const data = this.data.get(table);
    if (!data) return;
    if (next) data.set(uuid, next);
    else data.delete(uuid);
    for (const index of this.indexes.values()) {
      if (index.table !== table) continue;
      if (old) this.indexRow(index, uuid, old, false);
      if (next) this.indexRow(index, uuid, next, true);
    }
    if (!old && !next) return;
    const kind = !old ? 'insert' : !next ? 'delete' : 'update';
    this.emit('change', { table, uuid, kind, row: next, old });
  }

  private indexRow(index: Index, uuid: string, row: Readonly<Row>, add: boolean): void {
    for (const key of index.keyOf(row)) {
      let set = index.entries.get(key);
      if (add) {
        if (!set) index.entries.set(key, (set = new Set()));
        set.add(uuid);
      } else if (set) {
        set.delete(uuid);
        if (set.size === 0) index.entries.delete(key);
      }
    }
  }
}

function isUnknownMethod(error: OvsdbRpcError): boolean {
  const e = error.error;
  const text = typeof e === 'string' ? e : JSON.stringify(e);
  return /unknown method|not supported/i.test(text);
}

function rowsEqual(a: Row, b: Row): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) if (!datumsEqual(a[k] as Datum, b[k] as Datum)) return false;
  return true;
}
