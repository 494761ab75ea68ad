import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseEpiasCsv } from '../adapters/market/epias-csv.js';
import type { SeriesData } from '../forecast/model.js';

/**
 * Real series for the forecast bench (../shared/data, see its README.md).
 *
 * Cambridge Estates: hourly electricity per building, 2018–2019, UTC hours,
 * Europe/London local time (holidays GB); Bedford air temperature on the same
 * grid. The publisher wrote 0 for missing readings: every exact 0 is taken
 * as missing (NaN). Turkey (EPİAŞ): national real-time consumption and the
 * official day-ahead load forecast plan, 2016–2017, Europe/Istanbul; hours not
 * published (0) and the 2016 clock-change repeat are left out by the parser.
 */
const HOUR = 3_600_000;
export const CAMBRIDGE_TZ = 'Europe/London';
export const CAMBRIDGE_FROM_MS = Date.UTC(2018, 0, 1);
const CAMBRIDGE_HOURS = (365 + 365) * 24;

function csvColumn(text: string, hours: number, col = 1): Float64Array {
  const out = new Float64Array(hours).fill(Number.NaN);
  const lines = text.split('\n');
  for (let i = 1; i < lines.length && i - 1 < hours; i++) {
    const f = lines[i].split(',');
    if (f.length <= col) continue;
    const v = Number(f[col]);
    if (f[col] !== '' && Number.isFinite(v)) out[i - 1] = v;
  }
  return out;
}

/** Years 2018 and 2019 of one file kind (`electricity/YYYY.csv`) concatenated, or undefined when a year is absent. */
function twoYears(dir: string, col = 1): Float64Array | undefined {
  const out = new Float64Array(CAMBRIDGE_HOURS);
  for (const [k, y] of [2018, 2019].entries()) {
    let text: string;
    try {
      text = readFileSync(join(dir, `${y}.csv`), 'utf8');
    } catch {
      return undefined;
    }
    out.set(csvColumn(text, 8760, col), k * 8760);
  }
  return out;
}

/** Every building with 2018 and 2019 electricity, as series `bN` with Bedford temperatures. */
export function loadCambridge(dataDir: string): SeriesData[] {
  const root = join(dataDir, 'cambridge-estates');
  const temperature = twoYears(join(root, 'weather-bedford'));
  if (!temperature) throw new Error(`no Bedford weather under ${root}: is ../shared/data there? (see ../shared/data/README.md)`);
  const out: SeriesData[] = [];
  for (const b of readdirSync(root)
    .filter((d) => /^b\d+$/.test(d))
    .sort((x, y) => Number(x.slice(1)) - Number(y.slice(1)))) {
    const values = twoYears(join(root, b, 'electricity'));
    if (!values) continue;
    for (let i = 0; i < values.length; i++) if (values[i] === 0) values[i] = Number.NaN;
    out.push({ id: b, timezone: CAMBRIDGE_TZ, startMs: CAMBRIDGE_FROM_MS, values, temperature });
  }
  if (out.length === 0) throw new Error(`no building series under ${root}`);
  return out;
}

/** Σ of the series hour by hour, NaN where any is unknown (a portfolio's metered total). */
export function sumSeries(id: string, series: readonly SeriesData[]): SeriesData {
  const values = new Float64Array(series[0].values.length);
  for (const s of series) for (let i = 0; i < values.length; i++) values[i] += s.values[i];
  return { id, timezone: series[0].timezone, startMs: series[0].startMs, values, temperature: series[0].temperature };
}

export interface TurkeySeries {
  /** National consumption (MWh), one grid from 2016-01-01 00:00 Istanbul. */
  readonly consumption: SeriesData;
  /** The official day-ahead load forecast plan on the same grid (NaN where unpublished). */
  readonly plan: Float64Array;
  readonly issues: number;
}

export const TURKEY_TZ = 'Europe/Istanbul';

/** EPİAŞ national consumption and the official forecast plan, 2016–2017, on one hourly grid. */
export function loadTurkey(dataDir: string): TurkeySeries {
  const dir = join(dataDir, 'epias-2016-2017');
  const read = (f: string) => parseEpiasCsv(readFileSync(join(dir, f)), { zeroMeansUnpublished: true });
  const cons = read('GercekZamanliTuketim-2016-2017.csv');
  const plan = read('YukTahminPlani-2016-2017.csv');
  const startMs = Math.min(cons.rows[0].startMs, plan.rows[0].startMs);
  const end = Math.max(cons.rows.at(-1)!.startMs, plan.rows.at(-1)!.startMs) + HOUR;
  const n = (end - startMs) / HOUR;
  const grid = (rows: typeof cons.rows) => {
    const out = new Float64Array(n).fill(Number.NaN);
    for (const r of rows) out[(r.startMs - startMs) / HOUR] = r.value;
    return out;
  };
  return {
    consumption: { id: 'TR national', timezone: TURKEY_TZ, startMs, values: grid(cons.rows) },
    plan: grid(plan.rows),
    issues: cons.issues.length + plan.issues.length,
  };
}
