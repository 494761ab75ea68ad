/**
 * Admin: API keys (create — the secret shown once —, revoke), alarm hooks
 * (list, create, deactivate) and the health of each component (`GET /health`).
 * Route: `#/admin`.
 */
import { api } from '../api.js';
import { field, h, select, table } from '../dom.js';
import { dateTime, num } from '../format.js';
import { t } from '../i18n/index.js';
import { errorBox } from '../ui.js';

const ROLES = ['admin', 'gateway', 'billing', 'trader', 'operator', 'viewer', 'steward'];

/** @param {import('../types.js').PageContext} ctx */
export async function render(ctx) {
  const { main } = ctx;
  main.append(h('h1', {}, t('admin.title')));
  const health = h('section', { 'aria-labelledby': 'health-h' }, h('h2', { id: 'health-h' }, t('admin.health')));
  const keys = h('section', { 'aria-labelledby': 'keys-h' }, h('h2', { id: 'keys-h' }, t('admin.keys')));
  const hooks = h('section', { 'aria-labelledby': 'hooks-h' }, h('h2', { id: 'hooks-h' }, t('admin.hooks')));
  main.append(health, keys, hooks);
  await Promise.all([
    loadHealth(health).catch((err) => health.append(errorBox(err))),
    loadKeys(ctx, keys).catch((err) => keys.append(errorBox(err))),
    ctx.may('alarms:admin') ? loadHooks(ctx, hooks).catch((err) => hooks.append(errorBox(err))) : hooks.remove(),
  ]);
}

/** @param {HTMLElement} section */
async function loadHealth(section) {
  // 503 still carries the body: read it whatever the status.
  const res = await fetch('/health', { headers: { accept: 'application/json' } });
  const body = await res.json();
  /** @type {[string, boolean, string][]} */
  const rows = [[t('admin.database'), body.database.ok, `${body.database.engine} / ${body.database.flavour}${body.database.error ? ` — ${body.database.error}` : ''}`]];
  for (const [name, c] of Object.entries(/** @type {Record<string, any>} */ (body.components))) {
    const { ok, ...rest } = c;
    rows.push([name, ok, JSON.stringify(rest).slice(0, 300)]);
  }
  section.append(
    h('p', { class: body.status === 'ok' ? 'good' : 'bad', 'data-status': body.status }, t('admin.status', { status: body.status })),
    table(
      t('admin.components'),
      [t('admin.component'), t('admin.ok'), t('admin.details')],
      rows.map(([name, ok, details]) => [name, h('span', { class: ok ? 'good' : 'bad' }, ok ? t('common.yes') : t('common.no')), details]),
    ),
  );
}

/**
 * @param {import('../types.js').PageContext} ctx
 * @param {HTMLElement} section
 */
async function loadKeys(ctx, section) {
  const res = await api('/v1/keys');
  const secret = h('div', { 'aria-live': 'polite' });
  const name = h('input', { type: 'text', name: 'name', required: true, maxlength: 128 });
  const role = select(
    'role',
    ROLES.map((r) => /** @type {[string, string]} */ ([r, r])),
    'viewer',
  );
  const form = h(
    'form',
    {
      class: 'filters',
      'aria-label': t('admin.createKey'),
      onsubmit: async (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        try {
          const created = await api('/v1/keys', { method: 'POST', body: { name: name.value.trim(), role: role.value } });
          // Shown once, as text, in the page only: never stored by the console.
          secret.replaceChildren(h('p', { class: 'secret' }, t('admin.secret', { name: created.name }), ' ', h('code', {}, created.key)));
          section.querySelector('table')?.remove();
          section.append(keyTable(ctx, (await api('/v1/keys')).keys));
        } catch (err) {
          secret.replaceChildren(errorBox(err));
        }
      },
    },
    field(t('admin.keyName'), name),
    field(t('admin.role'), role),
    h('button', { type: 'submit' }, t('admin.createKey')),
  );
  section.append(form, secret, keyTable(ctx, res.keys));
}

/**
 * @param {import('../types.js').PageContext} ctx
 * @param {any[]} keys
 */
function keyTable(ctx, keys) {
  return table(
    t('admin.keysCaption', { n: keys.length }),
    [t('admin.keyName'), t('admin.role'), t('admin.created'), t('admin.lastUsed'), t('common.actions')],
    keys.map((k) => [
      k.name,
      k.role,
      dateTime(k.createdAt),
      dateTime(k.lastUsedAt),
      k.id === ctx.me.id
        ? t('admin.thisKey')
        : h(
            'button',
            {
              type: 'button',
              'aria-label': t('admin.revokeKey', { name: k.name }),
              onclick: async () => {
                if (!confirm(t('admin.confirmRevoke', { name: k.name }))) return;
                await api(`/v1/keys/${encodeURIComponent(k.id)}`, { method: 'DELETE' });
                ctx.announce(t('admin.revoked', { name: k.name }));
                ctx.go('admin');
              },
            },
            t('admin.revoke'),
          ),
    ]),
    { class: 'keys' },
  );
}

/**
 * @param {import('../types.js').PageContext} ctx
 * @param {HTMLElement} section
 */
async function loadHooks(ctx, section) {
  const res = await api('/v1/hooks');
  const message = h('div', { 'aria-live': 'polite' });
  const url = h('input', { type: 'url', name: 'url', required: true, maxlength: 2000, placeholder: 'https://' });
  const description = h('input', { type: 'text', name: 'description', maxlength: 500 });
  section.append(
    h(
      'form',
      {
        class: 'filters',
        'aria-label': t('admin.createHook'),
        onsubmit: async (/** @type {SubmitEvent} */ e) => {
          e.preventDefault();
          try {
            const created = await api('/v1/hooks', { method: 'POST', body: { url: url.value.trim(), ...(description.value.trim() ? { description: description.value.trim() } : {}) } });
            message.replaceChildren(h('p', { class: 'secret' }, t('admin.hookSecret'), ' ', h('code', {}, created.secret ?? '')));
            ctx.announce(t('admin.hookCreated', { id: created.id }));
          } catch (err) {
            message.replaceChildren(errorBox(err));
          }
        },
      },
      field(t('admin.hookUrl'), url),
      field(t('admin.hookDescription'), description),
      h('button', { type: 'submit' }, t('admin.createHook')),
    ),
    message,
  );
  if (res.hooks.length === 0) return void section.append(h('p', {}, t('admin.noHooks')));
  section.append(
    table(
      t('admin.hooksCaption', { n: res.hooks.length }),
      ['id', t('admin.hookUrl'), t('admin.transitions'), t('admin.active'), t('admin.pending'), t('admin.failed'), t('common.actions')],
      res.hooks.map((/** @type {any} */ k) => [
        String(k.id),
        k.url,
        k.transitions.join(', '),
        k.active ? t('common.yes') : t('common.no'),
        num(k.pending, 0),
        num(k.failed, 0),
        k.active
          ? h(
              'button',
              {
                type: 'button',
                onclick: async () => {
                  if (!confirm(t('admin.confirmDeactivate', { url: k.url }))) return;
                  await api(`/v1/hooks/${k.id}`, { method: 'DELETE' });
                  ctx.go('admin');
                },
              },
              t('admin.deactivate'),
            )
          : '',
      ]),
    ),
  );
}
