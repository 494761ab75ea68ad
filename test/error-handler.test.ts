import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { registerErrorHandler } from '../api/error-handler.js';
import { ERRORS, MdmError } from '../models/errors.js';

/** The one error handler (api/error-handler.ts): every body's code is in the catalogue (models/errors.ts). */
describe('error handler', () => {
  it('a fault is 500 MDM_ERR_INTERNAL with the request id, a malformed body 400 MDM_ERR_BAD_REQUEST, a coded error its own: all catalogued', async () => {
    const app = Fastify({ logger: false });
    registerErrorHandler(app);
    app.get('/boom', async () => {
      throw new Error('secret detail');
    });
    app.post('/echo', async (req) => req.body);
    app.get('/coded', async () => {
      throw new MdmError('MDM_ERR_CONFLICT', ['already there']);
    });
    const boom = await app.inject({ method: 'GET', url: '/boom' });
    expect(boom.statusCode).toBe(500);
    expect(Object.keys(boom.json()).sort()).toEqual(['error', 'message']);
    expect(boom.json().error).toBe('MDM_ERR_INTERNAL');
    expect(boom.json().message).toMatch(/^internal error; the server log has details \(request id req-[0-9a-z]+\)$/);
    expect(boom.body).not.toContain('secret detail');
    const bad = await app.inject({ method: 'POST', url: '/echo', headers: { 'content-type': 'application/json' }, payload: '{"a": ' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error).toBe('MDM_ERR_BAD_REQUEST');
    const coded = await app.inject({ method: 'GET', url: '/coded' });
    expect([coded.statusCode, coded.json()]).toEqual([409, { error: 'MDM_ERR_CONFLICT', message: 'already there' }]);
    for (const r of [boom, bad, coded]) expect(Object.keys(ERRORS)).toContain(r.json().error);
    await app.close();
  });

  it('every catalogued code is documented in docs/api.md with its status, every documented code is catalogued, and each is used', () => {
    const root = join(import.meta.dirname, '..');
    const api = readFileSync(join(root, 'docs/api.md'), 'utf8');
    const errors = api.slice(api.indexOf('\n## Errors\n'), api.indexOf('\n## Bad input\n'));
    // The rows of the Errors tables: | status | `code` | when | what a client does |
    const rows = [...errors.matchAll(/^\| (\d{3}) \| `(MDM_ERR_[A-Z_]+)` \| ([^|]+) \| ([^|]+) \|$/gm)];
    const documented = new Map(rows.map((r) => [r[2], Number(r[1])]));
    expect(rows.length, 'each code in one row').toBe(documented.size);
    const catalogued = new Map(Object.entries(ERRORS).map(([code, e]) => [code, e.status]));
    expect(documented).toEqual(catalogued);
    // Any code a doc page names is catalogued.
    const docs = readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md'));
    for (const f of ['README.md', ...docs.map((d) => `docs/${d}`)]) {
      for (const m of readFileSync(join(root, f), 'utf8').matchAll(/MDM_ERR_[A-Z_]+/g)) expect(Object.keys(ERRORS), f).toContain(m[0]);
    }
    // Each code is raised somewhere (not only catalogued).
    const source = ['api', 'ingest', 'billing', 'forecast', 'market', 'alarms', 'cli', 'adapters', 'sql', 'models']
      .flatMap((dir) => {
        try {
          return readdirSync(join(root, dir), { recursive: true, encoding: 'utf8' }).map((f) => join(dir, f));
        } catch {
          return []; // a room that does not exist (yet)
        }
      })
      .filter((f) => f.endsWith('.ts') && f !== join('models', 'errors.ts'))
      .map((f) => readFileSync(join(root, f), 'utf8'))
      .join('\n');
    for (const code of Object.keys(ERRORS)) expect(source, code).toContain(`'${code}'`);
  });
});
