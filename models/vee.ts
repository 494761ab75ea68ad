import { z } from 'zod';
import { holidayCalendar } from './holidays.js';
import { amount, plausibleDate } from './input-schemas.js';
import type { Quality } from './reading.js';

/** VEE rule names; stored in validation issues (never rename). */
export const RULES = ['gap', 'conflict', 'negative', 'spike', 'high_low', 'zero_run', 'flat_line', 'sum_check', 'register', 'time', 'range'] as const;
export type RuleName = (typeof RULES)[number];
export const SEVERITIES = ['warn', 'fail'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** Validation issue states: open until resolved; obsolete when a re-run no longer finds it. */
export const ISSUE_STATUSES = ['open', 'accepted', 'replaced', 'obsolete'] as const;
export type IssueStatus = (typeof ISSUE_STATUSES)[number];

/** One point of a series handed to the rules: epoch ms, recorded value, quality. */
export interface VeePoint {
  readonly startMs: number;
  readonly value: number;
  readonly quality: Quality;
}

/** What a rule finds: a range of one meter/channel and why. */
export interface VeeFinding {
  readonly rule: RuleName;
  readonly severity: Severity;
  readonly fromMs: number;
  /** Exclusive end. */
  readonly toMs: number;
  readonly detail: string;
  /** Interval starts the finding marks suspect (empty for gaps). */
  readonly suspectStarts: readonly number[];
}

const severity = z.enum(SEVERITIES);
const hours = amount().positive();
const DateText = plausibleDate();

/**
 * A rule's switch and severity; every field of a rule has a default so an
 * override names only what it changes. `autoEstimate` (interval energy
 * rules): values the rule marks suspect (severity fail) are replaced by
 * estimates at once, and for `gap` the missing intervals are filled.
 */
const base = (defaultSeverity: Severity) => ({ enabled: z.boolean().default(true), severity: severity.default(defaultSeverity) });
const auto = (on: boolean) => ({ autoEstimate: z.boolean().default(on) });

/**
 * Rule parameters with their defaults. Rows of `vee_settings` per profile
 * class and/or commodity override them from an effective date on (see
 * ingest/vee/config.ts); with no rows, these defaults apply.
 */
export const VeeParamsSchema = z
  .object({
    gap: z
      .object({
        ...base('fail'),
        ...auto(true),
        /** Missing intervals after the newest received one count only once they ended this many hours ago. */
        graceHours: amount().nonnegative().default(24),
      })
      .strict()
      .prefault({}),
    conflict: z.object(base('warn')).strict().prefault({}),
    negative: z
      .object({ ...base('fail'), ...auto(false) })
      .strict()
      .prefault({}),
    spike: z
      .object({
        ...base('warn'),
        ...auto(false),
        /** Value above k × (median + 1.4826·MAD) of the meter's own history. */
        k: amount().positive().default(5),
        /** Physical maximum: contracted power in kW (× interval hours); absent = not checked. */
        maxKw: amount().positive().optional(),
        /** Below this the spike rule stays silent (kWh per interval). */
        minValue: amount().nonnegative().default(0.5),
      })
      .strict()
      .prefault({}),
    highLow: z
      .object({ ...base('warn'), ...auto(false), low: amount().nonnegative().default(0.2), high: amount().positive().default(3) })
      .strict()
      .prefault({}),
    zeroRun: z
      .object({ ...base('warn'), ...auto(false), hours: hours.default(6) })
      .strict()
      .prefault({}),
    flatLine: z
      .object({ ...base('warn'), ...auto(false), hours: hours.default(12) })
      .strict()
      .prefault({}),
    sumCheck: z
      .object({ ...base('fail'), absolute: amount().nonnegative().default(1), percent: amount().nonnegative().default(2) })
      .strict()
      .prefault({}),
    register: z
      .object({
        ...base('fail'),
        /**
         * Where the counter wraps to 0, in the channel unit, for register meters
         * whose wrap point neither a device nor the meter says: a Modbus register
         * map's `rolloverAt` (its default 2^bits × scale included) wins for the
         * channels it reads, then the meter's `registerDigits` (10^digits).
         */
        rolloverAt: amount().positive().optional(),
      })
      .strict()
      .prefault({}),
    /**
     * Time plausibility: a value stamped more than `futureMinutes` after it
     * arrived (or after now), and values outside the meter's supply dates. Age
     * is no reason: loaded history is as plausible as today's data.
     */
    time: z
      .object({
        ...base('fail'),
        futureMinutes: amount().nonnegative().default(15),
        /** No longer used (values were once suspect for being older than this); accepted in stored overrides, refused in new ones. */
        horizonDays: amount().positive().optional(),
      })
      .strict()
      .prefault({}),
    range: z
      .object({
        ...base('fail'),
        temperature: z.tuple([amount(), amount()]).default([-60, 80]),
        pressure: z.tuple([amount(), amount()]).default([0, 100]),
      })
      .strict()
      .prefault({}),
    estimation: z
      .object({
        /** Gaps up to this long are shared linearly between their neighbours; longer ones are estimated like-day. */
        maxLinearHours: amount().nonnegative().default(2),
        /** Like days looked back for, in weeks. */
        likeDayWeeks: amount().int().min(1).max(8).default(4),
        /** Longer runs of missing or suspect intervals are left to a person (an open issue), not estimated automatically. */
        maxHours: hours.default(168),
      })
      .strict()
      .prefault({}),
    /** Days of the meter's own history the spike, high/low and zero-run rules compare against. */
    historyDays: amount().int().min(7).max(56).default(28),
    /** Local dates counted as public holidays (day type `holiday`) by high/low and like-day estimation. */
    holidays: z.array(DateText).max(10_000).default([]),
    /** Also count this country's public, religious and bridge days (models/holidays.ts), e.g. `TR`, `PL`, `GB-ENG`. */
    holidayCountry: z
      .string()
      .refine((c) => knownHolidayCountry(c), { message: 'unknown holiday country: use an ISO 3166 alpha-2 code such as TR, PL or GB-ENG' })
      .optional(),
  })
  .strict();
export type VeeParams = z.output<typeof VeeParamsSchema>;

function knownHolidayCountry(country: string): boolean {
  try {
    holidayCalendar(country);
    return true;
  } catch {
    return false;
  }
}

/**
 * The local dates VEE counts as day type `holiday` for a run over [fromMs,
 * toMs): `holidays` plus, with `holidayCountry`, that country's full days off
 * in the years touched (from 10 weeks before, the like-day look-back).
 */
export function veeHolidays(p: VeeParams, fromMs: number, toMs: number): Set<string> {
  const set = new Set(p.holidays);
  if (p.holidayCountry) {
    const first = new Date(fromMs - 70 * 86_400_000).getUTCFullYear();
    const last = new Date(toMs + 86_400_000).getUTCFullYear();
    for (const d of holidayCalendar(p.holidayCountry).holidaySet(first, last)) set.add(d);
  }
  return set;
}
export const DEFAULT_VEE_PARAMS: VeeParams = VeeParamsSchema.parse({});

/** Sums behind the profile-class shapes (ingest/vee/class-shape.ts). */
export interface ClassHourSum {
  readonly profileClass: string;
  readonly channel: number;
  /** ISO weekday of the local date, 1 = Monday … 7 = Sunday. */
  readonly dow: number;
  /** Local hour 0–23. */
  readonly hour: number;
  /** Σ recorded values of the class's meters in that slot. */
  readonly energy: number;
}

export interface ClassDays {
  readonly profileClass: string;
  readonly channel: number;
  /** Distinct (meter, local date) pairs behind the sums. */
  readonly meterDays: number;
}
