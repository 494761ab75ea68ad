import { buildFeatures, dayAheadGapMs, type FeatureFrame } from '../features.js';
import type { FitContext, FittedModel, ForecastModel, Horizon, QuantileRow, SeriesData } from '../model.js';
import { fitResidualQuantiles, quantileRow, type ResidualQuantiles } from '../quantiles.js';
import { naiveP50 } from './naive.js';
import { DAY_MS } from '../../models/time.js';
import { dayContext, holidayCalendar, type HolidayCalendar } from '../../models/holidays.js';

/**
 * Profile model (issue 5, model 2): per series, a typical shape by day type ×
 * local hour, recency-weighted, temperature-corrected by regression on degree
 * hours, scaled to the recent level. docs/forecasting.md "Models: naive and
 * profile".
 *
 * Fit, on the `historyDays` (365) before the cut-off:
 * 1. Usable hours: known, not part of a flat line (≥ `flatHours` (6) equal
 *    values in a row — the Cambridge data hides gaps as runs of zeros).
 * 2. Ordinary days: buckets workday / saturday / sunday (by weekday) × local
 *    hour, holidays, bridge days and eve afternoons left out. Each hour weighs
 *    0.5^(age / `halfLifeDays`) (5 or 14 days, whichever replays the last
 *    56 days better, HALF_LIFE_CANDIDATES), estimated values half. Bucket value
 *    B = weighted mean load; also the bucket's weighted mean degree hours.
 *    An empty bucket borrows: saturday ↔ sunday, then workday.
 * 3. Temperature: weighted least squares of (load − B) on (hdd − bucket mean)
 *    and (cdd − bucket mean), no intercept, one (β_heat, β_cool) per 6-hour
 *    block of the local day (closed form, 2 × 2; a term with fewer than 48
 *    hours of non-zero degree hours in its block is dropped).
 * 4. Special days — public, religious, bridge, eve (arife) — as a ratio to
 *    the sunday profile per kind and hour (Σ w·load / Σ w·sunday value): a
 *    bayram is seasonal-proof and one seen bayram informs the next. A day
 *    whose feast-day key (models/holidays dayContext: `Kurban Bayramı#2:religious`,
 *    aligned by feast day, not by date) was seen in an earlier year takes
 *    0.7 × that day's own ratio per hour + 0.3 × its kind's (Turkey
 *    2016–2017 special days MAPE 8.7 → 8.2 %; 1.0 gave 8.3 %, 0.5 8.2 %).
 *    Ordinary days near a holiday (block weekends, the day after, the day
 *    before) as classes of their own were tried and made every class worse.
 *    A religious holiday never seen takes the public holidays' ratio
 *    (special days 8.4 → 8.2 % on the same data). Their
 *    value is min(own weekday's value, ratio × sunday value); without samples
 *    of the kind, public and religious days are sundays, bridge days and eve
 *    afternoons halfway between their weekday and a sunday, eve mornings
 *    their weekday.
 * 5. Level: P50 = F × Σ load / Σ F over the last `levelHours` (24) usable
 *    ordinary (not special-day) hours before the cut-off — for special days
 *    over the last 24 usable hours of any kind — the ratio clamped to
 *    [0.5, 2] (1 without data).
 *    Short on purpose: it carries the weather and events of the last day the
 *    profile does not know (Turkey 2017 day-ahead MAPE 2.85 % with 24 h against
 *    3.4 % with 168 h; Cambridge Nov–Dec 2019 WAPE 6.6 % against 7.5 %).
 *
 * Quality gates (per series): fewer than `minHistoryDays` (14) usable days, or
 * more than `maxBadShare` (50 %) of the last 8 weeks missing or flat → the
 * series falls back to naive D−7; FittedModel.info says which and why.
 *
 * P10/P90: residual quantiles (forecast/quantiles) of the model replayed
 * day-ahead, out of sample, over the last 56 days (see fitOne).
 */
export interface ProfileOptions {
  readonly historyDays?: number;
  /** Recency half-life of the shape (days); default: per series the better of HALF_LIFE_CANDIDATES on its replayed last 56 days. */
  readonly halfLifeDays?: number;
  readonly minHistoryDays?: number;
  readonly maxBadShare?: number;
  readonly flatHours?: number;
  readonly levelHours?: number;
  readonly hddBase?: number;
  readonly cddBase?: number;
}

const H = 3_600_000;
/**
 * Half-lives (days) a series' shape may take, chosen per fit on the replayed
 * last 56 days. 5 days: on the Cambridge Σ portfolio over Mar–Dec 2018 the
 * median month's skill was 21 % with 14 days, 25 % with 10, 29 % with 7,
 * 32 % with 5, 33 % with 3–4; Turkey 2016–2017 is a little worse with 5
 * than with 14 (ordinary days MAPE 2.46 against 2.43 %), hence the choice.
 */
export const HALF_LIFE_CANDIDATES: readonly number[] = [5, 14];
const NORMAL = 3; // workday, saturday, sunday: the ordinary-day buckets
const GROUP_NAMES = ['workday', 'saturday', 'sunday'];
// Special days, as ratios to the sunday profile: HOLIDAY_KIND_CODE 1–3, eve afternoons, and the whole arife of a bayram.
const SPECIAL_NAMES = ['public', 'religious', 'bridge', 'eveAfternoon', 'arife'];
const EVE_SPECIAL = 3;
const ARIFE = 4;
/**
 * Weight of the same feast day's ratio from earlier years against its kind's ratio (the rest). */
const FEAST_WEIGHT = 0.7;

/** Feast-day keys (models/holidays DayContext.feast) → small integers, shared by every fit. */
const feastIds = new Map<string, number>();

/** A feature frame with each row's feast-day key id (−1 none). */
type Frame = FeatureFrame & { readonly feast: Int32Array };

function withDays(f: FeatureFrame, cal: HolidayCalendar): Frame {
  const feast = new Int32Array(f.rows).fill(-1);
  let day = Number.NaN,
    fid = -1;
  for (let r = 0; r < f.rows; r++) {
    const d = f.calendar.localDay[r];
    if (d !== day) {
      day = d;
      const c = dayContext(cal, new Date(d * DAY_MS).toISOString().slice(0, 10));
      if (c.feast === null) fid = -1;
      else {
        let id = feastIds.get(c.feast);
        if (id === undefined) feastIds.set(c.feast, (id = feastIds.size));
        fid = id;
      }
    }
    feast[r] = fid;
  }
  return Object.assign(Object.create(null), f, { feast }) as Frame;
}
const BLOCKS = 4;
const MIN_ACTIVE = 48;

interface SeriesFit {
  readonly s: SeriesData;
  readonly fallback?: string;
  readonly shape?: Shape;
  readonly level: Levels;
  readonly q: ResidualQuantiles;
  readonly floor: number;
  readonly info: Record<string, unknown>;
}

export function profileModel(opts: ProfileOptions = {}): ForecastModel {
  const o = {
    historyDays: opts.historyDays ?? 365,
    halfLifeDays: opts.halfLifeDays === undefined ? HALF_LIFE_CANDIDATES : [opts.halfLifeDays],
    minHistoryDays: opts.minHistoryDays ?? 14,
    maxBadShare: opts.maxBadShare ?? 0.5,
    flatHours: opts.flatHours ?? 6,
    levelHours: opts.levelHours ?? 24,
    featureOptions: { hddBase: opts.hddBase ?? 15.5, cddBase: opts.cddBase ?? 22 },
  };
  return {
    kind: 'profile',
    async fit(series: readonly SeriesData[], ctx: FitContext): Promise<FittedModel> {
      const fits: SeriesFit[] = [];
      series.forEach((s, n) => {
        fits.push(fitOne(s, ctx, o));
        ctx.onProgress?.((n + 1) / series.length);
      });
      return {
        kind: 'profile',
        info: {
          halfLifeDays: o.halfLifeDays,
          historyDays: o.historyDays,
          fallbacks: fits.filter((f) => f.fallback).length,
          series: fits.map((f) => f.info),
        },
        async predict(horizon: Horizon): Promise<QuantileRow[][]> {
          return fits.map((fit) => {
            const f = withDays(buildFeatures(fit.s, ctx, horizon, { ...o.featureOptions, lags: !fit.shape }), holidayCalendar(ctx.country));
            const rows: QuantileRow[] = new Array(f.rows);
            for (let r = 0; r < f.rows; r++) {
              const p50 = fit.shape ? levelOf(fit.level, f, r) * profileValue(fit.shape, f, r) : naiveP50(f, r, 'd7');
              rows[r] = quantileRow(f.fromMs + r * H, p50, f.calendar.hour[r], f.calendar.dayType[r], fit.q, fit.floor);
            }
            return rows;
          });
        },
      };
    },
  };
}

type Opts = {
  historyDays: number;
  halfLifeDays: readonly number[];
  minHistoryDays: number;
  maxBadShare: number;
  flatHours: number;
  levelHours: number;
  featureOptions: { hddBase: number; cddBase: number };
};

/** Ordinary-day bucket of a row by its weekday (holidays too: their ordinary counterpart). */
const normalGroup = (f: Frame, r: number) => (f.calendar.weekday[r] === 6 ? 1 : f.calendar.weekday[r] === 7 ? 2 : 0);
/** Special-day index (SPECIAL_NAMES) of a row, or -1 for an ordinary hour far from holidays. */
const specialOf = (f: Frame, r: number) => (f.calendar.holidayKind[r] ? f.calendar.holidayKind[r] - 1 : f.calendar.eveReligious[r] ? ARIFE : f.eveAfternoon[r] ? EVE_SPECIAL : -1);

/** Ordinary-day profile value of group g (0–2) at row r, temperature-corrected. */
function normalValue(fit: Pick<Shape, 'B' | 'HD' | 'CD' | 'beta'>, f: Frame, r: number, g: number): number {
  const b = g * 24 + f.calendar.hour[r];
  let v = fit.B[b];
  const hdd = f.columns.hdd[r],
    cdd = f.columns.cdd[r];
  if (hdd === hdd) {
    const k = 2 * Math.floor(f.calendar.hour[r] / (24 / BLOCKS));
    v += fit.beta[k] * (hdd - fit.HD[b]) + fit.beta[k + 1] * (cdd - fit.CD[b]);
  }
  return v;
}

/**
 * Profile value F of row r. A special day is its sunday value × the learned
 * ratio of its kind and hour, never above its ordinary value (a holiday on a
 * Saturday is at most a Saturday); without samples of its kind, public and
 * religious holidays are sundays, bridge days and eve afternoons halfway
 * between their ordinary day and a sunday.
 */
function profileValue(fit: Pick<Shape, 'B' | 'HD' | 'CD' | 'beta' | 'R' | 'feastR'>, f: Frame, r: number): number {
  const g = normalGroup(f, r);
  const own = normalValue(fit, f, r, g);
  const sp = specialOf(f, r);
  if (sp < 0) return own;
  const h = f.calendar.hour[r];
  let ratio = fit.R[sp * 24 + h];
  // The same day of the same feast in earlier years (aligned by feast day), blended with its kind's ratio.
  const fr = f.feast[r] >= 0 ? fit.feastR.get(f.feast[r] * 24 + h) : undefined;
  if (fr !== undefined) ratio = ratio === ratio ? FEAST_WEIGHT * fr + (1 - FEAST_WEIGHT) * ratio : fr;
  const sun = g === 2 ? own : normalValue(fit, f, r, 2);
  // A religious holiday never seen takes the public holidays' ratio (a day off is a day off), when those were seen.
  if (ratio !== ratio && sp === 1) ratio = fit.R[h];
  if (ratio === ratio) return Math.min(own, ratio * sun);
  if (sp === ARIFE && !f.eveAfternoon[r]) return own;
  return sp === 0 || sp === 1 ? Math.min(own, sun) : (own + sun) / 2;
}

/** Marks hours inside runs of ≥ `len` equal known values. */
function flatMask(y: Float64Array, len: number): Uint8Array {
  const m = new Uint8Array(y.length);
  let from = 0;
  for (let i = 1; i <= y.length; i++) {
    if (i < y.length && y[i] === y[from]) continue;
    if (i - from >= len && y[from] === y[from]) m.fill(1, from, i);
    from = i;
  }
  return m;
}

function fitOne(s: SeriesData, ctx: FitContext, o: Opts): SeriesFit {
  const cutIdx = Math.max(0, Math.min(s.values.length, Math.floor((ctx.dataCutoff - s.startMs) / H)));
  const toMs = s.startMs + cutIdx * H;
  const fromMs = Math.max(s.startMs, toMs - o.historyDays * DAY_MS);
  let f = withDays(buildFeatures(s, ctx, { fromMs, toMs }, { ...o.featureOptions, lags: false }), holidayCalendar(ctx.country));
  const n = f.rows;
  const flat = flatMask(f.y, o.flatHours);
  const usable = new Uint8Array(n);
  let usableCount = 0,
    minValue = Infinity;
  for (let r = 0; r < n; r++) {
    if (f.y[r] === f.y[r] && !flat[r]) {
      usable[r] = 1;
      usableCount++;
      if (f.y[r] < minValue) minValue = f.y[r];
    }
  }
  const floor = minValue >= 0 ? 0 : -Infinity;
  const recent = Math.max(0, n - 56 * 24);
  let missing = 0,
    flats = 0;
  for (let r = recent; r < n; r++) {
    if (f.y[r] !== f.y[r]) missing++;
    else if (flat[r]) flats++;
  }
  const recentRows = n - recent;
  const gapShare = recentRows ? missing / recentRows : 1;
  const flatShare = recentRows ? flats / recentRows : 0;
  const info: Record<string, unknown> = {
    id: s.id,
    usableDays: Math.round((usableCount / 24) * 10) / 10,
    gapShare: Math.round(gapShare * 1000) / 1000,
    flatShare: Math.round(flatShare * 1000) / 1000,
  };

  let fallback: string | undefined;
  if (usableCount < o.minHistoryDays * 24) fallback = `too little history: ${info.usableDays} usable days < ${o.minHistoryDays} → naive D−7`;
  else if (gapShare + flatShare > o.maxBadShare)
    fallback = `too many gaps/flat lines in the last 8 weeks: ${Math.round((gapShare + flatShare) * 100)} % > ${Math.round(o.maxBadShare * 100)} % → naive D−7`;
  if (fallback) {
    f = withDays(buildFeatures(s, ctx, { fromMs, toMs }, o.featureOptions), holidayCalendar(ctx.country));
    const resid = new Float64Array(n);
    for (let r = recent; r < n; r++) resid[r] = usable[r] ? f.y[r] - naiveP50(f, r, 'd7') : NaN;
    for (let r = 0; r < recent; r++) resid[r] = NaN;
    const q = fitResidualQuantiles({ hour: f.calendar.hour, dayType: f.calendar.dayType, residual: resid });
    return { s, fallback, level: { ordinary: 1, special: 1 }, q, floor, info: { ...info, method: 'naive', fallback } };
  }

  // Residuals, out of sample: the last 56 days replayed day-ahead in blocks of
  // 14 days, the shape refitted on the data before each block, the level ratio
  // at each day's cut-off. Per half-life candidate: the one with the lowest
  // replayed mean absolute error is the series' (a building's week drifts
  // faster than a nation's).
  const gap = dayAheadGapMs(s, ctx);
  let best: { halfLife: number; resid: Float64Array; mae: number } | undefined;
  for (const halfLife of o.halfLifeDays) {
    const resid = new Float64Array(n).fill(NaN);
    let abs = 0,
      cnt = 0;
    for (let b0 = recent; b0 < n; b0 += 14 * 24) {
      const b1 = Math.min(n, b0 + 14 * 24);
      const sh = fitShape(f, usable, b0, halfLife);
      const rep = replay(sh, f, usable, b0, b1, o.levelHours, gap);
      for (let r = b0; r < b1; r++) {
        const e = (resid[r] = rep.residual[r - b0]);
        if (e === e) (abs += Math.abs(e)), cnt++;
      }
    }
    const mae = cnt ? abs / cnt : Infinity;
    if (!best || mae < best.mae) best = { halfLife, resid, mae };
  }
  const { halfLife, resid } = best!;
  const shape = fitShape(f, usable, n, halfLife);
  const level = replay(shape, f, usable, n, n, o.levelHours, 0).level;
  const q = fitResidualQuantiles({ hour: f.calendar.hour, dayType: f.calendar.dayType, residual: resid });
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  const { beta, borrowed } = shape;
  return {
    s,
    shape,
    level,
    q,
    floor,
    info: {
      ...info,
      method: 'profile',
      halfLifeDays: halfLife,
      level: r3(level.ordinary),
      specialDayLevel: r3(level.special),
      betaHeat: Array.from({ length: BLOCKS }, (_, k) => r3(beta[2 * k])),
      betaCool: Array.from({ length: BLOCKS }, (_, k) => r3(beta[2 * k + 1])),
      borrowed: [...borrowed],
      sundayRatioAtNoon: Object.fromEntries(SPECIAL_NAMES.map((k, i) => [k, shape.R[i * 24 + 12] === shape.R[i * 24 + 12] ? r3(shape.R[i * 24 + 12]) : null])),
    },
  };
}

interface Shape {
  /** Ordinary-day bucket means (workday, saturday, sunday × hour) and their mean degree hours. */
  readonly B: Float64Array;
  readonly HD: Float64Array;
  readonly CD: Float64Array;
  readonly beta: Float64Array;
  /** Special-day ratios to the sunday profile (SPECIAL_NAMES × hour), NaN without samples. */
  readonly R: Float64Array;
  /** Ratios of the same feast day in the history (feast id × 24 + hour), with the same reference as R. */
  readonly feastR: ReadonlyMap<number, number>;
  readonly borrowed: ReadonlySet<string>;
}

/** Bucket means, temperature coefficients and special-day ratios from the usable rows before `end`, weights relative to row `end`. */
function fitShape(f: Frame, usable: Uint8Array, end: number, halfLifeDays: number): Shape {
  // Ordinary-day bucket means (recency-weighted); special days are left out.
  const NB = NORMAL * 24;
  const W = new Float64Array(NB),
    cnt = new Uint32Array(NB),
    B = new Float64Array(NB),
    HD = new Float64Array(NB),
    CD = new Float64Array(NB);
  const hasTemp = new Float64Array(NB);
  const weight = new Float64Array(end);
  const decay = Math.LN2 / (halfLifeDays * DAY_MS);
  const endMs = f.fromMs + end * H;
  for (let r = 0; r < end; r++) {
    if (!usable[r]) continue;
    const w = Math.exp(-decay * (endMs - (f.fromMs + r * H))) * (f.estimated[r] ? 0.5 : 1);
    weight[r] = w;
    if (specialOf(f, r) >= 0) continue;
    const b = normalGroup(f, r) * 24 + f.calendar.hour[r];
    W[b] += w;
    cnt[b]++;
    B[b] += w * f.y[r];
    const hdd = f.columns.hdd[r];
    if (hdd === hdd) {
      hasTemp[b] += w;
      HD[b] += w * hdd;
      CD[b] += w * f.columns.cdd[r];
    }
  }
  for (let b = 0; b < NB; b++) {
    B[b] = W[b] ? B[b] / W[b] : NaN;
    HD[b] = hasTemp[b] ? HD[b] / hasTemp[b] : 0;
    CD[b] = hasTemp[b] ? CD[b] / hasTemp[b] : 0;
  }
  // An empty bucket borrows: saturday ↔ sunday, then workday; workday from saturday, sunday.
  const borrow = [
    [1, 2],
    [2, 0],
    [1, 0],
  ];
  const borrowed = new Set<string>();
  for (let h = 0; h < 24; h++) {
    for (let g = 0; g < NORMAL; g++) {
      if (cnt[g * 24 + h]) continue;
      const from = borrow[g].find((x) => cnt[x * 24 + h] > 0);
      const b = g * 24 + h;
      if (from !== undefined) [B[b], HD[b], CD[b]] = [B[from * 24 + h], HD[from * 24 + h], CD[from * 24 + h]];
      borrowed.add(`${GROUP_NAMES[g]}←${from === undefined ? 'none' : GROUP_NAMES[from]}`);
    }
  }

  // Temperature regression per 6-hour block on ordinary hours: (load − B) ~ β_h (hdd − HD) + β_c (cdd − CD).
  const S = new Float64Array(BLOCKS * 5); // s11, s12, s22, s1e, s2e
  const active = new Uint32Array(BLOCKS * 2); // hours with hdd > 0, cdd > 0
  for (let r = 0; r < end; r++) {
    const w = weight[r];
    const hdd = f.columns.hdd[r];
    if (!w || hdd !== hdd || specialOf(f, r) >= 0) continue;
    const b = normalGroup(f, r) * 24 + f.calendar.hour[r];
    const x1 = hdd - HD[b],
      x2 = f.columns.cdd[r] - CD[b],
      e = f.y[r] - B[b];
    const blk = Math.floor(f.calendar.hour[r] / (24 / BLOCKS)),
      k = 5 * blk;
    if (hdd > 0) active[2 * blk]++;
    if (f.columns.cdd[r] > 0) active[2 * blk + 1]++;
    S[k] += w * x1 * x1;
    S[k + 1] += w * x1 * x2;
    S[k + 2] += w * x2 * x2;
    S[k + 3] += w * x1 * e;
    S[k + 4] += w * x2 * e;
  }
  const beta = new Float64Array(2 * BLOCKS);
  for (let k = 0; k < BLOCKS; k++) {
    const [s11, s12, s22, s1e, s2e] = S.subarray(5 * k, 5 * k + 5);
    // A term needs MIN_ACTIVE hours with degree hours in the block (one hot afternoon in Cambridge is no cooling curve).
    const use1 = active[2 * k] >= MIN_ACTIVE && s11 > 1e-9,
      use2 = active[2 * k + 1] >= MIN_ACTIVE && s22 > 1e-9;
    if (use1 && use2) {
      const det = s11 * s22 - s12 * s12;
      if (det > 1e-9 * s11 * s22) {
        beta[2 * k] = (s22 * s1e - s12 * s2e) / det;
        beta[2 * k + 1] = (s11 * s2e - s12 * s1e) / det;
        continue;
      }
    }
    if (use1) beta[2 * k] = s1e / s11;
    else if (use2) beta[2 * k + 1] = s2e / s22;
  }

  // Special days: ratio of sums Σ w·load / Σ w·sunday value per kind and hour.
  const num = new Float64Array(SPECIAL_NAMES.length * 24),
    den = new Float64Array(SPECIAL_NAMES.length * 24);
  const shape = { B, HD, CD, beta };
  // Feast days: every occurrence weighs the same (a year-old bayram is the only one there is).
  const feastSums = new Map<number, [number, number]>();
  for (let r = 0; r < end; r++) {
    const sp = specialOf(f, r);
    if (sp < 0 || !weight[r]) continue;
    const ref = normalValue(shape, f, r, 2);
    if (!(ref > 0)) continue;
    num[sp * 24 + f.calendar.hour[r]] += weight[r] * f.y[r];
    den[sp * 24 + f.calendar.hour[r]] += weight[r] * ref;
    if (f.feast[r] >= 0) {
      const k = f.feast[r] * 24 + f.calendar.hour[r];
      const e = f.estimated[r] ? 0.5 : 1;
      const acc = feastSums.get(k);
      if (acc) (acc[0] += e * f.y[r]), (acc[1] += e * ref);
      else feastSums.set(k, [e * f.y[r], e * ref]);
    }
  }
  const R = new Float64Array(num.length);
  for (let i = 0; i < R.length; i++) R[i] = den[i] > 0 ? num[i] / den[i] : NaN;
  const feastR = new Map<number, number>();
  for (const [k, [a, b]] of feastSums) feastR.set(k, a / b);
  return { B, HD, CD, beta, R, feastR, borrowed };
}

/**
 * Day-ahead replay of rows [from, to): P50 = level × F with the levels at
 * each row's cut-off (start of its local day − gap); from = to = n and gap 0
 * give the levels at the end. Two levels: over the last `levelHours` usable
 * ordinary hours, for ordinary days (a bayram the ratio got wrong must not
 * tilt the day after it), and over the last `levelHours` usable hours of any
 * kind, for special days (the first bayram day corrects the second).
 */
function replay(shape: Shape, f: Frame, usable: Uint8Array, from: number, to: number, levelHours: number, gap: number): { level: Levels; residual: Float64Array } {
  // Look back far enough to find levelHours ordinary hours before a 9-day holiday.
  const lo = Math.max(0, from - levelHours - Math.ceil(gap / H) - 12 * 24);
  const m = to - lo;
  const psY = new Float64Array(m + 1),
    psF = new Float64Array(m + 1),
    allY = new Float64Array(m + 1),
    allF = new Float64Array(m + 1);
  const count = new Uint32Array(m + 1);
  const after: number[] = []; // prefix position after the k-th ordinary hour
  const F = new Float64Array(m);
  for (let r = lo; r < to; r++) {
    const i = r - lo;
    F[i] = profileValue(shape, f, r);
    const use = usable[r] && F[i] === F[i];
    const ordinary = use && specialOf(f, r) < 0;
    allY[i + 1] = allY[i] + (use ? f.y[r] : 0);
    allF[i + 1] = allF[i] + (use ? F[i] : 0);
    psY[i + 1] = psY[i] + (ordinary ? f.y[r] : 0);
    psF[i + 1] = psF[i] + (ordinary ? F[i] : 0);
    count[i + 1] = count[i] + (ordinary ? 1 : 0);
    if (ordinary) after.push(i + 1);
  }
  const ratio = (sy: number, sf: number) => (sf > 0 && sy > 0 ? Math.min(2, Math.max(0.5, sy / sf)) : 1);
  const levelAt = (idx: number): Levels => {
    const t = Math.max(0, Math.min(m, idx - lo));
    const k = count[t] - levelHours;
    const s = k <= 0 ? 0 : after[k - 1];
    const sa = Math.max(0, t - levelHours);
    return { ordinary: ratio(psY[t] - psY[s], psF[t] - psF[s]), special: ratio(allY[t] - allY[sa], allF[t] - allF[sa]) };
  };
  const residual = new Float64Array(to - from).fill(NaN);
  let cutDay = NaN,
    lv: Levels = { ordinary: 1, special: 1 };
  for (let r = from; r < to; r++) {
    if (!usable[r]) continue;
    if (f.calendar.dayStartMs[r] !== cutDay) {
      cutDay = f.calendar.dayStartMs[r];
      lv = levelAt(Math.floor((cutDay - gap - f.fromMs) / H));
    }
    residual[r - from] = f.y[r] - levelOf(lv, f, r) * F[r - lo];
  }
  return { level: levelAt(to), residual };
}

interface Levels {
  readonly ordinary: number;
  readonly special: number;
}

const levelOf = (lv: Levels, f: Frame, r: number) => (specialOf(f, r) < 0 ? lv.ordinary : lv.special);
