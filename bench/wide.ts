/**
 * MiMo-V2.6-Flash (MXFP4 experts) beside MiMo-V2-Flash (FP8), both at `--scale wide` (the real matrix shapes: hidden
 * 4096, 64 × 192/128 heads, experts 2048 wide, vocabulary 152,576; 6 layers, 64 experts top-8), on the native backend
 * in one process, one after the other: prefill and decode tokens/s, weight bytes read per decoded token, the read
 * bandwidth measured in the same process, the decode bound it implies and decode's fraction of it. The checkpoints
 * are written once (`mimo init --scale wide`, ≈ 8.5 GB and ≈ 12 GB) under <cache>/wide unless given.
 * Run it on an idle machine.
 *
 *   node dist/bench/wide.js [--runs 3] [--threads 2] [--prompt-tokens 512] [--gen-tokens 32] [--mxfp4 DIR] [--fp8 DIR]
 * Source: issue 10 (Measure).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command } from 'commander';
import { cacheDir } from '../src/cli/default-model.js';
import { parseIntOption } from '../src/cli/options.js';
import { runBench, type BenchResult } from '../src/engine/bench.js';
import { initCheckpoint } from '../src/model/mimo-v2/init.js';
import { formatBytes } from '../src/model/mimo-v2/inspect-report.js';

const program = new Command()
  .option('--runs <n>', 'timed runs per checkpoint', parseIntOption(1), 3)
  .option('--threads <n>', 'kernel threads', parseIntOption(1), 2)
  .option('--prompt-tokens <n>', 'prompt tokens', parseIntOption(1), 512)
  .option('--gen-tokens <n>', 'generated tokens per run', parseIntOption(1), 32)
  .option('--mxfp4 <dir>', 'a V2.6-Flash wide checkpoint (default <cache>/wide/mimo-v2.6-flash-wide)')
  .option('--fp8 <dir>', 'a V2-Flash wide FP8 checkpoint (default <cache>/wide/mimo-v2-flash-wide-fp8)')
  .parse();
const o = program.opts<{ runs: number; threads: number; promptTokens: number; genTokens: number; mxfp4?: string; fp8?: string }>();

async function ensure(dir: string | undefined, preset: string, fp8: boolean, name: string): Promise<string> {
  const d = dir ?? path.join(cacheDir(), 'wide', name);
  if (fs.existsSync(path.join(d, 'model.safetensors.index.json'))) return d;
  console.error(`writing ${d} (mimo init --preset ${preset} --scale wide${fp8 ? ' --fp8' : ''}; several minutes)`);
  await initCheckpoint({ preset, scale: 'wide', fp8, outDir: d });
  return d;
}

const cases = [
  { label: 'V2.6-Flash wide, MXFP4 experts', dir: await ensure(o.mxfp4, 'mimo-v2.6-flash', true, 'mimo-v2.6-flash-wide') },
  { label: 'V2-Flash wide, FP8 experts', dir: await ensure(o.fp8, 'mimo-v2-flash', true, 'mimo-v2-flash-wide-fp8') },
];
console.log(`# node ${process.argv.slice(1).join(' ')}`);
console.log(`# ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average before ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const results: Array<{ label: string; r: BenchResult }> = [];
for (const c of cases) {
  const r = runBench({ modelDir: c.dir, backend: 'native', threads: o.threads, runs: o.runs, promptTokens: o.promptTokens, genTokens: o.genTokens, log: (l) => console.error(l) });
  results.push({ label: c.label, r });
}
console.log('');
console.log('| checkpoint | prefill tok/s (median) | decode tok/s (median) | bytes read per decoded token | read bandwidth | decode bound | decode / bound |');
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const { label, r } of results) {
  const bw = r.readBandwidthBytesPerSecond;
  console.log(
    `| ${label} | ${r.prefillTokensPerSecond.median.toFixed(1)} | ${r.decodeTokensPerSecond.median.toFixed(2)} | ${formatBytes(r.decodeWeightBytes.total)} (experts ${formatBytes(r.decodeWeightBytes.activeExperts)}) | ` +
      `${bw ? `${(bw / 1e9).toFixed(1)} GB/s` : 'n/a'} | ${bw ? (bw / r.decodeWeightBytes.total).toFixed(2) : 'n/a'} tok/s | ${r.decodeFractionOfBound !== null ? `${(100 * r.decodeFractionOfBound).toFixed(1)}%` : 'n/a'} |`,
  );
}
const foreign = results.map((x) => x.r.maxForeignCores);
console.log(`\n# ${o.threads} threads, ${o.runs} runs, prompt ${o.promptTokens}, ${o.genTokens} generated; other processes' cores during runs: ${foreign.map((f) => (f === null ? 'n/a' : f.toFixed(2))).join(', ')}; load average after ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
