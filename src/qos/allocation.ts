/**
 * Work-conserving bandwidth guarantees between servers: the pure core of one
 * controller round, after ElasticSwitch (Popa et al., SIGCOMM 2013), "guarantee
 * partitioning" followed by "rate allocation". Pure: no I/O, no clock.
 *
 * Why two models of guarantee. A tenant buys a *hose*: each server may send at
 * least `sendBps` in total and receive at least `receiveBps` in total, whoever
 * the peers are. Some traffic is also known pair by pair (the manager's
 * declared demands); those get a *pipe*, `pipeBps` between exactly two
 * servers. Switches enforce neither: they limit flows, so every round turns
 * both into one guarantee per active sender→receiver pair.
 *
 * 1. Partitioning (`partitionGuarantees`). A server's send guarantee is split
 *    among its active outgoing pairs and its receive guarantee among its
 *    active incoming pairs, max-min fair over their demands: splitting equally
 *    would strand guarantee on a pair that sends little while a busy pair
 *    next to it goes short. A pair can use its hose share only if both ends
 *    grant it, hence the minimum of the two sides; a side with no guarantee
 *    imposes no bound (Infinity), but a pair neither side guarantees has
 *    nothing to claim (0). The pipe, if larger, wins: it was promised for this
 *    pair specifically. Idle pairs get nothing, so that their share goes to the
 *    pairs that use it; `idleGuarantee` says what an idle pair would get, so
 *    that its limiter can let it ramp up before the next round.
 *
 * 2. Allocation (`allocateRates`). Each pair first gets its guarantee, or its
 *    demand if less. Admission control should make those fit, but links fail,
 *    capacity estimates are wrong and guarantees are redeclared; when they do
 *    not fit on a link, the guarantees there shrink in proportion (a weighted
 *    water-fill with weight = guarantee, capped at the guarantee), so everyone
 *    loses the same fraction rather than the last arrival losing everything,
 *    and the link is reported over-committed. Then the spare capacity is
 *    shared by weighted max-min fairness (progressive filling) with weight =
 *    guarantee + a small constant: a guarantee then buys a proportional share
 *    of the spare too (so bigger guarantees are not diluted by many small
 *    pairs), the constant keeps unguaranteed pairs from starving, and nothing
 *    is left unused while any pair on the link still wants more
 *    (work conservation).
 *
 * 3. Measurement glue: `estimateDemand` reads one pair's counters into the
 *    demand of the next round, `limiterRate` turns a result into a meter rate.
 *
 * All rates are bit/s. Ties between events are broken by id, so reordering the
 * input changes the results by float rounding at most; maps come back in input
 * order.
 */

/** A capacity constraint: a host uplink/downlink, a server's port, a server's upload. */
export interface AllocLink {
  readonly id: string;
  readonly capacityBps: number;
}

/** Traffic from one server to another. */
export interface PairInput {
  /** Conventionally `${sender}>${receiver}`. */
  readonly id: string;
  readonly sender: string;
  readonly receiver: string;
  /** Ids of the links this pair's traffic crosses; each must be in the links given to `allocateRates`. */
  readonly links: readonly string[];
  /** Estimated demand (see `estimateDemand`); Infinity = takes whatever it gets, 0 = idle. */
  readonly demandBps: number;
  /** Declared guarantee for this pair alone (pipe model); 0 or absent = none. */
  readonly pipeBps?: number;
}

/** A server's hose guarantee; 0 or absent = none on that side. */
export interface HoseGuarantee {
  /** Minimum the server may send, summed over its peers. */
  readonly sendBps?: number;
  /** Minimum the server may receive, summed over its peers. */
  readonly receiveBps?: number;
}

export interface PartitionOptions {
  /** A pair sending no more than this is idle and claims no guarantee. @default 50_000 */
  readonly activeThresholdBps?: number;
}

export interface AllocateOptions {
  /**
   * Added to every pair's guarantee to make its weight for the spare capacity;
   * must be > 0, or pairs without a guarantee would never get any spare.
   * @default 100_000
   */
  readonly minWeightBps?: number;
}

export interface LinkAllocation {
  readonly capacityBps: number;
  /**
   * Σ over the link's pairs of min(guarantee, demand), before any scaling:
   * what the guarantees claim here. Above `capacityBps` exactly when `overcommitted`.
   */
  readonly guaranteedBps: number;
  /** Σ of the allocated rates of the link's pairs. */
  readonly allocatedBps: number;
  /** The claimed guarantees did not fit, so they were scaled down on this link. */
  readonly overcommitted: boolean;
}

export interface Allocation {
  /** Every pair's rate. */
  readonly rates: Map<string, number>;
  /** Every link's totals. */
  readonly links: Map<string, LinkAllocation>;
  /**
   * Every pair's guarantee as honoured this round: min(guarantee, demand),
   * scaled down where links are over-committed. Each rate is at least this.
   */
  readonly effectiveGuarantees: Map<string, number>;
}

export interface DemandOptions {
  /** Delivering at least this fraction of the limit counts as held back by it. @default 0.9 */
  readonly greedyFraction?: number;
  /** Smallest demand reported for a pair that is not held back. @default 0 */
  readonly floorBps?: number;
}

export interface LimiterOptions {
  /** The pair was active this round (its allocated rate is meaningful). */
  readonly active: boolean;
  /** Least rate an idle pair's limiter is set to. @default 500_000 */
  readonly idleFloorBps?: number;
}

export const DEFAULT_ACTIVE_THRESHOLD_BPS = 50_000;
export const DEFAULT_MIN_WEIGHT_BPS = 100_000;
export const DEFAULT_GREEDY_FRACTION = 0.9;
export const DEFAULT_IDLE_FLOOR_BPS = 500_000;

/** Measured offer above delivery by more than this factor means the limiter dropped packets. */
const DROP_FACTOR = 1.05;
/** Headroom over what a pair offered, so that a growing pair is not held at last round's rate. */
const DEMAND_HEADROOM = 1.2;
/** Relative tolerance for "the claimed guarantees exceed the capacity" (float sums). */
const OVERCOMMIT_TOLERANCE = 1e-9;

// ---- partitioning -------------------------------------------------------------

/**
 * Each pair's guarantee for this round: the larger of its pipe and its share of
 * both ends' hoses (see the module comment). Idle pairs (demand ≤ the active
 * threshold) get 0. Every pair of `pairs` is in the result, in input order.
 *
 * @throws RangeError on a repeated pair id or a negative or non-numeric rate.
 */
export function partitionGuarantees(
  pairs: readonly PairInput[],
  hose: ReadonlyMap<string, HoseGuarantee>,
  options: PartitionOptions = {},
): Map<string, number> {
  const threshold = options.activeThresholdBps ?? DEFAULT_ACTIVE_THRESHOLD_BPS;
  checkRate('activeThresholdBps', threshold);
  const pairCount = pairs.length;

  // Servers by index, each looked up in `hose` once: a round touches every pair, so
  // per-pair map lookups are the cost to avoid.
  const serverIndex = new Map<string, number>();
  const sendGuarantee: number[] = [];
  const receiveGuarantee: number[] = [];
  const indexOf = (server: string): number => {
    let s = serverIndex.get(server);
    if (s === undefined) {
      s = sendGuarantee.length;
      serverIndex.set(server, s);
      const guarantee = hose.get(server);
      sendGuarantee.push(guaranteeOf(guarantee?.sendBps));
      receiveGuarantee.push(guaranteeOf(guarantee?.receiveBps));
    }
    return s;
  };
  const senderOf = new Int32Array(pairCount).fill(-1);
  const receiverOf = new Int32Array(pairCount).fill(-1);
  for (let i = 0; i < pairCount; i++) {
    const pair = pairs[i] as PairInput;
    checkPairRates(pair);
    if (pair.demandBps <= threshold) continue;
    senderOf[i] = indexOf(pair.sender);
    receiverOf[i] = indexOf(pair.receiver);
  }

  // NaN: that side grants this pair nothing (idle, or no guarantee on that side).
  const sendShare = splitPerServer(pairs, senderOf, sendGuarantee);
  const receiveShare = splitPerServer(pairs, receiverOf, receiveGuarantee);

  const result = new Map<string, number>();
  for (let i = 0; i < pairCount; i++) {
    const pair = pairs[i] as PairInput;
    if (at(senderOf, i) < 0) {
      result.set(pair.id, 0);
      continue;
    }
    const send = at(sendShare, i);
    const receive = at(receiveShare, i);
    const hosePart = hoseMin(Number.isNaN(send) ? undefined : send, Number.isNaN(receive) ? undefined : receive);
    result.set(pair.id, Math.max(guaranteeOf(pair.pipeBps), hosePart));
  }
  if (result.size !== pairCount) throwOnRepeatedId(pairs, 'pair');
  return result;
}

/**
 * The guarantee `pair` would get if it alone of its ends' pairs became active:
 * its pipe, or the smaller of the sender's whole send and the receiver's whole
 * receive guarantee, whichever is larger.
 */
export function idleGuarantee(pair: PairInput, hose: ReadonlyMap<string, HoseGuarantee>): number {
  const send = guaranteeOf(hose.get(pair.sender)?.sendBps);
  const receive = guaranteeOf(hose.get(pair.receiver)?.receiveBps);
  return Math.max(guaranteeOf(pair.pipeBps), hoseMin(send > 0 ? send : undefined, receive > 0 ? receive : undefined));
}

/** A side without a guarantee does not bound the pair; with neither side there is nothing to claim. */
function hoseMin(send: number | undefined, receive: number | undefined): number {
  if (send === undefined && receive === undefined) return 0;
  return Math.min(send ?? Infinity, receive ?? Infinity);
}

function guaranteeOf(value: number | undefined): number {
  if (value === undefined) return 0;
  checkRate('guarantee', value);
  return value;
}

/**
 * Each active pair's share of its server's guarantee (`serverOf[i]`, −1 =
 * idle), NaN where the server has none. Pairs are grouped by server with a
 * counting sort, so the whole split is linear apart from each group's sort.
 */
function splitPerServer(pairs: readonly PairInput[], serverOf: Int32Array, guarantee: readonly number[]): Float64Array {
  const serverCount = guarantee.length;
  const share = new Float64Array(pairs.length).fill(Number.NaN);
  const groupStart = new Int32Array(serverCount + 1);
  for (let i = 0; i < pairs.length; i++) {
    const s = at(serverOf, i);
    if (s >= 0 && at(guarantee, s) > 0) add(groupStart, s + 1, 1);
  }
  for (let s = 0; s < serverCount; s++) add(groupStart, s + 1, at(groupStart, s));
  const grouped = new Int32Array(at(groupStart, serverCount));
  const fill = groupStart.slice(0, serverCount);
  for (let i = 0; i < pairs.length; i++) {
    const s = at(serverOf, i);
    if (s < 0 || !(at(guarantee, s) > 0)) continue;
    grouped[at(fill, s)] = i;
    add(fill, s, 1);
  }
  for (let s = 0; s < serverCount; s++) {
    const from = at(groupStart, s);
    const to = at(groupStart, s + 1);
    if (to > from) splitMaxMin(at(guarantee, s), pairs, grouped.subarray(from, to), share);
  }
  return share;
}

/**
 * Max-min fair split of `total` over the group's demands; once every demand is
 * met the rest is shared equally, so the shares always add up to `total`: a
 * guarantee is a floor, and a pair whose demand was under-estimated should find
 * its share waiting.
 */
function splitMaxMin(total: number, pairs: readonly PairInput[], group: Int32Array, share: Float64Array): void {
  sortByDemand(pairs, group);
  let remaining = total;
  for (let k = 0; k < group.length; k++) {
    const i = at(group, k);
    const demand = demandOf(pairs, i);
    const fair = remaining / (group.length - k);
    if (demand > fair) {
      for (let j = k; j < group.length; j++) share[at(group, j)] = fair;
      return;
    }
    share[i] = demand;
    remaining -= demand;
  }
  const bonus = Math.max(0, remaining) / group.length;
  for (let k = 0; k < group.length; k++) share[at(group, k)] = demandOf(pairs, at(group, k)) + bonus;
}

function demandOf(pairs: readonly PairInput[], i: number): number {
  return (pairs[i] as PairInput).demandBps;
}

/** Ascending demand, then id; groups are mostly a handful of pairs, so insertion sort. */
function sortByDemand(pairs: readonly PairInput[], group: Int32Array): void {
  if (group.length > 32) {
    group.set(Array.from(group).sort((a, b) => (lowerDemand(pairs, a, b) ? -1 : lowerDemand(pairs, b, a) ? 1 : 0)));
    return;
  }
  for (let k = 1; k < group.length; k++) {
    const i = at(group, k);
    let j = k - 1;
    while (j >= 0 && lowerDemand(pairs, i, at(group, j))) {
      group[j + 1] = at(group, j);
      j--;
    }
    group[j + 1] = i;
  }
}

function lowerDemand(pairs: readonly PairInput[], a: number, b: number): boolean {
  const pa = pairs[a] as PairInput;
  const pb = pairs[b] as PairInput;
  return pa.demandBps < pb.demandBps || (pa.demandBps === pb.demandBps && pa.id < pb.id);
}

// ---- allocation ---------------------------------------------------------------

/**
 * Every pair's rate for this round: at least its (possibly scaled) guarantee,
 * at most its demand, no link above capacity, and the spare shared by
 * weighted max-min fairness (see the module comment). A pair missing from
 * `guarantees` has none.
 *
 * @throws RangeError on an unknown or repeated link, a repeated id, a negative
 *   or non-numeric rate, or a pair with unbounded demand that crosses no link.
 */
export function allocateRates(
  links: readonly AllocLink[],
  pairs: readonly PairInput[],
  guarantees: ReadonlyMap<string, number>,
  options: AllocateOptions = {},
): Allocation {
  const minWeight = options.minWeightBps ?? DEFAULT_MIN_WEIGHT_BPS;
  if (!(minWeight > 0 && Number.isFinite(minWeight))) throw new RangeError(`minWeightBps must be a positive number, got ${String(minWeight)}`);
  const network = buildNetwork(links, pairs);
  const { pairList, linkList } = network;
  const pairCount = pairList.length;
  const linkCount = linkList.length;

  const guarantee = new Float64Array(pairCount);
  const demand = new Float64Array(pairCount);
  const claim = new Float64Array(pairCount);
  for (let i = 0; i < pairCount; i++) {
    const pair = pairList[i] as PairInput;
    const g = guarantees.get(pair.id) ?? 0;
    if (!(g >= 0 && Number.isFinite(g))) throw new RangeError(`guarantee of pair "${pair.id}" must be a finite number ≥ 0, got ${String(g)}`);
    guarantee[i] = g;
    demand[i] = pair.demandBps;
    claim[i] = Math.min(g, pair.demandBps);
  }

  const claimed = linkSums(network, claim);
  const overcommitted = new Uint8Array(linkCount);
  let anyOvercommitted = false;
  for (let l = 0; l < linkCount; l++) {
    const capacity = at(network.capacity, l);
    if (at(claimed, l) > capacity * (1 + OVERCOMMIT_TOLERANCE)) {
      overcommitted[l] = 1;
      anyOvercommitted = true;
    }
  }

  // Phase 1: the guarantees that fit. Filling every claim in proportion to itself, up to the
  // claim, scales each over-committed link's pairs by the same factor; a pair held lower by
  // a tighter link leaves its unused part to the others, which is why this is a fill and
  // not one division per link.
  let effective = claim;
  if (anyOvercommitted) {
    effective = new Float64Array(pairCount);
    waterFill(network, new Float64Array(pairCount), claim, claim, effective);
  }

  // Phase 2: the spare, weighted by guarantee.
  const weight = new Float64Array(pairCount);
  for (let i = 0; i < pairCount; i++) weight[i] = at(guarantee, i) + minWeight;
  const rate = new Float64Array(pairCount);
  waterFill(network, effective, weight, demand, rate);

  const allocated = linkSums(network, rate);
  const linkResult = new Map<string, LinkAllocation>();
  for (let l = 0; l < linkCount; l++) {
    linkResult.set((linkList[l] as AllocLink).id, {
      capacityBps: at(network.capacity, l),
      guaranteedBps: at(claimed, l),
      allocatedBps: at(allocated, l),
      overcommitted: overcommitted[l] === 1,
    });
  }
  const rates = byPairId(pairList, rate);
  if (rates.size !== pairCount) throwOnRepeatedId(pairList, 'pair');
  // Built on first read: a controller round needs only the rates.
  let effectiveGuarantees: Map<string, number> | undefined;
  return {
    rates,
    links: linkResult,
    get effectiveGuarantees() {
      return (effectiveGuarantees ??= byPairId(pairList, effective));
    },
  };
}

function byPairId(pairList: readonly PairInput[], values: Float64Array): Map<string, number> {
  const map = new Map<string, number>();
  for (let i = 0; i < pairList.length; i++) map.set((pairList[i] as PairInput).id, at(values, i));
  return map;
}

/** Pairs and links (in input order), with the pair→links and link→pairs incidence as flat index arrays. */
interface Network {
  readonly pairList: readonly PairInput[];
  readonly linkList: readonly AllocLink[];
  readonly capacity: Float64Array;
  /** Links of pair i: pathLinks[pathStart[i] .. pathStart[i+1]). */
  readonly pathStart: Int32Array;
  readonly pathLinks: Int32Array;
  /** Pairs on link l: linkPairs[linkPairStart[l] .. linkPairStart[l+1]). */
  readonly linkPairStart: Int32Array;
  readonly linkPairs: Int32Array;
}

function buildNetwork(links: readonly AllocLink[], pairs: readonly PairInput[]): Network {
  // Input order, not id order: sorting the ids costs about as much as the rest of the set-up,
  // and the event heaps break ties by id anyway.
  const linkList = links;
  const pairList = pairs;
  const linkIndex = new Map<string, number>();
  const capacity = new Float64Array(linkList.length);
  linkList.forEach((link, l) => {
    if (!(link.capacityBps >= 0 && Number.isFinite(link.capacityBps))) {
      throw new RangeError(`capacity of link "${link.id}" must be a finite number ≥ 0, got ${String(link.capacityBps)}`);
    }
    if (linkIndex.has(link.id)) throw new RangeError(`link id "${link.id}" is repeated`);
    linkIndex.set(link.id, l);
    capacity[l] = link.capacityBps;
  });

  const pathStart = new Int32Array(pairList.length + 1);
  let total = 0;
  for (let i = 0; i < pairList.length; i++) {
    const pair = pairList[i] as PairInput;
    checkPairRates(pair);
    if (pair.links.length === 0 && pair.demandBps === Infinity) {
      throw new RangeError(`pair "${pair.id}" crosses no link and has unbounded demand: its rate would be unbounded`);
    }
    pathStart[i] = total;
    total += pair.links.length;
  }
  pathStart[pairList.length] = total;

  const pathLinks = new Int32Array(total);
  const perLink = new Int32Array(linkList.length);
  for (let i = 0; i < pairList.length; i++) {
    const pair = pairList[i] as PairInput;
    const start = at(pathStart, i);
    for (let k = 0; k < pair.links.length; k++) {
      const id = pair.links[k] as string;
      const l = linkIndex.get(id);
      if (l === undefined) throw new RangeError(`pair "${pair.id}" crosses unknown link "${id}"`);
      for (let j = start; j < start + k; j++) {
        if (pathLinks[j] === l) throw new RangeError(`pair "${pair.id}" lists link "${id}" twice`);
      }
      pathLinks[start + k] = l;
      add(perLink, l, 1);
    }
  }

  const linkPairStart = new Int32Array(linkList.length + 1);
  for (let l = 0; l < linkList.length; l++) linkPairStart[l + 1] = at(linkPairStart, l) + at(perLink, l);
  const fill = linkPairStart.slice(0, linkList.length);
  const linkPairs = new Int32Array(total);
  for (let i = 0; i < pairList.length; i++) {
    for (let j = at(pathStart, i); j < at(pathStart, i + 1); j++) {
      const l = at(pathLinks, j);
      linkPairs[at(fill, l)] = i;
      add(fill, l, 1);
    }
  }
  return { pairList, linkList, capacity, pathStart, pathLinks, linkPairStart, linkPairs };
}

function linkSums(network: Network, perPair: Float64Array): Float64Array {
  const sums = new Float64Array(network.linkList.length);
  for (let i = 0; i < perPair.length; i++) {
    for (let j = at(network.pathStart, i); j < at(network.pathStart, i + 1); j++) {
      const l = at(network.pathLinks, j);
      add(sums, l, at(perPair, i));
    }
  }
  return sums;
}

/**
 * Weighted progressive filling, event-driven: every unfrozen pair runs at
 * base + weight·λ as λ grows from 0, and stops (freezes) when it reaches its
 * ceiling or a link on its path fills up. Between events everything is
 * linear, so only the events are computed, each from two heaps:
 *  - a pair's event, (ceiling − base) / weight, is fixed;
 *  - a link's, (capacity − Σ frozen − Σ base) / Σ weight over its pairs, only
 *    moves later when one of its pairs freezes (the frozen pair stops taking
 *    a part of the slack the others now share), so an entry on the heap is a
 *    lower bound: when it surfaces it is recomputed from the link's running
 *    sums and pushed back if it moved, and otherwise it is the event.
 * Freezing a pair updates the sums of its own links only.
 * O((P·k + L) log(P + L)) for P pairs crossing k links each, L links.
 *
 * Expects base ≤ ceiling, and Σ base ≤ capacity on every link (up to float
 * error); a pair with weight 0 stays at its base.
 */
function waterFill(network: Network, base: Float64Array, weight: Float64Array, ceiling: Float64Array, out: Float64Array): void {
  const { pathStart, pathLinks, linkPairStart, linkPairs, capacity } = network;
  const pairCount = base.length;
  const linkCount = capacity.length;
  const frozen = new Uint8Array(pairCount);
  const frozenSum = new Float64Array(linkCount);
  const baseSum = new Float64Array(linkCount);
  const weightSum = new Float64Array(linkCount);
  const activeCount = new Int32Array(linkCount);

  const pairEvents = new EventHeap(pairCount, network.pairList);
  let rising = 0;
  for (let i = 0; i < pairCount; i++) {
    const b = at(base, i);
    const w = at(weight, i);
    const stuck = !(w > 0) || at(ceiling, i) <= b;
    if (stuck) {
      frozen[i] = 1;
      out[i] = Math.min(b, at(ceiling, i));
    } else {
      rising++;
      const reachesCeilingAt = (at(ceiling, i) - b) / w;
      if (reachesCeilingAt < Infinity) pairEvents.push(reachesCeilingAt, i);
    }
    for (let j = at(pathStart, i); j < at(pathStart, i + 1); j++) {
      const l = at(pathLinks, j);
      if (stuck) {
        add(frozenSum, l, at(out, i));
      } else {
        add(baseSum, l, b);
        add(weightSum, l, w);
        add(activeCount, l, 1);
      }
    }
  }

  const fillsAt = (l: number): number => {
    let w = at(weightSum, l);
    if (!(w > 0)) {
      // Subtraction drift ate the sum of the remaining weights: recount them (rare).
      w = 0;
      let b = 0;
      for (let j = at(linkPairStart, l); j < at(linkPairStart, l + 1); j++) {
        const i = at(linkPairs, j);
        if (frozen[i] === 0) {
          w += at(weight, i);
          b += at(base, i);
        }
      }
      weightSum[l] = w;
      baseSum[l] = b;
    }
    return (at(capacity, l) - at(frozenSum, l) - at(baseSum, l)) / w;
  };
  // One entry per link at most: an entry is popped before its link is pushed again.
  const linkEvents = new EventHeap(linkCount, network.linkList);
  for (let l = 0; l < linkCount; l++) {
    if (at(activeCount, l) > 0) linkEvents.push(fillsAt(l), l);
  }

  const freeze = (i: number, rate: number): void => {
    rising--;
    frozen[i] = 1;
    out[i] = rate;
    const b = at(base, i);
    const w = at(weight, i);
    for (let j = at(pathStart, i); j < at(pathStart, i + 1); j++) {
      const l = at(pathLinks, j);
      add(frozenSum, l, rate);
      const left = at(activeCount, l) - 1;
      activeCount[l] = left;
      if (left === 0) {
        baseSum[l] = 0;
        weightSum[l] = 0;
      } else {
        baseSum[l] = at(baseSum, l) - b;
        weightSum[l] = at(weightSum, l) - w;
      }
    }
  };

  // Stops with the last rising pair: entries left on the heaps are stale.
  let lambda = 0;
  while (rising > 0) {
    while (pairEvents.size > 0 && frozen[pairEvents.topItem()] === 1) pairEvents.pop();
    const pairLambda = pairEvents.size > 0 ? pairEvents.topKey() : Infinity;
    let linkLambda = Infinity;
    while (linkEvents.size > 0) {
      const l = linkEvents.topItem();
      if (at(activeCount, l) === 0) {
        linkEvents.pop();
        continue;
      }
      const current = fillsAt(l);
      if (current <= linkEvents.topKey()) {
        linkLambda = current;
        break;
      }
      linkEvents.pop();
      linkEvents.push(current, l);
    }
    if (pairLambda === Infinity && linkLambda === Infinity) break;

    if (pairLambda <= linkLambda) {
      lambda = Math.max(lambda, pairLambda);
      const i = pairEvents.topItem();
      pairEvents.pop();
      freeze(i, at(ceiling, i));
    } else {
      lambda = Math.max(lambda, linkLambda);
      const l = linkEvents.topItem();
      linkEvents.pop();
      for (let j = at(linkPairStart, l); j < at(linkPairStart, l + 1); j++) {
        const i = at(linkPairs, j);
        if (frozen[i] === 0) freeze(i, Math.min(at(ceiling, i), at(base, i) + at(weight, i) * lambda));
      }
    }
  }
  // Only for invalid input (an unbounded pair on no link), but never leave a pair unset.
  if (rising > 0) for (let i = 0; i < pairCount; i++) if (frozen[i] === 0) out[i] = at(base, i) + at(weight, i) * lambda;
}

/**
 * Min-heap of (λ, item) entries, items being indices of pairs or links; ties
 * by the item's id, so that the order of events does not depend on the order
 * of the input. Flat arrays, no per-entry objects.
 */
class EventHeap {
  private readonly keys: Float64Array;
  private readonly items: Int32Array;
  size = 0;

  constructor(
    capacity: number,
    private readonly named: readonly { readonly id: string }[],
  ) {
    this.keys = new Float64Array(capacity);
    this.items = new Int32Array(capacity);
  }

  topKey(): number {
    return at(this.keys, 0);
  }

  topItem(): number {
    return at(this.items, 0);
  }

  push(key: number, item: number): void {
    let slot = this.size++;
    while (slot > 0) {
      const parent = (slot - 1) >> 1;
      if (!this.precedes(key, item, at(this.keys, parent), at(this.items, parent))) break;
      this.keys[slot] = at(this.keys, parent);
      this.items[slot] = at(this.items, parent);
      slot = parent;
    }
    this.keys[slot] = key;
    this.items[slot] = item;
  }

  /**
   * Bottom-up: the hole left at the root sinks to a leaf along the smaller
   * children (one comparison per level), then the last entry rises from
   * there, usually at once; half the comparisons of the textbook sift-down.
   */
  pop(): void {
    const last = --this.size;
    if (last === 0) return;
    let hole = 0;
    for (;;) {
      const left = 2 * hole + 1;
      if (left >= last) break;
      const right = left + 1;
      const child = right < last && this.precedes(at(this.keys, right), at(this.items, right), at(this.keys, left), at(this.items, left)) ? right : left;
      this.keys[hole] = at(this.keys, child);
      this.items[hole] = at(this.items, child);
      hole = child;
    }
    const key = at(this.keys, last);
    const item = at(this.items, last);
    while (hole > 0) {
      const parent = (hole - 1) >> 1;
      if (!this.precedes(key, item, at(this.keys, parent), at(this.items, parent))) break;
      this.keys[hole] = at(this.keys, parent);
      this.items[hole] = at(this.items, parent);
      hole = parent;
    }
    this.keys[hole] = key;
    this.items[hole] = item;
  }

  private precedes(key: number, item: number, otherKey: number, otherItem: number): boolean {
    return key < otherKey || (key === otherKey && (this.named[item] as { id: string }).id < (this.named[otherItem] as { id: string }).id);
  }
}


// ---- measurement glue ----------------------------------------------------------

/**
 * The demand to assume next round for a pair whose limiter was set to
 * `prev.limitBps`, from what its sender offered to the limiter and what got
 * through.
 *
 * A TCP flow held back by a policer settles at about the policer's rate and
 * keeps losing packets, so a pair that delivers nearly its limit, or whose
 * limiter dropped, cannot show what it would use: it is treated as greedy
 * (Infinity) and the allocation, not a guess, decides how much more it gets.
 * A pair well below its limit is application-limited and shows its real
 * demand; it gets some headroom so that a growing pair is noticed next round.
 */
export function estimateDemand(
  prev: { readonly limitBps: number },
  measured: { readonly offeredBps: number; readonly deliveredBps: number },
  options: DemandOptions = {},
): number {
  const greedyFraction = options.greedyFraction ?? DEFAULT_GREEDY_FRACTION;
  const floor = options.floorBps ?? 0;
  const { offeredBps, deliveredBps } = measured;
  // A pair that sent nothing is idle even when its limit is 0.
  const heldAtLimit = deliveredBps > 0 && deliveredBps >= greedyFraction * prev.limitBps;
  const dropped = offeredBps > deliveredBps * DROP_FACTOR;
  if (heldAtLimit || dropped) return Infinity;
  return Math.max(offeredBps * DEMAND_HEADROOM, floor);
}

/**
 * The rate to program into a pair's limiter. An idle pair is allocated
 * nothing, but a limiter at 0 would stop it from ever showing demand: it gets
 * the guarantee it would have alone (at least a small floor), so that a pair
 * starting to send reaches its guarantee before the next round.
 */
export function limiterRate(pairRate: number, idleGuaranteeBps: number, options: LimiterOptions): number {
  if (options.active) return pairRate;
  return Math.max(idleGuaranteeBps, options.idleFloorBps ?? DEFAULT_IDLE_FLOOR_BPS);
}

/**
 * Typed-array read in hot loops: every index used is within arrays this module
 * sized itself, which \`noUncheckedIndexedAccess\` cannot see.
 */
function at(array: ArrayLike<number>, index: number): number {
  return array[index] as number;
}

function add(array: Float64Array | Int32Array, index: number, delta: number): void {
  array[index] = (array[index] as number) + delta;
}

// ---- validation ----------------------------------------------------------------

function checkRate(what: string, value: number): void {
  if (!(value >= 0) || value === Infinity) throw new RangeError(`${what} must be a finite number ≥ 0, got ${String(value)}`);
}

function checkPairRates(pair: PairInput): void {
  if (!(pair.demandBps >= 0)) throw new RangeError(`demand of pair "${pair.id}" must be ≥ 0 or Infinity, got ${String(pair.demandBps)}`);
  if (pair.pipeBps !== undefined) checkRate(`pipe of pair "${pair.id}"`, pair.pipeBps);
}

/** Refuses a repeated id (a pair or link counted twice would double its share); called once a map came out short. */
function throwOnRepeatedId(items: readonly { readonly id: string }[], what: string): void {
  const seen = new Set<string>();
  for (const { id } of items) {
    if (seen.has(id)) throw new RangeError(`${what} id "${id}" is repeated`);
    seen.add(id);
  }
}
