/**
 * Which replica writes which host: rendezvous (highest-random-weight)
 * hashing over the live replicas' ids. Every replica computes the same
 * answer from the same live set, with no coordination and nothing stored;
 * when a replica joins or leaves, only the hosts whose top score changes
 * move (about 1/n of them), and each departed replica's hosts spread over
 * all the others instead of landing on one neighbour as on a ring.
 *
 * Keyed by agent id, not incarnation: a replica that restarts under the same
 * id gets its own hosts back, so a rolling restart moves nothing for long.
 */

/** 53-bit string hash (two 32-bit multiplicative lanes), stable across processes and Node versions. */
export function hash53(text: string): number {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** The owner of `host` among `agentIds` (undefined when there is none); ties (never seen in practice) go to the smaller id. */
export function ownerOf(host: string, agentIds: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore = -1;
  for (const id of agentIds) {
    // The separator keeps ("ab","c") and ("a","bc") apart.
    const score = hash53(`${id}\u0000${host}`);
    if (score > bestScore || (score === bestScore && best !== undefined && id < best)) {
      best = id;
      bestScore = score;
    }
  }
  return best;
}

/** Hosts per owner (for metrics, docs and tests). */
export function assignment(hosts: readonly string[], agentIds: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>(agentIds.map((id) => [id, []]));
  for (const host of hosts) {
    const owner = ownerOf(host, agentIds);
    if (owner !== undefined) out.get(owner)?.push(host);
  }
  return out;
}
