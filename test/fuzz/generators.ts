/**
 * fast-check arbitraries of requests, derived from the services' OpenAPI operations: values
 * that follow each schema (strings, numbers, enums, arrays, nested objects), with what the
 * schemas leave loose filled in from the domain (topology documents, rates, server ids), then
 * hostile mutations: wrong types, missing and extra fields, megabyte strings, deep nesting,
 * NUL and odd Unicode, `../` and %-escapes in path parameters, repeated query keys, YAML alias
 * bombs and huge `def`s, no/invalid/foreign tokens, other content types and methods.
 *
 * Everything is a plain value built by `.map`, so fast-check can shrink it; objects of the
 * running stack are named by placeholders (see client.ts).
 */
import fc from 'fast-check';
import type { AuthMode, Body, FuzzRequest } from './client.ts';
import { opKey, type Operation, type Param, type Schema } from './openapi.ts';

export interface Fixtures {
  /** src/topology/fixtures/thesis/thesis.yaml */
  thesisYaml: string;
  /** A valid one-unit topology (the thesis's Controller alone). */
  smallYaml: string;
  /** topology.json (thesis format) */
  thesisTopology: string;
  /** The thesis service-type documents (*Service.json). */
  serviceTypes: string[];
}

/** How many baseline servers the placeholders `$SERVER0$`… name. */
export const SERVERS = 5;

// ------------------------------------------------------------------ small values

const NASTY = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  '\ufeff',
  '\u202eabc',
  '😀',
  'é',
  '\u0085',
  '\u2028',
  '\r\n',
  '\t',
  '%00',
  '\\u0000',
  '${jndi:ldap://x/a}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  "' OR 1=1 --",
  '../../../../etc/passwd',
  'null',
  'undefined',
  'NaN',
  'Infinity',
  '-0',
  '0x10',
  '1e309',
  'true',
  '[]',
  '{}',
  '__proto__',
  'constructor',
  '$TOPOLOGY$',
  '$SERVER0$',
];

/** A string a careless or hostile client might send anywhere. */
export const nastyString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...NASTY) },
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
);

/** Sizes of huge strings, in characters: up to ~1 MiB, and rarely past the manager's 4 MiB body limit. */
const HUGE_SIZES = [1024, 16_385, 65_536, 262_145, 1_048_576];
export const hugeString: fc.Arbitrary<string> = fc
  .tuple(fc.oneof({ weight: 30, arbitrary: fc.constantFrom(...HUGE_SIZES) }, { weight: 1, arbitrary: fc.constant(4_194_305) }), fc.constantFrom('a', 'é', '😀', '\u0000', 'ab\n', '[', '{"a":'))
  .map(([n, unit]) => unit.repeat(Math.ceil(n / unit.length)).slice(0, n));

const edgeNumber: fc.Arbitrary<number> = fc.constantFrom(0, -1, 1, 0.5, -0.5, 1e308, -1e308, 2 ** 31, 2 ** 32, 2 ** 53 + 2, -(2 ** 53) - 2, 1e21, 5e-324, 1000, 1001);

const anyJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  edgeNumber,
  nastyString,
  fc.constant([]),
  fc.constant({}),
  fc.jsonValue({ maxDepth: 3 }),
);

// ------------------------------------------------------------------ domain values

const RATE_STRINGS = ['100mbit', '1gbit', '10gbit', '1.5mbit', '96kbit', '100Mbit', '100MBIT', '100 mbit', 'mbit', '100mibit', '100mbps', '0', '-1', '1e3mbit', '9999999999999gbit', '100000000', '0x10', ' 100mbit', '100mbit ', '1tbit', '1kbit', '1bit', '8', 'inf', ''];
export const rate: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...RATE_STRINGS) },
  { weight: 3, arbitrary: fc.integer({ min: 0, max: 100_000_000_000 }) },
  { weight: 1, arbitrary: edgeNumber },
  { weight: 1, arbitrary: anyJson },
);

const serverRef: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: 0, max: SERVERS - 1 }).map((i) => `$SERVER${String(i)}$`) },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: SERVERS - 1 }).map((i) => `$SERVERUP${String(i)}$`) },
  { weight: 2, arbitrary: fc.uuid() },
  { weight: 1, arbitrary: nastyString },
);
const hostRef: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('$HOST0$', '$HOST1$') },
  { weight: 1, arbitrary: fc.constantFrom('compute1.example', 'nova:$HOST0$', 'COMPUTE1', ':', '') },
  { weight: 1, arbitrary: nastyString },
);

const slaDirection: fc.Arbitrary<Record<string, unknown>> = fc.record({ min: rate, max: rate, burst: rate }, { requiredKeys: [] });
export const slaBody: fc.Arbitrary<unknown> = fc.record(
  {
    download: slaDirection,
    upload: slaDirection,
    peers: fc.dictionary(serverRef, fc.record({ min: rate }, { requiredKeys: [] }), { maxKeys: 3 }),
  },
  { requiredKeys: [] },
);

export const thesisQosBody: fc.Arbitrary<unknown> = fc.dictionary(
  hostRef,
  fc.dictionary(serverRef, fc.oneof({ weight: 5, arbitrary: fc.record({ qos: fc.record({ 'min-rate': rate, 'max-rate': rate }, { requiredKeys: [] }), name: nastyString }, { requiredKeys: ['qos'] }) }, { weight: 1, arbitrary: anyJson }), { maxKeys: 3 }),
  { maxKeys: 2 },
);

// ------------------------------------------------------------------ topology documents

/** A YAML alias bomb (each level `width` aliases of the previous): 9 levels of 9 expand to 387 million nodes. */
export function aliasBomb(levels: number, width: number, where: 'alone' | 'configuration' | 'name'): (thesis: string) => string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i <= levels; i++) lines.push(`a${String(i)}: &a${String(i)} [${Array.from({ length: width }, () => `*a${String(i - 1)}`).join(',')}]`);
  const top = `*a${String(levels)}`;
  return (thesis) => {
    if (where === 'alone') return `${lines.join('\n')}\nname: x\nservices: ${top}\nservice_instances: ${top}\n`;
    if (where === 'name') return `${lines.join('\n')}\n${thesis.replace(/^name: .*$/m, `name: ${top}`)}`;
    return `${lines.join('\n')}\n${thesis.replaceAll('configuration: {}', `configuration: ${top}`)}`;
  };
}

const DEF_VALUES = ['0', '-1', '2', '50', '200', '201', '1000', '100000', '2147483648', '1e309', '1.5', '"3"', 'null', '[]', '{}', '.inf', '.nan', '0x10', '999999999999999999999', '~', 'yes'];

const lineEdit = fc.record({
  kind: fc.constantFrom('delete', 'duplicate', 'replace', 'indent', 'insert', 'truncate'),
  line: fc.nat(200),
  text: fc.oneof(
    nastyString,
    fc.constantFrom('  - { name: X, service_type: Nope }', '<<: *base', '!!binary aGVsbG8=', 'x: !!js/function "function(){}"', 'y: !!python/object/apply:os.system ["id"]', 'name: dup', 'services: null', '%YAML 1.1', '---', '...', '? [a, b]\n: c', 'traffic: [{between: [Broker, MediaServer], guaranteed: 1e20gbit}]', '\t- tab', 'sla_class: Platinum', 'sla_classes: {classes: {Gold: {min: -1, max: 0}}}'),
  ),
});

function editLines(text: string, edits: readonly { kind: string; line: number; text: string }[]): string {
  const lines = text.split('\n');
  for (const e of edits) {
    const i = lines.length === 0 ? 0 : e.line % lines.length;
    const old = lines[i] ?? '';
    if (e.kind === 'delete') lines.splice(i, 1);
    else if (e.kind === 'duplicate') lines.splice(i, 0, old);
    else if (e.kind === 'replace') lines[i] = old.replace(/:.*$/, `: ${e.text}`);
    else if (e.kind === 'indent') lines[i] = ` ${old}`;
    else if (e.kind === 'insert') lines.splice(i, 0, e.text);
    else lines.length = i;
  }
  return lines.join('\n');
}

/** Topology files as text: the thesis YAML as is, edited, with big or odd sizes, bombs, tags, repeats; JSON; junk. */
export function topologyText(fx: Fixtures): fc.Arbitrary<string> {
  const withDef = fc.record({ value: fc.constantFrom(...DEF_VALUES), all: fc.boolean(), max: fc.constantFrom('same', 'keep', '100000') }).map(({ value, all, max }) => {
    let first = true;
    return fx.thesisYaml.replaceAll(/size: \{ min: (\d+), def: (\d+), max: (\d+) \}/g, (m, mn: string, _def: string, mx: string) => {
      if (!all && !first) return m;
      first = false;
      return `size: { min: ${mn}, def: ${value}, max: ${max === 'same' ? value : max === 'keep' ? mx : max} }`;
    });
  });
  const manyInstances = fc.record({ n: fc.constantFrom(51, 500, 5000), unique: fc.boolean() }).map(({ n, unique }) =>
    fx.thesisYaml.replace(/service_instances:\n[\s\S]*$/, `service_instances:\n${Array.from({ length: n }, (_, i) => `  - { name: ${unique ? `M${String(i)}` : 'M'}, service_type: MediaServer }`).join('\n')}\n`),
  );
  const manyTraffic = fc.constantFrom(201, 5000, 50_000).map((n) => `${fx.thesisYaml}\ntraffic:\n${'  - { between: [Broker, MediaServer], guaranteed: 1mbit }\n'.repeat(n)}`);
  const bomb = fc.record({ levels: fc.integer({ min: 1, max: 9 }), width: fc.integer({ min: 2, max: 9 }), where: fc.constantFrom('alone' as const, 'configuration' as const, 'name' as const) }).map(({ levels, width, where }) => aliasBomb(levels, width, where)(fx.thesisYaml));
  const longLine = fc.tuple(hugeString, fc.constantFrom('name', 'image', 'user_data', 'flavor')).map(([s, key]) => fx.thesisYaml.replace(new RegExp(`^(\\s*)${key}: .*$`, 'm'), `$1${key}: ${JSON.stringify(s)}`));
  const deepYaml = fc.constantFrom(33, 64, 65, 200, 5000).map((d) => fx.thesisYaml.replace('configuration: {}', `configuration: ${'['.repeat(d)}${']'.repeat(d)}`));
  return fc.oneof(
    { weight: 3, arbitrary: fc.constant(fx.thesisYaml) },
    { weight: 8, arbitrary: fc.array(lineEdit, { minLength: 1, maxLength: 3 }).map((edits) => editLines(fx.thesisYaml, edits)) },
    { weight: 5, arbitrary: withDef },
    { weight: 2, arbitrary: manyInstances },
    { weight: 1, arbitrary: manyTraffic },
    { weight: 3, arbitrary: bomb },
    { weight: 2, arbitrary: longLine },
    { weight: 2, arbitrary: deepYaml },
    { weight: 2, arbitrary: fc.constant(fx.thesisTopology) },
    { weight: 2, arbitrary: fc.array(lineEdit, { minLength: 1, maxLength: 2 }).map((edits) => editLines(fx.thesisTopology, edits)) },
    { weight: 2, arbitrary: fc.constantFrom('', '---', '...', 'null', '[]', '{}', '- a\n- b', 'name: x', 'a: 1\n---\nb: 2', '%YAML 9.9\n---\na: 1', ': :', '{', '"\\u0000"', 'name: &a x\nservices: *b') },
    { weight: 2, arbitrary: nastyString },
  );
}

/** The parsed thesis topology (JSON format) as an object, for the `topology: {…}` form. */
export function topologyObject(fx: Fixtures): fc.Arbitrary<unknown> {
  return fc.constantFrom(JSON.parse(fx.thesisTopology) as unknown);
}

// ------------------------------------------------------------------ JSON values from schemas, and their mutations

function stringFor(key: string | undefined, s: Schema, fx: Fixtures): fc.Arbitrary<string> {
  const bounded = fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 24, 64) });
  const known: fc.Arbitrary<string>[] = [];
  if (key === 'topology') known.push(topologyText(fx));
  if (key === 'min' || key === 'max' || key === 'burst') known.push(fc.constantFrom(...RATE_STRINGS));
  if (key === 'service_type') known.push(fc.constantFrom('Controller', 'Broker', 'MediaServer'));
  if (key === 'name') known.push(fc.constantFrom('local_nm_template_minified', 'Controller'));
  if (key === 'topology_file') known.push(fc.constantFrom('topology.yaml', 'topology.json', '../../etc/passwd'));
  return known.length === 0 ? fc.oneof({ weight: 3, arbitrary: bounded }, { weight: 1, arbitrary: nastyString }) : fc.oneof({ weight: 4, arbitrary: fc.oneof(...known) }, { weight: 1, arbitrary: bounded });
}

/** A value following `s` (enums, bounds, required properties), with domain-specific strings where the key says what they are. */
export function fromSchema(s: Schema, fx: Fixtures, key?: string, depth = 0): fc.Arbitrary<unknown> {
  if (s.enum && s.enum.length > 0) return fc.constantFrom(...s.enum);
  const branches = s.anyOf ?? s.oneOf;
  if (branches && branches.length > 0) return fc.oneof(...branches.map((b) => fromSchema(b, fx, key, depth)));
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'string':
      return stringFor(key, s, fx);
    case 'integer':
      return fc.oneof(fc.integer({ min: s.minimum ?? -1000, max: s.maximum ?? 1_000_000_000 }), edgeNumber.filter((n) => Number.isInteger(n)));
    case 'number':
      return fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true }), edgeNumber);
    case 'boolean':
      return fc.boolean();
    case 'array':
      return fc.array(fromSchema(s.items ?? {}, fx, key, depth + 1), { maxLength: depth > 2 ? 1 : 3 });
    case 'object': {
      if (depth > 4) return fc.constant({});
      const props = s.properties ?? {};
      const record = fc.record(Object.fromEntries(Object.entries(props).map(([k, v]) => [k, fromSchema(v, fx, k, depth + 1)])), { requiredKeys: s.required ?? [] });
      const extra = s.additionalProperties;
      if (extra === false || extra === undefined) return record;
      const extraValue = extra === true ? fc.jsonValue({ maxDepth: 1 }) : fromSchema(extra, fx, undefined, depth + 1);
      return fc.tuple(record, fc.dictionary(fc.string({ maxLength: 12 }), extraValue, { maxKeys: Object.keys(props).length === 0 ? 3 : 1 })).map(([a, b]) => ({ ...b, ...a }));
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

export type Mutation =
  | { op: 'wrong-type'; at: number; value: unknown }
  | { op: 'remove'; at: number }
  | { op: 'add'; at: number; key: string; value: unknown }
  | { op: 'huge'; at: number; value: string }
  | { op: 'nasty'; at: number; value: string }
  | { op: 'deep'; at: number; depth: number }
  | { op: 'repeat'; at: number; times: number };

const FIELD_NAMES = ['__proto__', 'constructor', 'prototype', '', 'extra', 'topology', 'services', 'strategy', 'download', 'peers', 'qos', 'def', 'size', 'ünïcode', 'a'.repeat(300)];

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('wrong-type' as const), at: fc.nat(), value: anyJson }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('remove' as const), at: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('add' as const), at: fc.nat(), key: fc.oneof(fc.constantFrom(...FIELD_NAMES), fc.string({ maxLength: 10 })), value: anyJson }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('huge' as const), at: fc.nat(), value: hugeString }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('nasty' as const), at: fc.nat(), value: nastyString }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('deep' as const), at: fc.nat(), depth: fc.constantFrom(10, 32, 63, 64, 65, 200, 1000) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('repeat' as const), at: fc.nat(), times: fc.constantFrom(100, 1000, 10_000) }) },
);

/** A deep copy that keeps own `__proto__` keys as data (they must reach the wire). */
function clone(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(clone);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(v)) define(out, k, clone((v as Record<string, unknown>)[k]));
    return out;
  }
  return v;
}
function define(o: Record<string, unknown>, k: string, value: unknown): void {
  Object.defineProperty(o, k, { value, enumerable: true, writable: true, configurable: true });
}

interface Slot {
  get: () => unknown;
  set: (v: unknown) => void;
  remove: () => void;
}

function slots(root: { v: unknown }): Slot[] {
  const out: Slot[] = [{ get: () => root.v, set: (v) => (root.v = v), remove: () => (root.v = undefined) }];
  const walk = (v: unknown): void => {
    if (out.length > 500) return;
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        out.push({
          get: () => v[i] as unknown,
          set: (n) => (v[i] = n),
          remove: () => {
            v.splice(i, 1);
          },
        });
        walk(x);
      });
    } else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      for (const k of Object.keys(o)) {
        out.push({
          get: () => o[k],
          set: (n) => {
            define(o, k, n);
          },
          remove: () => {
            Reflect.deleteProperty(o, k);
          },
        });
        walk(o[k]);
      }
    }
  };
  walk(root.v);
  return out;
}

export function applyMutations(value: unknown, mutations: readonly Mutation[]): unknown {
  const root = { v: clone(value) };
  for (const m of mutations) {
    const all = slots(root);
    const slot = all[m.at % all.length];
    if (!slot) continue;
    switch (m.op) {
      case 'wrong-type':
        slot.set(clone(m.value));
        break;
      case 'remove':
        slot.remove();
        break;
      case 'add': {
        const target = slot.get();
        if (Array.isArray(target)) target.push(clone(m.value));
        else if (typeof target === 'object' && target !== null) define(target as Record<string, unknown>, m.key, clone(m.value));
        else slot.set({ [m.key]: clone(m.value) });
        break;
      }
      case 'huge':
      case 'nasty':
        slot.set(m.value);
        break;
      case 'deep': {
        let v: unknown = slot.get() ?? null;
        for (let i = 0; i < m.depth; i++) v = i % 2 === 0 ? [v] : { a: v };
        slot.set(v);
        break;
      }
      case 'repeat': {
        const v = slot.get();
        if (JSON.stringify(v ?? null).length <= 2000) slot.set(Array.from({ length: m.times }, () => clone(v)));
        break;
      }
    }
  }
  return root.v;
}

// ------------------------------------------------------------------ bodies, content types, headers, auth

const INVALID_JSON = [
  '{',
  '{"topology": ',
  '{"topology": "a",}',
  "{'topology': 'a'}",
  '{"topology": NaN}',
  '{"topology": Infinity}',
  '{"a": 1} trailing',
  '{"a": 1}{"b": 2}',
  '/* c */ {"topology": "x"}',
  '\ufeff{"topology": "x"}',
  '{"topology": "\\ud800"}',
  '{"topology": "\\u0000"}',
  '{"topology":"a","topology":{}}',
  '{"__proto__": {"polluted": true}, "topology": "x"}',
  '{"constructor": {"prototype": {"polluted": true}}, "topology": "x"}',
  '{"topology": 1e999}',
  '{"topology": -}',
  '[1, 2, ]',
  '"\\x41"',
  '\u0000',
  ' ',
  '\n\t\n',
  'null',
  'true',
  '0',
  '[]',
  '""',
  '{}',
  'topology=x',
  '--x\r\nContent-Disposition: form-data; name="topology"\r\n\r\nx\r\n--x--',
];

const CONTENT_TYPES = [
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/yaml',
  'application/json; charset=utf-16',
  'application/json; charset=iso-8859-1',
  'APPLICATION/JSON',
  'application/json;',
  'application/json; charset=utf-8; foo=bar',
  'application/problem+json',
  'application/vnd.api+json',
  '*/*',
  'application/json, text/plain',
  'application/jsonx',
  'application',
  ';;;',
  '',
  'text/event-stream',
  'application/octet-stream',
];

export const contentType: fc.Arbitrary<string | null> = fc.oneof(
  { weight: 16, arbitrary: fc.constant('application/json') },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 3, arbitrary: fc.constantFrom(...CONTENT_TYPES) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }) },
);

/** Mostly mutated; `intact` of 10 unmutated (rare where an intact body deploys a topology). */
function jsonBody(valueArb: fc.Arbitrary<unknown>, intact = 3): fc.Arbitrary<Body> {
  return fc
    .tuple(valueArb, fc.oneof({ weight: intact, arbitrary: fc.constant([] as Mutation[]) }, { weight: 10 - intact, arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }) }))
    .map(([v, ms]) => ({ kind: 'json' as const, value: ms.length === 0 ? v : applyMutations(v, ms) }));
}

export function bodyFor(op: Operation, fx: Fixtures): fc.Arbitrary<Body | null> {
  const specific: fc.Arbitrary<unknown>[] = [];
  if (op.path === '/v1/plans' || op.path === '/v1/topologies') {
    specific.push(
      fc.record(
        {
          topology: fc.oneof({ weight: 4, arbitrary: topologyText(fx) }, { weight: 1, arbitrary: topologyObject(fx) }),
          services: fc.array(fc.oneof(fc.constantFrom(...fx.serviceTypes), fc.constantFrom(...fx.serviceTypes.map((s) => JSON.parse(s) as unknown)), nastyString), { maxLength: 4 }),
          strategy: fc.oneof(fc.constantFrom('single-host', 'traffic-aware', 'nova'), nastyString),
          topology_file: fc.constantFrom('thesis.yaml', 'topology.json', ''),
        },
        { requiredKeys: ['topology'] },
      ),
    );
  }
  if (op.path === '/topologies') specific.push(topologyObject(fx));
  if (op.path.startsWith('/services')) specific.push(fc.constantFrom(...fx.serviceTypes.map((s) => JSON.parse(s) as unknown)));
  if (op.path === '/v1/servers/{id}/sla') specific.push(slaBody);
  if (op.path === '/qoses') specific.push(thesisQosBody);
  const valid = op.body === undefined ? [] : [fromSchema(op.body.schema, fx)];
  const values = [...specific, ...valid];
  if (values.length === 0) {
    // No body in the document: mostly none, sometimes one anyway.
    return fc.oneof({ weight: 9, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: jsonBody(anyJson) }, { weight: 1, arbitrary: fc.constantFrom(...INVALID_JSON).map((text) => ({ kind: 'text' as const, text })) });
  }
  return fc.oneof(
    { weight: 30, arbitrary: jsonBody(fc.oneof(...values), op.path.endsWith('/topologies') ? 1 : 3) },
    { weight: 5, arbitrary: fc.constantFrom(...INVALID_JSON).map((text) => ({ kind: 'text' as const, text })) },
    {
      weight: 3,
      arbitrary: fc
        .record({ depth: fc.constantFrom(63, 64, 65, 100, 1000, 10_000, 100_000), obj: fc.boolean(), inside: fc.boolean() })
        .map(({ depth, obj, inside }) => ({ kind: 'deep' as const, depth, open: obj ? '{"a":' : '[', close: obj ? '}' : ']', prefix: inside ? '{"topology": ' : '', suffix: inside ? '}' : obj ? '' : '' })),
    },
    { weight: 2, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: hugeString.map((text) => ({ kind: 'text' as const, text })) },
  );
}

export const auth: fc.Arbitrary<AuthMode> = fc.oneof(
  { weight: 70, arbitrary: fc.constant({ mode: 'valid' as const }) },
  { weight: 8, arbitrary: fc.constant({ mode: 'none' as const }) },
  { weight: 5, arbitrary: fc.constant({ mode: 'other-service' as const }) },
  { weight: 7, arbitrary: fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.constantFrom('manager-token-0123456789abcde', 'agent-token-0123456789abcdef0', 'x'.repeat(8000))).map((token) => ({ mode: 'random' as const, token })) },
  {
    weight: 7,
    arbitrary: fc
      .constantFrom('Bearer', 'Bearer ', 'Bearer  ', 'bearer manager-token-0123456789abcdef x', 'Basic bWFuYWdlcjpzZWNyZXQ=', 'Token manager-token-0123456789abcdef', 'Bearer\tmanager-token-0123456789abcdef', 'Bearer manager-token-0123456789abcdef,Bearer x', 'Bearer é', 'Bearer \u00ff\u00fe', 'Negotiate', '')
      .map((value) => ({ mode: 'raw' as const, value })),
  },
  { weight: 3, arbitrary: fc.constantFrom('Bearer nope-nope-nope-nope', 'Basic eDp5').map((first) => ({ mode: 'duplicate' as const, first })) },
);

const headerPair: fc.Arbitrary<[string, string]> = fc.oneof(
  { weight: 3, arbitrary: fc.tuple(fc.constant('x-request-id'), fc.oneof(fc.constantFrom('abc', 'a'.repeat(128), 'a'.repeat(129), 'a b', 'a\u00e9', '../x', '${jndi:x}', ''), fc.string({ maxLength: 20 }))) },
  { weight: 3, arbitrary: fc.tuple(fc.constant('idempotency-key'), fc.oneof(fc.constantFrom('k1', 'fuzz-key', 'a'.repeat(255), 'a'.repeat(256), 'é', '', ' '), fc.string({ maxLength: 20 }))) },
  { weight: 2, arbitrary: fc.tuple(fc.constant('accept'), fc.constantFrom('application/xml', 'text/html', '*/*', 'application/problem+json', 'text/event-stream', '', 'application/json;q=0')) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('cache-control'), fc.constantFrom('no-cache', 'no-store', 'max-age=0')) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('content-encoding'), fc.constantFrom('gzip', 'deflate', 'br', 'identity', 'x')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('x-forwarded-for', 'forwarded', 'x-http-method-override', 'origin', 'range', 'if-none-match'), fc.constantFrom('DELETE', '127.0.0.1', 'bytes=0-1', '*', 'null', 'a'.repeat(4000))) },
);

// ------------------------------------------------------------------ paths and queries

export const SERVICE_TYPES = ['Controller', 'Broker', 'MediaServer'];

/** The objects of the stack a path parameter names: the baseline topology (or the deleted one), a baseline server, a catalog type. */
function knownPathValue(op: Operation, param: Param): fc.Arbitrary<string> {
  if (param.name === 'type') return fc.constantFrom(...SERVICE_TYPES);
  if (op.path.startsWith('/v1/topologies')) return fc.constantFrom('$TOPOLOGY$', '$DELETED$');
  if (op.path.startsWith('/v1/servers')) return fc.integer({ min: 0, max: SERVERS - 1 }).map((i) => `$SERVER${String(i)}$`);
  return fc.constant('x');
}

const PATH_VALUES = [
  '..',
  '../..',
  '../../docs/json',
  '..%2F..%2Fdocs%2Fjson',
  '%2e%2e',
  '%2e%2e%2f%2e%2e%2fhealthz',
  '%2E%2E/%2E%2E/healthz',
  '%252e%252e%252f',
  '..;/',
  '.',
  '%00',
  'a%00b',
  '%',
  '%zz',
  '%C0%AE%C0%AE',
  '%ff%fe',
  '\u00ff\u00fe',
  '%20',
  '%0d%0aSet-Cookie:%20x',
  '$TOPOLOGY$%2F..',
  '$TOPOLOGY$/..',
  '$TOPOLOGY$/',
  '$SERVER0$%00',
  '%24SERVER0%24',
  '-1',
  '0',
  'null',
  '{}',
  '__proto__',
  'constructor',
  '*',
  '%2a',
];

function pathValue(op: Operation, param: Param): fc.Arbitrary<string> {
  const known = knownPathValue(op, param);
  return fc.oneof(
    { weight: 5, arbitrary: known },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: SERVERS - 1 }).map((i) => `$SERVERUP${String(i)}$`) },
    { weight: 3, arbitrary: fc.uuid() },
    { weight: 5, arbitrary: fc.constantFrom(...PATH_VALUES) },
    { weight: 2, arbitrary: nastyString.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '?'))) },
    { weight: 1, arbitrary: fc.constantFrom(256, 4096, 10_000, 20_000).map((n) => 'x'.repeat(n)) },
    { weight: 1, arbitrary: fromSchema(param.schema, { thesisYaml: '', smallYaml: '', thesisTopology: '', serviceTypes: [] }).map((v) => encodeURIComponent(String(v).replace(/[\ud800-\udfff]/g, '?'))) },
  );
}

const QUERY_VALUES: Record<string, string[]> = {
  limit: ['1', '1000', '1001', '0', '-1', '1.5', '1e3', '0x10', '%205', '99999999999999999999', 'NaN', '', 'abc', '1,2'],
  state: ['ACTIVE', 'ACTIVE,FAILED', 'active', ',', 'ACTIVE,', 'DELETED', 'PLANNED%2CDEPLOYING', 'ACTIVE,'.repeat(2000)],
  cursor: ['nope', 'WzFd', 'W251bGwsbnVsbF0', 'WyIyMDIwLTAxLTAxVDAwOjAwOjAwWiIsIngiXQ', 'eyJhIjoxfQ', '%00', 'A'.repeat(5000)],
  marker: ['$HOST0$', '$HOST1$', 'compute9', '', 'a'.repeat(256), '%00'],
  server_id: ['$SERVER0$', '$SERVER0$,$SERVER1$', '$SERVERUP0$', ',', 'x,y', '$SERVER0$,'.repeat(1000), '%00'],
  topology: ['$TOPOLOGY$', '$DELETED$', 'a'.repeat(64), 'a'.repeat(65), '', '%00'],
};

function queryFor(op: Operation): fc.Arbitrary<[string, string | null][]> {
  const declared = op.query.map((p) =>
    fc.option(
      fc.oneof(
        { weight: 4, arbitrary: fc.constantFrom(...(QUERY_VALUES[p.name] ?? ['x'])) },
        { weight: 2, arbitrary: fromSchema(p.schema, { thesisYaml: '', smallYaml: '', thesisTopology: '', serviceTypes: [] }).map((v) => encodeURIComponent(String(v).replace(/[\ud800-\udfff]/g, '?'))) },
        { weight: 1, arbitrary: nastyString.map((s) => encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '?'))) },
      ).map((v): [string, string | null] => [p.name, v]),
      { freq: 2 },
    ),
  );
  const names = op.query.map((p) => p.name);
  const extra = fc.array(
    fc.oneof(
      // The same key twice (or thrice) with different values, and PHP/qs-style arrays and objects.
      fc.tuple(fc.constantFrom(...(names.length > 0 ? names : ['limit'])), fc.constantFrom('1', '2', 'ACTIVE', '')).map(([k, v]): [string, string | null] => [k, v]),
      fc.tuple(fc.constantFrom(...(names.length > 0 ? names : ['a'])).map((k) => `${k}[]`), fc.constant('1')).map(([k, v]): [string, string | null] => [k, v]),
      fc.constantFrom(...(names.length > 0 ? names : ['a'])).map((k): [string, string | null] => [`${k}[a][b]`, '1']),
      fc.constantFrom(...(names.length > 0 ? names : ['a'])).map((k): [string, string | null] => [k, null]),
      fc.tuple(fc.constantFrom('__proto__[x]', 'constructor', '%00', '', '&&', '=', 'a'.repeat(100)), fc.constantFrom('1', '%zz', '')).map(([k, v]): [string, string | null] => [k, v]),
      fc.constantFrom(4000, 17_000).map((n): [string, string | null] => [names[0] ?? 'q', 'x'.repeat(n)]),
    ),
    { maxLength: 3 },
  );
  return fc.tuple(fc.tuple(...declared), fc.oneof({ weight: 3, arbitrary: fc.constant([] as [string, string | null][]) }, { weight: 2, arbitrary: extra })).map(([d, e]) => [...d.filter((x): x is [string, string | null] => x !== null), ...e]);
}

function pathFor(op: Operation): fc.Arbitrary<string> {
  const values = fc.tuple(...op.pathParams.map((p) => pathValue(op, p)));
  const filled = values.map((vs) => op.pathParams.reduce((path, p, i) => path.replace(`{${p.name}}`, vs[i] ?? ''), op.path));
  return fc
    .tuple(filled, fc.oneof({ weight: 12, arbitrary: fc.constant('none') }, { weight: 1, arbitrary: fc.constantFrom('trailing-slash', 'double-slash', 'upper', 'dot-segment', 'encoded-slash', 'semicolon', 'fragment') }))
    .map(([p, m]) => {
      switch (m) {
        case 'trailing-slash':
          return `${p}/`;
        case 'double-slash':
          return p.replace(/\//g, '//');
        case 'upper':
          return p.toUpperCase();
        case 'dot-segment':
          return `/x/..${p}`;
        case 'encoded-slash':
          return p.replace(/\//g, '%2F');
        case 'semicolon':
          return `${p};jsessionid=1`;
        case 'fragment':
          return `${p}#frag`;
        default:
          return p;
      }
    });
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];

/** Any request to `op`, mostly hostile. */
export function hostileRequest(op: Operation, fx: Fixtures): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({
      method: fc.oneof({ weight: 12, arbitrary: fc.constant(op.method) }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
      path: pathFor(op),
      query: queryFor(op),
      auth,
      headers: fc.oneof({ weight: 3, arbitrary: fc.constant([] as [string, string][]) }, { weight: 1, arbitrary: fc.array(headerPair, { maxLength: 3 }) }),
      body: bodyFor(op, fx),
      contentType,
    })
    .map((r) => protectBaseline({ service: op.service, op: opKey(op), ...r, contentType: r.body === null && r.contentType === 'application/json' ? null : r.contentType }));
}

/**
 * The baseline topology is the stack's fixed state (its servers carry the SLAs the agent
 * writes to OVSDB); a valid DELETE of it would only tear down the ground the other requests
 * stand on. Such a request deletes the already deleted topology instead (same route, same
 * auth, idempotent 202): a refused DELETE of the baseline is still fuzzed.
 */
export function protectBaseline(r: FuzzRequest): FuzzRequest {
  if (r.auth.mode === 'valid' && r.method === 'DELETE' && r.service === 'manager' && r.path.includes('$TOPOLOGY$')) return { ...r, path: r.path.replaceAll('$TOPOLOGY$', '$DELETED$') };
  return r;
}

const UNROUTED = ['/', '/v2/plans', '/v1', '/v1/', '/docs', '/docs/json', '/docs/static/%2e%2e/%2e%2e/package.json', '/docs/static/../../package.json', '/%2e%2e/%2e%2e/etc/passwd', '/metrics/..', '/ui/', '/ui/..%2f..%2fpackage.json', '/healthz/', '/HEALTHZ', '/*', '/%00', `/${'a'.repeat(10_000)}`, '/v1/servers//sla', '/v1/servers/%2F/sla', '/v1/topologies/%2F'];

export function unroutedRequest(): fc.Arbitrary<FuzzRequest> {
  return fc
    .record({ service: fc.constantFrom('manager' as const, 'agent' as const), method: fc.constantFrom(...METHODS), path: fc.constantFrom(...UNROUTED), auth, contentType: fc.constantFrom(null, 'application/json') })
    .map((r) => ({ ...r, op: `${r.service} unrouted`, query: [], headers: [], body: r.contentType === null ? null : { kind: 'text' as const, text: '{}' } }));
}

// ------------------------------------------------------------------ valid requests (the happy path)

export function validRequests(ops: readonly Operation[], fx: Fixtures): { plan: fc.Arbitrary<FuzzRequest>; read: fc.Arbitrary<FuzzRequest>; slaReput: fc.Arbitrary<FuzzRequest>; serviceType: fc.Arbitrary<FuzzRequest> | undefined; submit: fc.Arbitrary<FuzzRequest> } {
  const base = { query: [] as [string, string | null][], auth: { mode: 'valid' as const }, headers: [] as [string, string][] };
  const reads = ops.filter((o) => o.method === 'GET');
  const fill = (op: Operation, i: number): string =>
    op.path.replace(/\{(\w+)\}/g, (_m, name: string) => (name === 'type' ? (SERVICE_TYPES[i % SERVICE_TYPES.length] ?? '') : op.path.startsWith('/v1/servers') ? `$SERVER${String(i)}$` : '$TOPOLOGY$'));
  const put = ops.find((o) => o.service === 'manager' && o.method === 'PUT' && o.path === '/services/{type}');
  return {
    plan: fc.constantFrom(fx.thesisYaml, fx.smallYaml).map((topology) => ({ ...base, service: 'manager' as const, op: 'manager POST /v1/plans', method: 'POST', path: '/v1/plans', contentType: 'application/json', body: { kind: 'json' as const, value: { topology } }, valid: 'plan' as const })),
    read: fc.tuple(fc.constantFrom(...reads), fc.integer({ min: 0, max: SERVERS - 1 })).map(([op, i]) => ({
      ...base,
      service: op.service,
      op: opKey(op),
      method: 'GET',
      path: fill(op, i),
      contentType: null,
      body: null,
      valid: 'read' as const,
    })),
    slaReput: fc.integer({ min: 0, max: SERVERS - 1 }).map((i) => ({ ...base, service: 'agent' as const, op: 'agent PUT /v1/servers/{id}/sla', method: 'PUT', path: `/v1/servers/$SERVER${String(i)}$/sla`, contentType: 'application/json', body: { kind: 'text' as const, text: `$SLA${String(i)}$` }, valid: 'sla-reput' as const })),
    // The same document again (the catalog's idempotent replace), where the catalog has one.
    serviceType:
      put === undefined
        ? undefined
        : fc.constantFrom(...fx.serviceTypes).map((text) => ({ ...base, service: 'manager' as const, op: opKey(put), method: 'PUT', path: `/services/${(JSON.parse(text) as { service_type: string }).service_type}`, contentType: 'application/json', body: { kind: 'text' as const, text }, valid: 'service-type' as const })),
    submit: fc.constant({ ...base, service: 'manager' as const, op: 'manager POST /v1/topologies', method: 'POST', path: '/v1/topologies', contentType: 'application/json', body: { kind: 'json' as const, value: { topology: fx.smallYaml } }, valid: 'submit' as const }),
  };
}

/** Every request the suite sends: each operation of both documents, mostly hostile, plus a few valid ones. */
export function requestArbitrary(ops: readonly Operation[], fx: Fixtures): fc.Arbitrary<FuzzRequest> {
  const weightOf = (o: Operation): number => (o.body ? 8 : o.pathParams.length > 0 || o.query.length > 0 ? 3 : 1);
  const valid = validRequests(ops, fx);
  return fc.oneof(
    { weight: 880, arbitrary: fc.oneof(...ops.map((o) => ({ weight: weightOf(o), arbitrary: hostileRequest(o, fx) }))) },
    { weight: 20, arbitrary: unroutedRequest() },
    { weight: 40, arbitrary: valid.plan },
    { weight: 40, arbitrary: valid.read },
    { weight: 10, arbitrary: valid.slaReput },
    ...(valid.serviceType ? [{ weight: 5, arbitrary: valid.serviceType }] : []),
    { weight: 1, arbitrary: valid.submit },
  );
}
