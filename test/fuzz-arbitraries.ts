/**
 * fast-check arbitraries of hostile input shared by the fuzz suites
 * (test/fuzz-parsers.test.ts, test/fuzz-ingest.test.ts): what a careless
 * integrator or an attacker sends (issue 11). Runs are reproducible: every
 * property uses FUZZ_PARAMS (a fixed seed, FUZZ_SEED=… to change it);
 * fast-check prints the seed, path and counterexample of a failure.
 */
import fc from 'fast-check';

/** Seed of every property (FUZZ_SEED overrides it to explore further). */
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20_260_011);

/** Run parameters: modest counts so the suite stays fast; FUZZ_RUNS_FACTOR scales them up for a long exploration. */
export const fuzzParams = (numRuns: number): fc.Parameters<unknown> => ({
  seed: FUZZ_SEED,
  numRuns: Math.max(1, Math.round(numRuns * Number(process.env.FUZZ_RUNS_FACTOR ?? 1))),
});

/** `depth` nested arrays around 1, built without recursion (20 000 levels is cheap). */
export function nested(depth: number, leaf: unknown = 1): unknown {
  let v: unknown = leaf;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

/** JSON text of `depth` nested arrays: `[[[…]]]`. */
export const nestedText = (depth: number): string => '['.repeat(depth) + '1' + ']'.repeat(depth);

/** Strings that break naive code: NUL, lone surrogates, quotes, separators, BOM, Turkish letters, huge. */
export const hostileString: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.string({ unit: 'binary', maxLength: 24 }) },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      '',
      ' ',
      '\u0000',
      'S0\u000011',
      '\ud800',
      '"',
      '""',
      ',',
      ';',
      '\r\n',
      '\n',
      '\ufeff',
      'İıŞşĞğÜüÖöÇç',
      '😀',
      '\\u0000',
      'NaN',
      'Infinity',
      '-Infinity',
      'null',
      'undefined',
      '1e999',
      '-1.8e308',
      '0x10',
      '__proto__',
      'constructor',
      'toString',
      '$share/x',
      '+',
      '#',
      'M1/active_import',
    ),
  },
  { weight: 1, arbitrary: fc.integer({ min: 129, max: 70_000 }).map((n) => 'x'.repeat(n)) },
);

/** Numbers at and past the edges of a double. */
export const hostileNumber: fc.Arbitrary<number> = fc.oneof(
  fc.double(),
  fc.constantFrom(0, -0, 1, -1, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, Number.MAX_SAFE_INTEGER + 2, 2 ** 63, 1e21, 1e-7, NaN, Infinity, -Infinity),
  fc.integer(),
);

/** Timestamps: valid with an offset, without one, edge years, garbage. */
export const hostileInstant: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(
    '2026-01-01T00:00:00+03:00',
    '2026-01-01T00:00:00Z',
    '2026-01-01T00:00:00',
    '2026-01-01',
    '9999-12-31T23:00:00Z',
    '0001-01-01T00:00:00Z',
    '0000-01-01T00:00:00Z',
    '+275760-09-13T00:00:00Z',
    '-000001-01-01T00:00:00Z',
    '2026-02-30T00:00:00Z',
    '2026-01-01T24:00:00Z',
    '2026-01-01T00:17:00+03:00',
    '2026-01-01T00:00:00+25:00',
    '2026-01-01T00:00:00.123456789Z',
    '1969-12-31T23:00:00Z',
    '1899-12-31T23:00:00Z',
    '2100-01-01T00:00:00Z',
  ),
  fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  hostileString,
  hostileNumber,
);

/** Any JSON-ish value, shallow or 20 000 levels deep. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: hostileNumber },
  { weight: 2, arbitrary: hostileString },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}, [1], { value: 1 }) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20_000 }).map((d) => nested(d)) },
);

/** Poison for each field of a reading row. */
const FIELD_POISON: Record<string, fc.Arbitrary<unknown>> = {
  meter: fc.oneof(fc.constantFrom('F9', 'S0\u000011', '', 'x'.repeat(200), 'x'.repeat(70_000)), hostileValue),
  channel: fc.oneof(fc.constantFrom('bogus', '1.29.0\u0000', '', '9.9.9'), hostileValue),
  start: hostileInstant,
  value: fc.oneof(fc.constantFrom(1.7976931348623157e308, -1.7976931348623157e308, 1e300, 'NaN', 'Infinity', '1.5', { v: 1 }, [1], null), hostileValue),
  quality: fc.oneof(fc.constantFrom('estimated', 'bogus', ''), hostileValue),
  source: fc.oneof(fc.constantFrom('file', 'gateway', ''), hostileValue),
  intervalMinutes: fc.oneof(fc.constantFrom(15, 30, 60, 0, 7, '60'), hostileValue),
  extra: hostileValue,
};

/**
 * One raw reading row as a transport delivers it: mostly a valid row of one
 * of `meters` (hour starts in 2023, so that it never shares a key with the
 * good rows the ingest suite sends in 2024–2025) with one or two fields
 * poisoned, sometimes any shape at all.
 */
export function hostileRow(meters: readonly string[]): fc.Arbitrary<unknown> {
  const base = fc.record({ meter: fc.constantFrom(...meters), hour: fc.integer({ min: 0, max: 364 * 24 }), value: fc.integer({ min: 0, max: 1_000_000 }).map((v) => v / 1000) });
  const field = fc.constantFrom(...Object.keys(FIELD_POISON));
  const poisoned = fc
    .tuple(
      base,
      fc.uniqueArray(field, { minLength: 1, maxLength: 2 }).chain((fs) => fc.tuple(...fs.map((f) => FIELD_POISON[f].map((v) => [f, v] as const)))),
      fc.boolean(),
    )
    .map(([b, poison, drop]) => {
      const row: Record<string, unknown> = { meter: b.meter, channel: 'active_import', start: new Date(Date.UTC(2023, 0, 1) + b.hour * 3_600_000).toISOString(), value: b.value };
      for (const [f, v] of poison) {
        if (drop && f !== 'extra' && poison.length === 1)
          delete row[f]; // the field missing altogether
        else row[f] = v;
      }
      return row;
    });
  const anyShape = fc.record(
    { meter: fc.oneof(fc.constantFrom(...meters), hostileValue), channel: hostileValue, start: hostileInstant, value: hostileValue, quality: hostileValue, extra: hostileValue },
    { requiredKeys: [] },
  );
  return fc.oneof({ weight: 10, arbitrary: poisoned }, { weight: 2, arbitrary: anyShape }, { weight: 1, arbitrary: hostileValue });
}

/** Splits `s` into chunks at the given cut points (sorted, deduplicated, in range). */
export function chunked<T extends string | Uint8Array>(s: T, cuts: readonly number[]): T[] {
  const at = [...new Set(cuts.map((c) => Math.min(s.length, Math.max(0, c))))].sort((a, b) => a - b);
  const out: T[] = [];
  let from = 0;
  for (const c of at) {
    out.push(s.slice(from, c) as T);
    from = c;
  }
  out.push(s.slice(from) as T);
  return out;
}

/** Byte-level mutations of a real file: flips, deletions, insertions, truncation. */
export type Mutation = { kind: 'flip'; at: number; byte: number } | { kind: 'delete'; at: number; len: number } | { kind: 'insert'; at: number; bytes: Uint8Array } | { kind: 'truncate'; at: number };

export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 64 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 16 }),
      fc.constantFrom(...['"', '\r', '\n', ',', ';', '\u0000', '\ufeff', 'ş', '9'.repeat(400), '1e999'].map((s) => new TextEncoder().encode(s))),
    ),
  }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
);

/** Applies mutations in order (positions taken modulo the current length). */
export function mutate(bytes: Uint8Array, ms: readonly Mutation[]): Uint8Array {
  let b = Uint8Array.from(bytes);
  for (const m of ms) {
    const at = b.length === 0 ? 0 : m.at % (b.length + 1);
    if (m.kind === 'flip' && at < b.length) b[at] = m.byte;
    else if (m.kind === 'delete') b = Uint8Array.from([...b.subarray(0, at), ...b.subarray(at + m.len)]);
    else if (m.kind === 'insert') b = Uint8Array.from([...b.subarray(0, at), ...m.bytes, ...b.subarray(at)]);
    else if (m.kind === 'truncate') b = b.subarray(0, at);
  }
  return b;
}
