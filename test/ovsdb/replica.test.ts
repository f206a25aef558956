/**
 * The monitor-fed replica against a real ovsdb-server and the in-process one:
 * initial state, per-row change events for every column kind, each monitor
 * protocol of the fallback chain, indexes, and resync after reconnects
 * without missing what changed while the connection was down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { namedUuid } from '../../src/ovsdb/datum.ts';
import { eq, insert, mutate, remove, select, setMapKeys, update } from '../../src/ovsdb/operations.ts';
import { Replica, type MonitorMethod, type RowChange } from '../../src/ovsdb/replica.ts';
import { serverTargets } from './targets.ts';

const DB = 'Open_vSwitch';

const targets = serverTargets();

function waitFor(predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = (): void => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

for (const target of targets) {
  describe(`replica (${target.name})`, { skip: target.skip }, () => {
    let stop: () => Promise<void> = () => Promise.resolve();
    let endpoint: string;
    let writer: OvsdbClient;

    before(async () => {
      const started = await target.start();
      stop = started.stop;
      endpoint = started.endpoint;
      writer = await OvsdbClient.connect({ endpoint });
    });

    after(async () => {
      writer.close();
      await stop();
    });

    for (const method of ['monitor_cond_since', 'monitor_cond', 'monitor'] as MonitorMethod[]) {
      it(`follows inserts, modifications of every column kind and deletes (${method})`, async () => {
        const client = await OvsdbClient.connect({ endpoint });
        const replica = new Replica(client, {
          db: DB,
          tables: { QoS: ['type', 'other_config', 'queues', 'external_ids'], Queue: 'all' },
          preferMethod: method,
        });
        const changes: RowChange[] = [];
        replica.on('change', (c) => changes.push(c));
        try {
          await replica.start();
          assert.equal(replica.method, method);
          assert.equal(replica.synced, true);
          const tag = `t-${method}`;
          const [q0, q1, qos] = await client.transact(DB, [
            insert('Queue', { other_config: { 'max-rate': '1000' }, external_ids: { tag } }, { uuidName: 'q0' }),
            insert('Queue', { other_config: { 'max-rate': '2000' }, external_ids: { tag }, dscp: 10 }, { uuidName: 'q1' }),
            insert('QoS', { type: 'linux-htb', queues: { 0: namedUuid('q0') }, external_ids: { tag, a: '1' } }),
          ]);
          const qosUuid = qos?.uuid ?? '';
          // A client's own commit is visible when transact returns: ovsdb-server sends the update before the reply.
          const row = replica.get('QoS', qosUuid);
          assert.ok(row, 'inserted row present');
          assert.equal(row.type, 'linux-htb');
          assert.deepEqual([...(row.queues as Map<number, string>)], [[0, q0?.uuid]]);
          assert.equal(replica.get('Queue', q1?.uuid ?? '')?.dscp, 10);
          assert.equal(replica.get('Queue', q0?.uuid ?? '')?.dscp, undefined, 'omitted optional column defaults to empty');

          await client.transact(DB, [
            mutate('QoS', [eq('_uuid', qosUuid)], [...setMapKeys('external_ids', { a: '2', b: 'x' })]),
            mutate('QoS', [eq('_uuid', qosUuid)], [['queues', 'insert', { 1: q1?.uuid }]]),
            update('QoS', [eq('_uuid', qosUuid)], { type: 'linux-hfsc' }),
            update('Queue', [eq('_uuid', q1?.uuid ?? '')], { dscp: 20 }),
            update('Queue', [eq('_uuid', q0?.uuid ?? '')], { dscp: 5 }),
          ]);
          const modified = replica.get('QoS', qosUuid);
          assert.equal(modified?.type, 'linux-hfsc');
          assert.deepEqual(Object.fromEntries(modified.external_ids as Map<string, string>), { tag, a: '2', b: 'x' });
          assert.equal((modified.queues as Map<number, string>).size, 2);
          assert.equal(replica.get('Queue', q1?.uuid ?? '')?.dscp, 20, 'optional column replaced, not diffed');
          assert.equal(replica.get('Queue', q0?.uuid ?? '')?.dscp, 5);

          await client.transact(DB, [
            update('Queue', [eq('_uuid', q1?.uuid ?? '')], { dscp: [] }),
            mutate('QoS', [eq('_uuid', qosUuid)], [['external_ids', 'delete', ['a']], ['queues', 'delete', [1]]]),
          ]);
          assert.equal(replica.get('Queue', q1?.uuid ?? '')?.dscp, undefined);
          assert.deepEqual(Object.fromEntries(replica.get('QoS', qosUuid)?.external_ids as Map<string, string>), { tag, b: 'x' });
          assert.equal((replica.get('QoS', qosUuid)?.queues as Map<number, string>).size, 1);

          await client.transact(DB, [
            remove('QoS', [eq('_uuid', qosUuid)]),
            remove('Queue', [['external_ids', 'includes', { tag }]]),
          ]);
          assert.equal(replica.get('QoS', qosUuid), undefined);
          const kinds = changes.filter((c) => c.uuid === qosUuid).map((c) => c.kind);
          assert.deepEqual(kinds, ['insert', 'update', 'update', 'delete']);
          const deleted = changes.find((c) => c.uuid === qosUuid && c.kind === 'delete');
          assert.equal(deleted?.old?.type, 'linux-hfsc', 'a delete event carries the last row');
        } finally {
          replica.stop();
          client.close();
        }
      });
    }

    it('maintains secondary indexes', async () => {
      const client = await OvsdbClient.connect({ endpoint });
      const replica = new Replica(client, { db: DB, tables: { Queue: ['external_ids'] } });
      try {
        await replica.start();
        replica.addIndex('by-port', 'Queue', (row) => {
          const port = (row.external_ids as Map<string, string>).get('port');
          return port === undefined ? [] : [port];
        });
        await client.transact(DB, [insert('Queue', { external_ids: { port: 'p-index' } })]);
        assert.equal(replica.lookup('by-port', 'p-index').length, 1);
        await client.transact(DB, [mutate('Queue', [['external_ids', 'includes', { port: 'p-index' }]], setMapKeys('external_ids', { port: 'p-moved' }))]);
        assert.equal(replica.lookup('by-port', 'p-index').length, 0);
        assert.equal(replica.lookup('by-port', 'p-moved').length, 1);
        await client.transact(DB, [remove('Queue', [['external_ids', 'includes', { port: 'p-moved' }]])]);
        assert.equal(replica.lookup('by-port', 'p-moved').length, 0);
      } finally {
        replica.stop();
        client.close();
      }
    });

    it('resyncs after a reconnect and reports what changed while it was away', async () => {
      const client = await OvsdbClient.connect({
        endpoint,
        reconnect: { initialDelayMs: 400, maxDelayMs: 400 },
      });
      const replica = new Replica(client, { db: DB, tables: { Queue: ['external_ids', 'other_config'] } });
      const changes: RowChange[] = [];
      const syncs: { method: MonitorMethod; found: boolean }[] = [];
      replica.on('change', (c) => changes.push(c));
      replica.on('synced', (s) => syncs.push(s));
      try {
        const [kept, doomed] = await writer.transact(DB, [
          insert('Queue', { external_ids: { r: 'kept' } }),
          insert('Queue', { external_ids: { r: 'doomed' } }),
        ]);
        await replica.start();
        assert.ok(replica.get('Queue', doomed?.uuid ?? ''));
        changes.length = 0;
        client.dropConnection();
        assert.equal(replica.synced, false, 'not trusted while disconnected');
        // While the replica is disconnected: one row deleted, one modified, one added.
        const [, , added] = await writer.transact(DB, [
          remove('Queue', [eq('_uuid', doomed?.uuid ?? '')]),
          update('Queue', [eq('_uuid', kept?.uuid ?? '')], { other_config: { 'max-rate': '5' } }),
          insert('Queue', { external_ids: { r: 'added' } }),
        ]);
        await replica.whenSynced({ signal: AbortSignal.timeout(5000) });
        assert.equal(syncs.length, 2);
        assert.equal(replica.get('Queue', doomed?.uuid ?? ''), undefined);
        assert.equal((replica.get('Queue', kept?.uuid ?? '')?.other_config as Map<string, string>).get('max-rate'), '5');
        assert.ok(replica.get('Queue', added?.uuid ?? ''));
        const seen = new Map(changes.map((c) => [c.uuid, c.kind]));
        assert.equal(seen.get(doomed?.uuid ?? ''), 'delete');
        assert.equal(seen.get(kept?.uuid ?? ''), 'update');
        assert.equal(seen.get(added?.uuid ?? ''), 'insert');
        // Later changes keep flowing on the new monitor.
        await writer.transact(DB, [remove('Queue', [eq('_uuid', kept?.uuid ?? '')])]);
        await waitFor(() => replica.get('Queue', kept?.uuid ?? '') === undefined, 'delete after resync');
        const [all] = await writer.transact(DB, [select('Queue', [], ['_uuid'])]);
        assert.equal(replica.table('Queue').size, all?.rows?.length);
      } finally {
        replica.stop();
        client.close();
      }
    });
  });
}
