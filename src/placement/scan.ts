import { freeOf, hostCapacity, uplinkFree } from './capacity.ts';
import { val } from './num.ts';
import type { Topology } from './topology.ts';
import type { HostState } from './types.ts';

/** The few hosts the engine looks at closely; built only for hosts that make one of the short lists. */
export interface HostView {
  host: HostState;
  free: [number, number, number];
  capacity: [number, number, number];
  maxUnit: [number, number, number];
  upFree: number;
  /**
   * Fraction of the topology the host could hold in its scarcest resource
   * (min over resources of free / topology demand): the split's candidate order.
   */
  share: number;
  /** Tightest-fit score when the whole topology fits, else NaN. */
  score: number;
}

/** Keeps the best `limit` items by (key ascending, name ascending) without sorting the whole cloud. */
export class TopK<T> {
  readonly items: { key: number; name: string; value: T }[] = [];
  constructor(readonly limit: number) {}

  admits(key: number, name: string): boolean {
    if (this.items.length < this.limit) return true;
    const last = this.items[this.items.length - 1];
    return last !== undefined && (key < last.key || (key === last.key && name < last.name));
  }

  add(key: number, name: string, value: T): void {
    if (!this.admits(key, name)) return;
    let i = this.items.length;
    while (i > 0) {
      const prev = this.items[i - 1];
      if (prev === undefined || prev.key < key || (prev.key === key && prev.name <= name)) break;
      i--;
    }
    this.items.splice(i, 0, { key, name, value });
    if (this.items.length > this.limit) this.items.pop();
  }

  values(): T[] {
    return this.items.map((x) => x.value);
  }
}

export type Ineligibility = 'down' | 'disabled' | 'zone';

export interface Scan {
  hosts: number;
  down: number;
  disabled: number;
  /** Up and enabled, but in no AZ any unit accepts. */
  zone: number;
  /** Up, enabled, in an AZ some unit accepts: the hosts a split may use. */
  usable: number;
  /** Hosts that can hold the whole topology. */
  fitting: number;
  /** The tightest single-host fits, best first. */
  tightest: HostView[];
  /** Candidate hosts for a split, by `share` descending, then name. */
  pool: HostView[];
  /** A few ineligible hosts (first by name) for the explanation. */
  ineligible: { host: HostState; why: Ineligibility }[];
  /** Σ and max of free amounts over usable hosts (negative free counts as 0). */
  cloudFree: [number, number, number];
  maxFree: [number, number, number];
}

export interface ScanLimits {
  pool: number;
  tightest: number;
  ineligible: number;
}

export function makeView(host: HostState, topology: Topology, score: number): HostView {
  const free: [number, number, number] = [freeOf(host.vcpu), freeOf(host.ramMb), freeOf(host.diskGb)];
  return {
    host,
    free,
    capacity: [hostCapacity(host.vcpu), hostCapacity(host.ramMb), hostCapacity(host.diskGb)],
    maxUnit: [host.vcpu.maxUnit, host.ramMb.maxUnit, host.diskGb.maxUnit],
    upFree: uplinkFree(host),
    share: shareOf(free[0], free[1], free[2], topology),
    score,
  };
}

export function shareOf(fv: number, fr: number, fd: number, t: Topology): number {
  let share = Infinity;
  if (t.total[0] > 0) share = Math.min(share, Math.max(0, fv) / t.total[0]);
  if (t.total[1] > 0) share = Math.min(share, Math.max(0, fr) / t.total[1]);
  if (t.total[2] > 0) share = Math.min(share, Math.max(0, fd) / t.total[2]);
  return share;
}

/** Normalised leftover of one resource; a resource the host does not offer at all contributes nothing. */
export function leftover(free: number, need: number, capacity: number): number {
  return capacity > 0 ? (free - need) / capacity : 0;
}

/**
 * Tightest-fit score of a host that holds the whole topology: Σ over vCPU, RAM
 * and disk of leftover / capacity (0 = the topology fills the host exactly,
 * lower is tighter). A sum rather than the max: the max is usually decided by
 * disk alone (VMs take a few GiB of a large disk), which would make vCPU and
 * RAM — the resources that fragment — irrelevant to the choice.
 */
export function tightnessScore(free: readonly number[], capacity: readonly number[], need: readonly number[]): number {
  let s = 0;
  for (let r = 0; r < 3; r++) s += leftover(val(free, r), val(need, r), val(capacity, r));
  return s;
}

/**
 * One pass over every host: O(hosts) with no allocation for hosts that make
 * none of the short lists, so 100 000 hosts cost a few milliseconds (they are
 * memory-bound: five objects read per host). A caller that places several
 * topologies on one inventory snapshot can index it once instead
 * (host-index.ts). Same result as scan-reference.ts, which tests check.
 */
export function scanHosts(hosts: readonly HostState[], topology: Topology, limits: ScanLimits): Scan {
  const t = topology;
  const [nv, nr, nd] = t.total;
  const [mv, mr, md] = t.maxNeed;
  const tightest = new TopK<HostView>(limits.tightest);
  const general = new TopK<HostView>(limits.pool);
  // Units pinned to an AZ must find candidates there even when that AZ's hosts are smaller than the rest.
  const perZone = new Map<string, TopK<HostView>>();
  for (const z of t.zones) perZone.set(z, new TopK<HostView>(limits.pool));
  const ineligible = new TopK<{ host: HostState; why: Ineligibility }>(limits.ineligible);
  const scan: Scan = {
    hosts: hosts.length,
    down: 0,
    disabled: 0,
    zone: 0,
    usable: 0,
    fitting: 0,
    tightest: [],
    pool: [],
    ineligible: [],
    cloudFree: [0, 0, 0],
    maxFree: [0, 0, 0],
  };
  let sumV = 0;
  let sumR = 0;
  let sumD = 0;
  let maxV = 0;
  let maxR = 0;
  let maxD = 0;
  // Hosts come grouped by AZ (or all in one): a map lookup per host was a third of the pass at 100 000 hosts.
  let lastZone: string | undefined;
  let zoneList: TopK<HostView> | undefined;
  for (const h of hosts) {
    let why: Ineligibility | undefined;
    if (h.availabilityZone !== lastZone) {
      lastZone = h.availabilityZone;
      zoneList = perZone.get(lastZone);
    }
    if (!h.up) why = 'down';
    else if (!h.enabled) why = 'disabled';
    else if (!t.anyZone && zoneList === undefined) why = 'zone';
    if (why !== undefined) {
      scan[why]++;
      if (ineligible.admits(0, h.name)) ineligible.add(0, h.name, { host: h, why });
      continue;
    }
    scan.usable++;
    const fv = freeOf(h.vcpu);
    const fr = freeOf(h.ramMb);
    const fd = freeOf(h.diskGb);
    if (fv > 0) sumV += fv;
    if (fr > 0) sumR += fr;
    if (fd > 0) sumD += fd;
    if (fv > maxV) maxV = fv;
    if (fr > maxR) maxR = fr;
    if (fd > maxD) maxD = fd;

    const zoneOk = t.singleZone === undefined || t.singleZone === h.availabilityZone;
    if (zoneOk && nv <= fv && nr <= fr && nd <= fd && mv <= h.vcpu.maxUnit && mr <= h.ramMb.maxUnit && md <= h.diskGb.maxUnit) {
      scan.fitting++;
      const score =
        leftover(fv, nv, hostCapacity(h.vcpu)) + leftover(fr, nr, hostCapacity(h.ramMb)) + leftover(fd, nd, hostCapacity(h.diskGb));
      if (tightest.admits(score, h.name)) tightest.add(score, h.name, makeView(h, t, score));
    }
    const negShare = -shareOf(fv, fr, fd, t);
    if (t.anyZone && general.admits(negShare, h.name)) general.add(negShare, h.name, makeView(h, t, NaN));
    if (zoneList?.admits(negShare, h.name)) zoneList.add(negShare, h.name, makeView(h, t, NaN));
  }
  scan.cloudFree = [sumV, sumR, sumD];
  scan.maxFree = [maxV, maxR, maxD];
  scan.tightest = tightest.values();
  scan.ineligible = ineligible.values();
  const merged = new Map<string, HostView>();
  for (const list of [general, ...perZone.values()]) for (const v of list.values()) merged.set(v.host.name, v);
  scan.pool = [...merged.values()].sort((a, b) => b.share - a.share || (a.host.name < b.host.name ? -1 : a.host.name > b.host.name ? 1 : 0));
  return scan;
}
