/**
 * One generation request as a state machine that a single-sequence loop (Generator) or the continuous-batching
 * scheduler drives: `plan()` → the tokens of its next trunk forward, `accept(hidden, logits)` → the chunks it
 * emits. It owns the sequence's decoder (and KV cache), sampler, detokenizer, stop matching, max tokens, stats,
 * and optional per-token log-probabilities and router selections. Source: STYLE.md habits 5–6.
 */
import { RequestError } from '../errors.js';
import { OutputConstraint, type ConstraintPlan } from '../grammar/output-constraint.js';
import type { ConstraintOptions } from '../grammar/prepare.js';
import { sliceExperts, type MiMoModel } from '../model/mimo-v2/model.js';
import { IncrementalDetokenizer } from '../tokenizer/incremental-detokenizer.js';
import type { MiMoTokenizer } from '../tokenizer/tokenizer.js';
import { PlainDecoder, SpeculativeDecoder, type Decoder, type StepPlan } from './decoders.js';
import { tokenLogprob, type TokenLogprob } from './logprobs.js';
import { resolveSamplingParams, Sampler, type SamplingParams } from './sampler.js';
import { StopMatcher, validateStopStrings } from './stop.js';
import { plural } from '../util/plural.js';
import type { PrefixCache } from './prefix-cache/prefix-cache.js';

export interface GenerateOptions extends Partial<SamplingParams>, ConstraintOptions {
  /** Most tokens to generate (default 256). */
  maxTokens?: number;
  /** Stop strings: generation ends before the first occurrence, which is not returned. */
  stop?: string[];
  /** Token ids that end generation (not returned); default: config eos ids plus the tokenizer's stop tokens. */
  stopTokenIds?: number[];
  /** MTP drafts per step for self-speculative decoding: 0 = off (default), up to the checkpoint's MTP layers. */
  mtp?: number;
  /** Abort generation between tokens. */
  signal?: AbortSignal;
  /** Return each token's log-probability and this many alternatives (0 … 20); absent = none. */
  logprobs?: number;
  /** Return, for each token, the experts every MoE layer chose for the row that produced it. */
  recordExperts?: boolean;
  /**
   * Where the grammar admits exactly one token, append it without sampling and feed it with the next forward
   * (same tokens by construction; default true; off with logprobs, recordExperts or mtp).
   */
  jumpForward?: boolean;
  /**
   * Opt-in: also append xgrammar's jump-forward string (the longest text the grammar forces), retokenised with the
   * model's tokenizer. Saves forwards on long literal stretches but may give other tokens (and so other text later)
   * than token-by-token decoding. Default false; needs jumpForward.
   */
  jumpForwardString?: boolean;
  /**
   * The prepared constraint (grammar compiled, logit bias checked): what `Generator.prepare` makes from
   * responseFormat / grammar / logitBias / reasoningBudget. Low level; the scheduler takes only prepared options.
   */
  constraint?: ConstraintPlan;
  /** Use the engine's prefix cache (default true; false bypasses it: no lookup, nothing stored). */
  cache?: boolean;
  /** Prefix-cache isolation: entries are shared only between requests with the same salt (default ''). */
  cacheSalt?: string;
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface GenerationStats {
  promptTokens: number;
  generatedTokens: number;
  /** Time to first token: prefill forward + first sample, seconds. */
  ttftSeconds: number;
  /** Prompt tokens / prefill seconds. */
  prefillTokensPerSecond: number;
  /** Seconds spent after the first token. */
  decodeSeconds: number;
  /** Tokens after the first / decodeSeconds (0 when fewer than 2 tokens). */
  decodeTokensPerSecond: number;
  /** Peak resident set size of the process, bytes. */
  peakRssBytes: number;
  /** Trunk forwards after the prefill (decode or verify steps). */
  decodeSteps: number;
  /** MTP drafts proposed and accepted (0 without MTP). */
  draftsProposed: number;
  draftsAccepted: number;
  /** Mean tokens per trunk forward after the first token (1 without MTP). */
  acceptanceLength: number;
  /** Tokens appended by jump-forward (the grammar admitted only them): sampling steps saved. */
  jumpForwardTokens?: number;
  /** Tokens the constraint admitted alone (jump-forward or not; 0 without a grammar). */
  forcedTokens?: number;
  /** Prompt tokens restored from the prefix cache (not computed). */
  cachedTokens?: number;
  /** Prompt positions run through the trunk (promptTokens − cachedTokens). */
  prefilledTokens?: number;
  /** True when the prompt's state was added to (or already held in) the prefix cache. */
  promptCached?: boolean;
}

/** One streamed piece: a generated token with the text it completes, or the final chunk (tokenId null). */
export interface StreamChunk {
  tokenId: number | null;
  text: string;
  finishReason?: FinishReason;
  stats?: GenerationStats;
  /** With `logprobs`: the token's log-probability and alternatives. */
  logprob?: TokenLogprob;
  /** Final chunk: the stop string that ended generation, when one did. */
  stopString?: string;
  /** With `recordExperts`: expert ids `[numMoeLayers, K]` int32 chosen for the row whose logits gave this token. */
  experts?: Int32Array;
}

export interface GenerationResult {
  tokenIds: number[];
  text: string;
  finishReason: FinishReason;
  stats: GenerationStats;
}

/** Peak RSS of this process in bytes (Linux reports maxRSS in KiB). */
export function peakRssBytes(): number {
  return process.resourceUsage().maxRSS * 1024;
}

/** Every key GenerateOptions accepts (a misspelled option is an error, not silently ignored). */
const OPTION_KEYS = new Set(['cache', 'cacheSalt', 'maxTokens', 'stop', 'stopTokenIds', 'mtp', 'signal', 'logprobs', 'recordExperts', 'responseFormat', 'grammar', 'reasoningBudget', 'logitBias', 'jumpForward', 'jumpForwardString', 'constraint', 'temperature', 'topK', 'topP', 'minP', 'repetitionPenalty', 'presencePenalty', 'frequencyPenalty', 'seed']);

/**
 * Validate generation options and the prompt before any compute.
 * @throws RequestError naming the parameter
 */
export function validateRequest(promptIds: unknown, opts: unknown, model: MiMoModel): asserts opts is GenerateOptions {
  if (opts === null || typeof opts !== 'object' || Array.isArray(opts)) throw new RequestError('options', `must be an object, got ${opts === null ? 'null' : typeof opts}`);
  for (const key of Object.keys(opts)) if (!OPTION_KEYS.has(key)) throw new RequestError(key, `unknown option (valid: ${[...OPTION_KEYS].join(', ')})`);
  const o = opts as GenerateOptions;
  if (o.maxTokens !== undefined && (typeof o.maxTokens !== 'number' || !Number.isSafeInteger(o.maxTokens) || o.maxTokens < 1)) {
    throw new RequestError('max_tokens', `must be a positive integer, got ${JSON.stringify(o.maxTokens)}`);
  }
  if (o.stopTokenIds !== undefined && (!Array.isArray(o.stopTokenIds) || o.stopTokenIds.some((id) => !Number.isSafeInteger(id) || id < 0))) {
    throw new RequestError('stop_token_ids', 'must be a list of non-negative integers');
  }
  if (o.stop !== undefined) validateStopStrings(o.stop);
  const K = model.numMtpLayers;
  if (o.mtp !== undefined && (typeof o.mtp !== 'number' || !Number.isSafeInteger(o.mtp) || o.mtp < 0 || o.mtp > K)) {
    throw new RequestError('mtp', `must be an integer in [0, ${K}] (the checkpoint's MTP layers), got ${JSON.stringify(o.mtp)}`);
  }
  if (o.cache !== undefined && typeof o.cache !== 'boolean') throw new RequestError('cache', `must be true or false, got ${JSON.stringify(o.cache)}`);
  if (o.cacheSalt !== undefined && typeof o.cacheSalt !== 'string') throw new RequestError('cache_salt', `must be a string, got ${JSON.stringify(o.cacheSalt)}`);
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new RequestError('signal', 'must be an AbortSignal');
  if (o.logprobs !== undefined && (!Number.isSafeInteger(o.logprobs) || o.logprobs < 0 || o.logprobs > 20)) {
    throw new RequestError('top_logprobs', `must be an integer in [0, 20], got ${JSON.stringify(o.logprobs)}`);
  }
  if (!Array.isArray(promptIds) || promptIds.length === 0) throw new RequestError('prompt', 'is empty (no token ids)');
  const V = model.config.vocabSize;
  promptIds.forEach((id, i) => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id >= V) throw new RequestError('prompt_ids', `token id ${JSON.stringify(id)} at index ${i} is not an integer in [0, ${V})`);
  });
  const ctx = model.config.maxPositionEmbeddings;
  if (ctx !== null && promptIds.length >= ctx) throw new RequestError('prompt', `${plural(promptIds.length, 'token')} do${promptIds.length === 1 ? 'es' : ''} not fit the context length ${ctx} (max_position_embeddings)`);
}


/** Settings shared by every request of an engine or server. */
export interface SequenceSettings {
  /** Most prompt tokens per prefill forward (Infinity = whole prompt). */
  prefillChunk: number;
  /** Stop ids used when a request names none. */
  defaultStopTokenIds: number[];
  /** Tokens to generate when a request gives no maxTokens (cut to the context left); default 256. */
  defaultMaxTokens?: number;
  /** The engine's shared prefix cache, or null/absent for none. */
  prefixCache?: PrefixCache | null;
}

/**
 * One request's generation state. Construct (validates everything first), then alternate `plan()` and `accept()`
 * until a chunk with `finishReason` comes out; `abort()` ends it early.
 * @throws RequestError for invalid options or prompt (from the constructor, before any compute)
 */
export class Sequence {
  readonly generated: number[] = [];
  readonly decoder: Decoder;
  readonly maxTokens: number;
  private readonly stopIds: Set<number>;
  private readonly detok: IncrementalDetokenizer | null;
  private readonly stopper: StopMatcher;
  private readonly allowedVocab: number;
  private readonly created = performance.now();
  private tStart = 0;
  private tFirst = 0;
  private steps = 0;

  constructor(
    readonly model: MiMoModel,
    readonly tokenizer: MiMoTokenizer | null,
    readonly promptIds: number[],
    readonly opts: GenerateOptions,
    settings: SequenceSettings,
  ) {
    validateRequest(promptIds, opts, model);
    const params = resolveSamplingParams(opts);
    if (opts.stop?.length && !tokenizer) throw new RequestError('stop', 'stop strings need a tokenizer (the model directory has no tokenizer.json)');
    const ctx = model.config.maxPositionEmbeddings ?? Infinity;
    if (opts.maxTokens !== undefined && promptIds.length + opts.maxTokens > ctx) {
      throw new RequestError('max_tokens', `${promptIds.length} prompt tokens + max_tokens ${opts.maxTokens} exceed the context length ${ctx} (max_position_embeddings); ask for at most ${ctx - promptIds.length}`);
    }
    this.maxTokens = opts.maxTokens ?? Math.min(settings.defaultMaxTokens ?? 256, ctx - promptIds.length);
    this.stopIds = new Set(opts.stopTokenIds ?? settings.defaultStopTokenIds);
    const sampler = new Sampler(params);
    this.allowedVocab = Math.min(model.config.vocabSize, tokenizer?.vocabSize ?? Infinity);
    this.detok = tokenizer ? new IncrementalDetokenizer(tokenizer) : null;
    this.stopper = new StopMatcher(opts.stop ?? []);
    const chunk = settings.prefillChunk;
    this.decoder =
      (opts.mtp ?? 0) > 0
        ? new SpeculativeDecoder(model, sampler, promptIds, this.generated, this.allowedVocab, opts.mtp!, {}, chunk)
        : new PlainDecoder(model, sampler, promptIds, this.generated, this.allowedVocab, chunk);
    if (settings.prefixCache && opts.cache !== false) this.decoder.prefix = { cache: settings.prefixCache, salt: opts.cacheSalt ?? '' };
    const plan = opts.constraint;
    if (!plan && (opts.grammar !== undefined || (opts.responseFormat !== undefined && opts.responseFormat.type !== 'text') || opts.logitBias !== undefined)) {
      throw new RequestError(opts.grammar !== undefined ? 'grammar' : opts.logitBias !== undefined ? 'logitBias' : 'responseFormat', 'needs compiling first: use generate/stream, or pass the options through `await generator.prepare(promptIds, opts)`');
    }
    if (plan) {
      if (plan.grammar && opts.stopTokenIds !== undefined) throw new RequestError('stop_token_ids', 'a grammar ends on the model\'s stop tokens; it cannot be combined with stop_token_ids or ignore_eos');
      if (plan.grammar && plan.grammar.vocabSize !== model.config.vocabSize) throw new RequestError('grammar', `compiled for a ${plan.grammar.vocabSize}-token vocabulary, but the model has ${model.config.vocabSize}`);
      // Without a budget a constrained reply may think for at most half its tokens, so the answer fits.
      this.decoder.constraint = new OutputConstraint(plan, model.config.vocabSize, Math.max(1, Math.floor(this.maxTokens / 2)));
      this.decoder.jumpForward = (opts.jumpForward ?? true) && opts.logprobs === undefined && !opts.recordExperts && !(opts.mtp! > 0);
      if (opts.jumpForwardString) {
        if (!tokenizer) throw new RequestError('jumpForwardString', 'needs the model\'s tokenizer');
        this.decoder.jumpForwardString = this.decoder.jumpForward;
        this.decoder.constraint.plan.encode ??= (text) => tokenizer.encode(text);
      }
    }
  }

  /** True while prompt tokens remain to be prefilled. */
  get prefilling(): boolean {
    return this.decoder.prefilling;
  }

  /** Prompt tokens the next plan() runs (0 once the prompt is prefilled). */
  get nextPrefillTokens(): number {
    return this.decoder.nextPrefillTokens;
  }

  /** Bytes held by this sequence's KV cache. */
  get cacheBytes(): number {
    return this.decoder.cache.sizeBytes;
  }

  /** The next trunk forward of this sequence. */
  plan(): StepPlan {
    if (this.tStart === 0) this.tStart = performance.now();
    return this.decoder.plan(Math.max(1, this.maxTokens - this.generated.length));
  }

  /**
   * Take the planned forward's hidden rows `[T, D]`, logits of its last logitRows rows `[logitRows, V]` and, when
   * recorded, its expert ids `[numMoeLayers, T, K]`; returns the chunks to emit (the last one has finishReason).
   * @throws NumericalError on non-finite logits
   */
  accept(hidden: Float32Array, logits: Float32Array, experts?: Int32Array): StreamChunk[] {
    const wasPrefill = this.decoder.prefilling;
    const T = hidden.length / this.model.config.hiddenSize;
    const produced = this.decoder.accept(hidden, logits);
    if (!wasPrefill) {
      this.steps++;
    }
    return this.emit(produced, logits, T, experts);
  }

  /**
   * `n > 1`: share `leader`'s prefill of the same prompt (see Decoder.follow); this choice waits until it ends.
   * @throws Error when either already started or they differ in prompt, MTP or prefix-cache settings
   */
  follow(leader: Sequence): void {
    if (this.opts.recordExperts) throw new Error('Sequence.follow: a choice recording experts prefills itself (it needs its own rows\' expert ids)');
    this.decoder.follow(leader.decoder);
  }

  /** True while this choice waits for its leader's prefill (not to be planned). */
  get waiting(): boolean {
    return this.decoder.waiting;
  }

  /** True when this choice took its leader's prompt state: `takeFork()` emits its first token (no forward). */
  get forkReady(): boolean {
    return this.decoder.forkReady;
  }

  /** The first token(s) of a choice that shared its leader's prefill, sampled from the leader's last logits row. */
  takeFork(): StreamChunk[] {
    if (this.tStart === 0) this.tStart = performance.now();
    const { produced, logits } = this.decoder.takeFirst(Math.max(1, this.maxTokens - this.generated.length));
    return this.emit(produced, logits, 1);
  }

  /** Chunks of the tokens a forward produced (T its rows; logits of its last rows), ending on stop or length. */
  private emit(produced: number[], logits: Float32Array, T: number, experts?: Int32Array): StreamChunk[] {
    if (produced.length === 0) return [];
    if (this.tFirst === 0) this.tFirst = performance.now();
    const V = this.model.config.vocabSize;
    const firstRow = T - logits.length / V;
    const out: StreamChunk[] = [];
    for (let j = 0; j < produced.length; j++) {
      const next = produced[j]!;
      if (this.stopIds.has(next)) return [...out, this.finish('stop')];
      this.generated.push(next);
      const { emit, stopped } = this.stopper.push(this.detok ? this.detok.push(next) : '');
      const chunk: StreamChunk = { tokenId: next, text: emit };
      if (this.opts.logprobs !== undefined) chunk.logprob = tokenLogprob(logits.subarray(j * V, (j + 1) * V), this.allowedVocab, next, this.opts.logprobs);
      if (experts) chunk.experts = sliceExperts(experts, T, this.model.config.numExpertsPerTok, firstRow + j, 1);
      out.push(chunk);
      if (stopped) return [...out, this.finish('stop')];
      if (this.generated.length >= this.maxTokens) return [...out, this.finish('length')];
    }
    return out;
  }

  /** End the request now (client gone, signal): the final chunk with finishReason 'abort'. */
  abort(): StreamChunk {
    return this.finish('abort');
  }

  /** Let go of the KV cache's shared pages (the request ended or failed). Idempotent. */
  release(): void {
    this.decoder.release();
  }

  private finish(reason: FinishReason): StreamChunk {
    if (reason !== 'abort') this.decoder.finishGeneration();
    this.decoder.release();
    const tEnd = performance.now();
    let tail = '';
    if (reason !== 'stop' || !this.opts.stop?.length) tail = this.stopper.push(this.detok ? this.detok.flush() : '').emit + this.stopper.flush();
    const n = this.generated.length;
    const tFirst = this.tFirst || tEnd;
    const prefillSeconds = (tFirst - (this.tStart || tFirst)) / 1000;
    const decodeSeconds = (tEnd - tFirst) / 1000;
    const stats: GenerationStats = {
      promptTokens: this.promptIds.length,
      generatedTokens: n,
      ttftSeconds: (tFirst - this.created) / 1000,
      prefillTokensPerSecond: prefillSeconds > 0 ? this.promptIds.length / prefillSeconds : 0,
      decodeSeconds,
      decodeTokensPerSecond: n > 1 && decodeSeconds > 0 ? (n - 1) / decodeSeconds : 0,
      peakRssBytes: peakRssBytes(),
      decodeSteps: this.steps,
      draftsProposed: this.decoder.draftsProposed,
      draftsAccepted: this.decoder.draftsAccepted,
      acceptanceLength: this.steps > 0 ? Math.max(0, n - 1) / this.steps : 0,
      jumpForwardTokens: this.decoder.jumpForwardTokens,
      forcedTokens: this.decoder.constraint?.forcedTokens ?? 0,
      cachedTokens: this.decoder.cachedTokens,
      prefilledTokens: this.decoder.prefilledTokens,
      promptCached: this.decoder.promptCached,
    };
    this.decoder.constraint?.dispose();
    const stopString = reason === 'stop' ? this.stopper.matched : undefined;
    return { tokenId: null, text: tail, finishReason: reason, stats, ...(stopString !== undefined ? { stopString } : {}) };
  }
}
