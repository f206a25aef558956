/**
 * The behaviour suite against the in-process OVSDB server (src/ovsdb/server),
 * over a unix socket and over TCP, plus what only the in-process server has:
 * in-memory streams (connectInProcess) and dropSessions().
 *
 * The real ovsdb-server is the reference (real-server.test.ts runs the same
 * suite); a failure here that passes there is a bug of the in-process server.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { OvsdbConnectionError } from '../../src/ovsdb/errors.ts';
import { includes, insert, select } from '../../src/ovsdb/operations.ts';
import { createVswitchServer, type InProcessOvsdbServer } from '../../src/ovsdb/server/index.ts';
import { makeTempDir, removeTempDir } from '../harness/ovsdb-server.ts';
import { runOvsdbBehaviourSuite, type SuiteServer } from './suite.ts';

async function startInProcess(primary: 'unix' | 'tcp'): Promise<SuiteServer> {
  const dir = await makeTempDir('cm-inproc-');
  const server = createVswitchServer({ init: true });
  const unix = await server.listen(`unix:${path.join(dir, 'db.sock')}`);
  const tcp = await server.listen('tcp:127.0.0.1:0');
  return {
    endpoints: primary === 'unix' ? [unix, tcp] : [tcp, unix],
    stop: async () => {
      await server.close();
      await removeTempDir(dir);
    },
    // "Kill and start again": every session and listener goes away, then the
    // same server (same data) listens again on the same endpoints.
    restart: async () => {
      await server.close();
      assert.equal(await server.listen(unix), unix);
      assert.equal(await server.listen(tcp), tcp);
    },
  };
}

runOvsdbBehaviourSuite('in-process server, unix socket', () => startInProcess('unix'));
runOvsdbBehaviourSuite('in-process server, tcp', () => startInProcess('tcp'));

describe('in-process server: in-memory streams and dropSessions', () => {
  let server: InProcessOvsdbServer;
  let client: OvsdbClient;

  before(async () => {
    server = createVswitchServer({ init: true });
    client = await OvsdbClient.connect({
      endpoint: 'unix:/in-process',
      streamFactory: () => Promise.resolve(server.connectInProcess()),
      reconnect: { initialDelayMs: 20, maxDelayMs: 100 },
    });
  });

  after(async () => {
    client.close();
    await server.close();
  });

  it('serves a client over connectInProcess()', async () => {
    assert.ok((await client.listDbs()).includes('Open_vSwitch'));
    const [r] = await client.transact('Open_vSwitch', [select('Open_vSwitch', [], ['_uuid'])]);
    assert.equal(r?.rows?.length, 1, 'init: true created the Open_vSwitch row');
    const [q] = await client.transact('Open_vSwitch', [insert('Queue', { dscp: 3, external_ids: { t: 'mem' } })]);
    assert.ok(q?.uuid);
  });

  it('createVswitchServer({ init: false }) has no Open_vSwitch row', async () => {
    const bare = createVswitchServer({ init: false });
    const c = await OvsdbClient.connect({
      endpoint: 'unix:/in-process',
      streamFactory: () => Promise.resolve(bare.connectInProcess()),
      reconnect: { enabled: false },
    });
    try {
      const [r] = await c.transact('Open_vSwitch', [select('Open_vSwitch', [])]);
      assert.deepEqual(r?.rows, []);
    } finally {
      c.close();
      await bare.close();
    }
  });

  it('dropSessions() disconnects every client; they reconnect and the data is still there', async () => {
    const disconnected = new Promise<Error | undefined>((resolve) => {
      client.once('disconnected', resolve);
    });
    server.dropSessions();
    const error = await disconnected;
    assert.ok(error === undefined || error instanceof Error);
    await assert.rejects(client.echo([]), OvsdbConnectionError);
    await client.whenConnected({ signal: AbortSignal.timeout(5000) });
    const [r] = await client.transact('Open_vSwitch', [select('Queue', [includes('external_ids', { t: 'mem' })], ['dscp'])]);
    assert.deepEqual(r?.rows, [{ dscp: 3 }]);
  });
});
