/**
 * The per-host half of guaranteed bandwidth: one OpenFlow meter per VM pair
 * whose sender is on this host, on the traffic from the sender's port to the
 * receiver's MAC address. The cloud-wide controller (controller.ts) decides
 * every pair's rate; this class only makes the switch hold exactly that, and
 * reads the counters the next decision needs.
 *
 * Per pair, in table 0 (docs/agent.md, "Guaranteed bandwidth"):
 *
 *   cookie=<ours, guarantees>, priority=<P+10>, in_port=<sender>, dl_dst=<receiver MAC>, reg<R>=0/2
 *     → meter:<id>, load:1->reg<R>[1], resubmit(,0)
 *
 * Bit 1 of the register lets the packet go on to the upload-cap meter (bit 0,
 * openflow-meter.ts) and then to whatever else runs in table 0 (Neutron's
 * pipeline, or NORMAL). Our cookie differs from the upload backend's, so
 * neither sees the other's flows; our meters use ids from PAIR_METER_ID_BASE,
 * above the upload backend's range.
 *
 * Level-based: every round reads our flows (by cookie) and every meter's
 * statistics. Those give the counters and show what is missing (Neutron's
 * `cleanup_flows` deletes foreign-cookie flows when its agent starts; an
 * ovs-vswitchd restart loses them all); `apply` then re-installs whatever
 * differs in one batch closed by a barrier.
 */
import { createHash } from 'node:crypto';
import { band, flowMod, instruction, match, meterMod, nx, type FlowStats, type Message, type OpenFlowClient } from '../../openflow/index.ts';

export const PAIR_METER_ID_BASE = 0x20000;
/** Our meters are below this id (max_meter of the userspace datapath is 262144). */
export const PAIR_METER_ID_LIMIT = 0x40000;
export const PAIR_FLOW_PRIORITY = 60_010;
/** Bit of the shared register (reg12, like the upload meters) marking a packet as pair-metered. */
export const PAIR_REGISTER_BIT = 1;
/** A bucket of this much traffic at the rate: as for upload meters, shorter buckets make TCP back off far below the rate. */
export const PAIR_BURST_MS = 250;
const MIN_BURST_KBITS = 64;
const ALL_COOKIE_BITS = 0xffff_ffff_ffff_ffffn;

/** Our cookie for pair flows: "CG" in the top 16 bits, the owner's hash below (the upload meters use "CM"). */
export function pairCookie(owner: string): bigint {
  const hash = createHash('sha256').update(owner).digest();
  return (0x4347n << 48n) | (hash.readBigUInt64BE(0) >> 16n);
}

/** One pair's limiter as the controller wants it. */
export interface PairLimit {
  /** OpenFlow port of the sender's VM port on this host. */
  inPort: number;
  /** MAC address of the receiver's port (lower case). */
  dstMac: string;
  rateBps: number;
}

export interface PairCounter {
  /** Bytes that reached the pair's meter (what the sender offered). */
  offeredBytes: number;
  /** Bytes the meter dropped. */
  droppedBytes: number;
}

interface Installed {
  meterId: number;
  /** kbit/s of the meter's drop band, when known. */
  rateKbps: number | undefined;
  burstKbits: number | undefined;
  flowPresent: boolean;
}

export function flowKey(inPort: number, dstMac: string): string {
  return `${String(inPort)}/${dstMac.toLowerCase()}`;
}

function meterSpec(rateBps: number): { rateKbps: number; burstKbits: number } {
  const rateKbps = Math.max(1, Math.ceil(rateBps / 1000));
  return { rateKbps, burstKbits: Math.max(MIN_BURST_KBITS, Math.ceil((rateKbps * PAIR_BURST_MS) / 1000)) };
}

export interface PairLimiterOptions {
  host: string;
  owner: string;
  client: OpenFlowClient;
  /** Nicira register shared with the upload meters. @default 12 */
  register?: number;
  ioTimeoutMs?: number;
}

export class PairLimiter {
  readonly cookie: bigint;
  /** What the switch holds, by flow key, as last read or written. */
  private installed = new Map<string, Installed>();
  private meterIdsInUse = new Set<number>();
  private nextMeterId = PAIR_METER_ID_BASE;
  /** Meter configs are re-read (rates) at most this often; presence is seen in every round's statistics. */
  private configReadAt = 0;

  constructor(private readonly options: PairLimiterOptions) {
    this.cookie = pairCookie(options.owner);
  }

  get connected(): boolean {
    return this.options.client.isConnected;
  }

  /**
   * Reads our flows and every meter's statistics: the counters per flow key,
   * and (as a side effect) what is installed, so the next `apply` repairs what
   * was deleted.
   */
  async read(signal?: AbortSignal): Promise<Map<string, PairCounter>> {
    const client = this.options.client;
    const timeoutMs = this.options.ioTimeoutMs ?? 5000;
    const call = { timeoutMs, ...(signal ? { signal } : {}) };
    const readConfig = Date.now() - this.configReadAt > 5000;
    const [flows, stats, configs] = await Promise.all([
      client.flowStats({ cookie: this.cookie, cookieMask: ALL_COOKIE_BITS, tableId: 0 }, call),
      client.meterStats(call),
      readConfig ? client.meterConfig(call) : Promise.resolve(undefined),
    ]);
    if (configs) this.configReadAt = Date.now();
    const statsById = new Map(stats.filter((m) => m.meterId >= PAIR_METER_ID_BASE && m.meterId < PAIR_METER_ID_LIMIT).map((m) => [m.meterId, m]));
    const configById = configs ? new Map(configs.map((c) => [c.meterId, c])) : undefined;
    const next = new Map<string, Installed>();
    const counters = new Map<string, PairCounter>();
    for (const flow of flows) {
      const key = keyOf(flow);
      const meterId = meterOf(flow);
      if (key === undefined || meterId === undefined) continue;
      const meter = statsById.get(meterId);
      const previous = this.installed.get(key);
      const config = configById?.get(meterId)?.bands.find((b) => b.type === 'drop');
      next.set(key, {
        meterId,
        rateKbps: meter === undefined ? undefined : config ? config.rate : previous?.meterId === meterId ? previous.rateKbps : undefined,
        burstKbits: meter === undefined ? undefined : config ? config.burstSize : previous?.meterId === meterId ? previous.burstKbits : undefined,
        flowPresent: true,
      });
      // The meter's own counters, not the flow's: measured every 250 ms on a steady 10 Mbit/s flow, the meter (and the
      // port) read 9.8–10.3 Mbit/s while the flow's statistics read 0 and 20 in turn (a revalidator pushes them every
      // ~500 ms). The meter serves this one flow, so what entered it is what the flow offered. A modified meter starts
      // its counters again from zero: `apply` says which.
      counters.set(key, {
        offeredBytes: Number(meter?.byteInCount ?? flow.byteCount),
        droppedBytes: Number(meter?.bandStats[0]?.byteBandCount ?? 0n),
      });
    }
    // Meters of ours without a flow (the flow was deleted): remembered so `apply` reuses or deletes them.
    for (const [key, was] of this.installed) {
      if (next.has(key) || !statsById.has(was.meterId)) continue;
      next.set(key, { ...was, flowPresent: false });
    }
    this.installed = next;
    this.meterIdsInUse = new Set([...statsById.keys()]);
    for (const i of next.values()) this.meterIdsInUse.add(i.meterId);
    return counters;
  }

  /**
   * Makes the switch hold exactly `limits` (by flow key): one batch, meters
   * before the flows that use them. Returns the keys whose meter was added or
   * modified: the datapath restarts a modified meter's counters from zero.
   */
  async apply(limits: ReadonlyMap<string, PairLimit>, signal?: AbortSignal): Promise<{ messages: number; countersReset: Set<string> }> {
    const countersReset = new Set<string>();
    const meterMods: Message[] = [];
    const flowAdds: Message[] = [];
    const flowDeletes: Message[] = [];
    const meterDeletes: Message[] = [];
    const next = new Map<string, Installed>();
    for (const [key, limit] of limits) {
      const want = meterSpec(limit.rateBps);
      const have = this.installed.get(key);
      const meterId = have?.meterId ?? this.allocateMeterId();
      const meterKnown = have !== undefined && have.rateKbps !== undefined;
      if (!meterKnown || have.rateKbps !== want.rateKbps || have.burstKbits !== want.burstKbits) {
        meterMods.push(meterMod({ command: this.meterIdsInUse.has(meterId) ? 'modify' : 'add', meterId, flags: ['kbps', 'burst', 'stats'], bands: [band.drop(want.rateKbps, want.burstKbits)] }));
        countersReset.add(key);
      }
      if (have?.flowPresent !== true) flowAdds.push(this.flow(limit.inPort, limit.dstMac, meterId, 'add'));
      next.set(key, { meterId, rateKbps: want.rateKbps, burstKbits: want.burstKbits, flowPresent: true });
      this.meterIdsInUse.add(meterId);
    }
    for (const [key, have] of this.installed) {
      if (limits.has(key)) continue;
      const [port, mac] = key.split('/');
      if (have.flowPresent) flowDeletes.push(this.flow(Number(port), mac ?? '', have.meterId, 'delete_strict'));
      meterDeletes.push(meterMod({ command: 'delete', meterId: have.meterId, flags: [] }));
    }
    const messages = [...flowDeletes, ...meterMods, ...flowAdds, ...meterDeletes];
    if (messages.length === 0) return { messages: 0, countersReset };
    try {
      await this.options.client.send(messages, { timeoutMs: this.options.ioTimeoutMs ?? 5000, ...(signal ? { signal } : {}) });
    } catch (error) {
      // What the switch holds is unknown now: the next read tells.
      this.installed = new Map();
      this.configReadAt = 0;
      throw error;
    }
    for (const key of this.installed.keys()) {
      if (limits.has(key)) continue;
      const gone = this.installed.get(key);
      if (gone) this.meterIdsInUse.delete(gone.meterId);
    }
    this.installed = next;
    return { messages: messages.length, countersReset };
  }

  /** Rate (bit/s) of the meter installed for a key, when known. */
  installedRate(key: string): number | undefined {
    const rate = this.installed.get(key)?.rateKbps;
    return rate === undefined ? undefined : rate * 1000;
  }

  private allocateMeterId(): number {
    for (let tries = 0; tries < PAIR_METER_ID_LIMIT - PAIR_METER_ID_BASE; tries++) {
      const id = this.nextMeterId;
      this.nextMeterId = id + 1 >= PAIR_METER_ID_LIMIT ? PAIR_METER_ID_BASE : id + 1;
      if (!this.meterIdsInUse.has(id)) return id;
    }
    throw new RangeError(`host ${this.options.host}: no free meter id in [${String(PAIR_METER_ID_BASE)}, ${String(PAIR_METER_ID_LIMIT)})`);
  }

  private flow(inPort: number, dstMac: string, meterId: number, command: 'add' | 'delete_strict'): Message {
    const reg = this.options.register ?? 12;
    const bit = 1 << PAIR_REGISTER_BIT;
    return flowMod({
      command,
      cookie: this.cookie,
      cookieMask: command === 'add' ? 0n : ALL_COOKIE_BITS,
      tableId: 0,
      priority: PAIR_FLOW_PRIORITY,
      flags: command === 'add' ? ['send_flow_rem'] : [],
      match: [match.inPort(inPort), match.ethDst(dstMac), match.reg(reg, 0, bit)],
      instructions:
        command === 'add' ? [instruction.meter(meterId), instruction.applyActions([nx.regLoad(reg, PAIR_REGISTER_BIT, 1, 1), nx.resubmit(0)])] : [],
    });
  }
}

function keyOf(flow: FlowStats): string | undefined {
  let inPort: number | undefined;
  let mac: string | undefined;
  for (const m of flow.match) {
    if (m.field === 'in_port') inPort = m.value;
    else if (m.field === 'eth_dst') mac = m.value;
  }
  return inPort === undefined || mac === undefined ? undefined : flowKey(inPort, mac);
}

function meterOf(flow: FlowStats): number | undefined {
  const m = flow.instructions.find((i) => i.type === 'meter');
  return m?.type === 'meter' ? m.meterId : undefined;
}
