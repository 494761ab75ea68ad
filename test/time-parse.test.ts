import { describe, expect, it } from 'vitest';
import { seededRandom } from '../models/random.js';
import { parseInstant, tzOffsetMinutes } from '../models/time.js';

const p2 = (n: number) => String(n).padStart(2, '0');

describe('parseInstant', () => {
  it('reads every offset layout and fraction length as Date.parse does', () => {
    const rand = seededRandom(7); // a failure names an input that reproduces
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
    for (let i = 0; i < 20_000; i++) {
      const ms = Math.floor(rand() * 4_102_444_800_000); // 1970..2100
      const d = new Date(ms);
      const date = `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`;
      const time = `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
      const frac = pick(['', `.${String(d.getUTCMilliseconds()).padStart(3, '0')}`, `.${String(d.getUTCMilliseconds()).padStart(3, '0')}456789`, `.${Math.floor(d.getUTCMilliseconds() / 100)}`]);
      const offMin = pick([0, 180, -300, 330, 60, -570]);
      const sign = offMin < 0 ? '-' : '+';
      const oh = p2(Math.floor(Math.abs(offMin) / 60));
      const om = p2(Math.abs(offMin) % 60);
      const offsets = offMin % 60 === 0 ? ['Z', `${sign}${oh}:${om}`, `${sign}${oh}${om}`, `${sign}${oh}`] : [`${sign}${oh}:${om}`, `${sign}${oh}${om}`];
      const off = offMin === 0 ? pick(offsets) : pick(offsets.filter((o) => o !== 'Z'));
      // The same wall clock read with an offset: the instant moves by the offset.
      const text = `${date}${pick(['T', ' '])}${time}${frac}${off}`;
      const expected = Date.parse(`${date}T${time}${frac.slice(0, 4)}${off === 'Z' ? 'Z' : `${sign}${oh}:${om}`}`);
      expect(parseInstant(text), text).toEqual({ ok: true, ms: expected });
    }
  });

  it('rejects impossible dates and malformed offsets with the same reasons', () => {
    const invalid = (t: string) => ({ ok: false, reason: `timestamp "${t}" is not a valid date-time` });
    for (const t of ['2023-02-29T00:00:00Z', '2100-02-29T00:00:00+03:00', '2026-04-31T00:00:00Z', '2026-13-01T00:00:00Z', '2026-01-01T24:00:00Z', '2026-01-01T10:60:00Z', '2026-01-01T10:00:60Z']) {
      expect(parseInstant(t)).toEqual(invalid(t));
    }
    expect(parseInstant('2024-02-29T00:00:00Z')).toEqual({ ok: true, ms: Date.UTC(2024, 1, 29) });
    expect(parseInstant('2000-02-29T00:00:00Z')).toEqual({ ok: true, ms: Date.UTC(2000, 1, 29) });
    for (const t of ['2026-01-01T10:00:00+3:00', '2026-01-01T10:00:00+03:0', '2026-01-01T10:00:00.Z', '2026-01-01T10:00:00.1234567890Z', '2026-01-01X10:00:00Z', '2026-01-01T10:00:00+03:00 ']) {
      expect(parseInstant(t)).toEqual({ ok: false, reason: `timestamp "${t}" is not ISO-8601 with an offset, e.g. 2026-01-01T10:00:00+03:00` });
    }
    expect(parseInstant('2026-01-01T10:00:00.5')).toMatchObject({ ok: false, reason: expect.stringMatching(/has no UTC offset/) });
    expect(parseInstant('2026-01-01T10:00+03:00')).toEqual({ ok: true, ms: Date.UTC(2026, 0, 1, 7) });
  });
});

describe('tzOffsetMinutes', () => {
  /** The offset as Intl gives it, without any cache. */
  const formats = new Map<string, Intl.DateTimeFormat>();
  const reference = (tz: string, ms: number) => {
    let f = formats.get(tz);
    if (!f)
      formats.set(
        tz,
        (f = new Intl.DateTimeFormat('en-US', { timeZone: tz, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' })),
      );
    const parts = f.formatToParts(new Date(ms));
    const get = (t: string) => Number(parts.find((p) => p.type === t)!.value);
    return Math.round((Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second')) - ms) / 60_000);
  };
  it('agrees with Intl around every transition, with zones interleaved and instants out of order (its day cache)', () => {
    // Istanbul (no DST since 2016, +3), Warsaw, New York, São Paulo (DST until 2019), Lord Howe (half-hour DST), Kathmandu (+5:45), Troll (+0/+2)
    const zones = ['Europe/Istanbul', 'Europe/Warsaw', 'America/New_York', 'America/Sao_Paulo', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'Antarctica/Troll'];
    const rand = seededRandom(11);
    const from = Date.UTC(2015, 0, 1);
    const checked = new Set<number>();
    for (const tz of zones) {
      // every quarter hour of the days around each transition, plus random instants of other zones in between
      for (let t = from; t < Date.UTC(2020, 0, 1); t += 86_400_000) {
        if (reference(tz, t) === reference(tz, t + 86_400_000)) continue;
        for (let q = t - 86_400_000; q < t + 2 * 86_400_000; q += 15 * 60_000) {
          expect(tzOffsetMinutes(tz, q), `${tz} ${new Date(q).toISOString()}`).toBe(reference(tz, q));
          const other = zones[Math.floor(rand() * zones.length)];
          const r = from + Math.floor(rand() * 5 * 365) * 86_400_000;
          expect(tzOffsetMinutes(other, r), `${other} ${new Date(r).toISOString()}`).toBe(reference(other, r));
          checked.add(q);
        }
      }
    }
    expect(checked.size).toBeGreaterThan(5_000);
  });
});
