import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dayAheadBacktest, retrain, shouldPromote } from '../forecast/champion.js';
import type { FitContext, QuantileRow, SeriesData } from '../forecast/model.js';
import { frozenMlModel, loadMlModel, mlModel, trainingMemo, type MlArtefact, type MlFittedModel, type MlModelOptions } from '../forecast/models/ml.js';
import { seededRandom } from '../models/random.js';
import { tf, tfReady } from '../forecast/tf-backend.js';
import { shiftDate, startOfLocalDate } from '../models/calendar.js';
import type { Database } from '../sql/database.js';
import { getChampion, getForecastModel, listForecastModels, promoteModel, retireModel, saveChallenger } from '../sql/forecast-model.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const TZ = 'Europe/Istanbul'; // UTC+3 all year: local hour = UTC hour + 3
const START = Date.parse('2025-01-01T00:00:00+03:00');

/**
 * A building-like series: workdays 08–18 high, nights and weekends low, a
 * heating load 0.06·max(0, 16 − T) on day-to-day weather swings (AR(1) daily
 * anomaly ± 4 °C on a seasonal and daily cycle), ±3 % noise. The temperature
 * grid runs two days past the values (the weather forecast of a horizon).
 */
function building(id: string, scale: number, days: number, seed: number): SeriesData {
  const r = seededRandom(seed);
  const n = days * 24;
  const values = new Float64Array(n);
  const temperature = new Float64Array(n + 48);
  let anomaly = 0;
  for (let i = 0; i < n + 48; i++) {
    const local = new Date(START + i * HOUR + 3 * HOUR);
    const h = local.getUTCHours();
    const wd = local.getUTCDay();
    if (h === 0) anomaly = 0.6 * anomaly + (r() - 0.5) * 8;
    const T = 8 + 8 * Math.sin((2 * Math.PI * (i / 24 - 100)) / 365) + anomaly + 4 * Math.sin((2 * Math.PI * (h - 9)) / 24);
    temperature[i] = T;
    if (i >= n) continue;
    const workday = wd >= 1 && wd <= 5;
    const shape = (h >= 8 && h < 18 ? (workday ? 1.6 : 0.9) : 0.6) + 0.2 * Math.sin((2 * Math.PI * h) / 24);
    values[i] = scale * (shape + 0.06 * Math.max(0, 16 - T)) * (1 + 0.03 * (r() - 0.5) * 2);
  }
  return { id, timezone: TZ, startMs: START, values, temperature };
}

/** What a model may see at `cutoff`: values after it NaN (temperatures kept: the weather forecast). */
function asOf(s: SeriesData, cutoff: number): SeriesData {
  return { ...s, values: s.values.map((v, i) => (s.startMs + (i + 1) * HOUR <= cutoff ? v : NaN)) };
}

function dayAhead(date: string): { ctx: FitContext; fromMs: number; toMs: number } {
  const issue = startOfLocalDate(date, TZ) + 10 * HOUR;
  return { ctx: { issueTime: issue, dataCutoff: issue, country: 'TR' }, fromMs: startOfLocalDate(shiftDate(date, 1), TZ), toMs: startOfLocalDate(shiftDate(date, 2), TZ) };
}

const valueAt = (s: SeriesData, t: number) => s.values[(t - s.startMs) / HOUR];

// Small and quick: a few thousand rows, few epochs (the bench runs the full size).
const FAST: MlModelOptions = { seed: 11, maxTrainingRows: 4000, maxEpochs: 12, patience: 4, batchSize: 128, hidden: [32, 16], maxTrainSeconds: Infinity };
const DAYS = 150;
const SERIES = [building('meter:a', 10, DAYS, 1), building('meter:b', 60, DAYS, 2)];
const FIRST_ISSUE = shiftDate('2025-01-01', DAYS - 9); // 7 issue days, each forecast day inside the data

let fitted: MlFittedModel;
let tensorsBefore: number;

beforeAll(async () => {
  await tfReady(() => {});
  tensorsBefore = tf.memory().numTensors;
  const { ctx } = dayAhead(FIRST_ISSUE);
  fitted = await mlModel(FAST).fit(
    SERIES.map((s) => asOf(s, ctx.dataCutoff)),
    ctx,
  );
}, 60_000);

describe('ML model (global MLP)', () => {
  it('trains one global model over both meters with a validation tail', () => {
    expect(fitted.info.fallback).toBeUndefined();
    expect(fitted.info.seriesUsed).toBe(2);
    expect(fitted.info.validationRows).toBe(Math.floor(Number(fitted.info.rows) * 0.15));
    expect(fitted.artefact?.features).not.toContain('doySin');
  });

  it('day-ahead P50 beats naive D−7 (MAE over 7 issue days, both meters)', async () => {
    let model: MlFittedModel = fitted;
    let mlAbs = 0,
      naiveAbs = 0,
      inside = 0,
      n = 0;
    for (let d = 0; d < 7; d++) {
      const { ctx, fromMs, toMs } = dayAhead(shiftDate(FIRST_ISSUE, d));
      if (d > 0)
        model = (await model.update!(
          SERIES.map((s) => asOf(s, ctx.dataCutoff)),
          ctx,
        )) as MlFittedModel;
      const rows = await model.predict({ fromMs, toMs });
      expect(rows.map((r) => r.length)).toEqual([24, 24]);
      rows.forEach((rs, j) => {
        for (const r of rs) {
          const y = valueAt(SERIES[j], r.start);
          expect(r.p10).toBeLessThanOrEqual(r.p50);
          expect(r.p50).toBeLessThanOrEqual(r.p90);
          mlAbs += Math.abs(r.p50 - y);
          naiveAbs += Math.abs(valueAt(SERIES[j], r.start - 7 * DAY) - y);
          if (r.p10 <= y && y <= r.p90) inside++;
          n++;
        }
      });
    }
    expect(n).toBe(7 * 2 * 24);
    expect(mlAbs / n).toBeLessThan(naiveAbs / n);
    // The P10–P90 band is neither empty nor everything.
    expect(inside / n).toBeGreaterThan(0.4);
    expect(inside / n).toBeLessThan(1);
  });

  it('artefact round-trip (JSON) gives identical predictions', async () => {
    const { ctx, fromMs, toMs } = dayAhead(shiftDate(FIRST_ISSUE, 3));
    const series = SERIES.map((s) => asOf(s, ctx.dataCutoff));
    const stored = JSON.parse(JSON.stringify(fitted.artefact)) as Record<string, unknown>;
    const direct = await fitted.update!(series, ctx);
    const restored = await loadMlModel(stored, series, ctx);
    const frozen = await frozenMlModel(stored).fit(series, ctx);
    const a = await direct.predict({ fromMs, toMs });
    expect(await restored.predict({ fromMs, toMs })).toEqual(a);
    expect(await frozen.predict({ fromMs, toMs })).toEqual(a);
    expect(a[0].every((r) => Number.isFinite(r.p50))).toBe(true);
  });

  it('rejects an artefact of another format or feature set with a reason', async () => {
    const { ctx } = dayAhead(FIRST_ISSUE);
    const a = fitted.artefact!;
    await expect(loadMlModel({ ...a, format: 'mdm-ml/0' } as unknown as MlArtefact, SERIES, ctx)).rejects.toThrow(/format "mdm-ml\/0" is not mdm-ml\/1: retrain/);
    await expect(loadMlModel({ ...a, features: [...a.features.slice(1), 'windChill'] } as unknown as MlArtefact, SERIES, ctx)).rejects.toThrow(/windChill/);
  });

  it('same seed, same data → same forecasts', async () => {
    const { ctx, fromMs, toMs } = dayAhead(FIRST_ISSUE);
    const one = [asOf(SERIES[0], ctx.dataCutoff)];
    const tiny: MlModelOptions = { seed: 5, maxTrainingRows: 1500, maxEpochs: 3, hidden: [8], maxTrainSeconds: Infinity };
    const a = await (await mlModel(tiny).fit(one, ctx)).predict({ fromMs, toMs });
    const b = await (await mlModel(tiny).fit(one, ctx)).predict({ fromMs, toMs });
    expect(b).toEqual(a);
  });

  it('a training memo reuses the network trained on the same rows with the same options (same forecasts); other options train', async () => {
    const { ctx, fromMs, toMs } = dayAhead(FIRST_ISSUE);
    const one = [asOf(SERIES[0], ctx.dataCutoff)];
    const tiny: MlModelOptions = { seed: 5, maxTrainingRows: 1500, maxEpochs: 3, hidden: [8], maxTrainSeconds: Infinity, trainings: trainingMemo() };
    const a = await mlModel(tiny).fit(one, ctx);
    const b = await mlModel(tiny).fit(one, ctx);
    const c = await mlModel({ ...tiny, seed: 6 }).fit(one, ctx);
    expect([a.info.reused, b.info.reused, c.info.reused]).toEqual([undefined, true, undefined]);
    expect(b.artefact?.weights).toEqual(a.artefact?.weights);
    expect(await b.predict({ fromMs, toMs })).toEqual(await a.predict({ fromMs, toMs }));
    expect(c.artefact?.weights).not.toEqual(a.artefact?.weights);
  });

  it('quality gates: too little history, gaps and flat lines fall back with the reason', async () => {
    const { ctx, fromMs, toMs } = dayAhead(FIRST_ISSUE);
    const short: SeriesData = { ...SERIES[0], id: 'meter:new', startMs: ctx.dataCutoff - 10 * DAY, values: new Float64Array(10 * 24).fill(5) };
    const flat: SeriesData = { ...asOf(SERIES[0], ctx.dataCutoff), id: 'meter:flat', values: new Float64Array(DAYS * 24).fill(3) };
    const gappy = asOf(SERIES[1], ctx.dataCutoff);
    const holes = gappy.values.map((v, i) => (i % 3 === 0 ? NaN : v)); // a third missing
    const r = await mlModel(FAST).fit([short, flat, { ...gappy, id: 'meter:gappy', values: holes }], ctx);
    expect(r.info.fallback).toMatch(/^too little history: meter:new: 10 days of history before the cut-off \(at least 28 needed\)/);
    expect(r.info.seriesFallback).toEqual({
      'meter:new': expect.stringMatching(/10 days of history/),
      'meter:flat': 'meter:flat: flat line over the last 28 days (3)',
      'meter:gappy': expect.stringMatching(/^meter:gappy: 448 of the 672 hours before the cut-off have values \(at least 538 needed: too many gaps\)$/),
    });
    expect(r.artefact).toBeUndefined();
    const rows = (await r.predict({ fromMs, toMs })) as QuantileRow[][];
    expect(rows.map((x) => x.length)).toEqual([24, 24, 24]);
    expect(rows.flat().every((x) => Number.isNaN(x.p50))).toBe(true);
  });

  it('leaks no tensors across fits, predictions and restores', async () => {
    expect(tf.memory().numTensors).toBe(tensorsBefore);
  });

  it('backend: tfjs-node when installed, else wasm, named in info; its rethrowing process listeners are removed', async () => {
    const { backend } = await tfReady(() => {});
    expect(['tensorflow', 'wasm']).toContain(backend); // wasm here: tfjs-node is not a dependency
    expect(fitted.info.backend).toBe(backend);
    // Emscripten's: function (ex) { if (!(ex instanceof ExitStatus)) { throw ex; } } and function (reason) { throw reason; }
    const emscripten = (l: unknown) => /ExitStatus|^function ?\(reason\) ?\{ ?throw reason;? ?\}$/.test(String(l));
    expect(process.listeners('uncaughtException').some(emscripten)).toBe(false);
    expect(process.listeners('unhandledRejection').some(emscripten)).toBe(false);
  });
});

describe('shouldPromote', () => {
  it('no champion → promote; champion beaten by more than the margin → promote; else keep', () => {
    expect(shouldPromote(undefined, { n: 168, wape: 0.12 })).toEqual({ promote: true, reason: 'no champion yet' });
    // 0.10 × (1 − 0.02) = 0.098: 0.0979 promotes, 0.098 and 0.099 do not.
    expect(shouldPromote({ n: 168, wape: 0.1 }, { n: 168, wape: 0.0979 }).promote).toBe(true);
    expect(shouldPromote({ n: 168, wape: 0.1 }, { n: 168, wape: 0.098 }).promote).toBe(false);
    expect(shouldPromote({ n: 168, wape: 0.1 }, { n: 168, wape: 0.099 })).toEqual({ promote: false, reason: 'challenger WAPE 9.90 % does not beat champion 10.00 % by 2.00 % of it' });
    expect(shouldPromote({ n: 168, wape: 0.1 }, { n: 168, wape: 0.09 }, 0.15).promote).toBe(false); // 0.09 ≥ 0.085
  });
  it('an invalid challenger never promotes; an invalid champion is replaced', () => {
    expect(shouldPromote(undefined, { n: 0, wape: NaN }).promote).toBe(false);
    expect(shouldPromote({ n: 168, wape: 0.1 }, { n: 168, wape: NaN }).promote).toBe(false);
    expect(shouldPromote({ n: 0, wape: NaN }, { n: 168, wape: 0.5 })).toEqual({ promote: true, reason: 'champion has no valid backtest (0 hours, WAPE NaN)' });
  });
});

describe.each(FLAVOURS)('forecast_models repository and retrain (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
  });
  afterAll(async () => {
    await database?.close();
  });

  it('versions per target and kind; one champion; promote retires the previous one', async () => {
    const cutoff = new Date('2025-05-01T07:00:00Z');
    expect(await getChampion(database, 'portfolio:P', 'ml')).toBeUndefined();
    const v1 = await saveChallenger(database, { target: 'portfolio:P', kind: 'ml', artefact: { format: 'x', w: [1, 2] }, metrics: { wape: 0.1 }, dataCutoff: cutoff });
    const v2 = await saveChallenger(database, { target: 'portfolio:P', kind: 'ml', artefact: { format: 'x', w: [3] }, dataCutoff: cutoff });
    const other = await saveChallenger(database, { target: 'meter:M', kind: 'ml', artefact: {}, dataCutoff: cutoff });
    expect([v1.version, v2.version, other.version]).toEqual([1, 2, 1]);
    expect(v1).toMatchObject({ status: 'challenger', artefact: { format: 'x', w: [1, 2] }, metrics: { wape: 0.1 }, promotedAt: null });
    expect(v1.dataCutoff.toISOString()).toBe('2025-05-01T07:00:00.000Z');

    const p1 = await promoteModel(database, v1.id, { wape: 0.09 });
    expect(p1).toMatchObject({ id: v1.id, status: 'champion', metrics: { wape: 0.09 } });
    expect(p1!.promotedAt).toBeInstanceOf(Date);
    expect((await getChampion(database, 'portfolio:P', 'ml'))?.id).toBe(v1.id);

    await promoteModel(database, v2.id);
    expect((await getChampion(database, 'portfolio:P', 'ml'))?.id).toBe(v2.id);
    expect((await getForecastModel(database, v1.id))?.status).toBe('retired');
    expect(await promoteModel(database, v1.id)).toBeUndefined(); // a retired model stays retired
    expect(await retireModel(database, other.id)).toBe(true);
    expect(await retireModel(database, 999_999)).toBe(false);
    expect((await listForecastModels(database, 'portfolio:P')).map((m) => [m.version, m.status])).toEqual([
      [2, 'champion'],
      [1, 'retired'],
    ]);
  });

  it('retrain: first challenger is promoted (no champion), an identical one is not', async () => {
    const { ctx } = dayAhead(FIRST_ISSUE);
    const series = SERIES.map((s) => asOf(s, ctx.dataCutoff));
    const opts = { backtestDays: 7, ml: { seed: 3, maxTrainingRows: 2000, maxEpochs: 4, hidden: [16] } };
    const progress: number[] = [];
    const first = await retrain(database, 'portfolio:R', series, { ...ctx, onProgress: (f) => progress.push(f) }, dayAheadBacktest(), opts);
    expect(first.outcome).toBe('promoted');
    expect(first.reason).toBe('no champion yet');
    expect(first.challengerMetrics?.n).toBe(6 * 2 * 24); // issue days D−7 … D−2 (forecasting D−6 … D−1), both meters
    expect(progress.at(-1)).toBe(1);
    expect(first.model?.dataCutoff.getTime()).toBe(ctx.dataCutoff - 7 * DAY);

    const second = await retrain(database, 'portfolio:R', series, ctx, dayAheadBacktest(), opts);
    expect(second.outcome).toBe('retired');
    expect(second.championId).toBe(first.model?.id);
    expect(second.challengerMetrics?.wape).toBe(second.championMetrics?.wape);
    expect(second.reason).toMatch(/does not beat champion/);
    expect((await getChampion(database, 'portfolio:R', 'ml'))?.id).toBe(first.model?.id);
    expect(second.model).toMatchObject({ version: 2, status: 'retired' });
  });

  it('retrain: a target that fails the quality gate is skipped with the reason and nothing stored', async () => {
    const { ctx } = dayAhead(FIRST_ISSUE);
    const young: SeriesData = { ...SERIES[0], id: 'meter:young', startMs: ctx.dataCutoff - 40 * DAY, values: SERIES[0].values.slice(-40 * 24) };
    // 40 days of values, but training stops 28 days before the cut-off (the backtest window): 12 days.
    const r = await retrain(database, 'meter:young', [young], ctx, dayAheadBacktest());
    expect(r).toEqual({ outcome: 'skipped', reason: 'too little history: meter:young: 12 days of history before the cut-off (at least 28 needed)' });
    expect(await listForecastModels(database, 'meter:young')).toEqual([]);
  });
});
