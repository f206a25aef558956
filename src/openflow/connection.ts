/**
 * One OpenFlow stream: framing, decoding, transaction ids, pending calls with
 * deadlines and AbortSignals, multipart reply assembly and batches closed by
 * a barrier. It knows nothing of the handshake or reconnects (client.ts).
 *
 * Replies are matched by xid only, so they may arrive in any order. An
 * OFPT_ERROR whose xid belongs to a pending call fails that call; one whose
 * xid belongs to a batch member is recorded with the member's index and the
 * batch fails when its barrier reply arrives (OpenFlow guarantees every reply
 * and error for messages before a barrier is sent before the barrier reply).
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { Writer } from './bytes.ts';
import { errorNames, OFPMPF_REPLY_MORE, OFP_VERSION_1_3 } from './constants.ts';
import {
  OpenFlowAbortError,
  OpenFlowBatchError,
  OpenFlowConnectionError,
  OpenFlowError,
  OpenFlowProtocolError,
  OpenFlowSwitchError,
  OpenFlowTimeoutError,
} from './errors.ts';
import { MessageSplitter } from './framing.ts';
import { decodeMessage, writeMessage, type Decoded, type ErrorMsg, type Message, type MultipartReplyBody } from './messages.ts';

export interface CallOptions {
  signal?: AbortSignal;
  /** Deadline for the reply (a batch: for the barrier reply), ms. */
  timeoutMs?: number;
}

interface Single {
  readonly kind: 'single';
  readonly what: string;
  readonly expect: Message['type'];
  readonly parts: MultipartReplyBody[];
  readonly resolve: (reply: Message, parts: MultipartReplyBody[]) => void;
  readonly reject: (error: Error) => void;
  readonly cleanup: () => void;
}

interface Batch {
  readonly size: number;
  readonly errors: OpenFlowSwitchError[];
  readonly describe: (index: number) => string;
  readonly memberXids: number[];
}

interface BatchMember {
  readonly kind: 'member';
  readonly batch: Batch;
  readonly index: number;
}

interface BatchBarrier {
  readonly kind: 'barrier';
  readonly batch: Batch;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  readonly cleanup: () => void;
}

type Pending = Single | BatchMember | BatchBarrier;

export interface ConnectionEvents {
  /** Any message that does not answer a pending call (async messages, stray replies). */
  message: [decoded: Decoded];
  close: [error: Error | undefined];
}

/** A short description of a message for error texts, e.g. `flow_mod add`. */
export function describeMessage(m: Message): string {
  if (m.type === 'flow_mod' || m.type === 'meter_mod') return `${m.type} ${m.command}`;
  if (m.type === 'multipart_request') return `multipart_request ${m.body.kind}`;
  return m.type;
}

export function switchError(m: ErrorMsg, xid: number, extra: { index?: number; request?: string } = {}): OpenFlowSwitchError {
  const names = errorNames(m.errType, m.errCode, m.experimenter);
  return new OpenFlowSwitchError({
    type: m.errType,
    code: m.errCode,
    ...names,
    experimenter: m.experimenter,
    xid,
    data: m.data,
    index: extra.index,
    request: extra.request,
  });
}

export class OpenFlowConnection extends EventEmitter<ConnectionEvents> {
  private readonly splitter: MessageSplitter;
  private readonly pending = new Map<number, Pending>();
  private nextXid = 1;
  private closed = false;
  private closeError: Error | undefined;
  /** Version used for everything after the hello exchange. */
  version = OFP_VERSION_1_3;
  /** Time (ms since epoch) of the last byte received; drives inactivity probes. */
  lastReceivedAt = Date.now();

  constructor(
    private readonly stream: Duplex,
    options: { maxMessageBytes?: number } = {},
  ) {
    super();
    this.splitter = new MessageSplitter(options);
    stream.on('data', (chunk: Buffer) => {
      this.lastReceivedAt = Date.now();
      try {
        for (const frame of this.splitter.push(chunk)) {
          if (this.closed) return;
          this.dispatch(decodeMessage(frame));
        }
      } catch (error) {
        // A framing or decoding error leaves the stream unsynchronized: drop it.
        this.close(error instanceof OpenFlowError ? error : new OpenFlowProtocolError(String(error), { cause: error }));
      }
    });
    stream.on('error', (error: Error) => {
      this.close(new OpenFlowConnectionError(`connection error: ${error.message}`, { cause: error }));
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

  /** A fresh transaction id (never 0, wraps at 2^32). */
  allocXid(): number {
    const xid = this.nextXid;
    this.nextXid = this.nextXid >= 0xffffffff ? 1 : this.nextXid + 1;
    return xid;
  }

  /** Sends a message that expects no reply; returns its xid. */
  post(message: Message, xid = this.allocXid()): number {
    if (this.closed) throw new OpenFlowConnectionError(`cannot send ${describeMessage(message)}: connection closed`, { cause: this.closeError });
    const w = new Writer(64);
    writeMessage(w, message, xid, this.version);
    this.stream.write(w.finish());
    return xid;
  }

  /**
   * Sends `message` and resolves with the reply of type `expect` (for
   * multipart: the last part, with every part's body in `parts`).
   */
  request(message: Message, expect: Message['type'], options: CallOptions = {}): Promise<{ reply: Message; parts: MultipartReplyBody[] }> {
    const what = describeMessage(message);
    if (this.closed) {
      return Promise.reject(new OpenFlowConnectionError(`cannot send ${what}: connection closed`, { cause: this.closeError }));
    }
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(new OpenFlowAbortError(`${what} aborted`, { cause: signal.reason }));
    const xid = this.allocXid();
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => {
        this.pending.delete(xid);
        cleanup();
        reject(new OpenFlowAbortError(`${what} aborted`, { cause: signal?.reason }));
      };
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.pending.delete(xid);
          cleanup();
          reject(new OpenFlowTimeoutError(`${what} got no reply within ${String(timeoutMs)} ms`));
        }, timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(xid, {
        kind: 'single',
        what,
        expect,
        parts: [],
        resolve: (reply, parts) => {
          resolve({ reply, parts });
        },
        reject,
        cleanup,
      });
      try {
        this.post(message, xid);
      } catch (error) {
        this.pending.delete(xid);
        cleanup();
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
  }

  /**
   * Writes `messages` and one barrier request in a single write; resolves when
   * the barrier reply arrives and no message got an error, else rejects with
   * OpenFlowBatchError listing each failed message's index.
   */
  batch(messages: readonly Message[], options: CallOptions = {}): Promise<void> {
    if (this.closed) {
      return Promise.reject(new OpenFlowConnectionError('cannot send batch: connection closed', { cause: this.closeError }));
    }
    const { signal, timeoutMs } = options;
    if (signal?.aborted) return Promise.reject(new OpenFlowAbortError('batch aborted', { cause: signal.reason }));
    // Encode everything before registering anything: an encoding error (bad
    // argument) must fail the call without having sent half a batch.
    const w = new Writer(Math.max(256, messages.length * 96));
    const memberXids: number[] = [];
    let barrierXid: number;
    try {
      for (const m of messages) {
        const xid = this.allocXid();
        memberXids.push(xid);
        writeMessage(w, m, xid, this.version);
      }
      barrierXid = this.allocXid();
      writeMessage(w, { type: 'barrier_request' }, barrierXid, this.version);
    } catch (error) {
      const index = memberXids.length - 1;
      const e = error instanceof Error ? error : new Error(String(error));
      if (e instanceof OpenFlowError) e.message = `batch message ${String(index)}: ${e.message}`;
      return Promise.reject(e);
    }
    const batch: Batch = {
      size: messages.length,
      errors: [],
      describe: (i) => {
        const m = messages[i];
        return m === undefined ? 'message' : describeMessage(m);
      },
      memberXids,
    };
    return new Promise((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const forget = (): void => {
        for (const xid of memberXids) this.pending.delete(xid);
        this.pending.delete(barrierXid);
      };
      const onAbort = (): void => {
        forget();
        cleanup();
        reject(new OpenFlowAbortError(`batch of ${String(messages.length)} aborted (messages already written may have been applied)`, { cause: signal?.reason }));
      };
      const cleanup = (): void => {
        if (timer) clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          forget();
          cleanup();
          reject(new OpenFlowTimeoutError(`batch of ${String(messages.length)}: no barrier reply within ${String(timeoutMs)} ms`));
        }, timeoutMs);
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      memberXids.forEach((xid, index) => this.pending.set(xid, { kind: 'member', batch, index }));
      this.pending.set(barrierXid, {
        kind: 'barrier',
        batch,
        resolve: () => {
          forget();
          if (batch.errors.length > 0) reject(new OpenFlowBatchError([...batch.errors].sort((a, b) => (a.index ?? 0) - (b.index ?? 0)), batch.size));
          else resolve();
        },
        reject: (e) => {
          forget();
          reject(e);
        },
        cleanup,
      });
      this.stream.write(w.finish());
    });
  }

  /** Closes the stream and fails every pending call. Idempotent. */
  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.closeError = error;
    const failure = error instanceof OpenFlowError ? error : new OpenFlowConnectionError('connection closed', error ? { cause: error } : {});
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) {
      if (p.kind === 'member') continue;
      p.cleanup();
      const what = p.kind === 'single' ? p.what : `batch of ${String(p.batch.size)}`;
      p.reject(new OpenFlowConnectionError(`${what} failed: ${failure.message}`, { cause: failure }));
    }
    this.splitter.reset();
    this.stream.destroy();
    this.emit('close', error);
  }

  private dispatch(decoded: Decoded): void {
    const { xid, message } = decoded;
    if (message.type === 'echo_request') {
      // Answered here, not by the client: a busy event loop in the caller
      // must not make the switch think we are dead.
      this.post({ type: 'echo_reply', data: message.data }, xid);
      return;
    }
    const p = this.pending.get(xid);
    if (!p) {
      this.emit('message', decoded);
      return;
    }
    if (p.kind === 'member') {
      if (message.type === 'error') p.batch.errors.push(switchError(message, xid, { index: p.index, request: p.batch.describe(p.index) }));
      else this.emit('message', decoded);
      return;
    }
    if (p.kind === 'barrier') {
      if (message.type === 'barrier_reply') {
        this.pending.delete(xid);
        p.cleanup();
        p.resolve();
      } else if (message.type === 'error') {
        this.pending.delete(xid);
        p.cleanup();
        p.reject(switchError(message, xid, { request: 'barrier_request' }));
      }
      return;
    }
    if (message.type === 'error') {
      this.pending.delete(xid);
      p.cleanup();
      p.reject(switchError(message, xid, { request: p.what }));
      return;
    }
    if (message.type !== p.expect) {
      this.emit('message', decoded);
      return;
    }
    if (message.type === 'multipart_reply') {
      p.parts.push(message.body);
      if ((message.flags & OFPMPF_REPLY_MORE) !== 0) return;
    }
    this.pending.delete(xid);
    p.cleanup();
    p.resolve(message, p.parts);
  }
}
