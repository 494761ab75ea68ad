import { z } from 'zod';
import { boundedText, FIELD_LIMITS, safeJson } from './input-bounds.js';
import { parseInstant, type ParsedInstant } from './time.js';

/**
 * The zod pieces every request schema builds stored fields from (issue 11:
 * bad input gets a 4xx with a reason before anything is stored): bounded text
 * without U+0000, finite bounded amounts, dates and instants inside the window
 * the service stores. docs/api.md "Bad input" lists the bounds.
 */

const noNul = (s: string) => !s.includes('\u0000');

/**
 * A value quoted in an error message: its JSON, at most 40 characters (a
 * 50 MB field must not come back whole in the reason).
 * @example quote('x'.repeat(100)) // '"xxxxxxxx…" … (102 characters in all)'
 */
export const quote = (value: unknown): string => (value === undefined ? 'nothing' : boundedText(safeJson(value), 40));
/** z.string's own parameters (e.g. the message for a missing or non-string value). */
type StringParams = Parameters<typeof z.string>[0];
const NUL_MESSAGE = 'must not contain a NUL (U+0000) character';

/**
 * Text that is stored: at most `max` characters and no U+0000 (PostgreSQL
 * text cannot hold it). Chain `.min()`, `.regex()`, `.describe()` as usual.
 * @example boundedString(8).safeParse('S0\u000011').success // false
 */
export const boundedString = (max: number, params?: StringParams) =>
  z
    .string(params)
    .max(max, { error: (iss) => `must be at most ${max} characters${typeof iss.input === 'string' ? `, got ${iss.input.length}` : ''}` })
    .refine(noNul, NUL_MESSAGE);

/** Meter, device, gateway, portfolio, group and key ids (FIELD_LIMITS.id). */
export const idText = (params?: StringParams) => boundedString(FIELD_LIMITS.id, params);
/** Channel names, OBIS codes, event and reason codes (FIELD_LIMITS.code). */
export const codeText = (params?: StringParams) => boundedString(FIELD_LIMITS.code, params);
/** Labels, names, attribute values (FIELD_LIMITS.label). */
export const labelText = (params?: StringParams) => boundedString(FIELD_LIMITS.label, params);
/** Comments, notes, reasons (FIELD_LIMITS.comment). */
export const commentText = (params?: StringParams) => boundedString(FIELD_LIMITS.comment, params);

/**
 * Largest magnitude of an amount a request may carry (energy in kWh or MWh,
 * prices per MWh, coefficients, thresholds): 10^12. Far beyond any meter or
 * market figure, and a million of them still sum inside double precision and
 * PostgreSQL's float8 (1.7976931348623157e308 is where rollups used to overflow).
 */
export const MAX_ABS_AMOUNT = 1e12;

/**
 * A finite number with |x| ≤ MAX_ABS_AMOUNT. Chain `.min(0)`, `.positive()`.
 * @example amount().safeParse(1.7976931348623157e308).success // false
 */
export const amount = () =>
  z
    .number()
    .finite()
    .min(-MAX_ABS_AMOUNT, { error: `must be at least -${MAX_ABS_AMOUNT.toExponential()}` })
    .max(MAX_ABS_AMOUNT, { error: `must be at most ${MAX_ABS_AMOUNT.toExponential()}` });

/** First and last calendar date a stored date may name (effective dates, supply dates). */
export const DATE_WINDOW = { from: '1990-01-01', to: '2099-12-31' } as const;
/** Instants a stored timestamp may name: [1990-01-01T00:00Z, 2100-01-01T00:00Z). Readings have their own, narrower window (ingest/normalize.ts). */
export const INSTANT_WINDOW_MS = { from: Date.UTC(1990, 0, 1), to: Date.UTC(2100, 0, 1) } as const;

/**
 * A calendar date YYYY-MM-DD inside DATE_WINDOW.
 * @example plausibleDate().safeParse('9999-12-31').success // false
 */
export const plausibleDate = () =>
  z.iso
    .date({ error: (iss) => `must be a calendar date YYYY-MM-DD, got ${quote(iss.input)}` })
    .refine((d) => d >= DATE_WINDOW.from && d <= DATE_WINDOW.to, { error: `must be between ${DATE_WINDOW.from} and ${DATE_WINDOW.to}` });

/**
 * parseInstant plus the stored window: an instant outside 1990..2099 is
 * refused with a reason instead of reaching the database (year 9999 in a +03
 * zone is year 10000, which PostgreSQL cannot print).
 * @example storedInstant('9999-12-31T23:00:00Z').ok // false
 */
export function storedInstant(text: unknown): ParsedInstant {
  if (typeof text !== 'string') return parseInstant(text);
  if (text.length > 64) return { ok: false, reason: `"${text.slice(0, 40)}…" (${text.length} characters) is not an ISO-8601 instant` };
  if (!noNul(text)) return { ok: false, reason: `timestamp ${NUL_MESSAGE}` };
  const t = parseInstant(text);
  if (!t.ok) return t;
  if (t.ms < INSTANT_WINDOW_MS.from || t.ms >= INSTANT_WINDOW_MS.to) {
    return { ok: false, reason: `timestamp "${text}" is outside ${DATE_WINDOW.from}..${DATE_WINDOW.to}: check the year` };
  }
  return t;
}
