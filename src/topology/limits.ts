/**
 * How much one topology may ask for. Every bound is checked while reading the
 * documents, before units are expanded, demands derived or anything planned,
 * so the cost of refusing is the cost of reading the text. The defaults are
 * what one Heat stack of a media service reasonably holds; an operator who
 * needs more raises them in the manager's `limits:` section.
 */
export interface TopologyLimits {
  /** Bytes of one topology or service-type document. */
  documentBytes: number;
  /** Units of one topology: the sum of every service instance's `size.def`; also the largest `size.max`. */
  units: number;
  serviceInstances: number;
  /** Service types given with one topology (its `services:` or the catalog documents). */
  serviceTypes: number;
  /** Entries of `traffic:` in the YAML format. */
  trafficEntries: number;
  /** Unit pairs with a guaranteed demand, once service instances are expanded to their units. */
  demands: number;
  /** Characters of a name: the topology's, a service type's, a service instance's. */
  nameLength: number;
  /** Characters of any other string field (images, flavors, networks, a user_data line…). */
  stringLength: number;
  /** Bytes of one unit's user_data (Nova refuses more than 64 KiB once encoded). */
  userDataBytes: number;
  /** YAML aliases (`*name`) in one document: a few are handy, thousands are a bomb. */
  yamlAliases: number;
  /** Nesting of mappings and lists in one document (a thesis topology needs 6). */
  depth: number;
}

export const DEFAULT_TOPOLOGY_LIMITS: Readonly<TopologyLimits> = Object.freeze({
  documentBytes: 256 * 1024,
  units: 200,
  serviceInstances: 50,
  serviceTypes: 50,
  trafficEntries: 200,
  demands: 20_000,
  nameLength: 64,
  stringLength: 1024,
  userDataBytes: 48 * 1024,
  yamlAliases: 50,
  depth: 32,
});

/** The configuration key of each limit (`limits.<key>` in the manager's YAML), for messages. */
export const LIMIT_KEYS: Readonly<Record<keyof TopologyLimits, string>> = Object.freeze({
  documentBytes: 'document_bytes',
  units: 'units',
  serviceInstances: 'service_instances',
  serviceTypes: 'service_types',
  trafficEntries: 'traffic_entries',
  demands: 'demands',
  nameLength: 'name_length',
  stringLength: 'string_length',
  userDataBytes: 'user_data_bytes',
  yamlAliases: 'yaml_aliases',
  depth: 'depth',
});

/** "the limit is 200 (limits.units)": how every refusal names its bound. */
export function limitText(key: keyof TopologyLimits, limits: TopologyLimits): string {
  return `the limit is ${String(limits[key])} (limits.${LIMIT_KEYS[key]})`;
}

/**
 * Deepest nesting of `[`/`{` in a text, counted without parsing. The YAML
 * parser itself recurses on flow collections: 10 000 nested brackets made it
 * abort the whole process (a fatal out-of-memory in V8's regular expression
 * compiler), so the text is measured before the parser sees it. Brackets in
 * quoted strings and comments are counted too: an over-estimate that only a
 * document full of bracket art would notice.
 */
export function bracketDepth(text: string, stopAbove: number): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x5b || c === 0x7b) {
      depth += 1;
      if (depth > deepest) {
        deepest = depth;
        if (deepest > stopAbove) return deepest;
      }
    } else if ((c === 0x5d || c === 0x7d) && depth > 0) depth -= 1;
  }
  return deepest;
}
