import { ProfileCoefficientError, periodTotalFromRegister, spreadByProfile } from '../models/profile-coefficient-method.js';
import { localMonthRange, shiftDate, startOfLocalDate } from '../models/calendar.js';
import { channelDef } from '../models/channel.js';
import { ANY_REGION } from '../models/profile-coefficient.js';
import { qualityCode, sourceCode, type NormalizedReading } from '../models/reading.js';
import type { Database } from '../sql/database.js';
import { countOwnValues, findProfiledMeters, listProfileCoefficients, loadRegisterReads, type ProfiledMeterRow } from '../sql/profile-coefficient.repository.js';
import { insertNotes, type NoteInput } from '../sql/reading-note.repository.js';
import { writeReadings } from '../sql/reading-write.repository.js';
import { DAY_MS } from '../models/time.js';

export const PROFILE_METHOD = 'profile-coefficients';
const IMPORT = channelDef('active_import');
const REGISTER = channelDef('active_import_register');
/** How far from the period bounds a register read may be to open or close it. */
const REGISTER_TOLERANCE_MS = 3 * DAY_MS;
/** Resolution of the spread values (before the multiplier): sums are exact in 10⁻⁶. */
const DECIMALS = 6;
const SCALE = 10 ** DECIMALS;

export interface SpreadRequest {
  readonly period: string;
  /** External ids; default every electricity meter with a profile class. */
  readonly meters?: readonly string[];
  /** Period totals in kWh (after the multiplier) that take precedence over register reads. */
  readonly totals?: ReadonlyMap<string, number>;
  readonly principal: string;
  readonly holidays?: ReadonlySet<string>;
}

export interface SpreadMeterResult {
  readonly meter: string;
  readonly status: 'spread' | 'skipped';
  /** kWh after the multiplier; null when skipped before a total was known. */
  readonly totalKWh: number | null;
  readonly totalFrom: 'request' | 'register' | null;
  readonly hours: number;
  readonly reason: string | null;
}

export interface SpreadResult {
  readonly period: string;
  readonly spread: number;
  readonly skipped: number;
  readonly readings: { readonly accepted: number; readonly unchanged: number; readonly superseded: number };
  readonly meters: SpreadMeterResult[];
}

/**
 * Spreads the period totals of profiled meters into hourly estimates
 * (docs/settlement.md "Profile coefficients"): for each meter, its local month
 * cut to its supply dates; the total from the request, else from its import
 * register reads (forecast/profile-coefficients.ts periodTotalFromRegister);
 * hourly values by spreadByProfile with the coefficients of its region (or
 * `*`), tariff (reading type) and profile class. Written as active_import
 * values, quality `estimated`, source `profile`, before the multiplier like
 * every reading (history kept on re-runs), each with a reading note (method
 * `profile-coefficients`, the total and the coefficient used). A meter with
 * interval data of its own in the period (anything but our profile estimates,
 * settlement included) is not profiled and is skipped, as is a meter without
 * a total or coefficients; the result says why.
 */
export async function spreadProfiles(database: Database, req: SpreadRequest): Promise<SpreadResult> {
  const found = await findProfiledMeters(database, req.meters);
  const results: SpreadMeterResult[] = [];
  const skip = (meter: string, reason: string, totalKWh: number | null = null, totalFrom: SpreadMeterResult['totalFrom'] = null) =>
    results.push({ meter, status: 'skipped', totalKWh, totalFrom, hours: 0, reason });
  const foundIds = new Set(found.map((m) => m.externalId));
  for (const id of req.meters ?? []) if (!foundIds.has(id)) skip(id, `unknown meter "${id}": register it with PUT /v1/meters first`);

  const plans: { meter: ProfiledMeterRow; fromMs: number; toMs: number }[] = [];
  for (const m of found) {
    if (!m.profileClass) {
      skip(m.externalId, 'the meter has no profileClass (its subscriber profile group): set it with PUT /v1/meters');
      continue;
    }
    const month = localMonthRange(req.period, m.timezone);
    const fromMs = m.supplyStart ? Math.max(month.fromMs, startOfLocalDate(m.supplyStart, m.timezone)) : month.fromMs;
    const toMs = m.supplyEnd ? Math.min(month.toMs, startOfLocalDate(shiftDate(m.supplyEnd, 1), m.timezone)) : month.toMs;
    if (fromMs >= toMs) skip(m.externalId, `outside its supply dates in ${req.period}`);
    else plans.push({ meter: m, fromMs, toMs });
  }
  const windows = plans.map((p) => ({ meterId: p.meter.id, fromMs: p.fromMs, toMs: p.toMs }));
  const own = await countOwnValues(database, windows, IMPORT.code, sourceCode('profile'));
  const reads = await loadRegisterReads(
    database,
    windows.map((w) => ({ ...w, fromMs: w.fromMs - REGISTER_TOLERANCE_MS, toMs: w.toMs + REGISTER_TOLERANCE_MS })),
    REGISTER.code,
  );
  const periods = [req.period];
  const coefficients = await listProfileCoefficients(database, {
    periods,
    regions: [...new Set([ANY_REGION, ...plans.flatMap((p) => (p.meter.region ? [p.meter.region] : []))])],
    profileGroups: [...new Set(plans.map((p) => p.meter.profileClass!))],
  });

  const rows: NormalizedReading[] = [];
  const notes: NoteInput[] = [];
  const estimated = qualityCode('estimated');
  for (const { meter, fromMs, toMs } of plans) {
    const n = own.get(meter.id) ?? 0;
    if (n > 0) {
      skip(meter.externalId, `has ${n} interval value(s) of its own in ${req.period} (measured or settlement): not profiled`);
      continue;
    }
    let raw: number; // before the multiplier, as readings are stored
    let totalFrom: 'request' | 'register';
    let detail: Record<string, unknown>;
    const given = req.totals?.get(meter.externalId);
    if (given !== undefined) {
      raw = given / meter.multiplier;
      totalFrom = 'request';
      detail = { totalKWh: given };
    } else {
      const t = periodTotalFromRegister(reads.get(meter.id) ?? [], fromMs, toMs, REGISTER_TOLERANCE_MS);
      if ('reason' in t) {
        skip(meter.externalId, t.reason);
        continue;
      }
      raw = t.total;
      totalFrom = 'register';
      detail = {
        opening: { at: new Date(t.opening.atMs).toISOString(), value: t.opening.value },
        closing: { at: new Date(t.closing.atMs).toISOString(), value: t.closing.value },
        prorated: t.prorated,
      };
    }
    const totalKWh = raw * meter.multiplier;
    let hours;
    try {
      hours = spreadByProfile({ coefficients, total: raw, fromMs, toMs, meter, holidays: req.holidays, decimals: DECIMALS });
    } catch (err) {
      if (!(err instanceof ProfileCoefficientError)) throw err;
      skip(meter.externalId, err.message, totalKWh, totalFrom);
      continue;
    }
    for (const h of hours)
      for (const part of intervalsOf(h, meter.intervalMinutes)) {
        rows.push({ meterId: meter.id, channel: IMPORT.code, startMs: part.startMs, value: part.value, intervalMinutes: meter.intervalMinutes, quality: estimated, source: sourceCode('profile') });
        notes.push({
          meterId: meter.id,
          channel: IMPORT.code,
          startMs: part.startMs,
          value: part.value,
          quality: estimated,
          method: PROFILE_METHOD,
          params: {
            period: req.period,
            total: raw,
            totalFrom,
            ...detail,
            coefficient: h.coefficient,
            coefficientOf: h.from,
            hourValue: h.value,
            region: meter.region,
            readingType: meter.tariff,
            profileGroup: meter.profileClass,
          },
          reasonCode: 'profiled',
          comment: null,
        });
      }
    results.push({ meter: meter.externalId, status: 'spread', totalKWh, totalFrom, hours: hours.length, reason: null });
  }

  const readings = { accepted: 0, unchanged: 0, superseded: 0 };
  if (rows.length) {
    const c = await writeReadings(database, rows, { transport: 'profile', principal: req.principal, detail: `profile spread ${req.period}` });
    readings.accepted = c.accepted;
    readings.unchanged = c.unchanged;
    readings.superseded = c.superseded;
    await insertNotes(database, notes, req.principal);
  }
  results.sort((a, b) => (a.meter < b.meter ? -1 : a.meter > b.meter ? 1 : 0));
  const spread = results.filter((r) => r.status === 'spread').length;
  return { period: req.period, spread, skipped: results.length - spread, readings, meters: results };
}

/** An hour's value over the meter's intervals, equal parts in 10⁻⁶ units (remainder to the first ones), so they add up to the hour exactly. */
function intervalsOf(h: { startMs: number; value: number }, intervalMinutes: number): { startMs: number; value: number }[] {
  const n = 60 / intervalMinutes;
  if (n === 1) return [h];
  const units = Math.round(h.value * SCALE);
  const base = Math.trunc(units / n);
  let left = units - base * n;
  return Array.from({ length: n }, (_, k) => {
    const extra = left !== 0 ? Math.sign(left) : 0;
    left -= extra;
    return { startMs: h.startMs + k * intervalMinutes * 60_000, value: (base + extra) / SCALE };
  });
}
