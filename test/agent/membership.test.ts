/**
 * A replica's membership against a scripted store: it may write only while
 * its own clock says the lease it last renewed is current (counted from when
 * the heartbeat was sent), re-registers when the store says its lease is
 * gone, keeps its hosts' owners by the live set, and tells listeners when
 * either changes.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClusterMembership } from '../../src/agent/cluster/membership.ts';
import type { ClusterMember, ClusterStore, HostStatusRecord } from '../../src/store/index.ts';

class ScriptedStore implements ClusterStore {
  incarnation = 0;
  heartbeatOk = true;
  failing = false;
  others: ClusterMember[] = [];
  registrations = 0;
  heartbeats = 0;
  left: number[] = [];
  private member(agentId: string, incarnation: number): ClusterMember {
    return { agentId, incarnation, url: '', heartbeatAt: 0, leaseUntil: 0 };
  }
  register(agentId: string): Promise<ClusterMember> {
    if (this.failing) return Promise.reject(new Error('store unreachable'));
    this.registrations++;
    return Promise.resolve(this.member(agentId, ++this.incarnation));
  }
  heartbeat(agentId: string, incarnation: number): Promise<{ ok: boolean; members: ClusterMember[] }> {
    if (this.failing) return Promise.reject(new Error('store unreachable'));
    this.heartbeats++;
    const self = this.heartbeatOk ? [this.member(agentId, incarnation)] : [];
    return Promise.resolve({ ok: this.heartbeatOk, members: [...self, ...this.others] });
  }
  members(): Promise<ClusterMember[]> {
    return Promise.resolve(this.others);
  }
  leave(_agentId: string, incarnation: number): Promise<void> {
    this.left.push(incarnation);
    return Promise.resolve();
  }
  publishHostStatus(): Promise<void> {
    return Promise.resolve();
  }
  hostStatuses(): Promise<HostStatusRecord[]> {
    return Promise.resolve([]);
  }
  hostStatusesSince(): Promise<HostStatusRecord[]> {
    return Promise.resolve([]);
  }
  removeExpiredMembers(): Promise<number> {
    return Promise.resolve(0);
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

const tick = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Replica 'a' on a scripted store with a 10 s lease and a clock the test sets; `t.changes` counts what its listeners heard. */
function clockedReplica(heartbeatMs: number): { store: ScriptedStore; m: ClusterMembership; t: { clock: number; changes: number } } {
  const store = new ScriptedStore();
  const t = { clock: 1000, changes: 0 };
  const m = new ClusterMembership({ store, agentId: 'a', url: 'http://a', leaseMs: 10_000, heartbeatMs, now: () => t.clock });
  m.onChange(() => t.changes++);
  return { store, m, t };
}

describe('agent cluster membership', () => {
  it('refuses a lease that does not outlast two heartbeats', () => {
    assert.throws(() => new ClusterMembership({ store: new ScriptedStore(), agentId: 'a', url: '', leaseMs: 1000, heartbeatMs: 500 }), /must exceed two heartbeats/);
  });

  it('writes while its own clock says the lease is current, counted from the heartbeat it sent', async () => {
    const { store, m, t } = clockedReplica(4000);
    assert.equal(m.writable(), false);
    await m.start();
    assert.equal(store.registrations, 1);
    assert.deepEqual(m.identity(), { agentId: 'a', incarnation: 1 });
    assert.equal(t.changes, 1);
    assert.ok(m.owns('compute1'), 'alone, it owns every host');
    // The lease ends 10 s after the heartbeat was sent; the replica stops a margin (1 s) before.
    t.clock = 1000 + 8_999;
    assert.equal(m.writable(), true);
    t.clock = 1000 + 9_000;
    assert.equal(m.writable(), false);
    assert.equal(m.identity(), undefined);
    assert.equal(m.owns('compute1'), false);
    await m.stop();
    assert.deepEqual(store.left, [1]);
  });

  it('divides hosts with the live replicas and re-registers under a new incarnation when its lease is gone', async () => {
    const store = new ScriptedStore();
    store.others = [{ agentId: 'b', incarnation: 7, url: 'http://b', heartbeatAt: 0, leaseUntil: 0 }];
    const m = new ClusterMembership({ store, agentId: 'a', url: 'http://a', leaseMs: 400, heartbeatMs: 100 });
    let changes = 0;
    m.onChange(() => changes++);
    await m.start();
    assert.deepEqual(m.members(), ['a', 'b']);
    const hosts = Array.from({ length: 200 }, (_, i) => `h${String(i)}`);
    const mine = hosts.filter((h) => m.owns(h));
    assert.ok(mine.length > 50 && mine.length < 150, `about half: ${String(mine.length)}`);
    assert.ok(hosts.every((h) => (m.ownerOf(h) === 'a') === mine.includes(h)));
    assert.equal(m.urlOf('b'), 'http://b');
    assert.ok(m.isLive({ agentId: 'b', incarnation: 7 }));
    assert.equal(m.isLive({ agentId: 'b', incarnation: 6 }), false);

    // The store says our lease is gone (we were paused): stop writing, register again at once.
    store.heartbeatOk = false;
    await tick(150);
    store.heartbeatOk = true;
    await tick(250);
    assert.ok(store.registrations >= 2, `registered again (${String(store.registrations)})`);
    assert.equal(m.identity()?.incarnation, store.incarnation);
    assert.ok(changes >= 3, `listeners told of each change (${String(changes)})`);

    // The store is unreachable: the lease runs out by our clock and the listeners hear of it
    // (waited for, up to 5 s: a loaded CI machine delays timers well past the 400 ms lease).
    const before = changes;
    store.failing = true;
    try {
      const deadline = Date.now() + 5000;
      while (changes === before && Date.now() < deadline) await tick(20);
      assert.equal(m.writable(), false);
      assert.ok(changes > before, 'listeners told that the lease ran out');
      assert.match(m.view().lastError ?? '', /store unreachable/);
    } finally {
      await m.stop();
    }
  });

  it('tells the listeners of a lease that ran out just before a failing heartbeat began', async () => {
    const { store, m, t } = clockedReplica(50);
    try {
      await m.start();
      assert.equal(t.changes, 1);
      // The next heartbeat starts after the lease ended by our clock and fails: it clears the expiry
      // timer (due in ~9 s of real time) and finds the view already not writable when it begins.
      store.failing = true;
      t.clock += 60_000;
      await tick(300);
      assert.equal(m.writable(), false);
      assert.equal(t.changes, 2, 'the listeners heard that this replica may not write any more');
    } finally {
      await m.stop();
    }
  });
});
