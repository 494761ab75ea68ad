/**
 * What the gas maths return: a value, or the reason the input cannot give one
 * (a temperature below absolute zero, a pressure ≤ 0, NaN, a gas outside the
 * method's range). Never thrown: VEE and billing turn a reason into an issue
 * for the one interval instead of failing a whole run.
 */
export type GasResult<T> = ({ ok: true } & T) | { ok: false; reason: string };

/** `ok: false` with the reason. */
export const fail = (reason: string): { ok: false; reason: string } => ({ ok: false, reason });

/** True for a finite number (not NaN, not ±Infinity, not a string). */
export const finite = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
