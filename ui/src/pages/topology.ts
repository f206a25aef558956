/**
 * One topology: its placement drawn (diagram.ts), the plan's reasons, the history of states, its
 * SLAs live, and delete (asked first).
 */
import { api, ApiError } from '../api.ts';
import { diagram } from '../diagram.ts';
import { badge, h, mount, table } from '../dom.ts';
import { when } from '../format.ts';
import { explanationView } from './plan.ts';
import { slaLive } from '../sla-live.ts';
import type { TopologyView } from '../types.ts';

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
