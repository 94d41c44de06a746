/**
 * API gaps a new user hit (issue 14), against a real `mimo serve` on the tiny checkpoint: `/v1/messages/count_tokens`
 * equals the same request's `usage.input_tokens`; completions with a batch of prompts, `echo` (with the prompt's
 * log-probabilities), `top_logprobs` holding the sampled token; chat `continue_final_message` /
 * `add_generation_prompt: false`; invalid UTF-8 bodies are a 400 naming the byte offset; the 413 names the limit and
 * `--max-body`; the busy message's plurals.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { GenerateOptions } from '../../src/engine/sequence.js';
import type { Scheduler } from '../../src/engine/scheduler.js';
import { firstInvalidUtf8 } from '../../src/server/body.js';
import { startServer, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestServer;
let client: OpenAI;
before(async () => {
  s = await startServer({ backend: 'ts', maxBatch: 4 });
  client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(() => s.close());

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : body instanceof Uint8Array ? new Uint8Array(body) as unknown as BodyInit : JSON.stringify(body) });

/** Record the prompts the scheduler is given (decoded), running them normally. */
function recordPrompts(sched: Scheduler): { prompts: string[]; restore(): void } {
  const original = sched.submit.bind(sched);
  const prompts: string[] = [];
  const tok = s.server.engine.tokenizer!;
  sched.submit = ((ids: number[], opts?: GenerateOptions) => {
    prompts.push(tok.decode(ids));
    return original(ids, opts);
  }) as typeof sched.submit;
  return { prompts, restore: () => void (sched.submit = original) };
}

describe('POST /v1/messages/count_tokens', () => {
  const cases: Array<[string, Json]> = [
    ['one user message', { messages: [{ role: 'user', content: 'Why is the sky blue?' }] }],
    ['system, tools, thinking off', { system: 'Be brief.', thinking: { type: 'disabled' }, tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }], messages: [{ role: 'user', content: 'Weather in Oslo?' }] }],
    ['a tool history and a prefill', { messages: [{ role: 'user', content: 'Q' }, { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'f', input: { a: 1 } }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: '42' }] }, { role: 'assistant', content: 'The answer is' }] }],
  ];
  for (const [name, req] of cases) {
    it(`equals the Messages request's input_tokens: ${name}`, async () => {
      const counted = await post('/v1/messages/count_tokens', { model: 'tiny', ...req });
      assert.equal(counted.status, 200, await counted.clone().text());
      const { input_tokens } = (await counted.json()) as Json;
      const msg = (await (await post('/v1/messages', { model: 'tiny', max_tokens: 1, temperature: 0, ...req })).json()) as Json;
      // No prefix cache here: input_tokens is the whole prompt (with one, cache_read + cache_creation add up to it).
      const used = msg.usage.input_tokens + (msg.usage.cache_read_input_tokens ?? 0) + (msg.usage.cache_creation_input_tokens ?? 0);
      assert.ok(input_tokens > 0);
      assert.equal(input_tokens, used);
    });
  }

  it('answers errors in the Anthropic shape', async () => {
    const r = await post('/v1/messages/count_tokens', { model: 'nope', messages: [{ role: 'user', content: 'x' }] });
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as Json).type, 'error');
    const bad = await post('/v1/messages/count_tokens', { model: 'tiny', messages: [] });
    assert.equal(bad.status, 400);
  });
});

describe('completions', () => {
  it('a batch of prompts: one choice per prompt (× n), indices p·n + i, usage over all prompts', async () => {
    const tok = s.server.engine.tokenizer!;
    const prompts = ['The sky is', 'Once upon a time'];
    const r = (await client.completions.create({ model: 'tiny', prompt: prompts, max_tokens: 3, temperature: 0, n: 2 })) as unknown as Json;
    assert.equal(r.choices.length, 4);
    assert.deepEqual(r.choices.map((c: Json) => c.index), [0, 1, 2, 3]);
    for (let p = 0; p < 2; p++) {
      const alone = await client.completions.create({ model: 'tiny', prompt: prompts[p]!, max_tokens: 3, temperature: 0 });
      assert.equal(r.choices[2 * p].text, alone.choices[0]!.text, `prompt ${p} gives the text it gives alone`);
      assert.equal(r.choices[2 * p + 1].text, alone.choices[0]!.text, 'greedy: both choices of a prompt agree');
    }
    assert.equal(r.usage.prompt_tokens, tok.encode(prompts[0]!).length + tok.encode(prompts[1]!).length);
    assert.equal(r.usage.completion_tokens, 12);
    // Token-id prompts batch too; streaming carries each choice's index.
    const ids = [tok.encode('a b c'), tok.encode('x y')];
    const stream = await client.completions.create({ model: 'tiny', prompt: ids as unknown as number[][], max_tokens: 2, temperature: 0, stream: true });
    const texts = ['', ''];
    for await (const chunk of stream) for (const c of chunk.choices) texts[c.index] += c.text;
    const one = await client.completions.create({ model: 'tiny', prompt: ids[1]!, max_tokens: 2, temperature: 0 });
    assert.equal(texts[1], one.choices[0]!.text);
    const empty = await post('/v1/completions', { model: 'tiny', prompt: ['ok', ''] });
    assert.equal(empty.status, 400);
    assert.equal(((await empty.json()) as Json).error.param, 'prompt.1');
  });

  it('top_logprobs holds the sampled token: up to logprobs + 1 entries', async () => {
    const r = (await client.completions.create({ model: 'tiny', prompt: 'The sky is', max_tokens: 8, temperature: 1.5, seed: 3, logprobs: 2 })) as unknown as Json;
    const lp = r.choices[0].logprobs;
    assert.equal(lp.tokens.length, 8);
    let beyondTop = 0;
    lp.tokens.forEach((t: string, i: number) => {
      const top = lp.top_logprobs[i] as Record<string, number>;
      assert.ok(Object.hasOwn(top, t), `token ${i} (${JSON.stringify(t)}) is in its top_logprobs`);
      assert.equal(top[t], lp.token_logprobs[i]);
      const n = Object.keys(top).length;
      assert.ok(n >= 2 && n <= 3, `2 or 3 entries, got ${n}`);
      if (n === 3) beyondTop++;
    });
    assert.ok(beyondTop > 0, 'at temperature 1.5 some sampled token lies outside the top 2 (its entry is the +1)');
  });

  it('echo: the prompt before the completion, with the prompt tokens\' log-probabilities', async () => {
    const tok = s.server.engine.tokenizer!;
    const prompt = 'The sky is blue because';
    const ids = tok.encode(prompt);
    const r = (await client.completions.create({ model: 'tiny', prompt, max_tokens: 3, temperature: 0, echo: true, logprobs: 1 })) as unknown as Json;
    const plain = await client.completions.create({ model: 'tiny', prompt, max_tokens: 3, temperature: 0 });
    const c = r.choices[0];
    assert.equal(c.text, prompt + plain.choices[0]!.text);
    const lp = c.logprobs;
    assert.equal(lp.tokens.length, ids.length + 3);
    assert.equal(lp.token_logprobs[0], null, 'the first prompt token has no context');
    assert.equal(lp.top_logprobs[0], null);
    assert.equal(lp.tokens.slice(0, ids.length).join(''), prompt);
    assert.equal(lp.text_offset[ids.length], prompt.length, 'completion offsets continue after the prompt');
    // A prompt token's log-probability is what generation gave that token: score prompt + a sampled continuation.
    const gen: Array<{ id: number; logprob: number }> = [];
    for await (const chunk of s.server.engine.generator.stream(ids, { maxTokens: 4, temperature: 1, seed: 5, logprobs: 0 })) {
      if (chunk.logprob) gen.push({ id: chunk.logprob.tokenId, logprob: chunk.logprob.logprob });
    }
    const joined = [...ids, ...gen.map((g) => g.id)];
    const rescored = (await (await post('/v1/completions', { model: 'tiny', prompt: joined, max_tokens: 0, echo: true, logprobs: 0 })).json()) as Json;
    gen.forEach((g, j) => {
      const got = rescored.choices[0].logprobs.token_logprobs[ids.length + j];
      assert.ok(Math.abs(got - g.logprob) < 1e-4, `token ${ids.length + j}: echo gives ${got}, generation gave ${g.logprob}`);
    });
    // max_tokens 0 with echo scores the prompt only.
    const scored = (await (await post('/v1/completions', { model: 'tiny', prompt, max_tokens: 0, echo: true, logprobs: 0 })).json()) as Json;
    assert.equal(scored.choices[0].text, prompt);
    assert.deepEqual(scored.choices[0].logprobs.token_logprobs, lp.token_logprobs.slice(0, ids.length));
    assert.equal(scored.usage.completion_tokens, 0);
    const noEcho = await post('/v1/completions', { model: 'tiny', prompt, max_tokens: 0 });
    assert.equal(noEcho.status, 400);
    // Streaming echo sends the prompt first.
    const stream = await client.completions.create({ model: 'tiny', prompt, max_tokens: 3, temperature: 0, echo: true, stream: true });
    let text = '';
    for await (const chunk of stream) text += chunk.choices[0]?.text ?? '';
    assert.equal(text, c.text);
  });
});

describe('chat continue_final_message / add_generation_prompt', () => {
  it('continues a final assistant message; add_generation_prompt false renders no new turn', async () => {
    const sched = s.server.context.local('tiny').scheduler;
    const rec = recordPrompts(sched);
    try {
      const messages = [{ role: 'user', content: 'Why is the sky blue?' }, { role: 'assistant', content: 'The sky is' }];
      for (const extra of [{ continue_final_message: true }, { continue_final_message: true, add_generation_prompt: false }, { add_generation_prompt: false }]) {
        const r = await post('/v1/chat/completions', { model: 'tiny', messages, max_tokens: 2, temperature: 0, ...extra });
        assert.equal(r.status, 200, await r.clone().text());
        const prompt = rec.prompts.at(-1)!;
        assert.ok(prompt.endsWith('Why is the sky blue?<|im_end|><|im_start|>assistant\n<think></think>The sky is'), prompt.slice(-100));
        assert.equal(prompt.split('<|im_start|>assistant').length, 2, 'one assistant turn: the continued one');
      }
      // Without either switch a final assistant message is a finished turn and a new one starts.
      await post('/v1/chat/completions', { model: 'tiny', messages, max_tokens: 2, temperature: 0 });
      assert.equal(rec.prompts.at(-1)!.split('<|im_start|>assistant').length, 3);
      // add_generation_prompt false after a user message: no assistant turn is opened.
      await post('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'Hi' }], max_tokens: 2, temperature: 0, add_generation_prompt: false });
      assert.ok(rec.prompts.at(-1)!.endsWith('Hi<|im_end|>'), JSON.stringify(rec.prompts.at(-1)!.slice(-40)));
    } finally {
      rec.restore();
    }
    const both = await post('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'Q' }, { role: 'assistant', content: 'A' }], continue_final_message: true, add_generation_prompt: true });
    assert.equal(both.status, 400);
    assert.equal(((await both.json()) as Json).error.param, 'continue_final_message');
    const notAssistant = await post('/v1/chat/completions', { model: 'tiny', messages: [{ role: 'user', content: 'Q' }], continue_final_message: true });
    assert.equal(notAssistant.status, 400);
    assert.match(((await notAssistant.json()) as Json).error.message, /final message must be the assistant's/);
  });
});

describe('request bodies', () => {
  it('invalid UTF-8 is a 400 naming the byte offset; valid multi-byte text passes', async () => {
    const head = Buffer.from('{"model": "tiny", "prompt": "caf');
    const body = Buffer.concat([head, Buffer.from([0xc3, 0x28]), Buffer.from('", "max_tokens": 1}')]);
    const r = await post('/v1/completions', body);
    assert.equal(r.status, 400);
    const e = ((await r.json()) as Json).error;
    assert.equal(e.code, 'invalid_utf8');
    assert.match(e.message, new RegExp(`byte offset ${head.length}\\b`));
    const anthropic = await post('/v1/messages', body);
    assert.equal(((await anthropic.json()) as Json).type, 'error');
    const ok = await post('/v1/completions', Buffer.from(JSON.stringify({ model: 'tiny', prompt: '天空是蓝色的 café 🌍', max_tokens: 1 })));
    assert.equal(ok.status, 200);
  });

  it('finds the first ill-formed sequence', () => {
    const at = (...bytes: number[]) => firstInvalidUtf8(Uint8Array.from(bytes));
    assert.equal(at(0x61, 0x62), -1);
    assert.equal(at(0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x8c, 0x8d), -1);
    assert.equal(at(0x61, 0x80), 1, 'stray continuation byte');
    assert.equal(at(0x61, 0xe2, 0x82), 1, 'truncated sequence');
    assert.equal(at(0xc0, 0xaf), 0, 'overlong');
    assert.equal(at(0x61, 0xed, 0xa0, 0x80), 1, 'surrogate');
    assert.equal(at(0xf4, 0x90, 0x80, 0x80), 0, 'past U+10FFFF');
  });

  it('413 names the limit and --max-body', async () => {
    const t = await startServer({ backend: 'ts', maxBody: 2 * 1024 * 1024 });
    try {
      const r = await fetch(`${t.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', prompt: 'x'.repeat(3 * 1024 * 1024) }) });
      assert.equal(r.status, 413);
      const e = ((await r.json()) as Json).error;
      assert.match(e.message, /at most 2 MiB \(2097152 bytes\); start mimo serve with a larger --max-body/);
    } finally {
      await t.close();
    }
  });

  it('the busy message counts in the right number', async () => {
    const t = await startServer({ backend: 'ts', maxBatch: 1, maxQueue: 0 });
    try {
      const busy = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
      const stream = await busy.completions.create({ model: 'tiny', prompt: 'long', max_tokens: 200, stream: true });
      const it = stream[Symbol.asyncIterator]();
      await it.next();
      const r = await fetch(`${t.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', prompt: 'x', max_tokens: 1 }) });
      assert.equal(r.status, 429);
      assert.match(((await r.json()) as Json).error.message, /1 sequence running and 0 queued/);
      stream.controller.abort();
    } finally {
      await t.close();
    }
  });
});
