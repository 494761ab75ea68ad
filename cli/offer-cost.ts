import { readFileSync } from 'node:fs';
import { offerCostBody } from '../api/routes/offers.route.js';
import { priceOffer } from '../forecast/offer-pricing.js';
import { OfferRequestSchema } from '../models/offer.js';
import type { Database } from '../sql/database.js';
import { CliError, type Io } from './io.js';

/**
 * `mdm offer-cost`: the offer cost of POST /v1/offers/cost from the command
 * line (the same request schema and computation), printed as a short report
 * or, with --json, as the route's body. docs/forecasting.md "Offer cost of a load profile".
 */
export interface OfferCostCommandOptions {
  readonly target?: string;
  readonly from?: string;
  readonly to?: string;
  readonly basis?: string;
  readonly asOf?: string;
  /** JSON file: {start, unit?, values} */
  readonly profile?: string;
  readonly area?: string;
  /** JSON file: {currency, start, values} */
  readonly curve?: string;
  readonly imbalancePortfolio?: string;
  readonly imbalanceFrom?: string;
  readonly imbalanceTo?: string;
  readonly imbalanceCost?: string;
  readonly otherCosts?: string;
  readonly json?: boolean;
}

function readJson(file: string, flag: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new CliError(`${flag}: cannot read ${file} as JSON: ${(err as Error).message}`);
  }
}

function num(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n)) throw new CliError(`${flag}: "${text}" is not a number`);
  return n;
}

/** The request the flags describe (validated like the route's body). */
export function offerRequestOf(o: OfferCostCommandOptions) {
  if (o.curve !== undefined && o.area !== undefined) throw new CliError('--area (stored PTF) and --curve (a forward curve file) exclude each other');
  const imbalanceCost = num(o.imbalanceCost, '--imbalance-cost');
  const window = o.imbalancePortfolio !== undefined || o.imbalanceFrom !== undefined || o.imbalanceTo !== undefined;
  if (imbalanceCost !== undefined && window) throw new CliError('--imbalance-cost replaces the history: leave out --imbalance-portfolio/--imbalance-from/--imbalance-to');
  const raw = {
    ...(o.target !== undefined ? { target: o.target } : {}),
    ...(o.profile !== undefined ? { profile: readJson(o.profile, '--profile') } : {}),
    ...(o.from !== undefined ? { from: o.from } : {}),
    ...(o.to !== undefined ? { to: o.to } : {}),
    ...(o.basis !== undefined ? { basis: o.basis } : {}),
    ...(o.asOf !== undefined ? { asOf: o.asOf } : {}),
    prices: o.curve !== undefined ? { source: 'curve', ...(readJson(o.curve, '--curve') as object) } : { source: 'ptf', ...(o.area !== undefined ? { area: o.area } : {}) },
    ...(imbalanceCost !== undefined ? { imbalance: { costPerMWh: imbalanceCost } } : {}),
    ...(window
      ? {
          imbalance: {
            ...(o.imbalancePortfolio !== undefined ? { portfolio: o.imbalancePortfolio } : {}),
            ...(o.imbalanceFrom !== undefined ? { from: o.imbalanceFrom } : {}),
            ...(o.imbalanceTo !== undefined ? { to: o.imbalanceTo } : {}),
          },
        }
      : {}),
    ...(o.otherCosts !== undefined ? { otherCostsPerMWh: num(o.otherCosts, '--other-costs') } : {}),
  };
  const parsed = OfferRequestSchema.safeParse(raw);
  if (!parsed.success) throw new CliError(parsed.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; '));
  return parsed.data;
}

const f2 = (x: number | null, unit = '') => (x === null ? 'n/a' : `${x.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}${unit}`);
const pct = (x: number | null) => (x === null ? 'n/a' : `${(100 * x).toFixed(1)} %`);

export async function offerCostCommand(database: Database, io: Io, o: OfferCostCommandOptions): Promise<number> {
  const req = offerRequestOf(o);
  const body = offerCostBody(await priceOffer(database, req, io.now()));
  if (o.json) {
    io.out(`${JSON.stringify(body, null, 2)}\n`);
    return 0;
  }
  const cur = body.currency ?? '?';
  const perMWh = ` ${cur}/MWh`;
  const p = body.profile;
  const i = body.imbalance;
  const lines = [
    `offer cost of ${p.source} (${p.basis}, ${p.from} .. ${p.to}), prices ${body.prices.source}${body.prices.area ? ` ${body.prices.area}` : ''}`,
    `  energy            ${f2(p.energyMWh, ' MWh')} over ${p.hoursWithValue} of ${p.hours} h (${p.missingHours} h without a profile value)`,
    `  priced hours      ${body.prices.pricedHours} of ${p.hoursWithValue} (${pct(body.prices.coverage)}), energy ${pct(body.prices.energyCoverage)}`,
    `  energy cost       ${f2(body.energyCost, ` ${cur}`)}`,
    `  energy-weighted   ${f2(body.energyWeightedPrice, perMWh)}`,
    `  baseload          ${f2(body.baseloadPrice, perMWh)}`,
    `  profile factor    ${body.profileFactor === null ? 'n/a' : body.profileFactor.toFixed(4)}`,
    `  shape premium     ${f2(body.shapePremium, perMWh)}`,
    `  imbalance         ${f2(i.costPerMWh, perMWh)} (${i.basis}${i.portfolio ? `, portfolio ${i.portfolio}` : ''}${i.from ? `, ${i.from} .. ${i.to}, ${i.hours} h` : ''})`,
    `  other costs       ${f2(body.otherCostsPerMWh, perMWh)}`,
    `  break-even        ${f2(body.breakEvenPrice, perMWh)}`,
  ];
  if (i.reason) lines.push(`  imbalance: ${i.reason}`);
  if (body.prices.missingHours > 0) {
    lines.push(`  ${body.prices.missingHours} hour(s) without a price, left out of every figure:`);
    for (const m of body.prices.missing) lines.push(`    ${m.from} .. ${m.to} (${m.hours} h)`);
  }
  if (!body.complete) lines.push('  INCOMPLETE: figures over the hours that have a profile value and a price only');
  io.out(`${lines.join('\n')}\n`);
  return 0;
}
