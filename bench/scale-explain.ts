import { open, stat, writeFile } from 'node:fs/promises';
import { sql } from 'kysely';
import { runBilling } from '../billing/billing-run.js';
import { parsePeriod } from '../billing/period.js';
import { createPgDatabase } from '../sql/database.js';
import { aggregateSeries, listRawReadings } from '../sql/reading-query.repository.js';
import { BENCH_TZ } from './load-profile.js';
import { hourStartMs } from './scale-load.js';
import { MONTH, type Meters } from './scale-measure.js';

/**
 * `--explain-log <server log file>`: after a size's timed figures, the
 * statements behind them run once more on a connection of their own with
 * auto_explain (ANALYZE, BUFFERS, nested statements), and their plans are
 * cut out of the server's log (lines of the bench database, which
 * log_line_prefix must name with %d) into `<out>`. The timed requests never
 * run under auto_explain: its instrumentation costs time.
 */
export async function explainSize(url: string, dbName: string, logFile: string, out: string, meters: Meters): Promise<number> {
  const offset = (await stat(logFile)).size;
  const probe = await createPgDatabase(url, { max: 1 });
  try {
    for (const s of [
      `LOAD 'auto_explain'`,
      'SET auto_explain.log_min_duration = 0',
      'SET auto_explain.log_analyze = on',
      'SET auto_explain.log_buffers = on',
      'SET auto_explain.log_nested_statements = on',
    ]) {
      await sql.raw(s).execute(probe.db);
    }
    const from = new Date(hourStartMs(MONTH.from));
    const to = new Date(hourStartMs(MONTH.to));
    await listRawReadings(probe, { meterId: meters.ids[Math.floor(meters.ids.length / 2)], channel: 1, from, to });
    await aggregateSeries(probe, { meterIds: meters.ids.slice(0, meters.aggregate), channel: 1, unit: 'day', tz: BENCH_TZ, from, to });
    const period = parsePeriod(MONTH.period)!;
    await runBilling(probe, { selector: { all: true }, window: { kind: 'period', fromDate: period.fromDate, toDate: period.toDate }, readiness: { noDataDays: 3 }, now: Date.now() });
  } finally {
    await probe.close();
  }
  await new Promise((r) => setTimeout(r, 500)); // the server writes its log asynchronously
  const end = (await stat(logFile)).size;
  const fh = await open(logFile, 'r');
  const buf = Buffer.alloc(end - offset);
  try {
    await fh.read(buf, 0, buf.length, offset);
  } finally {
    await fh.close();
  }
  // A log entry starts with the timestamp of log_line_prefix; a plan's lines follow its first one.
  const entries = buf.toString('utf8').split(/\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)/);
  const plans = entries.filter((e) => e.includes(`@${dbName} LOG:  duration:`));
  await writeFile(out, `${plans.join('\n\n')}\n`);
  return plans.length;
}
