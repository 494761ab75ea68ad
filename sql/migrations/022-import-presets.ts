import type { Migration } from './index.js';

/**
 * Named import mapping presets (issue 17): the options of a readings file
 * import (adapters/file/import-options.ts: layout, column mapping, time zone,
 * decimal mark, encoding, quality map…) saved under a name, so that the
 * monthly file of one head-end imports with `preset=<name>`. Options are
 * stored as the validated JSON object; the API and the CLI validate them again
 * on use (a preset written by an older version is reported, not trusted).
 */
export const importPresets: Migration = {
  id: 22,
  name: 'import-presets',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS import_presets (
        name text PRIMARY KEY CHECK (length(name) BETWEEN 1 AND 100),
        options jsonb NOT NULL,
        description text,
        created_by text,
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      )`);
  },
};
