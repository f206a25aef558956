/**
 * The behaviour suite against the real ovsdb-server (Open vSwitch), over its
 * unix socket and over TCP, with a standalone database and with a one-server
 * clustered database (which keeps the transaction history that
 * monitor_cond_since needs to answer found=true). Plus what only a real
 * process allows: freezing it with SIGSTOP.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { OvsdbConnectionError } from '../../src/ovsdb/errors.ts';
import { realOvsAvailable, startOvsdbServer, type OvsdbServerHandle } from '../harness/ovsdb-server.ts';
import { runOvsdbBehaviourSuite, type SuiteServer } from './suite.ts';

const requirement = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl']);

function suiteServer(handle: OvsdbServerHandle, endpoints: string[]): SuiteServer {
  return {
    endpoints,
    stop: () => handle.stop(),
    restart: async () => {
      await handle.kill();
      await handle.start();
    },
  };
}

describe('real ovsdb-server', { skip: requirement.skip }, () => {
  runOvsdbBehaviourSuite('standalone database, unix socket', async () => {
    const handle = await startOvsdbServer({ init: true });
    return suiteServer(handle, [handle.unixEndpoint, handle.tcpEndpoint]);
  });

  runOvsdbBehaviourSuite('standalone database, tcp', async () => {
    const handle = await startOvsdbServer({ init: true });
    return suiteServer(handle, [handle.tcpEndpoint, handle.unixEndpoint]);
  });

  runOvsdbBehaviourSuite('clustered database (one server), unix socket', async () => {
    const handle = await startOvsdbServer({ init: true, clustered: true });
    return suiteServer(handle, [handle.unixEndpoint, handle.tcpEndpoint]);
  });

  describe('a frozen (SIGSTOP) server', () => {
    let handle: OvsdbServerHandle;

    before(async () => {
      handle = await startOvsdbServer({ init: true });
    });

    after(async () => {
      await handle.stop();
    });

    for (const kind of ['unix', 'tcp'] as const) {
      it(`is detected by the inactivity probe over ${kind} and the client recovers after SIGCONT`, async () => {
        const endpoint = kind === 'unix' ? handle.unixEndpoint : handle.tcpEndpoint;
        const client = await OvsdbClient.connect({
          endpoint,
          probeIntervalMs: 200,
          connectTimeoutMs: 500,
          reconnect: { initialDelayMs: 50, maxDelayMs: 300 },
        });
        try {
          assert.ok((await client.listDbs()).includes('Open_vSwitch'));
          const dropped = new Promise<Error | undefined>((resolve) => client.once('disconnected', resolve));
          const started = Date.now();
          handle.signal('SIGSTOP');
          try {
            const error = await dropped;
            assert.ok(error instanceof OvsdbConnectionError, String(error));
            assert.match(error.message, /inactivity probe/);
            assert.ok(Date.now() - started < 2000, `detected after ${String(Date.now() - started)} ms`);
          } finally {
            handle.signal('SIGCONT');
          }
          await client.whenConnected({ signal: AbortSignal.timeout(10_000) });
          assert.ok((await client.listDbs()).includes('Open_vSwitch'));
        } finally {
          client.close();
        }
      });
    }
  });
});
