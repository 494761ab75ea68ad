/**
 * Reuses a worker's databases across test files instead of making a new copy
 * of the migrated template for each: PGlite instances (a copy costs about
 * 0.8 s of CPU for the embedded build, 1.1 s for the TimescaleDB build,
 * against about 0.1 s for a reset) and server databases (`CREATE DATABASE …
 * TEMPLATE` and `DROP DATABASE` cost 0.4–0.9 s of wall time, most of it the
 * server's fsyncs). A database handed out is indistinguishable from a fresh
 * copy of the template as far as the schema's data goes:
 *
 * - every table of the `public` schema is truncated (TimescaleDB: hypertable
 *   chunks and the continuous aggregate's materialization go with it), the
 *   rows the migrations seeded (channels, qualities, TOU schedules …) are put
 *   back, every sequence is set back to where the migrations left it, and the
 *   TimescaleDB continuous-aggregate catalogue (invalidation threshold and
 *   logs) is restored to its migrated state;
 * - the session is reset (`DISCARD ALL`: settings, prepared statements,
 *   advisory locks, temporary tables) and PGlite's own session settings
 *   (`search_path`) are made again.
 *
 * What a test does with its database is fenced: the handle it gets is a
 * lease, and once it is closed any statement still coming through it (a
 * component a test forgot to stop) fails as on a closed PGlite instead of
 * reaching the next file's data. A lease whose schema changed (a test that
 * ran DDL), whose reset failed, or that would make the pool hold more than
 * `IDLE_MAX` instances is closed for real.
 */
import type { PGliteLike } from '../sql/database.js';

/** What a reset needs of a connection: PGlite itself, or a `pg` client (test/helpers.ts). */
export interface Querier {
  query<R>(text: string, params?: unknown[]): Promise<{ rows: R[] }>;
  exec(text: string): Promise<unknown>;
}

/** Per flavour and worker: a file rarely holds more databases at once. `MDM_TEST_FRESH_DATABASES=1` turns reuse off (every file a new copy). */
export const IDLE_MAX = process.env.MDM_TEST_FRESH_DATABASES ? 0 : 2;

/** The state a freshly migrated database is in, taken once per instance right after migrating or loading the template. */
export interface Baseline {
  /** `TRUNCATE … RESTART IDENTITY CASCADE` over every table to empty, then each continuous aggregate. */
  truncate: string;
  /** Rows to put back, per table (JSON of the rows the migrations inserted). */
  seeds: { table: string; rows: string }[];
  /** `SELECT setval(…)` for every sequence, as migrated. */
  sequences: string;
  /** The settings PGlite made for its session at start (`search_path` …), which `DISCARD ALL` takes back. */
  settings: string;
  /** What the schema looks like: a lease that comes back different is not reused. */
  fingerprint: string;
}

const FINGERPRINT = `
  SELECT md5(coalesce(string_agg(x, ',' ORDER BY x), '')) AS f FROM (
    SELECT format('%s.%s/%s:%s:%s', c.relnamespace::regnamespace, c.relname, c.relkind, a.attname, a.atttypid::regtype) AS x
      FROM pg_class c LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL SELECT format('proc %s(%s)', p.proname, pg_get_function_identity_arguments(p.oid)) FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
    UNION ALL SELECT format('trigger %s.%s', c.relname, t.tgname) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
     WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace -- not TimescaleDB's chunks, which come and go with the data
    UNION ALL SELECT format('constraint %s.%s %s', c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)) FROM pg_constraint c WHERE c.connamespace = 'public'::regnamespace
    UNION ALL SELECT format('policy %s.%s', c.relname, p.polname) FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid WHERE c.relnamespace = 'public'::regnamespace
    UNION ALL SELECT format('ext %s %s', extname, extversion) FROM pg_extension
  ) s`;

/** TimescaleDB's continuous-aggregate bookkeeping that a refresh changes (absent on plain PostgreSQL). */
const TSDB_CATALOG = [
  '_timescaledb_catalog.continuous_aggs_invalidation_threshold',
  '_timescaledb_catalog.continuous_aggs_hypertable_invalidation_log',
  '_timescaledb_catalog.continuous_aggs_materialization_invalidation_log',
];

async function one<R>(pglite: Querier, text: string): Promise<R> {
  return (await pglite.query<R>(text)).rows[0]!;
}

export async function takeBaseline(pglite: Querier): Promise<Baseline> {
  const tables = (
    await pglite.query<{ t: string }>(`
      SELECT format('%I.%I', n.nspname, c.relname) AS t FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
         AND n.nspname = 'public'
       ORDER BY 1`)
  ).rows.map((r) => r.t);
  const catalog: string[] = [];
  for (const t of TSDB_CATALOG) if ((await one<{ r: string | null }>(pglite, `SELECT to_regclass('${t}')::text AS r`)).r) catalog.push(t);
  // A continuous aggregate's materialization is emptied through its view (TimescaleDB refuses its hypertable).
  const aggregates = catalog.length
    ? (await pglite.query<{ v: string }>(`SELECT format('%I.%I', view_schema, view_name) AS v FROM timescaledb_information.continuous_aggregates ORDER BY 1`)).rows.map((r) => r.v)
    : [];
  const seeds: Baseline['seeds'] = [];
  for (const table of [...tables, ...catalog]) {
    const { rows } = await one<{ rows: string | null }>(pglite, `SELECT json_agg(t)::text AS rows FROM ${table} t`);
    if (rows !== null) seeds.push({ table, rows });
  }
  const sequences = (
    await pglite.query<{ s: string }>(`
      SELECT format('SELECT setval(%L, %s, %L)', format('%I.%I', schemaname, sequencename), coalesce(last_value, start_value), last_value IS NOT NULL) AS s
        FROM pg_sequences WHERE schemaname = 'public'`)
  ).rows.map((r) => r.s);
  const settings = (await pglite.query<{ s: string }>(`SELECT format('SELECT set_config(%L, %L, false)', name, setting) AS s FROM pg_settings WHERE source = 'session' ORDER BY name`)).rows.map(
    (r) => r.s,
  );
  return {
    settings: settings.join(';\n'),
    truncate: [`TRUNCATE ${[...tables, ...catalog].join(', ')} RESTART IDENTITY CASCADE`, ...aggregates.map((v) => `TRUNCATE ${v}`)].join(';\n'),
    seeds,
    sequences: sequences.join(';\n'),
    fingerprint: (await one<{ f: string }>(pglite, FINGERPRINT)).f,
  };
}

export async function resetToBaseline(pglite: Querier, b: Baseline): Promise<void> {
  await pglite.exec('ROLLBACK'); // a transaction a test left open (a warning when there is none)
  await pglite.exec('DISCARD ALL');
  if (b.settings) await pglite.exec(b.settings);
  // A session a test left inside a transaction would make TRUNCATE wait for good: fail instead (the database is then dropped).
  await pglite.exec(`BEGIN; SET LOCAL lock_timeout = '5s'; ${b.truncate}`);
  try {
    for (const s of b.seeds) await pglite.query(`INSERT INTO ${s.table} SELECT * FROM json_populate_recordset(NULL::${s.table}, $1::json)`, [s.rows]);
    if (b.sequences) await pglite.exec(b.sequences);
    await pglite.exec('COMMIT');
  } catch (err) {
    await pglite.exec('ROLLBACK').catch(() => {});
    throw err;
  }
}

/** Whether the schema is still the one of the baseline (false when it cannot be read). */
export async function unchangedSchema(q: Querier, b: Baseline): Promise<boolean> {
  return one<{ f: string }>(q, FINGERPRINT)
    .then((r) => r.f === b.fingerprint)
    .catch(() => false);
}

interface Pooled {
  pglite: PGliteLike;
  baseline: Baseline;
}

const idle = new Map<string, Pooled[]>();

/**
 * A reset instance of `flavour` from this worker's pool, or undefined when
 * there is none (the caller opens a copy of the template and passes it to
 * `lease`).
 */
export async function reuse(flavour: string): Promise<PGliteLike | undefined> {
  const list = idle.get(flavour) ?? [];
  idle.set(flavour, list);
  for (let p = list.pop(); p; p = list.pop()) {
    try {
      await resetToBaseline(p.pglite, p.baseline);
      return lease(flavour, p.pglite, p.baseline);
    } catch (err) {
      if (process.env.MDM_TEST_POOL_DEBUG) console.error('pglite pool: reset failed', err);
      await p.pglite.close().catch(() => {});
    }
  }
  return undefined;
}

/**
 * Wraps a migrated instance (just opened, or just reset) as a lease: its
 * `close()` gives the instance back to the pool instead of closing it.
 */
export async function lease(flavour: string, pglite: PGliteLike, baseline?: Baseline): Promise<PGliteLike> {
  const b = baseline ?? (await takeBaseline(pglite));
  let released = false;
  const fenced = () => {
    if (released) throw new Error('PGlite is closed');
  };
  return {
    async query(text, params, opts) {
      fenced();
      return pglite.query(text, params, opts);
    },
    async exec(text) {
      fenced();
      return pglite.exec(text);
    },
    get closed() {
      return released;
    },
    async close() {
      if (released) return;
      released = true;
      const list = idle.get(flavour) ?? [];
      idle.set(flavour, list);
      const same = await unchangedSchema(pglite, b);
      if (process.env.MDM_TEST_POOL_DEBUG && !same) console.error(`pglite pool: ${flavour} schema changed, not reused`);
      if (same && list.length < IDLE_MAX) list.push({ pglite, baseline: b });
      else await pglite.close();
    },
  };
}
