/** `cm hosts` and `cm servers`: the agent's view of the cloud (GET /v1/hosts, GET /v1/sla). */
import { Command } from 'commander';
import { allV1HostPages, type V1Host, type V1Hosts, type V1Resource, type V1Server } from '../../agent/hosts-view.ts';
import type { SlaRequestBody } from '../../qos/sla.ts';
import type { CliContext } from '../context.ts';
import { dash, renderTable, stateColour } from '../output.ts';

export interface SlaStatusItem {
  server_id: string;
  server_name: string | null;
  host: string | null;
  version: number;
  desired: SlaRequestBody;
  state: 'applied' | 'pending' | 'drifted' | 'error';
  reason: string | null;
  ports: {
    port_id: string;
    host: string | null;
    ovs_port: string | null;
    state: string;
    reason: string | null;
    contested_by?: string | null;
    upload_mechanism?: string | null;
    upload_reason?: string | null;
    observed?: { download_bps: number; upload_bps: number; at: string; interval_s: number } | null;
    observed_error?: string | null;
  }[];
}

export interface SlaStatus {
  items: SlaStatusItem[];
  summary: Record<string, number>;
}

function usage(r: V1Resource | null, unit = ''): string {
  return r === null ? '-' : `${String(r.used)}/${String(r.capacity)}${unit}`;
}

export function hostsCommand(ctx: CliContext): Command {
  return new Command('hosts')
    .description("compute hosts as the agent sees them: state, capacity used/available, switch (GET /v1/hosts)")
    .option('--fresh', 'make the agent re-read the cloud first (Cache-Control: no-cache)')
    .action(async (opts: { fresh?: boolean }, command: Command) => {
      const agent = ctx.agent(command);
      const body = await allV1HostPages(async (path, first) => (await agent.call<V1Hosts>('GET', path, first && opts.fresh === true ? { headers: { 'cache-control': 'no-cache' } } : {})).body);
      ctx.print(command, body, (style) => {
        let text = renderTable<V1Host>(
          [
            { header: 'NAME', value: (h) => h.name },
            { header: 'STATE', value: (h) => h.state, colour: (h) => stateColour(h.state) },
            { header: 'STATUS', value: (h) => h.status, colour: (h) => stateColour(h.status) },
            { header: 'AZ', value: (h) => dash(h.availability_zone) },
            { header: 'VCPU', value: (h) => usage(h.resources.VCPU), align: 'right' },
            { header: 'RAM', value: (h) => usage(h.resources.MEMORY_MB, ' MiB'), align: 'right' },
            { header: 'DISK', value: (h) => usage(h.resources.DISK_GB, ' GiB'), align: 'right' },
            { header: 'INSTANCES', value: (h) => String(h.instances), align: 'right' },
            { header: 'OVSDB', value: (h) => h.ovsdb, colour: (h) => stateColour(h.ovsdb) },
          ],
          body.hosts,
          style,
        );
        const warnings = [...body.warnings, ...body.hosts.flatMap((h) => h.warnings.map((w) => `${h.name}: ${w}`))];
        if (body.stale) warnings.unshift(`stale data: the agent's latest refresh failed (${body.last_error?.message ?? 'unknown error'})`);
        if (warnings.length > 0) text += `\n${warnings.map((w) => `warning: ${w}`).join('\n')}\n`;
        return text;
      });
    });
}

interface ServerRow {
  server: V1Server;
  sla: SlaStatusItem | undefined;
}

export function serversCommand(ctx: CliContext): Command {
  return new Command('servers')
    .description('servers on every host and unplaced ones, with the state of their SLA (GET /v1/hosts, GET /v1/sla)')
    .option('--host <name>', 'only the servers of this host')
    .action(async (opts: { host?: string }, command: Command) => {
      const agent = ctx.agent(command);
      const [hosts, sla] = await Promise.all([allV1HostPages(async (path) => (await agent.call<V1Hosts>('GET', path)).body), agent.call<SlaStatus>('GET', '/v1/sla')]);
      const bySla = new Map(sla.body.items.map((i) => [i.server_id.toLowerCase(), i]));
      let servers = [...hosts.hosts.flatMap((h) => h.servers), ...hosts.unplaced_servers];
      if (opts.host !== undefined) servers = servers.filter((s) => s.host === opts.host);
      const rows: ServerRow[] = servers.map((server) => ({ server, sla: bySla.get(server.id.toLowerCase()) }));
      // The JSON is the API's server objects, each with its /v1/sla entry (null: no SLA), so one call answers both questions.
      const data = { items: rows.map((r) => ({ ...r.server, sla: r.sla ?? null })) };
      // People scan by host, then name; the JSON keeps the API's order.
      const sorted = [...rows].sort((a, b) => (a.server.host ?? '~').localeCompare(b.server.host ?? '~') || a.server.name.localeCompare(b.server.name));
      ctx.print(command, data, (style) =>
        renderTable<ServerRow>(
          [
            { header: 'ID', value: (r) => r.server.id },
            { header: 'NAME', value: (r) => r.server.name },
            { header: 'STATUS', value: (r) => r.server.status, colour: (r) => stateColour(r.server.status) },
            { header: 'HOST', value: (r) => dash(r.server.host) },
            { header: 'PORTS', value: (r) => portsOf(r.server) },
            { header: 'SLA', value: (r) => r.sla?.state ?? '-', colour: (r) => stateColour(r.sla?.state) },
          ],
          sorted,
          style,
        ),
      );
    });
}

/** Each port as its first IP (what people recognise), with the switch port when the agent found it. */
function portsOf(s: V1Server): string {
  if (s.ports.length === 0) return '-';
  return s.ports.map((p) => `${p.fixed_ips[0]?.ip_address ?? p.id.slice(0, 8)}${p.ovs ? `@${p.ovs.port_name}` : ''}`).join(', ');
}
