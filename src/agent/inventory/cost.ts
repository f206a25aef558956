/**
 * What one CloudInventory refresh costs in OpenStack HTTP requests, per service, as a
 * formula of the cloud's size and of what changed. It is written down here, apart from
 * the code that makes the requests, so that a test (test/agent/inventory-calls.test.ts)
 * and the benchmark (bench/inventory-calls.ts) can hold the measured counts to it: a
 * refresh that starts costing more than this is a regression, not a detail.
 *
 * Every page, retry and re-authenticated retry is a request; Keystone's are not counted
 * (one token serves every refresh until it expires). Placement at compute ≥ 2.88; below
 * it (capacity from hypervisor statistics) no Placement request is made and the
 * hypervisors are listed at every refresh.
 */
import type { InventoryCalls } from './types.ts';

/** Nova's default `[api] max_limit`: the largest page it answers whatever `limit` asks. */
export const NOVA_DEFAULT_MAX_LIMIT = 1000;

/**
 * Ports are read by device in batches of this many servers: eventlet (nova-api and
 * neutron-server on Zed) refuses a request line of 8192 bytes or more, and 100 device ids
 * make about 4 700 (200 were refused with 414).
 */
export const PORTS_BY_DEVICE_BATCH = 100;

/**
 * Requests a paged listing of `n` items takes: Nova and Neutron link a next page whenever
 * a page is full, so a listing whose length is a multiple of the page ends with an empty
 * page: floor(n / page) + 1.
 */
export function pages(n: number, pageSize: number): number {
  if (!(pageSize >= 1)) throw new RangeError('pageSize must be >= 1');
  return Math.floor(n / pageSize) + 1;
}

/** Page sizes: the inventory's `pageSize` (L), and Nova's cap on it. */
export interface PageSizes {
  /** L, CloudInventoryOptions.pageSize. @default 1000 */
  pageSize?: number;
  /** Nova's `[api] max_limit`: Nova pages at min(L, it). @default 1000 */
  novaMaxLimit?: number;
}

export interface ColdCostInput extends PageSizes {
  /** H: hypervisors (compute nodes). */
  hypervisors: number;
  /** S: servers of every project (not deleted). */
  servers: number;
  /** P: ports (every port: the listing has no filter). */
  ports: number;
  /** O: providers read, i.e. hosts this agent owns that have a Placement root provider. */
  ownedProviders: number;
}

export interface FullResyncCostInput extends PageSizes {
  hypervisors: number;
  servers: number;
  ports: number;
  /** D: owned providers read again (generation moved, or a host a changed server left or joined). */
  providersRead: number;
}

export interface IncrementalCostInput extends PageSizes {
  /** C: server records Nova's `changes-since` answers (changed, created and deleted). */
  serverRecords: number;
  /** Of those, the deleted ones (status DELETED): their ports are not read. */
  deletedServers: number;
  /**
   * How ports are read: `by-server` (Neutron refuses `changed_since`, Zed's default: by
   * `device_id` for the C − deleted servers) or `changed-since` with `changedPorts` (Pc) answered.
   */
  ports: { by: 'by-server' } | { by: 'changed-since'; changedPorts: number };
  /** The first incremental refresh learns that Neutron refuses `changed_since`: one 400 more. */
  refused?: boolean;
  /** The hypervisors are listed again (a compute service or a root provider came or went): H. */
  relistHypervisors?: number;
  /** D: owned providers read again. */
  providersRead: number;
}

function sizes(p: PageSizes): { nova: number; neutron: number } {
  const l = p.pageSize ?? 1000;
  return { nova: Math.min(l, p.novaMaxLimit ?? NOVA_DEFAULT_MAX_LIMIT), neutron: l };
}

/**
 * The first refresh: nova = 1 (versions; once per Nova client) + pages(H) + 1 (services) + pages(S);
 * neutron = pages(P); placement = 1 (versions) + 1 (providers) + 2·O.
 */
export function coldCalls(c: ColdCostInput): InventoryCalls {
  const l = sizes(c);
  return {
    nova: 1 + pages(c.hypervisors, l.nova) + 1 + pages(c.servers, l.nova),
    neutron: pages(c.ports, l.neutron),
    placement: 2 + 2 * c.ownedProviders,
  };
}

/**
 * A later refresh reading changes: nova = 1 (services) + pages(C) [+ pages(H)];
 * neutron = ceil((C − deleted) / 100) by device [+ 1 the first time], or pages(Pc) with
 * `changed_since`; placement = 1 (providers) + 2·D.
 */
export function incrementalCalls(c: IncrementalCostInput): InventoryCalls {
  const l = sizes(c);
  const neutron =
    c.ports.by === 'by-server' ? Math.ceil((c.serverRecords - c.deletedServers) / PORTS_BY_DEVICE_BATCH) + (c.refused === true ? 1 : 0) : pages(c.ports.changedPorts, l.neutron);
  return {
    nova: 1 + pages(c.serverRecords, l.nova) + (c.relistHypervisors === undefined ? 0 : pages(c.relistHypervisors, l.nova)),
    neutron,
    placement: 1 + 2 * c.providersRead,
  };
}

/**
 * A periodic full resync (versions already known): nova = pages(H) + 1 + pages(S);
 * neutron = pages(P); placement = 1 + 2·D.
 */
export function fullResyncCalls(c: FullResyncCostInput): InventoryCalls {
  const l = sizes(c);
  return {
    nova: pages(c.hypervisors, l.nova) + 1 + pages(c.servers, l.nova),
    neutron: pages(c.ports, l.neutron),
    placement: 1 + 2 * c.providersRead,
  };
}

/** The formula in words, for tables and docs (H, S, P, O, C, D, L as above). */
export const COST_FORMULA: readonly string[] = [
  'pages(N) = floor(N/L) + 1   (L = page size, Nova at most its [api] max_limit; a full page links a next one)',
  'cold         nova      = 1 (versions, once per client) + pages(H) + 1 (services) + pages(S)',
  '             neutron   = pages(P)',
  '             placement = 1 (versions) + 1 (providers) + 2 × O          O = owned hosts with a provider',
  'incremental  nova      = 1 (services) + pages(C)  [+ pages(H) when a host or provider came or went]',
  '             neutron   = ceil((C − deleted)/100) by device_id   [+ 1 the first time: Neutron refuses changed_since]',
  '                         or pages(Pc) with changed_since accepted',
  '             placement = 1 (providers) + 2 × D                       D = owned providers whose generation moved',
  '                                                                         or whose host a changed server left or joined',
  'full resync  nova      = pages(H) + 1 + pages(S);  neutron = pages(P);  placement = 1 + 2 × D',
  'C = server records changes-since answers (changed, created, deleted since the previous refresh began, less the margin)',
];
