/**
 * MiMo-V2 in GGUF, as llama.cpp's converter writes architecture `mimo2`: the model config rebuilt from the
 * `mimo2.*` metadata (the same checks as config.json, via parseConfig), and the map from llama.cpp's tensor names
 * (`blk.3.attn_q.weight`, stacked `blk.3.ffn_gate_exps.weight` `[E, I, D]`) to the official names the weight loader
 * asks for. Where a key is absent, llama.cpp's own behaviour for mimo2 is the default (src/models/mimo2*.cpp: top-k
 * weights always renormalised, no routed scale, no expert groups, sigmoid gating; sinks and MoE layers by tensor
 * presence). Source: llama.cpp src/llama-arch.cpp (names), src/llama-model.cpp (mimo2 hparams),
 * ../shared/tools/llamacpp-anchor/hf_to_gguf.py (what the converter writes: V heads zero-padded to one
 * value_length, routed_scaling_factor folded into ffn_down_exps, synthetic tokenizer).
 */
import { ConfigError } from '../../errors.js';
import type { GgufModelFiles, GgufTensorInfo } from '../../loader/gguf.js';
import { parseConfig, type MiMoConfig } from './config.js';
import { GGML_TYPE } from '../../tensor/formats/ggml/types.js';

export const GGUF_ARCH = 'mimo2';

/** A GGUF tensor (or one expert's slice of a stacked tensor) behind a logical name. */
export interface GgufTensorRef {
  gguf: string;
  /** Index into the outermost dimension of a stacked `*_exps` tensor. */
  expert?: number;
}

/** Per-layer GGUF suffix → official suffix (trunk and MTP layers). */
const LAYER_NAMES: Readonly<Record<string, string>> = {
  'attn_norm.weight': 'input_layernorm.weight',
  'ffn_norm.weight': 'post_attention_layernorm.weight',
  'attn_q.weight': 'self_attn.q_proj.weight',
  'attn_k.weight': 'self_attn.k_proj.weight',
  'attn_v.weight': 'self_attn.v_proj.weight',
  'attn_output.weight': 'self_attn.o_proj.weight',
  'attn_sinks.weight': 'self_attn.attention_sink_bias',
  'ffn_gate.weight': 'mlp.gate_proj.weight',
  'ffn_up.weight': 'mlp.up_proj.weight',
  'ffn_down.weight': 'mlp.down_proj.weight',
  'ffn_gate_inp.weight': 'mlp.gate.weight',
  'exp_probs_b.bias': 'mlp.gate.e_score_correction_bias',
};
/** MTP layers (llama.cpp's `nextn` tensors in blocks n_layer … n_layer + nextn − 1). */
const MTP_NAMES: Readonly<Record<string, string>> = {
  ...LAYER_NAMES,
  'ffn_norm.weight': 'pre_mlp_layernorm.weight',
  'nextn.eh_proj.weight': 'eh_proj.weight',
  'nextn.enorm.weight': 'enorm.weight',
  'nextn.hnorm.weight': 'hnorm.weight',
  'nextn.shared_head_norm.weight': 'final_layernorm.weight',
};
const EXPERT_NAMES: Readonly<Record<string, string>> = {
  'ffn_gate_exps.weight': 'gate_proj.weight',
  'ffn_up_exps.weight': 'up_proj.weight',
  'ffn_down_exps.weight': 'down_proj.weight',
};
const GLOBAL_NAMES: Readonly<Record<string, string>> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output.weight': 'lm_head.weight',
  'output_norm.weight': 'model.norm.weight',
};

/**
 * Logical names of a mimo2 GGUF's tensors. GGUF names that map to nothing are returned in `unmapped`.
 * @param numLayers trunk layers (block_count − nextn_predict_layers)
 */
export function mapGgufNames(tensors: ReadonlyMap<string, GgufTensorInfo>, numLayers: number): { map: Map<string, GgufTensorRef>; unmapped: string[] } {
  const map = new Map<string, GgufTensorRef>();
  const unmapped: string[] = [];
  for (const [name, info] of tensors) {
    if (GLOBAL_NAMES[name]) {
      map.set(GLOBAL_NAMES[name]!, { gguf: name });
      continue;
    }
    const m = /^blk\.(\d+)\.(.+)$/.exec(name);
    if (!m) {
      unmapped.push(name);
      continue;
    }
    const i = Number(m[1]);
    const mtp = i >= numLayers;
    const prefix = mtp ? `model.mtp.layers.${i - numLayers}` : `model.layers.${i}`;
    const suffix = (mtp ? MTP_NAMES : LAYER_NAMES)[m[2]!];
    if (suffix) {
      map.set(`${prefix}.${suffix}`, { gguf: name });
    } else if (!mtp && EXPERT_NAMES[m[2]!] && info.shape.length === 3) {
      for (let e = 0; e < info.shape[0]!; e++) map.set(`${prefix}.mlp.experts.${e}.${EXPERT_NAMES[m[2]!]}`, { gguf: name, expert: e });
    } else {
      unmapped.push(name);
    }
  }
  return { map, unmapped };
}

/** An f32 metadata value as the shortest decimal that rounds to it (the number the converter was given: 1e-5, 0.707). */
function shortestF32(x: number): number {
  for (let p = 1; p <= 9; p++) {
    const y = Number(x.toPrecision(p));
    if (Math.fround(y) === x) return y;
  }
  return x;
}

/** config.json key → the mimo2.* key it is rebuilt from (for errors). */
const GGUF_KEY_OF: Readonly<Record<string, string>> = {
  num_attention_heads: 'attention.head_count',
  swa_num_attention_heads: 'attention.head_count',
  num_key_value_heads: 'attention.head_count_kv',
  swa_num_key_value_heads: 'attention.head_count_kv',
  head_dim: 'attention.key_length',
  swa_head_dim: 'attention.key_length_swa',
  v_head_dim: 'attention.value_length',
  swa_v_head_dim: 'attention.value_length_swa',
  partial_rotary_factor: 'rope.dimension_count',
  rope_theta: 'rope.freq_base',
  swa_rope_theta: 'rope.freq_base_swa',
  layernorm_epsilon: 'attention.layer_norm_rms_epsilon',
  sliding_window_size: 'attention.sliding_window',
  n_routed_experts: 'expert_count',
  num_experts_per_tok: 'expert_used_count',
  n_group: 'expert_group_count',
  topk_group: 'expert_group_used_count',
  routed_scaling_factor: 'expert_weights_scale',
  attention_value_scale: 'attention.value_scale',
  intermediate_size: 'feed_forward_length',
  moe_intermediate_size: 'expert_feed_forward_length',
  hidden_size: 'embedding_length',
};

class Meta {
  constructor(
    readonly g: GgufModelFiles,
    readonly file: string,
  ) {}
  err(key: string, detail: string): ConfigError {
    return new ConfigError(this.file, key, detail);
  }
  raw(key: string): { value: unknown; type: number } | undefined {
    return this.g.metadata[key];
  }
  int(key: string, dflt?: number, min = 0): number {
    const v = this.raw(key);
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      throw this.err(key, 'required key is missing');
    }
    const n = typeof v.value === 'bigint' ? Number(v.value) : v.value;
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) throw this.err(key, `expected an integer ≥ ${min}, got ${String(v.value)}`);
    return n;
  }
  num(key: string, dflt?: number): number {
    const v = this.raw(key);
    if (v === undefined) {
      if (dflt !== undefined) return dflt;
      throw this.err(key, 'required key is missing');
    }
    if (typeof v.value !== 'number' || !Number.isFinite(v.value)) throw this.err(key, `expected a finite number, got ${String(v.value)}`);
    return v.type === 6 ? shortestF32(v.value) : v.value; // 6 = FLOAT32
  }
  bool(key: string, dflt: boolean): boolean {
    const v = this.raw(key);
    if (v === undefined) return dflt;
    if (typeof v.value !== 'boolean') throw this.err(key, `expected a bool, got ${String(v.value)}`);
    return v.value;
  }
  /** A per-layer integer: an array of n values, or one value for every layer. */
  perLayer(key: string, n: number, dflt?: number): number[] {
    const v = this.raw(key);
    if (v === undefined && dflt !== undefined) return new Array<number>(n).fill(dflt);
    if (v !== undefined && Array.isArray(v.value)) {
      const a = v.value.map((x) => (typeof x === 'boolean' ? Number(x) : Number(x)));
      if (a.length !== n || !a.every((x) => Number.isSafeInteger(x) && x >= 0)) throw this.err(key, `expected ${n} non-negative integers (one per layer), got ${a.length} values`);
      return a;
    }
    return new Array<number>(n).fill(this.int(key));
  }
}

/** The one value `values` takes at the layers where `pick` holds (or `fallback` when there are none). */
function uniform(m: Meta, key: string, values: number[], pick: (i: number) => boolean, what: string, fallback: number): number {
  const seen = [...new Set(values.filter((_, i) => pick(i)))];
  if (seen.length > 1) throw m.err(key, `differs between ${what} layers (${seen.join(', ')}); MiMo-V2 has one value per layer type`);
  return seen[0] ?? fallback;
}

/** What a GGUF's metadata and tensors imply, for `mimo inspect` and the loader. */
export interface GgufModelFacts {
  config: MiMoConfig;
  /** Trunk layers, MTP layers (nextn_predict_layers). */
  numLayers: number;
  numMtpLayers: number;
  /** routed_scaling_factor the converter folded into ffn_down_exps, when it says so (informational). */
  foldedRoutedScale: number | null;
  /** Keys that were absent and took llama.cpp's mimo2 default, with the value used. */
  defaulted: Record<string, string>;
}

/**
 * Rebuild the MiMo-V2 config of a mimo2 GGUF from its metadata and tensor shapes.
 * @throws ConfigError naming the file and the GGUF key (`mimo2.attention.head_count_kv`) for a wrong
 *   architecture, a missing or malformed key, per-layer values that contradict the layer types, or a config
 *   parseConfig rejects
 */
export function ggufModelFacts(g: GgufModelFiles): GgufModelFacts {
  const file = g.paths[0]!;
  const m = new Meta(g, file);
  const arch = g.get('general.architecture');
  if (arch !== GGUF_ARCH) throw m.err('general.architecture', `is ${JSON.stringify(arch)}; mimo.ts runs MiMo-V2 GGUFs of architecture "${GGUF_ARCH}"`);
  const p = `${GGUF_ARCH}.`;
  const defaulted: Record<string, string> = {};
  const dflt = <T>(key: string, value: T): T => {
    if (m.raw(key) === undefined) defaulted[key] = String(value);
    return value;
  };
  const blockCount = m.int(`${p}block_count`, undefined, 1);
  const nextn = m.int(`${p}nextn_predict_layers`, dflt(`${p}nextn_predict_layers`, 0));
  if (nextn >= blockCount) throw m.err(`${p}nextn_predict_layers`, `${nextn} leaves no trunk layer of block_count ${blockCount}`);
  const L = blockCount - nextn;
  // Per-layer arrays cover the trunk layers, or every block (MTP blocks included).
  const lenOf = (key: string): number => {
    const v = m.raw(key);
    return v !== undefined && Array.isArray(v.value) && v.value.length === blockCount ? blockCount : L;
  };
  const patternKey = `${p}attention.sliding_window_pattern`;
  const pattern = m.perLayer(patternKey, lenOf(patternKey)).slice(0, L).map((x) => (x ? 1 : 0));
  const heads = m.perLayer(`${p}attention.head_count`, lenOf(`${p}attention.head_count`)).slice(0, L);
  const kvHeads = m.perLayer(`${p}attention.head_count_kv`, lenOf(`${p}attention.head_count_kv`)).slice(0, L);
  const swa = (i: number) => i < L && pattern[i] === 1;
  const full = (i: number) => i < L && pattern[i] === 0;
  const fullHeads = uniform(m, `${p}attention.head_count`, heads, full, 'full-attention', heads[0]!);
  const swaHeads = uniform(m, `${p}attention.head_count`, heads, swa, 'sliding-window', fullHeads);
  const fullKv = uniform(m, `${p}attention.head_count_kv`, kvHeads, full, 'full-attention', kvHeads[0]!);
  const swaKv = uniform(m, `${p}attention.head_count_kv`, kvHeads, swa, 'sliding-window', fullKv);
  const keyLength = m.int(`${p}attention.key_length`, undefined, 1);
  const valueLength = m.int(`${p}attention.value_length`, undefined, 1);
  const nRot = m.int(`${p}rope.dimension_count`, undefined, 2);
  const embd = g.tensors.get('token_embd.weight');
  if (!embd || embd.shape.length !== 2) throw m.err('token_embd.weight', 'the token embedding tensor is missing or not 2-D');
  const hidden = m.int(`${p}embedding_length`, undefined, 1);
  if (embd.shape[1] !== hidden) throw m.err(`${p}embedding_length`, `is ${hidden}, but token_embd.weight has rows of ${embd.shape[1]}`);
  const isMoe = (i: number) => g.tensors.has(`blk.${i}.ffn_gate_inp.weight`);
  const hasSink = (i: number) => g.tensors.has(`blk.${i}.attn_sinks.weight`);
  const sinkFlag = (pick: (i: number) => boolean, what: string): boolean => {
    const layers = pattern.map((_, i) => i).filter(pick);
    const n = layers.filter(hasSink).length;
    if (n !== 0 && n !== layers.length) throw m.err(`blk.N.attn_sinks.weight`, `present in ${n} of the ${layers.length} ${what} layers; MiMo-V2 has sinks on all or none of a layer type`);
    return n > 0;
  };
  const nExpert = m.int(`${p}expert_count`, 0);
  const gating = m.int(`${p}expert_gating_func`, dflt(`${p}expert_gating_func`, 2));
  if (nExpert > 0 && gating !== 2) throw m.err(`${p}expert_gating_func`, `is ${gating}; MiMo-V2 routes with sigmoid (2)`);
  // The router's input precision follows the router tensor's type, as llama.cpp computes it: a BF16 ffn_gate_inp is
  // a BF16 matmul there (input rounded to BF16, FP32 accumulation: V2.6's moe_router_dtype "bfloat16", spec §2.8,
  // which `mimo quantize` writes for a V2.6 checkpoint); any other type is the FP32 router.
  const routers = pattern.map((_, i) => g.tensors.get(`blk.${i}.ffn_gate_inp.weight`)).filter((t) => t !== undefined);
  const bf16Routers = routers.filter((t) => t.type === GGML_TYPE['BF16']).length;
  if (bf16Routers !== 0 && bf16Routers !== routers.length) throw m.err('blk.N.ffn_gate_inp.weight', `BF16 in ${bf16Routers} of the ${routers.length} MoE layers; a BF16 router (input rounded to BF16) must be BF16 in every layer`);
  const folded = g.get('mimo2_anchor.routed_scaling_factor_folded_into_ffn_down_exps');
  const raw = {
    model_type: 'mimo_v2_flash',
    vocab_size: embd.shape[0],
    hidden_size: hidden,
    num_hidden_layers: L,
    intermediate_size: m.int(`${p}feed_forward_length`, 1, 1),
    moe_intermediate_size: m.int(`${p}expert_feed_forward_length`, 1, 1),
    num_attention_heads: fullHeads,
    num_key_value_heads: fullKv,
    head_dim: keyLength,
    v_head_dim: valueLength,
    swa_num_attention_heads: swaHeads,
    swa_num_key_value_heads: swaKv,
    swa_head_dim: m.int(`${p}attention.key_length_swa`, keyLength, 1),
    swa_v_head_dim: m.int(`${p}attention.value_length_swa`, valueLength, 1),
    sliding_window_size: m.int(`${p}attention.sliding_window`, pattern.includes(1) ? undefined : 1, 1),
    hybrid_layer_pattern: pattern,
    moe_layer_freq: pattern.map((_, i) => (isMoe(i) ? 1 : 0)),
    rope_theta: m.num(`${p}rope.freq_base`),
    swa_rope_theta: m.num(`${p}rope.freq_base_swa`),
    partial_rotary_factor: nRot / keyLength,
    attention_value_scale: m.num(`${p}attention.value_scale`, dflt(`${p}attention.value_scale`, 1.0)),
    add_full_attention_sink_bias: sinkFlag(full, 'full-attention'),
    add_swa_attention_sink_bias: sinkFlag(swa, 'sliding-window'),
    layernorm_epsilon: m.num(`${p}attention.layer_norm_rms_epsilon`),
    n_routed_experts: Math.max(1, nExpert),
    num_experts_per_tok: Math.max(1, m.int(`${p}expert_used_count`, nExpert > 0 ? undefined : 1)),
    n_group: m.int(`${p}expert_group_count`, dflt(`${p}expert_group_count`, 1), 1),
    topk_group: m.int(`${p}expert_group_used_count`, dflt(`${p}expert_group_used_count`, 1), 1),
    norm_topk_prob: m.bool(`${p}expert_weights_norm`, dflt(`${p}expert_weights_norm`, true)),
    routed_scaling_factor: m.num(`${p}expert_weights_scale`, dflt(`${p}expert_weights_scale`, 1.0)) || 1.0,
    moe_router_dtype: routers.length > 0 && bf16Routers === routers.length ? 'bfloat16' : 'float32',
    tie_word_embeddings: !g.tensors.has('output.weight'),
    max_position_embeddings: m.int(`${p}context_length`, 0) || null,
  };
  if (raw.topk_group > raw.n_group) throw m.err(`${p}expert_group_used_count`, `${raw.topk_group} exceeds expert_group_count ${raw.n_group}`);
  let config: MiMoConfig;
  try {
    config = parseConfig(raw, file);
  } catch (e) {
    if (e instanceof ConfigError) {
      const detail = e.message.slice(`${e.file}: ${e.key === undefined ? '' : `${e.key}: `}`.length);
      const gkey = e.key !== undefined && GGUF_KEY_OF[e.key] ? `${p}${GGUF_KEY_OF[e.key]} (${e.key})` : e.key;
      throw new ConfigError(file, gkey, `${detail} (config rebuilt from the GGUF's mimo2.* metadata)`);
    }
    throw e;
  }
  // The rotary dim is stored as an integer: use it exactly (n_rot / key_length × key_length may round below it).
  if (nRot % 2 !== 0 || nRot > keyLength) throw m.err(`${p}rope.dimension_count`, `${nRot} must be even and at most key_length ${keyLength}`);
  config.fullPlan.rotaryDim = nRot;
  config.swaPlan.rotaryDim = Math.min(nRot, config.swaPlan.headDim);
  return { config, numLayers: L, numMtpLayers: nextn, foldedRoutedScale: typeof folded === 'number' ? shortestF32(folded) : null, defaulted };
}
