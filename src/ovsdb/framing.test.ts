/**
 * Property tests for the stream splitter: random valid message sequences,
 * serialized with random (valid) formatting, cut at random points, must come
 * out exactly as they went in, integers beyond 2^53 as exact bigints.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OvsdbProtocolError } from './errors.ts';
import { JsonStreamSplitter, parseJsonExact, stringifyJson } from './framing.ts';

// ---- a small deterministic PRNG (mulberry32) ------------------------------------

type Rng = () => number;

function prng(seed: number): Rng {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const int = (rng: Rng, n: number): number => Math.floor(rng() * n);
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)] as T;

// ---- random JSON values with their expected decoding ---------------------------

type Json = null | boolean | number | bigint | string | Json[] | { [key: string]: Json };

const STRING_PIECES = [
  'a',
  'qos',
  ' ',
  '{',
  '}',
  '[',
  ']',
  '"',
  '\\',
  '\\"',
  '"}',
  '{"',
  ':',
  ',',
  '/',
  '\n',
  '\t',
  '\u0000',
  '\u001f',
  'é',
  'ß',
  '€',
  '中文',
  '𝄞',
  '😀',
  '\u2028',
  '12345678901234567890',
  'true',
  'null',
  '-',
  '0.5e10',
];

function randomString(rng: Rng): string {
  let s = '';
  const n = int(rng, 6);
  for (let i = 0; i < n; i++) s += pick(rng, STRING_PIECES);
  return s;
}

function randomBigint(rng: Rng): bigint {
  // Beyond 2^53 in magnitude, up to about 2^70, both signs.
  const magnitude = 2n ** 53n + 1n + BigInt(int(rng, 1_000_000)) * BigInt(1 + int(rng, 2 ** 30)) * BigInt(1 + int(rng, 1000));
  return rng() < 0.5 ? -magnitude : magnitude;
}

function randomNumber(rng: Rng): number | bigint {
  switch (int(rng, 8)) {
    case 0:
      return int(rng, 10);
    case 1:
      return -int(rng, 100_000);
    case 2:
      return Number.MAX_SAFE_INTEGER - int(rng, 3);
    case 3:
      return -Number.MAX_SAFE_INTEGER + int(rng, 3);
    case 4:
      return Math.round(rng() * 1e6) / 64; // exact binary fraction
    case 5:
      return 1234567890123456; // 16 digits, still safe: must stay a number
    case 6:
      return 2n ** 63n - 1n; // the largest OVSDB integer
    default:
      return randomBigint(rng);
  }
}

function randomValue(rng: Rng, depth: number): Json {
  const leaf = depth <= 0 || rng() < 0.35;
  if (leaf) {
    switch (int(rng, 6)) {
      case 0:
        return null;
      case 1:
        return rng() < 0.5;
      case 2:
      case 3:
        return randomNumber(rng);
      default:
        return randomString(rng);
    }
  }
  if (rng() < 0.5) {
    const n = int(rng, 5);
    return Array.from({ length: n }, () => randomValue(rng, depth - 1));
  }
  const obj: Record<string, Json> = {};
  const n = int(rng, 5);
  for (let i = 0; i < n; i++) obj[randomString(rng)] = randomValue(rng, depth - 1);
  return obj;
}

function randomMessage(rng: Rng): Json {
  // The stream carries JSON-RPC objects; top-level arrays are accepted too.
  if (rng() < 0.15) return Array.from({ length: int(rng, 4) }, () => randomValue(rng, 3));
  const message: Record<string, Json> = { id: rng() < 0.3 ? null : int(rng, 1000), method: 'update2' };
  message.params = [randomString(rng), randomValue(rng, 4)];
  if (rng() < 0.5) message.extra = randomValue(rng, 4);
  return message;
}

// ---- a serializer with random valid formatting ---------------------------------

const WS = [' ', '\n', '\t', '\r\n', '  '];

function ws(rng: Rng): string {
  return rng() < 0.7 ? '' : pick(rng, WS);
}

function serializeString(rng: Rng, s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0) as number;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (code < 0x20) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else if (ch === '/' && rng() < 0.5) out += '\\/';
    else if (code > 0x7f && rng() < 0.3) {
      // Escaped form, with a surrogate pair above the BMP.
      for (let i = 0; i < ch.length; i++) out += `\\u${ch.charCodeAt(i).toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return `${out}"`;
}

function serialize(rng: Rng, value: Json): string {
  if (value === null) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number') return JSON.stringify(value);
  if (typeof value === 'string') return serializeString(rng, value);
  if (Array.isArray(value)) {
    return `[${ws(rng)}${value.map((v) => serialize(rng, v)).join(`${ws(rng)},${ws(rng)}`)}${ws(rng)}]`;
  }
  const parts = Object.entries(value).map(([k, v]) => `${serializeString(rng, k)}${ws(rng)}:${ws(rng)}${serialize(rng, v)}`);
  return `{${ws(rng)}${parts.join(`${ws(rng)},${ws(rng)}`)}${ws(rng)}}`;
}

function between(rng: Rng): string {
  const r = rng();
  if (r < 0.5) return '';
  if (r < 0.9) return pick(rng, WS);
  return ' \n\t\r '.repeat(1 + int(rng, 3));
}

/** Feeds the chunks and returns every message produced. */
function feed(splitter: JsonStreamSplitter, chunks: readonly Buffer[]): unknown[] {
  const out: unknown[] = [];
  for (const chunk of chunks) out.push(...splitter.push(chunk));
  return out;
}

function cutAt(bytes: Buffer, points: readonly number[]): Buffer[] {
  const sorted = [...new Set(points)].filter((p) => p > 0 && p < bytes.length).sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const p of sorted) {
    chunks.push(bytes.subarray(start, p));
    start = p;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

function hasBigint(value: unknown): boolean {
  if (typeof value === 'bigint') return true;
  if (Array.isArray(value)) return value.some(hasBigint);
  if (value !== null && typeof value === 'object') return Object.values(value).some(hasBigint);
  return false;
}

// ---- the properties ---------------------------------------------------------------

describe('JsonStreamSplitter: random message sequences cut at random points', () => {
  it('returns exactly the messages that were sent, for 400 seeds', () => {
    let sawBig = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const rng = prng(seed);
      const messages = Array.from({ length: 1 + int(rng, 8) }, () => randomMessage(rng));
      const text = between(rng) + messages.map((m) => serialize(rng, m) + between(rng)).join('');
      const bytes = Buffer.from(text, 'utf8');
      const cuts = Array.from({ length: int(rng, 12) }, () => int(rng, bytes.length + 1));
      const splitter = new JsonStreamSplitter();
      const out = feed(splitter, cutAt(bytes, cuts));
      assert.deepEqual(out, messages, `seed ${String(seed)}: ${text.slice(0, 200)}`);
      assert.equal(splitter.pendingBytes, 0, `seed ${String(seed)}: nothing left over`);
      if (messages.some(hasBigint)) sawBig++;
    }
    assert.ok(sawBig > 100, `the generator produced big integers (${String(sawBig)} sequences)`);
  });

  it('survives a cut at every single byte boundary', () => {
    for (let seed = 1000; seed < 1006; seed++) {
      const rng = prng(seed);
      const messages = [randomMessage(rng), randomMessage(rng), { id: 1, result: [2n ** 64n, '€𝄞"}{', -(2n ** 60n)] }];
      const bytes = Buffer.from(messages.map((m) => serialize(rng, m)).join(between(rng)), 'utf8');
      for (let k = 1; k < bytes.length; k++) {
        const out = feed(new JsonStreamSplitter(), [bytes.subarray(0, k), bytes.subarray(k)]);
        assert.deepEqual(out, messages, `seed ${String(seed)}, cut at byte ${String(k)}`);
      }
      const oneByOne = feed(
        new JsonStreamSplitter(),
        Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1)),
      );
      assert.deepEqual(oneByOne, messages, `seed ${String(seed)}, one byte at a time`);
    }
  });

  it('splits inside multi-byte UTF-8 characters without corrupting them', () => {
    const message = { id: 7, result: ['é', '€', '𝄞', '😀中文'] };
    const bytes = Buffer.from(JSON.stringify(message), 'utf8');
    for (let k = 1; k < bytes.length; k++) {
      const out = feed(new JsonStreamSplitter(), [bytes.subarray(0, k), bytes.subarray(k)]);
      assert.deepEqual(out, [message]);
    }
  });

  it('returns several messages from one chunk, in order', () => {
    const out = new JsonStreamSplitter().push(Buffer.from('{"id":1}{"id":2} [3]\n{"id":"{[\\"]}"}'));
    assert.deepEqual(out, [{ id: 1 }, { id: 2 }, [3], { id: '{["]}' }]);
  });

  it('keeps integers beyond 2^53 exact as bigint and safe integers as number', () => {
    const text = '{"a":9007199254740993,"b":-9223372036854775808,"c":9223372036854775807,"d":9007199254740991,"e":1e300,"f":12345678901234567.5,"g":[18446744073709551616]}';
    const [value] = new JsonStreamSplitter().push(Buffer.from(text));
    assert.deepEqual(value, {
      a: 9007199254740993n,
      b: -9223372036854775808n,
      c: 9223372036854775807n,
      d: 9007199254740991,
      e: 1e300,
      f: Number('12345678901234567.5'),
      g: [18446744073709551616n],
    });
  });

  it('detects a long integer split across chunks', () => {
    const bytes = Buffer.from('{"n":12345678901234567890}');
    for (let k = 1; k < bytes.length; k++) {
      const out = feed(new JsonStreamSplitter(), [bytes.subarray(0, k), bytes.subarray(k)]);
      assert.deepEqual(out, [{ n: 12345678901234567890n }], `cut at ${String(k)}`);
    }
  });

  it('does not take digits inside strings for numbers', () => {
    const [value] = new JsonStreamSplitter().push(Buffer.from('{"s":"12345678901234567890","n":1}'));
    assert.deepEqual(value, { s: '12345678901234567890', n: 1 });
  });
});

describe('JsonStreamSplitter: limits and garbage', () => {
  it('accepts a message of exactly the maximum size and refuses one byte more', () => {
    const exact = `{"s":"${'x'.repeat(92)}"}`; // 100 bytes
    assert.equal(Buffer.byteLength(exact), 100);
    assert.deepEqual(new JsonStreamSplitter({ maxMessageBytes: 100 }).push(Buffer.from(exact)), [JSON.parse(exact)]);
    const tooBig = `{"s":"${'x'.repeat(93)}"}`;
    assert.throws(() => new JsonStreamSplitter({ maxMessageBytes: 100 }).push(Buffer.from(tooBig)), OvsdbProtocolError);
  });

  it('refuses an oversize message that is still incomplete, whatever the chunking', () => {
    const splitter = new JsonStreamSplitter({ maxMessageBytes: 1000 });
    assert.throws(() => {
      for (let i = 0; i < 100; i++) splitter.push(Buffer.from(i === 0 ? '{"s":"' : 'xxxxxxxxxxxxxxxxxxxx'));
    }, OvsdbProtocolError);
  });

  it('refuses a message assembled from many small chunks above the limit', () => {
    const bytes = Buffer.from(`{"s":"${'y'.repeat(200)}"}`);
    const splitter = new JsonStreamSplitter({ maxMessageBytes: 150 });
    assert.throws(() => feed(splitter, Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1))), OvsdbProtocolError);
  });

  it('counts multi-byte characters as bytes, not characters', () => {
    const text = `{"s":"${'€'.repeat(40)}"}`; // 8 + 120 bytes, 48 characters
    assert.throws(() => new JsonStreamSplitter({ maxMessageBytes: 100 }).push(Buffer.from(text)), OvsdbProtocolError);
  });

  it('rejects garbage between messages', () => {
    for (const garbage of ['x', '1', '"str"', '}', ']', 'null', ',', '\u0000']) {
      const splitter = new JsonStreamSplitter();
      assert.deepEqual(splitter.push(Buffer.from('{"id":1}')), [{ id: 1 }]);
      assert.throws(() => splitter.push(Buffer.from(` ${garbage} {"id":2}`)), OvsdbProtocolError, `garbage ${JSON.stringify(garbage)}`);
    }
  });

  it('rejects garbage before the first message', () => {
    assert.throws(() => new JsonStreamSplitter().push(Buffer.from('HTTP/1.1 200 OK\r\n')), OvsdbProtocolError);
  });

  it('rejects malformed JSON inside a balanced message with OvsdbProtocolError', () => {
    assert.throws(() => new JsonStreamSplitter().push(Buffer.from('{abc}')), OvsdbProtocolError);
    assert.throws(() => new JsonStreamSplitter().push(Buffer.from('{"a":12345678901234567890 x}')), OvsdbProtocolError);
  });

  it('reset() drops a partial message', () => {
    const splitter = new JsonStreamSplitter();
    assert.deepEqual(splitter.push(Buffer.from('{"id":1,"s":"{[')), []);
    assert.ok(splitter.pendingBytes > 0);
    splitter.reset();
    assert.equal(splitter.pendingBytes, 0);
    assert.deepEqual(splitter.push(Buffer.from('{"id":2}')), [{ id: 2 }]);
  });

  it('ignores whitespace-only chunks', () => {
    const splitter = new JsonStreamSplitter();
    assert.deepEqual(splitter.push(Buffer.from(' \n\t\r ')), []);
    assert.equal(splitter.pendingBytes, 0);
    assert.deepEqual(splitter.push(Buffer.from('[1]')), [[1]]);
  });
});

describe('parseJsonExact and stringifyJson', () => {
  it('agree with JSON.parse on random documents without big integers', () => {
    for (let seed = 5000; seed < 5200; seed++) {
      const rng = prng(seed);
      const value = randomMessage(rng);
      if (hasBigint(value)) continue;
      const text = serialize(rng, value);
      assert.deepEqual(parseJsonExact(text), JSON.parse(text), `seed ${String(seed)}`);
    }
  });

  it('parses keys named __proto__ as plain own properties, like JSON.parse', () => {
    const text = '{"__proto__":{"polluted":true},"n":12345678901234567890}';
    const value = parseJsonExact(text) as Record<string, unknown>;
    assert.deepEqual(Object.keys(value), ['__proto__', 'n']);
    assert.equal(Object.getPrototypeOf(value), Object.prototype);
    assert.equal((value as { polluted?: unknown }).polluted, undefined);
  });

  it('writes bigint values as exact JSON integers', () => {
    assert.equal(stringifyJson({ a: 2n ** 64n, b: [-(2n ** 63n), 1n], c: 'x' }), '{"a":18446744073709551616,"b":[-9223372036854775808,1],"c":"x"}');
    assert.equal(stringifyJson(5n), '5');
    assert.equal(stringifyJson({ n: 1, s: 'no bigint' }), '{"n":1,"s":"no bigint"}');
  });

  it('round-trips random messages through stringifyJson and the splitter', () => {
    for (let seed = 7000; seed < 7200; seed++) {
      const rng = prng(seed);
      const messages = [randomMessage(rng), randomMessage(rng)];
      const out = new JsonStreamSplitter().push(Buffer.from(messages.map((m) => stringifyJson(m)).join('')));
      assert.deepEqual(out, messages, `seed ${String(seed)}`);
    }
  });
});
