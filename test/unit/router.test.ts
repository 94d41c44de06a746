/**
 * Router (spec §3.6): hand-made rows where the selection bias flips the choice, where every biased score in the
 * winning group is negative, and exact ties (lower expert index wins); weights come from the unbiased sigmoid.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { moeForward, roundToBf16, routeToken, type RouterParams } from '../../src/model/mimo-v2/moe.js';
import { referenceBackend } from '../../src/kernels/reference/ops.js';
import type { Backend, Weight } from '../../src/kernels/backend.js';
import { bf16BitsToNumber, numberToBf16Bits } from '../../src/tensor/dtype.js';

const sig = (x: number) => 1 / (1 + Math.exp(-x));
const base: RouterParams = { nGroup: 1, topkGroup: 1, topK: 2, normTopkProb: true, routedScalingFactor: 1 };

test('bias flips the choice but not the weights', () => {
  const logits = [2, 1, 0, -1];
  assert.deepEqual(routeToken(logits, [0, 0, 0, 0], base).experts, [0, 1]);
  const r = routeToken(logits, [0, 0, 0, 5], base);
  assert.deepEqual(r.experts, [3, 0]);
  const s = sig(-1) + sig(2);
  assert.ok(Math.abs(r.weights[0]! - sig(-1) / s) < 1e-6);
  assert.ok(Math.abs(r.weights[1]! - sig(2) / s) < 1e-6);
});

test('excluded groups never win, even when the kept group has only negative biased scores', () => {
  // 2 groups of 3; group 0 has the best top-2 sum although all its biased scores are negative? Make group 1 worse.
  const logits = [0, 0, 0, 0, 0, 0];
  const bias = [-0.7, -0.8, -5, -0.6, -9, -9]; // group sums: g0 = (0.5-0.7)+(0.5-0.8) = -0.5, g1 = -0.1 + (0.5-9) = -8.6
  const r = routeToken(logits, bias, { ...base, nGroup: 2, topkGroup: 1, topK: 3 });
  assert.deepEqual(r.experts, [0, 1, 2]); // expert 3 has the best single score but sits in the excluded group
});

test('exact ties go to the lower expert index', () => {
  const r = routeToken([1, 1, 1, 1], [0, 0, 0, 0], { ...base, topK: 2 });
  assert.deepEqual(r.experts, [0, 1]);
  const g = routeToken([1, 1, 1, 1], [0, 0, 0, 0], { ...base, nGroup: 2, topkGroup: 1, topK: 2 });
  assert.deepEqual(g.experts, [0, 1]);
});

test('renormalisation off and routed scaling', () => {
  const r = routeToken([2, 1, 0], [0, 0, 0], { ...base, normTopkProb: false, routedScalingFactor: 2.5 });
  assert.ok(Math.abs(r.weights[0]! - Math.fround(sig(2) * 2.5)) < 1e-6);
  assert.ok(Math.abs(r.weights[1]! - Math.fround(sig(1) * 2.5)) < 1e-6);
  const n = routeToken([2, 1, 0], [0, 0, 0], { ...base, routedScalingFactor: 2.5 });
  assert.ok(Math.abs(n.weights[0]! + n.weights[1]! - 2.5) < 1e-6);
});

test('roundToBf16: round to nearest, ties to even, NaN stays NaN, ±Infinity and −0 kept (the V2.6 router input)', () => {
  const x = new Float32Array([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -9, -3.14159, 1e-40, -0, Infinity, -Infinity, NaN, 3.4e38]);
  const r = roundToBf16(x);
  for (let i = 0; i < x.length; i++) {
    const want = bf16BitsToNumber(numberToBf16Bits(x[i]!));
    if (Number.isNaN(want)) assert.ok(Number.isNaN(r[i]!));
    else assert.ok(Object.is(r[i], want), `${x[i]} → ${r[i]}, want ${want}`);
  }
  assert.equal(r[1], 1); // 1 + 2^-8 is the midpoint between 1 and 1 + 2^-7: ties to the even mantissa (1)
  assert.equal(r[2], 1 + 2 ** -6); // 1 + 3·2^-8 ties up to the even neighbour 1 + 2^-6
});

test('moe_router_dtype bfloat16: the router multiplies the BF16-rounded input, float32 otherwise', () => {
  const D = 4;
  const E = 3;
  const router: Weight = { rows: E, cols: D, dtype: 'f32', data: new Float32Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]) };
  const seen: Float32Array[] = [];
  const spy: Backend = { ...referenceBackend, matmul: (x, T, w) => (w === router && seen.push(x.slice()), referenceBackend.matmul(x, T, w)) };
  const experts = Array.from({ length: E }, () => ({ gate: { rows: 2, cols: D, dtype: 'f32' as const, data: new Float32Array(8) }, up: { rows: 2, cols: D, dtype: 'f32' as const, data: new Float32Array(8) }, down: { rows: D, cols: 2, dtype: 'f32' as const, data: new Float32Array(8) } }));
  const x = new Float32Array([1 + 2 ** -9, 0.1, 2.5 + 2 ** -12, -7]);
  for (const bf16 of [false, true]) {
    seen.length = 0;
    moeForward(spy, { router, bias: new Float32Array(E), experts }, { ...base, topK: 1, bf16RouterInput: bf16 }, x, 1);
    assert.deepEqual(Array.from(seen[0]!), Array.from(bf16 ? roundToBf16(x) : x));
  }
});
