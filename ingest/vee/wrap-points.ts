import { CHANNELS, channelDef } from '../../models/channel.js';
import { RegisterEntrySchema } from '../../models/modbus.js';
import type { VeeParams } from '../../models/vee.js';

/**
 * One source of a meter's register wrap points (sql/vee.repository.ts
 * loadRegisterMaps): a register-map entry of a stored Modbus device naming
 * the meter, or the meter's own `registerDigits`.
 */
export interface RegisterMapRow {
  readonly meterId: number;
  /** An entry as stored in modbus_devices.config.registers[]… */
  readonly entry?: unknown;
  /** …or meters.register_digits: every register channel of the meter wraps at 10^registerDigits. */
  readonly registerDigits?: number;
}

/** Register channel code → where its counter wraps to 0 (channel unit), per meter id. */
export type WrapPoints = ReadonlyMap<number, ReadonlyMap<number, number>>;

const REGISTER_CODES = CHANNELS.filter((c) => c.kind === 'register').map((c) => c.code);

/**
 * The wrap points of the meters' register channels. A Modbus register-map
 * entry is parsed as the device schema parses it, so an unsigned register
 * without an explicit `rolloverAt` wraps at 2^bits × scale (a 32-bit counter
 * of 0.01 kWh at 42 949 672.96) and a float or signed one has none; an entry
 * that no longer parses is left out. A meter's `registerDigits` N gives each
 * of its register channels 10^N (6 digits: 999 999.99 kWh → 0 at 1 000 000),
 * except a channel a device gives a wrap point: the device knows its counter.
 * Pure.
 * @example registerWrapPoints([{ meterId: 7, entry: { address: 0, type: 'uint32', scale: 0.01, meter: 'M7', channel: '1.8.0' } }]).get(7)?.get(5) // 42949672.96
 * @example registerWrapPoints([{ meterId: 8, registerDigits: 6 }]).get(8)?.get(5) // 1000000
 */
export function registerWrapPoints(rows: readonly RegisterMapRow[]): Map<number, Map<number, number>> {
  const out = new Map<number, Map<number, number>>();
  const of = (meterId: number) => out.get(meterId) ?? out.set(meterId, new Map()).get(meterId)!;
  const byDevice = new Set<string>(); // `${meterId}:${code}` a device gave
  for (const r of rows) {
    if (r.registerDigits !== undefined) continue;
    const e = RegisterEntrySchema.safeParse(r.entry);
    if (!e.success || e.data.rolloverAt === undefined) continue;
    const def = channelDef(e.data.channel);
    if (def.kind !== 'register') continue;
    of(r.meterId).set(def.code, e.data.rolloverAt);
    byDevice.add(`${r.meterId}:${def.code}`);
  }
  for (const r of rows) {
    if (r.registerDigits === undefined || !Number.isInteger(r.registerDigits) || r.registerDigits <= 0) continue;
    for (const code of REGISTER_CODES) {
      if (!byDevice.has(`${r.meterId}:${code}`)) of(r.meterId).set(code, 10 ** r.registerDigits);
    }
  }
  return out;
}

/**
 * The wrap point VEE uses for a register channel of a meter: the device's
 * (it knows its counter), else the meter's `registerDigits` (both already in
 * `wraps`, see registerWrapPoints), else the `register.rolloverAt` parameter
 * (a profile class or commodity default).
 */
export function wrapPointOf(wraps: ReadonlyMap<number, number> | undefined, registerCode: number | undefined, p: VeeParams): number | undefined {
  return (registerCode === undefined ? undefined : wraps?.get(registerCode)) ?? p.register.rolloverAt;
}
