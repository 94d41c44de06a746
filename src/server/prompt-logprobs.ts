/**
 * Log-probabilities of a prompt's own tokens, for the completions API's `echo: true` with `logprobs` (as OpenAI
 * returns them): one forward over the prompt in a fresh KV cache, then the LM head row by row in chunks, each
 * token's log-softmax taken from the row of the position before it. The first token has none (null), as in OpenAI.
 * Source: OpenAI API reference (Completions: echo, logprobs); issue 14.
 */
import { tokenLogprob, type TokenLogprob } from '../engine/logprobs.js';
import type { MiMoModel } from '../model/mimo-v2/model.js';

/** Hidden rows per LM-head call (bounds the logits buffer to ROWS × V floats). */
const ROWS = 32;

/**
 * @param ids prompt token ids `[T]` (validated by the caller: integers in the vocabulary, T < context)
 * @param allowedVocab ids ≥ this get no probability (LM-head padding rows)
 * @param top alternatives per position (0 … 20)
 * @returns `[T]`: null for position 0, then each token's log-probability given the tokens before it
 */
export function promptLogprobs(model: MiMoModel, ids: readonly number[], allowedVocab: number, top: number): Array<TokenLogprob | null> {
  const D = model.config.hiddenSize;
  const V = model.config.vocabSize;
  const cache = model.newCache();
  const hidden = model.forward(ids, cache);
  cache.release(); // its pages go back to the pool's counts
  const out: Array<TokenLogprob | null> = [null];
  // Row r predicts token r + 1; the last row predicts past the prompt and is not needed.
  for (let r0 = 0; r0 < ids.length - 1; r0 += ROWS) {
    const rows = Math.min(ROWS, ids.length - 1 - r0);
    const logits = model.computeLogits(hidden.subarray(r0 * D, (r0 + rows) * D), rows);
    for (let j = 0; j < rows; j++) out.push(tokenLogprob(logits.subarray(j * V, (j + 1) * V), allowedVocab, ids[r0 + j + 1]!, top));
  }
  return out;
}
