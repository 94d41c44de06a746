/**
 * The compute interface the model is written against. The TypeScript reference backend (kernels/reference) is
 * the definition of every op; faster backends implement the same contract and are tested against it.
 * All activations are float32, row-major, outermost dimension first. Source: spec §3 (forward pass).
 */

/** A linear layer's weight `[out, in]` (PyTorch convention: y = x · Wᵀ), dequantised to float32. */
export interface Weight {
  rows: number;
  cols: number;
  /** float32 `[rows, cols]` */
  data: Float32Array;
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
  /** Cached keys/values of positions < start: `pastK(p)` returns the `[Hkv, Dqk]` row offset of position p in `pastKeys`. */
  pastKeys: Float32Array;
  pastValues: Float32Array;
  /** Row index of cached position p inside pastKeys/pastValues (identity for full caches, p mod capacity for rings). */
  pastSlot: (p: number) => number;
  /** Oldest position still cached (positions below were evicted from a ring). */
  pastFirst: number;
}

export interface Backend {
  readonly name: string;
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
}
