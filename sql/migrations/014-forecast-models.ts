import type { Migration } from './index.js';

/**
 * Stored, versioned forecast model artefacts (issue 5, champion/challenger).
 * A retrain saves a `challenger`; it becomes the `champion` of its target and
 * kind only when it beats the current champion on the same backtest (the
 * champion it replaces is `retired`; a losing challenger is retired too).
 * At most one champion per (target, kind). `version` counts per (target, kind)
 * from 1. `artefact` is the kind's own JSON (ml: topology, base64 Float32
 * weights, scalers, feature names, format version); `metrics` the backtest
 * figures the promotion decision used.
 */
export const forecastModels: Migration = {
  id: 14,
  name: 'forecast-models',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS forecast_models (
        id          bigserial PRIMARY KEY,
        target      text NOT NULL,
        kind        text NOT NULL,
        version     integer NOT NULL,
        status      text NOT NULL DEFAULT 'challenger' CHECK (status IN ('champion', 'challenger', 'retired')),
        artefact    jsonb NOT NULL,
        metrics     jsonb,
        trained_at  timestamptz NOT NULL DEFAULT now(),
        data_cutoff timestamptz NOT NULL,
        promoted_at timestamptz,
        UNIQUE (target, kind, version)
      );
      CREATE UNIQUE INDEX IF NOT EXISTS forecast_models_champion_idx ON forecast_models (target, kind) WHERE status = 'champion';
    `);
  },
};
