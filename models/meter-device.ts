import { z } from 'zod';
import { amount, codeText, idText, labelText, storedInstant } from './input-schemas.js';
import { MAX_MULTIPLIER, REGISTER_DIGITS } from './meter.js';

/**
 * Devices on a metering point (issue 16): the meter id of the API is the
 * point; a device (serial, make/model, register digits, multiplier) is
 * installed on it for [from, to). An exchange closes the open device with its
 * final register read and opens the new one with its initial read, at one
 * instant. Readings stay the point's. Pure.
 */

export const instantText = () =>
  z.string().superRefine((t, ctx) => {
    const r = storedInstant(t);
    if (!r.ok) ctx.addIssue({ code: 'custom', message: r.reason });
  });

const digits = z
  .number()
  .int({ error: 'must be a whole number of digits' })
  .min(REGISTER_DIGITS.min, { error: `must be ${REGISTER_DIGITS.min}–${REGISTER_DIGITS.max}` })
  .max(REGISTER_DIGITS.max, { error: `must be ${REGISTER_DIGITS.min}–${REGISTER_DIGITS.max}` });

/** A new device as an exchange names it. */
export const DeviceInSchema = z
  .object({
    serial: idText().min(1).describe('Serial number of the device'),
    make: codeText().nullish().describe('Manufacturer'),
    model: labelText().nullish().describe('Model'),
    registerDigits: digits.nullish().describe(`Integer digits of its registers (${REGISTER_DIGITS.min}–${REGISTER_DIGITS.max}): they roll over to 0 at 10^registerDigits`),
    multiplier: z.number().positive().finite().max(MAX_MULTIPLIER).nullish().describe("Its register multiplier (CT/VT ratio) for register deltas; null: the point's multiplier"),
  })
  .strict();
export type DeviceIn = z.output<typeof DeviceInSchema>;

export const ExchangeSchema = z
  .object({
    at: instantText().describe('Instant of the exchange (ISO-8601 with offset): the old device is removed and the new one installed then'),
    finalRead: amount().min(0).describe('Last register read of the removed device (active import register, as recorded)'),
    initialRead: amount().min(0).default(0).describe('First register read of the installed device'),
    device: DeviceInSchema,
  })
  .strict();
export type Exchange = z.output<typeof ExchangeSchema>;

export const DeviceOutSchema = z
  .object({
    serial: z.string(),
    make: z.string().nullable(),
    model: z.string().nullable(),
    registerDigits: z.number().int().nullable(),
    multiplier: z.number().nullable().describe("Register multiplier; null: the point's"),
    installedFrom: z.string().nullable().describe('Installed at (UTC); null: since the point has data'),
    installedTo: z.string().nullable().describe('Removed at (UTC); null: installed now'),
    initialRead: z.number().nullable(),
    finalRead: z.number().nullable(),
  })
  .describe('A device installed on a metering point for a period');
export type DeviceOut = z.infer<typeof DeviceOutSchema>;

/** A device as register consumption needs it: span in epoch ms (null: open), reads, digits, multiplier. */
export interface DeviceSpan {
  readonly serial: string;
  readonly fromMs: number | null;
  readonly toMs: number | null;
  readonly initialRead: number | null;
  readonly finalRead: number | null;
  readonly registerDigits: number | null;
  /** The multiplier that applies to its deltas (its own, else the point's). */
  readonly multiplier: number;
}

export interface DeviceConsumption {
  readonly serial: string;
  readonly fromMs: number;
  readonly toMs: number;
  /** Register at the start and end of the device's part of the window (null: no read). */
  readonly startRead: number | null;
  readonly endRead: number | null;
  /** Times the register rolled over 0 (at 10^registerDigits). */
  readonly rollovers: number;
  /** Decreases not explained by a rollover (register digits unknown, or a drop of more than half the range): counted as 0. */
  readonly decreases: number;
  /** Δ register, as recorded (before the multiplier). */
  readonly delta: number;
  readonly multiplier: number;
  /** delta × multiplier. */
  readonly energy: number;
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/**
 * Consumption of a point over [fromMs, toMs) from its register reads, device
 * by device: each device counts from its initial read (installed in the
 * window) or the last read at or before the window start, to its final read
 * (removed in the window) or the last read before the window end; a drop
 * between two reads is a rollover at 10^registerDigits when the digits are
 * known. The exchange therefore adds no negative and no doubled delta.
 * `reads`: the point's register reads ordered by time (one before the window
 * start is enough). Pure.
 * @example registerConsumption([{ ms: 0, value: 100 }, { ms: 20, value: 30 }],
 *   [{ serial: 'A', fromMs: null, toMs: 10, finalRead: 150, initialRead: null, registerDigits: null, multiplier: 1 },
 *    { serial: 'B', fromMs: 10, toMs: null, initialRead: 0, finalRead: null, registerDigits: 6, multiplier: 1 }], 0, 30)
 * // devices: A 100 → 150 (50), B 0 → 30 (30); total 80
 */
export function registerConsumption(
  reads: readonly { readonly ms: number; readonly value: number }[],
  devices: readonly DeviceSpan[],
  fromMs: number,
  toMs: number,
): { devices: DeviceConsumption[]; energy: number } {
  const out: DeviceConsumption[] = [];
  let total = 0;
  for (const d of devices) {
    const a = Math.max(fromMs, d.fromMs ?? Number.NEGATIVE_INFINITY);
    const b = Math.min(toMs, d.toMs ?? Number.POSITIVE_INFINITY);
    if (a >= b) continue;
    const inSpan = (ms: number) => (d.fromMs === null || ms >= d.fromMs) && (d.toMs === null || ms < d.toMs);
    const seq: number[] = [];
    // Start: the initial read when installed in the window, else the last read at or before the window start.
    if (d.fromMs !== null && d.fromMs >= fromMs && d.initialRead !== null) seq.push(d.initialRead);
    else {
      let start: number | null = null;
      for (const r of reads) if (r.ms <= a && inSpan(r.ms)) start = r.value;
      // No read of it between its installation and the window start: its initial read is the start.
      if (start === null && d.fromMs !== null) start = d.initialRead;
      if (start !== null) seq.push(start);
    }
    const removedInWindow = d.toMs !== null && d.toMs <= toMs && d.finalRead !== null;
    for (const r of reads) if (r.ms > a && r.ms < b && inSpan(r.ms)) seq.push(r.value);
    // End: the final read when removed in the window; a read at the window end (00:00 of the next month) closes the window.
    if (removedInWindow) seq.push(d.finalRead!);
    else for (const r of reads) if (r.ms === b && inSpan(r.ms)) seq.push(r.value);
    const wrap = d.registerDigits === null ? null : 10 ** d.registerDigits;
    let delta = 0;
    let rollovers = 0;
    let decreases = 0;
    for (let i = 1; i < seq.length; i++) {
      const step = seq[i] - seq[i - 1];
      if (step >= 0) delta += step;
      else if (wrap !== null && -step > wrap / 2) {
        delta += step + wrap;
        rollovers++;
      } else decreases++;
    }
    const energy = round6(delta * d.multiplier);
    total += energy;
    out.push({
      serial: d.serial,
      fromMs: a,
      toMs: b,
      startRead: seq.length ? seq[0] : null,
      endRead: seq.length ? seq[seq.length - 1] : null,
      rollovers,
      decreases,
      delta: round6(delta),
      multiplier: d.multiplier,
      energy,
    });
  }
  return { devices: out, energy: round6(total) };
}
