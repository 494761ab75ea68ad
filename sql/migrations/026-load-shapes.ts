import type { Migration } from './index.js';

/**
 * Load-shape profiles (issue 20, item 5): each computation of the profiles
 * (forecast/load-shape.ts: seeded k-means over the meters' normalised daily
 * shapes) is a run; its profiles (the centroid shapes, per season a
 * 72-value array of day type × local hour, as jsonb) and each meter's
 * profile with its distance. Readers use the newest run; the job keeps the
 * last few.
 */
export const loadShapes: Migration = {
  id: 26,
  name: 'load-shapes',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS load_shape_runs (
        id serial PRIMARY KEY,
        computed_at timestamptz NOT NULL DEFAULT now(),
        requested_by text,
        params jsonb NOT NULL,
        summary jsonb NOT NULL
      );
      CREATE TABLE IF NOT EXISTS load_shape_profiles (
        run_id int NOT NULL REFERENCES load_shape_runs (id) ON DELETE CASCADE,
        profile text NOT NULL,
        name text NOT NULL,
        members int NOT NULL,
        shape jsonb NOT NULL,
        features jsonb NOT NULL,
        PRIMARY KEY (run_id, profile)
      );
      CREATE TABLE IF NOT EXISTS load_shape_meters (
        run_id int NOT NULL REFERENCES load_shape_runs (id) ON DELETE CASCADE,
        meter_id int NOT NULL REFERENCES meters (id) ON DELETE CASCADE,
        profile text NOT NULL,
        assigned_by text NOT NULL CHECK (assigned_by IN ('shape', 'profileClass', 'group', 'largest')),
        distance float8,
        seasons text[] NOT NULL,
        days int NOT NULL,
        PRIMARY KEY (run_id, meter_id)
      );
      CREATE INDEX IF NOT EXISTS load_shape_meters_meter ON load_shape_meters (meter_id);`);
  },
};
