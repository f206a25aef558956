/**
 * Positions and problems: every input goes through the `yaml` package's
 * parseDocument (JSON is YAML's flow syntax), so one code path gives
 * line:column for JSON and YAML alike.
 */
import { isAlias, isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, visit, type Document } from 'yaml';
import { bracketDepth, DEFAULT_TOPOLOGY_LIMITS, limitText, type TopologyLimits } from './limits.ts';
import type { SourceFile } from './types.ts';

export type Path = readonly (string | number)[];

export interface TopologyIssue {
  file: string;
  /** 1-based; null when the value has no position (built in code, or derived). */
  line: number | null;
  column: number | null;
  /** Field path, e.g. `service_instances[2].service_type`. */
  path: string;
  message: string;
}

export function formatPath(path: Path): string {
  let out = '';
  for (const step of path) out += typeof step === 'number' ? `[${String(step)}]` : out === '' ? step : `.${step}`;
  return out === '' ? '(root)' : out;
}

export function formatIssue(i: TopologyIssue): string {
  const where = i.line === null ? i.file : `${i.file}:${String(i.line)}:${String(i.column ?? 1)}`;
  return `${where} ${i.path}: ${i.message}`;
}

/** Every problem found, one per line in the message. */
export class TopologyError extends Error {
  readonly code = 'CM_ERR_TOPOLOGY';
  constructor(readonly issues: readonly TopologyIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'TopologyError';
  }
}

/** A parsed file that can say where a path is. */
export class Located {
  private constructor(
    readonly file: string,
    private readonly doc: Document | null,
    private readonly lines: LineCounter | null,
    readonly value: unknown,
    /** The bounds the readers apply to this file's values (string lengths). */
    readonly limits: Readonly<TopologyLimits> = DEFAULT_TOPOLOGY_LIMITS,
  ) {}

  /**
   * Parses text; syntax errors go to `issues`, and the value is then undefined.
   * What could make parsing itself expensive (size, nesting, aliases) is
   * refused first, as a problem of the whole document.
   */
  static parse(source: SourceFile, issues: TopologyIssue[], limits: Readonly<TopologyLimits> = DEFAULT_TOPOLOGY_LIMITS): Located {
    const refuse = (message: string): Located => {
      issues.push({ file: source.name, line: null, column: null, path: '(document)', message });
      return new Located(source.name, null, null, undefined, limits);
    };
    const bytes = Buffer.byteLength(source.text, 'utf8');
    if (bytes > limits.documentBytes) return refuse(`is ${String(bytes)} bytes; ${limitText('documentBytes', limits)}`);
    if (bracketDepth(source.text, limits.depth) > limits.depth) return refuse(`nests brackets more than ${String(limits.depth)} deep; ${limitText('depth', limits)}`);
    const lines = new LineCounter();
    const doc = parseDocument(source.text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const pos = lines.linePos(e.pos[0]);
        issues.push({ file: source.name, line: pos.line, column: pos.col, path: '(syntax)', message: e.message.split('\n')[0] ?? e.message });
      }
      return new Located(source.name, doc, lines, undefined, limits);
    }
    const shape = documentShape(doc, limits);
    if (shape.aliases > limits.yamlAliases) return refuse(`uses ${String(shape.aliases)} YAML aliases; ${limitText('yamlAliases', limits)}`);
    if (shape.depth > limits.depth) return refuse(`nests mappings and lists more than ${String(limits.depth)} deep; ${limitText('depth', limits)}`);
    let value: unknown;
    try {
      // Aliases of aliases still multiply: the parser's own guard stops an expansion past its budget.
      value = doc.toJS({ maxAliasCount: limits.yamlAliases });
    } catch (error) {
      if (!(error instanceof ReferenceError)) throw error;
      return refuse(`YAML aliases expand too much (${error.message}); ${limitText('yamlAliases', limits)}`);
    }
    return new Located(source.name, doc, lines, value, limits);
  }

  /** A value that came from code, not a file: issues carry the file name only. */
  static fromValue(file: string, value: unknown, limits: Readonly<TopologyLimits> = DEFAULT_TOPOLOGY_LIMITS): Located {
    return new Located(file, null, null, value, limits);
  }

  /**
   * Where `path` is: its value, or with `key` its key. A path that does not
   * exist (a missing field) points at its nearest existing parent.
   */
  position(path: Path, key = false): { line: number; column: number } | null {
    if (!this.doc || !this.lines) return null;
    let node: unknown = this.doc.contents;
    let range: readonly number[] | undefined = rangeOf(node);
    for (const [i, step] of path.entries()) {
      const last = i === path.length - 1;
      if (isMap(node)) {
        const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(step));
        if (!pair) break;
        if (last && key) {
          range = rangeOf(pair.key) ?? range;
          break;
        }
        node = pair.value;
      } else if (isSeq(node) && typeof step === 'number') {
        node = node.items[step];
      } else break;
      range = rangeOf(node) ?? range;
      if (node === undefined || node === null) break;
    }
    if (!range || range[0] === undefined) return null;
    const pos = this.lines.linePos(range[0]);
    return { line: pos.line, column: pos.col };
  }
}

function rangeOf(node: unknown): readonly number[] | undefined {
  if (typeof node !== 'object' || node === null || !('range' in node)) return undefined;
  const r = (node as { range?: unknown }).range;
  return Array.isArray(r) ? (r as number[]) : undefined;
}

/** Aliases and nesting depth of a parsed document, walked without recursion on our side. */
function documentShape(doc: Document, limits: Readonly<TopologyLimits>): { aliases: number; depth: number } {
  let aliases = 0;
  let depth = 0;
  visit(doc, {
    Alias() {
      aliases += 1;
      return aliases > limits.yamlAliases ? visit.BREAK : undefined;
    },
    Node(_key, node, path) {
      if (isAlias(node) || isScalar(node)) return undefined;
      // The path holds the document, then a pair and a collection per level.
      const level = path.filter((p) => !isPair(p)).length;
      if (level > depth) depth = level;
      return depth > limits.depth ? visit.BREAK : undefined;
    },
  });
  return { aliases, depth };
}

/** Collects problems with their positions. */
export class Issues {
  readonly list: TopologyIssue[] = [];

  add(at: Located, path: Path, message: string, opts: { key?: boolean } = {}): void {
    const pos = at.position(path, opts.key ?? false);
    this.list.push({ file: at.file, line: pos?.line ?? null, column: pos?.column ?? null, path: formatPath(path), message });
  }

  get count(): number {
    return this.list.length;
  }

  throwIfAny(): void {
    if (this.list.length > 0) throw new TopologyError(this.list);
  }
}

// ---- small typed readers: each reports into Issues and returns undefined on a problem ----

export type Obj = Record<string, unknown>;

export const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

export function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (isObj(v)) return 'a mapping';
  const text = JSON.stringify(v);
  // A message quotes what it refuses, but not a megabyte of it.
  return `a ${typeof v} (${text.length > 80 ? `${text.slice(0, 60)}… (${String(text.length)} characters)` : text})`;
}

/** A field in a mapping. */
export interface Field {
  at: Located;
  path: Path;
  value: unknown;
}

export function child(f: Field, key: string | number): Field {
  const v = Array.isArray(f.value) && typeof key === 'number' ? (f.value as unknown[])[key] : isObj(f.value) ? f.value[String(key)] : undefined;
  return { at: f.at, path: [...f.path, key], value: v };
}

export function asObj(f: Field, issues: Issues): Obj | undefined {
  if (isObj(f.value)) return f.value;
  issues.add(f.at, f.path, `must be a mapping, got ${kindOf(f.value)}`);
  return undefined;
}

export function asList(f: Field, issues: Issues): unknown[] | undefined {
  if (Array.isArray(f.value)) return f.value as unknown[];
  issues.add(f.at, f.path, `must be a list, got ${kindOf(f.value)}`);
  return undefined;
}

export function asString(f: Field, issues: Issues, opts: { required?: boolean } = {}): string | undefined {
  if (f.value === undefined) {
    if (opts.required === true) issues.add(f.at, f.path, 'is required');
    return undefined;
  }
  if (typeof f.value === 'string' && f.value.length > f.at.limits.stringLength) {
    issues.add(f.at, f.path, `is ${String(f.value.length)} characters long; ${limitText('stringLength', f.at.limits)}`);
    return undefined;
  }
  if (typeof f.value === 'string' && f.value.trim() !== '') return f.value;
  // The thesis wrote versions as "1"; a bare 1 in YAML means the same.
  if (typeof f.value === 'number') return String(f.value);
  issues.add(f.at, f.path, typeof f.value === 'string' ? 'must not be empty' : `must be a string, got ${kindOf(f.value)}`);
  return undefined;
}

export function asInt(f: Field, issues: Issues, min: number): number | undefined {
  if (f.value === undefined) {
    issues.add(f.at, f.path, 'is required');
    return undefined;
  }
  if (typeof f.value !== 'number' || !Number.isSafeInteger(f.value) || f.value < min) {
    issues.add(f.at, f.path, `must be an integer >= ${String(min)}, got ${kindOf(f.value)}`);
    return undefined;
  }
  return f.value;
}

export function asStringList(f: Field, issues: Issues): string[] | undefined {
  const list = asList(f, issues);
  if (!list) return undefined;
  const out: string[] = [];
  let ok = true;
  for (let i = 0; i < list.length; i += 1) {
    const s = asString(child(f, i), issues, { required: true });
    if (s === undefined) ok = false;
    else out.push(s);
  }
  return ok ? out : undefined;
}

/** Reports keys not in `allowed`, suggesting the closest allowed key for typos. */
export function checkKeys(f: Field, o: Obj, allowed: readonly string[], issues: Issues): void {
  for (const k of Object.keys(o)) {
    if (allowed.includes(k)) continue;
    const near = closest(k, allowed);
    issues.add(f.at, [...f.path, k], `unknown field${near === null ? '' : ` (did you mean "${near}"?)`}; allowed: ${allowed.join(', ')}`, { key: true });
  }
}

function closest(word: string, options: readonly string[]): string | null {
  let best: string | null = null;
  let bestD = Infinity;
  for (const o of options) {
    const d = distance(word.toLowerCase(), o.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = o;
    }
  }
  return bestD <= Math.max(word.length >= 4 ? 2 : 1, Math.floor(word.length / 3)) ? best : null;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const cur = [i];
    for (let j = 1; j <= b.length; j += 1) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

export function knownList(names: Iterable<string>): string {
  const list = [...names].sort();
  return list.length === 0 ? 'none' : list.join(', ');
}
