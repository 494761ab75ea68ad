import { bucketAt, DEFAULT_TOU_SCHEDULES, type TouSchedule } from './tou.js';

/**
 * TOU schedules turned into what the set-based billing query joins on: per
 * tariff, contiguous local-date segments, each with a 1440-byte map from the
 * local minute of day to a bucket index (hex text, decoded in SQL). Pure.
 */

/** Map byte for a minute no bucket covers (a schedule failing checkSchedule). */
export const NO_BUCKET = 255;

export interface TouSegment {
  readonly tariff: string;
  /** First local date of the segment, or '-infinity'. */
  readonly effFrom: string;
  /** Local date the next schedule takes over, or 'infinity'. */
  readonly effTo: string;
  /** 1440 bytes as hex: byte m = index in the tariff's bucket list (TouPlan.bucketsByTariff) of local minute m; null before its first schedule. */
  readonly map: string | null;
}

export interface TouPlan {
  readonly segments: readonly TouSegment[];
  /** Bucket names per tariff, in first-seen order (schedules by date, buckets as defined): map bytes index into it. A tariff without a schedule is single-rate. */
  readonly bucketsByTariff: ReadonlyMap<string, readonly string[]>;
  /** Most buckets any tariff has: the width of the per-bucket energy columns. */
  readonly maxBuckets: number;
}

/**
 * Stored schedules win per tariff; a tariff with no stored schedule falls
 * back to DEFAULT_TOU_SCHEDULES (Turkish three-time), so an empty table still
 * bills three-time meters.
 */
export function effectiveSchedules(stored: readonly TouSchedule[], defaults: readonly TouSchedule[] = DEFAULT_TOU_SCHEDULES): TouSchedule[] {
  const storedTariffs = new Set(stored.map((s) => s.tariff));
  return [...stored, ...defaults.filter((d) => !storedTariffs.has(d.tariff))];
}

/**
 * @example touPlan(DEFAULT_TOU_SCHEDULES).segments
 * // [{ tariff: 'three-time', effFrom: '-infinity', effTo: '2000-01-01', map: null },
 * //  { tariff: 'three-time', effFrom: '2000-01-01', effTo: 'infinity', map: '0202…0000…0101…02' }]  (T1 = 0, T2 = 1, T3 = 2)
 */
export function touPlan(schedules: readonly TouSchedule[]): TouPlan {
  const byTariff = new Map<string, TouSchedule[]>();
  for (const s of schedules) byTariff.set(s.tariff, [...(byTariff.get(s.tariff) ?? []), s]);
  const segments: TouSegment[] = [];
  const bucketsByTariff = new Map<string, string[]>();
  for (const [tariff, list] of [...byTariff].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const sorted = [...list].sort((a, b) => (a.effectiveFrom < b.effectiveFrom ? -1 : 1));
    const names: string[] = [];
    segments.push({ tariff, effFrom: '-infinity', effTo: sorted[0].effectiveFrom, map: null });
    sorted.forEach((s, k) => {
      for (const b of s.buckets) if (!names.includes(b.name)) names.push(b.name);
      const bytes = new Uint8Array(1440);
      for (let m = 0; m < 1440; m++) {
        const name = bucketAt(s, m);
        bytes[m] = name === undefined ? NO_BUCKET : names.indexOf(name);
      }
      segments.push({ tariff, effFrom: s.effectiveFrom, effTo: sorted[k + 1]?.effectiveFrom ?? 'infinity', map: Buffer.from(bytes).toString('hex') });
    });
    bucketsByTariff.set(tariff, names);
  }
  return { segments, bucketsByTariff, maxBuckets: Math.max(0, ...[...bucketsByTariff.values()].map((n) => n.length)) };
}
