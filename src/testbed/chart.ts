/**
 * Grouped bar charts as hand-written SVG (one group per scenario, one bar per
 * flow, caps as dashed lines with their tolerance band), time-series line
 * charts (rates over time with reference lines and event markers), and the
 * PNG made from either with rsvg-convert (Debian librsvg2-bin) when that is
 * installed.
 */
import { writeFileSync } from 'node:fs';
import { findBinary, run } from '../ovsdb/local-server.ts';

export interface ChartBar {
  /** Shown under the bar; a space may break it onto two lines. */
  label: string;
  /** Mbit/s. */
  value: number;
  /** Legend entry (colour) of the bar. */
  series: string;
  /** Mbit/s the flow is capped at, drawn as a dashed line over the bar. */
  cap?: number;
}

export interface ChartGroup {
  title: string;
  bars: ChartBar[];
}

export interface ChartSpec {
  title: string;
  subtitle?: string;
  yLabel: string;
  groups: ChartGroup[];
  series: { name: string; color: string }[];
  /** Draws ± this fraction around each cap as a shaded band. */
  capTolerance?: number;
}

const FONT = 'DejaVu Sans, Liberation Sans, Arial, sans-serif';
const SLOT = 92;
const BAR = 58;
const GROUP_GAP = 56;
const LEFT = 84;
const RIGHT = 40;
const TOP = 96;
const PLOT_HEIGHT = 340;
const BOTTOM = 130;

function esc(text: string): string {
  return text.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

/** The smallest 1/2/2.5/5 × 10^k at or above `value`. */
function niceCeil(value: number): number {
  if (value <= 0) return 1;
  const exp = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * exp >= value) return step * exp;
  return 10 * exp;
}

function fmt(value: number): string {
  if (value >= 100) return value.toFixed(0);
  if (value >= 10) return value.toFixed(1);
  return value.toFixed(2);
}

/** Group titles break after "N:" or "…:" so long ones fit under few bars. */
function splitTitle(title: string): string[] {
  const at = title.indexOf(': ');
  return at < 0 ? [title] : [title.slice(0, at + 1), title.slice(at + 2)];
}

function splitLabel(label: string): string[] {
  const at = label.indexOf(' ');
  return at < 0 ? [label] : [label.slice(0, at), label.slice(at + 1)];
}

export function renderBarChart(spec: ChartSpec): string {
  const barCount = spec.groups.reduce((n, g) => n + g.bars.length, 0);
  const gaps = (spec.groups.length - 1) * GROUP_GAP + 24;
  // Wide enough for the subtitle (about 7 px a character at 13 px) and for each group's title under its bars.
  const textWidth = Math.max((spec.subtitle?.length ?? 0) * 7 + 40 - LEFT - RIGHT, 640);
  const slot = Math.max(SLOT, ...spec.groups.map((g) => (Math.max(...splitTitle(g.title).map((l) => l.length)) * 8.5 + 16) / Math.max(1, g.bars.length)), (textWidth - gaps) / Math.max(1, barCount));
  const plotWidth = barCount * slot + gaps;
  const width = LEFT + plotWidth + RIGHT;
  const legendRows = Math.ceil((spec.series.length + 1) / 4);
  const height = TOP + PLOT_HEIGHT + BOTTOM + legendRows * 22;
  const tolerance = spec.capTolerance ?? 0;
  const peak = Math.max(...spec.groups.flatMap((g) => g.bars.flatMap((b) => [b.value, (b.cap ?? 0) * (1 + tolerance)])));
  const yMax = niceCeil(peak * 1.12);
  const y = (v: number): number => TOP + PLOT_HEIGHT - (v / yMax) * PLOT_HEIGHT;
  const colorOf = new Map(spec.series.map((s) => [s.name, s.color]));
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${String(width)}" height="${String(height)}" viewBox="0 0 ${String(width)} ${String(height)}" font-family="${FONT}">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="${String(width / 2)}" y="34" text-anchor="middle" font-size="20" font-weight="bold" fill="#222">${esc(spec.title)}</text>`);
  if (spec.subtitle) out.push(`<text x="${String(width / 2)}" y="60" text-anchor="middle" font-size="13" fill="#555">${esc(spec.subtitle)}</text>`);

  // Grid and y axis.
  for (let i = 0; i <= 5; i += 1) {
    const v = (yMax * i) / 5;
    const yy = y(v);
    out.push(`<line x1="${String(LEFT)}" y1="${yy.toFixed(1)}" x2="${String(LEFT + plotWidth)}" y2="${yy.toFixed(1)}" stroke="${i === 0 ? '#333' : '#e2e2e2'}" stroke-width="1"/>`);
    out.push(`<text x="${String(LEFT - 8)}" y="${(yy + 4).toFixed(1)}" text-anchor="end" font-size="12" fill="#333">${i === 0 ? '0' : esc(fmt(v))}</text>`);
  }
  out.push(`<line x1="${String(LEFT)}" y1="${String(TOP)}" x2="${String(LEFT)}" y2="${String(TOP + PLOT_HEIGHT)}" stroke="#333"/>`);
  const midY = TOP + PLOT_HEIGHT / 2;
  out.push(`<text x="22" y="${String(midY)}" text-anchor="middle" font-size="14" fill="#222" transform="rotate(-90 22 ${String(midY)})">${esc(spec.yLabel)}</text>`);

  let x = LEFT + 12;
  for (const [gi, group] of spec.groups.entries()) {
    const groupStart = x;
    for (const bar of group.bars) {
      const bx = x + (slot - BAR) / 2;
      const top = y(bar.value);
      out.push(`<rect x="${bx.toFixed(1)}" y="${top.toFixed(1)}" width="${String(BAR)}" height="${(TOP + PLOT_HEIGHT - top).toFixed(1)}" fill="${colorOf.get(bar.series) ?? '#888'}"/>`);
      // Above the cap band when the bar reaches into it, so the number never sits on the cap line.
      const labelY = Math.min(top, bar.cap === undefined ? top : y(bar.cap * (1 + tolerance)) - 3) - 5;
      out.push(`<text x="${(bx + BAR / 2).toFixed(1)}" y="${labelY.toFixed(1)}" text-anchor="middle" font-size="12" font-weight="bold" fill="#222">${esc(fmt(bar.value))}</text>`);
      if (bar.cap !== undefined) {
        const cy = y(bar.cap);
        if (tolerance > 0) {
          const hi = y(bar.cap * (1 + tolerance));
          const lo = y(bar.cap * (1 - tolerance));
          out.push(`<rect x="${(bx - 8).toFixed(1)}" y="${hi.toFixed(1)}" width="${String(BAR + 16)}" height="${(lo - hi).toFixed(1)}" fill="#d62728" fill-opacity="0.15"/>`);
        }
        out.push(`<line x1="${(bx - 8).toFixed(1)}" y1="${cy.toFixed(1)}" x2="${(bx + BAR + 8).toFixed(1)}" y2="${cy.toFixed(1)}" stroke="#d62728" stroke-width="2.5" stroke-dasharray="6 3"/>`);
      }
      const lines = splitLabel(bar.label);
      for (const [li, line] of lines.entries()) {
        out.push(`<text x="${(x + slot / 2).toFixed(1)}" y="${String(TOP + PLOT_HEIGHT + 18 + li * 15)}" text-anchor="middle" font-size="12" fill="#222">${esc(line)}</text>`);
      }
      x += slot;
    }
    const center = (groupStart + x) / 2;
    for (const [li, line] of splitTitle(group.title).entries()) {
      out.push(`<text x="${center.toFixed(1)}" y="${String(TOP + PLOT_HEIGHT + 58 + li * 17)}" text-anchor="middle" font-size="14" font-weight="bold" fill="#222">${esc(line)}</text>`);
    }
    if (gi < spec.groups.length - 1) {
      const sep = x + GROUP_GAP / 2;
      out.push(`<line x1="${sep.toFixed(1)}" y1="${String(TOP)}" x2="${sep.toFixed(1)}" y2="${String(TOP + PLOT_HEIGHT + 80)}" stroke="#bbb" stroke-dasharray="3 4"/>`);
      x += GROUP_GAP;
    }
  }

  // Legend: series colours, then the cap line.
  const legendTop = TOP + PLOT_HEIGHT + 106;
  const entries: { name: string; swatch: string }[] = spec.series.map((s) => ({ name: s.name, swatch: `<rect width="16" height="12" y="-10" fill="${s.color}"/>` }));
  entries.push({
    name: tolerance > 0 ? `cap (max-rate), band ±${String(Math.round(tolerance * 100))}%` : 'cap: receiver port max-rate (shared by its flows)',
    swatch: `<line x1="0" y1="-4" x2="18" y2="-4" stroke="#d62728" stroke-width="2.5" stroke-dasharray="6 3"/>`,
  });
  const colWidth = plotWidth / 4;
  for (const [i, entry] of entries.entries()) {
    const lx = LEFT + (i % 4) * colWidth;
    const ly = legendTop + Math.floor(i / 4) * 22;
    out.push(`<g transform="translate(${lx.toFixed(1)} ${String(ly)})">${entry.swatch}<text x="24" y="0" font-size="12" fill="#222">${esc(entry.name)}</text></g>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

export interface WrittenChart {
  svg: string;
  /** Undefined when no converter is installed (see `pngSkipped`). */
  png: string | undefined;
  pngSkipped?: string;
}

/** Writes FILE.svg and, with rsvg-convert installed, FILE.png next to it. */
export async function writeChart(spec: ChartSpec, basePath: string): Promise<WrittenChart> {
  return writeSvgAndPng(renderBarChart(spec), basePath);
}

async function writeSvgAndPng(text: string, basePath: string): Promise<WrittenChart> {
  const svg = `${basePath}.svg`;
  writeFileSync(svg, text);
  if (findBinary('rsvg-convert') === undefined) {
    return { svg, png: undefined, pngSkipped: 'rsvg-convert not installed (Debian package librsvg2-bin)' };
  }
  const png = `${basePath}.png`;
  // Twice the SVG's pixel size keeps text sharp when the picture is scaled down in a document.
  await run('rsvg-convert', ['--zoom', '2', '--background-color', 'white', '--output', png, svg]);
  return { svg, png };
}

export interface LineSeries {
  name: string;
  color: string;
  /** Non-finite `t` or `value` is skipped and breaks the line there. */
  points: readonly { t: number; value: number }[];
  dashed?: boolean;
}

export interface LineChartSpec {
  title: string;
  subtitle?: string;
  /** E.g. "time (s)". */
  xLabel: string;
  /** E.g. "Mbit/s (frames)". */
  yLabel: string;
  series: readonly LineSeries[];
  /** Horizontal reference lines, e.g. a guarantee: drawn dashed, labelled at the right end. */
  references?: readonly { label: string; value: number; color: string }[];
  /** Vertical markers, e.g. "VM 1 starts": thin line with a label at the top. */
  markers?: readonly { label: string; t: number }[];
}

const LINE_PLOT_WIDTH = 720;
const LINE_BOTTOM = 84;
const MARKER_ROW = 15;

/** Tick values: multiples of a 1/2/2.5/5 × 10^k step from `min` to `max`, about `count` of them. */
function niceTicks(min: number, max: number, count: number): { step: number; ticks: number[] } {
  const step = niceCeil((max - min) / count);
  const ticks: number[] = [];
  const eps = step * 1e-9;
  for (let v = Math.ceil((min - eps) / step) * step; v <= max + eps; v += step) ticks.push(Math.abs(v) < eps ? 0 : v);
  return { step, ticks };
}

/** A tick value with as many decimals as its step needs ("2.5", "40", "0.25"). */
function tickLabel(value: number, step: number): string {
  let decimals = Math.max(0, -Math.floor(Math.log10(step)));
  if (Math.abs(step * 10 ** decimals - Math.round(step * 10 ** decimals)) > 1e-6) decimals += 1;
  const text = value.toFixed(Math.min(decimals, 10));
  return /^-0(\.0*)?$/.test(text) ? text.slice(1) : text;
}

/** SVG path data for the finite points in order, a new sub-path after each gap; lone points come back separately. */
function linePath(points: readonly { x: number; y: number }[][]): { d: string; dots: { x: number; y: number }[] } {
  const parts: string[] = [];
  const dots: { x: number; y: number }[] = [];
  for (const run of points) {
    const [first] = run;
    if (first === undefined) continue;
    if (run.length === 1) {
      dots.push(first);
      continue;
    }
    parts.push(run.map((p, i) => `${i === 0 ? 'M' : 'L'}${p.x.toFixed(1)} ${p.y.toFixed(1)}`).join(' '));
  }
  return { d: parts.join(' '), dots };
}

export function renderLineChart(spec: LineChartSpec): string {
  const references = (spec.references ?? []).filter((r) => Number.isFinite(r.value));
  const finitePoints = spec.series.map((s) => s.points.filter((p) => Number.isFinite(p.t) && Number.isFinite(p.value)));
  const ts = finitePoints.flatMap((ps) => ps.map((p) => p.t));
  const markers = (spec.markers ?? []).filter((m) => Number.isFinite(m.t)).toSorted((a, b) => a.t - b.t);

  // x runs over the points' times, widened to any marker so none falls off the plot.
  const allT = [...ts, ...markers.map((m) => m.t)];
  let xMin = allT.length > 0 ? Math.min(...allT) : 0;
  let xMax = allT.length > 0 ? Math.max(...allT) : 1;
  if (xMax - xMin <= 0) {
    xMin -= 0.5;
    xMax += 0.5;
  }
  const peak = Math.max(0, ...finitePoints.flatMap((ps) => ps.map((p) => p.value)), ...references.map((r) => r.value));
  // A nice step (about five of them) and the first multiple of it clear of the peak, so the top is never far above the data.
  const yStep = niceCeil((peak * 1.08) / 5);
  const ySteps = Math.max(1, Math.ceil((peak * 1.08) / yStep));
  const yMax = ySteps * yStep;

  // Wide enough for the subtitle; room on the right for the reference labels.
  const plotWidth = Math.max(LINE_PLOT_WIDTH, (spec.subtitle?.length ?? 0) * 7 + 40 - LEFT - RIGHT);
  const right = Math.max(RIGHT, ...references.map((r) => r.label.length * 7 + 16));
  const width = LEFT + plotWidth + right;

  const x = (t: number): number => LEFT + ((t - xMin) / (xMax - xMin)) * plotWidth;

  // Marker labels: each in the first row (counting up from the plot) where it overlaps no earlier one.
  const rowEnds: number[] = [];
  const placed = markers.map((m) => {
    const half = (m.label.length * 6.5) / 2 + 4;
    const cx = Math.min(Math.max(x(m.t), half), width - half);
    let row = rowEnds.findIndex((end) => end <= cx - half);
    if (row < 0) {
      row = rowEnds.length;
      rowEnds.push(0);
    }
    rowEnds[row] = cx + half;
    return { marker: m, cx, row };
  });
  const top = Math.max(TOP, (spec.subtitle ? 76 : 52) + rowEnds.length * MARKER_ROW + 8);
  const y = (v: number): number => top + PLOT_HEIGHT - (Math.min(Math.max(v, 0), yMax) / yMax) * PLOT_HEIGHT;
  const plotBottom = top + PLOT_HEIGHT;

  const legendCols = Math.max(1, Math.min(4, Math.floor(plotWidth / Math.max(120, ...spec.series.map((s) => s.name.length * 7 + 40)))));
  const legendRows = Math.ceil(spec.series.length / legendCols);
  const height = plotBottom + LINE_BOTTOM + legendRows * 22;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${String(width)}" height="${String(height)}" viewBox="0 0 ${String(width)} ${String(height)}" font-family="${FONT}">`);
  out.push(`<rect width="100%" height="100%" fill="#ffffff"/>`);
  out.push(`<text x="${String(width / 2)}" y="34" text-anchor="middle" font-size="20" font-weight="bold" fill="#222">${esc(spec.title)}</text>`);
  if (spec.subtitle) out.push(`<text x="${String(width / 2)}" y="60" text-anchor="middle" font-size="13" fill="#555">${esc(spec.subtitle)}</text>`);

  // Grid and y axis.
  for (let i = 0; i <= ySteps; i += 1) {
    const v = i * yStep;
    const yy = y(v);
    out.push(`<line x1="${String(LEFT)}" y1="${yy.toFixed(1)}" x2="${String(LEFT + plotWidth)}" y2="${yy.toFixed(1)}" stroke="${v === 0 ? '#333' : '#e2e2e2'}" stroke-width="1"/>`);
    out.push(`<text x="${String(LEFT - 8)}" y="${(yy + 4).toFixed(1)}" text-anchor="end" font-size="12" fill="#333">${esc(tickLabel(v, yStep))}</text>`);
  }
  out.push(`<line x1="${String(LEFT)}" y1="${String(top)}" x2="${String(LEFT)}" y2="${String(plotBottom)}" stroke="#333"/>`);
  const midY = top + PLOT_HEIGHT / 2;
  out.push(`<text x="22" y="${String(midY)}" text-anchor="middle" font-size="14" fill="#222" transform="rotate(-90 22 ${String(midY)})">${esc(spec.yLabel)}</text>`);

  // x axis: nice ticks between the first and last time.
  const xTicks = niceTicks(xMin, xMax, 8);
  for (const t of xTicks.ticks) {
    const xx = x(t);
    out.push(`<line x1="${xx.toFixed(1)}" y1="${String(top)}" x2="${xx.toFixed(1)}" y2="${String(plotBottom)}" stroke="#f0f0f0" stroke-width="1"/>`);
    out.push(`<line x1="${xx.toFixed(1)}" y1="${String(plotBottom)}" x2="${xx.toFixed(1)}" y2="${String(plotBottom + 5)}" stroke="#333" stroke-width="1"/>`);
    out.push(`<text x="${xx.toFixed(1)}" y="${String(plotBottom + 19)}" text-anchor="middle" font-size="12" fill="#333">${esc(tickLabel(t, xTicks.step))}</text>`);
  }
  out.push(`<text x="${String(LEFT + plotWidth / 2)}" y="${String(plotBottom + 44)}" text-anchor="middle" font-size="14" fill="#222">${esc(spec.xLabel)}</text>`);

  // Markers: a thin vertical line, the label above the plot.
  for (const { marker, cx, row } of placed) {
    const xx = x(marker.t);
    out.push(`<line x1="${xx.toFixed(1)}" y1="${String(top - 4)}" x2="${xx.toFixed(1)}" y2="${String(plotBottom)}" stroke="#777" stroke-width="1"/>`);
    out.push(`<text x="${cx.toFixed(1)}" y="${String(top - 8 - row * MARKER_ROW)}" text-anchor="middle" font-size="11" fill="#444">${esc(marker.label)}</text>`);
  }

  // References: dashed across the plot, labelled right of it, labels nudged apart when the lines are close.
  let lastLabelY = -Infinity;
  for (const ref of references.toSorted((a, b) => b.value - a.value)) {
    const yy = y(ref.value);
    out.push(`<line x1="${String(LEFT)}" y1="${yy.toFixed(1)}" x2="${String(LEFT + plotWidth)}" y2="${yy.toFixed(1)}" stroke="${esc(ref.color)}" stroke-width="2" stroke-dasharray="6 3"/>`);
    const labelY = Math.max(yy + 4, lastLabelY + 13);
    lastLabelY = labelY;
    out.push(`<text x="${String(LEFT + plotWidth + 6)}" y="${labelY.toFixed(1)}" text-anchor="start" font-size="12" fill="${esc(ref.color)}">${esc(ref.label)}</text>`);
  }

  // Series: one path each, broken at non-finite points; a lone point between gaps is a dot.
  for (const s of spec.series) {
    const runs: { x: number; y: number }[][] = [[]];
    for (const p of s.points) {
      if (Number.isFinite(p.t) && Number.isFinite(p.value)) runs.at(-1)?.push({ x: x(p.t), y: y(p.value) });
      else if (runs.at(-1)?.length !== 0) runs.push([]);
    }
    const { d, dots } = linePath(runs);
    const color = esc(s.color);
    if (d !== '') out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"${s.dashed ? ' stroke-dasharray="8 4"' : ''}/>`);
    for (const dot of dots) out.push(`<circle cx="${dot.x.toFixed(1)}" cy="${dot.y.toFixed(1)}" r="2.5" fill="${color}"/>`);
  }

  // Legend: a line swatch per series.
  const legendTop = plotBottom + 72;
  const colWidth = plotWidth / legendCols;
  for (const [i, s] of spec.series.entries()) {
    const lx = LEFT + (i % legendCols) * colWidth;
    const ly = legendTop + Math.floor(i / legendCols) * 22;
    const swatch = `<line x1="0" y1="-4" x2="18" y2="-4" stroke="${esc(s.color)}" stroke-width="2.5"${s.dashed ? ' stroke-dasharray="8 4"' : ''}/>`;
    out.push(`<g transform="translate(${lx.toFixed(1)} ${String(ly)})">${swatch}<text x="24" y="0" font-size="12" fill="#222">${esc(s.name)}</text></g>`);
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

/** Writes FILE.svg and, with rsvg-convert installed, FILE.png next to it. */
export async function writeLineChart(spec: LineChartSpec, basePath: string): Promise<WrittenChart> {
  return writeSvgAndPng(renderLineChart(spec), basePath);
}
