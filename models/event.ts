import { z } from 'zod';
import { codeText, idText, storedInstant } from './input-schemas.js';
import { FIELD_LIMITS, fieldProblem, safeJson } from './input-bounds.js';

/** Longest `data` of an event, as JSON text. */
export const MAX_EVENT_DATA_CHARS = 8192;

/** A NUL in JSON text: the escape \u0000 not itself escaped (jsonb cannot hold U+0000). */
const JSON_NUL = /(?<!\\)(?:\\\\)*\\u0000/;

/** Why `data` cannot be stored, or undefined. */
function dataProblem(data: unknown): string | undefined {
  const text = safeJson(data);
  if (text.length > MAX_EVENT_DATA_CHARS) return `is ${text.length} characters of JSON; at most ${MAX_EVENT_DATA_CHARS}`;
  if (JSON_NUL.test(text)) return 'contains a NUL (U+0000) character, which cannot be stored';
  return undefined;
}

/**
 * A meter event or alarm as a device sends it (`mdm/v1/meters/{meterId}/events`).
 * Stored and applied to alarms by alarms/events.ts recordEvents.
 */
export const MeterEventSchema = z
  .object({
    code: codeText({ error: (iss) => (iss.input === undefined ? 'is required (e.g. power_failure, cover_opened)' : 'must be a string') })
      .min(1)
      .describe('Event or alarm code, e.g. power_failure, cover_opened, communication_failure'),
    at: z.string({ error: 'is required: when it happened, ISO-8601 with offset' }).describe('When it happened, ISO-8601 with offset or Z'),
    severity: codeText().min(1).max(32).nullish().describe('Free text, e.g. info, warning, critical'),
    data: z
      .unknown()
      .superRefine((d, ctx) => {
        const problem = dataProblem(d);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .optional()
      .describe(`Any JSON the device adds (stored as jsonb), at most ${MAX_EVENT_DATA_CHARS} characters`),
  })
  .strict();
export type MeterEventInput = z.input<typeof MeterEventSchema>;

/** An event after validation; `atMs` is epoch milliseconds. */
export interface ParsedEvent {
  readonly code: string;
  readonly atMs: number;
  readonly severity: string | null;
  readonly data: unknown;
}

export interface EventRowsResult {
  valid: { index: number; event: ParsedEvent }[];
  rejected: { index: number; reason: string }[];
}

const EVENT_FIELDS = Object.keys(MeterEventSchema.shape).join(', ');

function issueText(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}; allowed: ${EVENT_FIELDS}`;
  if (issue.path.length === 0 && issue.code === 'invalid_type') return 'event must be an object {code, at, severity?, data?}';
  return issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}

/**
 * Validates raw events one by one (one bad event rejects only itself). Pure.
 * @example parseEventRows([{ code: 'power_failure', at: '2026-01-01T10:00:00+03:00' }, { code: 'x', at: '2026-01-01T10:00' }])
 * // { valid: [{ index: 0, event: { code: 'power_failure', atMs: 1767250800000, severity: null, data: null } }],
 * //   rejected: [{ index: 1, reason: 'at: timestamp "2026-01-01T10:00" has no UTC offset: …' }] }
 */
export function parseEventRows(raw: readonly unknown[]): EventRowsResult {
  const valid: EventRowsResult['valid'] = [];
  const rejected: EventRowsResult['rejected'] = [];
  for (let index = 0; index < raw.length; index++) {
    const parsed = MeterEventSchema.safeParse(raw[index]);
    if (!parsed.success) {
      rejected.push({ index, reason: parsed.error.issues.map(issueText).join('; ') });
      continue;
    }
    const at = storedInstant(parsed.data.at);
    if (!at.ok) {
      rejected.push({ index, reason: `at: ${at.reason}` });
      continue;
    }
    valid.push({ index, event: { code: parsed.data.code, atMs: at.ms, severity: parsed.data.severity ?? null, data: parsed.data.data ?? null } });
  }
  return { valid, rejected };
}

/** An event of POST /v1/events: a MeterEventSchema event plus the meter it belongs to. */
export const HttpEventSchema = MeterEventSchema.extend({ meter: idText().min(1).describe('External meter id') }).strict();

/**
 * Validates events that name their meter (POST /v1/events), one by one, with
 * the same checks and messages as parseEventRows. Pure.
 * @example parseMeterEventRows([{ meter: 'M1', code: 'tamper', at: '2026-01-01T10:00:00Z' }, { code: 'tamper' }])
 * // { valid: [{ index: 0, meter: 'M1', event: { code: 'tamper', atMs: 1767261600000, … } }],
 * //   rejected: [{ index: 1, meter: null, reason: 'meter: is required (the external meter id)' }] }
 */
export function parseMeterEventRows(raw: readonly unknown[]): {
  valid: { index: number; meter: string; event: ParsedEvent }[];
  rejected: { index: number; meter: string | null; reason: string }[];
} {
  const valid: { index: number; meter: string; event: ParsedEvent }[] = [];
  const rejected: { index: number; meter: string | null; reason: string }[] = [];
  raw.forEach((row, index) => {
    if (row === null || typeof row !== 'object' || Array.isArray(row)) {
      rejected.push({ index, meter: null, reason: 'event must be an object {meter, code, at, severity?, data?}' });
      return;
    }
    const { meter, ...rest } = row as Record<string, unknown>;
    if (typeof meter !== 'string' || meter.length === 0) {
      rejected.push({ index, meter: null, reason: 'meter: is required (the external meter id)' });
      return;
    }
    const problem = fieldProblem('meter', meter, FIELD_LIMITS.id);
    if (problem) {
      rejected.push({ index, meter: null, reason: problem });
      return;
    }
    const one = parseEventRows([rest]);
    if (one.valid.length) valid.push({ index, meter, event: one.valid[0].event });
    else rejected.push({ index, meter, reason: one.rejected[0].reason.replace('allowed: code,', 'allowed: meter, code,') });
  });
  return { valid, rejected };
}
