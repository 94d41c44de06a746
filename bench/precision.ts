/**
 * Precision of the native matmuls against the TypeScript reference on a checkpoint's real weights (meant for the
 * `--scale wide` ones: the real matrix shapes). For every weight of one layer (attention projections, router,
 * dense MLP or the first experts, default layer 1) and the LM head: the same random activations x `[T, in]` through
 * the native kernel and through the reference (the weight dequantised to f32, f64-free f32 loop), reported as
 * max |native − ref| / max |ref| and as max |native − ref| / Σ|w||x| per output. Weights are dequantised one at a
 * time (a whole wide checkpoint in f32 does not fit in memory). Prints the dispatch level that ran.
 *
 * A GGUF file is read with its block-quantised weights as stored (the native ggml kernels against the reference
 * decoders).
 *
 *   node dist/bench/precision.js --model DIR|FILE.gguf [--layer 1] [--tokens 4] [--experts 2]
 * Source: issue 16 (precision rule: within 1e-4 relative on a real-width layer).
 */
import { Command } from 'commander';
import { parseIntOption } from '../src/cli/options.js';
import type { Weight } from '../src/kernels/backend.js';
import { loadNativeAddon } from '../src/kernels/native/addon.js';
import { createNativeBackend } from '../src/kernels/native/backend.js';
import { referenceBackend as ref } from '../src/kernels/reference/ops.js';
import { ggmlTypeName } from '../src/tensor/formats/ggml/types.js';
import { loadConfig } from '../src/model/mimo-v2/config.js';
import { loadWeights } from '../src/model/mimo-v2/weights.js';
import { Checkpoint } from '../src/loader/checkpoint.js';
import { resolveGgufPaths } from '../src/loader/gguf.js';
import { loadModel } from '../src/model/load.js';
import * as path from 'node:path';

const program = new Command()
  .requiredOption('--model <dir>', 'checkpoint directory or GGUF file')
  .option('--layer <n>', 'layer whose weights are checked', parseIntOption(0), 1)
  .option('--tokens <n>', 'tokens per matmul', parseIntOption(1), 4)
  .option('--experts <n>', 'routed experts checked', parseIntOption(0), 2)
  .parse();
const opts = program.opts<{ model: string; layer: number; tokens: number; experts: number }>();

const addon = loadNativeAddon();
const map = (file: string, offset?: number, length?: number) => addon.mmapFile(file, offset, length);
const native = createNativeBackend();
// A GGUF (block types kept as stored for the native kernels) loads through loadModel; a checkpoint directory as is.
const gguf = resolveGgufPaths(opts.model) !== null;
const ckpt = gguf ? null : new Checkpoint(opts.model, { map });
const weights = ckpt ? loadWeights(ckpt, loadConfig(path.join(opts.model, 'config.json'))).weights : loadModel(opts.model, { backend: native, map }).model.weights;

const isWeight = (v: unknown): v is Weight =>
  typeof v === 'object' && v !== null && 'rows' in v && 'cols' in v && 'dtype' in v && 'data' in v;

/** Every weight under obj with a dotted name, routed experts limited to the first `opts.experts`. */
function collect(obj: unknown, name: string, out: Array<[string, Weight]>): void {
  if (isWeight(obj)) {
    out.push([name, obj]);
    return;
  }
  if (Array.isArray(obj)) {
    obj.slice(0, name.endsWith('experts') ? opts.experts : obj.length).forEach((v, i) => collect(v, `${name}.${i}`, out));
    return;
  }
  if (typeof obj === 'object' && obj !== null && !ArrayBuffer.isView(obj)) {
    for (const [k, v] of Object.entries(obj)) collect(v, name ? `${name}.${k}` : k, out);
  }
}

let seed = 12345;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32) * 2 - 1;

console.log(`# node ${process.argv.slice(1).join(' ')}`);
console.log(`# native dispatch ${addon.getDispatch()}, T = ${opts.tokens}`);
const list: Array<[string, Weight]> = [];
collect(weights.layers[opts.layer], `layers.${opts.layer}`, list);
collect(weights.lmHead, 'lm_head', list);
let worst = 0;
for (const [name, w] of list) {
  if (w.rows * w.cols < 4096) continue; // norms and biases are not matmuls
  const T = opts.tokens;
  const x = Float32Array.from({ length: T * w.cols }, rand);
  const yn = native.matmul(x, T, native.prepareWeight(w));
  const wf = ref.prepareWeight(w);
  const yr = ref.matmul(x, T, wf);
  const bound = ref.matmul(x.map(Math.abs), T, { ...wf, data: (wf.data as Float32Array).map(Math.abs) });
  let d = 0;
  let m = 0;
  let dn = 0;
  for (let i = 0; i < yr.length; i++) {
    const e = Math.abs(yn[i]! - yr[i]!);
    d = Math.max(d, e);
    m = Math.max(m, Math.abs(yr[i]!));
    dn = Math.max(dn, e / bound[i]!);
  }
  worst = Math.max(worst, d / m);
  const dtype = w.dtype === 'ggml' ? ggmlTypeName(w.ggmlType!) : w.dtype;
  console.log(`${name} ${dtype} [${w.rows}, ${w.cols}]: ${(d / m).toExponential(2)} of max |y|, ${dn.toExponential(2)} of Σ|w||x|`);
}
console.log(`worst: ${worst.toExponential(2)} of max |y|`);
ckpt?.close();
