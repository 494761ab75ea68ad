import net, { type AddressInfo } from 'node:net';
import { ServerTCP } from 'modbus-serial';

/**
 * Test helpers: a Modbus TCP meter simulator on loopback (modbus-serial's
 * ServerTCP) and a server that answers garbage.
 */

/** Encodes a value into registers, independently of adapters/modbus/register-decode.ts. */
export function encode(type: 'uint16' | 'int16' | 'uint32' | 'float32', value: number, wordOrder: 'big' | 'little' = 'big'): number[] {
  const n = type === 'uint16' || type === 'int16' ? 1 : 2;
  const buf = Buffer.alloc(n * 2);
  if (type === 'uint16') buf.writeUInt16BE(value);
  else if (type === 'int16') buf.writeInt16BE(value);
  else if (type === 'uint32') buf.writeUInt32BE(value);
  else buf.writeFloatBE(value);
  const words = Array.from({ length: n }, (_, i) => buf.readUInt16BE(i * 2));
  return wordOrder === 'big' ? words : words.reverse();
}

/** A free loopback port (ServerTCP treats port 0 as 502). */
export async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

type Table = (address: number) => number | undefined;

export interface MeterSim {
  readonly port: number;
  /** Stop answering (requests are left unanswered, like a device that hangs). */
  silent: boolean;
  /** Requests served, per function. */
  readonly served: { 3: number; 4: number };
  close(): Promise<void>;
}

/**
 * A meter simulator. `holding`/`input` give the word at an address, computed
 * at request time (so registers can count up); undefined answers exception 2
 * (illegal data address).
 */
export async function startMeterSim(tables: { holding?: Table; input?: Table }): Promise<MeterSim> {
  const port = await freePort();
  const served = { 3: 0, 4: 0 };
  const sim = { port, silent: false, served } as MeterSim & { silent: boolean };
  const serve = (fn: 3 | 4, table: Table | undefined) => (address: number, _unit: number, cb: (err: Error | null, v: number) => void) => {
    if (sim.silent) return; // never answer
    served[fn]++;
    const w = table?.(address);
    if (w === undefined) cb(Object.assign(new Error(`no register ${address}`), { modbusErrorCode: 2 }), 0);
    else cb(null, w);
  };
  const server = new ServerTCP({ getHoldingRegister: serve(3, tables.holding), getInputRegister: serve(4, tables.input) }, { host: '127.0.0.1', port, unitID: 255 });
  server.on('socketError', () => {});
  server.on('serverError', () => {});
  await new Promise<void>((resolve) => server.on('initialized', () => resolve()));
  sim.close = () =>
    new Promise<void>((resolve) => {
      for (const s of server.socks.keys()) s.destroy();
      server.close(() => resolve());
    });
  return sim;
}

/**
 * A server that answers every request with a frame that keeps the
 * transaction id but whose PDU is malformed: function 3, byte count 4, and
 * only 2 data bytes.
 */
export async function startGarbageServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
    sock.on('data', (req) => {
      if (req.length < 8) return;
      const tid = req.readUInt16BE(0);
      sock.write(Buffer.from([tid >> 8, tid & 0xff, 0, 0, 0, 5, req[6], 3, 4, 0xde, 0xad]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** Polls `check` every 25 ms until it returns a truthy value. */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs = 15_000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
