/**
 * Fencing between agent replicas on a real ovsdb-server (and the in-process
 * server): the epoch guard makes the switch refuse a replica that lost the
 * host, even one that still believes it owns it (the moment after a pause,
 * before its own clock tells it so); claims are compare-and-set; a live
 * holder is given time to let go.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EPOCH_KEY, FencedError, HostFence, type FenceIdentity, type FenceMembership } from '../../src/agent/cluster/fence.ts';
import { HostReconciler } from '../../src/agent/reconciler.ts';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { WaitTimedOutError } from '../../src/ovsdb/errors.ts';
import { comment, insert, select } from '../../src/ovsdb/operations.ts';
import { serverTargets } from '../ovsdb/targets.ts';
import { DB, MutableSource, addPorts, maxRateOf, neutronId, portName, qosOfPort, readTables, sla, waitFor } from './reconciler-helpers.ts';

const OWNER = 'test-agent-cluster';

/** A membership the test steers: who this replica is, whether it thinks its lease is current, who the store says is live. */
class StubMembership implements FenceMembership {
  writableNow = true;
  constructor(
    readonly id: FenceIdentity,
    readonly live: Set<string>,
  ) {}
  identity(): FenceIdentity | undefined {
    return this.writableNow ? this.id : undefined;
  }
  writable(): boolean {
    return this.writableNow;
  }
  isLive(holder: FenceIdentity): boolean {
    return this.live.has(`${String(holder.incarnation)}@${holder.agentId}`);
  }
}

async function epochOf(client: OvsdbClient): Promise<string | undefined> {
  const [r] = await client.transact(DB, [select('Open_vSwitch', [], ['external_ids'])]);
  return (r?.rows?.[0]?.external_ids as ReadonlyMap<string, string> | undefined)?.get(EPOCH_KEY);
}

const handle = (client: OvsdbClient): { client: OvsdbClient; db: string; ioTimeoutMs: number } => ({ client, db: DB, ioTimeoutMs: 5000 });

for (const target of serverTargets()) {
  describe(`host fencing between agent replicas (${target.name})`, { skip: target.skip }, () => {
    it('a claim is compare-and-set, and a guarded transaction of the replica that lost the host commits nothing', async () => {
      const server = await target.start();
      const admin = await OvsdbClient.connect({ endpoint: server.endpoint });
      const signal = new AbortController().signal;
      try {
        const live = new Set(['1@a', '2@b']);
        const a = new HostFence({ host: 'h', membership: new StubMembership({ agentId: 'a', incarnation: 1 }, live), handoverMs: 0 });
        const b = new HostFence({ host: 'h', membership: new StubMembership({ agentId: 'b', incarnation: 2 }, live), handoverMs: 0 });
        assert.throws(() => a.guard(), FencedError);
        assert.equal(await a.ensure(handle(admin), signal), undefined);
        assert.equal(await epochOf(admin), '1@a');
        // a's guard passes while it holds the host.
        await admin.transact(DB, [...a.guard(), comment('a writes')]);

        // Both race for the host: whatever the order, one epoch ends up there and the other claimer is told so.
        const [ra, rb] = await Promise.all([
          new HostFence({ host: 'h', membership: new StubMembership({ agentId: 'c', incarnation: 3 }, live), handoverMs: 0 }).ensure(handle(admin), signal),
          b.ensure(handle(admin), signal),
        ]);
        const winners = [ra, rb].filter((r) => r === undefined).length;
        assert.ok(winners >= 1, `one claim at least wins: ${String(ra)} / ${String(rb)}`);
        const epoch = await epochOf(admin);
        assert.ok(epoch === '3@c' || epoch === '2@b', String(epoch));

        // a still believes it holds the host (paused between its check and its send): the switch refuses all of it.
        const before = (await readTables(admin)).qos.length;
        await assert.rejects(
          admin.transact(DB, [...a.guard(), insert('QoS', { type: 'linux-htb', external_ids: new Map([['cm-owner', OWNER]]) })]),
          WaitTimedOutError,
        );
        assert.equal((await readTables(admin)).qos.length, before, 'nothing of the fenced transaction committed');
      } finally {
        admin.close();
        await server.stop();
      }
    });

    it('a live holder keeps the host for the hand-over time; a holder that is not live loses it at once', async () => {
      const server = await target.start();
      const admin = await OvsdbClient.connect({ endpoint: server.endpoint });
      const signal = new AbortController().signal;
      try {
        const live = new Set(['1@a', '2@b']);
        const a = new HostFence({ host: 'h', membership: new StubMembership({ agentId: 'a', incarnation: 1 }, live), handoverMs: 0 });
        assert.equal(await a.ensure(handle(admin), signal), undefined);
        let clock = 0;
        const b = new HostFence({ host: 'h', membership: new StubMembership({ agentId: 'b', incarnation: 2 }, live), handoverMs: 5000, now: () => clock });
        const refused = await b.ensure(handle(admin), signal);
        assert.match(refused ?? '', /held by live replica a \(epoch 1\); taken over in 5 s/);
        assert.equal(await epochOf(admin), '1@a');
        clock = 5000;
        assert.equal(await b.ensure(handle(admin), signal), undefined);
        assert.equal(await epochOf(admin), '2@b');

        // b dies (not live any more): c claims without waiting.
        live.delete('2@b');
        const c = new HostFence({ host: 'h', membership: new StubMembership({ agentId: 'c', incarnation: 3 }, live), handoverMs: 60_000, now: () => 0 });
        assert.equal(await c.ensure(handle(admin), signal), undefined);
        assert.equal(await epochOf(admin), '3@c');
        // A replica whose own lease is not current claims nothing.
        const stale = new StubMembership({ agentId: 'd', incarnation: 4 }, live);
        stale.writableNow = false;
        assert.match((await new HostFence({ host: 'h', membership: stale, handoverMs: 0 }).ensure(handle(admin), signal)) ?? '', /lease is not current/);
        assert.equal(await epochOf(admin), '3@c');
      } finally {
        admin.close();
        await server.stop();
      }
    });

    it('a holder that sees another epoch on its switch stops holding, and waits the hand-over time before taking the host back', async () => {
      const server = await target.start();
      const admin = await OvsdbClient.connect({ endpoint: server.endpoint });
      const signal = new AbortController().signal;
      try {
        let clock = 0;
        const live = new Set(['1@a', '2@b']);
        const a = new HostFence({ host: 'h', membership: new StubMembership({ agentId: 'a', incarnation: 1 }, live), handoverMs: 5000, now: () => clock });
        assert.equal(await a.ensure(handle(admin), signal), undefined);
        // b, with a view in which a is not live, claims the host.
        const b = new HostFence({ host: 'h', membership: new StubMembership({ agentId: 'b', incarnation: 2 }, new Set(['2@b'])), handoverMs: 5000, now: () => clock });
        assert.equal(await b.ensure(handle(admin), signal), undefined);
        assert.equal(await epochOf(admin), '2@b');
        // A replica that only lags behind a's own claim changes nothing: a re-reads the switch.
        a.observe('something stale');
        clock = 1000;
        assert.match((await a.ensure(handle(admin), signal)) ?? '', /held by live replica b \(epoch 2\); taken over in 5 s/);
        assert.equal(a.writable(), false);
        assert.throws(() => a.guard(), FencedError);
        clock = 6000;
        assert.equal(await a.ensure(handle(admin), signal), undefined);
        assert.equal(await epochOf(admin), '1@a');
      } finally {
        admin.close();
        await server.stop();
      }
    });

    it('two reconcilers on one host: the one that took over wins; the other, resumed, writes nothing and says why', { timeout: 60_000 }, async () => {
      const server = await target.start();
      const admin = await OvsdbClient.connect({ endpoint: server.endpoint });
      const reconcilers: HostReconciler[] = [];
      try {
        const port = neutronId(1);
        await addPorts(admin, [{ name: portName(port), ifaceId: port }]);
        const live = new Set(['1@a']);
        const memA = new StubMembership({ agentId: 'a', incarnation: 1 }, live);
        const sourceA = new MutableSource();
        sourceA.set(port, sla(10));
        const eventsA: object[] = [];
        const a = new HostReconciler({
          host: 'compute-1',
          endpoint: server.endpoint,
          owner: OWNER,
          source: sourceA,
          debounceMs: 5,
          resyncIntervalMs: 60_000,
          logger: (e) => eventsA.push(e),
          fence: new HostFence({ host: 'compute-1', membership: memA, handoverMs: 60_000, log: (e) => eventsA.push(e) }),
        });
        reconcilers.push(a);
        await a.start();
        await waitFor('a applied 10 Mbit/s', async () => maxRateOf(qosOfPort(await readTables(admin), portName(port))) === '10000000');
        assert.equal(await epochOf(admin), '1@a');

        // a's lease runs out in the store (it is paused); b registers, sees a not live, takes the host and applies 20 Mbit/s.
        live.delete('1@a');
        live.add('2@b');
        const sourceB = new MutableSource();
        sourceB.set(port, sla(20));
        const b = new HostReconciler({
          host: 'compute-1',
          endpoint: server.endpoint,
          owner: OWNER,
          source: sourceB,
          debounceMs: 5,
          resyncIntervalMs: 60_000,
          fence: new HostFence({ host: 'compute-1', membership: new StubMembership({ agentId: 'b', incarnation: 2 }, live), handoverMs: 60_000 }),
        });
        reconcilers.push(b);
        await b.start();
        await waitFor('b applied 20 Mbit/s', async () => maxRateOf(qosOfPort(await readTables(admin), portName(port))) === '20000000');
        assert.equal(await epochOf(admin), '2@b');

        // a resumes still believing in its lease and has a (stale) change to make: its guard fails on the switch.
        sourceA.set(port, sla(5));
        a.enqueue();
        await waitFor('a fenced', () => eventsA.some((e) => (e as { event?: string }).event === 'host_fenced'));
        await waitFor('a says why it does not write', () =>
          a.status().some((s) => s.state === 'pending' && /not written by this agent replica: held by live replica b/.test(s.reason ?? '')),
        );
        await new Promise((resolve) => setTimeout(resolve, 500));
        assert.equal(maxRateOf(qosOfPort(await readTables(admin), portName(port))), '20000000', "b's SLA stands");
        assert.equal(await epochOf(admin), '2@b');
        // a learns it from its replica (b's epoch on the Open_vSwitch row) or from its guard failing on the switch, whichever comes first.
        const fenced = eventsA.find((e) => (e as { event?: string }).event === 'host_fenced') as { reason?: string } | undefined;
        assert.match(fenced?.reason ?? '', /epoch 2@b|OVSDB_WAIT_TIMED_OUT/);
      } finally {
        for (const r of reconcilers) await r.stop();
        admin.close();
        await server.stop();
      }
    });
  });
}
