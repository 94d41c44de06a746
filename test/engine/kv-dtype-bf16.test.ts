/**
 * `--kv-dtype bf16`: caches store BF16 bits (half the bytes); attention on both backends reads them directly and
 * gives bitwise what it gives on a float32 cache holding the same (rounded) values; with the prefix cache on top,
 * output is bitwise that of the same bf16 engine without it; BF16 output stays close to the float32 output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadModel } from '../../src/model/load.js';
import { Generator } from '../../src/engine/generate.js';
import { Scheduler } from '../../src/engine/scheduler.js';
import { PrefixCache } from '../../src/engine/prefix-cache/prefix-cache.js';
import { LayerKVCache } from '../../src/engine/kv-cache.js';
import { referenceBackend } from '../../src/kernels/reference/ops.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import type { Backend } from '../../src/kernels/backend.js';
import { bf16BitsToNumber, numberToBf16Bits } from '../../src/tensor/dtype.js';
import { Rng } from '../../src/engine/rng.js';
import { writeSyntheticCheckpoint } from '../helpers/synthetic.js';
import { nativeSkip } from '../helpers/native.js';

const dir = writeSyntheticCheckpoint({ overrides: { vocab_size: 80 }, seed: 21 });
const backends: Array<{ name: string; make: () => Backend; skip: string | false }> = [
  { name: 'ts', make: () => referenceBackend, skip: false },
  { name: 'native', make: () => createNativeBackend(), skip: nativeSkip },
];

for (const b of backends) {
  test(`attention on a BF16 cache equals attention on a float32 cache of the same values, bitwise (${b.name})`, { skip: b.skip }, () => {
    const be = b.make();
    const rng = Rng.fromSeed(4);
    const Hq = 4, Hkv = 2, Dqk = 24, Dv = 16, rows = 40, T = 3;
    for (const window of [null, 8]) {
      const start = window === null ? 37 : 61; // the ring wraps for the windowed case
      const pastRows = window === null ? rows : window + 2;
      const bits = (n: number) => Uint16Array.from({ length: n }, () => numberToBf16Bits(rng.nextNormal()));
      const pk = bits(pastRows * Hkv * Dqk);
      const pv = bits(pastRows * Hkv * Dv);
      const widen = (u: Uint16Array) => Float32Array.from(u, (x) => bf16BitsToNumber(x));
      const f = (n: number) => Float32Array.from({ length: n }, () => rng.nextNormal());
      const q = f(T * Hq * Dqk);
      const k = f(T * Hkv * Dqk);
      const v = f(T * Hkv * Dv);
      const base = { q, k, v, start, T, numHeads: Hq, numKvHeads: Hkv, headDim: Dqk, vHeadDim: Dv, window, sinks: Float32Array.from([0.1, -0.2, 0.3, 0]), pastRows, pastFirst: window === null ? 0 : start - pastRows };
      const a = be.attention({ ...base, pastKeys: pk, pastValues: pv });
      const c = be.attention({ ...base, pastKeys: widen(pk), pastValues: widen(pv) });
      assert.deepEqual(a, c, `window ${window}`);
    }
  });

  test(`bf16 KV: prefix-cache hits give bitwise the output of the same engine without the cache; half the bytes; close to f32 (${b.name})`, { skip: b.skip }, async () => {
    const { model } = loadModel(dir, { backend: b.make() });
    const gen = { temperature: 0, maxTokens: 6, stopTokenIds: [], logprobs: 0 };
    const prompt = Array.from({ length: 45 }, (_, i) => (i * 31 + 7) % 75);
    const f32Run = await collect(new Scheduler(new Generator(model, null, 9)).submit(prompt, gen));
    model.kvDtype = 'bf16';
    const cache = new PrefixCache(model, { ramBytes: 1 << 28, pageSize: 8, checkpointEvery: 10 });
    const cached = new Scheduler(new Generator(model, null, 9, 256, cache));
    const plain = new Scheduler(new Generator(model, null, 9));
    for (const mtp of [0, 2]) {
      const first = await collect(cached.submit(prompt, { ...gen, mtp }));
      assert.deepEqual(first, await collect(plain.submit(prompt, { ...gen, mtp })), `mtp ${mtp} first turn`);
      const next = [...prompt.slice(0, 33), 1, 2, 3, 4];
      const a = await collect(cached.submit(next, { ...gen, mtp }));
      assert.deepEqual(a, await collect(plain.submit(next, { ...gen, mtp })), `mtp ${mtp} after a hit`);
    }
    assert.ok(cache.stats.hitTokens >= 30);
    const bf16Run = await collect(plain.submit(prompt, gen));
    assert.equal(bf16Run.ids[0], f32Run.ids[0], 'the first token agrees with f32');
    const diff = Math.abs(bf16Run.lps[0]! - f32Run.lps[0]!);
    assert.ok(diff > 0 && diff < 0.05, `the first token's log-probability is within 0.05 of f32 and not bitwise equal (the cache really is BF16): ${diff}`);
    const l32 = new LayerKVCache(2, 24, 16, null);
    const l16 = new LayerKVCache(2, 24, 16, null, 0, 'bf16');
    const k = new Float32Array(10 * 2 * 24).fill(1.5);
    const v = new Float32Array(10 * 2 * 16).fill(-2);
    l32.append(k, v, 10);
    l16.append(k, v, 10);
    assert.equal(l16.sizeBytes * 2, l32.sizeBytes);
    model.kvDtype = 'f32';
  });
}

async function collect(h: ReturnType<Scheduler['submit']>): Promise<{ ids: number[]; lps: number[] }> {
  const ids: number[] = [];
  const lps: number[] = [];
  for await (const c of h) {
    if (c.tokenId !== null) ids.push(c.tokenId);
    if (c.logprob) lps.push(c.logprob.logprob);
    if (c.finishReason) return { ids, lps };
  }
  throw new Error('no final chunk');
}

test('bf16 entries round-trip through the disk tier (restart) with bitwise the same output', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const { DiskTier, modelFingerprint } = await import('../../src/engine/prefix-cache/disk-tier.js');
  const { model } = loadModel(dir, { backend: referenceBackend });
  model.kvDtype = 'bf16';
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-bf16-disk-'));
  const mk = () => {
    const c = new PrefixCache(model, { ramBytes: 1 << 28, pageSize: 8, checkpointEvery: 0 });
    c.disk = new DiskTier(d, 1 << 28, modelFingerprint(dir), 'bf16', (m) => assert.fail(m));
    return { c, s: new Scheduler(new Generator(model, null, 9, 256, c)) };
  };
  const gen = { temperature: 0, maxTokens: 4, stopTokenIds: [], logprobs: 0 };
  const prompt = Array.from({ length: 29 }, (_, i) => (i * 13 + 2) % 70);
  const a = mk();
  await collect(a.s.submit(prompt, gen));
  a.c.flushToDisk();
  const b = mk();
  const next = [...prompt, 5, 6];
  const got = await collect(b.s.submit(next, gen));
  assert.equal(b.c.stats.diskReads, 1);
  assert.deepEqual(got, await collect(new Scheduler(new Generator(model, null, 9)).submit(next, gen)));
});
