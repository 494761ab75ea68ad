import type { FastifyInstance } from 'fastify';
import { MdmError } from '../models/errors.js';
import { MAX_JSON_DEPTH, clipJsonDepth, jsonDepthExceeds, valueDepthExceeds } from '../models/input-bounds.js';

/** Largest request body: 100 000 JSON readings fit well inside; larger batches stream as NDJSON. Over it → 413. */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * Bounds every request meets before a route sees it (issue 11, docs/api.md
 * "Bad input"):
 * - application/json nested deeper than MAX_JSON_DEPTH → 400 (row batches:
 *   only the row holding it, see registerRowBatchJsonParser), found on the
 *   value fastify's own parser returns (prototype-poisoning protection kept;
 *   JSON.parse is not recursive) by an iterative walk, or on the text when it
 *   did not parse, before any route sees it: nothing recursive (zod,
 *   stringify into a dead letter) ever meets a 20 000-level value;
 * - a URL holding %00 → 400: a NUL cannot be part of an id or a query value
 *   (PostgreSQL text cannot hold it).
 */
export function registerRequestBounds(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const tooDeep = () => new MdmError('MDM_ERR_BAD_REQUEST', [`the JSON body nests arrays/objects deeper than ${MAX_JSON_DEPTH} levels; no request needs more`]);
    parseJson(request, body as string, (err, value) => {
      if (err) done(jsonDepthExceeds(body as string, MAX_JSON_DEPTH) ? tooDeep() : err, undefined);
      else if (valueDepthExceeds(value, MAX_JSON_DEPTH)) done(tooDeep(), undefined);
      else done(null, value);
    });
  });
  app.addHook('onRequest', async (request) => {
    if (request.url.includes('%00')) {
      throw new MdmError('MDM_ERR_BAD_REQUEST', ['the URL contains %00 (a NUL character): ids and query values cannot hold it']);
    }
  });
}

/**
 * For routes whose body is a batch of rows checked one by one (POST
 * /v1/readings): a part nested deeper than MAX_JSON_DEPTH is replaced by a
 * marker string (clipJsonDepth) instead of refusing the whole body, so that
 * one row with an absurd value is rejected alone, with its reason, and the
 * others are stored (issue 11, defect 2). Register it inside the route's
 * plugin: it replaces the JSON parser of that plugin only.
 */
export function registerRowBatchJsonParser(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) =>
    // Parsed as it is first (the usual case); a body too deep, or not parsed, goes through the text clip.
    parseJson(request, body as string, (err, value) => {
      if (!err && !valueDepthExceeds(value, MAX_JSON_DEPTH)) done(null, value);
      else parseJson(request, clipJsonDepth(body as string, MAX_JSON_DEPTH), done);
    }),
  );
}
