import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AuthFailureWindow } from '../adapters/mqtt/auth-limiter.js';
import { REAL_TIMERS, type Timers } from '../adapters/mqtt/batcher.js';
import { createMqttComponent, type MqttComponent } from '../adapters/mqtt/component.js';
import { loadConfig } from '../models/config.js';
import { createApiKey } from '../sql/api-key.repository.js';
import type { Database } from '../sql/database.js';
import { FLAVOURS, freshDatabase } from './helpers.js';
import { collectLog, connect, freePort } from './mqtt-helpers.js';

/**
 * Issue 11, defect 6 (MQTT half): failed authentications on the embedded
 * broker are limited per client address; beyond the limit a CONNECT is
 * refused without looking the key up, until the window has passed.
 */
describe('AuthFailureWindow', () => {
  const S = 1000;
  const window = (limit: number, maxAddresses?: number) => {
    const clock = { t: 0 };
    return { clock, w: new AuthFailureWindow({ limit, windowMs: 60 * S, now: () => clock.t, maxAddresses }) };
  };

  it('blocks an address after `limit` failures in the window, until the oldest of them leaves it; other addresses are not affected', () => {
    const { clock, w } = window(3);
    for (const t of [0, 10, 20]) {
      expect(w.blockedFor('10.0.0.7')).toBe(0);
      clock.t = t * S;
      w.fail('10.0.0.7');
    }
    expect(w.blockedFor('10.0.0.7')).toBe(40 * S); // the failure at 0 s leaves the window at 60 s
    expect(w.blockedFor('10.0.0.8')).toBe(0);
    clock.t = 60 * S - 1;
    expect(w.blockedFor('10.0.0.7')).toBe(1);
    clock.t = 60 * S;
    expect(w.blockedFor('10.0.0.7')).toBe(0);
  });

  it('slides: a new failure once unblocked blocks again until the next oldest leaves', () => {
    const { clock, w } = window(3);
    for (const t of [0, 30, 59]) {
      clock.t = t * S;
      w.fail('a');
    }
    clock.t = 61 * S;
    expect(w.blockedFor('a')).toBe(0); // 30 s and 59 s are left
    w.fail('a');
    expect(w.blockedFor('a')).toBe(29 * S); // until 30 s + 60 s
    clock.t = 200 * S;
    expect(w.blockedFor('a')).toBe(0);
    expect(w.size).toBe(0); // an address with no failure in the window is forgotten
  });

  it('does nothing with limit 0, and forgets the least recently failing address beyond maxAddresses', () => {
    const off = window(0).w;
    for (let i = 0; i < 100; i++) off.fail('a');
    expect(off.blockedFor('a')).toBe(0);
    expect(off.size).toBe(0);

    const { w } = window(1, 2);
    w.fail('a');
    w.fail('b');
    w.fail('a');
    w.fail('c');
    expect(w.size).toBe(2);
    expect([w.blockedFor('a'), w.blockedFor('b'), w.blockedFor('c')].map((ms) => ms > 0)).toEqual([true, false, true]);
  });
});

describe.each(FLAVOURS)('MQTT connection-attempt limit, embedded broker (%s)', (flavour) => {
  let database: Database;
  let key = '';
  let port: number;
  let url: string;
  let component: MqttComponent | undefined;
  const clients: MqttClient[] = [];

  beforeAll(async () => {
    database = await freshDatabase(flavour);
    key = (await createApiKey(database, { name: 'gw-l', role: 'gateway' })).key;
    port = await freePort();
    url = `mqtt://127.0.0.1:${port}`;
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) await c.endAsync(true);
    await component?.stop();
    component = undefined;
  });
  afterAll(() => database?.close());

  it('refuses CONNECTs from an address over the limit, even with the right key, until the minute has passed', async () => {
    const clock = { skew: 0 };
    const timers: Timers = { ...REAL_TIMERS, now: () => Date.now() + clock.skew };
    const { log, lines } = collectLog();
    component = createMqttComponent({ config: loadConfig({ MQTT_PORT: String(port), HOST: '127.0.0.1', MQTT_AUTH_FAILURES_PER_MIN: '3' }), database, log, timers });
    await component.start();
    const attempt = async (password: string) => {
      const c = await connect(url, { username: 'gw-l', password, clientId: `gw-l-${clients.length}` });
      clients.push(c);
      return c;
    };

    for (let i = 0; i < 3; i++) await expect(attempt(`mdm_wrong_${i}`)).rejects.toThrow(/Bad username or password/);
    // Over the limit: the right key is refused too, which it could only be without a look-up.
    await expect(attempt(key)).rejects.toThrow(/Server unavailable/);
    expect(lines.filter((l) => l.message === 'MQTT connection refused').map((l) => l.fields.reason)).toEqual([
      'wrong username or key for "gw-l"',
      'wrong username or key for "gw-l"',
      'wrong username or key for "gw-l"',
      expect.stringMatching(/^too many failed authentications from 127\.0\.0\.1; try again in (59|60) s$/),
    ]);
    expect(lines.filter((l) => l.level === 'warn' && l.message.startsWith('MQTT: too many failed authentications')).map((l) => l.fields.address)).toEqual(['127.0.0.1']);
    expect(lines.find((l) => l.fields.reason?.toString().startsWith('too many'))!.level).toBe('debug'); // refused attempts flood no log

    clock.skew = 60_000; // the minute has passed
    const ok = await attempt(key);
    expect(ok.connected).toBe(true);
  });
});
