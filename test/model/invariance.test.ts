/**
 * Invariances that need no reference (STYLE habit 8), on every golden fixture checkpoint: whole prefill =
 * chunked prefill = token by token; prompt lengths W−1, W, W+1, 2W+3; decode crossing the window equals full
 * recomputation at every step; sliding-window KV bytes stop growing past W; on the native backend (every dispatch
 * level) whole, chunked and token-by-token prefill give the same bits.
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { loadModel } from '../../src/model/load.js';
import type { MiMoModel } from '../../src/model/mimo-v2/model.js';
import { DISPATCH_LEVELS } from '../../src/kernels/native/addon.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import { argmax, discoverCases, maxAbs, maxAbsDiff, readGolden } from '../helpers/fixtures.js';
import { assertBitwise } from '../helpers/kernel-check.js';
import { nativeAddon, needNative } from '../helpers/native.js';

const cases = discoverCases();
test('invariance cases are present', () => assert.ok(cases.length > 0));

function runChunks(model: MiMoModel, ids: number[], chunk: number): Float32Array {
  const cache = model.newCache();
  const D = model.config.hiddenSize;
  const out = new Float32Array(ids.length * D);
  for (let s = 0; s < ids.length; s += chunk) out.set(model.forward(ids.slice(s, s + chunk), cache), s * D);
  return out;
}

for (const dir of cases) {
  test(`invariances on ${path.basename(dir)}`, async (t) => {
    const g = readGolden(dir);
    const { model, config } = loadModel(dir);
    const W = config.slidingWindow;
    const D = config.hiddenSize;
    const V = config.vocabSize;
    const base = Array.from(g.tensors.get('input_ids')!.data);
    const tol = 2e-3 * Math.max(1, maxAbs(g.tensors.get('logits')!.data));
    const ids = (n: number) => Array.from({ length: n }, (_, i) => base[i % base.length]!);

    for (const n of [W - 1, W, W + 1, 2 * W + 3]) {
      await t.test(`prompt length ${n}: whole = chunked (3, W) = token by token`, () => {
        const whole = model.computeLogits(runChunks(model, ids(n), n), n);
        for (const chunk of [1, 3, W]) {
          const other = model.computeLogits(runChunks(model, ids(n), chunk), n);
          const d = maxAbsDiff(whole, other);
          assert.ok(d <= tol, `chunk ${chunk}: max diff ${d}`);
        }
      });
    }

    await t.test('decode crossing the window equals full recomputation at every step', () => {
      const P = 3;
      const steps = 2 * W + 4;
      const cache = model.newCache();
      const seq = ids(P);
      let h = model.forward(seq, cache);
      let last = h.subarray((P - 1) * D);
      for (let s = 0; s < steps; s++) {
        const cached = model.computeLogits(last, 1);
        const full = model.computeLogits(model.forward(seq, model.newCache()).subarray((seq.length - 1) * D), 1);
        assert.ok(maxAbsDiff(cached, full) <= tol, `step ${s}`);
        const next = argmax(cached);
        assert.equal(next, argmax(full), `step ${s}: token`);
        assert.ok(next < V);
        seq.push(next);
        last = model.forward([next], cache);
      }
    });

    await t.test('sliding-window KV bytes are constant past W; full layers grow', () => {
      const cache = model.newCache();
      const sizes: number[][] = [];
      for (let p = 0; p < 3 * W; p++) {
        model.forward([base[p % base.length]!], cache);
        sizes.push(cache.layers.map((l) => l.sizeBytes));
      }
      config.layers.forEach((plan, i) => {
        const at = (p: number) => sizes[p]![i]!;
        if (plan.attention.window !== null) {
          assert.equal(at(3 * W - 1), at(W - 1), `layer ${i} grew past W`);
          assert.equal(at(W - 1), W * plan.attention.numKvHeads * (plan.attention.headDim + plan.attention.vHeadDim) * 4);
        } else {
          const perPosition = plan.attention.numKvHeads * (plan.attention.headDim + plan.attention.vHeadDim) * 4;
          assert.ok(at(3 * W - 1) >= 3 * W * perPosition, `full layer ${i} should keep every position`);
          assert.equal(cache.layers[i]!.first, 0);
        }
      });
    });
  });
}

// Row invariance of the native kernels at the model level (every dispatch level): a token's hidden state and logits
// have the same bits whether its prompt is prefilled whole, in chunks of 1, 3, 7, 12 or W tokens, or decoded one
// token at a time — what the prefix cache and batched/speculative decoding rely on.
for (const dir of cases) {
  test(`native row invariance on ${path.basename(dir)}: whole = chunked = token by token, bitwise, every level`, (t) => {
    const addon = nativeAddon;
    if (!needNative(t) || !addon) return;
    const before = addon.getDispatch();
    try {
      const { model, config } = loadModel(dir, { backend: createNativeBackend() });
      const W = config.slidingWindow;
      const g = readGolden(dir);
      const base = Array.from(g.tensors.get('input_ids')!.data);
      const n = 2 * W + 5;
      const ids = Array.from({ length: n }, (_, i) => base[i % base.length]!);
      for (const level of DISPATCH_LEVELS.slice(DISPATCH_LEVELS.indexOf(addon.bestDispatch()))) {
        addon.setDispatch(level);
        const whole = runChunks(model, ids, n);
        const wholeLogits = model.computeLogits(whole, n);
        for (const chunk of [1, 3, 7, 12, W]) {
          const other = runChunks(model, ids, chunk);
          assertBitwise(other, whole, `${level} chunk ${chunk}: hidden`);
          assertBitwise(model.computeLogits(other, n), wholeLogits, `${level} chunk ${chunk}: logits`);
        }
      }
    } finally {
      addon.setDispatch(before);
    }
  });
}
