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
});
