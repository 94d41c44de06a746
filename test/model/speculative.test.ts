/**
 * MTP self-speculative decoding (issue: greedy equality, acceptance wiring, distribution preservation, rollback).
 */
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { test } from 'node:test';
import { SpeculativeDecoder } from '../../src/engine/decoders.js';
import { Generator } from '../../src/engine/generate.js';
import type { LayerCache } from '../../src/engine/kv-cache.js';
import { Rng } from '../../src/engine/rng.js';
import { Sampler, type TokenDistribution } from '../../src/engine/sampler.js';
import { sampleFrom, verifyRejection } from '../../src/engine/speculative/verify.js';
import { loadModel } from '../../src/model/load.js';
import type { MiMoModel } from '../../src/model/mimo-v2/model.js';
import { chiSquareTest } from '../helpers/chi-square.js';
import { discoverCases, maxAbsDiff, readGolden } from '../helpers/fixtures.js';
import { successorValues, writeSyntheticCheckpoint } from '../helpers/synthetic.js';

test('greedy with MTP gives exactly the tokens of greedy without, across several windows', async () => {
  const cases = discoverCases();
  assert.ok(cases.length > 0);
  for (const dir of cases) {
    const { model, config } = loadModel(dir);
    const ids = Array.from(readGolden(dir).tensors.get('input_ids')!.data);
    const gen = new Generator(model, null);
    const maxTokens = 3 * config.slidingWindow + 5;
    const plain = await gen.generate(ids.slice(0, 3), { temperature: 0, maxTokens });
    for (let k = 1; k <= model.numMtpLayers; k++) {
      const spec = await gen.generate(ids.slice(0, 3), { temperature: 0, maxTokens, mtp: k });
      assert.deepEqual(spec.tokenIds, plain.tokenIds, `${path.basename(dir)} mtp ${k}`);
      assert.equal(spec.stats.draftsProposed > 0, true);
    }
  }
});

test('acceptance: MTP layers that predict the trunk are accepted; a shifted token input is not', async () => {
  const dir = writeSyntheticCheckpoint({ overrides: { vocab_size: 32 }, values: successorValues });
  const { model } = loadModel(dir);
  const gen = new Generator(model, null);
  const plain = await gen.generate([5, 6], { temperature: 0, maxTokens: 40 });
  assert.deepEqual(plain.tokenIds, Array.from({ length: 40 }, (_, i) => (7 + i) % 32), 'trunk follows next = prev + 1');
  for (let k = 1; k <= 3; k++) {
    const r = await gen.generate([5, 6], { temperature: 0, maxTokens: 40, mtp: k });
    assert.deepEqual(r.tokenIds, plain.tokenIds);
    const rate = r.stats.draftsAccepted / r.stats.draftsProposed;
    assert.ok(rate >= 0.9, `mtp ${k}: acceptance ${rate}`);
    assert.ok(r.stats.acceptanceLength > k + 0.5, `mtp ${k}: acceptance length ${r.stats.acceptanceLength}`);
  }
  // Miswired: MTP layer k reads token x_{p+k} instead of x_{p+k+1}.
  const generated: number[] = [];
  const dec = new SpeculativeDecoder(model, new Sampler({ temperature: 0 }), [5, 6], generated, 32, 3, { tokenOffset: -1 });
  generated.push(...dec.prefill());
  while (generated.length < 40) generated.push(...dec.step(40 - generated.length));
  assert.deepEqual(generated.slice(0, 40), plain.tokenIds, 'output stays exact when drafts are wrong');
  assert.ok(dec.draftsAccepted / dec.draftsProposed <= 0.1, `shifted input still accepted ${dec.draftsAccepted}/${dec.draftsProposed}`);
});

/** Keys and values of every held position of a layer cache, by position. */
function heldRows(c: LayerCache, upTo: number): Map<number, Float32Array> {
  const kr = c.numKvHeads * c.headDim;
  const vr = c.numKvHeads * c.vHeadDim;
  const out = new Map<number, Float32Array>();
  const from = Math.max(c.first, upTo - (c.window ?? upTo));
  for (let p = from; p < upTo; p++) {
    const { keys, values } = c.copyRows(p, p + 1);
    const row = new Float32Array(kr + vr);
    row.set(keys);
    row.set(values, kr);
    out.set(p, row);
  }
  return out;
}

function randomModel(vocab: number, seed: number): MiMoModel {
  return loadModel(writeSyntheticCheckpoint({ overrides: { vocab_size: vocab }, seed })).model;
}

test('rollback: after every verify step the caches equal a teacher-forced pass over the accepted tokens', () => {
  const model = randomModel(8, 3);
  const D = model.config.hiddenSize;
  const K = 3;
  const prompt = [1, 2, 3];
  const generated: number[] = [];
  const dec = new SpeculativeDecoder(model, new Sampler({ temperature: 1, seed: 11 }), prompt, generated, 8, K);
  generated.push(...dec.prefill());
  for (let step = 0; step < 3 * model.config.slidingWindow; step++) {
    const confirmed = [...prompt, ...generated];
    const n = confirmed.length - 1;
    generated.push(...dec.step(1000));
    // MTP: each layer's draft logits equal a teacher-forced pass over rows 0 … n−1 (tokens x_{p+k+1}, drafts
    // where not yet confirmed), i.e. the layer's cached rows hold exactly the teacher-forced rows.
    const prop = dec.lastProposal!;
    const trunkHidden = model.forward(confirmed.slice(0, n), model.newCache());
    prop.drafts.forEach((_, k) => {
      const toks = Array.from({ length: n }, (_, p) => {
        const idx = p + k + 1;
        return idx <= n ? confirmed[idx]! : prop.drafts[idx - n - 1]!;
      });
      const g = model.mtpForward(k, trunkHidden, toks, model.newCache());
      const want = model.computeLogits(g.subarray((n - 1) * D), 1);
      assert.ok(maxAbsDiff(prop.logits[k]!, want) <= 1e-4, `step ${step} MTP layer ${k}: draft logits differ by ${maxAbsDiff(prop.logits[k]!, want)}`);
    });
    // Trunk: after the step, positions 0 … n'−1 hold exactly what plain decoding of the accepted tokens holds.
    const tokens = [...prompt, ...generated];
    const m = tokens.length - 1;
    const ref = model.newCache();
    model.forward(tokens.slice(0, m), ref);
    assert.equal(dec.cache.length, m);
    dec.cache.layers.forEach((layer, i) => {
      const want = heldRows(ref.layers[i]!, m);
      for (const [p, row] of heldRows(layer, m)) assert.ok(maxAbsDiff(row, want.get(p)!) <= 1e-5, `step ${step} layer ${i} position ${p}`);
    });
  }
  assert.ok(dec.draftsAccepted > 0 && dec.draftsAccepted < dec.draftsProposed, `need both accepted and rejected drafts: ${dec.draftsAccepted}/${dec.draftsProposed}`);
});

function dist(probs: number[]): TokenDistribution {
  return { ids: Int32Array.from(probs.map((_, i) => i)), probs: Float32Array.from(probs) };
}

test('rejection sampling returns exactly the target distribution; a biased verifier does not', () => {
  const p = dist([0.05, 0.3, 0.1, 0.25, 0.02, 0.08, 0.15, 0.05]);
  const q = dist([0.2, 0.1, 0.2, 0.05, 0.15, 0.1, 0.1, 0.1]);
  const sample = (biased: boolean) => {
    const rng = Rng.fromSeed(5);
    const counts = new Array<number>(8).fill(0);
    for (let i = 0; i < 20000; i++) {
      const u = rng.next();
      let d = 0;
      let c = q.probs[0]!;
      while (u >= c && d < 7) c += q.probs[++d]!;
      const out = verifyRejection([d], [q], () => p, biased ? () => rng.next() * 0.3 : () => rng.next());
      counts[out.accepted === 1 ? d : out.next]!++;
    }
    return counts;
  };
  const fair = chiSquareTest(sample(false), p.probs);
  assert.ok(fair.p > 0.01, `unbiased verifier: chi2 ${fair.chi2.toFixed(1)}, p ${fair.p}`);
  const biased = chiSquareTest(sample(true), p.probs);
  assert.ok(biased.p < 0.01, `a verifier that over-accepts must fail the test: p ${biased.p}`);
});

test('sampling with MTP matches plain sampling (chi-square over 10,000 sequences, fixed seeds)', () => {
  const V = 8;
  const model = randomModel(V, 7);
  const prompt = [1, 4, 2];
  const params = { temperature: 1, topP: 0.95 };
  // Exact plain-sampling distribution of (x1, x2): p(x1) · p(x2 | x1), from the sampler's own distribution.
  const ref = new Sampler(params);
  const row = (ids: number[]) => {
    const h = model.forward(ids, model.newCache());
    return model.computeLogits(h.subarray((ids.length - 1) * model.config.hiddenSize), 1);
  };
  const joint = new Float64Array(V * V);
  const p1 = ref.distribution(row(prompt), { promptIds: prompt, generatedIds: [] }, V);
  p1.ids.forEach((x1, i) => {
    const p2 = ref.distribution(row([...prompt, x1]), { promptIds: prompt, generatedIds: [x1] }, V);
    p2.ids.forEach((x2, j) => (joint[x1 * V + x2] = p1.probs[i]! * p2.probs[j]!));
  });
  const draw = (verify?: typeof verifyRejection) => {
    const counts = new Array<number>(V * V).fill(0);
    let accepted = 0;
    for (let seed = 0; seed < 10000; seed++) {
      const generated: number[] = [];
      const dec = new SpeculativeDecoder(model, new Sampler({ ...params, seed }), prompt, generated, V, 2, { verify });
      generated.push(...dec.prefill());
      const next = dec.step(3);
      accepted += dec.draftsAccepted;
      counts[generated[0]! * V + next[0]!]!++;
    }
    return { counts, accepted };
  };
  const fair = draw();
  assert.ok(fair.accepted > 1000, `drafts should often be accepted on a tiny vocabulary (${fair.accepted})`);
  const t = chiSquareTest(fair.counts, joint);
  assert.ok(t.p > 0.01, `MTP sampling differs from plain sampling: chi2 ${t.chi2.toFixed(1)} df ${t.df} p ${t.p}`);
  const alwaysAccept: typeof verifyRejection = (drafts, _q, target, uniform) => ({ accepted: drafts.length, next: sampleFrom(target(drafts.length), uniform()) });
  const b = chiSquareTest(draw(alwaysAccept).counts, joint);
  assert.ok(b.p < 0.01, `a verifier that accepts every draft must fail: p ${b.p}`);
});
