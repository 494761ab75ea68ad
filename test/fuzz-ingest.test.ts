/**
 * Property tests (fast-check) of the ingest paths on a real database
 * (issue 11 "Proof"): batches mixing good rows with hostile ones (NUL,
 * 70 000-character strings, year 9999/0001, ±1.8e308, NaN-like strings,
 * 20 000-deep values, wrong types, unknown fields, duplicates and conflicts)
 * through ingestReadings, POST /v1/readings (JSON and NDJSON) and the MQTT
 * write path (decodeMessage → writeMessages). Invariants: nothing throws and
 * nothing answers 5xx; every row ends exactly once as accepted, unchanged,
 * superseded or rejected with a reason, each reject dead-lettered once; the
 * good rows are stored with their values; the database stays usable.
 * Seed: test/fuzz-arbitraries.ts (FUZZ_SEED, FUZZ_RUNS_FACTOR).
 */
import { sql } from 'kysely';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeMessages, type BatchMessage } from '../adapters/mqtt/message-writer.js';
import { decodeMessage } from '../adapters/mqtt/payload.js';
import { parseTopic } from '../adapters/mqtt/topics.js';
import { ingestReadings } from '../ingest/pipeline.js';
import { jsonDepthExceeds } from '../models/input-bounds.js';
import type { IngestResult } from '../models/reading.js';
import type { Database } from '../sql/database.js';
import { testApp, type TestApp } from './api-helpers.js';
import { fuzzParams, hostileRow, hostileString, nestedText } from './fuzz-arbitraries.js';
import { FLAVOURS } from './helpers.js';

const DB_RUNS = 25;
const HOUR_MS = 3_600_000;
const FROM_MS = Date.UTC(2024, 0, 1);
const METERS = ['F1', 'F2'] as const;

type Tag = 'good' | 'same' | 'conflict' | 'hostile';
interface Item {
  readonly row: unknown;
  readonly tag: Tag;
}
interface GoodRow {
  readonly meter: string;
  readonly channel: 'active_import';
  readonly start: string;
  readonly value: number;
}

/** Valid rows (hour starts in 2024–2025, Wh resolution), distinct meter/start within a batch. */
const goodRows = fc.uniqueArray(fc.record({ meter: fc.constantFrom(...METERS), hour: fc.integer({ min: 0, max: 2 * 365 * 24 }), wh: fc.integer({ min: 0, max: 10_000_000 }) }), {
  selector: (r) => `${r.meter}|${r.hour}`,
  maxLength: 30,
});

/**
 * A batch: good rows in order, hostile rows inserted anywhere, exact repeats
 * and conflicting values of good rows inserted after their original.
 */
const batch: fc.Arbitrary<Item[]> = fc
  .record({
    goods: goodRows,
    hostile: fc.array(fc.tuple(hostileRow([...METERS, 'F9']), fc.nat()), { maxLength: 12 }),
    repeats: fc.array(fc.record({ of: fc.nat(), conflict: fc.boolean(), after: fc.nat() }), { maxLength: 4 }),
  })
  .map(({ goods, hostile, repeats }) => {
    const items: Item[] = goods.map((g) => ({
      tag: 'good',
      row: { meter: g.meter, channel: 'active_import', start: new Date(FROM_MS + g.hour * HOUR_MS).toISOString(), value: g.wh / 1000 } satisfies GoodRow,
    }));
    for (const [row, at] of hostile) items.splice(at % (items.length + 1), 0, { tag: 'hostile', row });
    for (const r of repeats) {
      const originals = items.filter((i) => i.tag === 'good');
      if (originals.length === 0) break;
      const of = originals[r.of % originals.length];
      const from = items.indexOf(of) + 1;
      const g = of.row as GoodRow;
      const row = r.conflict ? { ...g, value: g.value + 1 } : { ...g };
      items.splice(from + (r.after % (items.length - from + 1)), 0, { tag: r.conflict ? 'conflict' : 'same', row });
    }
    return items;
  });

/** JSON text of a value holding 20 000-deep arrays (which JSON.stringify cannot write): written by hand. */
function jsonText(v: unknown): string {
  const deep: string[] = [];
  const text = JSON.stringify(v, (_k, x: unknown) => {
    if (!Array.isArray(x)) return x;
    let depth = 0;
    for (let y: unknown = x; Array.isArray(y) && y.length === 1; y = y[0]) depth++;
    if (depth < 50) return x;
    deep.push(nestedText(depth));
    return `\u0001deep${deep.length - 1}\u0001`;
  });
  return (text ?? 'null').replace(/"\\u0001deep(\d+)\\u0001"/g, (_, i: string) => deep[Number(i)]);
}

async function rejectCount(database: Database): Promise<number> {
  const {
    rows: [r],
  } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM rejects`.execute(database.db);
  return r.n;
}

/** Current values of the good rows' keys: meter|startMs → value. */
async function storedValues(database: Database, rows: readonly GoodRow[]): Promise<Map<string, number>> {
  if (rows.length === 0) return new Map();
  const meters = [...new Set(rows.map((r) => r.meter))];
  const starts = [...new Set(rows.map((r) => r.start))];
  const { rows: found } = await sql<{ meter: string; start: Date; value: number }>`
    SELECT m.external_id AS meter, r.start, r.value FROM readings r JOIN meters m ON m.id = r.meter_id
    WHERE r.channel = 1 AND m.external_id = ANY(${meters}::text[]) AND r.start = ANY(${starts}::timestamptz[])`.execute(database.db);
  return new Map(found.map((f) => [`${f.meter}|${new Date(f.start).getTime()}`, Number(f.value)]));
}

/** The shared checks of one ingest result against the batch it came from. */
async function checkOutcome(database: Database, items: readonly Item[], result: IngestResult, rejectsBefore: number): Promise<void> {
  expect(result.accepted + result.unchanged + result.superseded + result.rejected.length).toBe(items.length);
  const seen = new Set<number>();
  for (const r of result.rejected) {
    expect(r.index).toBeGreaterThanOrEqual(0);
    expect(r.index).toBeLessThan(items.length);
    expect(seen.has(r.index)).toBe(false);
    seen.add(r.index);
    expect(typeof r.reason === 'string' && r.reason.length > 0).toBe(true);
  }
  items.forEach((item, i) => {
    if (item.tag === 'good' || item.tag === 'same') expect(seen.has(i), `row ${i} (${item.tag}) ${jsonText(item.row)} was rejected`).toBe(false);
    if (item.tag === 'conflict') expect(seen.has(i), `row ${i} conflicts with an earlier row of the batch`).toBe(true);
  });
  expect(await rejectCount(database)).toBe(rejectsBefore + result.rejected.length); // each reject dead-lettered once
  const goods = items.filter((i) => i.tag === 'good').map((i) => i.row as GoodRow);
  const stored = await storedValues(database, goods);
  for (const g of goods) expect(stored.get(`${g.meter}|${Date.parse(g.start)}`), `${g.meter} ${g.start}`).toBe(g.value);
}

describe.each(FLAVOURS)('ingest paths under hostile input (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
    await t.database.db
      .insertInto('meters')
      .values([
        { external_id: 'F1', commodity: 'electricity', timezone: 'Europe/Istanbul', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}' },
        { external_id: 'F2', commodity: 'electricity', timezone: 'Europe/Warsaw', interval_minutes: 15, multiplier: 1, tariff: 'single', labels: '{}' },
      ])
      .execute();
  });
  afterAll(() => t?.close());

  it('ingestReadings: every row accounted for exactly once, rejects dead-lettered, good rows stored', async () => {
    await fc.assert(
      fc.asyncProperty(batch, async (items) => {
        const before = await rejectCount(t.database);
        const result = await ingestReadings(
          t.database,
          items.map((i) => i.row),
          { transport: 'http', principal: 'fuzz' },
        );
        await checkOutcome(t.database, items, result, before);
      }),
      fuzzParams(DB_RUNS),
    );
  });

  it('POST /v1/readings (JSON): never 5xx; a 200 accounts for every row; only a body nested too deep is refused whole', async () => {
    await fc.assert(
      fc.asyncProperty(batch, async (items) => {
        const before = await rejectCount(t.database);
        const body = jsonText({ readings: items.map((i) => i.row) });
        const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: { ...t.auth('gateway'), 'content-type': 'application/json' }, payload: body });
        expect(res.statusCode, res.body.slice(0, 500)).toBeLessThan(500);
        if (res.statusCode !== 200) {
          expect(jsonDepthExceeds(body), `${res.statusCode} ${res.body.slice(0, 300)}`).toBe(true);
          expect(res.json()).toMatchObject({ error: expect.any(String), message: expect.any(String) });
          return;
        }
        // JSON has no NaN/Infinity/undefined: the row as the service received it is what is checked
        const sent = (JSON.parse(body) as { readings: unknown[] }).readings;
        await checkOutcome(
          t.database,
          items.map((i, k) => ({ ...i, row: i.tag === 'hostile' ? sent[k] : i.row })),
          res.json<IngestResult>(),
          before,
        );
      }),
      fuzzParams(DB_RUNS),
    );
  });

  it('POST /v1/readings (NDJSON): never 5xx; every non-blank line accounted for', async () => {
    const junk = hostileString.map((s) => s.replace(/[\r\n]/g, ' '));
    await fc.assert(
      fc.asyncProperty(batch, fc.array(fc.tuple(junk, fc.nat()), { maxLength: 4 }), async (items, junkLines) => {
        const lines = items.map((i) => jsonText(i.row));
        for (const [j, at] of junkLines) lines.splice(at % (lines.length + 1), 0, j);
        const res = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: { ...t.auth('gateway'), 'content-type': 'application/x-ndjson' }, payload: lines.join('\n') });
        expect(res.statusCode, res.body.slice(0, 500)).toBe(200);
        const r = res.json<IngestResult>();
        expect(r.accepted + r.unchanged + r.superseded + r.rejected.length).toBe(lines.filter((l) => l.trim() !== '').length);
        expect(new Set(r.rejected.map((x) => x.index)).size).toBe(r.rejected.length);
        for (const x of r.rejected) expect(x.reason).not.toBe('');
      }),
      fuzzParams(DB_RUNS),
    );
  });

  it('MQTT (decodeMessage → writeMessages): every message gets an outcome accounting for all its rows; rejects dead-lettered', async () => {
    const message = fc.tuple(
      batch,
      fc.constantFrom('mdm/v1/gateways/gw-fuzz/readings', 'mdm/v1/meters/F1/readings', 'mdm/v1/meters/F9/readings'),
      fc.constantFrom('array', 'wrapper', 'truncated', 'bytes'),
      fc.uint8Array({ maxLength: 40 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 4 }), async (specs) => {
        const before = await rejectCount(t.database);
        const messages: BatchMessage[] = specs.map(([items, topic, shape, bytes]) => {
          const rows = topic.includes('/meters/')
            ? items.map((i) => (i.row !== null && typeof i.row === 'object' && 'meter' in i.row ? { ...i.row, meter: undefined } : i.row))
            : items.map((i) => i.row);
          const text = shape === 'wrapper' ? jsonText({ id: 1, ack: true, readings: rows }) : jsonText(rows);
          const payload = shape === 'bytes' ? bytes : new TextEncoder().encode(shape === 'truncated' ? text.slice(0, Math.max(0, text.length - 2)) : text);
          const route = parseTopic(topic)!;
          return { topic, route, payload, decoded: decodeMessage(route, payload, { nowMs: Date.now() }), principal: 'gw-fuzz', scope: null };
        });
        const outcomes = await writeMessages(t.database, messages);
        expect(outcomes).toHaveLength(messages.length);
        let letters = 0;
        messages.forEach((m, k) => {
          const o = outcomes[k];
          for (const r of o.rejected) expect(r.reason).not.toBe('');
          if (m.decoded.kind === 'invalid') {
            expect(o.reason).toBeTruthy();
            letters += 1;
          } else if (m.decoded.kind === 'readings') {
            const total = m.decoded.format === 'senml' ? m.decoded.rows.length + m.decoded.rejected.length : m.decoded.rows.length;
            expect(o.stored + o.rejected.length, `message ${k}`).toBe(total);
            expect(new Set(o.rejected.map((r) => r.index)).size).toBe(o.rejected.length);
            letters += o.rejected.length;
          }
        });
        expect(await rejectCount(t.database)).toBe(before + letters);
      }),
      fuzzParams(DB_RUNS),
    );
  });

  it('the database is still usable afterwards: a good row goes in and reads back', async () => {
    const row = { meter: 'F1', channel: 'active_import', start: '2023-06-01T00:00:00Z', value: 42.5 };
    const r = await ingestReadings(t.database, [row], { transport: 'http', principal: 'fuzz' });
    expect(r).toMatchObject({ accepted: 1, rejected: [] });
    const res = await t.app.inject({ method: 'GET', url: '/v1/meters/F1/readings?channel=active_import&from=2023-06-01T00:00:00Z&to=2023-06-01T01:00:00Z', headers: t.auth('admin') });
    expect(res.statusCode).toBe(200);
    expect(res.json().rows).toMatchObject([{ value: 42.5 }]);
  });
});
