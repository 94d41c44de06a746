/**
 * Sparse MoE FFN of MiMo-V2 layers ≥ 1: sigmoid router, selection-only bias (`noaux_tc`), group-limited top-k,
 * renormalisation and routed scaling, no shared expert. The routed experts run in one backend op (`Backend.moeExperts`:
 * tokens routed to the same expert are gathered so that each expert runs once per forward).
 * Source: spec §3.6, fixtures/README §2 "MoE".
 */
import { ShapeError } from '../../errors.js';
import type { Backend } from '../../kernels/backend.js';
import { bf16BitsToNumber, numberToBf16Bits } from '../../tensor/dtype.js';
import type { MiMoConfig } from './config.js';
import type { MoeWeights } from './weights.js';

/** Router settings (from config.json). */
export interface RouterParams {
  nGroup: number;
  topkGroup: number;
  topK: number;
  normTopkProb: boolean;
  routedScalingFactor: number;
  /** `moe_router_dtype: "bfloat16"` (V2.6): the router input is rounded to BF16 before the (BF16 × BF16, FP32 accumulation) router matmul. */
  bf16RouterInput?: boolean;
}

/** Chosen experts of one token and their mixing weights. */
export interface Route {
  experts: number[];
  weights: number[];
}

/** Sort key: higher score first, lower index on exact ties (matches torch.topk on CPU for our fixtures). */
function byScoreThenIndex(score: ArrayLike<number>) {
  return (a: number, b: number): number => score[b]! - score[a]! || a - b;
}

/**
 * Route one token.
 * @param logits router logits `[E]` (float32 values)
 * @param bias `e_score_correction_bias` `[E]`, used only to choose experts
 * @returns the chosen experts (in selection order) and weights σ_e / (Σ σ + 1e-20) × routed_scaling_factor
 *   (renormalisation only when norm_topk_prob). Experts of excluded groups can never win, even when every
 *   biased score in the kept groups is negative; exact ties go to the lower index.
 */
export function routeToken(logits: ArrayLike<number>, bias: ArrayLike<number>, p: RouterParams): Route {
  const E = logits.length;
  const sig = new Float32Array(E);
  const sel = new Float32Array(E);
  for (let e = 0; e < E; e++) {
    sig[e] = 1 / (1 + Math.exp(-logits[e]!));
    sel[e] = sig[e]! + bias[e]!;
  }
  let candidates: number[];
  if (p.nGroup > 1) {
    const size = E / p.nGroup;
    const groupScore = new Float64Array(p.nGroup);
    for (let g = 0; g < p.nGroup; g++) {
      const members = Array.from({ length: size }, (_, i) => g * size + i).sort(byScoreThenIndex(sel));
      groupScore[g] = Math.fround(sel[members[0]!]! + sel[members[1]!]!);
    }
    const kept = Array.from({ length: p.nGroup }, (_, g) => g)
      .sort(byScoreThenIndex(groupScore))
      .slice(0, p.topkGroup)
      .sort((a, b) => a - b);
    candidates = kept.flatMap((g) => Array.from({ length: size }, (_, i) => g * size + i));
  } else {
    candidates = Array.from({ length: E }, (_, e) => e);
  }
  const experts = candidates.sort(byScoreThenIndex(sel)).slice(0, p.topK);
  let weights = experts.map((e) => sig[e]!);
  if (p.normTopkProb) {
    const sum = weights.reduce((a, b) => a + b, 0) + 1e-20;
    weights = weights.map((w) => w / sum);
  }
  weights = weights.map((w) => Math.fround(w * p.routedScalingFactor));
  return { experts, weights };
}

/**
 * A copy of x with every element rounded to BF16 (round to nearest, ties to even; NaN stays NaN) and kept as float32:
 * the router input of a `moe_router_dtype: "bfloat16"` model (spec §2.8). Products of two BF16 values are exact in
 * float32, so the router matmul then computes the BF16 GEMM with FP32 accumulation.
 * @param x float32 `[T, D]`
 */
export function roundToBf16(x: Float32Array): Float32Array {
  return x.map((v) => bf16BitsToNumber(numberToBf16Bits(v)));
}

/** Router parameters of a config. */
export function routerParams(cfg: MiMoConfig): RouterParams {
  return {
    nGroup: cfg.nGroup,
    topkGroup: cfg.topkGroup,
    topK: cfg.numExpertsPerTok,
    normTopkProb: cfg.normTopkProb,
    routedScalingFactor: cfg.routedScalingFactor,
    bf16RouterInput: cfg.moeRouterDtype === 'bfloat16',
  };
}

/**
 * MoE FFN over T tokens: routing here, the experts in one backend op (`Backend.moeExperts`).
 * @param x normed input `[T, D]`
 * @param onRouterLogits optional trace of the router logits `[T, E]`
 * @param onRoute optional record of the chosen expert ids `[T, K]` int32 (selection order)
 * @returns output `[T, D]`
 */
export function moeForward(
  backend: Backend,
  w: MoeWeights,
  params: RouterParams,
  x: Float32Array,
  T: number,
  onRouterLogits?: (logits: Float32Array) => void,
  onRoute?: (expertIds: Int32Array) => void,
): Float32Array {
  const E = w.router.rows;
  const K = params.topK;
  const logits = backend.matmul(params.bf16RouterInput ? roundToBf16(x) : x, T, w.router);
  onRouterLogits?.(logits);
  const expertIds = new Int32Array(T * K);
  const weights = new Float32Array(T * K);
  for (let t = 0; t < T; t++) {
    const route = routeToken(logits.subarray(t * E, (t + 1) * E), w.bias, params);
    if (route.experts.length !== K) throw new ShapeError(`moe: token ${t} was routed to ${route.experts.length} experts, expected ${K}`);
    for (let k = 0; k < K; k++) {
      expertIds[t * K + k] = route.experts[k]!;
      weights[t * K + k] = route.weights[k]!;
    }
  }
  onRoute?.(expertIds);
  return backend.moeExperts(x, T, w.experts, expertIds, weights);
}
