import { api } from '../api.ts';
import { badge, h, mount, table } from '../dom.ts';
import { when } from '../format.ts';
import type { TopologyView } from '../types.ts';

export async function topologiesPage(signal: AbortSignal): Promise<void> {
  const list = await api<{ items: TopologyView[] }>('GET', '/v1/topologies?limit=1000', undefined, signal);
  const items = list.items.filter((t) => t.state !== 'DELETED');
  const gone = list.items.length - items.length;
  mount(
    h('h1', {}, 'Topologies'),
    items.length === 0
      ? h('p', { class: 'muted' }, 'No topologies yet. ', h('a', { href: '#/plan' }, 'Plan one'), ' or submit one with ', h('code', {}, 'cm topology deploy FILE'), '.')
      : table(
          ['Name', 'State', 'Hosts', 'Units', 'Strategy', 'Updated'],
          items.map((t) =>
            h(
              'tr',
              {},
              h('th', { scope: 'row' }, h('a', { href: `#/topologies/${t.id}` }, t.name)),
              h('td', {}, badge(t.state)),
              h('td', {}, (t.placement?.hosts ?? []).join(', ') || '—'),
              h('td', { class: 'num' }, t.units.length),
              h('td', {}, t.strategy),
              h('td', {}, when(t.updated_at)),
            ),
          ),
          'Topologies',
        ),
    gone > 0 ? h('p', { class: 'muted' }, `${String(gone)} deleted topolog${gone === 1 ? 'y' : 'ies'} not shown.`) : null,
  );
}
