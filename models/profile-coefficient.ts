import { z } from 'zod';
import type { DayType } from './calendar.js';
import { boundedText, FIELD_LIMITS, fieldProblem } from './input-bounds.js';
import { amount, codeText, idText, MAX_ABS_AMOUNT, quote } from './input-schemas.js';
import { TARIFFS } from './meter.js';

/** Reading types of profile coefficients: the meter tariffs (single, three-time). */
export const READING_TYPES = TARIFFS;
export type ReadingType = (typeof TARIFFS)[number];
export const DAY_TYPES = ['workday', 'saturday', 'sunday', 'holiday'] as const satisfies readonly DayType[];

/** Region of the coefficients that apply to meters of any (or no) distribution company. */
export const ANY_REGION = '*';

/** One hourly multiplier, in one of two layouts: per local date, or per day type of a month. */
export interface ProfileCoefficient {
  /** Month `YYYY-MM` the row belongs to (the month of `date` in the per-day layout). */
  readonly period: string;
  /** Distribution company, or `*`. */
  readonly region: string;
  readonly readingType: ReadingType;
  /** Subscriber profile group (residential, commercial, …): the meter's profileClass. */
  readonly profileGroup: string;
  /** Per-day layout: the local date `YYYY-MM-DD`; null in the per-day-type layout. */
  readonly date: string | null;
  /** Per-day-type layout: the day type every date of `period` of that type takes; null in the per-day layout. */
  readonly dayType: DayType | null;
  /** Local wall-clock hour 0–23 in the meter's time zone. */
  readonly hour: number;
  /** Relative weight ≥ 0; only ratios matter (shares are normalised over the hours spread). */
  readonly coefficient: number;
}

/**
 * Profile coefficient rows as imported (PUT /v1/profiles/coefficients, CSV):
 * docs/settlement.md "Profile coefficients".
 */
export const ProfileCoefficientInputSchema = z.object({
  period: z.string().optional().describe('Month YYYY-MM; required with dayType, implied by date'),
  region: idText().describe('Distribution company as in meters.region, or "*" for every company'),
  readingType: z.enum(READING_TYPES).describe("Reading type: single or three-time (the meter's tariff)"),
  profileGroup: codeText().describe("Subscriber profile group (the meter's profileClass), e.g. residential"),
  date: z.string().optional().describe('Per-day layout: local date YYYY-MM-DD'),
  dayType: z.enum(DAY_TYPES).optional().describe('Per-day-type layout: workday, saturday, sunday, holiday'),
  hour: z.number().int().describe('Local wall-clock hour 0–23'),
  coefficient: amount().min(0).describe('Hourly multiplier ≥ 0; only ratios matter'),
});

export const ProfileCoefficientsBodySchema = z.object({ coefficients: z.array(ProfileCoefficientInputSchema) });

const KEYS = new Set(Object.keys(ProfileCoefficientInputSchema.shape));
/** Months and dates from 1990 to 2099 (the stored window, models/input-schemas.ts). */
const PERIOD = /^(199\d|20\d\d)-(0[1-9]|1[0-2])$/;
const DATE = /^(199\d|20\d\d)-\d{2}-\d{2}$/;

/** A real date (2026-02-30 is not; an invalid Date must not reach toISOString, which throws). */
function isCalendarDate(d: string): boolean {
  const ms = Date.parse(`${d}T00:00:00Z`);
  return !Number.isNaN(ms) && new Date(ms).toISOString().slice(0, 10) === d;
}

/**
 * Checks raw coefficient rows one by one (one bad row rejects only itself):
 * exactly one of date / dayType, a real date, period matching the date's
 * month (or given, with dayType), hour 0–23, coefficient finite ≥ 0, known
 * reading type, each key once per request. Pure.
 */
export function checkCoefficientRows(raw: readonly unknown[]): { rows: (ProfileCoefficient & { index: number })[]; rejected: { index: number; reason: string }[] } {
  const rows: (ProfileCoefficient & { index: number })[] = [];
  const rejected: { index: number; reason: string }[] = [];
  const seen = new Map<string, number>();
  raw.forEach((r, index) => {
    const reject = (reason: string) => rejected.push({ index, reason });
    if (r === null || typeof r !== 'object' || Array.isArray(r)) return reject('row must be an object {region, readingType, profileGroup, date | period+dayType, hour, coefficient}');
    const o = r as Record<string, unknown>;
    const unknown = Object.keys(o).find((k) => !KEYS.has(k));
    if (unknown) return reject(`unknown field "${boundedText(unknown, 64)}"; allowed: ${[...KEYS].join(', ')}`);
    if (typeof o.region !== 'string' || o.region.trim() === '') return reject('region is required (the distribution company, or "*")');
    const regionProblem = fieldProblem('region', o.region, FIELD_LIMITS.id);
    if (regionProblem) return reject(regionProblem);
    if (!READING_TYPES.includes(o.readingType as ReadingType)) return reject(`readingType must be one of ${READING_TYPES.join(', ')}, got ${quote(o.readingType)}`);
    if (typeof o.profileGroup !== 'string' || o.profileGroup.trim() === '') return reject('profileGroup is required (the subscriber profile group, e.g. residential)');
    const groupProblem = fieldProblem('profileGroup', o.profileGroup, FIELD_LIMITS.code);
    if (groupProblem) return reject(groupProblem);
    if ((o.date === undefined) === (o.dayType === undefined)) return reject('give exactly one of date (per-day layout) or dayType with period (per-day-type layout)');
    let period: string;
    let date: string | null = null;
    let dayType: DayType | null = null;
    if (o.date !== undefined) {
      if (typeof o.date !== 'string' || !DATE.test(o.date) || !isCalendarDate(o.date)) return reject(`date must be a calendar date YYYY-MM-DD, got ${quote(o.date)}`);
      date = o.date;
      period = date.slice(0, 7);
      if (o.period !== undefined && o.period !== period) return reject(`period ${String(o.period)} does not match date ${date}; leave period out with date`);
    } else {
      if (!DAY_TYPES.includes(o.dayType as DayType)) return reject(`dayType must be one of ${DAY_TYPES.join(', ')}, got ${quote(o.dayType)}`);
      dayType = o.dayType as DayType;
      if (typeof o.period !== 'string' || !PERIOD.test(o.period)) return reject(`period (YYYY-MM) is required with dayType, got ${quote(o.period)}`);
      period = o.period;
    }
    if (typeof o.hour !== 'number' || !Number.isInteger(o.hour) || o.hour < 0 || o.hour > 23) return reject(`hour must be a whole local hour 0–23, got ${quote(o.hour)}`);
    if (typeof o.coefficient !== 'number' || !Number.isFinite(o.coefficient) || o.coefficient < 0 || o.coefficient > MAX_ABS_AMOUNT) {
      return reject(`coefficient must be a finite number from 0 to ${MAX_ABS_AMOUNT.toExponential()}, got ${quote(o.coefficient)}`);
    }
    const row = { index, period, region: o.region.trim(), readingType: o.readingType as ReadingType, profileGroup: o.profileGroup.trim(), date, dayType, hour: o.hour, coefficient: o.coefficient };
    const key = [row.period, row.region, row.readingType, row.profileGroup, date ?? '', dayType ?? '', row.hour].join('|');
    const first = seen.get(key);
    if (first !== undefined) return reject(`duplicate of row ${first} (same period, region, reading type, group, day and hour)`);
    seen.set(key, index);
    rows.push(row);
  });
  return { rows, rejected };
}
