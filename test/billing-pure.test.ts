import { describe, expect, it } from 'vitest';
import { figureChanges } from '../billing/corrections.js';
import { billingCsv } from '../billing/csv.js';
import { billingFigures, completenessOf, readinessReasons, type BillingFigures } from '../billing/figures.js';
import { parsePeriod, periodAt } from '../billing/period.js';
import { DEFAULT_TOU_SCHEDULES, type TouSchedule } from '../models/tou.js';
import { effectiveSchedules, NO_BUCKET, touPlan } from '../models/tou-plan.js';
import type { MeterFigureRow } from '../sql/billing.repository.js';

const byte = (hex: string, minute: number) => parseInt(hex.slice(minute * 2, minute * 2 + 2), 16);

describe('billing periods', () => {
  it('parses YYYY-MM into local dates and rejects anything else', () => {
    expect(parsePeriod('2026-03')).toEqual({ period: '2026-03', fromDate: '2026-03-01', toDate: '2026-04-01' });
    expect(parsePeriod('2026-12')).toEqual({ period: '2026-12', fromDate: '2026-12-01', toDate: '2027-01-01' });
    for (const bad of ['2026-13', '2026-3', '2026-00', '26-03', '2026-03-01', '']) expect(parsePeriod(bad), bad).toBeUndefined();
  });

  it('names the UTC month of an instant, shifted', () => {
    const ms = Date.UTC(2026, 0, 31, 23, 59);
    expect([periodAt(ms), periodAt(ms, -1), periodAt(ms, 1)]).toEqual(['2026-01', '2025-12', '2026-02']);
  });
});

describe('TOU plan', () => {
  it('maps every local minute of the three-time default to its bucket (T1 = 0, T2 = 1, T3 = 2)', () => {
    const plan = touPlan(DEFAULT_TOU_SCHEDULES);
    expect(plan.bucketsByTariff.get('three-time')).toEqual(['T1', 'T2', 'T3']);
    expect(plan.maxBuckets).toBe(3);
    expect(plan.segments.map(({ map, ...s }) => ({ ...s, map: map === null ? null : map.length }))).toEqual([
      { tariff: 'three-time', effFrom: '-infinity', effTo: '2000-01-01', map: null },
      { tariff: 'three-time', effFrom: '2000-01-01', effTo: 'infinity', map: 2880 },
    ]);
    const map = plan.segments[1].map!;
    const at = (hhmm: string) => byte(map, Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3)));
    expect(['00:00', '05:59', '06:00', '16:59', '17:00', '21:59', '22:00', '23:59'].map(at)).toEqual([2, 2, 0, 0, 1, 1, 2, 2]);
  });

  it('splits a tariff by effective dates and keeps bucket indexes stable across its schedules', () => {
    const later: TouSchedule = {
      tariff: 'three-time',
      effectiveFrom: '2026-03-15',
      buckets: [
        { name: 'T3', ranges: [{ from: '22:00', to: '06:00' }] },
        { name: 'T4', ranges: [{ from: '06:00', to: '22:00' }] },
      ],
    };
    const plan = touPlan([...DEFAULT_TOU_SCHEDULES, later]);
    expect(plan.bucketsByTariff.get('three-time')).toEqual(['T1', 'T2', 'T3', 'T4']);
    expect(plan.segments.map((s) => [s.effFrom, s.effTo])).toEqual([
      ['-infinity', '2000-01-01'],
      ['2000-01-01', '2026-03-15'],
      ['2026-03-15', 'infinity'],
    ]);
    expect([byte(plan.segments[2].map!, 0), byte(plan.segments[2].map!, 12 * 60)]).toEqual([2, 3]);
    const gap = touPlan([{ tariff: 'x', effectiveFrom: '2026-01-01', buckets: [{ name: 'A', ranges: [{ from: '00:00', to: '12:00' }] }] }]);
    expect(byte(gap.segments[1].map!, 13 * 60)).toBe(NO_BUCKET);
  });

  it('uses stored schedules of a tariff instead of the default, and the default for a tariff without any', () => {
    const stored: TouSchedule = { tariff: 'three-time', effectiveFrom: '2020-01-01', buckets: [{ name: 'T1', ranges: [{ from: '00:00', to: '00:00' }] }] };
    expect(effectiveSchedules([stored])).toEqual([stored]);
    expect(effectiveSchedules([])).toEqual(DEFAULT_TOU_SCHEDULES);
  });
});

/** A January meter window in Istanbul, 744 hourly intervals, all present. */
function row(over: Partial<MeterFigureRow> = {}): MeterFigureRow {
  return {
    meterId: 1,
    externalId: 'M1',
    timezone: 'Europe/Istanbul',
    intervalMinutes: 60,
    multiplier: 1,
    tariff: 'single',
    supplyStart: null,
    supplyEnd: null,
    windowFrom: new Date('2026-01-01T00:00:00+03:00'),
    windowTo: new Date('2026-02-01T00:00:00+03:00'),
    supplied: true,
    expected: 744,
    activeImport: 0,
    activeExport: 0,
    reactiveInductive: 0,
    reactiveCapacitive: 0,
    tou: [],
    estimatedEnergy: 0,
    measured: 744,
    suspect: 0,
    estimated: 0,
    edited: 0,
    flaggedMissing: 0,
    maxRate: null,
    maxRateAt: null,
    lastStart: new Date('2026-01-31T23:00:00+03:00'),
    openFailIssues: 0,
    openSumCheckIssues: 0,
    ...over,
  };
}
const NOW = Date.parse('2026-11-25T12:00:00Z');
const codes = (r: MeterFigureRow, now = NOW) => readinessReasons(r, { noDataDays: 3 }, now).map((x) => x.code);

describe('readiness rules', () => {
  it('passes a complete meter and names each failed rule', () => {
    expect(codes(row())).toEqual([]);
    expect(codes(row({ supplied: false, windowTo: new Date('2026-01-01T00:00:00+03:00') }))).toEqual(['outside_supply']);
    expect(codes(row({ measured: 700, suspect: 40 }))).toEqual(['missing_data']);
    expect(codes(row({ openFailIssues: 2, openSumCheckIssues: 1 }))).toEqual(['open_fail_issues', 'register_mismatch']);
  });

  it('reports no recent data from the end of the newest interval to the window end (or now)', () => {
    // Newest value 2026-01-28 23:00–24:00: 3 days before 2026-02-01 00:00.
    const silent = row({ lastStart: new Date('2026-01-28T23:00:00+03:00'), measured: 672 });
    const reasons = readinessReasons(silent, { noDataDays: 3 }, NOW);
    expect(reasons.map((r) => r.code)).toEqual(['missing_data', 'no_recent_data']);
    expect(reasons[1].message).toBe('no active import data for 3 days (since 2026-01-29T00:00:00+03:00)');
    // One hour later it is 2 days 23 hours: under the limit.
    expect(codes({ ...silent, lastStart: new Date('2026-01-29T00:00:00+03:00') })).toEqual(['missing_data']);
    // A window still running counts up to now only.
    const running = row({ windowTo: new Date('2026-01-10T12:00:00Z'), expected: 225, measured: 225, lastStart: new Date('2026-01-10T11:00:00Z') });
    expect(codes(running, Date.parse('2026-01-10T12:00:00Z'))).toEqual([]);
    expect(codes(row({ lastStart: null, measured: 0 }))).toEqual(['missing_data', 'no_recent_data']);
  });

  it('counts missing intervals from what is present, placeholders included', () => {
    expect(completenessOf(row({ measured: 700, suspect: 4, estimated: 20, edited: 10, flaggedMissing: 5 }))).toEqual({
      expected: 744,
      measured: 700,
      suspect: 4,
      estimated: 20,
      edited: 10,
      missing: 10,
      completeness: 0.986559, // 734 / 744
    });
    expect(completenessOf(row({ expected: 0, measured: 0 })).completeness).toBeNull();
  });
});

describe('billing figures', () => {
  it('applies the multiplier, computes ratios, demand and the estimated share', () => {
    const f = billingFigures(
      row({
        multiplier: 40,
        tariff: 'three-time',
        activeImport: 1_500_000, // 1.5 kWh in 10⁻⁶ units
        reactiveInductive: 300_000,
        tou: [1_000_000, 250_000, 250_000],
        estimatedEnergy: 500_000,
        maxRate: 0.8,
        maxRateAt: new Date('2026-01-05T17:00:00Z'),
      }),
      { touBuckets: ['T1', 'T2', 'T3'], dataVersion: 'v', readiness: { noDataDays: 3 }, now: NOW },
    );
    expect(f).toMatchObject({
      activeImport: 60,
      reactiveInductive: 12,
      inductiveRatio: 0.2,
      capacitiveRatio: 0,
      tou: { T1: 40, T2: 10, T3: 10 },
      maxDemand: { kw: 32, at: '2026-01-05T20:00:00+03:00' },
      estimatedShare: 0.333333,
      billable: true,
    });
    const none = billingFigures(row(), { touBuckets: undefined, dataVersion: 'v', readiness: { noDataDays: 3 }, now: NOW });
    expect(none).toMatchObject({ inductiveRatio: null, maxDemand: null, estimatedShare: 0 });
    expect(none).not.toHaveProperty('tou');
  });
});

describe('corrections', () => {
  const base = { meter: 'M1', activeImport: 100, activeExport: 0, tou: { T1: 60, T2: 40 }, maxDemand: { kw: 10, at: 'a' }, billable: true } as Partial<BillingFigures>;

  it('lists only the changed fields with current − closed', () => {
    expect(figureChanges(base, base)).toEqual({});
    const now = { ...base, activeImport: 112.5, tou: { T1: 72.5, T2: 40 }, maxDemand: { kw: 12, at: 'b' }, billable: false };
    expect(figureChanges(base, now)).toEqual({
      activeImport: { closed: 100, current: 112.5, delta: 12.5 },
      'tou.T1': { closed: 60, current: 72.5, delta: 12.5 },
      'maxDemand.kw': { closed: 10, current: 12, delta: 2 },
      'maxDemand.at': { closed: 'a', current: 'b' },
      billable: { closed: true, current: false },
    });
  });
});

describe('billing CSV', () => {
  it('quotes fields per RFC 4180 and leaves TOU columns empty for single-rate meters', () => {
    const f = (meter: string, tou?: Record<string, number>): BillingFigures => ({
      meter,
      activeImport: 1,
      activeExport: 0,
      reactiveInductive: 0,
      reactiveCapacitive: 0,
      inductiveRatio: 0,
      capacitiveRatio: null,
      ...(tou ? { tou } : {}),
      maxDemand: null,
      estimatedShare: 0,
      completeness: null,
      billable: false,
      reasons: [
        { code: 'missing_data', message: 'x' },
        { code: 'no_recent_data', message: 'y' },
      ],
      dataVersion: 'v',
    });
    const lines = billingCsv([f('A,"1"'), f('B', { T1: 2 })]).split('\r\n');
    expect(lines[0]).toBe(
      'meter,activeImport,activeExport,reactiveInductive,reactiveCapacitive,inductiveRatio,capacitiveRatio,T1,maxDemandKw,maxDemandAt,estimatedShare,completeness,billable,reasons,dataVersion',
    );
    expect(lines[1]).toBe('"A,""1""",1,0,0,0,0,,,,,0,,false,missing_data;no_recent_data,v');
    expect(lines[2]).toBe('B,1,0,0,0,0,,2,,,0,,false,missing_data;no_recent_data,v');
  });
});
