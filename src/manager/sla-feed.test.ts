/**
 * The dashboard's SLA feed: the pure `slaRows` (units joined, rates summed
 * over ports, violations as movement since the previous poll) and the
 * `SlaFeed` poller with a fake agent (one shared poll per interval, paused
 * without subscribers, an error sample keeps the last rows).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { AgentSlaStatusItem } from './agent-client.ts';
import { SlaFeed, slaRows, type SlaSample, type UnitOfServer } from './sla-feed.ts';

const A = 'AAAAAAAA-0000-4000-8000-000000000001';
const B = 'bbbbbbbb-0000-4000-8000-000000000002';
const C = 'cccccccc-0000-4000-8000-000000000003';

type Port = AgentSlaStatusItem['ports'][number];

function port(id: string, observed?: { down: number; up: number } | null): Port {
  return {
    port_id: id,
    host: 'compute1',
    ovs_port: `tap${id}`,
    state: 'applied',
    reason: null,
    ...(observed === undefined ? {} : { observed: observed === null ? null : { download_bps: observed.down, upload_bps: observed.up, at: '2026-01-01T00:00:00Z', interval_s: 1 } }),
  };
}

function item(serverId: string, o: { name?: string; ports?: Port[]; violation?: number; host?: string } = {}): AgentSlaStatusItem {
  return {
    server_id: serverId,
    state: 'applied',
    reason: null,
    ports: o.ports ?? [],
    server_name: o.name ?? null,
    host: o.host ?? 'compute1',
    desired: { download: { min: 100_000_000, max: 1_000_000_000 }, upload: { max: 500_000_000 } },
    guarantee:
      o.violation === undefined
        ? null
        : { download: { guarantee_bps: 100_000_000, allocated_bps: 120_000_000, delivered_bps: 90_000_000, demand: true, violation_seconds: o.violation }, upload: null },
  };
}

const UNITS: ReadonlyMap<string, UnitOfServer> = new Map([[A.toLowerCase(), { topologyId: 't-1', topology: 'thesis', unit: 'Broker-1', slaClass: 'Wholesale' }]]);

describe('slaRows', () => {
  it('joins each server with its topology unit by lower-case id; a server of no topology has nulls there', () => {
    const rows = slaRows([item(A, { name: 'broker' }), item(B, { name: 'stranger' })], UNITS, new Map());
    const broker = rows.find((r) => r.name === 'broker');
    assert.ok(broker);
    assert.equal(broker.server_id, A.toLowerCase());
    assert.deepEqual(
      { topology_id: broker.topology_id, topology: broker.topology, unit: broker.unit, sla_class: broker.sla_class },
      { topology_id: 't-1', topology: 'thesis', unit: 'Broker-1', sla_class: 'Wholesale' },
    );
    assert.deepEqual([broker.download_min_bps, broker.download_max_bps, broker.upload_min_bps, broker.upload_max_bps], [100_000_000, 1_000_000_000, null, 500_000_000]);
    const stranger = rows.find((r) => r.name === 'stranger');
    assert.ok(stranger);
    assert.deepEqual([stranger.topology_id, stranger.topology, stranger.unit, stranger.sla_class], [null, null, null, null]);
  });

  it('sums the observed rates over the ports that have them; null when no port has one', () => {
    const rows = slaRows(
      [
        item(A, { name: 'two-ports', ports: [port('1', { down: 10_000, up: 1_000 }), port('2', { down: 5_000, up: 500 })] }),
        item(B, { name: 'one-counted', ports: [port('3', null), port('4', { down: 7_000, up: 0 }), port('5')] }),
        item(C, { name: 'none-counted', ports: [port('6', null), port('7')] }),
      ],
      UNITS,
      new Map(),
    );
    const by = new Map(rows.map((r) => [r.name, r]));
    assert.deepEqual([by.get('two-ports')?.download_bps, by.get('two-ports')?.upload_bps], [15_000, 1_500]);
    assert.deepEqual([by.get('one-counted')?.download_bps, by.get('one-counted')?.upload_bps], [7_000, 0], 'a zero rate is a rate, not missing');
    assert.deepEqual([by.get('none-counted')?.download_bps, by.get('none-counted')?.upload_bps], [null, null]);
  });

  it('is violating only when the violation seconds grew since the previous call', () => {
    const previous = new Map<string, number>();
    const violating = (violation: number | undefined): boolean => {
      const [row] = slaRows([item(A, violation === undefined ? {} : { violation })], UNITS, previous);
      assert.ok(row);
      return row.violating;
    };
    assert.equal(violating(3), false, 'the first sample has nothing to compare with');
    assert.equal(violating(3), false, 'unchanged');
    assert.equal(violating(5), true, 'moved from 3 to 5');
    assert.equal(violating(5), false, 'stopped moving');
    assert.equal(violating(undefined), false, 'no guarantee view: not violating');
    assert.equal(violating(6), true, 'a sample without the view does not forget the count (5 → 6)');
  });

  it('forgets the servers the agent no longer lists, and sorts by name then id', () => {
    const previous = new Map<string, number>();
    slaRows([item(A, { name: 'b', violation: 4 }), item(B, { name: 'a', violation: 1 })], UNITS, previous);
    assert.deepEqual([...previous.keys()].sort(), [A.toLowerCase(), B]);
    const rows = slaRows([item(B, { name: 'a', violation: 1 })], UNITS, previous);
    assert.deepEqual([...previous.keys()], [B], 'A is gone from the agent, so from the memory');
    assert.equal(rows.length, 1);
    // A comes back with more seconds than before: without a previous value it is not reported as violating.
    const back = slaRows([item(A, { name: 'b', violation: 9 }), item(B, { name: 'a', violation: 1 }), item(C, { violation: 0 })], UNITS, previous);
    assert.equal(back.find((r) => r.name === 'b')?.violating, false);
    assert.deepEqual(
      back.map((r) => r.name ?? r.server_id),
      ['a', 'b', C],
    );
  });
});

/** A fake agent: every call is counted; `fail` makes the next calls throw; `gate` makes them wait (ignoring the abort signal) until released. */
class FakeAgent {
  calls = 0;
  fail: Error | undefined;
  items: AgentSlaStatusItem[] = [item(A, { name: 'broker', violation: 1 })];
  gated = false;
  private readonly waiting: (() => void)[] = [];

  slaStatus = async (): Promise<readonly AgentSlaStatusItem[]> => {
    this.calls++;
    if (this.gated) await new Promise<void>((resolve) => this.waiting.push(resolve));
    if (this.fail) throw this.fail;
    return this.items;
  };

  get pending(): number {
    return this.waiting.length;
  }

  release(): void {
    this.waiting.shift()?.();
  }
}

function feedOf(agent: FakeAgent, intervalMs = 20): SlaFeed {
  return new SlaFeed({ slaStatus: agent.slaStatus, units: () => Promise.resolve(UNITS), intervalMs });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, done: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('SlaFeed', () => {
  it('two subscribers share one poll per interval and receive the same samples', async () => {
    const agent = new FakeAgent();
    const feed = feedOf(agent, 20);
    const first: SlaSample[] = [];
    const second: SlaSample[] = [];
    const started = Date.now();
    const offFirst = feed.subscribe((s) => first.push(s));
    const offSecond = feed.subscribe((s) => second.push(s));
    try {
      assert.equal(feed.subscribers, 2);
      await waitFor('five samples', () => first.length >= 5);
      const elapsed = Date.now() - started;
      // One poller: a call per published sample (plus at most the one in flight), never one per subscriber.
      assert.ok(agent.calls - feed.published <= 1 && agent.calls >= feed.published, `${String(agent.calls)} calls for ${String(feed.published)} samples`);
      // And no faster than the interval (a poll every 20 ms at most, the first at once).
      assert.ok(agent.calls <= Math.floor(elapsed / 20) + 2, `${String(agent.calls)} calls in ${String(elapsed)} ms`);
      assert.deepEqual(second.slice(0, 5), first.slice(0, 5));
      assert.equal(second[0], first[0], 'the very same sample object, not a second poll');
      assert.equal(first[0]?.rows[0]?.unit, 'Broker-1');
    } finally {
      offFirst();
      offSecond();
      feed.stop();
    }
  });

  it('stops polling when the last subscriber leaves, and starts again with the next', async () => {
    const agent = new FakeAgent();
    const feed = feedOf(agent, 20);
    const offFirst = feed.subscribe(() => undefined);
    const offSecond = feed.subscribe(() => undefined);
    try {
      await waitFor('three polls', () => agent.calls >= 3);
      offFirst();
      const atLeave = agent.calls;
      await waitFor('polling to go on with one subscriber left', () => agent.calls >= atLeave + 2);
      offSecond();
      assert.equal(feed.subscribers, 0);
      const atPause = agent.calls;
      await sleep(150); // 7 intervals
      assert.equal(agent.calls, atPause, 'no poll without subscribers');
      const received: SlaSample[] = [];
      const again = feed.subscribe((s) => received.push(s));
      assert.equal(received.length, 0, 'a sample from before the pause (of any age) is not handed out');
      await waitFor('polling resumed', () => agent.calls >= atPause + 2);
      await waitFor('a fresh sample', () => received.length > 0);
      again();
    } finally {
      feed.stop();
    }
  });

  it('a failing poll publishes the error with the previous rows, and the next good poll clears it', async () => {
    const agent = new FakeAgent();
    const feed = feedOf(agent, 20);
    const samples: SlaSample[] = [];
    const off = feed.subscribe((s) => samples.push(s));
    try {
      await waitFor('a good sample', () => samples.some((s) => s.rows.length === 1));
      const good = samples.at(-1)!;
      assert.equal(good.error, null);
      agent.fail = new Error('connect ECONNREFUSED 127.0.0.1:8091');
      await waitFor('an error sample', () => samples.some((s) => s.error !== null));
      const bad = samples.find((s) => s.error !== null)!;
      assert.match(bad.error ?? '', /^CM Agent: .*ECONNREFUSED/);
      assert.deepEqual(bad.rows, good.rows, 'the last known rows stay');
      assert.notEqual(bad.at, '', 'the error sample has its own time');
      agent.fail = undefined;
      const count = samples.length;
      await waitFor('a fresh sample after the error', () => samples.length > count && samples.at(-1)?.error === null);
      assert.equal(samples.at(-1)?.rows[0]?.server_id, A.toLowerCase());
    } finally {
      off();
      feed.stop();
    }
  });

  it('an error before any good poll is an empty sample that names it', async () => {
    const agent = new FakeAgent();
    agent.fail = new Error('agent down');
    const feed = feedOf(agent);
    const sample = await feed.current();
    assert.deepEqual(sample.rows, []);
    assert.equal(sample.error, 'CM Agent: agent down');
    feed.stop();
  });

  it('current() polls once when nothing is cached; while the poller runs it answers its latest sample', async () => {
    const agent = new FakeAgent();
    const feed = feedOf(agent, 20);
    try {
      const sample = await feed.current();
      assert.equal(agent.calls, 1);
      assert.equal(sample.error, null);
      assert.equal(sample.rows[0]?.unit, 'Broker-1');
      let latest: SlaSample | undefined;
      const off = feed.subscribe((s) => (latest = s));
      await waitFor('a published sample', () => feed.published >= 2);
      const before = agent.calls;
      const answered = await feed.current();
      assert.equal(agent.calls, before, 'no extra poll while the poller keeps the sample fresh');
      assert.equal(answered, latest);
      off();
    } finally {
      feed.stop();
    }
  });

  it('current() without subscribers answers what the agent says now, not the first sample forever', async () => {
    const agent = new FakeAgent();
    const feed = feedOf(agent, 20);
    try {
      const first = await feed.current();
      assert.equal(first.rows[0]?.violation_seconds, 1);
      agent.items = [item(A, { name: 'broker', violation: 4 }), item(B, { name: 'new' })];
      const second = await feed.current();
      assert.equal(agent.calls, 2);
      assert.equal(second.rows.length, 2, 'the server added since is listed');
      assert.equal(second.rows.find((r) => r.name === 'broker')?.violation_seconds, 4);
      assert.equal(second.rows.find((r) => r.name === 'broker')?.violating, true);
    } finally {
      feed.stop();
    }
  });

  it('a subscriber arriving while the previous poller’s poll is still out does not start a second poller', async () => {
    const agent = new FakeAgent();
    agent.gated = true; // an agent call that does not end when aborted
    const feed = feedOf(agent, 20);
    try {
      const offA = feed.subscribe(() => undefined);
      await waitFor('the first poll', () => agent.pending === 1);
      offA();
      const offB = feed.subscribe(() => undefined);
      await waitFor('the second poll', () => agent.pending === 2);
      agent.release(); // the first poller's poll ends after it was paused
      agent.release(); // the second poller's first poll ends
      await waitFor('the next poll', () => agent.calls >= 3);
      await sleep(100); // 5 intervals: a second poller would have polled by now
      assert.equal(agent.calls, 3, 'one poller: one poll out at a time');
      assert.equal(agent.pending, 1);
      offB();
      agent.gated = false;
      agent.release();
    } finally {
      feed.stop();
    }
  });

  it('stop() ends polling for good, even with subscribers', async () => {
    const agent = new FakeAgent();
    const feed = feedOf(agent, 20);
    feed.subscribe(() => undefined);
    await waitFor('two polls', () => agent.calls >= 2);
    feed.stop();
    const atStop = agent.calls;
    assert.equal(feed.subscribers, 0);
    feed.subscribe(() => undefined);
    await sleep(100);
    assert.equal(agent.calls, atStop);
  });
});
