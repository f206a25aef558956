/**
 * Rendezvous ownership: every host has exactly one owner among the live
 * replicas, shares are even, and a replica joining or leaving moves only
 * the hosts it must (its own share), spread over the others.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { assignment, hash53, ownerOf } from '../../src/agent/cluster/ownership.ts';

const HOSTS = Array.from({ length: 10_000 }, (_, i) => `compute-${String(i).padStart(5, '0')}`);

function owners(agents: readonly string[]): Map<string, string> {
  return new Map(HOSTS.map((h) => [h, ownerOf(h, agents) ?? '']));
}

describe('rendezvous ownership of hosts', () => {
  it('gives no owner without replicas, and the same answer whatever the order of the live set', () => {
    assert.equal(ownerOf('h', []), undefined);
    for (const h of HOSTS.slice(0, 500)) assert.equal(ownerOf(h, ['a', 'b', 'c', 'd']), ownerOf(h, ['d', 'b', 'a', 'c']));
    assert.notEqual(hash53('a\u0000bc'), hash53('ab\u0000c'));
  });

  it('divides 10 000 hosts among 4 replicas within ±5 % of an even share', () => {
    const shares = assignment(HOSTS, ['agent-a', 'agent-b', 'agent-c', 'agent-d']);
    const sizes = [...shares.values()].map((s) => s.length);
    assert.equal(sizes.reduce((x, y) => x + y, 0), HOSTS.length);
    for (const n of sizes) assert.ok(Math.abs(n - 2500) <= 125, `share ${String(n)} of 10 000 (even: 2500)`);
  });

  it('a replica leaving moves only its hosts, spread over every other replica', () => {
    const before = owners(['a', 'b', 'c', 'd']);
    const after = owners(['a', 'b', 'd']);
    const moved = HOSTS.filter((h) => before.get(h) !== after.get(h));
    assert.ok(moved.every((h) => before.get(h) === 'c'), 'only c’s hosts move');
    assert.equal(moved.length, HOSTS.filter((h) => before.get(h) === 'c').length);
    const receivers = new Map<string, number>();
    for (const h of moved) receivers.set(after.get(h) ?? '', (receivers.get(after.get(h) ?? '') ?? 0) + 1);
    for (const id of ['a', 'b', 'd']) assert.ok((receivers.get(id) ?? 0) > moved.length / 3 - 100, `${id} gets about a third: ${String(receivers.get(id))}`);
  });

  it('a replica joining takes about 1/n of the hosts, and nothing moves between the others', () => {
    const before = owners(['a', 'b', 'c']);
    const after = owners(['a', 'b', 'c', 'e']);
    const moved = HOSTS.filter((h) => before.get(h) !== after.get(h));
    assert.ok(moved.every((h) => after.get(h) === 'e'), 'every moved host goes to the newcomer');
    assert.ok(Math.abs(moved.length - 2500) <= 125, `${String(moved.length)} moved (even: 2500)`);
  });
});
