/** Pieces every page uses: an error box, a filter form bound to the route's query, a pager. */
import { ApiError } from './api.js';
import { h } from './dom.js';
import { t } from './i18n/index.js';

/** An error shown where the page is, with the API's code and message as text. @param {unknown} err */
export function errorBox(err) {
  const text = err instanceof ApiError ? `${err.code}: ${err.message}` : err instanceof Error ? err.message : String(err);
  return h('p', { class: 'error', role: 'alert' }, text);
}

/**
 * A filter form: on submit, its named controls become the route's query (empty ones left out).
 * @param {string} label accessible name of the form
 * @param {(params: Record<string, string>) => void} onSubmit
 * @param {...HTMLElement} fields
 */
export function filterForm(label, onSubmit, ...fields) {
  return h(
    'form',
    {
      class: 'filters',
      'aria-label': label,
      onsubmit: (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        const form = /** @type {HTMLFormElement} */ (e.currentTarget);
        /** @type {Record<string, string>} */
        const params = {};
        for (const [k, v] of new FormData(form)) if (typeof v === 'string' && v.trim() !== '') params[k] = v.trim();
        onSubmit(params);
      },
    },
    fields,
    h('button', { type: 'submit' }, t('common.apply')),
  );
}

/**
 * Cursor paging: "first page" and "next page" links as routes (the cursor in the URL, so a page can be shared).
 * @param {string | null} nextCursor
 * @param {boolean} onFirst
 * @param {(cursor: string | undefined) => void} go
 */
export function pager(nextCursor, onFirst, go) {
  return h(
    'nav',
    { class: 'pager', 'aria-label': t('common.pages') },
    onFirst ? null : h('button', { type: 'button', onclick: () => go(undefined) }, t('common.firstPage')),
    nextCursor ? h('button', { type: 'button', onclick: () => go(nextCursor) }, t('common.nextPage')) : null,
  );
}

/**
 * A link to another route of the console.
 * @param {string} path e.g. `meter/M1`
 * @param {Record<string, string | undefined>} params
 * @param {string} text
 */
export function link(path, params, text) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  return h('a', { href: `#/${path}${q.size ? `?${q}` : ''}` }, text);
}

/**
 * A one-line form: a required comment and a button (alarm acknowledge/close, issue accept).
 * @param {string} label the button's text
 * @param {(comment: string) => Promise<void>} action
 */
export function commentAction(label, action) {
  const input = h('input', { type: 'text', name: 'comment', required: true, maxlength: 1000, 'aria-label': `${label}: ${t('common.comment')}`, placeholder: t('common.comment') });
  const button = h('button', { type: 'submit' }, label);
  return h(
    'form',
    {
      class: 'inline',
      onsubmit: async (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        button.disabled = true;
        try {
          await action(input.value.trim());
        } finally {
          button.disabled = false;
        }
      },
    },
    input,
    button,
  );
}
