import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { CsvError, CsvHeaderError, csvLine, decodeCsvBytes } from '../adapters/file/csv.js';
import { parseSettlementCsv } from '../adapters/file/settlement-csv.js';
import { ALARM_LISTENERS } from '../alarms/alarm-listeners.js';
import { importSettlement } from '../ingest/settlement-import.js';
import { parsePeriod } from '../billing/period.js';
import type { SettlementImportResult } from '../models/settlement.js';
import type { Database } from '../sql/database.js';
import { recordDeadLetters } from '../sql/dead-letter.repository.js';
import { CliError, UsageError, type Io } from './io.js';

/** Rows per importSettlement call (one settlement version of a month for 1 000 meters is 744 000 rows). */
export const SETTLEMENT_CHUNK = 20_000;

export interface SettlementFileResult {
  readonly versions: SettlementImportResult[];
  readonly rejected: number;
  readonly rejectsPath?: string;
}

/**
 * `mdm import settlement FILE.csv --period YYYY-MM [--version N]`: the CSV of
 * PUT /v1/settlement (docs/settlement.md), read whole (UTF-8, or Windows-1254
 * when not UTF-8), imported per version, lowest first, in chunks through the
 * same import (principal `cli`, origin `file:NAME`). Rejected lines go to the
 * rejects CSV (line,reason,raw). A duplicate hour in different chunks is
 * caught by the stored-version check (unchanged, or a conflict when it differs).
 */
export async function importSettlementFile(
  database: Database,
  file: string,
  opts: { io: Io; period: string | undefined; version: string | undefined; rejectsPath: string; signal?: AbortSignal },
): Promise<SettlementFileResult> {
  if (!opts.period || !parsePeriod(opts.period)) throw new UsageError('--period YYYY-MM is required (the settlement month)', 'import settlement');
  let version: number | undefined;
  if (opts.version !== undefined) {
    version = Number(opts.version);
    if (!Number.isInteger(version) || version < 1) throw new UsageError(`--version must be a whole number ≥ 1, got "${opts.version}"`, 'import settlement');
  }
  const text = decodeCsvBytes(readFileSync(file));
  let csv;
  try {
    csv = parseSettlementCsv(text, version);
  } catch (err) {
    if (err instanceof CsvHeaderError || err instanceof CsvError) throw new CliError(`${file}: ${err.message}`);
    throw err;
  }
  const origin = `file:${basename(file)}`;
  const rejects: { line: number; reason: string; raw: string }[] = [...csv.rejected];
  await recordDeadLetters(
    database,
    { transport: 'settlement', principal: 'cli', topic: origin },
    csv.rejected.map((r) => ({ rowIndex: r.line, meter: null, payload: r.raw, reason: r.reason })),
  );
  const rawOf = new Map<number, string>();
  const versions: SettlementImportResult[] = [];
  for (const g of csv.groups) {
    const total: SettlementImportResult = {
      period: opts.period,
      version: g.version,
      stored: 0,
      unchanged: 0,
      applied: 0,
      heldByHigherVersion: 0,
      readings: { accepted: 0, unchanged: 0, superseded: 0 },
      rejected: [],
    };
    for (let i = 0; i < g.rows.length && !opts.signal?.aborted; i += SETTLEMENT_CHUNK) {
      const rows = g.rows.slice(i, i + SETTLEMENT_CHUNK);
      const lines = g.lines.slice(i, i + SETTLEMENT_CHUNK);
      const r = await importSettlement(database, { period: opts.period, version: g.version, rows, principal: 'cli', origin, indexOf: lines, listeners: ALARM_LISTENERS });
      total.stored += r.stored;
      total.unchanged += r.unchanged;
      total.applied += r.applied;
      total.heldByHigherVersion += r.heldByHigherVersion;
      total.readings.accepted += r.readings.accepted;
      total.readings.unchanged += r.readings.unchanged;
      total.readings.superseded += r.readings.superseded;
      total.rejected.push(...r.rejected);
      lines.forEach((line, k) => rawOf.set(line, JSON.stringify(rows[k])));
      opts.io.err(`${basename(file)}: version ${g.version}: ${Math.min(i + SETTLEMENT_CHUNK, g.rows.length)}/${g.rows.length} rows\n`);
    }
    for (const r of total.rejected) rejects.push({ line: r.index, reason: r.reason, raw: rawOf.get(r.index) ?? '' });
    versions.push(total);
  }
  if (rejects.length === 0) return { versions, rejected: 0 };
  rejects.sort((a, b) => a.line - b.line);
  writeFileSync(opts.rejectsPath, 'line,reason,raw\n' + rejects.map((r) => csvLine([r.line, r.reason, r.raw])).join(''));
  return { versions, rejected: rejects.length, rejectsPath: opts.rejectsPath };
}
