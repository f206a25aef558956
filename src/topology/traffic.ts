/**
 * From a topology to the placement engine's input: one PlacementUnit per
 * unit, and the guaranteed traffic between units.
 *
 * Traffic demands:
 * - Declared (`traffic:` in the YAML file): each entry names two service
 *   instances or units. A service instance stands for all its units, so
 *   `between: [Broker, MediaServer]` is one demand per Broker unit ×
 *   MediaServer unit, each with the entry's `guaranteed` rate; a pair is
 *   never a unit with itself. Entries that yield the same (unordered) pair add
 *   up, since they are separate flows.
 * - Derived (no `traffic:` key at all): a requirement says the consumer talks
 *   to the source, so every unit of the consuming service instance gets a
 *   demand to every unit of the source service instance, guaranteed = the
 *   smaller of the two units' class minimum rates (neither side is promised
 *   more than that). Several requirements between the same two service
 *   instances give one demand per pair, not several.
 * Demands come out in a stable order: by first unit id, then second.
 */
import type { Flavor, PlacementUnit, TrafficDemand } from '../placement/types.ts';
import { slaClass, slaClassName } from './sla-classes.ts';
import { knownList, TopologyError, type TopologyIssue } from './source.ts';
import type { ServiceInstance, SlaClassConfig, Topology } from './types.ts';

function classOf(si: ServiceInstance, topology: Topology, classes: SlaClassConfig) {
  // The parsed name is only valid for the topology's own config; another config re-resolves it by the same rule.
  return slaClass(classes === topology.slaClasses ? si.slaClass : slaClassName(si.serviceType, si.slaClassOverride, classes), classes);
}

/** One PlacementUnit per unit. Throws TopologyError listing every unknown flavor or SLA class. */
export function placementUnits(topology: Topology, flavors: ReadonlyMap<string, Flavor>, classes: SlaClassConfig = topology.slaClasses): PlacementUnit[] {
  const issues: TopologyIssue[] = [];
  const out: PlacementUnit[] = [];
  const siByName = new Map(topology.serviceInstances.map((si, i) => [si.name, { si, i }]));
  for (const unit of topology.units) {
    const entry = siByName.get(unit.serviceInstance);
    if (!entry) continue;
    const { si, i } = entry;
    const flavor = flavors.get(si.flavor);
    let cls;
    try {
      cls = classOf(si, topology, classes);
    } catch (err) {
      if (!(err instanceof TopologyError)) throw err;
      if (unit.index === 1) issues.push({ file: topology.name, line: null, column: null, path: `service_instances[${String(i)}].sla_class`, message: err.issues[0]?.message ?? err.message });
      continue;
    }
    if (!flavor) {
      if (unit.index === 1) {
        issues.push({ file: topology.name, line: null, column: null, path: `service_instances[${String(i)}].flavor`, message: `unknown flavor "${si.flavor}" (known: ${knownList(flavors.keys())})` });
      }
      continue;
    }
    out.push({ id: unit.id, serviceInstance: si.name, flavor, sla: { className: cls.name, minBps: cls.minBps, maxBps: cls.maxBps } });
  }
  if (issues.length > 0) throw new TopologyError(issues);
  return out;
}

/** Guaranteed traffic between units: declared, or derived from the requirements (see the module comment). */
export function trafficDemands(topology: Topology, classes: SlaClassConfig = topology.slaClasses): TrafficDemand[] {
  const unitsOf = new Map<string, string[]>();
  for (const u of topology.units) unitsOf.set(u.serviceInstance, [...(unitsOf.get(u.serviceInstance) ?? []), u.id]);
  const expand = (name: string): string[] => unitsOf.get(name) ?? (topology.units.some((u) => u.id === name) ? [name] : []);
  const demands = new Map<string, TrafficDemand>();
  const key = (a: string, b: string) => (a < b ? `${a}\u0000${b}` : `${b}\u0000${a}`);

  if (topology.trafficDeclared) {
    for (const t of topology.traffic) {
      const seen = new Set<string>();
      for (const a of expand(t.between[0])) {
        for (const b of expand(t.between[1])) {
          const k = key(a, b);
          // [MediaServer, MediaServer] meets each pair twice; it is still one flow.
          if (a === b || seen.has(k)) continue;
          seen.add(k);
          const prev = demands.get(k);
          if (prev) prev.guaranteedBps += t.guaranteedBps;
          else demands.set(k, { a: a < b ? a : b, b: a < b ? b : a, guaranteedBps: t.guaranteedBps });
        }
      }
    }
  } else {
    const si = new Map(topology.serviceInstances.map((s) => [s.name, s]));
    for (const consumer of topology.serviceInstances) {
      const minC = classOf(consumer, topology, classes).minBps;
      for (const r of consumer.requirements) {
        const source = si.get(r.source);
        if (!source) continue;
        const rate = Math.min(minC, classOf(source, topology, classes).minBps);
        for (const a of unitsOf.get(consumer.name) ?? []) {
          for (const b of unitsOf.get(source.name) ?? []) {
            if (a === b) continue;
            const k = key(a, b);
            if (!demands.has(k)) demands.set(k, { a: a < b ? a : b, b: a < b ? b : a, guaranteedBps: rate });
          }
        }
      }
    }
  }
  return [...demands.values()].sort((x, y) => (x.a === y.a ? (x.b < y.b ? -1 : x.b > y.b ? 1 : 0) : x.a < y.a ? -1 : 1));
}
