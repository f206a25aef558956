/**
 * A placement drawn: hosts as boxes with their units inside (Gold units in gold), guaranteed traffic
 * demands as lines between units; a demand whose units are on different hosts crosses both
 * hosts' uplinks and is drawn thick and dashed with its rate. Used for a deployed topology and for
 * a dry run's plan.
 */
import { svg } from './dom.ts';
import { bps } from './format.ts';

export interface DiagramInput {
  name: string;
  units: { name: string; service_instance: string; sla_class: string | null; sla_state: string | null; host: string | null; planned_host: string | null }[];
  demands?: { between: [string, string]; guaranteed_bps: number }[];
}

const UNIT_W = 150;
const UNIT_H = 40;
const GAP = 14;
const HOST_PAD = 16;
const HOST_GAP = 70;

export function diagram(t: DiagramInput): SVGElement {
  const byHost = new Map<string, string[]>();
  for (const u of t.units) {
    const host = u.host ?? u.planned_host ?? 'not placed';
    byHost.set(host, [...(byHost.get(host) ?? []), u.name]);
  }
  const hosts = [...byHost.keys()].sort();
  const cols = 2;
  const boxW = HOST_PAD * 2 + cols * UNIT_W + (cols - 1) * GAP;
  const rowsOf = (n: number): number => Math.max(1, Math.ceil(n / cols));
  const boxH = HOST_PAD * 2 + 24 + Math.max(...hosts.map((x) => rowsOf(byHost.get(x)?.length ?? 0))) * (UNIT_H + GAP) - GAP;
  const width = hosts.length * boxW + (hosts.length - 1) * HOST_GAP + 20;
  const height = boxH + 20;
  const centre = new Map<string, { x: number; y: number; host: string }>();
  const frames = svg('g', { class: 'frames' });
  const layer = svg('g', { class: 'units' });
  hosts.forEach((host, i) => {
    const x0 = 10 + i * (boxW + HOST_GAP);
    const y0 = 10;
    const g = svg('g', { class: 'host', 'data-host': host });
    frames.append(svg('rect', { x: x0, y: y0, width: boxW, height: boxH, rx: 8, class: 'host-frame' }), svg('text', { x: x0 + HOST_PAD, y: y0 + 22, class: 'host-name' }, host));
    (byHost.get(host) ?? []).forEach((name, j) => {
      const ux = x0 + HOST_PAD + (j % cols) * (UNIT_W + GAP);
      const uy = y0 + HOST_PAD + 24 + Math.floor(j / cols) * (UNIT_H + GAP);
      const unit = t.units.find((u) => u.name === name);
      const ug = svg('g', { class: `unit sla-${(unit?.sla_class ?? 'none').toLowerCase()}`, 'data-unit': name });
      ug.append(
        svg('rect', { x: ux, y: uy, width: UNIT_W, height: UNIT_H, rx: 5 }),
        svg('text', { x: ux + 8, y: uy + 17 }, name),
        svg('text', { x: ux + 8, y: uy + 32, class: 'unit-class' }, `${unit?.sla_class ?? 'no SLA'}${unit?.sla_state ? ` · ${unit.sla_state}` : ''}`),
        svg('title', {}, `${name} (${unit?.service_instance ?? ''}) on ${host}`),
      );
      g.append(ug);
      centre.set(name, { x: ux + UNIT_W / 2, y: uy + UNIT_H / 2, host });
    });
    layer.append(g);
  });
  const lines = svg('g', { class: 'demands' });
  const labels = svg('g', { class: 'demand-labels' });
  for (const d of t.demands ?? []) {
    const a = centre.get(d.between[0]);
    const b = centre.get(d.between[1]);
    if (!a || !b) continue;
    const cross = a.host !== b.host;
    const line = svg('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: cross ? 'demand cross' : 'demand', 'data-between': d.between.join('|') });
    line.append(svg('title', {}, `${d.between[0]} ↔ ${d.between[1]}: ${bps(d.guaranteed_bps)} guaranteed${cross ? ' across the uplinks' : ' inside the host'}`));
    lines.append(line);
    if (cross) labels.append(svg('text', { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 6, class: 'demand-label' }, bps(d.guaranteed_bps)));
  }
  // Host frames, then the demand lines, then the (opaque) units: a line runs between units, never over their names;
  // the rates of crossing demands on top, haloed.
  return svg('svg', { viewBox: `0 0 ${String(width)} ${String(height)}`, width, height, role: 'img', 'aria-label': `Placement of ${t.name}: ${hosts.map((x) => `${x}: ${(byHost.get(x) ?? []).join(', ')}`).join('; ')}`, 'data-testid': 'diagram' }, frames, lines, layer, labels);
}

