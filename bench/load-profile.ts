import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatInstant } from '../models/time.js';
import { seededRandom } from '../models/random.js';

/**
 * Bench data on real shapes: hourly electricity of the Cambridge Estates
 * buildings (../shared/data/cambridge-estates/bN/electricity/2019.csv, kWh,
 * see ../shared/data/README.md), replicated to as many meters as asked with
 * ±10 % deterministic noise, stamped in Europe/Istanbul local time.
 */
export const BENCH_TZ = 'Europe/Istanbul';
/** First interval start: 2019-01-01 00:00 in Istanbul (UTC+3, no DST). */
export const BENCH_FROM_MS = Date.UTC(2018, 11, 31, 21);
const HOUR_MS = 3_600_000;

export interface BenchRow {
  readonly meter: string;
  readonly channel: 'active_import';
  readonly start: string;
  readonly value: number;
}

export interface LoadProfile {
  readonly meterIds: readonly string[];
  readonly hours: number;
  /** Meter-major (a month of each meter's load profile, as an AMR head-end reads it out). */
  readonly rows: readonly BenchRow[];
  /** Instant after the last interval, for `to` of queries. */
  readonly toMs: number;
  readonly buildings: number;
}

/** Meter id of bench meter `i` (0-based): `BENCH-0001`… */
export const benchMeterId = (i: number): string => `BENCH-${String(i + 1).padStart(4, '0')}`;

/** Hourly kWh series of every building that has a 2019 electricity file, `hours` long each. */
export function loadBuildingSeries(dataDir: string, hours: number): number[][] {
  const root = join(dataDir, 'cambridge-estates');
  const out: number[][] = [];
  for (const b of readdirSync(root)
    .filter((d) => /^b\d+$/.test(d))
    .sort()) {
    let text: string;
    try {
      text = readFileSync(join(root, b, 'electricity', '2019.csv'), 'utf8');
    } catch {
      continue;
    }
    const values = text
      .split('\n')
      .slice(1, hours + 1)
      .map((line) => Number(line.slice(line.indexOf(',') + 1)));
    if (values.length === hours && values.every(Number.isFinite)) out.push(values);
  }
  if (out.length === 0) throw new Error(`no building series under ${root}: is ../shared/data there? (see ../shared/data/README.md)`);
  return out;
}

/**
 * `meters` × `days` of hourly active_import readings. Meter i follows building
 * i mod N; each value gets its own ±10 % noise, rounded to Wh as a meter would.
 * @example makeLoadProfile('../shared/data', 2, 1).rows.length // 48
 */
export function makeLoadProfile(dataDir: string, meters: number, days: number): LoadProfile {
  const hours = days * 24;
  const series = loadBuildingSeries(dataDir, hours);
  const starts: string[] = new Array(hours);
  for (let h = 0; h < hours; h++) starts[h] = formatInstant(BENCH_FROM_MS + h * HOUR_MS, BENCH_TZ);
  const rand = seededRandom(20190101);
  const meterIds: string[] = [];
  const rows: BenchRow[] = new Array(meters * hours);
  for (let m = 0; m < meters; m++) {
    const id = benchMeterId(m);
    meterIds.push(id);
    const base = series[m % series.length];
    for (let h = 0; h < hours; h++) {
      const value = Math.round(base[h] * (0.9 + 0.2 * rand()) * 1000) / 1000;
      rows[m * hours + h] = { meter: id, channel: 'active_import', start: starts[h], value };
    }
  }
  return { meterIds, hours, rows, toMs: BENCH_FROM_MS + hours * HOUR_MS, buildings: series.length };
}
