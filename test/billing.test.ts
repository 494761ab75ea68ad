import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localMinuteOfDay, localMonthRange } from '../models/calendar.js';
import type { Role } from '../models/api-key.js';
import { formatInstant } from '../models/time.js';
import { createBillingComponent } from '../billing/billing.component.js';
import { maintainBillingRollup } from '../sql/billing-rollup.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

const IST = 'Europe/Istanbul';
const WAW = 'Europe/Warsaw';

interface Row {
  meter: string;
  channel: string;
  start: string;
  value: number;
  quality?: string;
}

/** One row per interval of a local month, value by local minute of day. */
function monthRows(meter: string, channel: string, period: string, tz: string, minutes: number, value: (localMinute: number, ms: number) => number | undefined): Row[] {
  const { fromMs, toMs } = localMonthRange(period, tz);
  const out: Row[] = [];
  for (let ms = fromMs; ms < toMs; ms += minutes * 60_000) {
    const v = value(localMinuteOfDay(ms, tz), ms);
    if (v !== undefined) out.push({ meter, channel, start: formatInstant(ms, tz), value: v });
  }
  return out;
}

/**
 * Fixture (hand-computed figures in the tests):
 * - TT-1: Istanbul (UTC+3), hourly, multiplier 10, three-time, January 2026 complete (744 h).
 *   active import 1 kWh in T1 hours (06–17), 2 in T2 (17–22), 0.5 in T3 (22–06): a day is
 *   11 + 10 + 4 = 25 kWh; one spike of 7.5 at 2026-01-15 18:00 (T2, +5.5);
 *   the six T3 hours 00–06 of 2026-01-20 estimated (0.5 each), 2026-01-21 12:00 edited (1);
 *   reactive inductive 0.25 every hour, capacitive 0.1 on the 24 hours of January 1st.
 * - Istanbul, 15 min, multiplier 2, single rate: four quarter-hours on 2026-01-10 only.
 * - WAW-1: Warsaw, hourly, three-time, 1 kWh every hour of March 2026 (743 h: DST spring forward).
 * - ISS-1: Istanbul, hourly, single, January complete (1 kWh), with an open fail issue and an open sum_check warning.
 * - OUT-1: supply ended 2025-12-31.
 */
const touValue = (m: number) => (m >= 360 && m < 1020 ? 1 : m >= 1020 && m < 1320 ? 2 : 0.5);
const SPIKE = '2026-01-15T18:00:00+03:00';

describe.each(FLAVOURS)('billing API (%s)', (flavour) => {
  let t: TestApp;
  const get = (url: string, role: Role = 'billing') => t.app.inject({ method: 'GET', url, headers: t.auth(role) });
  const post = async (rows: Row[]) => {
    for (let i = 0; i < rows.length; i += 5000) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('admin'), payload: { readings: rows.slice(i, i + 5000) } });
      expect(res.statusCode).toBe(200);
      expect(res.json().rejected).toEqual([]);
    }
  };
  const consumption = async (query: string) => {
    const res = await get(`/v1/billing/consumption?${query}`);
    expect(res.statusCode, res.body).toBe(200);
    return res.json() as { dataVersion: string; meters: Record<string, unknown>[] };
  };
  const meterOf = (body: { meters: Record<string, unknown>[] }, id: string) => body.meters.find((m) => m.meter === id)!;
  const count = async (table: 'billing_daily' | 'billing_dirty' | 'billing_rollup_meters') =>
    Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(t.database.db)).rows[0].n);

  beforeAll(async () => {
    t = await testApp(flavour);
    const res = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [
        { id: 'TT-1', timezone: IST, intervalMinutes: 60, multiplier: 10, tariff: 'three-time', group: 'g1' },
        { id: 'Q-15', timezone: IST, intervalMinutes: 15, multiplier: 2, group: 'g1' },
        { id: 'WAW-1', timezone: WAW, intervalMinutes: 60, tariff: 'three-time', group: 'pl' },
        { id: 'ISS-1', timezone: IST, intervalMinutes: 60, group: 'g1' },
        { id: 'OUT-1', timezone: IST, intervalMinutes: 60, supplyStart: '2025-01-01', supplyEnd: '2025-12-31', group: 'g1' },
      ],
    });
    expect(res.json()).toMatchObject({ created: 5, rejected: [] });
    await post([
      ...monthRows('TT-1', 'active_import', '2026-01', IST, 60, (m, ms) => (formatInstant(ms, IST) === SPIKE ? 7.5 : touValue(m))),
      ...monthRows('TT-1', 'reactive_inductive', '2026-01', IST, 60, () => 0.25),
      ...monthRows('TT-1', 'reactive_capacitive', '2026-01', IST, 60, (_, ms) => (formatInstant(ms, IST) < '2026-01-02' ? 0.1 : undefined)),
      { meter: 'Q-15', channel: 'active_import', start: '2026-01-10T00:00:00+03:00', value: 0.5 },
      { meter: 'Q-15', channel: 'active_import', start: '2026-01-10T00:15:00+03:00', value: 1.25, quality: 'estimated' },
      { meter: 'Q-15', channel: 'active_import', start: '2026-01-10T00:30:00+03:00', value: 0.75 },
      { meter: 'Q-15', channel: 'active_import', start: '2026-01-10T00:45:00+03:00', value: 0.5 },
      ...monthRows('WAW-1', 'active_import', '2026-03', WAW, 60, () => 1),
      ...monthRows('ISS-1', 'active_import', '2026-01', IST, 60, () => 1),
    ]);
    // Estimated and edited versions, as VEE / an operator would store them.
    await post([
      ...[0, 1, 2, 3, 4, 5].map((h) => ({ meter: 'TT-1', channel: 'active_import', start: `2026-01-20T0${h}:00:00+03:00`, value: 0.5, quality: 'estimated' })),
      { meter: 'TT-1', channel: 'active_import', start: '2026-01-21T12:00:00+03:00', value: 1, quality: 'edited' },
    ]);
    const iss = await t.database.db.selectFrom('meters').select('id').where('external_id', '=', 'ISS-1').executeTakeFirstOrThrow();
    const from = new Date('2026-01-12T00:00:00+03:00');
    const to = new Date('2026-01-13T00:00:00+03:00');
    await sql`
      INSERT INTO validation_issues (meter_id, channel, rule, severity, from_ts, to_ts, detail) VALUES
        (${iss.id}, 1, 'spike', 'fail', ${from}, ${to}, 'test spike'),
        (${iss.id}, 1, 'sum_check', 'warn', ${from}, ${to}, 'test sum check'),
        (${iss.id}, 1, 'spike', 'fail', ${new Date('2026-02-03T00:00:00Z')}, ${new Date('2026-02-04T00:00:00Z')}, 'outside the period')`.execute(t.database.db);
  });
  afterAll(() => t?.close());

  it('computes the figures of a three-time Istanbul meter (hand-computed), the same from the readings and from the daily rollup', async () => {
    // Nothing rolled up yet: every figure comes from the readings.
    expect(await count('billing_rollup_meters')).toBe(0);
    const raw = await consumption('period=2026-01&meters=TT-1');
    expect(await maintainBillingRollup(t.database)).toEqual({ adopted: 5, refreshed: 31 + 1 + 31 + 31 }); // TT-1, Q-15, WAW-1 (March), ISS-1 days
    expect(await count('billing_dirty')).toBe(0);
    expect(await count('billing_daily')).toBe(31 + 31 + 1 + 1 + 31 + 31); // TT-1: import, inductive, capacitive (January 1st only); Q-15, WAW-1, ISS-1
    const body = await consumption('period=2026-01&meters=TT-1');
    expect(body).toEqual(raw);
    expect(body.meters).toHaveLength(1);
    const f = meterOf(body, 'TT-1');
    // Per day T1 11 × 1, T2 5 × 2, T3 8 × 0.5; × 31 days; spike +5.5 in T2; × multiplier 10.
    // The estimated night hours and the edited noon hour keep their values, so the sums do not move.
    expect(f).toEqual({
      meter: 'TT-1',
      activeImport: 7805, // (25 × 31 + 5.5) × 10
      activeExport: 0,
      reactiveInductive: 1860, // 744 × 0.25 × 10
      reactiveCapacitive: 24, // 24 × 0.1 × 10
      inductiveRatio: 0.238309, // 186 / 780.5
      capacitiveRatio: 0.003075, // 2.4 / 780.5
      tou: { T1: 3410, T2: 3155, T3: 1240 }, // 341 × 10, (310 + 5.5) × 10, 124 × 10
      maxDemand: { kw: 75, at: SPIKE }, // 7.5 kWh × 60 / 60 × 10
      estimatedShare: 0.005125, // (6 × 0.5 + 1) / 780.5
      completeness: 1,
      billable: true,
      reasons: [],
      dataVersion: body.dataVersion,
    });
    expect(Object.keys(f)).toEqual([
      'meter',
      'activeImport',
      'activeExport',
      'reactiveInductive',
      'reactiveCapacitive',
      'inductiveRatio',
      'capacitiveRatio',
      'tou',
      'maxDemand',
      'estimatedShare',
      'completeness',
      'billable',
      'reasons',
      'dataVersion',
    ]);
    expect(Date.parse(body.dataVersion)).toBeGreaterThan(Date.now() - 600_000);
  });

  it('gives max demand of a 15-minute meter with its multiplier, the estimated share and no tou for single rate', async () => {
    const f = meterOf(await consumption('period=2026-01&group=g1'), 'Q-15');
    expect(f).toMatchObject({
      activeImport: 6, // (0.5 + 1.25 + 0.75 + 0.5) × 2
      maxDemand: { kw: 10, at: '2026-01-10T00:15:00+03:00' }, // 1.25 kWh × 60 / 15 × 2
      estimatedShare: 0.416667, // 1.25 / 3
      completeness: 0.001344, // 4 / (31 × 96)
      inductiveRatio: 0,
      billable: false,
    });
    expect(f).not.toHaveProperty('tou');
    expect((f.reasons as { code: string }[]).map((r) => r.code)).toEqual(['missing_data', 'no_recent_data']);
    expect((f.reasons as { message: string }[])[0].message).toMatch(/^2972 of 2976 intervals missing/);
  });

  it('buckets a DST month in Europe/Warsaw by local hour: 743 intervals in March 2026', async () => {
    const f = meterOf(await consumption('period=2026-03&meters=WAW-1'), 'WAW-1');
    // 31 days × 11 T1 hours, × 5 T2 hours; T3 31 × 8 − 1 (02:00 of March 29 does not exist).
    expect(f).toMatchObject({ activeImport: 743, tou: { T1: 341, T2: 155, T3: 247 }, completeness: 1, billable: true });
    const c = await get('/v1/completeness?period=2026-03&meters=WAW-1', 'viewer');
    expect(c.statusCode).toBe(200);
    expect(c.json().meters).toEqual([
      {
        meter: 'WAW-1',
        from: '2026-03-01T00:00:00+01:00',
        to: '2026-04-01T00:00:00+02:00',
        expected: 743,
        measured: 743,
        suspect: 0,
        estimated: 0,
        edited: 0,
        missing: 0,
        completeness: 1,
        openFailIssues: 0,
      },
    ]);
  });

  it('counts completeness per meter of a group, with open fail issues inside the period only', async () => {
    const c = await get('/v1/completeness?period=2026-01&group=g1', 'viewer');
    expect(c.statusCode).toBe(200);
    const byMeter = Object.fromEntries((c.json().meters as { meter: string }[]).map(({ meter, ...rest }) => [meter, rest]));
    expect(Object.keys(byMeter)).toEqual(['ISS-1', 'OUT-1', 'Q-15', 'TT-1']);
    expect(byMeter['TT-1']).toMatchObject({ expected: 744, measured: 737, estimated: 6, edited: 1, missing: 0, completeness: 1, openFailIssues: 0 });
    expect(byMeter['Q-15']).toMatchObject({ expected: 2976, measured: 3, estimated: 1, edited: 0, missing: 2972, openFailIssues: 0 });
    expect(byMeter['ISS-1']).toMatchObject({ expected: 744, measured: 744, missing: 0, openFailIssues: 1 });
    expect(byMeter['OUT-1']).toEqual({ from: null, to: null, expected: 0, measured: 0, suspect: 0, estimated: 0, edited: 0, missing: 0, completeness: null, openFailIssues: 0 });
  });

  it('lists the meters that are not billable and why', async () => {
    const res = await get('/v1/billing/readiness?period=2026-01');
    expect(res.statusCode).toBe(200);
    const r = res.json();
    expect(r).toMatchObject({ period: '2026-01', meters: 5, billable: 1, source: 'computed' });
    const reasons = Object.fromEntries((r.notBillable as { meter: string; reasons: { code: string }[] }[]).map((m) => [m.meter, m.reasons.map((x) => x.code)]));
    expect(reasons).toEqual({
      'ISS-1': ['open_fail_issues', 'register_mismatch'],
      'OUT-1': ['outside_supply'],
      'Q-15': ['missing_data', 'no_recent_data'],
      'WAW-1': ['missing_data', 'no_recent_data'], // no January data at all
    });
    // Served from the stored run while nothing changed.
    const again = await get('/v1/billing/readiness?period=2026-01');
    expect(again.json()).toEqual({ ...r, source: 'stored' });
  });

  it('reads readings and figures as of a data version, after a later correction', async () => {
    const before = await consumption('period=2026-01&meters=TT-1');
    await post([{ meter: 'TT-1', channel: 'active_import', start: '2026-01-05T10:00:00+03:00', value: 3, quality: 'edited' }]);
    expect(await count('billing_dirty')).toBe(1); // 2026-01-05 is read raw until maintenance
    const after = await consumption('period=2026-01&meters=TT-1');
    expect(after.dataVersion > before.dataVersion).toBe(true);
    const asOfQuery = `period=2026-01&meters=TT-1&asOf=${encodeURIComponent(before.dataVersion)}`;
    const asOfDirty = await consumption(asOfQuery); // 2026-01-05 dirty: read as of then from readings and history
    await maintainBillingRollup(t.database);
    expect(await consumption('period=2026-01&meters=TT-1')).toEqual(after);
    expect(meterOf(after, 'TT-1')).toMatchObject({ activeImport: 7825, tou: { T1: 3430, T2: 3155, T3: 1240 } }); // +2 kWh × 10 in T1

    // Recomputed, the rollup row of 2026-01-05 is newer than asOf: still read as of then; the other days from the rollup.
    const asOf = await consumption(asOfQuery);
    expect(asOf.meters).toEqual(before.meters);
    expect(asOf.dataVersion).toBe(before.dataVersion);
    expect(asOfDirty).toEqual(asOf);

    const url = (extra: string) =>
      `/v1/meters/TT-1/readings?channel=active_import&from=${encodeURIComponent('2026-01-05T10:00:00+03:00')}&to=${encodeURIComponent('2026-01-05T11:00:00+03:00')}${extra}`;
    const now = await get(url(''), 'viewer');
    const then = await get(url(`&asOf=${encodeURIComponent(before.dataVersion)}`), 'viewer');
    expect(now.json().rows).toEqual([{ start: '2026-01-05T10:00:00+03:00', value: 3, quality: 'edited', source: 'http' }]);
    expect(then.json().rows).toEqual([{ start: '2026-01-05T10:00:00+03:00', value: 1, quality: 'measured', source: 'http' }]);
    const day = await get(
      `/v1/meters/TT-1/readings?channel=active_import&interval=day&from=${encodeURIComponent('2026-01-05T00:00:00+03:00')}&to=${encodeURIComponent('2026-01-06T00:00:00+03:00')}&asOf=${encodeURIComponent(before.dataVersion)}`,
      'viewer',
    );
    expect(day.json().rows).toEqual([{ start: '2026-01-05T00:00:00+03:00', value: 25, quality: 'measured', source: 'http', count: 24, expected: 24, completeness: 1 }]);
    const beforeAnyData = await get(url('&asOf=2020-01-01T00:00:00Z'), 'viewer');
    expect(beforeAnyData.json().rows).toEqual([]);
    const bad = await get(url('&asOf=yesterday'), 'viewer');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/^asOf: /);
  });

  it('closes a period once (409 on the second close) and reports later corrections', async () => {
    const close = await t.app.inject({ method: 'POST', url: '/v1/billing/periods/2026-01/close', headers: t.auth('admin') });
    expect(close.statusCode, close.body).toBe(201);
    expect(close.json()).toMatchObject({ period: '2026-01', closedBy: 'test-admin', meters: 5, billable: 1 });
    const second = await t.app.inject({ method: 'POST', url: '/v1/billing/periods/2026-01/close', headers: t.auth('admin') });
    expect(second.statusCode).toBe(409);
    expect(second.json().error).toBe('MDM_ERR_PERIOD_CLOSED');

    const none = await get('/v1/billing/periods/2026-01/corrections');
    expect(none.statusCode).toBe(200);
    expect(none.json().meters).toEqual([]);

    // A late correction: 2026-01-15 18:00 drops from 7.5 to 2 (T2), so max demand moves too.
    await post([{ meter: 'TT-1', channel: 'active_import', start: SPIKE, value: 2, quality: 'edited' }]);
    const res = await get('/v1/billing/periods/2026-01/corrections');
    const body = res.json();
    expect(body.meters.map((m: { meter: string }) => m.meter)).toEqual(['TT-1']);
    const changes = body.meters[0].changes;
    expect(changes.activeImport).toEqual({ closed: 7825, current: 7770, delta: -55 });
    expect(changes['tou.T2']).toEqual({ closed: 3155, current: 3100, delta: -55 });
    expect(changes['tou.T1']).toBeUndefined();
    // New maximum: the 3 kWh edited into 2026-01-05 10:00 by the previous test.
    expect(changes['maxDemand.kw']).toEqual({ closed: 75, current: 30, delta: -45 });
    expect(changes['maxDemand.at']).toEqual({ closed: SPIKE, current: '2026-01-05T10:00:00+03:00' });
    expect(body.closedDataVersion < body.dataVersion).toBe(true);

    const open = await get('/v1/billing/periods/2026-02/corrections');
    expect(open.statusCode).toBe(404);
    expect(open.json().error).toBe('MDM_ERR_PERIOD_NOT_CLOSED');
    const unfinished = await t.app.inject({ method: 'POST', url: `/v1/billing/periods/2099-01/close`, headers: t.auth('admin') });
    expect(unfinished.statusCode).toBe(422);
    expect(unfinished.json().error).toBe('MDM_ERR_PERIOD_NOT_ENDED');
  });

  it('serves CSV', async () => {
    const res = await get('/v1/billing/consumption?period=2026-01&meters=TT-1,Q-15&format=csv');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/csv/);
    const [head, q15, tt1, end] = res.body.split('\r\n');
    expect(head).toBe(
      'meter,activeImport,activeExport,reactiveInductive,reactiveCapacitive,inductiveRatio,capacitiveRatio,T1,T2,T3,maxDemandKw,maxDemandAt,estimatedShare,completeness,billable,reasons,dataVersion',
    );
    expect(q15).toMatch(/^Q-15,6,0,0,0,0,0,,,,10,2026-01-10T00:15:00\+03:00,0\.416667,0\.001344,false,missing_data;no_recent_data,\d{4}-/);
    expect(tt1).toMatch(/^TT-1,7770,0,1860,24,0\.239382,0\.003089,3430,3100,1240,30,2026-01-05T10:00:00\+03:00,/);
    expect(end).toBe('');

    // For Turkish Excel (locale=tr: ";", decimal comma, a BOM) and as a workbook (issue 17): the same rows and figures
    const tr = await get('/v1/billing/consumption?period=2026-01&meters=TT-1,Q-15&format=csv&locale=tr');
    const [trHead, , trTt1] = tr.body.split(/\r?\n/);
    expect(trHead).toBe(`\uFEFF${head.replaceAll(',', ';')}`);
    expect(trTt1).toMatch(/^TT-1;7770;0;1860;24;0,239382;0,003089;3430;3100;1240;30;2026-01-05T10:00:00\+03:00;/);
    const xlsx = await t.app.inject({ method: 'GET', url: '/v1/billing/consumption?period=2026-01&meters=TT-1,Q-15&format=xlsx', headers: t.auth('billing') });
    expect(xlsx.statusCode).toBe(200);
    expect(xlsx.headers['content-disposition']).toBe('attachment; filename="consumption-2026-01.xlsx"');
    const { default: ExcelJS } = await import('exceljs');
    const wb = new ExcelJS.Workbook();
    await wb.xlsx.load(xlsx.rawPayload as unknown as ArrayBuffer);
    const sheet = wb.worksheets[0];
    expect((sheet.getRow(1).values as unknown[]).slice(1)).toEqual(head.split(','));
    expect((sheet.getRow(3).values as unknown[]).slice(1, 8)).toEqual(['TT-1', 7770, 0, 1860, 24, 0.239382, 0.003089]);
  });

  it('applies a TOU schedule from its effective date on', async () => {
    const dirtyBefore = await count('billing_dirty');
    const bad = await t.app.inject({
      method: 'PUT',
      url: '/v1/billing/tou-schedules',
      headers: t.auth('admin'),
      payload: { tariff: 'three-time', effectiveFrom: '2026-03-15', buckets: [{ name: 'T1', ranges: [{ from: '06:00', to: '22:00' }] }] },
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toMatch(/cover every minute/);
    expect(bad.json().error).toBe('MDM_ERR_INVALID_TOU_SCHEDULE');
    const put = await t.app.inject({
      method: 'PUT',
      url: '/v1/billing/tou-schedules',
      headers: t.auth('admin'),
      payload: {
        tariff: 'three-time',
        effectiveFrom: '2026-03-15',
        buckets: [
          { name: 'T1', ranges: [{ from: '06:00', to: '22:00' }] },
          { name: 'T3', ranges: [{ from: '22:00', to: '06:00' }] },
        ],
      },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json().created).toBe(true);
    // The stored table starts with the seeded default, so March 1–14 keep T1/T2/T3.
    expect((await count('billing_dirty')) - dirtyBefore).toBe(17); // the rolled-up days it re-buckets: WAW-1, March 15–31
    const f = meterOf(await consumption('period=2026-03&meters=WAW-1'), 'WAW-1');
    // 1–14: T1 14 × 11, T2 14 × 5, T3 14 × 8; 15–31: T1 17 × 16, T3 17 × 8 − 1 (March 29).
    const expected = { T1: 154 + 272, T2: 70, T3: 112 + 135 };
    expect(f.tou).toEqual(expected);
    await maintainBillingRollup(t.database);
    expect(meterOf(await consumption('period=2026-03&meters=WAW-1'), 'WAW-1').tou).toEqual(expected);
  });

  it('bills a meter whose tariff changed from the readings until its days are rolled up again', async () => {
    const before = meterOf(await consumption('period=2026-01&meters=ISS-1'), 'ISS-1');
    expect(before).not.toHaveProperty('tou');
    const put = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [{ id: 'ISS-1', timezone: IST, intervalMinutes: 60, group: 'g1', tariff: 'three-time' }],
    });
    expect(put.json()).toMatchObject({ updated: 1 });
    // 1 kWh every hour of January: 31 × 11, 31 × 5, 31 × 8.
    const now = meterOf(await consumption('period=2026-01&meters=ISS-1'), 'ISS-1');
    expect(now).toMatchObject({ activeImport: 744, tou: { T1: 341, T2: 155, T3: 248 } });
    expect(await maintainBillingRollup(t.database)).toEqual({ adopted: 1, refreshed: 31 });
    expect(meterOf(await consumption('period=2026-01&meters=ISS-1'), 'ISS-1')).toEqual(now);
  });

  it('maintains the rollup and stores readiness from the billing component; a period in progress counts up to now', async () => {
    await post([{ meter: 'WAW-1', channel: 'active_import', start: '2026-03-02T10:00:00+01:00', value: 2 }]);
    expect(await count('billing_dirty')).toBeGreaterThan(0);
    const now = Date.parse('2026-03-15T12:00:00Z');
    const c = createBillingComponent({ database: t.database, rollupMs: 60_000, readinessMs: 3_600_000, params: { noDataDays: 3 }, now: () => now });
    await c.tick();
    expect(await count('billing_dirty')).toBe(0);
    expect(c.probe.check()).toMatchObject({ ok: true, readiness: { periods: { '2026-02': { meters: 5 }, '2026-03': { meters: 5 } } } });
    const stored = await t.database.db.selectFrom('billing_readiness').select(['period', 'result']).where('period', '=', '2026-03').executeTakeFirstOrThrow();
    const result = stored.result as unknown as { computedAt: string; notBillable: { meter: string; reasons: { code: string; message: string }[] }[] };
    expect(result.computedAt).toBe('2026-03-15T12:00:00.000Z');
    const byMeter = Object.fromEntries(result.notBillable.map((m) => [m.meter, m.reasons]));
    // WAW-1 has every hour up to now (later March values do not count yet): billable.
    expect(byMeter['WAW-1']).toBeUndefined();
    // no March data; 15-minute intervals from March 1 00:00 (+03:00) to now = 14 days 15 h = 1 404.
    expect(byMeter['Q-15'].map((r) => r.code)).toEqual(['missing_data', 'no_recent_data']);
    expect(byMeter['Q-15'][0].message).toMatch(/^1404 of 1404 intervals missing/);
  });

  it('is for billing and admin keys only', async () => {
    for (const role of ['viewer', 'trader', 'gateway'] as const) {
      expect((await get('/v1/billing/consumption?period=2026-01', role)).statusCode).toBe(403);
      expect((await get('/v1/billing/readiness?period=2026-01', role)).statusCode).toBe(403);
    }
    expect((await get('/v1/billing/consumption?period=2026-01', 'admin')).statusCode).toBe(200);
    const close = await t.app.inject({ method: 'POST', url: '/v1/billing/periods/2026-02/close', headers: t.auth('billing') });
    expect(close.statusCode).toBe(403);
    expect(close.json().error).toBe('MDM_ERR_FORBIDDEN');
  });

  it('rejects bad requests with a reason', async () => {
    const cases: [string, number, RegExp][] = [
      ['period=2026-13', 400, /not a month YYYY-MM/],
      ['period=2026-01&group=g1&portfolio=p', 400, /at most one selector/],
      ['period=2026-01&meters=NOPE', 404, /NOPE/],
      ['from=2026-01-01T00:00:00Z', 400, /both from= and to=/],
      ['period=2026-01&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z', 400, /not both/],
      ['period=2026-01&asOf=2026-01-01', 400, /asOf: .*no UTC offset/],
    ];
    for (const [q, status, message] of cases) {
      const res = await get(`/v1/billing/consumption?${q}`);
      expect(res.statusCode, q).toBe(status);
      expect(res.json().message, q).toMatch(message);
    }
  });

  it('takes a from/to range instead of a period', async () => {
    const body = await consumption(`from=${encodeURIComponent('2026-01-01T00:00:00+03:00')}&to=${encodeURIComponent('2026-01-02T00:00:00+03:00')}&meters=TT-1`);
    // January 1st: 25 kWh × 10; 24 hourly intervals.
    expect(meterOf(body, 'TT-1')).toMatchObject({ activeImport: 250, tou: { T1: 110, T2: 100, T3: 40 }, completeness: 1, reactiveCapacitive: 24 });
    // Not on local midnights: January 1st 12:00 to January 3rd 06:00 — the partial days from the readings, January 2nd from the rollup.
    await maintainBillingRollup(t.database);
    expect(await count('billing_dirty')).toBe(0);
    const partial = await consumption(`from=${encodeURIComponent('2026-01-01T12:00:00+03:00')}&to=${encodeURIComponent('2026-01-03T06:00:00+03:00')}&meters=TT-1`);
    // 1st: T1 12–17 5 × 1, T2 5 × 2, T3 22–24 2 × 0.5; 2nd: 25; 3rd: T3 00–06 6 × 0.5; all × 10.
    expect(meterOf(partial, 'TT-1')).toMatchObject({ activeImport: 440, tou: { T1: 160, T2: 200, T3: 80 }, reactiveCapacitive: 12, completeness: 1 });
  });
});
