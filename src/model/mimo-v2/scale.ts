/**
 * Scaled-down configs of a family member, for random-weight checkpoints (`mimo init`): the member's published
 * `config.json` (a preset, hub key names) with its sizes shrunk and its character kept — layer 0 full attention and
 * dense, the member's full/sliding rhythm compressed (Flash: full every 6th layer and at the last; Pro: every 8th),
 * q/k : v head dims 3 : 2, partial RoPE factor, SWA vs full kv-head ratio (Flash / V2.5 2×, Pro equal), sinks on
 * SWA, value scale, RoPE thetas, `model_type`, `attention_projection_layout`, real vocab and eos/pad ids.
 *
 * | scale | D | layers | q heads (Dqk/Dv) | kv full/SWA (split; fused) | dense / expert width | E (top-k) | W | V |
 * | --- | --- | --- | --- | --- | --- | --- | --- | --- |
 * | tiny | 64 | 6 (Pro 8) | split 4 (48/32), fused 8 (24/16) | 1/2; V2.5 2/4, Pro 2/2 | 256 / 32 | 8 (2) | 16 | 152576 |
 * | small | 512 | 12 | 8 (192/128) | 1/2; V2.5 2/4, Pro 2/2 | 2048 / 256 | 32 (4) | 128 | 152576 |
 * | bench | 1024 | 12 | 16 (192/128) | 1/2 (Flash only) | 4096 / 512 | 32 (4) | 128 | 32000 |
 * | wide | the member's | 6 (Pro 8) | the member's | the member's | the member's | 64 (8) | the member's | the member's |
 *
 * `wide` keeps every matrix of the member at its real shape (hidden size, heads and head dims, KV heads, dense and
 * expert widths, vocabulary, window) with one full-attention period of layers — full attention at 0 and 5 (Pro: 0
 * and 7), layer 0 dense — and 64 of the experts, top-8: the shapes a real decode step streams, in a checkpoint that
 * fits this machine (Flash FP8 ≈ 12 GB, V2.6-Flash MXFP4 ≈ 8 GB).
 *
 * Parameter counts (3 MTP layers, untied LM head; FP8 scales not counted): `small` has 333,091,264 parameters for
 * Flash (317,158,312 without the MTP layers; 156.2 M of them are the 152576-row embedding and LM head),
 * 337,514,944 for V2.5 and 333,582,784 for V2.5-Pro. `bench` is the llama.cpp anchor model of
 * tools/llamacpp-anchor/README.md: 701,949,424 parameters without MTP layers (the README's 0.702 B).
 * Source: spec §0, §1.1 (keys, patterns), §2.6 (fused qkv needs heads and kv heads divisible by
 * num_key_value_heads); tools/llamacpp-anchor/README.md (bench geometry).
 */
import { ConfigError } from '../../errors.js';

export type Scale = 'tiny' | 'small' | 'bench' | 'wide';
export const SCALES: readonly Scale[] = ['tiny', 'small', 'bench', 'wide'];

/** Routed experts (top-k) of the `wide` scale: the real matrix shapes with few of them (issue: real-width kernels). */
export const WIDE_EXPERTS = 64;
export const WIDE_EXPERTS_PER_TOK = 8;

/** `<|im_end|>` and `<|endoftext|>` of the MiMo tokenizer (spec §1.1, §5.1). */
const EOS_TOKEN_ID = 151645;
const PAD_TOKEN_ID = 151643;

/** Size of one scale; heads and head dims differ between the split (Flash) and fused (V2.5, Pro) layouts. */
interface ScaleGeometry {
  hiddenSize: number;
  /** Layer count, or null for "one full-attention period" (6 for Flash / V2.5, 8 for Pro). */
  numLayers: number | null;
  split: { heads: number; headDim: number; kvFull: number };
  fused: { heads: number; headDim: number; kvFull: number };
  intermediateSize: number;
  moeIntermediateSize: number;
  experts: number;
  expertsPerTok: number;
  window: number;
  /** null keeps the member's vocab_size (152576). */
  vocabSize: number | null;
}

const GEOMETRY: Readonly<Record<Exclude<Scale, 'wide'>, ScaleGeometry>> = {
  tiny: {
    hiddenSize: 64,
    numLayers: null,
    split: { heads: 4, headDim: 48, kvFull: 1 },
    fused: { heads: 8, headDim: 24, kvFull: 2 },
    intermediateSize: 256,
    moeIntermediateSize: 32,
    experts: 8,
    expertsPerTok: 2,
    window: 16,
    vocabSize: null,
  },
  small: {
    hiddenSize: 512,
    numLayers: 12,
    split: { heads: 8, headDim: 192, kvFull: 1 },
    fused: { heads: 8, headDim: 192, kvFull: 2 },
    intermediateSize: 2048,
    moeIntermediateSize: 256,
    experts: 32,
    expertsPerTok: 4,
    window: 128,
    vocabSize: null,
  },
  bench: {
    hiddenSize: 1024,
    numLayers: 12,
    split: { heads: 16, headDim: 192, kvFull: 1 },
    fused: { heads: 16, headDim: 192, kvFull: 1 }, // unused: bench is Flash only
    intermediateSize: 4096,
    moeIntermediateSize: 512,
    experts: 32,
    expertsPerTok: 4,
    window: 128,
    vocabSize: 32000,
  },
};

/** Multimodal keys of the V2.5 release that describe towers a text-only scaled checkpoint does not have. */
const DROPPED_KEYS = ['vision_config', 'audio_config', 'processor_config', 'quantization_config'] as const;

type Json = Record<string, unknown>;

function intKey(raw: Json, key: string, source: string): number {
  const v = raw[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1) throw new ConfigError(source, key, `expected a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * Distance between full-attention layers of a `hybrid_layer_pattern` (0 = full): (L − 1) / (full layers − 1),
 * rounded — 47 / 8 → 6 for Flash and V2.5 (full at 0, 5, 11, …, 47), 69 / 9 → 8 for Pro (0, 7, 15, …, 62, 69).
 */
export function fullAttentionPeriod(pattern: readonly number[]): number {
  const full = pattern.reduce((n, bit) => n + (bit === 0 ? 1 : 0), 0);
  if (full < 2) return pattern.length;
  return Math.max(2, Math.round((pattern.length - 1) / (full - 1)));
}

/**
 * A `hybrid_layer_pattern` of `numLayers` with the rhythm of `period`: full attention (0) at layer 0, at every
 * layer i with (i + 1) mod period = 0, and at the last layer; sliding window (1) elsewhere.
 */
export function compressedPattern(numLayers: number, period: number): number[] {
  return Array.from({ length: numLayers }, (_, i) => (i === 0 || (i + 1) % period === 0 || i === numLayers - 1 ? 0 : 1));
}

/**
 * The member's config.json scaled down to `scale` (see the table above), as a raw object with hub key names; parse
 * it with parseConfig. Unquantised: `quantization_config` is removed (see {@link fp8QuantizationConfig}), as are the
 * multimodal tower configs (the scaled checkpoint is text-only). `bench` has no eos/pad ids (its 32000-token vocab
 * has no `<|im_end|>`).
 * @param rawPreset a preset's published config.json (loadPreset(name).raw); not modified
 * @throws ConfigError when the preset lacks a key the scaling reads, when `bench` is asked of a fused-qkv member
 *   (the llama.cpp anchor model is Flash), or when the member's SWA / full kv-head ratio is not a whole number
 */
export function scaledConfig(rawPreset: Readonly<Json>, scale: Scale): Json {
  const source = `scaled config (${scale})`;
  if (scale === 'wide') return wideConfig(rawPreset, source);
  const g = GEOMETRY[scale];
  if (!g) throw new ConfigError(source, undefined, `unknown scale ${JSON.stringify(scale)} (valid: ${SCALES.join(', ')})`);
  const fused = rawPreset['attention_projection_layout'] === 'fused_qkv';
  if (scale === 'bench' && (fused || rawPreset['model_type'] !== 'mimo_v2_flash')) {
    throw new ConfigError(source, 'model_type', `the bench scale is the llama.cpp anchor model, a MiMo-V2-Flash; got ${JSON.stringify(rawPreset['model_type'])} (use a mimo-v2-flash preset)`);
  }
  const rawPattern = rawPreset['hybrid_layer_pattern'];
  if (!Array.isArray(rawPattern)) throw new ConfigError(source, 'hybrid_layer_pattern', 'expected a list of 0/1 values');
  const period = fullAttentionPeriod(rawPattern as number[]);
  const numLayers = g.numLayers ?? period;

  const heads0 = intKey(rawPreset as Json, 'num_attention_heads', source);
  const swaHeads0 = intKey(rawPreset as Json, 'swa_num_attention_heads', source);
  const kv0 = intKey(rawPreset as Json, 'num_key_value_heads', source);
  const swaKv0 = intKey(rawPreset as Json, 'swa_num_key_value_heads', source);
  const qk0 = intKey(rawPreset as Json, 'head_dim', source);
  const v0 = intKey(rawPreset as Json, 'v_head_dim', source);
  if (swaKv0 % kv0 !== 0) throw new ConfigError(source, 'swa_num_key_value_heads', `${swaKv0} is not a multiple of num_key_value_heads ${kv0}; cannot keep the ratio`);
  if (swaHeads0 % heads0 !== 0 && heads0 % swaHeads0 !== 0) throw new ConfigError(source, 'swa_num_attention_heads', `${swaHeads0} and num_attention_heads ${heads0} have no whole ratio`);

  const geo = fused ? g.fused : g.split;
  const kvFull = geo.kvFull;
  const kvSwa = kvFull * (swaKv0 / kv0);
  const swaHeads = (geo.heads * swaHeads0) / heads0;
  const headDim = geo.headDim;
  const vHeadDim = Math.round((headDim * v0) / qk0);

  const out: Json = structuredClone(rawPreset) as Json;
  for (const k of DROPPED_KEYS) delete out[k];
  Object.assign(out, {
    hidden_size: g.hiddenSize,
    num_hidden_layers: numLayers,
    hybrid_layer_pattern: compressedPattern(numLayers, period),
    moe_layer_freq: Array.from({ length: numLayers }, (_, i) => (i === 0 ? 0 : 1)),
    intermediate_size: g.intermediateSize,
    moe_intermediate_size: g.moeIntermediateSize,
    num_attention_heads: geo.heads,
    num_key_value_heads: kvFull,
    head_dim: headDim,
    v_head_dim: vHeadDim,
    swa_num_attention_heads: swaHeads,
    swa_num_key_value_heads: kvSwa,
    swa_head_dim: headDim,
    swa_v_head_dim: vHeadDim,
    sliding_window: g.window,
    sliding_window_size: g.window,
    attention_chunk_size: g.window,
    n_routed_experts: g.experts,
    num_experts_per_tok: g.expertsPerTok,
    n_group: 1,
    topk_group: 1,
    vocab_size: g.vocabSize ?? rawPreset['vocab_size'],
    tie_word_embeddings: false,
    eos_token_id: scale === 'bench' ? null : EOS_TOKEN_ID,
    pad_token_id: scale === 'bench' ? null : PAD_TOKEN_ID,
  });
  return out;
}

/** The `wide` scale (see the table above): the member's config with 6 (Pro 8) layers and 64 experts, top-8. */
function wideConfig(rawPreset: Readonly<Json>, source: string): Json {
  const rawPattern = rawPreset['hybrid_layer_pattern'];
  if (!Array.isArray(rawPattern)) throw new ConfigError(source, 'hybrid_layer_pattern', 'expected a list of 0/1 values');
  const numLayers = fullAttentionPeriod(rawPattern as number[]);
  const out: Json = structuredClone(rawPreset) as Json;
  for (const k of DROPPED_KEYS) delete out[k];
  Object.assign(out, {
    num_hidden_layers: numLayers,
    hybrid_layer_pattern: compressedPattern(numLayers, numLayers),
    moe_layer_freq: Array.from({ length: numLayers }, (_, i) => (i === 0 ? 0 : 1)),
    n_routed_experts: WIDE_EXPERTS,
    num_experts_per_tok: WIDE_EXPERTS_PER_TOK,
    n_group: 1,
    topk_group: 1,
    tie_word_embeddings: false,
  });
  return out;
}

/**
 * The `quantization_config` of a scaled FP8 checkpoint: the member's own (quant_method fp8, fmt e4m3, dynamic
 * activations, weight_block_size [128, 128], store_dtype / packed_modules_mapping as published) with
 * `ignored_layers` rewritten for `numLayers` trunk o_proj modules; entries that are not trunk layers
 * (V2.5's `model.decoder.self_attn.o_proj`) are kept, as the release has them.
 * @param rawPreset the member's published config.json (its quantization_config, when present, is the template)
 */
export function fp8QuantizationConfig(rawPreset: Readonly<Json>, numLayers: number): Json {
  const published = rawPreset['quantization_config'];
  const base: Json = published && typeof published === 'object' ? (structuredClone(published) as Json) : {};
  const extra = Array.isArray(base['ignored_layers'])
    ? (base['ignored_layers'] as unknown[]).filter((n) => typeof n === 'string' && !/^model\.layers\.\d+\./.test(n))
    : [];
  return {
    ...base,
    activation_scheme: 'dynamic',
    fmt: 'e4m3',
    quant_method: 'fp8',
    weight_block_size: [128, 128],
    ignored_layers: [...Array.from({ length: numLayers }, (_, i) => `model.layers.${i}.self_attn.o_proj`), ...extra],
  };
}
