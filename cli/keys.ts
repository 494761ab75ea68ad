import type { KeyScope, Role } from '../models/api-key.js';
import { createApiKey, listApiKeys, revokeApiKey } from '../sql/api-key.repository.js';
import type { Database } from '../sql/database.js';
import { CliError, type Io } from './io.js';

/** `mdm keys create`: the key alone goes to stdout (so `KEY=$(mdm keys create …)` works); the rest to stderr. */
export async function createKeyCommand(database: Database, io: Io, input: { role: Role; name: string; scope?: KeyScope }): Promise<void> {
  const k = await createApiKey(database, input);
  io.out(k.key + '\n');
  const scope = k.scope ? ` limited to ${describeScope(k.scope)}` : '';
  io.err(`mdm: created ${k.role} key "${k.name}" (id ${k.id})${scope}; store it now, it is not shown again\n`);
}

/** `mdm keys list`: a table, or JSON with --json. Secrets are never shown (only hashes are stored). */
export async function listKeysCommand(database: Database, io: Io, json: boolean): Promise<void> {
  const keys = await listApiKeys(database);
  if (json) {
    io.out(JSON.stringify({ keys }, null, 2) + '\n');
    return;
  }
  if (keys.length === 0) {
    io.err('mdm: no active keys\n');
    return;
  }
  const rows = [['ID', 'ROLE', 'NAME', 'SCOPE', 'CREATED', 'LAST USED']];
  for (const k of keys) rows.push([k.id, k.role, k.name, k.scope ? describeScope(k.scope) : '-', k.createdAt, k.lastUsedAt ?? '-']);
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  io.out(
    rows
      .map((r) =>
        r
          .map((c, i) => c.padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      )
      .join('\n') + '\n',
  );
}

export async function revokeKeyCommand(database: Database, io: Io, id: string): Promise<void> {
  if (!(await revokeApiKey(database, id))) throw new CliError(`no active key with id ${id} (see \`mdm keys list\`)`);
  io.err(`mdm: revoked key ${id} (a running server stops accepting it within 30 s)\n`);
}

function describeScope(s: KeyScope): string {
  const parts = [...(s.groups ?? []).map((g) => `group ${g}`), ...(s.meterPrefixes ?? []).map((p) => `meters ${p}*`)];
  return parts.join(', ') || 'any meter';
}
