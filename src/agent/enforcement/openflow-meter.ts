/**
 * The OpenFlow meter backend: a VM's upload cap as an OpenFlow 1.3 meter (drop
 * band) on the traffic entering br-int from the VM's port. Unlike ingress
 * policing it needs no tc police action in the kernel: the userspace datapath
 * enforces meters itself, the kernel datapath since OVS 2.10 / Linux 4.15.
 *
 * Per port, in table 0 (docs/agent.md, "Upload caps as meters"):
 *
 *   cookie=<ours>, priority=<P>, in_port=<ofport>, reg<R>=0/1
 *     → meter:<id>, load:1->reg<R>[0], resubmit(,0)
 *
 * A VM's cap is the VM's, not one NIC's (issue 13): the ports of one server on
 * this host (targets with the same `serverId`) all point at ONE meter, whose
 * rate is the server's upload cap, so whatever the VM sends through all its
 * NICs together is capped once. Its id is base + the lowest ofport among
 * them; when that port goes, the meter moves to the next lowest (a new meter,
 * the flows re-pointed, the old one deleted, in one batch).
 *
 * The register bit makes the packet skip our flow when it comes back to table
 * 0, so whatever else runs there (neutron-openvswitch-agent's pipeline, or a
 * NORMAL flow) still runs after the meter — Neutron's own pattern (its QoS and
 * DSCP flows use reg2..reg4). Every flow carries our cookie; meters cannot be
 * tagged, so ours are those in our id range (base + ofport).
 *
 * What the switch holds is read with flow statistics filtered by our cookie and
 * the meter configuration: after every commit, on every (re)connection, when
 * the switch reports one of our flows removed (neutron-openvswitch-agent's
 * `cleanup_flows` deletes every flow with a foreign cookie at its start), and
 * by a periodic check. A difference asks the loop for a pass.
 */
import { createHash } from 'node:crypto';
import {
  band,
  flowMod,
  instruction,
  match,
  meterMod,
  nx,
  OpenFlowClient,
  type FlowStats,
  type Message,
  type MeterConfig,
} from '../../openflow/index.ts';
import type { Sla } from '../../qos/sla.ts';
import type { HostPort } from '../drift.ts';
import type {
  BackendContext,
  BackendPass,
  EnforcedPortView,
  EnforcementBackend,
  HostSnapshot,
  PortOutcome,
  PortTarget,
  PreparedCommit,
} from './types.ts';
import { planEach } from './planned.ts';

/** A bucket of this much traffic at the cap: measured here, 250 ms held TCP at 97–101 % of the cap, 100 ms at ~52 %. */
export const DEFAULT_METER_BURST_MS = 250;
/** Smallest bucket: a few full-size frames, so a low cap does not drop everything (OVN bug LP#2153122). */
export const MIN_METER_BURST_KBITS = 64;
export const DEFAULT_METER_PRIORITY = 60_000;
export const DEFAULT_METER_REGISTER = 12;
/** Our meters are METER_ID_BASE + ofport (of the lowest port of the server the meter caps). */
export const DEFAULT_METER_ID_BASE = 0x4000;

export interface MeterSpec {
  rateKbps: number;
  burstKbits: number;
}

/** The meter for an SLA's upload cap (kbit/s rounded up, so the cap is never below what was asked). */
export function uploadMeter(sla: Sla | undefined, burstMs = DEFAULT_METER_BURST_MS): MeterSpec | null {
  const u = sla?.upload;
  if (!u) return null;
  const rateKbps = Math.max(1, Math.ceil(u.maxRate / 1000));
  const burstBits = u.burst ?? Math.round((u.maxRate * burstMs) / 1000);
  return { rateKbps, burstKbits: Math.max(MIN_METER_BURST_KBITS, Math.ceil(burstBits / 1000)) };
}

/** Our flow cookie: "CM" in the top 16 bits, a hash of the owner below, so two agents never touch each other's flows. */
export function ownerCookie(owner: string): bigint {
  const hash = createHash('sha256').update(owner).digest();
  return (0x434dn << 48n) | hash.readBigUInt64BE(0) >> 16n;
}

export const ALL_COOKIE_BITS = 0xffff_ffff_ffff_ffffn;

export interface MeterBackendOptions {
  owner: string;
  /** The host's bridge OpenFlow endpoint: `unix:<rundir>/br-int.mgmt`, `tcp:HOST:PORT` or `ssl:HOST:PORT`. */
  endpoint: string;
  tls?: ConstructorParameters<typeof OpenFlowClient>[0]['tls'];
  /** @default 250 */
  burstMs?: number;
  /** @default 60000 */
  priority?: number;
  /** The Nicira register whose bit 0 marks a packet as metered. @default 12 */
  register?: number;
  /** @default 0x4000 */
  meterIdBase?: number;
  /** How often the switch is re-read to notice deleted flows or meters, ms. @default 1000 */
  checkIntervalMs?: number;
  /** @default 10000 */
  ioTimeoutMs?: number;
  /**
   * Whether meters enforce uploads now. False (the `auto` mode before it knows
   * meters work, or when they do not) makes the backend want nothing: it
   * removes its flows and meters. @default () => true
   */
  active?: () => boolean;
  /** Called once per connection with the switch's meter support. */
  onMeterSupport?: (support: MeterSupport) => void;
  /** An existing client for this bridge (shared with the rate sampler); the backend then does not close it. */
  client?: OpenFlowClient;
  /**
   * The bridge `endpoint` is of: only its ports are ours to meter. OpenFlow port numbers are per
   * bridge, and br-phys' patch port often has the number of br-int's first VM port. @default "br-int"
   */
  bridge?: string;
}

export interface MeterSupport {
  supported: boolean;
  maxMeter: number;
  reason: string;
}

interface Observed {
  /** Our flows by in_port. */
  flows: Map<number, FlowStats[]>;
  /** Meters in our id range, by id. */
  meters: Map<number, MeterConfig>;
  /** Our meters that the flows of more than one port point at (a server's shared meter). */
  shared: Set<number>;
  /** Text that changes when what we observe changes. */
  signature: string;
}

/** The meter a port's traffic goes through: the one of its server on this host. */
interface SharedMeter {
  readonly id: number;
  readonly spec: MeterSpec;
  /** The server's ports on this host that use it (ofports, ascending). */
  readonly ofports: readonly number[];
}

interface PlannedPort {
  readonly target: PortTarget;
  readonly ofport: number | undefined;
  readonly want: MeterSpec | null;
  /** The meter the port's flow must point at, with `want`. */
  readonly meterId: number | undefined;
  readonly outcome: PortOutcome;
  readonly detail: string;
  /** Every difference is something of ours that is missing (deleted), none a rewrite. */
  readonly removedOnly?: boolean;
}

export class OpenFlowMeterBackend implements EnforcementBackend {
  readonly name = 'openflow-meter';
  readonly cookie: bigint;
  readonly client: OpenFlowClient;
  private readonly options: MeterBackendOptions;
  private readonly ownsClient: boolean;
  private observed: Observed | undefined;
  private context: BackendContext | undefined;
  private checkTimer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private lastError: string | undefined;
  private stopped = false;

  constructor(options: MeterBackendOptions) {
    this.options = options;
    this.cookie = ownerCookie(options.owner);
    this.ownsClient = options.client === undefined;
    this.client =
      options.client ??
      new OpenFlowClient({
        endpoint: options.endpoint,
        ...(options.tls ? { tls: options.tls } : {}),
        reconnect: { enabled: true, initialDelayMs: 100, maxDelayMs: 5000 },
        callTimeoutMs: options.ioTimeoutMs ?? 10_000,
      });
  }

  async start(context: BackendContext): Promise<void> {
    this.context = context;
    this.client.on('connected', ({ reconnected }) => {
      this.lastError = undefined;
      context.log({ event: 'openflow-connected', host: context.host, endpoint: this.options.endpoint, reconnected });
      void this.checkMeterSupport().then(() => this.refresh(true));
    });
    this.client.on('disconnected', (error) => {
      this.observed = undefined;
      this.lastError = `OpenFlow ${this.options.endpoint} not connected${error ? `: ${error.message}` : ''}`;
      context.log({ event: 'openflow-disconnected', host: context.host, error: error?.message }, 'warn');
      context.trigger(false);
    });
    this.client.on('flowRemoved', (removed) => {
      if (removed.cookie !== this.cookie || removed.reason !== 'delete') return;
      context.log({ event: 'openflow-flow-removed', host: context.host, priority: removed.priority, table: removed.tableId }, 'warn');
      void this.refresh(false);
    });
    this.client.on('switchError', (error) => {
      context.log({ event: 'openflow-error', host: context.host, error: error.message }, 'warn');
    });
    if (this.ownsClient) {
      // The first connection is awaited in the background: an unreachable bridge must not hold up the host's OVSDB enforcement start.
      this.client.connect({ signal: context.signal }).catch((error: unknown) => {
        this.lastError = `OpenFlow ${this.options.endpoint}: ${error instanceof Error ? error.message : String(error)}`;
        context.log({ event: 'openflow-connect-failed', host: context.host, error: this.lastError }, 'warn');
      });
    } else if (this.client.isConnected) {
      await this.checkMeterSupport();
      await this.refresh(true);
    }
    this.scheduleCheck();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.checkTimer) clearTimeout(this.checkTimer);
    if (this.ownsClient) this.client.close();
    await this.refreshing?.catch(() => undefined);
  }

  ready(): boolean {
    return this.observed !== undefined || !this.isActive();
  }

  /**
   * Our meter id for a port, for the rate sampler to subtract what the meter
   * dropped from what the port received; undefined when the port has no meter
   * of its own — and when its meter is shared with the server's other ports.
   * A shared meter's drops are the server's, not one port's: subtracting them
   * once per port would count them several times, and subtracting them from
   * its owner port alone is worse than it looks — when a sibling NIC sends over
   * the cap, the owner's "received minus dropped" runs backwards, the sampler
   * (rightly) refuses a rate that goes back, and the owner port's rates, the
   * download included (the demand the desired state splits caps by), freeze.
   * So a multi-NIC server's per-port upload rates are what its NICs offered
   * (before the meter). Splitting the drops by the ports' rx would need the
   * sampler to know the meter's ports (a change to rates.ts).
   */
  meterIdOf(ofport: number): number | undefined {
    const id = this.meterId(ofport);
    return this.observed?.meters.has(id) === true && !this.observed.shared.has(id) ? id : undefined;
  }

  /** The upload mechanism of the host changed: re-plan every port. */
  modeChanged(): void {
    this.context?.trigger(true);
  }

  notReadyReason(): string {
    return this.lastError ?? `OpenFlow ${this.options.endpoint}: reading our flows and meters`;
  }

  /** The port's OpenFlow number on our bridge; undefined for a port of another bridge or without one yet. */
  private ofportOf(hp: HostPort): number | undefined {
    return ofportOn(hp, this.options.bridge ?? 'br-int');
  }

  ownsOn(hp: HostPort): boolean {
    const ofport = this.ofportOf(hp);
    return ofport !== undefined && (this.observed?.flows.has(ofport) ?? false);
  }

  info(): Record<string, unknown> {
    return { endpoint: this.options.endpoint, connected: this.client.isConnected, active: this.isActive(), cookie: `0x${this.cookie.toString(16)}` };
  }

  describe(hp: HostPort): Partial<Pick<EnforcedPortView, 'download' | 'upload'>> {
    const ofport = this.ofportOf(hp);
    if (ofport === undefined || !this.observed) return {};
    const flow = this.observed.flows.get(ofport)?.[0];
    if (!flow) return {};
    const meterId = meterOf(flow);
    const meter = meterId === undefined ? undefined : this.observed.meters.get(meterId);
    const drop = meter?.bands.find((b) => b.type === 'drop');
    if (!drop || meterId === undefined) return {};
    return { upload: { mechanism: 'meter', rateKbps: drop.rate, burstKbits: drop.burstSize, managedBy: this.options.owner, meterId } };
  }

  plan(targets: readonly PortTarget[], _snapshot: HostSnapshot): BackendPass {
    const observed = this.observed ?? { flows: new Map(), meters: new Map(), shared: new Set(), signature: '' };
    const meters = this.sharedMeters(targets);
    const get = planEach(targets, (t) => this.planPort(observed, t, meters.get(t.portId)));
    return {
      outcome: (portId) => get(portId).outcome,
      // The meter id is part of what is wanted: a meter that moves (its owner port went) is a new desire, not drift.
      key: (portId) => {
        const p = get(portId);
        return JSON.stringify(p.want && p.meterId !== undefined ? { ...p.want, meterId: p.meterId } : p.want);
      },
      drift: (portId) => ({
        detail: get(portId).detail,
        contestable: !get(portId).removedOnly,
        foreign: {
          writer: 'unknown',
          evidence: 'our OpenFlow flow or meter was deleted or changed by another controller (neutron-openvswitch-agent deletes flows with foreign cookies when it starts) or by an ovs-vswitchd restart',
        },
      }),
      prepare: (included) => this.prepare(observed, included.map(get), targets, meters),
    };
  }

  // ---- planning ----

  private isActive(): boolean {
    return this.options.active?.() ?? true;
  }

  private meterId(ofport: number): number {
    return (this.options.meterIdBase ?? DEFAULT_METER_ID_BASE) + ofport;
  }

  private register(): number {
    return this.options.register ?? DEFAULT_METER_REGISTER;
  }

  private priority(): number {
    return this.options.priority ?? DEFAULT_METER_PRIORITY;
  }

  /** The wanted upload meter of a port, alone (before its server's ports are grouped). */
  private portMeter(t: PortTarget): MeterSpec | null {
    return this.isActive() && t.desired ? uploadMeter(t.sla, this.options.burstMs) : null;
  }

  /**
   * One meter per server on this host, by port id: the ports of a target
   * server (same `serverId`) with an upload cap and an ofport share it. Its
   * spec is the largest of theirs (every port carries the server's whole
   * upload part, so they agree; should they not, for a moment, the cap is not
   * lowered under a port that had it).
   */
  private sharedMeters(targets: readonly PortTarget[]): Map<string, SharedMeter> {
    const groups = new Map<string, { ports: { portId: string; ofport: number }[]; specs: MeterSpec[] }>();
    for (const t of targets) {
      const spec = this.portMeter(t);
      const ofport = this.ofportOf(t.hp);
      if (spec === null || ofport === undefined) continue;
      // A port whose server is unknown is a group of its own.
      const key = t.serverId === '' ? `port:${t.portId}` : `server:${t.serverId.toLowerCase()}`;
      const group = groups.get(key) ?? { ports: [], specs: [] };
      group.ports.push({ portId: t.portId, ofport });
      group.specs.push(spec);
      groups.set(key, group);
    }
    const out = new Map<string, SharedMeter>();
    for (const { ports, specs } of groups.values()) {
      const ofports = ports.map((p) => p.ofport).sort((a, b) => a - b);
      const meter: SharedMeter = {
        id: this.meterId(ofports[0] ?? 0),
        spec: { rateKbps: Math.max(...specs.map((x) => x.rateKbps)), burstKbits: Math.max(...specs.map((x) => x.burstKbits)) },
        ofports,
      };
      for (const p of ports) out.set(p.portId, meter);
    }
    return out;
  }

  private planPort(observed: Observed, t: PortTarget, shared: SharedMeter | undefined): PlannedPort {
    const ofport = this.ofportOf(t.hp);
    const want = shared?.spec ?? this.portMeter(t);
    if (ofport === undefined) {
      if (want === null) return { target: t, ofport, want, meterId: undefined, outcome: { kind: 'in-sync' }, detail: '' };
      return { target: t, ofport, want, meterId: undefined, outcome: { kind: 'error', reason: `port ${t.hp.port.name} has no OpenFlow port number yet` }, detail: '' };
    }
    const flows = observed.flows.get(ofport) ?? [];
    if (want === null) {
      return flows.length === 0
        ? { target: t, ofport, want, meterId: undefined, outcome: { kind: 'in-sync' }, detail: '' }
        : { target: t, ofport, want, meterId: undefined, outcome: { kind: 'change' }, detail: 'our meter flow is still on the port' };
    }
    const diffs: string[] = [];
    const id = shared?.id ?? this.meterId(ofport);
    const meter = observed.meters.get(id);
    const drop = meter?.bands.find((b) => b.type === 'drop');
    if (!meter) diffs.push(`meter ${String(id)} missing`);
    else if (!drop || meter.bands.length !== 1) diffs.push(`meter ${String(id)} has other bands`);
    else {
      if (drop.rate !== want.rateKbps) diffs.push(`meter ${String(id)} rate ${String(drop.rate)} ≠ ${String(want.rateKbps)} kbit/s`);
      if (drop.burstSize !== want.burstKbits) diffs.push(`meter ${String(id)} burst ${String(drop.burstSize)} ≠ ${String(want.burstKbits)} kbit`);
    }
    const expected = { priority: this.priority(), meterId: id, register: this.register() };
    if (flows.length === 0) diffs.push(`flow in_port=${String(ofport)} missing`);
    else if (flows.length > 1 || !sameFlow(flows[0], expected)) diffs.push(`flow in_port=${String(ofport)} differs`);
    const removedOnly = diffs.length > 0 && diffs.every((d) => d.endsWith('missing'));
    return { target: t, ofport, want, meterId: id, outcome: diffs.length === 0 ? { kind: 'in-sync' } : { kind: 'change' }, detail: diffs.join('; '), removedOnly };
  }

  private flowFor(ofport: number, meterId: number, command: 'add' | 'delete_strict'): Message {
    const reg = this.register();
    return flowMod({
      command,
      cookie: this.cookie,
      cookieMask: command === 'add' ? 0n : ALL_COOKIE_BITS,
      tableId: 0,
      priority: this.priority(),
      flags: command === 'add' ? ['send_flow_rem'] : [],
      match: [match.inPort(ofport), match.reg(reg, 0, 1)],
      instructions:
        command === 'add'
          ? [instruction.meter(meterId), instruction.applyActions([nx.regLoad(reg, 0, 1, 1), nx.resubmit(0)])]
          : [],
    });
  }

  /**
   * ONE OpenFlow batch (closed by one barrier): meters before the flows that
   * use them, flow deletions before meter deletions. A meter shared by several
   * included ports is written once.
   */
  private prepare(observed: Observed, included: readonly PlannedPort[], targets: readonly PortTarget[], shared: ReadonlyMap<string, SharedMeter>): PreparedCommit {
    const meterAdds = new Map<number, Message>();
    const flowAdds: Message[] = [];
    const flowDeletes: Message[] = [];
    const meterDeletes: Message[] = [];
    const wantedMeters = new Set<number>();
    const handledPorts = new Set<number>();
    /** Ports whose flows this batch rewrites or deletes. */
    const rewritten = new Set<number>();
    for (const p of included) {
      if (p.ofport === undefined) continue;
      handledPorts.add(p.ofport);
      // Included because another backend changes the port: our part already holds, leave it (a rewrite would reset its counters).
      if (p.outcome.kind === 'in-sync') {
        if (p.want && p.meterId !== undefined) wantedMeters.add(p.meterId);
        continue;
      }
      if (p.want && p.meterId !== undefined) {
        const id = p.meterId;
        wantedMeters.add(id);
        if (!meterAdds.has(id)) {
          const bands = [band.drop(p.want.rateKbps, p.want.burstKbits)];
          meterAdds.set(id, meterMod({ command: observed.meters.has(id) ? 'modify' : 'add', meterId: id, flags: ['kbps', 'burst', 'stats'], bands }));
        }
        for (const stale of observed.flows.get(p.ofport) ?? []) {
          if (stale.priority !== this.priority()) flowDeletes.push(this.staleFlowDelete(stale));
        }
        flowAdds.push(this.flowFor(p.ofport, id, 'add'));
        rewritten.add(p.ofport);
      } else if ((observed.flows.get(p.ofport)?.length ?? 0) > 0) {
        for (const flow of observed.flows.get(p.ofport) ?? []) flowDeletes.push(this.staleFlowDelete(flow));
        rewritten.add(p.ofport);
      }
    }
    // Ports the pass keeps as they are still need their meters: the one they share, and (until their flow is
    // rewritten) the one their flow points at now — deleting a meter deletes the flows that use it.
    for (const meter of shared.values()) wantedMeters.add(meter.id);
    const targetPorts = new Set(targets.flatMap((t) => (this.ofportOf(t.hp) === undefined ? [] : [this.ofportOf(t.hp) as number])));
    for (const ofport of targetPorts) {
      if (rewritten.has(ofport)) continue;
      for (const flow of observed.flows.get(ofport) ?? []) {
        const id = meterOf(flow);
        if (id !== undefined && observed.meters.has(id)) wantedMeters.add(id);
      }
    }
    // Orphans: our flows on ports no target names (the port went away), and our meters nobody uses.
    let orphans = 0;
    for (const [ofport, flows] of observed.flows) {
      if (handledPorts.has(ofport) || targetPorts.has(ofport)) continue;
      for (const flow of flows) flowDeletes.push(this.staleFlowDelete(flow));
      orphans += flows.length;
    }
    for (const id of observed.meters.keys()) {
      if (wantedMeters.has(id)) continue;
      meterDeletes.push(meterMod({ command: 'delete', meterId: id, flags: [] }));
      orphans++;
    }
    const messages = [...flowDeletes, ...meterAdds.values(), ...flowAdds, ...meterDeletes];
    return {
      changes: messages.length,
      orphans,
      run: async (signal) => {
        if (messages.length === 0) return;
        try {
          await this.client.send(messages, { signal, timeoutMs: this.options.ioTimeoutMs ?? 10_000 });
        } finally {
          await this.refresh(false);
        }
      },
    };
  }

  private staleFlowDelete(flow: FlowStats): Message {
    return flowMod({ command: 'delete_strict', cookie: this.cookie, cookieMask: ALL_COOKIE_BITS, tableId: flow.tableId, priority: flow.priority, match: flow.match });
  }

  // ---- observing ----

  private async checkMeterSupport(): Promise<void> {
    try {
      const features = await this.client.meterFeatures({ timeoutMs: this.options.ioTimeoutMs ?? 10_000 });
      const dropBand = (features.bandTypes & (1 << 1)) !== 0;
      const base = this.options.meterIdBase ?? DEFAULT_METER_ID_BASE;
      const supported = features.maxMeter > 0 && dropBand;
      this.options.onMeterSupport?.({
        supported,
        maxMeter: features.maxMeter,
        reason: supported
          ? `the datapath supports OpenFlow meters (max_meter ${String(features.maxMeter)}, drop band); ids from ${String(base)}`
          : `the datapath reports no usable meters (max_meter ${String(features.maxMeter)}, drop band ${dropBand ? 'yes' : 'no'})`,
      });
    } catch (error) {
      this.options.onMeterSupport?.({ supported: false, maxMeter: 0, reason: `meter features unreadable: ${error instanceof Error ? error.message : String(error)}` });
    }
  }

  /** Re-reads our flows and meters; asks for a pass when they changed (`full` after a reconnection). */
  private refresh(full: boolean): Promise<void> {
    if (this.refreshing) return this.refreshing.then(() => this.refresh(full));
    const run = async (): Promise<void> => {
      if (!this.client.isConnected || this.stopped) return;
      const timeoutMs = this.options.ioTimeoutMs ?? 10_000;
      try {
        const [flows, meters] = await Promise.all([
          this.client.flowStats({ cookie: this.cookie, cookieMask: ALL_COOKIE_BITS }, { timeoutMs }),
          this.client.meterConfig({ timeoutMs }),
        ]);
        const base = this.options.meterIdBase ?? DEFAULT_METER_ID_BASE;
        const byPort = new Map<number, FlowStats[]>();
        for (const f of flows) {
          const inPort = f.match.find((m) => m.field === 'in_port');
          const port = inPort?.field === 'in_port' ? inPort.value : -1;
          byPort.set(port, [...(byPort.get(port) ?? []), f]);
        }
        const ours = new Map(meters.filter((m) => m.meterId >= base && m.meterId < base + 0xff00).map((m) => [m.meterId, m]));
        const signature = JSON.stringify([
          [...byPort.entries()].map(([p, fs]) => [p, fs.map((f) => `${String(f.priority)}:${String(meterOf(f))}`)]).sort(),
          [...ours.values()].map((m) => [m.meterId, m.bands.map((b) => `${b.type}:${String(b.rate)}:${String(b.burstSize)}`)]).sort(),
        ]);
        const changed = this.observed?.signature !== signature;
        const portsOf = new Map<number, Set<number>>();
        for (const [port, fs] of byPort) {
          for (const f of fs) {
            const id = meterOf(f);
            if (id !== undefined) portsOf.set(id, (portsOf.get(id) ?? new Set()).add(port));
          }
        }
        const shared = new Set([...portsOf].filter(([, ports]) => ports.size > 1).map(([id]) => id));
        this.observed = { flows: byPort, meters: ours, shared, signature };
        if (changed || full) this.context?.trigger(full);
      } catch (error) {
        this.lastError = `OpenFlow ${this.options.endpoint}: ${error instanceof Error ? error.message : String(error)}`;
      }
    };
    const promise = run().finally(() => {
      if (this.refreshing === promise) this.refreshing = undefined;
    });
    this.refreshing = promise;
    return promise;
  }

  private scheduleCheck(): void {
    if (this.stopped) return;
    this.checkTimer = setTimeout(() => {
      void this.refresh(false).finally(() => {
        this.scheduleCheck();
      });
    }, this.options.checkIntervalMs ?? 1000);
    this.checkTimer.unref();
  }
}

function ofportOn(hp: HostPort, bridge: string): number | undefined {
  // A port of another bridge (a view without bridges says nothing, and is taken as ours).
  if (hp.bridge !== undefined && hp.bridge !== bridge) return undefined;
  const iface = hp.ifaces.find((i) => i.external_ids.has('iface-id')) ?? hp.ifaces[0];
  const ofport = iface?.ofport;
  return ofport !== undefined && ofport > 0 ? ofport : undefined;
}

function meterOf(flow: FlowStats): number | undefined {
  const m = flow.instructions.find((i) => i.type === 'meter');
  return m?.type === 'meter' ? m.meterId : undefined;
}

function sameFlow(flow: FlowStats | undefined, expected: { priority: number; meterId: number; register: number }): boolean {
  if (!flow || flow.tableId !== 0 || flow.priority !== expected.priority) return false;
  if (meterOf(flow) !== expected.meterId) return false;
  const reg = `reg${String(expected.register)}`;
  const regMatch = flow.match.find((m) => m.field === reg);
  if (!regMatch || regMatch.field === 'unknown' || regMatch.value !== 0 || regMatch.mask !== 1) return false;
  const apply = flow.instructions.find((i) => i.type === 'apply_actions');
  if (apply?.type !== 'apply_actions' || apply.actions.length !== 2) return false;
  const [load, resubmit] = apply.actions;
  return load?.type === 'nx_reg_load' && load.dst === reg && load.ofs === 0 && load.nBits === 1 && load.value === 1n && resubmit?.type === 'nx_resubmit' && resubmit.table === 0;
}
