/**
 * The parsed topology: the thesis's topology + service-type documents (or
 * the equivalent single YAML file) with every service-instance override
 * applied. Rates are bit/s.
 */

export interface NetworkSpec {
  /** Name the requirements refer to (`obj_name`), e.g. `Network-1`. */
  name: string;
  /** Neutron network, name or id. */
  privateNet: string;
  /** Neutron subnet, name or id. */
  privateSubnet: string;
  /** External network for a floating IP; null = no floating IP. */
  publicNet: string | null;
  /** Security groups (names or ids); empty = Neutron's default group. */
  securityGroups: string[];
}

export type RequirementParameter = 'private_ip' | 'public_ip';

/** `$BROKER_IP` in the user data ← the `private_ip` of the `Broker` units on `Network-1`. */
export interface Requirement {
  /** Placeholder substituted in the user data, e.g. `$BROKER_IP`. */
  name: string;
  parameter: RequirementParameter;
  /** Service instance providing the value. */
  source: string;
  /** Network of the source service instance. */
  objName: string;
}

export interface SizeSpec {
  min: number;
  def: number;
  max: number;
}

export interface ServiceType {
  serviceType: string;
  version: string | null;
  image: string;
  flavor: string;
  key: string | null;
  configuration: Record<string, unknown>;
  size: SizeSpec;
  networks: NetworkSpec[];
  requirements: Requirement[];
  policies: unknown[];
  /** Shell lines of the user data, before requirement substitution. */
  userData: string[];
}

/** A service instance: its service type with the instance's overrides applied. */
export interface ServiceInstance extends Omit<ServiceType, 'version'> {
  name: string;
  /** SLA class: the instance's `sla_class`, else the class assigned to its service type, else the default. */
  slaClass: string;
  /** The instance's own `sla_class`, if it gave one. */
  slaClassOverride: string | null;
}

/** One VM: `<service instance>-<i>`, i = 1..size.def. */
export interface Unit {
  id: string;
  serviceInstance: string;
  index: number;
}

/** Guaranteed traffic between two service instances (every unit pair) or two units. */
export interface TrafficSpec {
  between: [string, string];
  guaranteedBps: number;
}

export interface SlaClass {
  name: string;
  /** Guaranteed download rate. */
  minBps: number;
  /** Download cap. */
  maxBps: number;
  /** Upload cap; null = the class `max` when `uploadMinBps` is set, else no upload policing. */
  uploadMaxBps: number | null;
  /** Guaranteed upload (hose model); null = none. Never above the upload cap. */
  uploadMinBps: number | null;
  /** HTB burst of the download queue, bits; null = the switch's default. */
  burstBits: number | null;
}

export interface SlaClassConfig {
  classes: Record<string, SlaClass>;
  /** Service type → class name. */
  assign: Record<string, string>;
  /** Class of every service type not in `assign`. */
  default: string;
}

export interface Topology {
  name: string;
  serviceInstances: ServiceInstance[];
  units: Unit[];
  /** Declared traffic; empty when the file has none (demands are then derived from the requirements). */
  traffic: TrafficSpec[];
  /** Whether the file declared `traffic:` (even an empty list), which turns derivation off. */
  trafficDeclared: boolean;
  /** The classes in force: the defaults, the caller's config, then the file's `sla_classes:`. */
  slaClasses: SlaClassConfig;
}

/** One input file: its name (as shown in messages) and its text. */
export interface SourceFile {
  name: string;
  text: string;
  /**
   * A document of the operator's catalog rather than of the request: not counted against
   * limits.service_types (the catalog has its own bound), so a catalog larger than what one
   * request may bring does not refuse every topology parsed with it.
   */
  catalog?: boolean;
}
