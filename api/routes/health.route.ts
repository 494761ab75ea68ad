import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HealthProbe } from '../../models/health-probe.js';
import { pingDatabase } from '../../sql/health.repository.js';
import type { RouteContext } from '../app.js';

const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  database: z.object({ ok: z.boolean(), engine: z.string(), flavour: z.string(), error: z.string().optional() }),
  components: z.record(z.string(), z.looseObject({ ok: z.boolean() })),
});

/** GET /health: public, no key. 200 when everything is up, 503 otherwise. */
export const healthRoutes: FastifyPluginAsyncZod<RouteContext & { probes: HealthProbe[] }> = async (app, { database, probes }) => {
  app.get(
    '/health',
    {
      config: { rateLimit: false }, // probes poll it; exempt from the per-address limit
      schema: { tags: ['health'], summary: 'Service health (no key needed)', security: [], response: { 200: HealthSchema, 503: HealthSchema } },
    },
    async (_req, reply) => {
      let db: z.infer<typeof HealthSchema>['database'] = { ok: true, engine: database.engine, flavour: database.flavour };
      try {
        await pingDatabase(database);
      } catch (err) {
        db = { ...db, ok: false, error: (err as Error).message };
      }
      const components: Record<string, { ok: boolean }> = {};
      for (const p of probes) {
        try {
          components[p.name] = await p.check();
        } catch (err) {
          components[p.name] = { ok: false, error: (err as Error).message } as { ok: boolean };
        }
      }
      const ok = db.ok && Object.values(components).every((c) => c.ok);
      return reply.status(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', database: db, components });
    },
  );
};
