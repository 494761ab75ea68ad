import { sql } from 'kysely';
import type { NormalizedReading } from '../models/reading.js';
import { seededRandom } from '../models/random.js';
import { maintainBillingRollup } from '../sql/billing-rollup.repository.js';
import type { Database } from '../sql/database.js';
import { toCopyBinary } from '../sql/reading-write.repository.js';
import { loadNow } from './bench.js';
import type { BenchService } from './bench-service.js';
import { loadBuildingSeries } from './load-profile.js';
import { timeGets } from './post-batches.js';

/**
 * The gas variant of the billing bench (issue 15): `meters` gas meters
 * (GAS-00001…, Europe/Istanbul, group `gas-bench`, gas area `TR-BENCH`: 15 °C,
 * 1.01325 bar) × one month hourly of volume (Vm, m³: a Cambridge building's
 * load / 10.64 kWh/m³), the corrector's temperature (°C) and gauge pressure
 * (bar), one superior calorific value for the month. Loaded by raw binary
 * COPY (three channels: 3 × meters × hours rows), rolled up, then GET
 * /v1/billing/consumption?group=gas-bench timed through HTTP: every meter
 * converted per interval and priced. Totals are checked against Vb and kWh
 * computed here with the same formula (ideal gas).
 */
export const GAS_GROUP = 'gas-bench';
const AREA = { code: 'TR-BENCH', tz: 'Europe/Istanbul', baseC: 15, baseBar: 1.01325, atmBar: 1.01325 };
const CV_KWH_PER_M3 = 10.64;
const COPY_METERS = 300;

export interface GasLoad {
  readonly meters: number;
  readonly rows: number;
  /** Σ Vm, Σ Vb (m³) and Σ kWh of the loaded data. */
  readonly vm: number;
  readonly vb: number;
  readonly kwh: number;
  readonly copyMs: number;
}

/** Meters, area, calorific value and the three channels by COPY, then the rollup. `fromMs`: the month's first local hour (UTC ms); `period`: its YYYY-MM-01. */
export async function loadGas(database: Database, o: { dataDir: string; meters: number; hours: number; fromMs: number; monthFrom: string; monthTo: string }): Promise<GasLoad> {
  await sql`
    INSERT INTO gas_areas (code, name, timezone, base_temperature_c, base_pressure_bar, combustion_temperature_c, gas_day_start_hour, atmospheric_pressure_bar)
    VALUES (${AREA.code}, 'bench', ${AREA.tz}, ${AREA.baseC}, ${AREA.baseBar}, 15, 8, ${AREA.atmBar}) ON CONFLICT (code) DO NOTHING`.execute(database.db);
  await sql`
    INSERT INTO calorific_values (area, kind, valid_from, version, valid_to, value_kwh_per_m3, value_received, unit_received, source)
    VALUES (${AREA.code}, 'superior', (${o.monthFrom}::date)::timestamp AT TIME ZONE ${AREA.tz}, 1, (${o.monthTo}::date)::timestamp AT TIME ZONE ${AREA.tz},
            ${CV_KWH_PER_M3}, ${CV_KWH_PER_M3}, 'kWh/m3', 'bench') ON CONFLICT DO NOTHING`.execute(database.db);
  await sql`
    INSERT INTO meters (external_id, commodity, timezone, interval_minutes, multiplier, tariff, "group", gas_area)
    SELECT 'GAS-' || lpad(i::text, 5, '0'), 'gas', ${AREA.tz}, 60, 1, 'single', ${GAS_GROUP}, ${AREA.code}
    FROM generate_series(1, ${sql.lit(o.meters)}) i`.execute(database.db);
  const ids = new Map((await database.db.selectFrom('meters').select(['id', 'external_id']).where('group', '=', GAS_GROUP).execute()).map((r) => [r.external_id, r.id]));
  const { id: batchId } = await database.db.insertInto('ingest_batches').values({ transport: 'bench', principal: 'billing-bench', detail: 'gas raw COPY' }).returning('id').executeTakeFirstOrThrow();
  const series = loadBuildingSeries(o.dataDir, o.hours);
  const rand = seededRandom(20190402);
  let vm = 0;
  let vb = 0;
  const t0 = performance.now();
  for (let first = 0; first < o.meters; first += COPY_METERS) {
    const rows: NormalizedReading[] = [];
    for (let i = first; i < Math.min(first + COPY_METERS, o.meters); i++) {
      const meterId = ids.get(`GAS-${String(i + 1).padStart(5, '0')}`)!;
      const shape = series[i % series.length];
      for (let h = 0; h < o.hours; h++) {
        const startMs = o.fromMs + h * 3_600_000;
        const v = Math.round((shape[h] / CV_KWH_PER_M3) * (0.9 + 0.2 * rand()) * 1000) / 1000; // litre resolution
        const t = Math.round((10 + 3 * Math.sin((2 * Math.PI * h) / 24)) * 100) / 100;
        const p = Math.round((0.021 - 0.002 * rand()) * 10_000) / 10_000;
        vm += v;
        vb += (v * ((p + AREA.atmBar) / AREA.baseBar) * (AREA.baseC + 273.15)) / (t + 273.15);
        rows.push({ meterId, channel: 7, startMs, value: v, intervalMinutes: null, quality: 0, source: 0 });
        rows.push({ meterId, channel: 9, startMs, value: t, intervalMinutes: null, quality: 0, source: 0 });
        rows.push({ meterId, channel: 10, startMs, value: p, intervalMinutes: null, quality: 0, source: 0 });
      }
    }
    await database.session(async ({ db, raw }) => {
      await sql`ALTER TABLE readings ALTER COLUMN batch_id SET DEFAULT ${sql.lit(batchId)}`.execute(db);
      await raw.copyFrom('COPY readings (meter_id, channel, start, value, interval_minutes, quality, source) FROM STDIN (FORMAT binary)', toCopyBinary(rows));
      await sql`ALTER TABLE readings ALTER COLUMN batch_id DROP DEFAULT`.execute(db);
    });
  }
  const copyMs = performance.now() - t0;
  await sql`VACUUM ANALYZE readings`.execute(database.db);
  await sql`ANALYZE meters`.execute(database.db);
  await maintainBillingRollup(database);
  await sql`VACUUM ANALYZE billing_daily, billing_monthly, billing_dirty`.execute(database.db);
  return { meters: o.meters, rows: 3 * o.meters * o.hours, vm, vb, kwh: vb * CV_KWH_PER_M3, copyMs };
}

interface GasConsumption {
  meters: { meter: string; volume?: number; completeness: number | null; billable: boolean; gas?: { volumeBase: number | null; energy: number | null; volumeBaseCoverage: number | null } }[];
}

/** Checks a gas pull against the load: every meter converted, priced, billable; Σ Vm, Vb and kWh within 10⁻⁶. */
export function checkGas(body: GasConsumption, load: GasLoad): void {
  const ms = body.meters;
  const sum = (f: (m: GasConsumption['meters'][number]) => number | null | undefined) => ms.reduce((a, m) => a + (f(m) ?? 0), 0);
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
  const vm = sum((m) => m.volume);
  const vb = sum((m) => m.gas?.volumeBase);
  const kwh = sum((m) => m.gas?.energy);
  const bad = ms.filter((m) => !m.billable || m.completeness !== 1 || m.gas?.volumeBaseCoverage !== 1).length;
  if (ms.length !== load.meters || bad || !close(vm, load.vm) || !close(vb, load.vb) || !close(kwh, load.kwh)) {
    throw new Error(
      `gas billing answered ${ms.length} meters, ${bad} not billable or not fully converted, Σ Vm ${vm} Vb ${vb} kWh ${kwh} (expected ${load.meters}, 0, ${load.vm}, ${load.vb}, ${load.kwh})`,
    );
  }
}

/** GET /v1/billing/consumption?group=gas-bench, `runs` times, checked. */
export async function timeGasPull(service: BenchService, period: string, load: GasLoad, runs: number, timeoutMs: number, log: (line: string) => void): Promise<number[]> {
  const r = await timeGets(`${service.url}/v1/billing/consumption?period=${period}&group=${GAS_GROUP}`, service.keys.admin, runs, timeoutMs);
  checkGas(r.body as GasConsumption, load);
  log(`GET consumption, ${load.meters} gas meters with conversion and energy: ${r.ms.map((x) => x.toFixed(0)).join(', ')} ms (load ${loadNow()})`);
  return r.ms;
}
