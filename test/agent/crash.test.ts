/**
 * Crash safety of the agent's reconciling core, with real processes: a child
 * (test/agent/fixtures/agent-child.ts: SLA store file → desired source →
 * reconciler fleet) applies 300 SLAs to a real ovsdb-server on which 300
 * os-vif style ports (plus 20 ports nobody wants QoS on) are plugged, and is
 * SIGKILLed in the middle.
 *
 * "In the middle" means: the first child reveals the store's SLAs in waves of
 * 20 ports every 40 ms (one reconciler pass, i.e. one OVSDB transaction, per
 * wave) and is killed as soon as the switch holds at least 60 of our QoS rows;
 * the test asserts after the kill that fewer than 300 ports had their QoS (so
 * the kill really happened before completion) and that what was applied is
 * consistent (each transaction is atomic). While no agent runs, 30 SLAs that
 * were already applied are changed in the store (the API kept working).
 * A second child with the same owner and store then converges: all 300 ports
 * carry exactly their desired QoS, no QoS/Queue row is unreferenced, no owned
 * row or policing is left on the 20 ports without desire, and the total number
 * of owned rows is exactly one QoS + one Queue per desired port.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { OvsdbClient } from '../../src/ovsdb/client.ts';
import { select } from '../../src/ovsdb/operations.ts';
import { TAG_OWNER, TAG_POLICING_OWNER } from '../../src/ovsdb/vswitch/index.ts';
import { openSlaStore } from '../../src/store/index.ts';
import {
  makeTempDir,
  realOvsAvailable,
  removeTempDir,
  startOvsdbServer,
  terminate,
  trackChild,
  waitForExit,
  type OvsdbServerHandle,
} from '../harness/ovsdb-server.ts';
import { crashServers } from './fixtures/crash-fleet.ts';
import { DB, addPorts, leakReport, maxRateOf, neutronId, portName, qosOfPort, readTables, sla, waitFor } from './reconciler-helpers.ts';

const real = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vsctl']);
const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'agent-child.ts');
const OWNER = 'cm-agent-crash';
const COUNT = 300;
const EXTRA = 20;
const KILL_AT = 60;

/** Download cap of server i, in Mbit/s; the changed ones (while down) get +1000. */
const rateOf = (i: number, changed: boolean): number => (changed ? 1000 : 10) + i;

function spawnChild(env: Record<string, string>): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  trackChild(child);
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  return { child, output: () => output };
}

async function ownedQosCount(client: OvsdbClient): Promise<number> {
  const [r] = await client.transact(DB, [select('QoS', [], ['external_ids'])]);
  return (r?.rows ?? []).filter((row) => (row.external_ids as ReadonlyMap<string, string>).get(TAG_OWNER) === OWNER).length;
}

describe('cm-agent killed with SIGKILL while applying 300 SLAs', { skip: real.skip }, () => {
  it('restarts and converges with no orphan rows', { timeout: 120_000 }, async () => {
    const children: ChildProcess[] = [];
    let server: OvsdbServerHandle | undefined;
    let admin: OvsdbClient | undefined;
    const dir = await makeTempDir('cm-crash-');
    try {
      server = await startOvsdbServer({ init: true });
      admin = await OvsdbClient.connect({ endpoint: server.unixEndpoint });
      const servers = crashServers(COUNT);
      await addPorts(admin, servers.map((s) => ({ name: s.ovsPort, ifaceId: s.portId, vmUuid: s.serverId })));
      const extras = Array.from({ length: EXTRA }, (_, i) => neutronId(i, 'cccc'));
      await addPorts(admin, extras.map((id) => ({ name: portName(id), ifaceId: id, vmUuid: 'nobody' })));

      const storePath = path.join(dir, 'sla.db');
      const store = await openSlaStore({ path: storePath });
      for (const [i, s] of servers.entries()) await store.put(s.serverId, sla(rateOf(i, false)), { source: 'v1' });
      await store.close();

      const childEnv = { CRASH_ENDPOINT: server.unixEndpoint, CRASH_STORE: storePath, CRASH_OWNER: OWNER, CRASH_COUNT: String(COUNT) };

      // ---- first run: killed in the middle
      const first = spawnChild({ ...childEnv, CRASH_WAVE: '20', CRASH_WAVE_MS: '40' });
      children.push(first.child);
      let seen = 0;
      await waitFor(
        'some (not all) QoS rows applied by the first child',
        async () => {
          if (first.child.exitCode !== null) throw new Error(`the first child exited early:\n${first.output()}`);
          seen = await ownedQosCount(admin!);
          return seen >= KILL_AT;
        },
        30_000,
      );
      first.child.kill('SIGKILL');
      await waitForExit(first.child);
      assert.equal(first.child.signalCode, 'SIGKILL', 'the first child died of the SIGKILL');

      const afterKill = await readTables(admin);
      const appliedBefore = servers.filter((s, i) => maxRateOf(qosOfPort(afterKill, s.ovsPort)) === String(rateOf(i, false) * 1_000_000)).length;
      assert.ok(appliedBefore >= KILL_AT, `at least ${String(KILL_AT)} ports applied before the kill (got ${String(appliedBefore)})`);
      assert.ok(appliedBefore < COUNT, `the kill happened before completion: ${String(appliedBefore)} of ${String(COUNT)} ports had their QoS`);
      const ownedAtKill = leakReport(afterKill, OWNER).ownedRows;
      assert.equal(ownedAtKill, 2 * appliedBefore, 'each committed wave is complete: one QoS + one Queue per applied port');
      console.log(`killed after ${String(appliedBefore)}/${String(COUNT)} ports were applied (poll saw ${String(seen)})`);

      // ---- while no agent runs: 30 already applied SLAs change
      const changed = new Set(Array.from({ length: 30 }, (_, i) => i));
      const store2 = await openSlaStore({ path: storePath });
      for (const i of changed) await store2.put(servers[i]!.serverId, sla(rateOf(i, true)), { source: 'v1' });
      await store2.close();

      // ---- second run: same owner, same store file
      const second = spawnChild(childEnv);
      children.push(second.child);
      const expected = (i: number): string => String(rateOf(i, changed.has(i)) * 1_000_000);
      const converged = async (): Promise<boolean> => {
        if (second.child.exitCode !== null) throw new Error(`the second child exited:\n${second.output()}`);
        const t = await readTables(admin!);
        const leaks = leakReport(t, OWNER);
        return (
          servers.every((s, i) => maxRateOf(qosOfPort(t, s.ovsPort)) === expected(i)) &&
          leaks.unreferencedQos === 0 &&
          leaks.unreferencedQueues === 0 &&
          leaks.ownedRows === 2 * COUNT
        );
      };
      await waitFor('the restarted agent to converge', converged, 60_000);

      const t = await readTables(admin);
      for (const [i, s] of servers.entries()) {
        const qos = qosOfPort(t, s.ovsPort);
        assert.equal(maxRateOf(qos), expected(i), `port ${s.ovsPort}`);
        assert.equal((qos?.external_ids as ReadonlyMap<string, string>).get(TAG_OWNER), OWNER);
        const queue = t.queues.find((q) => q._uuid === (qos?.queues as ReadonlyMap<number, string>).get(0));
        assert.equal((queue?.other_config as ReadonlyMap<string, string> | undefined)?.get('max-rate'), expected(i), `queue of ${s.ovsPort}`);
        const iface = t.interfaces.find((x) => x.name === s.ovsPort);
        assert.equal(iface?.ingress_policing_rate, (rateOf(i, changed.has(i)) * 1000) / 2, `upload policing of ${s.ovsPort} (kbit/s)`);
      }
      const leaks = leakReport(t, OWNER);
      assert.equal(leaks.unreferencedQos, 0, 'no unreferenced QoS row');
      assert.equal(leaks.unreferencedQueues, 0, 'no unreferenced Queue row');
      assert.equal(t.qos.length, COUNT, 'exactly one QoS row per desired port');
      assert.equal(t.queues.length, COUNT, 'exactly one Queue row per desired port');
      for (const id of extras) {
        const name = portName(id);
        assert.equal(qosOfPort(t, name), undefined, `no QoS on ${name} (no desire)`);
        const iface = t.interfaces.find((x) => x.name === name);
        assert.equal((iface?.external_ids as ReadonlyMap<string, string>).get(TAG_POLICING_OWNER), undefined, `no owned policing on ${name}`);
      }

      await terminate(second.child);
      assert.equal(second.child.exitCode, 0, `the second child stopped cleanly:\n${second.output()}`);
    } finally {
      for (const c of children) await terminate(c, 1000);
      admin?.close();
      await server?.stop();
      await removeTempDir(dir);
    }
  });
});
