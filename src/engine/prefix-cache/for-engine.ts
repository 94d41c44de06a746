/**
 * The prefix cache of a loaded engine: its generation marker from the tokenizer (`<|im_start|>assistant`) and a
 * default RAM budget from the machine's memory.
 */
import * as os from 'node:os';
import type { MiMoEngine } from '../engine.js';
import { PrefixCache } from './prefix-cache.js';
import { DiskTier, modelFingerprint } from './disk-tier.js';

/** Default `--cache-ram`: a quarter of the machine's memory, at most 8 GiB. */
export function defaultCacheRamBytes(): number {
  return Math.min(8 * 2 ** 30, Math.floor(os.totalmem() / 4));
}

/** Default `--cache-disk`: 16 GiB. */
export function defaultCacheDiskBytes(): number {
  return 16 * 2 ** 30;
}

/**
 * @param opts.dir the disk tier's directory (`--cache-dir`), opts.diskBytes its budget (default 16 GiB),
 *   opts.onWarning where its warnings go (default: process warnings)
 * @param opts.ramBytes budget in bytes (default {@link defaultCacheRamBytes}); opts.checkpointEvery snapshot interval
 *   in tokens (default 512); opts.pageSize positions per page (default 64)
 * @throws RangeError for a negative budget or a non-integer interval
 */
export function newPrefixCache(
  engine: Pick<MiMoEngine, 'model' | 'tokenizer' | 'dir'>,
  opts: { ramBytes?: number; checkpointEvery?: number; pageSize?: number; dir?: string; diskBytes?: number; onWarning?: (message: string) => void } = {},
): PrefixCache {
  const tok = engine.tokenizer;
  let marker: number[] | null = null;
  if (tok) {
    const ids = tok.encode('<|im_start|>assistant');
    // Only when `<|im_start|>` is a special token of this vocabulary (one id), as in MiMo's tokenizer.
    if (ids.length >= 2 && tok.encode('<|im_start|>').length === 1) marker = ids;
  }
  const cache = new PrefixCache(engine.model, { ramBytes: opts.ramBytes ?? defaultCacheRamBytes(), checkpointEvery: opts.checkpointEvery ?? 512, pageSize: opts.pageSize ?? 64, generationMarker: marker });
  if (opts.dir !== undefined) {
    const warn = opts.onWarning ?? ((m: string) => process.emitWarning(m, { type: 'MimoWarning', code: 'MIMO_PREFIX_CACHE' }));
    cache.disk = new DiskTier(opts.dir, opts.diskBytes ?? defaultCacheDiskBytes(), modelFingerprint(engine.dir), engine.model.kvDtype, warn);
  }
  return cache;
}
