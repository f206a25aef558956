import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MeterStats, OpenFlowClient, PortStats } from '../../openflow/index.ts';
import { PortRateSampler, rateBetween } from './rates.ts';

describe('rateBetween', () => {
  it('gives bit/s from byte deltas over the elapsed time', () => {
    // 250 000 bytes sent to the VM and 125 000 from it in 2 s: 1 Mbit/s down, 0.5 Mbit/s up.
    assert.deepEqual(rateBetween({ at: 1000, rx: 5n, tx: 7n }, { at: 3000, rx: 125_005n, tx: 250_007n }), { downloadBps: 1e6, uploadBps: 5e5 });
    assert.deepEqual(rateBetween({ at: 0, rx: 0n, tx: 0n }, { at: 500, rx: 0n, tx: 1n }), { downloadBps: 16, uploadBps: 0 });
  });

  it('is undefined when a counter went back (a switch restart)', () => {
    assert.equal(rateBetween({ at: 0, rx: 100n, tx: 100n }, { at: 1000, rx: 99n, tx: 200n }), undefined);
    assert.equal(rateBetween({ at: 0, rx: 100n, tx: 100n }, { at: 1000, rx: 200n, tx: 99n }), undefined);
  });

  it('is undefined when time does not advance', () => {
    assert.equal(rateBetween({ at: 1000, rx: 0n, tx: 0n }, { at: 1000, rx: 10n, tx: 10n }), undefined);
    assert.equal(rateBetween({ at: 2000, rx: 0n, tx: 0n }, { at: 1000, rx: 10n, tx: 10n }), undefined);
  });
});

function portStats(portNo: number, rxBytes: bigint, txBytes: bigint): PortStats {
  return {
    portNo,
    rxPackets: 0n,
    txPackets: 0n,
    rxBytes,
    txBytes,
    rxDropped: 0n,
    txDropped: 0n,
    rxErrors: 0n,
    txErrors: 0n,
    rxFrameErr: 0n,
    rxOverErr: 0n,
    rxCrcErr: 0n,
    collisions: 0n,
    durationSec: 0,
    durationNsec: 0,
  };
}

function meterStats(meterId: number, ...dropped: bigint[]): MeterStats {
  return {
    meterId,
    flowCount: 1,
    packetInCount: 0n,
    byteInCount: 0n,
    durationSec: 0,
    durationNsec: 0,
    bandStats: dropped.map((byteBandCount) => ({ packetBandCount: 0n, byteBandCount })),
  };
}

/** What the sampler needs of an OpenFlowClient, with the answers of the next call settable. */
class FakeClient {
  isConnected = true;
  ports: PortStats[] | Error = [];
  meters: MeterStats[] = [];
  meterCalls = 0;

  portStats(): Promise<PortStats[]> {
    return this.ports instanceof Error ? Promise.reject(this.ports) : Promise.resolve(this.ports);
  }

  meterStats(): Promise<MeterStats[]> {
    this.meterCalls++;
    return Promise.resolve(this.meters);
  }
}

function sampler(client: FakeClient, options: ConstructorParameters<typeof PortRateSampler>[1] & { clock: { t: number } }): PortRateSampler {
  const { clock, ...rest } = options;
  return new PortRateSampler(client as unknown as OpenFlowClient, { ...rest, now: () => clock.t });
}

describe('PortRateSampler', () => {
  it('has no rate after one sample, a rate after two: download = tx, upload = rx', async () => {
    const client = new FakeClient();
    const clock = { t: Date.parse('2024-05-01T12:00:00.000Z') };
    const s = sampler(client, { clock });
    client.ports = [portStats(5, 1000n, 2000n), portStats(6, 0n, 0n)];
    await s.sample();
    assert.equal(s.rate(5), undefined);
    client.ports = [portStats(5, 1000n + 62_500n, 2000n + 125_000n), portStats(6, 0n, 0n)];
    clock.t += 500;
    await s.sample();
    assert.deepEqual(s.rate(5), { downloadBps: 2e6, uploadBps: 1e6, at: '2024-05-01T12:00:00.500Z', intervalS: 0.5 });
    assert.deepEqual(s.rate(6), { downloadBps: 0, uploadBps: 0, at: '2024-05-01T12:00:00.500Z', intervalS: 0.5 });
    assert.equal(s.rate(7), undefined);
    assert.equal(s.error(), undefined);
    assert.equal(client.meterCalls, 0, 'no meter statistics without meterIdOf');
  });

  it("subtracts the bytes the port's upload meter dropped from its upload", async () => {
    const client = new FakeClient();
    const clock = { t: 0 };
    const s = sampler(client, { clock, meterIdOf: (ofport) => (ofport === 5 ? 0x4005 : undefined) });
    client.ports = [portStats(5, 10_000n, 0n), portStats(6, 10_000n, 0n)];
    client.meters = [meterStats(0x4005, 1000n), meterStats(0x4006, 1000n)];
    await s.sample();
    // In 1 s: 250 000 bytes from each VM; port 5's meter dropped 125 000 of them (over two bands).
    client.ports = [portStats(5, 260_000n, 0n), portStats(6, 260_000n, 0n)];
    client.meters = [meterStats(0x4005, 1000n + 100_000n, 25_000n), meterStats(0x4006, 1000n + 250_000n)];
    clock.t += 1000;
    await s.sample();
    assert.equal(s.rate(5)?.uploadBps, 1e6);
    // Port 6 has no meter of ours (meterIdOf names none): another meter's drops are not its business.
    assert.equal(s.rate(6)?.uploadBps, 2e6);
    assert.equal(client.meterCalls, 2);
  });

  it(
    'does not count the bytes a meter dropped before it went away as upload',
    async () => {
      const client = new FakeClient();
      const clock = { t: 0 };
      let meterId: number | undefined = 0x4005;
      const s = sampler(client, { clock, meterIdOf: () => meterId });
      client.ports = [portStats(5, 1_000_000n, 0n)];
      client.meters = [meterStats(0x4005, 900_000n)];
      await s.sample();
      clock.t += 1000;
      client.ports = [portStats(5, 1_000_125n, 0n)];
      client.meters = [meterStats(0x4005, 900_000n)];
      await s.sample();
      assert.equal(s.rate(5)?.uploadBps, 1000);
      // The meter is deleted: 125 more bytes from the VM in the next second, nothing dropped any more.
      meterId = undefined;
      client.meters = [];
      clock.t += 1000;
      client.ports = [portStats(5, 1_000_250n, 0n)];
      await s.sample();
      const upload = s.rate(5)?.uploadBps;
      assert.ok(upload === undefined || upload <= 1000, `upload ${String(upload)} bit/s after 125 bytes in 1 s`);
    },
  );

  it('a port that disappears loses its rate', async () => {
    const client = new FakeClient();
    const clock = { t: 0 };
    const s = sampler(client, { clock });
    client.ports = [portStats(5, 0n, 0n), portStats(6, 0n, 0n)];
    await s.sample();
    clock.t += 1000;
    client.ports = [portStats(5, 125n, 125n), portStats(6, 125n, 125n)];
    await s.sample();
    assert.ok(s.rate(5));
    clock.t += 1000;
    client.ports = [portStats(6, 250n, 250n)];
    await s.sample();
    assert.equal(s.rate(5), undefined);
    assert.deepEqual(s.rate(6)?.downloadBps, 1000);
    // Back again: one sample is not a rate yet (its old counters were forgotten).
    clock.t += 1000;
    client.ports = [portStats(5, 500n, 500n), portStats(6, 375n, 375n)];
    await s.sample();
    assert.equal(s.rate(5), undefined);
  });

  it('keeps the last rate when counters go back, and computes from the new ones next', async () => {
    const client = new FakeClient();
    const clock = { t: 0 };
    const s = sampler(client, { clock });
    client.ports = [portStats(5, 0n, 0n)];
    await s.sample();
    clock.t += 1000;
    client.ports = [portStats(5, 125n, 125n)];
    await s.sample();
    clock.t += 1000;
    client.ports = [portStats(5, 0n, 0n)];
    await s.sample();
    assert.equal(s.rate(5)?.downloadBps, 1000);
    clock.t += 1000;
    client.ports = [portStats(5, 250n, 250n)];
    await s.sample();
    assert.equal(s.rate(5)?.downloadBps, 2000);
  });

  it('reports a failing port-statistics call in error(), and clears it on the next success', async () => {
    const client = new FakeClient();
    const clock = { t: 0 };
    const s = sampler(client, { clock });
    client.ports = new Error('multipart port_stats: timed out');
    await s.sample();
    assert.equal(s.error(), 'multipart port_stats: timed out');
    client.ports = [portStats(5, 0n, 0n)];
    await s.sample();
    assert.equal(s.error(), undefined);
  });

  it('says it is not connected, and samples nothing while so', async () => {
    const client = new FakeClient();
    client.isConnected = false;
    const clock = { t: 0 };
    const s = sampler(client, { clock });
    client.ports = [portStats(5, 0n, 0n)];
    await s.sample();
    clock.t += 1000;
    client.isConnected = true;
    client.ports = [portStats(5, 125n, 125n)];
    await s.sample();
    assert.equal(s.rate(5), undefined, 'the first connected sample is the first sample');
    client.isConnected = false;
    assert.equal(s.error(), 'OpenFlow not connected');
  });
});
