/**
 * Native kernels for GGUF block-quantised weights (`dtype: 'ggml'`, native/src/ggml_blocks.h) against the TypeScript
 * reference decoders (src/tensor/formats/ggml/*, through the reference backend's f32 dequantisation), for every type
 * the addon runs (`addon.ggmlTypes()`, which must equal load.ts NATIVE_GGML_TYPES), on every dispatch level:
 * - decoded values bitwise: one-hot tokens x = e_c give y[c, r] = W[r, c] exactly (one product by 1, the rest zeros);
 * - matmul on odd row counts and several block counts per row, T through the T = 1 kernel and the buffered T > 1 path,
 *   within 2e-5 of Σ|x||w| (float32 accumulation in another order);
 * - row invariance: a token's bits alone equal its bits among 2, 7, 12 and 64 tokens at two offsets; 1 vs 2 threads;
 * - the fused MoE experts op within 1e-4 of the row's largest output of the reference, and bitwise equal to the
 *   native per-expert composition.
 * Block bytes are random except the F16 scale fields (finite: normals of 2^-9 … 2^-3 of both signs, some subnormals
 * and zeros) and MXFP4's E8M0 byte (2^-10 … 2^5, plus the float32-subnormal bytes 0 and 1).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { MlpWeightSet, Weight } from '../../src/kernels/backend.js';
import type { NativeAddon } from '../../src/kernels/native/addon.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import { moeExpertsVia } from '../../src/kernels/reference/moe-experts.js';
import { referenceBackend as ref } from '../../src/kernels/reference/ops.js';
import { NATIVE_GGML_TYPES } from '../../src/model/load.js';
import { GGML_TYPE, ggmlRowBytes, ggmlTypeInfo, ggmlTypeName, isGgmlTypeSupported } from '../../src/tensor/formats/ggml/types.js';
import { assertBitwise, assertClose, randomF32, rng } from '../helpers/kernel-check.js';
import { dispatchLevels, initialThreads, needNative, restoreNativeAfterAll } from '../helpers/native.js';

restoreNativeAfterAll();

/** Byte offsets of each type's F16 fields inside a block (ggml-common.h); MXFP4's E8M0 byte is at 0. */
const F16_FIELDS: Readonly<Record<string, readonly number[]>> = {
  Q4_0: [0],
  Q4_1: [0, 2],
  Q5_0: [0],
  Q5_1: [0, 2],
  Q8_0: [0],
  Q2_K: [80, 82],
  Q3_K: [108],
  Q4_K: [0, 2],
  Q5_K: [0, 2],
  Q6_K: [208],
  IQ4_NL: [0],
  IQ4_XS: [0],
  MXFP4: [],
};

/** A finite F16 bit pattern: mostly normals of magnitude 2^-9 … 2^-3, both signs; 3% subnormal, 2% zero. */
function scaleF16(r: () => number): number {
  const sign = r() < 0.5 ? 0x8000 : 0;
  const u = r();
  if (u < 0.02) return sign;
  if (u < 0.05) return sign | (1 + Math.floor(r() * 1023));
  return sign | ((6 + Math.floor(r() * 7)) << 10) | Math.floor(r() * 1024);
}

/** A random weight `[rows, cols]` of ggml type `type` (cols whole blocks). */
function ggmlWeight(type: number, rows: number, cols: number, r: () => number): Weight {
  const info = ggmlTypeInfo(type)!;
  const data = Uint8Array.from({ length: rows * ggmlRowBytes(type, cols) }, () => Math.floor(r() * 256));
  const fields = F16_FIELDS[info.name];
  assert.ok(fields, `test has no block layout for ${info.name}`);
  for (let p = 0; p < data.length; p += info.blockBytes) {
    for (const o of fields) {
      const h = scaleF16(r);
      data[p + o] = h & 0xff;
      data[p + o + 1] = h >> 8;
    }
    if (info.name === 'MXFP4') data[p] = r() < 0.03 ? Math.floor(r() * 2) : 117 + Math.floor(r() * 16);
  }
  return { rows, cols, dtype: 'ggml', ggmlType: type, data, name: `test.${info.name}.weight`, file: 'test.gguf' };
}

function absF32(w: Weight): Weight {
  const d = ref.prepareWeight(w).data as Float32Array;
  return { rows: w.rows, cols: w.cols, dtype: 'f32', data: d.map(Math.abs) };
}

/** Column counts per type: 1, 3 and 9 blocks of 32, or 1 and 3 super-blocks of 256. */
function colsFor(type: number): number[] {
  return ggmlTypeInfo(type)!.blockElements === 256 ? [256, 768] : [32, 96, 288];
}

const nativeTypes = (a: NativeAddon): number[] => a.ggmlTypes();

describe('native ggml block kernels', () => {
  it('the addon runs exactly NATIVE_GGML_TYPES, and each has a TypeScript reference decoder', (t) => {
    const a = needNative(t);
    if (!a) return;
    assert.deepEqual(nativeTypes(a).map(ggmlTypeName), [...NATIVE_GGML_TYPES].sort((x, y) => x - y).map(ggmlTypeName));
    for (const type of nativeTypes(a)) assert.ok(isGgmlTypeSupported(type), `${ggmlTypeName(type)} has no TypeScript decoder to test against`);
  });

  it('decoded values equal the reference decoder bit for bit (one-hot tokens), every type and level', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    for (const type of nativeTypes(a)) {
      const cols = ggmlTypeInfo(type)!.blockElements === 256 ? 512 : 96;
      const rows = 19;
      const w = ggmlWeight(type, rows, cols, rng(type * 7 + 1));
      const want = ref.prepareWeight(w).data as Float32Array;
      const x = new Float32Array(cols * cols);
      for (let c = 0; c < cols; c++) x[c * cols + c] = 1;
      for (const level of dispatchLevels(a)) {
        a.setDispatch(level);
        // Every column through the T = 1 kernel (one call per token), then all columns in one call (T > 1 path).
        const single = new Float32Array(cols * rows);
        for (let c = 0; c < cols; c++) single.set(native.matmul(x.subarray(c * cols, (c + 1) * cols), 1, w), c * rows);
        const batched = native.matmul(x, cols, native.prepareWeight(w));
        for (const [T, got] of [[1, single], [cols, batched]] as const)
          for (let c = 0; c < cols; c++)
            for (let r = 0; r < rows; r++) {
              const g = got[c * rows + r]!;
              const v = want[r * cols + c]!;
              if (g !== v) assert.fail(`${level} ${ggmlTypeName(type)} T=${T}: W[${r}, ${c}] decodes to ${g}, reference ${v}`);
            }
      }
    }
  });

  it('matmul vs the reference on odd shapes, T = 1 … 45, every type and level', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    for (const type of nativeTypes(a)) {
      const r = rng(1000 + type);
      const cases = colsFor(type).flatMap((cols) =>
        ([[1, 1], [7, 2], [37, 1], [70, 5], [13, 13], [33, 45]] as const).map(([rows, T]) => {
          const w = ggmlWeight(type, rows, cols, r);
          const x = randomF32(T * cols, r);
          const want = ref.matmul(x, T, ref.prepareWeight(w));
          const bound = ref.matmul(x.map(Math.abs), T, absF32(w));
          return { w, x, T, want, bound, what: `${ggmlTypeName(type)} [${rows}, ${cols}] T=${T}` };
        }),
      );
      for (const level of dispatchLevels(a)) {
        a.setDispatch(level);
        for (const c of cases) {
          const got = native.matmul(c.x, c.T, native.prepareWeight(c.w));
          assertClose(got, c.want, (i) => 2e-5 * c.bound[i]! + 1e-30, `${level} ${c.what}`);
        }
      }
    }
  });

  it('row invariance (a token alone = among 2, 7, 12, 64) and 1 vs 2 threads bitwise, every type and level', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    for (const type of nativeTypes(a)) {
      const cols = colsFor(type).at(-1)!;
      const rows = 37;
      const r = rng(2000 + type);
      const w = native.prepareWeight(ggmlWeight(type, rows, cols, r));
      const x = randomF32(64 * cols, r);
      for (const level of dispatchLevels(a)) {
        a.setDispatch(level);
        const what = `${level} ${ggmlTypeName(type)} [${rows}, ${cols}]`;
        const alone = Array.from({ length: 64 }, (_, tt) => native.matmul(x.subarray(tt * cols, (tt + 1) * cols), 1, w));
        for (const T of [2, 7, 12, 64]) {
          for (const offset of T < 64 ? [0, 64 - T] : [0]) {
            const many = native.matmul(x.subarray(offset * cols, (offset + T) * cols), T, w);
            for (let tt = 0; tt < T; tt++) assertBitwise(many.subarray(tt * rows, (tt + 1) * rows), alone[offset + tt]!, `${what} token ${offset + tt} of T=${T}`);
          }
        }
        // Enough rows that the op is split across threads.
        const big = native.prepareWeight(ggmlWeight(type, 300, cols, r));
        for (const T of [1, 9]) {
          a.setThreads(1);
          const one = native.matmul(x.subarray(0, T * cols), T, big);
          a.setThreads(2);
          const two = native.matmul(x.subarray(0, T * cols), T, big);
          a.setThreads(initialThreads);
          assertBitwise(one, two, `${what} [300, ${cols}] T=${T}, 1 vs 2 threads`);
        }
      }
    }
  });

  it('moeExperts: within 1e-4 of the reference, bitwise the native composition, 1 = 2 threads, every type and level', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    for (const type of nativeTypes(a)) {
      const k256 = ggmlTypeInfo(type)!.blockElements === 256;
      const [D, I, E, K] = k256 ? [256, 512, 6, 3] : [96, 64, 6, 3];
      const r = rng(3000 + type);
      const experts: MlpWeightSet[] = Array.from({ length: E }, () => ({
        gate: ggmlWeight(type, I, D, r),
        up: ggmlWeight(type, I, D, r),
        down: ggmlWeight(type, D, I, r),
      }));
      const refExperts = experts.map((e) => ({ gate: ref.prepareWeight(e.gate), up: ref.prepareWeight(e.up), down: ref.prepareWeight(e.down) }));
      for (const T of [1, 7, 40]) {
        // Token t chooses experts (t, t+1, t+3) mod E, so some experts get one row and others many.
        const ids = Int32Array.from({ length: T * K }, (_, i) => (Math.floor(i / K) + [0, 1, 3][i % K]!) % E);
        const weights = Float32Array.from({ length: T * K }, () => 0.1 + r());
        const x = randomF32(T * D, r);
        const want = ref.moeExperts(x, T, refExperts, ids, weights);
        for (const level of dispatchLevels(a)) {
          a.setDispatch(level);
          const what = `${level} ${ggmlTypeName(type)} D=${D} I=${I} T=${T}`;
          const got = native.moeExperts(x, T, experts, ids, weights);
          for (let tt = 0; tt < T; tt++) {
            const row = want.subarray(tt * D, (tt + 1) * D);
            const scale = row.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
            assert.ok(scale > 0, `${what}: token ${tt} has an all-zero reference row`);
            assertClose(got.subarray(tt * D, (tt + 1) * D), row, () => 1e-4 * scale, `${what} token ${tt}`);
          }
          assertBitwise(got, moeExpertsVia(native, x, T, experts, ids, weights), `${what} vs composed`);
          a.setThreads(1);
          const one = native.moeExperts(x, T, experts, ids, weights);
          a.setThreads(2);
          const two = native.moeExperts(x, T, experts, ids, weights);
          a.setThreads(initialThreads);
          assertBitwise(one, two, `${what} 1 vs 2 threads`);
        }
      }
    }
  });

  it('moeExperts with a different block type per projection (Q4_K gate, Q5_K up, Q6_K down; Q4_0 / Q8_0 / MXFP4) matches', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const mixes: Array<[string, string, string, number, number]> = [
      ['Q4_K', 'Q5_K', 'Q6_K', 256, 256],
      ['Q4_0', 'Q8_0', 'MXFP4', 96, 64],
      ['IQ4_XS', 'Q2_K', 'Q3_K', 256, 512],
    ];
    for (const [g, u, d, D, I] of mixes) {
      const r = rng(D + I);
      const E = 5;
      const id = (n: string) => GGML_TYPE[n]!;
      const experts: MlpWeightSet[] = Array.from({ length: E }, () => ({ gate: ggmlWeight(id(g), I, D, r), up: ggmlWeight(id(u), I, D, r), down: ggmlWeight(id(d), D, I, r) }));
      const refExperts = experts.map((e) => ({ gate: ref.prepareWeight(e.gate), up: ref.prepareWeight(e.up), down: ref.prepareWeight(e.down) }));
      const T = 9;
      const ids = Int32Array.from({ length: 2 * T }, (_, i) => (Math.floor(i / 2) + 2 * (i % 2)) % E);
      const weights = Float32Array.from({ length: 2 * T }, () => 0.1 + r());
      const x = randomF32(T * D, r);
      const want = ref.moeExperts(x, T, refExperts, ids, weights);
      const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
      for (const level of dispatchLevels(a)) {
        a.setDispatch(level);
        const got = native.moeExperts(x, T, experts, ids, weights);
        assertClose(got, want, () => 1e-4 * scale, `${level} ${g}/${u}/${d}`);
        assertBitwise(got, moeExpertsVia(native, x, T, experts, ids, weights), `${level} ${g}/${u}/${d} vs composed`);
      }
    }
  });

  it('refuses a type without a kernel, partial blocks and short data, naming the tensor and type', (t) => {
    const a = needNative(t);
    if (!a) return;
    const native = createNativeBackend();
    const q8 = ggmlWeight(8, 4, 64, rng(1));
    assert.throws(() => native.prepareWeight({ ...q8, ggmlType: 16 }), /test\.Q8_0\.weight .*ggml type IQ2_XXS has no native kernel/);
    assert.throws(() => native.prepareWeight({ ...q8, data: q8.data.subarray(0, 100) }), /test\.Q8_0\.weight .*Q8_0 data has 100 bytes, expected 272/);
    assert.throws(() => native.prepareWeight({ ...q8, cols: 48 }), /Q8_0 cols 48 is not a multiple of its 32-element block/);
    const y = new Float32Array(4);
    assert.throws(() => a.matmul(y, new Float32Array(64), 1, 'ggml', q8.data, 4, 64, null, 0, 0, null, 16), /ggml type 16 has no native kernel/);
    assert.throws(() => a.matmul(y, new Float32Array(64), 1, 'ggml', q8.data.subarray(0, 271), 4, 64, null, 0, 0, null, 8), /Q8_0 data has 271 bytes, expected 272/);
    assert.throws(() => a.matmul(new Float32Array(4), new Float32Array(48), 1, 'ggml', q8.data, 4, 48, null, 0, 0, null, 8), /Q8_0 weight needs cols divisible by 32/);
    assert.throws(() => a.matmul(y, new Float32Array(64), 1, 'ggml', q8.data, 4, 64, null, 0, 0, null), /ggmlType must be a number/);
  });
});
