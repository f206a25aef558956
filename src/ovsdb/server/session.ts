/**
 * One client connection: JSON-RPC 1.0 framing (via ../framing.ts), method
 * dispatch with ovsdb-server's error replies, the connection's monitors and
 * its lock requests.
 *
 * Everything a request causes is written synchronously, in order: the update
 * notifications of a commit go out before the reply of the transact that made
 * it (ovsdb-server(7) §4.1.5), and a monitor's reply goes out before any
 * update for it.
 */
import type { Duplex } from 'node:stream';
import { JsonStreamSplitter, stringifyJson } from '../framing.ts';
import type { ChangeSet, Database } from './database.ts';
import type { LockTable } from './locks.ts';
import { Monitor, type MonitorVersion, type TableUpdates } from './monitor.ts';
import { OvsdbFailure, ZERO_UUID, canonicalJson, isId, isJsonObject, isUuidText, syntaxError } from './values.ts';

/** What a session needs from the server that owns it. */
export interface SessionHost {
  readonly databases: ReadonlyMap<string, Database>;
  readonly serverId: string;
  readonly locks: LockTable<Session>;
  /** Runs a transaction for `session`; `done` gets the results, possibly later (`wait` with a timeout). */
  transact(db: Database, operations: unknown[], session: Session, requestId: unknown, done: (results: unknown[]) => void): void;
  /** A "cancel" notification: drops the pending transaction with this request id. */
  cancel(session: Session, requestId: unknown): void;
  sessionClosed(session: Session): void;
}

/** A JSON-RPC error reply carrying a plain string, like ovsdb-server's "unknown method". */
class PlainRpcError extends Error {
  constructor(readonly error: string) {
    super(error);
  }
}

const MONITOR_VERSIONS: Record<string, MonitorVersion> = { monitor: 1, monitor_cond: 2, monitor_cond_since: 3 };

export class Session {
  private readonly splitter = new JsonStreamSplitter();
  /** Monitors by the canonical JSON of their id (ids may be any JSON value). */
  private readonly monitors = new Map<string, Monitor>();
  private closedValue = false;
  private lastReceivedAt = Date.now();
  private probeOutstanding = false;
  private probeTimer: NodeJS.Timeout | undefined;

  /**
   * @param probeIntervalMs send an `echo` after this long without a message
   *   from the client, and drop the connection if nothing arrives for as long
   *   again (ovsdb-server does this on TCP and SSL, every 5 s). 0 disables.
   */
  constructor(
    private readonly host: SessionHost,
    private readonly stream: Duplex,
    private readonly probeIntervalMs = 0,
  ) {
    if (probeIntervalMs > 0) this.armProbe(probeIntervalMs);
    stream.on('data', (chunk: Buffer) => {
      this.lastReceivedAt = Date.now();
      this.probeOutstanding = false;
      let messages: unknown[];
      try {
        messages = this.splitter.push(chunk);
      } catch {
        this.close();
        return;
      }
      for (const message of messages) {
        if (this.closedValue) return;
        this.onMessage(message);
      }
    });
    stream.on('error', () => {
      this.close();
    });
    stream.on('close', () => {
      this.close();
    });
    stream.on('end', () => {
      this.close();
    });
  }

  get closed(): boolean {
    return this.closedValue;
  }

  /** Drops the connection (the client sees it closed). */
  close(): void {
    if (this.closedValue) return;
    this.closedValue = true;
    clearTimeout(this.probeTimer);
    this.monitors.clear();
    this.stream.destroy();
    this.host.sessionClosed(this);
  }

  private armProbe(delayMs: number): void {
    this.probeTimer = setTimeout(() => {
      this.onProbeTimer();
    }, delayMs);
    this.probeTimer.unref();
  }

  private onProbeTimer(): void {
    if (this.closedValue) return;
    const idle = Date.now() - this.lastReceivedAt;
    if (idle < this.probeIntervalMs) {
      this.armProbe(this.probeIntervalMs - idle);
    } else if (!this.probeOutstanding) {
      // Same request as ovsdb-server's probe; the reply is ignored, any message counts as a sign of life.
      this.send({ id: 'echo', method: 'echo', params: [] });
      this.probeOutstanding = true;
      this.armProbe(this.probeIntervalMs);
    } else {
      this.close();
    }
  }

  notify(method: string, params: unknown): void {
    this.send({ id: null, method, params });
  }

  /** Sends this session's notifications for a commit to `db`. */
  publish(db: Database, txnId: string, changes: ChangeSet): void {
    for (const monitor of this.monitors.values()) {
      if (monitor.db !== db) continue;
      const updates = monitor.updatesFor(changes);
      if (updates) this.sendUpdates(monitor, updates, txnId);
    }
  }

  private sendUpdates(monitor: Monitor, updates: TableUpdates, txnId: string): void {
    if (monitor.version === 1) this.notify('update', [monitor.id, updates]);
    else if (monitor.version === 2) this.notify('update2', [monitor.id, updates]);
    else this.notify('update3', [monitor.id, txnId, updates]);
  }

  reply(id: unknown, result: unknown): void {
    this.send({ id, result, error: null });
  }

  private replyError(id: unknown, error: unknown): void {
    this.send({ id, error });
  }

  private send(message: unknown): void {
    if (this.closedValue || this.stream.destroyed) return;
    this.stream.write(stringifyJson(message));
  }

  private onMessage(message: unknown): void {
    if (!isJsonObject(message)) {
      this.close();
      return;
    }
    const { method, params } = message;
    const id = message.id ?? null;
    if (typeof method !== 'string') {
      // Replies (to requests this server never sends) are ignored; anything else is a protocol error.
      if (!('result' in message) && !('error' in message)) this.close();
      return;
    }
    if (!Array.isArray(params)) {
      // ovsdb-server drops the connection: "request must have params" / "params must be JSON array".
      this.close();
      return;
    }
    if (id === null) {
      if (method === 'cancel') this.host.cancel(this, params[0]);
      return;
    }
    try {
      this.dispatch(id, method, params);
    } catch (error) {
      if (error instanceof OvsdbFailure) this.replyError(id, error.toJson());
      else if (error instanceof PlainRpcError) this.replyError(id, error.error);
      else this.replyError(id, { error: 'internal error', details: String(error) });
    }
  }

  private dispatch(id: unknown, method: string, params: unknown[]): void {
    switch (method) {
      case 'echo':
        this.reply(id, params);
        return;
      case 'list_dbs':
        this.reply(id, [...this.host.databases.keys()]);
        return;
      case 'get_schema':
        this.reply(id, this.lookupDatabase(method, params).model.json);
        return;
      case 'transact': {
        const db = this.lookupDatabase(method, params);
        this.host.transact(db, params.slice(1), this, id, (results) => {
          this.reply(id, results);
        });
        return;
      }
      case 'monitor':
      case 'monitor_cond':
      case 'monitor_cond_since':
        this.reply(id, this.createMonitor(method, MONITOR_VERSIONS[method] ?? 1, params));
        return;
      case 'monitor_cond_change':
        this.changeMonitor(params);
        this.reply(id, {});
        return;
      case 'monitor_cancel': {
        if (params.length !== 1) throw new PlainRpcError('invalid parameters');
        const key = canonicalJson(params[0]);
        if (!this.monitors.delete(key)) throw new PlainRpcError('unknown monitor');
        this.reply(id, {});
        return;
      }
      case 'lock':
      case 'steal':
        this.reply(id, this.lock(method, params));
        return;
      case 'unlock':
        this.unlock(params);
        this.reply(id, {});
        return;
      case 'get_server_id':
        this.reply(id, this.host.serverId);
        return;
      case 'set_db_change_aware':
        this.reply(id, {});
        return;
      default:
        // Includes "cancel" sent as a request: ovsdb-server accepts it only as a notification.
        throw new PlainRpcError('unknown method');
    }
  }

  private lookupDatabase(method: string, params: readonly unknown[]): Database {
    const name = params[0];
    if (typeof name !== 'string') {
      throw syntaxError(params, undefined, `${method} request params must begin with <db-name>`);
    }
    const db = this.host.databases.get(name);
    if (!db) throw syntaxError(params, 'unknown database', `${method} request specifies unknown database ${name}`);
    return db;
  }

  private createMonitor(method: string, version: MonitorVersion, params: readonly unknown[]): unknown {
    const db = this.lookupDatabase(method, params);
    if (params.length !== (version === 3 ? 4 : 3)) throw syntaxError(params, undefined, 'invalid parameters');
    const monitorId = params[1];
    const key = canonicalJson(monitorId);
    if (this.monitors.has(key)) throw syntaxError(monitorId, undefined, 'duplicate monitor ID');
    const monitor = Monitor.create(monitorId, version, db, params[2]);
    let result: unknown;
    if (version === 3) {
      const lastId = params[3];
      if (typeof lastId !== 'string') throw syntaxError(lastId, undefined, 'last-txn-id must be string');
      if (!isUuidText(lastId)) throw syntaxError(lastId, undefined, 'last-txn-id must be UUID format.');
      const changes = db.changesSince(lastId.toLowerCase());
      const updates = changes === undefined ? monitor.initial() : (monitor.updatesFor(changes) ?? {});
      result = [changes !== undefined, db.keepsHistory ? db.lastTxnId : ZERO_UUID, updates];
    } else {
      result = monitor.initial();
    }
    this.monitors.set(key, monitor);
    return result;
  }

  private changeMonitor(params: readonly unknown[]): void {
    if (params.length !== 3) throw syntaxError(params, undefined, 'invalid parameters');
    const oldKey = canonicalJson(params[0]);
    const monitor = this.monitors.get(oldKey);
    if (!monitor) throw syntaxError(params[0], undefined, 'unknown monitor session');
    const newId = params[1];
    const newKey = canonicalJson(newId);
    if (newKey !== oldKey && this.monitors.has(newKey)) throw syntaxError(newId, undefined, 'duplicate monitor ID');
    const updates = monitor.changeConditions(params[2]);
    if (newKey !== oldKey) {
      this.monitors.delete(oldKey);
      monitor.id = newId;
      this.monitors.set(newKey, monitor);
    }
    if (updates) {
      const db = monitor.db;
      this.sendUpdates(monitor, updates, db.keepsHistory ? db.lastTxnId : ZERO_UUID);
    }
  }

  private lockName(method: string, params: readonly unknown[]): string {
    const name = params[0];
    if (params.length !== 1 || typeof name !== 'string' || !isId(name)) {
      throw syntaxError(params, undefined, `${method} request params must be <id>`);
    }
    return name;
  }

  private lock(method: 'lock' | 'steal', params: readonly unknown[]): { locked: boolean } {
    const name = this.lockName(method, params);
    const { locks } = this.host;
    if (locks.hasWaiter(name, this)) throw syntaxError(params, undefined, `must issue "unlock" before new "${method}"`);
    if (method === 'lock') return { locked: locks.lock(name, this) };
    const victim = locks.steal(name, this);
    if (victim && victim !== this) victim.notify('stolen', [name]);
    return { locked: true };
  }

  private unlock(params: readonly unknown[]): void {
    const name = this.lockName('unlock', params);
    const { locks } = this.host;
    if (!locks.hasWaiter(name, this)) {
      throw syntaxError(params, undefined, 'unlock: "unlock" without "lock" or "steal"');
    }
    locks.unlock(name, this)?.notify('locked', [name]);
  }
}
