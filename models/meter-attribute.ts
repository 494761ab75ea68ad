import { z } from 'zod';
import { idText } from './input-schemas.js';
import { MAX_MULTIPLIER, TARIFFS } from './meter.js';

/**
 * Dated attributes of a metering point (issue 16): each has versions valid
 * from a local date (the point's zone) until the next version's date, like
 * TOU schedules (`effectiveFrom`). `since: null` = since always (the version a
 * meter was registered or migrated with). The meters column holds the newest
 * version's value. Pure.
 */
export const DATED_ATTRIBUTES = ['portfolio', 'tariff', 'multiplier', 'profileClass', 'supplyStart', 'supplyEnd'] as const;
export type DatedAttribute = (typeof DATED_ATTRIBUTES)[number];

/** API name → column / `meter_attributes.attribute`. */
export const ATTRIBUTE_COLUMN: Readonly<Record<DatedAttribute, string>> = {
  portfolio: 'portfolio',
  tariff: 'tariff',
  multiplier: 'multiplier',
  profileClass: 'profile_class',
  supplyStart: 'supply_start',
  supplyEnd: 'supply_end',
};
const BY_COLUMN = new Map(Object.entries(ATTRIBUTE_COLUMN).map(([k, v]) => [v, k as DatedAttribute]));
export const attributeOfColumn = (column: string): DatedAttribute | undefined => BY_COLUMN.get(column);

/** Stored text of a value (null stays null), after the attribute's own check; or the reason it is not one. */
export function attributeValueText(attribute: DatedAttribute, value: unknown): { ok: true; text: string | null } | { ok: false; reason: string } {
  const check = ATTRIBUTE_VALUE[attribute].safeParse(value);
  if (!check.success) return { ok: false, reason: `value of ${attribute}: ${check.error.issues.map((i) => i.message).join('; ')}` };
  const v = check.data;
  return { ok: true, text: v === null ? null : String(v) };
}

const ATTRIBUTE_VALUE: Readonly<Record<DatedAttribute, z.ZodType>> = {
  portfolio: idText().min(1).nullable(),
  tariff: z.enum(TARIFFS, { error: `must be one of ${TARIFFS.join(', ')}` }),
  multiplier: z.coerce
    .number({ error: 'must be a number' })
    .positive({ error: 'must be > 0' })
    .finite()
    .max(MAX_MULTIPLIER, { error: `must be at most ${MAX_MULTIPLIER}` }),
  profileClass: idText().min(1).nullable(),
  supplyStart: z.iso.date({ error: 'must be a date YYYY-MM-DD' }).nullable(),
  supplyEnd: z.iso.date({ error: 'must be a date YYYY-MM-DD' }).nullable(),
};

/** The stored text as the API shows it (multiplier as a number). */
export function attributeValueOut(attribute: DatedAttribute, text: string | null): string | number | null {
  if (text === null) return null;
  return attribute === 'multiplier' ? Number(text) : text;
}

/** One version of one attribute. */
export interface AttributeVersion {
  /** First local date it holds; null: since always. */
  readonly since: string | null;
  readonly value: string | null;
}

/** A span of a meter's window with one set of attribute values: [fromMs, toMs). */
export interface AttributeSegment<V> {
  readonly fromMs: number;
  readonly toMs: number;
  readonly value: V;
}

/**
 * Cuts [fromMs, toMs) at the instants where the value changes. `versions`:
 * ordered by `since`, each with its start instant (`sinceMs`, −∞ for null).
 * Adjacent spans with the same value are merged. Pure.
 * @example segmentsOf([{ sinceMs: -Infinity, value: '1' }, { sinceMs: 15, value: '2' }], 0, 30)
 * // [{ fromMs: 0, toMs: 15, value: '1' }, { fromMs: 15, toMs: 30, value: '2' }]
 */
export function segmentsOf<V>(versions: readonly { readonly sinceMs: number; readonly value: V }[], fromMs: number, toMs: number, same: (a: V, b: V) => boolean = Object.is): AttributeSegment<V>[] {
  const out: AttributeSegment<V>[] = [];
  for (let i = 0; i < versions.length; i++) {
    const a = Math.max(fromMs, versions[i].sinceMs);
    const b = Math.min(toMs, i + 1 < versions.length ? versions[i + 1].sinceMs : Number.POSITIVE_INFINITY);
    if (a >= b) continue;
    const last = out[out.length - 1];
    if (last && last.toMs === a && same(last.value, versions[i].value)) out[out.length - 1] = { fromMs: last.fromMs, toMs: b, value: last.value };
    else out.push({ fromMs: a, toMs: b, value: versions[i].value });
  }
  return out;
}
