/**
 * Log-probabilities of sampled tokens for the API's `logprobs` / `top_logprobs`: log-softmax of the raw model
 * logits (before penalties, temperature and filters, as vLLM returns by default) over the tokenizer's ids.
 * Source: OpenAI API reference (chat `logprobs`, completions `logprobs`), vLLM sampling parameters.
 */

/** One token's log-probability (natural log) and the most likely alternatives at its position. */
export interface TokenLogprob {
  tokenId: number;
  logprob: number;
  /** The `top` most likely ids at this position, most likely first (ties: lower id first). */
  top: Array<{ tokenId: number; logprob: number }>;
}

/**
 * @param logits one row `[V]` float32
 * @param allowedVocab ids ≥ this are padding rows of the LM head and get no probability
 * @param top number of alternatives (0 … 20)
 */
export function tokenLogprob(logits: Float32Array, allowedVocab: number, tokenId: number, top: number): TokenLogprob {
  const n = Math.min(allowedVocab, logits.length);
  let max = -Infinity;
  for (let i = 0; i < n; i++) if (logits[i]! > max) max = logits[i]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += Math.exp(logits[i]! - max);
  const logZ = max + Math.log(sum);
  const best: number[] = [];
  if (top > 0) {
    // Keep the `top` best ids in a small sorted list (top ≤ 20, so insertion is cheap).
    for (let i = 0; i < n; i++) {
      const x = logits[i]!;
      if (best.length === top && x <= logits[best[best.length - 1]!]!) continue;
      let j = best.length;
      while (j > 0 && logits[best[j - 1]!]! < x) j--;
      best.splice(j, 0, i);
      if (best.length > top) best.pop();
    }
  }
  return {
    tokenId,
    logprob: tokenId < n ? logits[tokenId]! - logZ : -Infinity,
    top: best.map((id) => ({ tokenId: id, logprob: logits[id]! - logZ })),
  };
}
