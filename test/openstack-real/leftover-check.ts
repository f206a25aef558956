/**
 * The real-cloud stage's leftover check, run by scripts/test-openstack.mjs around all
 * test files (not a test file itself: it must see the switches before the first file and
 * after the last, whichever files ran and whether they passed).
 *
 *   node --import tsx test/openstack-real/leftover-check.ts baseline FILE
 *     lists what of ours is already on the hosts' switches and in the cloud, deletes the
 *     orphaned QoS/Queue rows of ours among it (an earlier run's: nothing references them,
 *     no agent will ever remove them), and writes what is left to FILE;
 *   node --import tsx test/openstack-real/leftover-check.ts check FILE
 *     lists again and exits 1, listing them, when anything of ours is there that FILE does
 *     not hold: QoS, Queue, Controller rows tagged cm-owner, Interfaces marked
 *     cm-policing-owner, the cm-agent-epoch key, flows with our cookies and meters in our
 *     id ranges on br-int, our shaper on the hosts' wire, servers cm-real-… / cm-2nic-…,
 *     stacks cm-…, flavors cm-real-… and Keystone projects and users cm-real-….
 *
 * Needs the stage's environment (OS_* of the cloud, CM_REAL_OSR_DIR) and root (ovs-ofctl
 * on the management sockets, ip netns).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { HOSTS, openReal } from './cloud.ts';
import { cloudLeftovers, deleteOrphans, describeLeftover, switchLeftovers, type Leftover } from './leftovers.ts';

const identity = (l: Leftover): string => `${l.where} ${l.kind} ${l.key}`;

async function everything(): Promise<Leftover[]> {
  const os = openReal();
  try {
    return [...(await switchLeftovers()), ...(await cloudLeftovers(os))];
  } finally {
    await os.close();
  }
}

async function baseline(file: string): Promise<number> {
  const before = await everything();
  if (before.length === 0) console.log('leftover check: nothing of ours on the hosts or in the cloud before the stage');
  else {
    console.log(`leftover check: already there before the stage (an earlier run's), ${String(before.length)}:`);
    for (const l of before) console.log(`  ${describeLeftover(l)}`);
  }
  const orphans = before.filter((l) => l.orphan);
  if (orphans.length > 0) {
    for (const host of HOSTS) await deleteOrphans(host, orphans);
    console.log(`leftover check: deleted ${String(orphans.length)} orphaned QoS/Queue row(s) of an earlier run`);
  }
  const kept = orphans.length > 0 ? await everything() : before;
  writeFileSync(file, JSON.stringify(kept.map(identity)));
  return 0;
}

async function check(file: string): Promise<number> {
  const known = new Set(JSON.parse(readFileSync(file, 'utf8')) as string[]);
  // Deletions the last test started (a stack, a server) may still be finishing: a short grace for the cloud only.
  const deadline = Date.now() + 60_000;
  let now = await everything();
  while (now.some((l) => l.where === 'cloud' && !known.has(identity(l))) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 2000));
    now = await everything();
  }
  const fresh = now.filter((l) => !known.has(identity(l)));
  const old = now.filter((l) => known.has(identity(l)));
  if (old.length > 0) {
    console.log(`leftover check: ${String(old.length)} thing(s) of ours that were there before the stage (not counted):`);
    for (const l of old) console.log(`  ${describeLeftover(l)}`);
  }
  if (fresh.length === 0) {
    console.log(`leftover check: ok, the stage left nothing of ours on ${HOSTS.join(', ')} or in the cloud`);
    return 0;
  }
  console.error(`leftover check: FAIL, the stage left ${String(fresh.length)} thing(s) of ours:`);
  for (const l of fresh) console.error(`  ${describeLeftover(l)}`);
  return 1;
}

const [mode, file] = process.argv.slice(2);
if ((mode !== 'baseline' && mode !== 'check') || file === undefined) {
  console.error('usage: leftover-check.ts baseline|check FILE');
  process.exit(2);
}
try {
  process.exitCode = mode === 'baseline' ? await baseline(file) : await check(file);
} catch (error) {
  console.error(`leftover check: could not list the leftovers: ${(error as Error).stack ?? String(error)}`);
  process.exitCode = 1;
}
