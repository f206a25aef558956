/**
 * Sends one fuzz request and checks it:
 *  - an answer, with status < 500 (503 only from /readyz);
 *  - every 4xx is application/problem+json (a JSON body whose `status` is the status) with an x-request-id;
 *  - the whole answer within 2 s (an event stream: its headers);
 *  - no 2xx without a valid token, except /healthz, /readyz, /docs and the dashboard's /ui;
 *  - a request built to be valid succeeds;
 *  - after a refused write (non-2xx POST/PUT/PATCH/DELETE, and any plan: a dry run) the stored
 *    state is what it was before (state.ts);
 *  - /healthz of both services answers 200 within 1 s throughout (polled every 200 ms).
 * After an accepted write the stack is put back (a submitted topology deleted, the baseline
 * servers' SLAs restored) and left to settle, so the state stays bounded.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { requestTarget, send, type FuzzRequest, type Outcome, type Target } from './client.ts';
import type { Service } from './openapi.ts';
import { diff, type Snapshot, type StateReader } from './state.ts';

export const LIMIT_MS = 2000;
export const HEALTH_LIMIT_MS = 1000;
export const HEALTH_EVERY_MS = 200;

export type Kind = 'no-answer' | '5xx' | 'not-problem-json' | 'no-request-id' | 'slow' | 'unauthenticated-2xx' | 'valid-refused' | 'state-changed' | 'state-unreadable' | 'healthz';

export interface Violation {
  kind: Kind;
  /** What makes two violations the same failure (kind, operation, method, status…). */
  signature: string;
  detail: string;
}

export interface Exec {
  outcome: Outcome;
  violations: Violation[];
  target: string;
}

// ------------------------------------------------------------------ /healthz, polled throughout

interface Probe {
  service: Service;
  start: number;
  end: number;
  problem: string | undefined;
}

export class HealthWatch {
  private readonly agent = new http.Agent({ keepAlive: true });
  private timer: NodeJS.Timeout | undefined;
  /** Probes that failed, not yet attributed to a request. */
  failed: Probe[] = [];
  probes = 0;
  slowest: Record<Service, number> = { manager: 0, agent: 0 };

  constructor(private readonly urls: Record<Service, string>) {}

  start(): void {
    this.timer = setInterval(() => {
      for (const service of ['manager', 'agent'] as const) void this.probe(service);
    }, HEALTH_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.timer);
    this.agent.destroy();
  }

  private probe(service: Service): Promise<void> {
    this.probes += 1;
    const start = performance.now();
    return new Promise((resolve) => {
      let finished = false;
      const finish = (problem: string | undefined): void => {
        if (finished) return;
        finished = true;
        const end = performance.now();
        const ms = end - start;
        this.slowest[service] = Math.max(this.slowest[service], ms);
        const late = problem ?? (ms > HEALTH_LIMIT_MS ? `answered after ${ms.toFixed(0)} ms` : undefined);
        if (late !== undefined) this.failed.push({ service, start, end, problem: late });
        resolve();
      };
      const req = http.get(`${this.urls[service]}/healthz`, { agent: this.agent }, (res) => {
        res.resume();
        res.on('end', () => {
          finish(res.statusCode === 200 ? undefined : `status ${String(res.statusCode)}`);
        });
      });
      req.setTimeout(10_000, () => {
        finish('no answer within 10 s');
        req.destroy();
      });
      req.on('error', (e) => {
        finish(`error ${e.message}`);
      });
    });
  }

  /** Failed probes that overlap [from, to] (removed: each is reported once). */
  take(from: number, to: number): Probe[] {
    const hit = this.failed.filter((p) => p.end >= from && p.start <= to);
    this.failed = this.failed.filter((p) => !hit.includes(p));
    return hit;
  }
}

// ------------------------------------------------------------------ statistics

export interface Stats {
  requests: Record<Service, number>;
  /** `${service} ${status}` → count ('error' for no answer). */
  statuses: Map<string, number>;
  ops: Map<string, number>;
  /** Accepted writes per operation, with the first such request. */
  accepted: Map<string, { count: number; example: FuzzRequest }>;
  slowest: { ms: number; request: FuzzRequest | undefined; status: string };
  harnessRequests: number;
  /** Where the time went, ms: sending and reading answers, reading state, putting back after accepted writes. */
  time: { send: number; state: number; putBack: number };
}

export function newStats(): Stats {
  return { requests: { manager: 0, agent: 0 }, statuses: new Map(), ops: new Map(), accepted: new Map(), slowest: { ms: 0, request: undefined, status: '' }, harnessRequests: 0, time: { send: 0, state: 0, putBack: 0 } };
}

const bump = (m: Map<string, number>, k: string): void => {
  m.set(k, (m.get(k) ?? 0) + 1);
};

const WRITES = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
/** Routes served without a token by design: health, readiness, the API description, the dashboard's static page. */
const OPEN = /^\/(healthz|readyz|docs|ui)([/?#;]|$)/;

export interface FuzzerDeps {
  target: Target;
  reader: StateReader;
  health: HealthWatch;
  /** The baseline topology and the original SLAs of its servers (restored after accepted agent writes). */
  baselineTopology: string;
  originalSlas: Map<string, string>;
  /** The baseline catalog: service type → document (restored after accepted catalog writes). */
  catalog: Map<string, string>;
  /** The services' error log lines by request id (a 5xx's cause). */
  errorLog: Map<string, string>;
}

export class Fuzzer {
  private baseline: Snapshot | undefined;
  private lastEnd = 0;
  private seq = 0;
  readonly stats = newStats();

  constructor(private readonly d: FuzzerDeps) {}

  async rebaseline(): Promise<void> {
    this.baseline = await this.d.reader.settle();
  }

  async exec(r: FuzzRequest, record = true): Promise<Exec> {
    const violations: Violation[] = [];
    const v = (kind: Kind, status: string, detail: string, extra = ''): void => {
      violations.push({ kind, signature: `${kind} | ${r.op} | ${r.method} | ${status}${extra}`, detail });
    };
    const write = WRITES.has(r.method);
    if (write && this.baseline === undefined) this.baseline = await this.d.reader.settle();
    const own = r.headers.some(([k]) => k.toLowerCase() === 'x-request-id');
    const id = `fz-${String(++this.seq)}`;
    const sent: FuzzRequest = own ? r : { ...r, headers: [...r.headers, ['x-request-id', id]] };
    const target = requestTarget(r, this.d.target.names);
    const start = performance.now();
    const outcome = await send(sent, this.d.target);
    const end = performance.now();
    this.stats.time.send += end - start;
    const status = outcome.ok ? String(outcome.status) : 'error';

    // The answer.
    if (!outcome.ok) v(outcome.error.startsWith('no complete answer') ? 'slow' : 'no-answer', status, outcome.error);
    else {
      const s = outcome.status;
      const readyz = target.split('?')[0] === '/readyz';
      const rid = outcome.headers['x-request-id'] ?? '';
      if (s >= 500 && !(s === 503 && readyz)) {
        const cause = this.d.errorLog.get(rid) ?? this.d.errorLog.get(id);
        v('5xx', status, `${outcome.body.slice(0, 300)}${cause === undefined ? '' : ` — log: ${cause}`}`);
      }
      if (s >= 400 && s < 500) {
        const type = outcome.headers['content-type'] ?? '';
        if (!type.startsWith('application/problem+json')) v('not-problem-json', status, `Content-Type ${JSON.stringify(type)}; body ${JSON.stringify(outcome.body.slice(0, 120))}`);
        else if (r.method !== 'HEAD') {
          let bodyStatus: unknown;
          try {
            bodyStatus = (JSON.parse(outcome.body) as { status?: unknown }).status;
          } catch {
            bodyStatus = 'not JSON';
          }
          if (bodyStatus !== s) v('not-problem-json', status, `problem body status ${JSON.stringify(bodyStatus)}: ${outcome.body.slice(0, 120)}`);
        }
        if (rid === '') v('no-request-id', status, 'no x-request-id header');
      }
      if (s >= 200 && s < 300 && r.auth.mode !== 'valid' && !OPEN.test(target)) v('unauthenticated-2xx', status, `${r.auth.mode} credentials accepted`);
      if (r.valid && !(s >= 200 && s < 300)) v('valid-refused', status, outcome.body.slice(0, 300));
    }
    if (outcome.ms > LIMIT_MS) v('slow', status.replace(/\d\d$/, 'xx'), `answered after ${outcome.ms.toFixed(0)} ms`);

    // /healthz while it was in flight (and until 1 s after: work a request leaves behind).
    for (const p of this.d.health.take(this.lastEnd, end + HEALTH_LIMIT_MS)) v('healthz', p.service, `${p.service} /healthz ${p.problem ?? ''} while this request was in flight or just after`);
    this.lastEnd = end;

    // The stored state.
    if (write) {
      const accepted = outcome.ok && outcome.status >= 200 && outcome.status < 300;
      try {
        const t = performance.now();
        const after = await this.d.reader.snapshot();
        this.stats.time.state += performance.now() - t;
        const mustNotChange = !accepted || (r.op === 'manager POST /v1/plans' && r.method === 'POST') || r.valid === 'sla-reput';
        const changed = diff(this.baseline ?? after, after);
        if (mustNotChange && changed.length > 0) {
          v('state-changed', status, changed.join('\n      '), ` | ${changed.map((c) => c.split(':')[0]).join(', ')}`);
        }
        // A plan is a dry run and re-putting an SLA changes nothing: checked above, nothing to put back.
        if (accepted && !mustNotChange) {
          const p = performance.now();
          await this.putBack(r, outcome);
          this.stats.time.putBack += performance.now() - p;
        }
        else if (changed.length > 0) this.baseline = await this.d.reader.settle();
        else this.baseline = after;
      } catch (error) {
        v('state-unreadable', status, (error as Error).message);
        try {
          this.baseline = await this.d.reader.settle();
        } catch {
          this.baseline = undefined;
        }
      }
    }

    if (record) this.count(r, outcome, write);
    return { outcome, violations, target };
  }

  private count(r: FuzzRequest, outcome: Outcome, write: boolean): void {
    const st = this.stats;
    const status = outcome.ok ? String(outcome.status) : 'error';
    st.requests[r.service] += 1;
    bump(st.statuses, `${r.service} ${status}`);
    bump(st.ops, r.op);
    if (outcome.ms > st.slowest.ms) st.slowest = { ms: outcome.ms, request: r, status };
    if (write && outcome.ok && outcome.status >= 200 && outcome.status < 300 && !r.valid) {
      const key = `${r.op}${r.method === r.op.split(' ')[1] ? '' : ` sent as ${r.method}`} → ${status}`;
      const a = st.accepted.get(key);
      if (a) a.count += 1;
      else st.accepted.set(key, { count: 1, example: r });
    }
  }

  private async harness(service: Service, method: string, path: string, body?: string): Promise<{ status: number; json: unknown }> {
    this.stats.harnessRequests += 1;
    const response = await fetch(`${this.d.target.url[service]}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.d.target.token[service]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body }),
    });
    const text = await response.text();
    return { status: response.status, json: text === '' ? undefined : (JSON.parse(text) as unknown) };
  }

  /** The catalog back to the baseline: types added by the fuzz removed, the baseline's put back as they were. */
  private async restoreCatalog(): Promise<void> {
    const list = await this.harness('manager', 'GET', '/services');
    for (const e of (list.json as { service_type?: string; source?: string }[] | undefined) ?? []) {
      if (typeof e.service_type !== 'string' || this.d.catalog.has(e.service_type) || e.source === 'config') continue;
      const del = await this.harness('manager', 'DELETE', `/services/${encodeURIComponent(e.service_type)}`);
      if (del.status !== 204) throw new Error(`restore: DELETE /services/${e.service_type} answered ${String(del.status)}`);
    }
    for (const [type, text] of this.d.catalog) {
      const now = await this.harness('manager', 'GET', `/services/${type}`);
      if (now.status === 200 && JSON.stringify((now.json as { document?: unknown }).document) === JSON.stringify(JSON.parse(text))) continue;
      const put = await this.harness('manager', 'PUT', `/services/${type}`, text);
      if (put.status !== 200 && put.status !== 201) throw new Error(`restore: PUT /services/${type} answered ${String(put.status)}`);
    }
  }

  /** After an accepted write: delete what it deployed, restore the baseline SLAs, wait for quiet. */
  private async putBack(r: FuzzRequest, outcome: Outcome): Promise<void> {
    if (!outcome.ok) return;
    if (r.service === 'manager') {
      let created: { id?: unknown; state?: unknown } | undefined;
      try {
        created = JSON.parse(outcome.body) as { id?: unknown; state?: unknown };
      } catch {
        created = undefined;
      }
      const id = created?.id;
      if (typeof id === 'string' && id !== this.d.baselineTopology && (r.op.endsWith('/topologies') || r.op.endsWith('/v1/topologies'))) {
        await this.d.reader.settle(60_000);
        const del = await this.harness('manager', 'DELETE', `/v1/topologies/${id}`);
        if (del.status !== 202) throw new Error(`cleanup: DELETE /v1/topologies/${id} answered ${String(del.status)}`);
      }
      if (r.op.includes(' /services')) await this.restoreCatalog();
    } else {
      await this.d.reader.settle();
      for (const [i, original] of this.d.originalSlas) {
        const server = this.d.target.names.get(`$SERVER${i}$`) ?? '';
        const now = await this.harness('agent', 'GET', `/v1/servers/${server}/sla`);
        const current = now.status === 200 ? JSON.stringify((now.json as { sla: unknown }).sla) : undefined;
        if (current !== original || (now.json as { source?: string } | undefined)?.source !== 'v1') {
          const put = await this.harness('agent', 'PUT', `/v1/servers/${server}/sla`, original);
          if (put.status !== 200 && put.status !== 201) throw new Error(`restore: PUT /v1/servers/${server}/sla answered ${String(put.status)}`);
        }
      }
    }
    this.baseline = await this.d.reader.settle(60_000);
    const topologies = await this.d.reader.topologies();
    const base = topologies.find((t) => t.id === this.d.baselineTopology);
    if (base?.state !== 'ACTIVE') throw new Error(`the baseline topology is ${base?.state ?? 'gone'} after ${r.op}`);
  }
}
