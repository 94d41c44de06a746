/**
 * Token generation for one sequence: prefill of the whole prompt in one forward, then token-by-token decode
 * through the KV cache; sampling (temperature, top-k, top-p, min-p, penalties, seed); stop on EOS ids, stop
 * strings and max tokens. Streaming (async iterator of chunks) and one-shot. Source: STYLE.md habit 5.
 */
import { RequestError } from '../errors.js';
import type { MiMoModel } from '../model/mimo-v2/model.js';
import { IncrementalDetokenizer } from '../tokenizer/incremental-detokenizer.js';
import type { MiMoTokenizer } from '../tokenizer/tokenizer.js';
import { resolveSamplingParams, Sampler, type SamplingParams } from './sampler.js';
import { StopMatcher } from './stop.js';

export interface GenerateOptions extends Partial<SamplingParams> {
  /** Most tokens to generate (default 256). */
  maxTokens?: number;
  /** Stop strings: generation ends before the first occurrence, which is not returned. */
  stop?: string[];
  /** Token ids that end generation (not returned); default: config eos ids plus the tokenizer's stop tokens. */
  stopTokenIds?: number[];
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

/** Validate the non-sampling generation options. @throws RequestError naming the parameter */
function validateOptions(opts: GenerateOptions): void {
  if (opts.maxTokens !== undefined && (!Number.isSafeInteger(opts.maxTokens) || opts.maxTokens < 1)) {
    throw new RequestError('max_tokens', `must be a positive integer, got ${opts.maxTokens}`);
  }
  if (opts.stopTokenIds?.some((id) => !Number.isSafeInteger(id) || id < 0)) throw new RequestError('stop_token_ids', 'must be non-negative integers');
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
    validateOptions(opts);
    const params = resolveSamplingParams(opts);
    if (promptIds.length === 0) throw new RequestError('prompt', 'is empty');
    if (opts.stop?.length && !this.tokenizer) throw new RequestError('stop', 'stop strings need a tokenizer (the model directory has no tokenizer.json)');
    const model = this.model;
    const D = model.config.hiddenSize;
    const maxTokens = opts.maxTokens ?? 256;
    const stopIds = new Set(opts.stopTokenIds ?? this.defaultStopTokenIds());
    const sampler = new Sampler(params);
    const allowedVocab = Math.min(model.config.vocabSize, this.tokenizer?.vocabSize ?? Infinity);
    const detok = this.tokenizer ? new IncrementalDetokenizer(this.tokenizer) : null;
    const stopper = new StopMatcher(opts.stop ?? []);
    const cache = model.newCache();
    const generated: number[] = [];
    const t0 = performance.now();
    let tFirst = 0;
    let finishReason: FinishReason = 'length';
    let hidden = model.forward(promptIds, cache);
    let last = hidden.subarray((promptIds.length - 1) * D);
    while (generated.length < maxTokens) {
      if (opts.signal?.aborted) {
        finishReason = 'abort';
        break;
      }
      const logits = model.computeLogits(last, 1);
      const next = sampler.sample(logits, { promptIds, generatedIds: generated }, allowedVocab);
      if (generated.length === 0) tFirst = performance.now();
      if (stopIds.has(next)) {
        finishReason = 'stop';
        break;
      }
      generated.push(next);
      const piece = detok ? detok.push(next) : '';
      const { emit, stopped } = stopper.push(piece);
      yield { tokenId: next, text: emit };
      if (stopped) {
        finishReason = 'stop';
        break;
      }
      if (generated.length >= maxTokens) break;
      hidden = model.forward([next], cache);
      last = hidden;
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    const tEnd = performance.now();
    let tail = '';
    if (finishReason !== 'stop' || !opts.stop?.length) {
      tail = stopper.push(detok ? detok.flush() : '').emit + stopper.flush();
    }
    if (generated.length === 0) tFirst = tEnd;
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
