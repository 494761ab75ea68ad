import type { ModbusDevice } from '../../models/modbus.js';
import type { Timers } from './timers.js';

/**
 * A failed request. `code` is what device status shows: the socket error
 * (ECONNREFUSED, EHOSTUNREACH…), ETIMEDOUT, MODBUS_EXCEPTION_<n> for an
 * exception response (Modbus Application Protocol §7; `modbusCode` keeps n),
 * BAD_RESPONSE for a reply that does not parse, SERIAL_OPEN_FAILED when the
 * serial port does not open, SERIAL_UNAVAILABLE when RTU cannot load the
 * serial port binding.
 */
export class ModbusFailure extends Error {
  readonly code: string;
  readonly modbusCode?: number;
  constructor(code: string, message: string, opts: { modbusCode?: number; cause?: unknown } = {}) {
    super(message, { cause: opts.cause });
    this.name = 'ModbusFailure';
    this.code = code;
    this.modbusCode = opts.modbusCode;
  }
  /** The device answered (an exception response): the connection is fine. */
  get deviceAnswered(): boolean {
    return this.modbusCode !== undefined;
  }
}

/** What the poller needs from a Modbus connection (the real one wraps modbus-serial). */
export interface RegisterReader {
  /** Reads `count` registers with function 3 or 4; rejects with ModbusFailure. Connects on first use and after a failure. */
  read(fn: 3 | 4, address: number, count: number): Promise<number[]>;
  close(): Promise<void>;
}

export type ReaderFactory = (device: ModbusDevice) => RegisterReader;

/** The part of modbus-serial's client we use. */
interface ModbusClient {
  isOpen: boolean;
  setID(id: number): void;
  setTimeout(ms: number): void;
  connectTCP(host: string, opts: { port: number }): Promise<void>;
  connectRTUBuffered(path: string, opts: object): Promise<void>;
  readHoldingRegisters(address: number, count: number): Promise<{ data: number[] }>;
  readInputRegisters(address: number, count: number): Promise<{ data: number[] }>;
  on(event: 'error', fn: (err: unknown) => void): unknown;
  destroy(cb?: () => void): void;
}

let serialLoad: Promise<void> | undefined;

/**
 * Loads the serial port stack once. `serialport` needs the native
 * @serialport/bindings-cpp; when its prebuilt binary does not fit the
 * platform and it was not compiled, RTU is unavailable (TCP is unaffected).
 */
export function loadSerialBinding(): Promise<void> {
  serialLoad ??= (async () => {
    try {
      const sp = (await import('serialport')) as { SerialPort?: unknown };
      const bindings = (await import('@serialport/bindings-cpp')) as { autoDetect(): unknown };
      if (!sp.SerialPort || !bindings.autoDetect()) throw new Error('serialport has no binding for this platform');
    } catch (err) {
      throw new ModbusFailure(
        'SERIAL_UNAVAILABLE',
        `Modbus RTU needs the serialport native binding, which did not load (${(err as Error).message}): run "npm rebuild @serialport/bindings-cpp" (needs python3, make and a C++ compiler) or reach the device through a Modbus TCP gateway`,
        { cause: err },
      );
    }
  })();
  return serialLoad;
}

function failureOf(err: unknown, device: ModbusDevice, what: string): ModbusFailure {
  if (err instanceof ModbusFailure) return err;
  const e = (err ?? {}) as { message?: string; modbusCode?: number; errno?: string; code?: string };
  const message = e.message ?? String(err);
  if (typeof e.modbusCode === 'number') return new ModbusFailure(`MODBUS_EXCEPTION_${e.modbusCode}`, `${what}: ${message}`, { modbusCode: e.modbusCode, cause: err });
  if (e.errno === 'ETIMEDOUT' || /timed out/i.test(message)) return new ModbusFailure('ETIMEDOUT', `${what}: no answer within ${device.timeoutMs} ms`, { cause: err });
  if (/data length error|unexpected data|crc error|invalid/i.test(message)) return new ModbusFailure('BAD_RESPONSE', `${what}: malformed response (${message})`, { cause: err });
  if (message === 'Port Not Open') return new ModbusFailure('NOT_CONNECTED', `${what}: connection lost`, { cause: err });
  if (/cannot open/i.test(message)) return new ModbusFailure('SERIAL_OPEN_FAILED', `${what}: ${message}`, { cause: err });
  const code = typeof e.code === 'string' ? e.code : typeof e.errno === 'string' ? e.errno : 'MODBUS_ERROR';
  return new ModbusFailure(code, `${what}: ${message}`, { cause: err });
}

/**
 * Races `p` against a deadline on the injected timers. modbus-serial has its
 * own timeouts; this one also covers a connect or close that never settles.
 * The loser's rejection is still observed (no unhandled rejection).
 */
function withDeadline<T>(p: Promise<T>, ms: number, timers: Timers, onTimeout: () => ModbusFailure): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = timers.setTimeout(() => reject(onTimeout()), ms);
    p.then(
      (v) => {
        timers.clearTimeout(t);
        resolve(v);
      },
      (err) => {
        timers.clearTimeout(t);
        reject(err);
      },
    );
  });
}

export interface ModbusReaderOptions {
  readonly timers: Timers;
  /** Replaces loadSerialBinding (tests: a platform without the binding). */
  readonly loadSerial?: () => Promise<void>;
}

/**
 * A RegisterReader over modbus-serial: one connection per device, opened on
 * demand and dropped after any failure other than an exception response, so
 * the next read reconnects. RTU loads the serial stack lazily.
 */
export function createModbusReader(device: ModbusDevice, opts: ModbusReaderOptions): RegisterReader {
  const target = device.transport === 'tcp' ? `${device.host}:${device.port}` : device.path;
  let client: ModbusClient | undefined;

  const drop = () => {
    const c = client;
    client = undefined;
    try {
      c?.destroy(() => {}); // modbus-serial calls the callback synchronously and throws without one
    } catch {
      // already gone
    }
  };

  const connect = async (): Promise<ModbusClient> => {
    if (client?.isOpen) return client;
    drop();
    if (device.transport === 'rtu') await (opts.loadSerial ?? loadSerialBinding)();
    const { default: ModbusRTU } = (await import('modbus-serial')) as unknown as { default: new () => ModbusClient };
    const c = new ModbusRTU();
    c.on('error', () => {}); // port errors also fail the pending request, which is where we report them
    c.setID(device.unitId);
    c.setTimeout(device.timeoutMs);
    client = c;
    const opening =
      device.transport === 'tcp'
        ? c.connectTCP(device.host, { port: device.port })
        : c.connectRTUBuffered(device.path, {
            baudRate: device.baudRate,
            parity: device.parity,
            dataBits: device.dataBits,
            stopBits: device.stopBits ?? (device.parity === 'none' ? 2 : 1),
          });
    try {
      await withDeadline(opening, device.timeoutMs, opts.timers, () => new ModbusFailure('ETIMEDOUT', `connect ${target}: no connection within ${device.timeoutMs} ms`));
    } catch (err) {
      drop();
      throw failureOf(err, device, `connect ${target}`);
    }
    return c;
  };

  return {
    async read(fn, address, count) {
      const what = `read ${count} ${fn === 3 ? 'holding' : 'input'} register(s) at ${address} from ${target} unit ${device.unitId}`;
      const c = await connect();
      try {
        const res = await withDeadline(
          fn === 3 ? c.readHoldingRegisters(address, count) : c.readInputRegisters(address, count),
          device.timeoutMs + 250, // modbus-serial's own timeout normally wins
          opts.timers,
          () => new ModbusFailure('ETIMEDOUT', `${what}: no answer within ${device.timeoutMs} ms`),
        );
        if (!Array.isArray(res?.data) || res.data.length < count) {
          throw new ModbusFailure('BAD_RESPONSE', `${what}: malformed response (${res?.data?.length ?? 0} registers)`);
        }
        return res.data;
      } catch (err) {
        const f = failureOf(err, device, what);
        if (!f.deviceAnswered) drop();
        throw f;
      }
    },
    async close() {
      drop();
    },
  };
}
