import Holidays from 'date-holidays';
import { shiftDate, startOfLocalDate } from './calendar.js';
import { DAY_MS } from './time.js';

/**
 * Holiday calendars per country for day types in forecasting, VEE and billing.
 * Public holidays come from date-holidays (public type only; observances,
 * school and optional days are working days), expanded to every day of a
 * multi-day holiday, plus what the library does not model:
 *
 * - Turkey: Ramazan Bayramı is 3 days and Kurban Bayramı 4 days (law 2429),
 *   every day a holiday; their arife (the day before) and 28 October are half
 *   days (afternoon off from 13:00) → kind `eve`. The first bayram days of
 *   2014–2026 are taken from the Diyanet calendar: the library's tabular
 *   Islamic calendar is a day off in 2015–2016 (e.g. Ramazan Bayramı 2016 began
 *   5 July, the library says 6 July; EPİAŞ national consumption confirms 5 July).
 *   15 July is a holiday from 2017 on.
 * - Bridge days (`bridge`): a working day whose neighbours are both days off
 *   (weekend or holiday) with at least one of them a holiday — the Monday
 *   before a Tuesday holiday, the Friday after a Thursday holiday, a day between
 *   two holidays — plus dates the caller declares (administrative leave the
 *   government announces, e.g. Turkey's 9-day bayrams).
 *
 * Countries are ISO 3166 alpha-2 (`TR`, `PL`), optionally with a region the
 * library knows (`GB-ENG`, `DE-BY`).
 */
export type HolidayKind = 'public' | 'religious' | 'eve' | 'bridge';

export interface HolidayDay {
  readonly date: string;
  readonly kind: HolidayKind;
  readonly name: string;
}

export interface HolidayCalendar {
  /** ISO country (with region) of the calendar, or null for NO_HOLIDAYS. */
  readonly country: string | null;
  /** Kind of a local date, or null for an ordinary day. A full holiday wins over bridge, bridge over eve. */
  kindOf(date: string): HolidayKind | null;
  /** True on a half-day eve (arife), also when the day is a bridge day too. */
  isEve(date: string): boolean;
  /** All special days of a calendar year, sorted by date (one entry per date: its kindOf). */
  dates(year: number): readonly HolidayDay[];
  /** Local dates that are full days off (public, religious and bridge), `dayTypeOf`'s holiday set. */
  holidaySet(fromYear: number, toYear: number): Set<string>;
}

export interface HolidayCalendarOptions {
  /** Declared extra days off (administrative leave), `YYYY-MM-DD`, kind `bridge`. */
  readonly bridges?: readonly string[];
  /** Turn off the rule-based bridge days (default on). */
  readonly ruleBridges?: boolean;
}

/** First day of Ramazan Bayramı / Kurban Bayramı in Turkey (Diyanet). */
const TR_BAYRAM_FIRST_DAY: Readonly<Record<number, readonly [string, string]>> = {
  2014: ['2014-07-28', '2014-10-04'],
  2015: ['2015-07-17', '2015-09-24'],
  2016: ['2016-07-05', '2016-09-12'],
  2017: ['2017-06-25', '2017-09-01'],
  2018: ['2018-06-15', '2018-08-21'],
  2019: ['2019-06-04', '2019-08-11'],
  2020: ['2020-05-24', '2020-07-31'],
  2021: ['2021-05-13', '2021-07-20'],
  2022: ['2022-05-02', '2022-07-09'],
  2023: ['2023-04-21', '2023-06-28'],
  2024: ['2024-04-10', '2024-06-16'],
  2025: ['2025-03-30', '2025-06-06'],
  2026: ['2026-03-20', '2026-05-27'],
};

// Moving religious feasts (Easter-based, Orthodox, Islamic and Hebrew calendars) in date-holidays rules.
const RELIGIOUS_RULE = /easter|orthodox|shawwal|dhu al-hijjah|ramadan|muharram|rabi al|rajab|shaban|tishrei|nisan|kislev|sivan/i;

function weekdayOf(date: string): number {
  const d = new Date(`${date}T00:00:00Z`).getUTCDay();
  return d === 0 ? 7 : d;
}

interface YearDays {
  full: Map<string, { kind: 'public' | 'religious'; name: string }>;
  eves: Map<string, string>;
}

const calendars = new Map<string, HolidayCalendar>();

/**
 * No holiday calendar: every date an ordinary day (declared bridges aside).
 * What a forecast gets when the target's country is unknown (issue 12,
 * defect 14): never another country's holidays.
 */
export const NO_HOLIDAYS: HolidayCalendar = {
  country: null,
  kindOf: () => null,
  isEve: () => false,
  dates: () => [],
  holidaySet: () => new Set(),
};

/** True when `country` names a calendar date-holidays knows (`TR`, `PL`, `GB-ENG`). */
export function isHolidayCountry(country: string): boolean {
  if (!/^[A-Za-z]{2}(-[A-Za-z0-9]{1,4})?$/.test(country)) return false;
  try {
    holidayCalendar(country);
    return true;
  } catch {
    return false;
  }
}

/**
 * The holiday calendar of `country` (memoised per country and options);
 * `null` (an unknown country) gives NO_HOLIDAYS.
 * @example holidayCalendar('TR').kindOf('2025-03-31') // 'religious'
 * @throws Error for a country date-holidays does not know.
 */
export function holidayCalendar(country: string | null, opts: HolidayCalendarOptions = {}): HolidayCalendar {
  if (country === null) return NO_HOLIDAYS;
  const key = `${country}|${opts.ruleBridges ?? true}|${(opts.bridges ?? []).join(',')}`;
  let cal = calendars.get(key);
  if (!cal) {
    cal = buildCalendar(country, opts);
    calendars.set(key, cal);
  }
  return cal;
}

function buildCalendar(country: string, opts: HolidayCalendarOptions): HolidayCalendar {
  const [cc, region] = country.toUpperCase().split('-');
  const lib = region ? new Holidays(cc, region) : new Holidays(cc);
  if (lib.getCountries()[cc] === undefined || !lib.getTimezones().length) {
    throw new Error(`unknown holiday country "${country}": use an ISO 3166 alpha-2 code date-holidays knows, e.g. TR, PL, GB-ENG`);
  }
  const tz = lib.getTimezones()[0];
  const declared = new Set(opts.bridges ?? []);
  const ruleBridges = opts.ruleBridges ?? true;
  const years = new Map<number, YearDays>();
  const kinds = new Map<number, Map<string, HolidayKind>>();

  function yearDays(year: number): YearDays {
    let y = years.get(year);
    if (y) return y;
    y = { full: new Map(), eves: new Map() };
    for (const h of lib.getHolidays(year)) {
      if (h.type !== 'public' && h.type !== 'bank') continue;
      const first = h.date.slice(0, 10);
      const religious = RELIGIOUS_RULE.test(h.rule ?? '');
      const kind = religious ? 'religious' : 'public';
      let days: string[];
      if (cc === 'TR' && /Ramazan Bayramı|Kurban Bayramı/.test(h.name)) {
        const known = TR_BAYRAM_FIRST_DAY[year];
        const ramazan = h.name.includes('Ramazan');
        const start = known ? known[ramazan ? 0 : 1] : first;
        days = Array.from({ length: ramazan ? 3 : 4 }, (_, i) => shiftDate(start, i));
        y.eves.set(shiftDate(start, -1), `${h.name} arifesi`);
      } else {
        if (cc === 'TR' && first.endsWith('-07-15') && year < 2017) continue;
        // Every local date whose noon lies inside [start, end): multi-day holidays in full.
        days = [first];
        for (let d = shiftDate(first, 1); ; d = shiftDate(d, 1)) {
          const noon = startOfLocalDate(d, tz) + DAY_MS / 2;
          if (!(noon < h.end.getTime())) break;
          days.push(d);
        }
      }
      for (const d of days) if (d.startsWith(`${year}-`) && !y.full.has(d)) y.full.set(d, { kind, name: h.name });
    }
    if (cc === 'TR') y.eves.set(`${year}-10-28`, 'Cumhuriyet Bayramı arifesi');
    // An eve that is itself a full holiday is the holiday.
    for (const d of [...y.eves.keys()]) if (y.full.has(d)) y.eves.delete(d);
    years.set(year, y);
    return y;
  }

  const fullOf = (date: string) => yearDays(Number(date.slice(0, 4))).full.get(date);
  const offDay = (date: string) => weekdayOf(date) >= 6 || fullOf(date) !== undefined;

  function kindsOf(year: number): Map<string, HolidayKind> {
    let m = kinds.get(year);
    if (m) return m;
    m = new Map();
    const y = yearDays(year);
    for (const [d] of y.eves) if (d.startsWith(`${year}-`)) m.set(d, 'eve');
    if (ruleBridges) {
      for (const [d] of y.full) {
        for (const cand of [shiftDate(d, -1), shiftDate(d, 1)]) {
          if (!cand.startsWith(`${year}-`) || offDay(cand)) continue;
          const prev = shiftDate(cand, -1),
            next = shiftDate(cand, 1);
          if (offDay(prev) && offDay(next)) m.set(cand, 'bridge');
        }
      }
      // 31 December before a Tuesday 1 January belongs to this year, its holiday to the next.
      const dec31 = `${year}-12-31`;
      if (!offDay(dec31) && offDay(shiftDate(dec31, -1)) && fullOf(shiftDate(dec31, 1))) m.set(dec31, 'bridge');
    }
    for (const d of declared) if (d.startsWith(`${year}-`) && !fullOf(d)) m.set(d, 'bridge');
    for (const [d, v] of y.full) m.set(d, v.kind);
    kinds.set(year, m);
    return m;
  }

  return {
    country,
    kindOf: (date) => kindsOf(Number(date.slice(0, 4))).get(date) ?? null,
    isEve: (date) => yearDays(Number(date.slice(0, 4))).eves.has(date),
    dates(year) {
      const y = yearDays(year);
      return [...kindsOf(year)]
        .map(([date, kind]) => ({ date, kind, name: y.full.get(date)?.name ?? y.eves.get(date) ?? (declared.has(date) ? 'declared bridge day' : 'bridge day') }))
        .sort((a, b) => (a.date < b.date ? -1 : 1));
    },
    holidaySet(fromYear, toYear) {
      const out = new Set<string>();
      for (let year = fromYear; year <= toYear; year++) for (const [d, k] of kindsOf(year)) if (k !== 'eve') out.add(d);
      return out;
    },
  };
}

/**
 * Where an ordinary day stands to the holidays around it (issue 20, special
 * days): `blockWeekend`, a Saturday or Sunday inside a block of at least 4
 * days off that holds a holiday (the weekends of a 9-day bayram leave are
 * deeper than any weekend); `dayAfter`, the first working day after a block
 * of at least 3 days off that holds a holiday (people come back slowly);
 * `dayBefore`, a working day, not an eve, before a block of days off that
 * holds a holiday.
 */
export type NearHoliday = 'blockWeekend' | 'dayAfter' | 'dayBefore';

export interface DayContext {
  /**
   * The day aligned by feast day, not by date: `<holiday name>#<days from its
   * first day>:<kind>` for the days from 3 before the nearest full holiday to
   * 3 after it (`Kurban Bayramı#2:religious` the third bayram day,
   * `Ramazan Bayramı#-1:eve` its arife, `Kurban Bayramı#4:bridge` a leave day
   * after it; kind = kindOf, else weekend or workday). The same key in
   * another year is the same day of the same feast, whatever its date;
   * null far from any holiday.
   */
  readonly feast: string | null;
  /** The class of an ordinary day near a holiday, null otherwise (and on special days). */
  readonly near: NearHoliday | null;
}

const contexts = new WeakMap<HolidayCalendar, Map<string, DayContext>>();

/**
 * The feast-day key and near-holiday class of a local date (memoised per calendar).
 * @example dayContext(holidayCalendar('TR'), '2017-06-26').feast // 'Ramazan Bayramı#1:religious'
 */
export function dayContext(cal: HolidayCalendar, date: string): DayContext {
  let memo = contexts.get(cal);
  if (!memo) contexts.set(cal, (memo = new Map()));
  let c = memo.get(date);
  if (!c) {
    if (memo.size > 50_000) memo.clear();
    c = computeContext(cal, date);
    memo.set(date, c);
  }
  return c;
}

function computeContext(cal: HolidayCalendar, date: string): DayContext {
  if (cal.country === null) return { feast: null, near: null };
  const kind = (d: string) => cal.kindOf(d);
  const full = (d: string) => kind(d) === 'public' || kind(d) === 'religious';
  const off = (d: string) => weekdayOf(d) >= 6 || (kind(d) !== null && kind(d) !== 'eve');
  /** The block of consecutive days off from `d` walking by `dir`: its length and whether it holds a full holiday. */
  const walk = (d: string, dir: 1 | -1) => {
    let n = 0,
      holiday = false;
    for (let x = d; off(x) && n < 20; x = shiftDate(x, dir)) {
      n++;
      holiday ||= full(x);
    }
    return { n, holiday };
  };
  let near: NearHoliday | null = null;
  const k = kind(date);
  if (k === null) {
    if (weekdayOf(date) >= 6) {
      const back = walk(shiftDate(date, -1), -1),
        fwd = walk(shiftDate(date, 1), 1);
      if (back.n + fwd.n + 1 >= 4 && (back.holiday || fwd.holiday)) near = 'blockWeekend';
    } else {
      const back = walk(shiftDate(date, -1), -1);
      const fwd = walk(shiftDate(date, 1), 1);
      if (back.n >= 3 && back.holiday) near = 'dayAfter';
      else if (fwd.holiday) near = 'dayBefore';
    }
  }
  // The nearest full holiday within 3 days (the day itself first, then the later at equal distance: an arife belongs to the feast after it).
  let h: string | undefined;
  for (let dist = 0; dist <= 3 && !h; dist++) {
    for (const cand of dist === 0 ? [date] : [shiftDate(date, dist), shiftDate(date, -dist)]) {
      if (full(cand)) {
        h = cand;
        break;
      }
    }
  }
  if (!h) return { feast: null, near };
  const nameOf = (d: string) => cal.dates(Number(d.slice(0, 4))).find((x) => x.date === d)?.name;
  const name = nameOf(h);
  let first = h;
  while (full(shiftDate(first, -1)) && nameOf(shiftDate(first, -1)) === name) first = shiftDate(first, -1);
  const offset = Math.round((Date.parse(`${date}T00:00:00Z`) - Date.parse(`${first}T00:00:00Z`)) / DAY_MS);
  const cls = k ?? (weekdayOf(date) >= 6 ? 'weekend' : 'workday');
  return { feast: `${name}#${offset}:${cls}`, near };
}
