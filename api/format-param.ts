import type { FastifyInstance } from 'fastify';
import { MdmError } from '../models/errors.js';

/**
 * `format=` is never silently ignored (issue 17): a route that offers other
 * formats declares `format` in its querystring schema (and zod refuses a
 * value it does not offer, e.g. format=xlsx where only csv is); on every
 * other route a `format` parameter is a 400 saying the route answers JSON
 * only. Register before the routes: onRoute sees only routes added after it.
 */
export function registerFormatParam(app: FastifyInstance): void {
  const formatted = new Set<string>();
  app.addHook('onRoute', (route) => {
    const qs = route.schema?.querystring as { shape?: Record<string, unknown> } | undefined;
    if (qs?.shape && 'format' in qs.shape) {
      for (const m of [route.method].flat()) formatted.add(`${m} ${route.url}`);
    }
  });
  app.addHook('preValidation', async (req) => {
    const q = req.query as Record<string, unknown> | undefined;
    if (q === undefined || q === null || typeof q !== 'object' || !('format' in q)) return;
    const url = req.routeOptions.url;
    if (url === undefined || formatted.has(`${req.method} ${url}`)) return;
    throw new MdmError('MDM_ERR_VALIDATION', [
      `format=${String(q.format).slice(0, 20)}: ${req.method} ${url} answers JSON only (format=csv and xlsx are on the list and report routes that say so in /docs)`,
    ]);
  });
}
