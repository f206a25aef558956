/**
 * Short, faithful renderings of fuzz requests (a megabyte string is `<"a"×1048576>`, an edited
 * thesis document is its line diff against the fixture) and the summary table.
 */
import type { AuthMode, FuzzRequest } from './client.ts';

/** A string as `"…"`, or `<"unit"×N>` when it is one unit repeated, or its head and tail. */
export function abbreviate(s: string, max = 160): string {
  if (s.length <= max) return JSON.stringify(s);
  for (let u = 1; u <= 8; u++) {
    const unit = s.slice(0, u);
    if (unit.repeat(Math.ceil(s.length / u)).slice(0, s.length) === s) return `<${JSON.stringify(unit)}×${String(s.length)}>`;
  }
  return `${JSON.stringify(s.slice(0, 100))}…(${String(s.length)} chars)…${JSON.stringify(s.slice(-40))}`;
}

/** Line diff (LCS) of `b` against `a`: `-n "old"` / `+n "new"`, at most `limit` lines. */
export function lineDiff(a: string, b: string, limit = 8): string[] {
  const x = a.split('\n');
  const y = b.split('\n');
  if (x.length * y.length > 400_000) return [`${String(y.length)} lines (fixture: ${String(x.length)}); first: ${abbreviate(y.find((l, i) => l !== x[i]) ?? '', 100)}`];
  const n = x.length;
  const m = y.length;
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const out: string[] = [];
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) {
      i++;
      j++;
    } else if (j < m && (i === n || lcs[i]![j + 1]! >= lcs[i + 1]![j]!)) {
      out.push(`+${String(j + 1)} ${abbreviate(y[j]!, 120)}`);
      j++;
    } else {
      out.push(`-${String(i + 1)} ${abbreviate(x[i]!, 120)}`);
      i++;
    }
  }
  return out.length > limit ? [...out.slice(0, limit), `… ${String(out.length - limit)} more changed lines`] : out;
}

export interface KnownTexts {
  [name: string]: string;
}

/** A topology-like text: as the fixture it is closest to plus its diff, or abbreviated. */
export function describeText(s: string, known: KnownTexts): string {
  for (const [name, text] of Object.entries(known)) {
    if (s === text) return `<${name}>`;
    const first = text.split('\n').slice(0, 3).join('\n');
    const probe = text.split('\n').find((l) => l.includes('service_type') || l.includes('name')) ?? first;
    if (s.length < 3_000_000 && (s.includes(first) || s.includes(probe)) && text.length > 40) return `<${name} with ${lineDiff(text, s).join(' | ')}>`;
  }
  return abbreviate(s);
}

/** JSON with long strings abbreviated, repeated array items folded and deep nesting summarised. */
export function compactJson(v: unknown, known: KnownTexts, depth = 0): string {
  if (typeof v === 'string') return describeText(v, known);
  if (depth > 12) {
    let d = 0;
    let cur: unknown = v;
    while (typeof cur === 'object' && cur !== null) {
      d++;
      cur = Array.isArray(cur) ? cur[0] : Object.values(cur)[0];
    }
    return `<${String(d)} more levels of nesting>`;
  }
  if (Array.isArray(v)) {
    if (v.length > 6) {
      const first = JSON.stringify(v[0]);
      if (v.every((x) => JSON.stringify(x) === first)) return `[${compactJson(v[0], known, depth + 1)} ×${String(v.length)}]`;
      return `[${v.slice(0, 4).map((x) => compactJson(x, known, depth + 1)).join(',')},… ${String(v.length)} items]`;
    }
    return `[${v.map((x) => compactJson(x, known, depth + 1)).join(',')}]`;
  }
  if (typeof v === 'object' && v !== null) {
    return `{${Object.keys(v)
      .map((k) => `${abbreviate(k, 60)}:${compactJson((v as Record<string, unknown>)[k], known, depth + 1)}`)
      .join(',')}}`;
  }
  return v === undefined ? 'undefined' : JSON.stringify(v);
}

function authText(a: AuthMode): string {
  switch (a.mode) {
    case 'valid':
      return 'Bearer <its token>';
    case 'none':
      return 'no Authorization';
    case 'other-service':
      return "Bearer <the other service's token>";
    case 'random':
      return `Bearer ${abbreviate(a.token, 60)}`;
    case 'raw':
      return `Authorization: ${abbreviate(a.value, 60)}`;
    case 'duplicate':
      return `two Authorization headers: ${JSON.stringify(a.first)}, then the valid one`;
  }
}

export function describeRequest(r: FuzzRequest, known: KnownTexts): string {
  const query = r.query.length === 0 ? '' : `?${r.query.map(([k, v]) => (v === null ? abbreviate(k, 60).slice(1, -1) : `${abbreviate(k, 60).slice(1, -1)}=${abbreviate(v, 80).replace(/^"|"$/g, '')}`)).join('&')}`;
  const parts = [`${r.service}: ${r.method} ${abbreviate(r.path, 120).replace(/^"|"$/g, '')}${query}`, authText(r.auth)];
  if (r.headers.length > 0) parts.push(`headers ${r.headers.map(([k, v]) => `${k}: ${abbreviate(v, 60)}`).join('; ')}`);
  parts.push(r.contentType === null ? 'no Content-Type' : `Content-Type: ${JSON.stringify(r.contentType)}`);
  if (r.body === null) parts.push('no body');
  else if (r.body.kind === 'json') parts.push(`body ${compactJson(r.body.value, known)}`);
  else if (r.body.kind === 'text') parts.push(`raw body ${describeText(r.body.text, known)}`);
  else parts.push(`raw body ${JSON.stringify(r.body.prefix)} + ${JSON.stringify(r.body.open)}×${String(r.body.depth)} + ${JSON.stringify(r.body.close)}×${String(r.body.depth)} + ${JSON.stringify(r.body.suffix)}`);
  if (r.valid) parts.push(`(valid: ${r.valid})`);
  return parts.join(' | ');
}

export function table(rows: (string | number)[][]): string {
  const widths = rows[0]?.map((_, c) => Math.max(...rows.map((r) => String(r[c] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, c) => (typeof cell === 'number' ? String(cell).padStart(widths[c] ?? 0) : cell.padEnd(widths[c] ?? 0))).join('  ').trimEnd()).join('\n');
}
