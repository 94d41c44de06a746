/**
 * One sequence's constraint on its next token, applied as a mask on the logits row before sampling: `logit_bias`
 * (added first), then either the reasoning phase (free text while the output is inside `<think>`, except that it
 * cannot end there, and after `reasoningBudget` reasoning tokens only `</think>` is allowed, as vLLM's
 * reasoning-aware structured output starts the grammar after the reasoning) or the grammar phase (xgrammar's
 * token bitmask: tokens whose bytes keep the output a prefix of the language; stop ids where it may end).
 * `accept(token)` advances the state; `rollBack(n)` undoes the last n accepted tokens (rejected MTP drafts).
 * Source: xgrammar GrammarMatcher (fill_next_token_bitmask, accept_token, rollback); vLLM structured outputs.
 */
import type { CompiledGrammar } from './runtime.js';
import type { MatcherHandle, XGrammarBinding } from './xgrammar-module.js';

/** Everything a sequence's constraint needs, prepared before the sequence starts (grammar compiled). */
export interface ConstraintPlan {
  grammar?: CompiledGrammar;
  /** The output starts inside an open `<think>`: the grammar applies after `thinkEndId`. */
  startsInThinking: boolean;
  /** Id of `</think>` (needed when startsInThinking and a grammar is given). */
  thinkEndId?: number;
  /** Reasoning tokens before `</think>` is forced (absent: the sequence's default, see OutputConstraint). */
  reasoningBudget?: number;
  /** Added to the logits of these ids before masking, in logit units (OpenAI: -100 … 100). */
  logitBias?: ReadonlyMap<number, number>;
  /** Ids that end generation: never allowed inside the reasoning of a constrained request. */
  stopIds: readonly number[];
  /** Tokeniser for xgrammar's jump-forward string (opt-in `jumpForwardString`); absent = off. */
  encode?: (text: string) => number[];
}

/**
 * Per-token history entry, for rollBack: 0 reasoning token, 1 the `</think>` that opened the grammar, 2 grammar
 * token, 3 a token after the grammar terminated (an MTP draft past a stop token; never emitted).
 */
type Entry = 0 | 1 | 2 | 3;

export class OutputConstraint {
  private readonly matcher: MatcherHandle | null;
  private readonly binding: XGrammarBinding | null;
  /** Bitmask of the current state `[ceil(V / 32)]` int32, bit j of word i = id 32 i + j allowed. */
  private readonly bits: Int32Array;
  private inReasoning: boolean;
  private reasoningTokens = 0;
  private readonly history: Entry[] = [];
  /** UTF-8 state of the constrained output (utf8-mask.ts), and the state before each grammar token accepted. */
  private utf8State = 0;
  private readonly utf8History: number[] = [];
  /** After `apply`: the one admissible id, or -1 when several are. */
  private single = -1;
  /** `bits` holds the mask of the current state (cleared by accept / rollBack). */
  private bitsFresh = false;
  /** Reasoning tokens before `</think>` is forced. */
  readonly reasoningBudget: number;
  /** Tokens that were the only admissible one when chosen (jump-forward candidates). */
  forcedTokens = 0;

  constructor(
    readonly plan: ConstraintPlan,
    /** Logits width V. */
    readonly vocabSize: number,
    /** Budget when the plan gives none (the Sequence passes half its maxTokens). */
    defaultReasoningBudget = Infinity,
  ) {
    this.reasoningBudget = plan.reasoningBudget ?? defaultReasoningBudget;
    this.bits = new Int32Array(Math.ceil(vocabSize / 32));
    const m = plan.grammar?.newMatcher();
    this.matcher = m?.handle ?? null;
    this.binding = m?.binding ?? null;
    this.inReasoning = plan.grammar !== undefined && plan.startsInThinking;
    if (this.inReasoning && plan.thinkEndId === undefined) throw new Error('OutputConstraint: startsInThinking needs thinkEndId');
  }

  /** True while the grammar is not yet in force (the reasoning before `</think>`). */
  get reasoning(): boolean {
    return this.inReasoning;
  }

  /**
   * Mask one logits row in place for the current state: bias added, disallowed ids set to -Infinity.
   * @param logits `[V]` float32
   */
  apply(logits: Float32Array): void {
    const bias = this.plan.logitBias;
    if (bias) for (const [id, b] of bias) if (id < logits.length) logits[id]! += b;
    this.single = -1;
    if (!this.matcher) return;
    if (this.inReasoning) {
      if (this.reasoningTokens >= this.reasoningBudget) {
        const keep = this.plan.thinkEndId!;
        const x = logits[keep]!;
        logits.fill(-Infinity);
        logits[keep] = Number.isFinite(x) ? x : 0;
        this.single = keep;
        return;
      }
      for (const id of this.plan.stopIds) if (id < logits.length) logits[id] = -Infinity;
      return;
    }
    if (this.matcher.IsTerminated()) {
      // Only an MTP draft after a stop token gets here; it is never emitted. Allow the stop ids alone.
      const keep = this.plan.stopIds.map((id) => logits[id]!);
      logits.fill(-Infinity);
      this.plan.stopIds.forEach((id, i) => (logits[id] = Number.isFinite(keep[i]!) ? keep[i]! : 0));
      return;
    }
    this.fillBits();
    this.single = applyBitmask(this.bits, logits);
  }

  /** The only admissible id after `apply`, or -1 when several are. */
  get onlyAllowed(): number {
    return this.single;
  }

  /**
   * Advance by the chosen token.
   * @throws Error when the grammar rejects it (a masked token was chosen: a bug, not user input)
   */
  accept(token: number): void {
    if (token === this.single) this.forcedTokens++;
    this.single = -1;
    if (!this.matcher) return;
    if (this.inReasoning) {
      this.reasoningTokens++;
      if (token === this.plan.thinkEndId) {
        this.inReasoning = false;
        this.history.push(1);
      } else this.history.push(0);
      return;
    }
    if (this.matcher.IsTerminated()) {
      this.history.push(3);
      return;
    }
    this.bitsFresh = false;
    if (!this.matcher.AcceptToken(token, false)) throw new Error(`grammar constraint: token ${token} is not allowed here (the mask should have excluded it)`);
    this.history.push(2);
    const utf8 = this.plan.grammar!.utf8;
    if (utf8) {
      this.utf8History.push(this.utf8State);
      if (token < utf8.vocabSize) this.utf8State = utf8.next[this.utf8State * utf8.vocabSize + token]!;
    }
  }

  /** Whether the grammar admits `token` now (without advancing). */
  allows(token: number): boolean {
    if (!this.matcher) return true;
    if (this.inReasoning) return this.reasoningTokens >= this.reasoningBudget ? token === this.plan.thinkEndId : !this.plan.stopIds.includes(token);
    if (this.matcher.IsTerminated()) return false;
    this.fillBits();
    return token < this.vocabSize && ((this.bits[token >>> 5]! >>> (token & 31)) & 1) === 1;
  }

  /** Undo the last `n` accepted tokens. */
  rollBack(n: number): void {
    if (!this.matcher || n === 0) return;
    let grammarTokens = 0;
    for (let i = 0; i < n; i++) {
      const e = this.history.pop();
      if (e === undefined) throw new Error('grammar constraint: rollBack past the first token');
      if (e === 2) {
        grammarTokens++;
        if (this.plan.grammar!.utf8) this.utf8State = this.utf8History.pop()!;
      }
      else if (e === 0 || e === 1) {
        this.reasoningTokens--;
        if (e === 1) this.inReasoning = true;
      }
    }
    if (grammarTokens > 0) this.matcher.Rollback(grammarTokens);
    this.bitsFresh = false;
  }

  /** Free the matcher (the sequence is done). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.matcher?.delete();
  }
  private disposed = false;

  /**
   * The one token the constraint admits now, or -1 when it admits several (or has no grammar): the next token
   * of jump-forward decoding, appended without sampling.
   */
  onlyAdmissible(): number {
    if (!this.matcher) return -1;
    if (this.inReasoning) return (this.single = this.reasoningTokens >= this.reasoningBudget ? this.plan.thinkEndId! : -1);
    if (this.matcher.IsTerminated()) return -1; // a stop token was accepted: the sequence ends
    this.fillBits();
    let found = -1;
    for (let w = 0; w < this.bits.length; w++) {
      const word = this.bits[w]!;
      if (word === 0) continue;
      if (found >= 0 || (word & (word - 1)) !== 0) return -1;
      found = (w << 5) + (31 - Math.clz32(word));
    }
    this.single = found < this.vocabSize ? found : -1;
    return this.single;
  }

  /**
   * Opt-in multi-token jump-forward: the longest text the grammar forces from here (xgrammar's
   * FindJumpForwardString), tokenised by `plan.encode` and accepted token by token (at most `max`, stopping at the
   * first token the grammar refuses). The retokenised ids may differ from what sampling token by token would give.
   * @returns the ids accepted (already advanced past)
   */
  jumpForwardString(max: number): number[] {
    if (!this.matcher || !this.plan.encode || this.inReasoning || max <= 0 || this.matcher.IsTerminated()) return [];
    const text = this.matcher.FindJumpForwardString();
    if (!text) return [];
    const out: number[] = [];
    for (const id of this.plan.encode(text)) {
      if (out.length >= max || !this.allows(id)) break;
      this.accept(id);
      out.push(id);
    }
    return out;
  }

  private fillBits(): void {
    if (this.bitsFresh) return;
    this.bitsFresh = true;
    const v = this.matcher!.GetNextTokenBitmask(this.vocabSize);
    try {
      this.bits.set(this.binding!.vecIntToView(v));
    } finally {
      v.delete();
    }
    const allow = this.plan.grammar!.allowMask;
    if (allow) for (let w = 0; w < this.bits.length; w++) this.bits[w]! &= allow[w]!;
    const utf8 = this.plan.grammar!.utf8?.valid[this.utf8State];
    if (utf8) {
      let any = 0;
      for (let w = 0; w < this.bits.length; w++) any |= this.bits[w]! & utf8[w]!;
      // A grammar that admits only ill-formed bytes here (e.g. a regex over surrogates) keeps xgrammar's mask, so
      // decoding always has a token to take.
      if (any !== 0) for (let w = 0; w < this.bits.length; w++) this.bits[w]! &= utf8[w]!;
    }
  }
}

/**
 * Set logits of ids whose bit is 0 to -Infinity.
 * @param bits `[ceil(V / 32)]` int32 bitmask; @param logits `[V]` float32, modified
 * @returns the one allowed id when exactly one is, else -1
 */
export function applyBitmask(bits: Int32Array, logits: Float32Array): number {
  const V = logits.length;
  let allowed = 0;
  let last = -1;
  for (let w = 0; w < bits.length; w++) {
    const word = bits[w]!;
    const base = w << 5;
    if (word === -1 && base + 32 <= V) {
      allowed += 32;
      last = base;
      continue;
    }
    const end = Math.min(32, V - base);
    for (let j = 0; j < end; j++) {
      if ((word >>> j) & 1) {
        allowed++;
        last = base + j;
      } else logits[base + j] = -Infinity;
    }
  }
  return allowed === 1 ? last : -1;
}
