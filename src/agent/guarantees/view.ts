/**
 * What the guaranteed-rate controller shows: per VM, per host, per round. Kept
 * apart from the controller so that the API and the metrics read it without
 * importing anything that talks to a switch.
 */

/** How a host's uplink capacity is known. */
export interface UplinkCapacity {
  bps: number;
  source: 'config';
}

/** One VM's guarantees as the controller holds them now (bit/s). */
export interface VmGuaranteeView {
  serverId: string;
  host: string;
  download: DirectionView | null;
  upload: DirectionView | null;
  /** Pairs this VM is part of (either end). */
  pairs: number;
}

export interface DirectionView {
  guaranteeBps: number;
  /** Sum of the limits the controller gives this VM's active pairs in that direction. */
  allocatedBps: number;
  /** What its pairs carried in the last round (after the limiters). */
  deliveredBps: number;
  /** Whether the VM wants at least its guarantee now. */
  demand: boolean;
  /** Seconds in which it wanted its guarantee and got less than `violationFraction` of it. */
  violationSeconds: number;
}

export interface HostGuaranteeView {
  host: string;
  uplink: UplinkCapacity | null;
  /** Sums of the download/upload guarantees of the host's VMs (the hose admission's worst case: all of it crosses the uplink). */
  guaranteedDownloadBps: number;
  guaranteedUploadBps: number;
  /** Why the host's guarantees cannot all hold, when they cannot. */
  overcommitted: string | null;
  /** Pair limiters on this host (pairs whose sender is here). */
  limiters: number;
  /** The last error programming or reading this host's limiters. */
  error: string | null;
}

export interface RoundStats {
  rounds: number;
  lastRoundMs: number;
  /** CPU time (user + system) the rounds used, µs, since start. */
  cpuMicros: number;
  pairs: number;
  activePairs: number;
}

