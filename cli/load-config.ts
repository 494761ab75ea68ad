import { readFileSync } from 'node:fs';
import { loadConfig, type Config } from '../models/config.js';
import { CliError } from './io.js';

/**
 * The one place configuration is read: the JSON file named by MDM_CONFIG (if
 * any) under the environment. Throws MDM_ERR_CONFIG listing every bad variable.
 */
export function readConfig(env: Readonly<Record<string, string | undefined>>): Config {
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
  return loadConfig(env, file);
}
