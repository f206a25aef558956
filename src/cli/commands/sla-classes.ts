/**
 * `cm sla-classes`: the SLA classes in force — the thesis's Gold/Wholesale, or
 * the `sla_classes` section of a manager configuration. Read from the file,
 * not from the manager, so it works before a manager runs and shows what a
 * configuration change would mean.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { readSlaClassConfig, uploadCapOf } from '../../topology/sla-classes.ts';
import { DEFAULT_SLA_CLASSES } from '../../topology/index.ts';
import { formatIssue, Issues, Located } from '../../topology/source.ts';
import type { SlaClass, SlaClassConfig } from '../../topology/types.ts';
import { formatBps } from '../../placement/format.ts';
import type { CliContext } from '../context.ts';
import { usageError } from '../errors.ts';
import { dash, renderTable } from '../output.ts';

export interface LoadedClasses {
  config: SlaClassConfig;
  /** Where they come from, for messages. */
  source: string;
}

/** The classes of `managerConfig`'s `sla_classes` (the defaults when the file has none); problems name file:line:col. */
export function loadSlaClasses(managerConfig: string | undefined): LoadedClasses {
  if (managerConfig === undefined) return { config: DEFAULT_SLA_CLASSES, source: 'the thesis defaults' };
  let text: string;
  try {
    text = readFileSync(managerConfig, 'utf8');
  } catch (error) {
    throw usageError(`--config: cannot read ${managerConfig}: ${(error as Error).message}`);
  }
  const issues = new Issues();
  const at = Located.parse({ name: managerConfig, text }, issues.list);
  if (issues.count === 0) {
    const root = at.value;
    const section = typeof root === 'object' && root !== null && !Array.isArray(root) ? (root as Record<string, unknown>).sla_classes : undefined;
    if (section === undefined) return { config: DEFAULT_SLA_CLASSES, source: `the thesis defaults (${managerConfig} has no sla_classes)` };
    const config = readSlaClassConfig({ at, path: ['sla_classes'], value: section }, issues);
    if (config) return { config, source: managerConfig };
  }
  throw usageError(`${managerConfig}: invalid sla_classes`, issues.list.map(formatIssue));
}

export interface SlaClassView {
  name: string;
  min_bps: number;
  max_bps: number;
  /** The upload cap as configured (`upload_max`); null: the class `max` when it has `upload_min`, else none. */
  upload_max_bps: number | null;
  upload_min_bps: number | null;
  burst_bits: number | null;
  /** Service types assigned to the class; `*` = the default for every other type. */
  assigned_to: string[];
}

export function classViews(config: SlaClassConfig): SlaClassView[] {
  return Object.values(config.classes).map((c: SlaClass) => ({
    name: c.name,
    min_bps: c.minBps,
    max_bps: c.maxBps,
    upload_max_bps: c.uploadMaxBps,
    upload_min_bps: c.uploadMinBps,
    burst_bits: c.burstBits,
    assigned_to: [
      ...Object.entries(config.assign)
        .filter(([, cls]) => cls === c.name)
        .map(([type]) => type)
        .sort(),
      ...(config.default === c.name ? ['*'] : []),
    ],
  }));
}

function uploadCapText(cls: SlaClass | undefined): string {
  const cap = cls === undefined ? null : uploadCapOf(cls);
  return cap === null ? '-' : formatBps(cap);
}

export function slaClassesCommand(ctx: CliContext): Command {
  return new Command('sla-classes')
    .description("the SLA classes in force: the thesis's Gold/Wholesale, or those of a manager configuration")
    .option('--config <file>', "a manager configuration: its sla_classes section")
    .action((opts: { config?: string }, command: Command) => {
      const { config, source } = loadSlaClasses(opts.config);
      const classes = classViews(config);
      ctx.print(command, { source, default: config.default, classes }, (style) =>
        renderTable<SlaClassView>(
          [
            { header: 'NAME', value: (c) => c.name },
            { header: 'MIN', value: (c) => formatBps(c.min_bps), align: 'right' },
            { header: 'MAX', value: (c) => formatBps(c.max_bps), align: 'right' },
            { header: 'UPLOAD MIN', value: (c) => (c.upload_min_bps === null ? '-' : formatBps(c.upload_min_bps)), align: 'right' },
            // What the agent is sent (see uploadCapOf): a class guaranteeing an upload without upload_max is capped at max.
            { header: 'UPLOAD MAX', value: (c) => uploadCapText(config.classes[c.name]), align: 'right' },
            { header: 'ASSIGNED TO', value: (c) => dash(c.assigned_to.map((t) => (t === '*' ? '(default: every other type)' : t)).join(', ')) },
          ],
          classes,
          style,
        ),
      );
    });
}
