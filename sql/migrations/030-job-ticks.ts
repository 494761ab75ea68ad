import type { Migration } from './index.js';

/**
 * Which instance ran which round of a periodic job (issue 19): a job's round
 * is claimed by inserting its (job, slot) row; the instance whose insert wins
 * runs it, the others skip that slot. So a silence check, a readiness run, an
 * EPİAŞ fetch or a scheduled forecast runs once per tick however many
 * instances share the database (sql/job-tick.repository.ts).
 */
export const jobTicks: Migration = {
  id: 30,
  name: 'job-ticks',
  async up(s) {
    await s.exec(`
      CREATE TABLE IF NOT EXISTS job_ticks (
        job        text NOT NULL,
        slot       timestamptz NOT NULL,
        instance   text NOT NULL,
        claimed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (job, slot)
      );`);
  },
};
