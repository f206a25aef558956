/**
 * Typed views of the Open_vSwitch rows Connectivity Manager touches
 * (vswitch.ovsschema 8.x). Rows come from a select or a {@link Replica} in the
 * codec's native form; these functions check and narrow them in one place.
 */
import type { Atom } from '../datum.ts';
import type { Row } from '../operations.ts';

export const VSWITCH_DB = 'Open_vSwitch';

export type StringMap = ReadonlyMap<string, string>;

export interface OpenVSwitchRow {
  readonly _uuid: string;
  readonly bridges: readonly string[];
  readonly next_cfg: number;
  readonly cur_cfg: number;
  readonly external_ids: StringMap;
  readonly ovs_version: string | undefined;
}

export interface BridgeRow {
  readonly _uuid: string;
  readonly name: string;
  readonly ports: readonly string[];
  readonly datapath_type: string;
  readonly external_ids: StringMap;
}

export interface PortRow {
  readonly _uuid: string;
  readonly name: string;
  readonly interfaces: readonly string[];
  readonly qos: string | undefined;
  readonly external_ids: StringMap;
}

export interface InterfaceRow {
  readonly _uuid: string;
  readonly name: string;
  readonly type: string;
  readonly external_ids: StringMap;
  /** kbit/s; 0 = no policing. */
  readonly ingress_policing_rate: number;
  /** kbit; 0 = the OVS default. */
  readonly ingress_policing_burst: number;
  readonly ofport: number | undefined;
}

export interface QosRow {
  readonly _uuid: string;
  readonly type: string;
  readonly other_config: StringMap;
  /** Queue number → Queue uuid. */
  readonly queues: ReadonlyMap<number, string>;
  readonly external_ids: StringMap;
}

export interface QueueRow {
  readonly _uuid: string;
  readonly other_config: StringMap;
  readonly external_ids: StringMap;
  readonly dscp: number | undefined;
}

/** The columns each typed view needs (for selects and replica specs). */
export const VSWITCH_COLUMNS = {
  Open_vSwitch: ['bridges', 'next_cfg', 'cur_cfg', 'external_ids', 'ovs_version'],
  Bridge: ['name', 'ports', 'datapath_type', 'external_ids'],
  Port: ['name', 'interfaces', 'qos', 'external_ids'],
  Interface: ['name', 'type', 'external_ids', 'ingress_policing_rate', 'ingress_policing_burst', 'ofport'],
  QoS: ['type', 'other_config', 'queues', 'external_ids'],
  Queue: ['other_config', 'external_ids', 'dscp'],
} as const satisfies Record<string, readonly string[]>;

export type VswitchTableName = keyof typeof VSWITCH_COLUMNS;

function str(row: Row, column: string): string {
  const v = row[column];
  if (typeof v !== 'string') throw new TypeError(`column ${column}: expected a string`);
  return v;
}

function optionalStr(row: Row, column: string): string | undefined {
  const v = row[column];
  return typeof v === 'string' ? v : undefined;
}

function int(row: Row, column: string): number {
  const v = row[column];
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return 0;
}

function optionalInt(row: Row, column: string): number | undefined {
  const v = row[column];
  return typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : undefined;
}

function strings(row: Row, column: string): readonly string[] {
  const v = row[column];
  return Array.isArray(v) ? (v as unknown[]).filter((x): x is string => typeof x === 'string') : [];
}

function stringMap(row: Row, column: string): StringMap {
  const v = row[column];
  if (!(v instanceof Map)) return new Map();
  return v as ReadonlyMap<string, string>;
}

export function asOpenVSwitch(row: Row): OpenVSwitchRow {
  return {
    _uuid: str(row, '_uuid'),
    bridges: strings(row, 'bridges'),
    next_cfg: int(row, 'next_cfg'),
    cur_cfg: int(row, 'cur_cfg'),
    external_ids: stringMap(row, 'external_ids'),
    ovs_version: optionalStr(row, 'ovs_version'),
  };
}

export function asBridge(row: Row): BridgeRow {
  return {
    _uuid: str(row, '_uuid'),
    name: str(row, 'name'),
    ports: strings(row, 'ports'),
    datapath_type: optionalStr(row, 'datapath_type') ?? '',
    external_ids: stringMap(row, 'external_ids'),
  };
}

export function asPort(row: Row): PortRow {
  return {
    _uuid: str(row, '_uuid'),
    name: str(row, 'name'),
    interfaces: strings(row, 'interfaces'),
    qos: optionalStr(row, 'qos'),
    external_ids: stringMap(row, 'external_ids'),
  };
}

export function asInterface(row: Row): InterfaceRow {
  return {
    _uuid: str(row, '_uuid'),
    name: str(row, 'name'),
    type: optionalStr(row, 'type') ?? '',
    external_ids: stringMap(row, 'external_ids'),
    ingress_policing_rate: int(row, 'ingress_policing_rate'),
    ingress_policing_burst: int(row, 'ingress_policing_burst'),
    ofport: optionalInt(row, 'ofport'),
  };
}

export function asQos(row: Row): QosRow {
  const raw = row.queues;
  const queues = new Map<number, string>();
  if (raw instanceof Map) {
    for (const [k, v] of raw as ReadonlyMap<Atom, Atom>) {
      if (typeof v === 'string') queues.set(Number(k), v);
    }
  }
  return {
    _uuid: str(row, '_uuid'),
    type: optionalStr(row, 'type') ?? '',
    other_config: stringMap(row, 'other_config'),
    queues,
    external_ids: stringMap(row, 'external_ids'),
  };
}

export function asQueue(row: Row): QueueRow {
  return {
    _uuid: str(row, '_uuid'),
    other_config: stringMap(row, 'other_config'),
    external_ids: stringMap(row, 'external_ids'),
    dscp: optionalInt(row, 'dscp'),
  };
}
