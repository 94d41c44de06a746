/**
 * Generation on a fixture checkpoint (token ids, no tokenizer): greedy equals the golden continuation, same seed
 * gives the same tokens, stream = one-shot, max tokens, stop token ids, abort, invalid options rejected early.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Generator } from '../../src/engine/generate.js';
import { RequestError } from '../../src/errors.js';
import { loadModel } from '../../src/model/load.js';
import { discoverCases, readGolden } from '../helpers/fixtures.js';

const dir = discoverCases()[0]!;
const g = readGolden(dir);
const { model } = loadModel(dir);
const gen = new Generator(model, null);
const ids = Array.from(g.tensors.get('input_ids')!.data);
const P = g.tensors.get('prefix_len')!.data[0]!;
const greedy = Array.from(g.tensors.get('greedy_ids')!.data);

test('greedy generation reproduces greedy_ids', async () => {
  const r = await gen.generate(ids.slice(0, P), { temperature: 0, maxTokens: greedy.length });
  assert.deepEqual(r.tokenIds, greedy);
  assert.equal(r.finishReason, 'length');
  assert.equal(r.stats.promptTokens, P);
  assert.equal(r.stats.generatedTokens, greedy.length);
  assert.ok(r.stats.peakRssBytes > 0);
});

test('same seed, same tokens; different seed, different tokens; stream = one-shot', async () => {
  const opts = { temperature: 1.5, maxTokens: 24, seed: 7 };
  const a = await gen.generate(ids.slice(0, 4), opts);
  const b = await gen.generate(ids.slice(0, 4), opts);
  assert.deepEqual(a.tokenIds, b.tokenIds);
  const c = await gen.generate(ids.slice(0, 4), { ...opts, seed: 8 });
  assert.notDeepEqual(a.tokenIds, c.tokenIds);
  const streamed: number[] = [];
  let last;
  for await (const chunk of gen.stream(ids.slice(0, 4), opts)) {
    if (chunk.tokenId !== null) streamed.push(chunk.tokenId);
    last = chunk;
  }
  assert.deepEqual(streamed, a.tokenIds);
  assert.equal(last?.finishReason, 'length');
});

test('a stop token id ends generation and is not returned', async () => {
  const stopAt = greedy[3]!;
  const firstIndex = greedy.indexOf(stopAt);
  const r = await gen.generate(ids.slice(0, P), { temperature: 0, maxTokens: greedy.length, stopTokenIds: [stopAt] });
  assert.equal(r.finishReason, 'stop');
  assert.deepEqual(r.tokenIds, greedy.slice(0, firstIndex));
});

test('abort signal stops between tokens', async () => {
  const ac = new AbortController();
  const got: number[] = [];
  let reason;
  for await (const chunk of gen.stream(ids.slice(0, P), { temperature: 0, maxTokens: 50 })) {
    if (chunk.tokenId !== null) got.push(chunk.tokenId);
    if (got.length === 2) ac.abort();
    reason = chunk.finishReason;
  }
  assert.ok(got.length >= 2);
  // stream ignores a signal it was not given; now with the signal:
  const ac2 = new AbortController();
  const got2: number[] = [];
  for await (const chunk of gen.stream(ids.slice(0, P), { temperature: 0, maxTokens: 50, signal: ac2.signal })) {
    if (chunk.tokenId !== null) got2.push(chunk.tokenId);
    if (got2.length === 2) ac2.abort();
    reason = chunk.finishReason;
  }
  assert.equal(got2.length, 2);
  assert.equal(reason, 'abort');
});

test('invalid options are rejected before any compute, naming the parameter', async () => {
  await assert.rejects(gen.generate(ids.slice(0, 3), { maxTokens: 0 }), (e) => e instanceof RequestError && /max_tokens/.test(e.message));
  await assert.rejects(gen.generate(ids.slice(0, 3), { topP: 1.5 }), (e) => e instanceof RequestError && /top_p/.test(e.message));
  await assert.rejects(gen.generate([], {}), (e) => e instanceof RequestError && /prompt/.test(e.message));
  await assert.rejects(gen.generate([1e9], { maxTokens: 1 }), (e) => e instanceof RequestError && /prompt_ids/.test(e.message));
  await assert.rejects(gen.generate([1.5], { maxTokens: 1 }), (e) => e instanceof RequestError && /prompt_ids/.test(e.message));
  await assert.rejects(gen.generate(ids.slice(0, 3), { temprature: 0.5 } as never), (e) => e instanceof RequestError && /temprature: unknown option/.test(e.message));
  await assert.rejects(gen.generate(ids.slice(0, 3), null as never), (e) => e instanceof RequestError && /options/.test(e.message));
  await assert.rejects(gen.generate(ids.slice(0, 3), { stopTokenIds: 'abc' } as never), (e) => e instanceof RequestError && /stop_token_ids/.test(e.message));
  await assert.rejects(gen.generate(ids.slice(0, 3), { mtp: 99 }), (e) => e instanceof RequestError && /mtp/.test(e.message));
  await assert.rejects(gen.generate(ids.slice(0, 3), { stop: ['x'] }), (e) => e instanceof RequestError && /stop/.test(e.message));
});
