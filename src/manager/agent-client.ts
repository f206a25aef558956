/**
 * The manager's view of the CM Agent: its modern API over HTTP (hosts with
 * capacity, per-server SLAs, enforcement status). The agent is the only
 * component that touches switches; the manager never talks to OVSDB.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { Agent, request, type Dispatcher } from 'undici';
import { allV1HostPages, type V1Hosts } from '../agent/hosts-view.ts';
import type { SlaRequestBody } from '../qos/sla.ts';

/** The SLA body of `PUT /v1/servers/{id}/sla` (rates in bit/s, bursts in bits; pair guarantees in `peers` by server id). */
export type AgentSlaBody = SlaRequestBody;

/** `orphaned`: the server is gone from the cloud; the agent removes its SLA after `sla.orphan_grace_ms`. */
export type AgentPortState = 'applied' | 'pending' | 'drifted' | 'error' | 'orphaned';

export interface AgentSlaStatusItem {
  server_id: string;
  state: AgentPortState;
  reason: string | null;
  ports: {
    port_id: string;
    host: string | null;
    ovs_port: string | null;
    state: AgentPortState;
    reason: string | null;
    contested_by?: string | null;
    /** What the switch counts on the port now (bit/s, the VM's directions); null without live rates. */
    observed?: { download_bps: number; upload_bps: number; at: string; interval_s: number } | null;
  }[];
  server_name?: string | null;
  host?: string | null;
  /** The stored SLA (rates in bit/s). */
  desired?: AgentSlaBody;
  /** The guaranteed-rate controller's view of the VM; null when it has none. */
  guarantee?: {
    download: { guarantee_bps: number; allocated_bps: number; delivered_bps: number; demand: boolean; violation_seconds: number } | null;
    upload: { guarantee_bps: number; allocated_bps: number; delivered_bps: number; demand: boolean; violation_seconds: number } | null;
  } | null;
}

export class AgentClientError extends Error {
  readonly code: 'CM_ERR_AGENT_HTTP' | 'CM_ERR_AGENT_UNREACHABLE' | 'CM_ERR_AGENT_RESPONSE';
  constructor(
    code: AgentClientError['code'],
    message: string,
    readonly status?: number,
    readonly problem?: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AgentClientError';
    this.code = code;
  }
}

export interface AgentClientOptions {
  /** e.g. `http://127.0.0.1:8091` */
  url: string;
  /**
   * Further replicas of the same agent (they share one store, so any of them
   * answers for every server): a call that cannot connect to one is sent to
   * the next, and the client stays with the one that answered.
   */
  fallbackUrls?: readonly string[];
  token: string;
  /** Per call, retries included. @default 30000 */
  timeoutMs?: number;
  /** PEM texts for an https agent: its CA, and our client certificate when it requires one. */
  ca?: string;
  cert?: string;
  key?: string;
}

const RETRYABLE = new Set([502, 503, 504]);

export class AgentClient {
  private readonly dispatcher: Dispatcher;
  private readonly bases: readonly string[];
  /** Index in `bases` of the replica calls go to (the one that answered last). */
  private current = 0;

  constructor(private readonly options: AgentClientOptions) {
    this.bases = [options.url, ...(options.fallbackUrls ?? [])].map((u) => u.replace(/\/+$/, ''));
    const connect = { ...(options.ca ? { ca: options.ca } : {}), ...(options.cert ? { cert: options.cert } : {}), ...(options.key ? { key: options.key } : {}) };
    this.dispatcher = new Agent({ connections: 16, ...(Object.keys(connect).length > 0 ? { connect } : {}) });
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }

  /** `fresh`: the agent re-reads the cloud first (placement decisions need current capacity). */
  hosts(signal?: AbortSignal, options: { fresh?: boolean } = {}): Promise<V1Hosts> {
    return allV1HostPages((path, first) => this.call<V1Hosts>('GET', path, undefined, signal, first && options.fresh === true ? { 'cache-control': 'no-cache' } : {}));
  }

  /** Idempotent: the same body again changes nothing on the agent. */
  async putSla(serverId: string, body: AgentSlaBody, signal?: AbortSignal): Promise<void> {
    await this.call('PUT', `/v1/servers/${encodeURIComponent(serverId)}/sla`, body, signal);
  }

  /** Removes the SLA; a server without one is fine (404 is success here). */
  async deleteSla(serverId: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.call('DELETE', `/v1/servers/${encodeURIComponent(serverId)}/sla`, undefined, signal);
    } catch (error) {
      if (error instanceof AgentClientError && error.status === 404) return;
      throw error;
    }
  }

  /** Enforcement state of `serverIds` (of every SLA when omitted). */
  async slaStatus(signal?: AbortSignal, serverIds?: readonly string[]): Promise<AgentSlaStatusItem[]> {
    const query = serverIds === undefined ? '' : `?server_id=${serverIds.map(encodeURIComponent).join(',')}`;
    const body = await this.call<{ items: AgentSlaStatusItem[] }>('GET', `/v1/sla${query}`, undefined, signal);
    return body.items;
  }

  private async call<T>(method: 'GET' | 'PUT' | 'DELETE', path: string, body: unknown, signal?: AbortSignal, extraHeaders: Record<string, string> = {}): Promise<T> {
    const deadline = AbortSignal.timeout(this.options.timeoutMs ?? 30_000);
    const combined = signal ? AbortSignal.any([signal, deadline]) : deadline;
    // PUT and DELETE of an SLA are idempotent, so every method may be retried, on any replica.
    // A connection failure moves to the next replica at once; a full round of failures backs off.
    const n = this.bases.length;
    for (let attempt = 0; ; attempt++) {
      const index = this.current;
      const base = this.bases[index] ?? '';
      let response: Dispatcher.ResponseData;
      try {
        response = await request(`${base}${path}`, {
          method,
          dispatcher: this.dispatcher,
          signal: combined,
          headers: {
            authorization: `Bearer ${this.options.token}`,
            accept: 'application/json',
            ...extraHeaders,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
      } catch (error) {
        if (combined.aborted || attempt >= 4 * n - 1) {
          const which = n === 1 ? base : `${this.bases.join(', ')} (last tried ${base})`;
          throw new AgentClientError('CM_ERR_AGENT_UNREACHABLE', `CM Agent ${which} unreachable (${method} ${path}): ${(error as Error).message}`, undefined, undefined, { cause: error });
        }
        // Another call may have moved on already; only move on from the replica that failed us.
        if (this.current === index) this.current = (index + 1) % n;
        const round = Math.floor(attempt / n);
        if (attempt % n === n - 1) await delay(200 * 2 ** round, undefined, { signal: combined }).catch(() => undefined);
        continue;
      }
      const text = await response.body.text();
      if (response.statusCode === 204) return undefined as T;
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch (error) {
        throw new AgentClientError('CM_ERR_AGENT_RESPONSE', `CM Agent answered ${method} ${path} with invalid JSON`, response.statusCode, undefined, { cause: error });
      }
      if (response.statusCode >= 200 && response.statusCode < 300) return parsed as T;
      if (RETRYABLE.has(response.statusCode) && attempt < 3 && !combined.aborted) {
        await delay(250 * 2 ** attempt, undefined, { signal: combined }).catch(() => undefined);
        continue;
      }
      const detail = typeof parsed === 'object' && parsed !== null && 'detail' in parsed ? String(parsed.detail) : text.slice(0, 200);
      throw new AgentClientError('CM_ERR_AGENT_HTTP', `CM Agent: ${method} ${path} → ${String(response.statusCode)}: ${detail}`, response.statusCode, parsed);
    }
  }
}
