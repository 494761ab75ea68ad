import { describe, expect, it } from 'vitest';
import { dayRuns } from '../sql/billing-rollup.repository.js';

describe('dayRuns (rollup refresh reads consecutive dirty days of a meter as one range)', () => {
  it('merges consecutive days per meter, across month ends, and splits at gaps and meters', () => {
    const keys = [
      { meterId: 1, localDate: '2019-01-30' },
      { meterId: 1, localDate: '2019-01-31' },
      { meterId: 1, localDate: '2019-02-01' },
      { meterId: 1, localDate: '2019-02-03' },
      { meterId: 2, localDate: '2019-02-04' },
      { meterId: 3, localDate: '2019-02-04' },
      { meterId: 3, localDate: '2019-02-05' },
    ];
    expect(dayRuns(keys)).toEqual([
      { meter_id: 1, from_date: '2019-01-30', to_date: '2019-02-01' },
      { meter_id: 1, from_date: '2019-02-03', to_date: '2019-02-03' },
      { meter_id: 2, from_date: '2019-02-04', to_date: '2019-02-04' },
      { meter_id: 3, from_date: '2019-02-04', to_date: '2019-02-05' },
    ]);
    expect(dayRuns([])).toEqual([]);
  });
});
