/**
 * Continuous batching: concurrent greedy requests give exactly the tokens (and log-probabilities, i.e. the same
 * logits bits) each gives alone, on every golden case and both backends, with chunked prefill interleaved with
 * decode and with MTP; the golden prompt gives the golden greedy ids; queue bound, cancellation, bad requests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { loadModel } from '../../src/model/load.js';
import { Generator } from '../../src/engine/generate.js';
import { Scheduler, type RequestHandle } from '../../src/engine/scheduler.js';
import { QueueFullError, RequestError } from '../../src/errors.js';
import { referenceBackend } from '../../src/kernels/reference/ops.js';
import { createNativeBackend } from '../../src/kernels/native/backend.js';
import type { Backend } from '../../src/kernels/backend.js';
import { discoverCases, readGolden } from '../helpers/fixtures.js';
import { nativeSkip } from '../helpers/native.js';

const cases = discoverCases();

async function collect(h: RequestHandle): Promise<{ ids: number[]; logprobs: number[]; finish: string }> {
  const ids: number[] = [];
  const logprobs: number[] = [];
  for await (const c of h) {
    if (c.tokenId !== null) {
      ids.push(c.tokenId);
      if (c.logprob) logprobs.push(c.logprob.logprob);
    }
    if (c.finishReason) return { ids, logprobs, finish: c.finishReason };
  }
  throw new Error('stream ended without a final chunk');
}

const backendsToTest: Array<{ name: string; make: () => Backend; skip: string | false }> = [
  { name: 'ts', make: () => referenceBackend, skip: false },
  { name: 'native', make: () => createNativeBackend(), skip: nativeSkip },
];

test('fixtures are present', () => assert.ok(cases.length > 0, 'no golden cases found'));

for (const dir of cases) for (const b of backendsToTest) {
  test(`8 concurrent greedy requests equal each alone: ${path.basename(dir)} (${b.name})`, { skip: b.skip }, async () => {
    const g = readGolden(dir);
    const { model } = loadModel(dir, { backend: b.make() });
    const ids = Array.from(g.tensors.get('input_ids')!.data);
    const P = g.tensors.get('prefix_len')!.data[0]!;
    const want = Array.from(g.tensors.get('greedy_ids')!.data);
    // The golden prompt and 7 others cut from the case's ids, of lengths 1 … T (several longer than a prefill chunk).
    const prompts = [ids.slice(0, P), ...Array.from({ length: 7 }, (_, i) => ids.slice(i, Math.min(ids.length, i + 1 + ((i * 5) % ids.length))))];
    for (const mtp of [0, Math.min(2, model.numMtpLayers)]) {
      const opts = { temperature: 0, maxTokens: want.length, stopTokenIds: [], logprobs: 0, mtp };
      const alone: Array<Awaited<ReturnType<typeof collect>>> = [];
      for (const p of prompts) {
        const s = new Scheduler(new Generator(model, null, 4), { maxBatch: 1 });
        alone.push(await collect(s.submit(p, opts)));
      }
      assert.deepEqual(alone[0]!.ids, want, `golden prompt alone, mtp ${mtp}`);
      const s = new Scheduler(new Generator(model, null, 4), { maxBatch: 8 });
      const batch = await Promise.all(prompts.map((p) => collect(s.submit(p, opts))));
      batch.forEach((r, i) => {
        assert.deepEqual(r.ids, alone[i]!.ids, `prompt ${i} ids, mtp ${mtp}`);
        assert.deepEqual(r.logprobs, alone[i]!.logprobs, `prompt ${i} logprobs (bitwise), mtp ${mtp}`);
      });
      assert.ok(s.state.steps < prompts.length * want.length, `the batch shared steps (${s.state.steps})`);
    }
  });
}

test('queue bound, cancellation and bad requests', { skip: cases.length === 0 }, async () => {
  const { model } = loadModel(cases[0]!, { backend: referenceBackend });
  const s = new Scheduler(new Generator(model, null, 4), { maxBatch: 1, maxQueue: 1 });
  const opts = { temperature: 0, maxTokens: 1000, stopTokenIds: [] };
  const a = s.submit([1, 2, 3], opts);
  const b = s.submit([1, 2, 3], opts);
  assert.throws(() => s.submit([1, 2, 3], opts), QueueFullError);
  assert.throws(() => s.submit([1, 2, 3], { maxTokens: 0 }), (e: unknown) => e instanceof RequestError && e.param === 'max_tokens');
  assert.throws(() => s.submit([], {}), (e: unknown) => e instanceof RequestError && e.param === 'prompt');
  b.cancel();
  const rb = await collect(b);
  assert.equal(rb.finish, 'abort');
  assert.equal(rb.ids.length, 0, 'a queued request cancelled before it ran produced nothing');
  // Cancel the running one after its third token (not after a timer: the outcome must not depend on speed).
  const ids: number[] = [];
  let finish = '';
  for await (const c of a) {
    if (c.tokenId !== null && ids.push(c.tokenId) === 3) a.cancel();
    if (c.finishReason) finish = c.finishReason;
  }
  assert.equal(finish, 'abort');
  assert.equal(ids.length, 3);
  await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual({ queued: s.state.queued, active: s.state.active, kv: s.state.kvCacheBytes }, { queued: 0, active: 0, kv: 0 }, 'cancelled sequences are freed');
  // Still serving after all that.
  const ok = await collect(s.submit([1, 2, 3], { ...opts, maxTokens: 3 }));
  assert.equal(ok.ids.length, 3);
});

test('a long prompt is prefilled in chunks while a running stream keeps getting tokens', { skip: cases.length === 0 }, async () => {
  const { model } = loadModel(cases[0]!, { backend: referenceBackend });
  const s = new Scheduler(new Generator(model, null, 4), { maxBatch: 4 });
  const opts = { temperature: 0, stopTokenIds: [] };
  const a = s.submit([1, 2, 3], { ...opts, maxTokens: 60 });
  const seen: number[] = [];
  const aDone = (async () => {
    for await (const c of a) if (c.tokenId !== null) seen.push(performance.now());
  })();
  while (seen.length < 2) await new Promise((r) => setImmediate(r));
  const long = Array.from({ length: 40 }, (_, i) => (i * 7) % 50);
  const tSubmit = performance.now();
  let tFirstB = 0;
  for await (const c of s.submit(long, { ...opts, maxTokens: 1 })) {
    if (c.tokenId !== null && tFirstB === 0) tFirstB = performance.now();
  }
  await aDone;
  // 40 prompt tokens in chunks of 4 take 10 steps; A decodes in each of them.
  const during = seen.filter((t) => t > tSubmit && t < tFirstB).length;
  assert.ok(during >= 8, `only ${during} tokens of the running stream arrived while the long prompt was prefilled`);
});

test('a short prompt that arrives after a long one is not starved by its prefill', { skip: cases.length === 0 }, async () => {
  const { model } = loadModel(cases[0]!, { backend: referenceBackend });
  const s = new Scheduler(new Generator(model, null, 4), { maxBatch: 4 });
  const opts = { temperature: 0, stopTokenIds: [], maxTokens: 1 };
  const order: string[] = [];
  const run = async (name: string, ids: number[]) => {
    for await (const c of s.submit(ids, opts)) if (c.tokenId !== null) order.push(name);
  };
  // 40 prompt tokens take 10 chunks of 4; the 3-token prompt needs one chunk and gets its turn right away.
  await Promise.all([run('long', Array.from({ length: 40 }, (_, i) => (i * 7) % 50)), run('short', [1, 2, 3])]);
  assert.deepEqual(order, ['short', 'long']);
});
