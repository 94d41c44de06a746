/**
 * MiMo-V2 as a GGUF of llama.cpp's architecture `mimo2`, the inverse of gguf.ts: the `mimo2.*` metadata of a config
 * and the list of GGUF tensors in the converter's order (../shared/tools/llamacpp-anchor/hf_to_gguf.py): global
 * tensors, then per block attn_norm, ffn_norm, attn_q/k/v, attn_output, attn_sinks, the router (ffn_gate_inp,
 * exp_probs_b) and stacked experts `ffn_{gate,up,down}_exps` `[E, R, C]`, or the dense ffn_{gate,up,down}; then the
 * MTP layers as llama.cpp's `nextn` blocks L … L + K − 1 (test/gguf/hf_to_gguf_with_mtp.py's names). V heads are
 * zero-padded to one value_length when full and sliding layers differ (exact), and routed_scaling_factor is folded
 * into ffn_down_exps (llama.cpp's mimo2 ignores it) with `expert_weights_scale` 1. Each tensor says where its rows
 * come from; nothing is read until the writer asks for it.
 */
import type { Weight } from '../../kernels/backend.js';
import { GGUF_TYPE, type GgufKv } from '../../loader/gguf-writer.js';
import { GGML_TYPE } from '../../tensor/formats/ggml/types.js';
import type { TensorSource } from '../../loader/tensor-source.js';
import type { AttentionPlan, MiMoConfig } from './config.js';
import { GGUF_ARCH } from './gguf.js';
import { WeightReader } from './weights.js';

/** Zero padding of V heads: `heads` heads of `vd` rows (axis 0, attn_v) or columns (axis 1, attn_output) to `vpad`. */
export interface VPad {
  axis: 0 | 1;
  heads: number;
  vd: number;
  vpad: number;
}

/** One GGUF tensor to write. */
export interface ExportTensor {
  /** GGUF name (`blk.3.attn_v.weight`). */
  name: string;
  /** Row-major shape, outermost first (the GGUF dims reversed). */
  shape: number[];
  /** 1-D tensors: their float32 values. */
  vector?: () => Float32Array;
  /** Matrices: `slices` (E for stacked experts, else 1) weights `[R, C]` in their stored dtype, read one at a time. */
  slices?: number;
  weight?: (slice: number) => Weight;
  vPad?: VPad;
  /** Multiply every value by this (the folded routed scale); absent = 1. */
  scale?: number;
  /**
   * The ggml type to write, over the file type's choice: a V2.6 router stays BF16 (`moe_router_dtype: "bfloat16"`),
   * as llama-quantize keeps ffn_gate_inp in its stored type; a BF16 ffn_gate_inp is also what makes llama.cpp round
   * the router input to BF16 (its BF16 matmul does), the official model's router (spec §2.8).
   */
  type?: number;
  /** Rows [r0, r0 + n) of a 1-slice matrix without the rest (large plain-dtype tensors), or null: read it whole. */
  rows?: (r0: number, n: number) => Weight | null;
}

/** The export plan: metadata (without tokenizer and file type) and tensors in write order. */
export interface GgufExportPlan {
  kvs: GgufKv[];
  tensors: ExportTensor[];
  numBlocks: number;
  /** Routed scale folded into ffn_down_exps, or null. */
  foldedRoutedScale: number | null;
  /** Layers whose V heads were zero-padded. */
  paddedLayers: number[];
}

const u32 = (key: string, value: number): GgufKv => ({ key: `${GGUF_ARCH}.${key}`, type: GGUF_TYPE.UINT32, value });
const f32 = (key: string, value: number): GgufKv => ({ key: `${GGUF_ARCH}.${key}`, type: GGUF_TYPE.FLOAT32, value });
const u32s = (key: string, value: number[]): GgufKv => ({ key: `${GGUF_ARCH}.${key}`, type: GGUF_TYPE.ARRAY, elementType: GGUF_TYPE.UINT32, value });

/**
 * Plan a mimo2 GGUF of a checkpoint.
 * @param ckpt the checkpoint's tensors (safetensors directory)
 * @param opts.mtp include the MTP layers (when the checkpoint has them)
 * @throws ConfigError-free: the config was validated by parseConfig; throws Error when full and sliding layers have
 *   different q/k head dims (llama.cpp's mimo2 has one key_length)
 */
export function planGgufExport(ckpt: TensorSource, cfg: MiMoConfig, numMtpLayers: number, opts: { mtp: boolean; name: string }): GgufExportPlan {
  const D = cfg.hiddenSize;
  const L = cfg.numHiddenLayers;
  const K = opts.mtp ? numMtpLayers : 0;
  const r = new WeightReader(ckpt, cfg);
  if (cfg.fullPlan.headDim !== cfg.swaPlan.headDim) throw new Error(`${cfg.source}: llama.cpp's mimo2 needs one q/k head dim (full ${cfg.fullPlan.headDim}, sliding ${cfg.swaPlan.headDim})`);
  const vpad = Math.max(cfg.fullPlan.vHeadDim, cfg.swaPlan.vHeadDim);
  const rscale = cfg.routedScalingFactor;
  const fold = rscale !== 1;
  // Head counts cover every block (MTP blocks are sliding-window layers); the sliding-window pattern covers the trunk
  // layers only: the lengths llama.cpp's mimo2 loader requires (it refuses others).
  const plans: AttentionPlan[] = [...cfg.layers.map((l) => l.attention), ...Array.from({ length: K }, () => cfg.swaPlan)];
  const trunk = plans.slice(0, L);
  const kvs: GgufKv[] = [
    { key: 'general.architecture', type: GGUF_TYPE.STRING, value: GGUF_ARCH },
    { key: 'general.name', type: GGUF_TYPE.STRING, value: opts.name },
    { key: 'general.quantization_version', type: GGUF_TYPE.UINT32, value: 2 },
    u32('context_length', cfg.maxPositionEmbeddings ?? 4096),
    u32('embedding_length', D),
    u32('block_count', L + K),
    u32('feed_forward_length', cfg.intermediateSize),
    u32('expert_feed_forward_length', cfg.moeIntermediateSize),
  ];
  const heads = plans.map((p) => p.numHeads);
  kvs.push(new Set(heads).size === 1 ? u32('attention.head_count', heads[0]!) : u32s('attention.head_count', heads));
  kvs.push(
    u32s('attention.head_count_kv', plans.map((p) => p.numKvHeads)),
    u32('attention.key_length', cfg.fullPlan.headDim),
    u32('attention.value_length', vpad),
    f32('attention.layer_norm_rms_epsilon', cfg.layernormEpsilon),
    u32('attention.sliding_window', cfg.slidingWindow),
    u32s('attention.sliding_window_pattern', trunk.map((p) => (p.kind === 'sliding' ? 1 : 0))),
    f32('attention.value_scale', cfg.attentionValueScale),
    f32('rope.freq_base', cfg.ropeTheta),
    f32('rope.freq_base_swa', cfg.swaRopeTheta),
    u32('rope.dimension_count', cfg.fullPlan.rotaryDim),
    u32('expert_count', cfg.nRoutedExperts),
    u32('expert_used_count', cfg.numExpertsPerTok),
  );
  if (cfg.nGroup > 1 && cfg.topkGroup < cfg.nGroup) kvs.push(u32('expert_group_count', cfg.nGroup), u32('expert_group_used_count', cfg.topkGroup));
  kvs.push(u32('expert_gating_func', 2), { key: `${GGUF_ARCH}.expert_weights_norm`, type: GGUF_TYPE.BOOL, value: cfg.normTopkProb }, f32('expert_weights_scale', 1));
  if (fold) kvs.push({ key: 'mimo2_anchor.routed_scaling_factor_folded_into_ffn_down_exps', type: GGUF_TYPE.FLOAT32, value: rscale });
  if (K > 0) kvs.push(u32('nextn_predict_layers', K));

  const tensors: ExportTensor[] = [];
  const vec = (name: string, official: string, n: number): void => {
    tensors.push({ name, shape: [n], vector: () => ckpt.readF32(official, [n]).data });
  };
  const mat = (name: string, rows: number, cols: number, weight: () => Weight, extra: Partial<ExportTensor> = {}): void => {
    tensors.push({ name, shape: [rows, cols], slices: 1, weight: () => weight(), ...extra });
  };
  const V = cfg.vocabSize;
  // The embedding and LM head (V × D, 1.25 GB of BF16 at MiMo-V2's real shapes) are read a few rows at a time.
  const rowsOf = (name: string) => (r0: number, n: number): Weight | null => ckpt.readStoredRows?.(name, [V, D], r0, n) ?? null;
  mat('token_embd.weight', V, D, () => r.linear('model.embed_tokens.weight', V, D), { rows: rowsOf('model.embed_tokens.weight') });
  vec('output_norm.weight', 'model.norm.weight', D);
  const head = cfg.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight';
  mat('output.weight', V, D, () => r.linear(head, V, D), { rows: rowsOf(head) });

  const paddedLayers: number[] = [];
  const attention = (blk: string, prefix: string, plan: AttentionPlan, index: number): void => {
    const { numHeads: Hq, numKvHeads: Hkv, headDim: Dqk, vHeadDim: Dv } = plan;
    if (Dv !== vpad) paddedLayers.push(index);
    // q, k, v of one layer are read together (a fused qkv_proj is one tensor) and kept until v is written
    let qkv: { q: Weight; k: Weight; v: Weight } | null = null;
    const part = (which: 'q' | 'k' | 'v') => (): Weight => {
      if (!qkv) {
        if (cfg.fusedQkv) {
          const [q, k, v] = r.fusedQkv(`${prefix}.qkv_proj.weight`, plan);
          qkv = { q, k, v };
        } else {
          qkv = { q: r.linear(`${prefix}.q_proj.weight`, Hq * Dqk, D), k: r.linear(`${prefix}.k_proj.weight`, Hkv * Dqk, D), v: r.linear(`${prefix}.v_proj.weight`, Hkv * Dv, D) };
        }
      }
      const w = qkv[which];
      if (which === 'v') qkv = null;
      return w;
    };
    mat(`${blk}.attn_q.weight`, Hq * Dqk, D, part('q'));
    mat(`${blk}.attn_k.weight`, Hkv * Dqk, D, part('k'));
    mat(`${blk}.attn_v.weight`, Hkv * vpad, D, part('v'), Dv !== vpad ? { vPad: { axis: 0, heads: Hkv, vd: Dv, vpad } } : {});
    mat(`${blk}.attn_output.weight`, D, Hq * vpad, () => r.linear(`${prefix}.o_proj.weight`, D, Hq * Dv), Dv !== vpad ? { vPad: { axis: 1, heads: Hq, vd: Dv, vpad } } : {});
    if (plan.hasSink) vec(`${blk}.attn_sinks.weight`, `${prefix}.attention_sink_bias`, Hq);
  };
  const dense = (blk: string, prefix: string, inter: number): void => {
    mat(`${blk}.ffn_gate.weight`, inter, D, () => r.linear(`${prefix}.gate_proj.weight`, inter, D));
    mat(`${blk}.ffn_up.weight`, inter, D, () => r.linear(`${prefix}.up_proj.weight`, inter, D));
    mat(`${blk}.ffn_down.weight`, D, inter, () => r.linear(`${prefix}.down_proj.weight`, D, inter));
  };
  const E = cfg.nRoutedExperts;
  const I = cfg.moeIntermediateSize;
  const expert = (prefix: string, proj: 'gate_proj' | 'up_proj' | 'down_proj', rows: number, cols: number) => (e: number): Weight => {
    const name = `${prefix}.experts.${e}.${proj}.weight`;
    return cfg.expertStorage === 'mxfp4' ? ckpt.readMxfp4Weight(name, [rows, cols]) : r.linear(name, rows, cols);
  };
  for (const layer of cfg.layers) {
    const i = layer.index;
    const blk = `blk.${i}`;
    const p = `model.layers.${i}`;
    vec(`${blk}.attn_norm.weight`, `${p}.input_layernorm.weight`, D);
    vec(`${blk}.ffn_norm.weight`, `${p}.post_attention_layernorm.weight`, D);
    attention(blk, `${p}.self_attn`, layer.attention, i);
    if (layer.ffn === 'dense') {
      dense(blk, `${p}.mlp`, cfg.intermediateSize);
    } else {
      mat(`${blk}.ffn_gate_inp.weight`, E, D, () => r.linear(`${p}.mlp.gate.weight`, E, D), cfg.moeRouterDtype === 'bfloat16' ? { type: GGML_TYPE['BF16']! } : {});
      vec(`${blk}.exp_probs_b.bias`, `${p}.mlp.gate.e_score_correction_bias`, E);
      tensors.push({ name: `${blk}.ffn_gate_exps.weight`, shape: [E, I, D], slices: E, weight: expert(`${p}.mlp`, 'gate_proj', I, D) });
      tensors.push({ name: `${blk}.ffn_up_exps.weight`, shape: [E, I, D], slices: E, weight: expert(`${p}.mlp`, 'up_proj', I, D) });
      tensors.push({ name: `${blk}.ffn_down_exps.weight`, shape: [E, D, I], slices: E, weight: expert(`${p}.mlp`, 'down_proj', D, I), ...(fold ? { scale: rscale } : {}) });
    }
  }
  for (let k = 0; k < K; k++) {
    const blk = `blk.${L + k}`;
    const p = `model.mtp.layers.${k}`;
    vec(`${blk}.attn_norm.weight`, `${p}.input_layernorm.weight`, D);
    attention(blk, `${p}.self_attn`, cfg.swaPlan, L + k);
    vec(`${blk}.ffn_norm.weight`, `${p}.pre_mlp_layernorm.weight`, D);
    dense(blk, `${p}.mlp`, cfg.intermediateSize);
    mat(`${blk}.nextn.eh_proj.weight`, D, 2 * D, () => r.linear(`${p}.eh_proj.weight`, D, 2 * D));
    vec(`${blk}.nextn.enorm.weight`, `${p}.enorm.weight`, D);
    vec(`${blk}.nextn.hnorm.weight`, `${p}.hnorm.weight`, D);
    vec(`${blk}.nextn.shared_head_norm.weight`, `${p}.final_layernorm.weight`, D);
  }
  return { kvs, tensors, numBlocks: L + K, foldedRoutedScale: fold ? rscale : null, paddedLayers };
}
