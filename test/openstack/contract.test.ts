/**
 * Contract tests: the upstream API samples (shared/openstack-api-samples),
 * served at their real paths by a local server, parsed by the clients at the
 * microversion each sample illustrates (see each SOURCES.md).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { OpenStackApiError, OpenStackCatalogError, OpenStackConflictError, OpenStackPermissionError, OpenStackUnsupportedError } from '../../src/openstack/errors.ts';
import { HeatClient } from '../../src/openstack/heat/index.ts';
import { HttpClient } from '../../src/openstack/http.ts';
import { KeystoneClient, buildAuthRequest, findEndpoint, parseTokenResponse } from '../../src/openstack/keystone/index.ts';
import { NeutronClient, parseNetwork } from '../../src/openstack/neutron/index.ts';
import { NovaClient, chooseMicroversion, computeRoot, parseAvailabilityZones, parseComputeService, parseFlavor, parseHypervisor, parseVersionDocument } from '../../src/openstack/nova/index.ts';
import { PlacementClient, computeCapacity, fits } from '../../src/openstack/placement/index.ts';
import { SAMPLES, ctx, routes, sample, sendJson, startFake, type Fake, type Handler } from './helpers.ts';

const P = '/v2.1/6f70656e737461636b20342065766572';

/** The sample with its example host replaced by the fake server, so links lead back to it. */
function rebased(rel: string, base: string): unknown {
  return JSON.parse(JSON.stringify(sample(rel)).replaceAll('http://openstack.example.com', base)) as unknown;
}

async function withFake(table: Record<string, unknown>, fn: (f: Fake) => Promise<void>): Promise<void> {
  const f = await startFake(routes(table));
  try {
    await fn(f);
  } finally {
    await f.close();
  }
}

describe('keystone contract', () => {
  const headers = readFileSync(path.join(SAMPLES, 'keystone/admin/auth-password-user-name-unscoped-response-HTTP.txt'), 'utf8');
  const subject = /X-Subject-Token: (\S+)/.exec(headers)?.[1] ?? '';
  const reqId = /x-openstack-request-id: (\S+)/.exec(headers)?.[1] ?? '';

  it('builds the documented password request bodies', () => {
    const byName = buildAuthRequest('password', { authUrl: 'x', username: 'admin', userDomainName: 'Default', password: 'devstacker' });
    const unscoped = sample('keystone/admin/auth-password-unscoped-request-with-domain.json');
    assert.deepEqual(byName, unscoped);
    const byId = buildAuthRequest('password', { authUrl: 'x', userId: 'ee4dfb6e5540447cb3741905149d9b6e', password: 'devstacker', projectName: 'admin', projectDomainId: 'default' });
    assert.deepEqual(byId, sample('keystone/auth/requests/project-name-password.json'));
  });

  it('builds application credential requests', () => {
    assert.deepEqual(buildAuthRequest('v3applicationcredential', { authUrl: 'x', applicationCredentialId: 'ac1', applicationCredentialSecret: 's' }), {
      auth: { identity: { methods: ['application_credential'], application_credential: { id: 'ac1', secret: 's' } } },
    });
  });

  it('authenticates (201 + X-Subject-Token) and parses token and catalog', async () => {
    const body = sample('keystone/admin/auth-password-project-scoped-response.json');
    await withFake(
      {
        'POST /identity/v3/auth/tokens': ((_r, res) => {
          sendJson(res, 201, body, { 'x-subject-token': subject, 'x-openstack-request-id': reqId });
        }) satisfies Handler,
      },
      async (f) => {
        const http = new HttpClient();
        const ks = new KeystoneClient(http, {
          authType: 'password',
          auth: { authUrl: `${f.url}/identity/v3`, username: 'admin', password: 'p', userDomainName: 'Default', projectName: 'admin', projectDomainId: 'default' },
          now: () => Date.parse('2015-11-07T01:00:00Z'),
        });
        try {
          const t = await ks.tokenInfo();
          assert.equal(t.token, 'ffe47524401e4d61adc7310f7e5b6191');
          assert.equal(t.requestId, 'req-f2f3f6ca-e342-4cd8-bc12-71a5436ef5fc');
          assert.equal(t.expiresAt.toISOString(), '2015-11-07T02:58:43.578Z');
          assert.equal(t.projectName, 'admin');
          assert.equal(t.projectId, 'a6944d763bf64ee6a275f1263fae0352');
          assert.ok(t.roles.includes('admin'));
          // exact type match: compute, not compute_legacy
          assert.equal(await ks.endpoint('compute'), 'http://23.253.248.171:8774/v2.1/a6944d763bf64ee6a275f1263fae0352');
          assert.equal(await ks.endpoint('network', { interface: 'internal' }), 'http://23.253.248.171:9696/');
          assert.equal(await ks.endpoint('orchestration'), 'http://23.253.248.171:8004/v1/a6944d763bf64ee6a275f1263fae0352');
          await assert.rejects(ks.endpoint('placement'), (e: unknown) => e instanceof OpenStackCatalogError && /placement/.test(e.message) && /compute_legacy/.test(e.message));
          await assert.rejects(ks.endpoint('compute', { region: 'RegionTwo' }), /no public endpoint in region "RegionTwo"/);
          // cached: still one POST
          await ks.getToken();
          assert.equal(ks.authCount, 1);
          assert.deepEqual(f.requests[0]?.body, buildAuthRequest('password', { authUrl: '', username: 'admin', password: 'p', userDomainName: 'Default', projectName: 'admin', projectDomainId: 'default' }));
        } finally {
          await http.close();
        }
      },
    );
  });

  it('re-authenticates before expires_at (margin)', async () => {
    const body = sample('keystone/auth/responses/project-scoped-password.json');
    let now = Date.parse('2015-11-07T02:00:00Z');
    await withFake(
      {
        'POST /v3/auth/tokens': ((_r, res) => {
          sendJson(res, 201, body, { 'x-subject-token': 'tok' });
        }) satisfies Handler,
      },
      async (f) => {
        const http = new HttpClient();
        const ks = new KeystoneClient(http, { authType: 'password', auth: { authUrl: f.url, userId: 'u', password: 'p', projectId: 'p' }, refreshMarginMs: 120_000, now: () => now });
        try {
          await ks.getToken();
          await ks.getToken();
          assert.equal(ks.authCount, 1);
          now = Date.parse('2015-11-07T02:57:00Z'); // within 2 min of 02:58:43
          await ks.getToken();
          assert.equal(ks.authCount, 2);
          assert.equal(findEndpoint(await ks.catalog(), 'identity', { interface: 'admin', region: 'RegionOne' }), 'http://example.com/identity');
        } finally {
          await http.close();
        }
      },
    );
  });

  it('rejects a 201 without X-Subject-Token', () => {
    assert.throws(() => parseTokenResponse(sample('keystone/auth/responses/project-scoped-password.json'), undefined), /X-Subject-Token/);
  });
});

describe('nova contract', () => {
  it('discovers versions and negotiates the microversion', async () => {
    assert.deepEqual(parseVersionDocument(sample('nova/versions/versions-get-resp.json')), { min: '2.1', max: '2.104' });
    assert.deepEqual(parseVersionDocument(sample('nova/versions/v21-version-get-resp.json')), { min: '2.1', max: '2.104' });
    assert.equal(chooseMicroversion({ min: '2.1', max: '2.104' }), '2.88');
    assert.equal(chooseMicroversion({ min: '2.1', max: '2.79' }), '2.79');
    assert.equal(computeRoot('http://h:8774/v2.1/abc'), 'http://h:8774');
    assert.equal(computeRoot('http://h/compute/v2.1'), 'http://h/compute');
    await withFake({ 'GET /': sample('nova/versions/versions-get-resp.json') }, async (f) => {
      const c = ctx(`${f.url}/v2.1/6f70656e737461636b20342065766572`);
      const nova = new NovaClient(c);
      try {
        assert.equal(await nova.microversion(), '2.88');
        assert.equal(await nova.capacitySource(), 'placement');
      } finally {
        await c.http.close();
      }
    });
  });

  it('parses hypervisors at 2.88 (list paging, detail, show, with servers) and sends the headers', async () => {
    let base = '';
    await withFake(
      {
        [`GET ${P}/os-hypervisors`]: ((req, res) => {
          if (req.query.get('with_servers') === 'true') sendJson(res, 200, sample('nova/os-hypervisors/v2.88/hypervisors-with-servers-resp.json'));
          else if (req.query.get('marker')) sendJson(res, 200, { hypervisors: [{ id: 'second', hypervisor_hostname: 'h3', state: 'down', status: 'disabled' }] });
          else sendJson(res, 200, rebased('nova/os-hypervisors/v2.88/hypervisors-list-resp.json', base));
        }) satisfies Handler,
        [`GET ${P}/os-hypervisors/detail`]: ((req, res) => {
          sendJson(res, 200, req.query.get('marker') ? { hypervisors: [] } : rebased('nova/os-hypervisors/v2.88/hypervisors-detail-resp.json', base));
        }) satisfies Handler,
        [`GET ${P}/os-hypervisors/f79c1cce-9972-44c6-aa30-1d9e6526ce37`]: sample('nova/os-hypervisors/v2.88/hypervisors-show-resp.json'),
      },
      async (f) => {
        base = f.url;
        const c = ctx(`${f.url}${P}`);
        const nova = new NovaClient(c, { microversion: '2.88' });
        try {
          const list = await nova.listHypervisors({ limit: 1 });
          assert.deepEqual(list.map((h) => [h.id, h.hypervisorHostname, h.state, h.status]), [
            ['bfb90ba3-e13e-4413-90ff-5cdbfea727e2', 'host2', 'up', 'enabled'],
            ['second', 'h3', 'down', 'disabled'],
          ]);
          assert.equal(f.requests[1]?.query.get('marker'), 'bfb90ba3-e13e-4413-90ff-5cdbfea727e2');
          const [d] = await nova.listHypervisors({ detail: true });
          assert.equal(d?.hostIp, '192.168.1.135');
          assert.equal(d.serviceHost, 'host2');
          assert.equal(d.serviceId, '21bbb5fb-ec98-48b3-89cf-c94402c55611');
          assert.equal(d.uptime, null);
          assert.equal(d.vcpus, undefined);
          const show = await nova.getHypervisor('f79c1cce-9972-44c6-aa30-1d9e6526ce37');
          assert.equal(show.hypervisorHostname, 'fake-mini');
          assert.equal(show.serviceHost, 'compute');
          assert.equal(show.hypervisorType, 'fake');
          const ws = await nova.listHypervisors({ hostnamePattern: 'fake', withServers: true });
          assert.deepEqual(ws[0]?.servers, [
            { uuid: 'aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa', name: 'test_server1' },
            { uuid: 'bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb', name: 'test_server2' },
          ]);
          const wsReq = f.requests[f.requests.length - 1];
          assert.equal(wsReq?.query.get('hypervisor_hostname_pattern'), 'fake');
          assert.equal(wsReq.query.get('limit'), null);
          for (const r of f.requests) {
            assert.equal(r.headers['openstack-api-version'], 'compute 2.88');
            assert.equal(r.headers['x-openstack-nova-api-version'], '2.88');
            assert.equal(r.headers['x-auth-token'], 'tok-1');
          }
        } finally {
          await c.http.close();
        }
      },
    );
  });

  it('parses pre-2.88 hypervisor stats (2.1 integer ids, 2.53 UUIDs) and the statistics fallback', async () => {
    await withFake(
      {
        'GET /v2.1/os-hypervisors/detail': sample('nova/os-hypervisors/hypervisors-detail-resp.json'),
        'GET /v2.1/os-hypervisors/statistics': sample('nova/os-hypervisors/v2.53/hypervisors-statistics-resp.json'),
        'GET /': { versions: [{ id: 'v2.1', status: 'CURRENT', version: '2.79', min_version: '2.1' }] },
      },
      async (f) => {
        const c = ctx(`${f.url}/v2.1`);
        const nova = new NovaClient(c);
        try {
          assert.equal(await nova.microversion(), '2.79');
          assert.equal(await nova.capacitySource(), 'hypervisor-stats');
          const [h] = await nova.listHypervisors({ detail: true });
          assert.equal(h?.id, 1);
          assert.equal(h.serviceId, 2);
          assert.equal(h.vcpus, 2);
          assert.equal(h.vcpusUsed, 0);
          assert.equal(h.memoryMb, 8192);
          assert.equal(h.memoryMbUsed, 512);
          assert.equal(h.localGb, 1028);
          assert.equal(h.localGbUsed, 0);
          assert.equal(h.serviceHost, 'e6a37ee802d74863ab8b91ade8f12a67');
          const st = await nova.hypervisorStatistics();
          assert.deepEqual([st.count, st.vcpus, st.vcpusUsed, st.memoryMb, st.memoryMbUsed, st.localGb, st.localGbUsed], [1, 2, 0, 8192, 512, 1028, 0]);
          assert.equal(f.requests[f.requests.length - 1]?.headers['openstack-api-version'], 'compute 2.79');
        } finally {
          await c.http.close();
        }
        const c2 = ctx(`${f.url}/v2.1`);
        try {
          await assert.rejects(new NovaClient(c2, { microversion: '2.88' }).hypervisorStatistics(), OpenStackUnsupportedError);
        } finally {
          await c2.http.close();
        }
      },
    );
    const v253 = (sample('nova/os-hypervisors/v2.53/hypervisors-detail-resp.json') as { hypervisors: unknown[] }).hypervisors[0];
    const h = parseHypervisor(v253);
    assert.equal(h.id, '1bb62a04-c576-402c-8147-9e89757a09e3');
    assert.equal(h.hypervisorHostname, 'host2');
    assert.equal(h.serviceHost, 'host1');
    assert.equal(h.vcpus, 2);
  });

  it('lists servers across tenants following servers_links (2.1 page, then 2.73 page)', async () => {
    let base = '';
    await withFake(
      {
        [`GET ${P}/servers/detail`]: ((req, res) => {
          if (req.query.get('marker')) sendJson(res, 200, sample('nova/servers/v2.73/servers-details-resp.json'));
          else sendJson(res, 200, rebased('nova/servers/servers-details-resp.json', base));
        }) satisfies Handler,
      },
      async (f) => {
        base = f.url;
        const c = ctx(`${f.url}${P}`);
        const nova = new NovaClient(c, { microversion: '2.73' });
        try {
          const servers = await nova.listServers({ allTenants: true, host: 'compute' });
          assert.equal(f.requests[0]?.query.get('all_tenants'), '1');
          assert.equal(f.requests[0].query.get('host'), 'compute');
          assert.equal(servers.length, 2);
          const [a, b] = servers;
          assert.equal(a?.host, 'c3f14e9812ad496baf92ccfb3c61e15f');
          assert.equal(a.hypervisorHostname, 'fake-mini');
          assert.equal(a.availabilityZone, 'us-west');
          assert.equal(a.flavor?.id, '1');
          assert.equal(b?.id, '2ce4c5b3-2866-4972-93ce-77a2ea46a7f9');
          assert.equal(b.status, 'ACTIVE');
          assert.equal(b.host, 'compute');
          assert.equal(b.hypervisorHostname, 'fake-mini');
          assert.equal(b.instanceName, 'instance-00000001');
          assert.equal(b.availabilityZone, 'nova');
          assert.equal(b.tenantId, '6f70656e737461636b20342065766572');
          assert.deepEqual(b.flavor, { originalName: 'm1.tiny', vcpus: 1, ram: 512, disk: 1, ephemeral: 0, swap: 0, extraSpecs: {} });
        } finally {
          await c.http.close();
        }
      },
    );
  });

  it('asks for servers changed since a time (changes-since) in pages, and keeps each server\'s updated', async () => {
    let base = '';
    await withFake(
      {
        [`GET ${P}/servers/detail`]: ((req, res) => {
          if (req.query.get('marker')) sendJson(res, 200, { servers: [] });
          else sendJson(res, 200, rebased('nova/servers/servers-details-resp.json', base));
        }) satisfies Handler,
      },
      async (f) => {
        base = f.url;
        const c = ctx(`${f.url}${P}`);
        const nova = new NovaClient(c, { microversion: '2.88' });
        const seen: string[] = [];
        try {
          const servers = await nova.listServers({ allTenants: true, changesSince: '2013-09-03T04:01:00Z', limit: 1 }, { observer: (e) => seen.push(e.url) });
          assert.equal(f.requests[0]?.query.get('changes-since'), '2013-09-03T04:01:00Z');
          assert.equal(f.requests[0].query.get('limit'), '1');
          // The sample's next link is followed as given; the observer sees both pages.
          assert.equal(f.requests.length, 2);
          assert.equal(seen.length, 2);
          assert.equal(servers[0]?.updated, '2013-09-03T04:01:32Z');
        } finally {
          await c.http.close();
        }
      },
    );
  });

  it('refuses the 2.100 non-admin server view (no OS-EXT-SRV-ATTR:host) with OpenStackPermissionError', async () => {
    const body = sample('nova/servers/v2.100/servers-details-resp.json') as Record<string, unknown>;
    delete body.servers_links;
    await withFake({ 'GET /v2.1/servers/detail': body }, async (f) => {
      const c = ctx(`${f.url}/v2.1`);
      const nova = new NovaClient(c, { microversion: '2.100' });
      try {
        await assert.rejects(nova.listServers({ allTenants: true }), (e: unknown) => e instanceof OpenStackPermissionError && e.code === 'CM_ERR_OPENSTACK_NOT_ADMIN' && e.field === 'OS-EXT-SRV-ATTR:host');
        const [s] = await nova.listServers({}, { requireAdminFields: false });
        assert.equal(s?.host, undefined);
        assert.equal(s?.availabilityZone, 'us-west');
        assert.equal(s.flavor?.originalName, 'm1.tiny');
      } finally {
        await c.http.close();
      }
    });
  });

  it('shows a server at 2.47 (embedded flavor) and creates/deletes a server at 2.100', async () => {
    await withFake(
      {
        'GET /v2.1/servers/9168b536-cd40-4630-b43f-b259807c6e87': sample('nova/servers/v2.47/server-get-resp.json'),
        'POST /v2.1/servers': ((_req, res) => {
          sendJson(res, 202, sample('nova/servers/v2.100/server-create-resp.json'), { location: 'http://x/v2.1/servers/f5dc173b-6804-445a-a6d8-c705dad5b5eb', 'x-openstack-request-id': 'req-create' });
        }) satisfies Handler,
        'DELETE /v2.1/servers/f5dc173b-6804-445a-a6d8-c705dad5b5eb': ((_req, res) => {
          res.writeHead(204);
          res.end();
        }) satisfies Handler,
      },
      async (f) => {
        const c = ctx(`${f.url}/v2.1`);
        const nova = new NovaClient(c, { microversion: '2.100' });
        try {
          const s = await nova.getServer('9168b536-cd40-4630-b43f-b259807c6e87');
          assert.equal(s.host, 'compute');
          assert.equal(s.hypervisorHostname, 'fake-mini');
          assert.equal(s.flavor?.originalName, 'm1.tiny.specs');
          assert.deepEqual(s.flavor.extraSpecs, { 'hw:numa_nodes': '1' });
          assert.equal(s.flavor.id, undefined);
          const req = sample('nova/servers/v2.100/server-create-req.json') as { server: Record<string, unknown> };
          const created = await nova.createServer({
            name: 'new-server-test',
            imageRef: '70a599e0-31e7-49b7-b260-868f441e862b',
            flavorRef: '1',
            availabilityZone: 'us-west',
            networks: 'auto',
            metadata: { 'My Server Name': 'Apache1' },
            securityGroups: ['default'],
            schedulerHints: { same_host: '48e6a9f6-30af-47e0-bc04-acaed113bb4e' },
          });
          assert.equal(created.id, 'f5dc173b-6804-445a-a6d8-c705dad5b5eb');
          assert.equal(created.adminPass, '6NpUwoz2QDRN');
          assert.equal(created.requestId, 'req-create');
          assert.match(created.location ?? '', /f5dc173b/);
          const sent = f.requests[1]?.body as { server: Record<string, unknown>; 'OS-SCH-HNT:scheduler_hints': unknown };
          for (const k of ['name', 'imageRef', 'flavorRef', 'availability_zone', 'networks', 'metadata', 'security_groups']) {
            assert.deepEqual(sent.server[k], req.server[k], k);
          }
          assert.deepEqual(sent['OS-SCH-HNT:scheduler_hints'], (req as unknown as Record<string, unknown>)['OS-SCH-HNT:scheduler_hints']);
          await nova.deleteServer(created.id);
          assert.equal(f.requests[2]?.method, 'DELETE');
        } finally {
          await c.http.close();
        }
      },
    );
  });

  it('parses flavors (2.102 list/show, 2.75 show), limits, quota detail and AZ detail', async () => {
    await withFake(
      {
        'GET /v2.1/flavors/detail': sample('nova/flavors/v2.102/flavors-detail-resp.json'),
        'GET /v2.1/flavors/7': sample('nova/flavors/v2.102/flavor-get-resp.json'),
        'GET /v2.1/limits': sample('nova/limits/v2.57/limit-get-resp.json'),
        'GET /v2.1/os-quota-sets/fake_tenant/detail': sample('nova/os-quota-sets/v2.57/quotas-show-detail-get-resp.json'),
        'GET /v2.1/os-availability-zone/detail': sample('nova/os-availability-zone/availability-zone-detail-resp.json'),
      },
      async (f) => {
        const c = ctx(`${f.url}/v2.1`);
        const nova = new NovaClient(c, { microversion: '2.102' });
        try {
          const flavors = await nova.listFlavors();
          assert.equal(flavors.length, 7);
          assert.deepEqual(
            flavors.map((x) => [x.id, x.name, x.vcpus, x.ram, x.disk]),
            [
              ['1', 'm1.tiny', 1, 512, 1],
              ['2', 'm1.small', 1, 2048, 20],
              ['3', 'm1.medium', 2, 4096, 40],
              ['4', 'm1.large', 4, 8192, 80],
              ['5', 'm1.xlarge', 8, 16384, 160],
              ['6', 'm1.tiny.specs', 1, 512, 1],
              ['7', 'm1.small.description', 1, 2048, 20],
            ],
          );
          const fl = await nova.getFlavor('7');
          assert.equal(fl.description, 'test description');
          assert.deepEqual(fl.extraSpecs, { 'hw:cpu_policy': 'shared', 'hw:numa_nodes': '1' });
          assert.equal(fl.isPublic, true);
          assert.equal(fl.swap, 0);
          assert.equal(fl.ephemeral, 0);
          const old = parseFlavor((sample('nova/flavors/v2.75/flavor-get-resp.json') as { flavor: unknown }).flavor);
          assert.equal(old.id, '7');
          assert.equal(old.ram, 2048);
          assert.equal(parseFlavor({ id: '9', name: 'x', vcpus: 1, ram: 1, disk: 1, swap: '' }).swap, 0);
          const lim = await nova.limits();
          assert.equal(lim.absolute.maxTotalCores, 20);
          assert.equal(lim.absolute.maxTotalInstances, 10);
          assert.equal(lim.absolute.maxTotalRAMSize, 51200);
          assert.equal(lim.absolute.totalCoresUsed, 0);
          const q = await nova.quotaSetDetail('fake_tenant');
          assert.deepEqual(q.cores, { limit: 20, inUse: 0, reserved: 0 });
          assert.deepEqual(q.ram, { limit: 51200, inUse: 0, reserved: 0 });
          assert.equal(Object.keys(q).includes('id'), false);
          const zones = await nova.availabilityZones();
          assert.deepEqual(zones.map((z) => z.name), ['nova']);
          assert.deepEqual(zones[0]?.hosts, { compute: { 'nova-compute': { active: true, available: true, updatedAt: null } } });
          assert.equal(zones[0].available, true);
        } finally {
          await c.http.close();
        }
      },
    );
    const list = parseAvailabilityZones(sample('nova/os-availability-zone/availability-zone-list-resp.json'));
    assert.deepEqual(list, [{ name: 'nova', available: true, hosts: {} }]);
  });

  it('parses compute services', () => {
    const s = parseComputeService({ id: 'u1', binary: 'nova-compute', host: 'compute1', zone: 'nova', status: 'disabled', state: 'down', disabled_reason: 'maintenance', updated_at: null, forced_down: false });
    assert.deepEqual([s.host, s.binary, s.zone, s.status, s.state, s.disabledReason], ['compute1', 'nova-compute', 'nova', 'disabled', 'down', 'maintenance']);
  });
});

describe('placement contract', () => {
  it('reads providers, inventories, usages, allocations with the placement header', async () => {
    const rp = '99c09379-6e52-4ef8-9a95-b9ce6f68452e';
    await withFake(
      {
        'GET /placement/resource_providers': sample('placement/resource_providers/get-resource_providers.json'),
        'GET /placement/resource_providers/3b4005be-d64b-456f-ba36-0ffd02718868': sample('placement/resource_providers/get-resource_provider.json'),
        [`GET /placement/resource_providers/${rp}/inventories`]: sample('placement/inventories/get-inventories.json'),
        [`GET /placement/resource_providers/${rp}/usages`]: sample('placement/resource_provider_usages/get-resource_provider_usages.json'),
        [`GET /placement/resource_providers/${rp}/allocations`]: sample('placement/resource_provider_allocations/get-resource_provider_allocations.json'),
        'GET /placement/usages': sample('placement/usages/get-usages.json'),
        'GET /placement/allocations/c1': { allocations: { [rp]: { generation: 3, resources: { VCPU: 1, MEMORY_MB: 512 } } }, project_id: 'p', user_id: 'u', consumer_generation: 1 },
      },
      async (f) => {
        const c = ctx(`${f.url}/placement`);
        const pl = new PlacementClient(c);
        try {
          const providers = await pl.listResourceProviders({ name: 'vgr.localdomain' });
          assert.equal(f.requests[0]?.query.get('name'), 'vgr.localdomain');
          assert.deepEqual(providers.map((p) => [p.uuid, p.name, p.generation, p.parentProviderUuid, p.rootProviderUuid]), [
            [rp, 'vgr.localdomain', 1, '542df8ed-9be2-49b9-b4db-6d3183ff8ec8', '542df8ed-9be2-49b9-b4db-6d3183ff8ec8'],
            ['d0b381e9-8761-42de-8e6c-bba99a96d5f5', 'pony1', 2, null, 'd0b381e9-8761-42de-8e6c-bba99a96d5f5'],
          ]);
          const one = await pl.getResourceProvider('3b4005be-d64b-456f-ba36-0ffd02718868');
          assert.equal(one.name, 'Ceph Storage Pool');
          const inv = await pl.inventories(rp);
          assert.equal(inv.generation, 7);
          assert.deepEqual(inv.inventories.MEMORY_MB, { total: 5825, reserved: 512, minUnit: 1, maxUnit: 5825, stepSize: 1, allocationRatio: 1.5 });
          const use = await pl.providerUsages(rp);
          assert.deepEqual(use.usages, { DISK_GB: 1, MEMORY_MB: 512, VCPU: 1 });
          const cap = await pl.capacity(rp);
          assert.equal(cap.VCPU?.capacity, 64);
          assert.equal(cap.VCPU.free, 63);
          assert.equal(cap.VCPU.maxUnit, 4);
          assert.equal(cap.MEMORY_MB?.capacity, Math.floor((5825 - 512) * 1.5));
          assert.equal(cap.MEMORY_MB.free, 7969 - 512);
          assert.equal(cap.DISK_GB?.free, 34);
          const allocs = await pl.providerAllocations(rp);
          assert.equal(allocs.generation, 12);
          assert.deepEqual(allocs.allocations['9afd5aeb-d6b9-4dea-a588-1e6327a91834'], { MEMORY_MB: 512, VCPU: 2 });
          assert.equal(Object.keys(allocs.allocations).length, 3);
          const pu = await pl.projectUsages('p1');
          assert.deepEqual(pu.usages, { DISK_GB: 5, MEMORY_MB: 512, VCPU: 2 });
          const ca = await pl.consumerAllocations('c1');
          assert.deepEqual(ca.allocations[rp], { VCPU: 1, MEMORY_MB: 512 });
          assert.equal(ca.projectId, 'p');
          for (const r of f.requests) assert.equal(r.headers['openstack-api-version'], 'placement 1.36');
        } finally {
          await c.http.close();
        }
      },
    );
  });

  it('computes capacity per resource class and respects max_unit', () => {
    const inv = { inventories: { VCPU: { total: 4, reserved: 1, minUnit: 1, maxUnit: 4, stepSize: 1, allocationRatio: 16 } }, generation: 1 };
    const cap = computeCapacity(inv, { usages: { VCPU: 40 }, generation: 1 });
    assert.deepEqual(cap.VCPU, { total: 4, reserved: 1, allocationRatio: 16, capacity: 48, used: 40, free: 8, maxUnit: 4, minUnit: 1, stepSize: 1 });
    assert.equal(fits(cap.VCPU, 4), true);
    assert.equal(fits(cap.VCPU, 5), false); // over max_unit though free is 8
    const full = computeCapacity(inv, { usages: { VCPU: 46 }, generation: 1 });
    assert.equal(fits(full.VCPU!, 3), false);
    assert.equal(computeCapacity({ inventories: { X: { total: 3, reserved: 0, minUnit: 1, maxUnit: 3, stepSize: 1, allocationRatio: 1.5 } }, generation: 0 }, { usages: {}, generation: 0 }).X?.capacity, 4);
  });

  it('parses a Placement error with its request id', async () => {
    await withFake(
      {
        'GET /resource_providers/nope/inventories': ((_req, res) => {
          sendJson(res, 404, { errors: [{ status: 404, title: 'Not Found', detail: 'No resource provider with uuid nope found', code: 'placement.undefined_code', request_id: 'req-abc' }] });
        }) satisfies Handler,
      },
      async (f) => {
        const c = ctx(f.url);
        try {
          const e = await new PlacementClient(c).inventories('nope').catch((x: unknown) => x);
          assert.ok(e instanceof OpenStackApiError);
          assert.equal(e.service, 'placement');
          assert.equal(e.status, 404);
          assert.equal(e.serviceCode, 'placement.undefined_code');
          assert.equal(e.requestId, 'req-abc');
          assert.equal(e.apiMessage, 'No resource provider with uuid nope found');
        } finally {
          await c.http.close();
        }
      },
    );
  });
});

describe('neutron contract', () => {
  it('lists ports by device_id (admin view) and by binding:host_id', async () => {
    await withFake(
      {
        'GET /v2.0/ports': sample('neutron/ports/ports-bind-list-response.json'),
        'GET /v2.0/ports/d80b1a3b-4fc1-49f3-952e-1e2ab7081d8b': ((_req, res) => {
          sendJson(res, 200, sample('neutron/ports/port-bind-show-response.json'));
        }) satisfies Handler,
      },
      async (f) => {
        const c = ctx(`${f.url}/`);
        const neutron = new NeutronClient(c);
        try {
          const ports = await neutron.listPorts({ deviceId: '9ae135f4-b6e0-4dad-9e91-3c223e385824' });
          assert.equal(f.requests[0]?.url, '/v2.0/ports?device_id=9ae135f4-b6e0-4dad-9e91-3c223e385824');
          assert.equal(ports.length, 2);
          const p = ports[0]!;
          assert.equal(p.id, 'd80b1a3b-4fc1-49f3-952e-1e2ab7081d8b');
          assert.equal(p.hostId, 'devstack');
          assert.equal(p.vifType, 'ovs');
          assert.equal(p.vnicType, 'normal');
          assert.equal(p.deviceOwner, 'network:router_gateway');
          assert.equal(p.networkId, '70c1db1f-b701-45bd-96e0-a313ee3430b3');
          assert.equal(p.macAddress, 'fa:16:3e:58:42:ed');
          assert.deepEqual(p.fixedIps, [{ subnetId: '008ba151-0b8c-4a67-98b5-0d2b87666062', ipAddress: '172.24.4.2' }]);
          assert.equal(p.qosPolicyId, '29d5e02e-d5ab-4929-bee4-4a9fc12e22ae');
          assert.equal(ports[1]?.qosNetworkPolicyId, '174dd0c1-a4eb-49d4-a807-ae80246d82f4');
          await neutron.listPorts({ hostId: 'devstack', deviceId: ['a', 'b'] });
          assert.equal(f.requests[1]?.url, '/v2.0/ports?device_id=a&device_id=b&binding%3Ahost_id=devstack');
          const one = await neutron.getPort('d80b1a3b-4fc1-49f3-952e-1e2ab7081d8b');
          assert.equal(one.hostId, "devstack");
          assert.equal(one.status.length > 0, true);
        } finally {
          await c.http.close();
        }
      },
    );
  });

  it('asks for ports changed since a time, only some fields, in pages; keeps updated_at', async () => {
    const body = sample('neutron/ports/ports-bind-list-response.json') as { ports: unknown[] };
    await withFake(
      {
        'GET /v2.0/ports': ((req, res) => {
          if (req.query.get('marker')) sendJson(res, 200, { ports: [] });
          else sendJson(res, 200, { ports: body.ports, ports_links: [{ rel: 'next', href: `http://${req.headers.host ?? ''}/v2.0/ports?limit=2&marker=x` }] });
        }) satisfies Handler,
      },
      async (f) => {
        const c = ctx(f.url);
        const neutron = new NeutronClient(c);
        try {
          const ports = await neutron.listPorts({ changedSince: '2016-03-08T20:00:00Z', limit: 2, fields: ['id', 'binding:host_id', 'updated_at'] });
          const q = f.requests[0]!.query;
          assert.equal(q.get('changed_since'), '2016-03-08T20:00:00Z');
          assert.equal(q.get('limit'), '2');
          assert.deepEqual(q.getAll('fields'), ['id', 'binding:host_id', 'updated_at']);
          assert.equal(f.requests.length, 2);
          assert.equal(ports.length, 2);
          assert.equal(ports[0]?.updatedAt, '2016-03-08T20:19:41');
        } finally {
          await c.http.close();
        }
      },
    );
  });

  it('refuses ports without binding:host_id (non-admin view)', async () => {
    await withFake({ 'GET /v2.0/ports': sample('neutron/ports/ports-list-response.json') }, async (f) => {
      const c = ctx(f.url);
      const neutron = new NeutronClient(c);
      try {
        await assert.rejects(neutron.listPorts({ deviceId: 'x' }), (e: unknown) => e instanceof OpenStackPermissionError && e.field === 'binding:host_id' && e.code === 'CM_ERR_OPENSTACK_NOT_ADMIN');
        const ports = await neutron.listPorts({ deviceId: 'x' }, { requireAdminFields: false });
        assert.equal(ports[0]?.hostId, undefined);
      } finally {
        await c.http.close();
      }
    });
  });

  it('does QoS policy and rule CRUD and parses NeutronError', async () => {
    const policy = { id: 'pol1', name: 'gold', description: '', shared: false, is_default: false, project_id: 'p', rules: [] };
    await withFake(
      {
        'POST /v2.0/qos/policies': ((req, res) => {
          sendJson(res, 201, { policy: { ...policy, ...(req.body as { policy: object }).policy } });
        }) satisfies Handler,
        'GET /v2.0/qos/policies': { policies: [{ ...policy, rules: [{ id: 'r1', type: 'bandwidth_limit', max_kbps: 1000, max_burst_kbps: 100, direction: 'egress' }] }] },
        'PUT /v2.0/qos/policies/pol1': ((req, res) => {
          sendJson(res, 200, { policy: { ...policy, ...(req.body as { policy: object }).policy } });
        }) satisfies Handler,
        'POST /v2.0/qos/policies/pol1/bandwidth_limit_rules': ((req, res) => {
          sendJson(res, 201, { bandwidth_limit_rule: { id: 'r1', ...(req.body as { bandwidth_limit_rule: object }).bandwidth_limit_rule } });
        }) satisfies Handler,
        'POST /v2.0/qos/policies/pol1/minimum_bandwidth_rules': ((req, res) => {
          sendJson(res, 201, { minimum_bandwidth_rule: { id: 'r2', ...(req.body as { minimum_bandwidth_rule: object }).minimum_bandwidth_rule } });
        }) satisfies Handler,
        'GET /v2.0/qos/policies/pol1/minimum_bandwidth_rules': { minimum_bandwidth_rules: [{ id: 'r2', min_kbps: 500, direction: 'egress' }] },
        'PUT /v2.0/qos/policies/pol1/bandwidth_limit_rules/r1': ((req, res) => {
          sendJson(res, 200, { bandwidth_limit_rule: { id: 'r1', ...(req.body as { bandwidth_limit_rule: object }).bandwidth_limit_rule } });
        }) satisfies Handler,
        'DELETE /v2.0/qos/policies/pol1/bandwidth_limit_rules/r1': ((_req, res) => {
          res.writeHead(204);
          res.end();
        }) satisfies Handler,
        'DELETE /v2.0/qos/policies/pol1': ((_req, res) => {
          sendJson(res, 409, { NeutronError: { type: 'QosPolicyInUse', message: 'QoS Policy pol1 is used by port p1.', detail: '' } }, { 'x-openstack-request-id': 'req-n1' });
        }) satisfies Handler,
      },
      async (f) => {
        const c = ctx(f.url);
        const n = new NeutronClient(c);
        try {
          const p = await n.createQosPolicy({ name: 'gold', description: 'd' });
          assert.equal(p.id, 'pol1');
          assert.equal(p.description, 'd');
          assert.deepEqual(f.requests[0]?.body, { policy: { name: 'gold', description: 'd' } });
          const [listed] = await n.listQosPolicies();
          assert.equal(listed?.rules[0]?.maxKbps, 1000);
          assert.equal((await n.updateQosPolicy('pol1', { name: 'silver' })).name, 'silver');
          const r = await n.createQosRule('pol1', 'bandwidth_limit', { maxKbps: 2000, maxBurstKbps: 200, direction: 'egress' });
          assert.deepEqual([r.id, r.maxKbps, r.maxBurstKbps, r.direction], ['r1', 2000, 200, 'egress']);
          assert.deepEqual(f.requests[3]?.body, { bandwidth_limit_rule: { max_kbps: 2000, max_burst_kbps: 200, direction: 'egress' } });
          const m = await n.createQosRule('pol1', 'minimum_bandwidth', { minKbps: 500 });
          assert.equal(m.minKbps, 500);
          assert.equal((await n.listQosRules('pol1', 'minimum_bandwidth'))[0]?.minKbps, 500);
          assert.equal((await n.updateQosRule('pol1', 'bandwidth_limit', 'r1', { maxKbps: 3000 })).maxKbps, 3000);
          await n.deleteQosRule('pol1', 'bandwidth_limit', 'r1');
          const e = await n.deleteQosPolicy('pol1').catch((x: unknown) => x);
          assert.ok(e instanceof OpenStackConflictError);
          assert.equal(e.serviceCode, 'QosPolicyInUse');
          assert.equal(e.requestId, 'req-n1');
          assert.equal(e.service, 'network');
        } finally {
          await c.http.close();
        }
      },
    );
  });

  it('parses networks', () => {
    const net = parseNetwork({ id: 'n1', name: 'private', status: 'ACTIVE', subnets: ['s1'], project_id: 'p', shared: false, 'router:external': false, mtu: 1450, qos_policy_id: null, 'provider:network_type': 'vxlan', 'provider:physical_network': null });
    assert.deepEqual([net.id, net.name, net.subnets, net.mtu, net.providerNetworkType, net.qosPolicyId], ['n1', 'private', ['s1'], 1450, 'vxlan', null]);
  });
});

describe('heat contract', () => {
  const project = '/v1/eb1c63a4f77141548385f113a28f0f52';
  it('creates (201), finds by name (302), shows, lists, deletes (204); duplicate name is a 409 conflict', async () => {
    let created = false;
    let base = '';
    const show = sample('heat/stack-show-response.json');
    await withFake(
      {
        [`POST ${project}/stacks`]: ((req, res) => {
          if (created) {
            sendJson(res, 409, { code: 409, title: 'Conflict', explanation: 'There was a conflict when trying to complete your request.', error: { type: 'StackExists', message: 'The Stack (teststack) already exists.', traceback: null } });
            return;
          }
          created = true;
          assert.deepEqual(req.body, sample('heat/stack-create-request.json'));
          sendJson(res, 201, sample('heat/stack-create-response.json'), { location: `${base}${project}/stacks/teststack/3095aefc-09fb-4bc7-b1f0-f21a304e864c` });
        }) satisfies Handler,
        [`GET ${project}/stacks/simple_stack`]: ((_req, res) => {
          res.writeHead(302, { location: `${base}${project}/stacks/simple_stack/3095aefc-09fb-4bc7-b1f0-f21a304e864c`, 'content-type': 'application/json' });
          res.end(JSON.stringify(sample('heat/stack-find-response.json')));
        }) satisfies Handler,
        [`GET ${project}/stacks/simple_stack/3095aefc-09fb-4bc7-b1f0-f21a304e864c`]: show,
        [`GET ${project}/stacks`]: sample('heat/stacks-list-response.json'),
        [`DELETE ${project}/stacks/simple_stack/3095aefc-09fb-4bc7-b1f0-f21a304e864c`]: ((_req, res) => {
          res.writeHead(204);
          res.end();
        }) satisfies Handler,
        [`GET ${project}/stacks/simple_stack/3095aefc-09fb-4bc7-b1f0-f21a304e864c/resources`]: { resources: [{ resource_name: 'hello_world', resource_type: 'OS::Nova::Server', physical_resource_id: 'srv1', resource_status: 'CREATE_COMPLETE', resource_status_reason: 'state changed' }] },
        [`GET ${project}/stacks/simple_stack/3095aefc-09fb-4bc7-b1f0-f21a304e864c/events`]: { events: [{ id: 'e1', resource_name: 'hello_world', resource_status: 'CREATE_IN_PROGRESS', resource_status_reason: 'state changed', event_time: '2014-06-03T20:59:46Z' }] },
      },
      async (f) => {
        base = f.url;
        const c = ctx(`${f.url}${project}`);
        const heat = new HeatClient(c);
        try {
          const reqSample = sample('heat/stack-create-request.json') as { template: Record<string, unknown> };
          const r = { name: 'teststack', template: reqSample.template, parameters: { flavor: 'm1.heat' }, files: {}, disableRollback: true, timeoutMins: 60 };
          const cs = await heat.createStack(r);
          assert.equal(cs.id, '3095aefc-09fb-4bc7-b1f0-f21a304e864c');
          assert.match(cs.selfUrl ?? '', /stacks\/teststack\/3095aefc/);
          assert.match(cs.location ?? '', /stacks\/teststack\/3095aefc/);
          await assert.rejects(heat.createStack(r), (e: unknown) => e instanceof OpenStackConflictError && e.serviceCode === 'StackExists' && e.status === 409);
          const s = await heat.getStack('simple_stack');
          assert.equal(s.id, '3095aefc-09fb-4bc7-b1f0-f21a304e864c');
          assert.equal(s.name, 'simple_stack');
          assert.equal(s.status, 'CREATE_COMPLETE');
          assert.equal(s.statusReason, 'Stack CREATE completed successfully');
          assert.deepEqual(s.outputs, []);
          assert.equal(s.parameters['OS::stack_name'], 'simple_stack');
          assert.equal(s.deletionTime, null);
          const list = await heat.listStacks();
          assert.deepEqual(list.map((x) => [x.id, x.name, x.status]), [['3095aefc-09fb-4bc7-b1f0-f21a304e864c', 'simple_stack', 'CREATE_COMPLETE']]);
          assert.equal(f.requests.find((x) => x.pathname === `${project}/stacks` && x.method === 'GET')?.query.get('limit'), '100');
          const res = await heat.listResources('simple_stack', s.id);
          assert.deepEqual([res[0]?.name, res[0]?.type, res[0]?.physicalId, res[0]?.status], ['hello_world', 'OS::Nova::Server', 'srv1', 'CREATE_COMPLETE']);
          const ev = await heat.listEvents('simple_stack', s.id);
          assert.equal(ev[0]?.status, 'CREATE_IN_PROGRESS');
          await heat.deleteStack('simple_stack');
          assert.equal(f.requests[f.requests.length - 1]?.method, 'DELETE');
        } finally {
          await c.http.close();
        }
      },
    );
  });

  it('treats a 404 Heat error as gone in findStack and parses it', async () => {
    await withFake(
      {
        'GET /v1/p/stacks/gone': ((_req, res) => {
          sendJson(res, 404, { code: 404, title: 'Not Found', explanation: 'The resource could not be found.', error: { type: 'EntityNotFound', message: 'The Stack (gone) could not be found.', traceback: null } });
        }) satisfies Handler,
      },
      async (f) => {
        const c = ctx(`${f.url}/v1/p`);
        const heat = new HeatClient(c);
        try {
          assert.equal(await heat.findStack('gone'), undefined);
          const e = await heat.getStack('gone').catch((x: unknown) => x);
          assert.ok(e instanceof OpenStackApiError);
          assert.equal(e.serviceCode, 'EntityNotFound');
          assert.equal(e.service, 'orchestration');
        } finally {
          await c.http.close();
        }
      },
    );
  });
});
