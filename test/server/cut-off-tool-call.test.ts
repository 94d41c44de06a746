/**
 * Output cut off inside a tool call (the token budget, finish reason `length`), through the real routes with
 * scripted model text: chat completions and the Anthropic Messages API give the same decision, and each route's
 * stream equals its non-streaming answer. Once the call is read (its first parameter or `</function>` came) it is
 * returned with the parameters whose values ended — `finish_reason: "length"` / `stop_reason: "max_tokens"` say it
 * was cut; before that, the block stays text. Also: a call of a tool the request did not offer is text, unless the
 * server runs with `unknownToolCalls: 'call'` (`--unknown-tool-calls call`).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StreamChunk } from '../../src/engine/sequence.js';
import type { RequestHandle } from '../../src/engine/scheduler.js';
import { startServer, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>;

let srv: TestServer;

before(async () => {
  srv = await startServer({ backend: 'ts', maxBatch: 2 });
});
after(async () => {
  await srv?.close();
});

/** Replace the generation by `text` in 3-character "tokens", ending with finish reason `length` (or `finish`). */
function scriptCutOff(text: string, on: TestServer = srv, finish: 'length' | 'stop' = 'length'): () => void {
  const sched = on.server.context.local('tiny').scheduler;
  const original = sched.submit.bind(sched);
  sched.submit = ((promptIds: number[]) => {
    const pieces = text.match(/[\s\S]{1,3}/g) ?? [];
    const stats = { promptTokens: promptIds.length, generatedTokens: pieces.length, ttftSeconds: 0, prefillTokensPerSecond: 0, decodeSeconds: 0, decodeTokensPerSecond: 0, peakRssBytes: 0, decodeSteps: pieces.length - 1, draftsProposed: 0, draftsAccepted: 0, acceptanceLength: 1 };
    const chunks: StreamChunk[] = [...pieces.map((p, i) => ({ tokenId: i, text: p })), { tokenId: null, text: '', finishReason: finish, stats }];
    const handle = { finalChunk: chunks[chunks.length - 1], cancel() {}, async *[Symbol.asyncIterator]() { yield* chunks; } };
    return handle as unknown as RequestHandle;
  }) as typeof sched.submit;
  return () => {
    sched.submit = original;
  };
}

const PARAMETERS = { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } };
const question = [{ role: 'user', content: 'Weather in Dallas?' }];

async function post(path: string, body: Json, on: TestServer = srv): Promise<Response> {
  const res = await fetch(`${on.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.clone().text());
  return res;
}

/** SSE blocks → [{event, data}] (chat chunks have no event name; `[DONE]` is dropped). */
async function events(res: Response): Promise<Array<{ event?: string; data: Json }>> {
  const out: Array<{ event?: string; data: Json }> = [];
  for (const block of (await res.text()).split('\n\n')) {
    const event = /^event: (.*)$/m.exec(block)?.[1];
    const data = /^data: (.*)$/m.exec(block)?.[1];
    if (data !== undefined && data !== '[DONE]') out.push({ event, data: JSON.parse(data) as Json });
  }
  return out;
}

/** Chat completions, non-streaming and streaming: content, tool calls (name, parsed arguments), finish reason. */
async function chat(): Promise<{ whole: Json; streamed: Json }> {
  const body = { model: 'tiny', messages: question, chat_template_kwargs: { enable_thinking: false }, tools: [{ type: 'function', function: { name: 'get_weather', parameters: PARAMETERS } }] };
  const r = (await (await post('/v1/chat/completions', body)).json()) as Json;
  const choice = r.choices[0];
  const whole = {
    content: choice.message.content,
    calls: (choice.message.tool_calls ?? []).map((c: Json) => ({ name: c.function.name, arguments: JSON.parse(c.function.arguments) })),
    finish: choice.finish_reason,
  };
  const acc: Array<{ name: string; args: string }> = [];
  let content = '';
  let finish = '';
  for (const { data } of await events(await post('/v1/chat/completions', { ...body, stream: true }))) {
    const ch = data.choices?.[0];
    if (!ch) continue;
    content += ch.delta.content ?? '';
    for (const d of ch.delta.tool_calls ?? []) {
      acc[d.index] ??= { name: '', args: '' };
      acc[d.index]!.name += d.function?.name ?? '';
      acc[d.index]!.args += d.function?.arguments ?? '';
    }
    if (ch.finish_reason) finish = ch.finish_reason;
  }
  return { whole, streamed: { content, calls: acc.map((a) => ({ name: a.name, arguments: JSON.parse(a.args) })), finish } };
}

/** Messages API, non-streaming and streaming (rebuilt as a client does): content blocks and stop reason. */
async function messages(): Promise<{ whole: Json; streamed: Json }> {
  const body = { model: 'tiny', max_tokens: 64, thinking: { type: 'disabled' }, messages: question, tools: [{ name: 'get_weather', input_schema: PARAMETERS }] };
  const m = (await (await post('/v1/messages', body)).json()) as Json;
  const whole = { content: m.content.map((b: Json) => (b.type === 'tool_use' ? { type: b.type, name: b.name, input: b.input } : b)), stop: m.stop_reason };
  const blocks: Json[] = [];
  const json: string[] = [];
  let stop = '';
  for (const { event, data } of await events(await post('/v1/messages', { ...body, stream: true }))) {
    if (event === 'content_block_start') {
      const b = data.content_block;
      blocks[data.index] = b.type === 'tool_use' ? { type: b.type, name: b.name, input: b.input } : { ...b };
      json[data.index] = '';
    } else if (event === 'content_block_delta') {
      if (data.delta.type === 'input_json_delta') json[data.index] += data.delta.partial_json;
      if (data.delta.type === 'text_delta') blocks[data.index]!.text += data.delta.text;
    } else if (event === 'content_block_stop' && blocks[data.index]!.type === 'tool_use') {
      blocks[data.index]!.input = JSON.parse(json[data.index]!);
    } else if (event === 'message_delta') {
      stop = data.delta.stop_reason;
    }
  }
  return { whole, streamed: { content: blocks, stop } };
}

describe('output cut off inside a tool call', () => {
  test('after a parameter ended: the call comes back with it (the cut value left out), finish length / max_tokens', async () => {
    const restore = scriptCutOff('Let me check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nDallas\n</parameter>\n<parameter=days>\n1');
    try {
      const c = await chat();
      assert.deepEqual(c.whole, { content: 'Let me check.', calls: [{ name: 'get_weather', arguments: { city: 'Dallas' } }], finish: 'length' });
      assert.deepEqual(c.streamed, c.whole, 'chat stream = non-stream');
      const m = await messages();
      assert.deepEqual(m.whole, { content: [{ type: 'text', text: 'Let me check.' }, { type: 'tool_use', name: 'get_weather', input: { city: 'Dallas' } }], stop: 'max_tokens' });
      assert.deepEqual(m.streamed, m.whole, 'messages stream = non-stream');
    } finally {
      restore();
    }
  });

  test('inside the first value: the call comes back without arguments', async () => {
    const restore = scriptCutOff('<tool_call>\n<function=get_weather>\n<parameter=city>\nDal');
    try {
      const c = await chat();
      assert.deepEqual(c.whole, { content: '', calls: [{ name: 'get_weather', arguments: {} }], finish: 'length' });
      assert.deepEqual(c.streamed, c.whole);
      const m = await messages();
      assert.deepEqual(m.whole, { content: [{ type: 'tool_use', name: 'get_weather', input: {} }], stop: 'max_tokens' });
      assert.deepEqual(m.streamed, m.whole);
    } finally {
      restore();
    }
  });

  test('before the call is read (right after the function name): the block is text, and no call was streamed', async () => {
    const text = 'Let me check.\n<tool_call>\n<function=get_weather>';
    const restore = scriptCutOff(text);
    try {
      const c = await chat();
      assert.deepEqual(c.whole, { content: text, calls: [], finish: 'length' });
      assert.deepEqual(c.streamed, c.whole);
      const m = await messages();
      assert.deepEqual(m.whole, { content: [{ type: 'text', text }], stop: 'max_tokens' });
      assert.deepEqual(m.streamed, m.whole);
    } finally {
      restore();
    }
  });
});

describe('a call of a tool the request did not offer', () => {
  const text = 'Let me look.\n<tool_call>\n<function=search>\n<parameter=q>\nDallas\n</parameter>\n</function>\n</tool_call>';
  const body = { model: 'tiny', messages: question, chat_template_kwargs: { enable_thinking: false }, tools: [{ type: 'function', function: { name: 'get_weather', parameters: PARAMETERS } }] };

  test('is text by default', async () => {
    const restore = scriptCutOff(text, srv, 'stop');
    try {
      const r = (await (await post('/v1/chat/completions', body)).json()) as Json;
      assert.equal(r.choices[0].message.content, text);
      assert.equal(r.choices[0].message.tool_calls, undefined);
      assert.equal(r.choices[0].finish_reason, 'stop');
    } finally {
      restore();
    }
  });

  test('is a call with unknownToolCalls: call', async () => {
    const other = await startServer({ backend: 'ts', maxBatch: 2, unknownToolCalls: 'call' });
    const restore = scriptCutOff(text, other, 'stop');
    try {
      const r = (await (await post('/v1/chat/completions', body, other)).json()) as Json;
      assert.equal(r.choices[0].message.content, 'Let me look.');
      assert.deepEqual(r.choices[0].message.tool_calls.map((c: Json) => [c.function.name, JSON.parse(c.function.arguments)]), [['search', { q: 'Dallas' }]]);
      assert.equal(r.choices[0].finish_reason, 'tool_calls');
    } finally {
      restore();
      await other.close();
    }
  });
});
