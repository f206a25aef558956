/**
 * OXM match fields (OpenFlow 1.3 §7.2.3) and the Nicira NXM fields OVS exposes
 * through OXM class 0x0001 (registers, pkt_mark). A match is an ordered list
 * of fields; fields this library does not know decode to `{ field: 'unknown' }`
 * with their raw payload, so a flow dump never fails on an unfamiliar match.
 */
import type { Reader, Writer } from './bytes.ts';
import { OFPMT_OXM, OFPXMC_EXPERIMENTER, OFPXMC_NXM_1, OFPXMC_OPENFLOW_BASIC } from './constants.ts';
import { OpenFlowArgumentError, OpenFlowProtocolError } from './errors.ts';

type Kind = 'u8' | 'u16' | 'u32' | 'mac' | 'ipv4';

interface FieldDef {
  readonly oxmClass: number;
  readonly field: number;
  readonly kind: Kind;
  readonly maskable: boolean;
}

const WIDTH: Record<Kind, number> = { u8: 1, u16: 2, u32: 4, mac: 6, ipv4: 4 };

export type RegisterIndex = 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15;
export type RegisterField = `reg${RegisterIndex}`;
export type NumericField =
  | 'in_port'
  | 'eth_type'
  | 'vlan_vid'
  | 'ip_proto'
  | 'tcp_src'
  | 'tcp_dst'
  | 'udp_src'
  | 'udp_dst'
  | 'pkt_mark'
  | RegisterField;
export type MacField = 'eth_dst' | 'eth_src';
export type Ipv4Field = 'ipv4_src' | 'ipv4_dst';
export type KnownField = NumericField | MacField | Ipv4Field;

const FIELDS = new Map<KnownField, FieldDef>([
  ['in_port', { oxmClass: OFPXMC_OPENFLOW_BASIC, field: 0, kind: 'u32', maskable: false }],
  ['eth_dst', { oxmClass: OFPXMC_OPENFLOW_BASIC, field: 3, kind: 'mac', maskable: true }],
  ['eth_src', { oxmClass: OFPXMC_OPENFLOW_BASIC, field: 4, kind: 'mac', maskable: true }],
  ['eth_type', { oxmClass: OFPXMC_OPENFLOW_BASIC, field: 5, kind: 'u16', maskable: false }],
  ['vlan_vid', { oxmClass: OFPXMC_OPENFLOW_BASIC, field: 6, kind: 'u16', maskable: true }],
  ['ip_proto', { oxmClass: OFPXMC_OPENFLOW_BASIC, field: 10, kind: 'u8', maskable: false }],
  ['ipv4_src', { oxmClass: OFPXMC_OPENFLOW_BASIC, field: 11, kind: 'ipv4', maskable: true }],
  ['ipv4_dst', { oxmClass: OFPXMC_OPENFLOW_BASIC, field: 12, kind: 'ipv4', maskable: true }],
  ['tcp_src', { oxmClass: OFPXMC_OPENFLOW_BASIC, field: 13, kind: 'u16', maskable: false }],
  ['tcp_dst', { oxmClass: OFPXMC_OPENFLOW_BASIC, field: 14, kind: 'u16', maskable: false }],
  ['udp_src', { oxmClass: OFPXMC_OPENFLOW_BASIC, field: 15, kind: 'u16', maskable: false }],
  ['udp_dst', { oxmClass: OFPXMC_OPENFLOW_BASIC, field: 16, kind: 'u16', maskable: false }],
  // OVS: NXM_NX_PKT_MARK(33), 32 bits, maskable (meta-flow.h).
  ['pkt_mark', { oxmClass: OFPXMC_NXM_1, field: 33, kind: 'u32', maskable: true }],
  // OVS: NXM_NX_REG0(0) … NXM_NX_REG15(15), 32 bits, maskable.
  ...Array.from({ length: 16 }, (_, i): [KnownField, FieldDef] => [
    `reg${i}` as RegisterField,
    { oxmClass: OFPXMC_NXM_1, field: i, kind: 'u32', maskable: true },
  ]),
]);

const BY_WIRE = new Map<number, KnownField>([...FIELDS].map(([name, d]) => [(d.oxmClass << 7) | d.field, name]));

export type OxmField =
  | { readonly field: NumericField; readonly value: number; readonly mask?: number }
  | { readonly field: MacField; readonly value: string; readonly mask?: string }
  | { readonly field: Ipv4Field; readonly value: string; readonly mask?: string }
  | {
      readonly field: 'unknown';
      readonly oxmClass: number;
      readonly oxmField: number;
      readonly hasMask: boolean;
      /** Value (and mask) bytes as on the wire; for class 0xffff they start with the experimenter id. */
      readonly payload: Buffer;
    };

export type Match = readonly OxmField[];

/** OVS's 32-bit NXM header of a register, as NXAST_REG_LOAD's `dst` carries it. */
export function nxmHeader(field: KnownField, hasMask = false): number {
  const d = FIELDS.get(field);
  if (!d) throw new OpenFlowArgumentError(`unknown field ${field}`);
  const len = WIDTH[d.kind] * (hasMask ? 2 : 1);
  return ((d.oxmClass << 16) | (d.field << 9) | (hasMask ? 0x100 : 0) | len) >>> 0;
}

/** The field named by a 32-bit OXM/NXM header, or undefined. */
export function fieldOfHeader(header: number): KnownField | undefined {
  return BY_WIRE.get((header >>> 16) * 128 + ((header >>> 9) & 0x7f));
}

function macBytes(text: string, field: string): Buffer {
  if (!/^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/.test(text)) throw new OpenFlowArgumentError(`${field}: "${text}" is not a MAC address`);
  return Buffer.from(text.split(':').map((h) => parseInt(h, 16)));
}

function ipv4Bytes(text: string, field: string): Buffer {
  const parts = text.split('.');
  const nums = parts.map(Number);
  if (parts.length !== 4 || parts.some((p) => !/^[0-9]{1,3}$/.test(p)) || nums.some((n) => n > 255)) {
    throw new OpenFlowArgumentError(`${field}: "${text}" is not an IPv4 address`);
  }
  return Buffer.from(nums);
}

export function formatMac(b: Buffer): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

function formatIpv4(b: Buffer): string {
  return [...b].join('.');
}

function encodeValue(w: Writer, kind: Kind, value: number | string, field: string): void {
  switch (kind) {
    case 'u8':
      w.u8(value as number, field);
      break;
    case 'u16':
      w.u16(value as number, field);
      break;
    case 'u32':
      w.u32(value as number, field);
      break;
    case 'mac':
      w.bytes(macBytes(value as string, field));
      break;
    case 'ipv4':
      w.bytes(ipv4Bytes(value as string, field));
      break;
  }
}

function decodeValue(r: Reader, kind: Kind, field: string): number | string {
  switch (kind) {
    case 'u8':
      return r.u8(field);
    case 'u16':
      return r.u16(field);
    case 'u32':
      return r.u32(field);
    case 'mac':
      return formatMac(r.bytes(6, field));
    case 'ipv4':
      return formatIpv4(r.bytes(4, field));
  }
}

/** Writes one OXM TLV (header + value [+ mask]). */
export function encodeOxm(w: Writer, f: OxmField): void {
  if (f.field === 'unknown') {
    if (f.payload.length > 255) throw new OpenFlowArgumentError('unknown OXM payload longer than 255 bytes');
    w.u16(f.oxmClass, 'oxm_class').u8(((f.oxmField & 0x7f) << 1) | (f.hasMask ? 1 : 0)).u8(f.payload.length).bytes(f.payload);
    return;
  }
  const d = FIELDS.get(f.field);
  if (!d) throw new OpenFlowArgumentError(`unknown match field "${f.field}"`);
  const hasMask = f.mask !== undefined;
  if (hasMask && !d.maskable) throw new OpenFlowArgumentError(`match field ${f.field} cannot be masked`);
  const width = WIDTH[d.kind];
  w.u16(d.oxmClass).u8((d.field << 1) | (hasMask ? 1 : 0)).u8(hasMask ? width * 2 : width);
  encodeValue(w, d.kind, f.value, f.field);
  if (hasMask) encodeValue(w, d.kind, f.mask, `${f.field} mask`);
}

/** Reads one OXM TLV. */
export function decodeOxm(r: Reader): OxmField {
  const oxmClass = r.u16('oxm_class');
  const fh = r.u8('oxm_field');
  const len = r.u8('oxm_length');
  const oxmField = fh >> 1;
  const hasMask = (fh & 1) === 1;
  const body = r.sub(len, `${r.what}: OXM ${String(oxmClass)}:${String(oxmField)}`);
  const name = oxmClass === OFPXMC_EXPERIMENTER ? undefined : BY_WIRE.get(oxmClass * 128 + oxmField);
  const d = name === undefined ? undefined : FIELDS.get(name);
  if (name === undefined || d === undefined) {
    return { field: 'unknown', oxmClass, oxmField, hasMask, payload: body.bytes(len, 'oxm payload') };
  }
  const width = WIDTH[d.kind];
  if (len !== (hasMask ? width * 2 : width)) {
    throw new OpenFlowProtocolError(`${r.what}: OXM ${name} has length ${String(len)}, expected ${String(hasMask ? width * 2 : width)}`);
  }
  const value = decodeValue(body, d.kind, name);
  if (!hasMask) return { field: name, value } as OxmField;
  return { field: name, value, mask: decodeValue(body, d.kind, `${name} mask`) } as OxmField;
}

/** Writes an ofp_match (type OXM, length excluding padding, padded to 8). */
export function encodeMatch(w: Writer, match: Match): void {
  const start = w.pos;
  w.u16(OFPMT_OXM).u16(0);
  for (const f of match) encodeOxm(w, f);
  w.patchU16(start + 2, w.pos - start, 'ofp_match length');
  w.padTo(8, start);
}

/** Reads an ofp_match and its padding. */
export function decodeMatch(r: Reader): OxmField[] {
  const type = r.u16('ofp_match.type');
  const length = r.u16('ofp_match.length');
  if (type !== OFPMT_OXM) throw new OpenFlowProtocolError(`${r.what}: ofp_match type ${String(type)} is not OFPMT_OXM (1)`);
  if (length < 4) throw new OpenFlowProtocolError(`${r.what}: ofp_match length ${String(length)} < 4`);
  const body = r.sub(length - 4, `${r.what}: match`);
  const fields: OxmField[] = [];
  while (body.remaining > 0) fields.push(decodeOxm(body));
  const pad = (8 - (length % 8)) % 8;
  r.skip(Math.min(pad, r.remaining), 'match padding');
  return fields;
}

// ---- builders --------------------------------------------------------------------

function reg(index: number): RegisterField {
  if (!Number.isInteger(index) || index < 0 || index > 15) throw new OpenFlowArgumentError(`register index ${String(index)} is not 0..15`);
  return `reg${index}` as RegisterField;
}

const withMask = <T extends number | string>(mask: T | undefined): { mask?: T } => (mask === undefined ? {} : { mask });

/** Match field builders: `match.inPort(5)`, `match.reg(12, 0)`, `match.ipv4Dst('10.0.0.0', '255.0.0.0')`. */
export const match = {
  inPort: (port: number): OxmField => ({ field: 'in_port', value: port }),
  ethDst: (mac: string, mask?: string): OxmField => ({ field: 'eth_dst', value: mac, ...withMask(mask) }),
  ethSrc: (mac: string, mask?: string): OxmField => ({ field: 'eth_src', value: mac, ...withMask(mask) }),
  ethType: (type: number): OxmField => ({ field: 'eth_type', value: type }),
  /** `vid` as on the wire: OR in OFPVID_PRESENT (0x1000) to match a tagged VLAN. */
  vlanVid: (vid: number, mask?: number): OxmField => ({ field: 'vlan_vid', value: vid, ...withMask(mask) }),
  ipProto: (proto: number): OxmField => ({ field: 'ip_proto', value: proto }),
  ipv4Src: (ip: string, mask?: string): OxmField => ({ field: 'ipv4_src', value: ip, ...withMask(mask) }),
  ipv4Dst: (ip: string, mask?: string): OxmField => ({ field: 'ipv4_dst', value: ip, ...withMask(mask) }),
  tcpSrc: (port: number): OxmField => ({ field: 'tcp_src', value: port }),
  tcpDst: (port: number): OxmField => ({ field: 'tcp_dst', value: port }),
  udpSrc: (port: number): OxmField => ({ field: 'udp_src', value: port }),
  udpDst: (port: number): OxmField => ({ field: 'udp_dst', value: port }),
  pktMark: (mark: number, mask?: number): OxmField => ({ field: 'pkt_mark', value: mark, ...withMask(mask) }),
  /** Nicira register NXM_NX_REG<index> (32 bits). */
  reg: (index: number, value: number, mask?: number): OxmField => ({ field: reg(index), value, ...withMask(mask) }),
};

export const registerField = reg;
