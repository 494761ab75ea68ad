import { z } from 'zod';
import { CHANNEL_NAMES } from './channel.js';
import { amount, codeText, commentText, idText } from './input-schemas.js';
import { RULES as VEE_RULES } from './vee.js';

/**
 * Alarms: codes, severities, restore pairs, and the stored rule kinds
 * (threshold, silence, VEE, vendor-code mapping). Pure; docs/alarms.md
 * explains them for users.
 */

export const ALARM_SEVERITIES = ['critical', 'major', 'minor', 'warning', 'info'] as const;
export type AlarmSeverity = (typeof ALARM_SEVERITIES)[number];

export const ALARM_STATES = ['open', 'acknowledged', 'closed'] as const;
export type AlarmState = (typeof ALARM_STATES)[number];

/** Where an alarm came from (alarms.source). */
export const ALARM_SOURCES = ['event', 'rule', 'silence', 'vee'] as const;
export type AlarmSource = (typeof ALARM_SOURCES)[number];

/** The outbox's transition names (alarm_transitions.transition). */
export const ALARM_TRANSITIONS = ['opened', 'repeated', 'acknowledged', 'closed'] as const;
export type AlarmTransition = (typeof ALARM_TRANSITIONS)[number];

/**
 * Event codes that raise an alarm, with their default severity. A device's own
 * severity replaces the default when it is one of ALARM_SEVERITIES; a vendor
 * mapping rule's severity replaces both.
 */
export const ALARM_CODES = {
  power_failure: 'major',
  tamper: 'critical',
  cover_open: 'critical',
  magnetic_field: 'critical',
  reverse_flow: 'major',
  low_battery: 'minor',
  communication_failure: 'major',
  clock_error: 'minor',
  valve_closed: 'major',
  /** Silence rules: no reading from the meter for N hours. */
  no_data: 'major',
  /** Modbus register checks (adapters/modbus/poll-sink.ts). */
  register_reset: 'warning',
  register_jump: 'warning',
} as const satisfies Record<string, AlarmSeverity>;
export type KnownAlarmCode = keyof typeof ALARM_CODES;

/**
 * Restore events and the alarm codes they close. A restore never opens an
 * alarm itself; it closes the counterpart opened at or before its time.
 * `no_data` has no restore event: data arriving closes it.
 */
export const RESTORE_CODES: Readonly<Record<string, readonly string[]>> = {
  power_restored: ['power_failure'],
  communication_restored: ['communication_failure'],
  cover_closed: ['cover_open'],
  tamper_cleared: ['tamper'],
  magnetic_field_cleared: ['magnetic_field'],
  reverse_flow_cleared: ['reverse_flow'],
  battery_ok: ['low_battery'],
  clock_synchronized: ['clock_error'],
  valve_opened: ['valve_closed'],
};

/**
 * Common spellings of the codes above, mapped before anything else unless a
 * stored mapping rule names the same vendor code.
 */
export const BUILTIN_CODE_ALIASES: Readonly<Record<string, string>> = {
  cover_opened: 'cover_open',
  terminal_cover_open: 'cover_open',
  battery_low: 'low_battery',
  power_down: 'power_failure',
  power_up: 'power_restored',
  magnetic_tamper: 'magnetic_field',
};

/** Codes: lower-case letters, digits and _ (alarm codes, rule codes, mapped codes). */
export const AlarmCodeSchema = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be lower-case letters, digits and _, starting with a letter, at most 64 characters (e.g. low_pressure)');

/** Rule ids (URL path part): letters, digits, _ and -. */
export const RuleIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/, 'must be letters, digits, _ and -, at most 64 characters (e.g. gas-low-pressure)');

const groups = z.array(idText().min(1)).min(1).max(1000).optional().describe('Meter groups the rule applies to; absent = every meter');
const severity = z.enum(ALARM_SEVERITIES);

/**
 * Threshold with hysteresis and a minimum duration on one channel, e.g.
 * pressure below 0.5 bar for 15 minutes: opens when every value for
 * `minDurationMinutes` was beyond `threshold`, closes when a value is back
 * past `threshold ± hysteresis` (see alarms/threshold.ts).
 */
export const ThresholdRuleSchema = z
  .object({
    kind: z.literal('threshold'),
    channel: z.enum(CHANNEL_NAMES).describe('Channel whose values are checked (as recorded, before the meter multiplier)'),
    groups,
    condition: z.enum(['below', 'above']).describe('below: value < threshold violates; above: value > threshold violates'),
    threshold: amount().describe('In the channel unit, e.g. 0.5 (bar)'),
    hysteresis: amount().nonnegative().default(0).describe('Clears only once the value is back past threshold + hysteresis (below) or threshold − hysteresis (above)'),
    minDurationMinutes: z.number().nonnegative().max(525_600).default(0).describe('The violation must last this long (first to latest violating value) before the alarm opens; 0 = at once'),
    code: AlarmCodeSchema.optional().describe('Alarm code; default rule_<id> with - as _'),
    severity: severity.default('major'),
  })
  .strict();

/** No reading from a meter for `hours` → `no_data`; closes when data returns. */
export const SilenceRuleSchema = z
  .object({
    kind: z.literal('silence'),
    groups,
    hours: z.number().positive().max(8760).describe('Hours without any reading (newest reading time, any channel) before no_data opens'),
    severity: severity.default('major'),
  })
  .strict();

/** VEE issues of severity fail → alarm `vee_<rule>` (or `code`). */
export const VeeAlarmRuleSchema = z
  .object({
    kind: z.literal('vee'),
    veeRules: z.array(z.enum(VEE_RULES)).min(1).optional().describe('VEE rules whose fail issues raise alarms; absent = every rule'),
    groups,
    includeEstimated: z.boolean().default(false).describe('Also alarm on fail issues VEE already replaced by an automatic estimate'),
    code: AlarmCodeSchema.optional().describe('Alarm code; default vee_<rule>'),
    severity: severity.default('minor'),
  })
  .strict();

/** A vendor event code mapped to an alarm (or restore) code, e.g. "E-0x1A07" → tamper. */
export const CodeMapRuleSchema = z
  .object({
    kind: z.literal('map'),
    vendorCode: codeText().min(1).describe('The code as the device sends it (exact, case-sensitive)'),
    code: AlarmCodeSchema.describe('Alarm code it raises, or a restore code (e.g. power_restored) it acts as'),
    severity: severity.optional().describe('Overrides the device severity and the code default'),
  })
  .strict();

export const AlarmRuleSchema = z.discriminatedUnion('kind', [ThresholdRuleSchema, SilenceRuleSchema, VeeAlarmRuleSchema, CodeMapRuleSchema]);
export type ThresholdRule = z.output<typeof ThresholdRuleSchema>;
export type SilenceRule = z.output<typeof SilenceRuleSchema>;
export type VeeAlarmRule = z.output<typeof VeeAlarmRuleSchema>;
export type CodeMapRule = z.output<typeof CodeMapRuleSchema>;
export type AlarmRuleDefinition = z.output<typeof AlarmRuleSchema>;

/** A stored rule: its id and whether it is on. */
export type StoredAlarmRule = AlarmRuleDefinition & { readonly id: string; readonly enabled: boolean };

/** The alarm code a threshold rule raises. */
export const thresholdCode = (id: string, rule: Pick<ThresholdRule, 'code'>): string => rule.code ?? `rule_${id.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 64);
/** The alarm code a VEE rule's fail issue raises. */
export const veeCode = (veeRule: string, rule: Pick<VeeAlarmRule, 'code'>): string => rule.code ?? `vee_${veeRule}`;

/** True when a rule with `groups` applies to a meter of `group`. */
export const ruleApplies = (rule: { readonly groups?: readonly string[] }, group: string | null): boolean => !rule.groups || (group !== null && rule.groups.includes(group));

/**
 * The silence rules that decide for a meter of `group`: the rules naming its
 * group if any, else the rules for every meter; the shortest `hours` of those
 * wins. So a group rule overrides the catch-all for that group. Pure.
 */
export function silenceHoursFor(rules: readonly (SilenceRule & { id: string })[], group: string | null): { hours: number; rule: SilenceRule & { id: string } } | undefined {
  const own = rules.filter((r) => r.groups && group !== null && r.groups.includes(group));
  const pool = own.length ? own : rules.filter((r) => !r.groups);
  let best: (SilenceRule & { id: string }) | undefined;
  for (const r of pool) if (!best || r.hours < best.hours) best = r;
  return best && { hours: best.hours, rule: best };
}

/** What one incoming event does to alarms. */
export type EventAction =
  | { readonly kind: 'raise'; readonly code: string; readonly severity: AlarmSeverity }
  | { readonly kind: 'restore'; readonly closes: readonly string[] }
  | { readonly kind: 'none' };

/** A table entry, never an Object.prototype member (an event code may be "constructor"). */
const own = <T>(o: Readonly<Record<string, T>>, k: string): T | undefined => (Object.hasOwn(o, k) ? o[k] : undefined);
const isSeverity = (s: unknown): s is AlarmSeverity => typeof s === 'string' && (ALARM_SEVERITIES as readonly string[]).includes(s);

/**
 * Classifies an event code: a stored vendor mapping first (exact vendor
 * code), then BUILTIN_CODE_ALIASES, then restore codes, then known alarm
 * codes. Other codes are stored as events only (no alarm) until a mapping
 * names them. Pure.
 * @example eventAction('E17', null, new Map([['E17', { code: 'tamper' }]])) // { kind: 'raise', code: 'tamper', severity: 'critical' }
 * @example eventAction('power_restored', null, new Map()) // { kind: 'restore', closes: ['power_failure'] }
 */
export function eventAction(code: string, deviceSeverity: string | null, mappings: ReadonlyMap<string, { code: string; severity?: AlarmSeverity }>): EventAction {
  const mapped = mappings.get(code);
  const effective = mapped?.code ?? own(BUILTIN_CODE_ALIASES, code) ?? code;
  const closes = own(RESTORE_CODES, effective);
  if (closes) return { kind: 'restore', closes };
  const known = own<AlarmSeverity>(ALARM_CODES, effective);
  if (known === undefined && !mapped) return { kind: 'none' };
  const sev = mapped?.severity ?? (isSeverity(deviceSeverity) ? deviceSeverity : (known ?? 'warning'));
  return { kind: 'raise', code: effective, severity: sev };
}

/* ----------------------------------------------------------------- API */

export const AlarmSchema = z
  .object({
    id: z.number().int(),
    meter: z.string().describe('External meter id'),
    code: z.string(),
    severity: z.enum(ALARM_SEVERITIES),
    state: z.enum(ALARM_STATES),
    count: z.number().int().describe('Occurrences while not closed (1 when opened, +1 per repeat)'),
    openedAt: z.string().describe('When it happened first (event time, or the reading time that met the rule), UTC'),
    lastSeenAt: z.string().describe('Latest occurrence, UTC'),
    closedAt: z.string().nullable(),
    source: z.enum(ALARM_SOURCES).describe('event, rule (threshold), silence (no_data) or vee'),
    rule: z.string().nullable().describe('Id of the alarm rule that raised it'),
    acknowledgedAt: z.string().nullable(),
    acknowledgedBy: z.string().nullable(),
    closedBy: z.string().nullable().describe('User or key name; "event:<code>" for restore events, "data" when data returned, "rule:<id>" when a value came back'),
    comment: z.string().nullable().describe('Comment of the latest acknowledge/close'),
    workOrder: z.object({ id: z.string(), status: z.string().nullable() }).nullable().describe('Work order reported back by the work-order system'),
    data: z.unknown().describe('Details of the latest occurrence (event data, rule values)'),
  })
  .describe('An alarm');
export type AlarmOut = z.infer<typeof AlarmSchema>;

export const AlarmActionBody = z
  .object({
    user: idText().trim().min(1).optional().describe("Who acts; default the API key's name"),
    comment: commentText().trim().min(1).describe('Why (kept with the alarm and sent to hooks)'),
  })
  .strict();

export const AlarmsQuery = z
  .object({
    state: z
      .enum([...ALARM_STATES, 'active'])
      .optional()
      .describe('active = open or acknowledged'),
    code: AlarmCodeSchema.optional(),
    severity: z.enum(ALARM_SEVERITIES).optional(),
    meter: idText().min(1).optional().describe('External meter id'),
    group: idText().min(1).optional().describe('Meter group'),
    from: z.string().optional().describe('Alarms opened at or after (ISO-8601 with offset)'),
    to: z.string().optional().describe('…and before (exclusive)'),
    before: z.coerce.number().int().positive().optional().describe('Cursor: nextCursor of the previous page'),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  })
  .strict();

export const EventsResultSchema = z.object({
  accepted: z.number().int().describe('Events stored now'),
  unchanged: z.number().int().describe('Events already stored (same meter, code and at): no-op'),
  rejected: z.array(z.object({ index: z.number().int(), reason: z.string() })),
  alarms: z.object({ opened: z.number().int(), repeated: z.number().int(), closed: z.number().int() }),
});
