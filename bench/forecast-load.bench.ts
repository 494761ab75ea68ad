import { sql } from 'kysely';
import { historyFromMs, loadTargetSeries, resolveTarget } from '../forecast/target.js';
import { loadHourlyHistory } from '../sql/forecast.repository.js';
import { loadNow, type Bench, type Figure } from './bench.js';
import { openBenchDatabase } from './bench-database.js';

/**
 * Issue 5, "efficient for 1 000 meters × 2 years": the history a forecast run
 * loads from storage (sql/forecast.repository loadHourlyHistory through
 * forecast/target loadTargetSeries) on the server flavour. BENCH_METERS
 * hourly meters (default 1 000) of one portfolio × 2 years (2018–2019) are
 * generated in SQL (a daily shape per meter; the values do not matter here,
 * their number does), then ANALYZEd; timed: the day-ahead history of the
 * portfolio (366 days before the cut-off, what a run reads) and the whole
 * two years, each RUNS times.
 */
const RUNS = 3;
const HOUR = 3_600_000;
const TIMEOUT_MS = 40 * 60_000;
const FROM = '2018-01-01T00:00:00Z';
const TO = '2020-01-01T00:00:00Z';
const CUTOFF = Date.parse('2019-12-30T07:00:00Z'); // day-ahead of 2019-12-31 (Istanbul), cut-off 10:00

export const forecastLoadBench: Bench = {
  name: 'forecast-load',
  summary: 'history of a forecast run: BENCH_METERS hourly meters × 2 years on the server, day-ahead (366 days) and the full two years',
  timeoutMs: TIMEOUT_MS,
  async run(opts, log, onCleanup) {
    const bench = await openBenchDatabase(opts.databaseUrl, TIMEOUT_MS, log, onCleanup);
    const { database } = bench;
    try {
      const t0 = performance.now();
      await database.session(
        async ({ db }) => {
          await sql`
            INSERT INTO meters (external_id, commodity, timezone, interval_minutes, multiplier, portfolio, tariff, labels)
            SELECT 'FL-' || lpad(i::text, 5, '0'), 'electricity', 'Europe/Istanbul', 60, 1, 'BENCH', 'single', '{}'::jsonb FROM generate_series(1, ${opts.meters}::int) i`.execute(db);
          await db.insertInto('ingest_batches').values({ transport: 'file' }).execute();
          await sql`
            INSERT INTO readings (meter_id, channel, start, value, interval_minutes, quality, source, batch_id)
            SELECT m.id, 1, t, 10 + m.id % 7 + extract(hour FROM t)::int % 5, NULL, 0, 3, (SELECT max(id) FROM ingest_batches)
            FROM meters m, generate_series(${FROM}::timestamptz, ${TO}::timestamptz - interval '1 hour', interval '1 hour') t`.execute(db);
          await sql`ANALYZE readings`.execute(db);
        },
        { transaction: false },
      );
      const rows = opts.meters * ((Date.parse(TO) - Date.parse(FROM)) / HOUR);
      log(`stored ${rows.toLocaleString('en-US')} readings (${opts.meters} meters × 2 years) in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      const resolved = await resolveTarget(database, { kind: 'portfolio', id: 'BENCH' });
      if (!resolved.ok) throw new Error(resolved.reason);
      const target = resolved.target;
      const dayAhead: number[] = [];
      const twoYears: number[] = [];
      for (let k = 0; k < RUNS; k++) {
        let t = performance.now();
        const s = await loadTargetSeries(database, target, target.meters, { historyFromMs: historyFromMs('day-ahead', CUTOFF), dataCutoffMs: CUTOFF, toMs: CUTOFF + 41 * HOUR });
        dayAhead.push(performance.now() - t);
        const n = s.coverage.reduce((a, c) => a + c.hours, 0);
        if (n !== opts.meters * 366 * 24) throw new Error(`day-ahead history: ${n} hour values, expected ${opts.meters * 366 * 24}`);
        t = performance.now();
        const h = await loadHourlyHistory(database, { meters: target.meters, fromMs: Date.parse(FROM), toMs: Date.parse(TO) });
        twoYears.push(performance.now() - t);
        if (h.size !== opts.meters) throw new Error(`two years: ${h.size} meters`);
        log(`run ${k + 1}: day-ahead ${(dayAhead[k] / 1000).toFixed(1)} s, two years ${(twoYears[k] / 1000).toFixed(1)} s (load ${loadNow()})`);
      }
      const figures: Figure[] = [
        { label: 'day-ahead history (366 days)', values: dayAhead, unit: 'ms', better: 'lower' },
        { label: 'two years', values: twoYears, unit: 'ms', better: 'lower' },
      ];
      return {
        context: [`${opts.meters} hourly meters, one portfolio, ${rows.toLocaleString('en-US')} readings on the server; load average ${loadNow()}`],
        figures,
        goals: [],
        notes: ['one statement per load (readings), one for weather; hourly meters ungrouped, rows packed in a bytea per meter'],
      };
    } finally {
      await bench.drop();
    }
  },
};
