/**
 * One engine step over a batch of sequences: every sequence plans its next forward (prefill chunk, decode token or
 * verify chunk), one batched trunk forward runs them all, the LM head runs once over the rows that need logits, and
 * each sequence takes its rows back. The same function drives a single sequence (Generator) and the
 * continuous-batching scheduler, so a request's tokens do not depend on which of the two runs it.
 */
import type { MiMoModel } from '../model/mimo-v2/model.js';
import type { Sequence, StreamChunk } from './sequence.js';

/**
 * @param onError when given, a sequence whose accept throws (e.g. NumericalError) is reported here and gets no
 *   chunks, and the others go on; otherwise the error propagates
 * @returns the chunks each sequence emits, in the order of `seqs`
 */
export function runStep(model: MiMoModel, seqs: readonly Sequence[], onError?: (seq: Sequence, error: unknown) => void): StreamChunk[][] {
  const D = model.config.hiddenSize;
  const plans = seqs.map((s) => s.plan());
  const recordExperts = seqs.some((s) => s.opts.recordExperts);
  const outs = model.forwardSegments(
    plans.map((p, i) => ({ tokens: p.tokens, cache: seqs[i]!.decoder.cache })),
    { recordExperts },
  );
  const logits = model.computeLogitsBatched(outs.map((o, i) => o.hidden.subarray(o.hidden.length - plans[i]!.logitRows * D)));
  return seqs.map((s, i) => {
    try {
      return s.accept(outs[i]!.hidden, logits[i]!, s.opts.recordExperts ? outs[i]!.experts : undefined);
    } catch (e) {
      if (!onError) throw e;
      onError(s, e);
      return [];
    }
  });
}
