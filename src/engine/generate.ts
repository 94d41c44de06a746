/**
 * Token generation for one sequence: prefill of the whole prompt in one forward, then decode through the KV
 * cache — one token per trunk forward, or with `mtp: K` self-speculative steps (MTP drafts K tokens, one batched
 * trunk forward verifies them). Sampling (temperature, top-k, top-p, min-p, penalties, seed); stop on EOS ids,
 * stop strings and max tokens. Streaming (async iterator of chunks) and one-shot. Source: STYLE.md habits 5–6.
 */
import { RequestError } from '../errors.js';
import type { MiMoModel } from '../model/mimo-v2/model.js';
import { IncrementalDetokenizer } from '../tokenizer/incremental-detokenizer.js';
import type { MiMoTokenizer } from '../tokenizer/tokenizer.js';
import { PlainDecoder, SpeculativeDecoder } from './decoders.js';
import { resolveSamplingParams, Sampler, type SamplingParams } from './sampler.js';
import { StopMatcher, validateStopStrings } from './stop.js';

export interface GenerateOptions extends Partial<SamplingParams> {
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
}

/** One streamed piece: a generated token with the text it completes, or the final chunk (tokenId null). */
export interface StreamChunk {
  tokenId: number | null;
  text: string;
  finishReason?: FinishReason;
  stats?: GenerationStats;
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
const OPTION_KEYS = new Set(['maxTokens', 'stop', 'stopTokenIds', 'mtp', 'signal', 'temperature', 'topK', 'topP', 'minP', 'repetitionPenalty', 'presencePenalty', 'frequencyPenalty', 'seed']);

/**
 * Validate generation options and the prompt before any compute.
 * @throws RequestError naming the parameter
 */
function validateRequest(promptIds: unknown, opts: unknown, model: MiMoModel): asserts opts is GenerateOptions {
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
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new RequestError('signal', 'must be an AbortSignal');
  if (!Array.isArray(promptIds) || promptIds.length === 0) throw new RequestError('prompt', 'is empty (no token ids)');
  const V = model.config.vocabSize;
  promptIds.forEach((id, i) => {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0 || id >= V) throw new RequestError('prompt_ids', `token id ${JSON.stringify(id)} at index ${i} is not an integer in [0, ${V})`);
  });
  const ctx = model.config.maxPositionEmbeddings;
  if (ctx !== null && promptIds.length >= ctx) throw new RequestError('prompt', `${promptIds.length} tokens do not fit the context length ${ctx} (max_position_embeddings)`);
}

/** Generates tokens from a model (and, when given, text through its tokenizer). */
export class Generator {
  constructor(
    readonly model: MiMoModel,
    readonly tokenizer: MiMoTokenizer | null,
  ) {}

  /** Default stop ids: config.json eos ids plus the tokenizer's `<|im_end|>` / `<|endoftext|>`. */
  defaultStopTokenIds(): number[] {
    const ids = new Set(this.model.config.eosTokenIds);
    for (const id of this.tokenizer?.stopTokenIds() ?? []) ids.add(id);
    return [...ids];
  }

  /**
   * Stream a continuation of `promptIds`.
   * @throws RequestError for invalid options (before any compute); ShapeError for token ids outside the vocabulary
   */
  async *stream(promptIds: number[], opts: GenerateOptions = {}): AsyncGenerator<StreamChunk> {
    validateRequest(promptIds, opts, this.model);
    const params = resolveSamplingParams(opts);
    if (opts.stop?.length && !this.tokenizer) throw new RequestError('stop', 'stop strings need a tokenizer (the model directory has no tokenizer.json)');
    const ctx = this.model.config.maxPositionEmbeddings ?? Infinity;
    const maxTokens = Math.min(opts.maxTokens ?? 256, ctx - promptIds.length);
    const stopIds = new Set(opts.stopTokenIds ?? this.defaultStopTokenIds());
    const sampler = new Sampler(params);
    const allowedVocab = Math.min(this.model.config.vocabSize, this.tokenizer?.vocabSize ?? Infinity);
    const detok = this.tokenizer ? new IncrementalDetokenizer(this.tokenizer) : null;
    const stopper = new StopMatcher(opts.stop ?? []);
    const generated: number[] = [];
    const decoder = (opts.mtp ?? 0) > 0 ? new SpeculativeDecoder(this.model, sampler, promptIds, generated, allowedVocab, opts.mtp!) : new PlainDecoder(this.model, sampler, promptIds, generated, allowedVocab);
    const t0 = performance.now();
    let tFirst = 0;
    let steps = 0;
    let finishReason: FinishReason = 'length';
    let pending = decoder.prefill();
    tFirst = performance.now();
    outer: for (;;) {
      for (const next of pending) {
        if (stopIds.has(next)) {
          finishReason = 'stop';
          break outer;
        }
        generated.push(next);
        const { emit, stopped } = stopper.push(detok ? detok.push(next) : '');
        yield { tokenId: next, text: emit };
        if (stopped) {
          finishReason = 'stop';
          break outer;
        }
        if (generated.length >= maxTokens) break outer;
      }
      if (opts.signal?.aborted) {
        finishReason = 'abort';
        break;
      }
      pending = decoder.step(maxTokens - generated.length);
      steps++;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const tEnd = performance.now();
    let tail = '';
    if (finishReason !== 'stop' || !opts.stop?.length) tail = stopper.push(detok ? detok.flush() : '').emit + stopper.flush();
    const prefillSeconds = (tFirst - t0) / 1000;
    const decodeSeconds = (tEnd - tFirst) / 1000;
    const stats: GenerationStats = {
      promptTokens: promptIds.length,
      generatedTokens: generated.length,
      ttftSeconds: prefillSeconds,
      prefillTokensPerSecond: prefillSeconds > 0 ? promptIds.length / prefillSeconds : 0,
      decodeSeconds,
      decodeTokensPerSecond: generated.length > 1 && decodeSeconds > 0 ? (generated.length - 1) / decodeSeconds : 0,
      peakRssBytes: peakRssBytes(),
      decodeSteps: steps,
      draftsProposed: decoder.draftsProposed,
      draftsAccepted: decoder.draftsAccepted,
      acceptanceLength: steps > 0 ? Math.max(0, generated.length - 1) / steps : 0,
    };
    yield { tokenId: null, text: tail, finishReason, stats };
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
