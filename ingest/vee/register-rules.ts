import type { VeeFinding, VeeParams, VeePoint } from '../../models/vee.js';

/**
 * Register (index) rules. A register must not go down: a decrease is either a
 * rollover (the counter passed its maximum and restarted at 0: the previous
 * read was close to `rolloverAt`) or a reset/replacement. Pure.
 */
export function registerRule(reads: readonly VeePoint[], p: VeeParams['register']): VeeFinding[] {
  const out: VeeFinding[] = [];
  for (let i = 1; i < reads.length; i++) {
    const a = reads[i - 1];
    const b = reads[i];
    if (b.value >= a.value) continue;
    const rolled = rolloverDelta(a.value, b.value, p.rolloverAt);
    const detail =
      rolled !== undefined
        ? `register rolled over from ${a.value} to ${b.value} (max ${p.rolloverAt}): consumption ${round(rolled)}`
        : `register decreased from ${a.value} to ${b.value}: meter reset or replaced`;
    out.push({ rule: 'register', severity: rolled !== undefined ? 'warn' : p.severity, fromMs: a.startMs, toMs: b.startMs, detail, suspectStarts: rolled !== undefined ? [] : [b.startMs] });
  }
  return out;
}

/**
 * Consumption across a rollover, or undefined when the decrease is not one.
 * A rollover is plausible when the counter was in the top 10 % of its range
 * and restarted in the bottom 10 %.
 * @example rolloverDelta(99_990, 15, 100_000) // 25
 */
export function rolloverDelta(before: number, after: number, rolloverAt: number | undefined): number | undefined {
  if (rolloverAt === undefined || after >= before) return undefined;
  if (before < rolloverAt * 0.9 || after > rolloverAt * 0.1) return undefined;
  return rolloverAt - before + after;
}

/**
 * Sum check: between consecutive register reads, the sum of interval values
 * should equal the register difference (both as recorded, so the multiplier
 * cancels) within max(absolute, percent of the difference). Only brackets whose
 * intervals are all present are checked: gaps are the gap rule's business.
 */
export function sumCheckRule(
  reads: readonly VeePoint[],
  intervals: readonly VeePoint[],
  intervalMinutes: number,
  p: VeeParams['sumCheck'] & { rolloverAt?: number },
): VeeFinding[] {
  const step = intervalMinutes * 60_000;
  const byStart = new Map(intervals.map((x) => [x.startMs, x.value]));
  const out: VeeFinding[] = [];
  for (let i = 1; i < reads.length; i++) {
    const a = reads[i - 1];
    const b = reads[i];
    const diff = b.value >= a.value ? b.value - a.value : rolloverDelta(a.value, b.value, p.rolloverAt);
    if (diff === undefined) continue; // a reset: the register rule reports it
    let sum = 0;
    let complete = true;
    const starts: number[] = [];
    for (let t = a.startMs; t < b.startMs; t += step) {
      const v = byStart.get(t);
      if (v === undefined) {
        complete = false;
        break;
      }
      sum += v;
      starts.push(t);
    }
    if (!complete || starts.length === 0) continue;
    const tolerance = Math.max(p.absolute, (Math.abs(diff) * p.percent) / 100);
    if (Math.abs(sum - diff) > tolerance) {
      out.push({
        rule: 'sum_check',
        severity: p.severity,
        fromMs: a.startMs,
        toMs: b.startMs,
        detail: `interval sum ${round(sum)} differs from register difference ${round(diff)} by ${round(sum - diff)} (tolerance ${round(tolerance)})`,
        suspectStarts: starts,
      });
    }
  }
  return out;
}

const round = (v: number) => Math.round(v * 1000) / 1000;
