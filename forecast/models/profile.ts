import { buildFeatures, dayAheadGapMs, DAY_TYPE_CODE, type FeatureFrame } from '../features.js';
import type { FitContext, FittedModel, ForecastModel, Horizon, QuantileRow, SeriesData } from '../model.js';
import { fitResidualQuantiles, quantileRow, type ResidualQuantiles } from '../quantiles.js';
import { naiveP50 } from './naive.js';

/**
 * Profile model (issue 5, model 2): per series, a typical shape by day type ×
 * local hour, recency-weighted, temperature-corrected by regression on degree
 * hours, scaled to the recent level.
 *
 * Fit, on the `historyDays` (default 365) before the cut-off:
 * 1. Usable hours: known, not part of a flat line (≥ `flatHours` (6) equal
 *    values in a row — the Cambridge data hides gaps as runs of zeros).
 * 2. Buckets: day type (workday, saturday, sunday, holiday — public, religious
 *    and bridge days) × local hour, plus one for eve (arife) afternoons. Each
 *    hour weighs 0.5^(age / halfLifeDays) (default 28 days), estimated values
 *    half. Bucket value B = weighted mean of the load; also the weighted mean
 *    heating and cooling degree hours of the bucket.
 * 3. Temperature: weighted least squares of (load − B) on (hdd − its bucket
 *    mean) and (cdd − its bucket mean), no intercept, one (β_heat, β_cool) per
 *    6-hour block of the local day (closed form, 2 × 2; a term with fewer
 *    than 48 hours of non-zero degree hours in the block is dropped). Profile value F = B + β·(degree hours − mean).
 * 4. Level: P50 = F × (Σ load / Σ F over the usable hours of the week before
 *    the cut-off), the ratio clamped to [0.5, 2] (1 without data).
 * A bucket without samples borrows: holiday → sunday → saturday →
 * workday, saturday ↔ sunday, eve afternoon → the mean of workday and sunday.
 *
 * Quality gates (per series): fewer than `minHistoryDays` (14) usable days, or
 * more than `maxBadShare` (50 %) of the last 8 weeks missing or flat → the
 * series falls back to naive D−7; FittedModel.info says which and why.
 *
 * P10/P90: residual quantiles (forecast/quantiles) of the model replayed
 * day-ahead over the last 56 days (the level ratio recomputed at each day's
 * cut-off; the shape is in-sample, so the band is slightly optimistic).
 */
export interface ProfileOptions {
  readonly historyDays?: number;
  readonly halfLifeDays?: number;
  readonly minHistoryDays?: number;
  readonly maxBadShare?: number;
  readonly flatHours?: number;
  readonly levelHours?: number;
  readonly hddBase?: number;
  readonly cddBase?: number;
}

const H = 3_600_000;
const DAY = 86_400_000;
const GROUPS = 5; // 4 day types + eve afternoon
const EVE = 4;
const GROUP_NAMES = ['workday', 'saturday', 'sunday', 'holiday', 'eve afternoon'];
const BLOCKS = 4;
const MIN_ACTIVE = 48;

interface SeriesFit {
  readonly s: SeriesData;
  readonly fallback?: string;
  readonly shape?: Shape;
  readonly level: number;
  readonly q: ResidualQuantiles;
  readonly floor: number;
  readonly info: Record<string, unknown>;
}

export function profileModel(opts: ProfileOptions = {}): ForecastModel {
  const o = {
    historyDays: opts.historyDays ?? 365,
    halfLifeDays: opts.halfLifeDays ?? 28,
    minHistoryDays: opts.minHistoryDays ?? 14,
    maxBadShare: opts.maxBadShare ?? 0.5,
    flatHours: opts.flatHours ?? 6,
    levelHours: opts.levelHours ?? 168,
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
            const f = buildFeatures(fit.s, ctx, horizon, o.featureOptions);
            const rows: QuantileRow[] = new Array(f.rows);
            for (let r = 0; r < f.rows; r++) {
              const p50 = fit.shape ? fit.level * profileValue(fit.shape, f, r) : naiveP50(f, r, 'd7');
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
  halfLifeDays: number;
  minHistoryDays: number;
  maxBadShare: number;
  flatHours: number;
  levelHours: number;
  featureOptions: { hddBase: number; cddBase: number };
};

const bucketOf = (f: FeatureFrame, r: number) => (f.eveAfternoon[r] ? EVE : f.calendar.dayType[r]) * 24 + f.calendar.hour[r];

function profileValue(fit: Pick<Shape, 'B' | 'HD' | 'CD' | 'beta'>, f: FeatureFrame, r: number): number {
  const b = bucketOf(f, r);
  let v = fit.B[b];
  const hdd = f.columns.hdd[r], cdd = f.columns.cdd[r];
  if (hdd === hdd) {
    const k = 2 * Math.floor(f.calendar.hour[r] / (24 / BLOCKS));
    v += fit.beta[k] * (hdd - fit.HD[b]) + fit.beta[k + 1] * (cdd - fit.CD[b]);
  }
  return v;
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
  const fromMs = Math.max(s.startMs, toMs - o.historyDays * DAY);
  const f = buildFeatures(s, ctx, { fromMs, toMs }, o.featureOptions);
  const n = f.rows;
  const flat = flatMask(f.y, o.flatHours);
  const usable = new Uint8Array(n);
  let usableCount = 0, minValue = Infinity;
  for (let r = 0; r < n; r++) {
    if (f.y[r] === f.y[r] && !flat[r]) {
      usable[r] = 1;
      usableCount++;
      if (f.y[r] < minValue) minValue = f.y[r];
    }
  }
  const floor = minValue >= 0 ? 0 : -Infinity;
  const recent = Math.max(0, n - 56 * 24);
  let missing = 0, flats = 0;
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
  else if (gapShare + flatShare > o.maxBadShare) fallback = `too many gaps/flat lines in the last 8 weeks: ${Math.round((gapShare + flatShare) * 100)} % > ${Math.round(o.maxBadShare * 100)} % → naive D−7`;
  if (fallback) {
    const resid = new Float64Array(n);
    for (let r = recent; r < n; r++) resid[r] = usable[r] ? f.y[r] - naiveP50(f, r, 'd7') : NaN;
    for (let r = 0; r < recent; r++) resid[r] = NaN;
    const q = fitResidualQuantiles({ hour: f.calendar.hour, dayType: f.calendar.dayType, residual: resid });
    return { s, fallback, level: 1, q, floor, info: { ...info, method: 'naive', fallback } };
  }

  const shape = fitShape(f, usable, n, o.halfLifeDays);
  const level = replay(shape, f, usable, n, n, o.levelHours, 0).level;
  // Residuals, out of sample: the last 56 days replayed day-ahead in blocks of
  // 14 days, the shape refitted on the data before each block, the level ratio
  // at each day's cut-off.
  const gap = dayAheadGapMs(s, ctx);
  const resid = new Float64Array(n).fill(NaN);
  for (let b0 = recent; b0 < n; b0 += 14 * 24) {
    const b1 = Math.min(n, b0 + 14 * 24);
    const sh = fitShape(f, usable, b0, o.halfLifeDays);
    const rep = replay(sh, f, usable, b0, b1, o.levelHours, gap);
    for (let r = b0; r < b1; r++) resid[r] = rep.residual[r - b0];
  }
  const q = fitResidualQuantiles({ hour: f.calendar.hour, dayType: f.calendar.dayType, residual: resid });
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  const { beta, borrowed } = shape;
  return {
    s,
    shape,
    level,
    q,
    floor,
    info: { ...info, method: 'profile', level: r3(level), betaHeat: Array.from({ length: BLOCKS }, (_, k) => r3(beta[2 * k])), betaCool: Array.from({ length: BLOCKS }, (_, k) => r3(beta[2 * k + 1])), borrowed: [...borrowed] },
  };
}

interface Shape {
  readonly B: Float64Array;
  readonly HD: Float64Array;
  readonly CD: Float64Array;
  readonly beta: Float64Array;
  readonly borrowed: ReadonlySet<string>;
}

/** Bucket means and temperature coefficients from the usable rows before `end`, weights relative to row `end`. */
function fitShape(f: FeatureFrame, usable: Uint8Array, end: number, halfLifeDays: number): Shape {
  // Bucket means (recency-weighted).
  const NB = GROUPS * 24;
  const W = new Float64Array(NB), cnt = new Uint32Array(NB), B = new Float64Array(NB), HD = new Float64Array(NB), CD = new Float64Array(NB);
  const hasTemp = new Float64Array(NB);
  const weight = new Float64Array(end);
  const decay = Math.LN2 / (halfLifeDays * DAY);
  const endMs = f.fromMs + end * H;
  for (let r = 0; r < end; r++) {
    if (!usable[r]) continue;
    const w = Math.exp(-decay * (endMs - (f.fromMs + r * H))) * (f.estimated[r] ? 0.5 : 1);
    weight[r] = w;
    const b = bucketOf(f, r);
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
  // Borrow for empty buckets: one bayram day of the same kind says more than any Sunday.
  const ok = (g: number, h: number) => cnt[g * 24 + h] >= 1;
  const borrow: Record<number, number[]> = {
    [DAY_TYPE_CODE.workday]: [DAY_TYPE_CODE.saturday, DAY_TYPE_CODE.sunday],
    [DAY_TYPE_CODE.saturday]: [DAY_TYPE_CODE.sunday, DAY_TYPE_CODE.workday],
    [DAY_TYPE_CODE.sunday]: [DAY_TYPE_CODE.saturday, DAY_TYPE_CODE.workday],
    [DAY_TYPE_CODE.holiday]: [DAY_TYPE_CODE.sunday, DAY_TYPE_CODE.saturday, DAY_TYPE_CODE.workday],
  };
  const borrowed = new Set<string>();
  for (let h = 0; h < 24; h++) {
    for (let g = 0; g < 4; g++) {
      if (ok(g, h)) continue;
      const from = borrow[g].find((x) => ok(x, h));
      const b = g * 24 + h;
      if (from !== undefined) [B[b], HD[b], CD[b]] = [B[from * 24 + h], HD[from * 24 + h], CD[from * 24 + h]];
      borrowed.add(`${GROUP_NAMES[g]}←${from === undefined ? 'none' : GROUP_NAMES[from]}`);
    }
    if (!ok(EVE, h)) {
      const w = DAY_TYPE_CODE.workday * 24 + h, su = DAY_TYPE_CODE.sunday * 24 + h;
      const e = EVE * 24 + h;
      [B[e], HD[e], CD[e]] = [(B[w] + B[su]) / 2, (HD[w] + HD[su]) / 2, (CD[w] + CD[su]) / 2];
    }
  }

  // Temperature regression per 6-hour block: (load − B) ~ β_h (hdd − HD) + β_c (cdd − CD).
  const S = new Float64Array(BLOCKS * 5); // s11, s12, s22, s1e, s2e
  const active = new Uint32Array(BLOCKS * 2); // hours with hdd > 0, cdd > 0
  for (let r = 0; r < end; r++) {
    const w = weight[r];
    const hdd = f.columns.hdd[r];
    if (!w || hdd !== hdd) continue;
    const b = bucketOf(f, r);
    const x1 = hdd - HD[b], x2 = f.columns.cdd[r] - CD[b], e = f.y[r] - B[b];
    const blk = Math.floor(f.calendar.hour[r] / (24 / BLOCKS)), k = 5 * blk;
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
    const use1 = active[2 * k] >= MIN_ACTIVE && s11 > 1e-9, use2 = active[2 * k + 1] >= MIN_ACTIVE && s22 > 1e-9;
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

  return { B, HD, CD, beta, borrowed };
}

/**
 * Day-ahead replay of rows [from, to): P50 = level × F, the level ratio taken
 * over the `levelHours` usable hours before each row's cut-off (start of its
 * local day − gap; gap 0 and from = to = n gives the level at the end).
 */
function replay(shape: Shape, f: FeatureFrame, usable: Uint8Array, from: number, to: number, levelHours: number, gap: number): { level: number; residual: Float64Array } {
  const lo = Math.max(0, from - levelHours - Math.ceil(gap / H) - 25);
  const m = to - lo;
  const psY = new Float64Array(m + 1), psF = new Float64Array(m + 1);
  const F = new Float64Array(m);
  for (let r = lo; r < to; r++) {
    const i = r - lo;
    F[i] = profileValue(shape, f, r);
    const use = usable[r] && F[i] === F[i];
    psY[i + 1] = psY[i] + (use ? f.y[r] : 0);
    psF[i + 1] = psF[i] + (use ? F[i] : 0);
  }
  const levelAt = (idx: number) => {
    const t = Math.max(0, Math.min(m, idx - lo)), s = Math.max(0, t - levelHours);
    const sy = psY[t] - psY[s], sf = psF[t] - psF[s];
    return sf > 0 && sy > 0 ? Math.min(2, Math.max(0.5, sy / sf)) : 1;
  };
  const residual = new Float64Array(to - from).fill(NaN);
  for (let r = from; r < to; r++) {
    if (!usable[r]) continue;
    const cut = Math.floor((f.calendar.dayStartMs[r] - gap - f.fromMs) / H);
    residual[r - from] = f.y[r] - levelAt(cut) * F[r - lo];
  }
  return { level: levelAt(to), residual };
}
