/**
 * The seam between the agent's generic per-host reconcile loop and the ways a
 * switch can enforce an SLA (OVSDB QoS rows, OpenFlow meters, …).
 *
 * A pass of the loop asks each backend of the host to plan the ports it
 * considers ({@link EnforcementBackend.plan}): per port an outcome (already
 * enforced, needs a change, or cannot be enforced and why) and a key of what
 * is wanted, so the loop can tell drift (the switch changed under an SLA we had
 * applied) from a new desire. The loop then commits the changes of the good
 * ports through each backend's one commit path ({@link BackendPass.prepare}).
 * Backends also render what they enforce in a neutral shape
 * ({@link EnforcedPortView}) that the API and metrics read without knowing
 * OVSDB or OpenFlow.
 */
import type { OvsdbClient } from '../../ovsdb/client.ts';
import type { Operation } from '../../ovsdb/operations.ts';
import type { VswitchView } from '../../ovsdb/vswitch/index.ts';
import type { Sla } from '../../qos/sla.ts';
import type { HostPort } from '../drift.ts';
import type { ForeignWrite, ForeignWriter } from '../drift.ts';

/** One OVS port a pass considers: it has a desired SLA, or something of ours to remove. */
export interface PortTarget {
  /** The Neutron port id (or `ovs-port:<name>` for a port we own rows on but cannot name). */
  readonly portId: string;
  readonly serverId: string;
  readonly hp: HostPort;
  /** The desired SLA; undefined removes whatever we set on the port. */
  readonly sla: Sla | undefined;
  readonly desired: boolean;
}

export type PortOutcome =
  | { readonly kind: 'in-sync' }
  | { readonly kind: 'change' }
  | {
      readonly kind: 'error';
      readonly reason: string;
      /** Another writer that owns what we need on this port. */
      readonly contestedBy?: ForeignWriter;
    };

/** A commit a backend prepared for one pass: nothing is written before `run`. */
export interface PreparedCommit {
  /** Rows/flows/meters to write (0: nothing to send). */
  readonly changes: number;
  /** Orphans of ours the commit deletes (rows or flows of ports gone). */
  readonly orphans: number;
  /**
   * True when `run` puts the context's `ovsdb.guard` into its own transaction (the fence
   * is then checked atomically with the write); otherwise the loop checks it just before.
   */
  readonly carriesGuard?: boolean;
  /** One atomic write per backend (one OVSDB transaction, one OpenFlow batch + barrier). */
  run(signal: AbortSignal): Promise<void>;
}

/** How the switch differs from what we had applied on a port. */
export interface Drift {
  detail: string;
  foreign: ForeignWrite;
  /**
   * False when what we had set was removed rather than rewritten (a controller
   * deleting flows it does not own at its start, a switch restart): putting it
   * back fights no one, so it never counts towards a fight and is repaired at
   * once. @default true
   */
  contestable?: boolean;
}

/** The plan of one backend for one pass. */
export interface BackendPass {
  outcome(portId: string): PortOutcome;
  /** A stable key of what this backend wants on the port (drift = same key applied before, now differs). */
  key(portId: string): string;
  /** How the switch differs from what we want, and who probably changed it. */
  drift(portId: string): Drift;
  /** Plans the writes for `included` ports (those the loop will commit) plus our orphans. */
  prepare(included: readonly string[]): PreparedCommit;
}

export type UploadMechanism = 'policing' | 'meter';

/** What a switch enforces on one port, whatever the mechanism. */
export interface EnforcedPortView {
  portName: string;
  interfaceName: string;
  ofport: number | null;
  download: EnforcedDownload | null;
  upload: EnforcedUpload | null;
}

export interface EnforcedQueue {
  number: number;
  id: string;
  minRateBps: number | null;
  maxRateBps: number | null;
  burstBits: number | null;
  priority: number | null;
}

export interface EnforcedDownload {
  /** The shaper, e.g. `linux-htb` (the QoS row's type). */
  mechanism: string;
  /** The QoS row's uuid. */
  id: string;
  type: string;
  maxRateBps: number | null;
  /** The agent owner tag on it, or null when another writer's. */
  managedBy: string | null;
  queues: EnforcedQueue[];
}

export interface EnforcedUpload {
  mechanism: UploadMechanism;
  rateKbps: number;
  burstKbits: number;
  managedBy: string | null;
  /** The OpenFlow meter id, with mechanism `meter`. */
  meterId?: number;
}

/** A host's enforcement, looked up by Neutron port id. */
export interface HostEnforcementView {
  port(ifaceId: string): EnforcedPortView | undefined;
}

export interface EnforcementBackend {
  /** e.g. `ovsdb-qos`, `openflow-meter`. */
  readonly name: string;
  /** True when the backend can plan (its connection is up and its view synced). */
  ready(): boolean;
  /** Why it is not ready, for status reasons. */
  notReadyReason(): string;
  /** True when `hp` carries something this backend created (so a pass must consider the port for removal). */
  ownsOn(hp: HostPort, snapshot: HostSnapshot): boolean;
  /** The Neutron port id our state on `hp` records, when its interface lost it. */
  recordedPortId?(hp: HostPort, snapshot: HostSnapshot): string | undefined;
  plan(targets: readonly PortTarget[], snapshot: HostSnapshot): BackendPass;
  /** What this backend enforces on the port, merged into the neutral view. */
  describe(hp: HostPort, snapshot: HostSnapshot): Partial<Pick<EnforcedPortView, 'download' | 'upload'>>;
  /** Connects what the backend needs beyond the host's OVSDB; `trigger` asks the loop for a pass, `full` for a full one. */
  start?(context: BackendContext): Promise<void>;
  stop?(): Promise<void>;
  /** Extra facts for /readyz and /v1/sla (e.g. the upload mechanism and why). */
  info?(): Record<string, unknown>;
}

/**
 * The host's switch database as one pass reads it: every host has one, and its
 * Port/Interface rows are where ports (and their Neutron ids and ofports) are found.
 */
export interface HostSnapshot {
  readonly view: VswitchView;
}

export interface BackendContext {
  readonly host: string;
  readonly owner: string;
  /** The host's OVSDB connection (shared by the loop and the backends). */
  readonly ovsdb: {
    readonly client: OvsdbClient;
    readonly db: string;
    readonly ioTimeoutMs: number;
    /** With several agent replicas: operations to put first in every transaction that writes the host (the fence's epoch guard). */
    readonly guard?: () => Operation[];
  };
  readonly signal: AbortSignal;
  trigger(full: boolean): void;
  log(event: object, level?: 'info' | 'warn'): void;
}
