import { createServer } from 'node:net';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { MqttLog } from '../adapters/mqtt/log.js';

/** Helpers of the MQTT suites (test/mqtt*.test.ts): real brokers, real clients. */

export const HOUR = 3_600_000;
export const T0 = Date.UTC(2025, 11, 31, 21); // 2026-01-01T00:00+03:00, aligned for hourly meters in Europe/Istanbul
export const at = (h: number) => new Date(T0 + h * HOUR).toISOString();
/** Hourly active_import rows for hours [from, from + n), value h + 0.5. */
export const hours = (n: number, from = 0, meter?: string) =>
  Array.from({ length: n }, (_, i) => ({ ...(meter ? { meter } : {}), channel: 'active_import', start: at(from + i), value: from + i + 0.5 }));

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Polls `probe` until it is truthy: waits for an event, not for a timing goal. */
export async function waitFor<T>(probe: () => Promise<T | undefined | false> | T | undefined | false, what: string, ms = 15_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

export function collectLog() {
  const lines: { level: string; message: string; fields: Record<string, unknown> }[] = [];
  const at = (level: string) => (fields: Record<string, unknown>, message: string) => void lines.push({ level, message, fields });
  const log: MqttLog = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
  return { log, lines };
}

/** Resolves with the client once connected, rejects with the CONNACK refusal. */
export function connect(url: string, opts: IClientOptions): Promise<MqttClient> {
  return new Promise((resolve, reject) => {
    const c = mqtt.connect(url, { reconnectPeriod: 0, ...opts });
    c.once('connect', () => resolve(c));
    c.once('error', (err) => {
      c.end(true);
      reject(err);
    });
  });
}

export const closed = (c: MqttClient) => new Promise<void>((r) => c.once('close', () => r()));
