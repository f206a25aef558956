/**
 * A small version of `cm testbed scenario thesis` and `… caps` on the real
 * data plane: 3 s iperf3 runs at 1/100 of the thesis's rates (NIC 10 Mbit/s,
 * Gold max 100, Wholesale max 10 Mbit/s). Only ratios are asserted, never
 * absolute speeds, since how fast unshaped flows go depends on the machine.
 *
 * Why not smaller: at 1/250 (Wholesale 4 Mbit/s) with 2 s runs the Wholesale
 * flow measured +11% over its cap: the port's queue (1000 packets, seconds
 * at that rate) and iperf3's interval edges weigh too much in a short run.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { CAP_TOLERANCE, runCapsScenario } from '../../src/testbed/scenarios/caps.ts';
import { wireRate } from '../../src/testbed/scenarios/iperf.ts';
import { runThesisScenario } from '../../src/testbed/scenarios/thesis.ts';
import { findBinary } from '../../src/ovsdb/local-server.ts';
import { integrationRequired, realOvsAvailable, run } from '../harness/ovsdb-server.ts';

const requirement = realOvsAvailable(['ovsdb-server', 'ovsdb-tool', 'ovs-vswitchd', 'ovs-ofctl', 'ip', 'tc', 'ethtool', 'iperf3', 'ss']);
const notRoot = process.getuid?.() === 0 ? false : 'needs root (network namespaces)';
if (notRoot && integrationRequired()) throw new Error('the testbed scenario test needs root here (CI or CM_REQUIRE_INTEGRATION=1)');

const SCALE = 100;
const DURATION_S = 3;
const EVEN_SHARE_MAX_RATIO = 1.5;
const out = mkdtempSync(path.join(os.tmpdir(), 'cm-tb-scen-'));
after(() => {
  rmSync(out, { recursive: true, force: true });
});

async function ourNamespaces(prefix: string): Promise<string[]> {
  const { stdout } = await run('ip', ['netns', 'list']);
  return stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.startsWith(`cm-${prefix}-`));
}

const within = (actual: number, target: number, tolerance: number): boolean => Math.abs(actual / target - 1) <= tolerance;

describe('testbed scenarios, small version (real OVS, iperf3)', { skip: requirement.skip || notRoot }, () => {
  it('thesis §7.3: cross-host flow loses, one host shares evenly, Wholesale at its cap with Gold above', async (t) => {
    const prefix = `ts${String(process.pid % 100000)}`;
    const result = await runThesisScenario({ scale: SCALE, durationS: DURATION_S, outDir: out, prefix });
    assert.deepEqual(await ourNamespaces(prefix), [], 'the scenario removes its testbed');
    const [p1, p2, p3] = result.parts;
    assert.ok(p1 && p2 && p3, 'three parts');
    const show = (p: typeof p1): string =>
      p.flows
        .map((f) => `${f.label}: ${(f.bps / 1e6).toFixed(2)} (receiver port ${((f.receiverFrameBps ?? Number.NaN) / 1e6).toFixed(2)}, ${String(f.retransmits)} retransmits)`)
        .join(', ');
    for (const p of [p1, p2, p3]) t.diagnostic(`${p.title}: ${show(p)} Mbit/s`);

    // 1: the scheduler split 4/1, as in the thesis; the one flow through the NIC gets the least.
    const hosts = Object.values(p1.placement);
    assert.equal(hosts.filter((h) => h === 'compute1').length, 4, JSON.stringify(p1.placement));
    const cross = p1.flows.filter((f) => f.crossHost);
    const local = p1.flows.filter((f) => !f.crossHost);
    assert.equal(cross.length, 1, show(p1));
    const crossBps = cross[0]?.bps ?? 0;
    assert.ok(crossBps < Math.min(...local.map((f) => f.bps)), `cross-host below every same-host flow: ${show(p1)}`);
    // The NIC is what holds it back: it is at (not above) the NIC's rate.
    assert.ok(wireRate(crossBps) <= result.nicRateBps * (1 + CAP_TOLERANCE), `cross-host flow within the NIC rate: ${show(p1)}`);

    // 2: one host, no QoS: an even share. These four flows are unshaped, so CPU time decides their rates; on a
    // 2-core machine shared with other jobs max/min measured 1.08-1.38 over 6 runs (1.3 failed 1 run in 3), hence 1.5.
    // Still far from part 1, where the flow through the NIC got a fraction of the others.
    assert.equal(new Set(Object.values(p2.placement)).size, 1);
    const rates = p2.flows.map((f) => f.bps);
    assert.ok(Math.max(...rates) / Math.min(...rates) <= EVEN_SHARE_MAX_RATIO, `even share: ${show(p2)}`);

    // 3: Wholesale receiver at its cap; the Gold receiver's two flows share the Gold cap, each above the Wholesale cap.
    const wholesale = p3.flows.filter((f) => f.receiverClass === 'Wholesale');
    const gold = p3.flows.filter((f) => f.receiverClass === 'Gold');
    assert.equal(wholesale.length, 1);
    assert.equal(gold.length, 2);
    // Caps are checked on the receivers' ports (frames, one common window for all flows): adding two iperf3 results
    // mixes two windows (once 109 % of the Gold cap in a 3 s run).
    const wholesaleCap = result.classes.Wholesale.maxBps;
    const frames = (f: (typeof p3.flows)[number] | undefined): string => `${((f?.receiverFrameBps ?? Number.NaN) / 1e6).toFixed(2)} Mbit/s of frames`;
    assert.ok(within(wholesale[0]?.receiverFrameBps ?? 0, wholesaleCap, CAP_TOLERANCE), `Wholesale receiver within ±5% of ${String(wholesaleCap)}: ${frames(wholesale[0])}; ${show(p3)}`);
    for (const g of gold) assert.ok(wireRate(g.bps) > wholesaleCap, `Gold flow above the Wholesale cap: ${show(p3)}`);
    assert.ok(within(gold[0]?.receiverFrameBps ?? 0, result.classes.Gold.maxBps, CAP_TOLERANCE), `Gold receiver within ±5% of the Gold cap: ${frames(gold[0])}; ${show(p3)}`);

    assert.ok(existsSync(path.join(out, 'thesis.svg')));
    const svg = readFileSync(path.join(out, 'thesis.svg'), 'utf8');
    for (const text of ['Nova scheduler, no QoS', 'one host, no QoS', 'one host, Gold/Wholesale', 'Mbit/s']) assert.ok(svg.includes(text), text);
    if (findBinary('rsvg-convert') !== undefined) assert.ok(existsSync(path.join(out, 'thesis.png')));
  });

  it('caps: each class download cap and upload cap within ±5%, both set through the agent (uploads as OpenFlow meters)', async () => {
    const prefix = `tc${String(process.pid % 100000)}`;
    // Uploads run 6 s: under a meter (a policer) TCP saw-tooths, and 3 s runs measured 94–105 % of the cap, 6 s runs 97–102 %.
    const result = await runCapsScenario({ scale: SCALE, durationS: DURATION_S, uploadDurationS: 6, outDir: out, prefix, meterExperiment: false });
    assert.deepEqual(await ourNamespaces(prefix), []);
    const download = result.checks.filter((c) => c.direction === 'download');
    assert.deepEqual(download.map((c) => c.sla).sort(), ['Gold', 'Wholesale']);
    for (const c of download) assert.equal(c.status, 'PASS', `${c.sla}: ${String(c.wireBps)} vs cap ${String(c.capBps)}`);
    const upload = result.checks.filter((c) => c.direction === 'upload');
    assert.equal(upload.length, 2);
    assert.deepEqual(upload.map((c) => c.sla).sort(), ['Gold', 'Wholesale']);
    for (const c of upload) {
      // auto picks meters: the testbed's bridges answer on OpenFlow and the userspace datapath has meters.
      assert.equal(c.method, 'OpenFlow meter via agent');
      assert.equal(c.status, 'PASS', `${c.sla} upload: ${String(c.wireBps)} vs cap ${String(c.capBps)}`);
    }
    assert.ok(existsSync(path.join(out, 'caps.svg')));
  });
});
