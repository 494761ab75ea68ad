import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Timers } from '../adapters/mqtt/batcher.js';
import { createMqttComponent, type MqttComponent, type MqttComponentDeps } from '../adapters/mqtt/component.js';
import { loadConfig } from '../models/config.js';
import { createApiKey, revokeApiKey } from '../sql/api-key.repository.js';
import { testApp, type TestApp } from './api-helpers.js';
import { FLAVOURS } from './helpers.js';
import { closed, collectLog, connect, freePort, hours, waitFor } from './mqtt-helpers.js';

/**
 * Issue 11, defect 7: a revoked key must not keep publishing on a connection
 * that was open. The embedded broker re-checks the keys of its connected
 * clients every MQTT_AUTH_RECHECK_S (one query for all) and disconnects the
 * clients whose key was revoked, here or by another instance on the database.
 */
describe.each(FLAVOURS)('MQTT key revocation, embedded broker (%s)', (flavour) => {
  let t: TestApp;
  let port: number;
  let url: string;
  let component: MqttComponent | undefined;
  const clients: MqttClient[] = [];
  const { log, lines } = collectLog();

  async function startBroker(env: Record<string, string>, extra: Partial<MqttComponentDeps> = {}) {
    component = createMqttComponent({ config: loadConfig({ MQTT_PORT: String(port), HOST: '127.0.0.1', MQTT_BATCH_MAX_MS: '10', ...env }), database: t.database, log, ...extra });
    await component.start();
  }
  async function gateway(name: string, key: string) {
    const c = await connect(url, { username: name, password: key, clientId: `${name}-${randomUUID().slice(0, 8)}` });
    clients.push(c);
    return c;
  }
  async function valuesOf(meter: string) {
    const rows = await t.database.db
      .selectFrom('readings')
      .innerJoin('meters', 'meters.id', 'readings.meter_id')
      .select('readings.value')
      .where('meters.external_id', '=', meter)
      .orderBy('readings.start')
      .execute();
    return rows.map((r) => r.value);
  }

  beforeAll(async () => {
    t = await testApp(flavour);
    await t.database.db
      .insertInto('meters')
      .values(['V1', 'V2', 'W1'].map((id) => ({ external_id: id, commodity: 'electricity', timezone: 'Europe/Istanbul', interval_minutes: 60, multiplier: 1, tariff: 'single', labels: '{}' })))
      .execute();
    port = await freePort();
    url = `mqtt://127.0.0.1:${port}`;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true);
    await component?.stop();
    component = undefined;
  });
  afterAll(() => t?.close());

  it('disconnects a client within the re-check interval after DELETE /v1/keys/:id; the key cannot connect again, nor publish', async () => {
    await startBroker({ MQTT_AUTH_RECHECK_S: '0.05' });
    const created = await createApiKey(t.database, { name: 'gw-r1', role: 'gateway' });
    const other = await gateway('test-gateway', t.keys.gateway);
    const gw = await gateway('gw-r1', created.key);
    await gw.publishAsync('mdm/v1/meters/V1/readings', JSON.stringify(hours(1)), { qos: 1 });
    expect(await valuesOf('V1')).toEqual([0.5]);

    const gone = closed(gw);
    const res = await t.app.inject({ method: 'DELETE', url: `/v1/keys/${created.id}`, headers: t.auth('admin') });
    expect(res.statusCode).toBe(204);
    await gone; // the broker closed the connection (MQTT 3.1.1 has no server DISCONNECT)
    expect(lines.some((l) => l.message === 'MQTT connection closed: its key was revoked' && l.fields.gateway === 'gw-r1')).toBe(true);
    await expect(gateway('gw-r1', created.key)).rejects.toThrow(/Bad username or password/);

    // Its client still has a publish to make: it never gets through.
    void gw.publishAsync('mdm/v1/meters/V1/readings', JSON.stringify(hours(1, 1)), { qos: 1 }).catch(() => {});
    await expect(gateway('gw-r1', created.key)).rejects.toThrow(/Bad username or password/);
    // Another gateway's message after it is stored: the broker went on, the revoked key's was not.
    await other.publishAsync('mdm/v1/meters/W1/readings', JSON.stringify(hours(1, 2)), { qos: 1 });
    expect(await valuesOf('W1')).toEqual([2.5]);
    expect(await valuesOf('V1')).toEqual([0.5]);
    expect(other.connected).toBe(true); // only the revoked key's clients were closed
  });

  it('disconnects every session of a key revoked by another instance on the same database at the next re-check', async () => {
    // The re-check timer is driven by hand; every other timer is real.
    const RECHECK_MS = 3_600_000;
    const ticks: (() => void)[] = [];
    const timers: Timers = {
      now: () => Date.now(),
      setTimeout: (fn, ms) => (ms === RECHECK_MS ? (ticks.push(fn), fn) : setTimeout(fn, ms)),
      clearTimeout: (h) => (ticks.includes(h as () => void) ? void ticks.splice(ticks.indexOf(h as () => void), 1) : clearTimeout(h as ReturnType<typeof setTimeout>)),
    };
    await startBroker({ MQTT_AUTH_RECHECK_S: String(RECHECK_MS / 1000) }, { timers });
    const created = await createApiKey(t.database, { name: 'gw-r2', role: 'gateway' });
    const gw1 = await gateway('gw-r2', created.key);
    const gw2 = await gateway('gw-r2', created.key);
    await gw1.publishAsync('mdm/v1/meters/V2/readings', JSON.stringify(hours(1)), { qos: 1 });

    expect(await revokeApiKey(t.database, created.id)).toBe(true); // as DELETE /v1/keys/:id on another instance does
    expect(gw1.connected && gw2.connected).toBe(true); // nothing happens before the re-check
    const gone = Promise.all([closed(gw1), closed(gw2)]);
    expect(ticks).toHaveLength(1);
    ticks.shift()!();
    await gone; // both sessions of the key
    await waitFor(() => ticks.length === 1, 'the next re-check scheduled');
    await expect(gateway('gw-r2', created.key)).rejects.toThrow(/Bad username or password/);
    expect(await valuesOf('V2')).toEqual([0.5]);
    expect(component!.probe.check()).toMatchObject({ ok: true, clients: 0 });
  });
});
