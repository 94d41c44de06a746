/**
 * A multi-megabyte prompt is tokenized off the event loop (issue 14): while a 4 MB prompt is being tokenized,
 * `/health` keeps answering within 100 ms. Also: the worker's ids equal the tokenizer's own.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AsyncEncoder } from '../../src/tokenizer/async-encoder.js';
import { startServer, type TestServer } from '../helpers/server.js';

let s: TestServer;
before(async () => {
  s = await startServer({ backend: 'ts', maxBody: 16 * 1024 * 1024 });
});
after(() => s.close());

/** About `bytes` of ASCII prose with newlines (≈ 3 characters per token). */
const bigText = (bytes: number) => 'The quick brown fox jumps over the lazy dog; 12345 6789.\n'.repeat(Math.ceil(bytes / 57)).slice(0, bytes);

/** POST `body` to `path` and poll /health every 10 ms until it answers; the slowest /health and how many ran. */
async function healthDuring(path: string, body: unknown): Promise<{ status: number; message: string; slowestMs: number; polls: number }> {
  let done = false;
  const req = fetch(`${s.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(async (r) => {
    done = true;
    return { status: r.status, message: JSON.stringify(await r.json()) };
  });
  let slowestMs = 0;
  let polls = 0;
  while (!done) {
    const t0 = performance.now();
    const h = await fetch(`${s.url}/health`);
    await h.text();
    const ms = performance.now() - t0;
    if (!done) {
      polls++;
      slowestMs = Math.max(slowestMs, ms);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  return { ...(await req), slowestMs, polls };
}

describe('tokenizing a large prompt', () => {
  it('the worker gives the same ids as the tokenizer', async () => {
    const tok = s.server.engine.tokenizer!;
    const enc = new AsyncEncoder(tok, 10);
    try {
      for (const text of ['short', bigText(200_000) + ' 天空是蓝色的 <|im_end|> <think>', '']) assert.deepEqual(await enc.encode(text), tok.encode(text));
    } finally {
      await enc.close();
    }
  });

  for (const [path, body] of [
    ['/v1/completions', (text: string) => ({ model: 'tiny', prompt: text, max_tokens: 1 })],
    ['/v1/chat/completions', (text: string) => ({ model: 'tiny', messages: [{ role: 'user', content: text }], max_tokens: 1 })],
  ] as const) {
    it(`${path}: /health answers within 100 ms while a 4 MB prompt is tokenized`, async (t) => {
      const r = await healthDuring(path, body(bigText(4_000_000)));
      t.diagnostic(`slowest /health ${r.slowestMs.toFixed(1)} ms over ${r.polls} polls`);
      // The prompt is tokenized in full, then refused: ~1.2M tokens exceed the tiny model's context.
      assert.equal(r.status, 400, r.message);
      assert.match(r.message, /\d{6,} tokens do not fit the context length/);
      assert.ok(r.polls >= 5, `only ${r.polls} /health requests ran during the request: tokenization was too quick to tell`);
      assert.ok(r.slowestMs < 100, `the slowest /health took ${r.slowestMs.toFixed(1)} ms (${r.polls} polls)`);
    });
  }
});
