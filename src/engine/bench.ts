/**
 * Prefill and decode throughput of one checkpoint on one backend (`mimo bench`, bench/side-by-side.ts), measured
 * exactly as the llama.cpp anchor's bench_llamacpp.mjs measures llama.cpp, so the two sets of figures compare:
 * - prompt: `promptTokens` token ids from xorshift32(seed) mod (V − 1), the anchor's generator and default seed
 *   (1234), so both engines see the same ids on the bench checkpoint;
 * - one untimed warm-up run (the first 32 prompt tokens, 4 generated tokens) pages in the weights;
 * - per run, a fresh KV cache; prefill = time from submitting the prompt until the first greedy token is picked
 *   (one forward of the whole prompt, the LM head of its last row, argmax); decode = `genTokens` further greedy
 *   tokens, one forward of one token each through the KV cache;
 * - prefill tokens/s = promptTokens / prefill seconds (TTFT); decode tokens/s = genTokens / decode seconds;
 *   min / median / max over `runs`.
 * Memory: RSS right after loading, and the process's peak RSS (`resourceUsage().maxRSS`) at the end, in bytes.
 * Like the anchor, each run records how many cores OTHER processes kept busy (Linux /proc/stat minus our own CPU
 * time): on a 2-core machine any other load makes the figures meaningless. Unlike the anchor, runs are not repeated.
 * Source: ../shared/tools/llamacpp-anchor/bench_llamacpp.mjs; STYLE.md habit 12 (figures are measured, never tested).
 */
import * as fs from 'node:fs';
import { OpProfiler, type OpStat } from './profile.js';
import { RequestError } from '../errors.js';
import type { Backend } from '../kernels/backend.js';
import { loadNativeAddon } from '../kernels/native/addon.js';
import { selectBackend, type BackendChoice } from '../kernels/select.js';
import { Checkpoint } from '../loader/checkpoint.js';
import { GgufModelFiles, resolveGgufPaths } from '../loader/gguf.js';
import { loadModel } from '../model/load.js';
import { parsePrecision, type Precision } from '../model/precision.js';
import type { MiMoConfig } from '../model/mimo-v2/config.js';
import type { MiMoModel } from '../model/mimo-v2/model.js';
import { SpeculativeDecoder } from './decoders.js';
import { peakRssBytes } from './generate.js';
import { Sampler } from './sampler.js';


export interface BenchOptions {
  modelDir: string;
  /** Prompt length in tokens (default 512). */
  promptTokens?: number;
  /** Tokens generated after the first one (default 128). */
  genTokens?: number;
  /** Timed runs after the warm-up (default 3). */
  runs?: number;
  /** Worker threads of the native backend (default: its own choice). The TypeScript backend uses one. */
  threads?: number;
  /** Default: $MIMO_BACKEND, else auto (native when it loads, else TypeScript with a warning). */
  backend?: BackendChoice;
  /** Seed of the prompt's xorshift32 generator (default 1234, as bench_llamacpp.mjs). */
  seed?: number;
  /** Progress lines (load, warm-up, each run), e.g. to stderr. */
  log?: (line: string) => void;
  /** Also time greedy decode with MTP self-speculation of this many drafts per step (0 = off, default). */
  /** 'exact' (default) or 'fast' (8-bit activations for a GGUF's Q8_0/Q4_0/… weights; model/precision.ts). */
  precision?: Precision;
  /** Also run one greedy decode with every op timed and its weight bytes counted (`mimo bench --profile`). */
  profile?: boolean;
  mtp?: number;
}

/** Greedy decode with MTP drafts, per run. */
export interface MtpBench {
  numDraft: number;
  decodeTokensPerSecond: Spread;
  /** Mean tokens per trunk forward (1 … numDraft + 1). */
  acceptanceLength: Spread;
  draftsProposed: number;
  draftsAccepted: number;
  /** Every MTP run produced exactly the plain greedy tokens. */
  sameTokensAsPlain: boolean;
}

/** Minimum, median and maximum over the runs. */
export interface Spread {
  min: number;
  median: number;
  max: number;
}

export interface BenchRun {
  prefillSeconds: number;
  decodeSeconds: number;
  prefillTokensPerSecond: number;
  decodeTokensPerSecond: number;
  /** Average cores kept busy by other processes during the run; null where /proc/stat is unreadable. */
  foreignCores: number | null;
}

/** Weight bytes one decode step reads from the checkpoint (see {@link decodeWeightBytes}). */
export interface DecodeWeightBytes {
  /** Sum of the parts below. */
  total: number;
  /** Attention, norms, routers and dense MLPs of every trunk layer, and `model.norm`. */
  nonExpert: number;
  /** `num_experts_per_tok` of `n_routed_experts` experts in every MoE layer. */
  activeExperts: number;
  lmHead: number;
  /** One row of the embedding table. */
  embeddingRow: number;
}

export interface BenchResult {
  modelDir: string;
  modelType: string;
  /** Backend that ran (`ts`, `native`). */
  backend: string;
  /** Why `auto` did not give the native backend, when it did not. */
  backendWarning?: string;
  /** The precision it ran at and how many linear weights used 8-bit activations. */
  precision: Precision;
  int8Weights: number;
  threads: number;
  promptTokens: number;
  genTokens: number;
  runs: number;
  seed: number;
  loadSeconds: number;
  rssAfterLoadBytes: number;
  /** Peak RSS of the process over load, warm-up and runs. */
  peakRssBytes: number;
  prefillTokensPerSecond: Spread;
  decodeTokensPerSecond: Spread;
  /** Time to first token = prefill seconds. */
  ttftSeconds: Spread;
  decodeWeightBytes: DecodeWeightBytes;
  /**
   * Machine read bandwidth measured in this process after the runs (the native addon's probe: `threads` threads
   * summing a freshly touched 1 GiB buffer of 4 KiB pages, as mapped weights are, best of 3), bytes/s; null when the
   * addon is not available. Decode's bound is this ÷ `decodeWeightBytes.total`.
   */
  readBandwidthBytesPerSecond: number | null;
  /** Median decode tokens/s ÷ that bound (null without a bandwidth figure). */
  decodeFractionOfBound: number | null;
  /** With `profile`: per-op figures of one extra greedy decode (see engine/profile.ts). */
  profile?: DecodeProfile;
  /** Every run generated the same tokens (greedy decoding is deterministic). */
  deterministicTokens: boolean;
  /** Largest {@link BenchRun.foreignCores} of the runs (null where unmeasurable). */
  maxForeignCores: number | null;
  perRun: BenchRun[];
  /** With `mtp` > 0: the same greedy decode with MTP self-speculation. */
  mtp?: MtpBench;
}

/** Per-op figures of a profiled greedy decode of `tokens` tokens after the bench prompt. */
export interface DecodeProfile {
  tokens: number;
  /** Wall seconds of the whole decode (ops + sampling + glue). */
  seconds: number;
  ops: OpStat[];
}

const DEFAULT_SEED = 1234;
const WARMUP_PROMPT_TOKENS = 32;
const WARMUP_GEN_TOKENS = 4;
/** Other load above which a run is flagged, as bench_llamacpp.mjs's --max-foreign default. */
export const FOREIGN_WARN_CORES = 0.05;

/** xorshift32, as bench_llamacpp.mjs: the same seed gives the same prompt ids as llama.cpp's run. */
export function benchPromptIds(count: number, vocabSize: number, seed = DEFAULT_SEED): number[] {
  let s = seed >>> 0 || 1;
  const next = (): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >> 17;
    s ^= s << 5;
    s >>>= 0;
    return s;
  };
  return Array.from({ length: count }, () => next() % (vocabSize - 1));
}

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

export function spread(xs: readonly number[]): Spread {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return { min: s[0]!, median: s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2, max: s[s.length - 1]! };
}

/** Busy CPU seconds of the whole machine and of this process (all its threads), and the time, seconds. */
interface CpuSnapshot {
  busy: number;
  own: number;
  t: number;
}

function cpuSnapshot(): CpuSnapshot | null {
  let line: string;
  try {
    line = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  } catch {
    return null;
  }
  // cpu user nice system idle iowait irq softirq steal …, in USER_HZ (100) ticks
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = (f[0]! + f[1]! + f[2]! + f[5]! + f[6]! + (f[7] ?? 0)) / 100;
  const own = process.cpuUsage();
  return { busy, own: (own.user + own.system) / 1e6, t: performance.now() / 1000 };
}

/** Average cores other processes kept busy between two snapshots (as bench_llamacpp.mjs's foreignLoad). */
function foreignCores(a: CpuSnapshot | null, b: CpuSnapshot | null): number | null {
  if (!a || !b || b.t <= a.t) return null;
  return Math.max(0, (b.busy - a.busy - (b.own - a.own)) / (b.t - a.t));
}

/** One timed generation: prefill of `prompt` to the first greedy token, then `genTokens` greedy decode steps. */
function timedRun(model: MiMoModel, prompt: number[], genTokens: number): BenchRun & { tokens: number[] } {
  const D = model.config.hiddenSize;
  const cache = model.newCache();
  const c0 = cpuSnapshot();
  const t0 = performance.now();
  const hidden = model.forward(prompt, cache);
  let next = argmax(model.computeLogits(hidden.subarray((prompt.length - 1) * D), 1));
  const t1 = performance.now();
  const tokens = [next];
  for (let i = 0; i < genTokens; i++) {
    next = argmax(model.computeLogits(model.forward([next], cache), 1));
    tokens.push(next);
  }
  const t2 = performance.now();
  const prefillSeconds = (t1 - t0) / 1000;
  const decodeSeconds = (t2 - t1) / 1000;
  return {
    prefillSeconds,
    decodeSeconds,
    prefillTokensPerSecond: prompt.length / prefillSeconds,
    decodeTokensPerSecond: genTokens / decodeSeconds,
    foreignCores: foreignCores(c0, cpuSnapshot()),
    tokens,
  };
}

/**
 * Greedy decode of `genTokens` tokens after the prompt with MTP drafts (one prefill, then speculative steps);
 * tokens/s counts the same tokens as {@link timedRun}'s decode.
 */
function timedMtpRun(model: MiMoModel, prompt: number[], genTokens: number, numDraft: number) {
  const generated: number[] = [];
  const dec = new SpeculativeDecoder(model, new Sampler({ temperature: 0 }), prompt, generated, model.config.vocabSize, numDraft);
  generated.push(...dec.prefill());
  let steps = 0;
  const t1 = performance.now();
  while (generated.length < genTokens + 1) {
    generated.push(...dec.step(genTokens + 1 - generated.length));
    steps++;
  }
  const seconds = (performance.now() - t1) / 1000;
  return { tokensPerSecond: genTokens / seconds, acceptanceLength: genTokens / steps, proposed: dec.draftsProposed, accepted: dec.draftsAccepted, tokens: generated.slice(0, genTokens + 1) };
}

function positiveInt(param: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) throw new RequestError(param, `must be a positive integer, got ${value}`);
  return value;
}

/** Threads the backend computes with: the native backend's pool size, 1 for the TypeScript backend. */
function backendThreads(backend: Backend): number {
  return backend.name === 'native' ? loadNativeAddon().getThreads() : 1;
}

/**
 * Weight bytes one decode step reads, from the checkpoint's safetensors headers (stored dtypes; FP8 scales
 * included): every trunk tensor except the embedding table and routed experts, plus `num_experts_per_tok` /
 * `n_routed_experts` of each MoE layer's expert bytes, plus one embedding row. MTP layers are not read.
 * Memory-bandwidth bound on decode tokens/s = machine read bandwidth ÷ `total`.
 */
export function decodeWeightBytes(dir: string, config: MiMoConfig): DecodeWeightBytes {
  const out: DecodeWeightBytes = { total: 0, nonExpert: 0, activeExperts: 0, lmHead: 0, embeddingRow: 0 };
  const expertShare = config.numExpertsPerTok / Math.max(1, config.nRoutedExperts);
  const ggufPaths = resolveGgufPaths(dir);
  if (ggufPaths) {
    // GGUF names (llama.cpp's): stored bytes of each tensor in its ggml type; MTP blocks (≥ num_hidden_layers) skipped.
    const files = new GgufModelFiles(ggufPaths);
    try {
      for (const [name, info] of files.tensors) {
        const layer = /^blk\.(\d+)\./.exec(name);
        if (layer && Number(layer[1]) >= config.numHiddenLayers) continue;
        if (name === 'token_embd.weight') out.embeddingRow += info.sizeBytes / config.vocabSize;
        else if (name === 'output.weight') out.lmHead += info.sizeBytes;
        else if (/_exps\.weight$/.test(name)) out.activeExperts += info.sizeBytes * expertShare;
        else out.nonExpert += info.sizeBytes;
      }
    } finally {
      files.close();
    }
    if (config.tieWordEmbeddings) out.lmHead = out.embeddingRow * config.vocabSize;
    out.total = Math.round(out.nonExpert + out.activeExperts + out.lmHead + out.embeddingRow);
    return out;
  }
  const ckpt = new Checkpoint(dir);
  try {
    for (const name of ckpt.names()) {
      const bytes = ckpt.info(name)!.sizeBytes;
      if (name.startsWith('model.mtp.')) continue;
      if (name === 'model.embed_tokens.weight') out.embeddingRow += bytes / config.vocabSize;
      else if (name.startsWith('lm_head.')) out.lmHead += bytes;
      else if (/^model\.layers\.\d+\.mlp\.experts\./.test(name)) out.activeExperts += bytes * expertShare;
      else out.nonExpert += bytes;
    }
  } finally {
    ckpt.close();
  }
  if (config.tieWordEmbeddings) out.lmHead = out.embeddingRow * config.vocabSize;
  out.total = Math.round(out.nonExpert + out.activeExperts + out.lmHead + out.embeddingRow);
  return out;
}

/**
 * Load `modelDir` on the chosen backend and measure prefill and decode throughput (see the file comment).
 * @throws RequestError for a non-positive promptTokens / genTokens / runs / threads; BackendUnavailableError when
 *   `native` is asked for and cannot load; ConfigError / CheckpointError from loading
 */
export function runBench(opts: BenchOptions): BenchResult {
  const promptTokens = positiveInt('prompt_tokens', opts.promptTokens ?? 512);
  const genTokens = positiveInt('gen_tokens', opts.genTokens ?? 128);
  const runs = positiveInt('runs', opts.runs ?? 3);
  if (opts.threads !== undefined) positiveInt('threads', opts.threads);
  const seed = opts.seed ?? DEFAULT_SEED;
  const log = opts.log ?? (() => {});

  const { backend, warning } = selectBackend(opts.backend, { threads: opts.threads }); // undefined: $MIMO_BACKEND, else auto
  if (warning) log(warning);
  const profiler = opts.profile ? new OpProfiler(backend) : undefined;
  // As MiMoEngine.load: the native backend maps the safetensors files, so weights never pass through the JS heap.
  const map = backend.name === 'native' ? (file: string, offset?: number, length?: number) => loadNativeAddon().mmapFile(file, offset, length) : undefined;
  const loaded = loadModel(opts.modelDir, { backend: profiler?.backend() ?? backend, map, precision: parsePrecision(opts.precision) });
  const rssAfterLoadBytes = process.memoryUsage.rss();
  const { model, config } = loaded;
  const threads = backendThreads(backend);
  log(`mimo bench: loaded ${opts.modelDir} on the ${backend.name} backend (${threads} thread${threads > 1 ? 's' : ''}) in ${loaded.loadSeconds.toFixed(2)} s`);

  const prompt = benchPromptIds(promptTokens, config.vocabSize, seed);
  timedRun(model, prompt.slice(0, Math.min(WARMUP_PROMPT_TOKENS, promptTokens)), Math.min(WARMUP_GEN_TOKENS, genTokens));
  const perRun: BenchRun[] = [];
  const tokens: string[] = [];
  for (let r = 0; r < runs; r++) {
    const { tokens: ids, ...run } = timedRun(model, prompt, genTokens);
    perRun.push(run);
    tokens.push(ids.join(','));
    log(`mimo bench: run ${r + 1}/${runs}: prefill ${run.prefillTokensPerSecond.toFixed(1)} tok/s, decode ${run.decodeTokensPerSecond.toFixed(2)} tok/s` +
        (run.foreignCores !== null && run.foreignCores > FOREIGN_WARN_CORES ? ` (other processes used ${run.foreignCores.toFixed(2)} cores meanwhile)` : ''));
  }
  let mtp: MtpBench | undefined;
  const numDraft = opts.mtp ?? 0;
  if (numDraft > 0) {
    if (!Number.isSafeInteger(numDraft) || numDraft > model.numMtpLayers) throw new RequestError('mtp', `must be an integer in [0, ${model.numMtpLayers}] (the checkpoint's MTP layers), got ${numDraft}`);
    timedMtpRun(model, prompt.slice(0, Math.min(WARMUP_PROMPT_TOKENS, promptTokens)), Math.min(WARMUP_GEN_TOKENS, genTokens), numDraft);
    const mtpRuns = Array.from({ length: runs }, (_, r) => {
      const m = timedMtpRun(model, prompt, genTokens, numDraft);
      log(`mimo bench: MTP run ${r + 1}/${runs}: decode ${m.tokensPerSecond.toFixed(2)} tok/s, acceptance length ${m.acceptanceLength.toFixed(2)}`);
      return m;
    });
    mtp = {
      numDraft,
      decodeTokensPerSecond: spread(mtpRuns.map((m) => m.tokensPerSecond)),
      acceptanceLength: spread(mtpRuns.map((m) => m.acceptanceLength)),
      draftsProposed: mtpRuns.reduce((a, m) => a + m.proposed, 0),
      draftsAccepted: mtpRuns.reduce((a, m) => a + m.accepted, 0),
      sameTokensAsPlain: mtpRuns.every((m) => m.tokens.join(',') === tokens[0]),
    };
  }
  let profile: DecodeProfile | undefined;
  if (profiler) {
    // One more greedy decode with every op timed (the timed runs above ran with the profiler off).
    const cache = model.newCache();
    const D = config.hiddenSize;
    let next = argmax(model.computeLogits(model.forward(prompt, cache).subarray((prompt.length - 1) * D), 1));
    profiler.reset();
    profiler.enabled = true;
    const t0 = performance.now();
    for (let i = 0; i < genTokens; i++) next = argmax(model.computeLogits(model.forward([next], cache), 1));
    const seconds = (performance.now() - t0) / 1000;
    profiler.enabled = false;
    profile = { tokens: genTokens, seconds, ops: profiler.entries() };
  }
  let readBandwidth: number | null = null;
  try {
    readBandwidth = loadNativeAddon().memReadBandwidth(1 << 30, threads, 3);
  } catch {
    readBandwidth = null; // no addon: no probe (the figure is omitted, never guessed)
  }
  const weightBytes = decodeWeightBytes(opts.modelDir, config);
  const decodeTps = spread(perRun.map((r) => r.decodeTokensPerSecond));
  return {
    ...(mtp ? { mtp } : {}),
    modelDir: opts.modelDir,
    modelType: config.modelType,
    backend: backend.name,
    ...(warning ? { backendWarning: warning } : {}),
    precision: loaded.precision,
    int8Weights: loaded.int8Weights,
    threads,
    promptTokens,
    genTokens,
    runs,
    seed,
    loadSeconds: loaded.loadSeconds,
    rssAfterLoadBytes,
    peakRssBytes: peakRssBytes(),
    prefillTokensPerSecond: spread(perRun.map((r) => r.prefillTokensPerSecond)),
    decodeTokensPerSecond: decodeTps,
    ttftSeconds: spread(perRun.map((r) => r.prefillSeconds)),
    decodeWeightBytes: weightBytes,
    readBandwidthBytesPerSecond: readBandwidth,
    ...(profile ? { profile } : {}),
    decodeFractionOfBound: readBandwidth ? decodeTps.median / (readBandwidth / weightBytes.total) : null,
    deterministicTokens: tokens.every((t) => t === tokens[0]),
    maxForeignCores: perRun.some((r) => r.foreignCores === null) ? null : Math.max(...perRun.map((r) => r.foreignCores!)),
    perRun,
  };
}
