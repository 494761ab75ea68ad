import { holidayCalendar } from '../models/holidays.js';
import { MdmError } from '../models/errors.js';
import { storedInstant } from '../models/input-schemas.js';
import { areaTimezone } from '../models/market.js';
import { MAX_IMBALANCE_DAYS, MAX_OFFER_DAYS, MAX_OFFER_HOURS, type OfferRequest } from '../models/offer.js';
import { DAY_MS } from '../models/time.js';
import type { Database } from '../sql/database.js';
import { loadHourlyHistory } from '../sql/forecast.repository.js';
import { bucketImbalance } from '../sql/imbalance.repository.js';
import { areaCurrency, listPrices } from '../sql/market.repository.js';
import { mainPortfolioOf } from '../sql/offer.repository.js';
import { getPortfolioSettings } from '../sql/portfolio.repository.js';
import { offerCost, typicalProfile, type OfferCost } from './offer-cost.js';
import { parseTarget, resolveTarget } from './target.js';

/**
 * The database side of an offer cost (POST /v1/offers/cost, `mdm offer-cost`):
 * the profile (a target's stored hours, its typical profile, or the uploaded
 * one), the prices (stored PTF of an area, or the given forward curve), the
 * expected imbalance cost per MWh from a portfolio's history
 * (sql/imbalance.repository.ts bucketImbalance), then forecast/offer-cost.ts.
 */

const H = 3_600_000;
/** Default imbalance history: this many days before its end. */
export const IMBALANCE_HISTORY_DAYS = 90;
/** History a typical profile is made from, days before asOf. */
const TYPICAL_DAYS = 365;

const bad = (reason: string) => new MdmError('MDM_ERR_VALIDATION', [reason]);

function hourInstant(text: string, field: string): number {
  const t = storedInstant(text);
  if (!t.ok) throw bad(`${field}: ${t.reason}`);
  if (t.ms % H !== 0) throw new MdmError('MDM_ERR_MISALIGNED_TIME', [`${field} must be a whole hour (minutes and seconds 0): ${text}`]);
  return t.ms;
}

export interface OfferProfileInfo {
  readonly source: string;
  readonly basis: 'actual' | 'typical' | 'uploaded';
  readonly timezone: string;
  readonly from: string;
  readonly to: string;
  /** Hours of the period without a profile value (a stored hour missing, or no typical value). */
  readonly missingHours: number;
  /** For a typical profile: the history it was made from. */
  readonly history?: { readonly from: string; readonly to: string };
}

export interface OfferImbalanceInfo {
  readonly basis: 'history' | 'given' | 'none';
  readonly portfolio: string | null;
  /** The portfolio's currency (its cost is in it). */
  readonly currency?: string;
  readonly from: string | null;
  readonly to: string | null;
  readonly costPerMWh: number | null;
  /** Σ cost and Σ consumption (MWh) of the hours that have both. */
  readonly cost: number | null;
  readonly energyMWh: number | null;
  readonly hours: number;
  readonly unpricedHours: number;
  readonly missingActualHours: number;
  /** Why there is no figure (basis none, or a history without a costed hour). */
  readonly reason?: string;
}

export interface OfferPricing {
  readonly currency: string | null;
  readonly profile: OfferProfileInfo;
  readonly prices: { readonly source: 'ptf' | 'curve'; readonly area: string | null };
  readonly imbalance: OfferImbalanceInfo;
  readonly cost: OfferCost;
}

interface Profile {
  readonly info: OfferProfileInfo;
  /** MWh per hour from startMs; NaN = none. */
  readonly startMs: number;
  readonly values: Float64Array;
  readonly meterIds: number[];
  readonly portfolio?: string;
  readonly area?: string;
}

async function targetProfile(database: Database, req: OfferRequest, now: number): Promise<Profile> {
  const ref = parseTarget(req.target!);
  if (!ref.ok) throw bad(`target: ${ref.reason}`);
  if (req.from === undefined || req.to === undefined) throw bad('from and to are required with target: the offer period, whole hours, to exclusive');
  const fromMs = hourInstant(req.from, 'from');
  const toMs = hourInstant(req.to, 'to');
  if (toMs <= fromMs) throw new MdmError('MDM_ERR_RANGE_INVERTED', [`from (${req.from}) must be before to (${req.to}); to is exclusive`]);
  if (toMs - fromMs > MAX_OFFER_DAYS * DAY_MS) throw new MdmError('MDM_ERR_RANGE_TOO_LONG', [`from..to spans more than ${MAX_OFFER_DAYS} days: price the offer in parts`]);
  const resolved = await resolveTarget(database, ref.target);
  if (!resolved.ok) throw new MdmError(resolved.kind === 'unknown' ? 'MDM_ERR_NOT_FOUND' : 'MDM_ERR_VALIDATION', [resolved.reason]);
  const t = resolved.target;
  const basis = req.basis ?? (req.prices.source === 'curve' ? 'typical' : 'actual');
  const hours = (toMs - fromMs) / H;
  const sumOf = async (a: number, b: number) => {
    const grids = await loadHourlyHistory(database, { meters: t.meters, fromMs: a, toMs: b });
    const out = new Float64Array((b - a) / H);
    for (const g of grids.values()) for (let i = 0; i < out.length; i++) out[i] += g.values[i] / 1000; // kWh → MWh; NaN stays NaN
    return out;
  };
  let values: Float64Array;
  let history: OfferProfileInfo['history'];
  if (basis === 'actual') {
    values = await sumOf(fromMs, toMs);
  } else {
    const asOf = req.asOf !== undefined ? hourInstant(req.asOf, 'asOf') : Math.floor(now / H) * H;
    const hFrom = asOf - TYPICAL_DAYS * DAY_MS;
    const past = await sumOf(hFrom, asOf);
    const y0 = new Date(Math.min(hFrom, fromMs)).getUTCFullYear();
    const y1 = new Date(Math.max(asOf, toMs)).getUTCFullYear();
    const holidays = holidayCalendar(t.country).holidaySet(y0, y1);
    values = typicalProfile({ startMs: hFrom, values: past }, { startMs: fromMs, hours, timezone: t.timezone, holidays });
    history = { from: new Date(hFrom).toISOString(), to: new Date(asOf).toISOString() };
  }
  let missing = 0;
  for (const v of values) if (v !== v) missing++;
  const portfolio =
    ref.target.kind === 'portfolio'
      ? ref.target.id
      : await mainPortfolioOf(
          database,
          t.meters.map((m) => m.id),
        );
  return {
    info: { source: t.text, basis, timezone: t.timezone, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), missingHours: missing, ...(history ? { history } : {}) },
    startMs: fromMs,
    values,
    meterIds: t.meters.map((m) => m.id),
    portfolio,
  };
}

function uploadedProfile(req: OfferRequest): Profile {
  const p = req.profile!;
  if (req.from !== undefined || req.to !== undefined || req.basis !== undefined) throw bad('from, to and basis go with target; an uploaded profile has its own start and hours');
  const startMs = hourInstant(p.start, 'profile.start');
  const k = p.unit === 'MWh' ? 1 : 1 / 1000;
  const values = Float64Array.from(p.values, (v) => v * k);
  return {
    info: { source: 'uploaded', basis: 'uploaded', timezone: 'UTC', from: new Date(startMs).toISOString(), to: new Date(startMs + values.length * H).toISOString(), missingHours: 0 },
    startMs,
    values,
    meterIds: [],
  };
}

async function imbalanceOf(database: Database, req: OfferRequest, profile: Profile, now: number): Promise<OfferImbalanceInfo> {
  const given = req.imbalance && 'costPerMWh' in req.imbalance ? req.imbalance.costPerMWh : undefined;
  const none = (reason: string, portfolio: string | null = null): OfferImbalanceInfo => ({
    basis: 'none',
    portfolio,
    from: null,
    to: null,
    costPerMWh: null,
    cost: null,
    energyMWh: null,
    hours: 0,
    unpricedHours: 0,
    missingActualHours: 0,
    reason,
  });
  if (given !== undefined) return { basis: 'given', portfolio: null, from: null, to: null, costPerMWh: given, cost: null, energyMWh: null, hours: 0, unpricedHours: 0, missingActualHours: 0 };
  const w = req.imbalance && !('costPerMWh' in req.imbalance) ? req.imbalance : {};
  const id = w.portfolio ?? profile.portfolio;
  if (id === undefined) {
    return none(
      profile.info.basis === 'uploaded'
        ? 'an uploaded profile has no portfolio: give imbalance.portfolio (its history prices the risk) or imbalance.costPerMWh'
        : `${profile.info.source} belongs to no portfolio: give imbalance.portfolio or imbalance.costPerMWh`,
    );
  }
  const p = await getPortfolioSettings(database, id);
  if (!p) throw new MdmError('MDM_ERR_UNKNOWN_PORTFOLIO', [`imbalance.portfolio "${id}" is unknown: give its meters portfolio="${id}" (PUT /v1/meters) or create it with PUT /v1/portfolios/${id}`]);
  const profileEnd = profile.startMs + profile.values.length * H;
  const toMs = w.to !== undefined ? hourInstant(w.to, 'imbalance.to') : Math.floor(Math.min(now, profileEnd) / H) * H;
  const fromMs = w.from !== undefined ? hourInstant(w.from, 'imbalance.from') : toMs - IMBALANCE_HISTORY_DAYS * DAY_MS;
  if (toMs <= fromMs) throw new MdmError('MDM_ERR_RANGE_INVERTED', ['imbalance.from must be before imbalance.to']);
  if (toMs - fromMs > MAX_IMBALANCE_DAYS * DAY_MS) throw new MdmError('MDM_ERR_RANGE_TOO_LONG', [`the imbalance history spans more than ${MAX_IMBALANCE_DAYS} days: shorten it`]);
  const rows = await bucketImbalance(database, { portfolio: p.id, area: p.area, timezone: p.timezone, from: new Date(fromMs), to: new Date(toMs), unit: 'hour', now: new Date(now) });
  let cost = 0;
  let energy = 0;
  let hours = 0;
  let unpriced = 0;
  let missingActual = 0;
  for (const r of rows) {
    unpriced += r.unpricedHours;
    missingActual += r.missingActualHours;
    if (r.cost === null || r.consumption === null) continue;
    hours++;
    cost += r.cost;
    energy += r.consumption;
  }
  const base = { portfolio: p.id, currency: p.currency, from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString(), hours, unpricedHours: unpriced, missingActualHours: missingActual };
  if (hours === 0 || energy <= 0) {
    return { ...none(`portfolio "${p.id}" has no hour with consumption and an imbalance cost in ${base.from}..${base.to}: give another window or imbalance.costPerMWh`, p.id), ...base };
  }
  return { basis: 'history', ...base, costPerMWh: cost / energy, cost, energyMWh: energy };
}

/**
 * Prices an offer: see the module comment and docs/forecasting.md.
 * @example await priceOffer(database, { target: 'meter:M1', from: '2019-10-01T00:00:00Z', to: '2019-11-01T00:00:00Z', prices: { source: 'ptf', area: 'TR' } }, Date.now())
 */
export async function priceOffer(database: Database, req: OfferRequest, now: number): Promise<OfferPricing> {
  if ((req.target === undefined) === (req.profile === undefined)) throw bad('give either target (a stored meter, group or portfolio) or profile (uploaded hourly values), not both');
  const profile = req.target !== undefined ? await targetProfile(database, req, now) : uploadedProfile(req);
  if (profile.values.length > MAX_OFFER_HOURS) throw new MdmError('MDM_ERR_RANGE_TOO_LONG', [`the offer spans ${profile.values.length} hours; at most ${MAX_OFFER_HOURS}`]);
  const imbalance = await imbalanceOf(database, req, profile, now);
  let currency: string | null;
  let area: string | null = null;
  let prices: { startMs: number; values: Float64Array };
  const toMs = profile.startMs + profile.values.length * H;
  if (req.prices.source === 'ptf') {
    const portfolio = imbalance.portfolio ?? profile.portfolio;
    area = req.prices.area ?? (portfolio !== undefined && portfolio !== null ? ((await getPortfolioSettings(database, portfolio))?.area ?? 'TR') : 'TR');
    const rows = await listPrices(database, { area, from: new Date(profile.startMs), to: new Date(toMs) });
    const values = new Float64Array(profile.values.length).fill(Number.NaN);
    for (const r of rows) {
      const i = Math.round((r.start.getTime() - profile.startMs) / H);
      if (r.ptf !== null && i >= 0 && i < values.length) values[i] = r.ptf;
    }
    prices = { startMs: profile.startMs, values };
    currency = rows[0]?.currency ?? (await areaCurrency(database, area)) ?? null;
  } else {
    const c = req.prices;
    prices = { startMs: hourInstant(c.start, 'prices.start'), values: Float64Array.from(c.values, (v) => (v === null ? Number.NaN : v)) };
    currency = c.currency;
  }
  if (imbalance.currency !== undefined && currency !== null && imbalance.currency !== currency && imbalance.costPerMWh !== null) {
    throw new MdmError('MDM_ERR_CURRENCY_MISMATCH', [
      `the prices are in ${currency} and portfolio "${imbalance.portfolio}"'s imbalance costs in ${imbalance.currency}: give a curve in ${imbalance.currency} or imbalance.costPerMWh in ${currency}`,
    ]);
  }
  const cost = offerCost({ startMs: profile.startMs, values: profile.values }, prices, { imbalanceCostPerMWh: imbalance.costPerMWh, otherCostsPerMWh: req.otherCostsPerMWh });
  return { currency, profile: profile.info, prices: { source: req.prices.source, area }, imbalance, cost };
}

/** The local zone of a market area's prices (for printing). */
export const offerTimezone = (p: OfferPricing): string => (p.prices.area ? areaTimezone(p.prices.area) : p.profile.timezone);
