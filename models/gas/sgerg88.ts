import { fail, finite, type GasResult } from './result.js';

/**
 * Compression factor Z of a natural gas by the SGERG-88 method, ISO 12213-3
 * ("Natural gas — Calculation of compression factor — Part 3: Calculation
 * using physical properties"; GERG Technical Monograph TM5, 1991): the GERG-88
 * virial equation Z = 1 + B·ρm + C·ρm² with B and C from a simplified
 * analysis — superior calorific value Hs, relative density d, CO₂ and H₂ mole
 * fractions. The composition step (Annex B) replaces the hydrocarbons by one
 * equivalent hydrocarbon whose molar calorific value H fits Hs and d, and
 * takes the rest as N₂ (CO at 0.0964 × H₂, as coke-oven gas carries).
 *
 * Input reference conditions are the method's own: Hs in MJ/m³ at combustion
 * 25 °C and metering 0 °C, 1.01325 bar; d relative to air at 0 °C, 1.01325 bar.
 * Convert values published at other reference conditions first (ISO 13443;
 * `toSgergReference` for the metering part). Ranges of the method: p 0–120 bar
 * absolute, t −23…65 °C, Hs 20–48 MJ/m³, d 0.55–0.9, CO₂ 0–0.3, H₂ 0–0.1.
 *
 * Checked in test/gas-maths.test.ts against the example calculations of
 * ISO 12213-3 Annex C (gases 1–6 at 60 and 120 bar). Pure.
 */

/** What SGERG-88 needs to know of the gas. */
export interface SgergGas {
  /** Superior calorific value, MJ/m³ at 25 °C combustion, 0 °C and 1.01325 bar metering (20–48). */
  readonly hsMjPerM3: number;
  /** Relative density (gas/air) at 0 °C, 1.01325 bar (0.55–0.9). */
  readonly relativeDensity: number;
  /** CO₂ mole fraction (0–0.3), not percent. */
  readonly xCO2: number;
  /** H₂ mole fraction (0–0.1); 0 for natural gas without admixture. */
  readonly xH2?: number;
}

/** The gas after the composition step: reused for every p, T of the same gas quality. */
export interface SgergComposition {
  readonly gas: SgergGas;
  /** Molar calorific value of the equivalent hydrocarbon, MJ/kmol. */
  readonly h: number;
  /** Mole fractions: equivalent hydrocarbon, N₂ (computed), CO₂, H₂, CO. */
  readonly x1: number;
  readonly x2: number;
  readonly x3: number;
  readonly x5: number;
  readonly x7: number;
}

export interface SgergZ {
  /** Compression factor at p, T. */
  readonly z: number;
  /** Molar density, kmol/m³. */
  readonly molarDensity: number;
  /** N₂ mole fraction the method computed. */
  readonly xN2: number;
}

/** Ranges in which ISO 12213-3 applies the method (§4.4 and the Fortran of Annex F). */
export const SGERG_RANGES = {
  pressureBar: [0, 120],
  temperatureC: [-23, 65],
  hsMjPerM3: [20, 48],
  relativeDensity: [0.55, 0.9],
  xCO2: [0, 0.3],
  xH2: [0, 0.1],
} as const;

// Temperature polynomials a0 + a1·T + a2·T² (T in K) of the second (m³/kmol) and
// third (m⁶/kmol²) virial coefficients, ISO 12213-3 Annex B, Table B.1 / B.2.
// Indices: 1 equivalent hydrocarbon, 2 N₂, 3 CO₂, 5 H₂, 7 CO (the standard's numbering).
const B11H0 = [-0.425468, 0.2865e-2, -0.462073e-5] as const;
const B11H1 = [0.877118e-3, -0.556281e-5, 0.88151e-8] as const;
const B11H2 = [-0.824747e-6, 0.431436e-8, -0.608319e-11] as const;
const B22 = [-0.1446, 0.74091e-3, -0.91195e-6] as const;
const B23 = [-0.339693, 0.161176e-2, -0.204429e-5] as const;
const B33 = [-0.86834, 0.40376e-2, -0.51657e-5] as const;
const B15 = [-0.52128e-1, 0.27157e-3, -0.25e-6] as const;
const B17 = [-0.68729e-1, -0.239381e-5, 0.518195e-6] as const;
const B55 = [-0.110596e-2, 0.813385e-4, -0.98722e-7] as const;
const B77 = [-0.13082, 0.60254e-3, -0.6443e-6] as const;
const B25 = 0.012;
const C111H0 = [-0.302488, 0.195861e-2, -0.316302e-5] as const;
const C111H1 = [0.646422e-3, -0.422876e-5, 0.688157e-8] as const;
const C111H2 = [-0.332805e-6, 0.22316e-8, -0.367713e-11] as const;
const C222 = [0.78498e-2, -0.39895e-4, 0.61187e-7] as const;
const C223 = [0.552066e-2, -0.168609e-4, 0.157169e-7] as const;
const C233 = [0.358783e-2, 0.806674e-5, -0.325798e-7] as const;
const C333 = [0.20513e-2, 0.34888e-4, -0.83703e-7] as const;
const C555 = [0.104711e-2, -0.364887e-5, 0.467095e-8] as const;
const C117 = [0.736748e-2, -0.276578e-4, 0.343051e-7] as const;
// Interaction parameters.
const Z12 = 0.72;
const Z13 = -0.865;
const Y12 = 0.92;
const Y13 = 0.92;
const Y123 = 1.1;
const Y115 = 1.2;
// Molar mass of the equivalent hydrocarbon = GM1R0 + GM1R1·H (kg/kmol); molar masses of N₂, CO₂, H₂, CO.
const GM1R0 = -2.709328;
const GM1R1 = 0.021062199;
const GM2 = 28.0135;
const GM3 = 44.01;
const GM5 = 2.0159;
const GM7 = 28.01;
/** Ideal-gas molar volume at 0 °C, 1.01325 bar, m³/kmol. */
const VM_IDEAL_0C = 22.414097;
/** Density of dry air at 0 °C, 1.01325 bar, kg/m³. */
const RHO_AIR_0C = 1.292923;
const T0 = 273.15;
/** Molar superior calorific values of H₂ and CO at 25 °C, MJ/kmol. */
const H5 = 285.83;
const H7 = 282.98;
/** Gas constant, bar·m³/(kmol·K). */
const R = 0.0831451;
const MAX_ITERATIONS = 50;

const poly = (a: readonly [number, number, number], t: number) => a[0] + a[1] * t + a[2] * t * t;

function b11(t: number, h: number): number {
  return poly(B11H0, t) + poly(B11H1, t) * h + poly(B11H2, t) * h * h;
}

/** Second virial coefficient of the mixture at T (K), m³/kmol. */
function secondVirial(c: SgergComposition, t: number): number {
  const { x1, x2, x3, x5, x7 } = c;
  const bh = b11(t, c.h);
  const b22 = poly(B22, t);
  const b33 = poly(B33, t);
  const b12 = (Z12 + 1.875e-5 * (320 - t) ** 2) * ((bh + b22) / 2);
  const b13 = Z13 * Math.sqrt(bh * b33); // B11 and B33 are both negative in range
  return (
    x1 * x1 * bh +
    2 * x1 * x2 * b12 +
    2 * x1 * x3 * b13 +
    2 * x1 * x5 * poly(B15, t) +
    2 * x1 * x7 * poly(B17, t) +
    x2 * x2 * b22 +
    2 * x2 * x3 * poly(B23, t) +
    2 * x2 * x5 * B25 +
    x3 * x3 * b33 +
    x5 * x5 * poly(B55, t) +
    x7 * x7 * poly(B77, t)
  );
}

/** Third virial coefficient of the mixture at T (K), m⁶/kmol². */
function thirdVirial(c: SgergComposition, t: number): number {
  const { x1, x2, x3, x5, x7 } = c;
  const c111 = poly(C111H0, t) + poly(C111H1, t) * c.h + poly(C111H2, t) * c.h * c.h;
  const c222 = poly(C222, t);
  const c333 = poly(C333, t);
  const c555 = poly(C555, t);
  const y12 = Y12 + 0.0013 * (t - 270);
  const c112 = y12 * Math.cbrt(c111 * c111 * c222);
  const c113 = Y13 * Math.cbrt(c111 * c111 * c333);
  const c115 = Y115 * Math.cbrt(c111 * c111 * c555);
  const c122 = y12 * Math.cbrt(c111 * c222 * c222);
  const c123 = Y123 * Math.cbrt(c111 * c222 * c333);
  const c133 = Y13 * Math.cbrt(c111 * c333 * c333);
  return (
    x1 ** 3 * c111 +
    3 * x1 * x1 * x2 * c112 +
    3 * x1 * x1 * x3 * c113 +
    3 * x1 * x1 * x5 * c115 +
    3 * x1 * x1 * x7 * poly(C117, t) +
    3 * x1 * x2 * x2 * c122 +
    6 * x1 * x2 * x3 * c123 +
    3 * x1 * x3 * x3 * c133 +
    x2 ** 3 * c222 +
    3 * x2 * x2 * x3 * poly(C223, t) +
    3 * x2 * x3 * x3 * poly(C233, t) +
    x3 ** 3 * c333 +
    x5 ** 3 * c555
  );
}

const outside = (name: string, v: number, [lo, hi]: readonly [number, number], unit = '') =>
  !finite(v) ? `${name} must be a finite number, got ${v}` : v < lo || v > hi ? `${name} ${v}${unit} is outside SGERG-88's range ${lo}…${hi}${unit} (ISO 12213-3 §4.4)` : undefined;

/**
 * The composition step of SGERG-88 (ISO 12213-3 Annex B.2): the equivalent
 * hydrocarbon's molar calorific value H and the N₂ fraction that reproduce Hs
 * and d. Do it once per gas quality, then call `sgergZ` for every p, T.
 * @example sgergComposition({ hsMjPerM3: 40.66, relativeDensity: 0.581, xCO2: 0.006 }) // ok, xN2 ≈ 0.0025 (ISO 12213-3 gas 1)
 */
export function sgergComposition(gas: SgergGas): GasResult<{ composition: SgergComposition }> {
  const xH2 = gas.xH2 ?? 0;
  const bad =
    outside('hs', gas.hsMjPerM3, SGERG_RANGES.hsMjPerM3, ' MJ/m³') ??
    outside('relative density', gas.relativeDensity, SGERG_RANGES.relativeDensity) ??
    outside('CO₂ mole fraction', gas.xCO2, SGERG_RANGES.xCO2) ??
    outside('H₂ mole fraction', xH2, SGERG_RANGES.xH2);
  if (bad) return fail(bad);
  const hs = gas.hsMjPerM3;
  const x3 = gas.xCO2;
  const x5 = xH2;
  const x7 = x5 * 0.0964;
  if (0.55 + 0.97 * x3 - 0.45 * x5 > gas.relativeDensity) {
    return fail(`relative density ${gas.relativeDensity} is too low for CO₂ ${x3} and H₂ ${x5} (needs > 0.55 + 0.97·CO₂ − 0.45·H₂): conflicting input`);
  }
  const density = gas.relativeDensity * RHO_AIR_0C; // kg/m³ at 0 °C, 1.01325 bar
  let amol = 1 / (VM_IDEAL_0C - 0.065); // molar density at the reference, kmol/m³, from a first B
  let h = 1000;
  let x1 = 0;
  let x2 = 0;
  // Equivalent hydrocarbon fraction and the mixture density for a trial H.
  const trial = (hh: number) => {
    const t1 = (hs - (x5 * H5 + x7 * H7) * amol) / hh / amol;
    const t2 = 1 - t1 - x3 - x5 - x7;
    return { x1: t1, x2: t2, rho: (t1 * (GM1R0 + GM1R1 * hh) + t2 * GM2 + x3 * GM3 + x5 * GM5 + x7 * GM7) * amol };
  };
  let converged = false;
  for (let outer = 0; outer < MAX_ITERATIONS && !converged; outer++) {
    let inner = 0;
    for (; inner < MAX_ITERATIONS; inner++) {
      const a = trial(h);
      x1 = a.x1;
      x2 = a.x2;
      if (Math.abs(density - a.rho) <= 1e-6) break;
      const b = trial(h + 1);
      h += (density - a.rho) / (b.rho - a.rho);
      if (!finite(h)) return fail('SGERG-88 composition step diverged: check hs, relative density and CO₂');
    }
    if (inner === MAX_ITERATIONS) return fail('SGERG-88 composition step did not converge (density): check hs, relative density and CO₂');
    const c: SgergComposition = { gas, h, x1, x2, x3, x5, x7 };
    amol = 1 / (VM_IDEAL_0C + secondVirial(c, T0));
    const hsComputed = (x1 * h + x5 * H5 + x7 * H7) * amol;
    converged = Math.abs(hs - hsComputed) <= 1e-4;
  }
  if (!converged) return fail('SGERG-88 composition step did not converge (calorific value): check hs, relative density and CO₂');
  if (x2 < -0.01 || x2 > 0.5) return fail(`the N₂ fraction SGERG-88 derives from this gas is ${x2.toFixed(4)}, outside −0.01…0.5: hs, relative density and CO₂ do not fit a natural gas`);
  if (x2 + x3 > 0.5) return fail(`N₂ + CO₂ = ${(x2 + x3).toFixed(4)} > 0.5: outside SGERG-88's range`);
  if (0.55 + 0.4 * x2 + 0.97 * x3 - 0.45 * x5 > gas.relativeDensity) {
    return fail('relative density too low for the derived N₂ fraction (0.55 + 0.4·N₂ + 0.97·CO₂ − 0.45·H₂ > d): conflicting input');
  }
  return { ok: true, composition: { gas, h, x1, x2, x3, x5, x7 } };
}

/**
 * Z at absolute pressure `pBar` and temperature `tC` (°C) of a gas after its
 * composition step (ISO 12213-3 Annex B.3–B.4: B and C at T, then the molar
 * density from p = ρm·R·T·(1 + B·ρm + C·ρm²) by successive substitution).
 * @example sgergZ(gas1, 60, -3.15) // { ok: true, z: 0.84084… } (ISO 12213-3 Annex C, gas 1)
 */
export function sgergZ(c: SgergComposition, pBar: number, tC: number): GasResult<SgergZ> {
  const bad = outside('pressure', pBar, SGERG_RANGES.pressureBar, ' bar') ?? outside('temperature', tC, SGERG_RANGES.temperatureC, ' °C');
  if (bad) return fail(bad);
  if (pBar <= 0) return fail(`pressure ${pBar} bar: an absolute pressure must be above 0`);
  const t = tC + T0;
  const b = secondVirial(c, t);
  const cc = thirdVirial(c, t);
  const rt = R * t;
  let v = rt / pBar + b; // molar volume, m³/kmol
  for (let i = 0; i < MAX_ITERATIONS; i++) {
    v = (rt / pBar) * (1 + b / v + cc / (v * v));
    const z = 1 + b / v + cc / (v * v);
    if (!finite(z)) break;
    if (Math.abs((rt / v) * z - pBar) < 1e-7) return { ok: true, z, molarDensity: 1 / v, xN2: c.x2 };
  }
  return fail(`SGERG-88 did not converge at ${pBar} bar, ${tC} °C`);
}

/**
 * Z of a gas at p, T in one call (composition step included).
 * @example sgerg88({ hsMjPerM3: 40.66, relativeDensity: 0.581, xCO2: 0.006 }, 60, -3.15) // z ≈ 0.84084
 */
export function sgerg88(gas: SgergGas, pBar: number, tC: number): GasResult<SgergZ> {
  const c = sgergComposition(gas);
  return c.ok ? sgergZ(c.composition, pBar, tC) : c;
}

/** MJ per kWh. */
export const MJ_PER_KWH = 3.6;

/**
 * A superior calorific value per m³ at metering temperature `fromMeteringC`
 * (and `pressureBar`, default 1.01325) as SGERG-88 takes it (per m³ at 0 °C,
 * 1.01325 bar, MJ): scaled by the ideal-gas volume ratio (273.15 + from) / 273.15
 * and the pressure ratio. The combustion-temperature part (e.g. 15 °C → 25 °C)
 * is a factor close to 1 from ISO 13443 Annex A for the caller to pass; 1 by
 * default. The ideal-gas ratio leaves out Z(0 °C)/Z(from) (≈ 1.0002), well
 * inside SGERG's input sensitivity.
 * @example toSgergReference(10.64, { fromMeteringC: 15 }) // ≈ 40.41 MJ/m³ (a Turkish 9155 kcal/m³ at 15 °C)
 */
export function toSgergReference(hsKwhPerM3: number, opts: { fromMeteringC: number; pressureBar?: number; combustionFactor?: number }): number {
  const pressureBar = opts.pressureBar ?? 1.01325;
  return hsKwhPerM3 * MJ_PER_KWH * ((T0 + opts.fromMeteringC) / T0) * (1.01325 / pressureBar) * (opts.combustionFactor ?? 1);
}
