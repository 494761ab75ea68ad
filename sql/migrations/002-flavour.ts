import type { Migration } from './index.js';

/**
 * TimescaleDB: readings and history become hypertables (7-day chunks),
 * compressed by meter/channel after 30 days, with an hourly continuous
 * aggregate refreshed every 15 min. Plain PostgreSQL: a view with the same
 * name and columns, so queries on top are the same.
 */
export const flavour: Migration = {
  id: 2,
  name: 'flavour-features',
  transaction: false, // continuous aggregates cannot be created inside a transaction
  async up(s, flavour) {
    if (flavour === 'timescaledb') {
      await s.query(`SELECT create_hypertable('readings', by_range('start', INTERVAL '7 days'), if_not_exists => true)`);
      await s.query(`SELECT create_hypertable('reading_history', by_range('start', INTERVAL '30 days'), if_not_exists => true)`);
      await s.query(`ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'meter_id, channel', timescaledb.compress_orderby = 'start')`);
      await s.query(`SELECT add_compression_policy('readings', INTERVAL '30 days', if_not_exists => true)`);
      await s.query(`
        CREATE MATERIALIZED VIEW IF NOT EXISTS readings_hourly
        WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
        SELECT meter_id, channel, time_bucket(INTERVAL '1 hour', start) AS bucket,
               sum(value) AS value_sum, count(*) AS value_count
        FROM readings
        WHERE channel IN (1, 2, 3, 4, 7)
        GROUP BY meter_id, channel, time_bucket(INTERVAL '1 hour', start)
        WITH NO DATA`);
      await s.query(
        `SELECT add_continuous_aggregate_policy('readings_hourly', start_offset => INTERVAL '35 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '15 minutes', if_not_exists => true)`,
      );
    } else {
      await s.query(`
        CREATE OR REPLACE VIEW readings_hourly AS
        SELECT meter_id, channel, date_trunc('hour', start) AS bucket,
               sum(value) AS value_sum, count(*) AS value_count
        FROM readings
        WHERE channel IN (1, 2, 3, 4, 7)
        GROUP BY meter_id, channel, date_trunc('hour', start)`);
    }
  },
};
