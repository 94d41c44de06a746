/**
 * Routed experts of a MoE layer (`Backend.moeExperts`) composed from matmul and swiglu: the rows routed to each
 * expert are gathered in token order, each expert runs one SwiGLU MLP over its `[n, D]` batch, and the outputs are
 * scatter-added with their routing weights in ascending expert id (float64 add, rounded to float32 on store).
 * Source: spec §3.6.
 */
import { ShapeError } from '../../errors.js';
import type { Backend, MlpWeightSet } from '../backend.js';

/**
 * Checks the routing arguments of `moeExperts` and returns K (choices per token).
 * @throws ShapeError when the lengths disagree or an id is outside [0, experts.length)
 */
export function checkMoeRouting(x: Float32Array, T: number, experts: readonly MlpWeightSet[], expertIds: Int32Array, weights: Float32Array): number {
  if (!Number.isInteger(T) || T < 0) throw new ShapeError(`moeExperts: T must be a non-negative integer, got ${T}`);
  if (weights.length !== expertIds.length) throw new ShapeError(`moeExperts: weights has ${weights.length} elements, expertIds ${expertIds.length}`);
  const K = T === 0 ? 0 : expertIds.length / T;
  if (!Number.isInteger(K)) throw new ShapeError(`moeExperts: expertIds has ${expertIds.length} elements, not a multiple of T = ${T}`);
  if (T === 0 && (expertIds.length !== 0 || x.length !== 0)) throw new ShapeError('moeExperts: T = 0 needs empty x and expertIds');
  for (let i = 0; i < expertIds.length; i++) {
    const e = expertIds[i]!;
    if (e < 0 || e >= experts.length) throw new ShapeError(`moeExperts: expertIds[${i}] = ${e} is outside [0, ${experts.length})`);
  }
  return K;
}

/**
 * `moeExperts` through a backend's matmul and swiglu (the reference backend's definition of the op).
 * @param x `[T, D]`; expertIds, weights `[T, K]` (see `Backend.moeExperts`)
 * @returns `[T, D]`
 */
export function moeExpertsVia(
  ops: Pick<Backend, 'matmul' | 'swiglu'>,
  x: Float32Array,
  T: number,
  experts: readonly MlpWeightSet[],
  expertIds: Int32Array,
  weights: Float32Array,
): Float32Array {
  const K = checkMoeRouting(x, T, experts, expertIds, weights);
  const D = T === 0 ? 0 : x.length / T;
  if (!Number.isInteger(D)) throw new ShapeError(`moeExperts: x has ${x.length} elements, not a multiple of T = ${T}`);
  const E = experts.length;
  const rowsOf: number[][] = Array.from({ length: E }, () => []);
  const weightOf: number[][] = Array.from({ length: E }, () => []);
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < K; k++) {
      rowsOf[expertIds[t * K + k]!]!.push(t);
      weightOf[expertIds[t * K + k]!]!.push(weights[t * K + k]!);
    }
  }
  const out = new Float32Array(T * D);
  for (let e = 0; e < E; e++) {
    const rows = rowsOf[e]!;
    const n = rows.length;
    if (n === 0) continue;
    const w = experts[e]!;
    if (w.gate.cols !== D || w.up.cols !== D || w.down.rows !== D || w.up.rows !== w.gate.rows || w.down.cols !== w.gate.rows) {
      throw new ShapeError(`moeExperts: expert ${e} has gate [${w.gate.rows}, ${w.gate.cols}], up [${w.up.rows}, ${w.up.cols}], down [${w.down.rows}, ${w.down.cols}]; expected [I, ${D}], [I, ${D}], [${D}, I]`);
    }
    const xe = new Float32Array(n * D);
    rows.forEach((t, i) => xe.set(x.subarray(t * D, (t + 1) * D), i * D));
    const h = ops.swiglu(ops.matmul(xe, n, w.gate), ops.matmul(xe, n, w.up));
    const ye = ops.matmul(h, n, w.down);
    rows.forEach((t, i) => {
      const we = weightOf[e]![i]!;
      for (let d = 0; d < D; d++) out[t * D + d]! += we * ye[i * D + d]!;
    });
  }
  return out;
}
