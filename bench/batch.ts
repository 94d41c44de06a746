/**
 * `node dist/bench/batch.js [--model DIR] [--tokens 64] [--batches 1,2,4,8] [--runs 3]`: continuous-batching decode
 * throughput. B greedy requests run together through the scheduler (one batched forward per step); prints total
 * generated tokens/s and per-request decode tokens/s for each B (median of runs). Default model: the side-by-side
 * bench checkpoint (~/.cache/mimo-ts/bench/mimo-v2-flash-bench, made by `npm run bench` or `mimo init --preset bench`).
 */
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { MiMoEngine } from '../src/engine/engine.js';
import { Generator } from '../src/engine/generate.js';
import { Scheduler } from '../src/engine/scheduler.js';
import { cacheDir } from '../src/cli/default-model.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, tokens: { type: 'string', default: '64' }, batches: { type: 'string', default: '1,2,4,8' }, runs: { type: 'string', default: '3' } } });
const dir = values.model ?? path.join(cacheDir(), 'bench', 'mimo-v2-flash-bench');
const engine = MiMoEngine.load(dir, { backend: 'native' });
const N = Number(values.tokens);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`model ${dir} (backend ${engine.model.backend.name}), ${N} tokens per request, greedy, prompt 16 tokens`);
console.log('batch | total tok/s | per-request tok/s | step ms');
for (const B of values.batches!.split(',').map(Number)) {
  const totals: number[] = [];
  const per: number[] = [];
  const steps: number[] = [];
  for (let r = 0; r < Number(values.runs); r++) {
    const sched = new Scheduler(new Generator(engine.model, engine.tokenizer, 256), { maxBatch: B });
    const prompts = Array.from({ length: B }, (_, i) => Array.from({ length: 16 }, (_, j) => 100 + i * 16 + j));
    const handles = prompts.map((p) => sched.submit(p, { temperature: 0, maxTokens: N, stopTokenIds: [] }));
    // Decode phase only: time from every request's first token to the last token.
    let tFirst = 0;
    let firsts = 0;
    const t0 = performance.now();
    await Promise.all(
      handles.map(async (h) => {
        let n = 0;
        for await (const c of h) if (c.tokenId !== null && ++n === 1 && ++firsts === B) tFirst = performance.now();
      }),
    );
    const t1 = performance.now();
    void t0;
    const secs = (t1 - tFirst) / 1000;
    totals.push((B * (N - 1)) / secs);
    per.push((N - 1) / secs);
    steps.push((secs * 1000) / (N - 1));
  }
  console.log(`${String(B).padStart(5)} | ${median(totals).toFixed(1).padStart(11)} | ${median(per).toFixed(1).padStart(17)} | ${median(steps).toFixed(2)}`);
}
