import type { Migration } from './index.js';

/**
 * billing_daily.max_received: when the newest batch behind a rollup row was
 * received. A row is what the data looked like at any instant T ≥ it (no
 * later version of its values exists), so asOf reads use it too; NULL (rows
 * from before this column) → read from the readings.
 */
export const billingRollupAsOf: Migration = {
  id: 8,
  name: 'billing-rollup-asof',
  async up(s) {
    await s.exec(`ALTER TABLE billing_daily ADD COLUMN IF NOT EXISTS max_received timestamptz`);
  },
};
