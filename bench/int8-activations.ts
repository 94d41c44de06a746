/**
 * Error of `--precision fast` (8-bit activations, kernels/reference/q8-activations.ts) against `exact` on one GGUF
 * model, on the native backend:
 * - teacher-forced: a prompt of random token ids (the bench's, seed 1234) followed by exact's greedy continuation is
 *   run through both models in one prefill; at every position, over exact's top-10 tokens: max |Δ logit| and
 *   max |Δ log-softmax|; over the whole vocabulary: max |Δ logit|, next to the logits' RMS; and how often the two
 *   models' top-1 tokens agree;
 * - free-running: greedy decode of --gen tokens from the same prompt in each: tokens identical before the first
 *   difference.
 * With --baseline (e.g. the f16 GGUF of the same weights) the same figures of that model against --model, both
 * exact: the error of the weights' own quantisation, for scale.
 *
 *   npx tsc -p . && node dist/bench/int8-activations.js --model ~/.cache/mimo-ts/bench/gguf/mimo-v2-flash-bench.q8_0.gguf
 *     [--baseline ~/.cache/mimo-ts/bench/gguf/mimo-v2-flash-bench.f16.gguf] [--prompt-tokens 32] [--gen 64] [--threads N]
 */
import { Command } from 'commander';
import { parseIntOption } from '../src/cli/options.js';
import { benchPromptIds } from '../src/engine/bench.js';
import { loadNativeAddon } from '../src/kernels/native/addon.js';
import { createNativeBackend } from '../src/kernels/native/backend.js';
import { loadModel } from '../src/model/load.js';
import type { MiMoModel } from '../src/model/mimo-v2/model.js';

const opts = new Command()
  .requiredOption('--model <file>', 'a GGUF model with Q8_0 (or Q4_0, Q5_0, IQ4_NL, MXFP4) weights')
  .option('--prompt-tokens <n>', 'random prompt ids', parseIntOption(1), 32)
  .option('--gen <n>', 'greedy tokens after the prompt', parseIntOption(1), 64)
  .option('--threads <n>', 'native threads', parseIntOption(1))
  .option('--baseline <file>', 'also compare this model (exact) with --model (exact), e.g. the f16 GGUF of the same weights')
  .parse()
  .opts<{ model: string; promptTokens: number; gen: number; threads?: number; baseline?: string }>();

const addon = loadNativeAddon();
const backend = createNativeBackend(opts.threads ? { threads: opts.threads } : {});
const map = (file: string, offset?: number, length?: number) => addon.mmapFile(file, offset, length);
const exact = loadModel(opts.model, { backend, map, precision: 'exact' });
const fast = loadModel(opts.model, { backend, map, precision: 'fast' });
const V = exact.config.vocabSize;
const D = exact.config.hiddenSize;

function argmax(l: Float32Array, o = 0): number {
  let best = 0;
  for (let i = 1; i < V; i++) if (l[o + i]! > l[o + best]!) best = i;
  return best;
}

function greedy(model: MiMoModel, prompt: number[], n: number): number[] {
  const cache = model.newCache();
  const h = model.forward(prompt, cache);
  let next = argmax(model.computeLogits(h.subarray((prompt.length - 1) * D), 1));
  const out = [next];
  while (out.length < n) {
    next = argmax(model.computeLogits(model.forward([next], cache), 1));
    out.push(next);
  }
  return out;
}

function logits(model: MiMoModel, ids: number[]): Float32Array {
  return model.computeLogits(model.forward(ids, model.newCache()), ids.length);
}

function logSumExp(l: Float32Array, o: number): number {
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, l[o + i]!);
  let s = 0;
  for (let i = 0; i < V; i++) s += Math.exp(l[o + i]! - m);
  return m + Math.log(s);
}

const prompt = benchPromptIds(opts.promptTokens, V);
const exactTokens = greedy(exact.model, prompt, opts.gen);
const seq = [...prompt, ...exactTokens.slice(0, -1)];
const le = logits(exact.model, seq);

/** The figures of `other` against exact (module comment). */
function compare(other: MiMoModel): string[] {
  const lf = logits(other, seq);
  let maxTop10Logit = 0;
  let maxTop10LogSoftmax = 0;
  let maxAllLogit = 0;
  let sumSq = 0;
  let top1Same = 0;
  for (let p = 0; p < seq.length; p++) {
    const o = p * V;
    const ze = logSumExp(le, o);
    const zf = logSumExp(lf, o);
    const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => le[o + b]! - le[o + a]!);
    for (const i of order.slice(0, 10)) {
      maxTop10Logit = Math.max(maxTop10Logit, Math.abs(lf[o + i]! - le[o + i]!));
      maxTop10LogSoftmax = Math.max(maxTop10LogSoftmax, Math.abs(lf[o + i]! - zf - (le[o + i]! - ze)));
    }
    for (let i = 0; i < V; i++) {
      maxAllLogit = Math.max(maxAllLogit, Math.abs(lf[o + i]! - le[o + i]!));
      sumSq += le[o + i]! * le[o + i]!;
    }
    if (argmax(le, o) === argmax(lf, o)) top1Same++;
  }
  const tokens = greedy(other, prompt, opts.gen);
  let prefix = 0;
  while (prefix < opts.gen && exactTokens[prefix] === tokens[prefix]) prefix++;
  return [
    `  teacher-forced, ${seq.length} positions (${opts.promptTokens} random prompt ids + exact's greedy tokens):`,
    `    max |Δ logit| over exact's top-10:        ${maxTop10Logit.toExponential(2)}`,
    `    max |Δ log-softmax| over exact's top-10:  ${maxTop10LogSoftmax.toExponential(2)}`,
    `    max |Δ logit| over the vocabulary:        ${maxAllLogit.toExponential(2)} (logit RMS ${Math.sqrt(sumSq / (seq.length * V)).toFixed(3)})`,
    `    same top-1 token:                         ${top1Same}/${seq.length}`,
    `  greedy, ${opts.gen} tokens: identical for the first ${prefix}`,
  ];
}

console.log(`# node ${process.argv.slice(1).join(' ')}`);
console.log(`# dispatch ${addon.getDispatch()}, ${addon.getThreads()} threads`);
console.log(`fast (${fast.int8Weights} weights on 8-bit activations) vs exact, ${opts.model}:`);
for (const line of compare(fast.model)) console.log(line);
if (opts.baseline) {
  // For scale: the same figures for the weights' own quantisation (e.g. the f16 file vs this q8_0 one, both exact).
  const base = loadModel(opts.baseline, { backend, map, precision: 'exact' });
  console.log(`exact ${opts.baseline} vs exact ${opts.model} (the weights' quantisation, for scale):`);
  for (const line of compare(base.model)) console.log(line);
}
