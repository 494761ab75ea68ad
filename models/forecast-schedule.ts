/**
 * `FORECAST_SCHEDULE`: when `mdm serve` queues forecast runs and retrains the
 * ML champion. Entries separated by `;`, each
 *
 *     <horizon | retrain>@<HH:MM | *:MM> [target …]
 *
 * - `HH:MM`: every day at that local time of each target (its portfolio
 *   settings' time zone, else its meters'); `*:MM`: every hour at minute MM.
 * - targets: `portfolio:P`, `group:G`, `meter:M`, space-separated; none = every
 *   portfolio (with stored settings or member meters).
 * - `retrain`: retrains the ML model of each target and promotes it only when
 *   it beats the champion on the backtest.
 * - `off` (or nothing): no schedule.
 *
 * @example parseForecastSchedule('day-ahead@09:30; intraday@*:05 portfolio:IST; retrain@03:00')
 * Pure.
 */
export const SCHEDULE_HORIZONS = ['intraday', 'day-ahead', 'week-ahead', 'month-ahead', 'long-term'] as const;
export type ScheduleAction = (typeof SCHEDULE_HORIZONS)[number] | 'retrain';

export interface ScheduleEntry {
  readonly action: ScheduleAction;
  /** Minute of the local day (daily) or of the hour (hourly). */
  readonly minute: number;
  readonly every: 'day' | 'hour';
  /** `kind:id` targets; empty = every portfolio. */
  readonly targets: readonly string[];
  /** The entry as written. */
  readonly text: string;
}

const ENTRY = /^([a-z-]+)@(\*|[01]\d|2[0-3]):([0-5]\d)$/;
const TARGET = /^(portfolio|group|meter):.{1,128}$/;

export function parseForecastSchedule(text: string): { ok: true; entries: ScheduleEntry[] } | { ok: false; reason: string } {
  const entries: ScheduleEntry[] = [];
  if (text.trim() === 'off') return { ok: true, entries };
  for (const raw of text.split(';')) {
    const part = raw.trim();
    if (part === '') continue;
    const [head, ...targets] = part.split(/\s+/);
    const m = ENTRY.exec(head);
    if (!m) return { ok: false, reason: `"${part}": write <horizon|retrain>@HH:MM or @*:MM, e.g. day-ahead@09:30 or intraday@*:05` };
    const action = m[1] as ScheduleAction;
    if (action !== 'retrain' && !(SCHEDULE_HORIZONS as readonly string[]).includes(action)) {
      return { ok: false, reason: `"${part}": unknown horizon "${action}"; one of ${SCHEDULE_HORIZONS.join(', ')}, or retrain` };
    }
    const bad = targets.find((t) => !TARGET.test(t));
    if (bad) return { ok: false, reason: `"${part}": target "${bad}" is not portfolio:ID, group:ID or meter:ID` };
    const hourly = m[2] === '*';
    entries.push({ action, every: hourly ? 'hour' : 'day', minute: hourly ? Number(m[3]) : Number(m[2]) * 60 + Number(m[3]), targets, text: part });
  }
  return { ok: true, entries };
}
