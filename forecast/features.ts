import { startOfLocalDay, startOfNextLocalDay } from '../models/calendar.js';
import { holidayCalendar, type HolidayCalendar } from '../models/holidays.js';
import { DAY_MS, tzOffsetMinutes } from '../models/time.js';
import type { FitContext, SeriesData } from './model.js';

/**
 * Forecast features (issue 5, "Inputs and features"): per hour of a series'
 * UTC grid, calendar (local hour, weekday, month, day type with holiday kind,
 * eve, bridge — DST-aware in the series' zone), weather (temperature, heating /
 * cooling degree hours) and lags / rolling means of the series itself. Pure;
 * Float64Array / Uint8Array columns built in one pass.
 *
 * ## What a row may see (no leakage)
 * A value at index j (hour startMs + j·1 h) is known iff startMs + (j+1)·1 h ≤
 * ctx.dataCutoff. Rows in a forecast horizon see exactly that. Training rows
 * (hours before the cut-off) are given the same view the forecast will have:
 * each row's own cut-off is `start of its local day − cutoffGapMs`, capped by
 * ctx.dataCutoff and by the row's own start. The default gap is the one of a
 * day-ahead run, from ctx.dataCutoff to the start of the next local day (cut-off
 * 10:00 on D → 14 h: every training day D+1 sees data up to 10:00 on D, as the
 * forecast for D+1 will).
 *
 * Lags are "same local hour k days earlier" (DST-aware: on the day after a
 * clock change, the same wall-clock hour, not 24 h earlier), NaN when that hour
 * is after the row's cut-off or missing:
 * - `lag1`, `lag2`, `lag7`, `lag14`: D−1, D−2, D−7, D−14.
 *   Day-ahead, cut-off 10:00 on D: for D+1 hours 00–09 `lag1` is hour h of D
 *   (known); for hours 10–23 it is NaN and `lastSame` is hour h of D−1.
 * - `lastSame`: the newest known same-hour value (k = 1 … 14 days back).
 * - `lastWeek`: the newest known same-weekday same-hour value (k = 7, 14, … 56):
 *   the naive D−7 forecast, repeating the last known week beyond 7 days;
 *   `prevWeek`: the known same-weekday same-hour value before that one.
 * - `mean24`, `mean168`: mean of the known values in the last 24 / 168 hours
 *   before the row's cut-off (NaN if none).
 * Temperature at or after the issue time is the weather forecast (SeriesData);
 * training rows use observations (the usual "perfect prognosis" fit). A missing
 * temperature is carried forward from the last known one up to 24 h, else NaN;
 * `temp24` is the mean of the last 24 h of temperature (building inertia).
 */

const H = 3_600_000;

export const DAY_TYPE_CODE = { workday: 0, saturday: 1, sunday: 2, holiday: 3 } as const;
/** 0 ordinary day, 1 public (fixed national), 2 religious (moving feast, e.g. bayram), 3 bridge. */
export const HOLIDAY_KIND_CODE = { public: 1, religious: 2, bridge: 3 } as const;

export interface FeatureOptions {
  /** Heating degree-hour base (°C): hdd = max(0, base − T). Default 15.5. */
  readonly hddBase?: number;
  /** Cooling degree-hour base (°C): cdd = max(0, T − base). Default 22. */
  readonly cddBase?: number;
  /** Emulated cut-off of training rows before the start of their local day (ms); default: day-ahead gap of ctx. */
  readonly cutoffGapMs?: number;
  /** Local hour from which an eve (arife) is off. Default 13. */
  readonly eveAfternoonFrom?: number;
  /** false: leave the lag and rolling-mean columns NaN (cheaper, for models that do not use them). Default true. */
  readonly lags?: boolean;
}

/** Per-hour calendar of a zone and country, shared by every series on the same grid. */
export interface CalendarColumns {
  readonly startMs: number;
  readonly length: number;
  /** Local hour 0–23 (wall clock). */
  readonly hour: Uint8Array;
  /** ISO weekday 1 = Monday … 7 = Sunday. */
  readonly weekday: Uint8Array;
  /** 1–12. */
  readonly month: Uint8Array;
  /** 1–366. */
  readonly dayOfYear: Uint16Array;
  /** DAY_TYPE_CODE: holiday = public, religious or bridge day. */
  readonly dayType: Uint8Array;
  /** HOLIDAY_KIND_CODE, 0 = none. */
  readonly holidayKind: Uint8Array;
  /** 1 on a half-day eve (arife). */
  readonly eve: Uint8Array;
  /** 1 on the eve of a religious holiday (the arife of a bayram), whose whole day differs. */
  readonly eveReligious: Uint8Array;
  /** Local day number (days since 1970-01-01 of the local date). */
  readonly localDay: Int32Array;
  /** UTC offset in minutes. */
  readonly offsetMin: Int16Array;
  /** Start (ms) of the row's local day. */
  readonly dayStartMs: Float64Array;
}

/** Calendars by zone, country and phase of the hour grid: one per key, grown to cover every range asked (last 16 keys). */
const calendarCache = new Map<string, CalendarColumns>();
/** Hours a grown calendar covers at most (about three years: ~0.6 MB); a request too far from it starts a new one. */
const CALENDAR_MAX_HOURS = 3 * 8784;
/** Hours added past the end asked for, so that the next days of a backtest (one origin a day) are already there. */
const CALENDAR_AHEAD_HOURS = 40 * 24;

/**
 * Calendar columns for `length` hours from `startMs` in `tz`, holidays of
 * `country` (null: none, every day ordinary). Every hour's columns depend on
 * the hour alone, so the hours of a zone, country and grid are computed once
 * and kept (last 16 grids): 1 000 meters on one grid, the origins of a
 * backtest (a day longer each) and the ML model's sliding training windows
 * (a day earlier each) get views of one calendar. The result may be longer
 * than asked.
 */
export function calendarColumns(tz: string, country: string | null, startMs: number, length: number): CalendarColumns {
  const key = `${tz}|${country ?? '-'}|${((startMs % H) + H) % H}`;
  let cal = calendarCache.get(key);
  const endMs = startMs + length * H;
  if (!cal || startMs < cal.startMs || endMs > cal.startMs + cal.length * H) {
    cal = grownCalendar(cal, tz, country, startMs, endMs);
    calendarCache.delete(key);
    if (calendarCache.size >= 16) calendarCache.delete(calendarCache.keys().next().value!);
    calendarCache.set(key, cal);
  }
  return cal.startMs === startMs ? cal : calendarFrom(cal, Math.round((startMs - cal.startMs) / H));
}

/** A calendar covering `old` (when near enough) and [startMs, endMs) with some hours ahead, old hours copied, new ones computed. */
function grownCalendar(old: CalendarColumns | undefined, tz: string, country: string | null, startMs: number, endMs: number): CalendarColumns {
  let from = startMs;
  let to = endMs + CALENDAR_AHEAD_HOURS * H;
  if (old && Math.max(to, old.startMs + old.length * H) - Math.min(from, old.startMs) <= CALENDAR_MAX_HOURS * H) {
    from = Math.min(from, old.startMs);
    to = Math.max(to, old.startMs + old.length * H);
  } else old = undefined;
  const c = emptyCalendar(from, Math.round((to - from) / H));
  const hol = holidayCalendar(country);
  if (!old) {
    fillCalendar(c, tz, hol, 0, c.length);
    return c;
  }
  const at = Math.round((old.startMs - from) / H);
  for (const name of CALENDAR_ARRAYS) c[name].set(old[name], at);
  fillCalendar(c, tz, hol, 0, at);
  fillCalendar(c, tz, hol, at + old.length, c.length);
  return c;
}

const CALENDAR_ARRAYS = ['hour', 'weekday', 'month', 'dayOfYear', 'dayType', 'holidayKind', 'eve', 'eveReligious', 'localDay', 'offsetMin', 'dayStartMs'] as const;

function emptyCalendar(startMs: number, n: number) {
  return {
    startMs,
    length: n,
    hour: new Uint8Array(n),
    weekday: new Uint8Array(n),
    month: new Uint8Array(n),
    dayOfYear: new Uint16Array(n),
    dayType: new Uint8Array(n),
    holidayKind: new Uint8Array(n),
    eve: new Uint8Array(n),
    eveReligious: new Uint8Array(n),
    localDay: new Int32Array(n),
    offsetMin: new Int16Array(n),
    dayStartMs: new Float64Array(n),
  };
}

/** The hours of `cal` from index `offset` on, as views (no copy). */
function calendarFrom(cal: CalendarColumns, offset: number): CalendarColumns {
  return { startMs: cal.startMs + offset * H, length: cal.length - offset, ...calendarView(cal, offset, cal.length) };
}

/** Computes the columns of hours [from, to) of `c` (each depends on its hour alone). */
function fillCalendar(c: ReturnType<typeof emptyCalendar>, tz: string, hol: HolidayCalendar, from: number, to: number): void {
  let day = NaN;
  let wd = 0,
    mo = 0,
    doy = 0,
    dt = 0,
    hk = 0,
    ev = 0,
    er = 0,
    ds = 0;
  for (let i = from; i < to; i++) {
    const t = c.startMs + i * H;
    const off = tzOffsetMinutes(tz, t);
    const local = t + off * 60_000;
    const d = Math.floor(local / DAY_MS);
    if (d !== day) {
      day = d;
      const date = new Date(d * DAY_MS);
      const iso = date.toISOString().slice(0, 10);
      const g = date.getUTCDay();
      wd = g === 0 ? 7 : g;
      mo = date.getUTCMonth() + 1;
      doy = d - Math.floor(Date.UTC(date.getUTCFullYear(), 0, 1) / DAY_MS) + 1;
      const kind = hol.kindOf(iso);
      hk = kind === null || kind === 'eve' ? 0 : HOLIDAY_KIND_CODE[kind];
      ev = hol.isEve(iso) ? 1 : 0;
      er = ev && hol.kindOf(new Date((d + 1) * DAY_MS).toISOString().slice(0, 10)) === 'religious' ? 1 : 0;
      dt = hk ? DAY_TYPE_CODE.holiday : wd === 6 ? DAY_TYPE_CODE.saturday : wd === 7 ? DAY_TYPE_CODE.sunday : DAY_TYPE_CODE.workday;
      ds = startOfLocalDay(t, tz);
    }
    c.hour[i] = Math.floor((local - d * DAY_MS) / H);
    c.weekday[i] = wd;
    c.month[i] = mo;
    c.dayOfYear[i] = doy;
    c.dayType[i] = dt;
    c.holidayKind[i] = hk;
    c.eve[i] = ev;
    c.eveReligious[i] = er;
    c.localDay[i] = d;
    c.offsetMin[i] = off;
    c.dayStartMs[i] = ds;
  }
}

/**
 * Index of the same local (wall-clock) hour `k` days before row `i`, or -1
 * before the grid. 24·k hours back, corrected by the change of UTC offset.
 */
export function sameHourIndex(cal: CalendarColumns, i: number, k: number): number {
  const j = i - 24 * k;
  if (j < 0) return -1;
  const jj = j + Math.round((cal.offsetMin[i] - cal.offsetMin[j]) / 60);
  return jj >= 0 ? jj : -1;
}

/** Number of leading values known at `cutoffMs` (values[j] known iff j < result). */
export function knownCount(series: SeriesData, cutoffMs: number): number {
  return Math.max(0, Math.min(series.values.length, Math.floor((cutoffMs - series.startMs) / H)));
}

/** The default emulated cut-off gap: from ctx.dataCutoff to the start of the next local day. */
export function dayAheadGapMs(series: SeriesData, ctx: FitContext): number {
  return startOfNextLocalDay(ctx.dataCutoff - 1, series.timezone) - ctx.dataCutoff;
}

export const FRAME_COLUMNS = ['temp', 'temp24', 'hdd', 'cdd', 'lag1', 'lag2', 'lag7', 'lag14', 'lastSame', 'lastWeek', 'prevWeek', 'mean24', 'mean168'] as const;
export type FrameColumn = (typeof FRAME_COLUMNS)[number];

export interface FeatureFrame {
  readonly id: string;
  /** First row's hour (ms). */
  readonly fromMs: number;
  readonly rows: number;
  /** Grid index (into series.values) of the first row. */
  readonly offset: number;
  /** Calendar of rows [0, rows) (views into the shared calendar). */
  readonly calendar: Omit<CalendarColumns, 'startMs' | 'length'>;
  readonly columns: Readonly<Record<FrameColumn, Float64Array>>;
  /** Target: the value, NaN when missing or not known at ctx.dataCutoff. */
  readonly y: Float64Array;
  /** 1 where the target is an estimated value. */
  readonly estimated: Uint8Array;
  /** Eve afternoon (1 from `eveAfternoonFrom` local on an eve). */
  readonly eveAfternoon: Uint8Array;
}

/**
 * Feature rows for the hours [fromMs, toMs) of `series` (hour-aligned; the
 * range may extend past the values into a horizon).
 * @example buildFeatures(s, ctx, { fromMs: s.startMs, toMs: ctx.dataCutoff }) // training rows
 */
export function buildFeatures(series: SeriesData, ctx: FitContext, range: { fromMs: number; toMs: number }, opts: FeatureOptions = {}): FeatureFrame {
  const gap = opts.cutoffGapMs ?? dayAheadGapMs(series, ctx);
  const offset = Math.round((range.fromMs - series.startMs) / H);
  if (offset < 0) throw new Error(`feature range starts before the series (${new Date(range.fromMs).toISOString()} < ${new Date(series.startMs).toISOString()})`);
  const rows = Math.max(0, Math.round((range.toMs - range.fromMs) / H));
  const end = offset + rows;
  const cal = calendarColumns(series.timezone, ctx.country, series.startMs, end);
  const known = knownCount(series, ctx.dataCutoff);

  const columns = emptyColumns(rows);
  if (opts.lags ?? true) fillLagColumns(columns, series, cal, known, gap, offset);
  else for (const name of LAG_COLUMNS) columns[name].fill(NaN);
  fillTemperatureColumns(columns, carriedTemperature(series.temperature, end), offset, opts.hddBase ?? 15.5, opts.cddBase ?? 22);
  return {
    id: series.id,
    fromMs: series.startMs + offset * H,
    rows,
    offset,
    calendar: calendarView(cal, offset, end),
    columns,
    ...targetColumns(series, cal, known, offset, rows, opts.eveAfternoonFrom ?? 13),
  };
}

/** The columns built from the series' own values (lags and rolling means); NaN when a model asks for none. */
const LAG_COLUMNS = ['lag1', 'lag2', 'lag7', 'lag14', 'lastSame', 'lastWeek', 'prevWeek', 'mean24', 'mean168'] as const;

function emptyColumns(rows: number): Record<FrameColumn, Float64Array> {
  const col = () => new Float64Array(rows);
  return {
    temp: col(),
    temp24: col(),
    hdd: col(),
    cdd: col(),
    lag1: col(),
    lag2: col(),
    lag7: col(),
    lag14: col(),
    lastSame: col(),
    lastWeek: col(),
    prevWeek: col(),
    mean24: col(),
    mean168: col(),
  };
}

/** Prefix sums over the known values (NaN → 0) and their counts: O(1) rolling means. */
interface KnownPrefix {
  readonly sum: Float64Array;
  readonly count: Uint32Array;
}

function knownPrefix(v: ArrayLike<number>, known: number): KnownPrefix {
  const sum = new Float64Array(known + 1);
  const count = new Uint32Array(known + 1);
  for (let j = 0; j < known; j++) {
    const x = v[j];
    const ok = x === x;
    sum[j + 1] = sum[j] + (ok ? x : 0);
    count[j + 1] = count[j] + (ok ? 1 : 0);
  }
  return { sum, count };
}

/** Mean of the known values at grid indexes [from, to) (from clamped at 0), NaN if none. */
function knownMean(p: KnownPrefix, from: number, to: number): number {
  if (from < 0) from = 0;
  if (to <= from) return NaN;
  const c = p.count[to] - p.count[from];
  return c ? (p.sum[to] - p.sum[from]) / c : NaN;
}

/** Value at the same local hour `k` days before row `i`, NaN when missing or not among the first `avail` values. */
function sameHourValue(cal: CalendarColumns, v: ArrayLike<number>, i: number, k: number, avail: number): number {
  const j = sameHourIndex(cal, i, k);
  return j >= 0 && j < avail ? v[j] : NaN;
}

/**
 * Lags and rolling means of the frame's rows (grid hours offset, offset + 1, …): each row sees the
 * values known at its own emulated cut-off (its local day's start − gapMs,
 * capped by ctx.dataCutoff through `known` and by the row's own start).
 */
function fillLagColumns(columns: Record<FrameColumn, Float64Array>, series: SeriesData, cal: CalendarColumns, known: number, gapMs: number, offset: number): void {
  const v = series.values;
  const prefix = knownPrefix(v, known);
  let rowCutDay = NaN,
    avail = 0,
    m24 = NaN,
    m168 = NaN;
  for (let r = 0; r < columns.lag1.length; r++) {
    const i = offset + r;
    // Known values for this row: up to its emulated cut-off, never its own hour or later.
    if (cal.dayStartMs[i] !== rowCutDay) {
      rowCutDay = cal.dayStartMs[i];
      avail = Math.min(known, Math.floor((rowCutDay - gapMs - series.startMs) / H));
      if (avail < 0) avail = 0;
      m24 = knownMean(prefix, avail - 24, avail);
      m168 = knownMean(prefix, avail - 168, avail);
    }
    const a = Math.min(avail, i);
    columns.lag1[r] = sameHourValue(cal, v, i, 1, a);
    columns.lag2[r] = sameHourValue(cal, v, i, 2, a);
    columns.lag7[r] = sameHourValue(cal, v, i, 7, a);
    columns.lag14[r] = sameHourValue(cal, v, i, 14, a);
    let ls = NaN;
    for (let k = 1; k <= 14 && ls !== ls; k++) ls = sameHourValue(cal, v, i, k, a);
    columns.lastSame[r] = ls;
    let lw = NaN,
      pw = NaN,
      k = 7;
    for (; k <= 56 && lw !== lw; k += 7) lw = sameHourValue(cal, v, i, k, a);
    for (; k <= 56 && pw !== pw; k += 7) pw = sameHourValue(cal, v, i, k, a);
    columns.lastWeek[r] = lw;
    columns.prevWeek[r] = pw;
    columns.mean24[r] = a === avail ? m24 : knownMean(prefix, a - 24, a);
    columns.mean168[r] = a === avail ? m168 : knownMean(prefix, a - 168, a);
  }
}

/** Temperature of grid hours [0, end), carried forward up to 24 h over gaps, else NaN. */
function carriedTemperature(T: ArrayLike<number> | undefined, end: number): Float64Array {
  const tempAll = new Float64Array(end);
  let last = NaN,
    lastAt = -Infinity;
  for (let j = 0; j < end; j++) {
    const x = T && j < T.length ? T[j] : NaN;
    if (x === x) {
      last = x;
      lastAt = j;
      tempAll[j] = x;
    } else tempAll[j] = j - lastAt <= 24 ? last : NaN;
  }
  return tempAll;
}

/** temp, its 24 h mean temp24 and the degree hours hdd / cdd of the frame's rows (grid hours offset, offset + 1, …). */
function fillTemperatureColumns(columns: Record<FrameColumn, Float64Array>, tempAll: Float64Array, offset: number, hddBase: number, cddBase: number): void {
  let tSum = 0,
    tCount = 0; // rolling 24 h temperature window ending at j
  for (let j = Math.max(0, offset - 23); j < offset; j++) if (tempAll[j] === tempAll[j]) (tSum += tempAll[j]), tCount++;
  for (let r = 0; r < columns.temp.length; r++) {
    const i = offset + r;
    const t = tempAll[i];
    if (t === t) (tSum += t), tCount++;
    const drop = i - 24;
    if (drop >= 0 && tempAll[drop] === tempAll[drop]) (tSum -= tempAll[drop]), tCount--;
    columns.temp[r] = t;
    columns.temp24[r] = tCount ? tSum / tCount : NaN;
    columns.hdd[r] = t === t ? Math.max(0, hddBase - t) : NaN;
    columns.cdd[r] = t === t ? Math.max(0, t - cddBase) : NaN;
  }
}

/** Target y (NaN when missing or not known at the cut-off), its estimated flag and the eve-afternoon flag of rows [offset, offset + rows). */
function targetColumns(series: SeriesData, cal: CalendarColumns, known: number, offset: number, rows: number, eveFrom: number): Pick<FeatureFrame, 'y' | 'estimated' | 'eveAfternoon'> {
  const y = new Float64Array(rows);
  const estimated = new Uint8Array(rows);
  const eveAfternoon = new Uint8Array(rows);
  const v = series.values;
  for (let r = 0; r < rows; r++) {
    const i = offset + r;
    y[r] = i < known ? v[i] : NaN;
    estimated[r] = series.estimated && i < series.estimated.length ? series.estimated[i] : 0;
    eveAfternoon[r] = cal.eve[i] && cal.hour[i] >= eveFrom ? 1 : 0;
  }
  return { y, estimated, eveAfternoon };
}

/** The calendar of grid hours [offset, end) as views into the shared calendar. */
function calendarView(cal: CalendarColumns, offset: number, end: number): FeatureFrame['calendar'] {
  const view = <A extends Uint8Array | Uint16Array | Int32Array | Int16Array | Float64Array>(x: A) => x.subarray(offset, end) as A;
  return {
    hour: view(cal.hour),
    weekday: view(cal.weekday),
    month: view(cal.month),
    dayOfYear: view(cal.dayOfYear),
    dayType: view(cal.dayType),
    holidayKind: view(cal.holidayKind),
    eve: view(cal.eve),
    eveReligious: view(cal.eveReligious),
    localDay: view(cal.localDay),
    offsetMin: view(cal.offsetMin),
    dayStartMs: view(cal.dayStartMs),
  };
}

export const MATRIX_COLUMNS = [
  'hourSin',
  'hourCos',
  'hour2Sin',
  'hour2Cos',
  'doySin',
  'doyCos',
  'dow1',
  'dow2',
  'dow3',
  'dow4',
  'dow5',
  'dow6',
  'dow7',
  'holiday',
  'religious',
  'bridge',
  'eve',
  'eveAfternoon',
  'temp',
  'temp24',
  'hdd',
  'cdd',
  'lag1',
  'lag1Known',
  'lag2',
  'lag7',
  'lag14',
  'lastSame',
  'lastWeek',
  'mean24',
  'mean168',
] as const;
export type MatrixColumn = (typeof MATRIX_COLUMNS)[number];

export interface MatrixOptions extends FeatureOptions {
  /** Subset and order of columns (default MATRIX_COLUMNS). */
  readonly columns?: readonly MatrixColumn[];
  /** Load-valued columns (lags, means) and y are divided by this (per-series scaling for global models). Default 1. */
  readonly scale?: number;
  /** Keep only rows whose y is known (training); default false (every hour, e.g. a horizon). */
  readonly onlyKnownY?: boolean;
}

export interface FeatureMatrix {
  readonly names: readonly MatrixColumn[];
  /** Row-major rows × cols, no NaN (see featureMatrix). */
  readonly X: Float32Array;
  readonly rows: number;
  readonly cols: number;
  /** Target per row (scaled), NaN when unknown at the cut-off. */
  readonly y: Float32Array;
  /** Hour (ms) of each row. */
  readonly rowStarts: Float64Array;
}

/**
 * A numeric matrix for learners (forecast/models/ml.ts) from buildFeatures.
 *
 * Encodings: hour as sin/cos of 2π·h/24 and 4π·h/24, day of year as sin/cos of
 * 2π·doy/365.25, weekday one-hot (`dow1` Monday … `dow7` Sunday), 0/1 flags
 * `holiday` (any full day off), `religious`, `bridge`, `eve`, `eveAfternoon`;
 * temperatures in °C as they are (standardise them in the learner if needed).
 *
 * NaN handling (X has none): a missing lag takes the next one in its chain —
 * lag1, lag2 → lastSame; lag7, lag14 → lastWeek → lastSame; lastSame ↔ lastWeek;
 * then mean168 → mean24 → 0. `lag1Known` is 1 when lag1 was really known (a
 * day-ahead model learns to trust lag1 only for hours before the cut-off).
 * Missing temperature → temp = hddBase (hdd = cdd = 0), temp24 → temp.
 */
export function featureMatrix(series: SeriesData, ctx: FitContext, range: { fromMs: number; toMs: number }, opts: MatrixOptions = {}): FeatureMatrix {
  const f = buildFeatures(series, ctx, range, opts);
  const names = opts.columns ?? MATRIX_COLUMNS;
  const cols = names.length;
  const scale = opts.scale ?? 1;
  const hddBase = opts.hddBase ?? 15.5;
  let rows = 0;
  const pick = new Int32Array(f.rows);
  for (let r = 0; r < f.rows; r++) if (!opts.onlyKnownY || f.y[r] === f.y[r]) pick[rows++] = r;
  const X = new Float32Array(rows * cols);
  const y = new Float32Array(rows);
  const rowStarts = new Float64Array(rows);
  const c = f.columns,
    k = f.calendar;
  const first = (...xs: number[]) => {
    for (const x of xs) if (x === x) return x;
    return 0;
  };
  const W = (2 * Math.PI) / 24,
    Y = (2 * Math.PI) / 365.25;
  const value = new Float64Array(MATRIX_COLUMNS.length);
  const index = names.map((n) => MATRIX_COLUMNS.indexOf(n));
  for (let q = 0; q < rows; q++) {
    const r = pick[q];
    const h = k.hour[r],
      wd = k.weekday[r],
      doy = k.dayOfYear[r];
    const m168 = c.mean168[r],
      m24 = c.mean24[r];
    const level = first(m168, m24);
    const ls = c.lastSame[r],
      lw = c.lastWeek[r];
    const lastSame = first(ls, lw, level);
    const lastWeek = first(lw, ls, level);
    const t = c.temp[r];
    const temp = t === t ? t : hddBase;
    const t24 = c.temp24[r];
    let n = 0;
    value[n++] = Math.sin(W * h);
    value[n++] = Math.cos(W * h);
    value[n++] = Math.sin(2 * W * h);
    value[n++] = Math.cos(2 * W * h);
    value[n++] = Math.sin(Y * doy);
    value[n++] = Math.cos(Y * doy);
    for (let d = 1; d <= 7; d++) value[n++] = wd === d ? 1 : 0;
    value[n++] = k.dayType[r] === DAY_TYPE_CODE.holiday ? 1 : 0;
    value[n++] = k.holidayKind[r] === HOLIDAY_KIND_CODE.religious ? 1 : 0;
    value[n++] = k.holidayKind[r] === HOLIDAY_KIND_CODE.bridge ? 1 : 0;
    value[n++] = k.eve[r];
    value[n++] = f.eveAfternoon[r];
    value[n++] = temp;
    value[n++] = t24 === t24 ? t24 : temp;
    value[n++] = t === t ? c.hdd[r] : 0;
    value[n++] = t === t ? c.cdd[r] : 0;
    value[n++] = first(c.lag1[r], lastSame) / scale;
    value[n++] = c.lag1[r] === c.lag1[r] ? 1 : 0;
    value[n++] = first(c.lag2[r], lastSame) / scale;
    value[n++] = first(c.lag7[r], lastWeek) / scale;
    value[n++] = first(c.lag14[r], lastWeek) / scale;
    value[n++] = lastSame / scale;
    value[n++] = lastWeek / scale;
    value[n++] = first(m24, m168) / scale;
    value[n++] = level / scale;
    const o = q * cols;
    for (let j = 0; j < cols; j++) X[o + j] = value[index[j]];
    y[q] = f.y[r] / scale;
    rowStarts[q] = f.fromMs + r * H;
  }
  return { names, X, rows, cols, y, rowStarts };
}
