/**
 * `node dist/bench/load.js [--clients 32] [--rounds 3] [--max-tokens 16] [--backend native|ts] [--model DIR]`:
 * `mimo serve` in this process on loopback (a tiny random-weight checkpoint unless --model), C streaming clients × R
 * rounds; prints requests/s, tokens/s, p50/p99 TTFT, failures, and RSS before/after (after a forced GC).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { parseArgs } from 'node:util';
import { initCheckpoint } from '../src/model/mimo-v2/init.js';
import { createServer } from '../src/server/app.js';
import type { BackendChoice } from '../src/kernels/select.js';
import { quantile, runLoad } from './lib/load.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const { values } = parseArgs({ options: { clients: { type: 'string', default: '32' }, rounds: { type: 'string', default: '3' }, 'max-tokens': { type: 'string', default: '16' }, backend: { type: 'string', default: 'auto' }, model: { type: 'string' } } });
let dir = values.model;
let tmp: string | undefined;
if (!dir) {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mimo-load-'));
  dir = path.join(tmp, 'tiny');
  await initCheckpoint({ preset: 'mimo-v2-flash', scale: 'tiny', outDir: dir, seed: 7 });
}
const server = await createServer({ modelDir: dir, backend: values.backend as BackendChoice, maxBatch: 8, maxQueue: 64 });
const url = await server.app.listen({ host: '127.0.0.1', port: 0 });
const opts = { url, model: server.context.names()[0]!, clients: Number(values.clients), rounds: Number(values.rounds), maxTokens: Number(values['max-tokens']) };
await runLoad({ ...opts, rounds: 1 }); // warm-up at full concurrency: the baseline is the steady state
gc();
const rss0 = process.memoryUsage().rss;
const r = await runLoad(opts);
gc();
const rss1 = process.memoryUsage().rss;
const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
console.log(`backend ${server.engine.model.backend.name}, ${opts.clients} clients × ${opts.rounds} rounds, max_tokens ${opts.maxTokens}, max batch 8`);
console.log(`requests ${r.requests}, failed ${r.failures.length}, ${r.seconds.toFixed(2)} s → ${r.requestsPerSecond.toFixed(2)} requests/s, ${(r.tokens / r.seconds).toFixed(1)} generated tokens/s`);
console.log(`TTFT p50 ${(quantile(r.ttfts, 0.5) * 1000).toFixed(1)} ms, p99 ${(quantile(r.ttfts, 0.99) * 1000).toFixed(1)} ms`);
console.log(`RSS after GC: baseline ${mb(rss0)}, after load ${mb(rss1)} (${(((rss1 - rss0) / rss0) * 100).toFixed(1)} %)`);
for (const f of r.failures.slice(0, 5)) console.log(`failure: ${f}`);
await server.close();
if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
