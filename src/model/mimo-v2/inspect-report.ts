/**
 * The `mimo inspect` report: what a config (preset or checkpoint) implies — parameters total and active, MTP layers,
 * weight bytes by dtype, KV-cache bytes for full-attention vs sliding-window layers against an all-full-attention
 * model, and the layer map. Every figure is computed by stats.ts from the config; bytes by dtype come from the
 * caller (Checkpoint.bytesByDtype() for a directory, weightBytesByDtype() for a preset).
 */
import { MODEL_TYPES, type MiMoConfig } from './config.js';
import {
  countParameters,
  kvBytesPerLayerToken,
  kvBytesPerToken,
  kvCacheBytes,
  KV_DTYPE_BYTES,
  type KvBytesPerToken,
  type KvCacheBytes,
  type KvDtype,
  type ParameterCounts,
} from './stats.js';

/** Context lengths (tokens) the report prices the KV cache at: 32K and 256K. */
export const REPORT_CONTEXTS: readonly number[] = [32 * 1024, 256 * 1024];

/** How `activePerToken` treats embeddings; printed with the figure. */
export const EMBEDDING_CONVENTION =
  'active = the whole embedding table and LM head, as model cards count them, + all other non-expert weights + num_experts_per_tok experts in each MoE layer; MTP excluded';

export interface InspectInput {
  /** Display name: preset name or checkpoint directory. */
  title: string;
  config: MiMoConfig;
  numMtpLayers: number;
  /** Bytes by safetensors dtype (`F8_E4M3`, `BF16`, `F32`, …). */
  bytesByDtype: Record<string, number>;
  /** KV-cache element type; default bf16. */
  kvDtype?: KvDtype;
  /** What the byte total covers (printed under the dtype table). */
  bytesNote?: string;
  /** Published download size of the release, with its source (presets that have one). */
  published?: { published: string; source: string };
  /** Extra lines for the report (e.g. a `dflash/` drafter found beside the checkpoint). */
  notes?: string[];
}

/** A run of consecutive layers with the same plan. */
export interface LayerRun {
  first: number;
  last: number;
  attention: 'full' | 'sliding';
  ffn: 'dense' | 'moe';
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vHeadDim: number;
  ropeTheta: number;
  /** Tokens visible to a query, null for full attention. */
  window: number | null;
  hasSink: boolean;
  /** KV bytes per token of one layer of this run, at the report's KV dtype. */
  kvBytesPerToken: number;
}

export interface InspectJson {
  title: string;
  modelType: string;
  architecture: string;
  fusedQkv: boolean;
  weightBlockSize: [number, number] | null;
  hiddenSize: number;
  vocabSize: number;
  numLayers: number;
  numFullLayers: number;
  numSlidingLayers: number;
  slidingWindow: number;
  nRoutedExperts: number;
  numExpertsPerTok: number;
  parameters: ParameterCounts;
  embeddingConvention: string;
  bytesByDtype: Record<string, number>;
  totalBytes: number;
  kv: { dtype: KvDtype; bytesPerElement: number; perToken: KvBytesPerToken; contexts: KvCacheBytes[] };
  layers: LayerRun[];
  /** The MTP layers' plan (sliding geometry, dense FFN); null without MTP layers. */
  mtpLayers: LayerRun | null;
}

/** The report's numbers as one object (what `mimo inspect --json` prints). */
export function inspectJson(input: InspectInput): InspectJson {
  const cfg = input.config;
  const kvDtype = input.kvDtype ?? 'bf16';
  const bytesPerElement = KV_DTYPE_BYTES[kvDtype];
  const perToken = kvBytesPerToken(cfg, bytesPerElement);
  const run = (first: number, plan: MiMoConfig['fullPlan'], ffn: 'dense' | 'moe'): LayerRun => ({
    first,
    last: first,
    attention: plan.kind,
    ffn,
    numHeads: plan.numHeads,
    numKvHeads: plan.numKvHeads,
    headDim: plan.headDim,
    vHeadDim: plan.vHeadDim,
    ropeTheta: plan.ropeTheta,
    window: plan.window,
    hasSink: plan.hasSink,
    kvBytesPerToken: kvBytesPerLayerToken(plan, bytesPerElement),
  });
  const layers: LayerRun[] = [];
  for (const layer of cfg.layers) {
    const prev = layers[layers.length - 1];
    if (prev && prev.last === layer.index - 1 && prev.attention === layer.attention.kind && prev.ffn === layer.ffn) prev.last = layer.index;
    else layers.push(run(layer.index, layer.attention, layer.ffn));
  }
  const mtpLayers = input.numMtpLayers > 0 ? { ...run(0, cfg.swaPlan, 'dense'), last: input.numMtpLayers - 1 } : null;
  return {
    title: input.title,
    modelType: cfg.modelType,
    architecture: MODEL_TYPES[cfg.modelType].architecture,
    fusedQkv: cfg.fusedQkv,
    weightBlockSize: cfg.weightBlockSize,
    hiddenSize: cfg.hiddenSize,
    vocabSize: cfg.vocabSize,
    numLayers: cfg.layers.length,
    numFullLayers: perToken.numFullLayers,
    numSlidingLayers: perToken.numSlidingLayers,
    slidingWindow: cfg.slidingWindow,
    nRoutedExperts: cfg.nRoutedExperts,
    numExpertsPerTok: cfg.numExpertsPerTok,
    parameters: countParameters(cfg, input.numMtpLayers),
    embeddingConvention: EMBEDDING_CONVENTION,
    bytesByDtype: { ...input.bytesByDtype },
    totalBytes: Object.values(input.bytesByDtype).reduce((a, b) => a + b, 0),
    kv: {
      dtype: kvDtype,
      bytesPerElement,
      perToken,
      contexts: REPORT_CONTEXTS.map((t) => kvCacheBytes(cfg, t, bytesPerElement, input.numMtpLayers)),
    },
    layers,
    mtpLayers,
  };
}

/** 309.3B, 1.021T, 329.3M, 397.3K. */
export function formatCount(n: number): string {
  if (n >= 1e12) return `${(n / 1e12).toFixed(3)}T`;
  if (n >= 1e9) return `${(n / 1e9).toFixed(1)}B`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}K`;
  return String(n);
}

/** Decimal units: 25.56 MB, 313.05 GB. */
export function formatBytes(n: number): string {
  const units: [number, string][] = [[1e12, 'TB'], [1e9, 'GB'], [1e6, 'MB'], [1e3, 'kB']];
  for (const [size, unit] of units) if (n >= size) return `${(n / size).toFixed(2)} ${unit}`;
  return `${n} B`;
}

const exact = (n: number): string => n.toLocaleString('en-US');
const gib = (n: number): string => `${(n / 2 ** 30).toFixed(2)} GiB`;
const contextLabel = (t: number): string => (t % (1024 * 1024) === 0 ? `${t / (1024 * 1024)}M` : t % 1024 === 0 ? `${t / 1024}K` : String(t));
const theta = (x: number): string => (x >= 1e4 ? x.toExponential().replace('e+', 'e') : String(x));
/** Align columns: the first `leftColumns` padded on the right, the rest (numbers) on the left. */
const table = (rows: string[][], leftColumns = 1): string[] => {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const pad = (cell: string, c: number): string => (c < leftColumns ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!));
  return rows.map((r) => `  ${r.map(pad).join('  ')}`.trimEnd());
};

/** Multi-line text report for `mimo inspect` (see the module comment for its sections). */
export function formatInspectReport(input: InspectInput): string {
  const j = inspectJson(input);
  const p = j.parameters;
  const kv = j.kv.perToken;
  const out: string[] = [];
  const layout = j.fusedQkv ? `fused qkv_proj (${input.config.numKeyValueHeads} chunks)` : 'split q/k/v';
  const quant = j.weightBlockSize ? `FP8 e4m3 weights in ${j.weightBlockSize[0]}×${j.weightBlockSize[1]} blocks` : 'unquantised weights';
  out.push(`${j.title} — model_type ${j.modelType} (${j.architecture}), ${layout}, ${quant}`);
  out.push(
    `  hidden ${j.hiddenSize}, vocab ${exact(j.vocabSize)}, ${j.numLayers} layers (${j.numFullLayers} full attention, ${j.numSlidingLayers} sliding window ${j.slidingWindow}), ` +
      `${j.nRoutedExperts} routed experts, ${j.numExpertsPerTok} per token`,
  );

  out.push('', 'Parameters (trunk; MTP excluded, as in the published totals)');
  out.push(
    ...table([
      ['total', formatCount(p.total), exact(p.total)],
      ['active per token', formatCount(p.activePerToken), exact(p.activePerToken)],
      ['active, no embedding/LM head', formatCount(p.activeNonEmbedding), exact(p.activeNonEmbedding)],
    ]),
  );
  out.push(`  (${j.embeddingConvention})`);
  const c = p.byComponent;
  out.push(
    `  components: embedding ${formatCount(c.embedding)}, LM head ${c.lmHead > 0 ? formatCount(c.lmHead) : 'tied'}, attention ${formatCount(c.attention)}, ` +
      `norms ${formatCount(c.norms)}, dense MLP ${formatCount(c.denseMlp)}, routers ${formatCount(c.router)}, ` +
      `experts ${formatCount(c.experts)} (${formatCount(p.activeByComponent.experts)} active)`,
  );
  out.push(
    p.numMtpLayers > 0
      ? `MTP layers: ${p.numMtpLayers} × ${formatCount(p.mtpPerLayer)} (${exact(p.mtpPerLayer)}) = ${formatCount(p.mtp)}; total with MTP ${formatCount(p.totalWithMtp)} (${exact(p.totalWithMtp)})`
      : 'MTP layers: none',
  );

  out.push('', 'Weights by dtype');
  const dtypes = Object.entries(j.bytesByDtype).sort((a, b) => b[1] - a[1]);
  out.push(
    ...table([
      ['dtype', 'bytes', 'GB', 'GiB'],
      ...dtypes.map(([d, n]) => [d, exact(n), formatBytes(n), gib(n)]),
      ['total', exact(j.totalBytes), formatBytes(j.totalBytes), gib(j.totalBytes)],
    ]),
  );
  if (input.bytesNote) out.push(`  (${input.bytesNote})`);
  if (input.published) out.push(`  published: ${input.published.published} [${input.published.source}]`);
  for (const n of input.notes ?? []) out.push(n);

  out.push('', `KV cache, ${j.kv.dtype} (${j.kv.bytesPerElement} B/element), one sequence`);
  const fullLayer = kvBytesPerLayerToken(input.config.fullPlan, j.kv.bytesPerElement);
  const slidingLayer = kvBytesPerLayerToken(input.config.swaPlan, j.kv.bytesPerElement);
  out.push(`  full attention: ${kv.numFullLayers} layers × ${exact(fullLayer)} B = ${exact(kv.full)} B/token (grows with the context)`);
  out.push(
    `  sliding window: ${kv.numSlidingLayers} layers × ${exact(slidingLayer)} B = ${exact(kv.sliding)} B/token, ring of ${kv.window} tokens = ` +
      `${formatBytes(kv.slidingPerSequence)} per sequence (bounded)`,
  );
  if (p.numMtpLayers > 0) {
    out.push(`  MTP: ${p.numMtpLayers} layers × ${exact(kv.mtpPerLayer)} B, ring of ${kv.window} tokens = ${formatBytes(p.numMtpLayers * kv.mtpPerLayerPerSequence)} per sequence`);
  }
  out.push(`  all-full-attention model: ${j.numLayers} layers × ${exact(fullLayer)} B = ${exact(kv.allFull)} B/token (${kv.reduction.toFixed(2)}× the full-attention layers)`);
  out.push(
    ...table([
      ['context', 'full', 'sliding', 'MTP', 'total', 'all-full', 'all-full / hybrid'],
      ...j.kv.contexts.map((k) => [
        contextLabel(k.contextTokens),
        formatBytes(k.full),
        formatBytes(k.sliding),
        formatBytes(k.mtp),
        formatBytes(k.total),
        formatBytes(k.allFull),
        `${k.ratio.toFixed(2)}×`,
      ]),
    ]),
  );

  out.push('', 'Layer map (heads = query / KV heads; KV bytes per token per layer)');
  const row = (label: string, r: LayerRun): string[] => [
    label,
    r.attention === 'full' ? 'full' : `sliding ${r.window}${r.hasSink ? ' + sink' : ''}`,
    r.ffn === 'moe' ? 'MoE' : 'dense',
    `heads ${r.numHeads}/${r.numKvHeads}`,
    `qk ${r.headDim} v ${r.vHeadDim}`,
    `θ ${theta(r.ropeTheta)}`,
    `${exact(r.kvBytesPerToken)} B`,
  ];
  const rows = j.layers.map((r) => row(r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`, r));
  if (j.mtpLayers) rows.push(row(`MTP ${j.mtpLayers.first}-${j.mtpLayers.last}`, j.mtpLayers));
  out.push(...table(rows, 6));
  const grid = input.config.layers.map((l) => (l.attention.kind === 'full' ? 'F' : 'S')).join('');
  out.push(`  pattern (F = full, S = sliding): ${grid}`);
  return out.join('\n') + '\n';
}
