/**
 * Dry run: paste or upload a topology (the single-file YAML, or the thesis's JSON with the
 * manager's catalog of service types), see the plan and its reasons before deploying. Problems in
 * the document are listed at their line and column; picking one selects that line in the editor.
 */
import { api, ApiError } from '../api.ts';
import { diagram } from '../diagram.ts';
import { append, h, mount, table } from '../dom.ts';
import { bps } from '../format.ts';
import type { Explanation, PlanView } from '../types.ts';

interface Issue {
  file: string;
  line: number | null;
  column: number | null;
  path: string;
  message: string;
}

interface PlanAnswer {
  topology: string;
  units: { name: string; service_instance: string; flavor: string; sla_class: string | null; min_bps: number | null; max_bps: number | null }[];
  demands: { between: [string, string]; guaranteed_bps: number }[];
  plan: PlanView;
}

const DRAFT_KEY = 'cm-plan-draft';

function decisions(title: string, list: Explanation['chosen'], cls: string): HTMLElement | null {
  if (list.length === 0) return null;
  return h('div', { class: `decisions ${cls}` }, h('h3', {}, title), h('ul', {}, list.map((d) => h('li', {}, h('strong', {}, d.host), ': ', d.reasons.join('; ')))));
}

export function explanationView(plan: PlanView): HTMLElement {
  const e = plan.explanation;
  return h(
    'section',
    { class: 'explanation', 'data-testid': 'explanation' },
    h('p', { class: plan.feasible ? 'summary' : 'summary bad' }, h('strong', {}, plan.feasible ? 'Plan: ' : 'Cannot be placed: '), e.summary),
    plan.reasons && plan.reasons.length > 0 ? h('ul', { class: 'reasons', 'data-testid': 'reasons' }, plan.reasons.map((r) => h('li', {}, r.message ?? JSON.stringify(r)))) : null,
    decisions('Chosen', e.chosen, 'chosen'),
    decisions('Rejected', e.rejected, 'rejected'),
    e.steps.length > 0 ? h('details', {}, h('summary', {}, `How it was decided (${String(e.steps.length)} steps)`), h('ol', {}, e.steps.map((s) => h('li', {}, s)))) : null,
  );
}

/** The line of `text` with a caret under `column`, for an issue's context. */
function excerpt(text: string, line: number, column: number | null): HTMLElement {
  const content = text.split('\n')[line - 1] ?? '';
  return h('pre', { class: 'excerpt' }, `${String(line).padStart(4)} | ${content}\n     | ${' '.repeat(Math.max(0, (column ?? 1) - 1))}^`);
}

export function planPage(signal: AbortSignal): void {
  const editor = h('textarea', { id: 'topology-text', rows: 22, spellcheck: 'false', 'aria-describedby': 'plan-help', 'data-testid': 'topology-text' });
  editor.value = sessionStorage.getItem(DRAFT_KEY) ?? '';
  editor.addEventListener('input', () => {
    sessionStorage.setItem(DRAFT_KEY, editor.value);
  });
  const file = h('input', { type: 'file', id: 'topology-file', accept: '.yaml,.yml,.json,application/json,text/yaml' });
  const strategy = h('select', { id: 'strategy' }, ...['(manager default)', 'traffic-aware', 'single-host', 'nova'].map((s) => h('option', { value: s.startsWith('(') ? '' : s }, s)));
  const result = h('section', { 'aria-live': 'polite', 'data-testid': 'plan-result' });
  const submit = h('button', { type: 'submit' }, 'Plan (dry run)');
  let fileName = 'topology';

  file.addEventListener('change', () => {
    const f = file.files?.[0];
    if (!f) return;
    fileName = f.name;
    void f.text().then((text) => {
      editor.value = text;
      sessionStorage.setItem(DRAFT_KEY, text);
    });
  });

  const selectLine = (line: number, column: number | null): void => {
    const lines = editor.value.split('\n');
    let start = 0;
    for (let i = 0; i < line - 1 && i < lines.length; i++) start += (lines[i]?.length ?? 0) + 1;
    const end = start + (lines[line - 1]?.length ?? 0);
    editor.focus();
    editor.setSelectionRange(start + Math.max(0, (column ?? 1) - 1), end);
    // Scroll the line into view: a line's height times its number, near the top.
    const lineHeight = parseFloat(getComputedStyle(editor).lineHeight) || 18;
    editor.scrollTop = Math.max(0, (line - 3) * lineHeight);
  };

  const showIssues = (issues: Issue[], text: string): void => {
    result.replaceChildren(
      h('h2', {}, `${String(issues.length)} problem${issues.length === 1 ? '' : 's'} in the topology`),
      h(
        'ol',
        { class: 'issues', 'data-testid': 'issues' },
        issues.map((i) =>
          h(
            'li',
            {},
            i.line === null
              ? h('span', { class: 'where' }, i.file)
              : h('button', { type: 'button', class: 'link where', onclick: () => {
                    selectLine(i.line ?? 1, i.column);
                  } }, `${i.file}:${String(i.line)}:${String(i.column ?? 1)}`),
            ' ',
            h('code', {}, i.path),
            ' ',
            i.message,
            i.line !== null && i.file === fileName ? excerpt(text, i.line, i.column) : null,
          ),
        ),
      ),
    );
  };

  const showPlan = (answer: PlanAnswer): void => {
    const p = answer.plan;
    const byHost = new Map<string, string[]>();
    for (const [unit, host] of Object.entries(p.assignments ?? {})) byHost.set(host ?? '(Nova decides)', [...(byHost.get(host ?? '(Nova decides)') ?? []), unit]);
    result.replaceChildren();
    append(
      result,
      [h('h2', {}, `${answer.topology}: ${p.feasible ? 'fits' : 'does not fit'}`),
      explanationView(p),
      p.feasible
        ? h(
            'div',
            { class: 'diagram' },
            diagram({
              name: answer.topology,
              units: answer.units.map((u) => ({ name: u.name, service_instance: u.service_instance, sla_class: u.sla_class, sla_state: null, host: null, planned_host: p.assignments?.[u.name] ?? null })),
              demands: answer.demands,
            }),
          )
        : null,
      p.feasible
        ? table(['Host', 'Units', 'Guaranteed across its uplink'], [...byHost].map(([host, units]) => h('tr', {}, h('th', { scope: 'row' }, host), h('td', {}, units.join(', ')), h('td', { class: 'num' }, bps(p.uplink_bps?.[host] ?? 0)))), 'Assignments')
        : null,
      table(
        ['Unit', 'Service', 'Flavor', 'Class', 'Guarantee', 'Cap'],
        answer.units.map((u) => h('tr', {}, h('th', { scope: 'row' }, u.name), h('td', {}, u.service_instance), h('td', {}, u.flavor), h('td', {}, u.sla_class ?? '—'), h('td', { class: 'num' }, bps(u.min_bps)), h('td', { class: 'num' }, bps(u.max_bps)))),
        'Units',
      ),
      answer.demands.length > 0
        ? table(['Between', 'Guaranteed'], answer.demands.map((d) => h('tr', {}, h('td', {}, d.between.join(' ↔ ')), h('td', { class: 'num' }, bps(d.guaranteed_bps)))), 'Traffic demands')
        : null],
    );
  };

  const form = h(
    'form',
    {
      class: 'plan-form',
      onsubmit: (e: Event) => {
        e.preventDefault();
        const text = editor.value;
        if (text.trim() === '') {
          result.replaceChildren(h('p', { class: 'error' }, 'Paste or upload a topology first.'));
          editor.focus();
          return;
        }
        submit.disabled = true;
        result.replaceChildren(h('p', { class: 'muted' }, 'Planning…'));
        const body = { topology: text, topology_file: fileName, ...(strategy.value === '' ? {} : { strategy: strategy.value }) };
        api<PlanAnswer>('POST', '/v1/plans', body, signal)
          .then(showPlan, (error: unknown) => {
            if (error instanceof ApiError && Array.isArray(error.body?.issues)) showIssues(error.body.issues as Issue[], text);
            else if (error instanceof ApiError && Array.isArray(error.body?.reasons) && error.body.explanation) {
              showPlan({ topology: '', units: [], demands: [], plan: { feasible: false, strategy: '', reasons: error.body.reasons as PlanView['reasons'] & [], explanation: error.body.explanation as Explanation } });
            } else result.replaceChildren(h('p', { class: 'error', role: 'alert' }, error instanceof Error ? error.message : String(error)));
          })
          .finally(() => (submit.disabled = false));
      },
    },
    h('p', { id: 'plan-help', class: 'muted' }, 'The single-file YAML (with services:), or the thesis topology JSON (service types from the manager catalog). Nothing is created.'),
    h('label', { for: 'topology-text' }, 'Topology'),
    editor,
    h('div', { class: 'actions' }, h('label', { for: 'topology-file' }, 'Or upload a file '), file, h('label', { for: 'strategy' }, 'Strategy '), strategy, submit),
  );
  mount(h('h1', {}, 'Plan a topology (dry run)'), form, result);
}
