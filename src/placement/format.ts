/** Human-readable amounts for explanations (operators read these, machines read the numbers). */

const RATE_UNITS = ['bit/s', 'kbit/s', 'Mbit/s', 'Gbit/s', 'Tbit/s'] as const;

function trimmed(value: number): string {
  // Three significant digits are plenty for a sentence; trailing zeros only add noise.
  const digits = value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return String(Number(value.toFixed(digits)));
}

/** `100 Mbit/s`, `1.5 Gbit/s`; decimal prefixes as network rates use them. */
export function formatBps(bps: number): string {
  let value = bps;
  let unit = 0;
  while (Math.abs(value) >= 1000 && unit < RATE_UNITS.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${trimmed(value)} ${RATE_UNITS[unit] ?? 'bit/s'}`;
}

/** Groups thousands from 10 000 on (`100 000 hosts`, but `4096 MiB`), without locale data. */
export function formatCount(n: number): string {
  const s = String(n);
  return Math.abs(n) < 10_000 ? s : s.replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatCount(n)} ${n === 1 ? one : many}`;
}

export function listNames(names: readonly string[], max = 12): string {
  if (names.length <= max) return names.join(', ');
  return `${names.slice(0, max).join(', ')} and ${formatCount(names.length - max)} more`;
}
