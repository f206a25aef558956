/**
 * Guaranteed bandwidth, cloud-wide: a controller in the agent that allocates
 * every VM pair's rate from live counters and programs the pair limiters on
 * the senders' hosts (pair-limiter.ts). ElasticSwitch's two layers, run
 * centrally because the agent sees every host (a per-host agent cannot hold a
 * download guarantee across hosts: only the senders' hosts can limit what
 * crosses the receiver's uplink):
 *
 * 1. guarantee partitioning: each VM's hose guarantees (download min, upload
 *    min) are split among its active pairs by demand; a declared pair
 *    guarantee (pipe) is a floor on top;
 * 2. rate allocation: every pair gets its guarantee, and what is left on each
 *    shared link (a host's uplink in each direction, a VM's port cap, a VM's
 *    upload cap) goes to the pairs that want more, weighted by guarantee —
 *    so an idle VM's guarantee is lent, not wasted (work conservation).
 *
 * Level-based: every round recomputes from what the switches report and what
 * is desired, and re-installs whatever a switch lost. Pure parts are in
 * src/qos/allocation.ts. docs/agent.md, "Guaranteed bandwidth".
 */
import {
  allocateRates,
  DEFAULT_ACTIVE_THRESHOLD_BPS,
  estimateDemand,
  idleGuarantee,
  limiterRate,
  partitionGuarantees,
  type AllocLink,
  type HoseGuarantee,
  type PairInput,
} from '../../qos/allocation.ts';
import type { Sla } from '../../qos/sla.ts';
import type { InventorySnapshot } from '../inventory.ts';
import { flowKey, type PairCounter, type PairLimit } from '../enforcement/pair-limiter.ts';
import type { DirectionView, HostGuaranteeView, RoundStats, UplinkCapacity, VmGuaranteeView } from './view.ts';

export type { DirectionView, HostGuaranteeView, RoundStats, UplinkCapacity, VmGuaranteeView } from './view.ts';

/** What the controller needs of a host's pair limiters (a `PairLimiter` fits). */
export interface PairLimiters {
  readonly connected: boolean;
  read(signal?: AbortSignal): Promise<Map<string, PairCounter>>;
  apply(limits: ReadonlyMap<string, PairLimit>, signal?: AbortSignal): Promise<{ countersReset: Set<string> }>;
}

export interface GuaranteeControllerOptions {
  inventory: { snapshot(): InventorySnapshot | undefined };
  /** Desired SLAs by server id (lower case). */
  slas: () => ReadonlyMap<string, Sla>;
  /**
   * Changes whenever `slas()` may have changed. With it a round whose inputs did not change
   * (same snapshot, same version, same port numbers) skips rebuilding the pairs: at 20 000
   * servers that rebuild was most of an agent's CPU. Without it every round compares them.
   */
  slasVersion?: () => number;
  /** The host's pair limiter, when its bridge has an OpenFlow connection. */
  limiter: (host: string) => PairLimiters | undefined;
  /** OpenFlow port numbers of ports by port id (from the hosts' OVSDB replicas). */
  ofports: () => ReadonlyMap<string, number>;
  uplink: (host: string) => UplinkCapacity | undefined;
  /**
   * With several agent replicas: the hosts this one owns. The others' hosts
   * are their owners' to report (admission, errors); here they get no view.
   * @default every host
   */
  owns?: (host: string) => boolean;
  /** @default 500 */
  intervalMs?: number;
  /** Share of an uplink the controller hands out (the rest absorbs what it does not control: ARP, bursts). @default 0.97 */
  uplinkHeadroom?: number;
  /** A VM gets less than this share of its guarantee while it wants more: a violation second. @default 0.95 */
  violationFraction?: number;
  log?: (event: object, level?: 'info' | 'warn') => void;
  /** Milliseconds, monotonic (tests run the loop on a model's clock). @default performance.now */
  clock?: () => number;
  /** Called per active pair and round with its figures (diagnostics: `CM_GUARANTEE_TRACE=1` in the testbed). */
  trace?: (event: { round: number; pair: string; limit: number; demand: number; delivered: number; guarantee: number }) => void;
}

interface PairState {
  input: Omit<PairInput, 'demandBps'>;
  senderHost: string;
  receiverHost: string;
  inPort: number;
  dstMac: string;
  limitBps: number | undefined;
  deliveredBps: number;
  demandBps: number;
  last: { at: number; offered: number; dropped: number } | undefined;
}

interface VmState {
  host: string;
  download: { violation: number; demand: boolean; delivered: number; allocated: number } | undefined;
  upload: { violation: number; demand: boolean; delivered: number; allocated: number } | undefined;
  pairs: number;
}

/** The meter dropped more than this share of what reached it (or than the floor): the pair is held back by it. */
const METER_DROP_SHARE = 0.005;
const METER_DROP_FLOOR_BPS = 8_000;
/** Delivering this share of its limit without drops still counts as held back (a flow just under a fresh limit). */
const GREEDY_FRACTION = 0.85;

/** A pair's demand estimate falls at most to this share of its limit per round. */
const DEMAND_DECAY = 0.5;

/** Programmed limits change only when the new one differs by more than this share: no flapping meters for noise. */
const HYSTERESIS = 0.03;

export class GuaranteeController {
  private timer: NodeJS.Timeout | undefined;
  private stopped = true;
  private pairs = new Map<string, PairState>();
  private pairSignature = '';
  private pairInputs: { snapshot: InventorySnapshot | undefined; slasVersion: number; ofports: ReadonlyMap<string, number> } | undefined;
  private bySnapshot: { snapshot: InventorySnapshot | undefined; hostOf: Map<string, string | null>; hostNames: Set<string> } | undefined;
  private hostSums: { snapshot: InventorySnapshot | undefined; slasVersion: number; sums: Map<string, { down: number; up: number }> } | undefined;
  private readonly vms = new Map<string, VmState>();
  private hostViews = new Map<string, HostGuaranteeView>();
  private readonly hostErrors = new Map<string, string>();
  private lastRoundAt: number | undefined;
  private running: Promise<void> | undefined;
  readonly stats: RoundStats = { rounds: 0, lastRoundMs: 0, cpuMicros: 0, pairs: 0, activePairs: 0 };

  private readonly clock: () => number;

  constructor(private readonly options: GuaranteeControllerOptions) {
    this.clock = options.clock ?? (() => performance.now());
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /**
   * Stops the rounds and removes every pair limiter from the switches, so
   * traffic runs as it would without guarantees (the scenarios' "before"
   * measurement); `start()` resumes.
   */
  async suspend(): Promise<void> {
    await this.stop();
    const hosts = new Set([...this.hostViews.keys(), ...[...this.pairs.values()].map((p) => p.senderHost)]);
    await Promise.all(
      [...hosts].map(async (host) => {
        const limiter = this.options.limiter(host);
        if (!limiter?.connected) return;
        await limiter.read();
        await limiter.apply(new Map());
      }),
    );
    for (const p of this.pairs.values()) {
      p.limitBps = undefined;
      p.last = undefined;
      p.demandBps = 0;
      p.deliveredBps = 0;
    }
  }

  /** Runs one round now (tests; also what the timer calls). */
  round(): Promise<void> {
    this.running ??= this.runRound().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  vm(serverId: string): VmGuaranteeView | undefined {
    const id = serverId.toLowerCase();
    const state = this.vms.get(id);
    const sla = this.options.slas().get(id);
    if (!state || !sla) return undefined;
    const dir = (g: number | undefined, s: VmState['download']): DirectionView | null =>
      g === undefined || g <= 0
        ? null
        : { guaranteeBps: g, allocatedBps: s?.allocated ?? 0, deliveredBps: s?.delivered ?? 0, demand: s?.demand ?? false, violationSeconds: s?.violation ?? 0 };
    return { serverId: id, host: state.host, download: dir(sla.download?.minRate, state.download), upload: dir(sla.upload?.minRate, state.upload), pairs: state.pairs };
  }

  vmViews(): VmGuaranteeView[] {
    return [...this.vms.keys()].flatMap((id) => this.vm(id) ?? []);
  }

  hosts(): HostGuaranteeView[] {
    return [...this.hostViews.values()];
  }

  host(name: string): HostGuaranteeView | undefined {
    return this.hostViews.get(name);
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.round()
        .catch((error: unknown) => {
          this.options.log?.({ event: 'guarantee_round_failed', error: error instanceof Error ? error.message : String(error) }, 'warn');
        })
        .finally(() => {
          this.schedule(this.options.intervalMs ?? 500);
        });
    }, delayMs);
    this.timer.unref();
  }

  private async runRound(): Promise<void> {
    const started = performance.now();
    const cpu = process.cpuUsage();
    const snapshot = this.options.inventory.snapshot();
    const slas = this.options.slas();
    this.rebuildPairs(snapshot, slas);

    // 1. Counters, per host with a connected limiter, all hosts at once.
    const now = this.clock();
    const hosts = new Set([...this.pairs.values()].map((p) => p.senderHost));
    const counters = new Map<string, Map<string, { offeredBytes: number; droppedBytes: number }>>();
    await Promise.all(
      [...hosts].map(async (host) => {
        const limiter = this.options.limiter(host);
        if (!limiter?.connected) return;
        try {
          counters.set(host, await limiter.read());
          this.hostErrors.delete(host);
        } catch (error) {
          this.hostErrors.set(host, `reading pair counters: ${error instanceof Error ? error.message : String(error)}`);
        }
      }),
    );
    const at = this.clock();
    for (const p of this.pairs.values()) {
      const c = counters.get(p.senderHost)?.get(flowKey(p.inPort, p.dstMac));
      if (!c) {
        p.last = undefined;
        p.deliveredBps = 0;
        p.demandBps = 0;
        continue;
      }
      const prev = p.last;
      p.last = { at, offered: c.offeredBytes, dropped: c.droppedBytes };
      // No baseline yet, or counters that went back (a meter re-created by someone else): this round keeps the last estimate.
      if (!prev || at <= prev.at || c.offeredBytes < prev.offered || c.droppedBytes < prev.dropped) continue;
      const seconds = (at - prev.at) / 1000;
      const offeredBps = ((c.offeredBytes - prev.offered) * 8) / seconds;
      const droppedBps = (Math.max(0, c.droppedBytes - prev.dropped) * 8) / seconds;
      p.deliveredBps = Math.max(0, offeredBps - droppedBps);
      const wasIdle = p.demandBps <= DEFAULT_ACTIVE_THRESHOLD_BPS;
      // A pair that just started cannot show its demand yet (congestion elsewhere may hold it): it is taken as greedy
      // for one round, so it reaches its guarantee in one round instead of growing 20 % per round; if it wanted
      // less, the next round sees it below its limit and hands the rest back.
      // TCP finds a policer's rate by losing packets at it, so any real drop at our meter means "held back: wants more",
      // whatever share of the limit got through in this round (a flow that just lost packets delivers less for a while).
      const meterDropped = droppedBps > Math.max(METER_DROP_SHARE * offeredBps, METER_DROP_FLOOR_BPS);
      if ((wasIdle && offeredBps > DEFAULT_ACTIVE_THRESHOLD_BPS) || meterDropped) p.demandBps = Infinity;
      else if (p.limitBps === undefined) p.demandBps = offeredBps;
      else {
        const measured = estimateDemand({ limitBps: p.limitBps }, { offeredBps, deliveredBps: p.deliveredBps }, { greedyFraction: GREEDY_FRACTION });
        // A pair below its limit without meter drops is either application-limited or recovering from losses elsewhere
        // (a congested NIC, TCP's timeout backoff). Taking 1.2 × its rate at once would ratchet such flows down round after
        // round; the estimate may fall by half per round at most.
        p.demandBps = offeredBps > DEFAULT_ACTIVE_THRESHOLD_BPS ? Math.max(measured, DEMAND_DECAY * p.limitBps) : measured;
      }
    }

    // 2. Allocation (pure).
    const links = this.links(snapshot, slas);
    const inputs: PairInput[] = [...this.pairs.values()].map((p) => ({ ...p.input, demandBps: p.demandBps }));
    // Only the pairs' ends have a say in this round's allocation.
    const hose = new Map<string, HoseGuarantee>();
    const ends = new Set<string>();
    for (const p of this.pairs.values()) {
      ends.add(p.input.sender);
      ends.add(p.input.receiver);
    }
    for (const id of ends) {
      const sla = slas.get(id);
      if (!sla) continue;
      hose.set(id, {
        ...(sla.upload?.minRate ? { sendBps: sla.upload.minRate } : {}),
        ...(sla.download?.minRate ? { receiveBps: sla.download.minRate } : {}),
      });
    }
    const guarantees = partitionGuarantees(inputs, hose);
    const allocation = allocateRates([...links.values()], inputs, guarantees);

    // 3. Limits: an active pair gets its allocation, an idle one enough to reach its guarantee before the next round.
    const byHost = new Map<string, Map<string, PairLimit>>();
    let active = 0;
    // Idle pairs sharing a link split its spare capacity, so that all of them starting at once do not overshoot it
    // (three pairs each allowed the whole spare of a 10 Mbit/s NIC could send 29 Mbit/s into it, and the losses there
    // make TCP back off for seconds).
    const idleOnLink = new Map<string, number>();
    for (const p of this.pairs.values()) {
      if ((guarantees.get(p.input.id) ?? 0) > 0 || p.demandBps > DEFAULT_ACTIVE_THRESHOLD_BPS) continue;
      for (const l of p.input.links) idleOnLink.set(l, (idleOnLink.get(l) ?? 0) + 1);
    }
    for (const p of this.pairs.values()) {
      const isActive = (guarantees.get(p.input.id) ?? 0) > 0 || p.demandBps > DEFAULT_ACTIVE_THRESHOLD_BPS;
      if (isActive) active++;
      const rate = isActive ? (allocation.rates.get(p.input.id) ?? 0) : 0;
      // An idle pair may start at its share of what is free on its path now (at least its guarantee), not only at its
      // guarantee: a flow starting on an empty link then does not lose packets to a low meter before the next round.
      const idleStart = isActive ? 0 : Math.max(idleGuarantee({ ...p.input, demandBps: 0 }, hose), spareOnPath(p.input.links, allocation.links, idleOnLink));
      // An active pair is never starved to 0: it would stop showing demand (64 kbit/s keeps it measurable).
      const wanted = Math.max(64_000, limiterRate(rate, idleStart, { active: isActive }));
      const limit = p.limitBps !== undefined && Math.abs(wanted - p.limitBps) <= HYSTERESIS * p.limitBps ? p.limitBps : wanted;
      p.limitBps = limit;
      const m = byHost.get(p.senderHost) ?? new Map<string, PairLimit>();
      m.set(flowKey(p.inPort, p.dstMac), { inPort: p.inPort, dstMac: p.dstMac, rateBps: limit });
      byHost.set(p.senderHost, m);
    }
    // Hosts that had limiters but now have no pair: empty maps delete what is left.
    for (const host of this.hostViews.keys()) if (!byHost.has(host)) byHost.set(host, new Map());

    // 4. Program each host (one batch each, in parallel).
    const pairByKey = new Map([...this.pairs.values()].map((p) => [`${p.senderHost} ${flowKey(p.inPort, p.dstMac)}`, p]));
    await Promise.all(
      [...byHost].map(async ([host, limits]) => {
        const limiter = this.options.limiter(host);
        if (!limiter?.connected) {
          if (limits.size > 0) this.hostErrors.set(host, 'no OpenFlow connection to the bridge (enforcement.openflow)');
          return;
        }
        if (!counters.has(host) && limits.size > 0) return; // unread this round: apply after the next read
        try {
          const { countersReset } = await limiter.apply(limits);
          const at = this.clock();
          for (const key of countersReset) {
            const pair = pairByKey.get(`${host} ${key}`);
            if (pair) pair.last = { at, offered: 0, dropped: 0 };
          }
        } catch (error) {
          this.hostErrors.set(host, `programming pair limiters: ${error instanceof Error ? error.message : String(error)}`);
          this.options.log?.({ event: 'guarantee_apply_failed', host, error: error instanceof Error ? error.message : String(error) }, 'warn');
        }
      }),
    );

    if (this.options.trace) {
      for (const p of this.pairs.values()) {
        if (p.deliveredBps > DEFAULT_ACTIVE_THRESHOLD_BPS || p.demandBps > DEFAULT_ACTIVE_THRESHOLD_BPS) {
          this.options.trace({ round: this.stats.rounds, pair: p.input.id, limit: Math.round(p.limitBps ?? 0), demand: p.demandBps, delivered: Math.round(p.deliveredBps), guarantee: guarantees.get(p.input.id) ?? 0 });
        }
      }
    }

    // 5. What operators see.
    const dt = this.lastRoundAt === undefined ? 0 : (now - this.lastRoundAt) / 1000;
    this.lastRoundAt = now;
    this.updateVmViews(snapshot, slas, guarantees, dt);
    this.updateHostViews(snapshot, slas, byHost);
    const used = process.cpuUsage(cpu);
    this.stats.rounds++;
    this.stats.lastRoundMs = performance.now() - started;
    this.stats.cpuMicros += used.user + used.system;
    this.stats.pairs = this.pairs.size;
    this.stats.activePairs = active;
  }

  /** Pairs: every two SLA servers with a port on a common network, once per direction. Rebuilt only when their inputs change. */
  private rebuildPairs(snapshot: InventorySnapshot | undefined, slas: ReadonlyMap<string, Sla>): void {
    const ofports = this.options.ofports();
    const slasVersion = this.options.slasVersion?.();
    const last = this.pairInputs;
    if (slasVersion !== undefined) {
      if (last && last.snapshot === snapshot && last.slasVersion === slasVersion && sameEntries(last.ofports, ofports)) return;
      this.pairInputs = { snapshot, slasVersion, ofports };
    }
    if (ofports.size === 0) {
      // No port has an OpenFlow number: no pair can be limited (a switch without vswitchd, or not synced yet).
      this.pairs = new Map();
      this.pairSignature = '';
      return;
    }
    type Member = { id: string; host: string; portId: string; mac: string; ofport: number | undefined };
    const byNetwork = new Map<string, Member[]>();
    for (const server of snapshot?.servers ?? []) {
      const id = server.id.toLowerCase();
      if (!slas.has(id) || server.host === null) continue;
      for (const port of server.ports) {
        if (port.macAddress === undefined) continue;
        const list = byNetwork.get(port.networkId) ?? [];
        list.push({ id, host: server.host, portId: port.id, mac: port.macAddress.toLowerCase(), ofport: ofports.get(port.id) });
        byNetwork.set(port.networkId, list);
      }
    }
    const signature = JSON.stringify([...byNetwork.entries()].map(([n, ms]) => [n, ms.map((m) => `${m.id}@${m.host}:${m.portId}:${String(m.ofport)}`)]).concat(
      [...slas.entries()].map(([id, s]) => [id, JSON.stringify(s)]),
    ));
    if (signature === this.pairSignature) return;
    this.pairSignature = signature;
    const next = new Map<string, PairState>();
    for (const members of byNetwork.values()) {
      for (const s of members) {
        if (s.ofport === undefined) continue;
        for (const r of members) {
          if (r.id === s.id) continue;
          const id = `${s.id}>${r.id}`;
          if (next.has(id)) continue; // two shared networks: the first carries the pair
          const sSla = slas.get(s.id);
          const rSla = slas.get(r.id);
          const pipe = Math.max(
            sSla?.peers?.find((x) => x.serverId.toLowerCase() === r.id)?.minRate ?? 0,
            rSla?.peers?.find((x) => x.serverId.toLowerCase() === s.id)?.minRate ?? 0,
          );
          const previous = this.pairs.get(id);
          const sameLimiter = previous?.inPort === s.ofport && previous.dstMac === r.mac && previous.senderHost === s.host;
          next.set(id, {
            input: { id, sender: s.id, receiver: r.id, links: [], ...(pipe > 0 ? { pipeBps: pipe } : {}) },
            senderHost: s.host,
            receiverHost: r.host,
            inPort: s.ofport,
            dstMac: r.mac,
            limitBps: sameLimiter ? previous.limitBps : undefined,
            deliveredBps: sameLimiter ? previous.deliveredBps : 0,
            demandBps: sameLimiter ? previous.demandBps : 0,
            last: sameLimiter ? previous.last : undefined,
          });
        }
      }
    }
    this.pairs = next;
  }

  /**
   * The links of this round (capacities may change with the config or the SLAs); sets each pair's path.
   * Only links some pair crosses: the others could not change an allocation.
   */
  private links(snapshot: InventorySnapshot | undefined, slas: ReadonlyMap<string, Sla>): Map<string, AllocLink> {
    const links = new Map<string, AllocLink>();
    const headroom = this.options.uplinkHeadroom ?? 0.97;
    const { hostNames } = this.snapshotIndex(snapshot);
    const uplinkOf = (kind: 'up' | 'down', host: string): string | undefined => {
      const id = `${kind}:${host}`;
      if (links.has(id)) return id;
      const uplink = hostNames.has(host) ? this.options.uplink(host) : undefined;
      if (!uplink) return undefined;
      links.set(id, { id, capacityBps: uplink.bps * headroom });
      return id;
    };
    const capOf = (kind: 'port' | 'send', serverId: string): string | undefined => {
      const id = `${kind}:${serverId}`;
      if (links.has(id)) return id;
      const sla = slas.get(serverId);
      const cap = kind === 'port' ? sla?.download?.maxRate : sla?.upload?.maxRate;
      if (cap === undefined) return undefined;
      links.set(id, { id, capacityBps: cap });
      return id;
    };
    for (const p of this.pairs.values()) {
      const path: string[] = [];
      const add = (id: string | undefined): void => {
        if (id !== undefined) path.push(id);
      };
      if (p.senderHost !== p.receiverHost) {
        add(uplinkOf('up', p.senderHost));
        add(uplinkOf('down', p.receiverHost));
      }
      add(capOf('port', p.input.receiver));
      add(capOf('send', p.input.sender));
      p.input = { ...p.input, links: path };
    }
    return links;
  }

  /** Server → host and the host names of a snapshot, computed once per snapshot. */
  private snapshotIndex(snapshot: InventorySnapshot | undefined): { hostOf: Map<string, string | null>; hostNames: Set<string> } {
    if (this.bySnapshot?.snapshot !== snapshot || this.bySnapshot === undefined) {
      this.bySnapshot = {
        snapshot,
        hostOf: new Map((snapshot?.servers ?? []).map((s) => [s.id.toLowerCase(), s.host])),
        hostNames: new Set((snapshot?.hosts ?? []).map((h) => h.name)),
      };
    }
    return this.bySnapshot;
  }

  private updateVmViews(snapshot: InventorySnapshot | undefined, slas: ReadonlyMap<string, Sla>, guarantees: ReadonlyMap<string, number>, dt: number): void {
    const { hostOf, hostNames } = this.snapshotIndex(snapshot);
    const fraction = this.options.violationFraction ?? 0.95;
    const seen = new Set<string>();
    const sums = new Map<string, { inDelivered: number; outDelivered: number; inAllocated: number; outAllocated: number; inDemand: number; outDemand: number; pairs: number }>();
    const sum = (id: string) => {
      let s = sums.get(id);
      if (!s) sums.set(id, (s = { inDelivered: 0, outDelivered: 0, inAllocated: 0, outAllocated: 0, inDemand: 0, outDemand: 0, pairs: 0 }));
      return s;
    };
    for (const p of this.pairs.values()) {
      const active = (guarantees.get(p.input.id) ?? 0) > 0 || p.demandBps > DEFAULT_ACTIVE_THRESHOLD_BPS;
      const out = sum(p.input.sender);
      const into = sum(p.input.receiver);
      out.pairs++;
      into.pairs++;
      out.outDelivered += p.deliveredBps;
      into.inDelivered += p.deliveredBps;
      out.outDemand += p.demandBps;
      into.inDemand += p.demandBps;
      if (active) {
        out.outAllocated += p.limitBps ?? 0;
        into.inAllocated += p.limitBps ?? 0;
      }
    }
    // Without a pair limiter on its host the controller neither limits nor measures the VM: no figures rather than zeros.
    const limited = new Set<string>();
    for (const name of hostNames) if (this.options.limiter(name)?.connected === true) limited.add(name);
    for (const [id, sla] of limited.size === 0 ? [] : slas) {
      const host = hostOf.get(id);
      if (host === undefined || host === null || !limited.has(host)) continue;
      seen.add(id);
      const s = sums.get(id);
      const state = this.vms.get(id) ?? { host, download: undefined, upload: undefined, pairs: 0 };
      state.host = host;
      state.pairs = s?.pairs ?? 0;
      const direction = (g: number | undefined, prev: VmState['download'], delivered: number, allocated: number, demand: number): VmState['download'] => {
        if (g === undefined || g <= 0) return undefined;
        const wants = demand >= g * fraction;
        const violated = wants && delivered < g * fraction;
        return { violation: (prev?.violation ?? 0) + (violated ? dt : 0), demand: wants, delivered, allocated };
      };
      state.download = direction(sla.download?.minRate, state.download, s?.inDelivered ?? 0, s?.inAllocated ?? 0, s?.inDemand ?? 0);
      state.upload = direction(sla.upload?.minRate, state.upload, s?.outDelivered ?? 0, s?.outAllocated ?? 0, s?.outDemand ?? 0);
      this.vms.set(id, state);
    }
    for (const id of [...this.vms.keys()]) if (!seen.has(id)) this.vms.delete(id);
  }

  private updateHostViews(snapshot: InventorySnapshot | undefined, slas: ReadonlyMap<string, Sla>, byHost: ReadonlyMap<string, ReadonlyMap<string, PairLimit>>): void {
    const next = new Map<string, HostGuaranteeView>();
    const slasVersion = this.options.slasVersion?.();
    const cached = this.hostSums;
    const sums = slasVersion !== undefined && cached !== undefined && cached.snapshot === snapshot && cached.slasVersion === slasVersion ? cached.sums : new Map<string, { down: number; up: number }>();
    if (slasVersion !== undefined) this.hostSums = { snapshot, slasVersion, sums };
    for (const host of snapshot?.hosts ?? []) {
      if (this.options.owns && !this.options.owns(host.name)) continue;
      let committed = sums.get(host.name);
      if (!committed) {
        committed = { down: 0, up: 0 };
        for (const id of host.serverIds) {
          const sla = slas.get(id.toLowerCase());
          committed.down += sla?.download?.minRate ?? 0;
          committed.up += sla?.upload?.minRate ?? 0;
        }
        sums.set(host.name, committed);
      }
      const { down, up } = committed;
      const uplink = this.options.uplink(host.name) ?? null;
      const problems: string[] = [];
      if (uplink && down > uplink.bps) problems.push(`download guarantees ${mbit(down)} exceed the uplink's ${mbit(uplink.bps)}`);
      if (uplink && up > uplink.bps) problems.push(`upload guarantees ${mbit(up)} exceed the uplink's ${mbit(uplink.bps)}`);
      next.set(host.name, {
        host: host.name,
        uplink,
        guaranteedDownloadBps: down,
        guaranteedUploadBps: up,
        overcommitted: problems.length > 0 ? `${problems.join('; ')}: if every VM wants its guarantee across hosts, some get less` : null,
        limiters: byHost.get(host.name)?.size ?? 0,
        error: this.hostErrors.get(host.name) ?? null,
      });
    }
    this.hostViews = next;
  }
}

function sameEntries(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [k, v] of a) if (b.get(k) !== v) return false;
  return true;
}

/** Largest rate a limiter is set to (a meter's kbit/s is 32 bits; no link here is faster). */
const MAX_LIMIT_BPS = 100e9;

/** Capacity not allocated to active pairs on the tightest link of a path. */
function spareOnPath(path: readonly string[], links: ReadonlyMap<string, { capacityBps: number; allocatedBps: number }>, idleOnLink: ReadonlyMap<string, number>): number {
  let spare = MAX_LIMIT_BPS;
  for (const id of path) {
    const link = links.get(id);
    if (link) spare = Math.min(spare, Math.max(0, link.capacityBps - link.allocatedBps) / Math.max(1, idleOnLink.get(id) ?? 1));
  }
  return spare;
}

function mbit(bps: number): string {
  return `${(bps / 1e6).toFixed(bps < 10e6 ? 2 : 1)} Mbit/s`;
}
