import { realTimers, type Timers } from './periodic.js';

/**
 * Ingest first, background work after (issue 14). While readings arrive at a
 * bulk rate (a head-end's backlog, a file, a gateway catching up), the
 * background loops of `mdm serve` (VEE, billing rollup) postpone their
 * rounds, so the arriving data has both the service's thread and the
 * database to itself; once the rate drops they are woken at once and catch
 * up. A steady trickle (a fleet reporting hourly) is not a bulk rate and
 * postpones nothing; a bulk load that lasts longer than `maxDeferMs` still
 * lets each loop run one round per `maxDeferMs`, so validation never stops.
 *
 * The rate is counted per instance: rows this process stored, in quarter
 * seconds over the last second; a load has ended when the rate falls below
 * the threshold or no rows came for half a second (less for a load whose
 * stores come faster: four times its usual pause, at least 150 ms).
 */
export interface IngestActivity {
  /** Ingest stored `rows` rows just now (every transport). */
  note(rows: number): void;
  /** Rows stored over the last second are at or above the bulk rate. */
  busy(): boolean;
  /** `fn` runs each time a bulk period ends (the rate fell below the threshold). Returns the unsubscribe. */
  onQuiet(fn: () => void): () => void;
  /**
   * A loop's gate: call it before each round; it returns 0 (run the round) or
   * the pause in ms before asking again. Each loop keeps its own gate (the
   * time it has been waiting).
   */
  gate(): () => number;
}

export interface IngestActivityOptions {
  /** Rows per second from which ingest counts as a bulk load; 0: never (nothing is postponed). */
  readonly busyRowsPerS: number;
  /** Longest a loop's round is postponed while the bulk load lasts. */
  readonly maxDeferMs: number;
  readonly now?: () => number;
  readonly timers?: Timers;
}

const BUCKET_MS = 250;
const BUCKETS = 4; // one second
/** A bulk load has ended when no rows came for this long (at the bulk rate, batches of up to 10 000 rows come at least this often). */
const SILENCE_MS = 500;
/**
 * …or for four times the usual pause between two stores of the load, when
 * that is shorter (a fast load stores every few tens of ms: waiting half a
 * second after its end only delays the catch-up), but never less than this.
 */
const MIN_SILENCE_MS = 150;

export function createIngestActivity(o: IngestActivityOptions): IngestActivity {
  const now = o.now ?? Date.now;
  const timers = o.timers ?? realTimers;
  const counts = new Float64Array(BUCKETS);
  let bucket = Math.floor(now() / BUCKET_MS);
  let watching: unknown;
  let lastNote = Number.NEGATIVE_INFINITY;
  /** Moving average of the pauses between stores while they come closer than SILENCE_MS. */
  let pauseMs = SILENCE_MS;
  const silenceMs = () => Math.min(SILENCE_MS, Math.max(MIN_SILENCE_MS, 4 * pauseMs));
  const quiet = new Set<() => void>();

  /** Moves the window to the current quarter second, clearing the quarters that passed. */
  const advance = () => {
    const b = Math.floor(now() / BUCKET_MS);
    for (let k = bucket + 1; k <= Math.min(b, bucket + BUCKETS); k++) counts[k % BUCKETS] = 0;
    bucket = Math.max(bucket, b);
  };
  const busy = () => {
    if (o.busyRowsPerS <= 0 || now() - lastNote >= silenceMs()) return false;
    advance();
    return counts.reduce((a, b) => a + b, 0) >= o.busyRowsPerS;
  };
  const watch = () => {
    watching = timers.setTimeout(
      () => {
        watching = undefined;
        if (busy()) return watch();
        for (const fn of [...quiet]) {
          try {
            fn();
          } catch {
            // a listener's failure is its own; the others still run
          }
        }
      },
      Math.min(BUCKET_MS, silenceMs() / 2),
    );
  };

  return {
    note(rows) {
      if (o.busyRowsPerS <= 0 || rows <= 0) return;
      const t = now();
      const pause = t - lastNote;
      pauseMs = pause < SILENCE_MS ? 0.8 * pauseMs + 0.2 * pause : SILENCE_MS; // a new load starts from the cautious default
      lastNote = t;
      advance();
      counts[bucket % BUCKETS] += rows;
      if (watching === undefined && busy()) watch();
    },
    busy,
    onQuiet(fn) {
      quiet.add(fn);
      return () => quiet.delete(fn);
    },
    gate() {
      let waitingSince: number | undefined;
      return () => {
        if (!busy()) {
          waitingSince = undefined;
          return 0;
        }
        const t = now();
        waitingSince ??= t;
        if (t - waitingSince >= o.maxDeferMs) {
          waitingSince = undefined; // one round now, then wait again
          return 0;
        }
        return BUCKET_MS;
      };
    },
  };
}
