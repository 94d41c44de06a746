/**
 * Presets: the published `config.json` of each family member, kept verbatim (hub keys and values, spec §1.1) as data
 * files in `presets/NAME.json`, so `mimo inspect` and the planners can reason about a model without its weights.
 * The list of presets is the directory listing, not a table in code. Source: spec §0, §1.1, §2.2 (MTP count).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../../errors.js';
import { packageRoot } from '../../util/package-root.js';
import { parseConfig, type MiMoConfig } from './config.js';

/**
 * MTP layers in every released checkpoint (`model.mtp.layers.{0,1,2}`). Not in config.json (spec §1.1); a checkpoint
 * directory is counted with `countMtpLayers` (weights.ts) instead. Flash-Base may ship 1 (spec Uncertain #9).
 */
export const PRESET_NUM_MTP_LAYERS = 3;

/** Directory of the preset files: `<package root>/presets`. */
export function presetsDir(): string {
  return path.join(packageRoot(), 'presets');
}

function listPresets(): string[] {
  const dir = presetsDir();
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => f.slice(0, -'.json'.length))
    .sort();
}

/** Names of the shipped presets (`mimo-v2-flash`, `mimo-v2.5`, …), sorted; the files in `presets/`. */
export const PRESET_NAMES: readonly string[] = Object.freeze(listPresets());

/** A preset: the config.json object exactly as published, and its parsed form. */
export interface Preset {
  raw: Record<string, unknown>;
  config: MiMoConfig;
}

/**
 * Load and parse `presets/NAME.json`.
 * @param name one of {@link PRESET_NAMES}
 * @throws ConfigError('preset', …) listing the valid names when `name` is unknown; ConfigError naming the preset
 *   file when it is not valid JSON or does not parse (see parseConfig).
 */
export function loadPreset(name: string): Preset {
  if (!PRESET_NAMES.includes(name)) {
    const valid = PRESET_NAMES.length > 0 ? PRESET_NAMES.join(', ') : `none (no presets found in ${presetsDir()})`;
    throw new ConfigError('preset', undefined, `unknown preset ${JSON.stringify(name)}; valid presets: ${valid}`);
  }
  const file = path.join(presetsDir(), `${name}.json`);
  let raw: unknown;
  try {
    raw = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new ConfigError(file, undefined, `cannot read preset (${(e as Error).message})`);
  }
  const config = parseConfig(raw, file);
  return { raw: raw as Record<string, unknown>, config };
}
