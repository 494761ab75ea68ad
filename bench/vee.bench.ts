import { cpus } from 'node:os';
import { sql } from 'kysely';
import { localDate, startOfLocalDate } from '../models/calendar.js';
import { MeterSchema } from '../models/meter.js';
import type { NormalizedReading } from '../models/reading.js';
import { RULES, type RuleName } from '../models/vee.js';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { runVee, type VeeRunResult } from '../ingest/vee/runner.js';
import type { Database } from '../sql/database.js';
import { upsertMeters } from '../sql/meter.repository.js';
import { findMeterRefs } from '../sql/meter-lookup.repository.js';
import { writeReadings } from '../sql/reading-write.repository.js';
import { loadNow, type Bench, type BenchOptions, type Figure, type Goal } from './bench.js';
import { openBenchDatabase } from './bench-database.js';
import { BENCH_FROM_MS, BENCH_TZ, makeLoadProfile } from './load-profile.js';
import { seededRandom } from '../models/random.js';

const H = 3_600_000;
const TIMEOUT_MS = 15 * 60_000;
const WRITE_CHUNK = 100_000;

const FAULTS = ['gap', 'spike', 'zero_run', 'negative'] as const;
type Fault = (typeof FAULTS)[number];

/** An injected fault: hours [from, to) of a meter's series. */
interface Injected {
  readonly rule: Fault;
  readonly from: number;
  readonly to: number;
}

/**
 * Faults per meter, each inside one local day and on a day of its own, so
 * that every fault is one finding: two gaps (1–2 h, linear; 3–8 h, like-day),
 * one spike (10 × the meter's largest value + 10 kWh), every other meter an
 * 8-hour zero run, one negative value. Returns the hours removed and the faults.
 */
export function injectFaults(values: number[], hours: number, rand: () => number, meterIndex: number): { removed: Set<number>; faults: Injected[] } {
  const days = Math.floor(hours / 24);
  const max = Math.max(...values);
  const free = Array.from({ length: days - 2 }, (_, i) => i + 2); // the first two days stay clean: like-day and high/low need earlier days
  const takeDay = () => free.splice(Math.floor(rand() * free.length), 1)[0];
  const removed = new Set<number>();
  const faults: Injected[] = [];
  for (const len of [1 + Math.floor(rand() * 2), 3 + Math.floor(rand() * 6)]) {
    const start = takeDay() * 24 + 2 + Math.floor(rand() * (22 - len - 2));
    for (let h = start; h < start + len; h++) removed.add(h);
    faults.push({ rule: 'gap', from: start, to: start + len });
  }
  const spike = takeDay() * 24 + 3 + Math.floor(rand() * 18);
  values[spike] = Math.round((10 * max + 10) * 1000) / 1000;
  faults.push({ rule: 'spike', from: spike, to: spike + 1 });
  if (meterIndex % 2 === 0) {
    const start = takeDay() * 24 + 4 + Math.floor(rand() * 10);
    for (let h = start; h < start + 8; h++) values[h] = 0;
    faults.push({ rule: 'zero_run', from: start, to: start + 8 });
  }
  const neg = takeDay() * 24 + 3 + Math.floor(rand() * 18);
  values[neg] = -Math.max(values[neg], 0.5);
  faults.push({ rule: 'negative', from: neg, to: neg + 1 });
  return { removed, faults };
}

/** Per fault kind: injected faults, those an issue of that rule overlaps, and issues of that rule overlapping no injected fault. */
async function matchFaults(database: Database, faults: readonly (Injected & { meterId: number })[]): Promise<Record<Fault, { injected: number; found: number; other: number }>> {
  const { rows } = await sql<{ rule: Fault; injected: number; found: number; other: number }>`
    WITH f AS (
      SELECT * FROM unnest(${faults.map((f) => f.meterId)}::int[], ${faults.map((f) => f.rule)}::text[],
                           ${faults.map((f) => new Date(BENCH_FROM_MS + f.from * H).toISOString())}::timestamptz[],
                           ${faults.map((f) => new Date(BENCH_FROM_MS + f.to * H).toISOString())}::timestamptz[]) AS t(meter_id, rule, f, t)
    )
    SELECT r.rule,
      (SELECT count(*) FROM f WHERE f.rule = r.rule)::int AS injected,
      (SELECT count(*) FROM f WHERE f.rule = r.rule AND EXISTS (
         SELECT 1 FROM validation_issues v WHERE v.meter_id = f.meter_id AND v.rule = f.rule AND v.from_ts < f.t AND v.to_ts > f.f))::int AS found,
      (SELECT count(*) FROM validation_issues v WHERE v.rule = r.rule AND NOT EXISTS (
         SELECT 1 FROM f WHERE v.meter_id = f.meter_id AND v.rule = f.rule AND v.from_ts < f.t AND v.to_ts > f.f))::int AS other
    FROM unnest(${[...FAULTS]}::text[]) AS r(rule)`.execute(database.db);
  return Object.fromEntries(rows.map((r) => [r.rule, r])) as unknown as Record<Fault, { injected: number; found: number; other: number }>;
}

/**
 * `npm run bench -- vee`: the full rule set over BENCH_METERS meters ×
 * BENCH_DAYS days of hourly data with injected faults, on a fresh database
 * on the PostgreSQL server (dropped at the end). Prints intervals/s of a first
 * run (findings, suspect marks, estimates, issues written) and of a re-run
 * (same data: nothing to write), and findings per rule against the faults injected.
 */
export const veeBench: Bench = {
  name: 'vee',
  summary: 'VEE rules, estimation and issue storage over 1 000 meters × 1 month hourly with injected faults',
  timeoutMs: TIMEOUT_MS,
  async run(opts: BenchOptions, log, onCleanup) {
    const bench = await openBenchDatabase(opts.databaseUrl, TIMEOUT_MS, log, onCleanup);
    try {
      const { database } = bench;
      const profile = makeLoadProfile(opts.dataDir, opts.meters, opts.days);
      await upsertMeters(
        database,
        profile.meterIds.map((id) => MeterSchema.parse({ id, timezone: BENCH_TZ, intervalMinutes: 60 })),
      );
      const refs = await findMeterRefs(database, profile.meterIds);

      const rand = seededRandom(4);
      const faults: (Injected & { meterId: number })[] = [];
      const rows: NormalizedReading[] = [];
      profile.meterIds.forEach((id, m) => {
        const values = profile.rows.slice(m * profile.hours, (m + 1) * profile.hours).map((r) => r.value);
        const f = injectFaults(values, profile.hours, rand, m);
        const meterId = refs.get(id)!.id;
        for (const x of f.faults) faults.push({ ...x, meterId });
        for (let h = 0; h < profile.hours; h++) {
          if (!f.removed.has(h)) rows.push({ meterId, channel: 1, startMs: BENCH_FROM_MS + h * H, value: values[h], intervalMinutes: 60, quality: 0, source: 0 });
        }
      });
      for (let i = 0; i < rows.length; i += WRITE_CHUNK) await writeReadings(database, rows.slice(i, i + WRITE_CHUNK), { transport: 'file', principal: 'bench' });
      log(`stored ${rows.length.toLocaleString('en-US')} intervals of ${profile.meterIds.length} meters (${profile.hours} h each)`);

      const fromDate = localDate(BENCH_FROM_MS, BENCH_TZ);
      const toDate = localDate(profile.toMs - 1, BENCH_TZ);
      const targets = [...refs.values()].map((r) => ({ meterId: r.id, fromDate, toDate }));
      const nowMs = startOfLocalDate(toDate, BENCH_TZ) + 3 * 24 * H;
      const intervals = profile.meterIds.length * profile.hours;

      const timed = async (label: string): Promise<{ ms: number; r: VeeRunResult }> => {
        const t0 = performance.now();
        const r = await runVee(database, targets, { nowMs, listeners: ALARM_LISTENERS });
        const ms = performance.now() - t0;
        log(`${label}: ${(ms / 1000).toFixed(1)} s, ${r.issuesCreated} issues created, ${r.markedSuspect} marked suspect, ${r.estimated} estimated`);
        return { ms, r };
      };
      const first = await timed('first run');
      const matched = await matchFaults(database, faults);
      const again = await timed('re-run');

      const figures: Figure[] = [
        { label: 'first run', values: [(intervals / first.ms) * 1000], unit: 'intervals/s', better: 'higher', note: 'rules, suspect marks, estimates, issues' },
        { label: 're-run, nothing changed', values: [(intervals / again.ms) * 1000], unit: 'intervals/s', better: 'higher' },
        { label: 'first run', values: [first.ms / 1000], unit: 's', better: 'lower' },
      ];
      const found = first.r.findings;
      const lines = RULES.map((rule: RuleName) => {
        const m = (FAULTS as readonly string[]).includes(rule) ? matched[rule as Fault] : undefined;
        return `${rule.padEnd(10)} findings ${String(found[rule]).padStart(6)}${m ? `   injected ${String(m.injected).padStart(5)}, detected ${String(m.found).padStart(5)}, other findings ${m.other}` : ''}`;
      });
      const goals: Goal[] = FAULTS.map((rule) => ({
        label: `every injected ${rule} detected`,
        pass: matched[rule].found === matched[rule].injected,
        detail: `${matched[rule].found} of ${matched[rule].injected}; ${matched[rule].other} findings elsewhere (faults of the data itself, or false alarms)`,
      }));
      goals.push({
        label: 're-run is idempotent',
        pass: again.r.issuesCreated === 0 && again.r.estimated === 0 && again.r.markedSuspect === 0,
        detail: `${again.r.issuesCreated} issues created, ${again.r.estimated} estimated, ${again.r.markedSuspect} marked suspect`,
      });
      return {
        context: [
          `${profile.meterIds.length} meters × ${profile.hours} h hourly = ${intervals.toLocaleString('en-US')} intervals (Cambridge Estates load shapes, ±10 % noise), server flavour ${database.flavour}`,
          `database ${bench.name} on ${new URL(opts.databaseUrl).host}; ${cpus().length} CPUs, load ${loadNow()}`,
          `first run: ${first.r.issuesCreated} issues, ${first.r.markedSuspect} values marked suspect, ${first.r.estimated} estimated`,
          'findings by rule (first run):',
          ...lines.map((l) => `  ${l}`),
        ],
        figures,
        goals,
      };
    } finally {
      await bench.drop();
    }
  },
};
