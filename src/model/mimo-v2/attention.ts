/**
 * One MiMo-V2 attention block (full or sliding window): q/k/v projections, value scaling, partial RoPE with the
 * layer type's θ, GQA attention over the layer's KV cache plus the current chunk, sinks, o_proj.
 * Source: spec §3.4; fixtures/README §2 "Attention".
 */
import type { Backend } from '../../kernels/backend.js';
import type { LayerCache } from '../../engine/kv-cache.js';
import type { AttentionPlan } from './config.js';
import type { AttentionWeights } from './weights.js';
import { bf16BitsToNumber, numberToBf16Bits } from '../../tensor/dtype.js';

/** Round every element to the nearest BF16 value (ties to even), in place. */
function roundToBf16InPlace(x: Float32Array): void {
  for (let i = 0; i < x.length; i++) x[i] = bf16BitsToNumber(numberToBf16Bits(x[i]!));
}

/** Optional intermediates for debugging (llama.cpp-style names). */
export type TraceFn = (name: string, layer: number, data: Float32Array) => void;

/** Rows `[offset, offset + T)` of a batched chunk that belong to one sequence, with that sequence's layer cache. */
export interface CacheSpan {
  offset: number;
  T: number;
  cache: LayerCache;
}

/**
 * @param x normed input `[R, D]`: the rows of every span, span s at positions cache_s.length … cache_s.length+T_s−1
 * @param spans the sequences in x (one span for a single sequence); their T sum to R
 * @param valueScale `attention_value_scale` (1.0 when absent)
 * @returns attention output after o_proj `[R, D]`; appends each span's keys and values to its cache. Projections
 *   run once over all R rows; RoPE and attention run per span against its own cache.
 */
export function attentionBlock(
  backend: Backend,
  plan: AttentionPlan,
  w: AttentionWeights,
  x: Float32Array,
  spans: readonly CacheSpan[],
  valueScale: number,
  layer = -1,
  trace?: TraceFn,
): Float32Array {
  const { numHeads, numKvHeads, headDim, vHeadDim, rotaryDim, ropeTheta } = plan;
  const R = spans.reduce((n, s) => n + s.T, 0);
  const q = backend.matmul(x, R, w.q);
  const k = backend.matmul(x, R, w.k);
  const v = backend.matmul(x, R, w.v);
  if (valueScale !== 1) for (let i = 0; i < v.length; i++) v[i] = v[i]! * valueScale;
  const qr = numHeads * headDim;
  const kr = numKvHeads * headDim;
  const vr = numKvHeads * vHeadDim;
  const o = new Float32Array(R * numHeads * vHeadDim);
  for (const { offset, T, cache } of spans) {
    const start = cache.length;
    const qs = q.subarray(offset * qr, (offset + T) * qr);
    const ks = k.subarray(offset * kr, (offset + T) * kr);
    const vs = v.subarray(offset * vr, (offset + T) * vr);
    backend.rope(qs, T, numHeads, headDim, rotaryDim, ropeTheta, start);
    backend.rope(ks, T, numKvHeads, headDim, rotaryDim, ropeTheta, start);
    // A BF16 cache: the chunk's own keys and values are rounded as the cache stores them, so a position attends to
    // the same values whether they come from this chunk or from the cache (a prefix-cache hit moves that boundary).
    if (cache.dtype === 'bf16') {
      roundToBf16InPlace(ks);
      roundToBf16InPlace(vs);
    }
    const os = backend.attention({
      q: qs,
      k: ks,
      v: vs,
      start,
      T,
      numHeads,
      numKvHeads,
      headDim,
      vHeadDim,
      window: plan.window,
      sinks: w.sinks,
      ...cache.attentionPast(),
    });
    cache.append(ks, vs, T);
    o.set(os, offset * numHeads * vHeadDim);
  }
  trace?.('q', layer, q);
  trace?.('k', layer, k);
  trace?.('v', layer, v);
  trace?.('attn_out', layer, o);
  return backend.matmul(o, R, w.o);
}

/**
 * Keys and values of T rows at positions start … start+T−1: k = RoPE(x·Wkᵀ) `[T, Hkv, Dqk]`,
 * v = x·Wvᵀ × valueScale `[T, Hkv, Dv]`. A row's keys and values depend on that row's input only.
 */
export function projectKv(backend: Backend, plan: AttentionPlan, w: AttentionWeights, x: Float32Array, T: number, start: number, valueScale: number): { k: Float32Array; v: Float32Array } {
  const k = backend.matmul(x, T, w.k);
  const v = backend.matmul(x, T, w.v);
  if (valueScale !== 1) for (let i = 0; i < v.length; i++) v[i] = v[i]! * valueScale;
  backend.rope(k, T, plan.numKvHeads, plan.headDim, plan.rotaryDim, plan.ropeTheta, start);
  return { k, v };
}
