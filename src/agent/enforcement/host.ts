/**
 * The enforcement of one compute host: which backends it runs, which
 * mechanism caps uploads there and why, and the OpenFlow connection (shared by
 * the meter backend and the rate sampler).
 *
 * Upload modes (agent config `enforcement.upload`):
 * - `policing`: Interface.ingress_policing_* (needs the kernel's act_police).
 * - `meter`: an OpenFlow meter per port (needs the host's OpenFlow endpoint).
 * - `auto` (default): meters when the host's bridge answers on OpenFlow and
 *   its datapath supports meters; else policing. The agent cannot see a
 *   remote kernel's tc actions, so "police available" is not probed: meters
 *   are preferred because they do not depend on the kernel.
 */
import { OpenFlowClient } from '../../openflow/index.ts';
import type { TlsOptions } from '../../openflow/index.ts';
import { PortRateSampler } from './rates.ts';
import { OpenFlowMeterBackend, type MeterSupport } from './openflow-meter.ts';
import { PassiveListenerBackend } from './listener.ts';
import { OvsdbQosBackend } from './ovsdb-qos.ts';
import { PairLimiter } from './pair-limiter.ts';
import type { EnforcementBackend, UploadMechanism } from './types.ts';

export type UploadMode = 'auto' | 'meter' | 'policing';

export interface HostEnforcementOptions {
  host: string;
  owner: string;
  upload: UploadMode;
  /**
   * The host bridge's OpenFlow endpoint, when known; with `listener` (e.g.
   * `ptcp:6653:10.0.0.11`) the agent also keeps that passive listener on the
   * bridge through OVSDB.
   */
  openflow?: { endpoint: string; tls?: TlsOptions; listener?: string };
  meterBurstMs?: number;
  /** Rate sampling period, ms; 0 disables. @default 1000 */
  ratesIntervalMs?: number;
  /** How long `auto` waits for the OpenFlow connection before it uses policing, ms. @default 5000 */
  autoDecisionMs?: number;
  /** Guaranteed rates through pair limiters on this bridge (needs its OpenFlow endpoint). @default false */
  guarantees?: boolean;
}

export interface UploadChoice {
  mechanism: UploadMechanism | 'undecided';
  reason: string;
}

export class HostEnforcement {
  readonly backends: readonly EnforcementBackend[];
  readonly sampler: PortRateSampler | undefined;
  /** The pair limiters the guarantee controller programs, when the host has an OpenFlow endpoint and guarantees are on. */
  readonly pairs: PairLimiter | undefined;
  private readonly client: OpenFlowClient | undefined;
  private readonly meter: OpenFlowMeterBackend | undefined;
  private choice: UploadChoice;
  private decisionTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: HostEnforcementOptions) {
    const of = options.openflow;
    this.client = of
      ? new OpenFlowClient({
        endpoint: of.endpoint,
        ...(of.tls ? { tls: of.tls } : {}),
        // Retried at least twice a second: after an ovs-vswitchd restart the meters come back within a second of the switch.
        reconnect: { enabled: true, initialDelayMs: 50, maxDelayMs: 500 },
        callTimeoutMs: 10_000,
      })
      : undefined;
    if (options.upload === 'policing') this.choice = { mechanism: 'policing', reason: 'configured (enforcement.upload: policing); needs act_police in the host kernel' };
    else if (!of) {
      this.choice =
        options.upload === 'meter'
          ? { mechanism: 'meter', reason: 'configured (enforcement.upload: meter), but this host has no OpenFlow endpoint (enforcement.openflow)' }
          : { mechanism: 'policing', reason: 'auto: no OpenFlow endpoint for this host (enforcement.openflow), so ingress policing (needs act_police in the host kernel)' };
    } else this.choice = options.upload === 'meter' ? { mechanism: 'meter', reason: 'configured (enforcement.upload: meter)' } : { mechanism: 'undecided', reason: `auto: connecting to ${of.endpoint}` };

    const ovsdb = new OvsdbQosBackend({ owner: options.owner, upload: () => (this.choice.mechanism === 'policing' ? 'policing' : 'none') });
    const listener =
      this.client && of?.listener !== undefined ? [new PassiveListenerBackend({ bridge: 'br-int', target: of.listener, owner: options.owner }, this.client)] : [];
    if (this.client && of && options.upload !== 'policing') {
      this.meter = new OpenFlowMeterBackend({
        owner: options.owner,
        endpoint: of.endpoint,
        client: this.client,
        ...(options.meterBurstMs === undefined ? {} : { burstMs: options.meterBurstMs }),
        active: () => this.choice.mechanism !== 'policing',
        onMeterSupport: (support) => {
          this.onMeterSupport(support);
        },
      });
      this.backends = [...listener, ovsdb, this.meter];
    } else this.backends = [...listener, ovsdb];
    this.pairs = this.client && options.guarantees === true ? new PairLimiter({ host: options.host, owner: options.owner, client: this.client }) : undefined;
    const interval = options.ratesIntervalMs ?? 1000;
    const meter = this.meter;
    this.sampler =
      this.client && interval > 0
        ? new PortRateSampler(this.client, { intervalMs: interval, ...(meter ? { meterIdOf: (ofport: number) => meter.meterIdOf(ofport) } : {}) })
        : undefined;
  }

  /** Connects OpenFlow (in the background: an unreachable bridge never holds the host's OVSDB enforcement) and starts sampling. */
  start(signal: AbortSignal): void {
    if (!this.client) return;
    // The client repairs lost connections itself, but not a first connection that fails: retry that here
    // (a listener the agent adds through OVSDB only exists a moment later; a switch may be restarting).
    const client = this.client;
    const firstConnection = async (): Promise<void> => {
      for (let delay = 50; !signal.aborted; delay = Math.min(delay * 2, 500)) {
        try {
          await client.connect({ signal });
          return;
        } catch {
          await new Promise((resolve) => setTimeout(resolve, delay).unref());
        }
      }
    };
    void firstConnection();
    this.sampler?.start();
    if (this.choice.mechanism === 'undecided') {
      this.decisionTimer = setTimeout(() => {
        if (this.choice.mechanism !== 'undecided') return;
        this.setChoice({ mechanism: 'policing', reason: `auto: OpenFlow ${this.options.openflow?.endpoint ?? ''} did not answer within ${String(this.options.autoDecisionMs ?? 5000)} ms, so ingress policing until it does` });
      }, this.options.autoDecisionMs ?? 5000);
      this.decisionTimer.unref();
    }
  }

  stop(): void {
    if (this.decisionTimer) clearTimeout(this.decisionTimer);
    this.sampler?.stop();
    this.client?.close();
  }

  upload(): UploadChoice {
    return { ...this.choice };
  }

  openflowConnected(): boolean | undefined {
    return this.client?.isConnected;
  }

  private onMeterSupport(support: MeterSupport): void {
    if (this.options.upload === 'meter') {
      this.setChoice({ mechanism: 'meter', reason: support.supported ? `configured (enforcement.upload: meter); ${support.reason}` : `configured (enforcement.upload: meter), but ${support.reason}` });
    } else if (support.supported) this.setChoice({ mechanism: 'meter', reason: `auto: ${support.reason}; meters need no tc police action in the kernel` });
    else this.setChoice({ mechanism: 'policing', reason: `auto: ${support.reason}, so ingress policing (needs act_police in the host kernel)` });
  }

  private setChoice(choice: UploadChoice): void {
    const changed = choice.mechanism !== this.choice.mechanism;
    this.choice = choice;
    if (changed) this.meter?.modeChanged();
  }
}
