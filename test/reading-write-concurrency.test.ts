import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';

const WRITERS = 4;
const ROUNDS = 50;
const HOUR = '2026-02-01T10:00:00Z';

interface Outcome {
  status: number;
  body: { accepted: number; unchanged: number; superseded: number; rejected: unknown[] } | { error: string; message: string };
}

/**
 * Issue 11, defect 5: simultaneous writers of one meter/hour on the server
 * got 500 (`duplicate key value violates unique constraint
 * "reading_history_pkey"`) when two of them numbered the same version. Real
 * concurrent requests through the app (each its own transaction on the
 * pool); on PGlite (one connection) they run one after another, and the
 * outcome must be the same.
 */
describe.each(FLAVOURS)('concurrent writers of one interval (%s)', (flavour) => {
  let t: TestApp;
  beforeAll(async () => {
    t = await testApp(flavour);
    await t.database.db.insertInto('meters').values({ external_id: 'C1', commodity: 'electricity', timezone: 'UTC', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}' }).execute();
  });
  afterAll(() => t?.close());

  it(`${WRITERS} writers × ${ROUNDS} rounds of one meter/hour: every answer 200, one version per change, numbered 1, 2, 3, …`, async () => {
    const post = async (value: number): Promise<Outcome> => {
      const r = await t.app.inject({
        method: 'POST',
        url: '/v1/readings',
        headers: t.auth('gateway'),
        payload: { readings: [{ meter: 'C1', channel: 'active_import', start: HOUR, value }] },
      });
      return { status: r.statusCode, body: r.json() };
    };
    const sent = new Set<number>();
    const outcomes: Outcome[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Three different values and a re-send of the first: each request either changes the value or finds it already there.
      const values = [1, 2, 3, 1].map((w) => round * 10 + w);
      values.forEach((v) => sent.add(v));
      outcomes.push(...(await Promise.all(values.map(post))));
    }

    const failed = outcomes.filter((o) => o.status !== 200);
    expect(failed.slice(0, 3), `${failed.length} of ${outcomes.length} requests failed`).toEqual([]);
    const counts = outcomes.map((o) => o.body as Extract<Outcome['body'], { accepted: number }>);
    expect(counts.every((c) => c.accepted + c.unchanged + c.superseded === 1 && c.rejected.length === 0)).toBe(true);
    const total = (k: 'accepted' | 'unchanged' | 'superseded') => counts.reduce((a, c) => a + c[k], 0);
    expect(total('accepted')).toBe(1);
    // Each round's three different values all change it; the re-send changes it only when another value came in between.
    expect(total('superseded')).toBeGreaterThanOrEqual(3 * ROUNDS - 1);

    const { rows: current } = await sql<{ value: number; version: number; batch_id: string }>`
      SELECT value, version, batch_id::text FROM readings WHERE start = ${new Date(HOUR)}`.execute(t.database.db);
    const { rows: history } = await sql<{ value: number; version: number; batch_id: string; superseded_by_batch: string }>`
      SELECT value, version, batch_id::text, superseded_by_batch::text FROM reading_history WHERE start = ${new Date(HOUR)} ORDER BY version`.execute(t.database.db);
    expect(current).toHaveLength(1);
    const versions = [...history, { ...current[0], superseded_by_batch: null }];
    // One version per write that stored a value, numbered without gaps, each replaced by the batch that wrote the next one.
    expect(versions).toHaveLength(total('accepted') + total('superseded'));
    expect(versions.map((v) => v.version)).toEqual(versions.map((_, i) => i + 1));
    for (let i = 0; i + 1 < versions.length; i++) {
      expect(versions[i].superseded_by_batch).toBe(versions[i + 1].batch_id);
      expect(versions[i].value).not.toBe(versions[i + 1].value);
    }
    expect(versions.every((v) => sent.has(v.value))).toBe(true);
    expect(sent.has(current[0].value)).toBe(true);
  });

  it('batches of several hours, stored and new, some sent in reverse order: every answer 200, every key versioned 1, 2, 3, …', async () => {
    const HOURS = 6;
    const hour = (h: number) => new Date(Date.parse('2026-02-02T00:00:00Z') + h * 3_600_000).toISOString();
    const outcomes: Outcome[] = [];
    for (let round = 0; round < ROUNDS / 2; round++) {
      // Hours 0–5 every round (stored after the first), and one hour new to everyone in this round.
      const batches = [0, 1, 2, 3].map((w) => {
        const rows = [...Array.from({ length: HOURS }, (_, h) => h), HOURS + round].map((h) => ({ meter: 'C1', channel: 'active_import', start: hour(h), value: round * 10 + w + h / 100 }));
        return w % 2 ? rows.reverse() : rows;
      });
      outcomes.push(
        ...(await Promise.all(
          batches.map(async (readings) => {
            const r = await t.app.inject({ method: 'POST', url: '/v1/readings', headers: t.auth('gateway'), payload: { readings } });
            return { status: r.statusCode, body: r.json() } as Outcome;
          }),
        )),
      );
    }
    const failed = outcomes.filter((o) => o.status !== 200);
    expect(failed.slice(0, 3), `${failed.length} of ${outcomes.length} requests failed`).toEqual([]);
    const counts = outcomes.map((o) => o.body as Extract<Outcome['body'], { accepted: number }>);
    expect(counts.every((c) => c.accepted + c.unchanged + c.superseded === HOURS + 1 && c.rejected.length === 0)).toBe(true);
    // Every value differs from the others of its hour: each row of each request made a version.
    expect(counts.reduce((a, c) => a + c.accepted, 0)).toBe(HOURS + ROUNDS / 2);
    expect(counts.reduce((a, c) => a + c.unchanged, 0)).toBe(0);

    const from = new Date(hour(0));
    const { rows: versions } = await sql<{ start: Date; version: number; batch_id: string; next_batch: string | null }>`
      SELECT start, version, batch_id::text, superseded_by_batch::text AS next_batch FROM reading_history WHERE start >= ${from}
      UNION ALL SELECT start, version, batch_id::text, NULL FROM readings WHERE start >= ${from}
      ORDER BY start, version`.execute(t.database.db);
    const byHour = new Map<number, typeof versions>();
    for (const v of versions) byHour.set(v.start.getTime(), [...(byHour.get(v.start.getTime()) ?? []), v]);
    expect(byHour.size).toBe(HOURS + ROUNDS / 2);
    for (const [h, vs] of byHour) {
      const expected = h < Date.parse(hour(HOURS)) ? 4 * (ROUNDS / 2) : 4;
      expect(
        vs.map((v) => v.version),
        new Date(h).toISOString(),
      ).toEqual(Array.from({ length: expected }, (_, i) => i + 1));
      for (let i = 0; i + 1 < vs.length; i++) expect(vs[i].next_batch).toBe(vs[i + 1].batch_id);
    }
  });
});
