import { api } from '../api.ts';
import { h, mount, table } from '../dom.ts';
import { bps, percent, when } from '../format.ts';
import type { HostRow, Use } from '../types.ts';

function meter(label: string, u: Use | null, unit: string): HTMLElement {
  if (!u) return h('span', { class: 'muted' }, 'not reported');
  const p = percent(u.used, u.capacity);
  return h(
    'div',
    { class: 'use' },
    h('meter', { min: 0, max: u.capacity, value: u.used, high: u.capacity * 0.85, optimum: 0, 'aria-label': `${label} used` }),
    h('span', { class: 'num' }, `${String(u.used)} / ${String(u.capacity)} ${unit} (${String(p)} %)`),
  );
}

/** `ovsdb: ok` means the agent had the host's rows when it answered: connected. */
function conn(state: string | null): HTMLElement {
  if (state === null) return h('span', { class: 'muted' }, 'not used');
  const label = state === 'ok' ? 'connected' : state;
  return h('span', { class: `badge c-${label}` }, label);
}

export async function hostsPage(signal: AbortSignal): Promise<void> {
  const body = await api<{ refreshed_at: string; stale: boolean; hosts: HostRow[] }>('GET', '/v1/hosts', undefined, signal);
  mount(
    h('h1', {}, 'Hosts'),
    h('p', { class: body.stale ? 'error' : 'muted' }, `Inventory read ${when(body.refreshed_at)}${body.stale ? ' (stale: the latest refresh failed)' : ''}`),
    table(
      ['Host', 'State', 'vCPU', 'RAM', 'Disk', 'Uplink', 'Committed guarantees', 'Observed (VMs)', 'OVSDB', 'OpenFlow', 'Agent'],
      body.hosts.map((x) =>
        h(
          'tr',
          { 'data-host': x.name },
          h('th', { scope: 'row' }, x.name, x.warnings.length > 0 ? h('span', { class: 'warn', title: x.warnings.join('\n') }, ' ⚠') : null),
          h('td', {}, `${x.state} / ${x.status}`, x.disabled_reason ? h('div', { class: 'muted' }, x.disabled_reason) : null),
          h('td', {}, meter('vCPU', x.vcpu, '')),
          h('td', {}, meter('RAM', x.ram_mb, 'MiB')),
          h('td', {}, meter('disk', x.disk_gb, 'GiB')),
          h('td', { class: 'num' }, bps(x.uplink_bps)),
          h(
            'td',
            {},
            meter('uplink committed', { used: x.committed_bps, capacity: x.uplink_bps }, ''),
            h('div', { class: 'muted' }, `${bps(x.committed_bps)} by ${x.topologies.length === 0 ? 'no topology' : x.topologies.join(', ')}`),
            x.guarantees
              ? h('div', { class: x.guarantees.overcommitted ? 'error' : 'muted' }, `VM guarantees ↓ ${bps(x.guarantees.guaranteed_download_bps)} ↑ ${bps(x.guarantees.guaranteed_upload_bps)}${x.guarantees.overcommitted ? ` — over-committed: ${x.guarantees.overcommitted}` : ''}`)
              : null,
          ),
          h('td', { class: 'num' }, `↓ ${bps(x.observed_download_bps)} ↑ ${bps(x.observed_upload_bps)}`),
          h('td', {}, conn(x.ovsdb)),
          h('td', {}, conn(x.openflow)),
          h('td', {}, x.owner_agent ?? '—'),
        ),
      ),
      'Compute hosts',
    ),
  );
}
