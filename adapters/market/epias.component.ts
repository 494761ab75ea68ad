import { localDate, shiftDate } from '../../models/calendar.js';
import { MdmError } from '../../models/errors.js';
import { createPeriodic, roundSlot, silentLog, type ComponentLog, type Timers } from '../../models/periodic.js';
import type { ClaimRound } from '../../models/work-metrics.js';
import type { Database } from '../../sql/database.js';
import { upsertPrices } from '../../sql/market.repository.js';
import { EPIAS_TZ } from './epias-csv.js';
import { EpiasTransparencyClient, type EpiasClientOptions } from './epias-transparency.js';

export interface EpiasFetchResult {
  readonly from: string;
  readonly to: string;
  readonly ptf: number;
  readonly smf: number;
}

/**
 * Fetches PTF and SMF for yesterday, today and tomorrow (Turkish local dates)
 * and stores them in market_prices (area TR, TRY, source epias-transparency);
 * tomorrow's PTF appears once the day-ahead market has cleared (early
 * afternoon), tomorrow's SMF the day after: what is not published yet is
 * simply not there.
 */
export async function fetchEpiasPrices(database: Database, client: EpiasTransparencyClient, nowMs: number): Promise<EpiasFetchResult> {
  const today = localDate(nowMs, EPIAS_TZ);
  const from = shiftDate(today, -1);
  const to = shiftDate(today, 1);
  const ptf = await client.series('ptf', from, to);
  const smf = await client.series('smf', from, to);
  const base = { area: 'TR', currency: 'TRY', source: 'epias-transparency' };
  // Zeros that look unpublished are held as such by upsertPrices (and released when a later run brings the real price).
  const nPtf = (await upsertPrices(database, { ...base, rows: ptf.map((r) => ({ startMs: r.startMs, ptf: r.value })) })).stored;
  const nSmf = (await upsertPrices(database, { ...base, rows: smf.map((r) => ({ startMs: r.startMs, smf: r.value })) })).stored;
  return { from, to, ptf: nPtf, smf: nSmf };
}

export interface EpiasComponentConfig {
  readonly EPIAS_FETCH_INTERVAL_MIN: number;
  readonly EPIAS_BASE_URL: string;
  readonly EPIAS_AUTH_URL: string;
  readonly EPIAS_USERNAME?: string;
  readonly EPIAS_PASSWORD?: string;
}

/**
 * `mdm serve` component: every EPIAS_FETCH_INTERVAL_MIN minutes (first run at
 * start) fetchEpiasPrices. Off (undefined) when the interval is 0, the
 * default. A failed run is logged and retried at the next tick; /health shows
 * the last run and the last error.
 */
export function epiasComponent(
  ctx: { readonly config: EpiasComponentConfig; readonly database: Database; readonly claimRound?: ClaimRound },
  deps: { readonly fetch?: EpiasClientOptions['fetch']; readonly timers?: Timers; readonly now?: () => number } = {},
) {
  const c = ctx.config;
  if (!c.EPIAS_FETCH_INTERVAL_MIN) return undefined;
  if (!c.EPIAS_USERNAME || !c.EPIAS_PASSWORD) {
    throw new MdmError('MDM_ERR_CONFIG', ['  EPIAS_USERNAME, EPIAS_PASSWORD: required when EPIAS_FETCH_INTERVAL_MIN > 0 (register at the EPİAŞ transparency platform)']);
  }
  const now = deps.now ?? Date.now;
  const client = new EpiasTransparencyClient({ baseUrl: c.EPIAS_BASE_URL, authUrl: c.EPIAS_AUTH_URL, username: c.EPIAS_USERNAME, password: c.EPIAS_PASSWORD, fetch: deps.fetch, now });
  let log: ComponentLog = silentLog;
  let last: (EpiasFetchResult & { at: string }) | undefined;
  let lastError: string | undefined;

  /** One run: a failure is logged and kept for the probe (a direct call too), never thrown. */
  async function tick(): Promise<void> {
    try {
      const r = await fetchEpiasPrices(ctx.database, client, now());
      last = { ...r, at: new Date(now()).toISOString() };
      lastError = undefined;
      log.info(r, 'EPİAŞ prices fetched');
    } catch (err) {
      lastError = (err as Error).message;
      log.error({ err }, 'EPİAŞ price fetch failed; retried at the next run');
    }
  }
  const everyMs = c.EPIAS_FETCH_INTERVAL_MIN * 60_000;
  // Instances sharing the database fetch each round once: the one that claims it.
  const claimed = async () => !ctx.claimRound || (await ctx.claimRound('epias.fetch', roundSlot(now(), everyMs)));
  const loop = createPeriodic({ tick: async () => void ((await claimed()) && (await tick())), everyMs, timers: deps.timers, onError: () => {} });

  return {
    name: 'epias',
    probe: { name: 'epias', check: () => ({ ok: lastError === undefined, lastRun: last ?? null, ...(lastError ? { error: lastError } : {}) }) },
    /** One run now (what the timer does). */
    tick,
    async start(l: ComponentLog) {
      log = l;
      loop.start(); // the first run right after start
    },
    stop: () => loop.stop(),
  };
}
