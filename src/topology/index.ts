/** Topologies: parsing (thesis JSON and YAML), SLA classes, placement input and Heat templates. */
export type * from './types.ts';
export { parseThesisTopology, parseTopologyYaml, type ParseOptions } from './parse.ts';
export { DEFAULT_SLA_CLASSES, parseSlaClassConfig, slaClass, slaClassName, slaOf } from './sla-classes.ts';
export { placementUnits, trafficDemands } from './traffic.ts';
export {
  floatingIpResource,
  heatResourceName,
  portResource,
  renderHeatTemplate,
  serverResource,
  stackCreateRequest,
  type RenderedTemplate,
  type RenderOptions,
  type StackCreateBody,
} from './heat-template.ts';
export { formatIssue, TopologyError, type TopologyIssue } from './source.ts';
export { DEFAULT_TOPOLOGY_LIMITS, LIMIT_KEYS, limitText, type TopologyLimits } from './limits.ts';
