import { sql } from 'kysely';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { epiasComponent, fetchEpiasPrices } from '../adapters/market/epias.component.js';
import { EpiasError, EpiasTransparencyClient } from '../adapters/market/epias-transparency.js';
import { loadConfig } from '../models/config.js';
import { MdmError } from '../models/errors.js';
import type { Database } from '../sql/database.js';
import { freshDatabase } from './helpers.js';

/**
 * The transparency-platform client against a loopback server that serves the
 * documented JSON shape (the real service is not reachable from here):
 * CAS login → TGT, then paged POSTs with the TGT header.
 */
const HOUR = 3_600_000;
const T0 = Date.parse('2026-03-01T00:00:00+03:00');

/** 72 hours (three Turkish days) of each series; value = a recognisable function of the hour. */
const item = (path: string, h: number) => {
  const date = new Date(T0 + h * HOUR + 3 * HOUR).toISOString().slice(0, 19) + '+03:00';
  const hour = date.slice(11, 16);
  if (path.endsWith('/mcp')) return { date, hour, price: 1000 + h, priceUsd: 30 + h, priceEur: 28 + h };
  if (path.endsWith('/system-marginal-price')) return { date, hour, systemMarginalPrice: 2000 + h };
  return { date, time: hour, consumption: 30_000 + h };
};

interface Seen {
  logins: number;
  pages: { path: string; number: number; size: number; tgt: string | undefined; startDate: string; endDate: string }[];
}

const read = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    let s = '';
    req.on('data', (c) => (s += c));
    req.on('end', () => resolve(s));
  });

describe('EPİAŞ transparency client (loopback server)', () => {
  let server: Server;
  let base: string;
  let seen: Seen;
  /** Tickets the server accepts; clearing it simulates an expired ticket. */
  const valid = new Set<string>();
  let refuseAll = false;

  beforeAll(async () => {
    server = createServer(async (req, res) => {
      const body = await read(req);
      if (req.url === '/cas/v1/tickets' && req.method === 'POST') {
        const form = new URLSearchParams(body);
        if (req.headers['content-type'] !== 'application/x-www-form-urlencoded' || form.get('username') !== 'trader@example.com' || form.get('password') !== 'secret') {
          res.writeHead(401, { 'content-type': 'text/plain' }).end('Bad credentials');
          return;
        }
        const tgt = `TGT-${++seen.logins}-abc`;
        valid.add(tgt);
        res.writeHead(201, { location: `${base}/cas/v1/tickets/${tgt}`, 'content-type': 'text/plain' }).end(tgt);
        return;
      }
      const tgt = req.headers.tgt as string | undefined;
      if (refuseAll || !tgt || !valid.has(tgt)) {
        res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ errorMessage: 'TGT is not valid' }] }));
        return;
      }
      const q = JSON.parse(body) as { startDate: string; endDate: string; page: { number: number; size: number } };
      const path = req.url!.replace('/electricity-service/', '');
      seen.pages.push({ path, number: q.page.number, size: q.page.size, tgt, startDate: q.startDate, endDate: q.endDate });
      const total = 72;
      const first = (q.page.number - 1) * q.page.size;
      const items = Array.from({ length: Math.max(0, Math.min(q.page.size, total - first)) }, (_, i) => item(path, first + i));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items, page: { number: q.page.number, size: q.page.size, total }, statistics: {} }));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));
  beforeEach(() => {
    seen = { logins: 0, pages: [] };
    valid.clear();
    refuseAll = false;
  });

  const client = (o: { password?: string; pageSize?: number; now?: () => number } = {}) =>
    new EpiasTransparencyClient({
      baseUrl: `${base}/electricity-service/`,
      authUrl: `${base}/cas/v1/tickets`,
      username: 'trader@example.com',
      password: o.password ?? 'secret',
      pageSize: o.pageSize ?? 30,
      now: o.now,
    });

  it('logs in once, then pages through PTF (30 + 30 + 12 items) with the ticket', async () => {
    const c = client();
    const ptf = await c.series('ptf', '2026-03-01', '2026-03-03');
    expect(ptf).toHaveLength(72);
    expect(ptf[0]).toEqual({ startMs: T0, value: 1000 });
    expect(ptf[71]).toEqual({ startMs: T0 + 71 * HOUR, value: 1071 });
    expect(seen.logins).toBe(1);
    expect(seen.pages.map((p) => [p.path, p.number, p.size, p.tgt])).toEqual([
      ['v1/markets/dam/data/mcp', 1, 30, 'TGT-1-abc'],
      ['v1/markets/dam/data/mcp', 2, 30, 'TGT-1-abc'],
      ['v1/markets/dam/data/mcp', 3, 30, 'TGT-1-abc'],
    ]);
    expect(seen.pages[0]).toMatchObject({ startDate: '2026-03-01T00:00:00+03:00', endDate: '2026-03-03T00:00:00+03:00' });
    // The ticket is reused for the next series; SMF and consumption read their own fields.
    const smf = await c.series('smf', '2026-03-01', '2026-03-03');
    expect(smf[5]).toEqual({ startMs: T0 + 5 * HOUR, value: 2005 });
    const cons = await c.series('consumption', '2026-03-01', '2026-03-03');
    expect(cons[10]).toEqual({ startMs: T0 + 10 * HOUR, value: 30_010 });
    expect(seen.logins).toBe(1);
    expect(seen.pages.map((p) => p.path)).toContain('v1/consumption/data/realtime-consumption');
  });

  it('a refused (expired) ticket → logs in again once and carries on; an expired TTL → new login', async () => {
    let now = 0;
    const c = client({ pageSize: 100, now: () => now });
    await c.series('ptf', '2026-03-01', '2026-03-03');
    valid.clear(); // the server forgets the ticket early
    expect(await c.series('smf', '2026-03-01', '2026-03-03')).toHaveLength(72);
    expect(seen.logins).toBe(2);
    now += 101 * 60_000; // past the client's ticket lifetime: new ticket without a refused request
    await c.series('ptf', '2026-03-01', '2026-03-03');
    expect(seen.logins).toBe(3);
    expect(seen.pages.map((p) => p.tgt)).toEqual(['TGT-1-abc', 'TGT-2-abc', 'TGT-3-abc']);
  });

  it('clear errors: bad credentials, a ticket refused twice, an unreachable service', async () => {
    const bad = await client({ password: 'wrong' })
      .series('ptf', '2026-03-01', '2026-03-01')
      .catch((e: unknown) => e);
    expect(bad).toBeInstanceOf(EpiasError);
    expect(bad).toMatchObject({ status: 401 });
    expect((bad as Error).message).toMatch(/login at .* failed with HTTP 401: check EPIAS_USERNAME\/EPIAS_PASSWORD \(Bad credentials\)/);

    refuseAll = true;
    const refused = await client()
      .series('ptf', '2026-03-01', '2026-03-01')
      .catch((e: unknown) => e);
    expect(refused).toMatchObject({ name: 'EpiasError', status: 401 });
    expect((refused as Error).message).toMatch(/refused a fresh ticket .* \(HTTP 401\).*TGT is not valid/);
    expect(seen.logins).toBe(2);

    const down = new EpiasTransparencyClient({ baseUrl: 'http://127.0.0.1:1', authUrl: 'http://127.0.0.1:1/cas/v1/tickets', username: 'u', password: 'p', timeoutMs: 2000 });
    await expect(down.login()).rejects.toThrow(/could not be reached/);
  });

  it('the component is off by default, refuses to start without credentials, and stores PTF/SMF into market_prices', async () => {
    const database: Database = await freshDatabase('embedded');
    try {
      expect(epiasComponent({ config: loadConfig({}), database })).toBeUndefined();
      expect(() => epiasComponent({ config: loadConfig({ EPIAS_FETCH_INTERVAL_MIN: '60' }), database })).toThrow(MdmError);

      const r = await fetchEpiasPrices(database, client({ pageSize: 50 }), Date.parse('2026-03-02T12:00:00+03:00'));
      expect(r).toEqual({ from: '2026-03-01', to: '2026-03-03', ptf: 72, smf: 72 });
      const { rows } = await sql<{ n: number; ptf: number; smf: number }>`
        SELECT count(*)::int AS n, sum(ptf) AS ptf, sum(smf) AS smf FROM market_prices WHERE area = 'TR' AND currency = 'TRY' AND source = 'epias-transparency'`.execute(database.db);
      // Σ (1000 + h) and Σ (2000 + h) for h = 0…71: 72 000 + 2 556, 144 000 + 2 556.
      expect(rows[0]).toEqual({ n: 72, ptf: 74_556, smf: 146_556 });

      const config = loadConfig({
        EPIAS_FETCH_INTERVAL_MIN: '60',
        EPIAS_USERNAME: 'trader@example.com',
        EPIAS_PASSWORD: 'secret',
        EPIAS_BASE_URL: `${base}/electricity-service`,
        EPIAS_AUTH_URL: `${base}/cas/v1/tickets`,
      });
      const scheduled: number[] = [];
      const comp = epiasComponent({ config, database }, { now: () => Date.parse('2026-03-02T12:00:00+03:00'), timers: { setTimeout: (_fn, ms) => scheduled.push(ms), clearTimeout: () => {} } })!;
      await comp.tick();
      expect(comp.probe.check()).toMatchObject({ ok: true, lastRun: { from: '2026-03-01', to: '2026-03-03', ptf: 72, smf: 72 } });
      refuseAll = true;
      await comp.tick();
      expect(comp.probe.check()).toMatchObject({ ok: false, error: expect.stringMatching(/HTTP 401/) });
      await comp.stop();
    } finally {
      await database.close();
    }
  });
});
