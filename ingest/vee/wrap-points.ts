import { channelDef } from '../../models/channel.js';
import { RegisterEntrySchema } from '../../models/modbus.js';
import type { VeeParams } from '../../models/vee.js';

/** One register-map entry of a stored Modbus device naming a meter (sql/vee.repository.ts loadRegisterMaps). */
export interface RegisterMapRow {
  readonly meterId: number;
  /** The entry as stored in modbus_devices.config.registers[]. */
  readonly entry: unknown;
}

/** Register channel code → where its counter wraps to 0 (channel unit), per meter id. */
export type WrapPoints = ReadonlyMap<number, ReadonlyMap<number, number>>;

/**
 * The wrap points the Modbus register maps give the meters' register
 * channels. Each entry is parsed as the device schema parses it, so an
 * unsigned register without an explicit `rolloverAt` wraps at 2^bits × scale
 * (a 32-bit counter of 0.01 kWh at 42 949 672.96) and a float or signed one
 * has none. An entry that no longer parses is left out. Pure.
 * @example registerWrapPoints([{ meterId: 7, entry: { address: 0, type: 'uint32', scale: 0.01, meter: 'M7', channel: '1.8.0' } }]).get(7)?.get(5) // 42949672.96
 */
export function registerWrapPoints(rows: readonly RegisterMapRow[]): Map<number, Map<number, number>> {
  const out = new Map<number, Map<number, number>>();
  for (const r of rows) {
    const e = RegisterEntrySchema.safeParse(r.entry);
    if (!e.success || e.data.rolloverAt === undefined) continue;
    const def = channelDef(e.data.channel);
    if (def.kind !== 'register') continue;
    (out.get(r.meterId) ?? out.set(r.meterId, new Map()).get(r.meterId)!).set(def.code, e.data.rolloverAt);
  }
  return out;
}

/**
 * The wrap point VEE uses for a register channel of a meter: the device's
 * (it knows its counter) before the `register.rolloverAt` parameter (a
 * profile class or commodity default for meters no device reads).
 */
export function wrapPointOf(wraps: ReadonlyMap<number, number> | undefined, registerCode: number | undefined, p: VeeParams): number | undefined {
  return (registerCode === undefined ? undefined : wraps?.get(registerCode)) ?? p.register.rolloverAt;
}
