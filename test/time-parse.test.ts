import { describe, expect, it } from 'vitest';
import { seededRandom } from '../models/random.js';
import { parseInstant } from '../models/time.js';

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
