/**
 * OBIS object identification codes (IEC 62056-61, DLMS UA 1000-1 "Blue Book"
 * §7): six value groups `A-B:C.D.E*F`.
 *
 * - A medium: 0 abstract, 1 electricity, 4 heat cost allocator, 5 cooling, 6 heat,
 *   7 gas, 8 cold water, 9 hot water.
 * - B channel (measurement channel of the device; 0 = no channel given, 1–64).
 * - C quantity (1 = Σ active power +, 32 = voltage L1, 3 gas meter volume …).
 * - D processing (8 = time integral 1, the energy register; 29 = time integral 5,
 *   the energy of one recording interval; 6 = maximum demand; 7 = instantaneous value).
 * - E tariff (0 = total, 1–63 = rate 1–63).
 * - F historical value (billing period); 255 = not used, the current value.
 *
 * Head-ends write the same code in several ways; all of these are one code:
 * `1.8.1` (reduced: C.D.E, electricity implied), `1-0:1.8.1`, `1-0:1.8.1*255`,
 * `1-0:1.8.1&255`, `0:1.8.1` (no medium), `1.0.1.8.1.255` (the dotted 6-group
 * logical name of DLMS/COSEM). IEC 62056-21 readouts also use the letters C, F, L, P
 * for value group C 96 (service), 97 (error), 98 (list), 99 (profile): `C.1.0` = 96.1.0.
 */

/** One parsed code; `a`/`b`/`f` undefined when the written form left them out. */
export interface ObisCode {
  readonly a: number | undefined;
  readonly b: number | undefined;
  readonly c: number;
  readonly d: number;
  readonly e: number;
  readonly f: number | undefined;
}

export type ObisParse = { readonly ok: true; readonly code: ObisCode } | { readonly ok: false; readonly reason: string };

/** Value group C letters of IEC 62056-21 readouts (IEC 62056-61 §5.5). */
const C_LETTERS: Readonly<Record<string, number>> = { C: 96, F: 97, L: 98, P: 99 };

/** `A-B:C.D.E*F` with every optional part; numbers up to 3 digits (each group is one byte). */
const FULL = /^(?:(\d{1,3})-)?(?:(\d{1,3}):)?(\d{1,3}|[CFLP])\.(\d{1,3})\.(\d{1,3})(?:[*&](\d{1,3}))?$/;
/** The COSEM logical name as six dotted bytes: `1.0.1.8.0.255`. */
const DOTTED = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Parses any written form of an OBIS code. Not OBIS at all (a channel name,
 * four or five dotted groups, a group above 255) gives a reason.
 * @example parseObis('1-0:32.7.0*255') // { ok: true, code: { a: 1, b: 0, c: 32, d: 7, e: 0, f: 255 } }
 * @example parseObis('1.8.1') // { ok: true, code: { a: undefined, b: undefined, c: 1, d: 8, e: 1, f: undefined } }
 */
export function parseObis(text: string): ObisParse {
  if (text.length > 32) return { ok: false, reason: 'longer than any OBIS code' };
  let groups: (string | undefined)[] | undefined;
  const dotted = DOTTED.exec(text);
  if (dotted) groups = dotted.slice(1);
  else {
    const m = FULL.exec(text);
    if (!m) return { ok: false, reason: 'not an OBIS code (A-B:C.D.E*F, C.D.E or the dotted A.B.C.D.E.F)' };
    groups = m.slice(1);
  }
  const n = groups.map((g) => (g === undefined ? undefined : (C_LETTERS[g] ?? Number(g))));
  const over = n.findIndex((x) => x !== undefined && x > 255);
  if (over >= 0) return { ok: false, reason: `value group ${'ABCDEF'[over]} is ${n[over]}: each group is one byte (0–255)` };
  return { ok: true, code: { a: n[0], b: n[1], c: n[2]!, d: n[3]!, e: n[4]!, f: n[5] } };
}

/**
 * The normalised key of a code: `A-B:C.D.E`, the medium defaulting to 1
 * (electricity: reduced forms such as `1.8.1` are electricity codes, IEC 62056-21),
 * the channel to 0, and F dropped (callers check it with {@link isCurrentValue}).
 * @example obisKey(parseObis('1.0.1.8.1.255').code) // '1-0:1.8.1'
 */
export function obisKey(code: ObisCode): string {
  return `${code.a ?? 1}-${code.b ?? 0}:${code.c}.${code.d}.${code.e}`;
}

/** F absent or 255: the current value, not a stored billing-period value (`1.8.0*03` is the value at the end of billing period 3). */
export function isCurrentValue(code: ObisCode): boolean {
  return code.f === undefined || code.f === 255;
}

/** The key of any written form, or undefined when the text is not an OBIS code. */
export function obisKeyOf(text: string): string | undefined {
  const p = parseObis(text);
  return p.ok ? obisKey(p.code) : undefined;
}

export interface ObisQuantity {
  /** What the code measures, in words. */
  readonly quantity: string;
  /** The unit meters report it in (the Blue Book's default unit for the quantity). */
  readonly unit: string;
}

// Electricity (A = 1), value group C: the quantity, its energy and power units.
const ACTIVE_C = new Set([1, 2, 15, 16, 21, 22, 35, 36, 41, 42, 55, 56, 61, 62, 75, 76]);
const REACTIVE_C = new Set([3, 4, 5, 6, 7, 8, 23, 24, 25, 26, 27, 28, 43, 44, 45, 46, 47, 48, 63, 64, 65, 66, 67, 68]);
const APPARENT_C = new Set([9, 10, 29, 30, 49, 50, 69, 70]);
const VOLTAGE_C = new Set([12, 32, 52, 72]);
const CURRENT_C = new Set([11, 31, 51, 71, 91]);
/** Value group D of electricity: time integrals (energy) versus demand and instantaneous values (power). */
const ENERGY_D = new Set([8, 9, 10, 29, 30]);
const POWER_D = new Set([2, 3, 4, 5, 6, 7, 14, 15, 16, 24, 25, 26, 27, 28]);

const PHASE: Readonly<Record<number, string>> = { 1: ' L1', 2: ' L2', 3: ' L3' };
const phaseOf = (c: number): string => (c < 20 ? '' : (PHASE[Math.floor((c - 1) / 20)] ?? ''));

/**
 * The quantity and unit of a code, for the quantities a meter data service
 * stores; undefined for others (identifiers, settings, events).
 * Electricity: Blue Book Table "Value group C codes – Electricity" and "Value
 * group D codes – Electricity". Gas (A = 7): C 1–8/11–16/21–26/31–36/61–66 are
 * volumes (m³), D 0 = index at metering conditions (Vm), 2 = index at base
 * conditions (Vb, "converted value"); C 41 absolute temperature, C 42 absolute
 * pressure. Heat (A = 6) and water (A = 8, 9): EN 13757-1 (C 1 = energy for heat,
 * accumulated volume for water; C 2 = accumulated volume for heat, flow for water).
 * @example obisQuantity(parseObis('7-0:13.2.0').code) // { quantity: 'gas volume at base conditions (Vb), converter index', unit: 'm3' }
 */
export function obisQuantity(code: ObisCode): ObisQuantity | undefined {
  const a = code.a ?? 1;
  const { c, d } = code;
  if (a === 1) {
    const tariff = code.e === 0 ? 'total' : `tariff ${code.e}`;
    if (VOLTAGE_C.has(c) && (d === 7 || d === 24 || d === 25 || d === 4 || d === 5)) return { quantity: `voltage${phaseOf(c)}`, unit: 'V' };
    if (CURRENT_C.has(c) && (d === 7 || d === 24 || d === 25 || d === 4 || d === 5)) return { quantity: `current${phaseOf(c)}`, unit: 'A' };
    if (c === 14 && d === 7) return { quantity: 'supply frequency', unit: 'Hz' };
    if ((c === 13 || c === 33 || c === 53 || c === 73) && d === 7) return { quantity: `power factor${phaseOf(c)}`, unit: '' };
    const kind = ACTIVE_C.has(c) ? 'active' : REACTIVE_C.has(c) ? 'reactive' : APPARENT_C.has(c) ? 'apparent' : undefined;
    if (!kind) return undefined;
    const dir = kind === 'active' ? (c % 2 === 1 ? ' import (+A)' : ' export (−A)') : kind === 'reactive' && (c === 3 || c === 4) ? (c === 3 ? ' import (+R)' : ' export (−R)') : '';
    const [energy, power] = kind === 'active' ? ['kWh', 'kW'] : kind === 'reactive' ? ['kvarh', 'kvar'] : ['kVAh', 'kVA'];
    if (d === 8) return { quantity: `${kind} energy${phaseOf(c)}${dir}, register, ${tariff}`, unit: energy };
    if (d === 29) return { quantity: `${kind} energy${phaseOf(c)}${dir}, per recording interval`, unit: energy };
    if (ENERGY_D.has(d)) return { quantity: `${kind} energy${phaseOf(c)}${dir}`, unit: energy };
    if (d === 6) return { quantity: `maximum demand, ${kind}${phaseOf(c)}${dir}, ${tariff}`, unit: power };
    if (POWER_D.has(d)) return { quantity: `${kind} power${phaseOf(c)}${dir}`, unit: power };
    return undefined;
  }
  if (a === 7) {
    const volumeC = (c >= 1 && c <= 8) || (c >= 11 && c <= 16) || (c >= 21 && c <= 26) || (c >= 31 && c <= 36) || (c >= 61 && c <= 66);
    if (volumeC) {
      const device = c <= 8 ? 'meter' : 'converter';
      if (d === 0) return { quantity: `gas volume at metering conditions (Vm), ${device} index`, unit: 'm3' };
      if (d === 1) return { quantity: `gas volume, corrected, ${device} index`, unit: 'm3' };
      if (d === 2) return { quantity: `gas volume at base conditions (Vb), ${device} index`, unit: 'm3' };
      return { quantity: 'gas volume', unit: 'm3' };
    }
    if (c === 41) return { quantity: 'gas absolute temperature', unit: 'K' };
    if (c === 42) return { quantity: 'gas absolute pressure', unit: 'bar' };
    return undefined;
  }
  if (a === 6) {
    if (c === 1) return { quantity: 'heat energy', unit: 'kWh' };
    if (c === 2) return { quantity: 'heat-carrier volume', unit: 'm3' };
    return undefined;
  }
  if (a === 8 || a === 9) {
    const water = a === 8 ? 'cold water' : 'hot water';
    if (c === 1) return { quantity: `${water} volume`, unit: 'm3' };
    if (c === 2) return { quantity: `${water} flow`, unit: 'm3/h' };
    return undefined;
  }
  return undefined;
}
