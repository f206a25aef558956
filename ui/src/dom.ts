/** A small element builder: the pages are simple enough that a virtual DOM would only add weight. */
type Child = Node | string | number | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined | EventListener>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: (Child | Child[])[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(name.replace(/^on/, ''), value);
    else if (value === true) el.setAttribute(name, '');
    else el.setAttribute(name, String(value));
  }
  append(el, children);
  return el;
}

export function append(el: Element, children: (Child | Child[])[]): void {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'number' ? String(c) : c);
  }
}

const SVG = 'http://www.w3.org/2000/svg';

export function svg(tag: string, attrs: Record<string, string | number> = {}, ...children: (Node | string)[]): SVGElement {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  el.append(...children);
  return el;
}

/** Replaces the content of the main region (and moves focus there for keyboard and screen-reader users). */
export function mount(...children: (Child | Child[])[]): HTMLElement {
  const main = document.getElementById('main');
  if (!main) throw new Error('no #main');
  main.replaceChildren();
  append(main, children);
  return main;
}

export function table(headers: string[], rows: Node[], caption?: string): HTMLTableElement {
  return h('table', {}, caption ? h('caption', { class: 'sr-only' }, caption) : null, h('thead', {}, h('tr', {}, headers.map((x) => h('th', { scope: 'col' }, x)))), h('tbody', {}, rows));
}

export function badge(state: string): HTMLSpanElement {
  return h('span', { class: `badge s-${state.toLowerCase()}` }, state);
}
