import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { isDeepStrictEqual } from 'node:util';
import {
  OFPFF,
  OFPMF,
  OFPP,
  type FlowMod,
  type FlowStats,
  type FlowStatsFilter,
  type Message,
  type MeterConfig,
  type MeterFeatures,
  type MeterMod,
  type OpenFlowClient,
} from '../../openflow/index.ts';
import type { InterfaceRow } from '../../ovsdb/vswitch/index.ts';
import type { Sla } from '../../qos/sla.ts';
import type { HostPort } from '../drift.ts';
import {
  ALL_COOKIE_BITS,
  DEFAULT_METER_ID_BASE,
  DEFAULT_METER_PRIORITY,
  MIN_METER_BURST_KBITS,
  OpenFlowMeterBackend,
  ownerCookie,
  uploadMeter,
  type MeterBackendOptions,
  type MeterSupport,
} from './openflow-meter.ts';
import type { BackendContext, HostSnapshot, PortTarget } from './types.ts';

const OWNER = 'cm-agent-test';
const COOKIE = ownerCookie(OWNER);
const SNAPSHOT = {} as HostSnapshot;

describe('uploadMeter', () => {
  it('is null without an upload cap', () => {
    assert.equal(uploadMeter(undefined), null);
    assert.equal(uploadMeter({}), null);
    assert.equal(uploadMeter({ download: { maxRate: 10e6 } }), null);
  });

  it('rounds the rate up to whole kbit/s (never below what was asked)', () => {
    assert.equal(uploadMeter({ upload: { maxRate: 1500 } })?.rateKbps, 2);
    assert.equal(uploadMeter({ upload: { maxRate: 1001 } })?.rateKbps, 2);
    assert.equal(uploadMeter({ upload: { maxRate: 5e6 } })?.rateKbps, 5000);
    assert.equal(uploadMeter({ upload: { maxRate: 1 } })?.rateKbps, 1);
  });

  it('defaults the burst to 250 ms of the cap, in kbit rounded up', () => {
    // 10 Mbit/s × 0.25 s = 2.5 Mbit = 2500 kbit.
    assert.deepEqual(uploadMeter({ upload: { maxRate: 10e6 } }), { rateKbps: 10_000, burstKbits: 2500 });
    // 1 000 100 bit/s × 0.25 s = 250 025 bit → 251 kbit (up, not to the nearest).
    assert.equal(uploadMeter({ upload: { maxRate: 1_000_100 } })?.burstKbits, 251);
  });

  it('floors the burst at MIN_METER_BURST_KBITS', () => {
    assert.equal(MIN_METER_BURST_KBITS, 64);
    assert.deepEqual(uploadMeter({ upload: { maxRate: 1500 } }), { rateKbps: 2, burstKbits: 64 });
    // 256 kbit/s × 0.25 s = 64 kbit exactly; just below it is floored.
    assert.equal(uploadMeter({ upload: { maxRate: 256_000 } })?.burstKbits, 64);
    assert.equal(uploadMeter({ upload: { maxRate: 200_000 } })?.burstKbits, 64);
    assert.equal(uploadMeter({ upload: { maxRate: 10e6, burst: 1000 } })?.burstKbits, 64);
  });

  it('takes an explicit burst (bits) over the default', () => {
    assert.deepEqual(uploadMeter({ upload: { maxRate: 10e6, burst: 200_000 } }), { rateKbps: 10_000, burstKbits: 200 });
    assert.equal(uploadMeter({ upload: { maxRate: 10e6, burst: 200_001 } })?.burstKbits, 201);
    assert.equal(uploadMeter({ upload: { maxRate: 10e6, burst: 200_000 } }, 1000)?.burstKbits, 200);
  });

  it('uses a custom burst duration', () => {
    assert.equal(uploadMeter({ upload: { maxRate: 10e6 } }, 100)?.burstKbits, 1000);
    assert.equal(uploadMeter({ upload: { maxRate: 10e6 } }, 1000)?.burstKbits, 10_000);
  });
});

describe('ownerCookie', () => {
  it('carries "CM" (0x434d) in its top 16 bits and fits in 64 bits', () => {
    for (const owner of ['cm-agent', 'cm-agent-region1', '', 'x'.repeat(200)]) {
      const cookie = ownerCookie(owner);
      assert.equal(cookie >> 48n, 0x434dn, owner);
      assert.ok(cookie >= 0n && cookie <= ALL_COOKIE_BITS, owner);
    }
  });

  it('is deterministic and differs between owners', () => {
    assert.equal(ownerCookie('cm-agent-a'), ownerCookie('cm-agent-a'));
    assert.notEqual(ownerCookie('cm-agent-a'), ownerCookie('cm-agent-b'));
    // The owner part (below the tag) is what differs.
    assert.notEqual(ownerCookie('cm-agent-a') & 0xffff_ffff_ffffn, ownerCookie('cm-agent-b') & 0xffff_ffff_ffffn);
  });
});

// ---- the backend against a fake switch ------------------------------------------

function flowStatsOf(mod: FlowMod): FlowStats {
  return {
    tableId: mod.tableId,
    durationSec: 0,
    durationNsec: 0,
    priority: mod.priority,
    idleTimeout: mod.idleTimeout,
    hardTimeout: mod.hardTimeout,
    flags: mod.flags,
    cookie: mod.cookie,
    packetCount: 0n,
    byteCount: 0n,
    match: mod.match,
    instructions: mod.instructions,
  };
}

/** Our flow for `ofport` as the backend writes it, with a few fields overridable. */
function ourFlow(ofport: number, over: Partial<FlowStats> & { meterId?: number } = {}): FlowStats {
  const { meterId = DEFAULT_METER_ID_BASE + ofport, ...rest } = over;
  return {
    tableId: 0,
    durationSec: 1,
    durationNsec: 0,
    priority: DEFAULT_METER_PRIORITY,
    idleTimeout: 0,
    hardTimeout: 0,
    flags: OFPFF.send_flow_rem,
    cookie: COOKIE,
    packetCount: 0n,
    byteCount: 0n,
    match: [
      { field: 'in_port', value: ofport },
      { field: 'reg12', value: 0, mask: 1 },
    ],
    instructions: [
      { type: 'meter', meterId },
      {
        type: 'apply_actions',
        actions: [
          { type: 'nx_reg_load', dst: 'reg12', ofs: 0, nBits: 1, value: 1n },
          { type: 'nx_resubmit', inPort: OFPP.IN_PORT, table: 0 },
        ],
      },
    ],
    ...rest,
  };
}

function meterConfig(meterId: number, rateKbps: number, burstKbits: number): MeterConfig {
  return { meterId, flags: OFPMF.kbps | OFPMF.burst | OFPMF.stats, bands: [{ type: 'drop', rate: rateKbps, burstSize: burstKbits }] };
}

/** What the backend needs of an OpenFlowClient: the switch's flows and meters, applying what is sent. */
class FakeSwitch {
  isConnected = true;
  flows: FlowStats[] = [];
  meters: MeterConfig[] = [];
  readonly sent: Message[][] = [];
  features: MeterFeatures = { maxMeter: 200_000, bandTypes: 1 << 1, capabilities: 0xf, maxBands: 1, maxColor: 0 };
  private readonly handlers = new Map<string, ((arg: unknown) => void)[]>();

  on(event: string, handler: (arg: never) => void): this {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), handler as (arg: unknown) => void]);
    return this;
  }

  emit(event: string, arg: unknown): void {
    for (const h of this.handlers.get(event) ?? []) h(arg);
  }

  flowStats(filter: FlowStatsFilter = {}): Promise<FlowStats[]> {
    const mask = filter.cookieMask ?? 0n;
    const cookie = filter.cookie ?? 0n;
    return Promise.resolve(this.flows.filter((f) => (f.cookie & mask) === (cookie & mask)));
  }

  meterConfig(): Promise<MeterConfig[]> {
    return Promise.resolve([...this.meters]);
  }

  meterFeatures(): Promise<MeterFeatures> {
    return Promise.resolve(this.features);
  }

  send(messages: readonly Message[]): Promise<void> {
    this.sent.push([...messages]);
    for (const m of messages) {
      if (m.type === 'flow_mod') this.applyFlowMod(m);
      else if (m.type === 'meter_mod') this.applyMeterMod(m);
    }
    return Promise.resolve();
  }

  private applyFlowMod(m: FlowMod): void {
    const same = (f: FlowStats): boolean => f.tableId === m.tableId && f.priority === m.priority && isDeepStrictEqual(f.match, m.match);
    if (m.command === 'add') this.flows = [...this.flows.filter((f) => !same(f)), flowStatsOf(m)];
    else if (m.command === 'delete_strict') this.flows = this.flows.filter((f) => !(same(f) && (f.cookie & m.cookieMask) === (m.cookie & m.cookieMask)));
    else throw new Error(`fake switch: flow_mod ${m.command} not modelled`);
  }

  private applyMeterMod(m: MeterMod): void {
    const others = this.meters.filter((x) => x.meterId !== m.meterId);
    if (m.command === 'delete') this.meters = others;
    else this.meters = [...others, { meterId: m.meterId, flags: m.flags, bands: m.bands }];
  }
}

function hostPort(name: string, ofport: number | undefined, bridge: string | undefined = 'br-int'): HostPort {
  const iface: InterfaceRow = {
    _uuid: `iface-${name}`,
    name,
    type: '',
    external_ids: new Map([['iface-id', `neutron-${name}`]]),
    ingress_policing_rate: 0,
    ingress_policing_burst: 0,
    ofport,
  };
  return {
    port: { _uuid: `port-${name}`, name, interfaces: [iface._uuid], qos: undefined, external_ids: new Map() },
    ifaces: [iface],
    ifaceId: `neutron-${name}`,
    vmUuid: undefined,
    bridge,
  };
}

function target(name: string, ofport: number | undefined, sla: Sla | undefined): PortTarget {
  return { portId: `neutron-${name}`, serverId: `server-${name}`, hp: hostPort(name, ofport), sla, desired: sla !== undefined };
}

/** A port of `server` (several ports of one server share its upload meter). */
function serverPort(server: string, name: string, ofport: number | undefined, sla: Sla | undefined): PortTarget {
  return { ...target(name, ofport, sla), serverId: server };
}

/** The commands of the batches sent, e.g. `meter_mod:add:16389`, `flow_mod:add:in_port=5→16389`. */
function commands(sw: FakeSwitch): string[] {
  return sw.sent.flat().map((m) => {
    if (m.type === 'meter_mod') return `meter_mod:${m.command}:${String(m.meterId)}`;
    if (m.type !== 'flow_mod') return m.type;
    const inPort = m.match.find((x) => x.field === 'in_port');
    const meter = m.instructions.find((i) => i.type === 'meter');
    return `flow_mod:${m.command}:in_port=${inPort?.field === 'in_port' ? String(inPort.value) : '?'}${meter?.type === 'meter' ? `→${String(meter.meterId)}` : ''}`;
  });
}

const SLA: Sla = { download: { maxRate: 20e6 }, upload: { maxRate: 10e6 } };
const WANT = { rateKbps: 10_000, burstKbits: 2500 };

const started: OpenFlowMeterBackend[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((b) => b.stop()));
});

async function setup(
  options: Partial<MeterBackendOptions> = {},
  prepareSwitch: (sw: FakeSwitch) => void = () => undefined,
): Promise<{ sw: FakeSwitch; backend: OpenFlowMeterBackend; triggers: boolean[]; support: MeterSupport[] }> {
  const sw = new FakeSwitch();
  prepareSwitch(sw);
  const triggers: boolean[] = [];
  const support: MeterSupport[] = [];
  const backend = new OpenFlowMeterBackend({
    owner: OWNER,
    endpoint: 'unix:/nonexistent',
    client: sw as unknown as OpenFlowClient,
    checkIntervalMs: 3_600_000,
    onMeterSupport: (s) => {
      support.push(s);
    },
    ...options,
  });
  const context: BackendContext = {
    host: 'compute1',
    owner: OWNER,
    ovsdb: {} as BackendContext['ovsdb'],
    signal: new AbortController().signal,
    trigger: (full) => {
      triggers.push(full);
    },
    log: () => undefined,
  };
  started.push(backend);
  await backend.start(context);
  return { sw, backend, triggers, support };
}

function tick(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

describe('OpenFlowMeterBackend: planning against a fake switch', () => {
  it('reads the switch on start, reports meter support and asks for a full pass', async () => {
    const { backend, triggers, support } = await setup();
    assert.ok(backend.ready());
    assert.deepEqual(triggers, [true]);
    assert.equal(support.length, 1);
    const [first] = support;
    assert.ok(first);
    assert.equal(first.supported, true);
    assert.equal(first.maxMeter, 200_000);
    assert.match(first.reason, /drop band/);
  });

  it('reports no usable meters when the datapath has no drop band', async () => {
    const { support } = await setup({}, (sw) => {
      sw.features = { ...sw.features, bandTypes: 1 << 2 };
    });
    const [first] = support;
    assert.ok(first);
    assert.equal(first.supported, false);
    assert.match(first.reason, /drop band no/);
  });

  it('is not ready before it has read the switch (unless it wants nothing)', () => {
    const sw = new FakeSwitch();
    const backend = new OpenFlowMeterBackend({ owner: OWNER, endpoint: 'unix:/nonexistent', client: sw as unknown as OpenFlowClient });
    assert.equal(backend.ready(), false);
    assert.match(backend.notReadyReason(), /unix:\/nonexistent/);
    const inactive = new OpenFlowMeterBackend({ owner: OWNER, endpoint: 'unix:/nonexistent', client: sw as unknown as OpenFlowClient, active: () => false });
    assert.equal(inactive.ready(), true);
  });

  it('a desired upload with nothing on the switch: meter add, then flow add', async () => {
    const { sw, backend } = await setup();
    const t = target('tap5', 5, SLA);
    const pass = backend.plan([t], SNAPSHOT);
    assert.deepEqual(pass.outcome(t.portId), { kind: 'change' });
    assert.equal(pass.key(t.portId), JSON.stringify({ ...WANT, meterId: DEFAULT_METER_ID_BASE + 5 }));
    const drift = pass.drift(t.portId);
    assert.match(drift.detail, /meter 16389 missing/);
    assert.match(drift.detail, /flow in_port=5 missing/);

    const commit = pass.prepare([t.portId]);
    assert.equal(commit.changes, 2);
    assert.equal(commit.orphans, 0);
    await commit.run(new AbortController().signal);
    assert.equal(sw.sent.length, 1, 'one batch');
    const [meter, flow] = sw.sent[0] ?? [];
    assert.equal(sw.sent[0]?.length, 2);

    assert.ok(meter?.type === 'meter_mod');
    assert.equal(meter.command, 'add');
    assert.equal(meter.meterId, DEFAULT_METER_ID_BASE + 5);
    assert.equal(meter.flags, OFPMF.kbps | OFPMF.burst | OFPMF.stats);
    assert.deepEqual(meter.bands, [{ type: 'drop', rate: 10_000, burstSize: 2500 }]);

    assert.ok(flow?.type === 'flow_mod');
    assert.equal(flow.command, 'add');
    assert.equal(flow.cookie, COOKIE);
    assert.equal(flow.tableId, 0);
    assert.equal(flow.priority, 60_000);
    assert.equal(flow.flags & OFPFF.send_flow_rem, OFPFF.send_flow_rem);
    assert.deepEqual(flow.match, [
      { field: 'in_port', value: 5 },
      { field: 'reg12', value: 0, mask: 1 },
    ]);
    assert.deepEqual(flow.instructions, [
      { type: 'meter', meterId: DEFAULT_METER_ID_BASE + 5 },
      {
        type: 'apply_actions',
        actions: [
          { type: 'nx_reg_load', dst: 'reg12', ofs: 0, nBits: 1, value: 1n },
          { type: 'nx_resubmit', inPort: OFPP.IN_PORT, table: 0 },
        ],
      },
    ]);
  });

  it('after the commit the switch holds exactly that: in sync, nothing to prepare', async () => {
    const { sw, backend } = await setup();
    const t = target('tap5', 5, SLA);
    await backend.plan([t], SNAPSHOT).prepare([t.portId]).run(new AbortController().signal);
    const again = backend.plan([t], SNAPSHOT);
    assert.deepEqual(again.outcome(t.portId), { kind: 'in-sync' });
    assert.equal(again.prepare([]).changes, 0);
    // Included anyway (another backend changes the port): it re-asserts the meter and flow, and deletes nothing.
    const commit = again.prepare([t.portId]);
    assert.equal(commit.orphans, 0);
    sw.sent.length = 0;
    await commit.run(new AbortController().signal);
    assert.ok(sw.sent.flat().every((m) => !(m.type === 'flow_mod' && m.command !== 'add') && !(m.type === 'meter_mod' && m.command === 'delete')));
  });

  it('is in sync with exactly our flow and meter reported by the switch, and prepares nothing for a port it keeps', async () => {
    const { backend } = await setup({}, (sw) => {
      sw.flows = [ourFlow(5)];
      sw.meters = [meterConfig(DEFAULT_METER_ID_BASE + 5, WANT.rateKbps, WANT.burstKbits)];
    });
    const t = target('tap5', 5, SLA);
    const pass = backend.plan([t], SNAPSHOT);
    assert.deepEqual(pass.outcome(t.portId), { kind: 'in-sync' });
    assert.equal(pass.drift(t.portId).detail, '');
    const commit = pass.prepare([]);
    assert.equal(commit.changes, 0);
    assert.equal(commit.orphans, 0);
  });

  it('describes, owns and names the meter of a port it enforces', async () => {
    const { backend } = await setup({}, (sw) => {
      sw.flows = [ourFlow(5)];
      sw.meters = [meterConfig(DEFAULT_METER_ID_BASE + 5, WANT.rateKbps, WANT.burstKbits)];
    });
    assert.deepEqual(backend.describe(hostPort('tap5', 5)), {
      upload: { mechanism: 'meter', rateKbps: 10_000, burstKbits: 2500, managedBy: OWNER, meterId: DEFAULT_METER_ID_BASE + 5 },
    });
    assert.deepEqual(backend.describe(hostPort('tap6', 6)), {});
    assert.deepEqual(backend.describe(hostPort('tapx', undefined)), {});
    assert.equal(backend.ownsOn(hostPort('tap5', 5)), true);
    assert.equal(backend.ownsOn(hostPort('tap6', 6)), false);
    assert.equal(backend.meterIdOf(5), DEFAULT_METER_ID_BASE + 5);
    assert.equal(backend.meterIdOf(6), undefined);
  });

  it("leaves alone a port of another bridge that has our port's number (br-phys' patch port and br-int's first VM port)", async () => {
    const { sw, backend } = await setup({}, (s) => {
      s.flows = [ourFlow(2)];
      s.meters = [meterConfig(DEFAULT_METER_ID_BASE + 2, WANT.rateKbps, WANT.burstKbits)];
    });
    const patch = hostPort('phy-br-phys', 2, 'br-phys');
    assert.equal(backend.ownsOn(patch), false, 'not ours: the reconciler makes no target of it');
    assert.deepEqual(backend.describe(patch), {});
    assert.equal(backend.ownsOn(hostPort('tap2', 2)), true);
    // Named anyway, with no SLA, next to the VM port that wants its meter: our flow and meter stay.
    const vm = target('tap2', 2, SLA);
    const other: PortTarget = { portId: 'ovs-port:phy-br-phys', serverId: '', hp: patch, sla: undefined, desired: false };
    const pass = backend.plan([vm, other], SNAPSHOT);
    assert.deepEqual(pass.outcome(vm.portId), { kind: 'in-sync' });
    const commit = pass.prepare([other.portId]);
    assert.equal(commit.orphans, 0);
    sw.sent.length = 0;
    await commit.run(new AbortController().signal);
    assert.ok(sw.sent.flat().every((m) => !(m.type === 'flow_mod' && m.command !== 'add') && !(m.type === 'meter_mod' && m.command === 'delete')), JSON.stringify(commands(sw)));
    // A view without bridges says nothing: the port is taken as on our bridge, as before.
    assert.equal(backend.ownsOn(hostPort('tap2', 2, undefined)), true);
  });

  it('ignores flows with another cookie and meters outside its id range', async () => {
    const foreign = ourFlow(5, { cookie: 0x1234n });
    const { backend } = await setup({}, (sw) => {
      sw.flows = [foreign];
      sw.meters = [meterConfig(7, 100, 100), meterConfig(DEFAULT_METER_ID_BASE - 1, 100, 100)];
    });
    assert.equal(backend.ownsOn(hostPort('tap5', 5)), false);
    const commit = backend.plan([], SNAPSHOT).prepare([]);
    assert.equal(commit.changes, 0);
    assert.equal(commit.orphans, 0);
  });

  it('deletes our flows on ports no target names and our meters nobody uses', async () => {
    const { sw, backend } = await setup({}, (s) => {
      s.flows = [ourFlow(9), ourFlow(9, { cookie: 0x99n })];
      s.meters = [meterConfig(7, 100, 100), meterConfig(DEFAULT_METER_ID_BASE + 7, 100, 100), meterConfig(DEFAULT_METER_ID_BASE + 9, 100, 100)];
    });
    const commit = backend.plan([], SNAPSHOT).prepare([]);
    assert.equal(commit.changes, 3);
    assert.equal(commit.orphans, 3);
    await commit.run(new AbortController().signal);
    const batch = sw.sent[0] ?? [];
    assert.equal(batch.length, 3);
    const [flowDelete, ...meterDeletes] = batch;
    assert.ok(flowDelete?.type === 'flow_mod');
    assert.equal(flowDelete.command, 'delete_strict');
    assert.equal(flowDelete.cookie, COOKIE);
    assert.equal(flowDelete.cookieMask, ALL_COOKIE_BITS);
    assert.equal(flowDelete.priority, DEFAULT_METER_PRIORITY);
    assert.deepEqual(flowDelete.match, ourFlow(9).match);
    assert.deepEqual(
      meterDeletes.map((m) => (m.type === 'meter_mod' ? `${m.command}:${String(m.meterId)}` : m.type)).sort(),
      [`delete:${String(DEFAULT_METER_ID_BASE + 7)}`, `delete:${String(DEFAULT_METER_ID_BASE + 9)}`],
    );
    // What remains on the switch is what is not ours.
    assert.deepEqual(sw.flows.map((f) => f.cookie), [0x99n]);
    assert.deepEqual(sw.meters.map((m) => m.meterId), [7]);
  });

  it('keeps the meter of a port the pass does not include', async () => {
    const { backend } = await setup({}, (sw) => {
      sw.flows = [ourFlow(5)];
      sw.meters = [meterConfig(DEFAULT_METER_ID_BASE + 5, 1, 64)];
    });
    const t = target('tap5', 5, SLA);
    const pass = backend.plan([t], SNAPSHOT);
    assert.deepEqual(pass.outcome(t.portId), { kind: 'change' });
    const commit = pass.prepare([]);
    assert.equal(commit.changes, 0);
    assert.equal(commit.orphans, 0);
  });

  it('a deleted flow (reported removed by the switch) is drift that fights no one', async () => {
    const { sw, backend, triggers } = await setup({}, (s) => {
      s.flows = [ourFlow(5)];
      s.meters = [meterConfig(DEFAULT_METER_ID_BASE + 5, WANT.rateKbps, WANT.burstKbits)];
    });
    const t = target('tap5', 5, SLA);
    assert.deepEqual(backend.plan([t], SNAPSHOT).outcome(t.portId), { kind: 'in-sync' });
    triggers.length = 0;
    sw.flows = [];
    sw.emit('flowRemoved', { type: 'flow_removed', cookie: COOKIE, reason: 'delete', priority: DEFAULT_METER_PRIORITY, tableId: 0 });
    await tick();
    assert.deepEqual(triggers, [false], 'a pass is asked for');
    const pass = backend.plan([t], SNAPSHOT);
    assert.deepEqual(pass.outcome(t.portId), { kind: 'change' });
    const drift = pass.drift(t.portId);
    assert.equal(drift.detail, 'flow in_port=5 missing');
    assert.equal(drift.contestable, false);
    const commit = pass.prepare([t.portId]);
    sw.sent.length = 0;
    await commit.run(new AbortController().signal);
    // The existing meter is modified, not added again.
    assert.deepEqual(
      sw.sent.flat().map((m) => (m.type === 'meter_mod' || m.type === 'flow_mod' ? `${m.type}:${m.command}` : m.type)),
      ['meter_mod:modify', 'flow_mod:add'],
    );
    assert.deepEqual(backend.plan([t], SNAPSHOT).outcome(t.portId), { kind: 'in-sync' });
  });

  it('ignores flow-removed messages of other cookies or reasons', async () => {
    const { sw, triggers } = await setup({}, (s) => {
      s.flows = [ourFlow(5)];
    });
    triggers.length = 0;
    sw.flows = [];
    sw.emit('flowRemoved', { type: 'flow_removed', cookie: 0x1n, reason: 'delete', priority: 1, tableId: 0 });
    sw.emit('flowRemoved', { type: 'flow_removed', cookie: COOKIE, reason: 'idle_timeout', priority: 1, tableId: 0 });
    await tick();
    assert.deepEqual(triggers, []);
  });

  it('a missing meter alone is not contestable either', async () => {
    const { backend } = await setup({}, (sw) => {
      sw.flows = [ourFlow(5)];
    });
    const t = target('tap5', 5, SLA);
    const pass = backend.plan([t], SNAPSHOT);
    assert.deepEqual(pass.outcome(t.portId), { kind: 'change' });
    assert.equal(pass.drift(t.portId).detail, `meter ${String(DEFAULT_METER_ID_BASE + 5)} missing`);
    assert.equal(pass.drift(t.portId).contestable, false);
  });

  it('a flow with another priority is rewritten drift: contestable, the stale flow deleted first', async () => {
    const { sw, backend } = await setup({}, (s) => {
      s.flows = [ourFlow(5, { priority: 100 })];
      s.meters = [meterConfig(DEFAULT_METER_ID_BASE + 5, WANT.rateKbps, WANT.burstKbits)];
    });
    const t = target('tap5', 5, SLA);
    const pass = backend.plan([t], SNAPSHOT);
    assert.deepEqual(pass.outcome(t.portId), { kind: 'change' });
    assert.equal(pass.drift(t.portId).detail, 'flow in_port=5 differs');
    assert.notEqual(pass.drift(t.portId).contestable, false);
    await pass.prepare([t.portId]).run(new AbortController().signal);
    assert.deepEqual(
      (sw.sent[0] ?? []).map((m) => (m.type === 'meter_mod' || m.type === 'flow_mod' ? `${m.type}:${m.command}:${String(m.type === 'flow_mod' ? m.priority : m.meterId)}` : m.type)),
      ['flow_mod:delete_strict:100', `meter_mod:modify:${String(DEFAULT_METER_ID_BASE + 5)}`, 'flow_mod:add:60000'],
    );
    assert.deepEqual(sw.flows.map((f) => f.priority), [60_000]);
  });

  it('a flow pointing at another meter, or a meter with another rate, is contestable drift', async () => {
    const { backend } = await setup({}, (sw) => {
      sw.flows = [ourFlow(5, { meterId: 42 }), ourFlow(6)];
      sw.meters = [meterConfig(DEFAULT_METER_ID_BASE + 5, WANT.rateKbps, WANT.burstKbits), meterConfig(DEFAULT_METER_ID_BASE + 6, 5000, WANT.burstKbits)];
    });
    const t5 = target('tap5', 5, SLA);
    const t6 = target('tap6', 6, SLA);
    const pass = backend.plan([t5, t6], SNAPSHOT);
    assert.deepEqual(pass.outcome(t5.portId), { kind: 'change' });
    assert.equal(pass.drift(t5.portId).detail, 'flow in_port=5 differs');
    assert.notEqual(pass.drift(t5.portId).contestable, false);
    assert.deepEqual(pass.outcome(t6.portId), { kind: 'change' });
    assert.match(pass.drift(t6.portId).detail, /rate 5000 ≠ 10000 kbit\/s/);
    assert.notEqual(pass.drift(t6.portId).contestable, false);
  });

  it('wants nothing when not active: removes its flows and meters', async () => {
    const { sw, backend } = await setup({ active: () => false }, (s) => {
      s.flows = [ourFlow(5)];
      s.meters = [meterConfig(DEFAULT_METER_ID_BASE + 5, WANT.rateKbps, WANT.burstKbits)];
    });
    const t = target('tap5', 5, SLA);
    const pass = backend.plan([t], SNAPSHOT);
    assert.deepEqual(pass.outcome(t.portId), { kind: 'change' });
    assert.equal(pass.key(t.portId), 'null');
    await pass.prepare([t.portId]).run(new AbortController().signal);
    assert.deepEqual(
      (sw.sent[0] ?? []).map((m) => (m.type === 'meter_mod' || m.type === 'flow_mod' ? `${m.type}:${m.command}` : m.type)),
      ['flow_mod:delete_strict', 'meter_mod:delete'],
    );
    assert.deepEqual(sw.flows, []);
    assert.deepEqual(sw.meters, []);
    assert.deepEqual(backend.plan([t], SNAPSHOT).outcome(t.portId), { kind: 'in-sync' });
  });

  it('a port whose SLA is removed loses its flow and meter', async () => {
    const { sw, backend } = await setup({}, (s) => {
      s.flows = [ourFlow(5)];
      s.meters = [meterConfig(DEFAULT_METER_ID_BASE + 5, WANT.rateKbps, WANT.burstKbits)];
    });
    const t = target('tap5', 5, undefined);
    const pass = backend.plan([t], SNAPSHOT);
    assert.deepEqual(pass.outcome(t.portId), { kind: 'change' });
    await pass.prepare([t.portId]).run(new AbortController().signal);
    assert.deepEqual(sw.flows, []);
    assert.deepEqual(sw.meters, []);
  });

  it('an upload on a port without an OpenFlow number is an error; without an upload it is in sync', async () => {
    const { backend } = await setup();
    const noOfport = target('tapnew', undefined, SLA);
    const failed = target('tapbad', -1, SLA);
    const downloadOnly = target('tapdl', undefined, { download: { maxRate: 1e6 } });
    const pass = backend.plan([noOfport, failed, downloadOnly], SNAPSHOT);
    const outcome = pass.outcome(noOfport.portId);
    assert.equal(outcome.kind, 'error');
    assert.match(outcome.reason, /tapnew.*OpenFlow port number/);
    assert.equal(pass.outcome(failed.portId).kind, 'error');
    assert.deepEqual(pass.outcome(downloadOnly.portId), { kind: 'in-sync' });
    assert.equal(pass.prepare([noOfport.portId, downloadOnly.portId]).changes, 0);
  });

  it('uses the configured burst duration, priority, register and meter ids', async () => {
    const { sw, backend } = await setup({ burstMs: 100, priority: 1234, register: 3, meterIdBase: 0x100 });
    const t = target('tap5', 5, SLA);
    await backend.plan([t], SNAPSHOT).prepare([t.portId]).run(new AbortController().signal);
    const [meter, flow] = sw.sent[0] ?? [];
    assert.ok(meter?.type === 'meter_mod');
    assert.equal(meter.meterId, 0x105);
    assert.deepEqual(meter.bands, [{ type: 'drop', rate: 10_000, burstSize: 1000 }]);
    assert.ok(flow?.type === 'flow_mod');
    assert.equal(flow.priority, 1234);
    assert.deepEqual(flow.match[1], { field: 'reg3', value: 0, mask: 1 });
    assert.deepEqual(backend.plan([t], SNAPSHOT).outcome(t.portId), { kind: 'in-sync' });
  });

  it('throws for a port the pass did not plan', async () => {
    const { backend } = await setup();
    assert.throws(() => backend.plan([], SNAPSHOT).outcome('nope'), /nope was not planned/);
  });
});

describe('OpenFlowMeterBackend: one meter per server (a VM\'s cap is the VM\'s)', () => {
  const M5 = DEFAULT_METER_ID_BASE + 5;
  const M7 = DEFAULT_METER_ID_BASE + 7;
  const M9 = DEFAULT_METER_ID_BASE + 9;

  it('two ports of one server: one meter (id of the lowest ofport, the server\'s cap), two flows pointing at it', async () => {
    const { sw, backend } = await setup();
    // Listed highest first: the owner is the lowest ofport, not the first target.
    const a = serverPort('vm-1', 'tap7', 7, SLA);
    const b = serverPort('vm-1', 'tap5', 5, SLA);
    const pass = backend.plan([a, b], SNAPSHOT);
    assert.deepEqual(pass.outcome(a.portId), { kind: 'change' });
    assert.match(pass.drift(a.portId).detail, new RegExp(`meter ${String(M5)} missing`));
    assert.equal(pass.key(a.portId), pass.key(b.portId));
    assert.equal(pass.key(a.portId), JSON.stringify({ ...WANT, meterId: M5 }));
    const commit = pass.prepare([a.portId, b.portId]);
    assert.equal(commit.changes, 3, 'the shared meter is written once');
    await commit.run(new AbortController().signal);
    assert.deepEqual(commands(sw), [`meter_mod:add:${String(M5)}`, `flow_mod:add:in_port=7→${String(M5)}`, `flow_mod:add:in_port=5→${String(M5)}`]);
    assert.deepEqual(sw.meters.map((m) => [m.meterId, m.bands]), [[M5, [{ type: 'drop', rate: 10_000, burstSize: 2500 }]]]);

    const again = backend.plan([a, b], SNAPSHOT);
    assert.deepEqual(again.outcome(a.portId), { kind: 'in-sync' });
    assert.deepEqual(again.outcome(b.portId), { kind: 'in-sync' });
    assert.equal(again.prepare([]).changes, 0);
    // Both ports show the same meter; the rate sampler is given neither (its drops are the server's, not one port's).
    assert.equal(backend.describe(hostPort('tap5', 5)).upload?.meterId, M5);
    assert.equal(backend.describe(hostPort('tap7', 7)).upload?.meterId, M5);
    assert.equal(backend.meterIdOf(5), undefined);
    assert.equal(backend.meterIdOf(7), undefined);
  });

  it('a single-port server keeps its own meter; two servers get two meters', async () => {
    const { sw, backend } = await setup();
    const one = serverPort('vm-1', 'tap5', 5, SLA);
    const other = serverPort('vm-2', 'tap7', 7, { upload: { maxRate: 4e6 } });
    await backend.plan([one, other], SNAPSHOT).prepare([one.portId, other.portId]).run(new AbortController().signal);
    assert.deepEqual(commands(sw).sort(), [`flow_mod:add:in_port=5→${String(M5)}`, `flow_mod:add:in_port=7→${String(M7)}`, `meter_mod:add:${String(M5)}`, `meter_mod:add:${String(M7)}`].sort());
    assert.deepEqual(sw.meters.map((m) => [m.meterId, m.bands[0]?.rate]).sort(), [[M5, 10_000], [M7, 4000]]);
  });

  it('the owner port unplugged: the meter moves to the next lowest port in one batch, the old one is deleted', async () => {
    const { sw, backend } = await setup({}, (s) => {
      s.flows = [ourFlow(5, { meterId: M5 }), ourFlow(7, { meterId: M5 }), ourFlow(9, { meterId: M5 })];
      s.meters = [meterConfig(M5, WANT.rateKbps, WANT.burstKbits)];
    });
    const p7 = serverPort('vm-1', 'tap7', 7, SLA);
    const p9 = serverPort('vm-1', 'tap9', 9, SLA);
    // Port 5 left OVS; its flow is still reported (or not: ovs-vswitchd removes a port's flows with it).
    const pass = backend.plan([p7, p9], SNAPSHOT);
    assert.deepEqual(pass.outcome(p7.portId), { kind: 'change' });
    assert.match(pass.drift(p7.portId).detail, new RegExp(`meter ${String(M7)} missing; flow in_port=7 differs`));
    assert.equal(pass.key(p9.portId), JSON.stringify({ ...WANT, meterId: M7 }), 'a new desire (another meter), not drift');
    const commit = pass.prepare([p7.portId, p9.portId]);
    assert.equal(commit.orphans, 2, 'the flow of the port gone and its meter');
    await commit.run(new AbortController().signal);
    assert.deepEqual(commands(sw), [
      'flow_mod:delete_strict:in_port=5',
      `meter_mod:add:${String(M7)}`,
      `flow_mod:add:in_port=7→${String(M7)}`,
      `flow_mod:add:in_port=9→${String(M7)}`,
      `meter_mod:delete:${String(M5)}`,
    ]);
    assert.deepEqual(sw.meters.map((m) => m.meterId), [M7]);
    assert.deepEqual(backend.plan([p7, p9], SNAPSHOT).outcome(p9.portId), { kind: 'in-sync' });
  });

  it('another port unplugged: the meter stays, only that port\'s flow goes', async () => {
    const { sw, backend } = await setup({}, (s) => {
      s.flows = [ourFlow(5, { meterId: M5 }), ourFlow(7, { meterId: M5 })];
      s.meters = [meterConfig(M5, WANT.rateKbps, WANT.burstKbits)];
    });
    const p5 = serverPort('vm-1', 'tap5', 5, SLA);
    const pass = backend.plan([p5], SNAPSHOT);
    assert.deepEqual(pass.outcome(p5.portId), { kind: 'in-sync' });
    const commit = pass.prepare([]);
    assert.equal(commit.orphans, 1);
    await commit.run(new AbortController().signal);
    assert.deepEqual(commands(sw), ['flow_mod:delete_strict:in_port=7']);
    assert.deepEqual(sw.meters.map((m) => m.meterId), [M5]);
    // Alone again, the port's meter is its own: the sampler subtracts its drops.
    assert.equal(backend.meterIdOf(5), M5);
  });

  it('a second port plugged joins the meter; a lower one takes it over', async () => {
    const { sw, backend } = await setup({}, (s) => {
      s.flows = [ourFlow(7)];
      s.meters = [meterConfig(M7, WANT.rateKbps, WANT.burstKbits)];
    });
    const p7 = serverPort('vm-1', 'tap7', 7, SLA);
    const p9 = serverPort('vm-1', 'tap9', 9, SLA);
    const joined = backend.plan([p7, p9], SNAPSHOT);
    assert.deepEqual(joined.outcome(p7.portId), { kind: 'in-sync' });
    await joined.prepare([p9.portId]).run(new AbortController().signal);
    assert.deepEqual(commands(sw), [`meter_mod:modify:${String(M7)}`, `flow_mod:add:in_port=9→${String(M7)}`]);

    sw.sent.length = 0;
    const p5 = serverPort('vm-1', 'tap5', 5, SLA);
    const lower = backend.plan([p7, p9, p5], SNAPSHOT);
    for (const p of [p5, p7, p9]) assert.deepEqual(lower.outcome(p.portId), { kind: 'change' }, p.portId);
    await lower.prepare([p5.portId, p7.portId, p9.portId]).run(new AbortController().signal);
    assert.deepEqual(commands(sw), [
      `meter_mod:add:${String(M5)}`,
      `flow_mod:add:in_port=5→${String(M5)}`,
      `flow_mod:add:in_port=7→${String(M5)}`,
      `flow_mod:add:in_port=9→${String(M5)}`,
      `meter_mod:delete:${String(M7)}`,
    ]);
  });

  it('keeps the old meter while a port not in this commit still points at it (deleting a meter deletes its flows)', async () => {
    const { sw, backend } = await setup({}, (s) => {
      s.flows = [ourFlow(7, { meterId: M7 }), ourFlow(9, { meterId: M7 })];
      s.meters = [meterConfig(M7, WANT.rateKbps, WANT.burstKbits)];
    });
    const p5 = serverPort('vm-1', 'tap5', 5, SLA);
    const p7 = serverPort('vm-1', 'tap7', 7, SLA);
    const p9 = serverPort('vm-1', 'tap9', 9, SLA);
    // Port 9 is left out (e.g. another backend failed on it): its flow keeps meter M7 alive for now.
    await backend.plan([p5, p7, p9], SNAPSHOT).prepare([p5.portId, p7.portId]).run(new AbortController().signal);
    assert.deepEqual(commands(sw), [`meter_mod:add:${String(M5)}`, `flow_mod:add:in_port=5→${String(M5)}`, `flow_mod:add:in_port=7→${String(M5)}`]);
    assert.deepEqual(sw.meters.map((m) => m.meterId).sort(), [M5, M7].sort());
    // Once port 9 is re-pointed, M7 is nobody's and goes.
    sw.sent.length = 0;
    await backend.plan([p5, p7, p9], SNAPSHOT).prepare([p9.portId]).run(new AbortController().signal);
    assert.deepEqual(commands(sw), [`meter_mod:modify:${String(M5)}`, `flow_mod:add:in_port=9→${String(M5)}`, `meter_mod:delete:${String(M7)}`]);
    assert.deepEqual(sw.meters.map((m) => m.meterId), [M5]);
  });

  it('a port whose flow points at its own meter instead of the server\'s is contestable drift', async () => {
    const { backend } = await setup({}, (sw) => {
      sw.flows = [ourFlow(5, { meterId: M5 }), ourFlow(9, { meterId: M9 })];
      sw.meters = [meterConfig(M5, WANT.rateKbps, WANT.burstKbits), meterConfig(M9, WANT.rateKbps, WANT.burstKbits)];
    });
    const p5 = serverPort('vm-1', 'tap5', 5, SLA);
    const p9 = serverPort('vm-1', 'tap9', 9, SLA);
    const pass = backend.plan([p5, p9], SNAPSHOT);
    assert.deepEqual(pass.outcome(p5.portId), { kind: 'in-sync' });
    assert.deepEqual(pass.outcome(p9.portId), { kind: 'change' });
    assert.equal(pass.drift(p9.portId).detail, 'flow in_port=9 differs');
    assert.notEqual(pass.drift(p9.portId).contestable, false);
  });

  it('takes the largest upload cap of the server\'s ports for the meter', async () => {
    const { sw, backend } = await setup();
    const p5 = serverPort('vm-1', 'tap5', 5, { upload: { maxRate: 4e6 } });
    const p7 = serverPort('vm-1', 'tap7', 7, SLA);
    const pass = backend.plan([p5, p7], SNAPSHOT);
    assert.equal(pass.key(p5.portId), JSON.stringify({ ...WANT, meterId: M5 }));
    await pass.prepare([p5.portId, p7.portId]).run(new AbortController().signal);
    assert.deepEqual(sw.meters.map((m) => m.bands[0]?.rate), [10_000]);
  });

  it('a port of the server without an upload cap or an ofport stays out of the meter', async () => {
    const { sw, backend } = await setup();
    const p5 = serverPort('vm-1', 'tap5', 5, { download: { maxRate: 1e6 } });
    const p7 = serverPort('vm-1', 'tap7', 7, SLA);
    const p3 = serverPort('vm-1', 'tapnew', undefined, SLA);
    const pass = backend.plan([p5, p7, p3], SNAPSHOT);
    assert.deepEqual(pass.outcome(p5.portId), { kind: 'in-sync' });
    assert.equal(pass.outcome(p3.portId).kind, 'error');
    await pass.prepare([p5.portId, p7.portId]).run(new AbortController().signal);
    assert.deepEqual(commands(sw), [`meter_mod:add:${String(M7)}`, `flow_mod:add:in_port=7→${String(M7)}`]);
  });
});
