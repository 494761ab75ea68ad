import type { DayType } from '../../models/calendar.js';
import type { ClassDays, ClassHourSum } from '../../models/vee.js';

/**
 * Profile-class shapes for estimation: when a meter has no like day to copy,
 * its gap is filled with its class's typical day (hourly shares of a day's
 * energy per day type) × a daily energy. Pure; the sums come from
 * sql/vee.repository.ts loadClassHourSums.
 */
export interface ClassProfile {
  /** `${dayType}|${hour}` → share of that day type's energy in the local hour (shares of a day type sum to 1). */
  readonly shares: ReadonlyMap<string, number>;
  /** Average recorded energy per meter and day. */
  readonly dailyEnergy: number;
}

export const classKey = (profileClass: string, channel: number): string => `${profileClass}|${channel}`;

const dayTypeOfDow = (dow: number): Exclude<DayType, 'holiday'> => (dow === 6 ? 'saturday' : dow === 7 ? 'sunday' : 'workday');

/**
 * Builds the profiles of each class/channel. A day type without any energy
 * gets no shares (the estimator then has nothing to offer for it).
 * @example classProfiles([{profileClass:'r', channel:1, dow:1, hour:0, energy:1}, …], [{profileClass:'r', channel:1, meterDays:2}])
 */
export function classProfiles(sums: readonly ClassHourSum[], days: readonly ClassDays[]): Map<string, ClassProfile> {
  const slot = new Map<string, Map<string, number>>();
  const total = new Map<string, number>();
  for (const s of sums) {
    const k = classKey(s.profileClass, s.channel);
    const m = slot.get(k) ?? slot.set(k, new Map()).get(k)!;
    const dt = dayTypeOfDow(s.dow);
    m.set(`${dt}|${s.hour}`, (m.get(`${dt}|${s.hour}`) ?? 0) + s.energy);
    m.set(dt, (m.get(dt) ?? 0) + s.energy);
    total.set(k, (total.get(k) ?? 0) + s.energy);
  }
  const out = new Map<string, ClassProfile>();
  for (const d of days) {
    const k = classKey(d.profileClass, d.channel);
    const m = slot.get(k);
    if (!m || d.meterDays === 0) continue;
    const shares = new Map<string, number>();
    for (const [key, energy] of m) {
      const [dt, hour] = key.split('|');
      if (hour === undefined) continue;
      const dayTotal = m.get(dt)!;
      if (dayTotal > 0) shares.set(key, energy / dayTotal);
    }
    out.set(k, { shares, dailyEnergy: total.get(k)! / d.meterDays });
  }
  return out;
}

/**
 * The estimator's class shape for a meter: share of a day's energy in one
 * interval starting at `minuteOfDay` (holidays take Sunday's shape).
 */
export function intervalShare(profile: ClassProfile, intervalMinutes: number): (dayType: DayType, minuteOfDay: number) => number | undefined {
  return (dayType, minuteOfDay) => {
    const share = profile.shares.get(`${dayType === 'holiday' ? 'sunday' : dayType}|${Math.floor(minuteOfDay / 60)}`);
    return share === undefined ? undefined : (share * intervalMinutes) / 60;
  };
}
