/**
 * `mimo serve` through the official `openai` npm client: models, chat (non-streaming and streaming), usage,
 * reasoning fields, tools (scripted model output through the real parser and routes), logprobs, n, seed, stop,
 * completions, and errors (status and OpenAI shape) after which the server keeps serving.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import type { StreamChunk } from '../../src/engine/sequence.js';
import type { RequestHandle } from '../../src/engine/scheduler.js';
import { startServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
let client: OpenAI;

before(async () => {
  s = await startServer({ backend: 'ts', maxBatch: 4 });
  client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(() => s.close());

const user = (content: string) => [{ role: 'user' as const, content }];

test('GET /v1/models lists the served model', async () => {
  const models = await client.models.list();
  assert.deepEqual(models.data.map((m) => m.id), ['tiny']);
  assert.equal(models.data[0]!.object, 'model');
});

test('chat: non-streaming with usage, reasoning_content and content never null', async () => {
  const r = await client.chat.completions.create({ model: 'tiny', messages: user('hello'), max_tokens: 6, temperature: 0 });
  const c = r.choices[0]!;
  assert.equal(r.object, 'chat.completion');
  assert.equal(c.finish_reason, 'length');
  // Thinking is on by default, so random text stays inside the open <think>: content '' (not null).
  assert.equal(c.message.content, '');
  const reasoning = (c.message as unknown as { reasoning_content: string }).reasoning_content;
  assert.ok(typeof reasoning === 'string' && reasoning.length > 0);
  assert.equal(r.usage!.completion_tokens, 6);
  assert.equal(r.usage!.total_tokens, r.usage!.prompt_tokens + 6);
});

test('chat: streaming gives the same text as non-streaming (greedy), usage chunk, [DONE]', async () => {
  const args = { model: 'tiny', messages: user('tell me'), max_tokens: 8, temperature: 0 } as const;
  const whole = await client.chat.completions.create({ ...args, chat_template_kwargs: { enable_thinking: false } } as never);
  const stream = await client.chat.completions.create({ ...args, stream: true, stream_options: { include_usage: true }, chat_template_kwargs: { enable_thinking: false } } as never);
  let content = '';
  let finish: string | null = null;
  let usage: OpenAI.CompletionUsage | undefined;
  let first = true;
  for await (const chunk of stream as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>) {
    if (first) assert.equal(chunk.choices[0]!.delta.role, 'assistant');
    first = false;
    if (chunk.usage) usage = chunk.usage;
    for (const ch of chunk.choices) {
      content += ch.delta.content ?? '';
      finish = ch.finish_reason ?? finish;
    }
  }
  const w = (whole as unknown as OpenAI.ChatCompletion).choices[0]!;
  assert.equal(content, w.message.content);
  assert.equal(finish, w.finish_reason);
  assert.equal(usage?.completion_tokens, 8);
});

test('chat: n choices, seed reproducibility, logprobs', async () => {
  const args = { model: 'tiny', messages: user('x'), max_tokens: 5, temperature: 1, seed: 42, n: 2, logprobs: true, top_logprobs: 3 } as const;
  const a = await client.chat.completions.create(args);
  const b = await client.chat.completions.create(args);
  assert.equal(a.choices.length, 2);
  assert.deepEqual(a.choices.map((c) => c.message), b.choices.map((c) => c.message), 'same seed, same output');
  const lp = a.choices[0]!.logprobs!.content!;
  assert.equal(lp.length, 5);
  for (const e of lp) {
    assert.ok(e.logprob <= 0 && e.top_logprobs.length === 3);
    assert.ok(e.top_logprobs[0]!.logprob >= e.top_logprobs[1]!.logprob);
  }
  assert.equal(a.usage!.completion_tokens, 10);
});

test('completions: text prompt, token-id prompt, stop strings', async () => {
  const r = await client.completions.create({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 4, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.usage!.completion_tokens, 4);
  const ids = await client.completions.create({ model: 'tiny', prompt: [1, 2, 3], max_tokens: 4, temperature: 0, logprobs: 2 });
  assert.equal(ids.usage!.prompt_tokens, 3);
  assert.equal(ids.choices[0]!.logprobs!.tokens!.length, 4);
  assert.deepEqual(Object.keys(ids.choices[0]!.logprobs!).sort(), ['text_offset', 'token_logprobs', 'tokens', 'top_logprobs'], 'only the API fields');
  const text = r.choices[0]!.text;
  if (text.length > 2) {
    const cut = await client.completions.create({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 4, temperature: 0, stop: [text.slice(1, 3)] });
    assert.equal(cut.choices[0]!.text, text.slice(0, 1));
    assert.equal(cut.choices[0]!.finish_reason, 'stop');
  }
});

/** Replace the model's generation with a scripted text, cut into pieces of 3 characters (one per "token"). */
function scriptOutput(text: string, on: TestServer = s): () => void {
  const sched = on.server.context.local('tiny').scheduler;
  const original = sched.submit.bind(sched);
  sched.submit = ((promptIds: number[]) => {
    const pieces = text.match(/[\s\S]{1,3}/g) ?? [];
    const stats = { promptTokens: promptIds.length, generatedTokens: pieces.length, ttftSeconds: 0, prefillTokensPerSecond: 0, decodeSeconds: 0, decodeTokensPerSecond: 0, peakRssBytes: 0, decodeSteps: pieces.length - 1, draftsProposed: 0, draftsAccepted: 0, acceptanceLength: 1 };
    const chunks: StreamChunk[] = [...pieces.map((p, i) => ({ tokenId: i, text: p })), { tokenId: null, text: '', finishReason: 'stop', stats }];
    const handle = { finalChunk: chunks[chunks.length - 1], cancel() {}, async *[Symbol.asyncIterator]() { yield* chunks; } };
    return handle as unknown as RequestHandle;
  }) as typeof sched.submit;
  return () => {
    sched.submit = original;
  };
}

const weatherTool: OpenAI.ChatCompletionTool = {
  type: 'function',
  function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' }, units: { type: 'object' } }, required: ['city'] } },
};
const TOOL_TEXT = 'The user wants weather.</think>\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis &amp; Co\n</parameter>\n<parameter=days>\n3\n</parameter>\n<parameter=units>\n{"t": "C"}\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nnull\n</parameter>\n</function>\n</tool_call>';

test('tools: XML tool calls become typed tool_calls, streamed and not, identically', async () => {
  const restore = scriptOutput(TOOL_TEXT);
  try {
    const req = { model: 'tiny', messages: user('weather in Paris?'), tools: [weatherTool] };
    const r = await client.chat.completions.create(req);
    const m = r.choices[0]!.message;
    assert.equal(r.choices[0]!.finish_reason, 'tool_calls');
    assert.equal(m.content, '');
    assert.equal((m as unknown as { reasoning_content: string }).reasoning_content, 'The user wants weather.');
    const calls = m.tool_calls!.map((c) => (c as OpenAI.ChatCompletionMessageFunctionToolCall).function);
    assert.deepEqual(calls.map((f) => f.name), ['get_weather', 'get_weather']);
    assert.deepEqual(JSON.parse(calls[0]!.arguments), { city: 'Paris & Co', days: 3, units: { t: 'C' } });
    assert.deepEqual(JSON.parse(calls[1]!.arguments), { city: 'null' });

    const stream = await client.chat.completions.create({ ...req, stream: true });
    const acc: Array<{ id?: string; name: string; args: string }> = [];
    let reasoning = '';
    let finish = '';
    for await (const chunk of stream) {
      const ch = chunk.choices[0];
      if (!ch) continue;
      reasoning += (ch.delta as { reasoning_content?: string }).reasoning_content ?? '';
      for (const d of ch.delta.tool_calls ?? []) {
        acc[d.index] ??= { name: '', args: '' };
        if (d.id) acc[d.index]!.id = d.id;
        acc[d.index]!.name += d.function?.name ?? '';
        acc[d.index]!.args += d.function?.arguments ?? '';
      }
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    assert.equal(finish, 'tool_calls');
    assert.equal(reasoning, 'The user wants weather.');
    assert.deepEqual(acc.map((a) => ({ name: a.name, args: JSON.parse(a.args) })), calls.map((f) => ({ name: f.name, args: JSON.parse(f.arguments) })));
    assert.ok(acc.every((a) => a.id?.startsWith('call_')));
  } finally {
    restore();
  }
});

test('errors: status and OpenAI shape, and the server keeps serving', async () => {
  const expectError = async (p: Promise<unknown>, status: number, param?: string) => {
    await assert.rejects(p, (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError, String(e));
      assert.equal(e.status, status);
      const body = e.error as { message: string; type: string; param: string | null };
      assert.ok(typeof body.message === 'string' && body.message.length > 0);
      if (param !== undefined) assert.equal(body.param, param);
      return true;
    });
  };
  await expectError(client.chat.completions.create({ model: 'tiny', messages: user('x'), temperature: 5 }), 400, 'temperature');
  await expectError(client.chat.completions.create({ model: 'tiny', messages: [] }), 400, 'messages');
  await expectError(client.chat.completions.create({ model: 'tiny', messages: user('x'), max_tokens: 0 }), 400, 'max_tokens');
  await expectError(client.chat.completions.create({ model: 'tiny', messages: user('x'), bogus: 1 } as never), 400, 'bogus');
  await expectError(client.chat.completions.create({ model: 'tiny', messages: user('x'), response_format: { type: 'xml' } } as never), 400, 'response_format');
  await expectError(client.chat.completions.create({ model: 'tiny', messages: user('x'), tools: [weatherTool], tool_choice: { type: 'function', function: { name: 'nope' } } }), 400, 'tool_choice');
  await expectError(client.chat.completions.create({ model: 'tiny', messages: [{ role: 'wizard', content: 'x' }] } as never), 400, 'messages.0.role');
  await expectError(client.chat.completions.create({ model: 'nope', messages: user('x') }), 404, 'model');
  await expectError(client.completions.create({ model: 'tiny', prompt: [999999999], max_tokens: 2 }), 400, 'prompt_ids');
  await expectError(client.chat.completions.create({ model: 'tiny', messages: user('x'), max_tokens: 1_000_000_000 }), 400, 'max_tokens');
  const raw = await fetch(`${s.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model": "tiny", ' });
  assert.equal(raw.status, 400);
  assert.equal(((await raw.json()) as { error: { type: string } }).error.type, 'invalid_request_error');
  const notFound = await fetch(`${s.url}/v2/nothing`);
  assert.equal(notFound.status, 404);
  const ok = await client.chat.completions.create({ model: 'tiny', messages: user('still there?'), max_tokens: 2 });
  assert.equal(ok.choices.length, 1);
});

test('errors: 401 without or with a wrong API key, 413 for a large body, 429 when the queue is full', async () => {
  const t = await startServer({ backend: 'ts', apiKey: 'sekret', maxBody: 2048, maxBatch: 1, maxQueue: 0 });
  try {
    const good = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'sekret', maxRetries: 0 });
    const bad = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'wrong', maxRetries: 0 });
    await assert.rejects(bad.models.list(), (e: unknown) => e instanceof OpenAI.APIError && e.status === 401);
    const none = await fetch(`${t.url}/v1/models`);
    assert.equal(none.status, 401);
    await assert.rejects(good.chat.completions.create({ model: 'tiny', messages: user('x'.repeat(5000)) }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 413);
    // One long request holds the only slot; the next is refused with 429 while it runs.
    const long = good.chat.completions.create({ model: 'tiny', messages: user('long'), max_tokens: 200, stream: true });
    const stream = await long;
    const it = stream[Symbol.asyncIterator]();
    await it.next();
    await assert.rejects(good.chat.completions.create({ model: 'tiny', messages: user('x'), max_tokens: 2 }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 429 && e.headers?.get('retry-after') === '1');
    // More choices than the server can ever hold is the client's mistake (400 naming n), not a busy server.
    await assert.rejects(good.chat.completions.create({ model: 'tiny', messages: user('x'), max_tokens: 2, n: 2 }), (e: unknown) => e instanceof OpenAI.APIError && e.status === 400 && (e.error as { param: string }).param === 'n');
    const lower = await fetch(`${t.url}/v1/models`, { headers: { authorization: 'bearer sekret' } });
    assert.equal(lower.status, 200, 'the Bearer scheme is case-insensitive');
    stream.controller.abort();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(t.server.context.local('tiny').scheduler.state, { ...t.server.context.local('tiny').scheduler.state, active: 0, queued: 0, kvCacheBytes: 0 }, 'the client that went away no longer holds a sequence or cache');
    const after = await good.chat.completions.create({ model: 'tiny', messages: user('x'), max_tokens: 2 });
    assert.equal(after.choices.length, 1, 'the aborted stream freed its slot');
  } finally {
    await t.close();
  }
});

test('a tool call written inside the reasoning is a tool call, unless the server says otherwise', async () => {
  const text = 'I will call it.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function>\n</tool_call>\n</think>\n\nDone.';
  const req = { model: 'tiny', messages: user('weather?'), tools: [weatherTool] };
  let restore = scriptOutput(text);
  try {
    const m = (await client.chat.completions.create(req)).choices[0]!.message;
    assert.deepEqual(m.tool_calls!.map((c) => JSON.parse((c as OpenAI.ChatCompletionMessageFunctionToolCall).function.arguments)), [{ city: 'Oslo' }]);
    assert.equal(m.content, 'Done.');
  } finally {
    restore();
  }
  const t = await startServer({ backend: 'ts', toolCallsInThinking: false });
  restore = scriptOutput(text, t);
  try {
    const c2 = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const m = (await c2.chat.completions.create(req)).choices[0]!.message;
    assert.equal(m.tool_calls, undefined);
    assert.match((m as unknown as { reasoning_content: string }).reasoning_content, /<function=get_weather>/);
  } finally {
    restore();
    await t.close();
  }
});

test('CORS: preflight and responses allow other origins', async () => {
  const pre = await fetch(`${s.url}/v1/chat/completions`, { method: 'OPTIONS', headers: { origin: 'http://example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' } });
  assert.ok(pre.status === 204 || pre.status === 200, `preflight status ${pre.status}`);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  const r = await fetch(`${s.url}/v1/models`, { headers: { origin: 'http://example.com' } });
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
});

test('shutdown: requests cut off by close() get 503 / an error event, never a normal finish', async () => {
  const t = await startServer({ backend: 'ts' });
  const c = new OpenAI({ baseURL: `${t.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  const stream = await c.chat.completions.create({ model: 'tiny', messages: user('long'), max_tokens: 5000, stream: true });
  const whole = c.chat.completions.create({ model: 'tiny', messages: user('long too'), max_tokens: 5000 });
  const seen: { finish: string | null; error: unknown } = { finish: null, error: null };
  const reading = (async () => {
    try {
      for await (const chunk of stream) {
        for (const ch of chunk.choices) seen.finish = ch.finish_reason ?? seen.finish;
        if (seen.finish === null) void 0;
      }
    } catch (e) {
      seen.error = e;
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  await Promise.all([t.close(), reading, assert.rejects(whole, (e: unknown) => e instanceof OpenAI.APIError && e.status === 503)]);
  assert.equal(seen.finish, null, 'a cut-off stream must not report finish_reason');
  assert.ok(seen.error instanceof Error && /shutting down/.test(String((seen.error as Error).message)), `stream error: ${String(seen.error)}`);
});
