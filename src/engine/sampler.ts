/**
 * Token sampling from one row of logits `[V]` float32: penalties, then greedy argmax or temperature → top-k → top-p
 * → min-p → a seeded draw. The pure helpers in sampling-reference.ts (`applyPenalties`, `filterTopK`, …, re-exported
 * here) are the reference: each does one step naively on a whole row, and `referenceProbs` composes them; `Sampler`
 * (this file) computes the same distribution with partial selection (sampling-select.ts) and a histogram threshold,
 * and is tested against them. This file also holds `SamplingParams`, its defaults, validation and resolution.
 *
 * Order and conventions (HF transformers' warper order; vLLM / llama.cpp definitions):
 * 1. Penalties on the raw logits. Repetition (CTRL / HF / llama.cpp): every distinct id in prompt + generated has
 *    its logit divided by `repetitionPenalty` when positive and multiplied when negative. Then presence and
 *    frequency (OpenAI): `logit -= presencePenalty · [count > 0] + frequencyPenalty · count` over generated ids.
 * 2. Ids ≥ `allowedVocab` are masked (the LM head has padding rows beyond the tokenizer).
 * 3. Temperature 0: argmax, lowest id on ties. Otherwise logits / temperature, then
 * 4. top-k: the k largest logits, ties to the lower id (exactly k kept, so top_k 1 = greedy);
 * 5. top-p: over the renormalized survivors sorted by probability (ties: lower id first), the shortest prefix
 *    whose cumulative probability reaches top_p; at least one token;
 * 6. min-p: tokens with probability ≥ min_p × the largest probability (unchanged by renormalization);
 * 7. one `rng.next()` draw from the renormalized survivors.
 * NaN logits count as -Infinity.
 */
import { RequestError, ShapeError } from '../errors.js';
import { Rng } from './rng.js';
import { applyPenalties, argmax, type PenaltyScratch } from './sampling-reference.js';
import { MAX_NATS, selectTopK, sortByLogitDescending, weight } from './sampling-select.js';

export {
  applyPenalties,
  applyTemperature,
  argmax,
  filterMinP,
  filterTopK,
  filterTopP,
  logSoftmax,
  maskVocab,
  type PenaltyScratch,
  referenceProbs,
  softmax,
} from './sampling-reference.js';

/** Generation options of one request, camelCase of the OpenAI / vLLM parameter names given in errors. */
export interface SamplingParams {
  /** Softmax temperature ≥ 0; 0 = greedy (argmax). */
  temperature: number;
  /** Keep the k most likely tokens; 0 = off. */
  topK: number;
  /** Nucleus mass in (0, 1]; 1 = off. */
  topP: number;
  /** Minimum probability relative to the most likely token, in [0, 1]; 0 = off. */
  minP: number;
  /** CTRL-style penalty > 0 over prompt + generated ids; 1 = off. */
  repetitionPenalty: number;
  /** OpenAI presence penalty in [-2, 2] over generated ids; 0 = off. */
  presencePenalty: number;
  /** OpenAI frequency penalty in [-2, 2] per occurrence in generated ids; 0 = off. */
  frequencyPenalty: number;
  /** Seed of the request's generator (safe integer); absent = seeded from OS entropy. */
  seed?: number;
}

/** Plain sampling at temperature 1 with every filter and penalty off. */
export const defaultSamplingParams: Readonly<SamplingParams> = Object.freeze({
  temperature: 1,
  topK: 0,
  topP: 1,
  minP: 0,
  repetitionPenalty: 1,
  presencePenalty: 0,
  frequencyPenalty: 0,
});

/** Token ids seen so far by one sequence; ids index the logits row. */
export interface SamplingContext {
  promptIds: ArrayLike<number>;
  generatedIds: ArrayLike<number>;
}

/** The penalty fields of `SamplingParams`. */
export type PenaltyParams = Pick<SamplingParams, 'repetitionPenalty' | 'presencePenalty' | 'frequencyPenalty'>;

/**
 * Check the fields present in `p` (absent ones take defaults).
 * @throws RequestError naming the API parameter (`temperature`, `top_k`, `top_p`, `min_p`, `repetition_penalty`,
 *   `presence_penalty`, `frequency_penalty`, `seed`), e.g. `top_p: must be in (0, 1], got 1.5`
 */
export function validateSamplingParams(p: Partial<SamplingParams>): void {
  const check = (param: string, v: unknown, ok: (x: number) => boolean, rule: string): void => {
    if (v === undefined) return;
    if (typeof v !== 'number') throw new RequestError(param, `must be a number, got ${typeof v}`);
    if (!ok(v)) throw new RequestError(param, `${rule}, got ${v}`);
  };
  check('temperature', p.temperature, (x) => x >= 0 && Number.isFinite(x), 'must be a finite number ≥ 0');
  check('top_k', p.topK, (x) => Number.isInteger(x) && x >= 0, 'must be an integer ≥ 0 (0 = off)');
  check('top_p', p.topP, (x) => x > 0 && x <= 1, 'must be in (0, 1]');
  check('min_p', p.minP, (x) => x >= 0 && x <= 1, 'must be in [0, 1]');
  check('repetition_penalty', p.repetitionPenalty, (x) => x > 0 && Number.isFinite(x), 'must be a finite number > 0');
  check('presence_penalty', p.presencePenalty, (x) => x >= -2 && x <= 2, 'must be in [-2, 2]');
  check('frequency_penalty', p.frequencyPenalty, (x) => x >= -2 && x <= 2, 'must be in [-2, 2]');
  check('seed', p.seed, Number.isSafeInteger, 'must be an integer in ±(2^53 - 1)');
}

const SAMPLING_KEYS = [
  'temperature',
  'topK',
  'topP',
  'minP',
  'repetitionPenalty',
  'presencePenalty',
  'frequencyPenalty',
] as const;

/** Validate `p` and fill absent fields from `defaultSamplingParams`. @throws RequestError as `validateSamplingParams` */
export function resolveSamplingParams(p: Partial<SamplingParams> = {}): SamplingParams {
  validateSamplingParams(p);
  const out: SamplingParams = { ...defaultSamplingParams };
  for (const key of SAMPLING_KEYS) if (p[key] !== undefined) out[key] = p[key]!;
  if (p.seed !== undefined) out.seed = p.seed;
  return out;
}

/** Tokens kept by a `Sampler` step and their renormalized probabilities (same length, unspecified order). */
export interface TokenDistribution {
  ids: Int32Array;
  probs: Float32Array;
}

/** Histogram of scaled distances `(max - logit) / T` that bounds the top-p candidates: 256 buckets of 1/8 nat. */
const BUCKETS = 256;
const BUCKETS_PER_NAT = 8;

/**
 * One sequence's sampler: validated params, a generator seeded from `params.seed` (or entropy), and scratch
 * buffers reused across steps (nothing of size V is allocated per step). Greedy is one O(V) pass; top-k uses a
 * size-k heap over V, then sorts k; top-p without top-k makes two O(V) passes and sorts only the tokens within about
 * 3/8 nat of the cut (see collectTopPCandidates); plain sampling and min-p alone sort nothing. Non-greedy steps
 * consume exactly one `rng.next()`, greedy steps none. Measured on V = 152576 (200 steps, Node 20, a shared
 * 2-core machine): greedy ≈ 0.2 ms, top-k 50 ≈ 0.5 ms, plain / min-p ≈ 2.3 ms, top-p 0.95 ≈ 3–6 ms per token.
 */
export class Sampler {
  readonly params: Readonly<SamplingParams>;
  readonly rng: Rng;
  private work = new Float32Array(0);
  private penaltyScratch: PenaltyScratch = { seen: new Uint8Array(0), counts: new Int32Array(0) };
  private keptIds = new Int32Array(0);
  private keptWeights = new Float64Array(0);
  private sortKeys = new Float64Array(0);
  /** Weight of every id `[n]`, kept between the passes of collectTopPCandidates. */
  private rowWeights = new Float64Array(0);
  private readonly hist = new Float64Array(BUCKETS);
  /** Σ weights over the row, and how many candidates are kept for certain: set by collectTopPCandidates. */
  private totalMass = 0;
  private sureCount = 0;

  /** @throws RequestError naming the first invalid parameter (see `validateSamplingParams`) */
  constructor(params: Partial<SamplingParams> = {}, rng?: Rng) {
    this.params = Object.freeze(resolveSamplingParams(params));
    this.rng = rng ?? (this.params.seed !== undefined ? Rng.fromSeed(this.params.seed) : Rng.fromEntropy());
  }

  /**
   * Pick the next token id. The caller's `logits` are not modified.
   * @param logits `[V]` float32, one row of the LM head output
   * @param allowedVocab ids ≥ it are never chosen (tokenizer length; default V)
   * @throws ShapeError when `allowedVocab` is not an integer in [1, V] or a context id lies outside [0, V)
   */
  sample(logits: Float32Array, context: SamplingContext, allowedVocab?: number): number {
    const count = this.keep(logits, context, allowedVocab);
    const ids = this.keptIds;
    const w = this.keptWeights;
    if (this.params.temperature === 0) return ids[0]!;
    let total = 0; // one draw even when one token is left, so a seed's stream does not depend on the logits
    for (let i = 0; i < count; i++) total += w[i]!;
    const u = this.rng.next() * total;
    let cum = 0;
    for (let i = 0; i < count; i++) {
      cum += w[i]!;
      if (u < cum) return ids[i]!;
    }
    return ids[0]!; // unreachable: u < total = the final cum
  }

  /**
   * The distribution `sample` draws from, without drawing: kept ids and probabilities (for rejection sampling in
   * speculative verify, and tests). Same arguments and errors as `sample`.
   */
  distribution(logits: Float32Array, context: SamplingContext, allowedVocab?: number): TokenDistribution {
    const count = this.keep(logits, context, allowedVocab);
    const ids = this.keptIds.slice(0, count);
    const probs = new Float32Array(count);
    let total = 0;
    for (let i = 0; i < count; i++) total += this.keptWeights[i]!;
    for (let i = 0; i < count; i++) probs[i] = this.keptWeights[i]! / total;
    return { ids, probs };
  }

  /** Fill keptIds / keptWeights (unnormalized, the max token's weight is 1) and return how many are kept. */
  private keep(logits: Float32Array, context: SamplingContext, allowedVocab: number | undefined): number {
    const V = logits.length;
    const n = allowedVocab ?? V;
    if (!Number.isInteger(n) || n < 1 || n > V) {
      throw new ShapeError(`sampler: allowedVocab must be an integer in [1, ${V}] (logits [V=${V}]), got ${allowedVocab}`);
    }
    const p = this.params;
    let x = logits;
    if (p.repetitionPenalty !== 1 || p.presencePenalty !== 0 || p.frequencyPenalty !== 0) {
      if (this.work.length !== V) {
        this.work = new Float32Array(V);
        this.penaltyScratch = { seen: new Uint8Array(V), counts: new Int32Array(V) };
      }
      x = this.work;
      x.set(logits);
      applyPenalties(x, context, p, this.penaltyScratch);
    }
    if (this.keptIds.length < n) {
      this.keptIds = new Int32Array(n);
      this.keptWeights = new Float64Array(n);
      this.sortKeys = new Float64Array(n);
      this.rowWeights = new Float64Array(n);
    }
    const ids = this.keptIds;
    const w = this.keptWeights;
    const best = argmax(x, n);
    const m = x[best]!;
    if (p.temperature === 0 || !Number.isFinite(m)) {
      ids[0] = best;
      w[0] = 1;
      return 1;
    }
    const T = p.temperature;
    let count: number;
    let sureCount = 0; // ids[0..sureCount) are in the top-p set for certain; the rest is sorted, descending
    let referenceMass: number; // the mass top-p is a fraction of
    if (p.topK > 0 && p.topK < n) {
      count = selectTopK(x, n, p.topK, ids, this.sortKeys);
      referenceMass = 0;
      for (let i = 0; i < count; i++) referenceMass += w[i] = weight(x[ids[i]!]!, m, T);
    } else if (p.topP < 1) {
      count = this.collectTopPCandidates(x, n, m, T, ids);
      sureCount = this.sureCount;
      for (let i = 0; i < count; i++) w[i] = this.rowWeights[ids[i]!]!;
      referenceMass = this.totalMass;
    } else {
      count = 0; // no sorting needed: keep every token with weight ≥ min_p (> 0)
      for (let i = 0; i < n; i++) {
        const wi = weight(x[i]!, m, T);
        if (wi > 0 && wi >= p.minP) {
          ids[count] = i;
          w[count++] = wi;
        }
      }
      return count;
    }
    if (p.topP < 1) {
      const target = p.topP * referenceMass;
      let cum = 0;
      for (let i = 0; i < sureCount; i++) cum += w[i]!;
      if (cum >= target) count = sureCount; // only by rounding: the sure part is below top_p by construction
      for (let i = sureCount; i < count; i++) {
        cum += w[i]!;
        if (cum >= target) {
          count = i + 1;
          break;
        }
      }
    }
    let kept = 0; // min-p, and drop zero weights (-Infinity inside top-k); the max token (weight 1) always stays
    for (let i = 0; i < count; i++) {
      const wi = w[i]!;
      if (wi > 0 && wi >= p.minP) {
        ids[kept] = ids[i]!;
        w[kept++] = wi;
      }
    }
    return kept;
  }

  /**
   * Candidates for the top-p set into `ids`, returning their count; sets `totalMass` (Σ weights over [0, n)),
   * `sureCount` and `rowWeights`. A histogram of distances below the max (1/8-nat buckets) locates the bucket b*
   * where the cumulative mass reaches top_p. Tokens in buckets < b* - 1 are in the top-p set for certain (the mass
   * ahead of them is below top_p; one bucket of margin for rounding) and go first, unsorted; tokens in buckets
   * b* - 1 … b* + 1 are sorted (descending logit, ties lower id first) for the exact cut; later buckets have at
   * least top_p of the mass ahead of them and are never kept. Tokens below min-p are skipped.
   */
  private collectTopPCandidates(x: Float32Array, n: number, m: number, T: number, ids: Int32Array): number {
    const { topP, minP } = this.params;
    const hist = this.hist.fill(0);
    const rw = this.rowWeights;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const d = (m - x[i]!) / T;
      const e = d <= MAX_NATS ? Math.exp(-d) : 0;
      rw[i] = e;
      total += e;
      if (e > 0) hist[bucketOf(d)] += e;
    }
    this.totalMass = total;
    let boundary = BUCKETS - 1;
    let cum = 0;
    for (let b = 0; b < BUCKETS; b++) {
      cum += hist[b]!;
      if (cum >= topP * total) {
        boundary = b;
        break;
      }
    }
    const firstSorted = boundary - 1;
    const lastSorted = Math.min(boundary + 1, BUCKETS - 1);
    let sure = 0;
    let sorted = 0;
    const pending = this.sortKeys; // borrowed as an id list until the sort below needs it
    for (let i = 0; i < n; i++) {
      const e = rw[i]!;
      if (!(e > 0 && e >= minP)) continue;
      const b = bucketOf((m - x[i]!) / T);
      if (b < firstSorted) ids[sure++] = i;
      else if (b <= lastSorted) pending[sorted++] = i;
    }
    const tail = ids.subarray(sure, sure + sorted);
    for (let j = 0; j < sorted; j++) tail[j] = pending[j]!;
    sortByLogitDescending(x, tail, this.sortKeys);
    this.sureCount = sure;
    return sure + sorted;
  }
}

function bucketOf(d: number): number {
  return d < BUCKETS / BUCKETS_PER_NAT ? (d * BUCKETS_PER_NAT) | 0 : BUCKETS - 1;
}
