import { z } from 'zod';
import { commentText, labelText } from '../input-schemas.js';
import { isValidTimeZone } from '../time.js';
import { CALORIFIC_UNITS, type CalorificUnit } from './energy.js';
import { BASE_CONDITION_PRESETS } from './volume-conversion.js';

/**
 * Gas network areas (a distribution area in Turkey, a balancing or network
 * zone in the EU) and their calorific values: the request schemas of
 * api/routes/calorific-values.route.ts (they double as its OpenAPI), and the
 * presets. docs/commodities.md "Gas".
 */

/** Area codes: letters, digits, `.`, `_`, `-`; e.g. `TR-IST`, `NCG`. */
export const GasAreaCodeSchema = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { error: 'area code: letters, digits, ".", "_" and "-", starting with a letter or digit (e.g. TR-IST)' });

/** Local gas day start hours by preset: EU 06:00 (Regulation (EU) 2017/459); Turkey 08:00 (BOTAŞ ŞİD "gün", see docs/commodities.md). */
export const GAS_DAY_START_PRESETS = { EU: 6, TR: 8 } as const;
/** The time zone a preset fills in when the body gives none. */
const PRESET_TIMEZONES = { EU: 'Europe/Brussels', TR: 'Europe/Istanbul' } as const;
export type GasAreaPreset = keyof typeof GAS_DAY_START_PRESETS;

/** PUT /v1/gas-areas/:area: explicit fields, or a preset that fills in the ones left out. */
export const GasAreaBodySchema = z
  .object({
    name: labelText().optional(),
    preset: z.enum(['EU', 'TR']).optional().describe('EU: 0 °C / 1.01325 bar, combustion 25 °C, gas day 06:00 (EASEE-gas CBP 2003-001/01). TR: 15 °C / 1.01325 bar, gas day 08:00.'),
    timezone: z
      .string()
      .max(64)
      .refine(isValidTimeZone, { error: 'timezone: an IANA zone such as Europe/Istanbul' })
      .optional()
      .describe('IANA zone of the gas day; preset TR: Europe/Istanbul, EU: Europe/Brussels'),
    baseTemperatureC: z.number().min(-50).max(60).optional().describe('Base temperature of volumes, °C'),
    basePressureBar: z.number().min(0.5).max(2).optional().describe('Base pressure of volumes, bar absolute'),
    combustionTemperatureC: z.number().min(0).max(25).optional().describe('Combustion reference temperature of the calorific values, °C'),
    gasDayStartHour: z.number().int().min(0).max(23).optional().describe('Local hour the gas day starts'),
    atmosphericPressureBar: z.number().min(0.5).max(1.1).optional().describe('Atmospheric pressure added to gauge pressures, bar; default 1.01325'),
    note: commentText().optional(),
  })
  .strict();
export type GasAreaBody = z.infer<typeof GasAreaBodySchema>;

/** A gas area as stored and served. */
export interface GasArea {
  readonly code: string;
  readonly name: string | null;
  readonly timezone: string;
  readonly baseTemperatureC: number;
  readonly basePressureBar: number;
  readonly combustionTemperatureC: number;
  readonly gasDayStartHour: number;
  readonly atmosphericPressureBar: number;
  readonly note: string | null;
}

/**
 * The stored area from a body: preset values for the fields left out; without a preset every field is needed.
 * @example resolveGasArea('TR-IST', { preset: 'TR' }) // { ok: true, area: { timezone: 'Europe/Istanbul', baseTemperatureC: 15, gasDayStartHour: 8, … } }
 */
export function resolveGasArea(code: string, body: GasAreaBody): { ok: true; area: GasArea } | { ok: false; missing: string[] } {
  const preset = body.preset ? { ...BASE_CONDITION_PRESETS[body.preset], gasDayStartHour: GAS_DAY_START_PRESETS[body.preset], timezone: PRESET_TIMEZONES[body.preset] } : undefined;
  const timezone = body.timezone ?? preset?.timezone;
  const baseTemperatureC = body.baseTemperatureC ?? preset?.temperatureC;
  const basePressureBar = body.basePressureBar ?? preset?.pressureBar;
  const combustionTemperatureC = body.combustionTemperatureC ?? preset?.combustionTemperatureC;
  const gasDayStartHour = body.gasDayStartHour ?? preset?.gasDayStartHour;
  const missing = Object.entries({ timezone, baseTemperatureC, basePressureBar, combustionTemperatureC, gasDayStartHour })
    .filter(([, v]) => v === undefined)
    .map(([k]) => k);
  if (missing.length) return { ok: false, missing };
  return {
    ok: true,
    area: {
      code,
      name: body.name ?? null,
      timezone: timezone!,
      baseTemperatureC: baseTemperatureC!,
      basePressureBar: basePressureBar!,
      combustionTemperatureC: combustionTemperatureC!,
      gasDayStartHour: gasDayStartHour!,
      atmosphericPressureBar: body.atmosphericPressureBar ?? 1.01325,
      note: body.note ?? null,
    },
  };
}

/** Most rows one POST /v1/calorific-values takes. */
export const MAX_CALORIFIC_ROWS = 10_000;
/** Longest period one calorific value may cover. */
export const MAX_CALORIFIC_PERIOD_DAYS = 400;
/**
 * Plausible calorific values, kWh/m³: natural gases (L- to H-gas), biomethane
 * and hydrogen blends lie between ≈ 8 and 13; a value outside 5…20 is a unit
 * mistake (MJ or kcal sent as kWh) or a typo.
 */
export const CALORIFIC_KWH_BOUNDS = [5, 20] as const;

const Stamp = z.string().max(64).describe('A gas day YYYY-MM-DD (its start in the area: the local date at the gas day start hour) or an ISO-8601 instant with offset');

export const CalorificValueRowSchema = z
  .object({
    area: z.string().max(64).describe('Gas area code (PUT /v1/gas-areas/:area first)'),
    validFrom: Stamp.describe('Start, inclusive: a gas day YYYY-MM-DD or an instant with offset'),
    validTo: Stamp.describe('End, exclusive: a gas day YYYY-MM-DD (the value ends where that gas day starts) or an instant with offset'),
    kind: z.enum(['superior', 'inferior']).default('superior').describe('superior (gross, Hs: what bills use) or inferior (net, Hi)'),
    value: z.number().describe('The calorific value in `unit`, per m³ at the area base conditions'),
    unit: z
      .enum(Object.keys(CALORIFIC_UNITS) as [CalorificUnit, ...CalorificUnit[]])
      .default('kWh/m3')
      .describe('kWh/m3, MJ/m3 or kcal/m3 (IT calorie, 4.1868 J)'),
    source: labelText().optional().describe('Who published it, e.g. the distributor or the TSO'),
  })
  .strict();
export type CalorificValueRow = z.infer<typeof CalorificValueRowSchema>;

/** Rows are checked one by one in the handler (row-level rejects), so the array holds loosely typed items: one bad row does not refuse the batch. */
export const CalorificValuesBodySchema = z
  .object({
    values: z.array(z.unknown()).min(1).max(MAX_CALORIFIC_ROWS).describe(`Up to ${MAX_CALORIFIC_ROWS} rows, each as CalorificValueRow`),
  })
  .strict();
