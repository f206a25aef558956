/** The parts of the manager's answers the pages read. */
export interface HostDecision {
  host: string;
  reasons: string[];
}

export interface Explanation {
  summary: string;
  chosen: HostDecision[];
  rejected: HostDecision[];
  steps: string[];
}

export interface PlanView {
  feasible: boolean;
  strategy: string;
  hosts?: string[];
  assignments?: Record<string, string | null>;
  cross_host_bps?: number;
  uplink_bps?: Record<string, number>;
  reasons?: { resource?: string; message?: string; [k: string]: unknown }[];
  explanation: Explanation;
  planned_at?: string;
}

export interface UnitView {
  name: string;
  service_instance: string;
  sla_class: string | null;
  planned_host: string | null;
  host: string | null;
  server_id: string | null;
  sla_state: string | null;
}

export interface DemandView {
  between: [string, string];
  guaranteed_bps: number;
  crosses_uplink: boolean;
}

export interface EventView {
  seq: number;
  at: string;
  state: string;
  from_state: string | null;
  message: string;
}

export interface TopologyView {
  id: string;
  name: string;
  state: string;
  strategy: string;
  placement: PlanView | null;
  units: UnitView[];
  demands?: DemandView[];
  stack: { name: string | null; id: string | null };
  error: string | null;
  created_at: string;
  updated_at: string;
  events?: EventView[];
}

export type { SlaRow, SlaSample } from '../../src/manager/sla-types.ts';

export interface Use {
  used: number;
  capacity: number;
}

export interface HostRow {
  name: string;
  state: string;
  status: string;
  disabled_reason: string | null;
  availability_zone: string | null;
  instances: number;
  vcpu: Use | null;
  ram_mb: Use | null;
  disk_gb: Use | null;
  uplink_bps: number;
  committed_bps: number;
  topologies: string[];
  guarantees: { guaranteed_download_bps: number; guaranteed_upload_bps: number; overcommitted: string | null } | null;
  observed_download_bps: number | null;
  observed_upload_bps: number | null;
  ovsdb: string;
  openflow: string | null;
  owner_agent: string | null;
  warnings: string[];
}
