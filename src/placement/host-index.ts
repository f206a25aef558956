/**
 * An index of one inventory snapshot, for callers that place several
 * topologies on the same hosts: `indexHosts(hosts)` once, then
 * `placeTopology(req, { hostIndex })` for each request on that very array.
 *
 * The plain scan (scan.ts) reads five objects per host on every request,
 * about 2–4 ms at 100 000 hosts, bound by memory rather than arithmetic. The
 * index keeps free capacity, `max_unit` and capacity in typed arrays, the
 * hosts sorted by name and, per resource, by free amount; a request then
 * reads only the hosts that can matter:
 *  - split candidates (the `pool` best by share = min over resources of
 *    free ÷ topology demand) by a threshold walk down the per-resource
 *    orders, which stops as soon as no unread host can enter;
 *  - whole-topology fits among the hosts with enough free of the scarcest
 *    resource (a binary search gives that prefix);
 *  - counts and cloud-wide sums per AZ, computed at build time.
 * The result is the Scan the plain pass returns, to the host (tests compare
 * the two on random clouds). Where that cannot be guaranteed — two hosts with
 * one name, a free amount that is not a safe integer (the sums must not
 * depend on the order of addition), or a topology that needs nothing at all —
 * `scan` answers undefined and placement scans the hosts as before.
 *
 * A snapshot: the index reads the hosts once, when built. Hosts changed
 * afterwards (new usage, a host going down) need a new index; placement
 * only checks that it gets the same array of the same length.
 */
import { freeOf, hostCapacity } from './capacity.ts';
import { f64, i32, u32, u8, val } from './num.ts';
import { leftover, makeView, shareOf, type HostView, type Ineligibility, type Scan, type ScanLimits } from './scan.ts';
import type { Topology } from './topology.ts';
import type { HostState } from './types.ts';

/** Per host: free ×3, max_unit ×3, capacity ×3 (HOST_RESOURCES order). */
const STRIDE = 9;
const USABLE = 0;
const DOWN = 1;
const DISABLED = 2;

type Triple<T> = [T, T, T];

/** Hosts that are up and enabled: all of them, or those of one AZ. */
interface Group {
  /** Member ids by name. */
  byName: Int32Array;
  /** Per resource: member ids by free amount (clamped at 0) descending, then name. */
  byFree: Triple<Int32Array>;
  /** Aligned with `byFree`: the clamped free amounts. */
  freeSorted: Triple<Float64Array>;
  /** Σ of positive free amounts and largest free amount (≥ 0), per resource. */
  sum: Triple<number>;
  max: Triple<number>;
}

interface Built {
  data: Float64Array;
  /** Position of each host in name order. */
  rank: Int32Array;
  state: Uint8Array;
  all: Group;
  zones: Map<string, Group>;
  /** Down or disabled hosts, by name. */
  offByName: Int32Array;
  down: number;
  disabled: number;
  /** Per-query "already offered" marks (compared with `epoch`). */
  seen: Uint32Array;
  epoch: number;
}


/** A fresh mark for `seen` (clears it once every 2³² − 1 uses). */
function nextEpoch(b: Built): number {
  if (b.epoch === 0xffffffff) {
    b.seen.fill(0);
    b.epoch = 0;
  }
  return ++b.epoch;
}

/** The `limit` best ids by (key ascending, name ascending): the order of scan.ts's TopK, with name ranks. */
class Best {
  readonly ids: Int32Array;
  readonly keys: Float64Array;
  size = 0;

  constructor(
    readonly limit: number,
    private readonly rank: Int32Array,
  ) {
    this.ids = new Int32Array(limit);
    this.keys = new Float64Array(limit);
  }

  offer(id: number, key: number): void {
    const k = this.limit;
    if (k === 0) return;
    const r = i32(this.rank, id);
    let i = this.size;
    if (i === k) {
      const lastKey = f64(this.keys, k - 1);
      if (!(key < lastKey || (key === lastKey && r < i32(this.rank, i32(this.ids, k - 1))))) return;
      i = k - 1;
    } else this.size++;
    while (i > 0) {
      const prevKey = f64(this.keys, i - 1);
      if (prevKey < key || (prevKey === key && i32(this.rank, i32(this.ids, i - 1)) < r)) break;
      this.keys[i] = prevKey;
      this.ids[i] = i32(this.ids, i - 1);
      i--;
    }
    this.keys[i] = key;
    this.ids[i] = id;
  }
}

/** First index in [from, length) whose value is below `v` (values descending). */
function firstBelow(values: Float64Array, v: number, from: number): number {
  let lo = from;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (f64(values, mid) < v) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/**
 * `members` (in name order) by clamped free amount descending, then name.
 * Packs (max − amount, position) into one exact double when both fit in 53
 * bits, so that the typed array's native sort does the work (a comparator
 * sort of 100 000 hosts took most of the build); else a stable comparator sort.
 */
function sortByFree(members: Int32Array, clamped: Float64Array, max: number): Int32Array {
  const len = members.length;
  const scale = 2 ** Math.max(1, Math.ceil(Math.log2(len + 1)));
  if ((max + 1) * scale <= Number.MAX_SAFE_INTEGER) {
    const keys = new Float64Array(len);
    for (let i = 0; i < len; i++) keys[i] = (max - f64(clamped, i32(members, i))) * scale + i;
    keys.sort();
    const order = new Int32Array(len);
    for (let i = 0; i < len; i++) order[i] = i32(members, f64(keys, i) % scale);
    return order;
  }
  // Stable: equal amounts keep name order.
  return Int32Array.from(Array.from(members).sort((a, b) => f64(clamped, b) - f64(clamped, a)));
}

function buildGroup(members: Int32Array, data: Float64Array): Group {
  const byFree: Int32Array[] = [];
  const freeSorted: Float64Array[] = [];
  const sum: Triple<number> = [0, 0, 0];
  const max: Triple<number> = [0, 0, 0];
  for (let r = 0; r < 3; r++) {
    const clamped = new Float64Array(data.length / STRIDE);
    let s = 0;
    let m = 0;
    for (const id of members) {
      const f = f64(data, id * STRIDE + r);
      clamped[id] = Math.max(0, f);
      if (f > 0) s += f;
      if (f > m) m = f;
    }
    sum[r] = s;
    max[r] = m;
    const order = sortByFree(members, clamped, m);
    const values = new Float64Array(order.length);
    for (let i = 0; i < order.length; i++) values[i] = f64(clamped, i32(order, i));
    byFree.push(order);
    freeSorted.push(values);
  }
  return {
    byName: members,
    byFree: byFree as Triple<Int32Array>,
    freeSorted: freeSorted as Triple<Float64Array>,
    sum,
    max,
  };
}

export class HostIndex {
  /** Why the index cannot stand in for the plain scan of these hosts (undefined: it can). */
  readonly unsupported: string | undefined;
  /** Number of hosts when built. */
  readonly size: number;
  private readonly built: Built | undefined;

  constructor(readonly hosts: readonly HostState[]) {
    const n = hosts.length;
    this.size = n;
    const data = new Float64Array(n * STRIDE);
    const state = new Uint8Array(n);
    let problem: string | undefined;
    for (let id = 0; id < n && problem === undefined; id++) {
      const h = hosts[id] as HostState;
      for (let r = 0; r < 3; r++) {
        const inv = r === 0 ? h.vcpu : r === 1 ? h.ramMb : h.diskGb;
        const free = freeOf(inv);
        if (!Number.isSafeInteger(free)) problem = `host "${h.name}": free amount ${free} is not a safe integer`;
        data[id * STRIDE + r] = free;
        data[id * STRIDE + 3 + r] = inv.maxUnit;
        data[id * STRIDE + 6 + r] = hostCapacity(inv);
      }
      state[id] = !h.up ? DOWN : !h.enabled ? DISABLED : USABLE;
    }
    const byName = Array.from({ length: n }, (_, i) => i);
    if (problem === undefined) {
      const name = (i: number): string => (hosts[i] as HostState).name;
      // Inventories usually come sorted by name already: check that in one pass before sorting.
      let sorted = true;
      for (let i = 1; i < n && sorted; i++) sorted = !(name(i) < name(i - 1));
      if (!sorted) byName.sort((a, b) => (name(a) < name(b) ? -1 : name(a) > name(b) ? 1 : 0));
      for (let i = 1; i < n && problem === undefined; i++) {
        if (name(val(byName, i)) === name(val(byName, i - 1))) problem = `two hosts are named "${name(val(byName, i))}"`;
      }
    }
    this.unsupported = problem;
    if (problem !== undefined) {
      this.built = undefined;
      return;
    }
    const rank = new Int32Array(n);
    byName.forEach((id, i) => {
      rank[id] = i;
    });
    const usable: number[] = [];
    const off: number[] = [];
    const perZone = new Map<string, number[]>();
    let down = 0;
    let disabled = 0;
    for (const id of byName) {
      const s = u8(state, id);
      if (s !== USABLE) {
        off.push(id);
        if (s === DOWN) down++;
        else disabled++;
        continue;
      }
      usable.push(id);
      const zone = (hosts[id] as HostState).availabilityZone;
      let list = perZone.get(zone);
      if (!list) perZone.set(zone, (list = []));
      list.push(id);
    }
    const all = buildGroup(Int32Array.from(usable), data);
    const zones = new Map<string, Group>();
    for (const [zone, ids] of perZone) zones.set(zone, ids.length === usable.length ? all : buildGroup(Int32Array.from(ids), data));
    for (let r = 0; r < 3; r++) {
      if (val(all.sum, r) > Number.MAX_SAFE_INTEGER) this.unsupported = `the hosts' free amounts add up beyond ${Number.MAX_SAFE_INTEGER}`;
    }
    this.built =
      this.unsupported === undefined
        ? { data, rank, state, all, zones, offByName: Int32Array.from(off), down, disabled, seen: new Uint32Array(n), epoch: 0 }
        : undefined;
  }

  /** True when this index was built from `hosts` (same array, same length). */
  covers(hosts: readonly HostState[]): boolean {
    return hosts === this.hosts && hosts.length === this.size;
  }

  /** The plain scan's result for this topology, or undefined where the index cannot guarantee it. */
  scan(t: Topology, limits: ScanLimits): Scan | undefined {
    const b = this.built;
    if (!b) return undefined;
    const [nv, nr, nd] = t.total;
    // Every share would be Infinity: the name order alone decides, which the plain pass does fine.
    if (!(nv > 0 || nr > 0 || nd > 0)) return undefined;
    const accepted: Group[] = [];
    for (const z of t.zones) {
      const g = b.zones.get(z);
      if (g) accepted.push(g);
    }
    let usable = 0;
    const cloudFree: Triple<number> = [0, 0, 0];
    const maxFree: Triple<number> = [0, 0, 0];
    for (const g of t.anyZone ? [b.all] : accepted) {
      usable += g.byName.length;
      for (let r = 0; r < 3; r++) {
        cloudFree[r] = val(cloudFree, r) + val(g.sum, r);
        if (val(g.max, r) > val(maxFree, r)) maxFree[r] = val(g.max, r);
      }
    }

    const { fitting, tightest } = this.fits(b, t, limits.tightest);
    const poolIds = new Set<number>();
    if (t.anyZone) this.topShare(b, b.all, t, limits.pool, poolIds);
    for (const g of accepted) this.topShare(b, g, t, limits.pool, poolIds);
    const pool = [...poolIds]
      .map((id) => makeView(this.hosts[id] as HostState, t, NaN))
      .sort((x, y) => y.share - x.share || (x.host.name < y.host.name ? -1 : x.host.name > y.host.name ? 1 : 0));

    return {
      hosts: this.hosts.length,
      down: b.down,
      disabled: b.disabled,
      zone: t.anyZone ? 0 : b.all.byName.length - usable,
      usable,
      fitting,
      tightest,
      pool,
      ineligible: this.ineligible(b, t, limits.ineligible),
      cloudFree,
      maxFree,
    };
  }

  /** Hosts that hold the whole topology: read only those with enough free of the scarcest resource. */
  private fits(b: Built, t: Topology, limit: number): { fitting: number; tightest: HostView[] } {
    const g = t.singleZone === undefined ? b.all : t.singleZone === null ? undefined : b.zones.get(t.singleZone);
    if (!g) return { fitting: 0, tightest: [] };
    const [nv, nr, nd] = t.total;
    const [mv, mr, md] = t.maxNeed;
    // Every fit has at least `need` free of each needed resource: a prefix of that resource's order
    // (amounts ≥ need > 0, clamped or not). The shortest prefix is read; all conditions are checked.
    let ids = g.byName;
    let count = ids.length;
    for (const r of [0, 1, 2] as const) {
      const need = val(t.total, r);
      if (need <= 0) continue;
      const len = firstBelow(g.freeSorted[r], need, 0);
      if (len < count) {
        count = len;
        ids = g.byFree[r];
      }
    }
    const best = new Best(limit, b.rank);
    let fitting = 0;
    const d = b.data;
    for (let i = 0; i < count; i++) {
      const id = i32(ids, i);
      const o = id * STRIDE;
      const fv = f64(d, o);
      const fr = f64(d, o + 1);
      const fd = f64(d, o + 2);
      if (nv <= fv && nr <= fr && nd <= fd && mv <= f64(d, o + 3) && mr <= f64(d, o + 4) && md <= f64(d, o + 5)) {
        fitting++;
        best.offer(id, leftover(fv, nv, f64(d, o + 6)) + leftover(fr, nr, f64(d, o + 7)) + leftover(fd, nd, f64(d, o + 8)));
      }
    }
    const tightest: HostView[] = [];
    for (let i = 0; i < best.size; i++) tightest.push(makeView(this.hosts[i32(best.ids, i)] as HostState, t, f64(best.keys, i)));
    return { fitting, tightest };
  }

  /**
   * The `limit` members with the largest share (then first by name), as the
   * plain pass's TopK keeps them. Walks the per-resource orders round-robin
   * (Fagin's threshold algorithm): a member not yet read in resource r's
   * order has a share of at most that order's current amount ÷ demand, so
   * once that bound is below the limit-th share found, nothing unread can
   * enter. At equal bound, members further down an equal-amount run come
   * later by name and lose the tie, so the run is skipped.
   */
  private topShare(b: Built, g: Group, t: Topology, limit: number, into: Set<number>): void {
    const len = g.byName.length;
    const active: (0 | 1 | 2)[] = ([0, 1, 2] as const).filter((r) => val(t.total, r) > 0);
    if (limit === 0 || len === 0 || active.length === 0) return;
    const epoch = nextEpoch(b);
    const best = new Best(limit, b.rank);
    const pos: Triple<number> = [0, 0, 0];
    const d = b.data;
    outer: while (true) {
      for (const r of active) {
        const p = pos[r];
        if (p >= len) break outer;
        const values = g.freeSorted[r];
        const order = g.byFree[r];
        if (best.size === limit) {
          const need = t.total[r];
          const kth = -f64(best.keys, limit - 1);
          const bound = f64(values, p) / need;
          if (bound < kth) break outer;
          if (bound === kth && i32(b.rank, i32(order, p)) >= i32(b.rank, i32(best.ids, limit - 1))) {
            const end = firstBelow(values, f64(values, p), p);
            if (end >= len || f64(values, end) / need < kth) break outer;
            pos[r] = end;
            continue;
          }
        }
        const id = i32(order, p);
        pos[r] = p + 1;
        if (u32(b.seen, id) === epoch) continue;
        b.seen[id] = epoch;
        const o = id * STRIDE;
        best.offer(id, -shareOf(f64(d, o), f64(d, o + 1), f64(d, o + 2), t));
      }
    }
    for (let i = 0; i < best.size; i++) into.add(i32(best.ids, i));
  }

  /** The first `limit` ineligible hosts by name: down, disabled, or (units all pinned) in an AZ none asks for. */
  private ineligible(b: Built, t: Topology, limit: number): { host: HostState; why: Ineligibility }[] {
    const candidates = Array.from(b.offByName.subarray(0, limit));
    if (!t.anyZone) {
      for (const [zone, g] of b.zones) if (!t.zones.has(zone)) candidates.push(...g.byName.subarray(0, limit));
    }
    candidates.sort((x, y) => i32(b.rank, x) - i32(b.rank, y));
    return candidates.slice(0, limit).map((id) => {
      const s = u8(b.state, id);
      const why: Ineligibility = s === DOWN ? 'down' : s === DISABLED ? 'disabled' : 'zone';
      return { host: this.hosts[id] as HostState, why };
    });
  }
}

/** Builds the index of one inventory snapshot (O(hosts log hosts)); see HostIndex. */
export function indexHosts(hosts: readonly HostState[]): HostIndex {
  return new HostIndex(hosts);
}
