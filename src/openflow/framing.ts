/**
 * Splits the OpenFlow byte stream into messages. Every message starts with
 * the 8-byte header whose `length` covers header and body, so framing needs
 * no parsing of bodies: reads may split a message anywhere (even inside the
 * header) or carry many; complete messages come out in order.
 *
 * The length is checked as soon as the header is complete, before any body
 * is buffered: a peer announcing a message above the limit (or a length below
 * 8, which could never advance the stream) is rejected immediately.
 */
import { OFP_HEADER_LEN } from './constants.ts';
import { OpenFlowMessageTooLargeError, OpenFlowProtocolError } from './errors.ts';

/** Default upper bound of one message: 1 MiB (OpenFlow's own length field caps it at 64 KiB). */
export const DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024;

export class MessageSplitter {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private readonly maxMessageBytes: number;

  constructor(options: { maxMessageBytes?: number } = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Bytes held for a message that is not complete yet. */
  get pendingBytes(): number {
    return this.buffered;
  }

  /**
   * Feeds one chunk and returns every message completed by it (each a Buffer
   * of exactly header.length bytes).
   * @throws OpenFlowProtocolError on a length below 8,
   *   OpenFlowMessageTooLargeError on a length above the limit; the splitter
   *   is then reset and the stream must be dropped (it cannot be resynchronized).
   */
  push(chunk: Buffer): Buffer[] {
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    if (this.buffered < OFP_HEADER_LEN) return out;
    let data = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks, this.buffered);
    let offset = 0;
    while (data.length - offset >= OFP_HEADER_LEN) {
      const length = data.readUInt16BE(offset + 2);
      if (length < OFP_HEADER_LEN) {
        this.reset();
        throw new OpenFlowProtocolError(`message header announces length ${String(length)}, less than the 8-byte header (type ${String(data[offset + 1])}, xid ${String(data.readUInt32BE(offset + 4))})`);
      }
      if (length > this.maxMessageBytes) {
        this.reset();
        throw new OpenFlowMessageTooLargeError(length, this.maxMessageBytes);
      }
      if (data.length - offset < length) break;
      // Copy so a decoded message never aliases a larger socket buffer.
      out.push(Buffer.from(data.subarray(offset, offset + length)));
      offset += length;
    }
    data = data.subarray(offset);
    this.chunks = data.length > 0 ? [data] : [];
    this.buffered = data.length;
    return out;
  }

  /** Drops any partial message, e.g. after the connection was replaced. */
  reset(): void {
    this.chunks = [];
    this.buffered = 0;
  }
}
