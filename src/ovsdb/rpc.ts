/**
 * JSON-RPC 1.0 over one OVSDB stream (RFC 7047 §4): request ids, pending
 * calls with deadlines and AbortSignals, notifications, and answers to the
 * peer's requests (`echo` by default). Used by both the client and the
 * in-process server.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { JsonStreamSplitter, stringifyJson } from './framing.ts';
import { OvsdbAbortError, OvsdbConnectionError, OvsdbError, OvsdbRpcError, OvsdbTimeoutError } from './errors.ts';

/** Thrown by a request handler to send a JSON-RPC error reply with this `error` value. */
export class RpcErrorReply extends Error {
  constructor(readonly error: unknown, readonly details?: string) {
    super(typeof error === 'string' ? error : 'rpc error');
  }
}

export type RequestHandler = (method: string, params: unknown) => unknown;

export interface CallOptions {
  signal?: AbortSignal;
  /** Deadline for the reply, in milliseconds. */
  timeoutMs?: number;
}

interface Pending {
  method: string;
  resolve: (value: unknown) => void;
  reject: (error: Error) => void;
  cleanup: () => void;
}

export interface JsonRpcConnectionEvents {
  notification: [method: string, params: unknown];
  close: [error: Error | undefined];
}

export class JsonRpcConnection extends EventEmitter<JsonRpcConnectionEvents> {
  private readonly splitter: JsonStreamSplitter;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  private closeError: Error | undefined;
  /** Time (ms since epoch) of the last byte received; drives inactivity probes. */
  lastReceivedAt = Date.now();

  constructor(
    private readonly stream: Duplex,
    private readonly options: { maxMessageBytes?: number; onRequest?: RequestHandler } = {},
  ) {
    super();
    this.splitter = new JsonStreamSplitter(
      options.maxMessageBytes === undefined ? {} : { maxMessageBytes: options.maxMessageBytes },
    );
    stream.on('data', (chunk: Buffer) => {
      this.lastReceivedAt = Date.now();
      let messages: unknown[];
      try {
        messages = this.splitter.push(chunk);
      } catch (error) {
        this.close(error as Error);
        return;
      }
      for (const message of messages) this.dispatch(message);
    });
    stream.on('error', (error: Error) => {
      this.close(new OvsdbConnectionError(`connection error: ${error.message}`, { cause: error }));
    });
    stream.on('close', () => {
      this.close(undefined);
    });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  get pendingCount(): number {
    return this.pending.size;
  }

  request(method: string, params: unknown, options: CallOptions = {}): Promise<unknown> {
    if (this.closed) {
      return Promise.reject(new OvsdbConnectionError(`cannot call ${method}: connection closed`, { cause: this.closeError }));
    }
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(new OvsdbAbortError(`${method} aborted`, { cause: signal.reason }));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        this.pending.delete(id);
        cleanup();
        reject(new OvsdbAbortError(`${method} aborted`, { cause: signal?.reason }));
      };
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.pending.delete(id);
          cleanup();
          reject(new OvsdbTimeoutError(`${method} got no reply within ${String(timeoutMs)} ms`));
        }, timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, { method, resolve, reject, cleanup });
      this.send({ method, params, id });
    });
  }

  notify(method: string, params: unknown): void {
    if (!this.closed) this.send({ method, params, id: null });
  }

  /** Closes the stream and fails every pending call. */
  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = error;
    const failure =
      error instanceof OvsdbError ? error : new OvsdbConnectionError('connection closed', error ? { cause: error } : {});
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      p.cleanup();
      p.reject(new OvsdbConnectionError(`${p.method} failed: ${failure.message}`, { cause: failure }));
    }
    this.stream.destroy();
    this.emit('close', error);
  }

  private send(message: unknown): void {
    this.stream.write(stringifyJson(message));
  }

  private dispatch(message: unknown): void {
    if (message === null || typeof message !== 'object' || Array.isArray(message)) {
      this.close(new OvsdbConnectionError('peer sent a message that is not a JSON object'));
      return;
    }
    const m = message as { id?: unknown; method?: unknown; params?: unknown; result?: unknown; error?: unknown };
    if (typeof m.method === 'string') {
      if (m.id === null || m.id === undefined) this.emit('notification', m.method, m.params);
      else void this.answer(m.id, m.method, m.params);
      return;
    }
    if (typeof m.id !== 'number') return;
    const p = this.pending.get(m.id);
    if (!p) return; // Reply to a call that was aborted or timed out.
    this.pending.delete(m.id);
    p.cleanup();
    if (m.error !== null && m.error !== undefined) p.reject(new OvsdbRpcError(p.method, m.error));
    else p.resolve(m.result);
  }

  private async answer(id: unknown, method: string, params: unknown): Promise<void> {
    try {
      let result: unknown;
      if (this.options.onRequest) result = await this.options.onRequest(method, params);
      else if (method === 'echo') result = params;
      else throw new RpcErrorReply('unknown method');
      if (!this.closed) this.send({ id, result, error: null });
    } catch (error) {
      if (this.closed) return;
      if (error instanceof RpcErrorReply) {
        this.send({
          id,
          result: null,
          error: error.details === undefined ? error.error : { error: error.error, details: error.details },
        });
      } else {
        this.send({ id, result: null, error: { error: 'internal error', details: String(error) } });
      }
    }
  }
}
