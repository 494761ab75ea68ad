import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { EventsResultSchema } from '../../models/alarm.js';
import { scopeAllows } from '../../models/api-key.js';
import { parseMeterEventRows } from '../../models/event.js';
import { recordEvents } from '../../ingest/events.js';
import { recordDeadLetters, type DeadLetter } from '../../sql/dead-letter.repository.js';
import type { MeterEventRow } from '../../sql/event.repository.js';
import { findMeterRefs } from '../../sql/meter-lookup.repository.js';
import type { RouteContext } from '../app.js';
import { authErrors, ErrorSchema } from '../schemas.js';
import { safeJson } from '../../models/input-bounds.js';

/** Events per request. */
export const MAX_EVENTS = 10_000;

const EventsBody = z
  .object({
    events: z.array(z.unknown()).min(1).max(MAX_EVENTS).describe('Events {meter, code, at, severity?, data?}: meter = external id, at = ISO-8601 with offset; each is checked on its own'),
  })
  .strict();

/** Meter events over HTTP (gateways, head-ends): stored and applied to alarms like MQTT events. */
export const eventRoutes: FastifyPluginAsyncZod<RouteContext> = async (app, { database, listeners }) => {
  app.post(
    '/events',
    {
      config: { permission: 'events:write' },
      schema: {
        tags: ['alarms'],
        summary: 'Store meter events (alarms open, repeat or close from them)',
        description:
          `At most ${MAX_EVENTS} events per request, one transaction. Each event is checked on its own: valid events are stored even when others are rejected; ` +
          'rejected ones are listed with their reason and kept in GET /v1/rejects. Re-sending an event (same meter, code and at) is a no-op (unchanged). ' +
          'Codes: see docs/alarms.md (known codes, restore codes such as power_restored, vendor codes mapped by alarm rules of kind "map").',
        body: EventsBody,
        response: { 200: EventsResultSchema, 400: ErrorSchema, ...authErrors },
      },
    },
    async (req) => {
      const raw = req.body.events;
      const parsed = parseMeterEventRows(raw);
      const refs = await findMeterRefs(database, [...new Set(parsed.valid.map((v) => v.meter))]);
      const rejected = [...parsed.rejected];
      const events: MeterEventRow[] = [];
      const scope = req.principal.scope;
      for (const v of parsed.valid) {
        const ref = refs.get(v.meter);
        if (!ref) rejected.push({ index: v.index, meter: v.meter, reason: `unknown meter "${v.meter}": register it with PUT /v1/meters first` });
        else if (scope && !scopeAllows(scope, { id: ref.externalId, group: ref.group })) rejected.push({ index: v.index, meter: v.meter, reason: `meter "${v.meter}" is outside this key's scope` });
        else events.push({ meterId: ref.id, code: v.event.code, at: new Date(v.event.atMs), severity: v.event.severity, data: v.event.data, transport: 'http', topic: null });
      }
      rejected.sort((a, b) => a.index - b.index);
      if (rejected.length) {
        const letters: DeadLetter[] = rejected.map((r) => ({ rowIndex: r.index, meter: r.meter, payload: safeJson(raw[r.index]), reason: r.reason }));
        await recordDeadLetters(database, { transport: 'http', principal: req.principal.name, topic: 'POST /v1/events' }, letters);
      }
      const result = await recordEvents(database, events, listeners);
      return { accepted: result.inserted, unchanged: result.unchanged, rejected: rejected.map((r) => ({ index: r.index, reason: r.reason })), alarms: result.alarms };
    },
  );
};
