/**
 * Sampler: parameter validation, the reference helpers on hand-made logits (exact kept sets, exact penalized
 * logits), the fast Sampler against the reference composition on random rows, seed reproducibility, greedy ties,
 * vocabulary masking, and empirical frequencies against the softmax.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RequestError, ShapeError } from '../../src/errors.js';
import { Rng } from '../../src/engine/rng.js';
import {
  applyPenalties,
  argmax,
  defaultSamplingParams,
  filterMinP,
  filterTopK,
  filterTopP,
  logSoftmax,
  referenceProbs,
  resolveSamplingParams,
  Sampler,
  type SamplingContext,
  type SamplingParams,
  softmax,
  validateSamplingParams,
} from '../../src/engine/sampler.js';

const noContext: SamplingContext = { promptIds: [], generatedIds: [] };

/** Logits whose softmax is exactly proportional to `probs` (up to float32 rounding of the logs). */
function logitsOf(probs: number[]): Float32Array {
  return Float32Array.from(probs, (p) => (p > 0 ? Math.log(p) : -Infinity));
}

/** Ids whose logit is still finite after an in-place filter. */
function kept(x: Float32Array): number[] {
  return [...x.keys()].filter((i) => x[i]! > -Infinity);
}

/** The Sampler's kept ids (ascending) and its probabilities as a dense `[V]` row. */
function fastProbs(s: Sampler, logits: Float32Array, ctx = noContext, allowedVocab?: number): Float32Array {
  const { ids, probs } = s.distribution(logits, ctx, allowedVocab);
  const dense = new Float32Array(logits.length);
  ids.forEach((id, j) => (dense[id] = probs[j]!));
  return dense;
}

function keptIds(s: Sampler, logits: Float32Array): number[] {
  return [...s.distribution(logits, noContext).ids].sort((a, b) => a - b);
}

function randomLogits(rng: Rng, V: number, std: number): Float32Array {
  return rng.fillNormal(new Float32Array(V), std);
}

// ---- validation -------------------------------------------------------------------------------------------

test('validateSamplingParams: each invalid value throws a RequestError naming the API parameter', () => {
  const cases: [Partial<SamplingParams>, string][] = [
    [{ temperature: -0.1 }, 'temperature'],
    [{ temperature: Infinity }, 'temperature'],
    [{ temperature: NaN }, 'temperature'],
    [{ topK: -1 }, 'top_k'],
    [{ topK: 2.5 }, 'top_k'],
    [{ topP: 0 }, 'top_p'],
    [{ topP: 1.5 }, 'top_p'],
    [{ topP: NaN }, 'top_p'],
    [{ minP: -0.01 }, 'min_p'],
    [{ minP: 1.01 }, 'min_p'],
    [{ repetitionPenalty: 0 }, 'repetition_penalty'],
    [{ repetitionPenalty: -1 }, 'repetition_penalty'],
    [{ presencePenalty: 2.5 }, 'presence_penalty'],
    [{ frequencyPenalty: -3 }, 'frequency_penalty'],
    [{ seed: 1.5 }, 'seed'],
    [{ temperature: '1' as unknown as number }, 'temperature'],
  ];
  for (const [params, name] of cases) {
    const check = (e: unknown): boolean =>
      e instanceof RequestError && e.param === name && e.message.startsWith(`${name}: `);
    assert.throws(() => validateSamplingParams(params), check, JSON.stringify(params));
    assert.throws(() => new Sampler({ ...params, seed: params.seed ?? 1 }), check);
  }
  assert.throws(() => validateSamplingParams({ topP: 1.5 }), { message: 'top_p: must be in (0, 1], got 1.5' });
});

test('validateSamplingParams accepts the boundaries, and defaults fill absent fields', () => {
  validateSamplingParams({ temperature: 0, topK: 0, topP: 1, minP: 1, presencePenalty: -2, frequencyPenalty: 2 });
  validateSamplingParams({ minP: 0, repetitionPenalty: 0.5, seed: -5 });
  assert.deepEqual(resolveSamplingParams({ topP: 0.9, seed: 3 }), { ...defaultSamplingParams, topP: 0.9, seed: 3 });
  assert.deepEqual(resolveSamplingParams({ topK: undefined }), { ...defaultSamplingParams });
});

// ---- reference helpers on hand-made logits ----------------------------------------------------------------

test('argmax: lowest index wins ties; greedy Sampler agrees', () => {
  const x = Float32Array.of(1, 3, 3, 2, 3);
  assert.equal(argmax(x), 1);
  assert.equal(new Sampler({ temperature: 0 }).sample(x, noContext), 1);
  assert.equal(new Sampler({ temperature: 0 }).sample(Float32Array.of(-Infinity, -Infinity, -5), noContext), 2);
  assert.equal(new Sampler({ temperature: 1, topK: 1, seed: 0 }).sample(x, noContext), 1);
});

test('filterTopK keeps exactly k, ties broken toward the lower id', () => {
  assert.deepEqual(kept(filterTopK(Float32Array.of(1, 5, 3, 5, 2), 2)), [1, 3]);
  assert.deepEqual(kept(filterTopK(Float32Array.of(1, 5, 3, 5, 2), 3)), [1, 2, 3]);
  assert.deepEqual(kept(filterTopK(Float32Array.of(5, 4, 4, 1, 4), 2)), [0, 1]);
  assert.deepEqual(kept(filterTopK(Float32Array.of(1, 2, 3), 0)), [0, 1, 2]);
  assert.deepEqual(kept(filterTopK(Float32Array.of(1, 2, 3), 7)), [0, 1, 2]);
  const s = new Sampler({ topK: 2, seed: 1 });
  const { ids, probs } = s.distribution(Float32Array.of(1, 5, 3, 5, 2), noContext);
  assert.deepEqual([...ids], [1, 3]);
  assert.deepEqual([...probs], [0.5, 0.5]);
});

test('filterTopP keeps the shortest prefix reaching p, at least one token', () => {
  const probs = [0.1, 0.5, 0.25, 0.15]; // sorted: 1 (0.5), 2 (0.25), 3 (0.15), 0 (0.1)
  const cases: [number, number[]][] = [
    [0.3, [1]],
    [0.7, [1, 2]],
    [0.8, [1, 2, 3]],
    [0.95, [0, 1, 2, 3]],
    [1, [0, 1, 2, 3]],
    [1e-9, [1]],
  ];
  for (const [p, expected] of cases) {
    assert.deepEqual(kept(filterTopP(logitsOf(probs), p)), expected, `top_p ${p}`);
    assert.deepEqual(keptIds(new Sampler({ topP: p, seed: 1 }), logitsOf(probs)), expected, `Sampler top_p ${p}`);
  }
  // Ties in probability: the lower id comes first in the cumulative order.
  assert.deepEqual(kept(filterTopP(logitsOf([0.2, 0.4, 0.4]), 0.3)), [1]);
});

test('filterMinP keeps probabilities ≥ min_p × the largest', () => {
  const probs = [0.1, 0.5, 0.25, 0.15];
  const cases: [number, number[]][] = [
    [0.4, [1, 2]],
    [0.25, [1, 2, 3]],
    [0.1, [0, 1, 2, 3]],
    [0.9, [1]],
    [0, [0, 1, 2, 3]],
  ];
  for (const [minP, expected] of cases) {
    assert.deepEqual(kept(filterMinP(logitsOf(probs), minP)), expected, `min_p ${minP}`);
    assert.deepEqual(keptIds(new Sampler({ minP, seed: 1 }), logitsOf(probs)), expected, `Sampler min_p ${minP}`);
  }
});

test('order: top-k renormalizes before top-p; top-p before min-p; temperature before both', () => {
  const x = logitsOf([0.4, 0.3, 0.2, 0.1]);
  assert.deepEqual(keptIds(new Sampler({ topP: 0.5, seed: 1 }), x), [0, 1]); // 0.4 < 0.5 ≤ 0.7
  assert.deepEqual(keptIds(new Sampler({ topK: 2, topP: 0.5, seed: 1 }), x), [0]); // 4/7 ≥ 0.5
  assert.deepEqual(keptIds(new Sampler({ topP: 0.85, minP: 0.6, seed: 1 }), x), [0, 1]); // {0,1,2} then ≥ 0.24
  const y = logitsOf([0.5, 0.3, 0.2]);
  assert.deepEqual(keptIds(new Sampler({ topP: 0.6, seed: 1 }), y), [0, 1]);
  assert.deepEqual(keptIds(new Sampler({ temperature: 0.5, topP: 0.6, seed: 1 }), y), [0]); // 25/38 ≥ 0.6
  assert.deepEqual(keptIds(new Sampler({ temperature: 100, topP: 0.6, seed: 1 }), y), [0, 1]); // ≈ uniform
  assert.deepEqual(keptIds(new Sampler({ temperature: 100, minP: 0.99, seed: 1 }), y), [0, 1, 2]);
});

test('applyPenalties: exact repetition (prompt + generated) then presence/frequency (generated) logits', () => {
  const x = Float32Array.of(2, -2, 1, 0.5, -1, 3);
  const ctx = { promptIds: [0, 1, 0], generatedIds: [2, 2, 1] };
  applyPenalties(x, ctx, { repetitionPenalty: 2, presencePenalty: 0.5, frequencyPenalty: 0.25 });
  // id 0: 2/2; id 1: -2·2 - (0.5 + 0.25·1); id 2: 1/2 - (0.5 + 0.25·2); ids 3..5 untouched.
  assert.deepEqual([...x], [1, -4.75, -0.5, 0.5, -1, 3]);
  const y = Float32Array.of(2, -2, 0);
  applyPenalties(y, { promptIds: [0, 1, 2], generatedIds: [] }, { repetitionPenalty: 0.5, presencePenalty: 2, frequencyPenalty: 2 });
  assert.deepEqual([...y], [4, -1, 0]); // penalty < 1 rewards repeats; presence/frequency see no generated ids
  const z = Float32Array.of(1, 1, 1);
  applyPenalties(z, { promptIds: [1], generatedIds: [0, 0, 0] }, { repetitionPenalty: 1, presencePenalty: -1, frequencyPenalty: 0.1 });
  assert.deepEqual([...z], [Math.fround(1 - (-1 + 0.1 * 3)), 1, 1]);
  assert.throws(() => applyPenalties(Float32Array.of(1, 2), { promptIds: [2], generatedIds: [] }, defaultSamplingParams), ShapeError);
  assert.throws(() => applyPenalties(Float32Array.of(1, 2), { promptIds: [], generatedIds: [-1] }, defaultSamplingParams), ShapeError);
});

test('penalties change the greedy pick; Sampler never mutates the caller logits', () => {
  const x = Float32Array.of(3, 2.9, 0);
  const copy = Float32Array.from(x);
  const ctx = { promptIds: [], generatedIds: [0] };
  assert.equal(new Sampler({ temperature: 0 }).sample(x, ctx), 0);
  assert.equal(new Sampler({ temperature: 0, repetitionPenalty: 1.1 }).sample(x, ctx), 1);
  assert.equal(new Sampler({ temperature: 0, presencePenalty: 0.2 }).sample(x, ctx), 1);
  new Sampler({ temperature: 0.7, topK: 2, topP: 0.9, minP: 0.1, frequencyPenalty: 1, seed: 3 }).sample(x, ctx);
  assert.deepEqual(x, copy);
});

test('softmax and logSoftmax', () => {
  const p = softmax(Float32Array.of(0, Math.log(3), -Infinity));
  assert.ok(Math.abs(p[0]! - 0.25) < 1e-7 && Math.abs(p[1]! - 0.75) < 1e-7 && p[2] === 0);
  const lp = logSoftmax(Float32Array.of(0, Math.log(3), -Infinity));
  assert.ok(Math.abs(lp[0]! - Math.log(0.25)) < 1e-6 && Math.abs(lp[1]! - Math.log(0.75)) < 1e-6);
  assert.equal(lp[2], -Infinity);
  const big = logSoftmax(Float32Array.of(1000, 1000)); // no overflow
  assert.ok(Math.abs(big[0]! - Math.log(0.5)) < 1e-6);
  assert.deepEqual([...softmax(Float32Array.of(-Infinity, -Infinity))], [0, 0]);
});

// ---- the fast Sampler against the reference ----------------------------------------------------------------

test('Sampler.distribution equals referenceProbs on random rows and parameters', () => {
  const rng = Rng.fromSeed(2024);
  const choose = <T>(xs: T[]): T => xs[Math.floor(rng.next() * xs.length)]!;
  for (let trial = 0; trial < 300; trial++) {
    const V = choose([1, 7, 300, 2000]);
    const x = randomLogits(rng, V, choose([0.5, 2, 8, 40]));
    if (trial % 5 === 0) for (let i = 0; i < V; i += 3) x[i] = x[0]!; // ties
    if (trial % 7 === 0) for (let i = 1; i < V; i += 4) x[i] = -Infinity;
    const params = resolveSamplingParams({
      temperature: choose([0, 0.05, 0.5, 1, 1.7, 30]),
      topK: choose([0, 0, 1, 3, 50, V - 1, V + 10]),
      topP: choose([1, 1, 0.1, 0.5, 0.9, 0.999]),
      minP: choose([0, 0, 0.02, 0.3]),
      repetitionPenalty: choose([1, 1, 1.3, 0.8]),
      presencePenalty: choose([0, 0.5]),
      frequencyPenalty: choose([0, -0.3]),
      seed: trial,
    });
    const randomIds = (n: number): number[] => Array.from({ length: n }, () => Math.floor(rng.next() * V));
    const ctx = { promptIds: randomIds(20), generatedIds: randomIds(10) };
    const allowedVocab = choose([V, Math.max(1, V - 5)]);
    const expected = referenceProbs(x, ctx, params, allowedVocab);
    const got = fastProbs(new Sampler(params), x, ctx, allowedVocab);
    const label = `trial ${trial} V ${V} ${JSON.stringify(params)}`;
    for (let i = 0; i < V; i++) {
      // The reference rounds logits / T to float32 (ulp ≈ 3e-5 at |x / T| ≈ 500); the Sampler keeps float64.
      const tol = 1e-6 + 2e-4 * expected[i]!;
      assert.ok(Math.abs(got[i]! - expected[i]!) < tol, `${label}: id ${i} got ${got[i]} expected ${expected[i]}`);
      assert.equal(got[i]! > 0, expected[i]! > 0, `${label}: support differs at id ${i}`);
    }
  }
});

test('top-p over a full-size vocabulary with a long flat tail (histogram threshold path)', () => {
  const rng = Rng.fromSeed(5);
  const V = 152_576;
  for (const [std, topP, temperature] of [
    [1, 0.95, 1],
    [4, 0.9, 0.8],
    [0.01, 0.5, 1],
    [60, 0.99, 1],
  ] as const) {
    const x = randomLogits(rng, V, std);
    const params = resolveSamplingParams({ temperature, topP, seed: 1 });
    const expected = referenceProbs(x, noContext, params);
    const got = fastProbs(new Sampler(params), x);
    let maxDiff = 0;
    for (let i = 0; i < V; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(got[i]! - expected[i]!));
      assert.equal(got[i]! > 0, expected[i]! > 0, `std ${std} top_p ${topP}: support differs at id ${i}`);
    }
    assert.ok(maxDiff < 1e-6, `max diff ${maxDiff}`);
  }
});

test('temperature → 0 approaches greedy', () => {
  const rng = Rng.fromSeed(8);
  const x = randomLogits(rng, 1000, 1);
  const best = argmax(x);
  const s = new Sampler({ temperature: 1e-4, seed: 4 });
  for (let i = 0; i < 100; i++) assert.equal(s.sample(x, noContext), best);
  const { ids, probs } = s.distribution(x, noContext);
  assert.deepEqual([...ids], [best]);
  assert.deepEqual([...probs], [1]);
});

// ---- draws -------------------------------------------------------------------------------------------------

test('same seed → same samples; different seed → different samples', () => {
  const x = randomLogits(Rng.fromSeed(1), 500, 1);
  const draw = (seed: number, extra: Partial<SamplingParams> = {}): number[] => {
    const s = new Sampler({ temperature: 0.9, seed, ...extra });
    return Array.from({ length: 200 }, () => s.sample(x, noContext));
  };
  assert.deepEqual(draw(42), draw(42));
  assert.notDeepEqual(draw(42), draw(43));
  assert.deepEqual(draw(7, { topK: 40, topP: 0.9 }), draw(7, { topK: 40, topP: 0.9 }));
  // An explicit generator takes precedence over params.seed.
  const a = new Sampler({ seed: 1 }, Rng.fromSeed(99)).sample(x, noContext);
  const b = new Sampler({ seed: 99 }).sample(x, noContext);
  assert.equal(a, b);
});

test('one generator draw per non-greedy sample, none for greedy', () => {
  const x = Float32Array.of(0, 1, 2);
  const rng = Rng.fromSeed(3);
  const twin = Rng.fromSeed(3);
  new Sampler({ temperature: 0 }, rng).sample(x, noContext);
  new Sampler({ temperature: 1, topP: 0.9 }, rng).sample(x, noContext);
  new Sampler({ temperature: 1, topK: 1 }, rng).sample(x, noContext); // one token left: still one draw
  twin.next();
  twin.next();
  assert.equal(rng.nextUint32(), twin.nextUint32());
});

test('empirical frequencies over 20000 draws match the distribution', () => {
  const x = Float32Array.of(0, 1, 2, 0.5, -1, 1.5);
  for (const extra of [{}, { temperature: 0.7, topK: 4, topP: 0.9 }, { minP: 0.2, temperature: 1.3 }]) {
    const params = resolveSamplingParams({ ...extra, seed: 12345 });
    const expected = referenceProbs(x, noContext, params);
    const s = new Sampler(params);
    const counts = new Array<number>(x.length).fill(0);
    const n = 20_000;
    for (let i = 0; i < n; i++) counts[s.sample(x, noContext)]!++;
    for (let i = 0; i < x.length; i++) {
      // 5 standard deviations of a binomial frequency, at least 0.002.
      const tol = Math.max(0.002, 5 * Math.sqrt((expected[i]! * (1 - expected[i]!)) / n));
      assert.ok(Math.abs(counts[i]! / n - expected[i]!) < tol, `${JSON.stringify(extra)} id ${i}: ${counts[i]! / n} vs ${expected[i]}`);
      if (expected[i] === 0) assert.equal(counts[i], 0);
    }
  }
});

test('allowedVocab masks padding rows; invalid allowedVocab is a ShapeError', () => {
  const x = Float32Array.of(0, 1, 0.5, 50, 60); // ids 3, 4 are LM-head padding
  assert.equal(new Sampler({ temperature: 0 }).sample(x, noContext, 3), 1);
  const s = new Sampler({ temperature: 2, seed: 6 });
  for (let i = 0; i < 500; i++) assert.ok(s.sample(x, noContext, 3) < 3);
  for (const bad of [0, 6, 2.5]) assert.throws(() => s.sample(x, noContext, bad), ShapeError);
});
