import type { Migration } from './index.js';

/**
 * Prices "not yet published" (issue 12, defect 4). The EPİAŞ files and the
 * transparency platform carry `0,00` for hours whose prices are not published
 * yet (2016-03-27 04:00: PTF = SMF = 0; many SMF-only zeros). A PTF of 0 can be
 * real, so zeros are not dropped: each write judges the hours it wrote as they
 * stand after it (sql/market.repository.ts upsertPrices) and lists in
 * `unpublished` the price columns held as not yet published — every price of
 * the hour 0 (all of its columns), or SMF 0 where PTF is not (`smf`) — unless
 * the write confirmed its zeros. The stored value stays as received; readers
 * (GET /v1/market/prices, imbalance) take a listed column as absent.
 * Names are the API's: ptf, smf, positiveImbalance, negativeImbalance.
 */
export const marketUnpublished: Migration = {
  id: 16,
  name: 'market-unpublished',
  async up(s) {
    await s.exec(`ALTER TABLE market_prices ADD COLUMN IF NOT EXISTS unpublished text[]`);
  },
};
