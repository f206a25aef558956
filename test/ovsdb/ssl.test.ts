/**
 * `ssl:HOST:PORT` against a real ovsdb-server with `--remote=pssl:`: mutual
 * TLS with a client key and certificate signed by the CA the server trusts,
 * and a clear failure with a certificate from another CA.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { OvsdbConnectionError } from '../../src/ovsdb/errors.ts';
import { realOvsAvailable } from '../harness/ovsdb-server.ts';
import { makePki } from '../harness/pki.ts';

const requirement = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'openssl']);

function run(cmd: string, args: string[], cwd: string): void {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr}`);
}

async function waitForPort(logFile: string, timeoutMs = 10_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let text = '';
    try {
      text = readFileSync(logFile, 'utf8');
    } catch {
      // Not written yet.
    }
    const m = /listening on port (\d+)/.exec(text);
    if (m?.[1]) return Number(m[1]);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`ovsdb-server did not report its SSL port in ${logFile}`);
}

describe('ssl: endpoints against a real ovsdb-server', { skip: requirement.skip }, () => {
  let dir: string;
  let server: ChildProcess | undefined;
  let port: number;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cm-ovsdb-ssl-'));
    makePki(dir, 'ca', ['server', 'client']);
    makePki(dir, 'rogue-ca', ['rogue-client']);
    run('ovsdb-tool', ['create', 'db', '/usr/share/openvswitch/vswitch.ovsschema'], dir);
    server = spawn(
      'ovsdb-server',
      [
        `--log-file=${path.join(dir, 'log')}`,
        `--unixctl=${path.join(dir, 'ctl')}`,
        `--private-key=${path.join(dir, 'server.key')}`,
        `--certificate=${path.join(dir, 'server.crt')}`,
        `--ca-cert=${path.join(dir, 'ca.crt')}`,
        '--remote=pssl:0:127.0.0.1',
        path.join(dir, 'db'),
      ],
      { stdio: 'ignore' },
    );
    port = await waitForPort(path.join(dir, 'log'));
  });

  after(() => {
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects with a client certificate signed by the trusted CA', async () => {
    const client = await OvsdbClient.connect({
      endpoint: `ssl:127.0.0.1:${String(port)}`,
      tls: {
        key: { path: path.join(dir, 'client.key') },
        cert: { path: path.join(dir, 'client.crt') },
        ca: { path: path.join(dir, 'ca.crt') },
      },
    });
    try {
      assert.ok((await client.listDbs()).includes('Open_vSwitch'));
      const schema = await client.getSchema('Open_vSwitch');
      assert.ok(schema.tables.has('QoS'));
    } finally {
      client.close();
    }
  });

  it('fails with a connection error when the server does not trust the client', async () => {
    await assert.rejects(
      (async () => {
        const client = await OvsdbClient.connect({
          endpoint: `ssl:127.0.0.1:${String(port)}`,
          reconnect: { enabled: false },
          tls: {
            key: { path: path.join(dir, 'rogue-client.key') },
            cert: { path: path.join(dir, 'rogue-client.crt') },
            ca: { path: path.join(dir, 'ca.crt') },
          },
        });
        try {
          // TLS 1.3 reports a refused client certificate after the handshake, on first use.
          await client.listDbs({ timeoutMs: 3000 });
        } finally {
          client.close();
        }
      })(),
      OvsdbConnectionError,
    );
  });

  it('refuses a server whose certificate is not signed by the given CA', async () => {
    await assert.rejects(
      OvsdbClient.connect({
        endpoint: `ssl:127.0.0.1:${String(port)}`,
        reconnect: { enabled: false },
        tls: {
          key: { path: path.join(dir, 'client.key') },
          cert: { path: path.join(dir, 'client.crt') },
          ca: { path: path.join(dir, 'rogue-ca.crt') },
        },
      }),
      OvsdbConnectionError,
    );
  });
});
