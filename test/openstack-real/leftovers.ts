/**
 * What the real-cloud tests leave behind, and how a test cleans up under its agent.
 *
 * The rows the CM agent writes into a host's OVSDB are QoS and Queue rows (root
 * tables, never garbage-collected by OVSDB) tagged `external_ids:cm-owner`, marks
 * `external_ids:cm-policing-owner` on Interfaces, Controller rows tagged `cm-owner`
 * (passive OpenFlow listeners) and, with a cluster, the `cm-agent-epoch` key of the
 * Open_vSwitch row. Through br-int's management socket it adds flows with its
 * cookies (upload meters `0x434d…`, guarantee pairs `0x4347…`) and meters in its id
 * ranges. Only the agent removes them, and only while it runs: a test must delete
 * its servers and SLAs, wait for its agent to remove its rows, and only then stop it
 * ({@link cleanUpUnderAgent}).
 *
 * Everything here reads the switches with the OVS tools (`ovsdb-client transact`
 * select, `ovs-ofctl`), not with the code under test, so that a bug in the agent's
 * own view cannot hide a leftover.
 */
import path from 'node:path';
import type { RunningAgent } from '../../src/agent/main.ts';
import { DEFAULT_METER_ID_BASE, ownerCookie } from '../../src/agent/enforcement/openflow-meter.ts';
import { PAIR_METER_ID_BASE, PAIR_METER_ID_LIMIT, pairCookie } from '../../src/agent/enforcement/pair-limiter.ts';
import { OpenStackApiError, type OpenStack } from '../../src/openstack/index.ts';
import { run } from '../harness/ovsdb-server.ts';
import { tenantLeftovers } from './tenants.ts';
import { HOST_NETNS, HOSTS, OVSDB_ENDPOINTS, PREFIX, record, waitServerGone, type RealHost } from './cloud.ts';

/** `external_ids` keys of ours (src/ovsdb/vswitch/qos.ts, src/agent/cluster/fence.ts). */
const TAG_OWNER = 'cm-owner';
const TAG_POLICING_OWNER = 'cm-policing-owner';
const EPOCH_KEY = 'cm-agent-epoch';
/** The upload backend's meter ids (openflow-meter.ts: base + ofport, below base + 0xff00). */
const UPLOAD_METERS: readonly [number, number] = [DEFAULT_METER_ID_BASE, DEFAULT_METER_ID_BASE + 0xff00];
const PAIR_METERS: readonly [number, number] = [PAIR_METER_ID_BASE, PAIR_METER_ID_LIMIT];
/** The 16-bit prefixes of our cookies, whatever the owner. */
const COOKIE_PREFIXES = [ownerCookie('x') >> 48n, pairCookie('x') >> 48n];
/** The guarantees test's shaper on the wire between the hosts (guarantees.test.ts). */
const SHAPER = { handle: 'c3a1:', devs: { compute1: 'osr-phy1', compute2: 'osr-phy2' } as Record<RealHost, string> };
/** Names of what the tests create in the cloud: servers `cm-real-…` / `cm-2nic-…`, stacks `cm-…` (the manager's too), the flavor `cm-real-xl`. */
export const SERVER_PREFIXES = [PREFIX, 'cm-2nic'];
export const STACK_PREFIX = 'cm-';

const osrDir = (): string => process.env.CM_REAL_OSR_DIR ?? process.env.OSR_DIR ?? '/var/lib/openstack-real';
const brIntMgmt = (host: RealHost): string => `unix:${path.join(osrDir(), 'ovs', host === 'compute1' ? 'c1' : 'c2', 'br-int.mgmt')}`;

export interface Leftover {
  /** `compute1`, `compute2`, or `cloud` for Nova/Heat/flavors. */
  where: string;
  kind: 'QoS' | 'Queue' | 'Interface' | 'Controller' | 'Open_vSwitch' | 'flow' | 'meter' | 'qdisc' | 'server' | 'stack' | 'flavor' | 'project' | 'user';
  /** Stable identity for comparing two listings (a row's uuid, a flow without its counters, …). */
  key: string;
  /** The owner recorded on it, when it has one. */
  owner?: string;
  detail: string;
  /** A QoS no Port references, a Queue no QoS references: nothing but our agent would ever remove it. */
  orphan?: boolean;
}

export const describeLeftover = (l: Leftover): string => `${l.where} ${l.kind} ${l.key}${l.owner === undefined ? '' : ` owner=${l.owner}`}${l.orphan ? ' (orphan)' : ''}: ${l.detail}`;

type Json = unknown;
type OvsRow = Record<string, Json>;

/** Selects whole tables in one read-only transaction. */
async function selectTables(host: RealHost, tables: Record<string, string[]>): Promise<Record<string, OvsRow[]>> {
  const names = Object.keys(tables);
  const ops = names.map((table) => ({ op: 'select', table, where: [], columns: tables[table] }));
  const { stdout } = await run('ovsdb-client', ['transact', OVSDB_ENDPOINTS[host], JSON.stringify(['Open_vSwitch', ...ops])], { timeoutMs: 15_000 });
  const results = JSON.parse(stdout) as { rows?: OvsRow[]; error?: string; details?: string }[];
  const out: Record<string, OvsRow[]> = {};
  names.forEach((table, i) => {
    const r = results[i];
    if (!r?.rows) throw new Error(`select ${table} on ${host}: ${r?.error ?? 'no answer'} ${r?.details ?? ''}`);
    out[table] = r.rows;
  });
  return out;
}

/** `["map", [[k, v], …]]` → Map. */
function ovsMap(value: Json): Map<string, string> {
  const pairs = Array.isArray(value) && value[0] === 'map' && Array.isArray(value[1]) ? (value[1] as [string, string][]) : [];
  return new Map(pairs);
}

/** `["uuid", u]` or `["set", [["uuid", u], …]]` → uuids. */
function ovsUuids(value: Json): string[] {
  if (!Array.isArray(value)) return [];
  if (value[0] === 'uuid' && typeof value[1] === 'string') return [value[1]];
  if (value[0] === 'set' && Array.isArray(value[1])) return (value[1] as Json[]).flatMap(ovsUuids);
  if (value[0] === 'map' && Array.isArray(value[1])) return (value[1] as [Json, Json][]).flatMap(([, v]) => ovsUuids(v));
  return [];
}

const uuidOf = (row: OvsRow): string => ovsUuids(row._uuid)[0] ?? '?';
const mapText = (m: Map<string, string>): string => [...m].map(([k, v]) => `${k}=${v}`).join(',');

/** Our rows in one host's OVSDB; with `owner`, only that owner's (the cluster epoch has none and is then skipped). */
export async function ovsdbLeftovers(host: RealHost, owner?: string): Promise<Leftover[]> {
  const t = await selectTables(host, {
    QoS: ['_uuid', 'type', 'external_ids', 'queues', 'other_config'],
    Queue: ['_uuid', 'external_ids', 'other_config'],
    Port: ['_uuid', 'name', 'qos'],
    Interface: ['_uuid', 'name', 'external_ids', 'ingress_policing_rate'],
    Controller: ['_uuid', 'target', 'external_ids'],
    Open_vSwitch: ['_uuid', 'external_ids'],
  });
  const mine = (o: string | undefined): o is string => o !== undefined && (owner === undefined || o === owner);
  const referencedQos = new Set((t.Port ?? []).flatMap((p) => ovsUuids(p.qos)));
  // A Queue is an orphan when only orphaned QoS rows of ours (or none) reference it: it goes with them.
  const orphanQos = (q: OvsRow): boolean => ovsMap(q.external_ids).get(TAG_OWNER) !== undefined && !referencedQos.has(uuidOf(q));
  const referencedQueues = new Set((t.QoS ?? []).filter((q) => !orphanQos(q)).flatMap((q) => ovsUuids(q.queues)));
  const out: Leftover[] = [];
  for (const q of t.QoS ?? []) {
    const ids = ovsMap(q.external_ids);
    const o = ids.get(TAG_OWNER);
    if (mine(o)) out.push({ where: host, kind: 'QoS', key: uuidOf(q), owner: o, detail: mapText(ids), orphan: orphanQos(q) });
  }
  for (const q of t.Queue ?? []) {
    const ids = ovsMap(q.external_ids);
    const o = ids.get(TAG_OWNER);
    if (mine(o)) out.push({ where: host, kind: 'Queue', key: uuidOf(q), owner: o, detail: mapText(ids), orphan: !referencedQueues.has(uuidOf(q)) });
  }
  for (const i of t.Interface ?? []) {
    const o = ovsMap(i.external_ids).get(TAG_POLICING_OWNER);
    if (mine(o)) out.push({ where: host, kind: 'Interface', key: uuidOf(i), owner: o, detail: `${String(i.name)} ${TAG_POLICING_OWNER}, ingress_policing_rate ${String(i.ingress_policing_rate)}` });
  }
  for (const c of t.Controller ?? []) {
    const o = ovsMap(c.external_ids).get(TAG_OWNER);
    if (mine(o)) out.push({ where: host, kind: 'Controller', key: uuidOf(c), owner: o, detail: `target ${String(c.target)}` });
  }
  if (owner === undefined) {
    for (const r of t.Open_vSwitch ?? []) {
      const epoch = ovsMap(r.external_ids).get(EPOCH_KEY);
      if (epoch !== undefined) out.push({ where: host, kind: 'Open_vSwitch', key: `${EPOCH_KEY}=${epoch}`, detail: `external_ids:${EPOCH_KEY}` });
    }
  }
  return out;
}

async function ofctl(host: RealHost, ...args: string[]): Promise<string> {
  return (await run('ovs-ofctl', ['-O', 'OpenFlow13', '--no-names', args[0] ?? '', brIntMgmt(host), ...args.slice(1)], { timeoutMs: 15_000 })).stdout;
}

/** Flows of ours on a host's br-int (with `owner`: that owner's two cookies only), and, without `owner`, meters in our id ranges. */
export async function openflowLeftovers(host: RealHost, owner?: string): Promise<Leftover[]> {
  const out: Leftover[] = [];
  const masks = owner === undefined
    ? COOKIE_PREFIXES.map((p) => `cookie=0x${(p << 48n).toString(16)}/0xffff000000000000`)
    : [ownerCookie(owner), pairCookie(owner)].map((c) => `cookie=0x${c.toString(16)}/0xffffffffffffffff`);
  for (const mask of masks) {
    for (const line of (await ofctl(host, 'dump-flows', mask)).split('\n')) {
      if (!line.includes('cookie=')) continue;
      // Without its counters a flow is the same flow in both listings.
      const key = line.trim().replace(/\s*(duration|n_packets|n_bytes|idle_age|hard_age)=[^,\s]+,?/g, '').replace(/\s+/g, ' ');
      out.push({ where: host, kind: 'flow', key, ...(owner === undefined ? {} : { owner }), detail: 'on br-int' });
    }
  }
  if (owner === undefined) {
    for (const chunk of (await ofctl(host, 'dump-meters')).split(/(?=meter=\d)/)) {
      const id = Number(/^meter=(\d+)/.exec(chunk)?.[1] ?? NaN);
      if (!Number.isInteger(id)) continue;
      const range = [UPLOAD_METERS, PAIR_METERS].find(([lo, hi]) => id >= lo && id < hi);
      if (range) out.push({ where: host, kind: 'meter', key: `meter=${String(id)}`, detail: `on br-int, in our id range [0x${range[0].toString(16)}, 0x${range[1].toString(16)}): ${chunk.trim().replace(/\s+/g, ' ')}` });
    }
  }
  return out;
}

/** The guarantees test's tbf on the hosts' wire, if still there. */
async function shaperLeftovers(host: RealHost): Promise<Leftover[]> {
  const dev = SHAPER.devs[host];
  const { stdout } = await run('ip', ['netns', 'exec', HOST_NETNS[host], 'tc', 'qdisc', 'show', 'dev', dev, 'root'], { timeoutMs: 15_000 }).catch(() => ({ stdout: '' }));
  return stdout.includes(` ${SHAPER.handle} `) ? [{ where: host, kind: 'qdisc', key: `${dev} root ${SHAPER.handle}`, detail: stdout.trim() }] : [];
}

/** Everything of ours on both hosts' switches (any owner). */
export async function switchLeftovers(): Promise<Leftover[]> {
  const out: Leftover[] = [];
  for (const host of HOSTS) out.push(...(await ovsdbLeftovers(host)), ...(await openflowLeftovers(host)), ...(await shaperLeftovers(host)));
  return out;
}

/** Servers, stacks (not DELETE_COMPLETE), flavors, projects and users named as the tests name theirs. */
export async function cloudLeftovers(os: OpenStack): Promise<Leftover[]> {
  const out: Leftover[] = [];
  for (const s of await os.nova.listServers({ allTenants: true })) {
    const name = s.name ?? '';
    if (SERVER_PREFIXES.some((p) => name.startsWith(p))) out.push({ where: 'cloud', kind: 'server', key: s.id, detail: `${name} ${s.status}` });
  }
  for (const s of await os.heat.listStacks()) {
    if (s.name.startsWith(STACK_PREFIX) && s.status !== 'DELETE_COMPLETE') out.push({ where: 'cloud', kind: 'stack', key: s.id, detail: `${s.name} ${s.status}` });
  }
  for (const f of await os.nova.listFlavors()) {
    if (f.name.startsWith(PREFIX)) out.push({ where: 'cloud', kind: 'flavor', key: f.id, detail: f.name });
  }
  for (const t of await tenantLeftovers(os)) out.push({ where: 'cloud', kind: t.kind, key: t.id, detail: t.name });
  return out;
}

/** Deletes orphaned QoS and Queue rows of ours (nothing references them, so nothing uses them) in one transaction per host. */
export async function deleteOrphans(host: RealHost, orphans: readonly Leftover[]): Promise<void> {
  const ops = orphans
    .filter((l) => l.where === host && l.orphan && (l.kind === 'QoS' || l.kind === 'Queue'))
    // QoS first: a Queue is only unreferenced once its QoS is gone (OVSDB checks at commit anyway).
    .sort((a, b) => (a.kind === b.kind ? 0 : a.kind === 'QoS' ? -1 : 1))
    .map((l) => ({ op: 'delete', table: l.kind, where: [['_uuid', '==', ['uuid', l.key]]] }));
  if (ops.length === 0) return;
  const { stdout } = await run('ovsdb-client', ['transact', OVSDB_ENDPOINTS[host], JSON.stringify(['Open_vSwitch', ...ops])], { timeoutMs: 15_000 });
  const results = JSON.parse(stdout) as { error?: string; details?: string }[];
  const failed = results.find((r) => r.error !== undefined);
  if (failed) throw new Error(`deleting orphans on ${host}: ${String(failed.error)} ${failed.details ?? ''}`);
}

/** What one owner still has on the hosts' switches: QoS, Queue, policing marks, listeners, flows. */
export async function ownerLeftovers(owner: string): Promise<Leftover[]> {
  const out: Leftover[] = [];
  for (const host of HOSTS) out.push(...(await ovsdbLeftovers(host, owner)), ...(await openflowLeftovers(host, owner)));
  return out;
}

export interface CleanUpOptions {
  os: OpenStack | undefined;
  agent: RunningAgent | undefined;
  /** The agent's `owner`: whose rows must be gone before it stops. */
  owner: string;
  /** The servers the test made (ids it knows). */
  serverIds?: Iterable<string>;
  /** Servers whose names start so are the test's too (a boot that failed half-way is only known by name). */
  serverNamePrefix?: string;
  /** Removes one server's SLA through the agent's API (DELETE /v1/servers/{id}/sla); errors are ignored. */
  deleteSla?: (serverId: string) => Promise<unknown>;
  /** Runs first, while the agent still runs (a controller to suspend, stacks to delete, …). */
  first?: () => Promise<unknown>;
  timeoutMs?: number;
}

/**
 * The clean-up of a test that ran an agent, for its after() hook, whatever state the test
 * failed in: deletes the SLAs and the servers while the agent still runs, waits until the
 * agent removed every row and flow of its owner from both hosts, and only then stops it.
 * Every step runs even when an earlier one failed; what went wrong is thrown at the end.
 */
export async function cleanUpUnderAgent(o: CleanUpOptions): Promise<void> {
  const errors: string[] = [];
  const step = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
    try {
      await fn();
    } catch (error) {
      errors.push(`${what}: ${(error as Error).message}`);
    }
  };
  const { os, agent } = o;
  const ids = new Set(o.serverIds ?? []);
  ids.delete('');
  const started = Date.now();
  if (o.first) await step('the first clean-up step', o.first);
  if (agent && o.deleteSla) for (const id of ids) await o.deleteSla(id).catch(() => undefined);
  if (os) {
    await step('listing servers by name', async () => {
      const prefix = o.serverNamePrefix;
      if (prefix === undefined) return;
      for (const s of await os.nova.listServers({ allTenants: true })) if ((s.name ?? '').startsWith(prefix)) ids.add(s.id);
    });
    for (const id of ids) {
      await step(`deleting server ${id}`, () =>
        os.nova.deleteServer(id).catch((error: unknown) => {
          if (!(error instanceof OpenStackApiError && error.status === 404)) throw error;
        }),
      );
    }
    for (const id of ids) await step(`server ${id} gone`, () => waitServerGone(os, id, 120_000));
  }
  if (agent) {
    await step(`the agent removing the rows of ${o.owner}`, async () => {
      const deadline = Date.now() + (o.timeoutMs ?? 60_000);
      let lastRefresh = 0;
      for (;;) {
        // The agent learns that the servers are gone from its inventory: do not wait for its next refresh.
        if (Date.now() - lastRefresh >= 2000) {
          lastRefresh = Date.now();
          await agent.inventory.refresh().catch(() => undefined);
        }
        const left = await ownerLeftovers(o.owner);
        if (left.length === 0) return;
        if (Date.now() > deadline) throw new Error(`still on the switches after ${String(o.timeoutMs ?? 60_000)} ms: ${left.map(describeLeftover).join('; ')}`);
        await new Promise((r) => setTimeout(r, 300));
      }
    });
    record(`clean-up under the agent ${o.owner}: SLAs and servers deleted → its rows gone`, Date.now() - started);
    await step('stopping the agent', () => agent.stop());
  }
  if (errors.length > 0) throw new Error(`clean-up: ${errors.join('; ')}`);
}
