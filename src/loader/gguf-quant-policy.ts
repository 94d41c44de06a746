/**
 * The per-tensor type choices llama-quantize makes without an importance matrix, for the file types `mimo quantize`
 * writes: which tensors are quantised at all, the type each gets (llama.cpp src/llama-quant.cpp
 * `llama_tensor_get_type`: Q6_K output, attn_v / ffn_down with more bits in some layers for Q4_K_M / Q5_K_M, Q5_K
 * for IQ4_XS's attn_v and first ffn_down layers, MXFP4_MOE's experts vs the rest, the 8-expert rules), and the
 * fallback when a row is not a whole number of the type's blocks (Q4_K→Q5_0, Q5_K→Q5_1, Q6_K→Q8_0, IQ4_XS→IQ4_NL,
 * then F16). Tensors that are not quantised keep F32, as llama.cpp's converter writes them.
 */
import { GGML_TYPE, ggmlTypeInfo } from '../tensor/formats/ggml/types.js';

/** A `--type` of `mimo quantize` and what llama.cpp calls it. */
export interface GgufFileType {
  /** `--type` value. */
  name: string;
  /** `general.file_type` (llama.h `enum llama_ftype`). */
  ftype: number;
  /** The default ggml type of quantised tensors. */
  baseType: number;
}

/** The file types `mimo quantize --type` accepts. */
export const GGUF_FILE_TYPES: readonly GgufFileType[] = [
  { name: 'q8_0', ftype: 7, baseType: GGML_TYPE['Q8_0']! },
  { name: 'q4_k_m', ftype: 15, baseType: GGML_TYPE['Q4_K']! },
  { name: 'q5_k_m', ftype: 17, baseType: GGML_TYPE['Q5_K']! },
  { name: 'q6_k', ftype: 18, baseType: GGML_TYPE['Q6_K']! },
  { name: 'iq4_xs', ftype: 30, baseType: GGML_TYPE['IQ4_XS']! },
  { name: 'mxfp4', ftype: 38, baseType: GGML_TYPE['MXFP4']! },
  { name: 'bf16', ftype: 32, baseType: GGML_TYPE['BF16']! },
];

const FT = { Q4_K_M: 15, Q5_K_M: 17, IQ4_XS: 30, MXFP4_MOE: 38 } as const;
const T = GGML_TYPE as Readonly<Record<string, number>>;

/** Model facts the choices depend on (llama.cpp's `qs.model.hparams` and the counts it takes before quantising). */
export interface QuantPolicyModel {
  /** block_count (MTP blocks included, as llama.cpp's n_layer). */
  numBlocks: number;
  /** Routed experts (0 for a dense model). */
  numExperts: number;
  /** Query heads / KV heads of layer 0 (llama.cpp's n_gqa()). */
  gqa: number;
  /** Whether the file has an `output.weight` (else the embedding doubles as the LM head). */
  hasOutput: boolean;
  /** Number of `attn_v.weight` tensors. */
  numAttentionV: number;
}

/** Whether llama-quantize quantises a tensor at all (llama_model_quantize_impl's name and rank filter). */
export function isQuantisable(name: string, shape: readonly number[]): boolean {
  return name.endsWith('weight') && shape.length >= 2 && !name.includes('_norm.weight') && !name.includes('ffn_gate_inp.weight');
}

/**
 * Chooses each tensor's type in file order (the attn_v counter is positional, as in llama.cpp). Call
 * {@link typeOf} once per tensor, in the order the tensors are written.
 */
export class QuantPolicy {
  private iAttentionV = 0;
  private iFfnDown = 0;
  /** Tensors that fell back to another type because their rows are not whole blocks: name → [wanted, used]. */
  readonly fallbacks = new Map<string, [number, number]>();

  constructor(
    readonly fileType: GgufFileType,
    readonly model: QuantPolicyModel,
  ) {}

  /**
   * The ggml type of one tensor.
   * @param name GGUF name (`blk.3.attn_v.weight`); @param shape row-major, outermost first (the row length is last)
   */
  typeOf(name: string, shape: readonly number[]): number {
    if (!isQuantisable(name, shape)) return T['F32']!;
    const ft = this.fileType;
    if (ft.name === 'bf16') return T['BF16']!;
    let t = this.choose(name, shape);
    const cols = shape[shape.length - 1]!;
    if (cols % ggmlTypeInfo(t)!.blockElements !== 0) {
      const wanted = t;
      const fallback: Record<number, number> = { [T['Q4_K']!]: T['Q5_0']!, [T['Q5_K']!]: T['Q5_1']!, [T['Q6_K']!]: T['Q8_0']!, [T['IQ4_XS']!]: T['IQ4_NL']!, [T['Q2_K']!]: T['IQ4_NL']!, [T['Q3_K']!]: T['IQ4_NL']! };
      const f = fallback[t];
      if (f === undefined) throw new RangeError(`tensor ${name}: rows of ${cols} are not whole ${ggmlTypeInfo(t)!.name} blocks and llama-quantize has no fallback for it`);
      t = cols % ggmlTypeInfo(f)!.blockElements === 0 ? f : T['F16']!;
      this.fallbacks.set(name, [wanted, t]);
    }
    return t;
  }

  private choose(name: string, shape: readonly number[]): number {
    const ft = this.fileType.ftype;
    const m = this.model;
    const base = this.fileType.baseType;
    const cols = shape[shape.length - 1]!;
    const moreBits = (i: number, n: number): boolean => i < Math.floor(n / 8) || i >= Math.floor((7 * n) / 8) || (i - Math.floor(n / 8)) % 3 === 2;
    const layerOf = (): number => {
      const mm = /^blk\.(\d+)\./.exec(name);
      if (!mm) throw new RangeError(`tensor ${name}: cannot determine its layer (llama-quantize needs blk.N.)`);
      return Number(mm[1]);
    };
    if (name === 'output.weight' || (!m.hasOutput && name === 'token_embd.weight')) {
      if (ft === FT.MXFP4_MOE) return T['Q8_0']!;
      if (cols % ggmlTypeInfo(base)!.blockElements !== 0) return T['Q8_0']!;
      return base !== T['Q8_0']! ? T['Q6_K']! : base;
    }
    if (ft === FT.MXFP4_MOE) return shape.length >= 3 && shape[0]! > 1 ? T['MXFP4']! : T['Q8_0']!;
    if (name === 'token_embd.weight') return base;
    if (name.includes('attn_v.weight')) {
      let t = base;
      if (ft === FT.IQ4_XS && m.gqa >= 4) t = T['Q5_K']!;
      else if ((ft === FT.Q4_K_M || ft === FT.Q5_K_M) && moreBits(this.iAttentionV, m.numAttentionV)) t = T['Q6_K']!;
      if (m.numExperts === 8) t = T['Q8_0']!;
      this.iAttentionV++;
      return t;
    }
    if (name.includes('attn_k.weight')) return m.numExperts === 8 ? T['Q8_0']! : base;
    if (name.includes('ffn_down')) {
      // MoE models (n_expert > 1) take the layer from the name, dense ones count ffn_down tensors; n_layer is block_count
      const i = m.numExperts > 1 ? layerOf() : this.iFfnDown++;
      const n = m.numBlocks;
      if (i < 0 || i >= n) throw new RangeError(`tensor ${name}: layer ${i} is outside [0, ${n})`);
      if (ft === FT.Q4_K_M) return moreBits(i, n) ? T['Q6_K']! : base;
      if (i < Math.floor(n / 8) && ft === FT.IQ4_XS) return T['Q5_K']!;
      if (ft === FT.Q5_K_M && moreBits(i, n)) return T['Q6_K']!;
      return base;
    }
    if (name.includes('attn_output.weight')) {
      if (m.numExperts === 8 && (ft === FT.Q4_K_M || ft === FT.IQ4_XS)) return T['Q5_K']!;
      return base;
    }
    return base;
  }
}
