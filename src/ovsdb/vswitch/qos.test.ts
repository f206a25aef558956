import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NamedUuid } from '../datum.ts';
import type { Operation } from '../operations.ts';
import {
  findOwnedOrphans,
  planPortSettings,
  TAG_OWNER,
  TAG_POLICING_OWNER,
  TAG_PORT,
  VswitchError,
  VswitchView,
  type PortQosSpec,
} from './qos.ts';
import type { InterfaceRow, PortRow, QosRow, QueueRow } from './rows.ts';

const OWNER = 'agent-a';
const u = (n: number): string => `00000000-0000-4000-8000-${n.toString().padStart(12, '0')}`;

function view(parts: { ports?: PortRow[]; interfaces?: InterfaceRow[]; qos?: QosRow[]; queues?: QueueRow[] }): VswitchView {
  const byUuid = <T extends { _uuid: string }>(rows: T[] = []): Map<string, T> => new Map(rows.map((r) => [r._uuid, r]));
  return new VswitchView({
    ports: byUuid(parts.ports),
    interfaces: byUuid(parts.interfaces),
    qos: byUuid(parts.qos),
    queues: byUuid(parts.queues),
  });
}

const port = (n: number, name: string, qos?: string): PortRow => ({
  _uuid: u(n),
  name,
  interfaces: [u(n + 1000)],
  qos,
  external_ids: new Map(),
});
const iface = (n: number, name: string, extra: Partial<InterfaceRow> = {}): InterfaceRow => ({
  _uuid: u(n + 1000),
  name,
  type: '',
  external_ids: new Map([['iface-id', `neutron-${String(n)}`]]),
  ingress_policing_rate: 0,
  ingress_policing_burst: 0,
  ofport: n,
  ...extra,
});
const tags = (portName: string, owner = OWNER): Map<string, string> =>
  new Map([
    [TAG_OWNER, owner],
    [TAG_PORT, portName],
  ]);

const spec: PortQosSpec = { maxRate: 1_000_000_000, queues: [{ minRate: 100_000_000, maxRate: 1_000_000_000 }] };

function opsOf(ops: Operation[]): string[] {
  return ops.map((o) => ('table' in o ? `${o.op} ${o.table}` : o.op));
}

describe('planPortSettings', () => {
  it('creates Queue and QoS and points the port at them, guarded by a wait', () => {
    const v = view({ ports: [port(1, 'qvo1')], interfaces: [iface(1, 'qvo1')] });
    const plan = planPortSettings(v, [{ port: 'qvo1', ifaceId: 'neutron-1', qos: spec }], { owner: OWNER });
    assert.deepEqual(opsOf(plan.operations), ['wait Port', 'insert Queue', 'insert QoS', 'update Port']);
    const qosInsert = plan.operations[2];
    assert.ok(qosInsert?.op === 'insert');
    assert.equal(qosInsert.row.type, 'linux-htb');
    assert.deepEqual(qosInsert.row.other_config, { 'max-rate': '1000000000' });
    assert.deepEqual(qosInsert.row.external_ids, { [TAG_OWNER]: OWNER, [TAG_PORT]: 'qvo1', 'cm-iface-id': 'neutron-1' });
    const queues = qosInsert.row.queues as Map<number, NamedUuid>;
    assert.ok(queues.get(0) instanceof NamedUuid);
    const queueInsert = plan.operations[1];
    assert.ok(queueInsert?.op === 'insert');
    assert.deepEqual(queueInsert.row.other_config, { 'min-rate': '100000000', 'max-rate': '1000000000' });
  });

  it('renders rates beyond 2^53 exactly from bigint', () => {
    const v = view({ ports: [port(1, 'qvo1')], interfaces: [iface(1, 'qvo1')] });
    const big = 2n ** 60n;
    const plan = planPortSettings(v, [{ port: 'qvo1', qos: { maxRate: big, queues: [{ maxRate: big }] } }], { owner: OWNER });
    const qosInsert = plan.operations.find((o) => o.op === 'insert' && o.table === 'QoS');
    assert.ok(qosInsert?.op === 'insert');
    assert.deepEqual(qosInsert.row.other_config, { 'max-rate': '1152921504606846976' });
  });

  it('plans nothing when the owned QoS already matches', () => {
    const qos: QosRow = { _uuid: u(50), type: 'linux-htb', other_config: new Map([['max-rate', '1000000000']]), queues: new Map([[0, u(60)]]), external_ids: tags('qvo1') };
    const queue: QueueRow = { _uuid: u(60), other_config: new Map([['min-rate', '100000000'], ['max-rate', '1000000000']]), external_ids: tags('qvo1'), dscp: undefined };
    const v = view({ ports: [port(1, 'qvo1', u(50))], interfaces: [iface(1, 'qvo1')], qos: [qos], queues: [queue] });
    assert.equal(planPortSettings(v, [{ port: 'qvo1', qos: spec }], { owner: OWNER }).operations.length, 0);
    // A different rate replaces both rows and deletes the old ones in the same plan.
    const plan = planPortSettings(v, [{ port: 'qvo1', qos: { ...spec, maxRate: 2_000_000_000 } }], { owner: OWNER });
    assert.deepEqual(opsOf(plan.operations), ['wait Port', 'insert Queue', 'insert QoS', 'update Port', 'delete QoS', 'delete Queue']);
    assert.deepEqual(plan.deletes, { qos: 1, queues: 1 });
  });

  it('also deletes stray owned rows of the same port (left by a crash)', () => {
    const stray: QueueRow = { _uuid: u(70), other_config: new Map(), external_ids: tags('qvo1'), dscp: undefined };
    const v = view({ ports: [port(1, 'qvo1')], interfaces: [iface(1, 'qvo1')], queues: [stray] });
    const plan = planPortSettings(v, [{ port: 'qvo1', qos: null }], { owner: OWNER });
    assert.deepEqual(opsOf(plan.operations), ['wait Port', 'delete Queue']);
  });

  it('refuses a port whose QoS belongs to someone else', () => {
    const neutron: QosRow = { _uuid: u(80), type: 'linux-htb', other_config: new Map(), queues: new Map(), external_ids: new Map([['_type', 'bandwidth_limit']]) };
    const v = view({ ports: [port(1, 'qvo1', u(80))], interfaces: [iface(1, 'qvo1')], qos: [neutron] });
    assert.throws(() => planPortSettings(v, [{ port: 'qvo1', qos: spec }], { owner: OWNER }), /did not create/);
    assert.throws(() => planPortSettings(v, [{ port: 'qvo1', qos: null }], { owner: OWNER }), VswitchError);
    // Another agent's row is foreign too.
    const other: QosRow = { ...neutron, external_ids: tags('qvo1', 'agent-b') };
    const v2 = view({ ports: [port(1, 'qvo1', u(80))], interfaces: [iface(1, 'qvo1')], qos: [other] });
    assert.throws(() => planPortSettings(v2, [{ port: 'qvo1', qos: spec }], { owner: OWNER }), VswitchError);
  });

  it('sets policing on every interface of the port and tags it; clears only its own', () => {
    const v = view({ ports: [port(1, 'qvo1')], interfaces: [iface(1, 'qvo1')] });
    const plan = planPortSettings(v, [{ port: 'qvo1', policing: { rateKbps: 1000, burstKbits: 800 } }], { owner: OWNER, guard: false });
    assert.deepEqual(opsOf(plan.operations), ['update Interface', 'mutate Interface']);
    const foreign = view({ ports: [port(1, 'qvo1')], interfaces: [iface(1, 'qvo1', { ingress_policing_rate: 500 })] });
    assert.equal(planPortSettings(foreign, [{ port: 'qvo1', policing: null }], { owner: OWNER }).operations.length, 0);
    const ours = view({
      ports: [port(1, 'qvo1')],
      interfaces: [iface(1, 'qvo1', { ingress_policing_rate: 500, external_ids: new Map([[TAG_POLICING_OWNER, OWNER]]) })],
    });
    assert.deepEqual(opsOf(planPortSettings(ours, [{ port: 'qvo1', policing: null }], { owner: OWNER }).operations), [
      'wait Interface',
      'update Interface',
      'mutate Interface',
    ]);
  });

  it('validates before planning anything', () => {
    const v = view({ ports: [port(1, 'qvo1'), port(2, 'qvo2')], interfaces: [iface(1, 'qvo1'), iface(2, 'qvo2')] });
    const bad = (s: unknown): (() => void) => () => planPortSettings(v, [s as never], { owner: OWNER });
    assert.throws(bad({ port: 'qvo1', qos: { maxRate: 10, queues: [{ minRate: 20, maxRate: 10 }] } }), /minRate 20 > maxRate 10/);
    assert.throws(bad({ port: 'qvo1', qos: { maxRate: 1e300, queues: [{}] } }), /non-negative integer/);
    assert.throws(bad({ port: 'qvo1', qos: { maxRate: 10, queues: [{ priority: -1 }] } }), /priority/);
    assert.throws(bad({ port: 'qvo1', policing: { rateKbps: 0, burstKbits: 0 } }), /positive integer/);
    assert.throws(bad({ port: 'nope', qos: spec }), /no port named nope/);
    assert.throws(
      () => planPortSettings(v, [{ port: 'qvo1', qos: spec }, { port: 'qvo1', qos: null }], { owner: OWNER }),
      /appears twice/,
    );
  });
});

describe('findOwnedOrphans', () => {
  it('finds unreferenced owned QoS rows and the queues only they reference', () => {
    const used: QosRow = { _uuid: u(1), type: 'linux-htb', other_config: new Map(), queues: new Map([[0, u(11)]]), external_ids: tags('a') };
    const orphan: QosRow = { _uuid: u(2), type: 'linux-htb', other_config: new Map(), queues: new Map([[0, u(12)]]), external_ids: tags('b') };
    const foreignOrphan: QosRow = { _uuid: u(3), type: 'linux-htb', other_config: new Map(), queues: new Map(), external_ids: new Map() };
    const q = (n: number, owned = true): QueueRow => ({ _uuid: u(n), other_config: new Map(), external_ids: owned ? tags('x') : new Map(), dscp: undefined });
    const v = view({
      ports: [port(100, 'a', u(1))],
      qos: [used, orphan, foreignOrphan],
      queues: [q(11), q(12), q(13), q(14, false)],
    });
    const found = findOwnedOrphans(v, OWNER);
    assert.deepEqual(found.qos, [u(2)]);
    assert.deepEqual(found.queues.sort(), [u(12), u(13)]);
  });
});
