/**
 * Bounded load on loopback: 32 concurrent streaming clients × 3 rounds on a tiny checkpoint, zero failed requests,
 * and RSS after a forced GC within 20 % of its baseline taken after a warm-up round at the same concurrency (no
 * per-request leak: caches and sequences are freed).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { quantile, runLoad } from '../../bench/lib/load.js';
import { startServer } from '../helpers/server.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

test('32 streaming clients × 3 rounds: no failures, RSS back within 20 % of baseline', { timeout: 240_000 }, async (t) => {
  const s = await startServer({ maxBatch: 8, maxQueue: 64 });
  try {
    const opts = { url: s.url, model: 'tiny', clients: 32, rounds: 3, maxTokens: 8 };
    // Warm-up at full concurrency: the baseline is the steady state (allocator pools and JIT grown), not a cold start.
    await runLoad({ ...opts, rounds: 1 });
    gc();
    const rss0 = process.memoryUsage().rss;
    const r = await runLoad(opts);
    gc();
    await new Promise((res) => setTimeout(res, 50));
    gc();
    const rss1 = process.memoryUsage().rss;
    t.diagnostic(`${r.requests} requests in ${r.seconds.toFixed(2)} s = ${r.requestsPerSecond.toFixed(2)} req/s; TTFT p50 ${(quantile(r.ttfts, 0.5) * 1000).toFixed(1)} ms, p99 ${(quantile(r.ttfts, 0.99) * 1000).toFixed(1)} ms; RSS ${(rss0 / 1e6).toFixed(1)} → ${(rss1 / 1e6).toFixed(1)} MB`);
    assert.deepEqual(r.failures, []);
    assert.equal(r.ttfts.length, 96);
    assert.ok(rss1 <= rss0 * 1.2, `RSS grew from ${rss0} to ${rss1} bytes (> 20 %)`);
    const st = s.server.context.local('tiny').scheduler.state;
    assert.equal(st.active + st.queued, 0, 'every sequence was freed');
  } finally {
    await s.close();
  }
});
