/**
 * SLA classes: named bandwidth guarantees assigned to service types, as the
 * thesis's Gold / Wholesale (emm.properties `gold_min`, `gold_max`,
 * `wholesale_min`, `wholesale_max`). Rates go through src/qos/rates.ts, so
 * "100Mbit" and 100000000 mean the same.
 *
 * Config shape (YAML or JSON):
 *   classes: { Gold: { min: 100Mbit, max: 10Gbit, upload_min?: …, upload_max?: …, burst?: … }, … }
 *   assign:  { MediaServer: Gold }      # service type → class
 *   default: Wholesale                  # every other service type
 *
 * `min`/`max` are the download's; `upload_min` guarantees the upload (hose
 * model). An upload guarantee needs an upload cap, so a class with
 * `upload_min` and no `upload_max` caps the upload at `max`.
 *
 * A class is chosen per service instance: its `sla_class`, else the class
 * assigned to its service type, else the default.
 */
import { checkRate, checkSize } from '../qos/rates.ts';
import type { Sla } from '../qos/sla.ts';
import { asObj, asString, checkKeys, child, Issues, knownList, Located, TopologyError, type Field } from './source.ts';
import type { SlaClass, SlaClassConfig, SourceFile } from './types.ts';

/** The thesis's classes: Gold 100 Mbit/s – 10 Gbit/s for MediaServer, Wholesale 100 Mbit/s – 1 Gbit/s for the rest. */
export const DEFAULT_SLA_CLASSES: SlaClassConfig = Object.freeze({
  classes: {
    Gold: { name: 'Gold', minBps: 100_000_000, maxBps: 10_000_000_000, uploadMaxBps: null, uploadMinBps: null, burstBits: null },
    Wholesale: { name: 'Wholesale', minBps: 100_000_000, maxBps: 1_000_000_000, uploadMaxBps: null, uploadMinBps: null, burstBits: null },
  },
  assign: { MediaServer: 'Gold' },
  default: 'Wholesale',
});

const CONFIG_KEYS = ['classes', 'assign', 'default'] as const;
const CLASS_KEYS = ['min', 'max', 'upload_min', 'upload_max', 'burst'] as const;

/**
 * Reads a class config at `f` into `issues`. With `base`, the config is an
 * override: a class given replaces the base's class of that name, `assign`
 * entries are added, and `default` is optional.
 */
export function readSlaClassConfig(f: Field, issues: Issues, base?: SlaClassConfig): SlaClassConfig | undefined {
  const o = asObj(f, issues);
  if (!o) return undefined;
  const before = issues.count;
  checkKeys(f, o, CONFIG_KEYS, issues);
  const classes: Record<string, SlaClass> = { ...(base?.classes ?? {}) };
  const classesField = child(f, 'classes');
  if (classesField.value === undefined) {
    if (!base) issues.add(f.at, classesField.path, 'is required');
  } else {
    const co = asObj(classesField, issues);
    for (const [name, raw] of Object.entries(co ?? {})) {
      const cls = readClass({ at: f.at, path: [...classesField.path, name], value: raw }, name, issues);
      if (cls) classes[name] = cls;
    }
  }
  const assign: Record<string, string> = { ...(base?.assign ?? {}) };
  const assignField = child(f, 'assign');
  if (assignField.value !== undefined) {
    const ao = asObj(assignField, issues);
    for (const type of Object.keys(ao ?? {})) {
      const cf = child(assignField, type);
      const cls = asString(cf, issues, { required: true });
      if (cls === undefined) continue;
      if (!(cls in classes)) issues.add(f.at, cf.path, `unknown SLA class "${cls}" (known: ${knownList(Object.keys(classes))})`);
      else assign[type] = cls;
    }
  }
  const defField = child(f, 'default');
  let def = base?.default;
  if (defField.value !== undefined || !base) {
    const d = asString(defField, issues, { required: true });
    if (d !== undefined && !(d in classes)) issues.add(f.at, defField.path, `unknown SLA class "${d}" (known: ${knownList(Object.keys(classes))})`);
    else if (d !== undefined) def = d;
  }
  if (issues.count > before || def === undefined) return undefined;
  return { classes, assign, default: def };
}

function readClass(f: Field, name: string, issues: Issues): SlaClass | undefined {
  const o = asObj(f, issues);
  if (!o) return undefined;
  const before = issues.count;
  checkKeys(f, o, CLASS_KEYS, issues);
  const rate = (key: string, required: boolean): number | null | undefined => {
    const rf = child(f, key);
    if (rf.value === undefined) {
      if (required) issues.add(f.at, rf.path, 'is required');
      return required ? undefined : null;
    }
    const r = checkRate(rf.value);
    if (!r.ok) {
      issues.add(f.at, rf.path, r.message);
      return undefined;
    }
    return r.value;
  };
  const min = rate('min', true);
  const max = rate('max', true);
  const uploadMax = rate('upload_max', false);
  const uploadMin = rate('upload_min', false);
  let burst: number | null | undefined = null;
  const bf = child(f, 'burst');
  if (bf.value !== undefined) {
    const b = checkSize(bf.value);
    if (b.ok) burst = b.value;
    else {
      issues.add(f.at, bf.path, b.message);
      burst = undefined;
    }
  }
  if (typeof min === 'number' && typeof max === 'number' && min > max) {
    issues.add(f.at, child(f, 'min').path, `must not exceed max (${String(min)} > ${String(max)} bit/s)`);
  }
  if (typeof max === 'number' && max === 0) issues.add(f.at, child(f, 'max').path, 'must be greater than 0');
  if (typeof uploadMin === 'number') {
    // The cap the upload would get (see uploadCapOf): upload_max, else max.
    const [cap, capName] = typeof uploadMax === 'number' ? [uploadMax, 'upload_max'] : [max, 'max (the upload cap when upload_max is absent)'];
    if (typeof cap === 'number' && uploadMin > cap) {
      issues.add(f.at, child(f, 'upload_min').path, `must not exceed ${capName} (${String(uploadMin)} > ${String(cap)} bit/s)`);
    }
  }
  if (issues.count > before || min === undefined || max === undefined || uploadMax === undefined || uploadMin === undefined || burst === undefined) return undefined;
  return { name, minBps: min ?? 0, maxBps: max ?? 0, uploadMaxBps: uploadMax, uploadMinBps: uploadMin, burstBits: burst };
}

/**
 * Parses a class config from a file (YAML or JSON text) or from a value
 * built in code. Throws TopologyError naming every bad field.
 */
export function parseSlaClassConfig(input: SourceFile | { name?: string; value: unknown }, base?: SlaClassConfig): SlaClassConfig {
  const issues = new Issues();
  const at = 'text' in input ? Located.parse(input, issues.list) : Located.fromValue(input.name ?? 'sla-classes', input.value);
  if (issues.count === 0) {
    const cfg = readSlaClassConfig({ at, path: [], value: at.value }, issues, base);
    if (cfg) return cfg;
  }
  throw new TopologyError(issues.list);
}

/** The class of a service instance: its own `sla_class`, else its service type's, else the default. */
export function slaClassName(serviceType: string, override: string | null, config: SlaClassConfig): string {
  return override ?? config.assign[serviceType] ?? config.default;
}

export function slaClass(name: string, config: SlaClassConfig): SlaClass {
  const cls = config.classes[name];
  if (!cls) throw new TopologyError([{ file: 'sla-classes', line: null, column: null, path: 'classes', message: `unknown SLA class "${name}" (known: ${knownList(Object.keys(config.classes))})` }]);
  return cls;
}

/**
 * The upload cap of the class: `upload_max`, else `max` when the class
 * guarantees an upload (the agent needs a cap to guarantee within), else none
 * (the upload is left alone, as the thesis did).
 */
export function uploadCapOf(cls: SlaClass): number | null {
  return cls.uploadMaxBps ?? (cls.uploadMinBps === null ? null : cls.maxBps);
}

/** What the agent enforces for a unit of the class (pair guarantees come from the topology, not the class). */
export function slaOf(cls: SlaClass): Sla {
  const uploadCap = uploadCapOf(cls);
  return {
    download: { minRate: cls.minBps, maxRate: cls.maxBps, ...(cls.burstBits === null ? {} : { burst: cls.burstBits }) },
    ...(uploadCap === null ? {} : { upload: { ...(cls.uploadMinBps === null ? {} : { minRate: cls.uploadMinBps }), maxRate: uploadCap } }),
  };
}
