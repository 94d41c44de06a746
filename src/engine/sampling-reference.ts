/**
 * The reference sampling helpers: each does one step of the sampler.ts module docstring naively on a whole row
 * (penalties, vocabulary mask, temperature, top-k, top-p, min-p, softmax), and `referenceProbs` composes them in
 * HF transformers' warper order with vLLM / llama.cpp definitions. `Sampler` is tested against them. All are
 * re-exported by sampler.ts.
 */
import { ShapeError } from '../errors.js';
import type { PenaltyParams, SamplingContext, SamplingParams } from './sampler.js';
import { sortedIds, weight } from './sampling-select.js';

/** Index of the largest of `logits[0..end)`; the lowest index wins ties; NaN is never chosen (0 if all NaN). */
export function argmax(logits: Float32Array, end = logits.length): number {
  let best = 0;
  let bestValue = -Infinity;
  for (let i = 0; i < end; i++) {
    const v = logits[i]!;
    if (v > bestValue) {
      bestValue = v;
      best = i;
    }
  }
  return best;
}

/** Probabilities `[V]` of `logits [V]` (max-subtracted, float64 sums); all zeros when every logit is -Infinity. */
export function softmax(logits: Float32Array, out = new Float32Array(logits.length)): Float32Array {
  const m = logits[argmax(logits)]!;
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += weight(logits[i]!, m, 1);
  for (let i = 0; i < logits.length; i++) out[i] = z > 0 ? weight(logits[i]!, m, 1) / z : 0;
  return out;
}

/** Log-probabilities `[V]` of `logits [V]`: `l - max - log Σ exp(l - max)`; -Infinity stays -Infinity. For logprobs. */
export function logSoftmax(logits: Float32Array, out = new Float32Array(logits.length)): Float32Array {
  const m = logits[argmax(logits)]!;
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += weight(logits[i]!, m, 1);
  const shift = m + Math.log(z);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - shift;
  return out;
}

/** In place: ids ≥ `allowedVocab` get -Infinity. @returns `logits` */
export function maskVocab(logits: Float32Array, allowedVocab: number): Float32Array {
  return logits.fill(-Infinity, allowedVocab);
}

/** Reusable buffers `[V]` for `applyPenalties`, so the per-token call allocates nothing; left zeroed after use. */
export interface PenaltyScratch {
  seen: Uint8Array;
  counts: Int32Array;
}

/**
 * In place: repetition penalty over distinct ids of prompt + generated, then presence and frequency penalties over
 * generated ids (sampler.ts module docstring, step 1). Results are rounded to float32.
 * @param logits `[V]` float32
 * @returns `logits`
 * @throws ShapeError when an id is not an integer in [0, V)
 */
export function applyPenalties(
  logits: Float32Array,
  context: SamplingContext,
  params: PenaltyParams,
  scratch?: PenaltyScratch,
): Float32Array {
  const V = logits.length;
  const { promptIds, generatedIds } = context;
  const { repetitionPenalty: rep, presencePenalty: presence, frequencyPenalty: frequency } = params;
  for (const ids of [promptIds, generatedIds]) {
    for (let j = 0; j < ids.length; j++) {
      const id = ids[j]!;
      if (id >>> 0 !== id || id >= V) throw new ShapeError(`penalties: token id ${id} outside logits [V=${V}]`);
    }
  }
  const s = scratch ?? { seen: new Uint8Array(V), counts: new Int32Array(V) };
  if (rep !== 1) {
    for (const ids of [promptIds, generatedIds]) {
      for (let j = 0; j < ids.length; j++) {
        const id = ids[j]!;
        if (s.seen[id]) continue;
        s.seen[id] = 1;
        const l = logits[id]!;
        logits[id] = l > 0 ? l / rep : l * rep;
      }
    }
    for (const ids of [promptIds, generatedIds]) for (let j = 0; j < ids.length; j++) s.seen[ids[j]!] = 0;
  }
  if (presence !== 0 || frequency !== 0) {
    for (let j = 0; j < generatedIds.length; j++) s.counts[generatedIds[j]!]!++;
    for (let j = 0; j < generatedIds.length; j++) {
      const id = generatedIds[j]!;
      const count = s.counts[id]!;
      if (count === 0) continue; // already penalized (and reset) at an earlier occurrence
      logits[id] = logits[id]! - (presence + frequency * count);
      s.counts[id] = 0;
    }
  }
  return logits;
}

/** In place: `logits / temperature` (temperature > 0). @returns `logits` */
export function applyTemperature(logits: Float32Array, temperature: number): Float32Array {
  for (let i = 0; i < logits.length; i++) logits[i] = logits[i]! / temperature;
  return logits;
}

/** In place: all but the `k` largest logits (ties to the lower id) become -Infinity; k 0 or ≥ V = off. Naive sort. */
export function filterTopK(logits: Float32Array, k: number): Float32Array {
  if (k <= 0 || k >= logits.length) return logits;
  const order = sortedIds(logits, logits.length);
  for (let r = k; r < order.length; r++) logits[order[r]!] = -Infinity;
  return logits;
}

/** In place: keep the shortest most-likely prefix with cumulative probability ≥ p (at least one); p 1 = off. */
export function filterTopP(logits: Float32Array, p: number): Float32Array {
  if (p >= 1) return logits;
  const order = sortedIds(logits, logits.length);
  const m = logits[order[0]!]!;
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += weight(logits[i]!, m, 1);
  let cum = 0;
  let r = 0;
  while (r < order.length) {
    cum += weight(logits[order[r]!]!, m, 1);
    r++;
    if (cum >= p * z) break;
  }
  for (; r < order.length; r++) logits[order[r]!] = -Infinity;
  return logits;
}

/** In place: tokens with probability < minP × the largest probability become -Infinity; minP 0 = off. */
export function filterMinP(logits: Float32Array, minP: number): Float32Array {
  if (minP <= 0) return logits;
  const m = logits[argmax(logits)]!;
  for (let i = 0; i < logits.length; i++) if (!(weight(logits[i]!, m, 1) >= minP)) logits[i] = -Infinity;
  return logits;
}

/**
 * The sampling distribution `[V]` float32, computed naively from the steps above (copy, then each helper in order;
 * one-hot at the argmax when temperature is 0). The definition `Sampler` is tested against.
 */
export function referenceProbs(
  logits: Float32Array,
  context: SamplingContext,
  params: SamplingParams,
  allowedVocab = logits.length,
): Float32Array {
  const x = applyPenalties(Float32Array.from(logits), context, params);
  maskVocab(x, allowedVocab);
  if (params.temperature === 0) {
    const oneHot = new Float32Array(x.length);
    oneHot[argmax(x)] = 1;
    return oneHot;
  }
  applyTemperature(x, params.temperature);
  filterTopK(x, params.topK);
  filterTopP(x, params.topP);
  filterMinP(x, params.minP);
  return softmax(x);
}
