/**
 * The OVSDB client: one logical session to one server that survives
 * reconnects. It answers the server's echo, probes an idle server itself,
 * reconnects with jittered exponential backoff, validates every operation
 * against the server's schema before sending it, and maps transaction errors
 * to typed exceptions.
 *
 * A transaction that was in flight when the connection dropped is failed with
 * {@link OvsdbConnectionError}, never resent: the caller re-reads and decides.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import {
  OvsdbAbortError,
  OvsdbConnectionError,
  OvsdbError,
  OvsdbProtocolError,
  transactionError,
} from './errors.ts';
import { decodeResult, encodeOperation, type Operation, type OperationResult } from './operations.ts';
import { JsonRpcConnection, type CallOptions } from './rpc.ts';
import { parseSchema, type DatabaseSchema } from './schema.ts';
import { formatEndpoint, openStream, parseEndpoint, type Endpoint, type TlsOptions } from './transport.ts';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

export interface ReconnectOptions {
  /** @default true */
  enabled?: boolean;
  /** First delay after a failure, ms. @default 200 */
  initialDelayMs?: number;
  /** Upper bound of the delay, ms. @default 8000 */
  maxDelayMs?: number;
}

export interface OvsdbClientOptions {
  /** `unix:PATH`, `tcp:HOST:PORT` or `ssl:HOST:PORT`, or a parsed endpoint. */
  endpoint: string | Endpoint;
  tls?: TlsOptions;
  reconnect?: ReconnectOptions;
  /**
   * Send our own `echo` when nothing was received for this long, and drop the
   * connection if the echo is not answered within the same time. 0 disables.
   * @default 5000
   */
  probeIntervalMs?: number;
  /** Default deadline of each call, ms. @default 30000 */
  callTimeoutMs?: number;
  /** @default 5000 */
  connectTimeoutMs?: number;
  /** Largest message accepted from the server. @default 64 MiB */
  maxMessageBytes?: number;
  /** Connects through this stream factory instead of the endpoint (in-process server, tests). */
  streamFactory?: (signal: AbortSignal) => Promise<Duplex>;
}

export interface OvsdbClientEvents {
  state: [state: ConnectionState];
  /** A connection is up; `reconnected` is false only for the first one. */
  connected: [info: { reconnected: boolean }];
  disconnected: [error: Error | undefined];
  notification: [method: string, params: unknown];
}

export type TransactOptions = CallOptions;

export class OvsdbClient extends EventEmitter<OvsdbClientEvents> {
  readonly endpoint: Endpoint;
  private readonly options: OvsdbClientOptions;
  private connection: JsonRpcConnection | undefined;
  private stateValue: ConnectionState = 'idle';
  private readonly schemas = new Map<string, Promise<DatabaseSchema>>();
  private reconnectAttempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private everConnected = false;
  private readonly lifetime = new AbortController();
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(options: OvsdbClientOptions) {
    super();
    this.options = options;
    this.endpoint = typeof options.endpoint === 'string' ? parseEndpoint(options.endpoint) : options.endpoint;
  }

  /** Creates a client and waits for its first connection. */
  static async connect(options: OvsdbClientOptions, callOptions: { signal?: AbortSignal } = {}): Promise<OvsdbClient> {
    const client = new OvsdbClient(options);
    try {
      await client.connect(callOptions);
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get isConnected(): boolean {
    return this.stateValue === 'connected';
  }

  describe(): string {
    return formatEndpoint(this.endpoint);
  }

  /**
   * Opens the first connection. Fails if it cannot be established; after the
   * first success, later losses are repaired in the background.
   */
  async connect(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.stateValue === 'closed') throw new OvsdbConnectionError('client is closed');
    if (this.stateValue === 'connected') return;
    await this.openConnection(options.signal);
  }

  /** Resolves when connected (immediately if already), rejects when closed or aborted. */
  whenConnected(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.stateValue === 'connected') return Promise.resolve();
    if (this.stateValue === 'closed') return Promise.reject(new OvsdbConnectionError('client is closed'));
    return new Promise((resolve, reject) => {
      const { signal } = options;
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new OvsdbAbortError('wait for connection aborted', { cause: signal?.reason }));
      };
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Closes the connection for good; pending calls fail. */
  close(): void {
    if (this.stateValue === 'closed') return;
    this.setState('closed');
    this.lifetime.abort();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stopProbe();
    this.connection?.close();
    this.connection = undefined;
    for (const w of this.waiters) w.reject(new OvsdbConnectionError('client is closed'));
    this.waiters = [];
  }

  /** Drops the current connection as if the network failed (reconnect follows if enabled). */
  dropConnection(): void {
    this.connection?.close(new OvsdbConnectionError('connection dropped by client'));
  }

  // ---- RPC methods (RFC 7047 §4.1) ----

  async call(method: string, params: unknown, options: CallOptions = {}): Promise<unknown> {
    const connection = this.connection;
    if (!connection || this.stateValue !== 'connected') {
      throw new OvsdbConnectionError(`cannot call ${method}: not connected to ${this.describe()} (${this.stateValue})`);
    }
    return connection.request(method, params, {
      ...options,
      timeoutMs: options.timeoutMs ?? this.options.callTimeoutMs ?? 30_000,
    });
  }

  async listDbs(options: CallOptions = {}): Promise<string[]> {
    const result = await this.call('list_dbs', [], options);
    if (!Array.isArray(result) || !result.every((x) => typeof x === 'string')) {
      throw new OvsdbProtocolError('list_dbs: result is not an array of strings');
    }
    return result;
  }

  /** The parsed schema of `db`, fetched once per connection. */
  getSchema(db: string, options: CallOptions = {}): Promise<DatabaseSchema> {
    let schema = this.schemas.get(db);
    if (!schema) {
      schema = this.call('get_schema', [db], options).then(parseSchema);
      this.schemas.set(db, schema);
      schema.catch(() => this.schemas.delete(db));
    }
    return schema;
  }

  async echo(payload: unknown[] = [], options: CallOptions = {}): Promise<unknown> {
    return this.call('echo', payload, options);
  }

  /**
   * Runs `operations` as one atomic transaction. Operations are validated
   * against the schema first. Returns one decoded result per operation.
   * @throws a subclass of OvsdbTransactionError naming the failing operation
   *   (or the commit), OvsdbSchemaError before sending, OvsdbConnectionError.
   */
  async transact(db: string, operations: readonly Operation[], options: TransactOptions = {}): Promise<OperationResult[]> {
    const schema = await this.getSchema(db, options);
    const wireOps = operations.map((op) => encodeOperation(schema, op));
    const results = await this.transactWire(db, wireOps, options);
    return operations.map((op, i) => decodeResult(schema, op, results[i]));
  }

  /** Sends already-encoded operations; checks the per-operation and commit errors. */
  async transactWire(db: string, wireOps: readonly unknown[], options: CallOptions = {}): Promise<unknown[]> {
    const reply = await this.call('transact', [db, ...wireOps], options);
    if (!Array.isArray(reply)) throw new OvsdbProtocolError('transact: result is not an array');
    for (let i = 0; i < reply.length; i++) {
      const r = reply[i] as { error?: unknown; details?: unknown } | null;
      if (r && typeof r === 'object' && typeof r.error === 'string') {
        throw transactionError({
          error: r.error,
          details: typeof r.details === 'string' ? r.details : undefined,
          operationIndex: i,
          operation: i < wireOps.length ? wireOps[i] : undefined,
          results: reply,
        });
      }
    }
    if (reply.length < wireOps.length) throw new OvsdbProtocolError('transact: fewer results than operations');
    return reply as unknown[];
  }

  // ---- connection management ----

  private setState(state: ConnectionState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.emit('state', state);
  }

  private async openConnection(signal?: AbortSignal): Promise<void> {
    this.setState('connecting');
    const signals = [this.lifetime.signal, ...(signal ? [signal] : [])];
    const connectSignal = AbortSignal.any(signals);
    let stream: Duplex;
    try {
      stream = this.options.streamFactory
        ? await this.options.streamFactory(connectSignal)
        : await openStream(this.endpoint, {
            ...(this.options.tls ? { tls: this.options.tls } : {}),
            signal: connectSignal,
            timeoutMs: this.options.connectTimeoutMs ?? 5000,
          });
    } catch (error) {
      if (this.stateValue !== 'closed') this.setState(this.everConnected ? 'backoff' : 'idle');
      throw error;
    }
    if (this.stateValue === 'closed') {
      stream.destroy();
      throw new OvsdbConnectionError('client closed while connecting');
    }
    const connection = new JsonRpcConnection(
      stream,
      this.options.maxMessageBytes === undefined ? {} : { maxMessageBytes: this.options.maxMessageBytes },
    );
    this.connection = connection;
    this.schemas.clear();
    connection.on('notification', (method, params) => this.emit('notification', method, params));
    connection.on('close', (error) => {
      this.onConnectionClosed(connection, error);
    });
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.reconnectAttempt = 0;
    this.setState('connected');
    this.startProbe(connection);
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    this.emit('connected', { reconnected });
  }

  private onConnectionClosed(connection: JsonRpcConnection, error: Error | undefined): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    this.stopProbe();
    if (this.stateValue === 'closed') return;
    this.emit('disconnected', error);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const r = this.options.reconnect ?? {};
    if (r.enabled === false) {
      this.setState('closed');
      for (const w of this.waiters) w.reject(new OvsdbConnectionError('connection lost and reconnect is disabled'));
      this.waiters = [];
      return;
    }
    this.setState('backoff');
    const initial = r.initialDelayMs ?? 200;
    const max = r.maxDelayMs ?? 8000;
    const ceiling = Math.min(max, initial * 2 ** this.reconnectAttempt);
    // "Equal jitter": at least half the ceiling, so many agents do not retry in lockstep.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.reconnectAttempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.openConnection().catch(() => {
        if (this.stateValue !== 'closed') this.scheduleReconnect();
      });
    }, delay);
  }

  private startProbe(connection: JsonRpcConnection): void {
    const interval = this.options.probeIntervalMs ?? 5000;
    if (interval <= 0) return;
    const tick = Math.max(50, Math.floor(interval / 4));
    this.probeTimer = setInterval(() => {
      if (this.probing || connection.isClosed) return;
      if (Date.now() - connection.lastReceivedAt < interval) return;
      this.probing = true;
      connection
        .request('echo', ['cm-probe'], { timeoutMs: interval })
        .catch((error: unknown) => {
          const reason = error instanceof OvsdbError ? error.message : String(error);
          connection.close(new OvsdbConnectionError(`inactivity probe failed: ${reason}`));
        })
        .finally(() => {
          this.probing = false;
        });
    }, tick);
    this.probeTimer.unref();
  }

  private stopProbe(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    this.probing = false;
  }
}
