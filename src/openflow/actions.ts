/**
 * Actions and instructions (OpenFlow 1.3 §7.2.4–7.2.5) and the two Nicira
 * actions Neutron's OVS agent builds its pipelines from: NXAST_REG_LOAD and
 * NXAST_RESUBMIT_TABLE. Types this library does not model decode to raw
 * representations that re-encode byte for byte.
 */
import type { Reader, Writer } from './bytes.ts';
import {
  NX_VENDOR_ID,
  NXAST_REG_LOAD,
  NXAST_RESUBMIT_TABLE,
  OFPAT,
  OFPCML_NO_BUFFER,
  OFPIT,
  OFPP,
  type NamedPort,
} from './constants.ts';
import { OpenFlowArgumentError, OpenFlowProtocolError } from './errors.ts';
import { decodeOxm, encodeOxm, fieldOfHeader, nxmHeader, registerField, type KnownField, type OxmField } from './oxm.ts';

export type Action =
  | { readonly type: 'output'; readonly port: number; readonly maxLen: number }
  | { readonly type: 'set_queue'; readonly queueId: number }
  | { readonly type: 'set_field'; readonly field: OxmField }
  /** NXAST_RESUBMIT_TABLE: `resubmit(inPort, table)`; inPort is the 32-bit form (OFPP_IN_PORT = keep). */
  | { readonly type: 'nx_resubmit'; readonly inPort: number; readonly table: number }
  /**
   * NXAST_REG_LOAD: loads `value` into bits [ofs, ofs+nBits) of `dst`.
   * `dst` is the field name when known, else the raw 32-bit NXM header.
   */
  | { readonly type: 'nx_reg_load'; readonly dst: KnownField | number; readonly ofs: number; readonly nBits: number; readonly value: bigint }
  /** Any other experimenter action: `data` is everything after the experimenter id. */
  | { readonly type: 'experimenter'; readonly experimenter: number; readonly data: Buffer }
  /** Any other standard action: `body` is everything after type+len. */
  | { readonly type: 'unknown'; readonly actionType: number; readonly body: Buffer };

export type Instruction =
  | { readonly type: 'goto_table'; readonly tableId: number }
  | { readonly type: 'write_actions'; readonly actions: readonly Action[] }
  | { readonly type: 'apply_actions'; readonly actions: readonly Action[] }
  | { readonly type: 'clear_actions' }
  | { readonly type: 'meter'; readonly meterId: number }
  | { readonly type: 'unknown'; readonly instructionType: number; readonly body: Buffer };

// ---- ports -----------------------------------------------------------------------

/** A port number or a reserved port's name (`'NORMAL'`, `'CONTROLLER'`, `'IN_PORT'`, `'LOCAL'`, …). */
export type PortRef = number | NamedPort;

export function portNumber(port: PortRef): number {
  if (typeof port === 'number') return port;
  const n = Object.hasOwn(OFPP, port) ? OFPP[port] : undefined;
  if (n === undefined) throw new OpenFlowArgumentError(`unknown reserved port "${port}"`);
  return n;
}

/** The reserved port's name for a number, or the number itself. */
export function portName(port: number): string {
  for (const [name, n] of Object.entries(OFPP)) if (n === port && name !== 'MAX') return name;
  return String(port);
}

/** nx_action_resubmit carries a 16-bit OpenFlow 1.0 port; reserved ones map to 0xffffff00+. */
function port16to32(p: number): number {
  return p >= 0xff00 ? (0xffff0000 | p) >>> 0 : p;
}

function port32to16(p: number): number {
  if (p >= 0xffffff00) return p & 0xffff;
  if (p >= 0xff00) throw new OpenFlowArgumentError(`resubmit in_port ${String(p)} does not fit OpenFlow 1.0's 16 bits`);
  return p;
}

// ---- actions ---------------------------------------------------------------------

export function encodeAction(w: Writer, a: Action): void {
  const start = w.pos;
  switch (a.type) {
    case 'output':
      w.u16(OFPAT.OUTPUT).u16(16).u32(a.port, 'output port').u16(a.maxLen, 'output max_len').zeros(6);
      return;
    case 'set_queue':
      w.u16(OFPAT.SET_QUEUE).u16(8).u32(a.queueId, 'queue id');
      return;
    case 'set_field':
      w.u16(OFPAT.SET_FIELD).u16(0);
      encodeOxm(w, a.field);
      w.padTo(8, start);
      w.patchU16(start + 2, w.pos - start, 'set_field length');
      return;
    case 'nx_resubmit':
      w.u16(OFPAT.EXPERIMENTER).u16(16).u32(NX_VENDOR_ID).u16(NXAST_RESUBMIT_TABLE);
      w.u16(port32to16(a.inPort), 'resubmit in_port').u8(a.table, 'resubmit table').zeros(3);
      return;
    case 'nx_reg_load': {
      if (!Number.isInteger(a.nBits) || a.nBits < 1 || a.nBits > 64 || !Number.isInteger(a.ofs) || a.ofs < 0 || a.ofs > 1023) {
        throw new OpenFlowArgumentError(`reg_load: bad bit range ofs=${String(a.ofs)} n_bits=${String(a.nBits)}`);
      }
      if (a.nBits < 64 && a.value >> BigInt(a.nBits) !== 0n) {
        throw new OpenFlowArgumentError(`reg_load: value ${a.value.toString()} does not fit in ${String(a.nBits)} bits`);
      }
      const dst = typeof a.dst === 'number' ? a.dst : nxmHeader(a.dst);
      w.u16(OFPAT.EXPERIMENTER).u16(24).u32(NX_VENDOR_ID).u16(NXAST_REG_LOAD);
      w.u16((a.ofs << 6) | (a.nBits - 1)).u32(dst, 'reg_load dst').u64(a.value, 'reg_load value');
      return;
    }
    case 'experimenter':
      w.u16(OFPAT.EXPERIMENTER).u16(0).u32(a.experimenter, 'experimenter').bytes(a.data);
      w.padTo(8, start);
      w.patchU16(start + 2, w.pos - start, 'action length');
      return;
    case 'unknown':
      w.u16(a.actionType).u16(0).bytes(a.body);
      w.padTo(8, start);
      w.patchU16(start + 2, w.pos - start, 'action length');
      return;
  }
}

export function decodeAction(r: Reader): Action {
  const type = r.u16('action type');
  const len = r.u16('action length');
  if (len < 8 || len % 8 !== 0) throw new OpenFlowProtocolError(`${r.what}: action type ${String(type)} has length ${String(len)} (must be a multiple of 8, at least 8)`);
  const b = r.sub(len - 4, `${r.what}: action ${String(type)}`);
  switch (type) {
    case OFPAT.OUTPUT: {
      if (len !== 16) throw new OpenFlowProtocolError(`${r.what}: output action length ${String(len)} != 16`);
      const port = b.u32('port');
      const maxLen = b.u16('max_len');
      return { type: 'output', port, maxLen };
    }
    case OFPAT.SET_QUEUE:
      return { type: 'set_queue', queueId: b.u32('queue_id') };
    case OFPAT.SET_FIELD:
      return { type: 'set_field', field: decodeOxm(b) };
    case OFPAT.EXPERIMENTER: {
      const experimenter = b.u32('experimenter');
      if (experimenter === NX_VENDOR_ID && b.remaining >= 2) {
        const at = b.pos;
        const subtype = b.u16('nx subtype');
        if (subtype === NXAST_RESUBMIT_TABLE && len === 16) {
          const inPort = port16to32(b.u16('in_port'));
          const table = b.u8('table');
          return { type: 'nx_resubmit', inPort, table };
        }
        if (subtype === NXAST_REG_LOAD && len === 24) {
          const ofsNbits = b.u16('ofs_nbits');
          const header = b.u32('dst');
          const value = b.u64('value');
          return { type: 'nx_reg_load', dst: fieldOfHeader(header) ?? header, ofs: ofsNbits >> 6, nBits: (ofsNbits & 0x3f) + 1, value };
        }
        b.pos = at;
      }
      return { type: 'experimenter', experimenter, data: b.bytes(b.remaining, 'experimenter data') };
    }
    default:
      return { type: 'unknown', actionType: type, body: b.bytes(b.remaining, 'action body') };
  }
}

export function encodeActions(w: Writer, actions: readonly Action[]): void {
  for (const a of actions) encodeAction(w, a);
}

export function decodeActions(r: Reader): Action[] {
  const out: Action[] = [];
  while (r.remaining > 0) out.push(decodeAction(r));
  return out;
}

// ---- instructions ----------------------------------------------------------------

export function encodeInstruction(w: Writer, i: Instruction): void {
  const start = w.pos;
  switch (i.type) {
    case 'goto_table':
      w.u16(OFPIT.GOTO_TABLE).u16(8).u8(i.tableId, 'goto_table table').zeros(3);
      return;
    case 'meter':
      w.u16(OFPIT.METER).u16(8).u32(i.meterId, 'meter id');
      return;
    case 'clear_actions':
      w.u16(OFPIT.CLEAR_ACTIONS).u16(8).zeros(4);
      return;
    case 'write_actions':
    case 'apply_actions':
      w.u16(i.type === 'write_actions' ? OFPIT.WRITE_ACTIONS : OFPIT.APPLY_ACTIONS).u16(0).zeros(4);
      encodeActions(w, i.actions);
      w.patchU16(start + 2, w.pos - start, 'instruction length');
      return;
    case 'unknown':
      w.u16(i.instructionType).u16(0).bytes(i.body);
      w.padTo(8, start);
      w.patchU16(start + 2, w.pos - start, 'instruction length');
      return;
  }
}

export function decodeInstruction(r: Reader): Instruction {
  const type = r.u16('instruction type');
  const len = r.u16('instruction length');
  if (len < 8 || len % 8 !== 0) throw new OpenFlowProtocolError(`${r.what}: instruction type ${String(type)} has length ${String(len)} (must be a multiple of 8, at least 8)`);
  const b = r.sub(len - 4, `${r.what}: instruction ${String(type)}`);
  switch (type) {
    case OFPIT.GOTO_TABLE:
      return { type: 'goto_table', tableId: b.u8('table_id') };
    case OFPIT.METER:
      return { type: 'meter', meterId: b.u32('meter_id') };
    case OFPIT.CLEAR_ACTIONS:
      return { type: 'clear_actions' };
    case OFPIT.WRITE_ACTIONS:
    case OFPIT.APPLY_ACTIONS:
      b.skip(4, 'pad');
      return { type: type === OFPIT.WRITE_ACTIONS ? 'write_actions' : 'apply_actions', actions: decodeActions(b) };
    default:
      return { type: 'unknown', instructionType: type, body: b.bytes(b.remaining, 'instruction body') };
  }
}

export function encodeInstructions(w: Writer, instructions: readonly Instruction[]): void {
  for (const i of instructions) encodeInstruction(w, i);
}

export function decodeInstructions(r: Reader): Instruction[] {
  const out: Instruction[] = [];
  while (r.remaining > 0) out.push(decodeInstruction(r));
  return out;
}

// ---- builders --------------------------------------------------------------------

export const action = {
  /** Output to a port; `maxLen` only matters for CONTROLLER (default: whole packet). */
  output: (port: PortRef, maxLen: number = OFPCML_NO_BUFFER): Action => ({ type: 'output', port: portNumber(port), maxLen }),
  setQueue: (queueId: number): Action => ({ type: 'set_queue', queueId }),
  setField: (field: OxmField): Action => ({ type: 'set_field', field }),
};

/** Nicira (OVS) extension actions. */
export const nx = {
  /**
   * `load:VALUE->NXM_NX_REG<reg>[ofs..ofs+nBits-1]`, e.g. `nx.regLoad(12, 0, 1, 1)`
   * is Neutron's `load:1->reg12[0]`.
   */
  regLoad: (reg: number, ofs: number, nBits: number, value: number | bigint): Action => ({
    type: 'nx_reg_load',
    dst: registerField(reg),
    ofs,
    nBits,
    value: BigInt(value),
  }),
  /** `resubmit(inPort,table)`; the default in_port keeps the packet's own. */
  resubmit: (table: number, inPort: PortRef = 'IN_PORT'): Action => ({ type: 'nx_resubmit', inPort: portNumber(inPort), table }),
};

export const instruction = {
  applyActions: (actions: readonly Action[]): Instruction => ({ type: 'apply_actions', actions }),
  writeActions: (actions: readonly Action[]): Instruction => ({ type: 'write_actions', actions }),
  clearActions: (): Instruction => ({ type: 'clear_actions' }),
  gotoTable: (tableId: number): Instruction => ({ type: 'goto_table', tableId }),
  meter: (meterId: number): Instruction => ({ type: 'meter', meterId }),
};

