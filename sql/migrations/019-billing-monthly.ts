import type { Migration } from './index.js';

/**
 * billing_monthly: billing_daily added up per meter, channel and local
 * calendar month (issue 14 §3). A consumption query over whole local months
 * (a period) reads one row per meter and channel instead of one per day:
 * 10 000 rows for 10 000 meters × a month instead of 300 000. A month is
 * read from here only when none of its days is stale for the query (dirty,
 * or changed after asOf); otherwise its days come from billing_daily and the
 * readings as before (sql/billing.repository.ts).
 *
 * Kept equal to the sum of its billing_daily rows by statement triggers on
 * billing_daily (every insert, delete or update recomputes the meter months
 * it touched, in the same transaction), whoever writes the daily rows, and
 * filled here from the daily rows already there. Sums are numeric (a month of
 * int8 days cannot overflow), tou is the element-wise sum of the days' tou
 * arrays (their length is the bucket count when each day was rolled up),
 * peak the highest [rate, −epoch of start] of the month's days, as billing
 * compares them (highest rate, then earliest start).
 */
export const billingMonthly: Migration = {
  id: 19,
  name: 'billing-monthly',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS billing_monthly (
        meter_id    integer NOT NULL,
        channel     smallint NOT NULL,
        month       date NOT NULL,     -- first local date of the month
        energy      numeric NOT NULL,
        est_energy  numeric NOT NULL,
        n_measured  bigint NOT NULL,
        n_suspect   bigint NOT NULL,
        n_estimated bigint NOT NULL,
        n_edited    bigint NOT NULL,
        n_missing   bigint NOT NULL,
        tou         numeric[] NOT NULL,
        peak        float8[],          -- [rate, −epoch of start]; null without a value
        last_start  timestamptz,
        PRIMARY KEY (meter_id, channel, month)
      );

      -- The meter months (meter, channel, first local date of the month) given, recomputed from billing_daily.
      CREATE OR REPLACE FUNCTION mdm_billing_monthly_refresh(meters integer[], channels smallint[], months date[]) RETURNS void LANGUAGE plpgsql AS $$
      BEGIN
        DELETE FROM billing_monthly mo USING unnest(meters, channels, months) AS k(meter_id, channel, month)
        WHERE mo.meter_id = k.meter_id AND mo.channel = k.channel AND mo.month = k.month;
        INSERT INTO billing_monthly (meter_id, channel, month, energy, est_energy, n_measured, n_suspect, n_estimated, n_edited, n_missing, tou, peak, last_start)
        SELECT a.meter_id, a.channel, a.month, a.energy, a.est_energy, a.n_measured, a.n_suspect, a.n_estimated, a.n_edited, a.n_missing,
               coalesce(t.tou, '{}'), a.peak, a.last_start
        FROM (
          SELECT d.meter_id, d.channel, k.month, sum(d.energy) AS energy, sum(d.est_energy) AS est_energy,
                 sum(d.n_measured) AS n_measured, sum(d.n_suspect) AS n_suspect, sum(d.n_estimated) AS n_estimated,
                 sum(d.n_edited) AS n_edited, sum(d.n_missing) AS n_missing,
                 max(ARRAY[d.peak_rate, -date_part('epoch', d.peak_start)]) FILTER (WHERE d.peak_rate IS NOT NULL) AS peak,
                 max(d.last_start) AS last_start
          FROM unnest(meters, channels, months) AS k(meter_id, channel, month)
          JOIN billing_daily d ON d.meter_id = k.meter_id AND d.channel = k.channel
            AND d.local_date >= k.month AND d.local_date < (k.month + interval '1 month')::date
          GROUP BY d.meter_id, d.channel, k.month
        ) a
        LEFT JOIN (
          SELECT e.meter_id, e.channel, e.month, array_agg(e.total ORDER BY e.i) AS tou
          FROM (
            SELECT d.meter_id, d.channel, k.month, u.i, sum(u.x) AS total
            FROM unnest(meters, channels, months) AS k(meter_id, channel, month)
            JOIN billing_daily d ON d.meter_id = k.meter_id AND d.channel = k.channel
              AND d.local_date >= k.month AND d.local_date < (k.month + interval '1 month')::date
            CROSS JOIN LATERAL unnest(d.tou) WITH ORDINALITY AS u(x, i)
            GROUP BY 1, 2, 3, 4
          ) e
          GROUP BY 1, 2, 3
        ) t ON t.meter_id = a.meter_id AND t.channel = a.channel AND t.month = a.month;
      END $$;

      -- Statement trigger on billing_daily: the meter months the statement touched (TG_OP UPDATE: before and after).
      CREATE OR REPLACE FUNCTION mdm_billing_monthly_sync() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        ms integer[];
        cs smallint[];
        ds date[];
      BEGIN
        IF TG_OP = 'UPDATE' THEN
          SELECT array_agg(meter_id), array_agg(channel), array_agg(month) INTO ms, cs, ds FROM (
            SELECT meter_id, channel, date_trunc('month', local_date)::date AS month FROM changed_old
            UNION SELECT meter_id, channel, date_trunc('month', local_date)::date FROM changed) k;
        ELSE
          SELECT array_agg(meter_id), array_agg(channel), array_agg(month) INTO ms, cs, ds FROM (
            SELECT DISTINCT meter_id, channel, date_trunc('month', local_date)::date AS month FROM changed) k;
        END IF;
        IF ms IS NOT NULL THEN
          PERFORM mdm_billing_monthly_refresh(ms, cs, ds);
        END IF;
        RETURN NULL;
      END $$;

      DROP TRIGGER IF EXISTS billing_daily_monthly_ins ON billing_daily;
      DROP TRIGGER IF EXISTS billing_daily_monthly_del ON billing_daily;
      DROP TRIGGER IF EXISTS billing_daily_monthly_upd ON billing_daily;
      CREATE TRIGGER billing_daily_monthly_ins AFTER INSERT ON billing_daily
        REFERENCING NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION mdm_billing_monthly_sync();
      CREATE TRIGGER billing_daily_monthly_del AFTER DELETE ON billing_daily
        REFERENCING OLD TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION mdm_billing_monthly_sync();
      CREATE TRIGGER billing_daily_monthly_upd AFTER UPDATE ON billing_daily
        REFERENCING OLD TABLE AS changed_old NEW TABLE AS changed FOR EACH STATEMENT EXECUTE FUNCTION mdm_billing_monthly_sync();

      -- The months of the daily rows already there.
      SELECT mdm_billing_monthly_refresh(array_agg(meter_id), array_agg(channel), array_agg(month))
      FROM (SELECT DISTINCT meter_id, channel, date_trunc('month', local_date)::date AS month FROM billing_daily) k
      HAVING count(*) > 0;
    `);
  },
};
