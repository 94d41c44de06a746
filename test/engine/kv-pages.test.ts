/**
 * Paged full-attention KV (src/engine/kv-pages.ts) and sharing by reference: a page table holds the same rows as a
 * contiguous cache; attention over a page table is bitwise attention over one buffer (reference and native, f32 and
 * BF16; run with MIMO_CPU=avx512bf16|avx512|avx2|scalar for every native level); a prefix-cache hit copies nothing
 * but the partial last page; two live requests with the same system prompt hold the same page objects; eviction
 * skips pages a running sequence holds; `n > 1` choices share one prefill with the tokens of separate prefills.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LayerKVCache } from '../../src/engine/kv-cache.js';
import { KvPagePool, PagedLayerKVCache } from '../../src/engine/kv-pages.js';
import { referenceBackend } from '../../src/kernels/reference/ops.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import type { AttentionInput, Backend } from '../../src/kernels/backend.js';
import { loadModel } from '../../src/model/load.js';
import { Generator } from '../../src/engine/generate.js';
import { Scheduler, type RequestHandle } from '../../src/engine/scheduler.js';
import { PrefixCache } from '../../src/engine/prefix-cache/prefix-cache.js';
import type { GenerateOptions, GenerationStats } from '../../src/engine/sequence.js';
import type { MiMoModel } from '../../src/model/mimo-v2/model.js';
import { writeSyntheticCheckpoint } from '../helpers/synthetic.js';
import { nativeSkip } from '../helpers/native.js';
import { numberToBf16Bits } from '../../src/tensor/dtype.js';

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function randomF32(n: number, r: () => number): Float32Array {
  return Float32Array.from({ length: n }, () => r() * 2);
}

test('a page table holds the rows of a contiguous cache through appends across pages, trims and restores', () => {
  const pool = new KvPagePool();
  for (const dtype of ['f32', 'bf16'] as const) {
    const paged = new PagedLayerKVCache(pool, 2, 5, 3, 4, dtype);
    const flat = new LayerKVCache(2, 5, 3, null, 0, dtype);
    const r = rng(7);
    for (const T of [1, 3, 4, 6, 1, 9]) {
      const k = randomF32(T * 10, r);
      const v = randomF32(T * 6, r);
      paged.append(k, v, T);
      flat.append(k, v, T);
    }
    paged.trim(5);
    flat.trim(5);
    const k = randomF32(20, r);
    paged.append(k, k.subarray(0, 12), 2);
    flat.append(k, k.subarray(0, 12), 2);
    assert.equal(paged.length, flat.length);
    assert.equal(paged.pageCount, Math.ceil(paged.length / 4));
    assert.deepEqual(paged.copyRows(0, paged.length), flat.copyRows(0, flat.length), `${dtype}: same rows`);
    const restored = new PagedLayerKVCache(pool, 2, 5, 3, 4, dtype);
    restored.restore(0, [flat.copyRows(0, 6), flat.copyRows(6, flat.length)]);
    assert.deepEqual(restored.copyRows(0, restored.length), flat.copyRows(0, flat.length), `${dtype}: restored rows`);
    paged.release();
    restored.release();
  }
  assert.deepEqual({ pages: pool.pages, refs: pool.refs, bytes: pool.bytes }, { pages: 0, refs: 0, bytes: 0 }, 'every page released');
});

test('a shared partial last page is copied on the first write; the other holder keeps its rows', () => {
  const pool = new KvPagePool();
  const a = new PagedLayerKVCache(pool, 1, 2, 2, 4, 'f32');
  const r = rng(3);
  a.append(randomF32(12, r), randomF32(12, r), 6); // one whole page + 2 rows
  const before = a.copyRows(0, 6);
  const b = new PagedLayerKVCache(pool, 1, 2, 2, 4, 'f32');
  b.adopt(a);
  assert.deepEqual({ pages: pool.pages, refs: pool.refs }, { pages: 2, refs: 4 }, 'adopt shares both pages');
  b.append(Float32Array.of(9, 9), Float32Array.of(8, 8), 1);
  assert.equal(pool.copies, 1, 'only the partial last page was copied');
  assert.deepEqual({ pages: pool.pages, refs: pool.refs }, { pages: 3, refs: 4 }, 'the whole page stays shared');
  assert.equal(b.wholePage(0), a.wholePage(0), 'the same page object');
  assert.deepEqual(a.copyRows(0, 6), before, 'the first holder is untouched');
  assert.deepEqual(b.copyRows(0, 6), before);
  assert.deepEqual(Array.from(b.copyRows(6, 7).keys), [9, 9]);
  a.trim(6);
  b.release();
  assert.deepEqual({ pages: pool.pages, refs: pool.refs }, { pages: 0, refs: 0 });
});

const backends: Array<{ name: string; make: () => Backend; skip: string | false }> = [
  { name: 'ts', make: () => referenceBackend, skip: false },
  { name: 'native', make: () => createNativeBackend({ threads: 2 }), skip: nativeSkip },
];

for (const b of backends) {
  test(`attention over a page table is bitwise attention over one buffer, f32 and bf16 (${b.name})`, { skip: b.skip }, () => {
    const be = b.make();
    const cases = [
      { start: 0, T: 5, S: 4 },
      { start: 1, T: 1, S: 64 },
      { start: 63, T: 2, S: 64 },
      { start: 64, T: 1, S: 64 },
      { start: 65, T: 3, S: 64 },
      { start: 300, T: 4, S: 64 },
      { start: 37, T: 6, S: 8 },
    ];
    for (const dtype of ['f32', 'bf16'] as const) {
      for (const { start, T, S } of cases) {
        const Hq = 6;
        const Hkv = 2;
        const Dqk = 24;
        const Dv = 16;
        const r = rng(start * 31 + T);
        const pastK = randomF32(start * Hkv * Dqk, r);
        const pastV = randomF32(start * Hkv * Dv, r);
        const toStored = (x: Float32Array) => (dtype === 'bf16' ? Uint16Array.from(x, (y) => numberToBf16Bits(y)) : x);
        const layer = new PagedLayerKVCache(new KvPagePool(), Hkv, Dqk, Dv, S, dtype);
        layer.restore(0, [{ keys: toStored(pastK), values: toStored(pastV) }]);
        const base: Omit<AttentionInput, 'pastKeys' | 'pastValues' | 'pastRows' | 'pastFirst'> = {
          q: randomF32(T * Hq * Dqk, r),
          k: randomF32(T * Hkv * Dqk, r),
          v: randomF32(T * Hkv * Dv, r),
          start,
          T,
          numHeads: Hq,
          numKvHeads: Hkv,
          headDim: Dqk,
          vHeadDim: Dv,
          window: null,
          sinks: Float32Array.from({ length: Hq }, (_, h) => 0.1 * h - 0.2),
        };
        const flat = be.attention({ ...base, pastKeys: toStored(pastK), pastValues: toStored(pastV), pastRows: Math.max(start, 1), pastFirst: 0 });
        const paged = be.attention({ ...base, ...layer.attentionPast() });
        assert.deepEqual(paged, flat, `${dtype} start ${start} T ${T} page ${S}`);
      }
    }
  });
}

const V = 96;
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

/** The first full-attention trunk layer of a model. */
function fullLayer(model: MiMoModel): number {
  const i = model.config.layers.findIndex((l) => l.attention.window === null);
  assert.ok(i >= 0, 'the test checkpoint has a full-attention layer');
  return i;
}

for (const b of backends) {
  test(`two live requests with the same system prompt hold the prefix cache's pages, copy nothing else, and answer as without the cache (${b.name})`, { skip: b.skip }, async () => {
    const { model } = loadModel(dir, { backend: b.make() });
    const cache = new PrefixCache(model, { ramBytes: 1 << 30, pageSize: 8, checkpointEvery: 0 });
    const cached = new Scheduler(new Generator(model, null, 7, 256, cache), { maxBatch: 8 });
    const plain = new Scheduler(new Generator(model, null, 7), { maxBatch: 8 });
    const system = ids(40, 1); // five whole pages
    const gen: GenerateOptions = { maxTokens: 12, temperature: 0, logprobs: 0 };
    await collect(cached.submit(system, gen)); // caches the system prompt
    const fl = fullLayer(model);
    const before = model.kvPageStats;
    const hA = cached.submit([...system, 1, 2, 3], gen);
    const hB = cached.submit([...system, 4, 5], gen);
    // Run until both took their hit and prefilled, then look at their page tables while they decode.
    const a = collect(hA);
    const bRun = collect(hB);
    for (let i = 0; i < 50 && (hA.sequence.prefilling || hB.sequence.prefilling); i++) await new Promise((r) => setImmediate(r));
    assert.ok(!hA.sequence.prefilling && !hB.sequence.prefilling && !hA.finished && !hB.finished, 'both requests are decoding');
    const la = hA.sequence.decoder.cache.layers[fl] as PagedLayerKVCache;
    const lb = hB.sequence.decoder.cache.layers[fl] as PagedLayerKVCache;
    for (let p = 0; p < 4; p++) assert.equal(la.wholePage(p), lb.wholePage(p), `page ${p}: one object in both page tables`);
    const during = model.kvPageStats;
    const fullLayers = model.config.layers.filter((l) => l.attention.window === null).length;
    // Each request added at most its own last page(s) per layer, not another copy of the system prompt's pages.
    assert.ok(during.pages - before.pages <= 2 * 2 * fullLayers, `pages held grew by ${during.pages - before.pages}, not by the prompt's`);
    assert.ok(during.refs - during.pages >= 2 * 4 * fullLayers, `holders exceed pages by ${during.refs - during.pages}: the pages are shared`);
    const [ra, rb] = await Promise.all([a, bRun]);
    assert.ok(ra.stats.cachedTokens! >= 32 && rb.stats.cachedTokens! >= 32, 'both hit the system prompt');
    const [pa, pb] = await Promise.all([collect(plain.submit([...system, 1, 2, 3], { ...gen, cache: false })), collect(plain.submit([...system, 4, 5], { ...gen, cache: false }))]);
    assert.deepEqual([ra.ids, ra.logprobs], [pa.ids, pa.logprobs], 'A: bitwise as without the cache');
    assert.deepEqual([rb.ids, rb.logprobs], [pb.ids, pb.logprobs], 'B: bitwise as without the cache');
    // Once the requests ended, only the prefix cache holds pages (one reference each).
    const after = model.kvPageStats;
    assert.equal(after.refs, after.pages, 'no running sequence holds a page any more');
    assert.equal(after.pages, cache.stats.pages * fullLayers, 'the pages left are the prefix cache\'s');
  });
}

test('eviction never frees pages a running request holds; the budget holds again once it ends', async () => {
  const { model } = loadModel(dir, { backend: referenceBackend });
  const probe = new PrefixCache(model, { ramBytes: 1 << 30, pageSize: 8, checkpointEvery: 0 });
  await collect(new Scheduler(new Generator(model, null, 7, 256, probe)).submit(ids(32, 9), { maxTokens: 1, temperature: 0 }));
  const one = probe.stats.ramBytes;
  probe.reset();
  const cache = new PrefixCache(model, { ramBytes: Math.floor(one * 1.5), pageSize: 8, checkpointEvery: 0 });
  const s = new Scheduler(new Generator(model, null, 7, 256, cache), { maxBatch: 8 });
  const fl = fullLayer(model);
  const long = s.submit(ids(32, 9), { maxTokens: 40, temperature: 0 });
  const longRun = collect(long);
  for (let i = 0; i < 50 && long.sequence.prefilling; i++) await new Promise((r) => setImmediate(r));
  const held = (long.sequence.decoder.cache.layers[fl] as PagedLayerKVCache).wholePage(0);
  assert.ok(held.refs >= 2, 'the running request and the prompt snapshot share the first page');
  // Other prompts fill the budget while the long request runs.
  for (let c = 0; c < 3; c++) await collect(s.submit(ids(32, 20 + c), { maxTokens: 1, temperature: 0 }));
  assert.ok(held.refs >= 2, 'the pinned page is still in the prefix cache');
  assert.ok(cache.stats.evictions > 0, 'other entries were evicted instead');
  await longRun;
  assert.ok(cache.stats.ramBytes <= cache.ramBytes, `${cache.stats.ramBytes} bytes over the budget ${cache.ramBytes} after the request ended`);
  assert.equal(model.kvPageStats.refs, model.kvPageStats.pages, 'no page is held twice once nothing runs');
});

for (const b of backends) {
  for (const mtp of [0, 1]) {
    test(`n > 1 choices share one prefill: same tokens and log-probabilities as separate prefills, prompt pages held once (${b.name}, mtp ${mtp})`, { skip: b.skip }, async () => {
      const { model } = loadModel(dir, { backend: b.make() });
      model.kvPageSize = 8; // as the prefix cache below sets it
      for (const withCache of [false, true]) {
        const cache = withCache ? new PrefixCache(model, { ramBytes: 1 << 30, pageSize: 8, checkpointEvery: 0 }) : null;
        const s = new Scheduler(new Generator(model, null, 7, 256, cache), { maxBatch: 4 });
        const prompt = ids(29, 4); // three whole pages of 8 and a partial one
        const gen: GenerateOptions = { maxTokens: 10, temperature: 1, topK: 20, logprobs: 2, mtp };
        const lead = s.submit(prompt, { ...gen, seed: 5 });
        const handles = [lead, s.submit(prompt, { ...gen, seed: 6 }, lead), s.submit(prompt, { ...gen, seed: 7 }, lead)];
        assert.ok(handles[1]!.sequence.waiting && handles[2]!.sequence.waiting, 'choices 1 and 2 wait for choice 0');
        const runs = Promise.all(handles.map(collect));
        const fl = fullLayer(model);
        for (let i = 0; i < 50 && lead.sequence.prefilling; i++) await new Promise((r) => setImmediate(r));
        const tables = handles.filter((h) => !h.finished).map((h) => h.sequence.decoder.cache.layers[fl] as PagedLayerKVCache);
        assert.equal(tables.length, 3, 'all three choices run');
        for (const t of tables) assert.equal(t.wholePage(2), tables[0]!.wholePage(2), 'one page object for the shared prompt');
        const shared = await runs;
        assert.deepEqual(shared.map((r) => r.stats.prefilledTokens), [prompt.length, 0, 0], 'the prompt was prefilled once');
        const alone = new Scheduler(new Generator(model, null, 7), { maxBatch: 4 });
        const separate = await Promise.all([5, 6, 7].map((seed) => collect(alone.submit(prompt, { ...gen, seed, cache: false }))));
        shared.forEach((r, i) => assert.deepEqual([r.ids, r.logprobs], [separate[i]!.ids, separate[i]!.logprobs], `choice ${i} (cache ${withCache}): bitwise as its own prefill`));
        assert.notDeepEqual(shared[0]!.ids, shared[1]!.ids, 'the seeds give different choices (the test can tell them apart)');
        assert.equal(model.kvPageStats.refs, model.kvPageStats.pages, 'no page held twice once the choices ended');
        cache?.reset();
      }
    });
  }
}

test('a choice waiting for a cancelled first choice prefills on its own', async () => {
  const { model } = loadModel(dir, { backend: referenceBackend });
  const s = new Scheduler(new Generator(model, null, 7), { maxBatch: 4 });
  const prompt = ids(30, 2);
  const gen: GenerateOptions = { maxTokens: 6, temperature: 0 };
  const lead = s.submit(prompt, gen);
  const second = s.submit(prompt, gen, lead);
  lead.cancel();
  const r = await collect(second);
  assert.equal(r.stats.prefilledTokens, prompt.length, 'it prefilled the prompt itself');
  const alone = await collect(s.submit(prompt, gen));
  assert.deepEqual(r.ids, alone.ids);
  assert.equal((await collect(lead)).ids.length, 0);
});

for (const b of backends) {
  test(`attention refuses a page table that misses pages or mixes dtypes (${b.name})`, { skip: b.skip }, () => {
    const be = b.make();
    const base = { q: new Float32Array(4), k: new Float32Array(4), v: new Float32Array(4), start: 9, T: 1, numHeads: 1, numKvHeads: 1, headDim: 4, vHeadDim: 4, window: null, sinks: null, pastKeys: new Float32Array(0), pastValues: new Float32Array(0), pastRows: 0, pastFirst: 0 };
    const page = () => new Float32Array(8 * 4);
    assert.throws(() => be.attention({ ...base, pastPages: { keys: [page()], values: [page()], pageSize: 8 } }), /need 2 pages/);
    assert.throws(() => be.attention({ ...base, window: 4, pastPages: { keys: [page(), page()], values: [page(), page()], pageSize: 8 } }), /full-attention layers only/);
    if (b.name === 'native') assert.throws(() => be.attention({ ...base, pastPages: { keys: [page(), new Uint16Array(32)], values: [page(), page()], pageSize: 8 } }), /pageKeys\[1\] must be a Float32Array/);
    assert.equal(be.attention({ ...base, pastPages: { keys: [page(), page()], values: [page(), page()], pageSize: 8 } }).length, 4, 'two pages are enough for 9 positions');
  });
}
