/**
 * The prefix cache through `mimo serve`: multi-turn chats (thinking off; thinking on with the reasoning echoed
 * back; thinking on without it) give bitwise the same tokens and log-probabilities with the cache as with
 * `--no-prefix-cache`, while later turns report cached tokens; Anthropic's three input fields sum to the prompt;
 * /metrics counts hits; POST /v1/cache/reset empties it (behind the API key); cache_salt isolates.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type TestServer } from '../helpers/server.js';

let cached: TestServer;
let plain: TestServer;
const KEY = 'sk-test';

before(async () => {
  [cached, plain] = await Promise.all([
    startServer({ backend: 'ts', apiKey: KEY, cacheCheckpointEvery: 32 }),
    startServer({ backend: 'ts', apiKey: KEY, prefixCache: false }),
  ]);
});
after(async () => {
  await cached.close();
  await plain.close();
});

async function post(s: TestServer, path: string, body: unknown): Promise<{ status: number; json: Record<string, any> }> {
  const res = await fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, any> };
}

interface Msg {
  role: string;
  content: string;
  reasoning_content?: string;
}

async function chat(s: TestServer, messages: Msg[], extra: Record<string, unknown>) {
  const r = await post(s, '/v1/chat/completions', { model: 'tiny', messages, max_tokens: 8, temperature: 0, logprobs: true, ...extra });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  const choice = r.json.choices[0];
  return { message: choice.message, logprobs: choice.logprobs.content.map((c: { logprob: number }) => c.logprob), usage: r.json.usage, stats: r.json.mimo.stats[0] };
}

for (const mode of ['thinking off', 'thinking on, reasoning echoed', 'thinking on, reasoning dropped'] as const) {
  test(`multi-turn chat (${mode}): same tokens and log-probabilities as --no-prefix-cache, later turns cached`, async () => {
    const extra = { chat_template_kwargs: { enable_thinking: mode !== 'thinking off' }, cache_salt: mode };
    const history: Msg[] = [{ role: 'system', content: 'You are a terse assistant. '.repeat(8) }];
    for (let turn = 0; turn < 4; turn++) {
      history.push({ role: 'user', content: `question ${turn}: ${'why '.repeat(turn + 3)}?` });
      const [a, b] = await Promise.all([chat(cached, history, extra), chat(plain, history, extra)]);
      assert.deepEqual(a.message, b.message, `turn ${turn}: message`);
      assert.deepEqual(a.logprobs, b.logprobs, `turn ${turn}: log-probabilities (bitwise)`);
      assert.equal(b.usage.prompt_tokens_details.cached_tokens, 0, '--no-prefix-cache caches nothing');
      const got = a.usage.prompt_tokens_details.cached_tokens;
      assert.equal(a.stats.prefilled_tokens, a.usage.prompt_tokens - got, 'prefilled = prompt − cached');
      if (turn > 0) assert.ok(got > 0, `turn ${turn} reused the earlier turns (cached_tokens ${got} of ${a.usage.prompt_tokens})`);
      const echoed: Msg = { role: 'assistant', content: a.message.content ?? '' };
      if (mode === 'thinking on, reasoning echoed' && a.message.reasoning_content) echoed.reasoning_content = a.message.reasoning_content;
      history.push(echoed);
    }
  });
}

test('Anthropic usage: cache_read + cache_creation + input = the prompt; count_tokens agrees', async () => {
  const body = { model: 'tiny', max_tokens: 4, temperature: 0, system: 'Stay brief. '.repeat(10), messages: [{ role: 'user', content: 'hello there' }], cache_salt: 'anthropic' };
  const first = await post(cached, '/v1/messages', body);
  assert.equal(first.status, 200, JSON.stringify(first.json));
  const count = await post(cached, '/v1/messages/count_tokens', { model: 'tiny', system: body.system, messages: body.messages });
  const sum = (u: Record<string, number>) => u.input_tokens! + u.cache_creation_input_tokens! + u.cache_read_input_tokens!;
  assert.equal(sum(first.json.usage), count.json.input_tokens);
  assert.equal(first.json.usage.cache_read_input_tokens, 0);
  assert.ok(first.json.usage.cache_creation_input_tokens > 0, 'the prompt was added to the cache');
  const next = { ...body, messages: [...body.messages, { role: 'assistant', content: 'hi' }, { role: 'user', content: 'again' }] };
  const second = await post(cached, '/v1/messages', next);
  const count2 = await post(cached, '/v1/messages/count_tokens', { model: 'tiny', system: next.system, messages: next.messages });
  assert.equal(sum(second.json.usage), count2.json.input_tokens);
  assert.ok(second.json.usage.cache_read_input_tokens > 0, 'the second turn read the cache');
});

test('/metrics counts prefix-cache hits; cache_salt isolates; /v1/cache/reset needs the key and empties the cache', async () => {
  const metric = async (name: string) => {
    const text = await (await fetch(`${cached.url}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes('model="tiny"'));
    assert.ok(line, `metrics lack ${name}`);
    return Number(line.split(' ').pop());
  };
  const messages: Msg[] = [{ role: 'user', content: 'isolate me '.repeat(12) }];
  const hits0 = await metric('mimo_prefix_cache_hit_tokens_total');
  await chat(cached, messages, { cache_salt: 'a' });
  const more = [...messages, { role: 'assistant', content: 'ok' }, { role: 'user', content: 'next' }];
  assert.equal((await chat(cached, more, { cache_salt: 'b' })).usage.prompt_tokens_details.cached_tokens, 0, 'another salt misses');
  assert.equal((await chat(cached, more, { cache_salt: 'a', cache: false })).usage.prompt_tokens_details.cached_tokens, 0, 'cache: false bypasses');
  const hit = (await chat(cached, more, { cache_salt: 'a', prompt_cache_key: 'ignored' })).usage.prompt_tokens_details.cached_tokens;
  assert.ok(hit > 0);
  assert.equal((await metric('mimo_prefix_cache_hit_tokens_total')) - hits0, hit);
  assert.ok((await metric('mimo_prefix_cache_ram_bytes')) > 0);
  assert.ok((await metric('mimo_prefix_cache_entries')) > 0);
  const denied = await fetch(`${cached.url}/v1/cache/reset`, { method: 'POST' });
  assert.equal(denied.status, 401);
  const reset = await post(cached, '/v1/cache/reset', {});
  assert.equal(reset.status, 200);
  assert.deepEqual(reset.json.models, ['tiny']);
  assert.equal(await metric('mimo_prefix_cache_ram_bytes'), 0);
  assert.equal((await chat(cached, more, { cache_salt: 'a' })).usage.prompt_tokens_details.cached_tokens, 0, 'reset emptied the cache');
});

test('a server restarted on the same --cache-dir resumes the conversation from disk', async () => {
  const fs = await import('node:fs');
  const os = await import('node:os');
  const path = await import('node:path');
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-serve-cache-'));
  const history: Msg[] = [{ role: 'system', content: 'Resume me later. '.repeat(10) }, { role: 'user', content: 'first question' }];
  const first = await startServer({ backend: 'ts', apiKey: KEY, cacheDir });
  const a = await chat(first, history, { chat_template_kwargs: { enable_thinking: false } });
  await first.close(); // writes every entry to the directory
  history.push({ role: 'assistant', content: a.message.content }, { role: 'user', content: 'second question' });
  const second = await startServer({ backend: 'ts', apiKey: KEY, cacheDir });
  try {
    const [b, c] = await Promise.all([chat(second, history, { chat_template_kwargs: { enable_thinking: false } }), chat(plain, history, { chat_template_kwargs: { enable_thinking: false } })]);
    assert.deepEqual(b.message, c.message);
    assert.deepEqual(b.logprobs, c.logprobs, 'bitwise after the restart');
    assert.ok(b.usage.prompt_tokens_details.cached_tokens > 0, 'restored from disk');
  } finally {
    await second.close();
  }
});

test('n > 1 through the server: one prefill, each choice bitwise the n = 1 request with its seed; /metrics shows the page pools', async () => {
  for (const s of [cached, plain]) {
    const messages = [{ role: 'user', content: 'tell me three things '.repeat(6) }];
    const body = { model: 'tiny', messages, max_tokens: 6, temperature: 1, logprobs: true, cache_salt: 'n>1' };
    const many = await post(s, '/v1/chat/completions', { ...body, n: 3, seed: 40 });
    assert.equal(many.status, 200, JSON.stringify(many.json));
    const prompt = many.json.usage.prompt_tokens as number;
    const cachedTokens = many.json.usage.prompt_tokens_details.cached_tokens as number;
    assert.deepEqual(many.json.mimo.stats.map((x: { prefilled_tokens: number }) => x.prefilled_tokens), [prompt - cachedTokens, 0, 0], 'choices 1 and 2 prefilled nothing');
    for (let i = 0; i < 3; i++) {
      const one = await post(s, '/v1/chat/completions', { ...body, seed: 40 + i, cache: false });
      const c = many.json.choices[i];
      assert.deepEqual(c.message, one.json.choices[0].message, `choice ${i}: message`);
      assert.deepEqual(c.logprobs.content.map((e: { logprob: number }) => e.logprob), one.json.choices[0].logprobs.content.map((e: { logprob: number }) => e.logprob), `choice ${i}: log-probabilities (bitwise)`);
    }
  }
  const text = await (await fetch(`${cached.url}/metrics`, { headers: { authorization: `Bearer ${KEY}` } })).text();
  for (const name of ['mimo_kv_pages', 'mimo_kv_page_bytes', 'mimo_kv_page_refs', 'mimo_kv_page_copies_total']) assert.match(text, new RegExp(`^${name}\\{model="tiny"\\} \\d+`, 'm'), `metrics lack ${name}`);
  const copies = Number(/^mimo_kv_page_copies_total\{model="tiny"\} (\d+)/m.exec(text)![1]);
  assert.ok(copies >= 2, `the two followers copied the shared partial last page on their first write (${copies} copies)`);
});
