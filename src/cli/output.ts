/**
 * What `cm` prints: aligned tables for people, JSON or YAML for programs.
 * JSON/YAML are the API bodies unchanged, so scripts written against the API
 * and against `cm -o json` read the same fields.
 */
import YAML from 'yaml';

export type OutputFormat = 'table' | 'json' | 'yaml';
export const OUTPUT_FORMATS: readonly OutputFormat[] = ['table', 'json', 'yaml'];

export interface Out {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

export type Colour = 'bold' | 'green' | 'yellow' | 'red' | 'dim';
const SGR: Record<Colour, string> = { bold: '1', green: '32', yellow: '33', red: '31', dim: '2' };

export interface Styler {
  readonly enabled: boolean;
  paint(text: string, colour: Colour | undefined): string;
}

/** Colour only for a terminal, and never when NO_COLOR is set (https://no-color.org: any non-empty value). */
export function styler(out: Out, env: Readonly<Record<string, string | undefined>>): Styler {
  const enabled = out.isTTY === true && (env.NO_COLOR ?? '') === '' && env.TERM !== 'dumb';
  return {
    enabled,
    paint: (text, colour) => (enabled && colour !== undefined && text !== '' ? `\u001b[${SGR[colour]}m${text}\u001b[0m` : text),
  };
}

/** The colour a state word gets, whoever reports it (agent port states, topology states, host states). */
export function stateColour(state: string | null | undefined): Colour | undefined {
  switch (state) {
    case 'applied':
    case 'ACTIVE':
    case 'up':
    case 'enabled':
    case 'ok':
      return 'green';
    case 'pending':
    case 'drifted':
    case 'PLANNED':
    case 'DEPLOYING':
    case 'DEPLOYED':
    case 'ENFORCING':
    case 'DELETING':
      return 'yellow';
    case 'error':
    case 'FAILED':
    case 'down':
    case 'disabled':
    case 'unavailable':
      return 'red';
    case 'DELETED':
      return 'dim';
    default:
      return undefined;
  }
}

export interface Column<Row> {
  header: string;
  value: (row: Row) => string;
  align?: 'left' | 'right';
  colour?: (row: Row) => Colour | undefined;
}

/**
 * Columns separated by two spaces, padded on the visible text: colour codes
 * are added after padding so they never shift the alignment. The last column
 * is not padded, so lines carry no trailing blanks.
 */
export function renderTable<Row>(columns: readonly Column<Row>[], rows: readonly Row[], style?: Styler): string {
  const cells = rows.map((r) => columns.map((c) => oneLine(c.value(r))));
  const widths = columns.map((c, i) => Math.max(width(c.header), ...cells.map((row) => width(row[i] ?? ''))));
  const line = (values: readonly string[], paint: (text: string, i: number) => string): string =>
    values
      .map((v, i) => {
        const last = i === values.length - 1;
        const pad = ' '.repeat(Math.max(0, (widths[i] ?? 0) - width(v)));
        const painted = paint(v, i);
        if (columns[i]?.align === 'right') return pad + painted;
        return last ? painted : painted + pad;
      })
      .join('  ')
      .trimEnd();
  const out = [line(columns.map((c) => c.header), (h) => style?.paint(h, 'bold') ?? h)];
  cells.forEach((row, r) => {
    const source = rows[r] as Row;
    out.push(line(row, (v, i) => style?.paint(v, columns[i]?.colour?.(source)) ?? v));
  });
  return `${out.join('\n')}\n`;
}

/** `field  value` lines, as `openstack … show` prints one object. */
export function renderFields(fields: readonly (readonly [string, string])[], style?: Styler, colour?: (field: string, value: string) => Colour | undefined): string {
  return renderTable<readonly [string, string]>(
    [
      { header: 'FIELD', value: (f) => f[0] },
      { header: 'VALUE', value: (f) => f[1], colour: (f) => colour?.(f[0], f[1]) },
    ],
    fields,
    style,
  );
}

export function serialise(data: unknown, format: 'json' | 'yaml'): string {
  if (format === 'json') return `${JSON.stringify(data, null, 2)}\n`;
  // Long strings (explanations, reasons) must stay on one line: `lineWidth: 0` turns off folding.
  return YAML.stringify(data, { lineWidth: 0 });
}

/** Code points, not UTF-16 units: "→" and "—" in reasons count as one column. */
function width(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

/** `-` for what is absent, so every cell has something to align on. */
export function dash(value: string | number | null | undefined): string {
  return value === null || value === undefined || value === '' ? '-' : String(value);
}
