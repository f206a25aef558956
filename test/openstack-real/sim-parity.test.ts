/**
 * The simulated cloud against the real one, call by call: the same requests to the Zed
 * services and to a simulated cloud (native plug, like the CI cloud) must answer with the same
 * status, headers and body shape (test/sim/real-zed.ts lists the calls and the documented
 * exceptions). With CM_REAL_RECORD=1 the real answers are written to test/sim/real-zed/, the
 * recordings test/sim/real-zed.test.ts pins the simulated cloud to in plain `npm test`.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { simAgentOptions } from '../../src/agent/main.ts';
import { createOpenStack, type OpenStack } from '../../src/openstack/index.ts';
import { startSimCloud, type SimCloud } from '../../src/sim/index.ts';
import { callParity, parityDiffs, PARITY_CALLS, prepareParityTarget, type ParityTarget } from '../sim/real-zed.ts';
import { cloudIds, openReal, PREFIX, realCloud, realSkip, removeLeftovers } from './cloud.ts';

const RECORD_DIR = path.resolve(import.meta.dirname, '../sim/real-zed');

describe('the simulated cloud answers like the real Zed services', { skip: realSkip }, () => {
  let real: OpenStack;
  let sim: SimCloud;
  let simOs: OpenStack;
  let realTarget: ParityTarget & { cleanup: () => Promise<void> };
  let simTarget: ParityTarget & { cleanup: () => Promise<void> };

  before(async () => {
    real = openReal();
    await removeLeftovers(real);
    const ids = await cloudIds(real, { flavor: 'm1.tiny', network: 'private' });
    const cfg = realCloud();
    realTarget = await prepareParityTarget(real, {
      flavor: 'm1.tiny',
      flavorId: ids.flavorId,
      image: 'tiny',
      imageId: ids.imageId,
      network: 'private',
      credentials: { username: cfg.auth.username ?? '', password: cfg.auth.password ?? '', projectName: cfg.auth.projectName ?? '' },
      prefix: PREFIX,
    });
    sim = await startSimCloud({ bootDelayMs: 10, ovsPlug: 'native' });
    const simCloud = simAgentOptions(sim).cloud;
    assert.ok(simCloud);
    simOs = createOpenStack(simCloud);
    const flavor = (await simOs.nova.listFlavors())[0];
    assert.ok(flavor);
    simTarget = await prepareParityTarget(simOs, {
      flavor: flavor.name,
      flavorId: flavor.id,
      image: 'cirros',
      imageId: '70a599e0-31e7-49b7-b260-868f441e862b',
      network: 'private',
      credentials: sim.credentials,
      prefix: PREFIX,
    });
  });

  after(async () => {
    await realTarget.cleanup();
    await simTarget.cleanup();
    await simOs.close();
    await sim.close();
    await real.close();
  });

  for (const call of PARITY_CALLS) {
    it(call.name, async () => {
      const r = await callParity(call, realTarget);
      const s = await callParity(call, simTarget);
      if (process.env.CM_REAL_RECORD === '1') {
        mkdirSync(RECORD_DIR, { recursive: true });
        writeFileSync(path.join(RECORD_DIR, `${call.name}.json`), `${JSON.stringify(r, null, 2)}\n`);
      }
      assert.deepEqual(parityDiffs(call.name, s, r), [], `real: ${JSON.stringify(r).slice(0, 1500)}\nsimulated: ${JSON.stringify(s).slice(0, 1500)}`);
    });
  }
});
