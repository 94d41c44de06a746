/**
 * The library's front door: a loaded checkpoint (model + tokenizer + chat template) that turns a prompt, chat
 * messages or token ids into generated text, streamed or at once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, RequestError } from '../errors.js';
import { loadConfig } from '../model/mimo-v2/config.js';
import type { Backend } from '../kernels/backend.js';
import { loadNativeAddon } from '../kernels/native/addon.js';
import { selectBackend, type BackendChoice } from '../kernels/select.js';
import { loadModel, type LoadedModel } from '../model/load.js';
import type { MiMoConfig } from '../model/mimo-v2/config.js';
import type { MiMoModel } from '../model/mimo-v2/model.js';
import type { LoadReport } from '../model/mimo-v2/weights.js';
import { MiMoTokenizer, type ChatMessage } from '../tokenizer/tokenizer.js';
import { Generator, type GenerateOptions, type GenerationResult, type StreamChunk } from './generate.js';

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
}

export class MiMoEngine {
  readonly generator: Generator;

  private constructor(
    readonly loaded: LoadedModel,
    readonly tokenizer: MiMoTokenizer | null,
    /** Why a slower backend was chosen, when 'auto' fell back to TypeScript. */
    readonly backendWarning: string | undefined,
    /** The checkpoint directory. */
    readonly dir: string,
  ) {
    this.generator = new Generator(loaded.model, tokenizer);
  }

  /**
   * Load a checkpoint directory: config.json, safetensors weights and, when present, tokenizer.json.
   * @param opts.backend a Backend, or 'auto' (default: native when the addon loads, else TypeScript), 'ts', 'native'
   * @param opts.threads native worker threads (default: all cores)
   * @throws ConfigError / CheckpointError naming the file and key or tensor; BackendUnavailableError for 'native'
   *   without the addon
   */
  static load(dir: string, opts: { backend?: Backend | BackendChoice; threads?: number } = {}): MiMoEngine {
    let backend: Backend;
    let warning: string | undefined;
    if (typeof opts.backend === 'object') backend = opts.backend;
    else ({ backend, warning } = selectBackend(opts.backend ?? (process.env['MIMO_BACKEND'] as BackendChoice | undefined) ?? 'auto', { threads: opts.threads }));
    // The tokenizer first: it is quick, and its problems should not wait for minutes of weight loading.
    const tokenizer = fs.existsSync(path.join(dir, 'tokenizer.json')) ? MiMoTokenizer.load(dir) : null;
    const config = loadConfig(path.join(dir, 'config.json'));
    if (tokenizer && tokenizer.vocabSize > config.vocabSize) {
      throw new ConfigError(path.join(dir, 'tokenizer.json'), undefined, `has ${tokenizer.vocabSize} tokens but config.json vocab_size is ${config.vocabSize}: the tokenizer does not belong to this model`);
    }
    const map = backend.name === 'native' ? (file: string, offset?: number, length?: number) => loadNativeAddon().mmapFile(file, offset, length) : undefined;
    const loaded = loadModel(dir, { backend, map });
    return new MiMoEngine(loaded, tokenizer, warning, dir);
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

  /**
   * Token ids of a prompt input.
   * @throws RequestError when the input gives none or several of prompt/messages/promptIds, or text needs a
   *   tokenizer the checkpoint lacks
   */
  encode(input: PromptInput): number[] {
    if (input === null || typeof input !== 'object' || Array.isArray(input)) throw new RequestError('input', 'must be an object with prompt, messages or promptIds');
    for (const key of Object.keys(input)) {
      if (!['prompt', 'messages', 'promptIds', 'raw', 'enableThinking'].includes(key)) throw new RequestError(key, 'unknown input field (valid: prompt, messages, promptIds, raw, enableThinking)');
    }
    const given = [input.prompt, input.messages, input.promptIds].filter((x) => x !== undefined).length;
    if (given !== 1) throw new RequestError('prompt', 'give exactly one of prompt, messages or promptIds');
    if (input.enableThinking !== undefined && typeof input.enableThinking !== 'boolean') throw new RequestError('enable_thinking', 'must be true or false');
    if (input.raw !== undefined && typeof input.raw !== 'boolean') throw new RequestError('raw', 'must be true or false');
    if (input.raw && input.prompt === undefined) throw new RequestError('raw', 'applies to prompt only');
    if (input.promptIds !== undefined) {
      if (!Array.isArray(input.promptIds)) throw new RequestError('prompt_ids', 'must be a list of token ids');
      return input.promptIds;
    }
    const tok = this.tokenizer;
    if (!tok) throw new RequestError('prompt', `the model directory ${this.dir} has no tokenizer.json, so text prompts cannot be encoded; pass promptIds (token ids) instead`);
    const enableThinking = input.enableThinking ?? true;
    if (input.messages !== undefined) {
      if (!Array.isArray(input.messages) || input.messages.length === 0) throw new RequestError('messages', 'must be a non-empty list of messages');
      return tok.encode(tok.applyChatTemplate(input.messages, { enableThinking }));
    }
    if (typeof input.prompt !== 'string') throw new RequestError('prompt', `must be a string, got ${typeof input.prompt}`);
    if (input.raw) return tok.encode(input.prompt);
    return tok.encode(tok.applyChatTemplate([{ role: 'user', content: input.prompt }], { enableThinking }));
  }

  /** Stream generated text chunk by chunk (see Generator.stream). */
  stream(input: PromptInput, opts: GenerateOptions = {}): AsyncGenerator<StreamChunk> {
    return this.generator.stream(this.encode(input), opts);
  }

  /** Generate to completion (see Generator.generate). */
  generate(input: PromptInput, opts: GenerateOptions = {}): Promise<GenerationResult> {
    return this.generator.generate(this.encode(input), opts);
  }
}
