/**
 * Decoders produce the tokens of each trunk forward for one sequence: plain decode (one token per forward) and
 * MTP self-speculative decode (K drafts, one batched verify forward, 1 … K+1 tokens). They own the sequence's KV
 * cache; the Generator owns emission (stop ids, stop strings, max tokens). Source: spec §4.3, STYLE habit 6.
 */
import { NumericalError } from '../errors.js';
import type { OutputConstraint } from '../grammar/output-constraint.js';
import type { MiMoModel } from '../model/mimo-v2/model.js';
import type { ModelKVCache } from './kv-cache.js';
import type { PrefixCache } from './prefix-cache/prefix-cache.js';
import type { Sampler } from './sampler.js';
import { MtpProposer, type Proposal } from './speculative/mtp-proposer.js';
import { sampleFrom, verifyGreedy, verifyRejection } from './speculative/verify.js';

/** The next trunk forward of a sequence: its tokens, and how many of the last rows need logits (0 = none). */
export interface StepPlan {
  tokens: number[];
  logitRows: number;
}

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

/**
 * Produces a sequence's tokens in two phases so that a scheduler can batch many sequences into one forward:
 * `plan(budget)` names the tokens of the next trunk forward (a prefill chunk, a decode token, or a verify chunk
 * of the last token and its drafts); `accept(hidden, logits)` takes that forward's hidden rows `[T, D]` and the
 * logits `[logitRows, V]` of its last logitRows rows and returns the tokens produced (none while prefill chunks
 * remain; then 1 … K+1). Token j of the result was sampled from logits row j.
 */
export abstract class Decoder {
  abstract readonly cache: ModelKVCache;
  draftsProposed = 0;
  draftsAccepted = 0;
  /** Prompt positions already run through the trunk. */
  protected prefilled = 0;
  protected pending: StepPlan | null = null;
  /** The sequence's constraint (grammar mask, logit bias), applied to each logits row before sampling. */
  constraint: OutputConstraint | null = null;
  /** Append tokens the constraint admits alone without sampling them (jump-forward; PlainDecoder only). */
  jumpForward = false;
  /** Also append xgrammar's jump-forward string, retokenised (opt-in; may change tokens; PlainDecoder only). */
  jumpForwardString = false;
  /** Tokens appended by jump-forward (each saved a sampling step; they share the next forward). */
  jumpForwardTokens = 0;
  /** The `budget` of the latest plan (most tokens the caller still wants). */
  protected budget = 1;
  /** Scratch rows for masked logits `[rows, V]` (the model's logits stay raw for log-probabilities). */
  private maskedRows = new Float32Array(0);
  /** The shared prefix cache and this request's salt; null = bypassed (`--no-prefix-cache`, `cache: false`). */
  prefix: { cache: PrefixCache; salt: string } | null = null;
  /** Prompt positions restored from the prefix cache (0 on a miss or without it). */
  cachedTokens = 0;
  /** Prompt positions run through the trunk (counted from the planned forwards). */
  prefilledTokens = 0;
  /** True when the prefix cache holds a snapshot at the end of the prompt after this request. */
  promptCached = false;
  /** Every token whose keys and values are in the trunk cache, in position order (= cache.length of them). */
  protected readonly fed: number[] = [];
  /** Trunk hidden rows by position after `model.norm`, kept for the last `hiddenKeep` positions. */
  protected readonly hidden = new Map<number, Float32Array>();
  /** Rows of `hidden` to keep (0 = none). */
  protected hiddenKeep = 0;
  /** True when the subclass keeps hidden rows itself. */
  protected keepsOwnHidden = false;
  private started = false;
  /** `n > 1`: the choices that take this decoder's prompt state when its prefill ends (it prefills for them). */
  private readonly followers = new Set<Decoder>();
  /** A follower: the decoder whose prefill it waits for (null once it took that state, or when it prefills itself). */
  private leader: Decoder | null = null;
  /** A follower's logits `[1, V]` of the prompt's last row, from its leader, until its first token is sampled. */
  private forkedLogits: Float32Array | null = null;
  /** Prompt positions after which a snapshot is taken (ascending). */
  private snapAt: number[] = [];
  private lastSnapshot = 0;

  constructor(
    readonly model: MiMoModel,
    readonly sampler: Sampler,
    readonly promptIds: number[],
    /** The emitted tokens (owned by the caller, read here for penalties and the last token). */
    readonly generated: number[],
    readonly allowedVocab: number,
    /** Most prompt tokens per prefill forward (Infinity = the whole prompt in one). */
    readonly prefillChunk: number,
  ) {}

  /** True while prompt tokens remain to be run. */
  get prefilling(): boolean {
    return this.prefilled < this.promptIds.length;
  }

  /** Prompt tokens the next plan() runs (0 once the prompt is prefilled). */
  get nextPrefillTokens(): number {
    this.begin();
    return this.prefillEnd() - this.prefilled;
  }

  /** End of the next prefill chunk: a chunk never crosses a snapshot position. */
  private prefillEnd(): number {
    let end = Math.min(this.promptIds.length, this.prefilled + this.prefillChunk);
    for (const q of this.snapAt) if (q > this.prefilled && q < end) end = q;
    return end;
  }

  /**
   * On the first plan: restore the longest cached prefix (at most P − 1 positions, so the last prompt token's logits
   * are computed) and choose the snapshot positions of the prompt.
   */
  private begin(): void {
    if (this.started) return;
    this.started = true;
    const pc = this.prefix;
    if (!pc) return;
    this.hiddenKeep = Math.max(this.hiddenKeep, pc.cache.hiddenRows);
    const P = this.promptIds.length;
    const hit = pc.cache.restore(pc.salt, this.promptIds, P - 1, this.cache);
    if (hit) {
      this.prefilled = hit.p;
      this.cachedTokens = hit.p;
      this.lastSnapshot = hit.p;
      for (let i = 0; i < hit.p; i++) this.fed.push(this.promptIds[i]!);
      for (const [q, h] of hit.hidden) this.hidden.set(q, h);
    }
    this.snapAt = pc.cache.snapshotPositions(this.promptIds).filter((q) => q > this.prefilled);
  }

  /**
   * `n > 1` choices: wait for `leader`'s prefill of the same prompt instead of prefilling it again, then take its
   * state (full-attention pages by reference, sliding-window rings copied, its last logits row) and sample the first
   * token with this decoder's own sampler. Tokens are those of prefilling alone: the prefill is deterministic and
   * bitwise the same in any batch. Call before either decoder is planned.
   * @throws Error when this decoder already started, or the two differ in prompt, kind or prefix-cache setting
   */
  follow(leader: Decoder): void {
    if (this.started || leader.started || this.leader || leader.leader) throw new Error('Decoder.follow: both decoders must be new, and the leader no follower');
    const samePrompt = leader.promptIds.length === this.promptIds.length && leader.promptIds.every((t, i) => t === this.promptIds[i]);
    if (!samePrompt || leader.constructor !== this.constructor || leader.prefix?.cache !== this.prefix?.cache || leader.prefix?.salt !== this.prefix?.salt) throw new Error('Decoder.follow: the choices differ in prompt, decoder kind or prefix cache');
    this.leader = leader;
    leader.followers.add(this);
  }

  /** True while this choice waits for its leader's prefill (it is not to be planned). */
  get waiting(): boolean {
    return this.leader !== null && this.forkedLogits === null;
  }

  /** True when this choice took its leader's prompt state and its first token is to be sampled (`takeFirst`). */
  get forkReady(): boolean {
    return this.forkedLogits !== null;
  }

  /** The leader's prefill ended: every follower takes the state after the prompt and the last row's logits. */
  private handOff(logits: Float32Array): void {
    for (const f of this.followers) f.adopt(this, logits);
    this.followers.clear();
  }

  private adopt(leader: Decoder, logits: Float32Array): void {
    this.cache.adopt(leader.cache);
    this.started = true;
    this.prefilled = leader.prefilled;
    this.cachedTokens = leader.cachedTokens;
    this.promptCached = leader.promptCached;
    this.lastSnapshot = leader.lastSnapshot;
    for (const t of leader.fed) this.fed.push(t);
    if (this.prefix) this.hiddenKeep = Math.max(this.hiddenKeep, this.prefix.cache.hiddenRows);
    for (const [q, h] of leader.hidden) this.hidden.set(q, h);
    this.forkedLogits = logits;
    this.leader = null;
  }

  /**
   * A follower's first token(s) from the leader's last logits row (no forward); `budget` as for plan().
   * @throws Error when the state was not taken yet; NumericalError on non-finite logits
   */
  takeFirst(budget: number): { produced: number[]; logits: Float32Array } {
    const logits = this.forkedLogits;
    if (!logits) throw new Error('Decoder.takeFirst: no prompt state taken from a leader');
    this.forkedLogits = null;
    this.budget = budget; // jump-forward appends as many forced tokens as the leader's first pick would
    return { produced: this.acceptPrefill(new Float32Array(0), this.prefilled, logits), logits };
  }

  /** Keep hidden rows `[rows, D]` of positions start … start+rows−1, dropping those older than `hiddenKeep`. */
  protected keepHidden(h: Float32Array, start: number, rows: number): void {
    if (this.hiddenKeep === 0) return;
    const D = this.model.config.hiddenSize;
    const from = Math.max(0, rows - this.hiddenKeep);
    for (let i = from; i < rows; i++) this.hidden.set(start + i, h.slice(i * D, (i + 1) * D));
    const oldest = start + rows - this.hiddenKeep;
    for (const p of this.hidden.keys()) if (p < oldest) this.hidden.delete(p);
  }

  /** Put a snapshot of the trunk cache (after every fed token) into the prefix cache. */
  private snapshot(): boolean {
    const pc = this.prefix;
    if (!pc || this.fed.length !== this.cache.length) return false;
    this.lastSnapshot = this.fed.length;
    return pc.cache.insert(pc.salt, this.fed, this.cache, (q) => this.hidden.get(q));
  }

  private released = false;

  /**
   * The sequence ended (finished, aborted or failed): let go of its shared pages, so the prefix cache may evict
   * what they pinned. Idempotent; the decoder is not used afterwards.
   */
  release(): void {
    if (this.released) return;
    this.released = true;
    // Followers still waiting prefill on their own; a waiting follower leaves its leader.
    for (const f of this.followers) f.leader = null;
    this.followers.clear();
    this.leader?.followers.delete(this);
    this.leader = null;
    this.forkedLogits = null;
    this.cache.release();
    this.prefix?.cache.sequenceEnded();
  }

  /** End of generation: snapshot the state after every fed token (stop or length). */
  finishGeneration(): void {
    if (this.prefix && this.started && !this.prefilling && this.fed.length > this.lastSnapshot) this.snapshot();
  }

  /** The next forward; `budget` = most tokens the caller still wants (≥ 1). */
  plan(budget: number): StepPlan {
    this.begin();
    this.budget = budget;
    this.pending = this.prefilling ? this.planPrefill() : this.planDecode(budget);
    return this.pending;
  }

  /** Tokens produced by the planned forward. @throws NumericalError on non-finite logits */
  accept(hidden: Float32Array, logits: Float32Array): number[] {
    const plan = this.pending;
    if (!plan) throw new Error('Decoder.accept without a plan');
    this.pending = null;
    const D = this.model.config.hiddenSize;
    const start = this.fed.length;
    for (const t of plan.tokens) this.fed.push(t); // not push(...): a whole-prompt chunk can exceed the argument limit
    if (!this.keepsOwnHidden) this.keepHidden(hidden, start, hidden.length / D);
    if (this.prefilled < this.promptIds.length) {
      const pStart = this.prefilled;
      this.prefilled += plan.tokens.length;
      this.prefilledTokens += plan.tokens.length;
      // Followers get the raw last row before this choice samples from it.
      const forFollowers = this.followers.size > 0 && !this.prefilling ? logits.slice() : null;
      const out = this.acceptPrefill(hidden, pStart, logits);
      if (this.snapAt.includes(this.prefilled)) {
        const held = this.snapshot();
        if (this.prefilled === this.promptIds.length) this.promptCached = held;
      }
      if (forFollowers) this.handOff(forFollowers);
      return out;
    }
    const out = this.acceptDecode(hidden, logits);
    this.fed.length = this.cache.length;
    const N = this.prefix?.cache.checkpointEvery ?? 0;
    if (N > 0 && this.fed.length >= this.lastSnapshot + N) this.snapshot();
    return out;
  }

  /** Run the whole prefill alone; returns the first token. */
  prefill(): number[] {
    let out: number[] = [];
    while (this.prefilling) out = this.runAlone(1);
    return out;
  }

  /** One decode step alone; at most `budget` tokens. */
  step(budget: number): number[] {
    return this.runAlone(budget);
  }

  private runAlone(budget: number): number[] {
    const plan = this.plan(budget);
    const [out] = this.model.forwardSegments([{ tokens: plan.tokens, cache: this.cache }]);
    const D = this.model.config.hiddenSize;
    const h = out!.hidden;
    const logits = plan.logitRows > 0 ? this.model.computeLogits(h.subarray(h.length - plan.logitRows * D), plan.logitRows) : new Float32Array(0);
    return this.accept(h, logits);
  }

  private planPrefill(): StepPlan {
    const P = this.promptIds.length;
    const end = this.prefillEnd();
    return { tokens: this.promptIds.slice(this.prefilled, end), logitRows: end === P ? 1 : 0 };
  }

  protected abstract planDecode(budget: number): StepPlan;
  protected abstract acceptDecode(hidden: Float32Array, logits: Float32Array): number[];
  /** A prefill chunk at positions start…; logits `[1, V]` of the prompt's last row when it was the last chunk. */
  protected abstract acceptPrefill(hidden: Float32Array, start: number, logits: Float32Array): number[];

  /**
   * Row `i` of `logits` `[rows, V]` masked by the constraint in its current state (a copy), or the row itself.
   */
  protected constrainedRow(logits: Float32Array, i: number): Float32Array {
    const V = this.model.config.vocabSize;
    const row = logits.subarray(i * V, (i + 1) * V);
    if (!this.constraint) return row;
    if (this.maskedRows.length < (i + 1) * V) {
      const grown = new Float32Array(Math.max((i + 1) * V, 2 * this.maskedRows.length));
      grown.set(this.maskedRows);
      this.maskedRows = grown;
    }
    const out = this.maskedRows.subarray(i * V, (i + 1) * V);
    out.set(row);
    this.constraint.apply(out);
    return out;
  }

  /** Row i as masked by the latest constrainedRow(…, i). */
  protected maskedRow(i: number): Float32Array {
    const V = this.model.config.vocabSize;
    return this.maskedRows.subarray(i * V, (i + 1) * V);
  }

  protected context(extra: readonly number[]) {
    return { promptIds: this.promptIds, generatedIds: extra.length ? [...this.generated, ...extra] : this.generated };
  }
}

/** One token per trunk forward. */
export class PlainDecoder extends Decoder {
  readonly cache: ModelKVCache;

  constructor(model: MiMoModel, sampler: Sampler, promptIds: number[], generated: number[], allowedVocab: number, prefillChunk = Infinity) {
    super(model, sampler, promptIds, generated, allowedVocab, prefillChunk);
    this.cache = model.newCache();
  }

  /** Generated tokens already run through the trunk (the rest are fed by the next decode forward). */
  private fedGenerated = 0;

  protected planDecode(): StepPlan {
    // Usually the one token sampled last; after jump-forward also the tokens appended with it.
    const tokens = this.generated.slice(Math.min(this.fedGenerated, this.generated.length - 1));
    this.fedGenerated = this.generated.length;
    return { tokens, logitRows: 1 };
  }

  protected acceptPrefill(_hidden: Float32Array, _start: number, logits: Float32Array): number[] {
    return this.prefilling ? [] : this.pick(logits, 'prefill');
  }

  protected acceptDecode(_hidden: Float32Array, logits: Float32Array): number[] {
    return this.pick(logits, 'decode');
  }

  /** The sampled token, then (jump-forward) each next token the constraint admits alone, within the budget. */
  private pick(logits: Float32Array, what: string): number[] {
    const row = this.constrainedRow(assertFiniteLogits(logits, what), 0);
    const token = this.sampler.sample(row, this.context([]), this.allowedVocab);
    const c = this.constraint;
    if (!c) return [token];
    c.accept(token);
    const out = [token];
    while (this.jumpForward && out.length < this.budget) {
      const only = c.onlyAdmissible();
      if (only >= 0) {
        c.accept(only);
        out.push(only);
        this.jumpForwardTokens++;
        continue;
      }
      const more = this.jumpForwardString ? c.jumpForwardString(this.budget - out.length) : [];
      if (more.length === 0) break;
      out.push(...more);
      this.jumpForwardTokens += more.length;
    }
    return out;
  }
}

/** MTP drafts + one batched trunk verify per step (spec §4.3). */
export class SpeculativeDecoder extends Decoder {
  readonly cache: ModelKVCache;
  readonly proposer: MtpProposer;
  /** The drafts (and their MTP logits) of the latest step, for inspection. */
  lastProposal: Proposal | null = null;
  private readonly verify: typeof verifyRejection;
  private draftDists: ReturnType<Sampler['distribution']>[] = [];
  /** Drafts the constraint accepted while masking the verify rows. */
  private replayed = 0;

  /**
   * @param hooks test-only: `tokenOffset` miswires the MTP token input, `verify` replaces the rejection sampler
   */
  constructor(
    model: MiMoModel,
    sampler: Sampler,
    promptIds: number[],
    generated: number[],
    allowedVocab: number,
    numDraft: number,
    hooks: { tokenOffset?: number; verify?: typeof verifyRejection } = {},
    prefillChunk = Infinity,
  ) {
    super(model, sampler, promptIds, generated, allowedVocab, prefillChunk);
    // Rings keep window + K + 1 rows so rejected drafts (trunk: ≤ K rows, MTP layer k: ≤ k + 1 rows) can be trimmed.
    this.cache = model.newCache(numDraft + 1);
    this.proposer = new MtpProposer(model, this.cache, numDraft, hooks.tokenOffset ?? 0);
    this.verify = hooks.verify ?? verifyRejection;
    // The window the MTP layers may still read.
    this.hiddenKeep = model.config.slidingWindow + numDraft + 2;
    this.keepsOwnHidden = true;
  }

  protected acceptPrefill(h: Float32Array, start: number, logits: Float32Array): number[] {
    const D = this.model.config.hiddenSize;
    this.keepHidden(h, start, h.length / D);
    if (this.prefilling) return [];
    const token = this.sampler.sample(this.constrainedRow(assertFiniteLogits(logits, 'prefill'), 0), this.context([]), this.allowedVocab);
    this.constraint?.accept(token);
    return [token];
  }

  protected planDecode(budget: number): StepPlan {
    const tokens = [...this.promptIds, ...this.generated];
    const n = tokens.length - 1;
    const greedy = this.sampler.params.temperature === 0;
    const rng = () => this.sampler.rng.next();
    const draftDists: ReturnType<Sampler['distribution']>[] = [];
    const proposal = this.proposer.propose(
      tokens,
      (p) => this.hidden.get(p)!,
      (raw, _k, sofar) => {
        // Under a constraint each draft is drawn from the masked MTP logits and advances the matcher; all of
        // them are rolled back below, and verify replays them row by row.
        const logits = this.constrainedRow(raw, 0);
        let d: number;
        if (greedy) d = this.sampler.sample(logits, this.context(sofar), this.allowedVocab);
        else {
          const q = this.sampler.distribution(logits, this.context(sofar), this.allowedVocab);
          draftDists.push(q);
          d = sampleFrom(q, rng());
        }
        this.constraint?.accept(d);
        return d;
      },
      Math.max(0, budget - 1),
    );
    this.constraint?.rollBack(proposal.drafts.length);
    this.lastProposal = proposal;
    this.draftDists = draftDists;
    return { tokens: [tokens[n]!, ...proposal.drafts], logitRows: proposal.drafts.length + 1 };
  }

  protected acceptDecode(h: Float32Array, allLogits: Float32Array): number[] {
    const D = this.model.config.hiddenSize;
    const V = this.model.config.vocabSize;
    const drafts = this.lastProposal!.drafts;
    const K = drafts.length;
    const n = this.promptIds.length + this.generated.length - 1;
    const logits = assertFiniteLogits(allLogits, 'verify');
    let row = (i: number) => logits.subarray(i * V, (i + 1) * V);
    const c = this.constraint;
    if (c) {
      // Row i is masked in the state after drafts 0…i−1; a draft the grammar refuses ends the replay (verify
      // rejects it there: its masked probability is 0). Rows past it are never used.
      let valid = 0;
      for (let i = 0; i <= K; i++) {
        this.constrainedRow(logits, i);
        if (i === K || !c.allows(drafts[i]!)) break;
        c.accept(drafts[i]!);
        valid++;
      }
      this.replayed = valid;
      row = (i: number) => this.maskedRow(i);
    }
    const greedy = this.sampler.params.temperature === 0;
    const rng = () => this.sampler.rng.next();
    const outcome = greedy
      ? verifyGreedy(drafts, Array.from({ length: K + 1 }, (_, i) => this.sampler.sample(row(i), this.context(drafts.slice(0, i)), this.allowedVocab)))
      : this.verify(drafts, this.draftDists, (i) => this.sampler.distribution(row(i), this.context(drafts.slice(0, i)), this.allowedVocab), rng);
    const a = outcome.accepted;
    if (c) {
      c.rollBack(this.replayed - a);
      c.accept(outcome.next);
    }
    this.cache.trim(K - a);
    this.keepHidden(h.subarray(0, (a + 1) * D), n, a + 1);
    this.draftsProposed += K;
    this.draftsAccepted += a;
    return [...drafts.slice(0, a), outcome.next];
  }
}
