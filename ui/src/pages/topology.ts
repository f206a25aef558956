/**
 * One topology: its hosts as boxes with the units inside, guaranteed traffic demands as lines
 * (those that cross a host's uplink drawn thick and dashed, with their rate), the plan's reasons,
 * the history of states, its SLAs live, and delete (asked first).
 */
import { api, ApiError } from '../api.ts';
import { badge, h, mount, svg, table } from '../dom.ts';
import { bps, when } from '../format.ts';
import { explanationView } from './plan.ts';
import { slaLive } from '../sla-live.ts';
import type { TopologyView } from '../types.ts';

const UNIT_W = 150;
const UNIT_H = 40;
const GAP = 14;
const HOST_PAD = 16;
const HOST_GAP = 70;

export function diagram(t: TopologyView): SVGElement {
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
  for (const d of t.demands ?? []) {
    const a = centre.get(d.between[0]);
    const b = centre.get(d.between[1]);
    if (!a || !b) continue;
    const cross = a.host !== b.host;
    const line = svg('line', { x1: a.x, y1: a.y, x2: b.x, y2: b.y, class: cross ? 'demand cross' : 'demand', 'data-between': d.between.join('|') });
    line.append(svg('title', {}, `${d.between[0]} ↔ ${d.between[1]}: ${bps(d.guaranteed_bps)} guaranteed${cross ? ' across the uplinks' : ' inside the host'}`));
    lines.append(line);
    if (cross) lines.append(svg('text', { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 - 6, class: 'demand-label' }, bps(d.guaranteed_bps)));
  }
  // Host frames, then the demand lines, then the (opaque) units: a line runs between units, never over their names.
  return svg('svg', { viewBox: `0 0 ${String(width)} ${String(height)}`, width, height, role: 'img', 'aria-label': `Placement of ${t.name}: ${hosts.map((x) => `${x}: ${(byHost.get(x) ?? []).join(', ')}`).join('; ')}`, 'data-testid': 'diagram' }, frames, lines, layer);
}

export async function topologyPage(id: string, signal: AbortSignal): Promise<void> {
  let t = await api<TopologyView>('GET', `/v1/topologies/${encodeURIComponent(id)}`, undefined, signal);
  const stateEl = h('span', { 'data-testid': 'topology-state' }, badge(t.state));
  const errorEl = h('p', { class: 'error', hidden: t.error === null }, t.error ?? '');
  const diagramBox = h('div', { class: 'diagram' }, diagram(t));
  const history = h('div');
  const renderHistory = (): void => {
    history.replaceChildren(
      table(
        ['When', 'State', 'Message'],
        (t.events ?? []).map((e) => h('tr', {}, h('td', {}, when(e.at)), h('td', {}, badge(e.state)), h('td', {}, e.message))),
        'History of states',
      ),
    );
  };
  renderHistory();

  const dialog = h(
    'dialog',
    { 'aria-labelledby': 'delete-title' },
    h('h2', { id: 'delete-title' }, `Delete ${t.name}?`),
    h('p', {}, 'Its Heat stack and servers are deleted and their SLAs removed from the switches. This cannot be undone.'),
    h(
      'form',
      { method: 'dialog', class: 'actions' },
      h('button', { value: 'cancel', autofocus: true }, 'Cancel'),
      h('button', { value: 'delete', class: 'danger', 'data-testid': 'confirm-delete' }, 'Delete'),
    ),
  );
  const deleteButton = h('button', { type: 'button', class: 'danger', 'data-testid': 'delete', onclick: () => {
      dialog.showModal();
    } }, 'Delete…');
  const refresh = async (): Promise<void> => {
    t = await api<TopologyView>('GET', `/v1/topologies/${encodeURIComponent(id)}`, undefined, signal);
    stateEl.replaceChildren(badge(t.state));
    errorEl.hidden = t.error === null;
    errorEl.textContent = t.error ?? '';
    diagramBox.replaceChildren(diagram(t));
    deleteButton.disabled = t.state === 'DELETING' || t.state === 'DELETED';
    renderHistory();
  };
  dialog.addEventListener('close', () => {
    if (dialog.returnValue !== 'delete') return;
    api('DELETE', `/v1/topologies/${encodeURIComponent(id)}`, undefined, signal).then(refresh, (error: unknown) => {
      errorEl.hidden = false;
      errorEl.textContent = error instanceof ApiError ? error.message : String(error);
    });
  });
  deleteButton.disabled = t.state === 'DELETING' || t.state === 'DELETED';

  const p = t.placement;
  mount(
    h('p', {}, h('a', { href: '#/topologies' }, '← Topologies')),
    h('div', { class: 'title-row' }, h('h1', {}, t.name), stateEl, h('span', { class: 'spacer' }), deleteButton),
    errorEl,
    h('p', { class: 'muted' }, `Strategy ${t.strategy} · stack ${t.stack.name ?? '—'} · created ${when(t.created_at)}`),
    h('h2', {}, 'Placement'),
    h('p', { class: 'legend muted' }, h('span', { class: 'key cross' }), ' guaranteed demand across hosts (uses both uplinks) ', h('span', { class: 'key inside' }), ' inside a host'),
    diagramBox,
    p ? explanationView(p) : h('p', { class: 'muted' }, 'Not planned yet.'),
    h('h2', {}, 'SLAs, live'),
    slaLive({ topology: t.id, signal }),
    h('h2', {}, 'History'),
    history,
    dialog,
  );
  // States move while it deploys or deletes; the page follows them.
  const timer = setInterval(() => {
    if (t.state !== 'ACTIVE' && t.state !== 'DELETED' && t.state !== 'FAILED') void refresh().catch(() => undefined);
  }, 2000);
  signal.addEventListener('abort', () => {
    clearInterval(timer);
  });
}
