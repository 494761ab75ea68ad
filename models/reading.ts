import { z } from 'zod';
import { ChannelInputSchema } from './channel.js';

/** Quality flags. `code` is what the database stores (never renumber). */
export const QUALITIES = ['measured', 'validated', 'estimated', 'edited', 'suspect', 'missing'] as const;
export type Quality = (typeof QUALITIES)[number];

/**
 * Where a value came from. `code` is what the database stores (never renumber).
 * `profile`: hourly estimates spread from profile coefficients (forecast/profile-coefficients.ts, migration 013).
 */
export const SOURCES = ['http', 'mqtt', 'modbus', 'file', 'settlement', 'manual', 'estimated', 'profile'] as const;
export type Source = (typeof SOURCES)[number];

export const qualityCode = (q: Quality): number => QUALITIES.indexOf(q);
export const sourceCode = (s: Source): number => SOURCES.indexOf(s);
export const qualityName = (code: number): Quality => QUALITIES[code];
export const sourceName = (code: number): Source => SOURCES[code];

/**
 * One reading as sent by a head-end (HTTP, MQTT, file). Documentation schema: the
 * ingest path checks rows one by one (see ingest/normalize.ts) so that one bad
 * row rejects only itself.
 */
export const ReadingInputSchema = z.object({
  meter: z.string().describe('External meter id (must be registered)'),
  channel: ChannelInputSchema,
  start: z.string().describe('Interval start (interval channels) or read time (register/instantaneous), ISO-8601 with offset or Z'),
  value: z.number().describe('Finite number in the channel unit, before the meter multiplier'),
  quality: z.enum(QUALITIES).optional().describe('Default measured'),
  source: z.enum(SOURCES).optional().describe('Default: the transport (http, mqtt, modbus, file)'),
  intervalMinutes: z
    .union([z.literal(15), z.literal(30), z.literal(60)])
    .optional()
    .describe('Interval length when it differs from the meter default'),
});
export type ReadingInput = z.infer<typeof ReadingInputSchema>;

/** A reading after validation, ready to store. Times are epoch milliseconds. */
export interface NormalizedReading {
  readonly meterId: number;
  readonly channel: number;
  readonly startMs: number;
  readonly value: number;
  readonly intervalMinutes: number | null;
  readonly quality: number;
  readonly source: number;
}

export interface RowReject {
  readonly index: number;
  readonly reason: string;
}

export const IngestResultSchema = z.object({
  accepted: z.number().int().describe('Rows stored as new values'),
  unchanged: z.number().int().describe('Rows identical to the stored value (no-op)'),
  superseded: z.number().int().describe('Rows that replaced a different stored value (old value kept in history)'),
  rejected: z.array(z.object({ index: z.number().int(), reason: z.string() })),
});
export type IngestResult = z.infer<typeof IngestResultSchema>;
