import type { Migration } from './index.js';

/**
 * The settlement period (market time unit) of each market area from a local
 * date on (issue 16): European markets moved from 60 to 15 minutes on a date,
 * others (TR) stay at 60. The period in force on an instant is the row with the
 * latest effective_from on or before the instant's local date in the area's
 * zone; an area without a row settles hourly. `spread` declares how an hourly
 * meter's value is split into the periods of its hour (flat, or by profile:
 * the shape of the portfolio's meters that measure at the period).
 */
export const marketPeriods: Migration = {
  id: 31,
  name: 'market-periods',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS market_periods (
        area           text NOT NULL,
        effective_from date NOT NULL,
        minutes        smallint NOT NULL CHECK (minutes IN (15, 30, 60)),
        spread         text NOT NULL DEFAULT 'flat' CHECK (spread IN ('flat', 'profile')),
        note           text,
        created_at     timestamptz NOT NULL DEFAULT now(),
        created_by     text,
        PRIMARY KEY (area, effective_from)
      );`);
  },
};
