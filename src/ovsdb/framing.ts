/**
 * Splits the unframed OVSDB byte stream into JSON values (RFC 7047 §4 sends
 * concatenated JSON-RPC objects with no delimiter or length prefix).
 *
 * The splitter scans bytes once, tracking nesting depth, strings and escapes,
 * so braces inside strings never end a message early. Chunks may split a
 * message anywhere (even inside a multi-byte UTF-8 character) or carry several
 * messages; complete messages are returned in order.
 *
 * OVSDB integers are 64-bit; `JSON.parse` would silently round those above
 * 2^53. While scanning we note whether any number token has 16 or more digits;
 * only those messages take the slower exact parser, which turns unsafe integers
 * into `bigint`.
 */
import { OvsdbProtocolError } from './errors.ts';

/** Default upper bound for one message: large enough for a full vswitch dump. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const ZERO = 0x30;
const NINE = 0x39;
const DOT = 0x2e;
const LOWER_E = 0x65;
const UPPER_E = 0x45;

function isWhitespace(byte: number): boolean {
  return byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
}

export class JsonStreamSplitter {
  private chunks: Buffer[] = [];
  private bufferedBytes = 0;
  /** Scan state survives across chunks so each byte is visited once. */
  private depth = 0;
  private inString = false;
  private escaped = false;
  private digitRun = 0;
  private runIsInteger = true;
  private sawLongInteger = false;
  private readonly maxMessageBytes: number;

  constructor(options: { maxMessageBytes?: number } = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Bytes held for a message that is not complete yet. */
  get pendingBytes(): number {
    return this.bufferedBytes;
  }

  /**
   * Feeds one chunk and returns every message completed by it.
   * @throws OvsdbProtocolError on a message above the size limit or bytes
   *   that cannot start a JSON object/array at top level.
   */
  push(chunk: Buffer): unknown[] {
    const messages: unknown[] = [];
    let start = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i] as number;
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) this.inString = false;
        continue;
      }
      if (this.depth === 0) {
        if (isWhitespace(byte)) {
          if (this.bufferedBytes === 0 && i === start) start = i + 1;
          continue;
        }
        if (byte !== OPEN_BRACE && byte !== OPEN_BRACKET) {
          throw new OvsdbProtocolError(
            `unexpected byte 0x${byte.toString(16)} between JSON-RPC messages`,
          );
        }
      }
      if ((byte >= ZERO && byte <= NINE) || byte === 0x2d) {
        this.digitRun++;
        continue;
      }
      if (this.digitRun > 0) {
        if (byte === DOT || byte === LOWER_E || byte === UPPER_E || byte === 0x2b) {
          this.runIsInteger = false;
          this.digitRun++;
          continue;
        }
        if (this.runIsInteger && this.digitRun >= 16) this.sawLongInteger = true;
        this.digitRun = 0;
        this.runIsInteger = true;
      }
      if (byte === QUOTE) this.inString = true;
      else if (byte === OPEN_BRACE || byte === OPEN_BRACKET) this.depth++;
      else if (byte === CLOSE_BRACE || byte === CLOSE_BRACKET) {
        this.depth--;
        if (this.depth === 0) {
          const piece = chunk.subarray(start, i + 1);
          this.checkSize(this.bufferedBytes + piece.length);
          const text = this.takeBuffered(piece).toString('utf8');
          try {
            messages.push(this.sawLongInteger ? parseJsonExact(text) : JSON.parse(text));
          } catch (error) {
            this.reset();
            if (error instanceof OvsdbProtocolError) throw error;
            throw new OvsdbProtocolError(`invalid JSON: ${(error as Error).message}`, { cause: error });
          }
          this.sawLongInteger = false;
          start = i + 1;
        }
      }
    }
    if (start < chunk.length) {
      const rest = chunk.subarray(start);
      this.checkSize(this.bufferedBytes + rest.length);
      this.chunks.push(Buffer.from(rest));
      this.bufferedBytes += rest.length;
    }
    return messages;
  }

  /** Drops any partial message, e.g. after the connection was replaced. */
  reset(): void {
    this.chunks = [];
    this.bufferedBytes = 0;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.digitRun = 0;
    this.runIsInteger = true;
    this.sawLongInteger = false;
  }

  private takeBuffered(last: Buffer): Buffer {
    if (this.chunks.length === 0) return last;
    const all = Buffer.concat([...this.chunks, last]);
    this.chunks = [];
    this.bufferedBytes = 0;
    return all;
  }

  private checkSize(size: number): void {
    if (size > this.maxMessageBytes) {
      this.reset();
      throw new OvsdbProtocolError(
        `incoming message exceeds the maximum of ${String(this.maxMessageBytes)} bytes`,
      );
    }
  }
}

/**
 * A JSON parser that keeps integers beyond Number.MAX_SAFE_INTEGER exact as
 * `bigint`. Used only for messages that contain long digit runs.
 */
export function parseJsonExact(text: string): unknown {
  let pos = 0;
  const fail = (what: string): never => {
    throw new OvsdbProtocolError(`invalid JSON at offset ${String(pos)}: ${what}`);
  };
  const skip = (): void => {
    while (pos < text.length) {
      const c = text.charCodeAt(pos);
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) pos++;
      else break;
    }
  };
  const value = (): unknown => {
    skip();
    const c = text[pos];
    if (c === '{') {
      pos++;
      const obj: Record<string, unknown> = {};
      skip();
      if (text[pos] === '}') {
        pos++;
        return obj;
      }
      for (;;) {
        skip();
        if (text[pos] !== '"') fail('expected a key');
        const key = str();
        skip();
        if (text[pos] !== ':') fail('expected ":"');
        pos++;
        // defineProperty: a "__proto__" key must stay a plain own property, as with JSON.parse.
        Object.defineProperty(obj, key, { value: value(), enumerable: true, writable: true, configurable: true });
        skip();
        if (text[pos] === ',') pos++;
        else if (text[pos] === '}') {
          pos++;
          return obj;
        } else fail('expected "," or "}"');
      }
    }
    if (c === '[') {
      pos++;
      const arr: unknown[] = [];
      skip();
      if (text[pos] === ']') {
        pos++;
        return arr;
      }
      for (;;) {
        arr.push(value());
        skip();
        if (text[pos] === ',') pos++;
        else if (text[pos] === ']') {
          pos++;
          return arr;
        } else fail('expected "," or "]"');
      }
    }
    if (c === '"') return str();
    if (text.startsWith('true', pos)) {
      pos += 4;
      return true;
    }
    if (text.startsWith('false', pos)) {
      pos += 5;
      return false;
    }
    if (text.startsWith('null', pos)) {
      pos += 4;
      return null;
    }
    return num();
  };
  const str = (): string => {
    const begin = pos;
    pos++;
    let hasEscape = false;
    while (pos < text.length) {
      const ch = text[pos];
      if (ch === '\\') {
        hasEscape = true;
        pos += 2;
      } else if (ch === '"') {
        pos++;
        const raw = text.slice(begin, pos);
        return hasEscape ? (JSON.parse(raw) as string) : raw.slice(1, -1);
      } else pos++;
    }
    return fail('unterminated string');
  };
  const num = (): number | bigint => {
    const match = /^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?/.exec(text.slice(pos, pos + 400));
    if (!match) return fail('unexpected token');
    const token = match[0];
    pos += token.length;
    if (match[2] === undefined && match[3] === undefined) {
      const n = Number(token);
      return Number.isSafeInteger(n) ? n : BigInt(token);
    }
    return Number(token);
  };
  const result = value();
  skip();
  if (pos !== text.length) fail('trailing characters');
  return result;
}

const BIGINT_MARK = `\u0000bigint:${Math.random().toString(36).slice(2)}:`;
const BIGINT_MARK_RE = new RegExp(`"${BIGINT_MARK.replace('\u0000', '\\\\u0000')}(-?[0-9]+)"`, 'g');

/** JSON.stringify that writes `bigint` values as exact JSON integers. */
export function stringifyJson(value: unknown): string {
  try {
    // The common case has no bigint; a replacer would make every call ~2.5x slower.
    return JSON.stringify(value);
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
  }
  const text = JSON.stringify(value, (_key, v: unknown) =>
    typeof v === 'bigint' ? `${BIGINT_MARK}${v.toString()}` : v,
  );
  return text.replace(BIGINT_MARK_RE, '$1');
}
