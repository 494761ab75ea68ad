import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../api/app.js';
import { createMetrics, reasonLabel, registerMetrics, type Metrics } from '../api/metrics.js';
import { roundClaimer } from '../sql/job-tick.repository.js';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { ROLES, type Role } from '../models/api-key.js';
import { createApiKey } from '../sql/api-key.repository.js';
import type { Database } from '../sql/database.js';
import { FLAVOURS, freshDatabase } from './helpers.js';
import type { FastifyInstance } from 'fastify';

/** The Prometheus text format, parsed: `name{labels}` → value (every sample line; HELP/TYPE lines checked for each family). */
function parseProm(text: string): Map<string, number> {
  const samples = new Map<string, number>();
  const typed = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        expect(['counter', 'gauge', 'histogram', 'summary', 'untyped']).toContain(meta[3]);
        typed.add(meta[2]);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (-?[0-9.e+-]+|[Nn][Aa][Nn]|[+-]Inf)$/.exec(line);
    expect(m, `not a sample line: ${line}`).not.toBeNull();
    const family = m![1].replace(/_(bucket|sum|count|total|created)$/, '');
    expect(typed.has(m![1]) || typed.has(family) || typed.has(`${family}_total`) || [...typed].some((t) => m![1].startsWith(t)), `no TYPE for ${m![1]}`).toBe(true);
    samples.set(`${m![1]}${m![2] ?? ''}`, Number(m![3]));
  }
  return samples;
}

describe('reject reasons as metric labels', () => {
  it('keeps the words before the first value', () => {
    expect(reasonLabel('unknown channel "bogus": known channels: active_import, …')).toBe('unknown channel');
    expect(reasonLabel('value 1e+308 is beyond ±1e15')).toBe('value');
    expect(reasonLabel('start: not an ISO-8601 instant')).toBe('start');
    expect(reasonLabel('"quoted" first')).toBe('other');
  });
});

describe.each(FLAVOURS)('GET /metrics and X-Request-Id (%s)', (flavour) => {
  let database: Database;
  let app: FastifyInstance;
  let metrics: Metrics;
  const keys = {} as Record<Role, string>;
  const scrape = async (role: Role = 'viewer') => {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${keys[role]}` } });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    return parseProm(res.body);
  };

  beforeAll(async () => {
    database = await freshDatabase(flavour);
    // As `mdm serve` wires them (cli/serve.ts): the ingest listener counts every transport's rows.
    metrics = createMetrics({ database, probes: () => [{ name: 'vee', check: () => ({ ok: true, processed: 7, failing: { count: 0 } }) }] });
    app = await buildApp({ database, config: { MDM_MAX_BATCH_ROWS: 10_000, LOG_LEVEL: 'silent' }, listeners: { ...ALARM_LISTENERS, ingested: metrics.ingested } });
    registerMetrics(app, metrics);
    for (const role of ROLES) keys[role] = (await createApiKey(database, { name: `m-${role}`, role })).key;
    const put = await app.inject({ method: 'PUT', url: '/v1/meters', headers: { authorization: `Bearer ${keys.admin}` }, payload: [{ id: 'M1', timezone: 'Europe/Istanbul' }] });
    expect(put.statusCode).toBe(200);
  });
  afterAll(async () => {
    await app?.close();
    await database?.close();
  });

  it('needs a key with metrics:read (admin, operator, viewer)', async () => {
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${keys.gateway}` } })).statusCode).toBe(403);
    for (const role of ['admin', 'operator', 'viewer'] as const) await scrape(role);
  });

  it('counts ingested rows by outcome and rejects by reason, shows the VEE backlog, HTTP latency by route and probe fields', async () => {
    const before = await scrape();
    const rows = [0, 1, 2].map((h) => ({ meter: 'M1', channel: 'active_import', start: `2026-01-05T0${h}:00:00+03:00`, value: 1.5 + h }));
    const post = (readings: unknown[]) => app.inject({ method: 'POST', url: '/v1/readings', headers: { authorization: `Bearer ${keys.gateway}` }, payload: { readings } });
    const first = await post([...rows, { meter: 'M1', channel: 'bogus', start: '2026-01-05T03:00:00+03:00', value: 1 }]);
    expect(first.statusCode, first.body).toBe(200);
    expect((await post(rows.slice(0, 1))).statusCode).toBe(200); // the same value again: unchanged
    const after = await scrape();
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect(delta('mdm_ingest_rows_total{transport="http",outcome="accepted"}')).toBe(3);
    expect(delta('mdm_ingest_rows_total{transport="http",outcome="unchanged"}')).toBe(1);
    expect(delta('mdm_ingest_rows_total{transport="http",outcome="rejected"}')).toBe(1);
    expect(delta('mdm_ingest_rejected_rows_total{transport="http",reason="unknown channel"}')).toBe(1);
    expect(after.get('mdm_backlog{queue="vee_queue"}')).toBeGreaterThanOrEqual(1); // no VEE worker here: the day waits
    expect(after.get('mdm_backlog_oldest_seconds{queue="vee_queue"}')).toBeGreaterThanOrEqual(0);
    expect(after.get('mdm_backlog{queue="alarms_open"}')).toBe(0);
    expect(delta('mdm_http_request_duration_seconds_count{route="/v1/readings",method="POST",status="2xx"}')).toBe(2);
    expect(after.get('mdm_component_up{component="vee"}')).toBe(1);
    expect(after.get('mdm_component_state{component="vee",field="processed"}')).toBe(7);
    expect(after.get('mdm_component_state{component="vee",field="failing_count"}')).toBe(0);
    expect([...after.keys()].some((k) => k.startsWith('mdm_nodejs_eventloop_lag_seconds'))).toBe(true);
    if (database.engine === 'pg') expect(after.get('mdm_db_pool_connections{state="total"}')).toBeGreaterThanOrEqual(1);
  });

  it('counts the rounds of periodic jobs each instance ran or left to another (two claimers on one database)', async () => {
    const before = await scrape('viewer');
    const slot = new Date(Date.UTC(2026, 11, 8, 10, 5));
    const [a, b] = [roundClaimer(database, 'host-a:1', metrics.work), roundClaimer(database, 'host-b:2', metrics.work)];
    expect([await a('alarms.silence', slot), await b('alarms.silence', slot), await b('forecast.day-ahead|portfolio:P1', slot)]).toEqual([true, false, true]);
    const after = await scrape('viewer');
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect(delta('mdm_job_rounds_total{job="alarms.silence",outcome="ran"}')).toBe(1);
    expect(delta('mdm_job_rounds_total{job="alarms.silence",outcome="skipped"}')).toBe(1);
    expect(delta('mdm_job_rounds_total{job="forecast.day-ahead",outcome="ran"}')).toBe(1); // one series per kind of job, not per target
  });

  it('alarm transitions counted from the shared outbox as they are written; database errors by kind', async () => {
    const before = await scrape('viewer');
    const post = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { authorization: `Bearer ${keys.admin}` },
      payload: {
        events: [
          { meter: 'M1', code: 'cover_opened', at: '2026-03-01T10:00:00Z' },
          { meter: 'M1', code: 'cover_closed', at: '2026-03-01T10:05:00Z' },
        ],
      },
    });
    expect(post.statusCode, post.body).toBe(200);
    metrics.dbError(Object.assign(new Error('deadlock detected'), { code: '40P01' }));
    metrics.dbError(new Error('not from the database')); // ignored
    const after = await scrape('viewer');
    const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
    expect(delta('mdm_alarm_transitions_total{transition="opened"}')).toBe(1);
    expect(delta('mdm_alarm_transitions_total{transition="closed"}')).toBe(1);
    expect(delta('mdm_db_errors_total{kind="race"}')).toBe(1);
    expect(delta('mdm_db_errors_total{kind="data"}')).toBe(0);
    expect((await scrape('viewer')).get('mdm_alarm_transitions_total{transition="opened"}')).toBe(after.get('mdm_alarm_transitions_total{transition="opened"}')); // each transition read once
  });

  it('the Grafana dashboard (deploy/grafana/dashboards/mdm.json) and docs/operations.md use only metrics the service exports', async () => {
    const res = await app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${keys.admin}` } });
    const families = new Set([...res.body.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => m[1]));
    const exported = (name: string) => families.has(name) || families.has(name.replace(/_(bucket|count|sum|total)$/, '')) || families.has(`${name}_total`);
    const dashboard = JSON.parse(readFileSync(new URL('../deploy/grafana/dashboards/mdm.json', import.meta.url), 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const used = new Set(dashboard.panels.flatMap((p) => p.targets.flatMap((t) => [...t.expr.matchAll(/\bmdm_[a-z0-9_]+/g)].map((m) => m[0]))));
    expect(used.size).toBeGreaterThan(10);
    expect([...used].filter((n) => !exported(n))).toEqual([]);
    const documented = new Set([...readFileSync(new URL('../docs/operations.md', import.meta.url), 'utf8').matchAll(/`(mdm_[a-z0-9_]+)`/g)].map((m) => m[1]));
    expect([...documented].filter((n) => !exported(n))).toEqual([]);
  });

  it('answers X-Request-Id: the caller’s when plausible, else a new UUID', async () => {
    const given = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'head-end-7:batch/42' } });
    expect(given.headers['x-request-id']).toBe('head-end-7:batch/42');
    const none = await app.inject({ method: 'GET', url: '/health' });
    expect(none.headers['x-request-id']).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    for (const bad of ['x'.repeat(129), 'two words', '<script>']) {
      const res = await app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': bad } });
      expect(res.headers['x-request-id']).not.toBe(bad);
      expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    }
    const failed = await app.inject({ method: 'GET', url: '/v1/meters/NOPE', headers: { 'x-request-id': 'trace-404', authorization: `Bearer ${keys.viewer}` } });
    expect(failed.statusCode).toBe(404);
    expect(failed.headers['x-request-id']).toBe('trace-404'); // errors carry it too
  });
});
