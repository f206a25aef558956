import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { HostEnforcement, type HostEnforcementOptions } from './host.ts';
import { OpenFlowMeterBackend } from './openflow-meter.ts';

const created: HostEnforcement[] = [];
const aborts: AbortController[] = [];
afterEach(() => {
  for (const a of aborts.splice(0)) a.abort();
  for (const h of created.splice(0)) h.stop();
});

function host(options: Partial<HostEnforcementOptions> & Pick<HostEnforcementOptions, 'upload'>): HostEnforcement {
  const h = new HostEnforcement({ host: 'compute1', owner: 'cm-agent-test', ...options });
  created.push(h);
  return h;
}

function signal(): AbortSignal {
  const a = new AbortController();
  aborts.push(a);
  return a.signal;
}

function meterBackend(h: HostEnforcement): OpenFlowMeterBackend {
  const b = h.backends.find((x) => x instanceof OpenFlowMeterBackend);
  assert.ok(b, 'the host runs the meter backend');
  return b;
}

async function until(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

const NOWHERE = 'unix:/nonexistent/x.mgmt';

describe('HostEnforcement: which mechanism caps uploads', () => {
  it('policing: only the OVSDB backend, policing', () => {
    const h = host({ upload: 'policing' });
    assert.deepEqual(h.backends.map((b) => b.name), ['ovsdb-qos']);
    assert.equal(h.upload().mechanism, 'policing');
    assert.match(h.upload().reason, /enforcement\.upload: policing/);
    assert.equal(h.sampler, undefined);
    assert.equal(h.openflowConnected(), undefined);
  });

  it('policing with an OpenFlow endpoint: still no meter backend, but rates are sampled', () => {
    const h = host({ upload: 'policing', openflow: { endpoint: NOWHERE } });
    assert.deepEqual(h.backends.map((b) => b.name), ['ovsdb-qos']);
    assert.equal(h.upload().mechanism, 'policing');
    assert.ok(h.sampler);
    assert.equal(h.openflowConnected(), false);
  });

  it('auto without an OpenFlow endpoint: policing, naming enforcement.openflow', () => {
    const h = host({ upload: 'auto' });
    assert.deepEqual(h.backends.map((b) => b.name), ['ovsdb-qos']);
    assert.equal(h.upload().mechanism, 'policing');
    assert.match(h.upload().reason, /^auto: .*enforcement\.openflow/);
  });

  it('meter without an OpenFlow endpoint: meter, with a reason saying there is none', () => {
    const h = host({ upload: 'meter' });
    assert.equal(h.upload().mechanism, 'meter');
    assert.match(h.upload().reason, /no OpenFlow endpoint/);
    assert.match(h.upload().reason, /enforcement\.openflow/);
  });

  it('meter with an endpoint: both backends, meter', () => {
    const h = host({ upload: 'meter', openflow: { endpoint: NOWHERE } });
    assert.deepEqual(h.backends.map((b) => b.name), ['ovsdb-qos', 'openflow-meter']);
    assert.deepEqual(h.upload(), { mechanism: 'meter', reason: 'configured (enforcement.upload: meter)' });
  });

  it('ratesIntervalMs 0 turns the sampler off', () => {
    assert.equal(host({ upload: 'auto', openflow: { endpoint: NOWHERE }, ratesIntervalMs: 0 }).sampler, undefined);
    assert.ok(host({ upload: 'auto', openflow: { endpoint: NOWHERE } }).sampler);
  });

  it('upload() is a copy', () => {
    const h = host({ upload: 'policing' });
    h.upload().mechanism = 'meter';
    assert.equal(h.upload().mechanism, 'policing');
  });

  it('auto with an endpoint: undecided until it connects, then policing when OpenFlow does not answer', async () => {
    const h = host({ upload: 'auto', openflow: { endpoint: NOWHERE }, autoDecisionMs: 50 });
    assert.deepEqual(h.backends.map((b) => b.name), ['ovsdb-qos', 'openflow-meter']);
    assert.equal(h.upload().mechanism, 'undecided');
    assert.match(h.upload().reason, /connecting to unix:\/nonexistent\/x\.mgmt/);
    // Undecided, the meter backend wants to enforce, so it is not ready before it has read the switch.
    assert.equal(meterBackend(h).ready(), false);

    h.start(signal());
    assert.equal(h.upload().mechanism, 'undecided', 'not decided at once');
    assert.ok(await until(() => h.upload().mechanism !== 'undecided', 2000), 'decided within 2 s');
    const choice = h.upload();
    assert.equal(choice.mechanism, 'policing');
    assert.match(choice.reason, /OpenFlow unix:\/nonexistent\/x\.mgmt did not answer within 50 ms/);
    // Policing: the meter backend wants nothing now.
    assert.equal(meterBackend(h).ready(), true);
    assert.equal(h.openflowConnected(), false);
  });

  it('does not decide before autoDecisionMs', async () => {
    const h = host({ upload: 'auto', openflow: { endpoint: NOWHERE }, autoDecisionMs: 1000 });
    h.start(signal());
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(h.upload().mechanism, 'undecided');
  });

  it('stop() cancels the pending decision', async () => {
    const h = host({ upload: 'auto', openflow: { endpoint: NOWHERE }, autoDecisionMs: 50 });
    h.start(signal());
    h.stop();
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(h.upload().mechanism, 'undecided');
  });

  it(
    'keeps trying to reach a bridge that was down when it started',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'cm-host-test-'));
      const path = join(dir, 'br-int.mgmt');
      const sockets: Socket[] = [];
      const server = createServer((socket) => {
        sockets.push(socket);
      });
      try {
        const h = host({ upload: 'auto', openflow: { endpoint: `unix:${path}` }, autoDecisionMs: 50 });
        h.start(signal());
        // Nothing listens yet: the first attempt fails. Then the bridge comes up.
        await new Promise((resolve) => setTimeout(resolve, 200));
        await new Promise<void>((resolve) => server.listen(path, resolve));
        // The client retries at least twice a second.
        assert.ok(await until(() => sockets.length > 0, 1500), 'a connection attempt reached the bridge after it came up');
      } finally {
        for (const s of sockets) s.destroy();
        await new Promise((resolve) => server.close(resolve));
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
