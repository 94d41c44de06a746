/**
 * `POST /v1/messages` (Anthropic Messages API). The converter and block assembly are checked on hand-written model
 * outputs (random weights write random text): thinking + text, typed tool-call arguments, several calls, the budget
 * ending inside thinking — the streamed events, rebuilt as a client does, equal the non-streaming blocks however
 * the text is split. End to end on a tiny random-weight checkpoint: response and event shapes, stream = non-stream
 * for the same greedy request, stop reasons (max_tokens, stop_sequence), a forced tool call streamed from its first
 * event, history conversion, errors in Anthropic's shape, and the server serving after them. With scripted model
 * output: a final assistant message continued (prefill), and `<tool_call>` text read as calls only when tools are
 * offered.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { MiMoOutputParser } from '../../src/parser/mimo-output-parser.js';
import type { ChatTool } from '../../src/tokenizer/tokenizer.js';
import type { FinishReason, GenerateOptions, StreamChunk } from '../../src/engine/sequence.js';
import type { RequestHandle } from '../../src/engine/scheduler.js';
import { ApiError } from '../../src/server/errors.js';
import { checkBlockTypes, ContentBlockStream, contentBlocks, stopReason, toChatInput, TOOL_ERROR_PREFIX, type ContentBlock, type StreamEvent } from '../../src/server/anthropic.js';
import { MessagesRequest } from '../../src/server/schemas.js';
import { startServer, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>;

/**
 * Checks the event grammar (message_start, blocks with start/deltas/stop at consecutive indices, message_delta,
 * message_stop) and rebuilds the message as Anthropic's SDK does (input_json pieces parsed at the block's stop).
 */
function rebuild(events: Array<{ event: string; data: Json }>): Json {
  const names = events.map((e) => e.event);
  for (const e of events) assert.equal(e.data.type, e.event, 'each event name equals its data type');
  assert.equal(names[0], 'message_start');
  assert.deepEqual(names.slice(-2), ['message_delta', 'message_stop']);
  const message: Json = structuredClone(events[0]!.data.message);
  assert.equal(message.content.length, 0, "message_start has empty content");
  const json: string[] = [];
  let open = -1;
  for (const { event, data } of events.slice(1, -2)) {
    const index = data.index as number;
    if (event === 'content_block_start') {
      assert.ok(open === -1, 'a block starts only after the previous one stopped');
      assert.ok(index === message.content.length, 'blocks are indexed 0, 1, 2, …');
      open = index;
      message.content.push(structuredClone(data.content_block));
      json[index] = '';
    } else if (event === 'content_block_delta') {
      assert.ok(index === open, 'a delta belongs to the open block');
      const block: Json = message.content[index];
      const d: Json = data.delta;
      const fields: Record<string, [string, string]> = { text_delta: ['text', 'text'], thinking_delta: ['thinking', 'thinking'], signature_delta: ['thinking', 'signature'], input_json_delta: ['tool_use', 'partial_json'] };
      const kind = fields[d.type];
      assert.ok(kind, `known delta type ${d.type}`);
      assert.ok(block.type === kind[0], `${d.type} in a ${block.type} block`);
      if (d.type === 'input_json_delta') json[index] += d.partial_json;
      else block[kind[1]] += d[kind[1]];
    } else if (event === 'content_block_stop') {
      assert.ok(index === open, 'stop closes the open block');
      const block: Json = message.content[index];
      // An unfinished call (the budget ran out inside it) leaves partial JSON: kept as text.
      if (block.type === 'tool_use' && json[index]) {
        try {
          block.input = JSON.parse(json[index]!);
        } catch {
          block.input = { partialJson: json[index] };
        }
      }
      open = -1;
    } else {
      assert.fail(`unexpected event ${event} between message_start and message_delta`);
    }
  }
  assert.ok(open === -1, 'every content_block_start has its content_block_stop');
  const last = events.at(-2)!.data;
  Object.assign(message, last.delta);
  message.usage = { ...message.usage, ...last.usage };
  return message;
}

const WEATHER: ChatTool[] = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' }, metric: { type: 'boolean' }, zip: { type: 'string' }, extra: { type: 'object' } } },
    },
  },
  { type: 'function', function: { name: 'get_time', parameters: { type: 'object', properties: {} } } },
];

/** Parse `text` (split into `chunks`) as the route does; the streamed blocks and the non-streaming blocks. */
function assemble(text: string, chunks: string[], opts: { startsInThinking: boolean; tools?: ChatTool[]; finish?: FinishReason; stop?: string }) {
  let n = 0;
  const parser = new MiMoOutputParser({ tools: opts.tools, startsInThinking: opts.startsInThinking, toolCallId: () => `call_${n++}` });
  assert.equal(chunks.join(''), text);
  const stream = new ContentBlockStream();
  const events: StreamEvent[] = [];
  for (const c of chunks) events.push(...stream.push(parser.push(c)));
  events.push(...stream.push(parser.flush()));
  events.push(...stream.finish());
  const result = parser.finish();
  const reason = stopReason(opts.finish ?? 'stop', result, opts.stop);
  const all = [{ event: 'message_start', data: { type: 'message_start', message: { content: [], usage: {} } } }, ...events, { event: 'message_delta', data: { type: 'message_delta', delta: reason, usage: {} } }, { event: 'message_stop', data: { type: 'message_stop' } }];
  return { blocks: contentBlocks(result), streamed: rebuild(all).content as ContentBlock[], reason };
}

/** The same text whole, one character at a time, and in every split into two chunks. */
function splits(text: string): string[][] {
  const out = [[text], [...text]];
  for (let i = 1; i < text.length; i++) out.push([text.slice(0, i), text.slice(i)]);
  return out;
}

function checkAllSplits(text: string, opts: Parameters<typeof assemble>[2], want: ContentBlock[], wantReason: string) {
  for (const chunks of splits(text)) {
    const { blocks, streamed, reason } = assemble(text, chunks, opts);
    assert.deepEqual(blocks, want, `blocks, split ${JSON.stringify(chunks.length > 2 ? 'by character' : chunks)}`);
    assert.deepEqual(streamed, want, `streamed blocks, split ${JSON.stringify(chunks.length > 2 ? 'by character' : chunks)}`);
    assert.equal(reason.stop_reason, wantReason);
  }
}

describe('anthropic.ts: output → content blocks and stream events', () => {
  test('thinking then text; thinking signature is empty', () => {
    checkAllSplits('Let me think.\nOK.</think>\n\nThe answer is 4.', { startsInThinking: true }, [
      { type: 'thinking', thinking: 'Let me think.\nOK.', signature: '' },
      { type: 'text', text: 'The answer is 4.' },
    ], 'end_turn');
  });

  test('a tool call with typed arguments after thinking → tool_use with a parsed input object', () => {
    const text = 'Need weather.</think>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nNew York\n</parameter>\n<parameter=days>3</parameter>\n<parameter=metric>true</parameter>\n<parameter=zip>007</parameter>\n<parameter=extra>{"a": [1, 2]}</parameter>\n</function>\n</tool_call>';
    checkAllSplits(text, { startsInThinking: true, tools: WEATHER }, [
      { type: 'thinking', thinking: 'Need weather.', signature: '' },
      { type: 'tool_use', id: 'toolu_0', name: 'get_weather', input: { city: 'New York', days: 3, metric: true, zip: '007', extra: { a: [1, 2] } } },
    ], 'tool_use');
  });

  test('text, then two calls back to back (one without parameters) → text + two tool_use blocks', () => {
    const text = 'Checking both.\n<tool_call>\n<function=get_weather>\n<parameter=city>Paris</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=get_time>\n</function>\n</tool_call>';
    checkAllSplits(text, { startsInThinking: false, tools: WEATHER }, [
      { type: 'text', text: 'Checking both.' },
      { type: 'tool_use', id: 'toolu_0', name: 'get_weather', input: { city: 'Paris' } },
      { type: 'tool_use', id: 'toolu_1', name: 'get_time', input: {} },
    ], 'tool_use');
  });

  test('the budget ends inside thinking → only a thinking block, stop_reason max_tokens', () => {
    checkAllSplits('Still reasoning about <b>', { startsInThinking: true, finish: 'length' }, [{ type: 'thinking', thinking: 'Still reasoning about <b>', signature: '' }], 'max_tokens');
  });

  test('nothing generated → one empty text block; a matched stop sequence → stop_sequence', () => {
    const { blocks, streamed } = assemble('', [''], { startsInThinking: false });
    assert.deepEqual(blocks, [{ type: 'text', text: '' }]);
    assert.deepEqual(streamed, [{ type: 'text', text: '' }]);
    const r = assemble('Hello', ['He', 'llo'], { startsInThinking: false, stop: 'STOP' });
    assert.deepEqual(r.reason, { stop_reason: 'stop_sequence', stop_sequence: 'STOP' });
    assert.deepEqual(stopReason('length', { content: '', reasoningContent: '', toolCalls: [], finishedInThinking: false }, undefined), { stop_reason: 'max_tokens', stop_sequence: null });
  });

  test('one delta with reasoning, content and a call (the end of a stream) keeps the text order', () => {
    const s = new ContentBlockStream();
    const events = [
      ...s.push({ reasoningContent: 'r', content: 'c', toolCallDeltas: [{ index: 0, id: 'call_x', type: 'function', function: { name: 'f', arguments: '' } }, { index: 0, function: { arguments: '{}' } }] }),
      ...s.finish(),
    ];
    assert.deepEqual(events.map((e) => `${e.event}:${(e.data.content_block as Json | undefined)?.type ?? (e.data.delta as Json | undefined)?.type ?? ''}`), [
      'content_block_start:thinking', 'content_block_delta:thinking_delta', 'content_block_delta:signature_delta', 'content_block_stop:',
      'content_block_start:text', 'content_block_delta:text_delta', 'content_block_stop:',
      'content_block_start:tool_use', 'content_block_delta:input_json_delta', 'content_block_stop:',
    ]);
    assert.deepEqual(events[7]!.data.content_block, { type: 'tool_use', id: 'toolu_x', name: 'f', input: {} });
    assert.deepEqual(events[8]!.data.delta, { type: 'input_json_delta', partial_json: '{}' });
  });
});

describe('anthropic.ts: request → chat input', () => {
  test('system, user blocks with tool results, assistant thinking/text/tool_use, tools, tool_choice, thinking', () => {
    const body = MessagesRequest.parse({
      model: 'm',
      max_tokens: 10,
      system: [{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'Use tools.' }],
      messages: [
        { role: 'user', content: 'Weather in Paris and Rome?' },
        {
          role: 'assistant',
          content: [
            { type: 'thinking', thinking: 'Two calls.', signature: 'sig' },
            { type: 'redacted_thinking', data: 'xxx' },
            { type: 'text', text: 'Calling.' },
            { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } },
            { type: 'tool_use', id: 'toolu_2', name: 'get_weather', input: { city: 'Rome' } },
          ],
        },
        {
          role: 'user',
          content: [
            { type: 'tool_result', tool_use_id: 'toolu_1', content: 'Sunny' },
            { type: 'tool_result', tool_use_id: 'toolu_2', content: [{ type: 'text', text: 'city not found' }], is_error: true },
            { type: 'text', text: 'Summarise.' },
          ],
        },
      ],
      tools: [{ name: 'get_weather', description: 'Weather by city', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      tool_choice: { type: 'any' },
      thinking: { type: 'disabled' },
    });
    const input = toChatInput(body);
    assert.deepEqual(input.messages, [
      { role: 'system', content: 'Be brief.\nUse tools.' },
      { role: 'user', content: 'Weather in Paris and Rome?' },
      {
        role: 'assistant',
        content: 'Calling.',
        reasoning_content: 'Two calls.',
        tool_calls: [
          { id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: { city: 'Paris' } } },
          { id: 'toolu_2', type: 'function', function: { name: 'get_weather', arguments: { city: 'Rome' } } },
        ],
      },
      { role: 'tool', content: 'Sunny', tool_call_id: 'toolu_1' },
      { role: 'tool', content: `${TOOL_ERROR_PREFIX}city not found`, tool_call_id: 'toolu_2' },
      { role: 'user', content: 'Summarise.' },
    ]);
    assert.deepEqual(input.tools, [{ type: 'function', function: { name: 'get_weather', description: 'Weather by city', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }]);
    assert.equal(input.toolChoice, 'required');
    assert.equal(input.enableThinking, false);
  });

  test('tool_choice and thinking mapping; absent thinking leaves the template default', () => {
    const base = { model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] };
    const conv = (extra: Json) => toChatInput(MessagesRequest.parse({ ...base, ...extra }));
    assert.equal(conv({}).enableThinking, undefined);
    assert.equal(conv({}).toolChoice, undefined);
    assert.equal(conv({}).tools, undefined);
    assert.equal(conv({ thinking: { type: 'enabled', budget_tokens: 1024 } }).enableThinking, true);
    assert.equal(conv({ tool_choice: { type: 'auto' } }).toolChoice, 'auto');
    assert.equal(conv({ tool_choice: { type: 'none' } }).toolChoice, 'none');
    assert.deepEqual(conv({ tool_choice: { type: 'tool', name: 'f' } }).toolChoice, { name: 'f' });
    assert.equal(conv({ thinking: { type: 'adaptive' } }).enableThinking, true, 'adaptive is thinking on');
  });

  test('Anthropic-hosted extras (container, mcp_servers, context_management) are accepted and ignored', () => {
    const body = { model: 'm', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] };
    const extras = { container: 'container_1', mcp_servers: [{ type: 'url', url: 'https://example.com/mcp', name: 'x' }], context_management: { edits: [{ type: 'clear_tool_uses_20250919' }] } };
    assert.deepEqual(toChatInput(MessagesRequest.parse({ ...body, ...extras })), toChatInput(MessagesRequest.parse(body)));
  });

  test('unsupported or misplaced blocks are refused naming the block', () => {
    const bad = (messages: unknown[], param: string) => {
      assert.throws(() => checkBlockTypes({ messages }), (e: unknown) => e instanceof ApiError && e.status === 400 && e.param === param && e.message.includes(param), param);
    };
    bad([{ role: 'user', content: [{ type: 'image', source: {} }] }], 'messages.0.content.0.type');
    bad([{ role: 'user', content: 'hi' }, { role: 'assistant', content: [{ type: 'text', text: 'a' }, { type: 'tool_result', tool_use_id: 'x' }] }], 'messages.1.content.1.type');
    bad([{ role: 'user', content: [{ type: 'thinking', thinking: 'x' }] }], 'messages.0.content.0.type');
    bad([{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'x', content: [{ type: 'image' }] }] }], 'messages.0.content.0.content.0.type');
    assert.throws(() => checkBlockTypes({ system: [{ type: 'image' }], messages: [] }), (e: unknown) => e instanceof ApiError && e.param === 'system.0.type');
    checkBlockTypes({ messages: [{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'tool_result', tool_use_id: 'x', content: [{ type: 'text', text: 'r' }] }] }] });
  });

  test('an empty block list is refused naming messages.N.content, except in a final assistant message', () => {
    const refused = (messages: unknown[], param: string) =>
      assert.throws(() => checkBlockTypes({ messages }), (e: unknown) => e instanceof ApiError && e.status === 400 && e.param === param && e.message.startsWith(`${param}: must not be an empty list`), param);
    refused([{ role: 'user', content: [] }], 'messages.0.content');
    refused([{ role: 'user', content: 'q' }, { role: 'assistant', content: [] }, { role: 'user', content: 'again' }], 'messages.1.content');
    checkBlockTypes({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [] }] });
  });

  test('a final assistant message (prefill) cannot hold tool_use; earlier ones can', () => {
    const use = { type: 'tool_use', id: 'toolu_1', name: 'f', input: {} };
    assert.throws(() => checkBlockTypes({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [{ type: 'text', text: 'a' }, use] }] }), (e: unknown) => e instanceof ApiError && e.param === 'messages.1.content.1.type' && /prefill/.test(e.message));
    checkBlockTypes({ messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [use] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'r' }] }] });
  });
});

/** Read an SSE body into `{event, data}` pairs. */
async function readEvents(res: Response): Promise<Array<{ event: string; data: Json }>> {
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const text = await res.text();
  assert.ok(!text.includes('[DONE]'), 'no OpenAI terminator');
  return text
    .split('\n\n')
    .filter((s) => s.trim())
    .map((frame) => {
      const lines = frame.split('\n');
      const event = lines.find((l) => l.startsWith('event: '))?.slice(7);
      const data = lines.find((l) => l.startsWith('data: '))?.slice(6);
      assert.ok(event && data, `frame with event and data: ${frame}`);
      return { event, data: JSON.parse(data) as Json };
    });
}

describe('POST /v1/messages on a tiny checkpoint', () => {
  let srv: TestServer;
  const post = (body: unknown, signal?: AbortSignal) =>
    fetch(`${srv.url}/v1/messages`, { method: 'POST', headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' }, body: JSON.stringify(body), signal });
  const greedy = (extra: Json = {}) => ({ model: 'tiny', max_tokens: 12, temperature: 0, messages: [{ role: 'user', content: 'Why is the sky blue?' }], ...extra });

  before(async () => {
    srv = await startServer({ backend: 'auto', maxBatch: 4 });
  });
  after(async () => {
    await srv?.close();
  });

  for (const thinking of [{ type: 'disabled' }, undefined]) {
    test(`non-streaming and streaming give the same message (thinking ${thinking ? 'disabled' : 'by template default'})`, async () => {
      const body = greedy(thinking ? { thinking } : {});
      const res = await post(body);
      assert.equal(res.status, 200);
      const msg = (await res.json()) as Json;
      assert.match(msg.id, /^msg_[0-9a-f]{24}$/);
      assert.equal(msg.type, 'message');
      assert.equal(msg.role, 'assistant');
      assert.equal(msg.model, 'tiny');
      assert.ok(['end_turn', 'max_tokens'].includes(msg.stop_reason), msg.stop_reason);
      assert.equal(msg.stop_sequence, null);
      // The prompt's tokens: read from the prefix cache, prefilled and added to it, or prefilled only.
      const inputOf = (u: Json) => u.input_tokens + u.cache_creation_input_tokens + u.cache_read_input_tokens;
      assert.ok(inputOf(msg.usage) > 0);
      assert.ok(msg.usage.output_tokens > 0 && msg.usage.output_tokens <= 12);
      assert.ok(msg.content.length >= 1);
      // Thinking on: the random text never closes </think>, so it is all thinking; off: all text.
      assert.equal(msg.content[0].type, thinking ? 'text' : 'thinking');
      if (!thinking) assert.equal(msg.content[0].signature, '');

      const sres = await post({ ...body, stream: true });
      assert.equal(sres.status, 200);
      const events = await readEvents(sres);
      const rebuilt = rebuild(events);
      assert.equal(events[0]!.data.message.usage.output_tokens, 0);
      assert.equal(inputOf(events[0]!.data.message.usage), inputOf(msg.usage));
      // The same prompt again: message_start expects the cached prefix that the run then reads.
      const delta = events.find((e) => e.event === 'message_delta')!.data.usage;
      assert.equal(events[0]!.data.message.usage.cache_read_input_tokens, delta.cache_read_input_tokens);
      assert.ok(delta.cache_read_input_tokens > 0, 'the repeated prompt was read from the prefix cache');
      assert.equal(events[0]!.data.message.stop_reason, null);
      assert.deepEqual(rebuilt.content, msg.content, 'concatenated deltas = non-streaming content');
      assert.equal(rebuilt.stop_reason, msg.stop_reason);
      assert.equal(rebuilt.stop_sequence, null);
      assert.equal(rebuilt.usage.output_tokens, msg.usage.output_tokens);
    });
  }

  test('stop_reason max_tokens when the budget is hit', async () => {
    const res = await post(greedy({ max_tokens: 2, thinking: { type: 'disabled' } }));
    const msg = (await res.json()) as Json;
    assert.equal(res.status, 200);
    assert.equal(msg.stop_reason, 'max_tokens');
    assert.equal(msg.usage.output_tokens, 2);
  });

  test('stop_sequences: generation stops at a stop sequence, named in stop_sequence', async () => {
    const plain = (await (await post(greedy({ max_tokens: 16, thinking: { type: 'disabled' } }))).json()) as Json;
    const chars = [...(plain.content[0].text as string)];
    const before = chars.slice(0, 4).join('');
    const stop = chars.slice(4, 7).join('');
    assert.equal(chars.join('').indexOf(stop), before.length, `a stop string first found after 4 characters of ${JSON.stringify(chars.join(''))}`);
    const msg = (await (await post(greedy({ max_tokens: 16, thinking: { type: 'disabled' }, stop_sequences: [stop] }))).json()) as Json;
    assert.equal(msg.stop_reason, 'stop_sequence');
    assert.equal(msg.stop_sequence, stop);
    assert.deepEqual(msg.content, [{ type: 'text', text: before }]);
    const events = await readEvents(await post(greedy({ max_tokens: 16, thinking: { type: 'disabled' }, stop_sequences: [stop], stream: true })));
    const rebuilt = rebuild(events);
    assert.deepEqual(rebuilt.content, msg.content);
    assert.equal(rebuilt.stop_reason, 'stop_sequence');
    assert.equal(rebuilt.stop_sequence, stop);
  });

  test('a forced tool call streams its tool_use block first; a tool history is accepted', async () => {
    const tools = [{ name: 'get_weather', description: 'Weather by city', input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];
    const events = await readEvents(await post(greedy({ tools, tool_choice: { type: 'tool', name: 'get_weather' }, stream: true, max_tokens: 24 })));
    rebuild(events);
    const start = events[1]!.data;
    assert.equal(start.type, 'content_block_start');
    assert.equal(start.content_block.type, 'tool_use');
    assert.equal(start.content_block.name, 'get_weather');
    assert.match(start.content_block.id, /^toolu_/);
    assert.deepEqual(start.content_block.input, {});

    const history = greedy({
      tools,
      messages: [
        { role: 'user', content: 'Weather in Paris?' },
        { role: 'assistant', content: [{ type: 'thinking', thinking: 'Call it.', signature: '' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Paris' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'Sunny, 24 C' }] },
      ],
    });
    const res = await post(history);
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as Json).type, 'message');
  });

  test('errors in Anthropic shape, and the server keeps serving', async () => {
    const expectError = async (body: unknown, status: number, type: string, mention: string) => {
      const res = await post(body);
      assert.equal(res.status, status);
      const err = (await res.json()) as Json;
      assert.equal(err.type, 'error');
      assert.equal(err.error.type, type);
      assert.ok(err.error.message.includes(mention), `${err.error.message} mentions ${mention}`);
    };
    const { max_tokens: _, ...noMax } = greedy();
    await expectError(noMax, 400, 'invalid_request_error', 'max_tokens');
    await expectError(greedy({ model: 'nope' }), 404, 'not_found_error', 'nope');
    await expectError(greedy({ messages: [{ role: 'system', content: 'x' }] }), 400, 'invalid_request_error', 'messages.0.role');
    await expectError(greedy({ messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: '' } }] }] }), 400, 'invalid_request_error', 'messages.0.content.0.type');
    await expectError(greedy({ temperature: 1.5 }), 400, 'invalid_request_error', 'temperature');
    await expectError(greedy({ tool_choice: { type: 'tool', name: 'missing' } }), 400, 'invalid_request_error', 'missing');
    await expectError(greedy({ top_q: 1 }), 400, 'invalid_request_error', 'top_q');
    const res = await post(greedy({ max_tokens: 2 }));
    assert.equal(res.status, 200);
  });

  /** Replace generation with `text` (3 characters per token); records each request's prompt and options. */
  const script = (text: string) => {
    const local = srv.server.context.local('tiny');
    const sched = local.scheduler;
    const original = sched.submit.bind(sched);
    const seen: Array<{ prompt: string; opts: GenerateOptions }> = [];
    sched.submit = ((promptIds: number[], opts: GenerateOptions = {}) => {
      seen.push({ prompt: local.engine.tokenizer!.decode(promptIds), opts });
      const pieces = text.match(/[\s\S]{1,3}/g) ?? [];
      const stats = { promptTokens: promptIds.length, generatedTokens: pieces.length, ttftSeconds: 0, prefillTokensPerSecond: 0, decodeSeconds: 0, decodeTokensPerSecond: 0, peakRssBytes: 0, decodeSteps: pieces.length, draftsProposed: 0, draftsAccepted: 0, acceptanceLength: 1 };
      const chunks: StreamChunk[] = [...pieces.map((p, i) => ({ tokenId: i, text: p })), { tokenId: null, text: '', finishReason: 'stop', stats }];
      return { finalChunk: chunks.at(-1), cancel() {}, async *[Symbol.asyncIterator]() { yield* chunks; } } as unknown as RequestHandle;
    }) as typeof sched.submit;
    return { seen, restore: () => void (sched.submit = original) };
  };

  test('a final assistant message is continued (prefill): text after <think></think>, the reply holds only the continuation', async () => {
    const s = script(' blue because of Rayleigh scattering.');
    try {
      for (const thinking of [undefined, { type: 'enabled', budget_tokens: 1024 }]) {
        const body = greedy({ messages: [{ role: 'user', content: 'Why is the sky blue?' }, { role: 'assistant', content: [{ type: 'text', text: 'The sky is' }] }], ...(thinking ? { thinking } : {}) });
        const res = await post(body);
        assert.equal(res.status, 200, await res.clone().text());
        const msg = (await res.json()) as Json;
        assert.deepEqual(msg.content, [{ type: 'text', text: ' blue because of Rayleigh scattering.' }]);
        const prompt = s.seen.at(-1)!.prompt;
        assert.ok(prompt.endsWith('Why is the sky blue?<|im_end|><|im_start|>assistant\n<think></think>The sky is'), prompt.slice(-120));
        assert.equal(prompt.split('<|im_start|>assistant').length, 2, 'one assistant turn: the continued one');
        const rebuilt = rebuild(await readEvents(await post({ ...body, stream: true })));
        assert.deepEqual(rebuilt.content, msg.content);
      }
      // A string prefill is the same as one text block.
      await post(greedy({ messages: [{ role: 'user', content: 'Q' }, { role: 'assistant', content: 'The sky is' }] }));
      assert.ok(s.seen.at(-1)!.prompt.endsWith('Q<|im_end|><|im_start|>assistant\n<think></think>The sky is'));
    } finally {
      s.restore();
    }
  });

  test('a prefill with thinking continues the reasoning (or the text after it); an empty one is a plain new turn', async () => {
    const s = script(' more thought.</think>\n\nAnswer.');
    try {
      const ask = (assistant: unknown) => post(greedy({ messages: [{ role: 'user', content: 'Q' }, { role: 'assistant', content: assistant }] }));
      let msg = (await (await ask([{ type: 'thinking', thinking: 'Let me see:', signature: '' }])).json()) as Json;
      assert.ok(s.seen.at(-1)!.prompt.endsWith('Q<|im_end|><|im_start|>assistant\n<think>Let me see:'));
      assert.deepEqual(msg.content, [{ type: 'thinking', thinking: ' more thought.', signature: '' }, { type: 'text', text: 'Answer.' }]);

      await ask([{ type: 'thinking', thinking: 'Done.', signature: '' }, { type: 'text', text: 'So' }]);
      assert.ok(s.seen.at(-1)!.prompt.endsWith('<|im_start|>assistant\n<think>Done.</think>So'));

      msg = (await (await ask([])).json()) as Json;
      assert.ok(s.seen.at(-1)!.prompt.endsWith('Q<|im_end|><|im_start|>assistant\n<think>'), 'empty final message dropped; thinking by the template default');
      assert.equal(msg.content[0].type, 'thinking');
    } finally {
      s.restore();
    }
  });

  test('a prefill with a forced tool call, or holding tool_use, is refused', async () => {
    const tools = [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
    const prefill = [{ role: 'user', content: 'Q' }, { role: 'assistant', content: 'I will' }];
    let res = await post(greedy({ tools, tool_choice: { type: 'any' }, messages: prefill }));
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as Json).error.message, /tool_choice.*prefill/);
    res = await post(greedy({ tools, messages: [{ role: 'user', content: 'Q' }, { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: {} }] }] }));
    assert.equal(res.status, 400);
    assert.match(((await res.json()) as Json).error.message, /^messages\.1\.content\.0\.type: .*prefill/);
  });

  test('<tool_call> text is a tool_use block only when tools are offered (and tool_choice is not none)', async () => {
    const text = 'Checking.\n<tool_call>\n<function=get_weather>\n<parameter=city>Oslo</parameter>\n</function>\n</tool_call>';
    const s = script(text);
    try {
      const tools = [{ name: 'get_weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }];
      const ask = async (extra: Json) => {
        const body = greedy({ thinking: { type: 'disabled' }, ...extra });
        const msg = (await (await post(body)).json()) as Json;
        const noIds = (blocks: Json[]) => blocks.map(({ id: _, ...rest }) => rest);
        assert.deepEqual(noIds(rebuild(await readEvents(await post({ ...body, stream: true }))).content), noIds(msg.content), 'stream = non-stream (ids are per request)');
        return msg;
      };
      for (const extra of [{}, { tools, tool_choice: { type: 'none' } }]) {
        const msg = await ask(extra);
        assert.deepEqual(msg.content, [{ type: 'text', text }], JSON.stringify(extra));
        assert.equal(msg.stop_reason, 'end_turn');
      }
      const msg = await ask({ tools });
      assert.deepEqual(msg.content.map((b: Json) => b.type), ['text', 'tool_use']);
      assert.deepEqual(msg.content[1].input, { city: 'Oslo' });
      assert.equal(msg.stop_reason, 'tool_use');
    } finally {
      s.restore();
    }
  });

  test('content: [] → 400 naming messages.N.content; adaptive thinking and hosted-tool extras are accepted', async () => {
    let res = await post(greedy({ messages: [{ role: 'user', content: [] }] }));
    assert.equal(res.status, 400);
    const err = (await res.json()) as Json;
    assert.equal(err.error.type, 'invalid_request_error');
    assert.match(err.error.message, /^messages\.0\.content: must not be an empty list/);
    res = await post(greedy({ max_tokens: 2, thinking: { type: 'adaptive' }, container: null, mcp_servers: [], context_management: { edits: [] } }));
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal(((await res.json()) as Json).content[0].type, 'thinking', 'adaptive = thinking on');
  });

  test('a client that disconnects mid-stream frees its sequence at once', async () => {
    const local = srv.server.context.local('tiny');
    const ac = new AbortController();
    const res = await post(greedy({ max_tokens: 5000, stream: true }), ac.signal);
    const reader = res.body!.getReader();
    let seen = '';
    for (let r = await reader.read(); !r.done && !seen.includes('content_block_delta'); r = await reader.read()) seen += new TextDecoder().decode(r.value);
    assert.ok(seen.includes('content_block_delta'), 'the stream was generating when the client left');
    const stepsAtAbort = local.scheduler.state.steps;
    ac.abort();
    for (let i = 0; i < 400 && local.scheduler.state.active + local.scheduler.state.queued > 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual([local.scheduler.state.active, local.scheduler.state.queued], [0, 0]);
    assert.ok(local.scheduler.state.steps - stepsAtAbort < 1000, `generation stopped after ${local.scheduler.state.steps - stepsAtAbort} more steps, not 5000`);
  });
});
