import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Database } from '../sql/database.js';
import { SCHEMA_COLUMNS } from '../sql/schema-columns.js';
import { FLAVOURS, freshDatabase } from './helpers.js';

/**
 * Issue 13 §1: sql/types.ts must not drift from sql/migrations. tsc holds
 * sql/schema-columns.ts to the interfaces of types.ts; this test holds it to
 * the schema the migrations build, both ways: a table or column the database
 * has and types.ts lacks fails, the reverse fails, and so does a column
 * whose nullability differs (base tables only: information_schema reports
 * every view column nullable).
 */

interface ColumnRow {
  table_name: string;
  table_type: string;
  column_name: string;
  is_nullable: 'YES' | 'NO';
}

/** `table.column` → nullable (null for a view column, whose nullability information_schema does not know). */
type ColumnMap = Map<string, boolean | null>;

function declared(): ColumnMap {
  const out: ColumnMap = new Map();
  for (const [table, columns] of Object.entries(SCHEMA_COLUMNS)) {
    for (const [column, nullable] of Object.entries(columns)) out.set(`${table}.${column}`, nullable);
  }
  return out;
}

async function migrated(database: Database): Promise<ColumnMap> {
  const { rows } = await sql<ColumnRow>`
    SELECT c.table_name, t.table_type, c.column_name, c.is_nullable
    FROM information_schema.columns c
    JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE c.table_schema = 'public'
    ORDER BY c.table_name, c.ordinal_position`.execute(database.db);
  return new Map(rows.map((r) => [`${r.table_name}.${r.column_name}`, r.table_type === 'VIEW' ? null : r.is_nullable === 'YES']));
}

/** Every disagreement between the database and sql/types.ts, one readable line each. */
function drift(db: ColumnMap, ts: ColumnMap): string[] {
  const out: string[] = [];
  for (const [key, nullable] of db) {
    if (!ts.has(key)) out.push(`${key}: in the migrated database, missing from sql/types.ts (and sql/schema-columns.ts)`);
    else if (nullable !== null && ts.get(key) !== nullable) out.push(`${key}: ${nullable ? 'nullable' : 'NOT NULL'} in the database, ${nullable ? 'NOT NULL' : 'nullable'} in sql/types.ts`);
  }
  for (const key of ts.keys()) if (!db.has(key)) out.push(`${key}: in sql/types.ts, not in the migrated database`);
  return out.sort();
}

describe('drift check (pure)', () => {
  it('reports a column on either side only and a nullability mismatch, and ignores view nullability', () => {
    const db: ColumnMap = new Map([
      ['t.a', false],
      ['t.b', true],
      ['t.new', false],
      ['v.x', null],
    ]);
    const ts: ColumnMap = new Map([
      ['t.a', false],
      ['t.b', false],
      ['t.gone', true],
      ['v.x', false],
    ]);
    expect(drift(db, ts)).toEqual([
      't.b: nullable in the database, NOT NULL in sql/types.ts',
      't.gone: in sql/types.ts, not in the migrated database',
      't.new: in the migrated database, missing from sql/types.ts (and sql/schema-columns.ts)',
    ]);
  });
});

describe.each(FLAVOURS)('sql/types.ts against the migrated schema (%s)', (flavour) => {
  let database: Database;
  beforeAll(async () => {
    database = await freshDatabase(flavour);
  });
  afterAll(async () => {
    await database?.close();
  });

  it('declares exactly the tables and columns the migrations create, with their nullability', async () => {
    const db = await migrated(database);
    expect(db.size).toBeGreaterThan(300); // the query saw the schema
    expect(drift(db, declared())).toEqual([]);
  });
});
