/**
 * Verification of drafts against the trunk (vLLM's rejection-sampler vocabulary): a draft is *accepted* when the
 * trunk agrees; at the first rejection the trunk supplies a *recovered* token; when every draft is accepted the
 * trunk's prediction after the last draft is a *bonus* token. Greedy: accept while the draft equals the trunk's
 * pick. Sampling: speculative rejection sampling (Leviathan et al. 2023, Chen et al. 2023) — accept draft d with
 * probability min(1, p(d)/q(d)), on rejection sample from norm(max(0, p − q)) — so the output distribution is
 * exactly the trunk's p. p and q are the sampler's processed distributions (same filters and penalties).
 */
import type { TokenDistribution } from '../sampler.js';

export interface VerifyOutcome {
  /** Number of drafts accepted (0 … K). */
  accepted: number;
  /** The recovered token (at the first rejection) or the bonus token (all accepted). */
  next: number;
}

/**
 * Greedy verification.
 * @param targetPicks the trunk's greedy pick at each of the K + 1 verified rows (row i predicts the token after
 *   drafts[0..i−1])
 */
export function verifyGreedy(drafts: readonly number[], targetPicks: readonly number[]): VerifyOutcome {
  let a = 0;
  while (a < drafts.length && drafts[a] === targetPicks[a]) a++;
  return { accepted: a, next: targetPicks[a]! };
}

/** Probability of `id` in a sparse distribution (0 when not kept). */
export function probOf(d: TokenDistribution, id: number): number {
  for (let i = 0; i < d.ids.length; i++) if (d.ids[i] === id) return d.probs[i]!;
  return 0;
}

/** Sample an id from a sparse distribution with a uniform number u ∈ [0, 1). */
export function sampleFrom(d: TokenDistribution, u: number): number {
  let total = 0;
  for (let i = 0; i < d.probs.length; i++) total += d.probs[i]!;
  let cum = 0;
  const x = u * total;
  for (let i = 0; i < d.ids.length; i++) {
    cum += d.probs[i]!;
    if (x < cum) return d.ids[i]!;
  }
  return d.ids[d.ids.length - 1]!;
}

/**
 * norm(max(0, p − q)) as a sparse distribution over p's support; falls back to p if p ≤ q everywhere.
 * O(|p| + |q|): q's probabilities are looked up in a map (supports can hold the whole vocabulary).
 */
export function residual(p: TokenDistribution, q: TokenDistribution): TokenDistribution {
  const qProb = new Map<number, number>();
  for (let i = 0; i < q.ids.length; i++) qProb.set(q.ids[i]!, q.probs[i]!);
  const probs = new Float32Array(p.ids.length);
  let total = 0;
  for (let i = 0; i < p.ids.length; i++) {
    const r = Math.max(0, p.probs[i]! - (qProb.get(p.ids[i]!) ?? 0));
    probs[i] = r;
    total += r;
  }
  if (!(total > 0)) return p;
  for (let i = 0; i < probs.length; i++) probs[i] = probs[i]! / total;
  return { ids: p.ids, probs };
}

/**
 * Speculative rejection sampling.
 * @param draftDists q for each draft (the distribution the draft was sampled from)
 * @param targetDist p at verified row i (i = 0 … K), computed lazily with the context of drafts[0..i−1]
 * @param uniform a source of uniform numbers in [0, 1) (the sequence's seeded RNG)
 */
export function verifyRejection(drafts: readonly number[], draftDists: readonly TokenDistribution[], targetDist: (i: number) => TokenDistribution, uniform: () => number): VerifyOutcome {
  for (let i = 0; i < drafts.length; i++) {
    const p = targetDist(i);
    const q = draftDists[i]!;
    const d = drafts[i]!;
    const pd = probOf(p, d);
    const qd = probOf(q, d);
    if (qd > 0 && uniform() * qd < pd) continue; // accept with probability min(1, p/q)
    return { accepted: i, next: sampleFrom(residual(p, q), uniform()) };
  }
  return { accepted: drafts.length, next: sampleFrom(targetDist(drafts.length), uniform()) };
}
