import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readConfig } from '../cli/load-config.js';
import { CliError } from '../cli/io.js';
import { CONFIG_KEYS, loadConfig } from '../models/config.js';
import { MdmError } from '../models/errors.js';

const configError = (fn: () => unknown): MdmError => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(MdmError);
    expect((err as MdmError).code).toBe('MDM_ERR_CONFIG');
    return err as MdmError;
  }
  throw new Error('expected a configuration error');
};

describe('loadConfig', () => {
  it('has the documented defaults and is frozen', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ PORT: 8080, HOST: '0.0.0.0', MDM_DATA_DIR: './data', MQTT_PORT: 1883, LOG_LEVEL: 'info', MDM_MAX_BATCH_ROWS: 100_000 });
    expect(c.DATABASE_URL).toBeUndefined();
    expect(c.MQTT_URL).toBeUndefined();
    expect(Object.isFrozen(c)).toBe(true);
  });

  it('converts numbers and lets the environment win over the file; empty variables count as unset', () => {
    const c = loadConfig({ PORT: '9100', MDM_DATA_DIR: '', DATABASE_URL: 'postgresql://u:p@db:5432/mdm' }, { PORT: 9000, HOST: '127.0.0.1', MDM_DATA_DIR: '/var/lib/mdm', MQTT_PORT: 0 });
    expect(c).toMatchObject({ PORT: 9100, HOST: '127.0.0.1', MDM_DATA_DIR: '/var/lib/mdm', MQTT_PORT: 0, DATABASE_URL: 'postgresql://u:p@db:5432/mdm' });
  });

  it('lists every bad variable in one error, not just the first', () => {
    const err = configError(() =>
      loadConfig({
        PORT: 'abc',
        MQTT_PORT: '70000',
        DATABASE_URL: 'mysql://db/x',
        MQTT_URL: 'http://broker',
        LOG_LEVEL: 'loud',
        MDM_BOOTSTRAP_ADMIN_KEY: 'short',
        MDM_MAX_BATCH_ROWS: '0',
        HOST: 'fine',
      }),
    );
    const bad = err.message
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(':')[0]);
    expect(bad.sort()).toEqual(['DATABASE_URL', 'LOG_LEVEL', 'MDM_BOOTSTRAP_ADMIN_KEY', 'MDM_MAX_BATCH_ROWS', 'MQTT_PORT', 'MQTT_URL', 'PORT']);
    expect(err.message).toMatch(/DATABASE_URL: must be a postgres:\/\/ or postgresql:\/\/ URL/);
  });

  it('is strict about the file (a misspelt key is an error) but ignores unrelated environment variables', () => {
    const err = configError(() => loadConfig({}, { PROT: 9000 }));
    expect(err.message).toMatch(/PROT/);
    expect(loadConfig({ PATH: '/usr/bin', PROT: '1', HOME: '/root' }).PORT).toBe(8080);
  });
});

describe('readConfig (MDM_CONFIG file)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdm-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('reads the JSON file named by MDM_CONFIG, under the environment', () => {
    const path = file('ok.json', JSON.stringify({ PORT: 7000, LOG_LEVEL: 'warn' }));
    expect(readConfig({ MDM_CONFIG: path, LOG_LEVEL: 'error' })).toMatchObject({ PORT: 7000, LOG_LEVEL: 'error' });
  });

  it('says clearly when the file is missing, not JSON, or not an object', () => {
    expect(() => readConfig({ MDM_CONFIG: join(dir, 'nope.json') })).toThrow(CliError);
    expect(() => readConfig({ MDM_CONFIG: join(dir, 'nope.json') })).toThrow(/cannot read the config file/);
    expect(() => readConfig({ MDM_CONFIG: file('bad.json', '{PORT: 1') })).toThrow(/is not valid JSON/);
    expect(() => readConfig({ MDM_CONFIG: file('arr.json', '[1]') })).toThrow(/must hold a JSON object/);
    const err = configError(() => readConfig({ MDM_CONFIG: file('badval.json', '{"PORT": "x"}') }));
    expect(err.message).toMatch(/PORT/);
  });
});

describe('configuration docs', () => {
  // The tables are written by hand: this keeps them from missing a variable.
  it.each(['README.md', 'docs/configuration.md'])('%s has a row for every variable of ConfigSchema', (doc) => {
    const text = readFileSync(new URL(`../${doc}`, import.meta.url), 'utf8');
    const rows = new Set([...text.matchAll(/^\| `([A-Z0-9_]+)` \|/gm)].map((m) => m[1]));
    expect(CONFIG_KEYS.filter((k) => !rows.has(k))).toEqual([]);
    expect([...rows].filter((k) => !(CONFIG_KEYS as string[]).includes(k))).toEqual([]);
  });
});
