import { sql } from 'kysely';
import type { Database } from './database.js';
import type { ForecastModelStatus } from './types.js';

/**
 * Stored forecast model artefacts (forecast_models, migration 014): save a
 * challenger, read the champion, promote or retire. The decision to promote
 * is the caller's (forecast/models/ml-registry.ts shouldPromote).
 */

export interface StoredForecastModel {
  readonly id: number;
  readonly target: string;
  readonly kind: string;
  readonly version: number;
  readonly status: ForecastModelStatus;
  readonly artefact: Record<string, unknown>;
  readonly metrics: Record<string, unknown> | null;
  readonly trainedAt: Date;
  readonly dataCutoff: Date;
  readonly promotedAt: Date | null;
}

export interface NewForecastModel {
  readonly target: string;
  readonly kind: string;
  readonly artefact: Record<string, unknown>;
  readonly metrics?: Record<string, unknown> | null;
  readonly dataCutoff: Date;
}

const COLUMNS = ['id', 'target', 'kind', 'version', 'status', 'artefact', 'metrics', 'trained_at', 'data_cutoff', 'promoted_at'] as const;

type Row = {
  id: number;
  target: string;
  kind: string;
  version: number;
  status: ForecastModelStatus;
  artefact: Record<string, unknown>;
  metrics: Record<string, unknown> | null;
  trained_at: Date;
  data_cutoff: Date;
  promoted_at: Date | null;
};

function toModel(r: Row): StoredForecastModel {
  return {
    id: Number(r.id),
    target: r.target,
    kind: r.kind,
    version: r.version,
    status: r.status,
    artefact: r.artefact,
    metrics: r.metrics,
    trainedAt: r.trained_at,
    dataCutoff: r.data_cutoff,
    promotedAt: r.promoted_at,
  };
}

/**
 * Stores `model` as the next version of its (target, kind), status
 * challenger. Versions count from 1; two concurrent saves for the same
 * target and kind serialise on a transaction-scoped advisory lock.
 */
export async function saveChallenger(database: Database, model: NewForecastModel): Promise<StoredForecastModel> {
  return database.db.transaction().execute(async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext(${`forecast_models|${model.target}|${model.kind}`}))`.execute(trx);
    const { rows } = await sql<Row>`
      INSERT INTO forecast_models (target, kind, version, status, artefact, metrics, data_cutoff)
      SELECT ${model.target}, ${model.kind}, coalesce(max(version), 0) + 1, 'challenger',
             ${JSON.stringify(model.artefact)}::jsonb, ${model.metrics == null ? null : JSON.stringify(model.metrics)}::jsonb, ${model.dataCutoff}
      FROM forecast_models WHERE target = ${model.target} AND kind = ${model.kind}
      RETURNING ${sql.join(COLUMNS.map((c) => sql.ref(c)))}`.execute(trx);
    return toModel(rows[0]);
  });
}

/** The champion of `target` and `kind`, or undefined when none has been promoted. */
export async function getChampion(database: Database, target: string, kind: string): Promise<StoredForecastModel | undefined> {
  const row = await database.db.selectFrom('forecast_models').select(COLUMNS).where('target', '=', target).where('kind', '=', kind).where('status', '=', 'champion').executeTakeFirst();
  return row ? toModel(row as Row) : undefined;
}

/** One stored model by id. */
export async function getForecastModel(database: Database, id: number): Promise<StoredForecastModel | undefined> {
  const row = await database.db.selectFrom('forecast_models').select(COLUMNS).where('id', '=', id).executeTakeFirst();
  return row ? toModel(row as Row) : undefined;
}

/** Every stored version of `target` (all kinds), newest first. */
export async function listForecastModels(database: Database, target: string): Promise<StoredForecastModel[]> {
  const rows = await database.db.selectFrom('forecast_models').select(COLUMNS).where('target', '=', target).orderBy('kind').orderBy('version', 'desc').execute();
  return rows.map((r) => toModel(r as Row));
}

/**
 * Makes model `id` the champion of its target and kind (promoted_at = now);
 * the previous champion, if any, is retired in the same transaction. Returns
 * the promoted model, or undefined when `id` does not exist or is retired.
 * Also records the metrics the decision used when given.
 */
export async function promoteModel(database: Database, id: number, metrics?: Record<string, unknown>): Promise<StoredForecastModel | undefined> {
  return database.db.transaction().execute(async (trx) => {
    const model = await trx.selectFrom('forecast_models').select(['target', 'kind', 'status']).where('id', '=', id).forUpdate().executeTakeFirst();
    if (!model || model.status === 'retired') return undefined;
    await trx
      .updateTable('forecast_models')
      .set({ status: 'retired' })
      .where('target', '=', model.target)
      .where('kind', '=', model.kind)
      .where('status', '=', 'champion')
      .where('id', '<>', id)
      .execute();
    const row = await trx
      .updateTable('forecast_models')
      .set({ status: 'champion', promoted_at: sql<Date>`now()`, ...(metrics ? { metrics: JSON.stringify(metrics) } : {}) })
      .where('id', '=', id)
      .returning(COLUMNS)
      .executeTakeFirstOrThrow();
    return toModel(row as Row);
  });
}

/** Retires model `id` (a challenger that lost, or a champion taken out of use). Records `metrics` when given. */
export async function retireModel(database: Database, id: number, metrics?: Record<string, unknown>): Promise<boolean> {
  const r = await database.db
    .updateTable('forecast_models')
    .set({ status: 'retired', ...(metrics ? { metrics: JSON.stringify(metrics) } : {}) })
    .where('id', '=', id)
    .executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}
