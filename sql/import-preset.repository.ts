import type { Database } from './database.js';

/** A stored import preset: its options as stored (validate before use: adapters/file/import-options.ts). */
export interface ImportPresetRow {
  readonly name: string;
  readonly options: unknown;
  readonly description: string | null;
  readonly createdBy: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

const COLUMNS = ['name', 'options', 'description', 'created_by', 'created_at', 'updated_at'] as const;

type Row = { name: string; options: unknown; description: string | null; created_by: string | null; created_at: Date; updated_at: Date };
const out = (r: Row): ImportPresetRow => ({
  name: r.name,
  options: typeof r.options === 'string' ? JSON.parse(r.options) : r.options,
  description: r.description,
  createdBy: r.created_by,
  createdAt: r.created_at,
  updatedAt: r.updated_at,
});

/** The preset named `name`, or undefined. */
export async function findImportPreset(database: Database, name: string): Promise<ImportPresetRow | undefined> {
  const r = await database.db.selectFrom('import_presets').select(COLUMNS).where('name', '=', name).executeTakeFirst();
  return r ? out(r as Row) : undefined;
}

/** Every preset, by name (there are few: one per head-end or file shape). */
export async function listImportPresets(database: Database): Promise<ImportPresetRow[]> {
  const rows = await database.db.selectFrom('import_presets').select(COLUMNS).orderBy('name').limit(1000).execute();
  return rows.map((r) => out(r as Row));
}

/** Creates or replaces a preset; `created` tells which. */
export async function saveImportPreset(
  database: Database,
  p: { name: string; options: object; description?: string | null; createdBy: string | null },
): Promise<{ created: boolean; preset: ImportPresetRow }> {
  const json = JSON.stringify(p.options);
  const r = await database.db
    .insertInto('import_presets')
    .values({ name: p.name, options: json, description: p.description ?? null, created_by: p.createdBy })
    .onConflict((oc) => oc.column('name').doUpdateSet({ options: json, description: p.description ?? null, updated_at: new Date() }))
    .returning(COLUMNS)
    .executeTakeFirstOrThrow();
  return { created: r.created_at.getTime() === r.updated_at.getTime(), preset: out(r as Row) };
}

/** Deletes a preset; false when there was none. */
export async function deleteImportPreset(database: Database, name: string): Promise<boolean> {
  const r = await database.db.deleteFrom('import_presets').where('name', '=', name).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
