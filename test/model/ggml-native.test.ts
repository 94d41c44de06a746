/**
 * GGUF block weights through the whole model on the native backend. A golden case whose widths are multiples of 32
 * has its linear weights (router excepted, as llama.cpp's converters keep it) requantised with the TypeScript
 * quantizers into every 32-element block type the native kernels run, one type after another across the weights; the
 * model on the native backend (weights kept as ggml blocks) must
 * - match the TypeScript reference forward on the same weights (dequantised by the reference decoders): logits within
 *   the golden tolerance, greedy ids equal;
 * - give a token the same bits whether its prompt is prefilled whole, in chunks of 1, 3, 7 or W, on every level.
 * (The 256-element K-quants and IQ4_XS need widths the golden cases do not have; test/kernels/ggml-kernels.test.ts
 * covers them op by op, MoE included.)
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import type { Weight } from '../../src/kernels/backend.js';
import { DISPATCH_LEVELS } from '../../src/kernels/native/addon.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import { referenceBackend } from '../../src/kernels/reference/ops.js';
import { loadModel } from '../../src/model/load.js';
import { MiMoModel } from '../../src/model/mimo-v2/model.js';
import { prepareWeights } from '../../src/model/mimo-v2/weights.js';
import { quantizeGgmlRows } from '../../src/tensor/formats/ggml/quantize.js';
import { GGML_TYPE, ggmlTypeName } from '../../src/tensor/formats/ggml/types.js';
import { argmax, discoverCases, maxAbs, maxAbsDiff, readGolden } from '../helpers/fixtures.js';
import { assertBitwise } from '../helpers/kernel-check.js';
import { nativeAddon, needNative } from '../helpers/native.js';

const TYPES = ['Q4_0', 'Q4_1', 'Q5_0', 'Q5_1', 'Q8_0', 'IQ4_NL', 'MXFP4'].map((n) => GGML_TYPE[n]!);
const caseDir = discoverCases().find((d) => path.basename(d) === 'bf16_untied_1group');

test('the golden case with 32-multiple widths is present', () => assert.ok(caseDir, 'no bf16_untied_1group case in the fixtures'));

function runChunks(model: MiMoModel, ids: number[], chunk: number): Float32Array {
  const cache = model.newCache();
  const D = model.config.hiddenSize;
  const out = new Float32Array(ids.length * D);
  for (let s = 0; s < ids.length; s += chunk) out.set(model.forward(ids.slice(s, s + chunk), cache), s * D);
  return out;
}

function greedy(model: MiMoModel, ids: number[], steps: number): number[] {
  const cache = model.newCache();
  const D = model.config.hiddenSize;
  let h = model.forward(ids, cache).subarray((ids.length - 1) * D);
  const out: number[] = [];
  for (let s = 0; s < steps; s++) {
    out.push(argmax(model.computeLogits(h, 1)));
    h = model.forward([out[s]!], cache);
  }
  return out;
}

test('native backend on ggml block weights: = reference forward on the same weights, and row invariant on every level', { skip: !caseDir }, (t) => {
  const addon = nativeAddon;
  if (!needNative(t) || !addon) return;
  const { model: f32Model, config } = loadModel(caseDir!);
  const used = new Map<number, number>();
  let next = 0;
  const router = new Set<Weight>(f32Model.weights.layers.flatMap((l) => (l.mlp.kind === 'moe' ? [l.mlp.moe.router] : [])));
  const quantised = prepareWeights(f32Model.weights, (w) => {
    if (router.has(w) || w.cols % 32 !== 0) return w;
    const type = TYPES[next++ % TYPES.length]!;
    used.set(type, (used.get(type) ?? 0) + 1);
    return { rows: w.rows, cols: w.cols, dtype: 'ggml', ggmlType: type, data: quantizeGgmlRows(type, w.data as Float32Array, w.rows, w.cols), name: w.name };
  });
  assert.deepEqual([...used.keys()].sort((a, b) => a - b), [...TYPES].sort((a, b) => a - b), 'every type is in the model');
  t.diagnostic(`ggml weights per type: ${[...used].map(([k, n]) => `${ggmlTypeName(k)} ${n}`).join(', ')}`);
  const native = new MiMoModel(config, quantised, createNativeBackend());
  const ref = new MiMoModel(config, quantised, referenceBackend);
  assert.equal(native.weights.layers[0]!.attention.q.dtype, 'ggml', 'the native backend keeps block weights as stored');

  const g = readGolden(caseDir!);
  const base = Array.from(g.tensors.get('input_ids')!.data);
  const W = config.slidingWindow;
  const n = 2 * W + 5;
  const ids = Array.from({ length: n }, (_, i) => base[i % base.length]!);
  const before = addon.getDispatch();
  try {
    const want = ref.computeLogits(runChunks(ref, ids, n), n);
    const tol = 2e-3 * Math.max(1, maxAbs(want));
    const wantGreedy = greedy(ref, ids.slice(0, 5), 6);
    for (const level of DISPATCH_LEVELS.slice(DISPATCH_LEVELS.indexOf(addon.bestDispatch()))) {
      addon.setDispatch(level);
      const whole = runChunks(native, ids, n);
      const logits = native.computeLogits(whole, n);
      const d = maxAbsDiff(logits, want);
      t.diagnostic(`${level}: max |logit − reference| = ${d.toExponential(3)} (tolerance ${tol.toExponential(3)})`);
      assert.ok(d <= tol, `${level}: logits differ from the reference by ${d} > ${tol}`);
      assert.deepEqual(greedy(native, ids.slice(0, 5), 6), wantGreedy, `${level}: greedy ids`);
      for (const chunk of [1, 3, 7, W]) {
        const other = runChunks(native, ids, chunk);
        assertBitwise(other, whole, `${level} chunk ${chunk}: hidden`);
        assertBitwise(native.computeLogits(other, n), logits, `${level} chunk ${chunk}: logits`);
      }
    }
  } finally {
    addon.setDispatch(before);
  }
});
