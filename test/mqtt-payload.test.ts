import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ackBody, outcomeOf } from '../adapters/mqtt/acks.js';
import { backoffDelay } from '../models/backoff.js';
import { Batcher } from '../adapters/mqtt/batcher.js';
import { authenticateGateway, mayPublish, maySubscribe } from '../adapters/mqtt/broker-auth.js';
import { decodeMessage } from '../adapters/mqtt/payload.js';
import { isSenmlPack, senmlToReadings } from '../adapters/mqtt/senml.js';
import { parseTopic, subscriptionFilters, topicOwner } from '../adapters/mqtt/topics.js';
import type { Principal } from '../models/api-key.js';
import { parseEventRows } from '../models/event.js';

const JAN1 = 1_767_225_600; // 2026-01-01T00:00:00Z in seconds: (56 × 365 + 14 leap days) × 86 400

describe('MQTT topics', () => {
  it('routes the ingest topics and nothing else', () => {
    expect(parseTopic('mdm/v1/meters/M-1/readings')).toEqual({ kind: 'meter-readings', meter: 'M-1' });
    expect(parseTopic('mdm/v1/meters/M-1/events')).toEqual({ kind: 'meter-events', meter: 'M-1' });
    expect(parseTopic('mdm/v1/gateways/gw-1/readings')).toEqual({ kind: 'gateway-readings', gateway: 'gw-1' });
    expect(parseTopic('mdm/v1/gateways/gw-1/acks')).toBeUndefined();
    expect(parseTopic('mdm/v1/meters//readings')).toBeUndefined();
    expect(parseTopic('mdm/v2/meters/M1/readings')).toBeUndefined();
    expect(parseTopic('mdm/v1/meters/M1/readings/extra')).toBeUndefined();
    expect(topicOwner('mdm/v1/gateways/gw-1/status/x')).toEqual({ gateway: 'gw-1' });
    expect(topicOwner('other/topic')).toBeUndefined();
  });

  it('subscribes through a shared subscription unless the group is off', () => {
    expect(subscriptionFilters('g1')).toEqual(['$share/g1/mdm/v1/meters/+/readings', '$share/g1/mdm/v1/meters/+/events', '$share/g1/mdm/v1/gateways/+/readings']);
    expect(subscriptionFilters(null)[0]).toBe('mdm/v1/meters/+/readings');
  });
});

describe('SenML (RFC 8428) mapping', () => {
  it('resolves base name, base time, base unit and base value; converts units', () => {
    const r = senmlToReadings(
      [
        { bn: 'M1/', bt: JAN1, bu: 'Wh', n: 'active_import', v: 1500 },
        { n: 'active_import', t: 3600, v: 2250 },
        { n: '1.8.0', u: 'kWh', v: 12345.5 },
        { bv: 100, n: '2.8.0', u: 'kWh', v: 0.5 },
        { bv: 0, n: 'pressure', u: 'Pa', v: 150_000 },
        { n: 'active_export', u: 'J', v: 3_600_000 },
      ],
      { nowMs: 0 },
    );
    expect(r.rejected).toEqual([]);
    expect(r.rows).toEqual([
      { meter: 'M1', channel: 'active_import', start: '2026-01-01T00:00:00.000Z', value: 1.5 },
      { meter: 'M1', channel: 'active_import', start: '2026-01-01T01:00:00.000Z', value: 2.25 },
      { meter: 'M1', channel: 'active_import_register', start: '2026-01-01T00:00:00.000Z', value: 12345.5 },
      { meter: 'M1', channel: 'active_export_register', start: '2026-01-01T00:00:00.000Z', value: 100.5 },
      { meter: 'M1', channel: 'pressure', start: '2026-01-01T00:00:00.000Z', value: 1.5 },
      { meter: 'M1', channel: 'active_export', start: '2026-01-01T00:00:00.000Z', value: 1 },
    ]);
    expect(r.indexOf).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('treats times below 2^28 s as relative to now (§4.5.3) and takes the meter from a per-meter topic', () => {
    const now = (JAN1 + 3600) * 1000;
    const r = senmlToReadings(
      [
        { n: 'temperature', u: 'Cel', v: 21.5, t: -60 },
        { n: 'temperature', v: 21 },
      ],
      { meter: 'M2', nowMs: now },
    );
    expect(r.rows).toEqual([
      { meter: 'M2', channel: 'temperature', start: '2026-01-01T00:59:00.000Z', value: 21.5 },
      { meter: 'M2', channel: 'temperature', start: '2026-01-01T01:00:00.000Z', value: 21 },
    ]);
  });

  it('splits names at the first separator followed by a known channel, so OBIS aliases keep their colons', () => {
    const r = senmlToReadings(
      [
        { bn: 'GW-M3:', bt: JAN1, n: '1-0:1.29.0', v: 4 },
        { bn: 'urn:dev:mdm:M4/', n: 'volume', u: 'l', v: 250 },
      ],
      { nowMs: 0 },
    );
    expect(r.rows.map((x) => [x.meter, x.channel, x.value])).toEqual([
      ['GW-M3', 'active_import', 4],
      ['urn:dev:mdm:M4', 'volume', 0.25],
    ]);
  });

  it('rejects records it cannot map, each with its reason and index, keeping the others', () => {
    const r = senmlToReadings(
      [
        { bn: 'M9/', bt: JAN1, n: 'active_import', v: 1 }, // 0: meter of another topic
        { bn: '', n: 'bogus', v: 1 }, // 1: no channel
        { n: 'active_import', v: 1, foo_: 1 }, // 2: must-understand field
        { n: 'active_import', vs: 'on' }, // 3: string value
        { n: 'active_import', s: 10 }, // 4: sum
        { n: 'active_import', u: 'W', v: 1 }, // 5: unit that is not energy
        { n: 'active_import', v: 2, extra: 'ignored' }, // 6: fine
      ],
      { meter: 'M1', nowMs: 0 },
    );
    expect(r.rejected.map((x) => x.index)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(r.rejected[0].reason).toMatch(/names meter "M9" but was sent on the topic of meter "M1"/);
    expect(r.rejected[1].reason).toMatch(/does not end in a known channel/);
    expect(r.rejected[2].reason).toMatch(/"foo_" must be understood/);
    expect(r.rejected[3].reason).toMatch(/only numeric values/);
    expect(r.rejected[4].reason).toMatch(/sum \(s\) is not supported/);
    expect(r.rejected[5].reason).toMatch(/unit "W" does not fit channel active_import \(kWh\); use one of kWh, Wh, MWh, J/);
    expect(r.rows).toEqual([{ meter: 'M1', channel: 'active_import', start: new Date(JAN1 * 1000).toISOString(), value: 2 }]);
    expect(r.indexOf).toEqual([6]);
  });

  it('needs the meter in the name on gateway topics', () => {
    const r = senmlToReadings([{ n: 'active_import', t: JAN1, v: 1 }], { nowMs: 0 });
    expect(r.rejected[0].reason).toMatch(/has no meter: on gateway topics put the meter id in the base name/);
  });

  it('tells a SenML pack from reading rows', () => {
    expect(isSenmlPack([{ bn: 'M1/', n: 'x', v: 1 }])).toBe(true);
    expect(isSenmlPack([{ n: 'active_import', v: 1 }])).toBe(true);
    expect(isSenmlPack([{ channel: 'active_import', start: 'x', value: 1 }])).toBe(false);
    expect(isSenmlPack([])).toBe(false);
  });
});

describe('MQTT payload decoding', () => {
  const meterTopic = { kind: 'meter-readings', meter: 'M1' } as const;
  const gatewayTopic = { kind: 'gateway-readings', gateway: 'gw-1' } as const;
  const eventsTopic = { kind: 'meter-events', meter: 'M1' } as const;
  const buf = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
  const row = { channel: 'active_import', start: '2026-01-01T00:00:00Z', value: 1 };

  it('decodes rows, SenML and the ack wrapper', () => {
    expect(decodeMessage(meterTopic, buf([row]), { nowMs: 0 })).toEqual({ kind: 'readings', format: 'rows', rows: [row], rejected: [], meter: 'M1', ack: null });
    const senml = decodeMessage(gatewayTopic, buf([{ bn: 'M1/', bt: JAN1, n: 'active_import', v: 1 }]), { nowMs: 0 });
    expect(senml).toMatchObject({ kind: 'readings', format: 'senml', rows: [{ meter: 'M1', channel: 'active_import', value: 1 }] });
    // The gateway topic names the gateway that gets the ack, whatever the wrapper says.
    expect(decodeMessage(gatewayTopic, buf({ id: 7, ack: true, gateway: 'other', readings: [row] }), { nowMs: 0 })).toMatchObject({ kind: 'readings', ack: { id: 7, gateway: 'gw-1' } });
    expect(decodeMessage(meterTopic, buf({ id: 'b-1', ack: true, gateway: 'gw-2', readings: [row] }), { nowMs: 0 })).toMatchObject({ ack: { id: 'b-1', gateway: 'gw-2' } });
    expect(decodeMessage(meterTopic, buf({ id: 'b-1', ack: false, readings: [row] }), { nowMs: 0 })).toMatchObject({ kind: 'readings', ack: null });
  });

  it('takes SenML by content type even without name fields', () => {
    const d = decodeMessage(meterTopic, buf([{ v: 1, t: JAN1 }]), { nowMs: 0, contentType: 'application/senml+json' });
    expect(d).toMatchObject({ kind: 'readings', format: 'senml', rows: [] });
    expect(d.kind === 'readings' && d.rejected[0].reason).toMatch(/has no name/);
  });

  it('refuses what cannot be stored, with a reason, keeping the ack request when it was readable', () => {
    expect(decodeMessage(meterTopic, buf('{"a":'), { nowMs: 0 })).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/^payload is not JSON/) });
    expect(decodeMessage(meterTopic, Buffer.from([0x5b, 0xff, 0x5d]), { nowMs: 0 })).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/not UTF-8/) });
    // A NUL inside a row's field is that row's problem (ingest/normalize.ts rejects it alone), not the message's:
    expect(decodeMessage(meterTopic, buf('[{"channel":"a\\u0000"},{"channel":"b"}]'), { nowMs: 0 })).toMatchObject({ kind: 'readings', rows: [{ channel: 'a\u0000' }, { channel: 'b' }] });
    expect(decodeMessage(meterTopic, Buffer.from('[{"channel":"a\u0000"}]'), { nowMs: 0 })).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/^payload is not JSON/) }); // raw NUL
    expect(decodeMessage(gatewayTopic, buf({ id: 'x', ack: true, gateway: 'g\u0000', readings: [] }), { nowMs: 0 })).toMatchObject({
      kind: 'invalid',
      reason: 'gateway contains a NUL (U+0000) character',
    });
    expect(decodeMessage(meterTopic, buf({ channel: 'x' }), { nowMs: 0 })).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/must be a JSON array of rows/) });
    expect(decodeMessage(meterTopic, buf({ id: 'x', readings: 'no' }), { nowMs: 0 })).toMatchObject({ kind: 'invalid', reason: 'readings must be an array' });
    expect(decodeMessage(gatewayTopic, buf({ id: 1, ack: true, rows: [] }), { nowMs: 0 })).toEqual({
      kind: 'invalid',
      reason: 'unknown field "rows"; a wrapper has id, ack, gateway, readings',
      ack: { id: 1, gateway: 'gw-1' },
    });
    expect(decodeMessage(meterTopic, buf(42), { nowMs: 0 })).toMatchObject({ kind: 'invalid', reason: expect.stringMatching(/must be a JSON array/) });
  });

  it('refuses JSON nested deeper than 32 levels before parsing it, and takes 32', () => {
    const deep = '['.repeat(20_000) + ']'.repeat(20_000);
    expect(decodeMessage(meterTopic, buf(deep), { nowMs: 0 })).toEqual({ kind: 'invalid', reason: 'payload nests arrays/objects deeper than 32 levels (reading rows need 3); flatten it', ack: null });
    expect(decodeMessage(eventsTopic, buf({ code: 'x', at: '2026-01-01T00:00:00Z', data: '['.repeat(33) }), { nowMs: 0 })).toMatchObject({ kind: 'events' }); // brackets in strings do not count
    const nested = (n: number) => '['.repeat(n) + ']'.repeat(n);
    expect(decodeMessage(meterTopic, buf(`[${nested(31)}]`), { nowMs: 0 })).toMatchObject({ kind: 'readings', rows: [expect.any(Array)] });
    expect(decodeMessage(meterTopic, buf(`[${nested(32)}]`), { nowMs: 0 })).toMatchObject({ kind: 'invalid' });
  });

  it('decodes one event, an array of events, or the wrapper', () => {
    const ev = { code: 'power_failure', at: '2026-01-01T00:00:00Z' };
    expect(decodeMessage(eventsTopic, buf(ev), { nowMs: 0 })).toEqual({ kind: 'events', events: [ev], meter: 'M1', ack: null });
    expect(decodeMessage(eventsTopic, buf([ev, ev]), { nowMs: 0 })).toMatchObject({ kind: 'events', events: [ev, ev] });
    expect(decodeMessage(eventsTopic, buf({ id: 'e1', ack: true, gateway: 'gw-1', events: [ev] }), { nowMs: 0 })).toMatchObject({ kind: 'events', ack: { id: 'e1', gateway: 'gw-1' } });
    expect(decodeMessage(eventsTopic, buf('"x"'), { nowMs: 0 })).toMatchObject({ kind: 'invalid' });
  });

  it('validates events one by one', () => {
    const r = parseEventRows([
      { code: 'power_failure', at: '2026-01-01T03:00:00+03:00', severity: 'critical', data: { phase: 'L1' } },
      { code: 'cover_opened', at: '2026-01-01T03:00:00' },
      { at: '2026-01-01T03:00:00Z' },
      { code: 'x', at: '2026-01-01T03:00:00Z', colour: 'red' },
    ]);
    expect(r.valid).toEqual([{ index: 0, event: { code: 'power_failure', atMs: JAN1 * 1000, severity: 'critical', data: { phase: 'L1' } } }]);
    expect(r.rejected.map((x) => x.index)).toEqual([1, 2, 3]);
    expect(r.rejected[0].reason).toMatch(/^at: timestamp "2026-01-01T03:00:00" has no UTC offset/);
    expect(r.rejected[1].reason).toMatch(/^code: is required/);
    expect(r.rejected[2].reason).toMatch(/unknown field "colour"/);
  });

  it('builds the ack body', () => {
    expect(outcomeOf(2, [])).toEqual({ status: 'ok', stored: 2, rejected: [] });
    expect(outcomeOf(0, [{ index: 0, reason: 'r' }]).status).toBe('rejected');
    expect(outcomeOf(1, [{ index: 0, reason: 'r' }]).status).toBe('partial');
    expect(JSON.parse(ackBody('t', { id: 'b', gateway: 'g' }, outcomeOf(0, [], 'payload is not JSON')))).toEqual({
      id: 'b',
      topic: 't',
      status: 'rejected',
      stored: 0,
      rejected: [],
      reason: 'payload is not JSON',
    });
  });
});

describe('embedded broker authorisation', () => {
  const gw: Principal = { keyId: 'k1', name: 'gw-1', role: 'gateway', scope: { meterPrefixes: ['A-'], groups: ['north'] } };
  const open: Principal = { keyId: 'k2', name: 'gw-2', role: 'gateway', scope: null };
  const admin: Principal = { keyId: 'k3', name: 'ops', role: 'admin', scope: null };
  const keys = new Map<string, Principal>([
    ['key-gw', gw],
    ['key-viewer', { keyId: 'k4', name: 'v', role: 'viewer', scope: null }],
    ['key-bad-name', { keyId: 'k5', name: 'gw/+', role: 'gateway', scope: null }],
  ]);
  const findKey = async (k: string) => keys.get(k);
  const groups = new Map<string, string | null>([
    ['B-1', 'north'],
    ['B-2', 'south'],
  ]);
  const findGroup = async (m: string) => groups.get(m);

  it('refuses anonymous, wrong keys, other roles and names that are not one topic level', async () => {
    expect(await authenticateGateway(findKey, undefined, undefined)).toMatchObject({ ok: false, code: 4, reason: expect.stringMatching(/anonymous/) });
    expect(await authenticateGateway(findKey, 'gw-1', Buffer.from('nope'))).toMatchObject({ ok: false, code: 4 });
    expect(await authenticateGateway(findKey, 'gw-9', Buffer.from('key-gw'))).toMatchObject({ ok: false, code: 4 });
    expect(await authenticateGateway(findKey, 'v', Buffer.from('key-viewer'))).toMatchObject({ ok: false, code: 5, reason: expect.stringMatching(/role viewer/) });
    expect(await authenticateGateway(findKey, 'gw/+', Buffer.from('key-bad-name'))).toMatchObject({ ok: false, code: 5 });
    expect(await authenticateGateway(findKey, 'gw-1', Buffer.from('key-gw'))).toEqual({ ok: true, principal: gw });
  });

  it('lets a gateway publish to its own topics and to meters in its scope only', async () => {
    expect(await mayPublish(gw, 'mdm/v1/gateways/gw-1/readings', findGroup)).toEqual({ ok: true });
    expect(await mayPublish(gw, 'mdm/v1/gateways/gw-2/readings', findGroup)).toMatchObject({ ok: false, reason: expect.stringMatching(/another gateway/) });
    expect(await mayPublish(gw, 'mdm/v1/meters/A-7/readings', findGroup)).toEqual({ ok: true }); // prefix, even unregistered
    expect(await mayPublish(gw, 'mdm/v1/meters/B-1/events', findGroup)).toEqual({ ok: true }); // group north
    expect(await mayPublish(gw, 'mdm/v1/meters/B-2/readings', findGroup)).toMatchObject({ ok: false, reason: 'meter "B-2" is outside the scope of gateway "gw-1"' });
    expect(await mayPublish(gw, 'elsewhere/x', findGroup)).toMatchObject({ ok: false });
    expect(await mayPublish(gw, '$SYS/x', findGroup)).toMatchObject({ ok: false });
    expect(await mayPublish(open, 'mdm/v1/meters/B-2/readings', async () => expect.unreachable('no lookup without a scope'))).toEqual({ ok: true });
    expect(await mayPublish(admin, 'mdm/v1/gateways/gw-1/readings', findGroup)).toEqual({ ok: true });
  });

  it('lets a gateway subscribe under its own topics only', () => {
    expect(maySubscribe(gw, 'mdm/v1/gateways/gw-1/acks')).toEqual({ ok: true });
    expect(maySubscribe(gw, 'mdm/v1/gateways/gw-2/acks').ok).toBe(false);
    expect(maySubscribe(gw, 'mdm/v1/#').ok).toBe(false);
    expect(maySubscribe(admin, '#').ok).toBe(true);
  });
});

describe('batcher', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  const make = (write: (items: readonly string[]) => Promise<void>, onRetry?: (err: unknown, attempt: number, delay: number) => void) =>
    new Batcher<string>({ maxRows: 10, maxMs: 25, retry: { initialMs: 200, maxMs: 1000 }, rowsOf: (s) => s.length, write, settle: () => {}, onRetry });

  it('writes when the row bound is reached, else when the oldest message has waited maxMs', async () => {
    const batches: string[][] = [];
    const b = make(async (items) => void batches.push([...items]));
    b.push('aaaa');
    b.push('bbbb');
    expect(batches).toEqual([]);
    b.push('cccc'); // 12 rows ≥ 10: write now, as many as fit in 10 rows
    await vi.advanceTimersByTimeAsync(0);
    expect(batches).toEqual([['aaaa', 'bbbb']]);
    await vi.advanceTimersByTimeAsync(24);
    expect(batches).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(batches).toEqual([['aaaa', 'bbbb'], ['cccc']]);
    expect(b.pending).toBe(0);
  });

  it('keeps one batch in flight and queues behind it in arrival order', async () => {
    const batches: string[][] = [];
    let release!: () => void;
    const b = make(async (items) => {
      batches.push([...items]);
      if (batches.length === 1) await new Promise<void>((r) => (release = r));
    });
    b.push('a');
    await vi.advanceTimersByTimeAsync(25);
    b.push('b');
    b.push('c');
    await vi.advanceTimersByTimeAsync(100);
    expect(batches).toEqual([['a']]);
    expect(b.pending).toBe(3);
    release();
    await vi.advanceTimersByTimeAsync(0); // b waited > 25 ms already
    expect(batches).toEqual([['a'], ['b', 'c']]);
  });

  it('retries a failed batch with exponential backoff, the same messages in the same order', async () => {
    const attempts: number[] = [];
    const retries: number[] = [];
    let n = 0;
    const b = make(
      async (items) => {
        attempts.push(Date.now());
        if (n++ < 3) throw new Error(`down ${n}`);
        expect(items).toEqual(['x', 'y']);
      },
      (_e, _a, delay) => retries.push(delay),
    );
    const t0 = Date.now();
    b.push('x');
    b.push('y');
    await vi.advanceTimersByTimeAsync(25);
    expect(b.lastError).toBe('down 1');
    await vi.advanceTimersByTimeAsync(200 + 400 + 800);
    expect(retries).toEqual([200, 400, 800]);
    expect(attempts.map((t) => t - t0)).toEqual([25, 225, 625, 1425]);
    expect(b.lastError).toBeNull();
    expect(b.pending).toBe(0);
  });

  it('drain writes at once; abandon drops what is queued without writing it', async () => {
    const batches: string[][] = [];
    const b = make(async (items) => void batches.push([...items]));
    b.push('a');
    await b.drain();
    expect(batches).toEqual([['a']]);
    b.push('b');
    b.abandon();
    await vi.advanceTimersByTimeAsync(100);
    expect(batches).toEqual([['a']]);
    b.push('c');
    expect(b.pending).toBe(0);
  });

  it('writes several batches at once, never two on the same meter, and settles them in arrival order', async () => {
    // Items are "meter:rows"; each batch holds one (maxRows 1).
    const started: string[][] = [];
    const settled: string[][] = [];
    const release = new Map<string, () => void>();
    const b = new Batcher<string, string>({
      maxRows: 1,
      maxMs: 0,
      concurrency: 3,
      retry: { initialMs: 100, maxMs: 100 },
      rowsOf: () => 1,
      keysOf: (s) => [s.split(':')[0]],
      write: async (items) => {
        started.push([...items]);
        await new Promise<void>((r) => release.set(items[0], r));
        return items.join('+');
      },
      settle: (items, result) => void settled.push([...items, result]),
    });
    for (const s of ['A:1', 'B:1', 'A:2', 'C:1']) b.push(s);
    await vi.advanceTimersByTimeAsync(0);
    // A:2 waits for A:1 (same meter) and, being older, holds C:1 back too.
    expect(started).toEqual([['A:1'], ['B:1']]);
    release.get('B:1')!();
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toEqual([]); // B:1 is written but A:1, older, is not
    expect(started).toEqual([['A:1'], ['B:1']]);
    release.get('A:1')!();
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toEqual([
      ['A:1', 'A:1'],
      ['B:1', 'B:1'],
    ]);
    expect(started).toEqual([['A:1'], ['B:1'], ['A:2'], ['C:1']]);
    release.get('C:1')!();
    release.get('A:2')!();
    await vi.advanceTimersByTimeAsync(0);
    expect(settled.map((x) => x[0])).toEqual(['A:1', 'B:1', 'A:2', 'C:1']);
    expect(b.pending).toBe(0);
  });

  it('backs off exponentially up to a cap', () => {
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(a, { initialMs: 500, maxMs: 30_000 }))).toEqual([500, 1000, 2000, 4000, 30_000]);
  });
});
