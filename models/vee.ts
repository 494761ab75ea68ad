import { z } from 'zod';
import type { Quality } from './reading.js';

/** VEE rule names; stored in validation issues (never rename). */
export const RULES = ['gap', 'conflict', 'negative', 'spike', 'high_low', 'zero_run', 'flat_line', 'sum_check', 'register', 'time', 'range'] as const;
export type RuleName = (typeof RULES)[number];
export type Severity = 'warn' | 'fail';

/** One point of a series handed to the rules: epoch ms, recorded value, quality. */
export interface VeePoint {
  readonly startMs: number;
  readonly value: number;
  readonly quality: Quality;
}

/** What a rule finds: a range of one meter/channel and why. */
export interface VeeFinding {
  readonly rule: RuleName;
  readonly severity: Severity;
  readonly fromMs: number;
  /** Exclusive end. */
  readonly toMs: number;
  readonly detail: string;
  /** Interval starts the finding marks suspect (empty for gaps). */
  readonly suspectStarts: readonly number[];
}

const severity = z.enum(['warn', 'fail']);

/**
 * Rule parameters with their defaults. One object per profile class/commodity
 * overrides them (see ingest/vee/config.ts).
 */
export const VeeParamsSchema = z
  .object({
    gap: z.object({ enabled: z.boolean().default(true), severity: severity.default('fail') }).default({ enabled: true, severity: 'fail' }),
    negative: z.object({ enabled: z.boolean().default(true), severity: severity.default('fail') }).default({ enabled: true, severity: 'fail' }),
    spike: z
      .object({
        enabled: z.boolean().default(true),
        severity: severity.default('warn'),
        /** Value above k × (median + 1.4826·MAD) of the meter's own history. */
        k: z.number().positive().default(5),
        /** Physical maximum: contracted power in kW (× interval hours); absent = not checked. */
        maxKw: z.number().positive().optional(),
        /** Below this the spike rule stays silent (kWh per interval). */
        minValue: z.number().nonnegative().default(0.5),
      })
      .default({ enabled: true, severity: 'warn', k: 5, minValue: 0.5 }),
    highLow: z
      .object({ enabled: z.boolean().default(true), severity: severity.default('warn'), low: z.number().default(0.2), high: z.number().default(3) })
      .default({ enabled: true, severity: 'warn', low: 0.2, high: 3 }),
    zeroRun: z
      .object({ enabled: z.boolean().default(true), severity: severity.default('warn'), hours: z.number().positive().default(6) })
      .default({ enabled: true, severity: 'warn', hours: 6 }),
    flatLine: z
      .object({ enabled: z.boolean().default(true), severity: severity.default('warn'), hours: z.number().positive().default(12) })
      .default({ enabled: true, severity: 'warn', hours: 12 }),
    sumCheck: z
      .object({ enabled: z.boolean().default(true), severity: severity.default('fail'), absolute: z.number().nonnegative().default(1), percent: z.number().nonnegative().default(2) })
      .default({ enabled: true, severity: 'fail', absolute: 1, percent: 2 }),
    register: z
      .object({ enabled: z.boolean().default(true), severity: severity.default('fail'), rolloverAt: z.number().positive().optional() })
      .default({ enabled: true, severity: 'fail' }),
    time: z
      .object({ enabled: z.boolean().default(true), severity: severity.default('fail'), futureMinutes: z.number().nonnegative().default(15), horizonDays: z.number().positive().default(400) })
      .default({ enabled: true, severity: 'fail', futureMinutes: 15, horizonDays: 400 }),
    range: z
      .object({
        enabled: z.boolean().default(true),
        severity: severity.default('fail'),
        temperature: z.tuple([z.number(), z.number()]).default([-60, 80]),
        pressure: z.tuple([z.number(), z.number()]).default([0, 100]),
      })
      .default({ enabled: true, severity: 'fail', temperature: [-60, 80], pressure: [0, 100] }),
  })
  .strict();
export type VeeParams = z.output<typeof VeeParamsSchema>;
export const DEFAULT_VEE_PARAMS: VeeParams = VeeParamsSchema.parse({});
