import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestReadings } from '../ingest/pipeline.js';
import { normalizeReadings } from '../ingest/normalize.js';
import { DEFAULT_READING_LIMITS, clipJsonDepth, jsonDepthExceeds, jsonStringEnd, rawExcerpt, valueDepthExceeds } from '../models/input-bounds.js';
import { loadConfig, readingLimitsOf } from '../models/config.js';
import type { Database } from '../sql/database.js';
import { listDeadLetters } from '../sql/dead-letter.repository.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

// Issue 11, defects 2–4: one bad row rejects only itself, with a reason; the
// others are stored; nothing reaches SQL that the database would refuse, and
// what the database still refuses is isolated and dead-lettered.

const good = (hour: number, value = hour + 0.5) => ({ meter: 'B1', channel: 'active_import', start: `2026-03-0${1 + Math.floor(hour / 24)}T${String(hour % 24).padStart(2, '0')}:00:00Z`, value });
const NOW = Date.parse('2026-12-07T00:00:00Z');

describe('reading plausibility bounds (pure)', () => {
  const meters = new Map([['B1', { id: 1, externalId: 'B1', group: null, timezone: 'UTC', intervalMinutes: 60 }]]);
  const run = (rows: unknown[]) => normalizeReadings(rows, meters as never, { defaultSource: 'http', nowMs: NOW });

  it('rejects out-of-window timestamps, absurd values, NUL and over-long fields, each with a reason', () => {
    const r = run([
      good(0),
      { ...good(1), start: '9999-12-31T23:00:00Z' },
      { ...good(2), start: '1989-12-31T23:00:00Z' },
      { ...good(3), value: 1.7976931348623157e308 },
      { ...good(4), meter: 'S0\u000011' },
      { ...good(5), meter: 'x'.repeat(50_000) },
      { ...good(6), channel: 'c'.repeat(50_000) },
      { ...good(7), start: '2026-12-12T00:00:00Z' }, // measured, 5 days ahead
      { ...good(8), start: '2026-12-12T00:00:00Z', quality: 'estimated' }, // an estimate may lie ahead
      { ...good(9), value: -2e9 },
      { meter: 'B1', channel: 'active_import_register', start: '2026-03-01T00:00:00Z', value: 5e12 }, // a register may be large
      { ...good(10), start: '2'.repeat(60_000) },
      { ...good(11), ['k'.repeat(10_000)]: 1 },
    ]);
    expect(r.rows).toHaveLength(3);
    const reasons = new Map(r.rejected.map((x) => [x.index, x.reason]));
    expect([...reasons.keys()]).toEqual([1, 2, 3, 4, 5, 6, 7, 9, 11, 12]);
    expect(reasons.get(1)).toMatch(/in the future.*MDM_MAX_FUTURE_HOURS/);
    expect(reasons.get(2)).toMatch(/before 1990-01-01.*MDM_EARLIEST_READING/);
    expect(reasons.get(3)).toMatch(/implausible for active_import: at most ±1000000000 kWh/);
    expect(reasons.get(4)).toBe('meter contains a NUL (U+0000) character');
    expect(reasons.get(5)).toBe('meter is 50000 characters long; at most 128');
    expect(reasons.get(7)).toMatch(/in the future/);
    expect(reasons.get(9)).toMatch(/implausible/);
    for (const reason of reasons.values()) expect(reason.length).toBeLessThan(1000); // echoes are cut
    expect(r.rejected.find((x) => x.index === 5)!.meter!.length).toBeLessThan(200);
  });

  it('takes its bounds from the configuration', () => {
    const limits = readingLimitsOf(loadConfig({ MDM_EARLIEST_READING: '2000-01-01', MDM_MAX_FUTURE_HOURS: '1', MDM_MAX_INTERVAL_VALUE: '10' }));
    const r = normalizeReadings([{ ...good(0), value: 11 }, { ...good(1), start: '1999-06-01T00:00:00Z' }, { ...good(2), start: '2026-12-07T02:00:00Z' }, good(3, 10)], meters as never, {
      defaultSource: 'http',
      nowMs: NOW,
      limits,
    });
    expect(r.rejected.map((x) => x.index)).toEqual([0, 1, 2]);
    expect(r.rows).toHaveLength(1);
    expect(readingLimitsOf(loadConfig({}))).toEqual(DEFAULT_READING_LIMITS);
  });

  it('clips JSON nested too deep so that only the row holding it is rejected', () => {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    const rows = JSON.parse(clipJsonDepth(`[${JSON.stringify(good(0))},{"meter":"B1","channel":"active_import","start":"2026-03-01T01:00:00Z","value":${deep}}]`));
    const r = run(rows);
    expect(r.rows).toHaveLength(1);
    expect(r.rejected).toEqual([{ index: 1, meter: 'B1', reason: expect.stringMatching(/value must be a finite number, got .*nested deeper than 32 levels/) }]);
  });

  it('finds where a JSON string ends past escaped quotes and backslashes, as a character-by-character scan does', () => {
    // The reference: walk the characters, a backslash skips the next one (the scan these functions made before indexOf).
    const reference = (text: string, open: number) => {
      for (let i = open + 1; i < text.length; i++) {
        if (text[i] === '\\') i++;
        else if (text[i] === '"') return i;
      }
      return text.length;
    };
    const referenceDepth = (text: string) => {
      let depth = 0;
      let deepest = 0;
      for (let i = 0; i < text.length; i++) {
        if (text[i] === '"') i = reference(text, i);
        else if (text[i] === '[' || text[i] === '{') deepest = Math.max(deepest, ++depth);
        else if (text[i] === ']' || text[i] === '}') depth--;
      }
      return deepest;
    };
    expect(jsonStringEnd('"a\\"b" x', 0)).toBe(5); // "a\"b" x: the escaped quote does not end it
    expect(jsonStringEnd('"a\\\\"b" x', 0)).toBe(4); // "a\\"b: an escaped backslash, then the end
    expect(jsonStringEnd('"abc', 0)).toBe(4); // never closed
    fc.assert(
      fc.property(fc.array(fc.constantFrom('"', '\\', '[', ']', '{', '}', 'a', ','), { maxLength: 60 }), (chars) => {
        const text = `"${chars.join('')}`;
        expect(jsonStringEnd(text, 0)).toBe(reference(text, 0));
        const json = `[${chars.join('')}`; // brackets in and out of strings, unbalanced too
        expect(jsonDepthExceeds(json, 2)).toBe(referenceDepth(json) > 2);
      }),
      { numRuns: 2000 },
    );
    expect(jsonDepthExceeds('["[[[[", {"k\\"[": [1]}]', 3)).toBe(false); // brackets inside strings do not count
    expect(jsonDepthExceeds('[[[1]]]', 2)).toBe(true);
    expect(clipJsonDepth('[{"v":[[1]]},"[[[\\"[["]', 2)).toBe('[{"v":"[nested deeper than 2 levels]"},"[[[\\"[["]');
  });

  it('keeps a bounded excerpt of raw input with its size and hash', () => {
    const big = 'x'.repeat(50 * 1024 * 1024);
    const e = rawExcerpt(big);
    expect(e.bytes).toBe(50 * 1024 * 1024);
    expect(e.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(e.payload.length).toBeLessThan(4200);
    expect(rawExcerpt(new Uint8Array([0xff, 0, 1])).payload).toBe('base64:/wAB');
  });
});

describe.each(FLAVOURS)('ingest isolates bad rows (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
    await database.db
      .insertInto('meters')
      .values([{ external_id: 'B1', commodity: 'electricity', timezone: 'Europe/Istanbul', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}' }])
      .execute();
  });
  afterAll(() => database?.close());

  it('stores the good rows of a batch with hostile rows and dead-letters each hostile row with its reason, bounded', async () => {
    const hostile = [
      { meter: 'S0\u000011', channel: 'active_import', start: '2026-03-01T00:00:00Z', value: 1 },
      { ...good(30), start: '9999-12-31T23:00:00Z' },
      { ...good(31), value: 1.7976931348623157e308 },
      { ...good(32), meter: 'm'.repeat(5_000_000) },
    ];
    const batch = [good(0), ...hostile, good(1), good(2)];
    const res = await ingestReadings(database, batch, { transport: 'http', principal: 'test' });
    expect(res.accepted).toBe(3);
    expect(res.rejected.map((r) => r.index)).toEqual([1, 2, 3, 4]);
    const letters = await listDeadLetters(database, { limit: 10 });
    expect(letters).toHaveLength(4);
    for (const l of letters) {
      expect(l.reason).not.toBe('');
      expect(l.payload.length).toBeLessThan(4200);
      expect(l.payloadSha256).toMatch(/^[0-9a-f]{64}$/);
      expect((l.meter ?? '').length).toBeLessThan(200);
    }
    const huge = letters.find((l) => l.rowIndex === 4)!;
    expect(huge.payloadBytes).toBeGreaterThan(5_000_000);
    expect(letters.find((l) => l.rowIndex === 1)!.meter).toBe('S0\\u000011');
  });

  it('isolates a row the database refuses although it passed validation, and stores the rest', async () => {
    // Bounds opened wide so that a year-9999 reading reaches SQL, as it did before them:
    // its local day in Istanbul is in year 10000, which PostgreSQL cannot parse.
    const open = { ...DEFAULT_READING_LIMITS, otherFutureMs: 1e15, measuredFutureMs: 1e15 };
    const rows = Array.from({ length: 40 }, (_, h) => good(48 + h));
    rows.splice(17, 0, { ...good(200), start: '9999-12-31T23:00:00Z' });
    const res = await ingestReadings(database, rows, { transport: 'http', principal: 'test', limits: open });
    expect(res.accepted).toBe(40);
    expect(res.rejected).toEqual([{ index: 17, reason: expect.stringMatching(/^database refused the item: /) }]);
    const stored = await database.db
      .selectFrom('readings')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(stored.n)).toBe(43);
    const letter = (await listDeadLetters(database, { limit: 1 }))[0];
    expect(letter).toMatchObject({ rowIndex: 17, meter: 'B1' });
    expect(JSON.parse(letter.payload)).toMatchObject({ start: '9999-12-31T23:00:00Z' });
  });
});

describe('the HTTP API applies the configured reading bounds', () => {
  it('rejects a value above MDM_MAX_INTERVAL_VALUE and a reading before MDM_EARLIEST_READING given to buildApp', async () => {
    const { buildApp } = await import('../api/app.js');
    const { ALARM_LISTENERS } = await import('../alarms/alarm-listeners.js');
    const { createApiKey } = await import('../sql/api-key.repository.js');
    const database = await freshDatabase('embedded');
    const app = await buildApp({ database, config: { MDM_MAX_BATCH_ROWS: 1000, LOG_LEVEL: 'silent', MDM_MAX_INTERVAL_VALUE: 10, MDM_EARLIEST_READING: '2020-01-01' }, listeners: ALARM_LISTENERS });
    try {
      const { key } = await createApiKey(database, { name: 'gw', role: 'gateway' });
      const headers = { authorization: `Bearer ${key}` };
      expect(
        (await app.inject({ method: 'PUT', url: '/v1/meters', headers: { authorization: `Bearer ${(await createApiKey(database, { name: 'a', role: 'admin' })).key}` }, payload: [{ id: 'B1' }] }))
          .statusCode,
      ).toBe(200);
      const res = await app.inject({ method: 'POST', url: '/v1/readings', headers, payload: { readings: [good(0, 10), good(1, 11), { ...good(2), start: '2019-12-31T23:00:00Z' }] } });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({
        accepted: 1,
        rejected: [
          { index: 1, reason: expect.stringMatching(/at most ±10 kWh/) },
          { index: 2, reason: expect.stringMatching(/before 2020-01-01/) },
        ],
      });
    } finally {
      await app.close();
      await database.close();
    }
  });
});

describe('valueDepthExceeds (the depth bound on parsed JSON, as ingest checks it)', () => {
  it('finds the same depth as the text scan, on any depth, without recursion', () => {
    const texts = ['1', '"x"', 'null', '[]', '{}', '[[1]]', '{"a":[{"b":{}}]}', '[{"value":[[1]]}]', '{"readings":[{"meter":"M","value":1}]}', '[1,[2,[3]],{"k":"[[[[not nesting]]]]"}]'];
    for (const text of texts) for (const max of [0, 1, 2, 3, 4]) expect(valueDepthExceeds(JSON.parse(text), max), `${text} at ${max}`).toBe(jsonDepthExceeds(text, max));
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    expect(valueDepthExceeds(JSON.parse(deep), 32)).toBe(true);
  });
});
