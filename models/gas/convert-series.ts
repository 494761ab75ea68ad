import { fail, finite, type GasResult } from './result.js';
import { sgergZ } from './sgerg88.js';
import { type BaseConditions, type Compressibility, conversionFactors } from './volume-conversion.js';

/**
 * A meter's interval volumes at metering conditions → volumes at base
 * conditions, each interval with the temperature and pressure of the same
 * start (the corrector's `temperature` and `pressure` channels, averaged to
 * the volume's interval by the caller). An interval without its own
 * temperature or pressure takes the fallback when one is given — a domestic
 * meter without corrector is converted with the distributor's conventional
 * values — and says so (`substituted`); without a fallback it is not
 * converted and its reason is listed. Never a silent 0. Pure.
 */

/** One value of a series at its interval start. */
export interface SeriesPoint {
  readonly startMs: number;
  readonly value: number;
}

export interface SeriesConversionInput {
  /** Vm per interval, m³ at metering conditions. */
  readonly volumes: readonly SeriesPoint[];
  /** Gas temperature per interval start, °C. */
  readonly temperatures?: readonly SeriesPoint[];
  /** Gas pressure per interval start, bar (`pressureKind`). */
  readonly pressures?: readonly SeriesPoint[];
  /** What the pressure channel carries; correctors and transducers usually send gauge. */
  readonly pressureKind: 'gauge' | 'absolute';
  readonly base: BaseConditions;
  /** Added to gauge pressures, bar; default 1.01325 (the area's atmosphericPressureBar). */
  readonly atmosphericBar?: number;
  /** Default `ideal`; `{ sgerg }` computes Zb once and Z per interval. */
  readonly compressibility?: Compressibility;
  /** Conventional values for intervals without their own (same units and kind as the channels). */
  readonly fallback?: { readonly temperatureC?: number; readonly pressureBar?: number };
}

export interface ConvertedInterval {
  readonly startMs: number;
  readonly vm: number;
  /** m³ at base conditions; null when the interval could not be converted (`reason`). */
  readonly vb: number | null;
  readonly conversionFactor: number | null;
  /** Which inputs came from the fallback. */
  readonly substituted: readonly ('temperature' | 'pressure')[];
  readonly reason?: string;
}

export interface SeriesConversion {
  /** In the order of `volumes`. */
  readonly intervals: readonly ConvertedInterval[];
  /** Σ Vm of every interval and Σ Vb of the converted ones. */
  readonly vm: number;
  readonly vb: number;
  /** Σ Vm of the intervals that could not be converted. */
  readonly vmNotConverted: number;
  /** Intervals that used a fallback for temperature or pressure. */
  readonly substitutedCount: number;
  readonly failedCount: number;
  /** The first 100 failures. */
  readonly failed: readonly { startMs: number; reason: string }[];
}

const MAX_LISTED_FAILURES = 100;

function byStart(points: readonly SeriesPoint[] | undefined, what: string): GasResult<{ map: Map<number, number> }> {
  const map = new Map<number, number>();
  for (const p of points ?? []) {
    if (!finite(p.startMs)) return fail(`${what}: a start that is not an instant`);
    if (map.has(p.startMs)) return fail(`${what}: two values for the start ${new Date(p.startMs).toISOString()}; send one per interval`);
    map.set(p.startMs, p.value);
  }
  return { ok: true, map };
}

/**
 * Vb per interval with the factors' inputs found by start.
 * @example convertSeries({ volumes: [{ startMs: 0, value: 1 }], pressureKind: 'gauge', base: BASE_CONDITION_PRESETS.TR, fallback: { temperatureC: 15, pressureBar: 0.021 } })
 * // { ok: true, vb: 1.0207…, substitutedCount: 1, … }
 */
export function convertSeries(input: SeriesConversionInput): GasResult<SeriesConversion> {
  const temps = byStart(input.temperatures, 'temperatures');
  if (!temps.ok) return temps;
  const press = byStart(input.pressures, 'pressures');
  if (!press.ok) return press;
  let compressibility: Compressibility = input.compressibility ?? 'ideal';
  let zb: number | undefined;
  if (typeof compressibility === 'object' && 'sgerg' in compressibility) {
    const b = sgergZ(compressibility.sgerg, input.base.pressureBar, input.base.temperatureC);
    if (!b.ok) return fail(`Zb at base conditions: ${b.reason}`);
    zb = b.z;
  }
  const intervals: ConvertedInterval[] = [];
  const failed: { startMs: number; reason: string }[] = [];
  let vm = 0;
  let vb = 0;
  let vmNot = 0;
  let substitutedCount = 0;
  let failedCount = 0;
  const sgerg = typeof compressibility === 'object' && 'sgerg' in compressibility ? compressibility.sgerg : undefined;
  for (const v of input.volumes) {
    const substituted: ('temperature' | 'pressure')[] = [];
    let t = temps.map.get(v.startMs);
    if (t === undefined && input.fallback?.temperatureC !== undefined) {
      t = input.fallback.temperatureC;
      substituted.push('temperature');
    }
    let p = press.map.get(v.startMs);
    if (p === undefined && input.fallback?.pressureBar !== undefined) {
      p = input.fallback.pressureBar;
      substituted.push('pressure');
    }
    if (substituted.length) substitutedCount++;
    let reason: string | undefined;
    let factor: number | undefined;
    if (!finite(v.value)) reason = `volume must be a finite number of m³, got ${v.value}`;
    else if (t === undefined) reason = 'no temperature for this interval and no fallback temperature';
    else if (p === undefined) reason = 'no pressure for this interval and no fallback pressure';
    else {
      if (sgerg) {
        const atm = input.atmosphericBar ?? 1.01325;
        const z = sgergZ(sgerg, input.pressureKind === 'gauge' ? p + atm : p, t);
        compressibility = z.ok ? { z: z.z, zb: zb! } : 'ideal';
        if (!z.ok) reason = `Z at metering conditions: ${z.reason}`;
      }
      if (!reason) {
        const f = conversionFactors({ pressure: { bar: p, kind: input.pressureKind }, temperatureC: t, base: input.base, atmosphericBar: input.atmosphericBar, compressibility });
        if (f.ok) factor = f.conversionFactor;
        else reason = f.reason;
      }
    }
    const value = finite(v.value) ? v.value : 0;
    vm += value;
    if (factor === undefined) {
      vmNot += value;
      failedCount++;
      if (failed.length < MAX_LISTED_FAILURES) failed.push({ startMs: v.startMs, reason: reason! });
      intervals.push({ startMs: v.startMs, vm: v.value, vb: null, conversionFactor: null, substituted, reason });
    } else {
      vb += value * factor;
      intervals.push({ startMs: v.startMs, vm: v.value, vb: value * factor, conversionFactor: factor, substituted });
    }
  }
  return { ok: true, intervals, vm, vb, vmNotConverted: vmNot, substitutedCount, failedCount, failed };
}
