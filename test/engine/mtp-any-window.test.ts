/**
 * MTP self-speculative decoding with every window size, including windows smaller than drafts + 2 (once refused
 * with "MTP drafts (3) must be below the sliding window"): greedy output with MTP equals greedy output without it,
 * token for token and log-probability for log-probability, and with the prefix cache on top.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/model/load.js';
import { Generator } from '../../src/engine/generate.js';
import { PrefixCache } from '../../src/engine/prefix-cache/prefix-cache.js';
import { referenceBackend } from '../../src/kernels/reference/ops.js';
import { writeSyntheticCheckpoint } from '../helpers/synthetic.js';

for (const window of [1, 2, 3, 4, 5, 16]) {
  test(`window ${window}: greedy with 3 MTP drafts equals greedy without MTP (also through the prefix cache)`, async () => {
    const dir = writeSyntheticCheckpoint({ overrides: { vocab_size: 64, sliding_window: window, sliding_window_size: window }, seed: 3 + window });
    const { model } = loadModel(dir, { backend: referenceBackend });
    assert.equal(model.config.slidingWindow, window);
    const prompt = Array.from({ length: 23 }, (_, i) => (i * 17 + 5) % 60);
    const opts = { temperature: 0, maxTokens: 20, stopTokenIds: [], logprobs: 0 };
    const g = new Generator(model, null, 5);
    const run = async (gen: Generator, ids: number[], mtp: number) => {
      const out: number[] = [];
      const lps: number[] = [];
      let stats;
      for await (const c of gen.stream(ids, { ...opts, mtp })) {
        if (c.tokenId !== null) out.push(c.tokenId);
        if (c.logprob) lps.push(c.logprob.logprob);
        if (c.stats) stats = c.stats;
      }
      return { out, lps, stats: stats! };
    };
    const plain = await run(g, prompt, 0);
    const spec = await run(g, prompt, 3);
    assert.deepEqual(spec.out, plain.out);
    assert.deepEqual(spec.lps, plain.lps, 'log-probabilities bitwise');
    assert.ok(spec.stats.draftsProposed > 0);
    const cache = new PrefixCache(model, { ramBytes: 1 << 28, pageSize: 4, checkpointEvery: 7 });
    const cached = new Generator(model, null, 5, 256, cache);
    await run(cached, prompt, 3);
    const next = [...prompt, ...plain.out, 1, 2, 3];
    const a = await run(cached, next, 3);
    const b = await run(g, next, 0);
    assert.deepEqual(a.out, b.out);
    assert.deepEqual(a.lps, b.lps);
    assert.ok(a.stats.cachedTokens! > prompt.length, `reused ${a.stats.cachedTokens}`);
  });
}
