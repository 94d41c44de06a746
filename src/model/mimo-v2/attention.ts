/**
 * One MiMo-V2 attention block (full or sliding window): q/k/v projections, value scaling, partial RoPE with the
 * layer type's θ, GQA attention over the layer's KV cache plus the current chunk, sinks, o_proj.
 * Source: spec §3.4; fixtures/README §2 "Attention".
 */
import type { Backend } from '../../kernels/backend.js';
import type { LayerKVCache } from '../../engine/kv-cache.js';
import type { AttentionPlan } from './config.js';
import type { AttentionWeights } from './weights.js';

/** Optional intermediates for debugging (llama.cpp-style names). */
export type TraceFn = (name: string, layer: number, data: Float32Array) => void;

/**
 * @param x normed input `[T, D]` at positions cache.length … cache.length+T−1
 * @param valueScale `attention_value_scale` (1.0 when absent)
 * @returns attention output after o_proj `[T, D]`; appends the chunk's keys and values to `cache`
 */
export function attentionBlock(
  backend: Backend,
  plan: AttentionPlan,
  w: AttentionWeights,
  x: Float32Array,
  T: number,
  cache: LayerKVCache,
  valueScale: number,
  layer = -1,
  trace?: TraceFn,
): Float32Array {
  const { numHeads, numKvHeads, headDim, vHeadDim, rotaryDim, ropeTheta } = plan;
  const start = cache.length;
  const q = backend.matmul(x, T, w.q);
  backend.rope(q, T, numHeads, headDim, rotaryDim, ropeTheta, start);
  const { k, v } = projectKv(backend, plan, w, x, T, start, valueScale);
  trace?.('q', layer, q);
  trace?.('k', layer, k);
  trace?.('v', layer, v);
  const o = backend.attention({
    q,
    k,
    v,
    start,
    T,
    numHeads,
    numKvHeads,
    headDim,
    vHeadDim,
    window: plan.window,
    sinks: w.sinks,
    pastKeys: cache.keys,
    pastValues: cache.values,
    pastRows: cache.rows,
    pastFirst: cache.first,
  });
  cache.append(k, v, T);
  trace?.('attn_out', layer, o);
  return backend.matmul(o, T, w.o);
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
