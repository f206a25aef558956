/**
 * Validation of SLA request bodies into the `Sla` model. Pure.
 *
 * Every problem names its field by a JSON pointer (RFC 6901), and all problems
 * of a body are reported together, not only the first.
 *
 * Modern body (`PUT /v1/servers/{id}/sla`, say):
 * ```
 * { "download": { "min": <rate>?, "max": <rate>, "burst": <size>? },
 *   "upload":   { "min": <rate>?, "max": <rate>, "burst": <size>? },
 *   "peers":    { "<server uuid>": { "min": <rate> }, … }? }
 * ```
 * At least one direction (peers alone are not an SLA: a pair guarantee lives
 * on top of the VM's own caps); unknown fields are refused; rates as in
 * rates.ts (integers in bit/s or tc-style strings); `min` ≤ `max`; `max` > 0;
 * `burst` (bits) ≥ 12000, one 1500-byte MTU. Peers: keys are server UUIDs
 * (case-insensitive, so two spellings of one id are refused), never the
 * server itself, at most MAX_PEERS; each `min` > 0.
 *
 * Original (thesis) body of `POST /qoses`:
 * ```
 * { "<hypervisor hostname>": { "<server uuid>": { "name": "…"?, "qos": { "min-rate": "<bit/s>"?, "max-rate": "<bit/s>" } } } }
 * ```
 * see parseThesisQosBody.
 */
import { checkRate, checkSize, DEFAULT_MAX_RATE, MAX_BURST_BITS, MIN_BURST_BITS, formatRate } from './rates.ts';
import { sortedPeers, type PeerGuarantee, type Sla } from './sla.ts';

export interface Problem {
  /** JSON pointer (RFC 6901) of the field, e.g. `/download/min`; `""` is the whole body. */
  pointer: string;
  message: string;
}

export interface ValidateOptions {
  /** Largest accepted rate, bit/s. @default DEFAULT_MAX_RATE (100 Gbit/s) */
  maxRate?: number;
  /** The server the SLA is for: a peer equal to it is refused (a VM's traffic to itself never crosses its port). */
  serverId?: string;
}

/**
 * Most peers one SLA may name: bounds what one request can ask the agent to
 * keep and enforce. A VM with more pairs than this to guarantee is better
 * served by its hose guarantees (`download.min`, `upload.min`).
 */
export const MAX_PEERS = 256;

type JsonObject = Record<string, unknown>;

function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function own(o: JsonObject, key: string): unknown {
  return Object.hasOwn(o, key) ? o[key] : undefined;
}

/** One JSON pointer reference token (RFC 6901 §3: `~` → `~0`, `/` → `~1`). */
export function pointerToken(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

export function pointer(...keys: readonly string[]): string {
  return keys.map((k) => `/${pointerToken(k)}`).join('');
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'object' ? 'an object' : typeof v;
}

const UUID_LIKE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A Nova server id: 8-4-4-4-12 hex digits, any case, any version bits. */
export function isUuidLike(value: string): boolean {
  return UUID_LIKE.test(value);
}

// ---- the modern body ----

const BODY_FIELDS = ['download', 'upload', 'peers'] as const;
const DIRECTION_FIELDS = ['min', 'max', 'burst'] as const;
const PEER_FIELDS = ['min'] as const;

/**
 * Validates a modern SLA body. Returns the `Sla`, or every problem found.
 */
export function validateSlaRequest(body: unknown, options: ValidateOptions = {}): { sla: Sla } | { problems: Problem[] } {
  const maxRate = options.maxRate ?? DEFAULT_MAX_RATE;
  const problems: Problem[] = [];
  if (!isObject(body)) {
    return { problems: [{ pointer: '', message: `the body must be a JSON object, got ${describe(body)}` }] };
  }
  for (const key of Object.keys(body)) {
    if (!(BODY_FIELDS as readonly string[]).includes(key)) {
      problems.push({ pointer: pointer(key), message: `unknown field "${key}" (expected "download" and/or "upload", and optionally "peers")` });
    }
  }
  const sla: Sla = {};
  const download = own(body, 'download');
  const upload = own(body, 'upload');
  if (download === undefined && upload === undefined) {
    problems.push({ pointer: '', message: 'give at least one direction: "download" and/or "upload"' });
  }
  if (download !== undefined) {
    const d = direction(download, 'download', maxRate, problems);
    if (d) sla.download = d;
  }
  if (upload !== undefined) {
    const u = direction(upload, 'upload', maxRate, problems);
    if (u) sla.upload = u;
  }
  const peers = own(body, 'peers');
  if (peers !== undefined) {
    const p = peerGuarantees(peers, maxRate, options.serverId, problems);
    // `{}` means no pair guarantee: left out, so it reads back as it is stored.
    if (p && p.length > 0) sla.peers = p;
  }
  return problems.length > 0 ? { problems } : { sla };
}

type Direction = NonNullable<Sla['download']>;

/** One direction of the body in model form, or undefined (its problems added). */
function direction(value: unknown, name: 'download' | 'upload', maxRate: number, problems: Problem[]): Direction | undefined {
  if (!isObject(value)) {
    problems.push({ pointer: pointer(name), message: `must be an object like {"max": "100mbit"}, got ${describe(value)}` });
    return undefined;
  }
  const before = problems.length;
  for (const key of Object.keys(value)) {
    if (!(DIRECTION_FIELDS as readonly string[]).includes(key)) {
      problems.push({
        pointer: pointer(name, key),
        message: `unknown field "${key}" (expected ${DIRECTION_FIELDS.map((f) => `"${f}"`).join(', ')})`,
      });
    }
  }
  let max: number | undefined;
  const rawMax = own(value, 'max');
  if (rawMax === undefined) {
    problems.push({ pointer: pointer(name, 'max'), message: 'is required: the cap of this direction, e.g. "100mbit"' });
  } else {
    const r = checkRate(rawMax, { maxRate });
    if (!r.ok) problems.push({ pointer: pointer(name, 'max'), message: r.message });
    else if (r.value === 0) problems.push({ pointer: pointer(name, 'max'), message: 'must be greater than 0' });
    else max = r.value;
  }
  let min: number | undefined;
  const rawMin = own(value, 'min');
  if (rawMin !== undefined) {
    const r = checkRate(rawMin, { maxRate });
    if (r.ok) min = r.value;
    else problems.push({ pointer: pointer(name, 'min'), message: r.message });
  }
  if (min !== undefined && max !== undefined && min > max) {
    problems.push({
      pointer: pointer(name, 'min'),
      message: `must not exceed max: ${formatRate(min)} (${min} bit/s) > ${formatRate(max)} (${max} bit/s)`,
    });
  }
  let burst: number | undefined;
  const rawBurst = own(value, 'burst');
  if (rawBurst !== undefined) {
    const r = checkSize(rawBurst);
    if (!r.ok) problems.push({ pointer: pointer(name, 'burst'), message: r.message });
    else if (r.value < MIN_BURST_BITS) {
      problems.push({
        pointer: pointer(name, 'burst'),
        message: `must be at least ${MIN_BURST_BITS} bits (one 1500-byte packet), got ${r.value}`,
      });
    } else burst = r.value;
  }
  if (problems.length > before || max === undefined) return undefined;
  return { ...(min === undefined ? {} : { minRate: min }), maxRate: max, ...(burst === undefined ? {} : { burst }) };
}

/** The body's `peers` object in model form (lower-case ids, in id order), or undefined (its problems added). */
function peerGuarantees(value: unknown, maxRate: number, serverId: string | undefined, problems: Problem[]): PeerGuarantee[] | undefined {
  if (!isObject(value)) {
    problems.push({ pointer: pointer('peers'), message: `must be an object like {"<server uuid>": {"min": "100mbit"}}, got ${describe(value)}` });
    return undefined;
  }
  const keys = Object.keys(value);
  if (keys.length > MAX_PEERS) {
    // Refused as a whole: a problem per entry of an oversized body would only make a huge answer.
    problems.push({ pointer: pointer('peers'), message: `at most ${MAX_PEERS} peers, got ${keys.length}` });
    return undefined;
  }
  const before = problems.length;
  const self = serverId?.toLowerCase();
  const firstKeyOf = new Map<string, string>();
  const out: PeerGuarantee[] = [];
  for (const key of keys) {
    const at = pointer('peers', key);
    if (!isUuidLike(key)) {
      problems.push({ pointer: at, message: `"${key}" is not a server UUID` });
      continue;
    }
    const id = key.toLowerCase();
    if (id === self) {
      problems.push({ pointer: at, message: 'a server cannot be its own peer' });
      continue;
    }
    const first = firstKeyOf.get(id);
    if (first !== undefined) {
      problems.push({ pointer: at, message: `the same server as "${first}" (ids are case-insensitive); give it once` });
      continue;
    }
    firstKeyOf.set(id, key);
    const entry = value[key];
    if (!isObject(entry)) {
      problems.push({ pointer: at, message: `must be an object like {"min": "100mbit"}, got ${describe(entry)}` });
      continue;
    }
    for (const field of Object.keys(entry)) {
      if (!(PEER_FIELDS as readonly string[]).includes(field)) {
        problems.push({ pointer: pointer('peers', key, field), message: `unknown field "${field}" (expected "min")` });
      }
    }
    const rawMin = own(entry, 'min');
    if (rawMin === undefined) {
      problems.push({ pointer: pointer('peers', key, 'min'), message: 'is required: the rate guaranteed between the two servers, each way, e.g. "100mbit"' });
      continue;
    }
    const r = checkRate(rawMin, { maxRate });
    if (!r.ok) problems.push({ pointer: pointer('peers', key, 'min'), message: r.message });
    else if (r.value === 0) problems.push({ pointer: pointer('peers', key, 'min'), message: 'must be greater than 0 (leave the peer out for no guarantee)' });
    else out.push({ serverId: id, minRate: r.value });
  }
  return problems.length > before ? undefined : sortedPeers(out);
}

/**
 * Problems of an `Sla` already in model form (from storage or code): every
 * value a non-negative safe integer, caps > 0, min ≤ max, bursts in range,
 * at least one direction; peers with lower-case server UUIDs, each once, not
 * `options.serverId`, at most MAX_PEERS, rates > 0. Pointers use the model's
 * names (`/download/maxRate`, `/peers/0/serverId`).
 */
export function checkSla(sla: unknown, options: ValidateOptions = {}): Problem[] {
  const maxRate = options.maxRate ?? DEFAULT_MAX_RATE;
  if (!isObject(sla)) return [{ pointer: '', message: `an SLA must be an object, got ${describe(sla)}` }];
  const problems: Problem[] = [];
  const int = (at: readonly string[], v: unknown, limit: number, required: boolean): number | undefined => {
    if (v === undefined) {
      if (required) problems.push({ pointer: pointer(...at), message: 'is required' });
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0 || v > limit) {
      problems.push({ pointer: pointer(...at), message: `must be an integer 0..${limit}, got ${typeof v === 'number' ? String(v) : describe(v)}` });
      return undefined;
    }
    return v;
  };
  const directionFields: readonly string[] = ['minRate', 'maxRate', 'burst'];
  for (const key of Object.keys(sla)) {
    if (key !== 'download' && key !== 'upload' && key !== 'peers') problems.push({ pointer: pointer(key), message: `unknown field "${key}"` });
  }
  let any = false;
  for (const dir of ['download', 'upload'] as const) {
    const d = own(sla, dir);
    if (d === undefined) continue;
    any = true;
    if (!isObject(d)) {
      problems.push({ pointer: pointer(dir), message: `must be an object, got ${describe(d)}` });
      continue;
    }
    for (const key of Object.keys(d)) {
      if (!directionFields.includes(key)) problems.push({ pointer: pointer(dir, key), message: `unknown field "${key}"` });
    }
    const max = int([dir, 'maxRate'], own(d, 'maxRate'), maxRate, true);
    if (max === 0) problems.push({ pointer: pointer(dir, 'maxRate'), message: 'must be greater than 0' });
    const burst = int([dir, 'burst'], own(d, 'burst'), MAX_BURST_BITS, false);
    if (burst !== undefined && burst < MIN_BURST_BITS) {
      problems.push({ pointer: pointer(dir, 'burst'), message: `must be at least ${MIN_BURST_BITS} bits` });
    }
    const min = int([dir, 'minRate'], own(d, 'minRate'), maxRate, false);
    if (min !== undefined && max !== undefined && min > max) {
      problems.push({ pointer: pointer(dir, 'minRate'), message: `must not exceed maxRate (${min} > ${max})` });
    }
  }
  if (!any) problems.push({ pointer: '', message: 'an SLA needs at least one direction' });
  const peers = own(sla, 'peers');
  if (peers !== undefined) checkPeers(peers, maxRate, options.serverId, int, problems);
  return problems;
}

function checkPeers(
  peers: unknown,
  maxRate: number,
  serverId: string | undefined,
  int: (at: readonly string[], v: unknown, limit: number, required: boolean) => number | undefined,
  problems: Problem[],
): void {
  if (!Array.isArray(peers)) {
    problems.push({ pointer: pointer('peers'), message: `must be an array, got ${describe(peers)}` });
    return;
  }
  if (peers.length > MAX_PEERS) {
    problems.push({ pointer: pointer('peers'), message: `at most ${MAX_PEERS} peers, got ${peers.length}` });
    return;
  }
  const self = serverId?.toLowerCase();
  const seen = new Set<string>();
  peers.forEach((peer: unknown, i) => {
    const at = String(i);
    if (!isObject(peer)) {
      problems.push({ pointer: pointer('peers', at), message: `must be an object, got ${describe(peer)}` });
      return;
    }
    for (const key of Object.keys(peer)) {
      if (key !== 'serverId' && key !== 'minRate') problems.push({ pointer: pointer('peers', at, key), message: `unknown field "${key}"` });
    }
    const id = own(peer, 'serverId');
    if (typeof id !== 'string' || !isUuidLike(id) || id !== id.toLowerCase()) {
      // Lower case only: ids are compared as strings, so another spelling would be another peer.
      problems.push({ pointer: pointer('peers', at, 'serverId'), message: `must be a lower-case server UUID, got ${typeof id === 'string' ? JSON.stringify(id) : describe(id)}` });
    } else if (id === self) {
      problems.push({ pointer: pointer('peers', at, 'serverId'), message: 'a server cannot be its own peer' });
    } else if (seen.has(id)) {
      problems.push({ pointer: pointer('peers', at, 'serverId'), message: `server ${id} is listed twice` });
    } else seen.add(id);
    const min = int(['peers', at, 'minRate'], own(peer, 'minRate'), maxRate, true);
    if (min === 0) problems.push({ pointer: pointer('peers', at, 'minRate'), message: 'must be greater than 0' });
  });
}

// ---- the original (thesis) body of POST /qoses ----

/** The rates of one server as the client gave them, echoed back in the response. */
export interface ThesisRatesEcho {
  'min-rate'?: string;
  'max-rate': string;
}

export interface ThesisQosRequest {
  /** Hypervisor hostname; a `zone:` prefix (the CM sent `nova:<host>`) is removed. */
  host: string;
  /** The key as given (UUID-like, case kept). */
  serverId: string;
  name?: string;
  sla: Sla;
  /** What the original agent echoed back on success. */
  echo: ThesisRatesEcho;
}

export interface ThesisQosParse {
  requests: ThesisQosRequest[];
  problems: Problem[];
}

/**
 * Parses the original agent's `POST /qoses` body. Servers with problems are
 * left out (their problems say why); the others proceed.
 *
 * Compatibility with the original:
 * - a string value where a server entry is expected is skipped, as the
 *   original did (old clients sent e.g. `"hostname": "…"` next to servers);
 * - `min-rate` and `max-rate` may be numbers or strings (the original ran
 *   `int()` on them); rate units are accepted too;
 * - `name` and other fields of a server entry besides `qos` are ignored;
 *   unknown fields inside `qos` are refused (they would otherwise do nothing);
 * - a host key `zone:host` (the CM keyed by `nova:<host>`, weak point 9)
 *   means host `host`.
 *
 * Stricter than the original: `max-rate` is required and > 0 (the original
 * would set `max-rate=0`, i.e. the link speed), `min-rate` ≤ `max-rate`, keys
 * must be server UUIDs, and a server listed under two hosts is refused.
 */
export function parseThesisQosBody(body: unknown, options: ValidateOptions = {}): ThesisQosParse {
  const maxRate = options.maxRate ?? DEFAULT_MAX_RATE;
  const requests: ThesisQosRequest[] = [];
  const problems: Problem[] = [];
  if (!isObject(body)) {
    return {
      requests,
      problems: [{ pointer: '', message: `the body must be a JSON object {"<host>": {"<server uuid>": {"qos": …}}}, got ${describe(body)}` }],
    };
  }
  const firstSeen = new Map<string, { pointer: string; host: string }>();
  const duplicated = new Set<string>();
  for (const [hostKey, servers] of Object.entries(body)) {
    if (typeof servers === 'string') continue;
    if (!isObject(servers)) {
      problems.push({ pointer: pointer(hostKey), message: `must be an object of servers by UUID, got ${describe(servers)}` });
      continue;
    }
    const host = hostOf(hostKey);
    if (host === '') {
      problems.push({ pointer: pointer(hostKey), message: 'the hypervisor hostname is empty' });
      continue;
    }
    for (const [serverId, entry] of Object.entries(servers)) {
      if (typeof entry === 'string') continue;
      const at = pointer(hostKey, serverId);
      if (!isUuidLike(serverId)) {
        problems.push({ pointer: at, message: `"${serverId}" is not a server UUID` });
        continue;
      }
      const key = serverId.toLowerCase();
      const seen = firstSeen.get(key);
      if (seen) {
        problems.push({ pointer: at, message: `server ${serverId} is also listed under host "${seen.host}"; give it once` });
        duplicated.add(key);
        continue;
      }
      firstSeen.set(key, { pointer: at, host });
      const request = thesisEntry(entry, at, host, serverId, maxRate, problems);
      if (request) requests.push(request);
    }
  }
  if (duplicated.size === 0) return { requests, problems };
  for (const key of duplicated) {
    const first = firstSeen.get(key);
    if (first) problems.push({ pointer: first.pointer, message: 'this server is listed under more than one host; none is applied' });
  }
  return { requests: requests.filter((r) => !duplicated.has(r.serverId.toLowerCase())), problems };
}

function hostOf(key: string): string {
  const colon = key.lastIndexOf(':');
  return (colon >= 0 ? key.slice(colon + 1) : key).trim();
}

function thesisEntry(
  entry: unknown,
  at: string,
  host: string,
  serverId: string,
  maxRate: number,
  problems: Problem[],
): ThesisQosRequest | undefined {
  if (!isObject(entry)) {
    problems.push({ pointer: at, message: `must be an object {"qos": {"min-rate": …, "max-rate": …}}, got ${describe(entry)}` });
    return undefined;
  }
  const before = problems.length;
  const nameValue = own(entry, 'name');
  const name = typeof nameValue === 'string' ? nameValue : undefined;
  const qos = own(entry, 'qos');
  if (!isObject(qos)) {
    problems.push({
      pointer: `${at}/qos`,
      message: qos === undefined ? 'is required: {"min-rate": …, "max-rate": …}' : `must be an object, got ${describe(qos)}`,
    });
    return undefined;
  }
  for (const key of Object.keys(qos)) {
    if (key !== 'min-rate' && key !== 'max-rate') {
      problems.push({ pointer: `${at}/qos/${pointerToken(key)}`, message: `unknown field "${key}" (expected "min-rate", "max-rate")` });
    }
  }
  const rawMax = own(qos, 'max-rate');
  const rawMin = own(qos, 'min-rate');
  let max: number | undefined;
  let min: number | undefined;
  if (rawMax === undefined) {
    problems.push({ pointer: `${at}/qos/max-rate`, message: 'is required (bit/s)' });
  } else {
    const r = checkRate(rawMax, { maxRate });
    if (!r.ok) problems.push({ pointer: `${at}/qos/max-rate`, message: r.message });
    else if (r.value === 0) problems.push({ pointer: `${at}/qos/max-rate`, message: 'must be greater than 0' });
    else max = r.value;
  }
  if (rawMin !== undefined) {
    const r = checkRate(rawMin, { maxRate });
    if (!r.ok) problems.push({ pointer: `${at}/qos/min-rate`, message: r.message });
    else min = r.value;
  }
  if (min !== undefined && max !== undefined && min > max) {
    problems.push({ pointer: `${at}/qos/min-rate`, message: `must not exceed max-rate (${min} > ${max} bit/s)` });
  }
  if (problems.length > before || max === undefined) return undefined;
  const echo: ThesisRatesEcho = {
    ...(rawMin === undefined ? {} : { 'min-rate': echoOf(rawMin) }),
    'max-rate': echoOf(rawMax),
  };
  return {
    host,
    serverId,
    ...(name === undefined ? {} : { name }),
    sla: { download: { ...(min === undefined ? {} : { minRate: min }), maxRate: max } },
    echo,
  };
}

function echoOf(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  return typeof raw === 'number' || typeof raw === 'bigint' ? raw.toString() : '';
}

/** The outcome of one server of a `POST /qoses`. */
export interface ThesisQosResult {
  serverId: string;
  /** The request's echo when applied; undefined when the server is not known (the original answered 0). */
  applied: ThesisRatesEcho | undefined;
}

/**
 * The original response: `{ "<server uuid>": {"min-rate": …, "max-rate": …} | 0 }`.
 * Rates are echoed as the client gave them (as strings).
 */
export function thesisQosResponse(results: Iterable<ThesisQosResult>): Record<string, ThesisRatesEcho | 0> {
  const out: Record<string, ThesisRatesEcho | 0> = {};
  for (const r of results) {
    Object.defineProperty(out, r.serverId, {
      value: r.applied ? { ...r.applied } : 0,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
