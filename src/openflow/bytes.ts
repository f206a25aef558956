/**
 * Bounds-checked big-endian reader and a growable writer. Every read past the
 * end throws OpenFlowProtocolError naming the structure being decoded, so a
 * truncated or lying message can never surface as a RangeError.
 */
import { OpenFlowArgumentError, OpenFlowProtocolError } from './errors.ts';

export class Reader {
  pos: number;
  readonly end: number;

  constructor(
    readonly buf: Buffer,
    /** What is being decoded, for error messages (e.g. "flow_mod"). */
    readonly what: string,
    start = 0,
    end = buf.length,
  ) {
    this.pos = start;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, field: string): void {
    if (n < 0 || this.pos + n > this.end) {
      throw new OpenFlowProtocolError(
        `${this.what}: truncated at ${field} (need ${String(n)} bytes at offset ${String(this.pos)}, have ${String(Math.max(0, this.end - this.pos))})`,
      );
    }
  }

  u8(field: string): number {
    this.need(1, field);
    return this.buf.readUInt8(this.pos++);
  }

  u16(field: string): number {
    this.need(2, field);
    const v = this.buf.readUInt16BE(this.pos);
    this.pos += 2;
    return v;
  }

  u32(field: string): number {
    this.need(4, field);
    const v = this.buf.readUInt32BE(this.pos);
    this.pos += 4;
    return v;
  }

  u64(field: string): bigint {
    this.need(8, field);
    const v = this.buf.readBigUInt64BE(this.pos);
    this.pos += 8;
    return v;
  }

  bytes(n: number, field: string): Buffer {
    this.need(n, field);
    // Copy: decoded messages must not pin (or alias) the socket's receive buffer.
    const out = Buffer.from(this.buf.subarray(this.pos, this.pos + n));
    this.pos += n;
    return out;
  }

  skip(n: number, field: string): void {
    this.need(n, field);
    this.pos += n;
  }

  /** A sub-reader over the next `n` bytes; this reader moves past them. */
  sub(n: number, what: string): Reader {
    this.need(n, what);
    const r = new Reader(this.buf, what, this.pos, this.pos + n);
    this.pos += n;
    return r;
  }
}

export class Writer {
  private buf: Buffer;
  pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number, field = 'u8'): this {
    checkUint(v, 0xff, field);
    this.ensure(1);
    this.buf.writeUInt8(v, this.pos++);
    return this;
  }

  u16(v: number, field = 'u16'): this {
    checkUint(v, 0xffff, field);
    this.ensure(2);
    this.buf.writeUInt16BE(v, this.pos);
    this.pos += 2;
    return this;
  }

  u32(v: number, field = 'u32'): this {
    checkUint(v, 0xffffffff, field);
    this.ensure(4);
    this.buf.writeUInt32BE(v, this.pos);
    this.pos += 4;
    return this;
  }

  u64(v: bigint, field = 'u64'): this {
    if (typeof v !== 'bigint' || v < 0n || v > 0xffffffffffffffffn) throw new OpenFlowArgumentError(`${field}: ${String(v)} is not a 64-bit unsigned bigint`);
    this.ensure(8);
    this.buf.writeBigUInt64BE(v, this.pos);
    this.pos += 8;
    return this;
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.pos, this.pos + n);
    this.pos += n;
    return this;
  }

  /** Zero-pads to a multiple of `align` counted from `from`. */
  padTo(align: number, from = 0): this {
    const rem = (this.pos - from) % align;
    return rem === 0 ? this : this.zeros(align - rem);
  }

  patchU16(at: number, v: number, field = 'length'): void {
    checkUint(v, 0xffff, field);
    this.buf.writeUInt16BE(v, at);
  }

  /** A copy of what was written. */
  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }

  /** What was written, without a copy (valid until the next write). */
  view(): Buffer {
    return this.buf.subarray(0, this.pos);
  }
}

function checkUint(v: number, max: number, field: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new OpenFlowArgumentError(`${field}: ${String(v)} is not an integer in 0..${String(max)}`);
  }
}
