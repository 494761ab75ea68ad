import { describe, expect, it } from 'vitest';
import { withTemperatureNormals } from '../forecast/temperature-normals.js';

const H = 3_600_000;

describe('temperature normals', () => {
  it('fills unknown future hours with the mean of the same local month and hour before the issue time', () => {
    // Istanbul (UTC+3): grid from 2024-01-01 00:00 local. Two observed January days, then a forecast hour, then nothing.
    const startMs = Date.UTC(2023, 11, 31, 21);
    const temperature = new Float64Array(24 * 3).fill(Number.NaN);
    for (let h = 0; h < 24; h++) {
      temperature[h] = h; // day 1
      temperature[24 + h] = h + 2; // day 2
    }
    temperature[48] = 30; // day 3 00:00: the weather forecast, kept
    const s = { id: 'x', timezone: 'Europe/Istanbul', startMs, values: new Float64Array(72), temperature };
    const issueTime = startMs + 48 * H;
    const { series, filled } = withTemperatureNormals(s, issueTime, startMs + 96 * H);
    expect(series.temperature!.length).toBe(96);
    expect(filled).toBe(47);
    expect(series.temperature![48]).toBe(30);
    expect(series.temperature![49]).toBe(2); // 01:00 local: (1 + 3) / 2
    expect(series.temperature![72 + 5]).toBe(6); // day 4 05:00: (5 + 7) / 2
    expect(temperature[49]).toBeNaN(); // input untouched
  });

  it('leaves a series without temperature or gaps as it is', () => {
    const s = { id: 'x', timezone: 'UTC', startMs: 0, values: new Float64Array(2) };
    expect(withTemperatureNormals(s, 0, 2 * H).series).toBe(s);
    const full = { ...s, temperature: new Float64Array([1, 2]) };
    expect(withTemperatureNormals(full, 0, 2 * H)).toEqual({ series: full, filled: 0 });
  });
});
