/**
 * GGUF files with K-quant, IQ4 and MXFP4 tensors (written by `mimo quantize` from a checkpoint whose every row is a
 * multiple of 256, test/helpers/k256-checkpoint.ts) on the native backend, block tensors as stored: no tensor is
 * dequantised at load, every block type of the file reaches the native kernels, and against the TypeScript reference
 * forward on the same file the logits (and MTP logits) are within 1e-4 of the largest, the greedy ids equal; whole
 * prefill = chunked (1, 3, 5) bitwise on every dispatch level.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import type { Weight } from '../../src/kernels/backend.js';
import { DISPATCH_LEVELS } from '../../src/kernels/native/addon.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import { loadModel, type LoadedModel } from '../../src/model/load.js';
import type { MiMoModel } from '../../src/model/mimo-v2/model.js';
import { quantizeCheckpoint } from '../../src/model/mimo-v2/gguf-quantize.js';
import { ggmlTypeName } from '../../src/tensor/formats/ggml/types.js';
import { argmax, maxAbs, maxAbsDiff } from '../helpers/fixtures.js';
import { makeK256Checkpoint } from '../helpers/k256-checkpoint.js';
import { assertBitwise } from '../helpers/kernel-check.js';
import { needNative } from '../helpers/native.js';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-gguf-native-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));
const ckptDir = path.join(tmp, 'k256');
before(() => makeK256Checkpoint(ckptDir));

/** ggml type names of the block weights anywhere under a model's weights, with their counts. */
function blockTypes(obj: unknown, out = new Map<string, number>()): Map<string, number> {
  if (typeof obj !== 'object' || obj === null || ArrayBuffer.isView(obj)) return out;
  if ('dtype' in obj && 'rows' in obj) {
    const w = obj as Weight;
    if (w.dtype === 'ggml') out.set(ggmlTypeName(w.ggmlType!), (out.get(ggmlTypeName(w.ggmlType!)) ?? 0) + 1);
    return out;
  }
  for (const v of Object.values(obj)) blockTypes(v, out);
  return out;
}

function run(m: LoadedModel, ids: number[]): { logits: Float32Array; greedy: number[]; mtp: Float32Array } {
  const { model, config } = m;
  const cache = model.newCache();
  const h = model.forward(ids, cache);
  const logits = model.computeLogits(h, ids.length);
  const greedy: number[] = [];
  let last = logits.subarray((ids.length - 1) * config.vocabSize);
  for (let j = 0; j < 3; j++) {
    greedy.push(argmax(last));
    last = model.computeLogits(model.forward([greedy[j]!], cache), 1);
  }
  const T = ids.length - 1;
  const mtp = model.computeLogits(model.mtpForward(0, h.subarray(0, T * config.hiddenSize), ids.slice(1), model.newCache()), T);
  return { logits, greedy, mtp };
}

function chunked(model: MiMoModel, ids: number[], chunk: number): Float32Array {
  const cache = model.newCache();
  const D = model.config.hiddenSize;
  const out = new Float32Array(ids.length * D);
  for (let s = 0; s < ids.length; s += chunk) out.set(model.forward(ids.slice(s, s + chunk), cache), s * D);
  return out;
}

const IDS = [1, 17, 300, 42, 511, 7, 99, 256, 3, 128, 64];
/** The block types each file type must bring to the native kernels (llama-quantize's choices on this model). */
const WANT: Record<string, string[]> = {
  q4_k_m: ['Q4_K', 'Q6_K'],
  q5_k_m: ['Q5_K', 'Q6_K'],
  iq4_xs: ['IQ4_XS', 'Q5_K', 'Q6_K'],
  mxfp4: ['MXFP4', 'Q8_0'],
};

for (const type of Object.keys(WANT)) {
  test(`GGUF ${type} on the native backend: block tensors as stored, = reference forward, row invariant on every level`, async (t) => {
    const addon = needNative(t);
    if (!addon) return;
    const file = path.join(tmp, `k256-${type}.gguf`);
    await quantizeCheckpoint({ input: ckptDir, output: file, type });
    const notes: string[] = [];
    const native = loadModel(file, { backend: createNativeBackend(), onNote: (m) => notes.push(m) });
    assert.deepEqual(notes, [], 'no GGUF tensor is dequantised at load for the native backend');
    const types = blockTypes(native.model.weights);
    t.diagnostic(`block weights: ${JSON.stringify(Object.fromEntries(types))}`);
    for (const name of WANT[type]!) assert.ok(types.has(name), `${name} weights reach the native kernels`);
    const ref = run(loadModel(file, { onNote: () => {} }), IDS);
    const tol = 1e-4 * Math.max(1, maxAbs(ref.logits));
    const before = addon.getDispatch();
    try {
      for (const level of DISPATCH_LEVELS.slice(DISPATCH_LEVELS.indexOf(addon.bestDispatch()))) {
        addon.setDispatch(level);
        const got = run(native, IDS);
        const d = maxAbsDiff(got.logits, ref.logits);
        t.diagnostic(`${level}: max |logit − reference| ${d.toExponential(2)} (tolerance ${tol.toExponential(2)})`);
        assert.ok(d <= tol, `${level}: logits differ from the reference by ${d} > ${tol}`);
        assert.ok(maxAbsDiff(got.mtp, ref.mtp) <= tol, `${level}: MTP logits`);
        assert.deepEqual(got.greedy, ref.greedy, `${level}: greedy ids`);
        const whole = chunked(native.model, IDS, IDS.length);
        for (const c of [1, 3, 5]) assertBitwise(chunked(native.model, IDS, c), whole, `${level} chunks of ${c}`);
      }
    } finally {
      addon.setDispatch(before);
    }
  });
}
