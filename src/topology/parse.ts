/**
 * Topology parsing: the thesis's documents (a topology JSON plus service-type
 * JSONs) or one YAML file holding both. Every problem is collected and
 * reported at once, each with file:line:column and the field path.
 */
import { checkRate } from '../qos/rates.ts';
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
  const serviceType = asString(child(f, 'service_type'), issues, { required: true });
  const version = o.version === undefined ? null : (asString(child(f, 'version'), issues) ?? null);
  for (const k of ['image', 'flavor', 'size', 'networks'] as const) if (o[k] === undefined) issues.add(f.at, [...f.path, k], 'is required');
  const common = readCommon(f, o, issues);
  if (serviceType === undefined) return undefined;
  return { ...common, serviceType, version, field: f };
}

/** Service types from several files, each holding one service type or a list of them. */
function readServiceTypes(fields: Field[], issues: Issues): Map<string, ServiceTypeRead> {
  const out = new Map<string, ServiceTypeRead>();
  for (const f of fields) {
    const items: Field[] = Array.isArray(f.value) ? (f.value as unknown[]).map((_, i) => child(f, i)) : [f];
    for (const item of items) {
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
  const list = asList(siField, issues) ?? [];
  if (Array.isArray(siField.value) && list.length === 0) issues.add(siField.at, siField.path, 'needs at least one service instance');
  const instances: InstanceRead[] = [];
  const names = new Map<string, Field>();
  for (let i = 0; i < list.length; i += 1) {
    const f = child(siField, i);
    const o = asObj(f, issues);
    if (!o) continue;
    checkKeys(f, o, INSTANCE_KEYS, issues);
    const siName = asString(child(f, 'name'), issues, { required: true });
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
    const tl = asList(trafficField, issues) ?? [];
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

  return {
    name,
    serviceInstances: instances.map((x) => x.si),
    units,
    traffic,
    trafficDeclared: trafficField !== undefined,
    slaClasses: classes,
  };
}

function rootOf(at: Located, issues: Issues, allowed: readonly string[]): { field: Field; name: string | undefined } | undefined {
  const field: Field = { at, path: [], value: at.value };
  const o = asObj(field, issues);
  if (!o) return undefined;
  checkKeys(field, o, allowed, issues);
  const name = asString(child(field, 'name'), issues, { required: true });
  if (o.service_instances === undefined) issues.add(at, ['service_instances'], 'is required');
  return { field, name };
}

/**
 * The thesis's format: a topology document (`name`, `service_instances`) and
 * service-type documents, each file one service type or a list of them.
 */
export function parseThesisTopology(topology: SourceFile, services: readonly SourceFile[], options: ParseOptions = {}): Topology {
  const issues = new Issues();
  const top = Located.parse(topology, issues.list);
  const serviceDocs = services.map((s) => Located.parse(s, issues.list));
  const types = readServiceTypes(
    serviceDocs.filter((d) => d.value !== undefined).map((d) => ({ at: d, path: [], value: d.value })),
    issues,
  );
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

/**
 * One YAML (or JSON) file: `name`, `services` (service types),
 * `service_instances`, optional `traffic` and `sla_classes` (overrides on top
 * of `options.slaClasses`).
 */
export function parseTopologyYaml(file: SourceFile, options: ParseOptions = {}): Topology {
  const issues = new Issues();
  const at = Located.parse(file, issues.list);
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
