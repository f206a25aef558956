/**
 * Member-by-member parsing of JSON objects (operations, monitor requests)
 * with the error texts of ovsdb-server's ovsdb_parser: only the first
 * problem is kept, and members nobody asked for are reported at the end.
 */
import { OvsdbFailure, canonicalJson, isId, isJsonObject, jsonInteger } from './values.ts';

export type MemberType = 'string' | 'id' | 'object' | 'array' | 'boolean' | 'integer' | 'number' | 'null';

function matches(value: unknown, type: MemberType): boolean {
  switch (type) {
    case 'string':
      return typeof value === 'string';
    case 'id':
      return typeof value === 'string' && isId(value);
    case 'object':
      return isJsonObject(value);
    case 'array':
      return Array.isArray(value);
    case 'boolean':
      return typeof value === 'boolean';
    case 'integer':
      return jsonInteger(value) !== undefined;
    case 'number':
      return typeof value === 'bigint' || (typeof value === 'number' && Number.isFinite(value));
    case 'null':
      return value === null;
  }
}

export class ObjectParser {
  private readonly object: Record<string, unknown> | undefined;
  private readonly used = new Set<string>();
  private failure: OvsdbFailure | undefined;

  /** @param context names the object in messages: "ovsdb operation 1 of 2", "table Bridge". */
  constructor(
    json: unknown,
    private readonly context: string,
  ) {
    if (isJsonObject(json)) this.object = json;
    else this.failure = new OvsdbFailure('syntax error', `Parsing ${context} failed: Object expected.`);
  }

  /** The member's value if present and of one of `types`; records the first problem otherwise. */
  member(name: string, types: readonly MemberType[], optional = false): unknown {
    if (!this.object) return undefined;
    if (!Object.hasOwn(this.object, name)) {
      if (!optional) this.raise(`Required '${name}' member is missing.`);
      return undefined;
    }
    const value = this.object[name];
    if (types.some((t) => matches(value, t))) {
      this.used.add(name);
      return value;
    }
    this.raise(`Type mismatch for member '${name}'.`);
    return undefined;
  }

  raise(message: string): void {
    if (this.failure) return;
    this.failure = new OvsdbFailure(
      'syntax error',
      `Parsing ${this.context} failed: ${message}`,
      this.object === undefined ? undefined : canonicalJson(this.object),
    );
  }

  get error(): OvsdbFailure | undefined {
    return this.failure;
  }

  /** Reports the first member that was never asked for, unless an error came first. */
  finish(): OvsdbFailure | undefined {
    if (!this.failure && this.object) {
      for (const name of Object.keys(this.object)) {
        if (!this.used.has(name)) {
          this.raise(`Member '${name}' is present but not allowed here.`);
          break;
        }
      }
    }
    return this.failure;
  }
}
