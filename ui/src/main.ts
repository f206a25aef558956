/**
 * The dashboard's shell: sign-in (the API token, kept for this tab only; a link ending in
 * `#token=…` signs in and is then removed from the address bar), the sections as hash routes,
 * the colour theme, and one AbortController per page so leaving a page stops its streams.
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, ApiError, setToken, token, whenUnauthorized } from './api.ts';
import { h, mount } from './dom.ts';
import { hostsPage } from './pages/hosts.ts';
import { planPage } from './pages/plan.ts';
import { topologiesPage } from './pages/topologies.ts';
import { topologyPage } from './pages/topology.ts';
import { slaLive } from './sla-live.ts';

const SECTIONS = [
  { hash: '#/topologies', label: 'Topologies' },
  { hash: '#/sla', label: 'SLAs live' },
  { hash: '#/hosts', label: 'Hosts' },
  { hash: '#/plan', label: 'Dry run' },
];

let page: AbortController | undefined;

function signIn(message?: string): void {
  const input = h('input', { type: 'password', id: 'token', autocomplete: 'current-password', required: true, minlength: 16 });
  const error = h('p', { class: 'error', role: 'alert', hidden: message === undefined }, message ?? '');
  mount(
    h('h1', {}, 'Sign in'),
    h(
      'form',
      {
        class: 'signin',
        onsubmit: (e: Event) => {
          e.preventDefault();
          setToken(input.value.trim());
          api('GET', '/v1/topologies?limit=1').then(
            () => {
              location.hash = '#/topologies';
              route();
            },
            (err: unknown) => {
              setToken(null);
              error.hidden = false;
              error.textContent = err instanceof ApiError && err.status === 401 ? 'That token is not valid.' : String(err);
            },
          );
        },
      },
      h('label', { for: 'token' }, 'API token (as for ', h('code', {}, 'CM_MANAGER_TOKEN'), ', or a Keystone token)'),
      input,
      h('button', { type: 'submit' }, 'Sign in'),
      error,
    ),
  );
  input.focus();
}

function renderNav(current: string): void {
  const nav = document.getElementById('nav');
  if (!nav) return;
  nav.replaceChildren(...SECTIONS.map((s) => h('a', { href: s.hash, 'aria-current': current.startsWith(s.hash) ? 'page' : null }, s.label)));
  const logout = document.getElementById('logout');
  if (logout) logout.hidden = token() === null;
}

function route(): void {
  page?.abort();
  page = new AbortController();
  const signal = page.signal;
  const hash = location.hash || '#/topologies';
  renderNav(hash);
  if (token() === null) {
    signIn();
    return;
  }
  const main = document.getElementById('main');
  main?.focus({ preventScroll: true });
  const shown = (p: Promise<void> | void): void => {
    void Promise.resolve(p).catch((error: unknown) => {
      if (signal.aborted) return;
      mount(h('h1', {}, 'Could not load this page'), h('p', { class: 'error', role: 'alert' }, error instanceof Error ? error.message : String(error)), h('p', {}, h('a', { href: hash }, 'Try again')));
    });
  };
  const topology = /^#\/topologies\/([^/]+)$/.exec(hash);
  if (topology?.[1]) shown(topologyPage(decodeURIComponent(topology[1]), signal));
  else if (hash.startsWith('#/sla')) mount(h('h1', {}, 'SLAs live'), h('p', { class: 'muted' }, 'Every VM with an SLA on the agent: observed rates each second, violations first. Select a row for its chart.'), slaLive({ signal }));
  else if (hash.startsWith('#/hosts')) shown(hostsPage(signal));
  else if (hash.startsWith('#/plan')) planPage(signal);
  else shown(topologiesPage(signal));
}

const THEMES = ['auto', 'light', 'dark'] as const;
function applyTheme(theme: string): void {
  if (theme === 'auto') delete document.documentElement.dataset.theme;
  else document.documentElement.dataset.theme = theme;
  const button = document.getElementById('theme');
  if (button) button.textContent = `Theme: ${theme}`;
}

function start(): void {
  // A sign-in link: #token=… (a fragment never reaches the server or its logs).
  const fromLink = /^#token=([^&]+)/.exec(location.hash);
  if (fromLink?.[1]) {
    setToken(decodeURIComponent(fromLink[1]));
    history.replaceState(null, '', `${location.pathname}#/topologies`);
  }
  whenUnauthorized(() => {
    setToken(null);
    signIn('The token was refused (expired or wrong); sign in again.');
  });
  applyTheme(localStorage.getItem('cm-theme') ?? 'auto');
  document.getElementById('theme')?.addEventListener('click', () => {
    const now = localStorage.getItem('cm-theme') ?? 'auto';
    const next = THEMES[(THEMES.indexOf(now as (typeof THEMES)[number]) + 1) % THEMES.length] ?? 'auto';
    localStorage.setItem('cm-theme', next);
    applyTheme(next);
  });
  document.getElementById('logout')?.addEventListener('click', () => {
    setToken(null);
    route();
  });
  window.addEventListener('hashchange', route);
  route();
}

start();
