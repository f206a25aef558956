/**
 * `cm topology plan|deploy|show|list|set-class|scale|delete`: the manager's /v1/plans and
 * /v1/topologies. Files are sent as their text, unparsed, so the manager's
 * errors point at the user's own lines and columns.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import { Command, Option } from 'commander';
import { formatBps } from '../../placement/format.ts';
import type { EventView, PlanResponse, PlanView, TopologyList, TopologyView } from '../../manager/contract.ts';
import { TOPOLOGY_STATES } from '../../store/manager-migrations.ts';
import { parseDuration, type CliContext } from '../context.ts';
import { CliError, EXIT, usageError } from '../errors.ts';
import type { ApiClient, PointerLabel } from '../http.ts';
import { dash, renderTable, stateColour, type Styler } from '../output.ts';

const STRATEGIES = ['single-host', 'traffic-aware', 'nova'] as const;
const STATES = TOPOLOGY_STATES;

// The manager's answers, as its contract declares them (src/manager/contract.ts).
type TopologyEvent = EventView;

interface SubmitOptions {
  services?: string[];
  strategy?: (typeof STRATEGIES)[number];
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    throw usageError(`${what}: cannot read ${file}: ${(error as Error).message}`);
  }
}

/** The request body and how to name its files in the manager's errors. */
function submission(file: string, opts: SubmitOptions): { body: Record<string, unknown>; pointerLabel: PointerLabel } {
  const services = opts.services ?? [];
  const body = {
    topology: readText(file, 'FILE'),
    topology_file: file,
    ...(services.length > 0 ? { services: services.map((f) => readText(f, '--services')) } : {}),
    ...(opts.strategy === undefined ? {} : { strategy: opts.strategy }),
  };
  // The manager calls the service documents services[0], services[1], …: give them back the names the user typed.
  const pointerLabel: PointerLabel = (p) => p.replace(/^services\[(\d+)\]/, (whole, i: string) => services[Number(i)] ?? whole);
  return { body, pointerLabel };
}

function explanationLines(e: PlanView['explanation'], reasons: readonly { message: string }[] = []): string {
  const out = [`summary: ${e.summary}`];
  if (reasons.length > 0) out.push('reasons:', ...reasons.map((r) => `  ${r.message}`));
  if (e.chosen.length > 0) out.push('chosen:', ...e.chosen.map((d) => `  ${d.host}: ${d.reasons.join('; ')}`));
  if (e.rejected.length > 0) out.push('rejected:', ...e.rejected.map((d) => `  ${d.host}: ${d.reasons.join('; ')}`));
  if (e.steps.length > 0) out.push('steps:', ...e.steps.map((s, i) => `  ${String(i + 1)}. ${s}`));
  return `${out.join('\n')}\n`;
}

function renderPlan(p: PlanResponse, style: Styler): string {
  const host = (unit: string): string => (p.plan.feasible ? dash(p.plan.assignments?.[unit]) : '-');
  let text = renderTable(
    [
      { header: 'UNIT', value: (u: PlanResponse['units'][number]) => u.name },
      { header: 'SERVICE INSTANCE', value: (u) => u.service_instance },
      { header: 'FLAVOR', value: (u) => u.flavor },
      { header: 'SLA CLASS', value: (u) => u.sla_class },
      { header: 'HOST', value: (u) => host(u.name) },
    ],
    p.units,
    style,
  );
  text += `\n${style.paint(p.plan.feasible ? `feasible (${p.plan.strategy})` : `infeasible (${p.plan.strategy})`, p.plan.feasible ? 'green' : 'red')}\n`;
  if (p.plan.feasible && (p.plan.cross_host_bps ?? 0) > 0) text += `guaranteed traffic between hosts: ${formatBps(p.plan.cross_host_bps ?? 0)}\n`;
  return text + explanationLines(p.plan.explanation, p.plan.reasons);
}

function renderTopology(t: TopologyView, style: Styler): string {
  const fields: [string, string][] = [
    ['id', t.id],
    ['name', t.name],
    ['state', t.state],
    ['strategy', t.strategy],
    ['hosts', dash(t.placement?.hosts?.join(', '))],
    ['placement', dash(t.placement?.explanation.summary)],
    ['stack', `${t.stack.name}${t.stack.id === null ? '' : ` (${t.stack.id})`}`],
    ['error', t.error === null ? '-' : `${t.error.code}: ${t.error.message}`],
    ['attempts', String(t.attempts)],
    ['created_at', t.created_at],
    ['updated_at', t.updated_at],
  ];
  let text = renderTable<[string, string]>(
    [
      { header: 'FIELD', value: (f) => f[0] },
      { header: 'VALUE', value: (f) => f[1], colour: (f) => (f[0] === 'state' ? stateColour(f[1]) : undefined) },
    ],
    fields,
    style,
  );
  if (t.units.length > 0) {
    text += `\n${renderTable(
      [
        { header: 'UNIT', value: (u: TopologyView['units'][number]) => u.name },
        { header: 'SERVICE INSTANCE', value: (u) => dash(u.service_instance) },
        { header: 'SLA CLASS', value: (u) => dash(u.sla_class) },
        { header: 'PLANNED HOST', value: (u) => dash(u.planned_host) },
        { header: 'HOST', value: (u) => dash(u.host) },
        { header: 'SERVER', value: (u) => dash(u.server_id) },
        { header: 'SLA', value: (u) => dash(u.sla_state), colour: (u) => stateColour(u.sla_state) },
      ],
      t.units,
      style,
    )}`;
  }
  if (t.events && t.events.length > 0) {
    text += `\n${renderTable(
      [
        { header: 'TIME', value: (e: TopologyEvent) => e.at },
        { header: 'STATE', value: (e) => e.state, colour: (e) => stateColour(e.state) },
        { header: 'MESSAGE', value: (e) => e.message },
      ],
      t.events,
      style,
    )}`;
  }
  return text;
}

interface WaitOptions {
  wait?: boolean;
  waitTimeout: string;
  pollInterval: string;
}

/**
 * Polls the topology until it reaches one of `until` or FAILED, printing each
 * new event (every state change, with its reason) to stderr, so stdout keeps
 * only the final document.
 */
async function follow(ctx: CliContext, manager: ApiClient, first: TopologyView, until: readonly string[], opts: WaitOptions): Promise<TopologyView> {
  const timeoutMs = parseDuration(opts.waitTimeout, '--wait-timeout');
  const pollMs = parseDuration(opts.pollInterval, '--poll-interval');
  const deadline = Date.now() + timeoutMs;
  const style = ctx.styleErr();
  let lastSeq = 0;
  let lastState = '';
  const report = (t: TopologyView): void => {
    const fresh = (t.events ?? []).filter((e) => e.seq > lastSeq);
    for (const e of fresh) ctx.err(`${e.at.slice(11, 19)} ${style.paint(e.state.padEnd(9), stateColour(e.state))} ${e.message}\n`);
    if (fresh.length === 0 && t.state !== lastState) ctx.err(`${new Date().toISOString().slice(11, 19)} ${style.paint(t.state.padEnd(9), stateColour(t.state))}\n`);
    lastSeq = Math.max(lastSeq, ...fresh.map((e) => e.seq));
    lastState = t.state;
  };
  let t = first;
  report(t);
  while (!until.includes(t.state) && t.state !== 'FAILED') {
    if (Date.now() >= deadline) {
      throw new CliError(EXIT.FAILED, `topology ${t.id} is still ${t.state} after ${opts.waitTimeout}`, [`hint: follow it with \`cm topology show ${t.id}\``]);
    }
    try {
      await delay(pollMs, undefined, ctx.io.signal ? { signal: ctx.io.signal } : {});
    } catch {
      throw new CliError(EXIT.FAILED, `interrupted; topology ${t.id} is ${t.state} and carries on without you (\`cm topology show ${t.id}\`)`);
    }
    t = (await manager.call<TopologyView>('GET', `/v1/topologies/${encodeURIComponent(t.id)}`)).body;
    report(t);
  }
  return t;
}

function failedError(t: TopologyView): CliError {
  return new CliError(EXIT.FAILED, `topology ${t.name} (${t.id}) FAILED${t.error ? `: ${t.error.code}: ${t.error.message}` : ''}`, [`hint: details: \`cm topology show ${t.id}\``]);
}

export function topologyCommand(ctx: CliContext): Command {
  const topology = new Command('topology').description('topologies of VMs: plan (dry run), deploy, follow, delete (the manager)');
  const servicesOption = (): Option => new Option('--services <files...>', "service-type files (thesis JSON) for a thesis topology; default: the manager's catalog");
  const strategyOption = (): Option => new Option('--strategy <strategy>', "placement strategy; default: the manager's").choices(STRATEGIES);
  const waitOptions = (c: Command): Command =>
    c
      .option('--wait', 'follow the topology until it settles, progress on stderr')
      .option('--wait-timeout <duration>', 'give up waiting after this long (exit 1)', '15m')
      .option('--poll-interval <duration>', 'how often --wait asks', '1s');

  topology
    .command('plan')
    .description('where the topology would go and why, without deploying anything (POST /v1/plans)')
    .argument('<file>', 'a thesis topology JSON (with --services) or a single YAML topology')
    .addOption(servicesOption())
    .addOption(strategyOption())
    .action(async (file: string, opts: SubmitOptions, command: Command) => {
      const { body, pointerLabel } = submission(file, opts);
      const res = await ctx.manager(command).call<PlanResponse>('POST', '/v1/plans', { body, pointerLabel });
      ctx.print(command, res.body, (style) => renderPlan(res.body, style));
      // An infeasible plan is a refusal: scripts must not read "0" as "this topology fits".
      if (!res.body.plan.feasible) ctx.exitCode = EXIT.REFUSED;
    });

  waitOptions(
    topology
      .command('deploy')
      .description('plan and deploy a topology through Heat, then enforce its SLAs (POST /v1/topologies)')
      .argument('<file>', 'a thesis topology JSON (with --services) or a single YAML topology')
      .addOption(servicesOption())
      .addOption(strategyOption())
      .option('--idempotency-key <key>', 'a retry with the same key returns the same topology instead of a second one'),
  ).action(async (file: string, opts: SubmitOptions & WaitOptions & { idempotencyKey?: string }, command: Command) => {
    const { body, pointerLabel } = submission(file, opts);
    const manager = ctx.manager(command);
    const res = await manager.call<TopologyView>('POST', '/v1/topologies', {
      body,
      pointerLabel,
      ...(opts.idempotencyKey === undefined ? {} : { headers: { 'idempotency-key': opts.idempotencyKey } }),
    });
    let t = res.body;
    if (opts.wait === true) t = await follow(ctx, manager, t, ['ACTIVE'], opts);
    else if (ctx.globals(command).output === 'table') ctx.err(`accepted: ${t.id}; follow it with \`cm topology show ${t.id}\` (or deploy with --wait)\n`);
    ctx.print(command, t, (style) => renderTopology(t, style));
    if (t.state === 'FAILED') throw failedError(t);
  });

  topology
    .command('show')
    .description('state, placement with its reasons, units and history of a topology (GET /v1/topologies/{id})')
    .argument('<id>', 'topology id')
    .action(async (id: string, _opts: unknown, command: Command) => {
      const { body } = await ctx.manager(command).call<TopologyView>('GET', `/v1/topologies/${encodeURIComponent(id)}`);
      ctx.print(command, body, (style) => renderTopology(body, style));
    });

  topology
    .command('list')
    .alias('ls')
    .description('topologies, oldest first (GET /v1/topologies)')
    .option('--state <states>', `only these states, comma-separated (${STATES.join(', ')})`)
    .option('--limit <n>', 'at most this many (1–1000)')
    .option('--cursor <cursor>', 'continue after a previous page')
    .action(async (opts: { state?: string; limit?: string; cursor?: string }, command: Command) => {
      const query = new URLSearchParams();
      if (opts.state !== undefined) query.set('state', opts.state.toUpperCase());
      if (opts.limit !== undefined) query.set('limit', opts.limit);
      if (opts.cursor !== undefined) query.set('cursor', opts.cursor);
      const qs = query.size > 0 ? `?${query.toString()}` : '';
      const { body } = await ctx.manager(command).call<TopologyList>('GET', `/v1/topologies${qs}`, {
        pointerLabel: (p) => ({ '/query/state': '--state', '/query/limit': '--limit' })[p] ?? p,
      });
      ctx.print(command, body, (style) => {
        const table = renderTable<TopologyView>(
          [
            { header: 'ID', value: (t) => t.id },
            { header: 'NAME', value: (t) => t.name },
            { header: 'STATE', value: (t) => t.state, colour: (t) => stateColour(t.state) },
            { header: 'HOSTS', value: (t) => dash(t.placement?.hosts?.join(', ')) },
            { header: 'UNITS', value: (t) => String(t.units.length), align: 'right' },
            { header: 'UPDATED', value: (t) => t.updated_at },
          ],
          body.items,
          style,
        );
        return body.next_cursor === null ? table : `${table}\nmore: --cursor ${body.next_cursor}\n`;
      });
    });

  waitOptions(
    topology
      .command('set-class')
      .description("change a service instance's SLA class in place: no server touched, the agent re-applies (PATCH /v1/topologies/{id})")
      .argument('<id>', 'topology id')
      .argument('<instance>', 'service instance name (e.g. MediaServer)')
      .argument('<class>', 'SLA class (e.g. Gold, Wholesale; `cm sla-classes` lists them)'),
  ).action(async (id: string, instance: string, className: string, opts: WaitOptions, command: Command) => {
    const manager = ctx.manager(command);
    const pointer = `/body/service_instances/${instance}`;
    const res = await manager.call<TopologyView>('PATCH', `/v1/topologies/${encodeURIComponent(id)}`, {
      body: { service_instances: { [instance]: { sla_class: className } } },
      pointerLabel: (p) => (p === pointer ? '<instance>' : p === `${pointer}/sla_class` ? '<class>' : p),
    });
    let t = res.body;
    if (res.status === 200 && ctx.globals(command).output === 'table') ctx.err(`${instance} is already ${className}: nothing to change\n`);
    if (opts.wait === true && res.status === 202) t = await follow(ctx, manager, t, ['ACTIVE'], opts);
    ctx.print(command, t, (style) => renderTopology(t, style));
    if (t.state === 'FAILED') throw failedError(t);
  });

  waitOptions(
    topology
      .command('scale')
      .description("change a service instance's unit count within its size: new units next to their traffic peers, through a Heat stack update (PATCH /v1/topologies/{id})")
      .argument('<id>', 'topology id')
      .argument('<instance>', 'service instance name (e.g. MediaServer)')
      .argument('<count>', 'units wanted, within size.min..max'),
  ).action(async (id: string, instance: string, countText: string, opts: WaitOptions, command: Command) => {
    if (!/^\d{1,6}$/.test(countText)) throw usageError(`<count>: a whole number of units, got "${countText}"`);
    const manager = ctx.manager(command);
    const pointer = `/body/service_instances/${instance}`;
    const res = await manager.call<TopologyView>('PATCH', `/v1/topologies/${encodeURIComponent(id)}`, {
      body: { service_instances: { [instance]: { count: Number(countText) } } },
      pointerLabel: (p) => (p === pointer ? '<instance>' : p === `${pointer}/count` ? '<count>' : p),
    });
    let t = res.body;
    if (res.status === 200 && ctx.globals(command).output === 'table') ctx.err(`${instance} has ${countText} unit(s) already: nothing to change\n`);
    if (opts.wait === true && res.status === 202) t = await follow(ctx, manager, t, ['ACTIVE'], opts);
    ctx.print(command, t, (style) => renderTopology(t, style));
    if (t.state === 'FAILED') throw failedError(t);
  });

  waitOptions(
    topology
      .command('delete')
      .alias('rm')
      .description("remove a topology's SLAs and its Heat stack (DELETE /v1/topologies/{id})")
      .argument('<id>', 'topology id'),
  ).action(async (id: string, opts: WaitOptions, command: Command) => {
    const manager = ctx.manager(command);
    let t = (await manager.call<TopologyView>('DELETE', `/v1/topologies/${encodeURIComponent(id)}`)).body;
    if (opts.wait === true) t = await follow(ctx, manager, t, ['DELETED'], opts);
    ctx.print(command, t, (style) => renderTopology(t, style));
    if (t.state === 'FAILED') throw failedError(t);
  });

  return topology;
}
