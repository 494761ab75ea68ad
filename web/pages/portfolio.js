/**
 * Portfolio: the day-ahead forecast of a day as a P10–P90 band with its P50
 * and the actuals (`GET /v1/forecasts`, `GET /v1/aggregate`), accuracy of the
 * last four weeks against the naive D−7 forecast (`GET /v1/forecasts/accuracy`),
 * the run history (`GET /v1/forecasts/runs`) and, for traders and admins, a
 * button that queues a run; imbalance by hour of the day and per meter of its
 * month (`GET /v1/imbalance`, `GET /v1/imbalance/meters`): the day's hours as a
 * chart (position and consumption, the imbalance as bars, its cost on a second
 * axis) and a table, the meters as a table with each one's cost and share;
 * hours without every member's actual are left out unless `fill=` completes them.
 * Route: `#/portfolio?id=P&for=YYYY-MM-DD&fill=none|estimate|forecast|estimate-or-forecast` (a local day of the portfolio's zone).
 */
import { ApiError, api } from '../api.js';
import { bars, stepped, timeChart } from '../chart.js';
import { field, h, select, table } from '../dom.js';
import { addDays, dateTime, isDay, localDay, num, percent, startOfLocalDay, timeOfDay } from '../format.js';
import { t } from '../i18n/index.js';
import { errorBox, filterForm, link } from '../ui.js';

/** @param {import('../types.js').PageContext} ctx */
export async function render(ctx) {
  const { main, params } = ctx;
  main.append(h('h1', {}, t('portfolio.title')));
  const list = await api('/v1/portfolios');
  /** @type {any[]} */
  const portfolios = list.portfolios;
  if (portfolios.length === 0) return void main.append(h('p', {}, t('portfolio.none')));
  const portfolio = portfolios.find((p) => p.id === params.get('id')) ?? portfolios[0];
  const tz = portfolio.timezone;
  const day = isDay(params.get('for') ?? '') ? /** @type {string} */ (params.get('for')) : localDay(tz);
  const fill = FILLS.find((f) => f === params.get('fill')) ?? 'none';
  main.append(
    filterForm(
      t('portfolio.choose'),
      (p) => ctx.go('portfolio', p),
      field(
        t('portfolio.portfolio'),
        select(
          'id',
          portfolios.map((p) => /** @type {[string, string]} */ ([p.id, p.id])),
          portfolio.id,
        ),
      ),
      field(t('portfolio.day'), h('input', { type: 'date', name: 'for', value: day, required: true })),
      ...(ctx.may('imbalance:read')
        ? [
            field(
              t('imbalance.fill'),
              select(
                'fill',
                FILLS.map((f) => /** @type {[string, string]} */ ([f === 'none' ? '' : f, t(/** @type {any} */ (`imbalance.fill.${f}`))])),
                fill === 'none' ? '' : fill,
              ),
            ),
          ]
        : []),
    ),
    h(
      'p',
      { class: 'summary' },
      t('portfolio.about', { id: portfolio.id, meters: num(portfolio.meters, 0), area: portfolio.area, currency: portfolio.currency, tz }),
      ' ',
      link('meters', { portfolio: portfolio.id }, t('portfolio.members')),
    ),
  );
  const target = `portfolio:${portfolio.id}`;
  const forecastBox = h('section', { 'aria-labelledby': 'fc-h' }, h('h2', { id: 'fc-h' }, t('portfolio.forecast', { day })));
  const accuracyBox = h('section', { 'aria-labelledby': 'acc-h' }, h('h2', { id: 'acc-h' }, t('portfolio.accuracy')));
  const runsBox = h('section', { 'aria-labelledby': 'runs-h' }, h('h2', { id: 'runs-h' }, t('portfolio.runs')));
  const imbalanceBox = h('section', { 'aria-labelledby': 'imb-h' }, h('h2', { id: 'imb-h' }, t('imbalance.title', { day })));
  const monthBox = h('section', { 'aria-labelledby': 'month-h' }, h('h2', { id: 'month-h' }, t('portfolio.month', { month: day.slice(0, 7) })));
  main.append(forecastBox);
  if (ctx.may('aggregate:read')) main.append(monthBox);
  if (ctx.may('imbalance:read')) main.append(imbalanceBox);
  if (ctx.may('forecasts:read')) main.append(accuracyBox, runsBox);
  else forecastBox.append(h('p', { class: 'note' }, t('portfolio.noForecastRole', { role: ctx.me.role })));

  const fromMs = startOfLocalDay(day, tz);
  const toMs = startOfLocalDay(addDays(day, 1), tz);
  await Promise.all([
    loadForecast(ctx, forecastBox, target, portfolio, day, fromMs, toMs).catch((err) => forecastBox.append(errorBox(err))),
    ctx.may('forecasts:read') ? loadAccuracy(accuracyBox, target, tz, day).catch((err) => accuracyBox.append(errorBox(err))) : null,
    ctx.may('forecasts:read') ? loadRuns(ctx, runsBox, target, tz).catch((err) => runsBox.append(errorBox(err))) : null,
    ctx.may('aggregate:read') ? loadMonth(monthBox, portfolio, day).catch((err) => monthBox.append(errorBox(err))) : null,
    ctx.may('imbalance:read') ? loadImbalance(imbalanceBox, portfolio, day, fromMs, toMs, fill).catch((err) => imbalanceBox.append(errorBox(err))) : null,
  ]);
}

/**
 * @param {import('../types.js').PageContext} ctx
 * @param {HTMLElement} section
 * @param {string} target
 * @param {any} portfolio
 * @param {string} day
 * @param {number} fromMs
 * @param {number} toMs
 */
async function loadForecast(ctx, section, target, portfolio, day, fromMs, toMs) {
  const range = { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
  const [forecast, actual] = await Promise.all([
    ctx.may('forecasts:read')
      ? api('/v1/forecasts', { query: { target, horizon: 'day-ahead', for: day } }).catch((err) => {
          if (err instanceof ApiError && err.code === 'MDM_ERR_NO_FORECAST') return null;
          throw err;
        })
      : null,
    ctx.may('aggregate:read') ? api('/v1/aggregate', { query: { portfolio: portfolio.id, channel: 'active_import', interval: 'hour', tz: portfolio.timezone, ...range } }).catch(() => null) : null,
  ]);
  /** @type {Map<number, { p10?: number, p50?: number, p90?: number, actual?: number }>} */
  const byHour = new Map();
  for (const r of forecast?.rows ?? []) byHour.set(Date.parse(r.start) / 1000, { p10: r.p10, p50: r.p50, p90: r.p90 });
  for (const r of actual?.rows ?? []) {
    const x = Date.parse(r.start) / 1000;
    byHour.set(x, { ...byHour.get(x), actual: r.value });
  }
  const xs = [...byHour.keys()].sort((a, b) => a - b);
  /** @param {'p10' | 'p50' | 'p90' | 'actual'} k */
  const col = (k) => xs.map((x) => byHour.get(x)?.[k] ?? null);
  section.append(
    h(
      'p',
      { class: 'summary', 'data-forecast-hours': forecast?.rows.length ?? 0, 'data-actual-hours': actual?.rows.length ?? 0 },
      forecast
        ? t('portfolio.forecastInfo', { model: forecast.run.model, issued: dateTime(forecast.run.issueTime, portfolio.timezone), hours: forecast.rows.length, unit: forecast.unit })
        : ctx.may('forecasts:read')
          ? t('portfolio.noForecast', { day })
          : '',
      ' ',
      actual ? t('portfolio.actualInfo', { hours: actual.rows.length }) : '',
    ),
  );
  if (forecast?.warnings?.length)
    section.append(
      h(
        'ul',
        { class: 'warnings' },
        forecast.warnings.map((/** @type {any} */ w) => h('li', {}, typeof w === 'string' ? w : JSON.stringify(w))),
      ),
    );
  if (xs.length === 0) return void section.append(h('p', {}, t('portfolio.nothing')));
  const plot = h('div', { class: 'chart', role: 'img', 'aria-label': t('portfolio.chartLabel', { day }) });
  section.append(h('figure', {}, plot, h('figcaption', {}, t('portfolio.chartCaption'))));
  const unit = forecast?.unit ?? actual?.unit ?? 'kWh';
  timeChart(plot, {
    tz: portfolio.timezone,
    data: [xs, col('p10'), col('p90'), col('p50'), col('actual')],
    series: [
      { label: 'P10', stroke: 'rgba(37, 99, 235, 0.5)', width: 1, points: { show: false } },
      { label: 'P90', stroke: 'rgba(37, 99, 235, 0.5)', width: 1, points: { show: false } },
      { label: `P50 (${unit})`, stroke: '#2563eb', width: 2 },
      { label: `${t('portfolio.actual')} (${unit})`, stroke: '#111827', width: 2, points: { show: true, size: 5 } },
    ],
    bands: [{ series: [2, 1], fill: 'rgba(37, 99, 235, 0.15)' }],
  });
}

/**
 * @param {HTMLElement} section
 * @param {string} target
 * @param {string} tz
 * @param {string} day
 */
async function loadAccuracy(section, target, tz, day) {
  // The four weeks up to the end of the chosen day (that day included).
  const from = new Date(startOfLocalDay(addDays(day, -27), tz)).toISOString();
  const to = new Date(startOfLocalDay(addDays(day, 1), tz)).toISOString();
  const res = await api('/v1/forecasts/accuracy', { query: { target, from, to, horizon: 'day-ahead' } });
  const m = res.metrics ?? {};
  const n = res.naive ?? {};
  section.append(
    table(
      t('portfolio.accuracyCaption', { hours: num(m.hours ?? 0, 0) }),
      ['', t('portfolio.forecasts'), t('portfolio.naive')],
      [
        ['WAPE', percent(m.wape), percent(n.wape)],
        ['MAE', num(m.mae), num(n.mae)],
        [t('portfolio.coverage'), percent(m.coverage), '—'],
        [t('portfolio.skill'), res.skillVsNaive === null ? '—' : percent(res.skillVsNaive), ''],
      ],
    ),
  );
}

/**
 * @param {import('../types.js').PageContext} ctx
 * @param {HTMLElement} section
 * @param {string} target
 * @param {string} tz
 */
async function loadRuns(ctx, section, target, tz) {
  if (ctx.may('forecasts:run')) {
    const message = h('p', { 'aria-live': 'polite' });
    section.append(
      h(
        'button',
        {
          type: 'button',
          onclick: async () => {
            try {
              const run = await api('/v1/forecasts/runs', { method: 'POST', body: { target, horizon: 'day-ahead' } });
              message.textContent = t('portfolio.queued', { id: run.id });
            } catch (err) {
              message.replaceChildren(errorBox(err));
            }
          },
        },
        t('portfolio.queue'),
      ),
      message,
    );
  }
  const res = await api('/v1/forecasts/runs', { query: { target, limit: 20 } });
  if (res.runs.length === 0) return void section.append(h('p', {}, t('portfolio.noRuns')));
  section.append(
    table(
      t('portfolio.runsCaption', { n: res.runs.length }),
      [t('portfolio.run'), t('portfolio.horizon'), t('portfolio.status'), t('portfolio.model'), t('portfolio.issued'), t('portfolio.error')],
      res.runs.map((/** @type {any} */ r) => [String(r.id), r.horizon, r.status, r.model ?? '—', dateTime(r.issueTime, tz), r.error ?? '']),
    ),
  );
}

/** The API's choices for an hour a member has no actual for (`fill=`, docs/imbalance.md). */
const FILLS = ['none', 'estimate', 'forecast', 'estimate-or-forecast'];

/**
 * Imbalance of the day by hour (a chart and a table) and of its month per meter (cost, share of the portfolio's cost).
 * @param {HTMLElement} section
 * @param {any} portfolio
 * @param {string} day
 * @param {number} fromMs
 * @param {number} toMs
 * @param {string} fill
 */
async function loadImbalance(section, portfolio, day, fromMs, toMs, fill) {
  const tz = portfolio.timezone;
  const [hours, meters] = await Promise.all([
    api('/v1/imbalance', { query: { portfolio: portfolio.id, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), interval: 'hour', fill } }),
    api('/v1/imbalance/meters', { query: { portfolio: portfolio.id, period: day.slice(0, 7), fill } }),
  ]);
  const u = hours.units ?? { energy: 'MWh', cost: portfolio.currency };
  /** @param {number | null | undefined} v */
  const mwh = (v) => num(v, 3);
  /** @param {number | null | undefined} v */
  const money = (v) => num(v, 2);
  if (hours.rows.length > 0) {
    // The hours as a chart: position and consumption as steps, the imbalance as bars (surplus up, deficit down), its cost on the right axis.
    /** @type {any[]} */
    const rows = hours.rows;
    const plot = h('div', { class: 'chart imbalance-chart', role: 'img', 'aria-label': t('imbalance.chartLabel', { day }) });
    const counted = rows.filter((r) => r.imbalanceMWh !== null).length;
    section.append(
      h(
        'figure',
        {},
        plot,
        h('figcaption', { class: 'summary', 'data-hours': rows.length, 'data-counted': counted }, t('imbalance.chartCaption', { hours: rows.length, counted, energy: u.energy, cost: u.cost })),
      ),
    );
    /** @param {string} k */
    const col = (k) => rows.map((r) => (r[k] === null || r[k] === undefined ? null : r[k]));
    timeChart(plot, {
      tz,
      height: 260,
      data: [rows.map((r) => Date.parse(r.start) / 1000), col('positionMWh'), col('consumptionMWh'), col('imbalanceMWh'), col('imbalanceCost')],
      series: [
        { label: `${t('imbalance.position')} (${u.energy})`, stroke: '#2563eb', width: 2, paths: stepped },
        { label: `${t('imbalance.consumption')} (${u.energy})`, stroke: '#111827', width: 2, paths: stepped },
        { label: `${t('imbalance.imbalance')} (${u.energy})`, stroke: '#b45309', fill: 'rgba(180, 83, 9, 0.35)', width: 1, paths: bars },
        { label: `${t('imbalance.cost')} (${u.cost})`, stroke: '#7c3aed', width: 2, dash: [6, 4], scale: 'cost', points: { show: true, size: 4 } },
      ],
      scales: { cost: {} },
      axes: [{}, { label: u.energy }, { scale: 'cost', side: 1, label: u.cost, grid: { show: false } }],
    });
  }
  section.append(
    hours.rows.length === 0
      ? h('p', {}, t('imbalance.none'))
      : table(
          t('imbalance.hoursCaption', { energy: u.energy, cost: u.cost, missing: num(hours.missingActualHours ?? 0, 0) }),
          [t('imbalance.hour'), t('imbalance.position'), t('imbalance.consumption'), t('imbalance.imbalance'), t('imbalance.cost'), t('imbalance.standalone')],
          hours.rows.map((/** @type {any} */ r) => [
            timeOfDay(r.start, tz),
            mwh(r.positionMWh),
            r.consumptionMWh === null ? t('imbalance.missing') : mwh(r.consumptionMWh),
            mwh(r.imbalanceMWh),
            money(r.imbalanceCost),
            money(r.standaloneCost),
          ]),
          { class: 'imbalance-hours' },
        ),
    meters.meters.length === 0
      ? ''
      : table(
          t('imbalance.metersCaption', { period: day.slice(0, 7), cost: u.cost, total: money(meters.totals?.imbalanceCost) }),
          [t('meters.id'), t('imbalance.energy'), t('imbalance.imbalance'), t('imbalance.cost'), t('imbalance.share'), t('imbalance.missingHours')],
          meters.meters.map((/** @type {any} */ m) => [
            link(`meter/${encodeURIComponent(m.meter)}`, {}, m.meter),
            mwh(m.energyMWh),
            mwh(m.imbalanceMWh),
            money(m.imbalanceCost),
            percent(m.shareOfPortfolioCost),
            num(m.missingActualHours, 0),
          ]),
          { class: 'imbalance-meters' },
        ),
  );
}

/**
 * The month's consumption by local day (`GET /v1/aggregate`), with how many members had data each day.
 * @param {HTMLElement} section
 * @param {any} portfolio
 * @param {string} day
 */
async function loadMonth(section, portfolio, day) {
  const tz = portfolio.timezone;
  const first = `${day.slice(0, 7)}-01`;
  const [y, m] = first.split('-').map(Number);
  const next = addDays(first, new Date(Date.UTC(y, m, 0)).getUTCDate());
  const res = await api('/v1/aggregate', {
    query: { portfolio: portfolio.id, channel: 'active_import', interval: 'day', tz, from: new Date(startOfLocalDay(first, tz)).toISOString(), to: new Date(startOfLocalDay(next, tz)).toISOString() },
  });
  const total = res.rows.reduce((/** @type {number} */ a, /** @type {any} */ r) => a + r.value, 0);
  section.append(h('p', { class: 'summary', 'data-days': res.rows.length }, t('portfolio.monthInfo', { total: num(total, 1), unit: res.unit, days: res.rows.length, meters: res.meterCount })));
  if (res.rows.length === 0) return;
  const plot = h('div', { class: 'chart', role: 'img', 'aria-label': t('portfolio.monthChart', { month: day.slice(0, 7) }) });
  section.append(h('figure', {}, plot));
  timeChart(plot, {
    tz,
    height: 220,
    data: [res.rows.map((/** @type {any} */ r) => Date.parse(r.start) / 1000), res.rows.map((/** @type {any} */ r) => r.value)],
    series: [{ label: `${t('portfolio.consumption')} (${res.unit})`, stroke: '#0f766e', fill: 'rgba(15, 118, 110, 0.12)', width: 2 }],
  });
}
