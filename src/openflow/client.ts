/**
 * The OpenFlow 1.3 client: one logical session to one switch that survives
 * reconnects. Each (re)connection does the hello exchange (version bitmap,
 * 1.3 only), reads the features, and by default asks for flow-removed and
 * port-status messages (OFPT_SET_ASYNC). It answers the switch's echo
 * requests, probes a silent switch itself, and reconnects with jittered
 * exponential backoff.
 *
 * Rule for calls while disconnected: they fail at once with
 * OpenFlowConnectionError (no queueing). A call in flight when the connection
 * drops fails the same way and is never resent: OpenFlow modifications are
 * not idempotent in general, so the caller re-reads the switch after the next
 * 'connected' and re-plans.
 */
import { EventEmitter } from 'node:events';
import type { Duplex } from 'node:stream';
import { errorNumbers, OFPM, OFPP, OFP_VERSION_1_3, OFPRR, OFPPR } from './constants.ts';
import { describeMessage, OpenFlowConnection, switchError, type CallOptions } from './connection.ts';
import {
  OpenFlowAbortError,
  OpenFlowConnectionError,
  OpenFlowError,
  OpenFlowProtocolError,
  OpenFlowVersionError,
  type OpenFlowSwitchError,
} from './errors.ts';
import {
  flowStatsRequest,
  type Decoded,
  type FlowRemoved,
  type FlowStats,
  type FlowStatsFilter,
  type Hello,
  type Message,
  type MeterConfig,
  type MeterFeatures,
  type MeterStats,
  type MultipartReplyBody,
  type MultipartRequestBody,
  type PortDesc,
  type PortStats,
  type PortStatus,
} from './messages.ts';
import { formatEndpoint, openStream, parseEndpoint, type Endpoint, type TlsOptions } from './transport.ts';

export type { CallOptions } from './connection.ts';

export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'backoff' | 'closed';

export interface ReconnectOptions {
  /** @default true */
  enabled?: boolean;
  /** First delay after a failure, ms. @default 200 */
  initialDelayMs?: number;
  /** Upper bound of the delay, ms. @default 8000 */
  maxDelayMs?: number;
}

export interface OpenFlowClientOptions {
  /** `unix:PATH` (e.g. `unix:/run/openvswitch/br-int.mgmt`), `tcp:HOST:PORT`, `ssl:HOST:PORT`, or parsed. */
  endpoint: string | Endpoint;
  tls?: TlsOptions;
  reconnect?: ReconnectOptions;
  /** Default deadline of each call, ms. @default 30000 */
  callTimeoutMs?: number;
  /** Deadline of opening the stream plus the handshake, ms. @default 5000 */
  connectTimeoutMs?: number;
  /**
   * Send an echo request when nothing was received for this long, and drop
   * the connection if it is not answered within the same time. 0 disables.
   * @default 5000
   */
  inactivityProbeMs?: number;
  /** Largest message accepted from the switch, bytes. @default 1 MiB */
  maxMessageBytes?: number;
  /**
   * Ask for OFPT_FLOW_REMOVED (every reason) and OFPT_PORT_STATUS on this
   * connection with OFPT_SET_ASYNC; never for packet-ins. Needed on OVS's
   * `<bridge>.mgmt` socket: it is a "service" connection, which gets no
   * asynchronous message until it configures them (ofproto/connmgr.c).
   * @default true
   */
  asyncMessages?: boolean;
  /** Connects through this stream factory instead of the endpoint (tests). */
  streamFactory?: (signal: AbortSignal) => Promise<Duplex>;
}

/** What the switch said about itself in OFPT_FEATURES_REPLY. */
export interface SwitchFeatures {
  readonly datapathId: bigint;
  readonly nBuffers: number;
  readonly nTables: number;
  readonly auxiliaryId: number;
  /** OFPC_* bits. */
  readonly capabilities: number;
}

export interface OpenFlowClientEvents {
  state: [state: ConnectionState];
  /** After each successful handshake; `reconnected` is false only for the first. */
  connected: [info: { features: SwitchFeatures; reconnected: boolean }];
  disconnected: [error: Error | undefined];
  flowRemoved: [message: FlowRemoved];
  portStatus: [message: PortStatus];
  /** An OFPT_ERROR that answers no pending call (e.g. to a message sent by post()). */
  switchError: [error: OpenFlowSwitchError];
  /** Any other unsolicited message. */
  message: [decoded: Decoded];
}

/** Every reason bit: idle/hard timeout, delete, group delete, meter delete, eviction. */
const ALL_FLOW_REMOVED = (1 << OFPRR.length) - 1;
const ALL_PORT_STATUS = (1 << OFPPR.length) - 1;

export class OpenFlowClient extends EventEmitter<OpenFlowClientEvents> {
  readonly endpoint: Endpoint;
  private readonly options: OpenFlowClientOptions;
  private connection: OpenFlowConnection | undefined;
  private featuresValue: SwitchFeatures | undefined;
  private stateValue: ConnectionState = 'idle';
  private reconnectAttempt = 0;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private everConnected = false;
  private readonly lifetime = new AbortController();
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  constructor(options: OpenFlowClientOptions) {
    super();
    this.options = options;
    this.endpoint = typeof options.endpoint === 'string' ? parseEndpoint(options.endpoint) : options.endpoint;
  }

  /** Creates a client and waits for its first connection. */
  static async connect(options: OpenFlowClientOptions, callOptions: { signal?: AbortSignal } = {}): Promise<OpenFlowClient> {
    const client = new OpenFlowClient(options);
    try {
      await client.connect(callOptions);
    } catch (error) {
      client.close();
      throw error;
    }
    return client;
  }

  get state(): ConnectionState {
    return this.stateValue;
  }

  get isConnected(): boolean {
    return this.stateValue === 'connected';
  }

  /** Features of the current (or last) connection; undefined before the first handshake. */
  get features(): SwitchFeatures | undefined {
    return this.featuresValue;
  }

  describe(): string {
    return formatEndpoint(this.endpoint);
  }

  /**
   * Opens the first connection and does the handshake. Fails if that fails
   * (OpenFlowVersionError when the switch does not offer 1.3); after the
   * first success, later losses are repaired in the background.
   */
  async connect(options: { signal?: AbortSignal } = {}): Promise<SwitchFeatures> {
    if (this.stateValue === 'closed') throw new OpenFlowConnectionError('client is closed');
    if (this.stateValue === 'connected' && this.featuresValue) return this.featuresValue;
    return this.openConnection(options.signal);
  }

  /** Resolves when connected (immediately if already), rejects when closed or aborted. */
  whenConnected(options: { signal?: AbortSignal } = {}): Promise<void> {
    if (this.stateValue === 'connected') return Promise.resolve();
    if (this.stateValue === 'closed') return Promise.reject(new OpenFlowConnectionError('client is closed'));
    return new Promise((resolve, reject) => {
      const { signal } = options;
      const onAbort = (): void => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new OpenFlowAbortError('wait for connection aborted', { cause: signal?.reason }));
      };
      const waiter = {
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (e: Error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(e);
        },
      };
      if (signal?.aborted) {
        onAbort();
        return;
      }
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** Closes the connection for good; pending calls fail. */
  close(): void {
    if (this.stateValue === 'closed') return;
    this.setState('closed');
    this.lifetime.abort();
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.stopProbe();
    this.connection?.close(new OpenFlowConnectionError('client closed'));
    this.connection = undefined;
    for (const w of this.waiters) w.reject(new OpenFlowConnectionError('client is closed'));
    this.waiters = [];
  }

  /** Drops the current connection as if the network failed (reconnect follows if enabled). */
  dropConnection(): void {
    this.connection?.close(new OpenFlowConnectionError('connection dropped by client'));
  }

  // ---- calls ----

  private live(what: string): OpenFlowConnection {
    const c = this.connection;
    if (!c || this.stateValue !== 'connected') {
      throw new OpenFlowConnectionError(`cannot ${what}: not connected to ${this.describe()} (${this.stateValue})`);
    }
    return c;
  }

  private withTimeout(options: CallOptions): CallOptions {
    return { ...options, timeoutMs: options.timeoutMs ?? this.options.callTimeoutMs ?? 30_000 };
  }

  /**
   * Sends modifying messages (flow-mods, meter-mods, …) followed by ONE
   * barrier, in one write, and resolves when the barrier reply arrives.
   * Rejects with OpenFlowBatchError (each error's `index` is its message's
   * position) if any got OFPT_ERROR; the others were applied.
   */
  async send(messages: readonly Message[], options: CallOptions = {}): Promise<void> {
    await this.live(`send ${String(messages.length)} messages`).batch(messages, this.withTimeout(options));
  }

  /** Sends one message and returns the reply of type `expect` (multipart: all parts' bodies). */
  async request(message: Message, expect: Message['type'], options: CallOptions = {}): Promise<{ reply: Message; parts: MultipartReplyBody[] }> {
    return this.live(describeMessage(message)).request(message, expect, this.withTimeout(options));
  }

  /** Sends a message without waiting for anything; an error reply surfaces as 'switchError'. */
  post(message: Message): number {
    return this.live(describeMessage(message)).post(message);
  }

  async barrier(options: CallOptions = {}): Promise<void> {
    await this.request({ type: 'barrier_request' }, 'barrier_reply', options);
  }

  /** Round trip through the switch; resolves with the echoed data. */
  async echo(data: Buffer = Buffer.alloc(0), options: CallOptions = {}): Promise<Buffer> {
    const { reply } = await this.request({ type: 'echo_request', data }, 'echo_reply', options);
    return reply.type === 'echo_reply' ? reply.data : Buffer.alloc(0);
  }

  private async multipart<K extends MultipartReplyBody['kind']>(
    body: MultipartRequestBody,
    kind: K,
    options: CallOptions,
  ): Promise<Extract<MultipartReplyBody, { kind: K }>[]> {
    const { parts } = await this.request({ type: 'multipart_request', flags: 0, body }, 'multipart_reply', options);
    for (const p of parts) {
      if (p.kind !== kind) throw new OpenFlowProtocolError(`multipart ${kind}: reply part of kind ${p.kind}`);
    }
    return parts as Extract<MultipartReplyBody, { kind: K }>[];
  }

  /** OFPMP_PORT_STATS for one port or (default) all. */
  async portStats(options: CallOptions & { port?: number } = {}): Promise<PortStats[]> {
    const parts = await this.multipart({ kind: 'port_stats', portNo: options.port ?? OFPP.ANY }, 'port_stats', options);
    return parts.flatMap((p) => p.stats);
  }

  /** OFPMP_PORT_DESC: every port of the switch. */
  async portDesc(options: CallOptions = {}): Promise<PortDesc[]> {
    const parts = await this.multipart({ kind: 'port_desc' }, 'port_desc', options);
    return parts.flatMap((p) => p.ports);
  }

  /** OFPMP_FLOW: flows matching the filter (default: every flow of every table). */
  async flowStats(filter: FlowStatsFilter = {}, options: CallOptions = {}): Promise<FlowStats[]> {
    const parts = await this.multipart(flowStatsRequest(filter), 'flow', options);
    return parts.flatMap((p) => p.flows);
  }

  /** OFPMP_METER for one meter or (default) all. */
  async meterStats(options: CallOptions & { meterId?: number } = {}): Promise<MeterStats[]> {
    const parts = await this.multipart({ kind: 'meter', meterId: options.meterId ?? OFPM.ALL }, 'meter', options);
    return parts.flatMap((p) => p.meters);
  }

  /** OFPMP_METER_CONFIG for one meter or (default) all. */
  async meterConfig(options: CallOptions & { meterId?: number } = {}): Promise<MeterConfig[]> {
    const parts = await this.multipart({ kind: 'meter_config', meterId: options.meterId ?? OFPM.ALL }, 'meter_config', options);
    return parts.flatMap((p) => p.meters);
  }

  async meterFeatures(options: CallOptions = {}): Promise<MeterFeatures> {
    const parts = await this.multipart({ kind: 'meter_features' }, 'meter_features', options);
    const first = parts[0];
    if (!first) throw new OpenFlowProtocolError('meter features: empty reply');
    return first.features;
  }

  // ---- connection management ----

  private setState(state: ConnectionState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    this.emit('state', state);
  }

  private async openConnection(signal?: AbortSignal): Promise<SwitchFeatures> {
    this.setState('connecting');
    const timeoutMs = this.options.connectTimeoutMs ?? 5000;
    const deadline = Date.now() + timeoutMs;
    const connectSignal = AbortSignal.any([this.lifetime.signal, ...(signal ? [signal] : [])]);
    let connection: OpenFlowConnection | undefined;
    let features: SwitchFeatures;
    try {
      const stream = this.options.streamFactory
        ? await this.options.streamFactory(connectSignal)
        : await openStream(this.endpoint, { ...(this.options.tls ? { tls: this.options.tls } : {}), signal: connectSignal, timeoutMs });
      if (this.stateValue === 'closed') {
        stream.destroy();
        throw new OpenFlowConnectionError('client closed while connecting');
      }
      connection = new OpenFlowConnection(stream, this.options.maxMessageBytes === undefined ? {} : { maxMessageBytes: this.options.maxMessageBytes });
      // One deadline for opening the stream and the handshake together, as documented.
      features = await this.handshake(connection, { signal: connectSignal, timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (error) {
      connection?.close(error instanceof Error ? error : undefined);
      if (this.stateValue !== 'closed') this.setState(this.everConnected ? 'backoff' : 'idle');
      throw error;
    }
    const conn = connection;
    this.connection = conn;
    this.featuresValue = features;
    conn.on('message', (decoded) => {
      this.onMessage(decoded);
    });
    conn.on('close', (error) => {
      this.onConnectionClosed(conn, error);
    });
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.reconnectAttempt = 0;
    this.setState('connected');
    this.startProbe(conn);
    for (const w of this.waiters) w.resolve();
    this.waiters = [];
    this.emit('connected', { features, reconnected });
    return features;
  }

  /** Hello exchange, features request and (optionally) async config. */
  private async handshake(connection: OpenFlowConnection, options: Required<Pick<CallOptions, 'timeoutMs'>> & { signal: AbortSignal }): Promise<SwitchFeatures> {
    const helloPromise = waitForHello(connection, { ...options, peer: this.describe(), tls: this.endpoint.kind === 'ssl' });
    // The bitmap says "1.3 only": OVS then picks 1.3 or refuses with HELLO_FAILED.
    connection.post({ type: 'hello', versions: [OFP_VERSION_1_3], bitmap: true });
    const hello = await helloPromise;
    const offers13 = hello.bitmap ? hello.versions.includes(OFP_VERSION_1_3) : (hello.versions[0] ?? 0) >= OFP_VERSION_1_3;
    if (!offers13) {
      const { type, code } = errorNumbers('OFPET_HELLO_FAILED', 'OFPHFC_INCOMPATIBLE');
      try {
        connection.post({ type: 'error', errType: type, errCode: code, data: Buffer.from('we support OpenFlow 1.3 only') });
      } catch {
        // The switch may already have closed; the version error is what matters.
      }
      throw new OpenFlowVersionError(hello.versions);
    }
    const { reply } = await connection.request({ type: 'features_request' }, 'features_reply', options);
    if (reply.type !== 'features_reply') throw new OpenFlowProtocolError('handshake: no features reply');
    if (this.options.asyncMessages !== false) {
      // OF1.3 OFPT_SET_ASYNC; on a service connection (OVS's <bridge>.mgmt)
      // this also raises miss_send_len from 0, which is what unlocks async
      // messages there (ofproto.c handle_nxt_set_async_config). Packet-ins
      // stay masked off: we never want the datapath's misses.
      const masks: [number, number] = [ALL_FLOW_REMOVED, ALL_FLOW_REMOVED];
      connection.post({ type: 'set_async', packetInMask: [0, 0], portStatusMask: [ALL_PORT_STATUS, ALL_PORT_STATUS], flowRemovedMask: masks });
      // The barrier makes an error to set_async arrive (and fail us) now.
      await connection.request({ type: 'barrier_request' }, 'barrier_reply', options);
    }
    const { datapathId, nBuffers, nTables, auxiliaryId, capabilities } = reply;
    return { datapathId, nBuffers, nTables, auxiliaryId, capabilities };
  }

  private onMessage(decoded: Decoded): void {
    const m = decoded.message;
    if (m.type === 'flow_removed') this.emit('flowRemoved', m);
    else if (m.type === 'port_status') this.emit('portStatus', m);
    else if (m.type === 'error') this.emit('switchError', switchError(m, decoded.xid));
    else this.emit('message', decoded);
  }

  private onConnectionClosed(connection: OpenFlowConnection, error: Error | undefined): void {
    if (this.connection !== connection) return;
    this.connection = undefined;
    this.stopProbe();
    if (this.stateValue === 'closed') return;
    this.emit('disconnected', error);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    const r = this.options.reconnect ?? {};
    if (r.enabled === false) {
      this.setState('closed');
      for (const w of this.waiters) w.reject(new OpenFlowConnectionError('connection lost and reconnect is disabled'));
      this.waiters = [];
      return;
    }
    this.setState('backoff');
    const initial = r.initialDelayMs ?? 200;
    const max = r.maxDelayMs ?? 8000;
    const ceiling = Math.min(max, initial * 2 ** this.reconnectAttempt);
    // "Equal jitter": at least half the ceiling, so many agents restarting
    // with one switch do not reconnect in lockstep.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.reconnectAttempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.openConnection().catch(() => {
        if (this.stateValue !== 'closed') this.scheduleReconnect();
      });
    }, delay);
  }

  private startProbe(connection: OpenFlowConnection): void {
    const interval = this.options.inactivityProbeMs ?? 5000;
    if (interval <= 0) return;
    const tick = Math.max(20, Math.floor(interval / 4));
    this.probeTimer = setInterval(() => {
      if (this.probing || connection.isClosed) return;
      if (Date.now() - connection.lastReceivedAt < interval) return;
      this.probing = true;
      connection
        .request({ type: 'echo_request', data: Buffer.from('cm-probe') }, 'echo_reply', { timeoutMs: interval })
        .catch((error: unknown) => {
          const reason = error instanceof OpenFlowError ? error.message : String(error);
          connection.close(new OpenFlowConnectionError(`inactivity probe failed: ${reason}`));
        })
        .finally(() => {
          this.probing = false;
        });
    }, tick);
    this.probeTimer.unref();
  }

  private stopProbe(): void {
    if (this.probeTimer) clearInterval(this.probeTimer);
    this.probeTimer = undefined;
    this.probing = false;
  }
}

/** Resolves with the peer's hello (which must be its first message). */
function waitForHello(connection: OpenFlowConnection, options: { signal: AbortSignal; timeoutMs: number; peer: string; tls: boolean }): Promise<Hello> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      finish(new OpenFlowConnectionError(`no OFPT_HELLO from the switch within ${String(options.timeoutMs)} ms`));
    }, options.timeoutMs);
    const onAbort = (): void => {
      finish(new OpenFlowAbortError('connect aborted', { cause: options.signal.reason }));
    };
    const onMessage = (d: Decoded): void => {
      if (d.message.type === 'hello') finish(undefined, d.message);
      else if (d.message.type === 'error') finish(switchError(d.message, d.xid, { request: 'hello' }));
      else finish(new OpenFlowProtocolError(`expected OFPT_HELLO as the first message, got ${d.message.type}`));
    };
    const onClose = (error: Error | undefined): void => {
      finish(
        error ??
          new OpenFlowConnectionError(
            `${options.peer} closed the connection during the hello exchange${options.tls ? ' (over TLS this is also how a switch refuses our client certificate)' : ''}`,
          ),
      );
    };
    function finish(error: Error | undefined, hello?: Hello): void {
      clearTimeout(timer);
      options.signal.removeEventListener('abort', onAbort);
      connection.off('message', onMessage);
      connection.off('close', onClose);
      if (error) reject(error);
      else if (hello) resolve(hello);
    }
    if (options.signal.aborted) {
      onAbort();
      return;
    }
    options.signal.addEventListener('abort', onAbort, { once: true });
    connection.on('message', onMessage);
    connection.on('close', onClose);
  });
}
