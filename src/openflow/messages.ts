/**
 * OpenFlow 1.3 messages: a discriminated union (`type`) and its codec.
 * `encodeMessage(message, xid)` gives the exact bytes to write;
 * `decodeMessage(bytes)` takes exactly one framed message. Unknown message,
 * multipart, action, instruction, band and OXM types decode to raw forms that
 * re-encode identically; bytes that contradict their own length fields throw
 * OpenFlowProtocolError (code OPENFLOW_BAD_MESSAGE) naming what was wrong.
 */
import { decodeInstructions, encodeInstructions, type Instruction } from './actions.ts';
import { Reader, Writer } from './bytes.ts';
import {
  OFP_HEADER_LEN,
  OFP_NO_BUFFER,
  OFP_VERSION_1_3,
  OFPET_EXPERIMENTER,
  OFPFC,
  OFPFF,
  OFPG_ANY,
  OFPHET_VERSIONBITMAP,
  OFPMBT,
  OFPMC,
  OFPMF,
  OFPMP,
  OFPP,
  OFPPR,
  OFPRR,
  OFPT,
  OFPTT_ALL,
  type FlowModCommand,
  type FlowModFlag,
  type FlowRemovedReason,
  type MeterFlag,
  type MeterModCommand,
  type PortStatusReason,
} from './constants.ts';
import { OpenFlowArgumentError, OpenFlowProtocolError } from './errors.ts';
import { decodeMatch, encodeMatch, formatMac, type Match } from './oxm.ts';

// ---- message shapes -------------------------------------------------------------

export interface Hello {
  readonly type: 'hello';
  /** Versions offered: from the version bitmap element, else just the header version. */
  readonly versions: readonly number[];
  /** Whether the hello carried a version bitmap element. */
  readonly bitmap: boolean;
}
export interface ErrorMsg {
  readonly type: 'error';
  readonly errType: number;
  /** The code; for OFPET_EXPERIMENTER, the exp_type. */
  readonly errCode: number;
  readonly experimenter?: number;
  readonly data: Buffer;
}
export interface Echo {
  readonly type: 'echo_request' | 'echo_reply';
  readonly data: Buffer;
}
export interface Empty {
  readonly type: 'features_request' | 'barrier_request' | 'barrier_reply' | 'get_config_request';
}
export interface FeaturesReply {
  readonly type: 'features_reply';
  readonly datapathId: bigint;
  readonly nBuffers: number;
  readonly nTables: number;
  readonly auxiliaryId: number;
  /** OFPC_* bits. */
  readonly capabilities: number;
}
export interface SetConfig {
  readonly type: 'set_config' | 'get_config_reply';
  readonly flags: number;
  readonly missSendLen: number;
}
export interface FlowMod {
  readonly type: 'flow_mod';
  readonly command: FlowModCommand;
  readonly cookie: bigint;
  readonly cookieMask: bigint;
  readonly tableId: number;
  readonly idleTimeout: number;
  readonly hardTimeout: number;
  readonly priority: number;
  readonly bufferId: number;
  readonly outPort: number;
  readonly outGroup: number;
  /** OFPFF_* bits. */
  readonly flags: number;
  readonly match: Match;
  readonly instructions: readonly Instruction[];
}

export type MeterBand =
  | { readonly type: 'drop'; readonly rate: number; readonly burstSize: number }
  | { readonly type: 'dscp_remark'; readonly rate: number; readonly burstSize: number; readonly precLevel: number }
  | { readonly type: 'experimenter'; readonly rate: number; readonly burstSize: number; readonly experimenter: number }
  | { readonly type: 'unknown'; readonly bandType: number; readonly rate: number; readonly burstSize: number; readonly body: Buffer };

export interface MeterMod {
  readonly type: 'meter_mod';
  readonly command: MeterModCommand;
  /** OFPMF_* bits. */
  readonly flags: number;
  readonly meterId: number;
  readonly bands: readonly MeterBand[];
}
/** OF1.3 OFPT_SET_ASYNC: [primary/equal, secondary] bit masks per message type, bit = reason. */
export interface SetAsync {
  readonly type: 'set_async';
  readonly packetInMask: readonly [number, number];
  readonly portStatusMask: readonly [number, number];
  readonly flowRemovedMask: readonly [number, number];
}
export interface FlowRemoved {
  readonly type: 'flow_removed';
  readonly cookie: bigint;
  readonly priority: number;
  readonly reason: FlowRemovedReason;
  readonly tableId: number;
  readonly durationSec: number;
  readonly durationNsec: number;
  readonly idleTimeout: number;
  readonly hardTimeout: number;
  readonly packetCount: bigint;
  readonly byteCount: bigint;
  readonly match: Match;
}
export interface PortDesc {
  readonly portNo: number;
  readonly hwAddr: string;
  readonly name: string;
  /** OFPPC_* bits (e.g. 1 = port down). */
  readonly config: number;
  /** OFPPS_* bits (e.g. 1 = link down). */
  readonly state: number;
  readonly curr: number;
  readonly advertised: number;
  readonly supported: number;
  readonly peer: number;
  /** kbit/s. */
  readonly currSpeed: number;
  /** kbit/s. */
  readonly maxSpeed: number;
}
export interface PortStatus {
  readonly type: 'port_status';
  readonly reason: PortStatusReason;
  readonly desc: PortDesc;
}
export interface PortStats {
  readonly portNo: number;
  readonly rxPackets: bigint;
  readonly txPackets: bigint;
  readonly rxBytes: bigint;
  readonly txBytes: bigint;
  readonly rxDropped: bigint;
  readonly txDropped: bigint;
  readonly rxErrors: bigint;
  readonly txErrors: bigint;
  readonly rxFrameErr: bigint;
  readonly rxOverErr: bigint;
  readonly rxCrcErr: bigint;
  readonly collisions: bigint;
  readonly durationSec: number;
  readonly durationNsec: number;
}
export interface FlowStats {
  readonly tableId: number;
  readonly durationSec: number;
  readonly durationNsec: number;
  readonly priority: number;
  readonly idleTimeout: number;
  readonly hardTimeout: number;
  readonly flags: number;
  readonly cookie: bigint;
  readonly packetCount: bigint;
  readonly byteCount: bigint;
  readonly match: Match;
  readonly instructions: readonly Instruction[];
}
export interface BandStats {
  readonly packetBandCount: bigint;
  readonly byteBandCount: bigint;
}
export interface MeterStats {
  readonly meterId: number;
  readonly flowCount: number;
  readonly packetInCount: bigint;
  readonly byteInCount: bigint;
  readonly durationSec: number;
  readonly durationNsec: number;
  readonly bandStats: readonly BandStats[];
}
export interface MeterConfig {
  readonly meterId: number;
  readonly flags: number;
  readonly bands: readonly MeterBand[];
}
export interface MeterFeatures {
  readonly maxMeter: number;
  /** Bit (1 << OFPMBT_*) per supported band type. */
  readonly bandTypes: number;
  /** OFPMF_* bits supported. */
  readonly capabilities: number;
  readonly maxBands: number;
  readonly maxColor: number;
}
export interface FlowStatsRequest {
  readonly kind: 'flow';
  readonly tableId: number;
  readonly outPort: number;
  readonly outGroup: number;
  readonly cookie: bigint;
  readonly cookieMask: bigint;
  readonly match: Match;
}

export type MultipartRequestBody =
  | { readonly kind: 'port_stats'; readonly portNo: number }
  | { readonly kind: 'port_desc' }
  | FlowStatsRequest
  | { readonly kind: 'meter' | 'meter_config'; readonly meterId: number }
  | { readonly kind: 'meter_features' }
  | { readonly kind: 'unknown'; readonly mpType: number; readonly body: Buffer };

export type MultipartReplyBody =
  | { readonly kind: 'port_stats'; readonly stats: readonly PortStats[] }
  | { readonly kind: 'port_desc'; readonly ports: readonly PortDesc[] }
  | { readonly kind: 'flow'; readonly flows: readonly FlowStats[] }
  | { readonly kind: 'meter'; readonly meters: readonly MeterStats[] }
  | { readonly kind: 'meter_config'; readonly meters: readonly MeterConfig[] }
  | { readonly kind: 'meter_features'; readonly features: MeterFeatures }
  | { readonly kind: 'unknown'; readonly mpType: number; readonly body: Buffer };

export interface MultipartRequest {
  readonly type: 'multipart_request';
  readonly flags: number;
  readonly body: MultipartRequestBody;
}
export interface MultipartReply {
  readonly type: 'multipart_reply';
  /** OFPMPF_REPLY_MORE (1) when more parts follow. */
  readonly flags: number;
  readonly body: MultipartReplyBody;
}
/** A message type this library does not model, kept as bytes after the header. */
export interface UnknownMessage {
  readonly type: 'unknown';
  readonly msgType: number;
  readonly body: Buffer;
}

export type Message =
  | Hello
  | ErrorMsg
  | Echo
  | Empty
  | FeaturesReply
  | SetConfig
  | FlowMod
  | MeterMod
  | SetAsync
  | FlowRemoved
  | PortStatus
  | MultipartRequest
  | MultipartReply
  | UnknownMessage;

export interface Decoded {
  readonly version: number;
  readonly xid: number;
  readonly message: Message;
}

// ---- encoding --------------------------------------------------------------------

const MP_KIND_TO_TYPE = {
  port_stats: OFPMP.PORT_STATS,
  port_desc: OFPMP.PORT_DESC,
  flow: OFPMP.FLOW,
  meter: OFPMP.METER,
  meter_config: OFPMP.METER_CONFIG,
  meter_features: OFPMP.METER_FEATURES,
} as const;

function msgTypeOf(m: Message): number {
  switch (m.type) {
    case 'hello':
      return OFPT.HELLO;
    case 'error':
      return OFPT.ERROR;
    case 'echo_request':
      return OFPT.ECHO_REQUEST;
    case 'echo_reply':
      return OFPT.ECHO_REPLY;
    case 'features_request':
      return OFPT.FEATURES_REQUEST;
    case 'features_reply':
      return OFPT.FEATURES_REPLY;
    case 'get_config_request':
      return OFPT.GET_CONFIG_REQUEST;
    case 'get_config_reply':
      return OFPT.GET_CONFIG_REPLY;
    case 'set_config':
      return OFPT.SET_CONFIG;
    case 'barrier_request':
      return OFPT.BARRIER_REQUEST;
    case 'barrier_reply':
      return OFPT.BARRIER_REPLY;
    case 'flow_mod':
      return OFPT.FLOW_MOD;
    case 'meter_mod':
      return OFPT.METER_MOD;
    case 'set_async':
      return OFPT.SET_ASYNC;
    case 'flow_removed':
      return OFPT.FLOW_REMOVED;
    case 'port_status':
      return OFPT.PORT_STATUS;
    case 'multipart_request':
      return OFPT.MULTIPART_REQUEST;
    case 'multipart_reply':
      return OFPT.MULTIPART_REPLY;
    case 'unknown':
      return m.msgType;
  }
}

function reasonNumber(reason: string, names: readonly string[], what: string): number {
  const i = names.indexOf(reason);
  if (i >= 0) return i;
  const m = /^unknown\(([0-9]+)\)$/.exec(reason);
  if (m) return Number(m[1]);
  throw new OpenFlowArgumentError(`${what}: unknown reason "${reason}"`);
}

function reasonName<T extends string>(n: number, names: readonly T[]): T | `unknown(${number})` {
  return names[n] ?? `unknown(${n})`;
}

function encodeBand(w: Writer, b: MeterBand): void {
  const start = w.pos;
  const type = b.type === 'drop' ? OFPMBT.DROP : b.type === 'dscp_remark' ? OFPMBT.DSCP_REMARK : b.type === 'experimenter' ? OFPMBT.EXPERIMENTER : b.bandType;
  w.u16(type, 'band type').u16(0).u32(b.rate, 'band rate').u32(b.burstSize, 'band burst_size');
  if (b.type === 'drop') w.zeros(4);
  else if (b.type === 'dscp_remark') w.u8(b.precLevel, 'prec_level').zeros(3);
  else if (b.type === 'experimenter') w.u32(b.experimenter, 'band experimenter');
  else w.bytes(b.body).padTo(8, start);
  w.patchU16(start + 2, w.pos - start, 'band length');
}

function decodeBand(r: Reader): MeterBand {
  const type = r.u16('band type');
  const len = r.u16('band length');
  if (len < 16 || len % 8 !== 0) throw new OpenFlowProtocolError(`${r.what}: meter band length ${String(len)} (must be a multiple of 8, at least 16)`);
  const b = r.sub(len - 4, `${r.what}: band`);
  const rate = b.u32('rate');
  const burstSize = b.u32('burst_size');
  switch (type) {
    case OFPMBT.DROP:
      return { type: 'drop', rate, burstSize };
    case OFPMBT.DSCP_REMARK:
      return { type: 'dscp_remark', rate, burstSize, precLevel: b.u8('prec_level') };
    case OFPMBT.EXPERIMENTER:
      return { type: 'experimenter', rate, burstSize, experimenter: b.u32('experimenter') };
    default:
      return { type: 'unknown', bandType: type, rate, burstSize, body: b.bytes(b.remaining, 'band body') };
  }
}

function encodePortDesc(w: Writer, p: PortDesc): void {
  w.u32(p.portNo, 'port_no').zeros(4);
  const mac = p.hwAddr.split(':').map((h) => parseInt(h, 16));
  if (mac.length !== 6 || mac.some((x) => !(x >= 0 && x <= 255))) throw new OpenFlowArgumentError(`hw_addr "${p.hwAddr}" is not a MAC address`);
  w.bytes(Buffer.from(mac)).zeros(2);
  const name = Buffer.alloc(16);
  name.write(p.name, 0, 15, 'utf8');
  w.bytes(name);
  for (const v of [p.config, p.state, p.curr, p.advertised, p.supported, p.peer, p.currSpeed, p.maxSpeed]) w.u32(v, 'port field');
}

function decodePortDesc(r: Reader): PortDesc {
  const portNo = r.u32('port_no');
  r.skip(4, 'pad');
  const hwAddr = formatMac(r.bytes(6, 'hw_addr'));
  r.skip(2, 'pad');
  const raw = r.bytes(16, 'name');
  const nul = raw.indexOf(0);
  const name = raw.subarray(0, nul < 0 ? 16 : nul).toString('utf8');
  return {
    portNo,
    hwAddr,
    name,
    config: r.u32('config'),
    state: r.u32('state'),
    curr: r.u32('curr'),
    advertised: r.u32('advertised'),
    supported: r.u32('supported'),
    peer: r.u32('peer'),
    currSpeed: r.u32('curr_speed'),
    maxSpeed: r.u32('max_speed'),
  };
}

function encodeMultipartRequest(w: Writer, b: MultipartRequestBody): void {
  switch (b.kind) {
    case 'port_stats':
      w.u32(b.portNo, 'port_no').zeros(4);
      return;
    case 'meter':
    case 'meter_config':
      w.u32(b.meterId, 'meter_id').zeros(4);
      return;
    case 'port_desc':
    case 'meter_features':
      return;
    case 'flow':
      w.u8(b.tableId, 'table_id').zeros(3).u32(b.outPort, 'out_port').u32(b.outGroup, 'out_group').zeros(4);
      w.u64(b.cookie, 'cookie').u64(b.cookieMask, 'cookie_mask');
      encodeMatch(w, b.match);
      return;
    case 'unknown':
      w.bytes(b.body);
      return;
  }
}

function encodeMultipartReply(w: Writer, b: MultipartReplyBody): void {
  switch (b.kind) {
    case 'port_stats':
      for (const s of b.stats) {
        w.u32(s.portNo, 'port_no').zeros(4);
        for (const v of [s.rxPackets, s.txPackets, s.rxBytes, s.txBytes, s.rxDropped, s.txDropped, s.rxErrors, s.txErrors, s.rxFrameErr, s.rxOverErr, s.rxCrcErr, s.collisions]) {
          w.u64(v, 'port counter');
        }
        w.u32(s.durationSec, 'duration_sec').u32(s.durationNsec, 'duration_nsec');
      }
      return;
    case 'port_desc':
      for (const p of b.ports) encodePortDesc(w, p);
      return;
    case 'flow':
      for (const f of b.flows) {
        const start = w.pos;
        w.u16(0).u8(f.tableId, 'table_id').zeros(1).u32(f.durationSec).u32(f.durationNsec);
        w.u16(f.priority, 'priority').u16(f.idleTimeout).u16(f.hardTimeout).u16(f.flags).zeros(4);
        w.u64(f.cookie, 'cookie').u64(f.packetCount).u64(f.byteCount);
        encodeMatch(w, f.match);
        encodeInstructions(w, f.instructions);
        w.patchU16(start, w.pos - start, 'flow stats length');
      }
      return;
    case 'meter':
      for (const m of b.meters) {
        const start = w.pos;
        w.u32(m.meterId, 'meter_id').u16(0).zeros(6).u32(m.flowCount).u64(m.packetInCount).u64(m.byteInCount);
        w.u32(m.durationSec).u32(m.durationNsec);
        for (const s of m.bandStats) w.u64(s.packetBandCount).u64(s.byteBandCount);
        w.patchU16(start + 4, w.pos - start, 'meter stats length');
      }
      return;
    case 'meter_config':
      for (const m of b.meters) {
        const start = w.pos;
        w.u16(0).u16(m.flags, 'meter flags').u32(m.meterId, 'meter_id');
        for (const band of m.bands) encodeBand(w, band);
        w.patchU16(start, w.pos - start, 'meter config length');
      }
      return;
    case 'meter_features': {
      const f = b.features;
      w.u32(f.maxMeter).u32(f.bandTypes).u32(f.capabilities).u8(f.maxBands).u8(f.maxColor).zeros(2);
      return;
    }
    case 'unknown':
      w.bytes(b.body);
      return;
  }
}

function mpTypeOf(b: MultipartRequestBody | MultipartReplyBody): number {
  return b.kind === 'unknown' ? b.mpType : MP_KIND_TO_TYPE[b.kind];
}

function encodeBody(w: Writer, m: Message): void {
  switch (m.type) {
    case 'hello': {
      // One OFPHET_VERSIONBITMAP element: a bit per version we accept.
      let bitmap = 0;
      for (const v of m.versions) {
        if (!Number.isInteger(v) || v < 1 || v > 31) throw new OpenFlowArgumentError(`hello: version ${String(v)} outside the first bitmap word`);
        bitmap |= 1 << v;
      }
      if (m.bitmap) w.u16(OFPHET_VERSIONBITMAP).u16(8).u32(bitmap >>> 0);
      return;
    }
    case 'error':
      w.u16(m.errType, 'error type').u16(m.errCode, 'error code');
      if (m.errType === OFPET_EXPERIMENTER) w.u32(m.experimenter ?? 0, 'experimenter');
      w.bytes(m.data);
      return;
    case 'echo_request':
    case 'echo_reply':
      w.bytes(m.data);
      return;
    case 'features_request':
    case 'barrier_request':
    case 'barrier_reply':
    case 'get_config_request':
      return;
    case 'features_reply':
      w.u64(m.datapathId, 'datapath_id').u32(m.nBuffers).u8(m.nTables, 'n_tables').u8(m.auxiliaryId).zeros(2).u32(m.capabilities).zeros(4);
      return;
    case 'set_config':
    case 'get_config_reply':
      w.u16(m.flags, 'config flags').u16(m.missSendLen, 'miss_send_len');
      return;
    case 'flow_mod':
      w.u64(m.cookie, 'cookie').u64(m.cookieMask, 'cookie_mask').u8(m.tableId, 'table_id').u8(OFPFC[m.command], 'command');
      w.u16(m.idleTimeout, 'idle_timeout').u16(m.hardTimeout, 'hard_timeout').u16(m.priority, 'priority');
      w.u32(m.bufferId, 'buffer_id').u32(m.outPort, 'out_port').u32(m.outGroup, 'out_group').u16(m.flags, 'flags').zeros(2);
      encodeMatch(w, m.match);
      encodeInstructions(w, m.instructions);
      return;
    case 'meter_mod':
      w.u16(OFPMC[m.command], 'command').u16(m.flags, 'meter flags').u32(m.meterId, 'meter_id');
      for (const b of m.bands) encodeBand(w, b);
      return;
    case 'set_async':
      for (const pair of [m.packetInMask, m.portStatusMask, m.flowRemovedMask]) w.u32(pair[0], 'async mask').u32(pair[1], 'async mask');
      return;
    case 'flow_removed':
      w.u64(m.cookie, 'cookie').u16(m.priority, 'priority').u8(reasonNumber(m.reason, OFPRR, 'flow_removed'), 'reason').u8(m.tableId, 'table_id');
      w.u32(m.durationSec).u32(m.durationNsec).u16(m.idleTimeout).u16(m.hardTimeout).u64(m.packetCount).u64(m.byteCount);
      encodeMatch(w, m.match);
      return;
    case 'port_status':
      w.u8(reasonNumber(m.reason, OFPPR, 'port_status'), 'reason').zeros(7);
      encodePortDesc(w, m.desc);
      return;
    case 'multipart_request':
      w.u16(mpTypeOf(m.body), 'multipart type').u16(m.flags, 'multipart flags').zeros(4);
      encodeMultipartRequest(w, m.body);
      return;
    case 'multipart_reply':
      w.u16(mpTypeOf(m.body), 'multipart type').u16(m.flags, 'multipart flags').zeros(4);
      encodeMultipartReply(w, m.body);
      return;
    case 'unknown':
      w.bytes(m.body);
      return;
  }
}

/** Appends one framed message to `w` (for batches: many messages, one buffer). */
export function writeMessage(w: Writer, message: Message, xid: number, version: number = OFP_VERSION_1_3): void {
  const start = w.pos;
  let headerVersion = version;
  if (message.type === 'hello') headerVersion = Math.max(...message.versions, 1);
  w.u8(headerVersion, 'version').u8(msgTypeOf(message), 'message type').u16(0).u32(xid >>> 0, 'xid');
  encodeBody(w, message);
  w.patchU16(start + 2, w.pos - start, 'message length (above 65535 bytes)');
}

/** The bytes of one message. */
export function encodeMessage(message: Message, xid: number, version: number = OFP_VERSION_1_3): Buffer {
  const w = new Writer(64);
  writeMessage(w, message, xid, version);
  return w.finish();
}

// ---- decoding --------------------------------------------------------------------

function decodeMultipartRequest(r: Reader, mpType: number): MultipartRequestBody {
  switch (mpType) {
    case OFPMP.PORT_STATS: {
      const portNo = r.u32('port_no');
      r.skip(4, 'pad');
      return { kind: 'port_stats', portNo };
    }
    case OFPMP.METER:
    case OFPMP.METER_CONFIG: {
      const meterId = r.u32('meter_id');
      r.skip(4, 'pad');
      return { kind: mpType === OFPMP.METER ? 'meter' : 'meter_config', meterId };
    }
    case OFPMP.PORT_DESC:
      return { kind: 'port_desc' };
    case OFPMP.METER_FEATURES:
      return { kind: 'meter_features' };
    case OFPMP.FLOW: {
      const tableId = r.u8('table_id');
      r.skip(3, 'pad');
      const outPort = r.u32('out_port');
      const outGroup = r.u32('out_group');
      r.skip(4, 'pad');
      const cookie = r.u64('cookie');
      const cookieMask = r.u64('cookie_mask');
      return { kind: 'flow', tableId, outPort, outGroup, cookie, cookieMask, match: decodeMatch(r) };
    }
    default:
      return { kind: 'unknown', mpType, body: r.bytes(r.remaining, 'multipart body') };
  }
}

function decodeMultipartReply(r: Reader, mpType: number): MultipartReplyBody {
  switch (mpType) {
    case OFPMP.PORT_STATS: {
      const stats: PortStats[] = [];
      while (r.remaining > 0) {
        const e = r.sub(112, 'port stats entry');
        const portNo = e.u32('port_no');
        e.skip(4, 'pad');
        const c = Array.from({ length: 12 }, () => e.u64('counter'));
        stats.push({
          portNo,
          rxPackets: c[0] as bigint,
          txPackets: c[1] as bigint,
          rxBytes: c[2] as bigint,
          txBytes: c[3] as bigint,
          rxDropped: c[4] as bigint,
          txDropped: c[5] as bigint,
          rxErrors: c[6] as bigint,
          txErrors: c[7] as bigint,
          rxFrameErr: c[8] as bigint,
          rxOverErr: c[9] as bigint,
          rxCrcErr: c[10] as bigint,
          collisions: c[11] as bigint,
          durationSec: e.u32('duration_sec'),
          durationNsec: e.u32('duration_nsec'),
        });
      }
      return { kind: 'port_stats', stats };
    }
    case OFPMP.PORT_DESC: {
      const ports: PortDesc[] = [];
      while (r.remaining > 0) ports.push(decodePortDesc(r.sub(64, 'port desc entry')));
      return { kind: 'port_desc', ports };
    }
    case OFPMP.FLOW: {
      const flows: FlowStats[] = [];
      while (r.remaining > 0) {
        const length = r.u16('flow stats length');
        if (length < 56) throw new OpenFlowProtocolError(`flow stats entry length ${String(length)} < 56`);
        const e = r.sub(length - 2, 'flow stats entry');
        const tableId = e.u8('table_id');
        e.skip(1, 'pad');
        const durationSec = e.u32('duration_sec');
        const durationNsec = e.u32('duration_nsec');
        const priority = e.u16('priority');
        const idleTimeout = e.u16('idle_timeout');
        const hardTimeout = e.u16('hard_timeout');
        const flags = e.u16('flags');
        e.skip(4, 'pad');
        const cookie = e.u64('cookie');
        const packetCount = e.u64('packet_count');
        const byteCount = e.u64('byte_count');
        const match = decodeMatch(e);
        const instructions = decodeInstructions(e);
        flows.push({ tableId, durationSec, durationNsec, priority, idleTimeout, hardTimeout, flags, cookie, packetCount, byteCount, match, instructions });
      }
      return { kind: 'flow', flows };
    }
    case OFPMP.METER: {
      const meters: MeterStats[] = [];
      while (r.remaining > 0) {
        const meterId = r.u32('meter_id');
        const len = r.u16('meter stats length');
        if (len < 40 || (len - 40) % 16 !== 0) throw new OpenFlowProtocolError(`meter stats entry length ${String(len)} (must be 40 + 16*n)`);
        const e = r.sub(len - 6, 'meter stats entry');
        e.skip(6, 'pad');
        const flowCount = e.u32('flow_count');
        const packetInCount = e.u64('packet_in_count');
        const byteInCount = e.u64('byte_in_count');
        const durationSec = e.u32('duration_sec');
        const durationNsec = e.u32('duration_nsec');
        const bandStats: BandStats[] = [];
        while (e.remaining > 0) bandStats.push({ packetBandCount: e.u64('packet_band_count'), byteBandCount: e.u64('byte_band_count') });
        meters.push({ meterId, flowCount, packetInCount, byteInCount, durationSec, durationNsec, bandStats });
      }
      return { kind: 'meter', meters };
    }
    case OFPMP.METER_CONFIG: {
      const meters: MeterConfig[] = [];
      while (r.remaining > 0) {
        const len = r.u16('meter config length');
        if (len < 8) throw new OpenFlowProtocolError(`meter config entry length ${String(len)} < 8`);
        const e = r.sub(len - 2, 'meter config entry');
        const flags = e.u16('flags');
        const meterId = e.u32('meter_id');
        const bands: MeterBand[] = [];
        while (e.remaining > 0) bands.push(decodeBand(e));
        meters.push({ meterId, flags, bands });
      }
      return { kind: 'meter_config', meters };
    }
    case OFPMP.METER_FEATURES: {
      const maxMeter = r.u32('max_meter');
      const bandTypes = r.u32('band_types');
      const capabilities = r.u32('capabilities');
      const maxBands = r.u8('max_bands');
      const maxColor = r.u8('max_color');
      r.skip(2, 'pad');
      return { kind: 'meter_features', features: { maxMeter, bandTypes, capabilities, maxBands, maxColor } };
    }
    default:
      return { kind: 'unknown', mpType, body: r.bytes(r.remaining, 'multipart body') };
  }
}

function decodeHello(r: Reader, version: number): Hello {
  // Elements are TLVs padded to 8; an unknown element type is skipped (OF1.3 §7.5.1).
  while (r.remaining >= 4) {
    const type = r.u16('hello element type');
    const len = r.u16('hello element length');
    if (len < 4) throw new OpenFlowProtocolError(`hello: element length ${String(len)} < 4`);
    const e = r.sub(len - 4, 'hello element');
    r.skip(Math.min(r.remaining, (8 - (len % 8)) % 8), 'hello element padding');
    if (type !== OFPHET_VERSIONBITMAP) continue;
    const versions: number[] = [];
    for (let word = 0; e.remaining >= 4; word++) {
      const bits = e.u32('version bitmap');
      for (let bit = 0; bit < 32; bit++) if ((bits >>> bit) & 1) versions.push(word * 32 + bit);
    }
    return { type: 'hello', versions, bitmap: true };
  }
  return { type: 'hello', versions: [version], bitmap: false };
}

function decodeBody(r: Reader, version: number, type: number): Message {
  // HELLO and ERROR keep their layout across versions (needed to negotiate and to
  // read a HELLO_FAILED from a switch speaking another version); the rest is 1.3 only.
  if (type === OFPT.HELLO) return decodeHello(r, version);
  if (type === OFPT.ERROR) {
    const errType = r.u16('error type');
    const errCode = r.u16('error code');
    if (errType === OFPET_EXPERIMENTER) {
      const experimenter = r.u32('experimenter');
      return { type: 'error', errType, errCode, experimenter, data: r.bytes(r.remaining, 'error data') };
    }
    return { type: 'error', errType, errCode, data: r.bytes(r.remaining, 'error data') };
  }
  if (version !== OFP_VERSION_1_3) return { type: 'unknown', msgType: type, body: r.bytes(r.remaining, 'body') };
  switch (type) {
    case OFPT.ECHO_REQUEST:
      return { type: 'echo_request', data: r.bytes(r.remaining, 'echo data') };
    case OFPT.ECHO_REPLY:
      return { type: 'echo_reply', data: r.bytes(r.remaining, 'echo data') };
    case OFPT.FEATURES_REQUEST:
      return { type: 'features_request' };
    case OFPT.BARRIER_REQUEST:
      return { type: 'barrier_request' };
    case OFPT.BARRIER_REPLY:
      return { type: 'barrier_reply' };
    case OFPT.GET_CONFIG_REQUEST:
      return { type: 'get_config_request' };
    case OFPT.FEATURES_REPLY: {
      const datapathId = r.u64('datapath_id');
      const nBuffers = r.u32('n_buffers');
      const nTables = r.u8('n_tables');
      const auxiliaryId = r.u8('auxiliary_id');
      r.skip(2, 'pad');
      const capabilities = r.u32('capabilities');
      r.skip(4, 'reserved');
      return { type: 'features_reply', datapathId, nBuffers, nTables, auxiliaryId, capabilities };
    }
    case OFPT.SET_CONFIG:
    case OFPT.GET_CONFIG_REPLY: {
      const flags = r.u16('flags');
      const missSendLen = r.u16('miss_send_len');
      return { type: type === OFPT.SET_CONFIG ? 'set_config' : 'get_config_reply', flags, missSendLen };
    }
    case OFPT.FLOW_MOD: {
      const cookie = r.u64('cookie');
      const cookieMask = r.u64('cookie_mask');
      const tableId = r.u8('table_id');
      const cmd = r.u8('command');
      const command = (Object.keys(OFPFC) as FlowModCommand[]).find((k) => OFPFC[k] === cmd);
      if (command === undefined) throw new OpenFlowProtocolError(`flow_mod: unknown command ${String(cmd)}`);
      const idleTimeout = r.u16('idle_timeout');
      const hardTimeout = r.u16('hard_timeout');
      const priority = r.u16('priority');
      const bufferId = r.u32('buffer_id');
      const outPort = r.u32('out_port');
      const outGroup = r.u32('out_group');
      const flags = r.u16('flags');
      r.skip(2, 'pad');
      const match = decodeMatch(r);
      const instructions = decodeInstructions(r);
      return { type: 'flow_mod', command, cookie, cookieMask, tableId, idleTimeout, hardTimeout, priority, bufferId, outPort, outGroup, flags, match, instructions };
    }
    case OFPT.METER_MOD: {
      const cmd = r.u16('command');
      const command = (Object.keys(OFPMC) as MeterModCommand[]).find((k) => OFPMC[k] === cmd);
      if (command === undefined) throw new OpenFlowProtocolError(`meter_mod: unknown command ${String(cmd)}`);
      const flags = r.u16('flags');
      const meterId = r.u32('meter_id');
      const bands: MeterBand[] = [];
      while (r.remaining > 0) bands.push(decodeBand(r));
      return { type: 'meter_mod', command, flags, meterId, bands };
    }
    case OFPT.SET_ASYNC: {
      const m = Array.from({ length: 6 }, () => r.u32('async mask'));
      return {
        type: 'set_async',
        packetInMask: [m[0] as number, m[1] as number],
        portStatusMask: [m[2] as number, m[3] as number],
        flowRemovedMask: [m[4] as number, m[5] as number],
      };
    }
    case OFPT.FLOW_REMOVED: {
      const cookie = r.u64('cookie');
      const priority = r.u16('priority');
      const reason = reasonName(r.u8('reason'), OFPRR);
      const tableId = r.u8('table_id');
      const durationSec = r.u32('duration_sec');
      const durationNsec = r.u32('duration_nsec');
      const idleTimeout = r.u16('idle_timeout');
      const hardTimeout = r.u16('hard_timeout');
      const packetCount = r.u64('packet_count');
      const byteCount = r.u64('byte_count');
      const match = decodeMatch(r);
      return { type: 'flow_removed', cookie, priority, reason, tableId, durationSec, durationNsec, idleTimeout, hardTimeout, packetCount, byteCount, match };
    }
    case OFPT.PORT_STATUS: {
      const reason = reasonName(r.u8('reason'), OFPPR);
      r.skip(7, 'pad');
      return { type: 'port_status', reason, desc: decodePortDesc(r.sub(64, 'port_status desc')) };
    }
    case OFPT.MULTIPART_REQUEST:
    case OFPT.MULTIPART_REPLY: {
      const mpType = r.u16('multipart type');
      const flags = r.u16('multipart flags');
      r.skip(4, 'pad');
      return type === OFPT.MULTIPART_REQUEST
        ? { type: 'multipart_request', flags, body: decodeMultipartRequest(r, mpType) }
        : { type: 'multipart_reply', flags, body: decodeMultipartReply(r, mpType) };
    }
    default:
      return { type: 'unknown', msgType: type, body: r.bytes(r.remaining, 'body') };
  }
}

/** The header fields of a framed message. */
export function readHeader(buf: Buffer): { version: number; type: number; length: number; xid: number } {
  if (buf.length < OFP_HEADER_LEN) throw new OpenFlowProtocolError(`message of ${String(buf.length)} bytes is shorter than the 8-byte header`);
  return { version: buf.readUInt8(0), type: buf.readUInt8(1), length: buf.readUInt16BE(2), xid: buf.readUInt32BE(4) };
}

/**
 * Decodes exactly one message (`buf` = header + body, as framed).
 * @throws OpenFlowProtocolError (OPENFLOW_BAD_MESSAGE) on malformed bytes.
 */
export function decodeMessage(buf: Buffer): Decoded {
  const h = readHeader(buf);
  if (h.length !== buf.length) throw new OpenFlowProtocolError(`header length ${String(h.length)} != ${String(buf.length)} bytes given`);
  const r = new Reader(buf, `message type ${String(h.type)}`, OFP_HEADER_LEN);
  const message = decodeBody(r, h.version, h.type);
  // Fixed-size bodies must be consumed exactly; trailing bytes mean a lying length.
  if (r.remaining > 0 && !(h.type === OFPT.HELLO)) {
    throw new OpenFlowProtocolError(`message type ${String(h.type)}: ${String(r.remaining)} unexpected trailing bytes`);
  }
  return { version: h.version, xid: h.xid, message };
}

// ---- builders --------------------------------------------------------------------

function flagBits<K extends string>(flags: readonly K[] | number | undefined, table: Record<K, number>, what: string): number {
  if (flags === undefined) return 0;
  if (typeof flags === 'number') return flags;
  let bits = 0;
  for (const f of flags) {
    const bit = Object.hasOwn(table, f) ? table[f] : undefined;
    if (bit === undefined) throw new OpenFlowArgumentError(`${what}: unknown flag "${f}"`);
    bits |= bit;
  }
  return bits;
}

export interface FlowModInit {
  command?: FlowModCommand;
  cookie?: bigint;
  /** For modify/delete: which cookie bits must match. */
  cookieMask?: bigint;
  /** @default 0; delete also accepts OFPTT_ALL (255). */
  tableId?: number;
  idleTimeout?: number;
  hardTimeout?: number;
  /** @default 0x8000 (OFP_DEFAULT_PRIORITY) */
  priority?: number;
  /** Names (`['send_flow_rem', 'check_overlap']`) or OFPFF_* bits. */
  flags?: readonly FlowModFlag[] | number;
  /** delete/delete_strict: only flows that output to this port. @default OFPP_ANY */
  outPort?: number;
  /** delete/delete_strict: only flows that output to this group. @default OFPG_ANY */
  outGroup?: number;
  match?: Match;
  instructions?: readonly Instruction[];
}

/** A complete flow-mod with defaults filled in (the form `decodeMessage` returns). */
export function flowMod(init: FlowModInit): FlowMod {
  return {
    type: 'flow_mod',
    command: init.command ?? 'add',
    cookie: init.cookie ?? 0n,
    cookieMask: init.cookieMask ?? 0n,
    tableId: init.tableId ?? 0,
    idleTimeout: init.idleTimeout ?? 0,
    hardTimeout: init.hardTimeout ?? 0,
    priority: init.priority ?? 0x8000,
    bufferId: OFP_NO_BUFFER,
    outPort: init.outPort ?? OFPP.ANY,
    outGroup: init.outGroup ?? OFPG_ANY,
    flags: flagBits(init.flags, OFPFF, 'flow_mod'),
    match: init.match ?? [],
    instructions: init.instructions ?? [],
  };
}

export interface MeterModInit {
  command?: MeterModCommand;
  meterId: number;
  /** Names (`['kbps', 'burst', 'stats']`) or OFPMF_* bits. @default ['kbps'] */
  flags?: readonly MeterFlag[] | number;
  bands?: readonly MeterBand[];
}

export function meterMod(init: MeterModInit): MeterMod {
  return {
    type: 'meter_mod',
    command: init.command ?? 'add',
    flags: init.flags === undefined ? OFPMF.kbps : flagBits(init.flags, OFPMF, 'meter_mod'),
    meterId: init.meterId,
    bands: init.bands ?? [],
  };
}

export const band = {
  /** Drop packets above `rate` (kbit/s or pkt/s per the meter's flags); `burstSize` in kbit or packets. */
  drop: (rate: number, burstSize = 0): MeterBand => ({ type: 'drop', rate, burstSize }),
  dscpRemark: (rate: number, precLevel: number, burstSize = 0): MeterBand => ({ type: 'dscp_remark', rate, burstSize, precLevel }),
};

export interface FlowStatsFilter {
  /** @default OFPTT_ALL */
  tableId?: number;
  outPort?: number;
  outGroup?: number;
  cookie?: bigint;
  cookieMask?: bigint;
  match?: Match;
}

export function flowStatsRequest(filter: FlowStatsFilter = {}): FlowStatsRequest {
  return {
    kind: 'flow',
    tableId: filter.tableId ?? OFPTT_ALL,
    outPort: filter.outPort ?? OFPP.ANY,
    outGroup: filter.outGroup ?? OFPG_ANY,
    cookie: filter.cookie ?? 0n,
    cookieMask: filter.cookieMask ?? 0n,
    match: filter.match ?? [],
  };
}
