import { z } from 'zod';
import { idText } from './input-schemas.js';

/** Most groups or prefixes one key scope lists. */
export const MAX_SCOPE_ENTRIES = 1000;

/**
 * Key roles, one per kind of user (issue 12, defect 7): admin; gateway
 * (head-ends writing data); billing; trader (positions, nominations,
 * forecast runs); operator (field operations: alarms, and the meters and
 * data behind them); viewer (read-only); steward (the data steward: edits
 * readings, accepts or rejects VEE issues, closes billing periods, without
 * being admin). Names are stored with keys: never rename one.
 */
export const ROLES = ['admin', 'gateway', 'billing', 'trader', 'operator', 'viewer', 'steward'] as const;
export type Role = (typeof ROLES)[number];

/** Limits a `gateway` key to meter groups and/or meter-id prefixes. Empty or absent = any registered meter. */
export const KeyScopeSchema = z
  .object({
    groups: z.array(idText().min(1)).max(MAX_SCOPE_ENTRIES).optional(),
    meterPrefixes: z.array(idText().min(1)).max(MAX_SCOPE_ENTRIES).optional(),
  })
  .strict();
export type KeyScope = z.infer<typeof KeyScopeSchema>;

export const KeyCreateSchema = z
  .object({
    name: idText().min(1).describe('Who uses the key; for gateways, the gateway id'),
    role: z.enum(ROLES),
    scope: KeyScopeSchema.optional(),
  })
  .strict();

export const KeyOutSchema = z.object({
  id: z.string(),
  name: z.string(),
  role: z.enum(ROLES),
  // Responses carry what is stored as it is: the input bounds are not repeated (a key stored before them still lists).
  scope: z.object({ groups: z.array(z.string()).optional(), meterPrefixes: z.array(z.string()).optional() }).nullable(),
  createdAt: z.string(),
  lastUsedAt: z.string().nullable(),
});
export type KeyOut = z.infer<typeof KeyOutSchema>;

/** What a request knows about its caller after authentication. */
export interface Principal {
  readonly keyId: string;
  readonly name: string;
  readonly role: Role;
  readonly scope: KeyScope | null;
}

/** True when `meter` (external id, group) is inside the key scope. */
export function scopeAllows(scope: KeyScope | null, meter: { id: string; group: string | null }): boolean {
  if (!scope) return true;
  const groups = scope.groups ?? [];
  const prefixes = scope.meterPrefixes ?? [];
  if (groups.length === 0 && prefixes.length === 0) return true;
  if (meter.group !== null && groups.includes(meter.group)) return true;
  return prefixes.some((p) => meter.id.startsWith(p));
}

/**
 * What each role may do. One table, used by the auth hook and printed in
 * docs/api.md. admin may do everything.
 */
export const PERMISSIONS = {
  'readings:write': ['admin', 'gateway'],
  'meters:write': ['admin', 'gateway'],
  'meters:read': ['admin', 'billing', 'trader', 'operator', 'viewer', 'steward'],
  'readings:read': ['admin', 'billing', 'trader', 'operator', 'viewer', 'steward'],
  'aggregate:read': ['admin', 'billing', 'trader', 'viewer', 'steward'],
  'billing:read': ['admin', 'billing', 'steward'],
  'billing:admin': ['admin', 'steward'],
  'rejects:read': ['admin', 'operator', 'viewer', 'steward'],
  'keys:admin': ['admin'],
  'devices:admin': ['admin'],
  'validation:read': ['admin', 'billing', 'operator', 'viewer', 'steward'],
  'validation:admin': ['admin', 'steward'],
  'edits:write': ['admin', 'steward'],
  'portfolios:read': ['admin', 'billing', 'trader', 'viewer'],
  'portfolios:write': ['admin'],
  'market:read': ['admin', 'trader'],
  'market:write': ['admin'],
  'positions:write': ['admin', 'trader'],
  'settlement:read': ['admin', 'billing', 'trader'],
  'settlement:write': ['admin', 'billing'],
  'imbalance:read': ['admin', 'trader'],
  'forecasts:read': ['admin', 'trader'],
  'forecasts:run': ['admin', 'trader'],
  'events:write': ['admin', 'gateway'],
  'alarms:read': ['admin', 'operator', 'viewer', 'steward'],
  'alarms:write': ['admin', 'operator'],
  'alarms:admin': ['admin'],
  // The channel registry (GET /v1/channels): every role reads it, gateways to know what they may send.
  'channels:read': ['admin', 'gateway', 'billing', 'trader', 'operator', 'viewer', 'steward'],
  'channels:admin': ['admin'],
  // Every role: who am I (GET /v1/keys/me; the web console reads the role and its permissions there).
  'metrics:read': ['admin', 'operator', 'viewer'],
  'keys:self': ['admin', 'gateway', 'billing', 'trader', 'operator', 'viewer', 'steward'],
} as const satisfies Record<string, readonly Role[]>;
export type Permission = keyof typeof PERMISSIONS;

export function roleMay(role: Role, permission: Permission): boolean {
  return (PERMISSIONS[permission] as readonly Role[]).includes(role);
}
