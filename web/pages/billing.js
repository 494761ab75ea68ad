/**
 * Billing readiness: for a period, which meters are not billable and why
 * (`GET /v1/billing/readiness`), each linked to its Meter page over the period.
 * Route: `#/billing?period=YYYY-MM&portfolio=&group=`.
 */
import { api } from '../api.js';
import { field, h, table } from '../dom.js';
import { addDays, dateTime, localMonth, num, percent } from '../format.js';
import { t, tOr } from '../i18n/index.js';
import { filterForm, link } from '../ui.js';

/** @param {import('../types.js').PageContext} ctx */
export async function render(ctx) {
  const { main, params } = ctx;
  const periodParam = params.get('period') ?? '';
  const period = /^\d{4}-(0[1-9]|1[0-2])$/.test(periodParam) ? periodParam : localMonth('Europe/Istanbul');
  const portfolio = params.get('portfolio') ?? '';
  const group = params.get('group') ?? '';
  main.append(
    h('h1', {}, t('billing.title')),
    filterForm(
      t('billing.filters'),
      (p) => ctx.go('billing', p),
      field(t('billing.period'), h('input', { type: 'month', name: 'period', value: period, required: true, pattern: '\\d{4}-\\d{2}' })),
      field(t('meters.portfolio'), h('input', { type: 'text', name: 'portfolio', value: portfolio, maxlength: 128 })),
      field(t('meters.group'), h('input', { type: 'text', name: 'group', value: group, maxlength: 128 })),
    ),
  );
  // The API takes one selector at most: portfolio wins over group.
  const res = await api('/v1/billing/readiness', { query: { period, ...(portfolio ? { portfolio } : group ? { group } : {}) } });
  const [y, m] = period.split('-').map(Number);
  const from = `${period}-01`;
  const to = addDays(from, new Date(Date.UTC(y, m, 0)).getUTCDate());
  main.append(
    h(
      'p',
      { class: 'summary', 'data-not-billable': res.notBillable.length },
      t('billing.summary', { meters: num(res.meters, 0), billable: num(res.billable, 0), notBillable: num(res.notBillable.length, 0), period }),
      ' ',
      t('billing.computed', { at: dateTime(res.computedAt), source: res.source }),
    ),
    res.notBillable.length === 0
      ? h('p', { class: 'good' }, t('billing.allBillable'))
      : table(
          t('billing.caption', { period }),
          [t('meters.id'), t('meters.completeness'), t('billing.reasons')],
          res.notBillable.map((/** @type {any} */ n) => [
            link(`meter/${encodeURIComponent(n.meter)}`, { from, to, interval: 'day' }, n.meter),
            percent(n.completeness),
            h(
              'ul',
              { class: 'reasons' },
              n.reasons.map((/** @type {any} */ r) => h('li', {}, h('strong', {}, tOr(`reason.${r.code}`, r.code)), ': ', r.message)),
            ),
          ]),
          { class: 'readiness' },
        ),
  );
}
