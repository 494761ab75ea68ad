/** Field delimiters of the CSV files this service reads and writes. */
export type Delimiter = ',' | ';';

/** Quotes a field for CSV output when it needs it (delimiter, quote, CR/LF, leading/trailing space). */
export function csvField(v: string | number, delimiter: Delimiter = ','): string {
  const s = String(v);
  if (s.includes(delimiter) || /["\r\n]/.test(s) || /^\s|\s$/.test(s)) return `"${s.replace(/"/g, '""')}"`;
  return s;
}

/** One CSV line (RFC 4180 quoting), with its newline. */
export const csvLine = (fields: readonly (string | number)[], delimiter: Delimiter = ','): string => fields.map((f) => csvField(f, delimiter)).join(delimiter) + '\n';
