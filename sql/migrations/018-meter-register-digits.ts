import type { Migration } from './index.js';

/**
 * The register digits of a meter (issue 12, defect 11): how many integer
 * digits its registers (indexes) show, so that VEE knows where a register no
 * Modbus device reads wraps to 0: at 10^digits in the register channel's unit
 * (kWh, m³), e.g. 6 digits: 999 999.99 → 0 at 1 000 000. A Modbus register
 * map's wrap point wins where a device reads the register
 * (ingest/vee/wrap-points.ts). Null: not known.
 */
export const meterRegisterDigits: Migration = {
  id: 18,
  name: 'meter-register-digits',
  async up(s) {
    await s.exec(`
      ALTER TABLE meters ADD COLUMN IF NOT EXISTS register_digits smallint;
      ALTER TABLE meters DROP CONSTRAINT IF EXISTS meters_register_digits_check;
      ALTER TABLE meters ADD CONSTRAINT meters_register_digits_check CHECK (register_digits BETWEEN 4 AND 12);
    `);
  },
};
