/**
 * Decode of MiMo-V2.6-Flash (MXFP4 experts) and MiMo-V2-Flash (FP8) at `--scale wide`, interleaved in one process so
 * that both see the same machine: both checkpoints loaded (memory-mapped) at once, then `--runs` rounds, each timing
 * one greedy decode of `--gen-tokens` tokens per checkpoint (after an untimed prefill of `--prompt-tokens` random
 * ids) with the read bandwidth probed right before and right after it (the addon's probe, 2 threads, 512 MiB of
 * 4 KiB pages, best of 2). Per run: tokens/s, the bound bandwidth ÷ bytes per token, and decode ÷ bound; the medians
 * and the median of the per-round ratio MXFP4 fraction ÷ FP8 fraction. This machine's read bandwidth moves by tens of
 * percent from second to second (a shared host), so a fraction is only meaningful against a probe taken beside it.
 *
 *   node dist/bench/wide-decode.js --mxfp4 DIR --fp8 DIR [--runs 7] [--gen-tokens 24] [--prompt-tokens 64] [--threads 2]
 * Source: issue 10 (Measure (b)).
 */
import * as os from 'node:os';
import { Command } from 'commander';
import { parseIntOption } from '../src/cli/options.js';
import { benchPromptIds, decodeWeightBytes } from '../src/engine/bench.js';
import { loadNativeAddon } from '../src/kernels/native/addon.js';
import { createNativeBackend } from '../src/kernels/native/backend.js';
import { loadModel } from '../src/model/load.js';
import { argmax } from '../src/engine/sampling-reference.js';

const o = new Command()
  .requiredOption('--mxfp4 <dir>', 'V2.6-Flash wide checkpoint')
  .requiredOption('--fp8 <dir>', 'V2-Flash wide FP8 checkpoint')
  .option('--runs <n>', 'rounds', parseIntOption(1), 7)
  .option('--gen-tokens <n>', 'decoded tokens per run', parseIntOption(1), 24)
  .option('--prompt-tokens <n>', 'prompt before each decode (untimed)', parseIntOption(1), 64)
  .option('--threads <n>', 'kernel threads', parseIntOption(1), 2)
  .parse()
  .opts<{ mxfp4: string; fp8: string; runs: number; genTokens: number; promptTokens: number; threads: number }>();

const addon = loadNativeAddon();
const backend = createNativeBackend({ threads: o.threads });
const map = (f: string, off?: number, len?: number) => addon.mmapFile(f, off, len);
const probe = (): number => addon.memReadBandwidth(512 << 20, o.threads, 2);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const models = [
  { label: 'V2.6-Flash wide (MXFP4 experts)', dir: o.mxfp4 },
  { label: 'V2-Flash wide (FP8 experts)', dir: o.fp8 },
].map((m) => {
  const { model, config } = loadModel(m.dir, { backend, map });
  return { ...m, model, config, bytes: decodeWeightBytes(m.dir, config).total, tps: [] as number[], frac: [] as number[], bw: [] as number[] };
});

function decode(m: (typeof models)[number], seed: number): number {
  const cache = m.model.newCache();
  const prompt = benchPromptIds(o.promptTokens, m.config.vocabSize, seed);
  const D = m.config.hiddenSize;
  let next = argmax(m.model.computeLogits(m.model.forward(prompt, cache).subarray((prompt.length - 1) * D), 1));
  const t0 = performance.now();
  for (let i = 0; i < o.genTokens; i++) next = argmax(m.model.computeLogits(m.model.forward([next], cache), 1));
  return o.genTokens / ((performance.now() - t0) / 1000);
}

console.log(`# node ${process.argv.slice(1).join(' ')}`);
console.log(`# ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ${o.threads} threads, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
for (const m of models) decode(m, 1); // warm-up: page in what a decode reads
const ratios: number[] = [];
for (let r = 0; r < o.runs; r++) {
  const fr: number[] = [];
  for (const m of models) {
    const b0 = probe();
    const tps = decode(m, 100 + r);
    const b1 = probe();
    const bw = (b0 + b1) / 2;
    const frac = (tps * m.bytes) / bw;
    m.tps.push(tps);
    m.bw.push(bw);
    m.frac.push(frac);
    fr.push(frac);
    console.log(`run ${r + 1} ${m.label}: ${tps.toFixed(2)} tok/s, bandwidth ${(b0 / 1e9).toFixed(1)} / ${(b1 / 1e9).toFixed(1)} GB/s before / after → bound ${(bw / m.bytes).toFixed(2)} tok/s, decode ${(100 * frac).toFixed(1)}% of it`);
  }
  ratios.push(fr[0]! / fr[1]!);
}
console.log('\n| checkpoint | bytes per decoded token | decode tok/s (median) | bandwidth (median of run means) | decode / bound (median) |');
console.log('| --- | --- | --- | --- | --- |');
for (const m of models) {
  console.log(`| ${m.label} | ${(m.bytes / 1e9).toFixed(3)} GB | ${median(m.tps).toFixed(2)} | ${(median(m.bw) / 1e9).toFixed(1)} GB/s | ${(100 * median(m.frac)).toFixed(1)}% |`);
}
console.log(`\nMXFP4 fraction ÷ FP8 fraction, per round: ${ratios.map((x) => x.toFixed(3)).join(' ')}; median ${median(ratios).toFixed(3)}`);
console.log(`# load average after ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
