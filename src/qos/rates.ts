/**
 * Bandwidth values as people write them, parsed into the integers the switch
 * takes. Pure.
 *
 * A rate is bit/s; a size (burst) is bits. Both come in as a non-negative
 * integer number or as a string, and leave as a safe integer.
 *
 * Rate strings use `tc`'s notation (tc(8), "PARAMETERS"), case-insensitive:
 *
 * | unit                                     | meaning                        |
 * |------------------------------------------|--------------------------------|
 * | none, `bit`                              | bit/s                          |
 * | `kbit` `mbit` `gbit` `tbit`              | ×1000 steps (SI) bit/s         |
 * | `kibit` `mibit` `gibit` `tibit`          | ×1024 steps (IEC) bit/s        |
 * | `bps` `kbps` `mbps` `gbps` `tbps`        | **BYTES** per second, ×8       |
 * | `kibps` `mibps` `gibps` `tibps`          | **BYTES** per second (IEC), ×8 |
 *
 * Beware: as in `tc`, `bps` means *bytes* per second, so `"100mbps"` is
 * 800 000 000 bit/s, not 100 Mbit/s. Write `"100mbit"` for 100 Mbit/s.
 *
 * Size strings (bursts) take a plain integer (bits) or the `bit` units above
 * (`"96kbit"` = 96 000 bits). Unlike `tc`, a plain number is bits, not bytes,
 * and the byte units are refused so nobody mixes them up.
 *
 * Decimals are accepted when the result is a whole number of bits
 * (`"1.5gbit"`, `"0.5kbit"`), refused otherwise (`"0.0001bit"`). Exponents
 * (`"1e8"`) are refused: OVS reads `other_config` values such as `"1e8"` as 0,
 * so the agent never accepts or produces them.
 */

/** 100 Gbit/s: the default ceiling of any rate. */
export const DEFAULT_MAX_RATE = 100_000_000_000;

/**
 * The largest burst: 2^32 − 1 bytes in bits, the limit of the kernel's HTB and
 * policer burst fields.
 */
export const MAX_BURST_BITS = (2 ** 32 - 1) * 8;

/** One Ethernet MTU (1500 bytes) in bits: the smallest useful burst. */
export const MIN_BURST_BITS = 12_000;

/** Longer strings are refused before parsing (no value needs more). */
const MAX_TEXT_LENGTH = 64;

const K = 1000n;
const KI = 1024n;

/** Multipliers to bit/s of every rate unit, lower case. */
const RATE_UNITS: ReadonlyMap<string, bigint> = new Map([
  ['', 1n],
  ['bit', 1n],
  ['kbit', K],
  ['mbit', K ** 2n],
  ['gbit', K ** 3n],
  ['tbit', K ** 4n],
  ['kibit', KI],
  ['mibit', KI ** 2n],
  ['gibit', KI ** 3n],
  ['tibit', KI ** 4n],
  ['bps', 8n],
  ['kbps', 8n * K],
  ['mbps', 8n * K ** 2n],
  ['gbps', 8n * K ** 3n],
  ['tbps', 8n * K ** 4n],
  ['kibps', 8n * KI],
  ['mibps', 8n * KI ** 2n],
  ['gibps', 8n * KI ** 3n],
  ['tibps', 8n * KI ** 4n],
]);

/** Multipliers to bits of every size unit, lower case. */
const SIZE_UNITS: ReadonlyMap<string, bigint> = new Map(
  [...RATE_UNITS].filter(([unit]) => !unit.endsWith('bps')),
);

export type BandwidthKind = 'rate' | 'size';

export interface ParseRateOptions {
  /** Largest accepted value, bit/s. @default DEFAULT_MAX_RATE (100 Gbit/s) */
  maxRate?: number;
}

export interface ParseSizeOptions {
  /** Largest accepted value, bits. @default MAX_BURST_BITS */
  maxSize?: number;
}

/** A value that is not a valid rate or size. `message` is meant for API users. */
export class RateError extends Error {
  readonly code = 'CM_ERR_INVALID_RATE';
  constructor(message: string) {
    super(message);
    this.name = 'RateError';
  }
}

export type RateCheck = { ok: true; value: number } | { ok: false; message: string };

/**
 * Parses a rate (bit/s). Throws RateError with a message naming what is wrong.
 * @see checkRate for a variant that returns the problem.
 */
export function parseRate(value: unknown, options: ParseRateOptions = {}): number {
  const r = checkRate(value, options);
  if (!r.ok) throw new RateError(r.message);
  return r.value;
}

/** Parses a size (bits), e.g. a burst. Throws RateError. */
export function parseSize(value: unknown, options: ParseSizeOptions = {}): number {
  const r = checkSize(value, options);
  if (!r.ok) throw new RateError(r.message);
  return r.value;
}

export function checkRate(value: unknown, options: ParseRateOptions = {}): RateCheck {
  return check(value, 'rate', limitOf(options.maxRate, DEFAULT_MAX_RATE, 'maxRate'));
}

export function checkSize(value: unknown, options: ParseSizeOptions = {}): RateCheck {
  return check(value, 'size', limitOf(options.maxSize, MAX_BURST_BITS, 'maxSize'));
}

function limitOf(given: number | undefined, fallback: number, what: string): number {
  if (given === undefined) return fallback;
  if (!Number.isSafeInteger(given) || given < 0) {
    throw new RangeError(`${what} must be a non-negative safe integer, got ${String(given)}`);
  }
  return given;
}

const fail = (message: string): RateCheck => ({ ok: false, message });

function check(value: unknown, kind: BandwidthKind, limit: number): RateCheck {
  const unitName = kind === 'rate' ? 'bit/s' : 'bits';
  let bits: bigint;
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return fail('must be a number, got NaN');
    if (!Number.isFinite(value)) return fail(`must be finite, got ${String(value)}`);
    if (value < 0) return fail(`must not be negative, got ${String(value)}`);
    if (!Number.isInteger(value)) {
      return fail(`must be a whole number of ${unitName}, got ${String(value)}`);
    }
    if (!Number.isSafeInteger(value)) return fail(`is too large: ${String(value)} exceeds ${formatLimit(limit, kind)}`);
    bits = BigInt(value);
  } else if (typeof value === 'bigint') {
    if (value < 0n) return fail(`must not be negative, got ${value.toString()}`);
    bits = value;
  } else if (typeof value === 'string') {
    const parsed = parseText(value, kind);
    if (!parsed.ok) return parsed;
    bits = parsed.bits;
  } else {
    const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
    const example = kind === 'rate' ? 'e.g. 100000000 or "100mbit"' : 'e.g. 96000 or "96kbit"';
    return fail(`must be a ${kind === 'rate' ? 'rate' : 'size'} (${example}), got ${got}`);
  }
  if (bits > BigInt(limit)) {
    return fail(`is too large: ${bits.toString()} ${unitName} exceeds ${formatLimit(limit, kind)}`);
  }
  return { ok: true, value: Number(bits) };
}

function formatLimit(limit: number, kind: BandwidthKind): string {
  const human = kind === 'rate' ? formatRate(limit) : formatSize(limit);
  const unitName = kind === 'rate' ? 'bit/s' : 'bits';
  return human === String(limit) ? `the limit of ${human} ${unitName}` : `the limit of ${human} (${String(limit)} ${unitName})`;
}

const NUMBER_WITH_UNIT = /^(\d+)(?:\.(\d+))?([a-z]*)$/;
const EXPONENT = /^[+-]?(?:\d+\.?\d*|\.\d+)e[+-]?\d+[a-z]*$/;

function parseText(raw: string, kind: BandwidthKind): { ok: true; bits: bigint } | { ok: false; message: string } {
  const text = raw.trim().toLowerCase();
  if (text === '') return { ok: false, message: 'must not be empty' };
  if (text.length > MAX_TEXT_LENGTH) return { ok: false, message: `is too long (more than ${MAX_TEXT_LENGTH} characters)` };
  if (text.startsWith('-')) return { ok: false, message: `must not be negative, got "${raw}"` };
  if (EXPONENT.test(text)) {
    return {
      ok: false,
      message:
        `exponent notation is not accepted ("${raw}"): Open vSwitch reads values like "1e8" as 0, ` +
        `which would remove the limit; write the digits (100000000) or use a unit ("100mbit")`,
    };
  }
  const m = NUMBER_WITH_UNIT.exec(text);
  if (!m) {
    return { ok: false, message: `is not a ${kind === 'rate' ? 'rate' : 'size'}: "${raw}" (${unitHint(kind)})` };
  }
  const [, whole = '', fraction = '', unit = ''] = m;
  const units = kind === 'rate' ? RATE_UNITS : SIZE_UNITS;
  const multiplier = units.get(unit);
  if (multiplier === undefined) {
    if (kind === 'size' && RATE_UNITS.has(unit)) {
      return { ok: false, message: `"${unit}" is a rate unit; a burst is a size in bits, e.g. "96kbit" or 96000` };
    }
    return { ok: false, message: `has an unknown unit "${unit}" (${unitHint(kind)})` };
  }
  const scale = 10n ** BigInt(fraction.length);
  const scaled = BigInt(whole + fraction) * multiplier;
  if (scaled % scale !== 0n) {
    return { ok: false, message: `"${raw}" is not a whole number of ${kind === 'rate' ? 'bit/s' : 'bits'}` };
  }
  return { ok: true, bits: scaled / scale };
}

function unitHint(kind: BandwidthKind): string {
  return kind === 'rate'
    ? 'an integer in bit/s, or a number with a unit: bit, kbit, mbit, gbit, tbit, kibit, mibit, gibit, tibit, or bps, kbps, mbps, gbps, tbps meaning BYTES per second'
    : 'an integer in bits, or a number with a unit: bit, kbit, mbit, gbit, kibit, mibit, gibit';
}

/**
 * The shortest exact `tc`-style text of a rate, in SI bit units:
 * 100000000 → "100mbit", 1500000000 → "1500mbit", 1234 → "1234bit".
 * `parseRate(formatRate(n)) === n` for every safe non-negative integer n.
 */
export function formatRate(bitsPerSecond: number): string {
  return formatBits(bitsPerSecond, 'formatRate');
}

/** The shortest exact text of a size in bits: 96000 → "96kbit". */
export function formatSize(bits: number): string {
  return formatBits(bits, 'formatSize');
}

const SI_STEPS: readonly [string, number][] = [
  ['tbit', 1e12],
  ['gbit', 1e9],
  ['mbit', 1e6],
  ['kbit', 1e3],
];

function formatBits(n: number, fn: string): string {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${fn}: expected a non-negative safe integer, got ${String(n)}`);
  if (n === 0) return '0';
  for (const [unit, size] of SI_STEPS) {
    if (n % size === 0) return `${String(n / size)}${unit}`;
  }
  return `${String(n)}bit`;
}
