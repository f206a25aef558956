/**
 * A VM's SLA is the VM's, not one NIC's: a server with several ports on one
 * host must not get its cap (or its guarantee) once per port. Where the switch
 * can share one limiter among the ports (an OpenFlow meter for uploads) it
 * does; where it cannot (HTB shapes one port, ingress policing polices one
 * interface) the server's rate is split among its ports, by demand. Pure: no
 * I/O, no clock; all rates bit/s.
 *
 * The split is max-min fair over the ports' demands: a port never gets more
 * than it wants while another port wants more, what it leaves goes to the
 * others, and once every demand is met the remainder is split equally (so a
 * port whose traffic grows has room before the next split). Every port keeps
 * a floor, so an idle NIC can start sending and be seen doing so. Shares are
 * whole bit/s and sum to the total exactly.
 */

/** One port and what it would use, bit/s (Infinity: as much as it gets). */
export interface PortDemand {
  readonly id: string;
  readonly demandBps: number;
}

export interface PortShare {
  readonly id: string;
  readonly bps: number;
}

export interface SplitOptions {
  /** Every port's minimum share, bit/s; capped at total / ports. @default floorFraction × total / ports */
  floorBps?: number;
  /** The default floor as a fraction of an equal share. @default 0.1 */
  floorFraction?: number;
}

export const DEFAULT_FLOOR_FRACTION = 0.1;
/** A port at this fraction of its share or more is held back by it: its demand is unknown, so Infinity. */
export const HELD_BACK_RATIO = 0.9;
/** A port below its share is given this much more than it used, room to grow before the next split. */
export const DEMAND_HEADROOM = 1.2;
/** A new split is applied only when some share moves by more than this fraction of itself. */
export const DEFAULT_RESPLIT_THRESHOLD = 0.1;

function checkTotal(total: number): void {
  if (!Number.isSafeInteger(total) || total < 0) throw new RangeError(`a total to split must be a non-negative safe integer, got ${String(total)}`);
}

/**
 * Whole numbers proportional to `parts` (non-negative reals) that sum to
 * `total`: each the floor of its exact value, the rest handed out one by one
 * by largest remainder (ties: the earlier port).
 */
function roundToTotal(total: number, parts: readonly number[]): number[] {
  const sum = parts.reduce((a, b) => a + b, 0);
  const exact = sum > 0 ? parts.map((p) => (p / sum) * total) : parts.map(() => total / parts.length);
  const out = exact.map((x) => Math.floor(x));
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = exact.map((x, i) => ({ i, frac: x - Math.floor(x) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; left > 0 && order.length > 0; k = (k + 1) % order.length, left--) {
    const i = order[k]?.i ?? 0;
    out[i] = (out[i] ?? 0) + 1;
  }
  return out;
}

/** `total` split equally among `n` ports (whole bit/s, the first ports get the odd units). */
export function equalShares(total: number, n: number): number[] {
  checkTotal(total);
  if (n <= 0) return [];
  return roundToTotal(total, new Array<number>(n).fill(1));
}

/** `total` split in proportion to `weights` (e.g. a guarantee split like the cap); equal when all weights are 0. */
export function proportionalShares(total: number, weights: readonly number[]): number[] {
  checkTotal(total);
  if (weights.length === 0) return [];
  return roundToTotal(total, weights.map((w) => (Number.isFinite(w) && w > 0 ? w : 0)));
}

/**
 * `total` split among `ports` max-min fair over their demands, each port at
 * least the floor; shares in the ports' order, summing to `total`.
 */
export function splitByDemand(total: number, ports: readonly PortDemand[], options: SplitOptions = {}): PortShare[] {
  checkTotal(total);
  const n = ports.length;
  if (n === 0) return [];
  const equal = total / n;
  const floor = Math.min(equal, Math.max(0, options.floorBps ?? (options.floorFraction ?? DEFAULT_FLOOR_FRACTION) * equal));
  // NaN (a broken measurement) counts as unknown: as much as it gets.
  const wants = ports.map((p) => Math.max(floor, Number.isNaN(p.demandBps) ? Infinity : Math.max(0, p.demandBps)));
  const wanted = wants.reduce((a, b) => a + b, 0);
  let exact: number[];
  if (wanted <= total) {
    // Every demand met: the remainder is split equally.
    const extra = (total - wanted) / n;
    exact = wants.map((w) => w + extra);
  } else {
    // Water-filling: the smallest demands are met first, the rest share what is left equally.
    exact = new Array<number>(n).fill(0);
    const order = wants.map((w, i) => ({ w, i })).sort((a, b) => a.w - b.w || a.i - b.i);
    let remaining = total;
    for (let k = 0; k < n; k++) {
      const entry = order[k];
      if (!entry) break;
      const fair = remaining / (n - k);
      if (entry.w <= fair) {
        exact[entry.i] = entry.w;
        remaining -= entry.w;
        continue;
      }
      for (const rest of order.slice(k)) exact[rest.i] = fair;
      break;
    }
  }
  const whole = roundToTotal(total, exact);
  return ports.map((p, i) => ({ id: p.id, bps: whole[i] ?? 0 }));
}

/**
 * A port's demand from its observed rate and its current share: unknown
 * (Infinity) when it uses ≥ 90 % of the share, since the share may be what
 * holds it back; else 1.2 × what it uses.
 */
export function demandFromRate(rateBps: number, shareBps: number): number {
  if (!Number.isFinite(rateBps) || rateBps >= HELD_BACK_RATIO * shareBps) return Infinity;
  return Math.max(0, rateBps) * DEMAND_HEADROOM;
}

/** True when some share of `next` differs from the same port's in `current` by more than `threshold` of it (or the ports differ). */
export function sharesDiffer(current: readonly number[], next: readonly number[], threshold = DEFAULT_RESPLIT_THRESHOLD): boolean {
  if (current.length !== next.length) return true;
  return current.some((c, i) => Math.abs((next[i] ?? 0) - c) > threshold * c);
}
