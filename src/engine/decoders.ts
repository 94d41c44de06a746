/**
 * Decoders produce the tokens of each trunk forward for one sequence: plain decode (one token per forward) and
 * MTP self-speculative decode (K drafts, one batched verify forward, 1 … K+1 tokens). They own the sequence's KV
 * cache; the Generator owns emission (stop ids, stop strings, max tokens). Source: spec §4.3, STYLE habit 6.
 */
import { NumericalError } from '../errors.js';
import type { MiMoModel } from '../model/mimo-v2/model.js';
import type { ModelKVCache } from './kv-cache.js';
import type { Sampler } from './sampler.js';
import { MtpProposer, type Proposal } from './speculative/mtp-proposer.js';
import { sampleFrom, verifyGreedy, verifyRejection } from './speculative/verify.js';

/** Produces the tokens of the next trunk forward (one for plain decode, 1 … K+1 for a speculative step). */
/**
 * Throw when logits hold NaN or ±Inf (NaN weights would otherwise decode as token 0 forever).
 * @throws NumericalError naming the step
 */
export function assertFiniteLogits(logits: Float32Array, what: string): Float32Array {
  for (let i = 0; i < logits.length; i++) {
    const x = logits[i]!;
    if (x - x !== 0) throw new NumericalError(`${what}: logits are not finite (${x} at vocabulary id ${i % (logits.length || 1)}); the checkpoint may contain NaN or infinite weights`);
  }
  return logits;
}

export interface Decoder {
  /** Tokens produced by the prefill: exactly the first sampled token. */
  prefill(): number[];
  /** Tokens after the last emitted one; at most `budget`. */
  step(budget: number): number[];
  draftsProposed: number;
  draftsAccepted: number;
}

/** One token per trunk forward. */
export class PlainDecoder implements Decoder {
  readonly cache: ModelKVCache;
  draftsProposed = 0;
  draftsAccepted = 0;

  constructor(
    readonly model: MiMoModel,
    readonly sampler: Sampler,
    readonly promptIds: number[],
    /** The emitted tokens (owned by the caller, read here for penalties and the last token). */
    readonly generated: number[],
    readonly allowedVocab: number,
  ) {
    this.cache = model.newCache();
  }

  prefill(): number[] {
    const D = this.model.config.hiddenSize;
    const h = this.model.forward(this.promptIds, this.cache);
    return [this.pick(h.subarray((this.promptIds.length - 1) * D))];
  }

  step(): number[] {
    return [this.pick(this.model.forward([this.generated[this.generated.length - 1]!], this.cache))];
  }

  private pick(hidden: Float32Array): number {
    return this.sampler.sample(assertFiniteLogits(this.model.computeLogits(hidden, 1), 'decode'), { promptIds: this.promptIds, generatedIds: this.generated }, this.allowedVocab);
  }
}

/** MTP drafts + one batched trunk verify per step (spec §4.3). */
export class SpeculativeDecoder implements Decoder {
  readonly cache: ModelKVCache;
  readonly proposer: MtpProposer;
  /** Trunk hidden rows by position, kept for the window the MTP layers may still read. */
  private readonly hidden = new Map<number, Float32Array>();
  draftsProposed = 0;
  draftsAccepted = 0;
  /** The drafts (and their MTP logits) of the latest step, for inspection. */
  lastProposal: Proposal | null = null;
  private readonly verify: typeof verifyRejection;

  /**
   * @param hooks test-only: `tokenOffset` miswires the MTP token input, `verify` replaces the rejection sampler
   */
  constructor(
    readonly model: MiMoModel,
    readonly sampler: Sampler,
    readonly promptIds: number[],
    readonly generated: number[],
    readonly allowedVocab: number,
    numDraft: number,
    hooks: { tokenOffset?: number; verify?: typeof verifyRejection } = {},
  ) {
    // Rings keep window + K + 1 rows so rejected drafts (trunk: ≤ K rows, MTP layer k: ≤ k + 1 rows) can be trimmed.
    this.cache = model.newCache(numDraft + 1);
    this.proposer = new MtpProposer(model, this.cache, numDraft, hooks.tokenOffset ?? 0);
    this.verify = hooks.verify ?? verifyRejection;
  }

  private keepHidden(h: Float32Array, start: number, rows: number): void {
    const D = this.model.config.hiddenSize;
    const from = Math.max(0, rows - this.model.config.slidingWindow - this.proposer.numDraft - 2);
    for (let i = from; i < rows; i++) this.hidden.set(start + i, h.subarray(i * D, (i + 1) * D));
    const oldest = start + rows - this.model.config.slidingWindow - this.proposer.numDraft - 2;
    for (const p of this.hidden.keys()) if (p < oldest) this.hidden.delete(p);
  }

  private context(extra: readonly number[]) {
    return { promptIds: this.promptIds, generatedIds: extra.length ? [...this.generated, ...extra] : this.generated };
  }

  prefill(): number[] {
    const D = this.model.config.hiddenSize;
    const P = this.promptIds.length;
    const h = this.model.forward(this.promptIds, this.cache);
    this.keepHidden(h, 0, P);
    const logits = assertFiniteLogits(this.model.computeLogits(h.subarray((P - 1) * D), 1), 'prefill');
    return [this.sampler.sample(logits, this.context([]), this.allowedVocab)];
  }

  step(budget: number): number[] {
    const m = this.model;
    const D = m.config.hiddenSize;
    const V = m.config.vocabSize;
    const tokens = [...this.promptIds, ...this.generated];
    const n = tokens.length - 1;
    const greedy = this.sampler.params.temperature === 0;
    const rng = () => this.sampler.rng.next();
    const draftDists: ReturnType<Sampler['distribution']>[] = [];
    const proposal = this.proposer.propose(
      tokens,
      (p) => this.hidden.get(p)!,
      (logits, _k, sofar) => {
        if (greedy) return this.sampler.sample(logits, this.context(sofar), this.allowedVocab);
        const q = this.sampler.distribution(logits, this.context(sofar), this.allowedVocab);
        draftDists.push(q);
        return sampleFrom(q, rng());
      },
      Math.max(0, budget - 1),
    );
    this.lastProposal = proposal;
    const drafts = proposal.drafts;
    const K = drafts.length;
    const h = m.forward([tokens[n]!, ...drafts], this.cache);
    const logits = assertFiniteLogits(m.computeLogits(h, K + 1), 'verify');
    const row = (i: number) => logits.subarray(i * V, (i + 1) * V);
    const outcome = greedy
      ? verifyGreedy(drafts, Array.from({ length: K + 1 }, (_, i) => this.sampler.sample(row(i), this.context(drafts.slice(0, i)), this.allowedVocab)))
      : this.verify(drafts, draftDists, (i) => this.sampler.distribution(row(i), this.context(drafts.slice(0, i)), this.allowedVocab), rng);
    const a = outcome.accepted;
    this.cache.trim(K - a);
    this.keepHidden(h.subarray(0, (a + 1) * D), n, a + 1);
    this.draftsProposed += K;
    this.draftsAccepted += a;
    return [...drafts.slice(0, a), outcome.next];
  }
}
