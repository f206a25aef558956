/**
 * Live rates: each port's observed download and upload (bit/s), from the
 * switch's OpenFlow port counters sampled every `intervalMs`. Directions are
 * the VM's: download is what the switch transmits to the VM's port (tx),
 * upload what it receives from it (rx) less what the port's upload meter
 * dropped (the port counts packets before the meter sees them, so without
 * this a capped VM would seem to send what it tried to, not what passed).
 */
import type { OpenFlowClient, PortStats } from '../../openflow/index.ts';

export interface ObservedRate {
  downloadBps: number;
  uploadBps: number;
  /** ISO time of the later of the two samples the rate is computed from. */
  at: string;
  /** Seconds between the two samples. */
  intervalS: number;
}

export interface RateSamplerOptions {
  /** @default 1000 */
  intervalMs?: number;
  /** @default 5000 */
  timeoutMs?: number;
  /** The id of the upload meter of a port (by OpenFlow number), whose dropped bytes are subtracted from its upload. */
  meterIdOf?: (ofport: number) => number | undefined;
  now?: () => number;
}

interface Sample {
  readonly at: number;
  readonly rx: bigint;
  readonly tx: bigint;
  /** The meter whose drops `rx` excludes, and how long it has existed (a younger one was re-created: its counters restarted). */
  readonly meter?: { readonly id: number; readonly ageS: number };
}

/**
 * Rate between two counter samples; undefined when they cannot be compared:
 * counters that went back (a switch restart), or a meter whose drops one
 * sample subtracts and the other does not, or that was re-created between
 * them (its drop counter restarted) — either would make a false spike.
 */
export function rateBetween(older: Sample, newer: Sample): { downloadBps: number; uploadBps: number } | undefined {
  const seconds = (newer.at - older.at) / 1000;
  if (seconds <= 0 || newer.rx < older.rx || newer.tx < older.tx) return undefined;
  if (older.meter?.id !== newer.meter?.id) return undefined;
  if (older.meter && newer.meter && newer.meter.ageS < older.meter.ageS) return undefined;
  return { downloadBps: (Number(newer.tx - older.tx) * 8) / seconds, uploadBps: (Number(newer.rx - older.rx) * 8) / seconds };
}

export class PortRateSampler {
  private readonly latest = new Map<number, Sample>();
  private readonly rates = new Map<number, ObservedRate>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private lastError: string | undefined;

  constructor(
    private readonly client: OpenFlowClient,
    private readonly options: RateSamplerOptions = {},
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** The latest observed rate of the port with this OpenFlow number. */
  rate(ofport: number): ObservedRate | undefined {
    return this.rates.get(ofport);
  }

  /** Why there is no rate, when sampling fails. */
  error(): string | undefined {
    return this.client.isConnected ? this.lastError : 'OpenFlow not connected';
  }

  /** One sample now (the timer calls it; tests may too). */
  async sample(): Promise<void> {
    if (!this.client.isConnected) return;
    const now = this.options.now ?? Date.now;
    let stats: PortStats[];
    const dropped = new Map<number, { bytes: bigint; ageS: number }>();
    try {
      const timeoutMs = this.options.timeoutMs ?? 5000;
      const [ports, meters] = await Promise.all([
        this.client.portStats({ timeoutMs }),
        this.options.meterIdOf ? this.client.meterStats({ timeoutMs }) : Promise.resolve([]),
      ]);
      stats = ports;
      for (const m of meters) dropped.set(m.meterId, { bytes: m.bandStats.reduce((n, b) => n + b.byteBandCount, 0n), ageS: m.durationSec + m.durationNsec / 1e9 });
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      return;
    }
    this.lastError = undefined;
    const at = now();
    const seen = new Set<number>();
    for (const s of stats) {
      seen.add(s.portNo);
      const meterId = this.options.meterIdOf?.(s.portNo);
      const meter = meterId === undefined ? undefined : dropped.get(meterId);
      const sample: Sample =
        meterId !== undefined && meter
          ? { at, rx: s.rxBytes - meter.bytes, tx: s.txBytes, meter: { id: meterId, ageS: meter.ageS } }
          : { at, rx: s.rxBytes, tx: s.txBytes };
      const previous = this.latest.get(s.portNo);
      this.latest.set(s.portNo, sample);
      const r = previous ? rateBetween(previous, sample) : undefined;
      if (r && previous) this.rates.set(s.portNo, { ...r, at: new Date(at).toISOString(), intervalS: (at - previous.at) / 1000 });
    }
    for (const port of [...this.latest.keys()]) {
      if (!seen.has(port)) {
        this.latest.delete(port);
        this.rates.delete(port);
      }
    }
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.sample().finally(() => {
        this.schedule();
      });
    }, this.options.intervalMs ?? 1000);
    this.timer.unref();
  }
}
