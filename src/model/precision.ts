/**
 * Numeric precision of a loaded model's matmuls: 'exact' (the default) keeps every activation float32; 'fast' runs
 * the matmuls, the MoE experts and the LM head of GGUF weights of type Q4_0, Q5_0, Q8_0, IQ4_NL or MXFP4 on 8-bit
 * activations (llama.cpp's scheme: each token's row quantised to int8 blocks of 32, integer block sums;
 * kernels/reference/q8-activations.ts is the definition). Weights of other types (F16/BF16/F32, the K-quants, a
 * float router) keep float32 activations. Checkpoint directories (safetensors FP8/BF16) have no 8-bit path: 'fast' is
 * refused for them rather than silently ignored. README "8-bit activations" has the measured error and speed.
 */
import { RequestError } from '../errors.js';
import type { Weight } from '../kernels/backend.js';
import { INT8_ACTIVATION_TYPES } from '../kernels/reference/q8-activations.js';
import { ggmlTypeName } from '../tensor/formats/ggml/types.js';
import { prepareWeights, type ModelWeights } from './mimo-v2/weights.js';

export type Precision = 'exact' | 'fast';
export const PRECISIONS: readonly Precision[] = ['exact', 'fast'];

/**
 * The precision named by `value` (undefined: 'exact').
 * @throws RequestError(key) for anything but 'exact' or 'fast'
 */
export function parsePrecision(value: unknown, key = 'precision'): Precision {
  if (value === undefined) return 'exact';
  if (value === 'exact' || value === 'fast') return value;
  throw new RequestError(key, `must be 'exact' (float32 activations, the default) or 'fast' (8-bit activations for GGUF Q8_0/Q4_0/Q5_0/IQ4_NL/MXFP4 weights), got ${JSON.stringify(value)}`);
}

/** The names of the ggml types with an 8-bit path, for messages. */
const TYPE_NAMES = [...INT8_ACTIVATION_TYPES].map(ggmlTypeName).join(', ');

/**
 * Refusal of 'fast' for a model without 8-bit-activation weights.
 * @param what the model ("a safetensors checkpoint (FP8/BF16 weights)", "a GGUF without …")
 */
export function fastUnavailable(source: string, what: string): RequestError {
  return new RequestError(
    'precision',
    `'fast' (8-bit activations) needs a GGUF model with ${TYPE_NAMES} weights; ${source} is ${what}. Use precision 'exact', or convert it: mimo quantize ${source} out.q8_0.gguf --type q8_0`,
  );
}

/**
 * The weights with `activations: 'int8'` set on every linear weight of a type in INT8_ACTIVATION_TYPES (the embedding,
 * read row by row, and float weights unchanged), and how many were marked.
 */
export function withInt8Activations(w: ModelWeights): { weights: ModelWeights; marked: number } {
  let marked = 0;
  const weights = prepareWeights(w, (x: Weight): Weight => {
    if (x.dtype !== 'ggml' || x.ggmlType === undefined || !INT8_ACTIVATION_TYPES.has(x.ggmlType)) return x;
    marked++;
    return { ...x, activations: 'int8' };
  });
  return { weights, marked };
}
