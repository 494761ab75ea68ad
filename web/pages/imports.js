/**
 * Imports: upload a readings file (CSV or xlsx, every layout of
 * docs/import.md) with a dry run first — the validation report with each
 * rejected line and its reason, nothing stored — then import it for real; and
 * the newest rejected rows of every transport (`GET /v1/rejects`).
 * Route: `#/imports` (the file cannot be part of a URL; the options are kept in it).
 */
import { api } from '../api.js';
import { field, h, replace, select, table } from '../dom.js';
import { dateTime, num } from '../format.js';
import { t } from '../i18n/index.js';
import { errorBox } from '../ui.js';

const LAYOUTS = ['long', 'wide-meter', 'wide-hour', 'single', 'ptpiree'];
/** Largest file the page sends (the API takes 1 GiB; a browser tab should not). */
const MAX_FILE_BYTES = 200 * 1024 * 1024;

/** @param {import('../types.js').PageContext} ctx */
export async function render(ctx) {
  const { main, params } = ctx;
  main.append(h('h1', {}, t('imports.title')));
  const section = h('section', { 'aria-labelledby': 'rejects-h' });
  const reload = async () => {
    replace(section, h('h2', { id: 'rejects-h' }, t('imports.rejects')));
    await loadRejects(section).catch((err) => section.append(errorBox(err)));
  };
  if (ctx.may('readings:write')) await uploadForm(ctx, main, params, reload);
  if (ctx.may('rejects:read')) {
    main.append(section);
    await reload();
  }
}

/**
 * @param {import('../types.js').PageContext} ctx
 * @param {HTMLElement} main
 * @param {URLSearchParams} params
 * @param {() => Promise<void>} reloadRejects after an import: its rejected rows are in the list
 */
async function uploadForm(ctx, main, params, reloadRejects) {
  const presets = await api('/v1/import-presets').catch(() => ({ presets: [] }));
  const file = h('input', { type: 'file', name: 'file', required: true, accept: '.csv,.txt,.xlsx,text/csv' });
  const layout = select(
    'layout',
    LAYOUTS.map((l) => /** @type {[string, string]} */ ([l, l])),
    params.get('layout') ?? 'long',
  );
  const preset = select('preset', [['', t('imports.noPreset')], ...presets.presets.map((/** @type {any} */ p) => /** @type {[string, string]} */ ([p.name, p.name]))], params.get('preset') ?? '');
  const timezone = h('input', { type: 'text', name: 'timezone', value: params.get('timezone') ?? '', placeholder: 'Europe/Istanbul', maxlength: 64 });
  const meter = h('input', { type: 'text', name: 'meter', value: params.get('meter') ?? '', maxlength: 128 });
  const channel = h('input', { type: 'text', name: 'channel', value: params.get('channel') ?? '', placeholder: 'active_import', maxlength: 64 });
  const report = h('section', { 'aria-live': 'polite', class: 'report' });
  /** @param {boolean} dryRun */
  const send = async (dryRun) => {
    const f = file.files?.[0];
    if (!f) return;
    if (f.size > MAX_FILE_BYTES) return void replace(report, errorBox(new Error(t('imports.tooLarge', { mb: MAX_FILE_BYTES / 1024 / 1024 }))));
    const options = { layout: layout.value, preset: preset.value, timezone: timezone.value.trim(), meter: meter.value.trim(), channel: channel.value.trim() };
    // The options (never the file) go into the URL, so that the page can be shared set up.
    history.replaceState(null, '', `#/imports?${new URLSearchParams(Object.entries(options).filter(([, v]) => v))}`);
    replace(report, h('p', {}, t(dryRun ? 'imports.checking' : 'imports.importing', { name: f.name })));
    try {
      const res = await api('/v1/readings/import', { method: 'POST', file: f, query: { ...options, dryRun: dryRun ? 'true' : undefined, filename: f.name.slice(0, 128) } });
      showReport(report, res, f.name, dryRun ? () => send(false) : undefined);
      if (!dryRun && ctx.may('rejects:read')) await reloadRejects();
      ctx.announce(t(dryRun ? 'imports.checked' : 'imports.imported', { name: f.name }));
    } catch (err) {
      replace(report, errorBox(err));
    }
  };
  main.append(
    h(
      'form',
      {
        class: 'filters',
        'aria-label': t('imports.upload'),
        onsubmit: (/** @type {SubmitEvent} */ e) => {
          e.preventDefault();
          void send(true);
        },
      },
      field(t('imports.file'), file),
      field(t('imports.layout'), layout),
      field(t('imports.preset'), preset),
      field(t('imports.timezone'), timezone),
      field(t('imports.meter'), meter),
      field(t('imports.channel'), channel),
      h('button', { type: 'submit' }, t('imports.check')),
    ),
    h('p', { class: 'note' }, t('imports.help')),
    report,
  );
}

/**
 * @param {HTMLElement} box
 * @param {any} res the import report
 * @param {string} name
 * @param {(() => void) | undefined} importNow after a dry run: the import for real
 */
function showReport(box, res, name, importNow) {
  replace(
    box,
    h('h2', {}, t(res.dryRun ? 'imports.dryRunOf' : 'imports.reportOf', { name })),
    h(
      'p',
      { class: 'summary', 'data-accepted': res.accepted, 'data-rejected': res.rejected },
      t('imports.counts', { readings: num(res.readings, 0), accepted: num(res.accepted, 0), unchanged: num(res.unchanged, 0), superseded: num(res.superseded, 0), rejected: num(res.rejected, 0) }),
    ),
    res.rejects.length
      ? table(
          t('imports.rejectsCaption', { n: num(res.rejects.length, 0), total: num(res.rejected, 0) }),
          [t('imports.line'), t('imports.reason')],
          res.rejects.map((/** @type {any} */ r) => [String(r.line), r.reason]),
          { class: 'file-rejects' },
        )
      : null,
    importNow ? h('button', { type: 'button', onclick: importNow }, t('imports.importNow')) : null,
  );
}

/** @param {HTMLElement} section */
async function loadRejects(section) {
  const res = await api('/v1/rejects', { query: { limit: 50 } });
  if (res.rejects.length === 0) return void section.append(h('p', {}, t('imports.noRejects')));
  section.append(
    table(
      t('imports.rejectsListCaption', { n: res.rejects.length }),
      [t('imports.receivedAt'), t('imports.transport'), t('imports.meter'), t('imports.reason'), t('imports.payload')],
      res.rejects.map((/** @type {any} */ r) => [dateTime(r.receivedAt), r.transport, r.meter ?? '—', r.reason, h('code', {}, String(r.payload).slice(0, 200))]),
    ),
  );
}
