import { describe, expect, it } from 'vitest';
import { AlarmRuleSchema, eventAction, silenceHoursFor, thresholdCode } from '../models/alarm.js';
import { evaluateThreshold, IDLE, type ThresholdState } from '../alarms/threshold.js';

const M = 60_000;
const pts = (list: [number, number][]) => list.map(([min, value]) => ({ atMs: min * M, value }));

describe('threshold with hysteresis and minimum duration (pure)', () => {
  // Gas pressure below 0.5 bar for 15 min; clears at ≥ 0.6 bar (hysteresis 0.1).
  const rule = { condition: 'below', threshold: 0.5, hysteresis: 0.1, minDurationMinutes: 15 } as const;
  const series: [number, number][] = [
    [0, 0.6], // calm
    [5, 0.45], // violates: run starts at 5
    [10, 0.52], // in the band (0.5 ≤ v < 0.6): the run goes on
    [15, 0.48], // 10 min into the run: too short
    [20, 0.4], // 15 min: raise (since 5)
    [25, 0.3], // already raised
    [30, 0.55], // band: stays raised
    [35, 0.6], // ≥ 0.6: clear
    [40, 0.45], // a new run starts at 40
    [45, 0.7], // clears before 15 min: nothing
  ];

  it('raises once the run lasted the duration, holds in the band, clears past the hysteresis', () => {
    const r = evaluateThreshold(rule, IDLE, pts(series));
    expect(r.actions).toEqual([
      { kind: 'raise', atMs: 20 * M, sinceMs: 5 * M, value: 0.4 },
      { kind: 'clear', atMs: 35 * M, value: 0.6 },
    ]);
    expect(r.state).toEqual({ sinceMs: null, active: false, lastMs: 45 * M });
  });

  it('gives the same result split over batches, out of order inside a batch, skipping values already evaluated', () => {
    let state: ThresholdState = IDLE;
    const actions = [];
    for (const batch of [series.slice(0, 3).reverse(), series.slice(3, 6), [...series.slice(6), series[2]]]) {
      const r = evaluateThreshold(rule, state, pts(batch));
      state = r.state;
      actions.push(...r.actions);
    }
    expect(actions).toEqual([
      { kind: 'raise', atMs: 20 * M, sinceMs: 5 * M, value: 0.4 },
      { kind: 'clear', atMs: 35 * M, value: 0.6 },
    ]);
    // Mid-way state after the first batch: run since 5, not raised.
    expect(evaluateThreshold(rule, IDLE, pts(series.slice(0, 3))).state).toEqual({ sinceMs: 5 * M, active: false, lastMs: 10 * M });
  });

  it('above without duration: raises at the first violating value; v equal to the threshold does not violate', () => {
    const hot = { condition: 'above', threshold: 60, hysteresis: 5, minDurationMinutes: 0 } as const;
    const r = evaluateThreshold(
      hot,
      IDLE,
      pts([
        [0, 60],
        [1, 61],
        [2, 57],
        [3, 55.5],
        [4, 55],
        [5, 70],
      ]),
    );
    expect(r.actions).toEqual([
      { kind: 'raise', atMs: 1 * M, sinceMs: 1 * M, value: 61 },
      { kind: 'clear', atMs: 4 * M, value: 55 },
      { kind: 'raise', atMs: 5 * M, sinceMs: 5 * M, value: 70 },
    ]);
    expect(r.state).toEqual({ sinceMs: 5 * M, active: true, lastMs: 5 * M });
  });
});

describe('alarm models (pure)', () => {
  it('classifies codes: known, restore, mapped, unknown', () => {
    const maps = new Map([
      ['E17', { code: 'tamper' }],
      ['R1', { code: 'power_restored' }],
      ['X9', { code: 'door_alarm', severity: 'info' as const }],
    ]);
    expect(eventAction('power_failure', null, maps)).toEqual({ kind: 'raise', code: 'power_failure', severity: 'major' });
    expect(eventAction('power_failure', 'critical', maps)).toEqual({ kind: 'raise', code: 'power_failure', severity: 'critical' });
    expect(eventAction('power_restored', null, maps)).toEqual({ kind: 'restore', closes: ['power_failure'] });
    expect(eventAction('R1', null, maps)).toEqual({ kind: 'restore', closes: ['power_failure'] });
    expect(eventAction('E17', 'warning', maps)).toEqual({ kind: 'raise', code: 'tamper', severity: 'warning' });
    expect(eventAction('X9', 'critical', maps)).toEqual({ kind: 'raise', code: 'door_alarm', severity: 'info' });
    expect(eventAction('firmware_updated', null, maps)).toEqual({ kind: 'none' });
    expect(eventAction('constructor', null, maps)).toEqual({ kind: 'none' });
    expect(eventAction('cover_opened', null, maps)).toEqual({ kind: 'raise', code: 'cover_open', severity: 'critical' });
    expect(eventAction('cover_closed', null, maps)).toEqual({ kind: 'restore', closes: ['cover_open'] });
  });

  it('a group silence rule overrides the catch-all for its group; the shortest wins within a level', () => {
    const rules = [
      { kind: 'silence', id: 'all', hours: 24, severity: 'major' },
      { kind: 'silence', id: 'gas', hours: 72, groups: ['gas'], severity: 'minor' },
      { kind: 'silence', id: 'gas-fast', hours: 48, groups: ['gas', 'water'], severity: 'minor' },
    ] as const;
    expect(silenceHoursFor(rules as never, 'gas')?.rule.id).toBe('gas-fast');
    expect(silenceHoursFor(rules as never, 'water')?.hours).toBe(48);
    expect(silenceHoursFor(rules as never, 'north')?.hours).toBe(24);
    expect(silenceHoursFor(rules as never, null)?.hours).toBe(24);
    expect(silenceHoursFor(rules.slice(1) as never, null)).toBeUndefined();
  });

  it('rule schema: defaults, codes, and clear refusals', () => {
    const r = AlarmRuleSchema.parse({ kind: 'threshold', channel: 'pressure', condition: 'below', threshold: 0.5 });
    expect(r).toMatchObject({ hysteresis: 0, minDurationMinutes: 0, severity: 'major' });
    expect(thresholdCode('gas-Low', {})).toBe('rule_gas_low');
    expect(thresholdCode('x', { code: 'low_pressure' })).toBe('low_pressure');
    const bad = AlarmRuleSchema.safeParse({ kind: 'threshold', channel: 'humidity', condition: 'under', threshold: 'x', hysteresis: -1, extra: 1 });
    expect(bad.success).toBe(false);
    const paths = bad.error!.issues.map((i) => i.path.join('.') || i.code).sort();
    expect(paths).toEqual(expect.arrayContaining(['channel', 'condition', 'threshold', 'hysteresis']));
  });
});
