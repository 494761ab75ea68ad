import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../sql/database.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

/**
 * Database.session (sql/database.ts): `db` is Kysely bound to the session's
 * one connection, a transaction unless `{ transaction: false }`; `raw` reaches
 * the same connection (COPY, migrations).
 */
describe.each(FLAVOURS)('database sessions (%s)', (flavour) => {
  let database: Database;
  const batches = async (transport: string) => (await database.db.selectFrom('ingest_batches').select('id').where('transport', '=', transport).execute()).length;

  beforeAll(async () => {
    database = await freshDatabase(flavour);
  });
  afterAll(() => database?.close());

  it('commits the builder writes of a session, rolls them back on error and rethrows that error', async () => {
    const id = await database.session(async ({ db }) => (await db.insertInto('ingest_batches').values({ transport: 'kept' }).returning('id').executeTakeFirstOrThrow()).id);
    expect(id).toBeGreaterThan(0);
    expect(await batches('kept')).toBe(1);
    const failed = database.session(async ({ db }) => {
      await db.insertInto('ingest_batches').values({ transport: 'undone' }).execute();
      await sql`SELECT 1 / 0`.execute(db);
    });
    await expect(failed).rejects.toMatchObject({ code: '22012' }); // division_by_zero, not a ROLLBACK error
    expect(await batches('undone')).toBe(0);
  });

  it('runs db and raw on one connection, inside one transaction', async () => {
    const seen = await database.session(async ({ db, raw }) => {
      await sql`SET LOCAL application_name = 'mdm-session-test'`.execute(db);
      await sql`CREATE TEMP TABLE session_probe (v int) ON COMMIT DROP`.execute(db);
      await raw.copyFrom('COPY session_probe FROM STDIN', '1\n2\n');
      const { rows } = await sql<{ n: number; app: string }>`SELECT count(*)::int AS n, current_setting('application_name') AS app FROM session_probe`.execute(db);
      const [inTx] = await raw.query<{ tx: boolean }>('SELECT txid_current_if_assigned() IS NOT NULL AS tx');
      return { ...rows[0], tx: inTx.tx };
    });
    expect(seen).toEqual({ n: 2, app: 'mdm-session-test', tx: true });
  });

  it('runs without BEGIN when asked (transaction: false): each statement commits on its own', async () => {
    const failed = database.session(
      async ({ db }) => {
        await db.insertInto('ingest_batches').values({ transport: 'autocommit' }).execute();
        await sql`SELECT 1 / 0`.execute(db);
      },
      { transaction: false },
    );
    await expect(failed).rejects.toMatchObject({ code: '22012' });
    expect(await batches('autocommit')).toBe(1);
  });

  it('runs concurrent sessions apart (one at a time on PGlite, one connection each on a server): each sees its own rows, all commit', async () => {
    const counts = await Promise.all(
      [1, 2, 3, 4].map((i) =>
        database.session(async ({ db }) => {
          await db
            .insertInto('ingest_batches')
            .values({ transport: `concurrent-${i}` })
            .execute();
          await new Promise((r) => setTimeout(r, 10));
          const rows = await db.selectFrom('ingest_batches').select('transport').where('transport', 'like', 'concurrent-%').execute();
          return rows.map((r) => r.transport).includes(`concurrent-${i}`);
        }),
      ),
    );
    expect(counts).toEqual([true, true, true, true]);
    expect((await database.db.selectFrom('ingest_batches').select('id').where('transport', 'like', 'concurrent-%').execute()).length).toBe(4);
  });
});
