import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatBps } from '../../placement/format.ts';
import type { SlaStatusItem } from './hosts.ts';
import { observedOf, watchLine } from './sla.ts';

type Port = SlaStatusItem['ports'][number];

const NOW = new Date('2024-05-01T12:00:01.250Z');

function port(over: Partial<Port> = {}): Port {
  return { port_id: 'p1', host: 'compute1', ovs_port: 'tap1', state: 'applied', reason: null, ...over };
}

function observed(download_bps: number, upload_bps: number): NonNullable<Port['observed']> {
  return { download_bps, upload_bps, at: '2024-05-01T12:00:01.000Z', interval_s: 1 };
}

function item(over: Partial<SlaStatusItem> = {}): SlaStatusItem {
  return {
    server_id: '7d4f7a61-1111-4222-8333-944455556666',
    server_name: 'web-1',
    host: 'compute1',
    version: 1,
    desired: { download: { max: 10_000_000 }, upload: { max: 5_000_000 } },
    state: 'applied',
    reason: null,
    ports: [port()],
    ...over,
  };
}

describe('cm sla watch: one line', () => {
  it('shows the time, both directions with their share of the max, the upload mechanism and the state', () => {
    const line = watchLine(
      item({ ports: [port({ observed: observed(9_980_000, 4_900_000), upload_mechanism: 'meter', observed_error: null })] }),
      NOW,
    );
    assert.equal(
      line,
      `12:00:01  ↓ ${formatBps(9_980_000)} (99.8 % of max ${formatBps(10_000_000)})  ↑ ${formatBps(4_900_000)} (98.0 % of max ${formatBps(5_000_000)}) [meter]  applied`,
    );
  });

  it('sums the ports of a server (and rounds to whole bit/s)', () => {
    const line = watchLine(
      item({
        ports: [
          port({ observed: observed(6_000_000.4, 1_000_000), upload_mechanism: 'policing' }),
          port({ port_id: 'p2', observed: observed(3_980_000, 3_900_000) }),
          port({ port_id: 'p3', observed: null, observed_error: 'no sample yet' }),
        ],
      }),
      NOW,
    );
    assert.equal(
      line,
      `12:00:01  ↓ ${formatBps(9_980_000)} (99.8 % of max ${formatBps(10_000_000)})  ↑ ${formatBps(4_900_000)} (98.0 % of max ${formatBps(5_000_000)}) [policing]  applied`,
    );
    assert.doesNotMatch(line, /no rate/, 'a rate of some port is a rate');
  });

  it('shows no share without a desired max, and no mechanism without an upload cap', () => {
    const line = watchLine(
      item({ desired: { download: { min: 1_000_000, max: 2_000_000 } }, state: 'pending', ports: [port({ observed: observed(1_500_000, 250_000), upload_mechanism: 'meter' })] }),
      NOW,
    );
    assert.equal(line, `12:00:01  ↓ ${formatBps(1_500_000)} (75.0 % of max ${formatBps(2_000_000)})  ↑ ${formatBps(250_000)}  pending`);
    const uploadOnly = watchLine(item({ desired: { upload: { max: 1_000_000 } }, ports: [port({ observed: observed(5, 1_000_000) })] }), NOW);
    assert.equal(uploadOnly, `12:00:01  ↓ ${formatBps(5)}  ↑ ${formatBps(1_000_000)} (100.0 % of max ${formatBps(1_000_000)})  applied`);
  });

  it('shows "-" and why when no port has a rate', () => {
    const line = watchLine(
      item({ state: 'drifted', ports: [port({ observed: null, observed_error: 'OpenFlow not connected', upload_mechanism: 'meter' })] }),
      NOW,
    );
    assert.equal(line, '12:00:01  ↓ -  ↑ - [meter]  drifted  (no rate: OpenFlow not connected)');
    assert.equal(watchLine(item({ ports: [port()] }), NOW), '12:00:01  ↓ -  ↑ -  applied');
    assert.equal(watchLine(item({ ports: [] }), NOW), '12:00:01  ↓ -  ↑ -  applied');
  });

  it('takes the time from `now`', () => {
    assert.match(watchLine(item(), new Date('2024-05-01T23:59:59.999Z')), /^23:59:59 {2}/);
    assert.match(watchLine(item(), new Date('2024-05-02T00:00:00.000Z')), /^00:00:00 {2}/);
  });
});

describe('cm sla list: observed column', () => {
  it('sums one direction over the ports', () => {
    const i = item({ ports: [port({ observed: observed(1_000_000, 10) }), port({ port_id: 'p2', observed: observed(2_500_000, 20.6) })] });
    assert.equal(observedOf(i, 'download_bps'), formatBps(3_500_000));
    assert.equal(observedOf(i, 'upload_bps'), formatBps(31));
  });

  it('skips ports without a rate', () => {
    const i = item({ ports: [port({ observed: null }), port({ port_id: 'p2', observed: observed(7_000, 3_000) }), port({ port_id: 'p3' })] });
    assert.equal(observedOf(i, 'download_bps'), formatBps(7_000));
    assert.equal(observedOf(i, 'upload_bps'), formatBps(3_000));
  });

  it('is "-" when no port has one', () => {
    assert.equal(observedOf(item({ ports: [port({ observed: null, observed_error: 'no sample yet' }), port({ port_id: 'p2' })] }), 'download_bps'), '-');
    assert.equal(observedOf(item({ ports: [] }), 'upload_bps'), '-');
  });

  it('shows a zero rate as a rate, not as "-"', () => {
    assert.equal(observedOf(item({ ports: [port({ observed: observed(0, 0) })] }), 'upload_bps'), formatBps(0));
  });
});
