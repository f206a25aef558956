/**
 * What CloudInventory keeps between refreshes so that it reads only changes: the latest
 * lists, slimmed (their raw JSON dropped: a 200 000-server cloud would otherwise keep
 * gigabytes), the provider generations its capacities were read at, and where Nova's
 * `changes-since` and Neutron's `changed_since` resume. Pure helpers; the HTTP side is
 * in ../inventory.ts.
 */
import type { ComputeService, Hypervisor, Port, RequestLogEntry, ResourceCapacity, ResourceProvider, Server } from '../../openstack/index.ts';
import type { CapacitySource } from './types.ts';

/** A provider's capacity and the generation it was listed with just before it was read. */
export interface CachedCapacity {
  generation: number;
  capacity: Record<string, ResourceCapacity>;
}

export interface CloudState {
  computeMicroversion: string;
  capacitySource: CapacitySource;
  hypervisors: readonly Hypervisor[];
  services: readonly ComputeService[];
  /** Server id → server (deleted servers removed). */
  servers: ReadonlyMap<string, Server>;
  /** Port id → port, only ports bound to a device (the snapshot joins ports to servers by device_id). */
  ports: ReadonlyMap<string, Port>;
  providers: readonly ResourceProvider[];
  /** Provider uuid → capacity, for owned hosts' providers only. */
  capacities: ReadonlyMap<string, CachedCapacity>;
  /** `changes-since` of the next incremental read (ISO, whole seconds, margin already subtracted). */
  serversSince: string;
  /** `changed_since` of the next incremental read. */
  portsSince: string;
  /** nova-compute hosts and root providers when the hypervisors were last listed: a difference means a host came or went. */
  hypervisorHosts: ReadonlySet<string>;
  hypervisorProviders: ReadonlySet<string>;
  /** When the last full read began (the inventory's clock, ms), and how many incremental reads followed it. */
  fullAt: number;
  sinceFull: number;
}

const NO_RAW = Object.freeze({}) as Record<string, never>;

/** The compute service host of a hypervisor: the name servers, ports and the ownership filter use. */
export function hostOf(h: Hypervisor): string {
  return h.serviceHost ?? h.hypervisorHostname;
}

/** Nova's address order is all the snapshot needs of `addresses`: keep `addr` only. */
export function slimServer(s: Server): Server {
  const addresses: Record<string, unknown[]> = {};
  for (const [net, list] of Object.entries(s.addresses)) {
    addresses[net] = list.map((a) => (typeof a === 'object' && a !== null && 'addr' in a && typeof a.addr === 'string' ? { addr: a.addr } : {}));
  }
  return { ...s, addresses, raw: NO_RAW };
}

export function slimPort(p: Port): Port {
  return { ...p, raw: NO_RAW };
}

export function slimHypervisor(h: Hypervisor): Hypervisor {
  return { ...h, raw: NO_RAW };
}

export function slimProvider(p: ResourceProvider): ResourceProvider {
  return { ...p, raw: NO_RAW };
}

/** ISO 8601 in whole seconds, rounded down (both services compare whole seconds, and rounding down only widens the window). */
export function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/**
 * An OpenStack timestamp in ms. OpenStack writes UTC, with or without a zone ("…:41Z" on
 * Zed's Neutron, "…:41" in older answers and samples); Date.parse would read a zone-less
 * one as local time. NaN when it is not a timestamp.
 */
export function utcMs(iso: string): number {
  return Date.parse(/(?:Z|[+-]\d\d:?\d\d)$/i.test(iso) || !iso.includes('T') ? iso : `${iso}Z`);
}

/**
 * Where a `changes-since` that follows a listing must start: the listing's start by the
 * service's clock or by ours, whichever is earlier, less the margin.
 *
 * Each answer brackets the service's clock: it wrote its `Date` (whole seconds, rounded
 * down) after we sent the request and before we finished reading the answer, so its offset
 * from our clock lies between `Date` − (read) and `Date` + 1 s − (sent). While every answer
 * allows an offset of 0 the service's clock is taken as ours (the margin covers what a
 * second's rounding and a slow answer leave open); once one says the service is behind, the
 * start moves back by the largest lag the answers allow, on the safe side: an earlier start
 * reads a change twice, never misses one. A slow answer alone (a long page, a stalled
 * event loop) thus moves nothing.
 */
export class SinceClock {
  readonly #started: number;
  /** The tightest bounds of the service's offset from our clock so far, ms. */
  #lowerMs = Number.NEGATIVE_INFINITY;
  #upperMs = Number.POSITIVE_INFINITY;

  /** `started`: when the listing began, by our clock (ms). */
  constructor(started = Date.now()) {
    this.#started = started;
  }

  /** An answer of the listing: its `Date` and how long it took (RequestLogEntry's fields). */
  observe(e: Pick<RequestLogEntry, 'date' | 'durationMs'>, now = Date.now()): void {
    if (e.date === undefined) return;
    const server = Date.parse(e.date);
    if (Number.isNaN(server)) return;
    this.#lowerMs = Math.max(this.#lowerMs, server - now);
    this.#upperMs = Math.min(this.#upperMs, server + 1000 - (now - e.durationMs));
  }

  since(marginMs: number): string {
    const behind = this.#upperMs < 0 && Number.isFinite(this.#lowerMs);
    return isoSeconds(this.#started + (behind ? Math.min(0, this.#lowerMs) : 0) - marginMs);
  }
}

export function sameSet<T>(a: ReadonlySet<T>, b: ReadonlySet<T>): boolean {
  if (a.size !== b.size) return false;
  for (const x of a) if (!b.has(x)) return false;
  return true;
}

/** The nova-compute hosts of a services list. */
export function computeHosts(services: readonly ComputeService[]): Set<string> {
  return new Set(services.filter((s) => s.binary === 'nova-compute').map((s) => s.host));
}

/** The root providers of a providers list (compute nodes). */
export function rootProviders(providers: readonly ResourceProvider[]): Set<string> {
  return new Set(providers.filter((p) => p.parentProviderUuid === null || p.parentProviderUuid === undefined).map((p) => p.uuid));
}

export interface ServerChanges {
  servers: Map<string, Server>;
  /** Servers whose ports must be read again (answered by Nova and not deleted). */
  changed: string[];
  /** Servers that are gone: their ports go with them. */
  gone: string[];
  /** Hosts whose capacity may have changed: the old and the new host of every changed, new or gone server. */
  hosts: Set<string>;
}

/**
 * Applies Nova's answer. A full answer replaces the map, and what differs from the previous
 * one (new, gone, moved, or a different `updated`) is the change. An incremental answer
 * (`changes-since`) is all change: every record counts, unchanged or not, because the
 * answer overlaps the previous one by the margin on purpose: what settles just after a
 * server changes (its port going ACTIVE, the allocation Nova deletes after the server is
 * gone) is read once more on the next refresh.
 */
export function applyServers(prev: ReadonlyMap<string, Server> | undefined, records: readonly Server[], full: boolean): ServerChanges {
  const hosts = new Set<string>();
  const changed: string[] = [];
  const gone: string[] = [];
  const touch = (host: string | null | undefined): void => {
    if (typeof host === 'string' && host !== '') hosts.add(host);
  };
  if (full) {
    const servers = new Map<string, Server>();
    for (const r of records) {
      if (r.status === 'DELETED') continue;
      const s = slimServer(r);
      servers.set(s.id, s);
      const before = prev?.get(s.id);
      if (prev && (!before || before.updated !== s.updated || before.host !== s.host || before.status !== s.status)) {
        changed.push(s.id);
        touch(s.host);
        touch(before?.host);
      }
    }
    for (const [id, before] of prev ?? []) {
      if (servers.has(id)) continue;
      gone.push(id);
      touch(before.host);
    }
    return { servers, changed, gone, hosts };
  }
  const servers = new Map(prev);
  for (const r of records) {
    touch(r.host);
    touch(prev?.get(r.id)?.host);
    if (r.status === 'DELETED') {
      servers.delete(r.id);
      gone.push(r.id);
    } else {
      servers.set(r.id, slimServer(r));
      changed.push(r.id);
    }
  }
  return { servers, changed, gone, hosts };
}

/** Only ports bound to a device can join a server; keeping the others would only cost memory. */
function bound(p: Port): boolean {
  return p.deviceId !== '';
}

/** A full port listing replaces every port. */
export function portsFromListing(records: readonly Port[]): Map<string, Port> {
  const out = new Map<string, Port>();
  for (const p of records) if (bound(p)) out.set(p.id, slimPort(p));
  return out;
}

/**
 * Applies changed ports (Neutron's `changed_since`, or the ports of re-read servers):
 * `devices` are the servers whose ports were read in full (their ports not in `records`
 * are gone), `gone` the deleted servers (their ports go too).
 */
export function applyPorts(prev: ReadonlyMap<string, Port>, records: readonly Port[], devices: ReadonlySet<string>, gone: ReadonlySet<string>): Map<string, Port> {
  const out = new Map(prev);
  if (devices.size > 0 || gone.size > 0) {
    for (const [id, p] of prev) if (devices.has(p.deviceId) || gone.has(p.deviceId)) out.delete(id);
  }
  for (const p of records) {
    if (bound(p) && !gone.has(p.deviceId)) out.set(p.id, slimPort(p));
    else out.delete(p.id);
  }
  return out;
}
