/**
 * Small checked accessors for JSON answers: a wrong shape becomes an
 * OpenStackResponseError naming the field, instead of `undefined` leaking on.
 */
import { OpenStackResponseError } from './errors.ts';

export type JsonObject = Record<string, unknown>;

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function asObject(v: unknown, where: string): JsonObject {
  if (!isObject(v)) throw new OpenStackResponseError(`${where}: expected an object, got ${describe(v)}`);
  return v;
}

export function asArray(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new OpenStackResponseError(`${where}: expected an array, got ${describe(v)}`);
  return v as unknown[];
}

export function field(o: JsonObject, key: string, where: string): unknown {
  if (!(key in o)) throw new OpenStackResponseError(`${where}: missing field "${key}"`);
  return o[key];
}

export function str(o: JsonObject, key: string, where: string): string {
  const v = field(o, key, where);
  if (typeof v !== 'string') throw new OpenStackResponseError(`${where}.${key}: expected a string, got ${describe(v)}`);
  return v;
}

export function num(o: JsonObject, key: string, where: string): number {
  const v = field(o, key, where);
  if (typeof v !== 'number') throw new OpenStackResponseError(`${where}.${key}: expected a number, got ${describe(v)}`);
  return v;
}

export function bool(o: JsonObject, key: string, where: string): boolean {
  const v = field(o, key, where);
  if (typeof v !== 'boolean') throw new OpenStackResponseError(`${where}.${key}: expected a boolean, got ${describe(v)}`);
  return v;
}

/** A string, or undefined when absent or null. */
export function optStr(o: JsonObject, key: string): string | undefined {
  const v = o[key];
  return typeof v === 'string' ? v : undefined;
}

/** A string or null; undefined only when the key is absent. */
export function nullableStr(o: JsonObject, key: string, where: string): string | null | undefined {
  if (!(key in o)) return undefined;
  const v = o[key];
  if (v === null) return null;
  if (typeof v !== 'string') throw new OpenStackResponseError(`${where}.${key}: expected a string or null, got ${describe(v)}`);
  return v;
}

export function optNum(o: JsonObject, key: string): number | undefined {
  const v = o[key];
  return typeof v === 'number' ? v : undefined;
}

export function optBool(o: JsonObject, key: string): boolean | undefined {
  const v = o[key];
  return typeof v === 'boolean' ? v : undefined;
}

export function strOrNum(o: JsonObject, key: string, where: string): string | number {
  const v = field(o, key, where);
  if (typeof v !== 'string' && typeof v !== 'number') {
    throw new OpenStackResponseError(`${where}.${key}: expected a string or number, got ${describe(v)}`);
  }
  return v;
}

export function numberMap(v: unknown, where: string): Record<string, number> {
  const o = asObject(v, where);
  const out: Record<string, number> = {};
  for (const [k, x] of Object.entries(o)) {
    if (typeof x !== 'number') throw new OpenStackResponseError(`${where}.${k}: expected a number, got ${describe(x)}`);
    out[k] = x;
  }
  return out;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v;
}
