/**
 * Alarms: open, acknowledged and closed alarms with filters, newest first;
 * acknowledge and close with a comment (roles with `alarms:write`).
 * Route: `#/alarms?state=&severity=&code=&meter=&group=&before=`.
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
            String(a.id),
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
