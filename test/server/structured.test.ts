/**
 * Structured outputs and strict tool calls through `mimo serve` on random weights at temperature 1: the official
 * OpenAI client with `response_format` (json_schema, json_object), vLLM's `structured_outputs` / `guided_*`,
 * `tool_choice: "required"` (30 seeded samples, every one with at least one call whose arguments validate under
 * ajv), a named tool with `parallel_tool_calls: false` (exactly one call), strict tools under `auto`, `logit_bias`,
 * the Anthropic route (`tool_choice: any`, `output_format`, `thinking.budget_tokens`), and 400s naming the problem
 * (a JSON pointer inside the schema) after which the server keeps serving.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { startServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
let client: OpenAI;
const ajv = new Ajv2020({ strict: false });

before(async () => {
  s = await startServer({ maxBatch: 16, maxQueue: 64 });
  client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
});
after(() => s.close());

const user = (content: string) => [{ role: 'user' as const, content }];
const weather = {
  type: 'object',
  properties: { city: { type: 'string', maxLength: 12 }, days: { type: 'integer', minimum: 1, maximum: 7 }, unit: { type: 'string', enum: ['c', 'f'] } },
  required: ['city', 'days', 'unit'],
  additionalProperties: false,
};
const search = { type: 'object', properties: { query: { type: 'string', maxLength: 20 }, limit: { type: 'integer', minimum: 1, maximum: 10 } }, required: ['query'], additionalProperties: false };
const tools: OpenAI.ChatCompletionTool[] = [
  { type: 'function', function: { name: 'get_weather', description: 'weather', parameters: weather } },
  { type: 'function', function: { name: 'search', description: 'search', parameters: search } },
];
const schemaOf: Record<string, object> = { get_weather: weather, search };

/** `depth` objects nested in each other under `a`. */
function deepSchema(depth: number): Record<string, unknown> {
  let s: Record<string, unknown> = { type: 'integer' };
  for (let i = 0; i < depth; i++) s = { type: 'object', properties: { a: s, b: { type: 'string', maxLength: 10 } }, required: ['a', 'b'], additionalProperties: false };
  return s;
}

async function post(path: string, body: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

test('response_format json_schema: 8 samples at temperature 1, thinking off and on, all stop and validate', async () => {
  const schema = { type: 'object', properties: { answer: { type: 'string', maxLength: 16 }, confidence: { type: 'integer', minimum: 0, maximum: 100 }, tags: { type: 'array', items: { enum: ['a', 'b'] }, maxItems: 2 } }, required: ['answer', 'confidence'], additionalProperties: false };
  const validate = ajv.compile(schema);
  for (const enable_thinking of [false, true]) {
    const r = await client.chat.completions.create({
      model: 'tiny', messages: user('answer in JSON'), temperature: 1, seed: 11, n: 8, max_tokens: 512,
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
      chat_template_kwargs: { enable_thinking }, reasoning_budget: 16,
    } as never) as OpenAI.ChatCompletion & { mimo: { grammar: { compile_ms: number; cached: boolean } } };
    assert.equal(r.choices.length, 8);
    for (const c of r.choices) {
      assert.equal(c.finish_reason, 'stop', c.message.content ?? '');
      assert.ok(validate(JSON.parse(c.message.content!)), `${c.message.content}: ${ajv.errorsText(validate.errors)}`);
      if (enable_thinking) assert.ok(((c.message as unknown as { reasoning_content: string }).reasoning_content ?? '').length > 0, 'the reasoning stays free before the answer');
    }
    assert.equal(typeof r.mimo.grammar.compile_ms, 'number');
    assert.equal(r.mimo.grammar.cached, enable_thinking, 'the second request reuses the compiled grammar');
  }
});

test('streaming under a grammar gives the non-streaming text; a stop string still ends a constrained reply', async () => {
  const rf = { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'object', properties: { word: { type: 'string', maxLength: 8 }, n: { type: 'integer', minimum: 0, maximum: 99 } }, required: ['word', 'n'], additionalProperties: false } } };
  const args = { model: 'tiny', messages: user('stream json'), temperature: 1, seed: 21, max_tokens: 128, response_format: rf, chat_template_kwargs: { enable_thinking: false } };
  const whole = (await client.chat.completions.create(args as never)) as OpenAI.ChatCompletion;
  const stream = (await client.chat.completions.create({ ...args, stream: true } as never)) as unknown as AsyncIterable<OpenAI.ChatCompletionChunk>;
  let text = '';
  let finish: string | null = null;
  for await (const chunk of stream) for (const c of chunk.choices) {
    text += c.delta.content ?? '';
    finish = c.finish_reason ?? finish;
  }
  assert.equal(text, whole.choices[0]!.message.content);
  assert.equal(finish, 'stop');
  JSON.parse(text);
  const cut = (await client.chat.completions.create({ ...args, stop: [',"n"'] } as never)) as OpenAI.ChatCompletion;
  assert.equal(cut.choices[0]!.finish_reason, 'stop');
  assert.equal(cut.choices[0]!.message.content, text.slice(0, text.indexOf(',"n"')));
});

test('response_format json_object and structured_outputs / guided_* on chat and completions', async () => {
  const obj = await client.chat.completions.create({ model: 'tiny', messages: user('json'), temperature: 0, max_tokens: 64, response_format: { type: 'json_object' }, chat_template_kwargs: { enable_thinking: false } } as never) as OpenAI.ChatCompletion;
  const c0 = obj.choices[0]!;
  if (c0.finish_reason === 'stop') assert.equal(typeof JSON.parse(c0.message.content!), 'object');
  else assert.ok(c0.message.content!.startsWith('{'));
  const choice = await post('/v1/chat/completions', { model: 'tiny', messages: user('pick'), temperature: 1, seed: 2, n: 4, structured_outputs: { choice: ['alpha', 'beta'] }, chat_template_kwargs: { enable_thinking: false } });
  assert.equal(choice.status, 200);
  for (const c of choice.json.choices as Array<{ message: { content: string }; finish_reason: string }>) assert.ok(['alpha', 'beta'].includes(c.message.content) && c.finish_reason === 'stop', c.message.content);
  const regex = await post('/v1/completions', { model: 'tiny', prompt: 'Phone:', temperature: 1, seed: 3, n: 4, max_tokens: 32, guided_regex: '[0-9]{3}-[0-9]{4}' });
  assert.equal(regex.status, 200);
  for (const c of regex.json.choices as Array<{ text: string; finish_reason: string }>) assert.ok(/^[0-9]{3}-[0-9]{4}$/.test(c.text) && c.finish_reason === 'stop', c.text);
  const ebnf = await post('/v1/completions', { model: 'tiny', prompt: 'Answer:', temperature: 1, seed: 4, max_tokens: 32, guided_grammar: 'root ::= ("yes" | "no") "!"' });
  assert.ok(['yes!', 'no!'].includes((ebnf.json.choices as Array<{ text: string }>)[0]!.text));
  const gj = await post('/v1/completions', { model: 'tiny', prompt: 'JSON:', temperature: 1, seed: 5, max_tokens: 64, guided_json: JSON.stringify({ type: 'object', properties: { k: { type: 'boolean' } }, required: ['k'], additionalProperties: false }) });
  assert.ok(/^\{"k":(true|false)\}$/.test((gj.json.choices as Array<{ text: string }>)[0]!.text));
});

test('tool_choice "required": 30 seeded samples each give at least one call whose arguments validate', async () => {
  const bad: string[] = [];
  let calls = 0;
  await Promise.all(
    [0, 1].map(async (round) => {
      // Round 0 lets the model write several calls (it may run to max_tokens: the finished calls still count);
      // round 1 asks for one (parallel_tool_calls false).
      const r = await client.chat.completions.create({ model: 'tiny', messages: user('What is the weather in Paris?'), tools, tool_choice: 'required', temperature: 1, seed: 100 + 15 * round, n: 15, max_tokens: 256, ...(round === 1 ? { parallel_tool_calls: false } : {}) });
      for (const c of r.choices) {
        const tc = (c.message.tool_calls ?? []) as OpenAI.ChatCompletionMessageFunctionToolCall[];
        // A reply cut off by max_tokens returns its last call with the parameters written so far (the parser's
        // rule): every call before it must validate, and at least one call must.
        const complete = c.finish_reason === 'length' ? tc.slice(0, -1) : tc;
        if (complete.length === 0) bad.push(`no complete tool call (finish ${c.finish_reason}): ${JSON.stringify(c.message.content)}`);
        for (const call of complete) {
          calls++;
          const validate = ajv.compile(schemaOf[call.function.name]!);
          if (!validate(JSON.parse(call.function.arguments))) bad.push(`${call.function.name} ${call.function.arguments}: ${ajv.errorsText(validate.errors)}`);
        }
        if (c.finish_reason !== 'length' && c.finish_reason !== 'tool_calls') bad.push(`finish ${c.finish_reason}`);
      }
    }),
  );
  assert.deepEqual(bad, []);
  assert.ok(calls >= 30);
});

test('a named tool with parallel_tool_calls false gives exactly one call of that tool; strict tools under auto validate', async () => {
  const r = await client.chat.completions.create({ model: 'tiny', messages: user('search'), tools, tool_choice: { type: 'function', function: { name: 'search' } }, parallel_tool_calls: false, temperature: 1, seed: 7, n: 6, max_tokens: 256 });
  for (const c of r.choices) {
    assert.equal(c.finish_reason, 'tool_calls');
    assert.equal(c.message.tool_calls!.length, 1);
    const call = c.message.tool_calls![0]! as OpenAI.ChatCompletionMessageFunctionToolCall;
    assert.equal(call.function.name, 'search');
    assert.ok(ajv.compile(search)(JSON.parse(call.function.arguments)), call.function.arguments);
  }
  // auto + strict: calls the model chooses to make are constrained; logit_bias pushes it to open one at once.
  const strict = tools.map((t) => ({ ...t, function: { ...(t as OpenAI.ChatCompletionFunctionTool).function, strict: true } }));
  const callId = 151657; // <tool_call>
  const auto = await client.chat.completions.create({ model: 'tiny', messages: user('weather'), tools: strict, tool_choice: 'auto', temperature: 1, seed: 8, n: 4, max_tokens: 256, logit_bias: { [callId]: 100 }, chat_template_kwargs: { enable_thinking: false } } as never) as OpenAI.ChatCompletion;
  for (const c of auto.choices) {
    const tc = (c.message.tool_calls ?? []) as OpenAI.ChatCompletionMessageFunctionToolCall[];
    const complete = c.finish_reason === 'length' ? tc.slice(0, -1) : tc; // a cut-off last call is partial
    assert.ok(complete.length >= 1, JSON.stringify(c.message));
    for (const call of complete) assert.ok(ajv.compile(schemaOf[call.function.name]!)(JSON.parse(call.function.arguments)), call.function.arguments);
  }
});

test('logit_bias: +100 on a token makes greedy pick it; out-of-range ids are a 400', async () => {
  const plain = await post('/v1/completions', { model: 'tiny', prompt: 'x', temperature: 0, max_tokens: 3, logprobs: 0 });
  const r = await post('/v1/completions', { model: 'tiny', prompt: 'x', temperature: 0, max_tokens: 3, logit_bias: { '1000': 100 }, logprobs: 0 });
  assert.equal(r.status, 200);
  const tokens = (x: typeof r) => (x.json.choices as Array<{ logprobs: { tokens: string[] } }>)[0]!.logprobs.tokens;
  const biased = tokens(r);
  assert.equal(biased.length, 3);
  assert.ok(biased.every((t) => t === biased[0]), `all picks are the biased token: ${JSON.stringify(biased)}`);
  assert.notDeepEqual(tokens(plain), biased, 'without the bias greedy picks other tokens');
  const bad = await post('/v1/completions', { model: 'tiny', prompt: 'x', max_tokens: 3, logit_bias: { '99999999': 5 } });
  assert.equal(bad.status, 400);
  assert.match(JSON.stringify(bad.json), /logit_bias/);
});

test('Anthropic route: tool_choice any, 30 samples, gives valid tool_use input; output_format gives valid JSON text; budget_tokens bounds thinking', async () => {
  // 30 samples at once (the Messages API has no seed): 26 with one call each, 4 with parallel calls allowed.
  const body = { model: 'tiny', max_tokens: 512, temperature: 1, messages: [{ role: 'user', content: 'weather?' }], tools: [{ name: 'get_weather', input_schema: weather, strict: true }, { name: 'search', input_schema: search }] };
  const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => post('/v1/messages', { ...body, tool_choice: { type: 'any', disable_parallel_tool_use: i >= 4 } })));
  for (const r of replies) {
    assert.equal(r.status, 200, JSON.stringify(r.json));
    const all = (r.json.content as Array<{ type: string; name: string; input: unknown }>).filter((b) => b.type === 'tool_use');
    const uses = r.json.stop_reason === 'max_tokens' ? all.slice(0, -1) : all; // a cut-off last call is partial
    assert.ok(uses.length >= 1, JSON.stringify(r.json.content));
    for (const u of uses) assert.ok(ajv.compile(schemaOf[u.name]!)(u.input), JSON.stringify(u.input));
  }
  const schema = { type: 'object', properties: { ok: { type: 'boolean' }, n: { type: 'integer', minimum: 0, maximum: 9 } }, required: ['ok', 'n'], additionalProperties: false };
  const j = await post('/v1/messages', { model: 'tiny', max_tokens: 256, temperature: 1, messages: [{ role: 'user', content: 'json' }], output_format: { type: 'json_schema', schema }, thinking: { type: 'enabled', budget_tokens: 10 } });
  assert.equal(j.status, 200, JSON.stringify(j.json));
  const blocks = j.json.content as Array<{ type: string; text?: string; thinking?: string }>;
  const text = blocks.find((b) => b.type === 'text')!.text!;
  assert.ok(ajv.compile(schema)(JSON.parse(text)), text);
  assert.equal(j.json.stop_reason, 'end_turn');
});

test('bad schemas, grammars and regexes are 400s naming the problem; the server keeps serving', async () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { a: { type: 'strin' } } } } } }, /\/properties\/a\/type.*unknown type "strin"/],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '[a-' } } } }, /pattern.*does not compile/],
    [{ guided_grammar: 'root ::= "a" | ' }, /guided_grammar: xgrammar cannot compile it: EBNF parser error/],
    [{ guided_regex: '(?<=a)b' }, /lookbehind/],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { x: { type: 'number', maximum: 1 } } } } } }, /\/properties\/x\/maximum.*number ranges/],
    [{ response_format: { type: 'json_object' }, guided_regex: 'a' }, /only one output constraint/],
    [{ response_format: { type: 'json_object' }, tools, tool_choice: 'required' }, /cannot be combined/],
    [{ structured_outputs: { regex: 'a', choice: ['b'] } }, /exactly one of/],
    [{ response_format: { type: 'xml' } }, /response_format/],
    // 60 nested objects crash xgrammar 0.1.27 ("memory access out of bounds"): refused by the compile worker.
    [{ response_format: { type: 'json_schema', json_schema: { name: 'deep', schema: deepSchema(60) } } }, /response_format.*xgrammar cannot compile it/],
  ];
  for (const [extra, re] of cases) {
    const r = await post('/v1/chat/completions', { model: 'tiny', messages: user('x'), max_tokens: 4, ...(extra as object) });
    assert.equal(r.status, 400, JSON.stringify(extra));
    assert.match((r.json.error as { message: string }).message, re);
  }
  const ok = await client.chat.completions.create({ model: 'tiny', messages: user('still there?'), max_tokens: 32, response_format: { type: 'json_schema', json_schema: { name: 'y', schema: { type: 'object', properties: { b: { type: 'boolean' } }, required: ['b'], additionalProperties: false } } }, chat_template_kwargs: { enable_thinking: false } } as never) as OpenAI.ChatCompletion;
  assert.match(ok.choices[0]!.message.content!, /^\{"b":(true|false)\}$/);
});
