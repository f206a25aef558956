/**
 * Topology parsing: the thesis's documents (a topology JSON plus service-type
 * JSONs) or one YAML file holding both. Every problem is collected and
 * reported at once, each with file:line:column and the field path.
 */
import { checkRate } from '../qos/rates.ts';
import { DEFAULT_TOPOLOGY_LIMITS, limitText, type TopologyLimits } from './limits.ts';
import { DEFAULT_SLA_CLASSES, readSlaClassConfig, slaClassName } from './sla-classes.ts';
import {
  asInt,
  asList,
  asObj,
  asString,
  asStringList,
  checkKeys,
  child,
  isObj,
  Issues,
  knownList,
  Located,
  formatPath,
  type Field,
  type Obj,
} from './source.ts';
import type { NetworkSpec, Requirement, RequirementParameter, ServiceInstance, SizeSpec, SlaClassConfig, SourceFile, Topology, TrafficSpec, Unit } from './types.ts';

export interface ParseOptions {
  /** Classes in force before the file's own `sla_classes:` (default: the thesis's Gold/Wholesale). */
  slaClasses?: SlaClassConfig;
  /** How much the documents may ask for (default: DEFAULT_TOPOLOGY_LIMITS). */
  limits?: Readonly<TopologyLimits>;
}

/** A name within the name-length limit (names become VM, stack and resource names). */
function checkNameLength(f: Field, name: string | undefined, issues: Issues): string | undefined {
  if (name === undefined || name.length <= f.at.limits.nameLength) return name;
  issues.add(f.at, f.path, `is ${String(name.length)} characters long; ${limitText('nameLength', f.at.limits)}`);
  return undefined;
}

const OVERRIDE_KEYS = ['flavor', 'image', 'key', 'size', 'networks', 'requirements', 'policies', 'user_data', 'configuration'] as const;
const SERVICE_KEYS = ['service_type', 'version', ...OVERRIDE_KEYS] as const;
const INSTANCE_KEYS = ['name', 'service_type', ...OVERRIDE_KEYS, 'sla_class'] as const;
const NETWORK_KEYS = ['name', 'private_net', 'private_subnet', 'public_net', 'security_groups'] as const;
const REQUIREMENT_KEYS = ['name', 'parameter', 'source', 'obj_name'] as const;
const SIZE_KEYS = ['min', 'def', 'max'] as const;
const TRAFFIC_KEYS = ['between', 'guaranteed'] as const;
const THESIS_TOPOLOGY_KEYS = ['name', 'service_instances'] as const;
const YAML_KEYS = ['name', 'services', 'service_instances', 'traffic', 'sla_classes'] as const;
const PARAMETERS: readonly RequirementParameter[] = ['private_ip', 'public_ip'];
/** Names become VM names and Heat resource names. */
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

interface Sourced<T> {
  value: T;
  field: Field;
}

/** Fields a service type gives and a service instance may override; each only when present and valid. */
interface Common {
  image?: string;
  flavor?: string;
  key?: string;
  size?: Sourced<SizeSpec>;
  networks?: Sourced<NetworkSpec>[];
  requirements?: Sourced<Requirement>[];
  policies?: unknown[];
  userData?: string[];
  configuration?: Record<string, unknown>;
}

interface ServiceTypeRead extends Common {
  serviceType: string;
  version: string | null;
  field: Field;
}

function readSize(f: Field, issues: Issues): Sourced<SizeSpec> | undefined {
  const o = asObj(f, issues);
  if (!o) return undefined;
  checkKeys(f, o, SIZE_KEYS, issues);
  const min = asInt(child(f, 'min'), issues, 0);
  const def = asInt(child(f, 'def'), issues, 0);
  const max = asInt(child(f, 'max'), issues, 1);
  if (min === undefined || def === undefined || max === undefined) return undefined;
  if (def > f.at.limits.units) {
    issues.add(f.at, [...f.path, 'def'], `${String(def)} units are more than one topology may have; ${limitText('units', f.at.limits)}`);
    return undefined;
  }
  if (max > f.at.limits.units) {
    issues.add(f.at, [...f.path, 'max'], `${String(max)} units are more than one topology may have; ${limitText('units', f.at.limits)}`);
    return undefined;
  }
  if (!(min <= def && def <= max)) {
    issues.add(f.at, f.path, `must satisfy min <= def <= max, got min ${String(min)}, def ${String(def)}, max ${String(max)}`);
    return undefined;
  }
  return { value: { min, def, max }, field: f };
}

function readNetworks(f: Field, issues: Issues): Sourced<NetworkSpec>[] | undefined {
  const list = asList(f, issues);
  if (!list) return undefined;
  if (list.length === 0) {
    issues.add(f.at, f.path, 'needs at least one network (a unit needs a port)');
    return undefined;
  }
  const out: Sourced<NetworkSpec>[] = [];
  const names = new Set<string>();
  let ok = true;
  for (let i = 0; i < list.length; i += 1) {
    const nf = child(f, i);
    const o = asObj(nf, issues);
    if (!o) {
      ok = false;
      continue;
    }
    checkKeys(nf, o, NETWORK_KEYS, issues);
    const name = asString(child(nf, 'name'), issues, { required: true });
    const privateNet = asString(child(nf, 'private_net'), issues, { required: true });
    const privateSubnet = asString(child(nf, 'private_subnet'), issues, { required: true });
    const publicNet = child(nf, 'public_net').value === undefined ? null : asString(child(nf, 'public_net'), issues);
    const groups = child(nf, 'security_groups').value === undefined ? [] : asStringList(child(nf, 'security_groups'), issues);
    if (name !== undefined && names.has(name)) {
      issues.add(nf.at, child(nf, 'name').path, `duplicate network name "${name}"`);
      ok = false;
    }
    if (name !== undefined) names.add(name);
    if (name === undefined || privateNet === undefined || privateSubnet === undefined || publicNet === undefined || groups === undefined) {
      ok = false;
      continue;
    }
    out.push({ value: { name, privateNet, privateSubnet, publicNet, securityGroups: groups }, field: nf });
  }
  return ok ? out : undefined;
}

function readRequirements(f: Field, issues: Issues): Sourced<Requirement>[] | undefined {
  const list = asList(f, issues);
  if (!list) return undefined;
  const out: Sourced<Requirement>[] = [];
  let ok = true;
  for (let i = 0; i < list.length; i += 1) {
    const rf = child(f, i);
    const o = asObj(rf, issues);
    if (!o) {
      ok = false;
      continue;
    }
    checkKeys(rf, o, REQUIREMENT_KEYS, issues);
    const name = asString(child(rf, 'name'), issues, { required: true });
    const parameter = asString(child(rf, 'parameter'), issues, { required: true });
    const source = asString(child(rf, 'source'), issues, { required: true });
    const objName = asString(child(rf, 'obj_name'), issues, { required: true });
    if (parameter !== undefined && !PARAMETERS.includes(parameter as RequirementParameter)) {
      issues.add(rf.at, child(rf, 'parameter').path, `must be one of ${PARAMETERS.join(', ')}, got "${parameter}"`);
      ok = false;
      continue;
    }
    if (name === undefined || parameter === undefined || source === undefined || objName === undefined) {
      ok = false;
      continue;
    }
    out.push({ value: { name, parameter: parameter as RequirementParameter, source, objName }, field: rf });
  }
  return ok ? out : undefined;
}

function readUserData(f: Field, issues: Issues): string[] | undefined {
  const lines = readUserDataLines(f, issues);
  if (lines === undefined) return undefined;
  const bytes = lines.reduce((n, line) => n + Buffer.byteLength(line, 'utf8') + 1, 0);
  if (bytes > f.at.limits.userDataBytes) {
    issues.add(f.at, f.path, `is ${String(bytes)} bytes; ${limitText('userDataBytes', f.at.limits)}`);
    return undefined;
  }
  return lines;
}

function readUserDataLines(f: Field, issues: Issues): string[] | undefined {
  if (typeof f.value === 'string') {
    const lines = f.value.split(/\r?\n/);
    if (lines.at(-1) === '') lines.pop();
    return lines;
  }
  if (Array.isArray(f.value)) {
    const lines: string[] = [];
    let ok = true;
    for (const [i, line] of (f.value as unknown[]).entries()) {
      if (typeof line === 'string') lines.push(line);
      else {
        issues.add(f.at, [...f.path, i], `must be a string (one shell line), got ${kindOfValue(line)}`);
        ok = false;
      }
    }
    return ok ? lines : undefined;
  }
  issues.add(f.at, f.path, `must be a list of lines or a string, got ${kindOfValue(f.value)}`);
  return undefined;
}

function kindOfValue(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v;
}

function readCommon(f: Field, o: Obj, issues: Issues): Common {
  const out: Common = {};
  const has = (k: string) => o[k] !== undefined;
  if (has('image')) {
    const v = asString(child(f, 'image'), issues);
    if (v !== undefined) out.image = v;
  }
  if (has('flavor')) {
    const v = asString(child(f, 'flavor'), issues);
    if (v !== undefined) out.flavor = v;
  }
  if (has('key')) {
    const v = asString(child(f, 'key'), issues);
    if (v !== undefined) out.key = v;
  }
  if (has('size')) {
    const v = readSize(child(f, 'size'), issues);
    if (v !== undefined) out.size = v;
  }
  if (has('networks')) {
    const v = readNetworks(child(f, 'networks'), issues);
    if (v !== undefined) out.networks = v;
  }
  if (has('requirements')) {
    const v = readRequirements(child(f, 'requirements'), issues);
    if (v !== undefined) out.requirements = v;
  }
  if (has('policies')) {
    const v = asList(child(f, 'policies'), issues);
    if (v !== undefined) out.policies = v;
  }
  if (has('user_data')) {
    const v = readUserData(child(f, 'user_data'), issues);
    if (v !== undefined) out.userData = v;
  }
  if (has('configuration')) {
    const v = asObj(child(f, 'configuration'), issues);
    if (v !== undefined) out.configuration = v;
  }
  return out;
}

function readServiceType(f: Field, issues: Issues): ServiceTypeRead | undefined {
  const o = asObj(f, issues);
  if (!o) return undefined;
  checkKeys(f, o, SERVICE_KEYS, issues);
  const serviceType = checkNameLength(child(f, 'service_type'), asString(child(f, 'service_type'), issues, { required: true }), issues);
  const version = o.version === undefined ? null : (asString(child(f, 'version'), issues) ?? null);
  for (const k of ['image', 'flavor', 'size', 'networks'] as const) if (o[k] === undefined) issues.add(f.at, [...f.path, k], 'is required');
  const common = readCommon(f, o, issues);
  if (serviceType === undefined) return undefined;
  return { ...common, serviceType, version, field: f };
}

/** Parses service-type files and reads them; those of the catalog are not counted against limits.service_types. */
function readServiceTypeFiles(services: readonly SourceFile[], issues: Issues, limits: Readonly<TopologyLimits>): Map<string, ServiceTypeRead> {
  const fields: Field[] = [];
  const fromCatalog = new Set<Field>();
  for (const s of services) {
    const d = Located.parse(s, issues.list, limits);
    if (d.value === undefined) continue;
    const f: Field = { at: d, path: [], value: d.value };
    fields.push(f);
    if (s.catalog === true) fromCatalog.add(f);
  }
  return readServiceTypes(fields, issues, fromCatalog);
}

/** Service types from several files, each holding one service type or a list of them. */
function readServiceTypes(fields: Field[], issues: Issues, fromCatalog: ReadonlySet<Field> = new Set()): Map<string, ServiceTypeRead> {
  const out = new Map<string, ServiceTypeRead>();
  let seen = 0;
  for (const f of fields) {
    const items: Field[] = Array.isArray(f.value) ? (f.value as unknown[]).map((_, i) => child(f, i)) : [f];
    for (const item of items) {
      if (!fromCatalog.has(f)) seen += 1;
      if (seen > item.at.limits.serviceTypes) {
        issues.add(item.at, item.path, `is service type number ${String(seen)}; ${limitText('serviceTypes', item.at.limits)}`);
        return out;
      }
      const st = readServiceType(item, issues);
      if (!st) continue;
      const prev = out.get(st.serviceType);
      if (prev) {
        const where = prev.field.at.position(prev.field.path);
        issues.add(item.at, child(item, 'service_type').path, `duplicate service type "${st.serviceType}" (first defined in ${prev.field.at.file}${where ? `:${String(where.line)}` : ''})`);
        continue;
      }
      out.set(st.serviceType, st);
    }
  }
  return out;
}

interface InstanceRead {
  si: ServiceInstance;
  field: Field;
  requirements: Sourced<Requirement>[];
  networks: Sourced<NetworkSpec>[];
}

function build(name: string, siField: Field, types: Map<string, ServiceTypeRead>, trafficField: Field | undefined, classes: SlaClassConfig, issues: Issues): Topology {
  const limits = siField.at.limits;
  let list = asList(siField, issues) ?? [];
  if (Array.isArray(siField.value) && list.length === 0) issues.add(siField.at, siField.path, 'needs at least one service instance');
  if (list.length > limits.serviceInstances) {
    issues.add(siField.at, siField.path, `has ${String(list.length)} service instances; ${limitText('serviceInstances', limits)}`);
    list = [];
  }
  const instances: InstanceRead[] = [];
  const names = new Map<string, Field>();
  for (let i = 0; i < list.length; i += 1) {
    const f = child(siField, i);
    const o = asObj(f, issues);
    if (!o) continue;
    checkKeys(f, o, INSTANCE_KEYS, issues);
    const siName = checkNameLength(child(f, 'name'), asString(child(f, 'name'), issues, { required: true }), issues);
    const typeName = asString(child(f, 'service_type'), issues, { required: true });
    const override = o.sla_class === undefined ? null : (asString(child(f, 'sla_class'), issues) ?? null);
    const own = readCommon(f, o, issues);
    if (siName !== undefined && !NAME_RE.test(siName)) {
      issues.add(f.at, child(f, 'name').path, `"${siName}" must start with a letter or digit and hold only letters, digits, "-", "_" and "." (it names VMs and Heat resources)`);
    }
    if (siName !== undefined) {
      const prev = names.get(siName);
      if (prev) issues.add(f.at, child(f, 'name').path, `duplicate service instance name "${siName}" (also ${formatPath(prev.path)})`);
      else names.set(siName, f);
    }
    if (override !== null && !(override in classes.classes)) {
      issues.add(f.at, child(f, 'sla_class').path, `unknown SLA class "${override}" (known: ${knownList(Object.keys(classes.classes))})`);
    }
    if (typeName === undefined || siName === undefined) continue;
    const type = types.get(typeName);
    if (!type) {
      issues.add(f.at, child(f, 'service_type').path, `unknown service type "${typeName}" (known: ${knownList(types.keys())})`);
      continue;
    }
    const pick = <K extends keyof Common>(k: K): Common[K] => own[k] ?? type[k];
    const size = pick('size');
    const networks = pick('networks');
    const image = pick('image');
    const flavor = pick('flavor');
    const requirements = pick('requirements') ?? [];
    const cls = slaClassName(typeName, override, classes);
    instances.push({
      si: {
        name: siName,
        serviceType: typeName,
        image: image ?? '',
        flavor: flavor ?? '',
        key: pick('key') ?? null,
        configuration: pick('configuration') ?? {},
        size: size?.value ?? { min: 0, def: 0, max: 0 },
        networks: (networks ?? []).map((n) => n.value),
        requirements: requirements.map((r) => r.value),
        policies: pick('policies') ?? [],
        userData: pick('userData') ?? [],
        slaClass: cls,
        slaClassOverride: override,
      },
      field: f,
      requirements,
      networks: networks ?? [],
    });
  }

  // Requirements name a service instance and one of its networks.
  const byName = new Map(instances.map((x) => [x.si.name, x]));
  for (const x of instances) {
    for (const r of x.requirements) {
      const src = byName.get(r.value.source);
      if (!src) {
        if (!names.has(r.value.source)) {
          issues.add(r.field.at, child(r.field, 'source').path, `unknown service instance "${r.value.source}" (known: ${knownList(names.keys())})${r.field.at !== x.field.at ? ` (required by service instance "${x.si.name}")` : ''}`);
        }
        continue;
      }
      if (src.networks.length === 0) continue;
      const net = src.networks.find((n) => n.value.name === r.value.objName);
      const via = r.field.at !== x.field.at ? ` (required by service instance "${x.si.name}")` : '';
      if (!net) {
        issues.add(r.field.at, child(r.field, 'obj_name').path, `"${r.value.objName}" is not a network of service instance "${src.si.name}" (its networks: ${knownList(src.networks.map((n) => n.value.name))})${via}`);
      } else if (r.value.parameter === 'public_ip' && net.value.publicNet === null) {
        issues.add(r.field.at, child(r.field, 'parameter').path, `public_ip needs a floating IP, but network "${r.value.objName}" of "${src.si.name}" has no public_net${via}`);
      }
    }
  }

  const units: Unit[] = [];
  const unitIds = new Map<string, string>();
  // Counted before a single unit is made: `def: 1000000000` must cost nothing but this sum.
  let total = 0;
  for (const x of instances) {
    total += x.si.size.def;
    if (total > limits.units) {
      issues.add(x.field.at, child(x.field, 'name').path, `brings the topology to ${String(total)} units or more; ${limitText('units', limits)}`);
      instances.length = 0;
      break;
    }
  }
  for (const x of instances) {
    for (let i = 1; i <= x.si.size.def; i += 1) {
      const id = `${x.si.name}-${String(i)}`;
      const other = unitIds.get(id);
      if (other !== undefined) issues.add(x.field.at, child(x.field, 'name').path, `unit name "${id}" collides with a unit of service instance "${other}"`);
      unitIds.set(id, x.si.name);
      units.push({ id, serviceInstance: x.si.name, index: i });
    }
  }

  const traffic: TrafficSpec[] = [];
  if (trafficField) {
    let tl = asList(trafficField, issues) ?? [];
    if (tl.length > limits.trafficEntries) {
      issues.add(trafficField.at, trafficField.path, `has ${String(tl.length)} entries; ${limitText('trafficEntries', limits)}`);
      tl = [];
    }
    for (let i = 0; i < tl.length; i += 1) {
      const f = child(trafficField, i);
      const o = asObj(f, issues);
      if (!o) continue;
      checkKeys(f, o, TRAFFIC_KEYS, issues);
      const bf = child(f, 'between');
      const ends = bf.value === undefined ? (issues.add(f.at, bf.path, 'is required'), undefined) : asStringList(bf, issues);
      let ok = ends !== undefined;
      if (ends && ends.length !== 2) {
        issues.add(f.at, bf.path, `must name exactly two service instances or units, got ${String(ends.length)}`);
        ok = false;
      }
      ends?.forEach((end, j) => {
        if (!names.has(end) && !unitIds.has(end)) {
          issues.add(f.at, [...bf.path, j], `"${end}" is neither a service instance (${knownList(names.keys())}) nor a unit`);
          ok = false;
        }
      });
      const gf = child(f, 'guaranteed');
      let rate: number | undefined;
      if (gf.value === undefined) issues.add(f.at, gf.path, 'is required');
      else {
        const r = checkRate(gf.value);
        if (!r.ok) issues.add(f.at, gf.path, r.message);
        else if (r.value === 0) issues.add(f.at, gf.path, 'must be greater than 0');
        else rate = r.value;
      }
      const [a, b] = ends ?? [];
      if (ok && rate !== undefined && a !== undefined && b !== undefined) traffic.push({ between: [a, b], guaranteedBps: rate });
    }
  }

  // Demands are unit pairs: a service instance talking to itself or to another is a product of unit counts,
  // so they are counted here, before trafficDemands() would make them one by one.
  const pairs = demandPairs(instances, traffic, trafficField !== undefined);
  if (pairs > limits.demands) {
    const where = trafficField ?? siField;
    issues.add(where.at, where.path, `would guarantee ${String(pairs)} pairs of units; ${limitText('demands', limits)}`);
  }

  return {
    name,
    serviceInstances: instances.map((x) => x.si),
    units,
    traffic,
    trafficDeclared: trafficField !== undefined,
    slaClasses: classes,
  };
}

/** How many unit pairs the traffic (declared, or derived from requirements) guarantees at most. */
function demandPairs(instances: readonly InstanceRead[], traffic: readonly TrafficSpec[], declared: boolean): number {
  const count = new Map(instances.map((x) => [x.si.name, x.si.size.def]));
  const pairsOf = (a: string, b: string): number => {
    const na = count.get(a) ?? 1;
    const nb = count.get(b) ?? 1;
    return a === b ? (na * (na - 1)) / 2 : na * nb;
  };
  let pairs = 0;
  const seen = new Set<string>();
  if (declared) {
    // Entries on the same two ends add up their rates, not their pairs.
    for (const t of traffic) {
      const key = [...t.between].sort().join('\u0000');
      if (seen.has(key)) continue;
      seen.add(key);
      pairs += pairsOf(t.between[0], t.between[1]);
    }
    return pairs;
  }
  for (const x of instances) {
    for (const r of x.requirements) {
      const key = [x.si.name, r.value.source].sort().join('\u0000');
      if (seen.has(key) || !count.has(r.value.source)) continue;
      seen.add(key);
      pairs += pairsOf(x.si.name, r.value.source);
    }
  }
  return pairs;
}

function rootOf(at: Located, issues: Issues, allowed: readonly string[]): { field: Field; name: string | undefined } | undefined {
  const field: Field = { at, path: [], value: at.value };
  const o = asObj(field, issues);
  if (!o) return undefined;
  checkKeys(field, o, allowed, issues);
  const name = checkNameLength(child(field, 'name'), asString(child(field, 'name'), issues, { required: true }), issues);
  if (o.service_instances === undefined) issues.add(at, ['service_instances'], 'is required');
  return { field, name };
}

/**
 * The thesis's format: a topology document (`name`, `service_instances`) and
 * service-type documents, each file one service type or a list of them.
 */
export function parseThesisTopology(topology: SourceFile, services: readonly SourceFile[], options: ParseOptions = {}): Topology {
  const issues = new Issues();
  const limits = options.limits ?? DEFAULT_TOPOLOGY_LIMITS;
  const top = Located.parse(topology, issues.list, limits);
  const types = readServiceTypeFiles(services, issues, limits);
  let result: Topology | undefined;
  if (top.value !== undefined) {
    const root = rootOf(top, issues, THESIS_TOPOLOGY_KEYS);
    if (root && isObj(root.field.value) && root.field.value.service_instances !== undefined) {
      result = build(root.name ?? '', child(root.field, 'service_instances'), types, undefined, options.slaClasses ?? DEFAULT_SLA_CLASSES, issues);
    }
  }
  issues.throwIfAny();
  if (!result) throw new Error('unreachable: a topology without issues was not built');
  return result;
}

/** A service type read from its document: what a catalog lists of it. */
export interface ServiceTypeSummary {
  serviceType: string;
  version: string | null;
  /** The file it is in. */
  file: string;
  /** Its document (the element, when its file holds a list). */
  document: unknown;
}

/**
 * Service-type documents on their own, checked exactly as parseThesisTopology
 * checks them (the manager's catalog refuses what a topology would): each file
 * one service type or a list of them, names unique across the files.
 * @throws TopologyError with every problem, each with file:line:column and field.
 */
export function parseServiceTypes(services: readonly SourceFile[], options: ParseOptions = {}): ServiceTypeSummary[] {
  const issues = new Issues();
  const limits = options.limits ?? DEFAULT_TOPOLOGY_LIMITS;
  const types = readServiceTypeFiles(services, issues, limits);
  issues.throwIfAny();
  return [...types.values()].map((t) => ({ serviceType: t.serviceType, version: t.version, file: t.field.at.file, document: t.field.value }));
}

/**
 * One YAML (or JSON) file: `name`, `services` (service types),
 * `service_instances`, optional `traffic` and `sla_classes` (overrides on top
 * of `options.slaClasses`).
 */
export function parseTopologyYaml(file: SourceFile, options: ParseOptions = {}): Topology {
  const issues = new Issues();
  const at = Located.parse(file, issues.list, options.limits ?? DEFAULT_TOPOLOGY_LIMITS);
  let result: Topology | undefined;
  if (at.value !== undefined) {
    const root = rootOf(at, issues, YAML_KEYS);
    if (root) {
      const o = root.field.value as Obj;
      let classes = options.slaClasses ?? DEFAULT_SLA_CLASSES;
      if (o.sla_classes !== undefined) classes = readSlaClassConfig(child(root.field, 'sla_classes'), issues, classes) ?? classes;
      let types = new Map<string, ServiceTypeRead>();
      if (o.services === undefined) issues.add(at, ['services'], 'is required');
      else {
        const sf = child(root.field, 'services');
        const list = asList(sf, issues);
        if (list) types = readServiceTypes(list.map((_, i) => child(sf, i)), issues);
      }
      if (o.service_instances !== undefined) {
        result = build(root.name ?? '', child(root.field, 'service_instances'), types, o.traffic === undefined ? undefined : child(root.field, 'traffic'), classes, issues);
      }
    }
  }
  issues.throwIfAny();
  if (!result) throw new Error('unreachable: a topology without issues was not built');
  return result;
}
