/**
 * A short version of `cm testbed scenario guarantees` on the real data plane
 * (real ovs-vswitchd, the agent's controller, iperf3): every case's checks
 * must pass. Rates at 1/100 of the thesis's (NIC 10 Mbit/s, guarantees
 * 6 / 1 / 1 Mbit/s), 6 s measured per run after 2 s of start-up.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { runGuaranteesScenario } from '../../src/testbed/scenarios/guarantees.ts';
import { integrationRequired, realOvsAvailable, run } from '../harness/ovsdb-server.ts';

const requirement = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vswitchd', 'ovs-ofctl', 'ip', 'tc', 'ethtool', 'iperf3', 'ss']);
const notRoot = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';
if (notRoot && integrationRequired()) throw new Error('the guarantees scenario test needs root here (CI or CM_REQUIRE_INTEGRATION=1)');

const out = mkdtempSync(path.join(os.tmpdir(), 'cm-tb-guar-'));
after(() => {
  rmSync(out, { recursive: true, force: true });
});

describe('testbed scenario guarantees, short version (real OVS, iperf3)', { skip: requirement.skip || notRoot }, () => {
  it('holds every guarantee under contention, lends idle guarantees, gives the pair guarantee first, keeps caps', async (t) => {
    const prefix = `tg${String(process.pid % 100000)}`;
    const result = await runGuaranteesScenario({ scale: 100, durationS: 6, omitS: 2, idleS: 4, outDir: out, prefix, print: (line) => {
        t.diagnostic(line);
      },
    });
    const { stdout } = await run('ip', ['netns', 'list']);
    assert.equal(stdout.split('\n').filter((l) => l.startsWith(`cm-${prefix}-`)).length, 0, 'the scenario removes its testbed');
    // Every case is there, each with its checks.
    for (const n of [1, 2, 3, 4] as const) assert.ok(result.checks.some((c) => c.case === n), `case ${String(n)} checked`);
    assert.equal(result.checks.filter((c) => c.case === 1).length, 3);
    assert.equal(result.checks.filter((c) => c.case === 2).length, 3);
    const failed = result.checks.filter((c) => !c.pass).map((c) => `case ${String(c.case)}: ${c.what}: ${c.value.toFixed(2)} ${c.unit} (goal ${c.kind} ${c.goal.toFixed(2)})`);
    assert.deepEqual(failed, [], `${failed.join('\n')}\n${result.table}`);
    assert.ok(Number.isFinite(result.cost.cpuPercentOfCore), 'the controller cost was measured');
    assert.ok(existsSync(path.join(out, 'guarantees.svg')) && existsSync(path.join(out, 'guarantees-case3.svg')));
  });
});
