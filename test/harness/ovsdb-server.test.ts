/**
 * The ovsdb-server harness itself: temp dirs, dynamic ports, kill/start on the
 * same endpoints, cleanup, clustered mode and the integration gating.
 */
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { OvsdbConnectionError } from '../../src/ovsdb/errors.ts';
import { byUuid, insert, select } from '../../src/ovsdb/operations.ts';
import {
  findBinary,
  makeTempDir,
  realOvsAvailable,
  removeTempDir,
  run,
  startOvsdbServer,
  type OvsdbServerHandle,
} from './ovsdb-server.ts';

const requirement = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl']);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function withEnv(vars: Record<string, string | undefined>, fn: () => void): void {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  try {
    for (const [k, v] of Object.entries(vars)) {
      if (v === undefined) Reflect.deleteProperty(process.env, k);
      else process.env[k] = v;
    }
    fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) Reflect.deleteProperty(process.env, k);
      else process.env[k] = v;
    }
  }
}

describe('realOvsAvailable', () => {
  it('returns a skip reason naming a missing binary when integration is not required', () => {
    withEnv({ CI: undefined, CM_REQUIRE_INTEGRATION: undefined }, () => {
      const result = realOvsAvailable(['sh', 'cm-no-such-binary-xyz']);
      assert.ok(typeof result.skip === 'string');
      assert.match(result.skip, /cm-no-such-binary-xyz/);
      assert.doesNotMatch(result.skip, /\bsh\b/);
    });
  });

  it('returns skip: false when every binary is there', () => {
    withEnv({ CI: undefined, CM_REQUIRE_INTEGRATION: undefined }, () => {
      assert.deepEqual(realOvsAvailable(['sh']), { skip: false });
    });
  });

  it('throws in CI (CI=true) instead of skipping', () => {
    withEnv({ CI: 'true', CM_REQUIRE_INTEGRATION: undefined }, () => {
      assert.throws(() => realOvsAvailable(['cm-no-such-binary-xyz']), /cm-no-such-binary-xyz/);
      assert.deepEqual(realOvsAvailable(['sh']), { skip: false });
    });
  });

  it('throws when CM_REQUIRE_INTEGRATION=1', () => {
    withEnv({ CI: undefined, CM_REQUIRE_INTEGRATION: '1' }, () => {
      assert.throws(() => realOvsAvailable(['cm-no-such-binary-xyz']), /required/);
    });
  });

  it('finds binaries in sbin directories too', () => {
    if (requirement.skip) return;
    assert.ok(findBinary('ovsdb-server')?.endsWith('/ovsdb-server'));
  });
});

describe('startOvsdbServer', { skip: requirement.skip }, () => {
  const started: OvsdbServerHandle[] = [];
  const clients: OvsdbClient[] = [];

  after(async () => {
    for (const c of clients) c.close();
    for (const h of started) await h.stop();
  });

  const start = async (options?: Parameters<typeof startOvsdbServer>[0]): Promise<OvsdbServerHandle> => {
    const h = await startOvsdbServer(options);
    started.push(h);
    return h;
  };
  const connect = async (endpoint: string): Promise<OvsdbClient> => {
    const c = await OvsdbClient.connect({ endpoint, reconnect: { enabled: false } });
    clients.push(c);
    return c;
  };

  it('starts in a fresh temp dir with a unix socket and a kernel-chosen TCP port on 127.0.0.1', async () => {
    const h = await start();
    assert.ok(existsSync(h.dir));
    assert.equal(h.unixEndpoint, `unix:${path.join(h.dir, 'db.sock')}`);
    assert.match(h.tcpEndpoint, /^tcp:127\.0\.0\.1:[0-9]+$/);
    assert.notEqual(h.tcpEndpoint, 'tcp:127.0.0.1:6640');
    assert.ok(existsSync(h.dbPath));
    assert.ok(h.pid !== undefined && isAlive(h.pid));
    for (const e of [h.unixEndpoint, h.tcpEndpoint]) {
      assert.deepEqual((await connect(e)).endpoint.kind, e.startsWith('unix') ? 'unix' : 'tcp');
    }
    const c = await connect(h.unixEndpoint);
    assert.ok((await c.listDbs()).includes('Open_vSwitch'));
    const [r] = await c.transact('Open_vSwitch', [select('Open_vSwitch', [])]);
    assert.deepEqual(r?.rows, [], 'without init there is no Open_vSwitch row');
  });

  it('init: true creates the Open_vSwitch row', async () => {
    const h = await start({ init: true });
    const c = await connect(h.tcpEndpoint);
    const [r] = await c.transact('Open_vSwitch', [select('Open_vSwitch', [], ['_uuid'])]);
    assert.equal(r?.rows?.length, 1);
  });

  it('two servers get different dirs and ports', async () => {
    const [a, b] = await Promise.all([start(), start()]);
    assert.notEqual(a.dir, b.dir);
    assert.notEqual(a.tcpEndpoint, b.tcpEndpoint);
  });

  it('kill() SIGKILLs and waits; start() comes back on the same db file, socket and port', async () => {
    const h = await start({ init: true });
    const c = await connect(h.unixEndpoint);
    const [q] = await c.transact('Open_vSwitch', [insert('Queue', { dscp: 42 })]);
    const pid = h.pid;
    assert.ok(pid !== undefined);
    const { unixEndpoint, tcpEndpoint, dbPath } = h;
    await h.kill();
    assert.equal(isAlive(pid), false);
    assert.equal(h.pid, undefined);
    await assert.rejects(OvsdbClient.connect({ endpoint: tcpEndpoint, reconnect: { enabled: false } }), OvsdbConnectionError);
    await h.kill(); // killing a dead server is a no-op
    await h.start();
    assert.notEqual(h.pid, pid);
    assert.equal(h.unixEndpoint, unixEndpoint);
    assert.equal(h.tcpEndpoint, tcpEndpoint);
    assert.equal(h.dbPath, dbPath);
    for (const e of [unixEndpoint, tcpEndpoint]) {
      const c2 = await connect(e);
      const [r] = await c2.transact('Open_vSwitch', [select('Queue', byUuid(q?.uuid as string), ['dscp'])]);
      assert.deepEqual(r?.rows, [{ dscp: 42 }], `${e}: the data survived`);
    }
    await assert.rejects(h.start(), /already running/);
  });

  it('stop() kills the server and removes the temp dir; it is idempotent', async () => {
    const h = await startOvsdbServer();
    const pid = h.pid;
    assert.ok(pid !== undefined);
    await h.stop();
    assert.equal(isAlive(pid), false);
    assert.equal(existsSync(h.dir), false);
    await h.stop();
    await assert.rejects(h.start(), /stopped/);
  });

  it('stop() also works on a frozen (SIGSTOP) server', async () => {
    const h = await startOvsdbServer();
    const pid = h.pid;
    assert.ok(pid !== undefined);
    h.signal('SIGSTOP');
    await h.stop();
    assert.equal(isAlive(pid), false);
    assert.equal(existsSync(h.dir), false);
  });

  it('clustered: true makes a one-server cluster that keeps transaction history', async () => {
    const h = await start({ init: true, clustered: true });
    assert.equal(h.clustered, true);
    await run('ovsdb-tool', ['db-is-clustered', h.dbPath]);
    const c = await connect(h.unixEndpoint);
    const reply = (await c.call('monitor_cond_since', [
      'Open_vSwitch',
      'm',
      { Queue: [{ columns: ['dscp'] }] },
      '00000000-0000-0000-0000-000000000000',
    ])) as unknown[];
    assert.notEqual(reply[1], '00000000-0000-0000-0000-000000000000');
  });

  it('schemaPath: serves another schema', async () => {
    const dir = await makeTempDir('cm-schema-');
    try {
      const schemaPath = path.join(dir, 'tiny.ovsschema');
      writeFileSync(
        schemaPath,
        JSON.stringify({ name: 'Tiny', version: '1.0.0', tables: { T: { columns: { n: { type: 'integer' } } } } }),
      );
      const h = await start({ schemaPath });
      const c = await connect(h.unixEndpoint);
      assert.deepEqual((await c.listDbs()).filter((d) => d !== '_Server'), ['Tiny']);
      const schema = await c.getSchema('Tiny');
      assert.equal(schema.tables.get('T')?.columns.get('n')?.type.key.type, 'integer');
    } finally {
      await removeTempDir(dir);
    }
  });

  it('a failing start cleans up after itself', async () => {
    const dir = await makeTempDir('cm-bad-');
    try {
      const schemaPath = path.join(dir, 'broken.ovsschema');
      writeFileSync(schemaPath, JSON.stringify({ name: 'Broken', tables: { T: { columns: { n: { type: 'nonsense' } } } } }));
      const error = await startOvsdbServer({ schemaPath }).then(
        () => assert.fail('a broken schema must not start'),
        (e: unknown) => e as Error,
      );
      const match = /(\/\S*cm-ovsdb-[^/\s]+)\/conf\.db/.exec(error.message);
      assert.ok(match, `the error names the database: ${error.message}`);
      assert.equal(existsSync(match[1] as string), false, 'no temp dir left behind');
    } finally {
      await removeTempDir(dir);
    }
  });

  it('nothing listens on the TCP port after stop()', async () => {
    const h = await startOvsdbServer();
    const port = Number(h.tcpEndpoint.split(':').pop());
    await h.stop();
    const connected = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => {
        resolve(false);
      });
    });
    assert.equal(connected, false);
  });
});
