/**
 * The library's front door: a loaded checkpoint (model + tokenizer + chat template) that turns a prompt, chat
 * messages or token ids into generated text, streamed or at once.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ConfigError, MimoError, RequestError } from '../errors.js';
import { loadConfig } from '../model/mimo-v2/config.js';
import type { Backend } from '../kernels/backend.js';
import { loadNativeAddon } from '../kernels/native/addon.js';
import { selectBackend, type BackendChoice } from '../kernels/select.js';
import { loadModel, type LoadedModel } from '../model/load.js';
import { parsePrecision, type Precision } from '../model/precision.js';
import type { MiMoConfig } from '../model/mimo-v2/config.js';
import type { MiMoModel } from '../model/mimo-v2/model.js';
import type { LoadReport } from '../model/mimo-v2/weights.js';
import { resolveGgufPaths } from '../loader/gguf.js';
import { ggufTokenizer } from '../tokenizer/gguf-tokenizer.js';
import { MiMoTokenizer, type ChatMessage, type ChatTool } from '../tokenizer/tokenizer.js';
import { Generator, type GenerateOptions, type StreamChunk } from './generate.js';
import { libraryError, parseResult, type EngineResult } from './library-result.js';
import { newPrefixCache } from './prefix-cache/for-engine.js';
import type { PrefixCache } from './prefix-cache/prefix-cache.js';

export type { EngineResult } from './library-result.js';

/** Options of {@link MiMoEngine.load}. */
export interface EngineLoadOptions {
  /** A Backend, or 'auto' (default: native when the addon loads, else TypeScript), 'ts', 'native'. */
  backend?: Backend | BackendChoice;
  /** Native worker threads (default: all cores). */
  threads?: number;
  /**
   * Called with each load warning (today: why 'auto' fell back to the slower TypeScript backend). Without it the
   * warning is emitted once per process with `process.emitWarning` (type `MimoWarning`), so it is never silent.
   */
  onWarning?: (message: string) => void;
  /**
   * Reuse earlier calls' KV through a prefix cache shared by every generate/stream of this engine (output bitwise
   * unchanged): true for the defaults, or its RAM budget in bytes, snapshot interval in tokens and page size.
   * Default off.
   */
  /**
   * 'exact' (default): float32 activations. 'fast': 8-bit activations for a GGUF's Q8_0/Q4_0/Q5_0/IQ4_NL/MXFP4 weights
   * (slightly different logits, faster matmuls; README "8-bit activations"); refused for a safetensors checkpoint.
   */
  precision?: Precision;
  /** Storage dtype of the KV cache and the prefix cache's pages: 'f32' (default, exact) or 'bf16' (half the bytes). */
  kvDtype?: 'f32' | 'bf16';
  prefixCache?: boolean | { ramBytes?: number; checkpointEvery?: number; pageSize?: number; dir?: string; diskBytes?: number };
  /**
   * Longest a grammar (responseFormat, grammar, strict tools) may take to compile, in ms (default 10 000); a slower
   * one is refused with a RequestError naming the option, while other requests keep running.
   */
  grammarCompileTimeoutMs?: number;
}

const LOAD_OPTION_KEYS = ['backend', 'threads', 'onWarning', 'prefixCache', 'kvDtype', 'precision', 'grammarCompileTimeoutMs'];
/** Warnings already emitted by the default handler (each once per process). */
const emitted = new Set<string>();
/** Engines on the native backend not closed yet: the shared thread pool is shrunk when the last one closes. */
let openNativeEngines = 0;
let poolReleased = false;

/** What to generate from: exactly one of `prompt` (text), `messages` (chat) or `promptIds` (token ids). */
export interface PromptInput {
  /** Plain text; the chat template is applied unless `raw` is true. */
  prompt?: string;
  messages?: ChatMessage[];
  promptIds?: number[];
  /** Feed `prompt` as is, without the chat template. */
  raw?: boolean;
  /** Chat template variable `enable_thinking` (default true, as the V2.5 template). */
  enableThinking?: boolean;
  /** Tools rendered into the chat template; `generate()` then parses the model's tool calls (as the server does). */
  tools?: ChatTool[];
}

const INPUT_KEYS = ['prompt', 'messages', 'promptIds', 'raw', 'enableThinking', 'tools'];

export class MiMoEngine {
  readonly generator: Generator;
  private readonly mapped: ArrayBuffer[];
  private closed = false;

  private constructor(
    readonly loaded: LoadedModel,
    readonly tokenizer: MiMoTokenizer | null,
    /** Why a slower backend was chosen, when 'auto' fell back to TypeScript. */
    readonly backendWarning: string | undefined,
    /** The checkpoint directory. */
    readonly dir: string,
    mapped: ArrayBuffer[],
    /** For a GGUF without a usable tokenizer: why (tokenizer.ggml.* missing or a placeholder). */
    readonly noTokenizer?: string,
  ) {
    this.generator = new Generator(loaded.model, tokenizer);
    this.mapped = mapped;
  }

  /**
   * Load a checkpoint directory: config.json, safetensors weights and, when present, tokenizer.json. When 'auto'
   * falls back to the TypeScript backend, the reason goes to `opts.onWarning`, else to `process.emitWarning` once.
   * @throws ConfigError / CheckpointError naming the file and key or tensor; BackendUnavailableError for 'native'
   *   without the addon; RequestError naming an unknown or ill-typed option
   */
  static load(dir: string, opts: EngineLoadOptions = {}): MiMoEngine {
    if (opts === null || typeof opts !== 'object') throw new RequestError('options', 'MiMoEngine.load options must be an object such as { backend: "auto" }');
    for (const key of Object.keys(opts)) if (!LOAD_OPTION_KEYS.includes(key)) throw new RequestError(key, `unknown MiMoEngine.load option (valid: ${LOAD_OPTION_KEYS.join(', ')})`);
    if (opts.onWarning !== undefined && typeof opts.onWarning !== 'function') throw new RequestError('onWarning', 'must be a function (message: string) => void');
    const precision = parsePrecision(opts.precision);
    let backend: Backend;
    let warning: string | undefined;
    if (typeof opts.backend === 'object') backend = opts.backend;
    else ({ backend, warning } = selectBackend(opts.backend ?? (process.env['MIMO_BACKEND'] as BackendChoice | undefined) ?? 'auto', { threads: opts.threads }));
    if (backend.name === 'native' && poolReleased && opts.threads === undefined) loadNativeAddon().setThreads(os.availableParallelism());
    poolReleased = false;
    // The tokenizer first: it is quick, and its problems should not wait for minutes of weight loading.
    // A GGUF carries its config and tokenizer in its metadata (read by loadModel below).
    const gguf = resolveGgufPaths(dir) !== null;
    let tokenizer = !gguf && fs.existsSync(path.join(dir, 'tokenizer.json')) ? MiMoTokenizer.load(dir) : null;
    const config = gguf ? null : loadConfig(path.join(dir, 'config.json'));
    if (config && tokenizer && tokenizer.vocabSize > config.vocabSize) {
      throw new ConfigError(path.join(dir, 'tokenizer.json'), undefined, `has ${tokenizer.vocabSize} tokens but config.json vocab_size is ${config.vocabSize}: the tokenizer does not belong to this model`);
    }
    const mapped: ArrayBuffer[] = [];
    const map =
      backend.name === 'native'
        ? (file: string, offset?: number, length?: number) => {
            const b = loadNativeAddon().mmapFile(file, offset, length);
            mapped.push(b);
            return b;
          }
        : undefined;
    const loaded = loadModel(dir, { backend, map, precision });
    let noTokenizer: string | undefined;
    if (loaded.gguf) {
      const r = ggufTokenizer(loaded.gguf.metadata, loaded.gguf.files[0]!);
      tokenizer = r.tokenizer;
      noTokenizer = r.problem ?? undefined;
      if (tokenizer && tokenizer.vocabSize > loaded.config.vocabSize) {
        throw new ConfigError(loaded.gguf.files[0]!, 'tokenizer.ggml.tokens', `has ${tokenizer.vocabSize} tokens but token_embd.weight has ${loaded.config.vocabSize} rows: the tokenizer does not belong to this model`);
      }
    }
    if (warning !== undefined) {
      if (opts.onWarning) opts.onWarning(warning);
      else if (!emitted.has(warning)) {
        emitted.add(warning);
        process.emitWarning(warning, { type: 'MimoWarning', code: 'MIMO_BACKEND_FALLBACK' });
      }
    }
    if (backend.name === 'native') openNativeEngines++;
    const engine = new MiMoEngine(loaded, tokenizer, warning, dir, mapped, noTokenizer);
    if (opts.kvDtype !== undefined) {
      if (opts.kvDtype !== 'f32' && opts.kvDtype !== 'bf16') throw new RequestError('kvDtype', `must be 'f32' or 'bf16', got ${JSON.stringify(opts.kvDtype)}`);
      engine.model.kvDtype = opts.kvDtype;
    }
    if (opts.grammarCompileTimeoutMs !== undefined) {
      const t = opts.grammarCompileTimeoutMs;
      if (typeof t !== 'number' || !Number.isSafeInteger(t) || t < 1) throw new RequestError('grammarCompileTimeoutMs', `must be an integer number of ms ≥ 1, got ${JSON.stringify(t)}`);
      engine.generator.grammarCompileTimeoutMs = t;
    }
    const pc = opts.prefixCache;
    if (pc !== undefined && pc !== false) {
      if (pc !== true && (pc === null || typeof pc !== 'object')) throw new RequestError('prefixCache', 'must be true, false or { ramBytes, checkpointEvery, pageSize }');
      try {
        engine.generator.prefixCache = newPrefixCache(engine, pc === true ? {} : { ...pc, ...(opts.onWarning ? { onWarning: opts.onWarning } : {}) });
      } catch (e) {
        throw new RequestError('prefixCache', (e as Error).message);
      }
    }
    return engine;
  }

  get model(): MiMoModel {
    return this.loaded.model;
  }
  get config(): MiMoConfig {
    return this.loaded.config;
  }
  get report(): LoadReport {
    return this.loaded.report;
  }
  /** The prefix cache shared by this engine's calls, or null (load option `prefixCache`). */
  get prefixCache(): PrefixCache | null {
    return this.generator.prefixCache;
  }

  /** The compute backend in use: 'native' (C++ addon), 'ts' (TypeScript reference) or a custom backend's name. */
  get backend(): string {
    return this.model.backend.name;
  }

  /**
   * Release what the engine holds outside the JS heap: unmaps the checkpoint files (native backend) and, when no other
   * native engine is open, shrinks the kernels' thread pool to the calling thread. Later calls of encode, stream or
   * generate throw; closing twice is a no-op.
   */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.generator.prefixCache?.flushToDisk();
    this.generator.closeGrammar();
    if (this.backend !== 'native') return;
    const addon = loadNativeAddon();
    for (const b of this.mapped.splice(0)) addon.unmapFile(b);
    if (--openNativeEngines === 0) {
      addon.setThreads(1);
      poolReleased = true;
    }
  }

  /** @throws MimoError after close() */
  private checkOpen(): void {
    if (this.closed) throw new MimoError(`this MiMoEngine (${this.dir}) is closed; load the checkpoint again to generate`);
  }

  /**
   * Token ids of a prompt input.
   * @throws RequestError when the input gives none or several of prompt/messages/promptIds, or text needs a
   *   tokenizer the checkpoint lacks
   */
  encode(input: PromptInput): number[] {
    return this.render(input).ids;
  }

  /** Token ids and the text the model continues (the rendered chat template, the raw prompt, or decoded ids). */
  private render(input: PromptInput): { ids: number[]; text: string | null } {
    this.checkOpen();
    if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new RequestError('input', 'must be an object with prompt, messages or promptIds');
    for (const key of Object.keys(input)) {
      if (!INPUT_KEYS.includes(key)) throw new RequestError(key, `unknown input field (valid: ${INPUT_KEYS.join(', ')})`);
    }
    const given = [input.prompt, input.messages, input.promptIds].filter((x) => x !== undefined).length;
    if (given !== 1) throw new RequestError('prompt', 'give exactly one of prompt, messages or promptIds');
    if (input.enableThinking !== undefined && typeof input.enableThinking !== 'boolean') throw new RequestError('enableThinking', 'must be true or false');
    if (input.raw !== undefined && typeof input.raw !== 'boolean') throw new RequestError('raw', 'must be true or false');
    if (input.raw && input.prompt === undefined) throw new RequestError('raw', 'applies to prompt only');
    if (input.tools !== undefined && !Array.isArray(input.tools)) throw new RequestError('tools', 'must be a list of tools ({ type: "function", function: { name, parameters } })');
    if (input.promptIds !== undefined) {
      if (!Array.isArray(input.promptIds)) throw new RequestError('promptIds', 'must be a list of token ids');
      return { ids: input.promptIds, text: null };
    }
    const tok = this.tokenizer;
    if (!tok && this.noTokenizer) throw new RequestError('prompt', `${this.dir}: ${this.noTokenizer}, so text prompts cannot be encoded; pass promptIds (token ids) instead`);
    if (!tok) throw new RequestError('prompt', `the model directory ${this.dir} has no tokenizer.json, so text prompts cannot be encoded; pass promptIds (token ids) instead`);
    const enableThinking = input.enableThinking ?? true;
    const tools = input.tools?.length ? input.tools : undefined;
    if (input.messages !== undefined) {
      if (!Array.isArray(input.messages) || input.messages.length === 0) throw new RequestError('messages', 'must be a non-empty list of messages');
      const text = tok.applyChatTemplate(input.messages, { enableThinking, tools });
      return { ids: tok.encode(text), text };
    }
    if (typeof input.prompt !== 'string') throw new RequestError('prompt', `must be a string, got ${typeof input.prompt}`);
    const text = input.raw ? input.prompt : tok.applyChatTemplate([{ role: 'user', content: input.prompt }], { enableThinking, tools });
    return { ids: tok.encode(text), text };
  }

  /**
   * Stream generated text chunk by chunk (see Generator.stream); raw model text, reasoning and tool-call markup
   * included. Errors name the library's option (`maxTokens`, `topP`, …).
   */
  async *stream(input: PromptInput, opts: GenerateOptions = {}): AsyncGenerator<StreamChunk> {
    let ids: number[];
    try {
      ids = this.encode(input);
    } catch (e) {
      throw libraryError(e);
    }
    try {
      yield* this.generator.stream(ids, opts);
    } catch (e) {
      throw libraryError(e);
    }
  }

  /**
   * Generate to completion. `text` is the answer, parsed as the server parses it: reasoning (`<think>…</think>`) in
   * `reasoning`, tool calls (when `input.tools` are given) in `toolCalls`, the unparsed output in `rawText`.
   * @throws RequestError naming the library option or input field; MimoError after close()
   */
  async generate(input: PromptInput, opts: GenerateOptions = {}): Promise<EngineResult> {
    let rendered: { ids: number[]; text: string | null };
    try {
      rendered = this.render(input);
    } catch (e) {
      throw libraryError(e);
    }
    let result;
    try {
      result = await this.generator.generate(rendered.ids, opts);
    } catch (e) {
      throw libraryError(e);
    }
    const promptText = rendered.text ?? (this.tokenizer ? this.tokenizer.decode(rendered.ids) : '');
    return parseResult(result, promptText, input.tools?.length ? input.tools : null);
  }
}
