/**
 * The reference quantizers (src/tensor/formats/ggml/quantize.ts): quantise → dequantise error bounds per type on
 * Gaussian weights, exact round trips of values a format holds exactly, hand-computed encodings, and refusals.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quantizeGgmlRows } from '../../src/tensor/formats/ggml/quantize.js';
import { dequantizeGgmlRow, GGML_TYPE, ggmlRowBytes } from '../../src/tensor/formats/ggml/types.js';
import { rng } from '../helpers/kernel-check.js';

/** Deterministic standard normal draws (mulberry32 + Box–Muller). */
function gaussian(n: number, seed: number): Float32Array {
  const u = rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u() + 1e-12)) * Math.cos(2 * Math.PI * u());
  return out;
}

function roundTrip(type: string, x: Float32Array, rows: number, cols: number): Float32Array {
  const id = GGML_TYPE[type]!;
  const q = quantizeGgmlRows(id, x, rows, cols);
  assert.equal(q.length, rows * ggmlRowBytes(id, cols));
  const y = new Float32Array(rows * cols);
  const rb = ggmlRowBytes(id, cols);
  for (let r = 0; r < rows; r++) dequantizeGgmlRow(id, q.subarray(r * rb, (r + 1) * rb), cols, y, r * cols);
  return y;
}

function relRms(x: Float32Array, y: Float32Array): number {
  let e = 0;
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    e += (x[i]! - y[i]!) ** 2;
    s += x[i]! ** 2;
  }
  return Math.sqrt(e / s);
}

// Relative RMS error on N(0, 1) weights: each bound is ~1.2× what these quantizers measured here (printed by the
// test: Q8_0 5.6e-3, Q6_K 1.8e-2, Q5_K 3.6e-2, Q4_K 6.9e-2, IQ4_XS 7.7e-2, MXFP4 0.115, Q3_K 0.148, Q2_K 0.294), the
// order of step/√12 for each format's bits and block size.
const BOUNDS: Record<string, number> = {
  F16: 3e-4, BF16: 2.2e-3, Q8_0: 0.0067, Q6_K: 0.022, Q5_1: 0.046, Q5_0: 0.053, Q5_K: 0.043, Q4_1: 0.092, Q4_0: 0.107,
  Q4_K: 0.083, IQ4_NL: 0.09, IQ4_XS: 0.092, MXFP4: 0.14, Q3_K: 0.18, Q2_K: 0.35,
};

test('quantise → dequantise error on Gaussian weights, per type', () => {
  const rows = 6;
  const cols = 512;
  const x = gaussian(rows * cols, 7);
  // rows at different scales, one of them tiny, so the F16 super-block scales are exercised away from 1
  for (let c = 0; c < cols; c++) {
    x[cols + c]! *= 40;
    x[2 * cols + c]! *= 1e-3;
  }
  const measured: string[] = [];
  for (const [type, bound] of Object.entries(BOUNDS)) {
    const y = roundTrip(type, x, rows, cols);
    const err = relRms(x, y);
    measured.push(`${type} ${err.toExponential(2)}`);
    assert.ok(err < bound, `${type}: relative RMS error ${err} ≥ ${bound}`);
    // each row's own error too (the tiny row must not collapse to zero)
    const tiny = relRms(x.subarray(2 * cols, 3 * cols), y.subarray(2 * cols, 3 * cols));
    assert.ok(tiny < bound * 1.5, `${type}: tiny row error ${tiny}`);
  }
  console.log(`relative RMS error: ${measured.join(', ')}`);
});

test('values a format holds exactly round-trip exactly', () => {
  // Q8_0: integers −127…127 times 2^−3 (d = 1/8 exactly); Q4_0: (j − 8)/2 with −4 the largest magnitude
  const q8 = Float32Array.from({ length: 256 }, (_, i) => (((i * 37) % 255) - 127) / 8);
  for (let b = 0; b < 256; b += 32) q8[b] = 127 / 8;
  assert.deepEqual(Array.from(roundTrip('Q8_0', q8, 1, 256)), Array.from(q8));
  const q4 = Float32Array.from({ length: 32 }, (_, i) => ((i % 16) - 8) / 2);
  assert.deepEqual(Array.from(roundTrip('Q4_0', q4, 1, 32)), Array.from(q4));
  // IQ4_NL: d · table with d = 1/16 — the block's max is −127/16, so the first trial scale is exact
  const tbl = [-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113];
  const nl = Float32Array.from({ length: 32 }, (_, i) => tbl[i % 16]! / 16);
  assert.deepEqual(Array.from(roundTrip('IQ4_NL', nl, 1, 32)), Array.from(nl));
  // MXFP4: FP4 values times 2^−4 with a 6 in every block (e = ⌊log2 6·2^−4⌋ − 2 = −6)
  const fp4 = [0, 0.5, 1, 1.5, 2, 3, 4, 6, 0, -0.5, -1, -1.5, -2, -3, -4, -6];
  const mx = Float32Array.from({ length: 64 }, (_, i) => fp4[(i * 5) % 16]! / 16);
  mx[0] = 6 / 16;
  mx[32] = -6 / 16;
  assert.deepEqual(Array.from(roundTrip('MXFP4', mx, 1, 64)), Array.from(mx));
  // all-zero rows stay zero in every type
  for (const type of Object.keys(BOUNDS)) assert.ok(roundTrip(type, new Float32Array(256), 1, 256).every((v) => v === 0), type);
});

test('hand-computed encodings', () => {
  // Q8_0 of [1, −2, 0.5, 0 …]: amax 2 → d = 2/127 (F16 0x2408 = 0.0157470703125), qs = round(x·127/2) = 64 (63.5 half
  // away from zero), −127, 32 (31.75)
  const x = new Float32Array(32);
  x.set([1, -2, 0.5]);
  const q = quantizeGgmlRows(GGML_TYPE['Q8_0']!, x, 1, 32);
  assert.deepEqual(Array.from(q.subarray(0, 5)), [0x08, 0x24, 64, 0x81, 32]);
  // Q4_0 of [−4, 1, 2, 0 …]: max −4 → d = 0.5 (F16 0x3800), id 2 → q = ⌊x·2 + 8.5⌋ = 0, 10, 12, 8 (0 → 8)
  const y = new Float32Array(32);
  y.set([-4, 1, 2]);
  const q4 = quantizeGgmlRows(GGML_TYPE['Q4_0']!, y, 1, 32);
  assert.deepEqual(Array.from(q4.subarray(0, 5)), [0x00, 0x38, 0x80, 0x8a, 0x8c]);
  // MXFP4 of [3, −0.75, 0 …]: amax 3 → e = 1 − 2 + 127 = 126, d = 2^−2; codes 3/0.25 = 12 → code 7, −3 → code 11
  const z = new Float32Array(32);
  z.set([3, -0.75]);
  const mx = quantizeGgmlRows(GGML_TYPE['MXFP4']!, z, 1, 32);
  assert.deepEqual(Array.from(mx.subarray(0, 3)), [126, 0x07, 0x0b]);
});

test('refusals name the type, row and column', () => {
  assert.throws(() => quantizeGgmlRows(GGML_TYPE['Q4_K']!, new Float32Array(128), 1, 128), /128 elements are not a whole number of Q4_K blocks of 256/);
  assert.throws(() => quantizeGgmlRows(GGML_TYPE['IQ2_XXS']!, new Float32Array(256), 1, 256), /cannot write ggml type IQ2_XXS/);
  const bad = new Float32Array(64);
  bad[40] = NaN;
  assert.throws(() => quantizeGgmlRows(GGML_TYPE['Q8_0']!, bad, 2, 32), /Q8_0: value at row 1, column 8 is NaN/);
  assert.throws(() => quantizeGgmlRows(GGML_TYPE['Q8_0']!, bad, 3, 32), /3×32 values needed, got 64/);
});
