import { describe, expect, it } from 'vitest';
import { localDate, localDayCounter } from '../models/calendar.js';

describe('localDayCounter (the local day of every ingested row, for the validation queue and billing dirty days)', () => {
  // Zones with DST at midnight (Santiago, Beirut, Havana), half-hour DST (Lord Howe), no DST (Istanbul), the EU rule (Warsaw).
  const zones = ['Europe/Istanbul', 'Europe/Warsaw', 'America/Santiago', 'Asia/Beirut', 'America/Havana', 'Australia/Lord_Howe', 'Asia/Tehran', 'UTC'];
  it.each(zones)('agrees with localDate at every hour of 2019 in %s, in time order and out of it', (tz) => {
    const inOrder = localDayCounter(tz);
    const shuffled = localDayCounter(tz);
    const day = (ms: number) => Date.parse(`${localDate(ms, tz)}T00:00:00Z`) / 86_400_000;
    let wrong = 0;
    for (let ms = Date.UTC(2019, 0, 1), k = 0; ms < Date.UTC(2020, 0, 1); ms += 60 * 60_000, k++) {
      if (inOrder(ms) !== day(ms)) wrong++;
      if (k % 4) continue;
      const back = ms - 37 * 3_600_000; // jumps back and forth across day bounds
      if (shuffled(back) !== day(back)) wrong++;
    }
    expect(wrong).toBe(0);
  });
});
