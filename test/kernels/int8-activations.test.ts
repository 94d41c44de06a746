/**
 * The 8-bit-activation path (`activations: 'int8'`, `precision: 'fast'`): native kernels (native/src/
 * kernels_ggml_q8.cc) against the TypeScript definition (src/kernels/reference/q8-activations.ts), bitwise — the block
 * sums are exact integers and the float32 steps run in the same order — for Q4_0, Q5_0, Q8_0, IQ4_NL and MXFP4, on
 * every dispatch level, on odd shapes (1 … 13 blocks per row, so the 8-lane tail is exercised), T = 1 … 33, 1 vs 2
 * threads, and through the fused MoE experts op. Also: the quantiser matches ggml's quantize_row_q8_0 rounding rule
 * on hand-made rows, the int8 path stays within its rounding bound of the f32 path, and a weight of another type asking
 * for int8 activations is refused.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MlpWeightSet, Weight } from '../../src/kernels/backend.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import { referenceBackend as ref } from '../../src/kernels/reference/ops.js';
import { INT8_ACTIVATION_TYPES, matmulInt8Activations, quantizeActivationsInt8 } from '../../src/kernels/reference/q8-activations.js';
import { GGML_TYPE, ggmlRowBytes, ggmlTypeInfo, ggmlTypeName } from '../../src/tensor/formats/ggml/types.js';
import { dequantize } from '../../src/tensor/weight.js';
import { assertBitwise, randomF32, rng } from '../helpers/kernel-check.js';
import { dispatchLevels, needNative, restoreNativeAfterAll } from '../helpers/native.js';

restoreNativeAfterAll();

/** A random int8-path weight `[rows, cols]` of `type`: random code bytes, F16 scales of 2^-9 … 2^-3 (MXFP4: E8M0). */
function int8Weight(type: number, rows: number, cols: number, r: () => number): Weight {
  const info = ggmlTypeInfo(type)!;
  const data = Uint8Array.from({ length: rows * ggmlRowBytes(type, cols) }, () => Math.floor(r() * 256));
  for (let p = 0; p < data.length; p += info.blockBytes) {
    if (info.name === 'MXFP4') {
      data[p] = 117 + Math.floor(r() * 16);
    } else {
      const h = (r() < 0.5 ? 0x8000 : 0) | ((6 + Math.floor(r() * 7)) << 10) | Math.floor(r() * 1024);
      data[p] = h & 0xff;
      data[p + 1] = h >> 8;
    }
  }
  return { rows, cols, dtype: 'ggml', ggmlType: type, data, activations: 'int8', name: `test.${info.name}.weight` };
}

const TYPES = [...INT8_ACTIVATION_TYPES];

describe('8-bit activations (int8 path)', () => {
  it('quantises as quantize_row_q8_0: d = amax/127, q = nearest (ties even), zero block → d = 0', () => {
    const x = new Float32Array(64);
    for (let i = 0; i < 32; i++) x[i] = (i - 16) / 16; // amax 1 at i = 0: d = 1/127, q = round(127·x)
    const { q, d } = quantizeActivationsInt8(x, 1, 64);
    assert.equal(d[0], Math.fround(1 / 127));
    assert.equal(q[0], -127);
    assert.equal(q[16], 0);
    assert.equal(q[24], 64); // 127 · 0.5 = 63.5 (in float32: 63.50000…) → 64
    assert.equal(d[1], 0);
    assert.ok(q.subarray(32).every((v) => v === 0));
  });

  it('the reference is within its rounding bound of the f32 path', () => {
    const r = rng(5);
    for (const type of TYPES) {
      const w = int8Weight(type, 9, 160, r);
      const x = randomF32(3 * 160, r);
      const got = matmulInt8Activations(x, 3, w);
      const exact = ref.matmul(x, 3, dequantize(w));
      // |Δy| ≤ Σ_b d_b/2 · Σ_i |w_i| + float32 rounding.
      const { d } = quantizeActivationsInt8(x, 3, 160);
      const wf = dequantize(w).data as Float32Array;
      for (let t = 0; t < 3; t++)
        for (let o = 0; o < 9; o++) {
          let bound = 1e-6;
          for (let c = 0; c < 160; c++) bound += (d[t * 5 + Math.floor(c / 32)]! / 2) * Math.abs(wf[o * 160 + c]!) * 1.0001;
          const diff = Math.abs(got[t * 9 + o]! - exact[t * 9 + o]!);
          assert.ok(diff <= bound, `${ggmlTypeName(type)} t=${t} row ${o}: |Δ| ${diff} > bound ${bound}`);
        }
    }
  });

  it('native matmul equals the reference bit for bit: every type and level, odd shapes, T = 1 … 33', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    for (const type of TYPES) {
      const r = rng(300 + type);
      const cases = ([[1, 32, 1], [7, 96, 2], [37, 256, 1], [19, 288, 5], [13, 416, 13], [33, 64, 33]] as const).map(([rows, cols, T]) => {
        const w = native.prepareWeight(int8Weight(type, rows, cols, r));
        const x = randomF32(T * cols, r, 3);
        return { w, x, T, want: matmulInt8Activations(x, T, w), what: `${ggmlTypeName(type)} [${rows}, ${cols}] T=${T}` };
      });
      for (const level of dispatchLevels(a)) {
        a.setDispatch(level);
        for (const c of cases) assertBitwise(native.matmul(c.x, c.T, c.w), c.want, `${level} ${c.what}`);
      }
      // The f32 path of the same weight gives other bits (the int8 path really ran).
      const c = cases[4]!;
      const { activations: _, ...f32Path } = c.w;
      assert.notDeepEqual(native.matmul(c.x, c.T, f32Path), c.want, `${c.what}: the f32 path gave the int8 bits`);
    }
  });

  it('1 vs 2 threads and a token alone vs among others: the same bits', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const r = rng(77);
    const w = int8Weight(GGML_TYPE.Q8_0!, 300, 512, r);
    const x = randomF32(9 * 512, r);
    for (const level of dispatchLevels(a)) {
      a.setDispatch(level);
      a.setThreads(1);
      const one = native.matmul(x, 9, w);
      a.setThreads(2);
      assertBitwise(native.matmul(x, 9, w), one, `${level} 2 threads`);
      assertBitwise(native.matmul(x.subarray(4 * 512, 5 * 512), 1, w), one.subarray(4 * 300, 5 * 300), `${level} token 4 alone`);
    }
  });

  it('the fused MoE experts op equals the reference composition bit for bit on every level', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const r = rng(91);
    const D = 96;
    const I = 64;
    const experts: MlpWeightSet[] = [GGML_TYPE.Q8_0!, GGML_TYPE.Q4_0!, GGML_TYPE.MXFP4!, GGML_TYPE.Q8_0!].map((type) => ({
      gate: int8Weight(type, I, D, r),
      up: int8Weight(type, I, D, r),
      down: int8Weight(type, D, I, r),
    }));
    const T = 5;
    const K = 2;
    const x = randomF32(T * D, r);
    const ids = Int32Array.from([0, 1, 2, 3, 1, 3, 0, 2, 3, 0]);
    const weights = randomF32(T * K, r);
    const want = ref.moeExperts(x, T, experts, ids, weights);
    for (const level of dispatchLevels(a)) {
      a.setDispatch(level);
      assertBitwise(native.moeExperts(x, T, experts, ids, weights), want, `${level} moeExperts`);
    }
  });

  it('int8 activations on a type without the path are refused, naming the type', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const w: Weight = { ...int8Weight(GGML_TYPE.Q8_0!, 4, 256, rng(1)), ggmlType: GGML_TYPE.Q4_K!, data: new Uint8Array(4 * 144) };
    assert.throws(() => native.prepareWeight(w), /activations "int8" needs 'int8' and a ggml type of Q4_0, Q5_0, Q8_0, IQ4_NL, MXFP4, got Q4_K/);
    assert.throws(() => a.matmul(new Float32Array(4), new Float32Array(256), 1, 'ggml', new Uint8Array(4 * 144), 4, 256, null, 0, 0, null, GGML_TYPE.Q4_K, 'int8'), /activations 'int8' needs a ggml weight of type .* got Q4_K/);
    assert.throws(() => matmulInt8Activations(new Float32Array(256), 1, w), /no int8 path|got Q4_K/);
  });
});
