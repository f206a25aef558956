/**
 * The live SLA table: one row per VM (class, guarantee, cap, allocation, observed download and
 * upload as 2-minute sparklines), violated VMs marked and listed first, a uPlot chart of the VM
 * picked. Fed by the manager's /v1/sla/stream, one sample a second. Histories live in typed ring
 * buffers so 4 000 VMs cost a few MB; only the rows on screen are drawn.
 */
import uPlot from 'uplot';
import { stream } from './api.ts';
import { badge, h } from './dom.ts';
import { bps } from './format.ts';
import type { SlaRow, SlaSample } from './types.ts';

const HISTORY = 120;
const PAGE = 100;

interface History {
  down: Float64Array;
  up: Float64Array;
}

/** Figures the page keeps about itself (read by the browser tests and the bench). */
export interface LiveStats {
  events: number;
  rows: number;
  /** Time the page spent on events (JSON.parse of the data, ring buffers, redrawing the visible rows), ms. */
  handleMsTotal: number;
  handleMsMax: number;
  /** Points on the x axis of the open chart (0 without one). */
  chartPoints: number;
  /** The largest download rate the open chart draws, bit/s (0 without one). */
  chartDownloadMaxBps: number;
}

declare global {
  interface Window {
    cmSlaStats?: LiveStats;
  }
}

export function slaLive(options: { topology?: string; signal: AbortSignal }): HTMLElement {
  const stats: LiveStats = { events: 0, rows: 0, handleMsTotal: 0, handleMsMax: 0, chartPoints: 0, chartDownloadMaxBps: 0 };
  window.cmSlaStats = stats;
  const times = new Float64Array(HISTORY);
  let filled = 0;
  let head = 0;
  const histories = new Map<string, History>();
  let latest: SlaSample | undefined;
  let selected: string | null = null;
  let shown = PAGE;
  let chart: uPlot | undefined;

  const status = h('span', { class: 'stream-state', 'data-testid': 'stream-state', role: 'status' }, 'connecting…');
  const counts = h('span', { class: 'muted', 'data-testid': 'sla-counts' });
  const search = h('input', { type: 'search', placeholder: 'Filter by VM, host, topology, class', 'aria-label': 'Filter SLAs' });
  const onlyViolated = h('input', { type: 'checkbox', id: 'only-violated' });
  const body = h('tbody');
  const more = h('button', { type: 'button', class: 'ghost', hidden: true }, 'Show more');
  const detail = h('section', { class: 'sla-detail', 'aria-live': 'polite', hidden: true });
  const root = h(
    'div',
    { class: 'sla-live' },
    h('div', { class: 'toolbar' }, search, h('label', { for: 'only-violated' }, onlyViolated, ' violated only'), counts, status),
    detail,
    h('div', { class: 'table-scroll' }, h(
      'table',
      { class: 'sla', 'data-testid': 'sla-table' },
      h('caption', { class: 'sr-only' }, 'SLAs, live'),
      h(
        'thead',
        {},
        h('tr', {}, ...['VM', 'Topology / unit', 'Class', 'Host', 'Guarantee ↓', 'Cap ↓', 'Allocated ↓', 'Download', 'Upload', 'State', 'Violated'].map((x) => h('th', { scope: 'col' }, x))),
      ),
      body,
    )),
    more,
  );

  const historyOf = (id: string): History => {
    let hist = histories.get(id);
    if (!hist) {
      hist = { down: new Float64Array(HISTORY).fill(Number.NaN), up: new Float64Array(HISTORY).fill(Number.NaN) };
      histories.set(id, hist);
    }
    return hist;
  };

  /** The last `filled` values of a ring, oldest first. */
  const ordered = (ring: Float64Array): number[] => {
    const out: number[] = [];
    for (let i = filled; i > 0; i--) out.push(ring[(head - i + HISTORY) % HISTORY] ?? Number.NaN);
    return out;
  };

  const spark = (values: number[], cap: number | null, floor: number | null): HTMLCanvasElement => {
    const c = h('canvas', { width: 120, height: 28, class: 'spark', 'aria-hidden': 'true' });
    const ctx = c.getContext('2d');
    if (!ctx) return c;
    const max = Math.max(cap ?? 0, floor ?? 0, ...values.filter((v) => !Number.isNaN(v)), 1);
    const style = getComputedStyle(document.documentElement);
    if (floor !== null) {
      ctx.strokeStyle = style.getPropertyValue('--guarantee');
      ctx.setLineDash([3, 3]);
      const y = 27 - (floor / max) * 26;
      ctx.beginPath();
      ctx.moveTo(0, y);
      ctx.lineTo(120, y);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    ctx.strokeStyle = style.getPropertyValue('--accent');
    ctx.beginPath();
    let started = false;
    values.forEach((v, i) => {
      if (Number.isNaN(v)) return;
      // Right-aligned: the newest sample at the right edge, as the history fills from the right.
      const x = ((HISTORY - values.length + i) / (HISTORY - 1)) * 120;
      const y = 27 - (v / max) * 26;
      if (started) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
      started = true;
    });
    ctx.stroke();
    return c;
  };

  const matches = (r: SlaRow, q: string): boolean =>
    q === '' || [r.name, r.server_id, r.host, r.topology, r.unit, r.sla_class].some((v) => v?.toLowerCase().includes(q));

  const renderDetail = (): void => {
    const row = latest?.rows.find((r) => r.server_id === selected);
    if (!row) {
      stats.chartPoints = 0;
      detail.hidden = true;
      chart?.destroy();
      chart = undefined;
      return;
    }
    const hist = historyOf(row.server_id);
    const xs = ordered(times);
    const data: uPlot.AlignedData = [
      xs,
      ordered(hist.down).map((v) => (Number.isNaN(v) ? null : v)),
      ordered(hist.up).map((v) => (Number.isNaN(v) ? null : v)),
      xs.map(() => row.download_min_bps),
      xs.map(() => row.download_max_bps),
    ];
    stats.chartPoints = xs.length;
    stats.chartDownloadMaxBps = Math.max(0, ...ordered(hist.down).filter((v) => !Number.isNaN(v)));
    if (chart && detail.dataset.server === row.server_id) {
      chart.setData(data);
      return;
    }
    chart?.destroy();
    detail.hidden = false;
    detail.dataset.server = row.server_id;
    const style = getComputedStyle(document.documentElement);
    const plotBox = h('div', { class: 'chart', 'data-testid': 'sla-chart' });
    detail.replaceChildren(
      h('h3', {}, `${row.name ?? row.server_id}: last ${String(HISTORY)} s`),
      h('button', { type: 'button', class: 'ghost close', onclick: () => {
          selected = null;
          renderDetail();
        } }, 'Close chart'),
      plotBox,
    );
    chart = new uPlot(
      {
        width: Math.min(900, Math.max(320, detail.clientWidth - 20)),
        height: 220,
        scales: { x: { time: true } },
        axes: [{ stroke: style.getPropertyValue('--fg'), values: (_u, ticks) => ticks.map((t) => new Date(t * 1000).toLocaleTimeString()) }, { stroke: style.getPropertyValue('--fg'), values: (_u, ticks) => ticks.map((t) => bps(t)), size: 90 }],
        series: [
          {},
          { label: 'download', stroke: style.getPropertyValue('--accent'), width: 2, value: (_u, v) => bps(v) },
          { label: 'upload', stroke: style.getPropertyValue('--accent2'), width: 2, value: (_u, v) => bps(v) },
          { label: 'guarantee ↓', stroke: style.getPropertyValue('--guarantee'), dash: [6, 4], value: (_u, v) => bps(v) },
          { label: 'cap ↓', stroke: style.getPropertyValue('--muted'), dash: [2, 4], value: (_u, v) => bps(v) },
        ],
      },
      data,
      plotBox,
    );
  };

  const render = (): void => {
    if (!latest) return;
    const q = search.value.trim().toLowerCase();
    const rows = latest.rows.filter((r) => matches(r, q) && (!onlyViolated.checked || r.violating));
    // Violated first, then as the server sent them (by name).
    const ranked = [...rows.filter((r) => r.violating), ...rows.filter((r) => !r.violating)];
    const violating = latest.rows.filter((r) => r.violating).length;
    counts.textContent = `${String(latest.rows.length)} VMs · ${String(violating)} violated now${rows.length !== latest.rows.length ? ` · ${String(rows.length)} match` : ''}`;
    const visible = ranked.slice(0, shown);
    body.replaceChildren(
      ...visible.map((r) => {
        const hist = historyOf(r.server_id);
        const tr = h(
          'tr',
          {
            class: `${r.violating ? 'violating' : ''} ${selected === r.server_id ? 'selected' : ''}`,
            tabindex: 0,
            'data-server': r.server_id,
            'aria-selected': selected === r.server_id ? 'true' : 'false',
            onclick: () => {
              selected = r.server_id;
              render();
            },
            onkeydown: (e: Event) => {
              if ((e as KeyboardEvent).key === 'Enter' || (e as KeyboardEvent).key === ' ') {
                e.preventDefault();
                selected = r.server_id;
                render();
              }
            },
          },
          h('th', { scope: 'row' }, r.name ?? r.server_id),
          h('td', {}, r.topology ? `${r.topology} / ${r.unit ?? ''}` : '—'),
          h('td', {}, r.sla_class ?? '—'),
          h('td', {}, r.host ?? '—'),
          h('td', { class: 'num' }, bps(r.download_min_bps)),
          h('td', { class: 'num' }, bps(r.download_max_bps)),
          h('td', { class: 'num' }, bps(r.allocated_download_bps)),
          h('td', { class: 'rate' }, h('span', { class: 'num', 'data-testid': 'down' }, bps(r.download_bps)), spark(ordered(hist.down), r.download_max_bps, r.download_min_bps)),
          h('td', { class: 'rate' }, h('span', { class: 'num', 'data-testid': 'up' }, bps(r.upload_bps)), spark(ordered(hist.up), r.upload_max_bps, r.upload_min_bps)),
          h('td', { title: r.reason ?? '' }, badge(r.state)),
          h('td', { class: 'num' }, r.violating ? h('strong', { class: 'violation' }, `VIOLATED (${String(r.violation_seconds ?? 0)} s)`) : r.violation_seconds === null ? '—' : `${String(r.violation_seconds)} s`),
        );
        return tr;
      }),
    );
    more.hidden = ranked.length <= shown;
    more.textContent = `Show ${String(Math.min(PAGE, ranked.length - shown))} more of ${String(ranked.length - shown)}`;
    renderDetail();
    const sel = selected === null ? null : body.querySelector<HTMLElement>(`tr[data-server="${selected}"]`);
    if (sel && document.activeElement?.closest('tbody') === body) sel.focus();
  };

  search.addEventListener('input', () => {
    shown = PAGE;
    render();
  });
  onlyViolated.addEventListener('change', render);
  more.addEventListener('click', () => {
    shown += PAGE;
    render();
  });

  stream<SlaSample>(
    `/v1/sla/stream${options.topology ? `?topology=${encodeURIComponent(options.topology)}` : ''}`,
    {
      onEvent: (sample, parseMs) => {
        const t0 = performance.now() - parseMs;
        latest = sample;
        times[head] = Date.parse(sample.at) / 1000;
        for (const r of sample.rows) {
          const hist = historyOf(r.server_id);
          hist.down[head] = r.download_bps ?? Number.NaN;
          hist.up[head] = r.upload_bps ?? Number.NaN;
        }
        head = (head + 1) % HISTORY;
        filled = Math.min(HISTORY, filled + 1);
        render();
        status.textContent = sample.error ? `agent: ${sample.error}` : `live · ${new Date(sample.at).toLocaleTimeString()}`;
        status.className = `stream-state ${sample.error ? 'bad' : 'ok'}`;
        const ms = performance.now() - t0;
        stats.events++;
        stats.rows = sample.rows.length;
        stats.handleMsTotal += ms;
        stats.handleMsMax = Math.max(stats.handleMsMax, ms);
      },
      onState: (state, why) => {
        if (state !== 'live') {
          status.textContent = state === 'connecting' ? 'connecting…' : `reconnecting (${why ?? ''})`;
          status.className = 'stream-state bad';
        }
      },
    },
    options.signal,
  );
  options.signal.addEventListener('abort', () => chart?.destroy());
  return root;
}
