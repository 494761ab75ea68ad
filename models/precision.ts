/**
 * Output precision (issue 12, defect 9): sums of doubles print as
 * `5.5600000000000005` or `-1.2e-15`. Figures are summed in double precision
 * and rounded at the edge (the API answer) to 10⁻⁶ of their unit — MWh, kWh,
 * a price per MWh, a currency amount, a ratio — the resolution billing sums
 * energies at (billing/figures.ts round6). A million values of ±10¹² still sum
 * far inside that resolution. −0 prints as 0.
 */
export const FIGURE_DECIMALS = 6;
const SCALE = 10 ** FIGURE_DECIMALS;

/**
 * Rounds a figure to 10⁻⁶ of its unit; null stays null.
 * @example roundFigure(5.5600000000000005) // 5.56
 * @example roundFigure(-1.2e-15) // 0
 */
export function roundFigure(x: number): number;
export function roundFigure(x: number | null): number | null;
export function roundFigure(x: number | null): number | null {
  if (x === null) return null;
  if (!Number.isFinite(x)) return x;
  const r = Math.round(x * SCALE) / SCALE;
  return r === 0 ? 0 : r; // no −0
}
