/**
 * The manager's dashboard routes through app.inject (and a listening server
 * for the event stream): the manager app on a SQLite store with stored
 * topologies, a fake agent answering hosts and SLA status, the deployer not
 * started. Tokens on every data route, the static page open, hosts joined with
 * the committed uplink guarantees, SLAs joined with topology units, the stream,
 * and the demands of a topology with whether they cross an uplink.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Agent as UndiciAgent, fetch as undiciFetch } from 'undici';
import type { V1Host, V1HostGuarantees, V1Hosts } from '../../src/agent/hosts-view.ts';
import type { AgentSlaStatusItem } from '../../src/manager/agent-client.ts';
import { buildManagerApp } from '../../src/manager/app.ts';
import { FileCatalog } from '../../src/manager/main.ts';
import { Deployer, type AgentApi, type CloudApi, type StoredPlan, type UnitRecord } from '../../src/manager/deployer.ts';
import type { TopologyRequest } from '../../src/manager/planner.ts';
import type { SlaRow, SlaSample } from '../../src/manager/sla-feed.ts';
import type { ServiceApp } from '../../src/http/service.ts';
import type { PlacementPlan } from '../../src/placement/types.ts';
import { openManagerStore, type ManagerStore, type TopologyState } from '../../src/store/index.ts';
import { DEFAULT_SLA_CLASSES } from '../../src/topology/index.ts';
import { MANAGER_TOKEN as TOKEN, until } from './stack.ts';

const AUTH = { authorization: `Bearer ${TOKEN}` };
const PROJECT = 'project-dashboard';
const THESIS_YAML = readFileSync(path.resolve(import.meta.dirname, '../../src/topology/fixtures/thesis/thesis.yaml'), 'utf8');
const THESIS_REQUEST: TopologyRequest = { format: 'yaml', files: [{ name: 'thesis.yaml', text: THESIS_YAML }], strategy: 'traffic-aware' };

/** The thesis topology split over two hosts: Broker-1 with MediaServer-1 on compute1, MediaServer-2 and -3 on compute2. */
const SPLIT: Record<string, string> = {
  'Controller-1': 'compute1',
  'Broker-1': 'compute1',
  'MediaServer-1': 'compute1',
  'MediaServer-2': 'compute2',
  'MediaServer-3': 'compute2',
};
/** Server ids of the split topology's units (upper case, as a careless cloud might give them). */
const SPLIT_SERVER: Record<string, string> = {
  'Controller-1': 'C1000000-0000-4000-8000-000000000001',
  'Broker-1': 'B1000000-0000-4000-8000-000000000001',
  'MediaServer-1': 'A1000000-0000-4000-8000-000000000001',
  'MediaServer-2': 'A1000000-0000-4000-8000-000000000002',
  'MediaServer-3': 'A1000000-0000-4000-8000-000000000003',
};
const SINGLE_SERVER = 'd2000000-0000-4000-8000-000000000001';
const STRANGER_SERVER = 'e3000000-0000-4000-8000-000000000001';

function feasible(assignments: Record<string, string>, uplinkBps: Record<string, number>): StoredPlan {
  const placement: PlacementPlan = {
    feasible: true,
    strategy: 'traffic-aware',
    assignments,
    hosts: [...new Set(Object.values(assignments))].sort(),
    crossHostBps: 0,
    uplinkBps,
    explanation: { summary: 'test plan', chosen: [], rejected: [], steps: [] },
  };
  return { placement, plannedAt: '2026-01-01T00:00:00.000Z', attempt: 1 };
}

const INFEASIBLE: StoredPlan = {
  placement: { feasible: false, strategy: 'traffic-aware', reasons: [], explanation: { summary: 'does not fit', chosen: [], rejected: [], steps: [] } },
  plannedAt: '2026-01-01T00:00:00.000Z',
  attempt: 1,
};

function unit(name: string, serverId: string | null, slaClass: string | null): UnitRecord {
  return { name, serviceInstance: name.replace(/-\d+$/, ''), host: null, serverId, ports: [], slaClass, slaState: 'applied' };
}

function guarantees(guaranteed: number): V1HostGuarantees {
  return { uplink_bps: 10_000_000_000, guaranteed_download_bps: guaranteed, guaranteed_upload_bps: 0, overcommitted: null, limiters: 2, error: null };
}

function host(name: string, openflow: V1Host['openflow'], g: V1HostGuarantees | null): V1Host {
  const r = (capacity: number, used: number) => ({ total: capacity, reserved: 0, allocation_ratio: 1, used, capacity, free: capacity - used, max_unit: capacity });
  return {
    name,
    hypervisor_hostname: `${name}.example`,
    hypervisor_id: 1,
    host_ip: null,
    state: 'up',
    status: 'enabled',
    disabled_reason: null,
    availability_zone: 'nova',
    resource_provider_uuid: null,
    instances: 3,
    resources: { VCPU: r(8, 3), MEMORY_MB: r(16_384, 1_536), DISK_GB: r(100, 0) },
    ovsdb: 'ok',
    owner_agent: null,
    openflow,
    guarantees: g,
    warnings: [],
    servers: [],
  };
}

function slaItem(serverId: string, hostName: string, name: string, observed: { down: number; up: number } | null, violation = 0): AgentSlaStatusItem {
  return {
    server_id: serverId,
    state: 'applied',
    reason: null,
    server_name: name,
    host: hostName,
    ports: [
      {
        port_id: `port-${name}`,
        host: hostName,
        ovs_port: `tap-${name}`,
        state: 'applied',
        reason: null,
        observed: observed === null ? null : { download_bps: observed.down, upload_bps: observed.up, at: '2026-01-01T00:00:00Z', interval_s: 1 },
      },
    ],
    desired: { download: { min: 100_000_000, max: 1_000_000_000 } },
    guarantee: { download: { guarantee_bps: 100_000_000, allocated_bps: 100_000_000, delivered_bps: 0, demand: false, violation_seconds: violation }, upload: null },
  };
}

/** The agent as the dashboard reads it: hosts and the SLA status; counts the status calls. */
class FakeAgent implements AgentApi {
  slaCalls = 0;
  items: AgentSlaStatusItem[] = [
    slaItem(SPLIT_SERVER['Broker-1']!, 'compute1', 'broker', { down: 10_000_000, up: 1_000_000 }),
    slaItem(SPLIT_SERVER['MediaServer-1']!, 'compute1', 'media-1', { down: 5_000_000, up: 500_000 }),
    slaItem(SPLIT_SERVER['MediaServer-2']!, 'compute2', 'media-2', { down: 20_000_000, up: 2_000_000 }),
    slaItem(SPLIT_SERVER['MediaServer-3']!, 'compute2', 'media-3', null),
    slaItem(SINGLE_SERVER, 'compute1', 'single', null),
    slaItem(STRANGER_SERVER, 'compute2', 'stranger', { down: 1_000, up: 1_000 }),
  ];

  hosts(): Promise<V1Hosts> {
    return Promise.resolve({
      refreshed_at: '2026-01-01T00:00:00.000Z',
      stale: false,
      last_error: null,
      capacity_source: 'placement',
      compute_microversion: '2.88',
      hosts: [host('compute1', 'connected', guarantees(400_000_000)), host('compute2', 'disconnected', null), host('compute3', null, null)],
      unplaced_servers: [],
      warnings: [],
    });
  }
  putSla(): Promise<void> {
    return Promise.reject(new Error('the dashboard does not write SLAs'));
  }
  deleteSla(): Promise<void> {
    return Promise.reject(new Error('the dashboard does not delete SLAs'));
  }
  slaStatus(): Promise<AgentSlaStatusItem[]> {
    this.slaCalls++;
    return Promise.resolve(this.items);
  }
}

const unusedCloud = new Proxy({} as CloudApi, {
  get: () => {
    throw new Error('the dashboard does not call the cloud');
  },
});

interface Manager {
  app: ServiceApp;
  store: ManagerStore;
  agent: FakeAgent;
  close(): Promise<void>;
}

async function manager(uiDir: string | undefined): Promise<Manager> {
  const store = await openManagerStore({ url: 'sqlite::memory:' });
  const agent = new FakeAgent();
  const deployer = new Deployer({
    store,
    agent,
    cloud: unusedCloud,
    classes: DEFAULT_SLA_CLASSES,
    uplink: { defaultBps: 1_000_000_000, hosts: { compute2: 10_000_000_000 } },
    availabilityZone: 'nova',
    stackTimeoutS: 10,
    enforceTimeoutS: 10,
    leaseMs: 30_000,
  });
  const app = await buildManagerApp({
    store,
    deployer,
    catalog: new FileCatalog(),
    defaultStrategy: 'traffic-aware',
    projectId: PROJECT,
    auth: { tokens: [TOKEN] },
    ready: () => Promise.resolve([]),
    logger: false,
    dashboard: { uiDir, slaIntervalMs: 20 },
  });
  return {
    app,
    store,
    agent,
    close: async () => {
      await app.close();
      await store.close();
    },
  };
}

async function addTopology(store: ManagerStore, o: { name: string; state: TopologyState; plan: StoredPlan | null; units?: UnitRecord[]; projectId?: string }): Promise<string> {
  const { topology } = await store.createTopology({
    name: o.name,
    projectId: o.projectId ?? PROJECT,
    strategy: 'traffic-aware',
    request: THESIS_REQUEST,
    stackName: `cm-${o.name}`,
    state: o.state,
    plan: o.plan,
    units: o.units ?? [],
    deployRequestedAt: '2026-01-01T00:00:00.000Z',
  });
  return topology.id;
}

describe('manager dashboard routes', () => {
  let m: Manager;
  let uiDir: string;
  let splitId: string;
  let singleId: string;
  let unplannedId: string;

  before(async () => {
    uiDir = mkdtempSync(path.join(tmpdir(), 'cm-dashboard-ui-'));
    writeFileSync(path.join(uiDir, 'index.html'), '<!doctype html><title>CM dashboard test page</title>');
    writeFileSync(path.join(uiDir, 'app-3f9a1c.js'), 'console.log("asset");');
    m = await manager(uiDir);
    splitId = await addTopology(m.store, {
      name: 'split',
      state: 'ACTIVE',
      plan: feasible(SPLIT, { compute1: 200_000_000, compute2: 200_000_000 }),
      units: Object.keys(SPLIT).map((u) => unit(u, SPLIT_SERVER[u]!, u.startsWith('MediaServer') ? 'Gold' : 'Wholesale')),
    });
    singleId = await addTopology(m.store, { name: 'single', state: 'DEPLOYING', plan: feasible({ 'Only-1': 'compute1' }, { compute1: 30_000_000 }), units: [unit('Only-1', SINGLE_SERVER, 'Silver')] });
    // None of the first three commits anything (deleted, failed, infeasible); another project's does: an uplink
    // is shared by every project's servers (issue 17: the hosts view is the operator's, over all projects).
    await addTopology(m.store, { name: 'leaving', state: 'DELETING', plan: feasible({ 'X-1': 'compute1' }, { compute1: 1_000_000_000 }) });
    await addTopology(m.store, { name: 'broken', state: 'FAILED', plan: feasible({ 'X-1': 'compute2' }, { compute2: 1_000_000_000 }) });
    unplannedId = await addTopology(m.store, { name: 'unplaceable', state: 'PLANNED', plan: INFEASIBLE });
    await addTopology(m.store, { name: 'foreign', state: 'ACTIVE', plan: feasible({ 'X-1': 'compute1' }, { compute1: 1_000_000_000 }), projectId: 'another-project' });
  });

  after(async () => {
    await m.close();
    rmSync(uiDir, { recursive: true, force: true });
  });

  it('answers 401 without a token on /v1/hosts, /v1/sla and /v1/sla/stream', async () => {
    for (const url of ['/v1/hosts', '/v1/sla', '/v1/sla/stream']) {
      const r = await m.app.inject({ method: 'GET', url });
      assert.equal(r.statusCode, 401, url);
      assert.match(String(r.headers['content-type']), /^application\/problem\+json/, url);
      assert.match(String(r.headers['www-authenticate']), /^Bearer realm="cm-manager"/, url);
      const wrong = await m.app.inject({ method: 'GET', url, headers: { authorization: 'Bearer not-the-token-0123456789' } });
      assert.equal(wrong.statusCode, 401, `${url} with a wrong token`);
    }
    assert.equal(m.agent.slaCalls, 0, 'nothing was read from the agent for a refused request');
  });

  it('serves the page at /ui/ without a token, with its CSP, and the page is revalidated while assets are immutable', async () => {
    const page = await m.app.inject({ method: 'GET', url: '/ui/' });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /CM dashboard test page/);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.equal(page.headers['cache-control'], 'no-cache');
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.equal(page.headers['x-content-type-options'], 'nosniff');

    const byName = await m.app.inject({ method: 'GET', url: '/ui/index.html' });
    assert.equal(byName.statusCode, 200);
    assert.equal(byName.headers['cache-control'], 'no-cache');

    const asset = await m.app.inject({ method: 'GET', url: '/ui/app-3f9a1c.js' });
    assert.equal(asset.statusCode, 200);
    assert.equal(asset.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.match(String(asset.headers['content-security-policy']), /default-src 'self'/);

    const missing = await m.app.inject({ method: 'GET', url: '/ui/no-such-file.js' });
    assert.equal(missing.statusCode, 404, 'a missing file is a 404, not a 401');
  });

  it('redirects /ui to /ui/ without a token', async () => {
    const r = await m.app.inject({ method: 'GET', url: '/ui' });
    assert.ok(r.statusCode >= 300 && r.statusCode < 400, String(r.statusCode));
    assert.equal(r.headers.location, '/ui/');
  });

  it('without a built page, /ui/* answers a problem+json 404 (no token needed to learn that)', async () => {
    const bare = await manager(undefined);
    try {
      for (const url of ['/ui/x', '/ui/']) {
        const r = await bare.app.inject({ method: 'GET', url });
        assert.equal(r.statusCode, 404, url);
        assert.match(String(r.headers['content-type']), /^application\/problem\+json/, url);
        const body = r.json<{ status: number; type: string; detail: string }>();
        assert.equal(body.status, 404);
        assert.match(body.type, /not-found$/);
        assert.match(body.detail, /npm run build/);
      }
      // The data routes still need the token.
      assert.equal((await bare.app.inject({ method: 'GET', url: '/v1/sla' })).statusCode, 401);
    } finally {
      await bare.close();
    }
  });

  it('GET /v1/sla joins each SLA with its topology unit; ?topology= keeps that topology only', async () => {
    const r = await m.app.inject({ method: 'GET', url: '/v1/sla', headers: AUTH });
    assert.equal(r.statusCode, 200);
    const sample = r.json<SlaSample>();
    assert.equal(sample.error, null);
    assert.equal(sample.rows.length, m.agent.items.length);
    const by = new Map(sample.rows.map((row) => [row.server_id, row]));
    const broker = by.get(SPLIT_SERVER['Broker-1']!.toLowerCase());
    assert.ok(broker, 'the server id is matched whatever its case');
    assert.deepEqual([broker.topology_id, broker.topology, broker.unit, broker.sla_class], [splitId, 'split', 'Broker-1', 'Wholesale']);
    assert.equal(broker.download_bps, 10_000_000);
    assert.deepEqual([by.get(SINGLE_SERVER)?.topology, by.get(SINGLE_SERVER)?.unit], ['single', 'Only-1']);
    const stranger = by.get(STRANGER_SERVER);
    assert.deepEqual([stranger?.topology_id, stranger?.unit], [null, null], 'a server of no topology of ours has no unit');

    const split = (await m.app.inject({ method: 'GET', url: `/v1/sla?topology=${splitId}`, headers: AUTH })).json<SlaSample>();
    assert.deepEqual(split.rows.map((row) => row.unit).sort(), ['Broker-1', 'MediaServer-1', 'MediaServer-2', 'MediaServer-3']);
    assert.ok(split.rows.every((row: SlaRow) => row.topology_id === splitId));
    const single = (await m.app.inject({ method: 'GET', url: `/v1/sla?topology=${singleId}`, headers: AUTH })).json<SlaSample>();
    assert.deepEqual(
      single.rows.map((row) => row.server_id),
      [SINGLE_SERVER],
    );
    const none = (await m.app.inject({ method: 'GET', url: '/v1/sla?topology=no-such-topology', headers: AUTH })).json<SlaSample>();
    assert.deepEqual(none.rows, []);
  });

  it('GET /v1/sla follows the agent between calls (no stream open)', async () => {
    const before = (await m.app.inject({ method: 'GET', url: '/v1/sla', headers: AUTH })).json<SlaSample>();
    const saved = m.agent.items;
    m.agent.items = saved.map((i) => (i.server_id === STRANGER_SERVER ? slaItem(STRANGER_SERVER, 'compute2', 'stranger', { down: 7_000, up: 1_000 }, 5) : i));
    try {
      const later = (await m.app.inject({ method: 'GET', url: '/v1/sla', headers: AUTH })).json<SlaSample>();
      const stranger = later.rows.find((row) => row.server_id === STRANGER_SERVER);
      assert.equal(stranger?.download_bps, 7_000, `still ${String(stranger?.download_bps)} (first sample from ${before.at})`);
      assert.equal(stranger.violating, true, 'its violation seconds moved from 0 to 5');
    } finally {
      m.agent.items = saved;
    }
  });

  it('GET /v1/hosts sums the committed uplink guarantees of the feasible plans per host, names their topologies, and passes the agent fields through', async () => {
    const r = await m.app.inject({ method: 'GET', url: '/v1/hosts', headers: AUTH });
    assert.equal(r.statusCode, 200);
    const body = r.json<{ refreshed_at: string; stale: boolean; hosts: Record<string, unknown>[] }>();
    assert.equal(body.stale, false);
    const by = new Map(body.hosts.map((h) => [h.name, h]));
    assert.deepEqual([...by.keys()], ['compute1', 'compute2', 'compute3']);
    const c1 = by.get('compute1')!;
    const c2 = by.get('compute2')!;
    const c3 = by.get('compute3')!;
    // split 200 Mbit/s + single 30 Mbit/s + foreign 1 Gbit/s; the DELETING, FAILED and infeasible topologies add nothing.
    assert.equal(c1.committed_bps, 1_230_000_000);
    assert.deepEqual(c1.topologies, ['split', 'single', 'foreign']);
    assert.equal(c2.committed_bps, 200_000_000);
    assert.deepEqual(c2.topologies, ['split']);
    assert.equal(c3.committed_bps, 0);
    assert.deepEqual(c3.topologies, []);
    // Uplink capacity from the manager's configuration: a per-host value or the default.
    assert.equal(c1.uplink_bps, 1_000_000_000);
    assert.equal(c2.uplink_bps, 10_000_000_000);
    // What the agent says passes through.
    assert.equal(c1.openflow, 'connected');
    assert.equal(c2.openflow, 'disconnected');
    assert.equal(c3.openflow, null);
    assert.deepEqual(c1.guarantees, guarantees(400_000_000));
    assert.equal(c2.guarantees, null);
    assert.deepEqual(c1.vcpu, { used: 3, capacity: 8 });
    // Observed rates: the SLA rows of each host added up (null where none is counted).
    assert.deepEqual([c1.observed_download_bps, c1.observed_upload_bps], [15_000_000, 1_500_000]);
    assert.deepEqual([c2.observed_download_bps, c2.observed_upload_bps], [20_001_000, 2_001_000]);
    assert.deepEqual([c3.observed_download_bps, c3.observed_upload_bps], [null, null]);
  });

  /** Reads the stream until its first `event: sla` block; `encoding` is what the client accepts. */
  async function firstEvent(url: string, encoding: 'gzip' | 'identity'): Promise<{ headers: Headers; preamble: string; block: string }> {
    // undici's own client, closed after: Node's global fetch leaves a spare connection behind an aborted one,
    // and the server would wait for it (keep-alive) when it closes.
    const dispatcher = new UndiciAgent();
    const abort = new AbortController();
    try {
      const response = await undiciFetch(url, { headers: { ...AUTH, 'x-request-id': `dashboard-stream-${encoding}`, 'accept-encoding': encoding }, signal: abort.signal, dispatcher });
      assert.equal(response.status, 200);
      assert.ok(response.body);
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let text = '';
      const deadline = Date.now() + 10_000;
      for (;;) {
        const block = text.split('\n\n').find((b) => b.split('\n').includes('event: sla'));
        if (block !== undefined) return { headers: response.headers as unknown as Headers, preamble: text, block };
        assert.ok(Date.now() < deadline, `no event: sla block in ${JSON.stringify(text)}`);
        const { value, done } = (await reader.read()) as ReadableStreamReadResult<Uint8Array>;
        assert.ok(!done, `the stream ended: ${JSON.stringify(text)}`);
        text += decoder.decode(value, { stream: true });
      }
    } finally {
      abort.abort();
      await dispatcher.destroy();
    }
  }

  it('HEAD /v1/sla/stream answers with the headers and ends (it used to hold the socket open with no answer)', async () => {
    if (!m.app.server.listening) await m.app.listen({ port: 0, host: '127.0.0.1' });
    const address = m.app.server.address();
    assert.ok(address !== null && typeof address === 'object');
    const dispatcher = new UndiciAgent();
    try {
      const response = await undiciFetch(`http://127.0.0.1:${String(address.port)}/v1/sla/stream`, { method: 'HEAD', headers: AUTH, dispatcher, signal: AbortSignal.timeout(5_000) });
      assert.equal(response.status, 200);
      assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    } finally {
      await dispatcher.destroy();
    }
  });

  for (const encoding of ['gzip', 'identity'] as const) {
    it(`GET /v1/sla/stream (${encoding}) streams \`event: sla\` with the rows of GET /v1/sla, and stops polling when the reader leaves`, async () => {
      if (!m.app.server.listening) await m.app.listen({ port: 0, host: '127.0.0.1' });
      const address = m.app.server.address();
      assert.ok(address !== null && typeof address === 'object');
      const { headers, preamble, block } = await firstEvent(`http://127.0.0.1:${String(address.port)}/v1/sla/stream?topology=${splitId}`, encoding);
      assert.match(headers.get('content-type') ?? '', /^text\/event-stream/);
      assert.equal(headers.get('x-request-id'), `dashboard-stream-${encoding}`);
      assert.equal(headers.get('cache-control'), 'no-store');
      if (encoding === 'identity') assert.equal(headers.get('content-encoding'), null, 'not compressed when the client did not ask');
      assert.match(preamble, /^retry: \d+\n\n/, 'the reconnection delay comes first');
      const lines = block.split('\n');
      assert.ok(lines.includes('id: 1'), block);
      const data = lines.find((l) => l.startsWith('data: '));
      assert.ok(data, block);
      const streamed = JSON.parse(data.slice('data: '.length)) as SlaSample;
      assert.equal(streamed.error, null);
      const expected = (await m.app.inject({ method: 'GET', url: `/v1/sla?topology=${splitId}`, headers: AUTH })).json<SlaSample>();
      const essentials = (s: SlaSample) => s.rows.map((row) => ({ server_id: row.server_id, unit: row.unit, topology_id: row.topology_id, host: row.host, download_bps: row.download_bps }));
      assert.equal(streamed.rows.length, 4);
      assert.deepEqual(essentials(streamed), essentials(expected));

      // With the only reader gone, the shared poller pauses: no more agent calls.
      const polled = await until(
        'the poller to pause',
        async () => {
          const n = m.agent.slaCalls;
          await new Promise((r) => setTimeout(r, 80)); // 4 intervals
          return m.agent.slaCalls - n;
        },
        (calls) => calls === 0,
        5_000,
      );
      assert.equal(polled, 0);
    });
  }

  it('a stream still open does not keep the manager from closing', async () => {
    const other = await manager(undefined);
    await other.app.listen({ port: 0, host: '127.0.0.1' });
    const address = other.app.server.address();
    assert.ok(address !== null && typeof address === 'object');
    const dispatcher = new UndiciAgent();
    const response = await undiciFetch(`http://127.0.0.1:${String(address.port)}/v1/sla/stream`, { headers: AUTH, dispatcher });
    try {
      assert.equal(response.status, 200);
      const reader = response.body!.getReader();
      await reader.read();
      const closed = other.close().then(() => 'closed');
      const winner = await Promise.race([closed, new Promise((r) => setTimeout(r, 3000, 'still open'))]);
      assert.equal(winner, 'closed');
      // The reader sees the stream end rather than hang.
      for (;;) {
        const { done } = await reader.read();
        if (done) break;
      }
    } finally {
      await dispatcher.destroy();
    }
  });

  it('GET /v1/topologies/:id lists the demands, crossing an uplink exactly when the plan puts their units on different hosts', async () => {
    const r = await m.app.inject({ method: 'GET', url: `/v1/topologies/${splitId}`, headers: AUTH });
    assert.equal(r.statusCode, 200);
    const view = r.json<{ demands: { between: [string, string]; guaranteed_bps: number; crosses_uplink: boolean }[] }>();
    assert.ok(view.demands.length > 0, 'the thesis topology has guaranteed demands');
    for (const d of view.demands) {
      const [a, b] = d.between;
      assert.ok(SPLIT[a] && SPLIT[b], `${a}, ${b} are units of the plan`);
      assert.ok(d.guaranteed_bps > 0);
      assert.equal(d.crosses_uplink, SPLIT[a] !== SPLIT[b], `${a} (${SPLIT[a]}) – ${b} (${SPLIT[b]})`);
    }
    const crossing = view.demands.filter((d) => d.crosses_uplink).map((d) => [...d.between].sort().join(' – '));
    assert.deepEqual(crossing.sort(), ['Broker-1 – MediaServer-2', 'Broker-1 – MediaServer-3']);
    assert.ok(view.demands.some((d) => !d.crosses_uplink), 'Broker-1 – MediaServer-1 stays on compute1');

    // Without a feasible plan nothing crosses an uplink (no hosts are known).
    const unplanned = (await m.app.inject({ method: 'GET', url: `/v1/topologies/${unplannedId}`, headers: AUTH })).json<{ demands: { crosses_uplink: boolean }[] }>();
    assert.ok(unplanned.demands.length > 0);
    assert.ok(unplanned.demands.every((d) => !d.crosses_uplink));

    // The list keeps its items short: no demands there.
    const list = (await m.app.inject({ method: 'GET', url: '/v1/topologies', headers: AUTH })).json<{ items: Record<string, unknown>[] }>();
    assert.ok(list.items.every((t) => !('demands' in t)));
  });
});
