import { z } from 'zod';
import { ALARM_SEVERITIES, ALARM_TRANSITIONS, AlarmCodeSchema, type AlarmTransition } from './alarm.js';
import { boundedString, idText } from './input-schemas.js';

/** Alarm transitions a hook can subscribe to (alarm_transitions.transition). */
export const HOOK_TRANSITIONS = ALARM_TRANSITIONS;
export type HookTransitionName = AlarmTransition;
/** Sent when a hook names none: every change of state, not the repeats. */
export const DEFAULT_HOOK_TRANSITIONS: readonly HookTransitionName[] = ['opened', 'acknowledged', 'closed'];

export const DELIVERY_STATUSES = ['pending', 'delivering', 'delivered', 'failed'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** Work-order states a receiving system reports (POST /v1/alarms/:id/work-order). */
export const WORK_ORDER_STATUSES = ['open', 'in_progress', 'done', 'cancelled'] as const;
export type WorkOrderStatus = (typeof WORK_ORDER_STATUSES)[number];

export const HookFilterSchema = z
  .object({
    codes: z.array(AlarmCodeSchema).min(1).max(100).optional().describe('Alarm codes, e.g. ["tamper", "power_failure"]; absent = every code'),
    severities: z.array(z.enum(ALARM_SEVERITIES)).min(1).optional().describe('Alarm severities; absent = every severity'),
    groups: z.array(idText().min(1)).min(1).max(1000).optional().describe('Meter groups; absent = every group (and meters without one)'),
  })
  .strict()
  .describe('All given lists must match (AND); within a list any value (OR)');
export type HookFilter = z.infer<typeof HookFilterSchema>;

export const HookCreateSchema = z
  .object({
    url: z
      .url({ protocol: /^https?$/, error: 'must be an http:// or https:// URL' })
      .max(2000)
      .describe('Where deliveries are POSTed'),
    secret: boundedString(256)
      .min(16, 'must be at least 16 characters')
      .optional()
      .describe('HMAC-SHA256 key of webhook-signature (Standard Webhooks; also of the deprecated X-MDM-Signature), used as its UTF-8 bytes; absent → generated and returned once in the response'),
    filter: HookFilterSchema.default({}),
    transitions: z
      .array(z.enum(HOOK_TRANSITIONS))
      .min(1)
      .max(HOOK_TRANSITIONS.length)
      .optional()
      .describe(`Which alarm transitions to send; default ${DEFAULT_HOOK_TRANSITIONS.join(', ')}`),
    description: boundedString(500).optional(),
  })
  .strict();
export type HookCreate = z.infer<typeof HookCreateSchema>;

export const HookOutSchema = z
  .object({
    id: z.number().int(),
    url: z.string(),
    filter: z
      .object({ codes: z.array(z.string()).optional(), severities: z.array(z.enum(ALARM_SEVERITIES)).optional(), groups: z.array(z.string()).optional() })
      .describe('As stored (the input bounds are not repeated here)'),
    transitions: z.array(z.enum(HOOK_TRANSITIONS)),
    description: z.string().nullable(),
    active: z.boolean(),
    createdAt: z.string(),
    createdBy: z.string().nullable(),
    deactivatedAt: z.string().nullable(),
    pending: z.number().int().describe('Deliveries waiting or in flight'),
    failed: z.number().int().describe('Deliveries given up (redeliver them with POST …/redeliver)'),
  })
  .describe('A hook; its secret is only shown in the creation response');

export const DeliveryOutSchema = z
  .object({
    id: z.string().describe('Delivery id, sent as webhook-id and X-MDM-Delivery on every attempt'),
    hookId: z.number().int(),
    alarmId: z.number().int(),
    transitionId: z.number().int(),
    transition: z.enum(HOOK_TRANSITIONS),
    status: z.enum(DELIVERY_STATUSES),
    attempts: z.number().int(),
    nextAttemptAt: z.string().nullable().describe('pending: when the next attempt is due'),
    lastStatus: z.number().int().nullable().describe('HTTP status of the last attempt (null: no response)'),
    lastError: z.string().nullable(),
    createdAt: z.string(),
    deliveredAt: z.string().nullable(),
  })
  .describe('One transition sent to one hook');

export const WorkOrderBodySchema = z
  .object({
    workOrderId: idText().trim().min(1).describe("The work order's id in the receiving system"),
    status: z.enum(WORK_ORDER_STATUSES).describe('open, in_progress: acknowledge the alarm; done: close it; cancelled: recorded only'),
    comment: boundedString(1000).optional(),
  })
  .strict();

/** A claimed delivery with what its request needs. */
export interface DeliveryToSend {
  readonly id: string;
  readonly hookId: number;
  readonly alarmId: number;
  readonly transitionId: number;
  readonly transition: string;
  readonly attempts: number;
  readonly url: string;
  readonly secret: string;
  readonly at: Date;
  readonly actor: string | null;
  readonly comment: string | null;
  /** alarm_transitions.payload: {alarm: {…}, meter: {…}, …}. */
  readonly payload: Record<string, unknown>;
}
