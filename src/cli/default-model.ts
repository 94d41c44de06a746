/**
 * The default model of `mimo run` without `--model`: a random-weight MiMo-V2-Flash scaled to "small", created
 * once in a cache directory ($MIMO_CACHE_DIR, else $XDG_CACHE_HOME/mimo-ts, else ~/.cache/mimo-ts).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import cliProgress from 'cli-progress';
import { initCheckpoint } from '../model/mimo-v2/init.js';

export const DEFAULT_PRESET = 'mimo-v2-flash';
export const DEFAULT_SCALE = 'small' as const;

/** Cache root for models created by mimo.ts. */
export function cacheDir(): string {
  const env = process.env;
  if (env['MIMO_CACHE_DIR']) return env['MIMO_CACHE_DIR'];
  const base = env['XDG_CACHE_HOME'] || path.join(os.homedir(), '.cache');
  return path.join(base, 'mimo-ts');
}

/** Directory of the default model (exists once created). */
export function defaultModelDir(): string {
  return path.join(cacheDir(), 'models', `${DEFAULT_PRESET}-${DEFAULT_SCALE}-random`);
}

/**
 * Return the default model directory, creating it first (with a progress bar on stderr) when absent.
 * @param log where notices go (stderr)
 */
export async function ensureDefaultModel(log: (line: string) => void): Promise<string> {
  const dir = defaultModelDir();
  if (fs.existsSync(path.join(dir, 'config.json'))) {
    log(`mimo: no --model given; using the random-weight ${DEFAULT_PRESET} (${DEFAULT_SCALE}) model at ${dir}. Its output is random text; pass --model DIR to run a real checkpoint.`);
    return dir;
  }
  log(`mimo: no --model given; creating a ${DEFAULT_PRESET} model scaled down to "${DEFAULT_SCALE}" with RANDOM weights at ${dir} (once).`);
  log('      Its output is random text. To run the real model, download an official checkpoint directory');
  log('      (config.json, *.safetensors, tokenizer.json, tokenizer_config.json) and pass it with --model DIR.');
  fs.mkdirSync(path.dirname(dir), { recursive: true });
  const bar = new cliProgress.SingleBar(
    { format: '  writing weights [{bar}] {percentage}% | {value}/{total} MB', stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  await initCheckpoint({
    preset: DEFAULT_PRESET,
    scale: DEFAULT_SCALE,
    outDir: dir,
    onProgress: (done, total) => {
      const mb = (b: number) => Math.round(b / 1e6);
      if (!started) {
        bar.start(mb(total), 0);
        started = true;
      }
      bar.update(mb(done));
    },
  });
  if (started) bar.stop();
  return dir;
}
