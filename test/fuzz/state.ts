/**
 * The stored state a refused write must leave alone, read cheaply: the manager's topologies
 * and catalog, the agent's SLAs, and each host's OVSDB rows the agent writes (QoS,
 * Queue, and the Port/Interface columns that point at them or police uploads). Live
 * measurements (rates, sampling times) are dropped: they move on their own.
 */
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { select } from '../../src/ovsdb/operations.ts';
import type { Target } from './client.ts';

/** Keys whose values are live measurements, not stored state. */
const VOLATILE = new Set(['at', 'observed', 'observed_error', 'download_bps', 'upload_bps', 'allocated_download_bps', 'demand', 'violation_seconds', 'violating', 'guarantee']);

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (typeof v === 'object' && v !== null) {
    return Object.fromEntries(
      Object.entries(v)
        .filter(([k]) => !VOLATILE.has(k))
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, x]) => [k, canonical(x)]),
    );
  }
  return v;
}

export type Snapshot = Record<string, string>;

export class StateReader {
  private readonly clients = new Map<string, OvsdbClient>();
  /** Requests the reader made (they are not the fuzzer's). */
  requests = 0;

  private constructor(private readonly target: Target) {}

  static async open(target: Target, ovsdb: ReadonlyMap<string, string>): Promise<StateReader> {
    const r = new StateReader(target);
    for (const [host, endpoint] of ovsdb) r.clients.set(host, await OvsdbClient.connect({ endpoint }));
    return r;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
  }

  private async get(service: 'manager' | 'agent', path: string): Promise<unknown> {
    this.requests += 1;
    const r = await fetch(`${this.target.url[service]}${path}`, { headers: { authorization: `Bearer ${this.target.token[service]}` } });
    const text = await r.text();
    if (r.status !== 200) throw new Error(`state read ${service} GET ${path}: ${String(r.status)} ${text.slice(0, 200)}`);
    return JSON.parse(text) as unknown;
  }

  async topologies(): Promise<{ id: string; state: string }[]> {
    const items: { id: string; state: string }[] = [];
    let cursor: string | null = null;
    do {
      const page = (await this.get('manager', `/v1/topologies?limit=1000${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`)) as { items: { id: string; state: string }[]; next_cursor: string | null };
      items.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor !== null);
    return items;
  }

  /** All parts read concurrently (the services run in another process: this is latency, not load). */
  async snapshot(): Promise<Snapshot> {
    const out: Snapshot = {};
    const http = Promise.all([this.topologies(), this.get('manager', '/services'), this.get('agent', '/v1/sla')]);
    const switches = Promise.all([...this.clients].map(async ([host, c]) => [host, await this.switchRows(c)] as const));
    const [[topologies, services, slas], hosts] = await Promise.all([http, switches]);
    out['manager GET /v1/topologies'] = JSON.stringify(canonical(topologies));
    out['manager GET /services'] = JSON.stringify(canonical(services));
    out['agent GET /v1/sla'] = JSON.stringify(canonical(slas));
    for (const [host, tables] of hosts) for (const [table, rows] of Object.entries(tables)) out[`ovsdb ${host} ${table}`] = rows;
    return out;
  }

  private async switchRows(c: OvsdbClient): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    const results = await c.transact('Open_vSwitch', [
      select('QoS', []),
      select('Queue', []),
      select('Port', [], ['name', 'qos']),
      select('Interface', [], ['name', 'ingress_policing_rate', 'ingress_policing_burst']),
    ]);
    const tables = ['QoS', 'Queue', 'Port', 'Interface'];
    results.forEach((r, i) => {
      const rows = ((r as { rows?: Record<string, unknown>[] }).rows ?? []).map((row) => JSON.stringify(canonical(row))).sort();
      out[tables[i] ?? '?'] = JSON.stringify(rows);
    });
    return out;
  }

  /** Waits until nothing moves: two equal snapshots 100 ms apart, no topology mid-way, every SLA applied. */
  async settle(timeoutMs = 30_000): Promise<Snapshot> {
    const deadline = Date.now() + timeoutMs;
    let previous = await this.snapshot();
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      const next = await this.snapshot();
      const topologies = JSON.parse(next['manager GET /v1/topologies'] ?? '[]') as { state: string }[];
      const slas = JSON.parse(next['agent GET /v1/sla'] ?? '{}') as { items?: { state: string }[] };
      const quiet =
        diff(previous, next).length === 0 &&
        topologies.every((t) => ['ACTIVE', 'FAILED', 'DELETED'].includes(t.state)) &&
        (slas.items ?? []).every((s) => s.state === 'applied');
      if (quiet) return next;
      if (Date.now() > deadline) throw new Error(`the stack did not settle within ${String(timeoutMs)} ms: ${diff(previous, next).join(', ') || 'states still moving'}`);
      previous = next;
    }
  }
}

/** The parts of the state that differ, each with the first difference (a short excerpt). */
export function diff(a: Snapshot, b: Snapshot): string[] {
  const out: string[] = [];
  for (const k of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = a[k] ?? '';
    const y = b[k] ?? '';
    if (x === y) continue;
    let i = 0;
    while (i < x.length && i < y.length && x[i] === y[i]) i++;
    const from = Math.max(0, i - 60);
    out.push(`${k}: …${x.slice(from, i + 80)}… → …${y.slice(from, i + 80)}…`);
  }
  return out;
}
