/**
 * The per-host reconciler against a real ovsdb-server and the in-process
 * server: apply/idempotence, ports appearing (latency), VM deletion, desire
 * removal, migration between two hosts, drift repair and fighting writers,
 * foreign QoS isolation, restarts, 1000 create/delete cycles without leaks,
 * and (real ovs-vswitchd) the HTB classes in the kernel.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { StartGate } from '../../src/agent/fleet.ts';
import { HostReconciler, type HostReconcilerOptions } from '../../src/agent/reconciler.ts';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { namedUuid } from '../../src/ovsdb/datum.ts';
import { byUuid, eq, insert, update } from '../../src/ovsdb/operations.ts';
import { TAG_IFACE_ID, TAG_OWNER, TAG_POLICING_OWNER, TAG_PORT } from '../../src/ovsdb/vswitch/index.ts';
import { realOvsAvailable, startOvsdbServer } from '../harness/ovsdb-server.ts';
import { startStreamProxy } from '../harness/stream-proxy.ts';
import { startVswitchHost } from '../harness/vswitch-host.ts';
import { serverTargets } from '../ovsdb/targets.ts';
import {
  DB,
  MutableSource,
  addPorts,
  deletePorts,
  leakReport,
  maxRateOf,
  neutronId,
  portName,
  qosOfPort,
  readTables,
  setQosMaxRate,
  sla,
  waitFor,
} from './reconciler-helpers.ts';

const OWNER = 'test-agent';
const latencies: number[] = [];

type Opts = Partial<HostReconcilerOptions> & { endpoint: string; source: MutableSource };

function reconciler(o: Opts): { r: HostReconciler; events: object[] } {
  const events: object[] = [];
  const r = new HostReconciler({
    host: 'compute-1',
    owner: OWNER,
    resyncIntervalMs: 60_000,
    debounceMs: 5,
    ioTimeoutMs: 5000,
    reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    logger: (e) => events.push(e),
    ...o,
  });
  return { r, events };
}

function stateOf(r: HostReconciler, portId: string): string | undefined {
  return r.status().find((s) => s.portId === portId)?.state;
}

after(() => {
  if (latencies.length > 0) {
    const sorted = [...latencies].sort((a, b) => a - b);
    console.log(`port-appears→applied latency ms: ${sorted.map((l) => l.toFixed(1)).join(', ')}`);
  }
});

for (const target of serverTargets()) {
  describe(`HostReconciler (${target.name})`, { skip: target.skip }, () => {
    /** A fresh database, an admin client, and cleanup of everything the test started. */
    async function env(): Promise<{
      endpoint: string;
      admin: OvsdbClient;
      source: MutableSource;
      cleanup: (...rs: HostReconciler[]) => Promise<void>;
    }> {
      const server = await target.start();
      const admin = await OvsdbClient.connect({ endpoint: server.endpoint });
      return {
        endpoint: server.endpoint,
        admin,
        source: new MutableSource(),
        cleanup: async (...rs) => {
          for (const r of rs) await r.stop();
          admin.close();
          await server.stop();
        },
      };
    }

    it('applies desired SLAs to existing ports (qvo and tap, multi-NIC), tagged; a second pass sends nothing', async () => {
      const e = await env();
      const a = neutronId(1);
      const b = neutronId(2);
      const other = neutronId(3); // desired, but on another host
      await addPorts(e.admin, [
        { name: portName(a), ifaceId: a },
        { name: portName(b, 'tap'), ifaceId: b },
      ]);
      e.source.set(a, sla(10), 'server-1');
      e.source.set(b, sla(20), 'server-1');
      e.source.set(other, sla(30), 'server-9');
      const { r } = reconciler({ endpoint: e.endpoint, source: e.source });
      try {
        await r.start();
        assert.equal(r.metrics.connected, true);
        const status = r.status().sort((x, y) => x.portId.localeCompare(y.portId));
        assert.deepEqual(
          status.map((s) => [s.portId, s.serverId, s.host, s.state, s.ovsPort]),
          [
            [a, 'server-1', 'compute-1', 'applied', portName(a)],
            [b, 'server-1', 'compute-1', 'applied', portName(b, 'tap')],
          ],
        );
        const t = await readTables(e.admin);
        assert.equal(t.qos.length, 2);
        assert.equal(t.queues.length, 2);
        const qa = qosOfPort(t, portName(a));
        assert.equal(maxRateOf(qa), '10000000');
        assert.equal(maxRateOf(qosOfPort(t, portName(b, 'tap'))), '20000000');
        const tags = qa?.external_ids as ReadonlyMap<string, string>;
        assert.equal(tags.get(TAG_OWNER), OWNER);
        assert.equal(tags.get(TAG_PORT), portName(a));
        assert.equal(tags.get(TAG_IFACE_ID), a);
        const ia = t.interfaces.find((i) => i.name === portName(a));
        assert.equal(ia?.ingress_policing_rate, 5000);
        assert.equal(ia.ingress_policing_burst, 4000);
        assert.equal((ia.external_ids as ReadonlyMap<string, string>).get(TAG_POLICING_OWNER), OWNER);
        assert.equal(r.metrics.transactions, 1);
        // Idempotent: more passes (explicit and a full resync) send nothing, and restate the same states
        // without moving the status version (which decides what a replica republishes).
        const passes = r.metrics.passes;
        const version = r.statusVersion;
        r.enqueue();
        await r.whenIdle();
        r.enqueue();
        await r.whenIdle();
        assert.ok(r.metrics.passes > passes);
        assert.equal(r.metrics.transactions, 1);
        assert.equal(r.statusVersion, version);
        assert.equal(r.metrics.driftDetected, 0);
        assert.deepEqual(leakReport(await readTables(e.admin), OWNER), {
          unreferencedQos: 0,
          unreferencedQueues: 0,
          ownedRows: 4,
          ownedPolicing: 2,
        });
      } finally {
        await e.cleanup(r);
      }
    });

    it('applies the SLA of a port that appears later within 1 s (boot, hard reboot)', async () => {
      const e = await env();
      const { r } = reconciler({ endpoint: e.endpoint, source: e.source });
      try {
        await r.start();
        for (let i = 0; i < 3; i++) {
          const id = neutronId(10 + i);
          e.source.set(id, sla(10 + i));
          r.enqueue();
          await r.whenIdle();
          assert.equal(stateOf(r, id), undefined, 'not on this host yet');
          const t0 = performance.now();
          await addPorts(e.admin, [{ name: portName(id), ifaceId: id }]);
          await waitFor('applied', () => stateOf(r, id) === 'applied', 2000);
          const latency = performance.now() - t0;
          latencies.push(latency);
          assert.ok(latency < 1000, `latency ${latency.toFixed(1)} ms`);
          assert.equal(maxRateOf(qosOfPort(await readTables(e.admin), portName(id))), String((10 + i) * 1_000_000));
        }
        // Hard reboot: the port is unplugged and plugged again (new Port row, same iface-id).
        const id = neutronId(10);
        await deletePorts(e.admin, [portName(id)]);
        await waitFor('gone from status', () => stateOf(r, id) === undefined);
        const t0 = performance.now();
        await addPorts(e.admin, [{ name: portName(id), ifaceId: id }]);
        await waitFor('re-applied', async () => maxRateOf(qosOfPort(await readTables(e.admin), portName(id))) === '10000000', 2000);
        latencies.push(performance.now() - t0);
        assert.ok(performance.now() - t0 < 1000);
        await r.whenIdle();
        const leaks = leakReport(await readTables(e.admin), OWNER);
        assert.equal(leaks.unreferencedQos + leaks.unreferencedQueues, 0);
        assert.equal(r.metrics.driftDetected, 0, 'a re-plugged port is not drift');
      } finally {
        await e.cleanup(r);
      }
    });

    it('deletes the rows when the VM is deleted (port gone) and when the desire is removed', async () => {
      const e = await env();
      const a = neutronId(20);
      const b = neutronId(21);
      await addPorts(e.admin, [
        { name: portName(a), ifaceId: a },
        { name: portName(b), ifaceId: b },
      ]);
      e.source.set(a, sla(10));
      e.source.set(b, sla(10));
      const { r } = reconciler({ endpoint: e.endpoint, source: e.source });
      try {
        await r.start();
        assert.equal((await readTables(e.admin)).qos.length, 2);
        // VM a deleted: the port vanishes, its QoS/Queue would leak.
        await deletePorts(e.admin, [portName(a)]);
        await waitFor('orphans of a deleted', async () => (await readTables(e.admin)).qos.length === 1);
        assert.ok(r.metrics.orphansDeleted >= 2);
        // Desire of b removed: QoS, Queue and policing go.
        const version = r.statusVersion;
        e.source.delete(b);
        r.enqueue();
        await r.whenIdle();
        assert.ok(r.statusVersion > version, 'a port leaving the status moves its version');
        const t = await readTables(e.admin);
        assert.equal(t.qos.length, 0);
        assert.equal(t.queues.length, 0);
        const ib = t.interfaces.find((i) => i.name === portName(b));
        assert.equal(ib?.ingress_policing_rate, 0);
        assert.deepEqual(leakReport(t, OWNER), { unreferencedQos: 0, unreferencedQueues: 0, ownedRows: 0, ownedPolicing: 0 });
        assert.deepEqual(r.status(), []);
      } finally {
        await e.cleanup(r);
      }
    });

    it('a restarted agent removes rows whose desire disappeared while it was down', async () => {
      const e = await env();
      const a = neutronId(25);
      await addPorts(e.admin, [{ name: portName(a), ifaceId: a }]);
      e.source.set(a, sla(10));
      const first = reconciler({ endpoint: e.endpoint, source: e.source });
      await first.r.start();
      await first.r.stop();
      // A restarted agent whose desired state no longer has the port removes what the old one set.
      const events: object[] = [];
      const empty = new MutableSource();
      const { r } = reconciler({ endpoint: e.endpoint, source: empty, logger: (x) => events.push(x) });
      try {
        await r.start();
        assert.ok(events.some((x) => (x as { event?: string }).event === 'removed'));
        assert.deepEqual(r.status(), []);
        assert.deepEqual(leakReport(await readTables(e.admin), OWNER).ownedRows, 0);
      } finally {
        await e.cleanup(r);
      }
    });

    it('repairs drift made by another writer and reports a writer that keeps rewriting our rows', async () => {
      const e = await env();
      const a = neutronId(30);
      const b = neutronId(31);
      await addPorts(e.admin, [
        { name: portName(a), ifaceId: a },
        { name: portName(b), ifaceId: b },
      ]);
      e.source.set(a, sla(10));
      e.source.set(b, sla(20));
      const { r, events } = reconciler({ endpoint: e.endpoint, source: e.source, resyncIntervalMs: 400 });
      try {
        await r.start();
        // 1. someone edits our QoS max-rate → repaired.
        let t = await readTables(e.admin);
        await setQosMaxRate(e.admin, qosOfPort(t, portName(a))?._uuid as string, '1');
        await waitFor('max-rate repaired', async () => maxRateOf(qosOfPort(await readTables(e.admin), portName(a))) === '10000000');
        await waitFor('repair counted', () => r.metrics.repairs === 1);
        assert.equal(r.metrics.driftDetected, 1);
        assert.ok(events.some((x) => (x as { event?: string; detail?: string }).detail?.includes('QoS max-rate 1 ≠ 10000000')));
        // 2. someone clears Port.qos of b → repaired, the old row does not leak.
        t = await readTables(e.admin);
        const pb = t.ports.find((p) => p.name === portName(b));
        await e.admin.transact(DB, [update('Port', byUuid(pb?._uuid as string), { qos: [] })]);
        await waitFor('Port.qos restored', async () => maxRateOf(qosOfPort(await readTables(e.admin), portName(b))) === '20000000');
        await waitFor('repair counted', () => r.metrics.repairs === 2);
        await r.whenIdle();
        assert.deepEqual(leakReport(await readTables(e.admin), OWNER), {
          unreferencedQos: 0,
          unreferencedQueues: 0,
          ownedRows: 4,
          ownedPolicing: 2,
        });
        // 3. someone rewrites the policing of a.
        const ia = (await readTables(e.admin)).interfaces.find((i) => i.name === portName(a));
        await e.admin.transact(DB, [update('Interface', byUuid(ia?._uuid as string), { ingress_policing_rate: 1 })]);
        await waitFor('policing repaired', async () =>
          (await readTables(e.admin)).interfaces.some((i) => i.name === portName(a) && i.ingress_policing_rate === 5000),
        );
        // a drifted twice now; a third rewrite → 'error' with the reason instead of silent fighting.
        await waitFor('a applied', () => stateOf(r, a) === 'applied');
        t = await readTables(e.admin);
        await setQosMaxRate(e.admin, qosOfPort(t, portName(a))?._uuid as string, '2');
        await waitFor('fight reported', () => stateOf(r, a) === 'error');
        const st = r.status().find((s) => s.portId === a);
        assert.match(st?.reason ?? '', /^rows rewritten by another writer: QoS max-rate 2 ≠ 10000000/);
        assert.match(st?.reason ?? '', /writer: unknown \(no known signature on the rows\); to stop it: /);
        assert.equal(st?.contestedBy, 'unknown');
        assert.equal(r.metrics.foreignWrites.get('unknown'), 4);
        assert.equal(stateOf(r, b), 'applied', 'other ports unaffected');
        // The periodic resync still repairs it (once per resync, not at event speed).
        await waitFor('repaired on resync', async () => maxRateOf(qosOfPort(await readTables(e.admin), portName(a))) === '10000000', 3000);
        assert.equal(r.metrics.driftDetected, 4);
      } finally {
        await e.cleanup(r);
      }
    });

    it('a port with a foreign QoS is in error, the others are applied', async () => {
      const e = await env();
      const ids = [neutronId(40), neutronId(41), neutronId(42)];
      await addPorts(
        e.admin,
        ids.map((id) => ({ name: portName(id), ifaceId: id })),
      );
      // Neutron's QoS on the middle port.
      await e.admin.transact(DB, [
        insert('QoS', { type: 'linux-htb', external_ids: { _type: 'bandwidth_limit' } }, { uuidName: 'fq' }),
        update('Port', [eq('name', portName(ids[1] ?? ''))], { qos: namedUuid('fq') }),
      ]);
      for (const id of ids) e.source.set(id, sla(10));
      const { r } = reconciler({ endpoint: e.endpoint, source: e.source });
      try {
        await r.start();
        assert.equal(stateOf(r, ids[0] ?? ''), 'applied');
        assert.equal(stateOf(r, ids[2] ?? ''), 'applied');
        const bad = r.status().find((s) => s.portId === ids[1]);
        assert.equal(bad?.state, 'error');
        assert.match(bad.reason ?? '', /CM_ERR_FOREIGN_QOS/);
        assert.equal(bad.contestedBy, 'neutron-openvswitch-agent', 'the writer is named by its external_ids signature');
        assert.equal(r.metrics.foreignWrites.size, 0, 'a QoS that was there before us is not a rewrite');
        const t = await readTables(e.admin);
        assert.equal(t.qos.length, 3);
        const foreign = qosOfPort(t, portName(ids[1] ?? ''));
        assert.equal((foreign?.external_ids as ReadonlyMap<string, string>).get('_type'), 'bandwidth_limit');
        // Removing the desire of the foreign port leaves the foreign QoS but clears our policing.
        e.source.delete(ids[1] ?? '');
        r.enqueue();
        await r.whenIdle();
        const t2 = await readTables(e.admin);
        assert.equal(t2.qos.length, 3);
        assert.equal(t2.interfaces.find((i) => i.name === portName(ids[1] ?? ''))?.ingress_policing_rate, 0);
        assert.equal(stateOf(r, ids[1] ?? ''), undefined);
      } finally {
        await e.cleanup(r);
      }
    });

    it("names Neutron's qos extension when it takes over a port we applied, and counts it once", async () => {
      const e = await env();
      const a = neutronId(45);
      await addPorts(e.admin, [{ name: portName(a), ifaceId: a }]);
      e.source.set(a, sla(10));
      const { r, events } = reconciler({ endpoint: e.endpoint, source: e.source, resyncIntervalMs: 300 });
      try {
        await r.start();
        await waitFor('applied', () => stateOf(r, a) === 'applied');
        // What neutron-openvswitch-agent's qos driver writes for a bandwidth_limit (ingress) rule.
        await e.admin.transact(DB, [
          insert('QoS', { type: 'linux-htb', other_config: { 'max-rate': '1000000' }, external_ids: { id: portName(a), _type: 'bandwidth_limit' } }, { uuidName: 'nq' }),
          update('Port', [eq('name', portName(a))], { qos: namedUuid('nq') }),
        ]);
        await waitFor('contested', () => stateOf(r, a) === 'error');
        const st = r.status().find((s) => s.portId === a);
        assert.equal(st?.contestedBy, 'neutron-openvswitch-agent');
        // Several resyncs later it is still one foreign write, not one per pass.
        const passes = r.metrics.passes;
        await waitFor('two more passes', () => r.metrics.passes >= passes + 2, 3000);
        assert.deepEqual([...r.metrics.foreignWrites], [['neutron-openvswitch-agent', 1]]);
        assert.ok(events.some((x) => (x as { event?: string; level?: string }).event === 'foreign-qos' && (x as { level?: string }).level === 'warn'));
        const t = await readTables(e.admin);
        assert.equal((qosOfPort(t, portName(a))?.external_ids as ReadonlyMap<string, string>).get('_type'), 'bandwidth_limit', 'never overwritten');
        // Our own replaced QoS row is not leaked while the port is contested.
        assert.equal(leakReport(t, OWNER).unreferencedQos, 0);
      } finally {
        await e.cleanup(r);
      }
    });

    it('SLA follows a port migrating to another host; the source host is left clean', async () => {
      const ea = await env();
      const eb = await env();
      const source = new MutableSource();
      const id = neutronId(50);
      const stay = neutronId(51);
      await addPorts(ea.admin, [
        { name: portName(id), ifaceId: id },
        { name: portName(stay), ifaceId: stay },
      ]);
      source.set(id, sla(15), 'server-m');
      source.set(stay, sla(5), 'server-s');
      const A = reconciler({ endpoint: ea.endpoint, source, host: 'host-a' }).r;
      const B = reconciler({ endpoint: eb.endpoint, source, host: 'host-b' }).r;
      try {
        await A.start();
        await B.start();
        assert.equal(stateOf(A, id), 'applied');
        assert.deepEqual(B.status(), []);
        // Live migration: the destination plugs the port, then the source unplugs it.
        await addPorts(eb.admin, [{ name: portName(id), ifaceId: id, vmUuid: 'server-m' }]);
        await deletePorts(ea.admin, [portName(id)]);
        await waitFor('applied on B', () => stateOf(B, id) === 'applied');
        await waitFor('A clean', async () => (await readTables(ea.admin)).qos.length === 1);
        await A.whenIdle();
        assert.equal(B.status().find((s) => s.portId === id)?.host, 'host-b');
        assert.equal(maxRateOf(qosOfPort(await readTables(eb.admin), portName(id))), '15000000');
        assert.equal(stateOf(A, id), undefined);
        assert.equal(stateOf(A, stay), 'applied');
        const la = leakReport(await readTables(ea.admin), OWNER);
        assert.deepEqual(la, { unreferencedQos: 0, unreferencedQueues: 0, ownedRows: 2, ownedPolicing: 1 });
      } finally {
        await ea.cleanup(A);
        await eb.cleanup(B);
      }
    });

    it('a new agent with the same owner converges without orphans after the old one stopped mid-way', async () => {
      const e = await env();
      const ids = Array.from({ length: 40 }, (_, i) => neutronId(100 + i));
      await addPorts(
        e.admin,
        ids.map((id) => ({ name: portName(id), ifaceId: id })),
      );
      ids.forEach((id) => { e.source.set(id, sla(10)); });
      const old = reconciler({ endpoint: e.endpoint, source: e.source }).r;
      await old.start();
      // Change everything and stop while the pass is (probably) in flight.
      ids.forEach((id, i) => {
        if (i % 2 === 0) e.source.set(id, sla(30));
        else e.source.delete(id);
      });
      old.enqueue();
      await new Promise((res) => setTimeout(res, 6));
      await old.stop();
      const { r } = reconciler({ endpoint: e.endpoint, source: e.source });
      try {
        await r.start();
        const t = await readTables(e.admin);
        assert.equal(t.qos.length, 20);
        assert.equal(t.queues.length, 20);
        ids.forEach((id, i) => {
          assert.equal(maxRateOf(qosOfPort(t, portName(id))), i % 2 === 0 ? '30000000' : undefined);
        });
        assert.deepEqual(leakReport(t, OWNER), { unreferencedQos: 0, unreferencedQueues: 0, ownedRows: 40, ownedPolicing: 20 });
        assert.equal(r.status().filter((s) => s.state === 'applied').length, 20);
      } finally {
        await e.cleanup(r);
      }
    });

    it('a first sync that times out is tried again: once the switch answers, the SLA is applied', async () => {
      // What an overloaded switch (or agent) does at region scale: the connection opens, get_schema gets no reply in time.
      const e = await env();
      const id = neutronId(200);
      await addPorts(e.admin, [{ name: portName(id), ifaceId: id }]);
      e.source.set(id, sla(10));
      const proxy = await startStreamProxy(e.endpoint);
      proxy.freeze();
      const { r, events } = reconciler({ endpoint: proxy.endpoint, source: e.source, ioTimeoutMs: 300, retryInitialMs: 50 });
      try {
        const started = r.start();
        await waitFor('a failed first sync', () => events.some((ev) => (ev as { event?: string }).event === 'replica-start-failed'));
        proxy.thaw();
        await started;
        await waitFor('the SLA on the switch', async () => maxRateOf(qosOfPort(await readTables(e.admin), portName(id))) === '10000000');
        assert.equal(stateOf(r, id), 'applied');
      } finally {
        await e.cleanup(r);
        await proxy.close();
      }
    });

    it('a start gate of one place: a second host waits for it; a host whose first sync fails gives it back and retries without it', async () => {
      const e = await env();
      const id = neutronId(201);
      await addPorts(e.admin, [{ name: portName(id), ifaceId: id }]);
      e.source.set(id, sla(12));
      const proxy = await startStreamProxy(e.endpoint);
      proxy.freeze();
      const gate = new StartGate(1);
      const stuck = reconciler({ endpoint: proxy.endpoint, source: new MutableSource(), ioTimeoutMs: 400, retryInitialMs: 50, startGate: (signal) => gate.take(signal) });
      const next = reconciler({ endpoint: e.endpoint, source: e.source, startGate: (signal) => gate.take(signal) });
      try {
        const stuckStarted = stuck.r.start();
        const nextStarted = next.r.start();
        await waitFor('the second host waiting at the gate', () => gate.waiting === 1);
        assert.equal(next.r.metrics.connected, false, 'not even connected while the place is taken');
        assert.ok(!next.events.some((ev) => (ev as { event?: string }).event === 'connected'));
        await waitFor('the stuck host failing its first sync', () => stuck.events.some((ev) => (ev as { event?: string }).event === 'replica-start-failed'));
        // The place went to the waiting host, whose SLA lands while the first one still retries its sync.
        await nextStarted;
        assert.equal(maxRateOf(qosOfPort(await readTables(e.admin), portName(id))), '12000000');
        assert.equal(gate.waiting, 0);
        proxy.thaw();
        await stuckStarted;
      } finally {
        await e.cleanup(stuck.r, next.r);
        await proxy.close();
      }
    });

    it('1000 create/delete cycles (100 ports × 10 rounds, then 200 coalesced toggles) leave no rows', async () => {
      const e = await env();
      const ids = Array.from({ length: 100 }, (_, i) => neutronId(1000 + i));
      await addPorts(
        e.admin,
        ids.map((id) => ({ name: portName(id), ifaceId: id })),
      );
      const { r } = reconciler({ endpoint: e.endpoint, source: e.source });
      try {
        await r.start();
        for (let round = 0; round < 10; round++) {
          ids.forEach((id) => { e.source.set(id, sla(1 + round)); });
          r.enqueue();
          await r.whenIdle();
          assert.equal(r.status().filter((s) => s.state === 'applied').length, 100, `round ${String(round)} applied`);
          ids.forEach((id) => { e.source.delete(id); });
          r.enqueue();
          await r.whenIdle();
          assert.equal(r.status().length, 0);
        }
        const id = ids[0] ?? '';
        const tx = r.metrics.transactions;
        for (let i = 0; i < 200; i++) {
          if (i % 2 === 0) e.source.set(id, sla(1 + (i % 7)));
          else e.source.delete(id);
          r.enqueue();
          if (i % 50 === 0) await new Promise((res) => setImmediate(res));
        }
        await r.whenIdle();
        assert.ok(r.metrics.transactions - tx < 50, `coalesced: ${String(r.metrics.transactions - tx)} transactions`);
        const t = await readTables(e.admin);
        assert.equal(t.qos.length, 0);
        assert.equal(t.queues.length, 0);
        assert.deepEqual(leakReport(t, OWNER), { unreferencedQos: 0, unreferencedQueues: 0, ownedRows: 0, ownedPolicing: 0 });
        assert.equal(r.metrics.errors, 0);
      } finally {
        await e.cleanup(r);
      }
    });
  });
}

const realServer = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl']);

describe('HostReconciler: ovsdb-server killed and restarted (real server)', { skip: realServer.skip }, () => {
  it('reports error while down, reconnects, and applies what changed meanwhile', async () => {
    const server = await startOvsdbServer({ init: true });
    const admin = await OvsdbClient.connect({ endpoint: server.unixEndpoint, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
    const source = new MutableSource();
    const id = neutronId(60);
    await addPorts(admin, [{ name: portName(id), ifaceId: id }]);
    source.set(id, sla(10));
    const { r } = reconciler({ endpoint: server.unixEndpoint, source });
    try {
      await r.start();
      assert.equal(stateOf(r, id), 'applied');
      await server.kill();
      await waitFor('disconnected', () => !r.metrics.connected);
      assert.equal(stateOf(r, id), 'error');
      source.set(id, sla(25));
      r.enqueue();
      await r.whenIdle();
      await server.start();
      await waitFor('reconnected and applied', () => r.metrics.connected && stateOf(r, id) === 'applied', 10_000);
      await waitFor('admin reconnected', () => admin.isConnected, 5000);
      const t = await readTables(admin);
      assert.equal(maxRateOf(qosOfPort(t, portName(id))), '25000000');
      assert.deepEqual(leakReport(t, OWNER), { unreferencedQos: 0, unreferencedQueues: 0, ownedRows: 2, ownedPolicing: 1 });
    } finally {
      await r.stop();
      admin.close();
      await server.stop();
    }
  });
});

const realSwitch = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl', 'ovs-vswitchd', 'ip', 'tc']);
const notRoot = process.getuid?.() === 0 ? false : 'needs root';

describe('HostReconciler with a real ovs-vswitchd', { skip: realSwitch.skip || notRoot }, () => {
  it('desired SLA → HTB classes 1:fffe and 1:1 in the kernel; removal → none', async () => {
    const host = await startVswitchHost();
    const source = new MutableSource();
    const id = neutronId(70);
    const dev = portName(id);
    const { r } = reconciler({ endpoint: host.ovsdb.unixEndpoint, source });
    try {
      await host.addVethPort(dev, { ifaceId: id });
      source.set(id, { download: { maxRate: 20_000_000, minRate: 5_000_000 } });
      await r.start();
      assert.equal(stateOf(r, id), 'applied');
      let classes = await host.tcClasses(dev);
      await waitFor(
        'tc classes',
        async () => {
          classes = await host.tcClasses(dev);
          return classes.some((c) => c.classid === '1:1');
        },
        10_000,
      );
      const byId = new Map(classes.map((c) => [c.classid, c]));
      assert.equal(byId.get('1:fffe')?.rate, 20_000_000);
      assert.equal(byId.get('1:1')?.rate, 5_000_000);
      assert.equal(byId.get('1:1')?.ceil, 20_000_000);
      source.delete(id);
      r.enqueue();
      await r.whenIdle();
      await waitFor('no classes', async () => (await host.tcClasses(dev)).length === 0, 10_000);
    } finally {
      await r.stop();
      await host.stop();
    }
  });
});
