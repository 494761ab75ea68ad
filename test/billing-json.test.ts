import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ConsumptionSchema } from '../api/routes/billing.route.js';
import { consumptionJson, type ConsumptionBody } from '../billing/consumption-json.js';
import type { BillingFigures } from '../billing/figures.js';

// GET /v1/billing/consumption writes its body with consumptionJson instead of
// the schema serializer (issue 14 §3): the text must be the one the schema
// serializer gives (zod encode, then JSON.stringify), byte for byte.
const schemaText = (b: ConsumptionBody) => JSON.stringify(z.encode(ConsumptionSchema, b as z.input<typeof ConsumptionSchema>));

function figures(over: Partial<BillingFigures> = {}): BillingFigures {
  return {
    meter: 'M1',
    activeImport: 7805,
    activeExport: 0,
    reactiveInductive: 1860,
    reactiveCapacitive: 24,
    inductiveRatio: 0.238309,
    capacitiveRatio: 0.003075,
    tou: { T1: 3410, T2: 3155, T3: 1240 },
    maxDemand: { kw: 75, at: '2026-01-05T10:00:00+03:00' },
    estimatedShare: 0.005125,
    completeness: 1,
    billable: true,
    reasons: [],
    dataVersion: '2026-02-01T10:00:00.123Z',
    ...over,
  };
}

const single = (over: Partial<BillingFigures> = {}): BillingFigures => {
  const { tou: _tou, ...f } = figures(over);
  return f;
};

describe('consumption JSON', () => {
  it('writes the same text as the response schema for every shape of figures', () => {
    const meters = [
      figures(),
      single({ meter: 'Q-15 "quoted" \\ ünïcode ✓ \u0001', inductiveRatio: null, capacitiveRatio: null, maxDemand: null, completeness: null, estimatedShare: 0 }),
      figures({ tou: {}, activeImport: -0, activeExport: 1e-7, reactiveInductive: 1.7976931348623157e308, reactiveCapacitive: 123456789.123456 }),
      figures({ tou: { '2': 1, T1: 2, '1': 3, 'a"b': 4 } }),
      single({
        billable: false,
        reasons: [
          { code: 'missing_data', message: '2972 of 2976 intervals missing: send them, or estimate them (POST /v1/meters/:id/edits)' },
          { code: 'no_recent_data', message: 'no active import data for 12 days (since 2026-01-10T00:15:00+03:00)\n' },
        ],
      }),
    ];
    const bodies: ConsumptionBody[] = [
      { period: '2026-01', from: null, to: null, asOf: null, dataVersion: '2026-02-01T10:00:00.123Z', meters },
      { period: null, from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', asOf: '2026-01-03T00:00:00.000Z', dataVersion: '1970-01-01T00:00:00.000Z', meters: [] },
    ];
    for (const b of bodies) {
      expect(consumptionJson(b)).toBe(schemaText(b));
      expect(JSON.parse(consumptionJson(b))).toEqual(JSON.parse(schemaText(b)));
    }
  });

  it('refuses a figure that is not a finite number, as the schema does', () => {
    const b: ConsumptionBody = { period: '2026-01', from: null, to: null, asOf: null, dataVersion: 'x', meters: [figures({ activeImport: Number.POSITIVE_INFINITY })] };
    expect(() => schemaText(b)).toThrow();
    expect(() => consumptionJson(b)).toThrow(/activeImport is Infinity/);
    expect(() => consumptionJson({ ...b, meters: [figures({ tou: { T1: Number.NaN } })] })).toThrow(/tou\.T1 is NaN/);
  });
});
