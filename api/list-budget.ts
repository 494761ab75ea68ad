/**
 * List responses are bounded in bytes as well as rows (issue 11, defect 4:
 * `GET /v1/rejects?limit=1000` once built a 472 MB response and, with a few
 * readers at once, the process died of out-of-memory). A page stops before
 * the row that would take its JSON past the budget; the cursor then points
 * at that row, so the client reads on without losing anything.
 */

/** Most bytes of row JSON in one list response (about 4 MiB). */
export const LIST_BYTE_BUDGET = 4 * 1024 * 1024;

/**
 * The leading `rows` whose JSON (UTF-8) fits in `budget` bytes, at least one
 * (a row larger than the budget alone still goes out, else paging would
 * stall on it); `cut` when rows were left out for size.
 * @example withinBytes([{ a: 'x'.repeat(10) }, { a: 'y' }], 20) // { page: [{ a: 'xxxxxxxxxx' }], cut: true }
 */
export function withinBytes<T>(rows: readonly T[], budget: number = LIST_BYTE_BUDGET): { page: T[]; cut: boolean } {
  let used = 0;
  for (let i = 0; i < rows.length; i++) {
    used += Buffer.byteLength(JSON.stringify(rows[i]) ?? '', 'utf8') + 1; // + the comma
    if (used > budget && i > 0) return { page: rows.slice(0, i), cut: true };
  }
  return { page: [...rows], cut: false };
}

/**
 * One page of a newest-first list read with one extra row: the rows to send
 * (within `limit` and the byte budget) and the cursor of the next page, or
 * null when nothing follows.
 * @example pageOf(rows, 100, (r) => r.id) // { page: rows.slice(0, n), nextCursor: '4182' | null }
 */
export function pageOf<T>(rows: readonly T[], limit: number, cursorOf: (row: T) => number | string, budget: number = LIST_BYTE_BUDGET): { page: T[]; nextCursor: string | null } {
  const { page, cut } = withinBytes(rows.slice(0, limit), budget);
  const more = cut || rows.length > limit;
  return { page, nextCursor: more ? String(cursorOf(page[page.length - 1])) : null };
}
