/**
 * OpenFlow 1.3.5 numbers (ONF TS-024) and the few Open vSwitch extension
 * numbers this library uses. Names follow the specification so that they can
 * be searched for in it and in OVS sources.
 */

export const OFP_VERSION_1_3 = 0x04;
export const OFP_HEADER_LEN = 8;

export const OFPT = {
  HELLO: 0,
  ERROR: 1,
  ECHO_REQUEST: 2,
  ECHO_REPLY: 3,
  EXPERIMENTER: 4,
  FEATURES_REQUEST: 5,
  FEATURES_REPLY: 6,
  GET_CONFIG_REQUEST: 7,
  GET_CONFIG_REPLY: 8,
  SET_CONFIG: 9,
  PACKET_IN: 10,
  FLOW_REMOVED: 11,
  PORT_STATUS: 12,
  PACKET_OUT: 13,
  FLOW_MOD: 14,
  GROUP_MOD: 15,
  PORT_MOD: 16,
  TABLE_MOD: 17,
  MULTIPART_REQUEST: 18,
  MULTIPART_REPLY: 19,
  BARRIER_REQUEST: 20,
  BARRIER_REPLY: 21,
  QUEUE_GET_CONFIG_REQUEST: 22,
  QUEUE_GET_CONFIG_REPLY: 23,
  ROLE_REQUEST: 24,
  ROLE_REPLY: 25,
  GET_ASYNC_REQUEST: 26,
  GET_ASYNC_REPLY: 27,
  SET_ASYNC: 28,
  METER_MOD: 29,
} as const;

/** OFPHET_VERSIONBITMAP: the hello element listing every version the sender supports. */
export const OFPHET_VERSIONBITMAP = 1;

/** Reserved port numbers (32-bit, OF1.1+). */
export const OFPP = {
  MAX: 0xffffff00,
  IN_PORT: 0xfffffff8,
  TABLE: 0xfffffff9,
  NORMAL: 0xfffffffa,
  FLOOD: 0xfffffffb,
  ALL: 0xfffffffc,
  CONTROLLER: 0xfffffffd,
  LOCAL: 0xfffffffe,
  ANY: 0xffffffff,
} as const;
export type NamedPort = keyof typeof OFPP;

export const OFPG_ANY = 0xffffffff;
export const OFPTT_ALL = 0xff;
export const OFP_NO_BUFFER = 0xffffffff;
/** OFPCML_NO_BUFFER: send the whole packet to the controller. */
export const OFPCML_NO_BUFFER = 0xffff;

/** Meter ids: OFPM_ALL addresses every meter (delete-all, stats of all). */
export const OFPM = {
  MAX: 0xffff0000,
  SLOWPATH: 0xfffffffd,
  CONTROLLER: 0xfffffffe,
  ALL: 0xffffffff,
} as const;

export const OFPFC = { add: 0, modify: 1, modify_strict: 2, delete: 3, delete_strict: 4 } as const;
export type FlowModCommand = keyof typeof OFPFC;

export const OFPFF = {
  send_flow_rem: 1 << 0,
  check_overlap: 1 << 1,
  reset_counts: 1 << 2,
  no_pkt_counts: 1 << 3,
  no_byt_counts: 1 << 4,
} as const;
export type FlowModFlag = keyof typeof OFPFF;

export const OFPMC = { add: 0, modify: 1, delete: 2 } as const;
export type MeterModCommand = keyof typeof OFPMC;

export const OFPMF = { kbps: 1 << 0, pktps: 1 << 1, burst: 1 << 2, stats: 1 << 3 } as const;
export type MeterFlag = keyof typeof OFPMF;

export const OFPMBT = { DROP: 1, DSCP_REMARK: 2, EXPERIMENTER: 0xffff } as const;

export const OFPRR = ['idle_timeout', 'hard_timeout', 'delete', 'group_delete', 'meter_delete', 'eviction'] as const;
export type FlowRemovedReason = (typeof OFPRR)[number] | `unknown(${number})`;

export const OFPPR = ['add', 'delete', 'modify'] as const;
export type PortStatusReason = (typeof OFPPR)[number] | `unknown(${number})`;

export const OFPMP = {
  DESC: 0,
  FLOW: 1,
  AGGREGATE: 2,
  TABLE: 3,
  PORT_STATS: 4,
  QUEUE: 5,
  GROUP: 6,
  GROUP_DESC: 7,
  GROUP_FEATURES: 8,
  METER: 9,
  METER_CONFIG: 10,
  METER_FEATURES: 11,
  TABLE_FEATURES: 12,
  PORT_DESC: 13,
  EXPERIMENTER: 0xffff,
} as const;
export const OFPMPF_REPLY_MORE = 1;
export const OFPMPF_REQ_MORE = 1;

/** OFPC_* capability bits of the features reply. */
export const OFPC = {
  flow_stats: 1 << 0,
  table_stats: 1 << 1,
  port_stats: 1 << 2,
  group_stats: 1 << 3,
  ip_reasm: 1 << 5,
  queue_stats: 1 << 6,
  port_blocked: 1 << 8,
} as const;

/** Action types (OFPAT_*). */
export const OFPAT = {
  OUTPUT: 0,
  COPY_TTL_OUT: 11,
  COPY_TTL_IN: 12,
  SET_MPLS_TTL: 15,
  DEC_MPLS_TTL: 16,
  PUSH_VLAN: 17,
  POP_VLAN: 18,
  PUSH_MPLS: 19,
  POP_MPLS: 20,
  SET_QUEUE: 21,
  GROUP: 22,
  SET_NW_TTL: 23,
  DEC_NW_TTL: 24,
  SET_FIELD: 25,
  PUSH_PBB: 26,
  POP_PBB: 27,
  EXPERIMENTER: 0xffff,
} as const;

/** Instruction types (OFPIT_*). */
export const OFPIT = {
  GOTO_TABLE: 1,
  WRITE_METADATA: 2,
  WRITE_ACTIONS: 3,
  APPLY_ACTIONS: 4,
  CLEAR_ACTIONS: 5,
  METER: 6,
  EXPERIMENTER: 0xffff,
} as const;

/** OXM classes. */
export const OFPXMC_NXM_0 = 0x0000;
export const OFPXMC_NXM_1 = 0x0001;
export const OFPXMC_OPENFLOW_BASIC = 0x8000;
export const OFPXMC_EXPERIMENTER = 0xffff;
/** ofp_match.type: OFPMT_OXM. */
export const OFPMT_OXM = 1;

/** Experimenter ids. */
export const NX_VENDOR_ID = 0x00002320;
export const ONF_VENDOR_ID = 0x4f4e4600;

/** Nicira action subtypes used here. */
export const NXAST_REG_LOAD = 7;
export const NXAST_RESUBMIT_TABLE = 14;
/** OpenFlow 1.0 (16-bit) OFPP_IN_PORT, as nx_action_resubmit carries it. */
export const OFPP10_IN_PORT = 0xfff8;

// ---- OFPT_ERROR types and codes ---------------------------------------------------

interface ErrorType {
  readonly name: string;
  readonly codes: readonly string[];
}

const ERROR_TYPES: Record<number, ErrorType> = {
  0: { name: 'OFPET_HELLO_FAILED', codes: ['OFPHFC_INCOMPATIBLE', 'OFPHFC_EPERM'] },
  1: {
    name: 'OFPET_BAD_REQUEST',
    codes: [
      'OFPBRC_BAD_VERSION', 'OFPBRC_BAD_TYPE', 'OFPBRC_BAD_MULTIPART', 'OFPBRC_BAD_EXPERIMENTER',
      'OFPBRC_BAD_EXP_TYPE', 'OFPBRC_EPERM', 'OFPBRC_BAD_LEN', 'OFPBRC_BUFFER_EMPTY', 'OFPBRC_BUFFER_UNKNOWN',
      'OFPBRC_BAD_TABLE_ID', 'OFPBRC_IS_SLAVE', 'OFPBRC_BAD_PORT', 'OFPBRC_BAD_PACKET',
      'OFPBRC_MULTIPART_BUFFER_OVERFLOW',
    ],
  },
  2: {
    name: 'OFPET_BAD_ACTION',
    codes: [
      'OFPBAC_BAD_TYPE', 'OFPBAC_BAD_LEN', 'OFPBAC_BAD_EXPERIMENTER', 'OFPBAC_BAD_EXP_TYPE', 'OFPBAC_BAD_OUT_PORT',
      'OFPBAC_BAD_ARGUMENT', 'OFPBAC_EPERM', 'OFPBAC_TOO_MANY', 'OFPBAC_BAD_QUEUE', 'OFPBAC_BAD_OUT_GROUP',
      'OFPBAC_MATCH_INCONSISTENT', 'OFPBAC_UNSUPPORTED_ORDER', 'OFPBAC_BAD_TAG', 'OFPBAC_BAD_SET_TYPE',
      'OFPBAC_BAD_SET_LEN', 'OFPBAC_BAD_SET_ARGUMENT',
    ],
  },
  3: {
    name: 'OFPET_BAD_INSTRUCTION',
    codes: [
      'OFPBIC_UNKNOWN_INST', 'OFPBIC_UNSUP_INST', 'OFPBIC_BAD_TABLE_ID', 'OFPBIC_UNSUP_METADATA',
      'OFPBIC_UNSUP_METADATA_MASK', 'OFPBIC_BAD_EXPERIMENTER', 'OFPBIC_BAD_EXP_TYPE', 'OFPBIC_BAD_LEN', 'OFPBIC_EPERM',
    ],
  },
  4: {
    name: 'OFPET_BAD_MATCH',
    codes: [
      'OFPBMC_BAD_TYPE', 'OFPBMC_BAD_LEN', 'OFPBMC_BAD_TAG', 'OFPBMC_BAD_DL_ADDR_MASK', 'OFPBMC_BAD_NW_ADDR_MASK',
      'OFPBMC_BAD_WILDCARDS', 'OFPBMC_BAD_FIELD', 'OFPBMC_BAD_VALUE', 'OFPBMC_BAD_MASK', 'OFPBMC_BAD_PREREQ',
      'OFPBMC_DUP_FIELD', 'OFPBMC_EPERM',
    ],
  },
  5: {
    name: 'OFPET_FLOW_MOD_FAILED',
    codes: [
      'OFPFMFC_UNKNOWN', 'OFPFMFC_TABLE_FULL', 'OFPFMFC_BAD_TABLE_ID', 'OFPFMFC_OVERLAP', 'OFPFMFC_EPERM',
      'OFPFMFC_BAD_TIMEOUT', 'OFPFMFC_BAD_COMMAND', 'OFPFMFC_BAD_FLAGS',
    ],
  },
  6: {
    name: 'OFPET_GROUP_MOD_FAILED',
    codes: [
      'OFPGMFC_GROUP_EXISTS', 'OFPGMFC_INVALID_GROUP', 'OFPGMFC_WEIGHT_UNSUPPORTED', 'OFPGMFC_OUT_OF_GROUPS',
      'OFPGMFC_OUT_OF_BUCKETS', 'OFPGMFC_CHAINING_UNSUPPORTED', 'OFPGMFC_WATCH_UNSUPPORTED', 'OFPGMFC_LOOP',
      'OFPGMFC_UNKNOWN_GROUP', 'OFPGMFC_CHAINED_GROUP', 'OFPGMFC_BAD_TYPE', 'OFPGMFC_BAD_COMMAND',
      'OFPGMFC_BAD_BUCKET', 'OFPGMFC_BAD_WATCH', 'OFPGMFC_EPERM',
    ],
  },
  7: {
    name: 'OFPET_PORT_MOD_FAILED',
    codes: ['OFPPMFC_BAD_PORT', 'OFPPMFC_BAD_HW_ADDR', 'OFPPMFC_BAD_CONFIG', 'OFPPMFC_BAD_ADVERTISE', 'OFPPMFC_EPERM'],
  },
  8: { name: 'OFPET_TABLE_MOD_FAILED', codes: ['OFPTMFC_BAD_TABLE', 'OFPTMFC_BAD_CONFIG', 'OFPTMFC_EPERM'] },
  9: { name: 'OFPET_QUEUE_OP_FAILED', codes: ['OFPQOFC_BAD_PORT', 'OFPQOFC_BAD_QUEUE', 'OFPQOFC_EPERM'] },
  10: { name: 'OFPET_SWITCH_CONFIG_FAILED', codes: ['OFPSCFC_BAD_FLAGS', 'OFPSCFC_BAD_LEN', 'OFPSCFC_EPERM'] },
  11: { name: 'OFPET_ROLE_REQUEST_FAILED', codes: ['OFPRRFC_STALE', 'OFPRRFC_UNSUP', 'OFPRRFC_BAD_ROLE'] },
  12: {
    name: 'OFPET_METER_MOD_FAILED',
    codes: [
      'OFPMMFC_UNKNOWN', 'OFPMMFC_METER_EXISTS', 'OFPMMFC_INVALID_METER', 'OFPMMFC_UNKNOWN_METER',
      'OFPMMFC_BAD_COMMAND', 'OFPMMFC_BAD_FLAGS', 'OFPMMFC_BAD_RATE', 'OFPMMFC_BAD_BURST', 'OFPMMFC_BAD_BAND',
      'OFPMMFC_BAD_BAND_VALUE', 'OFPMMFC_OUT_OF_METERS', 'OFPMMFC_OUT_OF_BANDS',
    ],
  },
  13: {
    name: 'OFPET_TABLE_FEATURES_FAILED',
    codes: ['OFPTFFC_BAD_TABLE', 'OFPTFFC_BAD_METADATA', 'OFPTFFC_BAD_TYPE', 'OFPTFFC_BAD_LEN', 'OFPTFFC_BAD_ARGUMENT', 'OFPTFFC_EPERM'],
  },
};

export const OFPET_EXPERIMENTER = 0xffff;

/**
 * Names of the experimenters whose errors OVS sends in OpenFlow 1.3: Nicira
 * extensions (NXBRC_*, NXBAC_*, ...) and ONF extensions backported to 1.3
 * (bundles). Their exp_type numbers are kept as numbers: OVS assigns them in
 * lib/ofp-errors.h and they are not part of any specification.
 */
const EXPERIMENTERS: Record<number, string> = { [NX_VENDOR_ID]: 'NX', [ONF_VENDOR_ID]: 'ONF' };

export function errorNames(type: number, code: number, experimenter?: number): { typeName: string; codeName: string } {
  if (type === OFPET_EXPERIMENTER) {
    const who = experimenter === undefined ? 'UNKNOWN' : (EXPERIMENTERS[experimenter] ?? `0x${experimenter.toString(16).padStart(8, '0')}`);
    return { typeName: 'OFPET_EXPERIMENTER', codeName: `${who}_EXP_TYPE(${String(code)})` };
  }
  const t = ERROR_TYPES[type];
  if (!t) return { typeName: `OFPET_UNKNOWN(${String(type)})`, codeName: `UNKNOWN(${String(code)})` };
  return { typeName: t.name, codeName: t.codes[code] ?? `${t.name}_UNKNOWN_CODE(${String(code)})` };
}

/** The (type, code) numbers of a named error, e.g. for a fake switch in tests. */
export function errorNumbers(typeName: string, codeName: string): { type: number; code: number } {
  for (const [type, t] of Object.entries(ERROR_TYPES)) {
    if (t.name !== typeName) continue;
    const code = t.codes.indexOf(codeName);
    if (code >= 0) return { type: Number(type), code };
  }
  throw new Error(`unknown OpenFlow error ${typeName}/${codeName}`);
}
