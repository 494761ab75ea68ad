/**
 * The console's shell: sign-in, the navigation a key's role allows, the
 * language switch and the hash router (`#/meters?portfolio=P`, `#/meter/<id>`):
 * every page is a URL that can be bookmarked and shared; the key never is.
 */
import { ApiError, api, currentKey, forgetKey, keepKey, whenUnauthorized } from './api.js';
import { h, field, replace } from './dom.js';
import { errorBox } from './ui.js';
import { LANGUAGES, language, setLanguage, t } from './i18n/index.js';
import * as adminPage from './pages/admin.js';
import * as alarmsPage from './pages/alarms.js';
import * as billingPage from './pages/billing.js';
import * as importsPage from './pages/imports.js';
import * as meterPage from './pages/meter.js';
import * as metersPage from './pages/meters.js';
import * as portfolioPage from './pages/portfolio.js';

/** @typedef {import('./types.js').Me} Me */
/** @typedef {import('./types.js').PageContext} PageContext */
/** @typedef {{ path: string, label?: import('./i18n/index.js').StringKey, permission: string, render: (ctx: PageContext) => Promise<void> }} Page `permission`: one, or several separated by `|` (any of them opens the page) */

/** @type {Page[]} */
const PAGES = [
  { path: 'meters', label: 'nav.meters', permission: 'meters:read', render: metersPage.render },
  { path: 'meter', permission: 'meters:read', render: meterPage.render },
  { path: 'alarms', label: 'nav.alarms', permission: 'alarms:read', render: alarmsPage.render },
  { path: 'billing', label: 'nav.billing', permission: 'billing:read', render: billingPage.render },
  { path: 'portfolio', label: 'nav.portfolio', permission: 'portfolios:read', render: portfolioPage.render },
  { path: 'imports', label: 'nav.imports', permission: 'readings:write|rejects:read', render: importsPage.render },
  { path: 'admin', label: 'nav.admin', permission: 'keys:admin', render: adminPage.render },
];

const main = /** @type {HTMLElement} */ (document.getElementById('main'));
const nav = /** @type {HTMLElement} */ (document.getElementById('nav'));
const status = /** @type {HTMLElement} */ (document.getElementById('status'));
const who = /** @type {HTMLElement} */ (document.getElementById('who'));
const signout = /** @type {HTMLButtonElement} */ (document.getElementById('signout'));
const lang = /** @type {HTMLSelectElement} */ (document.getElementById('lang'));

/** @type {Me | null} */
let me = null;

/** @returns {{ path: string, arg: string, params: URLSearchParams }} */
function parseHash() {
  const text = location.hash.replace(/^#\/?/, '');
  const q = text.indexOf('?');
  const [path, ...rest] = (q < 0 ? text : text.slice(0, q)).split('/');
  return { path, arg: rest.map((p) => decodeURIComponent(p)).join('/'), params: new URLSearchParams(q < 0 ? '' : text.slice(q + 1)) };
}

/**
 * @param {string} path `meters` or `meter/<id>` (already encoded)
 * @param {Record<string, string | undefined>} [params]
 */
function go(path, params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, v);
  const hash = `#/${path}${q.size ? `?${q}` : ''}`;
  if (location.hash === hash) void route();
  else location.hash = hash;
}

let announced = 0;
/** A polite message in the live region, cleared after a few seconds. @param {string} text */
function announce(text) {
  const n = ++announced;
  status.textContent = '';
  setTimeout(() => (status.textContent = text), 50);
  setTimeout(() => n === announced && (status.textContent = ''), 6000);
}

/** @param {string} permission */
function may(permission) {
  return me?.permissions.includes(permission) ?? false;
}

/** @param {Page} page */
function mayOpen(page) {
  return page.permission.split('|').some(may);
}

function renderChrome() {
  document.documentElement.lang = language();
  document.title = t('app.title');
  nav.setAttribute('aria-label', t('nav.label'));
  replace(
    lang,
    Object.entries(LANGUAGES).map(([code, l]) => h('option', { value: code, selected: code === language() }, l.name)),
  );
  const langLabel = document.getElementById('lang-label');
  if (langLabel) langLabel.textContent = t('app.language');
  signout.textContent = t('signin.signout');
  signout.hidden = !me;
  who.textContent = me ? t('app.signedInAs', { name: me.name, role: me.role }) : '';
  const current = parseHash().path;
  replace(
    nav,
    me
      ? h(
          'ul',
          {},
          PAGES.filter((p) => p.label && mayOpen(p)).map((p) =>
            h('li', {}, h('a', { href: `#/${p.path}`, 'aria-current': p.path === current || (p.path === 'meters' && current === 'meter') ? 'page' : undefined }, t(/** @type {any} */ (p.label)))),
          ),
        )
      : null,
  );
}

/** The first page the role may open. */
function home() {
  return PAGES.find((p) => p.label && mayOpen(p));
}

async function route() {
  renderChrome();
  const { path, arg, params } = parseHash();
  // data-route: which route this container renders (the browser tests wait for it after a navigation).
  const container = h('div', { class: 'page', 'data-route': me ? path : 'signin' });
  main.replaceChildren(container);
  if (!me) return renderSignIn(container);
  const page = PAGES.find((p) => p.path === path);
  if (!page) {
    const first = home();
    if (first) return go(first.path);
    return replace(container, h('h1', {}, t('app.title')), h('p', {}, t('app.noPages', { role: me.role })));
  }
  if (!mayOpen(page)) {
    return replace(container, h('h1', {}, t('app.title')), h('p', { role: 'alert' }, t('app.forbidden', { role: me.role })));
  }
  try {
    await page.render({ main: container, params, arg, me, may, go, announce });
  } catch (err) {
    container.append(errorBox(err));
  }
}

/** @param {HTMLElement} container */
function renderSignIn(container) {
  const input = h('input', { type: 'password', name: 'key', autocomplete: 'off', required: true, spellcheck: 'false' });
  const message = h('p', { class: 'error', role: 'alert', hidden: true });
  const form = h(
    'form',
    {
      class: 'signin',
      onsubmit: async (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        message.hidden = true;
        const key = input.value.trim();
        try {
          me = await api('/v1/keys/me', { key });
          keepKey(key);
          input.value = '';
          announce(t('signin.welcome', { name: me?.name ?? '' }));
          await route();
        } catch (err) {
          message.textContent = err instanceof ApiError && err.status === 401 ? t('signin.invalid') : errorBox(err).textContent;
          message.hidden = false;
        }
      },
    },
    h('h1', {}, t('signin.title')),
    h('p', {}, t('signin.help')),
    field(t('signin.key'), input),
    h('button', { type: 'submit' }, t('signin.submit')),
    message,
  );
  replace(container, form);
  input.focus();
}

function signOut() {
  forgetKey();
  me = null;
  void route();
}

whenUnauthorized(signOut);
signout.addEventListener('click', signOut);
lang.addEventListener('change', () => {
  setLanguage(lang.value);
  void route();
});
// A new page: focus moves to it (a screen reader reads the new page, Tab goes on from its start).
window.addEventListener('hashchange', () => void route().then(() => main.focus({ preventScroll: true })));

async function start() {
  setLanguage(language());
  const key = currentKey();
  if (key) {
    try {
      me = await api('/v1/keys/me');
    } catch {
      forgetKey();
    }
  }
  await route();
}
void start();
