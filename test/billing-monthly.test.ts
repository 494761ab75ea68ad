import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { localMinuteOfDay, localMonthRange } from '../models/calendar.js';
import { formatInstant } from '../models/time.js';
import { maintainBillingRollup } from '../sql/billing-rollup.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

/**
 * Issue 14 §3: whole local months are billed from billing_monthly (one row
 * per meter, channel and month, kept equal to billing_daily by triggers).
 * Checked here: the monthly sums are those of the daily rows after every
 * kind of rollup write, and the figures are the same from the readings, from
 * the daily rollup (a meter whose supply starts mid-month) and from the
 * monthly sums, including a day whose only values are "missing"
 * placeholders (its rolled-up peak is null and must not hide the others).
 */
const IST = 'Europe/Istanbul';

interface Row {
  meter: string;
  channel: string;
  start: string;
  value: number;
  quality?: string;
}

function monthRows(meter: string, channel: string, period: string, value: (localMinute: number, ms: number) => number | undefined): Row[] {
  const { fromMs, toMs } = localMonthRange(period, IST);
  const out: Row[] = [];
  for (let ms = fromMs; ms < toMs; ms += 3_600_000) {
    const v = value(localMinuteOfDay(ms, IST), ms);
    if (v !== undefined) out.push({ meter, channel, start: formatInstant(ms, IST), value: v });
  }
  return out;
}

/** Every hour of 2026-01-07 as a "missing" placeholder, the rest of January and February measured. */
const MISSING_DAY = '2026-01-07';
const value = (m: number, ms: number) => (formatInstant(ms, IST).startsWith(MISSING_DAY) ? undefined : 1 + (m % 7) / 4 + (ms % 11) / 8);

describe.each(FLAVOURS)('billing from monthly sums (%s)', (flavour) => {
  let t: TestApp;
  const post = async (rows: Row[]) => {
    for (let i = 0; i < rows.length; i += 5000) {
      const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('admin'), payload: { readings: rows.slice(i, i + 5000) } });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.json().rejected).toEqual([]);
    }
  };
  const consumption = async (query: string) => {
    const res = await t.app.inject({ method: 'GET', url: `/v1/billing/consumption?${query}`, headers: t.auth('billing') });
    expect(res.statusCode, res.body).toBe(200);
    const body = res.json() as { meters: Record<string, unknown>[] };
    return body.meters.map(({ dataVersion: _, ...f }) => f);
  };
  /** Rows of billing_monthly that differ from billing_daily summed per month, both ways. */
  const drift = async () => {
    const { rows } = await sql<{ n: number }>`
      WITH daily AS (
        SELECT meter_id, channel, date_trunc('month', local_date)::date AS month, sum(energy) AS energy, sum(est_energy) AS est_energy,
               sum(n_measured) AS n_measured, sum(n_suspect + n_estimated + n_edited + n_missing) AS n_other, max(last_start) AS last_start,
               max(ARRAY[peak_rate, -date_part('epoch', peak_start)]) FILTER (WHERE peak_rate IS NOT NULL) AS peak,
               sum(coalesce(tou[1], 0)) AS t1, sum(coalesce(tou[2], 0)) AS t2, sum(coalesce(tou[3], 0)) AS t3
        FROM billing_daily GROUP BY 1, 2, 3
      ), monthly AS (
        SELECT meter_id, channel, month, energy, est_energy, n_measured, n_suspect + n_estimated + n_edited + n_missing AS n_other, last_start, peak,
               coalesce(tou[1], 0) AS t1, coalesce(tou[2], 0) AS t2, coalesce(tou[3], 0) AS t3
        FROM billing_monthly
      )
      SELECT count(*)::int AS n FROM ((SELECT * FROM daily EXCEPT SELECT * FROM monthly) UNION ALL (SELECT * FROM monthly EXCEPT SELECT * FROM daily)) x`.execute(t.database.db);
    return rows[0].n;
  };
  const monthlyRows = async () => Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM billing_monthly`.execute(t.database.db)).rows[0].n);

  beforeAll(async () => {
    t = await testApp(flavour);
    const res = await t.app.inject({
      method: 'PUT',
      url: '/v1/meters',
      headers: t.auth('admin'),
      payload: [
        { id: 'MO-1', timezone: IST, intervalMinutes: 60, multiplier: 10, tariff: 'three-time' },
        { id: 'MO-2', timezone: IST, intervalMinutes: 60, supplyStart: '2026-01-10' },
      ],
    });
    expect(res.json()).toMatchObject({ created: 2, rejected: [] });
    const placeholders = monthRows('MO-1', 'active_import', '2026-01', (_, ms) => (formatInstant(ms, IST).startsWith(MISSING_DAY) ? 0 : undefined)).map((r) => ({ ...r, quality: 'missing' }));
    await post([
      ...['MO-1', 'MO-2'].flatMap((m) => [...monthRows(m, 'active_import', '2026-01', value), ...monthRows(m, 'active_import', '2026-02', value)]),
      ...monthRows('MO-1', 'reactive_inductive', '2026-01', () => 0.25),
      ...placeholders,
    ]);
  }, 120_000);
  afterAll(() => t?.close());

  it('gives the same figures from the readings, the daily rollup and the monthly sums; the monthly sums are the daily rows summed', async () => {
    const queries = ['period=2026-01', 'period=2026-02', 'from=2026-01-15T00:00:00Z&to=2026-02-10T00:00:00Z'];
    const raw = await Promise.all(queries.map(consumption));
    expect(raw[0].map((f) => f.maxDemand)).not.toContain(null);
    expect(await monthlyRows()).toBe(0);

    expect(await maintainBillingRollup(t.database)).toMatchObject({ adopted: 2 });
    expect(await monthlyRows()).toBe(5); // MO-1: import January, February, inductive January; MO-2: import January, February
    expect(await drift()).toBe(0);
    for (const [i, q] of queries.entries()) expect(await consumption(q), q).toEqual(raw[i]);

    // A correction: its day is dirty (read raw) until refreshed, then the months are summed again.
    await post([{ meter: 'MO-1', channel: 'active_import', start: '2026-01-20T12:00:00+03:00', value: 40, quality: 'edited' }]);
    const corrected = await consumption('period=2026-01');
    expect(corrected.find((f) => f.meter === 'MO-1')!.maxDemand).toEqual({ kw: 400, at: '2026-01-20T12:00:00+03:00' });
    await maintainBillingRollup(t.database);
    expect(await drift()).toBe(0);
    expect(await consumption('period=2026-01')).toEqual(corrected);

    // Rows deleted and rewritten by statements of any kind keep the sums equal.
    await sql`UPDATE billing_daily SET energy = energy + 1 WHERE local_date = '2026-02-03'`.execute(t.database.db);
    expect(await drift()).toBe(0);
    await sql`DELETE FROM billing_daily WHERE local_date >= '2026-02-01'`.execute(t.database.db);
    expect(await drift()).toBe(0);
    expect(await monthlyRows()).toBe(3);
  });
});
