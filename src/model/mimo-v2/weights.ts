/**
 * Maps the checkpoint's tensor names onto the model's weights, once, at load: FP8 block dequantisation,
 * fused-qkv de-chunking (V2.5 layout), tied LM head, MTP layers. The forward pass never parses names.
 * Source: spec §2 (inventories, §2.5 FP8, §2.6 fused qkv), fixtures/README §1.
 */
import { CheckpointError } from '../../errors.js';
import type { Weight } from '../../kernels/backend.js';
import type { TensorSource } from '../../loader/tensor-source.js';
import { gatherRows } from '../../tensor/weight.js';
import type { AttentionPlan, MiMoConfig } from './config.js';

export interface AttentionWeights {
  q: Weight;
  k: Weight;
  v: Weight;
  o: Weight;
  /** `[Hq]` sink logits, or null when the layer type has none. */
  sinks: Float32Array | null;
}

export interface MlpWeights {
  gate: Weight;
  up: Weight;
  down: Weight;
}

export interface MoeWeights {
  /** Router `mlp.gate.weight` `[E, D]`. */
  router: Weight;
  /** Selection-only bias `e_score_correction_bias` `[E]`. */
  bias: Float32Array;
  experts: MlpWeights[];
}

export interface LayerWeights {
  inputNorm: Float32Array;
  postAttentionNorm: Float32Array;
  attention: AttentionWeights;
  mlp: { kind: 'dense'; dense: MlpWeights } | { kind: 'moe'; moe: MoeWeights };
}

export interface MtpWeights {
  enorm: Float32Array;
  hnorm: Float32Array;
  /** `[D, 2D]`: input is concat(embedding, hidden). */
  ehProj: Weight;
  inputNorm: Float32Array;
  attention: AttentionWeights;
  preMlpNorm: Float32Array;
  mlp: MlpWeights;
  finalNorm: Float32Array;
}

export interface ModelWeights {
  /** `[V, D]` token embeddings (stored dtype; rows are decoded per token). */
  embed: Weight;
  /** `[V, D]` LM head (the embedding when tied). */
  lmHead: Weight;
  norm: Float32Array;
  layers: LayerWeights[];
  mtp: MtpWeights[];
}

/** Report of a load: tensors nobody used (text model) and tensors of other modalities that were skipped. */
export interface LoadReport {
  unusedTensors: string[];
  skippedTensors: string[];
  numMtpLayers: number;
}

/** Count the MTP layers from tensor names `model.mtp.layers.{k}.*`; they must be numbered 0…K−1. */
export function countMtpLayers(names: Iterable<string>, source: string): number {
  const ks = new Set<number>();
  for (const n of names) {
    const m = /^model\.mtp\.layers\.(\d+)\./.exec(n);
    if (m) ks.add(Number(m[1]));
  }
  for (let k = 0; k < ks.size; k++) {
    if (!ks.has(k)) throw new CheckpointError(source, `MTP layers are not numbered 0…${ks.size - 1} (found ${[...ks].sort((a, b) => a - b).join(', ')})`);
  }
  return ks.size;
}

/** Reads the weights of one layer part by part (also used by `mimo quantize`, which streams them to a GGUF). */
export class WeightReader {
  constructor(
    readonly ckpt: TensorSource,
    readonly cfg: MiMoConfig,
  ) {}

  vector(name: string, length: number): Float32Array {
    return this.ckpt.readF32(name, [length]).data;
  }

  /** A linear weight `[rows, cols]` in its stored dtype; FP8 grids may be uniform or per TP chunk of num_key_value_heads rows. */
  linear(name: string, rows: number, cols: number, chunks: readonly number[] = [1, this.cfg.numKeyValueHeads]): Weight {
    return this.ckpt.readStoredWeight(name, [rows, cols], this.cfg.weightBlockSize, chunks);
  }

  mlp(prefix: string, inter: number): MlpWeights {
    const D = this.cfg.hiddenSize;
    return {
      gate: this.linear(`${prefix}.gate_proj.weight`, inter, D),
      up: this.linear(`${prefix}.up_proj.weight`, inter, D),
      down: this.linear(`${prefix}.down_proj.weight`, D, inter),
    };
  }

  /** A routed expert: MXFP4 when `quantization_config.store_dtype` is "mxfp4" (V2.6), else as {@link mlp}. */
  expert(prefix: string): MlpWeights {
    const D = this.cfg.hiddenSize;
    const inter = this.cfg.moeIntermediateSize;
    if (this.cfg.expertStorage !== 'mxfp4') return this.mlp(prefix, inter);
    return {
      gate: this.ckpt.readMxfp4Weight(`${prefix}.gate_proj.weight`, [inter, D]),
      up: this.ckpt.readMxfp4Weight(`${prefix}.up_proj.weight`, [inter, D]),
      down: this.ckpt.readMxfp4Weight(`${prefix}.down_proj.weight`, [D, inter]),
    };
  }

  attention(prefix: string, plan: AttentionPlan): AttentionWeights {
    const D = this.cfg.hiddenSize;
    const { numHeads: Hq, numKvHeads: Hkv, headDim: Dqk, vHeadDim: Dv } = plan;
    let q: Weight;
    let k: Weight;
    let v: Weight;
    if (this.cfg.fusedQkv) {
      [q, k, v] = this.fusedQkv(`${prefix}.qkv_proj.weight`, plan);
    } else {
      q = this.linear(`${prefix}.q_proj.weight`, Hq * Dqk, D);
      k = this.linear(`${prefix}.k_proj.weight`, Hkv * Dqk, D);
      v = this.linear(`${prefix}.v_proj.weight`, Hkv * Dv, D);
    }
    const o = this.linear(`${prefix}.o_proj.weight`, D, Hq * Dv);
    const sinks = plan.hasSink ? this.vector(`${prefix}.attention_sink_bias`, Hq) : null;
    return { q, k, v, o, sinks };
  }

  /**
   * Split a fused `qkv_proj` of n = num_key_value_heads chunks, each [Q_c | K_c | V_c], into q/k/v (spec §2.6).
   * Rows are gathered in the stored dtype; FP8 rows keep the scale row of the fused tensor's per-chunk grid, so
   * blocks that straddle the Q/K and K/V boundaries dequantise exactly as the fused rows would.
   */
  fusedQkv(name: string, plan: AttentionPlan): [Weight, Weight, Weight] {
    const D = this.cfg.hiddenSize;
    const n = this.cfg.numKeyValueHeads;
    const Rq = (plan.numHeads / n) * plan.headDim;
    const Rk = (plan.numKvHeads / n) * plan.headDim;
    const Rv = (plan.numKvHeads / n) * plan.vHeadDim;
    const R = Rq + Rk + Rv;
    const fused = this.ckpt.readStoredWeight(name, [n * R, D], this.cfg.weightBlockSize, [n]);
    const rows = (offset: number, count: number) => Array.from({ length: n * count }, (_, i) => Math.floor(i / count) * R + offset + (i % count));
    return [gatherRows(fused, rows(0, Rq)), gatherRows(fused, rows(Rq, Rk)), gatherRows(fused, rows(Rq + Rk, Rv))];
  }
}

/**
 * Load every text-model weight of a MiMo-V2 checkpoint as float32.
 * @throws CheckpointError on a missing or mis-shaped tensor (naming it, the directory and the expected shape)
 */
export function loadWeights(ckpt: TensorSource, cfg: MiMoConfig): { weights: ModelWeights; report: LoadReport } {
  const r = new WeightReader(ckpt, cfg);
  const D = cfg.hiddenSize;
  const V = cfg.vocabSize;
  const embed = r.linear('model.embed_tokens.weight', V, D);
  const lmHead = cfg.tieWordEmbeddings ? embed : r.linear('lm_head.weight', V, D);
  const layers: LayerWeights[] = cfg.layers.map((plan) => {
    const p = `model.layers.${plan.index}`;
    const attention = r.attention(`${p}.self_attn`, plan.attention);
    let mlp: LayerWeights['mlp'];
    if (plan.ffn === 'dense') {
      mlp = { kind: 'dense', dense: r.mlp(`${p}.mlp`, cfg.intermediateSize) };
    } else {
      const E = cfg.nRoutedExperts;
      mlp = {
        kind: 'moe',
        moe: {
          router: r.linear(`${p}.mlp.gate.weight`, E, D),
          bias: r.vector(`${p}.mlp.gate.e_score_correction_bias`, E),
          experts: Array.from({ length: E }, (_, e) => r.expert(`${p}.mlp.experts.${e}`)),
        },
      };
    }
    return {
      inputNorm: r.vector(`${p}.input_layernorm.weight`, D),
      postAttentionNorm: r.vector(`${p}.post_attention_layernorm.weight`, D),
      attention,
      mlp,
    };
  });
  const norm = r.vector('model.norm.weight', D);
  const numMtpLayers = countMtpLayers(ckpt.names(), ckpt.dir);
  const mtp: MtpWeights[] = Array.from({ length: numMtpLayers }, (_, k) => {
    const p = `model.mtp.layers.${k}`;
    return {
      enorm: r.vector(`${p}.enorm.weight`, D),
      hnorm: r.vector(`${p}.hnorm.weight`, D),
      ehProj: r.linear(`${p}.eh_proj.weight`, D, 2 * D),
      inputNorm: r.vector(`${p}.input_layernorm.weight`, D),
      attention: r.attention(`${p}.self_attn`, cfg.swaPlan),
      preMlpNorm: r.vector(`${p}.pre_mlp_layernorm.weight`, D),
      mlp: r.mlp(`${p}.mlp`, cfg.intermediateSize),
      finalNorm: r.vector(`${p}.final_layernorm.weight`, D),
    };
  });
  return {
    weights: { embed, lmHead, norm, layers, mtp },
    report: { unusedTensors: ckpt.unusedTextTensors(), skippedTensors: ckpt.skippedTensors(), numMtpLayers },
  };
}

/**
 * Apply `prepare` (a backend's prepareWeight) to every linear weight, once; the embedding stays as stored (it is
 * only read row by row). A tied LM head is prepared from the embedding.
 */
export function prepareWeights(w: ModelWeights, prepare: (x: Weight) => Weight): ModelWeights {
  const att = (a: AttentionWeights): AttentionWeights => ({ ...a, q: prepare(a.q), k: prepare(a.k), v: prepare(a.v), o: prepare(a.o) });
  const mlp = (m: MlpWeights): MlpWeights => ({ gate: prepare(m.gate), up: prepare(m.up), down: prepare(m.down) });
  return {
    embed: w.embed,
    lmHead: prepare(w.lmHead),
    norm: w.norm,
    layers: w.layers.map((l) => ({
      ...l,
      attention: att(l.attention),
      mlp: l.mlp.kind === 'dense' ? { kind: 'dense', dense: mlp(l.mlp.dense) } : { kind: 'moe', moe: { ...l.mlp.moe, router: prepare(l.mlp.moe.router), experts: l.mlp.moe.experts.map(mlp) } },
    })),
    mtp: w.mtp.map((m) => ({ ...m, ehProj: prepare(m.ehProj), attention: att(m.attention), mlp: mlp(m.mlp) })),
  };
}
