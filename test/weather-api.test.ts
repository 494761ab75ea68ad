import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { buildApp } from '../api/app.js';
import { parseWeatherForecastCsv } from '../adapters/weather/forecast-csv.js';
import { parseOpenMeteoResponse } from '../adapters/weather/open-meteo.js';
import { parseCommandLine } from '../cli/main.js';
import { weatherFetchCommand, weatherImportCommand, weatherListCommand } from '../cli/weather.js';
import { parseFetchLocations, weatherFetchComponent } from '../adapters/weather/weather-fetch.component.js';
import type { Role } from '../models/api-key.js';
import { loadConfig } from '../models/config.js';
import { MdmError } from '../models/errors.js';
import { createApiKey } from '../sql/api-key.repository.js';
import type { Database } from '../sql/database.js';
import { freshDatabase, FLAVOURS } from './helpers.js';

const H = 3_600_000;
const T0 = Date.parse('2026-01-10T00:00:00Z');

/**
 * A loopback weather provider answering Open-Meteo's documented forecast shape
 * (https://open-meteo.com/en/docs: hourly.time in unix seconds with
 * timeformat=unixtime, hourly.temperature_2m, hourly_units), and its error
 * shape ({"error": true, "reason": …}, HTTP 400) for an unknown model.
 */
function provider(): Promise<{ server: Server; base: string; requests: URL[] }> {
  const requests: URL[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    requests.push(url);
    res.setHeader('content-type', 'application/json');
    if (url.searchParams.get('latitude') === '10') {
      res.statusCode = 500;
      res.end(JSON.stringify({ error: true, reason: 'internal provider failure' }));
      return;
    }
    if (url.searchParams.get('models') === 'no_such_model') {
      res.statusCode = 400;
      res.end(JSON.stringify({ error: true, reason: 'Cannot initialize WeatherModel from invalid String value no_such_model for key models' }));
      return;
    }
    const days = Number(url.searchParams.get('forecast_days'));
    const start = url.searchParams.has('run') ? Date.parse(`${url.searchParams.get('run')}Z`) : T0;
    const time = Array.from({ length: days * 24 }, (_, i) => (start + i * H) / 1000);
    const temperature_2m = time.map((_, i) => (i === 5 ? null : Math.round((8 + 4 * Math.sin(i / 4)) * 10) / 10));
    res.end(
      JSON.stringify({
        latitude: Number(url.searchParams.get('latitude')),
        longitude: Number(url.searchParams.get('longitude')),
        generationtime_ms: 0.1,
        utc_offset_seconds: 0,
        timezone: 'GMT',
        timezone_abbreviation: 'GMT',
        elevation: 38,
        hourly_units: { time: 'unixtime', temperature_2m: '°C' },
        hourly: { time, temperature_2m },
      }),
    );
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests })));
}

describe('weather forecast files and provider responses (pure)', () => {
  it('CSV: columns in any order, location from the query, reasons for bad rows', () => {
    const csv = [
      'temperature,time,issued_at',
      '8.5,2026-01-10T00:00:00Z,2026-01-09T06:00:00Z',
      '9,2026-01-10T03:00:00+03:00,2026-01-09T06:00:00Z', // 00:00Z as well, another notation
      '9,2026-01-10T01:00:00,2026-01-09T06:00:00Z',
      '9,2026-01-10T01:30:00Z,2026-01-09T06:00:00Z',
      '99,2026-01-10T02:00:00Z,2026-01-09T06:00:00Z',
      ',2026-01-10T03:00:00Z,2026-01-09T06:00:00Z',
    ].join('\n');
    const r = parseWeatherForecastCsv(csv, { location: 'WX' });
    expect(r.rows.map((x) => [x.location, x.validTime.toISOString(), x.issuedAt.toISOString(), x.temperature])).toEqual([
      ['WX', '2026-01-10T00:00:00.000Z', '2026-01-09T06:00:00.000Z', 8.5],
      ['WX', '2026-01-10T00:00:00.000Z', '2026-01-09T06:00:00.000Z', 9],
    ]);
    expect(r.rejected.map((x) => x.line)).toEqual([4, 5, 6, 7]);
    expect(r.rejected[0].reason).toMatch(/not an ISO-8601 instant with an offset/);
    expect(r.rejected[1].reason).toMatch(/not the start of an hour/);
    expect(r.rejected[2].reason).toMatch(/outside -90\.\.70/);
    expect(r.rejected[3].reason).toMatch(/not a number/);
    expect(() => parseWeatherForecastCsv('time,temperature\n', {})).toThrow(/missing column\(s\) issued_at/);
    expect(parseWeatherForecastCsv('time,temperature,station\n2026-01-10T00:00Z,1,A\n', { issuedAt: T0 }).rows[0]).toMatchObject({ location: 'A', issuedAt: new Date(T0) });
  });

  it('Open-Meteo: ISO local times shifted by utc_offset_seconds, °F converted, null hours left out, its error shape and a foreign shape refused', () => {
    const body = {
      utc_offset_seconds: 10_800,
      hourly_units: { time: 'iso8601', temperature_2m: '°F' },
      hourly: { time: ['2026-01-10T03:00', '2026-01-10T04:00', '2026-01-10T05:00'], temperature_2m: [50, null, 32] },
    };
    const r = parseOpenMeteoResponse(body, { location: 'IST', issuedAt: T0 - 6 * H });
    expect(r.rows.map((x) => [x.validTime.toISOString(), x.temperature])).toEqual([
      ['2026-01-10T00:00:00.000Z', 10],
      ['2026-01-10T02:00:00.000Z', 0],
    ]);
    expect(() => parseOpenMeteoResponse({ error: true, reason: 'Latitude must be in range' }, { location: 'X', issuedAt: T0 })).toThrow(/refused the request: Latitude must be in range/);
    expect(() => parseOpenMeteoResponse({ hourly: { time: [1] } }, { location: 'X', issuedAt: T0 })).toThrow(/no hourly.time and hourly.temperature_2m/);
  });
});

describe.each(FLAVOURS)('weather forecast API (%s)', (flavour) => {
  let database: Database;
  let app: FastifyInstance;
  let p: Awaited<ReturnType<typeof provider>>;
  const keys = {} as Record<Role, string>;
  const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, role: Role = 'admin', payload?: unknown, headers: Record<string, string> = {}) =>
    app.inject({ method, url, headers: { authorization: `Bearer ${keys[role]}`, ...headers }, ...(payload === undefined ? {} : { payload: payload as string }) });

  beforeAll(async () => {
    p = await provider();
    database = await freshDatabase(flavour);
    app = await buildApp({
      database,
      config: {
        MDM_MAX_BATCH_ROWS: 100_000,
        LOG_LEVEL: 'silent',
        WEATHER_FORECAST_URL: `${p.base}/v1/forecast`,
        WEATHER_SINGLE_RUNS_URL: `${p.base}/single/v1/forecast`,
        WEATHER_FETCH_TIMEOUT_MS: 5_000,
      },
      listeners: ALARM_LISTENERS,
    });
    for (const role of ['admin', 'trader', 'viewer'] as const) keys[role] = (await createApiKey(database, { name: `t-${role}`, role })).key;
  });
  afterAll(async () => {
    await app?.close();
    await database?.close();
    await new Promise((r) => p?.server.close(r));
  });

  it('imports a CSV vintage and a JSON one; lists them; reads one; shows what a cut-off reads; deletes one', async () => {
    const lines = ['time,issued_at,temperature'];
    for (let h = 0; h < 48; h++) lines.push(`${new Date(T0 + h * H).toISOString()},2026-01-09T06:00:00Z,${h / 10}`);
    lines.push('2026-01-12T00:30:00Z,2026-01-09T06:00:00Z,1');
    const csv = await inject('POST', '/v1/weather/forecasts?location=WX', 'trader', lines.join('\n'), { 'content-type': 'text/csv' });
    expect(csv.statusCode, csv.body).toBe(200);
    expect(csv.json()).toMatchObject({ stored: 48, rejectedCount: 1, vintages: [{ location: 'WX', issuedAt: '2026-01-09T06:00:00.000Z', hours: 48 }] });
    expect(csv.json().rejected[0]).toMatchObject({ line: 50 });

    const json = await inject('POST', '/v1/weather/forecasts', 'admin', {
      location: 'WX',
      issuedAt: '2026-01-10T06:00:00Z',
      forecasts: [
        { time: '2026-01-10T12:00:00Z', temperature: -3 },
        { time: '2026-01-10T13:00:00Z', temperature: -4 },
        { time: '2026-01-10T14:00:00Z', temperature: 'cold' },
      ],
    });
    expect(json.statusCode, json.body).toBe(200);
    expect(json.json()).toMatchObject({ stored: 2, rejectedCount: 1, rejected: [{ line: 2, reason: expect.stringMatching(/^temperature: /) }] });

    const list = (await inject('GET', '/v1/weather/forecasts?location=WX', 'trader')).json();
    expect(list.vintages.map((v: { issuedAt: string; hours: number; source: string }) => [v.issuedAt, v.hours, v.source])).toEqual([
      ['2026-01-10T06:00:00.000Z', 2, 'api'],
      ['2026-01-09T06:00:00.000Z', 48, 'file'],
    ]);
    const one = (await inject('GET', '/v1/weather/forecasts/vintage?location=WX&issuedAt=2026-01-10T06:00:00Z', 'trader')).json();
    expect(one.hours).toEqual([
      { time: '2026-01-10T12:00:00.000Z', temperature: -3 },
      { time: '2026-01-10T13:00:00.000Z', temperature: -4 },
    ]);

    // A cut-off before the second vintage reads the first one only; at its issue time, the second one for its hours.
    const asOf = async (cutoff: string) => (await inject('GET', `/v1/weather/forecasts/as-of?location=WX&cutoff=${cutoff}&from=2026-01-10T11:00:00Z&to=2026-01-10T14:00:00Z`, 'trader')).json().hours;
    expect(await asOf('2026-01-10T05:59:59Z')).toEqual([
      { time: '2026-01-10T11:00:00.000Z', temperature: 1.1, issuedAt: '2026-01-09T06:00:00.000Z' },
      { time: '2026-01-10T12:00:00.000Z', temperature: 1.2, issuedAt: '2026-01-09T06:00:00.000Z' },
      { time: '2026-01-10T13:00:00.000Z', temperature: 1.3, issuedAt: '2026-01-09T06:00:00.000Z' },
    ]);
    expect((await asOf('2026-01-10T06:00:00Z')).map((h: { temperature: number }) => h.temperature)).toEqual([1.1, -3, -4]);
    expect((await asOf('2026-01-09T05:00:00Z')).map((h: { temperature: number | null }) => h.temperature)).toEqual([null, null, null]);

    expect((await inject('DELETE', '/v1/weather/forecasts/vintage?location=WX&issuedAt=2026-01-10T06:00:00Z', 'admin')).json()).toEqual({ deleted: 2 });
    expect((await inject('GET', '/v1/weather/forecasts/vintage?location=WX&issuedAt=2026-01-10T06:00:00Z', 'trader')).statusCode).toBe(404);
  });

  it('bad input: 400 with a reason, nothing stored; viewers may read but not import', async () => {
    const none = await inject('POST', '/v1/weather/forecasts', 'admin', { location: 'WX', forecasts: [{ time: '2026-01-10T12:00:00Z', temperature: 1 }] });
    expect(none.statusCode).toBe(400);
    expect(none.json().message).toMatch(/no forecast hour to store: line 0: no issuedAt/);
    const header = await inject('POST', '/v1/weather/forecasts?location=WX', 'admin', 'when,value\n', { 'content-type': 'text/csv' });
    expect([header.statusCode, header.json().error]).toEqual([400, 'MDM_ERR_CSV_FORMAT']);
    const shape = await inject('POST', '/v1/weather/forecasts', 'admin', { rows: [] });
    expect([shape.statusCode, shape.json().error]).toEqual([400, 'MDM_ERR_VALIDATION']);
    expect((await inject('POST', '/v1/weather/forecasts', 'viewer', { location: 'WX', issuedAt: '2026-01-10T06:00:00Z', forecasts: [] })).statusCode).toBe(403);
    expect((await inject('GET', '/v1/weather/forecasts', 'viewer')).statusCode).toBe(403);
    const range = await inject('GET', '/v1/weather/forecasts/as-of?location=WX&cutoff=2026-01-10T00:00:00Z&from=2026-01-10T00:00:00Z&to=2026-03-10T00:00:00Z', 'trader');
    expect([range.statusCode, range.json().error]).toEqual([400, 'MDM_ERR_RANGE_TOO_LONG']);
  });

  it('fetches from the provider (a loopback server with Open-Meteo’s shape): issue time = the request time, or a model run + its delay; provider errors are 502 with the reason', async () => {
    const before = Date.now();
    const r = await inject('POST', '/v1/weather/forecasts/fetch', 'trader', { location: 'BED', latitude: 52.13, longitude: -0.47, forecastDays: 2 });
    const after = Date.now();
    expect(r.statusCode, r.body).toBe(200);
    const body = r.json();
    expect(body).toMatchObject({ stored: 47, rejectedCount: 0 }); // 48 hours, one null (beyond the model) left out
    expect(Date.parse(body.issuedAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(body.issuedAt)).toBeLessThanOrEqual(after);
    const q = p.requests.at(-1)!;
    expect(q.pathname).toBe('/v1/forecast');
    expect(Object.fromEntries(q.searchParams)).toMatchObject({ latitude: '52.13', longitude: '-0.47', hourly: 'temperature_2m', timeformat: 'unixtime', forecast_days: '2' });
    const stored = (await inject('GET', `/v1/weather/forecasts/vintage?location=BED&issuedAt=${body.issuedAt}`, 'trader')).json();
    expect(stored.hours[0]).toEqual({ time: new Date(T0).toISOString(), temperature: 8 });
    expect(stored.hours).toHaveLength(47);

    const run = await inject('POST', '/v1/weather/forecasts/fetch', 'trader', {
      location: 'BED',
      latitude: 52.13,
      longitude: -0.47,
      forecastDays: 1,
      model: 'ecmwf_ifs025',
      run: '2026-01-08T00:00:00Z',
    });
    expect(run.statusCode, run.body).toBe(200);
    expect(run.json().issuedAt).toBe('2026-01-08T06:00:00.000Z'); // the run + 6 h until it is published
    expect(p.requests.at(-1)!.pathname).toBe('/single/v1/forecast');
    expect(p.requests.at(-1)!.searchParams.get('run')).toBe('2026-01-08T00:00');
    const list = (await inject('GET', '/v1/weather/forecasts?location=BED', 'trader')).json();
    expect(list.vintages.map((v: { source: string }) => v.source)).toEqual(['open-meteo', 'open-meteo:ecmwf_ifs025']);

    const refused = await inject('POST', '/v1/weather/forecasts/fetch', 'trader', { location: 'BED', latitude: 52.13, longitude: -0.47, model: 'no_such_model' });
    expect([refused.statusCode, refused.json().error]).toEqual([502, 'MDM_ERR_UPSTREAM']);
    expect(refused.json().message).toMatch(/HTTP 400: Cannot initialize WeatherModel/);
  });

  it('mdm weather import / fetch / list: the same paths from the command line', async () => {
    expect(parseCommandLine(['weather', 'import', 'f.csv', '--location', 'WX'])).toMatchObject({ command: 'weather import', args: ['f.csv'], values: { location: 'WX' } });
    expect(() => parseCommandLine(['weather'])).toThrow(/needs a subcommand: import, fetch, list/);
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: () => {}, errIsTTY: false, now: () => Date.parse('2026-01-09T12:00:00Z') };
    const dir = mkdtempSync(join(tmpdir(), 'mdm-weather-'));
    try {
      const file = join(dir, 'v.csv');
      writeFileSync(file, 'time,temperature\n2026-02-01T00:00:00Z,3.5\n2026-02-01T01:00:00Z,x\n');
      expect(await weatherImportCommand(database, io, file, { location: 'CLI', issuedAt: '2026-01-31T06:00:00Z' })).toBe(0);
      expect(out.join('')).toMatch(/rejected line 3: temperature is not a number[\s\S]*1 forecast hour\(s\) stored in 1 vintage\(s\), 1 rejected/);
      const urls = { WEATHER_FORECAST_URL: `${p.base}/v1/forecast`, WEATHER_SINGLE_RUNS_URL: `${p.base}/single/v1/forecast`, WEATHER_FETCH_TIMEOUT_MS: 5_000 };
      expect(await weatherFetchCommand(database, io, urls, { location: 'CLI', latitude: '41', longitude: '29', days: '1' })).toBe(0);
      await expect(weatherFetchCommand(database, io, urls, { location: 'CLI', latitude: '95', longitude: '29' })).rejects.toThrow(/--latitude must be a number in -90..90/);
      out.length = 0;
      expect(await weatherListCommand(database, io, { location: 'CLI' })).toBe(0);
      expect(out.join('').split('\n').slice(0, 3)).toEqual([
        'location,issued_at,source,hours,first_hour,last_hour,min_temperature,max_temperature',
        expect.stringMatching(/^CLI,2026-01-31T06:00:00\.000Z,file,1,/),
        expect.stringMatching(/^CLI,2026-01-09T12:00:00\.000Z,open-meteo,23,/), // issued at the (injected) time of the request
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('component weather: each configured location fetched as a vintage issued at the round; a failing one reported, the others stored', async () => {
    expect(parseFetchLocations('WX=52.13,-0.47; IST = 41.01 , 28.98')).toEqual({
      ok: true,
      locations: [
        { location: 'WX', latitude: 52.13, longitude: -0.47 },
        { location: 'IST', latitude: 41.01, longitude: 28.98 },
      ],
    });
    expect(parseFetchLocations('WX=95,1')).toMatchObject({ ok: false, reason: expect.stringMatching(/not LOCATION=LAT,LON/) });
    expect(weatherFetchComponent({ config: loadConfig({}), database })).toBeUndefined(); // off by default
    expect(() => weatherFetchComponent({ config: loadConfig({ WEATHER_FETCH_INTERVAL_MIN: '60' }), database })).toThrow(MdmError);
    const config = loadConfig({
      WEATHER_FETCH_INTERVAL_MIN: '60',
      WEATHER_FETCH_LOCATIONS: 'CMP=52.1,-0.4;BAD=10,10',
      WEATHER_FORECAST_URL: `${p.base}/v1/forecast`,
      WEATHER_SINGLE_RUNS_URL: `${p.base}/single/v1/forecast`,
    });
    const at = Date.parse('2026-01-09T18:00:00Z');
    const c = weatherFetchComponent({ config, database }, { now: () => at })!;
    await c.tick();
    const health = c.probe.check();
    expect(health).toMatchObject({ ok: false, lastRun: { stored: 167, locations: 1 }, error: expect.stringMatching(/^BAD: the weather provider answered HTTP 500: internal provider failure/) });
    const list = (await inject('GET', '/v1/weather/forecasts?location=CMP', 'trader')).json();
    expect(list.vintages).toMatchObject([{ issuedAt: '2026-01-09T18:00:00.000Z', hours: 167, source: 'open-meteo' }]);
  });
});
