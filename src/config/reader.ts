/**
 * Shared pieces of the services' configuration readers: every problem is
 * collected with its dotted field path, so a file is reported at once.
 */
import YAML from 'yaml';

/** Shortest accepted bearer token (guessing must be hopeless). */
export const MIN_TOKEN_LENGTH = 16;

export interface ConfigProblem {
  /** Dotted path of the field, e.g. `ovsdb.endpoints.compute1`. */
  field: string;
  message: string;
}

export function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export class ConfigReader {
  readonly problems: ConfigProblem[] = [];

  /** `path` names a nested section in problems (default: `name`). */
  section(root: Record<string, unknown>, name: string, allowed: readonly string[], path = name): Record<string, unknown> {
    const value = root[name];
    if (value === undefined || value === null) return {};
    if (!isRecord(value)) {
      this.problems.push({ field: path, message: 'must be a mapping' });
      return {};
    }
    this.unknownKeys(value, allowed, path);
    return value;
  }

  unknownKeys(value: Record<string, unknown>, allowed: readonly string[], prefix: string): void {
    for (const key of Object.keys(value)) {
      if (!allowed.includes(key)) {
        this.problems.push({ field: prefix ? `${prefix}.${key}` : key, message: `unknown field (allowed: ${allowed.join(', ')})` });
      }
    }
  }

  string(value: unknown, field: string, fallback?: string): string | undefined {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'string' || value === '') {
      this.problems.push({ field, message: 'must be a non-empty string' });
      return fallback;
    }
    return value;
  }

  boolean(value: unknown, field: string, fallback = false): boolean {
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') {
      this.problems.push({ field, message: 'must be true or false' });
      return fallback;
    }
    return value;
  }

  /** A `tls: { cert, key, client_ca? }` section of PEM file names. */
  listenTls(value: unknown, field: string): { cert: string; key: string; clientCa?: string } | undefined {
    if (value === undefined || value === null) return undefined;
    if (!isRecord(value)) {
      this.problems.push({ field, message: 'must be a mapping with cert and key' });
      return undefined;
    }
    this.unknownKeys(value, ['cert', 'key', 'client_ca'], field);
    const cert = this.string(value.cert, `${field}.cert`);
    const key = this.string(value.key, `${field}.key`);
    const clientCa = this.string(value.client_ca, `${field}.client_ca`);
    if (cert === undefined) this.problems.push({ field: `${field}.cert`, message: `is required with ${field}` });
    if (key === undefined) this.problems.push({ field: `${field}.key`, message: `is required with ${field}` });
    if (cert === undefined || key === undefined) return undefined;
    return clientCa === undefined ? { cert, key } : { cert, key, clientCa };
  }

  /** Bearer tokens: a list (or, from the environment, comma-separated) of long enough strings. */
  bearerTokens(value: unknown, field: string): string[] {
    if (value === undefined || value === null) return [];
    const list: unknown = typeof value === 'string' ? value.split(',').map((t) => t.trim()) : value;
    if (!Array.isArray(list)) {
      this.problems.push({ field, message: 'must be a list of strings' });
      return [];
    }
    return list.filter((t, i): t is string => {
      if (typeof t === 'string' && t.length >= MIN_TOKEN_LENGTH) return true;
      this.problems.push({ field: `${field}[${String(i)}]`, message: `must be a string of at least ${String(MIN_TOKEN_LENGTH)} characters` });
      return false;
    });
  }

  integer(value: unknown, field: string, fallback: number, min: number, max: number): number {
    if (value === undefined || value === null) return fallback;
    const n = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
      this.problems.push({ field, message: `must be an integer from ${String(min)} to ${String(max)}` });
      return fallback;
    }
    return n;
  }
}


/** Parses YAML text into a mapping, or returns the problem (with its line) that stops reading it. */
export function parseYamlRoot(text: string | undefined): { root: Record<string, unknown> } | { problem: ConfigProblem } {
  if (text === undefined) return { root: {} };
  const doc = YAML.parseDocument(text);
  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const where = e?.linePos?.[0] ? `line ${String(e.linePos[0].line)}, column ${String(e.linePos[0].col)}` : 'file';
    return { problem: { field: where, message: e?.message.split('\n')[0] ?? 'invalid YAML' } };
  }
  const parsed: unknown = doc.toJS();
  if (parsed === null || parsed === undefined) return { root: {} };
  if (!isRecord(parsed)) return { problem: { field: '(root)', message: 'must be a mapping' } };
  return { root: parsed };
}
