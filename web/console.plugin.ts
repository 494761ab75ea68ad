import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import { MdmError } from '../models/errors.js';

/**
 * The web console (issue 18, docs/console.md): plain ES modules from `web/`
 * and uPlot from node_modules, read once at start and served from memory under
 * `/console/` — no build step, nothing fetched at run time. The console is a
 * client of the documented `/v1` API only; these routes are public (the
 * pages hold no data) and carry a Content-Security-Policy without inline
 * scripts or styles, so that an API text that slipped into markup could not
 * run.
 */

const WEB_DIR = dirname(fileURLToPath(import.meta.url));
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/**
 * `connect-src 'self'`: the API on the same origin only. uPlot sets element
 * styles through the CSSOM (allowed without 'unsafe-inline'); its canvas
 * needs nothing more.
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

/** Every servable file under `dir`, by its path relative to `dir` with `/` separators (TypeScript, JSON and declarations left out). */
function collect(dir: string, root: string, out: Map<string, Asset>): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) collect(path, root, out);
    else if (TYPES[extname(entry.name)]) out.set(relative(root, path).split(sep).join('/'), asset(readFileSync(path), extname(entry.name)));
  }
}

function asset(body: Buffer, ext: string): Asset {
  return { body, type: TYPES[ext], etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"` };
}

/** The console's files: `web/**` and `vendor/uPlot.*` from the uplot package. */
export function consoleAssets(): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  collect(WEB_DIR, WEB_DIR, assets);
  const uplot = join(dirname(createRequire(import.meta.url).resolve('uplot/package.json')), 'dist');
  assets.set('vendor/uPlot.esm.js', asset(readFileSync(join(uplot, 'uPlot.esm.js')), '.js'));
  assets.set('vendor/uPlot.min.css', asset(readFileSync(join(uplot, 'uPlot.min.css')), '.css'));
  return assets;
}

/** GET / → /console/; GET /console/ and /console/<file>. Register at the root (no prefix). */
export const consoleRoutes: FastifyPluginAsync = async (app) => {
  const assets = consoleAssets();
  const send = (reply: FastifyReply, ifNoneMatch: string | undefined, a: Asset) => {
    reply
      .header('content-security-policy', CONSOLE_CSP)
      .header('x-content-type-options', 'nosniff')
      .header('referrer-policy', 'no-referrer')
      .header('x-frame-options', 'DENY')
      .header('cache-control', 'no-cache')
      .header('etag', a.etag);
    if (ifNoneMatch === a.etag) return reply.status(304).send();
    return reply.type(a.type).send(a.body);
  };
  const hide = { schema: { hide: true } };
  app.get('/', hide, (_req, reply) => reply.redirect('/console/', 302));
  app.get('/console', hide, (_req, reply) => reply.redirect('/console/', 301));
  app.get('/console/', hide, (req, reply) => send(reply, req.headers['if-none-match'], assets.get('index.html')!));
  app.get<{ Params: { '*': string } }>('/console/*', hide, (req, reply) => {
    const a = assets.get(req.params['*']);
    if (!a) throw new MdmError('MDM_ERR_NOT_FOUND', [`no console file ${req.params['*'].slice(0, 100)}: the console starts at /console/`]);
    return send(reply, req.headers['if-none-match'], a);
  });
};
