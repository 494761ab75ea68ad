import { z } from 'zod';
import { localMonthRange } from './calendar.js';
import { boundedText, FIELD_LIMITS, fieldProblem } from './input-bounds.js';
import { amount, idText, MAX_ABS_AMOUNT, quote, storedInstant } from './input-schemas.js';
import { formatInstant, instantMs, isAligned } from './time.js';

/**
 * Settlement data (uzlaştırma): per-meter hourly withdrawal (çekiş) and supply
 * (veriş) in kWh as the market operator settled them, in versions (the first
 * settlement, then retroactive corrections). docs/settlement.md.
 */

export const PeriodText = z
  .string()
  .regex(/^(199\d|20\d\d)-(0[1-9]|1[0-2])$/, 'must be a month YYYY-MM from 1990-01 to 2099-12')
  .describe("Settlement month YYYY-MM, each meter's local calendar month");

export const SettlementRowSchema = z.object({
  meter: idText().describe('External meter id (serial or EIC), registered'),
  start: z.string().describe("Start of the hour, ISO-8601 with offset; a whole local hour in the meter's time zone inside the period"),
  withdrawal: amount().min(0).describe('kWh withdrawn from the grid in the hour (çekiş), as settled: AFTER the meter multiplier; ≥ 0'),
  supply: amount().min(0).nullish().describe('kWh supplied to the grid in the hour (veriş); optional, ≥ 0'),
});
export type SettlementRowInput = z.infer<typeof SettlementRowSchema>;

export const SettlementBodySchema = z.object({
  period: PeriodText,
  version: z.number().int().min(1).describe('Settlement version: 1 for the first settlement, higher for each correction'),
  rows: z.array(SettlementRowSchema),
});

export const SettlementImportResultSchema = z.object({
  period: z.string(),
  version: z.number().int(),
  stored: z.number().int().describe('Rows stored as new settlement rows of this version'),
  unchanged: z.number().int().describe('Rows already stored with the same figures in this version (re-send)'),
  applied: z.number().int().describe('Hours written into readings (source settlement): no higher version holds them'),
  heldByHigherVersion: z.number().int().describe('Hours stored but NOT written into readings, because a higher version of them is already stored'),
  readings: z
    .object({ accepted: z.number().int(), unchanged: z.number().int(), superseded: z.number().int() })
    .describe('What the write into readings did (ingest counts; superseded = measured or older settlement values moved to the history)'),
  rejected: z.array(z.object({ index: z.number().int(), reason: z.string() })).describe('Rows not stored, with the reason (also in GET /v1/rejects, transport settlement)'),
});
export type SettlementImportResult = z.infer<typeof SettlementImportResultSchema>;

/** What the row check needs to know about a meter. */
export interface SettlementMeter {
  readonly id: number;
  readonly externalId: string;
  readonly timezone: string;
  readonly intervalMinutes: number;
  readonly multiplier: number;
}

export interface CheckedSettlementRow {
  readonly index: number;
  readonly meter: SettlementMeter;
  readonly startMs: number;
  readonly withdrawal: number;
  readonly supply: number | null;
}

const ROW_KEYS = new Set(['meter', 'start', 'withdrawal', 'supply']);

/**
 * Checks raw settlement rows one by one (one bad row rejects only itself):
 * shape, registered meter, start a whole local hour inside the period in the
 * meter's time zone, finite non-negative energies, and each (meter, start)
 * once per request (a later duplicate is rejected). Pure.
 * @example checkSettlementRows('2026-03', [{ meter: 'M1', start: '2026-03-01T00:00:00+03:00', withdrawal: 1.5 }], meters)
 * // { rows: [{ index: 0, meter: M1, startMs: …, withdrawal: 1.5, supply: null }], rejected: [] }
 */
export function checkSettlementRows(
  period: string,
  raw: readonly unknown[],
  meters: ReadonlyMap<string, SettlementMeter>,
): { rows: CheckedSettlementRow[]; rejected: { index: number; reason: string; meter: string | null }[] } {
  const rows: CheckedSettlementRow[] = [];
  const rejected: { index: number; reason: string; meter: string | null }[] = [];
  const seen = new Map<string, number>();
  const months = new Map<string, { fromMs: number; toMs: number }>();
  raw.forEach((r, index) => {
    const reject = (reason: string, meter: string | null = null) => rejected.push({ index, reason, meter });
    if (r === null || typeof r !== 'object' || Array.isArray(r)) return reject('row must be an object {meter, start, withdrawal, supply?}');
    const row = r as Record<string, unknown>;
    const unknown = Object.keys(row).find((k) => !ROW_KEYS.has(k));
    if (unknown) return reject(`unknown field "${boundedText(unknown, 64)}"; allowed: ${[...ROW_KEYS].join(', ')}`);
    if (typeof row.meter !== 'string' || row.meter === '') return reject('meter is required (the external meter id or EIC, a string)');
    const problem = fieldProblem('meter', row.meter, FIELD_LIMITS.id);
    if (problem) return reject(problem);
    const id = row.meter;
    const meter = meters.get(id);
    if (!meter) return reject(`unknown meter "${id}": register it with PUT /v1/meters first`, id);
    const startMs = instantMs(row.start);
    if (Number.isNaN(startMs)) {
      const t = storedInstant(row.start);
      return reject(row.start === undefined ? 'start is required (ISO-8601 with offset)' : `start: ${t.ok ? '' : t.reason}`, id);
    }
    if (!isAligned(startMs, 60, meter.timezone)) return reject(`start ${String(row.start)} is not the start of a whole hour in ${meter.timezone}`, id);
    let month = months.get(meter.timezone);
    if (!month) months.set(meter.timezone, (month = localMonthRange(period, meter.timezone)));
    if (startMs < month.fromMs || startMs >= month.toMs) {
      return reject(`start ${formatInstant(startMs, meter.timezone)} is outside period ${period} (local month in ${meter.timezone}); send it with its own period`, id);
    }
    const w = row.withdrawal;
    const plausible = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x) && x >= 0 && x <= MAX_ABS_AMOUNT;
    if (!plausible(w)) return reject(`withdrawal must be a finite number ≥ 0 and ≤ ${MAX_ABS_AMOUNT.toExponential()} (kWh), got ${quote(w)}`, id);
    const s = row.supply ?? null;
    if (s !== null && !plausible(s)) return reject(`supply must be a finite number ≥ 0 and ≤ ${MAX_ABS_AMOUNT.toExponential()} (kWh) or absent, got ${quote(s)}`, id);
    const key = `${meter.id}|${startMs}`;
    const first = seen.get(key);
    if (first !== undefined) return reject(`duplicate of row ${first} (same meter and hour): send each hour once per version`, id);
    seen.set(key, index);
    rows.push({ index, meter, startMs, withdrawal: w, supply: s as number | null });
  });
  return { rows, rejected };
}
