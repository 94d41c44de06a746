/**
 * Router (spec §3.6): hand-made rows where the selection bias flips the choice, where every biased score in the
 * winning group is negative, and exact ties (lower expert index wins); weights come from the unbiased sigmoid.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { routeToken, type RouterParams } from '../../src/model/mimo-v2/moe.js';

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
