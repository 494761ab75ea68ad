/**
 * Meters: the registry filtered, sorted and paged by the server in one request
 * (`GET /v1/meters?status=true`): id substring, portfolio, group, commodity,
 * region, a label, active alarms, completeness below a level and billability
 * in a month; each meter with its last value and its time, its completeness
 * and billability in the month (the period's billing readiness) and its active
 * alarms. A column heading sorts the whole registry (`sort=id|lastValueAt|completeness|openAlarms`,
 * `order=asc|desc`), keyset pages follow that order, so 100 000 meters page as fast as 100.
 * Route: `#/meters?q=&portfolio=&group=&commodity=&region=&label=key=value&openAlarms=true|false&below=<percent>&billable=true|false&limit=&month=YYYY-MM&sort=&order=&cursor=`.
 */
import { api } from '../api.js';
import { field, h, select } from '../dom.js';
import { dateTime, num, percent } from '../format.js';
import { t } from '../i18n/index.js';
import { filterForm, link, pager } from '../ui.js';

const COMMODITIES = ['electricity', 'gas', 'water', 'heat', 'weather'];
/** Units of the channels a last value is read from (the primary channel of each commodity; heat: its energy register). */
const UNITS = /** @type {Record<string, string>} */ ({ active_import: 'kWh', volume: 'm³', heat_energy_register: 'kWh' });
/** The route's query keys, in the order the form shows them. */
const KEYS = ['q', 'portfolio', 'group', 'commodity', 'region', 'label', 'openAlarms', 'below', 'billable', 'limit', 'month', 'sort', 'order'];

/** @param {import('../types.js').PageContext} ctx */
export async function render(ctx) {
  const { main, params } = ctx;
  const filters = Object.fromEntries(KEYS.map((k) => [k, params.get(k) ?? '']));
  const billing = ctx.may('billing:read');
  main.append(
    h('h1', {}, t('meters.title')),
    filterForm(
      t('meters.filters'),
      // A new filter starts at the first page, in the order chosen.
      (p) => ctx.go('meters', { ...p, sort: filters.sort || undefined, order: filters.order || undefined }),
      field(t('meters.search'), h('input', { type: 'search', name: 'q', value: filters.q, maxlength: 128 })),
      field(t('meters.portfolio'), h('input', { type: 'text', name: 'portfolio', value: filters.portfolio, maxlength: 128 })),
      field(t('meters.group'), h('input', { type: 'text', name: 'group', value: filters.group, maxlength: 128 })),
      field(
        t('meters.commodity'),
        select('commodity', [['', t('common.any')], ...COMMODITIES.map((c) => /** @type {[string, string]} */ ([c, t(/** @type {any} */ (`commodity.${c}`))]))], filters.commodity),
      ),
      field(t('meters.region'), h('input', { type: 'text', name: 'region', value: filters.region, maxlength: 128 })),
      field(t('meters.label'), h('input', { type: 'text', name: 'label', value: filters.label, maxlength: 400, placeholder: 'feeder=F12' })),
      field(
        t('meters.withAlarms'),
        select(
          'openAlarms',
          [
            ['', t('common.any')],
            ['true', t('meters.withAlarms.yes')],
            ['false', t('meters.withAlarms.no')],
          ],
          filters.openAlarms,
        ),
      ),
      ...(billing
        ? [
            field(t('meters.below'), h('input', { type: 'number', name: 'below', value: filters.below, min: 0, max: 100, step: 'any', inputmode: 'decimal' })),
            field(
              t('meters.billableFilter'),
              select(
                'billable',
                [
                  ['', t('common.any')],
                  ['false', t('meters.billableFilter.no')],
                  ['true', t('meters.billableFilter.yes')],
                ],
                filters.billable,
              ),
            ),
          ]
        : []),
      field(t('meters.month'), h('input', { type: 'month', name: 'month', value: filters.month })),
      field(
        t('meters.pageSize'),
        select(
          'limit',
          [
            ['', '100'],
            ['25', '25'],
            ['50', '50'],
            ['500', '500'],
          ],
          filters.limit,
        ),
      ),
    ),
  );
  const cursor = params.get('cursor') ?? undefined;
  const { month, below, billable, sort, order, ...listFilters } = filters;
  const belowPercent = below === '' ? Number.NaN : Number(below);
  const res = await api('/v1/meters', {
    query: {
      ...listFilters,
      status: 'true',
      period: /^\d{4}-(0[1-9]|1[0-2])$/.test(month) ? month : undefined,
      completenessBelow: billing && belowPercent >= 0 && belowPercent <= 100 ? belowPercent / 100 : undefined,
      billable: billing ? billable : undefined,
      sort,
      order,
      cursor,
    },
  });
  /** @type {any[]} */
  const meters = res.meters;
  /** The registry-wide sorts of the API, by column, for the roles that may read the column. */
  const sorts = /** @type {Record<string, string | undefined>} */ ({
    id: 'id',
    last: ctx.may('readings:read') ? 'lastValueAt' : undefined,
    completeness: billing ? 'completeness' : undefined,
    alarms: ctx.may('alarms:read') ? 'openAlarms' : undefined,
  });
  const sortKey = ['id', 'lastValueAt', 'completeness', 'openAlarms'].includes(sort) ? sort : 'id';
  const descending = order === 'desc';
  const columns = [
    ['id', t('meters.id')],
    ['commodity', t('meters.commodity')],
    ['portfolio', t('meters.portfolio')],
    ['group', t('meters.group')],
    ['last', t('meters.lastValue')],
    ['completeness', t('meters.completeness')],
    ['alarms', t('meters.openAlarms')],
    ['billable', t('meters.billable')],
  ];
  const head = columns.map(([column, label]) => {
    const key = sorts[column];
    if (!key) return h('th', { scope: 'col' }, label);
    const active = key === sortKey;
    // Ascending first; a second click turns it round. The cursor is left out: a new order starts at its first page.
    const next = active && !descending ? { sort: key === 'id' ? undefined : key, order: 'desc' } : { sort: key === 'id' ? undefined : key, order: undefined };
    return h(
      'th',
      { scope: 'col', 'aria-sort': active ? (descending ? 'descending' : 'ascending') : undefined },
      h('button', { type: 'button', class: 'sort', onclick: () => ctx.go('meters', { ...filters, ...next }) }, label, active ? (descending ? ' ▼' : ' ▲') : ''),
    );
  });
  const rows = meters.map((m) => {
    const s = m.status ?? {};
    return [
      link(`meter/${encodeURIComponent(m.id)}`, {}, m.id),
      t(/** @type {any} */ (`commodity.${m.commodity}`)),
      m.portfolio ?? '—',
      m.group ?? '—',
      s.lastValueAt ? h('span', { class: 'last' }, `${num(s.lastValue)} ${UNITS[s.lastChannel] ?? s.lastChannel}`, h('br'), h('small', {}, dateTime(s.lastValueAt, m.timezone))) : '—',
      percent(s.completeness),
      s.openAlarms === null || s.openAlarms === undefined ? '—' : s.openAlarms > 0 ? link('alarms', { meter: m.id, state: 'active' }, num(s.openAlarms, 0)) : '0',
      s.billable === true ? h('span', { class: 'good' }, t('common.yes')) : s.billable === false ? h('span', { class: 'bad' }, link('billing', { period: res.period }, t('meters.notBillable'))) : '—',
    ];
  });
  const figures = res.readinessComputedAt ? t('meters.figuresOf', { month: res.period, at: dateTime(res.readinessComputedAt) }) : '';
  main.append(
    meters.length === 0
      ? h('p', {}, t('meters.none'))
      : h(
          'table',
          { class: 'meters' },
          h('caption', {}, t('meters.caption', { n: meters.length, month: res.period ?? '' }), ' ', t('meters.sortNote'), figures ? ` ${figures}` : ''),
          h('thead', {}, h('tr', {}, head)),
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
        ),
    pager(res.nextCursor, !cursor, (c) => ctx.go('meters', { ...filters, cursor: c })),
  );
}
