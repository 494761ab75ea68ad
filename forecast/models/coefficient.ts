import { localDate, localMonthRange } from '../../models/calendar.js';
import { holidayCalendar } from '../../models/holidays.js';
import type { FitContext, FittedModel, ForecastModel, Horizon, QuantileRow, SeriesData } from '../model.js';
import { spreadByProfile, type ProfileCoefficient, type ProfiledMeter } from '../../models/profile-coefficient-method.js';

/**
 * The profile coefficient method (issue 5, model 2, meters without interval
 * data): a month's consumption spread over its hours by the hourly shares of
 * the meter's coefficient table (EPİAŞ profile coefficients, BDEW standard load
 * profiles; forecast/profile-coefficients.ts `spreadByProfile`, holidays of
 * ctx.country take the `holiday` day type). Kind `profile`.
 *
 * A month's total is `monthlyTotals[YYYY-MM]` when given, else `annualTotal`
 * spread over the calendar year of that month (the month gets its share of
 * the year's coefficients). The forecast of an hour is its part of the month;
 * hours of months with neither total are NaN (info says so at fit).
 *
 * No interval history means no residuals: P10/P90 are P50 × (1 ∓ `band`)
 * (default 0.25), a prior, not a calibrated band.
 */
export interface CoefficientTarget {
  readonly meter: ProfiledMeter;
  /** Expected consumption per local month `YYYY-MM` (same unit as the forecast). */
  readonly monthlyTotals?: Readonly<Record<string, number>>;
  /** Expected consumption per calendar year, for months without a monthly total. */
  readonly annualTotal?: number;
}

export interface CoefficientOptions {
  readonly coefficients: readonly ProfileCoefficient[];
  /** Per series id. */
  readonly targets: Readonly<Record<string, CoefficientTarget>>;
  readonly band?: number;
}

const H = 3_600_000;

export function coefficientModel(opts: CoefficientOptions): ForecastModel {
  const band = opts.band ?? 0.25;
  return {
    kind: 'profile',
    async fit(series: readonly SeriesData[], ctx: FitContext): Promise<FittedModel> {
      const cal = holidayCalendar(ctx.country);
      const info = series.map((s) => {
        const t = opts.targets[s.id];
        if (!t) return { id: s.id, method: 'coefficients', missing: 'no meter/total given for this series: its hours are NaN' };
        if (!t.monthlyTotals && t.annualTotal === undefined) return { id: s.id, method: 'coefficients', missing: 'neither monthlyTotals nor annualTotal: its hours are NaN' };
        return { id: s.id, method: 'coefficients', profileClass: t.meter.profileClass, region: t.meter.region, tariff: t.meter.tariff };
      });
      ctx.onProgress?.(1);
      return {
        kind: 'profile',
        info: { method: 'profile coefficients', band, series: info },
        async predict(horizon: Horizon): Promise<QuantileRow[][]> {
          const n = Math.round((horizon.toMs - horizon.fromMs) / H);
          return series.map((s) => {
            const rows: QuantileRow[] = Array.from({ length: n }, (_, i) => ({ start: horizon.fromMs + i * H, p10: NaN, p50: NaN, p90: NaN }));
            const t = opts.targets[s.id];
            if (!t) return rows;
            const tz = t.meter.timezone;
            const firstYear = Number(new Date(horizon.fromMs).toISOString().slice(0, 4)) - 1;
            const holidays = cal.holidaySet(firstYear, firstYear + 3);
            const set = (hours: { startMs: number; value: number }[]) => {
              for (const h of hours) {
                const i = Math.round((h.startMs - horizon.fromMs) / H);
                if (i >= 0 && i < n && rows[i].p50 !== rows[i].p50) rows[i] = { start: h.startMs, p10: h.value * (1 - band), p50: h.value, p90: h.value * (1 + band) };
              }
            };
            const years = new Set<number>();
            // Months of the horizon with a monthly total.
            for (let m = localMonth(horizon.fromMs, tz); ; m = nextMonth(m)) {
              const range = localMonthRange(m, tz);
              if (range.fromMs >= horizon.toMs) break;
              const total = t.monthlyTotals?.[m];
              if (total !== undefined) set(spreadByProfile({ coefficients: opts.coefficients, total, fromMs: range.fromMs, toMs: range.toMs, meter: t.meter, holidays, decimals: 6 }));
              else if (t.annualTotal !== undefined) years.add(Number(m.slice(0, 4)));
            }
            // The rest from the annual total, spread over whole calendar years.
            for (const y of years) {
              const from = localMonthRange(`${y}-01`, tz).fromMs,
                to = localMonthRange(`${y + 1}-01`, tz).fromMs;
              set(spreadByProfile({ coefficients: opts.coefficients, total: t.annualTotal!, fromMs: from, toMs: to, meter: t.meter, holidays, decimals: 6 }));
            }
            return rows;
          });
        },
      };
    },
  };
}

function localMonth(ms: number, tz: string): string {
  return localDate(ms, tz).slice(0, 7);
}

function nextMonth(m: string): string {
  const [y, mo] = m.split('-').map(Number);
  return mo === 12 ? `${y + 1}-01` : `${y}-${String(mo + 1).padStart(2, '0')}`;
}
