/** Flags of `mdm import readings` for the file layouts (docs/import.md); kept apart so that cli/main.ts loads no importer to parse a command line. */
/** The `mdm import readings` flags of the file layouts (docs/import.md); any of them (or an .xlsx file) selects importReadingsFile. */
export const FILE_IMPORT_FLAGS = {
  layout: { type: 'string' },
  meter: { type: 'string' },
  channel: { type: 'string' },
  timezone: { type: 'string' },
  'date-order': { type: 'string' },
  decimal: { type: 'string' },
  thousands: { type: 'string' },
  delimiter: { type: 'string' },
  encoding: { type: 'string' },
  'skip-lines': { type: 'string' },
  sheet: { type: 'string' },
  map: { type: 'string', multiple: true },
  'meter-map': { type: 'string', multiple: true },
  'quality-map': { type: 'string', multiple: true },
  ignore: { type: 'string', multiple: true },
  'interval-minutes': { type: 'string' },
  preset: { type: 'string' },
  'dry-run': { type: 'boolean' },
  'no-checksum': { type: 'boolean' },
} as const;

/** True when the command line asks for more than the long CSV of importReadings. */
export function wantsFileImport(file: string, values: Record<string, unknown>): boolean {
  return /\.xlsx$/i.test(file) || Object.keys(FILE_IMPORT_FLAGS).some((k) => values[k] !== undefined);
}
