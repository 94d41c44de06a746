/**
 * `mimo serve`'s per-request log line (issue 14): method, path, status, the request's tokens, TTFT and duration, in
 * text or one JSON object per line — the token counts equal the response's usage, streamed or not — and prom-client's
 * process metrics (memory, CPU, event-loop lag) in `/metrics`.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, type TestServer } from '../helpers/server.js';

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('per-request log and process metrics', () => {
  let s: TestServer;
  let client: OpenAI;
  const lines: string[] = [];
  before(async () => {
    s = await startServer({ backend: 'ts', requestLog: { format: 'json', log: (l) => lines.push(l) } });
    client = new OpenAI({ baseURL: `${s.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  after(() => s.close());

  /** The log line of the request made by `fn` (lines are written when the response closes). */
  async function logOf(fn: () => Promise<unknown>): Promise<Json> {
    const before = lines.length;
    await fn();
    for (let i = 0; i < 50 && lines.length === before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(lines.length, before + 1, lines.slice(before).join('\n'));
    return JSON.parse(lines.at(-1)!) as Json;
  }

  it('a chat completion: tokens as in usage, TTFT and duration', async () => {
    let usage: Json = {};
    const line = await logOf(async () => {
      usage = (await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5, temperature: 0, n: 2 })).usage as Json;
    });
    assert.equal(line.method, 'POST');
    assert.equal(line.path, '/v1/chat/completions');
    assert.equal(line.status, 200);
    assert.equal(line.model, 'tiny');
    assert.equal(line.prompt_tokens, usage.prompt_tokens);
    assert.equal(line.completion_tokens, usage.completion_tokens);
    assert.ok(line.ttft_ms > 0 && line.ttft_ms <= line.duration_ms, JSON.stringify(line));
    assert.ok(!Number.isNaN(Date.parse(line.time)));
  });

  it('a streamed completion and an error are logged too', async () => {
    let completion = 0;
    const line = await logOf(async () => {
      const stream = await client.completions.create({ model: 'tiny', prompt: 'Once', max_tokens: 4, temperature: 0, stream: true, stream_options: { include_usage: true } });
      for await (const c of stream) if (c.usage) completion = c.usage.completion_tokens;
    });
    assert.equal(line.path, '/v1/completions');
    assert.equal(line.completion_tokens, completion);
    const bad = await logOf(() => fetch(`${s.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":"tiny"}' }));
    assert.equal(bad.status, 400);
    assert.equal(bad.prompt_tokens, undefined, 'nothing was generated');
    const health = await logOf(() => fetch(`${s.url}/health`).then((r) => r.text()));
    assert.deepEqual(Object.keys(health), ['time', 'method', 'path', 'status', 'duration_ms']);
  });

  it('/metrics carries the process metrics of prom-client\'s default collectors', async () => {
    const text = await (await fetch(`${s.url}/metrics`)).text();
    for (const name of ['process_resident_memory_bytes', 'process_cpu_user_seconds_total', 'nodejs_eventloop_lag_seconds', 'nodejs_heap_size_used_bytes', 'mimo_requests_total']) {
      assert.match(text, new RegExp(`^${name}(\\{[^}]*\\})? \\d`, 'm'), `${name} missing`);
    }
  });

  it('the text format is one readable line', async () => {
    const t = await startServer({ backend: 'ts', requestLog: { format: 'text', log: (l) => lines.push(l) } });
    try {
      const before = lines.length;
      const r = await fetch(`${t.url}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', prompt: 'Once', max_tokens: 3, temperature: 0 }) });
      const usage = ((await r.json()) as Json).usage;
      for (let i = 0; i < 50 && lines.length === before; i++) await new Promise((res) => setTimeout(res, 10));
      assert.match(lines.at(-1)!, new RegExp(`^mimo serve: POST /v1/completions 200 tiny prompt ${usage.prompt_tokens} tok, completion 3 tok, TTFT [\\d.]+ ms, [\\d.]+ ms$`));
    } finally {
      await t.close();
    }
  });
});
