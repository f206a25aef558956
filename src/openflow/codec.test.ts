import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { action, instruction, nx, type Action, type Instruction } from './actions.ts';
import { errorNames, errorNumbers, NX_VENDOR_ID, OFPM, OFPMF, OFPP, OFPFF } from './constants.ts';
import { OpenFlowError, OpenFlowMessageTooLargeError, OpenFlowProtocolError } from './errors.ts';
import { MessageSplitter } from './framing.ts';
import {
  band,
  decodeMessage,
  encodeMessage,
  flowMod,
  flowStatsRequest,
  meterMod,
  type Message,
  type MeterBand,
  type PortDesc,
} from './messages.ts';
import { match, nxmHeader, type OxmField } from './oxm.ts';
import { formatEndpoint, parseEndpoint } from './transport.ts';

/** mulberry32: a tiny seeded PRNG so property tests are reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const roundTrip = (m: Message, xid = 42): Message => {
  const bytes = encodeMessage(m, xid);
  assert.equal(bytes.readUInt16BE(2), bytes.length, 'header length = bytes');
  assert.equal(bytes.length % 1, 0);
  const d = decodeMessage(bytes);
  assert.equal(d.xid, xid);
  assert.equal(d.version, m.type === 'hello' ? Math.max(...m.versions) : 4);
  return d.message;
};

const port: PortDesc = {
  portNo: 7,
  hwAddr: 'aa:bb:cc:00:11:22',
  name: 'qvo1234abcd-ef',
  config: 1,
  state: 4,
  curr: 0x820,
  advertised: 0,
  supported: 0,
  peer: 0,
  currSpeed: 10_000_000,
  maxSpeed: 0,
};

const neutronFlow = flowMod({
  command: 'add',
  cookie: 0xdeadbeefcafef00dn,
  tableId: 0,
  priority: 60000,
  idleTimeout: 10,
  hardTimeout: 20,
  flags: ['send_flow_rem', 'check_overlap'],
  match: [match.inPort(5), match.reg(12, 0)],
  instructions: [instruction.meter(9), instruction.applyActions([nx.regLoad(12, 0, 1, 1), nx.resubmit(0)])],
});

describe('OpenFlow codec: round trips', () => {
  const messages: [string, Message][] = [
    ['hello', { type: 'hello', versions: [1, 4], bitmap: true }],
    ['hello without bitmap', { type: 'hello', versions: [4], bitmap: false }],
    ['error', { type: 'error', errType: 12, errCode: 1, data: Buffer.from('0123') }],
    ['experimenter error', { type: 'error', errType: 0xffff, errCode: 517, experimenter: NX_VENDOR_ID, data: Buffer.from([1, 2]) }],
    ['echo request', { type: 'echo_request', data: Buffer.from('ping') }],
    ['echo reply', { type: 'echo_reply', data: Buffer.alloc(0) }],
    ['features request', { type: 'features_request' }],
    ['features reply', { type: 'features_reply', datapathId: 0xfedcba9876543210n, nBuffers: 0, nTables: 254, auxiliaryId: 0, capabilities: 0x4f }],
    ['barrier request', { type: 'barrier_request' }],
    ['barrier reply', { type: 'barrier_reply' }],
    ['set config', { type: 'set_config', flags: 0, missSendLen: 128 }],
    ['neutron flow-mod', neutronFlow],
    [
      'flow-mod with every match field and action',
      flowMod({
        command: 'modify_strict',
        cookie: 1n,
        cookieMask: 0xffffn,
        tableId: 3,
        priority: 1,
        match: [
          match.inPort(1),
          match.ethDst('01:02:03:04:05:06', 'ff:ff:ff:00:00:00'),
          match.ethSrc('0a:0b:0c:0d:0e:0f'),
          match.ethType(0x0800),
          match.vlanVid(0x1000 | 100, 0x1fff),
          match.ipProto(6),
          match.ipv4Src('10.0.0.1'),
          match.ipv4Dst('192.168.0.0', '255.255.0.0'),
          match.tcpSrc(1234),
          match.tcpDst(80),
          match.udpSrc(53),
          match.udpDst(5353),
          match.pktMark(0x10, 0xff),
          match.reg(0, 1),
          match.reg(15, 0xffffffff, 0xf0f0f0f0),
        ],
        instructions: [
          instruction.clearActions(),
          instruction.writeActions([action.setQueue(3), action.output('CONTROLLER', 128)]),
          instruction.applyActions([
            action.output('NORMAL'),
            action.output('IN_PORT'),
            action.output('LOCAL'),
            action.output(17, 0),
            action.setField(match.reg(3, 7)),
            action.setField(match.ethDst('00:00:00:00:00:01')),
            action.setField(match.ipv4Src('1.2.3.4')),
            nx.regLoad(12, 4, 28, 0xabcdef),
            nx.resubmit(9, 44),
          ]),
          instruction.gotoTable(10),
        ],
      }),
    ],
    ['flow-mod delete by cookie', flowMod({ command: 'delete', tableId: 0xff, cookie: 0x5n, cookieMask: 0xffn, outPort: OFPP.ANY })],
    ['flow-mod delete_strict with out_port', flowMod({ command: 'delete_strict', priority: 5, outPort: 3, outGroup: 2, match: [match.ethType(0x806)] })],
    ['flow-mod modify', flowMod({ command: 'modify', flags: OFPFF.reset_counts })],
    ['meter-mod add', meterMod({ meterId: 9, flags: ['kbps', 'burst', 'stats'], bands: [band.drop(10_000, 1000), band.dscpRemark(20_000, 2, 50)] })],
    ['meter-mod modify pktps', meterMod({ command: 'modify', meterId: 1, flags: ['pktps'], bands: [band.drop(100)] })],
    ['meter-mod delete all', meterMod({ command: 'delete', meterId: OFPM.ALL })],
    ['set async', { type: 'set_async', packetInMask: [0, 0], portStatusMask: [7, 7], flowRemovedMask: [63, 0] }],
    [
      'flow removed',
      {
        type: 'flow_removed',
        cookie: 0xffffffffffffffffn,
        priority: 60000,
        reason: 'delete',
        tableId: 0,
        durationSec: 12,
        durationNsec: 999,
        idleTimeout: 0,
        hardTimeout: 0,
        packetCount: 2n ** 40n,
        byteCount: 3n,
        match: [match.inPort(5), match.reg(12, 0)],
      },
    ],
    ['port status', { type: 'port_status', reason: 'modify', desc: port }],
    ['multipart port stats request', { type: 'multipart_request', flags: 0, body: { kind: 'port_stats', portNo: OFPP.ANY } }],
    ['multipart port desc request', { type: 'multipart_request', flags: 0, body: { kind: 'port_desc' } }],
    ['multipart flow request', { type: 'multipart_request', flags: 0, body: flowStatsRequest({ tableId: 0, cookie: 7n, cookieMask: 0xffn, match: [match.inPort(1)] }) }],
    ['multipart meter request', { type: 'multipart_request', flags: 0, body: { kind: 'meter', meterId: 3 } }],
    ['multipart meter config request', { type: 'multipart_request', flags: 0, body: { kind: 'meter_config', meterId: OFPM.ALL } }],
    ['multipart meter features request', { type: 'multipart_request', flags: 0, body: { kind: 'meter_features' } }],
    [
      'multipart port stats reply',
      {
        type: 'multipart_reply',
        flags: 1,
        body: {
          kind: 'port_stats',
          stats: [1, 2].map((n) => ({
            portNo: n,
            rxPackets: 1n,
            txPackets: 2n,
            rxBytes: 3n,
            txBytes: 4n,
            rxDropped: 5n,
            txDropped: 6n,
            rxErrors: 7n,
            txErrors: 8n,
            rxFrameErr: 9n,
            rxOverErr: 10n,
            rxCrcErr: 11n,
            collisions: 12n,
            durationSec: 13,
            durationNsec: 14,
          })),
        },
      },
    ],
    ['multipart port desc reply', { type: 'multipart_reply', flags: 0, body: { kind: 'port_desc', ports: [port, { ...port, portNo: OFPP.LOCAL, name: 'br-int' }] } }],
    [
      'multipart flow reply',
      {
        type: 'multipart_reply',
        flags: 0,
        body: {
          kind: 'flow',
          flows: [
            {
              tableId: 0,
              durationSec: 1,
              durationNsec: 2,
              priority: 60000,
              idleTimeout: 0,
              hardTimeout: 0,
              flags: 1,
              cookie: 0xabcn,
              packetCount: 10n,
              byteCount: 1000n,
              match: neutronFlow.match,
              instructions: neutronFlow.instructions,
            },
            { tableId: 5, durationSec: 0, durationNsec: 0, priority: 0, idleTimeout: 0, hardTimeout: 0, flags: 0, cookie: 0n, packetCount: 0n, byteCount: 0n, match: [], instructions: [] },
          ],
        },
      },
    ],
    [
      'multipart meter stats reply',
      {
        type: 'multipart_reply',
        flags: 0,
        body: {
          kind: 'meter',
          meters: [
            { meterId: 1, flowCount: 2, packetInCount: 3n, byteInCount: 4n, durationSec: 5, durationNsec: 6, bandStats: [{ packetBandCount: 7n, byteBandCount: 8n }] },
            { meterId: 2, flowCount: 0, packetInCount: 0n, byteInCount: 0n, durationSec: 0, durationNsec: 0, bandStats: [] },
          ],
        },
      },
    ],
    [
      'multipart meter config reply',
      { type: 'multipart_reply', flags: 0, body: { kind: 'meter_config', meters: [{ meterId: 4, flags: OFPMF.kbps | OFPMF.burst, bands: [band.drop(1, 2)] }] } },
    ],
    [
      'multipart meter features reply',
      { type: 'multipart_reply', flags: 0, body: { kind: 'meter_features', features: { maxMeter: 262144, bandTypes: 2, capabilities: 15, maxBands: 8, maxColor: 0 } } },
    ],
    ['unknown message type', { type: 'unknown', msgType: 13, body: Buffer.from([1, 2, 3, 4, 5]) }],
    ['unknown multipart', { type: 'multipart_reply', flags: 0, body: { kind: 'unknown', mpType: 0, body: Buffer.alloc(16, 7) } }],
  ];
  for (const [name, m] of messages) {
    it(name, () => {
      assert.deepEqual(roundTrip(m), m);
    });
  }

  it('covers every message type the library encodes', () => {
    const types = new Set(messages.map(([, m]) => m.type));
    for (const t of ['hello', 'error', 'echo_request', 'echo_reply', 'features_request', 'features_reply', 'barrier_request', 'barrier_reply', 'set_config', 'flow_mod', 'meter_mod', 'set_async', 'flow_removed', 'port_status', 'multipart_request', 'multipart_reply', 'unknown']) {
      assert.ok(types.has(t as Message['type']), t);
    }
  });
});

describe('OpenFlow codec: wire details', () => {
  it('encodes the Neutron metering flow as OVS expects (NXM_NX_REG12 header, 16-bit IN_PORT in resubmit)', () => {
    assert.equal(nxmHeader('reg12'), 0x00011804);
    const bytes = encodeMessage(neutronFlow, 1);
    // reg_load: experimenter 0x2320, subtype 7, ofs_nbits (0<<6)|(1-1), dst header, value 1.
    const regLoad = Buffer.from('ffff0018000023200007000000011804' + '0000000000000001', 'hex');
    assert.ok(bytes.includes(regLoad), 'NXAST_REG_LOAD bytes present');
    const resubmit = Buffer.from('ffff00100000232000' + '0e' + 'fff8' + '00000000', 'hex');
    assert.ok(bytes.includes(resubmit), 'NXAST_RESUBMIT_TABLE bytes present');
    // OFPIT_METER with id 9.
    assert.ok(bytes.includes(Buffer.from('0006000800000009', 'hex')));
    // Match: in_port OXM then NXM_NX_REG12 OXM (class 0x0001, field 12).
    assert.ok(bytes.includes(Buffer.from('80000004000000050001180400000000', 'hex')));
    assert.equal(bytes.length % 8, 0);
  });

  it('hello carries the version bitmap element', () => {
    const bytes = encodeMessage({ type: 'hello', versions: [4], bitmap: true }, 1);
    assert.equal(bytes.toString('hex'), '04000010' + '00000001' + '00010008' + '00000010');
  });

  it('names OFPT_ERROR types and codes', () => {
    assert.deepEqual(errorNames(12, 1), { typeName: 'OFPET_METER_MOD_FAILED', codeName: 'OFPMMFC_METER_EXISTS' });
    assert.deepEqual(errorNames(4, 9), { typeName: 'OFPET_BAD_MATCH', codeName: 'OFPBMC_BAD_PREREQ' });
    assert.deepEqual(errorNames(5, 3), { typeName: 'OFPET_FLOW_MOD_FAILED', codeName: 'OFPFMFC_OVERLAP' });
    assert.deepEqual(errorNames(0xffff, 7, NX_VENDOR_ID), { typeName: 'OFPET_EXPERIMENTER', codeName: 'NX_EXP_TYPE(7)' });
    assert.equal(errorNames(99, 1).typeName, 'OFPET_UNKNOWN(99)');
    assert.equal(errorNames(12, 99).codeName, 'OFPET_METER_MOD_FAILED_UNKNOWN_CODE(99)');
    assert.deepEqual(errorNumbers('OFPET_BAD_ACTION', 'OFPBAC_BAD_OUT_PORT'), { type: 2, code: 4 });
  });

  it('keeps unknown actions, instructions, bands and OXM fields as raw data that re-encodes identically', () => {
    const unknownOxm: OxmField = { field: 'unknown', oxmClass: 0x8000, oxmField: 40, hasMask: false, payload: Buffer.from([0, 1, 2, 3]) };
    const rawAction: Action = { type: 'unknown', actionType: 17, body: Buffer.from([0x81, 0, 0, 0]) };
    const expAction: Action = { type: 'experimenter', experimenter: NX_VENDOR_ID, data: Buffer.from([0, 99, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) };
    const rawInst: Instruction = { type: 'unknown', instructionType: 2, body: Buffer.alloc(20, 1) };
    const rawBand: MeterBand = { type: 'unknown', bandType: 7, rate: 1, burstSize: 2, body: Buffer.alloc(4) };
    const m = flowMod({ match: [unknownOxm], instructions: [instruction.applyActions([rawAction, expAction]), rawInst] });
    assert.deepEqual(roundTrip(m), m);
    const mm = meterMod({ meterId: 1, bands: [rawBand, { type: 'experimenter', rate: 3, burstSize: 4, experimenter: 9 }] });
    assert.deepEqual(roundTrip(mm), mm);
  });

  it('rejects values that do not fit', () => {
    assert.throws(() => encodeMessage(flowMod({ priority: 70000 }), 1), { code: 'OPENFLOW_BAD_ARGUMENT' });
    assert.throws(() => encodeMessage(flowMod({ match: [match.ethDst('zz')] }), 1), { code: 'OPENFLOW_BAD_ARGUMENT' });
    assert.throws(() => encodeMessage(flowMod({ match: [{ field: 'in_port', value: 1, mask: 1 }] }), 1), { code: 'OPENFLOW_BAD_ARGUMENT' });
    assert.throws(() => nx.regLoad(16, 0, 1, 1), { code: 'OPENFLOW_BAD_ARGUMENT' });
    assert.throws(() => encodeMessage(flowMod({ instructions: [instruction.applyActions([nx.regLoad(1, 0, 2, 4)])] }), 1), { code: 'OPENFLOW_BAD_ARGUMENT' });
    assert.throws(() => action.output('NOPE' as 'NORMAL'), { code: 'OPENFLOW_BAD_ARGUMENT' });
  });

  it('parses and formats endpoints', () => {
    assert.deepEqual(parseEndpoint('unix:/run/openvswitch/br-int.mgmt'), { kind: 'unix', path: '/run/openvswitch/br-int.mgmt' });
    assert.deepEqual(parseEndpoint('tcp:127.0.0.1:6653'), { kind: 'tcp', host: '127.0.0.1', port: 6653 });
    assert.deepEqual(parseEndpoint('ssl:[::1]:6654'), { kind: 'ssl', host: '::1', port: 6654 });
    assert.deepEqual(parseEndpoint('tcp:switch1'), { kind: 'tcp', host: 'switch1', port: 6653 });
    assert.equal(formatEndpoint(parseEndpoint('ssl:[::1]:6654')), 'ssl:[::1]:6654');
    for (const bad of ['unix:', 'tcp:host:99999', 'http://x', 'br-int']) assert.throws(() => parseEndpoint(bad), { code: 'OPENFLOW_BAD_ENDPOINT' });
  });
});

// ---- property tests ------------------------------------------------------------

function randomMessage(rand: () => number): Message {
  const int = (max: number): number => Math.floor(rand() * (max + 1));
  const u32 = (): number => int(0xffffffff);
  const u64 = (): bigint => (BigInt(u32()) << 32n) | BigInt(u32());
  const mac = (): string => Array.from({ length: 6 }, () => int(255).toString(16).padStart(2, '0')).join(':');
  const ip = (): string => Array.from({ length: 4 }, () => int(255)).join('.');
  const field = (): OxmField => {
    const pick = int(7);
    if (pick === 0) return match.inPort(u32());
    if (pick === 1) return match.ethDst(mac(), rand() < 0.5 ? mac() : undefined);
    if (pick === 2) return match.ipv4Src(ip(), rand() < 0.5 ? ip() : undefined);
    if (pick === 3) return match.reg(int(15), u32(), rand() < 0.5 ? u32() : undefined);
    if (pick === 4) return match.tcpDst(int(0xffff));
    if (pick === 5) return match.vlanVid(int(0x1fff));
    if (pick === 6) return match.pktMark(u32());
    return { field: 'unknown', oxmClass: 0x8000, oxmField: 30 + int(20), hasMask: false, payload: Buffer.alloc(int(8), int(255)) };
  };
  const act = (): Action => {
    const pick = int(5);
    if (pick === 0) return action.output(rand() < 0.3 ? 'NORMAL' : int(0xfeff), int(0xffff));
    if (pick === 1) return action.setQueue(u32());
    if (pick === 2) return action.setField(field());
    if (pick === 3) {
      const nBits = 1 + int(31);
      return nx.regLoad(int(15), int(32 - nBits), nBits, int(2 ** nBits - 1));
    }
    if (pick === 4) return nx.resubmit(int(254), rand() < 0.5 ? 'IN_PORT' : int(0xfeff));
    return { type: 'unknown', actionType: 18, body: Buffer.alloc(4) };
  };
  const insts = (): Instruction[] =>
    Array.from({ length: int(4) }, (): Instruction => {
      const pick = int(4);
      if (pick === 0) return instruction.applyActions(Array.from({ length: int(4) }, act));
      if (pick === 1) return instruction.writeActions(Array.from({ length: int(2) }, act));
      if (pick === 2) return instruction.meter(u32());
      if (pick === 3) return instruction.gotoTable(int(254));
      return instruction.clearActions();
    });
  const pick = int(6);
  if (pick === 0) {
    const commands = ['add', 'modify', 'modify_strict', 'delete', 'delete_strict'] as const;
    return flowMod({
      command: commands[int(4)] ?? 'add',
      cookie: u64(),
      cookieMask: u64(),
      tableId: int(255),
      priority: int(0xffff),
      idleTimeout: int(0xffff),
      hardTimeout: int(0xffff),
      flags: int(31),
      outPort: u32(),
      match: Array.from({ length: int(6) }, field),
      instructions: insts(),
    });
  }
  if (pick === 1) {
    return meterMod({
      command: (['add', 'modify', 'delete'] as const)[int(2)] ?? 'add',
      meterId: u32(),
      flags: int(15),
      bands: Array.from({ length: int(3) }, () => (rand() < 0.5 ? band.drop(u32(), u32()) : band.dscpRemark(u32(), int(255), u32()))),
    });
  }
  if (pick === 2) return { type: 'echo_request', data: Buffer.alloc(int(40), int(255)) };
  if (pick === 3) {
    return {
      type: 'flow_removed',
      cookie: u64(),
      priority: int(0xffff),
      reason: (['idle_timeout', 'hard_timeout', 'delete'] as const)[int(2)] ?? 'delete',
      tableId: int(254),
      durationSec: u32(),
      durationNsec: u32(),
      idleTimeout: int(0xffff),
      hardTimeout: int(0xffff),
      packetCount: u64(),
      byteCount: u64(),
      match: Array.from({ length: int(4) }, field),
    };
  }
  if (pick === 4) return { type: 'error', errType: int(13), errCode: int(15), data: Buffer.alloc(int(64), 1) };
  if (pick === 5) return { type: 'barrier_reply' };
  return { type: 'port_status', reason: 'add', desc: { ...port, portNo: u32(), hwAddr: mac() } };
}

describe('OpenFlow codec: properties (seeded)', () => {
  it('random messages round-trip', () => {
    const rand = prng(1);
    for (let i = 0; i < 2000; i++) {
      const m = randomMessage(rand);
      assert.deepEqual(roundTrip(m, i + 1), m, `message ${String(i)}`);
    }
  });

  it('a stream split at random points and coalesced yields the same messages in order', () => {
    const rand = prng(2);
    for (let trial = 0; trial < 50; trial++) {
      const messages = Array.from({ length: 1 + Math.floor(rand() * 40) }, () => randomMessage(rand));
      const stream = Buffer.concat(messages.map((m, i) => encodeMessage(m, i + 1)));
      const splitter = new MessageSplitter();
      const out: Message[] = [];
      let at = 0;
      while (at < stream.length) {
        // Mix of 1-byte reads (split headers), mid-size reads and huge coalesced reads.
        const r = rand();
        const size = r < 0.2 ? 1 : r < 0.7 ? 1 + Math.floor(rand() * 64) : 1 + Math.floor(rand() * stream.length);
        for (const frame of splitter.push(stream.subarray(at, at + size))) out.push(decodeMessage(frame).message);
        at += size;
      }
      assert.equal(splitter.pendingBytes, 0);
      assert.deepEqual(out, messages);
    }
  });

  it('garbage, truncated and corrupted messages give OpenFlowError, never another exception', () => {
    const rand = prng(3);
    let rejected = 0;
    for (let i = 0; i < 5000; i++) {
      let bytes: Buffer;
      const mode = i % 3;
      if (mode === 0) {
        bytes = Buffer.from(Array.from({ length: 8 + Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)));
        bytes[0] = 4;
        bytes[1] = Math.floor(rand() * 30);
      } else {
        const good = encodeMessage(randomMessage(rand), 1);
        if (mode === 1) bytes = Buffer.from(good.subarray(0, 8 + Math.floor(rand() * (good.length - 8))));
        else {
          bytes = Buffer.from(good);
          for (let k = 0; k < 3; k++) bytes[8 + Math.floor(rand() * Math.max(1, bytes.length - 8))] = Math.floor(rand() * 256);
        }
      }
      bytes.writeUInt16BE(bytes.length, 2);
      try {
        decodeMessage(bytes);
      } catch (error) {
        assert.ok(error instanceof OpenFlowError, `non-OpenFlow error ${String(error)} for ${bytes.toString('hex')}`);
        assert.equal(error.code, 'OPENFLOW_BAD_MESSAGE');
        rejected++;
      }
    }
    assert.ok(rejected > 1000, `most garbage is rejected (${String(rejected)})`);
  });

  it('a truncated flow-mod names what was cut', () => {
    const good = encodeMessage(neutronFlow, 1);
    const cut = Buffer.from(good.subarray(0, 60));
    cut.writeUInt16BE(cut.length, 2);
    assert.throws(() => decodeMessage(cut), (e: unknown) => e instanceof OpenFlowProtocolError && /match|OXM|truncated/.test(e.message));
  });

  it('the splitter rejects a length below 8 and a message above the limit before buffering it', () => {
    const s = new MessageSplitter({ maxMessageBytes: 100 });
    assert.throws(() => s.push(Buffer.from('0400000400000001', 'hex')), (e: unknown) => e instanceof OpenFlowProtocolError && /less than the 8-byte header/.test(e.message));
    const s2 = new MessageSplitter({ maxMessageBytes: 100 });
    // Only the header of a 5000-byte message has arrived: rejected already.
    assert.throws(() => s2.push(Buffer.from('0402138800000001', 'hex')), (e: unknown) => e instanceof OpenFlowMessageTooLargeError && e.length === 5000 && e.code === 'OPENFLOW_MESSAGE_TOO_LARGE');
    assert.equal(s2.pendingBytes, 0);
    const s3 = new MessageSplitter({ maxMessageBytes: 100 });
    assert.equal(s3.push(Buffer.from('04020064', 'hex')).length, 0);
    assert.equal(s3.push(Buffer.alloc(96)).length, 1, 'exactly at the limit is accepted');
  });

  it('random garbage streams end in OpenFlowError or pending bytes, never a hang or crash', () => {
    const rand = prng(4);
    for (let i = 0; i < 500; i++) {
      const s = new MessageSplitter({ maxMessageBytes: 2048 });
      const stream = Buffer.from(Array.from({ length: Math.floor(rand() * 3000) }, () => Math.floor(rand() * 256)));
      try {
        for (let at = 0; at < stream.length; at += 37) {
          for (const frame of s.push(stream.subarray(at, at + 37))) {
            try {
              decodeMessage(frame);
            } catch (error) {
              assert.ok(error instanceof OpenFlowError);
            }
          }
        }
      } catch (error) {
        assert.ok(error instanceof OpenFlowError, String(error));
      }
    }
  });
});
