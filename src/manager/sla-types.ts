/**
 * The live SLA rows of the manager's `GET /v1/sla` and `/v1/sla/stream`: declared once as a
 * TypeBox schema — the routes' response schema (so /docs lists every field) and the source of the
 * types the manager (src/manager/sla-feed.ts) and the dashboard's browser code (ui/, which imports
 * only the types) read them with.
 */
import { Type, type Static, type TSchema } from 'typebox';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Bps = (description: string) => Nullable(Type.Number({ description: `${description}; bit/s, null where not known or not set` }));

/** One VM's SLA as the dashboard shows it. */
export const SlaRowSchema = Type.Object({
  server_id: Type.String(),
  name: Nullable(Type.String()),
  host: Nullable(Type.String()),
  topology_id: Nullable(Type.String({ description: 'The topology the server is a unit of; null for an SLA the manager did not set' })),
  topology: Nullable(Type.String()),
  unit: Nullable(Type.String()),
  sla_class: Nullable(Type.String()),
  state: Type.String({ description: "The agent's enforcement state of the VM's ports (applied, pending, drifted, error)" }),
  reason: Nullable(Type.String()),
  download_min_bps: Bps('Download guarantee'),
  download_max_bps: Bps('Download cap'),
  upload_min_bps: Bps('Upload guarantee'),
  upload_max_bps: Bps('Upload cap'),
  download_bps: Bps("What the switch counted towards the VM (sum over its ports); null without live rates"),
  upload_bps: Bps('What the switch counted from the VM'),
  allocated_download_bps: Bps("The guarantee controller's allocation to the VM (download); null without one"),
  demand: Nullable(Type.Boolean({ description: 'Whether the VM wants at least its download guarantee now' })),
  violation_seconds: Nullable(Type.Number()),
  violating: Type.Boolean({ description: 'The violation seconds moved since the previous sample' }),
});
export type SlaRow = Static<typeof SlaRowSchema>;

export const SlaSampleSchema = Type.Object({
  at: Type.String({ format: 'date-time', description: 'Time of the poll' }),
  rows: Type.Array(SlaRowSchema),
  error: Nullable(Type.String({ description: 'Why this sample is empty or old (the agent did not answer), null when fresh' })),
});
export type SlaSample = Static<typeof SlaSampleSchema>;
