/**
 * Sampling defaults a checkpoint ships in `generation_config.json` (spec §5.3), used by `mimo run` and `mimo serve`
 * for the parameters a request leaves out.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RequestError } from '../errors.js';
import { validateSamplingParams } from './sampler.js';

/**
 * Sampling defaults from the checkpoint's generation_config.json (temperature, top_p, top_k; `do_sample: false`
 * means greedy, as in transformers), when present. Flags given on the command line win.
 * @throws RequestError naming the file when it is not a JSON object or a value is invalid
 */
export function generationDefaults(dir: string): { temperature?: number; topP?: number; topK?: number } {
  const file = path.join(dir, 'generation_config.json');
  if (!fs.existsSync(file)) return {};
  let g: unknown;
  try {
    g = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new RequestError(file, `not valid JSON (${(e as Error).message})`);
  }
  if (!g || typeof g !== 'object' || Array.isArray(g)) throw new RequestError(file, 'not a JSON object');
  const cfg = g as Record<string, unknown>;
  const num = (k: string) => {
    const v = cfg[k];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new RequestError(`${file}: ${k}`, `expected a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const out = { temperature: cfg['do_sample'] === false ? 0 : num('temperature'), topP: num('top_p'), topK: num('top_k') };
  try {
    validateSamplingParams(out);
  } catch (e) {
    if (e instanceof RequestError) throw new RequestError(`${file}: ${e.param}`, e.message.slice(e.param.length + 2));
    throw e;
  }
  return out;
}

