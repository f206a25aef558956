/**
 * Two connected in-memory streams (Node 20 has no `Duplex.pair`): bytes
 * written to one end are read from the other, and destroying either end
 * closes both, like a dropped connection.
 */
import { Duplex } from 'node:stream';

class PairEnd extends Duplex {
  peer: PairEnd | undefined;

  constructor() {
    super({ allowHalfOpen: false });
  }

  override _read(): void {
    // Data arrives through push() from the peer's writes.
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    // Writing to a vanished peer loses the bytes silently, as a reset connection would.
    if (peer && !peer.destroyed) peer.push(Buffer.from(chunk));
    callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer?.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const peer = this.peer;
    this.peer = undefined;
    if (peer) {
      peer.peer = undefined;
      if (!peer.destroyed) {
        peer.push(null);
        peer.destroy();
      }
    }
    callback(error);
  }
}

/** Returns `[a, b]`: what is written to `a` is read from `b` and vice versa. */
export function duplexPair(): [Duplex, Duplex] {
  const a = new PairEnd();
  const b = new PairEnd();
  a.peer = b;
  b.peer = a;
  return [a, b];
}
