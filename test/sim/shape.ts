/**
 * Recursive shape comparison of a JSON response against a real API sample:
 * same key sets and value types; list elements are compared with the
 * best-matching element of the sample. Returns one line per difference, naming the path.
 *
 * Paths: `$.servers[].flavor`; keys of a dictionary (see `maps`) are `{}`.
 * - A `null` in the sample matches any value (the sample cannot tell the type).
 * - `maps`: paths whose objects are dictionaries (ids/names as keys): every
 *   value is compared with the sample's first value instead of key-by-key.
 * - `exceptions`: path → written reason; differences at or below the path are
 *   not reported. A reason is required so every exception is documented.
 */
export interface ShapeOptions {
  maps?: readonly string[];
  exceptions?: Readonly<Record<string, string>>;
}

const typeOf = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);

export function compareShape(actual: unknown, sample: unknown, options: ShapeOptions = {}, path = '$'): string[] {
  const exceptions = options.exceptions ?? {};
  for (const [p, reason] of Object.entries(exceptions)) {
    if (reason.trim() === '') throw new Error(`exception ${p} has no reason`);
    if (path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`)) return [];
  }
  if (sample === null) return [];
  const ta = typeOf(actual);
  const ts = typeOf(sample);
  if (ta !== ts) return [`${path}: expected ${ts}, got ${ta}`];
  if (Array.isArray(sample) && Array.isArray(actual)) {
    if (sample.length === 0 || actual.length === 0) return [];
    // Each element must match one of the sample's element shapes (lists such as links mix shapes).
    return actual.flatMap((a) => {
      let best: string[] | undefined;
      for (const s of sample) {
        const diffs = compareShape(a, s, options, `${path}[]`);
        if (best === undefined || diffs.length < best.length) best = diffs;
      }
      return best ?? [];
    });
  }
  if (ts !== 'object') return [];
  const a = actual as Record<string, unknown>;
  const s = sample as Record<string, unknown>;
  if (options.maps?.includes(path)) {
    const first = Object.values(s)[0];
    if (first === undefined) return [];
    return Object.values(a).flatMap((v) => compareShape(v, first, options, `${path}{}`));
  }
  const out: string[] = [];
  for (const k of Object.keys(s)) if (!(k in a) && !isExcepted(`${path}.${k}`, exceptions)) out.push(`${path}.${k}: missing`);
  for (const k of Object.keys(a)) if (!(k in s) && !isExcepted(`${path}.${k}`, exceptions)) out.push(`${path}.${k}: not in the sample`);
  for (const k of Object.keys(s)) if (k in a) out.push(...compareShape(a[k], s[k], options, `${path}.${k}`));
  return out;
}

function isExcepted(path: string, exceptions: Readonly<Record<string, string>>): boolean {
  return Object.keys(exceptions).some((p) => path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`));
}
