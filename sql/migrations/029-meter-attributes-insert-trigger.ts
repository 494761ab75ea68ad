import type { Migration } from './index.js';

/**
 * The versions and the device of new meters (migration 028) written per
 * statement instead of per row (issue 16): registering 10 000 meters in one
 * PUT ran the row trigger's 13 statements 10 000 times (~5 s on a loaded
 * 2-core machine); one INSERT … SELECT over the statement's new rows (a
 * transition table) writes the same rows. The update trigger stays per row:
 * it fires only for meters whose dated fields changed. The index on
 * recorded_at goes: the reads that need it look at dated or superseded
 * versions only, which their own partial indexes cover. And the foreign keys
 * to meters go (readings have none either; meters are never deleted): their
 * checks were most of the cost.
 */
export const meterAttributesInsertTrigger: Migration = {
  id: 29,
  name: 'meter-attributes-insert-trigger',
  async up(s) {
    await s.exec(`
      CREATE OR REPLACE FUNCTION meter_attributes_follow_inserted() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        INSERT INTO meter_attributes (meter_id, attribute, valid_from, value)
        SELECT n.id, a.attribute, '-infinity'::date, a.value
        FROM new_meters n CROSS JOIN LATERAL (VALUES
          ('portfolio', n.portfolio), ('tariff', n.tariff), ('multiplier', n.multiplier::text),
          ('profile_class', n.profile_class), ('supply_start', n.supply_start::text), ('supply_end', n.supply_end::text)
        ) AS a(attribute, value)
        WHERE NOT EXISTS (SELECT 1 FROM meter_attributes x WHERE x.meter_id = n.id AND x.attribute = a.attribute AND x.superseded_at IS NULL);
        INSERT INTO meter_devices (meter_id, serial, register_digits)
        SELECT n.id, n.external_id, n.register_digits FROM new_meters n
        WHERE NOT EXISTS (SELECT 1 FROM meter_devices d WHERE d.meter_id = n.id);
        RETURN NULL;
      END
      $fn$;
      -- Read only where a version is dated or superseded (sql/meter-attribute.repository.ts), which other indexes cover:
      -- not worth its upkeep on every registered meter's six versions.
      DROP INDEX IF EXISTS meter_attributes_recorded_idx;
      -- No foreign key to meters, as readings have none (meters are never deleted): checking it was most of the cost of
      -- registering meters (60 000 checks for 10 000 meters: ~1 s of the 1.3 s the versions took).
      ALTER TABLE meter_attributes DROP CONSTRAINT IF EXISTS meter_attributes_meter_id_fkey;
      ALTER TABLE meter_devices DROP CONSTRAINT IF EXISTS meter_devices_meter_id_fkey;
      DROP TRIGGER IF EXISTS meters_attributes_insert ON meters;
      CREATE TRIGGER meters_attributes_insert AFTER INSERT ON meters REFERENCING NEW TABLE AS new_meters
        FOR EACH STATEMENT EXECUTE FUNCTION meter_attributes_follow_inserted();
    `);
  },
};
