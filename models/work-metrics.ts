/**
 * What the background components of `mdm serve` report to the instance's
 * metrics (api/metrics.ts implements it; docs/operations.md lists the
 * series): rounds of periodic jobs run or left to another instance, forecast
 * runs and hook deliveries with their durations. Components built without it
 * (tests, the CLI) report nothing.
 */
export interface WorkMetrics {
  /** A round of periodic job `job`: run here (true) or claimed by another instance (false). */
  round(job: string, ran: boolean): void;
  /** A forecast run finished with `status` after `seconds` of execution. */
  forecastRun(status: string, seconds: number): void;
  /** A hook delivery ended (`delivered`, `failed`: gave up) `seconds` after its alarm transition. */
  delivery(outcome: 'delivered' | 'failed', seconds: number): void;
  /** An MQTT message was committed and acknowledged `seconds` after it arrived. */
  mqttMessage(seconds: number): void;
}

/**
 * Claims round `slot` of periodic job `job` for this instance: true when this
 * instance runs it (it claimed the round now or earlier), false when another
 * instance has it (sql/job-tick.repository.ts claimJobTick).
 */
export type ClaimRound = (job: string, slot: Date) => Promise<boolean>;
