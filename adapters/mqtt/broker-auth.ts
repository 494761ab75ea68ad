import { scopeAllows, type KeyScope, type Principal } from '../../models/api-key.js';
import { TOPIC_ROOT, isTopicLevel, topicOwner } from './topics.js';

/**
 * Who may connect to the embedded broker and what they may publish and
 * subscribe to. Username = the gateway key's name (its gateway id), password =
 * the key; roles gateway and admin only.
 */

/** MQTT 3.1.1 CONNACK return codes (§3.2.2.3); aedes speaks 3.1.1 only, so no MQTT 5 reason codes. */
export const CONNACK_SERVER_UNAVAILABLE = 3;
export const CONNACK_BAD_CREDENTIALS = 4;
export const CONNACK_NOT_AUTHORIZED = 5;

export type Decision = { readonly ok: true } | { readonly ok: false; readonly reason: string };
export type AuthResult = { readonly ok: true; readonly principal: Principal } | { readonly ok: false; readonly code: number; readonly reason: string };

const ALLOW: Decision = { ok: true };
const deny = (reason: string): Decision => ({ ok: false, reason });

/** Checks CONNECT credentials; `findKey` looks a key up (sql/api-key.repository findPrincipalByKey). */
export async function authenticateGateway(findKey: (key: string) => Promise<Principal | undefined>, username: string | undefined, password: Uint8Array | undefined): Promise<AuthResult> {
  if (!username || !password || password.length === 0) {
    return { ok: false, code: CONNACK_BAD_CREDENTIALS, reason: 'anonymous connection refused: username = gateway key name, password = the key' };
  }
  const principal = await findKey(Buffer.from(password).toString('utf8'));
  // Same answer for an unknown key and a name mismatch: do not tell which one was wrong.
  if (!principal || principal.name !== username) return { ok: false, code: CONNACK_BAD_CREDENTIALS, reason: `wrong username or key for "${username}"` };
  if (principal.role !== 'gateway' && principal.role !== 'admin') {
    return { ok: false, code: CONNACK_NOT_AUTHORIZED, reason: `role ${principal.role} may not use MQTT; use a gateway or admin key` };
  }
  if (principal.role === 'gateway' && !isTopicLevel(principal.name)) {
    return { ok: false, code: CONNACK_NOT_AUTHORIZED, reason: `gateway key name "${principal.name}" cannot be a topic level (no /, + or #); create a key with another name` };
  }
  return { ok: true, principal };
}

const hasScope = (scope: KeyScope | null): scope is KeyScope => !!scope && ((scope.groups?.length ?? 0) > 0 || (scope.meterPrefixes?.length ?? 0) > 0);

/**
 * May `principal` publish to `topic`? A gateway: mdm/v1/gateways/{its name}/…
 * and mdm/v1/meters/{meter}/… for meters its scope allows (`findMeterGroup`
 * returns the meter's group, null, or undefined for an unknown meter; it is only
 * called when the key has a scope). Admin: anything but `$` topics.
 */
export async function mayPublish(principal: Principal, topic: string, findMeterGroup: (meter: string) => Promise<string | null | undefined>): Promise<Decision> {
  if (topic.startsWith('$')) return deny(`topics starting with $ are reserved (${topic})`);
  if (principal.role === 'admin') return ALLOW;
  const owner = topicOwner(topic);
  if (owner && 'gateway' in owner) {
    return owner.gateway === principal.name ? ALLOW : deny(`gateway "${principal.name}" may not publish to another gateway's topic ${topic}`);
  }
  if (owner && 'meter' in owner) {
    if (!hasScope(principal.scope)) return ALLOW;
    const group = await findMeterGroup(owner.meter);
    return scopeAllows(principal.scope, { id: owner.meter, group: group ?? null }) ? ALLOW : deny(`meter "${owner.meter}" is outside the scope of gateway "${principal.name}"`);
  }
  return deny(`gateway "${principal.name}" may publish only to ${TOPIC_ROOT}/gateways/${principal.name}/… and ${TOPIC_ROOT}/meters/{meter}/… (not ${topic})`);
}

/** May `principal` subscribe to `filter`? A gateway: only under its own mdm/v1/gateways/{name}/ (e.g. its acks). */
export function maySubscribe(principal: Principal, filter: string): Decision {
  if (principal.role === 'admin') return ALLOW;
  const own = `${TOPIC_ROOT}/gateways/${principal.name}/`;
  return filter.startsWith(own) ? ALLOW : deny(`gateway "${principal.name}" may subscribe only under ${own} (e.g. ${own}acks), not ${filter}`);
}
