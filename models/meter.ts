import { z } from 'zod';
import { boundedText, FIELD_LIMITS } from './input-bounds.js';
import { codeText, idText, labelText, plausibleDate, quote } from './input-schemas.js';
import { isValidTimeZone } from './time.js';
import { GasAreaCodeSchema } from './gas/gas-area.js';

export const COMMODITIES = ['electricity', 'gas', 'water', 'heat', 'weather'] as const;
export const TARIFFS = ['single', 'three-time'] as const;
export const INTERVALS = [15, 30, 60] as const;

const DateOnly = plausibleDate().describe('Calendar date YYYY-MM-DD');
/** Most labels one meter carries. */
export const MAX_LABELS = 100;
/** Largest CT/VT ratio. */
export const MAX_MULTIPLIER = 1e6;
/** Integer digits a meter's register display may have (`registerDigits`): it wraps at 10^digits. */
export const REGISTER_DIGITS = { min: 4, max: 12 } as const;

/** A meter as integrators send it (`PUT /v1/meters`) and as the API returns it. */
export const MeterSchema = z
  .object({
    id: idText({ error: (iss) => (iss.input === undefined ? 'is required (the external meter id)' : 'must be a string') })
      .min(1)
      .describe('External meter id: serial number, ETSO/EIC code; unique'),
    commodity: z.enum(COMMODITIES).default('electricity'),
    timezone: z
      .string()
      .max(64)
      .default('Europe/Istanbul')
      .refine(isValidTimeZone, { message: 'unknown IANA time zone (e.g. Europe/Istanbul, Europe/Warsaw)' })
      .describe('IANA time zone of the meter; local days and hours are counted in it'),
    intervalMinutes: z
      .union([z.literal(15), z.literal(30), z.literal(60)], { error: (iss) => `must be 15, 30 or 60, got ${quote(iss.input)}` })
      .default(60)
      .describe('Load-profile interval length in minutes: 15, 30 or 60'),
    multiplier: z.number().positive().finite().max(MAX_MULTIPLIER).default(1).describe(`CT/VT ratio applied to recorded values, at most ${MAX_MULTIPLIER}`),
    group: idText().nullish(),
    portfolio: idText().nullish(),
    profileClass: codeText().nullish().describe('Subscriber group: residential, commercial, industrial, agricultural, lighting…'),
    tariff: z.enum(TARIFFS).default('single'),
    region: idText().nullish().describe('Distribution region'),
    labels: z
      .record(codeText(), labelText())
      .refine((l) => Object.keys(l).length <= MAX_LABELS, { error: `at most ${MAX_LABELS} labels` })
      .default({})
      .describe('Free key → value attributes (key at most 64 characters, value 256)'),
    supplyStart: DateOnly.nullish().describe('First day the meter is in our portfolio'),
    supplyEnd: DateOnly.nullish().describe('Last day the meter is in our portfolio'),
    weatherStation: idText().nullish().describe('Id of the weather-station meter whose data applies'),
    registerDigits: z
      .number({ error: (iss) => `must be a whole number of digits, ${REGISTER_DIGITS.min}–${REGISTER_DIGITS.max}, got ${quote(iss.input)}` })
      .int({ error: (iss) => `must be a whole number of digits, ${REGISTER_DIGITS.min}–${REGISTER_DIGITS.max}, got ${quote(iss.input)}` })
      .min(REGISTER_DIGITS.min, { error: (iss) => `must be ${REGISTER_DIGITS.min}–${REGISTER_DIGITS.max} (integer digits of the register display), got ${quote(iss.input)}` })
      .max(REGISTER_DIGITS.max, { error: (iss) => `must be ${REGISTER_DIGITS.min}–${REGISTER_DIGITS.max} (integer digits of the register display), got ${quote(iss.input)}` })
      .nullish()
      .describe(
        `Integer digits of the meter's registers (indexes), ${REGISTER_DIGITS.min}–${REGISTER_DIGITS.max}: a register wraps to 0 at 10^registerDigits in its unit ` +
          '(kWh, m³; 6 → 999 999.99 rolls over at 1 000 000), as recorded (before the multiplier). VEE uses it where no Modbus device gives the wrap point',
      ),
    gasArea: GasAreaCodeSchema.nullish().describe(
      'Gas meters: code of the gas area (PUT /v1/gas-areas/:area) whose base conditions its volumes are converted to and whose calorific values give its energy; ' +
        'null: billed on volume at metering conditions only (docs/commodities.md "Billing per commodity")',
    ),
  })
  .strict()
  .refine((m) => !m.supplyStart || !m.supplyEnd || m.supplyStart <= m.supplyEnd, {
    message: 'must not be before supplyStart',
    path: ['supplyEnd'],
  });

export type MeterInput = z.input<typeof MeterSchema>;
export type Meter = z.output<typeof MeterSchema>;

export const MeterOutSchema = z
  .object({
    id: z.string(),
    commodity: z.enum(COMMODITIES),
    timezone: z.string(),
    intervalMinutes: z.number().int(),
    multiplier: z.number(),
    group: z.string().nullable(),
    portfolio: z.string().nullable(),
    profileClass: z.string().nullable(),
    tariff: z.enum(TARIFFS),
    region: z.string().nullable(),
    labels: z.record(z.string(), z.string()),
    supplyStart: z.string().nullable(),
    supplyEnd: z.string().nullable(),
    weatherStation: z.string().nullable(),
    registerDigits: z.number().int().nullable().describe('Integer digits of the registers (wrap at 10^registerDigits), or null: not known'),
    gasArea: z.string().nullable().describe('Gas area code (gas meters), or null'),
    createdAt: z.string().describe('When the meter was first registered (UTC)'),
    updatedAt: z.string().describe('When a field last changed (UTC); an unchanged re-send keeps it'),
  })
  .describe('A registered meter: the fields of PUT /v1/meters with defaults applied, absent optionals as null');
export type MeterOut = z.infer<typeof MeterOutSchema>;

export interface MeterRowsResult {
  valid: { index: number; meter: Meter }[];
  rejected: { index: number; reason: string }[];
}

const METER_FIELDS = Object.keys(MeterSchema.shape).join(', ');

/** One readable line per zod issue, led by the field path: `timezone: unknown IANA time zone…`. */
function issueText(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}; allowed: ${METER_FIELDS}`;
  if (issue.path.length === 0 && issue.code === 'invalid_type') return `row must be a meter object {id, commodity, timezone, …}, got ${issue.message.replace(/^.*received /, '')}`;
  return issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}

/**
 * Validates raw meter rows one by one (one bad row rejects only itself), for
 * `PUT /v1/meters` and `mdm import meters`. An id given twice in the same
 * array rejects the later rows (the first one stands), since one request
 * cannot say which of two versions is meant. Pure.
 * @example parseMeterRows([{ id: 'M1' }, { id: 'M2', timezone: 'Mars/Base' }])
 * // { valid: [{ index: 0, meter: { id: 'M1', timezone: 'Europe/Istanbul', … } }],
 * //   rejected: [{ index: 1, reason: 'timezone: unknown IANA time zone (e.g. Europe/Istanbul, Europe/Warsaw)' }] }
 */
export function parseMeterRows(raw: readonly unknown[]): MeterRowsResult {
  const valid: MeterRowsResult['valid'] = [];
  const rejected: MeterRowsResult['rejected'] = [];
  const firstIndex = new Map<string, number>(); // id → first row naming it, valid or not
  for (let index = 0; index < raw.length; index++) {
    const row = raw[index];
    const id = typeof row === 'object' && row !== null ? (row as { id?: unknown }).id : undefined;
    if (typeof id === 'string') {
      const first = firstIndex.get(id);
      if (first !== undefined) {
        rejected.push({ index, reason: `id: duplicate of row ${first} ("${boundedText(id, FIELD_LIMITS.id)}"); send each meter once per request` });
        continue;
      }
      firstIndex.set(id, index);
    }
    const parsed = MeterSchema.safeParse(row);
    if (parsed.success) valid.push({ index, meter: parsed.data });
    else rejected.push({ index, reason: parsed.error.issues.map(issueText).join('; ') });
  }
  return { valid, rejected };
}
