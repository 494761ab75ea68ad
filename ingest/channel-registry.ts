import { setUserChannels } from '../models/channel.js';
import { listUserChannels } from '../sql/channel.repository.js';
import type { Database } from '../sql/database.js';

/**
 * Reads the user-defined channels (PUT /v1/channels/:name) into this
 * process's registry, so that the synchronous resolveChannel of every ingest
 * path knows them. Called when a database is opened, when the API starts,
 * after each PUT and periodically by the API (api/routes/channels.route.ts).
 * @returns how many user-defined channels were loaded
 */
export async function loadChannelRegistry(database: Database): Promise<number> {
  const defs = await listUserChannels(database);
  setUserChannels(defs);
  return defs.length;
}
