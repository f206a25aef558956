/**
 * The OpenFlow client's `ssl:HOST:PORT` transport against a fake OpenFlow 1.3
 * switch served over mutual TLS (node's tls server with requestCert and
 * rejectUnauthorized, like ovs-vswitchd's `pssl:` with a CA certificate):
 * PEM strings and `{ path }` material, a client certificate from another CA,
 * a server the client cannot verify, and a reconnect over a new TLS session.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import tls from 'node:tls';
import {
  MessageSplitter,
  OpenFlowClient,
  OpenFlowConnectionError,
  OpenFlowError,
  decodeMessage,
  encodeMessage,
  type Decoded,
  type Message,
  type OpenFlowClientOptions,
  type SwitchFeatures,
  type TlsOptions,
} from '../../src/openflow/index.ts';
import { realOvsAvailable } from '../harness/ovsdb-server.ts';
import { makePki } from '../harness/pki.ts';

const requirement = realOvsAvailable(['openssl']);

const DATAPATH_ID = 0x00000a0b0c0d0e0fn;

/**
 * A minimal OpenFlow 1.3 switch over mutual TLS: sends its hello (version
 * bitmap: 1.3 only), answers features, barrier and echo requests, ignores
 * everything else (OFPT_SET_ASYNC included).
 */
class FakeTlsSwitch {
  readonly server: tls.Server;
  /** Server sockets whose TLS handshake completed (client certificate verified). */
  readonly sessions: tls.TLSSocket[] = [];
  /** Handshakes the server refused or that failed (e.g. an untrusted client certificate). */
  readonly handshakeErrors: Error[] = [];
  readonly received: Decoded[] = [];

  constructor(options: { key: string; cert: string; ca: string }) {
    this.server = tls.createServer({ ...options, requestCert: true, rejectUnauthorized: true }, (socket) => {
      this.sessions.push(socket);
      const splitter = new MessageSplitter();
      const send = (m: Message, xid: number): void => {
        if (!socket.destroyed) socket.write(encodeMessage(m, xid));
      };
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        for (const frame of splitter.push(chunk)) {
          const d = decodeMessage(frame);
          this.received.push(d);
          const m = d.message;
          if (m.type === 'features_request') {
            send({ type: 'features_reply', datapathId: DATAPATH_ID, nBuffers: 0, nTables: 254, auxiliaryId: 0, capabilities: 0x4f }, d.xid);
          } else if (m.type === 'barrier_request') {
            send({ type: 'barrier_reply' }, d.xid);
          } else if (m.type === 'echo_request') {
            send({ type: 'echo_reply', data: m.data }, d.xid);
          }
        }
      });
      send({ type: 'hello', versions: [4], bitmap: true }, 1);
    });
    this.server.on('tlsClientError', (error) => {
      this.handshakeErrors.push(error);
    });
  }

  async listen(): Promise<number> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    for (const s of this.sessions) s.destroy();
    return new Promise((resolve) => this.server.close(() => { resolve(); }));
  }
}

function waitFor<T>(emitter: OpenFlowClient, event: 'connected' | 'disconnected', timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`no ${event} within ${String(timeoutMs)} ms`)); }, timeoutMs);
    emitter.once(event, (arg: unknown) => {
      clearTimeout(timer);
      resolve(arg as T);
    });
  });
}

describe('OpenFlow client over ssl: (mutual TLS) against a fake switch', { skip: requirement.skip }, () => {
  let dir: string;
  let fake: FakeTlsSwitch;
  let endpoint: string;
  const clients: OpenFlowClient[] = [];
  const file = (name: string): string => path.join(dir, name);
  const pemOf = (name: string): string => readFileSync(file(name), 'utf8');

  function client(tlsOptions: TlsOptions, extra: Partial<OpenFlowClientOptions> = {}): OpenFlowClient {
    const c = new OpenFlowClient({ endpoint, tls: tlsOptions, reconnect: { enabled: false }, connectTimeoutMs: 3000, ...extra });
    clients.push(c);
    return c;
  }

  /** connect() must fail with a connection error; the fake must complete no TLS session meanwhile. */
  async function assertRefused(c: OpenFlowClient, expectServerSideError: boolean): Promise<OpenFlowConnectionError> {
    const sessionsBefore = fake.sessions.length;
    const errorsBefore = fake.handshakeErrors.length;
    const serverSaw = expectServerSideError ? once(fake.server, 'tlsClientError', { signal: AbortSignal.timeout(2000) }) : Promise.resolve([]);
    const error = await c.connect().then(
      () => assert.fail('connect() resolved'),
      (e: unknown) => e,
    );
    assert.ok(error instanceof OpenFlowConnectionError, `expected OpenFlowConnectionError, got ${String(error)}`);
    assert.ok(error instanceof OpenFlowError);
    assert.equal(error.code, 'OPENFLOW_CONNECTION');
    assert.equal(error.retryable, true);
    await serverSaw;
    assert.equal(fake.sessions.length, sessionsBefore, 'the fake switch completed no TLS handshake');
    if (expectServerSideError) assert.ok(fake.handshakeErrors.length > errorsBefore);
    assert.equal(c.isConnected, false);
    assert.notEqual(c.state, 'connected');
    return error;
  }

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'cm-openflow-ssl-'));
    makePki(dir, 'ca', ['server', 'client']);
    makePki(dir, 'rogue-ca', ['rogue-client']);
    fake = new FakeTlsSwitch({ key: pemOf('server.key'), cert: pemOf('server.crt'), ca: pemOf('ca.crt') });
    endpoint = `ssl:127.0.0.1:${String(await fake.listen())}`;
  });

  after(async () => {
    for (const c of clients) c.close();
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('connects with PEM strings signed by the trusted CA; a barrier round-trips', async () => {
    const c = client({ key: pemOf('client.key'), cert: pemOf('client.crt'), ca: pemOf('ca.crt') });
    const sessionsBefore = fake.sessions.length;
    const features = await c.connect();
    assert.equal(features.datapathId, DATAPATH_ID);
    assert.equal(features.nTables, 254);
    assert.equal(c.isConnected, true);
    assert.equal(c.describe(), endpoint);
    assert.equal(fake.sessions.length, sessionsBefore + 1);
    // The switch's side saw the client certificate, verified against the CA.
    const session = fake.sessions.at(-1)!;
    assert.equal(session.authorized, true);
    assert.equal(session.getPeerCertificate().subject.CN, 'client');
    // The handshake sent OFPT_SET_ASYNC (ignored by the fake) and a barrier.
    assert.ok(fake.received.some((d) => d.message.type === 'set_async'));
    await c.barrier({ timeoutMs: 2000 });
    assert.deepEqual(await c.echo(Buffer.from('tls'), { timeoutMs: 2000 }), Buffer.from('tls'));
    c.close();
    assert.equal(c.state, 'closed');
  });

  it('accepts TLS material as { path } objects like PEM strings', async () => {
    const c = client({ key: { path: file('client.key') }, cert: { path: file('client.crt') }, ca: { path: file('ca.crt') } });
    const features = await c.connect();
    assert.equal(features.datapathId, DATAPATH_ID);
    assert.equal(fake.sessions.at(-1)!.getPeerCertificate().subject.CN, 'client');
    await c.barrier({ timeoutMs: 2000 });
    c.close();
  });

  it('an unreadable key file rejects connect() with a connection error naming the file', async () => {
    const missing = file('no-such.key');
    const c = client({ key: { path: missing }, cert: { path: file('client.crt') }, ca: { path: file('ca.crt') } });
    const error = await assertRefused(c, false);
    assert.ok(error.message.includes(missing), error.message);
    assert.ok(error.message.includes(endpoint), error.message);
  });

  it('a client certificate from another CA is refused by the switch', async () => {
    const c = client({ key: { path: file('rogue-client.key') }, cert: { path: file('rogue-client.crt') }, ca: { path: file('ca.crt') } });
    const error = await assertRefused(c, true);
    // With TLS 1.3 the client's side of the handshake completes first; node's
    // server then drops the socket without an alert (OpenSSL in ovs-vswitchd
    // would send one), so the client sees the close during the hello exchange.
    assert.match(error.message, /closed the connection|connection error/i);
  });

  it('a switch certificate the client cannot verify (ca = another CA) is refused by the client', async () => {
    const c = client({ key: { path: file('client.key') }, cert: { path: file('client.crt') }, ca: { path: file('rogue-ca.crt') } });
    const error = await assertRefused(c, true);
    assert.ok(error.message.includes(endpoint), error.message);
    // The cause is node's TLS verification error (e.g. UNABLE_TO_VERIFY_LEAF_SIGNATURE).
    assert.ok(error.cause instanceof Error);
    assert.equal(typeof (error.cause as NodeJS.ErrnoException).code, 'string');
  });

  it('checkServerIdentity: true verifies the name: refused for the IP, accepted with servername = the CN', async () => {
    const material: TlsOptions = { key: { path: file('client.key') }, cert: { path: file('client.crt') }, ca: { path: file('ca.crt') } };
    const strict = client({ ...material, checkServerIdentity: true });
    const error = await assertRefused(strict, true);
    assert.equal((error.cause as NodeJS.ErrnoException | undefined)?.code, 'ERR_TLS_CERT_ALTNAME_INVALID', error.message);
    const named = client({ ...material, checkServerIdentity: true, servername: 'server' });
    assert.equal((await named.connect()).datapathId, DATAPATH_ID);
    named.close();
  });

  it('reconnects over a new TLS session after the switch drops the connection', async () => {
    const c = client(
      { key: pemOf('client.key'), cert: pemOf('client.crt'), ca: { path: file('ca.crt') } },
      { reconnect: { enabled: true, initialDelayMs: 20, maxDelayMs: 100 } },
    );
    const events: string[] = [];
    c.on('disconnected', () => events.push('disconnected'));
    c.on('connected', ({ reconnected }) => events.push(reconnected ? 'reconnected' : 'connected'));
    await c.connect();
    const first = fake.sessions.at(-1)!;
    const disconnected = waitFor<Error | undefined>(c, 'disconnected');
    const reconnected = waitFor<{ features: SwitchFeatures; reconnected: boolean }>(c, 'connected');
    first.destroy();
    await disconnected;
    const info = await reconnected;
    assert.equal(info.reconnected, true);
    assert.equal(info.features.datapathId, DATAPATH_ID);
    assert.deepEqual(events, ['connected', 'disconnected', 'reconnected']);
    const second = fake.sessions.at(-1)!;
    assert.notEqual(second, first);
    assert.equal(second.authorized, true);
    assert.equal(first.destroyed, true);
    await c.barrier({ timeoutMs: 2000 });
    c.close();
  });
});
