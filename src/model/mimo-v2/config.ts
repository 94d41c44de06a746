/**
 * `config.json` of every MiMo-V2 family member, parsed once and loudly, into a typed config plus a per-layer
 * plan. Key names are the hub's (spec §1.1); camelCase fields map to them by case only. Unknown `model_type`,
 * missing required keys, and contradictions throw ConfigError naming the key and the file.
 * Source: spec §1, fixtures/README §1 "config.json", §1.1 (fused qkv).
 */
import * as fs from 'node:fs';
import { ConfigError } from '../../errors.js';

/** `model_type` values of the family and what they imply. */
export const MODEL_TYPES = {
  mimo_v2_flash: { architecture: 'MiMoV2FlashForCausalLM' },
  mimo_v2: { architecture: 'MiMoV2ForCausalLM' },
} as const;
export type ModelType = keyof typeof MODEL_TYPES;

/** Geometry and RoPE of one attention layer (full or sliding window; MTP layers use the sliding plan). */
export interface AttentionPlan {
  kind: 'full' | 'sliding';
  numHeads: number;
  numKvHeads: number;
  /** Q/K head dim (192 in the release). */
  headDim: number;
  /** V head dim (128 in the release). */
  vHeadDim: number;
  ropeTheta: number;
  /** Rotated leading dims of each q/k head: int(headDim × partial_rotary_factor). */
  rotaryDim: number;
  /** Keys visible to a query including itself; null for full attention. */
  window: number | null;
  /** Whether the layer has `self_attn.attention_sink_bias` [numHeads]. */
  hasSink: boolean;
}

/** Per-layer facts decided once (after llama.cpp's n_head(il)). */
export interface LayerPlan {
  index: number;
  attention: AttentionPlan;
  ffn: 'dense' | 'moe';
}

/** Keys we read but that do not change the math, with the reason (STYLE habit 2). */
export const IGNORED_KEYS: Readonly<Record<string, string>> = {
  attention_chunk_size: 'not used by any known inference implementation (spec §1.1)',
  hybrid_block_size: 'unused (spec §1.1)',
  attention_dropout: 'inference only',
  initializer_range: 'training only',
  use_cache: 'the engine always caches',
  vision_config: 'multimodal tower, not part of the text model',
  audio_config: 'multimodal tower, not part of the text model',
};

export interface MiMoConfig {
  /** Path or preset name the config came from (used in error messages). */
  source: string;
  modelType: ModelType;
  vocabSize: number;
  hiddenSize: number;
  numHiddenLayers: number;
  intermediateSize: number;
  moeIntermediateSize: number;
  numAttentionHeads: number;
  numKeyValueHeads: number;
  headDim: number;
  vHeadDim: number;
  swaNumAttentionHeads: number;
  swaNumKeyValueHeads: number;
  swaHeadDim: number;
  swaVHeadDim: number;
  slidingWindow: number;
  ropeTheta: number;
  swaRopeTheta: number;
  partialRotaryFactor: number;
  attentionValueScale: number;
  addSwaAttentionSinkBias: boolean;
  addFullAttentionSinkBias: boolean;
  layernormEpsilon: number;
  nRoutedExperts: number;
  numExpertsPerTok: number;
  nGroup: number;
  topkGroup: number;
  normTopkProb: boolean;
  routedScalingFactor: number;
  tieWordEmbeddings: boolean;
  /** True for `attention_projection_layout: "fused_qkv"` (V2.5, V2.5-Pro). */
  fusedQkv: boolean;
  /** FP8 block size [b0, b1] from `quantization_config.weight_block_size`, or null when unquantised. */
  weightBlockSize: [number, number] | null;
  /** Storage of the routed experts: `quantization_config.store_dtype: "mxfp4"` (V2.6, spec §2.8), else as the other weights. */
  expertStorage: 'mxfp4' | 'default';
  /** `moe_router_dtype`: "bfloat16" rounds the router input to BF16 (V2.6, spec §2.8); absent = float32 router. */
  moeRouterDtype: 'bfloat16' | 'float32';
  eosTokenIds: number[];
  padTokenId: number | null;
  /** Context length in tokens (`max_position_embeddings`), or null when absent. */
  maxPositionEmbeddings: number | null;
  layers: LayerPlan[];
  /** Attention plan of the sliding-window layers, also used by every MTP layer. */
  swaPlan: AttentionPlan;
  fullPlan: AttentionPlan;
}

type Json = Record<string, unknown>;

class Reader {
  constructor(
    readonly raw: Json,
    readonly file: string,
  ) {}
  err(key: string, detail: string): ConfigError {
    return new ConfigError(this.file, key, detail);
  }
  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }
  int(key: string, min = 1): number {
    const v = this.raw[key];
    if (v === undefined || v === null) throw this.err(key, 'required key is missing');
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) throw this.err(key, `expected an integer ≥ ${min}, got ${JSON.stringify(v)}`);
    return v;
  }
  num(key: string, dflt?: number): number {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (dflt !== undefined) return dflt;
      throw this.err(key, 'required key is missing');
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw this.err(key, `expected a finite number, got ${JSON.stringify(v)}`);
    return v;
  }
  bool(key: string, dflt?: boolean): boolean {
    const v = this.raw[key];
    if (v === undefined || v === null) {
      if (dflt !== undefined) return dflt;
      throw this.err(key, 'required key is missing');
    }
    if (typeof v !== 'boolean') throw this.err(key, `expected true or false, got ${JSON.stringify(v)}`);
    return v;
  }
  bits(key: string, length: number, lengthKey: string): number[] {
    const v = this.raw[key];
    if (v === undefined || v === null) throw this.err(key, 'required key is missing');
    if (!Array.isArray(v) || !v.every((x) => x === 0 || x === 1)) throw this.err(key, 'expected a list of 0/1 values');
    if (v.length !== length) throw this.err(key, `has ${v.length} entries but ${lengthKey} is ${length}`);
    return v as number[];
  }
  /** When present, the key must equal one of `allowed`. */
  fixed(key: string, allowed: unknown[]): void {
    const v = this.raw[key];
    if (v === undefined) return;
    if (!allowed.some((a) => a === v)) throw this.err(key, `unsupported value ${JSON.stringify(v)} (supported: ${allowed.map((a) => JSON.stringify(a)).join(', ')})`);
  }
  ids(key: string): number[] {
    const v = this.raw[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => Number.isSafeInteger(x) && x >= 0)) throw this.err(key, `expected a token id or a list of ids, got ${JSON.stringify(v)}`);
    return list as number[];
  }
}

/**
 * Parse a config object.
 * @param raw the parsed JSON of config.json
 * @param source the file path or preset name for error messages
 * @throws ConfigError naming key and file on any unknown type, missing key, bad value or contradiction
 */
export function parseConfig(raw: unknown, source: string): MiMoConfig {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError(source, undefined, 'not a JSON object');
  const r = new Reader(raw as Json, source);
  const modelType = (raw as Json)['model_type'];
  if (typeof modelType !== 'string' || !Object.prototype.hasOwnProperty.call(MODEL_TYPES, modelType)) {
    throw r.err('model_type', `unknown model type ${JSON.stringify(modelType)} (supported: ${Object.keys(MODEL_TYPES).join(', ')})`);
  }
  r.fixed('scoring_func', ['sigmoid']);
  r.fixed('topk_method', ['noaux_tc']);
  r.fixed('hidden_act', ['silu']);
  r.fixed('n_shared_experts', [null, 0]);
  r.fixed('attention_bias', [false]);
  r.fixed('attention_projection_layout', ['fused_qkv']);
  const ropeScaling = (raw as Json)['rope_scaling'] as Json | null | undefined;
  if (ropeScaling !== undefined && ropeScaling !== null) {
    const t = ropeScaling['rope_type'] ?? ropeScaling['type'];
    if (t !== 'default') throw r.err('rope_scaling', `unsupported rope scaling ${JSON.stringify(ropeScaling)} (only "default")`);
  }

  const numHiddenLayers = r.int('num_hidden_layers');
  const pattern = r.bits('hybrid_layer_pattern', numHiddenLayers, 'num_hidden_layers');
  const moeFreq = r.bits('moe_layer_freq', numHiddenLayers, 'num_hidden_layers');
  const sw = r.has('sliding_window_size') ? r.int('sliding_window_size') : r.int('sliding_window');
  if (r.has('sliding_window') && r.has('sliding_window_size') && r.int('sliding_window') !== sw) {
    throw r.err('sliding_window', `is ${r.int('sliding_window')} but sliding_window_size is ${sw}`);
  }
  const partialRotaryFactor = r.num('partial_rotary_factor');
  if (!(partialRotaryFactor > 0 && partialRotaryFactor <= 1)) throw r.err('partial_rotary_factor', `must be in (0, 1], got ${partialRotaryFactor}`);
  const quant = (raw as Json)['quantization_config'] as Json | null | undefined;
  let weightBlockSize: [number, number] | null = null;
  if (quant) {
    for (const [key, allowed] of [['quant_method', 'fp8'], ['fmt', 'e4m3']] as const) {
      if (quant[key] !== undefined && quant[key] !== allowed) throw r.err(`quantization_config.${key}`, `unsupported value ${JSON.stringify(quant[key])} (supported: "${allowed}")`);
    }
    const b = quant['weight_block_size'];
    if (!Array.isArray(b) || b.length !== 2 || !b.every((x) => Number.isSafeInteger(x) && x > 0)) {
      throw r.err('quantization_config.weight_block_size', `expected [b0, b1] of positive integers, got ${JSON.stringify(b)}`);
    }
    weightBlockSize = [b[0], b[1]];
  }
  let expertStorage: 'mxfp4' | 'default' = 'default';
  const storeDtype = quant?.['store_dtype'];
  if (storeDtype !== undefined && storeDtype !== null) {
    if (storeDtype !== 'mxfp4' && storeDtype !== 'fp8') throw r.err('quantization_config.store_dtype', `unsupported value ${JSON.stringify(storeDtype)} (supported: "fp8", "mxfp4")`);
  }
  if (storeDtype === 'mxfp4') {
    const mb = quant!['mxfp4_block_size'];
    if (mb !== undefined && mb !== 32) throw r.err('quantization_config.mxfp4_block_size', `unsupported value ${JSON.stringify(mb)} (MXFP4 blocks are 32 columns)`);
    expertStorage = 'mxfp4';
  }
  const routerDtype = (raw as Json)['moe_router_dtype'];
  if (routerDtype !== undefined && routerDtype !== null && routerDtype !== 'bfloat16' && routerDtype !== 'float32') {
    throw r.err('moe_router_dtype', `unsupported value ${JSON.stringify(routerDtype)} (supported: "bfloat16", "float32")`);
  }

  const cfg = {
    source,
    modelType: modelType as ModelType,
    vocabSize: r.int('vocab_size'),
    hiddenSize: r.int('hidden_size'),
    numHiddenLayers,
    intermediateSize: r.int('intermediate_size'),
    moeIntermediateSize: r.int('moe_intermediate_size'),
    numAttentionHeads: r.int('num_attention_heads'),
    numKeyValueHeads: r.int('num_key_value_heads'),
    headDim: r.int('head_dim'),
    vHeadDim: r.int('v_head_dim'),
    swaNumAttentionHeads: r.int('swa_num_attention_heads'),
    swaNumKeyValueHeads: r.int('swa_num_key_value_heads'),
    swaHeadDim: r.int('swa_head_dim'),
    swaVHeadDim: r.int('swa_v_head_dim'),
    slidingWindow: sw,
    ropeTheta: r.num('rope_theta'),
    swaRopeTheta: r.num('swa_rope_theta'),
    partialRotaryFactor,
    attentionValueScale: r.num('attention_value_scale', 1.0),
    addSwaAttentionSinkBias: r.bool('add_swa_attention_sink_bias', false),
    addFullAttentionSinkBias: r.bool('add_full_attention_sink_bias', false),
    layernormEpsilon: r.num('layernorm_epsilon'),
    nRoutedExperts: r.int('n_routed_experts'),
    numExpertsPerTok: r.int('num_experts_per_tok'),
    nGroup: r.int('n_group'),
    topkGroup: r.int('topk_group'),
    normTopkProb: r.bool('norm_topk_prob'),
    routedScalingFactor: r.num('routed_scaling_factor', 1.0),
    tieWordEmbeddings: r.bool('tie_word_embeddings', false),
    fusedQkv: (raw as Json)['attention_projection_layout'] === 'fused_qkv',
    weightBlockSize,
    expertStorage,
    moeRouterDtype: (routerDtype === 'bfloat16' ? 'bfloat16' : 'float32') as 'bfloat16' | 'float32',
    eosTokenIds: r.ids('eos_token_id'),
    padTokenId: r.ids('pad_token_id')[0] ?? null,
    maxPositionEmbeddings: r.has('max_position_embeddings') ? r.int('max_position_embeddings') : null,
  };
  for (const key of ['eos_token_id', 'pad_token_id'] as const) {
    for (const id of r.ids(key)) if (id >= cfg.vocabSize) throw r.err(key, `${id} is outside the vocabulary [0, ${cfg.vocabSize})`);
  }
  if (!(cfg.routedScalingFactor > 0)) throw r.err('routed_scaling_factor', `must be > 0 (or null for 1.0), got ${cfg.routedScalingFactor}`);
  if (!(cfg.attentionValueScale > 0)) throw r.err('attention_value_scale', `must be > 0 (or absent for 1.0), got ${cfg.attentionValueScale}`);
  const architectures = (raw as Json)['architectures'];
  const expectedArch = MODEL_TYPES[cfg.modelType].architecture;
  if (architectures !== undefined && (!Array.isArray(architectures) || !architectures.includes(expectedArch))) {
    throw r.err('architectures', `${JSON.stringify(architectures)} does not name ${expectedArch}, the class of model_type ${cfg.modelType}`);
  }
  if (!(cfg.layernormEpsilon > 0)) throw r.err('layernorm_epsilon', `must be > 0, got ${cfg.layernormEpsilon}`);
  if (!(cfg.ropeTheta > 0)) throw r.err('rope_theta', `must be > 0, got ${cfg.ropeTheta}`);
  if (!(cfg.swaRopeTheta > 0)) throw r.err('swa_rope_theta', `must be > 0, got ${cfg.swaRopeTheta}`);

  const plan = (kind: 'full' | 'sliding'): AttentionPlan => {
    const p = kind === 'full' ? '' : 'swa_';
    const numHeads = kind === 'full' ? cfg.numAttentionHeads : cfg.swaNumAttentionHeads;
    const numKvHeads = kind === 'full' ? cfg.numKeyValueHeads : cfg.swaNumKeyValueHeads;
    const headDim = kind === 'full' ? cfg.headDim : cfg.swaHeadDim;
    if (numHeads % numKvHeads !== 0) throw r.err(`${p}num_attention_heads`, `${numHeads} is not a multiple of ${p}num_key_value_heads ${numKvHeads}`);
    const rotaryDim = Math.trunc(headDim * partialRotaryFactor);
    if (rotaryDim % 2 !== 0 || rotaryDim === 0) throw r.err('partial_rotary_factor', `gives an odd or zero rotary dim int(${headDim} × ${partialRotaryFactor}) = ${rotaryDim}`);
    if (cfg.fusedQkv && (numHeads % cfg.numKeyValueHeads !== 0 || numKvHeads % cfg.numKeyValueHeads !== 0)) {
      throw r.err(`${p}num_key_value_heads`, `fused qkv_proj needs ${p}num_attention_heads (${numHeads}) and ${p}num_key_value_heads (${numKvHeads}) to be multiples of the chunk count num_key_value_heads = ${cfg.numKeyValueHeads}`);
    }
    return {
      kind,
      numHeads,
      numKvHeads,
      headDim,
      vHeadDim: kind === 'full' ? cfg.vHeadDim : cfg.swaVHeadDim,
      ropeTheta: kind === 'full' ? cfg.ropeTheta : cfg.swaRopeTheta,
      rotaryDim,
      window: kind === 'full' ? null : cfg.slidingWindow,
      hasSink: kind === 'full' ? cfg.addFullAttentionSinkBias : cfg.addSwaAttentionSinkBias,
    };
  };
  const fullPlan = plan('full');
  const swaPlan = plan('sliding');
  if (cfg.nRoutedExperts % cfg.nGroup !== 0) throw r.err('n_group', `${cfg.nGroup} does not divide n_routed_experts ${cfg.nRoutedExperts}`);
  if (cfg.topkGroup > cfg.nGroup) throw r.err('topk_group', `${cfg.topkGroup} exceeds n_group ${cfg.nGroup}`);
  const keptExperts = (cfg.nRoutedExperts / cfg.nGroup) * cfg.topkGroup;
  if (cfg.numExpertsPerTok > keptExperts) {
    throw r.err('num_experts_per_tok', `${cfg.numExpertsPerTok} exceeds the ${keptExperts} experts in the topk_group best groups`);
  }
  if (cfg.nGroup > 1 && cfg.nRoutedExperts / cfg.nGroup < 2) throw r.err('n_group', 'each group needs at least 2 experts (group score = sum of the top 2)');
  const layers: LayerPlan[] = pattern.map((bit, index) => ({
    index,
    attention: bit === 1 ? swaPlan : fullPlan,
    ffn: moeFreq[index] === 1 ? 'moe' : 'dense',
  }));
  return { ...cfg, layers, swaPlan, fullPlan };
}

/**
 * Read and parse `config.json` from a path.
 * @throws ConfigError when the file is missing, not JSON, or invalid (see {@link parseConfig}).
 */
export function loadConfig(file: string): MiMoConfig {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, undefined, `cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, undefined, `not valid JSON (${(e as Error).message})`);
  }
  return parseConfig(raw, file);
}
