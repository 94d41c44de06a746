/**
 * Load generator for `mimo serve`: C concurrent streaming chat clients, each sending R requests one after another
 * over loopback. Measures requests/s, time to first token (client side: request sent → first chunk with text) and
 * failures. Used by bench/load.ts (figures) and the bounded load test.
 */
export interface LoadOptions {
  url: string;
  model: string;
  clients: number;
  rounds: number;
  /** Tokens per request, exactly (`ignore_eos`: a sampled end-of-text token does not end a request early). */
  maxTokens: number;
}

export interface LoadResult {
  requests: number;
  failures: string[];
  seconds: number;
  requestsPerSecond: number;
  /** Client-side TTFT of every successful request, seconds, sorted. */
  ttfts: number[];
  tokens: number;
}

/** The q-quantile (0…1) of sorted values, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]!;
}

async function oneRequest(o: LoadOptions, i: number): Promise<{ ttft: number; tokens: number }> {
  const t0 = performance.now();
  const res = await fetch(`${o.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: o.model, messages: [{ role: 'user', content: `request ${i}: say something` }], max_tokens: o.maxTokens, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  if (res.status !== 200 || !res.body) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttft = -1;
  let tokens = -1;
  let done = false;
  let buf = '';
  const decoder = new TextDecoder();
  for await (const piece of res.body as unknown as AsyncIterable<Uint8Array>) {
    buf += decoder.decode(piece, { stream: true });
    let nl: number;
    while ((nl = buf.indexOf('\n\n')) >= 0) {
      const event = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      if (!event.startsWith('data: ')) continue;
      const data = event.slice(6);
      if (data === '[DONE]') {
        done = true;
        continue;
      }
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(`stream error: ${chunk.error.message}`);
      const delta = chunk.choices?.[0]?.delta;
      if (ttft < 0 && (delta?.content || delta?.reasoning_content)) ttft = (performance.now() - t0) / 1000;
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
    }
  }
  if (!done) throw new Error('stream ended without [DONE]');
  if (tokens !== o.maxTokens) throw new Error(`expected ${o.maxTokens} tokens, usage says ${tokens}`);
  return { ttft: ttft < 0 ? (performance.now() - t0) / 1000 : ttft, tokens };
}

/** Run the load; never throws for failed requests (they are listed in `failures`). */
export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  const ttfts: number[] = [];
  const failures: string[] = [];
  let tokens = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: o.clients }, async (_, c) => {
      for (let r = 0; r < o.rounds; r++) {
        try {
          const x = await oneRequest(o, c * o.rounds + r);
          ttfts.push(x.ttft);
          tokens += x.tokens;
        } catch (e) {
          failures.push(`client ${c} round ${r}: ${(e as Error).message}`);
        }
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const requests = o.clients * o.rounds;
  return { requests, failures, seconds, requestsPerSecond: requests / seconds, ttfts: ttfts.sort((a, b) => a - b), tokens };
}
