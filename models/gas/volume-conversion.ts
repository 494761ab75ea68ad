import { fail, finite, type GasResult } from './result.js';
import { sgergZ, type SgergComposition } from './sgerg88.js';

/**
 * Volume at metering conditions → volume at base conditions, as an EN 12405-1
 * volume corrector does (PTZ conversion):
 *
 *   Vb = Vm · (p / pb) · (Tb / T) · (Zb / Z)
 *
 * p and pb absolute pressures (bar), T and Tb absolute temperatures (K), Z and
 * Zb compression factors at metering and base conditions. Meters and
 * correctors usually send the gauge pressure (bar above the atmosphere): it
 * becomes absolute as p = p_gauge + p_atm with the area's atmospheric
 * pressure (1.01325 bar unless configured: at 1 000 m altitude it is ≈ 0.90
 * bar, and a fixed site value is what a corrector is programmed with).
 * Pure: docs/commodities.md "Gas: conversion".
 */

/** Base (reference) conditions of volume and calorific value in an area. */
export interface BaseConditions {
  /** Base temperature of volume, °C. */
  readonly temperatureC: number;
  /** Base pressure of volume, bar absolute. */
  readonly pressureBar: number;
  /** Combustion reference temperature of the calorific value, °C. */
  readonly combustionTemperatureC: number;
}

/**
 * Base conditions in use (docs/commodities.md "Base conditions per area" gives the sources):
 * - `EU`: EASEE-gas Common Business Practice 2003-001/01 (harmonisation of units):
 *   volume at 0 °C and 1.01325 bar, calorific value at 25 °C combustion, energy in kWh.
 * - `TR`: the Turkish standard cubic metre (Sm³) of BOTAŞ and the EPDK rules:
 *   15 °C and 1.01325 bar (1 atm). The combustion reference of Turkish
 *   calorific values is not stated in the sources found; 15 °C is assumed here
 *   (ISO 13443's standard reference), configure per area when it differs.
 */
export const BASE_CONDITION_PRESETS = {
  EU: { temperatureC: 0, pressureBar: 1.01325, combustionTemperatureC: 25 },
  TR: { temperatureC: 15, pressureBar: 1.01325, combustionTemperatureC: 15 },
} as const satisfies Record<string, BaseConditions>;

/** 0 °C in kelvin. */
export const KELVIN_OFFSET = 273.15;
/** Standard atmosphere, bar. */
export const STANDARD_ATMOSPHERE_BAR = 1.01325;

/** A pressure as sent: gauge (above the atmosphere, what most correctors and transducers send) or absolute. */
export interface PressureReading {
  readonly bar: number;
  readonly kind: 'gauge' | 'absolute';
}

/**
 * How Z and Zb are known:
 * - `ideal`: Z = Zb = 1 (low-pressure domestic meters: at 20–50 mbar gauge Z/Zb differs from 1 by < 0.05 %);
 * - `{ z, zb }`: given (a corrector's own values, or a fixed K-factor as Z/Zb);
 * - `{ sgerg }`: SGERG-88 (ISO 12213-3) from the gas quality, at p, T and at base conditions.
 */
export type Compressibility = 'ideal' | { readonly z: number; readonly zb: number } | { readonly sgerg: SgergComposition };

export interface ConversionInput {
  /** Volume at metering conditions, m³. */
  readonly vm: number;
  readonly pressure: PressureReading;
  /** Gas temperature at the meter, °C. */
  readonly temperatureC: number;
  readonly base: BaseConditions;
  /** Atmospheric pressure for gauge readings, bar; default 1.01325. */
  readonly atmosphericBar?: number;
  /** Default `ideal`. */
  readonly compressibility?: Compressibility;
}

/** The factors a conversion used, as a corrector's display shows them. */
export interface ConversionFactors {
  /** Absolute pressure at the meter, bar. */
  readonly pressureAbsBar: number;
  /** Gas temperature at the meter, K. */
  readonly temperatureK: number;
  /** p / pb. */
  readonly pressureFactor: number;
  /** Tb / T. */
  readonly temperatureFactor: number;
  readonly z: number;
  readonly zb: number;
  /** Zb / Z. */
  readonly compressibilityFactor: number;
  /** C = (p/pb)·(Tb/T)·(Zb/Z): Vb = C·Vm. */
  readonly conversionFactor: number;
}

/**
 * The conversion factor C = Vb / Vm at one p, T (apply to many volumes with the same state).
 * @example conversionFactors({ pressure: { bar: 0.021, kind: 'gauge' }, temperatureC: 8, base: BASE_CONDITION_PRESETS.TR }) // C ≈ 1.0462
 */
export function conversionFactors(input: Omit<ConversionInput, 'vm'>): GasResult<ConversionFactors> {
  const { pressure, temperatureC, base } = input;
  const atm = input.atmosphericBar ?? STANDARD_ATMOSPHERE_BAR;
  if (!finite(pressure.bar)) return fail(`pressure must be a finite number of bar, got ${pressure.bar}`);
  if (!finite(temperatureC)) return fail(`temperature must be a finite number of °C, got ${temperatureC}`);
  if (!finite(atm) || atm <= 0) return fail(`atmospheric pressure must be a positive number of bar, got ${atm}`);
  if (!finite(base.temperatureC) || base.temperatureC <= -KELVIN_OFFSET) return fail(`base temperature ${base.temperatureC} °C is at or below absolute zero`);
  if (!finite(base.pressureBar) || base.pressureBar <= 0) return fail(`base pressure ${base.pressureBar} bar must be above 0 (absolute)`);
  const pAbs = pressure.kind === 'gauge' ? pressure.bar + atm : pressure.bar;
  if (pAbs <= 0) {
    return fail(
      pressure.kind === 'gauge'
        ? `gauge pressure ${pressure.bar} bar + atmosphere ${atm} bar = ${pAbs} bar absolute: an absolute pressure must be above 0 (was an absolute value sent as gauge, or mbar as bar?)`
        : `absolute pressure ${pressure.bar} bar must be above 0 (a gauge reading? send kind "gauge")`,
    );
  }
  if (temperatureC <= -KELVIN_OFFSET) return fail(`temperature ${temperatureC} °C is at or below absolute zero (−273.15 °C): a kelvin value sent as °C, or a sensor fault?`);
  const tK = temperatureC + KELVIN_OFFSET;
  const tbK = base.temperatureC + KELVIN_OFFSET;
  const zs = compressibilities(input.compressibility ?? 'ideal', pAbs, temperatureC, base);
  if (!zs.ok) return zs;
  const pressureFactor = pAbs / base.pressureBar;
  const temperatureFactor = tbK / tK;
  const compressibilityFactor = zs.zb / zs.z;
  return {
    ok: true,
    pressureAbsBar: pAbs,
    temperatureK: tK,
    pressureFactor,
    temperatureFactor,
    z: zs.z,
    zb: zs.zb,
    compressibilityFactor,
    conversionFactor: pressureFactor * temperatureFactor * compressibilityFactor,
  };
}

/**
 * Vb from Vm at one state, with the factors used.
 * @example convertVolume({ vm: 10, pressure: { bar: 1, kind: 'absolute' }, temperatureC: 0, base: BASE_CONDITION_PRESETS.EU }).vb // 10 / 1.01325
 */
export function convertVolume(input: ConversionInput): GasResult<ConversionFactors & { vm: number; vb: number }> {
  if (!finite(input.vm)) return fail(`volume must be a finite number of m³, got ${input.vm}`);
  const f = conversionFactors(input);
  if (!f.ok) return f;
  return { ...f, vm: input.vm, vb: input.vm * f.conversionFactor };
}

function compressibilities(c: Compressibility, pAbs: number, tC: number, base: BaseConditions): GasResult<{ z: number; zb: number }> {
  if (c === 'ideal') return { ok: true, z: 1, zb: 1 };
  if ('sgerg' in c) {
    const z = sgergZ(c.sgerg, pAbs, tC);
    if (!z.ok) return fail(`Z at metering conditions: ${z.reason}`);
    const zb = sgergZ(c.sgerg, base.pressureBar, base.temperatureC);
    if (!zb.ok) return fail(`Zb at base conditions: ${zb.reason}`);
    return { ok: true, z: z.z, zb: zb.z };
  }
  if (!finite(c.z) || c.z <= 0 || c.z > 2) return fail(`Z must be a positive number (natural gas: 0.6…1.05), got ${c.z}`);
  if (!finite(c.zb) || c.zb <= 0 || c.zb > 2) return fail(`Zb must be a positive number (natural gas at base conditions: ≈ 0.997…0.999), got ${c.zb}`);
  return { ok: true, z: c.z, zb: c.zb };
}
