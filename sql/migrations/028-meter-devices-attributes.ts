import type { Migration } from './index.js';

/**
 * Meters over time (issue 16). A row of `meters` is a metering point (the
 * customer's supply point: installation number / EIC / PPE); its id and
 * every field stay as they were.
 *
 * - meter_devices: the devices installed on a point for a period [installed_from,
 *   installed_to) (null from: since the point's data begins; null to: still
 *   installed), with the register read at installation (initial_read) and at
 *   removal (final_read). At most one open device per point. Each existing meter
 *   gets one open device (serial = its external id, its register digits); a new
 *   meter gets one from the trigger below, and a PUT of registerDigits reaches
 *   the open device.
 * - meter_attributes: dated versions of portfolio, tariff, multiplier,
 *   profile_class, supply_start, supply_end; a version holds from its local
 *   date valid_from (the point's zone; '-infinity': since always) until the next
 *   version's. Bitemporal: a version replaced (a correction, or a PUT of the
 *   meter) keeps its row with superseded_at set, so `asOf` reads the registry as
 *   it was known then. The meters column holds the newest version's value (the
 *   current value) and is kept in step both ways: the repository writes the
 *   column after a dated change, and the trigger below records a change of the
 *   column (PUT /v1/meters, imports) as the new value of the newest version.
 *   Each existing meter gets one version per attribute, valid since always and
 *   known since always (recorded_at '-infinity'), so no figure changes.
 */
export const meterDevicesAttributes: Migration = {
  id: 28,
  name: 'meter-devices-attributes',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS meter_devices (
        id              bigserial PRIMARY KEY,
        meter_id        integer NOT NULL REFERENCES meters (id) ON DELETE CASCADE,
        serial          text NOT NULL,
        make            text,
        model           text,
        register_digits smallint CHECK (register_digits BETWEEN 4 AND 12),
        multiplier      double precision CHECK (multiplier > 0),
        installed_from  timestamptz,
        installed_to    timestamptz,
        initial_read    double precision,
        final_read      double precision,
        created_at      timestamptz NOT NULL DEFAULT now(),
        updated_at      timestamptz NOT NULL DEFAULT now(),
        CHECK (installed_from IS NULL OR installed_to IS NULL OR installed_to > installed_from)
      );
      CREATE UNIQUE INDEX IF NOT EXISTS meter_devices_open_idx ON meter_devices (meter_id) WHERE installed_to IS NULL;
      CREATE INDEX IF NOT EXISTS meter_devices_meter_idx ON meter_devices (meter_id, installed_from);

      CREATE TABLE IF NOT EXISTS meter_attributes (
        id            bigserial PRIMARY KEY,
        meter_id      integer NOT NULL REFERENCES meters (id) ON DELETE CASCADE,
        attribute     text NOT NULL CHECK (attribute IN ('portfolio', 'tariff', 'multiplier', 'profile_class', 'supply_start', 'supply_end')),
        valid_from    date NOT NULL,
        value         text,
        recorded_at   timestamptz NOT NULL DEFAULT now(),
        recorded_by   text,
        superseded_at timestamptz
      );
      CREATE UNIQUE INDEX IF NOT EXISTS meter_attributes_current_idx ON meter_attributes (meter_id, attribute, valid_from) WHERE superseded_at IS NULL;
      CREATE INDEX IF NOT EXISTS meter_attributes_value_idx ON meter_attributes (attribute, value);
      -- The few dated versions (not '-infinity'): what makes a meter leave the fast path of a period's figures.
      CREATE INDEX IF NOT EXISTS meter_attributes_dated_idx ON meter_attributes (valid_from, meter_id) WHERE valid_from > '-infinity'::date;
      CREATE INDEX IF NOT EXISTS meter_attributes_recorded_idx ON meter_attributes (recorded_at);
      CREATE INDEX IF NOT EXISTS meter_attributes_superseded_idx ON meter_attributes (superseded_at) WHERE superseded_at IS NOT NULL;

      INSERT INTO meter_devices (meter_id, serial, register_digits)
      SELECT m.id, m.external_id, m.register_digits FROM meters m
      WHERE NOT EXISTS (SELECT 1 FROM meter_devices d WHERE d.meter_id = m.id);

      INSERT INTO meter_attributes (meter_id, attribute, valid_from, value, recorded_at, recorded_by)
      SELECT m.id, a.attribute, '-infinity'::date, a.value, '-infinity'::timestamptz, 'migration 028'
      FROM meters m CROSS JOIN LATERAL (VALUES
        ('portfolio', m.portfolio), ('tariff', m.tariff), ('multiplier', m.multiplier::text),
        ('profile_class', m.profile_class), ('supply_start', m.supply_start::text), ('supply_end', m.supply_end::text)
      ) AS a(attribute, value)
      WHERE NOT EXISTS (SELECT 1 FROM meter_attributes x WHERE x.meter_id = m.id);

      CREATE OR REPLACE FUNCTION meter_attributes_follow() RETURNS trigger LANGUAGE plpgsql AS $fn$
      DECLARE
        a text;
        v text;
        cur record;
      BEGIN
        FOREACH a IN ARRAY ARRAY['portfolio', 'tariff', 'multiplier', 'profile_class', 'supply_start', 'supply_end'] LOOP
          v := CASE a
            WHEN 'portfolio' THEN NEW.portfolio
            WHEN 'tariff' THEN NEW.tariff
            WHEN 'multiplier' THEN NEW.multiplier::text
            WHEN 'profile_class' THEN NEW.profile_class
            WHEN 'supply_start' THEN NEW.supply_start::text
            ELSE NEW.supply_end::text END;
          SELECT id, valid_from, value INTO cur FROM meter_attributes
          WHERE meter_id = NEW.id AND attribute = a AND superseded_at IS NULL ORDER BY valid_from DESC LIMIT 1;
          IF NOT FOUND THEN
            INSERT INTO meter_attributes (meter_id, attribute, valid_from, value) VALUES (NEW.id, a, '-infinity', v);
          ELSIF cur.value IS DISTINCT FROM v THEN
            UPDATE meter_attributes SET superseded_at = now() WHERE id = cur.id;
            INSERT INTO meter_attributes (meter_id, attribute, valid_from, value) VALUES (NEW.id, a, cur.valid_from, v);
          END IF;
        END LOOP;
        IF TG_OP = 'INSERT' THEN
          INSERT INTO meter_devices (meter_id, serial, register_digits) VALUES (NEW.id, NEW.external_id, NEW.register_digits);
        ELSIF OLD.register_digits IS DISTINCT FROM NEW.register_digits THEN
          UPDATE meter_devices SET register_digits = NEW.register_digits, updated_at = now() WHERE meter_id = NEW.id AND installed_to IS NULL;
        END IF;
        RETURN NULL;
      END
      $fn$;
      DROP TRIGGER IF EXISTS meters_attributes_insert ON meters;
      CREATE TRIGGER meters_attributes_insert AFTER INSERT ON meters FOR EACH ROW EXECUTE FUNCTION meter_attributes_follow();
      DROP TRIGGER IF EXISTS meters_attributes_update ON meters;
      CREATE TRIGGER meters_attributes_update AFTER UPDATE ON meters FOR EACH ROW
        WHEN ((OLD.portfolio, OLD.tariff, OLD.multiplier, OLD.profile_class, OLD.supply_start, OLD.supply_end, OLD.register_digits)
              IS DISTINCT FROM (NEW.portfolio, NEW.tariff, NEW.multiplier, NEW.profile_class, NEW.supply_start, NEW.supply_end, NEW.register_digits))
        EXECUTE FUNCTION meter_attributes_follow();
    `);
  },
};
