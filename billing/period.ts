/**
 * Billing periods: a calendar month `YYYY-MM`, taken in each meter's own
 * local time (the local dates [first of the month, first of the next)). Pure.
 */
const PERIOD = /^(\d{4})-(0[1-9]|1[0-2])$/;

export interface Period {
  readonly period: string;
  /** First local date of the month. */
  readonly fromDate: string;
  /** First local date of the next month (exclusive). */
  readonly toDate: string;
}

/** @example parsePeriod('2026-03') // { period: '2026-03', fromDate: '2026-03-01', toDate: '2026-04-01' } */
export function parsePeriod(text: string): Period | undefined {
  const m = PERIOD.exec(text);
  if (!m) return undefined;
  const y = Number(m[1]);
  const mo = Number(m[2]);
  const next = mo === 12 ? `${y + 1}-01` : `${m[1]}-${String(mo + 1).padStart(2, '0')}`;
  return { period: text, fromDate: `${text}-01`, toDate: `${next}-01` };
}

/** The month `YYYY-MM` containing instant `ms` in UTC, shifted by `offset` months. */
export function periodAt(ms: number, offset = 0): string {
  const d = new Date(ms);
  const t = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + offset, 1));
  return `${t.getUTCFullYear()}-${String(t.getUTCMonth() + 1).padStart(2, '0')}`;
}
