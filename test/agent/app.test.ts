/** The agent HTTP API through app.inject(): a real inventory of the simulated cloud, the real SLA store, fake reconcilers. */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import type { FastifyInstance } from 'fastify';
import { buildAgentApp, WELCOME_TEXT, type GuaranteeView, type PortStatusView, type FleetView } from '../../src/agent/app.ts';
import type { HostGuaranteeView } from '../../src/agent/guarantees/view.ts';
import { CloudInventory, type InventorySnapshot } from '../../src/agent/inventory.ts';
import { allV1HostPages, V1HostsSchema, type V1Hosts } from '../../src/agent/hosts-view.ts';
import { Value } from 'typebox/value';
import type { ReconcilerCounters } from '../../src/agent/metrics.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { openSlaStore, type SlaStore } from '../../src/store/index.ts';
import { connect } from './inventory-helpers.ts';

const TOKEN = 'test-token-0123456789abcdef';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const UNKNOWN = '00000000-0000-4000-8000-000000000000';

class FakeFleet implements FleetView {
  statuses: PortStatusView[] = [];
  enqueued: (string | undefined)[] = [];
  connected = new Map<string, boolean>([['compute1', true], ['compute2', true]]);
  status(): readonly PortStatusView[] {
    return this.statuses;
  }
  enqueue(host?: string): void {
    this.enqueued.push(host);
  }
  metrics(): ReadonlyMap<string, ReconcilerCounters> {
    return new Map(
      [...this.connected].map(([host, c]) => [host, { passes: 7, lastPassMs: 12, repairs: 2, driftDetected: 3, orphansDeleted: 1, errors: 0, connected: c, transactions: 4, foreignWrites: new Map([['neutron-openvswitch-agent', 2]]) }]),
    );
  }
  /** Hosts with an OpenFlow endpoint (the others have none). */
  openflow = new Map<string, 'connected' | 'disconnected'>();
  ready(): readonly { host: string; connected: boolean; openflow?: 'connected' | 'disconnected' }[] {
    return [...this.connected].map(([host, connected]) => {
      const openflow = this.openflow.get(host);
      return { host, connected, ...(openflow ? { openflow } : {}) };
    });
  }
}

describe('agent HTTP API', () => {
  let sim: SimCloud;
  let os: OpenStack;
  let snap: InventorySnapshot | undefined;
  let store: SlaStore;
  let fleet: FakeFleet;
  let app: FastifyInstance;
  const vms: { id: string; host: string; hv: string; port: string }[] = [];

  before(async () => {
    sim = await startSimCloud({ bootDelayMs: 10 });
    ({ os } = connect(sim));
    const flavor = (await os.nova.listFlavors())[0]!;
    const net = (await os.neutron.listNetworks())[0]!;
    for (const [name, host] of [['media-1', 'compute1'], ['media-2', 'compute1'], ['broker', 'compute2']] as const) {
      const c = await os.nova.createServer({ name, imageRef: '', flavorRef: flavor.id, availabilityZone: `nova:${host}`, networks: [{ uuid: net.id }] });
      await os.nova.waitForServer(c.id, ['ACTIVE'], { intervalMs: 20, timeoutMs: 10_000 });
      vms.push({ id: c.id, host, hv: sim.state.hosts.get(host)!.hypervisorHostname, port: sim.state.servers.get(c.id)!.portIds[0]! });
    }
    snap = await new CloudInventory(os).refresh();
  });
  after(async () => {
    await os.close();
    await sim.close();
  });

  beforeEach(async () => {
    store = await openSlaStore({ path: ':memory:' });
    fleet = new FakeFleet();
    app = await buildAgentApp({
      inventory: { snapshot: () => snap },
      enforcementView: () => undefined,
      store,
      reconcilers: fleet,
      auth: { tokens: ['another-token-abcdefghijkl', TOKEN] },
      logger: { level: 'silent' },
    });
  });

  const done = async (): Promise<void> => {
    await app.close();
    await store.close();
  };

  describe('auth', () => {
    it('refuses a missing or wrong token with a 401 problem and WWW-Authenticate, accepts a configured one', async () => {
      const none = await app.inject({ method: 'GET', url: '/hosts' });
      assert.equal(none.statusCode, 401);
      assert.match(String(none.headers['content-type']), /^application\/problem\+json/);
      assert.match(String(none.headers['www-authenticate']), /^Bearer/);
      assert.equal(none.json<{ status: number }>().status, 401);
      const wrong = await app.inject({ method: 'GET', url: '/v1/sla', headers: { authorization: 'Bearer nope-nope-nope-nope' } });
      assert.equal(wrong.statusCode, 401);
      assert.match(String(wrong.headers['www-authenticate']), /invalid_token/);
      const basic = await app.inject({ method: 'GET', url: '/', headers: { authorization: `Basic ${TOKEN}` } });
      assert.equal(basic.statusCode, 401);
      const ok = await app.inject({ method: 'GET', url: '/', headers: AUTH });
      assert.equal(ok.statusCode, 200);
      assert.equal(ok.body, WELCOME_TEXT);
      const metricsNoAuth = await app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(metricsNoAuth.statusCode, 401, '/metrics is behind the token by default');
      for (const url of ['/healthz', '/readyz', '/docs/json']) {
        const r = await app.inject({ method: 'GET', url });
        assert.notEqual(r.statusCode, 401, `${url} is open`);
      }
      const unknownRoute = await app.inject({ method: 'GET', url: '/nope' });
      assert.equal(unknownRoute.statusCode, 401, 'unknown routes do not reveal themselves without a token');
      await done();
    });

    it('refuses to start without a usable token', async () => {
      await assert.rejects(
        buildAgentApp({ inventory: { snapshot: () => snap }, enforcementView: () => undefined, store, reconcilers: fleet, auth: { tokens: [] }, logger: false }),
        RangeError,
      );
      await assert.rejects(
        buildAgentApp({ inventory: { snapshot: () => snap }, enforcementView: () => undefined, store, reconcilers: fleet, auth: { tokens: ['short'] }, logger: false }),
        RangeError,
      );
      await done();
    });

    it('echoes a well-formed X-Request-Id and makes one up otherwise', async () => {
      const given = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
      assert.equal(given.headers['x-request-id'], 'abc-123');
      const bad = await app.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'a\nb' } });
      assert.match(String(bad.headers['x-request-id']), /^[0-9a-f-]{36}$/);
      const denied = await app.inject({ method: 'GET', url: '/hosts' });
      assert.ok(denied.headers['x-request-id'], 'also on errors');
      await done();
    });
  });

  describe('thesis API', () => {
    it('GET /hosts has the original shape', async () => {
      const r = await app.inject({ method: 'GET', url: '/hosts', headers: AUTH });
      assert.equal(r.statusCode, 200);
      const body = r.json<Record<string, { id: number; servers: Record<string, { name: string; neutron_port: string; qos: unknown }> }>>();
      for (const v of vms) {
        const s = body[v.hv]?.servers[v.id];
        assert.ok(s, `${v.id} under ${v.hv}`);
        assert.equal(s.neutron_port, v.port);
        assert.deepEqual(Object.keys(s).sort(), ['ip', 'name', 'neutron_port', 'ovs_port_id', 'qos']);
      }
      for (const h of Object.values(body)) {
        assert.deepEqual(Object.keys(h).sort(), ['cpu_total', 'cpu_used', 'id', 'instances', 'ip', 'ram_total', 'ram_used', 'servers']);
        assert.ok(Number.isInteger(h.id));
      }
      await done();
    });

    it('POST /qoses stores the SLA, echoes the rates, answers 0 for unknown servers, enqueues the host', async () => {
      const [a, , c] = vms as [(typeof vms)[0], (typeof vms)[0], (typeof vms)[0]];
      const body = {
        [a.hv]: { [a.id]: { name: 'media-1', qos: { 'min-rate': '1000000', 'max-rate': '10000000' } }, hostname: 'ignored' },
        [`nova:${c.hv}`]: { [c.id]: { qos: { 'max-rate': 5000000 } }, [UNKNOWN]: { qos: { 'max-rate': '1000' } } },
      };
      // The original read the raw body whatever the Content-Type (curl -d sends form-urlencoded).
      const r = await app.inject({ method: 'POST', url: '/qoses', headers: { ...AUTH, 'content-type': 'application/x-www-form-urlencoded' }, payload: JSON.stringify(body) });
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(r.json(), {
        [a.id]: { 'min-rate': '1000000', 'max-rate': '10000000' },
        [c.id]: { 'max-rate': '5000000' },
        [UNKNOWN]: 0,
      });
      const stored = await store.get(a.id);
      assert.ok(stored);
      assert.deepEqual(stored.sla, { download: { minRate: 1_000_000, maxRate: 10_000_000 } });
      assert.equal(stored.source, 'thesis');
      assert.equal(stored.host, a.host);
      assert.equal((await store.get(c.id))?.sla.download?.maxRate, 5_000_000);
      assert.equal(await store.get(UNKNOWN), undefined);
      assert.deepEqual([...fleet.enqueued].sort(), ['compute1', 'compute2']);
      await done();
    });

    it('POST /qoses: invalid rate → 400 problem naming the field, nothing stored', async () => {
      const [a, b] = vms as [(typeof vms)[0], (typeof vms)[0]];
      const body = { [a.hv]: { [a.id]: { qos: { 'max-rate': 'fast' } }, [b.id]: { qos: { 'max-rate': '1000000' } } } };
      const r = await app.inject({ method: 'POST', url: '/qoses', headers: AUTH, payload: body });
      assert.equal(r.statusCode, 400);
      assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
      const p = r.json<{ type: string; title: string; status: number; detail: string; errors: { pointer: string; message: string }[] }>();
      assert.equal(p.status, 400);
      assert.ok(p.type && p.title && p.detail);
      assert.deepEqual(p.errors.map((e) => e.pointer), [`/${a.hv}/${a.id}/qos/max-rate`]);
      assert.deepEqual(await store.list(), []);
      assert.deepEqual(fleet.enqueued, []);
      await done();
    });

    it('POST /qoses works without a Content-Type, as with the original', async () => {
      const a = vms[0]!;
      const r = await app.inject({ method: 'POST', url: '/qoses', headers: AUTH, payload: Buffer.from(JSON.stringify({ [a.hv]: { [a.id]: { qos: { 'max-rate': '1000' } } } })) });
      assert.equal(r.statusCode, 200, r.body);
      assert.deepEqual(r.json(), { [a.id]: { 'max-rate': '1000' } });
      await done();
    });

    it('POST /qoses: invalid or empty JSON → 400 problem', async () => {
      for (const payload of ['{"x": ', '']) {
        const r = await app.inject({ method: 'POST', url: '/qoses', headers: { ...AUTH, 'content-type': 'application/json' }, payload });
        assert.equal(r.statusCode, 400, JSON.stringify(payload));
        assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
        assert.equal(r.json<{ type: string }>().type, '/problems/invalid-json');
      }
      await done();
    });
  });

  describe('v1 SLA', () => {
    it('PUT creates (201), repeats idempotently (200, same version), replaces (200, version+1); GET and DELETE', async () => {
      const v = vms[0]!;
      const url = `/v1/servers/${v.id}/sla`;
      const put1 = await app.inject({ method: 'PUT', url, headers: AUTH, payload: { download: { min: '10mbit', max: '100mbit' }, upload: { max: '20mbit' } } });
      assert.equal(put1.statusCode, 201, put1.body);
      const b1 = put1.json<{ version: number; sla: unknown; server_id: string; host: string; source: string }>();
      assert.equal(b1.version, 1);
      assert.deepEqual(b1.sla, { download: { min: 10_000_000, max: 100_000_000 }, upload: { max: 20_000_000 } });
      assert.equal(b1.host, v.host);
      assert.equal(b1.source, 'v1');
      assert.deepEqual(fleet.enqueued, [v.host]);

      const put2 = await app.inject({ method: 'PUT', url, headers: AUTH, payload: { download: { min: 10_000_000, max: '100mbit' }, upload: { max: '20mbit' } } });
      assert.equal(put2.statusCode, 200);
      assert.equal(put2.json<{ version: number }>().version, 1, 'the same SLA leaves the version');
      assert.equal(fleet.enqueued.length, 1, 'no pass for an unchanged SLA');

      const put3 = await app.inject({ method: 'PUT', url, headers: AUTH, payload: { download: { max: '50mbit' } } });
      assert.equal(put3.statusCode, 200);
      assert.equal(put3.json<{ version: number }>().version, 2);

      const get = await app.inject({ method: 'GET', url, headers: AUTH });
      assert.equal(get.statusCode, 200);
      assert.deepEqual(get.json<{ sla: unknown }>().sla, { download: { max: 50_000_000 } });

      const del = await app.inject({ method: 'DELETE', url, headers: AUTH });
      assert.equal(del.statusCode, 204);
      assert.equal(del.body, '');
      assert.equal((await app.inject({ method: 'GET', url, headers: AUTH })).statusCode, 404);
      const del2 = await app.inject({ method: 'DELETE', url, headers: AUTH });
      assert.equal(del2.statusCode, 404);
      assert.match(String(del2.headers['content-type']), /^application\/problem\+json/);
      await done();
    });

    it('404 problem for an unknown server, 400 for a bad id, validation problems with pointers', async () => {
      const unknown = await app.inject({ method: 'PUT', url: `/v1/servers/${UNKNOWN}/sla`, headers: AUTH, payload: { download: { max: '1mbit' } } });
      assert.equal(unknown.statusCode, 404);
      assert.equal(unknown.json<{ type: string }>().type, '/problems/unknown-server');

      const badId = await app.inject({ method: 'GET', url: '/v1/servers/not-a-uuid/sla', headers: AUTH });
      assert.equal(badId.statusCode, 400);
      assert.deepEqual(badId.json<{ errors: { pointer: string }[] }>().errors.map((e) => e.pointer), ['/params/id']);

      const url = `/v1/servers/${vms[1]!.id}/sla`;
      const bad = await app.inject({ method: 'PUT', url, headers: AUTH, payload: { download: { min: '200mbit', max: '100mbit' }, sideways: 1 } });
      assert.equal(bad.statusCode, 400);
      const pointers = bad.json<{ errors: { pointer: string }[] }>().errors.map((e) => e.pointer).sort();
      assert.deepEqual(pointers, ['/download/min', '/sideways']);

      const schemaBad = await app.inject({ method: 'PUT', url, headers: AUTH, payload: { download: { max: true } } });
      assert.equal(schemaBad.statusCode, 400, 'fastify schema errors are problems too');
      const sp = schemaBad.json<{ errors: { pointer: string }[] }>();
      assert.match(String(schemaBad.headers['content-type']), /^application\/problem\+json/);
      assert.ok(sp.errors.some((e) => e.pointer.startsWith('/download/max')), JSON.stringify(sp));

      const notJson = await app.inject({ method: 'PUT', url, headers: { ...AUTH, 'content-type': 'application/json' }, payload: '{' });
      assert.equal(notJson.statusCode, 400);
      assert.match(String(notJson.headers['content-type']), /^application\/problem\+json/);
      assert.deepEqual(await store.list(), []);
      await done();
    });

    it('PUT with the upload guarantee and peers round-trips through GET (peers lower case, in id order)', async () => {
      const [a, b, c] = vms as [(typeof vms)[0], (typeof vms)[0], (typeof vms)[0]];
      const url = `/v1/servers/${a.id}/sla`;
      const [first, second] = [b.id, c.id].sort() as [string, string];
      const payload = {
        download: { min: '100mbit', max: '1gbit' },
        upload: { min: '50mbit', max: '500mbit' },
        peers: { [second.toUpperCase()]: { min: '20mbit' }, [first]: { min: 10_000_000 } },
      };
      const put = await app.inject({ method: 'PUT', url, headers: AUTH, payload });
      assert.equal(put.statusCode, 201, put.body);
      const expected = {
        download: { min: 100_000_000, max: 1_000_000_000 },
        upload: { min: 50_000_000, max: 500_000_000 },
        peers: { [first]: { min: 10_000_000 }, [second]: { min: 20_000_000 } },
      };
      assert.deepEqual(put.json<{ sla: unknown }>().sla, expected);
      const get = await app.inject({ method: 'GET', url, headers: AUTH });
      assert.equal(get.statusCode, 200);
      const sla = get.json<{ sla: { peers: Record<string, unknown> } }>().sla;
      assert.deepEqual(sla, expected);
      assert.deepEqual(Object.keys(sla.peers), [first, second], 'stable: in id order');
      assert.deepEqual((await store.get(a.id))?.sla.peers, [{ serverId: first, minRate: 10_000_000 }, { serverId: second, minRate: 20_000_000 }]);

      const again = await app.inject({ method: 'PUT', url, headers: AUTH, payload: { ...payload, peers: { [second]: { min: '20mbit' }, [first.toUpperCase()]: { min: '10mbit' } } } });
      assert.equal(again.statusCode, 200);
      assert.equal(again.json<{ version: number }>().version, 1, 'the same peers in another order and case are the same SLA');
      assert.deepEqual(fleet.enqueued, [a.host]);
      const listed = await app.inject({ method: 'GET', url: `/v1/sla?server_id=${a.id}`, headers: AUTH });
      assert.deepEqual(listed.json<{ items: { desired: unknown }[] }>().items[0]?.desired, expected, 'the status listing shows the same desired SLA');
      await done();
    });

    it('a bad peer key, the server as its own peer or upload.min above max: 400 naming the field, nothing changes', async () => {
      const [a, b] = vms as [(typeof vms)[0], (typeof vms)[0]];
      const url = `/v1/servers/${a.id}/sla`;
      const good = { download: { max: '1gbit' }, peers: { [b.id]: { min: '10mbit' } } };
      assert.equal((await app.inject({ method: 'PUT', url, headers: AUTH, payload: good })).statusCode, 201);
      const before = await store.get(a.id);
      const enqueued = fleet.enqueued.length;
      const cases: [unknown, string[]][] = [
        [{ download: { max: '1gbit' }, peers: { 'media-2': { min: '10mbit' } } }, ['/peers/media-2']],
        [{ download: { max: '1gbit' }, peers: { [a.id.toUpperCase()]: { min: '10mbit' } } }, [`/peers/${a.id.toUpperCase()}`]],
        [{ download: { max: '1gbit' }, upload: { min: '600mbit', max: '500mbit' } }, ['/upload/min']],
        [{ download: { max: '1gbit' }, peers: { [b.id]: { min: 0 } } }, [`/peers/${b.id}/min`]],
        [{ peers: { [b.id]: { min: '10mbit' } } }, ['']],
      ];
      for (const [payload, expected] of cases) {
        const r = await app.inject({ method: 'PUT', url, headers: AUTH, payload: payload as Record<string, unknown> });
        assert.equal(r.statusCode, 400, JSON.stringify(payload));
        assert.match(String(r.headers['content-type']), /^application\/problem\+json/);
        assert.deepEqual(r.json<{ errors: { pointer: string }[] }>().errors.map((e) => e.pointer).sort(), expected, JSON.stringify(payload));
      }
      const notAnObject = await app.inject({ method: 'PUT', url, headers: AUTH, payload: { download: { max: '1gbit' }, peers: { [b.id]: '10mbit' } } });
      assert.equal(notAnObject.statusCode, 400);
      assert.ok(notAnObject.json<{ errors: { pointer: string }[] }>().errors.some((e) => e.pointer.startsWith('/peers')), notAnObject.body);
      assert.deepEqual(await store.get(a.id), before);
      assert.equal(fleet.enqueued.length, enqueued, 'no reconciler pass');
      await done();
    });

    it('GET /v1/sla joins desired SLAs, ports and reconciler states', async () => {
      const [a, b, c] = vms as [(typeof vms)[0], (typeof vms)[0], (typeof vms)[0]];
      for (const v of [a, b, c]) await store.put(v.id, { download: { maxRate: 1_000_000 } }, { host: v.host, source: 'v1' });
      await store.put(UNKNOWN, { download: { maxRate: 1_000_000 } }, { source: 'v1' });
      fleet.statuses = [
        { portId: a.port, serverId: a.id, host: a.host, state: 'applied', ovsPort: 'tapX', since: '2025-01-01T00:00:00.000Z' },
        { portId: b.port, serverId: b.id, host: b.host, state: 'drifted', reason: 'max-rate changed to 2000000 by someone else', since: '2025-01-01T00:00:00.000Z' },
      ];
      const r = await app.inject({ method: 'GET', url: '/v1/sla', headers: AUTH });
      assert.equal(r.statusCode, 200);
      const body = r.json<{ items: { server_id: string; state: string; reason: string | null; ports: { port_id: string; state: string; ovs_port: string | null }[] }[]; summary: Record<string, number> }>();
      const of = (id: string) => body.items.find((i) => i.server_id === id)!;
      assert.equal(of(a.id).state, 'applied');
      assert.equal(of(a.id).ports[0]?.ovs_port, 'tapX');
      assert.equal(of(b.id).state, 'drifted');
      assert.match(of(b.id).reason ?? '', /someone else/);
      assert.equal(of(c.id).state, 'pending');
      assert.equal(of(c.id).ports[0]?.port_id, c.port);
      assert.equal(of(UNKNOWN).state, 'error');
      assert.deepEqual(body.summary, { applied: 1, pending: 1, drifted: 1, error: 1 });
      await done();
    });

    it('GET /v1/hosts renders the modern view, as its declared schema says (also in /docs/json); 503 problem before the first inventory', async () => {
      const r = await app.inject({ method: 'GET', url: '/v1/hosts', headers: AUTH });
      assert.equal(r.statusCode, 200);
      const body = r.json<V1Hosts>();
      assert.ok(body.hosts.length > 0 && body.hosts.some((h) => h.servers.length > 0));
      assert.ok(Value.Check(V1HostsSchema, body), JSON.stringify([...Value.Errors(V1HostsSchema, body)].slice(0, 3)));
      const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json<{ paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema?: { properties?: Record<string, unknown> } }> }> }>> }>();
      assert.ok(doc.paths['/v1/hosts']?.get?.responses['200']?.content?.['application/json']?.schema?.properties?.hosts, 'the schema is in the OpenAPI document');
      const saved = snap;
      snap = undefined;
      try {
        const none = await app.inject({ method: 'GET', url: '/v1/hosts', headers: AUTH });
        assert.equal(none.statusCode, 503);
        assert.match(String(none.headers['content-type']), /^application\/problem\+json/);
      } finally {
        snap = saved;
      }
      await done();
    });

    it('GET /v1/hosts pages by host name (limit, marker, hosts_links next); a bad page is a 400 naming the field', async () => {
      type Body = { hosts: { name: string }[]; hosts_links?: { rel: string; href: string }[]; unplaced_servers: unknown[] };
      const get = async (url: string) => app.inject({ method: 'GET', url, headers: AUTH });
      const whole = (await get('/v1/hosts?limit=1000')).json<Body>();
      assert.ok(whole.hosts.length >= 2, 'the sim has several hosts');
      assert.equal(whole.hosts_links, undefined, 'one page holds them all: no next link');
      const first = (await get('/v1/hosts?limit=1')).json<Body>();
      assert.deepEqual(first.hosts.map((h) => h.name), [whole.hosts[0]?.name]);
      assert.deepEqual(first.hosts_links, [{ rel: 'next', href: `/v1/hosts?limit=1&marker=${whole.hosts[0]?.name ?? ''}` }]);
      const second = (await get(first.hosts_links[0]?.href ?? 'no next link')).json<Body>();
      assert.deepEqual(second.hosts.map((h) => h.name), [whole.hosts[1]?.name]);
      assert.deepEqual(second.unplaced_servers, [], 'unplaced servers are on the first page only');
      let calls = 0;
      const merged = await allV1HostPages(async (path) => {
        calls++;
        return (await get(path.replace('limit=1000', 'limit=1'))).json<V1Hosts>();
      });
      assert.equal(calls, whole.hosts.length, 'one request per page of one host');
      assert.deepEqual(merged, whole, 'the pages merged are the whole answer');
      for (const [url, pointer] of [
        ['/v1/hosts?marker=no-such-host', '/query/marker'],
        ['/v1/hosts?limit=0', '/query/limit'],
        ['/v1/hosts?limit=1001', '/query/limit'],
        ['/v1/hosts?limit=ten', '/query/limit'],
      ] as const) {
        const bad = await get(url);
        assert.equal(bad.statusCode, 400, url);
        assert.match(String(bad.headers['content-type']), /^application\/problem\+json/, url);
        assert.ok(JSON.stringify(bad.json()).includes(pointer), `${url}: ${bad.body}`);
      }
      await done();
    });

    it('GET /v1/hosts tells each host\'s OpenFlow connection (from the reconcilers) and guarantees (from the controller)', async () => {
      type Body = { hosts: { name: string; openflow: string | null; guarantees: Record<string, unknown> | null }[] };
      fleet.openflow.set('compute1', 'connected');
      fleet.openflow.set('compute2', 'disconnected');
      const noController = (await app.inject({ method: 'GET', url: '/v1/hosts', headers: AUTH })).json<Body>();
      assert.deepEqual(noController.hosts.map((h) => [h.name, h.openflow, h.guarantees]), [
        ['compute1', 'connected', null],
        ['compute2', 'disconnected', null],
      ]);
      await done();

      store = await openSlaStore({ path: ':memory:' });
      fleet.openflow.delete('compute2');
      const compute1: HostGuaranteeView = {
        host: 'compute1',
        uplink: { bps: 1_000_000_000, source: 'config' },
        guaranteedDownloadBps: 200_000_000,
        guaranteedUploadBps: 1_500_000_000,
        overcommitted: 'upload guarantees exceed the uplink',
        limiters: 2,
        error: null,
      };
      const guarantees: GuaranteeView = {
        vm: () => undefined,
        vmViews: () => [],
        hosts: () => [compute1],
        host: (name) => (name === 'compute1' ? compute1 : undefined),
        stats: { rounds: 0, lastRoundMs: 0, cpuMicros: 0, pairs: 0, activePairs: 0 },
      };
      app = await buildAgentApp({ inventory: { snapshot: () => snap }, enforcementView: () => undefined, store, reconcilers: fleet, guarantees, auth: { tokens: [TOKEN] }, logger: false });
      const withController = (await app.inject({ method: 'GET', url: '/v1/hosts', headers: AUTH })).json<Body>();
      assert.deepEqual(withController.hosts.map((h) => [h.name, h.openflow, h.guarantees]), [
        [
          'compute1',
          'connected',
          { uplink_bps: 1_000_000_000, guaranteed_download_bps: 200_000_000, guaranteed_upload_bps: 1_500_000_000, overcommitted: 'upload guarantees exceed the uplink', limiters: 2, error: null },
        ],
        ['compute2', null, null],
      ]);
      await done();
    });
  });

  describe('operations', () => {
    it('/healthz is 200; /readyz is 200 when all is well and 503 naming the host when an OVSDB is down', async () => {
      assert.equal((await app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      // The sim snapshot was read moments ago: fresh.
      const ok = await app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ok.statusCode, 200, ok.body);
      fleet.connected.set('compute2', false);
      const down = await app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(down.statusCode, 503);
      assert.match(String(down.headers['content-type']), /^application\/problem\+json/);
      const body = down.json<{ reasons: { host: string | null; reason: string }[] }>();
      assert.deepEqual(body.reasons, [{ host: 'compute2', reason: 'OVSDB not connected' }]);
      const saved = snap;
      snap = saved ? { ...saved, stale: true } : saved;
      fleet.connected.set('compute2', true);
      try {
        const stale = await app.inject({ method: 'GET', url: '/readyz' });
        assert.equal(stale.statusCode, 503);
        assert.match(stale.json<{ detail: string }>().detail, /stale/);
      } finally {
        snap = saved;
      }
      await done();
    });

    it('with several replicas: /readyz says whether this one is a live member and what it owns; /v1/sla includes the others\' hosts; metrics name owned hosts', async () => {
      await done();
      store = await openSlaStore({ path: ':memory:' });
      const [own, other] = [vms[0]!, vms[2]!];
      const view = { writable: true, lastError: null as string | null };
      const foreign = [{ portId: other.port, serverId: other.id, host: other.host, state: 'applied' as const, since: new Date().toISOString(), reportedBy: 'agent-b' }];
      fleet.statuses = [{ portId: own.port, serverId: own.id, host: own.host, state: 'applied', since: new Date().toISOString() }];
      app = await buildAgentApp({
        inventory: { snapshot: () => snap },
        enforcementView: () => undefined,
        store,
        reconcilers: fleet,
        cluster: {
          agentId: 'agent-a',
          view: () => ({ agentId: 'agent-a', incarnation: 4, writable: view.writable, members: [], lastError: view.lastError }),
          owned: () => ['compute1'],
          members: () => ['agent-a', 'agent-b'],
          writable: () => view.writable,
          ownerOf: (host) => (host === 'compute1' ? 'agent-a' : 'agent-b'),
          foreignPorts: () => foreign,
        },
        auth: { tokens: [TOKEN] },
        logger: false,
      });
      const ready = await app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 200, ready.body);
      assert.deepEqual(ready.json<{ cluster: unknown }>().cluster, { agent_id: 'agent-a', incarnation: 4, lease_current: true, members: [], owned_hosts: 1 });
      view.writable = false;
      view.lastError = 'connection refused';
      const lost = await app.inject({ method: 'GET', url: '/readyz' });
      assert.equal(lost.statusCode, 503);
      assert.deepEqual(lost.json<{ reasons: unknown[] }>().reasons, [{ host: null, reason: 'not a live member of the agent cluster: connection refused' }]);

      for (const vm of [own, other]) await store.put(vm.id, { download: { maxRate: 10_000_000 } });
      const sla = await app.inject({ method: 'GET', url: '/v1/sla', headers: AUTH });
      const items = sla.json<{ items: { server_id: string; state: string }[] }>().items;
      assert.deepEqual(items.map((i) => [i.server_id, i.state]).sort(), [[own.id, 'applied'], [other.id, 'applied']].sort());

      const metrics = (await app.inject({ method: 'GET', url: '/metrics', headers: AUTH })).body;
      assert.match(metrics, /^cm_agent_host_owned\{host="compute1",agent_id="agent-a"\} 1$/m);
      assert.doesNotMatch(metrics, /cm_agent_host_owned\{host="compute2"/);
      assert.match(metrics, /^cm_agent_cluster_members 2$/m);
      assert.match(metrics, /^cm_agent_cluster_lease_current 0$/m);
      const hosts = (await app.inject({ method: 'GET', url: '/v1/hosts', headers: AUTH })).json<{ hosts: { name: string; owner_agent: string; ovsdb: string }[] }>();
      assert.deepEqual(hosts.hosts.map((h) => [h.name, h.owner_agent, h.ovsdb]), [
        ['compute1', 'agent-a', 'unavailable'],
        ['compute2', 'agent-b', 'other-replica'],
      ]);
      await done();
    });

    it('/metrics exposes HTTP durations and the reconciler figures', async () => {
      await app.inject({ method: 'GET', url: '/healthz' });
      fleet.statuses = [
        { portId: 'p1', serverId: 's1', host: 'compute1', state: 'error', reason: 'rows rewritten by another writer', contestedBy: 'neutron-openvswitch-agent', since: new Date().toISOString() },
      ];
      fleet.openflow.set('compute2', 'disconnected');
      const r = await app.inject({ method: 'GET', url: '/metrics', headers: AUTH });
      fleet.statuses = [];
      fleet.openflow.clear();
      assert.doesNotMatch(r.body, /cm_agent_openflow_connected\{host="compute1"/, 'a host without an OpenFlow endpoint has no series');
      assert.equal(r.statusCode, 200);
      assert.match(String(r.headers['content-type']), /^text\/plain/);
      for (const name of [
        'cm_agent_http_request_duration_seconds_bucket{',
        'route="/healthz"',
        'cm_agent_reconcile_passes_total{host="compute1"} 7',
        'cm_agent_reconcile_last_pass_duration_seconds{host="compute1"} 0.012',
        'cm_agent_drift_detected_total{host="compute2"} 3',
        'cm_agent_drift_repairs_total{host="compute1"} 2',
        'cm_agent_ovsdb_connected{host="compute2"} 1',
        'cm_agent_openflow_connected{host="compute2"} 0',
        'cm_agent_ports{state="applied"} 0',
        'cm_agent_ports{state="error"} 1',
        'cm_agent_foreign_writes_total{host="compute1",writer="neutron-openvswitch-agent"} 2',
        'cm_agent_contested_ports{writer="neutron-openvswitch-agent"} 1',
        'cm_agent_inventory_stale 0',
      ]) {
        assert.ok(r.body.includes(name), `${name} in\n${r.body}`);
      }
      await done();
    });

    it('/metrics can be opened with auth.publicMetrics', async () => {
      await done();
      app = await buildAgentApp({
        inventory: { snapshot: () => snap },
        enforcementView: () => undefined,
        store: (store = await openSlaStore({ path: ':memory:' })),
        reconcilers: fleet,
        auth: { tokens: [TOKEN], publicMetrics: true },
        logger: false,
      });
      assert.equal((await app.inject({ method: 'GET', url: '/metrics' })).statusCode, 200);
      assert.equal((await app.inject({ method: 'GET', url: '/hosts' })).statusCode, 401);
      // A replica busy with a 10 000-host inventory had its plugins time out at Fastify's 10 s default and exit.
      assert.equal(app.initialConfig.pluginTimeout, 120_000);
      await done();
    });

    it('/docs/json is OpenAPI 3 with every route, an operationId each, and bearer security', async () => {
      const r = await app.inject({ method: 'GET', url: '/docs/json' });
      assert.equal(r.statusCode, 200);
      const doc = r.json<{ openapi: string; paths: Record<string, Record<string, { operationId?: string; responses?: Record<string, unknown> }>>; components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> } }>();
      assert.match(doc.openapi, /^3\./);
      const expected: [string, string][] = [
        ['/', 'get'],
        ['/hosts', 'get'],
        ['/qoses', 'post'],
        ['/v1/hosts', 'get'],
        ['/v1/servers/{id}/sla', 'put'],
        ['/v1/servers/{id}/sla', 'get'],
        ['/v1/servers/{id}/sla', 'delete'],
        ['/v1/sla', 'get'],
        ['/healthz', 'get'],
        ['/readyz', 'get'],
        ['/metrics', 'get'],
      ];
      const ids = new Set<string>();
      for (const [path, method] of expected) {
        const op = doc.paths[path]?.[method];
        assert.ok(op, `${method.toUpperCase()} ${path} documented`);
        assert.ok(op.operationId, `${method} ${path} has an operationId`);
        ids.add(op.operationId);
      }
      assert.equal(ids.size, expected.length, 'operationIds are unique');
      assert.ok(doc.components.schemas.Problem, 'the shared Problem schema is a component');
      assert.ok(doc.components.securitySchemes.bearer);
      assert.ok(!JSON.stringify(doc).includes('"def-'), 'shared schemas are referenced by their $id');
      const ui = await app.inject({ method: 'GET', url: '/docs' });
      assert.ok(ui.statusCode === 200 || ui.statusCode === 302, `swagger UI served (${ui.statusCode})`);
      await done();
    });
  });
});
