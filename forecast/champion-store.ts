import type { Database } from '../sql/database.js';
import { promoteModel, retireModel, saveChallenger, type StoredForecastModel } from '../sql/forecast-model.repository.js';
import type { Challenge, RetrainResult } from './champion.js';

/**
 * The storing half of a retrain (forecast/champion.ts challenge decides,
 * in the forecast thread): on the main thread, with no model code loaded
 * (TensorFlow.js stays in the thread).
 */

/**
 * Stores a challenge's challenger for `target`, promoted or retired as it
 * decided; nothing for a skipped one.
 *
 * @example
 *   const r = await storeChallenge(database, 'portfolio:P1', champion, await threads.retrain(input));
 *   // r.outcome === 'promoted' → getChampion(database, 'portfolio:P1', 'ml') is r.model
 */
export async function storeChallenge(database: Database, target: string, champion: Pick<StoredForecastModel, 'id'> | undefined, c: Challenge, kind: 'ml' = 'ml'): Promise<RetrainResult> {
  if (c.outcome === 'skipped') return { outcome: 'skipped', reason: c.reason };
  const saved = await saveChallenger(database, { target, kind, artefact: c.artefact as unknown as Record<string, unknown>, metrics: { ...c.metrics }, dataCutoff: new Date(c.trainedToMs) });
  const common = { reason: c.reason, championId: champion?.id, challengerMetrics: c.challengerMetrics, championMetrics: c.championMetrics };
  if (c.promote) return { outcome: 'promoted', model: await promoteModel(database, saved.id), ...common };
  await retireModel(database, saved.id);
  return { outcome: 'retired', model: { ...saved, status: 'retired' }, ...common };
}
