/**
 * Precision of the native GGUF block kernels against the TypeScript reference (the type's decoder, then the f32
 * product): for every type of `addon.ggmlTypes()` and every dispatch level this CPU runs, a [64, 4096] weight made by
 * the TypeScript quantizer from normal(ish) values and T = 3 random tokens; prints max |native − ref| / Σ|w||x| per
 * output and max |native − ref| / max |y|. (The kernels' decoded weights equal the decoder's bit for bit, so this is
 * the f32 summation order alone.)
 *
 *   npm run build:native && npx tsc -p . && node dist/bench/ggml-precision.js [--cols 4096] [--tokens 3]
 */
import { Command } from 'commander';
import { parseIntOption } from '../src/cli/options.js';
import { DISPATCH_LEVELS } from '../src/kernels/native/addon.js';
import { loadNativeAddon } from '../src/kernels/native/addon.js';
import { createNativeBackend } from '../src/kernels/native/backend.js';
import { referenceBackend as ref } from '../src/kernels/reference/ops.js';
import { quantizeGgmlRows } from '../src/tensor/formats/ggml/quantize.js';
import { ggmlTypeName } from '../src/tensor/formats/ggml/types.js';

const opts = new Command()
  .option('--cols <n>', 'columns (a multiple of 256)', parseIntOption(256), 4096)
  .option('--tokens <n>', 'tokens per matmul', parseIntOption(1), 3)
  .parse()
  .opts<{ cols: number; tokens: number }>();

const addon = loadNativeAddon();
const native = createNativeBackend();
let seed = 3;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
const [rows, cols, T] = [64, opts.cols, opts.tokens];
const levels = DISPATCH_LEVELS.slice(DISPATCH_LEVELS.indexOf(addon.bestDispatch()));
console.log(`# node ${process.argv.slice(1).join(' ')}`);
console.log(`# [${rows}, ${cols}], T = ${T}, levels ${levels.join(', ')}`);
for (const type of addon.ggmlTypes()) {
  const f = Float32Array.from({ length: rows * cols }, () => (rand() + rand() + rand() - 1.5) * 0.05);
  const w = { rows, cols, dtype: 'ggml' as const, ggmlType: type, data: quantizeGgmlRows(type, f, rows, cols) };
  const wf = ref.prepareWeight(w);
  const x = Float32Array.from({ length: T * cols }, () => rand() * 2 - 1);
  const want = ref.matmul(x, T, wf);
  const bound = ref.matmul(x.map(Math.abs), T, { ...wf, data: (wf.data as Float32Array).map(Math.abs) });
  const parts: string[] = [];
  for (const level of levels) {
    addon.setDispatch(level);
    const got = native.matmul(x, T, w);
    let ofBound = 0;
    let diff = 0;
    let maxY = 0;
    for (let i = 0; i < got.length; i++) {
      const e = Math.abs(got[i]! - want[i]!);
      ofBound = Math.max(ofBound, e / bound[i]!);
      diff = Math.max(diff, e);
      maxY = Math.max(maxY, Math.abs(want[i]!));
    }
    parts.push(`${level} ${ofBound.toExponential(1)} of Σ|w||x|, ${(diff / maxY).toExponential(1)} of max |y|`);
  }
  console.log(`${ggmlTypeName(type)}: ${parts.join('; ')}`);
}
addon.setDispatch(addon.bestDispatch());
