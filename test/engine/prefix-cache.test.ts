/**
 * Prefix cache exactness: multi-turn conversations served with the cache give bitwise the tokens and
 * log-probabilities of the same requests without it (greedy and seeded sampling, MTP off and on, 8 conversations in
 * one batch), on both backends; hits at every alignment that matters (prefix length mod page size and window);
 * divergence inside the last window and mid-page; after eviction; salts isolate; the engine computes exactly
 * len − p′ prompt positions.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/model/load.js';
import { Generator } from '../../src/engine/generate.js';
import { Scheduler, type RequestHandle } from '../../src/engine/scheduler.js';
import { PrefixCache } from '../../src/engine/prefix-cache/prefix-cache.js';
import { referenceBackend } from '../../src/kernels/reference/ops.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import type { Backend } from '../../src/kernels/backend.js';
import type { MiMoModel } from '../../src/model/mimo-v2/model.js';
import type { GenerateOptions, GenerationStats } from '../../src/engine/sequence.js';
import { writeSyntheticCheckpoint } from '../helpers/synthetic.js';
import { MiMoEngine } from '../../src/engine/engine.js';
import { nativeSkip } from '../helpers/native.js';

const V = 96;
/** The generation marker of these tests (stands for `<|im_start|>assistant`). */
const MARKER = [90, 91];
const dir = writeSyntheticCheckpoint({ overrides: { vocab_size: V }, seed: 11 });

interface Run {
  ids: number[];
  logprobs: number[];
  stats: GenerationStats;
}

async function collect(h: RequestHandle): Promise<Run> {
  const ids: number[] = [];
  const logprobs: number[] = [];
  for await (const c of h) {
    if (c.tokenId !== null) {
      ids.push(c.tokenId);
      if (c.logprob) logprobs.push(c.logprob.logprob);
    }
    if (c.finishReason) return { ids, logprobs, stats: c.stats! };
  }
  throw new Error('stream ended without a final chunk');
}

function ids(n: number, seed: number): number[] {
  return Array.from({ length: n }, (_, i) => (i * 37 + seed * 11 + ((i * i) % 7)) % 88);
}

interface Setup {
  model: MiMoModel;
  cached: Scheduler;
  plain: Scheduler;
  cache: PrefixCache;
}

function setup(backend: Backend, opts: { ramBytes?: number; pageSize?: number; checkpointEvery?: number; chunk?: number } = {}): Setup {
  const { model } = loadModel(dir, { backend });
  const cache = new PrefixCache(model, { ramBytes: opts.ramBytes ?? 1 << 30, pageSize: opts.pageSize ?? 8, checkpointEvery: opts.checkpointEvery ?? 0, generationMarker: MARKER });
  const chunk = opts.chunk ?? 7;
  return {
    model,
    cache,
    cached: new Scheduler(new Generator(model, null, chunk, 256, cache), { maxBatch: 8 }),
    plain: new Scheduler(new Generator(model, null, chunk), { maxBatch: 8 }),
  };
}

function same(a: Run, b: Run, what: string): void {
  assert.deepEqual(a.ids, b.ids, `${what}: token ids`);
  assert.deepEqual(a.logprobs, b.logprobs, `${what}: log-probabilities (bitwise)`);
}

/**
 * Run `turns` turns of `conversations` conversations at once on both schedulers: turn k's prompt is the previous
 * prompt + its output (or, with `rerender`, a rendering that diverges right after the marker) + a new user message +
 * the marker. Returns the cached runs per turn.
 */
async function conversations(s: Setup, n: number, turns: number, gen: GenerateOptions, rerender = false): Promise<Run[][]> {
  let prompts = Array.from({ length: n }, (_, c) => [...ids(20 + 3 * c, c), ...MARKER]);
  const all: Run[][] = [];
  let previous: number[][] = [];
  for (let t = 0; t < turns; t++) {
    const [withCache, without] = await Promise.all([
      Promise.all(prompts.map((p) => collect(s.cached.submit(p, gen)))),
      Promise.all(prompts.map((p) => collect(s.plain.submit(p, { ...gen, cache: false })))),
    ]);
    withCache.forEach((r, c) => {
      same(r, without[c]!, `turn ${t} conversation ${c}`);
      assert.equal(r.stats.prefilledTokens, prompts[c]!.length - r.stats.cachedTokens!, 'the engine computed exactly len − p′ prompt positions');
      if (t > 0) assert.ok(r.stats.cachedTokens! > 0, `turn ${t} conversation ${c} reused an earlier turn`);
    });
    all.push(withCache);
    if (rerender && t > 0) withCache.forEach((r, c) => assert.equal(r.stats.cachedTokens, previous[c]!.length - MARKER.length, `turn ${t} conversation ${c}: hit just before the marker`));
    previous = prompts;
    prompts = prompts.map((p, c) => {
      const out = withCache[c]!.ids;
      // Re-rendered history: the assistant header differs from the generation prompt's from its second token on.
      if (rerender) return [...p.slice(0, -1), 92, ...out.slice(0, 2), ...ids(9 + c, t + 5 + c), ...MARKER];
      return [...p, ...out, ...ids(9 + c, t + 5 + c), ...MARKER];
    });
  }
  return all;
}

const backends: Array<{ name: string; make: () => Backend; skip: string | false }> = [
  { name: 'ts', make: () => referenceBackend, skip: false },
  { name: 'native', make: () => createNativeBackend(), skip: nativeSkip },
];

for (const b of backends) {
  for (const mtp of [0, 2]) {
    test(`multi-turn conversations, greedy and seeded, 8 in a batch: cached == uncached (${b.name}, mtp ${mtp})`, { skip: b.skip }, async () => {
      const s = setup(b.make());
      const greedy = await conversations(s, 8, 3, { temperature: 0, maxTokens: 6, stopTokenIds: [], logprobs: 0, mtp });
      // Turn 2 continues turn 1's generation: its hit reaches past the end of turn 1's prompt.
      assert.ok(greedy[1]!.every((r, c) => r.stats.cachedTokens! >= 20 + 3 * c + 2), 'turn 2 hit at least turn 1\'s prompt');
      await conversations(s, 3, 3, { temperature: 0.9, seed: 1234, maxTokens: 6, stopTokenIds: [], logprobs: 0, mtp });
      // The client re-renders the assistant turn (thinking dropped): the hit is the snapshot before the marker.
      const re = await conversations(s, 2, 3, { temperature: 0, maxTokens: 5, stopTokenIds: [], logprobs: 0, mtp }, true);
      assert.ok(re[1]!.every((r) => r.stats.cachedTokens! > 0));
    });
  }

  test(`prefill chunks of 40 rows (hits move where chunks start): cached == uncached (${b.name})`, { skip: b.skip }, async () => {
    // A hit changes where chunks start: this needs kernels whose rows do not depend on the call's row count.
    for (const mtp of [0, 2]) await conversations(setup(b.make(), { chunk: 40 }), 2, 3, { temperature: 0, maxTokens: 6, stopTokenIds: [], logprobs: 0, mtp });
  });

  test(`hits at every alignment mod page size (8) and window (16); divergence mid-page and inside the window (${b.name})`, { skip: b.skip }, async () => {
    const W = 16;
    const gen = { temperature: 0, maxTokens: 4, stopTokenIds: [], logprobs: 0 };
    for (const L of [5, 8, 9, W - 1, W, W + 1, 24, 25, 31, 33]) {
      const s = setup(b.make());
      assert.equal(s.model.config.slidingWindow, W);
      const x = ids(L, L);
      await collect(s.cached.submit(x, gen)); // snapshot at L (end of prompt)
      const y = [...x, ...ids(6, L + 1)];
      const r = await collect(s.cached.submit(y, gen));
      assert.equal(r.stats.cachedTokens, L, `L ${L}: hit at the end of the earlier prompt`);
      assert.equal(r.stats.prefilledTokens, y.length - L, `L ${L}: only the rest computed`);
      same(r, await collect(s.plain.submit(y, gen)), `L ${L}`);
    }
    // Snapshots every 8 tokens; a prompt diverging at d reuses the largest multiple of 8 ≤ d.
    const s = setup(b.make(), { checkpointEvery: 8 });
    const x = ids(45, 3);
    await collect(s.cached.submit(x, gen));
    for (const d of [44, 41, 36, 30, 20, 12, 7]) {
      const y = [...x.slice(0, d), ...ids(5, d)];
      if (y[d] === x[d]) y[d] = (y[d]! + 1) % 88;
      const r = await collect(s.cached.submit(y, gen));
      assert.equal(r.stats.cachedTokens, Math.floor(d / 8) * 8, `diverging at ${d}`);
      assert.equal(r.stats.prefilledTokens, y.length - Math.floor(d / 8) * 8);
      same(r, await collect(s.plain.submit(y, gen)), `diverging at ${d}`);
    }
  });

  test(`a tiny --cache-ram evicts, stays under budget, and output stays exact (${b.name})`, { skip: b.skip }, async () => {
    const probe = setup(b.make());
    await collect(probe.cached.submit(ids(30, 1), { maxTokens: 1, temperature: 0 }));
    const one = probe.cache.stats.ramBytes;
    assert.ok(one > 0);
    const s = setup(b.make(), { ramBytes: Math.floor(one * 2.5) });
    const gen = { temperature: 0, maxTokens: 4, stopTokenIds: [], logprobs: 0 };
    const prompts = [0, 1, 2, 3, 4].map((k) => ids(30, k + 40));
    for (const p of prompts) {
      same(await collect(s.cached.submit(p, gen)), await collect(s.plain.submit(p, gen)), 'fill');
      assert.ok(s.cache.stats.ramBytes <= s.cache.ramBytes, `${s.cache.stats.ramBytes} bytes held over the budget ${s.cache.ramBytes}`);
    }
    assert.ok(s.cache.stats.evictions > 0, 'something was evicted');
    const last = await collect(s.cached.submit([...prompts[4]!, 1, 2, 3], gen));
    assert.ok(last.stats.cachedTokens! >= 30, 'the most recent entry is still held');
    same(last, await collect(s.plain.submit([...prompts[4]!, 1, 2, 3], gen)), 'recent hit');
    // The first prompts were evicted: their follow-ups miss and re-prefill, still exactly.
    const again = await collect(s.cached.submit([...prompts[0]!, 1, 2, 3], gen));
    assert.equal(again.stats.cachedTokens, 0, 'evicted entry is gone');
    same(again, await collect(s.plain.submit([...prompts[0]!, 1, 2, 3], gen)), 'after eviction');
    assert.ok(s.cache.stats.ramBytes <= s.cache.ramBytes);
  });
}

test('cache_salt isolates entries; cache: false bypasses; reset empties', async () => {
  const s = setup(referenceBackend);
  const gen = { temperature: 0, maxTokens: 3, stopTokenIds: [] };
  const x = ids(30, 9);
  await collect(s.cached.submit(x, { ...gen, cacheSalt: 'tenant-a' }));
  const y = [...x, 5, 6, 7];
  assert.equal((await collect(s.cached.submit(y, { ...gen, cacheSalt: 'tenant-b' }))).stats.cachedTokens, 0, 'another salt misses');
  assert.equal((await collect(s.cached.submit(y, gen))).stats.cachedTokens, 0, 'no salt misses a salted entry');
  assert.equal((await collect(s.cached.submit(y, { ...gen, cacheSalt: 'tenant-a', cache: false }))).stats.cachedTokens, 0, 'cache: false');
  assert.ok((await collect(s.cached.submit(y, { ...gen, cacheSalt: 'tenant-a' }))).stats.cachedTokens! >= 30, 'same salt hits');
  s.cache.reset();
  assert.equal(s.cache.stats.ramBytes, 0);
  assert.equal(s.cache.stats.entries, 0);
  assert.equal((await collect(s.cached.submit(y, { ...gen, cacheSalt: 'tenant-a' }))).stats.cachedTokens, 0, 'reset emptied it');
  assert.throws(() => s.cached.submit(y, { ...gen, cacheSalt: 3 as unknown as string }), /cache_salt/);
});

test('MiMoEngine shares one prefix cache between its calls (load option prefixCache), output unchanged', async () => {
  const withCache = MiMoEngine.load(dir, { backend: referenceBackend, prefixCache: { pageSize: 8, checkpointEvery: 16 } });
  const without = MiMoEngine.load(dir, { backend: referenceBackend });
  assert.equal(without.prefixCache, null);
  const gen = { temperature: 0, maxTokens: 5, stopTokenIds: [] };
  const first = ids(40, 2);
  const a1 = await withCache.generate({ promptIds: first }, gen);
  assert.equal(a1.stats.cachedTokens, 0);
  const second = [...first, ...a1.tokenIds, 7, 8, 9];
  const a2 = await withCache.generate({ promptIds: second }, gen);
  const b2 = await without.generate({ promptIds: second }, gen);
  assert.deepEqual(a2.tokenIds, b2.tokenIds);
  assert.ok(a2.stats.cachedTokens! >= first.length, `reused ${a2.stats.cachedTokens} of ${second.length}`);
  assert.equal(a2.stats.prefilledTokens, second.length - a2.stats.cachedTokens!);
  assert.throws(() => MiMoEngine.load(dir, { backend: referenceBackend, prefixCache: { ramBytes: -1 } }), /prefixCache/);
});
