import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../models/api-key.js';
import { formatInstant } from '../models/time.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

const MIN = 60_000;
const HOUR = 60 * MIN;
const IST = 'Europe/Istanbul';
const WAW = 'Europe/Warsaw';
/** Local midnight in Istanbul (UTC+3 all year) of a 2026 date. */
const istDay = (month: number, day: number) => Date.UTC(2026, month - 1, day) - 3 * HOUR;

type Row = { meter: string; channel: string; start: string; value: number; quality?: string };

describe.each(FLAVOURS)('readings queries and aggregates (%s)', (flavour) => {
  let t: TestApp;

  const post = async (readings: Row[]) => {
    const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('admin'), payload: { readings } });
    expect(res.statusCode).toBe(200);
    expect(res.json().rejected).toEqual([]);
  };
  const get = (url: string, role: Role = 'viewer') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });
  const q = (params: Record<string, string>) => new URLSearchParams(params).toString();
  const series = async (meter: string, channel: string, from: string, to: string, interval: string) => {
    const res = await get(`/v1/meters/${meter}/readings?${q({ channel, from, to, interval })}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  };
  const aggregate = (params: Record<string, string>, role: Role = 'trader') => get(`/v1/aggregate?${q(params)}`, role);

  beforeAll(async () => {
    t = await testApp(flavour);
    const meters = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [
        { id: 'Q1', timezone: IST, intervalMinutes: 60, multiplier: 2, group: 'grp', portfolio: 'pf' },
        { id: 'Q2', timezone: IST, intervalMinutes: 60, multiplier: 1.5, group: 'grp' },
        { id: 'W15', timezone: WAW, intervalMinutes: 15, group: 'pl', portfolio: 'pf' },
        { id: 'WX', commodity: 'weather', timezone: IST },
      ],
    });
    expect(meters.json()).toMatchObject({ created: 4, rejected: [] });

    // Q1 active_import: 2026-01-01 hour h → h + 1 (day sum 1+…+24 = 300);
    // 2026-01-02 every hour 0.5 except 05:00 missing (23 values, 11.5), 07:00 estimated; 2026-02-01 00:00 → 7.
    const rows: Row[] = [];
    for (let h = 0; h < 24; h++) rows.push({ meter: 'Q1', channel: 'active_import', start: formatInstant(istDay(1, 1) + h * HOUR, IST), value: h + 1 });
    for (let h = 0; h < 24; h++) {
      if (h === 5) continue;
      rows.push({ meter: 'Q1', channel: '1.29.0', start: formatInstant(istDay(1, 2) + h * HOUR, IST), value: 0.5, ...(h === 7 ? { quality: 'estimated' } : {}) });
    }
    rows.push({ meter: 'Q1', channel: 'active_import', start: '2026-02-01T00:00:00+03:00', value: 7 });

    // W15 (Warsaw, 15 min). 2026-03-29 (spring forward, 23 h = 92 quarters): 0.25 each, quarters 10 and 50 missing.
    // 2026-03-30: one value. 2026-10-25 (fall back, 25 h = 100 quarters): 1 each.
    const mar29 = Date.UTC(2026, 2, 28, 23); // 00:00+01:00
    for (let i = 0; i < 92; i++) {
      if (i !== 10 && i !== 50) rows.push({ meter: 'W15', channel: 'active_import', start: formatInstant(mar29 + i * 15 * MIN, WAW), value: 0.25 });
    }
    rows.push({ meter: 'W15', channel: 'active_import', start: '2026-03-30T00:00:00+02:00', value: 1 });
    const oct25 = Date.UTC(2026, 9, 24, 22); // 00:00+02:00
    for (let i = 0; i < 100; i++) rows.push({ meter: 'W15', channel: 'active_import', start: formatInstant(oct25 + i * 15 * MIN, WAW), value: 1 });

    // Register: sent newest first; the day value is the last reading by time, not by arrival.
    rows.push(
      { meter: 'Q1', channel: '1.8.0', start: '2026-01-02T01:00:00+03:00', value: 107 },
      { meter: 'Q1', channel: 'active_import_register', start: '2026-01-01T17:42:00+03:00', value: 105.5 },
      { meter: 'Q1', channel: 'active_import_register', start: '2026-01-01T08:13:00+03:00', value: 100 },
    );
    // Temperature: 10, 14, 21 → day average 15.
    for (const [h, v] of [
      [0, 10],
      [6, 14],
      [12, 21],
    ])
      rows.push({ meter: 'WX', channel: 'temperature', start: formatInstant(istDay(1, 1) + h * HOUR, IST), value: v });

    // Aggregate data, active_export on 2026-02-10 (Istanbul): Q1 (×2) 1 every hour; Q2 (×1.5) 2 for hours 0–11.
    // Day: 24·1·2 + 12·2·1.5 = 48 + 36 = 84.
    for (let h = 0; h < 24; h++) {
      rows.push({ meter: 'Q1', channel: 'active_export', start: formatInstant(istDay(2, 10) + h * HOUR, IST), value: 1 });
      if (h < 12) rows.push({ meter: 'Q2', channel: 'active_export', start: formatInstant(istDay(2, 10) + h * HOUR, IST), value: 2 });
    }
    await post(rows);
  });
  afterAll(() => t?.close());

  describe('GET /v1/meters/:id/readings', () => {
    it('returns raw values in local time, as recorded, with the multiplier alongside', async () => {
      const s = await series('Q1', '1.29.0', '2026-01-01T00:00:00+03:00', '2026-01-01T00:00:00Z', 'raw');
      expect(s).toMatchObject({ meter: 'Q1', channel: 'active_import', unit: 'kWh', interval: 'raw', timezone: IST, multiplier: 2 });
      expect(s.rows).toEqual([
        { start: '2026-01-01T00:00:00+03:00', value: 1, quality: 'measured', source: 'http' },
        { start: '2026-01-01T01:00:00+03:00', value: 2, quality: 'measured', source: 'http' },
        { start: '2026-01-01T02:00:00+03:00', value: 3, quality: 'measured', source: 'http' },
      ]);
      // to is exclusive, from inclusive
      const one = await series('Q1', 'active_import', '2026-01-01T01:00:00+03:00', '2026-01-01T02:00:00+03:00', 'raw');
      expect(one.rows.map((r: { value: number }) => r.value)).toEqual([2]);
    });

    it('sums interval channels by local hour, day and month with count, expected and completeness', async () => {
      const day = await series('Q1', 'active_import', '2026-01-01T00:00:00+03:00', '2026-01-03T00:00:00+03:00', 'day');
      // completeness = count / expected to 10⁻⁶ (docs/api.md, Precision): 23 / 24 → 0.958333.
      expect(day.rows).toEqual([
        { start: '2026-01-01T00:00:00+03:00', value: 300, quality: 'measured', source: 'http', count: 24, expected: 24, completeness: 1 },
        { start: '2026-01-02T00:00:00+03:00', value: 11.5, quality: 'mixed', source: 'http', count: 23, expected: 24, completeness: 0.958333 },
      ]);

      const hour = await series('Q1', 'active_import', '2026-01-02T00:00:00+03:00', '2026-01-03T00:00:00+03:00', 'hour');
      expect(hour.rows).toHaveLength(23); // only buckets with data: 05:00 is absent
      expect(hour.rows[0]).toEqual({ start: '2026-01-02T00:00:00+03:00', value: 0.5, quality: 'measured', source: 'http', count: 1, expected: 1, completeness: 1 });
      expect(hour.rows.map((r: { start: string }) => r.start.slice(11, 13))).not.toContain('05');
      expect(hour.rows.find((r: { start: string }) => r.start === '2026-01-02T07:00:00+03:00').quality).toBe('estimated');

      // Istanbul local months: the 00:00+03:00 value of Jan 1 (Dec 31 in UTC) belongs to January.
      const month = await series('Q1', 'active_import', '2026-01-01T00:00:00+03:00', '2026-03-01T00:00:00+03:00', 'month');
      expect(month.rows).toEqual([
        { start: '2026-01-01T00:00:00+03:00', value: 311.5, quality: 'mixed', source: 'http', count: 47, expected: 31 * 24, completeness: 0.063172 },
        { start: '2026-02-01T00:00:00+03:00', value: 7, quality: 'measured', source: 'http', count: 1, expected: 28 * 24, completeness: 0.001488 },
      ]);
    });

    it('counts a Warsaw DST day as 23 or 25 local hours (92 / 100 quarter-hours)', async () => {
      const spring = await series('W15', 'active_import', '2026-03-29T00:00:00+01:00', '2026-03-31T00:00:00+02:00', 'day');
      expect(spring.rows).toEqual([
        { start: '2026-03-29T00:00:00+01:00', value: 22.5, quality: 'measured', source: 'http', count: 90, expected: 92, completeness: 0.978261 },
        { start: '2026-03-30T00:00:00+02:00', value: 1, quality: 'measured', source: 'http', count: 1, expected: 96, completeness: 0.010417 },
      ]);
      const autumn = await series('W15', 'active_import', '2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00', 'day');
      expect(autumn.rows).toEqual([{ start: '2026-10-25T00:00:00+02:00', value: 100, quality: 'measured', source: 'http', count: 100, expected: 100, completeness: 1 }]);

      // The repeated 02:00 stays two one-hour buckets; the skipped 02:00 of spring does not exist.
      const autumnHours = await series('W15', 'active_import', '2026-10-25T00:00:00+02:00', '2026-10-26T00:00:00+01:00', 'hour');
      expect(autumnHours.rows).toHaveLength(25);
      expect(autumnHours.rows.slice(1, 5).map((r: { start: string }) => r.start)).toEqual([
        '2026-10-25T01:00:00+02:00',
        '2026-10-25T02:00:00+02:00',
        '2026-10-25T02:00:00+01:00',
        '2026-10-25T03:00:00+01:00',
      ]);
      expect(autumnHours.rows.every((r: { count: number; expected: number; value: number }) => r.count === 4 && r.expected === 4 && r.value === 4)).toBe(true);
      const springHours = await series('W15', 'active_import', '2026-03-29T00:00:00+01:00', '2026-03-30T00:00:00+02:00', 'hour');
      expect(springHours.rows.map((r: { start: string }) => r.start).slice(0, 3)).toEqual(['2026-03-29T00:00:00+01:00', '2026-03-29T01:00:00+01:00', '2026-03-29T03:00:00+02:00']);
      expect(springHours.rows[2]).toMatchObject({ count: 3, expected: 4, value: 0.75 }); // quarter 10 (01:30Z) is 03:30+02:00, missing

      // March 2026 in Warsaw: 31 days minus the lost hour = 743 h = 2972 quarters.
      const march = await series('W15', 'active_import', '2026-03-01T00:00:00+01:00', '2026-04-01T00:00:00+02:00', 'month');
      expect(march.rows).toEqual([{ start: '2026-03-01T00:00:00+01:00', value: 23.5, quality: 'measured', source: 'http', count: 91, expected: 2972, completeness: 0.030619 }]);
    });

    it('takes the last value of a register channel and averages an instantaneous one', async () => {
      const reg = await series('Q1', 'active_import_register', '2026-01-01T00:00:00+03:00', '2026-01-03T00:00:00+03:00', 'day');
      expect(reg).toMatchObject({ channel: 'active_import_register', unit: 'kWh' });
      expect(reg.rows).toEqual([
        { start: '2026-01-01T00:00:00+03:00', value: 105.5, quality: 'measured', source: 'http', count: 2, expected: null, completeness: null },
        { start: '2026-01-02T00:00:00+03:00', value: 107, quality: 'measured', source: 'http', count: 1, expected: null, completeness: null },
      ]);
      const rawReg = await series('Q1', '1.8.0', '2026-01-01T00:00:00+03:00', '2026-01-03T00:00:00+03:00', 'raw');
      expect(rawReg.rows.map((r: { start: string }) => r.start)).toEqual(['2026-01-01T08:13:00+03:00', '2026-01-01T17:42:00+03:00', '2026-01-02T01:00:00+03:00']);

      const temp = await series('WX', 'temperature', '2026-01-01T00:00:00+03:00', '2026-01-02T00:00:00+03:00', 'day');
      expect(temp).toMatchObject({ unit: '°C', channel: 'temperature' });
      expect(temp.rows).toEqual([{ start: '2026-01-01T00:00:00+03:00', value: 15, quality: 'measured', source: 'http', count: 3, expected: null, completeness: null }]);
    });

    it('answers bad requests with 400/404 and a reason', async () => {
      const base = { channel: 'active_import', from: '2026-01-01T00:00:00+03:00', to: '2026-01-02T00:00:00+03:00', interval: 'raw' };
      const cases: [Record<string, string>, number, RegExp, string][] = [
        [{ ...base, from: '2026-01-01T00:00:00' }, 400, /from: .*no UTC offset/, 'MDM_ERR_VALIDATION'],
        [{ ...base, to: 'tomorrow' }, 400, /to: .*not ISO-8601/, 'MDM_ERR_VALIDATION'],
        [{ ...base, to: base.from }, 400, /must be before to/, 'MDM_ERR_RANGE_INVERTED'],
        [{ ...base, to: '2027-02-06T00:00:00+03:00' }, 400, /spans 401 days; at interval=raw the limit is 400 days/, 'MDM_ERR_RANGE_TOO_LONG'],
        [{ ...base, channel: 'power' }, 400, /unknown channel "power": known channels: active_import/, 'MDM_ERR_UNKNOWN_CHANNEL'],
        [{ ...base, interval: 'week' }, 400, /interval/, 'MDM_ERR_VALIDATION'],
        [{ from: base.from, to: base.to }, 400, /channel/, 'MDM_ERR_VALIDATION'],
      ];
      for (const [params, status, message, code] of cases) {
        const res = await get(`/v1/meters/Q1/readings?${q(params)}`);
        expect(res.statusCode, JSON.stringify(params)).toBe(status);
        expect(res.json().message).toMatch(message);
        expect(res.json().error, JSON.stringify(params)).toBe(code);
      }
      const ghost = await get(`/v1/meters/GHOST/readings?${q(base)}`);
      expect(ghost.statusCode).toBe(404);
      expect(ghost.json()).toMatchObject({ error: 'MDM_ERR_UNKNOWN_METER', message: expect.stringMatching(/"GHOST" is not registered/) });
      // Ten years by day are fine.
      expect((await get(`/v1/meters/Q1/readings?${q({ ...base, to: '2035-12-31T00:00:00+03:00', interval: 'month' })}`)).statusCode).toBe(200);
    });
  });

  describe('GET /v1/aggregate', () => {
    const feb10 = { channel: 'active_export', from: '2026-02-10T00:00:00+03:00', to: '2026-02-11T00:00:00+03:00' };

    it('sums a group with each multiplier applied, with meters and intervals behind each value', async () => {
      const res = await aggregate({ group: 'grp', ...feb10, interval: 'day' });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json()).toEqual({
        selector: { group: 'grp' },
        channel: 'active_export',
        unit: 'kWh',
        aggregation: 'sum',
        interval: 'day',
        tz: IST,
        meterCount: 2,
        rows: [{ start: '2026-02-10T00:00:00+03:00', value: 84, meters: 2, intervals: 36 }],
      });

      const hours = (await aggregate({ group: 'grp', ...feb10, interval: 'hour' })).json().rows;
      expect(hours).toHaveLength(24);
      expect(hours[0]).toEqual({ start: '2026-02-10T00:00:00+03:00', value: 1 * 2 + 2 * 1.5, meters: 2, intervals: 2 });
      expect(hours[12]).toEqual({ start: '2026-02-10T12:00:00+03:00', value: 2, meters: 1, intervals: 1 });
    });

    it('selects listed meters, buckets in another tz, and 404s unknown ones', async () => {
      const both = await aggregate({ meters: 'Q1, Q2,Q1', ...feb10, interval: 'day' });
      expect(both.json()).toMatchObject({ selector: { meters: ['Q1', 'Q2'] }, meterCount: 2, rows: [{ value: 84, meters: 2, intervals: 36 }] });
      const one = await aggregate({ meters: 'Q1', ...feb10, interval: 'day' });
      expect(one.json().rows).toEqual([{ start: '2026-02-10T00:00:00+03:00', value: 48, meters: 1, intervals: 24 }]);

      // UTC days: Istanbul 00:00–02:59 falls on Feb 9. Feb 9: Q1 3·2 + Q2 3·2·1.5 = 15; Feb 10: Q1 21·2 + Q2 9·3 = 69.
      const utc = await aggregate({ group: 'grp', ...feb10, interval: 'day', tz: 'UTC' });
      expect(utc.json()).toMatchObject({
        tz: 'UTC',
        rows: [
          { start: '2026-02-09T00:00:00Z', value: 15, meters: 2, intervals: 6 },
          { start: '2026-02-10T00:00:00Z', value: 69, meters: 2, intervals: 30 },
        ],
      });

      const unknown = await aggregate({ meters: 'Q1,NOPE,ZZZ', ...feb10, interval: 'day' });
      expect(unknown.statusCode).toBe(404);
      expect(unknown.json()).toMatchObject({ error: 'MDM_ERR_UNKNOWN_METER', details: { unknownMeters: ['NOPE', 'ZZZ'] } });
      expect(unknown.json().message).toMatch(/NOPE.*ZZZ/);
      const emptyGroup = await aggregate({ group: 'nobody', ...feb10, interval: 'day' });
      expect(emptyGroup.statusCode).toBe(404);
      expect(emptyGroup.json().error).toBe('MDM_ERR_UNKNOWN_GROUP');
    });

    it('requires tz when the meters are in different zones', async () => {
      const mixed = await aggregate({ portfolio: 'pf', ...feb10, interval: 'day' });
      expect(mixed.statusCode).toBe(400);
      expect(mixed.json()).toMatchObject({ error: 'MDM_ERR_AMBIGUOUS_TIME_ZONE', details: { timezones: [IST, WAW] } });
      expect(mixed.json().message).toMatch(/Europe\/Istanbul, Europe\/Warsaw.*tz=/);
      const withTz = await aggregate({ portfolio: 'pf', ...feb10, interval: 'day', tz: IST });
      expect(withTz.json()).toMatchObject({ tz: IST, meterCount: 2, rows: [{ value: 48, meters: 1, intervals: 24 }] });
    });

    it('refuses bad selectors, channels, zones and ranges with 400, and the wrong role with 403', async () => {
      const cases: [Record<string, string>, RegExp][] = [
        [{ group: 'grp', portfolio: 'pf', ...feb10, interval: 'day' }, /exactly one selector .*got portfolio, group/],
        [{ ...feb10, interval: 'day' }, /exactly one selector .*got none/],
        [{ meters: ' , ', ...feb10, interval: 'day' }, /lists no meter id/],
        [{ group: 'grp', ...feb10, channel: '7-0:3.0.0', interval: 'day' }, /volume_register is a register channel aggregated by its last value/],
        [{ group: 'grp', ...feb10, channel: '1.8.0', interval: 'day' }, /active_import_register is a register channel/],
        [{ group: 'grp', ...feb10, interval: 'day', tz: 'Mars/Olympus' }, /unknown time zone "Mars\/Olympus"/],
        [{ group: 'grp', ...feb10, from: '2026-02-10', interval: 'day' }, /from: .*no UTC offset/],
        [{ group: 'grp', ...feb10, interval: 'raw' }, /interval/],
      ];
      for (const [params, message] of cases) {
        const res = await aggregate(params);
        expect(res.statusCode, JSON.stringify(params)).toBe(400);
        expect(res.json().message).toMatch(message);
      }
      const listed = await aggregate({ meters: Array.from({ length: 5001 }, (_, i) => `M${i}`).join(','), ...feb10, interval: 'day' });
      expect([listed.statusCode, listed.json().error]).toEqual([400, 'MDM_ERR_TOO_MANY_METERS']);
      expect(listed.json().message).toMatch(/lists 5001 ids; the limit is 5000: put the meters in a group or portfolio/);
      expect((await aggregate({ group: 'grp', ...feb10, interval: 'day' }, 'gateway')).statusCode).toBe(403);
      expect((await aggregate({ group: 'grp', ...feb10, interval: 'day' }, 'billing')).statusCode).toBe(200);
      expect((await t.app.inject({ method: 'GET', url: `/v1/aggregate?${q({ group: 'grp', ...feb10, interval: 'day' })}` })).statusCode).toBe(401);
    });
  });
});
