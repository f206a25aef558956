/**
 * The client against a fake switch on a unix socket: handshake, version
 * negotiation, echo both ways, inactivity probe, xid correlation with
 * out-of-order and multipart replies, batch error indexes, timeouts, aborts,
 * malformed input and reconnects with backoff.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, describe, it } from 'node:test';
import { OpenFlowClient, type OpenFlowClientOptions } from './client.ts';
import { errorNumbers } from './constants.ts';
import {
  OpenFlowAbortError,
  OpenFlowBatchError,
  OpenFlowConnectionError,
  OpenFlowSwitchError,
  OpenFlowTimeoutError,
  OpenFlowVersionError,
} from './errors.ts';
import { MessageSplitter } from './framing.ts';
import { band, decodeMessage, encodeMessage, flowMod, meterMod, type Decoded, type FlowRemoved, type Message, type PortDesc } from './messages.ts';
import { match } from './oxm.ts';

interface Behaviour {
  /** Versions in our hello's bitmap (undefined: [1, 4, 6]). */
  helloVersions?: number[];
  /** Send the hello without a bitmap element, with this header version. */
  helloNoBitmapVersion?: number;
  /** Never answer echo requests. */
  silent?: boolean;
  /** Close connection number n (1-based) right after accepting it. */
  refuse?: (n: number) => boolean;
  /** Custom handling; return true when handled. */
  onMessage?: (conn: FakeConn, d: Decoded) => boolean;
}

class FakeConn {
  readonly received: Decoded[] = [];
  private readonly splitter = new MessageSplitter();

  constructor(
    readonly socket: net.Socket,
    private readonly sw: FakeSwitch,
  ) {
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.splitter.push(chunk)) this.handle(decodeMessage(frame));
    });
    socket.on('error', () => undefined);
  }

  send(m: Message, xid: number): void {
    if (!this.socket.destroyed) this.socket.write(encodeMessage(m, xid));
  }

  sendRaw(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  error(d: Decoded, typeName: string, codeName: string): void {
    const { type, code } = errorNumbers(typeName, codeName);
    this.send({ type: 'error', errType: type, errCode: code, data: encodeMessage(d.message, d.xid).subarray(0, 64) }, d.xid);
  }

  private handle(d: Decoded): void {
    this.received.push(d);
    const b = this.sw.behaviour;
    if (b.onMessage?.(this, d) === true) return;
    const m = d.message;
    switch (m.type) {
      case 'features_request':
        this.send({ type: 'features_reply', datapathId: 0xfedcba9876543210n, nBuffers: 0, nTables: 254, auxiliaryId: 0, capabilities: 0x4f }, d.xid);
        break;
      case 'barrier_request':
        this.send({ type: 'barrier_reply' }, d.xid);
        break;
      case 'echo_request':
        if (!b.silent) this.send({ type: 'echo_reply', data: m.data }, d.xid);
        break;
      default:
        break;
    }
  }
}

class FakeSwitch {
  readonly server: net.Server;
  readonly conns: FakeConn[] = [];
  readonly acceptedAt: number[] = [];
  behaviour: Behaviour = {};

  constructor(readonly socketPath: string) {
    this.server = net.createServer((socket) => {
      this.acceptedAt.push(Date.now());
      if (this.behaviour.refuse?.(this.acceptedAt.length) === true) {
        socket.destroy();
        return;
      }
      const conn = new FakeConn(socket, this);
      this.conns.push(conn);
      const b = this.behaviour;
      if (b.helloNoBitmapVersion !== undefined) conn.send({ type: 'hello', versions: [b.helloNoBitmapVersion], bitmap: false }, 1);
      else conn.send({ type: 'hello', versions: b.helloVersions ?? [1, 4, 6], bitmap: true }, 1);
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  get last(): FakeConn {
    const c = this.conns.at(-1);
    if (!c) throw new Error('no connection');
    return c;
  }

  reset(): void {
    for (const c of this.conns) c.socket.destroy();
    this.conns.length = 0;
    this.acceptedAt.length = 0;
    this.behaviour = {};
  }

  close(): Promise<void> {
    this.reset();
    return new Promise((resolve) => this.server.close(() => { resolve(); }));
  }
}

function waitFor<T>(emitter: OpenFlowClient, event: 'connected' | 'disconnected' | 'flowRemoved' | 'portStatus', timeoutMs = 3000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`no ${event} within ${String(timeoutMs)} ms`)); }, timeoutMs);
    emitter.once(event, (arg: unknown) => {
      clearTimeout(timer);
      resolve(arg as T);
    });
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const port = (n: number): PortDesc => ({
  portNo: n, hwAddr: '02:00:00:00:00:0' + String(n % 10), name: `p${String(n)}`, config: 0, state: 0, curr: 0, advertised: 0, supported: 0, peer: 0, currSpeed: 0, maxSpeed: 0,
});

describe('OpenFlowClient against a fake switch', () => {
  let dir: string;
  let sw: FakeSwitch;
  let client: OpenFlowClient | undefined;

  const open = async (options: Partial<OpenFlowClientOptions> = {}): Promise<OpenFlowClient> => {
    client = new OpenFlowClient({ endpoint: `unix:${sw.socketPath}`, reconnect: { enabled: false }, ...options });
    await client.connect();
    return client;
  };

  before(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'cm-of-'));
    sw = new FakeSwitch(path.join(dir, 'br-int.mgmt'));
    await sw.listen();
  });
  afterEach(() => {
    client?.close();
    client = undefined;
    sw.reset();
  });
  after(async () => {
    await sw.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('handshakes: hello with a 1.3-only bitmap, features, set_async for flow-removed and port-status', async () => {
    const c = new OpenFlowClient({ endpoint: `unix:${sw.socketPath}`, reconnect: { enabled: false } });
    client = c;
    const connected = waitFor<{ features: { datapathId: bigint }; reconnected: boolean }>(c, 'connected');
    const features = await c.connect();
    assert.equal(features.datapathId, 0xfedcba9876543210n);
    assert.equal(features.nTables, 254);
    assert.equal(c.features?.capabilities, 0x4f);
    assert.equal(c.isConnected, true);
    const info = await connected;
    assert.equal(info.reconnected, false);
    const types = sw.last.received.map((d) => d.message.type);
    assert.deepEqual(types.slice(0, 4), ['hello', 'features_request', 'set_async', 'barrier_request']);
    const hello = sw.last.received[0]?.message;
    assert.deepEqual(hello, { type: 'hello', versions: [4], bitmap: true });
    const async = sw.last.received[2]?.message;
    assert.ok(async?.type === 'set_async');
    assert.deepEqual(async.packetInMask, [0, 0]);
    assert.ok((async.flowRemovedMask[0] & (1 << 2)) !== 0, 'OFPRR_DELETE enabled');
    assert.equal(async.portStatusMask[0], 7);
  });

  it('does not send set_async when asyncMessages is false', async () => {
    await open({ asyncMessages: false });
    assert.ok(!sw.last.received.some((d) => d.message.type === 'set_async'));
  });

  it('fails with OpenFlowVersionError when the switch does not offer 1.3 (bitmap), and tells the switch', async () => {
    sw.behaviour = { helloVersions: [1, 2] };
    await assert.rejects(open(), (e: unknown) => e instanceof OpenFlowVersionError && e.code === 'OPENFLOW_VERSION_MISMATCH' && /OpenFlow10, OpenFlow11/.test(e.message));
    await sleep(50);
    const err = sw.last.received.find((d) => d.message.type === 'error')?.message;
    assert.ok(err?.type === 'error' && err.errType === 0 && err.errCode === 0, 'HELLO_FAILED/INCOMPATIBLE sent');
    assert.equal(client?.isConnected, false);
  });

  it('negotiates with a switch whose hello has no bitmap: 1.0 fails, 1.4 header version works', async () => {
    sw.behaviour = { helloNoBitmapVersion: 1 };
    await assert.rejects(open(), OpenFlowVersionError);
    client?.close();
    sw.reset();
    sw.behaviour = { helloNoBitmapVersion: 5 };
    const c = await open();
    assert.equal(c.isConnected, true);
  });

  it('answers the switch\'s echo requests with the same xid and data', async () => {
    await open();
    sw.last.send({ type: 'echo_request', data: Buffer.from('are you there') }, 777);
    await sleep(50);
    const reply = sw.last.received.find((d) => d.message.type === 'echo_reply');
    assert.equal(reply?.xid, 777);
    assert.deepEqual(reply.message, { type: 'echo_reply', data: Buffer.from('are you there') });
  });

  it('echo() and barrier() round trip', async () => {
    const c = await open();
    assert.deepEqual(await c.echo(Buffer.from('x')), Buffer.from('x'));
    await c.barrier();
  });

  it('inactivity probe: a silent switch is dropped, a responsive one is kept', async () => {
    const c = await open({ inactivityProbeMs: 100 });
    await sleep(450);
    assert.equal(c.isConnected, true, 'the responsive switch answered the probes');
    assert.ok(sw.last.received.filter((d) => d.message.type === 'echo_request').length >= 2, 'probes were sent');
    c.close();
    sw.reset();
    sw.behaviour = { silent: true };
    const c2 = await open({ inactivityProbeMs: 100 });
    const started = Date.now();
    const error = await waitFor<Error>(c2, 'disconnected', 2000);
    assert.ok(error instanceof OpenFlowConnectionError && /inactivity probe/.test(error.message), String(error));
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 150 && elapsed < 1000, `dropped after ${String(elapsed)} ms (probe 100 ms + reply wait 100 ms)`);
  });

  it('matches replies by xid when they arrive out of order, and assembles multipart replies', async () => {
    const held: { d: Decoded; conn: FakeConn }[] = [];
    sw.behaviour = {
      onMessage: (conn, d) => {
        if (d.message.type !== 'multipart_request') return false;
        held.push({ d, conn });
        if (held.length < 2) return true;
        // Answer the second request first, and the first one in three parts.
        const [first, second] = held as [{ d: Decoded; conn: FakeConn }, { d: Decoded; conn: FakeConn }];
        conn.send({ type: 'multipart_reply', flags: 0, body: { kind: 'meter_features', features: { maxMeter: 9, bandTypes: 2, capabilities: 15, maxBands: 8, maxColor: 0 } } }, second.d.xid);
        conn.send({ type: 'multipart_reply', flags: 1, body: { kind: 'port_desc', ports: [port(1), port(2)] } }, first.d.xid);
        conn.send({ type: 'multipart_reply', flags: 1, body: { kind: 'port_desc', ports: [port(3)] } }, first.d.xid);
        conn.send({ type: 'multipart_reply', flags: 0, body: { kind: 'port_desc', ports: [port(4)] } }, first.d.xid);
        return true;
      },
    };
    const c = await open();
    const [ports, features] = await Promise.all([c.portDesc(), c.meterFeatures()]);
    assert.deepEqual(ports.map((p) => p.portNo), [1, 2, 3, 4]);
    assert.equal(features.maxMeter, 9);
  });

  it('a batch gets one barrier; errors are reported with the index of the failing message', async () => {
    sw.behaviour = {
      onMessage: (conn, d) => {
        const m = d.message;
        if (m.type === 'meter_mod' && (m.meterId === 2 || m.meterId === 4)) {
          conn.error(d, 'OFPET_METER_MOD_FAILED', 'OFPMMFC_METER_EXISTS');
          return true;
        }
        return false;
      },
    };
    const c = await open();
    const before = sw.last.received.length;
    const batch = [1, 2, 3, 4, 5].map((id) => meterMod({ meterId: id, bands: [band.drop(1000)] }));
    const error = await c.send(batch).then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof OpenFlowBatchError, String(error));
    assert.deepEqual(error.errors.map((e) => e.index), [1, 3]);
    assert.equal(error.errors[0]!.typeName, 'OFPET_METER_MOD_FAILED');
    assert.equal(error.errors[0]!.codeName, 'OFPMMFC_METER_EXISTS');
    assert.match(error.message, /2 of 5 messages failed; first: meter_mod add \(message 1 of the batch\) failed: OFPET_METER_MOD_FAILED\/OFPMMFC_METER_EXISTS/);
    const sent = sw.last.received.slice(before).map((d) => d.message.type);
    assert.deepEqual(sent, ['meter_mod', 'meter_mod', 'meter_mod', 'meter_mod', 'meter_mod', 'barrier_request']);
    // Without errors the same batch resolves.
    sw.behaviour = {};
    await c.send([flowMod({ match: [match.inPort(1)] })]);
  });

  it('a single request that gets OFPT_ERROR rejects with the named error', async () => {
    sw.behaviour = {
      onMessage: (conn, d) => {
        if (d.message.type !== 'multipart_request') return false;
        conn.error(d, 'OFPET_BAD_REQUEST', 'OFPBRC_BAD_MULTIPART');
        return true;
      },
    };
    const c = await open();
    await assert.rejects(c.flowStats({ cookie: 1n, cookieMask: 1n }), (e: unknown) => e instanceof OpenFlowSwitchError && e.codeName === 'OFPBRC_BAD_MULTIPART' && e.index === undefined);
  });

  it('times out a call whose reply never comes, and aborts on the caller\'s signal', async () => {
    let swallowBarriers = false;
    sw.behaviour = { onMessage: (_conn, d) => swallowBarriers && d.message.type === 'barrier_request' };
    const c = await open();
    swallowBarriers = true;
    await assert.rejects(c.send([flowMod({})], { timeoutMs: 100 }), OpenFlowTimeoutError);
    const ac = new AbortController();
    const p = c.send([flowMod({})], { signal: ac.signal });
    setTimeout(() => { ac.abort(new Error('stop')); }, 30);
    await assert.rejects(p, (e: unknown) => e instanceof OpenFlowAbortError && e.code === 'OPENFLOW_ABORTED_BY_CALLER');
    const pre = new AbortController();
    pre.abort();
    await assert.rejects(c.portStats({ signal: pre.signal }), OpenFlowAbortError);
    assert.equal(c.isConnected, true, 'a timeout does not drop the connection');
  });

  it('emits flowRemoved, portStatus and unsolicited switch errors', async () => {
    const c = await open();
    const removed = waitFor<FlowRemoved>(c, 'flowRemoved');
    const fr: FlowRemoved = { type: 'flow_removed', cookie: 0xabcn, priority: 60000, reason: 'delete', tableId: 0, durationSec: 1, durationNsec: 0, idleTimeout: 0, hardTimeout: 0, packetCount: 3n, byteCount: 300n, match: [match.inPort(5)] };
    sw.last.send(fr, 0);
    assert.deepEqual(await removed, fr);
    const status = waitFor<{ reason: string; desc: PortDesc }>(c, 'portStatus');
    sw.last.send({ type: 'port_status', reason: 'add', desc: port(9) }, 0);
    assert.equal((await status).desc.portNo, 9);
    const errs: OpenFlowSwitchError[] = [];
    c.on('switchError', (e) => errs.push(e));
    const { type, code } = errorNumbers('OFPET_BAD_MATCH', 'OFPBMC_BAD_PREREQ');
    sw.last.send({ type: 'error', errType: type, errCode: code, data: Buffer.alloc(0) }, 99999);
    await sleep(30);
    assert.equal(errs[0]?.codeName, 'OFPBMC_BAD_PREREQ');
  });

  it('drops the connection on an oversized or malformed message instead of crashing', async () => {
    const c = await open({ maxMessageBytes: 256 });
    const gone = waitFor<Error>(c, 'disconnected');
    sw.last.send({ type: 'echo_reply', data: Buffer.alloc(1000) }, 5);
    const e1 = await gone;
    assert.equal((e1 as { code?: string }).code, 'OPENFLOW_MESSAGE_TOO_LARGE');
    assert.equal(c.isConnected, false);
    c.close();
    sw.reset();
    const c2 = await open();
    const pending = c2.portDesc();
    const gone2 = waitFor<Error>(c2, 'disconnected');
    sw.last.sendRaw(Buffer.from('0413000300000000', 'hex'));
    assert.equal(((await gone2) as { code?: string }).code, 'OPENFLOW_BAD_MESSAGE');
    await assert.rejects(pending, OpenFlowConnectionError);
  });

  it('reconnects with growing jittered backoff, fails calls fast while disconnected, rejects calls in flight', async () => {
    sw.behaviour = { onMessage: (_conn, d) => d.message.type === 'multipart_request' };
    const c = new OpenFlowClient({ endpoint: `unix:${sw.socketPath}`, reconnect: { initialDelayMs: 40, maxDelayMs: 1000 } });
    client = c;
    await c.connect();
    const inFlight = c.portStats();
    // From now on the switch refuses the next 3 connections, then accepts.
    const base = sw.acceptedAt.length;
    sw.behaviour = { refuse: (n) => n > base && n <= base + 3 };
    const disconnected = waitFor<Error>(c, 'disconnected');
    const reconnected = waitFor<{ reconnected: boolean }>(c, 'connected', 5000);
    sw.last.socket.destroy();
    await disconnected;
    await assert.rejects(inFlight, OpenFlowConnectionError);
    await assert.rejects(c.send([flowMod({})]), (e: unknown) => e instanceof OpenFlowConnectionError && /not connected/.test(e.message));
    assert.equal((await reconnected).reconnected, true);
    assert.equal(c.isConnected, true);
    const t = sw.acceptedAt.slice(base);
    assert.equal(t.length, 4, 'three refused attempts and one success');
    const gaps = t.slice(1).map((x, i) => x - (t[i] as number));
    // Delay k is in [ceil/2, ceil] with ceil = 40 * 2^k: lower bounds 40, 80, 160 for gaps 1..3.
    gaps.forEach((g, i) => { assert.ok(g >= 40 * 2 ** (i + 1) / 2 - 5, `gap ${String(i)} = ${String(g)} ms`); });
    await c.barrier();
  });

  it('connect fails clearly when nothing listens, and can be aborted', async () => {
    const c = new OpenFlowClient({ endpoint: `unix:${path.join(dir, 'nothing.mgmt')}`, reconnect: { enabled: false } });
    await assert.rejects(c.connect(), (e: unknown) => e instanceof OpenFlowConnectionError && /cannot connect to unix:/.test(e.message));
    c.close();
    sw.behaviour = { onMessage: (_conn, d) => d.message.type === 'features_request' };
    const ac = new AbortController();
    const c2 = new OpenFlowClient({ endpoint: `unix:${sw.socketPath}`, reconnect: { enabled: false } });
    client = c2;
    const p = c2.connect({ signal: ac.signal });
    setTimeout(() => { ac.abort(); }, 50);
    await assert.rejects(p, OpenFlowAbortError);
    assert.equal(c2.isConnected, false);
  });
});

describe('OpenFlowClient batches: encoding errors', () => {
  it('a message that cannot be encoded fails the batch before anything is written, naming its index', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'cm-of-'));
    const sw = new FakeSwitch(path.join(dir, 'sw.mgmt'));
    await sw.listen();
    const c = new OpenFlowClient({ endpoint: `unix:${sw.socketPath}`, reconnect: { enabled: false } });
    try {
      await c.connect();
      const before = sw.last.received.length;
      await assert.rejects(
        c.send([flowMod({}), flowMod({ priority: 1 << 20 })]),
        (e: unknown) => e instanceof Error && (e as { code?: string }).code === 'OPENFLOW_BAD_ARGUMENT' && /batch message 1: priority/.test(e.message),
      );
      await c.barrier();
      assert.deepEqual(sw.last.received.slice(before).map((d) => d.message.type), ['barrier_request'], 'nothing of the failed batch was sent');
    } finally {
      c.close();
      await sw.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
