/**
 * The one way the console builds markup: elements and text nodes, never
 * innerHTML, so a text from the API (a meter id, an alarm comment, an error
 * message) is always shown as text and never parsed as HTML (docs/console.md).
 */

/** @typedef {string | number | Node | null | undefined | false} Child */

/**
 * An element with attributes, listeners (`on<event>` keys) and children; strings become text nodes.
 * @example h('a', { href: '#/meters' }, 'Meters')
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [props]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else if (key === 'value' && 'value' in el) /** @type {HTMLInputElement} */ (el).value = String(value);
    else if (key === 'checked' && el instanceof HTMLInputElement) el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

/**
 * @param {Element} el
 * @param {(Child | Child[])[]} children
 */
function append(el, children) {
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === 'string' || typeof c === 'number' ? document.createTextNode(String(c)) : c);
  }
}

/**
 * Replaces an element's children.
 * @param {Element} el
 * @param {...(Child | Child[])} children
 */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

let fieldSeq = 0;

/**
 * A labelled form field: `<label for>` and the control.
 * @param {string} label
 * @param {HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement} control
 */
export function field(label, control) {
  if (!control.id) control.id = `f${++fieldSeq}`;
  return h('div', { class: 'field' }, h('label', { for: control.id }, label), control);
}

/**
 * A `<select>` of options `[value, label]`.
 * @param {string} name
 * @param {[string, string][]} options
 * @param {string} [selected]
 */
export function select(name, options, selected) {
  return h(
    'select',
    { name },
    options.map(([value, label]) => h('option', { value, selected: value === selected }, label)),
  );
}

/**
 * A table with a caption, header cells and rows of cells.
 * @param {string} caption
 * @param {string[]} head
 * @param {(Child | Child[])[][]} rows
 * @param {Record<string, unknown>} [props]
 */
export function table(caption, head, rows, props = {}) {
  return h(
    'table',
    props,
    h('caption', {}, caption),
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        head.map((c) => h('th', { scope: 'col' }, c)),
      ),
    ),
    h(
      'tbody',
      {},
      rows.map((r) =>
        h(
          'tr',
          {},
          r.map((c) => h('td', {}, c)),
        ),
      ),
    ),
  );
}
