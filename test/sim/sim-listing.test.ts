/**
 * The simulated cloud's listings as an incremental reader sees them (src/agent/inventory.ts):
 * Nova's paging under `[api] max_limit` and `changes-since` with deleted servers, Neutron's
 * paging, `fields`, `changed_since` (refused as with Zed's default filter validation, or
 * accepted) and the request-line limit, Placement's provider generations (moved by claims,
 * not by deletions), live migration, and the bulk clouds of src/sim/bulk.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bulkScenario, NO_SWITCHES, seedServers, startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { NEUTRON_TIME, NOVA_TIME } from '../../src/sim/state.ts';
import { call, endpoint, login, nova, until, type Session } from './helpers.ts';

type Json = Record<string, unknown>;
type Link = { rel: string; href: string };

/** Whole seconds, `s` seconds ago (or ahead, negative), as both services write them. */
const ago = (s: number): string => NOVA_TIME(new Date(Math.floor(Date.now() / 1000) * 1000 - s * 1000));

/** Follows `next` links from `url`, returning every page's items and the number of requests. */
async function follow(url: string, key: string, token: string, headers: Record<string, string> = {}): Promise<{ items: Json[]; calls: number; pages: Json[][] }> {
  const pages: Json[][] = [];
  let next: string | undefined = url;
  while (next !== undefined) {
    const res = await call('GET', next, { token, headers });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    const body = res.body as Json;
    pages.push(body[key] as Json[]);
    next = ((body[`${key}_links`] as Link[] | undefined) ?? []).find((l) => l.rel === 'next')?.href;
  }
  return { items: pages.flat(), calls: pages.length, pages };
}

describe('simulated listings: paging, changes since, generations', () => {
  let cloud: SimCloud;
  let admin: Session;
  let compute: string;
  let network: string;
  let placementUrl: string;
  before(async () => {
    cloud = await startSimCloud({ scenario: bulkScenario(6, { vcpus: 8, memory_mb: 16_384, disk_gb: 100 }), hypervisor: NO_SWITCHES, bootDelayMs: 1, novaMaxLimit: 4 });
    seedServers(cloud.state, { perHost: 1 });
    admin = await login(cloud);
    compute = endpoint(admin, 'compute');
    network = `${endpoint(admin, 'network')}/v2.0`;
    placementUrl = endpoint(admin, 'placement');
  });
  after(async () => {
    await cloud.close();
  });

  const boot = async (name: string, host: string): Promise<string> => {
    const net = [...cloud.state.networks.values()][0]!;
    const res = await call('POST', `${compute}/servers`, { token: admin.token, body: { server: { name, flavorRef: '1', imageRef: '', availability_zone: `nova:${host}`, networks: [{ uuid: net.id }] } } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = ((res.body as Json).server as Json).id as string;
    await until(() => (cloud.state.servers.get(id)?.status === 'ACTIVE' ? true : undefined), `${name} ACTIVE`);
    return id;
  };
  const remove = async (id: string): Promise<void> => {
    assert.equal((await call('DELETE', `${compute}/servers/${id}`, { token: admin.token })).status, 204);
    await until(() => (cloud.state.servers.has(id) ? undefined : true), `${id} gone`);
  };

  it('Nova pages servers at min(limit, max_limit), a full page linking the next one (an empty last page when N is a multiple)', async () => {
    // 6 servers, pages of 2: 3 full pages and an empty one.
    const byTwo = await follow(`${compute}/servers/detail?all_tenants=1&limit=2`, 'servers', admin.token, nova('2.88'));
    assert.deepEqual(byTwo.pages.map((p) => p.length), [2, 2, 2, 0]);
    assert.equal(new Set(byTwo.items.map((s) => s.id)).size, 6);
    // Asking for more than max_limit (4) or nothing: pages of 4.
    for (const q of ['limit=10&', '']) {
      const capped = await follow(`${compute}/servers/detail?${q}all_tenants=1`, 'servers', admin.token, nova('2.88'));
      assert.deepEqual(capped.pages.map((p) => p.length), [4, 2], q);
    }
    // The next link keeps the query (the filters) and replaces the marker.
    const first = await call('GET', `${compute}/servers/detail?all_tenants=1&limit=2`, { token: admin.token });
    const href = ((first.body as Json).servers_links as Link[])[0]!.href;
    assert.match(href, /all_tenants=1/);
    assert.equal(new URL(href).searchParams.getAll('marker').length, 1);
    // Hypervisors too (6 over 3: two full pages and an empty one).
    const hv = await follow(`${compute}/os-hypervisors/detail?limit=3`, 'hypervisors', admin.token, nova('2.88'));
    assert.deepEqual(hv.pages.map((p) => p.length), [3, 3, 0]);
    assert.equal((await call('GET', `${compute}/servers/detail?limit=-1`, { token: admin.token })).status, 400);
  });

  it('Nova changes-since: servers updated at or after it, deleted ones included (DELETED, host kept, no addresses)', async () => {
    const since = ago(1);
    const kept = await boot('kept', 'host-00001');
    const gone = await boot('gone', 'host-00002');
    await remove(gone);
    const res = await call('GET', `${compute}/servers/detail?all_tenants=1&changes-since=${since}`, { token: admin.token, headers: nova('2.88') });
    assert.equal(res.status, 200);
    const servers = (res.body as Json).servers as Json[];
    // The seeded servers (an hour old) are not answered.
    assert.deepEqual(servers.map((s) => s.id).sort(), [kept, gone].sort());
    const deleted = servers.find((s) => s.id === gone)!;
    assert.equal(deleted.status, 'DELETED');
    assert.equal(deleted['OS-EXT-STS:vm_state'], 'deleted');
    assert.equal(deleted['OS-EXT-SRV-ATTR:host'], 'host-00002');
    assert.deepEqual(deleted.addresses, {});
    assert.equal(typeof deleted['OS-SRV-USG:terminated_at'], 'string');
    // Without changes-since a deleted server is never listed; deleted=true lists only them.
    const plain = (await call('GET', `${compute}/servers/detail?all_tenants=1&limit=100`, { token: admin.token })).body as Json;
    assert.ok(!(plain.servers as Json[]).some((s) => s.id === gone));
    const onlyDeleted = (await call('GET', `${compute}/servers/detail?all_tenants=1&deleted=true`, { token: admin.token })).body as Json;
    assert.deepEqual((onlyDeleted.servers as Json[]).map((s) => s.id), [gone]);
    // Later than every change: nothing. Not a time: 400 naming the value.
    const later = (await call('GET', `${compute}/servers/detail?all_tenants=1&changes-since=${ago(-5)}`, { token: admin.token })).body as Json;
    assert.deepEqual(later.servers, []);
    const bad = await call('GET', `${compute}/servers/detail?all_tenants=1&changes-since=bogus`, { token: admin.token });
    assert.equal(bad.status, 400);
    assert.match(JSON.stringify(bad.body), /changes-since/);
  });

  it('Neutron pages only when asked: a full page links the next one and every page the previous one', async () => {
    const n = cloud.state.ports.size;
    const all = await call('GET', `${network}/ports`, { token: admin.token });
    assert.equal(((all.body as Json).ports as Json[]).length, n);
    assert.equal((all.body as Json).ports_links, undefined);
    const paged = await follow(`${network}/ports?limit=2`, 'ports', admin.token);
    assert.equal(paged.calls, Math.floor(n / 2) + 1);
    assert.deepEqual(paged.items.map((p) => p.id), [...cloud.state.ports.keys()].sort(), 'by id, each once');
    const last = await call('GET', `${network}/ports?limit=${n}`, { token: admin.token });
    const links = (last.body as Json).ports_links as Link[];
    assert.deepEqual(links.map((l) => l.rel), ['next', 'previous']);
    const empty = await call('GET', links[0]!.href, { token: admin.token });
    assert.deepEqual((empty.body as Json).ports, []);
    assert.deepEqual(((empty.body as Json).ports_links as Link[]).map((l) => l.rel), ['previous']);
  });

  it('Neutron fields: only the attributes asked for, unknown ones ignored; device_id repeated is OR', async () => {
    const [a, b] = [...cloud.state.ports.values()];
    const res = await call('GET', `${network}/ports?device_id=${a!.deviceId}&device_id=${b!.deviceId}&fields=id&fields=device_id&fields=no_such_field`, { token: admin.token });
    assert.equal(res.status, 200);
    const ports = (res.body as Json).ports as Json[];
    assert.deepEqual(ports.map((p) => Object.keys(p).sort()), [
      ['device_id', 'id'],
      ['device_id', 'id'],
    ]);
    assert.deepEqual(ports.map((p) => p.id).sort(), [a!.id, b!.id].sort());
  });

  it('Neutron refuses changed_since as Zed’s default filter validation does', async () => {
    const res = await call('GET', `${network}/ports?changed_since=${ago(60)}`, { token: admin.token });
    assert.equal(res.status, 400);
    assert.equal(((res.body as Json).NeutronError as Json).message, "['changed_since'] is invalid attribute for filtering");
  });

  it('a request line of 8192 bytes or more is refused (414) by the WSGI server; 100 device ids pass', async () => {
    const ids = (n: number): string => Array.from({ length: n }, (_, i) => `device_id=00000000-0000-4000-8000-${String(i).padStart(12, '0')}`).join('&');
    assert.equal((await call('GET', `${network}/ports?${ids(100)}`, { token: admin.token })).status, 200);
    const long = await call('GET', `${network}/ports?${ids(200)}`, { token: admin.token });
    assert.equal(long.status, 414);
    assert.equal(long.headers.get('x-openstack-request-id'), null, 'refused before the service');
  });

  it('Placement: a claim moves the provider generation, deleting the server does not (its usage goes down)', async () => {
    const h = cloud.state.hosts.get('host-00003')!;
    const rp = async (): Promise<{ generation: number; vcpu: number }> => {
      const p = (await call('GET', `${placementUrl}/resource_providers/${h.uuid}`, { token: admin.token })).body as Json;
      const u = (await call('GET', `${placementUrl}/resource_providers/${h.uuid}/usages`, { token: admin.token })).body as Json;
      return { generation: p.generation as number, vcpu: (u.usages as Json).VCPU as number };
    };
    const before = await rp();
    const id = await boot('gen', 'host-00003');
    const booted = await rp();
    assert.deepEqual(booted, { generation: before.generation + 1, vcpu: before.vcpu + 1 });
    await remove(id);
    assert.deepEqual(await rp(), { generation: booted.generation, vcpu: before.vcpu });
  });

  it('live migration moves the server, its port binding and its allocation; both generations move', async () => {
    const src = cloud.state.hosts.get('host-00004')!;
    const dst = cloud.state.hosts.get('host-00005')!;
    const id = [...cloud.state.servers.values()].find((s) => s.host === src.name)!.id;
    const [g1, g2] = [src.generation, dst.generation];
    const res = await call('POST', `${compute}/servers/${id}/action`, { token: admin.token, headers: nova('2.30'), body: { 'os-migrateLive': { host: dst.name, block_migration: 'auto' } } });
    assert.equal(res.status, 202);
    await until(() => (cloud.state.servers.get(id)?.host === dst.name && cloud.state.servers.get(id)?.status === 'ACTIVE' ? true : undefined), 'migrated');
    const s = cloud.state.servers.get(id)!;
    assert.equal(cloud.state.ports.get(s.portIds[0]!)?.hostId, dst.name);
    assert.equal(cloud.state.allocations.get(id)?.rpUuid, dst.uuid);
    assert.deepEqual([src.generation, dst.generation], [g1 + 1, g2 + 1]);
    assert.equal(cloud.state.usages(src).VCPU, 0);
    // To its own host: 400.
    const same = await call('POST', `${compute}/servers/${id}/action`, { token: admin.token, body: { 'os-migrateLive': { host: dst.name } } });
    assert.equal(same.status, 400);
  });
});

describe('simulated Neutron accepting changed_since (filter_validation off)', () => {
  let cloud: SimCloud;
  let admin: Session;
  let network: string;
  before(async () => {
    cloud = await startSimCloud({ scenario: bulkScenario(2), hypervisor: NO_SWITCHES, bootDelayMs: 1, neutronChangedSince: true });
    seedServers(cloud.state, { perHost: 2 });
    admin = await login(cloud);
    network = `${endpoint(admin, 'network')}/v2.0`;
  });
  after(async () => {
    await cloud.close();
  });

  it('answers ports updated at or after it, never deleted ones; refuses a value that is not a time', async () => {
    const [touched, doomed] = [...cloud.state.ports.values()];
    cloud.state.touchPort(touched!);
    cloud.state.deletePort(doomed!.id);
    const res = await call('GET', `${network}/ports?changed_since=${ago(1)}&limit=10`, { token: admin.token });
    assert.equal(res.status, 200);
    assert.deepEqual(((res.body as Json).ports as Json[]).map((p) => p.id), [touched!.id]);
    // Zone-less values are UTC, as oslo reads them.
    const bare = await call('GET', `${network}/ports?changed_since=${ago(1).replace('Z', '')}`, { token: admin.token });
    assert.deepEqual(((bare.body as Json).ports as Json[]).map((p) => p.id), [touched!.id]);
    assert.equal((await call('GET', `${network}/ports?changed_since=yesterday`, { token: admin.token })).status, 400);
  });
});

describe('bulk clouds', () => {
  it('seed ACTIVE servers with a bound port and an allocation each, stamped in the past; hosts past 245 get 10.x addresses', async () => {
    const cloud = await startSimCloud({ scenario: bulkScenario(300), hypervisor: NO_SWITCHES, bootDelayMs: 1 });
    try {
      const at = new Date(Date.now() - 7_200_000);
      assert.equal(seedServers(cloud.state, { perHost: 2, hosts: ['host-00000', 'host-00299'], at }), 4);
      const servers = [...cloud.state.servers.values()];
      assert.ok(servers.every((s) => s.status === 'ACTIVE' && s.updated === NOVA_TIME(at)));
      for (const s of servers) {
        const port = cloud.state.ports.get(s.portIds[0]!)!;
        assert.deepEqual([port.deviceId, port.hostId, port.status, port.updatedAt], [s.id, s.host, 'ACTIVE', NEUTRON_TIME(at)]);
        assert.equal(cloud.state.allocations.get(s.id)?.rpUuid, cloud.state.hosts.get(s.host!)!.uuid);
      }
      assert.equal(cloud.state.hosts.get('host-00299')!.generation, 1 + 2, 'one claim per server');
      assert.equal(cloud.state.usages(cloud.state.hosts.get('host-00299')!).VCPU, 2);
      assert.match(cloud.state.hosts.get('host-00299')!.hostIp, /^10\./);
      assert.equal(new Set([...cloud.state.hosts.values()].map((h) => h.hostIp)).size, 300);
      assert.equal(new Set([...cloud.state.ports.values()].map((p) => p.fixedIps[0]?.ip_address)).size, 4);
    } finally {
      await cloud.close();
    }
  });
});
