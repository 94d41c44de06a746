/**
 * Draft proposer from the model's own MTP layers (non-chain, fixtures/README §2.1, spec §4.3): every MTP layer k
 * reads the trunk's hidden state after `model.norm`. With confirmed tokens x_0…x_n and trunk hidden rows up to
 * n−1, layer k at row n−1 reads (h_{n−1}, x_{n+k}) where x_{n+k} for k ≥ 1 is the draft of layer k−1, and
 * proposes x_{n+k+1}. Each layer keeps its own sliding-window KV cache whose row p holds what a teacher-forced
 * pass computes from (h_p, x_{p+k+1}); rows built from drafts are dropped at the next step and recomputed once
 * their tokens are confirmed.
 */
import { ShapeError } from '../../errors.js';
import type { MiMoModel } from '../../model/mimo-v2/model.js';
import type { ModelKVCache } from '../kv-cache.js';

/** Chooses a draft from MTP layer k's logits row `[V]` (argmax when greedy, a sample from q otherwise). */
export type DraftPicker = (logits: Float32Array, k: number, draftsSoFar: readonly number[]) => number;

export interface Proposal {
  /** Drafts x_{n+1} … x_{n+K}. */
  drafts: number[];
  /** MTP logits row `[V]` each draft was picked from (the draft distribution q before sampling filters). */
  logits: Float32Array[];
}

export class MtpProposer {
  /** Per MTP layer: rows 0…validRows−1 of its cache were computed from confirmed tokens. */
  private readonly validRows: number[];

  /**
   * @param numDraft drafts per step, 1 … number of MTP layers
   * @param tokenOffset test-only miswiring: feed token x_{p+k+1+tokenOffset} (0 = correct)
   * Any window works: the caches' rings hold window + numDraft + 1 rows, so rejected drafts are trimmed without
   * losing a key a later query sees, even when the window is smaller than the drafts.
   * @throws ShapeError when numDraft is out of range
   */
  constructor(
    readonly model: MiMoModel,
    readonly cache: ModelKVCache,
    readonly numDraft: number,
    private readonly tokenOffset = 0,
  ) {
    const K = model.numMtpLayers;
    if (!Number.isInteger(numDraft) || numDraft < 1 || numDraft > K) throw new ShapeError(`MTP drafts must be 1…${K} (the checkpoint's MTP layers), got ${numDraft}`);
    this.validRows = new Array<number>(numDraft).fill(0);
  }

  /**
   * Propose up to `maxDrafts` (≤ numDraft) drafts.
   * @param tokens confirmed tokens x_0…x_n (n + 1 = tokens.length)
   * @param hiddenAt trunk hidden row p `[D]` after `model.norm`, for n − window − numDraft ≤ p ≤ n − 1
   */
  propose(tokens: readonly number[], hiddenAt: (p: number) => Float32Array, pick: DraftPicker, maxDrafts = this.numDraft): Proposal {
    const n = tokens.length - 1;
    const D = this.model.config.hiddenSize;
    const W = this.model.config.slidingWindow;
    const drafts: number[] = [];
    const logits: Float32Array[] = [];
    for (let k = 0; k < Math.min(maxDrafts, this.numDraft); k++) {
      const c = this.cache.mtp[k]!;
      c.trim(c.length - this.validRows[k]!);
      // Rows older than the window are never read again: skip them. Of the rest only row n−1's output is needed;
      // the others contribute keys and values (which depend on the row's own input only).
      const start = Math.max(this.validRows[k]!, n - W);
      if (start > c.length) c.skipTo(start);
      const rowInput = (from: number, to: number) => {
        const hidden = new Float32Array((to - from) * D);
        const toks: number[] = [];
        for (let p = from; p < to; p++) {
          hidden.set(hiddenAt(p), (p - from) * D);
          const idx = Math.min(p + k + 1 + this.tokenOffset, n + k);
          toks.push(idx <= n ? tokens[Math.max(0, idx)]! : drafts[idx - n - 1]!);
        }
        return { hidden, toks };
      };
      if (n - 1 > start) {
        const kv = rowInput(start, n - 1);
        this.model.mtpAppendKv(k, kv.hidden, kv.toks, this.cache);
      }
      const last = rowInput(n - 1, n);
      const g = this.model.mtpForward(k, last.hidden, last.toks, this.cache);
      const row = this.model.computeLogits(g, 1);
      logits.push(row);
      drafts.push(pick(row, k, drafts));
      this.validRows[k] = Math.max(start, n - k);
    }
    return { drafts, logits };
  }
}
