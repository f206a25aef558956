import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkRate,
  checkSize,
  DEFAULT_MAX_RATE,
  formatRate,
  formatSize,
  MAX_BURST_BITS,
  parseRate,
  parseSize,
  RateError,
} from './rates.ts';
import { prng } from '../placement/random-instances.ts';


function messageOf(value: unknown, options?: { maxRate?: number }): string {
  const r = checkRate(value, options);
  if (r.ok) assert.fail(`expected ${JSON.stringify(String(value))} to be refused`);
  return r.message;
}

describe('parseRate', () => {
  it('accepts non-negative integers as bit/s', () => {
    assert.equal(parseRate(0), 0);
    assert.equal(parseRate(100_000_000), 100_000_000);
    assert.equal(parseRate(1e8), 100_000_000);
    assert.equal(parseRate(12n), 12);
  });

  it('accepts plain integer strings, with surrounding whitespace', () => {
    assert.equal(parseRate('100000000'), 100_000_000);
    assert.equal(parseRate(' 42 '), 42);
    assert.equal(parseRate('007'), 7);
  });

  it('reads SI, IEC and byte units like tc, case-insensitively', () => {
    const cases: [string, number][] = [
      ['1bit', 1],
      ['10kbit', 10_000],
      ['100mbit', 100_000_000],
      ['100Mbit', 100_000_000],
      ['100MBIT', 100_000_000],
      ['1gbit', 1e9],
      ['0.1Tbit', 1e11],
      ['1kibit', 1024],
      ['1mibit', 1024 ** 2],
      ['2Gibit', 2 * 1024 ** 3],
      ['1bps', 8],
      ['1kbps', 8000],
      ['100mbps', 800_000_000],
      ['1GBps', 8e9],
      ['1kibps', 8192],
    ];
    for (const [text, bits] of cases) assert.equal(parseRate(text), bits, text);
  });

  it('bps is bytes per second: 100mbps is eight times 100mbit', () => {
    assert.equal(parseRate('100mbps'), 8 * parseRate('100mbit'));
  });

  it('accepts decimals only when the result is a whole number of bits', () => {
    assert.equal(parseRate('1.5gbit'), 1_500_000_000);
    assert.equal(parseRate('0.5kbit'), 500);
    assert.equal(parseRate('0.125bps'), 1);
    assert.equal(parseRate('2.000'), 2);
    assert.match(messageOf('0.0001bit'), /not a whole number of bit\/s/);
    assert.match(messageOf('1.5'), /not a whole number/);
    assert.match(messageOf('1.0001kbit'), /not a whole number/);
  });

  it('refuses floats, NaN, infinities and negatives', () => {
    assert.match(messageOf(10 ** 8.5), /whole number of bit\/s/);
    assert.match(messageOf(1.5), /whole number/);
    assert.match(messageOf(Number.NaN), /NaN/);
    assert.match(messageOf(Number.POSITIVE_INFINITY), /finite/);
    assert.match(messageOf(-1), /negative/);
    assert.match(messageOf(-1n), /negative/);
    assert.match(messageOf('-5mbit'), /negative/);
  });

  it('refuses exponent strings and explains that OVS reads them as 0', () => {
    for (const text of ['1e8', '1E8', '1.5e9', '1e+8', '2e6bit']) {
      const message = messageOf(text);
      assert.match(message, /exponent/, text);
      assert.match(message, /reads values like "1e8" as 0/, text);
    }
  });

  it('refuses empty, garbage, unknown units and wrong types with a hint', () => {
    assert.match(messageOf(''), /empty/);
    assert.match(messageOf('   '), /empty/);
    assert.match(messageOf('fast'), /not a rate.*kbit/);
    assert.match(messageOf('0x10'), /unknown unit "x"|not a rate/);
    assert.match(messageOf('10 mbit'), /not a rate/);
    assert.match(messageOf('10mb'), /unknown unit "mb"/);
    assert.match(messageOf('+5'), /not a rate/);
    assert.match(messageOf(null), /got null/);
    assert.match(messageOf(true), /got boolean/);
    assert.match(messageOf({}), /got object/);
    assert.match(messageOf([1]), /got an array/);
    assert.match(messageOf('9'.repeat(100)), /too long/);
  });

  it('refuses values above the limit, 100 Gbit/s by default, configurable', () => {
    assert.equal(parseRate('100gbit'), DEFAULT_MAX_RATE);
    assert.match(messageOf('101gbit'), /too large: 101000000000 bit\/s exceeds the limit of 100gbit \(100000000000 bit\/s\)/);
    assert.match(messageOf(Number.MAX_SAFE_INTEGER + 1), /too large/);
    assert.match(messageOf('1tbit', { maxRate: 10e9 }), /limit of 10gbit/);
    assert.equal(parseRate('1tbit', { maxRate: 1e12 }), 1e12);
    assert.throws(() => parseRate(1, { maxRate: -1 }), RangeError);
  });

  it('throws RateError with a code', () => {
    assert.equal(new RateError('x').code, 'CM_ERR_INVALID_RATE');
    assert.throws(
      () => parseRate('1e8'),
      (e: unknown) => e instanceof RateError && /exponent/.test(e.message),
    );
  });
});

describe('parseSize (bursts, bits)', () => {
  it('reads integers and bit units', () => {
    assert.equal(parseSize(12000), 12000);
    assert.equal(parseSize('96kbit'), 96000);
    assert.equal(parseSize('1mibit'), 1024 ** 2);
  });

  it('refuses rate units and values above the u32-bytes limit', () => {
    const r = checkSize('10kbps');
    assert.ok(!r.ok);
    assert.match(r.message, /rate unit/);
    assert.throws(() => parseSize(MAX_BURST_BITS + 1), /too large/);
    assert.equal(parseSize(MAX_BURST_BITS), MAX_BURST_BITS);
  });
});

describe('formatRate', () => {
  it('writes the shortest exact SI form', () => {
    assert.equal(formatRate(0), '0');
    assert.equal(formatRate(1234), '1234bit');
    assert.equal(formatRate(100_000_000), '100mbit');
    assert.equal(formatRate(1_500_000_000), '1500mbit');
    assert.equal(formatRate(1e12), '1tbit');
    assert.equal(formatSize(96000), '96kbit');
    assert.throws(() => formatRate(-1), RangeError);
    assert.throws(() => formatRate(1.5), RangeError);
  });

  it('property: parseRate(formatRate(n)) === n for random n (all magnitudes)', () => {
    const rnd = prng(4);
    for (let i = 0; i < 5000; i++) {
      const digits = 1 + Math.floor(rnd() * 11);
      let n = Math.floor(rnd() * 10 ** digits);
      if (rnd() < 0.3) n = Math.floor(n / 1000) * 1000; // many round values
      n = Math.min(n, DEFAULT_MAX_RATE);
      assert.equal(parseRate(formatRate(n)), n, String(n));
      assert.equal(parseRate(String(n)), n);
      assert.equal(parseRate(formatRate(n).toUpperCase()), n);
    }
  });

  it('property: every unit × integer amount is exact, and bytes are ×8', () => {
    const rnd = prng(7);
    const units: [string, number][] = [
      ['bit', 1],
      ['kbit', 1e3],
      ['mbit', 1e6],
      ['gbit', 1e9],
      ['kibit', 1024],
      ['mibit', 1024 ** 2],
      ['gibit', 1024 ** 3],
      ['bps', 8],
      ['kbps', 8e3],
      ['mbps', 8e6],
      ['gbps', 8e9],
    ];
    for (let i = 0; i < 2000; i++) {
      const [unit, mult] = units[Math.floor(rnd() * units.length)]!;
      const amount = Math.floor(rnd() * Math.floor(DEFAULT_MAX_RATE / mult));
      assert.equal(parseRate(`${amount}${unit}`), amount * mult, `${amount}${unit}`);
    }
  });

  it('property: decimals of SI units round-trip through formatRate', () => {
    const rnd = prng(11);
    for (let i = 0; i < 2000; i++) {
      const milli = Math.floor(rnd() * 100_000); // 0.000 .. 99.999
      const text = `${Math.floor(milli / 1000)}.${String(milli % 1000).padStart(3, '0')}gbit`;
      const bits = milli * 1e6;
      assert.equal(parseRate(text), bits, text);
      assert.equal(parseRate(formatRate(bits)), bits);
    }
  });
});
