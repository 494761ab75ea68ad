/**
 * The MQTT topic tree (docs/mqtt.md). Ids are single topic levels: a meter or
 * gateway id containing `/`, `+` or `#` cannot be used over MQTT.
 *
 *   mdm/v1/meters/{meterId}/readings     JSON array of {channel, start, value, quality?} or SenML
 *   mdm/v1/meters/{meterId}/events       {code, at, severity?, data?} or an array of them
 *   mdm/v1/gateways/{gatewayId}/readings JSON array of full rows (meter included) or SenML
 *   mdm/v1/gateways/{gatewayId}/acks     per-message results, published by the service
 */
export const TOPIC_ROOT = 'mdm/v1';

export type TopicRoute =
  | { readonly kind: 'meter-readings'; readonly meter: string }
  | { readonly kind: 'meter-events'; readonly meter: string }
  | { readonly kind: 'gateway-readings'; readonly gateway: string };

/** What a topic belongs to, for authorisation: any `mdm/v1/meters/{id}/…` or `mdm/v1/gateways/{id}/…`. */
export type TopicOwner = { readonly meter: string } | { readonly gateway: string };

/** Topic filters the service consumes (external broker). */
export const INGEST_FILTERS = [`${TOPIC_ROOT}/meters/+/readings`, `${TOPIC_ROOT}/meters/+/events`, `${TOPIC_ROOT}/gateways/+/readings`] as const;

/** True when `id` can be one topic level (no separators, no wildcards, not empty). */
export function isTopicLevel(id: string): boolean {
  return id.length > 0 && !/[/+#\u0000]/.test(id);
}

/**
 * The ingest route of a topic, or undefined for any other topic.
 * @example parseTopic('mdm/v1/meters/M1/readings') // { kind: 'meter-readings', meter: 'M1' }
 */
export function parseTopic(topic: string): TopicRoute | undefined {
  const p = topic.split('/');
  if (p.length !== 5 || `${p[0]}/${p[1]}` !== TOPIC_ROOT || p[3] === '') return undefined;
  if (p[2] === 'meters' && p[4] === 'readings') return { kind: 'meter-readings', meter: p[3] };
  if (p[2] === 'meters' && p[4] === 'events') return { kind: 'meter-events', meter: p[3] };
  if (p[2] === 'gateways' && p[4] === 'readings') return { kind: 'gateway-readings', gateway: p[3] };
  return undefined;
}

/** The meter or gateway a topic under mdm/v1 belongs to (any depth), or undefined. */
export function topicOwner(topic: string): TopicOwner | undefined {
  const p = topic.split('/');
  if (p.length < 4 || `${p[0]}/${p[1]}` !== TOPIC_ROOT || p[3] === '') return undefined;
  if (p[2] === 'meters') return { meter: p[3] };
  if (p[2] === 'gateways') return { gateway: p[3] };
  return undefined;
}

export const ackTopic = (gateway: string): string => `${TOPIC_ROOT}/gateways/${gateway}/acks`;

/**
 * The service's subscriptions: shared (`$share/{group}/…`, MQTT 5 §4.8.2) so
 * that N instances split the load, or plain when `shareGroup` is null.
 */
export function subscriptionFilters(shareGroup: string | null): string[] {
  return INGEST_FILTERS.map((f) => (shareGroup ? `$share/${shareGroup}/${f}` : f));
}
