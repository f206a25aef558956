/**
 * cm-agent in-process against the real Zed cloud and the real switches of its
 * two hosts: what it reports agrees with Nova and Placement, an SLA becomes
 * QoS/Queue rows in that host's OVSDB and HTB classes on the server's `tap…`
 * device in the host's namespace, upload policing lands on the Interface, and
 * deleting the server through Nova leaves no row of ours.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { ThesisHosts, V1Hosts } from '../../src/agent/hosts-view.ts';
import type { RunningAgent } from '../../src/agent/main.ts';
import type { OpenStack } from '../../src/openstack/index.ts';
import { parsePoliceText } from '../harness/vswitch-host.ts';
import {
  bootPinned,
  closeHostSwitches,
  cloudIds,
  eventually,
  freshView,
  HOST_NETNS,
  kernelHasTcPolice,
  nsExec,
  openHostSwitches,
  openReal,
  ownedRows,
  PREFIX,
  realSkip,
  record,
  removeLeftovers,
  startRealAgent,
  tcClasses,
  waitServerGone,
  type HostSwitch,
  type RealHost,
} from './cloud.ts';
import { cleanUpUnderAgent } from './leftovers.ts';

const TOKEN = 'real-agent-token-0123456789abcdef';
const OWNER = 'cm-agent-real';

describe('cm-agent against the real Zed cloud and its hosts’ switches', { skip: realSkip }, () => {
  let os: OpenStack;
  let agent: RunningAgent;
  let switches: Map<RealHost, HostSwitch>;
  const servers = new Map<RealHost, { id: string; portId: string; dev: string; ip: string }>();

  // eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the body type it expects
  const api = async <T,>(method: string, path: string, body?: unknown): Promise<{ status: number; json: T }> => {
    const response = await fetch(`${agent.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    return { status: response.status, json: (text ? JSON.parse(text) : undefined) as T };
  };

  before(async () => {
    os = openReal();
    await removeLeftovers(os);
    const ids = await cloudIds(os, { flavor: 'm1.tiny', network: 'private' });
    for (const host of ['compute1', 'compute2'] as const) servers.set(host, await bootPinned(os, `agent-${host}`, host, ids));
    agent = await startRealAgent(TOKEN, OWNER);
    switches = await openHostSwitches();
  });

  // The servers and SLAs go while the agent still runs, which removes its rows; then it stops (issue 16).
  after(async () => {
    try {
      await cleanUpUnderAgent({
        os,
        agent,
        owner: OWNER,
        serverIds: [...servers.values()].map((s) => s.id),
        serverNamePrefix: `${PREFIX}-agent-`,
        deleteSla: (id) => api('DELETE', `/v1/servers/${id}/sla`),
      });
    } finally {
      if ((switches as typeof switches | undefined) !== undefined) closeHostSwitches(switches);
      await (os as OpenStack | undefined)?.close();
    }
  });

  it('GET /v1/hosts agrees with Nova (hypervisors, services, servers, ports) and Placement (capacity)', async () => {
    await agent.inventory.refresh();
    const { status, json } = await api<V1Hosts>('GET', '/v1/hosts');
    assert.equal(status, 200);
    assert.equal(json.capacity_source, 'placement');
    assert.equal(json.compute_microversion, '2.88');
    assert.equal(json.stale, false);
    assert.deepEqual(json.warnings, []);
    const hypervisors = await os.nova.listHypervisors({ detail: true });
    const providers = await os.placement.listResourceProviders();
    const novaServers = await os.nova.listServers({ allTenants: true });
    assert.deepEqual(json.hosts.map((h) => h.name).sort(), ['compute1', 'compute2']);
    for (const h of json.hosts) {
      const hv = hypervisors.find((x) => x.hypervisorHostname === h.hypervisor_hostname);
      assert.ok(hv);
      assert.equal(h.hypervisor_id, hv.id);
      assert.equal(h.host_ip, hv.hostIp ?? null);
      assert.equal(`${h.state}/${h.status}`, `${hv.state}/${hv.status}`);
      assert.equal(h.availability_zone, 'nova');
      assert.equal(h.ovsdb, 'ok');
      assert.deepEqual(h.warnings, []);
      const rp = providers.find((p) => p.name === h.hypervisor_hostname);
      assert.equal(h.resource_provider_uuid, rp?.uuid);
      const cap = await os.placement.capacity(rp?.uuid ?? '');
      for (const rc of ['VCPU', 'MEMORY_MB', 'DISK_GB'] as const) {
        const c = cap[rc];
        assert.ok(c);
        assert.deepEqual(h.resources[rc], { total: c.total, reserved: c.reserved, allocation_ratio: c.allocationRatio, used: c.used, capacity: c.capacity, free: c.free, max_unit: c.maxUnit }, `${h.name} ${rc} = Placement's`);
      }
      const onHost = novaServers.filter((s) => s.host === h.name);
      assert.equal(h.instances, onHost.length);
      assert.deepEqual(h.servers.map((s) => s.id).sort(), onHost.map((s) => s.id).sort());
      const ours = servers.get(h.name as RealHost);
      const s = h.servers.find((x) => x.id === ours?.id);
      assert.ok(s && ours, `our server on ${h.name}`);
      assert.equal(s.host, h.name);
      assert.equal(s.availability_zone, 'nova');
      assert.equal(s.flavor?.name, 'm1.tiny');
      assert.equal(s.ports.length, 1);
      const port = s.ports[0];
      assert.equal(port?.id, ours.portId);
      assert.equal(port.binding_host, h.name);
      assert.equal(port.status, 'ACTIVE');
      assert.equal(port.ovs?.port_name, ours.dev, 'the native plug names the OVS port tap + 11 characters of the port id');
      assert.equal(port.ovs.download, null);
      assert.equal(port.ovs.upload, null);
    }
  });

  it('GET /hosts (thesis shape) gives the same figures, keyed by hypervisor hostname', async () => {
    const { status, json } = await api<ThesisHosts>('GET', '/hosts');
    assert.equal(status, 200);
    assert.deepEqual(Object.keys(json).sort(), ['compute1', 'compute2']);
    const providers = await os.placement.listResourceProviders();
    for (const [name, h] of Object.entries(json)) {
      const rp = providers.find((p) => p.name === name);
      const cap = await os.placement.capacity(rp?.uuid ?? '');
      assert.equal(h.cpu_total, cap.VCPU?.total);
      assert.equal(h.cpu_used, cap.VCPU?.used);
      assert.equal(h.ram_total, cap.MEMORY_MB?.total);
      assert.equal(h.ram_used, (cap.MEMORY_MB?.used ?? 0) + (cap.MEMORY_MB?.reserved ?? 0), 'reserved memory counted as used, as Nova did before 2.88');
      assert.ok(Number.isInteger(h.id));
      const ours = servers.get(name as RealHost);
      const s = h.servers[ours?.id ?? ''];
      assert.ok(s && ours);
      assert.deepEqual({ ip: s.ip, neutron_port: s.neutron_port, ovs_port_id: s.ovs_port_id, qos: s.qos }, { ip: ours.ip, neutron_port: ours.portId, ovs_port_id: ours.dev, qos: { queues: {} } });
    }
  });

  it('an SLA becomes QoS/Queue rows in that host OVSDB and HTB classes on its tap device; upload policing on the Interface', async () => {
    const a = servers.get('compute1');
    assert.ok(a);
    const started = Date.now();
    const put = await api('PUT', `/v1/servers/${a.id}/sla`, { download: { min: '10mbit', max: '40mbit' }, upload: { max: '20mbit' } });
    assert.equal(put.status, 201, JSON.stringify(put.json));
    await eventually('the SLA applied', async () => {
      const sla = await api<{ items: { server_id: string; state: string }[] }>('GET', '/v1/sla');
      return sla.json.items.some((x) => x.server_id === a.id && x.state === 'applied');
    }, 30_000, 100);
    record('agent: SLA PUT → applied on the real OVSDB', Date.now() - started);

    const view = await freshView(switches, 'compute1');
    const found = view.findByIfaceId(a.portId);
    assert.ok(found, 'the port by iface-id');
    assert.equal(found.port.name, a.dev);
    const qos = found.port.qos === undefined ? undefined : view.qos.get(found.port.qos);
    assert.equal(qos?.type, 'linux-htb');
    assert.equal(qos.other_config.get('max-rate'), '40000000');
    assert.equal(qos.external_ids.get('cm-owner'), OWNER);
    const q0 = view.queues.get(qos.queues.get(0) ?? '');
    assert.equal(q0?.other_config.get('min-rate'), '10000000');
    assert.equal(q0.other_config.get('max-rate'), '40000000');
    assert.equal(found.iface.ingress_policing_rate, 20_000, 'upload cap in kbit/s');
    assert.equal(found.iface.ingress_policing_burst, 16_000, 'burst: 80 % of a second at the rate');
    assert.deepEqual(ownedRows(await freshView(switches, 'compute2'), OWNER), { qos: 0, queues: 0 }, 'nothing on the other host');

    await eventually('HTB classes 1:fffe (max) and 1:1 (min/max) on the tap device', async () => {
      const byId = new Map((await tcClasses('compute1', a.dev)).map((c) => [c.classid, c]));
      const root = byId.get('1:fffe');
      const queue = byId.get('1:1');
      return root?.kind === 'htb' && root.rate === 40_000_000 && queue?.rate === 10_000_000 && queue.ceil === 40_000_000;
    }, 20_000);

    const v1 = await api<V1Hosts>('GET', '/v1/hosts');
    const port = v1.json.hosts.find((h) => h.name === 'compute1')?.servers.find((s) => s.id === a.id)?.ports[0];
    assert.equal(port?.ovs?.download?.max_rate_bps, 40_000_000);
    assert.deepEqual(port.ovs.upload, { mechanism: 'policing', rate_kbps: 20_000, burst_kbits: 16_000, managed_by: OWNER });
  });

  it('the upload cap is a tc policer on the tap device (where the kernel can police)', async (t) => {
    if (!(await kernelHasTcPolice())) {
      t.skip('this kernel has neither cls_matchall nor cls_basic with act_police: ovs-vswitchd cannot install the policer, so only the Interface columns (checked above) can be asserted');
      return;
    }
    const a = servers.get('compute1');
    assert.ok(a);
    const police = await eventually('the ingress policer', async () => parsePoliceText(await nsExec(HOST_NETNS.compute1, 'tc', 'filter', 'show', 'dev', a.dev, 'ingress')), 20_000);
    assert.equal(police.rate, 20_000_000);
  });

  it('deleting the servers through Nova leaves no QoS, Queue or policing of ours on either host', async () => {
    const b = servers.get('compute2');
    assert.ok(b);
    const put = await api('PUT', `/v1/servers/${b.id}/sla`, { download: { min: '5mbit', max: '25mbit' } });
    assert.equal(put.status, 201);
    await eventually('compute2 rows', async () => {
      const rows = ownedRows(await freshView(switches, 'compute2'), OWNER);
      return rows.qos === 1 && rows.queues === 1;
    });
    for (const [host, s] of servers) {
      await os.nova.deleteServer(s.id);
      await waitServerGone(os, s.id);
      await eventually(`the OVS port of ${s.id} gone from ${host}`, async () => (await freshView(switches, host)).findByIfaceId(s.portId) === undefined);
    }
    servers.clear();
    await agent.inventory.refresh();
    for (const host of ['compute1', 'compute2'] as const) {
      await eventually(`no rows of ours on ${host}`, async () => {
        const rows = ownedRows(await freshView(switches, host), OWNER);
        return rows.qos === 0 && rows.queues === 0;
      }, 30_000);
      const view = await freshView(switches, host);
      for (const iface of view.interfaces.values()) {
        assert.equal(iface.external_ids.get('cm-policing-owner'), undefined, `${iface.name} keeps no policing mark of ours`);
      }
    }
  });
});
