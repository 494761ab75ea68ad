import type { Migration } from './index.js';

/**
 * The gas area of a meter (issue 15): the network area (PUT /v1/gas-areas)
 * whose base conditions its volumes are converted to and whose calorific
 * values turn them into energy. Null: none (a gas meter is then billed on its
 * volume at metering conditions only). No foreign key: a meter registry may be
 * loaded before the areas; billing names an area that does not exist.
 */
export const meterGasArea: Migration = {
  id: 23,
  name: 'meter-gas-area',
  async up(s) {
    await s.exec(`ALTER TABLE meters ADD COLUMN IF NOT EXISTS gas_area text;`);
  },
};
