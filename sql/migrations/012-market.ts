import type { Migration } from './index.js';

/**
 * Market data for imbalance (issue 7): hourly prices per market area, a
 * portfolio's purchased positions per hour and channel, optional meter-level
 * nominations, and the imbalance price rules with effective dates.
 *
 * Prices are per MWh in `currency`; energies in MWh. An hour is keyed by its
 * UTC start instant. A row may hold only PTF or only SMF (the EPİAŞ files come
 * one series per file); imbalance needs both, or the published imbalance prices.
 *
 * imbalance_price_rules: used only for hours without published imbalance
 * prices. `rule` names the formula (one today, `min-max-k`: positive =
 * min(PTF, SMF) × (1 − k_positive), negative = max(PTF, SMF) × (1 + k_negative));
 * the rule in force on an hour's local date is the one with the latest
 * effective_from ≤ that date. Seeded with Turkey before 2026 (k = 3 %,
 * forecast/imbalance.ts TR_RULES); new rules go in through PUT
 * /v1/market/imbalance-rules, no code change.
 */
export const market: Migration = {
  id: 12,
  name: 'market',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS market_prices (
        area               text NOT NULL,
        start              timestamptz NOT NULL,
        currency           text NOT NULL,
        ptf                double precision,
        smf                double precision,
        positive_imbalance double precision,
        negative_imbalance double precision,
        system_direction   text CHECK (system_direction IN ('surplus', 'deficit', 'balanced')),
        source             text NOT NULL,
        updated_at         timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (area, start)
      );

      CREATE TABLE IF NOT EXISTS positions (
        portfolio  text NOT NULL,
        start      timestamptz NOT NULL,
        bilateral  double precision NOT NULL DEFAULT 0,
        day_ahead  double precision NOT NULL DEFAULT 0,
        intraday   double precision NOT NULL DEFAULT 0,
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (portfolio, start)
      );

      CREATE TABLE IF NOT EXISTS nominations (
        portfolio  text NOT NULL,
        meter_id   integer NOT NULL REFERENCES meters (id) ON DELETE CASCADE,
        start      timestamptz NOT NULL,
        mwh        double precision NOT NULL CHECK (mwh >= 0),
        updated_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (portfolio, start, meter_id)
      );

      CREATE TABLE IF NOT EXISTS imbalance_price_rules (
        area           text NOT NULL,
        effective_from date NOT NULL,
        rule           text NOT NULL DEFAULT 'min-max-k' CHECK (rule IN ('min-max-k')),
        k_positive     double precision NOT NULL CHECK (k_positive >= 0 AND k_positive < 1),
        k_negative     double precision NOT NULL CHECK (k_negative >= 0),
        note           text,
        created_at     timestamptz NOT NULL DEFAULT now(),
        created_by     text,
        PRIMARY KEY (area, effective_from)
      );
      INSERT INTO imbalance_price_rules (area, effective_from, rule, k_positive, k_negative, note, created_by)
      VALUES ('TR', '2000-01-01', 'min-max-k', 0.03, 0.03, 'Turkey before 2026: min/max(PTF, SMF) -/+ 3 %', 'migration 012')
      ON CONFLICT DO NOTHING;
    `);
  },
};
