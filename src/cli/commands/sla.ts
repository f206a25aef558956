/** `cm sla get|set|rm|list`: per-server SLAs on the agent (/v1/servers/{id}/sla, /v1/sla). */
import { Command } from 'commander';
import { allV1HostPages, type V1Hosts } from '../../agent/hosts-view.ts';
import { formatBps } from '../../placement/format.ts';
import { isUuidLike } from '../../qos/validate.ts';
import { slaRequestBody, type SlaRequestBody } from '../../qos/sla.ts';
import { slaOf } from '../../topology/index.ts';
import type { CliContext } from '../context.ts';
import { CliError, EXIT, usageError } from '../errors.ts';
import type { ApiClient, PointerLabel } from '../http.ts';
import { dash, renderTable, stateColour, type Styler } from '../output.ts';
import type { SlaStatus, SlaStatusItem } from './hosts.ts';
import { loadSlaClasses } from './sla-classes.ts';

/** The PUT body as the options give it: rates as typed, for the agent to validate. */
interface SlaBody {
  download?: { min?: number | string; max?: number | string; burst?: number | string };
  upload?: { min?: number | string; max?: number | string; burst?: number | string };
  peers?: Record<string, { min: number | string }>;
}

interface StoredSla {
  server_id: string;
  sla: SlaRequestBody;
  host: string | null;
  source: string;
  version: number;
  created_at: string;
  updated_at: string;
}

/** The agent names body fields; the user typed options. */
const OPTION_OF: Record<string, string> = {
  '/download/min': '--download-min',
  '/download/max': '--download-max',
  '/download/burst': '--download-burst',
  '/upload/min': '--upload-min',
  '/upload/max': '--upload-max',
  '/upload/burst': '--upload-burst',
  '/download': '--download-*',
  '/upload': '--upload-*',
  '/peers': '--peer',
  '/params/id': 'SERVER',
};
const PEER_POINTER = /^\/peers\/([^/]+)(?:\/.*)?$/;
/** `/peers/<id>` and below name the `--peer` option that gave that id. */
const optionLabel: PointerLabel = (p) => {
  const peer = PEER_POINTER.exec(p)?.[1];
  if (peer !== undefined) return `--peer ${peer.replaceAll('~1', '/').replaceAll('~0', '~')}`;
  return OPTION_OF[p] ?? p;
};

/**
 * A server id, or a name looked up in the agent's inventory: people know
 * their VMs by name, the agent's API by UUID.
 */
export async function resolveServer(agent: ApiClient, ref: string): Promise<{ id: string; name: string | null }> {
  if (isUuidLike(ref)) return { id: ref.toLowerCase(), name: null };
  const body = await allV1HostPages(async (path) => (await agent.call<V1Hosts>('GET', path)).body);
  const matches = [...body.hosts.flatMap((h) => h.servers), ...body.unplaced_servers].filter((s) => s.name === ref);
  if (matches.length === 0) throw new CliError(EXIT.NOT_FOUND, `no server named "${ref}" in the agent's inventory`, ['hint: `cm servers` lists them; a server id works too']);
  if (matches.length > 1) throw new CliError(EXIT.REFUSED, `${String(matches.length)} servers are named "${ref}": give the id`, matches.map((s) => `${s.id}  ${s.host ?? '-'}`));
  const only = matches[0];
  if (!only) throw new Error('unreachable: one match expected');
  return { id: only.id, name: only.name };
}

function rate(v: number | undefined): string {
  return v === undefined ? '-' : formatBps(v);
}

function bits(v: number | undefined): string {
  return v === undefined ? '-' : `${String(v)} bit`;
}

function storedFields(s: StoredSla, state: SlaStatusItem | undefined): [string, string][] {
  return [
    ['server_id', s.server_id],
    ...(state?.server_name ? ([['name', state.server_name]] as [string, string][]) : []),
    ['host', dash(s.host)],
    ['download.min', rate(s.sla.download?.min)],
    ['download.max', rate(s.sla.download?.max)],
    ['download.burst', bits(s.sla.download?.burst)],
    ['upload.min', rate(s.sla.upload?.min)],
    ['upload.max', rate(s.sla.upload?.max)],
    ['upload.burst', bits(s.sla.upload?.burst)],
    ...peerFields(s.sla.peers),
    ...(state ? ([['state', state.state], ['reason', dash(state.reason)]] as [string, string][]) : []),
    ['source', s.source],
    ['version', String(s.version)],
    ['created_at', s.created_at],
    ['updated_at', s.updated_at],
  ];
}

/** A row per pair guarantee (`peers.<server id>`), or one `peers -` row when there is none. */
function peerFields(peers: SlaRequestBody['peers']): [string, string][] {
  const entries = Object.entries(peers ?? {});
  if (entries.length === 0) return [['peers', '-']];
  return entries.map(([id, p]) => [`peers.${id}`, rate(p.min)]);
}

function renderStored(s: StoredSla, state: SlaStatusItem | undefined): (style: Styler) => string {
  return (style) =>
    renderTable<[string, string]>(
      [
        { header: 'FIELD', value: (f) => f[0] },
        { header: 'VALUE', value: (f) => f[1], colour: (f) => (f[0] === 'state' ? stateColour(f[1]) : undefined) },
      ],
      storedFields(s, state),
      style,
    );
}

/** The enforcement state of one server, for the table only (the JSON stays the GET body as is). */
async function stateOf(ctx: CliContext, command: Command, agent: ApiClient, id: string): Promise<SlaStatusItem | undefined> {
  if (ctx.globals(command).output !== 'table') return undefined;
  const { body } = await agent.call<SlaStatus>('GET', '/v1/sla');
  return body.items.find((i) => i.server_id === id);
}

interface SetOptions {
  class?: string;
  config?: string;
  downloadMin?: string;
  downloadMax?: string;
  downloadBurst?: string;
  uploadMin?: string;
  uploadMax?: string;
  uploadBurst?: string;
  /** `SERVER_ID=RATE`, one per `--peer`. */
  peer?: string[];
}

/** Commander's way of collecting a repeated option. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/**
 * The `peers` object of the body from `--peer SERVER_ID=RATE` options. The id
 * and the rate go to the agent as typed (it names what is wrong with them);
 * only what would be lost in an object is refused here: an option without
 * `=`, and one server given twice (ids are case-insensitive).
 */
function peersOf(options: readonly string[]): Record<string, { min: string }> {
  const peers = new Map<string, { id: string; min: string }>();
  for (const option of options) {
    const eq = option.indexOf('=');
    if (eq <= 0 || eq === option.length - 1) throw usageError(`--peer ${option}: give SERVER_ID=RATE, e.g. --peer 3f2b6c1e-8d4a-4c3b-9a1e-0123456789ab=100mbit`);
    const id = option.slice(0, eq).trim();
    const min = option.slice(eq + 1).trim();
    const key = id.toLowerCase();
    if (peers.has(key)) throw usageError(`--peer ${id}: this server is given twice; give each peer once`);
    peers.set(key, { id, min });
  }
  // Object.fromEntries defines own properties, whatever the ids typed.
  return Object.fromEntries([...peers.values()].map((p) => [p.id, { min: p.min }]));
}

/** The PUT body: the class's rates (if any), overridden by each rate option given — sent as typed, so the agent's validation names them. */
export function slaBody(opts: SetOptions): SlaBody {
  const body: SlaBody = {};
  if (opts.class !== undefined) {
    const { config, source } = loadSlaClasses(opts.config);
    const cls = config.classes[opts.class];
    if (!cls) throw usageError(`--class: unknown SLA class "${opts.class}" in ${source} (known: ${Object.keys(config.classes).join(', ')})`);
    Object.assign(body, slaRequestBody(slaOf(cls)));
  } else if (opts.config !== undefined) {
    throw usageError('--config only chooses where --class is looked up; give --class too');
  }
  if (opts.downloadMin !== undefined || opts.downloadMax !== undefined || opts.downloadBurst !== undefined) {
    body.download = {
      ...body.download,
      ...(opts.downloadMin === undefined ? {} : { min: opts.downloadMin }),
      ...(opts.downloadMax === undefined ? {} : { max: opts.downloadMax }),
      ...(opts.downloadBurst === undefined ? {} : { burst: opts.downloadBurst }),
    };
  }
  if (opts.uploadMin !== undefined || opts.uploadMax !== undefined || opts.uploadBurst !== undefined) {
    body.upload = {
      ...body.upload,
      ...(opts.uploadMin === undefined ? {} : { min: opts.uploadMin }),
      ...(opts.uploadMax === undefined ? {} : { max: opts.uploadMax }),
      ...(opts.uploadBurst === undefined ? {} : { burst: opts.uploadBurst }),
    };
  }
  // Pair guarantees sit on top of a direction's rates; alone they are not an SLA (the agent says so too).
  if (body.download === undefined && body.upload === undefined) throw usageError('give --class NAME or the rates (--download-max, --download-min, --upload-max, …)');
  if (opts.peer !== undefined && opts.peer.length > 0) body.peers = peersOf(opts.peer);
  return body;
}

export function slaCommand(ctx: CliContext): Command {
  const sla = new Command('sla').description("a server's bandwidth SLA on the agent: what its switch port enforces");

  sla
    .command('get')
    .description('the desired SLA of a server and whether its switch applies it (GET /v1/servers/{id}/sla)')
    .argument('<server>', 'server id or name')
    .action(async (ref: string, _opts: unknown, command: Command) => {
      const agent = ctx.agent(command);
      const { id } = await resolveServer(agent, ref);
      const { body } = await agent.call<StoredSla>('GET', `/v1/servers/${encodeURIComponent(id)}/sla`, { pointerLabel: optionLabel });
      ctx.print(command, body, renderStored(body, await stateOf(ctx, command, agent, id)));
    });

  sla
    .command('set')
    .description('set the SLA of a server (PUT /v1/servers/{id}/sla; idempotent)')
    .argument('<server>', 'server id or name')
    .option('--class <name>', 'the rates of an SLA class (see cm sla-classes); rate options override them')
    .option('--config <file>', 'look --class up in this manager configuration instead of the defaults')
    .option('--download-min <rate>', 'guaranteed rate towards the VM, e.g. 100mbit')
    .option('--download-max <rate>', 'ceiling towards the VM, e.g. 1gbit')
    .option('--download-burst <size>', 'burst towards the VM, e.g. 96kbit')
    .option('--upload-min <rate>', 'guaranteed rate from the VM to anywhere, e.g. 50mbit (needs an upload ceiling: --upload-max or the class\'s)')
    .option('--upload-max <rate>', 'ceiling from the VM (an OpenFlow meter or ingress policing, as the agent chose for the host)')
    .option('--upload-burst <size>', 'burst from the VM')
    .option('--peer <server_id=rate>', 'guaranteed rate between this VM and another server, each way, on top of the min rates; repeatable', collect)
    .addHelpText(
      'after',
      '\nRates: integers in bit/s or tc notation (kbit, mbit, gbit; kbps, mbps, gbps = BYTES per second).\n' +
        'Example: cm sla set web-1 --download-min 100mbit --download-max 1gbit\n' +
        '         cm sla set web-1 --class Gold --upload-min 50mbit --upload-max 500mbit --peer 3f2b6c1e-8d4a-4c3b-9a1e-0123456789ab=20mbit',
    )
    .action(async (ref: string, opts: SetOptions, command: Command) => {
      const body = slaBody(opts);
      const agent = ctx.agent(command);
      const { id } = await resolveServer(agent, ref);
      const res = await agent.call<StoredSla>('PUT', `/v1/servers/${encodeURIComponent(id)}/sla`, { body, pointerLabel: optionLabel });
      if (ctx.globals(command).output === 'table') ctx.err(`${res.status === 201 ? 'created' : 'set'}: the SLA of ${id} (version ${String(res.body.version)}); \`cm sla get ${ref}\` shows when the switch applies it\n`);
      ctx.print(command, res.body, renderStored(res.body, undefined));
    });

  sla
    .command('rm')
    .alias('delete')
    .description('remove the SLA of a server; its switch settings are removed (DELETE /v1/servers/{id}/sla)')
    .argument('<server>', 'server id or name')
    .action(async (ref: string, _opts: unknown, command: Command) => {
      const agent = ctx.agent(command);
      const { id } = await resolveServer(agent, ref);
      await agent.call('DELETE', `/v1/servers/${encodeURIComponent(id)}/sla`, { pointerLabel: optionLabel });
      // The API answers 204; the machine-readable outputs still say what was done.
      ctx.print(command, { server_id: id, deleted: true }, () => '');
      if (ctx.globals(command).output === 'table') ctx.err(`removed: the SLA of ${id}\n`);
    });

  sla
    .command('list')
    .alias('ls')
    .description('every SLA: desired rates and what the switches apply (GET /v1/sla)')
    .option('--state <states>', 'only these states, comma-separated: applied, pending, drifted, error, orphaned')
    .action(async (opts: { state?: string }, command: Command) => {
      const { body } = await ctx.agent(command).call<SlaStatus>('GET', '/v1/sla');
      const wanted = opts.state?.split(',').map((s) => s.trim());
      const bad = wanted?.filter((s) => !['applied', 'pending', 'drifted', 'error', 'orphaned'].includes(s)) ?? [];
      if (bad.length > 0) throw usageError(`--state: unknown state ${bad.join(', ')} (applied, pending, drifted, error, orphaned)`);
      const data = wanted === undefined ? body : { ...body, items: body.items.filter((i) => wanted.includes(i.state)) };
      ctx.print(command, data, (style) => {
        const table = renderTable<SlaStatusItem>(
          [
            { header: 'SERVER', value: (i) => i.server_id },
            { header: 'NAME', value: (i) => dash(i.server_name) },
            { header: 'HOST', value: (i) => dash(i.host) },
            { header: 'DOWNLOAD', value: (i) => (i.desired.download ? `${rate(i.desired.download.min)} – ${rate(i.desired.download.max)}` : '-') },
            { header: 'UPLOAD', value: (i) => (i.desired.upload ? `${rate(i.desired.upload.min)} – ${rate(i.desired.upload.max)}` : '-') },
            { header: 'PEERS', value: (i) => peerCount(i.desired.peers), align: 'right' },
            { header: 'OBSERVED ↓', value: (i) => observedOf(i, 'download_bps'), align: 'right' },
            { header: 'OBSERVED ↑', value: (i) => observedOf(i, 'upload_bps'), align: 'right' },
            { header: 'STATE', value: (i) => i.state, colour: (i) => stateColour(i.state) },
            { header: 'REASON', value: (i) => dash(i.reason) },
          ],
          data.items,
          style,
        );
        const summary = Object.entries(body.summary)
          .filter(([, n]) => n > 0)
          .map(([s, n]) => `${String(n)} ${s}`)
          .join(', ');
        return summary === '' ? table : `${table}\n${summary}\n`;
      });
    });

  sla
    .command('watch')
    .description("a line per second with a server's desired and observed rates (GET /v1/sla?server_id=…); Ctrl-C stops")
    .argument('<server>', 'server id or name')
    .option('--interval <seconds>', 'seconds between lines', '1')
    .option('--count <n>', 'stop after this many lines (default: until Ctrl-C)')
    .action(async (ref: string, opts: { interval: string; count?: string }, command: Command) => {
      const interval = Number(opts.interval);
      if (!Number.isFinite(interval) || interval < 0.1 || interval > 3600) throw usageError('--interval: seconds between 0.1 and 3600');
      const count = opts.count === undefined ? Infinity : Number(opts.count);
      if (!Number.isSafeInteger(count) && count !== Infinity) throw usageError('--count: a whole number of lines');
      if (count < 1) throw usageError('--count: at least 1');
      const agent = ctx.agent(command);
      const { id, name } = await resolveServer(agent, ref);
      const json = ctx.globals(command).output !== 'table';
      if (!json) {
        ctx.out(`${name ?? id}: desired and observed rates, every ${String(interval)} s (observed = the switch's port counters; ↓ what the VM receives, ↑ what it sends)\n`);
      }
      const stop = new AbortController();
      const onSignal = (): void => {
        stop.abort();
      };
      process.once('SIGINT', onSignal);
      try {
        for (let n = 0; n < count; n++) {
          if (n > 0) await sleepUnlessAborted(interval * 1000, stop.signal);
          if (isAborted(stop.signal)) break;
          const { body } = await agent.call<SlaStatus>('GET', `/v1/sla?server_id=${encodeURIComponent(id)}`);
          const item = body.items[0];
          if (!item) throw new CliError(EXIT.NOT_FOUND, `server ${id} has no SLA on the agent`, ['hint: `cm sla set` gives it one']);
          if (json) {
            ctx.out(`${JSON.stringify({ at: new Date().toISOString(), server_id: id, state: item.state, desired: item.desired, ports: item.ports })}\n`);
            continue;
          }
          ctx.out(`${watchLine(item)}\n`);
        }
      } finally {
        process.off('SIGINT', onSignal);
      }
    });

  return sla;
}

/** Read through a call: the signal changes while the loop awaits. */
function isAborted(signal: AbortSignal): boolean {
  return signal.aborted;
}

function sleepUnlessAborted(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

/** How many pair guarantees an SLA has, `-` for none (`cm sla get` lists them). */
function peerCount(peers: SlaRequestBody['peers']): string {
  const n = Object.keys(peers ?? {}).length;
  return n === 0 ? '-' : String(n);
}

/** The sum over a server's ports of one observed direction, or why there is none. */
export function observedOf(item: SlaStatusItem, direction: 'download_bps' | 'upload_bps'): string {
  const observed = item.ports.map((p) => p.observed).filter((o) => o !== undefined && o !== null);
  if (observed.length === 0) return '-';
  return formatBps(Math.round(observed.reduce((n, o) => n + o[direction], 0)));
}

/** `12:00:01  ↓ 9.98 Mbit/s (99.8 % of max 10 Mbit/s)  ↑ 4.9 Mbit/s (98.0 % of max 5 Mbit/s) [meter]  applied` (UTC time) */
export function watchLine(item: SlaStatusItem, now = new Date()): string {
  const time = now.toISOString().slice(11, 19);
  const share = (max: number | undefined, value: number | undefined): string =>
    max === undefined || value === undefined ? '' : ` (${((value / max) * 100).toFixed(1)} % of max ${formatBps(max)})`;
  const sum = (direction: 'download_bps' | 'upload_bps'): number | undefined => {
    const observed = item.ports.map((p) => p.observed).filter((o) => o !== undefined && o !== null);
    return observed.length === 0 ? undefined : observed.reduce((n, o) => n + o[direction], 0);
  };
  const down = sum('download_bps');
  const up = sum('upload_bps');
  const mechanism = item.ports.find((p) => p.upload_mechanism)?.upload_mechanism;
  const why = item.ports.find((p) => p.observed_error)?.observed_error;
  const parts = [
    time,
    `↓ ${down === undefined ? '-' : formatBps(Math.round(down))}${share(item.desired.download?.max, down)}`,
    `↑ ${up === undefined ? '-' : formatBps(Math.round(up))}${share(item.desired.upload?.max, up)}${item.desired.upload && mechanism ? ` [${mechanism}]` : ''}`,
    item.state,
  ];
  if (down === undefined && up === undefined && why) parts.push(`(no rate: ${why})`);
  return parts.join('  ');
}
