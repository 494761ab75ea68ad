import { performance } from 'node:perf_hooks';
import { sql } from 'kysely';
import type { NormalizedReading } from '../models/reading.js';
import type { Database } from '../sql/database.js';
import { toCopyBinary } from '../sql/reading-write.repository.js';

const TABLE = 'readings_copy_baseline';

/** The bench rows as stored (meter ids resolved), for the COPY baselines. */
export interface StoredRows {
  readonly rows: readonly NormalizedReading[];
  /** The same rows as COPY text, with the start text exactly as posted. */
  readonly text: string;
}

/** An empty table identical to readings (columns, primary key, defaults; the same hypertable on TimescaleDB). */
async function createBaselineTable(database: Database): Promise<void> {
  await database.session(async ({ db }) => {
    await sql`DROP TABLE IF EXISTS ${sql.table(TABLE)}`.execute(db);
    await sql`CREATE TABLE ${sql.table(TABLE)} (LIKE readings INCLUDING ALL)`.execute(db);
    if (database.flavour === 'timescaledb') {
      await sql`SELECT create_hypertable(${sql.lit(TABLE)}, by_range('start', INTERVAL '7 days'))`.execute(db);
    }
  });
}

/**
 * Raw COPY of the rows into the empty table in one statement: what the
 * server does with no service in front. Encoding is done before the clock
 * starts. Returns milliseconds.
 */
export async function timeRawCopy(database: Database, data: StoredRows, format: 'text' | 'binary'): Promise<number> {
  await createBaselineTable(database);
  // Binary: the layout the service COPYs into readings (8 columns, version by default).
  const payload = format === 'text' ? data.text : toCopyBinary(data.rows, 0);
  const t0 = performance.now();
  await database.session(
    (s) =>
      format === 'text'
        ? s.raw.copyFrom(`COPY ${TABLE} FROM STDIN`, payload)
        : s.raw.copyFrom(`COPY ${TABLE} (meter_id, channel, start, value, interval_minutes, quality, source, batch_id) FROM STDIN (FORMAT binary)`, payload),
    { transaction: false },
  );
  const ms = performance.now() - t0;
  const {
    rows: [{ n }],
  } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(TABLE)}`.execute(database.db);
  if (n !== data.rows.length) throw new Error(`raw COPY stored ${n} rows, expected ${data.rows.length}`);
  await sql`DROP TABLE ${sql.table(TABLE)}`.execute(database.db);
  return ms;
}

/** COPY text of readings rows: the 9 columns of readings, version 1, batch 0. */
export function copyText(rows: readonly NormalizedReading[], startText: (r: NormalizedReading, i: number) => string): string {
  const parts: string[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i];
    parts[i] = `${r.meterId}\t${r.channel}\t${startText(r, i)}\t${r.value}\t${r.intervalMinutes ?? '\\N'}\t${r.quality}\t${r.source}\t1\t0\n`;
  }
  return parts.join('');
}
