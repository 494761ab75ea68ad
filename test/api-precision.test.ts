import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runVee } from '../ingest/vee/runner.js';
import type { Role } from '../models/api-key.js';
import { channelDef } from '../models/channel.js';
import { FIGURE_DECIMALS } from '../models/precision.js';
import { storeIssues } from '../sql/vee.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * Issue 12, defects 9, 10 (completeness times, VEE note issue, CSV on
 * readings and aggregates) and 12, through the real API on real data:
 * Cambridge Estates hourly electricity of 1–7 July 2019 (an excerpt as published:
 * test/fixtures/data/README.md), one building per meter, sent as an integrator sends it.
 */

const HOUR = 3_600_000;
const LONDON = 'Europe/London';
const IST = 'Europe/Istanbul';
const DATA = new URL('./fixtures/data/cambridge-estates/', import.meta.url);
const JULY = Date.UTC(2019, 6, 1) - HOUR; // 2019-07-01T00:00+01:00
const WEEK_END = Date.UTC(2019, 6, 8) - HOUR; // 2019-07-08T00:00+01:00: the data's first week of July

/** Meters: a building each, with CT ratios that make products as well as sums (1.5 × 0.1 is 0.15000000000000002 in doubles). */
const BUILDINGS = [
  { id: 'CAM-b0', building: 'b0', multiplier: '1' },
  { id: 'CAM-b101', building: 'b101', multiplier: '1.5' },
  { id: 'CAM-b11', building: 'b11', multiplier: '40' },
  { id: 'CAM-b13', building: 'b13', multiplier: '1' },
  { id: 'CAM-b36', building: 'b36', multiplier: '0.3' },
];

/** The building's 2019 electricity in [fromMs, toMs) (within 1–7 July): UTC hour start → the value as its decimal text in the file. */
function building(b: string, fromMs: number, toMs: number): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of readFileSync(new URL(`${b}/electricity/2019.csv`, DATA), 'utf8')
    .split('\n')
    .slice(1)) {
    if (!line) continue;
    const [t, v] = line.split(',');
    const ms = Date.parse(`${t.replace(' ', 'T')}Z`);
    if (ms >= fromMs && ms < toMs) out.set(ms, v.trim());
  }
  return out;
}

/* Exact decimal arithmetic (BigInt in units of 10⁻⁶): the reference the API must equal. */
const SCALE = 6;
function micro(text: string): bigint {
  const [int, frac = ''] = text.replace(/^-/, '').split('.');
  expect(frac.length, `${text} has at most ${SCALE / 2} decimals`).toBeLessThanOrEqual(SCALE / 2);
  const v = BigInt(int + frac.padEnd(SCALE / 2, '0'));
  return text.startsWith('-') ? -v : v;
}
/** value × multiplier, each with ≤ 3 decimals: exact in 10⁻⁶. */
const product = (value: string, multiplier: string): bigint => micro(value) * micro(multiplier);
function decimalText(m: bigint): string {
  const neg = m < 0n;
  const s = (neg ? -m : m).toString().padStart(SCALE + 1, '0');
  const text = `${s.slice(0, -SCALE)}.${s.slice(-SCALE)}`.replace(/\.?0+$/, '');
  return neg ? `-${text}` : text;
}
/** Decimals of a number as JSON prints it (no exponent for our magnitudes). */
const decimals = (x: number): number => {
  const s = String(x);
  expect(s, 'no exponent notation').not.toMatch(/e/i);
  return s.includes('.') ? s.length - s.indexOf('.') - 1 : 0;
};

/** Local day (YYYY-MM-DD) of a UTC instant in London summer time (+01:00). */
const bstDate = (ms: number) => new Date(ms + HOUR).toISOString().slice(0, 10);

describe.each(FLAVOURS)('figures, times and CSV through the API (%s)', (flavour) => {
  let t: TestApp;
  const data = new Map<string, Map<number, string>>();
  const get = (url: string, role: Role = 'viewer') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });
  const q = (params: Record<string, string>) => new URLSearchParams(params).toString();
  const post = async (readings: object[]) => {
    for (let i = 0; i < readings.length; i += 20_000) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('admin'), payload: { readings: readings.slice(i, i + 20_000) } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().rejected).toEqual([]);
    }
  };

  beforeAll(async () => {
    t = await testApp(flavour);
    const meters = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [
        ...BUILDINGS.map((b) => ({ id: b.id, timezone: LONDON, intervalMinutes: 60, multiplier: Number(b.multiplier), portfolio: 'CAM' })),
        { id: 'CAM-gap', timezone: LONDON, intervalMinutes: 60, supplyStart: '2019-06-01' },
        { id: 'CAM-gap-edit', timezone: LONDON, intervalMinutes: 60, supplyStart: '2019-06-01' },
        { id: 'REG', timezone: IST },
      ],
    });
    expect(meters.json()).toMatchObject({ rejected: [] });
    const rows: object[] = [];
    for (const b of BUILDINGS) {
      const series = building(b.building, JULY, WEEK_END);
      data.set(b.id, series);
      for (const [ms, v] of series) rows.push({ meter: b.id, channel: 'active_import', start: new Date(ms).toISOString(), value: Number(v) });
    }
    await post(rows);
  }, 120_000);
  afterAll(() => t?.close());

  /** Exact Σ value × multiplier per local day of 1–7 July, over the meters given. */
  function exactDays(ids: readonly string[], withMultiplier: boolean): Map<string, bigint> {
    const days = new Map<string, bigint>();
    for (const b of BUILDINGS.filter((x) => ids.includes(x.id))) {
      for (const [ms, v] of data.get(b.id)!) {
        const d = bstDate(ms);
        days.set(d, (days.get(d) ?? 0n) + product(v, withMultiplier ? b.multiplier : '1'));
      }
    }
    return days;
  }

  describe('defect 9: sums are exact to the documented precision', () => {
    it('GET /v1/aggregate by day and month equals the exact decimal sum, no float noise', async () => {
      const ids = BUILDINGS.map((b) => b.id);
      const res = await get(`/v1/aggregate?${q({ portfolio: 'CAM', channel: 'active_import', from: '2019-07-01T00:00:00+01:00', to: '2019-07-08T00:00:00+01:00', interval: 'day' })}`, 'trader');
      expect(res.statusCode, res.body).toBe(200);
      const body = res.json();
      expect(body.unit).toBe('kWh');
      const exact = exactDays(ids, true);
      expect(body.rows).toHaveLength(7);
      for (const r of body.rows) {
        expect(decimals(r.value), `${r.start}: ${r.value}`).toBeLessThanOrEqual(FIGURE_DECIMALS);
        expect(r.value, r.start).toBe(Number(decimalText(exact.get(r.start.slice(0, 10))!)));
      }
      const month = (
        await get(`/v1/aggregate?${q({ portfolio: 'CAM', channel: 'active_import', from: '2019-07-01T00:00:00+01:00', to: '2019-08-01T00:00:00+01:00', interval: 'month' })}`, 'trader')
      ).json();
      const total = [...exact.values()].reduce((a, b) => a + b, 0n);
      // July holds the week stored: 5 meters × 7 days × 24 hours.
      expect(month.rows).toEqual([{ start: '2019-07-01T00:00:00+01:00', value: Number(decimalText(total)), meters: 5, intervals: 5 * 7 * 24 }]);
      expect(decimals(month.rows[0].value)).toBeLessThanOrEqual(FIGURE_DECIMALS);
    });

    it('GET /v1/meters/:id/readings day sums equal the exact decimal sum (before the multiplier)', async () => {
      for (const id of ['CAM-b0', 'CAM-b36']) {
        const res = await get(`/v1/meters/${id}/readings?${q({ channel: 'active_import', from: '2019-07-01T00:00:00+01:00', to: '2019-07-08T00:00:00+01:00', interval: 'day' })}`);
        expect(res.statusCode, res.body).toBe(200);
        const exact = exactDays([id], false);
        const rows = res.json().rows;
        expect(rows).toHaveLength(7);
        for (const r of rows) {
          expect(decimals(r.value), `${id} ${r.start}: ${r.value}`).toBeLessThanOrEqual(FIGURE_DECIMALS);
          expect(r.value, `${id} ${r.start}`).toBe(Number(decimalText(exact.get(r.start.slice(0, 10))!)));
          expect(r.completeness).toBe(1);
        }
      }
    });

    it('serves aggregates as CSV (format=csv): text/csv, header row, the same rounded figures', async () => {
      const params = { portfolio: 'CAM', channel: 'active_import', from: '2019-07-01T00:00:00+01:00', to: '2019-07-08T00:00:00+01:00', interval: 'day' };
      const json = (await get(`/v1/aggregate?${q(params)}`, 'trader')).json();
      const res = await get(`/v1/aggregate?${q({ ...params, format: 'csv' })}`, 'trader');
      expect(res.statusCode, res.body).toBe(200);
      expect(res.headers['content-type']).toMatch(/^text\/csv/);
      const lines = res.body.trimEnd().split('\n');
      expect(lines[0]).toBe('channel,unit,start,value,meters,intervals');
      expect(lines.slice(1)).toEqual(json.rows.map((r: { start: string; value: number; meters: number; intervals: number }) => `active_import,kWh,${r.start},${r.value},${r.meters},${r.intervals}`));
      expect(lines).toHaveLength(8);
    });

    it("serves one meter's readings as CSV, raw and bucketed, with the same figures as JSON", async () => {
      const params = { channel: 'active_import', from: '2019-07-01T00:00:00+01:00', to: '2019-07-03T00:00:00+01:00' };
      const raw = await get(`/v1/meters/CAM-b101/readings?${q({ ...params, format: 'csv' })}`);
      expect(raw.statusCode, raw.body).toBe(200);
      expect(raw.headers['content-type']).toMatch(/^text\/csv/);
      const rawLines = raw.body.trimEnd().split('\n');
      expect(rawLines[0]).toBe('meter,channel,unit,multiplier,start,value,quality,source');
      expect(rawLines).toHaveLength(1 + 48);
      const first = [...data.get('CAM-b101')!][0];
      expect(rawLines[1]).toBe(`CAM-b101,active_import,kWh,1.5,2019-07-01T00:00:00+01:00,${Number(first[1])},measured,http`);

      const day = await get(`/v1/meters/CAM-b101/readings?${q({ ...params, interval: 'day', format: 'csv' })}`);
      const json = (await get(`/v1/meters/CAM-b101/readings?${q({ ...params, interval: 'day' })}`)).json();
      expect(day.headers['content-type']).toMatch(/^text\/csv/);
      const dayLines = day.body.trimEnd().split('\n');
      expect(dayLines[0]).toBe('meter,channel,unit,multiplier,start,value,quality,source,count,expected,completeness');
      expect(dayLines.slice(1)).toEqual(json.rows.map((r: { start: string; value: number }) => `CAM-b101,active_import,kWh,1.5,${r.start},${r.value},measured,http,24,24,1`));
      expect((await get(`/v1/meters/CAM-b101/readings?${q({ ...params, format: 'xml' })}`)).statusCode).toBe(400);
    });
  });

  it("defect 10: /v1/completeness gives from/to in the meter's local time, like every other route", async () => {
    const res = await get(`/v1/completeness?${q({ period: '2019-07', meters: 'CAM-b0' })}`);
    expect(res.statusCode, res.body).toBe(200);
    // July's 744 hours expected; the first week's 7 × 24 = 168 stored: 576 missing, completeness 168 / 744 = 0.225806 (to 10⁻⁶).
    expect(res.json().meters[0]).toMatchObject({ meter: 'CAM-b0', from: '2019-07-01T00:00:00+01:00', to: '2019-08-01T00:00:00+01:00', expected: 744, missing: 576, completeness: 0.225806 });
  });

  it('defect 10: a VEE estimate note names the gap issue it fills', async () => {
    // Two hours of 3 July missing: VEE finds the gap (an issue) and fills it by linear sharing.
    const series = building('b0', Date.UTC(2019, 6, 1) - HOUR, Date.UTC(2019, 6, 6) - HOUR);
    const hole = new Set([Date.UTC(2019, 6, 3, 9), Date.UTC(2019, 6, 3, 10)]);
    await post([...series].filter(([ms]) => !hole.has(ms)).map(([ms, v]) => ({ meter: 'CAM-gap', channel: 'active_import', start: new Date(ms).toISOString(), value: Number(v) })));
    const { id } = await t.database.db.selectFrom('meters').select('id').where('external_id', '=', 'CAM-gap').executeTakeFirstOrThrow();
    const run = await runVee(t.database, [{ meterId: id, fromDate: '2019-07-03', toDate: '2019-07-03' }], { nowMs: Date.UTC(2019, 7, 1) });
    expect(run.estimated).toBe(2);

    const issues = (await get(`/v1/validation/issues?${q({ meter: 'CAM-gap', rule: 'gap' })}`)).json();
    const gap = issues.issues;
    expect(gap).toHaveLength(1);
    expect(gap[0]).toMatchObject({ from: '2019-07-03T10:00:00+01:00', to: '2019-07-03T12:00:00+01:00' });
    const edits = await get(`/v1/meters/CAM-gap/edits?${q({ channel: 'active_import', from: '2019-07-03T00:00:00+01:00', to: '2019-07-04T00:00:00+01:00' })}`);
    expect(edits.statusCode, edits.body).toBe(200);
    const notes = edits.json().notes;
    expect(notes.map((n: { start: string; method: string; reasonCode: string; issueId: number | null }) => [n.start, n.method, n.reasonCode, n.issueId])).toEqual([
      ['2019-07-03T10:00:00+01:00', 'linear', 'gap', gap[0].id],
      ['2019-07-03T11:00:00+01:00', 'linear', 'gap', gap[0].id],
    ]);
  });

  it('defect 10: a manual estimate over an open gap notes that gap issue', async () => {
    const series = building('b0', Date.UTC(2019, 6, 1) - HOUR, Date.UTC(2019, 6, 6) - HOUR);
    const hole = [Date.UTC(2019, 6, 3, 9), Date.UTC(2019, 6, 3, 10)];
    await post([...series].filter(([ms]) => !hole.includes(ms)).map(([ms, v]) => ({ meter: 'CAM-gap-edit', channel: 'active_import', start: new Date(ms).toISOString(), value: Number(v) })));
    const { id } = await t.database.db.selectFrom('meters').select('id').where('external_id', '=', 'CAM-gap-edit').executeTakeFirstOrThrow();
    // The gap as VEE records it (one open issue), left for a person to fill.
    const finding = {
      meterId: id,
      channel: channelDef('active_import').code,
      rule: 'gap' as const,
      severity: 'fail' as const,
      fromMs: hole[0],
      toMs: hole[1] + HOUR,
      detail: '2 intervals missing',
      status: 'open' as const,
      resolution: null,
    };
    await storeIssues(t.database, [{ meterId: id, fromMs: Date.UTC(2019, 6, 2, 23), toMs: Date.UTC(2019, 6, 3, 23) }], [finding]);
    const [issue] = (await get(`/v1/validation/issues?${q({ meter: 'CAM-gap-edit' })}`)).json().issues;
    expect(issue).toMatchObject({ rule: 'gap', status: 'open', from: '2019-07-03T10:00:00+01:00', to: '2019-07-03T12:00:00+01:00' });

    const edit = await t.app.inject({
      method: 'POST',
      url: '/v1/meters/CAM-gap-edit/edits',
      headers: t.auth('admin'),
      payload: { channel: 'active_import', from: '2019-07-03T10:00:00+01:00', to: '2019-07-03T12:00:00+01:00', method: 'linear', reasonCode: 'gap-fill', comment: 'filled by hand' },
    });
    expect(edit.statusCode, edit.body).toBe(200);
    expect(edit.json()).toMatchObject({ written: 2, issuesReplaced: 1 });
    const notes = (await get(`/v1/meters/CAM-gap-edit/edits?${q({ channel: 'active_import', from: '2019-07-03T00:00:00+01:00', to: '2019-07-04T00:00:00+01:00' })}`)).json().notes;
    expect(notes.map((n: { start: string; method: string; issueId: number | null }) => [n.start, n.method, n.issueId])).toEqual([
      ['2019-07-03T10:00:00+01:00', 'linear', issue.id],
      ['2019-07-03T11:00:00+01:00', 'linear', issue.id],
    ]);
  });

  it('defect 12: a read time with milliseconds is shown with them and finds its history again', async () => {
    await post([
      { meter: 'REG', channel: 'active_import_register', start: '2026-01-01T02:34:12.003Z', value: 100.5 },
      { meter: 'REG', channel: 'active_import_register', start: '2026-01-01T02:35:13Z', value: 100.75 },
    ]);
    const res = await get(`/v1/meters/REG/readings?${q({ channel: 'active_import_register', from: '2026-01-01T00:00:00Z', to: '2026-01-02T00:00:00Z' })}`);
    expect(res.statusCode, res.body).toBe(200);
    const starts = res.json().rows.map((r: { start: string }) => r.start);
    expect(starts).toEqual(['2026-01-01T05:34:12.003+03:00', '2026-01-01T05:35:13+03:00']);
    for (const [start, value] of [
      [starts[0], 100.5],
      [starts[1], 100.75],
    ] as const) {
      const h = await get(`/v1/meters/REG/readings/history?${q({ channel: 'active_import_register', start })}`);
      expect(h.statusCode, h.body).toBe(200);
      expect(h.json()).toMatchObject({ start, versions: [{ version: 1, value, current: true }] });
    }
  });
});
