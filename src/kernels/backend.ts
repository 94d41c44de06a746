/**
 * The compute interface the model is written against. The TypeScript reference backend (kernels/reference) is
 * the definition of every op; faster backends implement the same contract and are tested against it.
 * All activations are float32, row-major, outermost dimension first. Source: spec §3 (forward pass).
 */

/** Element type of a stored weight: as in the checkpoint (no up-front conversion). */
export type WeightDType = 'f32' | 'bf16' | 'f16' | 'fp8' | 'mxfp4' | 'ggml';

/**
 * A linear layer's weight `[out, in]` (PyTorch convention: y = x · Wᵀ) in its stored dtype.
 * - f32: `data` is a Float32Array of rows × cols values;
 * - bf16 / f16: `data` is a Uint16Array of the raw 16-bit patterns;
 * - fp8 (E4M3FN): `data` is a Uint8Array of codes, and W[r, c] = fp8(data[r·cols + c]) ×
 *   scales[rowScale[r] · scaleCols + ⌊c / blockCols⌋] (spec §2.5; `rowScale` encodes uniform and per-chunk grids);
 * - mxfp4 (V2.6 routed experts): `data` is a Uint8Array `[rows, cols/2]` of packed FP4 e2m1 codes (column 2j in the
 *   low nibble) and `e8m0` a Uint8Array `[rows, cols/32]` of exponents: W[r, c] = FP4[code] · 2^(e8m0 − 127)
 *   (spec §2.8; tensor/formats/mxfp4.ts is the definition);
 * - ggml (a GGUF block-quantised tensor, Q8_0 …): `data` is a Uint8Array of `rows` rows of whole blocks of ggml type
 *   `ggmlType` (ggmlRowBytes(ggmlType, cols) bytes each); tensor/formats/ggml/types.ts `dequantizeGgmlRow` is the
 *   definition. The native backend runs the types of model/load.ts `NATIVE_GGML_TYPES` as stored (native/src/
 *   ggml_blocks.h); backends without a kernel for the type never see it (the GGUF loader dequantises it to f32 first).
 */
export interface Weight {
  rows: number;
  cols: number;
  dtype: WeightDType;
  data: Float32Array | Uint16Array | Uint8Array;
  /** fp8 only: block scales `[scaleRows, scaleCols]` float32. */
  scales?: Float32Array;
  scaleCols?: number;
  /** fp8 only: columns per scale block (b1). */
  blockCols?: number;
  /** fp8 only: scale row of each weight row, `[rows]`. */
  rowScale?: Int32Array;
  /** mxfp4 only: E8M0 scale bytes `[rows, cols/32]`. */
  e8m0?: Uint8Array;
  /** ggml only: the ggml type id (ggml.h `enum ggml_type`). */
  ggmlType?: number;
  /**
   * ggml only: 'int8' runs this weight's matmuls on 8-bit activations (`precision: 'fast'`): each token's row is
   * quantised to int8 blocks of 32 with a float32 scale and the block products are integer sums
   * (kernels/reference/q8-activations.ts is the definition). Only for types in INT8_ACTIVATION_TYPES (Q4_0, Q5_0,
   * Q8_0, IQ4_NL, MXFP4). Absent: float32 activations (the default, exact path).
   */
  activations?: 'int8';
  /** Checkpoint tensor name, for errors found when the weight is first used (e.g. an E8M0 NaN scale byte). */
  name?: string;
  /** File holding the tensor (for those errors). */
  file?: string;
}

/** The three projections of a SwiGLU MLP (one routed expert): gate and up `[I, D]`, down `[D, I]`. */
export interface MlpWeightSet {
  gate: Weight;
  up: Weight;
  down: Weight;
}

/** Keys/values visible to one attention call: the layer's cached past plus the chunk being computed. */
export interface AttentionInput {
  /** Queries after RoPE, `[T, Hq, Dqk]`. */
  q: Float32Array;
  /** This chunk's keys after RoPE, `[T, Hkv, Dqk]`, and values after value scaling, `[T, Hkv, Dv]`. */
  k: Float32Array;
  v: Float32Array;
  /** Absolute position of the chunk's first token; the chunk holds positions start … start+T−1. */
  start: number;
  T: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  vHeadDim: number;
  /** Visible keys per query including itself, or null for full causal attention. */
  window: number | null;
  /** Per query head sink logit `[Hq]`, or null (spec §3.4 item 7). */
  sinks: Float32Array | null;
  /**
   * Cached keys `[pastRows, Hkv, Dqk]` and values `[pastRows, Hkv, Dv]` of positions < start; position p sits in
   * row p mod pastRows (a ring for sliding-window layers; for full layers pastRows ≥ start, so row = p). Float32,
   * or BF16 bits in a Uint16Array (a `--kv-dtype bf16` cache), each value read as the f32 with those upper bits.
   */
  pastKeys: Float32Array | Uint16Array;
  pastValues: Float32Array | Uint16Array;
  pastRows: number;
  /** Oldest position still cached (positions below were evicted from a ring). */
  pastFirst: number;
  /**
   * A full-attention layer's page table instead of pastKeys/pastValues/pastRows (window null): position p < start in
   * row p mod pageSize of keys[⌊p / pageSize⌋] `[pageSize, Hkv, Dqk]` and values[…] `[pageSize, Hkv, Dv]`, all Float32
   * or all BF16 bits. The result is bitwise that of the same rows in one buffer. Absent or null: no pages.
   */
  pastPages?: { keys: readonly (Float32Array | Uint16Array)[]; values: readonly (Float32Array | Uint16Array)[]; pageSize: number } | null;
}

export interface Backend {
  readonly name: string;
  /**
   * Make a loaded weight ready for this backend's matmul, once at load (the TypeScript reference dequantises to
   * f32; a native backend keeps the stored dtype or repacks it). Must not change the weight's values.
   */
  prepareWeight(w: Weight): Weight;
  /**
   * Largest T for which every op's result for row t does not depend on the other rows of the call (matmul and
   * moeExperts of up to this many rows give each row the bits it gets alone). The batched forward packs rows of
   * different sequences into calls of at most this many rows, so a request's tokens do not depend on its batch.
   */
  rowInvariantRows(): number;
  /** y `[T, out]` = x `[T, in]` · Wᵀ. */
  matmul(x: Float32Array, T: number, w: Weight): Float32Array;
  /** RMSNorm over the last dim D of x `[T, D]` with weight `[D]`: w ⊙ x / sqrt(mean(x²) + eps) (spec §3.2). */
  rmsNorm(x: Float32Array, T: number, weight: Float32Array, eps: number): Float32Array;
  /**
   * Partial rotate-half (NeoX) RoPE in place on x `[T, heads, headDim]`: dims 0…rotaryDim−1 of each head rotated
   * by angle pos × θ^(−2j/rotaryDim), pairs (j, j + rotaryDim/2); dims ≥ rotaryDim untouched (spec §3.4 item 3).
   */
  rope(x: Float32Array, T: number, heads: number, headDim: number, rotaryDim: number, theta: number, start: number): void;
  /** silu(gate) ⊙ up, elementwise, returning a new array (spec §3.5). */
  swiglu(gate: Float32Array, up: Float32Array): Float32Array;
  /** Attention with GQA, causal + optional window, optional sinks; returns `[T, Hq, Dv]` (spec §3.4). */
  attention(a: AttentionInput): Float32Array;
  /**
   * The routed experts of one MoE layer over T tokens (spec §3.6), each chosen K times per token:
   * out `[T, D]` with out[t] = Σ_k weights[t·K + k] · mlp_e(x[t]) for e = expertIds[t·K + k], where
   * mlp_e(x) = down_e(silu(gate_e·x) ⊙ up_e·x) (`experts[e]`, gate/up `[I, D]`, down `[D, I]`).
   * @param x `[T, D]` normed input
   * @param experts every expert of the layer, indexed by id
   * @param expertIds `[T, K]` chosen expert ids in [0, experts.length) (K = expertIds.length / T)
   * @param weights `[T, K]` mixing weight of each choice
   * Order (the reference's, which backends follow so that results do not depend on threads): the rows routed to an
   * expert are gathered in token order and run as one `[n, D]` batch; each token's terms are added to a zeroed
   * output in ascending expert id (a token choosing an expert twice: in k order).
   */
  moeExperts(x: Float32Array, T: number, experts: readonly MlpWeightSet[], expertIds: Int32Array, weights: Float32Array): Float32Array;
}
