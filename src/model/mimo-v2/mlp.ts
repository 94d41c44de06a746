/**
 * Dense SwiGLU MLP: down(silu(gate·x) ⊙ up·x). Layer 0, every MTP layer, and each routed expert.
 * Source: spec §3.5.
 */
import type { Backend } from '../../kernels/backend.js';
import type { MlpWeights } from './weights.js';

/** @param x `[T, D]` → `[T, D]` */
export function denseMlp(backend: Backend, w: MlpWeights, x: Float32Array, T: number): Float32Array {
  const h = backend.swiglu(backend.matmul(x, T, w.gate), backend.matmul(x, T, w.up));
  return backend.matmul(h, T, w.down);
}
