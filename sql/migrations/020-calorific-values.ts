import type { Migration } from './index.js';

/**
 * Gas areas and their calorific values (issue 15, models/gas/).
 *
 * gas_areas: one row per network area (a Turkish distribution area, an EU
 * balancing zone): its zone, the base conditions its volumes and calorific
 * values refer to, and the local hour its gas day starts.
 *
 * calorific_values: every version of every value. A period is keyed by (area,
 * kind, valid_from); the row with superseded_at NULL is the current one. A
 * re-upload with another value or end supersedes it (superseded_at set, a new
 * row with version + 1); an identical one changes nothing. As of an instant:
 * received_at <= asOf AND (superseded_at IS NULL OR superseded_at > asOf).
 * value_kwh_per_m3 is per m³ at the area's base conditions; value_received
 * and unit_received keep what was sent (kcal/m³ in Turkey).
 */
export const calorificValues: Migration = {
  id: 20,
  name: 'calorific-values',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS gas_areas (
        code                     text PRIMARY KEY,
        name                     text,
        timezone                 text NOT NULL,
        base_temperature_c       double precision NOT NULL,
        base_pressure_bar        double precision NOT NULL CHECK (base_pressure_bar > 0),
        combustion_temperature_c double precision NOT NULL,
        gas_day_start_hour       smallint NOT NULL CHECK (gas_day_start_hour BETWEEN 0 AND 23),
        atmospheric_pressure_bar double precision NOT NULL DEFAULT 1.01325 CHECK (atmospheric_pressure_bar > 0),
        note                     text,
        updated_at               timestamptz NOT NULL DEFAULT now(),
        updated_by               text
      );

      CREATE TABLE IF NOT EXISTS calorific_values (
        area             text NOT NULL REFERENCES gas_areas (code) ON DELETE CASCADE,
        kind             text NOT NULL CHECK (kind IN ('superior', 'inferior')),
        valid_from       timestamptz NOT NULL,
        version          integer NOT NULL,
        valid_to         timestamptz NOT NULL,
        value_kwh_per_m3 double precision NOT NULL CHECK (value_kwh_per_m3 > 0),
        value_received   double precision NOT NULL,
        unit_received    text NOT NULL,
        source           text,
        received_at      timestamptz NOT NULL DEFAULT now(),
        received_by      text,
        superseded_at    timestamptz,
        PRIMARY KEY (area, kind, valid_from, version),
        CHECK (valid_to > valid_from)
      );
      CREATE UNIQUE INDEX IF NOT EXISTS calorific_values_current ON calorific_values (area, kind, valid_from) WHERE superseded_at IS NULL;
    `);
  },
};
