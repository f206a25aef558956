/**
 * Changes to a running topology (PATCH /v1/topologies/{id}): a service instance's SLA class, and
 * its unit count within its `size.min..max`. They are kept next to the submitted documents and
 * applied after parsing them, so the stored request stays what the user sent and the topology
 * the manager works with is always documents + changes. Pure.
 */
import { knownList, TopologyError, type TopologyIssue } from './source.ts';
import type { Topology, Unit } from './types.ts';

export interface InstanceChange {
  /** The SLA class of every unit of the instance. */
  sla_class?: string;
  /** How many units the instance has (its `size.def` from now on). */
  count?: number;
}

/** By service instance name. */
export interface TopologyChanges {
  service_instances: Record<string, InstanceChange>;
}

/** `later` on top of `earlier`, field by field. */
export function mergeChanges(earlier: TopologyChanges | undefined, later: TopologyChanges): TopologyChanges {
  const out: Record<string, InstanceChange> = { ...(earlier?.service_instances ?? {}) };
  for (const [name, change] of Object.entries(later.service_instances)) out[name] = { ...out[name], ...change };
  return { service_instances: out };
}

/**
 * The topology with the changes applied: classes overridden, units added (`<instance>-<n+1>` …)
 * or removed (the highest numbers first). Throws TopologyError naming each change that names an
 * unknown instance or class, or a count outside `size.min..max`, at `/body/service_instances/<name>/…`.
 */
export function applyChanges(topology: Topology, changes: TopologyChanges | undefined, maxUnits = Number.POSITIVE_INFINITY): Topology {
  if (!changes) return topology;
  const issues: TopologyIssue[] = [];
  const at = (name: string, field: string, message: string): void => {
    issues.push({ file: '(request)', line: null, column: null, path: `/body/service_instances/${name}${field === '' ? '' : `/${field}`}`, message });
  };
  const instances = topology.serviceInstances.map((si) => ({ ...si, size: { ...si.size } }));
  const byName = new Map(instances.map((si) => [si.name, si]));
  let units: Unit[] = topology.units;
  for (const [name, change] of Object.entries(changes.service_instances)) {
    const si = byName.get(name);
    if (!si) {
      at(name, '', `no service instance "${name}" in topology ${topology.name} (it has: ${knownList(instances.map((s) => s.name))})`);
      continue;
    }
    if (change.sla_class !== undefined) {
      if (topology.slaClasses.classes[change.sla_class] === undefined) {
        at(name, 'sla_class', `unknown SLA class "${change.sla_class}" (known: ${knownList(Object.keys(topology.slaClasses.classes))})`);
      } else {
        si.slaClass = change.sla_class;
        si.slaClassOverride = change.sla_class;
      }
    }
    if (change.count !== undefined) {
      const { min, max } = si.size;
      if (!Number.isInteger(change.count) || change.count < min || change.count > max) {
        at(name, 'count', `${String(change.count)} units is outside ${name}'s size ${String(min)}..${String(max)}`);
      } else {
        si.size.def = change.count;
        const others = units.filter((u) => u.serviceInstance !== name);
        const own = Array.from({ length: change.count }, (_, i) => ({ id: `${name}-${String(i + 1)}`, serviceInstance: name, index: i + 1 }));
        const taken = new Map(others.map((u) => [u.id, u.serviceInstance]));
        const clash = own.find((u) => taken.has(u.id));
        if (clash) {
          at(name, 'count', `unit name "${clash.id}" would collide with a unit of service instance "${String(taken.get(clash.id))}"`);
          continue;
        }
        // Units keep the order of their instances, as parsing made them.
        const order = new Map(instances.map((s, i) => [s.name, i]));
        units = [...others, ...own].sort((a, b) => (order.get(a.serviceInstance) ?? 0) - (order.get(b.serviceInstance) ?? 0) || a.index - b.index);
      }
    }
  }
  if (issues.length === 0 && units.length > maxUnits) {
    issues.push({ file: '(request)', line: null, column: null, path: '/body/service_instances', message: `brings the topology to ${String(units.length)} units; the limit is ${String(maxUnits)} (limits.units)` });
  }
  if (issues.length > 0) throw new TopologyError(issues);
  return { ...topology, serviceInstances: instances, units };
}
