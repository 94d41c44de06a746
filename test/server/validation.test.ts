/**
 * Request validation messages over HTTP (schemas.ts parseBody): every 400 names the parameter (in `param` and at
 * the start of the message) and the rule it broke — unions say which forms they accept, limits are stated — on
 * chat completions, completions and messages. Also the client extras chat completions accept and ignore
 * (`reasoning_effort`, `verbosity`, `prompt_cache_key`, `modalities: ['text']`, `include_reasoning`,
 * `skip_special_tokens`, `spaces_between_special_tokens`), vLLM's `ignore_eos` (no stop tokens), completions-only
 * parameters refused on chat with a message saying so, `<tool_call>` text left as content when a chat request
 * offers no tools, and the server serving after all of it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { GenerateOptions, StreamChunk } from '../../src/engine/sequence.js';
import type { RequestHandle } from '../../src/engine/scheduler.js';
import { startServer, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>;

let srv: TestServer;
before(async () => {
  srv = await startServer({ backend: 'ts', maxBatch: 4 });
});
after(async () => {
  await srv?.close();
});

const post = (route: string, body: unknown) => fetch(`${srv.url}${route}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
const chat = (extra: Json = {}) => ({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2, temperature: 0, ...extra });
const completion = (extra: Json = {}) => ({ model: 'tiny', prompt: 'Once', max_tokens: 2, temperature: 0, ...extra });
const message = (extra: Json = {}) => ({ model: 'tiny', max_tokens: 2, temperature: 0, messages: [{ role: 'user', content: 'hi' }], ...extra });

/** POST, expect a 400 whose param is `param` and whose message starts with `param: ` and contains each of `says`. */
async function refused(route: string, body: unknown, param: string, ...says: string[]): Promise<string> {
  const res = await post(route, body);
  const json = (await res.json()) as Json;
  assert.equal(res.status, 400, JSON.stringify(json));
  // OpenAI shape {error: {message, param}}; Anthropic {type: 'error', error: {type, message}}.
  const text: string = json.error.message;
  if (route === '/v1/messages') assert.deepEqual([json.type, json.error.type], ['error', 'invalid_request_error']);
  else assert.equal(json.error.param, param, text);
  assert.ok(text.startsWith(`${param}: `), `${JSON.stringify(text)} starts with ${param}: `);
  assert.doesNotMatch(text, /Invalid input|Too big|Too small/, 'not zod\'s default wording');
  for (const s of says) assert.ok(text.includes(s), `${JSON.stringify(text)} says ${JSON.stringify(s)}`);
  return text;
}

describe('unions say which forms they accept', () => {
  test('stop', async () => {
    await refused('/v1/chat/completions', chat({ stop: 5 }), 'stop', 'expected a string or an array of at most 16 strings', '(got 5)');
    await refused('/v1/chat/completions', chat({ stop: ['a', 5] }), 'stop', 'expected a string or an array of at most 16 strings', 'stop.1: expected a string, got a number');
    await refused('/v1/completions', completion({ stop: Array(17).fill('x') }), 'stop', 'at most 16 strings');
  });

  test('tool_choice', async () => {
    const want = 'expected "none", "auto", "required" or {"type":"function","function":{"name":…}}';
    await refused('/v1/chat/completions', chat({ tool_choice: 'sometimes' }), 'tool_choice', want, '(got "sometimes")');
    await refused('/v1/chat/completions', chat({ tool_choice: { type: 'function', function: {} } }), 'tool_choice', want, 'tool_choice.function.name: is required');
  });

  test('messages.N.content', async () => {
    const want = 'messages.0.content: expected a string or an array of {"type":"text","text":…} parts (images and audio are not supported)';
    await refused('/v1/chat/completions', chat({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:' } }] }] }), 'messages.0.content', want, 'messages.0.content.0.type: must be "text"');
    await refused('/v1/chat/completions', chat({ messages: [{ role: 'user', content: 7 }] }), 'messages.0.content', want);
  });

  test('prompt', async () => {
    const want = 'expected a string, a non-empty array of token ids (integers ≥ 0), or a non-empty array of strings or of token-id arrays (a batch)';
    await refused('/v1/completions', completion({ prompt: 5 }), 'prompt', want);
    await refused('/v1/completions', completion({ prompt: [] }), 'prompt', want);
    await refused('/v1/completions', completion({ prompt: [['a']] }), 'prompt', want);
  });

  test('Anthropic thinking, tool_choice, content and system', async () => {
    await refused('/v1/messages', message({ thinking: { type: 'sometimes' } }), 'thinking', 'expected {"type":"enabled","budget_tokens":…}, {"type":"adaptive"} or {"type":"disabled"}');
    await refused('/v1/messages', message({ tool_choice: { type: 'sometimes' } }), 'tool_choice', '{"type":"auto"}, {"type":"any"}, {"type":"none"} or {"type":"tool","name":…}');
    await refused('/v1/messages', message({ messages: [{ role: 'user', content: 5 }] }), 'messages.0.content', 'expected a string or an array of content blocks');
    await refused('/v1/messages', message({ system: 5 }), 'system', 'expected a string or an array of {"type":"text","text":…} blocks');
    await refused('/v1/messages', message({ messages: [{ role: 'user', content: [] }] }), 'messages.0.content', 'must not be an empty list');
  });
});

describe('limits and types are stated', () => {
  test('too_big / too_small name the limit', async () => {
    await refused('/v1/chat/completions', chat({ temperature: 5 }), 'temperature', 'must be at most 2', '(got 5)');
    await refused('/v1/chat/completions', chat({ top_p: 0 }), 'top_p', 'must be greater than 0');
    await refused('/v1/chat/completions', chat({ n: 17 }), 'n', 'must be at most 16');
    await refused('/v1/chat/completions', chat({ max_tokens: 0 }), 'max_tokens', 'must be at least 1');
    await refused('/v1/chat/completions', chat({ top_logprobs: 21, logprobs: true }), 'top_logprobs', 'must be at most 20');
    await refused('/v1/chat/completions', chat({ messages: [] }), 'messages', 'must not be empty (at least 1 item)');
    await refused('/v1/chat/completions', chat({ tools: [{ type: 'function', function: { name: 'f'.repeat(65) } }] }), 'tools.0.function.name', 'must be at most 64 characters long');
    await refused('/v1/messages', message({ temperature: 1.5 }), 'temperature', 'must be at most 1');
    await refused('/v1/messages', message({ stop_sequences: Array(17).fill('x') }), 'stop_sequences', 'must have at most 16 items');
  });

  test('types, required parameters and enums', async () => {
    await refused('/v1/chat/completions', chat({ temperature: 'hot' }), 'temperature', 'expected a number, got a string');
    await refused('/v1/chat/completions', chat({ max_tokens: 1.5 }), 'max_tokens', 'must be an integer, got 1.5');
    await refused('/v1/chat/completions', { model: 'tiny' }, 'messages', 'is required (expected an array)');
    await refused('/v1/messages', { model: 'tiny', messages: [{ role: 'user', content: 'x' }] }, 'max_tokens', 'is required (expected a number)');
    await refused('/v1/chat/completions', chat({ messages: [{ role: 'wizard', content: 'x' }] }), 'messages.0.role', 'must be one of "system", "developer", "user", "assistant", "tool"');
  });
});

describe('chat completions: parameters of other endpoints, and client extras', () => {
  test('echo and best_of are refused as completions-only; unknown parameters still are refused', async () => {
    await refused('/v1/chat/completions', chat({ echo: true }), 'echo', 'completions-only', '/v1/completions');
    await refused('/v1/chat/completions', chat({ best_of: 2 }), 'best_of', 'completions-only');
    await refused('/v1/chat/completions', chat({ bogus: 1 }), 'bogus', "unknown parameter 'bogus'");
  });

  test('modalities may only ask for text', async () => {
    await refused('/v1/chat/completions', chat({ modalities: ['text', 'audio'] }), 'modalities', 'only ["text"] is supported');
  });

  test('reasoning_effort, verbosity, prompt_cache_key, modalities, include_reasoning and the detokenizer switches are accepted', async () => {
    const extras = { reasoning_effort: 'low', verbosity: 'low', prompt_cache_key: 'session-1', modalities: ['text'], include_reasoning: false, skip_special_tokens: true, spaces_between_special_tokens: false };
    const res = await post('/v1/chat/completions', chat(extras));
    assert.equal(res.status, 200, await res.clone().text());
    const plain = (await (await post('/v1/chat/completions', chat())).json()) as Json;
    assert.deepEqual(((await res.json()) as Json).choices[0].message, plain.choices[0].message, 'they change nothing (greedy)');
  });

  test('ignore_eos: generation runs without stop tokens, on chat and completions', async () => {
    const sched = srv.server.context.local('tiny').scheduler;
    const original = sched.submit.bind(sched);
    const seen: GenerateOptions[] = [];
    sched.submit = ((ids: number[], opts: GenerateOptions = {}) => {
      seen.push(opts);
      return original(ids, opts);
    }) as typeof sched.submit;
    try {
      for (const [route, body] of [['/v1/chat/completions', chat({ ignore_eos: true, max_tokens: 3 })], ['/v1/completions', completion({ ignore_eos: true, max_tokens: 3 })]] as const) {
        const res = await post(route, body);
        assert.equal(res.status, 200, await res.clone().text());
        assert.deepEqual(seen.at(-1)!.stopTokenIds, [], route);
        assert.equal(((await res.json()) as Json).usage.completion_tokens, 3);
      }
      await post('/v1/chat/completions', chat({ ignore_eos: false }));
      assert.equal(seen.at(-1)!.stopTokenIds, undefined, 'false: the default stop tokens');
    } finally {
      sched.submit = original;
    }
  });

  test('<tool_call> text is content when the request offers no tools or sets tool_choice "none"', async () => {
    const text = 'Sure.\n<tool_call>\n<function=get_weather>\n<parameter=city>Oslo</parameter>\n</function>\n</tool_call>';
    const sched = srv.server.context.local('tiny').scheduler;
    const original = sched.submit.bind(sched);
    sched.submit = ((promptIds: number[]) => {
      const pieces = text.match(/[\s\S]{1,3}/g) ?? [];
      const stats = { promptTokens: promptIds.length, generatedTokens: pieces.length, ttftSeconds: 0, prefillTokensPerSecond: 0, decodeSeconds: 0, decodeTokensPerSecond: 0, peakRssBytes: 0, decodeSteps: pieces.length, draftsProposed: 0, draftsAccepted: 0, acceptanceLength: 1 };
      const chunks: StreamChunk[] = [...pieces.map((p, i) => ({ tokenId: i, text: p })), { tokenId: null, text: '', finishReason: 'stop', stats }];
      return { finalChunk: chunks.at(-1), cancel() {}, async *[Symbol.asyncIterator]() { yield* chunks; } } as unknown as RequestHandle;
    }) as typeof sched.submit;
    try {
      const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
      const ask = async (extra: Json) => ((await (await post('/v1/chat/completions', chat({ chat_template_kwargs: { enable_thinking: false }, ...extra }))).json()) as Json).choices[0];
      for (const extra of [{}, { tools, tool_choice: 'none' }]) {
        const c = await ask(extra);
        assert.equal(c.message.content, text, JSON.stringify(extra));
        assert.equal(c.message.tool_calls, undefined);
        assert.equal(c.finish_reason, 'stop');
      }
      const c = await ask({ tools });
      assert.equal(c.message.content, 'Sure.');
      assert.deepEqual(JSON.parse(c.message.tool_calls[0].function.arguments), { city: 'Oslo' });
      assert.equal(c.finish_reason, 'tool_calls');
    } finally {
      sched.submit = original;
    }
  });

  test('the server keeps serving after all of the above', async () => {
    for (const [route, body] of [['/v1/chat/completions', chat()], ['/v1/completions', completion()], ['/v1/messages', message()]] as const) {
      const res = await post(route, body);
      assert.equal(res.status, 200, `${route}: ${await res.clone().text()}`);
    }
    const state = srv.server.context.local('tiny').scheduler.state;
    assert.deepEqual([state.active, state.queued], [0, 0]);
  });
});
