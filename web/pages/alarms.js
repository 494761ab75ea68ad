/**
 * Alarms: open, acknowledged and closed alarms with filters, newest first;
 * acknowledge and close with a comment (roles with `alarms:write`).
 * One alarm's details and, for admins, its hook deliveries (`GET /v1/hooks/:id/deliveries?alarm=`)
 * with redelivery.
 * Route: `#/alarms?state=&severity=&code=&meter=&group=&before=&alarm=<id>`.
 */
import { api } from '../api.js';
import { field, h, select, table } from '../dom.js';
import { dateTime, num } from '../format.js';
import { t } from '../i18n/index.js';
import { commentAction, errorBox, filterForm, link, pager } from '../ui.js';

const STATES = ['active', 'open', 'acknowledged', 'closed'];
const SEVERITIES = ['critical', 'major', 'minor', 'warning', 'info'];

/** @param {import('../types.js').PageContext} ctx */
export async function render(ctx) {
  const { main, params } = ctx;
  const filters = Object.fromEntries(['state', 'severity', 'code', 'meter', 'group'].map((k) => [k, params.get(k) ?? '']));
  main.append(
    h('h1', {}, t('alarms.title')),
    filterForm(
      t('alarms.filters'),
      (p) => ctx.go('alarms', p),
      field(t('alarm.state'), select('state', [['', t('common.any')], ...STATES.map((s) => /** @type {[string, string]} */ ([s, t(/** @type {any} */ (`alarmState.${s}`))]))], filters.state)),
      field(t('alarm.severity'), select('severity', [['', t('common.any')], ...SEVERITIES.map((s) => /** @type {[string, string]} */ ([s, s]))], filters.severity)),
      field(t('alarm.code'), h('input', { type: 'text', name: 'code', value: filters.code, maxlength: 64 })),
      field(t('alarm.meter'), h('input', { type: 'text', name: 'meter', value: filters.meter, maxlength: 128 })),
      field(t('meters.group'), h('input', { type: 'text', name: 'group', value: filters.group, maxlength: 128 })),
    ),
  );
  const before = params.get('before') ?? undefined;
  const chosen = params.get('alarm');
  if (chosen && /^\d+$/.test(chosen)) {
    const detail = h('section', { 'aria-labelledby': 'alarm-h', class: 'detail' });
    main.append(detail);
    await alarmDetail(ctx, detail, Number(chosen)).catch((err) => detail.append(errorBox(err)));
  }
  const res = await api('/v1/alarms', { query: { ...filters, before, limit: 100 } });
  const mayWrite = ctx.may('alarms:write');
  const messages = h('div', { 'aria-live': 'polite' });
  /** @param {any} alarm @param {'acknowledge' | 'close'} action */
  const act = (alarm, action) => async (/** @type {string} */ comment) => {
    try {
      await api(`/v1/alarms/${alarm.id}/${action}`, { method: 'POST', body: { comment } });
      ctx.announce(t(action === 'acknowledge' ? 'alarms.acknowledged' : 'alarms.closed', { id: alarm.id }));
      ctx.go('alarms', { ...filters, before });
    } catch (err) {
      messages.replaceChildren(errorBox(err));
    }
  };
  main.append(
    messages,
    res.alarms.length === 0
      ? h('p', {}, t('alarms.none'))
      : table(
          t('alarms.caption', { n: res.alarms.length }),
          [
            t('alarm.id'),
            t('alarm.meter'),
            t('alarm.code'),
            t('alarm.severity'),
            t('alarm.state'),
            t('alarm.count'),
            t('alarm.openedAt'),
            t('alarm.lastSeenAt'),
            t('alarm.comment'),
            t('common.actions'),
          ],
          res.alarms.map((/** @type {any} */ a) => [
            link('alarms', { ...filters, before, alarm: String(a.id) }, String(a.id)),
            link(`meter/${encodeURIComponent(a.meter)}`, {}, a.meter),
            a.code,
            h('span', { class: `sev sev-${a.severity}` }, a.severity),
            h('span', { class: `state state-${a.state}`, 'data-state': a.state }, t(/** @type {any} */ (`alarmState.${a.state}`))),
            num(a.count, 0),
            dateTime(a.openedAt),
            dateTime(a.lastSeenAt),
            a.comment ? `${a.acknowledgedBy ?? a.closedBy ?? ''}: ${a.comment}` : '',
            mayWrite && a.state !== 'closed'
              ? h('div', { class: 'actions' }, a.state === 'open' ? commentAction(t('alarms.acknowledge'), act(a, 'acknowledge')) : null, commentAction(t('alarms.close'), act(a, 'close')))
              : '',
          ]),
          { class: 'alarms' },
        ),
    pager(res.nextCursor, !before, (c) => ctx.go('alarms', { ...filters, before: c })),
  );
}

/**
 * One alarm: its fields, data and work order; with `alarms:admin`, what each hook was sent about it.
 * @param {import('../types.js').PageContext} ctx
 * @param {HTMLElement} section
 * @param {number} id
 */
async function alarmDetail(ctx, section, id) {
  const a = await api(`/v1/alarms/${id}`);
  section.append(
    h('h2', { id: 'alarm-h' }, t('alarms.detail', { id, code: a.code, meter: a.meter })),
    h(
      'dl',
      { class: 'attributes' },
      [
        [t('alarm.state'), t(/** @type {any} */ (`alarmState.${a.state}`))],
        [t('alarm.severity'), a.severity],
        [t('alarm.openedAt'), dateTime(a.openedAt)],
        [t('alarm.lastSeenAt'), dateTime(a.lastSeenAt)],
        [t('alarms.closedAt'), dateTime(a.closedAt)],
        [t('alarms.source'), `${a.source}${a.rule ? ` (${a.rule})` : ''}`],
        [t('alarms.acknowledgedBy'), a.acknowledgedBy ? `${a.acknowledgedBy}, ${dateTime(a.acknowledgedAt)}` : '—'],
        [t('alarms.closedBy'), a.closedBy ?? '—'],
        [t('alarm.comment'), a.comment ?? '—'],
        [t('alarms.workOrder'), a.workOrder ? `${a.workOrder.id} (${a.workOrder.status})` : '—'],
        [t('alarms.data'), a.data ? JSON.stringify(a.data) : '—'],
      ].flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
  );
  if (!ctx.may('alarms:admin')) return;
  const hooks = (await api('/v1/hooks')).hooks;
  const lists = await Promise.all(
    hooks.map((/** @type {any} */ k) => api(`/v1/hooks/${k.id}/deliveries`, { query: { alarm: id, limit: 100 } }).then((r) => r.deliveries.map((/** @type {any} */ d) => ({ ...d, url: k.url })))),
  );
  const deliveries = lists.flat();
  if (deliveries.length === 0) return void section.append(h('p', {}, t('alarms.noDeliveries')));
  const message = h('div', { 'aria-live': 'polite' });
  section.append(
    table(
      t('alarms.deliveriesCaption', { n: deliveries.length }),
      [t('alarms.hook'), t('alarms.transition'), t('alarms.deliveryStatus'), t('alarms.attempts'), t('alarms.lastError'), t('alarms.deliveredAt'), t('common.actions')],
      deliveries.map((d) => [
        d.url,
        d.transition,
        h('span', { 'data-delivery': d.status }, d.status),
        num(d.attempts, 0),
        d.lastError ?? (d.lastStatus ? `HTTP ${d.lastStatus}` : ''),
        dateTime(d.deliveredAt ?? d.nextAttemptAt),
        d.status === 'failed' || d.status === 'delivered'
          ? h(
              'button',
              {
                type: 'button',
                onclick: async () => {
                  try {
                    await api(`/v1/hooks/${d.hookId}/deliveries/${encodeURIComponent(d.id)}/redeliver`, { method: 'POST' });
                    ctx.go('alarms', Object.fromEntries(ctx.params));
                  } catch (err) {
                    message.replaceChildren(errorBox(err));
                  }
                },
              },
              t('alarms.redeliver'),
            )
          : '',
      ]),
      { class: 'deliveries' },
    ),
    message,
  );
}
