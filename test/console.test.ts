import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, type Page, chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeRun, type ForecastEngine } from '../forecast/forecast-job.js';
import type { Role } from '../models/api-key.js';
import { claimRun } from '../sql/forecast.repository.js';
import { CONSOLE_CSP } from '../web/console.plugin.js';
import { testApp, type TestApp } from './api-helpers.js';

/**
 * The web console (issue 18, docs/console.md) in a real browser: Debian's
 * Chromium driven by playwright-core, against the service started in-process
 * on the embedded database and listening on a free port. Data is seeded
 * through the API; every action is done through the pages and checked again
 * through the API. One browser for the file; the database flavours are the
 * API tests' business (the console only calls the API).
 *
 * Screenshots of each page go to $MDM_CONSOLE_SCREENSHOTS (docs/console/ when
 * refreshing the committed ones), else to a temporary directory.
 */

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = process.env.MDM_CONSOLE_SCREENSHOTS ?? join(tmpdir(), 'mdm-console-screenshots');
const H = 3_600_000;
const DAY = 24 * H;
// Eight Istanbul days (UTC+3 all year): 2026-11-01 … 2026-11-08.
const T0 = Date.parse('2026-11-01T00:00:00+03:00');
const DAYS = 8;
const YEAR_FROM = Date.parse('2025-11-01T00:00:00+03:00');
const iso = (ms: number) => new Date(ms).toISOString();
/** A daily shape: 1 kWh at night, 3 by day; M1 has a spike on day 3 at 12:00. */
const load = (ms: number) => (new Date(ms + 3 * H).getUTCHours() >= 8 && new Date(ms + 3 * H).getUTCHours() < 20 ? 3 : 1);
// M2 misses three hours on 2026-11-02 (20:00–23:00 local): a gap the chart must show.
const M2_GAP = [T0 + DAY + 20 * H, T0 + DAY + 21 * H, T0 + DAY + 22 * H];

/** Stand-in forecast engine with a hand-checkable answer: P50 = the same hour two days earlier (the day before the issue day is cut off at 09:00), P10/P90 = ±10 %. */
const dMinus2: ForecastEngine = async (series, _ctx, horizon) => ({
  model: 'naive',
  rows: series.map((s) => {
    const out = [];
    for (let t = horizon.fromMs; t < horizon.toMs; t += H) {
      const v = s.values[(t - 2 * DAY - s.startMs) / H];
      out.push({ start: t, p10: v * 0.9, p50: v, p90: v * 1.1 });
    }
    return out;
  }),
  info: { standIn: 'D-2' },
  metrics: null,
});

describe('web console in Chromium', () => {
  let t: TestApp;
  let browser: Browser;
  let page: Page;
  let base: string;
  const pageErrors: string[] = [];
  const requested: string[] = [];
  const call = (method: 'GET' | 'POST' | 'PUT', url: string, role: Role = 'admin', payload?: unknown) =>
    t.app.inject({ method, url, headers: t.auth(role), ...(payload === undefined ? {} : { payload: payload as object }) });
  const shot = (name: string) => page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  /** Opens a route and waits until its page (not the one before it: a hash change renders asynchronously) shows its heading. */
  const open = async (hash: string) => {
    await page.goto(`${base}/console/${hash}`);
    const route = hash.replace(/^#\//, '').split(/[/?]/)[0];
    await page.locator(`main .page[data-route="${route}"] h1`).first().waitFor();
  };
  /** axe-core on the current page: no serious or critical violation (WCAG 2 A/AA rules). */
  const accessible = async () => {
    const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
    await page.evaluate(axeSource); // through the DevTools protocol: the page's CSP forbids injected scripts, rightly
    const result = await page.evaluate(async () => {
      const axe = (globalThis as any).axe;
      const r = await axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] } });
      return r.violations.map((v: any) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, target: v.nodes[0]?.target }));
    });
    expect(result.filter((v: any) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
  };
  const signIn = async (role: Role) => {
    await page.goto(`${base}/console/`);
    await page.evaluate(() => sessionStorage.clear());
    await page.reload();
    await page.getByLabel('API key').fill(t.keys[role]);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.locator('#signout').waitFor({ state: 'visible' });
  };

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`Chromium is not installed at ${CHROMIUM}: the console tests drive a real browser. Install it with \`apt-get install -y chromium\` (Debian), then run again.`);
    }
    mkdirSync(SHOTS, { recursive: true });
    t = await testApp('embedded');
    const put = await call('PUT', '/v1/meters', 'admin', [
      { id: 'M1', portfolio: 'P', group: 'north', timezone: 'Europe/Istanbul', labels: { feeder: 'F-7' } },
      { id: 'M2', portfolio: 'P', group: 'north', timezone: 'Europe/Istanbul' },
      { id: 'G1', commodity: 'gas', group: 'south', timezone: 'Europe/Istanbul' },
      { id: '<img src=x onerror=alert(1)>', group: 'south' },
      { id: 'Y1', group: 'year', timezone: 'Europe/Istanbul' },
    ]);
    expect(put.json()).toMatchObject({ created: 5, rejected: [] });
    const readings = [];
    for (let ms = T0; ms < T0 + DAYS * DAY; ms += H) {
      readings.push({ meter: 'M1', channel: 'active_import', start: iso(ms), value: ms === T0 + 2 * DAY + 12 * H ? 90 : load(ms) });
      if (!M2_GAP.includes(ms)) readings.push({ meter: 'M2', channel: 'active_import', start: iso(ms), value: load(ms) });
      readings.push({ meter: 'G1', channel: 'volume', start: iso(ms), value: 0.5 }, { meter: 'G1', channel: 'temperature', start: iso(ms), value: 4 + ((ms / H) % 5) });
    }
    expect((await call('POST', '/v1/readings', 'gateway', { readings })).json()).toMatchObject({ rejected: [] });
    // M2's register (index) read at each local midnight.
    const reads = Array.from({ length: DAYS }, (_, d) => ({ meter: 'M2', channel: 'active_import_register', start: iso(T0 + (d + 1) * DAY), value: 1000 + 40 * (d + 1) }));
    expect((await call('POST', '/v1/readings', 'gateway', { readings: reads })).json()).toMatchObject({ accepted: DAYS, rejected: [] });
    // A year of hourly values (8 760) for the chart's size.
    const year = Array.from({ length: 8760 }, (_, i) => ({ meter: 'Y1', channel: 'active_import', start: iso(YEAR_FROM + i * H), value: load(YEAR_FROM + i * H) }));
    expect((await call('POST', '/v1/readings', 'gateway', { readings: year })).json()).toMatchObject({ accepted: 8760, rejected: [] });
    // VEE over M1 only: the spike becomes an open issue to accept through the console.
    const run = await call('POST', '/v1/validation/run', 'admin', { meters: ['M1'], from: iso(T0), to: iso(T0 + DAYS * DAY) });
    expect(run.statusCode, run.body).toBe(200);
    // A hook before the alarm opens: its deliveries (an outbox filled by the alarm's transitions) show on the alarm's page.
    const hook = await call('POST', '/v1/hooks', 'admin', { url: 'http://127.0.0.1:9/work-orders', description: 'nobody listens: deliveries stay pending' });
    expect(hook.statusCode, hook.body).toBe(201);
    expect((await call('POST', '/v1/events', 'gateway', { events: [{ meter: 'M1', code: 'power_failure', at: iso(T0 + 5 * DAY) }] })).json()).toMatchObject({ alarms: { opened: 1 } });
    // A day-ahead forecast of P for 2026-11-08, issued on the 7th: queued through the API, computed by the job with the stand-in engine.
    const queued = await call('POST', '/v1/forecasts/runs', 'trader', { target: 'portfolio:P', horizon: 'day-ahead', issueTime: '2026-11-07T09:30:00+03:00' });
    expect(queued.statusCode, queued.body).toBe(202);
    const claimed = await claimRun(t.database, 'console-test', queued.json().id);
    const status = await executeRun({ database: t.database, engine: dMinus2 }, claimed!);
    expect(status, (await call('GET', `/v1/forecasts/runs/${queued.json().id}`)).body).toBe('done');

    // Prices and the portfolio's position for the forecast day: its imbalance by hour and per meter.
    const day8 = Array.from({ length: 24 }, (_, h) => iso(T0 + 7 * DAY + h * H));
    const prices = await call('PUT', '/v1/market/prices', 'admin', {
      area: 'TR',
      currency: 'TRY',
      prices: day8.map((start) => ({ start, ptf: 2000, smf: 2200, positiveImbalance: 1900, negativeImbalance: 2300 })),
    });
    expect(prices.statusCode, prices.body).toBe(200);
    const positions = await call('PUT', '/v1/market/positions', 'trader', { portfolio: 'P', positions: day8.map((start) => ({ start, dayAhead: 0.004 })) });
    expect(positions.statusCode, positions.body).toBe(200);

    base = await t.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 }, locale: 'en-GB' });
    page.setDefaultTimeout(20_000); // generous: CI runs this file beside two other workers on two cores
    page.on('pageerror', (err) => pageErrors.push(err.message));
    // Errors the page logs (CSP refusals among them); an API answer of 4xx is logged as a failed resource, expected here.
    page.on('console', (msg) => msg.type() === 'error' && !msg.text().startsWith('Failed to load resource') && pageErrors.push(msg.text()));
    page.on('dialog', (d) => void d.accept());
    page.on('request', (r) => requested.push(r.url()));
  });

  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('/ leads to /console/; console files carry the CSP; unknown files are 404', async () => {
    const root = await t.app.inject({ method: 'GET', url: '/' });
    expect(root.statusCode).toBe(302);
    expect(root.headers.location).toBe('/console/');
    const index = await t.app.inject({ method: 'GET', url: '/console/' });
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-security-policy']).toBe(CONSOLE_CSP);
    expect(CONSOLE_CSP).toContain("script-src 'self'");
    expect(CONSOLE_CSP).not.toContain('unsafe-inline');
    expect(index.body).not.toMatch(/<script>|<script type="importmap"|style=/);
    const again = await t.app.inject({ method: 'GET', url: '/console/', headers: { 'if-none-match': String(index.headers.etag) } });
    expect(again.statusCode).toBe(304);
    expect((await t.app.inject({ method: 'GET', url: '/console/vendor/uPlot.esm.js' })).headers['content-type']).toMatch(/^text\/javascript/);
    for (const url of ['/console/console.plugin.ts', '/console/tsconfig.json', '/console/../package.json', '/console/nothing.js']) {
      expect((await t.app.inject({ method: 'GET', url })).statusCode, url).toBe(404);
    }
  });

  it('GET /v1/keys/me names the key, its role and permissions, for every role', async () => {
    const me = await call('GET', '/v1/keys/me', 'gateway');
    expect(me.statusCode).toBe(200);
    expect(me.json()).toMatchObject({ name: 'test-gateway', role: 'gateway', permissions: expect.arrayContaining(['readings:write', 'keys:self']) });
    expect(me.json().permissions).not.toContain('meters:read');
    expect((await t.app.inject({ method: 'GET', url: '/v1/keys/me' })).statusCode).toBe(401);
  });

  it('signs in with a key kept in sessionStorage only, never in the URL or localStorage; a wrong key is refused', async () => {
    await page.goto(`${base}/console/`);
    await page.getByLabel('API key').fill('mdm_not-a-real-key-000000000000000');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await expect.poll(() => page.locator('form.signin [role=alert]').textContent()).toContain('not valid');
    await shot('sign-in');
    await accessible();
    await signIn('admin');
    expect(page.url()).not.toContain(t.keys.admin);
    expect(await page.evaluate(() => JSON.stringify(localStorage))).not.toContain('mdm_');
    expect(await page.evaluate(() => Object.values(sessionStorage))).toContain(t.keys.admin);
    await expect.poll(() => page.locator('#nav a').allTextContents()).toEqual(['Meters', 'Alarms', 'Billing', 'Portfolio', 'Imports', 'Admin']);
  });

  it('Meters: lists the registry, filters through the URL, shows API text as text', async () => {
    await open('#/meters');
    await page.locator('table.meters').waitFor();
    const ids = await page.locator('table.meters tbody tr td:first-child').allTextContents();
    expect(ids).toEqual(['<img src=x onerror=alert(1)>', 'G1', 'M1', 'M2', 'Y1']);
    expect(await page.locator('table.meters img').count()).toBe(0); // the id is text, not markup
    await accessible();
    await page.getByLabel('Portfolio').fill('P');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.url()).toContain('#/meters?portfolio=P');
    await expect.poll(() => page.locator('table.meters tbody tr td:first-child').allTextContents()).toEqual(['M1', 'M2']);
    // Filters the API gained for this page: region, a label, open alarms (GET /v1/meters)
    await page.getByLabel('Label (key=value)').fill('nosuch=label');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.url()).toContain('label=nosuch%3Dlabel');
    await expect.poll(() => page.locator('table.meters tbody tr').count()).toBe(0);
    await page.getByLabel('Label (key=value)').fill('');
    await page.getByLabel('Active alarms', { exact: true }).selectOption('false');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.url()).toContain('openAlarms=false');
    await page.locator('table.meters').waitFor();
    // The figures of a chosen month (its billing readiness): 192 of November's 720 hours for M1, not billable; its last value and time.
    await open('#/meters?portfolio=P&month=2026-11');
    const m1 = page.locator('table.meters tbody tr', { hasText: 'M1' });
    await m1.waitFor();
    expect(await m1.textContent()).toMatch(/1 kWh\s*8 Nov 2026, 23:00 GMT\+3.*26\.7\s?%.*No: why\?/);
    // Sorting by a column sorts the registry on the server, in the URL: completeness up (M2 26.3 % first), then down.
    const order = () => page.locator('table.meters tbody tr td:first-child').allTextContents();
    await page.getByRole('button', { name: 'Completeness' }).click();
    await expect.poll(order).toEqual(['M2', 'M1']);
    expect(page.url()).toContain('sort=completeness');
    await page.getByRole('button', { name: /Completeness/ }).click();
    await expect.poll(order).toEqual(['M1', 'M2']);
    expect(page.url()).toContain('order=desc');
    expect(await page.locator('th[aria-sort]').getAttribute('aria-sort')).toBe('descending');
    await shot('meters');
    // Completeness below a level, billability: filters of the server too (the sort is kept).
    await page.getByLabel('Completeness below (%)').fill('26.5');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.url()).toContain('below=26.5');
    await expect.poll(order).toEqual(['M2']);
    await page.getByLabel('Completeness below (%)').fill('');
    await page.getByLabel('Billing', { exact: true }).selectOption('true');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.url()).toContain('billable=true');
    await expect.poll(() => page.locator('main p', { hasText: 'No meter matches' }).count()).toBe(1);
    await open('#/meters?portfolio=P&month=2026-11&billable=false');
    await expect.poll(order).toEqual(['M1', 'M2']);
    // The whole registry by its last value: Y1's year ends a week before the others; meters without values come last.
    await open('#/meters?month=2026-11');
    await page.getByRole('button', { name: 'Last value' }).click();
    await expect.poll(() => page.url()).toContain('sort=lastValueAt');
    await expect.poll(async () => (await order())[0]).toBe('Y1');
    expect((await order()).at(-1)).toBe('<img src=x onerror=alert(1)>');
    await page.getByRole('button', { name: /Last value/ }).click();
    await expect.poll(async () => (await order())[0]).toBe('G1'); // the newest values: G1, M1, M2 end together, then by id
    await open('#/meters?portfolio=P&month=2026-11');
    await page.getByRole('link', { name: 'M2' }).click();
    await page.getByRole('heading', { name: 'Meter M2' }).waitFor();
  });

  it('Meters: meters registered after the stored readiness get their figures (it is computed again); long ids', async () => {
    const long = Array.from({ length: 40 }, (_, i) => ({ id: `LONG-${String(i).padStart(2, '0')}-${'x'.repeat(110)}`, group: 'long' }));
    expect((await call('PUT', '/v1/meters', 'admin', long)).json()).toMatchObject({ created: 40, rejected: [] });
    await open('#/meters?group=long&month=2026-11');
    await page.locator('table.meters').waitFor();
    expect(await page.locator('table.meters tbody tr').count()).toBe(40);
    // Completeness and billability of every meter on the page, though the month's readiness was stored before they were registered.
    expect(await page.locator('table.meters tbody tr td:nth-child(6)').allTextContents()).toEqual(Array(40).fill('0%'));
    expect(await page.locator('table.meters tbody tr td:nth-child(8)').allTextContents()).toEqual(Array(40).fill('No: why?'));
  });

  it('Meter: the load profile with the right number of points, its gap shown, qualities, attributes', async () => {
    await open('#/meter/M2?from=2026-11-01&to=2026-11-09&interval=raw');
    const summary = page.locator('p.summary');
    await page.locator('.chart canvas').first().waitFor();
    expect(await summary.getAttribute('data-points')).toBe(String(DAYS * 24 - 3));
    expect(await summary.getAttribute('data-gaps')).toBe('1');
    expect(await summary.textContent()).toContain('1 gaps, 3 intervals missing');
    expect(await page.locator('.legend').textContent()).toContain('missing (shaded)');
    // Its register reads: the last of each local day (read at midnight, so the 2nd to the 8th, then the 9th's).
    await page.locator('table.registers').waitFor();
    expect(await page.locator('table.registers tbody tr').count()).toBe(DAYS - 1);
    expect(await page.locator('table.registers tbody tr').last().textContent()).toContain('1,280');
    // Its devices and dated attribute changes (issue 16): an exchange after the data, a supply end set from a date.
    const changed = await call('POST', '/v1/meters/changes', 'admin', {
      changes: [
        { action: 'exchange', meter: 'M2', at: '2026-11-20T12:00:00+03:00', finalRead: 1500, initialRead: 0, device: { serial: 'NEW-M2', make: 'Makel', model: 'C500', registerDigits: 6 } },
        { action: 'set', meter: 'M2', attribute: 'supplyEnd', value: '2027-12-31', date: '2026-12-01' },
      ],
    });
    expect(changed.json()).toEqual({ applied: 2, rejected: [] });
    await open('#/meter/M2?from=2026-11-01&to=2026-11-09&interval=day'); // another URL: the page renders again
    await page.locator('table.versions').waitFor();
    const devices = await page.locator('table.devices tbody tr').allTextContents();
    expect(devices).toHaveLength(2);
    expect(devices[0]).toContain('M2');
    expect(devices[1]).toContain('NEW-M2');
    expect(devices[1]).toContain('Makel C500');
    expect(await page.locator('table.versions').textContent()).toContain('2027-12-31');
    await open('#/meter/M1?from=2026-11-01&to=2026-11-09&interval=hour');
    await page.locator('.chart canvas').first().waitFor();
    expect(await page.locator('p.summary').getAttribute('data-points')).toBe(String(DAYS * 24));
    expect(await page.locator('dl.attributes').textContent()).toContain('F-7');
    await open('#/meter/M1?from=2026-11-01&to=2026-11-09&interval=day');
    await page.locator('.chart canvas').first().waitFor();
    expect(await page.locator('p.summary').getAttribute('data-points')).toBe(String(DAYS));
  });

  it('Meter: a year of hourly values (8 760 points, one request) drawn as one chart', async () => {
    await open('#/meter/Y1?from=2025-11-01&to=2026-11-01&interval=raw');
    await page.locator('.chart canvas').first().waitFor();
    expect(await page.locator('p.summary').getAttribute('data-points')).toBe('8760');
    expect(await page.locator('p.summary').getAttribute('data-gaps')).toBe('0');
  });

  it('Meter: a click on the chart shows the version history of the value under the cursor', async () => {
    await open('#/meter/M1?from=2026-11-03&to=2026-11-04&interval=raw');
    const over = page.locator('.chart .u-over');
    await over.waitFor();
    const box = (await over.boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.click(box.x + box.width / 2, box.y + box.height / 2);
    await page.locator('table.history-table').waitFor();
    expect(await page.locator('table.history-table caption').textContent()).toContain('Versions of the value at');
    expect(await page.locator('table.history-table tbody tr').count()).toBeGreaterThanOrEqual(1);
    await shot('meter');
    await accessible();
  });

  it('Meter: a validation issue accepted with a comment through the page is accepted in the API', async () => {
    const listed = await call('GET', '/v1/validation/issues?meter=M1&status=open');
    const spike = listed.json().issues.find((i: any) => i.rule === 'spike');
    expect(spike, listed.body).toBeDefined();
    await open('#/meter/M1?from=2026-11-03&to=2026-11-04&interval=raw');
    const row = page.locator('table.issues tbody tr', { hasText: 'spike' });
    await row.getByRole('textbox', { name: 'Accept: Comment' }).fill('checked on site: a real peak');
    await row.getByRole('button', { name: 'Accept' }).click();
    await expect.poll(async () => (await call('GET', `/v1/validation/issues?meter=M1&rule=spike`)).json().issues[0].status).toBe('accepted');
    expect((await call('GET', `/v1/validation/issues?meter=M1&rule=spike`)).json().issues[0]).toMatchObject({ comment: 'checked on site: a real peak', resolvedBy: 'test-admin' });
    await expect.poll(() => page.locator('table.issues tbody tr', { hasText: 'spike' }).textContent()).toContain('Accepted');
  });

  it('Meter: a value edited with a reason through the page is a new version in the API', async () => {
    await open('#/meter/M1?from=2026-11-04&to=2026-11-05&interval=raw');
    const over = page.locator('.chart .u-over');
    await over.waitFor();
    const box = (await over.boundingBox())!;
    await page.mouse.move(box.x + box.width / 4, box.y + box.height / 2);
    await page.mouse.click(box.x + box.width / 4, box.y + box.height / 2);
    const one = page.getByRole('form', { name: 'Edit this value' });
    await one.getByLabel('New value (as recorded, before the multiplier)').fill('2.5');
    await one.getByLabel('Reason code').fill('CT_FAULT');
    await one.getByLabel('Comment').fill('clamp replaced');
    await page.getByRole('button', { name: 'Save the edit' }).click();
    const day = `channel=active_import&from=${iso(T0 + 3 * DAY)}&to=${iso(T0 + 4 * DAY)}`;
    await expect.poll(async () => (await call('GET', `/v1/meters/M1/edits?${day}`)).json().notes.map((n: any) => [n.reasonCode, n.comment, n.value])).toEqual([['CT_FAULT', 'clamp replaced', 2.5]]);
    const edited = (await call('GET', `/v1/meters/M1/readings?${day}`)).json().rows.filter((r: any) => r.quality === 'edited');
    expect(edited).toHaveLength(1);
    await page.locator('.legend', { hasText: 'Edited: 1' }).waitFor();
  });

  it('Meter: a range set to a value, then a range estimated, each with a reason, through the page: new versions in the API', async () => {
    await open('#/meter/M1?from=2026-11-06&to=2026-11-07&interval=raw');
    const form = page.getByRole('form', { name: 'Edit a range' });
    await form.waitFor();
    // Local times of the meter's zone (Istanbul, UTC+3): 10:00–13:00 is three hourly values.
    await form.getByLabel('Edit from (Europe/Istanbul)').fill('2026-11-06T10:00');
    await form.getByLabel('Edit to, exclusive (Europe/Istanbul)').fill('2026-11-06T13:00');
    await form.getByLabel('How').selectOption('value');
    await form.getByLabel('Value of each interval (as recorded, before the multiplier)').fill('2.25');
    await form.getByLabel('Reason code').fill('METER_SWAP');
    await form.getByLabel('Comment').fill('the old meter read double');
    await form.getByRole('button', { name: 'Edit the range' }).click();
    const day = `channel=active_import&from=${iso(T0 + 5 * DAY)}&to=${iso(T0 + 6 * DAY)}`;
    await expect
      .poll(async () => (await call('GET', `/v1/meters/M1/edits?${day}`)).json().notes.map((n: any) => [Date.parse(n.start), n.reasonCode, n.comment, n.value]))
      .toEqual([10, 11, 12].map((hr) => [T0 + 5 * DAY + hr * H, 'METER_SWAP', 'the old meter read double', 2.25]));
    await page.locator('.legend', { hasText: 'Edited: 3' }).waitFor();
    // Estimated by a method: 20:00–22:00 set to zero, quality estimated.
    await form.getByLabel('Edit from (Europe/Istanbul)').fill('2026-11-06T20:00');
    await form.getByLabel('Edit to, exclusive (Europe/Istanbul)').fill('2026-11-06T22:00');
    await form.getByLabel('How').selectOption('zero');
    await form.getByLabel('Reason code').fill('OUTAGE');
    await form.getByLabel('Comment').fill('supply cut by the grid');
    await form.getByRole('button', { name: 'Edit the range' }).click();
    await expect
      .poll(async () =>
        (await call('GET', `/v1/meters/M1/readings?${day}`))
          .json()
          .rows.filter((r: any) => r.quality === 'estimated')
          .map((r: any) => [Date.parse(r.start), r.value]),
      )
      .toEqual([20, 21].map((hr) => [T0 + 5 * DAY + hr * H, 0]));
    await page.locator('.legend', { hasText: 'Estimated: 2' }).waitFor();
    // A value is required to set one; the API is not asked.
    await form.getByLabel('How').selectOption('value');
    await form.getByLabel('Value of each interval (as recorded, before the multiplier)').fill('');
    await form.getByLabel('Reason code').fill('X');
    await form.getByLabel('Comment').fill('y');
    await form.getByRole('button', { name: 'Edit the range' }).click();
    await expect.poll(() => form.locator('[role=alert]').textContent()).toContain('Give the value of each interval');
    await shot('meter-range-edit');
    await accessible();
  });

  it('Meter: a gas meter shows temperature on a second axis', async () => {
    await open('#/meter/G1?from=2026-11-01&to=2026-11-03&interval=hour');
    await page.locator('.chart canvas').first().waitFor();
    expect(await page.locator('.u-legend').textContent()).toContain('Temperature');
    expect(await page.locator('.u-axis').count()).toBe(3);
    // The channel list is the registry's (GET /v1/channels) for the meter's commodity.
    const options = await page
      .getByLabel('Channel')
      .locator('option')
      .evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
    expect(options).toContain('volume');
    expect(options).not.toContain('active_import');
  });

  it('Alarms: an alarm acknowledged with a comment through the page is acknowledged in the API', async () => {
    await open('#/alarms?state=active');
    const row = page.locator('table.alarms tbody tr', { hasText: 'power_failure' });
    await row.waitFor();
    expect(await row.textContent()).toContain('M1');
    await shot('alarms');
    await accessible();
    await row.getByRole('textbox', { name: 'Acknowledge: Comment' }).fill('crew on the way');
    await row.getByRole('button', { name: 'Acknowledge' }).click();
    await expect.poll(() => page.locator('table.alarms tbody tr', { hasText: 'power_failure' }).locator('[data-state]').getAttribute('data-state')).toBe('acknowledged');
    const alarms = (await call('GET', '/v1/alarms?meter=M1')).json().alarms;
    expect(alarms[0]).toMatchObject({ state: 'acknowledged', comment: 'crew on the way', acknowledgedBy: 'test-admin' });
    // The alarm's own page: its fields and what the hook was sent (opened, then acknowledged; pending, nobody listens).
    await page.getByRole('link', { name: String(alarms[0].id), exact: true }).click();
    await page.locator('table.deliveries').waitFor();
    expect(await page.locator('section.detail dl').textContent()).toContain('crew on the way');
    expect(await page.locator('table.deliveries tbody tr td:nth-child(2)').allTextContents()).toEqual(['acknowledged', 'opened']);
    expect(await page.locator('table.deliveries [data-delivery]').allTextContents()).toEqual(['pending', 'pending']);
    await shot('alarm');
    await accessible();
  });

  it('Billing: the meters that are not billable and why, each linked to its Meter page', async () => {
    await open('#/billing?period=2026-11');
    await page.locator('table.readiness').waitFor();
    const m2 = page.locator('table.readiness tbody tr', { hasText: 'M2' });
    expect(await m2.textContent()).toContain('Missing data');
    await shot('billing');
    await accessible();
    await m2.getByRole('link', { name: 'M2' }).click();
    await page.getByRole('heading', { name: 'Meter M2' }).waitFor();
    expect(page.url()).toContain('from=2026-11-01&to=2026-12-01&interval=day');
  });

  it('Portfolio: the P10–P90 band with P50 and the actuals of the forecast day, and the run', async () => {
    await open('#/portfolio?id=P&for=2026-11-08');
    const summary = page.locator('section:has(#fc-h) p.summary');
    await page.locator('.chart canvas').first().waitFor();
    expect(await summary.getAttribute('data-forecast-hours')).toBe('24');
    expect(await summary.getAttribute('data-actual-hours')).toBe('24');
    expect(await page.locator('section:has(#fc-h) .u-legend').textContent()).toMatch(/P10.*P90.*P50.*Actual/s);
    await expect.poll(() => page.locator('section', { hasText: 'Forecast runs' }).locator('table').textContent()).toContain('done');
    // The month: 8 days of data for its 2 meters.
    expect(await page.locator('section', { hasText: 'Consumption in 2026-11' }).locator('p.summary').getAttribute('data-days')).toBe(String(DAYS));
    // Imbalance: 24 hours of 4 kWh bought against 2 or 6 kWh used (M1 and M2 at 1 or 3 kWh each), both meters costed.
    expect(await page.locator('table.imbalance-hours tbody tr').count()).toBe(24);
    expect(await page.locator('table.imbalance-hours tbody tr').first().textContent()).toMatch(/^00:00\s*0[.,]004\s*0[.,]002\s*0[.,]002/);
    expect(await page.locator('table.imbalance-meters tbody tr td:first-child').allTextContents()).toEqual(expect.arrayContaining(['M1', 'M2']));
    // Each meter's share of the portfolio's cost, the shares adding up to the whole.
    const shares = (await page.locator('table.imbalance-meters tbody tr td:nth-child(5)').allTextContents()).map((c) => Number.parseFloat(c));
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(100, 0);
    // The hours as a chart too (uPlot): position and consumption, the imbalance as bars, its cost on a second axis.
    const chart = page.locator('section:has(#imb-h) figure');
    await chart.locator('canvas').first().waitFor();
    expect(await chart.locator('figcaption').getAttribute('data-hours')).toBe('24');
    expect(await chart.locator('figcaption').getAttribute('data-counted')).toBe('24');
    expect(await chart.locator('.u-legend').textContent()).toMatch(/Position.*Consumption.*Imbalance.*Imbalance cost/s);
    expect(await chart.locator('.u-axis').count()).toBe(3);
    await shot('portfolio');
    await accessible();
    // Hours without an actual completed by estimates (fill=), in the URL.
    await page.getByLabel('Hours without an actual').selectOption('estimate');
    await page.getByRole('button', { name: 'Apply' }).click();
    await expect.poll(() => page.url()).toContain('fill=estimate');
    await page.locator('section:has(#imb-h) figure canvas').first().waitFor();
    expect(await page.locator('table.imbalance-hours tbody tr').count()).toBe(24);
  });

  it('Imports: a file checked by a dry run (nothing stored, the bad line and its reason), then imported', async () => {
    await open('#/imports');
    const csv = ['meter,channel,start,value', ...M2_GAP.map((ms) => `M2,active_import,${iso(ms)},1`), `NOPE,active_import,${iso(M2_GAP[0])},1`].join('\n');
    await page.getByLabel('File (CSV or xlsx)').setInputFiles({ name: 'gap.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await page.getByRole('button', { name: 'Check (dry run)' }).click();
    const summary = page.locator('.report p.summary');
    await summary.waitFor();
    expect(await summary.getAttribute('data-accepted')).toBe('3');
    expect(await summary.getAttribute('data-rejected')).toBe('1');
    expect(await page.locator('table.file-rejects tbody tr').textContent()).toMatch(/^5.*NOPE/);
    const m2 = () => call('GET', `/v1/meters/M2/readings?channel=active_import&from=${iso(T0)}&to=${iso(T0 + DAYS * DAY)}`);
    expect((await m2()).json().rows).toHaveLength(DAYS * 24 - 3); // a dry run stores nothing
    await shot('imports');
    await accessible();
    await page.getByRole('button', { name: 'Import it' }).click();
    await page.getByRole('heading', { name: 'Import of gap.csv' }).waitFor();
    expect((await m2()).json().rows).toHaveLength(DAYS * 24);
    expect(page.url()).toContain('#/imports?layout=long');
    await expect.poll(() => page.locator('section', { hasText: 'Rejected rows' }).textContent()).toContain('unknown meter "NOPE"');
  });

  it('Admin: health, a key created (secret shown once) and revoked through the page', async () => {
    await open('#/admin');
    await page.locator('[data-status]').waitFor();
    expect(await page.locator('[data-status]').getAttribute('data-status')).toBe('ok');
    await page.getByLabel('Name', { exact: true }).fill('console-made');
    await page.getByLabel('Role').selectOption('viewer');
    await page.getByRole('button', { name: 'Create key' }).click();
    const secret = await page.locator('.secret code').textContent();
    expect(secret).toMatch(/^mdm_/);
    expect((await call('GET', '/v1/keys')).json().keys.map((k: any) => k.name)).toContain('console-made');
    await shot('admin');
    await accessible();
    await page.getByRole('button', { name: 'Revoke key console-made' }).click();
    await expect.poll(async () => (await call('GET', '/v1/keys')).json().keys.map((k: any) => k.name)).not.toContain('console-made');
    expect((await t.app.inject({ method: 'GET', url: '/v1/keys/me', headers: { authorization: `Bearer ${secret}` } })).statusCode).toBe(401);
  });

  it('Turkish: the switch translates the pages and formats for tr-TR; every language has the same strings', async () => {
    await open('#/meters');
    await page.getByLabel('Language').selectOption('tr');
    await page.getByRole('heading', { name: 'Sayaçlar' }).waitFor();
    expect(await page.evaluate(() => document.documentElement.lang)).toBe('tr');
    expect(await page.locator('#nav a').allTextContents()).toEqual(['Sayaçlar', 'Alarmlar', 'Faturalama', 'Portföy', 'İçe aktarma', 'Yönetim']);
    await open('#/alarms?state=acknowledged');
    await page.locator('table.alarms').waitFor();
    expect(await page.locator('table.alarms tbody tr').first().textContent()).toContain('Onaylandı');
    expect(await page.locator('table.alarms tbody tr').first().textContent()).toContain('Kas 2026'); // Kasım: dates for tr-TR (Intl)
    await shot('alarms-tr');
    await open('#/meters?portfolio=P&month=2026-11');
    await page.locator('table.meters').waitFor();
    expect(await page.locator('table.meters tbody tr', { hasText: 'M1' }).textContent()).toContain('%26,7'); // Turkish percent: sign first, decimal comma
    await page.getByLabel('Dil').selectOption('en');
    await page.getByRole('heading', { name: 'Meters' }).waitFor();
    const en = (await import(pathToFileURL(join(import.meta.dirname, '../web/i18n/en.js')).href)).default;
    const tr = (await import(pathToFileURL(join(import.meta.dirname, '../web/i18n/tr.js')).href)).default;
    expect(Object.keys(tr).sort()).toEqual(Object.keys(en).sort());
  });

  it('roles: a viewer sees no Admin page and no alarm actions; an operator may acknowledge but not open Billing', async () => {
    await signIn('viewer');
    await expect.poll(() => page.locator('#nav a').allTextContents()).toEqual(['Meters', 'Alarms', 'Portfolio', 'Imports']);
    await open('#/alarms');
    await page.locator('table.alarms').waitFor();
    expect(await page.getByRole('button', { name: 'Close' }).count()).toBe(0);
    await open('#/admin');
    expect(await page.locator('main [role=alert]').textContent()).toContain('viewer');
    await signIn('operator');
    await expect.poll(() => page.locator('#nav a').allTextContents()).toEqual(['Meters', 'Alarms', 'Imports']);
    await open('#/alarms');
    await page.locator('table.alarms').waitFor();
    expect(await page.getByRole('button', { name: 'Close' }).count()).toBeGreaterThan(0);
    await page.locator('#signout').click();
    await page.getByLabel('API key').waitFor();
    expect(await page.evaluate(() => Object.values(sessionStorage))).not.toContain(t.keys.operator);
  });

  it('keyboard: the navigation and the filters are reached and used with Tab and Enter', async () => {
    await signIn('admin');
    await open('#/meters');
    await page.locator('main').focus(); // where a new page puts the focus
    // Back from the page with Shift+Tab: the header's tools, then its links.
    let reached = '';
    for (let i = 0; i < 10 && reached !== 'Alarms'; i++) {
      await page.keyboard.press('Shift+Tab');
      reached = (await page.evaluate(() => document.activeElement?.textContent ?? '')).trim();
    }
    expect(reached).toBe('Alarms');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'Alarms' }).waitFor();
    await page.getByLabel('Meter', { exact: true }).focus();
    await page.keyboard.type('M1');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.url()).toContain('#/alarms?meter=M1');
  });

  it('no script error and no CSP violation on any page; no key in any URL the browser asked for', () => {
    expect(pageErrors).toEqual([]);
    expect(requested.length).toBeGreaterThan(50);
    for (const key of Object.values(t.keys)) expect(requested.filter((u) => u.includes(key))).toEqual([]);
    expect(requested.filter((u) => !u.startsWith(base))).toEqual([]); // nothing fetched from elsewhere
  });
});
