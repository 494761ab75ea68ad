import { sql, type RawBuilder } from 'kysely';
import { channelDef } from '../models/channel.js';
import { COMMODITY_DEFS } from '../models/commodity.js';
import type { MeterOut } from '../models/meter.js';
import { qualityCode } from '../models/reading.js';
import type { Database } from './database.js';
import { toMeterOut, whereMeterFilter, type MeterFilter, type MeterRow } from './meter.repository.js';

/**
 * The console's meter list with each meter's status (issue 18): its newest
 * value, its completeness and billability in a period (from that period's
 * billing readiness), its active alarms; filtered by the registry filters
 * and by completeness or billability, sorted over the whole registry by any
 * of them, in keyset pages.
 *
 * Cost: with `sort=id` and no status filter, the page walks the external id
 * index and each meter of the page costs one backward probe of the readings
 * primary key (meter, channel, start) and one of alarms_meter_idx. A sort by
 * a status column or a status filter computes those probes for every meter
 * the registry filters leave (a top-N sort then keeps one page): about
 * 100 000 probes for the whole registry (docs/api.md, figures measured there).
 */

export const METER_SORTS = ['id', 'lastValueAt', 'completeness', 'openAlarms'] as const;
export type MeterSort = (typeof METER_SORTS)[number];

/**
 * The channel whose newest value is a meter's "last value": its commodity's primary interval channel, else the
 * register billing reads (heat energy), else none (weather stations).
 */
export const LAST_VALUE_CHANNELS: Readonly<Record<string, number>> = Object.fromEntries(
  Object.values(COMMODITY_DEFS).flatMap((d) => {
    const name = d.interval[0] ?? d.registerFigures[0];
    return name === undefined ? [] : [[d.commodity, channelDef(name).code]];
  }),
);
/** Commodities without an interval channel: nothing is expected of them, so a billable one has no completeness. */
const NO_INTERVALS = Object.values(COMMODITY_DEFS)
  .filter((d) => d.interval.length === 0)
  .map((d) => d.commodity);

/** A period's readiness as the list needs it. */
export interface ReadinessView {
  /** When it was computed: meters registered later are neither billable nor not (null). */
  readonly computedAt: Date;
  /** The not billable meters and their completeness; every other meter checked was billable. */
  readonly notBillable: readonly { readonly meter: string; readonly completeness: number | null }[];
}

export interface MeterStatusFilter extends Omit<MeterFilter, 'cursor'> {
  sort: MeterSort;
  order: 'asc' | 'desc';
  /** The period's readiness; undefined: completeness and billable are null (the caller may not read them). */
  readiness?: ReadinessView;
  /** Only meters whose completeness is below this fraction (0–1); meters without one are left out. */
  completenessBelow?: number;
  /** true: only billable meters; false: only not billable ones. */
  billable?: boolean;
  /** Where the previous page ended (decodeStatusCursor). */
  after?: StatusCursor;
}

/** The sort key and id of the last row of a page; key null for a meter without a value to sort by. */
export interface StatusCursor {
  readonly key: string | number | null;
  readonly id: string;
}

export interface MeterStatus {
  readonly lastValueAt: Date | null;
  readonly lastValue: number | null;
  readonly lastChannel: number | null;
  readonly completeness: number | null;
  readonly billable: boolean | null;
  readonly openAlarms: number;
}

type StatusRow = MeterRow & {
  last_start: Date | null;
  last_value: number | null;
  last_channel: number | null;
  created_at: Date;
  open_alarms: number;
  sort_key: Date | number | null;
};

/** The not billable meters of a readiness by id, made once per readiness. */
const NOT_BILLABLE = new WeakMap<ReadinessView, Map<string, number | null>>();

/**
 * Billable and completeness of a page's meter: what the SQL of meterStatusQuery computes for its filters and sort,
 * done here for the page's rows so that the page does not send the whole not-billable list to the database.
 */
function readinessOf(r: ReadinessView | undefined, row: { external_id: string; commodity: string; created_at: Date }): { billable: boolean | null; completeness: number | null } {
  if (!r || row.created_at > r.computedAt) return { billable: null, completeness: null };
  let nb = NOT_BILLABLE.get(r);
  if (!nb) NOT_BILLABLE.set(r, (nb = new Map(r.notBillable.map((n) => [n.meter, n.completeness]))));
  if (nb.has(row.external_id)) return { billable: false, completeness: nb.get(row.external_id) ?? null };
  return { billable: true, completeness: NO_INTERVALS.includes(row.commodity as (typeof NO_INTERVALS)[number]) ? null : 1 };
}

/** A cursor as text (base64url JSON): opaque to clients, like the id cursors of the other lists. */
export function encodeStatusCursor(c: StatusCursor): string {
  return Buffer.from(JSON.stringify([c.key, c.id])).toString('base64url');
}

/** The cursor of encodeStatusCursor, or undefined when `text` is not one (a 400 for the caller). */
export function decodeStatusCursor(text: string, sort: MeterSort): StatusCursor | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (!Array.isArray(v) || v.length !== 2 || typeof v[1] !== 'string') return undefined;
    const [key, id] = v as [unknown, string];
    if (key === null) return { key, id };
    if (sort === 'lastValueAt') return typeof key === 'string' && !Number.isNaN(Date.parse(key)) ? { key, id } : undefined;
    return typeof key === 'number' && Number.isFinite(key) ? { key, id } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The query of listMeterStatus, in two steps: the page's meters (id, external id and the sort key only, so a sort
 * over the whole registry moves small rows and computes only its own key), then their columns and status.
 */
export function meterStatusQuery(database: Database, f: MeterStatusFilter) {
  const db = database.db;
  const missing = qualityCode('missing');
  const channel = sql<number>`(CASE meters.commodity ${sql.join(
    Object.entries(LAST_VALUE_CHANNELS).map(([c, code]) => sql`WHEN ${sql.lit(c)} THEN ${sql.lit(code)}`),
    sql` `,
  )} END)`;
  const r = f.readiness;
  /** The not billable meters as a table (empty when `all` is false: the query does not need them). */
  const nbTable = (all: boolean) =>
    sql<{ meter: string; completeness: number | null }>`(SELECT * FROM unnest(${r && all ? r.notBillable.map((n) => n.meter) : []}::text[], ${
      r && all ? r.notBillable.map((n) => n.completeness) : []
    }::float8[]) AS u(meter, completeness))`.as('nb');
  const noIntervals = NO_INTERVALS.length ? sql`meters.commodity IN (${sql.join(NO_INTERVALS.map((c) => sql.lit(c)))})` : sql`false`;
  const unseen = r ? sql`meters.created_at > ${r.computedAt}` : sql`true`;
  const billable = r ? sql<boolean | null>`(CASE WHEN ${unseen} THEN NULL ELSE nb.meter IS NULL END)` : sql<boolean | null>`NULL::boolean`;
  const completeness = r
    ? sql<number | null>`(CASE WHEN ${unseen} THEN NULL WHEN nb.meter IS NOT NULL THEN nb.completeness WHEN ${noIntervals} THEN NULL ELSE 1 END)`
    : sql<number | null>`NULL::float8`;
  const openAlarms = sql<number>`(SELECT count(*) FROM alarms a WHERE a.meter_id = meters.id AND a.state <> 'closed')::int`;
  // The newest value of the meter's channel: one backward probe of the readings primary key.
  const lastStart = sql<Date | null>`(SELECT r.start FROM readings r WHERE r.meter_id = meters.id AND r.channel = ${channel} AND r.quality <> ${missing} ORDER BY r.start DESC LIMIT 1)`;
  // Sorting the registry by alarms: the active alarms counted per meter once (a few rows), not probed per meter.
  const alarmCounts = sql<{
    meter_id: number;
    n: number;
  }>`(SELECT meter_id, count(*)::int AS n FROM alarms WHERE state <> 'closed' AND ${sql.lit(f.sort === 'openAlarms')} GROUP BY meter_id)`.as('oa');
  const sortKey: RawBuilder<Date | number | null> =
    f.sort === 'lastValueAt' ? lastStart : f.sort === 'completeness' ? completeness : f.sort === 'openAlarms' ? sql<number>`coalesce(oa.n, 0)` : sql<null>`NULL`;
  const needsReadiness = f.sort === 'completeness' || f.completenessBelow !== undefined || f.billable !== undefined;

  // Step 1: the page's meters and their sort key.
  let inner = whereMeterFilter(db.selectFrom('meters'), f)
    .leftJoin(nbTable(needsReadiness), (j) => j.onRef('nb.meter', '=', 'meters.external_id'))
    .leftJoin(alarmCounts, (j) => j.onRef('oa.meter_id', '=', 'meters.id'))
    .select(['meters.id', 'meters.external_id', sortKey.as('k'), billable.as('billable'), completeness.as('completeness')]);
  // A sort over every filtered meter: its key computed once per meter (not again in the cursor's condition).
  if (f.sort !== 'id') inner = inner.offset(0);
  let keys = db
    .selectFrom(inner.as('s'))
    .select(['s.id', 's.external_id', 's.k'])
    .limit(f.limit + 1);
  if (f.completenessBelow !== undefined) keys = keys.where(sql<boolean>`s.completeness < ${f.completenessBelow}`);
  if (f.billable !== undefined) keys = keys.where(sql<boolean>`s.billable = ${f.billable}`);
  const desc = f.order === 'desc';
  const a = f.after;
  if (f.sort === 'id') {
    if (a) keys = keys.where('s.external_id', desc ? '<' : '>', a.id);
    keys = keys.orderBy('s.external_id', desc ? 'desc' : 'asc');
  } else {
    if (a) {
      const k = f.sort === 'lastValueAt' && a.key !== null ? new Date(a.key) : a.key;
      keys = keys.where(
        a.key === null ? sql<boolean>`(s.k IS NULL AND s.external_id > ${a.id})` : sql<boolean>`(s.k IS NULL OR s.k ${sql.raw(desc ? '<' : '>')} ${k} OR (s.k = ${k} AND s.external_id > ${a.id}))`,
      );
    }
    keys = keys
      .orderBy(sql`s.k IS NULL`)
      .orderBy('s.k', desc ? 'desc' : 'asc')
      .orderBy('s.external_id');
  }

  // Step 2: those meters with their columns and status.
  let page = db
    .selectFrom(keys.as('p'))
    .innerJoin('meters', 'meters.id', 'p.id')
    .leftJoinLateral(
      (eb) =>
        eb
          .selectFrom('readings as r')
          .select(['r.start', 'r.value', 'r.channel'])
          .whereRef('r.meter_id', '=', 'meters.id')
          .where(sql<boolean>`r.channel = ${channel}`)
          .where('r.quality', '<>', missing)
          .orderBy('r.start', 'desc')
          .limit(1)
          .as('l'),
      (j) => j.onTrue(),
    )
    .selectAll('meters')
    .select([
      sql<Date | null>`l.start`.as('last_start'),
      sql<number | null>`l.value`.as('last_value'),
      sql<number | null>`l.channel`.as('last_channel'),
      openAlarms.as('open_alarms'),
      'p.k as sort_key',
    ]);
  page =
    f.sort === 'id'
      ? page.orderBy('p.external_id', desc ? 'desc' : 'asc')
      : page
          .orderBy(sql`p.k IS NULL`)
          .orderBy('p.k', desc ? 'desc' : 'asc')
          .orderBy('p.external_id');
  return page;
}

/**
 * One page of meters with their status, sorted by `f.sort` (nulls last in both orders, then by id), and the cursor
 * of the next page (null on the last).
 */
export async function listMeterStatus(database: Database, f: MeterStatusFilter): Promise<{ rows: { meter: MeterOut; status: MeterStatus }[]; next: StatusCursor | null }> {
  const rows = (await meterStatusQuery(database, f).execute()) as unknown as StatusRow[];
  const page = rows.slice(0, f.limit);
  const last = page[page.length - 1];
  const keyOf = (row: StatusRow): string | number | null => {
    const v = row.sort_key;
    return v === null ? null : v instanceof Date ? v.toISOString() : Number(v);
  };
  return {
    rows: page.map((row) => ({
      meter: toMeterOut(row),
      status: {
        lastValueAt: row.last_start,
        lastValue: row.last_value,
        lastChannel: row.last_channel,
        ...readinessOf(f.readiness, row),
        openAlarms: Number(row.open_alarms),
      },
    })),
    next: rows.length > f.limit ? { key: keyOf(last), id: last.external_id } : null,
  };
}

/**
 * When the period's stored readiness was computed (undefined when none is stored) and when a meter was last
 * registered or changed (undefined without meters).
 */
export async function readinessComputedAt(database: Database, period: string): Promise<{ computedAt: Date | undefined; metersChangedAt: Date | undefined }> {
  const { rows } = await sql<{ computed_at: Date | null; meters_at: Date | null }>`
    SELECT (SELECT computed_at FROM billing_readiness WHERE period = ${period}) AS computed_at, (SELECT max(updated_at) FROM meters) AS meters_at`.execute(database.db);
  return { computedAt: rows[0]?.computed_at ?? undefined, metersChangedAt: rows[0]?.meters_at ?? undefined };
}
