/**
 * `mimo serve --upstream`: a second `mimo serve` on loopback (tiny random-weight checkpoint) is the upstream of a
 * front server that also has its own local model; the official `openai` client talks to the front. Greedy chat and
 * completions, streaming and not, through the upstream equal what the upstream gives directly; `/v1/models`,
 * `/health` and the metric list both kinds; an upstream 400 stays a 400 in OpenAI's shape; a closed upstream gives
 * 502 naming it and its URL while the local model keeps working. A fake upstream (a small node http server) returns
 * raw MiMo text, which the front parses into reasoning_content / content / tool_calls streaming and not, exactly as
 * MiMoOutputParser does; it also checks the forwarded key and model id, /v1/messages routing, a wrong key (502), and
 * that a client going away aborts the upstream request. `--upstream` values are checked by the parser function.
 * Loops (a server whose upstream is itself, two servers pointing at each other) get one quick 502/508 instead of a
 * request storm; `/health` is 503 when nothing can be served and reports a remote id the upstream does not list;
 * `/v1/messages` to an upstream without the Messages API gives a 502 saying so.
 */
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { RequestError } from '../../src/errors.js';
import { MiMoOutputParser } from '../../src/parser/mimo-output-parser.js';
import { createRouter, type MimoRouter } from '../../src/server/app.js';
import { MAX_HOPS, parseUpstreamFlag, refuseOwnAddress, upstreamAtOwnAddress, VIA_HEADER } from '../../src/server/upstream.js';
import { decideStart, DECIDE_WINDOW_CHARS } from '../../src/server/upstream-parse.js';
import { startServer, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>;

const client = (url: string) => new OpenAI({ baseURL: `${url}/v1`, apiKey: 'unused', maxRetries: 0 });

/** A stream rebuilt as a client does: texts concatenated, tool calls assembled by index. */
async function collect(stream: AsyncIterable<Json>): Promise<{ content: string; reasoning: string; toolCalls: Array<{ id: string; name: string; arguments: string }>; finish: string | null; pieces: string[] }> {
  const out = { content: '', reasoning: '', toolCalls: [] as Array<{ id: string; name: string; arguments: string }>, finish: null as string | null, pieces: [] as string[] };
  for await (const chunk of stream) {
    const c = chunk.choices?.[0];
    if (!c) continue;
    const d = c.delta ?? {};
    if (d.content) out.pieces.push(d.content);
    if (d.reasoning_content) out.pieces.push(d.reasoning_content);
    out.content += d.content ?? '';
    out.reasoning += d.reasoning_content ?? '';
    for (const t of d.tool_calls ?? []) {
      out.toolCalls[t.index] ??= { id: '', name: '', arguments: '' };
      const call = out.toolCalls[t.index]!;
      call.id += t.id ?? '';
      call.name += t.function?.name ?? '';
      call.arguments += t.function?.arguments ?? '';
    }
    if (c.finish_reason) out.finish = c.finish_reason;
  }
  return out;
}

describe('--upstream values', () => {
  test('parse and normalise', () => {
    assert.deepEqual(parseUpstreamFlag('flash=http://10.0.0.5:30000'), { name: 'flash', url: 'http://10.0.0.5:30000/v1' });
    assert.deepEqual(parseUpstreamFlag('flash=http://h:8000/v1/'), { name: 'flash', url: 'http://h:8000/v1' });
    assert.deepEqual(parseUpstreamFlag('flash=https://h/api'), { name: 'flash', url: 'https://h/api/v1' });
    assert.deepEqual(parseUpstreamFlag('pro=http://h:8000#XiaomiMiMo/MiMo-V2.5-Pro,key=PRO_KEY', { PRO_KEY: 's3cret' }), {
      name: 'pro',
      url: 'http://h:8000/v1',
      remoteModel: 'XiaomiMiMo/MiMo-V2.5-Pro',
      apiKey: 's3cret',
    });
  });

  test('bad values are refused naming --upstream and what is wrong', () => {
    const cases: Array<[string, RegExp]> = [
      ['flash', /expected NAME=URL/],
      ['=http://h:1', /NAME/],
      ['a b=http://h:1', /NAME/],
      ['flash=', /not a URL/],
      ['flash=h:1:2', /not a URL|only http/],
      ['flash=ftp://h', /only http/],
      ['flash=http://u:p@h:1', /credentials/],
      ['flash=http://h:1/?x=1', /query/],
      ['flash=http://h:1#', /model id/],
      ['flash=http://h:1,token=X', /unknown option "token=X"/],
      ['flash=http://h:1,key=1BAD', /unknown option/],
      ['flash=http://h:1,key=MIMO_TEST_UNSET_VARIABLE', /environment variable MIMO_TEST_UNSET_VARIABLE .* is not set/],
    ];
    for (const [value, message] of cases) {
      assert.throws(
        () => parseUpstreamFlag(value, {}),
        (e: unknown) => e instanceof RequestError && e.param === '--upstream' && e.message.startsWith('--upstream: ') && message.test(e.message),
        value,
      );
    }
  });

  test('where the reasoning starts (the documented rule)', () => {
    const window = 'x'.repeat(DECIDE_WINDOW_CHARS);
    const cases: Array<[string, boolean, boolean | undefined, string]> = [
      ['', false, undefined, 'wait'],
      ['  <thi', false, undefined, 'wait'],
      ['<think>a', false, undefined, 'content'], // opened by the model: the parser opens it
      ['abc', false, undefined, 'wait'],
      ['abc', true, undefined, 'content'],
      ['abc</think>', false, undefined, 'thinking'],
      ['a <think>b</think>', true, undefined, 'content'],
      [window, false, undefined, 'content'],
      [window, false, true, 'wait'], // thinking asked for: hold until </think> or the end
      [`${window}</think>x`, false, true, 'thinking'],
      [`${window}`, true, true, 'content'],
      ['abc</think>', false, false, 'content'], // thinking off: plain
    ];
    for (const [text, ended, thinking, want] of cases) assert.equal(decideStart(text, ended, thinking), want, JSON.stringify([text.slice(0, 20), ended, thinking]));
  });
});

describe('routing to a second mimo serve', () => {
  let upstream: TestServer;
  let front: TestServer;

  before(async () => {
    upstream = await startServer();
    front = await startServer({ upstreams: [{ name: 'remote', url: upstream.url }], upstreamSettings: { healthIntervalMs: 200 } });
  });
  after(async () => {
    await front?.close();
    await upstream?.close();
  });

  const chat = { messages: [{ role: 'user' as const, content: 'Why is the sky blue?' }], max_tokens: 12, temperature: 0, seed: 3 };

  test('/v1/models, /health and the metric list the local and the upstream model', async () => {
    const models = await client(front.url).models.list();
    const byId = new Map(models.data.map((m) => [m.id, m as unknown as Json]));
    assert.deepEqual([...byId.keys()], ['tiny', 'remote']);
    assert.equal(byId.get('tiny')!.owned_by, 'mimo.ts');
    assert.equal(byId.get('remote')!.owned_by, `upstream:${upstream.url}/v1`);
    assert.deepEqual(byId.get('remote')!.mimo, { upstream: `${upstream.url}/v1`, up: true, remote_model: 'tiny' });
    const health = (await (await fetch(`${front.url}/health`)).json()) as Json;
    assert.deepEqual(health, { status: 'ok', models: ['tiny', 'remote'], upstreams: { remote: { url: `${upstream.url}/v1`, up: true, last_error: null, remote_model: 'tiny', remote_model_listed: true } } });
    const metrics = await (await fetch(`${front.url}/metrics`)).text();
    assert.match(metrics, new RegExp(`mimo_upstream_up\\{upstream="remote",url="${upstream.url}/v1"\\} 1`));
  });

  test('chat, non-streaming: through the front = the upstream directly', async () => {
    const direct = await client(upstream.url).chat.completions.create({ ...chat, model: 'tiny' });
    const via = await client(front.url).chat.completions.create({ ...chat, model: 'remote' });
    assert.equal(via.model, 'remote');
    assert.deepEqual(via.choices, direct.choices);
    // The second request of the same prompt reads the upstream's prefix cache: all but cached_tokens agree.
    const counts = (u: typeof via.usage) => ({ ...u, prompt_tokens_details: undefined });
    assert.deepEqual(counts(via.usage), counts(direct.usage));
    assert.ok(((direct.choices[0]!.message as Json).reasoning_content ?? '') + (direct.choices[0]!.message.content ?? '') !== '', 'the model wrote something');
  });

  test('chat, streaming: through the front = the upstream directly, chunk by chunk, = non-streaming', async () => {
    const direct = await collect(await client(upstream.url).chat.completions.create({ ...chat, model: 'tiny', stream: true }));
    const via = await collect(await client(front.url).chat.completions.create({ ...chat, model: 'remote', stream: true }));
    assert.deepEqual(via, direct);
    const whole = await client(front.url).chat.completions.create({ ...chat, model: 'remote' });
    assert.equal(via.content, whole.choices[0]!.message.content);
    assert.equal(via.reasoning, (whole.choices[0]!.message as Json).reasoning_content ?? '');
    assert.equal(via.finish, whole.choices[0]!.finish_reason);
  });

  test('completions, streaming and not: through the front = the upstream directly', async () => {
    const req = { prompt: 'The capital of France is', max_tokens: 10, temperature: 0 };
    const direct = await client(upstream.url).completions.create({ ...req, model: 'tiny' });
    const via = await client(front.url).completions.create({ ...req, model: 'remote' });
    assert.equal(via.model, 'remote');
    assert.deepEqual(via.choices, direct.choices);
    let text = '';
    let finish: string | null = null;
    for await (const c of await client(front.url).completions.create({ ...req, model: 'remote', stream: true })) {
      assert.equal(c.model, 'remote');
      text += c.choices[0]?.text ?? '';
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, direct.choices[0]!.text);
    assert.equal(finish, direct.choices[0]!.finish_reason);
  });

  test("an upstream 400 stays a 400 in OpenAI's shape", async () => {
    await assert.rejects(client(front.url).chat.completions.create({ ...chat, model: 'remote', temperature: 5 }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.status, 400);
      assert.equal((e.error as Json).type, 'invalid_request_error');
      assert.equal((e.error as Json).param, 'temperature');
      assert.match(e.message, /upstream 'remote': temperature/);
      return true;
    });
  });

  test('upstream down: 502 naming it and its URL; the local model keeps working', async () => {
    await upstream.close();
    await assert.rejects(client(front.url).chat.completions.create({ ...chat, model: 'remote' }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError);
      assert.equal(e.status, 502);
      assert.match(e.message, new RegExp(`upstream 'remote' at ${upstream.url}/v1 is unreachable: .*ECONNREFUSED`));
      return true;
    });
    const stream = await client(front.url).chat.completions.create({ ...chat, model: 'remote', stream: true }).catch((e: unknown) => e);
    assert.ok(stream instanceof OpenAI.APIError && stream.status === 502, 'a stream request gets the 502 before any event');
    const local = await client(front.url).chat.completions.create({ ...chat, model: 'tiny' });
    assert.equal(local.model, 'tiny');
    assert.equal(local.choices[0]!.finish_reason, 'length');
    const res = await fetch(`${front.url}/health`);
    assert.equal(res.status, 200, 'the local model still serves');
    const health = (await res.json()) as Json;
    assert.equal(health.status, 'degraded');
    assert.equal(health.upstreams.remote.up, false);
    assert.match(health.upstreams.remote.last_error, /ECONNREFUSED/);
    const models = (await (await fetch(`${front.url}/v1/models`)).json()) as Json;
    assert.deepEqual(models.data.find((m: Json) => m.id === 'remote').mimo, { upstream: `${upstream.url}/v1`, up: false, remote_model: 'tiny' });
    assert.match(await (await fetch(`${front.url}/metrics`)).text(), /mimo_upstream_up\{upstream="remote",[^}]*\} 0/);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// A fake upstream that answers with raw MiMo text (an engine launched without reasoning / tool-call parsers).

const RAW: Record<string, string> = {
  reasoning: 'The user asks 2+2. That is 4.</think>\n\nThe answer is 4.',
  tool: "I should look it up.</think>\n\nLet me check.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>",
  opened: '<think>short</think>Hello there.',
  long: `${'Reasoning at length. '.repeat(10)}</think>\n\nShort answer.`,
  plain: 'Just an answer with <b>no</b> markup at all, longer than the sixty-four characters window.',
};
const TOOLS = [{ type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } } } }];

interface FakeUpstream {
  url: string;
  requests: Array<{ path: string; headers: http.IncomingHttpHeaders; body: Json }>;
  /** Resolves when a streaming 'slow' request was closed by the front. */
  slowClosed: Promise<void>;
  close(): Promise<void>;
}

async function fakeUpstream(): Promise<FakeUpstream> {
  const requests: FakeUpstream['requests'] = [];
  let slowClosedResolve!: () => void;
  const slowClosed = new Promise<void>((r) => (slowClosedResolve = r));
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      const body = data ? (JSON.parse(data) as Json) : {};
      requests.push({ path: req.url!, headers: req.headers, body });
      const json = (status: number, obj: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(obj));
      if (req.headers.authorization !== 'Bearer s3cret') return json(401, { error: { message: 'Invalid API key', type: 'authentication_error' } });
      if (req.method === 'GET' && req.url === '/v1/models') return json(200, { object: 'list', data: [{ id: 'fake-mimo', object: 'model', max_model_len: 4096 }] });
      if (req.url === '/v1/messages') {
        // An engine that speaks only OpenAI's API (FastAPI's 404), and one that answers with a chat completion.
        if (body.model === 'openai-only') return json(404, { detail: 'Not Found' });
        if (body.model === 'odd' && body.stream) {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: 'odd', choices: [{ index: 0, delta: { content: 'hi' }, finish_reason: null }] })}\n\n`);
          return res.end('data: [DONE]\n\n');
        }
        if (body.model === 'odd') return json(200, { id: 'c', object: 'chat.completion', model: 'odd', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }] });
        return json(200, { id: 'msg_1', type: 'message', role: 'assistant', model: body.model, content: [{ type: 'text', text: 'hi' }], stop_reason: 'end_turn', usage: { input_tokens: 3, output_tokens: 1 } });
      }
      const scenario = String(body.messages?.at(-1)?.content ?? '');
      if (scenario === 'bad') return json(400, { object: 'error', message: 'max_tokens must be at least 1', type: 'BadRequestError', param: 'max_tokens', code: 400 });
      if (scenario === 'crash') return json(500, { object: 'error', message: 'CUDA out of memory', type: 'InternalServerError', code: 500 });
      const head = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1, model: body.model };
      if (scenario === 'slow') {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        const timer = setInterval(() => res.write(`data: ${JSON.stringify({ ...head, choices: [{ index: 0, delta: { content: 'tick ' }, finish_reason: null }] })}\n\n`), 20);
        res.on('close', () => {
          clearInterval(timer);
          slowClosedResolve();
        });
        return;
      }
      const text = RAW[scenario] ?? 'unknown scenario';
      if (!body.stream) {
        const message: Json = scenario === 'parsed' ? { role: 'assistant', content: 'x <tool_call> y', reasoning_content: 'done already' } : { role: 'assistant', content: text };
        return json(200, { id: 'chatcmpl-fake', object: 'chat.completion', created: 1, model: body.model, choices: [{ index: 0, message, finish_reason: 'stop' }], usage: { prompt_tokens: 5, completion_tokens: 9, total_tokens: 14 } });
      }
      // Streamed in 5-character pieces (tags split across chunks), CRLF line ends, a comment line, then [DONE].
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const send = (obj: unknown) => res.write(`data: ${JSON.stringify(obj)}\r\n\r\n`);
      res.write(': keep-alive\n\n');
      send({ ...head, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
      for (let i = 0; i < text.length; i += 5) send({ ...head, choices: [{ index: 0, delta: { content: text.slice(i, i + 5) }, finish_reason: null }] });
      send({ ...head, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
      send({ ...head, choices: [], usage: { prompt_tokens: 5, completion_tokens: 9, total_tokens: 14 } });
      res.end('data: [DONE]\n\n');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests,
    slowClosed,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** What MiMoOutputParser makes of a whole text (the local models' result). */
function parsed(text: string, startsInThinking: boolean) {
  const p = new MiMoOutputParser({ tools: TOOLS, startsInThinking, toolCallId: () => 'call_x' });
  p.push(text);
  return p.finish();
}

describe('raw MiMo text from an upstream', () => {
  let fake: FakeUpstream;
  let front: MimoRouter;
  let frontUrl: string;
  let raw: MimoRouter;
  let rawUrl: string;

  before(async () => {
    fake = await fakeUpstream();
    // Built as the CLI builds it: --model none --upstream fake=URL#fake-mimo,key=FAKE_KEY (+ one with a wrong key).
    const env = { FAKE_KEY: 's3cret', WRONG_KEY: 'nope' };
    front = await createRouter({ upstreams: [parseUpstreamFlag(`fake=${fake.url}#fake-mimo,key=FAKE_KEY`, env), parseUpstreamFlag(`wrongkey=${fake.url}/v1/,key=WRONG_KEY`, env)] });
    frontUrl = await front.app.listen({ host: '127.0.0.1', port: 0 });
    raw = await createRouter({ upstreams: [parseUpstreamFlag(`fake=${fake.url},key=FAKE_KEY`, env)], parse: false });
    rawUrl = await raw.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    // The aborted stream leaves the client's connection pool with a socket that never sent a request, which
    // the server's close would wait on until the client's keep-alive timeout: close it now.
    front?.app.server.closeAllConnections();
    await front?.close();
    await raw?.close();
    await fake?.close();
  });

  const ask = (content: string) => ({ model: 'fake', messages: [{ role: 'user' as const, content }], tools: TOOLS });

  test('the key, the remote model id and the card', async () => {
    const models = (await (await fetch(`${frontUrl}/v1/models`)).json()) as Json;
    assert.deepEqual(models.data[0], { id: 'fake', object: 'model', created: models.data[0].created, owned_by: `upstream:${fake.url}/v1`, max_model_len: 4096, mimo: { upstream: `${fake.url}/v1`, up: true, remote_model: 'fake-mimo' } });
    await client(frontUrl).chat.completions.create(ask('plain'));
    const last = fake.requests.filter((r) => r.path !== '/v1/models').at(-1)!;
    assert.equal(last.path, '/v1/chat/completions');
    assert.equal(last.headers.authorization, 'Bearer s3cret');
    assert.equal(last.body.model, 'fake-mimo');
    assert.deepEqual(last.body.tools, TOOLS, 'the body is forwarded as sent');
  });

  for (const [scenario, startsInThinking] of [['reasoning', true], ['tool', true], ['opened', false], ['plain', false]] as const) {
    test(`${scenario}: parsed like a local model's output, streaming = non-streaming`, async () => {
      const want = parsed(RAW[scenario]!, startsInThinking);
      const whole = await client(frontUrl).chat.completions.create(ask(scenario));
      const m = whole.choices[0]!.message as Json;
      assert.equal(whole.model, 'fake');
      assert.equal(m.content, want.content);
      assert.equal(m.reasoning_content ?? null, want.reasoningContent || null);
      assert.deepEqual((m.tool_calls ?? []).map((c: Json) => ({ ...c, id: 'call_x' })), want.toolCalls);
      assert.equal(whole.choices[0]!.finish_reason, want.toolCalls.length ? 'tool_calls' : 'stop');
      const s = await collect(await client(frontUrl).chat.completions.create({ ...ask(scenario), stream: true }));
      assert.equal(s.content, want.content);
      assert.equal(s.reasoning, want.reasoningContent);
      assert.deepEqual(s.toolCalls.map((c) => ({ id: 'call_x', type: 'function', function: { name: c.name, arguments: c.arguments } })), want.toolCalls);
      assert.equal(s.finish, whole.choices[0]!.finish_reason);
    });
  }

  test('reasoning longer than the window: parsed when the request turns thinking on; else (documented) it stays content', async () => {
    const want = parsed(RAW.long!, true);
    const thinking = { ...ask('long'), stream: true as const, chat_template_kwargs: { enable_thinking: true } } as Json;
    const s = await collect((await client(frontUrl).chat.completions.create(thinking as OpenAI.ChatCompletionCreateParamsStreaming)) as AsyncIterable<Json>);
    assert.equal(s.reasoning, want.reasoningContent);
    assert.equal(s.content, 'Short answer.');
    const whole = await client(frontUrl).chat.completions.create(ask('long'));
    assert.equal((whole.choices[0]!.message as Json).reasoning_content, want.reasoningContent, 'non-streaming sees the whole text');
    const unhinted = await collect(await client(frontUrl).chat.completions.create({ ...ask('long'), stream: true }));
    assert.equal(unhinted.content, RAW.long, `no </think> in the first ${DECIDE_WINDOW_CHARS} characters: plain content`);
  });

  test('tool call arguments are typed by the schema', async () => {
    const whole = await client(frontUrl).chat.completions.create(ask('tool'));
    const call = whole.choices[0]!.message.tool_calls![0]! as Json;
    assert.equal(call.function.name, 'get_weather');
    assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris', days: 3 });
    assert.equal(whole.choices[0]!.message.content, 'Let me check.');
    assert.equal((whole.choices[0]!.message as Json).reasoning_content, 'I should look it up.');
  });

  test('an answer the upstream parsed already is left as it is', async () => {
    const whole = await client(frontUrl).chat.completions.create(ask('parsed'));
    assert.equal(whole.choices[0]!.message.content, 'x <tool_call> y');
    assert.equal((whole.choices[0]!.message as Json).reasoning_content, 'done already');
  });

  test('--no-parse passes the raw text through, streaming and not', async () => {
    const whole = await client(rawUrl).chat.completions.create(ask('tool'));
    assert.equal(whole.choices[0]!.message.content, RAW.tool);
    assert.equal(whole.choices[0]!.message.tool_calls, undefined);
    const s = await collect(await client(rawUrl).chat.completions.create({ ...ask('tool'), stream: true }));
    assert.equal(s.content, RAW.tool);
    assert.equal(s.reasoning, '');
    assert.ok(s.pieces.length > 10, 'passed chunk by chunk');
  });

  test('upstream errors: 400 kept with its message and param; 500 and a refused key → 502 naming the upstream', async () => {
    await assert.rejects(client(frontUrl).chat.completions.create(ask('bad')), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.equal(e.message, "400 upstream 'fake': max_tokens must be at least 1");
      assert.deepEqual(e.error, { message: "upstream 'fake': max_tokens must be at least 1", type: 'BadRequestError', param: 'max_tokens', code: '400' });
      return true;
    });
    await assert.rejects(client(frontUrl).chat.completions.create(ask('crash')), (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError && e.status === 502);
      assert.equal((e.error as Json).message, `upstream 'fake' at ${fake.url}/v1 failed: HTTP 500: CUDA out of memory`);
      return true;
    });
    await assert.rejects(client(frontUrl).chat.completions.create({ ...ask('plain'), model: 'wrongkey' }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.APIError && e.status === 502);
      assert.match((e.error as Json).message, /upstream 'wrongkey' at .* refused this server's credentials \(HTTP 401: Invalid API key\)/);
      return true;
    });
    const res = await fetch(`${frontUrl}/health`);
    assert.equal(res.status, 200, "'fake' is up");
    const health = (await res.json()) as Json;
    assert.equal(health.status, 'degraded');
    assert.equal(health.upstreams.fake.up, true);
    assert.equal(health.upstreams.fake.remote_model_listed, true);
    assert.equal(health.upstreams.wrongkey.up, false);
    assert.match(health.upstreams.wrongkey.last_error, /HTTP 401/);
  });

  test('/v1/messages routes by model too (Anthropic headers forwarded, model renamed)', async () => {
    const res = await fetch(`${frontUrl}/v1/messages`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'anthropic-version': '2023-06-01' },
      body: JSON.stringify({ model: 'fake', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Json;
    assert.equal(body.model, 'fake');
    assert.deepEqual(body.content, [{ type: 'text', text: 'hi' }]);
    const last = fake.requests.filter((r) => r.path !== '/v1/models').at(-1)!;
    assert.equal(last.path, '/v1/messages');
    assert.equal(last.headers['anthropic-version'], '2023-06-01');
    assert.equal(last.body.model, 'fake-mimo');
    const unknown = await fetch(`${frontUrl}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }) });
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as Json).error.message, /serves: fake, wrongkey/);
  });

  test('a client that goes away aborts the upstream request', async () => {
    const abort = new AbortController();
    const stream = await client(frontUrl).chat.completions.create({ ...ask('slow'), stream: true }, { signal: abort.signal });
    let got = 0;
    // The SDK ends the iteration quietly once aborted.
    for await (const c of stream) {
      if (c.choices[0]?.delta.content) got++;
      if (got === 3) abort.abort();
    }
    assert.equal(got, 3);
    const closed = await Promise.race([fake.slowClosed.then(() => true), new Promise((r) => setTimeout(() => r(false), 3000))]);
    assert.ok(closed, 'the fake upstream saw its request closed');
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Loops, /health, unlisted remote ids, upstreams without the Messages API.

/** A free loopback port (bound and released), for a server that must know its port before it listens. */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** POSTs a listening router's HTTP server saw. */
function countPosts(router: MimoRouter): { n: number } {
  const seen = { n: 0 };
  router.app.server.on('request', (req: http.IncomingMessage) => {
    if (req.method === 'POST') seen.n++;
  });
  return seen;
}

const post = (url: string, path: string, body: Json, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

describe('upstream loops', () => {
  const routers: MimoRouter[] = [];
  after(async () => {
    for (const r of routers) {
      r.app.server.closeAllConnections();
      await r.close();
    }
  });
  /** A --model none router whose upstreams may point at servers not listening yet, listening on `port`. */
  const router = async (port: number, upstreams: string[]) => {
    const r = await createRouter({ upstreams: upstreams.map((u) => parseUpstreamFlag(u, { FAKE_KEY: 's3cret' })), upstreamSettings: { healthIntervalMs: 60_000, log: () => {} } });
    routers.push(r);
    const url = await r.app.listen({ host: '127.0.0.1', port });
    return { r, url };
  };
  const hello = (model: string) => ({ model, max_tokens: 4, messages: [{ role: 'user', content: 'hi' }] });

  test('an upstream that is the server itself: one quick 502, no storm, /health keeps answering (503: nothing to serve)', async () => {
    const port = await freePort();
    const { r, url } = await router(port, [`self=http://127.0.0.1:${port}`]);
    const seen = countPosts(r);
    const t0 = Date.now();
    const res = await post(url, '/v1/chat/completions', hello('self'));
    const ms = Date.now() - t0;
    assert.equal(res.status, 502);
    const body = (await res.json()) as Json;
    assert.equal(body.error.code, 'upstream_loop');
    assert.match(body.error.message, new RegExp(`^upstream loop: upstream 'self' at http://127.0.0.1:${port}/v1 leads back to a server this request already passed through: loop detected: .*servers it passed through: (\\w+) → \\1\\.`));
    assert.ok(ms < 2000, `answered in ${ms} ms`);
    assert.ok(seen.n <= 3, `the server saw ${seen.n} POSTs`);
    assert.equal(seen.n, 2, 'the request and its one looped copy');
    // Streaming and Anthropic requests: the same 502, before any event; in Anthropic's shape on /v1/messages.
    const stream = await post(url, '/v1/chat/completions', { ...hello('self'), stream: true });
    assert.equal(stream.status, 502);
    assert.equal(((await stream.json()) as Json).error.code, 'upstream_loop');
    const anthropic = await post(url, '/v1/messages', hello('self'));
    assert.equal(anthropic.status, 502);
    const ab = (await anthropic.json()) as Json;
    assert.equal(ab.type, 'error');
    assert.equal(ab.error.type, 'api_error');
    assert.match(ab.error.message, /^upstream loop: /);
    assert.equal(seen.n, 6);
    const health = await fetch(`${url}/health`);
    assert.equal(health.status, 503);
    const hb = (await health.json()) as Json;
    assert.equal(hb.status, 'unavailable');
    assert.equal(hb.upstreams.self.up, false);
    assert.match(hb.upstreams.self.last_error, /^upstream loop: /);
    await r.context.upstreams.get('self')!.check();
    assert.equal(r.context.upstreams.get('self')!.up, false, 'a health check that answers does not hide the loop');
  });

  test('two servers pointing at each other: one 502 naming both, at most 3 requests in all', async () => {
    const [pa, pb] = [await freePort(), await freePort()];
    const a = await router(pa, [`x=http://127.0.0.1:${pb}`]);
    const b = await router(pb, [`x=http://127.0.0.1:${pa}`]);
    const [sa, sb] = [countPosts(a.r), countPosts(b.r)];
    const res = await post(a.url, '/v1/chat/completions', hello('x'));
    assert.equal(res.status, 502);
    const message = ((await res.json()) as Json).error.message as string;
    assert.match(message, new RegExp(`^upstream loop: upstream 'x' at http://127.0.0.1:${pb}/v1 → upstream 'x' at http://127.0.0.1:${pa}/v1 leads back`));
    assert.ok(message.includes(`${a.r.context.instanceId} → ${b.r.context.instanceId} → ${a.r.context.instanceId}`), message);
    assert.ok(sa.n + sb.n <= 3, `${sa.n} + ${sb.n} POSTs`);
  });

  test("a request carrying this server's id is refused with 508 (OpenAI shape; Anthropic's on /v1/messages), as is a chain too long", async () => {
    const fake = await fakeUpstream();
    try {
      const { r, url } = await router(0, [`f=${fake.url}#fake-mimo,key=FAKE_KEY`]);
      const id = r.context.instanceId;
      const before = fake.requests.length;
      const res = await post(url, '/v1/chat/completions', hello('f'), { [VIA_HEADER]: `aaaa, ${id}` });
      assert.equal(res.status, 508);
      const body = (await res.json()) as Json;
      assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message', 'param', 'type']);
      assert.equal(body.error.code, 'loop_detected');
      assert.match(body.error.message, new RegExp(`servers it passed through: aaaa → ${id} → ${id}\\.`));
      const m = await post(url, '/v1/messages', hello('f'), { [VIA_HEADER]: id });
      assert.equal(m.status, 508);
      const mb = (await m.json()) as Json;
      assert.equal(mb.type, 'error');
      assert.equal(mb.error.type, 'api_error');
      assert.match(mb.error.message, /^loop detected: /);
      const long = await post(url, '/v1/chat/completions', hello('f'), { [VIA_HEADER]: Array.from({ length: MAX_HOPS }, (_, i) => `s${i}`).join(',') });
      assert.equal(long.status, 508);
      assert.equal(fake.requests.length, before, 'nothing was forwarded');
      // A request that did not loop goes on, with this server's id appended to x-mimo-via.
      const ok = await post(url, '/v1/chat/completions', { ...hello('f'), messages: [{ role: 'user', content: 'plain' }] }, { [VIA_HEADER]: 'aaaa' });
      assert.equal(ok.status, 200);
      assert.equal(fake.requests.at(-1)!.headers[VIA_HEADER], `aaaa,${id}`);
    } finally {
      await fake.close();
    }
  });

  test("an --upstream at the server's own listen address is refused at start-up", () => {
    const u = (url: string) => [parseUpstreamFlag(`me=${url}`, {})];
    assert.equal(upstreamAtOwnAddress(u('http://127.0.0.1:8080'), '127.0.0.1', 8080)?.name, 'me');
    assert.equal(upstreamAtOwnAddress(u('http://localhost:8080/v1'), '127.0.0.1', 8080)?.name, 'me');
    assert.equal(upstreamAtOwnAddress(u('http://127.0.0.1:8080'), '0.0.0.0', 8080)?.name, 'me');
    assert.equal(upstreamAtOwnAddress(u('http://[::1]:8080'), '::', 8080)?.name, 'me');
    assert.equal(upstreamAtOwnAddress(u('http://127.0.0.1:8081'), '127.0.0.1', 8080), undefined);
    assert.equal(upstreamAtOwnAddress(u('http://10.1.2.3:8080'), '127.0.0.1', 8080), undefined, 'another host');
    assert.equal(upstreamAtOwnAddress(u('http://127.0.0.1:80'), '127.0.0.1', 0), undefined, 'port 0: not known yet');
    assert.equal(upstreamAtOwnAddress(u('http://127.0.0.1'), '127.0.0.1', 80)?.name, 'me', 'default port');
    assert.throws(
      () => refuseOwnAddress(u('http://127.0.0.1:8080'), '127.0.0.1', 8080),
      (e: unknown) => e instanceof RequestError && e.param === '--upstream' && /'me' points at this server itself/.test(e.message),
    );
    assert.doesNotThrow(() => refuseOwnAddress(u('http://127.0.0.1:9000'), '127.0.0.1', 8080));
  });
});

describe('/health, unlisted remote ids, upstreams without the Messages API', () => {
  let fake: FakeUpstream;
  let front: MimoRouter;
  let url: string;
  const logged: string[] = [];

  before(async () => {
    fake = await fakeUpstream();
    const env = { FAKE_KEY: 's3cret' };
    const ups = ['listed=URL#fake-mimo', 'unlisted=URL#not-served-here', 'oai=URL#openai-only', 'odd=URL#odd'].map((u) => parseUpstreamFlag(`${u.replace('URL', fake.url)},key=FAKE_KEY`, env));
    front = await createRouter({ upstreams: ups, upstreamSettings: { healthIntervalMs: 60_000, log: (line) => logged.push(line) } });
    url = await front.app.listen({ host: '127.0.0.1', port: 0 });
  });
  after(async () => {
    front?.app.server.closeAllConnections();
    await front?.close();
    await fake?.close();
  });

  test('an upstream that does not list its remote id: up, remote_model_listed false, one line logged at start', async () => {
    const res = await fetch(`${url}/health`);
    assert.equal(res.status, 200);
    const health = (await res.json()) as Json;
    assert.equal(health.status, 'ok');
    assert.deepEqual(health.upstreams.listed, { url: `${fake.url}/v1`, up: true, last_error: null, remote_model: 'fake-mimo', remote_model_listed: true });
    assert.deepEqual(health.upstreams.unlisted, { url: `${fake.url}/v1`, up: true, last_error: null, remote_model: 'not-served-here', remote_model_listed: false });
    const about = logged.filter((l) => l.includes("'unlisted'"));
    assert.equal(about.length, 1, logged.join('\n'));
    assert.match(about[0]!, new RegExp(`^mimo serve: upstream 'unlisted': ${fake.url}/v1/models does not list model 'not-served-here' \\(it lists: fake-mimo\\); .*may accept it`));
    await front.context.upstreams.get('unlisted')!.check();
    assert.equal(logged.filter((l) => l.includes("'unlisted'")).length, 1, 'logged once, not at every check');
  });

  test('/v1/messages to an upstream that speaks only OpenAI: 502 in Anthropic shape pointing at /v1/chat/completions', async () => {
    for (const stream of [false, true]) {
      const res = await post(url, '/v1/messages', { model: 'oai', max_tokens: 8, stream, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(res.status, 502, `stream: ${stream}`);
      const body = (await res.json()) as Json;
      assert.equal(body.type, 'error');
      assert.equal(body.error.type, 'api_error');
      assert.equal(body.error.message, `upstream 'oai' at ${fake.url}/v1 does not serve the Anthropic Messages API (/v1/messages): it answered HTTP 404: Not Found. Use /v1/chat/completions for model 'oai'`);
    }
    const chat = await client(url).chat.completions.create({ model: 'oai', messages: [{ role: 'user', content: 'plain' }] });
    assert.equal(chat.model, 'oai', 'chat completions for that model work');
  });

  test('/v1/messages answered with something that is not an Anthropic message: 502 saying so', async () => {
    const res = await post(url, '/v1/messages', { model: 'odd', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(res.status, 502);
    const body = (await res.json()) as Json;
    assert.equal(body.type, 'error');
    assert.match(body.error.message, /^upstream 'odd' at .* does not serve the Anthropic Messages API \(\/v1\/messages\): it answered with JSON that is not an Anthropic message \(no "type": "message"\): \{"id":"c","object":"chat.completion".*Use \/v1\/chat\/completions for model 'odd'$/);
    // Streaming: the headers are sent already, so an Anthropic error event ends the stream.
    const s = await post(url, '/v1/messages', { model: 'odd', max_tokens: 8, stream: true, messages: [{ role: 'user', content: 'hi' }] });
    assert.equal(s.status, 200);
    const text = await s.text();
    const events = text.split('\n\n').filter(Boolean);
    assert.equal(events.length, 1, text);
    assert.match(events[0]!, /^event: error\ndata: \{"type":"error","error":\{"type":"api_error","message":"upstream 'odd' at .* does not serve the Anthropic Messages API .*streamed events that are not Anthropic Messages API events/);
  });

  test('an upstream 404 naming the model on /v1/messages stays a 404', async () => {
    // A mimo serve that does not serve the id answers 404 "The model … does not exist": not a missing route.
    const other = await createRouter({ upstreams: [parseUpstreamFlag(`oai=${fake.url}#openai-only,key=FAKE_KEY`, { FAKE_KEY: 's3cret' })], upstreamSettings: { log: () => {} } });
    const otherUrl = await other.app.listen({ host: '127.0.0.1', port: 0 });
    const chained = await createRouter({ upstreams: [parseUpstreamFlag(`m=${otherUrl}#nope`, {})], upstreamSettings: { log: () => {} } });
    const chainedUrl = await chained.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const res = await post(chainedUrl, '/v1/messages', { model: 'm', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] });
      assert.equal(res.status, 404);
      assert.match(((await res.json()) as Json).error.message, /^upstream 'm': The model 'nope' does not exist/);
    } finally {
      await chained.close();
      other.app.server.closeAllConnections();
      await other.close();
    }
  });

  test('/health is 503 when nothing can be served (no local model, every upstream down)', async () => {
    const port = await freePort();
    const down = await createRouter({ upstreams: [parseUpstreamFlag(`gone=http://127.0.0.1:${port}`, {}), parseUpstreamFlag(`gone2=http://127.0.0.1:${port}/v1`, {})], upstreamSettings: { log: () => {} } });
    const downUrl = await down.app.listen({ host: '127.0.0.1', port: 0 });
    try {
      const res = await fetch(`${downUrl}/health`);
      assert.equal(res.status, 503);
      const body = (await res.json()) as Json;
      assert.equal(body.status, 'unavailable');
      assert.deepEqual(body.models, ['gone', 'gone2']);
      assert.equal(body.upstreams.gone.up, false);
      assert.equal(body.upstreams.gone.remote_model_listed, null);
      assert.match(body.upstreams.gone.last_error, /ECONNREFUSED/);
    } finally {
      await down.close();
    }
  });
});
