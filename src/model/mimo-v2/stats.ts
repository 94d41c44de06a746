/**
 * Model arithmetic computed from a parsed config, never stored: the expected tensor inventory of an official
 * checkpoint, parameter counts (total and active per token), weight bytes by dtype under the official FP8 policy,
 * and KV-cache bytes for full-attention, sliding-window and MTP layers. Pure functions; no I/O.
 * For a checkpoint on disk use Checkpoint.bytesByDtype() for bytes; these functions describe a config.
 * Source: spec §2.2–§2.7 (inventory, shapes, dtypes, scale grids), §3.7 (KV bytes), §0 (published totals).
 */
import type { AttentionPlan, MiMoConfig } from './config.js';

/** Where a parameter belongs. The trunk components sum to `total`; `mtp` is counted apart (as published). */
export type TrunkComponent = 'embedding' | 'lmHead' | 'attention' | 'norms' | 'denseMlp' | 'router' | 'experts';
export type Component = TrunkComponent | 'mtp';

/**
 * How a weight is stored in the official release (spec §2.7, §2.8). `fp8` = F8_E4M3 bytes + F32 `weight_scale_inv`;
 * `mxfp4` (V2.6 routed experts) = U8 packed FP4 codes (½ byte per weight) + U8 E8M0 `weight_scale` per 32 weights.
 */
export type WeightStorage = 'fp8' | 'mxfp4' | 'bf16' | 'f32';

/** Safetensors dtype strings, as Checkpoint.bytesByDtype() keys them. */
export const SAFETENSORS_DTYPE: Readonly<Record<WeightStorage, string>> = { fp8: 'F8_E4M3', mxfp4: 'U8', bf16: 'BF16', f32: 'F32' };

/** Stored bytes of a group's `count` tensors (weights and their scales) by safetensors dtype. */
export function groupBytesByDtype(g: WeightGroup): Record<string, number> {
  const n = numel(g.shape) * g.count;
  switch (g.storage) {
    case 'mxfp4':
      return { U8: n / 2 + n / 32 };
    case 'fp8':
      return g.scaleShape ? { F8_E4M3: n, F32: numel(g.scaleShape) * g.count * 4 } : { F8_E4M3: n };
    case 'bf16':
      return { BF16: n * 2 };
    case 'f32':
      return { F32: n * 4 };
  }
}

/** One kind of tensor in a layer: `count` tensors of `shape`, of which `activeCount` are used per token. */
export interface WeightGroup {
  /** Checkpoint name, verbatim; `{e}` stands for the expert index when count > 1. */
  name: string;
  component: Component;
  /** PyTorch order, `[out, in]` for linear weights. */
  shape: number[];
  count: number;
  /** Tensors read per token: experts per token for routed experts, `count` otherwise. */
  activeCount: number;
  storage: WeightStorage;
  /** FP8 only: the `weight_scale_inv` grid `[rows, cols]` (per-chunk rows, spec §2.5 rule 2). */
  scaleShape?: [number, number];
}

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/** Scale grid of an FP8 weight `[rows, cols]` written as `chunks` row chunks, each on its own b0 × b1 grid. */
function scaleGrid(rows: number, cols: number, chunks: number, block: [number, number]): [number, number] {
  const n = rows % chunks === 0 ? chunks : 1;
  return [n * ceilDiv(rows / n, block[0]), ceilDiv(cols, block[1])];
}

/**
 * Expected tensors of an official checkpoint for this config (trunk, then `numMtpLayers` MTP layers), text model
 * only. Under `quantization_config` every q/k/v (or fused qkv), dense MLP, expert and MTP MLP matrix is FP8 with a
 * scale grid; embeddings, LM head, norms, o_proj, eh_proj and sinks are BF16; the router weight and its bias F32
 * (spec §2.7). Without `quantization_config` the FP8 matrices are BF16. Fused qkv and Flash's full-attention
 * k_proj use a per-chunk grid with n = num_key_value_heads chunks (spec §2.5, §2.6); all others a uniform grid.
 */
export function weightInventory(cfg: MiMoConfig, numMtpLayers: number): WeightGroup[] {
  const D = cfg.hiddenSize;
  const block = cfg.weightBlockSize;
  const out: WeightGroup[] = [];
  const add = (name: string, component: Component, shape: number[], storage: WeightStorage, count = 1, activeCount = count, chunks = 1): void => {
    const g: WeightGroup = { name, component, shape, count, activeCount, storage: storage === 'fp8' && !block ? 'bf16' : storage };
    if (g.storage === 'fp8' && block) g.scaleShape = scaleGrid(shape[0]!, shape[1]!, chunks, block);
    out.push(g);
  };
  const attention = (prefix: string, plan: AttentionPlan, component: Component): void => {
    const rq = plan.numHeads * plan.headDim;
    const rk = plan.numKvHeads * plan.headDim;
    const rv = plan.numKvHeads * plan.vHeadDim;
    const n = cfg.numKeyValueHeads;
    if (cfg.fusedQkv) {
      add(`${prefix}self_attn.qkv_proj.weight`, component, [rq + rk + rv, D], 'fp8', 1, 1, n);
    } else {
      add(`${prefix}self_attn.q_proj.weight`, component, [rq, D], 'fp8');
      add(`${prefix}self_attn.k_proj.weight`, component, [rk, D], 'fp8', 1, 1, plan.kind === 'full' ? n : 1);
      add(`${prefix}self_attn.v_proj.weight`, component, [rv, D], 'fp8');
    }
    add(`${prefix}self_attn.o_proj.weight`, component, [D, plan.numHeads * plan.vHeadDim], 'bf16');
    if (plan.hasSink) add(`${prefix}self_attn.attention_sink_bias`, component, [plan.numHeads], 'bf16');
  };
  const denseMlp = (prefix: string, component: Component): void => {
    add(`${prefix}mlp.gate_proj.weight`, component, [cfg.intermediateSize, D], 'fp8');
    add(`${prefix}mlp.up_proj.weight`, component, [cfg.intermediateSize, D], 'fp8');
    add(`${prefix}mlp.down_proj.weight`, component, [D, cfg.intermediateSize], 'fp8');
  };

  add('model.embed_tokens.weight', 'embedding', [cfg.vocabSize, D], 'bf16');
  if (!cfg.tieWordEmbeddings) add('lm_head.weight', 'lmHead', [cfg.vocabSize, D], 'bf16');
  add('model.norm.weight', 'norms', [D], 'bf16');
  for (const layer of cfg.layers) {
    const p = `model.layers.${layer.index}.`;
    add(`${p}input_layernorm.weight`, 'norms', [D], 'bf16');
    add(`${p}post_attention_layernorm.weight`, 'norms', [D], 'bf16');
    attention(p, layer.attention, 'attention');
    if (layer.ffn === 'dense') {
      denseMlp(p, 'denseMlp');
      continue;
    }
    const E = cfg.nRoutedExperts;
    const K = cfg.numExpertsPerTok;
    const I = cfg.moeIntermediateSize;
    add(`${p}mlp.gate.weight`, 'router', [E, D], cfg.moeRouterDtype === 'bfloat16' ? 'bf16' : 'f32');
    add(`${p}mlp.gate.e_score_correction_bias`, 'router', [E], 'f32');
    const expert = cfg.expertStorage === 'mxfp4' ? 'mxfp4' : 'fp8';
    add(`${p}mlp.experts.{e}.gate_proj.weight`, 'experts', [I, D], expert, E, K);
    add(`${p}mlp.experts.{e}.up_proj.weight`, 'experts', [I, D], expert, E, K);
    add(`${p}mlp.experts.{e}.down_proj.weight`, 'experts', [D, I], expert, E, K);
  }
  for (let k = 0; k < numMtpLayers; k++) {
    const p = `model.mtp.layers.${k}.`;
    for (const norm of ['enorm', 'hnorm', 'input_layernorm', 'pre_mlp_layernorm', 'final_layernorm']) {
      add(`${p}${norm}.weight`, 'mtp', [D], 'bf16');
    }
    add(`${p}eh_proj.weight`, 'mtp', [D, 2 * D], 'bf16');
    attention(p, cfg.swaPlan, 'mtp');
    denseMlp(p, 'mtp');
  }
  return out;
}

/** Parameter counts (elements; FP8 scales are not parameters). */
export interface ParameterCounts {
  /** Every trunk tensor (embedding, LM head unless tied, norms, attention, dense MLP, routers, all experts); no MTP. */
  total: number;
  /**
   * Parameters used per token, counting the WHOLE embedding table and LM head (the convention of MoE model cards,
   * which reproduces the published 15B for Flash and 42B for V2.5-Pro), plus all non-expert weights and
   * `num_experts_per_tok` experts in every MoE layer. MTP excluded.
   */
  activePerToken: number;
  /** activePerToken without the embedding table and LM head. */
  activeNonEmbedding: number;
  embedding: number;
  /** 0 when tie_word_embeddings. */
  lmHead: number;
  /** All MTP layers together (they reuse the embedding and LM head, counted in the trunk). */
  mtp: number;
  mtpPerLayer: number;
  numMtpLayers: number;
  totalWithMtp: number;
  byComponent: Record<TrunkComponent, number>;
  activeByComponent: Record<TrunkComponent, number>;
}

const zeroByComponent = (): Record<TrunkComponent, number> => ({
  embedding: 0,
  lmHead: 0,
  attention: 0,
  norms: 0,
  denseMlp: 0,
  router: 0,
  experts: 0,
});

/** Count parameters of a config with `numMtpLayers` MTP layers (3 in the release). */
export function countParameters(cfg: MiMoConfig, numMtpLayers: number): ParameterCounts {
  const byComponent = zeroByComponent();
  const activeByComponent = zeroByComponent();
  let mtp = 0;
  for (const g of weightInventory(cfg, numMtpLayers)) {
    const size = numel(g.shape);
    if (g.component === 'mtp') {
      mtp += size * g.count;
      continue;
    }
    byComponent[g.component] += size * g.count;
    activeByComponent[g.component] += size * g.activeCount;
  }
  const sum = (r: Record<TrunkComponent, number>): number => Object.values(r).reduce((a, b) => a + b, 0);
  const total = sum(byComponent);
  const activePerToken = sum(activeByComponent);
  return {
    total,
    activePerToken,
    activeNonEmbedding: activePerToken - byComponent.embedding - byComponent.lmHead,
    embedding: byComponent.embedding,
    lmHead: byComponent.lmHead,
    mtp,
    mtpPerLayer: numMtpLayers > 0 ? mtp / numMtpLayers : 0,
    numMtpLayers,
    totalWithMtp: total + mtp,
    byComponent,
    activeByComponent,
  };
}

/**
 * Bytes of an official checkpoint of this config by safetensors dtype (`F8_E4M3`, `U8`, `BF16`, `F32`), text model only,
 * trunk plus `numMtpLayers` MTP layers; F32 includes the FP8 `weight_scale_inv` grids. Assumes the official dtype
 * policy (see {@link weightInventory}); for a real directory use Checkpoint.bytesByDtype().
 */
export function weightBytesByDtype(cfg: MiMoConfig, numMtpLayers: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const g of weightInventory(cfg, numMtpLayers)) {
    for (const [dtype, n] of Object.entries(groupBytesByDtype(g))) out[dtype] = (out[dtype] ?? 0) + n;
  }
  return out;
}

/** Bytes per element of each KV-cache dtype (fp8 = e4m3 without scales). */
export const KV_DTYPE_BYTES = { bf16: 2, f16: 2, f32: 4, fp8: 1 } as const;
export type KvDtype = keyof typeof KV_DTYPE_BYTES;

/** KV bytes of one layer per cached token: numKvHeads × (headDim + vHeadDim) × bytes. */
export function kvBytesPerLayerToken(plan: AttentionPlan, kvDtypeBytes: number): number {
  return plan.numKvHeads * (plan.headDim + plan.vHeadDim) * kvDtypeBytes;
}

/** Per-token KV-cache bytes of one sequence, split by layer type (spec §3.7). */
export interface KvBytesPerToken {
  kvDtypeBytes: number;
  numFullLayers: number;
  numSlidingLayers: number;
  /** Tokens a sliding-window (and MTP) layer keeps. */
  window: number;
  /** All full-attention layers, per cached token; grows with the context. */
  full: number;
  /** All sliding-window layers, per token inside the window. */
  sliding: number;
  /** Sliding-window layers once the context reaches the window: window × sliding; bounded, per sequence. */
  slidingPerSequence: number;
  /** One MTP layer (sliding geometry), per token inside its window. */
  mtpPerLayer: number;
  /** One MTP layer per sequence: window × mtpPerLayer. */
  mtpPerLayerPerSequence: number;
  /** Counterfactual: every trunk layer with the full-attention KV geometry, per token. */
  allFull: number;
  /** allFull / full: the long-context KV reduction of the hybrid design (5.33 for Flash). */
  reduction: number;
}

/** KV-cache bytes per token for a KV dtype of `kvDtypeBytes` bytes per element (2 for bf16). */
export function kvBytesPerToken(cfg: MiMoConfig, kvDtypeBytes: number): KvBytesPerToken {
  let full = 0;
  let sliding = 0;
  let numFullLayers = 0;
  for (const layer of cfg.layers) {
    const bytes = kvBytesPerLayerToken(layer.attention, kvDtypeBytes);
    if (layer.attention.kind === 'full') {
      full += bytes;
      numFullLayers++;
    } else {
      sliding += bytes;
    }
  }
  const window = cfg.slidingWindow;
  const mtpPerLayer = kvBytesPerLayerToken(cfg.swaPlan, kvDtypeBytes);
  const allFull = cfg.layers.length * kvBytesPerLayerToken(cfg.fullPlan, kvDtypeBytes);
  return {
    kvDtypeBytes,
    numFullLayers,
    numSlidingLayers: cfg.layers.length - numFullLayers,
    window,
    full,
    sliding,
    slidingPerSequence: window * sliding,
    mtpPerLayer,
    mtpPerLayerPerSequence: window * mtpPerLayer,
    allFull,
    reduction: full > 0 ? allFull / full : Number.POSITIVE_INFINITY,
  };
}

/** KV-cache bytes of one sequence holding `contextTokens` tokens. */
export interface KvCacheBytes {
  contextTokens: number;
  full: number;
  /** min(context, window) tokens in every sliding-window layer. */
  sliding: number;
  /** min(context, window) tokens in every MTP layer. */
  mtp: number;
  /** full + sliding + mtp. */
  total: number;
  /** Counterfactual: every trunk layer full attention (no MTP). */
  allFull: number;
  /** allFull / (full + sliding): trunk against trunk. */
  ratio: number;
}

/**
 * KV-cache bytes of one sequence at `contextTokens` tokens. Sliding-window and MTP layers are counted as rings of
 * `window` tokens (an engine that also keeps draft tokens in the ring adds a few rows).
 */
export function kvCacheBytes(cfg: MiMoConfig, contextTokens: number, kvDtypeBytes: number, numMtpLayers: number): KvCacheBytes {
  const perToken = kvBytesPerToken(cfg, kvDtypeBytes);
  const ring = Math.min(contextTokens, perToken.window);
  const full = contextTokens * perToken.full;
  const sliding = ring * perToken.sliding;
  const mtp = numMtpLayers * ring * perToken.mtpPerLayer;
  const allFull = contextTokens * perToken.allFull;
  const trunk = full + sliding;
  return { contextTokens, full, sliding, mtp, total: trunk + mtp, allFull, ratio: trunk > 0 ? allFull / trunk : 0 };
}

/** Every expected text-model weight name (experts expanded) with its stored shape `[out, in]` or `[n]`; FP8 scales excluded, MXFP4 experts as U8 `[out, in/2]` with their `_scale` `[out, in/32]`. */
export function expectedWeightShapes(cfg: MiMoConfig, numMtpLayers: number): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const g of weightInventory(cfg, numMtpLayers)) {
    // MXFP4 is stored as U8 [out, in/2] codes beside U8 [out, in/32] E8M0 scales (spec §2.8).
    const stored = g.storage === 'mxfp4' ? [g.shape[0]!, g.shape[1]! / 2] : g.shape;
    for (let e = 0; e < g.count; e++) {
      const name = g.name.replace('{e}', String(e));
      out.set(name, stored);
      if (g.storage === 'mxfp4') out.set(`${name}_scale`, [g.shape[0]!, g.shape[1]! / 32]);
    }
  }
  return out;
}
