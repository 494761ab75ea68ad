/**
 * Meters: the registry, filtered and paged by the server (`GET /v1/meters`:
 * id substring, portfolio, group, commodity, region, a label, open alarms;
 * keyset pages by id), with this
 * month's completeness and billability of the meters on the page (one
 * `GET /v1/completeness` and one `GET /v1/billing/readiness` per page, when
 * the role may read them) and their active alarms.
 * The page's rows sort by any column (`sort=`, `order=desc`); the pages themselves come by id (the API's order).
 * Route: `#/meters?q=&portfolio=&group=&commodity=&region=&label=key=value&openAlarms=true|false&limit=&month=YYYY-MM&sort=&order=&cursor=`.
 */
import { api } from '../api.js';
import { field, h, select } from '../dom.js';
import { localMonth, num, percent } from '../format.js';
import { t, tOr } from '../i18n/index.js';
import { errorBox, filterForm, link, pager } from '../ui.js';

const COMMODITIES = ['electricity', 'gas', 'water', 'heat', 'weather'];

/** @param {import('../types.js').PageContext} ctx */
export async function render(ctx) {
  const { main, params } = ctx;
  const filters = Object.fromEntries(['q', 'portfolio', 'group', 'commodity', 'region', 'label', 'openAlarms', 'limit', 'month', 'sort', 'order'].map((k) => [k, params.get(k) ?? '']));
  main.append(
    h('h1', {}, t('meters.title')),
    filterForm(
      t('meters.filters'),
      (p) => ctx.go('meters', p),
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
  const { month: monthParam, sort: _sort, order: _order, ...listFilters } = filters;
  const res = await api('/v1/meters', { query: { ...listFilters, cursor } });
  /** @type {any[]} */
  const meters = res.meters;
  const ids = meters.map((m) => m.id);
  const month = /^\d{4}-(0[1-9]|1[0-2])$/.test(monthParam) ? monthParam : localMonth(meters[0]?.timezone ?? 'Europe/Istanbul');
  // The page's figures, each from its documented route; a role without the permission sees "—".
  // Ids go into the query string: in parts of at most ~4 000 characters, so that a page of long ids stays within URL limits.
  const parts = idParts(ids, 4000);
  /** @param {string} path */
  const each = (path) => Promise.all(parts.map((p) => api(path, { query: { period: month, meters: p } }))).catch(() => null);
  const [completenessParts, readinessParts, alarms] = await Promise.all([
    ids.length && ctx.may('readings:read') ? each('/v1/completeness') : null,
    ids.length && ctx.may('billing:read') ? each('/v1/billing/readiness') : null,
    ids.length && ctx.may('alarms:read') ? api('/v1/alarms', { query: { state: 'active', limit: 1000 } }).catch(() => null) : null,
  ]);
  const completeness = completenessParts && { meters: completenessParts.flatMap((r) => r.meters) };
  const readiness = readinessParts && { notBillable: readinessParts.flatMap((r) => r.notBillable) };
  /** @type {Map<string, number>} */
  const complete = new Map((completeness?.meters ?? []).map((/** @type {any} */ c) => [c.meter, c.completeness]));
  const notBillable = new Map((readiness?.notBillable ?? []).map((/** @type {any} */ n) => [n.meter, n.reasons.map((/** @type {any} */ r) => tOr(`reason.${r.code}`, r.code)).join(', ')]));
  /** @type {Map<string, number>} */
  const openAlarms = new Map();
  for (const a of alarms?.alarms ?? []) openAlarms.set(a.meter, (openAlarms.get(a.meter) ?? 0) + 1);

  /** Sort keys of the columns, in their order: the page's rows are sorted here, the pages themselves come by id. */
  const columns = /** @type {const} */ (['id', 'commodity', 'portfolio', 'group', 'timezone', 'completeness', 'alarms', 'billable']);
  /** @param {any} m @param {typeof columns[number]} key @returns {string | number | null} */
  const sortValue = (m, key) =>
    key === 'completeness' ? (complete.get(m.id) ?? null) : key === 'alarms' ? (openAlarms.get(m.id) ?? 0) : key === 'billable' ? (readiness ? (notBillable.has(m.id) ? 0 : 1) : null) : m[key];
  const sortKey = columns.find((c) => c === params.get('sort')) ?? 'id';
  const descending = params.get('order') === 'desc';
  const sorted = [...meters].sort((a, b) => {
    const x = sortValue(a, sortKey);
    const y = sortValue(b, sortKey);
    if (x === y) return a.id < b.id ? -1 : 1;
    if (x === null) return 1; // unknown last, whatever the order
    if (y === null) return -1;
    return (x < y ? -1 : 1) * (descending ? -1 : 1);
  });
  const rows = sorted.map((m) => [
    link(`meter/${encodeURIComponent(m.id)}`, {}, m.id),
    t(/** @type {any} */ (`commodity.${m.commodity}`)),
    m.portfolio ?? '—',
    m.group ?? '—',
    m.timezone,
    completeness ? percent(complete.get(m.id)) : '—',
    alarms ? (openAlarms.get(m.id) ? link('alarms', { meter: m.id, state: 'active' }, num(openAlarms.get(m.id), 0)) : '0') : '—',
    readiness
      ? notBillable.has(m.id)
        ? h('span', { class: 'bad', title: notBillable.get(m.id) }, `${t('common.no')} (${notBillable.get(m.id)})`)
        : h('span', { class: 'good' }, t('common.yes'))
      : '—',
  ]);
  const labels = [t('meters.id'), t('meters.commodity'), t('meters.portfolio'), t('meters.group'), t('meters.timezone'), t('meters.completeness'), t('meters.openAlarms'), t('meters.billable')];
  const head = columns.map((key, i) =>
    h(
      'th',
      { scope: 'col', 'aria-sort': key === sortKey ? (descending ? 'descending' : 'ascending') : undefined },
      h(
        'button',
        {
          type: 'button',
          class: 'sort',
          onclick: () =>
            ctx.go('meters', { ...filters, cursor, sort: key === 'id' && !(key === sortKey && !descending) ? undefined : key, order: key === sortKey && !descending ? 'desc' : undefined }),
        },
        labels[i],
        key === sortKey ? (descending ? ' ▼' : ' ▲') : '',
      ),
    ),
  );
  main.append(
    meters.length === 0
      ? h('p', {}, t('meters.none'))
      : h(
          'table',
          { class: 'meters' },
          h('caption', {}, t('meters.caption', { n: meters.length, month }), ' ', t('meters.sortNote')),
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
  if (alarms?.nextCursor) main.append(h('p', { class: 'note' }, t('meters.alarmsCapped')));
  if (completeness === null && ctx.may('readings:read') && ids.length) main.append(errorBox(new Error(t('meters.figuresFailed'))));
}

/**
 * Comma-joined groups of ids, each at most `max` characters (URL-encoded length is close: ids are mostly ASCII).
 * @param {string[]} ids
 * @param {number} max
 */
export function idParts(ids, max) {
  /** @type {string[]} */
  const parts = [];
  let current = '';
  for (const id of ids) {
    const next = current ? `${current},${id}` : id;
    if (next.length > max && current) {
      parts.push(current);
      current = id;
    } else current = next;
  }
  if (current) parts.push(current);
  return parts;
}
