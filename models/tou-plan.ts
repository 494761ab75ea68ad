import { bucketAt, DEFAULT_TOU_SCHEDULES, type TouSchedule } from '../models/tou.js';

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
  /** 1440 bytes as hex: byte m = index in `buckets` of local minute m; null before the tariff's first schedule. */
  readonly map: string | null;
}

export interface TouPlan {
  readonly segments: readonly TouSegment[];
  /** Bucket names across every schedule, in first-seen order; map bytes index into it. */
  readonly buckets: readonly string[];
  /** Bucket names per tariff (the keys of `tou` for its meters); tariffs without a schedule are single-rate. */
  readonly bucketsByTariff: ReadonlyMap<string, readonly string[]>;
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
 * //  { tariff: 'three-time', effFrom: '2000-01-01', effTo: 'infinity', map: '0000…0101…0202…' }]
 */
export function touPlan(schedules: readonly TouSchedule[]): TouPlan {
  const buckets: string[] = [];
  const indexOf = (name: string) => {
    let i = buckets.indexOf(name);
    if (i < 0) i = buckets.push(name) - 1;
    return i;
  };
  const byTariff = new Map<string, TouSchedule[]>();
  for (const s of schedules) byTariff.set(s.tariff, [...(byTariff.get(s.tariff) ?? []), s]);
  const segments: TouSegment[] = [];
  const bucketsByTariff = new Map<string, string[]>();
  for (const [tariff, list] of [...byTariff].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const sorted = [...list].sort((a, b) => (a.effectiveFrom < b.effectiveFrom ? -1 : 1));
    const names: string[] = [];
    segments.push({ tariff, effFrom: '-infinity', effTo: sorted[0].effectiveFrom, map: null });
    sorted.forEach((s, k) => {
      for (const b of s.buckets) {
        indexOf(b.name);
        if (!names.includes(b.name)) names.push(b.name);
      }
      const bytes = new Uint8Array(1440);
      for (let m = 0; m < 1440; m++) {
        const name = bucketAt(s, m);
        bytes[m] = name === undefined ? NO_BUCKET : indexOf(name);
      }
      segments.push({ tariff, effFrom: s.effectiveFrom, effTo: sorted[k + 1]?.effectiveFrom ?? 'infinity', map: Buffer.from(bytes).toString('hex') });
    });
    bucketsByTariff.set(tariff, names);
  }
  return { segments, buckets, bucketsByTariff };
}
