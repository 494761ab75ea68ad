import { z } from 'zod';
import { codeText, plausibleDate } from './input-schemas.js';

/**
 * Time-of-use (TOU) bucket definitions per tariff, with effective dates.
 * Turkey's three-time tariff (üç zamanlı): T1 day 06:00–17:00, T2 peak
 * 17:00–22:00, T3 night 22:00–06:00, in local wall-clock time.
 */
const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM');

export const TouBucketSchema = z.object({
  name: codeText().min(1),
  /** Local wall-clock ranges [from, to); a range may wrap midnight (22:00–06:00). */
  ranges: z
    .array(z.object({ from: HHMM, to: HHMM }))
    .min(1)
    .max(96),
});

export const TouScheduleSchema = z.object({
  tariff: codeText().min(1),
  /** First local date the schedule applies (inclusive). */
  effectiveFrom: plausibleDate(),
  buckets: z.array(TouBucketSchema).min(1).max(96),
});
export type TouSchedule = z.infer<typeof TouScheduleSchema>;

/** A stored schedule as listed: the shape of TouScheduleSchema without its input bounds (rows stored before them still list). */
export const TouScheduleOutSchema = z.object({
  tariff: z.string(),
  effectiveFrom: z.string(),
  buckets: z.array(z.object({ name: z.string(), ranges: z.array(z.object({ from: z.string(), to: z.string() })) })),
});

export const DEFAULT_TOU_SCHEDULES: readonly TouSchedule[] = [
  {
    tariff: 'three-time',
    effectiveFrom: '2000-01-01',
    buckets: [
      { name: 'T1', ranges: [{ from: '06:00', to: '17:00' }] },
      { name: 'T2', ranges: [{ from: '17:00', to: '22:00' }] },
      { name: 'T3', ranges: [{ from: '22:00', to: '06:00' }] },
    ],
  },
];

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

/** The schedule in force for `tariff` on local date `date`, or undefined (single-rate). */
export function scheduleFor(schedules: readonly TouSchedule[], tariff: string, date: string): TouSchedule | undefined {
  let best: TouSchedule | undefined;
  for (const s of schedules) if (s.tariff === tariff && s.effectiveFrom <= date && (!best || s.effectiveFrom > best.effectiveFrom)) best = s;
  return best;
}

/**
 * Bucket name for a local minute of day (0–1439). An interval belongs to the
 * bucket its start falls in.
 * @example bucketAt(DEFAULT_TOU_SCHEDULES[0], 17 * 60) // 'T2'
 */
export function bucketAt(schedule: TouSchedule, minuteOfDay: number): string | undefined {
  for (const b of schedule.buckets) {
    for (const r of b.ranges) {
      const from = minutes(r.from);
      const to = minutes(r.to);
      const inside = from < to ? minuteOfDay >= from && minuteOfDay < to : minuteOfDay >= from || minuteOfDay < to;
      if (inside) return b.name;
    }
  }
  return undefined;
}

/** Checks that the buckets cover every minute of the day exactly once; returns the problems. */
export function checkSchedule(schedule: TouSchedule): string[] {
  const problems: string[] = [];
  for (let m = 0; m < 1440; m++) {
    const hits = schedule.buckets.filter((b) => b.ranges.some((r) => bucketAt({ ...schedule, buckets: [{ ...b, ranges: [r] }] }, m)));
    if (hits.length !== 1) {
      problems.push(`${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')} is in ${hits.length} buckets`);
      if (problems.length >= 5) break;
    }
  }
  return problems;
}
