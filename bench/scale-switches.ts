/**
 * Child process of `npm run bench -- scale` (bench/scale.ts): a "switch farm" hosting the
 * OVSDB of many simulated compute hosts — one in-process OVSDB server (src/ovsdb/server,
 * the embedded Open_vSwitch schema) per host, each with its own database and its own unix
 * socket listener `<dir>/<host>.sock`, all in this one Node process. Each host's database
 * is filled like a compute node's after its VMs booted: `br-int` with its internal port and
 * one `qvo…` port per VM port (Interface external_ids iface-id, iface-status, attached-mac,
 * vm-uuid, as os-vif plugs it).
 *
 * The bench drives it over the IPC channel (one request, one reply, by id):
 *   start   create and fill the hosts' databases, listen;
 *   expect  the max-rate (bit/s, a string) each port's QoS must carry to count as applied;
 *   count   how many expected ports carry it (only hosts not yet complete are read again,
 *           unless `all`), per host list optional;
 *   wait    resolve when one port's QoS carries a rate (polled every 2 ms here);
 *   drift   overwrite the max-rate of every QoS on the given hosts (another writer);
 *   epochs  each host's fencing epoch (Open_vSwitch external_ids cm-agent-epoch);
 *   close   stop listening and exit.
 * Reading the databases goes through the server's own transact (wire form), as a local
 * client would, so nothing here depends on the server's internals.
 */
import { createVswitchServer, type InProcessOvsdbServer } from '../src/ovsdb/server/index.ts';

const DB = 'Open_vSwitch';
const EPOCH_KEY = 'cm-agent-epoch';

export interface FarmHost {
  name: string;
  /** [ovs port name, iface-id (Neutron port id), MAC, vm-uuid] */
  ports: [string, string, string, string][];
}

export type FarmRequest =
  | { id: number; op: 'start'; dir: string; hosts: FarmHost[] }
  | { id: number; op: 'expect'; rates: [host: string, port: string, rate: string][] }
  | { id: number; op: 'count'; hosts?: string[]; all?: boolean }
  | { id: number; op: 'wait'; host: string; port: string; rate: string; timeoutMs: number }
  | { id: number; op: 'drift'; hosts: string[]; rate: string }
  | { id: number; op: 'epochs'; hosts?: string[] }
  | { id: number; op: 'close' };

/** A request without its id (what the bench passes to Farm.call). */
export type FarmCommand = { [K in FarmRequest['op']]: Omit<Extract<FarmRequest, { op: K }>, 'id'> }[FarmRequest['op']];

export interface FarmReply {
  id: number;
  error?: string;
  [key: string]: unknown;
}

type Wire = unknown;
type WireRow = Record<string, Wire>;

const servers = new Map<string, InProcessOvsdbServer>();
/** host → port → expected max-rate */
const expected = new Map<string, Map<string, string>>();
const complete = new Set<string>();

function mapOf(datum: Wire): Map<string, string> {
  const out = new Map<string, string>();
  if (Array.isArray(datum) && datum[0] === 'map' && Array.isArray(datum[1])) {
    for (const pair of datum[1] as [unknown, unknown][]) out.set(String(pair[0]), String(pair[1]));
  }
  return out;
}

function uuidOf(datum: Wire): string | undefined {
  if (Array.isArray(datum) && datum[0] === 'uuid') return String(datum[1]);
  return undefined;
}

async function transact(host: string, ops: unknown[]): Promise<{ rows?: WireRow[]; error?: string }[]> {
  const server = servers.get(host);
  if (!server) throw new Error(`no switch for host ${host}`);
  const results = (await server.transact(DB, ops)) as ({ rows?: WireRow[]; error?: string } | null)[];
  const failed = results.find((r) => r?.error !== undefined);
  if (failed?.error !== undefined) throw new Error(`${host}: ${failed.error} ${JSON.stringify(failed)}`);
  return results.map((r) => r ?? {});
}

/** port name → max-rate of its QoS (undefined: no QoS). */
async function rates(host: string): Promise<Map<string, string | undefined>> {
  const [ports, qos] = await transact(host, [
    { op: 'select', table: 'Port', where: [], columns: ['name', 'qos'] },
    { op: 'select', table: 'QoS', where: [], columns: ['_uuid', 'other_config'] },
  ]);
  const qosRate = new Map<string, string | undefined>();
  for (const row of qos?.rows ?? []) qosRate.set(uuidOf(row._uuid) ?? '', mapOf(row.other_config).get('max-rate'));
  const out = new Map<string, string | undefined>();
  for (const row of ports?.rows ?? []) {
    const q = uuidOf(row.qos);
    out.set(String(row.name), q === undefined ? undefined : qosRate.get(q));
  }
  return out;
}

async function start(dir: string, hosts: FarmHost[]): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  for (const h of hosts) {
    const server = createVswitchServer({ init: true });
    servers.set(h.name, server);
    const ops: unknown[] = [
      { op: 'insert', table: 'Interface', row: { name: 'br-int', type: 'internal' }, 'uuid-name': 'bi' },
      { op: 'insert', table: 'Port', row: { name: 'br-int', interfaces: ['named-uuid', 'bi'] }, 'uuid-name': 'bp' },
    ];
    const portRefs: Wire[] = [['named-uuid', 'bp']];
    h.ports.forEach(([name, ifaceId, mac, vm], j) => {
      ops.push({
        op: 'insert',
        table: 'Interface',
        row: { name, external_ids: ['map', [['attached-mac', mac], ['iface-id', ifaceId], ['iface-status', 'active'], ['vm-uuid', vm]]] },
        'uuid-name': `i${String(j)}`,
      });
      ops.push({ op: 'insert', table: 'Port', row: { name, interfaces: ['named-uuid', `i${String(j)}`] }, 'uuid-name': `p${String(j)}` });
      portRefs.push(['named-uuid', `p${String(j)}`]);
    });
    ops.push({ op: 'insert', table: 'Bridge', row: { name: 'br-int', ports: ['set', portRefs], external_ids: ['map', [['bridge-id', 'br-int']]] }, 'uuid-name': 'br' });
    ops.push({ op: 'mutate', table: 'Open_vSwitch', where: [], mutations: [['bridges', 'insert', ['set', [['named-uuid', 'br']]]]] });
    await transact(h.name, ops);
    await server.listen(`unix:${dir}/${h.name}.sock`);
  }
  return { hosts: hosts.length, ms: performance.now() - t0, rssMiB: process.memoryUsage().rss / 2 ** 20 };
}

async function count(hosts: string[] | undefined, all: boolean): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  let applied = 0;
  let expectedTotal = 0;
  let withQos = 0;
  for (const host of hosts ?? [...expected.keys()]) {
    const want = expected.get(host);
    if (!want) continue;
    expectedTotal += want.size;
    if (!all && complete.has(host)) {
      applied += want.size;
      withQos += want.size;
      continue;
    }
    const have = await rates(host);
    let ok = 0;
    for (const [port, rate] of want) {
      const r = have.get(port);
      if (r !== undefined) withQos++;
      if (r === rate) ok++;
    }
    applied += ok;
    if (ok === want.size) complete.add(host);
    else complete.delete(host);
  }
  return { applied, expected: expectedTotal, withQos, ms: performance.now() - t0 };
}

async function waitRate(host: string, port: string, rate: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  for (;;) {
    const have = await rates(host);
    if (have.get(port) === rate) return { ms: performance.now() - t0 };
    if (performance.now() - t0 > timeoutMs) throw new Error(`${host}/${port}: max-rate ${String(have.get(port))}, not ${rate} after ${String(timeoutMs)} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function drift(hosts: string[], rate: string): Promise<Record<string, unknown>> {
  let rows = 0;
  for (const host of hosts) {
    const [qos] = await transact(host, [{ op: 'select', table: 'QoS', where: [], columns: ['_uuid', 'other_config'] }]);
    const ops = (qos?.rows ?? []).map((row) => {
      const other = mapOf(row.other_config);
      other.set('max-rate', rate);
      return { op: 'update', table: 'QoS', where: [['_uuid', '==', row._uuid]], row: { other_config: ['map', [...other]] } };
    });
    rows += ops.length;
    if (ops.length > 0) await transact(host, ops);
    complete.delete(host);
  }
  return { rows };
}

async function epochs(hosts: string[] | undefined): Promise<Record<string, unknown>> {
  const out: Record<string, string | null> = {};
  for (const host of hosts ?? [...servers.keys()]) {
    const [r] = await transact(host, [{ op: 'select', table: 'Open_vSwitch', where: [], columns: ['external_ids'] }]);
    out[host] = mapOf(r?.rows?.[0]?.external_ids).get(EPOCH_KEY) ?? null;
  }
  return { epochs: out };
}

async function handle(msg: FarmRequest): Promise<Record<string, unknown>> {
  switch (msg.op) {
    case 'start':
      return start(msg.dir, msg.hosts);
    case 'expect':
      for (const [host, port, rate] of msg.rates) {
        let m = expected.get(host);
        if (!m) expected.set(host, (m = new Map<string, string>()));
        m.set(port, rate);
        complete.delete(host);
      }
      return {};
    case 'count':
      return count(msg.hosts, msg.all === true);
    case 'wait':
      return waitRate(msg.host, msg.port, msg.rate, msg.timeoutMs);
    case 'drift':
      return drift(msg.hosts, msg.rate);
    case 'epochs':
      return epochs(msg.hosts);
    case 'close':
      await Promise.all([...servers.values()].map((s) => s.close()));
      setImmediate(() => process.exit(0));
      return {};
  }
}

process.on('message', (raw) => {
  const msg = raw as FarmRequest;
  handle(msg).then(
    (result) => process.send?.({ id: msg.id, ...result } satisfies FarmReply),
    (error: unknown) => process.send?.({ id: msg.id, error: error instanceof Error ? error.message : String(error) } satisfies FarmReply),
  );
});
process.on('disconnect', () => process.exit(0));
