/**
 * A VM's bandwidth SLA. Pure, and free of switch types: how an SLA becomes
 * switch state is each enforcement backend's business (src/agent/enforcement/).
 *
 * Directions are the VM's: download is what the VM receives (OVS egress on its
 * port), upload is what it sends (OVS ingress from its port).
 */

/** Rates in bit/s, bursts in bits; every value a non-negative safe integer. */
export interface Sla {
  download?: {
    /** Guaranteed rate. Meaningful only where the VM's traffic competes with others'. */
    minRate?: number;
    /** Cap of the VM's download. */
    maxRate: number;
    /** Shaper burst, bits. */
    burst?: number;
  };
  upload?: {
    /**
     * Guaranteed upload: the VM may send at least this much (to anywhere, hose
     * model) while the hosts' uplinks are not over-committed.
     */
    minRate?: number;
    /** Cap of the VM's upload. */
    maxRate: number;
    /** Burst of the upload limiter, bits; each mechanism has its default (see the backends). */
    burst?: number;
  };
  /**
   * Pair guarantees on top of the hose (pipe model): between this VM and each
   * peer server, in each direction, at least `minRate` while both want it.
   * From the manager's declared or derived traffic demands.
   */
  peers?: readonly PeerGuarantee[];
}

export interface PeerGuarantee {
  /** The peer's Nova server id (lower case). */
  readonly serverId: string;
  /** bit/s, > 0. */
  readonly minRate: number;
}

/**
 * An SLA as the agent's API writes it (`PUT /v1/servers/{id}/sla` body, `GET` answer): bit/s and bits.
 * Peers are an object keyed by the peer's server id, so a peer cannot be listed twice.
 */
export interface SlaRequestBody {
  download?: { min?: number; max: number; burst?: number };
  upload?: { min?: number; max: number; burst?: number };
  /** Pair guarantees by peer server id (lower case), in id order. */
  peers?: Record<string, { min: number }>;
}

/** The API form of an SLA. Stable: the same SLA always gives the same JSON (peers in id order, absent fields left out). */
export function slaRequestBody(sla: Sla): SlaRequestBody {
  const out: SlaRequestBody = {};
  if (sla.download) {
    out.download = {
      ...(sla.download.minRate === undefined ? {} : { min: sla.download.minRate }),
      max: sla.download.maxRate,
      ...(sla.download.burst === undefined ? {} : { burst: sla.download.burst }),
    };
  }
  if (sla.upload) {
    out.upload = {
      ...(sla.upload.minRate === undefined ? {} : { min: sla.upload.minRate }),
      max: sla.upload.maxRate,
      ...(sla.upload.burst === undefined ? {} : { burst: sla.upload.burst }),
    };
  }
  const peers = sortedPeers(sla.peers ?? []);
  // Object.fromEntries defines own properties: no key can reach the prototype.
  if (peers.length > 0) out.peers = Object.fromEntries(peers.map((p) => [p.serverId, { min: p.minRate }]));
  return out;
}

/** Peers in server id order (lower case), the one order every stored or shown form uses. */
export function sortedPeers(peers: readonly PeerGuarantee[]): PeerGuarantee[] {
  return peers
    .map((p) => ({ serverId: p.serverId.toLowerCase(), minRate: p.minRate }))
    .sort((a, b) => (a.serverId < b.serverId ? -1 : a.serverId > b.serverId ? 1 : 0));
}

/** The SLA wanted on one Neutron port of a server. */
export interface PortSla {
  readonly serverId: string;
  readonly portId: string;
  readonly sla: Sla;
}
