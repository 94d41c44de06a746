/**
 * The deployment planner: does a MiMo-V2 model fit on N GPUs of a kind, with which layout, and how many sequences
 * of T tokens fit beside the weights; the smallest N that fits; and what our own engine needs on a CPU.
 *
 * Layout `{ tp, dp, ep, pp, nodes }`: GPUs = tp × dp × pp; attention (and the other non-expert weights) is split
 * tp ways inside each of dp data-parallel ranks, each rank holding its own requests' KV cache; routed experts are
 * split over all GPUs (ep = GPUs with expert parallelism, 1 when they are tensor-parallel inside one rank). The
 * attention TP is num_key_value_heads (4 for Flash/V2.5, 8 for V2.5-Pro): the fused qkv checkpoints are pre-sharded
 * for it and every documented layout uses it (data/launch-flags.json `attentionTensorParallel`); split-qkv models
 * (Flash) may also run plain TP on one node. pp is always 1 (no MiMo recipe pipelines). A GPU fits when weights +
 * KV ≤ capacity × memory fraction (`--mem-fraction`, default 0.9; capacity as the device reports it where known).
 * Beside the fit: the KV room left past the required sequences and the largest context one sequence can have.
 * Per-GPU bytes ignore the few replicated norms and routers (< 0.1%).
 * Source: spec §0, §2, §3.7 (KV), §4.4 (MTP), §6; issue 6.
 */
import { RequestError } from '../errors.js';
import type { MiMoConfig } from '../model/mimo-v2/config.js';
import { kvBytesPerToken, kvCacheBytes, KV_DTYPE_BYTES } from '../model/mimo-v2/stats.js';
import { cpuPlan, type CpuPlan } from './cpu.js';
import { capacityBytes, loadGpuTable, usableBytes, type GpuSpec } from './gpus.js';
import type { WeightBytes } from './weights.js';
import { plural } from '../util/plural.js';

/** KV-cache element types the engines offer for these models (fp8 = e4m3). */
export type PlanKvDtype = 'fp8' | 'bf16';
export const PLAN_KV_DTYPES: readonly PlanKvDtype[] = ['bf16', 'fp8'];
/** Largest cluster searched for the smallest fitting GPU count, in nodes. */
export const MAX_NODES = 64;

export interface Layout {
  tp: number;
  ep: number;
  dp: number;
  pp: number;
  nodes: number;
  /** tp × dp × pp. */
  gpus: number;
  /** GPUs used on each node. */
  gpusPerNode: number;
}

export interface PlanInput {
  /** Preset name or checkpoint directory. */
  title: string;
  /** Hugging Face repo of a preset, or the checkpoint directory: what the launch commands load. */
  modelPath: string;
  config: MiMoConfig;
  /** Whether the checkpoint carries vision/audio towers (MiMo-V2.5). */
  multimodal: boolean;
  numMtpLayers: number;
  weights: WeightBytes;
  gpu: GpuSpec;
  /** Fixed GPU count (`--gpus`); undefined = the smallest that fits. */
  gpus?: number;
  /** Fixed node count (`--nodes`). */
  nodes?: number;
  /** Context length each sequence must fit, tokens. */
  contextTokens: number;
  /** Whether the user asked for contextTokens (`--context`); if not, launch commands carry the largest context that fits. */
  contextRequested?: boolean;
  /** Fraction of each GPU's memory for weights + KV cache, (0, 1]; default data/gpus.json defaultMemFraction (0.9). */
  memFraction?: number;
  /** Sequences that must fit at once. */
  concurrency: number;
  kvDtype: PlanKvDtype;
  /** CPU memory read bandwidth (bytes/s) and where the figure came from. */
  cpuBandwidth: { bytesPerSecond: number; source: string };
}

/** KV-cache bytes of one sequence (whole model, all GPUs together). */
export interface KvPlan {
  bytesPerElement: number;
  window: number;
  /** Per cached token: all full-attention layers, all sliding-window layers (inside the window), all MTP layers. */
  perToken: { full: number; slidingWindow: number; mtp: number };
  /** At `contextTokens`: full grows with the context, sliding-window and MTP rings stop at the window. */
  perSequence: { full: number; slidingWindow: number; mtp: number; total: number };
  /** Every trunk layer full attention, per token, and allFull / full (5.33 for Flash). */
  allFullPerToken: number;
  reduction: number;
}

/** A layout priced: per-GPU bytes, what is left for KV, sequences that fit. */
export interface LayoutFit {
  layout: Layout;
  weightBytesPerGpu: number;
  /** KV of one sequence on each GPU of its data-parallel rank (heads split tp ways, replicated past num KV heads). */
  kvBytesPerSequencePerGpu: number;
  /** Usable bytes − weights (may be negative). */
  freeBytesPerGpu: number;
  /** dp × sequences one rank holds at the context length. */
  maxConcurrentSequences: number;
  /** Free bytes per GPU left after the required sequences' KV (negative when they do not fit). */
  kvRoomLeftBytesPerGpu: number;
  fits: boolean;
}

/** Per-GPU weight bytes of the three classic layouts at one GPU count (null when the count does not allow it). */
export interface ParallelismComparison {
  gpus: number;
  /** tp = GPUs: everything split evenly. */
  tensorParallel: number;
  /** tp = attention TP, dp = GPUs / tp, experts over all GPUs. */
  expertParallel: number | null;
  /** dp independent replicas of tp = attention TP each. */
  dataParallel: number | null;
}

export interface Plan {
  input: PlanInput;
  /** Fraction of memory for weights + KV (the launch commands' --mem-fraction-static / --gpu-memory-utilization). */
  memFraction: number;
  /** Capacity per GPU the fraction applies to, and whether the device reports it ('device') or the datasheet says it. */
  capacityBytesPerGpu: number;
  capacitySource: 'device' | 'datasheet';
  usableBytesPerGpu: number;
  /** Largest context (tokens, ≤ max_position_embeddings) for which `concurrency` sequences fit the chosen layout. */
  largestContextTokens: number;
  /** The context the launch commands carry: the requested one, else the largest that fits. */
  launchContextTokens: number;
  attentionTp: number;
  kv: KvPlan;
  minGpus: number;
  /** The smallest fitting layout. */
  minimum: LayoutFit;
  /** The minimum, or the layout for `--gpus` / `--nodes`. */
  chosen: LayoutFit;
  comparison: ParallelismComparison;
  cpu: CpuPlan;
}

/** GPUs per data-parallel rank for attention: num_key_value_heads (see the file comment). */
export function attentionTensorParallel(cfg: MiMoConfig): number {
  return cfg.numKeyValueHeads;
}

/** KV-cache bytes per token and per sequence of `contextTokens` tokens (spec §3.7; MTP layers use the SWA plan). */
export function kvPlan(cfg: MiMoConfig, contextTokens: number, kvDtype: PlanKvDtype, numMtpLayers: number): KvPlan {
  const bytes = KV_DTYPE_BYTES[kvDtype];
  const t = kvBytesPerToken(cfg, bytes);
  const s = kvCacheBytes(cfg, contextTokens, bytes, numMtpLayers);
  return {
    bytesPerElement: bytes,
    window: t.window,
    perToken: { full: t.full, slidingWindow: t.sliding, mtp: numMtpLayers * t.mtpPerLayer },
    perSequence: { full: s.full, slidingWindow: s.sliding, mtp: s.mtp, total: s.total },
    allFullPerToken: t.allFull,
    reduction: t.reduction,
  };
}

/** Fraction of a layer's KV heads one GPU holds at tensor parallelism tp (one whole head once tp ≥ heads). */
const headShare = (numKvHeads: number, tp: number): number => Math.ceil(numKvHeads / tp) / numKvHeads;

/**
 * Layouts that put exactly `gpus` GPUs to work, preferred first: data-parallel attention at the attention TP with
 * experts over all GPUs; then (split-qkv models, one node) plain tensor parallelism over all GPUs.
 * @param gpusPerNode GPUs used per node; a multi-node layout must fill whole nodes with whole data-parallel ranks
 */
export function layoutsFor(cfg: MiMoConfig, gpus: number, gpusPerNode: number): Layout[] {
  const a = attentionTensorParallel(cfg);
  const nodes = Math.ceil(gpus / gpusPerNode);
  const placeable = (tp: number): boolean => gpus <= gpusPerNode || (gpus % gpusPerNode === 0 && gpusPerNode % tp === 0);
  const out: Layout[] = [];
  if (gpus % a === 0 && placeable(a)) {
    const dp = gpus / a;
    out.push({ tp: a, dp, ep: dp > 1 ? gpus : 1, pp: 1, nodes, gpus, gpusPerNode: Math.min(gpus, gpusPerNode) });
  }
  const headsSplit = cfg.numAttentionHeads % gpus === 0 && cfg.swaNumAttentionHeads % gpus === 0;
  const kvSplit = gpus > a || a % gpus === 0;
  if (!cfg.fusedQkv && gpus !== a && gpus <= gpusPerNode && headsSplit && kvSplit) {
    out.push({ tp: gpus, dp: 1, ep: 1, pp: 1, nodes: 1, gpus, gpusPerNode: gpus });
  }
  return out;
}

/** Price one layout for `input` (see {@link LayoutFit}). */
export function fitLayout(input: PlanInput, layout: Layout, kv: KvPlan): LayoutFit {
  const cfg = input.config;
  const { tp, dp } = layout;
  const weightBytesPerGpu = input.weights.nonExpert / tp + input.weights.experts / (tp * dp);
  const full = kv.perSequence.full * headShare(cfg.fullPlan.numKvHeads, tp);
  const ring = (kv.perSequence.slidingWindow + kv.perSequence.mtp) * headShare(cfg.swaPlan.numKvHeads, tp);
  const kvBytesPerSequencePerGpu = full + ring;
  const freeBytesPerGpu = usableBytes(input.gpu, memFractionOf(input)) - weightBytesPerGpu;
  const perRank = freeBytesPerGpu > 0 ? Math.floor(freeBytesPerGpu / kvBytesPerSequencePerGpu) : 0;
  const needed = Math.ceil(input.concurrency / dp);
  const fits = perRank >= needed;
  return { layout, weightBytesPerGpu, kvBytesPerSequencePerGpu, freeBytesPerGpu, maxConcurrentSequences: dp * perRank, kvRoomLeftBytesPerGpu: freeBytesPerGpu - needed * kvBytesPerSequencePerGpu, fits };
}

/** The input's memory fraction, or the data file's default. */
function memFractionOf(input: PlanInput): number {
  return input.memFraction ?? loadGpuTable().defaultMemFraction;
}

/**
 * Largest context (tokens, at most max_position_embeddings, else `cap`) at which `input.concurrency` sequences fit
 * `layout`: binary search, KV bytes growing with the context. 0 when not even one token fits.
 */
export function largestContext(input: PlanInput, layout: Layout, cap = 1 << 24): number {
  const max = input.config.maxPositionEmbeddings ?? cap;
  const fitsAt = (t: number) => fitLayout({ ...input, contextTokens: t }, layout, kvPlan(input.config, t, input.kvDtype, input.numMtpLayers)).fits;
  if (!fitsAt(1)) return 0;
  if (fitsAt(max)) return max;
  let lo = 1;
  let hi = max;
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (fitsAt(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** The first fitting layout for exactly `gpus` GPUs, or undefined. */
function firstFit(input: PlanInput, gpus: number, gpusPerNode: number, kv: KvPlan): LayoutFit | undefined {
  for (const layout of layoutsFor(input.config, gpus, gpusPerNode)) {
    const fit = fitLayout(input, layout, kv);
    if (fit.fits) return fit;
  }
  return undefined;
}

const gb = (n: number): string => `${(n / 1e9).toFixed(1)} GB`;

/**
 * The smallest GPU count (up to {@link MAX_NODES} nodes) with a fitting layout.
 * @throws RequestError('--gpu') when even MAX_NODES full nodes do not fit (weights + `concurrency` KV caches)
 */
export function smallestFit(input: PlanInput, kv: KvPlan): LayoutFit {
  const perNode = input.gpu.gpusPerNode;
  for (let n = 1; n <= perNode * MAX_NODES; n++) {
    const fit = firstFit(input, n, perNode, kv);
    if (fit) return fit;
  }
  throw new RequestError(
    '--gpu',
    `${input.title} with ${plural(input.concurrency, 'sequence')} of ${plural(input.contextTokens, 'token')} does not fit on up to ${MAX_NODES} nodes of ${perNode} ${input.gpu.id} ` +
      `(${gb(input.weights.total)} of weights, ${gb(usableBytes(input.gpu, memFractionOf(input)))} usable per GPU at --mem-fraction ${memFractionOf(input)}); lower --context or --concurrency, raise --mem-fraction, or pick a larger GPU`,
  );
}

/**
 * The layout for the GPUs the user fixed with `--gpus` and/or `--nodes`.
 * @throws RequestError naming --gpus or --nodes when the count is not a positive integer, the GPUs cannot be spread
 *   over the nodes, no layout uses exactly that many GPUs, or none fits (the message gives the smallest count that fits)
 */
function fixedFit(input: PlanInput, kv: KvPlan, minGpus: number): LayoutFit {
  const perNode = input.gpu.gpusPerNode;
  const { gpus, nodes } = input;
  for (const [name, v] of [['--gpus', gpus], ['--nodes', nodes]] as const) {
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) throw new RequestError(name, `must be a positive integer, got ${v}`);
  }
  let n: number;
  let used: number;
  const option = gpus !== undefined ? '--gpus' : '--nodes';
  if (gpus !== undefined && nodes !== undefined) {
    if (gpus % nodes !== 0 || gpus / nodes > perNode) {
      throw new RequestError('--nodes', `${gpus} GPU${gpus === 1 ? '' : 's'} cannot be spread evenly over ${nodes} node${nodes === 1 ? '' : 's'} of at most ${perNode} ${input.gpu.id}`);
    }
    n = gpus;
    used = gpus / nodes;
  } else if (gpus !== undefined) {
    if (gpus > perNode && gpus % perNode !== 0) {
      throw new RequestError('--gpus', `${gpus} GPUs span more than one node of ${perNode} ${input.gpu.id}: use a multiple of ${perNode}, or give --nodes`);
    }
    n = gpus;
    used = Math.min(gpus, perNode);
  } else {
    n = nodes! * perNode;
    used = perNode;
  }
  const layouts = layoutsFor(input.config, n, used);
  if (layouts.length === 0) {
    const a = attentionTensorParallel(input.config);
    const why = input.config.fusedQkv
      ? `the fused qkv_proj is pre-sharded for attention TP ${a} (num_key_value_heads), so use a multiple of ${a}`
      : `no tensor-/data-parallel layout uses exactly ${n} GPUs (attention TP ${a} × data-parallel ranks, or TP dividing ${input.config.numAttentionHeads} heads on one node)`;
    throw new RequestError(option, `${n} GPUs${used < n ? ` (${used} per node)` : ''}: ${why}`);
  }
  const fits = layouts.map((l) => fitLayout(input, l, kv));
  const fit = fits.find((f) => f.fits);
  if (fit) return fit;
  const best = fits[fits.length - 1]!;
  const perRank = Math.ceil(input.concurrency / best.layout.dp);
  throw new RequestError(
    option,
    `${n} × ${input.gpu.id} do not fit ${input.title} with ${plural(input.concurrency, 'sequence')} of ${plural(input.contextTokens, 'token')}: per GPU ${gb(best.weightBytesPerGpu)} of weights + ` +
      `${perRank} × ${gb(best.kvBytesPerSequencePerGpu)} of KV > ${gb(usableBytes(input.gpu, memFractionOf(input)))} usable at --mem-fraction ${memFractionOf(input)}; the smallest count that fits is ${minGpus}`,
  );
}

/** Per-GPU weights of plain TP, DP-attention + EP and DP replicas at `gpus` GPUs. */
export function compareParallelism(input: PlanInput, gpus: number): ParallelismComparison {
  const a = attentionTensorParallel(input.config);
  const w = input.weights;
  const divisible = gpus % a === 0;
  return {
    gpus,
    tensorParallel: w.total / gpus,
    expertParallel: divisible ? w.nonExpert / a + w.experts / gpus : null,
    dataParallel: divisible ? w.total / a : null,
  };
}

/**
 * Plan a deployment (see the file comment).
 * @throws RequestError('--context' | '--concurrency') for a non-positive value or a context beyond
 *   max_position_embeddings; RequestError('--gpus' | '--nodes' | '--gpu') as {@link fixedFit} / {@link smallestFit}
 */
export function planDeployment(input: PlanInput): Plan {
  for (const [name, v] of [['--context', input.contextTokens], ['--concurrency', input.concurrency]] as const) {
    if (!Number.isSafeInteger(v) || v < 1) throw new RequestError(name, `must be a positive integer, got ${v}`);
  }
  const memFraction = memFractionOf(input);
  if (!(memFraction > 0 && memFraction <= 1)) throw new RequestError('--mem-fraction', `must be a number in (0, 1], got ${memFraction}`);
  const maxContext = input.config.maxPositionEmbeddings;
  if (maxContext !== null && input.contextTokens > maxContext) {
    throw new RequestError('--context', `${input.contextTokens} tokens exceed the model's max_position_embeddings ${maxContext}`);
  }
  const kv = kvPlan(input.config, input.contextTokens, input.kvDtype, input.numMtpLayers);
  const minimum = smallestFit(input, kv);
  const chosen = input.gpus === undefined && input.nodes === undefined ? minimum : fixedFit(input, kv, minimum.layout.gpus);
  const largestContextTokens = largestContext(input, chosen.layout);
  return {
    input,
    memFraction,
    capacityBytesPerGpu: capacityBytes(input.gpu),
    capacitySource: input.gpu.deviceMemoryBytes !== undefined ? 'device' : 'datasheet',
    usableBytesPerGpu: usableBytes(input.gpu, memFraction),
    largestContextTokens,
    launchContextTokens: input.contextRequested === false ? Math.max(largestContextTokens, input.contextTokens) : input.contextTokens,
    attentionTp: attentionTensorParallel(input.config),
    kv,
    minGpus: minimum.layout.gpus,
    minimum,
    chosen,
    comparison: compareParallelism(input, chosen.layout.gpus),
    cpu: cpuPlan(input),
  };
}
