/** The thesis `GET /hosts` and the `/v1/hosts` renderings of a real inventory of the simulated cloud. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { renderThesisHosts, renderV1Hosts, thesisHostIds } from '../../src/agent/hosts-view.ts';
import { CloudInventory, type HostInventory, type InventorySnapshot } from '../../src/agent/inventory.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { OvsdbQosBackend } from '../../src/agent/enforcement/ovsdb-qos.ts';
import type { HostEnforcementView } from '../../src/agent/enforcement/types.ts';
import type { HostGuaranteeView } from '../../src/agent/guarantees/view.ts';
import { composeEnforcementView } from '../../src/agent/enforcement/view.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { closeSwitches, connect, openSwitches, views, type HostSwitch } from './inventory-helpers.ts';

/** Key sets and types from docs/reference/original.md §1.1 (`GET /hosts`). */
const HOST_KEYS = ['cpu_total', 'cpu_used', 'id', 'instances', 'ip', 'ram_total', 'ram_used', 'servers'];
const HOST_TYPES: Record<string, string> = { id: 'number', ip: 'string', instances: 'number', cpu_used: 'number', cpu_total: 'number', ram_used: 'number', ram_total: 'number', servers: 'object' };
const SERVER_KEYS = ['ip', 'name', 'neutron_port', 'ovs_port_id', 'qos'];
const SERVER_TYPES: Record<string, string> = { name: 'string', ip: 'string', neutron_port: 'string', ovs_port_id: 'string', qos: 'object' };
const QOS_KEYS = ['queues', 'uuid'];
const QUEUE_KEYS = ['rates', 'uuid'];
const RATE_KEYS = ['max-rate', 'min-rate'];

function keys(o: unknown): string[] {
  return Object.keys(o as object).sort();
}

function checkTypes(o: Record<string, unknown>, types: Record<string, string>, where: string): void {
  for (const [k, t] of Object.entries(types)) assert.equal(typeof o[k], t, `${where}.${k} is a ${t}`);
}

describe('hosts views', () => {
  let sim: SimCloud;
  let os: OpenStack;
  let switches: Map<string, HostSwitch>;
  let snap: InventorySnapshot;
  const vms: { id: string; host: string; port: string }[] = [];

  const rowsOf = async () => {
    const v = await views(switches, vms.map((x) => ({ host: x.host, portId: x.port })));
    return (host: string) => v.get(host);
  };
  const ovsOf = async (): Promise<(host: string) => HostEnforcementView | undefined> => {
    const rows = await rowsOf();
    return (host) => {
      const view = rows(host);
      return view && composeEnforcementView(view, [new OvsdbQosBackend({ owner: 'cm-test' })]);
    };
  };

  before(async () => {
    sim = await startSimCloud({ bootDelayMs: 10 });
    ({ os } = connect(sim));
    const flavor = (await os.nova.listFlavors())[0]!;
    const net = (await os.neutron.listNetworks())[0]!;
    for (const [name, host] of [['media-1', 'compute1'], ['media-2', 'compute1'], ['broker', 'compute2']] as const) {
      const c = await os.nova.createServer({ name, imageRef: '', flavorRef: flavor.id, availabilityZone: `nova:${host}`, networks: [{ uuid: net.id }] });
      await os.nova.waitForServer(c.id, ['ACTIVE'], { intervalMs: 20, timeoutMs: 10_000 });
      vms.push({ id: c.id, host, port: sim.state.servers.get(c.id)!.portIds[0]! });
    }
    switches = await openSwitches(sim, 'cm-test');
    snap = await new CloudInventory(os).refresh();
  });
  after(async () => {
    closeSwitches(switches);
    await os.close();
    await sim.close();
  });

  it('renders the original GET /hosts shape, field by field', async () => {
    const body = renderThesisHosts(snap, await ovsOf());
    assert.deepEqual(keys(body), [...sim.state.hosts.values()].map((h) => h.hypervisorHostname).sort(), 'keyed by hypervisor hostname');
    for (const [hvName, host] of Object.entries(body)) {
      const s = [...sim.state.hosts.values()].find((h) => h.hypervisorHostname === hvName)!;
      assert.deepEqual(keys(host), HOST_KEYS);
      checkTypes(host as unknown as Record<string, unknown>, HOST_TYPES, hvName);
      assert.ok(Number.isInteger(host.id));
      assert.equal(host.ip, s.hostIp);
      const used = sim.state.usages(s);
      assert.equal(host.cpu_total, s.vcpus);
      assert.equal(host.cpu_used, used.VCPU);
      assert.equal(host.ram_total, s.memoryMb);
      assert.equal(host.ram_used, (used.MEMORY_MB ?? 0) + s.reservedMemoryMb);
      const mine = vms.filter((v) => v.host === s.name);
      assert.equal(host.instances, mine.length);
      assert.deepEqual(keys(host.servers), mine.map((v) => v.id).sort(), 'servers keyed by server uuid');
      for (const v of mine) {
        const srv = host.servers[v.id]!;
        assert.deepEqual(keys(srv), SERVER_KEYS);
        checkTypes(srv as unknown as Record<string, unknown>, SERVER_TYPES, v.id);
        const port = sim.state.ports.get(v.port)!;
        assert.equal(srv.name, sim.state.servers.get(v.id)!.name);
        assert.equal(srv.ip, port.fixedIps[0]!.ip_address);
        assert.equal(srv.neutron_port, v.port);
        assert.equal(srv.ovs_port_id, `qvo${v.port.slice(0, 11)}`);
        assert.deepEqual(srv.qos, { queues: {} }, 'no QoS yet: the original {"queues": {}}');
      }
    }
    // Unique, stable int ids (UUID hypervisor ids at compute ≥ 2.53).
    const ids = Object.values(body).map((h) => h.id);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(renderThesisHosts(snap, () => undefined)[Object.keys(body)[0]!]!.id, ids[0]);
  });

  it('shows a QoS set with Vswitch.apply in both renderings', async () => {
    const target = vms[0]!;
    const portName = `qvo${target.port.slice(0, 11)}`;
    const sw = switches.get(target.host)!;
    const res = await sw.vswitch.apply([
      { port: portName, ifaceId: target.port, qos: { maxRate: 100_000_000, queues: [{ minRate: 50_000_000, maxRate: 100_000_000 }] }, policing: { rateKbps: 20_000, burstKbits: 2_000 } },
    ]);
    assert.equal(res.changed, true);
    const ovs = await ovsOf();
    const view = (await rowsOf())(target.host)!;
    const row = view.portByName(portName)!;
    assert.ok(row.qos);
    const qosRow = view.qos.get(row.qos)!;
    const q0 = qosRow.queues.get(0)!;

    const thesis = renderThesisHosts(snap, ovs);
    const hv = sim.state.hosts.get(target.host)!.hypervisorHostname;
    const srv = thesis[hv]!.servers[target.id]!;
    assert.ok(srv.qos && 'uuid' in srv.qos);
    assert.deepEqual(keys(srv.qos), QOS_KEYS);
    assert.deepEqual(keys(srv.qos.queues), ['0'], 'only queue 0, as in the original');
    const tq = srv.qos.queues['0']!;
    assert.deepEqual(keys(tq), QUEUE_KEYS);
    assert.deepEqual(keys(tq.rates), RATE_KEYS);
    assert.deepEqual(srv.qos, { uuid: qosRow._uuid, queues: { '0': { uuid: q0, rates: { 'max-rate': '100000000', 'min-rate': '50000000' } } } });
    const other = thesis[hv]!.servers[vms[1]!.id]!;
    assert.deepEqual(other.qos, { queues: {} }, 'the other server on the host is untouched');

    const v1 = renderV1Hosts(snap, ovs);
    const host = v1.hosts.find((h) => h.name === target.host)!;
    assert.equal(host.ovsdb, 'ok');
    const port = host.servers.find((s) => s.id === target.id)!.ports[0]!;
    assert.equal(port.id, target.port);
    assert.deepEqual(port.ovs, {
      port_name: portName,
      interface_name: portName,
      ofport: port.ovs?.ofport ?? null,
      download: {
        qos_uuid: qosRow._uuid,
        type: 'linux-htb',
        max_rate_bps: 100_000_000,
        managed_by: 'cm-test',
        queues: [{ number: 0, queue_uuid: q0, min_rate_bps: 50_000_000, max_rate_bps: 100_000_000, burst_bits: null, priority: null }],
      },
      upload: { mechanism: 'policing', rate_kbps: 20_000, burst_kbits: 2_000, managed_by: 'cm-test' },
    });
    const untouched = host.servers.find((s) => s.id === vms[1]!.id)!.ports[0]!;
    assert.equal(untouched.ovs?.download, null);
    assert.equal(untouched.ovs.upload, null);
  });

  it('names each host\'s owning replica in /v1/hosts when several agents share the hosts', async () => {
    const ovs = await ovsOf();
    const single = renderV1Hosts(snap, ovs);
    assert.deepEqual(single.hosts.map((h) => h.owner_agent), [null, null]);
    // This replica (agent-a) owns compute1 and has its rows; compute2 is agent-b's.
    const v1 = renderV1Hosts(snap, (host) => (host === 'compute1' ? ovs(host) : undefined), { self: 'agent-a', ownerOf: (h) => (h === 'compute1' ? 'agent-a' : 'agent-b') });
    assert.deepEqual(v1.hosts.map((h) => [h.name, h.owner_agent, h.ovsdb]), [
      ['compute1', 'agent-a', 'ok'],
      ['compute2', 'agent-b', 'other-replica'],
    ]);
    // Its own host without rows is unavailable, not another replica's.
    const none = renderV1Hosts(snap, () => undefined, { self: 'agent-a', ownerOf: () => 'agent-a' });
    assert.deepEqual(none.hosts.map((h) => h.ovsdb), ['unavailable', 'unavailable']);
  });

  it('shows each host\'s OpenFlow connection and guarantees from the lookups in /v1/hosts, null without them', () => {
    const bare = renderV1Hosts(snap, () => undefined);
    assert.deepEqual(bare.hosts.map((h) => [h.name, h.openflow, h.guarantees]), [
      ['compute1', null, null],
      ['compute2', null, null],
    ]);
    const g: HostGuaranteeView = {
      host: 'compute1',
      uplink: { bps: 10_000_000_000, source: 'config' },
      guaranteedDownloadBps: 300_000_000,
      guaranteedUploadBps: 12_000_000_000,
      overcommitted: 'upload guarantees 12000 Mbit/s exceed the uplink\'s 10000 Mbit/s',
      limiters: 3,
      error: 'meter_mod refused',
    };
    const states = new Map<string, 'connected' | 'disconnected'>([['compute1', 'connected'], ['compute2', 'disconnected']]);
    const v1 = renderV1Hosts(snap, () => undefined, undefined, undefined, {
      openflow: (host) => states.get(host),
      guarantees: (host) => (host === 'compute1' ? g : host === 'compute2' ? { ...g, host, uplink: null, overcommitted: null, limiters: 0, error: null } : undefined),
    });
    assert.deepEqual(v1.hosts.map((h) => [h.name, h.openflow]), [
      ['compute1', 'connected'],
      ['compute2', 'disconnected'],
    ]);
    assert.deepEqual(v1.hosts[0]?.guarantees, {
      uplink_bps: 10_000_000_000,
      guaranteed_download_bps: 300_000_000,
      guaranteed_upload_bps: 12_000_000_000,
      overcommitted: g.overcommitted,
      limiters: 3,
      error: 'meter_mod refused',
    });
    assert.deepEqual(v1.hosts[1]?.guarantees, {
      uplink_bps: null,
      guaranteed_download_bps: 300_000_000,
      guaranteed_upload_bps: 12_000_000_000,
      overcommitted: null,
      limiters: 0,
      error: null,
    });
    // No OpenFlow endpoint (lookup undefined) and a host the controller does not know: null.
    const partial = renderV1Hosts(snap, () => undefined, undefined, undefined, { openflow: () => undefined, guarantees: (host) => (host === 'compute1' ? g : undefined) });
    assert.deepEqual(partial.hosts.map((h) => [h.openflow, h.guarantees === null]), [
      [null, false],
      [null, true],
    ]);
    // Another replica's host: its OpenFlow connection is that replica's to tell.
    const shared = renderV1Hosts(snap, () => undefined, { self: 'agent-a', ownerOf: (h) => (h === 'compute1' ? 'agent-a' : 'agent-b') }, undefined, {
      openflow: () => 'connected',
    });
    assert.deepEqual(shared.hosts.map((h) => [h.name, h.openflow]), [
      ['compute1', 'connected'],
      ['compute2', null],
    ]);
  });

  it('renders /v1/hosts with capacity, state, az, every server and port', async () => {
    const v1 = renderV1Hosts(snap, await ovsOf());
    assert.equal(v1.capacity_source, 'placement');
    assert.equal(v1.stale, false);
    assert.equal(v1.last_error, null);
    assert.equal(v1.refreshed_at, snap.refreshedAt);
    assert.deepEqual(v1.unplaced_servers, []);
    assert.deepEqual(v1.hosts.map((h) => h.name), ['compute1', 'compute2']);
    for (const h of v1.hosts) {
      const s = sim.state.hosts.get(h.name)!;
      assert.deepEqual(keys(h), ['availability_zone', 'disabled_reason', 'guarantees', 'host_ip', 'hypervisor_hostname', 'hypervisor_id', 'instances', 'name', 'openflow', 'ovsdb', 'owner_agent', 'resource_provider_uuid', 'resources', 'servers', 'state', 'status', 'warnings']);
      assert.equal(h.state, 'up');
      assert.equal(h.status, 'enabled');
      assert.equal(h.availability_zone, s.az);
      assert.equal(h.resources.VCPU?.capacity, Math.floor((s.vcpus - s.reservedVcpus) * s.cpuRatio));
      assert.equal(h.resources.MEMORY_MB?.used, sim.state.usages(s).MEMORY_MB);
      assert.deepEqual(keys(h.resources.DISK_GB), ['allocation_ratio', 'capacity', 'free', 'max_unit', 'reserved', 'total', 'used']);
      for (const srv of h.servers) {
        assert.equal(srv.host, h.name);
        assert.equal(srv.flavor?.name, 'm1.mini');
        assert.equal(srv.ports.length, sim.state.servers.get(srv.id)!.portIds.length);
        for (const p of srv.ports) {
          assert.equal(p.binding_host, h.name);
          assert.match(p.ovs?.port_name ?? '', /^qvo/);
        }
      }
    }
    const none = renderV1Hosts(snap, () => undefined);
    assert.ok(none.hosts.every((h) => h.ovsdb === 'unavailable' && h.servers.every((s) => s.ports.every((p) => p.ovs === null))));
  });

  it('keeps the original null quirks and marks stale data', () => {
    const h = snap.hosts[0]!;
    const lonely = { ...snap.servers[0]!, id: 'no-port', ports: [] };
    const s2: InventorySnapshot = {
      ...snap,
      servers: [...snap.servers, lonely],
      hosts: [{ ...h, serverIds: [...h.serverIds, 'no-port'] }, ...snap.hosts.slice(1)],
      stale: true,
      lastError: { name: 'OpenStackApiError', code: 'CM_ERR_OPENSTACK_UNAVAILABLE', message: 'compute 503', at: snap.refreshedAt },
    };
    const t = renderThesisHosts(s2, () => undefined);
    assert.deepEqual(t[h.hypervisorHostname]!.servers['no-port'], { name: lonely.name, ip: null, neutron_port: null, ovs_port_id: null, qos: null });
    const v1 = renderV1Hosts(s2, () => undefined);
    assert.equal(v1.stale, true);
    assert.equal(v1.last_error?.code, 'CM_ERR_OPENSTACK_UNAVAILABLE');
  });
});

describe('thesisHostIds', () => {
  const host = (id: string | number, hv: string): HostInventory => ({
    name: hv, hypervisorHostname: hv, hypervisorId: id, hostIp: undefined, state: 'up', status: 'enabled', disabledReason: null,
    availabilityZone: undefined, resourceProviderUuid: undefined, resources: {}, instances: 0, serverIds: [], warnings: [],
  });

  it('uses integer ids as they are and derives stable unique ints from UUIDs', () => {
    assert.deepEqual([...thesisHostIds([host(7, 'a'), host('12', 'b')])], [['a', 7], ['b', 12]]);
    const u = '0000002a-1111-2222-3333-444444444444';
    const ids = thesisHostIds([host(u, 'x'), host('0000002a-ffff-2222-3333-444444444444', 'y')]);
    assert.equal(ids.get('x'), 42);
    assert.equal(ids.get('y'), 43, 'a collision moves to the next free int');
    assert.equal(thesisHostIds([host(u, 'x')]).get('x'), 42, 'same UUID, same id');
  });
});
