/**
 * Splitting a topology over as few hosts as possible, then cutting as little
 * guaranteed traffic as possible, without over-committing any uplink.
 *
 * For k = lower bound, k + 1, … it tries k-subsets of the candidate pool (the
 * hosts with the most room, best first). On each subset:
 *  1. construction: depth-first assignment in "connection strength" order
 *     (Prim-like order over the traffic graph, or largest-first), each unit
 *     going to the host that already holds most of its traffic; capacity,
 *     `max_unit`, AZ and uplink are checked at every step (an uplink's load
 *     only grows as units are added, so a partial overload prunes soundly),
 *     and a node budget bounds the backtracking;
 *  2. improvement: single-unit moves that lower the cut and keep every
 *     constraint (first improvement, deterministic order);
 *  3. for the best few plans of the smallest feasible k: on small
 *     topologies, a node-bounded branch and bound over the plan's host subset
 *     with the plan's cut as first bound (exact when it completes, which it
 *     does up to about 8 units over 5 hosts); then swaps and Kernighan–Lin
 *     passes (tentative moves and swaps, best prefix kept).
 * Several construction orders are tried per subset; the best plan of the
 * smallest k wins.
 */
import { addF64, f64, i32, u8, val } from './num.ts';
import type { HostView } from './scan.ts';
import type { Topology } from './topology.ts';
import { zoneAllows } from './topology.ts';

export interface SplitBudget {
  /** Subsets tried per k before giving up on that k. */
  subsetsPerK: number;
  /** Further subsets tried after the first feasible one of a k (for a smaller cut). */
  subsetsAfterFeasible: number;
  /** Depth-first nodes per construction. */
  nodesPerConstruction: number;
  /** Improvement passes per construction. */
  passes: number;
  /** Kernighan–Lin passes on the best plans of the winning k. */
  klPasses: number;
  /** How many of the winning k's best plans (distinct host subsets) get Kernighan–Lin passes. */
  refined: number;
  /** Depth-first nodes for the whole split: bounds the time spent proving that nothing fits. */
  totalNodes: number;
  /**
   * Branch-and-bound nodes per refined plan (0 = none). Up to 8 units over 5
   * hosts it never needs more than a few hundred (so it is exact there); on
   * 9–16 units it usually still completes.
   */
  exactNodes: number;
}

/**
 * Small topologies get a wide search (it is cheap and the tests compare it
 * with the exact optimum); large ones a narrower one, because swaps and
 * Kernighan–Lin passes grow with n² per step, and host subsets of a large
 * cloud's roomiest hosts differ little.
 */
export function defaultBudget(units: number): SplitBudget {
  const small = units <= 16;
  return {
    subsetsPerK: 40,
    subsetsAfterFeasible: small ? 12 : 4,
    nodesPerConstruction: small ? 20_000 : 20 * units + 1000,
    passes: 30,
    klPasses: small ? 4 : 2,
    refined: small ? 3 : 1,
    totalNodes: small ? 2_000_000 : 100_000,
    exactNodes: small ? 5_000 : 0,
  };
}

export interface SplitPlan {
  hosts: HostView[];
  /** Unit → index in `hosts`. */
  assign: Int32Array;
  cross: number;
  /** Per host in `hosts`: guaranteed bps this plan puts on its uplink. */
  upLoad: Float64Array;
}

export interface SplitOutcome {
  plan: SplitPlan | undefined;
  kLow: number;
  kTried: number;
  subsets: number;
  /** Hosts-only view (uplinks ignored) when no plan respects the uplinks, to say which uplinks are short. */
  relaxed: SplitPlan | undefined;
  /** The search stopped on its node budget rather than running out of subsets. */
  exhausted: boolean;
}

/** Candidate steps a Kernighan–Lin step checks against the uplinks, best delta first. */
const KL_TRIES = 4;

/** Work shared by every construction of one split. */
interface Meter {
  nodes: number;
  limit: number;
}

class SubsetSearch {
  readonly k: number;
  private readonly n: number;
  private readonly free: Float64Array;
  private readonly upFree: Float64Array;
  private readonly allowed: Uint8Array;
  readonly assign: Int32Array;
  private readonly used: Float64Array;
  readonly upLoad: Float64Array;
  cross = 0;
  private readonly conn: Float64Array;
  private nodes = 0;

  constructor(
    private readonly t: Topology,
    readonly hosts: readonly HostView[],
    ignoreUplink: boolean,
  ) {
    const k = hosts.length;
    const n = t.n;
    this.k = k;
    this.n = n;
    this.free = new Float64Array(k * 3);
    this.upFree = new Float64Array(k);
    this.allowed = new Uint8Array(n * k);
    hosts.forEach((h, j) => {
      for (let r = 0; r < 3; r++) this.free[j * 3 + r] = h.free[r] ?? 0;
      this.upFree[j] = ignoreUplink ? Infinity : h.upFree;
      for (let u = 0; u < n; u++) {
        let ok = zoneAllows(t.units[u] as (typeof t.units)[number], h.host);
        for (let r = 0; r < 3 && ok; r++) {
          const need = f64(t.need, u * 3 + r);
          ok = need <= val(h.maxUnit, r) && need <= val(h.free, r);
        }
        this.allowed[u * k + j] = ok ? 1 : 0;
      }
    });
    this.assign = new Int32Array(n).fill(-1);
    this.bestAssign = new Int32Array(n);
    this.used = new Float64Array(k * 3);
    this.upLoad = new Float64Array(k);
    this.conn = new Float64Array(k);
    this.candHost = new Int32Array(n * k);
    this.candGain = new Float64Array(n * k);
    this.candRoom = new Float64Array(n * k);
    this.connAll = new Float64Array(n * k);
    this.moveHost = new Int32Array(k);
    this.moveDelta = new Float64Array(k);
    this.historyUnit = new Int32Array(n);
    this.historyFrom = new Int32Array(n);
  }

  private readonly candHost: Int32Array;
  private readonly candGain: Float64Array;
  private readonly candRoom: Float64Array;
  /*
   * Scratch space of improve() and klPass(), allocated once per search: they
   * run after each of the up to 8 constructions of every subset, and their
   * short-lived arrays and objects were a tenth of a 50-unit split's time in
   * allocation and GC (issue 14).
   */
  /** n × k: guaranteed bps between each unit and each host's units, rebuilt at the start of each pass. */
  private readonly connAll: Float64Array;
  /** improve(): the hosts a unit may move to with a gain, by (delta, host). */
  private readonly moveHost: Int32Array;
  private readonly moveDelta: Float64Array;
  /** klPass(): moves applied in this pass, to roll back to the best prefix (each unit moves at most once). */
  private readonly historyUnit: Int32Array;
  private readonly historyFrom: Int32Array;
  /** klPass(): the KL_TRIES lowest-delta candidate steps, ascending, ties in the order found. */
  private readonly klDelta = new Float64Array(KL_TRIES);
  private readonly klUnit = new Int32Array(KL_TRIES);
  private readonly klOther = new Int32Array(KL_TRIES);
  private readonly klHost = new Int32Array(KL_TRIES);
  private klCount = 0;

  /** Quick necessary conditions before spending search on the subset. */
  plausible(): boolean {
    for (let r = 0; r < 3; r++) {
      let sum = 0;
      for (let j = 0; j < this.k; j++) sum += Math.max(0, f64(this.free, j * 3 + r));
      if (sum < val(this.t.total, r)) return false;
    }
    for (let u = 0; u < this.n; u++) {
      let any = false;
      for (let j = 0; j < this.k && !any; j++) any = u8(this.allowed, u * this.k + j) === 1;
      if (!any) return false;
    }
    return true;
  }

  private fits(u: number, j: number): boolean {
    if (u8(this.allowed, u * this.k + j) === 0) return false;
    for (let r = 0; r < 3; r++) {
      if (f64(this.used, j * 3 + r) + f64(this.t.need, u * 3 + r) > f64(this.free, j * 3 + r)) return false;
    }
    return true;
  }

  private place(u: number, j: number): void {
    const t = this.t;
    for (let r = 0; r < 3; r++) addF64(this.used, j * 3 + r, f64(t.need, u * 3 + r));
    for (let e = i32(t.adjStart, u); e < i32(t.adjStart, u + 1); e++) {
      const c = i32(this.assign, i32(t.adjTo, e));
      if (c < 0 || c === j) continue;
      const w = f64(t.adjBps, e);
      addF64(this.upLoad, j, w);
      addF64(this.upLoad, c, w);
      this.cross += w;
    }
    this.assign[u] = j;
  }

  private unplace(u: number): void {
    const t = this.t;
    const j = i32(this.assign, u);
    this.assign[u] = -1;
    for (let r = 0; r < 3; r++) addF64(this.used, j * 3 + r, -f64(t.need, u * 3 + r));
    for (let e = i32(t.adjStart, u); e < i32(t.adjStart, u + 1); e++) {
      const c = i32(this.assign, i32(t.adjTo, e));
      if (c < 0 || c === j) continue;
      const w = f64(t.adjBps, e);
      addF64(this.upLoad, j, -w);
      addF64(this.upLoad, c, -w);
      this.cross -= w;
    }
  }

  private move(u: number, j: number): void {
    this.unplace(u);
    this.place(u, j);
  }

  private uplinksOk(): boolean {
    for (let j = 0; j < this.k; j++) if (f64(this.upLoad, j) > f64(this.upFree, j)) return false;
    return true;
  }

  /** conn[j] = guaranteed bps between u and the units currently on host j. */
  private connect(u: number, into: Float64Array): void {
    const t = this.t;
    into.fill(0);
    for (let e = i32(t.adjStart, u); e < i32(t.adjStart, u + 1); e++) {
      const c = i32(this.assign, i32(t.adjTo, e));
      if (c >= 0) addF64(into, c, f64(t.adjBps, e));
    }
  }

  /** Room left on j after u, normalised: spreads units that have no traffic to place yet. */
  private roomAfter(u: number, j: number): number {
    let room = Infinity;
    for (let r = 0; r < 3; r++) {
      const f = f64(this.free, j * 3 + r);
      if (f <= 0) continue;
      room = Math.min(room, (f - f64(this.used, j * 3 + r) - f64(this.t.need, u * 3 + r)) / f);
    }
    return room;
  }

  reset(): void {
    this.assign.fill(-1);
    this.used.fill(0);
    this.upLoad.fill(0);
    this.cross = 0;
  }

  /**
   * `spread`: among hosts with equal traffic gain, the roomiest first, so that
   * each new cluster starts on an empty host. `pack`: the fullest first, which
   * lands clusters on the other side of tight hosts (a mirror image that
   * moves and swaps cannot reach when both hosts are nearly full).
   */
  construct(order: Int32Array, nodeBudget: number, mode: 'spread' | 'pack', meter: Meter): boolean {
    this.reset();
    this.nodes = 0;
    this.roomSign = mode === 'spread' ? 1 : -1;
    const ok = this.dfs(order, 0, Math.min(nodeBudget, meter.limit - meter.nodes));
    meter.nodes += this.nodes;
    return ok;
  }

  private roomSign = 1;

  /** Fills candHost[i·k …] with the hosts u fits on, by (gain desc, room by mode, index); returns how many. */
  private candidates(u: number, i: number): number {
    const k = this.k;
    this.connect(u, this.conn);
    // Insertion sort: k is small.
    const base = i * k;
    let count = 0;
    for (let j = 0; j < k; j++) {
      if (!this.fits(u, j)) continue;
      const gain = f64(this.conn, j);
      const room = this.roomSign * this.roomAfter(u, j);
      let p = count++;
      while (p > 0) {
        const q = i32(this.candHost, base + p - 1);
        const qGain = f64(this.candGain, base + p - 1);
        if (qGain > gain || (qGain === gain && f64(this.candRoom, base + p - 1) >= room)) break;
        this.candHost[base + p] = q;
        this.candGain[base + p] = qGain;
        this.candRoom[base + p] = f64(this.candRoom, base + p - 1);
        p--;
      }
      this.candHost[base + p] = j;
      this.candGain[base + p] = gain;
      this.candRoom[base + p] = room;
    }
    return count;
  }

  private dfs(order: Int32Array, i: number, budget: number): boolean {
    if (i === this.n) return true;
    if (++this.nodes > budget) return false;
    const u = i32(order, i);
    const count = this.candidates(u, i);
    for (let c = 0; c < count; c++) {
      const j = i32(this.candHost, i * this.k + c);
      this.place(u, j);
      if (this.uplinksOk() && this.dfs(order, i + 1, budget)) return true;
      this.unplace(u);
      if (this.nodes > budget) return false;
    }
    return false;
  }

  private bestCut = Infinity;
  private readonly bestAssign: Int32Array;

  /**
   * Branch and bound over the assignments of this subset, with the current
   * plan's cut as the first bound. A partial cut only grows as units are
   * added (as does every uplink load), so pruning at the bound loses nothing:
   * the result is this subset's optimum whenever the search ends within its
   * node budget. Local search alone misses plans that differ from the
   * constructed one by several units at once while capacity blocks every
   * intermediate step. Ends on the best plan seen (the current one if none beat it).
   */
  tighten(order: Int32Array, nodeBudget: number): void {
    this.bestCut = this.cross;
    this.bestAssign.set(this.assign);
    this.reset();
    this.nodes = 0;
    this.roomSign = 1;
    this.bound(order, 0, nodeBudget);
    this.load(this.bestAssign);
  }

  private bound(order: Int32Array, i: number, budget: number): void {
    if (i === this.n) {
      this.bestCut = this.cross;
      this.bestAssign.set(this.assign);
      return;
    }
    if (++this.nodes > budget) return;
    const u = i32(order, i);
    const count = this.candidates(u, i);
    for (let c = 0; c < count; c++) {
      const j = i32(this.candHost, i * this.k + c);
      this.place(u, j);
      if (this.cross < this.bestCut && this.uplinksOk()) this.bound(order, i + 1, budget);
      this.unplace(u);
      if (this.nodes > budget || this.bestCut === 0) return;
    }
  }

  private pairBps(u: number, v: number): number {
    const t = this.t;
    for (let e = i32(t.adjStart, u); e < i32(t.adjStart, u + 1); e++) if (i32(t.adjTo, e) === v) return f64(t.adjBps, e);
    return 0;
  }

  private swapFits(u: number, v: number): boolean {
    const a = i32(this.assign, u);
    const b = i32(this.assign, v);
    if (u8(this.allowed, u * this.k + b) === 0 || u8(this.allowed, v * this.k + a) === 0) return false;
    for (let r = 0; r < 3; r++) {
      const nu = f64(this.t.need, u * 3 + r);
      const nv = f64(this.t.need, v * 3 + r);
      if (f64(this.used, a * 3 + r) - nu + nv > f64(this.free, a * 3 + r)) return false;
      if (f64(this.used, b * 3 + r) - nv + nu > f64(this.free, b * 3 + r)) return false;
    }
    return true;
  }

  /** The neighbours of u see it leave `from` for `to`. */
  private shiftConn(conn: Float64Array, u: number, from: number, to: number): void {
    const t = this.t;
    const k = this.k;
    for (let e = i32(t.adjStart, u); e < i32(t.adjStart, u + 1); e++) {
      const v = i32(t.adjTo, e);
      const w = f64(t.adjBps, e);
      addF64(conn, v * k + from, -w);
      addF64(conn, v * k + to, w);
    }
  }

  /** connect() for every unit at once, into the shared n × k buffer (same sums in the same order). */
  private connMatrix(): Float64Array {
    const t = this.t;
    const k = this.k;
    const conn = this.connAll;
    conn.fill(0);
    for (let u = 0; u < this.n; u++) {
      for (let e = i32(t.adjStart, u); e < i32(t.adjStart, u + 1); e++) {
        const c = i32(this.assign, i32(t.adjTo, e));
        if (c >= 0) addF64(conn, u * k + c, f64(t.adjBps, e));
      }
    }
    return conn;
  }

  /**
   * Single-unit moves that strictly lower the cut and keep every constraint,
   * first improvement in unit order, until none is left; with `swaps`, also
   * exchanges of two units (O(n²) per pass, so kept for the final plans).
   */
  improve(passes: number, swaps: boolean): void {
    const n = this.n;
    const k = this.k;
    const conn = this.connMatrix();
    const hosts = this.moveHost;
    const deltas = this.moveDelta;
    for (let pass = 0; pass < passes; pass++) {
      let improved = false;
      for (let u = 0; u < n; u++) {
        const a = i32(this.assign, u);
        // Insertion by delta; hosts come in index order, so equal deltas stay by index.
        let count = 0;
        for (let j = 0; j < k; j++) {
          if (j === a) continue;
          const delta = f64(conn, u * k + a) - f64(conn, u * k + j);
          if (!(delta < 0 && this.fits(u, j))) continue;
          let p = count++;
          while (p > 0 && f64(deltas, p - 1) > delta) {
            hosts[p] = i32(hosts, p - 1);
            deltas[p] = f64(deltas, p - 1);
            p--;
          }
          hosts[p] = j;
          deltas[p] = delta;
        }
        for (let c = 0; c < count; c++) {
          const j = i32(hosts, c);
          this.move(u, j);
          if (this.uplinksOk()) {
            this.shiftConn(conn, u, a, j);
            improved = true;
            break;
          }
          this.move(u, a);
        }
      }
      if (swaps) {
        for (let u = 0; u < n; u++) {
          for (let v = u + 1; v < n; v++) {
            const a = i32(this.assign, u);
            const b = i32(this.assign, v);
            if (a === b) continue;
            const base = f64(conn, u * k + a) - f64(conn, u * k + b) + f64(conn, v * k + b) - f64(conn, v * k + a);
            if (base >= 0) continue;
            if (base + 2 * this.pairBps(u, v) >= 0 || !this.swapFits(u, v)) continue;
            this.move(u, b);
            this.move(v, a);
            if (this.uplinksOk()) {
              this.shiftConn(conn, u, a, b);
              this.shiftConn(conn, v, b, a);
              improved = true;
            } else {
              this.move(v, b);
              this.move(u, a);
            }
          }
        }
      }
      if (!improved) break;
    }
  }

  /** Replays a plan found earlier on this same host subset. */
  load(assign: Int32Array): void {
    this.reset();
    for (let u = 0; u < this.n; u++) this.place(u, i32(assign, u));
  }

  /**
   * One Kernighan–Lin pass: repeatedly apply the best move or swap of units
   * not yet touched in this pass — even when it raises the cut — then keep
   * only the best prefix. Escapes the local minima where every single move is
   * blocked by capacity (e.g. two hosts, both nearly full).
   */
  klPass(): boolean {
    const n = this.n;
    const k = this.k;
    const conn = this.connMatrix();
    const locked = new Uint8Array(n);
    let historyLen = 0;
    const start = this.cross;
    let best = start;
    let bestLen = 0;
    for (let step = 0; step < n; step++) {
      // The KL_TRIES lowest-delta candidates; the uplink check (costlier) runs only on those.
      this.klCount = 0;
      for (let u = 0; u < n; u++) {
        if (u8(locked, u) === 1) continue;
        const a = i32(this.assign, u);
        for (let j = 0; j < k; j++) {
          if (j !== a && this.fits(u, j)) this.klConsider(f64(conn, u * k + a) - f64(conn, u * k + j), u, -1, j);
        }
        for (let v = u + 1; v < n; v++) {
          const b = i32(this.assign, v);
          if (u8(locked, v) === 1 || a === b) continue;
          const base = f64(conn, u * k + a) - f64(conn, u * k + b) + f64(conn, v * k + b) - f64(conn, v * k + a);
          if (this.klCount === KL_TRIES && base >= f64(this.klDelta, KL_TRIES - 1)) continue;
          if (!this.swapFits(u, v)) continue;
          this.klConsider(base + 2 * this.pairBps(u, v), u, v, b);
        }
      }
      let applied = false;
      for (let c = 0; c < this.klCount; c++) {
        const u = i32(this.klUnit, c);
        const v = i32(this.klOther, c);
        const j = i32(this.klHost, c);
        const a = i32(this.assign, u);
        this.move(u, j);
        if (v >= 0) this.move(v, a);
        if (this.uplinksOk()) {
          this.shiftConn(conn, u, a, j);
          this.historyUnit[historyLen] = u;
          this.historyFrom[historyLen++] = a;
          locked[u] = 1;
          if (v >= 0) {
            this.shiftConn(conn, v, j, a);
            this.historyUnit[historyLen] = v;
            this.historyFrom[historyLen++] = j;
            locked[v] = 1;
          }
          applied = true;
          break;
        }
        if (v >= 0) this.move(v, j);
        this.move(u, a);
      }
      if (!applied) break;
      if (this.cross < best) {
        best = this.cross;
        bestLen = historyLen;
      }
    }
    // Undo in reverse: every intermediate state was feasible, so is every rollback step.
    for (let i = historyLen - 1; i >= bestLen; i--) this.move(i32(this.historyUnit, i), i32(this.historyFrom, i));
    return best < start;
  }

  /** Keeps a candidate step (v = -1: move u to j; else swap u and v, u going to j) among the KL_TRIES lowest deltas. */
  private klConsider(delta: number, u: number, v: number, j: number): void {
    let i = this.klCount;
    if (i === KL_TRIES && delta >= f64(this.klDelta, KL_TRIES - 1)) return;
    if (i === KL_TRIES) i--;
    else this.klCount++;
    while (i > 0 && f64(this.klDelta, i - 1) > delta) {
      this.klDelta[i] = f64(this.klDelta, i - 1);
      this.klUnit[i] = i32(this.klUnit, i - 1);
      this.klOther[i] = i32(this.klOther, i - 1);
      this.klHost[i] = i32(this.klHost, i - 1);
      i--;
    }
    this.klDelta[i] = delta;
    this.klUnit[i] = u;
    this.klOther[i] = v;
    this.klHost[i] = j;
  }

  snapshot(): SplitPlan {
    return { hosts: [...this.hosts], assign: this.assign.slice(), cross: this.cross, upLoad: this.upLoad.slice() };
  }
}

/** Order in which units join the construction: strongest connection to those already ordered first. */
function primOrder(t: Topology, start: number): Int32Array {
  const n = t.n;
  const order = new Int32Array(n);
  const inOrder = new Uint8Array(n);
  const key = new Float64Array(n);
  let next = start;
  for (let i = 0; i < n; i++) {
    order[i] = next;
    inOrder[next] = 1;
    for (let e = i32(t.adjStart, next); e < i32(t.adjStart, next + 1); e++) addF64(key, i32(t.adjTo, e), f64(t.adjBps, e));
    let best = -1;
    for (let u = 0; u < n; u++) {
      if (u8(inOrder, u) === 1) continue;
      if (best < 0 || f64(key, u) > f64(key, best) || (f64(key, u) === f64(key, best) && f64(t.weight, u) > f64(t.weight, best))) best = u;
    }
    next = best;
  }
  return order;
}

function sizeOf(t: Topology, u: number): number {
  let s = 0;
  for (let r = 0; r < 3; r++) if (val(t.total, r) > 0) s += f64(t.need, u * 3 + r) / val(t.total, r);
  return s;
}

function largestFirstOrder(t: Topology): Int32Array {
  const units = Array.from({ length: t.n }, (_, u) => u);
  units.sort((x, y) => sizeOf(t, y) - sizeOf(t, x) || f64(t.weight, y) - f64(t.weight, x) || x - y);
  return Int32Array.from(units);
}

function constructionOrders(t: Topology): Int32Array[] {
  const byWeight = Array.from({ length: t.n }, (_, u) => u).sort((x, y) => f64(t.weight, y) - f64(t.weight, x) || sizeOf(t, y) - sizeOf(t, x) || x - y);
  const largest = largestFirstOrder(t);
  const candidates = [primOrder(t, byWeight[0] ?? 0), largest, primOrder(t, i32(largest, 0))];
  if (byWeight.length > 1) candidates.push(primOrder(t, byWeight[1] ?? 0));
  const seen = new Set<string>();
  return candidates.filter((o) => {
    const key = o.join(',');
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** Fewest hosts of the pool whose summed free amounts could hold the topology (ignores packing). */
export function hostLowerBound(t: Topology, pool: readonly HostView[]): number {
  let k = 1;
  for (let r = 0; r < 3; r++) {
    const need = val(t.total, r);
    if (need <= 0) continue;
    const frees = pool.map((h) => Math.max(0, val(h.free, r))).sort((a, b) => b - a);
    let sum = 0;
    let i = 0;
    while (i < frees.length && sum < need) sum += frees[i++] ?? 0;
    k = Math.max(k, sum >= need ? i : pool.length + 1);
  }
  return k;
}

function* combinations(size: number, k: number): Generator<number[]> {
  if (k > size) return;
  const c = Array.from({ length: k }, (_, i) => i);
  while (true) {
    yield c.slice();
    let i = k - 1;
    while (i >= 0 && c[i] === size - k + i) i--;
    if (i < 0) return;
    c[i] = (c[i] ?? 0) + 1;
    for (let j = i + 1; j < k; j++) c[j] = (c[j - 1] ?? 0) + 1;
  }
}

/** Σ free over the subset covers the topology: checked before allocating a search. */
function roomEnough(t: Topology, hosts: readonly HostView[]): boolean {
  for (let r = 0; r < 3; r++) {
    let sum = 0;
    for (const h of hosts) sum += Math.max(0, val(h.free, r));
    if (sum < val(t.total, r)) return false;
  }
  return true;
}

function solveSubset(
  t: Topology,
  hosts: HostView[],
  orders: readonly Int32Array[],
  budget: SplitBudget,
  ignoreUplink: boolean,
  meter: Meter,
): SplitPlan | undefined | null {
  if (!roomEnough(t, hosts)) return null;
  const search = new SubsetSearch(t, hosts, ignoreUplink);
  if (!search.plausible()) return null;
  let best: SplitPlan | undefined;
  for (const mode of ['spread', 'pack'] as const) {
    for (const order of orders) {
      if (meter.nodes >= meter.limit) return best;
      if (!search.construct(order, budget.nodesPerConstruction, mode, meter)) continue;
      search.improve(budget.passes, false);
      if (!best || search.cross < best.cross) best = search.snapshot();
      if (best.cross === 0) return best;
    }
  }
  return best;
}

/** Kernighan–Lin passes on a finished plan, each followed by plain improvement, until a pass gains nothing. */
function refine(t: Topology, plan: SplitPlan, budget: SplitBudget, order: Int32Array): SplitPlan {
  if (plan.cross === 0) return plan;
  const search = new SubsetSearch(t, plan.hosts, false);
  search.load(plan.assign);
  if (budget.exactNodes > 0) search.tighten(order, budget.exactNodes);
  search.improve(budget.passes, true);
  for (let pass = 0; pass < budget.klPasses && search.klPass(); pass++) search.improve(budget.passes, true);
  return search.cross < plan.cross ? search.snapshot() : plan;
}

/** Drops hosts the plan left empty (a k-subset may be solved with fewer) and renumbers. */
function compact(plan: SplitPlan): SplitPlan {
  const usedHosts = [...new Set(plan.assign)].sort((a, b) => a - b);
  if (usedHosts.length === plan.hosts.length) return plan;
  const renumber = new Map(usedHosts.map((j, i) => [j, i]));
  return {
    hosts: usedHosts.map((j) => plan.hosts[j] as HostView),
    assign: plan.assign.map((j) => renumber.get(j) ?? 0),
    cross: plan.cross,
    upLoad: Float64Array.from(usedHosts.map((j) => f64(plan.upLoad, j))),
  };
}

export function splitTopology(t: Topology, pool: readonly HostView[], budget: SplitBudget = defaultBudget(t.n)): SplitOutcome {
  const orders = constructionOrders(t);
  const kLow = Math.max(2, hostLowerBound(t, pool));
  const kMax = Math.min(t.n, pool.length);
  let subsets = 0;
  let kTried = 0;
  let relaxed: SplitPlan | undefined;
  const meter: Meter = { nodes: 0, limit: budget.totalNodes };
  // Combinations that fail the cheap checks cost little, but there can be astronomically many.
  const examinedPerK = budget.subsetsPerK * 25;
  for (let k = kLow; k <= kMax && meter.nodes < meter.limit; k++) {
    kTried = k;
    const found: SplitPlan[] = [];
    let tried = 0;
    let examined = 0;
    for (const combo of combinations(pool.length, k)) {
      if (tried >= budget.subsetsPerK || found.length > budget.subsetsAfterFeasible || ++examined > examinedPerK) break;
      if (meter.nodes >= meter.limit) break;
      const hosts = combo.map((i) => pool[i] as HostView);
      const plan = solveSubset(t, hosts, orders, budget, false, meter);
      if (plan === null) continue;
      tried++;
      subsets++;
      if (plan) found.push(plan);
      if (plan === undefined && !relaxed) {
        // Its own allowance: the diagnosis must not depend on how much the search used.
        relaxed = solveSubset(t, hosts, orders, budget, true, { nodes: 0, limit: budget.nodesPerConstruction * 4 }) ?? undefined;
      }
      if (plan?.cross === 0) break;
    }
    if (found.length > 0) {
      // Stable sort: equal cuts keep subset order (hosts with most room first).
      found.sort((x, y) => x.cross - y.cross);
      let best = found[0] as SplitPlan;
      for (const plan of found.slice(0, budget.refined)) {
        const refined = refine(t, plan, budget, orders[0] as Int32Array);
        if (refined.cross < best.cross) best = refined;
      }
      return { plan: compact(best), kLow, kTried, subsets, relaxed: undefined, exhausted: false };
    }
  }
  return { plan: undefined, kLow, kTried, subsets, relaxed: relaxed ? compact(relaxed) : undefined, exhausted: meter.nodes >= meter.limit };
}
