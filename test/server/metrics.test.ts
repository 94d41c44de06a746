/**
 * /metrics and the expert trace are real: token counters grow by exactly the tokens served, and the experts a
 * streamed token reports equal the router's selections recomputed independently (full-sequence forward with a
 * router-logits trace, then routeToken) for the same request.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { routeToken, routerParams } from '../../src/model/mimo-v2/moe.js';
import { startServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
let client: OpenAI;

before(async () => {
  s = await startServer({ backend: 'ts' });
  client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(() => s.close());

async function counter(name: string): Promise<number> {
  const text = await (await fetch(`${s.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('model="tiny"'));
  return line ? Number(line.split(' ').pop()) : 0;
}

test('/metrics token counters grow by exactly the tokens served', async () => {
  const gen0 = await counter('mimo_generation_tokens_total');
  const prompt0 = await counter('mimo_prompt_tokens_total');
  let served = 0;
  let prompted = 0;
  const a = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'one' }], max_tokens: 5, n: 2 });
  served += a.usage!.completion_tokens;
  prompted += a.usage!.prompt_tokens * 2;
  const stream = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'two' }], max_tokens: 7, stream: true, stream_options: { include_usage: true } });
  for await (const c of stream) {
    if (c.usage) {
      served += c.usage.completion_tokens;
      prompted += c.usage.prompt_tokens;
    }
  }
  const b = await client.completions.create({ model: 'tiny', prompt: 'three', max_tokens: 3 });
  served += b.usage!.completion_tokens;
  prompted += b.usage!.prompt_tokens;
  assert.equal(served, 5 * 2 + 7 + 3);
  assert.equal((await counter('mimo_generation_tokens_total')) - gen0, served);
  assert.equal((await counter('mimo_prompt_tokens_total')) - prompt0, prompted);
  const text = await (await fetch(`${s.url}/metrics`)).text();
  for (const name of ['mimo_requests_total', 'mimo_time_to_first_token_seconds_bucket', 'mimo_inter_token_latency_seconds_bucket', 'mimo_num_requests_waiting', 'mimo_num_requests_running', 'mimo_kv_cache_bytes', 'mimo_spec_decode_acceptance_length']) {
    assert.ok(text.includes(name), `metrics lack ${name}`);
  }
  assert.match(text, /mimo_requests_total\{endpoint="\/v1\/chat\/completions",status="200"\} [1-9]/);
});

test('expert trace equals the router selections recomputed for the same request', async () => {
  const messages = [{ role: 'user' as const, content: 'route me' }];
  const res = await fetch(`${s.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'tiny', messages, max_tokens: 6, temperature: 0, stream: true, mimo_expert_trace: true }),
  });
  const tokens: Array<{ id: number; experts: number[][] }> = [];
  for (const line of (await res.text()).split('\n')) {
    if (!line.startsWith('data: {')) continue;
    const chunk = JSON.parse(line.slice(6));
    if (chunk.mimo?.token) tokens.push(chunk.mimo.token);
  }
  assert.equal(tokens.length, 6);
  const engine = s.server.engine;
  const model = engine.model;
  const cfg = engine.config;
  const promptIds = engine.encode({ messages });
  const ids = [...promptIds, ...tokens.slice(0, -1).map((t) => t.id)];
  const routerLogits = new Map<number, Float32Array>();
  model.forward(ids, model.newCache(), (name, layer, data) => {
    if (name === 'router_logits') routerLogits.set(layer, data.slice());
  });
  const moeLayers = cfg.layers.filter((l) => l.ffn === 'moe').map((l) => l.index);
  const E = cfg.nRoutedExperts;
  const params = routerParams(cfg);
  tokens.forEach((tok, j) => {
    const row = promptIds.length - 1 + j;
    moeLayers.forEach((layer, m) => {
      const w = model.weights.layers[layer]!.mlp;
      assert.ok(w.kind === 'moe');
      const want = routeToken(routerLogits.get(layer)!.subarray(row * E, (row + 1) * E), w.moe.bias, params).experts;
      assert.deepEqual(tok.experts[m], want, `token ${j}, layer ${layer}`);
    });
  });
});
