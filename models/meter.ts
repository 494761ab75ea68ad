import { z } from 'zod';
import { isValidTimeZone } from './time.js';

export const COMMODITIES = ['electricity', 'gas', 'water', 'heat', 'weather'] as const;
export const TARIFFS = ['single', 'three-time'] as const;
export const INTERVALS = [15, 30, 60] as const;

const DateOnly = z.iso.date().describe('Calendar date YYYY-MM-DD');

/** A meter as integrators send it (`PUT /v1/meters`) and as the API returns it. */
export const MeterSchema = z
  .object({
    id: z.string().min(1).max(128).describe('External meter id: serial number, ETSO/EIC code; unique'),
    commodity: z.enum(COMMODITIES).default('electricity'),
    timezone: z
      .string()
      .default('Europe/Istanbul')
      .refine(isValidTimeZone, { message: 'unknown IANA time zone (e.g. Europe/Istanbul, Europe/Warsaw)' })
      .describe('IANA time zone of the meter; local days and hours are counted in it'),
    intervalMinutes: z
      .union([z.literal(15), z.literal(30), z.literal(60)])
      .default(60)
      .describe('Load-profile interval length in minutes: 15, 30 or 60'),
    multiplier: z.number().positive().finite().default(1).describe('CT/VT ratio applied to recorded values'),
    group: z.string().max(128).nullish(),
    portfolio: z.string().max(128).nullish(),
    profileClass: z.string().max(64).nullish().describe('Subscriber group: residential, commercial, industrial, agricultural, lighting…'),
    tariff: z.enum(TARIFFS).default('single'),
    region: z.string().max(128).nullish().describe('Distribution region'),
    labels: z.record(z.string(), z.string()).default({}),
    supplyStart: DateOnly.nullish().describe('First day the meter is in our portfolio'),
    supplyEnd: DateOnly.nullish().describe('Last day the meter is in our portfolio'),
    weatherStation: z.string().max(128).nullish().describe('Id of the weather-station meter whose data applies'),
  })
  .strict()
  .refine((m) => !m.supplyStart || !m.supplyEnd || m.supplyStart <= m.supplyEnd, {
    message: 'supplyEnd is before supplyStart',
    path: ['supplyEnd'],
  });

export type MeterInput = z.input<typeof MeterSchema>;
export type Meter = z.output<typeof MeterSchema>;

export const MeterOutSchema = z.object({
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
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type MeterOut = z.infer<typeof MeterOutSchema>;
