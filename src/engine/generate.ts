/**
 * Token generation for one sequence: prefill of the whole prompt in one forward (or in chunks), then decode through
 * the KV cache — one token per trunk forward, or with `mtp: K` self-speculative steps (MTP drafts K tokens, one
 * batched trunk forward verifies them). Streaming (async iterator of chunks) and one-shot. The request logic lives
 * in `Sequence`; the continuous-batching scheduler drives the same class for many sequences at once.
 */
import { prepareConstraint, runtimeFor, type PreparedConstraint } from '../grammar/prepare.js';
import { DEFAULT_COMPILE_TIMEOUT_MS, type GrammarRuntime } from '../grammar/runtime.js';
import type { MiMoModel } from '../model/mimo-v2/model.js';
import type { MiMoTokenizer } from '../tokenizer/tokenizer.js';
import { runStep } from './step.js';
import type { PrefixCache } from './prefix-cache/prefix-cache.js';
import { Sequence, type GenerateOptions, type GenerationResult, type StreamChunk } from './sequence.js';

export type { FinishReason, GenerateOptions, GenerationResult, GenerationStats, StreamChunk } from './sequence.js';
export { peakRssBytes } from './sequence.js';

/** Generates tokens from a model (and, when given, text through its tokenizer). */
export class Generator {
  /**
   * @param prefillChunk most prompt tokens per prefill forward (default: the whole prompt in one forward)
   * @param defaultMaxTokens tokens to generate when a request gives no maxTokens, cut to the context left
   */
  constructor(
    readonly model: MiMoModel,
    readonly tokenizer: MiMoTokenizer | null,
    readonly prefillChunk = Infinity,
    readonly defaultMaxTokens = 256,
    /** Prefix cache shared by every sequence of this generator (null = none). */
    public prefixCache: PrefixCache | null = null,
  ) {}

  /** Default stop ids: config.json eos ids plus the tokenizer's `<|im_end|>` / `<|endoftext|>`. */
  defaultStopTokenIds(): number[] {
    const ids = new Set(this.model.config.eosTokenIds);
    for (const id of this.tokenizer?.stopTokenIds() ?? []) ids.add(id);
    return [...ids];
  }

  private grammarRuntime: GrammarRuntime | null | undefined;

  /** Compile time limit of each new grammar, ms (the engine's `grammarCompileTimeoutMs`). */
  grammarCompileTimeoutMs = DEFAULT_COMPILE_TIMEOUT_MS;

  /** This model's grammar engine (xgrammar), made on first use; null without a tokenizer. */
  grammar(): GrammarRuntime | null {
    if (this.grammarRuntime === undefined) this.grammarRuntime = runtimeFor(this.tokenizer, this.model.config.vocabSize, this.defaultStopTokenIds());
    if (this.grammarRuntime) this.grammarRuntime.compileTimeoutMs = this.grammarCompileTimeoutMs;
    return this.grammarRuntime;
  }

  /** Stop the grammar engine's compile worker, if one was started. */
  closeGrammar(): void {
    this.grammarRuntime?.close();
  }

  /**
   * Compile the constraint options (responseFormat, grammar, logitBias, reasoningBudget) of a request into
   * `constraint`, so that `newSequence` (and the scheduler) can start it synchronously.
   * @returns the options with `constraint` set (unchanged when they ask for no constraint), and what was compiled
   * @throws RequestError naming the option, or xgrammar's reason when the grammar does not compile
   */
  async prepare(promptIds: readonly number[], opts: GenerateOptions): Promise<{ opts: GenerateOptions; prepared?: PreparedConstraint }> {
    if (opts.constraint) return { opts };
    const needs = opts.grammar !== undefined || opts.logitBias !== undefined || (opts.responseFormat !== undefined && opts.responseFormat.type !== 'text');
    if (!needs) return { opts };
    const prepared = await prepareConstraint(this.grammar(), this.tokenizer, promptIds, opts, this.defaultStopTokenIds(), this.model.config.vocabSize);
    return prepared ? { opts: { ...opts, constraint: prepared.plan }, prepared } : { opts };
  }

  /** A validated request state for this model (used by the scheduler too). @throws RequestError */
  newSequence(promptIds: number[], opts: GenerateOptions = {}): Sequence {
    return new Sequence(this.model, this.tokenizer, promptIds, opts, { prefillChunk: this.prefillChunk, defaultStopTokenIds: this.defaultStopTokenIds(), defaultMaxTokens: this.defaultMaxTokens, prefixCache: this.prefixCache });
  }

  /**
   * Stream a continuation of `promptIds`.
   * @throws RequestError for invalid options (before any compute); ShapeError for token ids outside the vocabulary
   */
  async *stream(promptIds: number[], opts: GenerateOptions = {}): AsyncGenerator<StreamChunk> {
    if (opts !== null && typeof opts === 'object') opts = (await this.prepare(promptIds, opts)).opts;
    const seq = this.newSequence(promptIds, opts);
    try {
      for (;;) {
        for (const chunk of runStep(this.model, [seq])[0]!) {
          yield chunk;
          if (chunk.finishReason) return;
        }
        if (opts.signal?.aborted) {
          yield seq.abort();
          return;
        }
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      seq.release(); // also when the caller stops iterating early or a step throws
    }
  }

  /** Generate to completion; same options and errors as {@link stream}. */
  async generate(promptIds: number[], opts: GenerateOptions = {}): Promise<GenerationResult> {
    const tokenIds: number[] = [];
    let text = '';
    for await (const chunk of this.stream(promptIds, opts)) {
      if (chunk.tokenId !== null) tokenIds.push(chunk.tokenId);
      text += chunk.text;
      if (chunk.finishReason) return { tokenIds, text, finishReason: chunk.finishReason, stats: chunk.stats! };
    }
    throw new Error('unreachable: stream ended without a final chunk');
  }
}
