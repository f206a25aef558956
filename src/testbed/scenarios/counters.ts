/**
 * Frame counters of VM ports, read on the host side of each VM's veth while
 * flows run. What a VM receives is what its host-side device transmits (after
 * the HTB shaper), what it sends is what that device receives.
 *
 * Why not iperf3's own figures: each iperf3 test measures its own window, and
 * the clients of one run start tens of milliseconds apart, so adding two flows'
 * results mixes different windows (two flows into one 100 Mbit/s cap once
 * summed 109 % in a 3 s run). Counters sampled together give every port the
 * same window, in frames, as the shaper and the meters count them.
 */
import { run } from '../../ovsdb/local-server.ts';

export interface CounterTarget {
  /** The series' key, e.g. a server name. */
  label: string;
  /** The namespace holding the host side of the VM's veth. */
  netns: string;
  device: string;
}

export interface CounterSample {
  /** ms since the sampler started. */
  t: number;
  /** Frames the VM received (host-side tx), bytes. */
  rxBytes: number;
  /** Frames the VM sent (host-side rx), bytes. */
  txBytes: number;
}

export type CounterSeries = ReadonlyMap<string, readonly CounterSample[]>;

interface LinkStats {
  ifname?: string;
  stats64?: { rx?: { bytes?: number }; tx?: { bytes?: number } };
}

async function readNamespace(netns: string): Promise<Map<string, { rx: number; tx: number }>> {
  const { stdout } = await run('ip', ['-n', netns, '-s', '-j', 'link', 'show']);
  const out = new Map<string, { rx: number; tx: number }>();
  for (const link of JSON.parse(stdout) as LinkStats[]) {
    if (link.ifname !== undefined) out.set(link.ifname, { rx: link.stats64?.rx?.bytes ?? 0, tx: link.stats64?.tx?.bytes ?? 0 });
  }
  return out;
}

/** Samples every target every `intervalMs` until `stop()`; one `ip` call per namespace per sample. */
export class PortCounters {
  private readonly samples = new Map<string, CounterSample[]>();
  private readonly started = performance.now();
  private timer: NodeJS.Timeout | undefined;
  private pending: Promise<void> = Promise.resolve();
  private failure: Error | undefined;

  private constructor(
    private readonly targets: readonly CounterTarget[],
    private readonly intervalMs: number,
  ) {
    for (const t of targets) this.samples.set(t.label, []);
  }

  static async start(targets: readonly CounterTarget[], intervalMs = 200): Promise<PortCounters> {
    const counters = new PortCounters(targets, intervalMs);
    await counters.sample();
    counters.timer = setInterval(() => {
      counters.pending = counters.pending.then(() => counters.sample()).catch((error: unknown) => {
        counters.failure ??= error instanceof Error ? error : new Error(`port counters: ${String(error)}`);
      });
    }, intervalMs);
    return counters;
  }

  /** ms since start, on the same clock as the samples. */
  now(): number {
    return performance.now() - this.started;
  }

  async stop(): Promise<CounterSeries> {
    if (this.timer) clearInterval(this.timer);
    await this.pending;
    await this.sample();
    if (this.failure !== undefined) throw this.failure;
    return this.samples;
  }

  private async sample(): Promise<void> {
    const byNs = new Map<string, CounterTarget[]>();
    for (const t of this.targets) byNs.set(t.netns, [...(byNs.get(t.netns) ?? []), t]);
    await Promise.all(
      [...byNs].map(async ([netns, targets]) => {
        const before = this.now();
        const stats = await readNamespace(netns);
        const t = (before + this.now()) / 2;
        for (const target of targets) {
          const s = stats.get(target.device);
          if (s) this.samples.get(target.label)?.push({ t, rxBytes: s.tx, txBytes: s.rx });
        }
      }),
    );
  }
}

/** The sample closest to `t` ms. */
function nearest(samples: readonly CounterSample[], t: number): CounterSample | undefined {
  let best: CounterSample | undefined;
  for (const s of samples) if (!best || Math.abs(s.t - t) < Math.abs(best.t - t)) best = s;
  return best;
}

/** Frame rate (bit/s) of one series between two instants (ms since start), from the samples nearest to them. */
export function frameRate(samples: readonly CounterSample[] | undefined, direction: 'rx' | 'tx', fromMs: number, toMs: number): number {
  const a = nearest(samples ?? [], fromMs);
  const b = nearest(samples ?? [], toMs);
  if (!a || !b || b.t <= a.t) return Number.NaN;
  const bytes = direction === 'rx' ? b.rxBytes - a.rxBytes : b.txBytes - a.txBytes;
  return (bytes * 8 * 1000) / (b.t - a.t);
}

/** Per-interval frame rates (bit/s) of a series: the time series charted by the scenarios. */
export function rateSeries(samples: readonly CounterSample[] | undefined, direction: 'rx' | 'tx'): { t: number; bps: number }[] {
  const out: { t: number; bps: number }[] = [];
  const s = samples ?? [];
  for (let i = 1; i < s.length; i++) {
    const a = s[i - 1];
    const b = s[i];
    if (!a || !b || b.t <= a.t) continue;
    const bytes = direction === 'rx' ? b.rxBytes - a.rxBytes : b.txBytes - a.txBytes;
    out.push({ t: b.t, bps: (bytes * 8 * 1000) / (b.t - a.t) });
  }
  return out;
}
