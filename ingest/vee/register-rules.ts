import type { VeeFinding, VeeParams, VeePoint } from '../../models/vee.js';
import { ROLLOVER_WINDOW } from '../register-delta.js';

/**
 * Register (index) rules. A register must not go down: a decrease is either a
 * rollover (the counter passed `rolloverAt`, its wrap point, and restarted at
 * 0) or a reset/replacement. `rolloverAt` is the meter channel's wrap point:
 * the Modbus register map's when a device reads it, else the rule's parameter
 * (see registerWrapPoints in ingest/vee/wrap-points.ts). Pure.
 */
export function registerRule(reads: readonly VeePoint[], p: VeeParams['register'] & { exchangesMs?: readonly number[] }): VeeFinding[] {
  const out: VeeFinding[] = [];
  for (let i = 1; i < reads.length; i++) {
    const a = reads[i - 1];
    const b = reads[i];
    if (b.value >= a.value || acrossExchange(a, b, p.exchangesMs)) continue; // a new device's register starts afresh
    const rolled = rolloverDelta(a.value, b.value, p.rolloverAt);
    const detail =
      rolled !== undefined
        ? `register rolled over from ${a.value} to ${b.value} (wraps at ${p.rolloverAt}): consumption ${round(rolled)}`
        : `register decreased from ${a.value} to ${b.value}: meter reset or replaced${p.rolloverAt === undefined ? ' (no wrap point known for this register)' : ''}`;
    out.push({ rule: 'register', severity: rolled !== undefined ? 'warn' : p.severity, fromMs: a.startMs, toMs: b.startMs, detail, suspectStarts: rolled !== undefined ? [] : [b.startMs] });
  }
  return out;
}

/**
 * True when a device exchange on the metering point (sql/device.repository.ts
 * exchangeInstants) falls after read `a` and at or before read `b`: the two
 * reads are of two devices and say nothing about each other (docs/meters.md).
 */
export function acrossExchange(a: VeePoint, b: VeePoint, exchangesMs: readonly number[] | undefined): boolean {
  return exchangesMs?.some((e) => e > a.startMs && e <= b.startMs) ?? false;
}

/**
 * Consumption across a rollover, or undefined when the decrease is not one.
 * The same test as the Modbus poller's (ingest/register-delta.ts), so that
 * the two always agree: the wrapped delta `rolloverAt − before + after` is at
 * most 10 % of `rolloverAt` (ROLLOVER_WINDOW).
 * @example rolloverDelta(99_990, 15, 100_000) // 25
 * @example rolloverDelta(42_949_663.51, 8.77, 2 ** 32 * 0.01) // ≈ 18.22 (a 32-bit counter of 0.01 kWh)
 */
export function rolloverDelta(before: number, after: number, rolloverAt: number | undefined): number | undefined {
  if (rolloverAt === undefined || after >= before) return undefined;
  const wrapped = rolloverAt - before + after;
  return wrapped >= 0 && wrapped <= ROLLOVER_WINDOW * rolloverAt ? wrapped : undefined;
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
  p: VeeParams['sumCheck'] & { rolloverAt?: number; exchangesMs?: readonly number[] },
): VeeFinding[] {
  const step = intervalMinutes * 60_000;
  const byStart = new Map(intervals.map((x) => [x.startMs, x.value]));
  const out: VeeFinding[] = [];
  for (let i = 1; i < reads.length; i++) {
    const a = reads[i - 1];
    const b = reads[i];
    if (acrossExchange(a, b, p.exchangesMs)) continue; // two devices' registers: no difference to compare
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
