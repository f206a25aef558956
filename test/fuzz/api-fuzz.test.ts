/**
 * Issue 16: a property-based fuzz of every route of both services, generated from their OpenAPI
 * documents (GET /docs/json of the running manager and agent), over real HTTP on the simulated
 * cloud with real ovsdb-servers.
 *
 * The stack runs in a child process (stack-child.ts, started with --expose-gc): its RSS is the
 * manager's + the agent's + the simulated cloud's (the ovsdb-servers are processes of their own),
 * measured after a full GC before and after the run. The baseline is the thesis topology
 * deployed (5 servers with SLAs, so OVSDB holds QoS/Queue rows that a refused write must not
 * touch) and one topology deployed and deleted (a DELETE of it is an idempotent 202).
 *
 * One fast-check run = one request (generators.ts), checked as fuzzer.ts says. The main pass
 * records every violation and goes on (the whole budget runs: CM_FUZZ_RUNS, default 10 000,
 * seed CM_FUZZ_SEED, default fixed, both printed); then each distinct failure is replayed from
 * its run (fast-check's `path`) and shrunk to a minimal request (CM_FUZZ_SHRINK_MS in all,
 * default 90 s, and never past 275 s of the file: the runner allows 300). The summary and the reproductions are printed and written to
 * test-artifacts/fuzz/report-<seed>.json; the test fails when anything was violated.
 */
import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { AGENT_TOKEN, MANAGER_TOKEN } from '../manager/stack.ts';
import { closeClient, type FuzzRequest, type Target } from './client.ts';
import { Fuzzer, HealthWatch, HEALTH_EVERY_MS, type Violation } from './fuzzer.ts';
import { requestArbitrary, SERVERS, type Fixtures } from './generators.ts';
import { fetchOperations, opKey, type Operation } from './openapi.ts';
import { describeRequest, table, type KnownTexts } from './report.ts';
import { StateReader } from './state.ts';
import type { ChildMemory, ChildReady } from './stack-child.ts';

const ROOT = path.resolve(import.meta.dirname, '../..');
const FIXTURES = path.join(ROOT, 'src/topology/fixtures/thesis');
const read = (f: string): string => readFileSync(path.join(FIXTURES, f), 'utf8');

const SEED = Number(process.env.CM_FUZZ_SEED ?? 20_161_016);
const RUNS = Number(process.env.CM_FUZZ_RUNS ?? 10_000);
const SHRINK_MS = Number(process.env.CM_FUZZ_SHRINK_MS ?? 90_000);
const MEMORY_FACTOR = 1.5;
/** scripts/test.mjs gives a test file 300 s in all: shrinking stops in time for the report. */
const LOADED = Date.now();
const FILE_BUDGET_MS = Number(process.env.CM_FUZZ_FILE_BUDGET_MS ?? 275_000);

const thesisYaml = read('thesis.yaml');
/** The thesis's Controller alone: one unit, no requirements. */
const smallYaml = thesisYaml
  .replace(/^name: .*$/m, 'name: fuzz_small')
  .replace(/\n {2}- service_type: Broker[\s\S]*?(?=\nservice_instances:)/, '\n')
  .replace(/\n {2}- \{ name: (Broker|MediaServer),.*$/gm, '');
const fixtures: Fixtures = {
  thesisYaml,
  smallYaml,
  thesisTopology: read('topology.json'),
  serviceTypes: ['ControllerService.json', 'BrokerService.json', 'MediaService.json'].map(read),
};
const known: KnownTexts = {
  'thesis.yaml': thesisYaml,
  'small.yaml': smallYaml,
  'topology.json': fixtures.thesisTopology,
  ControllerService: fixtures.serviceTypes[0] ?? '',
  BrokerService: fixtures.serviceTypes[1] ?? '',
  MediaService: fixtures.serviceTypes[2] ?? '',
};

const printed: string[] = [];
const log = (line = ''): void => {
  printed.push(line);
  process.stdout.write(`${line}\n`);
};

interface Failure {
  signature: string;
  kind: string;
  count: number;
  firstRun: number;
  first: FuzzRequest;
  detail: string;
  status: string;
  ms: number;
  shrunk?: { request: FuzzRequest; detail: string; status: string; ms: number; shrinks: number } | { notReproduced: true };
}

function startChild(): Promise<{ child: ChildProcess; ready: ChildReady; errorLog: Map<string, string> }> {
  const child = fork(path.join(import.meta.dirname, 'stack-child.ts'), [], { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'pipe', 'pipe', 'ipc'], cwd: ROOT });
  const errorLog = new Map<string, string>();
  // The services' JSON logs: keep what a 5xx left (level ≥ 50), by request id.
  createInterface({ input: child.stdout! }).on('line', (line) => {
    if (!line.includes('"level":5') && !line.includes('"level":6') && !line.includes('"level":"error"')) return;
    try {
      const e = JSON.parse(line) as { reqId?: string; msg?: string; err?: { type?: string; message?: string; stack?: string } };
      const frame = e.err?.stack?.split('\n').find((l) => l.includes('/src/'))?.trim() ?? '';
      if (e.reqId !== undefined && errorLog.size < 5000) errorLog.set(e.reqId, `${e.msg ?? ''}: ${e.err?.type ?? ''} ${e.err?.message?.slice(0, 200) ?? ''} ${frame}`.trim());
    } catch {
      // not a JSON line
    }
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
  return new Promise((resolve, reject) => {
    child.once('message', (m: ChildReady) => {
      resolve({ child, ready: m, errorLog });
    });
    child.once('exit', (code) => {
      reject(new Error(`the stack process exited (${String(code)}): ${stderr.slice(-20).join('\n')}`));
    });
  });
}

function memory(child: ChildProcess): Promise<ChildMemory> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      if ((m as { type?: string }).type !== 'memory') return;
      child.off('message', on);
      resolve(m as ChildMemory);
    };
    child.on('message', on);
    child.send({ cmd: 'memory' });
  });
}

async function api(target: Target, service: 'manager' | 'agent', method: string, p: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${target.url[service]}${p}`, {
    method,
    headers: { authorization: `Bearer ${target.token[service]}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await r.text();
  return { status: r.status, json: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
}

async function waitState(target: Target, id: string, states: string[]): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const r = await api(target, 'manager', 'GET', `/v1/topologies/${id}`);
    if (states.includes(String(r.json.state))) return r.json;
    if (r.json.state === 'FAILED' || Date.now() > deadline) throw new Error(`topology ${id}: ${JSON.stringify(r.json.state)} ${JSON.stringify(r.json.error)}`);
    await new Promise((res) => setTimeout(res, 50));
  }
}

const mib = (n: number): string => `${(n / 1024 / 1024).toFixed(1)} MiB`;

describe('API fuzz of the manager and the agent from their OpenAPI documents (issue 16)', () => {
  let child: ChildProcess;
  let ready: ChildReady;
  let target: Target;
  let reader: StateReader;
  let health: HealthWatch;
  let fuzzer: Fuzzer;
  let ops: Operation[];
  let errorLog: Map<string, string>;

  before(async () => {
    ({ child, ready, errorLog } = await startChild());
    target = { url: { manager: ready.manager, agent: ready.agent }, token: { manager: MANAGER_TOKEN, agent: AGENT_TOKEN }, names: new Map() };
    ops = [...(await fetchOperations('manager', ready.manager)), ...(await fetchOperations('agent', ready.agent))];

    // The baseline: the thesis topology ACTIVE, and a topology deployed and deleted.
    const base = await api(target, 'manager', 'POST', '/v1/topologies', { topology: thesisYaml });
    assert.equal(base.status, 202, JSON.stringify(base.json));
    const baseId = String(base.json.id);
    const active = await waitState(target, baseId, ['ACTIVE']);
    const small = await api(target, 'manager', 'POST', '/v1/topologies', { topology: smallYaml });
    assert.equal(small.status, 202, JSON.stringify(small.json));
    const smallId = String(small.json.id);
    await waitState(target, smallId, ['ACTIVE']);
    assert.equal((await api(target, 'manager', 'DELETE', `/v1/topologies/${smallId}`)).status, 202);
    await waitState(target, smallId, ['DELETED']);

    const servers = (active.units as { name: string; server_id: string }[]).map((u) => u.server_id).sort();
    assert.equal(servers.length, SERVERS);
    const names = target.names;
    names.set('$TOPOLOGY$', baseId);
    names.set('$DELETED$', smallId);
    Object.keys(ready.ovsdb)
      .sort()
      .forEach((h, i) => names.set(`$HOST${String(i)}$`, h));
    const originalSlas = new Map<string, string>();
    for (const [i, id] of servers.entries()) {
      names.set(`$SERVER${String(i)}$`, id);
      names.set(`$SERVERUP${String(i)}$`, id.toUpperCase());
      const sla = await api(target, 'agent', 'GET', `/v1/servers/${id}/sla`);
      assert.equal(sla.status, 200);
      assert.equal(sla.json.source, 'v1');
      names.set(`$SLA${String(i)}$`, JSON.stringify(sla.json.sla));
      originalSlas.set(String(i), JSON.stringify(sla.json.sla));
    }

    // The baseline catalog: the thesis's three service types (the thesis-format routes need them).
    const catalog = new Map<string, string>();
    for (const text of fixtures.serviceTypes) {
      const type = (JSON.parse(text) as { service_type: string }).service_type;
      catalog.set(type, text);
      const r = await fetch(`${ready.manager}/services/${type}`, { method: 'PUT', headers: { authorization: `Bearer ${MANAGER_TOKEN}`, 'content-type': 'application/json' }, body: text });
      assert.ok(r.status === 200 || r.status === 201, `PUT /services/${type}: ${String(r.status)} ${await r.text()}`);
    }

    reader = await StateReader.open(target, new Map(Object.entries(ready.ovsdb)));
    health = new HealthWatch(target.url);
    fuzzer = new Fuzzer({ target, reader, health, baselineTopology: baseId, originalSlas, catalog, errorLog });
    await fuzzer.rebaseline();
  });

  after(async () => {
    (health as HealthWatch | undefined)?.stop();
    (reader as StateReader | undefined)?.close();
    closeClient();
    if ((child as ChildProcess | undefined)?.connected === true) {
      child.send({ cmd: 'close' });
      await new Promise((r) => child.once('exit', r));
    }
  });

  it(`${String(RUNS)} seeded requests over every operation: no 5xx, problem+json 4xx, answers within 2 s, refused writes change nothing, /healthz throughout, memory bounded`, { timeout: 60 * 60_000 }, async () => {
    const arb = requestArbitrary(ops, fixtures);
    log(`fuzz: seed ${String(SEED)} (CM_FUZZ_SEED), ${String(RUNS)} runs (CM_FUZZ_RUNS), shrinking budget ${String(SHRINK_MS)} ms (CM_FUZZ_SHRINK_MS)`);
    log(`operations from /docs/json: ${ops.map(opKey).join(', ')}`);
    const rssBefore = await memory(child);
    log(`stack process (pid ${String(ready.pid)}: manager + agent + simulated cloud) before: RSS ${mib(rssBefore.rss)}, heap ${mib(rssBefore.heapUsed)}${rssBefore.gc ? ' (after a full GC)' : ' (no GC available)'}`);

    // Memory: the cold figure is right after set-up; the warm one after the first tenth of the
    // runs, once the allocator has seen megabyte bodies (its high-water mark is not a leak).
    // The bound is on growth from warm to the end, both after a full GC.
    const warmAt = Math.floor(RUNS / 10);
    let rssWarm = rssBefore;
    const failures = new Map<string, Failure>();
    let run = 0;
    const t0 = Date.now();
    health.start();
    await fc.assert(
      fc.asyncProperty(arb, async (r) => {
        const index = run++;
        if (index === warmAt) rssWarm = await memory(child);
        const { outcome, violations } = await fuzzer.exec(r);
        for (const v of violations) {
          const f = failures.get(v.signature);
          if (f) f.count += 1;
          else failures.set(v.signature, { signature: v.signature, kind: v.kind, count: 1, firstRun: index, first: r, detail: v.detail, status: outcome.ok ? String(outcome.status) : 'error', ms: outcome.ms });
        }
        if (run % 1000 === 0) log(`… ${String(run)} requests, ${String(failures.size)} distinct failures, ${String(Math.round((Date.now() - t0) / 1000))} s`);
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
    const fuzzSeconds = (Date.now() - t0) / 1000;
    const rssAfter = await memory(child);
    const time = { ...fuzzer.stats.time };

    // Shrink each distinct failure from the run that first showed it.
    const shrinkStart = Date.now();
    const pending = [...failures.values()].sort((a, b) => a.firstRun - b.firstRun);
    for (const [n, f] of pending.entries()) {
      const left = Math.min(SHRINK_MS - (Date.now() - shrinkStart), FILE_BUDGET_MS - (Date.now() - LOADED));
      if (left <= 0) break;
      const budget = Math.max(2000, Math.min(30_000, left / (pending.length - n)));
      let last: { detail: string; status: string; ms: number } | undefined;
      const details = await fc.check(
        fc.asyncProperty(arb, async (r) => {
          const { outcome, violations } = await fuzzer.exec(r, false);
          const hit = violations.find((v: Violation) => v.signature === f.signature);
          if (hit) last = { detail: hit.detail, status: outcome.ok ? String(outcome.status) : 'error', ms: outcome.ms };
          return hit === undefined;
        }),
        { seed: SEED, path: String(f.firstRun), numRuns: 1, interruptAfterTimeLimit: budget },
      );
      const ce = details.counterexample?.[0];
      f.shrunk = details.failed && ce !== undefined && last ? { request: ce, ...last, shrinks: details.numShrinks } : { notReproduced: true };
    }
    health.stop();
    const lateHealth = health.failed;

    // ---------------------------------------------------------------- the summary
    const st = fuzzer.stats;
    const total = st.requests.manager + st.requests.agent;
    log('');
    log(`FUZZ SUMMARY  seed ${String(SEED)}  runs ${String(RUNS)}  ${fuzzSeconds.toFixed(0)} s (${(total / fuzzSeconds).toFixed(0)} req/s)`);
    log(table([['service', 'requests'], ['manager', st.requests.manager], ['agent', st.requests.agent], ['total', total], ['(harness: state reads, clean-up)', st.harnessRequests + reader.requests], ['(/healthz probes)', health.probes]]));
    const statuses = [...new Set([...st.statuses.keys()].map((k) => k.split(' ')[1] ?? ''))].sort();
    log(table([['status', 'manager', 'agent'], ...statuses.map((s) => [s, st.statuses.get(`manager ${s}`) ?? 0, st.statuses.get(`agent ${s}`) ?? 0])]));
    log(table([['operation', 'requests'], ...[...st.ops.entries()].sort((a, b) => b[1] - a[1]).map(([k, c]) => [k, c])]));
    log(`time: sending ${(time.send / 1000).toFixed(0)} s, state reads around writes ${(time.state / 1000).toFixed(0)} s, putting back after accepted writes ${(time.putBack / 1000).toFixed(0)} s, generating and the rest ${(fuzzSeconds - (time.send + time.state + time.putBack) / 1000).toFixed(0)} s`);
    log(`slowest: ${st.slowest.ms.toFixed(0)} ms → ${st.slowest.status}: ${st.slowest.request ? describeRequest(st.slowest.request, known) : '-'}`);
    log(`slowest /healthz: manager ${health.slowest.manager.toFixed(0)} ms, agent ${health.slowest.agent.toFixed(0)} ms (every ${String(HEALTH_EVERY_MS)} ms)`);
    log(`accepted hostile-generated writes (not failures; 2xx, then put back):`);
    for (const [k, a] of st.accepted) log(`  ${k}: ${String(a.count)}, e.g. ${describeRequest(a.example, known).slice(0, 300)}`);
    const growth = rssAfter.rss / rssWarm.rss;
    log(`stack RSS after a full GC: cold ${mib(rssBefore.rss)}, warm (run ${String(warmAt)}) ${mib(rssWarm.rss)}, end ${mib(rssAfter.rss)}: ×${growth.toFixed(2)} from warm (limit ×${String(MEMORY_FACTOR)}), ×${(rssAfter.rss / rssBefore.rss).toFixed(2)} from cold; heap ${mib(rssBefore.heapUsed)} → ${mib(rssWarm.heapUsed)} → ${mib(rssAfter.heapUsed)}`);
    log('');
    log(`${String(failures.size)} distinct failures${lateHealth.length > 0 ? ` (+${String(lateHealth.length)} /healthz failures outside any request)` : ''}:`);
    for (const f of pending) {
      log(`>> ${f.signature}  ×${String(f.count)} (first: run ${String(f.firstRun)}, ${f.status}, ${f.ms.toFixed(0)} ms)`);
      log(`   first:  ${describeRequest(f.first, known)}`);
      log(`   saw:    ${f.detail.split('\n').join('\n           ').slice(0, 1500)}`);
      if (f.shrunk === undefined) log('   shrunk: (no budget left)');
      else if ('notReproduced' in f.shrunk) log('   shrunk: not reproduced when replayed alone');
      else {
        log(`   minimal (${String(f.shrunk.shrinks)} shrinks, ${f.shrunk.status}, ${f.shrunk.ms.toFixed(0)} ms): ${describeRequest(f.shrunk.request, known)}`);
        log(`   minimal saw: ${f.shrunk.detail.split('\n').join(' ').slice(0, 600)}`);
      }
    }
    for (const p of lateHealth) log(`>> healthz outside requests: ${p.service} ${p.problem ?? ''}`);

    const dir = path.join(ROOT, 'test-artifacts', 'fuzz');
    mkdirSync(dir, { recursive: true });
    const file = path.join(dir, `report-${String(SEED)}.json`);
    const stringify = (v: unknown): string => {
      return v === undefined ? 'undefined' : JSON.stringify(v);
    };
    const full = (r: FuzzRequest): unknown => ({ ...r, body: r.body?.kind === 'json' ? stringify(r.body.value).slice(0, 200_000) : r.body?.kind === 'text' ? r.body.text.slice(0, 200_000) : r.body });
    writeFileSync(file, JSON.stringify({ seed: SEED, runs: RUNS, stats: { requests: st.requests, statuses: Object.fromEntries(st.statuses) }, memory: { cold: rssBefore, warm: rssWarm, end: rssAfter }, failures: pending.map((f) => ({ ...f, first: full(f.first), shrunk: f.shrunk && 'request' in f.shrunk ? { ...f.shrunk, request: full(f.shrunk.request) } : f.shrunk })) }, null, 1));
    log(`reproductions in full: ${path.relative(ROOT, file)}`);
    writeFileSync(path.join(dir, `summary-${String(SEED)}.txt`), `${printed.join('\n')}\n`);

    assert.ok(total >= RUNS, `every run sent a request (${String(total)} of ${String(RUNS)})`);
    const problems = [
      ...(rssAfter.rss <= MEMORY_FACTOR * rssWarm.rss ? [] : [`the stack's RSS grew ×${growth.toFixed(2)} from warm (${mib(rssWarm.rss)} → ${mib(rssAfter.rss)})`]),
      ...[...failures.keys()],
      ...lateHealth.map((p) => `healthz ${p.service}: ${p.problem ?? ''}`),
    ];
    assert.deepEqual(problems, [], `seed ${String(SEED)}: ${String(problems.length)} distinct failures`);
  });
});
