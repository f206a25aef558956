/**
 * A VM's bandwidth SLA and its translation into switch settings. Pure.
 *
 * Directions are the VM's: download is what the VM receives (OVS egress on its
 * port → `linux-htb` QoS with queue 0), upload is what it sends (OVS ingress
 * on its port → `Interface.ingress_policing_*`, a policer).
 */
import type { PolicingSpec, PortQosSpec, PortSettings } from '../ovsdb/vswitch/index.ts';

/** Rates in bit/s, bursts in bits; every value a non-negative safe integer. */
export interface Sla {
  download?: {
    /** Guaranteed rate (HTB rate of queue 0). Meaningful only where queues compete. */
    minRate?: number;
    /** Cap of the VM's download. */
    maxRate: number;
    /** HTB burst of queue 0, bits. */
    burst?: number;
  };
  upload?: {
    /** Cap of the VM's upload (policer rate). */
    maxRate: number;
    /** Policer burst, bits; default 80 % of one second at maxRate (Neutron's default). */
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

/** Neutron's default policer burst: 80 % of the rate over one second. */
export const DEFAULT_UPLOAD_BURST_RATIO = 0.8;

export function downloadQos(sla: Sla): PortQosSpec | null {
  const d = sla.download;
  if (!d) return null;
  return {
    maxRate: d.maxRate,
    queues: [
      {
        ...(d.minRate === undefined ? {} : { minRate: d.minRate }),
        maxRate: d.maxRate,
        ...(d.burst === undefined ? {} : { burst: d.burst }),
      },
    ],
  };
}

export function uploadPolicing(sla: Sla): PolicingSpec | null {
  const u = sla.upload;
  if (!u) return null;
  // OVS takes kbit/s and kbit; round the rate up so the cap is never below what was asked.
  const rateKbps = Math.max(1, Math.ceil(u.maxRate / 1000));
  const burstBits = u.burst ?? Math.round(u.maxRate * DEFAULT_UPLOAD_BURST_RATIO);
  return { rateKbps, burstKbits: Math.max(1, Math.ceil(burstBits / 1000)) };
}

/**
 * The switch settings for one OVS port carrying `sla` (or none: `sla`
 * undefined removes what we set).
 */
export function portSettingsFor(portName: string, ifaceId: string, sla: Sla | undefined): PortSettings {
  return {
    port: portName,
    ifaceId,
    qos: sla ? downloadQos(sla) : null,
    policing: sla ? uploadPolicing(sla) : null,
  };
}
