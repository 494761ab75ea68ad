/**
 * Meter: the load profile over a chosen range (raw, hour, day, month) with
 * quality markers and the gaps shaded, temperature on a second axis for gas,
 * the version history of a point (click it) and an edit of it with a reason,
 * an edit of a range (every interval set to a value, or estimated by a
 * method) with a reason, validation issues (accept or estimate with a
 * comment), alarms, and the meter's attributes.
 * Route: `#/meter/<id>?channel=&from=YYYY-MM-DD&to=YYYY-MM-DD&interval=` (local days of the meter's zone, `to` exclusive).
 */
import { api } from '../api.js';
import { QUALITY_COLOURS, join, pointSeries, timeChart } from '../chart.js';
import { field, h, replace, select, table } from '../dom.js';
import { addDays, dateTime, isDay, localDay, localInstant, num, startOfLocalDay } from '../format.js';
import { t, tOr } from '../i18n/index.js';
import { commentAction, errorBox, filterForm, link } from '../ui.js';

/** The standard channels, for when `GET /v1/channels` cannot be read. */
const FALLBACK_CHANNELS = [
  ...['active_import', 'active_export', 'reactive_inductive', 'reactive_capacitive'].map((name) => ({ name, kind: 'interval', commodities: ['electricity'] })),
  ...['active_import_register', 'active_export_register'].map((name) => ({ name, kind: 'register', commodities: ['electricity'] })),
  { name: 'volume', kind: 'interval', commodities: ['gas', 'water'] },
  { name: 'volume_register', kind: 'register', commodities: ['gas', 'water'] },
  ...['temperature', 'pressure'].map((name) => ({ name, kind: 'instantaneous', commodities: ['gas', 'weather'] })),
];
/** Interval channels (summed per bucket, where a missing interval is a gap), filled from the channel registry. */
const INTERVAL_CHANNELS = new Set(FALLBACK_CHANNELS.filter((c) => c.kind === 'interval').map((c) => c.name));

/**
 * The channels of a commodity from the registry (`GET /v1/channels`: built-in and user-defined), else the standard ones.
 * @param {string} commodity
 * @returns {Promise<{ name: string, kind: string, unit?: string, meaning?: string | null }[]>}
 */
async function channelsOf(commodity) {
  const res = await api('/v1/channels').catch(() => null);
  /** @type {{ name: string, kind: string, unit?: string, meaning?: string | null, commodities?: string[] }[]} */
  const all = res?.channels ?? FALLBACK_CHANNELS;
  for (const c of all) if (c.kind === 'interval') INTERVAL_CHANNELS.add(c.name);
  const mine = all.filter((c) => !c.commodities || c.commodities.includes(commodity));
  return mine.length ? mine : all;
}
const INTERVALS = ['raw', 'hour', 'day', 'month'];
const MAX_DAYS = { raw: 400, hour: 400, day: 3660, month: 3660 };

/** @param {import('../types.js').PageContext} ctx */
export async function render(ctx) {
  const { main, params, arg: id } = ctx;
  main.append(h('h1', {}, t('meter.title', { id })));
  /** @type {any} */
  const meter = await api(`/v1/meters/${encodeURIComponent(id)}`);
  const tz = meter.timezone;
  const defaultChannel = meter.commodity === 'electricity' || meter.commodity === 'weather' ? (meter.commodity === 'weather' ? 'temperature' : 'active_import') : 'volume';
  const channels = await channelsOf(meter.commodity);
  const names = channels.map((c) => c.name);
  const wanted = params.get('channel') ?? '';
  const channel = names.includes(wanted) ? wanted : names.includes(defaultChannel) ? defaultChannel : names[0];
  const interval = INTERVALS.includes(params.get('interval') ?? '') ? /** @type {'raw' | 'hour' | 'day' | 'month'} */ (params.get('interval')) : 'raw';
  const to = isDay(params.get('to') ?? '') ? /** @type {string} */ (params.get('to')) : addDays(localDay(tz), 1);
  const from = isDay(params.get('from') ?? '') ? /** @type {string} */ (params.get('from')) : addDays(to, -7);

  main.append(
    filterForm(
      t('meter.range'),
      (p) => ctx.go(`meter/${encodeURIComponent(id)}`, p),
      field(
        t('meter.channel'),
        select(
          'channel',
          channels.map((c) => /** @type {[string, string]} */ ([c.name, c.unit ? `${c.name} (${c.unit})` : c.name])),
          channel,
        ),
      ),
      field(t('meter.from'), h('input', { type: 'date', name: 'from', value: from, required: true })),
      field(t('meter.to'), h('input', { type: 'date', name: 'to', value: to, required: true })),
      field(
        t('meter.interval'),
        select(
          'interval',
          INTERVALS.map((i) => [i, t(/** @type {any} */ (`interval.${i}`))]),
          interval,
        ),
      ),
    ),
  );

  const profile = h('section', { 'aria-labelledby': 'profile-h' }, h('h2', { id: 'profile-h' }, t('meter.profile')));
  const history = h('section', { 'aria-live': 'polite', class: 'history' });
  const issues = h('section', { 'aria-labelledby': 'issues-h' }, h('h2', { id: 'issues-h' }, t('meter.issues')));
  const alarms = h('section', { 'aria-labelledby': 'alarms-h' }, h('h2', { id: 'alarms-h' }, t('nav.alarms')));
  const attributes = h('section', { 'aria-labelledby': 'attrs-h' }, h('h2', { id: 'attrs-h' }, t('meter.attributes')), attributeTable(meter));
  main.append(profile, history, issues, alarms, attributes);
  void loadDevicesAndVersions(attributes, meter).catch((err) => attributes.append(errorBox(err)));
  if (ctx.may('edits:write') && INTERVAL_CHANNELS.has(channel)) {
    history.after(h('section', { 'aria-labelledby': 'range-edit-h' }, h('h2', { id: 'range-edit-h' }, t('rangeEdit.title')), rangeEditForm(ctx, meter, channel, from)));
  }

  const fromMs = startOfLocalDay(from, tz);
  const toMs = startOfLocalDay(to, tz);
  if (!(fromMs < toMs)) return void profile.append(errorBox(new Error(t('meter.badRange'))));
  if ((toMs - fromMs) / 86_400_000 > MAX_DAYS[interval] + 1) return void profile.append(errorBox(new Error(t('meter.tooLong', { days: MAX_DAYS[interval] }))));
  const range = { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };

  const registerChannel = meter.commodity === 'electricity' ? 'active_import_register' : meter.commodity === 'weather' ? null : 'volume_register';
  if (registerChannel && registerChannel !== channel) {
    const registers = h('section', { 'aria-labelledby': 'reg-h' }, h('h2', { id: 'reg-h' }, t('meter.registers')));
    profile.after(registers);
    void loadRegisters(registers, meter, registerChannel, range).catch((err) => registers.append(errorBox(err)));
  }
  const tasks = [
    loadProfile(ctx, profile, history, meter, channel, interval, range, fromMs, toMs).catch((err) => profile.append(errorBox(err))),
    ctx.may('validation:read') ? loadIssues(ctx, issues, meter, range).catch((err) => issues.append(errorBox(err))) : (issues.remove(), null),
    ctx.may('alarms:read') ? loadAlarms(alarms, meter).catch((err) => alarms.append(errorBox(err))) : (alarms.remove(), null),
  ];
  await Promise.all(tasks);
}

/**
 * @param {import('../types.js').PageContext} ctx
 * @param {HTMLElement} section
 * @param {HTMLElement} historyBox
 * @param {any} meter
 * @param {string} channel
 * @param {'raw' | 'hour' | 'day' | 'month'} interval
 * @param {{ from: string, to: string }} range
 * @param {number} fromMs
 * @param {number} toMs
 */
async function loadProfile(ctx, section, historyBox, meter, channel, interval, range, fromMs, toMs) {
  const tz = meter.timezone;
  const base = `/v1/meters/${encodeURIComponent(meter.id)}/readings`;
  const res = await api(base, { query: { channel, interval, ...range } });
  /** @type {{ start: string, value: number, quality: string, source: string }[]} */
  const rows = res.rows;
  const isInterval = INTERVAL_CHANNELS.has(channel);
  const step = interval === 'raw' ? meter.intervalMinutes * 60 : interval === 'hour' ? 3600 : interval === 'day' ? 86_400 : 31 * 86_400;
  const gaps = isInterval ? findGaps(rows, step, interval === 'raw' || interval === 'hour' ? [fromMs / 1000, Math.min(toMs, Date.now()) / 1000] : undefined) : [];

  // x values with a null after each gap's start, so that the line breaks there.
  /** @type {number[]} */
  const xs = [];
  /** @type {(number | null)[]} */
  const values = [];
  /** @type {string[]} */
  const kinds = [];
  let prev = -Infinity;
  for (const r of rows) {
    const x = Date.parse(r.start) / 1000;
    if (isInterval && prev > -Infinity && x - prev > step * 1.5) {
      xs.push(prev + step);
      values.push(null);
      kinds.push('');
    }
    xs.push(x);
    values.push(r.value);
    kinds.push(r.source === 'settlement' ? 'settlement' : r.quality);
    prev = x;
  }
  /** @type {Record<string, number>} */
  const counts = {};
  for (const k of kinds) if (k) counts[k] = (counts[k] ?? 0) + 1;
  const markers = Object.keys(counts).filter((k) => k !== 'measured');
  /** @type {import('../vendor/uPlot.esm.js').default.Series[]} */
  const series = [{ label: `${t('meter.value')} (${res.unit})`, stroke: QUALITY_COLOURS.measured, width: 1.5, spanGaps: false }];
  /** @type {(number | null)[][]} */
  const ys = [values];
  for (const k of markers) {
    series.push(pointSeries(t(/** @type {any} */ (`quality.${k}`)), QUALITY_COLOURS[k] ?? '#6b7280'));
    ys.push(values.map((v, i) => (kinds[i] === k ? v : null)));
  }
  /** @type {import('../vendor/uPlot.esm.js').default.AlignedData} */
  let data = [xs, ...ys];
  /** @type {import('../vendor/uPlot.esm.js').default.Axis[] | undefined} */
  let axes;
  /** @type {import('../vendor/uPlot.esm.js').default.Scales | undefined} */
  let scales;
  if (meter.commodity === 'gas' && channel === 'volume') {
    // Temperature on a second axis: its own read times, joined onto the volume's x values.
    const temp = await api(base, { query: { channel: 'temperature', interval: interval === 'raw' ? 'hour' : interval, ...range } }).catch(() => null);
    if (temp?.rows.length) {
      const tx = temp.rows.map((/** @type {any} */ r) => Date.parse(r.start) / 1000);
      const ty = temp.rows.map((/** @type {any} */ r) => r.value);
      data = join([data, [tx, ty]]);
      series.push({ label: `${t('meter.temperature')} (°C)`, stroke: '#ea580c', scale: '°C', dash: [4, 4], spanGaps: true });
      scales = { [res.unit]: {}, '°C': {} };
      series[0].scale = res.unit;
      for (const s of series.slice(1, -1)) s.scale = res.unit;
      axes = [{}, { scale: res.unit, label: res.unit }, { scale: '°C', side: 1, label: '°C', grid: { show: false } }];
    }
  }

  const missing = gaps.reduce((n, [a, b]) => n + Math.round((b - a) / step), 0);
  const summary = h(
    'p',
    { class: 'summary', 'data-points': rows.length, 'data-gaps': gaps.length },
    t('meter.summary', { points: num(rows.length, 0), unit: res.unit, tz }),
    ' ',
    isInterval && (interval === 'raw' || interval === 'hour') ? t('meter.gaps', { gaps: gaps.length, missing: num(missing, 0) }) : '',
    meter.multiplier !== 1 ? ` ${t('meter.multiplier', { m: num(meter.multiplier) })}` : '',
  );
  const legend = h(
    'ul',
    { class: 'legend', 'aria-label': t('meter.qualities') },
    Object.entries(counts).map(([k, n]) => h('li', {}, h('span', { class: `swatch q-${k}`, 'aria-hidden': 'true' }), `${t(/** @type {any} */ (`quality.${k}`))}: ${num(n, 0)}`)),
    gaps.length ? h('li', {}, h('span', { class: 'swatch gap', 'aria-hidden': 'true' }), t('meter.gapLegend')) : null,
  );
  const plot = h('div', { class: 'chart', role: 'img', 'aria-label': t('meter.chartLabel', { channel, points: rows.length }) });
  section.append(summary, legend, h('figure', {}, plot, h('figcaption', {}, interval === 'raw' ? t('meter.clickHistory') : t('meter.bucketNote'))));
  if (rows.length === 0) return void plot.append(h('p', {}, t('meter.noData')));
  const rowByX = new Map(rows.map((r) => [Date.parse(r.start) / 1000, r]));
  timeChart(plot, {
    tz,
    data,
    series,
    axes,
    scales,
    gaps,
    onPick:
      interval === 'raw'
        ? (i) => {
            const r = rowByX.get(/** @type {number} */ (data[0][i]));
            if (r) void showHistory(ctx, historyBox, meter, channel, r.start);
          }
        : undefined,
  });
  ctx.announce(t('meter.loaded', { points: rows.length }));
}

/**
 * Missing spans of an interval channel: between consecutive rows more than 1.5 steps apart, and at the range's ends.
 * @param {{ start: string }[]} rows
 * @param {number} step seconds
 * @param {[number, number]} [bounds] the range (seconds) whose leading and trailing spans count too
 * @returns {[number, number][]}
 */
export function findGaps(rows, step, bounds) {
  /** @type {[number, number][]} */
  const gaps = [];
  const xs = rows.map((r) => Date.parse(r.start) / 1000);
  if (bounds && (xs.length === 0 || xs[0] - bounds[0] >= step)) gaps.push([bounds[0], xs.length ? xs[0] : Math.floor(bounds[1] / step) * step]);
  for (let i = 1; i < xs.length; i++) if (xs[i] - xs[i - 1] > step * 1.5) gaps.push([xs[i - 1] + step, xs[i]]);
  if (bounds && xs.length && Math.floor(bounds[1] / step) * step - (xs[xs.length - 1] + step) >= step) gaps.push([xs[xs.length - 1] + step, Math.floor(bounds[1] / step) * step]);
  return gaps.filter(([a, b]) => b > a);
}

/**
 * The versions of one value and, for roles with `edits:write` on an interval channel, a form to edit it with a reason.
 * @param {import('../types.js').PageContext} ctx
 * @param {HTMLElement} box
 * @param {any} meter
 * @param {string} channel
 * @param {string} start
 */
async function showHistory(ctx, box, meter, channel, start) {
  try {
    const res = await api(`/v1/meters/${encodeURIComponent(meter.id)}/readings/history`, { query: { channel, start } });
    replace(
      box,
      table(
        t('meter.historyOf', { start: dateTime(start, meter.timezone) }),
        [t('history.version'), t('history.value'), t('history.quality'), t('history.source'), t('history.receivedAt'), t('history.by'), t('history.current')],
        res.versions.map((/** @type {any} */ v) => [
          String(v.version),
          num(v.value, 6),
          t(/** @type {any} */ (`quality.${v.quality}`)),
          v.source,
          dateTime(v.receivedAt, meter.timezone),
          v.recordedBy ?? '—',
          v.current ? '✓' : '',
        ]),
        { class: 'history-table' },
      ),
      ctx.may('edits:write') && INTERVAL_CHANNELS.has(channel) ? editForm(ctx, meter, channel, start) : null,
    );
  } catch (err) {
    replace(box, errorBox(err));
  }
}

/**
 * Edit one value (`POST /v1/meters/:id/edits`, quality `edited`, source `manual`): a value, a reason code and a comment, as the API requires.
 * @param {import('../types.js').PageContext} ctx
 * @param {any} meter
 * @param {string} channel
 * @param {string} start
 */
function editForm(ctx, meter, channel, start) {
  const value = h('input', { type: 'number', name: 'value', step: 'any', required: true });
  const reason = h('input', { type: 'text', name: 'reasonCode', required: true, maxlength: 64, placeholder: 'CT_FAULT' });
  const comment = h('input', { type: 'text', name: 'comment', required: true, maxlength: 1000 });
  const message = h('div', { 'aria-live': 'polite' });
  const to = new Date(Date.parse(start) + meter.intervalMinutes * 60_000).toISOString();
  return h(
    'form',
    {
      class: 'filters',
      'aria-label': t('edit.title'),
      onsubmit: async (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        try {
          await api(`/v1/meters/${encodeURIComponent(meter.id)}/edits`, {
            method: 'POST',
            body: { channel, from: start, to, values: [{ start, value: Number(value.value) }], reasonCode: reason.value.trim(), comment: comment.value.trim() },
          });
          ctx.announce(t('edit.saved'));
          ctx.go(location.hash.slice(2).split('?')[0], Object.fromEntries(ctx.params));
        } catch (err) {
          message.replaceChildren(errorBox(err));
        }
      },
    },
    field(t('edit.value'), value),
    field(t('edit.reason'), reason),
    field(t('common.comment'), comment),
    h('button', { type: 'submit' }, t('edit.save')),
    message,
  );
}

/** How a range is edited: every interval set to one value (quality edited), or estimated by a method of the API (quality estimated). */
const RANGE_MODES = ['value', 'linear', 'like-day', 'zero'];
/** The API's longest edit (`POST /v1/meters/:id/edits`). */
const MAX_EDIT_DAYS = 31;

/**
 * Edit a range of an interval channel (`POST /v1/meters/:id/edits`): from and to in the meter's local time, every interval
 * set to a value or estimated by a method, with a reason code and a comment, as the API requires. The page is drawn again
 * afterwards, with what the API did announced.
 * @param {import('../types.js').PageContext} ctx
 * @param {any} meter
 * @param {string} channel
 * @param {string} day the first local day of the page's range (the form's default)
 */
function rangeEditForm(ctx, meter, channel, day) {
  const tz = meter.timezone;
  const step = meter.intervalMinutes * 60;
  const fromInput = h('input', { type: 'datetime-local', name: 'from', value: `${day}T00:00`, step, required: true });
  const toInput = h('input', { type: 'datetime-local', name: 'to', value: `${addDays(day, 1)}T00:00`, step, required: true });
  const mode = select(
    'mode',
    RANGE_MODES.map((m) => /** @type {[string, string]} */ ([m, t(/** @type {any} */ (`rangeEdit.mode.${m}`))])),
    'value',
  );
  const value = h('input', { type: 'number', name: 'value', step: 'any' });
  const reason = h('input', { type: 'text', name: 'reasonCode', required: true, maxlength: 64, placeholder: 'METER_REPLACED' });
  const comment = h('input', { type: 'text', name: 'comment', required: true, maxlength: 1000 });
  const message = h('div', { 'aria-live': 'polite' });
  const button = h('button', { type: 'submit' }, t('rangeEdit.save'));
  return h(
    'form',
    {
      class: 'filters range-edit',
      'aria-label': t('rangeEdit.title'),
      onsubmit: async (/** @type {SubmitEvent} */ e) => {
        e.preventDefault();
        const fromMs = localInstant(fromInput.value, tz);
        const toMs = localInstant(toInput.value, tz);
        const how = /** @type {HTMLSelectElement} */ (mode).value;
        const problem = !(fromMs < toMs)
          ? t('meter.badRange')
          : toMs - fromMs > MAX_EDIT_DAYS * 86_400_000
            ? t('rangeEdit.tooLong', { days: MAX_EDIT_DAYS })
            : how === 'value' && (value.value.trim() === '' || !Number.isFinite(Number(value.value)))
              ? t('rangeEdit.needValue')
              : null;
        if (problem) return void message.replaceChildren(errorBox(new Error(problem)));
        /** @type {Record<string, unknown>} */
        const body = { channel, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), reasonCode: reason.value.trim(), comment: comment.value.trim() };
        if (how === 'value') {
          // One value for every interval of the range: its starts on the meter's grid.
          const first = Math.ceil(fromMs / 1000 / step) * step * 1000;
          /** @type {{ start: string, value: number }[]} */
          const values = [];
          for (let ms = first; ms < toMs; ms += step * 1000) values.push({ start: new Date(ms).toISOString(), value: Number(value.value) });
          body.values = values;
        } else body.method = how;
        button.disabled = true;
        try {
          const r = await api(`/v1/meters/${encodeURIComponent(meter.id)}/edits`, { method: 'POST', body });
          ctx.announce(t('rangeEdit.done', { written: num(r.written, 0), unchanged: num(r.unchanged, 0), replaced: num(r.issuesReplaced, 0) }));
          ctx.go(location.hash.slice(2).split('?')[0], Object.fromEntries(ctx.params));
        } catch (err) {
          message.replaceChildren(errorBox(err));
        } finally {
          button.disabled = false;
        }
      },
    },
    field(t('rangeEdit.from', { tz }), fromInput),
    field(t('rangeEdit.to', { tz }), toInput),
    field(t('rangeEdit.mode'), mode),
    field(t('rangeEdit.value'), value),
    field(t('edit.reason'), reason),
    field(t('common.comment'), comment),
    button,
    message,
  );
}

/**
 * @param {import('../types.js').PageContext} ctx
 * @param {HTMLElement} section
 * @param {any} meter
 * @param {{ from: string, to: string }} range
 */
async function loadIssues(ctx, section, meter, range) {
  const res = await api('/v1/validation/issues', { query: { meter: meter.id, ...range, limit: 200 } });
  const mayResolve = ctx.may('validation:admin');
  /** @param {any} issue @param {string} action */
  const resolve = (issue, action) => async (/** @type {string} */ comment) => {
    try {
      await api(`/v1/validation/issues/${issue.id}/resolve`, { method: 'POST', body: action === 'accept' ? { action, comment } : { action: 'estimate', comment } });
      ctx.announce(t(action === 'accept' ? 'issue.accepted' : 'issue.estimated', { id: issue.id }));
      ctx.go(location.hash.slice(2).split('?')[0], Object.fromEntries(ctx.params));
    } catch (err) {
      section.append(errorBox(err));
    }
  };
  if (res.issues.length === 0) return void section.append(h('p', {}, t('meter.noIssues')));
  section.append(
    table(
      t('meter.issuesCaption', { n: res.issues.length }),
      [t('issue.rule'), t('issue.severity'), t('issue.channel'), t('issue.range'), t('issue.detail'), t('issue.status'), t('common.actions')],
      res.issues.map((/** @type {any} */ i) => [
        i.rule,
        h('span', { class: `sev sev-${i.severity}` }, i.severity),
        i.channel,
        `${dateTime(i.from, meter.timezone)} – ${dateTime(i.to, meter.timezone)}`,
        i.detail,
        h('span', { class: `state state-${i.status}` }, t(/** @type {any} */ (`issueStatus.${i.status}`))),
        i.status === 'open' && mayResolve
          ? h('div', { class: 'actions' }, commentAction(t('issue.accept'), resolve(i, 'accept')), commentAction(t('issue.estimate'), resolve(i, 'estimate')))
          : i.comment
            ? `${i.resolvedBy ?? ''}: ${i.comment}`
            : '',
      ]),
      { class: 'issues' },
    ),
  );
}

/**
 * @param {HTMLElement} section
 * @param {any} meter
 */
async function loadAlarms(section, meter) {
  const res = await api('/v1/alarms', { query: { meter: meter.id, limit: 50 } });
  if (res.alarms.length === 0) return void section.append(h('p', {}, t('meter.noAlarms')));
  section.append(
    table(
      t('meter.alarmsCaption', { n: res.alarms.length }),
      [t('alarm.code'), t('alarm.severity'), t('alarm.state'), t('alarm.openedAt'), t('alarm.count')],
      res.alarms.map((/** @type {any} */ a) => [a.code, a.severity, t(/** @type {any} */ (`alarmState.${a.state}`)), dateTime(a.openedAt, meter.timezone), num(a.count, 0)]),
    ),
    h('p', {}, link('alarms', { meter: meter.id }, t('meter.allAlarms'))),
  );
}

/** @param {any} meter */
function attributeTable(meter) {
  /** @type {[string, string][]} */
  const rows = [
    ['commodity', meter.commodity],
    ['timezone', meter.timezone],
    ['intervalMinutes', String(meter.intervalMinutes)],
    ['multiplier', num(meter.multiplier, 6)],
    ['portfolio', meter.portfolio ?? '—'],
    ['group', meter.group ?? '—'],
    ['region', meter.region ?? '—'],
    ['profileClass', meter.profileClass ?? '—'],
    ['tariff', meter.tariff],
    ['supplyStart', meter.supplyStart ?? '—'],
    ['supplyEnd', meter.supplyEnd ?? '—'],
    ['weatherStation', meter.weatherStation ?? '—'],
    ['registerDigits', meter.registerDigits === null ? '—' : String(meter.registerDigits)],
    ...Object.entries(/** @type {Record<string, string>} */ (meter.labels)).map(([k, v]) => /** @type {[string, string]} */ ([`label ${k}`, v])),
  ];
  return h(
    'dl',
    { class: 'attributes' },
    rows.flatMap(([k, v]) => [h('dt', {}, tOr(`attr.${k}`, k)), h('dd', {}, v)]),
  );
}

/**
 * The devices installed on the metering point over time (exchanges with their final and initial reads) and the
 * dated versions of its attributes (GET /v1/meters/:id/devices, /attributes; docs/meters.md).
 * @param {HTMLElement} section
 * @param {any} meter
 */
async function loadDevicesAndVersions(section, meter) {
  const path = `/v1/meters/${encodeURIComponent(meter.id)}`;
  const [devices, versions] = await Promise.all([api(`${path}/devices`), api(`${path}/attributes`)]);
  const when = (/** @type {string | null} */ at) => (at === null ? '—' : dateTime(at, meter.timezone));
  const read = (/** @type {number | null} */ v) => (v === null ? '—' : num(v, 3));
  section.append(
    table(
      t('meter.devicesCaption'),
      [t('device.serial'), t('device.model'), t('device.installedFrom'), t('device.installedTo'), t('device.initialRead'), t('device.finalRead'), t('device.multiplier')],
      devices.devices.map((/** @type {any} */ d) => [
        d.serial,
        [d.make, d.model].filter(Boolean).join(' ') || '—',
        when(d.installedFrom),
        when(d.installedTo),
        read(d.initialRead),
        read(d.finalRead),
        d.multiplier === null ? '—' : num(d.multiplier, 6),
      ]),
      { class: 'devices' },
    ),
  );
  const dated = versions.versions.filter((/** @type {any} */ v) => v.validFrom !== null);
  if (dated.length === 0) return void section.append(h('p', {}, t('meter.noDatedVersions')));
  section.append(
    table(
      t('meter.versionsCaption'),
      [t('version.attribute'), t('version.value'), t('version.validFrom'), t('version.validTo'), t('version.recordedBy')],
      dated.map((/** @type {any} */ v) => [tOr(`attr.${v.attribute}`, v.attribute), v.value === null ? '—' : String(v.value), v.validFrom, v.validTo ?? '—', v.recordedBy ?? '—']),
      { class: 'versions' },
    ),
  );
}

/**
 * Register reads (cumulative indexes): the last read of each local day of the range, when the meter sends any.
 * @param {HTMLElement} section
 * @param {any} meter
 * @param {string} channel
 * @param {{ from: string, to: string }} range
 */
async function loadRegisters(section, meter, channel, range) {
  const res = await api(`/v1/meters/${encodeURIComponent(meter.id)}/readings`, { query: { channel, interval: 'day', ...range } });
  if (res.rows.length === 0) return void section.append(h('p', {}, t('meter.noRegisters', { channel })));
  section.append(
    table(
      t('meter.registersCaption', { channel, unit: res.unit }),
      [t('meter.day'), t('meter.lastRead'), t('history.quality')],
      res.rows.slice(-31).map((/** @type {any} */ r) => [dateTime(r.start, meter.timezone), num(r.value, 3), t(/** @type {any} */ (`quality.${r.quality}`))]),
      { class: 'registers' },
    ),
  );
}
