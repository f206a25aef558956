/**
 * From a submitted topology to a placement plan: parse the documents, resolve
 * flavors and SLA classes, read the tenant's quota, and run the placement
 * engine on the hosts the agent reports. The request is kept as submitted
 * (files and options), so a resumed or re-planned deployment parses exactly
 * what the user sent.
 */
import type { V1Hosts } from '../agent/hosts-view.ts';
import type { AbsoluteLimits, Flavor as NovaFlavor } from '../openstack/index.ts';
import { placeTopology } from '../placement/index.ts';
import type { Flavor, PlacementPlan, PlacementStrategy, PlacementUnit, TenantQuota, TrafficDemand } from '../placement/types.ts';
import { parseThesisTopology, parseTopologyYaml, placementUnits, trafficDemands } from '../topology/index.ts';
import { applyChanges, type TopologyChanges } from '../topology/changes.ts';
import { DEFAULT_TOPOLOGY_LIMITS, type TopologyLimits } from '../topology/limits.ts';
import type { SlaClassConfig, SourceFile, Topology } from '../topology/types.ts';
import { hostStates, type UplinkConfig } from './cloud-view.ts';

/** What is stored as the topology's `request`: enough to parse it again, byte for byte. */
export interface TopologyRequest {
  /** `thesis`: files[0] is the topology JSON, the rest service-type documents; `yaml`: files[0] is the single file. */
  format: 'thesis' | 'yaml';
  files: SourceFile[];
  strategy: PlacementStrategy;
  /** What PATCH changed since (SLA classes, unit counts), applied on top of the files. */
  changes?: TopologyChanges;
}

export function parseRequest(request: TopologyRequest, classes: SlaClassConfig, limits?: Readonly<TopologyLimits>): Topology {
  const [first, ...rest] = request.files;
  if (!first) throw new Error('a topology request without files');
  const options = { slaClasses: classes, ...(limits ? { limits } : {}) };
  const parsed = request.format === 'yaml' ? parseTopologyYaml(first, options) : parseThesisTopology(first, rest, options);
  return applyChanges(parsed, request.changes, (limits ?? DEFAULT_TOPOLOGY_LIMITS).units);
}

export function flavorMap(flavors: readonly NovaFlavor[]): Map<string, Flavor> {
  const out = new Map<string, Flavor>();
  for (const f of flavors) out.set(f.name, { name: f.name, vcpus: f.vcpus, ramMb: f.ram, diskGb: f.disk });
  return out;
}

/** The tenant's own quota and usage from Nova's `GET /limits` (-1 = unlimited). */
export function tenantQuota(limits: AbsoluteLimits): TenantQuota {
  const a = limits.absolute;
  const line = (limit: string, used: string) => ({ limit: a[limit] ?? -1, inUse: a[used] ?? 0 });
  return {
    instances: line('maxTotalInstances', 'totalInstancesUsed'),
    cores: line('maxTotalCores', 'totalCoresUsed'),
    ramMb: line('maxTotalRAMSize', 'totalRAMUsed'),
  };
}

export interface PlanInputs {
  hosts: V1Hosts;
  flavors: readonly NovaFlavor[];
  limits: AbsoluteLimits | undefined;
  uplink: UplinkConfig;
  /** Guaranteed bit/s of already placed topologies across each host's uplink. */
  committed: ReadonlyMap<string, number>;
  classes: SlaClassConfig;
  /** What the documents may ask for (default: DEFAULT_TOPOLOGY_LIMITS). */
  topologyLimits?: Readonly<TopologyLimits>;
}

export interface PlannedTopology {
  topology: Topology;
  units: PlacementUnit[];
  demands: TrafficDemand[];
  plan: PlacementPlan;
}

/** Pure given its inputs. Throws TopologyError for documents that do not parse or name unknown flavors. */
export function planRequest(request: TopologyRequest, inputs: PlanInputs): PlannedTopology {
  const topology = parseRequest(request, inputs.classes, inputs.topologyLimits);
  const units = placementUnits(topology, flavorMap(inputs.flavors));
  const demands = trafficDemands(topology);
  const plan = placeTopology({
    units,
    demands,
    hosts: hostStates(inputs.hosts, inputs.uplink, inputs.committed),
    ...(inputs.limits ? { quota: tenantQuota(inputs.limits) } : {}),
    strategy: request.strategy,
  });
  return { topology, units, demands, plan };
}
