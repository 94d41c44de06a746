/**
 * Native MXFP4 kernels (MiMo-V2.6 routed experts) against the TypeScript definition (tensor/formats/mxfp4.ts through
 * the reference backend): matmul through the row kernel (T ≤ 12) and the prefill GEMM (T > 12) on odd row counts and
 * every column count that is a multiple of 32 from 32 up, the fused MoE experts op, every dispatch level forced,
 * 1 vs 2 threads bit for bit, and a row's bits alone vs beside other rows (row invariance of the row kernel).
 * An E8M0 NaN scale byte (255) is refused when the weight is first used, naming the tensor.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MlpWeightSet, Weight } from '../../src/kernels/backend.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import { moeExpertsVia } from '../../src/kernels/reference/moe-experts.js';
import { referenceBackend as ref } from '../../src/kernels/reference/ops.js';
import { assertBitwise, assertClose, randomF32, rng } from '../helpers/kernel-check.js';
import { dispatchLevels, initialThreads, needNative, restoreNativeAfterAll } from '../helpers/native.js';

restoreNativeAfterAll();

/** A random MXFP4 weight: every code, exponent bytes lo … lo+span−1. */
function mxWeight(rows: number, cols: number, r: () => number, lo = 117, span = 20): Weight {
  return {
    rows,
    cols,
    dtype: 'mxfp4',
    data: Uint8Array.from({ length: (rows * cols) / 2 }, () => Math.floor(r() * 256)),
    e8m0: Uint8Array.from({ length: (rows * cols) / 32 }, () => lo + Math.floor(r() * span)),
    name: 'test.weight',
    file: 'test.safetensors',
  };
}

function absF32(w: Weight): Weight {
  const d = ref.prepareWeight(w).data as Float32Array;
  return { rows: w.rows, cols: w.cols, dtype: 'f32', data: d.map(Math.abs) };
}

/** Native vs reference: |diff| ≤ 2e-5 · Σ|x||w| (float32 accumulation in another order). */
function checkMatmul(w: Weight, T: number, r: () => number, what: string): Float32Array {
  const native = createNativeBackend();
  const x = randomF32(T * w.cols, r);
  const got = native.matmul(x, T, w);
  const want = ref.matmul(x, T, ref.prepareWeight(w));
  const bound = ref.matmul(x.map(Math.abs), T, absF32(w));
  assertClose(got, want, (i) => 2e-5 * bound[i]! + 1e-30, what);
  return got;
}

const SHAPES: Array<[rows: number, cols: number, T: number]> = [
  [1, 32, 1],
  [3, 64, 1],
  [9, 96, 1],
  [17, 160, 2],
  [67, 224, 3],
  [33, 512, 4],
  [5, 96, 5],
  [130, 2048, 1], // expert gate/up width of the release is 4096 → 2048 codes per row; here 2048 columns
  [21, 320, 12], // the last row-kernel T
  [70, 288, 13], // GEMM: 288 = 2 K-blocks of 128 + 32, rows = 64 + 6
  [65, 160, 45],
];

describe('native MXFP4 matmul vs the TypeScript definition', () => {
  it('every dispatch level, odd row counts, T through the row kernel and the GEMM', (t) => {
    const a = needNative(t);
    if (!a) return;
    for (const level of dispatchLevels(a)) {
      a.setDispatch(level);
      const r = rng(2601);
      for (const [rows, cols, T] of SHAPES) checkMatmul(mxWeight(rows, cols, r), T, r, `${level} mxfp4 [${rows}, ${cols}] T=${T}`);
      // Extreme exponents: 2^−127 (byte 0, a float32 subnormal) … 2^100, each decoded exactly.
      checkMatmul(mxWeight(11, 64, r, 0, 5), 3, r, `${level} tiny scales`);
      // The T = 1 tiles: groups of 8 rows and single rows, whole 128-column chunks and a partial one, groups with and
      // without scale byte 0.
      checkMatmul(mxWeight(19, 288, r, 0, 5), 1, r, `${level} tiny scales T=1`);
      checkMatmul(mxWeight(19, 256, r, 1, 3), 1, r, `${level} small scales T=1`);
      checkMatmul(mxWeight(11, 64, r, 200, 27), 2, r, `${level} huge scales`);
    }
  });

  it('a row gives the same bits alone as among 2, 7, 12 rows of tokens, and with 1 or 2 threads', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    for (const level of dispatchLevels(a)) {
      a.setDispatch(level);
      const r = rng(7);
      const w = mxWeight(203, 256, r);
      const x = randomF32(12 * 256, r);
      const alone = native.matmul(x.subarray(0, 256), 1, w);
      for (const T of [2, 7, 12]) {
        const many = native.matmul(x.subarray(0, T * 256), T, w);
        assertBitwise(many.subarray(0, 203), alone, `${level} row 0 of T=${T}`);
      }
      // A partial last chunk (288 = 2 × 128 + 32) and scale byte 0 in some row groups.
      const w2 = mxWeight(45, 288, r, 0, 40);
      const x2 = randomF32(7 * 288, r);
      const alone2 = native.matmul(x2.subarray(0, 288), 1, w2);
      for (const T of [2, 7]) assertBitwise(native.matmul(x2.subarray(0, T * 288), T, w2).subarray(0, 45), alone2, `${level} [45, 288] row 0 of T=${T}`);
      a.setThreads(1);
      const one = native.matmul(x, 12, w);
      a.setThreads(2);
      const two = native.matmul(x, 12, w);
      assertBitwise(one, two, `${level} 1 vs 2 threads`);
      a.setThreads(initialThreads);
    }
  });

  it('an E8M0 NaN scale byte (255) is an error naming the tensor at first use, on both backends', (t) => {
    const w = mxWeight(4, 64, rng(3));
    w.e8m0![5] = 255;
    assert.throws(() => ref.prepareWeight(w), /test\.safetensors: tensor test\.weight_scale: scale \[2, 1\] is byte 255/);
    const a = needNative(t);
    if (!a) return;
    assert.throws(() => createNativeBackend().matmul(new Float32Array(64), 1, w), /test\.weight_scale: scale \[2, 1\] is byte 255/);
  });
});

describe('native MoE experts op with MXFP4 experts', () => {
  const D = 96;
  const I = 64;
  function experts(E: number, r: () => number): MlpWeightSet[] {
    return Array.from({ length: E }, () => ({ gate: mxWeight(I, D, r), up: mxWeight(I, D, r), down: mxWeight(D, I, r) }));
  }
  function routing(T: number, K: number, E: number, r: () => number) {
    const ids = new Int32Array(T * K);
    const weights = new Float32Array(T * K);
    for (let t = 0; t < T; t++) {
      const pool = Array.from({ length: E }, (_, e) => e);
      for (let k = 0; k < K; k++) {
        ids[t * K + k] = pool.splice(Math.floor(r() * pool.length), 1)[0]!;
        weights[t * K + k] = 0.1 + r();
      }
    }
    return { ids, weights };
  }

  it('matches the reference and, bit for bit, the per-expert composition; 1 vs 2 threads bitwise (every level)', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const r = rng(11);
    const ex = experts(8, r);
    const refEx = ex.map((e) => ({ gate: ref.prepareWeight(e.gate), up: ref.prepareWeight(e.up), down: ref.prepareWeight(e.down) }));
    for (const level of dispatchLevels(a)) {
      a.setDispatch(level);
      for (const T of [1, 3, 7, 40]) {
        const x = randomF32(T * D, r);
        const { ids, weights } = routing(T, 2, 8, r);
        const want = ref.moeExperts(x, T, refEx, ids, weights);
        a.setThreads(1);
        const one = native.moeExperts(x, T, ex, ids, weights);
        a.setThreads(2);
        const got = native.moeExperts(x, T, ex, ids, weights);
        a.setThreads(initialThreads);
        for (let tt = 0; tt < T; tt++) {
          const row = want.subarray(tt * D, (tt + 1) * D);
          const scale = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          assert.ok(scale > 0, `token ${tt} has an all-zero reference row`);
          assertClose(got.subarray(tt * D, (tt + 1) * D), row, () => 1e-4 * scale, `${level} T=${T} token ${tt}`);
        }
        assertBitwise(got, one, `${level} T=${T} 1 vs 2 threads`);
        assertBitwise(got, moeExpertsVia(native, x, T, ex, ids, weights), `${level} T=${T} vs composed`);
      }
    }
  });

  it('expert widths of whole 128-column chunks plus a partial one: reference, 1 vs 2 threads, a token alone vs among 5', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const r = rng(12);
    const [Dw, Iw, E] = [288, 256, 4];
    const ex = Array.from({ length: E }, () => ({ gate: mxWeight(Iw, Dw, r), up: mxWeight(Iw, Dw, r), down: mxWeight(Dw, Iw, r) }));
    const refEx = ex.map((e) => ({ gate: ref.prepareWeight(e.gate), up: ref.prepareWeight(e.up), down: ref.prepareWeight(e.down) }));
    for (const level of dispatchLevels(a)) {
      a.setDispatch(level);
      const T = 5;
      const x = randomF32(T * Dw, r);
      const { ids, weights } = routing(T, 2, E, r);
      const want = ref.moeExperts(x, T, refEx, ids, weights);
      a.setThreads(1);
      const one = native.moeExperts(x, T, ex, ids, weights);
      a.setThreads(2);
      const got = native.moeExperts(x, T, ex, ids, weights);
      const alone = native.moeExperts(x.subarray(0, Dw), 1, ex, ids.subarray(0, 2), weights.subarray(0, 2));
      a.setThreads(initialThreads);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      assertClose(got, want, () => 1e-4 * scale, `${level} [${Dw}, ${Iw}] T=${T}`);
      assertBitwise(got, one, `${level} [${Dw}, ${Iw}] 1 vs 2 threads`);
      assertBitwise(got.subarray(0, Dw), alone, `${level} [${Dw}, ${Iw}] token 0 alone vs among ${T}`);
    }
  });
});
