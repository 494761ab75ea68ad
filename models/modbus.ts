import { z } from 'zod';
import { CHANNEL_NAMES, KNOWN_CHANNELS_HINT, resolveChannel, type ChannelName } from './channel.js';
import { boundedText, FIELD_LIMITS } from './input-bounds.js';
import { amount, boundedString, codeText, idText, quote } from './input-schemas.js';

/**
 * Modbus device configuration: how to reach a device and which registers
 * feed which meter channel. Shared by MODBUS_DEVICES_FILE and
 * `PUT /v1/modbus/devices`. Addresses are 0-based protocol (PDU) addresses:
 * the "40001" of a data sheet is holding register 0 (function 3), "30001" is
 * input register 0 (function 4).
 */

export const REGISTER_TYPES = ['uint16', 'int16', 'uint32', 'int32', 'float32', 'float64', 'uint64'] as const;
export type RegisterType = (typeof REGISTER_TYPES)[number];

/** 16-bit registers one value of the type occupies. */
export const REGISTER_WORDS: Readonly<Record<RegisterType, number>> = { uint16: 1, int16: 1, uint32: 2, int32: 2, float32: 2, float64: 4, uint64: 4 };

/** Bits of the unsigned integer types: their counters wrap at 2^bits × scale by default. */
const UNSIGNED_BITS: Partial<Record<RegisterType, number>> = { uint16: 16, uint32: 32, uint64: 64 };

/** Interval channel that receives the consumption derived from each register channel. */
export const INTERVAL_CHANNEL_OF_REGISTER: Readonly<Partial<Record<ChannelName, ChannelName>>> = {
  active_import_register: 'active_import',
  active_export_register: 'active_export',
  volume_register: 'volume',
};

export const DEVICE_STATES = ['pending', 'online', 'backoff', 'offline', 'disabled'] as const;
export type DeviceState = (typeof DEVICE_STATES)[number];

const int = (min: number, max: number) => z.number().int().min(min).max(max);

export const RegisterEntrySchema = z
  .object({
    address: int(0, 65535).describe('0-based register address (data sheet 40001 → 0 with function 3; 30001 → 0 with function 4)'),
    function: z
      .union([z.literal(3), z.literal(4)], { error: (iss) => `must be 3 (holding registers) or 4 (input registers), got ${quote(iss.input)}` })
      .default(3)
      .describe('Modbus function: 3 = read holding registers, 4 = read input registers'),
    type: z.enum(REGISTER_TYPES).default('uint16').describe('Value type; 32-bit types take 2 registers, 64-bit types 4'),
    wordOrder: z.enum(['big', 'little']).default('big').describe('big: most significant register first (ABCD); little: least significant first (CDAB)'),
    byteSwap: z.boolean().default(false).describe('Swap the two bytes inside each register (BADC with big, DCBA with little word order)'),
    scale: amount().positive().default(1).describe('Multiplies the decoded value into the channel unit (e.g. 0.01 for a register counting 10 Wh steps into kWh)'),
    meter: idText().min(1).describe('External id of the target meter (must be registered)'),
    channel: codeText().describe(
      `Target channel: a register channel (${CHANNEL_NAMES.filter((c) => resolveChannel(c)!.kind === 'register').join(', ')}) or an instantaneous one (temperature, pressure, voltage_l1, …); OBIS codes in any written form accepted`,
    ),
    rolloverAt: amount()
      .positive()
      .optional()
      .describe(
        'Register channels: value at which the counter wraps back to 0, in the channel unit (1000000 for a register showing 999999.99). Default for uint16/uint32/uint64: 2^bits × scale; none for signed and float types',
      ),
    maxDeltaPerHour: amount().positive().optional().describe('Register channels: largest plausible increase per hour; a larger jump is flagged like a reset instead of being stored as consumption'),
  })
  .strict()
  .transform((e, ctx) => {
    const channel = resolveChannel(e.channel);
    if (!channel) {
      ctx.addIssue({ code: 'custom', path: ['channel'], message: `unknown channel "${e.channel}": ${KNOWN_CHANNELS_HINT}` });
      return z.NEVER;
    }
    if (channel.kind === 'interval') {
      const register = Object.entries(INTERVAL_CHANNEL_OF_REGISTER).find(([, i]) => i === channel.name)?.[0];
      ctx.addIssue({
        code: 'custom',
        path: ['channel'],
        message: `${channel.name} is an interval channel: registers are read at poll time, so map ${register ? `the cumulative register ${register}` : 'a register channel'} and interval values are derived from it`,
      });
      return z.NEVER;
    }
    if (channel.kind !== 'register' && (e.rolloverAt !== undefined || e.maxDeltaPerHour !== undefined)) {
      ctx.addIssue({ code: 'custom', path: ['channel'], message: `rolloverAt and maxDeltaPerHour apply to register channels only; ${channel.name} is ${channel.kind}` });
      return z.NEVER;
    }
    if (e.address + REGISTER_WORDS[e.type] > 65536) {
      ctx.addIssue({ code: 'custom', path: ['address'], message: `${e.type} at ${e.address} runs past register 65535` });
      return z.NEVER;
    }
    const bits = UNSIGNED_BITS[e.type];
    const rolloverAt = e.rolloverAt ?? (channel.kind === 'register' && bits ? 2 ** bits * e.scale : undefined);
    return { ...e, channel: channel.name as ChannelName, rolloverAt };
  });
export type RegisterEntryInput = z.input<typeof RegisterEntrySchema>;
export type RegisterEntry = z.output<typeof RegisterEntrySchema>;

const common = {
  id: idText()
    .min(1)
    .regex(/^[A-Za-z0-9._:-]+$/, 'may contain only letters, digits and . _ : -')
    .describe('Device id, unique'),
  enabled: z.boolean().default(true).describe('false keeps the configuration but stops polling'),
  unitId: int(0, 255).default(1).describe('Modbus unit (slave) id'),
  pollIntervalMs: int(100, 86_400_000).default(60_000).describe('Poll period; polls are aligned to multiples of it (UTC), so 900000 reads at :00, :15, :30, :45'),
  timeoutMs: int(50, 60_000).default(3_000).describe('Per request (and per connect) timeout'),
  retries: int(0, 5).default(1).describe('Immediate retries of a failed poll before it counts as a failure'),
  failuresBeforeEvent: int(1, 1000).default(3).describe('Consecutive failed polls after which the device is offline and a communication_failure event is stored for its meters'),
  backoffMaxMs: int(1_000, 86_400_000).default(300_000).describe('Longest wait between polls while failing (the wait doubles from pollIntervalMs up to this)'),
  maxGapMinutes: int(1, 44_640).default(1_440).describe('Register reads further apart than this are not spread over the intervals between them (the gap stays empty)'),
  registers: z.array(RegisterEntrySchema).min(1).max(500).describe('Register map'),
};

export const TcpDeviceSchema = z
  .object({
    ...common,
    transport: z.literal('tcp'),
    host: boundedString(253).min(1).describe('Host name or IP of the device or TCP gateway'),
    port: int(1, 65535).default(502),
  })
  .strict();

export const RtuDeviceSchema = z
  .object({
    ...common,
    transport: z.literal('rtu'),
    path: boundedString(256).min(1).describe('Serial device, e.g. /dev/ttyUSB0 or COM3'),
    baudRate: int(300, 921_600).default(9600).describe('Bits per second, e.g. 9600, 19200'),
    parity: z.enum(['none', 'even', 'odd']).default('even').describe('Modbus over Serial Line §2.5.1: even by default'),
    dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
    stopBits: z
      .union([z.literal(1), z.literal(2)])
      .optional()
      .describe('Default 1 with parity, 2 without (Modbus over Serial Line §2.5.1)'),
  })
  .strict();

function checkDevice(d: { registers: RegisterEntry[] }, ctx: z.RefinementCtx): void {
  const seen = new Map<string, number>();
  d.registers.forEach((r, i) => {
    const key = `${r.meter}|${r.channel}`;
    const first = seen.get(key);
    if (first !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['registers', i], message: `maps meter "${r.meter}" channel ${r.channel} again (first at registers.${first}); one register per meter channel` });
    } else seen.set(key, i);
  });
}

export const ModbusDeviceSchema = z
  .discriminatedUnion('transport', [TcpDeviceSchema, RtuDeviceSchema], {
    error: (iss) => (iss.code === 'invalid_union' ? `must be "tcp" (host, port) or "rtu" (path, baudRate, parity)` : undefined),
  })
  .superRefine(checkDevice);
export type ModbusDeviceInput = z.input<typeof ModbusDeviceSchema>;
export type ModbusDevice = z.output<typeof ModbusDeviceSchema>;

export const DeviceStatusSchema = z.object({
  state: z
    .enum(DEVICE_STATES)
    .describe('pending: not polled yet; online: last poll read every register; backoff: failing, retrying with growing waits; offline: failed failuresBeforeEvent times in a row; disabled'),
  lastPollAt: z.string().nullable(),
  lastSuccessAt: z.string().nullable(),
  consecutiveFailures: z.number().int(),
  lastError: z.string().nullable().describe('Last failure; Modbus exception responses keep their code ("Modbus exception 2: Illegal data address …")'),
  lastErrorCode: z.string().nullable().describe('ETIMEDOUT, ECONNREFUSED, MODBUS_EXCEPTION_2, BAD_RESPONSE, SERIAL_OPEN_FAILED, SERIAL_UNAVAILABLE, …'),
});
export type DeviceStatus = z.infer<typeof DeviceStatusSchema>;

export interface DeviceRowsResult {
  valid: { index: number; device: ModbusDevice }[];
  rejected: { index: number; id: string | null; reason: string }[];
}

function issueText(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys')
    return `${issue.path.length ? `${issue.path.join('.')}: ` : ''}unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return issue.path.length ? `${issue.path.join('.')}: ${issue.message}` : issue.message;
}

/**
 * Validates device configurations one by one (one bad device rejects only
 * itself); an id given twice rejects the later rows. Pure.
 * @example parseDeviceRows([{ id: 'D1', transport: 'tcp', host: '10.0.0.5', registers: [{ address: 0, type: 'uint32', meter: 'M1', channel: '1.8.0' }] }])
 * // { valid: [{ index: 0, device: { id: 'D1', port: 502, unitId: 1, … } }], rejected: [] }
 */
export function parseDeviceRows(raw: readonly unknown[]): DeviceRowsResult {
  const valid: DeviceRowsResult['valid'] = [];
  const rejected: DeviceRowsResult['rejected'] = [];
  const firstIndex = new Map<string, number>();
  for (let index = 0; index < raw.length; index++) {
    const row = raw[index];
    const rawId = typeof row === 'object' && row !== null ? (row as { id?: unknown }).id : undefined;
    // Echoed in the response: bounded (a 50 MB id must not come back whole).
    const id = typeof rawId === 'string' ? boundedText(rawId, FIELD_LIMITS.id) : null;
    if (typeof rawId === 'string') {
      const first = firstIndex.get(rawId);
      if (first !== undefined) {
        rejected.push({ index, id, reason: `id: duplicate of row ${first} ("${id}"); send each device once per request` });
        continue;
      }
      firstIndex.set(rawId, index);
    }
    if (typeof row !== 'object' || row === null || Array.isArray(row)) {
      rejected.push({ index, id, reason: 'row must be a device object {id, transport, host|path, registers, …}' });
      continue;
    }
    const parsed = ModbusDeviceSchema.safeParse(row);
    if (parsed.success) valid.push({ index, device: parsed.data });
    else rejected.push({ index, id, reason: parsed.error.issues.map(issueText).join('; ') });
  }
  return { valid, rejected };
}

/** Per meter register channel, between reads (ingest/register-delta.ts; stored by sql/modbus-device.repository.ts). Times are epoch ms. */
export interface RegisterState {
  readonly lastAtMs: number;
  readonly lastValue: number;
  /** Start of the interval holding the last read (or starting exactly at it). */
  readonly pendingStartMs: number;
  /** Consumption apportioned to that interval so far, in the channel unit. */
  readonly pendingValue: number;
  /** How its start is known: a read within tolerance ('pinned'), a linear share ('loose'), or not at all ('partial': never emitted). */
  readonly pendingStart: 'pinned' | 'loose' | 'partial';
}
