/**
 * An OVSDB server in this process: the databases of the given schemas plus
 * `_Server`, reachable over unix sockets, TCP, or an in-memory stream pair.
 * Built for fast tests and a demo without Open vSwitch; it follows
 * ovsdb-server 3.1 wherever a client could tell the difference (results,
 * error strings and details, garbage collection, update shapes), except that
 * it keeps a transaction history for `monitor_cond_since` like a clustered
 * ovsdb-server does.
 */
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { OvsdbConnectionError, OvsdbRpcError } from '../errors.ts';
import { Database, type CommitRecord } from './database.ts';
import { duplexPair } from './duplex-pair.ts';
import { LockTable } from './locks.ts';
import { buildDatabaseModel } from './model.ts';
import { SERVER_DATABASE_NAME, createServerDatabase } from './server-database.ts';
import { Session, type SessionHost } from './session.ts';
import { canonicalJson, newUuid } from './values.ts';

export interface InProcessOvsdbServerOptions {
  /** Schema JSON objects, as in .ovsschema files; one database each. */
  schemas: unknown[];
  /**
   * Committed transactions remembered per database, so a client reconnecting
   * with `monitor_cond_since` and a known last transaction id gets only what
   * changed (found = true). 0 behaves like a standalone ovsdb-server: always
   * found = false and the all-zero transaction id. @default 256
   */
  txnHistoryLimit?: number;
  /**
   * On TCP sessions, send an `echo` request after this long without a
   * message from the client and disconnect it when nothing arrives for as
   * long again, as ovsdb-server does. 0 disables. @default 5000
   */
  inactivityProbeMs?: number;
}

/** A transaction waiting for a `wait` operation's condition or timeout. */
interface PendingTransaction {
  readonly db: Database;
  readonly operations: unknown[];
  readonly startedAt: number;
  readonly session: Session | undefined;
  readonly requestKey: string | undefined;
  readonly done: (results: unknown[]) => void;
  readonly abandon: () => void;
  timer: NodeJS.Timeout | undefined;
}

/** Sessions, databases, locks and pending transactions; shared by the listeners. */
class ServerCore implements SessionHost {
  readonly databases = new Map<string, Database>();
  readonly serverId = newUuid();
  readonly locks = new LockTable<Session>();
  readonly sessions = new Set<Session>();
  private readonly pending = new Set<PendingTransaction>();
  private retrying = false;
  private retryAgain = false;

  attach(stream: Duplex, probeIntervalMs = 0): Session {
    const session = new Session(this, stream, probeIntervalMs);
    this.sessions.add(session);
    return session;
  }

  sessionClosed(session: Session): void {
    this.sessions.delete(session);
    for (const pending of [...this.pending]) {
      if (pending.session === session) this.drop(pending);
    }
    for (const { name, newOwner } of this.locks.releaseAll(session)) newOwner.notify('locked', [name]);
  }

  transact(
    db: Database,
    operations: unknown[],
    session: Session | undefined,
    requestId: unknown,
    done: (results: unknown[]) => void,
    abandon: () => void = () => undefined,
  ): void {
    this.attempt({
      db,
      operations,
      startedAt: Date.now(),
      session,
      requestKey: session ? canonicalJson(requestId) : undefined,
      done,
      abandon,
      timer: undefined,
    });
  }

  cancel(session: Session, requestId: unknown): void {
    const key = canonicalJson(requestId);
    for (const pending of this.pending) {
      // Like ovsdb-server, a cancelled transaction gets no reply at all.
      if (pending.session === session && pending.requestKey === key) this.drop(pending);
    }
  }

  /** Abandons every pending transaction (server shutting down). */
  abandonAll(): void {
    for (const pending of [...this.pending]) {
      this.drop(pending);
      pending.abandon();
    }
  }

  private drop(pending: PendingTransaction): void {
    clearTimeout(pending.timer);
    this.pending.delete(pending);
  }

  private attempt(pending: PendingTransaction): void {
    const outcome = pending.db.execute(pending.operations, {
      elapsedMs: Date.now() - pending.startedAt,
      isLockOwner: (lock) => pending.session !== undefined && this.locks.isOwner(lock, pending.session),
    });
    clearTimeout(pending.timer);
    pending.timer = undefined;
    if (outcome.kind === 'blocked') {
      this.pending.add(pending);
      if (Number.isFinite(outcome.retryInMs)) {
        pending.timer = setTimeout(() => {
          if (this.pending.has(pending)) this.attempt(pending);
        }, Math.max(1, Math.ceil(outcome.retryInMs)));
      }
      return;
    }
    this.pending.delete(pending);
    if (outcome.commit) this.publish(pending.db, outcome.commit);
    pending.done(outcome.results);
    if (outcome.commit) this.retryPending();
  }

  private shouldRetryAgain(): boolean {
    return this.retryAgain;
  }

  private publish(db: Database, commit: CommitRecord): void {
    for (const session of this.sessions) session.publish(db, commit.txnId, commit.changes);
  }

  /** After a commit, re-runs the waiting transactions; those that commit may unblock others. */
  private retryPending(): void {
    if (this.retrying) {
      this.retryAgain = true;
      return;
    }
    this.retrying = true;
    try {
      for (;;) {
        this.retryAgain = false;
        for (const pending of [...this.pending]) if (this.pending.has(pending)) this.attempt(pending);
        // attempt() may have committed and asked for another round (see the top of this method).
        if (!this.shouldRetryAgain()) break;
      }
    } finally {
      this.retrying = false;
    }
  }
}

type ListenAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** Accepts `unix:PATH`, `tcp:HOST:PORT` and ovsdb-server's passive forms `punix:PATH`, `ptcp:PORT[:HOST]`. */
function parseListenEndpoint(endpoint: string): ListenAddress {
  const colon = endpoint.indexOf(':');
  const scheme = endpoint.slice(0, colon);
  const rest = endpoint.slice(colon + 1);
  if ((scheme === 'unix' || scheme === 'punix') && rest !== '') return { kind: 'unix', path: rest };
  if (scheme === 'tcp') {
    const match = /^(?:\[([^\]]+)\]|([^:]+)):([0-9]{1,5})$/.exec(rest);
    if (match) return { kind: 'tcp', host: match[1] ?? match[2] ?? '127.0.0.1', port: Number(match[3]) };
  }
  if (scheme === 'ptcp') {
    const match = /^([0-9]{1,5})(?::(?:\[([^\]]+)\]|(.+)))?$/.exec(rest);
    if (match) return { kind: 'tcp', host: match[2] ?? match[3] ?? '0.0.0.0', port: Number(match[1]) };
  }
  throw new Error(`cannot listen on "${endpoint}": expected unix:PATH or tcp:HOST:PORT`);
}

/**
 * An OVSDB server running inside this process (see the module comment).
 * @example
 *   const server = createVswitchServer();
 *   const endpoint = await server.listen('tcp:127.0.0.1:0');
 *   const client = await OvsdbClient.connect({ endpoint });
 */
export class InProcessOvsdbServer {
  private readonly core = new ServerCore();
  private readonly listeners = new Set<net.Server>();
  private readonly inactivityProbeMs: number;

  constructor(options: InProcessOvsdbServerOptions) {
    this.inactivityProbeMs = options.inactivityProbeMs ?? 5000;
    const databases: Database[] = [];
    for (const schema of options.schemas) {
      const model = buildDatabaseModel(schema);
      if (this.core.databases.has(model.name)) throw new Error(`duplicate database ${model.name}`);
      const db = new Database(model, options.txnHistoryLimit === undefined ? {} : { historyLimit: options.txnHistoryLimit });
      databases.push(db);
      this.core.databases.set(model.name, db);
    }
    if (!this.core.databases.has(SERVER_DATABASE_NAME)) {
      this.core.databases.set(SERVER_DATABASE_NAME, createServerDatabase(databases));
    }
  }

  /**
   * Starts accepting connections on `unix:PATH` or `tcp:HOST:PORT` (port 0
   * picks a free one). Resolves to the endpoint clients connect to, e.g.
   * `tcp:127.0.0.1:40123`. May be called several times.
   */
  async listen(endpoint: string): Promise<string> {
    const address = parseListenEndpoint(endpoint);
    const server = net.createServer((socket) => {
      socket.setNoDelay(true);
      // Like ovsdb-server: TCP sessions are probed, unix socket sessions are not.
      this.core.attach(socket, address.kind === 'tcp' ? this.inactivityProbeMs : 0);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      const ready = (): void => {
        server.off('error', reject);
        resolve();
      };
      if (address.kind === 'unix') server.listen({ path: address.path }, ready);
      else server.listen({ host: address.host, port: address.port }, ready);
    });
    this.listeners.add(server);
    if (address.kind === 'unix') return `unix:${address.path}`;
    const bound = server.address();
    const port = bound !== null && typeof bound === 'object' ? bound.port : address.port;
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    return `tcp:${host}:${String(port)}`;
  }

  /** The client end of an in-memory connection to a new session (for `OvsdbClientOptions.streamFactory`). */
  connectInProcess(): Duplex {
    const [client, server] = duplexPair();
    this.core.attach(server);
    return client;
  }

  /** Drops every client session (clients see the connection close) but keeps listening and keeps the data. */
  dropSessions(): void {
    for (const session of [...this.core.sessions]) session.close();
  }

  /** Stops listening and closes every session. */
  async close(): Promise<void> {
    const closing = [...this.listeners].map(
      (server) =>
        new Promise<void>((resolve) => {
          server.close(() => {
            resolve();
          });
        }),
    );
    this.listeners.clear();
    this.dropSessions();
    this.core.abandonAll();
    await Promise.all(closing);
  }

  /**
   * Runs a transaction (wire-form operations) as a local client would and
   * resolves to the result array, errors included, exactly as `transact`
   * replies. Rejects with OvsdbRpcError for an unknown database.
   */
  transact(db: string, wireOps: unknown[]): Promise<unknown[]> {
    const database = this.core.databases.get(db);
    if (!database) {
      return Promise.reject(
        new OvsdbRpcError('transact', {
          error: 'unknown database',
          details: `transact request specifies unknown database ${db}`,
        }),
      );
    }
    return new Promise((resolve, reject) => {
      this.core.transact(database, wireOps, undefined, undefined, resolve, () => {
        reject(new OvsdbConnectionError('in-process server closed before the transaction completed'));
      });
    });
  }

  /** The database names, `_Server` included (what `list_dbs` answers). */
  get databaseNames(): string[] {
    return [...this.core.databases.keys()];
  }

  /** Number of connected client sessions. */
  get sessionCount(): number {
    return this.core.sessions.size;
  }
}
