/**
 * The live SLA rows of the manager's `GET /v1/sla` and `/v1/sla/stream`: declared once, for the
 * manager (src/manager/sla-feed.ts) and the dashboard's browser code (ui/), so this file imports
 * nothing (the browser bundle takes only its types).
 */

/** One VM's SLA as the dashboard shows it. Rates in bit/s; null where not known or not set. */
export interface SlaRow {
  server_id: string;
  name: string | null;
  host: string | null;
  topology_id: string | null;
  topology: string | null;
  unit: string | null;
  sla_class: string | null;
  /** The agent's enforcement state of the VM's ports (applied, pending, drifted, error). */
  state: string;
  reason: string | null;
  download_min_bps: number | null;
  download_max_bps: number | null;
  upload_min_bps: number | null;
  upload_max_bps: number | null;
  /** What the switch counted on the VM's ports (sum over its ports); null without live rates. */
  download_bps: number | null;
  upload_bps: number | null;
  /** The guarantee controller's allocation to the VM (download), null without one. */
  allocated_download_bps: number | null;
  /** Whether the VM wants at least its download guarantee now. */
  demand: boolean | null;
  violation_seconds: number | null;
  /** The violation seconds moved since the previous sample. */
  violating: boolean;
}

export interface SlaSample {
  /** ISO time of the poll. */
  at: string;
  rows: SlaRow[];
  /** Why this sample is empty or old (the agent did not answer), null when fresh. */
  error: string | null;
}

