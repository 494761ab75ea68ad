import { dayTypeOf, localDate, localMinuteOfDay } from './calendar.js';
import { ANY_REGION, type ProfileCoefficient, type ReadingType } from './profile-coefficient.js';
import { HOUR_MS } from './time.js';

/**
 * Spreading a period total over hours with EPİAŞ profile coefficients
 * ("profil katsayıları"), for profiled (non-interval) meters: the hourly
 * estimates of sql/profile-coefficient.repository.ts tables, and the forecast
 * module's fallback for meters without interval data. Pure. docs/settlement.md.
 *
 * A meter's coefficients are chosen by its fields: region = distribution
 * company, tariff = reading type (single | three-time), profileClass =
 * subscriber profile group. Rows of the meter's region win; when it has none
 * (or the meter has no region) the rows of region `*` apply.
 */

export type { ProfileCoefficient, ReadingType } from './profile-coefficient.js';
export { ANY_REGION } from './profile-coefficient.js';

/** The meter fields that pick its coefficients and its local hours. */
export interface ProfiledMeter {
  readonly region: string | null;
  readonly tariff: ReadingType;
  readonly profileClass: string | null;
  readonly timezone: string;
}

export interface SpreadInput {
  readonly coefficients: readonly ProfileCoefficient[];
  /** The total to spread (kWh, or any unit: the output is in the same unit). */
  readonly total: number;
  /** First hour start (inclusive) and end (exclusive), epoch ms, whole hours. */
  readonly fromMs: number;
  readonly toMs: number;
  readonly meter: ProfiledMeter;
  /** Local dates that take the `holiday` day type (per-day-type layout); without `holiday` rows they fall back to `sunday`. */
  readonly holidays?: ReadonlySet<string>;
  /**
   * Output resolution in decimals (default 3: Wh for kWh); the sum is exact in
   * these units. For hourly shares (forecasting) pass total 1 and e.g. 12.
   * |total| × 10^decimals must stay below 2^53.
   */
  readonly decimals?: number;
}

export interface SpreadHour {
  readonly startMs: number;
  readonly value: number;
  /** The coefficient used and where it came from (`2026-03-01 h5` or `workday h5 2026-03`). */
  readonly coefficient: number;
  readonly from: string;
}

/** Coefficients missing for some hours, or a zero sum: nothing is spread. */
export class ProfileCoefficientError extends Error {
  constructor(
    message: string,
    /** Local `YYYY-MM-DD hH` hours without a coefficient (first 24). */
    readonly missing: readonly string[] = [],
  ) {
    super(message);
    this.name = 'ProfileCoefficientError';
  }
}

/**
 * Spreads `total` over the hours [fromMs, toMs) in proportion to the meter's
 * coefficients: value_h = total × c_h / Σ c. Rounded to `decimals` by the
 * largest-remainder method, so the values add up to the total (rounded to
 * `decimals`) exactly: Σ round(value_h × 10^decimals) = round(total × 10^decimals).
 * DST: hours are real hours in the meter's zone; on a 23-hour day the skipped
 * wall-clock hour's coefficient is unused, on a 25-hour day the repeated hour
 * takes its coefficient twice. Throws ProfileCoefficientError when an hour has
 * no coefficient or all coefficients are 0 (never a partial spread).
 * @example
 * spreadByProfile({ total: 10, fromMs: Date.parse('2026-03-02T00:00:00+03:00'), toMs: Date.parse('2026-03-02T02:00:00+03:00'),
 *   meter: { region: 'AYEDAS', tariff: 'single', profileClass: 'residential', timezone: 'Europe/Istanbul' },
 *   coefficients: [{ period: '2026-03', region: 'AYEDAS', readingType: 'single', profileGroup: 'residential', date: null, dayType: 'workday', hour: 0, coefficient: 1 },
 *                  { …same, hour: 1, coefficient: 3 }] })
 * // [{ startMs: …00:00, value: 2.5, … }, { startMs: …01:00, value: 7.5, … }]
 */
export function spreadByProfile(input: SpreadInput): SpreadHour[] {
  const { meter, fromMs, toMs } = input;
  const decimals = input.decimals ?? 3;
  if (!meter.profileClass) throw new ProfileCoefficientError('the meter has no profileClass (its subscriber profile group): set it with PUT /v1/meters');
  if (!(toMs > fromMs) || (toMs - fromMs) % HOUR_MS !== 0) throw new ProfileCoefficientError('the range must be whole hours with from < to');
  if (!Number.isFinite(input.total)) throw new ProfileCoefficientError(`total must be a finite number, got ${input.total}`);

  const mine = input.coefficients.filter((c) => c.readingType === meter.tariff && c.profileGroup === meter.profileClass);
  const region = meter.region !== null && mine.some((c) => c.region === meter.region) ? meter.region : ANY_REGION;
  const byDate = new Map<string, number>(); // `date|hour`
  const datesWithRows = new Set<string>();
  const byType = new Map<string, number>(); // `period|dayType|hour`
  const typesOf = new Map<string, Set<string>>(); // period → day types present
  for (const c of mine) {
    if (c.region !== region) continue;
    if (c.date !== null) {
      byDate.set(`${c.date}|${c.hour}`, c.coefficient);
      datesWithRows.add(c.date);
    } else if (c.dayType !== null) {
      byType.set(`${c.period}|${c.dayType}|${c.hour}`, c.coefficient);
      (typesOf.get(c.period) ?? typesOf.set(c.period, new Set()).get(c.period)!).add(c.dayType);
    }
  }

  const holidays = input.holidays ?? new Set<string>();
  const hours: { startMs: number; coefficient: number; from: string }[] = [];
  const missing: string[] = [];
  for (let t = fromMs; t < toMs; t += HOUR_MS) {
    const date = localDate(t, meter.timezone);
    const hour = Math.floor(localMinuteOfDay(t, meter.timezone) / 60);
    let c: number | undefined;
    let from = `${date} h${hour}`;
    if (datesWithRows.has(date)) {
      c = byDate.get(`${date}|${hour}`);
    } else {
      const period = date.slice(0, 7);
      let type = dayTypeOf(date, holidays);
      if (type === 'holiday' && !typesOf.get(period)?.has('holiday')) type = 'sunday';
      c = byType.get(`${period}|${type}|${hour}`);
      from = `${type} h${hour} ${period}`;
    }
    if (c === undefined) missing.push(`${date} h${hour}`);
    else hours.push({ startMs: t, coefficient: c, from });
  }
  const who = `region ${region === ANY_REGION ? '"*"' : `"${region}" (or "*")`}, reading type ${meter.tariff}, profile group "${meter.profileClass}"`;
  if (missing.length) {
    throw new ProfileCoefficientError(
      `no profile coefficient for ${missing.length} hour(s) (${who}), e.g. ${missing.slice(0, 3).join(', ')}: import them with PUT /v1/profiles/coefficients`,
      missing.slice(0, 24),
    );
  }
  const weight = hours.reduce((s, h) => s + h.coefficient, 0);
  if (!(weight > 0)) throw new ProfileCoefficientError(`the profile coefficients of ${who} sum to 0 over the range: nothing to spread by`);

  // Largest remainder in integer units of 10^-decimals.
  const scale = 10 ** decimals;
  const units = Math.round(Math.abs(input.total) * scale);
  if (!Number.isSafeInteger(units)) throw new ProfileCoefficientError(`total ${input.total} at ${decimals} decimals exceeds 2^53 units: use fewer decimals`);
  const sign = input.total < 0 ? -1 : 1;
  const exact = hours.map((h) => (units * h.coefficient) / weight);
  const base = exact.map(Math.floor);
  let left = units - base.reduce((s, x) => s + x, 0);
  const order = exact.map((x, i) => ({ i, r: x - base[i] })).sort((a, b) => b.r - a.r || a.i - b.i);
  for (let k = 0; left > 0; k = (k + 1) % order.length, left--) base[order[k].i]++;
  return hours.map((h, i) => ({ startMs: h.startMs, value: (sign * base[i]) / scale + 0, coefficient: h.coefficient, from: h.from }));
}

export interface RegisterTotal {
  /** Consumption over [fromMs, toMs) in the register's unit. */
  readonly total: number;
  readonly opening: { readonly atMs: number; readonly value: number };
  readonly closing: { readonly atMs: number; readonly value: number };
  /** closing − opening scaled by (toMs − fromMs) / (closing.atMs − opening.atMs): the reads were not on the period bounds. */
  readonly prorated: boolean;
}

/**
 * A period's consumption from register (index) reads: the read nearest the
 * period start and the read nearest its end, each within `toleranceMs`
 * (default 3 days), closing − opening, scaled pro rata to the period length
 * when the reads are not exactly on its bounds. Returns the reason instead
 * when there is no such pair or the index went down (a meter change or reset:
 * no total can be told).
 * @example periodTotalFromRegister([{ atMs: from, value: 1000 }, { atMs: to, value: 1300 }], from, to) // { total: 300, prorated: false, … }
 */
export function periodTotalFromRegister(reads: readonly { atMs: number; value: number }[], fromMs: number, toMs: number, toleranceMs = 3 * 86_400_000): RegisterTotal | { reason: string } {
  const nearest = (t: number) => {
    let best: { atMs: number; value: number } | undefined;
    for (const r of reads) if (Math.abs(r.atMs - t) <= toleranceMs && (!best || Math.abs(r.atMs - t) < Math.abs(best.atMs - t))) best = r;
    return best;
  };
  const days = Math.round(toleranceMs / 86_400_000);
  const opening = nearest(fromMs);
  const closing = nearest(toMs);
  if (!opening || !closing) return { reason: `no register read within ${days} days of the period ${opening ? 'end' : 'start'}: give the total in the request, or import the reads` };
  if (closing.atMs <= opening.atMs) return { reason: 'the register reads nearest the period start and end are the same read' };
  const delta = closing.value - opening.value;
  if (delta < 0) return { reason: `the register went down from ${opening.value} to ${closing.value} (meter change or reset): give the total in the request` };
  const prorated = opening.atMs !== fromMs || closing.atMs !== toMs;
  return { total: prorated ? (delta * (toMs - fromMs)) / (closing.atMs - opening.atMs) : delta, opening, closing, prorated };
}
