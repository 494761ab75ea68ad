import { Kysely, PostgresDialect, type PostgresPool, type PostgresPoolClient } from 'kysely';
import type { DB } from './types.js';

export type Engine = 'pglite' | 'pg';
/** Storage flavour: TimescaleDB features when the extension is there, plain PostgreSQL otherwise. */
export type Flavour = 'timescaledb' | 'postgres';

/**
 * Raw SQL on a session's connection: the escape hatch for `COPY` and
 * migrations only. Everything else goes through `Session.db`.
 */
export interface RawSql {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  /** Runs a script of several statements without parameters (migrations). */
  exec(sql: string): Promise<void>;
  /** Runs `COPY … FROM STDIN` (text, csv or binary format) with `data` as its input. */
  copyFrom(copySql: string, data: string | Uint8Array<ArrayBuffer>): Promise<void>;
}

/**
 * One connection held for a unit of work. `db` is Kysely bound to that
 * connection: a `Transaction<DB>` inside BEGIN/COMMIT (the default), so the
 * typed builder and `sql` templates run in the transaction; `raw` reaches the
 * same connection for COPY (and migrations).
 * @example await database.session(async (s) => { await s.db.updateTable('hooks').set({ active: false }).where('id', '=', id).execute(); })
 */
export interface Session {
  readonly db: Kysely<DB>;
  readonly raw: RawSql;
}

export interface Database {
  readonly db: Kysely<DB>;
  readonly engine: Engine;
  /** Set by the migrator from the stored choice (`mdm_settings.flavour`). */
  flavour: Flavour;
  /**
   * Runs `fn` on one connection; inside BEGIN/COMMIT unless `transaction: false`
   * (on error: ROLLBACK, and the original error is rethrown). On PGlite the
   * session holds the single connection, so sessions and `db` queries never interleave.
   */
  session<T>(fn: (s: Session) => Promise<T>, opts?: { transaction?: boolean }): Promise<T>;
  /** Connections of the server pool (`pg` only; PGlite has one connection): for /metrics. */
  poolStats?(): { readonly total: number; readonly idle: number; readonly waiting: number };
  close(): Promise<void>;
}

// OIDs: int8, numeric → JS numbers (counts and sums stay well below 2^53);
// date → 'YYYY-MM-DD' text (a calendar date has no time zone).
const INT8 = 20;
const NUMERIC = 1700;
const DATE = 1082;

/** What Kysely's PostgresDriver needs of a client: query(), and release(discard). */
type Querier = Pick<PostgresPoolClient, 'query'>;

/** A connection's own Kysely instance, made once per connection and kept while it lives. */
interface Bound {
  readonly db: Kysely<DB>;
  /** The running session's: hears that Kysely discarded the connection (its ROLLBACK failed). */
  onDiscard: () => void;
}
const boundKysely = new WeakMap<Querier, Bound>();

function boundTo(conn: Querier): Bound {
  let b = boundKysely.get(conn);
  if (b === undefined) {
    const entry: Bound = { db: undefined as unknown as Kysely<DB>, onDiscard: () => {} };
    // A one-client "pool" over the held connection: release is the session owner's, not Kysely's.
    const client = {
      query: conn.query.bind(conn),
      release: (discard?: boolean) => {
        if (!discard) return;
        boundKysely.delete(conn); // Kysely marks a discarded connection unusable for good
        entry.onDiscard();
      },
    } as unknown as PostgresPoolClient;
    (entry as { db: Kysely<DB> }).db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: { connect: async () => client, end: async () => {} } }) });
    boundKysely.set(conn, (b = entry));
  }
  return b;
}

/**
 * Runs `fn` with a Session on one already-held connection `conn` (the same
 * object each time the connection is handed out). The transaction is a Kysely
 * ControlledTransaction, so a failing ROLLBACK never hides the error that
 * caused it. `onDiscard` hears of a connection that is broken (its ROLLBACK failed).
 */
async function runSession<T>(conn: Querier, raw: RawSql, fn: (s: Session) => Promise<T>, tx: boolean, onDiscard: () => void): Promise<T> {
  const bound = boundTo(conn);
  bound.onDiscard = onDiscard;
  const session = (db: Kysely<DB>): Session => ({ db, raw });
  if (!tx) return fn(session(bound.db));
  const trx = await bound.db.startTransaction().execute();
  try {
    const out = await fn(session(trx));
    await trx.commit().execute();
    return out;
  } catch (err) {
    if (!trx.isCommitted && !trx.isRolledBack) {
      await trx
        .rollback()
        .execute()
        .catch(() => {
          boundKysely.delete(conn);
          onDiscard();
        });
    }
    throw err;
  }
}

/* ---------------------------------------------------------------- server */

/** Opens a PostgreSQL server database through `pg` (pool) and pg-copy-streams. */
export async function createPgDatabase(url: string, opts: { max?: number } = {}): Promise<Database> {
  const pg = (await import('pg')).default;
  const { from: copyFrom } = await import('pg-copy-streams');
  const types = {
    getTypeParser: (oid: number, format?: 'text' | 'binary') => {
      if (oid === INT8 || oid === NUMERIC) return (v: string) => Number(v);
      if (oid === DATE) return (v: string) => v;
      return pg.types.getTypeParser(oid, format);
    },
  };
  const pool = new pg.Pool({ connectionString: url, max: opts.max ?? 10, types });
  pool.on('error', () => {}); // idle-client errors surface on the next query instead of crashing the process
  // Fail fast with a clear message when the server is unreachable.
  const probe = await pool.connect().catch((err: Error) => {
    throw new Error(`cannot connect to DATABASE_URL (${redact(url)}): ${err.message}`, { cause: err });
  });
  probe.release();
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool: pool as unknown as PostgresPool }) });
  return {
    db,
    engine: 'pg',
    flavour: 'postgres',
    poolStats: () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount }),
    async session(fn, o = {}) {
      const client = await pool.connect();
      const raw: RawSql = {
        query: async (sql, params) => (await client.query(sql, params as unknown[])).rows,
        exec: async (sql) => {
          await client.query(sql);
        },
        copyFrom: (sql, data) =>
          new Promise<void>((resolve, reject) => {
            const stream = client.query(copyFrom(sql));
            stream.on('error', reject);
            stream.on('finish', resolve);
            stream.end(data);
          }),
      };
      let broken = false;
      try {
        return await runSession(client as unknown as Querier, raw, fn, o.transaction !== false, () => (broken = true));
      } finally {
        client.release(broken); // a connection whose ROLLBACK failed is closed, not pooled
      }
    },
    async close() {
      await db.destroy();
      // Kysely ends the pool only if it ever opened a connection itself; a
      // process that only used session() would otherwise keep idle clients alive.
      if (!pool.ended) await pool.end();
    },
  };
}

export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

/* -------------------------------------------------------------- embedded */

/** The part of PGlite we use; satisfied by @electric-sql/pglite and its TimescaleDB build. */
export interface PGliteLike {
  query<R>(sql: string, params?: unknown[], opts?: { blob?: Blob }): Promise<{ rows: R[]; affectedRows?: number }>;
  exec(sql: string): Promise<unknown>;
  close(): Promise<void>;
  readonly closed?: boolean;
}

/** PGlite is one connection: a FIFO mutex hands it to one user at a time. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  lock(): Promise<() => void> {
    let release!: () => void;
    const next = new Promise<void>((r) => (release = r));
    const ready = this.tail.then(() => release);
    this.tail = this.tail.then(() => next);
    return ready;
  }
}

function commandOf(sql: string): string {
  return /^\s*(?:with\b[\s\S]*?\)\s*)?(\w+)/i.exec(sql)?.[1]?.toUpperCase() ?? '';
}

/**
 * Wraps a PGlite instance as a Database. Kysely gets a one-client "pool" whose
 * connect() waits for the mutex, so transactions never interleave.
 */
export function createPgliteDatabase(pglite: PGliteLike): Database {
  const mutex = new Mutex();
  const run = async <R>(sql: string, params?: readonly unknown[]) => pglite.query<R>(sql, params as unknown[]);
  const client = (release: () => void): PostgresPoolClient =>
    ({
      async query(sql: string, params: readonly unknown[]) {
        const r = await run<Record<string, unknown>>(sql, params);
        return { rows: r.rows, rowCount: r.affectedRows ?? r.rows.length, command: commandOf(sql) };
      },
      release,
    }) as unknown as PostgresPoolClient;
  const pool: PostgresPool = {
    connect: async () => client(await mutex.lock()),
    end: async () => {
      if (!pglite.closed) await pglite.close();
    },
  };
  const db = new Kysely<DB>({ dialect: new PostgresDialect({ pool }) });
  const held = client(() => {}); // the connection as a session holds it (the mutex is the session's)
  return {
    db,
    engine: 'pglite',
    flavour: 'postgres',
    async session(fn, o = {}) {
      const release = await mutex.lock();
      const raw: RawSql = {
        query: async (sql, params) => (await run(sql, params)).rows as never,
        exec: async (sql) => {
          await pglite.exec(sql);
        },
        async copyFrom(sql, data) {
          // PGlite reads COPY input from a virtual /dev/blob file.
          await pglite.query(sql.replace(/\bFROM\s+STDIN\b/i, "FROM '/dev/blob'"), [], { blob: new Blob([data]) });
        },
      };
      try {
        return await runSession(held, raw, fn, o.transaction !== false, () => {});
      } finally {
        release();
      }
    },
    async close() {
      await db.destroy();
      await pool.end(); // Kysely skips it when it never connected (session()-only use): PGlite would keep the process alive
    },
  };
}

/** PGlite type parsers matching the server flavour's. */
export const PGLITE_PARSERS = {
  [INT8]: (v: string) => Number(v),
  [NUMERIC]: (v: string) => Number(v),
  [DATE]: (v: string) => v,
};

/** Opens the embedded database persisted in `dir` (created when missing). */
export async function createEmbeddedDatabase(dir: string | undefined): Promise<Database> {
  const { PGlite } = await import('@electric-sql/pglite');
  const pglite = await PGlite.create(dir ? { dataDir: dir, parsers: PGLITE_PARSERS } : { parsers: PGLITE_PARSERS });
  return createPgliteDatabase(pglite as unknown as PGliteLike);
}
