/**
 * The in-process server through the project's own OvsdbClient: transports,
 * RPC methods, typed transaction errors, monitors of the three protocol
 * versions with their update shapes, monitor_cond_since resuming after a
 * reconnect, garbage collection seen through monitors, `wait` with timeouts,
 * cancel, locks, and the Replica on top.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Duplex } from 'node:stream';
import { after, afterEach, before, describe, it } from 'node:test';
import { OvsdbClient } from '../client.ts';
import { namedUuid } from '../datum.ts';
import {
  ConstraintViolationError,
  NotOwnerError,
  OvsdbConnectionError,
  OvsdbRpcError,
  ReferentialIntegrityViolationError,
  WaitTimedOutError,
} from '../errors.ts';
import { JsonStreamSplitter, stringifyJson } from '../framing.ts';
import { eq, insert, mutate, remove, select, update, wait } from '../operations.ts';
import { Replica } from '../replica.ts';
import { InProcessOvsdbServer, createVswitchServer } from './index.ts';

const DB = 'Open_vSwitch';
const ZERO_UUID = '00000000-0000-0000-0000-000000000000';

interface Notification {
  method: string;
  params: unknown[];
}

/** A client on a new in-memory session, collecting its notifications. */
async function connect(server: InProcessOvsdbServer): Promise<{ client: OvsdbClient; notes: Notification[] }> {
  const client = await OvsdbClient.connect({
    endpoint: 'unix:/in-process',
    streamFactory: () => Promise.resolve(server.connectInProcess()),
    probeIntervalMs: 0,
    reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
  });
  const notes: Notification[] = [];
  client.on('notification', (method, params) => {
    notes.push({ method, params: params as unknown[] });
  });
  return { client, notes };
}

/** Speaks raw JSON-RPC over an in-memory session, for what OvsdbClient does not expose. */
function rawSession(server: InProcessOvsdbServer): { send: (message: unknown) => void; received: unknown[]; stream: Duplex } {
  const stream = server.connectInProcess();
  const splitter = new JsonStreamSplitter();
  const received: unknown[] = [];
  stream.on('data', (chunk: Buffer) => received.push(...splitter.push(chunk)));
  return { send: (message) => stream.write(stringifyJson(message)), received, stream };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function eventually(what: string, check: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/** The row updates of the last notification, for one table. */
function lastRows(notes: Notification[], table: string): Record<string, Record<string, unknown>> {
  const note = notes.at(-1);
  assert.ok(note, 'a notification arrived');
  const updates = (note.method === 'update3' ? note.params[2] : note.params[1]) as Record<string, Record<string, Record<string, unknown>>>;
  return updates[table] ?? {};
}

describe('InProcessOvsdbServer: transports and RPC methods', () => {
  let server: InProcessOvsdbServer;
  let dir: string;

  before(() => {
    server = createVswitchServer();
    dir = mkdtempSync(path.join(tmpdir(), 'cm-ovsdb-server-'));
  });

  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('listens on tcp (port 0 picks one) and unix sockets, and answers clients there', async () => {
    const tcp = await server.listen('tcp:127.0.0.1:0');
    assert.match(tcp, /^tcp:127\.0\.0\.1:[1-9][0-9]*$/);
    const unix = await server.listen(`unix:${path.join(dir, 'db.sock')}`);
    assert.equal(unix, `unix:${path.join(dir, 'db.sock')}`);
    for (const endpoint of [tcp, unix]) {
      const client = await OvsdbClient.connect({ endpoint, probeIntervalMs: 0 });
      try {
        assert.deepEqual(await client.listDbs(), ['Open_vSwitch', '_Server']);
        const [r] = await client.transact(DB, [select('Open_vSwitch', [], ['_uuid'])]);
        assert.equal(r?.rows?.length, 1, 'createVswitchServer() ran `ovs-vsctl init`');
      } finally {
        client.close();
      }
    }
  });

  it('get_schema returns the schema; errors have ovsdb-server\'s shape', async () => {
    const { client } = await connect(server);
    try {
      const schema = (await client.call('get_schema', [DB])) as { name: string; tables: Record<string, unknown> };
      assert.equal(schema.name, DB);
      assert.deepEqual(Object.keys(schema.tables).sort(), ['Bridge', 'Interface', 'Open_vSwitch', 'Port', 'QoS', 'Queue']);
      const unknownDb = await client.call('get_schema', ['Nope']).catch((e: unknown) => e);
      assert.ok(unknownDb instanceof OvsdbRpcError);
      assert.deepEqual(unknownDb.error, {
        error: 'unknown database',
        details: 'get_schema request specifies unknown database Nope',
        syntax: '["Nope"]',
      });
      const unknownMethod = await client.call('frobnicate', []).catch((e: unknown) => e);
      assert.ok(unknownMethod instanceof OvsdbRpcError);
      assert.equal(unknownMethod.error, 'unknown method');
      assert.deepEqual(await client.echo(['a', 1]), ['a', 1]);
      assert.match((await client.call('get_server_id', [])) as string, /^[0-9a-f-]{36}$/);
      const [dbs] = await client.transactWire('_Server', [{ op: 'select', table: 'Database', where: [], columns: ['name', 'model'] }]);
      assert.deepEqual((dbs as { rows: unknown[] }).rows.length, 2);
    } finally {
      client.close();
    }
  });

  it('maps transaction errors to the typed client errors, for operations and for the commit', async () => {
    const { client } = await connect(server);
    try {
      await assert.rejects(
        client.transact(DB, [insert('Port', { name: 'p-ref', interfaces: ['5d7f7fdc-5c9c-4212-a1bc-3c0b7c539d4e'] })]),
        (e: unknown) => e instanceof ReferentialIntegrityViolationError && e.atCommit && e.operationIndex === 1,
      );
      await client.transact(DB, [insert('Bridge', { name: 'br-dup' }, { uuidName: 'b' }), mutate('Open_vSwitch', [], [['bridges', 'insert', [namedUuid('b')]]])]);
      const dup = await client
        .transact(DB, [insert('Bridge', { name: 'br-dup' }, { uuidName: 'b' }), mutate('Open_vSwitch', [], [['bridges', 'insert', [namedUuid('b')]]])])
        .catch((e: unknown) => e);
      assert.ok(dup instanceof ConstraintViolationError);
      assert.match(dup.details ?? '', /^Transaction causes multiple rows in "Bridge" table to have identical values \(br-dup\) for index on column "name"\./);
      await assert.rejects(client.transact(DB, [{ op: 'assert', lock: 'nobody' }]), NotOwnerError);
    } finally {
      client.close();
    }
  });

  it('server.transact() runs wire operations directly and returns the raw results', async () => {
    const results = await server.transact(DB, [
      { op: 'insert', table: 'Queue', row: { dscp: 1 }, 'uuid-name': 'q' },
      { op: 'select', table: 'Queue', where: [['_uuid', '==', ['named-uuid', 'q']]], columns: ['dscp'] },
      { op: 'abort' },
    ]);
    assert.deepEqual(results.slice(1), [{ rows: [{ dscp: 1 }] }, { error: 'aborted', details: 'aborted by request' }]);
    await assert.rejects(server.transact('Nope', []), OvsdbRpcError);
  });

  it('drops a session that sends something that is not JSON-RPC', async () => {
    const raw = rawSession(server);
    const closed = new Promise((resolve) => raw.stream.once('close', resolve));
    raw.send({ method: 'list_dbs', id: 1 }); // no "params": ovsdb-server drops the connection
    await closed;
  });
});

describe('InProcessOvsdbServer: inactivity probes on TCP', () => {
  it('sends echo to an idle client, keeps one that answers and drops one that does not', async () => {
    const server = createVswitchServer({ inactivityProbeMs: 100 });
    const endpoint = await server.listen('tcp:127.0.0.1:0');
    const answering = await OvsdbClient.connect({ endpoint, probeIntervalMs: 0, reconnect: { enabled: false } });
    let answeringDropped = false;
    answering.on('disconnected', () => {
      answeringDropped = true;
    });
    const port = Number(endpoint.split(':').at(-1));
    const silent = net.connect({ host: '127.0.0.1', port });
    const splitter = new JsonStreamSplitter();
    const fromServer: unknown[] = [];
    silent.on('data', (chunk: Buffer) => fromServer.push(...splitter.push(chunk)));
    const silentClosed = new Promise((resolve) => silent.once('close', resolve));
    try {
      const started = Date.now();
      await silentClosed;
      const elapsed = Date.now() - started;
      assert.deepEqual(fromServer, [{ id: 'echo', method: 'echo', params: [] }]);
      assert.ok(elapsed >= 150 && elapsed < 2000, `dropped after ${String(elapsed)} ms`);
      await sleep(150);
      assert.equal(answeringDropped, false, 'a client that answers the probes stays');
      assert.deepEqual(await answering.echo(['still here']), ['still here']);
    } finally {
      answering.close();
      silent.destroy();
      await server.close();
    }
  });
});

describe('InProcessOvsdbServer: monitors', () => {
  let server: InProcessOvsdbServer;
  const clients: OvsdbClient[] = [];

  before(() => {
    server = createVswitchServer();
  });

  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });

  after(async () => {
    await server.close();
  });

  async function open(): Promise<{ client: OvsdbClient; notes: Notification[] }> {
    const c = await connect(server);
    clients.push(c.client);
    return c;
  }

  it('monitor (v1): initial rows as "new", then old/new with only the changed columns in "old"', async () => {
    const { client, notes } = await open();
    const initial = (await client.call('monitor', [DB, 'm1', { Queue: { columns: ['dscp', 'external_ids'] } }])) as Record<string, unknown>;
    assert.deepEqual(initial, {}, 'no queues yet');
    const [q] = await client.transact(DB, [insert('Queue', { dscp: 1, external_ids: { a: '1' } })]);
    const uuid = q?.uuid ?? '';
    // The update for our own transaction arrived before its reply.
    assert.deepEqual(lastRows(notes, 'Queue')[uuid], { new: { dscp: 1, external_ids: ['map', [['a', '1']]] } });
    await client.transact(DB, [update('Queue', [eq('_uuid', uuid)], { dscp: 2 })]);
    assert.deepEqual(lastRows(notes, 'Queue')[uuid], { old: { dscp: 1 }, new: { dscp: 2, external_ids: ['map', [['a', '1']]] } });
    await client.transact(DB, [remove('Queue', [eq('_uuid', uuid)])]);
    assert.deepEqual(lastRows(notes, 'Queue')[uuid], { old: { dscp: 2, external_ids: ['map', [['a', '1']]] } });
    assert.ok(notes.every((n) => n.method === 'update' && n.params[0] === 'm1'));
  });

  it('monitor_cond (v2): initial omits defaults; modify carries diffs per column kind', async () => {
    const { client, notes } = await open();
    const [r0, r1, qos] = await client.transact(DB, [
      insert('Queue', {}, { uuidName: 'q0' }),
      insert('Queue', {}, { uuidName: 'q1' }),
      insert('QoS', { type: 'linux-htb', other_config: { 'max-rate': '10', keep: 'x' }, queues: { 0: namedUuid('q0') } }),
    ]);
    const [q0, q1, qosUuid] = [r0?.uuid ?? '', r1?.uuid ?? '', qos?.uuid ?? ''];
    const initial = (await client.call('monitor_cond', [DB, 'c', { QoS: [{ columns: ['type', 'other_config', 'queues', 'external_ids'], where: [['_uuid', '==', ['uuid', qosUuid]]] }], Queue: [{ columns: ['dscp'] }] }])) as Record<string, Record<string, unknown>>;
    assert.deepEqual(initial.QoS?.[qosUuid], {
      initial: { type: 'linux-htb', other_config: ['map', [['keep', 'x'], ['max-rate', '10']]], queues: ['map', [[0, ['uuid', q0]]]] },
    }, 'external_ids (empty, the default) is omitted');
    assert.deepEqual(initial.Queue?.[q0], { initial: {} }, 'a row with only default values');
    await client.transact(DB, [
      mutate('QoS', [eq('_uuid', qosUuid)], [
        ['other_config', 'delete', ['max-rate']],
        ['other_config', 'insert', { 'max-rate': '20', new: 'y' }],
        ['queues', 'insert', new Map([[1, q1]])],
      ]),
      update('QoS', [eq('_uuid', qosUuid)], { type: 'linux-hfsc' }),
    ]);
    assert.deepEqual(lastRows(notes, 'QoS')[qosUuid], {
      modify: {
        type: 'linux-hfsc',
        other_config: ['map', [['max-rate', '20'], ['new', 'y']]],
        queues: ['map', [[1, ['uuid', q1]]]],
      },
    }, 'maps: changed and added pairs with their new values; scalars: the new value');
    await client.transact(DB, [mutate('QoS', [eq('_uuid', qosUuid)], [['other_config', 'delete', ['keep']], ['queues', 'delete', [0]]])]);
    assert.deepEqual(lastRows(notes, 'QoS')[qosUuid], {
      modify: { other_config: ['map', [['keep', 'x']]], queues: ['map', [[0, ['uuid', q0]]]] },
    }, 'maps: removed pairs with their old values');
    await client.transact(DB, [update('Queue', [eq('_uuid', q0)], { dscp: 5 })]);
    assert.deepEqual(lastRows(notes, 'Queue')[q0], { modify: { dscp: 5 } });
    await client.transact(DB, [update('Queue', [eq('_uuid', q0)], { dscp: 6 })]);
    assert.deepEqual(lastRows(notes, 'Queue')[q0], { modify: { dscp: 6 } }, 'optional columns carry the new value, not a diff');
    await client.transact(DB, [update('Queue', [eq('_uuid', q0)], { dscp: [] })]);
    assert.deepEqual(lastRows(notes, 'Queue')[q0], { modify: { dscp: ['set', []] } });
    const count = notes.length;
    await client.transact(DB, [update('Queue', [eq('_uuid', q0)], { external_ids: { only: 'unmonitored' } })]);
    assert.equal(notes.length, count, 'no update when only unmonitored columns change');
    await client.transact(DB, [remove('QoS', [eq('_uuid', qosUuid)]), remove('Queue', [])]);
    assert.deepEqual(lastRows(notes, 'QoS')[qosUuid], { delete: null });
    assert.ok(notes.every((n) => n.method === 'update2' && n.params[0] === 'c'));
  });

  it('monitor_cond: rows entering or leaving the condition are inserts and deletes; select flags and monitor_cond_change apply', async () => {
    const { client, notes } = await open();
    await client.call('monitor_cond', [DB, ['any', 'json'], { Queue: [{ columns: ['dscp'], where: [['dscp', '==', 1], ['dscp', '==', 2]], select: { modify: false } }] }]);
    const [q] = await client.transact(DB, [insert('Queue', { dscp: 3 })]);
    const uuid = q?.uuid ?? '';
    assert.equal(notes.length, 0, 'not matching: nothing sent');
    await client.transact(DB, [update('Queue', [eq('_uuid', uuid)], { dscp: 1 })]);
    assert.deepEqual(lastRows(notes, 'Queue')[uuid], { insert: { dscp: 1 } });
    assert.deepEqual(notes.at(-1)?.params[0], ['any', 'json']);
    await client.transact(DB, [update('Queue', [eq('_uuid', uuid)], { dscp: 2 })]);
    assert.equal(notes.length, 1, 'select.modify is false');
    await client.transact(DB, [update('Queue', [eq('_uuid', uuid)], { dscp: 4 })]);
    assert.deepEqual(lastRows(notes, 'Queue')[uuid], { delete: null });
    assert.deepEqual(await client.call('monitor_cond_change', [['any', 'json'], 'renamed', { Queue: [{ where: [['dscp', '==', 4]] }] }]), {});
    assert.deepEqual(notes.at(-1), { method: 'update2', params: ['renamed', { Queue: { [uuid]: { insert: { dscp: 4 } } } }] });
    await assert.rejects(client.call('monitor_cancel', [['any', 'json']]), (e: unknown) => e instanceof OvsdbRpcError && e.error === 'unknown monitor');
    assert.deepEqual(await client.call('monitor_cancel', ['renamed']), {});
    await client.transact(DB, [remove('Queue', [eq('_uuid', uuid)])]);
    assert.equal(notes.length, 3, 'cancelled: nothing more');
  });

  it('rejects bad monitor requests like ovsdb-server', async () => {
    const { client } = await open();
    const error = async (params: unknown[], method = 'monitor_cond'): Promise<unknown> =>
      ((await client.call(method, params).catch((e: unknown) => e)) as OvsdbRpcError).error;
    assert.deepEqual(await error([DB, 'x', { Nope: [{}] }]), { error: 'syntax error', details: 'no table named Nope' });
    assert.deepEqual(await error([DB, 'x', { Queue: [{ columns: ['nope'] }] }]), { error: 'syntax error', details: 'nope is not a valid column name', syntax: '["nope"]' });
    assert.deepEqual(await error([DB, 'x', { Queue: { where: [] } }], 'monitor'), {
      error: 'syntax error',
      details: "Parsing table Queue failed: Member 'where' is present but not allowed here.",
      syntax: '{"where":[]}',
    });
    assert.deepEqual(await error([DB, 'x', {}, 'not-a-uuid'], 'monitor_cond_since'), {
      error: 'syntax error',
      details: 'last-txn-id must be UUID format.',
      syntax: '"not-a-uuid"',
    });
    await client.call('monitor_cond', [DB, 'dup', {}]);
    assert.deepEqual(await error([DB, 'dup', {}]), { error: 'syntax error', details: 'duplicate monitor ID', syntax: '"dup"' });
  });

  it('garbage collection shows as deletes: a Port removed from its Bridge takes its Interface along', async () => {
    const { client, notes } = await open();
    await client.transact(DB, [
      insert('Interface', { name: 'gc-if' }, { uuidName: 'i' }),
      insert('Port', { name: 'gc-port', interfaces: [namedUuid('i')] }, { uuidName: 'p' }),
      insert('Bridge', { name: 'gc-br', ports: [namedUuid('p')] }, { uuidName: 'b' }),
      mutate('Open_vSwitch', [], [['bridges', 'insert', [namedUuid('b')]]]),
    ]);
    await client.call('monitor_cond', [DB, 'gc', { Port: [{ columns: ['name'] }], Interface: [{ columns: ['name'] }] }]);
    await client.transact(DB, [update('Bridge', [eq('name', 'gc-br')], { ports: [] })]);
    const note = notes.at(-1);
    const updates = note?.params[1] as Record<string, Record<string, unknown>>;
    assert.deepEqual(Object.values(updates.Port ?? {}), [{ delete: null }]);
    assert.deepEqual(Object.values(updates.Interface ?? {}), [{ delete: null }]);
    const [ports] = await client.transact(DB, [select('Port', [eq('name', 'gc-port')])]);
    assert.deepEqual(ports?.rows, []);
  });
});

describe('InProcessOvsdbServer: monitor_cond_since across reconnects', () => {
  it('answers found=false with everything at first, then found=true with only what changed', async () => {
    const server = createVswitchServer();
    const { client, notes } = await connect(server);
    const writer = await connect(server);
    try {
      const requests = { Queue: [{ columns: ['dscp'] }] };
      const [found0, lastId0, initial] = (await client.call('monitor_cond_since', [DB, 's', requests, ZERO_UUID])) as [boolean, string, unknown];
      assert.equal(found0, false);
      assert.notEqual(lastId0, ZERO_UUID);
      assert.deepEqual(initial, {});
      const [a] = await client.transact(DB, [insert('Queue', { dscp: 1 })]);
      const note = notes.at(-1);
      assert.equal(note?.method, 'update3');
      const lastId = note.params[1] as string;
      assert.notEqual(lastId, lastId0);
      assert.deepEqual(note.params[2], { Queue: { [a?.uuid ?? '']: { insert: { dscp: 1 } } } });

      // The connection drops; meanwhile another client changes things.
      const reconnected = new Promise((resolve) => client.once('connected', resolve));
      const writerDropped = new Promise((resolve) => writer.client.once('disconnected', resolve));
      server.dropSessions();
      await Promise.all([reconnected, writerDropped]);
      await writer.client.whenConnected();
      const [b] = await writer.client.transact(DB, [insert('Queue', { dscp: 2 }), update('Queue', [eq('_uuid', a?.uuid ?? '')], { dscp: 3 })]);
      await writer.client.transact(DB, [insert('Queue', { dscp: 9 }, { uuidName: 'gone' }), remove('Queue', [eq('dscp', 9)])]);

      const [found, newLastId, changes] = (await client.call('monitor_cond_since', [DB, 's', requests, lastId])) as [boolean, string, unknown];
      assert.equal(found, true);
      assert.notEqual(newLastId, lastId);
      assert.deepEqual(changes, {
        Queue: { [a?.uuid ?? '']: { modify: { dscp: 3 } }, [b?.uuid ?? '']: { insert: { dscp: 2 } } },
      });
      await client.call('monitor_cancel', ['s']);
      const [upToDate, , nothing] = (await client.call('monitor_cond_since', [DB, 's', requests, newLastId])) as [boolean, string, unknown];
      assert.equal(upToDate, true);
      assert.deepEqual(nothing, {});
      await client.call('monitor_cancel', ['s']);
      const [unknown, , full] = (await client.call('monitor_cond_since', [DB, 's', requests, '5d7f7fdc-5c9c-4212-a1bc-3c0b7c539d4e'])) as [boolean, string, Record<string, Record<string, unknown>>];
      assert.equal(unknown, false);
      assert.equal(Object.keys(full.Queue ?? {}).length, 2);
    } finally {
      client.close();
      writer.client.close();
      await server.close();
    }
  });

  it('with txnHistoryLimit 0 it answers like a standalone ovsdb-server', async () => {
    const server = createVswitchServer({ txnHistoryLimit: 0 });
    const { client, notes } = await connect(server);
    try {
      const [found, lastId] = (await client.call('monitor_cond_since', [DB, 's', { Queue: [{}] }, ZERO_UUID])) as [boolean, string];
      assert.deepEqual([found, lastId], [false, ZERO_UUID]);
      await client.transact(DB, [insert('Queue', {})]);
      assert.equal(notes.at(-1)?.params[1], ZERO_UUID);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('keeps a Replica in sync through a dropped connection, resuming with found=true', async () => {
    const server = createVswitchServer();
    const { client } = await connect(server);
    const writer = await connect(server);
    const replica = new Replica(client, { db: DB, tables: { Queue: ['dscp', 'external_ids'] } });
    const syncs: { found: boolean }[] = [];
    replica.on('synced', (info) => syncs.push(info));
    try {
      await replica.start();
      const [q] = await writer.client.transact(DB, [insert('Queue', { dscp: 1 })]);
      await eventually('the insert', () => replica.get('Queue', q?.uuid ?? '') !== undefined);
      const writerDropped = new Promise((resolve) => writer.client.once('disconnected', resolve));
      server.dropSessions();
      await writerDropped;
      await writer.client.whenConnected();
      await writer.client.transact(DB, [update('Queue', [eq('_uuid', q?.uuid ?? '')], { dscp: 7 })]);
      await eventually('the resync', () => syncs.length === 2 && replica.synced);
      assert.deepEqual(syncs.map((s) => s.found), [false, true]);
      assert.equal(replica.get('Queue', q?.uuid ?? '')?.dscp, 7);
    } finally {
      replica.stop();
      client.close();
      writer.client.close();
      await server.close();
    }
  });
});

describe('InProcessOvsdbServer: wait, cancel and locks', () => {
  let server: InProcessOvsdbServer;

  before(() => {
    server = createVswitchServer();
  });

  after(async () => {
    await server.close();
  });

  it('a wait with a timeout completes when another client commits what it waits for', async () => {
    const a = await connect(server);
    const b = await connect(server);
    try {
      const waiting = a.client.transact(DB, [
        wait('Queue', [eq('external_ids', { w: 'arrives' })], ['dscp'], [{ dscp: 4 }], { timeout: 5000 }),
        select('Queue', [eq('external_ids', { w: 'arrives' })], ['dscp']),
      ]);
      await sleep(20);
      await b.client.transact(DB, [insert('Queue', { dscp: 4, external_ids: { w: 'arrives' } })]);
      const [, selected] = await waiting;
      assert.deepEqual(selected?.rows, [{ dscp: 4 }]);
    } finally {
      a.client.close();
      b.client.close();
    }
  });

  it('a wait times out with ovsdb-server\'s details', async () => {
    const { client } = await connect(server);
    try {
      const started = Date.now();
      const error = await client
        .transact(DB, [wait('Queue', [eq('external_ids', { w: 'never' })], ['dscp'], [{ dscp: 1 }], { timeout: 100 })])
        .catch((e: unknown) => e);
      assert.ok(error instanceof WaitTimedOutError);
      assert.match(error.details ?? '', /^"wait" timed out after 1[0-9][0-9] ms$/);
      assert.ok(Date.now() - started >= 100);
      await assert.rejects(
        client.transact(DB, [wait('Queue', [eq('external_ids', { w: 'never' })], ['dscp'], [{ dscp: 1 }])]),
        (e: unknown) => e instanceof WaitTimedOutError && e.details === '"where" clause test failed',
      );
    } finally {
      client.close();
    }
  });

  it('a "cancel" notification drops a waiting transaction without a reply', async () => {
    const raw = rawSession(server);
    raw.send({
      id: 'w1',
      method: 'transact',
      params: [DB, { op: 'wait', table: 'Queue', where: [], columns: ['dscp'], until: '==', rows: [{ dscp: 42 }], timeout: 60000 }],
    });
    raw.send({ id: null, method: 'cancel', params: ['w1'] });
    raw.send({ id: 'e', method: 'echo', params: [] });
    await eventually('the echo reply', () => raw.received.length > 0);
    await server.transact(DB, [{ op: 'insert', table: 'Queue', row: { dscp: 42 } }]);
    await sleep(20);
    assert.deepEqual(raw.received, [{ id: 'e', result: [], error: null }]);
    raw.stream.destroy();
  });

  it('lock, steal and unlock notify the other sessions; assert follows ownership', async () => {
    const a = await connect(server);
    const b = await connect(server);
    try {
      assert.deepEqual(await a.client.call('lock', ['L']), { locked: true });
      assert.deepEqual(await b.client.call('lock', ['L']), { locked: false });
      await a.client.transact(DB, [{ op: 'assert', lock: 'L' }]);
      await assert.rejects(b.client.transact(DB, [{ op: 'assert', lock: 'L' }]), NotOwnerError);
      const lockError = await a.client.call('lock', ['L']).catch((e: unknown) => e);
      assert.ok(lockError instanceof OvsdbRpcError);
      assert.deepEqual(lockError.error, { error: 'syntax error', details: 'must issue "unlock" before new "lock"', syntax: '["L"]' });
      assert.deepEqual(await a.client.call('unlock', ['L']), {});
      await eventually('"locked"', () => b.notes.some((n) => n.method === 'locked'));
      assert.deepEqual(b.notes.at(-1), { method: 'locked', params: ['L'] });
      assert.deepEqual(await a.client.call('steal', ['L']), { locked: true });
      await eventually('"stolen"', () => b.notes.some((n) => n.method === 'stolen'));
      assert.deepEqual(b.notes.at(-1), { method: 'stolen', params: ['L'] });
      a.client.close();
      await eventually('ownership back to b', () => b.notes.filter((n) => n.method === 'locked').length === 2);
      await b.client.transact(DB, [{ op: 'assert', lock: 'L' }]);
    } finally {
      a.client.close();
      b.client.close();
    }
  });
});

describe('InProcessOvsdbServer: dropSessions and close', () => {
  it('dropSessions() disconnects clients but keeps the data; close() ends everything, and the server can listen again', async () => {
    const server = createVswitchServer();
    const endpoint = await server.listen('tcp:127.0.0.1:0');
    const client = await OvsdbClient.connect({ endpoint, probeIntervalMs: 0, reconnect: { initialDelayMs: 10, maxDelayMs: 20 } });
    try {
      await client.transact(DB, [insert('Queue', { dscp: 11 })]);
      const dropped = new Promise((resolve) => client.once('disconnected', resolve));
      server.dropSessions();
      await dropped;
      await client.whenConnected({ signal: AbortSignal.timeout(3000) });
      const [r] = await client.transact(DB, [select('Queue', [eq('dscp', 11)], ['dscp'])]);
      assert.deepEqual(r?.rows, [{ dscp: 11 }]);

      const down = new Promise((resolve) => client.once('disconnected', resolve));
      await server.close();
      await down;
      await assert.rejects(client.echo([]), OvsdbConnectionError);
      assert.equal(server.sessionCount, 0);
      assert.equal(await server.listen(endpoint), endpoint);
      await client.whenConnected({ signal: AbortSignal.timeout(3000) });
      const [again] = await client.transact(DB, [select('Queue', [eq('dscp', 11)], ['dscp'])]);
      assert.deepEqual(again?.rows, [{ dscp: 11 }]);
    } finally {
      client.close();
      await server.close();
    }
  });

  it('serves several schemas side by side', async () => {
    const server = new InProcessOvsdbServer({
      schemas: [{ name: 'Extra', version: '1.0.0', tables: { Item: { columns: { n: { type: 'integer' } } } } }],
    });
    try {
      const results = await server.transact('Extra', [{ op: 'insert', table: 'Item', row: { n: 1 } }, { op: 'select', table: 'Item', where: [], columns: ['n'] }]);
      assert.deepEqual(results[1], { rows: [{ n: 1 }] });
      assert.deepEqual(server.databaseNames, ['Extra', '_Server']);
      assert.throws(() => new InProcessOvsdbServer({ schemas: [{ name: 'A', tables: {} }, { name: 'A', tables: {} }] }), /duplicate database A/);
    } finally {
      await server.close();
    }
  });
});
