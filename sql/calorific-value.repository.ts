import type { CalorificPeriod } from '../models/gas/energy.js';
import type { GasArea } from '../models/gas/gas-area.js';
import type { Insertable, Selectable } from 'kysely';
import type { Database, Session } from './database.js';
import type { CalorificValuesTable, GasAreasTable } from './types.js';

/**
 * Gas areas and their calorific values, every version kept (migration 020).
 * A period is keyed by (area, kind, valid_from); the current version has
 * superseded_at NULL. Callers pass `now`: received_at and superseded_at come
 * from it, kept strictly increasing per period so that `asOf` always tells
 * two versions apart.
 */

export type CalorificKind = 'superior' | 'inferior';

export interface CalorificInput {
  readonly area: string;
  readonly kind: CalorificKind;
  readonly validFromMs: number;
  readonly validToMs: number;
  readonly kwhPerM3: number;
  readonly valueReceived: number;
  readonly unitReceived: string;
  readonly source: string | null;
}

export interface StoredCalorificValue {
  readonly area: string;
  readonly kind: CalorificKind;
  readonly validFrom: Date;
  readonly validTo: Date;
  readonly version: number;
  readonly kwhPerM3: number;
  readonly valueReceived: number;
  readonly unitReceived: string;
  readonly source: string | null;
  readonly receivedAt: Date;
  readonly receivedBy: string | null;
  readonly supersededAt: Date | null;
}

/** What became of one input row. */
export type CalorificOutcome = { readonly status: 'inserted' | 'superseded' | 'unchanged'; readonly version: number } | { readonly status: 'rejected'; readonly reason: string };

const areaOut = (r: Omit<Selectable<GasAreasTable>, 'updated_at' | 'updated_by'>): GasArea => ({
  code: r.code,
  name: r.name,
  timezone: r.timezone,
  baseTemperatureC: r.base_temperature_c,
  basePressureBar: r.base_pressure_bar,
  combustionTemperatureC: r.combustion_temperature_c,
  gasDayStartHour: r.gas_day_start_hour,
  atmosphericPressureBar: r.atmospheric_pressure_bar,
  note: r.note,
});

/** Creates or replaces an area; true when it was created. */
export async function putGasArea(database: Database, a: GasArea, by: string | null): Promise<boolean> {
  return database.session(async ({ db }) => {
    const existed = await db.selectFrom('gas_areas').select('code').where('code', '=', a.code).forUpdate().executeTakeFirst();
    const values = {
      name: a.name,
      timezone: a.timezone,
      base_temperature_c: a.baseTemperatureC,
      base_pressure_bar: a.basePressureBar,
      combustion_temperature_c: a.combustionTemperatureC,
      gas_day_start_hour: a.gasDayStartHour,
      atmospheric_pressure_bar: a.atmosphericPressureBar,
      note: a.note,
      updated_by: by,
      updated_at: new Date(),
    };
    await db
      .insertInto('gas_areas')
      .values({ code: a.code, ...values })
      .onConflict((oc) => oc.column('code').doUpdateSet(values))
      .execute();
    return existed === undefined;
  });
}

/** One area, or undefined. */
export async function getGasArea(database: Database, code: string): Promise<GasArea | undefined> {
  const r = await database.db.selectFrom('gas_areas').selectAll().where('code', '=', code).executeTakeFirst();
  return r && areaOut(r);
}

/** Every area, by code. */
export async function listGasAreas(database: Database): Promise<GasArea[]> {
  return (await database.db.selectFrom('gas_areas').selectAll().orderBy('code').execute()).map(areaOut);
}

const keyOf = (area: string, kind: string, fromMs: number) => `${area}\u0000${kind}\u0000${fromMs}`;

/** Rows per INSERT or UPDATE statement of a batch. */
const WRITE_CHUNK = 1000;

/**
 * Stores a batch of calorific values in one transaction: a new period is
 * inserted (version 1); a period already stored with the same value and end
 * is unchanged; with another value or end it is superseded (the old version
 * kept, a new one current). A row whose period overlaps another current
 * period of the area and kind (not the same valid_from) is rejected with the
 * reason, and so is a second row for the same period in the batch. Rows are
 * decided in input order against the stored periods and the rows before them,
 * then written in chunks. The areas must exist (the caller checks).
 * Outcomes come in input order.
 */
export async function storeCalorificValues(database: Database, rows: readonly CalorificInput[], p: { now: Date; by: string | null }): Promise<CalorificOutcome[]> {
  return database.session(async (s) => {
    const out: CalorificOutcome[] = new Array(rows.length);
    const seen = new Map<string, number>();
    // Current periods per area and kind, loaded once per pair and kept up to date as rows are decided.
    const current = new Map<string, AreaKindPeriods>();
    const supersede: { area: string; kind: CalorificKind; validFrom: Date; at: Date }[] = [];
    const insert: Insertable<CalorificValuesTable>[] = [];
    for (let i = 0; i < rows.length; i++) {
      const r = rows[i];
      const key = keyOf(r.area, r.kind, r.validFromMs);
      const dup = seen.get(key);
      if (dup !== undefined) {
        out[i] = { status: 'rejected', reason: `same area, kind and validFrom as row ${dup}: one value per period in a batch` };
        continue;
      }
      seen.set(key, i);
      const periods = await currentPeriods(s, current, r.area, r.kind);
      // Current periods never overlap: the only candidate clash is the last one starting before validTo.
      const k = lastStartingBefore(periods.rows, r.validToMs);
      const last = k >= 0 ? periods.rows[k] : undefined;
      const same = last?.fromMs === r.validFromMs ? last : periods.byFrom.get(r.validFromMs);
      const clash = last && last !== same && last.toMs > r.validFromMs ? last : undefined;
      if (clash) {
        out[i] = {
          status: 'rejected',
          reason: `overlaps the stored ${r.kind} value ${new Date(clash.fromMs).toISOString()}..${new Date(clash.toMs).toISOString()} (version ${clash.version}) of area ${r.area}: upload a period with the same validFrom to replace a value`,
        };
        continue;
      }
      if (same && same.toMs === r.validToMs && same.kwhPerM3 === r.kwhPerM3) {
        out[i] = { status: 'unchanged', version: same.version };
        continue;
      }
      // Versions of a period get strictly increasing instants, so asOf tells them apart even within a millisecond.
      const at = same && same.receivedAtMs >= p.now.getTime() ? new Date(same.receivedAtMs + 1) : p.now;
      // With no current version: the next number after any kept in history (none unless rows were deleted by hand).
      const version = same ? same.version + 1 : (periods.maxVersion.get(r.validFromMs) ?? 0) + 1;
      if (same) supersede.push({ area: r.area, kind: r.kind, validFrom: new Date(r.validFromMs), at });
      insert.push({
        area: r.area,
        kind: r.kind,
        valid_from: new Date(r.validFromMs),
        version,
        valid_to: new Date(r.validToMs),
        value_kwh_per_m3: r.kwhPerM3,
        value_received: r.valueReceived,
        unit_received: r.unitReceived,
        source: r.source,
        received_at: at,
        received_by: p.by,
      });
      const row: CurrentPeriod = { fromMs: r.validFromMs, toMs: r.validToMs, version, kwhPerM3: r.kwhPerM3, receivedAtMs: at.getTime() };
      if (same) periods.rows.splice(periods.rows.indexOf(same), 1, row);
      else periods.rows.splice(lastStartingBefore(periods.rows, r.validFromMs) + 1, 0, row);
      periods.byFrom.set(r.validFromMs, row);
      periods.maxVersion.set(r.validFromMs, version);
      out[i] = { status: same ? 'superseded' : 'inserted', version };
    }
    // The old versions first: the partial unique index allows one current row per period.
    const groups = new Map<string, { area: string; kind: CalorificKind; at: Date; froms: Date[] }>();
    for (const u of supersede) {
      const g = `${u.area}\u0000${u.kind}\u0000${u.at.getTime()}`;
      let e = groups.get(g);
      if (!e) groups.set(g, (e = { area: u.area, kind: u.kind, at: u.at, froms: [] }));
      e.froms.push(u.validFrom);
    }
    for (const g of groups.values()) {
      for (let c = 0; c < g.froms.length; c += WRITE_CHUNK) {
        await s.db
          .updateTable('calorific_values')
          .set({ superseded_at: g.at })
          .where('area', '=', g.area)
          .where('kind', '=', g.kind)
          .where('valid_from', 'in', g.froms.slice(c, c + WRITE_CHUNK))
          .where('superseded_at', 'is', null)
          .execute();
      }
    }
    for (let c = 0; c < insert.length; c += WRITE_CHUNK)
      await s.db
        .insertInto('calorific_values')
        .values(insert.slice(c, c + WRITE_CHUNK))
        .execute();
    return out;
  });
}

/** A current period as the batch sees it. */
interface CurrentPeriod {
  readonly fromMs: number;
  readonly toMs: number;
  readonly version: number;
  readonly kwhPerM3: number;
  readonly receivedAtMs: number;
}

/** The current periods of an area and kind (sorted by start, never overlapping), by start, and the highest version of every period ever stored. */
interface AreaKindPeriods {
  readonly rows: CurrentPeriod[];
  readonly byFrom: Map<number, CurrentPeriod>;
  readonly maxVersion: Map<number, number>;
}

/** Index of the last period starting before `ms` in rows sorted by start, −1 when none. */
function lastStartingBefore(rows: readonly CurrentPeriod[], ms: number): number {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (rows[mid].fromMs < ms) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

async function currentPeriods(s: Session, cache: Map<string, AreaKindPeriods>, area: string, kind: CalorificKind): Promise<AreaKindPeriods> {
  const k = `${area}\u0000${kind}`;
  let entry = cache.get(k);
  if (!entry) {
    // The area row's lock serialises writers of one area: two uploads of a new period never both take version 1.
    await s.db.selectFrom('gas_areas').select('code').where('code', '=', area).forUpdate().execute();
    const all = await s.db
      .selectFrom('calorific_values')
      .select(['valid_from', 'valid_to', 'version', 'value_kwh_per_m3', 'received_at', 'superseded_at'])
      .where('area', '=', area)
      .where('kind', '=', kind)
      .orderBy('valid_from')
      .execute();
    const maxVersion = new Map<number, number>();
    const rows: CurrentPeriod[] = [];
    for (const r of all) {
      const from = r.valid_from.getTime();
      maxVersion.set(from, Math.max(maxVersion.get(from) ?? 0, r.version));
      if (r.superseded_at === null) rows.push({ fromMs: from, toMs: r.valid_to.getTime(), version: r.version, kwhPerM3: r.value_kwh_per_m3, receivedAtMs: r.received_at.getTime() });
    }
    entry = { rows, byFrom: new Map(rows.map((r) => [r.fromMs, r])), maxVersion };
    cache.set(k, entry);
  }
  return entry;
}

export interface CalorificQuery {
  readonly area: string;
  readonly kind?: CalorificKind;
  /** Values whose period overlaps [from, to). */
  readonly from: Date;
  readonly to: Date;
  /** The versions current at this instant; default now. */
  readonly asOf?: Date;
  /** Every version instead (asOf ignored). */
  readonly history?: boolean;
  /** At most this many rows (default 10 000). */
  readonly limit?: number;
}

/** Calorific values of an area overlapping [from, to), oldest period first (then version). */
export async function listCalorificValues(database: Database, q: CalorificQuery): Promise<StoredCalorificValue[]> {
  let query = database.db.selectFrom('calorific_values').selectAll().where('area', '=', q.area).where('valid_from', '<', q.to).where('valid_to', '>', q.from);
  if (q.kind) query = query.where('kind', '=', q.kind);
  if (!q.history) {
    if (q.asOf) {
      const asOf = q.asOf;
      query = query.where('received_at', '<=', asOf).where((eb) => eb.or([eb('superseded_at', 'is', null), eb('superseded_at', '>', asOf)]));
    } else query = query.where('superseded_at', 'is', null);
  }
  const rows = await query
    .orderBy('kind', 'desc')
    .orderBy('valid_from')
    .orderBy('version')
    .limit(q.limit ?? 10_000)
    .execute();
  return rows.map((r) => ({
    area: r.area,
    kind: r.kind,
    validFrom: r.valid_from,
    validTo: r.valid_to,
    version: r.version,
    kwhPerM3: r.value_kwh_per_m3,
    valueReceived: r.value_received,
    unitReceived: r.unit_received,
    source: r.source,
    receivedAt: r.received_at,
    receivedBy: r.received_by,
    supersededAt: r.superseded_at,
  }));
}

/**
 * The calorific values billing multiplies by (models/gas/energy.ts gasEnergy):
 * the versions of one kind current at `asOf` (default now) over [from, to).
 */
export async function calorificPeriods(database: Database, q: Omit<CalorificQuery, 'history' | 'limit'> & { kind: CalorificKind }): Promise<CalorificPeriod[]> {
  return (await listCalorificValues(database, { ...q, limit: 100_000 })).map((v) => ({
    validFromMs: v.validFrom.getTime(),
    validToMs: v.validTo.getTime(),
    kwhPerM3: v.kwhPerM3,
    version: v.version,
  }));
}
