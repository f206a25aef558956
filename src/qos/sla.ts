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
    /** Cap of the VM's upload. */
    maxRate: number;
    /** Burst of the upload limiter, bits; each mechanism has its default (see the backends). */
    burst?: number;
  };
}

/** An SLA as the agent's API writes it (`PUT /v1/servers/{id}/sla` body, `GET` answer): bit/s and bits. */
export interface SlaRequestBody {
  download?: { min?: number; max: number; burst?: number };
  upload?: { max: number; burst?: number };
}

export function slaRequestBody(sla: Sla): SlaRequestBody {
  const out: SlaRequestBody = {};
  if (sla.download) {
    out.download = {
      ...(sla.download.minRate === undefined ? {} : { min: sla.download.minRate }),
      max: sla.download.maxRate,
      ...(sla.download.burst === undefined ? {} : { burst: sla.download.burst }),
    };
  }
  if (sla.upload) out.upload = { max: sla.upload.maxRate, ...(sla.upload.burst === undefined ? {} : { burst: sla.upload.burst }) };
  return out;
}

/** The SLA wanted on one Neutron port of a server. */
export interface PortSla {
  readonly serverId: string;
  readonly portId: string;
  readonly sla: Sla;
}
