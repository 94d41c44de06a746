/**
 * Cost of MTP self-speculation on the bench checkpoint (issue "Self-speculative decoding"): the time of one trunk
 * verify forward over k + 1 tokens relative to a plain decode step (which bounds the speedup at any acceptance),
 * the time the MTP proposer takes to draft k tokens, and end-to-end greedy decode with and without MTP.
 *
 *   npm run build && node dist/bench/mtp-cost.js [--model DIR] [--backend native|ts] [--context 512] [--reps 20]
 *
 * Run on an idle machine. Prints medians over --reps repetitions at a cache of --context positions.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cacheDir } from '../src/cli/default-model.js';
import { SpeculativeDecoder } from '../src/engine/decoders.js';
import { Sampler } from '../src/engine/sampler.js';
import { loadNativeAddon } from '../src/kernels/native/addon.js';
import { selectBackend, type BackendChoice } from '../src/kernels/select.js';
import { loadModel } from '../src/model/load.js';
import { initCheckpoint } from '../src/model/mimo-v2/init.js';

const args = process.argv.slice(2);
const arg = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1]! : dflt;
};
const modelDir = arg('--model', path.join(cacheDir(), 'bench', 'mimo-v2-flash-bench'));
const backendChoice = arg('--backend', 'native') as BackendChoice;
const context = Number(arg('--context', '512'));
const reps = Number(arg('--reps', '20'));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

if (!fs.existsSync(path.join(modelDir, 'config.json'))) {
  console.error(`creating the bench checkpoint at ${modelDir} …`);
  await initCheckpoint({ preset: 'mimo-v2-flash', scale: 'bench', outDir: modelDir });
}
const { backend } = selectBackend(backendChoice);
const map = backend.name === 'native' ? (f: string, offset?: number, length?: number) => loadNativeAddon().mmapFile(f, offset, length) : undefined;
const { model, config } = loadModel(modelDir, { backend, map });
const V = config.vocabSize;
const prompt = Array.from({ length: context }, (_, i) => (i * 7919 + 13) % (V - 1));

// Trunk cost: a verify forward of k + 1 tokens vs a decode step, at the same cache length (trimmed back after).
const cache = model.newCache(4);
model.forward(prompt, cache);
const time = (k: number) => {
  const xs: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    model.computeLogits(model.forward(prompt.slice(0, k + 1), cache), k + 1);
    xs.push(performance.now() - t0);
    cache.trim(k + 1);
  }
  return median(xs);
};
time(0);
const decodeMs = time(0);
const rows: string[] = [`| step | trunk ms | × decode step | proposer ms (k drafts) |`, `| --- | --- | --- | --- |`, `| decode (1 token) | ${decodeMs.toFixed(2)} | 1.00 | — |`];
for (let k = 1; k <= model.numMtpLayers; k++) {
  const verifyMs = time(k);
  // Proposer: k drafts at the end of the prompt (steady state: only the newest rows are computed).
  const generated: number[] = [];
  const dec = new SpeculativeDecoder(model, new Sampler({ temperature: 0 }), prompt, generated, V, k);
  generated.push(...dec.prefill());
  const proposeMs: number[] = [];
  for (let r = 0; r < Math.min(reps, 8); r++) {
    const t0 = performance.now();
    generated.push(...dec.step(1000));
    proposeMs.push(performance.now() - t0);
  }
  rows.push(`| verify ${k} draft${k > 1 ? 's' : ''} (${k + 1} tokens) | ${verifyMs.toFixed(2)} | ${(verifyMs / decodeMs).toFixed(2)} | ${(median(proposeMs) - verifyMs).toFixed(2)} |`);
}
console.log(`MTP cost on ${modelDir}, ${backend.name} backend, cache of ${context} positions, median of ${reps}:`);
console.log(rows.join('\n'));
console.log('(proposer ms = a whole speculative step minus its verify forward: the MTP layers and their LM-head rows)');
