import { readFileSync } from 'node:fs';
import { loadConfig, type Config } from '../models/config.js';
import { CliError } from './io.js';

/**
 * The one place configuration is read: the JSON file named by MDM_CONFIG (if
 * any) under the environment. Throws MDM_ERR_CONFIG listing every bad variable.
 */
export function readConfig(env: Readonly<Record<string, string | undefined>>): Config {
  return readConfigWithSources(env).config;
}

/**
 * readConfig, plus the keys the operator gave (in the environment or the
 * MDM_CONFIG file), so that a default can yield where a given value must not
 * (`mdm serve` moves the embedded broker off a taken 1883 only when
 * MQTT_PORT was not given).
 */
export function readConfigWithSources(env: Readonly<Record<string, string | undefined>>): { config: Config; given: ReadonlySet<string> } {
  const path = env.MDM_CONFIG;
  let file: Record<string, unknown> = {};
  if (path) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (err) {
      throw new CliError(`cannot read the config file MDM_CONFIG=${path}: ${(err as Error).message}`);
    }
    try {
      file = JSON.parse(text);
    } catch (err) {
      throw new CliError(`the config file MDM_CONFIG=${path} is not valid JSON: ${(err as Error).message}`);
    }
    if (file === null || typeof file !== 'object' || Array.isArray(file)) {
      throw new CliError(`the config file MDM_CONFIG=${path} must hold a JSON object such as {"PORT": 8080}`);
    }
  }
  const config = loadConfig(env, file);
  const given = new Set([...Object.keys(file), ...Object.keys(env).filter((k) => env[k] !== undefined && env[k] !== '')].filter((k) => k in config));
  return { config, given };
}
