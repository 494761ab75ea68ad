import { sql } from 'kysely';
import { MdmError } from '../models/errors.js';
import { DEFAULT_AREA, DEFAULT_CURRENCY, DEFAULT_DAY_AHEAD_CUTOFF, DEFAULT_TIMEZONE, type PortfolioSettings } from '../models/portfolio.js';
import type { Database } from './database.js';

/** What a PUT stores (defaults already applied by PortfolioSettingsSchema). */
export interface PortfolioRow {
  readonly area: string;
  readonly currency: string;
  readonly timezone?: string | null;
  readonly weatherStation?: string | null;
  readonly dayAheadCutoff: string;
}

/** Creates or replaces a portfolio's settings; returns true when it was created. */
export async function putPortfolio(database: Database, id: string, p: PortfolioRow): Promise<boolean> {
  const row = await database.db
    .insertInto('portfolios')
    .values({ id, area: p.area, currency: p.currency, timezone: p.timezone ?? null, weather_station: p.weatherStation ?? null, day_ahead_cutoff: p.dayAheadCutoff })
    .onConflict((oc) =>
      oc.column('id').doUpdateSet((eb) => ({
        area: eb.ref('excluded.area'),
        currency: eb.ref('excluded.currency'),
        timezone: eb.ref('excluded.timezone'),
        weather_station: eb.ref('excluded.weather_station'),
        day_ahead_cutoff: eb.ref('excluded.day_ahead_cutoff'),
        updated_at: sql<Date>`now()`,
      })),
    )
    .returning(sql<boolean>`(xmax = 0)`.as('created'))
    .executeTakeFirstOrThrow();
  return row.created;
}

interface Resolved {
  id: string;
  area: string | null;
  currency: string | null;
  timezone: string | null;
  weather_station: string | null;
  day_ahead_cutoff: string | null;
  updated_at: Date | null;
  meters: number;
  member_timezone: string | null;
  member_station: string | null;
}

// Settings resolved in one statement: stored values, else the member meters'
// most common zone/station (ties broken by name so the answer is stable).
// `ids` null: every portfolio.
const resolveSettings = (ids: readonly string[] | null) => sql<Resolved>`
WITH ids AS (
  SELECT id FROM portfolios WHERE ${ids}::text[] IS NULL OR id = ANY(${ids}::text[])
  UNION
  SELECT DISTINCT portfolio FROM meters WHERE portfolio IS NOT NULL AND (${ids}::text[] IS NULL OR portfolio = ANY(${ids}::text[]))
  UNION
  -- A portfolio of dated memberships only (members that joined later or left: migration 028, issue 16).
  SELECT DISTINCT value FROM meter_attributes WHERE attribute = 'portfolio' AND value IS NOT NULL AND superseded_at IS NULL AND (${ids}::text[] IS NULL OR value = ANY(${ids}::text[]))
)
SELECT ids.id, p.area, p.currency, p.timezone, p.weather_station, p.day_ahead_cutoff, p.updated_at,
  (SELECT count(*)::int FROM meters m WHERE m.portfolio = ids.id) AS meters,
  (SELECT m.timezone FROM meters m WHERE m.portfolio = ids.id GROUP BY m.timezone ORDER BY count(*) DESC, m.timezone LIMIT 1) AS member_timezone,
  (SELECT m.weather_station FROM meters m WHERE m.portfolio = ids.id AND m.weather_station IS NOT NULL
     GROUP BY m.weather_station ORDER BY count(*) DESC, m.weather_station LIMIT 1) AS member_station
FROM ids LEFT JOIN portfolios p ON p.id = ids.id
ORDER BY ids.id`;

function resolve(r: Resolved): PortfolioSettings {
  const stored = r.area !== null;
  return {
    id: r.id,
    area: r.area ?? DEFAULT_AREA,
    currency: r.currency ?? DEFAULT_CURRENCY,
    timezone: r.timezone ?? r.member_timezone ?? DEFAULT_TIMEZONE,
    weatherStation: r.weather_station ?? r.member_station,
    dayAheadCutoff: r.day_ahead_cutoff ?? DEFAULT_DAY_AHEAD_CUTOFF,
    derived: { timezone: r.timezone === null, weatherStation: r.weather_station === null },
    meters: r.meters,
    stored,
    updatedAt: r.updated_at ? new Date(r.updated_at).toISOString() : null,
  };
}

/**
 * A portfolio's settings with defaults and member-derived values filled in,
 * or undefined when the id has neither stored settings nor member meters.
 * The one place forecasting and imbalance read portfolio settings from.
 * @example await getPortfolioSettings(database, 'P1') // { id: 'P1', area: 'TR', timezone: 'Europe/Istanbul', dayAheadCutoff: '10:00', … }
 */
export async function getPortfolioSettings(database: Database, id: string): Promise<PortfolioSettings | undefined> {
  const {
    rows: [row],
  } = await resolveSettings([id]).execute(database.db);
  return row ? resolve(row) : undefined;
}

/** getPortfolioSettings, or 404 MDM_ERR_UNKNOWN_PORTFOLIO naming the two ways a portfolio comes to exist. */
export async function requirePortfolio(database: Database, id: string): Promise<PortfolioSettings> {
  const p = await getPortfolioSettings(database, id);
  if (!p) throw new MdmError('MDM_ERR_UNKNOWN_PORTFOLIO', [`portfolio "${id}" is unknown: give its meters portfolio="${id}" (PUT /v1/meters) or create it with PUT /v1/portfolios/${id}`]);
  return p;
}

/** Every portfolio that has settings or member meters, by id. */
export async function listPortfolios(database: Database): Promise<PortfolioSettings[]> {
  const { rows } = await resolveSettings(null).execute(database.db);
  return rows.map(resolve);
}
