/**
 * Helpers of the reconciler tests: a mutable desired source, os-vif style
 * port plugging from a second OVSDB client, and row counting.
 */
import type { OvsdbClient } from '../../src/ovsdb/client.ts';
import { namedUuid } from '../../src/ovsdb/datum.ts';
import { byUuid, eq, insert, mutate, select, update, type Operation, type Row } from '../../src/ovsdb/operations.ts';
import { TAG_OWNER, TAG_POLICING_OWNER } from '../../src/ovsdb/vswitch/index.ts';
import type { DesiredSource } from '../../src/agent/reconciler.ts';
import type { PortSla, Sla } from '../../src/qos/sla.ts';

export const DB = 'Open_vSwitch';

export class MutableSource implements DesiredSource {
  readonly map = new Map<string, PortSla>();
  desired(): ReadonlyMap<string, PortSla> {
    return this.map;
  }
  set(portId: string, sla: Sla, serverId = 'server-1'): void {
    this.map.set(portId, { portId, serverId, sla });
  }
  delete(portId: string): void {
    this.map.delete(portId);
  }
}

/** Download cap `mbit` Mbit/s (min 1 Mbit/s), upload cap half of it. */
export function sla(mbit: number): Sla {
  return { download: { maxRate: mbit * 1_000_000, minRate: 1_000_000 }, upload: { maxRate: (mbit * 1_000_000) / 2 } };
}

/** A Neutron-like port id; `portName(id)` gives its OVS port name. */
export function neutronId(i: number, salt = 'aaaa'): string {
  return `${i.toString(16).padStart(8, '0')}-${salt}-4000-8000-000000000000`;
}

export function portName(id: string, prefix: 'qvo' | 'tap' = 'qvo'): string {
  return `${prefix}${id.slice(0, 11)}`;
}

/** Plugs ports like os-vif: Port + Interface (internal) with iface-id/attached-mac/vm-uuid, on br-int. */
export async function addPorts(
  client: OvsdbClient,
  ports: readonly { name: string; ifaceId: string; vmUuid?: string }[],
): Promise<void> {
  const [bridges] = await client.transact(DB, [select('Bridge', [eq('name', 'br-int')], ['_uuid'])]);
  const ops: Operation[] = [];
  const existing = bridges?.rows?.[0]?._uuid;
  if (typeof existing !== 'string') {
    ops.push(insert('Bridge', { name: 'br-int', datapath_type: 'netdev' }, { uuidName: 'br' }));
    ops.push(mutate('Open_vSwitch', [], [['bridges', 'insert', [namedUuid('br')]]]));
  }
  ports.forEach((p, i) => {
    ops.push(
      insert(
        'Interface',
        {
          name: p.name,
          type: 'internal',
          external_ids: {
            'iface-id': p.ifaceId,
            'attached-mac': `fa:16:3e:00:${(i >> 8).toString(16).padStart(2, '0')}:${(i & 0xff).toString(16).padStart(2, '0')}`,
            'vm-uuid': p.vmUuid ?? 'server-1',
            'iface-status': 'active',
          },
        },
        { uuidName: `i${String(i)}` },
      ),
    );
    ops.push(insert('Port', { name: p.name, interfaces: [namedUuid(`i${String(i)}`)] }, { uuidName: `p${String(i)}` }));
  });
  ops.push(
    mutate(
      'Bridge',
      typeof existing === 'string' ? byUuid(existing) : [eq('name', 'br-int')],
      [['ports', 'insert', ports.map((_, i) => namedUuid(`p${String(i)}`))]],
    ),
  );
  await client.transact(DB, ops);
}

/** Unplugs ports (VM deleted): Port and Interface are garbage-collected, QoS/Queue are not. */
export async function deletePorts(client: OvsdbClient, names: readonly string[]): Promise<void> {
  const [ports] = await client.transact(DB, [select('Port', [], ['_uuid', 'name'])]);
  const uuids = (ports?.rows ?? []).filter((r) => names.includes(r.name as string)).map((r) => r._uuid as string);
  await client.transact(DB, [mutate('Bridge', [eq('name', 'br-int')], [['ports', 'delete', uuids]])]);
}

export interface Tables {
  ports: Row[];
  interfaces: Row[];
  qos: Row[];
  queues: Row[];
}

export async function readTables(client: OvsdbClient): Promise<Tables> {
  const [ports, interfaces, qos, queues] = await client.transact(DB, [
    select('Port', [], ['_uuid', 'name', 'qos', 'interfaces']),
    select('Interface', [], ['_uuid', 'name', 'external_ids', 'ingress_policing_rate', 'ingress_policing_burst']),
    select('QoS', [], ['_uuid', 'other_config', 'queues', 'external_ids']),
    select('Queue', [], ['_uuid', 'other_config', 'external_ids']),
  ]);
  return { ports: ports?.rows ?? [], interfaces: interfaces?.rows ?? [], qos: qos?.rows ?? [], queues: queues?.rows ?? [] };
}

function ids(row: Row): ReadonlyMap<string, string> {
  return row.external_ids as ReadonlyMap<string, string>;
}

/** Leak check: QoS rows no Port references, Queue rows no QoS references, and rows/policing owned by `owner`. */
export function leakReport(t: Tables, owner: string): { unreferencedQos: number; unreferencedQueues: number; ownedRows: number; ownedPolicing: number } {
  const usedQos = new Set(t.ports.map((p) => p.qos).filter((q): q is string => typeof q === 'string'));
  const usedQueues = new Set(t.qos.flatMap((q) => [...(q.queues as ReadonlyMap<number, string>).values()]));
  return {
    unreferencedQos: t.qos.filter((q) => !usedQos.has(q._uuid as string)).length,
    unreferencedQueues: t.queues.filter((q) => !usedQueues.has(q._uuid as string)).length,
    ownedRows: [...t.qos, ...t.queues].filter((r) => ids(r).get(TAG_OWNER) === owner).length,
    ownedPolicing: t.interfaces.filter((i) => ids(i).get(TAG_POLICING_OWNER) === owner).length,
  };
}

/** The QoS row on a port (by name), if any. */
export function qosOfPort(t: Tables, name: string): Row | undefined {
  const port = t.ports.find((p) => p.name === name);
  return typeof port?.qos === 'string' ? t.qos.find((q) => q._uuid === port.qos) : undefined;
}

export function maxRateOf(qos: Row | undefined): string | undefined {
  return (qos?.other_config as ReadonlyMap<string, string> | undefined)?.get('max-rate');
}

/** Sets another writer's max-rate on a QoS row. */
export async function setQosMaxRate(client: OvsdbClient, uuid: string, rate: string): Promise<void> {
  await client.transact(DB, [update('QoS', byUuid(uuid), { other_config: { 'max-rate': rate } })]);
}

export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${String(timeoutMs)} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
