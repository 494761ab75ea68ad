import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBilling } from '../billing/billing-run.js';
import { ingestReadings } from '../ingest/pipeline.js';
import { meterFiguresSql } from '../sql/billing.repository.js';
import { createPgDatabase, createPgliteDatabase, PGLITE_PARSERS, type Database } from '../sql/database.js';
import { listDevices } from '../sql/device.repository.js';
import { listAttributeVersions } from '../sql/meter-attribute.repository.js';
import { listMeters, upsertMeters } from '../sql/meter.repository.js';
import { MIGRATIONS } from '../sql/migrations/index.js';
import { migrate } from '../sql/migrator.js';
import { loadTouPlan } from '../sql/tou-schedule.repository.js';

/**
 * Migration 028 on a database at the schema before it (migrations up to 025, today's schema when issue 16 was
 * filed) holding meters and readings with versions: every meter, reading, version and billing figure is the
 * same after migrating up; each meter became a point with one open device and one version of each attribute.
 */
const SERVER = process.env.TEST_DATABASE_URL;
const FLAVOURS = ['embedded', ...(SERVER ? (['server'] as const) : [])] as const;
const PERIOD = { kind: 'period', fromDate: '2026-03-01', toDate: '2026-04-01' } as const;

async function emptyDatabase(flavour: (typeof FLAVOURS)[number]): Promise<{ database: Database; dispose(): Promise<void> }> {
  if (flavour === 'embedded') {
    const { PGlite } = await import('@electric-sql/pglite');
    const database = createPgliteDatabase(await PGlite.create({ parsers: PGLITE_PARSERS }));
    return { database, dispose: () => database.close() };
  }
  const name = `mig028_${process.pid}_${Date.now().toString(36)}`;
  const admin = await createPgDatabase(SERVER!, { max: 1 });
  await sql`CREATE DATABASE ${sql.id(name)}`.execute(admin.db);
  await admin.close();
  const url = new URL(SERVER!);
  url.pathname = `/${name}`;
  const database = await createPgDatabase(url.toString(), { max: 2 });
  return {
    database,
    async dispose() {
      await database.close();
      const a = await createPgDatabase(SERVER!, { max: 1 });
      await sql`DROP DATABASE IF EXISTS ${sql.id(name)} WITH (FORCE)`.execute(a.db);
      await a.close();
    },
  };
}

const hours = (meter: string, fromIso: string, n: number, value: (h: number) => number) =>
  Array.from({ length: n }, (_, h) => ({ meter, channel: 'active_import', start: new Date(Date.parse(fromIso) + h * 3_600_000).toISOString(), value: value(h) }));

describe.each(FLAVOURS)('migration 028 keeps every meter, reading, version and figure (%s)', (flavour) => {
  let db: Awaited<ReturnType<typeof emptyDatabase>>;
  let before: {
    meters: unknown;
    readings: unknown[];
    history: unknown[];
    figures: unknown[];
    portfolio: string[];
  };

  beforeAll(async () => {
    db = await emptyDatabase(flavour);
    const database = db.database;
    await migrate(
      database,
      () => {},
      MIGRATIONS.filter((m) => m.id <= 25),
    );
    await upsertMeters(database, [
      {
        id: 'M1',
        commodity: 'electricity',
        timezone: 'Europe/Istanbul',
        intervalMinutes: 60,
        multiplier: 2,
        tariff: 'three-time',
        labels: {},
        portfolio: 'P',
        registerDigits: 6,
      },
      {
        id: 'M2',
        commodity: 'electricity',
        timezone: 'Europe/Warsaw',
        intervalMinutes: 15,
        multiplier: 1,
        tariff: 'single',
        labels: { feeder: 'F1' },
        portfolio: 'P',
        supplyStart: '2026-03-10',
      },
      { id: 'M3', commodity: 'electricity', timezone: 'Europe/Istanbul', intervalMinutes: 60, multiplier: 40, tariff: 'single', labels: {} },
    ]);
    const ctx = { transport: 'http', principal: 'test' } as const;
    await ingestReadings(database, [...hours('M1', '2026-03-01T00:00:00+03:00', 72, (h) => 1 + (h % 5)), ...hours('M3', '2026-03-02T00:00:00+03:00', 24, () => 0.5)], ctx);
    await ingestReadings(
      database,
      hours('M2', '2026-03-10T00:00:00+01:00', 4, (h) => h + 0.25),
      ctx,
    );
    await ingestReadings(
      database,
      hours('M1', '2026-03-01T05:00:00+03:00', 3, () => 9),
      ctx,
    ); // corrections: versions 2
    before = await snapshot(database);
  });
  afterAll(() => db?.dispose());

  async function snapshot(database: Database) {
    const readings = await database.db.selectFrom('readings').selectAll().orderBy('meter_id').orderBy('channel').orderBy('start').execute();
    const history = await database.db.selectFrom('reading_history').selectAll().orderBy('meter_id').orderBy('channel').orderBy('start').orderBy('version').execute();
    const plan = await loadTouPlan(database.db);
    const { rows: figures } = await meterFiguresSql({ selector: { all: true }, window: PERIOD }, plan).execute(database.db);
    const meters = await listMeters(database, { limit: 100 });
    return { meters, readings, history, figures, portfolio: meters.meters.filter((m) => m.portfolio === 'P').map((m) => m.id) };
  }

  it('keeps every meter, reading, version and figure', async () => {
    expect(before.readings.length).toBe(72 + 24 + 4);
    expect(before.history.length).toBe(3);
    await migrate(db.database);
    const after = await snapshot(db.database);
    expect(after.meters).toEqual(before.meters); // updatedAt too: the migration writes no meter
    expect(after.readings).toEqual(before.readings);
    expect(after.history).toEqual(before.history);
    expect(after.figures).toEqual(before.figures);
  });

  it('each meter is a point with one open device and its values as versions since always; the figures and members are the same', async () => {
    const database = db.database;
    const run = await runBilling(database, { selector: { all: true }, window: PERIOD, readiness: { noDataDays: 3 }, now: Date.parse('2026-04-02T00:00:00Z') });
    expect(run.rows).toEqual(
      (before.figures as { meterId: number; windowFrom: number; windowTo: number; maxRateAt: number | null; lastStart: number | null }[]).map((r) =>
        expect.objectContaining({ meterId: r.meterId, windowFrom: new Date(r.windowFrom), windowTo: new Date(r.windowTo) }),
      ),
    );
    expect(run.figures.every((f) => f.parts === undefined)).toBe(true);
    expect(run.figures.find((f) => f.meter === 'M3')?.activeImport).toBe(24 * 0.5 * 40);
    const members = await runBilling(database, { selector: { portfolio: 'P' }, window: PERIOD, readiness: { noDataDays: 3 }, now: Date.parse('2026-04-02T00:00:00Z') });
    expect(members.figures.map((f) => f.meter)).toEqual(before.portfolio);
    for (const m of (before.meters as { meters: { id: string; multiplier: number; portfolio: string | null; registerDigits: number | null }[] }).meters) {
      const { id } = await database.db.selectFrom('meters').select('id').where('external_id', '=', m.id).executeTakeFirstOrThrow();
      const devices = await listDevices(database, id);
      expect(devices).toEqual([expect.objectContaining({ serial: m.id, registerDigits: m.registerDigits, installedFrom: null, installedTo: null })]);
      const versions = await listAttributeVersions(database, id);
      expect(versions).toHaveLength(6);
      expect(versions.every((v) => v.validFrom === null && v.validTo === null && v.recordedAt === null)).toBe(true);
      expect(versions.find((v) => v.attribute === 'multiplier')?.value).toBe(m.multiplier);
      expect(versions.find((v) => v.attribute === 'portfolio')?.value).toBe(m.portfolio);
    }
  });
});
