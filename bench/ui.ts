/// <reference lib="dom" />
/**
 * The dashboard in a real browser (Debian's chromium through playwright-core), measured:
 *
 * 1. On the demo: page weight over the wire and first contentful paint of `/ui` (cold: a new
 *    browser context per load), side by side with the Swagger UI page the same manager serves at
 *    `/docs` (the baseline: a page every operator of the API already opens).
 * 2. On the agent bench's cloud (default 200 hosts × 20 servers = 4 000 VMs, each with an SLA,
 *    in-process OVSDB): the live SLA view following the manager's stream at several intervals —
 *    events per second the page handled against those the stream offered, the page's time per
 *    event (parse, ring buffers, redraw of the visible rows), the event's size, and the agent's
 *    `GET /v1/sla` for the same VMs (the server side of every sample).
 *
 * `npm run bench -- ui [--hosts N] [--servers-per-host M] [--seconds S] [--intervals 1000,250,100] [--loads K] [--quick]`
 */
import { get as httpGet } from 'node:http';
import { performance } from 'node:perf_hooks';
import { createGunzip } from 'node:zlib';
import type { Browser, Page } from 'playwright-core';
import { parseAgentConfig } from '../src/agent/config.ts';
import { simAgentOptions, simCloudConfig, startAgent, type RunningAgent } from '../src/agent/main.ts';
import { runDemo } from '../src/cli/demo.ts';
import { AgentClient } from '../src/manager/agent-client.ts';
import { parseManagerConfig } from '../src/manager/config.ts';
import { startManager } from '../src/manager/main.ts';
import { createOpenStack } from '../src/openstack/index.ts';
import { startSimCloud, type SimCloud } from '../src/sim/index.ts';
import { launchBrowser } from '../test/harness/browser.ts';
import { hostName, mapLimit, scenario, waitFor } from './agent.ts';

const AGENT_TOKEN = 'bench-ui-agent-token-0123456789';
const MANAGER_TOKEN = 'bench-ui-manager-token-0123456789';
const TARGET_FIRST_PAINT_MS = 1000;

interface Options {
  hosts: number;
  serversPerHost: number;
  seconds: number;
  intervals: number[];
  loads: number;
  quick: boolean;
}

const USAGE = `usage: npm run bench -- ui [--hosts N] [--servers-per-host M] [--seconds S] [--intervals A,B,…] [--loads K] [--quick]
  --hosts N             simulated compute hosts (default 200; --quick 20)
  --servers-per-host M  servers per host, each with an SLA (default 20; --quick 10)
  --seconds S           how long the SLA view is watched at each interval (default 10; --quick 4)
  --intervals A,B,…     stream intervals in ms (default 1000,250,100)
  --loads K             cold page loads per page for weight and first paint (default 5; --quick 2)`;

function parseOptions(argv: readonly string[]): Options {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const int = (flag: string, fallback: number): number => {
    const v = value(flag);
    if (v === undefined) return fallback;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be a positive integer, got ${v}\n${USAGE}`);
    return n;
  };
  const known = new Set(['--hosts', '--servers-per-host', '--seconds', '--intervals', '--loads', '--quick']);
  const unknown = argv.filter((a, i) => a.startsWith('--') && !known.has(a) && !known.has(argv[i - 1] ?? ''));
  if (unknown.length > 0) throw new Error(`unknown option ${unknown.join(', ')}\n${USAGE}`);
  const intervals = (value('--intervals') ?? '1000,250,100').split(',').map(Number);
  if (intervals.some((n) => !Number.isInteger(n) || n < 20)) throw new Error(`--intervals: integers ≥ 20 ms\n${USAGE}`);
  return {
    hosts: int('--hosts', quick ? 20 : 200),
    serversPerHost: int('--servers-per-host', quick ? 10 : 20),
    seconds: int('--seconds', quick ? 4 : 10),
    intervals,
    loads: int('--loads', quick ? 2 : 5),
    quick,
  };
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number);
};
const r1 = (n: number): number => Math.round(n * 10) / 10;
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

interface Load {
  bytes: number;
  requests: number;
  firstPaintMs: number;
  contentMs: number;
}

/** One cold load: a fresh context (empty cache), bytes as transferred (encoded bodies + headers). */
async function coldLoad(browser: Browser, url: string, ready: (page: Page) => Promise<void>): Promise<Load> {
  const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
  try {
    const page = await context.newPage();
    const sizes: Promise<number>[] = [];
    page.on('requestfinished', (request) => {
      sizes.push(request.sizes().then((s) => s.responseBodySize + s.responseHeadersSize));
    });
    await page.goto(url);
    await ready(page);
    const contentMs = await page.evaluate(() => window.performance.now());
    const firstPaintMs = await page.evaluate(() => window.performance.getEntriesByType('paint').find((e) => e.name === 'first-contentful-paint')?.startTime ?? Number.NaN);
    const bytes = (await Promise.all(sizes)).reduce((a, b) => a + b, 0);
    return { bytes, requests: sizes.length, firstPaintMs, contentMs };
  } finally {
    await context.close();
  }
}

/** Bytes on the wire per `event: sla` of the stream, gzip-encoded as a browser asks, over `ms`. */
async function streamWireBytes(url: string, token: string, ms: number): Promise<{ events: number; wireBytes: number; plainBytes: number }> {
  return new Promise((resolve, reject) => {
    const counts = { events: 0, wireBytes: 0, plainBytes: 0 };
    const request = httpGet(`${url}/v1/sla/stream`, { headers: { authorization: `Bearer ${token}`, 'accept-encoding': 'gzip' } }, (response) => {
      if (response.headers['content-encoding'] !== 'gzip') {
        reject(new Error(`the stream is not gzip-encoded (${String(response.headers['content-encoding'])})`));
        return;
      }
      const gunzip = createGunzip();
      response.on('data', (chunk: Buffer) => (counts.wireBytes += chunk.length));
      response.pipe(gunzip);
      gunzip.on('data', (chunk: Buffer) => {
        counts.plainBytes += chunk.length;
        counts.events += chunk.toString('latin1').split('event: sla').length - 1;
      });
      gunzip.on('error', () => undefined);
    });
    request.on('error', reject);
    setTimeout(() => {
      request.destroy();
      resolve(counts);
    }, ms);
  });
}

interface Row {
  label: string;
  value: string;
  baseline: string;
  ratio: string;
}

export async function main(argv: readonly string[]): Promise<void> {
  if (argv.includes('--help')) {
    console.log(USAGE);
    return;
  }
  const opts = parseOptions(argv);
  const rows: Row[] = [];
  const results: Record<string, unknown> = {};
  const browser = await launchBrowser();
  try {
    // ------------------------------------------------ (1) the demo: weight and first paint
    process.stderr.write('demo: starting\n');
    const demo = await runDemo({ once: false, json: true, ovsdb: 'in-process' });
    try {
      const urls = demo.summary.urls;
      if (!urls) throw new Error('the demo named no URLs');
      const ui: Load[] = [];
      const docs: Load[] = [];
      for (let i = 0; i < opts.loads; i++) {
        ui.push(await coldLoad(browser, urls.dashboard, (p) => p.getByRole('link', { name: demo.summary.topology }).waitFor()));
        docs.push(await coldLoad(browser, `${urls.manager}/docs`, (p) => p.locator('.swagger-ui .info').waitFor()));
      }
      const m = (xs: Load[], k: keyof Load): number => median(xs.map((x) => x[k]));
      const fp = m(ui, 'firstPaintMs');
      rows.push({ label: 'page weight over the wire (demo, cold)', value: `${kib(m(ui, 'bytes'))} in ${String(m(ui, 'requests'))} requests`, baseline: `${kib(m(docs, 'bytes'))} in ${String(m(docs, 'requests'))}`, ratio: (m(ui, 'bytes') / m(docs, 'bytes')).toFixed(2) });
      rows.push({
        label: `first contentful paint, median of ${String(opts.loads)}`,
        value: `${r1(fp)} ms (< ${String(TARGET_FIRST_PAINT_MS)} ms: ${fp < TARGET_FIRST_PAINT_MS ? 'met' : 'MISSED'})`,
        baseline: `${r1(m(docs, 'firstPaintMs'))} ms`,
        ratio: (fp / m(docs, 'firstPaintMs')).toFixed(2),
      });
      rows.push({ label: 'until the content is there (topology listed / API shown)', value: `${r1(m(ui, 'contentMs'))} ms`, baseline: `${r1(m(docs, 'contentMs'))} ms`, ratio: (m(ui, 'contentMs') / m(docs, 'contentMs')).toFixed(2) });
      results.demo = { ui, docs };
    } finally {
      await demo.stop();
    }

    // ------------------------------------------- (2) the agent bench's cloud: the SLA view
    const total = opts.hosts * opts.serversPerHost;
    process.stderr.write(`cloud: ${String(opts.hosts)} hosts × ${String(opts.serversPerHost)} servers = ${String(total)} VMs\n`);
    let sim: SimCloud | undefined;
    let agent: RunningAgent | undefined;
    try {
      sim = await startSimCloud({ scenario: scenario(opts.hosts, opts.serversPerHost), ovsdb: 'in-process', bootDelayMs: 0 });
      const { cloud } = simAgentOptions(sim);
      if (!cloud) throw new Error('simulated cloud without credentials');
      const os = createOpenStack(cloud);
      try {
        const flavor = (await os.nova.listFlavors())[0];
        const net = (await os.neutron.listNetworks())[0];
        if (!flavor || !net) throw new Error('no flavor or network');
        await mapLimit(
          Array.from({ length: total }, (_, i) => i),
          16,
          async (i) => {
            await os.nova.createServer({ name: `vm-${String(i)}`, imageRef: '', flavorRef: flavor.id, availabilityZone: `nova:${hostName(Math.floor(i / opts.serversPerHost))}`, networks: [{ uuid: net.id }] });
          },
        );
      } finally {
        await os.close();
      }
      const state = sim.state;
      await waitFor(() => [...state.servers.values()].every((s) => s.status !== 'BUILD'), 'every server ACTIVE', 180_000);
      agent = await startAgent(
        parseAgentConfig(`listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${AGENT_TOKEN}] }\nstore: { path: ":memory:" }\novsdb: { template: "unix:/unused/{host}" }\nowner: cm-bench-ui\ninventory: { refresh_interval_ms: 600000 }`, {}),
        simAgentOptions(sim, { log: false }),
      );
      const agentUrl = agent.url;
      const body: Record<string, Record<string, { qos: { 'min-rate': string; 'max-rate': string } }>> = {};
      for (const s of state.servers.values()) (body[s.host ?? ''] ??= {})[s.id] = { qos: { 'min-rate': '100000000', 'max-rate': '1000000000' } };
      const posted = await fetch(`${agentUrl}/qoses`, { method: 'POST', headers: { authorization: `Bearer ${AGENT_TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      if (posted.status !== 200) throw new Error(`POST /qoses: ${String(posted.status)}`);
      const theAgent = agent;
      await waitFor(() => theAgent.fleet.status().filter((s) => s.state === 'applied').length >= total, `${String(total)} SLAs applied`, 300_000, 50);

      const slaMs: number[] = [];
      let slaBytes = 0;
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const text = await (await fetch(`${agentUrl}/v1/sla`, { headers: { authorization: `Bearer ${AGENT_TOKEN}` } })).text();
        slaMs.push(performance.now() - t0);
        slaBytes = text.length;
      }
      const agentSlaMs = median(slaMs);
      rows.push({ label: `agent GET /v1/sla, ${String(total)} VMs (the server side of a sample)`, value: `${r1(agentSlaMs)} ms, ${kib(slaBytes)}`, baseline: '', ratio: '' });

      for (const interval of opts.intervals) {
        const client = new AgentClient({ url: agentUrl, token: AGENT_TOKEN });
        const manager = await startManager(parseManagerConfig(`listen: { host: 127.0.0.1, port: 0 }\nauth: { tokens: [${MANAGER_TOKEN}] }\nagent: { url: "${agentUrl}", token: ${AGENT_TOKEN} }\nstore: { url: "sqlite::memory:" }`, {}), {
          agent: client,
          cloud: simCloudConfig(sim),
          log: false,
          slaIntervalMs: interval,
        });
        const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
        try {
          const page = await context.newPage();
          await page.goto(`${manager.url}/ui/#token=${MANAGER_TOKEN}`);
          await page.goto(`${manager.url}/ui/#/sla`);
          await page.waitForFunction((n) => (window.cmSlaStats?.rows ?? 0) >= n && window.cmSlaStats!.events >= 2, total, { timeout: 120_000 });
          const before = await page.evaluate(() => ({ ...window.cmSlaStats! }));
          const t0 = performance.now();
          await new Promise((r) => setTimeout(r, opts.seconds * 1000));
          const after = await page.evaluate(() => ({ ...window.cmSlaStats!, visible: document.querySelectorAll('[data-testid="sla-table"] tbody tr').length }));
          const seconds = (performance.now() - t0) / 1000;
          const handled = after.events - before.events;
          const eventSize = (await (await fetch(`${manager.url}/v1/sla`, { headers: { authorization: `Bearer ${MANAGER_TOKEN}` } })).text()).length;
          const perEvent = (after.handleMsTotal - before.handleMsTotal) / Math.max(1, handled);
          const offered = 1000 / interval;
          rows.push({
            label: `SLA view, stream every ${String(interval)} ms: events/s handled`,
            value: `${(handled / seconds).toFixed(2)} of ${offered.toFixed(2)} offered; ${r1(perEvent)} ms/event (max ${r1(after.handleMsMax)}), ${String(after.visible)} rows drawn, ${kib(eventSize)}/event`,
            baseline: `${offered.toFixed(2)}/s`,
            ratio: (handled / seconds / offered).toFixed(2),
          });
          if (interval === opts.intervals[0]) {
            const wire = await streamWireBytes(manager.url, MANAGER_TOKEN, Math.max(3000, interval * 4));
            const per = (n: number): number => n / Math.max(1, wire.events);
            rows.push({ label: 'stream on the wire per event (gzip, as browsers ask)', value: `${kib(per(wire.wireBytes))} over ${String(wire.events)} events`, baseline: kib(per(wire.plainBytes)), ratio: (wire.wireBytes / Math.max(1, wire.plainBytes)).toFixed(3) });
            results.streamWire = wire;
          }
          results[`interval_${String(interval)}`] = { handled, seconds, offered, perEventMs: perEvent, maxEventMs: after.handleMsMax, eventBytes: eventSize, rows: after.rows };
        } finally {
          await context.close();
          await manager.stop();
        }
      }
      results.agentSlaMs = agentSlaMs;
      results.vms = total;
    } finally {
      await agent?.stop();
      await sim?.close();
    }
  } finally {
    await browser.close();
  }

  const w = [Math.max(...rows.map((r) => r.label.length)), Math.max(...rows.map((r) => r.value.length)), Math.max(8, ...rows.map((r) => r.baseline.length))];
  console.log(`\nThe dashboard in chromium: /ui vs Swagger UI's /docs on the demo; the SLA view with ${String(opts.hosts * opts.serversPerHost)} VMs${opts.quick ? ' [--quick]' : ''}\n`);
  console.log(`${'measure'.padEnd(w[0] ?? 0)}  ${'value'.padEnd(w[1] ?? 0)}  ${'baseline'.padEnd(w[2] ?? 0)}  ratio`);
  for (const r of rows) console.log(`${r.label.padEnd(w[0] ?? 0)}  ${r.value.padEnd(w[1] ?? 0)}  ${r.baseline.padEnd(w[2] ?? 0)}  ${r.ratio}`);
  console.log(JSON.stringify({ bench: 'ui', options: opts, results }));
}

