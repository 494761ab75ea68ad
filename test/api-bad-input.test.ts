import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../models/api-key.js';
import { ERRORS } from '../models/errors.js';
import { testApp, type TestApp } from './api-helpers.js';
import { pageOf, withinBytes } from '../api/list-budget.js';
import { recordDeadLetters } from '../sql/dead-letter.repository.js';
import { FLAVOURS } from './helpers.js';

/**
 * Issue 11, defects 2 and 4 over HTTP: hostile input on every write route is
 * answered 4xx with a reason (or, on routes that check rows one by one, the
 * row in `rejected` with its reason), never 5xx. Table-driven: each route
 * names a valid body and the paths of its text, number and date fields; the
 * cases are generated from them.
 */

type Method = 'POST' | 'PUT' | 'DELETE';

interface WriteRoute {
  readonly name: string;
  readonly method: Method;
  /** Function so ids made in beforeAll (alarm, issue) are read when the case runs. */
  readonly url: () => string;
  readonly role: Role;
  readonly body: () => unknown;
  /** Paths (dot-separated, array indexes as numbers) of text fields. */
  readonly text?: readonly string[];
  readonly numbers?: readonly string[];
  /** Instants (ISO-8601 with offset). */
  readonly instants?: readonly string[];
  /** Calendar dates YYYY-MM-DD. */
  readonly dates?: readonly string[];
  /** Text inside free JSON the route stores as it is (event data): only NUL and size matter there. */
  readonly opaque?: readonly string[];
  /** Further values a field must refuse: [path, value, what]. */
  readonly extra?: readonly (readonly [string, unknown, string])[];
  /** Rows are checked one by one: a bad row may come back in `rejected` with 200. */
  readonly rowWise?: boolean;
}

const ids = { alarm: 0, issue: 0, issueStart: '' };
const HOUR = '2026-01-05T00:00:00Z';

const ROUTES: readonly WriteRoute[] = [
  {
    name: 'PUT /v1/meters',
    method: 'PUT',
    url: () => '/v1/meters',
    role: 'admin',
    body: () => [{ id: 'X1', group: 'g', portfolio: 'P1', profileClass: 'residential', region: 'R', labels: { k: 'v' }, supplyStart: '2025-01-01', weatherStation: 'W1', multiplier: 1 }],
    text: ['0.id', '0.group', '0.portfolio', '0.profileClass', '0.region', '0.labels.k', '0.weatherStation'],
    numbers: ['0.multiplier'],
    dates: ['0.supplyStart', '0.supplyEnd'],
    rowWise: true,
  },
  {
    name: 'POST /v1/readings',
    method: 'POST',
    url: () => '/v1/readings',
    role: 'gateway',
    body: () => ({ readings: [{ meter: 'M1', channel: 'active_import', start: HOUR, value: 1 }] }),
    text: ['readings.0.meter', 'readings.0.channel'],
    numbers: ['readings.0.value'],
    instants: ['readings.0.start'],
    rowWise: true,
  },
  {
    name: 'POST /v1/keys',
    method: 'POST',
    url: () => '/v1/keys',
    role: 'admin',
    body: () => ({ name: 'k', role: 'gateway', scope: { groups: ['g'], meterPrefixes: ['M'] } }),
    text: ['name', 'scope.groups.0', 'scope.meterPrefixes.0'],
  },
  {
    name: 'POST /v1/events',
    method: 'POST',
    url: () => '/v1/events',
    role: 'gateway',
    body: () => ({ events: [{ meter: 'M1', code: 'low_battery', at: HOUR, severity: 'minor', data: { note: 'x', n: 1 } }] }),
    text: ['events.0.meter', 'events.0.code', 'events.0.severity'],
    opaque: ['events.0.data.note'],
    instants: ['events.0.at'],
    rowWise: true,
  },
  {
    name: 'POST /v1/meters/:id/edits',
    method: 'POST',
    url: () => '/v1/meters/M1/edits',
    role: 'admin',
    body: () => ({ channel: 'active_import', from: HOUR, to: '2026-01-05T02:00:00Z', values: [{ start: HOUR, value: 1 }], reasonCode: 'CT_FAULT', comment: 'c' }),
    text: ['channel', 'reasonCode', 'comment'],
    numbers: ['values.0.value'],
    instants: ['from', 'to', 'values.0.start'],
  },
  {
    name: 'POST /v1/validation/issues/:id/resolve',
    method: 'POST',
    url: () => `/v1/validation/issues/${ids.issue}/resolve`,
    role: 'admin',
    body: () => ({ action: 'replace', values: [{ start: ids.issueStart, value: 1 }], comment: 'c', reasonCode: 'r' }),
    text: ['comment', 'reasonCode'],
    numbers: ['values.0.value'],
    instants: ['values.0.start'],
  },
  {
    name: 'POST /v1/validation/run',
    method: 'POST',
    url: () => '/v1/validation/run',
    role: 'admin',
    body: () => ({ meters: ['M1'], from: '2026-01-05', to: '2026-01-06' }),
    text: ['meters.0'],
    dates: ['from', 'to'],
  },
  {
    name: 'PUT /v1/validation/settings',
    method: 'PUT',
    url: () => '/v1/validation/settings',
    role: 'admin',
    body: () => ({ profileClass: 'residential', effectiveFrom: '2026-01-01', params: { spike: { k: 4 } } }),
    text: ['profileClass'],
    numbers: ['params.spike.k'],
    dates: ['effectiveFrom'],
  },
  {
    name: 'PUT /v1/settlement',
    method: 'PUT',
    url: () => '/v1/settlement',
    role: 'admin',
    body: () => ({ period: '2026-01', version: 1, rows: [{ meter: 'M1', start: '2026-01-07T00:00:00Z', withdrawal: 1, supply: 0 }] }),
    text: ['period', 'rows.0.meter'],
    numbers: ['version', 'rows.0.withdrawal', 'rows.0.supply'],
    instants: ['rows.0.start'],
    rowWise: true,
  },
  {
    name: 'PUT /v1/market/prices',
    method: 'PUT',
    url: () => '/v1/market/prices',
    role: 'admin',
    body: () => ({ area: 'TR', currency: 'TRY', prices: [{ start: HOUR, ptf: 1, smf: 2, positiveImbalance: 1, negativeImbalance: 2 }] }),
    text: ['area', 'currency'],
    numbers: ['prices.0.ptf', 'prices.0.smf', 'prices.0.positiveImbalance'],
    instants: ['prices.0.start'],
  },
  {
    name: 'PUT /v1/market/positions',
    method: 'PUT',
    url: () => '/v1/market/positions',
    role: 'admin',
    body: () => ({ portfolio: 'P1', positions: [{ start: HOUR, bilateral: 1, dayAhead: 1, intraday: 1 }] }),
    text: ['portfolio'],
    numbers: ['positions.0.bilateral', 'positions.0.dayAhead', 'positions.0.intraday'],
    instants: ['positions.0.start'],
  },
  {
    name: 'PUT /v1/market/nominations',
    method: 'PUT',
    url: () => '/v1/market/nominations',
    role: 'admin',
    body: () => ({ portfolio: 'P1', nominations: [{ meter: 'M1', start: HOUR, mwh: 1 }] }),
    text: ['portfolio', 'nominations.0.meter'],
    numbers: ['nominations.0.mwh'],
    instants: ['nominations.0.start'],
  },
  {
    name: 'PUT /v1/market/imbalance-rules',
    method: 'PUT',
    url: () => '/v1/market/imbalance-rules',
    role: 'admin',
    body: () => ({ area: 'TR', effectiveFrom: '2026-01-01', kPositive: 0.03, kNegative: 0.03, note: 'n' }),
    text: ['area', 'note'],
    numbers: ['kPositive', 'kNegative'],
    dates: ['effectiveFrom'],
  },
  {
    name: 'PUT /v1/profiles/coefficients',
    method: 'PUT',
    url: () => '/v1/profiles/coefficients',
    role: 'admin',
    body: () => ({ coefficients: [{ period: '2026-01', region: '*', readingType: 'single', profileGroup: 'residential', date: '2026-01-01', hour: 0, coefficient: 1 }] }),
    text: ['coefficients.0.region', 'coefficients.0.profileGroup', 'coefficients.0.period'],
    numbers: ['coefficients.0.hour', 'coefficients.0.coefficient'],
    dates: ['coefficients.0.date'],
    extra: [['coefficients.0.date', '2026-13-45', 'a date with month 13 (used to throw in toISOString)']],
    rowWise: true,
  },
  {
    name: 'POST /v1/profiles/spread',
    method: 'POST',
    url: () => '/v1/profiles/spread',
    role: 'admin',
    body: () => ({ period: '2026-01', meters: ['M1'], totals: [{ meter: 'M1', kWh: 100 }] }),
    text: ['period', 'meters.0', 'totals.0.meter'],
    numbers: ['totals.0.kWh'],
  },
  {
    name: 'PUT /v1/portfolios/:id',
    method: 'PUT',
    url: () => '/v1/portfolios/P1',
    role: 'admin',
    body: () => ({ area: 'TR', currency: 'TRY', timezone: 'Europe/Istanbul', weatherStation: 'W1', dayAheadCutoff: '10:00' }),
    text: ['area', 'timezone', 'weatherStation', 'dayAheadCutoff'],
  },
  {
    name: 'POST /v1/alarms/:id/acknowledge',
    method: 'POST',
    url: () => `/v1/alarms/${ids.alarm}/acknowledge`,
    role: 'admin',
    body: () => ({ user: 'u', comment: 'c' }),
    text: ['user', 'comment'],
  },
  {
    name: 'POST /v1/alarms/:id/work-order',
    method: 'POST',
    url: () => `/v1/alarms/${ids.alarm}/work-order`,
    role: 'admin',
    body: () => ({ workOrderId: 'WO-1', status: 'in_progress', comment: 'c' }),
    text: ['workOrderId', 'comment'],
  },
  {
    name: 'PUT /v1/alarm-rules/:id (threshold)',
    method: 'PUT',
    url: () => '/v1/alarm-rules/r1',
    role: 'admin',
    body: () => ({ kind: 'threshold', channel: 'active_import', groups: ['g'], condition: 'above', threshold: 100, hysteresis: 1, minDurationMinutes: 0 }),
    text: ['groups.0'],
    numbers: ['threshold', 'hysteresis', 'minDurationMinutes'],
  },
  {
    name: 'PUT /v1/alarm-rules/:id (map)',
    method: 'PUT',
    url: () => '/v1/alarm-rules/r2',
    role: 'admin',
    body: () => ({ kind: 'map', vendorCode: 'E-0x1A07', code: 'tamper' }),
    text: ['vendorCode', 'code'],
  },
  {
    name: 'POST /v1/hooks',
    method: 'POST',
    url: () => '/v1/hooks',
    role: 'admin',
    body: () => ({ url: 'http://127.0.0.1:9/hook', secret: '0123456789abcdef', description: 'd', filter: { groups: ['g'], codes: ['tamper'] } }),
    text: ['url', 'secret', 'description', 'filter.groups.0'],
  },
  {
    name: 'PUT /v1/modbus/devices',
    method: 'PUT',
    url: () => '/v1/modbus/devices',
    role: 'admin',
    body: () => [{ id: 'D1', transport: 'tcp', host: '127.0.0.1', enabled: false, registers: [{ address: 0, type: 'uint32', meter: 'M1', channel: 'active_import_register', scale: 1 }] }],
    text: ['0.id', '0.host', '0.registers.0.meter', '0.registers.0.channel'],
    numbers: ['0.registers.0.scale', '0.registers.0.address'],
    rowWise: true,
  },
  {
    name: 'POST /v1/forecasts/runs',
    method: 'POST',
    url: () => '/v1/forecasts/runs',
    role: 'admin',
    body: () => ({ target: 'meter:M1', horizon: 'day-ahead', issueTime: HOUR }),
    text: ['target'],
    instants: ['issueTime'],
  },
  {
    name: 'PUT /v1/billing/tou-schedules',
    method: 'PUT',
    url: () => '/v1/billing/tou-schedules',
    role: 'admin',
    body: () => ({ tariff: 'three-time', effectiveFrom: '2026-01-01', buckets: [{ name: 'T1', ranges: [{ from: '00:00', to: '00:00' }] }] }),
    text: ['tariff', 'buckets.0.name'],
    dates: ['effectiveFrom'],
  },
];

/** Puts `value` at a dot path of a copy of `body` (numeric parts index arrays). */
function withValue(body: unknown, path: string, value: unknown): unknown {
  const copy = structuredClone(body) as Record<string, unknown>;
  const parts = path.split('.');
  let at: Record<string, unknown> = copy;
  for (const p of parts.slice(0, -1)) at = at[p] as Record<string, unknown>;
  at[parts[parts.length - 1]] = value;
  return copy;
}

interface HostileCase {
  readonly what: string;
  readonly payload: string | unknown;
  /** 'refused': 4xx with a reason, or the row in rejected[] on row-wise routes; 'no5xx': any answer below 500. */
  readonly expect: 'refused' | 'no5xx';
}

/** Bytes left on each side of a text literal for the rest of a body's JSON. */
const BODY_ROOM = 4096;

/**
 * One buffer holding the JSON literal of `text` with room on both sides, built once; `around(body, path)` writes
 * the rest of the body's JSON next to the literal and returns a view of the bytes that
 * `JSON.stringify(withValue(body, path, text))` writes. So a 50 MB text is neither stringified nor copied again per
 * route and flavour (and a Buffer payload is not measured or copied by light-my-request). A view holds until the
 * next call: one request at a time.
 */
function jsonAroundText(text: string): (body: unknown, path: string) => Buffer {
  const literal = Buffer.from(JSON.stringify(text));
  const buffer = Buffer.alloc(BODY_ROOM + literal.length + BODY_ROOM);
  literal.copy(buffer, BODY_ROOM);
  const marker = '\u0001text\u0001';
  return (body, path) => {
    const parts = JSON.stringify(withValue(body, path, marker)).split(JSON.stringify(marker));
    expect(parts).toHaveLength(2);
    const [before, after] = parts.map((p) => Buffer.from(p));
    expect(Math.max(before.length, after.length)).toBeLessThanOrEqual(BODY_ROOM);
    before.copy(buffer, BODY_ROOM - before.length);
    after.copy(buffer, BODY_ROOM + literal.length);
    return buffer.subarray(BODY_ROOM - before.length, BODY_ROOM + literal.length + after.length);
  };
}

/** The bodies with a 50 MB text field, made when the first such case runs and dropped after the file. */
let fiftyMb: ((body: unknown, path: string) => Buffer) | undefined;
afterAll(() => {
  fiftyMb = undefined;
});

const NUL_ID = 'S0\u000011';
const LONG = 'x'.repeat(10_000);
const DEEP = (n: number) => '['.repeat(n) + ']'.repeat(n);

function casesOf(r: WriteRoute): HostileCase[] {
  const base = r.body();
  const out: HostileCase[] = [];
  for (const p of r.text ?? []) {
    out.push({ what: `${p}: NUL character`, payload: withValue(base, p, NUL_ID), expect: 'refused' });
    out.push({ what: `${p}: 10 000 characters`, payload: withValue(base, p, LONG), expect: 'refused' });
    out.push({ what: `${p}: a number instead of text`, payload: withValue(base, p, 12345), expect: 'refused' });
  }
  for (const p of r.numbers ?? []) {
    out.push({ what: `${p}: 1.7976931348623157e308`, payload: withValue(base, p, 1.7976931348623157e308), expect: 'refused' });
    out.push({ what: `${p}: -1e300`, payload: withValue(base, p, -1e300), expect: 'refused' });
    out.push({ what: `${p}: -0`, payload: withValue(base, p, -0), expect: 'no5xx' });
    out.push({ what: `${p}: text instead of a number`, payload: withValue(base, p, '1'), expect: 'refused' });
  }
  for (const p of r.instants ?? []) {
    out.push({ what: `${p}: year 9999`, payload: withValue(base, p, '9999-12-31T23:00:00Z'), expect: 'refused' });
    out.push({ what: `${p}: year 0`, payload: withValue(base, p, '0000-01-01T00:00:00Z'), expect: 'refused' });
    out.push({ what: `${p}: NUL character`, payload: withValue(base, p, `${HOUR}\u0000`), expect: 'refused' });
  }
  for (const p of r.opaque ?? []) {
    out.push({ what: `${p}: NUL character`, payload: withValue(base, p, NUL_ID), expect: 'refused' });
    out.push({ what: `${p}: 10 000 characters`, payload: withValue(base, p, LONG), expect: 'refused' });
  }
  for (const [p, value, what] of r.extra ?? []) out.push({ what: `${p}: ${what}`, payload: withValue(base, p, value), expect: 'refused' });
  for (const p of r.dates ?? []) {
    out.push({ what: `${p}: year 9999`, payload: withValue(base, p, '9999-12-31'), expect: 'refused' });
    out.push({ what: `${p}: year 0`, payload: withValue(base, p, '0000-01-01'), expect: 'refused' });
  }
  // The raw JSON text of a 20 000-level value inside the body.
  const deep = JSON.stringify(base).replace(/^(\[?\{)/, `$1"deep":${DEEP(20_000)},`);
  out.push({ what: 'a value nested 20 000 levels deep', payload: deep, expect: 'refused' });
  out.push({ what: 'body: a string', payload: JSON.stringify('text'), expect: 'refused' });
  out.push({ what: 'body: null', payload: 'null', expect: 'refused' });
  out.push({ what: 'body: not JSON', payload: '{"a":', expect: 'refused' });
  return out;
}

/** Refused with a reason: 4xx {error, message}, or 2xx with every row in rejected[] carrying a reason. */
function expectRefused(res: LightMyRequestResponse, rowWise: boolean): void {
  if (res.statusCode >= 400) {
    expect(res.statusCode, res.body.slice(0, 500)).toBeLessThan(500);
    const body = res.json() as { error?: unknown; message?: unknown };
    expect(typeof body.error, res.body.slice(0, 500)).toBe('string');
    expect(Object.keys(ERRORS), res.body.slice(0, 500)).toContain(body.error);
    expect(typeof body.message).toBe('string');
    return;
  }
  expect(rowWise, `${res.statusCode} on a route that should refuse: ${res.body.slice(0, 500)}`).toBe(true);
  const body = res.json() as { rejected?: { reason: string }[] };
  expect(body.rejected?.length, res.body.slice(0, 500)).toBeGreaterThan(0);
  for (const r of body.rejected!) expect(r.reason).toMatch(/\w/);
}

describe.each(FLAVOURS.filter((f) => f !== 'timescaledb'))('hostile input on every write route (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
    const inject = async (method: Method | 'GET', url: string, payload?: unknown) => {
      const res = await t.app.inject({ method, url, headers: t.auth('admin'), payload: payload as object });
      expect(res.statusCode, `${method} ${url}: ${res.body}`).toBeLessThan(300);
      return res.json();
    };
    await inject('PUT', '/v1/meters', [
      { id: 'W1', commodity: 'weather' },
      { id: 'M1', group: 'g', portfolio: 'P1', profileClass: 'residential', weatherStation: 'W1' },
    ]);
    await inject('PUT', '/v1/portfolios/P1', { area: 'TR' });
    await inject('POST', '/v1/events', { events: [{ meter: 'M1', code: 'tamper', at: HOUR }] });
    ids.alarm = (await inject('GET', '/v1/alarms')).alarms[0].id;
    // A negative value → a VEE fail issue to resolve.
    const rows = Array.from({ length: 24 }, (_, h) => ({
      meter: 'M1',
      channel: 'active_import',
      start: new Date(Date.parse('2026-01-06T00:00:00Z') + h * 3_600_000).toISOString(),
      value: h === 3 ? -5 : 1,
    }));
    await inject('POST', '/v1/readings', { readings: rows });
    await inject('POST', '/v1/validation/run', { meters: ['M1'], from: '2026-01-06', to: '2026-01-07' });
    const issue = (await inject('GET', '/v1/validation/issues?status=open&rule=negative')).issues[0];
    expect(issue, 'a negative-value issue to resolve').toBeDefined();
    ids.issue = issue.id;
    ids.issueStart = issue.from;
  }, 60_000);
  afterAll(() => t?.close());

  describe.each(ROUTES.map((r) => [r.name, r] as const))('%s', (_name, route) => {
    it('takes its valid body (the cases below change one thing)', async () => {
      const res = await t.app.inject({ method: route.method, url: route.url(), headers: t.auth(route.role), payload: route.body() as object });
      expect(res.statusCode, res.body.slice(0, 500)).toBeLessThan(300);
      const body = res.json() as { rejected?: unknown[] };
      expect(body.rejected ?? [], res.body.slice(0, 500)).toEqual([]);
    });

    it.each(casesOf(route).map((c) => [c.what, c] as const))('%s', async (_what, c) => {
      const payload = typeof c.payload === 'string' ? c.payload : JSON.stringify(c.payload);
      const res = await t.app.inject({
        method: route.method,
        url: route.url(),
        headers: { ...t.auth(route.role), 'content-type': 'application/json' },
        payload,
      });
      expect(res.statusCode, res.body.slice(0, 500)).toBeLessThan(500);
      if (c.expect === 'refused') expectRefused(res, route.rowWise ?? false);
    });

    it('a 50 MB text field (under the body limit) is refused', async () => {
      const field = route.text?.[0];
      if (!field) return;
      fiftyMb ??= jsonAroundText('x'.repeat(50 * 1024 * 1024));
      const payload = fiftyMb(route.body(), field);
      const res = await t.app.inject({ method: route.method, url: route.url(), headers: { ...t.auth(route.role), 'content-type': 'application/json' }, payload });
      expectRefused(res, route.rowWise ?? false);
      expect(res.body.length).toBeLessThan(100_000);
    });
  });
});

describe.each(FLAVOURS.filter((f) => f !== 'timescaledb'))('JSON depth, NUL in URLs, odd ids (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
    const res = await t.app.inject({ method: 'PUT', url: '/v1/meters', headers: t.auth('admin'), payload: [{ id: 'M1' }] });
    expect(res.statusCode).toBe(200);
  }, 60_000);
  afterAll(() => t?.close());

  const reading = (hour: number, value: unknown = 1) => ({ meter: 'M1', channel: 'active_import', start: `2026-01-05T${String(hour).padStart(2, '0')}:00:00Z`, value });

  it('a readings batch with a value nested 20 000 levels deep rejects that row only, with the reason (it was a 500)', async () => {
    const good = JSON.stringify(reading(1));
    const payload = `{"readings":[${good},{"meter":"M1","channel":"active_import","start":"2026-01-05T02:00:00Z","value":${DEEP(20_000)}},${JSON.stringify(reading(2))}]}`;
    const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: { ...t.auth('gateway'), 'content-type': 'application/json' }, payload });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 2, rejected: [{ index: 1, reason: expect.stringContaining('deeper than 32 levels') }] });
  });

  it('an NDJSON line nested 20 000 levels deep rejects only itself', async () => {
    const payload = [JSON.stringify(reading(3)), `{"meter":"M1","channel":"active_import","start":"2026-01-05T04:00:00Z","value":${DEEP(20_000)}}`, JSON.stringify(reading(5))].join('\n');
    const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: { ...t.auth('gateway'), 'content-type': 'application/x-ndjson' }, payload });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json()).toMatchObject({ accepted: 2, rejected: [{ index: 1, reason: expect.stringContaining('deeper than 32 levels') }] });
  });

  it('a body nested deeper than 32 levels is 400 MDM_ERR_BAD_REQUEST on a route that stores one object', async () => {
    const res = await t.app.inject({ method: 'PUT', url: '/v1/portfolios/P9', headers: { ...t.auth('admin'), 'content-type': 'application/json' }, payload: `{"area":${DEEP(40)}}` });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ error: 'MDM_ERR_BAD_REQUEST', message: expect.stringContaining('deeper than 32 levels') });
  });

  it('depth at the limit is still parsed (the limit counts levels, not characters)', async () => {
    // 32 levels: {readings:[{…value: [[…]]}]} is refused by the row check, not by the parser.
    const payload = `{"readings":[{"meter":"M1","channel":"active_import","start":"2026-01-05T06:00:00Z","value":${DEEP(29)}}]}`;
    const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: { ...t.auth('gateway'), 'content-type': 'application/json' }, payload });
    expect(res.statusCode, res.body).toBe(200);
    expect(res.json().rejected).toHaveLength(1);
  });

  it('prototype poisoning is still refused (fastify parser semantics kept)', async () => {
    const res = await t.app.inject({
      method: 'PUT',
      url: '/v1/portfolios/P9',
      headers: { ...t.auth('admin'), 'content-type': 'application/json' },
      payload: '{"area":"TR","__proto__":{"admin":true}}',
    });
    expect(res.statusCode).toBe(400);
  });

  it.each([
    ['GET', '/v1/meters/S0%0011'],
    ['GET', '/v1/meters?group=g%00'],
    ['PUT', '/v1/portfolios/P%001'],
    ['DELETE', '/v1/keys/%00'],
    ['GET', '/v1/rejects?meter=%00'],
    ['POST', '/v1/meters/M%001/edits'],
  ] as const)('%s %s (a NUL in the URL) is a 400', async (method, url) => {
    const res = await t.app.inject({ method, url, headers: t.auth('admin'), ...(method === 'GET' || method === 'DELETE' ? {} : { payload: {} }) });
    expect(res.statusCode, res.body).toBe(400);
    expect(res.json()).toMatchObject({ error: 'MDM_ERR_BAD_REQUEST', message: expect.stringContaining('%00') });
  });

  it.each([
    ['DELETE', '/v1/keys/not-a-uuid'],
    ['DELETE', `/v1/keys/${'x'.repeat(5000)}`],
    ['DELETE', '/v1/hooks/99999999999999999999'],
    ['DELETE', '/v1/alarm-rules/-'],
    ['POST', '/v1/billing/periods/9999-99/close'],
    ['GET', `/v1/meters/${'m'.repeat(5000)}`],
    ['POST', '/v1/alarms/1e308/acknowledge'],
    ['POST', '/v1/alarms/9999999999/acknowledge'],
    ['GET', '/v1/alarms?before=9999999999'],
    ['GET', '/v1/rejects?before=9999999999'],
    ['GET', '/v1/validation/issues?before=9999999999'],
    ['POST', '/v1/validation/issues/9999999999/resolve'],
    ['DELETE', '/v1/hooks/9999999999'],
    ['GET', '/v1/hooks/9999999999/deliveries?before=9999999999&alarm=9999999999'],
    ['GET', '/v1/forecasts/runs/9999999999'],
    ['GET', '/v1/meters/M1/readings?channel=active_import&from=9999-01-01T00:00:00Z&to=9999-01-02T00:00:00Z'],
    ['GET', '/v1/meters/M1/readings/history?channel=active_import&start=9999-12-31T23:00:00Z'],
    ['GET', '/v1/meters/M1/readings?channel=active_import&from=2026-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&asOf=9999-12-31T23:00:00Z'],
  ] as const)('%s %s (an odd id or instant) is answered below 500', async (method, url) => {
    const res = await t.app.inject({ method, url, headers: t.auth('admin'), ...(method === 'POST' ? { payload: { comment: 'c', action: 'accept' } } : {}) });
    expect(res.statusCode, res.body.slice(0, 300)).toBeGreaterThanOrEqual(method === 'GET' ? 200 : 400);
    expect(res.statusCode, res.body.slice(0, 300)).toBeLessThan(500);
  });
});

describe('jsonAroundText (pure)', () => {
  it('gives the bytes JSON.stringify writes for each body with that text at the path, one after the other', () => {
    const text = `x"\\\u0000ş${'y'.repeat(100)}`;
    const around = jsonAroundText(text);
    for (const route of ROUTES) {
      for (const field of route.text ?? []) {
        const expected = Buffer.from(JSON.stringify(withValue(route.body(), field, text)));
        expect(around(route.body(), field).equals(expected), `${route.name} ${field}`).toBe(true);
      }
    }
  });
});

describe('list pages bounded in bytes (pure)', () => {
  it('withinBytes stops before the row that would pass the budget, but always sends one', () => {
    const rows = [{ a: 'x'.repeat(10) }, { a: 'y' }, { a: 'z' }];
    expect(withinBytes(rows, 20)).toEqual({ page: [rows[0]], cut: true });
    expect(withinBytes(rows, 1)).toEqual({ page: [rows[0]], cut: true });
    expect(withinBytes(rows, 1000)).toEqual({ page: rows, cut: false });
  });
  it('pageOf: the cursor points at the last row sent, whether the page ended on rows or on bytes', () => {
    const rows = [
      { id: 9, t: 'x'.repeat(50) },
      { id: 8, t: 'x'.repeat(50) },
      { id: 7, t: '' },
    ];
    expect(pageOf(rows, 2, (r) => r.id)).toEqual({ page: rows.slice(0, 2), nextCursor: '8' });
    expect(pageOf(rows, 3, (r) => r.id, 100)).toEqual({ page: rows.slice(0, 1), nextCursor: '9' });
    expect(pageOf(rows, 3, (r) => r.id)).toEqual({ page: rows, nextCursor: null });
  });
});

describe.each(FLAVOURS.filter((f) => f !== 'timescaledb'))('GET /v1/rejects bounded in bytes (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
    // 1 200 dead letters of a 1 MB row each: stored as excerpts, listed in pages of at most ~4 MiB.
    const big = JSON.stringify({ meter: 'M1', note: 'x'.repeat(1024 * 1024) });
    for (let k = 0; k < 4; k++) {
      await recordDeadLetters(
        t.database,
        { transport: 'http', principal: 'test' },
        Array.from({ length: 300 }, (_, i) => ({ rowIndex: k * 300 + i, meter: 'M1', payload: big, reason: `row ${k * 300 + i}: ${'r'.repeat(1500)}` })),
      );
    }
  }, 120_000);
  afterAll(() => t?.close());

  it('limit=1000 pages stop at the byte budget with a cursor; following it reads every row once', async () => {
    const seen = new Set<number>();
    let before: string | null = '';
    let pages = 0;
    while (before !== null) {
      const res = await t.app.inject({ method: 'GET', url: `/v1/rejects?limit=1000${before ? `&before=${before}` : ''}`, headers: t.auth('viewer') });
      expect(res.statusCode).toBe(200);
      expect(res.body.length).toBeLessThan(4.5 * 1024 * 1024);
      const body = res.json() as { rejects: { id: number; payload: string; payloadBytes: number | null; payloadSha256: string | null }[]; nextCursor: string | null };
      for (const r of body.rejects) {
        expect(seen.has(r.id)).toBe(false);
        seen.add(r.id);
      }
      if (pages === 0) {
        expect(body.rejects.length).toBeLessThan(1000); // the bytes ended the page, not the limit
        expect(body.rejects[0].payloadBytes).toBeGreaterThan(1024 * 1024);
        expect(body.rejects[0].payloadSha256).toMatch(/^[0-9a-f]{64}$/);
      }
      before = body.nextCursor;
      pages++;
    }
    expect(seen.size).toBe(1200);
    expect(pages).toBeGreaterThanOrEqual(2);
  });
});
