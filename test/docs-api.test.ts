import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PERMISSIONS, ROLES } from '../models/api-key.js';

describe('docs/api.md', () => {
  it('prints the role/permission table the server enforces', () => {
    const doc = readFileSync(new URL('../docs/api.md', import.meta.url), 'utf8');
    const header = `| permission | ${ROLES.join(' | ')} |`;
    const lines = doc.split('\n');
    const start = lines.indexOf(header);
    expect(start, 'role table header').toBeGreaterThan(-1);
    const documented: Record<string, string[]> = {};
    for (const line of lines.slice(start + 2)) {
      const m = /^\| `([a-z:]+)` \|(.*)\|$/.exec(line);
      if (!m) break;
      const cells = m[2].split('|').map((c) => c.trim());
      documented[m[1]] = ROLES.filter((_, i) => cells[i] === '✓');
    }
    const enforced = Object.fromEntries(Object.entries(PERMISSIONS).map(([p, roles]) => [p, ROLES.filter((r) => (roles as readonly string[]).includes(r))]));
    expect(documented).toEqual(enforced);
  });
});
